//! String commands: GET/SET and their variants, counters, ranges, and (in
//! submodules) bitmaps, BITFIELD and LCS.
//!
//! Values are `Value::Str(CompactBytes)`. Redis reports an in-place edited
//! string (APPEND, SETRANGE, SETBIT, ...) as encoding "raw"; those handlers
//! set `Entry.raw` so OBJECT ENCODING agrees.

mod bitfield;
mod bits;
mod lcs;
#[cfg(test)]
mod propagation_tests;

use bytes::Bytes;

use super::args::{eq_ic, int};
use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec};
use crate::command;
use crate::db::{CompactBytes, Db, Entry, Value};
use crate::resp::Reply;
use crate::server::context::Ctx;
use crate::util::number::{self, LongDoubleSum};

#[rustfmt::skip]
pub static COMMANDS: &[CommandSpec] = &[
    command!("get", 2, READONLY | FAST, (1, 1, 1), "string", "1.0.0", "Get the value of a key", get),
    command!("set", -3, WRITE | DENYOOM, (1, 1, 1), "string", "1.0.0", "Set the string value of a key", set),
    command!("setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "1.0.0", "Set the value of a key, only if the key does not exist", setnx),
    command!("setex", 4, WRITE | DENYOOM, (1, 1, 1), "string", "2.0.0", "Set the value and expiration of a key", setex),
    command!("psetex", 4, WRITE | DENYOOM, (1, 1, 1), "string", "2.6.0", "Set the value and expiration in milliseconds of a key", psetex),
    command!("getset", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "1.0.0", "Set the string value of a key and return its old value", getset),
    command!("getdel", 2, WRITE | FAST, (1, 1, 1), "string", "6.2.0", "Get the value of a key and delete the key", getdel),
    command!("getex", -2, WRITE | FAST, (1, 1, 1), "string", "6.2.0", "Get the value of a key and optionally set its expiration", getex),
    command!("mget", -2, READONLY | FAST, (1, -1, 1), "string", "1.0.0", "Get the values of all the given keys", mget),
    command!("mset", -3, WRITE | DENYOOM, (1, -1, 2), "string", "1.0.1", "Set multiple keys to multiple values", mset),
    command!("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), "string", "1.0.1", "Set multiple keys to multiple values, only if none of the keys exist", msetnx),
    command!("append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "2.0.0", "Append a value to a key", append),
    command!("strlen", 2, READONLY | FAST, (1, 1, 1), "string", "2.2.0", "Get the length of the value stored in a key", strlen),
    command!("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "1.0.0", "Increment the integer value of a key by one", incr),
    command!("decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "1.0.0", "Decrement the integer value of a key by one", decr),
    command!("incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "1.0.0", "Increment the integer value of a key by the given amount", incrby),
    command!("decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "1.0.0", "Decrement the integer value of a key by the given number", decrby),
    command!("incrbyfloat", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "2.6.0", "Increment the float value of a key by the given amount", incrbyfloat),
    command!("getrange", 4, READONLY, (1, 1, 1), "string", "2.4.0", "Get a substring of the string stored at a key", getrange),
    command!("substr", 4, READONLY, (1, 1, 1), "string", "1.0.0", "Get a substring of the string stored at a key", getrange),
    command!("setrange", 4, WRITE | DENYOOM, (1, 1, 1), "string", "2.2.0", "Overwrite part of a string at key starting at the specified offset", setrange),
    command!("lcs", -3, READONLY, (1, 2, 1), "string", "7.0.0", "Find longest common substring", lcs::lcs),
    command!("setbit", 4, WRITE | DENYOOM, (1, 1, 1), "bitmap", "2.2.0", "Sets or clears the bit at offset in the string value stored at key", bits::setbit),
    command!("getbit", 3, READONLY | FAST, (1, 1, 1), "bitmap", "2.2.0", "Returns the bit value at offset in the string value stored at key", bits::getbit),
    command!("bitcount", -2, READONLY, (1, 1, 1), "bitmap", "2.6.0", "Count set bits in a string", bits::bitcount),
    command!("bitpos", -3, READONLY, (1, 1, 1), "bitmap", "2.8.7", "Find first bit set or clear in a string", bits::bitpos),
    command!("bitop", -4, WRITE | DENYOOM, (2, -1, 1), "bitmap", "2.6.0", "Perform bitwise operations between strings", bits::bitop),
    command!("bitfield", -2, WRITE | DENYOOM, (1, 1, 1), "bitmap", "3.2.0", "Perform arbitrary bitfield integer operations on strings", bitfield::bitfield),
    command!("bitfield_ro", -2, READONLY | FAST, (1, 1, 1), "bitmap", "6.0.0", "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD", bitfield::bitfield_ro),
];

// ---- Shared helpers ---------------------------------------------------------

/// The selected database and the reply buffer, borrowed together so a
/// handler can reply with bytes that live in the keyspace without copying.
fn db_and_reply<'c>(ctx: &'c mut Ctx) -> (&'c mut Db, &'c mut Reply) {
    let i = ctx.client.db;
    (&mut ctx.state.dbs[i], &mut *ctx.reply)
}

/// Looks a key up for reading (Redis's lookupKeyRead: counts hits/misses):
/// `None` when missing, WRONGTYPE when it holds another type.
fn read_string<'d>(db: &'d mut Db, key: &[u8]) -> Result<Option<&'d CompactBytes>, CmdError> {
    match db.get(key) {
        None => Ok(None),
        Some(Entry {
            value: Value::Str(s),
            ..
        }) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// A string value borrowed for editing in place, with its "raw" flag.
struct StrSlot<'e> {
    bytes: &'e mut CompactBytes,
    raw: &'e mut bool,
}

impl StrSlot<'_> {
    /// Edits the bytes as a Vec. Heap-stored values move in and out of the
    /// Vec without copying, so same-length edits (SETBIT) cost no allocation.
    /// The result is marked "raw", as Redis unshares the object to edit it.
    fn edit<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let mut v = match std::mem::take(self.bytes) {
            CompactBytes::Heap(b) => b.into_vec(),
            inline => inline.to_vec(),
        };
        let out = f(&mut v);
        *self.bytes = CompactBytes::from_vec(v);
        *self.raw = true;
        out
    }
}

/// Looks a key up for writing (lookupKeyWrite): `None` when missing,
/// WRONGTYPE when it holds another type.
fn write_string<'d>(db: &'d mut Db, key: &[u8]) -> Result<Option<StrSlot<'d>>, CmdError> {
    match db.get_mut(key) {
        None => Ok(None),
        Some(Entry {
            value: Value::Str(s),
            raw,
            ..
        }) => Ok(Some(StrSlot { bytes: s, raw })),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// A new string entry that OBJECT ENCODING reports as "raw" (strings Redis
/// builds itself rather than from an argument: SETRANGE, SETBIT, BITOP...).
fn raw_entry(bytes: Vec<u8>) -> Entry {
    let mut e = Entry::new(Value::Str(CompactBytes::from_vec(bytes)));
    e.raw = true;
    e
}

/// The longest string a command may build (proto-max-bulk-len), or None
/// for our master's stream, which Redis applies without the check.
fn string_limit(ctx: &Ctx) -> Option<u64> {
    (!ctx.client.is_master_link).then_some(ctx.state.config.settings.proto_max_bulk_len)
}

/// Redis's checkStringLength: growing a string to `size + append` bytes
/// must stay within the limit.
fn check_string_length(limit: Option<u64>, size: u64, append: u64) -> CmdResult {
    let Some(limit) = limit else {
        return Ok(());
    };
    match size.checked_add(append) {
        Some(total) if total <= limit => Ok(()),
        _ => Err(CmdError::msg(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        )),
    }
}

fn bytes_arg(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

// ---- SET family -------------------------------------------------------------

/// How an expire argument is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExpireUnit {
    /// EX: relative seconds.
    Ex,
    /// PX: relative milliseconds.
    Px,
    /// EXAT: absolute Unix seconds.
    ExAt,
    /// PXAT: absolute Unix milliseconds.
    PxAt,
}

impl ExpireUnit {
    fn in_seconds(self) -> bool {
        matches!(self, ExpireUnit::Ex | ExpireUnit::ExAt)
    }

    fn relative(self) -> bool {
        matches!(self, ExpireUnit::Ex | ExpireUnit::Px)
    }
}

/// Options of SET and GETEX (Redis's parseExtendedStringArgumentsOrReply).
#[derive(Debug, Default)]
struct StringOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<(ExpireUnit, &'a [u8])>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OptionsFor {
    Set,
    GetEx,
}

/// Parses SET / GETEX options from `args[from..]`. Conflicting options are a
/// syntax error; a repeated option is accepted and the last value wins, as
/// in Redis.
fn parse_string_options(
    args: &[Bytes],
    from: usize,
    cmd: OptionsFor,
) -> Result<StringOptions<'_>, CmdError> {
    let mut o = StringOptions::default();
    let is_set = cmd == OptionsFor::Set;
    let mut j = from;
    while j < args.len() {
        let opt = &args[j][..];
        let next = args.get(j + 1).map(|b| &b[..]);
        let expire_unit = if eq_ic(opt, "ex") {
            Some(ExpireUnit::Ex)
        } else if eq_ic(opt, "px") {
            Some(ExpireUnit::Px)
        } else if eq_ic(opt, "exat") {
            Some(ExpireUnit::ExAt)
        } else if eq_ic(opt, "pxat") {
            Some(ExpireUnit::PxAt)
        } else {
            None
        };
        if eq_ic(opt, "nx") && is_set && !o.xx {
            o.nx = true;
        } else if eq_ic(opt, "xx") && is_set && !o.nx {
            o.xx = true;
        } else if eq_ic(opt, "get") && is_set {
            o.get = true;
        } else if eq_ic(opt, "keepttl") && is_set && o.expire.is_none() {
            o.keep_ttl = true;
        } else if eq_ic(opt, "persist") && !is_set && o.expire.is_none() {
            o.persist = true;
        } else if let (Some(unit), Some(value)) = (expire_unit, next) {
            // Only the same expire option may repeat; mixing them, or
            // mixing with KEEPTTL / PERSIST, is a syntax error.
            if o.keep_ttl || o.persist || o.expire.is_some_and(|(u, _)| u != unit) {
                return Err(CmdError::Syntax);
            }
            o.expire = Some((unit, value));
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// Converts an expire argument to an absolute Unix time in milliseconds
/// (Redis's getExpireMillisecondsOrReply), with its error texts.
fn expire_at_ms(arg: &[u8], unit: ExpireUnit, now_ms: i64, cmd: &str) -> Result<i64, CmdError> {
    let invalid = || CmdError::msg(format!("ERR invalid expire time in '{cmd}' command"));
    let mut ms = int(arg)?;
    if ms <= 0 || (unit.in_seconds() && ms > i64::MAX / 1000) {
        return Err(invalid());
    }
    if unit.in_seconds() {
        ms *= 1000;
    }
    if unit.relative() {
        ms = ms.checked_add(now_ms).ok_or_else(invalid)?;
    }
    if ms <= 0 {
        return Err(invalid());
    }
    Ok(ms)
}

/// Replies for the NX/XX outcome of a SET-like command.
#[derive(Clone, Copy)]
enum SetReplies {
    /// SET: +OK, or a null when NX/XX prevented the write.
    OkOrNull,
    /// SETNX: 1 or 0.
    OneOrZero,
}

/// The core of SET, SETNX, SETEX and PSETEX (setGenericCommand).
fn set_generic(
    ctx: &mut Ctx,
    opts: &StringOptions,
    key: &Bytes,
    value: &Bytes,
    replies: SetReplies,
) -> CmdResult {
    let now = ctx.db().now_ms;
    let expire_at = match opts.expire {
        Some((unit, arg)) => Some(expire_at_ms(arg, unit, now, ctx.spec.name)?),
        None => None,
    };
    if opts.get {
        let (db, reply) = db_and_reply(ctx);
        match read_string(db, key)? {
            Some(old) => reply.bulk(old),
            None => reply.null(),
        }
    }
    let found = ctx.db().get_mut(key).is_some();
    if (opts.nx && found) || (opts.xx && !found) {
        if !opts.get {
            match replies {
                SetReplies::OkOrNull => ctx.reply.null(),
                SetReplies::OneOrZero => ctx.reply.int(0),
            }
        }
        return Ok(());
    }
    let db = ctx.db();
    let new_value = Value::Str(CompactBytes::new(value));
    if opts.keep_ttl {
        db.set_keep_ttl(key, new_value);
    } else {
        db.set(key, new_value);
    }
    ctx.dirty(1);
    if let Some(at) = expire_at {
        ctx.db().set_expire(key, at);
        // Replicas and the AOF get an absolute time, so replaying later
        // does not extend the key's life.
        ctx.propagate_as(vec![
            Ctx::word("SET"),
            key.clone(),
            value.clone(),
            Ctx::word("PXAT"),
            Bytes::from(at.to_string()),
        ]);
    } else if opts.get {
        // GET only shapes the reply; it is dropped from what is propagated.
        let argv = ctx
            .args
            .iter()
            .enumerate()
            .filter(|(i, a)| *i < 3 || !eq_ic(a, "get"))
            .map(|(_, a)| a.clone())
            .collect();
        ctx.propagate_as(argv);
    }
    if !opts.get {
        match replies {
            SetReplies::OkOrNull => ctx.reply.ok(),
            SetReplies::OneOrZero => ctx.reply.int(1),
        }
    }
    Ok(())
}

fn get(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let (db, reply) = db_and_reply(ctx);
    match read_string(db, &args[1])? {
        Some(v) => reply.bulk(v),
        None => reply.null(),
    }
    Ok(())
}

fn set(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let opts = parse_string_options(args, 3, OptionsFor::Set)?;
    set_generic(ctx, &opts, &args[1], &args[2], SetReplies::OkOrNull)
}

fn setnx(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let opts = StringOptions {
        nx: true,
        ..Default::default()
    };
    set_generic(ctx, &opts, &args[1], &args[2], SetReplies::OneOrZero)
}

fn setex(ctx: &mut Ctx) -> CmdResult {
    set_with_expire(ctx, ExpireUnit::Ex)
}

fn psetex(ctx: &mut Ctx) -> CmdResult {
    set_with_expire(ctx, ExpireUnit::Px)
}

/// SETEX / PSETEX key ttl value.
fn set_with_expire(ctx: &mut Ctx, unit: ExpireUnit) -> CmdResult {
    let args = ctx.args;
    let opts = StringOptions {
        expire: Some((unit, &args[2])),
        ..Default::default()
    };
    set_generic(ctx, &opts, &args[1], &args[3], SetReplies::OkOrNull)
}

fn getset(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let (db, reply) = db_and_reply(ctx);
    match read_string(db, &args[1])? {
        Some(old) => reply.bulk(old),
        None => reply.null(),
    }
    ctx.db()
        .set(&args[1], Value::Str(CompactBytes::new(&args[2])));
    ctx.dirty(1);
    ctx.propagate_as(vec![Ctx::word("SET"), args[1].clone(), args[2].clone()]);
    Ok(())
}

fn getdel(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let (db, reply) = db_and_reply(ctx);
    match read_string(db, &args[1])? {
        Some(v) => reply.bulk(v),
        None => {
            reply.null();
            return Ok(());
        }
    }
    if ctx.db().delete(&args[1]) {
        ctx.dirty(1);
        ctx.propagate_as(vec![Ctx::word("DEL"), args[1].clone()]);
    }
    Ok(())
}

fn getex(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let opts = parse_string_options(args, 2, OptionsFor::GetEx)?;
    let now = ctx.db().now_ms;
    let (db, reply) = db_and_reply(ctx);
    let Some(value) = read_string(db, key)? else {
        reply.null();
        return Ok(());
    };
    // The TTL is validated after the type check, before replying.
    let expire_at = match opts.expire {
        Some((unit, arg)) => Some((unit, expire_at_ms(arg, unit, now, "getex")?)),
        None => None,
    };
    reply.bulk(value);
    getex_apply_ttl(ctx, key, expire_at, opts.persist);
    Ok(())
}

/// The TTL change of GETEX, propagated as DEL, PEXPIREAT or PERSIST (GETEX
/// itself is never propagated).
fn getex_apply_ttl(ctx: &mut Ctx, key: &[u8], expire_at: Option<(ExpireUnit, i64)>, persist: bool) {
    let now = ctx.db().now_ms;
    match expire_at {
        Some((unit, at))
            if !unit.relative() && at <= now && !ctx.state.loading && !ctx.state.is_replica() =>
        {
            // An absolute time already in the past deletes the key now.
            ctx.db().delete(key);
            ctx.dirty(1);
            ctx.propagate_as(vec![Ctx::word("DEL"), bytes_arg(key)]);
        }
        Some((_, at)) => {
            ctx.db().set_expire(key, at);
            ctx.dirty(1);
            ctx.propagate_as(vec![
                Ctx::word("PEXPIREAT"),
                bytes_arg(key),
                Bytes::from(at.to_string()),
            ]);
        }
        None if persist && ctx.db().persist(key) => {
            ctx.dirty(1);
            ctx.propagate_as(vec![Ctx::word("PERSIST"), bytes_arg(key)]);
        }
        None => {}
    }
}

fn mget(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let (db, reply) = db_and_reply(ctx);
    reply.array_len(args.len() - 1);
    for key in &args[1..] {
        // Missing keys and keys of another type both read as null.
        match db.get(key) {
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => reply.bulk(s),
            _ => reply.null(),
        }
    }
    Ok(())
}

fn mset(ctx: &mut Ctx) -> CmdResult {
    mset_generic(ctx, false)
}

fn msetnx(ctx: &mut Ctx) -> CmdResult {
    mset_generic(ctx, true)
}

fn mset_generic(ctx: &mut Ctx, nx: bool) -> CmdResult {
    let args = ctx.args;
    if args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(ctx.spec.name.to_string()));
    }
    if nx
        && args[1..]
            .iter()
            .step_by(2)
            .any(|k| ctx.db().get_mut(k).is_some())
    {
        ctx.reply.int(0);
        return Ok(());
    }
    for pair in args[1..].chunks(2) {
        ctx.db()
            .set(&pair[0], Value::Str(CompactBytes::new(&pair[1])));
    }
    ctx.dirty((args.len() as u64 - 1) / 2);
    if nx {
        ctx.reply.int(1);
    } else {
        ctx.reply.ok();
    }
    Ok(())
}

fn append(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let (key, tail) = (&args[1][..], &args[2][..]);
    let limit = string_limit(ctx);
    let db = ctx.db();
    let total = match write_string(db, key)? {
        Some(mut slot) => {
            check_string_length(limit, slot.bytes.len() as u64, tail.len() as u64)?;
            slot.edit(|v| {
                v.extend_from_slice(tail);
                v.len()
            })
        }
        None => {
            // A new key holds the argument as given (normal encoding).
            db.set(key, Value::Str(CompactBytes::new(tail)));
            tail.len()
        }
    };
    ctx.dirty(1);
    ctx.reply.int(total as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let (db, reply) = db_and_reply(ctx);
    let len = read_string(db, &args[1])?.map_or(0, |s| s.len());
    reply.int(len as i64);
    Ok(())
}

// ---- Counters ---------------------------------------------------------------

fn incr(ctx: &mut Ctx) -> CmdResult {
    incr_by(ctx, 1)
}

fn decr(ctx: &mut Ctx) -> CmdResult {
    incr_by(ctx, -1)
}

fn incrby(ctx: &mut Ctx) -> CmdResult {
    let by = int(ctx.arg(2))?;
    incr_by(ctx, by)
}

fn decrby(ctx: &mut Ctx) -> CmdResult {
    let by = int(ctx.arg(2))?;
    let negated = by
        .checked_neg()
        .ok_or_else(|| CmdError::msg("ERR decrement would overflow"))?;
    incr_by(ctx, negated)
}

/// Adds `by` to the integer at the key (0 when missing), keeping its TTL.
fn incr_by(ctx: &mut Ctx, by: i64) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let overflow = || CmdError::msg("ERR increment or decrement would overflow");
    let db = ctx.db();
    // One lookup: the counter is rewritten in place, which keeps its TTL.
    let new = match write_string(db, key)? {
        Some(slot) => {
            let current = number::parse_i64(slot.bytes).ok_or(CmdError::NotInteger)?;
            let new = current.checked_add(by).ok_or_else(overflow)?;
            *slot.bytes = CompactBytes::new(itoa::Buffer::new().format(new).as_bytes());
            *slot.raw = false;
            new
        }
        None => {
            db.set(
                key,
                Value::Str(CompactBytes::new(itoa::Buffer::new().format(by).as_bytes())),
            );
            by
        }
    };
    ctx.dirty(1);
    ctx.reply.int(new);
    Ok(())
}

/// Replaces a string's value but keeps its TTL (Redis's dbReplaceValue),
/// or creates the key. The new value gets the normal encoding.
fn store_keeping_ttl(db: &mut Db, key: &[u8], value: Vec<u8>) {
    let value = CompactBytes::from_vec(value);
    match db.get_mut(key) {
        Some(entry) => {
            entry.value = Value::Str(value);
            entry.raw = false;
        }
        None => db.set(key, Value::Str(value)),
    }
}

fn incrbyfloat(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let current = write_string(ctx.db(), key)?.map(|slot| slot.bytes.clone());
    let sum = match number::add_long_double(current.as_deref(), &args[2]) {
        LongDoubleSum::Ok(v) => v,
        LongDoubleSum::NotAFloat => return Err(CmdError::NotFloat),
        LongDoubleSum::NanOrInfinity => {
            return Err(CmdError::msg("ERR increment would produce NaN or Infinity"))
        }
    };
    store_keeping_ttl(ctx.db(), key, sum.clone());
    ctx.dirty(1);
    ctx.reply.bulk(&sum);
    // Replicas get the result, not the float arithmetic, so they cannot
    // drift from the master.
    ctx.propagate_as(vec![
        Ctx::word("SET"),
        args[1].clone(),
        Bytes::from(sum),
        Ctx::word("KEEPTTL"),
    ]);
    Ok(())
}

// ---- Ranges -----------------------------------------------------------------

/// Resolves a GETRANGE-style inclusive range (negative = from the end)
/// against a length; None when it selects nothing.
fn resolve_range(mut start: i64, mut end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    if start < 0 && end < 0 && start > end {
        return None;
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return None;
    }
    Some((start as usize, end as usize))
}

fn getrange(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let start = int(&args[2])?;
    let end = int(&args[3])?;
    let (db, reply) = db_and_reply(ctx);
    let value = read_string(db, &args[1])?;
    match value.and_then(|v| resolve_range(start, end, v.len()).map(|(s, e)| &v[s..=e])) {
        Some(part) => reply.bulk(part),
        None => reply.bulk(b""),
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let (key, patch) = (&args[1][..], &args[3][..]);
    let offset = int(&args[2])?;
    if offset < 0 {
        return Err(CmdError::msg("ERR offset is out of range"));
    }
    let limit = string_limit(ctx);
    let (db, reply) = db_and_reply(ctx);
    let write_at = |v: &mut Vec<u8>| {
        let offset = offset as usize;
        let end = offset + patch.len();
        if v.len() < end {
            v.resize(end, 0);
        }
        v[offset..end].copy_from_slice(patch);
        v.len()
    };
    let new_len = match write_string(db, key)? {
        // Writing nothing changes nothing (and creates no key).
        Some(slot) if patch.is_empty() => {
            reply.int(slot.bytes.len() as i64);
            return Ok(());
        }
        None if patch.is_empty() => {
            reply.int(0);
            return Ok(());
        }
        Some(mut slot) => {
            check_string_length(limit, offset as u64, patch.len() as u64)?;
            slot.edit(write_at)
        }
        None => {
            check_string_length(limit, offset as u64, patch.len() as u64)?;
            let mut v = Vec::new();
            let len = write_at(&mut v);
            db.set_entry(key, raw_entry(v));
            len
        }
    };
    ctx.dirty(1);
    ctx.reply.int(new_len as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn ranges_follow_getrange() {
        assert_eq!(resolve_range(0, -1, 5), Some((0, 4)));
        assert_eq!(resolve_range(-3, -1, 5), Some((2, 4)));
        assert_eq!(resolve_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(resolve_range(3, 1, 5), None);
        assert_eq!(resolve_range(-1, -5, 5), None);
        assert_eq!(resolve_range(-20, -10, 5), Some((0, 0)));
        assert_eq!(resolve_range(-10, -20, 5), None);
        assert_eq!(resolve_range(0, 0, 0), None);
        assert_eq!(resolve_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
    }

    #[test]
    fn set_options_conflicts() {
        let args: Vec<Bytes> = ["set", "k", "v", "EX", "10", "ex", "20", "nx", "NX", "get"]
            .iter()
            .map(|s| b(s))
            .collect();
        let o = parse_string_options(&args, 3, OptionsFor::Set).unwrap_or_default();
        assert!(o.nx && o.get);
        assert_eq!(o.expire, Some((ExpireUnit::Ex, &b"20"[..])));
        for bad in [
            &["set", "k", "v", "nx", "xx"][..],
            &["set", "k", "v", "ex", "1", "px", "1"],
            &["set", "k", "v", "keepttl", "ex", "1"],
            &["set", "k", "v", "ex", "1", "keepttl"],
            &["set", "k", "v", "ex"],
            &["set", "k", "v", "persist"],
        ] {
            let args: Vec<Bytes> = bad.iter().map(|s| b(s)).collect();
            assert_eq!(
                parse_string_options(&args, 3, OptionsFor::Set).err(),
                Some(CmdError::Syntax),
                "{bad:?}"
            );
        }
        for bad in [
            &["getex", "k", "ex", "1", "persist"][..],
            &["getex", "k", "get"],
            &["getex", "k", "keepttl"],
        ] {
            let args: Vec<Bytes> = bad.iter().map(|s| b(s)).collect();
            assert_eq!(
                parse_string_options(&args, 2, OptionsFor::GetEx).err(),
                Some(CmdError::Syntax),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn expire_times() {
        let now = 1_000_000;
        assert_eq!(
            expire_at_ms(b"10", ExpireUnit::Ex, now, "set").ok(),
            Some(1_010_000)
        );
        assert_eq!(
            expire_at_ms(b"10", ExpireUnit::PxAt, now, "set").ok(),
            Some(10)
        );
        assert_eq!(
            expire_at_ms(b"10", ExpireUnit::ExAt, now, "set").ok(),
            Some(10_000)
        );
        let invalid = Some(CmdError::msg("ERR invalid expire time in 'set' command"));
        assert_eq!(
            expire_at_ms(b"0", ExpireUnit::Ex, now, "set").err(),
            invalid
        );
        assert_eq!(
            expire_at_ms(b"-1", ExpireUnit::Px, now, "set").err(),
            invalid
        );
        assert_eq!(
            expire_at_ms(b"9223372036854775", ExpireUnit::Ex, now, "set").err(),
            invalid
        );
        assert_eq!(
            expire_at_ms(b"9223372036854775807", ExpireUnit::Px, now, "set").err(),
            invalid
        );
        assert!(expire_at_ms(b"9223372036854775", ExpireUnit::ExAt, now, "set").is_ok());
        assert_eq!(
            expire_at_ms(b"x", ExpireUnit::Ex, now, "set").err(),
            Some(CmdError::NotInteger)
        );
    }
}
