//! What sorted set commands send to replicas and the AOF, checked through
//! the executor on an in-memory server. The expected streams are those of a
//! real Redis 7.0.15's AOF for the same commands.

use crate::config::Config;
use crate::server::client::ClientState;
use crate::server::state::ServerState;
use crate::server::test_support::{run_line, StreamCapture};

struct Harness {
    state: ServerState,
    clients: Vec<ClientState>,
    stream: StreamCapture,
}

impl Harness {
    fn new() -> Self {
        let mut state = ServerState::new(Config::default());
        let stream = StreamCapture::attach(&mut state);
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
        run_line(&mut self.state, &mut self.clients[who], line)
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
        h.stream.commands_without_select(),
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
        h.stream.commands_without_select(),
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
