//! Set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP,
//! SRANDMEMBER, SMOVE, SINTER, SINTERCARD, SINTERSTORE, SUNION,
//! SUNIONSTORE, SDIFF, SDIFFSTORE, SSCAN.
//!
//! A set is an insertion-ordered hash set plus Redis's encoding flag: while
//! `big == false` it stands for an intset, whose members Redis always lists
//! in ascending numeric order (`SetValue::ordered_members`). Set operations
//! build their result the way Redis does (a fresh intset that converts when
//! a member is not an integer or there are too many), so stored results get
//! the same encoding and replies the same order for integer sets.

use bytes::Bytes;
use rand::Rng;

use super::args::scan_cursor;
use super::args::{self, eq_ic};
use super::flags::*;
use super::hash::{check_random_reply_size, random_count, scan_positions, split};
use super::{CmdError, CmdResult, CommandSpec};
use crate::command;
use crate::db::{CompactBytes, Db, EncodingLimits, SetValue, Value};
use crate::resp::Reply;
use crate::server::context::Ctx;
use crate::util::number;

pub static COMMANDS: &[CommandSpec] = &[
    command!(
        "sadd",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        "set",
        "1.0.0",
        "Add one or more members to a set",
        sadd
    ),
    command!(
        "srem",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        "set",
        "1.0.0",
        "Remove one or more members from a set",
        srem
    ),
    command!(
        "smembers",
        2,
        READONLY,
        (1, 1, 1),
        "set",
        "1.0.0",
        "Get all the members in a set",
        smembers
    ),
    command!(
        "sismember",
        3,
        READONLY | FAST,
        (1, 1, 1),
        "set",
        "1.0.0",
        "Determine if a given value is a member of a set",
        sismember
    ),
    command!(
        "smismember",
        -3,
        READONLY | FAST,
        (1, 1, 1),
        "set",
        "6.2.0",
        "Returns the membership associated with the given elements for a set",
        smismember
    ),
    command!(
        "scard",
        2,
        READONLY | FAST,
        (1, 1, 1),
        "set",
        "1.0.0",
        "Get the number of members in a set",
        scard
    ),
    command!(
        "spop",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        "set",
        "1.0.0",
        "Remove and return one or multiple random members from a set",
        spop
    ),
    command!(
        "srandmember",
        -2,
        READONLY,
        (1, 1, 1),
        "set",
        "1.0.0",
        "Get one or multiple random members from a set",
        srandmember
    ),
    command!(
        "smove",
        4,
        WRITE | FAST,
        (1, 2, 1),
        "set",
        "1.0.0",
        "Move a member from one set to another",
        smove
    ),
    command!(
        "sinter",
        -2,
        READONLY,
        (1, -1, 1),
        "set",
        "1.0.0",
        "Intersect multiple sets",
        sinter
    ),
    command!(
        "sintercard",
        -3,
        READONLY,
        (0, 0, 0),
        "set",
        "7.0.0",
        "Intersect multiple sets and return the cardinality of the result",
        sintercard
    ),
    command!(
        "sinterstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        "set",
        "1.0.0",
        "Intersect multiple sets and store the resulting set in a key",
        sinterstore
    ),
    command!(
        "sunion",
        -2,
        READONLY,
        (1, -1, 1),
        "set",
        "1.0.0",
        "Add multiple sets",
        sunion
    ),
    command!(
        "sunionstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        "set",
        "1.0.0",
        "Add multiple sets and store the resulting set in a key",
        sunionstore
    ),
    command!(
        "sdiff",
        -2,
        READONLY,
        (1, -1, 1),
        "set",
        "1.0.0",
        "Subtract multiple sets",
        sdiff
    ),
    command!(
        "sdiffstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        "set",
        "1.0.0",
        "Subtract multiple sets and store the resulting set in a key",
        sdiffstore
    ),
    command!(
        "sscan",
        -3,
        READONLY,
        (1, 1, 1),
        "set",
        "2.8.0",
        "Incrementally iterate Set elements",
        sscan
    ),
];

// ---------------------------------------------------------------------------
// Set access and encoding.

/// The set at `key` for reading (counts a keyspace hit or miss).
fn read_set<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a SetValue>, CmdError> {
    match db.get(key).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The set at `key` for writing.
fn write_set<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a mut SetValue>, CmdError> {
    match db.get_mut(key).map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The set at `key`, created empty when missing; callers add to it at once.
fn set_or_create<'a>(db: &'a mut Db, key: &[u8]) -> Result<&'a mut SetValue, CmdError> {
    if write_set(db, key)?.is_none() {
        db.set(key, Value::new_set());
    }
    write_set(db, key)?.ok_or(CmdError::WrongType)
}

/// Adds a member; true when it is new. An intset turns into a hashtable
/// when it gets a non-integer member or grows past set-max-intset-entries.
fn add_member(s: &mut SetValue, member: &[u8], limits: &EncodingLimits) -> bool {
    let added = s.members.insert(CompactBytes::new(member));
    if added
        && !s.big
        && (s.members.len() > limits.set_max_intset_entries || number::parse_i64(member).is_none())
    {
        s.big = true;
    }
    added
}

/// Removes a member. Order does not matter here: an intset is listed
/// sorted and a hashtable in no particular order.
fn remove_member(s: &mut SetValue, member: &[u8]) -> bool {
    s.members.swap_remove(member)
}

/// A new set holding `members`, encoded as Redis would encode a set built
/// by adding them one by one to an empty intset.
fn build_set<'m>(
    members: impl IntoIterator<Item = &'m CompactBytes>,
    limits: &EncodingLimits,
) -> SetValue {
    let mut s = SetValue::default();
    for m in members {
        add_member(&mut s, m, limits);
    }
    s
}

/// The members in the order of a copy of `s` built from scratch (what
/// Redis lists for a set it computes): sorted when they fit an intset, even
/// if `s` itself was converted to a hashtable earlier.
fn rebuilt_order<'s>(s: &'s SetValue, limits: &EncodingLimits) -> Vec<&'s CompactBytes> {
    let mut members: Vec<&CompactBytes> = s.members.iter().collect();
    let fits_intset = members.len() <= limits.set_max_intset_entries
        && members.iter().all(|m| number::parse_i64(m).is_some());
    if fits_intset {
        members.sort_by_key(|m| number::parse_i64(m).unwrap_or(0));
    }
    members
}

/// Writes a set-typed reply (`~` in RESP3) of `members`.
fn reply_set_members(reply: &mut Reply, members: &[&CompactBytes]) {
    reply.set_len(members.len());
    for m in members {
        reply.bulk(m);
    }
}

/// Looks up every key (type-checking all of them first, as Redis 7.0 does)
/// and returns the sets, None for missing keys. Writing commands look keys
/// up without touching the hit/miss statistics, like lookupKeyWrite.
fn load_sets<'a>(
    db: &'a mut Db,
    keys: &[Bytes],
    for_write: bool,
) -> Result<Vec<Option<&'a SetValue>>, CmdError> {
    for key in keys {
        let value = if for_write {
            db.get_mut(key).map(|e| &e.value)
        } else {
            db.get(key).map(|e| &e.value)
        };
        if value.is_some_and(|v| !matches!(v, Value::Set(_))) {
            return Err(CmdError::WrongType);
        }
    }
    // Expired keys are gone (or hidden) now, so a plain peek is enough.
    let db: &'a Db = db;
    Ok(keys
        .iter()
        .map(|key| match db.peek(key).map(|e| &e.value) {
            Some(Value::Set(s)) => Some(&**s),
            _ => None,
        })
        .collect())
}

// ---------------------------------------------------------------------------
// Set algebra (pure).

/// Members common to all sets, in the order Redis finds them: it walks the
/// smallest set and probes the others. A missing set makes it empty.
/// `limit` 0 means no limit (SINTERCARD stops counting at the limit).
fn intersection<'s>(sets: &[Option<&'s SetValue>], limit: usize) -> Vec<&'s CompactBytes> {
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&SetValue>>>() else {
        return Vec::new();
    };
    sets.sort_by_key(|s| s.members.len());
    let Some((smallest, others)) = sets.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in smallest.ordered_members() {
        if others.iter().all(|s| s.members.contains(m)) {
            out.push(m);
            if limit != 0 && out.len() >= limit {
                break;
            }
        }
    }
    out
}

/// Every member of any set; missing sets count as empty.
fn union(sets: &[Option<&SetValue>], limits: &EncodingLimits) -> SetValue {
    build_set(
        sets.iter().flatten().flat_map(|s| s.ordered_members()),
        limits,
    )
}

/// Members of the first set that are in none of the others.
fn difference(sets: &[Option<&SetValue>], limits: &EncodingLimits) -> SetValue {
    let Some((Some(first), others)) = sets.split_first() else {
        return SetValue::default();
    };
    let kept = first
        .ordered_members()
        .into_iter()
        .filter(|m| others.iter().flatten().all(|s| !s.members.contains(*m)));
    build_set(kept, limits)
}

// ---------------------------------------------------------------------------
// Single-set commands.

fn sadd(ctx: &mut Ctx) -> CmdResult {
    let limits = ctx.limits();
    let (db, reply, args) = split(ctx);
    let s = set_or_create(db, &args[1])?;
    let mut added = 0;
    for m in &args[2..] {
        if add_member(s, m, &limits) {
            added += 1;
        }
    }
    reply.int(added);
    ctx.dirty(added as u64);
    Ok(())
}

fn srem(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let key = &args[1];
    let Some(s) = write_set(db, key)? else {
        reply.int(0);
        return Ok(());
    };
    let mut removed = 0;
    for m in &args[2..] {
        if remove_member(s, m) {
            removed += 1;
            if s.members.is_empty() {
                break;
            }
        }
    }
    if s.members.is_empty() {
        db.delete(key);
    }
    reply.int(removed);
    ctx.dirty(removed as u64);
    Ok(())
}

fn smembers(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let members = read_set(db, &args[1])?
        .map(SetValue::ordered_members)
        .unwrap_or_default();
    reply_set_members(reply, &members);
    Ok(())
}

fn sismember(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let found = read_set(db, &args[1])?.is_some_and(|s| s.members.contains(&args[2][..]));
    reply.int(found as i64);
    Ok(())
}

fn smismember(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let s = read_set(db, &args[1])?;
    let asked = &args[2..];
    reply.array_len(asked.len());
    for m in asked {
        reply.int(s.is_some_and(|s| s.members.contains(&m[..])) as i64);
    }
    Ok(())
}

fn scard(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let n = read_set(db, &args[1])?.map_or(0, |s| s.members.len());
    reply.int(n as i64);
    Ok(())
}

fn sscan(ctx: &mut Ctx) -> CmdResult {
    let cursor = scan_cursor(ctx.arg(2))?;
    let (db, reply, args) = split(ctx);
    let Some(s) = read_set(db, &args[1])? else {
        args::reply_scan(reply, 0, &[]);
        return Ok(());
    };
    let opts = args::scan_options(args, 3, false)?;
    let mut items: Vec<&[u8]> = Vec::new();
    // An intset is returned whole in one call, with cursor 0.
    let next = if s.big {
        scan_positions(s.members.len(), cursor, opts.count, |i| {
            if let Some(m) = s.members.get_index(i).filter(|m| opts.matches(m)) {
                items.push(m);
            }
        })
    } else {
        items.extend(
            s.ordered_members()
                .into_iter()
                .filter(|m| opts.matches(m))
                .map(|m| &m[..]),
        );
        0
    };
    args::reply_scan(reply, next, &items);
    Ok(())
}

// ---------------------------------------------------------------------------
// Random members.

/// SPOP's count: anything but a non-negative integer is "out of range".
fn spop_count(arg: &[u8]) -> Result<usize, CmdError> {
    match number::parse_i64(arg) {
        Some(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err(CmdError::msg("ERR value is out of range, must be positive")),
    }
}

fn spop(ctx: &mut Ctx) -> CmdResult {
    match ctx.argc() {
        2 => spop_one(ctx),
        3 => {
            let count = spop_count(ctx.arg(2))?;
            spop_many(ctx, count)
        }
        _ => Err(CmdError::Syntax),
    }
}

fn spop_one(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let key = &args[1];
    let Some(s) = write_set(db, key)?.filter(|s| !s.members.is_empty()) else {
        reply.null();
        return Ok(());
    };
    let i = rand::thread_rng().gen_range(0..s.members.len());
    let Some(member) = s.members.swap_remove_index(i) else {
        reply.null();
        return Ok(());
    };
    if s.members.is_empty() {
        db.delete(key);
    }
    reply.bulk(&member);
    let argv = vec![
        Ctx::word("SREM"),
        key.clone(),
        Bytes::copy_from_slice(&member),
    ];
    ctx.dirty(1);
    ctx.propagate_as(argv);
    Ok(())
}

/// How much larger than the survivors the popped part must be before SPOP
/// rebuilds the set from the survivors instead of removing one by one.
const SPOP_REBUILD_FACTOR: usize = 5;

fn spop_many(ctx: &mut Ctx, count: usize) -> CmdResult {
    let limits = ctx.limits();
    let (db, reply, args) = split(ctx);
    let key = args[1].clone();
    let Some(s) = write_set(db, &key)? else {
        reply.set_len(0);
        return Ok(());
    };
    let size = s.members.len();
    if count == 0 {
        reply.set_len(0);
        return Ok(());
    }
    if count >= size {
        // Everything goes: reply the whole set, delete it, replicate a DEL.
        // Redis replies through a union of this one set, which is a new set:
        // sorted whenever its members fit an intset, whatever `s` was.
        reply_set_members(reply, &rebuilt_order(s, &limits));
        db.delete(&key);
        ctx.dirty(size as u64 + 1);
        ctx.propagate_as(vec![Ctx::word("DEL"), key]);
        return Ok(());
    }
    let remaining = size - count;
    let popped = if remaining * SPOP_REBUILD_FACTOR > count {
        pop_random(s, count)
    } else {
        keep_random(s, remaining, &limits)
    };
    reply_set_members(reply, &popped.iter().collect::<Vec<_>>());
    ctx.dirty(count as u64 + 1);
    for m in popped {
        ctx.propagate_as(vec![
            Ctx::word("SREM"),
            key.clone(),
            Bytes::copy_from_slice(&m),
        ]);
    }
    Ok(())
}

/// Removes `count` random members one at a time; returns them.
fn pop_random(s: &mut SetValue, count: usize) -> Vec<CompactBytes> {
    let mut rng = rand::thread_rng();
    let mut popped = Vec::with_capacity(count);
    for _ in 0..count {
        let i = rng.gen_range(0..s.members.len());
        if let Some(m) = s.members.swap_remove_index(i) {
            popped.push(m);
        }
    }
    popped
}

/// Keeps `remaining` random members as a freshly built set (so it may go
/// back to an intset, as in Redis) and returns the others in set order.
fn keep_random(s: &mut SetValue, remaining: usize, limits: &EncodingLimits) -> Vec<CompactBytes> {
    let mut keep = vec![false; s.members.len()];
    for i in rand::seq::index::sample(&mut rand::thread_rng(), s.members.len(), remaining) {
        keep[i] = true;
    }
    let survivors = build_set(
        s.members
            .iter()
            .enumerate()
            .filter(|(i, _)| keep[*i])
            .map(|(_, m)| m),
        limits,
    );
    let old = std::mem::replace(s, survivors);
    let old_order = old.ordered_members();
    old_order
        .into_iter()
        .filter(|m| !s.members.contains(*m))
        .cloned()
        .collect()
}

fn srandmember(ctx: &mut Ctx) -> CmdResult {
    match ctx.argc() {
        2 => srandmember_one(ctx),
        3 => {
            let count = random_count(ctx.arg(2))?;
            srandmember_many(ctx, count)
        }
        _ => Err(CmdError::Syntax),
    }
}

fn srandmember_one(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    match read_set(db, &args[1])?.filter(|s| !s.members.is_empty()) {
        Some(s) => {
            let i = rand::thread_rng().gen_range(0..s.members.len());
            match s.members.get_index(i) {
                Some(m) => reply.bulk(m),
                None => reply.null(),
            }
        }
        None => reply.null(),
    }
    Ok(())
}

fn srandmember_many(ctx: &mut Ctx, count: i64) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let Some(s) = read_set(db, &args[1])?.filter(|s| !s.members.is_empty() && count != 0) else {
        reply.array_len(0);
        return Ok(());
    };
    let size = s.members.len();
    let mut rng = rand::thread_rng();
    if count < 0 {
        // Repeats allowed: `|count|` independent picks.
        let picks = count.unsigned_abs();
        reply.array_len(picks as usize);
        let mark = reply.len();
        for n in 0..picks {
            if let Some(m) = s.members.get_index(rng.gen_range(0..size)) {
                reply.bulk(m);
            }
            if n % 1024 == 0 {
                check_random_reply_size(reply, mark)?;
            }
        }
        return Ok(());
    }
    let count = count as usize;
    if count >= size {
        reply.bulks(s.ordered_members().into_iter().map(|m| &m[..]));
        return Ok(());
    }
    reply.array_len(count);
    for i in rand::seq::index::sample(&mut rng, size, count) {
        if let Some(m) = s.members.get_index(i) {
            reply.bulk(m);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// SMOVE.

fn smove(ctx: &mut Ctx) -> CmdResult {
    let limits = ctx.limits();
    let (db, reply, args) = split(ctx);
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    // A missing source answers 0 before any type check, as in Redis.
    if !db.contains(src) {
        reply.int(0);
        return Ok(());
    }
    write_set(db, src)?;
    write_set(db, dst)?;
    if src == dst {
        let found = write_set(db, src)?.is_some_and(|s| s.members.contains(&member[..]));
        reply.int(found as i64);
        return Ok(());
    }
    let Some(s) = write_set(db, src)? else {
        reply.int(0);
        return Ok(());
    };
    if !remove_member(s, member) {
        reply.int(0);
        return Ok(());
    }
    if s.members.is_empty() {
        db.delete(src);
    }
    let added = add_member(set_or_create(db, dst)?, member, &limits);
    reply.int(1);
    ctx.dirty(1 + added as u64);
    Ok(())
}

// ---------------------------------------------------------------------------
// SINTER / SUNION / SDIFF and their STORE and CARD forms.

fn sinter(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let sets = load_sets(db, &args[1..], false)?;
    reply_set_members(reply, &intersection(&sets, 0));
    Ok(())
}

fn sunion(ctx: &mut Ctx) -> CmdResult {
    let limits = ctx.limits();
    let (db, reply, args) = split(ctx);
    let sets = load_sets(db, &args[1..], false)?;
    reply_set_members(reply, &union(&sets, &limits).ordered_members());
    Ok(())
}

fn sdiff(ctx: &mut Ctx) -> CmdResult {
    let limits = ctx.limits();
    let (db, reply, args) = split(ctx);
    let sets = load_sets(db, &args[1..], false)?;
    reply_set_members(reply, &difference(&sets, &limits).ordered_members());
    Ok(())
}

fn sinterstore(ctx: &mut Ctx) -> CmdResult {
    let limits = ctx.limits();
    let (db, _, args) = split(ctx);
    let sets = load_sets(db, &args[2..], true)?;
    let result = build_set(intersection(&sets, 0), &limits);
    store_result(ctx, result)
}

fn sunionstore(ctx: &mut Ctx) -> CmdResult {
    let limits = ctx.limits();
    let (db, _, args) = split(ctx);
    let sets = load_sets(db, &args[2..], true)?;
    let result = union(&sets, &limits);
    store_result(ctx, result)
}

fn sdiffstore(ctx: &mut Ctx) -> CmdResult {
    let limits = ctx.limits();
    let (db, _, args) = split(ctx);
    let sets = load_sets(db, &args[2..], true)?;
    let result = difference(&sets, &limits);
    store_result(ctx, result)
}

/// Stores a *STORE result at the destination (argument 1), replacing
/// whatever was there and its TTL; an empty result deletes it instead.
fn store_result(ctx: &mut Ctx, result: SetValue) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let dst = &args[1];
    let n = result.members.len();
    let changed = if n == 0 {
        db.delete(dst)
    } else {
        db.set(dst, Value::Set(Box::new(result)));
        true
    };
    reply.int(n as i64);
    // Only the destination changed: WATCHes on the sources stay valid.
    ctx.signal_only_touched();
    if changed {
        ctx.dirty(1);
        let db = ctx.db_index();
        let dst = ctx.args[1].clone();
        ctx.touch(db, &dst);
    }
    Ok(())
}

/// SINTERCARD's `numkeys key... [LIMIT n]`: the key range and the limit.
fn sintercard_args(args: &[Bytes]) -> Result<(std::ops::Range<usize>, usize), CmdError> {
    let numkeys = number::parse_i64(&args[1])
        .filter(|n| *n > 0)
        .ok_or_else(|| CmdError::msg("ERR numkeys should be greater than 0"))?;
    let available = (args.len() - 2) as i64;
    if numkeys > available {
        return Err(CmdError::msg(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let keys = 2..2 + numkeys as usize;
    let mut limit = 0;
    let mut i = keys.end;
    while i < args.len() {
        if eq_ic(&args[i], "limit") && i + 1 < args.len() {
            let n = number::parse_i64(&args[i + 1])
                .filter(|n| *n >= 0)
                .ok_or_else(|| CmdError::msg("ERR LIMIT can't be negative"))?;
            limit = usize::try_from(n).unwrap_or(usize::MAX);
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok((keys, limit))
}

fn sintercard(ctx: &mut Ctx) -> CmdResult {
    let (keys, limit) = sintercard_args(ctx.args)?;
    let (db, reply, args) = split(ctx);
    let sets = load_sets(db, &args[keys], false)?;
    reply.int(intersection(&sets, limit).len() as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(items: &[&str]) -> SetValue {
        let limits = EncodingLimits::default();
        let mut s = SetValue::default();
        for i in items {
            add_member(&mut s, i.as_bytes(), &limits);
        }
        s
    }

    fn names(v: &[&CompactBytes]) -> Vec<String> {
        v.iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect()
    }

    #[test]
    fn intset_conversion() {
        let limits = EncodingLimits {
            set_max_intset_entries: 3,
            ..EncodingLimits::default()
        };
        let mut s = SetValue::default();
        for m in ["3", "1", "2"] {
            add_member(&mut s, m.as_bytes(), &limits);
        }
        assert!(!s.big);
        add_member(&mut s, b"2", &limits);
        assert!(!s.big, "an existing member changes nothing");
        add_member(&mut s, b"4", &limits);
        assert!(s.big);
        let s = set_of(&["1", "01"]);
        assert!(s.big, "01 is not a canonical integer");
    }

    #[test]
    fn algebra() {
        let limits = EncodingLimits::default();
        let a = set_of(&["5", "1", "3", "2"]);
        let b = set_of(&["3", "2", "9"]);
        let c = set_of(&["x", "1"]);
        let both = [Some(&a), Some(&b)];
        assert_eq!(names(&intersection(&both, 0)), ["2", "3"]);
        assert_eq!(intersection(&both, 1).len(), 1);
        assert!(intersection(&[Some(&a), None], 0).is_empty());
        let u = union(&[Some(&a), None, Some(&b)], &limits);
        assert_eq!(names(&u.ordered_members()), ["1", "2", "3", "5", "9"]);
        assert!(!u.big);
        let d = difference(&[Some(&a), Some(&b), None, Some(&c)], &limits);
        assert_eq!(names(&d.ordered_members()), ["5"]);
        assert!(difference(&[None, Some(&a)], &limits).members.is_empty());
        assert!(union(&[Some(&a), Some(&c)], &limits).big);
    }

    #[test]
    fn rebuilt_order_sorts_integer_members_of_a_hashtable() {
        let limits = EncodingLimits::default();
        let mut s = set_of(&["10", "x", "2", "-1"]);
        assert!(s.big);
        assert_eq!(names(&rebuilt_order(&s, &limits)), ["10", "x", "2", "-1"]);
        remove_member(&mut s, b"x");
        assert!(s.big, "a hashtable never converts back");
        assert_eq!(names(&rebuilt_order(&s, &limits)), ["-1", "2", "10"]);
    }

    #[test]
    fn spop_rebuild_keeps_the_rest() {
        let limits = EncodingLimits::default();
        let mut s = set_of(&["1", "2", "3", "4", "5", "6", "7", "x"]);
        assert!(s.big);
        let popped = keep_random(&mut s, 1, &limits);
        assert_eq!(popped.len(), 7);
        assert_eq!(s.members.len(), 1);
        // The survivor set is rebuilt, so a lone integer is an intset again.
        let survivor = s.members.get_index(0).cloned().unwrap_or_default();
        assert_eq!(s.big, number::parse_i64(&survivor).is_none());
        assert!(!popped.contains(&survivor));
    }

    #[test]
    fn sintercard_parsing() {
        let argv = |v: &[&str]| {
            v.iter()
                .map(|s| Bytes::from(s.to_string()))
                .collect::<Vec<_>>()
        };
        let (keys, limit) = sintercard_args(&argv(&["sintercard", "2", "a", "b", "LIMIT", "3"]))
            .unwrap_or((0..0, 99));
        assert_eq!((keys, limit), (2..4, 3));
        let err = |v: &[&str]| sintercard_args(&argv(v)).err().map(|e| e.text());
        assert_eq!(
            err(&["sintercard", "0", "a"]).as_deref(),
            Some("ERR numkeys should be greater than 0")
        );
        assert_eq!(
            err(&["sintercard", "3", "a"]).as_deref(),
            Some("ERR Number of keys can't be greater than number of args")
        );
        assert_eq!(
            err(&["sintercard", "1", "a", "limit", "-1"]).as_deref(),
            Some("ERR LIMIT can't be negative")
        );
        assert_eq!(
            err(&["sintercard", "1", "a", "limit"]).as_deref(),
            Some("ERR syntax error")
        );
    }
    #[test]
    fn spop_propagates_srem_or_del() {
        use super::super::hash::harness::Server;
        let mut srv = Server::new();
        srv.run("SADD s 1 2 3 4 5 6 7 8 9 10 a b c");
        srv.propagated();
        // Few members: one SREM per popped member (wrapped in MULTI/EXEC).
        srv.run("SPOP s 2");
        let ops = srv.propagated();
        assert_eq!(ops.len(), 4, "{ops:?}");
        assert_eq!((ops[0].as_str(), ops[3].as_str()), ("MULTI", "EXEC"));
        assert!(ops[1].starts_with("SREM s ") && ops[2].starts_with("SREM s "));
        // Most members: the set is rebuilt, still one SREM per popped member.
        srv.run("SPOP s 10");
        let ops = srv.propagated();
        assert_eq!(ops.len(), 12, "{ops:?}");
        assert_eq!(srv.run("SCARD s"), ":1\r\n");
        // Everything: a single DEL.
        srv.run("SADD t 1 2 3");
        srv.propagated();
        srv.run("SPOP t 5");
        assert_eq!(srv.propagated(), ["DEL t"]);
        // Without a count: SREM, even for the last member.
        srv.run("SADD e x");
        srv.propagated();
        srv.run("SPOP e");
        assert_eq!(srv.propagated(), ["SREM e x"]);
        srv.run("SPOP e");
        srv.run("SPOP e 3");
        srv.run("SPOP s 0");
        assert!(srv.propagated().is_empty());
    }

    #[test]
    fn store_commands_propagate_only_real_changes() {
        use super::super::hash::harness::Server;
        let mut srv = Server::new();
        srv.run("SADD e 5 6");
        srv.run("SINTERSTORE d e e");
        srv.run("SINTERSTORE d nokey e");
        srv.run("SUNIONSTORE d nokey");
        srv.run("SMOVE e d 5");
        srv.run("SMOVE e d 9");
        srv.run("SADD e 6");
        srv.run("SREM e 7");
        assert_eq!(
            srv.propagated(),
            [
                "SADD e 5 6",
                "SINTERSTORE d e e",
                "SINTERSTORE d nokey e",
                "SMOVE e d 5"
            ]
        );
    }
}
