//! OBJECT ENCODING / REFCOUNT / IDLETIME / FREQ / HELP.

use super::lookup_no_touch;
use crate::commands::{CmdError, CmdResult};
use crate::db::{Entry, Value};
use crate::server::context::Ctx;

/// Redis shares the integers 0..9999 between keys; OBJECT REFCOUNT
/// reports such a shared object with INT_MAX (OBJ_SHARED_REFCOUNT).
const SHARED_INTEGERS: i64 = 10_000;
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

const HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

const POLICY_NOTE: &str =
    "Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// The data OBJECT reports about one key.
enum Subcommand {
    Encoding,
    Refcount,
    Idletime,
    Freq,
}

pub fn object(ctx: &mut Ctx) -> CmdResult {
    let sub = ctx.arg(1).to_ascii_lowercase();
    let which = match sub.as_slice() {
        b"help" => {
            if ctx.argc() != 2 {
                return Err(CmdError::WrongArity("object|help".into()));
            }
            ctx.reply.array_len(HELP.len());
            for line in HELP {
                ctx.reply.simple(line);
            }
            return Ok(());
        }
        b"encoding" => Subcommand::Encoding,
        b"refcount" => Subcommand::Refcount,
        b"idletime" => Subcommand::Idletime,
        b"freq" => Subcommand::Freq,
        _ => return Err(unknown_subcommand(ctx.arg(1))),
    };
    if ctx.argc() != 3 {
        let name = String::from_utf8_lossy(&sub).into_owned();
        return Err(CmdError::WrongArity(format!("object|{name}")));
    }
    let policy = ctx
        .state
        .config
        .get("maxmemory-policy")
        .unwrap_or("noeviction")
        .to_string();
    let lfu_policy = policy.contains("lfu");
    let shared_ints = shares_integers(ctx, &policy);
    let decay_minutes = config_u64(ctx, "lfu-decay-time");
    let args = ctx.args;
    let Some(entry) = lookup_no_touch(ctx.db(), &args[2]) else {
        ctx.reply.null();
        return Ok(());
    };
    match which {
        Subcommand::Encoding => {
            let enc = entry.value.encoding(entry.raw);
            ctx.reply.bulk_str(enc);
        }
        Subcommand::Refcount => {
            let n = refcount(entry, shared_ints);
            ctx.reply.int(n);
        }
        Subcommand::Idletime => {
            if lfu_policy {
                return Err(CmdError::msg(format!(
                    "ERR An LFU maxmemory policy is selected, idle time not tracked. {POLICY_NOTE}"
                )));
            }
            let idle = idle_seconds(entry.lru, crate::db::lru_clock());
            ctx.reply.int(idle);
        }
        Subcommand::Freq => {
            if !lfu_policy {
                return Err(CmdError::msg(format!(
                    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. {POLICY_NOTE}"
                )));
            }
            let minutes = (crate::util::time::now_ms() / 60_000) as u64;
            let n = lfu_decayed_counter(entry.lru, minutes, decay_minutes);
            ctx.reply.int(n as i64);
        }
    }
    Ok(())
}

/// `ERR unknown subcommand '<sub>'. Try OBJECT HELP.` (at most 128 bytes of it).
fn unknown_subcommand(sub: &[u8]) -> CmdError {
    let end = sub
        .iter()
        .position(|&c| c == 0)
        .unwrap_or(sub.len())
        .min(128);
    CmdError::msg(format!(
        "ERR unknown subcommand '{}'. Try OBJECT HELP.",
        String::from_utf8_lossy(&sub[..end])
    ))
}

fn config_u64(ctx: &Ctx, name: &str) -> u64 {
    ctx.state
        .config
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Redis stores small integers as shared objects unless maxmemory is set
/// with an LRU/LFU policy (which needs a per-key access field).
fn shares_integers(ctx: &Ctx, policy: &str) -> bool {
    let maxmemory = config_u64(ctx, "maxmemory");
    maxmemory == 0 || !(policy.contains("lru") || policy.contains("lfu"))
}

fn refcount(entry: &Entry, shared_ints: bool) -> i64 {
    match &entry.value {
        Value::Str(s) if shared_ints && !entry.raw && entry.value.encoding(false) == "int" => {
            match crate::util::number::parse_i64(s) {
                Some(n) if (0..SHARED_INTEGERS).contains(&n) => SHARED_REFCOUNT,
                _ => 1,
            }
        }
        _ => 1,
    }
}

/// Seconds since the last access, given the key's and the current LRU
/// clock (seconds; the clock may have wrapped around u32).
fn idle_seconds(lru: u32, now: u32) -> i64 {
    now.wrapping_sub(lru) as i64
}

/// LFU counter after decay: the field holds the last decrement time in
/// minutes (16 bits) above an 8-bit logarithmic counter, and the counter
/// loses one per `decay_minutes` elapsed (Redis's LFUDecrAndReturn).
pub(crate) fn lfu_decayed_counter(field: u32, now_minutes: u64, decay_minutes: u64) -> u64 {
    let last = (field >> 8) as u64 & 0xffff;
    let counter = (field & 0xff) as u64;
    let now = now_minutes & 0xffff;
    let elapsed = if now >= last {
        now - last
    } else {
        65535 - last + now
    };
    // A decay time of 0 means the counter never decays.
    let periods = elapsed.checked_div(decay_minutes).unwrap_or(0);
    counter.saturating_sub(periods)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::CompactBytes;

    fn string_entry(s: &str, raw: bool) -> Entry {
        let mut e = Entry::new(Value::Str(CompactBytes::new(s.as_bytes())));
        e.raw = raw;
        e
    }

    #[test]
    fn shared_integer_refcount() {
        assert_eq!(refcount(&string_entry("5", false), true), SHARED_REFCOUNT);
        assert_eq!(
            refcount(&string_entry("9999", false), true),
            SHARED_REFCOUNT
        );
        assert_eq!(refcount(&string_entry("10000", false), true), 1);
        assert_eq!(refcount(&string_entry("-1", false), true), 1);
        assert_eq!(refcount(&string_entry("abc", false), true), 1);
        assert_eq!(refcount(&string_entry("5", false), false), 1);
        assert_eq!(refcount(&string_entry("5", true), true), 1);
        assert_eq!(refcount(&Entry::new(Value::new_list()), true), 1);
    }

    #[test]
    fn lfu_counter_decays_per_period() {
        let field = (100u32 << 8) | 5;
        assert_eq!(lfu_decayed_counter(field, 100, 1), 5);
        assert_eq!(lfu_decayed_counter(field, 102, 1), 3);
        assert_eq!(lfu_decayed_counter(field, 200, 1), 0);
        assert_eq!(lfu_decayed_counter(field, 110, 0), 5);
        assert_eq!(lfu_decayed_counter(field, 104, 2), 3);
        // The minute clock wraps at 16 bits.
        let late = (65534u32 << 8) | 10;
        assert_eq!(lfu_decayed_counter(late, 65536 + 2, 1), 7);
    }

    #[test]
    fn idle_time_handles_wraparound() {
        assert_eq!(idle_seconds(100, 130), 30);
        assert_eq!(idle_seconds(u32::MAX - 1, 3), 5);
    }

    #[test]
    fn unknown_subcommand_text() {
        assert_eq!(
            unknown_subcommand(b"foo").text(),
            "ERR unknown subcommand 'foo'. Try OBJECT HELP."
        );
        let long = vec![b'x'; 300];
        assert_eq!(unknown_subcommand(&long).text().matches('x').count(), 128);
    }
}
