//! Client state. `ClientState` lives in the connection task; `ClientInfo` is
//! the part other clients can see or act on (CLIENT LIST/KILL, pub/sub
//! delivery, WATCH invalidation), kept in the registry under the server lock.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use indexmap::IndexMap;
use tokio::sync::{mpsc, Notify};

use crate::commands::CommandSpec;
use crate::db::CompactBytes;

pub type ClientId = u64;

/// CLIENT REPLY mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Skipping the current command's reply.
    Skip,
}

/// A queued MULTI transaction.
#[derive(Default, Debug)]
pub struct MultiState {
    pub queued: Vec<(&'static CommandSpec, Vec<Bytes>)>,
    /// A command was rejected while queueing: EXEC aborts.
    pub errored: bool,
}

/// Per-connection state owned by the connection task.
#[derive(Debug)]
pub struct ClientState {
    pub id: ClientId,
    pub db: usize,
    pub resp3: bool,
    pub authenticated: bool,
    pub multi: Option<MultiState>,
    /// True while EXEC runs the queued commands (blocking commands do not block).
    pub in_exec: bool,
    pub watched: Vec<(usize, CompactBytes)>,
    pub channels: HashSet<Bytes>,
    pub patterns: HashSet<Bytes>,
    pub reply_mode: ReplyMode,
    pub close_after_reply: bool,
    pub monitor: bool,
    /// Set for the connection from our master (replication stream).
    pub is_master_link: bool,
    /// Set when this connection became a replica of ours.
    pub is_replica: bool,
    pub name: Option<Bytes>,
    pub addr: String,
    /// Name of the last command run (CLIENT LIST cmd=).
    pub last_cmd: &'static str,
    /// Set while a blocked client's command is re-run on its behalf: the key
    /// whose change woke it. Redis 7.0 serves that key only (and keeps the
    /// client waiting if it now holds another type).
    pub woken_by: Option<CompactBytes>,
    /// Replication offset after this client's last propagated write (WAIT).
    pub woff: u64,
}

impl ClientState {
    pub fn new(id: ClientId, addr: String, authenticated: bool) -> Self {
        ClientState {
            id,
            db: 0,
            resp3: false,
            authenticated,
            multi: None,
            in_exec: false,
            watched: Vec::new(),
            channels: HashSet::new(),
            patterns: HashSet::new(),
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            monitor: false,
            is_master_link: false,
            is_replica: false,
            name: None,
            addr,
            last_cmd: "NULL",
            woken_by: None,
            woff: 0,
        }
    }

    pub fn subscription_count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// RESP2 clients with subscriptions may only run pub/sub commands.
    pub fn in_resp2_pubsub_mode(&self) -> bool {
        !self.resp3 && self.subscription_count() > 0
    }
}

/// What other clients can see of a client, and how to reach it.
#[derive(Debug)]
pub struct ClientInfo {
    pub id: ClientId,
    pub addr: String,
    pub laddr: String,
    pub fd: i64,
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    pub created_ms: i64,
    pub last_interaction_ms: i64,
    pub db: usize,
    pub resp3: bool,
    pub sub: usize,
    pub psub: usize,
    pub multi: i64,
    pub last_cmd: &'static str,
    pub flags: String,
    pub no_evict: bool,
    pub blocked: bool,
    /// Out-of-band frames (pub/sub messages, MONITOR lines, replication stream).
    pub push_tx: mpsc::UnboundedSender<Bytes>,
    /// Bytes queued on `push_tx` and not yet written (output buffer accounting).
    pub pending_push: Arc<AtomicUsize>,
    /// Wakes the connection task to close it (CLIENT KILL, timeouts, limits).
    pub kill: Arc<KillSwitch>,
    /// A watched key changed: the next EXEC fails.
    pub dirty_cas: bool,
    pub tot_net_in: u64,
    pub tot_net_out: u64,
    pub qbuf: usize,
}

impl ClientInfo {
    /// A freshly connected client as CLIENT LIST shows it: no name, db 0,
    /// RESP2, nothing subscribed; `flags` is its CLIENT LIST flag letter(s).
    pub fn new(
        id: ClientId,
        addr: String,
        laddr: String,
        fd: i64,
        flags: &str,
        push_tx: mpsc::UnboundedSender<Bytes>,
        kill: Arc<KillSwitch>,
    ) -> ClientInfo {
        let now = crate::util::time::now_ms();
        ClientInfo {
            id,
            addr,
            laddr,
            fd,
            name: None,
            lib_name: None,
            lib_ver: None,
            created_ms: now,
            last_interaction_ms: now,
            db: 0,
            resp3: false,
            sub: 0,
            psub: 0,
            multi: -1,
            last_cmd: "NULL",
            flags: flags.to_string(),
            no_evict: false,
            blocked: false,
            push_tx,
            pending_push: Default::default(),
            kill,
            dirty_cas: false,
            tot_net_in: 0,
            tot_net_out: 0,
            qbuf: 0,
        }
    }
}

/// A one-way "close this connection" signal.
#[derive(Debug, Default)]
pub struct KillSwitch {
    killed: AtomicBool,
    notify: Notify,
}

impl KillSwitch {
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    pub async fn wait(&self) {
        while !self.is_killed() {
            self.notify.notified().await;
        }
    }
}

impl ClientInfo {
    /// Queues out-of-band bytes for this client.
    pub fn push(&self, bytes: Bytes) {
        self.pending_push.fetch_add(bytes.len(), Ordering::Relaxed);
        let _ = self.push_tx.send(bytes);
    }

    /// Queues bytes and closes the client when its unwritten output passes
    /// `hard_limit` bytes (0 = no limit), as client-output-buffer-limit does:
    /// a subscriber that does not read must not grow memory without bound.
    pub fn push_limited(&self, bytes: Bytes, hard_limit: usize) {
        self.push(bytes);
        if hard_limit > 0
            && self.pending_push.load(Ordering::Relaxed) > hard_limit
            && !self.kill.is_killed()
        {
            crate::warning!(
                "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
                self.id,
                self.addr
            );
            self.kill.kill();
        }
    }
}

/// All connected clients, in connection order (CLIENT LIST order).
#[derive(Debug, Default)]
pub struct ClientRegistry {
    pub clients: IndexMap<ClientId, ClientInfo>,
    next_id: ClientId,
}

impl ClientRegistry {
    pub fn next_id(&mut self) -> ClientId {
        self.next_id += 1;
        self.next_id
    }

    pub fn get(&self, id: ClientId) -> Option<&ClientInfo> {
        self.clients.get(&id)
    }

    pub fn get_mut(&mut self, id: ClientId) -> Option<&mut ClientInfo> {
        self.clients.get_mut(&id)
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}
