//! The write log: every write, in the order it was applied, encoded as the
//! replication stream (RESP multibulk with SELECT when the database changes).
//! Replication streams this log to replicas and the backlog keeps its tail;
//! `master_repl_offset` counts its bytes.

use bytes::Bytes;

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
}

impl std::fmt::Debug for ReplLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplLog")
            .field("offset", &self.offset)
            .field("stream_db", &self.stream_db)
            .field("sinks", &self.sinks.len())
            .field("active", &self.active)
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
        if !self.active || ops.is_empty() {
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
        self.offset += out.len() as u64;
        let chunk = Bytes::from(out);
        for sink in &mut self.sinks {
            sink.write(&chunk);
        }
    }
}
