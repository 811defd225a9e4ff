//! Snapshots on disk and DUMP/RESTORE against a real redis-server 7.0.15:
//! SAVE + kill -9 + restart keeps everything (TTLs included); a dump.rdb
//! from real Redis loads at our start-up and ours loads in real Redis;
//! corrupt files stop our start-up with an error naming the file; SHUTDOWN
//! SAVE writes the file; DUMP payloads travel both ways.
//!
//! The real-Redis parts are skipped (with a note) when it is not installed.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_ha_node::resp::Frame;
use support::{
    cmd_bytes as cmd, fill_big_collections, free_port, have_real_redis, ok, read_log,
    spawn_ours_in, start_ours_in, Client, DirServer, Flavor, ScratchDir, ServerProcess,
};

/// Our server in a directory that survives restarts.
type Ours = DirServer;

fn spawn_ours(dir: &Path, extra: &[&str]) -> (Child, u16) {
    let port = free_port();
    let mut args = vec!["--save", ""];
    args.extend_from_slice(extra);
    (spawn_ours_in(dir, port, &args), port)
}

fn start_ours(dir: &Path) -> Ours {
    start_ours_with(dir, &[])
}

fn start_ours_with(dir: &Path, extra: &[&str]) -> Ours {
    let mut args = vec!["--save", ""];
    args.extend_from_slice(extra);
    start_ours_in(dir, free_port(), &args, Duration::from_secs(10))
}

/// Waits for a process to exit by itself.
fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    support::wait_exit(child, Duration::from_secs(10))
}

/// Every type in compact and big encodings, binary data, TTLs, two dbs.
fn populate(c: &mut Client) {
    let far = b"4102444800000";
    ok(c, &[b"SET", b"str", b"hello"]);
    ok(c, &[b"SET", b"int", b"-12345"]);
    ok(c, &[b"SET", b"bin", b"\x00\xff\r\nbinary"]);
    ok(c, &[b"SET", b"long", "abc".repeat(200).as_bytes()]);
    ok(c, &[b"SET", b"ttl", b"v", b"PXAT", far]);
    ok(c, &[b"RPUSH", b"list", b"a", b"b", b"1", b"2"]);
    ok(c, &[b"SADD", b"intset", b"1", b"2", b"300000"]);
    ok(c, &[b"SADD", b"set", b"x", b"y", b"z"]);
    ok(c, &[b"HSET", b"hash", b"f", b"v", b"n", b"1"]);
    ok(
        c,
        &[b"ZADD", b"zset", b"1", b"a", b"2.5", b"b", b"-inf", b"c"],
    );
    ok(c, &[b"PEXPIREAT", b"zset", far]);
    fill_big_collections(c, 300);
}

fn text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) => String::from_utf8_lossy(b).escape_debug().to_string(),
        Frame::Integer(n) => n.to_string(),
        Frame::Array(items) => {
            let mut parts: Vec<String> = items.iter().map(text).collect();
            parts.sort();
            parts.join(",")
        }
        other => format!("{other:?}"),
    }
}

/// Everything observable about the dataset, sorted: db, key, type,
/// encoding, absolute expiry, value.
fn snapshot(c: &mut Client) -> Vec<String> {
    let mut out = Vec::new();
    for db in ["0", "3"] {
        ok(c, &[b"SELECT", db.as_bytes()]);
        let Frame::Array(keys) = cmd(c, &[b"KEYS", b"*"]) else {
            panic!("KEYS")
        };
        for key in keys {
            let Frame::Bulk(key) = key else { panic!("key") };
            let k = key.as_slice();
            let ty = text(&cmd(c, &[b"TYPE", k]));
            let value = match ty.as_str() {
                "string" => cmd(c, &[b"GET", k]),
                "list" => {
                    let Frame::Array(items) = cmd(c, &[b"LRANGE", k, b"0", b"-1"]) else {
                        panic!("LRANGE")
                    };
                    // Order matters for lists: keep it by numbering.
                    Frame::Array(
                        items
                            .iter()
                            .enumerate()
                            .map(|(i, f)| Frame::Bulk(format!("{i:05}:{}", text(f)).into_bytes()))
                            .collect(),
                    )
                }
                "set" => cmd(c, &[b"SMEMBERS", k]),
                "hash" => cmd(c, &[b"HGETALL", k]),
                "zset" => cmd(c, &[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]),
                other => panic!("unexpected type {other}"),
            };
            out.push(format!(
                "{db} {} {ty} {} {} {}",
                String::from_utf8_lossy(k),
                text(&cmd(c, &[b"OBJECT", b"ENCODING", k])),
                text(&cmd(c, &[b"PEXPIRETIME", k])),
                text(&value)
            ));
        }
    }
    ok(c, &[b"SELECT", b"0"]);
    out.sort();
    out
}

#[test]
fn save_kill_restart_keeps_everything() {
    let dir = ScratchDir::new("persist-restart");
    let before = {
        let mut server = start_ours(&dir.0);
        let mut c = Client::connect(server.port).expect("connect");
        populate(&mut c);
        assert_eq!(cmd(&mut c, &[b"SAVE"]), Frame::Simple(b"OK".to_vec()));
        let info = text(&cmd(&mut c, &[b"INFO", b"persistence"]));
        assert!(info.contains("rdb_changes_since_last_save:0"), "{info}");
        assert!(info.contains("rdb_saves:1"), "{info}");
        let snap = snapshot(&mut c);
        // kill -9: nothing but the SAVE may have reached the disk.
        server.child.kill().expect("kill");
        let _ = server.child.wait();
        snap
    };
    assert!(dir.0.join("dump.rdb").exists());
    assert!(!dir
        .0
        .join(format!("temp-{}.rdb", std::process::id()))
        .exists());
    let server = start_ours(&dir.0);
    let mut c = Client::connect(server.port).expect("connect");
    assert_eq!(snapshot(&mut c), before);
    let log = read_log(&dir.0);
    assert!(
        log.contains("Loading RDB produced by version 7.0.15"),
        "{log}"
    );
    assert!(log.contains("DB loaded from disk"), "{log}");
}

#[test]
fn expired_keys_are_dropped_at_load() {
    let dir = ScratchDir::new("persist-expired");
    {
        let mut server = start_ours(&dir.0);
        let mut c = Client::connect(server.port).expect("connect");
        ok(&mut c, &[b"SET", b"short", b"v", b"PX", b"300"]);
        ok(&mut c, &[b"SET", b"keep", b"v"]);
        ok(&mut c, &[b"SAVE"]);
        server.child.kill().expect("kill");
        let _ = server.child.wait();
    }
    std::thread::sleep(Duration::from_millis(400));
    let server = start_ours(&dir.0);
    let mut c = Client::connect(server.port).expect("connect");
    assert_eq!(cmd(&mut c, &[b"DBSIZE"]), Frame::Integer(1));
    let info = text(&cmd(&mut c, &[b"INFO", b"persistence"]));
    assert!(info.contains("rdb_last_load_keys_expired:1"), "{info}");
    assert!(info.contains("rdb_last_load_keys_loaded:1"), "{info}");
}

#[test]
fn shutdown_save_writes_the_file() {
    let dir = ScratchDir::new("persist-shutdown");
    let mut server = start_ours(&dir.0);
    let mut c = Client::connect(server.port).expect("connect");
    ok(&mut c, &[b"SET", b"k", b"v"]);
    ok(&mut c, &[b"SELECT", b"1"]);
    ok(&mut c, &[b"HSET", b"h", b"a", b"b"]);
    ok(&mut c, &[b"SELECT", b"0"]);
    let before = snapshot(&mut c);
    let _ = c.send(&[b"SHUTDOWN".as_slice(), b"SAVE"]);
    let status = wait_exit(&mut server.child);
    assert!(status.success(), "{status}");
    assert!(dir.0.join("dump.rdb").exists(), "{}", read_log(&dir.0));
    let server = start_ours(&dir.0);
    let mut c = Client::connect(server.port).expect("connect");
    assert_eq!(snapshot(&mut c), before);
    // A plain SHUTDOWN (no save points) does not save.
    ok(&mut c, &[b"SET", b"later", b"x"]);
    let _ = c.send(&[b"SHUTDOWN".as_slice()]);
    drop(c);
    let mut server = server;
    wait_exit(&mut server.child);
    let server = start_ours(&dir.0);
    let mut c = Client::connect(server.port).expect("connect");
    assert_eq!(cmd(&mut c, &[b"EXISTS", b"later"]), Frame::Integer(0));
}

#[test]
fn shutdown_save_failure_is_reported_and_the_server_stays() {
    let dir = ScratchDir::new("persist-shutdown-fail");
    let server = start_ours(&dir.0);
    let mut c = Client::connect(server.port).expect("connect");
    // A directory where the snapshot should go makes the rename fail.
    std::fs::create_dir(dir.0.join("dump.rdb")).expect("mkdir");
    assert_eq!(cmd(&mut c, &[b"SAVE"]), Frame::Error(b"ERR".to_vec()));
    assert_eq!(
        cmd(&mut c, &[b"SHUTDOWN", b"SAVE"]),
        Frame::Error(b"ERR Errors trying to SHUTDOWN. Check logs.".to_vec())
    );
    assert_eq!(cmd(&mut c, &[b"PING"]), Frame::Simple(b"PONG".to_vec()));
}

/// Starts ours on `dir` expecting start-up to fail; returns the log.
fn failed_start(dir: &Path) -> String {
    let (mut child, _) = spawn_ours(dir, &[]);
    let status = wait_exit(&mut child);
    assert!(!status.success(), "start-up should fail: {}", read_log(dir));
    read_log(dir)
}

#[test]
fn corrupt_files_stop_start_up() {
    let dir = ScratchDir::new("persist-corrupt");
    {
        let mut server = start_ours(&dir.0);
        let mut c = Client::connect(server.port).expect("connect");
        populate(&mut c);
        ok(&mut c, &[b"SAVE"]);
        server.child.kill().expect("kill");
        let _ = server.child.wait();
    }
    let path = dir.0.join("dump.rdb");
    let good = std::fs::read(&path).expect("read dump");

    // One flipped byte in the middle: the CRC-64 catches it.
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    std::fs::write(&path, &flipped).expect("write");
    let log = failed_start(&dir.0);
    assert!(
        log.contains("Fatal error loading the DB (dump.rdb)"),
        "{log}"
    );

    // Truncated.
    std::fs::write(&path, &good[..good.len() - 20]).expect("write");
    let log = failed_start(&dir.0);
    assert!(
        log.matches("Fatal error loading the DB (dump.rdb)").count() >= 2,
        "{log}"
    );
    assert!(log.contains("unexpected end of input"), "{log}");

    // Not an RDB file at all.
    std::fs::write(&path, b"hello world").expect("write");
    let log = failed_start(&dir.0);
    assert!(log.contains("wrong signature"), "{log}");

    // The intact file still loads.
    std::fs::write(&path, &good).expect("write");
    let server = start_ours(&dir.0);
    let mut c = Client::connect(server.port).expect("connect");
    assert!(matches!(cmd(&mut c, &[b"DBSIZE"]), Frame::Integer(n) if n > 10));
}

#[test]
fn rdbchecksum_no_writes_and_accepts_a_zero_checksum() {
    let dir = ScratchDir::new("persist-nochecksum");
    let mut server = start_ours_with(&dir.0, &["--rdbchecksum", "no"]);
    let mut c = Client::connect(server.port).expect("connect");
    ok(&mut c, &[b"SET", b"k", b"v"]);
    ok(&mut c, &[b"SAVE"]);
    server.child.kill().expect("kill");
    let _ = server.child.wait();
    let file = std::fs::read(dir.0.join("dump.rdb")).expect("read");
    assert_eq!(&file[file.len() - 8..], &[0u8; 8]);
    let server = start_ours(&dir.0);
    let mut c = Client::connect(server.port).expect("connect");
    assert_eq!(cmd(&mut c, &[b"GET", b"k"]), Frame::Bulk(b"v".to_vec()));
}

#[test]
fn real_redis_dump_loads_at_our_start_up() {
    if !have_real_redis() {
        eprintln!("skipped: redis-server not installed");
        return;
    }
    let real = ServerProcess::start(Flavor::RealRedis, &[]);
    let mut rc = real.client();
    populate(&mut rc);
    ok(&mut rc, &[b"SAVE"]);
    let expected = snapshot(&mut rc);
    let dir = ScratchDir::new("persist-from-real");
    std::fs::copy(real.dir.0.join("dump.rdb"), dir.0.join("dump.rdb")).expect("copy");
    let server = start_ours(&dir.0);
    let mut c = Client::connect(server.port).expect("connect");
    assert_eq!(snapshot(&mut c), expected);
}

#[test]
fn our_save_loads_in_real_redis() {
    if !have_real_redis() {
        eprintln!("skipped: redis-server not installed");
        return;
    }
    let dir = ScratchDir::new("persist-to-real");
    let expected = {
        let mut server = start_ours(&dir.0);
        let mut c = Client::connect(server.port).expect("connect");
        populate(&mut c);
        ok(&mut c, &[b"SAVE"]);
        let snap = snapshot(&mut c);
        server.child.kill().expect("kill");
        let _ = server.child.wait();
        snap
    };
    // Real Redis started on our directory loads our dump.rdb.
    let port = free_port();
    let mut child = Command::new(support::redis_server_binary())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--sanitize-dump-payload", "yes"])
        .arg("--dir")
        .arg(&dir.0)
        .args(["--logfile", "real.log"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let started = Instant::now();
    let mut rc = loop {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "real redis did not start"
        );
        if let Ok(mut c) = Client::connect(port) {
            if matches!(c.cmd(&["PING"]), Ok(Frame::Simple(_))) {
                break c;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let got = snapshot(&mut rc);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(got, expected);
}

/// DUMP every type on real Redis → RESTORE into ours → DUMP from ours →
/// RESTORE into real Redis: both ends hold the same data.
#[test]
fn dump_restore_round_trip_with_real_redis() {
    if !have_real_redis() {
        eprintln!("skipped: redis-server not installed");
        return;
    }
    let real = ServerProcess::start(Flavor::RealRedis, &[]);
    let ours = ServerProcess::start(Flavor::Ours, &[]);
    let (mut rc, mut oc) = (real.client(), ours.client());
    populate(&mut rc);
    let expected = snapshot(&mut rc);
    for db in ["0", "3"] {
        ok(&mut rc, &[b"SELECT", db.as_bytes()]);
        ok(&mut oc, &[b"SELECT", db.as_bytes()]);
        let Frame::Array(keys) = cmd(&mut rc, &[b"KEYS", b"*"]) else {
            panic!("KEYS")
        };
        for key in keys {
            let Frame::Bulk(key) = key else { panic!("key") };
            let Frame::Bulk(payload) = cmd(&mut rc, &[b"DUMP", &key]) else {
                panic!("DUMP")
            };
            let Frame::Integer(at) = cmd(&mut rc, &[b"PEXPIRETIME", &key]) else {
                panic!("PEXPIRETIME")
            };
            let ttl = at.max(0).to_string();
            ok(
                &mut oc,
                &[b"RESTORE", &key, ttl.as_bytes(), &payload, b"ABSTTL"],
            );
            // And back: our payload replaces the original in real Redis.
            let Frame::Bulk(ours_payload) = cmd(&mut oc, &[b"DUMP", &key]) else {
                panic!("our DUMP")
            };
            ok(
                &mut rc,
                &[
                    b"RESTORE",
                    &key,
                    ttl.as_bytes(),
                    &ours_payload,
                    b"ABSTTL",
                    b"REPLACE",
                ],
            );
        }
    }
    ok(&mut rc, &[b"SELECT", b"0"]);
    ok(&mut oc, &[b"SELECT", b"0"]);
    assert_eq!(snapshot(&mut oc), expected);
    assert_eq!(snapshot(&mut rc), expected);
}

/// Under an LRU policy real Redis stores each key's idle time in the file;
/// loading keeps it (OBJECT IDLETIME).
#[test]
fn idle_times_survive_a_real_redis_snapshot() {
    if !have_real_redis() {
        eprintln!("skipped: redis-server not installed");
        return;
    }
    let real = ServerProcess::start(Flavor::RealRedis, &["--maxmemory-policy", "allkeys-lru"]);
    let mut rc = real.client();
    ok(&mut rc, &[b"SET", b"src", b"v"]);
    let Frame::Bulk(payload) = cmd(&mut rc, &[b"DUMP", b"src"]) else {
        panic!("DUMP")
    };
    ok(
        &mut rc,
        &[b"RESTORE", b"old", b"0", &payload, b"IDLETIME", b"5000"],
    );
    ok(&mut rc, &[b"SAVE"]);
    let dir = ScratchDir::new("persist-idle");
    std::fs::copy(real.dir.0.join("dump.rdb"), dir.0.join("dump.rdb")).expect("copy");
    let server = start_ours(&dir.0);
    let mut c = Client::connect(server.port).expect("connect");
    let Frame::Integer(idle) = cmd(&mut c, &[b"OBJECT", b"IDLETIME", b"old"]) else {
        panic!("OBJECT IDLETIME")
    };
    assert!((5000..5010).contains(&idle), "{idle}");
}

/// Under an LRU policy our SAVE records idle times too, and both servers
/// read them back.
#[test]
fn our_idle_times_are_saved_under_lru() {
    let dir = ScratchDir::new("persist-our-idle");
    {
        let mut server = start_ours_with(&dir.0, &["--maxmemory-policy", "allkeys-lru"]);
        let mut c = Client::connect(server.port).expect("connect");
        ok(&mut c, &[b"SET", b"src", b"v"]);
        let Frame::Bulk(payload) = cmd(&mut c, &[b"DUMP", b"src"]) else {
            panic!("DUMP")
        };
        ok(
            &mut c,
            &[b"RESTORE", b"old", b"0", &payload, b"IDLETIME", b"5000"],
        );
        ok(&mut c, &[b"SAVE"]);
        server.child.kill().expect("kill");
        let _ = server.child.wait();
    }
    let server = start_ours_with(&dir.0, &["--maxmemory-policy", "allkeys-lru"]);
    let mut c = Client::connect(server.port).expect("connect");
    let Frame::Integer(idle) = cmd(&mut c, &[b"OBJECT", b"IDLETIME", b"old"]) else {
        panic!("OBJECT IDLETIME")
    };
    assert!((5000..5010).contains(&idle), "{idle}");
}
