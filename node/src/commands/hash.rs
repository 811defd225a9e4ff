//! Hash commands: HSET, HSETNX, HGET, HMGET, HMSET, HGETALL, HDEL, HEXISTS,
//! HLEN, HKEYS, HVALS, HINCRBY, HINCRBYFLOAT, HSTRLEN, HSCAN, HRANDFIELD.
//!
//! A hash is an insertion-ordered map. While it is small (Redis's listpack
//! encoding, `big == false`) deletions keep the order of the remaining
//! fields, because a listpack does, and replies list fields in insertion
//! order exactly as Redis does. Once `big` (hashtable encoding) the order is
//! unspecified in Redis, so deletions use the O(1) `swap_remove`.

use bytes::Bytes;
use rand::Rng;

use super::args::{self, eq_ic, scan_cursor};
use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec};
use crate::command;
use crate::db::{CompactBytes, Db, EncodingLimits, HashValue, Value};
use crate::resp::Reply;
use crate::server::context::Ctx;
use crate::util::number::{self, LongDoubleSum};

pub static COMMANDS: &[CommandSpec] = &[
    command!(
        "hset",
        -4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "Set the string value of a hash field",
        hset
    ),
    command!(
        "hsetnx",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "Set the value of a hash field, only if the field does not exist",
        hsetnx
    ),
    command!(
        "hget",
        3,
        READONLY | FAST,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "Get the value of a hash field",
        hget
    ),
    command!(
        "hmget",
        -3,
        READONLY | FAST,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "Get the values of all the given hash fields",
        hmget
    ),
    command!(
        "hmset",
        -4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "Set multiple hash fields to multiple values",
        hmset
    ),
    command!(
        "hgetall",
        2,
        READONLY,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "Get all the fields and values in a hash",
        hgetall
    ),
    command!(
        "hdel",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "Delete one or more hash fields",
        hdel
    ),
    command!(
        "hexists",
        3,
        READONLY | FAST,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "Determine if a hash field exists",
        hexists
    ),
    command!(
        "hlen",
        2,
        READONLY | FAST,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "Get the number of fields in a hash",
        hlen
    ),
    command!(
        "hkeys",
        2,
        READONLY,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "Get all the fields in a hash",
        hkeys
    ),
    command!(
        "hvals",
        2,
        READONLY,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "Get all the values in a hash",
        hvals
    ),
    command!(
        "hincrby",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "Increment the integer value of a hash field by the given number",
        hincrby
    ),
    command!(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        "hash",
        "2.6.0",
        "Increment the float value of a hash field by the given amount",
        hincrbyfloat
    ),
    command!(
        "hstrlen",
        3,
        READONLY | FAST,
        (1, 1, 1),
        "hash",
        "3.2.0",
        "Get the length of the value of a hash field",
        hstrlen
    ),
    command!(
        "hscan",
        -3,
        READONLY,
        (1, 1, 1),
        "hash",
        "2.8.0",
        "Incrementally iterate hash fields and associated values",
        hscan
    ),
    command!(
        "hrandfield",
        -2,
        READONLY,
        (1, 1, 1),
        "hash",
        "6.2.0",
        "Get one or multiple random fields from a hash",
        hrandfield
    ),
];

// ---------------------------------------------------------------------------
// Helpers shared with the set family.

/// The selected database, the reply buffer and the arguments, borrowed
/// together so a handler can read a value while it writes the reply.
pub(super) fn split<'c>(ctx: &'c mut Ctx) -> (&'c mut Db, &'c mut Reply, &'c [Bytes]) {
    let db = ctx.client.db;
    (&mut ctx.state.dbs[db], &mut *ctx.reply, ctx.args)
}

/// One step over a big container by position, visiting from the end
/// towards 0 like `Db::scan`, so that `swap_remove` (which moves the last
/// element into the hole) only moves an already-visited element. The cursor
/// is the number of positions still to visit; 0 starts and ends a scan.
pub(super) fn scan_positions(
    len: usize,
    cursor: u64,
    count: usize,
    mut visit: impl FnMut(usize),
) -> u64 {
    let len = len as u64;
    let mut next = if cursor == 0 { len } else { cursor.min(len) };
    let mut steps = 0;
    while next > 0 && steps < count.max(1) {
        next -= 1;
        visit(next as usize);
        steps += 1;
    }
    next
}

/// Replies of random-element commands with a negative count may repeat
/// elements without bound; Redis streams them into an unlimited output
/// buffer. We refuse to build a reply past this size instead: it is built
/// while the keyspace is locked, so it also bounds the time others wait.
pub(super) const MAX_RANDOM_REPLY_BYTES: usize = 64 << 20;

pub(super) fn check_random_reply_size(reply: &Reply, mark: usize) -> CmdResult {
    if reply.len() - mark > MAX_RANDOM_REPLY_BYTES {
        return Err(CmdError::msg("ERR reply too large: count is too big"));
    }
    Ok(())
}

/// Parses a count for HRANDFIELD / SRANDMEMBER: any long except LONG_MIN.
pub(super) fn random_count(arg: &[u8]) -> Result<i64, CmdError> {
    let n = args::int(arg)?;
    if n == i64::MIN {
        return Err(CmdError::msg(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(n)
}

// ---------------------------------------------------------------------------
// Hash access.

/// The hash at `key` for reading (counts a keyspace hit or miss).
fn read_hash<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a HashValue>, CmdError> {
    match db.get(key).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The hash at `key` for writing.
fn write_hash<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a mut HashValue>, CmdError> {
    match db.get_mut(key).map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The hash at `key`, created empty when missing. Callers must insert
/// before returning: Redis never keeps an empty hash.
fn hash_or_create<'a>(db: &'a mut Db, key: &[u8]) -> Result<&'a mut HashValue, CmdError> {
    if write_hash(db, key)?.is_none() {
        db.set(key, Value::new_hash());
    }
    write_hash(db, key)?.ok_or(CmdError::WrongType)
}

/// Sets a field; true when it is new. Converts to the hashtable encoding
/// when the field or value is too long or there are too many fields, the
/// checks Redis makes on the arguments it stores.
fn set_field(h: &mut HashValue, field: &[u8], value: &[u8], limits: &EncodingLimits) -> bool {
    let added = match h.map.get_mut(field) {
        Some(v) => {
            *v = CompactBytes::new(value);
            false
        }
        None => {
            h.map
                .insert(CompactBytes::new(field), CompactBytes::new(value));
            true
        }
    };
    if !h.big
        && (h.map.len() > limits.hash_max_listpack_entries
            || field.len() > limits.hash_max_listpack_value
            || value.len() > limits.hash_max_listpack_value)
    {
        h.big = true;
    }
    added
}

/// Removes a field, keeping the order of the others while listpack-encoded.
fn remove_field(h: &mut HashValue, field: &[u8]) -> bool {
    if h.big {
        h.map.swap_remove(field).is_some()
    } else {
        h.map.shift_remove(field).is_some()
    }
}

// ---------------------------------------------------------------------------
// Handlers.

fn hset(ctx: &mut Ctx) -> CmdResult {
    let added = set_pairs(ctx)?;
    ctx.reply.int(added as i64);
    Ok(())
}

fn hmset(ctx: &mut Ctx) -> CmdResult {
    set_pairs(ctx)?;
    ctx.reply.ok();
    Ok(())
}

/// HSET / HMSET: stores every field-value pair; returns how many fields are new.
fn set_pairs(ctx: &mut Ctx) -> Result<usize, CmdError> {
    if !ctx.argc().is_multiple_of(2) {
        return Err(CmdError::WrongArity(ctx.spec.name.to_string()));
    }
    let limits = ctx.limits();
    let (db, _, args) = split(ctx);
    let h = hash_or_create(db, &args[1])?;
    let mut added = 0;
    for pair in args[2..].chunks_exact(2) {
        if set_field(h, &pair[0], &pair[1], &limits) {
            added += 1;
        }
    }
    // Redis counts every pair as a change, new or not.
    let pairs = (args.len() - 2) / 2;
    ctx.dirty(pairs as u64);
    Ok(added)
}

fn hsetnx(ctx: &mut Ctx) -> CmdResult {
    let limits = ctx.limits();
    let (db, reply, args) = split(ctx);
    let (key, field, value) = (&args[1], &args[2], &args[3]);
    if write_hash(db, key)?.is_some_and(|h| h.map.contains_key(&field[..])) {
        reply.int(0);
        return Ok(());
    }
    set_field(hash_or_create(db, key)?, field, value, &limits);
    reply.int(1);
    ctx.dirty(1);
    Ok(())
}

fn hget(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    match read_hash(db, &args[1])?.and_then(|h| h.map.get(&args[2][..])) {
        Some(v) => reply.bulk(v),
        None => reply.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let h = read_hash(db, &args[1])?;
    let fields = &args[2..];
    reply.array_len(fields.len());
    for f in fields {
        match h.and_then(|h| h.map.get(&f[..])) {
            Some(v) => reply.bulk(v),
            None => reply.null(),
        }
    }
    Ok(())
}

fn hgetall(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let Some(h) = read_hash(db, &args[1])? else {
        reply.map_len(0);
        return Ok(());
    };
    reply.map_len(h.map.len());
    for (f, v) in &h.map {
        reply.bulk(f);
        reply.bulk(v);
    }
    Ok(())
}

fn hkeys(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let h = read_hash(db, &args[1])?;
    reply.bulks(
        h.into_iter()
            .flat_map(|h| h.map.keys())
            .map(|k| &k[..])
            .collect::<Vec<_>>(),
    );
    Ok(())
}

fn hvals(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let h = read_hash(db, &args[1])?;
    reply.bulks(
        h.into_iter()
            .flat_map(|h| h.map.values())
            .map(|v| &v[..])
            .collect::<Vec<_>>(),
    );
    Ok(())
}

fn hdel(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let key = &args[1];
    let Some(h) = write_hash(db, key)? else {
        reply.int(0);
        return Ok(());
    };
    let mut deleted = 0;
    for f in &args[2..] {
        if remove_field(h, f) {
            deleted += 1;
            if h.map.is_empty() {
                break;
            }
        }
    }
    if h.map.is_empty() {
        db.delete(key);
    }
    reply.int(deleted);
    ctx.dirty(deleted as u64);
    Ok(())
}

fn hexists(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let found = read_hash(db, &args[1])?.is_some_and(|h| h.map.contains_key(&args[2][..]));
    reply.int(found as i64);
    Ok(())
}

fn hlen(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let n = read_hash(db, &args[1])?.map_or(0, |h| h.map.len());
    reply.int(n as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx) -> CmdResult {
    let (db, reply, args) = split(ctx);
    let n = read_hash(db, &args[1])?
        .and_then(|h| h.map.get(&args[2][..]))
        .map_or(0, |v| v.len());
    reply.int(n as i64);
    Ok(())
}

/// The current value of a field for writing commands, or None.
fn field_value(db: &mut Db, key: &[u8], field: &[u8]) -> Result<Option<CompactBytes>, CmdError> {
    Ok(write_hash(db, key)?.and_then(|h| h.map.get(field).cloned()))
}

fn hincrby(ctx: &mut Ctx) -> CmdResult {
    let incr = args::int(ctx.arg(3))?;
    let limits = ctx.limits();
    let (db, reply, args) = split(ctx);
    let (key, field) = (&args[1], &args[2]);
    let current = match field_value(db, key, field)? {
        Some(v) => number::parse_i64(&v)
            .ok_or_else(|| CmdError::msg("ERR hash value is not an integer"))?,
        None => 0,
    };
    let value = current
        .checked_add(incr)
        .ok_or_else(|| CmdError::msg("ERR increment or decrement would overflow"))?;
    let text = number::format_i64(value);
    set_field(hash_or_create(db, key)?, field, &text, &limits);
    reply.int(value);
    ctx.dirty(1);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx) -> CmdResult {
    let incr = ctx.args[3].clone();
    if !number::is_long_double(&incr) {
        return Err(CmdError::NotFloat);
    }
    // An infinite increment is refused before the key is even looked at.
    if matches!(
        number::add_long_double(None, &incr),
        LongDoubleSum::NanOrInfinity
    ) {
        return Err(CmdError::msg("ERR value is NaN or Infinity"));
    }
    let limits = ctx.limits();
    let (key, field) = (ctx.args[1].clone(), ctx.args[2].clone());
    let (db, reply, _) = split(ctx);
    let current = field_value(db, &key, &field)?;
    let text = match number::add_long_double(current.as_deref(), &incr) {
        LongDoubleSum::Ok(text) => text,
        // The increment is valid, so it is the stored value that is not.
        LongDoubleSum::NotAFloat => return Err(CmdError::msg("ERR hash value is not a float")),
        LongDoubleSum::NanOrInfinity => {
            return Err(CmdError::msg("ERR increment would produce NaN or Infinity"))
        }
    };
    set_field(hash_or_create(db, &key)?, &field, &text, &limits);
    reply.bulk(&text);
    ctx.dirty(1);
    // Replicas must store exactly this text, not redo the float arithmetic.
    let argv = vec![Ctx::word("HSET"), key, field, Bytes::from(text)];
    ctx.propagate_as(argv);
    Ok(())
}

fn hscan(ctx: &mut Ctx) -> CmdResult {
    let cursor = scan_cursor(ctx.arg(2))?;
    let (db, reply, args) = split(ctx);
    let Some(h) = read_hash(db, &args[1])? else {
        args::reply_scan(reply, 0, &[]);
        return Ok(());
    };
    let opts = args::scan_options(args, 3, false)?;
    let mut entries: Vec<(&CompactBytes, &CompactBytes)> = Vec::new();
    // A listpack hash is returned whole in one call, with cursor 0.
    let next = if h.big {
        scan_positions(h.map.len(), cursor, opts.count, |i| {
            entries.extend(h.map.get_index(i))
        })
    } else {
        entries.extend(&h.map);
        0
    };
    let items: Vec<&[u8]> = entries
        .into_iter()
        .filter(|(f, _)| opts.matches(f))
        .flat_map(|(f, v)| [&f[..], &v[..]])
        .collect();
    args::reply_scan(reply, next, &items);
    Ok(())
}

/// HRANDFIELD's arguments after the key.
struct RandOptions {
    count: i64,
    with_values: bool,
}

fn hrandfield_options(args: &[Bytes]) -> Result<RandOptions, CmdError> {
    let count = random_count(&args[2])?;
    let with_values = match args.len() {
        3 => false,
        4 if eq_ic(&args[3], "withvalues") => true,
        _ => return Err(CmdError::Syntax),
    };
    // Redis doubles the count for the reply length of WITHVALUES.
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::msg("ERR value is out of range"));
    }
    Ok(RandOptions { count, with_values })
}

fn hrandfield(ctx: &mut Ctx) -> CmdResult {
    let opts = if ctx.argc() >= 3 {
        Some(hrandfield_options(ctx.args)?)
    } else {
        None
    };
    let (db, reply, args) = split(ctx);
    let h = read_hash(db, &args[1])?;
    let Some(opts) = opts else {
        match h.filter(|h| !h.map.is_empty()) {
            Some(h) => {
                let i = rand::thread_rng().gen_range(0..h.map.len());
                match h.map.get_index(i) {
                    Some((f, _)) => reply.bulk(f),
                    None => reply.null(),
                }
            }
            None => reply.null(),
        }
        return Ok(());
    };
    match h {
        Some(h) if opts.count != 0 && !h.map.is_empty() => reply_random_fields(reply, h, &opts),
        _ => {
            reply.array_len(0);
            Ok(())
        }
    }
}

/// Writes one field (and its value) of a HRANDFIELD reply: in RESP3 a
/// WITHVALUES reply is an array of [field, value] pairs, in RESP2 flat.
fn reply_field(reply: &mut Reply, (f, v): (&CompactBytes, &CompactBytes), with_values: bool) {
    if with_values {
        if reply.resp3 {
            reply.array_len(2);
        }
        reply.bulk(f);
        reply.bulk(v);
    } else {
        reply.bulk(f);
    }
}

fn reply_random_fields(reply: &mut Reply, h: &HashValue, opts: &RandOptions) -> CmdResult {
    let size = h.map.len();
    let elements_per_pick = if opts.with_values && !reply.resp3 {
        2
    } else {
        1
    };
    let mut rng = rand::thread_rng();
    if opts.count < 0 {
        // Repeats allowed: `|count|` independent picks.
        let picks = opts.count.unsigned_abs();
        reply.array_len((picks as usize).saturating_mul(elements_per_pick));
        let mark = reply.len();
        for n in 0..picks {
            if let Some(entry) = h.map.get_index(rng.gen_range(0..size)) {
                reply_field(reply, entry, opts.with_values);
            }
            if n % 1024 == 0 {
                check_random_reply_size(reply, mark)?;
            }
        }
        return Ok(());
    }
    let count = opts.count as usize;
    if count >= size {
        // The whole hash, in its own order.
        reply.array_len(size * elements_per_pick);
        for entry in &h.map {
            reply_field(reply, entry, opts.with_values);
        }
        return Ok(());
    }
    reply.array_len(count * elements_per_pick);
    for i in rand::seq::index::sample(&mut rng, size, count) {
        if let Some(entry) = h.map.get_index(i) {
            reply_field(reply, entry, opts.with_values);
        }
    }
    Ok(())
}

/// Runs commands on an in-process server and records what they propagate.
#[cfg(test)]
pub(super) mod harness {
    use crate::config::Config;
    use crate::server::client::ClientState;
    use crate::server::state::ServerState;
    use crate::server::test_support::{run_line, StreamCapture};

    pub struct Server {
        state: ServerState,
        client: ClientState,
        stream: StreamCapture,
    }

    impl Server {
        pub fn new() -> Server {
            let mut state = ServerState::new(Config::default());
            let stream = StreamCapture::attach(&mut state);
            Server {
                state,
                client: ClientState::new(1, String::new(), true),
                stream,
            }
        }

        /// Runs one command (space-separated words); returns the raw reply.
        pub fn run(&mut self, line: &str) -> String {
            run_line(&mut self.state, &mut self.client, line)
        }

        /// The propagated commands since the last call, one per line,
        /// arguments joined by spaces (SELECT lines left out).
        pub fn propagated(&mut self) -> Vec<String> {
            self.stream.take_commands_without_select()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_follows_strtoul() {
        assert_eq!(scan_cursor(b"0"), Ok(0));
        assert_eq!(scan_cursor(b""), Ok(0));
        assert_eq!(scan_cursor(b"010"), Ok(10));
        assert_eq!(scan_cursor(b"+5"), Ok(5));
        assert_eq!(scan_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(scan_cursor(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [
            &b"18446744073709551616"[..],
            b" 1",
            b"1 ",
            b"0x10",
            b"-",
            b"+",
            b"1.5",
        ] {
            assert!(
                scan_cursor(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn position_scan_visits_everything_once() {
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = scan_positions(25, cursor, 7, |i| seen.push(i));
            if cursor == 0 {
                break;
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn encoding_follows_stored_arguments() {
        let limits = EncodingLimits {
            hash_max_listpack_entries: 2,
            hash_max_listpack_value: 4,
            ..EncodingLimits::default()
        };
        let mut h = HashValue::default();
        assert!(set_field(&mut h, b"a", b"1", &limits));
        assert!(!set_field(&mut h, b"a", b"2", &limits));
        assert!(!h.big);
        set_field(&mut h, b"b", b"12345", &limits);
        assert!(h.big);
        let mut h = HashValue::default();
        for f in [b"a", b"b", b"c"] {
            set_field(&mut h, f, b"v", &limits);
        }
        assert!(h.big);
    }

    #[test]
    fn small_hash_deletion_keeps_order() {
        let limits = EncodingLimits::default();
        let mut h = HashValue::default();
        for f in [&b"a"[..], b"b", b"c", b"d"] {
            set_field(&mut h, f, b"v", &limits);
        }
        remove_field(&mut h, b"a");
        let order: Vec<&[u8]> = h.map.keys().map(|k| &k[..]).collect();
        assert_eq!(order, vec![&b"b"[..], b"c", b"d"]);
    }

    #[test]
    fn withvalues_count_range() {
        let args = |c: &str, extra: &[&str]| {
            let mut v = vec![
                Bytes::from("hrandfield"),
                Bytes::from("h"),
                Bytes::from(c.to_string()),
            ];
            v.extend(extra.iter().map(|s| Bytes::from(s.to_string())));
            v
        };
        assert!(hrandfield_options(&args("4611686018427387903", &["withvalues"])).is_ok());
        assert!(hrandfield_options(&args("-4611686018427387904", &["WITHVALUES"])).is_err());
        assert!(hrandfield_options(&args("-9223372036854775807", &[])).is_ok());
        assert!(hrandfield_options(&args("-9223372036854775808", &[])).is_err());
        assert_eq!(
            hrandfield_options(&args("1", &["x"])).err(),
            Some(CmdError::Syntax)
        );
    }
    #[test]
    fn hincrbyfloat_propagates_hset_with_the_result() {
        let mut srv = harness::Server::new();
        srv.run("HSET h f 1.5");
        srv.propagated();
        assert_eq!(srv.run("HINCRBYFLOAT h f 1"), "$3\r\n2.5\r\n");
        srv.run("HINCRBYFLOAT h g 2.5e3");
        assert_eq!(srv.propagated(), ["HSET h f 2.5", "HSET h g 2500"]);
        srv.run("HINCRBYFLOAT h f x");
        srv.run("HGET h f");
        assert!(srv.propagated().is_empty());
    }

    #[test]
    fn hash_writes_propagate_verbatim_when_they_change_something() {
        let mut srv = harness::Server::new();
        srv.run("HSET h a 1");
        srv.run("HSET h a 1");
        srv.run("HSETNX h a 2");
        srv.run("HDEL h zz");
        srv.run("HDEL h a");
        srv.run("HINCRBY h n 3");
        assert_eq!(
            srv.propagated(),
            ["HSET h a 1", "HSET h a 1", "HDEL h a", "HINCRBY h n 3"]
        );
    }
}
