//! sentinel.conf: parsing at start-up, and the rewrite that persists the
//! Sentinel's state (myid, epochs, known replicas and sentinels) on every
//! change, with fsync and an atomic rename as Redis does.

use std::io::Write;
use std::net::ToSocketAddrs;
use std::path::Path;

use crate::config::{quote_config_arg, FatalConfigError};
use crate::resp::request::split_args;

use super::instance::{DEFAULT_DOWN_AFTER, DEFAULT_FAILOVER_TIMEOUT, DEFAULT_PARALLEL_SYNCS};

pub const DEFAULT_PORT: u16 = 26379;

/// One `sentinel monitor` block with its options and persisted state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MasterConf {
    pub name: String,
    pub host: String,
    pub ip: String,
    pub port: u16,
    pub quorum: u32,
    pub down_after: i64,
    pub failover_timeout: i64,
    pub parallel_syncs: i64,
    pub auth_pass: Option<String>,
    pub auth_user: Option<String>,
    pub notification_script: Option<String>,
    pub client_reconfig_script: Option<String>,
    pub rename_commands: Vec<(String, String)>,
    pub master_reboot_down_after_period: i64,
    pub config_epoch: u64,
    pub leader_epoch: u64,
    pub known_replicas: Vec<(String, u16)>,
    pub known_sentinels: Vec<(String, u16, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SentinelConfig {
    pub port: u16,
    pub bind: Vec<String>,
    pub dir: Option<String>,
    pub logfile: String,
    pub loglevel: String,
    pub pidfile: String,
    pub requirepass: Option<String>,
    pub myid: Option<String>,
    pub current_epoch: u64,
    pub announce_ip: Option<String>,
    pub announce_port: u16,
    pub resolve_hostnames: bool,
    pub announce_hostnames: bool,
    pub sentinel_user: Option<String>,
    pub sentinel_pass: Option<String>,
    pub deny_scripts_reconfig: bool,
    pub masters: Vec<MasterConf>,
}

impl Default for SentinelConfig {
    fn default() -> Self {
        SentinelConfig {
            port: DEFAULT_PORT,
            bind: Vec::new(),
            dir: None,
            logfile: String::new(),
            loglevel: "notice".into(),
            pidfile: String::new(),
            requirepass: None,
            myid: None,
            current_epoch: 0,
            announce_ip: None,
            announce_port: 0,
            resolve_hostnames: false,
            announce_hostnames: false,
            sentinel_user: None,
            sentinel_pass: None,
            deny_scripts_reconfig: true,
            masters: Vec::new(),
        }
    }
}

fn yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn number<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.parse::<T>()
        .map_err(|_| format!("Invalid argument '{v}'"))
}

/// Resolves `host` to an IP: literal IPs always, names only with
/// resolve-hostnames (Redis refuses hostnames otherwise).
pub fn resolve(host: &str, allow_names: bool) -> Option<String> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Some(ip.to_string());
    }
    if !allow_names {
        return None;
    }
    (host, 0)
        .to_socket_addrs()
        .ok()?
        .map(|a| a.ip())
        .find(|ip| ip.is_ipv4())
        .map(|ip| ip.to_string())
}

impl SentinelConfig {
    /// Parses the file text and then the command-line overrides (already
    /// turned into config lines).
    pub fn parse(text: &str) -> Result<SentinelConfig, FatalConfigError> {
        let mut conf = SentinelConfig::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |reason: String| FatalConfigError {
                line_number: i + 1,
                line: line.to_string(),
                reason,
            };
            let Some(args) = split_args(line.as_bytes()) else {
                return Err(fail("Unbalanced quotes in configuration line".into()));
            };
            let args: Vec<String> = args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if args.is_empty() {
                continue;
            }
            conf.apply(&args).map_err(fail)?;
        }
        Ok(conf)
    }

    fn apply(&mut self, args: &[String]) -> Result<(), String> {
        let name = args[0].to_ascii_lowercase();
        let one = || -> Result<&str, String> {
            if args.len() == 2 {
                Ok(args[1].as_str())
            } else {
                Err("wrong number of arguments".into())
            }
        };
        match name.as_str() {
            "sentinel" => self.apply_sentinel(&args[1..]),
            "port" => {
                self.port = number(one()?)?;
                Ok(())
            }
            "bind" => {
                self.bind = args[1..].to_vec();
                Ok(())
            }
            "dir" => {
                self.dir = Some(one()?.to_string());
                Ok(())
            }
            "logfile" => {
                self.logfile = one()?.to_string();
                Ok(())
            }
            "loglevel" => {
                self.loglevel = one()?.to_ascii_lowercase();
                Ok(())
            }
            "pidfile" => {
                self.pidfile = one()?.to_string();
                Ok(())
            }
            "requirepass" => {
                let v = one()?;
                self.requirepass = (!v.is_empty()).then(|| v.to_string());
                Ok(())
            }
            "daemonize" => {
                if yes_no(one()?)? {
                    Err("daemonize yes is not supported by redis-ha-node: run it under a supervisor".into())
                } else {
                    Ok(())
                }
            }
            _ => {
                // Other redis.conf directives (protected-mode, user,
                // latency-tracking...) are valid in sentinel.conf and do
                // not change Sentinel's behaviour here.
                if crate::config::find_directive(&name).is_some() {
                    Ok(())
                } else {
                    Err("Bad directive or wrong number of arguments".into())
                }
            }
        }
    }

    fn master_mut(&mut self, name: &str) -> Result<&mut MasterConf, String> {
        self.masters
            .iter_mut()
            .find(|m| m.name == name)
            .ok_or_else(|| "No such master with specified name.".to_string())
    }

    fn apply_sentinel(&mut self, a: &[String]) -> Result<(), String> {
        let Some(opt) = a.first() else {
            return Err("sentinel directive requires arguments".into());
        };
        let opt = opt.to_ascii_lowercase();
        let argc = a.len();
        let wrong = || Err::<(), String>("Unrecognized sentinel configuration statement.".into());
        match (opt.as_str(), argc) {
            ("monitor", 5) => {
                let quorum: i64 = number(&a[4])?;
                if quorum <= 0 {
                    return Err("Quorum must be 1 or greater.".into());
                }
                let port: u16 = number(&a[3])?;
                let ip = resolve(&a[2], self.resolve_hostnames)
                    .ok_or("Can't resolve instance hostname.")?;
                if self.masters.iter().any(|m| m.name == a[1]) {
                    return Err("Duplicate master name.".into());
                }
                self.masters.push(MasterConf {
                    name: a[1].clone(),
                    host: a[2].clone(),
                    ip,
                    port,
                    quorum: quorum as u32,
                    down_after: DEFAULT_DOWN_AFTER,
                    failover_timeout: DEFAULT_FAILOVER_TIMEOUT,
                    parallel_syncs: DEFAULT_PARALLEL_SYNCS,
                    ..MasterConf::default()
                });
                Ok(())
            }
            ("down-after-milliseconds", 3) => {
                let v: i64 = number(&a[2])?;
                if v <= 0 {
                    return Err("negative or zero time parameter.".into());
                }
                self.master_mut(&a[1])?.down_after = v;
                Ok(())
            }
            ("failover-timeout", 3) => {
                let v: i64 = number(&a[2])?;
                if v <= 0 {
                    return Err("negative or zero time parameter.".into());
                }
                self.master_mut(&a[1])?.failover_timeout = v;
                Ok(())
            }
            ("parallel-syncs", 3) => {
                let v: i64 = number(&a[2])?;
                self.master_mut(&a[1])?.parallel_syncs = v;
                Ok(())
            }
            ("master-reboot-down-after-period", 3) => {
                let v: i64 = number(&a[2])?;
                if v < 0 {
                    return Err("negative time parameter.".into());
                }
                self.master_mut(&a[1])?.master_reboot_down_after_period = v;
                Ok(())
            }
            ("notification-script", 3) | ("client-reconfig-script", 3) => {
                let path = a[2].clone();
                if !is_executable(&path) {
                    return Err(format!(
                        "{} seems non existing or non executable.",
                        if opt == "notification-script" {
                            "Notification script"
                        } else {
                            "Client reconfiguration script"
                        }
                    ));
                }
                let m = self.master_mut(&a[1])?;
                if opt == "notification-script" {
                    m.notification_script = Some(path);
                } else {
                    m.client_reconfig_script = Some(path);
                }
                Ok(())
            }
            ("auth-pass", 3) => {
                self.master_mut(&a[1])?.auth_pass = Some(a[2].clone());
                Ok(())
            }
            ("auth-user", 3) => {
                self.master_mut(&a[1])?.auth_user = Some(a[2].clone());
                Ok(())
            }
            ("current-epoch", 2) => {
                self.current_epoch = number(&a[1])?;
                Ok(())
            }
            ("myid", 2) => {
                if a[1].len() != 40 {
                    return Err("Malformed Sentinel id in myid option.".into());
                }
                self.myid = Some(a[1].clone());
                Ok(())
            }
            ("config-epoch", 3) => {
                self.master_mut(&a[1])?.config_epoch = number(&a[2])?;
                Ok(())
            }
            ("leader-epoch", 3) => {
                self.master_mut(&a[1])?.leader_epoch = number(&a[2])?;
                Ok(())
            }
            ("known-slave", 4) | ("known-replica", 4) => {
                let port: u16 = number(&a[3])?;
                let host = a[2].clone();
                self.master_mut(&a[1])?.known_replicas.push((host, port));
                Ok(())
            }
            ("known-sentinel", 4) => Ok(()), // old form without runid: ignored
            ("known-sentinel", 5) => {
                let port: u16 = number(&a[3])?;
                let host = a[2].clone();
                let runid = a[4].clone();
                self.master_mut(&a[1])?
                    .known_sentinels
                    .push((host, port, runid));
                Ok(())
            }
            ("rename-command", 4) => {
                let (from, to) = (a[2].clone(), a[3].clone());
                self.master_mut(&a[1])?.rename_commands.push((from, to));
                Ok(())
            }
            ("announce-ip", 2) => {
                self.announce_ip = (!a[1].is_empty()).then(|| a[1].clone());
                Ok(())
            }
            ("announce-port", 2) => {
                self.announce_port = number(&a[1])?;
                Ok(())
            }
            ("deny-scripts-reconfig", 2) => {
                self.deny_scripts_reconfig = yes_no(&a[1])?;
                Ok(())
            }
            ("resolve-hostnames", 2) => {
                self.resolve_hostnames = yes_no(&a[1])?;
                Ok(())
            }
            ("announce-hostnames", 2) => {
                self.announce_hostnames = yes_no(&a[1])?;
                Ok(())
            }
            ("sentinel-user", 2) => {
                self.sentinel_user = (!a[1].is_empty()).then(|| a[1].clone());
                Ok(())
            }
            ("sentinel-pass", 2) => {
                self.sentinel_pass = (!a[1].is_empty()).then(|| a[1].clone());
                Ok(())
            }
            _ => wrong(),
        }
    }
}

pub fn is_executable(path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Redis's start-up check: the state file must exist and be writable.
pub fn check_writable(path: &Path) -> Result<(), String> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| "bad path".to_string())?;
    // SAFETY: access() only reads the NUL-terminated path we own.
    let rc = unsafe { libc::access(c.as_ptr(), libc::W_OK) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().to_string())
    }
}

/// A rewritten line and the key that says which old line it replaces.
pub struct ConfLine {
    pub key: String,
    pub text: String,
    /// Lines of this key are preceded by an empty line when appended (as
    /// redis-sentinel prints known-replica and known-sentinel).
    pub spaced: bool,
}

impl ConfLine {
    pub fn new(key: impl Into<String>, text: impl Into<String>) -> ConfLine {
        ConfLine {
            key: key.into(),
            text: text.into(),
            spaced: false,
        }
    }
}

pub const REWRITE_MARKER: &str = "# Generated by CONFIG REWRITE";

/// The key of an existing config line, matching `ConfLine::key`: `port`,
/// `sentinel myid`, `sentinel monitor mymaster`, ...
pub fn line_key(line: &str) -> Option<String> {
    let args = split_args(line.trim().as_bytes())?;
    let args: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let first = args.first()?;
    if first != "sentinel" {
        return Some(first.clone());
    }
    let opt = args.get(1)?.as_str();
    let opt = if opt == "known-slave" {
        "known-replica"
    } else {
        opt
    };
    let global = matches!(
        opt,
        "myid"
            | "current-epoch"
            | "announce-ip"
            | "announce-port"
            | "deny-scripts-reconfig"
            | "resolve-hostnames"
            | "announce-hostnames"
            | "sentinel-user"
            | "sentinel-pass"
    );
    if global {
        Some(format!("sentinel {opt}"))
    } else {
        // Per-master options: the master name is args[2]; names are case
        // sensitive, so take it from the original text.
        let orig = split_args(line.trim().as_bytes())?;
        let master = orig
            .get(2)
            .map(|m| String::from_utf8_lossy(m).into_owned())?;
        Some(format!("sentinel {opt} {master}"))
    }
}

/// Redis's rewrite algorithm: the first old line of each key is replaced by
/// all new lines of that key, later old lines of that key are dropped,
/// other lines (comments, unrelated directives) are kept; new lines whose
/// key never appeared are appended after the marker.
pub fn render(old: &str, new_lines: &[ConfLine], managed: &dyn Fn(&str) -> bool) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut used: std::collections::HashSet<String> = std::collections::HashSet::new();
    // Everything after the marker was generated by an earlier rewrite and
    // is generated again below.
    for line in old.lines() {
        if line.trim() == REWRITE_MARKER {
            break;
        }
        let key = if line.trim().is_empty() || line.trim_start().starts_with('#') {
            None
        } else {
            line_key(line)
        };
        match key {
            Some(k) if managed(&k) => {
                if used.insert(k.clone()) {
                    out.extend(
                        new_lines
                            .iter()
                            .filter(|l| l.key == k)
                            .map(|l| l.text.clone()),
                    );
                }
            }
            _ => out.push(line.to_string()),
        }
    }
    // Trailing empty lines from earlier appends would accumulate.
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    let rest: Vec<&ConfLine> = new_lines
        .iter()
        .filter(|l| !used.contains(&l.key))
        .collect();
    if !rest.is_empty() {
        out.push(String::new());
        out.push(REWRITE_MARKER.to_string());
        let mut last_key = String::new();
        for l in rest {
            if l.spaced && l.key != last_key {
                out.push(String::new());
            }
            last_key = l.key.clone();
            out.push(l.text.clone());
        }
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// Writes the file atomically: temp file, fsync, rename, fsync of the dir.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("sentinel.conf"),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        // Keep the original file's permissions.
        if let Ok(meta) = std::fs::metadata(path) {
            let _ = std::fs::set_permissions(&tmp, meta.permissions());
        }
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Quotes a value for the config file.
pub fn q(v: &str) -> String {
    quote_config_arg(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_monitor_and_options() {
        let c = SentinelConfig::parse(
            "port 5000\nsentinel monitor m 127.0.0.1 6379 2\n\
             sentinel down-after-milliseconds m 1000\nsentinel known-replica m 127.0.0.1 7000\n\
             sentinel known-sentinel m 127.0.0.1 5001 aaaa\nsentinel known-sentinel m 127.0.0.1 5002\n\
             sentinel current-epoch 7\nsentinel auth-pass m \"a b\"\n",
        )
        .unwrap();
        assert_eq!(c.port, 5000);
        assert_eq!(c.current_epoch, 7);
        let m = &c.masters[0];
        assert_eq!(
            (m.name.as_str(), m.port, m.quorum, m.down_after),
            ("m", 6379, 2, 1000)
        );
        assert_eq!(m.known_replicas, vec![("127.0.0.1".to_string(), 7000)]);
        assert_eq!(m.known_sentinels.len(), 1);
        assert_eq!(m.auth_pass.as_deref(), Some("a b"));
    }

    #[test]
    fn rejects_bad_quorum_unknown_master_and_hostnames() {
        let e = SentinelConfig::parse("sentinel monitor m 127.0.0.1 6379 0").unwrap_err();
        assert_eq!(e.reason, "Quorum must be 1 or greater.");
        let e = SentinelConfig::parse("sentinel down-after-milliseconds x 10").unwrap_err();
        assert_eq!(e.reason, "No such master with specified name.");
        let e = SentinelConfig::parse("sentinel monitor m localhost 6379 1").unwrap_err();
        assert_eq!(e.reason, "Can't resolve instance hostname.");
        let c = SentinelConfig::parse(
            "sentinel resolve-hostnames yes\nsentinel monitor m localhost 6379 1",
        )
        .unwrap();
        assert_eq!(c.masters[0].host, "localhost");
        assert_eq!(c.masters[0].ip, "127.0.0.1");
        let e = SentinelConfig::parse("sentinel bogus").unwrap_err();
        assert_eq!(e.reason, "Unrecognized sentinel configuration statement.");
    }

    #[test]
    fn rewrite_replaces_in_place_and_appends() {
        let old = "port 1\n# comment\nsentinel monitor m 1.1.1.1 1 2\nsentinel known-replica m 1.1.1.1 2\n";
        let new = vec![
            ConfLine::new("sentinel myid", "sentinel myid abc"),
            ConfLine::new("sentinel monitor m", "sentinel monitor m 2.2.2.2 2 2"),
            ConfLine {
                key: "sentinel known-replica m".into(),
                text: "sentinel known-replica m 1.1.1.1 1".into(),
                spaced: true,
            },
        ];
        let out = render(old, &new, &|k| k.starts_with("sentinel "));
        assert_eq!(
            out,
            "port 1\n# comment\nsentinel monitor m 2.2.2.2 2 2\nsentinel known-replica m 1.1.1.1 1\n\n\
             # Generated by CONFIG REWRITE\nsentinel myid abc\n"
        );
        // Rewriting the output again is stable.
        assert_eq!(render(&out, &new, &|k| k.starts_with("sentinel ")), out);
    }
}
