//! List commands: pushes and pops, ranges, LINDEX/LSET/LREM/LTRIM/LINSERT/
//! LPOS, moves between lists (LMOVE, RPOPLPUSH), LMPOP, and the blocking
//! forms BLPOP, BRPOP, BLMOVE, BRPOPLPUSH and BLMPOP.
//!
//! A blocking command that finds nothing asks the executor to park the
//! client (`Ctx::block_on`). When a key it waits on is written, the executor
//! re-runs the same command for it with `ClientState::woken_by` set to that
//! key. Redis 7.0 then serves that key only, and only if it holds a list;
//! otherwise the client keeps waiting. Pops made by blocking commands are
//! propagated as their non-blocking forms (LPOP/RPOP [count], LMOVE,
//! RPOPLPUSH), as Redis does.

use std::collections::VecDeque;

use bytes::Bytes;

use super::args;
use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec};
use crate::command;
use crate::db::{CompactBytes, Db, Value};
use crate::resp::Reply;
use crate::server::blocking::TimeoutReply;
use crate::server::context::Ctx;

type List = VecDeque<CompactBytes>;

pub static COMMANDS: &[CommandSpec] = &[
    command!("lpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "list", "1.0.0", "Prepend one or multiple elements to a list", lpush),
    command!("rpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "list", "1.0.0", "Append one or multiple elements to a list", rpush),
    command!("lpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "list", "2.2.0", "Prepend an element to a list, only if the list exists", lpushx),
    command!("rpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "list", "2.2.0", "Append an element to a list, only if the list exists", rpushx),
    command!("lpop", -2, WRITE | FAST, (1, 1, 1), "list", "1.0.0", "Remove and get the first elements in a list", lpop),
    command!("rpop", -2, WRITE | FAST, (1, 1, 1), "list", "1.0.0", "Remove and get the last elements in a list", rpop),
    command!("llen", 2, READONLY | FAST, (1, 1, 1), "list", "1.0.0", "Get the length of a list", llen),
    command!("lrange", 4, READONLY, (1, 1, 1), "list", "1.0.0", "Get a range of elements from a list", lrange),
    command!("lindex", 3, READONLY, (1, 1, 1), "list", "1.0.0", "Get an element from a list by its index", lindex),
    command!("lset", 4, WRITE | DENYOOM, (1, 1, 1), "list", "1.0.0", "Set the value of an element in a list by its index", lset),
    command!("lrem", 4, WRITE, (1, 1, 1), "list", "1.0.0", "Remove elements from a list", lrem),
    command!("ltrim", 4, WRITE, (1, 1, 1), "list", "1.0.0", "Trim a list to the specified range", ltrim),
    command!("linsert", 5, WRITE | DENYOOM, (1, 1, 1), "list", "2.2.0", "Insert an element before or after another element in a list", linsert),
    command!("lpos", -3, READONLY, (1, 1, 1), "list", "6.0.6", "Return the index of matching elements on a list", lpos),
    command!("lmove", 5, WRITE | DENYOOM, (1, 2, 1), "list", "6.2.0", "Pop an element from a list, push it to another list and return it", lmove),
    command!("rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), "list", "1.2.0", "Remove the last element in a list, prepend it to another list and return it", rpoplpush),
    command!("lmpop", -4, WRITE, (0, 0, 0), "list", "7.0.0", "Pop elements from a list", lmpop),
    command!("blpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), "list", "2.0.0", "Remove and get the first element in a list, or block until one is available", blpop),
    command!("brpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), "list", "2.0.0", "Remove and get the last element in a list, or block until one is available", brpop),
    command!("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), "list", "6.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available", blmove),
    command!("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), "list", "2.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available", brpoplpush),
    command!("blmpop", -5, WRITE | BLOCKING, (0, 0, 0), "list", "7.0.0", "Pop elements from a list, or block until one is available", blmpop),
];

// ---- Helpers ---------------------------------------------------------------

/// A list end: LEFT is the head, RIGHT the tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

impl End {
    /// `LEFT` / `RIGHT` in any case; anything else is a syntax error.
    fn parse(arg: &[u8]) -> Result<End, CmdError> {
        if args::eq_ic(arg, "left") {
            Ok(End::Left)
        } else if args::eq_ic(arg, "right") {
            Ok(End::Right)
        } else {
            Err(CmdError::Syntax)
        }
    }

    /// The plain pop command for this end (what blocking pops propagate as).
    fn pop_command(self) -> Bytes {
        Ctx::word(match self {
            End::Left => "LPOP",
            End::Right => "RPOP",
        })
    }
}

fn pop_end(list: &mut List, end: End) -> Option<CompactBytes> {
    match end {
        End::Left => list.pop_front(),
        End::Right => list.pop_back(),
    }
}

fn push_end(list: &mut List, end: End, value: CompactBytes) {
    match end {
        End::Left => list.push_front(value),
        End::Right => list.push_back(value),
    }
}

/// The selected database and the reply buffer, borrowed together.
fn db_and_reply<'c>(ctx: &'c mut Ctx) -> (&'c mut Db, &'c mut Reply) {
    let i = ctx.client.db;
    (&mut ctx.state.dbs[i], &mut *ctx.reply)
}

/// The list at `key` for a read command (counts keyspace hits and misses).
fn read_list<'d>(db: &'d mut Db, key: &[u8]) -> Result<Option<&'d List>, CmdError> {
    match db.get(key) {
        None => Ok(None),
        Some(entry) => match &entry.value {
            Value::List(list) => Ok(Some(list)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The list at `key` for a write command.
fn write_list<'d>(db: &'d mut Db, key: &[u8]) -> Result<Option<&'d mut List>, CmdError> {
    match db.get_mut(key) {
        None => Ok(None),
        Some(entry) => match &mut entry.value {
            Value::List(list) => Ok(Some(list)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Redis never keeps an empty list: deletes `key` if its list is empty.
fn delete_if_empty(db: &mut Db, key: &[u8]) {
    if matches!(write_list(db, key), Ok(Some(list)) if list.is_empty()) {
        db.remove(key);
    }
}

/// Resolves an inclusive `[start, end]` with negative indexes counting from
/// the tail, clamped to the list; None when the range is empty.
fn resolve_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

/// A list index (negative from the tail) as a position, if inside the list.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if index < 0 { len + index } else { index };
    (0..len).contains(&i).then_some(i as usize)
}

fn keys_of(keys: &[Bytes]) -> Vec<CompactBytes> {
    keys.iter().map(|k| CompactBytes::new(k)).collect()
}

// ---- Push ------------------------------------------------------------------

fn lpush(ctx: &mut Ctx) -> CmdResult {
    push(ctx, End::Left, false)
}

fn rpush(ctx: &mut Ctx) -> CmdResult {
    push(ctx, End::Right, false)
}

fn lpushx(ctx: &mut Ctx) -> CmdResult {
    push(ctx, End::Left, true)
}

fn rpushx(ctx: &mut Ctx) -> CmdResult {
    push(ctx, End::Right, true)
}

/// [LR]PUSH[X] key element [element ...]: the new length (0 for PUSHX on a
/// missing key).
fn push(ctx: &mut Ctx, end: End, only_existing: bool) -> CmdResult {
    let args = ctx.args;
    let key = &args[1];
    let values = &args[2..];
    let (db, reply) = db_and_reply(ctx);
    let len = match write_list(db, key)? {
        Some(list) => {
            for v in values {
                push_end(list, end, CompactBytes::new(v));
            }
            list.len()
        }
        None if only_existing => {
            reply.int(0);
            return Ok(());
        }
        None => {
            let mut list = List::with_capacity(values.len());
            for v in values {
                push_end(&mut list, end, CompactBytes::new(v));
            }
            let len = list.len();
            db.set(key, Value::List(Box::new(list)));
            len
        }
    };
    reply.int(len as i64);
    ctx.dirty(values.len() as u64);
    Ok(())
}

// ---- Pop -------------------------------------------------------------------

fn lpop(ctx: &mut Ctx) -> CmdResult {
    pop(ctx, End::Left)
}

fn rpop(ctx: &mut Ctx) -> CmdResult {
    pop(ctx, End::Right)
}

/// [LR]POP key [count]: one bulk without a count, an array with one (null
/// array for a missing key, empty array for count 0).
fn pop(ctx: &mut Ctx, end: End) -> CmdResult {
    let args = ctx.args;
    if args.len() > 3 {
        return Err(args::arity_error(ctx.spec.name));
    }
    let count = match args.get(2) {
        // Redis reports a non-integer count with the same text as a negative one.
        Some(arg) => Some(
            args::int(arg)
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| CmdError::msg("ERR value is out of range, must be positive"))?,
        ),
        None => None,
    };
    let key = &args[1];
    let (db, reply) = db_and_reply(ctx);
    let Some(list) = write_list(db, key)? else {
        match count {
            Some(_) => reply.null_array(),
            None => reply.null(),
        }
        return Ok(());
    };
    let popped = match count {
        None => {
            let Some(value) = pop_end(list, end) else {
                reply.null();
                return Ok(());
            };
            reply.bulk(&value);
            1
        }
        Some(n) => pop_many(list, end, n, reply),
    };
    delete_if_empty(db, key);
    ctx.dirty(popped);
    Ok(())
}

/// Pops up to `count` elements from one end and writes them as an array.
fn pop_many(list: &mut List, end: End, count: i64, reply: &mut Reply) -> u64 {
    let n = (count as u64).min(list.len() as u64) as usize;
    reply.array_len(n);
    for _ in 0..n {
        if let Some(value) = pop_end(list, end) {
            reply.bulk(&value);
        }
    }
    n as u64
}

// ---- Reads -----------------------------------------------------------------

fn llen(ctx: &mut Ctx) -> CmdResult {
    let key = &ctx.args[1];
    let (db, reply) = db_and_reply(ctx);
    let len = read_list(db, key)?.map_or(0, |l| l.len());
    reply.int(len as i64);
    Ok(())
}

fn lrange(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let start = args::int(&args[2])?;
    let end = args::int(&args[3])?;
    let (db, reply) = db_and_reply(ctx);
    let Some(list) = read_list(db, &args[1])? else {
        reply.array_len(0);
        return Ok(());
    };
    match resolve_range(start, end, list.len()) {
        None => reply.array_len(0),
        Some((from, to)) => {
            reply.array_len(to - from + 1);
            for v in list.range(from..=to) {
                reply.bulk(v);
            }
        }
    }
    Ok(())
}

/// LINDEX: the key is looked up (and type-checked) before the index is parsed.
fn lindex(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let (db, reply) = db_and_reply(ctx);
    let Some(list) = read_list(db, &args[1])? else {
        reply.null();
        return Ok(());
    };
    let index = args::int(&args[2])?;
    match resolve_index(index, list.len()).and_then(|i| list.get(i)) {
        Some(v) => reply.bulk(v),
        None => reply.null(),
    }
    Ok(())
}

/// Options of LPOS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LposOptions {
    /// Which match to start from; negative searches from the tail.
    rank: i64,
    /// COUNT: None when not given; Some(0) means every match.
    count: Option<i64>,
    /// MAXLEN: elements compared at most; 0 means no limit.
    maxlen: i64,
}

fn parse_lpos_options(args: &[Bytes]) -> Result<LposOptions, CmdError> {
    let mut opts = LposOptions {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let mut i = 0;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return Err(CmdError::Syntax);
        };
        let opt = &args[i];
        if args::eq_ic(opt, "rank") {
            opts.rank = args::int(value)?;
            if opts.rank == 0 {
                return Err(CmdError::msg(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if args::eq_ic(opt, "count") {
            opts.count = Some(non_negative(value, "ERR COUNT can't be negative")?);
        } else if args::eq_ic(opt, "maxlen") {
            opts.maxlen = non_negative(value, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(opts)
}

/// An integer >= 0; `msg` is the error both for a negative value and for
/// something that is not an integer, as Redis reports it.
fn non_negative(arg: &[u8], msg: &str) -> Result<i64, CmdError> {
    args::int(arg)
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| CmdError::msg(msg))
}

/// Positions of `element` in `list` following LPOS's rules. Without COUNT
/// the search stops at the first qualifying match.
fn lpos_matches(list: &List, element: &[u8], opts: LposOptions) -> Vec<i64> {
    let from_tail = opts.rank < 0;
    // Redis negates the rank in a C long: -LONG_MIN stays LONG_MIN, so every
    // match qualifies. Wrapping arithmetic reproduces that.
    let rank = if from_tail {
        opts.rank.wrapping_neg()
    } else {
        opts.rank
    };
    let len = list.len() as i64;
    let limit = if opts.maxlen == 0 {
        usize::MAX
    } else {
        opts.maxlen as usize
    };
    let ordered: Box<dyn Iterator<Item = &CompactBytes>> = if from_tail {
        Box::new(list.iter().rev())
    } else {
        Box::new(list.iter())
    };
    let mut found = Vec::new();
    let mut matches: i64 = 0;
    for (scanned, item) in ordered.take(limit).enumerate() {
        if item.as_slice() != element {
            continue;
        }
        matches += 1;
        if matches < rank {
            continue;
        }
        let scanned = scanned as i64;
        found.push(if from_tail {
            len - 1 - scanned
        } else {
            scanned
        });
        match opts.count {
            None => break,
            Some(count) if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count => {
                break
            }
            Some(_) => {}
        }
    }
    found
}

/// LPOS key element [RANK rank] [COUNT num] [MAXLEN len]
fn lpos(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let opts = parse_lpos_options(&args[3..])?;
    let (db, reply) = db_and_reply(ctx);
    let found = match read_list(db, &args[1])? {
        Some(list) => lpos_matches(list, &args[2], opts),
        None => Vec::new(),
    };
    if opts.count.is_some() {
        reply.array_len(found.len());
        for pos in found {
            reply.int(pos);
        }
    } else {
        match found.first() {
            Some(pos) => reply.int(*pos),
            None => reply.null(),
        }
    }
    Ok(())
}

// ---- In-place edits --------------------------------------------------------

/// LSET: the key is looked up before the index is parsed.
fn lset(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let (db, reply) = db_and_reply(ctx);
    let Some(list) = write_list(db, &args[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    let index = args::int(&args[2])?;
    let slot = resolve_index(index, list.len())
        .and_then(|i| list.get_mut(i))
        .ok_or_else(|| CmdError::msg("ERR index out of range"))?;
    *slot = CompactBytes::new(&args[3]);
    reply.ok();
    ctx.dirty(1);
    Ok(())
}

/// Removes up to |count| elements equal to `value` (all when count is 0),
/// from the head for count >= 0 and from the tail for count < 0.
fn remove_matches(list: &mut List, value: &[u8], count: i64) -> usize {
    let limit = if count == 0 {
        usize::MAX
    } else {
        usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)
    };
    if count >= 0 {
        let mut removed = 0;
        list.retain(|e| {
            let hit = removed < limit && e.as_slice() == value;
            removed += hit as usize;
            !hit
        });
        return removed;
    }
    // From the tail: find the doomed positions (descending), then drop them
    // in one pass.
    let mut doomed: Vec<usize> = Vec::new();
    for (i, e) in list.iter().enumerate().rev() {
        if doomed.len() == limit {
            break;
        }
        if e.as_slice() == value {
            doomed.push(i);
        }
    }
    let removed = doomed.len();
    let mut next = doomed.pop();
    let mut i = 0;
    list.retain(|_| {
        let hit = Some(i) == next;
        if hit {
            next = doomed.pop();
        }
        i += 1;
        !hit
    });
    removed
}

/// LREM key count element: the count is parsed before the key is looked up.
fn lrem(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let count = args::int(&args[2])?;
    let key = &args[1];
    let (db, reply) = db_and_reply(ctx);
    let removed = match write_list(db, key)? {
        Some(list) => remove_matches(list, &args[3], count),
        None => 0,
    };
    delete_if_empty(db, key);
    reply.int(removed as i64);
    ctx.dirty(removed as u64);
    Ok(())
}

/// LTRIM key start stop. Redis signals the key as modified even when
/// nothing was removed (WATCH sees it), but only counts removed elements
/// as changes.
fn ltrim(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let start = args::int(&args[2])?;
    let end = args::int(&args[3])?;
    let key = &args[1];
    let (db, reply) = db_and_reply(ctx);
    let Some(list) = write_list(db, key)? else {
        reply.ok();
        return Ok(());
    };
    let before = list.len();
    match resolve_range(start, end, before) {
        None => list.clear(),
        Some((from, to)) => {
            list.truncate(to + 1);
            list.drain(..from);
        }
    }
    let removed = before - list.len();
    delete_if_empty(db, key);
    reply.ok();
    ctx.dirty(removed as u64);
    let db_index = ctx.db_index();
    ctx.touch(db_index, key);
    Ok(())
}

/// LINSERT key BEFORE|AFTER pivot element: the new length, -1 when the
/// pivot is missing, 0 when the key is.
fn linsert(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let after = if args::eq_ic(&args[2], "after") {
        true
    } else if args::eq_ic(&args[2], "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let (db, reply) = db_and_reply(ctx);
    let Some(list) = write_list(db, &args[1])? else {
        reply.int(0);
        return Ok(());
    };
    let Some(pivot) = list.iter().position(|e| e.as_slice() == args[3].as_ref()) else {
        reply.int(-1);
        return Ok(());
    };
    list.insert(pivot + after as usize, CompactBytes::new(&args[4]));
    reply.int(list.len() as i64);
    ctx.dirty(1);
    Ok(())
}

// ---- Moves -----------------------------------------------------------------

/// Moves one element from `src`'s `from` end to `dst`'s `to` end (the same
/// list rotates). Ok(None) when `src` does not exist. Both types are checked
/// before anything changes, source first.
fn move_element(
    db: &mut Db,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<Option<CompactBytes>, CmdError> {
    if write_list(db, src)?.is_none() {
        return Ok(None);
    }
    write_list(db, dst)?;
    let Some(list) = write_list(db, src)? else {
        return Ok(None);
    };
    let Some(value) = pop_end(list, from) else {
        return Ok(None);
    };
    if src == dst {
        push_end(list, to, value.clone());
        return Ok(Some(value));
    }
    delete_if_empty(db, src);
    match write_list(db, dst)? {
        Some(target) => push_end(target, to, value.clone()),
        None => {
            let mut target = List::new();
            push_end(&mut target, to, value.clone());
            db.set(dst, Value::List(Box::new(target)));
        }
    }
    Ok(Some(value))
}

/// Replies with the moved element and records the change; false when
/// there was nothing to move.
fn move_and_reply(ctx: &mut Ctx, from: End, to: End) -> Result<bool, CmdError> {
    let args = ctx.args;
    let (db, reply) = db_and_reply(ctx);
    match move_element(db, &args[1], &args[2], from, to)? {
        Some(value) => {
            reply.bulk(&value);
            ctx.dirty(1);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
fn lmove(ctx: &mut Ctx) -> CmdResult {
    let from = End::parse(&ctx.args[3])?;
    let to = End::parse(&ctx.args[4])?;
    if !move_and_reply(ctx, from, to)? {
        ctx.reply.null();
    }
    Ok(())
}

fn rpoplpush(ctx: &mut Ctx) -> CmdResult {
    if !move_and_reply(ctx, End::Right, End::Left)? {
        ctx.reply.null();
    }
    Ok(())
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
fn blmove(ctx: &mut Ctx) -> CmdResult {
    let from = End::parse(&ctx.args[3])?;
    let to = End::parse(&ctx.args[4])?;
    let timeout = args::block_timeout(&ctx.args[5])?;
    let args = ctx.args;
    let mut propagated = args[..5].to_vec();
    propagated[0] = Ctx::word("LMOVE");
    blocking_move(ctx, from, to, timeout, propagated)
}

/// BRPOPLPUSH source destination timeout
fn brpoplpush(ctx: &mut Ctx) -> CmdResult {
    let timeout = args::block_timeout(&ctx.args[3])?;
    let args = ctx.args;
    let propagated = vec![Ctx::word("RPOPLPUSH"), args[1].clone(), args[2].clone()];
    blocking_move(ctx, End::Right, End::Left, timeout, propagated)
}

/// Moves now if the source has elements (propagated as `as_command`), else
/// waits for the source. A client woken by a write that left the source
/// holding another type keeps waiting; a destination of the wrong type is
/// an error even then, as in Redis 7.0.
fn blocking_move(
    ctx: &mut Ctx,
    from: End,
    to: End,
    timeout: Option<i64>,
    as_command: Vec<Bytes>,
) -> CmdResult {
    let args = ctx.args;
    let src = &args[1];
    let woken = ctx.client.woken_by.is_some();
    if woken && !matches!(write_list(ctx.db(), src), Ok(Some(_))) {
        ctx.block_on(
            keys_of(std::slice::from_ref(src)),
            timeout,
            TimeoutReply::NullArray,
        );
        return Ok(());
    }
    if move_and_reply(ctx, from, to)? {
        ctx.propagate_as(as_command);
        return Ok(());
    }
    if ctx.client.in_exec {
        // Inside MULTI, BLMOVE answers a null bulk at once (its timeout
        // reply is a null array).
        ctx.reply.null();
        return Ok(());
    }
    ctx.block_on(
        keys_of(std::slice::from_ref(src)),
        timeout,
        TimeoutReply::NullArray,
    );
    Ok(())
}

// ---- Blocking pops ---------------------------------------------------------

fn blpop(ctx: &mut Ctx) -> CmdResult {
    blocking_pop(ctx, End::Left)
}

fn brpop(ctx: &mut Ctx) -> CmdResult {
    blocking_pop(ctx, End::Right)
}

/// The key a blocking pop takes from: on the first try, the first of `keys`
/// holding a list (a key of another type is an error); when re-run for a
/// woken client, only the key that woke it, if it now holds a list.
fn poppable_key<'k>(ctx: &mut Ctx, keys: &'k [Bytes]) -> Result<Option<&'k Bytes>, CmdError> {
    if let Some(woken) = ctx.client.woken_by.clone() {
        let Some(key) = keys.iter().find(|k| k.as_ref() == woken.as_slice()) else {
            return Ok(None);
        };
        let ready = matches!(write_list(ctx.db(), key), Ok(Some(list)) if !list.is_empty());
        return Ok(ready.then_some(key));
    }
    for key in keys {
        if write_list(ctx.db(), key)?.is_some_and(|list| !list.is_empty()) {
            return Ok(Some(key));
        }
    }
    Ok(None)
}

/// B[LR]POP key [key ...] timeout: [key, element], propagated as [LR]POP key.
fn blocking_pop(ctx: &mut Ctx, end: End) -> CmdResult {
    let args = ctx.args;
    let timeout = args::block_timeout(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    // Only the popped key changes, not every key argument.
    ctx.signal_only_touched();
    let Some(key) = poppable_key(ctx, keys)? else {
        ctx.block_on(keys_of(keys), timeout, TimeoutReply::NullArray);
        return Ok(());
    };
    let (db, reply) = db_and_reply(ctx);
    let Some(value) = write_list(db, key)?.and_then(|list| pop_end(list, end)) else {
        return Ok(());
    };
    delete_if_empty(db, key);
    reply.array_len(2);
    reply.bulk(key);
    reply.bulk(&value);
    record_pop(ctx, key, end, None, 1);
    Ok(())
}

/// Bookkeeping of a pop made by LMPOP or a blocking pop: the change count,
/// the modified key and the plain [LR]POP it is propagated as.
fn record_pop(ctx: &mut Ctx, key: &Bytes, end: End, count: Option<u64>, popped: u64) {
    ctx.dirty(popped);
    let db = ctx.db_index();
    ctx.touch(db, key);
    let mut argv = vec![end.pop_command(), key.clone()];
    if let Some(n) = count {
        argv.push(Bytes::from(n.to_string()));
    }
    ctx.propagate_as(argv);
}

/// What LMPOP / BLMPOP asked for.
struct MpopRequest<'a> {
    keys: &'a [Bytes],
    end: End,
    count: i64,
}

/// Parses `numkeys key [key ...] LEFT|RIGHT [COUNT count]` starting at
/// `args[at]`, with Redis's error texts and order.
fn parse_mpop(args: &[Bytes], at: usize) -> Result<MpopRequest<'_>, CmdError> {
    let numkeys_msg = "ERR numkeys should be greater than 0";
    let numkeys = args::int(&args[at])
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| CmdError::msg(numkeys_msg))?;
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(at + 1))
        .filter(|i| *i < args.len())
        .ok_or(CmdError::Syntax)?;
    let end = End::parse(&args[where_at])?;
    let mut count = None;
    let mut i = where_at + 1;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        if count.is_none() && has_value && args::eq_ic(&args[i], "count") {
            let n = args::int(&args[i + 1])
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| CmdError::msg("ERR count should be greater than 0"))?;
            count = Some(n);
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(MpopRequest {
        keys: &args[at + 1..where_at],
        end,
        count: count.unwrap_or(1),
    })
}

/// Pops up to `count` elements from `key` and replies [key, [elements]],
/// propagated as [LR]POP key n.
fn mpop_from(ctx: &mut Ctx, key: &Bytes, end: End, count: i64) -> CmdResult {
    let (db, reply) = db_and_reply(ctx);
    let Some(list) = write_list(db, key)? else {
        return Ok(());
    };
    reply.array_len(2);
    reply.bulk(key);
    let popped = pop_many(list, end, count, reply);
    delete_if_empty(db, key);
    record_pop(ctx, key, end, Some(popped), popped);
    Ok(())
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn lmpop(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let req = parse_mpop(args, 1)?;
    match poppable_key(ctx, req.keys)? {
        Some(key) => mpop_from(ctx, key, req.end, req.count),
        None => {
            ctx.reply.null_array();
            Ok(())
        }
    }
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn blmpop(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let req = parse_mpop(args, 2)?;
    let timeout = args::block_timeout(&args[1])?;
    match poppable_key(ctx, req.keys)? {
        Some(key) => mpop_from(ctx, key, req.end, req.count),
        None => {
            ctx.block_on(keys_of(req.keys), timeout, TimeoutReply::NullArray);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> List {
        items
            .iter()
            .map(|s| CompactBytes::new(s.as_bytes()))
            .collect()
    }

    fn strings(l: &List) -> Vec<String> {
        l.iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    #[test]
    fn ranges_follow_redis_rules() {
        assert_eq!(resolve_range(0, -1, 5), Some((0, 4)));
        assert_eq!(resolve_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(resolve_range(2, 1, 5), None);
        assert_eq!(resolve_range(5, 10, 5), None);
        assert_eq!(resolve_range(-2, -1, 5), Some((3, 4)));
        assert_eq!(resolve_range(0, -6, 5), None);
        assert_eq!(resolve_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(resolve_range(0, 0, 0), None);
    }

    #[test]
    fn indexes_count_from_either_end() {
        assert_eq!(resolve_index(0, 3), Some(0));
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-3, 3), Some(0));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(3, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
    }

    #[test]
    fn lrem_from_head_tail_and_all() {
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(remove_matches(&mut l, b"a", 2), 2);
        assert_eq!(strings(&l), ["b", "c", "a"]);
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(remove_matches(&mut l, b"a", -2), 2);
        assert_eq!(strings(&l), ["a", "b", "c"]);
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(remove_matches(&mut l, b"a", 0), 3);
        assert_eq!(strings(&l), ["b", "c"]);
        let mut l = list(&["a", "b"]);
        assert_eq!(remove_matches(&mut l, b"a", i64::MIN), 1);
        assert_eq!(strings(&l), ["b"]);
    }

    #[test]
    fn lpos_rank_count_maxlen() {
        let l = list(&["a", "b", "c", "a", "b", "a"]);
        let opts = |rank, count, maxlen| LposOptions {
            rank,
            count,
            maxlen,
        };
        assert_eq!(lpos_matches(&l, b"a", opts(1, None, 0)), [0]);
        assert_eq!(lpos_matches(&l, b"a", opts(2, None, 0)), [3]);
        assert_eq!(lpos_matches(&l, b"a", opts(-1, None, 0)), [5]);
        assert_eq!(lpos_matches(&l, b"a", opts(-2, Some(0), 0)), [3, 0]);
        assert_eq!(lpos_matches(&l, b"a", opts(1, Some(2), 0)), [0, 3]);
        assert_eq!(lpos_matches(&l, b"a", opts(1, Some(0), 4)), [0, 3]);
        assert_eq!(lpos_matches(&l, b"a", opts(4, None, 0)), Vec::<i64>::new());
        assert_eq!(lpos_matches(&l, b"a", opts(i64::MIN, None, 0)), [5]);
        assert_eq!(
            lpos_matches(&l, b"a", opts(i64::MIN, Some(1), 0)),
            [5, 3, 0]
        );
    }

    #[test]
    fn mpop_arguments() {
        let args: Vec<Bytes> = ["lmpop", "2", "a", "b", "right", "COUNT", "3"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        let req = parse_mpop(&args, 1).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(req.keys.len(), 2);
        assert_eq!(req.end, End::Right);
        assert_eq!(req.count, 3);
        let huge: Vec<Bytes> = ["lmpop", "9223372036854775807", "a", "left"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        assert!(matches!(parse_mpop(&huge, 1), Err(CmdError::Syntax)));
    }

    /// Runs commands in-process through the executor and records the write
    /// stream, to check what blocking commands propagate and whom they serve.
    mod executed {
        use tokio::sync::oneshot;

        use crate::config::Config;
        use crate::resp::Frame;
        use crate::server::blocking::Unblocked;
        use crate::server::client::ClientState;
        use crate::server::exec::Outcome;
        use crate::server::test_support::{execute_words, StreamCapture};
        use crate::server::ServerState;

        struct Harness {
            state: ServerState,
            stream: StreamCapture,
        }

        impl Harness {
            fn new() -> Harness {
                let mut state = ServerState::new(Config::default());
                let stream = StreamCapture::attach(&mut state);
                Harness { state, stream }
            }

            fn run(
                &mut self,
                client: &mut ClientState,
                line: &str,
            ) -> (Frame, Option<oneshot::Receiver<Unblocked>>) {
                let words: Vec<&str> = line.split(' ').collect();
                let (reply, outcome) = execute_words(&mut self.state, client, &words);
                let waiting = match outcome {
                    Outcome::Blocked(rx, _) => Some(rx),
                    Outcome::Done | Outcome::Paused(_) => None,
                };
                let frame = match Frame::parse(&reply) {
                    Ok(Some((f, _))) => f,
                    _ => Frame::Null,
                };
                (frame, waiting)
            }

            /// The propagated commands so far (SELECTs included), as text.
            fn stream(&self) -> Vec<String> {
                self.stream.commands()
            }
        }

        fn served(rx: &mut oneshot::Receiver<Unblocked>) -> Option<Frame> {
            match rx.try_recv() {
                Ok(Unblocked::Reply(bytes)) => Frame::parse(&bytes).ok().flatten().map(|(f, _)| f),
                Err(_) => None,
            }
        }

        fn bulks(items: &[&str]) -> Frame {
            Frame::Array(
                items
                    .iter()
                    .map(|s| Frame::Bulk(s.as_bytes().to_vec()))
                    .collect(),
            )
        }

        #[test]
        fn immediate_blocking_pops_propagate_plain_forms() {
            let mut h = Harness::new();
            let mut c = ClientState::new(1, String::new(), true);
            h.run(&mut c, "RPUSH l 1 2 3 4 5 6");
            assert_eq!(h.run(&mut c, "BLPOP nothing l 0").0, bulks(&["l", "1"]));
            h.run(&mut c, "BRPOP l 0");
            h.run(&mut c, "BLMOVE l d left RIGHT 0");
            h.run(&mut c, "BRPOPLPUSH l d 0");
            h.run(&mut c, "BLMPOP 0 2 nothing l RIGHT COUNT 10");
            h.run(&mut c, "LMPOP 1 d LEFT");
            h.run(&mut c, "LPOP d 0");
            h.run(&mut c, "LTRIM d 0 -1");
            assert_eq!(
                h.stream(),
                [
                    "SELECT 0",
                    "RPUSH l 1 2 3 4 5 6",
                    "LPOP l",
                    "RPOP l",
                    "LMOVE l d left RIGHT",
                    "RPOPLPUSH l d",
                    "RPOP l 2",
                    "LPOP d 1",
                ]
            );
        }

        #[test]
        fn served_clients_in_blocking_order_with_plain_propagation() {
            let mut h = Harness::new();
            let mut a = ClientState::new(1, String::new(), true);
            let mut b = ClientState::new(2, String::new(), true);
            let mut c = ClientState::new(3, String::new(), true);
            let mut rx_a = h.run(&mut a, "BLPOP q 0").1.expect("a blocks");
            let mut rx_b = h
                .run(&mut b, "BLMOVE q d LEFT RIGHT 0")
                .1
                .expect("b blocks");
            assert!(h.state.blocked.is_blocked(1) && h.state.blocked.is_blocked(2));
            h.run(&mut c, "RPUSH q x y z");
            assert_eq!(served(&mut rx_a), Some(bulks(&["q", "x"])));
            assert_eq!(served(&mut rx_b), Some(Frame::Bulk(b"y".to_vec())));
            assert!(h.state.blocked.is_empty());
            assert_eq!(h.run(&mut c, "LRANGE q 0 -1").0, bulks(&["z"]));
            assert_eq!(
                h.stream(),
                [
                    "SELECT 0",
                    "RPUSH q x y z",
                    "LPOP q",
                    "LMOVE q d LEFT RIGHT"
                ]
            );
        }

        #[test]
        fn woken_client_takes_from_the_key_that_woke_it() {
            let mut h = Harness::new();
            let mut a = ClientState::new(1, String::new(), true);
            let mut c = ClientState::new(3, String::new(), true);
            let mut rx = h
                .run(&mut a, "BLMPOP 0 2 a b LEFT COUNT 5")
                .1
                .expect("blocks");
            h.run(&mut c, "MULTI");
            h.run(&mut c, "RPUSH b 1 2");
            h.run(&mut c, "RPUSH a 3");
            h.run(&mut c, "EXEC");
            let expected = Frame::Array(vec![Frame::Bulk(b"b".to_vec()), bulks(&["1", "2"])]);
            assert_eq!(served(&mut rx), Some(expected));
            assert_eq!(h.run(&mut c, "LLEN a").0, Frame::Integer(1));
            assert_eq!(h.run(&mut c, "LLEN b").0, Frame::Integer(0));
        }

        #[test]
        fn a_blocking_command_counts_once_in_command_stats() {
            let mut h = Harness::new();
            let mut a = ClientState::new(1, String::new(), true);
            let mut c = ClientState::new(2, String::new(), true);
            let mut rx = h.run(&mut a, "BLPOP k 0").1.expect("blocks");
            h.run(&mut c, "RPUSH k v");
            assert!(served(&mut rx).is_some());
            h.run(&mut c, "RPUSH k v");
            h.run(&mut a, "BLPOP k 0");
            let calls = h.state.command_stats.get("blpop").map(|s| s.calls);
            assert_eq!(calls, Some(2));
            assert_eq!(h.state.stats.total_commands_processed, 4);
        }

        #[test]
        fn blocked_inside_multi_replies_null_at_once() {
            let mut h = Harness::new();
            let mut c = ClientState::new(1, String::new(), true);
            h.run(&mut c, "MULTI");
            h.run(&mut c, "BLPOP k 0");
            h.run(&mut c, "BLMOVE k d LEFT LEFT 0");
            h.run(&mut c, "BLMPOP 0 1 k LEFT");
            let (reply, waiting) = h.run(&mut c, "EXEC");
            assert!(waiting.is_none());
            assert_eq!(
                reply,
                Frame::Array(vec![Frame::NullArray, Frame::Null, Frame::NullArray])
            );
            assert!(h.state.blocked.is_empty());
        }
    }
}
