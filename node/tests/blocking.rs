//! Blocking list commands with several real client connections: serving
//! order, timeouts, chains of BLMOVE, clients that go away, wrong types,
//! MULTI, databases and pipelining. Redis 7.0 is the reference for every
//! expectation here (the differential tests cannot block: they wait for
//! each reply in turn). `BLOCKING_AGAINST_REDIS=1` runs the same tests
//! against the real redis-server to check the expectations themselves.

mod support;

use std::time::{Duration, Instant};

use redis_ha_node::resp::Frame;
use support::{Client, Flavor, ServerProcess};

/// How long a client must stay silent to count as blocked.
const QUIET: Duration = Duration::from_millis(150);
/// How long a served client may take to get its reply.
const PROMPT: Duration = Duration::from_secs(5);

fn server() -> ServerProcess {
    let flavor = if std::env::var_os("BLOCKING_AGAINST_REDIS").is_some() {
        Flavor::RealRedis
    } else {
        Flavor::Ours
    };
    ServerProcess::start(flavor, &[])
}

fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.as_bytes().to_vec())
}

fn bulks(items: &[&str]) -> Frame {
    Frame::Array(items.iter().map(|s| bulk(s)).collect())
}

fn cmd(c: &mut Client, args: &[&str]) -> Frame {
    c.cmd(args).expect("command reply")
}

/// Sends a command that is expected to block, and checks that no reply
/// comes for a while.
fn block(c: &mut Client, args: &[&str]) {
    c.send(args).expect("send");
    assert_still_blocked(c);
}

fn assert_still_blocked(c: &mut Client) {
    let early = c.read_timeout(QUIET).expect("read");
    assert!(
        early.is_none(),
        "expected the client to block, got {early:?}"
    );
}

fn reply_of(c: &mut Client) -> Frame {
    c.read_timeout(PROMPT)
        .expect("read")
        .expect("a blocked client should have been served")
}

/// Gives `key` a value of another type (a set).
fn make_non_list(c: &mut Client, key: &str) {
    cmd(c, &["DEL", key]);
    assert_eq!(cmd(c, &["SADD", key, "member"]), Frame::Integer(1));
}

#[test]
fn blpop_is_served_by_a_push_from_another_client() {
    let s = server();
    let mut a = s.client();
    let mut c = s.client();
    block(&mut a, &["BLPOP", "k", "0"]);
    assert_eq!(cmd(&mut c, &["RPUSH", "k", "v"]), Frame::Integer(1));
    assert_eq!(reply_of(&mut a), bulks(&["k", "v"]));
    // The element went to the blocked client: the list is gone.
    assert_eq!(cmd(&mut c, &["LLEN", "k"]), Frame::Integer(0));
    // The served connection keeps working.
    assert_eq!(cmd(&mut a, &["PING"]), Frame::Simple(b"PONG".to_vec()));
}

#[test]
fn brpop_and_blmpop_take_from_their_end() {
    let s = server();
    let mut a = s.client();
    let mut b = s.client();
    let mut c = s.client();
    block(&mut a, &["BRPOP", "k", "0"]);
    block(&mut b, &["BLMPOP", "0", "1", "k", "LEFT", "COUNT", "2"]);
    assert_eq!(
        cmd(&mut c, &["RPUSH", "k", "1", "2", "3", "4"]),
        Frame::Integer(4)
    );
    assert_eq!(reply_of(&mut a), bulks(&["k", "4"]));
    assert_eq!(
        reply_of(&mut b),
        Frame::Array(vec![bulk("k"), bulks(&["1", "2"])])
    );
    assert_eq!(cmd(&mut c, &["LRANGE", "k", "0", "-1"]), bulks(&["3"]));
}

#[test]
fn clients_are_served_in_the_order_they_blocked() {
    let s = server();
    let mut a = s.client();
    let mut b = s.client();
    let mut c = s.client();
    block(&mut a, &["BLPOP", "k", "0"]);
    block(&mut b, &["BLPOP", "k", "0"]);
    cmd(&mut c, &["RPUSH", "k", "first"]);
    assert_eq!(reply_of(&mut a), bulks(&["k", "first"]));
    assert_still_blocked(&mut b);
    cmd(&mut c, &["RPUSH", "k", "second"]);
    assert_eq!(reply_of(&mut b), bulks(&["k", "second"]));

    // One push with several elements serves several clients, in order.
    let mut waiting: Vec<Client> = (0..8).map(|_| s.client()).collect();
    for w in &mut waiting {
        block(w, &["BLPOP", "many", "0"]);
    }
    let values: Vec<String> = (0..8).map(|i| format!("v{i}")).collect();
    let mut push = vec!["RPUSH", "many"];
    push.extend(values.iter().map(String::as_str));
    assert_eq!(cmd(&mut c, &push), Frame::Integer(8));
    for (w, v) in waiting.iter_mut().zip(&values) {
        assert_eq!(reply_of(w), bulks(&["many", v]));
    }
    assert_eq!(cmd(&mut c, &["LLEN", "many"]), Frame::Integer(0));
}

#[test]
fn a_client_blocked_on_several_keys_gets_the_key_that_was_pushed() {
    let s = server();
    let mut a = s.client();
    let mut c = s.client();
    block(&mut a, &["BLPOP", "k1", "k2", "k3", "0"]);
    cmd(&mut c, &["RPUSH", "k2", "x"]);
    assert_eq!(reply_of(&mut a), bulks(&["k2", "x"]));

    // Both keys written in one transaction: the first written key is served,
    // as Redis 7.0 does (not the first key of the command).
    block(&mut a, &["BLPOP", "k1", "k2", "0"]);
    cmd(&mut c, &["MULTI"]);
    cmd(&mut c, &["RPUSH", "k2", "from-k2"]);
    cmd(&mut c, &["RPUSH", "k1", "from-k1"]);
    assert_eq!(
        cmd(&mut c, &["EXEC"]),
        Frame::Array(vec![Frame::Integer(1), Frame::Integer(1)])
    );
    assert_eq!(reply_of(&mut a), bulks(&["k2", "from-k2"]));
    assert_eq!(
        cmd(&mut c, &["LRANGE", "k1", "0", "-1"]),
        bulks(&["from-k1"])
    );
}

#[test]
fn timeouts_reply_null() {
    let s = server();
    let mut a = s.client();
    let started = Instant::now();
    assert_eq!(cmd(&mut a, &["BLPOP", "k", "0.2"]), Frame::NullArray);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(180) && waited < Duration::from_secs(3),
        "waited {waited:?}"
    );
    // BLMOVE and BRPOPLPUSH also time out with a null array in RESP2, as in 7.0.
    assert_eq!(
        cmd(&mut a, &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0.05"]),
        Frame::NullArray
    );
    assert_eq!(
        cmd(&mut a, &["BRPOPLPUSH", "k", "d", "0.05"]),
        Frame::NullArray
    );
    assert_eq!(
        cmd(&mut a, &["BLMPOP", "0.05", "1", "k", "LEFT"]),
        Frame::NullArray
    );
    // RESP3: the null type.
    let mut r3 = s.client();
    cmd(&mut r3, &["HELLO", "3"]);
    assert_eq!(cmd(&mut r3, &["BRPOP", "k", "0.05"]), Frame::Null);
    // Still usable afterwards, and a push after the timeout stays in the list.
    let mut c = s.client();
    cmd(&mut c, &["RPUSH", "k", "late"]);
    assert_eq!(cmd(&mut a, &["LRANGE", "k", "0", "-1"]), bulks(&["late"]));
}

#[test]
fn a_served_client_does_not_time_out_later() {
    let s = server();
    let mut a = s.client();
    let mut c = s.client();
    block(&mut a, &["BLPOP", "k", "0.6"]);
    cmd(&mut c, &["RPUSH", "k", "v"]);
    assert_eq!(reply_of(&mut a), bulks(&["k", "v"]));
    // No stray null arrives when the original deadline passes.
    assert!(a
        .read_timeout(Duration::from_millis(800))
        .expect("read")
        .is_none());
}

#[test]
fn blmove_chains_wake_the_next_client() {
    let s = server();
    let mut a = s.client();
    let mut b = s.client();
    let mut d = s.client();
    let mut c = s.client();
    block(&mut a, &["BLMOVE", "s1", "s2", "LEFT", "RIGHT", "0"]);
    block(&mut b, &["BRPOPLPUSH", "s2", "s3", "0"]);
    block(&mut d, &["BLPOP", "s3", "0"]);
    cmd(&mut c, &["RPUSH", "s1", "x"]);
    assert_eq!(reply_of(&mut a), bulk("x"));
    assert_eq!(reply_of(&mut b), bulk("x"));
    assert_eq!(reply_of(&mut d), bulks(&["s3", "x"]));
    for key in ["s1", "s2", "s3"] {
        assert_eq!(cmd(&mut c, &["LLEN", key]), Frame::Integer(0), "{key}");
    }
    // A rotating BLMOVE on one key serves the next waiter on that key too.
    block(&mut a, &["BLMOVE", "r", "r", "LEFT", "RIGHT", "0"]);
    block(&mut b, &["BLPOP", "r", "0"]);
    cmd(&mut c, &["RPUSH", "r", "1", "2"]);
    assert_eq!(reply_of(&mut a), bulk("1"));
    assert_eq!(reply_of(&mut b), bulks(&["r", "2"]));
    assert_eq!(cmd(&mut c, &["LRANGE", "r", "0", "-1"]), bulks(&["1"]));
}

#[test]
fn a_disconnected_blocked_client_is_forgotten() {
    let s = server();
    let mut c = s.client();
    {
        let mut gone = s.client();
        block(&mut gone, &["BLPOP", "k", "0"]);
        let mut gone_too = s.client();
        block(&mut gone_too, &["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]);
    }
    // Give the server a moment to notice the closed sockets.
    std::thread::sleep(Duration::from_millis(200));
    let mut b = s.client();
    block(&mut b, &["BLPOP", "k", "0"]);
    cmd(&mut c, &["RPUSH", "k", "v1"]);
    assert_eq!(reply_of(&mut b), bulks(&["k", "v1"]));
    // Nobody else consumes pushes any more.
    assert_eq!(cmd(&mut c, &["RPUSH", "k", "v2"]), Frame::Integer(1));
    assert_eq!(cmd(&mut c, &["LRANGE", "k", "0", "-1"]), bulks(&["v2"]));
    assert_eq!(cmd(&mut c, &["LLEN", "d"]), Frame::Integer(0));
}

#[test]
fn wrong_types() {
    let s = server();
    let mut a = s.client();
    let mut c = s.client();
    make_non_list(&mut c, "str");
    let wrongtype =
        Frame::Error(b"WRONGTYPE Operation against a key holding the wrong kind of value".to_vec());
    assert_eq!(cmd(&mut a, &["BLPOP", "str", "0"]), wrongtype);
    assert_eq!(cmd(&mut a, &["BLPOP", "missing", "str", "0"]), wrongtype);
    assert_eq!(
        cmd(&mut a, &["BLMOVE", "str", "d", "LEFT", "LEFT", "0"]),
        wrongtype
    );
    assert_eq!(cmd(&mut a, &["BLMPOP", "0", "1", "str", "LEFT"]), wrongtype);

    // A key that becomes another type while a client waits does not wake
    // it (7.0 serves list waiters only from lists); a later list does.
    block(&mut a, &["BLPOP", "k", "0"]);
    make_non_list(&mut c, "k");
    assert_still_blocked(&mut a);
    cmd(&mut c, &["DEL", "k"]);
    cmd(&mut c, &["RPUSH", "k", "v"]);
    assert_eq!(reply_of(&mut a), bulks(&["k", "v"]));

    // A client waiting on two keys, one of which becomes a set, is
    // still served from the other.
    block(&mut a, &["BLPOP", "k1", "k2", "0"]);
    make_non_list(&mut c, "k1");
    cmd(&mut c, &["RPUSH", "k2", "v"]);
    assert_eq!(reply_of(&mut a), bulks(&["k2", "v"]));

    // BLMOVE woken with a destination of the wrong type gets the error, and
    // the element stays in the source.
    block(&mut a, &["BLMOVE", "src", "str", "LEFT", "RIGHT", "0"]);
    cmd(&mut c, &["RPUSH", "src", "x"]);
    assert_eq!(reply_of(&mut a), wrongtype);
    assert_eq!(cmd(&mut c, &["LRANGE", "src", "0", "-1"]), bulks(&["x"]));
}

#[test]
fn blocking_commands_inside_multi_reply_at_once() {
    let s = server();
    let mut a = s.client();
    cmd(&mut a, &["MULTI"]);
    for args in [
        &["BLPOP", "k", "0"][..],
        &["BRPOP", "k", "0"][..],
        &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0"][..],
        &["BRPOPLPUSH", "k", "d", "0"][..],
        &["BLMPOP", "0", "1", "k", "LEFT"][..],
    ] {
        assert_eq!(cmd(&mut a, args), Frame::Simple(b"QUEUED".to_vec()));
    }
    a.send(&["EXEC"]).expect("send");
    let reply = a
        .read_timeout(Duration::from_secs(2))
        .expect("read")
        .expect("EXEC must not block");
    assert_eq!(
        reply,
        Frame::Array(vec![
            Frame::NullArray,
            Frame::NullArray,
            Frame::Null,
            Frame::Null,
            Frame::NullArray,
        ])
    );
    // The client is not left registered as blocked: a push stays in place.
    let mut c = s.client();
    cmd(&mut c, &["RPUSH", "k", "v"]);
    assert_eq!(cmd(&mut c, &["LLEN", "k"]), Frame::Integer(1));
}

#[test]
fn databases_are_separate() {
    let s = server();
    let mut a = s.client();
    let mut c = s.client();
    cmd(&mut a, &["SELECT", "1"]);
    block(&mut a, &["BLPOP", "k", "0"]);
    cmd(&mut c, &["RPUSH", "k", "db0"]);
    assert_still_blocked(&mut a);
    cmd(&mut c, &["SELECT", "1"]);
    cmd(&mut c, &["RPUSH", "k", "db1"]);
    assert_eq!(reply_of(&mut a), bulks(&["k", "db1"]));
    cmd(&mut c, &["SELECT", "0"]);
    assert_eq!(cmd(&mut c, &["LRANGE", "k", "0", "-1"]), bulks(&["db0"]));
}

#[test]
fn commands_pipelined_after_a_blocked_one_wait_for_it() {
    let s = server();
    let mut a = s.client();
    let mut c = s.client();
    let mut batch = Frame::encode_command(&["BLPOP", "k", "0"]);
    batch.extend(Frame::encode_command(&["RPUSH", "after", "1"]));
    batch.extend(Frame::encode_command(&["PING"]));
    a.send_raw(&batch).expect("send");
    assert_still_blocked(&mut a);
    // The pipelined RPUSH has not run yet.
    assert_eq!(cmd(&mut c, &["LLEN", "after"]), Frame::Integer(0));
    cmd(&mut c, &["RPUSH", "k", "v"]);
    assert_eq!(reply_of(&mut a), bulks(&["k", "v"]));
    assert_eq!(reply_of(&mut a), Frame::Integer(1));
    assert_eq!(reply_of(&mut a), Frame::Simple(b"PONG".to_vec()));
}

#[test]
fn resp3_clients_are_served_in_resp3() {
    let s = server();
    let mut a = s.client();
    let mut b = s.client();
    let mut c = s.client();
    cmd(&mut a, &["HELLO", "3"]);
    block(&mut a, &["BLMPOP", "0", "1", "k", "RIGHT", "COUNT", "5"]);
    block(&mut b, &["BLPOP", "k", "0"]);
    cmd(&mut c, &["RPUSH", "k", "x", "y", "z"]);
    assert_eq!(
        reply_of(&mut a),
        Frame::Array(vec![bulk("k"), bulks(&["z", "y", "x"])])
    );
    // The list was emptied by the first client: the second keeps waiting.
    assert_still_blocked(&mut b);
    cmd(&mut c, &["LPUSH", "k", "w"]);
    assert_eq!(reply_of(&mut b), bulks(&["k", "w"]));
}
