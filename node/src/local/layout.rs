//! Where each process of a local HA set listens and what its config file
//! says. Pure: the same options always give the same files.

use std::path::{Path, PathBuf};

/// The name the sentinels monitor the master under.
pub const DEFAULT_MASTER_NAME: &str = "mymaster";

/// What `redis-ha up` builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOptions {
    pub dir: PathBuf,
    /// The first data node's port; replicas take the following ports.
    pub port: u16,
    pub replicas: u16,
    /// The first sentinel's port; the others take the following ports.
    pub sentinel_port: u16,
    pub sentinels: u16,
    pub quorum: u16,
    pub down_after_ms: u64,
    pub failover_timeout_ms: u64,
    pub master_name: String,
}

impl Default for SetOptions {
    fn default() -> Self {
        SetOptions {
            dir: PathBuf::from("redis-ha-local"),
            port: 6379,
            replicas: 2,
            sentinel_port: 26379,
            sentinels: 3,
            quorum: 2,
            down_after_ms: 5000,
            failover_timeout_ms: 60000,
            master_name: DEFAULT_MASTER_NAME.to_string(),
        }
    }
}

/// Whether a process serves data or watches the data nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Master,
    Replica,
    Sentinel,
}

/// One process of the set: its port, working directory and config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub role: Role,
    pub port: u16,
    pub dir: PathBuf,
    pub config_text: String,
}

impl Member {
    pub fn config_path(&self) -> PathBuf {
        let name = match self.role {
            Role::Sentinel => "sentinel.conf",
            Role::Master | Role::Replica => "redis.conf",
        };
        self.dir.join(name)
    }
}

/// Checks the options a user can get wrong before anything is started.
pub fn validate(opts: &SetOptions) -> Result<(), String> {
    if opts.sentinels == 0 {
        return Err("at least one sentinel is needed".into());
    }
    if opts.quorum == 0 || opts.quorum > opts.sentinels {
        return Err(format!(
            "quorum must be between 1 and the number of sentinels ({}), got {}",
            opts.sentinels, opts.quorum
        ));
    }
    let last_data = u32::from(opts.port) + u32::from(opts.replicas);
    let last_sentinel = u32::from(opts.sentinel_port) + u32::from(opts.sentinels) - 1;
    if last_data > 65535 || last_sentinel > 65535 || opts.port == 0 || opts.sentinel_port == 0 {
        return Err("ports out of range".into());
    }
    let data = u32::from(opts.port)..=last_data;
    let sentinel = u32::from(opts.sentinel_port)..=last_sentinel;
    if data.start() <= sentinel.end() && sentinel.start() <= data.end() {
        return Err(format!(
            "data ports {}-{} overlap sentinel ports {}-{}",
            data.start(),
            data.end(),
            sentinel.start(),
            sentinel.end()
        ));
    }
    if opts.master_name.is_empty() || opts.master_name.contains(char::is_whitespace) {
        return Err(format!("invalid master name '{}'", opts.master_name));
    }
    Ok(())
}

/// Every member of the set, master first, then replicas, then sentinels.
pub fn members(opts: &SetOptions) -> Vec<Member> {
    let mut out = Vec::new();
    for i in 0..=opts.replicas {
        let port = opts.port + i;
        let role = if i == 0 { Role::Master } else { Role::Replica };
        out.push(Member {
            role,
            port,
            dir: opts.dir.join(format!("node-{port}")),
            config_text: data_config(opts, port, role),
        });
    }
    for i in 0..opts.sentinels {
        let port = opts.sentinel_port + i;
        out.push(Member {
            role: Role::Sentinel,
            port,
            dir: opts.dir.join(format!("sentinel-{port}")),
            config_text: sentinel_config(opts, port),
        });
    }
    out
}

fn data_config(opts: &SetOptions, port: u16, role: Role) -> String {
    let mut text = format!(
        "# Written by `redis-ha up`.\n\
         port {port}\n\
         bind 127.0.0.1\n\
         dir .\n\
         logfile redis.log\n\
         dbfilename dump.rdb\n\
         appendonly no\n\
         save 3600 1 300 100 60 10000\n\
         replica-announce-ip 127.0.0.1\n"
    );
    if role == Role::Replica {
        text.push_str(&format!("replicaof 127.0.0.1 {}\n", opts.port));
    }
    text
}

fn sentinel_config(opts: &SetOptions, port: u16) -> String {
    let name = &opts.master_name;
    format!(
        "# Written by `redis-ha up`; the sentinel rewrites it as it learns.\n\
         port {port}\n\
         bind 127.0.0.1\n\
         dir .\n\
         logfile sentinel.log\n\
         sentinel announce-ip 127.0.0.1\n\
         sentinel monitor {name} 127.0.0.1 {} {}\n\
         sentinel down-after-milliseconds {name} {}\n\
         sentinel failover-timeout {name} {}\n\
         sentinel parallel-syncs {name} 1\n",
        opts.port, opts.quorum, opts.down_after_ms, opts.failover_timeout_ms
    )
}

/// Writes every member's directory and config file. Existing directories
/// are reused only when `keep` is set (a restart of the same set keeps its
/// data and the sentinels' learned state); otherwise they must not exist.
pub fn write_files(members: &[Member], root: &Path, keep: bool) -> Result<(), String> {
    if root.exists() && !keep {
        return Err(format!(
            "{} already exists; remove it, choose another --dir, or pass --keep to restart that set",
            root.display()
        ));
    }
    for m in members {
        std::fs::create_dir_all(&m.dir)
            .map_err(|e| format!("creating {}: {e}", m.dir.display()))?;
        let path = m.config_path();
        // A kept sentinel config holds the sentinel's learned state (epochs,
        // the current master); rewriting it would forget a failover.
        if keep && path.exists() {
            continue;
        }
        std::fs::write(&path, &m.config_text)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_is_one_master_two_replicas_three_sentinels() {
        let ms = members(&SetOptions::default());
        let roles: Vec<Role> = ms.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::Master,
                Role::Replica,
                Role::Replica,
                Role::Sentinel,
                Role::Sentinel,
                Role::Sentinel
            ]
        );
        let ports: Vec<u16> = ms.iter().map(|m| m.port).collect();
        assert_eq!(ports, [6379, 6380, 6381, 26379, 26380, 26381]);
    }

    #[test]
    fn replicas_follow_the_first_node_and_sentinels_monitor_it() {
        let opts = SetOptions {
            port: 7000,
            sentinel_port: 27000,
            quorum: 2,
            ..SetOptions::default()
        };
        let ms = members(&opts);
        assert!(!ms[0].config_text.contains("replicaof"));
        assert!(ms[1].config_text.contains("replicaof 127.0.0.1 7000\n"));
        assert!(ms[3]
            .config_text
            .contains("sentinel monitor mymaster 127.0.0.1 7000 2\n"));
        assert!(ms[3].config_text.contains("port 27000\n"));
        assert_eq!(
            ms[3].config_path(),
            opts.dir.join("sentinel-27000/sentinel.conf")
        );
    }

    #[test]
    fn bad_options_are_refused() {
        let mut o = SetOptions {
            quorum: 4,
            ..SetOptions::default()
        };
        assert!(validate(&o).unwrap_err().contains("quorum"));
        o.quorum = 0;
        assert!(validate(&o).is_err());
        o.quorum = 2;
        o.sentinel_port = 6380;
        assert!(validate(&o).unwrap_err().contains("overlap"));
        o.sentinel_port = 65535;
        assert!(validate(&o).unwrap_err().contains("range"));
        o.sentinel_port = 26379;
        o.master_name = "my master".into();
        assert!(validate(&o).is_err());
        assert!(validate(&SetOptions::default()).is_ok());
    }
}
