//! Replication commands: REPLICAOF/SLAVEOF, REPLCONF, PSYNC, SYNC, WAIT,
//! FAILOVER. The logic lives in `crate::replication`; these handlers parse
//! arguments and reply.

use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec};
use crate::command;
use crate::notice;
use crate::replication::{failover, master, replica};
use crate::server::blocking::TimeoutReply;
use crate::server::context::Ctx;

pub const COMMANDS: &[CommandSpec] = &[
    command!(
        "replicaof",
        3,
        ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING,
        (0, 0, 0),
        "server",
        "5.0.0",
        "Make the server a replica of another instance, or promote it as master.",
        replicaof
    ),
    command!(
        "slaveof",
        3,
        ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Make the server a replica of another instance, or promote it as master.",
        replicaof
    ),
    command!(
        "replconf",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY,
        (0, 0, 0),
        "server",
        "3.0.0",
        "An internal command for configuring the replication stream",
        replconf
    ),
    command!(
        "psync",
        -3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        (0, 0, 0),
        "server",
        "2.8.0",
        "Internal command used for replication",
        psync
    ),
    command!(
        "sync",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Internal command used for replication",
        psync
    ),
    command!(
        "wait",
        3,
        NOSCRIPT,
        (0, 0, 0),
        "generic",
        "3.0.0",
        "Wait for the synchronous replication of all the write commands sent in the context of the current connection",
        wait
    ),
    command!(
        "failover",
        -1,
        ADMIN | NOSCRIPT | STALE,
        (0, 0, 0),
        "server",
        "6.2.0",
        "Start a coordinated failover between this server and one of its replicas.",
        failover_cmd
    ),
];

fn client_desc(ctx: &Ctx) -> String {
    format!("id={} addr={}", ctx.client.id, ctx.client.addr)
}

fn replicaof(ctx: &mut Ctx) -> CmdResult {
    if ctx.state.repl.failover.active {
        return Err(CmdError::msg(
            "ERR REPLICAOF not allowed while failing over.",
        ));
    }
    let host = String::from_utf8_lossy(ctx.arg(1)).into_owned();
    if host.eq_ignore_ascii_case("no") && ctx.arg(2).eq_ignore_ascii_case(b"one") {
        if ctx.state.repl.master.is_some() {
            replica::promote(ctx.state);
            notice!(
                "MASTER MODE enabled (user request from '{}')",
                client_desc(ctx)
            );
        }
        ctx.reply.ok();
        return Ok(());
    }
    if ctx.client.is_replica {
        return Err(CmdError::msg(
            "ERR Command is not valid when client is a replica.",
        ));
    }
    let port = std::str::from_utf8(ctx.arg(2))
        .ok()
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| CmdError::msg("ERR Invalid master port"))? as u16;
    if let Some(m) = &ctx.state.repl.master {
        if m.host.eq_ignore_ascii_case(&host) && m.port == port {
            notice!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
            ctx.reply.simple("OK Already connected to specified master");
            return Ok(());
        }
    }
    replica::set_master(ctx.state, &host, port);
    notice!(
        "REPLICAOF {host}:{port} enabled (user request from '{}')",
        client_desc(ctx)
    );
    ctx.reply.ok();
    Ok(())
}

fn replconf(ctx: &mut Ctx) -> CmdResult {
    ctx.no_propagate();
    master::replconf(ctx.state, ctx.client, ctx.args, ctx.reply).map_err(CmdError::Msg)
}

fn psync(ctx: &mut Ctx) -> CmdResult {
    ctx.no_propagate();
    master::psync(ctx.state, ctx.client, ctx.args).map_err(CmdError::Msg)
}

fn wait(ctx: &mut Ctx) -> CmdResult {
    if ctx.state.repl.master.is_some() {
        return Err(CmdError::msg("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let numreplicas = crate::util::number::parse_i64(ctx.arg(1)).ok_or(CmdError::NotInteger)?;
    let timeout = crate::util::number::parse_i64(ctx.arg(2))
        .ok_or_else(|| CmdError::msg("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::msg("ERR timeout is negative"));
    }
    let in_exec = ctx.client.in_exec;
    let id = ctx.client.id;
    let woff = ctx.client.woff;
    match master::wait(
        ctx.state,
        id,
        woff,
        numreplicas.max(0) as usize,
        timeout,
        in_exec,
    ) {
        Some(n) => ctx.reply.int(n as i64),
        None => ctx.block_on(Vec::new(), None, TimeoutReply::NullArray),
    }
    Ok(())
}

fn failover_cmd(ctx: &mut Ctx) -> CmdResult {
    failover::command(ctx.state, ctx.args, ctx.reply).map_err(CmdError::Msg)
}
