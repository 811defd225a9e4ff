//! INFO: the server's state as `# Section` blocks of `field:value` lines,
//! with Redis 7.0's section names, field names and order.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::admin::last_save_time;
use super::memory::{human_bytes, total_system_memory, MemoryReport};
use crate::commands::CmdResult;
use crate::config::REDIS_VERSION;
use crate::server::context::Ctx;
use crate::server::cron::rate;
use crate::server::state::ServerState;

/// Our own version, reported next to the Redis version we are compatible with.
pub const HA_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every section, in the order INFO prints them.
const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// What `INFO` without arguments (or `INFO default`) prints.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Sections `all` leaves out of the defaults' complement: none here, since
/// `all` differs from `everything` only by module-generated sections.
fn requested_sections(args: &[bytes::Bytes]) -> HashSet<&'static str> {
    let mut wanted = HashSet::new();
    if args.is_empty() {
        wanted.extend(DEFAULT_SECTIONS);
        return wanted;
    }
    for a in args {
        let name = String::from_utf8_lossy(a).to_ascii_lowercase();
        match name.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS),
            "all" | "everything" => wanted.extend(SECTIONS),
            // Redis 7.0 calls the module list section "module_list" too.
            "module_list" => {
                wanted.insert("modules");
            }
            other => {
                if let Some(s) = SECTIONS.iter().find(|s| **s == other) {
                    wanted.insert(*s);
                }
            }
        }
    }
    wanted
}

/// Accumulates sections; a blank line separates them, as in Redis.
struct InfoText {
    out: String,
}

impl InfoText {
    fn section(&mut self, title: &str) {
        if !self.out.is_empty() {
            self.out.push_str("\r\n");
        }
        let _ = write!(self.out, "# {title}\r\n");
    }

    fn field(&mut self, name: &str, value: impl std::fmt::Display) {
        let _ = write!(self.out, "{name}:{value}\r\n");
    }
}

pub fn info_command(ctx: &mut Ctx) -> CmdResult {
    let text = generate(ctx.state, &ctx.args[1..]);
    ctx.reply.verbatim(text.as_bytes(), "txt");
    Ok(())
}

/// The INFO text for the requested sections (none = the default ones).
pub fn generate(state: &ServerState, args: &[bytes::Bytes]) -> String {
    let wanted = requested_sections(args);
    let mut t = InfoText { out: String::new() };
    for section in SECTIONS {
        if !wanted.contains(section) {
            continue;
        }
        match *section {
            "server" => server(&mut t, state),
            "clients" => clients(&mut t, state),
            "memory" => memory(&mut t, state),
            "persistence" => persistence(&mut t, state),
            "stats" => stats(&mut t, state),
            "replication" => replication(&mut t, state),
            "cpu" => cpu(&mut t),
            "modules" => t.section("Modules"),
            "commandstats" => commandstats(&mut t, state),
            "errorstats" => errorstats(&mut t, state),
            "latencystats" => t.section("Latencystats"),
            "cluster" => {
                t.section("Cluster");
                t.field("cluster_enabled", 0);
            }
            "keyspace" => keyspace(&mut t, state),
            _ => {}
        }
    }
    t.out
}

/// `Linux 6.1.0 x86_64`, from uname(2).
fn os_name() -> String {
    // SAFETY: uname fills the zeroed struct we own; its fields are
    // NUL-terminated C strings.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return std::env::consts::OS.to_string();
        }
        let field = |f: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(f.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        format!(
            "{} {} {}",
            field(&u.sysname),
            field(&u.release),
            field(&u.machine)
        )
    }
}

fn server(t: &mut InfoText, st: &ServerState) {
    let now_ms = crate::util::time::now_ms();
    let uptime = (now_ms - st.start_time_ms).max(0) / 1000;
    t.section("Server");
    t.field("redis_version", REDIS_VERSION);
    t.field("redis_git_sha1", "00000000");
    t.field("redis_git_dirty", 0);
    t.field("redis_build_id", "0");
    t.field("redis_ha_version", HA_VERSION);
    t.field(
        "redis_mode",
        if st.config.sentinel_mode {
            "sentinel"
        } else {
            "standalone"
        },
    );
    t.field("os", os_name());
    t.field("arch_bits", usize::BITS);
    t.field("monotonic_clock", "POSIX clock_gettime");
    t.field("multiplexing_api", "epoll");
    t.field("atomicvar_api", "c11-builtin");
    t.field("gcc_version", "0.0.0");
    t.field("process_id", std::process::id());
    t.field("process_supervised", "no");
    t.field("run_id", &st.run_id);
    t.field("tcp_port", st.tcp_port);
    t.field("server_time_usec", crate::util::time::now_us());
    t.field("uptime_in_seconds", uptime);
    t.field("uptime_in_days", uptime / 86400);
    t.field("hz", st.config.settings.hz);
    t.field("configured_hz", st.config.settings.hz);
    t.field("lru_clock", (now_ms / 1000) & 0xFF_FFFF);
    t.field("executable", &st.executable);
    t.field(
        "config_file",
        st.config
            .file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    t.field("io_threads_active", 0);
}

fn is_replica_link(flags: &str) -> bool {
    flags.contains('S')
}

fn clients(t: &mut InfoText, st: &ServerState) {
    let all = st.clients.clients.values();
    let replicas = all.clone().filter(|c| is_replica_link(&c.flags)).count();
    let max_in = all.clone().map(|c| c.qbuf).max().unwrap_or(0);
    let max_out = all
        .map(|c| c.pending_push.load(std::sync::atomic::Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    t.section("Clients");
    t.field("connected_clients", st.clients.len() - replicas);
    t.field("cluster_connections", 0);
    t.field("maxclients", st.config.settings.maxclients);
    t.field("client_recent_max_input_buffer", max_in);
    t.field("client_recent_max_output_buffer", max_out);
    t.field("blocked_clients", st.blocked.len());
    t.field("tracking_clients", 0);
    // Clients with a deadline; `expired` at the end of time lists them all.
    t.field(
        "clients_in_timeout_table",
        st.blocked.expired(i64::MAX).len(),
    );
}

fn memory(t: &mut InfoText, st: &ServerState) {
    let m = MemoryReport::measure(st);
    let system = total_system_memory();
    let maxmemory: u64 = st
        .config
        .get("maxmemory")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let rss_minus_used = m.rss as i64 - m.used as i64;
    t.section("Memory");
    t.field("used_memory", m.used);
    t.field("used_memory_human", human_bytes(m.used));
    t.field("used_memory_rss", m.rss);
    t.field("used_memory_rss_human", human_bytes(m.rss));
    t.field("used_memory_peak", m.peak);
    t.field("used_memory_peak_human", human_bytes(m.peak));
    t.field("used_memory_peak_perc", format!("{:.2}%", m.peak_perc()));
    t.field("used_memory_overhead", m.overhead());
    t.field("used_memory_startup", m.startup);
    t.field("used_memory_dataset", m.dataset());
    t.field(
        "used_memory_dataset_perc",
        format!("{:.2}%", m.dataset_perc()),
    );
    t.field("allocator_allocated", m.used);
    t.field("allocator_active", m.used);
    t.field("allocator_resident", m.rss);
    t.field("total_system_memory", system);
    t.field("total_system_memory_human", human_bytes(system));
    // No scripting engine: the Lua and function fields are all empty.
    t.field("used_memory_lua", 0);
    t.field("used_memory_vm_eval", 0);
    t.field("used_memory_lua_human", "0B");
    t.field("used_memory_scripts_eval", 0);
    t.field("number_of_cached_scripts", 0);
    t.field("number_of_functions", 0);
    t.field("number_of_libraries", 0);
    t.field("used_memory_vm_functions", 0);
    t.field("used_memory_vm_total", 0);
    t.field("used_memory_vm_total_human", "0B");
    t.field("used_memory_functions", 0);
    t.field("used_memory_scripts", 0);
    t.field("used_memory_scripts_human", "0B");
    t.field("maxmemory", maxmemory);
    t.field("maxmemory_human", human_bytes(maxmemory));
    t.field(
        "maxmemory_policy",
        st.config.get("maxmemory-policy").unwrap_or("noeviction"),
    );
    t.field("allocator_frag_ratio", "1.00");
    t.field("allocator_frag_bytes", 0);
    t.field("allocator_rss_ratio", format!("{:.2}", m.fragmentation()));
    t.field("allocator_rss_bytes", rss_minus_used);
    t.field("rss_overhead_ratio", "1.00");
    t.field("rss_overhead_bytes", 0);
    t.field(
        "mem_fragmentation_ratio",
        format!("{:.2}", m.fragmentation()),
    );
    t.field("mem_fragmentation_bytes", rss_minus_used);
    t.field("mem_not_counted_for_evict", 0);
    t.field("mem_replication_backlog", 0);
    t.field("mem_total_replication_buffers", m.clients_replicas);
    t.field("mem_clients_slaves", m.clients_replicas);
    t.field("mem_clients_normal", m.clients_normal);
    t.field("mem_cluster_links", 0);
    t.field("mem_aof_buffer", st.aof.buffer_len());
    t.field("mem_allocator", "libc");
    t.field("active_defrag_running", 0);
    t.field("lazyfree_pending_objects", 0);
    t.field("lazyfreed_objects", 0);
}

fn persistence(t: &mut InfoText, st: &ServerState) {
    t.section("Persistence");
    t.field("loading", st.loading as u8);
    t.field("async_loading", 0);
    t.field("current_cow_peak", 0);
    t.field("current_cow_size", 0);
    t.field("current_cow_size_age", 0);
    t.field("current_fork_perc", "0.00");
    t.field("current_save_keys_processed", 0);
    t.field("current_save_keys_total", 0);
    t.field("rdb_changes_since_last_save", st.dirty);
    let child = st.persist.child;
    t.field("rdb_bgsave_in_progress", child.is_some() as u8);
    t.field("rdb_last_save_time", last_save_time(st));
    let status = if st.persist.last_bgsave_ok {
        "ok"
    } else {
        "err"
    };
    t.field("rdb_last_bgsave_status", status);
    t.field("rdb_last_bgsave_time_sec", st.persist.last_bgsave_time_sec);
    let current = child.map_or(-1, |c| (crate::util::time::now_ms() - c.started_ms) / 1000);
    t.field("rdb_current_bgsave_time_sec", current);
    t.field("rdb_saves", st.persist.saves);
    t.field("rdb_last_cow_size", st.persist.last_cow_size);
    t.field(
        "rdb_last_load_keys_expired",
        st.persist.last_load_keys_expired,
    );
    t.field(
        "rdb_last_load_keys_loaded",
        st.persist.last_load_keys_loaded,
    );
    let (fields, when_enabled) = crate::aof::info_fields(st);
    for (name, value) in fields.into_iter().chain(when_enabled) {
        t.field(name, value);
    }
}

/// Total network bytes since start (or the last CONFIG RESETSTAT), as of
/// the cron's last sample.
pub fn net_totals(st: &ServerState) -> (u64, u64) {
    let last = |s: &std::collections::VecDeque<(i64, u64)>| s.back().map_or(0, |x| x.1);
    (
        last(&st.stats.net_in_samples).saturating_sub(st.stats.net_input_bytes_base),
        last(&st.stats.net_out_samples).saturating_sub(st.stats.net_output_bytes_base),
    )
}

fn stats(t: &mut InfoText, st: &ServerState) {
    let s = &st.stats;
    let (net_in, net_out) = net_totals(st);
    let sum = |f: fn(&crate::db::DbStats) -> u64| st.dbs.iter().map(|d| f(&d.stats)).sum::<u64>();
    t.section("Stats");
    t.field("total_connections_received", s.total_connections_received);
    t.field("total_commands_processed", s.total_commands_processed);
    t.field(
        "instantaneous_ops_per_sec",
        rate(&s.ops_samples).round() as u64,
    );
    t.field("total_net_input_bytes", net_in);
    t.field("total_net_output_bytes", net_out);
    let repl_bytes =
        |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    t.field(
        "total_net_repl_input_bytes",
        repl_bytes(&st.repl.stats.net_repl_in),
    );
    t.field(
        "total_net_repl_output_bytes",
        repl_bytes(&st.repl.stats.net_repl_out),
    );
    t.field(
        "instantaneous_input_kbps",
        format!("{:.2}", rate(&s.net_in_samples) / 1024.0),
    );
    t.field(
        "instantaneous_output_kbps",
        format!("{:.2}", rate(&s.net_out_samples) / 1024.0),
    );
    t.field("instantaneous_input_repl_kbps", "0.00");
    t.field("instantaneous_output_repl_kbps", "0.00");
    t.field("rejected_connections", s.rejected_connections);
    t.field("sync_full", st.repl.stats.sync_full);
    t.field("sync_partial_ok", st.repl.stats.sync_partial_ok);
    t.field("sync_partial_err", st.repl.stats.sync_partial_err);
    t.field("expired_keys", sum(|d| d.expired_keys));
    t.field("expired_stale_perc", format!("{:.2}", s.expired_stale_perc));
    t.field("expired_time_cap_reached_count", 0);
    t.field("expire_cycle_cpu_milliseconds", 0);
    t.field("evicted_keys", s.evicted_keys);
    t.field("evicted_clients", 0);
    t.field("total_eviction_exceeded_time", 0);
    t.field("current_eviction_exceeded_time", 0);
    t.field("keyspace_hits", sum(|d| d.keyspace_hits));
    t.field("keyspace_misses", sum(|d| d.keyspace_misses));
    t.field("pubsub_channels", st.pubsub.channels.len());
    t.field("pubsub_patterns", st.pubsub.pattern_count());
    t.field("pubsubshard_channels", 0);
    t.field("latest_fork_usec", 0);
    t.field("total_forks", 0);
    t.field("migrate_cached_sockets", 0);
    t.field("slave_expires_tracked_keys", 0);
    t.field("active_defrag_hits", 0);
    t.field("active_defrag_misses", 0);
    t.field("active_defrag_key_hits", 0);
    t.field("active_defrag_key_misses", 0);
    t.field("total_active_defrag_time", 0);
    t.field("current_active_defrag_time", 0);
    t.field("tracking_total_keys", 0);
    t.field("tracking_total_items", 0);
    t.field("tracking_total_prefixes", 0);
    t.field("unexpected_error_replies", s.unexpected_error_replies);
    t.field("total_error_replies", s.total_error_replies);
    t.field("dump_payload_sanitizations", 0);
    t.field("total_reads_processed", 0);
    t.field("total_writes_processed", 0);
    t.field("io_threaded_reads_processed", 0);
    t.field("io_threaded_writes_processed", 0);
    t.field("reply_buffer_shrinks", 0);
    t.field("reply_buffer_expands", 0);
}

fn replication(t: &mut InfoText, st: &ServerState) {
    t.section("Replication");
    for (k, v) in crate::replication::info::replication_fields(st) {
        t.field(&k, v);
    }
}

/// (system, user) CPU seconds of `who` (RUSAGE_SELF, _CHILDREN, _THREAD).
fn cpu_times(who: libc::c_int) -> (String, String) {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(who, &mut u) != 0 {
            return ("0.000000".into(), "0.000000".into());
        }
        u
    };
    let fmt = |tv: libc::timeval| format!("{}.{:06}", tv.tv_sec, tv.tv_usec);
    (fmt(usage.ru_stime), fmt(usage.ru_utime))
}

/// RUSAGE_THREAD (Linux): the calling thread only.
const RUSAGE_THREAD: libc::c_int = 1;

fn cpu(t: &mut InfoText) {
    let (sys, user) = cpu_times(libc::RUSAGE_SELF);
    let (sys_children, user_children) = cpu_times(libc::RUSAGE_CHILDREN);
    let (sys_thread, user_thread) = cpu_times(RUSAGE_THREAD);
    t.section("CPU");
    t.field("used_cpu_sys", sys);
    t.field("used_cpu_user", user);
    t.field("used_cpu_sys_children", sys_children);
    t.field("used_cpu_user_children", user_children);
    t.field("used_cpu_sys_main_thread", sys_thread);
    t.field("used_cpu_user_main_thread", user_thread);
}

fn commandstats(t: &mut InfoText, st: &ServerState) {
    t.section("Commandstats");
    let mut names: Vec<&&str> = st.command_stats.keys().collect();
    names.sort();
    for name in names {
        let s = &st.command_stats[*name];
        if s.calls == 0 && s.failed_calls == 0 && s.rejected_calls == 0 {
            continue;
        }
        let per_call = if s.calls == 0 {
            0.0
        } else {
            s.usec as f64 / s.calls as f64
        };
        t.field(
            &format!("cmdstat_{name}"),
            format!(
                "calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}",
                s.calls, s.usec, per_call, s.rejected_calls, s.failed_calls
            ),
        );
    }
}

fn errorstats(t: &mut InfoText, st: &ServerState) {
    t.section("Errorstats");
    let mut codes: Vec<(&String, &u64)> = st.stats.error_counts.iter().collect();
    codes.sort();
    for (code, count) in codes {
        t.field(&format!("errorstat_{code}"), format!("count={count}"));
    }
}

fn keyspace(t: &mut InfoText, st: &ServerState) {
    t.section("Keyspace");
    for db in st.dbs.iter().filter(|d| !d.is_empty()) {
        t.field(
            &format!("db{}", db.id),
            format!(
                "keys={},expires={},avg_ttl={}",
                db.len(),
                db.volatile_len(),
                db.avg_ttl_sample()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn sections(args: &[&str]) -> Vec<String> {
        let state = ServerState::new(crate::config::Config::default());
        let args: Vec<Bytes> = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        generate(&state, &args)
            .lines()
            .filter(|l| l.starts_with("# "))
            .map(|l| l[2..].to_string())
            .collect()
    }

    #[test]
    fn section_selection() {
        assert_eq!(
            sections(&[]),
            [
                "Server",
                "Clients",
                "Memory",
                "Persistence",
                "Stats",
                "Replication",
                "CPU",
                "Modules",
                "Errorstats",
                "Cluster",
                "Keyspace"
            ]
        );
        assert_eq!(sections(&["all"]).len(), 13);
        assert_eq!(sections(&["everything"]).len(), 13);
        assert_eq!(
            sections(&["KEYSPACE", "cpu", "nosuch"]),
            ["CPU", "Keyspace"]
        );
        assert_eq!(sections(&["default", "commandstats"]).len(), 12);
        assert!(sections(&["nosuch"]).is_empty());
    }

    #[test]
    fn text_shape() {
        let state = ServerState::new(crate::config::Config::default());
        let text = generate(
            &state,
            &[
                Bytes::from_static(b"server"),
                Bytes::from_static(b"cluster"),
            ],
        );
        assert!(text.starts_with("# Server\r\nredis_version:7.0.15\r\n"));
        assert!(text.ends_with("\r\n\r\n# Cluster\r\ncluster_enabled:0\r\n"));
        for line in text
            .split("\r\n")
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            assert!(line.contains(':'), "{line}");
        }
    }
}
