//! Protocol behaviour over real sockets: malformed input gets Redis's error
//! and a closed connection, limits hold, pipelining keeps order, auth and
//! pub/sub framing follow Redis 7.0.

mod support;

use std::time::Duration;

use redis_ha_node::resp::Frame;
use support::{Client, Flavor, ServerProcess};

fn server() -> ServerProcess {
    ServerProcess::start(Flavor::Ours, &[])
}

fn raw_exchange(port: u16, input: &[u8]) -> Vec<u8> {
    let mut c = Client::connect(port).expect("connect");
    c.send_raw(input).expect("send");
    c.read_to_end_timeout(Duration::from_secs(2))
}

#[test]
fn protocol_errors_reply_then_close() {
    let s = server();
    let cases: &[(&[u8], &[u8])] = &[
        (
            b"*abc\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n:5\r\n",
            b"-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"*1\r\n$-3\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*3000000000\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$600000000\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"SET a \"b\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for (input, expected) in cases {
        let got = raw_exchange(s.port, input);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
    // Commands parsed before the bad one are still answered.
    let got = raw_exchange(s.port, b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n");
    assert_eq!(
        got,
        b"+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"
    );
    // The server is still healthy.
    assert_eq!(
        s.client().cmd(&["PING"]).unwrap(),
        Frame::Simple(b"PONG".to_vec())
    );
}

#[test]
fn oversized_inline_and_count_lines_are_refused() {
    let s = server();
    let long_inline = vec![b'a'; 70 * 1024];
    assert_eq!(
        raw_exchange(s.port, &long_inline),
        b"-ERR Protocol error: too big inline request\r\n"
    );
    let mut long_count = b"*".to_vec();
    long_count.extend(vec![b'1'; 70 * 1024]);
    assert_eq!(
        raw_exchange(s.port, &long_count),
        b"-ERR Protocol error: too big mbulk count string\r\n"
    );
}

#[test]
fn cross_protocol_http_is_dropped_silently() {
    let s = server();
    let got = raw_exchange(s.port, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(got.is_empty(), "got {:?}", String::from_utf8_lossy(&got));
}

#[test]
fn inline_commands_and_empty_requests() {
    let s = server();
    let mut c = s.client();
    c.send_raw(b"\r\n*0\r\nECHO \"a\\x41 b\"\r\nPING\n")
        .unwrap();
    assert_eq!(c.read().unwrap(), Frame::Bulk(b"aA b".to_vec()));
    assert_eq!(c.read().unwrap(), Frame::Simple(b"PONG".to_vec()));
}

#[test]
fn pipelined_replies_keep_order() {
    let s = server();
    let mut c = s.client();
    let mut batch = Vec::new();
    for i in 0..2000 {
        batch.extend(Frame::encode_command(&["ECHO", &i.to_string()]));
    }
    c.send_raw(&batch).unwrap();
    for i in 0..2000 {
        assert_eq!(c.read().unwrap(), Frame::Bulk(i.to_string().into_bytes()));
    }
}

#[test]
fn large_bulk_arrives_in_pieces() {
    let s = server();
    let mut c = s.client();
    let payload = vec![b'x'; 3 * 1024 * 1024];
    let frame = Frame::encode_command(&[b"ECHO".as_ref(), &payload]);
    for chunk in frame.chunks(100_000) {
        c.send_raw(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(c.read().unwrap(), Frame::Bulk(payload));
}

#[test]
fn many_concurrent_clients() {
    let s = server();
    let port = s.port;
    let handles: Vec<_> = (0..50)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(port).unwrap();
                for i in 0..100 {
                    let v = format!("{t}-{i}");
                    assert_eq!(c.cmd(&["ECHO", &v]).unwrap(), Frame::Bulk(v.into_bytes()));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn requirepass_gates_commands() {
    let s = ServerProcess::start(Flavor::Ours, &["--requirepass", "s3cret"]);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["ECHO", "x"]).unwrap(),
        Frame::Error(b"NOAUTH Authentication required.".to_vec())
    );
    assert_eq!(
        c.cmd(&["AUTH", "wrong"]).unwrap(),
        Frame::Error(b"WRONGPASS invalid username-password pair or user is disabled.".to_vec())
    );
    assert!(
        matches!(c.cmd(&["HELLO", "3"]).unwrap(), Frame::Error(e) if e.starts_with(b"NOAUTH HELLO must be called"))
    );
    assert_eq!(
        c.cmd(&["AUTH", "s3cret"]).unwrap(),
        Frame::Simple(b"OK".to_vec())
    );
    assert_eq!(c.cmd(&["ECHO", "x"]).unwrap(), Frame::Bulk(b"x".to_vec()));
    // HELLO with AUTH authenticates and switches protocol in one step.
    let mut c2 = s.client();
    let hello = c2
        .cmd(&["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "me"])
        .unwrap();
    assert!(matches!(hello, Frame::Map(_)), "{hello:?}");
    // Unauthenticated clients may not send big requests.
    let mut c3 = s.client();
    let mut big = b"*20\r\n".to_vec();
    for _ in 0..20 {
        big.extend_from_slice(b"$1\r\na\r\n");
    }
    c3.send_raw(&big).unwrap();
    assert_eq!(
        c3.read_to_end_timeout(Duration::from_secs(2)),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
}

#[test]
fn resp2_subscriber_restrictions_and_messages() {
    let s = server();
    let mut sub = s.client();
    let confirm = sub.cmd(&["SUBSCRIBE", "news", "sport"]).unwrap();
    assert_eq!(
        confirm,
        Frame::Array(vec![
            Frame::Bulk(b"subscribe".to_vec()),
            Frame::Bulk(b"news".to_vec()),
            Frame::Integer(1)
        ])
    );
    assert_eq!(
        sub.read().unwrap(),
        Frame::Array(vec![
            Frame::Bulk(b"subscribe".to_vec()),
            Frame::Bulk(b"sport".to_vec()),
            Frame::Integer(2)
        ])
    );
    assert_eq!(
        sub.cmd(&["ECHO", "x"]).unwrap(),
        Frame::Error(b"ERR Can't execute 'echo': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context".to_vec())
    );
    assert_eq!(
        sub.cmd(&["PING"]).unwrap(),
        Frame::Array(vec![Frame::Bulk(b"pong".to_vec()), Frame::Bulk(vec![])])
    );
    let mut publisher = s.client();
    assert_eq!(
        publisher.cmd(&["PUBLISH", "news", "hi"]).unwrap(),
        Frame::Integer(1)
    );
    assert_eq!(
        sub.read().unwrap(),
        Frame::Array(vec![
            Frame::Bulk(b"message".to_vec()),
            Frame::Bulk(b"news".to_vec()),
            Frame::Bulk(b"hi".to_vec())
        ])
    );
    sub.cmd(&["PSUBSCRIBE", "n*"]).unwrap();
    assert_eq!(
        publisher.cmd(&["PUBLISH", "news", "again"]).unwrap(),
        Frame::Integer(2)
    );
    let mut got = [sub.read().unwrap(), sub.read().unwrap()];
    got.sort_by_key(|f| f.items().map(|i| i.len()).unwrap_or(0));
    assert_eq!(
        got[1].items().unwrap()[0],
        Frame::Bulk(b"pmessage".to_vec())
    );
    assert_eq!(
        publisher.cmd(&["PUBSUB", "NUMPAT"]).unwrap(),
        Frame::Integer(1)
    );
}

#[test]
fn resp3_subscriber_gets_push_frames_and_can_run_commands() {
    let s = server();
    let mut sub = s.client();
    assert!(matches!(sub.cmd(&["HELLO", "3"]).unwrap(), Frame::Map(_)));
    let confirm = sub.cmd(&["SUBSCRIBE", "c"]).unwrap();
    assert!(matches!(confirm, Frame::Push(_)), "{confirm:?}");
    assert_eq!(sub.cmd(&["PING"]).unwrap(), Frame::Simple(b"PONG".to_vec()));
    s.client().cmd(&["PUBLISH", "c", "m"]).unwrap();
    assert_eq!(
        sub.read().unwrap(),
        Frame::Push(vec![
            Frame::Bulk(b"message".to_vec()),
            Frame::Bulk(b"c".to_vec()),
            Frame::Bulk(b"m".to_vec())
        ])
    );
}

#[test]
fn quit_closes_after_reply() {
    let s = server();
    let got = raw_exchange(s.port, b"QUIT\r\nPING\r\n");
    assert_eq!(got, b"+OK\r\n");
}

#[test]
fn garbage_bytes_never_kill_the_server() {
    use rand::{Rng, SeedableRng};
    let s = server();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..200 {
        let len = rng.gen_range(1..200);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if rng.gen_bool(0.5) {
            bytes.insert(0, b'*');
        }
        let mut c = Client::connect(s.port).unwrap();
        let _ = c.send_raw(&bytes);
        let _ = c.read_to_end_timeout(Duration::from_millis(20));
    }
    assert_eq!(
        s.client().cmd(&["PING"]).unwrap(),
        Frame::Simple(b"PONG".to_vec())
    );
}

#[test]
fn subscriber_that_never_reads_is_disconnected_at_the_output_limit() {
    let s = server();
    let mut admin = s.client();
    assert_eq!(
        admin
            .cmd(&[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 1mb 0 0"
            ])
            .unwrap(),
        Frame::Simple(b"OK".to_vec())
    );
    let mut sub = s.client();
    sub.cmd(&["SUBSCRIBE", "flood"]).unwrap();
    // Publish far more than the limit (and than socket buffers hold) while
    // the subscriber reads nothing.
    let payload = vec![b'x'; 256 * 1024];
    for _ in 0..200 {
        admin
            .cmd(&[b"PUBLISH".as_ref(), b"flood", &payload])
            .unwrap();
    }
    // The server closed it: its remaining output ends in EOF, well short of
    // everything published.
    let drained = sub.read_to_end_timeout(Duration::from_secs(5));
    assert!(
        drained.len() < 200 * payload.len(),
        "subscriber got everything ({} bytes)",
        drained.len()
    );
    let clients = admin.cmd(&["CLIENT", "LIST"]).unwrap();
    let text = String::from_utf8_lossy(clients.as_bytes().unwrap()).into_owned();
    assert_eq!(
        text.lines().count(),
        1,
        "only the admin client should remain:\n{text}"
    );
}
