//! Entry points for fuzzing (cargo fuzz targets in `node/fuzz` and the
//! bounded random-input test call these): arbitrary bytes must never panic,
//! hang or grow memory without bound.

use bytes::BytesMut;

use crate::config::Config;
use crate::resp::request::Parsed;
use crate::resp::{Frame, ParseLimits, Reply, RequestParser};
use crate::server::client::ClientState;
use crate::server::exec::{execute, Outcome};
use crate::server::ServerState;

/// Feeds bytes to the request parser in the chunking the first byte picks.
pub fn request_parser(data: &[u8]) {
    let chunk = data.first().map(|b| (*b as usize % 17) + 1).unwrap_or(1);
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match parser.parse(&mut buf, ParseLimits::default()) {
                Ok(Parsed::Request(r)) => assert!(!r.args.is_empty()),
                Ok(Parsed::Empty { .. }) => {}
                Ok(Parsed::Incomplete) => break,
                Err(_) => return,
            }
        }
    }
}

/// Feeds bytes to the client-side frame parser; a parsed frame must encode
/// back to bytes that parse to the same frame.
pub fn frame_parser(data: &[u8]) {
    if let Ok(Some((frame, used))) = Frame::parse(data) {
        assert!(used <= data.len());
        let mut out = Vec::new();
        frame.encode(&mut out);
        if let Ok(Some((again, _))) = Frame::parse(&out) {
            assert_eq!(again, frame);
        }
    }
}

/// Commands a fuzzer must not run: they sleep, stop the process or touch
/// files outside the test.
fn excluded(name: &[u8]) -> bool {
    const SKIP: &[&[u8]] = &[
        b"debug",
        b"shutdown",
        b"save",
        b"bgsave",
        b"bgrewriteaof",
        b"config",
        b"monitor",
        b"replicaof",
        b"slaveof",
        b"sync",
        b"psync",
        b"failover",
    ];
    SKIP.iter().any(|s| name.eq_ignore_ascii_case(s))
}

/// A server state to run fuzzed commands against, in process.
pub struct DispatchTarget {
    state: ServerState,
    client: ClientState,
}

impl Default for DispatchTarget {
    fn default() -> Self {
        DispatchTarget {
            state: ServerState::new(no_save_points()),
            client: ClientState::new(1, "127.0.0.1:1".into(), true),
        }
    }
}

/// The default config without save points: FLUSHALL would otherwise write
/// a dump.rdb in the working directory.
fn no_save_points() -> Config {
    let mut config = Config::default();
    let _ = config.apply_line("save", &[String::new()], true);
    config
}

impl DispatchTarget {
    /// Parses `data` as requests and executes every one through the real
    /// dispatcher (arity, types, options, errors).
    pub fn run(&mut self, data: &[u8]) {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(data);
        let mut reply = Reply::new(self.client.resp3);
        for _ in 0..256 {
            match parser.parse(&mut buf, ParseLimits::default()) {
                Ok(Parsed::Request(r)) => {
                    if excluded(&r.args[0]) {
                        continue;
                    }
                    if let Outcome::Blocked(..) =
                        execute(&mut self.state, &mut self.client, &mut reply, r.args)
                    {
                        // Nobody will serve it: drop the wait like a disconnect.
                        self.state.blocked.unblock(self.client.id);
                    }
                    reply.resp3 = self.client.resp3;
                    if reply.len() > 1 << 20 {
                        reply.take();
                    }
                }
                Ok(Parsed::Empty { .. }) => {}
                Ok(Parsed::Incomplete) | Err(_) => break,
            }
        }
    }
}

/// One-shot dispatcher fuzzing on a fresh state.
pub fn dispatch(data: &[u8]) {
    DispatchTarget::default().run(data);
}
