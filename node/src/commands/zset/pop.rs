//! ZPOPMIN, ZPOPMAX, BZPOPMIN, BZPOPMAX, ZMPOP and BZMPOP.

use bytes::Bytes;

use crate::commands::args::{self, eq_ic};
use crate::commands::{CmdError, CmdResult};
use crate::db::value::Value;
use crate::db::CompactBytes;
use crate::server::blocking::TimeoutReply;
use crate::server::context::Ctx;
use crate::util::number;

/// How a pop reply is shaped (Redis's genericZpopCommand arguments).
#[derive(Clone, Copy)]
struct Shape {
    /// Prefix the reply with the key name (blocking pops and ZMPOP).
    emit_key: bool,
    /// [member, score] pairs instead of a flat list.
    nested: bool,
}

/// Which pop command runs, for propagation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// ZPOPMIN/ZPOPMAX: propagated verbatim.
    Plain,
    /// BZPOPMIN/BZPOPMAX: propagated as ZPOPMIN/ZPOPMAX key.
    BlockingSingle,
    /// ZMPOP/BZMPOP: propagated as ZPOPMIN/ZPOPMAX key count.
    Multi,
}

pub fn zpopmin(ctx: &mut Ctx) -> CmdResult {
    zpop_command(ctx, false)
}

pub fn zpopmax(ctx: &mut Ctx) -> CmdResult {
    zpop_command(ctx, true)
}

/// ZPOPMIN/ZPOPMAX key [count]. With a count, RESP3 replies are nested.
fn zpop_command(ctx: &mut Ctx, max: bool) -> CmdResult {
    if ctx.argc() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = if ctx.argc() == 3 {
        // Redis gives this message for non-integers too.
        let n = number::parse_i64(ctx.arg(2))
            .filter(|n| *n >= 0)
            .ok_or_else(|| CmdError::msg("ERR value is out of range, must be positive"))?;
        Some(n)
    } else {
        None
    };
    let shape = Shape {
        emit_key: false,
        nested: ctx.client.resp3 && count.is_some(),
    };
    let keys = &ctx.args[1..2];
    match pop_first(ctx, keys, max, count, shape, Caller::Plain)? {
        Popped::Done => {}
        Popped::NothingFound => ctx.reply.array_len(0),
    }
    Ok(())
}

enum Popped {
    Done,
    NothingFound,
}

/// Pops from the first key that holds a non-empty sorted set (Redis's
/// genericZpopCommand). Missing keys are skipped; a key of another type is
/// an error. When re-run for a blocked client that a write woke up, only
/// the key that woke it counts, and only if it now holds members, as Redis
/// 7.0 serves blocked clients key by key.
fn pop_first(
    ctx: &mut Ctx,
    keys: &[Bytes],
    max: bool,
    count: Option<i64>,
    shape: Shape,
    caller: Caller,
) -> Result<Popped, CmdError> {
    let Some(key) = poppable_key(ctx, keys)? else {
        return Ok(Popped::NothingFound);
    };
    if count == Some(0) {
        ctx.reply.array_len(0);
        return Ok(Popped::Done);
    }
    let requested = count.unwrap_or(1);
    let popped = pop_from(ctx, key, max, requested, shape);
    record_pop(ctx, key, max, popped, caller);
    Ok(Popped::Done)
}

fn poppable_key<'k>(ctx: &mut Ctx, keys: &'k [Bytes]) -> Result<Option<&'k Bytes>, CmdError> {
    let db = &mut ctx.state.dbs[ctx.client.db];
    if let Some(woken) = &ctx.client.woken_by {
        let Some(key) = keys.iter().find(|k| k.as_ref() == woken.as_slice()) else {
            return Ok(None);
        };
        let ready =
            matches!(db.get_mut(key).map(|e| &e.value), Some(Value::ZSet(z)) if !z.is_empty());
        return Ok(ready.then_some(key));
    }
    for key in keys {
        match db.get_mut(key).map(|e| &e.value) {
            Some(Value::ZSet(z)) if !z.is_empty() => return Ok(Some(key)),
            Some(Value::ZSet(_)) | None => {}
            Some(_) => return Err(CmdError::WrongType),
        }
    }
    Ok(None)
}

/// Pops up to `requested` members from the non-empty set at `key` and
/// writes the reply. Returns how many were popped.
fn pop_from(ctx: &mut Ctx, key: &[u8], max: bool, requested: i64, shape: Shape) -> usize {
    let db = &mut ctx.state.dbs[ctx.client.db];
    let Some(Value::ZSet(z)) = db.get_mut(key).map(|e| &mut e.value) else {
        return 0;
    };
    let n = usize::try_from(requested)
        .unwrap_or(usize::MAX)
        .min(z.len());
    let reply = &mut *ctx.reply;
    match (shape.nested, shape.emit_key) {
        (false, false) => reply.array_len(n * 2),
        (true, false) => reply.array_len(n),
        (false, true) => {
            reply.array_len(n * 2 + 1);
            reply.bulk(key);
        }
        (true, true) => {
            reply.array_len(2);
            reply.bulk(key);
            reply.array_len(n);
        }
    }
    for _ in 0..n {
        let Some(e) = z.pop(max) else { break };
        if shape.nested {
            reply.array_len(2);
        }
        reply.bulk(&e.member);
        reply.double(e.score);
    }
    if z.is_empty() {
        db.remove(key);
    }
    ctx.dirty(n as u64);
    n
}

/// Signals the key that changed and says what replicas get.
fn record_pop(ctx: &mut Ctx, key: &[u8], max: bool, popped: usize, caller: Caller) {
    let db = ctx.db_index();
    ctx.touch(db, key);
    let name = Ctx::word(if max { "ZPOPMAX" } else { "ZPOPMIN" });
    let key = Bytes::copy_from_slice(key);
    match caller {
        Caller::Plain => {}
        Caller::BlockingSingle => ctx.propagate_as(vec![name, key]),
        Caller::Multi => ctx.propagate_as(vec![name, key, Bytes::from(popped.to_string())]),
    }
}

pub fn bzpopmin(ctx: &mut Ctx) -> CmdResult {
    bzpop_command(ctx, false)
}

pub fn bzpopmax(ctx: &mut Ctx) -> CmdResult {
    bzpop_command(ctx, true)
}

/// BZPOPMIN/BZPOPMAX key [key ...] timeout: replies [key, member, score].
fn bzpop_command(ctx: &mut Ctx, max: bool) -> CmdResult {
    let argc = ctx.argc();
    let timeout = args::block_timeout(ctx.arg(argc - 1))?;
    let keys = &ctx.args[1..argc - 1];
    let shape = Shape {
        emit_key: true,
        nested: false,
    };
    blocking_pop(ctx, keys, max, None, shape, Caller::BlockingSingle, timeout)
}

/// Pops like `pop_first`, or blocks on all `keys` when none has members.
fn blocking_pop(
    ctx: &mut Ctx,
    keys: &[Bytes],
    max: bool,
    count: Option<i64>,
    shape: Shape,
    caller: Caller,
    timeout: Option<i64>,
) -> CmdResult {
    // Only the popped key changes, not every key argument.
    ctx.signal_only_touched();
    match pop_first(ctx, keys, max, count, shape, caller)? {
        Popped::Done => Ok(()),
        Popped::NothingFound => {
            let wait_on = keys.iter().map(|k| CompactBytes::new(k)).collect();
            ctx.block_on(wait_on, timeout, TimeoutReply::NullArray);
            Ok(())
        }
    }
}

/// `numkeys key... MIN|MAX [COUNT n]` of ZMPOP/BZMPOP, from `numkeys_at`.
struct MpopArgs {
    keys: std::ops::Range<usize>,
    max: bool,
    count: i64,
}

fn parse_mpop(args: &[Bytes], numkeys_at: usize) -> Result<MpopArgs, CmdError> {
    let numkeys = number::parse_i64(&args[numkeys_at])
        .filter(|n| *n >= 1)
        .ok_or_else(|| CmdError::msg("ERR numkeys should be greater than 0"))?;
    let first_key = numkeys_at + 1;
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| first_key.checked_add(n))
        .filter(|w| *w < args.len())
        .ok_or(CmdError::Syntax)?;
    let max = if eq_ic(&args[where_at], "min") {
        false
    } else if eq_ic(&args[where_at], "max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        let more = j + 1 < args.len();
        if count.is_none() && eq_ic(&args[j], "count") && more {
            let n = number::parse_i64(&args[j + 1])
                .filter(|n| *n >= 1)
                .ok_or_else(|| CmdError::msg("ERR count should be greater than 0"))?;
            count = Some(n);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(MpopArgs {
        keys: first_key..where_at,
        max,
        count: count.unwrap_or(1),
    })
}

const MPOP_SHAPE: Shape = Shape {
    emit_key: true,
    nested: true,
};

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub fn zmpop(ctx: &mut Ctx) -> CmdResult {
    let p = parse_mpop(ctx.args, 1)?;
    let keys = &ctx.args[p.keys];
    match pop_first(ctx, keys, p.max, Some(p.count), MPOP_SHAPE, Caller::Multi)? {
        Popped::Done => {}
        Popped::NothingFound => ctx.reply.null_array(),
    }
    Ok(())
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
pub fn bzmpop(ctx: &mut Ctx) -> CmdResult {
    let p = parse_mpop(ctx.args, 2)?;
    let timeout = args::block_timeout(ctx.arg(1))?;
    let keys = &ctx.args[p.keys];
    blocking_pop(
        ctx,
        keys,
        p.max,
        Some(p.count),
        MPOP_SHAPE,
        Caller::Multi,
        timeout,
    )
}
