//! What sorted set commands send to replicas and the AOF, checked through
//! the executor on an in-memory server. The expected streams are those of a
//! real Redis 7.0.15's AOF for the same commands.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::config::Config;
use crate::resp::Reply;
use crate::server::client::ClientState;
use crate::server::exec::{execute, Outcome};
use crate::server::repl_log::StreamSink;
use crate::server::state::ServerState;

/// Collects the propagated stream.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl StreamSink for Capture {
    fn write(&mut self, chunk: &Bytes) {
        if let Ok(mut buf) = self.0.lock() {
            buf.extend_from_slice(chunk);
        }
    }
}

impl Capture {
    /// The stream's commands (SELECT left out), arguments joined by spaces.
    fn commands(&self) -> Vec<String> {
        let raw = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let mut out = Vec::new();
        let mut lines = text.split("\r\n");
        while let Some(line) = lines.next() {
            let Some(n) = line.strip_prefix('*') else {
                continue;
            };
            let n: usize = n.parse().unwrap_or(0);
            let parts: Vec<&str> = (0..n).filter_map(|_| lines.nth(1)).collect();
            if parts.first() != Some(&"SELECT") {
                out.push(parts.join(" "));
            }
        }
        out
    }
}

struct Harness {
    state: ServerState,
    clients: Vec<ClientState>,
    stream: Capture,
}

impl Harness {
    fn new() -> Self {
        let mut state = ServerState::new(Config::default());
        let stream = Capture::default();
        state.repl_log.active = true;
        state.repl_log.sinks.push(Box::new(stream.clone()));
        let clients = (1..=2)
            .map(|id| ClientState::new(id, "test".into(), true))
            .collect();
        Harness {
            state,
            clients,
            stream,
        }
    }

    /// Runs a command as client `who` (0 or 1); returns the RESP2 reply.
    fn run_as(&mut self, who: usize, line: &str) -> String {
        let args = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let mut reply = Reply::new(false);
        match execute(&mut self.state, &mut self.clients[who], &mut reply, args) {
            Outcome::Done => String::from_utf8_lossy(&reply.take()).into_owned(),
            Outcome::Blocked(..) => "blocked".into(),
        }
    }

    fn run_all(&mut self, lines: &[&str]) {
        for line in lines {
            self.run_as(0, line);
        }
    }
}

#[test]
fn writes_propagate_like_redis() {
    let mut h = Harness::new();
    h.run_all(&[
        "ZADD z 1 a 2 b 3 c",
        "ZADD z 1 a",
        "ZADD z XX 5 nope",
        "ZINCRBY z 1 a",
        "ZADD z INCR 1 a",
        "ZPOPMIN z",
        "ZPOPMAX z 10",
        "ZADD z 1 a 2 b 3 c",
        "BZPOPMIN z 0",
        "BZPOPMAX nokey z 0",
        "ZMPOP 2 nokey z MIN COUNT 10",
        "ZADD z 1 a 2 b 3 c",
        "BZMPOP 0 1 z MAX",
        "ZPOPMIN nokey",
        "ZMPOP 1 nokey MIN",
        "ZRANGESTORE d z 0 -1",
        "ZRANGESTORE d nokey 0 -1",
        "ZRANGESTORE d nokey 0 -1",
        "ZUNIONSTORE u 1 z",
        "ZREMRANGEBYSCORE z -inf +inf",
        "ZREM z a",
    ]);
    assert_eq!(
        h.stream.commands(),
        [
            "ZADD z 1 a 2 b 3 c",
            "ZINCRBY z 1 a",
            "ZADD z INCR 1 a",
            "ZPOPMIN z",
            "ZPOPMAX z 10",
            "ZADD z 1 a 2 b 3 c",
            "ZPOPMIN z",
            "ZPOPMAX z",
            "ZPOPMIN z 1",
            "ZADD z 1 a 2 b 3 c",
            "ZPOPMAX z 1",
            "ZRANGESTORE d z 0 -1",
            "ZRANGESTORE d nokey 0 -1",
            "ZUNIONSTORE u 1 z",
            "ZREMRANGEBYSCORE z -inf +inf",
        ]
    );
}

#[test]
fn served_blocked_pops_propagate_after_the_write() {
    let mut h = Harness::new();
    assert_eq!(h.run_as(1, "BZPOPMIN w 0"), "blocked");
    h.run_as(0, "ZADD w 1 x 2 y");
    assert_eq!(h.run_as(1, "BZMPOP 0 1 w2 MIN COUNT 5"), "blocked");
    h.run_as(0, "ZADD w2 1 x");
    assert_eq!(h.run_as(1, "BZPOPMAX w3 w4 0"), "blocked");
    h.run_all(&["MULTI", "ZADD w4 1 x", "ZADD w3 2 y", "EXEC"]);
    assert_eq!(
        h.stream.commands(),
        [
            "ZADD w 1 x 2 y",
            "ZPOPMIN w",
            "ZADD w2 1 x",
            "ZPOPMIN w2 1",
            "MULTI",
            "ZADD w4 1 x",
            "ZADD w3 2 y",
            "EXEC",
            "ZPOPMAX w4",
        ]
    );
    assert_eq!(h.run_as(0, "ZRANGE w3 0 -1"), "*1\r\n$1\r\ny\r\n");
}
