//! Command-level tests of the keys family, run through the executor on an
//! in-memory server state: propagation, cross-database moves and the active
//! expiry cycle.

use std::collections::VecDeque;

use crate::config::Config;
use crate::db::{CompactBytes, Value};
use crate::server::client::ClientState;
use crate::server::exec::Outcome;
use crate::server::state::ServerState;
use crate::server::test_support::{execute_words, StreamCapture};

struct Harness {
    state: ServerState,
    client: ClientState,
    stream: StreamCapture,
}

impl Harness {
    fn new() -> Self {
        let mut state = ServerState::new(Config::default());
        let stream = StreamCapture::attach(&mut state);
        Harness {
            state,
            client: ClientState::new(1, "test".into(), true),
            stream,
        }
    }

    /// Stores a string directly (the string commands are another module's).
    fn set(&mut self, key: &str, value: &str) {
        let db = self.client.db;
        self.state.dbs[db].set(
            key.as_bytes(),
            Value::Str(CompactBytes::new(value.as_bytes())),
        );
    }

    fn rpush(&mut self, key: &str, items: &[&str]) {
        let list: VecDeque<CompactBytes> = items
            .iter()
            .map(|i| CompactBytes::new(i.as_bytes()))
            .collect();
        let db = self.client.db;
        self.state.dbs[db].set(key.as_bytes(), Value::List(Box::new(list)));
    }

    /// Runs one command and returns its raw RESP2 reply.
    fn run(&mut self, line: &str) -> String {
        let words: Vec<&str> = line.split(' ').collect();
        match execute_words(&mut self.state, &mut self.client, &words) {
            (reply, Outcome::Done) => String::from_utf8_lossy(&reply).into_owned(),
            (_, Outcome::Blocked(..) | Outcome::Paused(_)) => panic!("unexpected block"),
        }
    }
}

#[test]
fn expire_propagates_as_pexpireat() {
    let mut h = Harness::new();
    h.set("k", "v");
    assert_eq!(h.run("EXPIRE k 100 NX"), ":1\r\n");
    let now = h.state.dbs[0].now_ms;
    let cmds = h.stream.commands();
    let last = cmds.last().cloned().unwrap_or_default();
    let parts: Vec<&str> = last.split(' ').collect();
    assert_eq!(parts[0], "PEXPIREAT");
    assert_eq!(parts[1], "k");
    let at: i64 = parts[2].parse().unwrap();
    assert!((now + 100_000 - at).abs() < 5, "{at} vs {now}");
    assert_eq!(parts[3], "NX");
    // A condition that fails changes nothing and propagates nothing.
    let before = h.stream.commands().len();
    assert_eq!(h.run("EXPIRE k 100 NX"), ":0\r\n");
    assert_eq!(h.stream.commands().len(), before);
}

#[test]
fn expire_in_the_past_deletes_and_propagates_del() {
    let mut h = Harness::new();
    h.set("k", "v");
    assert_eq!(h.run("EXPIRE k -1"), ":1\r\n");
    assert_eq!(h.run("EXISTS k"), ":0\r\n");
    assert_eq!(
        h.stream.commands().last().map(String::as_str),
        Some("DEL k")
    );
    h.set("k", "v");
    assert_eq!(h.run("PEXPIREAT k 1"), ":1\r\n");
    assert_eq!(
        h.stream.commands().last().map(String::as_str),
        Some("DEL k")
    );
}

#[test]
fn pexpireat_propagates_verbatim() {
    let mut h = Harness::new();
    h.set("k", "v");
    assert_eq!(h.run("pexpireat k 99999999999999 gt"), ":0\r\n");
    assert_eq!(h.run("pexpireat k 99999999999999"), ":1\r\n");
    assert_eq!(
        h.stream.commands().last().map(String::as_str),
        Some("pexpireat k 99999999999999")
    );
    assert_eq!(h.run("PEXPIRETIME k"), ":99999999999999\r\n");
    assert_eq!(h.run("EXPIRETIME k"), ":100000000000\r\n");
}

#[test]
fn replica_keeps_past_expiry_until_master_del() {
    let mut h = Harness::new();
    h.state.config.set("replicaof", "127.0.0.1 1").ok();
    if !h.state.is_replica() {
        return; // replicaof not configurable here; nothing to check
    }
    h.state.dbs[0].delete_expired = false;
    h.set("k", "v");
    assert_eq!(h.run("EXPIRE k -10"), ":1\r\n");
    // Logically gone, physically kept until the master's DEL.
    assert_eq!(h.run("EXISTS k"), ":0\r\n");
    assert_eq!(h.state.dbs[0].len(), 1);
}

#[test]
fn move_and_copy_across_databases() {
    let mut h = Harness::new();
    h.set("k", "v");
    h.run("PEXPIRE k 100000");
    assert_eq!(h.run("MOVE k 3"), ":1\r\n");
    assert_eq!(h.run("EXISTS k"), ":0\r\n");
    assert!(h.state.dbs[3].peek(b"k").is_some_and(|e| e.expire_at > 0));
    h.run("SELECT 3");
    assert_eq!(h.run("COPY k k2 DB 0"), ":1\r\n");
    assert_eq!(h.run("COPY k k2 DB 0"), ":0\r\n");
    assert_eq!(h.run("COPY k k2 DB 0 REPLACE"), ":1\r\n");
    assert!(h.state.dbs[0].peek(b"k2").is_some_and(|e| e.expire_at > 0));
    assert_eq!(
        h.run("MOVE k 3"),
        "-ERR source and destination objects are the same\r\n"
    );
}

#[test]
fn rename_keeps_ttl_and_signals() {
    let mut h = Harness::new();
    h.set("a", "1");
    h.run("PEXPIRE a 50000");
    h.set("b", "2");
    assert_eq!(h.run("RENAME a b"), "+OK\r\n");
    assert!(h.state.dbs[0].peek(b"b").is_some_and(|e| e.expire_at > 0));
    assert_eq!(h.run("RENAMENX b b"), ":0\r\n");
    assert_eq!(h.run("RENAME a b"), "-ERR no such key\r\n");
}

#[test]
fn sort_store_replaces_destination() {
    let mut h = Harness::new();
    h.rpush("l", &["3", "1", "2"]);
    h.set("dst", "x");
    h.run("PEXPIRE dst 100000");
    assert_eq!(h.run("SORT l STORE dst"), ":3\r\n");
    assert_eq!(h.state.dbs[0].peek(b"dst").map(|e| e.expire_at), Some(0));
    assert_eq!(h.run("SORT missing STORE dst"), ":0\r\n");
    assert_eq!(h.run("EXISTS dst"), ":0\r\n");
}

#[test]
fn active_expiry_deletes_keys_nobody_reads() {
    let mut h = Harness::new();
    for i in 0..50 {
        h.set(&format!("k{i}"), "v");
        h.run(&format!("PEXPIRE k{i} 1"));
    }
    h.set("keep", "v");
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(
        h.state.dbs[0].len(),
        51,
        "nothing is deleted before the cycle"
    );
    crate::server::cron::active_expire_cycle(&mut h.state, 10);
    // One cycle keeps going while over 10% of a sample is expired, so it
    // clears them all here (every volatile key is expired).
    assert_eq!(h.state.dbs[0].len(), 1);
    assert_eq!(h.state.dbs[0].volatile_len(), 0);
    assert_eq!(h.state.dbs[0].stats.expired_keys, 50);
    let dels = h
        .stream
        .commands()
        .iter()
        .filter(|c| c.starts_with("DEL k"))
        .count();
    assert_eq!(dels, 50);
}

#[test]
fn scan_cursor_follows_strtoul() {
    use crate::commands::args::scan_cursor;
    assert_eq!(scan_cursor(b"0"), Ok(0));
    assert_eq!(scan_cursor(b""), Ok(0));
    assert_eq!(scan_cursor(b"+5"), Ok(5));
    assert_eq!(scan_cursor(b"007"), Ok(7));
    assert_eq!(scan_cursor(b"-1"), Ok(u64::MAX));
    assert_eq!(scan_cursor(b"18446744073709551615"), Ok(u64::MAX));
    assert_eq!(scan_cursor(b"-18446744073709551615"), Ok(1));
    assert_eq!(scan_cursor(b"3\0junk"), Ok(3));
    for bad in [
        &b"18446744073709551616"[..],
        b" 1",
        b"1 ",
        b"-",
        b"+",
        b"0x1",
        b"abc",
        b"- 1",
    ] {
        assert!(
            scan_cursor(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}
