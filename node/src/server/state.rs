//! Everything the server shares between connections, behind one lock.
//!
//! A connection parses every complete command in its read buffer, takes this
//! lock once, runs the batch (appending writes to the write log in the same
//! critical section, so the log order is the execution order), releases it
//! and then writes the replies. Parsing and socket I/O run outside the lock,
//! so both cores do useful work.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::blocking::BlockedRegistry;
use super::client::{ClientId, ClientRegistry};
use super::pubsub::PubSubRegistry;
use super::repl_log::ReplLog;
use crate::config::Config;
use crate::db::{CompactBytes, Db};

/// Per-command call statistics (INFO commandstats).
#[derive(Debug, Default, Clone, Copy)]
pub struct CommandStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

/// One SLOWLOG entry.
#[derive(Debug, Clone)]
pub struct SlowlogEntry {
    pub id: u64,
    pub time_secs: i64,
    pub duration_us: u64,
    pub args: Vec<bytes::Bytes>,
    pub peer: String,
    pub name: Vec<u8>,
}

/// Latency spikes per event (LATENCY LATEST/HISTORY).
#[derive(Debug, Default, Clone)]
pub struct LatencyEvent {
    /// (unix seconds, latency ms), most recent last, at most 160 samples.
    pub samples: VecDeque<(i64, u64)>,
    pub max_ms: u64,
}

/// Server-wide counters (INFO stats).
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub total_connections_received: u64,
    pub total_commands_processed: u64,
    pub rejected_connections: u64,
    pub evicted_keys: u64,
    pub expired_stale_perc: f64,
    pub total_error_replies: u64,
    pub unexpected_error_replies: u64,
    pub error_counts: HashMap<String, u64>,
    /// (unix ms, commands processed) samples for instantaneous_ops_per_sec.
    pub ops_samples: VecDeque<(i64, u64)>,
    pub net_in_samples: VecDeque<(i64, u64)>,
    pub net_out_samples: VecDeque<(i64, u64)>,
    /// Network byte totals at the last CONFIG RESETSTAT (INFO subtracts them).
    pub net_input_bytes_base: u64,
    pub net_output_bytes_base: u64,
}

/// Why and how the server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownRequest {
    pub save: Option<bool>,
    pub now: bool,
    pub force: bool,
}

pub struct ServerState {
    pub dbs: Vec<Db>,
    pub config: Config,
    pub clients: ClientRegistry,
    pub pubsub: PubSubRegistry,
    /// (db, key) → clients watching it.
    pub watched: HashMap<(usize, CompactBytes), Vec<ClientId>>,
    pub blocked: BlockedRegistry,
    pub repl_log: ReplLog,
    pub stats: Stats,
    /// Changes since the last save (rdb_changes_since_last_save).
    pub dirty: u64,
    pub command_stats: HashMap<&'static str, CommandStat, ahash::RandomState>,
    pub slowlog: VecDeque<SlowlogEntry>,
    pub slowlog_next_id: u64,
    pub latency: HashMap<&'static str, LatencyEvent>,
    pub monitors: Vec<ClientId>,
    pub run_id: String,
    pub start_time_ms: i64,
    pub executable: String,
    pub config_file: String,
    pub tcp_port: u16,
    pub shutdown: Option<ShutdownRequest>,
    /// Signalled when `shutdown` is set, so the main task stops at once.
    pub shutdown_notify: Arc<Notify>,
    /// DEBUG SET-ACTIVE-EXPIRE: whether the cron deletes expired keys.
    pub active_expire_enabled: bool,
    /// True while a dataset is being loaded (-LOADING replies).
    pub loading: bool,
    /// Snapshot saves and loads (LASTSAVE, INFO persistence).
    pub persist: super::persist::PersistStats,
    /// Writes made by the commands of the EXEC in progress.
    pub pending_exec_ops: Vec<(usize, super::repl_log::Argv)>,
    /// Replication: ids, replicas, the link to our master.
    pub repl: crate::replication::ReplState,
    /// The append-only file (appendonly, BGREWRITEAOF).
    pub aof: crate::aof::Aof,
}

impl ServerState {
    pub fn new(config: Config) -> Self {
        let databases = config.settings.databases;
        ServerState {
            dbs: (0..databases).map(Db::new).collect(),
            tcp_port: config.settings.port,
            config,
            clients: ClientRegistry::default(),
            pubsub: PubSubRegistry::default(),
            watched: HashMap::new(),
            blocked: BlockedRegistry::default(),
            repl_log: ReplLog::default(),
            stats: Stats::default(),
            dirty: 0,
            command_stats: HashMap::default(),
            slowlog: VecDeque::new(),
            slowlog_next_id: 0,
            latency: HashMap::new(),
            monitors: Vec::new(),
            run_id: random_hex_id(),
            start_time_ms: crate::util::time::now_ms(),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            config_file: String::new(),
            shutdown: None,
            shutdown_notify: Arc::new(Notify::new()),
            active_expire_enabled: true,
            loading: false,
            pending_exec_ops: Vec::new(),
            repl: crate::replication::ReplState::default(),
            aof: crate::aof::Aof::default(),
            // Redis counts the start-up as a save.
            persist: super::persist::PersistStats::new(crate::util::time::now_ms() / 1000),
        }
    }

    /// Marks clients watching (db, key) so their EXEC fails, and wakes
    /// clients blocked on it.
    pub fn signal_modified_key(&mut self, db: usize, key: &[u8]) {
        if !self.watched.is_empty() {
            if let Some(ids) = self.watched.get(&(db, CompactBytes::new(key))) {
                for id in ids.clone() {
                    if let Some(c) = self.clients.get_mut(id) {
                        c.dirty_cas = true;
                    }
                }
            }
        }
        self.blocked.signal_key(db, key);
    }

    /// FLUSHDB/FLUSHALL/SWAPDB: every watcher of a key in `db` is invalidated
    /// (when `only_existing`, only watchers of keys that exist).
    pub fn signal_all_watched_in_db(&mut self, db: usize) {
        let ids: Vec<ClientId> = self
            .watched
            .iter()
            .filter(|((d, _), _)| *d == db)
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect();
        for id in ids {
            if let Some(c) = self.clients.get_mut(id) {
                c.dirty_cas = true;
            }
        }
    }

    /// True when this server replicates from a master (replicaof set).
    pub fn is_replica(&self) -> bool {
        self.config.get("replicaof").is_some_and(|v| !v.is_empty())
    }

    pub fn set_now(&mut self, now_ms: i64) {
        // The LFU mode follows maxmemory-policy (databases may be replaced
        // by FLUSHALL ASYNC, so it is refreshed with the clock).
        let lfu = self.config.settings.lfu_params();
        for db in &mut self.dbs {
            db.now_ms = now_ms;
            db.lfu = lfu;
        }
    }
}

/// 40 random hex characters (run ids, replication ids).
pub fn random_hex_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// What connection tasks and background tasks share.
pub struct Shared {
    pub state: Mutex<ServerState>,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    /// Set once the server is shutting down; listeners and tasks stop.
    pub stopping: AtomicBool,
    pub stop_notify: Notify,
}

impl Shared {
    pub fn new(state: ServerState) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(state),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            stop_notify: Notify::new(),
        })
    }
}
