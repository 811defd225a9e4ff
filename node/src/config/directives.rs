//! Every directive of Redis 7.0's redis.conf, with its type, range, default
//! and whether this server acts on it. Adding support for a setting means
//! flipping its `effect` and reading it somewhere; the parser, CONFIG GET/SET
//! and REWRITE need no other change.

use super::ConfigError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// A byte count with an optional unit (k, kb, m, mb, g, gb).
    Memory {
        min: i64,
        max: i64,
    },
    /// A byte count or a percentage ("10%"), as maxmemory-clients.
    MemoryOrPercent,
    Enum(&'static [&'static str]),
    Str,
    /// `save <secs> <changes> [...]` or `save ""`.
    Save,
    /// A list of strings on one line (bind).
    List,
    /// `client-output-buffer-limit <class> <hard> <soft> <secs>`.
    ClientOutputBufferLimit,
    /// Key-space notification flags.
    NotifyFlags,
    /// `replicaof <host> <port>`.
    ReplicaOf,
    /// Three integers (oom-score-adj-values).
    IntTriple,
    /// Floats 0..100 (latency-tracking-info-percentiles).
    Percentiles,
    /// Flags such as `shutdown-on-sigterm save now`.
    ShutdownFlags,
    /// An octal number (unixsocketperm).
    Octal,
    /// Accepted only in a config file and never listed by CONFIG GET
    /// (include, rename-command, user, loadmodule).
    FileOnly,
}

impl Kind {
    /// Whether one CONFIG SET value holds several words.
    pub fn takes_many(&self) -> bool {
        matches!(
            self,
            Kind::Save
                | Kind::List
                | Kind::ClientOutputBufferLimit
                | Kind::ReplicaOf
                | Kind::IntTriple
                | Kind::Percentiles
                | Kind::ShutdownFlags
        )
    }
}

/// Whether this server acts on a directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Applied,
    /// Accepted for compatibility, logged at start-up as having no effect.
    None,
}

#[derive(Debug)]
pub struct Directive {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    pub immutable: bool,
    pub effect: Effect,
    /// Not listed by CONFIG GET patterns, only by its exact name (Redis's
    /// HIDDEN_CONFIG: debugging knobs such as rdb-key-save-delay).
    pub hidden: bool,
}

const I32MAX: i64 = i32::MAX as i64;
const I64MAX: i64 = i64::MAX;

macro_rules! d {
    ($name:literal, $kind:expr, $default:literal) => {
        Directive { name: $name, alias: None, kind: $kind, default: $default, immutable: false, effect: Effect::Applied, hidden: false }
    };
    ($name:literal, $kind:expr, $default:literal, alias $alias:literal) => {
        Directive { name: $name, alias: Some($alias), kind: $kind, default: $default, immutable: false, effect: Effect::Applied, hidden: false }
    };
    ($name:literal, $kind:expr, $default:literal, $($opt:ident),+) => {{
        #[allow(unused_mut)]
        let mut dir = Directive { name: $name, alias: None, kind: $kind, default: $default, immutable: false, effect: Effect::Applied, hidden: false };
        $( d!(@opt dir, $opt); )+
        dir
    }};
    ($name:literal, $kind:expr, $default:literal, alias $alias:literal, $($opt:ident),+) => {{
        #[allow(unused_mut)]
        let mut dir = Directive { name: $name, alias: Some($alias), kind: $kind, default: $default, immutable: false, effect: Effect::Applied, hidden: false };
        $( d!(@opt dir, $opt); )+
        dir
    }};
    (@opt $dir:ident, immutable) => { $dir.immutable = true; };
    (@opt $dir:ident, hidden) => {
        $dir.hidden = true;
    };
    (@opt $dir:ident, noeffect) => { $dir.effect = Effect::None; };
}

const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

pub static DIRECTIVES: &[Directive] = &[
    // Network and clients.
    d!("bind", Kind::List, "* -::*", immutable),
    d!("bind-source-addr", Kind::Str, "", noeffect),
    d!("protected-mode", Kind::Bool, "yes"),
    d!("port", Kind::Int { min: 0, max: 65535 }, "6379", immutable),
    d!(
        "tcp-backlog",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "511",
        immutable,
        noeffect
    ),
    d!("unixsocket", Kind::Str, "", immutable, noeffect),
    d!("unixsocketperm", Kind::Octal, "0", immutable, noeffect),
    d!(
        "timeout",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "0"
    ),
    d!(
        "tcp-keepalive",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "300"
    ),
    d!(
        "maxclients",
        Kind::Int {
            min: 1,
            max: u32::MAX as i64
        },
        "10000"
    ),
    d!("requirepass", Kind::Str, ""),
    d!(
        "client-query-buffer-limit",
        Kind::Memory {
            min: 1024 * 1024,
            max: I64MAX
        },
        "1073741824"
    ),
    d!(
        "proto-max-bulk-len",
        Kind::Memory {
            min: 1024 * 1024,
            max: I64MAX
        },
        "536870912"
    ),
    d!(
        "client-output-buffer-limit",
        Kind::ClientOutputBufferLimit,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    ),
    d!("maxmemory-clients", Kind::MemoryOrPercent, "0", noeffect),
    d!("io-threads", Kind::Int { min: 1, max: 128 }, "1", immutable),
    d!("io-threads-do-reads", Kind::Bool, "no", immutable, noeffect),
    // TLS (Debian's redis-server is built with TLS; this server has none).
    d!("tls-port", Kind::Int { min: 0, max: 65535 }, "0", noeffect),
    d!("tls-cert-file", Kind::Str, "", noeffect),
    d!("tls-key-file", Kind::Str, "", noeffect),
    d!("tls-key-file-pass", Kind::Str, "", noeffect),
    d!("tls-client-cert-file", Kind::Str, "", noeffect),
    d!("tls-client-key-file", Kind::Str, "", noeffect),
    d!("tls-client-key-file-pass", Kind::Str, "", noeffect),
    d!("tls-dh-params-file", Kind::Str, "", noeffect),
    d!("tls-ca-cert-file", Kind::Str, "", noeffect),
    d!("tls-ca-cert-dir", Kind::Str, "", noeffect),
    d!(
        "tls-auth-clients",
        Kind::Enum(&["no", "yes", "optional"]),
        "yes",
        noeffect
    ),
    d!("tls-replication", Kind::Bool, "no", noeffect),
    d!("tls-cluster", Kind::Bool, "no", noeffect),
    d!("tls-protocols", Kind::Str, "", noeffect),
    d!("tls-ciphers", Kind::Str, "", noeffect),
    d!("tls-ciphersuites", Kind::Str, "", noeffect),
    d!("tls-prefer-server-ciphers", Kind::Bool, "no", noeffect),
    d!("tls-session-caching", Kind::Bool, "yes", noeffect),
    d!(
        "tls-session-cache-size",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "20480",
        noeffect
    ),
    d!(
        "tls-session-cache-timeout",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "300",
        noeffect
    ),
    // General.
    d!("daemonize", Kind::Bool, "no", immutable, noeffect),
    d!(
        "supervised",
        Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
        immutable,
        noeffect
    ),
    d!("pidfile", Kind::Str, "", immutable),
    d!(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning"]),
        "notice"
    ),
    d!("logfile", Kind::Str, "", immutable),
    d!("syslog-enabled", Kind::Bool, "no", immutable, noeffect),
    d!("syslog-ident", Kind::Str, "redis", immutable, noeffect),
    d!(
        "syslog-facility",
        Kind::Enum(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"
        ]),
        "local0",
        immutable,
        noeffect
    ),
    d!("crash-log-enabled", Kind::Bool, "yes", noeffect),
    d!("crash-memcheck-enabled", Kind::Bool, "yes", noeffect),
    d!(
        "databases",
        Kind::Int {
            min: 1,
            max: I32MAX
        },
        "16",
        immutable
    ),
    d!("always-show-logo", Kind::Bool, "no", immutable, noeffect),
    d!("set-proc-title", Kind::Bool, "yes", immutable, noeffect),
    d!(
        "proc-title-template",
        Kind::Str,
        "{title} {listen-addr} {server-mode}",
        noeffect
    ),
    d!(
        "enable-protected-configs",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
        immutable
    ),
    d!(
        "enable-debug-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
        immutable
    ),
    d!(
        "enable-module-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
        immutable
    ),
    d!(
        "hz",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "10"
    ),
    d!("dynamic-hz", Kind::Bool, "yes", noeffect),
    d!("ignore-warnings", Kind::Str, "", noeffect),
    // Snapshotting.
    d!("save", Kind::Save, "3600 1 300 100 60 10000"),
    d!("stop-writes-on-bgsave-error", Kind::Bool, "yes"),
    d!("rdbcompression", Kind::Bool, "yes"),
    d!("rdbchecksum", Kind::Bool, "yes"),
    d!(
        "sanitize-dump-payload",
        Kind::Enum(&["no", "yes", "clients"]),
        "no",
        noeffect
    ),
    d!("dbfilename", Kind::Str, "dump.rdb"),
    d!("rdb-del-sync-files", Kind::Bool, "no", noeffect),
    d!("dir", Kind::Str, "."),
    d!("rdb-save-incremental-fsync", Kind::Bool, "yes", noeffect),
    d!(
        "rdb-key-save-delay",
        Kind::Int {
            min: i64::MIN,
            max: I64MAX
        },
        "0",
        noeffect,
        hidden
    ),
    d!(
        "key-load-delay",
        Kind::Int {
            min: i64::MIN,
            max: I64MAX
        },
        "0",
        noeffect,
        hidden
    ),
    // Replication.
    d!("replicaof", Kind::ReplicaOf, "", alias "slaveof"),
    d!("masterauth", Kind::Str, ""),
    d!("masteruser", Kind::Str, ""),
    d!("replica-serve-stale-data", Kind::Bool, "yes", alias "slave-serve-stale-data"),
    d!("replica-read-only", Kind::Bool, "yes", alias "slave-read-only"),
    d!("repl-diskless-sync", Kind::Bool, "yes"),
    d!(
        "repl-diskless-sync-delay",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "5"
    ),
    d!(
        "repl-diskless-sync-max-replicas",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "0"
    ),
    d!(
        "repl-diskless-load",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
        noeffect
    ),
    d!("repl-ping-replica-period", Kind::Int { min: 1, max: I32MAX }, "10", alias "repl-ping-slave-period"),
    d!(
        "repl-timeout",
        Kind::Int {
            min: 1,
            max: I32MAX
        },
        "60"
    ),
    d!("repl-disable-tcp-nodelay", Kind::Bool, "no", noeffect),
    d!(
        "repl-backlog-size",
        Kind::Memory {
            min: 1,
            max: I64MAX
        },
        "1048576"
    ),
    d!(
        "repl-backlog-ttl",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "3600"
    ),
    d!("replica-priority", Kind::Int { min: 0, max: I32MAX }, "100", alias "slave-priority"),
    d!("replica-announced", Kind::Bool, "yes"),
    d!("min-replicas-to-write", Kind::Int { min: 0, max: I32MAX }, "0", alias "min-slaves-to-write"),
    d!("min-replicas-max-lag", Kind::Int { min: 0, max: I32MAX }, "10", alias "min-slaves-max-lag"),
    d!("replica-announce-ip", Kind::Str, "", alias "slave-announce-ip"),
    d!("replica-announce-port", Kind::Int { min: 0, max: 65535 }, "0", alias "slave-announce-port"),
    d!("replica-lazy-flush", Kind::Bool, "no", alias "slave-lazy-flush", noeffect),
    d!("replica-ignore-maxmemory", Kind::Bool, "yes", alias "slave-ignore-maxmemory", noeffect),
    d!(
        "propagation-error-behavior",
        Kind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore",
        noeffect
    ),
    d!(
        "replica-ignore-disk-write-errors",
        Kind::Bool,
        "no",
        noeffect
    ),
    // Keys tracking.
    d!(
        "tracking-table-max-keys",
        Kind::Int {
            min: 0,
            max: I64MAX
        },
        "1000000",
        noeffect
    ),
    // Security.
    d!(
        "acllog-max-len",
        Kind::Int {
            min: 0,
            max: I64MAX
        },
        "128",
        noeffect
    ),
    d!("aclfile", Kind::Str, "", immutable, noeffect),
    d!(
        "acl-pubsub-default",
        Kind::Enum(&["allchannels", "resetchannels"]),
        "resetchannels",
        noeffect
    ),
    // Memory management.
    d!(
        "maxmemory",
        Kind::Memory {
            min: 0,
            max: I64MAX
        },
        "0"
    ),
    d!("maxmemory-policy", Kind::Enum(POLICIES), "noeviction"),
    d!("maxmemory-samples", Kind::Int { min: 1, max: 64 }, "5"),
    d!(
        "maxmemory-eviction-tenacity",
        Kind::Int { min: 0, max: 100 },
        "10"
    ),
    // Lazy freeing.
    d!("lazyfree-lazy-eviction", Kind::Bool, "no", noeffect),
    d!("lazyfree-lazy-expire", Kind::Bool, "no", noeffect),
    d!("lazyfree-lazy-server-del", Kind::Bool, "no", noeffect),
    d!("lazyfree-lazy-user-del", Kind::Bool, "no", noeffect),
    d!("lazyfree-lazy-user-flush", Kind::Bool, "no"),
    // Kernel and OS.
    d!(
        "oom-score-adj",
        Kind::Enum(&["no", "yes", "relative", "absolute"]),
        "no",
        noeffect
    ),
    d!(
        "oom-score-adj-values",
        Kind::IntTriple,
        "0 200 800",
        noeffect
    ),
    d!("disable-thp", Kind::Bool, "yes", noeffect),
    d!("server_cpulist", Kind::Str, "", immutable, noeffect),
    d!("bio_cpulist", Kind::Str, "", immutable, noeffect),
    d!("aof_rewrite_cpulist", Kind::Str, "", immutable, noeffect),
    d!("bgsave_cpulist", Kind::Str, "", immutable, noeffect),
    // Append only file.
    d!("appendonly", Kind::Bool, "no"),
    d!("appendfilename", Kind::Str, "appendonly.aof", immutable),
    d!("appenddirname", Kind::Str, "appendonlydir", immutable),
    d!(
        "appendfsync",
        Kind::Enum(&["everysec", "always", "no"]),
        "everysec"
    ),
    d!("no-appendfsync-on-rewrite", Kind::Bool, "no"),
    d!(
        "auto-aof-rewrite-percentage",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "100"
    ),
    d!(
        "auto-aof-rewrite-min-size",
        Kind::Memory {
            min: 0,
            max: I64MAX
        },
        "67108864"
    ),
    d!("aof-load-truncated", Kind::Bool, "yes"),
    d!("aof-use-rdb-preamble", Kind::Bool, "yes"),
    d!("aof-timestamp-enabled", Kind::Bool, "no"),
    d!("aof-rewrite-incremental-fsync", Kind::Bool, "yes", noeffect),
    // Shutdown.
    d!(
        "shutdown-timeout",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "10",
        noeffect
    ),
    d!(
        "shutdown-on-sigint",
        Kind::ShutdownFlags,
        "default",
        noeffect
    ),
    d!(
        "shutdown-on-sigterm",
        Kind::ShutdownFlags,
        "default",
        noeffect
    ),
    // Scripting and functions (not implemented here).
    d!("busy-reply-threshold", Kind::Int { min: 0, max: I64MAX }, "5000", alias "lua-time-limit", noeffect),
    // Cluster (this server runs standalone or as a sentinel).
    d!("cluster-enabled", Kind::Bool, "no", immutable, noeffect),
    d!(
        "cluster-config-file",
        Kind::Str,
        "nodes.conf",
        immutable,
        noeffect
    ),
    d!(
        "cluster-node-timeout",
        Kind::Int {
            min: 0,
            max: I64MAX
        },
        "15000",
        noeffect
    ),
    d!(
        "cluster-port",
        Kind::Int { min: 0, max: 65535 },
        "0",
        immutable,
        noeffect
    ),
    d!("cluster-replica-validity-factor", Kind::Int { min: 0, max: I32MAX }, "10", alias "cluster-slave-validity-factor", noeffect),
    d!(
        "cluster-migration-barrier",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "1",
        noeffect
    ),
    d!(
        "cluster-allow-replica-migration",
        Kind::Bool,
        "yes",
        noeffect
    ),
    d!("cluster-require-full-coverage", Kind::Bool, "yes", noeffect),
    d!("cluster-replica-no-failover", Kind::Bool, "no", alias "cluster-slave-no-failover", noeffect),
    d!("cluster-allow-reads-when-down", Kind::Bool, "no", noeffect),
    d!(
        "cluster-allow-pubsubshard-when-down",
        Kind::Bool,
        "yes",
        noeffect
    ),
    d!(
        "cluster-link-sendbuf-limit",
        Kind::Memory {
            min: 0,
            max: I64MAX
        },
        "0",
        noeffect
    ),
    d!("cluster-announce-ip", Kind::Str, "", noeffect),
    d!("cluster-announce-hostname", Kind::Str, "", noeffect),
    d!(
        "cluster-announce-port",
        Kind::Int { min: 0, max: 65535 },
        "0",
        noeffect
    ),
    d!(
        "cluster-announce-bus-port",
        Kind::Int { min: 0, max: 65535 },
        "0",
        noeffect
    ),
    d!(
        "cluster-announce-tls-port",
        Kind::Int { min: 0, max: 65535 },
        "0",
        noeffect
    ),
    d!(
        "cluster-preferred-endpoint-type",
        Kind::Enum(&["ip", "hostname", "unknown-endpoint"]),
        "ip",
        noeffect
    ),
    d!(
        "socket-mark-id",
        Kind::Int {
            min: 0,
            max: u32::MAX as i64
        },
        "0",
        noeffect
    ),
    d!("aof-disable-auto-gc", Kind::Bool, "no"),
    // Slow log and latency.
    d!(
        "slowlog-log-slower-than",
        Kind::Int {
            min: -1,
            max: I64MAX
        },
        "10000"
    ),
    d!(
        "slowlog-max-len",
        Kind::Int {
            min: 0,
            max: I64MAX
        },
        "128"
    ),
    d!(
        "latency-monitor-threshold",
        Kind::Int {
            min: 0,
            max: I64MAX
        },
        "0"
    ),
    d!("latency-tracking", Kind::Bool, "yes", noeffect),
    d!(
        "latency-tracking-info-percentiles",
        Kind::Percentiles,
        "50 99 99.9",
        noeffect
    ),
    // Event notification.
    d!("notify-keyspace-events", Kind::NotifyFlags, "", noeffect),
    // Advanced data type tuning.
    d!("hash-max-listpack-entries", Kind::Int { min: 0, max: I64MAX }, "512", alias "hash-max-ziplist-entries"),
    d!("hash-max-listpack-value", Kind::Memory { min: 0, max: I64MAX }, "64", alias "hash-max-ziplist-value"),
    d!("list-max-listpack-size", Kind::Int { min: i32::MIN as i64, max: I32MAX }, "-2", alias "list-max-ziplist-size"),
    d!(
        "list-compress-depth",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "0",
        noeffect
    ),
    d!(
        "set-max-intset-entries",
        Kind::Int {
            min: 0,
            max: I64MAX
        },
        "512"
    ),
    d!("zset-max-listpack-entries", Kind::Int { min: 0, max: I64MAX }, "128", alias "zset-max-ziplist-entries"),
    d!("zset-max-listpack-value", Kind::Memory { min: 0, max: I64MAX }, "64", alias "zset-max-ziplist-value"),
    d!(
        "hll-sparse-max-bytes",
        Kind::Memory {
            min: 0,
            max: I64MAX
        },
        "3000",
        noeffect
    ),
    d!(
        "stream-node-max-bytes",
        Kind::Memory {
            min: 0,
            max: I64MAX
        },
        "4096",
        noeffect
    ),
    d!(
        "stream-node-max-entries",
        Kind::Int {
            min: 0,
            max: I64MAX
        },
        "100",
        noeffect
    ),
    d!("activerehashing", Kind::Bool, "yes", noeffect),
    d!("active-expire-effort", Kind::Int { min: 1, max: 10 }, "1"),
    d!(
        "lfu-log-factor",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "10"
    ),
    d!(
        "lfu-decay-time",
        Kind::Int {
            min: 0,
            max: I32MAX
        },
        "1"
    ),
    // Active defragmentation (no jemalloc here).
    d!("activedefrag", Kind::Bool, "no", noeffect),
    d!(
        "active-defrag-ignore-bytes",
        Kind::Memory {
            min: 1,
            max: I64MAX
        },
        "104857600",
        noeffect
    ),
    d!(
        "active-defrag-threshold-lower",
        Kind::Int { min: 0, max: 1000 },
        "10",
        noeffect
    ),
    d!(
        "active-defrag-threshold-upper",
        Kind::Int { min: 0, max: 1000 },
        "100",
        noeffect
    ),
    d!(
        "active-defrag-cycle-min",
        Kind::Int { min: 1, max: 99 },
        "1",
        noeffect
    ),
    d!(
        "active-defrag-cycle-max",
        Kind::Int { min: 1, max: 99 },
        "25",
        noeffect
    ),
    d!(
        "active-defrag-max-scan-fields",
        Kind::Int {
            min: 1,
            max: I64MAX
        },
        "1000",
        noeffect
    ),
    d!("jemalloc-bg-thread", Kind::Bool, "yes", noeffect),
    // File-only directives.
    d!("include", Kind::FileOnly, "", noeffect),
    d!("rename-command", Kind::FileOnly, "", noeffect),
    d!("user", Kind::FileOnly, "", noeffect),
    d!("loadmodule", Kind::FileOnly, "", noeffect),
];

/// Parses a memory value: bytes with an optional k/kb/m/mb/g/gb unit
/// (k = 1000, kb = 1024), case-insensitive, like Redis's memtoull.
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let (digits, mul): (&str, i64) = if let Some(d) = lower.strip_suffix("gb") {
        (d, 1024 * 1024 * 1024)
    } else if let Some(d) = lower.strip_suffix("mb") {
        (d, 1024 * 1024)
    } else if let Some(d) = lower.strip_suffix("kb") {
        (d, 1024)
    } else if let Some(d) = lower.strip_suffix('g') {
        (d, 1000 * 1000 * 1000)
    } else if let Some(d) = lower.strip_suffix('m') {
        (d, 1000 * 1000)
    } else if let Some(d) = lower.strip_suffix('k') {
        (d, 1000)
    } else if let Some(d) = lower.strip_suffix('b') {
        (d, 1)
    } else {
        (lower.as_str(), 1)
    };
    // Like Redis's memtoull: digits only, so negative values are rejected
    // as "argument must be a memory value".
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok()?.checked_mul(mul)
}

fn expect_one(values: &[String]) -> Result<&str, ConfigError> {
    match values {
        [v] => Ok(v),
        _ => Err(ConfigError::new("wrong number of arguments")),
    }
}

fn range_error(min: i64, max: i64) -> ConfigError {
    ConfigError::new(format!(
        "argument must be between {min} and {max} inclusive"
    ))
}

/// Validates a directive's arguments and returns the value as CONFIG GET prints it.
pub fn normalize(d: &Directive, values: &[String]) -> Result<String, ConfigError> {
    match d.kind {
        Kind::Bool => match expect_one(values)?.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err(ConfigError::new("argument must be 'yes' or 'no'")),
        },
        Kind::Int { min, max } => {
            let v = expect_one(values)?;
            let n: i64 = v
                .parse()
                .map_err(|_| ConfigError::new("argument couldn't be parsed into an integer"))?;
            if n < min || n > max {
                return Err(range_error(min, max));
            }
            Ok(n.to_string())
        }
        Kind::Memory { min, max } => {
            let v = expect_one(values)?;
            let n = parse_memory(v)
                .ok_or_else(|| ConfigError::new("argument must be a memory value"))?;
            if n < min || n > max {
                return Err(range_error(min, max));
            }
            Ok(n.to_string())
        }
        Kind::MemoryOrPercent => {
            let v = expect_one(values)?;
            if let Some(p) = v.strip_suffix('%') {
                let n: i64 = p
                    .parse()
                    .map_err(|_| ConfigError::new("argument must be a memory or percent value"))?;
                if !(0..=100).contains(&n) {
                    return Err(ConfigError::new(
                        "argument must be a memory or percent value",
                    ));
                }
                return Ok(format!("{n}%"));
            }
            let n = parse_memory(v)
                .ok_or_else(|| ConfigError::new("argument must be a memory or percent value"))?;
            Ok(n.to_string())
        }
        Kind::Enum(options) => {
            let v = expect_one(values)?.to_ascii_lowercase();
            if options.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err(ConfigError::new(format!(
                    "argument(s) must be one of the following: {}",
                    options.join(", ")
                )))
            }
        }
        Kind::Str | Kind::FileOnly => {
            if d.kind == Kind::Str {
                Ok(expect_one(values)?.to_string())
            } else {
                Ok(values.join(" "))
            }
        }
        Kind::Octal => {
            let v = expect_one(values)?;
            i64::from_str_radix(v, 8)
                .map(|n| format!("{n:o}"))
                .map_err(|_| ConfigError::new("argument couldn't be parsed into an integer"))
        }
        Kind::Save => normalize_save(values),
        Kind::List => {
            if values.is_empty() {
                return Err(ConfigError::new("wrong number of arguments"));
            }
            Ok(values.join(" "))
        }
        Kind::ClientOutputBufferLimit => normalize_cobl(values),
        Kind::NotifyFlags => normalize_notify(expect_one(values)?),
        Kind::ReplicaOf => match values {
            [host, port] if host.eq_ignore_ascii_case("no") && port.eq_ignore_ascii_case("one") => {
                Ok(String::new())
            }
            [host, port] => {
                let p: i64 = port
                    .parse()
                    .map_err(|_| ConfigError::new("Invalid master port"))?;
                if !(0..=65535).contains(&p) {
                    return Err(ConfigError::new("Invalid master port"));
                }
                Ok(format!("{host} {p}"))
            }
            _ => Err(ConfigError::new("wrong number of arguments")),
        },
        Kind::IntTriple => {
            if values.len() != 3 {
                return Err(ConfigError::new(
                    "Invalid oom-score-adj-values: must be 3 values",
                ));
            }
            let mut out = Vec::new();
            for v in values {
                let n: i64 = v.parse().map_err(|_| {
                    ConfigError::new(
                        "Invalid oom-score-adj-values, elements must be between -2000 and 2000.",
                    )
                })?;
                if !(-2000..=2000).contains(&n) {
                    return Err(ConfigError::new(
                        "Invalid oom-score-adj-values, elements must be between -2000 and 2000.",
                    ));
                }
                out.push(n.to_string());
            }
            Ok(out.join(" "))
        }
        Kind::Percentiles => {
            let mut out = Vec::new();
            for v in values {
                let f: f64 = v.parse().map_err(|_| {
                    ConfigError::new(
                        "latency-tracking-info-percentiles needs to be a number between 0 and 100",
                    )
                })?;
                if !(0.0..=100.0).contains(&f) {
                    return Err(ConfigError::new(
                        "latency-tracking-info-percentiles needs to be a number between 0 and 100",
                    ));
                }
                out.push(v.clone());
            }
            Ok(out.join(" "))
        }
        Kind::ShutdownFlags => {
            const FLAGS: &[&str] = &["default", "save", "nosave", "now", "force"];
            if values.is_empty() {
                return Err(ConfigError::new("wrong number of arguments"));
            }
            let mut out = Vec::new();
            for v in values {
                let v = v.to_ascii_lowercase();
                if !FLAGS.contains(&v.as_str()) {
                    return Err(ConfigError::new(format!(
                        "argument(s) must be one of the following: {}",
                        FLAGS.join(", ")
                    )));
                }
                out.push(v);
            }
            Ok(out.join(" "))
        }
    }
}

/// Directives that may repeat in a config file accumulate (save,
/// client-output-buffer-limit); CONFIG SET replaces.
pub fn merge_multi(d: &Directive, previous: Option<&str>, new: String, from_file: bool) -> String {
    match d.kind {
        Kind::Save if from_file => {
            // The first `save` line in a file replaces the default; later ones add.
            match previous {
                Some(p) if !p.is_empty() && p != d.default && !new.is_empty() => {
                    format!("{p} {new}")
                }
                _ => new,
            }
        }
        Kind::ClientOutputBufferLimit => {
            let mut classes: Vec<(String, String)> = Vec::new();
            for src in [previous.unwrap_or(d.default), new.as_str()] {
                let words: Vec<&str> = src.split_whitespace().collect();
                for chunk in words.chunks(4) {
                    if chunk.len() == 4 {
                        let class = chunk[0].to_string();
                        let rest = chunk[1..].join(" ");
                        match classes.iter_mut().find(|(c, _)| *c == class) {
                            Some(slot) => slot.1 = rest,
                            None => classes.push((class, rest)),
                        }
                    }
                }
            }
            classes
                .into_iter()
                .map(|(c, r)| format!("{c} {r}"))
                .collect::<Vec<_>>()
                .join(" ")
        }
        _ => new,
    }
}

fn normalize_save(values: &[String]) -> Result<String, ConfigError> {
    if values.len() == 1 && values[0].is_empty() {
        return Ok(String::new());
    }
    // A single value holding several numbers (`--save "3600 1"`) is split
    // on spaces, as Redis does for its multi-argument directives.
    if let [single] = values {
        if single.contains(' ') {
            let split: Vec<String> = single.split_whitespace().map(str::to_string).collect();
            return normalize_save(&split);
        }
    }
    if values.is_empty() || !values.len().is_multiple_of(2) {
        return Err(ConfigError::new("Invalid save parameters"));
    }
    let mut out = Vec::new();
    for v in values {
        let n: i64 = v
            .parse()
            .map_err(|_| ConfigError::new("Invalid save parameters"))?;
        if n < 0 {
            return Err(ConfigError::new("Invalid save parameters"));
        }
        out.push(n.to_string());
    }
    Ok(out.join(" "))
}

fn normalize_cobl(values: &[String]) -> Result<String, ConfigError> {
    if values.is_empty() || !values.len().is_multiple_of(4) {
        return Err(ConfigError::new(
            "Wrong number of arguments in buffer limit configuration.",
        ));
    }
    let mut out = Vec::new();
    for chunk in values.chunks(4) {
        let class = match chunk[0].to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "replica" | "slave" => "slave",
            "pubsub" => "pubsub",
            _ => {
                return Err(ConfigError::new(
                    "Invalid client class specified in buffer limit configuration.",
                ))
            }
        };
        let hard = parse_memory(&chunk[1]);
        let soft = parse_memory(&chunk[2]);
        let secs: Option<i64> = chunk[3].parse().ok();
        match (hard, soft, secs) {
            (Some(h), Some(s), Some(t)) if h >= 0 && s >= 0 && t >= 0 => {
                out.push(format!("{class} {h} {s} {t}"))
            }
            _ => {
                return Err(ConfigError::new(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
                ))
            }
        }
    }
    Ok(out.join(" "))
}

/// Validates keyspace notification flags and prints them in Redis's order.
fn normalize_notify(v: &str) -> Result<String, ConfigError> {
    const ORDER: &str = "g$lshzxetmdnK E";
    let mut set = std::collections::HashSet::new();
    for c in v.chars() {
        match c {
            'A' => {
                for f in "g$lshzxetd".chars() {
                    set.insert(f);
                }
            }
            'g' | '$' | 'l' | 's' | 'h' | 'z' | 'x' | 'e' | 't' | 'm' | 'd' | 'n' | 'K' | 'E' => {
                set.insert(c);
            }
            _ => {
                return Err(ConfigError::new(
                    "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
                ))
            }
        }
    }
    let all = "g$lshzxetd".chars().all(|f| set.contains(&f));
    let mut out = String::new();
    if all {
        out.push('A');
    }
    for c in ORDER.chars() {
        if c == ' ' || (all && "g$lshzxetd".contains(c)) {
            continue;
        }
        if set.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}
