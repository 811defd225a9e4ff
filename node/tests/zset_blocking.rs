//! Blocking sorted set pops (BZPOPMIN, BZPOPMAX, BZMPOP) served after the
//! client blocked: the same multi-client script runs against a real
//! redis-server 7 and against redis-ha-node, in RESP2 and RESP3, and every
//! reply (or the absence of one) must match. The case-file harness cannot
//! do this, since it waits for each reply before sending the next command.

mod support;

use std::time::Duration;

use redis_ha_node::resp::Frame;
use support::{have_real_redis, Flavor, ServerProcess};

/// One step of a script, run by connection `.0`.
enum Step {
    /// Send and wait for the reply.
    Cmd(usize, &'static str),
    /// Send without reading (the command blocks).
    Send(usize, &'static str),
    /// Read the reply of an earlier Send.
    Read(usize),
    /// Check that no reply arrives within this many milliseconds.
    Quiet(usize, u64),
}

use Step::*;

fn words(line: &str) -> Vec<Vec<u8>> {
    support::split_line(line).expect("balanced quotes")
}

/// Runs a script; returns what each step observed, as text.
fn run(flavor: Flavor, resp3: bool, script: &[Step]) -> Vec<String> {
    let server = ServerProcess::start(flavor, &[]);
    let mut clients = Vec::new();
    let mut seen = Vec::new();
    for step in script {
        let who = match step {
            Cmd(c, _) | Send(c, _) | Read(c) | Quiet(c, _) => *c,
        };
        while clients.len() <= who {
            let mut c = server.client();
            if resp3 {
                c.cmd(&["HELLO", "3"]).expect("HELLO 3");
            }
            clients.push(c);
        }
        let client = &mut clients[who];
        match step {
            Cmd(_, line) => {
                let reply = client.cmd(&words(line)).expect("reply");
                seen.push(format!("{line} -> {reply:?}"));
            }
            Send(_, line) => client.send(&words(line)).expect("send"),
            Read(_) => {
                let reply: Frame = client
                    .read_timeout(Duration::from_secs(5))
                    .expect("read")
                    .expect("a reply within 5s");
                seen.push(format!("read {who} -> {reply:?}"));
            }
            Quiet(_, ms) => {
                let reply = client
                    .read_timeout(Duration::from_millis(*ms))
                    .expect("read");
                seen.push(format!("quiet {who} -> {reply:?}"));
            }
        }
    }
    seen
}

fn check(script: &[Step]) {
    if !have_real_redis() {
        eprintln!("redis-server not installed: skipping");
        return;
    }
    for resp3 in [false, true] {
        let theirs = run(Flavor::RealRedis, resp3, script);
        let ours = run(Flavor::Ours, resp3, script);
        assert_eq!(theirs, ours, "RESP{}", if resp3 { 3 } else { 2 });
    }
}

#[test]
fn bzpopmin_is_served_by_a_later_zadd() {
    check(&[
        Send(1, "BZPOPMIN a b 0"),
        Quiet(1, 100),
        Cmd(0, "ZADD b 2 y 1 x"),
        Read(1),
        Cmd(0, "ZRANGE b 0 -1 WITHSCORES"),
        Send(1, "BZPOPMAX a c 0"),
        Quiet(1, 50),
        Cmd(0, "ZADD a 5 p 7 q"),
        Read(1),
        Cmd(0, "ZRANGE a 0 -1 WITHSCORES"),
    ]);
}

#[test]
fn blocked_pops_time_out_with_a_null() {
    check(&[
        Send(1, "BZPOPMIN nothing 0.1"),
        Read(1),
        Send(1, "BZPOPMAX nothing other 0.1"),
        Read(1),
        Send(1, "BZMPOP 0.1 2 nothing other MIN COUNT 3"),
        Read(1),
        Cmd(1, "ZADD nothing 1 a"),
        Cmd(1, "BZPOPMIN nothing 0.1"),
    ]);
}

#[test]
fn bzmpop_is_served_with_its_count() {
    check(&[
        Send(1, "BZMPOP 0 2 a b MIN COUNT 2"),
        Quiet(1, 50),
        Cmd(0, "ZADD b 3 z 1 x 2 y"),
        Read(1),
        Cmd(0, "ZRANGE b 0 -1 WITHSCORES"),
        Send(1, "BZMPOP 0 1 b MAX COUNT 10"),
        Read(1),
        Cmd(0, "ZCARD b"),
        Send(1, "BZMPOP 0 1 c MAX"),
        Quiet(1, 50),
        Cmd(0, "ZADD c 1 m 2 n"),
        Read(1),
    ]);
}

#[test]
fn waiting_clients_are_served_in_order() {
    check(&[
        Send(1, "BZPOPMIN k 0"),
        Quiet(1, 50),
        Send(2, "BZPOPMIN k 0"),
        Quiet(2, 50),
        Send(3, "BZPOPMAX k 0"),
        Quiet(3, 50),
        Cmd(0, "ZADD k 1 a 2 b"),
        Read(1),
        Read(2),
        Quiet(3, 100),
        Cmd(0, "ZADD k 3 c"),
        Read(3),
        Cmd(0, "ZCARD k"),
    ]);
}

#[test]
fn a_transaction_serves_blocked_clients_once_it_ends() {
    check(&[
        Send(1, "BZPOPMIN t 0"),
        Quiet(1, 50),
        Cmd(0, "MULTI"),
        Cmd(0, "ZADD t 1 a"),
        Cmd(0, "ZADD t 0 first"),
        Cmd(0, "ZREM t a"),
        Cmd(0, "EXEC"),
        Read(1),
        Cmd(0, "ZCARD t"),
    ]);
}

#[test]
fn stores_and_increments_wake_blocked_clients() {
    check(&[
        Cmd(0, "ZADD src 1 a 2 b"),
        Send(1, "BZPOPMAX dst 0"),
        Quiet(1, 50),
        Cmd(0, "ZUNIONSTORE dst 1 src"),
        Read(1),
        Send(1, "BZPOPMIN rs 0"),
        Quiet(1, 50),
        Cmd(0, "ZRANGESTORE rs src 0 0"),
        Read(1),
        Send(1, "BZMPOP 0 1 inc MIN"),
        Quiet(1, 50),
        Cmd(0, "ZINCRBY inc 2.5 m"),
        Read(1),
        // Writes that add nothing do not serve anyone.
        Send(1, "BZPOPMIN none 0"),
        Quiet(1, 50),
        Cmd(0, "ZADD none XX 1 a"),
        Cmd(0, "ZUNIONSTORE none 1 missing"),
        Quiet(1, 100),
        Cmd(0, "ZADD none 9 z"),
        Read(1),
    ]);
}

#[test]
fn a_woken_key_of_another_type_does_not_serve() {
    check(&[
        Send(1, "BZPOPMIN wk 0"),
        Quiet(1, 50),
        Cmd(0, "SET wk x"),
        Quiet(1, 100),
        Cmd(0, "DEL wk"),
        Cmd(0, "RPUSH wk a"),
        Quiet(1, 100),
        Cmd(0, "DEL wk"),
        Cmd(0, "ZADD wk 1 a"),
        Read(1),
        // A key of another type found at the first try is an error.
        Cmd(0, "SET str x"),
        Cmd(1, "BZPOPMIN nokey str 0"),
        Cmd(1, "BZMPOP 0 2 nokey str MIN"),
    ]);
}

#[test]
fn the_key_that_woke_the_client_is_served() {
    // Redis 7.0 serves a blocked client from the key that was written, not
    // from the first of its keys that holds members.
    check(&[
        Send(1, "BZPOPMIN k1 k2 0"),
        Quiet(1, 50),
        Cmd(0, "MULTI"),
        Cmd(0, "ZADD k2 1 two"),
        Cmd(0, "ZADD k1 1 one"),
        Cmd(0, "EXEC"),
        Read(1),
        Cmd(0, "ZRANGE k1 0 -1"),
        Cmd(0, "ZRANGE k2 0 -1"),
    ]);
}

#[test]
fn blocking_in_other_databases() {
    check(&[
        Cmd(1, "SELECT 3"),
        Send(1, "BZPOPMAX k 0"),
        Quiet(1, 50),
        Cmd(0, "ZADD k 1 db0"),
        Quiet(1, 100),
        Cmd(0, "SELECT 3"),
        Cmd(0, "ZADD k 1 db3"),
        Read(1),
        Cmd(0, "SELECT 0"),
        Cmd(0, "ZCARD k"),
    ]);
}
