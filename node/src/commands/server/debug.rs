//! DEBUG: the subcommands tests and operators use (SLEEP, POPULATE,
//! SET-ACTIVE-EXPIRE, OBJECT, ERROR, LOG, HELP). Like Redis 7.0, DEBUG is
//! refused unless enable-debug-command allows it.

use std::time::Duration;

use super::config_cmd::protected_action_allowed;
use super::subcommands::{reply_help, syntax_error};
use crate::commands::args::int;
use crate::commands::{CmdError, CmdResult};
use crate::db::{CompactBytes, Entry, Value};
use crate::server::context::Ctx;

const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", \
you can run it from a local connection, otherwise you need to set this option in the configuration file, \
and then restart the server.";

pub fn debug(ctx: &mut Ctx) -> CmdResult {
    if !protected_action_allowed(ctx, "enable-debug-command") {
        return Err(CmdError::msg(NOT_ALLOWED));
    }
    let sub = ctx.arg(1).to_ascii_lowercase();
    match (sub.as_slice(), ctx.argc()) {
        (b"help", 2) => {
            help(ctx);
            Ok(())
        }
        (b"sleep", 3) => sleep(ctx),
        (b"populate", 3..=5) => populate(ctx),
        (b"set-active-expire", 3) => {
            ctx.state.active_expire_enabled = atoi(ctx.arg(2)) != 0;
            ctx.reply.ok();
            Ok(())
        }
        (b"object", 3) => object(ctx),
        (b"error", 3) => Err(CmdError::msg(
            String::from_utf8_lossy(ctx.arg(2)).into_owned(),
        )),
        (b"log", 3) => {
            crate::warning!("DEBUG LOG: {}", String::from_utf8_lossy(ctx.arg(2)));
            ctx.reply.ok();
            Ok(())
        }
        _ => Err(syntax_error(ctx)),
    }
}

fn help(ctx: &mut Ctx) {
    reply_help(
        ctx,
        &[
            "ERROR <string>",
            "    Return a Redis protocol error with <string> as message. Useful for clients",
            "    unit tests to simulate Redis errors.",
            "LOG <message>",
            "    Write <message> to the server log.",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>. If <prefix> is specified then",
            "    it is used instead of the 'key' prefix. These are not propagated to",
            "    replicas.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
        ],
    );
}

/// C's atoi: optional sign and leading digits, 0 when there are none.
fn atoi(s: &[u8]) -> i64 {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add((b - b'0') as i64);
    }
    if neg {
        -n
    } else {
        n
    }
}

/// A count or size: anything but a non-negative integer gets Redis's
/// "must be positive" error (non-numbers included).
fn positive(arg: &[u8]) -> Result<i64, CmdError> {
    int(arg)
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| CmdError::msg("ERR value is out of range, must be positive"))
}

/// DEBUG SLEEP: blocks the whole server (the lock is held), as Redis does.
fn sleep(ctx: &mut Ctx) -> CmdResult {
    let secs = crate::util::number::parse_f64(ctx.arg(2)).unwrap_or(0.0);
    if let Ok(d) = Duration::try_from_secs_f64(secs) {
        std::thread::sleep(d);
    }
    ctx.reply.ok();
    Ok(())
}

/// DEBUG POPULATE count [prefix] [size]: keys `prefix:N` holding `value:N`
/// (cut or zero-padded to `size` bytes). Existing keys are left alone; the
/// new keys are neither counted as changes nor propagated.
fn populate(ctx: &mut Ctx) -> CmdResult {
    let count = positive(ctx.arg(2))?;
    let prefix = if ctx.argc() >= 4 {
        ctx.args[3].to_vec()
    } else {
        b"key".to_vec()
    };
    let size = if ctx.argc() == 5 {
        Some(positive(ctx.arg(4))? as usize)
    } else {
        None
    };
    let db = ctx.db_index();
    let mut key = Vec::with_capacity(prefix.len() + 21);
    for j in 0..count {
        key.clear();
        key.extend_from_slice(&prefix);
        key.push(b':');
        key.extend_from_slice(j.to_string().as_bytes());
        if ctx.state.dbs[db].contains(&key) {
            continue;
        }
        let mut value = format!("value:{j}").into_bytes();
        if let Some(size) = size {
            value.resize(size, 0);
        }
        ctx.state.dbs[db].set(&key, Value::Str(CompactBytes::from_vec(value)));
        ctx.state.signal_modified_key(db, &key);
    }
    ctx.reply.ok();
    Ok(())
}

/// Approximate size of a value in an RDB file (DEBUG OBJECT's serializedlength).
fn serialized_length(v: &Value) -> usize {
    let item = |b: &[u8]| b.len() + if b.len() < 64 { 1 } else { 2 };
    match v {
        Value::Str(s) => match crate::util::number::parse_i64(s) {
            Some(n) if s.len() <= 11 && (i32::MIN as i64..=i32::MAX as i64).contains(&n) => {
                if (-128..128).contains(&n) {
                    2
                } else if (-32768..32768).contains(&n) {
                    3
                } else {
                    5
                }
            }
            _ => item(s),
        },
        Value::List(l) => 1 + l.iter().map(|e| item(e)).sum::<usize>(),
        Value::Hash(h) => 1 + h.map.iter().map(|(k, v)| item(k) + item(v)).sum::<usize>(),
        Value::Set(s) => 1 + s.members.iter().map(|m| item(m)).sum::<usize>(),
        Value::ZSet(z) => 1 + z.len() * 10,
    }
}

/// DEBUG OBJECT key: Redis's one-line low-level description.
fn object(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.args[2].clone();
    let list_size = ctx.state.config.settings.encoding.list_max_listpack_size;
    let Some(entry) = ctx.db().peek(&key) else {
        return Err(CmdError::NoSuchKey);
    };
    let line = describe_object(entry, list_size);
    ctx.reply.simple(&line);
    Ok(())
}

fn describe_object(entry: &Entry, list_max_listpack_size: i64) -> String {
    let lru = entry.lru & 0xFF_FFFF;
    let idle = (crate::db::lru_clock().saturating_sub(entry.lru)) as u64;
    let mut line = format!(
        "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
        entry as *const Entry,
        entry.value.encoding(entry.raw),
        serialized_length(&entry.value),
        lru,
        idle
    );
    if let Value::List(l) = &entry.value {
        let bytes: usize = l.iter().map(|e| e.len()).sum();
        line.push_str(&format!(
            " ql_nodes:1 ql_avg_node:{}.00 ql_listpack_max:{} ql_compressed:0 ql_uncompressed_size:{}",
            l.len(),
            list_max_listpack_size,
            bytes
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_like_c() {
        assert_eq!(atoi(b"1"), 1);
        assert_eq!(atoi(b"0"), 0);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(atoi(b"12abc"), 12);
        assert_eq!(atoi(b"-3"), -3);
    }

    #[test]
    fn object_line() {
        let e = Entry::new(Value::Str(CompactBytes::new(b"123")));
        let line = describe_object(&e, -2);
        assert!(line.starts_with("Value at:0x"), "{line}");
        assert!(line.contains(" encoding:int serializedlength:2 "), "{line}");
    }
}
