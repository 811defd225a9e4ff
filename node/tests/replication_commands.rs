//! WAIT, min-replicas-to-write, REPLICAOF/REPLCONF argument handling,
//! replication settings through CONFIG SET, and `redis-cli --replica`
//! against our node.

mod replication_common;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use redis_ha_node::resp::Frame;
use replication_common::*;
use support::{free_port, have_real_redis, ScratchDir};

fn err(text: &str) -> Frame {
    Frame::Error(text.as_bytes().to_vec())
}

#[test]
fn wait_counts_acknowledging_replicas() {
    if !have_real_redis() {
        return;
    }
    let (md, rd) = (ScratchDir::new("m"), ScratchDir::new("r"));
    let master = Node::master(true, &md.0);
    let mut mc = master.client();
    // No replicas: WAIT 0 returns at once, WAIT 1 times out with 0.
    assert_eq!(mc.cmd(&["WAIT", "0", "0"]).unwrap(), Frame::Integer(0));
    assert_eq!(mc.cmd(&["WAIT", "1", "100"]).unwrap(), Frame::Integer(0));
    let replica = Node::replica_of(false, &rd.0, free_port(), master.port);
    wait_caught_up(master.port, replica.port);
    mc.cmd(&["SET", "k", "v"]).unwrap();
    assert_eq!(mc.cmd(&["WAIT", "1", "0"]).unwrap(), Frame::Integer(1));
    mc.cmd(&["SET", "k", "v2"]).unwrap();
    // Blocks until the replica acknowledged; then a second replica that
    // does not exist makes WAIT time out with the count it has.
    assert_eq!(mc.cmd(&["WAIT", "1", "0"]).unwrap(), Frame::Integer(1));
    assert_eq!(mc.cmd(&["WAIT", "2", "300"]).unwrap(), Frame::Integer(1));
    assert_eq!(
        mc.cmd(&["WAIT", "1", "-1"]).unwrap(),
        err("ERR timeout is negative")
    );
    assert_eq!(
        mc.cmd(&["WAIT", "x", "1"]).unwrap(),
        err("ERR value is not an integer or out of range")
    );
    // Inside MULTI it answers at once.
    mc.cmd(&["MULTI"]).unwrap();
    mc.cmd(&["WAIT", "5", "0"]).unwrap();
    assert_eq!(
        mc.cmd(&["EXEC"]).unwrap(),
        Frame::Array(vec![Frame::Integer(1)])
    );

    // WAIT on a replica is refused.
    let ours_replica_dir = ScratchDir::new("r2");
    let ours = Node::replica_of(true, &ours_replica_dir.0, free_port(), master.port);
    assert_eq!(
        cmd(ours.port, &["WAIT", "1", "1"]),
        err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
    );
}

#[test]
fn min_replicas_to_write_rejects_writes() {
    if !have_real_redis() {
        return;
    }
    let (md, rd) = (ScratchDir::new("m"), ScratchDir::new("r"));
    let master = Node::start(
        true,
        &md.0,
        free_port(),
        &[
            "--repl-diskless-sync-delay",
            "0",
            "--min-replicas-to-write",
            "1",
            "--min-replicas-max-lag",
            "10",
        ],
    );
    let noreplicas = err("NOREPLICAS Not enough good replicas to write.");
    assert_eq!(cmd(master.port, &["SET", "a", "1"]), noreplicas);
    // Reads still work.
    assert_eq!(cmd(master.port, &["GET", "a"]), Frame::Null);
    assert_eq!(
        info_field(master.port, "replication", "min_slaves_good_slaves").unwrap(),
        "0"
    );
    let replica = Node::replica_of(false, &rd.0, free_port(), master.port);
    wait_for("a good replica", || {
        info_field(master.port, "replication", "min_slaves_good_slaves").as_deref() == Some("1")
    });
    assert_eq!(text(&cmd(master.port, &["SET", "a", "1"])), "OK");
    // Inside MULTI the write is refused when queued and EXEC aborts, as
    // in Redis (the check runs before queueing).
    assert_eq!(
        text(&cmd(
            master.port,
            &["CONFIG", "SET", "min-replicas-to-write", "2"]
        )),
        "OK"
    );
    let mut mc = master.client();
    mc.cmd(&["MULTI"]).unwrap();
    assert_eq!(mc.cmd(&["SET", "b", "1"]).unwrap(), noreplicas);
    assert_eq!(
        mc.cmd(&["EXEC"]).unwrap(),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(
        text(&cmd(
            master.port,
            &["CONFIG", "SET", "min-replicas-to-write", "0"]
        )),
        "OK"
    );
    assert_eq!(
        info_field(master.port, "replication", "min_slaves_good_slaves"),
        None
    );
    assert_eq!(text(&cmd(master.port, &["SET", "b", "1"])), "OK");
    drop(replica);
    assert_eq!(
        text(&cmd(
            master.port,
            &["CONFIG", "SET", "min-replicas-to-write", "1"]
        )),
        "OK"
    );
    wait_for("no good replica", || {
        cmd(master.port, &["SET", "c", "1"]) == noreplicas
    });
}

#[test]
fn replication_command_errors() {
    let dir = ScratchDir::new("m");
    let node = Node::start(true, &dir.0, free_port(), &[]);
    assert_eq!(
        cmd(node.port, &["REPLICAOF", "127.0.0.1", "99999"]),
        err("ERR Invalid master port")
    );
    assert_eq!(
        cmd(node.port, &["REPLICAOF", "127.0.0.1", "x"]),
        err("ERR Invalid master port")
    );
    assert_eq!(
        cmd(node.port, &["REPLCONF", "foo", "bar"]),
        err("ERR Unrecognized REPLCONF option: foo")
    );
    assert_eq!(
        cmd(node.port, &["REPLCONF", "capa"]),
        err("ERR syntax error")
    );
    assert_eq!(
        text(&cmd(
            node.port,
            &["REPLCONF", "listening-port", "1234", "capa", "eof"]
        )),
        "OK"
    );
    assert_eq!(
        cmd(node.port, &["REPLCONF", "ip-address", &"a".repeat(300)]),
        err("ERR REPLCONF ip-address provided by replica instance is too long: 300 bytes")
    );
    assert_eq!(
        cmd(node.port, &["PSYNC", "?", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(text(&cmd(node.port, &["REPLICAOF", "NO", "ONE"])), "OK");
    // Becoming a replica and back; same master again is a no-op.
    let dead = free_port().to_string();
    assert_eq!(
        text(&cmd(node.port, &["SLAVEOF", "127.0.0.1", &dead])),
        "OK"
    );
    assert_eq!(
        text(&cmd(node.port, &["REPLICAOF", "127.0.0.1", &dead])),
        "OK Already connected to specified master"
    );
    assert_eq!(
        info_field(node.port, "replication", "role").unwrap(),
        "slave"
    );
    assert_eq!(
        info_field(node.port, "replication", "master_link_status").unwrap(),
        "down"
    );
    assert_eq!(
        info_field(node.port, "replication", "master_link_down_since_seconds").unwrap(),
        "-1"
    );
    let config = cmd(node.port, &["CONFIG", "GET", "replicaof"]);
    assert_eq!(text(&config), format!("[replicaof,127.0.0.1 {dead}]"));
    let role = cmd(node.port, &["ROLE"]);
    let Frame::Array(parts) = role else {
        panic!("ROLE")
    };
    // No live master client: -1 (INFO shows the cached offset, 0).
    assert_eq!(parts[4], Frame::Integer(-1));
    assert_eq!(
        info_field(node.port, "replication", "slave_repl_offset").unwrap(),
        "0"
    );
    assert_eq!(text(&cmd(node.port, &["REPLICAOF", "NO", "ONE"])), "OK");
    assert_eq!(
        info_field(node.port, "replication", "role").unwrap(),
        "master"
    );
    assert_eq!(
        text(&cmd(node.port, &["CONFIG", "GET", "replicaof"])),
        "[replicaof,]"
    );
    assert!(read_log(&dir.0).contains("MASTER MODE enabled (user request from"));
    // Writes are allowed again, and expire as on any master.
    assert_eq!(text(&cmd(node.port, &["SET", "k", "v", "PX", "1"])), "OK");
    wait_for("the key to expire", || {
        cmd(node.port, &["EXISTS", "k"]) == Frame::Integer(0)
    });
    assert_eq!(text(&cmd(node.port, &["DBSIZE"])), "0");
}

#[test]
fn replication_settings_through_config_set() {
    let dir = ScratchDir::new("m");
    let node = Node::start(true, &dir.0, free_port(), &[]);
    for (name, value) in [
        ("repl-backlog-size", "2097152"),
        ("repl-backlog-ttl", "100"),
        ("repl-timeout", "30"),
        ("repl-ping-replica-period", "5"),
        ("replica-read-only", "no"),
        ("replica-serve-stale-data", "no"),
        ("masterauth", "pw"),
        ("masteruser", "u"),
        ("replica-priority", "7"),
        ("replica-announce-ip", "10.0.0.1"),
        ("replica-announce-port", "7000"),
        ("repl-diskless-sync", "no"),
        ("repl-diskless-sync-delay", "1"),
        ("min-replicas-to-write", "0"),
        ("min-replicas-max-lag", "3"),
    ] {
        assert_eq!(
            text(&cmd(node.port, &["CONFIG", "SET", name, value])),
            "OK",
            "{name}"
        );
        assert_eq!(
            text(&cmd(node.port, &["CONFIG", "GET", name])),
            format!("[{name},{value}]")
        );
    }
    assert_eq!(
        info_field(node.port, "replication", "repl_backlog_size").unwrap(),
        "2097152"
    );
}

#[test]
fn redis_cli_replica_mode_streams_our_writes() {
    if !have_real_redis() {
        return;
    }
    let dir = ScratchDir::new("m");
    let master = Node::master(true, &dir.0);
    let mut child = Command::new("redis-cli")
        .args(["-p", &master.port.to_string(), "--replica"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli");
    // Progress goes to stderr, the commands to stdout.
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx2.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let started = Instant::now();
    let mut wrote = false;
    loop {
        assert!(started.elapsed() < LIMIT, "redis-cli output: {seen:?}");
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
        if !wrote && seen.iter().any(|l| l.contains("SYNC done")) {
            cmd(master.port, &["SET", "foo", "bar"]);
            wrote = true;
        }
        if seen.iter().any(|l| l == "\"SET\",\"foo\",\"bar\"") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn redis_cli_rdb_downloads_a_snapshot() {
    if !have_real_redis() {
        return;
    }
    let dir = ScratchDir::new("m");
    let master = Node::master(true, &dir.0);
    cmd(master.port, &["MSET", "a", "1", "b", "2"]);
    let file = dir.0.join("downloaded.rdb");
    let status = Command::new("redis-cli")
        .args(["-p", &master.port.to_string(), "--rdb"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("redis-cli");
    assert!(status.success());
    let data = std::fs::read(&file).unwrap();
    assert!(data.starts_with(b"REDIS0010"));
    // A valid snapshot with both keys.
    let mut reader = redis_ha_node::rdb::RdbReader::new(&data[..], Default::default()).unwrap();
    let mut keys = 0;
    while let Some(item) = reader.next_item().unwrap() {
        if matches!(item, redis_ha_node::rdb::RdbItem::Key(_)) {
            keys += 1;
        }
    }
    assert_eq!(keys, 2);
    // The connection was closed after the transfer; the master is fine.
    wait_for("the rdb-only replica to be gone", || {
        info_field(master.port, "replication", "connected_slaves").as_deref() == Some("0")
    });
}
