//! MULTI, EXEC, DISCARD, WATCH, UNWATCH.

use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec};
use crate::command;
use crate::db::CompactBytes;
use crate::server::client::{ClientId, MultiState};
use crate::server::context::Ctx;
use crate::server::exec::{call, propagate_ops, CallMode};
use crate::server::state::ServerState;

pub static COMMANDS: &[CommandSpec] = &[
    command!(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        "transactions",
        "1.2.0",
        "Mark the start of a transaction block",
        multi
    ),
    command!(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        (0, 0, 0),
        "transactions",
        "1.2.0",
        "Execute all commands issued after MULTI",
        exec
    ),
    command!(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        "transactions",
        "2.0.0",
        "Discard all commands issued after MULTI",
        discard
    ),
    command!(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (1, -1, 1),
        "transactions",
        "2.2.0",
        "Watch the given keys to determine execution of the MULTI/EXEC block",
        watch
    ),
    command!(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        "transactions",
        "2.2.0",
        "Forget about all watched keys",
        unwatch
    ),
];

fn multi(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::msg("ERR MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(MultiState::default());
    ctx.reply.ok();
    Ok(())
}

/// Forgets every key a client watches.
pub fn unwatch_all(state: &mut ServerState, client: ClientId, watched: &[(usize, CompactBytes)]) {
    for slot in watched {
        if let Some(ids) = state.watched.get_mut(slot) {
            ids.retain(|id| *id != client);
            if ids.is_empty() {
                state.watched.remove(slot);
            }
        }
    }
    if let Some(info) = state.clients.get_mut(client) {
        info.dirty_cas = false;
    }
}

fn reset_watches(ctx: &mut Ctx) {
    let watched = std::mem::take(&mut ctx.client.watched);
    unwatch_all(ctx.state, ctx.client.id, &watched);
}

fn exec(ctx: &mut Ctx) -> CmdResult {
    let Some(multi) = ctx.client.multi.take() else {
        return Err(CmdError::msg("ERR EXEC without MULTI"));
    };
    let dirty_cas = ctx
        .state
        .clients
        .get(ctx.client.id)
        .is_some_and(|c| c.dirty_cas);
    reset_watches(ctx);
    if multi.errored {
        return Err(CmdError::msg(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    if dirty_cas {
        ctx.reply.null_array();
        return Ok(());
    }
    ctx.reply.array_len(multi.queued.len());
    ctx.client.in_exec = true;
    ctx.state.pending_exec_ops.clear();
    for (spec, args) in &multi.queued {
        // Each queued command runs as a normal call; blocking commands get
        // their timeout reply at once because `in_exec` is set.
        call(
            ctx.state,
            ctx.client,
            ctx.reply,
            spec,
            args,
            CallMode::InExec,
        );
    }
    ctx.client.in_exec = false;
    let ops = std::mem::take(&mut ctx.state.pending_exec_ops);
    // EXEC's own propagation is what its commands wrote (wrapped by
    // propagate_ops when there is more than one).
    propagate_ops(ctx.state, ops);
    ctx.no_propagate();
    Ok(())
}

fn discard(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(CmdError::msg("ERR DISCARD without MULTI"));
    }
    reset_watches(ctx);
    ctx.reply.ok();
    Ok(())
}

fn watch(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::msg("ERR WATCH inside MULTI is not allowed"));
    }
    let db = ctx.client.db;
    for key in &ctx.args[1..] {
        let slot = (db, CompactBytes::new(key));
        if ctx.client.watched.contains(&slot) {
            continue;
        }
        ctx.state
            .watched
            .entry(slot.clone())
            .or_default()
            .push(ctx.client.id);
        ctx.client.watched.push(slot);
    }
    ctx.reply.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx) -> CmdResult {
    reset_watches(ctx);
    ctx.reply.ok();
    Ok(())
}
