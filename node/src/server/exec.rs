//! Command execution: the checks Redis's processCommand makes, MULTI
//! queueing, the call itself, propagation to the write log, WATCH and
//! blocked-client signalling, MONITOR, SLOWLOG and command statistics.

use bytes::Bytes;
use tokio::sync::oneshot;

use super::blocking::{BlockRequest, BlockedClient, Unblocked};
use super::client::{ClientState, ReplyMode};
use super::context::{Ctx, Propagate};
use super::repl_log::Argv;
use super::state::{ServerState, SlowlogEntry};
use crate::commands::{flags, table, CmdError, CommandSpec};
use crate::db::CompactBytes;
use crate::resp::Reply;

/// The result of running one request.
pub enum Outcome {
    /// Reply written to the buffer.
    Done,
    /// The client must wait; the reply comes through the receiver.
    Blocked(oneshot::Receiver<Unblocked>, BlockRequest),
    /// Writes are paused (FAILOVER): run the request again once they resume.
    Paused(Vec<Bytes>),
}

/// Commands a RESP2 client in subscribed mode may run.
fn allowed_in_pubsub_mode(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "psubscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "punsubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// Commands that run immediately inside MULTI instead of being queued.
fn runs_inside_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' `.
pub fn unknown_command_error(args: &[Bytes]) -> String {
    let name = String::from_utf8_lossy(&args[0]);
    let name: String = name.chars().take(128).collect();
    let mut rest = String::new();
    for a in &args[1..] {
        if rest.len() >= 128 {
            break;
        }
        let text = String::from_utf8_lossy(a);
        let room = 128 - rest.len();
        let text: String = text.chars().take(room).collect();
        rest.push_str(&format!("'{text}' "));
    }
    format!("ERR unknown command '{name}', with args beginning with: {rest}")
}

/// Validates and runs one request from a client (or queues it in MULTI).
pub fn execute(
    state: &mut ServerState,
    client: &mut ClientState,
    reply: &mut Reply,
    args: Vec<Bytes>,
) -> Outcome {
    let Some(spec) = table().lookup(&args[0]) else {
        reject(state, client, reply, &unknown_command_error(&args));
        return Outcome::Done;
    };
    client.last_cmd = spec.name;
    if !spec.arity_ok(args.len()) {
        let text = CmdError::WrongArity(spec.name.to_string()).text();
        state
            .command_stats
            .entry(spec.name)
            .or_default()
            .rejected_calls += 1;
        reject(state, client, reply, &text);
        return Outcome::Done;
    }
    if !client.authenticated && !spec.has(flags::NO_AUTH) {
        reject(state, client, reply, "NOAUTH Authentication required.");
        return Outcome::Done;
    }
    if client.in_resp2_pubsub_mode() && !allowed_in_pubsub_mode(spec.name) {
        let text = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.name
        );
        reject(state, client, reply, &text);
        return Outcome::Done;
    }
    if crate::replication::write_paused_for(state, client, spec) {
        return Outcome::Paused(args);
    }
    if let Some(text) = crate::replication::reject_reason(state, client, spec) {
        reject(state, client, reply, text);
        return Outcome::Done;
    }
    if state.config.settings.maxmemory > 0
        && !super::evict::evict_for_command(state)
        && rejected_on_oom(client, spec)
    {
        reject(state, client, reply, super::evict::OOM_ERROR);
        return Outcome::Done;
    }
    if let Some(text) = disk_error_denial(state, client, spec) {
        reject(state, client, reply, &text);
        return Outcome::Done;
    }
    if let Some(multi) = &mut client.multi {
        if !runs_inside_multi(spec.name) {
            if spec.has(flags::NO_MULTI) {
                multi.errored = true;
                reply.error("ERR Command not allowed inside a transaction");
                return Outcome::Done;
            }
            multi.queued.push((spec, args));
            reply.simple("QUEUED");
            return Outcome::Done;
        }
    }
    let outcome = call(state, client, reply, spec, &args, CallMode::Normal);
    serve_blocked_clients(state);
    crate::replication::master::flush_getack(state);
    match outcome {
        CallOutcome::Done => Outcome::Done,
        CallOutcome::Block(request) => {
            let (tx, rx) = oneshot::channel();
            state.blocked.block(BlockedClient {
                client: client.id,
                db: client.db,
                resp3: client.resp3,
                args,
                request: request.clone(),
                reply_tx: tx,
            });
            if let Some(info) = state.clients.get_mut(client.id) {
                info.blocked = true;
            }
            Outcome::Blocked(rx, request)
        }
    }
}

/// Whether a command is refused while over maxmemory with nothing left to
/// evict: DENYOOM commands (EXEC when it queued one), and inside MULTI any
/// command but EXEC/DISCARD/QUIT/RESET, since queueing itself takes memory
/// (as Redis's processCommand).
fn rejected_on_oom(client: &ClientState, spec: &CommandSpec) -> bool {
    if spec.has(flags::DENYOOM) {
        return true;
    }
    let Some(multi) = &client.multi else {
        return false;
    };
    match spec.name {
        "exec" => multi.queued.iter().any(|(s, _)| s.has(flags::DENYOOM)),
        "discard" | "quit" | "reset" => false,
        _ => true,
    }
}

/// MISCONF: after a failed BGSAVE (with save points and
/// stop-writes-on-bgsave-error) or a failed AOF write, write commands (and
/// PING, as in Redis) are refused until persisting works again. The master
/// link is exempt (Redis logs and goes on there).
fn disk_error_denial(
    state: &ServerState,
    client: &ClientState,
    spec: &CommandSpec,
) -> Option<String> {
    if state.persist.last_bgsave_ok && state.aof.last_write_ok {
        return None;
    }
    if !(is_write_call(client, spec) || spec.name == "ping") || client.is_master_link {
        return None;
    }
    let rdb_error = !state.persist.last_bgsave_ok
        && state.config.get("stop-writes-on-bgsave-error") == Some("yes")
        && !super::persist::save_points(state).is_empty();
    if rdb_error {
        return Some(MISCONF_RDB.to_string());
    }
    crate::aof::write_error(state)
}

/// Whether running `spec` now writes: a write command, or an EXEC whose
/// queued transaction holds one (the checks that refuse writes see both).
pub fn is_write_call(client: &ClientState, spec: &CommandSpec) -> bool {
    spec.has(flags::WRITE)
        || (spec.name == "exec"
            && client
                .multi
                .as_ref()
                .is_some_and(|m| m.queued.iter().any(|(s, _)| s.has(flags::WRITE))))
}

/// The reply to writes after a failed BGSAVE (Redis's shared.bgsaveerr).
pub const MISCONF_RDB: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// A rejected command: error reply, and inside MULTI the transaction is doomed.
fn reject(state: &mut ServerState, client: &mut ClientState, reply: &mut Reply, text: &str) {
    if let Some(m) = &mut client.multi {
        m.errored = true;
    }
    count_error(state, text);
    reply.error(text);
}

fn count_error(state: &mut ServerState, text: &str) {
    state.stats.total_error_replies += 1;
    let code = text.split(' ').next().unwrap_or("ERR").to_string();
    *state.stats.error_counts.entry(code).or_insert(0) += 1;
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CallMode {
    Normal,
    /// Re-running a blocked client's command on its behalf.
    ServingBlocked,
    /// Part of EXEC: propagation is collected by EXEC itself.
    InExec,
}

pub enum CallOutcome {
    Done,
    Block(BlockRequest),
}

/// Runs a command and does everything that follows it.
pub fn call(
    state: &mut ServerState,
    client: &mut ClientState,
    reply: &mut Reply,
    spec: &'static CommandSpec,
    args: &[Bytes],
    mode: CallMode,
) -> CallOutcome {
    // One wall-clock read gives both the time commands see and the start of
    // the duration measurement (two reads per call, like Redis's ustime()).
    let started_us = crate::util::time::now_us();
    state.set_now(started_us / 1000);
    if client.is_master_link {
        crate::replication::replica::master_sees_every_key(state);
    }
    let dirty_before = state.dirty;
    let repl_offset_before = state.repl_log.offset;
    let reply_mark = reply.len();
    let mut ctx = Ctx {
        state,
        client,
        reply,
        args,
        spec,
        propagate: Propagate::Verbatim,
        block: None,
        extra_modified: Vec::new(),
        signal_key_args: true,
    };
    let result = (spec.handler)(&mut ctx);
    let Ctx {
        propagate,
        block,
        extra_modified,
        signal_key_args,
        ..
    } = ctx;
    let failed = match result {
        Ok(()) => false,
        Err(e) => {
            reply.truncate(reply_mark);
            let text = e.text();
            count_error(state, &text);
            reply.error(&text);
            true
        }
    };
    let elapsed_us = (crate::util::time::now_us() - started_us).max(0) as u64;
    let changed = state.dirty != dirty_before;

    // Expired keys found during the command are deleted before it, so their
    // DELs go first; the whole unit is wrapped in MULTI/EXEC when it has
    // more than one command, as Redis 7.0 does.
    // Nothing consumes the stream (no replica, no AOF): skip building it.
    let mut ops: Vec<(usize, Argv)> = Vec::new();
    if write_stream_consumed(state) {
        collect_expired(state, &mut ops);
        if changed && spec.has(flags::WRITE) || matches!(propagate, Propagate::Replace(_)) {
            match propagate {
                Propagate::Verbatim if changed => ops.push((client.db, args.to_vec())),
                Propagate::Replace(list) => ops.extend(list),
                _ => {}
            }
        }
    } else {
        discard_expired(state);
    }
    if changed && signal_key_args {
        for pos in spec.key_position_iter(args.len()) {
            state.signal_modified_key(client.db, &args[pos]);
        }
    }
    for (db, key) in extra_modified {
        state.signal_modified_key(db, &key);
    }
    if mode == CallMode::InExec {
        state.pending_exec_ops.extend(ops);
    } else {
        propagate_ops(state, ops);
    }

    if state.repl_log.offset != repl_offset_before {
        client.woff = state.repl_log.offset;
    }
    // A blocking command counts once (calls, MONITOR, SLOWLOG), when it is
    // first run, whether it is then served or times out, as in Redis.
    if mode != CallMode::ServingBlocked {
        record_stats(state, client, spec, args, elapsed_us, failed);
    }
    match block {
        Some(request) if !failed => CallOutcome::Block(request),
        _ => CallOutcome::Done,
    }
}

/// Forgets the expired-key log when no stream is produced.
fn discard_expired(state: &mut ServerState) {
    for db in &mut state.dbs {
        if !db.expired_log.is_empty() {
            db.expired_log.clear();
        }
    }
}

/// Moves DELs of keys that expired during a command into `ops`.
pub fn collect_expired(state: &mut ServerState, ops: &mut Vec<(usize, Argv)>) {
    for db in &mut state.dbs {
        if db.expired_log.is_empty() {
            continue;
        }
        for key in db.expired_log.drain(..) {
            ops.push((
                db.id,
                vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(&key)],
            ));
        }
    }
}

/// Appends one call's writes to the write log, wrapped in MULTI/EXEC when
/// there are several.
pub fn propagate_ops(state: &mut ServerState, mut ops: Vec<(usize, Argv)>) {
    if ops.is_empty() {
        return;
    }
    if ops.len() > 1 {
        let db = ops[0].0;
        let last_db = ops[ops.len() - 1].0;
        ops.insert(0, (db, vec![Bytes::from_static(b"MULTI")]));
        ops.push((last_db, vec![Bytes::from_static(b"EXEC")]));
    }
    // Redis feeds the AOF separately from the replication stream (its own
    // SELECT tracking; PUBLISH only goes to replicas).
    state.aof.feed(&ops);
    state.repl_log.feed(&ops);
}

/// Whether anything consumes the write stream (replicas / a backlog, or
/// the AOF); without a consumer propagation is not even built.
pub fn write_stream_consumed(state: &ServerState) -> bool {
    state.repl_log.active || state.aof.accepts_writes()
}

fn record_stats(
    state: &mut ServerState,
    client: &ClientState,
    spec: &'static CommandSpec,
    args: &[Bytes],
    elapsed_us: u64,
    failed: bool,
) {
    state.stats.total_commands_processed += 1;
    let stat_name = crate::commands::server::stats_name(spec, args);
    let stat = state.command_stats.entry(stat_name).or_default();
    stat.calls += 1;
    stat.usec += elapsed_us;
    if failed {
        stat.failed_calls += 1;
    }
    // A subcommand's own flags decide (CONFIG SET is admin, CLIENT ID is not).
    let cmd_flags = spec.flags_for(args);
    let threshold = state.config.settings.slowlog_log_slower_than;
    if threshold >= 0 && elapsed_us as i64 >= threshold && cmd_flags & flags::SKIP_SLOWLOG == 0 {
        add_slowlog(state, client, args, elapsed_us);
    }
    let event = if cmd_flags & flags::FAST != 0 {
        "fast-command"
    } else {
        "command"
    };
    crate::commands::server::record_latency(state, event, elapsed_us / 1000);
    if !state.monitors.is_empty() && cmd_flags & (flags::SKIP_MONITOR | flags::ADMIN) == 0 {
        feed_monitors(state, client, args);
    }
}

fn add_slowlog(state: &mut ServerState, client: &ClientState, args: &[Bytes], elapsed_us: u64) {
    // Redis keeps at most 32 arguments and 128 bytes of each.
    let mut kept: Vec<Bytes> = Vec::new();
    let max_args = 32;
    for (i, a) in args.iter().enumerate() {
        if i == max_args - 1 && args.len() > max_args {
            kept.push(Bytes::from(format!(
                "... ({} more arguments)",
                args.len() - max_args + 1
            )));
            break;
        }
        if a.len() > 128 {
            let mut v = a[..128].to_vec();
            v.extend_from_slice(format!("... ({} more bytes)", a.len() - 128).as_bytes());
            kept.push(Bytes::from(v));
        } else {
            kept.push(a.clone());
        }
    }
    let entry = SlowlogEntry {
        id: state.slowlog_next_id,
        time_secs: crate::util::time::now_ms() / 1000,
        duration_us: elapsed_us,
        args: kept,
        peer: client.addr.clone(),
        name: client.name.as_ref().map(|n| n.to_vec()).unwrap_or_default(),
    };
    state.slowlog_next_id += 1;
    state.slowlog.push_front(entry);
    while state.slowlog.len() > state.config.settings.slowlog_max_len {
        state.slowlog.pop_back();
    }
}

/// `+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"` to every MONITOR client.
fn feed_monitors(state: &mut ServerState, client: &ClientState, args: &[Bytes]) {
    let now = crate::util::time::now_us();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        now / 1_000_000,
        now % 1_000_000,
        client.db,
        client.addr
    );
    for a in args {
        line.push(' ');
        line.push_str(&quote_for_monitor(a));
    }
    line.push_str("\r\n");
    let bytes = Bytes::from(line);
    state.monitors.retain(|id| match state.clients.get(*id) {
        Some(c) => {
            c.push(bytes.clone());
            true
        }
        None => false,
    });
}

/// sdscatrepr: quoted, with C escapes for non-printable bytes.
pub fn quote_for_monitor(a: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in a {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x07 => s.push_str("\\a"),
            0x08 => s.push_str("\\b"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

/// Re-runs blocked clients' commands on keys that became ready, in blocking
/// order, until no key is ready. A served command may make other keys ready
/// (BLMOVE pushes to its destination), hence the loop.
pub fn serve_blocked_clients(state: &mut ServerState) {
    loop {
        let ready = state.blocked.take_ready();
        if ready.is_empty() {
            return;
        }
        for (db, key) in ready {
            serve_key(state, db, &key);
        }
    }
}

fn serve_key(state: &mut ServerState, db: usize, key: &CompactBytes) {
    for id in state.blocked.waiters(db, key) {
        let Some(blocked) = state.blocked.get(id) else {
            continue;
        };
        let args = blocked.args.clone();
        let Some(spec) = table().lookup(&args[0]) else {
            continue;
        };
        let mut client = ClientState::new(id, String::new(), true);
        client.db = blocked.db;
        client.resp3 = blocked.resp3;
        client.woken_by = Some(key.clone());
        if let Some(info) = state.clients.get(id) {
            client.addr = info.addr.clone();
        }
        let mut reply = Reply::new(client.resp3);
        match call(
            state,
            &mut client,
            &mut reply,
            spec,
            &args,
            CallMode::ServingBlocked,
        ) {
            CallOutcome::Block(_) => {
                // Nothing for this client (the key may now hold a type only
                // later waiters pop, e.g. BZPOPMIN behind BLPOP): it keeps
                // its original deadline and the next waiter gets its turn.
                continue;
            }
            CallOutcome::Done => {
                // The served client writes its reply as soon as it gets
                // it: the AOF must hold the write first (appendfsync always).
                crate::aof::flush_before_reply(state);
                if let Some(b) = state.blocked.unblock(id) {
                    let _ = b.reply_tx.send(Unblocked::Reply(reply.take()));
                }
                if let Some(info) = state.clients.get_mut(id) {
                    info.blocked = false;
                }
            }
        }
    }
}

/// Applies CLIENT REPLY OFF/SKIP to what a command wrote.
pub fn apply_reply_mode(client: &mut ClientState, reply: &mut Reply, mark: usize) {
    match client.reply_mode {
        ReplyMode::On => {}
        ReplyMode::Off => reply.truncate(mark),
        ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skip,
        ReplyMode::Skip => {
            reply.truncate(mark);
            client.reply_mode = ReplyMode::On;
        }
    }
}
