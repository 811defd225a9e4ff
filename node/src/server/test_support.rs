//! Helpers for unit tests that run commands through the real executor on an
//! in-memory server: a sink that captures the replication stream, and a way
//! to run a command line. Shared by every command family's tests.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::client::ClientState;
use super::exec::{execute, Outcome};
use super::repl_log::StreamSink;
use super::state::ServerState;
use crate::resp::Reply;

/// Collects the replication stream the executor writes.
#[derive(Clone, Default)]
pub struct StreamCapture(Arc<Mutex<Vec<u8>>>);

impl StreamSink for StreamCapture {
    fn write(&mut self, chunk: &Bytes) {
        if let Ok(mut buf) = self.0.lock() {
            buf.extend_from_slice(chunk);
        }
    }
}

impl StreamCapture {
    /// Turns the write log on for `state` and captures it.
    pub fn attach(state: &mut ServerState) -> StreamCapture {
        let capture = StreamCapture::default();
        state.repl_log.active = true;
        state.repl_log.sinks.push(Box::new(capture.clone()));
        capture
    }

    /// The bytes captured so far.
    pub fn raw(&self) -> Vec<u8> {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// Takes the bytes captured so far, leaving the capture empty.
    pub fn take_raw(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }

    /// The captured commands, arguments joined by spaces (SELECTs included).
    pub fn commands(&self) -> Vec<String> {
        stream_commands(&self.raw())
    }

    /// The captured commands without the SELECTs the stream inserts.
    pub fn commands_without_select(&self) -> Vec<String> {
        without_select(stream_commands(&self.raw()))
    }

    /// Like `commands_without_select`, consuming what was captured.
    pub fn take_commands_without_select(&self) -> Vec<String> {
        without_select(stream_commands(&self.take_raw()))
    }
}

fn without_select(commands: Vec<String>) -> Vec<String> {
    commands
        .into_iter()
        .filter(|c| c != "SELECT" && !c.starts_with("SELECT "))
        .collect()
}

/// Splits a multibulk stream into commands, arguments joined by spaces.
pub fn stream_commands(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let mut out = Vec::new();
    let mut lines = text.split("\r\n");
    while let Some(line) = lines.next() {
        let Some(n) = line.strip_prefix('*') else {
            continue;
        };
        let n: usize = n.parse().unwrap_or(0);
        let parts: Vec<&str> = (0..n).filter_map(|_| lines.nth(1)).collect();
        out.push(parts.join(" "));
    }
    out
}

/// Runs one command given as words through the executor, as `client`.
pub fn execute_words(
    state: &mut ServerState,
    client: &mut ClientState,
    words: &[&str],
) -> (Vec<u8>, Outcome) {
    let args: Vec<Bytes> = words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    let mut reply = Reply::new(client.resp3);
    let outcome = execute(state, client, &mut reply, args);
    (reply.take(), outcome)
}

/// Runs a space-separated command line; returns the reply text, or
/// "blocked" when the command blocked.
pub fn run_line(state: &mut ServerState, client: &mut ClientState, line: &str) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    match execute_words(state, client, &words) {
        (reply, Outcome::Done) => String::from_utf8_lossy(&reply).into_owned(),
        (_, Outcome::Blocked(..)) => "blocked".into(),
        (_, Outcome::Paused(_)) => "paused".into(),
    }
}
