//! The append-only file, in Redis 7's multi-part layout: a directory
//! (`appenddirname`) holding a base file (an RDB snapshot, or commands when
//! `aof-use-rdb-preamble no`), incr files with the commands written since,
//! and a manifest naming them.
//!
//! * `manifest.rs`: the manifest format and its atomic replacement.
//! * `writer.rs`: feeding writes, flushing before replies, the fsync policy.
//! * `rewrite.rs`: BGREWRITEAOF (a forked child writes the new base).
//! * `load.rs`: start-up loading, upgrading an old single-file AOF.

pub mod child;
pub mod load;
pub mod manifest;
pub mod rewrite;
pub mod writer;

use std::fs::File;
use std::path::PathBuf;

use manifest::Manifest;
use writer::Fsyncer;

use crate::server::state::ServerState;
use crate::{notice, warning};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AofStatus {
    Off,
    On,
    /// `appendonly yes` was set at run time: on once the first rewrite
    /// has produced the base.
    WaitRewrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    Always,
    EverySec,
    No,
}

/// A forked BGREWRITEAOF child.
#[derive(Debug, Clone, Copy)]
pub struct RewriteChild {
    pub pid: libc::pid_t,
    pub started_ms: i64,
    /// Reads the child's copy-on-write size report.
    pub cow_pipe: libc::c_int,
}

pub struct Aof {
    pub status: AofStatus,
    pub manifest: Manifest,
    /// The incr file being appended to.
    file: Option<File>,
    /// Encoded commands not yet written (aof_buf).
    buf: Vec<u8>,
    /// The database the AOF stream last selected.
    selected_db: Option<usize>,
    pub policy: FsyncPolicy,
    pub timestamp_enabled: bool,
    cur_timestamp: i64,
    pub no_fsync_on_rewrite: bool,
    /// Bytes of the base and incr files (aof_current_size).
    pub current_size: u64,
    /// Size right after the last rewrite (aof_base_size), the reference of
    /// auto-aof-rewrite-percentage.
    pub rewrite_base_size: u64,
    /// Bytes written to the current incr file.
    pub last_incr_size: u64,
    fsync_offset: u64,
    last_fsync_secs: i64,
    fsyncer: Fsyncer,
    pub child: Option<RewriteChild>,
    pub rewrite_scheduled: bool,
    pub last_rewrite_time_sec: i64,
    pub last_bgrewrite_ok: bool,
    pub rewrites: u64,
    pub consecutive_failures: u64,
    pub last_write_ok: bool,
    /// strerror of the last failed write, for the MISCONF reply.
    pub last_write_error: Option<String>,
    last_write_error_log: i64,
    pub delayed_fsync: u64,
    pub last_cow_size: u64,
}

impl Default for Aof {
    fn default() -> Self {
        Aof {
            status: AofStatus::Off,
            manifest: Manifest::default(),
            file: None,
            buf: Vec::new(),
            selected_db: None,
            policy: FsyncPolicy::EverySec,
            timestamp_enabled: false,
            cur_timestamp: 0,
            no_fsync_on_rewrite: false,
            current_size: 0,
            rewrite_base_size: 0,
            last_incr_size: 0,
            fsync_offset: 0,
            last_fsync_secs: 0,
            fsyncer: Fsyncer::default(),
            child: None,
            rewrite_scheduled: false,
            last_rewrite_time_sec: -1,
            last_bgrewrite_ok: true,
            rewrites: 0,
            consecutive_failures: 0,
            last_write_ok: true,
            last_write_error: None,
            last_write_error_log: 0,
            delayed_fsync: 0,
            last_cow_size: 0,
        }
    }
}

/// The file-related settings, read from the configuration when needed.
pub struct Names {
    pub filename: String,
    pub dir: PathBuf,
}

pub fn names(state: &ServerState) -> Names {
    let get = |k: &str, d: &str| state.config.get(k).unwrap_or(d).to_string();
    Names {
        filename: get("appendfilename", "appendonly.aof"),
        dir: PathBuf::from(get("appenddirname", "appendonlydir")),
    }
}

fn config_yes(state: &ServerState, name: &str) -> bool {
    state.config.get(name) == Some("yes")
}

fn config_int(state: &ServerState, name: &str) -> i64 {
    state
        .config
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Re-reads the hot settings (CONFIG SET takes effect at the next tick).
pub fn refresh_settings(state: &mut ServerState) {
    let policy = match state.config.get("appendfsync") {
        Some("always") => FsyncPolicy::Always,
        Some("no") => FsyncPolicy::No,
        _ => FsyncPolicy::EverySec,
    };
    let timestamps = config_yes(state, "aof-timestamp-enabled");
    let no_fsync = config_yes(state, "no-appendfsync-on-rewrite");
    let aof = &mut state.aof;
    aof.policy = policy;
    aof.timestamp_enabled = timestamps;
    aof.no_fsync_on_rewrite = no_fsync;
}

/// Whether any fork child (BGSAVE, a full-sync snapshot for replicas, or
/// an AOF rewrite) is running: Redis runs one at a time, so a rewrite
/// waits (is scheduled) while another child runs.
pub fn has_active_child(state: &ServerState) -> bool {
    state.persist.child.is_some() || state.aof.child.is_some() || state.repl.snapshot.is_some()
}

/// Before a batch's replies are written (Redis's beforeSleep): write the
/// AOF buffer, and with `appendfsync always` fsync it, so an acknowledged
/// write is on disk.
pub fn flush_before_reply(state: &mut ServerState) {
    if state.aof.buf.is_empty() {
        return;
    }
    let child = has_active_child(state);
    state.aof.flush(crate::util::time::now_ms() / 1000, child);
}

/// The MISCONF error for a failed AOF write, if writes must be refused.
pub fn write_error(state: &ServerState) -> Option<String> {
    if state.aof.status == AofStatus::Off || state.aof.last_write_ok {
        return None;
    }
    let reason = state
        .aof
        .last_write_error
        .clone()
        .unwrap_or_else(|| "Unknown error".into());
    Some(format!("MISCONF Errors writing to the AOF file: {reason}"))
}

/// CONFIG SET appendonly yes: starts the rewrite that writes the base
/// (scheduled if another child runs or inside MULTI), as startAppendOnly.
pub fn start(state: &mut ServerState, in_exec: bool) -> Result<(), String> {
    refresh_settings(state);
    state.aof.status = AofStatus::WaitRewrite;
    if state.persist.child.is_some() || state.repl.snapshot.is_some() {
        state.aof.rewrite_scheduled = true;
        warning!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
    } else if in_exec {
        state.aof.rewrite_scheduled = true;
        warning!("AOF was enabled during a transaction. An AOF background was scheduled to start when possible.");
    } else {
        if state.aof.child.is_some() {
            warning!("AOF was enabled but there is already an AOF rewriting in background. Stopping background AOF and starting a rewrite now.");
            rewrite::kill_child(state);
        }
        if let Err(e) = rewrite::start_background(state) {
            state.aof.status = AofStatus::Off;
            warning!("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error.");
            return Err(e);
        }
    }
    state.aof.last_fsync_secs = crate::util::time::now_ms() / 1000;
    if !state.aof.last_write_ok {
        warning!("AOF reopen, just ignore the last error.");
        state.aof.last_write_ok = true;
        state.aof.last_write_error = None;
    }
    Ok(())
}

/// CONFIG SET appendonly no: flush, sync and close, stop a rewrite.
pub fn stop(state: &mut ServerState) {
    let now = crate::util::time::now_ms() / 1000;
    state.aof.flush_and_sync(now);
    state.aof.file = None;
    state.aof.selected_db = None;
    state.aof.status = AofStatus::Off;
    state.aof.rewrite_scheduled = false;
    state.aof.last_incr_size = 0;
    rewrite::kill_child(state);
    state.aof.buf.clear();
}

/// At shutdown: stop a rewrite child, write and sync what is buffered.
pub fn on_shutdown(state: &mut ServerState) {
    if state.aof.child.is_some() {
        warning!("There is a child rewriting the AOF. Killing it!");
        rewrite::kill_child(state);
    }
    if state.aof.status != AofStatus::Off {
        notice!("Calling fsync() on the AOF file.");
        state.aof.flush_and_sync(crate::util::time::now_ms() / 1000);
    }
}

/// The cron's part: settings, buffered writes, the everysec fsync, a
/// finished rewrite child, scheduled and automatic rewrites.
pub fn cron(state: &mut ServerState) {
    refresh_settings(state);
    rewrite::check_child_done(state);
    let child = has_active_child(state);
    if state.aof.accepts_writes() {
        state.aof.flush(crate::util::time::now_ms() / 1000, child);
    }
    if child {
        return;
    }
    if state.aof.rewrite_scheduled {
        let _ = rewrite::start_background(state);
        return;
    }
    if state.aof.status == AofStatus::On && auto_rewrite_due(state) {
        let base = state.aof.rewrite_base_size.max(1);
        let growth = (state.aof.current_size * 100 / base).saturating_sub(100);
        notice!("Starting automatic rewriting of AOF on {growth}% growth");
        let _ = rewrite::start_background(state);
    }
}

/// auto-aof-rewrite-percentage / -min-size, as serverCron checks them.
fn auto_rewrite_due(state: &ServerState) -> bool {
    let pct = config_int(state, "auto-aof-rewrite-percentage");
    let min_size = config_int(state, "auto-aof-rewrite-min-size").max(0) as u64;
    if pct <= 0 || state.aof.current_size <= min_size {
        return false;
    }
    if state.aof.consecutive_failures >= 3 {
        // Redis backs off after repeated failures; BGREWRITEAOF still works.
        return false;
    }
    let base = state.aof.rewrite_base_size.max(1);
    let growth = (state.aof.current_size * 100 / base) as i64 - 100;
    growth >= pct
}

/// INFO (name, value) pairs.
pub type InfoFields = Vec<(&'static str, String)>;

/// The AOF part of INFO persistence, in Redis 7.0's order. `more` gets the
/// fields Redis adds only when the AOF is on.
pub fn info_fields(state: &ServerState) -> (InfoFields, InfoFields) {
    let aof = &state.aof;
    let now_ms = crate::util::time::now_ms();
    let current = aof.child.map_or(-1, |c| (now_ms - c.started_ms) / 1000);
    let ok = |b: bool| if b { "ok" } else { "err" }.to_string();
    let base = vec![
        (
            "aof_enabled",
            u8::from(aof.status != AofStatus::Off).to_string(),
        ),
        (
            "aof_rewrite_in_progress",
            u8::from(aof.child.is_some()).to_string(),
        ),
        (
            "aof_rewrite_scheduled",
            u8::from(aof.rewrite_scheduled).to_string(),
        ),
        (
            "aof_last_rewrite_time_sec",
            aof.last_rewrite_time_sec.to_string(),
        ),
        ("aof_current_rewrite_time_sec", current.to_string()),
        ("aof_last_bgrewrite_status", ok(aof.last_bgrewrite_ok)),
        ("aof_rewrites", aof.rewrites.to_string()),
        (
            "aof_rewrites_consecutive_failures",
            aof.consecutive_failures.to_string(),
        ),
        ("aof_last_write_status", ok(aof.last_write_ok)),
        ("aof_last_cow_size", aof.last_cow_size.to_string()),
        ("module_fork_in_progress", "0".into()),
        ("module_fork_last_cow_size", "0".into()),
    ];
    let mut more = Vec::new();
    if aof.status != AofStatus::Off {
        more = vec![
            ("aof_current_size", aof.current_size.to_string()),
            ("aof_base_size", aof.rewrite_base_size.to_string()),
            (
                "aof_pending_rewrite",
                u8::from(aof.rewrite_scheduled).to_string(),
            ),
            ("aof_buffer_length", aof.buf.len().to_string()),
            ("aof_pending_bio_fsync", aof.fsyncer.pending().to_string()),
            ("aof_delayed_fsync", aof.delayed_fsync.to_string()),
        ];
    }
    (base, more)
}
