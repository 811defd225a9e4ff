//! Replication against Debian's redis-server 7.0: a real replica of our
//! node and our node as a replica of real Redis — full sync (both transfer
//! forms), the command stream, partial resync after the link is killed and
//! after the replica restarts from its dump, PSYNC2 after a promotion, and a
//! chain master → replica → sub-replica. Data is compared key by key.

mod replication_common;
mod support;

use redis_ha_node::resp::Frame;
use replication_common::*;
use support::{free_port, have_real_redis, ScratchDir};

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

#[test]
fn real_redis_replicates_from_our_node() {
    if !have_real_redis() {
        return;
    }
    let (md, rd) = (ScratchDir::new("repl-m"), ScratchDir::new("repl-r"));
    let master = Node::master(true, &md.0);
    let mut mc = master.client();
    fill(&mut mc, "pre", 50);
    let rport = free_port();
    let replica_args = ["--replicaof", "127.0.0.1", &master.port.to_string()];
    let replica_args: Vec<&str> = replica_args.to_vec();
    let replica = Node::start(false, &rd.0, rport, &replica_args);
    wait_caught_up(master.port, rport);
    assert_same_data(master.port, rport);

    // The stream: writes of every kind, expiries rewritten as PXAT, MULTI.
    fill(&mut mc, "live", 20);
    mc.cmd(&["SET", "ex", "v", "EX", "1000"]).unwrap();
    mc.cmd(&["MULTI"]).unwrap();
    mc.cmd(&["INCR", "tx"]).unwrap();
    mc.cmd(&["LPUSH", "txl", "a"]).unwrap();
    mc.cmd(&["EXEC"]).unwrap();
    mc.cmd(&["DEL", "pre:1:l"]).unwrap();
    wait_caught_up(master.port, rport);
    assert_same_data(master.port, rport);

    // INFO and ROLE on our side.
    let pairs = info_pairs(master.port);
    assert_eq!(pairs[0], ("role".into(), "master".into()));
    assert_eq!(pairs[1], ("connected_slaves".into(), "1".into()));
    assert_eq!(pairs[2].0, "slave0");
    assert!(
        pairs[2]
            .1
            .starts_with(&format!("ip=127.0.0.1,port={rport},state=online,offset=")),
        "{pairs:?}"
    );
    let keys: Vec<&str> = pairs[3..].iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        keys,
        [
            "master_failover_state",
            "master_replid",
            "master_replid2",
            "master_repl_offset",
            "second_repl_offset",
            "repl_backlog_active",
            "repl_backlog_size",
            "repl_backlog_first_byte_offset",
            "repl_backlog_histlen"
        ]
    );
    let role = cmd(master.port, &["ROLE"]);
    let Frame::Array(parts) = role else {
        panic!("ROLE {role:?}")
    };
    assert_eq!(text(&parts[0]), "master");
    assert!(matches!(parts[1], Frame::Integer(_)));
    let Frame::Array(replicas) = &parts[2] else {
        panic!("ROLE replicas")
    };
    let Frame::Array(r0) = &replicas[0] else {
        panic!("ROLE replica entry")
    };
    assert_eq!(text(&r0[0]), "127.0.0.1");
    assert_eq!(text(&r0[1]), rport.to_string());
    assert!(matches!(r0[2], Frame::Bulk(_)));
    // The replica's master_replid is ours.
    assert_eq!(
        info_field(rport, "replication", "master_replid"),
        info_field(master.port, "replication", "master_replid")
    );

    // A broken link: the real replica continues with a partial resync.
    let before = count(&read_log(&md.0), "Partial resynchronization request from");
    cmd(master.port, &["CLIENT", "KILL", "TYPE", "replica"]);
    mc.cmd(&["SET", "after-kill", "1"]).unwrap();
    wait_for("partial resync after kill", || {
        count(&read_log(&md.0), "Partial resynchronization request from") > before
    });
    wait_caught_up(master.port, rport);
    assert_same_data(master.port, rport);

    // The replica restarts from its dump and continues partially.
    let before = count(&read_log(&md.0), "Partial resynchronization request from");
    let _ = replica.client().cmd(&["SHUTDOWN", "SAVE"]);
    drop(replica);
    mc.cmd(&["SET", "while-down", "1"]).unwrap();
    let replica = Node::start(false, &rd.0, rport, &replica_args);
    wait_caught_up(master.port, rport);
    assert!(
        count(&read_log(&md.0), "Partial resynchronization request from") > before,
        "restarted replica did not resync partially: {}",
        read_log(&md.0)
    );
    assert_same_data(master.port, rport);
    assert_eq!(info_field(master.port, "stats", "sync_full").unwrap(), "1");
    assert_eq!(
        info_field(master.port, "stats", "sync_partial_ok").unwrap(),
        "2"
    );
    assert_eq!(
        info_field(master.port, "stats", "sync_partial_err").unwrap(),
        "0"
    );
    let out: u64 = info_field(master.port, "stats", "total_net_repl_output_bytes")
        .unwrap()
        .parse()
        .unwrap();
    assert!(out >= offset(master.port), "{out}");
    drop(replica);
}

#[test]
fn real_redis_replicates_with_disk_based_sync() {
    if !have_real_redis() {
        return;
    }
    let (md, rd) = (ScratchDir::new("repl-m"), ScratchDir::new("repl-r"));
    let master = Node::start(true, &md.0, free_port(), &["--repl-diskless-sync", "no"]);
    let mut mc = master.client();
    fill(&mut mc, "disk", 30);
    let rport = free_port();
    let _replica = Node::replica_of(false, &rd.0, rport, master.port);
    wait_caught_up(master.port, rport);
    assert_same_data(master.port, rport);
    assert!(read_log(&rd.0).contains("MASTER <-> REPLICA sync: receiving"));
    assert!(!read_log(&rd.0).contains("with EOF"));
}

#[test]
fn our_node_replicates_from_real_redis() {
    if !have_real_redis() {
        return;
    }
    let (md, rd) = (ScratchDir::new("repl-m"), ScratchDir::new("repl-r"));
    let master = Node::master(false, &md.0);
    let mut mc = master.client();
    fill(&mut mc, "pre", 50);
    let rport = free_port();
    let replica_args = ["--replicaof", "127.0.0.1", &master.port.to_string()];
    let replica = Node::start(true, &rd.0, rport, &replica_args);
    wait_caught_up(master.port, rport);
    assert_same_data(master.port, rport);

    fill(&mut mc, "live", 20);
    mc.cmd(&["SET", "ex", "v", "PX", "100000"]).unwrap();
    mc.cmd(&["MULTI"]).unwrap();
    mc.cmd(&["INCR", "tx"]).unwrap();
    mc.cmd(&["SELECT", "5"]).unwrap();
    mc.cmd(&["SADD", "txs", "a"]).unwrap();
    mc.cmd(&["EXEC"]).unwrap();
    mc.cmd(&["SELECT", "0"]).unwrap();
    mc.cmd(&["UNLINK", "pre:2:h"]).unwrap();
    wait_caught_up(master.port, rport);
    assert_same_data(master.port, rport);

    let repl_in: u64 = info_field(rport, "stats", "total_net_repl_input_bytes")
        .unwrap()
        .parse()
        .unwrap();
    assert!(repl_in >= offset(rport), "{repl_in}");
    // Read-only replica; INFO and ROLE shapes.
    let mut rc = replica.client();
    assert_eq!(
        rc.cmd(&["SET", "x", "1"]).unwrap(),
        Frame::Error(b"READONLY You can't write against a read only replica.".to_vec())
    );
    let pairs = info_pairs(rport);
    let keys: Vec<&str> = pairs.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        keys,
        [
            "role",
            "master_host",
            "master_port",
            "master_link_status",
            "master_last_io_seconds_ago",
            "master_sync_in_progress",
            "slave_read_repl_offset",
            "slave_repl_offset",
            "slave_priority",
            "slave_read_only",
            "replica_announced",
            "connected_slaves",
            "master_failover_state",
            "master_replid",
            "master_replid2",
            "master_repl_offset",
            "second_repl_offset",
            "repl_backlog_active",
            "repl_backlog_size",
            "repl_backlog_first_byte_offset",
            "repl_backlog_histlen"
        ]
    );
    assert_eq!(pairs[0].1, "slave");
    let role = rc.cmd(&["ROLE"]).unwrap();
    let Frame::Array(parts) = role else {
        panic!("ROLE")
    };
    assert_eq!(text(&parts[0]), "slave");
    assert_eq!(text(&parts[1]), "127.0.0.1");
    assert_eq!(parts[2], Frame::Integer(i64::from(master.port)));
    assert_eq!(text(&parts[3]), "connected");
    assert!(matches!(parts[4], Frame::Integer(n) if n > 0));
    // The real master lists us with our listening port.
    let mslave0 = info_field(master.port, "replication", "slave0").unwrap();
    assert!(
        mslave0.contains(&format!("port={rport},state=online")),
        "{mslave0}"
    );

    // CLIENT KILL TYPE master on our replica: partial resync.
    let before = count(&read_log(&md.0), "Partial resynchronization request from");
    assert_eq!(
        text(&rc.cmd(&["CLIENT", "KILL", "TYPE", "master"]).unwrap()),
        "1"
    );
    mc.cmd(&["SET", "after-kill", "1"]).unwrap();
    wait_for("partial resync after kill", || {
        count(&read_log(&md.0), "Partial resynchronization request from") > before
    });
    wait_caught_up(master.port, rport);
    assert_same_data(master.port, rport);

    // Our replica restarts from its dump and continues partially.
    let before = count(&read_log(&md.0), "Partial resynchronization request from");
    let _ = rc.cmd(&["SHUTDOWN", "SAVE"]);
    drop(replica);
    mc.cmd(&["SET", "while-down", "1"]).unwrap();
    let _replica = Node::start(true, &rd.0, rport, &replica_args);
    wait_caught_up(master.port, rport);
    assert!(
        count(&read_log(&md.0), "Partial resynchronization request from") > before,
        "restarted replica did not resync partially: {}",
        read_log(&rd.0)
    );
    assert_same_data(master.port, rport);
}

/// Master (ours) → replica (ours) → sub-replica (real Redis): the middle
/// node forwards the stream byte for byte, so all three share one offset.
#[test]
fn chain_of_replicas() {
    if !have_real_redis() {
        return;
    }
    let dirs = [
        ScratchDir::new("m"),
        ScratchDir::new("r"),
        ScratchDir::new("s"),
    ];
    let master = Node::master(true, &dirs[0].0);
    let mut mc = master.client();
    fill(&mut mc, "c", 20);
    let mid = Node::start(
        true,
        &dirs[1].0,
        free_port(),
        &[
            "--replicaof",
            "127.0.0.1",
            &master.port.to_string(),
            "--repl-diskless-sync-delay",
            "0",
        ],
    );
    wait_caught_up(master.port, mid.port);
    let sub = Node::replica_of(false, &dirs[2].0, free_port(), mid.port);
    wait_caught_up(mid.port, sub.port);
    fill(&mut mc, "more", 10);
    mc.cmd(&["SET", "ttl", "x", "EX", "500"]).unwrap();
    wait_caught_up(master.port, mid.port);
    wait_caught_up(mid.port, sub.port);
    // Eventually equal (a keepalive PING may be in flight at any moment).
    wait_for("equal offsets along the chain", || {
        offset(master.port) == offset(sub.port)
    });
    assert_same_data(master.port, sub.port);
    assert_eq!(
        info_field(sub.port, "replication", "master_replid"),
        info_field(master.port, "replication", "master_replid")
    );
}

/// PSYNC2: our replica is promoted; the other replica of the old master
/// (real Redis) moves to it and continues with a partial resync.
#[test]
fn promoted_replica_serves_partial_resync() {
    promotion_story(true, "p");
}

/// The reverse: real Redis is promoted and our replica continues from it.
#[test]
fn our_replica_follows_promoted_real_replica_partially() {
    promotion_story(false, "q");
}

/// A master with two replicas, one ours and one real Redis; the master
/// goes away, replica `a` (ours when `ours_promoted`) is promoted with
/// REPLICAOF NO ONE, and replica `b` (the other kind) moves to it: `a`
/// keeps the old history as replid2 and `b` continues partially.
fn promotion_story(ours_promoted: bool, prefix: &str) {
    if !have_real_redis() {
        return;
    }
    let dirs = [
        ScratchDir::new("m"),
        ScratchDir::new("a"),
        ScratchDir::new("b"),
    ];
    // The first argument of Node's constructors: whether the process is ours.
    let master = Node::master(!ours_promoted, &dirs[0].0);
    let mut mc = master.client();
    fill(&mut mc, prefix, 20);
    let a = Node::replica_of(ours_promoted, &dirs[1].0, free_port(), master.port);
    let b = Node::replica_of(!ours_promoted, &dirs[2].0, free_port(), master.port);
    wait_caught_up(master.port, a.port);
    wait_caught_up(master.port, b.port);
    let old_id = info_field(master.port, "replication", "master_replid").unwrap();
    drop(master);

    assert_eq!(text(&cmd(a.port, &["REPLICAOF", "NO", "ONE"])), "OK");
    assert_eq!(info_field(a.port, "replication", "role").unwrap(), "master");
    assert_eq!(
        info_field(a.port, "replication", "master_replid2").unwrap(),
        old_id
    );
    let second: u64 = info_field(a.port, "replication", "second_repl_offset")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(second, offset(a.port) + 1);
    cmd(a.port, &["SET", "after-promotion", "1"]);
    assert_eq!(
        text(&cmd(
            b.port,
            &["REPLICAOF", "127.0.0.1", &a.port.to_string()]
        )),
        "OK"
    );
    wait_caught_up(a.port, b.port);
    let log = read_log(&dirs[1].0);
    assert!(
        log.contains("Partial resynchronization request from"),
        "{log}"
    );
    assert!(!log.contains("Full resync requested"), "{log}");
    let b_log = read_log(&dirs[2].0);
    assert!(
        b_log.contains("Successful partial resynchronization with master."),
        "{b_log}"
    );
    assert_same_data(a.port, b.port);
    assert_eq!(
        info_field(b.port, "replication", "master_replid"),
        info_field(a.port, "replication", "master_replid")
    );
}

/// A master restarted from its dump keeps its history as replid2 at the
/// same offset, so its caught-up replica continues with a partial resync.
#[test]
fn restarted_master_accepts_its_old_history() {
    if !have_real_redis() {
        return;
    }
    let (md, rd) = (ScratchDir::new("m"), ScratchDir::new("r"));
    let mport = free_port();
    let master = Node::start(true, &md.0, mport, &["--repl-diskless-sync-delay", "0"]);
    let mut mc = master.client();
    fill(&mut mc, "r", 10);
    let replica = Node::replica_of(false, &rd.0, free_port(), mport);
    wait_caught_up(mport, replica.port);
    let old_id = info_field(mport, "replication", "master_replid").unwrap();
    let old_offset = offset(mport);
    let _ = mc.cmd(&["SHUTDOWN", "SAVE"]);
    drop(master);
    let master = Node::start(true, &md.0, mport, &["--repl-diskless-sync-delay", "0"]);
    assert_eq!(
        info_field(mport, "replication", "master_replid2").unwrap(),
        old_id
    );
    // At least where it was (a keepalive PING may have followed the read).
    assert!(offset(mport) >= old_offset);
    wait_caught_up(mport, replica.port);
    let log = read_log(&md.0);
    assert!(
        log.contains("Partial resynchronization request from"),
        "{log}"
    );
    master.client().cmd(&["SET", "after-restart", "1"]).unwrap();
    wait_caught_up(mport, replica.port);
    assert_same_data(mport, replica.port);
}

/// Replicas that ask within repl-diskless-sync-delay share one snapshot.
#[test]
fn replicas_asking_together_share_one_snapshot() {
    if !have_real_redis() {
        return;
    }
    let dirs = [
        ScratchDir::new("m"),
        ScratchDir::new("a"),
        ScratchDir::new("b"),
    ];
    let master = Node::start(
        true,
        &dirs[0].0,
        free_port(),
        &["--repl-diskless-sync-delay", "2"],
    );
    let mut mc = master.client();
    fill(&mut mc, "s", 10);
    let a = Node::replica_of(false, &dirs[1].0, free_port(), master.port);
    let b = Node::replica_of(true, &dirs[2].0, free_port(), master.port);
    wait_caught_up(master.port, a.port);
    wait_caught_up(master.port, b.port);
    let log = read_log(&dirs[0].0);
    assert_eq!(log.matches("Starting BGSAVE for SYNC").count(), 1, "{log}");
    assert!(log.contains("Delay next BGSAVE for diskless SYNC"));
    assert_same_data(master.port, a.port);
    assert_same_data(master.port, b.port);
}

/// A replica whose master is gone keeps its own replicas' links alive with
/// newlines, so they do not time out while it reconnects.
#[test]
fn sub_replicas_stay_linked_while_the_top_master_is_down() {
    if !have_real_redis() {
        return;
    }
    let dirs = [
        ScratchDir::new("m"),
        ScratchDir::new("r"),
        ScratchDir::new("s"),
    ];
    let master = Node::master(true, &dirs[0].0);
    master.client().cmd(&["SET", "a", "1"]).unwrap();
    let mid = Node::start(
        true,
        &dirs[1].0,
        free_port(),
        &[
            "--replicaof",
            "127.0.0.1",
            &master.port.to_string(),
            "--repl-diskless-sync-delay",
            "0",
        ],
    );
    wait_caught_up(master.port, mid.port);
    let sub = Node::start(
        false,
        &dirs[2].0,
        free_port(),
        &[
            "--replicaof",
            "127.0.0.1",
            &mid.port.to_string(),
            "--repl-timeout",
            "2",
        ],
    );
    wait_caught_up(mid.port, sub.port);
    drop(master);
    wait_for("mid link down", || !link_up(mid.port));
    // Longer than the sub-replica's repl-timeout.
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert!(link_up(sub.port));
    assert!(
        !read_log(&dirs[2].0).contains("MASTER timeout"),
        "{}",
        read_log(&dirs[2].0)
    );
    assert_eq!(text(&cmd(sub.port, &["GET", "a"])), "1");
}

/// Large values in the stream (many reads per argument) and in the
/// snapshot, both directions.
#[test]
fn big_values_replicate_both_ways() {
    if !have_real_redis() {
        return;
    }
    for ours_master in [false, true] {
        let (md, rd) = (ScratchDir::new("m"), ScratchDir::new("r"));
        let master = Node::master(ours_master, &md.0);
        let big = "v".repeat(8 << 20);
        let mut mc = master.client();
        mc.cmd(&["SET", "in-snapshot", &big]).unwrap();
        let replica = Node::replica_of(!ours_master, &rd.0, free_port(), master.port);
        wait_caught_up(master.port, replica.port);
        mc.cmd(&["SET", "in-stream", &big]).unwrap();
        mc.cmd(&["RPUSH", "list", &big, "small"]).unwrap();
        wait_caught_up(master.port, replica.port);
        for key in ["in-snapshot", "in-stream"] {
            assert_eq!(cmd(replica.port, &["STRLEN", key]), Frame::Integer(8 << 20));
        }
        assert_eq!(cmd(replica.port, &["LLEN", "list"]), Frame::Integer(2));
        assert_eq!(
            cmd(replica.port, &["GET", "in-stream"]),
            Frame::Bulk(big.into_bytes())
        );
    }
}

/// Our replica hides a logically expired key but keeps it until the
/// master's DEL arrives, as Redis replicas do.
#[test]
fn replica_waits_for_the_masters_del_of_expired_keys() {
    if !have_real_redis() {
        return;
    }
    let (md, rd) = (ScratchDir::new("m"), ScratchDir::new("r"));
    let master = Node::start(
        false,
        &md.0,
        free_port(),
        &[
            "--repl-diskless-sync-delay",
            "0",
            "--enable-debug-command",
            "yes",
        ],
    );
    cmd(master.port, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let replica = Node::replica_of(true, &rd.0, free_port(), master.port);
    wait_caught_up(master.port, replica.port);
    cmd(master.port, &["SET", "short", "v", "PX", "200"]);
    wait_caught_up(master.port, replica.port);
    wait_for("the key to be hidden on the replica", || {
        cmd(replica.port, &["GET", "short"]) == Frame::Null
    });
    // Still stored: only the master's DEL removes it.
    assert_eq!(cmd(replica.port, &["DBSIZE"]), Frame::Integer(1));
    // The master finds it expired on access and propagates DEL.
    assert_eq!(cmd(master.port, &["GET", "short"]), Frame::Null);
    wait_for("the DEL to arrive", || {
        cmd(replica.port, &["DBSIZE"]) == Frame::Integer(0)
    });
}

/// On a writable replica, local writes stay local: they are neither
/// counted in the offset nor forwarded to sub-replicas.
#[test]
fn writable_replica_keeps_local_writes_local() {
    if !have_real_redis() {
        return;
    }
    let dirs = [
        ScratchDir::new("m"),
        ScratchDir::new("r"),
        ScratchDir::new("s"),
    ];
    let master = Node::master(true, &dirs[0].0);
    cmd(master.port, &["SET", "a", "1"]);
    let mid = Node::start(
        true,
        &dirs[1].0,
        free_port(),
        &[
            "--replicaof",
            "127.0.0.1",
            &master.port.to_string(),
            "--replica-read-only",
            "no",
            "--repl-diskless-sync-delay",
            "0",
        ],
    );
    wait_caught_up(master.port, mid.port);
    let sub = Node::replica_of(false, &dirs[2].0, free_port(), mid.port);
    wait_caught_up(mid.port, sub.port);
    assert_eq!(text(&cmd(mid.port, &["SET", "local", "1"])), "OK");
    cmd(master.port, &["SET", "b", "2"]);
    wait_caught_up(master.port, mid.port);
    wait_caught_up(mid.port, sub.port);
    // The local write did not move the replica's offset (a PING may be in
    // flight, hence eventually).
    wait_for("equal offsets", || offset(mid.port) == offset(master.port));
    assert_eq!(text(&cmd(mid.port, &["GET", "local"])), "1");
    assert_eq!(cmd(sub.port, &["GET", "local"]), Frame::Null);
    assert_eq!(text(&cmd(sub.port, &["GET", "b"])), "2");
}
