//! Memory measurement (INFO memory, MEMORY STATS) and the MEMORY command.

use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use super::subcommands::{reply_help, resolve};
use crate::commands::args::{eq_ic, int};
use crate::commands::{CmdError, CmdResult};
use crate::db::{Entry, Value};
use crate::server::context::Ctx;
use crate::server::state::ServerState;

/// Live heap bytes, from the counting global allocator (`crate::alloc`).
/// Where it is not installed (library unit tests) the resident set size
/// stands in.
pub fn allocated_bytes() -> u64 {
    match crate::alloc::used_memory() {
        0 => rss_bytes(),
        n => n as u64,
    }
}

pub fn rss_bytes() -> u64 {
    crate::alloc::rss_bytes() as u64
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

pub fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    if pages > 0 {
        pages as u64 * page_size()
    } else {
        0
    }
}

/// The highest memory use seen (the allocator tracks it; `used` covers
/// the fallback measurement).
pub fn note_peak(used: u64) -> u64 {
    (crate::alloc::peak_memory() as u64).max(used)
}

/// Memory in use the first time it was measured, standing in for Redis's
/// used_memory_startup (measured right after start-up there).
pub fn startup_bytes(used: u64) -> u64 {
    static STARTUP: OnceLock<u64> = OnceLock::new();
    *STARTUP.get_or_init(|| used)
}

/// Redis's bytesToHuman: 1023B, 1.50K, 2.00M, ...
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(f64, &str); 5] = [
        (1024.0, "K"),
        (1024.0 * 1024.0, "M"),
        (1024.0 * 1024.0 * 1024.0, "G"),
        (1024.0 * 1024.0 * 1024.0 * 1024.0, "T"),
        (1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0, "P"),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    let v = n as f64;
    for (i, (div, unit)) in UNITS.iter().enumerate() {
        let next = UNITS.get(i + 1).map_or(f64::INFINITY, |u| u.0);
        if v < next {
            return format!("{:.2}{unit}", v / div);
        }
    }
    format!("{n}B")
}

/// One measurement of the server's memory, shared by INFO and MEMORY STATS.
pub struct MemoryReport {
    pub used: u64,
    pub rss: u64,
    pub peak: u64,
    pub startup: u64,
    pub clients_normal: u64,
    pub clients_replicas: u64,
    /// Per-key bookkeeping of every database (hash table slots, expiry sets).
    pub keyspace_overhead: u64,
    pub keys: u64,
}

impl MemoryReport {
    pub fn measure(state: &ServerState) -> Self {
        let used = allocated_bytes();
        let mut clients_normal = 0u64;
        let mut clients_replicas = 0u64;
        for c in state.clients.clients.values() {
            let bytes = (c.qbuf + c.pending_push.load(Ordering::Relaxed)) as u64;
            if c.flags.contains('S') {
                clients_replicas += bytes;
            } else {
                clients_normal += bytes;
            }
        }
        let keys: u64 = state.dbs.iter().map(|d| d.len() as u64).sum();
        let volatile: u64 = state.dbs.iter().map(|d| d.volatile_len() as u64).sum();
        let entry = std::mem::size_of::<(crate::db::CompactBytes, Entry)>() as u64;
        MemoryReport {
            used,
            rss: rss_bytes(),
            peak: note_peak(used),
            startup: startup_bytes(used).min(used),
            clients_normal,
            clients_replicas,
            keyspace_overhead: keys * (entry + 8) + volatile * 32,
            keys,
        }
    }

    pub fn overhead(&self) -> u64 {
        (self.startup + self.clients_normal + self.clients_replicas + self.keyspace_overhead)
            .min(self.used)
    }

    pub fn dataset(&self) -> u64 {
        self.used - self.overhead()
    }

    pub fn dataset_perc(&self) -> f64 {
        let net = self.used.saturating_sub(self.startup);
        if net == 0 {
            0.0
        } else {
            self.dataset() as f64 * 100.0 / net as f64
        }
    }

    pub fn peak_perc(&self) -> f64 {
        if self.peak == 0 {
            0.0
        } else {
            self.used as f64 * 100.0 / self.peak as f64
        }
    }

    pub fn fragmentation(&self) -> f64 {
        if self.used == 0 {
            0.0
        } else {
            self.rss as f64 / self.used as f64
        }
    }
}

pub fn memory(ctx: &mut Ctx) -> CmdResult {
    match resolve(ctx)?.name {
        "usage" => usage(ctx),
        "stats" => stats(ctx),
        "doctor" => doctor(ctx),
        "malloc-stats" => {
            ctx.reply
                .verbatim(b"Stats not supported for the current allocator", "txt");
            Ok(())
        }
        "purge" => {
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: malloc_trim only returns free memory to the system.
            unsafe {
                libc::malloc_trim(0);
            }
            ctx.reply.ok();
            Ok(())
        }
        _ => {
            reply_help(
                ctx,
                &[
                    "DOCTOR",
                    "    Return memory problems reports.",
                    "MALLOC-STATS",
                    "    Return internal statistics report from the memory allocator.",
                    "PURGE",
                    "    Attempt to purge dirty pages for reclamation by the allocator.",
                    "STATS",
                    "    Return information about the memory usage of the server.",
                    "USAGE <key> [SAMPLES <count>]",
                    "    Return memory in bytes used by <key> and its value. Nested values are",
                    "    sampled up to <count> times (default: 5, 0 means sample all).",
                ],
            );
            Ok(())
        }
    }
}

/// Estimated bytes of one key with its value: the table entry, the key and
/// the value's heap. Redis samples big containers; we walk them, which the
/// value's own size estimate already does cheaply.
pub fn key_usage(key: &[u8], entry: &Entry) -> u64 {
    let table_entry = std::mem::size_of::<(crate::db::CompactBytes, Entry)>() + 8;
    let key_heap = if key.len() > 22 { key.len() } else { 0 };
    let value = match &entry.value {
        Value::Str(s) => s.len().max(8),
        other => other.approx_heap_size(),
    };
    (table_entry + key_heap + value) as u64
}

fn usage(ctx: &mut Ctx) -> CmdResult {
    let mut i = 3;
    while i < ctx.argc() {
        if eq_ic(ctx.arg(i), "samples") && i + 1 < ctx.argc() {
            // Validated like Redis; every element is counted anyway.
            int(ctx.arg(i + 1))?;
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let key = ctx.args[2].clone();
    let size = ctx.db().peek(&key).map(|e| key_usage(&key, e));
    match size {
        Some(n) => ctx.reply.int(n as i64),
        None => ctx.reply.null(),
    }
    Ok(())
}

fn int_field(ctx: &mut Ctx, name: &str, v: u64) {
    ctx.reply.bulk(name.as_bytes());
    ctx.reply.int(v as i64);
}

fn double_field(ctx: &mut Ctx, name: &str, v: f64) {
    ctx.reply.bulk(name.as_bytes());
    ctx.reply.double(v);
}

fn stats(ctx: &mut Ctx) -> CmdResult {
    let m = MemoryReport::measure(ctx.state);
    let dbs: Vec<(usize, u64, u64)> = ctx
        .state
        .dbs
        .iter()
        .filter(|d| !d.is_empty())
        .map(|d| (d.id, d.len() as u64 * 8, d.volatile_len() as u64 * 8))
        .collect();
    let backlog = 0u64;
    // Top-level fields besides the per-database maps.
    const FIELDS: usize = 27;
    ctx.reply.map_len(FIELDS + dbs.len());
    int_field(ctx, "peak.allocated", m.peak);
    int_field(ctx, "total.allocated", m.used);
    int_field(ctx, "startup.allocated", m.startup);
    int_field(ctx, "replication.backlog", backlog);
    int_field(ctx, "clients.slaves", m.clients_replicas);
    int_field(ctx, "clients.normal", m.clients_normal);
    int_field(ctx, "cluster.links", 0);
    int_field(ctx, "aof.buffer", 0);
    int_field(ctx, "lua.caches", 0);
    int_field(ctx, "functions.caches", 0);
    for (id, main, expires) in dbs {
        ctx.reply.bulk(format!("db.{id}").as_bytes());
        ctx.reply.map_len(3);
        int_field(ctx, "overhead.hashtable.main", main);
        int_field(ctx, "overhead.hashtable.expires", expires);
        int_field(ctx, "overhead.hashtable.slot-to-keys", 0);
    }
    int_field(ctx, "overhead.total", m.overhead());
    int_field(ctx, "keys.count", m.keys);
    let per_key = m
        .used
        .saturating_sub(m.startup)
        .checked_div(m.keys)
        .unwrap_or(0);
    int_field(ctx, "keys.bytes-per-key", per_key);
    int_field(ctx, "dataset.bytes", m.dataset());
    double_field(ctx, "dataset.percentage", m.dataset_perc());
    double_field(ctx, "peak.percentage", m.peak_perc());
    int_field(ctx, "allocator.allocated", m.used);
    int_field(ctx, "allocator.active", m.used);
    int_field(ctx, "allocator.resident", m.rss);
    double_field(ctx, "allocator-fragmentation.ratio", 1.0);
    int_field(ctx, "allocator-fragmentation.bytes", 0);
    double_field(ctx, "allocator-rss.ratio", m.fragmentation());
    int_field(ctx, "allocator-rss.bytes", m.rss.saturating_sub(m.used));
    double_field(ctx, "rss-overhead.ratio", 1.0);
    int_field(ctx, "rss-overhead.bytes", 0);
    double_field(ctx, "fragmentation", m.fragmentation());
    int_field(ctx, "fragmentation.bytes", m.rss.saturating_sub(m.used));
    Ok(())
}

/// A short report of the few memory problems we can detect.
fn doctor(ctx: &mut Ctx) -> CmdResult {
    let m = MemoryReport::measure(ctx.state);
    let mut issues = Vec::new();
    if m.used < 5 * 1024 * 1024 {
        issues.push("This instance uses very little memory (less than 5MB): there is nothing to analyze yet.".to_string());
    } else {
        if m.peak_perc() < 50.0 {
            issues.push(format!(
                "Peak memory: the peak ({}) was more than twice the memory used now ({}); the allocator may keep memory it cannot return.",
                human_bytes(m.peak),
                human_bytes(m.used)
            ));
        }
        if m.fragmentation() > 1.4 {
            issues.push(format!(
                "High fragmentation: the resident set is {:.2} times the memory in use. MEMORY PURGE may return some of it.",
                m.fragmentation()
            ));
        }
        let max = ctx
            .state
            .config
            .get("maxmemory")
            .unwrap_or("0")
            .parse::<u64>()
            .unwrap_or(0);
        if max > 0 && m.used > max {
            issues.push("Used memory is above maxmemory.".to_string());
        }
    }
    let text = if issues.is_empty() {
        "No memory problems detected.\n".to_string()
    } else {
        let mut t = String::from("Memory report:\n\n");
        for i in issues {
            t.push_str(&format!(" * {i}\n"));
        }
        t
    };
    ctx.reply.verbatim(text.as_bytes(), "txt");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human() {
        assert_eq!(human_bytes(0), "0B");
        assert_eq!(human_bytes(1023), "1023B");
        assert_eq!(human_bytes(1024), "1.00K");
        assert_eq!(human_bytes(916392), "894.91K");
        assert_eq!(human_bytes(6639616), "6.33M");
        assert_eq!(human_bytes(25276063744), "23.54G");
    }

    #[test]
    fn measurements_are_sane() {
        let used = allocated_bytes();
        assert!(used > 0);
        assert!(rss_bytes() > 0);
        assert!(note_peak(used) >= used);
    }
}
