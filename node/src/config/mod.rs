//! Configuration: redis.conf syntax, `--name value` overrides, CONFIG
//! GET/SET/REWRITE. Every directive is one row of `directives::DIRECTIVES`;
//! values are stored normalized (as CONFIG GET prints them) and the settings
//! the server reads on hot paths are mirrored into typed fields.

pub mod directives;
pub mod rewrite;

use std::collections::HashMap;

pub use directives::{Directive, Effect, Kind, DIRECTIVES};

/// The version string in error banners and INFO.
pub const REDIS_VERSION: &str = "7.0.15";

/// Settings the server reads often, kept typed.
#[derive(Clone, Debug)]
pub struct Settings {
    pub port: u16,
    pub bind: Vec<String>,
    pub requirepass: Option<Vec<u8>>,
    pub databases: usize,
    pub timeout_secs: u64,
    pub tcp_keepalive_secs: u64,
    pub maxclients: usize,
    pub loglevel: String,
    pub logfile: String,
    pub dir: String,
    pub dbfilename: String,
    pub protected_mode: bool,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub hz: u32,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: usize,
    pub latency_monitor_threshold: i64,
    pub encoding: crate::db::EncodingLimits,
    pub active_expire_effort: u32,
    pub lazyfree_lazy_user_flush: bool,
    pub pidfile: String,
    /// Runtime worker threads: 1 runs everything on one thread, like Redis.
    pub io_threads: usize,
    /// Hard output-buffer limit of pub/sub clients (client-output-buffer-limit pubsub).
    pub pubsub_output_hard_limit: usize,
    /// maxmemory in bytes (0 = no limit).
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub maxmemory_samples: usize,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
}

impl Settings {
    /// The LFU parameters when an LFU maxmemory policy is selected.
    pub fn lfu_params(&self) -> Option<crate::db::lfu::LfuParams> {
        self.maxmemory_policy
            .contains("lfu")
            .then_some(crate::db::lfu::LfuParams {
                log_factor: self.lfu_log_factor,
                decay_minutes: self.lfu_decay_time,
            })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            port: 6379,
            bind: vec!["*".into(), "-::*".into()],
            requirepass: None,
            databases: 16,
            timeout_secs: 0,
            tcp_keepalive_secs: 300,
            maxclients: 10000,
            loglevel: "notice".into(),
            logfile: String::new(),
            dir: ".".into(),
            dbfilename: "dump.rdb".into(),
            protected_mode: true,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            hz: 10,
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            encoding: crate::db::EncodingLimits::default(),
            active_expire_effort: 1,
            lazyfree_lazy_user_flush: false,
            pidfile: String::new(),
            io_threads: 1,
            pubsub_output_hard_limit: 32 * 1024 * 1024,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
        }
    }
}

/// A problem with one directive; `text` is Redis's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub text: String,
}

impl ConfigError {
    pub fn new(text: impl Into<String>) -> Self {
        ConfigError { text: text.into() }
    }
}

/// Where a fatal config-file error happened, formatted like Redis's banner.
#[derive(Debug)]
pub struct FatalConfigError {
    pub line_number: usize,
    pub line: String,
    pub reason: String,
}

impl std::fmt::Display for FatalConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\nReading the configuration file, at line {}\n>>> '{}'\n{}",
            self.line_number, self.line, self.reason
        )
    }
}

impl std::error::Error for FatalConfigError {}

/// The whole configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Normalized value of every directive, by canonical name.
    values: HashMap<&'static str, String>,
    /// Directives given explicitly (config file, command line or CONFIG SET),
    /// so CONFIG REWRITE knows what to write.
    pub explicit: Vec<&'static str>,
    /// The config file, when one was given (CONFIG REWRITE needs it).
    pub file: Option<std::path::PathBuf>,
    pub settings: Settings,
    /// Directives that are accepted but have no effect in this server,
    /// reported once at start-up.
    pub ignored: Vec<&'static str>,
    /// Started with --sentinel (or as redis-sentinel).
    pub sentinel_mode: bool,
}

impl Default for Config {
    fn default() -> Self {
        let mut c = Config {
            values: HashMap::new(),
            explicit: Vec::new(),
            file: None,
            settings: Settings::default(),
            ignored: Vec::new(),
            sentinel_mode: false,
        };
        for d in DIRECTIVES {
            c.values.insert(d.name, d.default.to_string());
        }
        c
    }
}

/// Finds a directive by name or alias, case-insensitively.
pub fn find_directive(name: &str) -> Option<&'static Directive> {
    let lower = name.to_ascii_lowercase();
    DIRECTIVES
        .iter()
        .find(|d| d.name == lower || d.alias == Some(lower.as_str()))
}

impl Config {
    /// Loads a config file's text followed by command-line overrides, which
    /// redis-server treats as extra config lines appended to the file.
    pub fn load(file_text: Option<&str>, overrides: &[String]) -> Result<Config, FatalConfigError> {
        let mut config = Config::default();
        let mut text = file_text.unwrap_or("").to_string();
        if !overrides.is_empty() {
            text.push('\n');
            text.push_str(&overrides_to_lines(overrides));
        }
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fatal = |reason: String| FatalConfigError {
                line_number: i + 1,
                line: line.to_string(),
                reason,
            };
            let args = crate::resp::request::split_args(line.as_bytes())
                .ok_or_else(|| fatal("Unbalanced quotes in configuration line".into()))?;
            let args: Vec<String> = args
                .into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect();
            let Some((name, values)) = args.split_first() else {
                continue;
            };
            config
                .apply_line(name, values, true)
                .map_err(|e| fatal(e.text))?;
        }
        Ok(config)
    }

    /// Applies one directive with its arguments. `startup` allows immutable ones.
    pub fn apply_line(
        &mut self,
        name: &str,
        values: &[String],
        startup: bool,
    ) -> Result<(), ConfigError> {
        let Some(d) = find_directive(name) else {
            return Err(ConfigError::new(
                "Bad directive or wrong number of arguments",
            ));
        };
        if !startup && d.immutable {
            return Err(ConfigError::new("can't set immutable config"));
        }
        let normalized = directives::normalize(d, values)?;
        let normalized = directives::merge_multi(
            d,
            self.values.get(d.name).map(|s| s.as_str()),
            normalized,
            startup,
        );
        self.apply_typed(d.name, &normalized)?;
        self.values.insert(d.name, normalized);
        if !self.explicit.contains(&d.name) {
            self.explicit.push(d.name);
        }
        if startup && d.effect == Effect::None && !self.ignored.contains(&d.name) {
            self.ignored.push(d.name);
        }
        Ok(())
    }

    /// CONFIG SET of one parameter.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let d = find_directive(name).ok_or_else(|| ConfigError::new("unknown"))?;
        let values: Vec<String> = if d.kind.takes_many() {
            let words: Vec<String> = crate::resp::request::split_args(value.as_bytes())
                .ok_or_else(|| ConfigError::new("Unbalanced quotes"))?
                .into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect();
            // An empty value (CONFIG SET save "") is one empty word.
            if words.is_empty() {
                vec![String::new()]
            } else {
                words
            }
        } else {
            vec![value.to_string()]
        };
        self.apply_line(d.name, &values, false)
    }

    /// The normalized value of a directive (canonical name).
    pub fn get(&self, name: &str) -> Option<&str> {
        find_directive(name)
            .and_then(|d| self.values.get(d.name))
            .map(|s| s.as_str())
    }

    /// All (name, value) pairs matching a glob pattern, aliases included as
    /// Redis does (CONFIG GET *).
    pub fn get_matching(&self, pattern: &[u8]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for d in DIRECTIVES {
            if d.kind == Kind::FileOnly {
                continue;
            }
            // Hidden directives answer only to their exact name.
            if d.hidden && !pattern.eq_ignore_ascii_case(d.name.as_bytes()) {
                continue;
            }
            let value = self.values.get(d.name).cloned().unwrap_or_default();
            if crate::glob::glob_match(pattern, d.name.as_bytes(), true) {
                out.push((d.name.to_string(), value.clone()));
            }
            if let Some(alias) = d.alias {
                if crate::glob::glob_match(pattern, alias.as_bytes(), true) {
                    out.push((alias.to_string(), value));
                }
            }
        }
        out
    }

    fn apply_typed(&mut self, name: &str, v: &str) -> Result<(), ConfigError> {
        let s = &mut self.settings;
        let num = || v.parse::<i64>().unwrap_or(0);
        match name {
            "port" => s.port = num() as u16,
            "bind" => s.bind = v.split_whitespace().map(String::from).collect(),
            "requirepass" => s.requirepass = (!v.is_empty()).then(|| v.as_bytes().to_vec()),
            "databases" => s.databases = num() as usize,
            "timeout" => s.timeout_secs = num() as u64,
            "tcp-keepalive" => s.tcp_keepalive_secs = num() as u64,
            "maxclients" => s.maxclients = num() as usize,
            "loglevel" => s.loglevel = v.to_string(),
            "logfile" => s.logfile = v.to_string(),
            "dir" => {
                if !v.is_empty() && !std::path::Path::new(v).is_dir() {
                    return Err(ConfigError::new(format!(
                        "No such file or directory: '{v}'"
                    )));
                }
                s.dir = v.to_string()
            }
            "dbfilename" => {
                if v.contains('/') {
                    return Err(ConfigError::new(
                        "dbfilename can't be a path, just a filename",
                    ));
                }
                s.dbfilename = v.to_string()
            }
            // The AOF files live in one directory under `dir` (Redis's
            // isValidAOFfilename / isValidAOFdirname).
            "appendfilename" if v.is_empty() => {
                return Err(ConfigError::new("appendfilename can't be empty"));
            }
            "appendfilename" if v.contains('/') => {
                return Err(ConfigError::new(
                    "appendfilename can't be a path, just a filename",
                ));
            }
            "appenddirname" if v.contains('/') => {
                return Err(ConfigError::new(
                    "appenddirname can't be a path, just a dirname",
                ));
            }
            "protected-mode" => s.protected_mode = v == "yes",
            "proto-max-bulk-len" => s.proto_max_bulk_len = num() as u64,
            "client-query-buffer-limit" => s.client_query_buffer_limit = num() as u64,
            "hz" => s.hz = num().clamp(1, 500) as u32,
            "slowlog-log-slower-than" => s.slowlog_log_slower_than = num(),
            "slowlog-max-len" => s.slowlog_max_len = num() as usize,
            "latency-monitor-threshold" => s.latency_monitor_threshold = num(),
            "hash-max-listpack-entries" => s.encoding.hash_max_listpack_entries = num() as usize,
            "hash-max-listpack-value" => s.encoding.hash_max_listpack_value = num() as usize,
            "set-max-intset-entries" => s.encoding.set_max_intset_entries = num() as usize,
            "zset-max-listpack-entries" => s.encoding.zset_max_listpack_entries = num() as usize,
            "zset-max-listpack-value" => s.encoding.zset_max_listpack_value = num() as usize,
            "list-max-listpack-size" => s.encoding.list_max_listpack_size = num(),
            "active-expire-effort" => s.active_expire_effort = num() as u32,
            "lazyfree-lazy-user-flush" => s.lazyfree_lazy_user_flush = v == "yes",
            "pidfile" => s.pidfile = v.to_string(),
            "maxmemory" => s.maxmemory = num().max(0) as u64,
            "maxmemory-policy" => s.maxmemory_policy = v.to_string(),
            "maxmemory-samples" => s.maxmemory_samples = num().clamp(1, 64) as usize,
            "lfu-log-factor" => s.lfu_log_factor = num().clamp(0, u32::MAX as i64) as u32,
            "lfu-decay-time" => s.lfu_decay_time = num().clamp(0, u32::MAX as i64) as u32,
            "io-threads" => s.io_threads = num().max(1) as usize,
            "client-output-buffer-limit" => {
                let words: Vec<&str> = v.split_whitespace().collect();
                if let Some(chunk) = words.chunks(4).find(|c| c.first() == Some(&"pubsub")) {
                    s.pubsub_output_hard_limit =
                        chunk.get(1).and_then(|h| h.parse().ok()).unwrap_or(0);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Turns `--port 7000 --save "" --replicaof host 6379` into config lines,
/// as redis-server does: each `--name` starts a new line.
pub fn overrides_to_lines(args: &[String]) -> String {
    let mut out = String::new();
    let mut first = true;
    for a in args {
        if let Some(name) = a.strip_prefix("--") {
            if !first {
                out.push('\n');
            }
            out.push_str(name);
            first = false;
        } else {
            out.push(' ');
            out.push_str(&quote_config_arg(a));
        }
    }
    out
}

/// Quotes a value so `split_args` gives it back unchanged.
pub fn quote_config_arg(a: &str) -> String {
    if !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\')
    {
        return a.to_string();
    }
    let mut s = String::from("\"");
    for b in a.bytes() {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_overrides() {
        let c = Config::load(
            Some("port 7000\n# comment\nmaxmemory 1mb\n"),
            &["--port".into(), "7001".into(), "--save".into(), "".into()],
        )
        .unwrap();
        assert_eq!(c.settings.port, 7001);
        assert_eq!(c.get("maxmemory"), Some("1048576"));
        assert_eq!(c.get("save"), Some(""));
    }

    #[test]
    fn bad_lines_name_the_line() {
        let e = Config::load(Some("port 1\nnosuchthing 3\n"), &[]).unwrap_err();
        assert_eq!(e.line_number, 2);
        assert!(e
            .to_string()
            .contains("Bad directive or wrong number of arguments"));
        let e = Config::load(Some("port abc\n"), &[]).unwrap_err();
        assert!(
            e.reason
                .contains("argument couldn't be parsed into an integer"),
            "{}",
            e.reason
        );
        let e = Config::load(Some("appendonly maybe\n"), &[]).unwrap_err();
        assert_eq!(e.reason, "argument must be 'yes' or 'no'");
    }

    #[test]
    fn config_set_rules() {
        let mut c = Config::default();
        c.set("maxmemory", "2mb").unwrap();
        assert_eq!(c.get("maxmemory"), Some("2097152"));
        assert_eq!(
            c.set("daemonize", "yes").unwrap_err().text,
            "can't set immutable config"
        );
        assert!(c.set("port", "70000").is_err());
    }
}
