//! Helpers shared by the replication suites: servers of both flavours in
//! kept directories, INFO parsing, polling, and a type-aware dump of a whole
//! dataset to compare master and replica key by key.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_ha_node::resp::Frame;

use crate::support::{free_port, our_binary, redis_server_binary, Client};

/// Generous deadline for anything asynchronous (loaded 2-core machine).
pub const LIMIT: Duration = Duration::from_secs(30);

/// A server of either flavour in a directory the test owns (restarts find
/// their dump); killed when dropped.
pub struct Node {
    pub child: Child,
    pub port: u16,
    pub ours: bool,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    pub fn start(ours: bool, dir: &Path, port: u16, args: &[&str]) -> Node {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("log file");
        let bin = if ours {
            our_binary()
        } else {
            redis_server_binary()
        };
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .args(["--save", ""])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start server");
        let mut node = Node { child, port, ours };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("server exited with {status}: {}", read_log(dir));
            }
            if let Ok(mut c) = Client::connect(port) {
                if matches!(c.cmd(&["PING"]), Ok(Frame::Simple(_)) | Ok(Frame::Error(_))) {
                    return node;
                }
            }
            assert!(
                started.elapsed() < LIMIT,
                "server did not start: {}",
                read_log(dir)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A master on a free port that starts a full sync at once (no
    /// diskless delay).
    pub fn master(ours: bool, dir: &Path) -> Node {
        Node::start(ours, dir, free_port(), &["--repl-diskless-sync-delay", "0"])
    }

    /// A replica of 127.0.0.1:`master`, listening on `port`.
    pub fn replica_of(ours: bool, dir: &Path, port: u16, master: u16) -> Node {
        let master = master.to_string();
        Node::start(ours, dir, port, &["--replicaof", "127.0.0.1", &master])
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port).expect("connect")
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

pub fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// Polls `f` until it holds; panics with `what` after LIMIT.
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The text of a reply (bulk, simple, verbatim).
pub fn text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) | Frame::Error(b) | Frame::Verbatim(_, b) => {
            String::from_utf8_lossy(b).into_owned()
        }
        Frame::Integer(n) => n.to_string(),
        Frame::Null | Frame::NullArray => "(nil)".into(),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            let parts: Vec<String> = items.iter().map(text).collect();
            format!("[{}]", parts.join(","))
        }
        Frame::Double(d) | Frame::BigNumber(d) => String::from_utf8_lossy(d).into_owned(),
        Frame::Boolean(b) => b.to_string(),
        Frame::Map(pairs) => {
            let parts: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", text(k), text(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
    }
}

/// One INFO field, by name.
pub fn info_field(port: u16, section: &str, field: &str) -> Option<String> {
    let mut c = Client::connect(port).ok()?;
    let info = text(&c.cmd(&["INFO", section]).ok()?);
    info.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_string())
    })
}

/// The INFO replication section as (field, value) pairs in order.
pub fn info_pairs(port: u16) -> Vec<(String, String)> {
    let mut c = Client::connect(port).expect("connect");
    let info = text(&c.cmd(&["INFO", "replication"]).expect("info"));
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

pub fn link_up(port: u16) -> bool {
    info_field(port, "replication", "master_link_status").as_deref() == Some("up")
}

pub fn offset(port: u16) -> u64 {
    info_field(port, "replication", "master_repl_offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Waits until the replica is linked and has applied everything the master
/// produced so far.
pub fn wait_caught_up(master: u16, replica: u16) {
    wait_for("replica to catch up", || {
        link_up(replica) && {
            let m = offset(master);
            let r = info_field(replica, "replication", "slave_repl_offset")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            m == r
        }
    });
}

/// Writes a mix of every type into databases 0 and 3, with TTLs.
pub fn fill(c: &mut Client, prefix: &str, n: usize) {
    for i in 0..n {
        let k = format!("{prefix}:{i}");
        c.cmd(&["SET", &format!("{k}:s"), &format!("v{i}")])
            .unwrap();
        c.cmd(&["RPUSH", &format!("{k}:l"), "a", "b", &i.to_string()])
            .unwrap();
        c.cmd(&["HSET", &format!("{k}:h"), "f", &i.to_string(), "g", "x"])
            .unwrap();
        c.cmd(&["SADD", &format!("{k}:set"), "1", "2", &format!("m{i}")])
            .unwrap();
        c.cmd(&["ZADD", &format!("{k}:z"), &i.to_string(), "m", "1.5", "n"])
            .unwrap();
        if i % 3 == 0 {
            c.cmd(&["PEXPIRE", &format!("{k}:s"), "600000"]).unwrap();
        }
    }
    c.cmd(&["SELECT", "3"]).unwrap();
    for i in 0..n {
        c.cmd(&["SET", &format!("{prefix}:db3:{i}"), &i.to_string()])
            .unwrap();
    }
    c.cmd(&["INCRBY", &format!("{prefix}:db3:counter"), "7"])
        .unwrap();
    c.cmd(&["SELECT", "0"]).unwrap();
}

/// The whole dataset read through commands (type, value, has TTL), keyed
/// by "db/key": comparable between our server and real Redis.
pub fn dataset(port: u16) -> BTreeMap<String, String> {
    let mut c = Client::connect(port).expect("connect");
    let mut out = BTreeMap::new();
    for db in 0..16 {
        c.cmd(&["SELECT", &db.to_string()]).unwrap();
        let mut cursor = "0".to_string();
        loop {
            let r = c.cmd(&["SCAN", &cursor, "COUNT", "1000"]).unwrap();
            let Frame::Array(parts) = r else {
                panic!("SCAN reply {r:?}")
            };
            cursor = text(&parts[0]);
            let Frame::Array(keys) = &parts[1] else {
                panic!("SCAN keys")
            };
            for k in keys {
                let key = text(k);
                let kind = text(&c.cmd(&["TYPE", &key]).unwrap());
                let value = match kind.as_str() {
                    "string" => text(&c.cmd(&["GET", &key]).unwrap()),
                    "list" => text(&c.cmd(&["LRANGE", &key, "0", "-1"]).unwrap()),
                    "hash" => sorted(c.cmd(&["HGETALL", &key]).unwrap()),
                    "set" => sorted(c.cmd(&["SMEMBERS", &key]).unwrap()),
                    "zset" => text(&c.cmd(&["ZRANGE", &key, "0", "-1", "WITHSCORES"]).unwrap()),
                    other => other.to_string(),
                };
                let ttl = text(&c.cmd(&["PTTL", &key]).unwrap()) != "-1";
                out.insert(format!("{db}/{key}"), format!("{kind}:{value}:ttl={ttl}"));
            }
            if cursor == "0" {
                break;
            }
        }
    }
    out
}

fn sorted(f: Frame) -> String {
    let Frame::Array(items) = f else {
        return text(&f);
    };
    let mut v: Vec<String> = items.iter().map(text).collect();
    v.sort();
    v.join(",")
}

/// Asserts both servers hold the same data, key by key.
pub fn assert_same_data(master: u16, replica: u16) {
    let a = dataset(master);
    let b = dataset(replica);
    assert!(!a.is_empty(), "master has no data");
    for (k, v) in &a {
        assert_eq!(b.get(k), Some(v), "key {k} differs on the replica");
    }
    assert_eq!(a.len(), b.len(), "replica has extra keys");
}

/// A quick argv-style command on a port.
pub fn cmd(port: u16, args: &[&str]) -> Frame {
    Client::connect(port)
        .expect("connect")
        .cmd(args)
        .expect("reply")
}
