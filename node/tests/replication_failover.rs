//! FAILOVER (Redis 7.0's coordinated switchover): from our node to a real
//! replica and back, to any replica and to a named one, argument errors,
//! ABORT, and a TIMEOUT that expires while writes are paused.

mod replication_common;
mod support;

use std::time::Duration;

use redis_ha_node::resp::Frame;
use replication_common::*;
use support::{free_port, have_real_redis, ScratchDir};

fn err(text: &str) -> Frame {
    Frame::Error(text.as_bytes().to_vec())
}

fn role(port: u16) -> String {
    info_field(port, "replication", "role").unwrap_or_default()
}

#[test]
fn failover_switches_roles_without_losing_writes() {
    if !have_real_redis() {
        return;
    }
    let (ad, bd) = (ScratchDir::new("a"), ScratchDir::new("b"));
    let a = Node::master(true, &ad.0);
    let b = Node::replica_of(false, &bd.0, free_port(), a.port);
    wait_caught_up(a.port, b.port);
    let mut ac = a.client();
    fill(&mut ac, "f", 10);
    // Ours → real Redis, to any replica.
    assert_eq!(text(&ac.cmd(&["FAILOVER"]).unwrap()), "OK");
    wait_for("a to become a replica of b", || {
        role(a.port) == "slave" && link_up(a.port)
    });
    assert_eq!(role(b.port), "master");
    assert_eq!(
        info_field(a.port, "replication", "master_failover_state").unwrap(),
        "no-failover"
    );
    assert!(read_log(&ad.0).contains("is synced, failing over."));
    assert_eq!(
        ac.cmd(&["SET", "x", "1"]).unwrap(),
        err("READONLY You can't write against a read only replica.")
    );
    cmd(b.port, &["SET", "on-b", "1"]);
    wait_caught_up(b.port, a.port);
    assert_same_data(b.port, a.port);

    // Real Redis → ours, to a named target: we get PSYNC ... FAILOVER.
    let target = ["FAILOVER", "TO", "127.0.0.1", &a.port.to_string()];
    assert_eq!(text(&cmd(b.port, &target)), "OK");
    wait_for("a to be master again", || role(a.port) == "master");
    wait_for("b to follow a", || {
        role(b.port) == "slave" && link_up(b.port)
    });
    assert!(read_log(&ad.0).contains("Failover request received for replid"));
    cmd(a.port, &["SET", "on-a", "1"]);
    wait_caught_up(a.port, b.port);
    assert_same_data(a.port, b.port);
}

#[test]
fn failover_errors_abort_and_timeout() {
    if !have_real_redis() {
        return;
    }
    let dir = ScratchDir::new("a");
    let a = Node::master(true, &dir.0);
    assert_eq!(
        cmd(a.port, &["FAILOVER"]),
        err("ERR FAILOVER requires connected replicas.")
    );
    assert_eq!(
        cmd(a.port, &["FAILOVER", "ABORT"]),
        err("ERR No failover in progress.")
    );
    assert_eq!(
        cmd(a.port, &["FAILOVER", "TIMEOUT", "0"]),
        err("ERR FAILOVER timeout must be greater than 0")
    );
    assert_eq!(cmd(a.port, &["FAILOVER", "bogus"]), err("ERR syntax error"));
    let bd = ScratchDir::new("b");
    let b = Node::replica_of(false, &bd.0, free_port(), a.port);
    wait_caught_up(a.port, b.port);
    assert_eq!(
        cmd(a.port, &["FAILOVER", "FORCE"]),
        err("ERR FAILOVER with force option requires both a timeout and target HOST and IP.")
    );
    assert_eq!(
        cmd(a.port, &["FAILOVER", "TO", "127.0.0.1", "1"]),
        err("ERR FAILOVER target HOST and PORT is not a replica.")
    );
    assert_eq!(
        cmd(b.port, &["FAILOVER"]),
        err("ERR FAILOVER is not valid when server is a replica.")
    );

    // The replica is stopped: it cannot catch up, writes wait, the
    // timeout aborts and the paused write then runs.
    // SAFETY: signals to a child this test started.
    unsafe { libc::kill(b.pid(), libc::SIGSTOP) };
    cmd(a.port, &["SET", "k", "1"]);
    assert_eq!(text(&cmd(a.port, &["FAILOVER", "TIMEOUT", "5000"])), "OK");
    assert_eq!(
        cmd(a.port, &["FAILOVER"]),
        err("ERR FAILOVER already in progress.")
    );
    assert_eq!(
        info_field(a.port, "replication", "master_failover_state").unwrap(),
        "waiting-for-sync"
    );
    assert_eq!(
        cmd(a.port, &["REPLICAOF", "127.0.0.1", "1"]),
        err("ERR REPLICAOF not allowed while failing over.")
    );
    let mut writer = a.client();
    writer.send(&["SET", "paused", "1"]).unwrap();
    assert_eq!(
        writer.read_timeout(Duration::from_millis(300)).unwrap(),
        None
    );
    let reply = writer.read_timeout(LIMIT).unwrap();
    assert_eq!(reply.map(|f| text(&f)), Some("OK".into()));
    assert!(read_log(&dir.0).contains("Replica never caught up before timeout"));
    assert_eq!(role(a.port), "master");
    unsafe { libc::kill(b.pid(), libc::SIGCONT) };

    // ABORT ends a failover at once.
    wait_caught_up(a.port, b.port);
    unsafe { libc::kill(b.pid(), libc::SIGSTOP) };
    cmd(a.port, &["SET", "k", "2"]);
    assert_eq!(text(&cmd(a.port, &["FAILOVER"])), "OK");
    assert_eq!(text(&cmd(a.port, &["FAILOVER", "ABORT"])), "OK");
    assert_eq!(text(&cmd(a.port, &["SET", "k", "3"])), "OK");
    assert!(read_log(&dir.0).contains("Failover manually aborted"));
    unsafe { libc::kill(b.pid(), libc::SIGCONT) };
}
