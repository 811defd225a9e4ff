//! What string commands send to replicas and the AOF, checked through the
//! executor on an in-memory server. The expected streams were taken from a
//! real Redis 7.0.15's AOF for the same commands.

use crate::config::Config;
use crate::db::Value;
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

    /// Runs one command given as separate arguments; returns the RESP2 reply.
    fn run_args(&mut self, args: &[&str]) -> String {
        match execute_words(&mut self.state, &mut self.client, args) {
            (reply, Outcome::Done) => String::from_utf8_lossy(&reply).into_owned(),
            (_, Outcome::Blocked(..) | Outcome::Paused(_)) => "blocked".into(),
        }
    }

    fn run(&mut self, line: &str) -> String {
        let args: Vec<&str> = line.split(' ').collect();
        self.run_args(&args)
    }

    /// Runs a command and returns what it propagated.
    fn propagated(&mut self, line: &str) -> Vec<String> {
        let before = self.stream.commands_without_select().len();
        self.run(line);
        self.stream.commands_without_select().split_off(before)
    }

    fn now(&self) -> i64 {
        self.state.dbs[0].now_ms
    }

    fn add_set(&mut self, key: &str) {
        self.state.dbs[0].set(key.as_bytes(), Value::new_set());
    }
}

/// Splits "SET k v PXAT 123" into the prefix and the trailing number.
fn split_time(cmd: &str) -> (String, i64) {
    let (head, tail) = cmd.rsplit_once(' ').unwrap_or((cmd, ""));
    (head.to_string(), tail.parse().unwrap_or(-1))
}

fn assert_near(at: i64, expected: i64) {
    assert!(
        (at - expected).abs() < 1000,
        "{at} is not close to {expected}"
    );
}

#[test]
fn set_with_relative_expire_becomes_pxat() {
    let mut h = Harness::new();
    let p = h.propagated("SET a 1 EX 100");
    assert_eq!(p.len(), 1);
    let (head, at) = split_time(&p[0]);
    assert_eq!(head, "SET a 1 PXAT");
    assert_near(at, h.now() + 100_000);

    let p = h.propagated("SET a 1 PX 100000 GET");
    let (head, at) = split_time(&p[0]);
    assert_eq!(head, "SET a 1 PXAT");
    assert_near(at, h.now() + 100_000);

    assert_eq!(
        h.propagated("SET a2 v EXAT 9999999999 NX"),
        ["SET a2 v PXAT 9999999999000"]
    );
    assert_eq!(h.propagated("SET a3 v PXAT 1"), ["SET a3 v PXAT 1"]);
    // A SET that NX / XX stops propagates nothing.
    assert!(h.propagated("SET a2 w NX").is_empty());
    assert!(h.propagated("SET nokey w XX EX 10").is_empty());
}

#[test]
fn set_get_is_propagated_without_get() {
    let mut h = Harness::new();
    assert_eq!(h.propagated("set a3 v get"), ["set a3 v"]);
    assert_eq!(
        h.propagated("set a3 v2 get GET keepttl"),
        ["set a3 v2 keepttl"]
    );
    assert_eq!(h.propagated("SET a3 v3 XX"), ["SET a3 v3 XX"]);
    // A WRONGTYPE from GET changes nothing.
    h.add_set("s");
    assert!(h.propagated("SET s v GET").is_empty());
}

#[test]
fn setex_psetex_and_getset() {
    let mut h = Harness::new();
    let p = h.propagated("SETEX b 100 v");
    let (head, at) = split_time(&p[0]);
    assert_eq!(head, "SET b v PXAT");
    assert_near(at, h.now() + 100_000);
    let p = h.propagated("PSETEX b 5000 v");
    let (head, at) = split_time(&p[0]);
    assert_eq!(head, "SET b v PXAT");
    assert_near(at, h.now() + 5000);
    assert_eq!(h.propagated("SETNX b x"), Vec::<String>::new());
    assert_eq!(h.propagated("SETNX c x"), ["SETNX c x"]);
    assert_eq!(h.propagated("getset b x"), ["SET b x"]);
    assert!(h.propagated("SETEX b 0 v").is_empty());
}

#[test]
fn getdel_becomes_del() {
    let mut h = Harness::new();
    h.run("SET b v");
    assert_eq!(h.propagated("GETDEL b"), ["DEL b"]);
    assert!(h.propagated("GETDEL b").is_empty());
}

#[test]
fn getex_becomes_pexpireat_persist_or_del() {
    let mut h = Harness::new();
    h.run("SET c 1");
    assert!(h.propagated("GETEX c").is_empty());
    let p = h.propagated("GETEX c EX 100");
    let (head, at) = split_time(&p[0]);
    assert_eq!(head, "PEXPIREAT c");
    assert_near(at, h.now() + 100_000);
    assert_eq!(
        h.propagated("GETEX c PXAT 4102444800123"),
        ["PEXPIREAT c 4102444800123"]
    );
    assert_eq!(h.propagated("GETEX c PERSIST"), ["PERSIST c"]);
    assert!(h.propagated("GETEX c PERSIST").is_empty());
    assert_eq!(h.propagated("GETEX c EXAT 1"), ["DEL c"]);
    assert_eq!(h.run("GET c"), "$-1\r\n");
    assert!(h.propagated("GETEX c EX 10").is_empty());
}

#[test]
fn incrbyfloat_becomes_set_keepttl() {
    let mut h = Harness::new();
    h.run("SET d 1.5");
    assert_eq!(h.propagated("INCRBYFLOAT d 1"), ["SET d 2.5 KEEPTTL"]);
    assert_eq!(h.propagated("INCRBYFLOAT n 0"), ["SET n 0 KEEPTTL"]);
    assert!(h.propagated("INCRBYFLOAT d abc").is_empty());
    assert_eq!(h.propagated("INCRBY i 0"), ["INCRBY i 0"]);
}

#[test]
fn bit_commands_propagate_only_changes() {
    let mut h = Harness::new();
    assert_eq!(h.propagated("SETBIT e 1 1"), ["SETBIT e 1 1"]);
    assert!(h.propagated("SETBIT e 1 1").is_empty());
    // Growing the string is a change even when the bit was already 0.
    assert_eq!(h.propagated("SETBIT e 20 0"), ["SETBIT e 20 0"]);
    assert!(h.propagated("SETBIT e 3 0").is_empty());
    assert_eq!(h.propagated("SETBIT new 0 0"), ["SETBIT new 0 0"]);

    assert!(h.propagated("BITOP AND dest nokey").is_empty());
    h.run("SET dest x");
    assert_eq!(
        h.propagated("BITOP AND dest nokey"),
        ["BITOP AND dest nokey"]
    );

    assert_eq!(
        h.propagated("BITFIELD bf SET u8 0 1"),
        ["BITFIELD bf SET u8 0 1"]
    );
    assert!(h.propagated("BITFIELD bf SET u8 0 1").is_empty());
    assert!(h.propagated("BITFIELD bf GET u8 0").is_empty());
    assert_eq!(
        h.propagated("BITFIELD nk SET u8 0 0"),
        ["BITFIELD nk SET u8 0 0"]
    );
    // FAIL on a new key creates it but, as in Redis, propagates nothing.
    assert!(h
        .propagated("BITFIELD bf2 OVERFLOW FAIL INCRBY u2 0 100")
        .is_empty());
    assert_eq!(h.run("GET bf2"), "$1\r\n\0\r\n");
}

#[test]
fn setrange_and_append() {
    let mut h = Harness::new();
    h.run("SET sr abc");
    let before = h.stream.commands_without_select().len();
    h.run_args(&["SETRANGE", "sr", "1", ""]);
    h.run_args(&["SETRANGE", "none", "1", ""]);
    assert_eq!(h.stream.commands_without_select().len(), before);
    assert_eq!(h.propagated("SETRANGE sr 1 b"), ["SETRANGE sr 1 b"]);
    h.run_args(&["APPEND", "sr", ""]);
    assert_eq!(
        h.stream
            .commands_without_select()
            .last()
            .map(String::as_str),
        Some("APPEND sr ")
    );
}

#[test]
fn msetnx_propagates_only_when_it_sets() {
    let mut h = Harness::new();
    assert_eq!(h.propagated("MSETNX x 1 y 2"), ["MSETNX x 1 y 2"]);
    assert!(h.propagated("MSETNX x 1 z 2").is_empty());
    assert_eq!(h.propagated("MSET x 1 z 2"), ["MSET x 1 z 2"]);
}

#[test]
fn edited_strings_report_raw_encoding() {
    let mut h = Harness::new();
    h.run("SET n 1");
    h.run("APPEND n 2");
    let raw = |h: &Harness, k: &str| h.state.dbs[0].peek(k.as_bytes()).map(|e| e.raw);
    assert_eq!(raw(&h, "n"), Some(true));
    h.run("INCR n");
    assert_eq!(raw(&h, "n"), Some(false));
    h.run("SETRANGE r 0 12");
    assert_eq!(raw(&h, "r"), Some(true));
    h.run("APPEND fresh 12");
    assert_eq!(raw(&h, "fresh"), Some(false));
}
