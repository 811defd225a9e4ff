//! ZSCORE, ZMSCORE, ZCARD, ZRANK, ZREVRANK, ZSCAN and ZRANDMEMBER.

use std::collections::HashSet;

use rand::seq::index;
use rand::Rng;

use super::{read_zset, reply_member, reply_members_header};
use crate::commands::args::{self, eq_ic};
use crate::commands::{CmdError, CmdResult};
use crate::server::context::Ctx;
use crate::util::number::format_double;

pub fn zscore(ctx: &mut Ctx) -> CmdResult {
    let (key, member) = (&ctx.args[1], &ctx.args[2]);
    let score = read_zset(ctx.db(), key)?.and_then(|z| z.score(member));
    match score {
        Some(s) => ctx.reply.double(s),
        None => ctx.reply.null(),
    }
    Ok(())
}

pub fn zmscore(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let z = read_zset(db, &args[1])?;
    ctx.reply.array_len(args.len() - 2);
    for member in &args[2..] {
        match z.and_then(|z| z.score(member)) {
            Some(s) => ctx.reply.double(s),
            None => ctx.reply.null(),
        }
    }
    Ok(())
}

pub fn zcard(ctx: &mut Ctx) -> CmdResult {
    let key = &ctx.args[1];
    let n = read_zset(ctx.db(), key)?.map_or(0, |z| z.len());
    ctx.reply.int(n as i64);
    Ok(())
}

pub fn zrank(ctx: &mut Ctx) -> CmdResult {
    rank_generic(ctx, false)
}

pub fn zrevrank(ctx: &mut Ctx) -> CmdResult {
    rank_generic(ctx, true)
}

fn rank_generic(ctx: &mut Ctx, reverse: bool) -> CmdResult {
    let (key, member) = (&ctx.args[1], &ctx.args[2]);
    let rank = read_zset(ctx.db(), key)?.and_then(|z| {
        let r = z.rank(member)?;
        Some(if reverse { z.len() - 1 - r } else { r })
    });
    match rank {
        Some(r) => ctx.reply.int(r as i64),
        None => ctx.reply.null(),
    }
    Ok(())
}

/// ZSCAN: a small (listpack) set is returned whole with cursor 0, as Redis
/// does; a big one is walked by hash-map position.
pub fn zscan(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let cursor = args::scan_cursor(&args[2])?;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let Some(z) = read_zset(db, &args[1])? else {
        args::reply_scan(ctx.reply, 0, &[]);
        return Ok(());
    };
    let opts = args::scan_options(args, 3, false)?;
    let mut items: Vec<(&[u8], f64)> = Vec::new();
    let next = if z.big {
        z.scan(cursor, opts.count, |m, s| {
            if opts.matches(m) {
                items.push((m.as_slice(), s));
            }
        })
    } else {
        items.extend(
            z.iter()
                .filter(|e| opts.matches(&e.member))
                .map(|e| (e.member.as_slice(), e.score)),
        );
        0
    };
    let reply = &mut *ctx.reply;
    reply.array_len(2);
    reply.bulk(next.to_string().as_bytes());
    reply.array_len(items.len() * 2);
    for (member, score) in items {
        reply.bulk(member);
        reply.bulk(&format_double(score));
    }
    Ok(())
}

/// ZRANDMEMBER key [count [WITHSCORES]].
pub fn zrandmember(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    if args.len() >= 3 {
        let count = args::int(&args[2])?;
        if count == i64::MIN {
            return Err(CmdError::msg(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ));
        }
        if args.len() > 4 || (args.len() == 4 && !eq_ic(&args[3], "withscores")) {
            return Err(CmdError::Syntax);
        }
        let withscores = args.len() == 4;
        if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
            return Err(CmdError::msg("ERR value is out of range"));
        }
        return random_members(ctx, count, withscores);
    }
    let db = &mut ctx.state.dbs[ctx.client.db];
    let z = read_zset(db, &args[1])?;
    match z.and_then(|z| z.random_entry(&mut rand::thread_rng())) {
        Some((member, _)) => ctx.reply.bulk(member),
        None => ctx.reply.null(),
    }
    Ok(())
}

/// ZRANDMEMBER with a count. Negative: that many independent picks.
/// Positive: distinct members; all of them (highest first, as Redis
/// iterates) when the count covers the set.
fn random_members(ctx: &mut Ctx, count: i64, withscores: bool) -> CmdResult {
    let db = &mut ctx.state.dbs[ctx.client.db];
    let Some(z) = read_zset(db, &ctx.args[1])? else {
        ctx.reply.array_len(0);
        return Ok(());
    };
    let reply = &mut *ctx.reply;
    let wanted = count.unsigned_abs() as usize;
    if wanted == 0 || z.is_empty() {
        reply.array_len(0);
        return Ok(());
    }
    let mut rng = rand::thread_rng();
    if count < 0 || wanted == 1 {
        reply_members_header(reply, wanted, withscores);
        for _ in 0..wanted {
            if let Some((member, score)) = z.entry_at(rng.gen_range(0..z.len())) {
                reply_member(reply, member, score, withscores);
            }
        }
        return Ok(());
    }
    if wanted >= z.len() {
        reply_members_header(reply, z.len(), withscores);
        for e in z.iter().rev() {
            reply_member(reply, &e.member, e.score, withscores);
        }
        return Ok(());
    }
    reply_members_header(reply, wanted, withscores);
    let positions: Vec<usize> = if wanted * 3 > z.len() {
        index::sample(&mut rng, z.len(), wanted).into_vec()
    } else {
        let mut seen = HashSet::with_capacity(wanted);
        let mut picked = Vec::with_capacity(wanted);
        while picked.len() < wanted {
            let i = rng.gen_range(0..z.len());
            if seen.insert(i) {
                picked.push(i);
            }
        }
        picked
    };
    for i in positions {
        if let Some((member, score)) = z.entry_at(i) {
            reply_member(reply, member, score, withscores);
        }
    }
    Ok(())
}
