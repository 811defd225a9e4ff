//! Commands served in sentinel mode: SENTINEL and its subcommands, PING,
//! INFO, ROLE, CLIENT, AUTH, HELLO, (P)SUBSCRIBE, PUBLISH (hello only),
//! SHUTDOWN, COMMAND. Reply shapes follow redis-sentinel 7.0.

use bytes::Bytes;

use super::events::push_header;
use super::failover;
use super::instance::*;
use super::monitor;
use super::server::Client;
use super::state::*;
use crate::config::REDIS_VERSION;
use crate::glob::glob_match;
use crate::log::Level;
use crate::resp::Reply;
use crate::util::time::now_ms;

/// What the connection must do after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    Continue,
    Shutdown,
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn wrong_args(r: &mut Reply, name: &str) {
    r.error(&format!(
        "ERR wrong number of arguments for '{name}' command"
    ));
}

fn unknown_command(r: &mut Reply, args: &[Bytes]) {
    let mut msg = format!(
        "ERR unknown command '{}', with args beginning with: ",
        s(&args[0][..args[0].len().min(128)])
    );
    for a in args.iter().skip(1) {
        msg.push_str(&format!("'{}' ", s(&a[..a.len().min(128)])));
        if msg.len() > 256 {
            break;
        }
    }
    r.error(&msg);
}

/// Names of the commands this mode serves (also COMMAND COUNT).
const COMMANDS: &[(&str, i64)] = &[
    ("ping", -1),
    ("sentinel", -2),
    ("subscribe", -2),
    ("unsubscribe", -1),
    ("psubscribe", -2),
    ("punsubscribe", -1),
    ("publish", 3),
    ("info", -1),
    ("role", 1),
    ("client", -2),
    ("shutdown", -1),
    ("auth", -2),
    ("hello", -1),
    ("command", -1),
];

pub fn execute(st: &mut Sentinel, c: &mut Client, args: &[Bytes], r: &mut Reply) -> After {
    let name = s(&args[0]).to_ascii_lowercase();
    st.ctx.total_commands += 1;
    let Some((_, arity)) = COMMANDS.iter().find(|(n, _)| *n == name) else {
        unknown_command(r, args);
        return After::Continue;
    };
    let argc = args.len() as i64;
    if (*arity > 0 && argc != *arity) || (*arity < 0 && argc < -arity) {
        wrong_args(r, &name);
        return After::Continue;
    }
    if !c.authenticated && name != "auth" && name != "hello" {
        r.error("NOAUTH Authentication required.");
        return After::Continue;
    }
    if c.subscriptions(st) > 0
        && !c.resp3
        && !matches!(
            name.as_str(),
            "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "ping"
        )
    {
        r.error(&format!(
            "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        ));
        return After::Continue;
    }
    match name.as_str() {
        "ping" => ping(st, c, args, r),
        "sentinel" => return sentinel_cmd(st, args, r),
        "subscribe" | "psubscribe" => subscribe(st, c, args, r, name == "psubscribe"),
        "unsubscribe" | "punsubscribe" => unsubscribe(st, c, args, r, name == "punsubscribe"),
        "publish" => publish(st, args, r),
        "info" => info(st, args, r),
        "role" => {
            r.array_len(2);
            r.bulk(b"sentinel");
            r.array_len(st.masters.len());
            for n in st.masters.keys() {
                r.bulk_str(n);
            }
        }
        "client" => client_cmd(st, c, args, r),
        "shutdown" => {
            if args.len() > 2
                || (args.len() == 2
                    && !matches!(
                        s(&args[1]).to_ascii_lowercase().as_str(),
                        "nosave" | "save" | "now" | "force"
                    ))
            {
                r.error("ERR syntax error");
            } else {
                return After::Shutdown;
            }
        }
        "auth" => auth(st, c, args, r),
        "hello" => hello(st, c, args, r),
        "command" => command(args, r),
        _ => unknown_command(r, args),
    }
    After::Continue
}

fn ping(st: &Sentinel, c: &Client, args: &[Bytes], r: &mut Reply) {
    if args.len() > 2 {
        wrong_args(r, "ping");
        return;
    }
    if c.subscriptions(st) > 0 && !c.resp3 {
        r.array_len(2);
        r.bulk(b"pong");
        r.bulk(args.get(1).map(|a| &a[..]).unwrap_or(b""));
        return;
    }
    match args.get(1) {
        Some(m) => r.bulk(m),
        None => r.simple("PONG"),
    }
}

fn subscribe(st: &mut Sentinel, c: &mut Client, args: &[Bytes], r: &mut Reply, pattern: bool) {
    for ch in &args[1..] {
        let n = st.ctx.events.change(c.id, ch, pattern, true);
        push_header(r, 3);
        r.bulk(if pattern { b"psubscribe" } else { b"subscribe" });
        r.bulk(ch);
        r.int(n as i64);
    }
}

fn unsubscribe(st: &mut Sentinel, c: &mut Client, args: &[Bytes], r: &mut Reply, pattern: bool) {
    let kind: &[u8] = if pattern {
        b"punsubscribe"
    } else {
        b"unsubscribe"
    };
    let names: Vec<Vec<u8>> = if args.len() > 1 {
        args[1..].iter().map(|a| a.to_vec()).collect()
    } else {
        st.ctx.events.list(c.id, pattern)
    };
    if names.is_empty() {
        push_header(r, 3);
        r.bulk(kind);
        r.null();
        r.int(st.ctx.events.count(c.id) as i64);
        return;
    }
    for ch in names {
        let n = st.ctx.events.change(c.id, &ch, pattern, false);
        push_header(r, 3);
        r.bulk(kind);
        r.bulk(&ch);
        r.int(n as i64);
    }
}

fn publish(st: &mut Sentinel, args: &[Bytes], r: &mut Reply) {
    if &args[1][..] != monitor::HELLO_CHANNEL.as_bytes() {
        r.error("ERR Only HELLO messages are accepted by Sentinel instances.");
        return;
    }
    let text = s(&args[2]);
    monitor::process_hello(st, &text);
    st.flush_if_dirty();
    r.int(1);
}

fn auth(st: &Sentinel, c: &mut Client, args: &[Bytes], r: &mut Reply) {
    if args.len() > 3 {
        r.error("ERR syntax error");
        return;
    }
    let (user, pass) = if args.len() == 3 {
        (s(&args[1]), s(&args[2]))
    } else {
        ("default".to_string(), s(&args[1]))
    };
    match &st.ctx.requirepass {
        None if args.len() == 2 => r.error(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ),
        None => {
            // No password: the default user accepts anything.
            if user == "default" {
                c.authenticated = true;
                r.ok();
            } else {
                r.error("WRONGPASS invalid username-password pair or user is disabled.");
            }
        }
        Some(p) => {
            if user == "default" && &pass == p {
                c.authenticated = true;
                r.ok();
            } else {
                r.error("WRONGPASS invalid username-password pair or user is disabled.");
            }
        }
    }
}

fn hello(st: &mut Sentinel, c: &mut Client, args: &[Bytes], r: &mut Reply) {
    let mut proto = if c.resp3 { 3 } else { 2 };
    let mut i = 1;
    if args.len() > 1 {
        match s(&args[1]).parse::<i64>() {
            Ok(v) if v == 2 || v == 3 => proto = v,
            Ok(_) => {
                r.error("NOPROTO unsupported protocol version");
                return;
            }
            Err(_) => {
                r.error("ERR Protocol version is not an integer or out of range");
                return;
            }
        }
        i = 2;
    }
    let mut setname = None;
    while i < args.len() {
        let opt = s(&args[i]).to_ascii_lowercase();
        if opt == "auth" && i + 2 < args.len() {
            let mut tmp = Reply::new(c.resp3);
            let fake = [
                Bytes::from_static(b"auth"),
                args[i + 1].clone(),
                args[i + 2].clone(),
            ];
            auth(st, c, &fake, &mut tmp);
            if tmp.buf.first() == Some(&b'-') {
                r.raw(&tmp.buf);
                return;
            }
            i += 3;
        } else if opt == "setname" && i + 1 < args.len() {
            setname = Some(s(&args[i + 1]));
            i += 2;
        } else {
            r.error(&format!(
                "ERR Syntax error in HELLO option '{}'",
                s(&args[i])
            ));
            return;
        }
    }
    if !c.authenticated {
        r.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        return;
    }
    if let Some(n) = setname {
        c.name = n;
        st.ctx.clients.set_name(c.id, &c.name);
    }
    c.resp3 = proto == 3;
    r.resp3 = c.resp3;
    st.ctx.events.set_resp3(c.id, c.resp3);
    r.map_len(6);
    r.bulk(b"server");
    r.bulk(b"redis");
    r.bulk(b"version");
    r.bulk_str(REDIS_VERSION);
    r.bulk(b"proto");
    r.int(proto);
    r.bulk(b"id");
    r.int(c.id as i64);
    r.bulk(b"mode");
    r.bulk(b"sentinel");
    r.bulk(b"modules");
    r.array_len(0);
}

fn command(args: &[Bytes], r: &mut Reply) {
    let sub = args.get(1).map(|a| s(a).to_ascii_lowercase());
    match sub.as_deref() {
        Some("count") => r.int(COMMANDS.len() as i64),
        None => {
            r.array_len(COMMANDS.len());
            for (n, arity) in COMMANDS {
                r.array_len(6);
                r.bulk_str(n);
                r.int(*arity);
                r.array_len(0);
                r.int(0);
                r.int(0);
                r.int(0);
            }
        }
        Some(other) => r.error(&format!(
            "ERR unknown subcommand '{other}'. Try COMMAND HELP."
        )),
    }
}

fn client_cmd(st: &mut Sentinel, c: &mut Client, args: &[Bytes], r: &mut Reply) {
    let sub = s(&args[1]).to_ascii_lowercase();
    match (sub.as_str(), args.len()) {
        ("id", 2) => r.int(c.id as i64),
        ("getname", 2) => {
            if c.name.is_empty() {
                r.null();
            } else {
                r.bulk_str(&c.name);
            }
        }
        ("setname", 3) => {
            let n = s(&args[2]);
            if n.bytes().any(|b| b <= b' ' || b > b'~') {
                r.error("ERR Client names cannot contain spaces, newlines or special characters.");
                return;
            }
            c.name = n;
            st.ctx.clients.set_name(c.id, &c.name);
            r.ok();
        }
        ("list", 2) => {
            let text = st.ctx.clients.list(&st.ctx.events);
            r.verbatim(text.as_bytes(), "txt");
        }
        ("info", 2) => {
            let text = st
                .ctx
                .clients
                .line(c.id, &st.ctx.events)
                .unwrap_or_default();
            r.verbatim(format!("{text}\n").as_bytes(), "txt");
        }
        ("kill", 3) => {
            if st.ctx.clients.kill_addr(&s(&args[2])) > 0 {
                r.ok();
            } else {
                r.error("ERR No such client");
            }
        }
        ("kill", n) if n >= 4 && n % 2 == 0 => {
            let mut killed = 0;
            let mut i = 2;
            while i + 1 < args.len() {
                let f = s(&args[i]).to_ascii_lowercase();
                let v = s(&args[i + 1]);
                killed += match f.as_str() {
                    "id" => match v.parse::<u64>() {
                        Ok(id) => st.ctx.clients.kill_id(id),
                        Err(_) => {
                            r.error("ERR client-id should be greater than 0");
                            return;
                        }
                    },
                    "addr" => st.ctx.clients.kill_addr(&v),
                    "laddr" => st.ctx.clients.kill_laddr(&v),
                    "type" => match v.to_ascii_lowercase().as_str() {
                        "normal" | "pubsub" => {
                            st.ctx
                                .clients
                                .kill_type(&v.to_ascii_lowercase(), &st.ctx.events, c.id)
                        }
                        "master" | "replica" | "slave" => 0,
                        _ => {
                            r.error(&format!("ERR Unknown client type '{v}'"));
                            return;
                        }
                    },
                    _ => {
                        r.error("ERR syntax error");
                        return;
                    }
                };
                i += 2;
            }
            r.int(killed as i64);
        }
        _ => r.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            s(&args[1])
        )),
    }
}

fn info(st: &Sentinel, args: &[Bytes], r: &mut Reply) {
    let sections: Vec<String> = args[1..]
        .iter()
        .map(|a| s(a).to_ascii_lowercase())
        .collect();
    let all = sections.is_empty()
        || sections
            .iter()
            .any(|x| x == "default" || x == "all" || x == "everything");
    let want = |n: &str| all || sections.iter().any(|x| x == n);
    let now = now_ms();
    let ctx = &st.ctx;
    let mut parts: Vec<String> = Vec::new();
    if want("server") {
        parts.push(format!(
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_mode:sentinel\r\nos:{}\r\narch_bits:64\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\nexecutable:{}\r\nconfig_file:{}\r\n",
            std::env::consts::OS,
            std::process::id(),
            ctx.run_id,
            ctx.port,
            now * 1000,
            (now - ctx.start_time) / 1000,
            (now - ctx.start_time) / 86_400_000,
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            ctx.config_path.display(),
        ));
    }
    if want("clients") {
        parts.push(format!(
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:10000\r\nblocked_clients:0\r\n",
            ctx.clients.len()
        ));
    }
    if want("stats") {
        parts.push(format!(
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\n",
            ctx.total_connections,
            ctx.total_commands,
            ctx.events.channel_total(),
            ctx.events.pattern_total()
        ));
    }
    if want("cpu") {
        let (sys, user) = cpu_times();
        parts.push(format!(
            "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n"
        ));
    }
    if want("sentinel") {
        let mut t = format!(
            "# Sentinel\r\nsentinel_masters:{}\r\nsentinel_tilt:{}\r\nsentinel_tilt_since_seconds:{}\r\nsentinel_running_scripts:{}\r\nsentinel_scripts_queue_length:{}\r\nsentinel_simulate_failure_flags:{}\r\n",
            st.masters.len(),
            ctx.tilt as u8,
            if ctx.tilt { (now - ctx.tilt_start_time) / 1000 } else { -1 },
            ctx.scripts.running(),
            ctx.scripts.queued(),
            ctx.simulate_failure
        );
        for (i, m) in st.masters.values().enumerate() {
            let status = if m.flags & O_DOWN != 0 {
                "odown"
            } else if m.flags & S_DOWN != 0 {
                "sdown"
            } else {
                "ok"
            };
            t.push_str(&format!(
                "master{}:name={},status={},address={}:{},slaves={},sentinels={}\r\n",
                i,
                m.name,
                status,
                ctx.announce(&m.addr),
                m.addr.port,
                m.replicas.len(),
                m.sentinels.len() + 1
            ));
        }
        parts.push(t);
    }
    r.bulk(parts.join("\r\n").as_bytes());
}

/// (system, user) CPU seconds of this process.
fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_stime), secs(ru.ru_utime))
}

/// One instance as SENTINEL MASTER(S)/REPLICAS/SENTINELS print it: a flat
/// field/value array (a map in RESP3), every value a bulk string.
fn instance_record(ctx: &Ctx, inst: &Instance, r: &mut Reply, now: i64) {
    let mut f: Vec<(&str, String)> = vec![
        ("name", inst.name.clone()),
        ("ip", ctx.announce(&inst.addr)),
        ("port", inst.addr.port.to_string()),
        ("runid", inst.runid.clone().unwrap_or_default()),
        ("flags", flags_text(inst.flags)),
        (
            "link-pending-commands",
            inst.cc.pending_commands.to_string(),
        ),
        ("link-refcount", "1".to_string()),
    ];
    if inst.flags & FAILOVER_IN_PROGRESS != 0 {
        f.push(("failover-state", inst.failover_state.name().to_string()));
    }
    f.push((
        "last-ping-sent",
        if inst.act_ping_time != 0 {
            now - inst.act_ping_time
        } else {
            0
        }
        .to_string(),
    ));
    f.push((
        "last-ok-ping-reply",
        (now - inst.last_avail_time).to_string(),
    ));
    f.push(("last-ping-reply", (now - inst.last_pong_time).to_string()));
    if inst.flags & S_DOWN != 0 {
        f.push(("s-down-time", (now - inst.s_down_since_time).to_string()));
    }
    if inst.flags & O_DOWN != 0 {
        f.push(("o-down-time", (now - inst.o_down_since_time).to_string()));
    }
    f.push((
        "down-after-milliseconds",
        inst.down_after_period.to_string(),
    ));
    if inst.flags & (MASTER | SLAVE) != 0 {
        f.push((
            "info-refresh",
            if inst.info_refresh == 0 {
                0
            } else {
                now - inst.info_refresh
            }
            .to_string(),
        ));
        f.push((
            "role-reported",
            if inst.role_reported == MASTER {
                "master"
            } else {
                "slave"
            }
            .to_string(),
        ));
        f.push((
            "role-reported-time",
            (now - inst.role_reported_time).to_string(),
        ));
    }
    if inst.is_master() {
        f.push(("config-epoch", inst.config_epoch.to_string()));
        f.push(("num-slaves", inst.replicas.len().to_string()));
        f.push(("num-other-sentinels", inst.sentinels.len().to_string()));
        f.push(("quorum", inst.quorum.to_string()));
        f.push(("failover-timeout", inst.failover_timeout.to_string()));
        f.push(("parallel-syncs", inst.parallel_syncs.to_string()));
        if let Some(p) = &inst.notification_script {
            f.push(("notification-script", p.clone()));
        }
        if let Some(p) = &inst.client_reconfig_script {
            f.push(("client-reconfig-script", p.clone()));
        }
    }
    if inst.is_slave() {
        f.push((
            "master-link-down-time",
            inst.master_link_down_time.to_string(),
        ));
        f.push((
            "master-link-status",
            if inst.slave_master_link_up {
                "ok"
            } else {
                "err"
            }
            .to_string(),
        ));
        f.push((
            "master-host",
            inst.slave_master_host.clone().unwrap_or_else(|| "?".into()),
        ));
        f.push(("master-port", inst.slave_master_port.to_string()));
        f.push(("slave-priority", inst.slave_priority.to_string()));
        f.push(("slave-repl-offset", inst.slave_repl_offset.to_string()));
        f.push((
            "replica-announced",
            (inst.replica_announced as u8).to_string(),
        ));
    }
    if inst.is_sentinel() {
        f.push((
            "last-hello-message",
            (now - inst.last_hello_time).to_string(),
        ));
        f.push((
            "voted-leader",
            inst.leader.clone().unwrap_or_else(|| "?".into()),
        ));
        f.push(("voted-leader-epoch", inst.leader_epoch.to_string()));
    }
    r.map_len(f.len());
    for (k, v) in f {
        r.bulk_str(k);
        r.bulk_str(&v);
    }
}

fn master_or_err<'a>(st: &'a mut Sentinel, name: &[u8], r: &mut Reply) -> Option<&'a mut Instance> {
    let m = st.masters.get_mut(&s(name));
    if m.is_none() {
        r.error("ERR No such master with that name");
    }
    m
}

fn sentinel_cmd(st: &mut Sentinel, args: &[Bytes], r: &mut Reply) -> After {
    let sub = s(&args[1]).to_ascii_lowercase();
    let argc = args.len();
    let now = now_ms();
    let info_period = st.ctx.timings.info_period;
    let fixed = |n: usize| argc == n;
    let numargs = |r: &mut Reply| wrong_args(r, &format!("sentinel|{sub}"));
    match sub.as_str() {
        "masters" => {
            if !fixed(2) {
                numargs(r);
            } else {
                r.array_len(st.masters.len());
                for m in st.masters.values() {
                    instance_record(&st.ctx, m, r, now);
                }
            }
        }
        "master" => {
            if !fixed(3) {
                numargs(r);
            } else if let Some(m) = st.masters.get(&s(&args[2])) {
                instance_record(&st.ctx, m, r, now);
            } else {
                r.error("ERR No such master with that name");
            }
        }
        "replicas" | "slaves" => {
            if !fixed(3) {
                numargs(r);
            } else if let Some(m) = st.masters.get(&s(&args[2])) {
                let shown: Vec<&Instance> = m
                    .replicas
                    .values()
                    .filter(|x| x.replica_announced)
                    .collect();
                r.array_len(shown.len());
                for x in shown {
                    instance_record(&st.ctx, x, r, now);
                }
            } else {
                r.error("ERR No such master with that name");
            }
        }
        "sentinels" => {
            if !fixed(3) {
                numargs(r);
            } else if let Some(m) = st.masters.get(&s(&args[2])) {
                r.array_len(m.sentinels.len());
                for x in m.sentinels.values() {
                    instance_record(&st.ctx, x, r, now);
                }
            } else {
                r.error("ERR No such master with that name");
            }
        }
        "myid" => {
            if !fixed(2) {
                numargs(r);
            } else {
                r.bulk_str(&st.ctx.myid);
            }
        }
        "get-master-addr-by-name" => {
            if !fixed(3) {
                numargs(r);
            } else if let Some(m) = st.masters.get(&s(&args[2])) {
                let a = m.current_master_addr();
                r.array_len(2);
                r.bulk_str(&st.ctx.announce(a));
                r.bulk_int(a.port as i64);
            } else {
                r.null_array();
            }
        }
        "is-master-down-by-addr" => {
            if !fixed(6) {
                numargs(r);
            } else {
                is_master_down(st, args, r, now);
            }
        }
        "reset" => {
            if !fixed(3) {
                numargs(r);
            } else {
                let pat = args[2].clone();
                let Sentinel { masters, ctx } = st;
                let mut n = 0;
                for m in masters.values_mut() {
                    if glob_match(&pat, m.name.as_bytes(), false) {
                        reset_master(ctx, m, false, true);
                        n += 1;
                    }
                }
                if n > 0 {
                    let _ = st.flush_config();
                }
                r.int(n);
            }
        }
        "failover" => {
            if !fixed(3) {
                numargs(r);
            } else if let Some(m) = master_or_err(st, &args[2], r) {
                if m.flags & FAILOVER_IN_PROGRESS != 0 {
                    r.error("INPROG Failover already in progress");
                } else if failover::choose_replica(m, info_period, now).is_none() {
                    r.error("NOGOODSLAVE No suitable replica to promote");
                } else {
                    let name = m.name.clone();
                    let Sentinel { masters, ctx } = st;
                    if let Some(m) = masters.get_mut(&name) {
                        failover::start_failover(ctx, m, now);
                        m.flags |= FORCE_FAILOVER;
                    }
                    st.flush_if_dirty();
                    r.ok();
                }
            }
        }
        "ckquorum" => {
            if !fixed(3) {
                numargs(r);
            } else if let Some(m) = master_or_err(st, &args[2], r) {
                ckquorum(m, r);
            }
        }
        "flushconfig" => {
            if !fixed(2) {
                numargs(r);
            } else {
                match st.flush_config() {
                    Ok(()) => r.ok(),
                    Err(e) => r.error(&format!("ERR Failed to save config: {e}")),
                }
            }
        }
        "monitor" => {
            if !fixed(6) {
                numargs(r);
            } else {
                monitor_cmd(st, args, r, now);
            }
        }
        "remove" => {
            if !fixed(3) {
                numargs(r);
            } else if let Some(m) = st.masters.shift_remove(&s(&args[2])) {
                st.ctx.event(Level::Warning, "-monitor", &m, "", "");
                st.ctx.notify.remove(&m.name);
                drop(m);
                let _ = st.flush_config();
                r.ok();
            } else {
                r.error("ERR No such master with that name");
            }
        }
        "set" => {
            if argc < 3 {
                numargs(r);
            } else {
                set_cmd(st, args, r);
            }
        }
        "info-cache" => {
            if argc < 2 {
                numargs(r);
            } else {
                info_cache(st, &args[2..], r, now);
            }
        }
        "simulate-failure" => simulate_failure(st, &args[2..], r),
        "config" => config_cmd(st, args, r),
        "pending-scripts" => {
            if !fixed(2) {
                numargs(r);
            } else {
                st.ctx.scripts.reply(r, now);
            }
        }
        "debug" => debug(st, args, r),
        "help" => help(r),
        _ => r.error(&format!(
            "ERR unknown subcommand '{}'. Try SENTINEL HELP.",
            s(&args[1])
        )),
    }
    After::Continue
}

fn is_master_down(st: &mut Sentinel, args: &[Bytes], r: &mut Reply, now: i64) {
    let ip = s(&args[2]);
    let (Ok(port), Ok(req_epoch)) = (s(&args[3]).parse::<i64>(), s(&args[4]).parse::<i64>()) else {
        r.error("ERR value is not an integer or out of range");
        return;
    };
    let runid = s(&args[5]);
    let Sentinel { masters, ctx } = st;
    let master = masters
        .values_mut()
        .find(|m| m.addr.port as i64 == port && m.addr.matches(&ip, m.addr.port));
    let mut down = 0;
    let mut leader: Option<String> = None;
    let mut leader_epoch = 0u64;
    if let Some(m) = master {
        if !ctx.tilt && m.flags & S_DOWN != 0 && m.is_master() {
            down = 1;
        }
        if runid != "*" && req_epoch >= 0 {
            let (l, e) = failover::vote_leader(ctx, m, req_epoch as u64, &runid, now);
            leader = l;
            leader_epoch = e;
        }
    }
    // The vote must be on disk before we answer it.
    st.flush_if_dirty();
    r.array_len(3);
    r.int(down);
    r.bulk_str(leader.as_deref().unwrap_or("*"));
    r.int(leader_epoch as i64);
}

fn ckquorum(m: &Instance, r: &mut Reply) {
    let voters = m.sentinels.len() + 1;
    let usable = 1 + m
        .sentinels
        .values()
        .filter(|x| x.flags & (S_DOWN | DISCONNECTED) == 0)
        .count();
    let mut e = String::new();
    if usable < m.quorum as usize {
        e.push_str(
            ". Not enough available Sentinels to reach the specified quorum for this master",
        );
    }
    if usable < voters / 2 + 1 {
        e.push_str(
            ". Not enough available Sentinels to reach the majority and authorize a failover",
        );
    }
    if e.is_empty() {
        r.simple(&format!(
            "OK {usable} usable Sentinels. Quorum and failover authorization can be reached"
        ));
    } else {
        r.error(&format!("NOQUORUM {usable} usable Sentinels{e}"));
    }
}

fn monitor_cmd(st: &mut Sentinel, args: &[Bytes], r: &mut Reply, now: i64) {
    let name = s(&args[2]);
    let host = s(&args[3]);
    let Ok(quorum) = s(&args[5]).parse::<i64>() else {
        r.error("ERR Invalid quorum");
        return;
    };
    if quorum <= 0 {
        r.error("ERR Quorum must be 1 or greater.");
        return;
    }
    let port = match s(&args[4]).parse::<i64>() {
        Ok(p) if (0..=65535).contains(&p) => p as u16,
        _ => {
            r.error("ERR Invalid port");
            return;
        }
    };
    let Some(ip) = super::config::resolve(&host, st.ctx.settings.resolve_hostnames) else {
        r.error("ERR Invalid IP address or hostname specified");
        return;
    };
    if st.masters.contains_key(&name) {
        r.error("ERR Duplicate master name.");
        return;
    }
    let conf = super::config::MasterConf {
        name: name.clone(),
        host,
        ip,
        port,
        quorum: quorum as u32,
        down_after: st.ctx.timings.default_down_after,
        failover_timeout: st.ctx.timings.default_failover_timeout,
        parallel_syncs: DEFAULT_PARALLEL_SYNCS,
        ..Default::default()
    };
    let m = master_from_conf(&conf, now);
    st.ctx.event(
        Level::Warning,
        "+monitor",
        &m,
        "",
        &format!(" quorum {}", m.quorum),
    );
    st.masters.insert(name, m);
    let _ = st.flush_config();
    r.ok();
}

fn set_cmd(st: &mut Sentinel, args: &[Bytes], r: &mut Reply) {
    let deny = st.ctx.settings.deny_scripts_reconfig;
    let Sentinel { masters, ctx } = st;
    let Some(m) = masters.get_mut(&s(&args[2])) else {
        r.error("ERR No such master with that name");
        return;
    };
    let mut changes = 0;
    let mut i = 3;
    let mut error: Option<String> = None;
    while i < args.len() {
        let opt = s(&args[i]).to_ascii_lowercase();
        let left = args.len() - i - 1;
        let val = args.get(i + 1).map(|v| s(v)).unwrap_or_default();
        let badval =
            |v: &str, o: &str| Some(format!("ERR Invalid argument '{v}' for SENTINEL SET '{o}'"));
        let positive = |v: &str| v.parse::<i64>().ok().filter(|n| *n > 0);
        let shown;
        match opt.as_str() {
            "down-after-milliseconds" | "failover-timeout" | "parallel-syncs" | "quorum"
                if left >= 1 =>
            {
                let Some(n) = positive(&val) else {
                    error = badval(&val, &opt);
                    break;
                };
                match opt.as_str() {
                    "down-after-milliseconds" => {
                        m.down_after_period = n;
                        for x in m.replicas.values_mut().chain(m.sentinels.values_mut()) {
                            x.down_after_period = n;
                        }
                    }
                    "failover-timeout" => m.failover_timeout = n,
                    "parallel-syncs" => m.parallel_syncs = n,
                    _ => m.quorum = n.min(u32::MAX as i64) as u32,
                }
                shown = val.clone();
                i += 2;
            }
            "master-reboot-down-after-period" if left >= 1 => {
                let Some(n) = val.parse::<i64>().ok().filter(|n| *n >= 0) else {
                    error = badval(&val, &opt);
                    break;
                };
                m.master_reboot_down_after_period = n;
                shown = val.clone();
                i += 2;
            }
            "auth-pass" | "auth-user" if left >= 1 => {
                let v = (!val.is_empty()).then(|| val.clone());
                if opt == "auth-pass" {
                    m.auth_pass = v;
                } else {
                    m.auth_user = v;
                }
                // Reconnect so the new credentials are used.
                m.cc.close();
                m.pc.close();
                m.flags |= DISCONNECTED;
                for x in m.replicas.values_mut() {
                    x.cc.close();
                    x.pc.close();
                    x.flags |= DISCONNECTED;
                }
                shown = if opt == "auth-pass" {
                    "******".into()
                } else {
                    val.clone()
                };
                i += 2;
            }
            "notification-script" | "client-reconfig-script" if left >= 1 => {
                if deny {
                    error = Some("ERR Reconfiguration of scripts path is denied for security reasons. Check the deny-scripts-reconfig configuration directive in your Sentinel configuration".into());
                    break;
                }
                if !val.is_empty() && !super::config::is_executable(&val) {
                    error = Some(format!(
                        "ERR {} script seems non existing or non executable",
                        if opt == "notification-script" {
                            "Notification"
                        } else {
                            "Reconfiguration"
                        }
                    ));
                    break;
                }
                let v = (!val.is_empty()).then(|| val.clone());
                if opt == "notification-script" {
                    match &v {
                        Some(p) => {
                            ctx.notify.insert(m.name.clone(), p.clone());
                        }
                        None => {
                            ctx.notify.remove(&m.name);
                        }
                    }
                    m.notification_script = v;
                } else {
                    m.client_reconfig_script = v;
                }
                shown = val.clone();
                i += 2;
            }
            "rename-command" if left >= 2 => {
                let from = val.clone();
                let to = s(&args[i + 2]);
                m.rename_commands
                    .retain(|(f, _)| !f.eq_ignore_ascii_case(&from));
                if !from.eq_ignore_ascii_case(&to) {
                    m.rename_commands.push((from.clone(), to.clone()));
                }
                shown = format!("{from} {to}");
                i += 3;
            }
            _ => {
                error = Some(format!(
                    "ERR Unknown option or number of arguments for SENTINEL SET '{}'",
                    s(&args[i])
                ));
                break;
            }
        }
        changes += 1;
        ctx.event(Level::Warning, "+set", m, "", &format!(" {opt} {shown}"));
    }
    if changes > 0 {
        let _ = st.flush_config();
    }
    match error {
        Some(e) => r.error(&e),
        None => r.ok(),
    }
}

fn info_cache(st: &Sentinel, names: &[Bytes], r: &mut Reply, now: i64) {
    let selected: Vec<&Instance> = if names.is_empty() {
        st.masters.values().collect()
    } else {
        names.iter().filter_map(|n| st.masters.get(&s(n))).collect()
    };
    r.array_len(selected.len() * 2);
    for m in selected {
        r.bulk_str(&m.name);
        r.array_len(m.replicas.len() + 1);
        for inst in std::iter::once(m).chain(m.replicas.values()) {
            r.array_len(2);
            r.int(if inst.info_refresh == 0 {
                0
            } else {
                now - inst.info_refresh
            });
            match &inst.info {
                Some(t) => r.bulk_str(t),
                None => r.null(),
            }
        }
    }
}

fn simulate_failure(st: &mut Sentinel, opts: &[Bytes], r: &mut Reply) {
    let mut flags = 0;
    for o in opts {
        match s(o).to_ascii_lowercase().as_str() {
            "crash-after-election" => flags |= SIMFAILURE_CRASH_AFTER_ELECTION,
            "crash-after-promotion" => flags |= SIMFAILURE_CRASH_AFTER_PROMOTION,
            "help" => {
                r.array_len(2);
                r.bulk(b"crash-after-election");
                r.bulk(b"crash-after-promotion");
                return;
            }
            _ => {
                r.error("ERR Unknown failure simulation specified");
                return;
            }
        }
    }
    st.ctx.simulate_failure = flags;
    r.ok();
}

const CONFIG_PARAMS: &[&str] = &[
    "resolve-hostnames",
    "announce-hostnames",
    "announce-ip",
    "announce-port",
    "sentinel-user",
    "sentinel-pass",
];

fn config_cmd(st: &mut Sentinel, args: &[Bytes], r: &mut Reply) {
    let sub = args.get(2).map(|a| s(a).to_ascii_lowercase());
    let usage = "ERR Only SENTINEL CONFIG GET <option> / SET <option> <value> are supported.";
    match (sub.as_deref(), args.len()) {
        (Some("get"), 4) => {
            let pat = args[3].clone();
            let set = &st.ctx.settings;
            let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
            let matching: Vec<(&str, String)> = CONFIG_PARAMS
                .iter()
                .filter(|p| glob_match(&pat, p.as_bytes(), true))
                .map(|p| {
                    let v = match *p {
                        "resolve-hostnames" => yn(set.resolve_hostnames),
                        "announce-hostnames" => yn(set.announce_hostnames),
                        "announce-ip" => set.announce_ip.clone().unwrap_or_default(),
                        "announce-port" => set.announce_port.to_string(),
                        "sentinel-user" => set.sentinel_user.clone().unwrap_or_default(),
                        _ => set.sentinel_pass.clone().unwrap_or_default(),
                    };
                    (*p, v)
                })
                .collect();
            r.map_len(matching.len());
            for (k, v) in matching {
                r.bulk_str(k);
                r.bulk_str(&v);
            }
        }
        (Some("set"), 5) => {
            let param = s(&args[3]).to_ascii_lowercase();
            let val = s(&args[4]);
            let bad = format!("ERR Invalid value '{val}' to SENTINEL CONFIG SET '{param}'");
            let set = &mut st.ctx.settings;
            let yn = match val.to_ascii_lowercase().as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            };
            match param.as_str() {
                "resolve-hostnames" | "announce-hostnames" => {
                    let Some(b) = yn else {
                        r.error(&bad);
                        return;
                    };
                    if param == "resolve-hostnames" {
                        set.resolve_hostnames = b;
                    } else {
                        set.announce_hostnames = b;
                    }
                }
                "announce-ip" => set.announce_ip = (!val.is_empty()).then(|| val.clone()),
                "announce-port" => match val.parse::<u16>() {
                    Ok(p) => set.announce_port = p,
                    Err(_) => {
                        r.error(&bad);
                        return;
                    }
                },
                "sentinel-user" => set.sentinel_user = (!val.is_empty()).then(|| val.clone()),
                "sentinel-pass" => set.sentinel_pass = (!val.is_empty()).then(|| val.clone()),
                _ => {
                    r.error(&format!(
                        "ERR Invalid argument '{}' to SENTINEL CONFIG SET",
                        s(&args[3])
                    ));
                    return;
                }
            }
            let _ = st.flush_config();
            r.ok();
        }
        _ => r.error(usage),
    }
}

/// SENTINEL DEBUG: lists the timing parameters, or sets some of them
/// (`SENTINEL DEBUG info-period 1000 ping-period 500`).
fn debug(st: &mut Sentinel, args: &[Bytes], r: &mut Reply) {
    if args.len() == 2 {
        let list = st.ctx.timings.list();
        r.map_len(list.len() + 2);
        for (k, v) in list {
            r.bulk_str(k);
            r.bulk_int(v);
        }
        // Scripts are not run (docs/sentinel.md); their limits are Redis's.
        r.bulk_str("SCRIPT-MAX-RUNTIME");
        r.bulk_int(60_000);
        r.bulk_str("SCRIPT-RETRY-DELAY");
        r.bulk_int(30_000);
        return;
    }
    // Validate everything first: either all values are applied or none.
    let mut changes: Vec<(String, i64)> = Vec::new();
    let mut i = 2;
    while i < args.len() {
        let name = s(&args[i]);
        let mut probe = st.ctx.timings.clone();
        if i + 1 >= args.len() || probe.field(&name).is_none() {
            r.error(&format!(
                "ERR Unknown option or number of arguments for SENTINEL DEBUG '{name}'"
            ));
            return;
        }
        let val = s(&args[i + 1]);
        match val.parse::<i64>() {
            Ok(v) if v > 0 => changes.push((name, v)),
            _ => {
                r.error(&format!(
                    "ERR Invalid argument '{val}' for SENTINEL DEBUG '{name}'"
                ));
                return;
            }
        }
        i += 2;
    }
    for (name, v) in changes {
        if let Some(f) = st.ctx.timings.field(&name) {
            *f = v;
        }
    }
    r.ok();
}

fn help(r: &mut Reply) {
    let lines = [
        "SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CKQUORUM <master-name>",
        "    Check if the current Sentinel configuration is able to reach the quorum",
        "    needed to failover a master and the majority needed to authorize the",
        "    failover.",
        "CONFIG SET <param> <value>",
        "    Set a global Sentinel configuration parameter.",
        "CONFIG GET <param>",
        "    Get global Sentinel configuration parameter.",
        "DEBUG [<param> <value> ...]",
        "    Show a list of configurable time parameters and their values (milliseconds).",
        "    Or update current configurable parameters values (one or more).",
        "GET-MASTER-ADDR-BY-NAME <master-name>",
        "    Return the ip and port number of the master with that name.",
        "FAILOVER <master-name>",
        "    Manually failover a master node without asking for agreement from other",
        "    Sentinels",
        "FLUSHCONFIG",
        "    Force Sentinel to rewrite its configuration on disk, including the current",
        "    Sentinel state.",
        "INFO-CACHE <master-name>",
        "    Return last cached INFO output from masters and all its replicas.",
        "IS-MASTER-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>",
        "    Check if the master specified by ip:port is down from current Sentinel's",
        "    point of view.",
        "MASTER <master-name>",
        "    Show the state and info of the specified master.",
        "MASTERS",
        "    Show a list of monitored masters and their state.",
        "MONITOR <name> <ip> <port> <quorum>",
        "    Start monitoring a new master with the specified name, ip, port and quorum.",
        "MYID",
        "    Return the ID of the Sentinel instance.",
        "PENDING-SCRIPTS",
        "    Get pending scripts information.",
        "REMOVE <master-name>",
        "    Remove master from Sentinel's monitor list.",
        "REPLICAS <master-name>",
        "    Show a list of replicas for this master and their state.",
        "RESET <pattern>",
        "    Reset masters for specific master name matching this pattern.",
        "SENTINELS <master-name>",
        "    Show a list of Sentinel instances for this master and their state.",
        "SET <master-name> <option> <value> [<option> <value> ...]",
        "    Set configuration parameters for certain masters.",
        "SIMULATE-FAILURE [CRASH-AFTER-ELECTION] [CRASH-AFTER-PROMOTION] [HELP]",
        "    Simulate a Sentinel crash.",
        "HELP",
        "    Prints this help.",
    ];
    r.array_len(lines.len());
    for l in lines {
        r.simple(l);
    }
}
