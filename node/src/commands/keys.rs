//! Generic key commands: DEL, UNLINK, EXISTS, TYPE, TOUCH, KEYS, SCAN,
//! RANDOMKEY, RENAME, RENAMENX, MOVE, COPY. The expiry commands live in
//! `keys/expire.rs`, OBJECT in `keys/object.rs` and SORT in `keys/sort.rs`.

mod dump;
pub use dump::write_options;
pub(crate) use object::lfu_decayed_counter;
mod expire;
mod object;
mod sort;

#[cfg(test)]
mod tests;

use bytes::Bytes;

use super::args::{eq_ic, reply_scan, scan_cursor, scan_options};
use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec, SubcommandSpec};
use crate::command;
use crate::db::{Db, Entry};
use crate::glob::glob_match;
use crate::server::context::Ctx;
use crate::util::number;

pub static COMMANDS: &[CommandSpec] = &[
    command!("del", -2, WRITE, (1, -1, 1), "generic", "1.0.0", "Delete a key", del),
    command!("unlink", -2, WRITE | FAST, (1, -1, 1), "generic", "4.0.0", "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", del),
    command!("exists", -2, READONLY | FAST, (1, -1, 1), "generic", "1.0.0", "Determine if a key exists", exists),
    command!("type", 2, READONLY | FAST, (1, 1, 1), "generic", "1.0.0", "Determine the type stored at key", type_cmd),
    command!("touch", -2, READONLY | FAST, (1, -1, 1), "generic", "3.2.1", "Alters the last access time of a key(s). Returns the number of existing keys specified.", touch),
    command!("expire", -3, WRITE | FAST, (1, 1, 1), "generic", "1.0.0", "Set a key's time to live in seconds", expire::expire),
    command!("pexpire", -3, WRITE | FAST, (1, 1, 1), "generic", "2.6.0", "Set a key's time to live in milliseconds", expire::pexpire),
    command!("expireat", -3, WRITE | FAST, (1, 1, 1), "generic", "1.2.0", "Set the expiration for a key as a UNIX timestamp", expire::expireat),
    command!("pexpireat", -3, WRITE | FAST, (1, 1, 1), "generic", "2.6.0", "Set the expiration for a key as a UNIX timestamp specified in milliseconds", expire::pexpireat),
    command!("ttl", 2, READONLY | FAST, (1, 1, 1), "generic", "1.0.0", "Get the time to live for a key in seconds", expire::ttl),
    command!("pttl", 2, READONLY | FAST, (1, 1, 1), "generic", "2.6.0", "Get the time to live for a key in milliseconds", expire::pttl),
    command!("expiretime", 2, READONLY | FAST, (1, 1, 1), "generic", "7.0.0", "Get the expiration Unix timestamp for a key", expire::expiretime),
    command!("pexpiretime", 2, READONLY | FAST, (1, 1, 1), "generic", "7.0.0", "Get the expiration Unix timestamp for a key in milliseconds", expire::pexpiretime),
    command!("persist", 2, WRITE | FAST, (1, 1, 1), "generic", "2.2.0", "Remove the expiration from a key", expire::persist),
    command!("keys", 2, READONLY, (0, 0, 0), "generic", "1.0.0", "Find all keys matching the given pattern", keys),
    command!("scan", -2, READONLY, (0, 0, 0), "generic", "2.8.0", "Incrementally iterate the keys space", scan),
    command!("randomkey", 1, READONLY, (0, 0, 0), "generic", "1.0.0", "Return a random key from the keyspace", randomkey),
    command!("rename", 3, WRITE, (1, 2, 1), "generic", "1.0.0", "Rename a key", rename),
    command!("renamenx", 3, WRITE | FAST, (1, 2, 1), "generic", "1.0.0", "Rename a key, only if the new key does not exist", renamenx),
    command!("move", 3, WRITE | FAST, (1, 1, 1), "generic", "1.0.0", "Move a key to another database", move_cmd),
    command!("copy", -3, WRITE | DENYOOM, (1, 2, 1), "generic", "6.2.0", "Copy a key", copy),
    CommandSpec {
        subcommands: OBJECT_SUBCOMMANDS,
        ..command!("object", -2, 0, (0, 0, 0), "generic", "2.2.3", "A container for object introspection commands", object::object)
    },
    command!("dump", 2, READONLY, (1, 1, 1), "generic", "2.6.0", "Return a serialized version of the value stored at the specified key.", dump::dump),
    command!("restore", -4, WRITE | DENYOOM, (1, 1, 1), "generic", "2.6.0", "Create a key using the provided serialized value, previously obtained using DUMP.", dump::restore),
    command!("sort", -2, WRITE | DENYOOM, (1, 1, 1), "generic", "1.0.0", "Sort the elements in a list, set or sorted set", sort::sort),
    command!("sort_ro", -2, READONLY, (1, 1, 1), "generic", "7.0.0", "Sort the elements in a list, set or sorted set. Read-only variant of SORT.", sort::sort_ro),
];

static OBJECT_SUBCOMMANDS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Show helpful text about the different subcommands",
    },
    SubcommandSpec {
        name: "freq",
        arity: 3,
        flags: READONLY,
        summary: "Get the logarithmic access frequency counter of a Redis object",
    },
    SubcommandSpec {
        name: "encoding",
        arity: 3,
        flags: READONLY,
        summary: "Inspect the internal encoding of a Redis object",
    },
    SubcommandSpec {
        name: "idletime",
        arity: 3,
        flags: READONLY,
        summary: "Get the time since a Redis object was last accessed",
    },
    SubcommandSpec {
        name: "refcount",
        arity: 3,
        flags: READONLY,
        summary: "Get the number of references to the value of the key",
    },
];

/// Redis's shared "source and destination objects are the same" error.
const SAME_OBJECT: &str = "ERR source and destination objects are the same";

/// A read lookup that counts keyspace hits/misses but leaves the access
/// time alone (Redis's LOOKUP_NOTOUCH: EXISTS, TYPE, TTL, OBJECT).
pub(crate) fn lookup_no_touch<'d>(db: &'d mut Db, key: &[u8]) -> Option<&'d Entry> {
    if db.contains(key) {
        db.stats.keyspace_hits += 1;
        db.peek(key)
    } else {
        db.stats.keyspace_misses += 1;
        None
    }
}

/// DEL and UNLINK (this server frees values inline either way).
/// Only the keys actually deleted count as modified (WATCH).
fn del(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    ctx.signal_only_touched();
    let db_index = ctx.db_index();
    let mut deleted = 0;
    for key in &args[1..] {
        if ctx.db().delete(key) {
            deleted += 1;
            ctx.touch(db_index, key);
        }
    }
    ctx.dirty(deleted);
    ctx.reply.int(deleted as i64);
    Ok(())
}

/// Counts every argument that names a live key (repeats count again).
fn exists(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let db = ctx.db();
    let found = args[1..]
        .iter()
        .filter(|k| lookup_no_touch(db, k).is_some())
        .count();
    ctx.reply.int(found as i64);
    Ok(())
}

fn type_cmd(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let name = lookup_no_touch(ctx.db(), &args[1]).map_or("none", |e| e.value.value_type().name());
    ctx.reply.simple(name);
    Ok(())
}

/// Reads each key (updating its access time) and counts the existing ones.
fn touch(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let db = ctx.db();
    let found = args[1..].iter().filter(|k| db.get(k).is_some()).count();
    ctx.reply.int(found as i64);
    Ok(())
}

/// KEYS: every live key matching the glob pattern. Keys whose TTL passed
/// are skipped but not deleted, as Redis does.
fn keys(ctx: &mut Ctx) -> CmdResult {
    let pattern = ctx.args[1].clone();
    let match_all = pattern.as_ref() == b"*";
    let db = ctx.db();
    let found: Vec<Bytes> = db
        .iter_live()
        .filter(|(k, _)| match_all || glob_match(&pattern, k, false))
        .map(|(k, _)| Bytes::copy_from_slice(k))
        .collect();
    ctx.reply.array_len(found.len());
    for k in &found {
        ctx.reply.bulk(k);
    }
    Ok(())
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
fn scan(ctx: &mut Ctx) -> CmdResult {
    let cursor = scan_cursor(ctx.arg(1))?;
    let opts = scan_options(ctx.args, 2, true)?;
    let mut found: Vec<Vec<u8>> = Vec::new();
    let db = ctx.db();
    let next = db.scan(cursor, opts.count, |key, entry| {
        if !opts.matches(key) {
            return;
        }
        // An unknown type name filters out everything, as in Redis 7.0.
        if let Some(t) = &opts.type_filter {
            if !t.eq_ignore_ascii_case(entry.value.value_type().name().as_bytes()) {
                return;
            }
        }
        found.push(key.to_vec());
    });
    let items: Vec<&[u8]> = found.iter().map(|k| k.as_slice()).collect();
    reply_scan(ctx.reply, next, &items);
    Ok(())
}

fn randomkey(ctx: &mut Ctx) -> CmdResult {
    match ctx.db().random_key() {
        Some(k) => ctx.reply.bulk(&k),
        None => ctx.reply.null(),
    }
    Ok(())
}

fn rename(ctx: &mut Ctx) -> CmdResult {
    rename_generic(ctx, false)
}

fn renamenx(ctx: &mut Ctx) -> CmdResult {
    rename_generic(ctx, true)
}

/// RENAME / RENAMENX: the value moves with its TTL; an existing destination
/// is overwritten (RENAME) or left alone with reply 0 (RENAMENX).
fn rename_generic(ctx: &mut Ctx, nx: bool) -> CmdResult {
    let args = ctx.args;
    let (src, dst) = (&args[1][..], &args[2][..]);
    let db = ctx.db();
    if db.get_mut(src).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        reply_rename(ctx, nx, false);
        return Ok(());
    }
    if db.get_mut(dst).is_some() {
        if nx {
            reply_rename(ctx, nx, false);
            return Ok(());
        }
        db.remove(dst);
    }
    let Some(entry) = db.remove(src) else {
        return Err(CmdError::NoSuchKey);
    };
    db.set_entry(dst, entry);
    ctx.dirty(1);
    reply_rename(ctx, nx, true);
    Ok(())
}

/// RENAME answers OK either way; RENAMENX says whether it renamed.
fn reply_rename(ctx: &mut Ctx, nx: bool, renamed: bool) {
    if nx {
        ctx.reply.int(renamed as i64);
    } else {
        ctx.reply.ok();
    }
}

/// A database index argument as Redis's getIntFromObjectOrReply reads it,
/// checked against the configured number of databases.
fn db_index_arg(ctx: &Ctx, arg: &[u8]) -> Result<usize, CmdError> {
    let n = number::parse_i64(arg).ok_or(CmdError::NotInteger)?;
    if n < i32::MIN as i64 || n > i32::MAX as i64 {
        return Err(CmdError::msg(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    if n < 0 || n as usize >= ctx.state.dbs.len() {
        return Err(CmdError::msg("ERR DB index is out of range"));
    }
    Ok(n as usize)
}

/// MOVE key db: moves a key (with its TTL) unless the target has it.
fn move_cmd(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let key = &args[1][..];
    let src = ctx.db_index();
    let dst = db_index_arg(ctx, &args[2])?;
    if src == dst {
        return Err(CmdError::msg(SAME_OBJECT));
    }
    if ctx.state.dbs[src].get_mut(key).is_none() || ctx.state.dbs[dst].get_mut(key).is_some() {
        ctx.reply.int(0);
        return Ok(());
    }
    let Some(entry) = ctx.state.dbs[src].remove(key) else {
        ctx.reply.int(0);
        return Ok(());
    };
    ctx.state.dbs[dst].set_entry(key, entry);
    ctx.dirty(1);
    ctx.touch(dst, key);
    ctx.reply.int(1);
    Ok(())
}

/// COPY source destination [DB db] [REPLACE]: a deep copy of the value,
/// keeping its encoding and TTL.
fn copy(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let src_db = ctx.db_index();
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if eq_ic(&args[i], "replace") {
            replace = true;
        } else if eq_ic(&args[i], "db") && i + 1 < args.len() {
            dst_db = db_index_arg(ctx, &args[i + 1])?;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let (key, new_key) = (&args[1][..], &args[2][..]);
    if src_db == dst_db && key == new_key {
        return Err(CmdError::msg(SAME_OBJECT));
    }
    let Some(source) = ctx.state.dbs[src_db].get(key) else {
        ctx.reply.int(0);
        return Ok(());
    };
    let copied = Entry {
        value: source.value.clone(),
        expire_at: source.expire_at,
        lru: crate::db::lru_clock(),
        raw: source.raw,
    };
    let target = &mut ctx.state.dbs[dst_db];
    if target.get_mut(new_key).is_some() {
        if !replace {
            ctx.reply.int(0);
            return Ok(());
        }
        target.remove(new_key);
    }
    target.set_entry(new_key, copied);
    ctx.dirty(1);
    // The source is only read: only the destination counts as modified.
    ctx.signal_only_touched();
    ctx.touch(dst_db, new_key);
    ctx.reply.int(1);
    Ok(())
}
