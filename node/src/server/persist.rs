//! RDB snapshots on disk: SAVE (and SHUTDOWN SAVE) writes `dbfilename` in
//! the working directory (the server has already moved into `dir`), and
//! start-up loads it before any client is accepted.

use std::fs::File;
use std::io;
use std::path::Path;

use super::state::ServerState;
use crate::rdb::{KeyMeta, LoadOptions, RdbAux, RdbItem, RdbReader, RdbWriter};
use crate::{notice, warning};

/// Outcome bookkeeping of saves and loads (INFO persistence, LASTSAVE).
#[derive(Debug, Clone, Copy)]
pub struct PersistStats {
    /// Unix seconds of the last successful save; start-up counts as one.
    pub last_save_time: i64,
    pub saves: u64,
    pub last_load_keys_loaded: u64,
    pub last_load_keys_expired: u64,
    /// The BGSAVE child running now, if any.
    pub child: Option<BgChild>,
    /// BGSAVE SCHEDULE arrived while a save was running: start one after.
    pub bgsave_scheduled: bool,
    /// Outcome of the last background save (rdb_last_bgsave_status).
    pub last_bgsave_ok: bool,
    /// Duration of the last background save, -1 before the first.
    pub last_bgsave_time_sec: i64,
    /// Unix seconds of the last BGSAVE attempt, successful or not: after a
    /// failure, save points wait a few seconds before retrying.
    pub last_bgsave_try: i64,
    /// Copy-on-write bytes the last successful BGSAVE child reported
    /// (rdb_last_cow_size).
    pub last_cow_size: u64,
    /// (child pid, read end of its report pipe).
    pub cow_pipe: Option<(libc::pid_t, libc::c_int)>,
}

/// A forked snapshot writer.
#[derive(Debug, Clone, Copy)]
pub struct BgChild {
    pub pid: libc::pid_t,
    /// `dirty` when the child was forked: the changes the snapshot covers.
    pub dirty_at_fork: u64,
    pub started_ms: i64,
}

impl PersistStats {
    pub fn new(now_secs: i64) -> Self {
        PersistStats {
            last_save_time: now_secs,
            saves: 0,
            last_load_keys_loaded: 0,
            last_load_keys_expired: 0,
            child: None,
            bgsave_scheduled: false,
            last_bgsave_ok: true,
            last_bgsave_time_sec: -1,
            last_bgsave_try: 0,
            last_cow_size: 0,
            cow_pipe: None,
        }
    }
}

/// SAVE: writes the whole dataset synchronously. The file is written under
/// a temporary name, synced and renamed, so a crash never leaves a partial
/// snapshot under `dbfilename`.
pub fn save(state: &mut ServerState) -> Result<(), String> {
    let temp = format!("temp-{}.rdb", std::process::id());
    match write_and_rename(state, &temp) {
        Ok(()) => {
            notice!("DB saved on disk");
            state.dirty = 0;
            state.persist.last_save_time = crate::util::time::now_ms() / 1000;
            state.persist.saves += 1;
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            // A failed synchronous save leaves rdb_last_bgsave_status alone,
            // as in Redis (only background saves set it).
            warning!("{e}");
            Err(e)
        }
    }
}

/// Writes the snapshot to `temp`, then renames it over `dbfilename`. Takes
/// no lock and logs nothing, so a forked child may call it.
fn write_and_rename(state: &ServerState, temp: &str) -> Result<(), String> {
    let target = &state.config.settings.dbfilename;
    write_snapshot(state, Path::new(temp))
        .map_err(|e| format!("Failed saving the DB to '{temp}': {e}"))?;
    std::fs::rename(temp, target).map_err(|e| {
        format!("Error moving temp DB file {temp} on the final destination {target}: {e}")
    })
}

/// Whether a background save is running (SAVE and BGSAVE refuse then).
pub fn bgsave_in_progress(state: &ServerState) -> bool {
    state.persist.child.is_some()
}

/// BGSAVE: forks while the caller holds the state lock, so the child's copy
/// of memory is a consistent point-in-time image of the dataset; the child
/// writes it to disk while the parent keeps serving clients.
pub fn bgsave(state: &mut ServerState) -> Result<(), String> {
    state.persist.last_bgsave_try = crate::util::time::now_ms() / 1000;
    let report = crate::aof::child::report_pipe();
    // SAFETY: fork has no memory-safety preconditions; the child only runs
    // `child_main`, which ends in `_exit` without returning.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        child_main(state, report[1]);
    }
    if report[1] >= 0 {
        // SAFETY: our copy of the child's write end.
        unsafe { libc::close(report[1]) };
    }
    if pid < 0 {
        crate::aof::child::close_fds(&[report[0], -1]);
    } else {
        state.persist.cow_pipe = Some((pid, report[0]));
    }
    if pid < 0 {
        let e = io::Error::last_os_error();
        state.persist.last_bgsave_ok = false;
        warning!("Can't save in background: fork: {e}");
        return Err(format!("Can't save in background: fork: {e}"));
    }
    notice!("Background saving started by pid {pid}");
    // Redis counts a background save when it starts (stat_rdb_saves).
    state.persist.saves += 1;
    state.persist.child = Some(BgChild {
        pid,
        dirty_at_fork: state.dirty,
        started_ms: crate::util::time::now_ms(),
    });
    Ok(())
}

/// The forked child. Other threads of the parent do not exist here and may
/// have held locks (the logger's, tokio's) at fork time, so this takes none
/// of them: it writes the file from the image it inherited and exits
/// without running destructors or atexit handlers.
fn child_main(state: &ServerState, report_fd: libc::c_int) -> ! {
    // Everything but the report pipe: above all the listening sockets,
    // which would otherwise keep the port busy if the parent died.
    crate::aof::child::close_inherited_fds_except(report_fd);
    // SAFETY: getpid and _exit are async-signal-safe and always succeed.
    let pid = unsafe { libc::getpid() };
    let temp = format!("temp-{pid}.rdb");
    let code = match write_and_rename(state, &temp) {
        Ok(()) => {
            crate::aof::child::report_cow_size(report_fd);
            0
        }
        Err(_) => {
            let _ = std::fs::remove_file(&temp);
            1
        }
    };
    unsafe { libc::_exit(code) }
}

/// Called from the cron: reaps a finished child and records the outcome.
pub fn check_child_done(state: &mut ServerState) {
    let Some(child) = state.persist.child else {
        return;
    };
    let mut status: libc::c_int = 0;
    // SAFETY: waitpid only writes the status into our local.
    let r = unsafe { libc::waitpid(child.pid, &mut status, libc::WNOHANG) };
    if r == 0 {
        return;
    }
    state.persist.child = None;
    let now_ms = crate::util::time::now_ms();
    state.persist.last_bgsave_time_sec = (now_ms - child.started_ms) / 1000;
    let exited_ok = r == child.pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let cow = take_cow_report(state, child.pid);
    if exited_ok {
        notice!("Background saving terminated with success");
        if let Some(cow) = cow {
            state.persist.last_cow_size = cow;
            log_cow("RDB", cow);
        }
        state.dirty = state.dirty.saturating_sub(child.dirty_at_fork);
        state.persist.last_save_time = now_ms / 1000;
        state.persist.last_bgsave_ok = true;
    } else {
        if r == child.pid && libc::WIFSIGNALED(status) {
            warning!(
                "Background saving terminated by signal {}",
                libc::WTERMSIG(status)
            );
        } else {
            warning!("Background saving error");
        }
        let _ = std::fs::remove_file(format!("temp-{}.rdb", child.pid));
        state.persist.last_bgsave_ok = false;
    }
}

/// Redis's report of a child's copy-on-write memory (one sample here, so
/// current, peak and average are the same).
pub fn log_cow(what: &str, bytes: u64) {
    if bytes > 0 {
        let mb = bytes >> 20;
        notice!("Fork CoW for {what}: current {mb} MB, peak {mb} MB, average {mb} MB");
    }
}

/// The copy-on-write size the child `pid` reported, closing its pipe.
fn take_cow_report(state: &mut ServerState, pid: libc::pid_t) -> Option<u64> {
    match state.persist.cow_pipe.take() {
        Some((p, fd)) if p == pid => crate::aof::child::read_cow_size(fd),
        Some((_, fd)) => {
            crate::aof::child::close_fds(&[fd, -1]);
            None
        }
        None => None,
    }
}

/// Stops a running BGSAVE child (FLUSHALL, a synchronous final save) and
/// removes its temporary file.
pub fn kill_child(state: &mut ServerState) {
    let Some(child) = state.persist.child.take() else {
        return;
    };
    // SAFETY: plain syscalls on a pid we forked and have not reaped yet.
    unsafe {
        libc::kill(child.pid, libc::SIGKILL);
        let mut status = 0;
        libc::waitpid(child.pid, &mut status, 0);
    }
    let _ = take_cow_report(state, child.pid);
    let _ = std::fs::remove_file(format!("temp-{}.rdb", child.pid));
}

/// At shutdown: a child's snapshot would be older than the final one.
pub fn kill_child_for_shutdown(state: &mut ServerState) {
    if bgsave_in_progress(state) {
        warning!("There is a child saving an .rdb. Killing it!");
        kill_child(state);
    }
}

/// The `save` directive as (seconds, changes) points.
pub fn save_points(state: &ServerState) -> Vec<(i64, u64)> {
    parse_save_points(state.config.get("save").unwrap_or(""))
}

fn parse_save_points(value: &str) -> Vec<(i64, u64)> {
    let numbers: Vec<&str> = value.split_whitespace().collect();
    numbers
        .chunks_exact(2)
        .filter_map(|p| Some((p[0].parse().ok()?, p[1].parse().ok()?)))
        .collect()
}

/// Seconds Redis waits after a failed BGSAVE before a save point retries.
const BGSAVE_RETRY_DELAY: i64 = 5;

/// The cron's part: finish a completed child, run a scheduled BGSAVE, or
/// start one when a save point is reached (as serverCron does).
pub fn cron(state: &mut ServerState) {
    check_child_done(state);
    // One fork child at a time: an AOF rewrite also holds off BGSAVE.
    if bgsave_in_progress(state) || state.aof.child.is_some() {
        return;
    }
    if state.persist.bgsave_scheduled {
        state.persist.bgsave_scheduled = false;
        let _ = bgsave(state);
        return;
    }
    let now = crate::util::time::now_ms() / 1000;
    let since_save = now - state.persist.last_save_time;
    let can_retry =
        state.persist.last_bgsave_ok || now - state.persist.last_bgsave_try > BGSAVE_RETRY_DELAY;
    let point = save_points(state)
        .into_iter()
        .find(|&(secs, changes)| state.dirty >= changes && since_save > secs);
    if let (Some((secs, changes)), true) = (point, can_retry) {
        notice!("{changes} changes in {secs} seconds. Saving...");
        let _ = bgsave(state);
    }
}

fn write_snapshot(state: &ServerState, path: &Path) -> io::Result<()> {
    write_snapshot_as(state, path, false)
}

/// An AOF base file in RDB format (`aof-use-rdb-preamble yes`): the same
/// snapshot, marked with the `aof-base` AUX field as Redis marks it.
pub fn write_aof_base_rdb(state: &ServerState, path: &Path) -> io::Result<()> {
    write_snapshot_as(state, path, true)
}

fn write_snapshot_as(state: &ServerState, path: &Path, aof_base: bool) -> io::Result<()> {
    // An AOF base carries no replication fields (Redis saves it without
    // replication info).
    let base = if aof_base {
        RdbAux::default()
    } else {
        repl_aux(state)
    };
    let aux = RdbAux {
        used_mem: crate::alloc::used_memory() as u64,
        aof_base,
        ..base
    };
    let file = write_rdb_to(state, File::create(path)?, &aux)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::parse_save_points;

    #[test]
    fn save_points_parse_pairs() {
        assert_eq!(
            parse_save_points("3600 1 300 100"),
            vec![(3600, 1), (300, 100)]
        );
        assert!(parse_save_points("").is_empty());
    }
}

/// Which per-key access record the maxmemory policy makes Redis save.
#[derive(Clone, Copy)]
enum AccessPolicy {
    None,
    Lru,
    Lfu { decay_minutes: u64 },
}

impl AccessPolicy {
    fn of(state: &ServerState) -> Self {
        let policy = state.config.get("maxmemory-policy").unwrap_or("");
        if policy.contains("lfu") {
            let decay_minutes = state
                .config
                .get("lfu-decay-time")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            AccessPolicy::Lfu { decay_minutes }
        } else if policy.contains("lru") {
            AccessPolicy::Lru
        } else {
            AccessPolicy::None
        }
    }
}

/// IDLE seconds under an LRU policy, the decayed FREQ counter under LFU.
fn access_meta(entry: &crate::db::Entry, policy: AccessPolicy) -> KeyMeta {
    match policy {
        AccessPolicy::None => KeyMeta::default(),
        AccessPolicy::Lru => KeyMeta {
            idle_secs: Some(u64::from(crate::db::lru_clock().wrapping_sub(entry.lru))),
            lfu_freq: None,
        },
        AccessPolicy::Lfu { decay_minutes } => {
            let minutes = (crate::util::time::now_ms() / 60_000) as u64;
            let counter =
                crate::commands::keys::lfu_decayed_counter(entry.lru, minutes, decay_minutes);
            KeyMeta {
                idle_secs: None,
                lfu_freq: Some(counter.min(255) as u8),
            }
        }
    }
}

/// Loads `dbfilename` if it exists. Any decoding problem is fatal: the
/// error names the file and the reason, and nothing partial is kept.
pub fn load_at_startup(state: &mut ServerState) -> Result<(), String> {
    let name = state.config.settings.dbfilename.clone();
    let file = match File::open(&name) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(format!(
                "Fatal error loading the DB ({name}): {e}. Exiting."
            ))
        }
    };
    let started = std::time::Instant::now();
    state.loading = true;
    let result = load_from(state, file);
    state.loading = false;
    match result {
        Ok((loaded, expired)) => {
            notice!("Done loading RDB, keys loaded: {loaded}, keys expired: {expired}.");
            notice!(
                "DB loaded from disk: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
            state.persist.last_load_keys_loaded = loaded;
            state.persist.last_load_keys_expired = expired;
            Ok(())
        }
        Err(reason) => {
            for db in &mut state.dbs {
                db.clear();
            }
            Err(format!(
                "Fatal error loading the DB ({name}): {reason}. Exiting."
            ))
        }
    }
}

/// Reads every key into the databases; returns (loaded, expired-skipped).
fn load_from(state: &mut ServerState, file: File) -> Result<(u64, u64), String> {
    load_rdb_reader(state, file).map(|(loaded, expired, _, _)| (loaded, expired))
}

/// The most keys a RESIZEDB hint reserves room for.
const RESIZE_HINT_CAP: u64 = 1 << 20;

/// Loads an RDB image from `input` (a snapshot, or an AOF base / preamble)
/// and gives back the reader with the bytes it buffered past the RDB's
/// end, where an old-style AOF continues with commands.
pub fn load_rdb_reader<R: io::Read>(
    state: &mut ServerState,
    input: R,
) -> Result<(u64, u64, R, Vec<u8>), String> {
    let is_replica = state.is_replica();
    let opts = LoadOptions {
        limits: state.config.settings.encoding,
        // A master drops keys that expired while it was down; a replica
        // waits for its master's DEL.
        drop_expired: !is_replica,
        now_ms: crate::util::time::now_ms(),
        databases: state.dbs.len(),
        verify_checksum: state.config.get("rdbchecksum").is_none_or(|v| v != "no"),
    };
    let lfu = state
        .config
        .get("maxmemory-policy")
        .is_some_and(|p| p.contains("lfu"));
    let mut reader = RdbReader::new(input, opts).map_err(|e| e.to_string())?;
    let mut loaded = 0;
    let mut announced = false;
    while let Some(item) = reader.next_item().map_err(|e| e.to_string())? {
        if !announced && !matches!(item, RdbItem::Aux { .. }) {
            announce_aux(&reader);
            announced = true;
        }
        match item {
            RdbItem::Key(mut k) => {
                apply_access_metadata(&mut k, lfu);
                state.dbs[k.db].insert_loaded(&k.key, k.entry);
                loaded += 1;
            }
            RdbItem::FunctionLibrary(_) => {
                return Err(
                    "the file holds function libraries, which this server does not support".into(),
                );
            }
            RdbItem::ResizeDb { keys, .. } => {
                // Sized up front instead of rehashing while growing; capped
                // so a forged count cannot reserve much memory.
                let db = reader.current_db();
                if let Some(d) = state.dbs.get_mut(db) {
                    d.reserve(keys.min(RESIZE_HINT_CAP) as usize);
                }
            }
            RdbItem::Aux { .. } | RdbItem::SelectDb(_) => {}
        }
    }
    if !announced {
        announce_aux(&reader);
    }
    let expired = reader.stats().expired_skipped;
    let (input, rest) = reader.into_parts();
    Ok((loaded, expired, input, rest))
}

/// The IDLE / FREQ records of a key, applied as Redis does at load: the
/// frequency under an LFU policy, the idle time otherwise.
fn apply_access_metadata(key: &mut crate::rdb::LoadedKey, lfu: bool) {
    if lfu {
        if let Some(freq) = key.lfu_freq {
            let minutes = (crate::util::time::now_ms() / 60_000) as u32 & 0xffff;
            key.entry.lru = (minutes << 8) | u32::from(freq);
        }
    } else if let Some(idle) = key.idle_secs {
        let idle = idle.min(u64::from(u32::MAX)) as u32;
        key.entry.lru = crate::db::lru_clock().wrapping_sub(idle);
    }
}

/// Logs what the AUX header says, once it has been read (at the first item
/// that is not an AUX field).
fn announce_aux<R: io::Read>(reader: &RdbReader<R>) {
    let aux = reader.aux();
    notice!("Loading RDB produced by version {}", aux.redis_ver);
    let age = crate::util::time::now_ms() / 1000 - aux.ctime;
    notice!("RDB age {age} seconds");
    notice!(
        "RDB memory usage when created {:.2} Mb",
        aux.used_mem as f64 / (1024.0 * 1024.0)
    );
}

/// The repl-id / repl-offset / repl-stream-db AUX fields, written when the
/// server is a replica or a master with a backlog, so a restart can resume
/// the same replication history.
pub fn repl_aux(state: &ServerState) -> RdbAux {
    let mut aux = RdbAux::default();
    let is_replica = state.repl.master.is_some();
    if is_replica || state.repl_log.backlog.is_some() {
        aux.repl_id = Some(state.repl.replid.clone());
        aux.repl_offset = state.repl_log.offset as i64;
        aux.repl_stream_db = match &state.repl.master {
            Some(m) => m.stream_db as i64,
            None => state.repl_log.stream_db.unwrap_or(0) as i64,
        };
    }
    aux
}

/// Writes a whole snapshot to any writer (a pipe to replicas) with the
/// given AUX fields. Takes no lock and logs nothing: a forked child calls it.
pub fn write_rdb_to<W: io::Write>(state: &ServerState, out: W, aux: &RdbAux) -> io::Result<W> {
    let opts = crate::commands::keys::write_options(&state.config);
    let mut writer = RdbWriter::new(out, opts);
    writer.begin(aux)?;
    let policy = AccessPolicy::of(state);
    for (index, db) in state.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        writer.select_db(index, db.len() as u64, db.volatile_len() as u64)?;
        for (key, entry) in db.iter_live() {
            writer.write_entry_with_meta(key, entry, access_meta(entry, policy))?;
        }
    }
    writer.finish()
}

/// The replication ids found in the dump loaded at start-up, if any.
pub fn load_repl_aux(state: &ServerState) -> Option<RdbAux> {
    let file = File::open(&state.config.settings.dbfilename).ok()?;
    let mut reader = RdbReader::new(file, LoadOptions::default()).ok()?;
    // The AUX fields come first: read up to the first other item.
    while let Ok(Some(RdbItem::Aux { .. })) = reader.next_item() {}
    let aux = reader.aux();
    aux.repl_id.is_some().then_some(aux)
}
