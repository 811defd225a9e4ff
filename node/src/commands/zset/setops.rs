//! ZUNION, ZINTER, ZDIFF, their STORE forms, and ZINTERCARD (Redis's
//! zunionInterDiffGenericCommand). Plain sets are accepted as inputs, each
//! member with score 1.

use std::collections::HashMap;

use super::{reply_member, reply_members_header};
use crate::commands::args::{self, eq_ic};
use crate::commands::{CmdError, CmdResult};
use crate::db::value::{FastHasher, SetValue, Value};
use crate::db::zset::ScoredMember;
use crate::db::{CompactBytes, Db, ZSet};
use crate::server::context::Ctx;
use crate::util::number;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Folds `value` into `target`. inf + -inf gives 0, as in Redis.
    fn fold(self, target: &mut f64, value: f64) {
        match self {
            Aggregate::Sum => {
                *target += value;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if value < *target {
                    *target = value;
                }
            }
            Aggregate::Max => {
                if value > *target {
                    *target = value;
                }
            }
        }
    }
}

/// What the command does with the result.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    Reply,
    Store,
    Cardinality,
}

pub fn zunion(ctx: &mut Ctx) -> CmdResult {
    setop_generic(ctx, Op::Union, Output::Reply)
}

pub fn zinter(ctx: &mut Ctx) -> CmdResult {
    setop_generic(ctx, Op::Inter, Output::Reply)
}

pub fn zdiff(ctx: &mut Ctx) -> CmdResult {
    setop_generic(ctx, Op::Diff, Output::Reply)
}

pub fn zunionstore(ctx: &mut Ctx) -> CmdResult {
    setop_generic(ctx, Op::Union, Output::Store)
}

pub fn zinterstore(ctx: &mut Ctx) -> CmdResult {
    setop_generic(ctx, Op::Inter, Output::Store)
}

pub fn zdiffstore(ctx: &mut Ctx) -> CmdResult {
    setop_generic(ctx, Op::Diff, Output::Store)
}

pub fn zintercard(ctx: &mut Ctx) -> CmdResult {
    setop_generic(ctx, Op::Inter, Output::Cardinality)
}

/// One input key.
#[derive(Clone, Copy)]
enum Source<'a> {
    Missing,
    Sorted(&'a ZSet),
    Plain(&'a SetValue),
}

impl<'a> Source<'a> {
    fn len(&self) -> usize {
        match self {
            Source::Missing => 0,
            Source::Sorted(z) => z.len(),
            Source::Plain(s) => s.members.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::Sorted(z) => z.score(member),
            Source::Plain(s) => s.members.contains(member).then_some(1.0),
        }
    }

    /// Every (member, score) of the input.
    fn entries(&self) -> Box<dyn Iterator<Item = (&'a [u8], f64)> + 'a> {
        match *self {
            Source::Missing => Box::new(std::iter::empty()),
            Source::Sorted(z) => Box::new(z.iter().map(|e| (e.member.as_slice(), e.score))),
            Source::Plain(s) => Box::new(s.members.iter().map(|m| (m.as_slice(), 1.0))),
        }
    }
}

struct Input<'a> {
    source: Source<'a>,
    weight: f64,
}

/// Options after the keys.
struct Options {
    weights: Option<Vec<f64>>,
    aggregate: Aggregate,
    withscores: bool,
    /// ZINTERCARD LIMIT; 0 means none.
    limit: usize,
}

fn parse_options(
    args: &[bytes::Bytes],
    from: usize,
    setnum: usize,
    op: Op,
    output: Output,
) -> Result<Options, CmdError> {
    let mut o = Options {
        weights: None,
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let scoring = op != Op::Diff && output != Output::Cardinality;
    let mut j = from;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j];
        if scoring && remaining > setnum && eq_ic(a, "weights") {
            let weights = args[j + 1..j + 1 + setnum]
                .iter()
                .map(|w| {
                    number::parse_f64(w)
                        .ok_or_else(|| CmdError::msg("ERR weight value is not a float"))
                })
                .collect::<Result<Vec<f64>, _>>()?;
            o.weights = Some(weights);
            j += 1 + setnum;
        } else if scoring && remaining >= 2 && eq_ic(a, "aggregate") {
            let v = &args[j + 1];
            o.aggregate = if eq_ic(v, "sum") {
                Aggregate::Sum
            } else if eq_ic(v, "min") {
                Aggregate::Min
            } else if eq_ic(v, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if output == Output::Reply && eq_ic(a, "withscores") {
            o.withscores = true;
            j += 1;
        } else if output == Output::Cardinality && remaining >= 2 && eq_ic(a, "limit") {
            let n = number::parse_i64(&args[j + 1])
                .filter(|n| *n >= 0)
                .ok_or_else(|| CmdError::msg("ERR LIMIT can't be negative"))?;
            o.limit = usize::try_from(n).unwrap_or(usize::MAX);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(o)
}

/// Looks every input key up (expiring it if needed) and checks its type,
/// before options are parsed, as Redis does.
fn check_inputs(db: &mut Db, keys: &[bytes::Bytes], for_write: bool) -> CmdResult {
    for key in keys {
        let value = if for_write {
            db.get_mut(key).map(|e| &e.value)
        } else {
            db.get(key).map(|e| &e.value)
        };
        match value {
            None | Some(Value::ZSet(_)) | Some(Value::Set(_)) => {}
            Some(_) => return Err(CmdError::WrongType),
        }
    }
    Ok(())
}

fn source<'a>(db: &'a Db, key: &[u8]) -> Source<'a> {
    match db.peek(key).map(|e| &e.value) {
        Some(Value::ZSet(z)) => Source::Sorted(z),
        Some(Value::Set(s)) => Source::Plain(s),
        _ => Source::Missing,
    }
}

fn setop_generic(ctx: &mut Ctx, op: Op, output: Output) -> CmdResult {
    let args = ctx.args;
    let numkeys_at = if output == Output::Store { 2 } else { 1 };
    let setnum = args::int(&args[numkeys_at])?;
    if setnum < 1 {
        return Err(CmdError::msg(format!(
            "ERR at least 1 input key is needed for '{}' command",
            ctx.spec.name
        )));
    }
    let first_key = numkeys_at + 1;
    if setnum as u64 > (args.len() - first_key) as u64 {
        return Err(CmdError::Syntax);
    }
    let setnum = setnum as usize;
    let keys = &args[first_key..first_key + setnum];
    check_inputs(
        &mut ctx.state.dbs[ctx.client.db],
        keys,
        output == Output::Store,
    )?;
    let opts = parse_options(args, first_key + setnum, setnum, op, output)?;

    let db = &ctx.state.dbs[ctx.client.db];
    let mut inputs: Vec<Input> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Input {
            source: source(db, k),
            weight: opts.weights.as_ref().map_or(1.0, |w| w[i]),
        })
        .collect();
    if op != Op::Diff {
        // Smallest inputs first, as Redis orders them (this also fixes the
        // order in which float scores are summed).
        inputs.sort_by_key(|i| i.source.len());
    }
    match output {
        Output::Cardinality => {
            let n = intersection_size(&inputs, opts.limit);
            ctx.reply.int(n as i64);
        }
        Output::Reply => {
            let mut result = compute(&inputs, op, opts.aggregate);
            // Scores compare as numbers (-0 == 0), then members bytewise.
            result.sort_by(|a, b| {
                a.1.partial_cmp(&b.1)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.0.cmp(b.0))
            });
            reply_members_header(ctx.reply, result.len(), opts.withscores);
            for (member, score) in result {
                reply_member(ctx.reply, member, score, opts.withscores);
            }
        }
        Output::Store => {
            let entries: Vec<ScoredMember> = compute(&inputs, op, opts.aggregate)
                .into_iter()
                .map(|(m, score)| ScoredMember {
                    score,
                    member: CompactBytes::new(m),
                })
                .collect();
            store_result(ctx, entries);
        }
    }
    Ok(())
}

/// The members of the result and their scores, in no particular order.
fn compute<'a>(inputs: &[Input<'a>], op: Op, aggregate: Aggregate) -> Vec<(&'a [u8], f64)> {
    match op {
        Op::Union => union(inputs, aggregate),
        Op::Inter => intersection(inputs, aggregate),
        Op::Diff => difference(inputs),
    }
}

/// A weighted score; NaN (0 * inf) counts as 0, as in Redis.
fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

fn union<'a>(inputs: &[Input<'a>], aggregate: Aggregate) -> Vec<(&'a [u8], f64)> {
    let largest = inputs.last().map_or(0, |i| i.source.len());
    let mut acc: HashMap<&'a [u8], usize, FastHasher> =
        HashMap::with_capacity_and_hasher(largest, FastHasher::default());
    let mut out: Vec<(&'a [u8], f64)> = Vec::with_capacity(largest);
    for input in inputs {
        for (member, score) in input.source.entries() {
            let value = weighted(score, input.weight);
            match acc.get(member) {
                Some(&at) => aggregate.fold(&mut out[at].1, value),
                None => {
                    acc.insert(member, out.len());
                    out.push((member, value));
                }
            }
        }
    }
    out
}

/// Walks the smallest input and looks its members up in the others.
fn intersection<'a>(inputs: &[Input<'a>], aggregate: Aggregate) -> Vec<(&'a [u8], f64)> {
    let mut out = Vec::new();
    let Some((first, rest)) = inputs.split_first() else {
        return out;
    };
    'members: for (member, score) in first.source.entries() {
        let mut total = weighted(score, first.weight);
        for other in rest {
            match other.source.score(member) {
                // Unlike the first input's, these products are not NaN-fixed
                // before folding (Redis does the same).
                Some(s) => aggregate.fold(&mut total, s * other.weight),
                None => continue 'members,
            }
        }
        out.push((member, total));
    }
    out
}

fn intersection_size(inputs: &[Input], limit: usize) -> usize {
    let Some((first, rest)) = inputs.split_first() else {
        return 0;
    };
    let mut n = 0;
    for (member, _) in first.source.entries() {
        if rest
            .iter()
            .all(|other| other.source.score(member).is_some())
        {
            n += 1;
            if limit != 0 && n >= limit {
                break;
            }
        }
    }
    n
}

/// Members of the first input found in no other, with their own scores.
fn difference<'a>(inputs: &[Input<'a>]) -> Vec<(&'a [u8], f64)> {
    let Some((first, rest)) = inputs.split_first() else {
        return Vec::new();
    };
    first
        .source
        .entries()
        .filter(|(m, _)| rest.iter().all(|other| other.source.score(m).is_none()))
        .collect()
}

/// Z*STORE: replaces the destination, or deletes it for an empty result.
fn store_result(ctx: &mut Ctx, entries: Vec<ScoredMember>) {
    let limits = ctx.limits();
    let dst = &ctx.args[1];
    let db = &mut ctx.state.dbs[ctx.client.db];
    if entries.is_empty() {
        if db.delete(dst) {
            ctx.dirty(1);
        }
        ctx.reply.int(0);
        return;
    }
    let n = entries.len();
    let mut z = ZSet::from_entries(entries);
    z.update_encoding(&limits);
    db.set(dst, Value::ZSet(Box::new(z)));
    ctx.dirty(1);
    ctx.reply.int(n as i64);
}
