//! ZADD, ZINCRBY, ZREM and ZREMRANGEBY{SCORE,RANK,LEX}.

use std::ops::Range;

use super::range::{parse_lex_range, parse_score_range};
use super::{rank_window, remove_if_empty, write_zset};
use crate::commands::args::{self, eq_ic};
use crate::commands::{CmdError, CmdResult};
use crate::db::value::{EncodingLimits, Value};
use crate::db::ZSet;
use crate::server::context::Ctx;

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What adding one (score, member) pair did.
enum AddOutcome {
    Added(f64),
    Updated(f64),
    /// Processed, but the score stayed the same.
    Unchanged(f64),
    /// Skipped because of NX, XX, GT or LT.
    Skipped,
}

pub fn zadd(ctx: &mut Ctx) -> CmdResult {
    zadd_generic(ctx, false)
}

/// ZINCRBY is ZADD with INCR, and shares its parsing: ZINCRBY key NX m is
/// read as the NX flag followed by a lone score, a syntax error, as in Redis.
pub fn zincrby(ctx: &mut Ctx) -> CmdResult {
    zadd_generic(ctx, true)
}

/// Reads the flags before the first score; returns them and where scores start.
fn parse_add_flags(args: &[bytes::Bytes], incr: bool) -> (AddFlags, usize) {
    let mut flags = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if eq_ic(a, "nx") {
            flags.nx = true;
        } else if eq_ic(a, "xx") {
            flags.xx = true;
        } else if eq_ic(a, "ch") {
            flags.ch = true;
        } else if eq_ic(a, "incr") {
            flags.incr = true;
        } else if eq_ic(a, "gt") {
            flags.gt = true;
        } else if eq_ic(a, "lt") {
            flags.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    (flags, i)
}

fn check_add_flags(f: &AddFlags, pairs: usize) -> CmdResult {
    if f.nx && f.xx {
        return Err(CmdError::msg(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::msg(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && pairs > 1 {
        return Err(CmdError::msg(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    Ok(())
}

fn zadd_generic(ctx: &mut Ctx, incr: bool) -> CmdResult {
    let args = ctx.args;
    let (flags, first) = parse_add_flags(args, incr);
    let rest = &args[first..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    check_add_flags(&flags, rest.len() / 2)?;
    // Every score is validated before anything changes.
    let scores = rest
        .chunks(2)
        .map(|pair| args::float(&pair[0]))
        .collect::<Result<Vec<f64>, _>>()?;

    let limits = ctx.limits();
    let key = &args[1];
    let db = &mut ctx.state.dbs[ctx.client.db];
    if write_zset(db, key)?.is_none() {
        if flags.xx {
            reply_add(ctx, &flags, 0, 0, None);
            return Ok(());
        }
        db.set(key, Value::new_zset());
    }
    let Some(z) = write_zset(db, key)? else {
        return Ok(());
    };
    let mut added = 0;
    let mut updated = 0;
    let mut processed = None;
    let mut failure = None;
    for (pair, score) in rest.chunks(2).zip(scores) {
        match add_one(z, &pair[1], score, &flags, &limits) {
            Ok(AddOutcome::Added(s)) => {
                added += 1;
                processed = Some(s);
            }
            Ok(AddOutcome::Updated(s)) => {
                updated += 1;
                processed = Some(s);
            }
            Ok(AddOutcome::Unchanged(s)) => processed = Some(s),
            Ok(AddOutcome::Skipped) => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    remove_if_empty(db, key);
    ctx.dirty(added + updated);
    if let Some(e) = failure {
        return Err(e);
    }
    reply_add(ctx, &flags, added, updated, processed);
    Ok(())
}

fn reply_add(ctx: &mut Ctx, flags: &AddFlags, added: u64, updated: u64, processed: Option<f64>) {
    if flags.incr {
        match processed {
            Some(score) => ctx.reply.double(score),
            None => ctx.reply.null(),
        }
    } else if flags.ch {
        ctx.reply.int((added + updated) as i64);
    } else {
        ctx.reply.int(added as i64);
    }
}

/// Redis's zsetAdd for one pair.
fn add_one(
    z: &mut ZSet,
    member: &[u8],
    score: f64,
    f: &AddFlags,
    limits: &EncodingLimits,
) -> Result<AddOutcome, CmdError> {
    let Some(current) = z.score(member) else {
        if f.xx {
            return Ok(AddOutcome::Skipped);
        }
        z.prepare_insert(member.len(), limits);
        z.insert(member, score);
        return Ok(AddOutcome::Added(score));
    };
    if f.nx {
        return Ok(AddOutcome::Skipped);
    }
    let new = if f.incr { current + score } else { score };
    if new.is_nan() {
        return Err(CmdError::msg("ERR resulting score is not a number (NaN)"));
    }
    if (f.lt && new >= current) || (f.gt && new <= current) {
        return Ok(AddOutcome::Skipped);
    }
    if new == current {
        return Ok(AddOutcome::Unchanged(new));
    }
    z.insert(member, new);
    Ok(AddOutcome::Updated(new))
}

pub fn zrem(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let key = &args[1];
    let db = &mut ctx.state.dbs[ctx.client.db];
    let Some(z) = write_zset(db, key)? else {
        ctx.reply.int(0);
        return Ok(());
    };
    let mut deleted = 0;
    for member in &args[2..] {
        if z.remove(member) {
            deleted += 1;
            if z.is_empty() {
                break;
            }
        }
    }
    remove_if_empty(db, key);
    ctx.dirty(deleted);
    ctx.reply.int(deleted as i64);
    Ok(())
}

/// The range ZREMRANGEBY* deletes, parsed before the key is looked up.
enum RemoveRange {
    Rank(i64, i64),
    Score(crate::db::zset::ScoreBound, crate::db::zset::ScoreBound),
    Lex(crate::db::zset::LexBound, crate::db::zset::LexBound),
}

pub fn zremrangebyscore(ctx: &mut Ctx) -> CmdResult {
    let (min, max) = parse_score_range(ctx.arg(2), ctx.arg(3))?;
    remove_range(ctx, RemoveRange::Score(min, max))
}

pub fn zremrangebyrank(ctx: &mut Ctx) -> CmdResult {
    let start = args::int(ctx.arg(2))?;
    let end = args::int(ctx.arg(3))?;
    remove_range(ctx, RemoveRange::Rank(start, end))
}

pub fn zremrangebylex(ctx: &mut Ctx) -> CmdResult {
    let (min, max) = parse_lex_range(ctx.arg(2), ctx.arg(3))?;
    remove_range(ctx, RemoveRange::Lex(min, max))
}

fn remove_range(ctx: &mut Ctx, range: RemoveRange) -> CmdResult {
    let key = &ctx.args[1];
    let db = &mut ctx.state.dbs[ctx.client.db];
    let Some(z) = write_zset(db, key)? else {
        ctx.reply.int(0);
        return Ok(());
    };
    let ranks: Range<usize> = match &range {
        RemoveRange::Rank(start, end) => match rank_window(z.len(), *start, *end) {
            Some((s, e)) => s..e + 1,
            None => 0..0,
        },
        RemoveRange::Score(min, max) => z.score_ranks(min, max),
        RemoveRange::Lex(min, max) => z.lex_ranks(min, max, false),
    };
    let deleted = z.remove_ranks(ranks.start, ranks.end);
    remove_if_empty(db, key);
    ctx.dirty(deleted as u64);
    ctx.reply.int(deleted as i64);
    Ok(())
}
