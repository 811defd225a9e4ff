//! Replication under faults and bad input: a master killed during a full
//! sync, a replica killed mid-load, a master stopped longer than
//! repl-timeout, backlog overflow forcing a full sync, a wrong masterauth,
//! a fake master sending garbage or a truncated RDB, and a replica asking
//! for an unknown history or a future offset.

mod replication_common;
mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use redis_ha_node::resp::Frame;
use replication_common::*;
use support::{free_port, have_real_redis, Client, ScratchDir};

fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: sending a signal to a child process this test started.
    unsafe {
        libc::kill(pid, sig);
    }
}

#[test]
fn master_killed_during_full_sync_keeps_old_data_served() {
    if !have_real_redis() {
        return;
    }
    let (md, rd) = (ScratchDir::new("m"), ScratchDir::new("r"));
    // A slow snapshot: 20k keys at 200 µs each take seconds to stream.
    let master = Node::start(
        false,
        &md.0,
        free_port(),
        &[
            "--repl-diskless-sync-delay",
            "0",
            "--rdb-key-save-delay",
            "200",
            "--enable-debug-command",
            "yes",
        ],
    );
    cmd(master.port, &["DEBUG", "POPULATE", "20000", "big", "10"]);
    let replica = Node::start(true, &rd.0, free_port(), &[]);
    cmd(replica.port, &["SET", "old", "data"]);
    cmd(
        replica.port,
        &["REPLICAOF", "127.0.0.1", &master.port.to_string()],
    );
    wait_for("sync in progress", || {
        info_field(replica.port, "replication", "master_sync_in_progress").as_deref() == Some("1")
    });
    // INFO shows the transfer (EOF form: total size unknown, 0).
    let keys: Vec<String> = info_pairs(replica.port).into_iter().map(|p| p.0).collect();
    let at = keys.iter().position(|k| k == "slave_repl_offset").unwrap();
    assert_eq!(
        keys[at + 1..at + 6],
        [
            "master_sync_total_bytes",
            "master_sync_read_bytes",
            "master_sync_left_bytes",
            "master_sync_perc",
            "master_sync_last_io_seconds_ago"
        ]
    );
    assert_eq!(
        info_field(replica.port, "replication", "master_sync_total_bytes").unwrap(),
        "0"
    );
    let role = cmd(replica.port, &["ROLE"]);
    let Frame::Array(parts) = role else {
        panic!("ROLE")
    };
    assert_eq!(text(&parts[3]), "sync");
    // The half-received dataset is never visible.
    assert_eq!(text(&cmd(replica.port, &["GET", "old"])), "data");
    assert_eq!(cmd(replica.port, &["DBSIZE"]), Frame::Integer(1));
    signal(master.pid(), libc::SIGKILL);
    drop(master);
    wait_for("link to report the failure", || {
        read_log(&rd.0).contains("I/O error trying to sync with MASTER")
    });
    assert_eq!(text(&cmd(replica.port, &["GET", "old"])), "data");
    assert_eq!(cmd(replica.port, &["DBSIZE"]), Frame::Integer(1));
    assert_eq!(
        info_field(replica.port, "replication", "master_link_status").unwrap(),
        "down"
    );
    assert!(info_field(
        replica.port,
        "replication",
        "master_link_down_since_seconds"
    )
    .is_some());
}

#[test]
fn stale_data_refused_when_configured() {
    let dir = ScratchDir::new("r");
    let dead = free_port();
    let replica = Node::start(
        true,
        &dir.0,
        free_port(),
        &[
            "--replicaof",
            "127.0.0.1",
            &dead.to_string(),
            "--replica-serve-stale-data",
            "no",
        ],
    );
    assert_eq!(
        cmd(replica.port, &["GET", "x"]),
        Frame::Error(
            b"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
                .to_vec()
        )
    );
    // INFO, PING and REPLICAOF stay available.
    assert!(matches!(
        cmd(replica.port, &["INFO", "replication"]),
        Frame::Bulk(_) | Frame::Verbatim(..)
    ));
    assert_eq!(text(&cmd(replica.port, &["REPLICAOF", "NO", "ONE"])), "OK");
    assert_eq!(cmd(replica.port, &["GET", "x"]), Frame::Null);
}

#[test]
fn replica_killed_mid_load_resyncs_completely() {
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
            "--rdb-key-save-delay",
            "100",
            "--enable-debug-command",
            "yes",
        ],
    );
    cmd(master.port, &["DEBUG", "POPULATE", "20000", "k", "10"]);
    let rport = free_port();
    let args = ["--replicaof", "127.0.0.1", &master.port.to_string()];
    let replica = Node::start(true, &rd.0, rport, &args);
    wait_for("sync in progress", || {
        info_field(rport, "replication", "master_sync_in_progress").as_deref() == Some("1")
    });
    signal(replica.pid(), libc::SIGKILL);
    drop(replica);
    cmd(master.port, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    let _replica = Node::start(true, &rd.0, rport, &args);
    wait_caught_up(master.port, rport);
    assert_eq!(cmd(rport, &["DBSIZE"]), Frame::Integer(20000));
    assert_same_data(master.port, rport);
}

#[test]
fn master_stopped_longer_than_repl_timeout() {
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
            "--repl-ping-replica-period",
            "1",
        ],
    );
    cmd(master.port, &["SET", "a", "1"]);
    let replica = Node::start(
        true,
        &rd.0,
        free_port(),
        &[
            "--replicaof",
            "127.0.0.1",
            &master.port.to_string(),
            "--repl-timeout",
            "2",
        ],
    );
    wait_caught_up(master.port, replica.port);
    signal(master.pid(), libc::SIGSTOP);
    wait_for("replica to time out its master", || {
        read_log(&rd.0).contains("MASTER timeout: no data nor PING received...")
    });
    assert_eq!(text(&cmd(replica.port, &["GET", "a"])), "1");
    signal(master.pid(), libc::SIGCONT);
    cmd(master.port, &["SET", "b", "2"]);
    wait_caught_up(master.port, replica.port);
    assert_same_data(master.port, replica.port);
}

#[test]
fn backlog_overflow_forces_full_sync() {
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
            "--repl-backlog-size",
            "16384",
        ],
    );
    cmd(master.port, &["SET", "a", "1"]);
    let replica = Node::replica_of(false, &rd.0, free_port(), master.port);
    wait_caught_up(master.port, replica.port);
    // The replica is stopped and its link cut, so the writes that follow
    // only reach the (small) backlog.
    signal(replica.pid(), libc::SIGSTOP);
    cmd(master.port, &["CLIENT", "KILL", "TYPE", "replica"]);
    let mut mc = master.client();
    let big = "x".repeat(1000);
    for i in 0..100 {
        mc.cmd(&["SET", &format!("k{i}"), &big]).unwrap();
    }
    signal(replica.pid(), libc::SIGCONT);
    wait_for("full resync for lack of backlog", || {
        read_log(&md.0).contains("for lack of backlog")
    });
    wait_caught_up(master.port, replica.port);
    assert_same_data(master.port, replica.port);
    assert_eq!(
        read_log(&md.0).matches("Starting BGSAVE for SYNC").count(),
        2
    );
}

#[test]
fn wrong_masterauth_is_logged_and_retried() {
    if !have_real_redis() {
        return;
    }
    let (md, rd) = (ScratchDir::new("m"), ScratchDir::new("r"));
    let master = Node::start(
        false,
        &md.0,
        free_port(),
        &["--requirepass", "secret", "--repl-diskless-sync-delay", "0"],
    );
    let mut mc = master.client();
    mc.cmd(&["AUTH", "secret"]).unwrap();
    mc.cmd(&["SET", "a", "1"]).unwrap();
    let replica = Node::start(
        true,
        &rd.0,
        free_port(),
        &[
            "--replicaof",
            "127.0.0.1",
            &master.port.to_string(),
            "--masterauth",
            "wrong",
        ],
    );
    wait_for("AUTH failure in the log", || {
        read_log(&rd.0).contains("Unable to AUTH to MASTER: -WRONGPASS")
    });
    assert_eq!(
        info_field(replica.port, "replication", "master_link_status").unwrap(),
        "down"
    );
    // Fixing the password at run time lets the next attempt succeed.
    assert_eq!(
        text(&cmd(
            replica.port,
            &["CONFIG", "SET", "masterauth", "secret"]
        )),
        "OK"
    );
    wait_for("link up", || link_up(replica.port));
    assert_eq!(text(&cmd(replica.port, &["GET", "a"])), "1");
}

/// A scripted master on a raw socket: answers the handshake, then sends
/// `after_psync` and closes.
fn fake_master(
    after_psync: Vec<u8>,
    ping_reply: &'static [u8],
) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut replied_ping = false;
        let mut answered = 0;
        loop {
            let Ok(n) = s.read(&mut chunk) else { return };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if !replied_ping && text.contains("PING") {
                replied_ping = true;
                let _ = s.write_all(ping_reply);
                if !ping_reply.starts_with(b"+") {
                    std::thread::sleep(Duration::from_millis(500));
                    return;
                }
            }
            let replconfs = text.matches("REPLCONF").count();
            while answered < replconfs {
                let _ = s.write_all(b"+OK\r\n");
                answered += 1;
            }
            if text.contains("PSYNC") {
                let _ = s.write_all(&after_psync);
                std::thread::sleep(Duration::from_millis(500));
                return;
            }
        }
    });
    (port, handle)
}

/// A valid RDB with one key, made with our own writer.
fn small_rdb() -> Vec<u8> {
    use redis_ha_node::rdb::{RdbAux, RdbWriter, WriteOptions};
    let mut w = RdbWriter::new(Vec::new(), WriteOptions::default());
    w.begin(&RdbAux::default()).unwrap();
    w.finish().unwrap()
}

fn replica_with_data() -> (ScratchDir, Node) {
    let dir = ScratchDir::new("r");
    let node = Node::start(true, &dir.0, free_port(), &[]);
    cmd(node.port, &["SET", "keep", "me"]);
    (dir, node)
}

fn check_fake_master(after_psync: Vec<u8>, ping_reply: &'static [u8], expected_log: &str) {
    let (dir, replica) = replica_with_data();
    let (port, handle) = fake_master(after_psync, ping_reply);
    cmd(replica.port, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
    wait_for(expected_log, || read_log(&dir.0).contains(expected_log));
    handle.join().unwrap();
    // Still alive, old data intact, link down.
    assert_eq!(text(&cmd(replica.port, &["GET", "keep"])), "me");
    assert_eq!(
        info_field(replica.port, "replication", "master_link_status").unwrap(),
        "down"
    );
    assert_eq!(text(&cmd(replica.port, &["REPLICAOF", "NO", "ONE"])), "OK");
}

#[test]
fn fake_master_garbage_ping_reply() {
    check_fake_master(
        Vec::new(),
        b"-ERR garbage here\r\n",
        "Error reply to PING from master: '-ERR garbage here'",
    );
}

#[test]
fn fake_master_truncated_rdb() {
    let rdb = small_rdb();
    let mut out = format!(
        "+FULLRESYNC {} 0\r\n${}\r\n",
        "a".repeat(40),
        rdb.len() + 50
    )
    .into_bytes();
    out.extend_from_slice(&rdb);
    check_fake_master(out, b"+PONG\r\n", "I/O error trying to sync with MASTER");
}

#[test]
fn fake_master_corrupt_rdb() {
    let mut out = format!("+FULLRESYNC {} 0\r\n$20\r\n", "b".repeat(40)).into_bytes();
    out.extend_from_slice(b"REDIS0010garbagegarb");
    check_fake_master(
        out,
        b"+PONG\r\n",
        "Failed trying to load the MASTER synchronization DB",
    );
}

#[test]
fn fake_master_bad_bulk_header() {
    let out = format!("+FULLRESYNC {} 0\r\nhello\r\n", "c".repeat(40)).into_bytes();
    check_fake_master(
        out,
        b"+PONG\r\n",
        "Bad protocol from MASTER, the first byte is not '$'",
    );
}

#[test]
fn fake_master_garbage_in_stream() {
    let rdb = small_rdb();
    let mut out = format!("+FULLRESYNC {} 0\r\n${}\r\n", "d".repeat(40), rdb.len()).into_bytes();
    out.extend_from_slice(&rdb);
    out.extend_from_slice(b"*2\r\n$3\r\nSET\r\n$1\r\nk\r\n*x\r\n");
    let (dir, replica) = replica_with_data();
    let (port, handle) = fake_master(out, b"+PONG\r\n");
    cmd(replica.port, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
    wait_for("protocol error", || {
        read_log(&dir.0).contains("Protocol error from MASTER")
    });
    handle.join().unwrap();
    // The full sync installed the (empty) snapshot; nothing half-applied.
    assert_eq!(cmd(replica.port, &["DBSIZE"]), Frame::Integer(0));
    assert_eq!(text(&cmd(replica.port, &["PING"])), "PONG");
}

#[test]
fn psync_with_unknown_id_or_future_offset_gets_full_resync() {
    let dir = ScratchDir::new("m");
    let master = Node::start(true, &dir.0, free_port(), &["--repl-diskless-sync", "no"]);
    cmd(master.port, &["SET", "a", "1"]);
    let psync = |replid: &str, offset: &str| -> String {
        let mut c = Client::connect(master.port).unwrap();
        c.cmd(&["REPLCONF", "capa", "psync2"]).unwrap();
        c.send(&["PSYNC", replid, offset]).unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while c.stream.read(&mut byte).unwrap_or(0) == 1 {
            if byte[0] == b'\n' {
                if line.len() > 1 {
                    break;
                }
                line.clear();
                continue;
            }
            line.push(byte[0]);
        }
        String::from_utf8_lossy(&line).trim().to_string()
    };
    // First replica: creates the backlog (full).
    let first = psync("?", "-1");
    assert!(first.starts_with("+FULLRESYNC "), "{first}");
    let replid = first.split(' ').nth(1).unwrap().to_string();
    let off: u64 = first.split(' ').nth(2).unwrap().parse().unwrap();
    assert!(psync(&"e".repeat(40), "1").starts_with("+FULLRESYNC "));
    assert!(psync(&replid, &(off + 1000).to_string()).starts_with("+FULLRESYNC "));
    assert!(read_log(&dir.0).contains("greater than the master replication offset"));
    assert!(read_log(&dir.0).contains("Replication ID mismatch"));
    // The right id at the right place continues.
    let cont = psync(&replid, &(off + 1).to_string());
    assert_eq!(cont, format!("+CONTINUE {replid}"));
}

#[test]
fn slow_replica_over_output_limit_is_disconnected_and_resyncs() {
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
            "--client-output-buffer-limit",
            "replica",
            "1mb",
            "0",
            "0",
        ],
    );
    cmd(master.port, &["SET", "a", "1"]);
    let replica = Node::replica_of(false, &rd.0, free_port(), master.port);
    wait_caught_up(master.port, replica.port);
    signal(replica.pid(), libc::SIGSTOP);
    let mut mc = master.client();
    let big = "x".repeat(100_000);
    // Far more than the socket buffers and the 1 MB limit can hold.
    let mut i = 0;
    while !read_log(&md.0)
        .contains("scheduled to be closed ASAP for overcoming of output buffer limits")
    {
        mc.cmd(&["SET", &format!("k{}", i % 500), &big]).unwrap();
        i += 1;
        assert!(i < 20_000, "the slow replica was never disconnected");
    }
    signal(replica.pid(), libc::SIGCONT);
    wait_caught_up(master.port, replica.port);
    assert_same_data(master.port, replica.port);
}

#[test]
fn failing_command_from_master_is_logged_as_critical() {
    let rdb = small_rdb();
    let mut out = format!("+FULLRESYNC {} 0\r\n${}\r\n", "f".repeat(40), rdb.len()).into_bytes();
    out.extend_from_slice(&rdb);
    out.extend_from_slice(
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nabc\r\n*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n",
    );
    let (dir, replica) = replica_with_data();
    let (port, handle) = fake_master(out, b"+PONG\r\n");
    cmd(replica.port, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
    wait_for("the critical log line", || {
        read_log(&dir.0).contains("== CRITICAL == This replica is sending an error to its master: 'ERR value is not an integer or out of range' after processing the command 'incr'")
    });
    handle.join().unwrap();
    assert_eq!(text(&cmd(replica.port, &["GET", "k"])), "abc");
}

#[test]
fn master_without_psync_falls_back_to_sync() {
    let rdb = small_rdb();
    let mut out = format!("-ERR unknown command 'PSYNC'\r\n${}\r\n", rdb.len()).into_bytes();
    out.extend_from_slice(&rdb);
    out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n");
    let (dir, replica) = replica_with_data();
    let (port, handle) = fake_master(out, b"+PONG\r\n");
    cmd(replica.port, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
    wait_for("the fallback", || {
        read_log(&dir.0).contains("Master does not support PSYNC or is in error state (reply: -ERR unknown command 'PSYNC')")
    });
    wait_for("the streamed write", || {
        text(&cmd(replica.port, &["GET", "k"])) == "v1"
    });
    // The snapshot replaced the old data.
    assert_eq!(cmd(replica.port, &["GET", "keep"]), Frame::Null);
    handle.join().unwrap();
}
