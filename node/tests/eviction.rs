//! maxmemory eviction against a running redis-ha-node: the OOM error under
//! noeviction, and which keys each policy evicts. Limits are set a little
//! above the memory the server reports using, so the tests do not depend
//! on the exact per-key overhead.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use redis_ha_node::resp::Frame;
use support::{Client, Flavor, ServerProcess};

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

fn cmd(c: &mut Client, args: &[&str]) -> Frame {
    c.cmd(args).expect("command reply")
}

fn info_fields(c: &mut Client, section: &str) -> HashMap<String, String> {
    let Frame::Bulk(b) = cmd(c, &["INFO", section]) else {
        panic!("INFO reply");
    };
    String::from_utf8_lossy(&b)
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn info_u64(c: &mut Client, section: &str, field: &str) -> u64 {
    info_fields(c, section)[field]
        .parse()
        .expect("numeric field")
}

fn evicted(c: &mut Client) -> u64 {
    info_u64(c, "stats", "evicted_keys")
}

/// Sets maxmemory `margin` bytes above what the server uses now.
fn limit_above_current(c: &mut Client, margin: u64) {
    let used = info_u64(c, "memory", "used_memory");
    let limit = (used + margin).to_string();
    assert_eq!(cmd(c, &["CONFIG", "SET", "maxmemory", &limit]), ok());
}

fn ok() -> Frame {
    Frame::Simple(b"OK".to_vec())
}

fn is_oom(f: &Frame) -> bool {
    matches!(f, Frame::Error(e) if e.as_slice() == OOM.as_bytes())
}

fn exists(c: &mut Client, key: &str) -> bool {
    cmd(c, &["EXISTS", key]) == Frame::Integer(1)
}

fn value(n: usize) -> String {
    "x".repeat(n)
}

fn start(policy: &str) -> (ServerProcess, Client) {
    let s = ServerProcess::start(Flavor::Ours, &["--maxmemory-policy", policy]);
    let c = s.client();
    (s, c)
}

#[test]
fn noeviction_denies_writes_but_serves_reads_and_deletes() {
    let (_s, mut c) = start("noeviction");
    cmd(&mut c, &["SET", "small", "v"]);
    limit_above_current(&mut c, 300_000);
    let memory = info_fields(&mut c, "memory");
    assert_eq!(memory["maxmemory_policy"], "noeviction");
    assert_ne!(memory["maxmemory"], "0");
    let big = value(10_000);
    let mut denied = None;
    for i in 0..2000 {
        let r = cmd(&mut c, &["SET", &format!("fill:{i}"), &big]);
        if r != ok() {
            denied = Some(r);
            break;
        }
    }
    let denied = denied.expect("writes are denied once full");
    assert!(is_oom(&denied), "{denied:?}");
    assert_eq!(cmd(&mut c, &["GET", "small"]), Frame::Bulk(b"v".to_vec()));
    assert_eq!(cmd(&mut c, &["DEL", "small"]), Frame::Integer(1));
    assert!(is_oom(&cmd(&mut c, &["SET", "again", &big])));
    // Inside MULTI the command is refused when queued and EXEC aborts.
    assert_eq!(cmd(&mut c, &["MULTI"]), ok());
    assert!(is_oom(&cmd(&mut c, &["SET", "t", "1"])));
    let Frame::Error(e) = cmd(&mut c, &["EXEC"]) else {
        panic!("EXEC should fail");
    };
    assert!(e.starts_with(b"EXECABORT"));
    assert_eq!(evicted(&mut c), 0);
    // Raising the limit lets writes through again.
    assert_eq!(cmd(&mut c, &["CONFIG", "SET", "maxmemory", "0"]), ok());
    assert_eq!(cmd(&mut c, &["SET", "again", &big]), ok());
}

#[test]
fn allkeys_lru_keeps_recently_used_keys() {
    let (_s, mut c) = start("allkeys-lru");
    let big = value(10_000);
    for i in 0..300 {
        cmd(&mut c, &["SET", &format!("old:{i}"), &big]);
    }
    for i in 0..50 {
        cmd(&mut c, &["SET", &format!("hot:{i}"), &big]);
    }
    // Idle times have one-second resolution: let the old keys age.
    std::thread::sleep(Duration::from_millis(2200));
    for i in 0..50 {
        cmd(&mut c, &["GET", &format!("hot:{i}")]);
    }
    limit_above_current(&mut c, 500_000);
    for i in 0..200 {
        assert_eq!(cmd(&mut c, &["SET", &format!("new:{i}"), &big]), ok());
    }
    assert!(evicted(&mut c) > 50);
    let hot_alive = (0..50)
        .filter(|i| exists(&mut c, &format!("hot:{i}")))
        .count();
    assert!(hot_alive >= 45, "only {hot_alive} of 50 hot keys survived");
}

#[test]
fn volatile_lru_evicts_only_keys_with_ttl_then_denies() {
    let (_s, mut c) = start("volatile-lru");
    let big = value(10_000);
    for i in 0..100 {
        cmd(&mut c, &["SET", &format!("keep:{i}"), &big]);
    }
    for i in 0..20 {
        cmd(&mut c, &["SET", &format!("ttl:{i}"), &big, "EX", "1000"]);
    }
    limit_above_current(&mut c, 300_000);
    let mut denied = None;
    for i in 0..2000 {
        let r = cmd(&mut c, &["SET", &format!("fill:{i}"), &big]);
        if r != ok() {
            denied = Some(r);
            break;
        }
    }
    assert!(is_oom(&denied.expect("denied once no key has a TTL")));
    assert_eq!(evicted(&mut c), 20);
    assert!((0..20).all(|i| !exists(&mut c, &format!("ttl:{i}"))));
    assert!((0..100).all(|i| exists(&mut c, &format!("keep:{i}"))));
}

#[test]
fn volatile_ttl_evicts_the_soonest_expiring_keys_first() {
    let (_s, mut c) = start("volatile-ttl");
    cmd(&mut c, &["CONFIG", "SET", "maxmemory-samples", "10"]);
    let big = value(10_000);
    for i in 0..100 {
        let ttl = (1000 + i * 10).to_string();
        cmd(&mut c, &["SET", &format!("v:{i}"), &big, "EX", &ttl]);
    }
    limit_above_current(&mut c, 200_000);
    let small = value(1000);
    for i in 0..5000 {
        assert_eq!(cmd(&mut c, &["SET", &format!("fill:{i}"), &small]), ok());
        if i % 50 == 0 && evicted(&mut c) >= 20 {
            break;
        }
    }
    let gone: Vec<usize> = (0..100)
        .filter(|i| !exists(&mut c, &format!("v:{i}")))
        .collect();
    assert!(gone.len() >= 20, "evicted {gone:?}");
    let mean = gone.iter().sum::<usize>() / gone.len();
    assert!(mean < 35, "evicted {gone:?}");
    assert!(gone.iter().all(|&i| i < 80), "evicted {gone:?}");
}

#[test]
fn allkeys_lfu_keeps_frequently_used_keys() {
    let (_s, mut c) = start("allkeys-lfu");
    let big = value(10_000);
    for i in 0..300 {
        cmd(&mut c, &["SET", &format!("cold:{i}"), &big]);
    }
    for i in 0..50 {
        let key = format!("hot:{i}");
        cmd(&mut c, &["SET", &key, &big]);
        for _ in 0..100 {
            cmd(&mut c, &["GET", &key]);
        }
    }
    let Frame::Integer(freq) = cmd(&mut c, &["OBJECT", "FREQ", "hot:0"]) else {
        panic!("OBJECT FREQ");
    };
    assert!(freq > 5, "hot key counter {freq}");
    limit_above_current(&mut c, 500_000);
    for i in 0..200 {
        assert_eq!(cmd(&mut c, &["SET", &format!("new:{i}"), &big]), ok());
    }
    assert!(evicted(&mut c) > 50);
    let hot_alive = (0..50)
        .filter(|i| exists(&mut c, &format!("hot:{i}")))
        .count();
    assert!(hot_alive >= 45, "only {hot_alive} of 50 hot keys survived");
}

#[test]
fn lowering_maxmemory_evicts_random_keys_at_once() {
    let (_s, mut c) = start("allkeys-random");
    let big = value(10_000);
    for i in 0..200 {
        cmd(&mut c, &["SET", &format!("k:{i}"), &big]);
    }
    let used = info_u64(&mut c, "memory", "used_memory");
    let limit = (used - 1_000_000).to_string();
    assert_eq!(cmd(&mut c, &["CONFIG", "SET", "maxmemory", &limit]), ok());
    let Frame::Integer(left) = cmd(&mut c, &["DBSIZE"]) else {
        panic!("DBSIZE");
    };
    assert!(left < 150, "{left} keys left");
    assert_eq!(evicted(&mut c), 200 - left as u64);
    assert!(info_u64(&mut c, "memory", "used_memory") <= used - 1_000_000);
}
