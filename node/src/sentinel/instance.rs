//! Per-instance state: a monitored master, one of its replicas, or another
//! Sentinel watching it. One struct for all three kinds, as in Redis's
//! `sentinelRedisInstance`, with a flag word saying which kind it is.

use indexmap::IndexMap;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;

pub const S_DOWN: u32 = 1 << 0;
pub const O_DOWN: u32 = 1 << 1;
pub const MASTER: u32 = 1 << 2;
pub const SLAVE: u32 = 1 << 3;
pub const SENTINEL: u32 = 1 << 4;
pub const DISCONNECTED: u32 = 1 << 5;
pub const MASTER_DOWN: u32 = 1 << 6;
pub const FAILOVER_IN_PROGRESS: u32 = 1 << 7;
pub const PROMOTED: u32 = 1 << 8;
pub const RECONF_SENT: u32 = 1 << 9;
pub const RECONF_INPROG: u32 = 1 << 10;
pub const RECONF_DONE: u32 = 1 << 11;
pub const FORCE_FAILOVER: u32 = 1 << 12;
pub const SCRIPT_KILL_SENT: u32 = 1 << 13;

/// Flag words in the order `SENTINEL MASTERS` prints them.
const FLAG_NAMES: &[(u32, &str)] = &[
    (S_DOWN, "s_down"),
    (O_DOWN, "o_down"),
    (MASTER, "master"),
    (SLAVE, "slave"),
    (SENTINEL, "sentinel"),
    (DISCONNECTED, "disconnected"),
    (MASTER_DOWN, "master_down"),
    (FAILOVER_IN_PROGRESS, "failover_in_progress"),
    (PROMOTED, "promoted"),
    (RECONF_SENT, "reconf_sent"),
    (RECONF_INPROG, "reconf_inprog"),
    (RECONF_DONE, "reconf_done"),
    (FORCE_FAILOVER, "force_failover"),
    (SCRIPT_KILL_SENT, "script_kill_sent"),
];

pub fn flags_text(flags: u32) -> String {
    FLAG_NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
}

pub const DEFAULT_DOWN_AFTER: i64 = 30_000;
pub const DEFAULT_FAILOVER_TIMEOUT: i64 = 180_000;
pub const DEFAULT_PARALLEL_SYNCS: i64 = 1;

/// Failover states, in order (comparisons like `>= ReconfSlaves` matter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailoverState {
    None,
    WaitStart,
    SelectSlave,
    SendSlaveofNoone,
    WaitPromotion,
    ReconfSlaves,
    UpdateConfig,
}

impl FailoverState {
    pub fn name(self) -> &'static str {
        match self {
            FailoverState::None => "none",
            FailoverState::WaitStart => "wait_start",
            FailoverState::SelectSlave => "select_slave",
            FailoverState::SendSlaveofNoone => "send_slaveof_noone",
            FailoverState::WaitPromotion => "wait_promotion",
            FailoverState::ReconfSlaves => "reconf_slaves",
            FailoverState::UpdateConfig => "update_config",
        }
    }
}

/// An instance address: the name it was configured or announced with
/// (a hostname with resolve-hostnames) and the IP it resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub hostname: String,
    pub ip: String,
    pub port: u16,
}

impl Addr {
    pub fn new(hostname: &str, ip: &str, port: u16) -> Addr {
        Addr {
            hostname: hostname.to_string(),
            ip: ip.to_string(),
            port,
        }
    }

    /// The address shown to clients and peers: the hostname with
    /// announce-hostnames, else the IP.
    pub fn announced(&self, announce_hostnames: bool) -> &str {
        if announce_hostnames {
            &self.hostname
        } else {
            &self.ip
        }
    }

    /// True when `host` names this address (IP or hostname).
    pub fn matches(&self, host: &str, port: u16) -> bool {
        self.port == port
            && (self.ip.eq_ignore_ascii_case(host) || self.hostname.eq_ignore_ascii_case(host))
    }
}

/// Replica instance name: `ip:port`, or `[ipv6]:port`.
pub fn replica_name(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// What a link's reply is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    Discard,
    Auth,
    Ping,
    Info,
    Publish,
    IsMasterDown,
    Subscribe,
}

/// A command queued for a link task.
#[derive(Debug)]
pub struct Outgoing {
    pub args: Vec<Vec<u8>>,
    pub kind: ReplyKind,
}

/// One connection to an instance (the command link, or the pub/sub link of
/// masters and replicas). The socket lives in a task; this is its handle.
#[derive(Debug, Default)]
pub struct Link {
    /// Identifies the task: replies from an older task are dropped.
    pub id: u64,
    pub connected: bool,
    pub tx: Option<UnboundedSender<Outgoing>>,
    pub task: Option<AbortHandle>,
    pub conn_time: i64,
    pub last_reconn_time: i64,
    pub pending_commands: i64,
    /// Last message seen on a pub/sub link.
    pub last_activity: i64,
    /// Our end of the socket: the IP put in hello messages.
    pub local_ip: String,
}

impl Link {
    /// True while a task exists (connecting or connected).
    pub fn exists(&self) -> bool {
        self.tx.is_some()
    }

    pub fn close(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.tx = None;
        self.connected = false;
        self.pending_commands = 0;
    }

    /// Queues a command; false when the link is not connected.
    pub fn send(&mut self, args: Vec<Vec<u8>>, kind: ReplyKind) -> bool {
        if !self.connected {
            return false;
        }
        match &self.tx {
            Some(tx) if tx.send(Outgoing { args, kind }).is_ok() => {
                self.pending_commands += 1;
                true
            }
            _ => false,
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.close();
    }
}

/// Builds a command from string-like parts.
pub fn cmd(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

#[derive(Debug)]
pub struct Instance {
    pub flags: u32,
    /// Master name, `ip:port` for replicas, run id for Sentinels.
    pub name: String,
    /// For replicas and Sentinels: the master they belong to.
    pub master_name: String,
    pub runid: Option<String>,
    pub config_epoch: u64,
    pub addr: Addr,
    pub cc: Link,
    pub pc: Link,

    pub last_pub_time: i64,
    pub last_hello_time: i64,
    pub last_master_down_reply_time: i64,
    pub s_down_since_time: i64,
    pub o_down_since_time: i64,
    pub down_after_period: i64,

    /// Time of the oldest PING still unanswered (0 = none).
    pub act_ping_time: i64,
    pub last_ping_time: i64,
    pub last_avail_time: i64,
    pub last_pong_time: i64,

    pub info_refresh: i64,
    pub info: Option<String>,
    pub role_reported: u32,
    pub role_reported_time: i64,
    pub slave_conf_change_time: i64,

    // Replica facts from INFO.
    pub master_link_down_time: i64,
    pub slave_priority: i64,
    pub slave_master_host: Option<String>,
    pub slave_master_port: i64,
    pub slave_master_link_up: bool,
    pub slave_repl_offset: u64,
    pub replica_announced: bool,
    pub slave_reconf_sent_time: i64,

    /// Sentinels: who they voted for (learnt from is-master-down replies).
    /// Masters: who we voted for.
    pub leader: Option<String>,
    pub leader_epoch: u64,

    // Master settings and failover state.
    pub quorum: u32,
    pub parallel_syncs: i64,
    pub auth_pass: Option<String>,
    pub auth_user: Option<String>,
    pub failover_timeout: i64,
    pub failover_state: FailoverState,
    pub failover_epoch: u64,
    pub failover_start_time: i64,
    pub failover_state_change_time: i64,
    pub failover_delay_logged: i64,
    /// Name of the replica being promoted.
    pub promoted_slave: Option<String>,
    pub notification_script: Option<String>,
    pub client_reconfig_script: Option<String>,
    pub rename_commands: Vec<(String, String)>,
    pub master_reboot_down_after_period: i64,
    pub master_reboot_since_time: i64,

    pub replicas: IndexMap<String, Instance>,
    pub sentinels: IndexMap<String, Instance>,
}

impl Instance {
    pub fn new(kind: u32, name: &str, addr: Addr, now: i64) -> Instance {
        Instance {
            flags: kind | DISCONNECTED,
            name: name.to_string(),
            master_name: String::new(),
            runid: None,
            config_epoch: 0,
            addr,
            cc: Link::default(),
            pc: Link::default(),
            last_pub_time: now,
            last_hello_time: now,
            last_master_down_reply_time: now,
            s_down_since_time: 0,
            o_down_since_time: 0,
            down_after_period: DEFAULT_DOWN_AFTER,
            act_ping_time: now,
            last_ping_time: 0,
            last_avail_time: now,
            last_pong_time: now,
            info_refresh: 0,
            info: None,
            role_reported: kind & (MASTER | SLAVE),
            role_reported_time: now,
            slave_conf_change_time: now,
            master_link_down_time: 0,
            slave_priority: 100,
            slave_master_host: None,
            slave_master_port: 0,
            slave_master_link_up: false,
            slave_repl_offset: 0,
            replica_announced: true,
            slave_reconf_sent_time: 0,
            leader: None,
            leader_epoch: 0,
            quorum: 1,
            parallel_syncs: DEFAULT_PARALLEL_SYNCS,
            auth_pass: None,
            auth_user: None,
            failover_timeout: DEFAULT_FAILOVER_TIMEOUT,
            failover_state: FailoverState::None,
            failover_epoch: 0,
            failover_start_time: 0,
            failover_state_change_time: 0,
            failover_delay_logged: 0,
            promoted_slave: None,
            notification_script: None,
            client_reconfig_script: None,
            rename_commands: Vec::new(),
            master_reboot_down_after_period: 0,
            master_reboot_since_time: 0,
            replicas: IndexMap::new(),
            sentinels: IndexMap::new(),
        }
    }

    pub fn is_master(&self) -> bool {
        self.flags & MASTER != 0
    }

    pub fn is_slave(&self) -> bool {
        self.flags & SLAVE != 0
    }

    pub fn is_sentinel(&self) -> bool {
        self.flags & SENTINEL != 0
    }

    pub fn kind_name(&self) -> &'static str {
        if self.is_master() {
            "master"
        } else if self.is_slave() {
            "slave"
        } else {
            "sentinel"
        }
    }

    /// The command name to send, after this master's rename-command table.
    pub fn renamed<'a>(&'a self, command: &'a str) -> &'a str {
        self.rename_commands
            .iter()
            .find(|(from, _)| from.eq_ignore_ascii_case(command))
            .map(|(_, to)| to.as_str())
            .unwrap_or(command)
    }

    /// The address of the current master as reported to clients: the
    /// promoted replica once the failover reached RECONF_SLAVES.
    pub fn current_master_addr(&self) -> &Addr {
        if self.failover_state >= FailoverState::ReconfSlaves {
            if let Some(p) = self
                .promoted_slave
                .as_ref()
                .and_then(|n| self.replicas.get(n))
            {
                return &p.addr;
            }
        }
        &self.addr
    }

    /// True when the instance replied to PING within `period` and is not down.
    pub fn no_down_for(&self, period: i64, now: i64) -> bool {
        let mut most_recent = self.s_down_since_time;
        if self.cc.conn_time > most_recent && self.flags & DISCONNECTED != 0 {
            most_recent = self.cc.conn_time;
        }
        most_recent == 0 || now - most_recent > period
    }
}

/// `<type> <name> <ip> <port>` plus ` @ <master> <ip> <port>` for non-masters:
/// the `%@` of Redis's sentinelEvent.
pub fn describe(inst: &Instance, master: Option<&Instance>, announce_hostnames: bool) -> String {
    let mut s = format!(
        "{} {} {} {}",
        inst.kind_name(),
        inst.name,
        inst.addr.announced(announce_hostnames),
        inst.addr.port
    );
    if let Some(m) = master {
        if !inst.is_master() {
            s.push_str(&format!(
                " @ {} {} {}",
                m.name,
                m.addr.announced(announce_hostnames),
                m.addr.port
            ));
        }
    }
    s
}
