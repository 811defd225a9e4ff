//! Master–replica replication, as Redis 7.0 does it on the wire.
//!
//! * `backlog`: the circular buffer of the stream tail (partial resyncs).
//! * `snapshot`: the forked child that writes the RDB sent in a full sync.
//! * `master`: REPLCONF/PSYNC/SYNC on our side, replica connections, acks,
//!   WAIT and min-replicas-to-write, keepalive PINGs.
//! * `replica`: the link to our master: handshake, full/partial sync and
//!   applying the stream.
//! * `info`: INFO replication and ROLE.
//!
//! The stream itself is produced by `server::repl_log::ReplLog`, whose
//! offset is master_repl_offset (on a replica: the applied offset).

pub mod backlog;
pub mod failover;
pub mod info;
pub mod master;
pub mod replica;
pub mod snapshot;

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use indexmap::IndexMap;
use tokio::sync::oneshot;

use crate::server::client::{ClientId, KillSwitch};
use crate::server::state::{random_hex_id, ServerState, Shared};

/// replid2 when unset.
pub const NULL_REPLID: &str = "0000000000000000000000000000000000000000";

/// Where a replica connection of ours is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaState {
    /// Waiting for the snapshot to start (diskless delay) or finish.
    WaitBgsave,
    /// The snapshot is being transferred.
    SendBulk,
    Online,
}

impl ReplicaState {
    pub fn name(self) -> &'static str {
        match self {
            ReplicaState::WaitBgsave => "wait_bgsave",
            ReplicaState::SendBulk => "send_bulk",
            ReplicaState::Online => "online",
        }
    }
}

/// What a connection announced with REPLCONF before PSYNC/SYNC.
#[derive(Clone, Debug, Default)]
pub struct HandshakeInfo {
    pub listening_port: u16,
    pub announced_ip: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
    pub rdb_only: bool,
}

/// What the master knows of one replica connection.
pub struct ReplicaInfo {
    pub id: ClientId,
    pub peer_ip: String,
    pub hs: HandshakeInfo,
    pub state: ReplicaState,
    pub ack_offset: u64,
    pub ack_time_ms: i64,
    /// Came with SYNC: no offsets, never timed out for missing ACKs.
    pub pre_psync: bool,
    /// Given the snapshot when the fork happens.
    pub ticket: Option<oneshot::Sender<FullSyncTicket>>,
    pub wait_since_ms: i64,
    pub kill: Arc<KillSwitch>,
    /// Unix ms when its output passed the soft limit (None = below it).
    pub soft_limit_since_ms: Option<i64>,
    /// The stream sender, registered with the write log at fork time.
    pub pending_out: Option<crate::server::repl_log::ReplicaOut>,
    /// Bytes queued for it (shared with its `ReplicaOut`).
    pub queued: Arc<std::sync::atomic::AtomicUsize>,
    /// Full sync by EOF marker (diskless, replica has capa eof).
    pub eof_form: bool,
}

impl ReplicaInfo {
    /// `ip:port` as Redis names replicas in its log.
    pub fn name(&self) -> String {
        let ip = self.hs.announced_ip.as_deref().unwrap_or(&self.peer_ip);
        if self.hs.listening_port != 0 {
            format!("{ip}:{}", self.hs.listening_port)
        } else {
            format!("client id #{}", self.id)
        }
    }
}

/// What the connection task takes over when its client became a replica.
pub struct Handover {
    pub stream_rx: tokio::sync::mpsc::UnboundedReceiver<bytes::Bytes>,
    pub queued: Arc<std::sync::atomic::AtomicUsize>,
    /// Full sync: the snapshot arrives here at fork time.
    pub ticket: Option<oneshot::Receiver<FullSyncTicket>>,
    pub eof_form: bool,
    pub rdb_only: bool,
}

/// A full sync's start: the reply line written at fork time and the
/// snapshot, shared by every replica attached to the same fork.
pub struct FullSyncTicket {
    /// `+FULLRESYNC <replid> <offset>\r\n`, or None for SYNC.
    pub header: Option<String>,
    pub rdb: tokio::sync::watch::Receiver<Option<Arc<Result<bytes::Bytes, String>>>>,
}

/// The replica-side link state (ROLE names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Connect,
    Connecting,
    Handshake,
    Sync,
    Connected,
}

impl LinkState {
    pub fn role_name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// Progress of a snapshot being received from our master.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncProgress {
    /// 0 for the EOF-marked form (size unknown).
    pub total: u64,
    pub read: u64,
    pub last_io_ms: i64,
}

/// Our master, when we are a replica.
#[derive(Debug)]
pub struct MasterLink {
    pub host: String,
    pub port: u16,
    pub state: LinkState,
    /// Which link task is current; older tasks stop when it changes.
    pub gen: u64,
    pub last_io_ms: i64,
    /// Unix ms the link went down; None when it was never up.
    pub down_since_ms: Option<i64>,
    pub sync: Option<SyncProgress>,
    /// Bytes of the master stream read (slave_read_repl_offset).
    pub read_offset: u64,
    /// A master client exists, live or cached (PSYNC can continue).
    pub has_master_client: bool,
    /// The database the master stream has selected.
    pub stream_db: usize,
    pub kill: Arc<KillSwitch>,
    /// The master did not know PSYNC (we fell back to SYNC): it has no
    /// offsets, so no ACKs are sent to it.
    pub pre_psync: bool,
}

/// FAILOVER progress (master_failover_state).
#[derive(Debug, Clone, Default)]
pub struct FailoverState {
    pub active: bool,
    pub in_progress: bool,
    pub target: Option<(String, u16)>,
    pub force: bool,
    pub deadline_ms: Option<i64>,
    pub paused_offset: u64,
}

/// A client blocked in WAIT.
#[derive(Debug)]
pub struct WaitRequest {
    pub client: ClientId,
    pub target_offset: u64,
    pub numreplicas: usize,
    pub deadline_ms: Option<i64>,
}

/// Snapshot child running for replicas.
#[derive(Debug, Clone, Copy)]
pub struct RunningSnapshot {
    pub pid: libc::pid_t,
    pub offset: u64,
}

/// All replication state, in `ServerState.repl`.
pub struct ReplState {
    pub replid: String,
    pub replid2: String,
    pub second_offset: i64,
    pub replicas: IndexMap<ClientId, ReplicaInfo>,
    pub handshakes: HashMap<ClientId, HandshakeInfo>,
    pub snapshot: Option<RunningSnapshot>,
    pub master: Option<MasterLink>,
    pub link_gen: u64,
    /// Unix ms since which no replica is connected (repl-backlog-ttl).
    pub no_replicas_since_ms: Option<i64>,
    pub good_replicas: usize,
    /// min-replicas-to-write is not met: writes get -NOREPLICAS.
    pub too_few_good_replicas: bool,
    pub waits: Vec<WaitRequest>,
    pub last_ping_ms: i64,
    pub last_ack_sent_ms: i64,
    pub failover: FailoverState,
    /// Set at start-up: tasks spawned from handlers reach the server here.
    pub shared: Weak<Shared>,
    /// A GETACK is queued for the end of this event-loop turn (WAIT).
    pub getack_pending: bool,
    /// Connections that just became replicas, for their tasks to take over.
    pub handovers: HashMap<ClientId, Handover>,
    pub stats: SyncStats,
}

/// INFO stats: sync_full, sync_partial_ok, sync_partial_err, and the
/// replication traffic (total_net_repl_input_bytes / _output_bytes).
#[derive(Debug, Default, Clone)]
pub struct SyncStats {
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    /// Shared with the link tasks, which count without the lock.
    pub net_repl_in: Arc<std::sync::atomic::AtomicU64>,
    pub net_repl_out: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for ReplState {
    fn default() -> Self {
        ReplState {
            replid: random_hex_id(),
            replid2: NULL_REPLID.to_string(),
            second_offset: -1,
            replicas: IndexMap::new(),
            handshakes: HashMap::new(),
            snapshot: None,
            master: None,
            link_gen: 0,
            no_replicas_since_ms: Some(crate::util::time::now_ms()),
            good_replicas: 0,
            too_few_good_replicas: false,
            waits: Vec::new(),
            last_ping_ms: 0,
            last_ack_sent_ms: 0,
            failover: FailoverState::default(),
            shared: Weak::new(),
            getack_pending: false,
            handovers: HashMap::new(),
            stats: SyncStats::default(),
        }
    }
}

impl std::fmt::Debug for ReplState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplState")
            .field("replid", &self.replid)
            .field("replicas", &self.replicas.len())
            .field("master", &self.master)
            .finish()
    }
}

impl ReplState {
    /// Forgets the previous history (replid2 cleared).
    pub fn clear_replid2(&mut self) {
        self.replid2 = NULL_REPLID.to_string();
        self.second_offset = -1;
    }

    /// Starts a new history, keeping the old one as replid2 so replicas of
    /// it can continue (promotion, PSYNC2).
    pub fn shift_replid(&mut self, offset: u64) {
        self.replid2 = std::mem::replace(&mut self.replid, random_hex_id());
        self.second_offset = offset as i64 + 1;
    }

    pub fn link_up(&self) -> bool {
        self.master
            .as_ref()
            .is_some_and(|m| m.state == LinkState::Connected)
    }
}

/// Setting names with an integer value, read where needed (not hot).
pub fn config_int(st: &ServerState, name: &str, default: i64) -> i64 {
    st.config
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn config_bool(st: &ServerState, name: &str) -> bool {
    st.config.get(name) == Some("yes")
}

/// Creates the backlog (and so starts producing the stream) if missing.
pub fn ensure_backlog(st: &mut ServerState) {
    if st.repl_log.backlog.is_none() {
        let size = config_int(st, "repl-backlog-size", 1 << 20).max(16 * 1024) as usize;
        st.repl_log.backlog = Some(backlog::Backlog::new(size, st.repl_log.offset));
        st.repl_log.active = true;
        // The first command after the backlog exists carries a SELECT.
        st.repl_log.stream_db = None;
    }
}

/// Called by the server cron at every tick.
pub fn cron(st: &mut ServerState) {
    master::cron(st);
    failover::check(st);
    // Whatever the cron produced (expired-key DELs, PINGs) goes out now.
    st.repl_log.flush_replicas();
}

/// Applies CONFIG SET of a replication directive.
pub fn on_config_change(st: &mut ServerState, name: &str) {
    if name == "repl-backlog-size" {
        let size = config_int(st, "repl-backlog-size", 1 << 20).max(16 * 1024) as usize;
        if let Some(b) = &st.repl_log.backlog {
            if b.size() != size {
                st.repl_log.backlog = Some(b.resized(size));
            }
        }
    }
    if name == "min-replicas-to-write" || name == "min-replicas-max-lag" {
        master::refresh_good_replicas(st);
    }
    if name == "client-output-buffer-limit" {
        let (hard, _, _) = master::replica_output_limits(st);
        for r in &mut st.repl_log.replicas {
            r.hard_limit = hard;
        }
    }
}

/// At start-up, after the dump was loaded: restores the replication ids
/// it held and connects to the configured master.
pub fn start_up(st: &mut ServerState, aux: Option<crate::rdb::RdbAux>) {
    let configured = st.config.get("replicaof").unwrap_or("").to_string();
    let master = configured
        .split_once(' ')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)));
    match (master, aux) {
        (Some((host, port)), aux) => {
            let mut cached = false;
            if let Some(aux) = aux.filter(|a| a.repl_id.is_some()) {
                // A replica restarted from its dump continues its history.
                st.repl.replid = aux.repl_id.unwrap_or_default();
                st.repl_log.offset = aux.repl_offset.max(0) as u64;
                cached = true;
                crate::notice!(
                    "Using the replication ID and offset stored in the RDB file: {}:{}",
                    st.repl.replid,
                    st.repl_log.offset
                );
            }
            replica::set_master(st, &host, port);
            if let Some(m) = st.repl.master.as_mut() {
                m.has_master_client = cached;
            }
        }
        (None, Some(aux)) => {
            // A master keeps a fresh id and accepts the old one as replid2,
            // rebasing its offset so caught-up replicas continue.
            if let Some(id) = aux.repl_id {
                let offset = aux.repl_offset.max(0) as u64;
                st.repl.replid2 = id;
                st.repl.second_offset = offset as i64 + 1;
                st.repl_log.offset = offset;
                ensure_backlog(st);
                if let Some(b) = &mut st.repl_log.backlog {
                    b.rebase(offset);
                }
            }
        }
        (None, None) => {}
    }
    master::refresh_good_replicas(st);
}

/// The replication checks of processCommand: READONLY, MASTERDOWN and
/// NOREPLICAS. None when the command may run.
pub fn reject_reason(
    st: &ServerState,
    client: &crate::server::client::ClientState,
    spec: &crate::commands::CommandSpec,
) -> Option<&'static str> {
    use crate::commands::flags;
    if client.is_master_link {
        return None;
    }
    let is_write = crate::server::exec::is_write_call(client, spec);
    if let Some(m) = &st.repl.master {
        if m.state != LinkState::Connected
            && !config_bool(st, "replica-serve-stale-data")
            && !spec.has(flags::STALE)
        {
            return Some(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            );
        }
        if is_write && config_bool(st, "replica-read-only") {
            return Some("READONLY You can't write against a read only replica.");
        }
        return None;
    }
    if is_write && master::too_few_good_replicas(st) {
        return Some("NOREPLICAS Not enough good replicas to write.");
    }
    None
}

/// FAILOVER pauses client writes (and commands that may replicate) until
/// it ends; replicas and our master's stream are never paused.
pub fn write_paused_for(
    st: &ServerState,
    client: &crate::server::client::ClientState,
    spec: &crate::commands::CommandSpec,
) -> bool {
    use crate::commands::flags;
    if !st.repl.failover.active || client.is_master_link || client.is_replica {
        return false;
    }
    crate::server::exec::is_write_call(client, spec) || spec.has(flags::MAY_REPLICATE)
}
