//! What a command handler sees: the server state, its client, the reply
//! buffer, its arguments, and the ways to say what it propagates or that it
//! has to block.

use bytes::Bytes;

use super::blocking::{BlockRequest, TimeoutReply};
use super::client::ClientState;
use super::repl_log::Argv;
use super::state::ServerState;
use crate::commands::CommandSpec;
use crate::db::{CompactBytes, Db, EncodingLimits};
use crate::resp::Reply;

/// What a write command sends to replicas and the AOF.
#[derive(Debug, Default)]
pub enum Propagate {
    /// The command as received (when it changed something).
    #[default]
    Verbatim,
    /// Nothing, even if it changed something.
    Nothing,
    /// These commands instead (deterministic forms: SET ... PXAT for SET EX,
    /// SREM for SPOP, LPOP for BLPOP, ...), each with its database.
    Replace(Vec<(usize, Argv)>),
}

pub struct Ctx<'a> {
    pub state: &'a mut ServerState,
    pub client: &'a mut ClientState,
    pub reply: &'a mut Reply,
    pub args: &'a [Bytes],
    pub spec: &'static CommandSpec,
    pub propagate: Propagate,
    pub block: Option<BlockRequest>,
    /// Keys (db, key) modified besides the command's own key arguments.
    pub extra_modified: Vec<(usize, CompactBytes)>,
    /// When false, the key arguments are not signalled automatically: the
    /// handler `touch`es exactly the keys it modified (DEL signals only the
    /// keys it deleted, COPY only its destination, as Redis does).
    pub signal_key_args: bool,
}

impl<'a> Ctx<'a> {
    /// The client's selected database.
    pub fn db(&mut self) -> &mut Db {
        let i = self.client.db;
        &mut self.state.dbs[i]
    }

    pub fn db_index(&self) -> usize {
        self.client.db
    }

    pub fn arg(&self, i: usize) -> &[u8] {
        &self.args[i]
    }

    pub fn argc(&self) -> usize {
        self.args.len()
    }

    /// Records `n` changes (drives propagation, WATCH, save points).
    pub fn dirty(&mut self, n: u64) {
        self.state.dirty += n;
    }

    pub fn limits(&self) -> EncodingLimits {
        self.state.config.settings.encoding
    }

    /// Propagates `argv` (in the current database) instead of the original command.
    pub fn propagate_as(&mut self, argv: Argv) {
        let db = self.client.db;
        self.propagate_in(db, argv);
    }

    /// Adds a command to propagate for database `db`.
    pub fn propagate_in(&mut self, db: usize, argv: Argv) {
        match &mut self.propagate {
            Propagate::Replace(list) => list.push((db, argv)),
            _ => self.propagate = Propagate::Replace(vec![(db, argv)]),
        }
    }

    pub fn no_propagate(&mut self) {
        self.propagate = Propagate::Nothing;
    }

    /// Marks a key as modified (WATCH, blocked clients) beyond the key arguments.
    pub fn touch(&mut self, db: usize, key: &[u8]) {
        self.extra_modified.push((db, CompactBytes::new(key)));
    }

    /// Takes over key signalling: only keys passed to `touch` are signalled.
    pub fn signal_only_touched(&mut self) {
        self.signal_key_args = false;
    }

    /// Asks to wait for `keys`. Inside MULTI/EXEC commands never block: the
    /// timeout reply is sent at once, as in Redis.
    pub fn block_on(
        &mut self,
        keys: Vec<CompactBytes>,
        timeout_ms: Option<i64>,
        timeout_reply: TimeoutReply,
    ) {
        if self.client.in_exec {
            write_timeout_reply(self.reply, timeout_reply);
            return;
        }
        let deadline_ms = timeout_ms.map(|t| self.state.dbs[self.client.db].now_ms + t);
        self.block = Some(BlockRequest {
            keys,
            deadline_ms,
            timeout_reply,
        });
    }

    /// A Bytes argument made from static text (for propagated commands).
    pub fn word(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }
}

/// Writes the reply a blocked command gives when its timeout passes.
pub fn write_timeout_reply(reply: &mut Reply, kind: TimeoutReply) {
    match kind {
        TimeoutReply::NullArray => reply.null_array(),
        TimeoutReply::NullBulk => reply.null(),
    }
}
