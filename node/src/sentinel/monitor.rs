//! Links to monitored instances: a command link (PING, INFO, PUBLISH hello,
//! is-master-down-by-addr, reconfiguration) and, for masters and replicas,
//! a pub/sub link subscribed to `__sentinel__:hello`. Each link is a tokio
//! task; replies are handled under the state lock.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::detect;
use super::instance::*;
use super::state::*;
use crate::log::Level;
use crate::resp::Frame;
use crate::util::time::now_ms;

pub const HELLO_CHANNEL: &str = "__sentinel__:hello";

/// Which instance a link belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Master,
    Replica(String),
    Sentinel(String),
}

#[derive(Clone, Debug)]
pub struct Target {
    pub master: String,
    pub role: Role,
}

/// Finds the instance a target names.
pub fn lookup<'a>(s: &'a mut Sentinel, t: &Target) -> Option<&'a mut Instance> {
    let m = s.masters.get_mut(&t.master)?;
    match &t.role {
        Role::Master => Some(m),
        Role::Replica(n) => m.replicas.get_mut(n),
        Role::Sentinel(n) => m.sentinels.get_mut(n),
    }
}

/// Starts the missing links of an instance (sentinelReconnectInstance).
pub fn reconnect(
    ctx: &mut Ctx,
    inst: &mut Instance,
    master_name: &str,
    auth: (Option<String>, Option<String>),
) {
    if inst.flags & DISCONNECTED == 0 || inst.addr.port == 0 {
        return;
    }
    let now = now_ms();
    let role = if inst.is_master() {
        Role::Master
    } else if inst.is_slave() {
        Role::Replica(inst.name.clone())
    } else {
        Role::Sentinel(inst.name.clone())
    };
    let target = Target {
        master: master_name.to_string(),
        role,
    };
    if !inst.cc.exists() {
        if now - inst.cc.last_reconn_time < ctx.timings.ping_period {
            return;
        }
        inst.cc.last_reconn_time = now;
        inst.cc.conn_time = now;
        inst.cc.pending_commands = 0;
        spawn_link(
            ctx,
            &mut inst.cc,
            target.clone(),
            false,
            &inst.addr,
            auth.clone(),
        );
    }
    if !inst.is_sentinel() && !inst.pc.exists() {
        inst.pc.conn_time = now;
        inst.pc.last_activity = now;
        spawn_link(ctx, &mut inst.pc, target, true, &inst.addr, auth);
    }
}

fn spawn_link(
    ctx: &mut Ctx,
    link: &mut Link,
    target: Target,
    pubsub: bool,
    addr: &Addr,
    auth: (Option<String>, Option<String>),
) {
    let Some(shared) = ctx.shared.upgrade() else {
        return;
    };
    let id = ctx.link_id();
    let (tx, rx) = mpsc::unbounded_channel();
    let name = format!(
        "sentinel-{}-{}",
        &ctx.myid[..8.min(ctx.myid.len())],
        if pubsub { "pubsub" } else { "cmd" }
    );
    let mut setup: Vec<Outgoing> = Vec::new();
    match auth {
        (Some(user), Some(pass)) => setup.push(Outgoing {
            args: cmd(&["AUTH", &user, &pass]),
            kind: ReplyKind::Auth,
        }),
        (None, Some(pass)) => setup.push(Outgoing {
            args: cmd(&["AUTH", &pass]),
            kind: ReplyKind::Auth,
        }),
        _ => {}
    }
    setup.push(Outgoing {
        args: cmd(&["CLIENT", "SETNAME", &name]),
        kind: ReplyKind::Discard,
    });
    if pubsub {
        setup.push(Outgoing {
            args: cmd(&["SUBSCRIBE", HELLO_CHANNEL]),
            kind: ReplyKind::Subscribe,
        });
    } else {
        setup.push(Outgoing {
            args: cmd(&["PING"]),
            kind: ReplyKind::Ping,
        });
    }
    let host = addr.hostname.clone();
    let fallback_ip = addr.ip.clone();
    let port = addr.port;
    let resolve = ctx.settings.resolve_hostnames;
    let task = tokio::spawn(link_task(
        shared,
        target,
        id,
        pubsub,
        host,
        fallback_ip,
        port,
        resolve,
        setup,
        rx,
    ));
    link.id = id;
    link.tx = Some(tx);
    link.task = Some(task.abort_handle());
    link.connected = false;
}

/// Re-resolves a hostname on every connection attempt: a pod that comes
/// back with a new IP is still the same instance.
async fn resolve_now(host: &str, fallback: &str, port: u16, resolve: bool) -> String {
    if !resolve || host.parse::<std::net::IpAddr>().is_ok() {
        return fallback.to_string();
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(mut addrs) => addrs
            .find(|a| a.is_ipv4())
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| fallback.to_string()),
        Err(_) => fallback.to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn link_task(
    shared: Shared,
    target: Target,
    id: u64,
    pubsub: bool,
    host: String,
    fallback_ip: String,
    port: u16,
    resolve: bool,
    setup: Vec<Outgoing>,
    rx: mpsc::UnboundedReceiver<Outgoing>,
) {
    let ip = resolve_now(&host, &fallback_ip, port, resolve).await;
    let result = run_link(&shared, &target, id, pubsub, &ip, port, setup, rx).await;
    let mut s = shared.lock();
    if let Err(e) = &result {
        crate::log::log(
            Level::Debug,
            &format!(
                "{} link to {}:{} closed: {e}",
                if pubsub { "-pubsub" } else { "-cmd" },
                ip,
                port
            ),
        );
    }
    if ip != fallback_ip {
        if let Some(inst) = lookup(&mut s, &target) {
            inst.addr.ip = ip.clone();
        }
    }
    link_closed(&mut s, &target, id, pubsub);
}

#[allow(clippy::too_many_arguments)]
async fn run_link(
    shared: &Shared,
    target: &Target,
    id: u64,
    pubsub: bool,
    ip: &str,
    port: u16,
    setup: Vec<Outgoing>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
) -> Result<(), String> {
    let stream = tokio::time::timeout(Duration::from_millis(2000), TcpStream::connect((ip, port)))
        .await
        .map_err(|_| "connect timeout".to_string())?
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let local_ip = stream
        .local_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let (mut rd, mut wr) = stream.into_split();
    let kinds: Arc<Mutex<VecDeque<ReplyKind>>> = Arc::new(Mutex::new(VecDeque::new()));
    {
        let mut s = shared.lock();
        let Some(inst) = lookup(&mut s, target) else {
            return Err("instance gone".into());
        };
        let link = if pubsub { &mut inst.pc } else { &mut inst.cc };
        if link.id != id {
            return Err("link replaced".into());
        }
        link.connected = true;
        link.local_ip = local_ip;
        link.pending_commands = setup.len() as i64;
        if inst.cc.connected && (inst.is_slave() || inst.is_sentinel() || inst.pc.connected) {
            inst.flags &= !DISCONNECTED;
        }
    }
    let writer_kinds = kinds.clone();
    let writer = async move {
        let mut buf = Vec::new();
        for o in setup {
            writer_kinds.lock().push_back(o.kind);
            buf.extend_from_slice(&Frame::encode_command(&o.args));
        }
        wr.write_all(&buf).await.map_err(|e| e.to_string())?;
        while let Some(o) = rx.recv().await {
            let mut buf = Frame::encode_command(&o.args);
            writer_kinds.lock().push_back(o.kind);
            // Send queued commands together (a MULTI block goes in one write).
            while let Ok(more) = rx.try_recv() {
                writer_kinds.lock().push_back(more.kind);
                buf.extend_from_slice(&Frame::encode_command(&more.args));
            }
            wr.write_all(&buf).await.map_err(|e| e.to_string())?;
        }
        Err::<(), String>("link dropped".into())
    };
    let reader = async {
        let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = rd.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err::<(), String>("connection closed".into());
            }
            buf.extend_from_slice(&chunk[..n]);
            let mut used = 0;
            let mut frames = Vec::new();
            loop {
                match Frame::parse(&buf[used..]) {
                    Ok(Some((f, len))) => {
                        used += len;
                        frames.push(f);
                    }
                    Ok(None) => break,
                    Err(e) => return Err(e.to_string()),
                }
            }
            buf.drain(..used);
            if frames.is_empty() {
                continue;
            }
            let mut s = shared.lock();
            for f in frames {
                let kind = if pubsub && is_pubsub_message(&f) {
                    None
                } else {
                    kinds.lock().pop_front()
                };
                on_frame(&mut s, target, id, pubsub, kind, f);
            }
            s.flush_if_dirty();
        }
    };
    tokio::select! {
        r = writer => r,
        r = reader => r,
    }
}

fn is_pubsub_message(f: &Frame) -> bool {
    f.items()
        .and_then(|items| items.first())
        .and_then(|x| x.as_bytes())
        .is_some_and(|k| k.eq_ignore_ascii_case(b"message"))
}

fn link_closed(s: &mut Sentinel, target: &Target, id: u64, pubsub: bool) {
    let Some(inst) = lookup(s, target) else {
        return;
    };
    let link = if pubsub { &mut inst.pc } else { &mut inst.cc };
    if link.id != id {
        return;
    }
    link.tx = None;
    link.task = None;
    link.connected = false;
    link.pending_commands = 0;
    inst.flags |= DISCONNECTED;
}

/// One reply or pushed message from a link.
fn on_frame(
    s: &mut Sentinel,
    target: &Target,
    id: u64,
    pubsub: bool,
    kind: Option<ReplyKind>,
    f: Frame,
) {
    let now = now_ms();
    {
        let Some(inst) = lookup(s, target) else {
            return;
        };
        let link = if pubsub { &mut inst.pc } else { &mut inst.cc };
        if link.id != id {
            return;
        }
        if kind.is_some() {
            link.pending_commands = (link.pending_commands - 1).max(0);
        }
        if pubsub {
            link.last_activity = now;
        }
    }
    match kind {
        None => {
            // A hello message from the pub/sub link.
            if let Some(items) = f.items() {
                if items.len() == 3 {
                    if let Some(text) = items[2].as_str() {
                        let text = text.to_string();
                        process_hello(s, &text);
                    }
                }
            }
        }
        Some(ReplyKind::Ping) => on_ping_reply(s, target, &f, now),
        Some(ReplyKind::Info) => {
            if let Frame::Bulk(b) = &f {
                let text = String::from_utf8_lossy(b).into_owned();
                refresh_info(s, target, &text);
            }
        }
        Some(ReplyKind::Publish) => {
            if !f.is_error() {
                if let Some(inst) = lookup(s, target) {
                    inst.last_pub_time = now;
                }
            }
        }
        Some(ReplyKind::IsMasterDown) => detect::on_is_master_down_reply(s, target, &f, now),
        Some(ReplyKind::Auth) => {
            if let Frame::Error(e) = &f {
                let e = String::from_utf8_lossy(e).into_owned();
                let desc = lookup(s, target)
                    .map(|i| format!("{} {}:{}", i.kind_name(), i.addr.ip, i.addr.port));
                crate::warning!(
                    "Error authenticating to {} of master {} (check auth-pass / auth-user / sentinel-pass): {e}",
                    desc.unwrap_or_default(),
                    target.master
                );
            }
        }
        Some(ReplyKind::Discard) | Some(ReplyKind::Subscribe) => {}
    }
}

fn on_ping_reply(s: &mut Sentinel, target: &Target, f: &Frame, now: i64) {
    let Some(inst) = lookup(s, target) else {
        return;
    };
    let text = match f {
        Frame::Simple(t) | Frame::Error(t) => t.clone(),
        _ => Vec::new(),
    };
    if text.starts_with(b"PONG") || text.starts_with(b"LOADING") || text.starts_with(b"MASTERDOWN")
    {
        inst.last_avail_time = now;
        inst.act_ping_time = 0;
    } else if text.starts_with(b"BUSY")
        && inst.flags & S_DOWN != 0
        && inst.flags & SCRIPT_KILL_SENT == 0
    {
        // A script keeps the instance busy: ask it to stop once.
        let script = inst.renamed("SCRIPT").to_string();
        if inst.cc.send(cmd(&[&script, "KILL"]), ReplyKind::Discard) {
            inst.flags |= SCRIPT_KILL_SENT;
        }
    }
    inst.last_pong_time = now;
}

/// Facts parsed from an INFO reply.
#[derive(Debug, Default, PartialEq)]
pub struct InfoFacts {
    pub run_id: Option<String>,
    pub role: Option<u32>,
    pub replicas: Vec<(String, u16)>,
    pub master_link_down_time: i64,
    pub master_host: Option<String>,
    pub master_port: Option<i64>,
    pub master_link_up: Option<bool>,
    pub slave_priority: Option<i64>,
    pub slave_repl_offset: Option<u64>,
    pub replica_announced: Option<bool>,
}

/// Parses the INFO fields Sentinel uses (sentinelRefreshInstanceInfo).
pub fn parse_info(info: &str) -> InfoFacts {
    let mut f = InfoFacts::default();
    for l in info.split("\r\n") {
        if let Some(v) = l.strip_prefix("run_id:") {
            if v.len() >= 40 {
                f.run_id = Some(v[..40].to_string());
            }
        }
        if l.len() >= 7 && l.starts_with("slave") && l.as_bytes()[5].is_ascii_digit() {
            if let Some(addr) = parse_slave_line(l) {
                f.replicas.push(addr);
            }
        }
        if let Some(v) = l.strip_prefix("master_link_down_since_seconds:") {
            f.master_link_down_time = v.trim().parse::<i64>().unwrap_or(0).saturating_mul(1000);
        }
        if l.starts_with("role:master") {
            f.role = Some(MASTER);
        } else if l.starts_with("role:slave") {
            f.role = Some(SLAVE);
        }
        if f.role == Some(SLAVE) {
            if let Some(v) = l.strip_prefix("master_host:") {
                f.master_host = Some(v.to_string());
            }
            if let Some(v) = l.strip_prefix("master_port:") {
                f.master_port = Some(v.trim().parse().unwrap_or(0));
            }
            if let Some(v) = l.strip_prefix("master_link_status:") {
                f.master_link_up = Some(v.eq_ignore_ascii_case("up"));
            }
            if let Some(v) = l.strip_prefix("slave_priority:") {
                f.slave_priority = Some(v.trim().parse().unwrap_or(0));
            }
            if let Some(v) = l.strip_prefix("slave_repl_offset:") {
                f.slave_repl_offset = Some(v.trim().parse().unwrap_or(0));
            }
            if let Some(v) = l.strip_prefix("replica_announced:") {
                f.replica_announced = Some(v.trim() != "0");
            }
        }
    }
    f
}

/// `slaveN:ip=..,port=..,...` or the old `slaveN:<ip>,<port>,<state>`.
fn parse_slave_line(l: &str) -> Option<(String, u16)> {
    let body = l.split_once(':')?.1;
    if body.contains("ip=") {
        let mut ip = None;
        let mut port = None;
        for kv in body.split(',') {
            if let Some(v) = kv.strip_prefix("ip=") {
                ip = Some(v.to_string());
            } else if let Some(v) = kv.strip_prefix("port=") {
                port = v.parse::<u16>().ok();
            }
        }
        Some((ip?, port?))
    } else {
        let mut parts = body.split(',');
        let ip = parts.next()?.to_string();
        let port = parts.next()?.parse::<u16>().ok()?;
        parts.next()?;
        Some((ip, port))
    }
}

/// Applies an INFO reply: learns replicas, roles and offsets, and acts on
/// role changes (promotion during failover, converting a stray master).
fn refresh_info(s: &mut Sentinel, target: &Target, info: &str) {
    let facts = parse_info(info);
    let now = now_ms();
    let Sentinel { masters, ctx } = s;
    let Some(master) = masters.get_mut(&target.master) else {
        return;
    };
    match &target.role {
        Role::Master => refresh_master_info(ctx, master, info, facts, now),
        Role::Replica(name) => {
            let promoted_addr = master
                .promoted_slave
                .as_ref()
                .and_then(|p| master.replicas.get(p))
                .map(|p| p.addr.clone());
            let mut replicas = std::mem::take(&mut master.replicas);
            if let Some(r) = replicas.get_mut(name) {
                refresh_replica_info(ctx, master, r, info, facts, promoted_addr, now);
            }
            master.replicas = replicas;
        }
        Role::Sentinel(_) => {}
    }
}

fn apply_common(
    ctx: &mut Ctx,
    inst: &mut Instance,
    at: &str,
    info: &str,
    facts: &InfoFacts,
    now: i64,
) {
    if let Some(id) = &facts.run_id {
        match &inst.runid {
            None => inst.runid = Some(id.clone()),
            Some(old) if old != id => {
                ctx.event(Level::Notice, "+reboot", inst, at, "");
                inst.runid = Some(id.clone());
                if inst.is_master() && inst.master_reboot_down_after_period != 0 {
                    inst.master_reboot_since_time = now;
                }
            }
            _ => {}
        }
    }
    inst.master_link_down_time = facts.master_link_down_time;
    if facts.role == Some(SLAVE) {
        if let Some(h) = &facts.master_host {
            if inst
                .slave_master_host
                .as_deref()
                .is_none_or(|o| !o.eq_ignore_ascii_case(h))
            {
                inst.slave_master_host = Some(h.clone());
                inst.slave_conf_change_time = now;
            }
        }
        if let Some(p) = facts.master_port {
            if inst.slave_master_port != p {
                inst.slave_master_port = p;
                inst.slave_conf_change_time = now;
            }
        }
        if let Some(up) = facts.master_link_up {
            inst.slave_master_link_up = up;
        }
        if let Some(p) = facts.slave_priority {
            inst.slave_priority = p;
        }
        if let Some(o) = facts.slave_repl_offset {
            inst.slave_repl_offset = o;
        }
        if let Some(a) = facts.replica_announced {
            inst.replica_announced = a;
        }
    }
    inst.info = Some(info.to_string());
    inst.info_refresh = now;
    if let Some(role) = facts.role {
        if role != inst.role_reported {
            inst.role_reported_time = now;
            inst.role_reported = role;
            if role == SLAVE {
                inst.slave_conf_change_time = now;
            }
            // "+role-change" when the new role matches our configuration.
            let consistent =
                (inst.is_master() && role == MASTER) || (inst.is_slave() && role == SLAVE);
            let text = if role == MASTER { "master" } else { "slave" };
            ctx.event(
                Level::Verbose,
                if consistent {
                    "+role-change"
                } else {
                    "-role-change"
                },
                inst,
                at,
                &format!(" new reported role is {text}"),
            );
        }
    }
}

fn refresh_master_info(
    ctx: &mut Ctx,
    master: &mut Instance,
    info: &str,
    facts: InfoFacts,
    now: i64,
) {
    apply_common(ctx, master, "", info, &facts, now);
    let at = at_master(master, ctx.settings.announce_hostnames);
    for (ip, port) in &facts.replicas {
        let exists = master.replicas.values().any(|r| r.addr.matches(ip, *port));
        if exists {
            continue;
        }
        if let Some(r) = new_replica(master, ip, *port, ctx.settings.resolve_hostnames, now) {
            ctx.event(Level::Notice, "+slave", &r, &at, "");
            master.replicas.insert(r.name.clone(), r);
            ctx.config_dirty = true;
        }
    }
}

fn refresh_replica_info(
    ctx: &mut Ctx,
    master: &mut Instance,
    r: &mut Instance,
    info: &str,
    facts: InfoFacts,
    promoted_addr: Option<Addr>,
    now: i64,
) {
    let at = at_master(master, ctx.settings.announce_hostnames);
    apply_common(ctx, r, &at, info, &facts, now);
    if ctx.tilt {
        return;
    }
    let role = facts.role;
    if role == Some(MASTER) {
        if master.flags & FAILOVER_IN_PROGRESS != 0
            && master.failover_state == FailoverState::WaitPromotion
            && r.flags & PROMOTED != 0
        {
            super::failover::promoted(ctx, master, r, &at, now);
        } else {
            // A replica turned master outside a failover: convert it back
            // once our master looks sane and things are stable.
            let wait = ctx.timings.publish_period * 4;
            if master_looks_sane(master, ctx.timings.info_period, now)
                && r.no_down_for(wait, now)
                && now - r.role_reported_time > wait
            {
                let (host, port) = (ctx.announce(&master.addr), master.addr.port);
                if send_slaveof(r, Some((&host, port)), &master.rename_commands) {
                    ctx.event(Level::Notice, "+convert-to-slave", r, &at, "");
                }
            }
        }
    }
    if role == Some(SLAVE) {
        let wrong_master = r.slave_master_port != master.addr.port as i64
            || !r
                .slave_master_host
                .as_deref()
                .is_some_and(|h| master.addr.matches(h, master.addr.port));
        if wrong_master {
            let wait = master.failover_timeout;
            if master_looks_sane(master, ctx.timings.info_period, now)
                && r.no_down_for(wait, now)
                && now - r.slave_conf_change_time > wait
            {
                let (host, port) = (ctx.announce(&master.addr), master.addr.port);
                if send_slaveof(r, Some((&host, port)), &master.rename_commands) {
                    ctx.event(Level::Notice, "+fix-slave-config", r, &at, "");
                }
            }
        }
        // Reconfiguration progress during a failover.
        if r.flags & (RECONF_SENT | RECONF_INPROG) != 0 {
            if let Some(p) = &promoted_addr {
                if r.flags & RECONF_SENT != 0
                    && r.slave_master_host
                        .as_deref()
                        .is_some_and(|h| p.matches(h, p.port))
                    && r.slave_master_port == p.port as i64
                {
                    r.flags &= !RECONF_SENT;
                    r.flags |= RECONF_INPROG;
                    ctx.event(Level::Notice, "+slave-reconf-inprog", r, &at, "");
                }
            }
            if r.flags & RECONF_INPROG != 0 && r.slave_master_link_up {
                r.flags &= !RECONF_INPROG;
                r.flags |= RECONF_DONE;
                ctx.event(Level::Notice, "+slave-reconf-done", r, &at, "");
            }
        }
    }
}

/// sentinelMasterLooksSane.
pub fn master_looks_sane(master: &Instance, info_period: i64, now: i64) -> bool {
    master.is_master()
        && master.role_reported == MASTER
        && master.flags & (S_DOWN | O_DOWN) == 0
        && now - master.info_refresh < info_period * 2
}

/// Reconfigures an instance with Redis's transaction: MULTI, SLAVEOF,
/// CONFIG REWRITE, CLIENT KILL TYPE normal and pubsub, EXEC (the kills make
/// clients reconnect and re-discover the master). `None` = SLAVEOF NO ONE.
/// An INFO follows so the outcome is seen at once rather than at the next
/// INFO period.
pub fn send_slaveof(
    inst: &mut Instance,
    to: Option<(&str, u16)>,
    renames: &[(String, String)],
) -> bool {
    let rn = |c: &str| -> String {
        renames
            .iter()
            .find(|(from, _)| from.eq_ignore_ascii_case(c))
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| c.to_string())
    };
    let (host, port) = match to {
        Some((h, p)) => (h.to_string(), p.to_string()),
        None => ("NO".to_string(), "ONE".to_string()),
    };
    if !inst.cc.connected {
        return false;
    }
    let cmds: Vec<Vec<String>> = vec![
        vec![rn("MULTI")],
        vec![rn("SLAVEOF"), host, port],
        vec![rn("CONFIG"), "REWRITE".into()],
        vec![rn("CLIENT"), "KILL".into(), "TYPE".into(), "normal".into()],
        vec![rn("CLIENT"), "KILL".into(), "TYPE".into(), "pubsub".into()],
        vec![rn("EXEC")],
    ];
    for c in cmds {
        let args = c.into_iter().map(String::into_bytes).collect();
        if !inst.cc.send(args, ReplyKind::Discard) {
            return false;
        }
    }
    let info = rn("INFO");
    inst.cc.send(cmd(&[&info]), ReplyKind::Info);
    true
}

/// What periodic commands need to know about the master an instance
/// belongs to, taken before its replica and sentinel tables are walked.
#[derive(Clone, Debug)]
pub struct MasterView {
    pub name: String,
    /// The current master address: the promoted replica once the failover
    /// reached RECONF_SLAVES.
    pub addr: Addr,
    pub config_epoch: u64,
    pub flags: u32,
    pub renames: Vec<(String, String)>,
}

impl MasterView {
    pub fn of(master: &Instance) -> MasterView {
        MasterView {
            name: master.name.clone(),
            addr: master.current_master_addr().clone(),
            config_epoch: master.config_epoch,
            flags: master.flags,
            renames: master.rename_commands.clone(),
        }
    }

    fn renamed(&self, c: &str) -> String {
        self.renames
            .iter()
            .find(|(from, _)| from.eq_ignore_ascii_case(c))
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| c.to_string())
    }
}

/// Sends what is due on an instance's command link: INFO, PING, hello
/// (sentinelSendPeriodicCommands).
pub fn send_periodic(ctx: &mut Ctx, inst: &mut Instance, view: &MasterView, now: i64) {
    if inst.flags & DISCONNECTED != 0 || !inst.cc.connected {
        return;
    }
    if inst.cc.pending_commands >= MAX_PENDING_COMMANDS {
        return;
    }
    let fast_info = inst.is_slave()
        && (view.flags & (O_DOWN | FAILOVER_IN_PROGRESS) != 0 || inst.master_link_down_time != 0);
    let info_period = if fast_info {
        1000
    } else {
        ctx.timings.info_period
    };
    let ping_period = inst.down_after_period.min(ctx.timings.ping_period);
    if !inst.is_sentinel() && (inst.info_refresh == 0 || now - inst.info_refresh > info_period) {
        let info = view.renamed("INFO");
        inst.cc.send(cmd(&[&info]), ReplyKind::Info);
    }
    if now - inst.last_pong_time > ping_period && now - inst.last_ping_time > ping_period / 2 {
        send_ping(inst, &view.renamed("PING"), now);
    }
    if now - inst.last_pub_time > ctx.timings.publish_period {
        send_hello(ctx, inst, view);
    }
}

pub fn send_ping(inst: &mut Instance, ping: &str, now: i64) {
    if inst.cc.send(cmd(&[ping]), ReplyKind::Ping) {
        inst.last_ping_time = now;
        if inst.act_ping_time == 0 {
            inst.act_ping_time = now;
        }
    }
}

/// The 8-field hello payload for a master as seen through `link_ip`.
pub fn hello_payload(ctx: &Ctx, view: &MasterView, link_ip: &str) -> String {
    let ip = ctx
        .settings
        .announce_ip
        .clone()
        .unwrap_or_else(|| link_ip.to_string());
    let port = if ctx.settings.announce_port != 0 {
        ctx.settings.announce_port
    } else {
        ctx.port
    };
    format!(
        "{},{},{},{},{},{},{},{}",
        ip,
        port,
        ctx.myid,
        ctx.current_epoch,
        view.name,
        ctx.announce(&view.addr),
        view.addr.port,
        view.config_epoch
    )
}

/// PUBLISHes our hello to an instance (masters, replicas and Sentinels).
pub fn send_hello(ctx: &mut Ctx, inst: &mut Instance, view: &MasterView) {
    if inst.cc.local_ip.is_empty() && ctx.settings.announce_ip.is_none() {
        return;
    }
    let payload = hello_payload(ctx, view, &inst.cc.local_ip);
    // Other Sentinels do not rename PUBLISH.
    let publish = if inst.is_sentinel() {
        "PUBLISH".to_string()
    } else {
        view.renamed("PUBLISH")
    };
    inst.cc.send(
        cmd(&[&publish, HELLO_CHANNEL, &payload]),
        ReplyKind::Publish,
    );
}

/// Sends hello to every instance of a master at once (after a promotion).
pub fn force_hello(ctx: &mut Ctx, master: &mut Instance) {
    let view = MasterView::of(master);
    send_hello(ctx, master, &view);
    for r in master
        .replicas
        .values_mut()
        .chain(master.sentinels.values_mut())
    {
        send_hello(ctx, r, &view);
    }
}

/// A parsed hello message.
#[derive(Debug, PartialEq)]
pub struct Hello {
    pub ip: String,
    pub port: u16,
    pub runid: String,
    pub current_epoch: u64,
    pub master_name: String,
    pub master_ip: String,
    pub master_port: u16,
    pub master_config_epoch: u64,
}

/// Parses the 8 comma-separated fields; anything malformed is refused (a
/// garbage hello must never move our state).
pub fn parse_hello(text: &str) -> Result<Hello, String> {
    let t: Vec<&str> = text.split(',').collect();
    if t.len() != 8 {
        return Err(format!("{} fields instead of 8", t.len()));
    }
    let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p != 0);
    let hello = Hello {
        ip: t[0].to_string(),
        port: port(t[1]).ok_or("bad sentinel port")?,
        runid: t[2].to_string(),
        current_epoch: t[3].parse().map_err(|_| "bad current epoch")?,
        master_name: t[4].to_string(),
        master_ip: t[5].to_string(),
        master_port: port(t[6]).ok_or("bad master port")?,
        master_config_epoch: t[7].parse().map_err(|_| "bad config epoch")?,
    };
    if hello.ip.is_empty() || hello.master_ip.is_empty() {
        return Err("empty address".into());
    }
    if hello.runid.len() != 40 || !hello.runid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("bad run id".into());
    }
    Ok(hello)
}

/// sentinelProcessHelloMessage: learn the sender, adopt newer epochs and
/// newer master configurations.
pub fn process_hello(s: &mut Sentinel, text: &str) {
    if text.contains(&s.ctx.myid) {
        return;
    }
    let h = match parse_hello(text) {
        Ok(h) => h,
        Err(e) => {
            crate::verbose!("Ignoring malformed hello message '{text}': {e}");
            return;
        }
    };
    let now = now_ms();
    let Sentinel { masters, ctx } = s;
    let Some(master) = masters.get_mut(&h.master_name) else {
        return;
    };
    let at = at_master(master, ctx.settings.announce_hostnames);
    let known = master
        .sentinels
        .values()
        .any(|x| x.runid.as_deref() == Some(&h.runid) && x.addr.matches(&h.ip, h.port));
    if !known {
        // Same runid at another address: the Sentinel moved.
        if let Some(old) = master.sentinels.shift_remove(&h.runid) {
            let _ = old;
            ctx.event(
                Level::Notice,
                "+sentinel-address-switch",
                master,
                "",
                &format!(" ip {} port {} for {}", h.ip, h.port, h.runid),
            );
        }
        // Another runid at this address: that one is gone (restarted).
        let stale: Vec<String> = master
            .sentinels
            .values()
            .filter(|x| x.addr.matches(&h.ip, h.port))
            .map(|x| x.name.clone())
            .collect();
        for name in stale {
            if let Some(x) = master.sentinels.shift_remove(&name) {
                ctx.event(Level::Notice, "+sentinel-invalid-addr", &x, &at, "");
            }
        }
        match new_sentinel(
            master,
            &h.ip,
            h.port,
            &h.runid,
            ctx.settings.resolve_hostnames,
            now,
        ) {
            Some(si) => {
                ctx.event(Level::Notice, "+sentinel", &si, &at, "");
                master.sentinels.insert(si.name.clone(), si);
                ctx.config_dirty = true;
            }
            None => {
                crate::verbose!("Ignoring hello from unresolvable address {}", h.ip);
                return;
            }
        }
    }
    if h.current_epoch > ctx.current_epoch {
        ctx.current_epoch = h.current_epoch;
        ctx.config_dirty = true;
        ctx.event_master_text(
            Level::Warning,
            "+new-epoch",
            &master.name,
            &h.current_epoch.to_string(),
        );
    }
    if master.config_epoch < h.master_config_epoch {
        master.config_epoch = h.master_config_epoch;
        ctx.config_dirty = true;
        if h.master_port != master.addr.port || !master.addr.matches(&h.master_ip, h.master_port) {
            if let Some(si) = master.sentinels.get(&h.runid) {
                ctx.event(Level::Warning, "+config-update-from", si, &at, "");
            }
            let old = (ctx.announce(&master.addr), master.addr.port);
            let name = master.name.clone();
            if master.flags & FAILOVER_IN_PROGRESS != 0 {
                // A newer configuration wins over our own failover.
                master.flags &= !(FAILOVER_IN_PROGRESS | FORCE_FAILOVER);
            }
            ctx.event_master_text(
                Level::Warning,
                "+switch-master",
                &name,
                &format!(
                    "{} {} {} {} {}",
                    name, old.0, old.1, h.master_ip, h.master_port
                ),
            );
            let from = master.addr.clone();
            if reset_master_and_change_address(ctx, master, &h.master_ip, h.master_port) {
                let to = master.addr.clone();
                ctx.client_reconfig(master, false, &from, &to);
            }
        }
    }
    if let Some(si) = master.sentinels.get_mut(&h.runid) {
        si.last_hello_time = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_master_info() {
        let info = "# Server\r\nrun_id:0123456789012345678901234567890123456789\r\n# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1,port=7001,state=online,offset=1,lag=0\r\nslave1:10.0.0.2,7002,online\r\n";
        let f = parse_info(info);
        assert_eq!(f.role, Some(MASTER));
        assert_eq!(
            f.run_id.as_deref(),
            Some("0123456789012345678901234567890123456789")
        );
        assert_eq!(
            f.replicas,
            vec![
                ("127.0.0.1".to_string(), 7001),
                ("10.0.0.2".to_string(), 7002)
            ]
        );
    }

    #[test]
    fn parses_replica_info() {
        let info = "role:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:7000\r\nmaster_link_status:down\r\nmaster_link_down_since_seconds:3\r\nslave_repl_offset:1234\r\nslave_priority:10\r\nreplica_announced:0\r\n";
        let f = parse_info(info);
        assert_eq!(f.role, Some(SLAVE));
        assert_eq!(f.master_host.as_deref(), Some("127.0.0.1"));
        assert_eq!(f.master_port, Some(7000));
        assert_eq!(f.master_link_up, Some(false));
        assert_eq!(f.master_link_down_time, 3000);
        assert_eq!(f.slave_repl_offset, Some(1234));
        assert_eq!(f.slave_priority, Some(10));
        assert_eq!(f.replica_announced, Some(false));
    }

    #[test]
    fn hello_parsing_refuses_garbage() {
        let ok =
            "127.0.0.1,26380,be8d552264929fc720786ff89ad4113828b6b3ad,0,mymaster,127.0.0.1,7000,0";
        let h = parse_hello(ok).unwrap();
        assert_eq!(h.port, 26380);
        assert_eq!(h.master_port, 7000);
        assert!(parse_hello("a,b,c").is_err());
        assert!(parse_hello(&ok.replace(",26380,", ",x,")).is_err());
        assert!(parse_hello(&ok.replace(",7000,", ",0,")).is_err());
        assert!(parse_hello(&ok.replace(",0,mymaster", ",-1,mymaster")).is_err());
        assert!(parse_hello(&ok.replace("be8d5522", "zz")).is_err());
    }
}
