//! The Sentinel's whole state behind one mutex: monitored masters (each
//! with its replicas and fellow Sentinels), epochs, TILT, settings, the
//! event hub. The timer and every link reply take the lock briefly.

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use indexmap::IndexMap;
use parking_lot::Mutex;
use rand::Rng;

use super::config::{self, q, ConfLine, MasterConf, SentinelConfig};
use super::events::EventHub;
use super::instance::*;
use crate::log::Level;
use crate::util::time::now_ms;

pub type Shared = Arc<Mutex<Sentinel>>;

pub const INFO_PERIOD: i64 = 10_000;
pub const PING_PERIOD: i64 = 1_000;
pub const ASK_PERIOD: i64 = 1_000;
/// Ask period while only we see the master down (see timer.rs).
pub const FAST_ASK_PERIOD: i64 = 100;
pub const PUBLISH_PERIOD: i64 = 2_000;
pub const INFO_VALIDITY_TIME: i64 = 5_000;
pub const TILT_TRIGGER: i64 = 2_000;
pub const TILT_PERIOD: i64 = 30_000;
pub const SLAVE_RECONF_TIMEOUT: i64 = 10_000;
pub const MIN_LINK_RECONNECT_PERIOD: i64 = 15_000;
pub const ELECTION_TIMEOUT: i64 = 10_000;
pub const MAX_DESYNC: i64 = 1_000;
pub const MAX_PENDING_COMMANDS: i64 = 100;

pub const SIMFAILURE_CRASH_AFTER_ELECTION: u32 = 1 << 0;
pub const SIMFAILURE_CRASH_AFTER_PROMOTION: u32 = 1 << 1;

/// Timing parameters, changeable at run time with `SENTINEL DEBUG <param>
/// <value>` (Redis's sentinel_info_period & co.).
#[derive(Clone, Debug)]
pub struct Timings {
    pub info_period: i64,
    pub ping_period: i64,
    pub ask_period: i64,
    pub publish_period: i64,
    pub default_down_after: i64,
    pub default_failover_timeout: i64,
    pub tilt_trigger: i64,
    pub tilt_period: i64,
    pub slave_reconf_timeout: i64,
    pub min_link_reconnect_period: i64,
    pub election_timeout: i64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            info_period: INFO_PERIOD,
            ping_period: PING_PERIOD,
            ask_period: ASK_PERIOD,
            publish_period: PUBLISH_PERIOD,
            default_down_after: DEFAULT_DOWN_AFTER,
            default_failover_timeout: DEFAULT_FAILOVER_TIMEOUT,
            tilt_trigger: TILT_TRIGGER,
            tilt_period: TILT_PERIOD,
            slave_reconf_timeout: SLAVE_RECONF_TIMEOUT,
            min_link_reconnect_period: MIN_LINK_RECONNECT_PERIOD,
            election_timeout: ELECTION_TIMEOUT,
        }
    }
}

impl Timings {
    /// (SENTINEL DEBUG name, value), in redis-sentinel's order.
    pub fn list(&self) -> Vec<(&'static str, i64)> {
        vec![
            ("INFO-PERIOD", self.info_period),
            ("PING-PERIOD", self.ping_period),
            ("ASK-PERIOD", self.ask_period),
            ("PUBLISH-PERIOD", self.publish_period),
            ("DEFAULT-DOWN-AFTER", self.default_down_after),
            ("DEFAULT-FAILOVER-TIMEOUT", self.default_failover_timeout),
            ("TILT-TRIGGER", self.tilt_trigger),
            ("TILT-PERIOD", self.tilt_period),
            ("SLAVE-RECONF-TIMEOUT", self.slave_reconf_timeout),
            ("MIN-LINK-RECONNECT-PERIOD", self.min_link_reconnect_period),
            ("ELECTION-TIMEOUT", self.election_timeout),
        ]
    }

    /// The field a SENTINEL DEBUG name sets.
    pub fn field(&mut self, name: &str) -> Option<&mut i64> {
        Some(match name.to_ascii_lowercase().as_str() {
            "info-period" => &mut self.info_period,
            "ping-period" => &mut self.ping_period,
            "ask-period" => &mut self.ask_period,
            "publish-period" => &mut self.publish_period,
            "default-down-after" => &mut self.default_down_after,
            "default-failover-timeout" => &mut self.default_failover_timeout,
            "tilt-trigger" => &mut self.tilt_trigger,
            "tilt-period" => &mut self.tilt_period,
            "slave-reconf-timeout" => &mut self.slave_reconf_timeout,
            "min-link-reconnect-period" => &mut self.min_link_reconnect_period,
            "election-timeout" => &mut self.election_timeout,
            _ => return None,
        })
    }
}

/// Settings changeable by SENTINEL CONFIG SET.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub announce_ip: Option<String>,
    pub announce_port: u16,
    pub resolve_hostnames: bool,
    pub announce_hostnames: bool,
    pub sentinel_user: Option<String>,
    pub sentinel_pass: Option<String>,
    pub deny_scripts_reconfig: bool,
}

/// Everything except the masters table, so code walking a master can still
/// publish events and bump epochs.
pub struct Ctx {
    pub myid: String,
    pub current_epoch: u64,
    pub tilt: bool,
    pub tilt_start_time: i64,
    pub previous_time: i64,
    pub settings: Settings,
    pub timings: Timings,
    pub events: EventHub,
    /// notification-script per master name (warning events run it).
    pub notify: std::collections::HashMap<String, String>,
    pub scripts: super::scripts::ScriptQueue,
    pub port: u16,
    pub requirepass: Option<String>,
    pub config_path: PathBuf,
    pub config_dirty: bool,
    pub simulate_failure: u32,
    pub next_link_id: u64,
    pub shared: Weak<Mutex<Sentinel>>,
    pub start_time: i64,
    pub run_id: String,
    pub total_connections: u64,
    pub total_commands: u64,
    pub clients: super::server::ClientRegistry,
    pub shutdown: Option<tokio::sync::watch::Sender<bool>>,
}

pub struct Sentinel {
    pub masters: IndexMap<String, Instance>,
    pub ctx: Ctx,
}

pub fn random_hex40() -> String {
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| std::char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// ` @ <master> <ip> <port>`, appended to events about replicas and sentinels.
pub fn at_master(master: &Instance, announce_hostnames: bool) -> String {
    format!(
        " @ {} {} {}",
        master.name,
        master.addr.announced(announce_hostnames),
        master.addr.port
    )
}

impl Ctx {
    /// `sentinelEvent` for an instance: `<type> <name> <ip> <port>[ @ ...]`
    /// followed by `extra`.
    pub fn event(&mut self, level: Level, kind: &str, inst: &Instance, at: &str, extra: &str) {
        let mut msg = format!(
            "{} {} {} {}",
            inst.kind_name(),
            inst.name,
            inst.addr.announced(self.settings.announce_hostnames),
            inst.addr.port
        );
        if !inst.is_master() {
            msg.push_str(at);
        }
        msg.push_str(extra);
        self.events.emit(level, kind, &msg);
        if level == Level::Warning {
            let master = if inst.is_master() {
                &inst.name
            } else {
                &inst.master_name
            };
            if let Some(script) = self.notify.get(master) {
                let argv = vec![script.clone(), kind.to_string(), msg.clone()];
                self.scripts.schedule(argv, now_ms());
            }
        }
    }

    /// Runs the master's client-reconfig-script: `<master> <role> start
    /// <from-ip> <from-port> <to-ip> <to-port>`.
    pub fn client_reconfig(&mut self, master: &Instance, leader: bool, from: &Addr, to: &Addr) {
        if let Some(script) = &master.client_reconfig_script {
            let argv = vec![
                script.clone(),
                master.name.clone(),
                if leader { "leader" } else { "observer" }.to_string(),
                "start".to_string(),
                self.announce(from),
                from.port.to_string(),
                self.announce(to),
                to.port.to_string(),
            ];
            self.scripts.schedule(argv, now_ms());
        }
    }

    /// An event whose text is not an instance description.
    /// An event about a master whose text is not an instance description
    /// (`+switch-master`, `+new-epoch`, `+vote-for-leader`): it runs the
    /// master's notification script like the others.
    pub fn event_master_text(&mut self, level: Level, kind: &str, master: &str, text: &str) {
        self.events.emit(level, kind, text);
        if level == Level::Warning {
            if let Some(script) = self.notify.get(master) {
                let argv = vec![script.clone(), kind.to_string(), text.to_string()];
                self.scripts.schedule(argv, now_ms());
            }
        }
    }

    pub fn event_text(&mut self, level: Level, kind: &str, text: &str) {
        self.events.emit(level, kind, text);
    }

    pub fn link_id(&mut self) -> u64 {
        self.next_link_id += 1;
        self.next_link_id
    }

    /// The address a Sentinel reports: hostname with announce-hostnames.
    pub fn announce(&self, addr: &Addr) -> String {
        addr.announced(self.settings.announce_hostnames).to_string()
    }
}

/// Creates a master instance from its config block (without links).
pub fn master_from_conf(m: &MasterConf, now: i64) -> Instance {
    let mut inst = Instance::new(MASTER, &m.name, Addr::new(&m.host, &m.ip, m.port), now);
    inst.quorum = m.quorum;
    inst.down_after_period = m.down_after;
    inst.failover_timeout = m.failover_timeout;
    inst.parallel_syncs = m.parallel_syncs;
    inst.auth_pass = m.auth_pass.clone();
    inst.auth_user = m.auth_user.clone();
    inst.notification_script = m.notification_script.clone();
    inst.client_reconfig_script = m.client_reconfig_script.clone();
    inst.rename_commands = m.rename_commands.clone();
    inst.master_reboot_down_after_period = m.master_reboot_down_after_period;
    inst.config_epoch = m.config_epoch;
    inst.leader_epoch = m.leader_epoch;
    inst
}

/// A replica record for `host:port` under `master`.
pub fn new_replica(
    master: &Instance,
    host: &str,
    port: u16,
    resolve_names: bool,
    now: i64,
) -> Option<Instance> {
    let ip = config::resolve(host, resolve_names)?;
    let name = replica_name(host, port);
    let mut r = Instance::new(SLAVE, &name, Addr::new(host, &ip, port), now);
    r.master_name = master.name.clone();
    r.down_after_period = master.down_after_period;
    Some(r)
}

pub fn new_sentinel(
    master: &Instance,
    host: &str,
    port: u16,
    runid: &str,
    resolve_names: bool,
    now: i64,
) -> Option<Instance> {
    let ip = config::resolve(host, resolve_names)?;
    let mut s = Instance::new(SENTINEL, runid, Addr::new(host, &ip, port), now);
    s.master_name = master.name.clone();
    s.runid = Some(runid.to_string());
    s.down_after_period = master.down_after_period;
    Some(s)
}

impl Sentinel {
    pub fn new(conf: &SentinelConfig, config_path: PathBuf) -> Sentinel {
        let now = now_ms();
        let mut masters = IndexMap::new();
        let mut events = EventHub::default();
        for m in &conf.masters {
            let mut master = master_from_conf(m, now);
            for (host, port) in &m.known_replicas {
                if let Some(r) = new_replica(&master, host, *port, conf.resolve_hostnames, now) {
                    master.replicas.insert(r.name.clone(), r);
                }
            }
            for (host, port, runid) in &m.known_sentinels {
                if let Some(s) =
                    new_sentinel(&master, host, *port, runid, conf.resolve_hostnames, now)
                {
                    master.sentinels.insert(s.name.clone(), s);
                }
            }
            events.emit(
                Level::Warning,
                "+monitor",
                &format!("master {} {} {} quorum {}", m.name, m.ip, m.port, m.quorum),
            );
            masters.insert(m.name.clone(), master);
        }
        Sentinel {
            masters,
            ctx: Ctx {
                myid: conf.myid.clone().unwrap_or_else(random_hex40),
                current_epoch: conf.current_epoch,
                tilt: false,
                tilt_start_time: 0,
                previous_time: now,
                settings: Settings {
                    announce_ip: conf.announce_ip.clone(),
                    announce_port: conf.announce_port,
                    resolve_hostnames: conf.resolve_hostnames,
                    announce_hostnames: conf.announce_hostnames,
                    sentinel_user: conf.sentinel_user.clone(),
                    sentinel_pass: conf.sentinel_pass.clone(),
                    deny_scripts_reconfig: conf.deny_scripts_reconfig,
                },
                timings: Timings::default(),
                notify: conf
                    .masters
                    .iter()
                    .filter_map(|m| Some((m.name.clone(), m.notification_script.clone()?)))
                    .collect(),
                scripts: Default::default(),
                events,
                port: conf.port,
                requirepass: conf.requirepass.clone(),
                config_path,
                config_dirty: false,
                simulate_failure: 0,
                next_link_id: 0,
                shared: Weak::new(),
                start_time: now,
                run_id: random_hex40(),
                total_connections: 0,
                total_commands: 0,
                clients: Default::default(),
                shutdown: None,
            },
        }
    }

    /// The state lines of the config file, in redis-sentinel's order.
    pub fn config_lines(&self) -> Vec<ConfLine> {
        let c = &self.ctx;
        let mut out = vec![
            ConfLine::new("port", format!("port {}", c.port)),
            ConfLine::new("sentinel myid", format!("sentinel myid {}", c.myid)),
        ];
        if !c.settings.deny_scripts_reconfig {
            out.push(ConfLine::new(
                "sentinel deny-scripts-reconfig",
                "sentinel deny-scripts-reconfig no",
            ));
        }
        if c.settings.resolve_hostnames {
            out.push(ConfLine::new(
                "sentinel resolve-hostnames",
                "sentinel resolve-hostnames yes",
            ));
        }
        if c.settings.announce_hostnames {
            out.push(ConfLine::new(
                "sentinel announce-hostnames",
                "sentinel announce-hostnames yes",
            ));
        }
        let mut tail: Vec<ConfLine> = Vec::new();
        for m in self.masters.values() {
            let n = &m.name;
            let key = |opt: &str| format!("sentinel {opt} {n}");
            // The monitor line always holds the current master address.
            let addr = m.current_master_addr();
            out.push(ConfLine::new(
                key("monitor"),
                format!(
                    "sentinel monitor {} {} {} {}",
                    q(n),
                    c.announce(addr),
                    addr.port,
                    m.quorum
                ),
            ));
            if m.down_after_period != DEFAULT_DOWN_AFTER {
                out.push(ConfLine::new(
                    key("down-after-milliseconds"),
                    format!(
                        "sentinel down-after-milliseconds {} {}",
                        q(n),
                        m.down_after_period
                    ),
                ));
            }
            if m.failover_timeout != DEFAULT_FAILOVER_TIMEOUT {
                out.push(ConfLine::new(
                    key("failover-timeout"),
                    format!("sentinel failover-timeout {} {}", q(n), m.failover_timeout),
                ));
            }
            if m.parallel_syncs != DEFAULT_PARALLEL_SYNCS {
                out.push(ConfLine::new(
                    key("parallel-syncs"),
                    format!("sentinel parallel-syncs {} {}", q(n), m.parallel_syncs),
                ));
            }
            if let Some(s) = &m.notification_script {
                out.push(ConfLine::new(
                    key("notification-script"),
                    format!("sentinel notification-script {} {}", q(n), q(s)),
                ));
            }
            if let Some(s) = &m.client_reconfig_script {
                out.push(ConfLine::new(
                    key("client-reconfig-script"),
                    format!("sentinel client-reconfig-script {} {}", q(n), q(s)),
                ));
            }
            if let Some(s) = &m.auth_pass {
                out.push(ConfLine::new(
                    key("auth-pass"),
                    format!("sentinel auth-pass {} {}", q(n), q(s)),
                ));
            }
            if let Some(s) = &m.auth_user {
                out.push(ConfLine::new(
                    key("auth-user"),
                    format!("sentinel auth-user {} {}", q(n), q(s)),
                ));
            }
            if m.master_reboot_down_after_period != 0 {
                out.push(ConfLine::new(
                    key("master-reboot-down-after-period"),
                    format!(
                        "sentinel master-reboot-down-after-period {} {}",
                        q(n),
                        m.master_reboot_down_after_period
                    ),
                ));
            }
            out.push(ConfLine::new(
                key("config-epoch"),
                format!("sentinel config-epoch {} {}", q(n), m.config_epoch),
            ));
            out.push(ConfLine::new(
                key("leader-epoch"),
                format!("sentinel leader-epoch {} {}", q(n), m.leader_epoch),
            ));
            for (from, to) in &m.rename_commands {
                out.push(ConfLine::new(
                    key("rename-command"),
                    format!("sentinel rename-command {} {} {}", q(n), q(from), q(to)),
                ));
            }
            let master_addr = m.current_master_addr().clone();
            for r in m.replicas.values() {
                // The promoted replica is the master now: not a replica.
                if r.addr.matches(&master_addr.hostname, master_addr.port)
                    || r.addr.matches(&master_addr.ip, master_addr.port)
                {
                    continue;
                }
                tail.push(ConfLine {
                    key: key("known-replica"),
                    text: format!(
                        "sentinel known-replica {} {} {}",
                        q(n),
                        c.announce(&r.addr),
                        r.addr.port
                    ),
                    spaced: true,
                });
            }
            if m.current_master_addr() != &m.addr {
                // During RECONF_SLAVES the old master is about to be a replica.
                tail.push(ConfLine {
                    key: key("known-replica"),
                    text: format!(
                        "sentinel known-replica {} {} {}",
                        q(n),
                        c.announce(&m.addr),
                        m.addr.port
                    ),
                    spaced: true,
                });
            }
            for s in m.sentinels.values() {
                let Some(runid) = &s.runid else { continue };
                tail.push(ConfLine {
                    key: key("known-sentinel"),
                    text: format!(
                        "sentinel known-sentinel {} {} {} {}",
                        q(n),
                        c.announce(&s.addr),
                        s.addr.port,
                        runid
                    ),
                    spaced: true,
                });
            }
        }
        out.push(ConfLine::new(
            "sentinel current-epoch",
            format!("sentinel current-epoch {}", c.current_epoch),
        ));
        if let Some(ip) = &c.settings.announce_ip {
            out.push(ConfLine::new(
                "sentinel announce-ip",
                format!("sentinel announce-ip {}", q(ip)),
            ));
        }
        if c.settings.announce_port != 0 {
            out.push(ConfLine::new(
                "sentinel announce-port",
                format!("sentinel announce-port {}", c.settings.announce_port),
            ));
        }
        if let Some(u) = &c.settings.sentinel_user {
            out.push(ConfLine::new(
                "sentinel sentinel-user",
                format!("sentinel sentinel-user {}", q(u)),
            ));
        }
        if let Some(p) = &c.settings.sentinel_pass {
            out.push(ConfLine::new(
                "sentinel sentinel-pass",
                format!("sentinel sentinel-pass {}", q(p)),
            ));
        }
        out.extend(tail);
        out
    }

    /// Rewrites the config file now (sentinelFlushConfig). Errors are
    /// logged: the Sentinel keeps running, as Redis does.
    pub fn flush_config(&mut self) -> Result<(), String> {
        self.ctx.config_dirty = false;
        let path = self.ctx.config_path.clone();
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let lines = self.config_lines();
        let text = config::render(&old, &lines, &|k: &str| {
            k.starts_with("sentinel ") || k == "port"
        });
        match config::write_atomically(&path, &text) {
            Ok(()) => {
                crate::notice!("Sentinel new configuration saved on disk");
                Ok(())
            }
            Err(e) => {
                crate::warning!(
                    "WARNING: Sentinel was not able to save the new configuration on disk!!!: {e}"
                );
                Err(e.to_string())
            }
        }
    }

    /// Flushes if anything asked for it during the last operation.
    pub fn flush_if_dirty(&mut self) {
        if self.ctx.config_dirty {
            let _ = self.flush_config();
        }
    }
}

/// Forgets replicas, sentinels (unless kept) and failover state of a master,
/// and closes its links (sentinelResetMaster).
pub fn reset_master(
    ctx: &mut Ctx,
    master: &mut Instance,
    keep_sentinels: bool,
    generate_event: bool,
) {
    master.replicas.clear();
    if !keep_sentinels {
        master.sentinels.clear();
    }
    // What the Sentinels told us was about the old address.
    for s in master.sentinels.values_mut() {
        s.flags &= !MASTER_DOWN;
        s.leader = None;
    }
    // Fresh links: reconnect at the next tick, not after the old link's
    // reconnection back-off.
    master.cc = Link::default();
    master.pc = Link::default();
    master.flags &= MASTER;
    master.flags |= DISCONNECTED;
    master.leader = None;
    master.failover_state = FailoverState::None;
    master.promoted_slave = None;
    master.runid = None;
    master.info = None;
    master.info_refresh = 0;
    master.role_reported = MASTER;
    let now = now_ms();
    master.role_reported_time = now;
    master.act_ping_time = now;
    master.last_avail_time = now;
    master.last_pong_time = now;
    master.last_ping_time = 0;
    master.s_down_since_time = 0;
    master.o_down_since_time = 0;
    master.failover_state_change_time = 0;
    master.failover_start_time = 0;
    if generate_event {
        ctx.event(Level::Warning, "+reset-master", master, "", "");
    }
}

/// Points a master at a new address, keeping every other known node as a
/// replica (the old master included), as sentinelResetMasterAndChangeAddress.
pub fn reset_master_and_change_address(
    ctx: &mut Ctx,
    master: &mut Instance,
    host: &str,
    port: u16,
) -> bool {
    let Some(ip) = config::resolve(host, ctx.settings.resolve_hostnames) else {
        return false;
    };
    let new_addr = Addr::new(host, &ip, port);
    let mut keep: Vec<(String, u16)> = master
        .replicas
        .values()
        .filter(|r| !r.addr.matches(host, port) && !r.addr.matches(&ip, port))
        .map(|r| (r.addr.hostname.clone(), r.addr.port))
        .collect();
    if !master.addr.matches(host, port) && !master.addr.matches(&ip, port) {
        keep.push((master.addr.hostname.clone(), master.addr.port));
    }
    reset_master(ctx, master, true, false);
    master.addr = new_addr;
    let now = now_ms();
    let at = at_master(master, ctx.settings.announce_hostnames);
    for (h, p) in keep {
        if let Some(r) = new_replica(master, &h, p, ctx.settings.resolve_hostnames, now) {
            ctx.event(Level::Notice, "+slave", &r, &at, "");
            master.replicas.insert(r.name.clone(), r);
        }
    }
    ctx.config_dirty = true;
    true
}
