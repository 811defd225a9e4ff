//! ZRANGE and its variants (ZRANGESTORE, ZREVRANGE, Z[REV]RANGEBYSCORE,
//! Z[REV]RANGEBYLEX), ZCOUNT and ZLEXCOUNT.

use std::ops::Range;

use super::{rank_window, read_zset, reply_members};
use crate::commands::args::{self, eq_ic};
use crate::commands::{CmdError, CmdResult};
use crate::db::value::{EncodingLimits, Value};
use crate::db::zset::{window, LexBound, ScoreBound, ScoredMember};
use crate::db::ZSet;
use crate::server::context::Ctx;
use crate::util::number;

const SCORE_RANGE_ERROR: &str = "ERR min or max is not a float";
const LEX_RANGE_ERROR: &str = "ERR min or max not valid string range item";

/// One score bound: `(` makes it exclusive; the number is read with a bare
/// strtod like Redis's zslParseRange (so "" is 0 and " 1" is 1).
fn parse_score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (exclusive, text) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    let value = number::parse_f64_loose(text)?;
    Some(ScoreBound { value, exclusive })
}

pub fn parse_score_range(min: &[u8], max: &[u8]) -> Result<(ScoreBound, ScoreBound), CmdError> {
    match (parse_score_bound(min), parse_score_bound(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(CmdError::msg(SCORE_RANGE_ERROR)),
    }
}

/// One lex bound: `-`, `+`, `[member` or `(member`. Redis reads `+`/`-` as C
/// strings, so a NUL right after them still counts as the end.
fn parse_lex_bound(arg: &[u8]) -> Option<LexBound> {
    let alone = arg.len() == 1 || arg.get(1) == Some(&0);
    match arg.first()? {
        b'+' if alone => Some(LexBound::PosInf),
        b'-' if alone => Some(LexBound::NegInf),
        b'(' => Some(LexBound::Exclusive(arg[1..].to_vec())),
        b'[' => Some(LexBound::Inclusive(arg[1..].to_vec())),
        _ => None,
    }
}

pub fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<(LexBound, LexBound), CmdError> {
    match (parse_lex_bound(min), parse_lex_bound(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(CmdError::msg(LEX_RANGE_ERROR)),
    }
}

pub fn zcount(ctx: &mut Ctx) -> CmdResult {
    let (min, max) = parse_score_range(ctx.arg(2), ctx.arg(3))?;
    let key = &ctx.args[1];
    let n = read_zset(ctx.db(), key)?.map_or(0, |z| z.score_ranks(&min, &max).len());
    ctx.reply.int(n as i64);
    Ok(())
}

pub fn zlexcount(ctx: &mut Ctx) -> CmdResult {
    let (min, max) = parse_lex_range(ctx.arg(2), ctx.arg(3))?;
    let key = &ctx.args[1];
    let n = read_zset(ctx.db(), key)?.map_or(0, |z| z.lex_ranks(&min, &max, false).len());
    ctx.reply.int(n as i64);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

pub fn zrange(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, false, Kind::Auto, Direction::Auto)
}

pub fn zrangestore(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, true, Kind::Auto, Direction::Auto)
}

pub fn zrevrange(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, false, Kind::Rank, Direction::Reverse)
}

pub fn zrangebyscore(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, false, Kind::Score, Direction::Forward)
}

pub fn zrevrangebyscore(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, false, Kind::Score, Direction::Reverse)
}

pub fn zrangebylex(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, false, Kind::Lex, Direction::Forward)
}

pub fn zrevrangebylex(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, false, Kind::Lex, Direction::Reverse)
}

/// The parsed range of a ZRANGE-like command.
enum Spec {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

/// Options after `min max`.
struct Options {
    kind: Kind,
    direction: Direction,
    withscores: bool,
    offset: i64,
    /// -1 (the default) means no limit, and is what LIMIT checks look at.
    limit: i64,
}

fn parse_options(
    args: &[bytes::Bytes],
    from: usize,
    store: bool,
    kind: Kind,
    direction: Direction,
) -> Result<Options, CmdError> {
    let mut o = Options {
        kind,
        direction,
        withscores: false,
        offset: 0,
        limit: -1,
    };
    let mut j = from;
    while j < args.len() {
        let a = &args[j];
        let left = args.len() - j - 1;
        if !store && eq_ic(a, "withscores") {
            o.withscores = true;
        } else if eq_ic(a, "limit") && left >= 2 {
            o.offset = args::int(&args[j + 1])?;
            o.limit = args::int(&args[j + 2])?;
            j += 2;
        } else if o.direction == Direction::Auto && eq_ic(a, "rev") {
            o.direction = Direction::Reverse;
        } else if o.kind == Kind::Auto && eq_ic(a, "bylex") {
            o.kind = Kind::Lex;
        } else if o.kind == Kind::Auto && eq_ic(a, "byscore") {
            o.kind = Kind::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if o.direction == Direction::Auto {
        o.direction = Direction::Forward;
    }
    if o.kind == Kind::Auto {
        o.kind = Kind::Rank;
    }
    if o.limit != -1 && o.kind == Kind::Rank {
        return Err(CmdError::msg(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if o.withscores && o.kind == Kind::Lex {
        return Err(CmdError::msg(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    Ok(o)
}

/// Z[REV]RANGE*, with `store` for ZRANGESTORE dst src ...
fn zrange_generic(ctx: &mut Ctx, store: bool, kind: Kind, direction: Direction) -> CmdResult {
    let args = ctx.args;
    let base = if store { 2 } else { 1 };
    let opts = parse_options(args, base + 3, store, kind, direction)?;
    let reverse = opts.direction == Direction::Reverse;
    let (mut lo, mut hi) = (&args[base + 1], &args[base + 2]);
    if reverse && opts.kind != Kind::Rank {
        // By score and by lex, reverse ranges are written max first.
        std::mem::swap(&mut lo, &mut hi);
    }
    let spec = match opts.kind {
        Kind::Score => {
            let (min, max) = parse_score_range(lo, hi)?;
            Spec::Score(min, max)
        }
        Kind::Lex => {
            let (min, max) = parse_lex_range(lo, hi)?;
            Spec::Lex(min, max)
        }
        _ => Spec::Rank(args::int(lo)?, args::int(hi)?),
    };

    let key = &args[base];
    let db = &mut ctx.state.dbs[ctx.client.db];
    let Some(z) = read_zset(db, key)? else {
        if store {
            store_range(ctx, Vec::new(), None);
        } else {
            ctx.reply.array_len(0);
        }
        return Ok(());
    };
    let ranks = select_ranks(z, &spec, &opts);
    let items = z.iter_ranks(ranks.start, ranks.end);
    if store {
        // Entries in the order Redis emits them (it matters for -0 scores).
        let entries: Vec<ScoredMember> = if reverse {
            items.rev().cloned().collect()
        } else {
            items.cloned().collect()
        };
        let known_len = (opts.kind == Kind::Rank).then_some(entries.len());
        store_range(ctx, entries, known_len);
    } else if reverse {
        reply_members(ctx.reply, items.rev(), ranks.len(), opts.withscores);
    } else {
        reply_members(ctx.reply, items, ranks.len(), opts.withscores);
    }
    Ok(())
}

/// The ascending ranks a range selects (the caller walks them backwards for
/// reverse ranges), after LIMIT offset/count.
fn select_ranks(z: &ZSet, spec: &Spec, opts: &Options) -> Range<usize> {
    let reverse = opts.direction == Direction::Reverse;
    if let Spec::Rank(start, end) = spec {
        return match rank_window(z.len(), *start, *end) {
            Some((s, e)) if reverse => z.len() - 1 - e..z.len() - s,
            Some((s, e)) => s..e + 1,
            None => 0..0,
        };
    }
    // A negative offset skips everything in Redis; a negative count is "all".
    let Ok(offset) = usize::try_from(opts.offset) else {
        return 0..0;
    };
    let count = usize::try_from(opts.limit).unwrap_or(usize::MAX);
    match spec {
        Spec::Score(min, max) => window(z.score_ranks(min, max), reverse, offset, count),
        Spec::Lex(min, max) => z.lex_window(min, max, reverse, offset, count),
        Spec::Rank(..) => 0..0,
    }
}

/// ZRANGESTORE's result: the destination is replaced, or deleted when the
/// range is empty.
fn store_range(ctx: &mut Ctx, entries: Vec<ScoredMember>, known_len: Option<usize>) {
    let limits = ctx.limits();
    let dst = &ctx.args[1];
    // The source is only read: WATCH on it survives, as in Redis.
    ctx.signal_only_touched();
    let db_index = ctx.db_index();
    ctx.touch(db_index, dst);
    let db = &mut ctx.state.dbs[db_index];
    let n = entries.len();
    if n == 0 {
        if db.delete(dst) {
            ctx.dirty(1);
        }
        ctx.reply.int(0);
        return;
    }
    let (entries, big) = encode_like_redis(entries, known_len, &limits);
    let mut z = ZSet::from_entries(entries);
    z.big = big;
    db.set(dst, Value::ZSet(Box::new(z)));
    ctx.dirty(1);
    ctx.reply.int(n as i64);
}

/// Redis fills ZRANGESTORE's destination one member at a time, in the
/// range's order: it starts as a listpack (unless the length of a rank
/// range is known to exceed the limit) and converts when a member crosses
/// a limit. Members added while it is a listpack have -0 stored as 0.
/// Returns the entries as stored and whether the result is a skiplist.
fn encode_like_redis(
    mut entries: Vec<ScoredMember>,
    known_len: Option<usize>,
    limits: &EncodingLimits,
) -> (Vec<ScoredMember>, bool) {
    let mut big = known_len.is_some_and(|n| n > limits.zset_max_listpack_entries);
    for (i, e) in entries.iter_mut().enumerate() {
        if !big
            && (i + 1 > limits.zset_max_listpack_entries
                || e.member.len() > limits.zset_max_listpack_value)
        {
            big = true;
        }
        if !big && e.score == 0.0 {
            e.score = 0.0;
        }
    }
    (entries, big)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_bounds_use_bare_strtod() {
        let b = parse_score_bound(b"(1.5").unwrap();
        assert!(b.exclusive && b.value == 1.5);
        assert_eq!(parse_score_bound(b"").map(|b| b.value), Some(0.0));
        assert_eq!(parse_score_bound(b" 2").map(|b| b.value), Some(2.0));
        assert_eq!(
            parse_score_bound(b"1e400").map(|b| b.value),
            Some(f64::INFINITY)
        );
        assert!(parse_score_bound(b"-inf").is_some());
        assert!(parse_score_bound(b"nan").is_none());
        assert!(parse_score_bound(b"[1").is_none());
        assert!(parse_score_bound(b"1 ").is_none());
    }

    #[test]
    fn lex_bounds() {
        assert!(matches!(parse_lex_bound(b"+"), Some(LexBound::PosInf)));
        assert!(matches!(parse_lex_bound(b"-"), Some(LexBound::NegInf)));
        assert!(parse_lex_bound(b"+a").is_none());
        assert!(parse_lex_bound(b"").is_none());
        assert!(parse_lex_bound(b"a").is_none());
        assert!(matches!(parse_lex_bound(b"(a"), Some(LexBound::Exclusive(v)) if v == b"a"));
        assert!(matches!(parse_lex_bound(b"["), Some(LexBound::Inclusive(v)) if v.is_empty()));
    }
}
