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
}

impl PersistStats {
    pub fn new(now_secs: i64) -> Self {
        PersistStats {
            last_save_time: now_secs,
            saves: 0,
            last_load_keys_loaded: 0,
            last_load_keys_expired: 0,
        }
    }
}

/// SAVE: writes the whole dataset synchronously. The file is written under
/// a temporary name, synced and renamed, so a crash never leaves a partial
/// snapshot under `dbfilename`.
pub fn save(state: &mut ServerState) -> Result<(), String> {
    let target = state.config.settings.dbfilename.clone();
    let temp = format!("temp-{}.rdb", std::process::id());
    let result = write_snapshot(state, Path::new(&temp))
        .map_err(|e| format!("Failed saving the DB to '{temp}': {e}"))
        .and_then(|()| {
            std::fs::rename(&temp, &target).map_err(|e| {
                format!("Error moving temp DB file {temp} on the final destination {target}: {e}")
            })
        });
    match result {
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

fn write_snapshot(state: &ServerState, path: &Path) -> io::Result<()> {
    let file = File::create(path)?;
    let opts = crate::commands::keys::write_options(&state.config);
    let mut writer = RdbWriter::new(file, opts);
    let aux = RdbAux {
        used_mem: crate::alloc::used_memory() as u64,
        ..RdbAux::default()
    };
    writer.begin(&aux)?;
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
    let file = writer.finish()?;
    file.sync_all()
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
    let mut reader = RdbReader::new(file, opts).map_err(|e| e.to_string())?;
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
                state.dbs[k.db].set_entry(&k.key, k.entry);
                loaded += 1;
            }
            RdbItem::FunctionLibrary(_) => {
                return Err(
                    "the file holds function libraries, which this server does not support".into(),
                );
            }
            RdbItem::Aux { .. } | RdbItem::SelectDb(_) | RdbItem::ResizeDb { .. } => {}
        }
    }
    if !announced {
        announce_aux(&reader);
    }
    Ok((loaded, reader.stats().expired_skipped))
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
