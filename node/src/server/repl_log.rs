//! The write log: every write, in the order it was applied, encoded as the
//! replication stream (RESP multibulk with SELECT when the database changes).
//! Replication streams this log to replicas and the backlog keeps its tail;
//! `master_repl_offset` counts its bytes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::client::{ClientId, KillSwitch};
use crate::replication::backlog::Backlog;

/// A command to propagate, as its argument vector.
pub type Argv = Vec<Bytes>;

/// Receives every encoded chunk of the stream (replica links, AOF).
pub trait StreamSink: Send {
    fn write(&mut self, chunk: &Bytes);
}

#[derive(Default)]
pub struct ReplLog {
    /// Bytes produced in this history (master_repl_offset).
    pub offset: u64,
    /// The database the stream last selected; None forces a SELECT.
    pub stream_db: Option<usize>,
    /// Consumers of the stream. With none (and no backlog), Redis does not
    /// produce the stream at all, and the offset does not move.
    pub sinks: Vec<Box<dyn StreamSink>>,
    /// Whether the stream is being produced (a backlog exists).
    pub active: bool,
    /// The tail of the stream kept for partial resyncs.
    pub backlog: Option<Backlog>,
    /// Connections of our replicas that receive the stream.
    pub replicas: Vec<ReplicaOut>,
    /// Set while we are a replica: our own writes are not streamed (Redis
    /// does not propagate writes made on a writable replica); only the
    /// master's bytes are forwarded, with `append_raw`.
    pub forwarding_only: bool,
    /// Stream bytes not yet handed to the replicas' channels: a batch of
    /// commands goes out as one message (`flush_replicas`, called before
    /// the lock is released and before a replica is registered).
    pending_out: Vec<u8>,
}

/// The sending side of one replica's connection. The connection task drains
/// the channel, so writes never wait for a slow replica under the lock.
pub struct ReplicaOut {
    pub id: ClientId,
    pub addr: String,
    pub tx: mpsc::UnboundedSender<Bytes>,
    /// Bytes queued and not yet written to the socket.
    pub pending: Arc<AtomicUsize>,
    pub kill: Arc<KillSwitch>,
    /// client-output-buffer-limit replica: hard bytes (0 = none).
    pub hard_limit: usize,
}

impl ReplicaOut {
    /// Queues bytes; a replica over its hard output-buffer limit is closed,
    /// as Redis does (it will resync).
    pub fn send(&self, chunk: &Bytes) {
        let pending = self.pending.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len();
        let _ = self.tx.send(chunk.clone());
        if self.hard_limit > 0 && pending > self.hard_limit && !self.kill.is_killed() {
            crate::warning!(
                "Client id={} addr={} flags=S scheduled to be closed ASAP for overcoming of output buffer limits.",
                self.id,
                self.addr
            );
            self.kill.kill();
        }
    }
}

impl std::fmt::Debug for ReplLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplLog")
            .field("offset", &self.offset)
            .field("stream_db", &self.stream_db)
            .field("sinks", &self.sinks.len())
            .field("active", &self.active)
            .field("replicas", &self.replicas.len())
            .finish()
    }
}

/// Encodes one command as a multibulk request.
pub fn encode_argv(argv: &[Bytes], out: &mut Vec<u8>) {
    let mut tmp = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(tmp.format(argv.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        out.push(b'$');
        out.extend_from_slice(tmp.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

impl ReplLog {
    /// Appends the commands one call propagated, each tagged with its
    /// database, inserting SELECT wherever the database changes.
    pub fn feed(&mut self, ops: &[(usize, Argv)]) {
        if !self.active || self.forwarding_only || ops.is_empty() {
            return;
        }
        let mut out = Vec::with_capacity(64);
        for (db, argv) in ops {
            if self.stream_db != Some(*db) {
                let select = [Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())];
                encode_argv(&select, &mut out);
                self.stream_db = Some(*db);
            }
            encode_argv(argv, &mut out);
        }
        self.append_raw(Bytes::from(out));
    }

    /// Appends already-encoded stream bytes: our own writes, or on a
    /// replica the bytes applied from our master, forwarded unchanged so
    /// the whole chain shares one history and one offset.
    pub fn append_raw(&mut self, chunk: Bytes) {
        self.offset += chunk.len() as u64;
        if let Some(b) = &mut self.backlog {
            b.append(&chunk);
        }
        for sink in &mut self.sinks {
            sink.write(&chunk);
        }
        if !self.replicas.is_empty() {
            self.pending_out.extend_from_slice(&chunk);
        }
    }

    /// Hands the bytes appended since the last call to every replica.
    pub fn flush_replicas(&mut self) {
        if self.pending_out.is_empty() {
            return;
        }
        let chunk = Bytes::from(std::mem::take(&mut self.pending_out));
        for r in &self.replicas {
            r.send(&chunk);
        }
    }

    /// Registers a replica connection: bytes produced before this point
    /// go to the replicas that were already there, not to it.
    pub fn add_replica(&mut self, out: ReplicaOut) {
        self.flush_replicas();
        self.replicas.push(out);
    }

    /// Stops streaming to a replica connection.
    pub fn remove_replica(&mut self, id: ClientId) {
        self.replicas.retain(|r| r.id != id);
    }
}
