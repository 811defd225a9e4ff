//! EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX/XX/GT/LT), TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME and PERSIST.
//!
//! Replicas and the AOF must not depend on when a command ran, so a new
//! expiry is propagated as `PEXPIREAT key <absolute ms>`, and an expiry in
//! the past (which deletes the key at once) as `DEL key`.

use bytes::Bytes;

use super::lookup_no_touch;
use crate::commands::args::int;
use crate::commands::{CmdError, CmdResult};
use crate::server::context::Ctx;

/// The NX / XX / GT / LT conditions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Conditions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl Conditions {
    /// Parses the options after `key time`, with Redis's error texts.
    fn parse(options: &[Bytes]) -> Result<Conditions, CmdError> {
        let mut c = Conditions::default();
        for opt in options {
            match opt.to_ascii_lowercase().as_slice() {
                b"nx" => c.nx = true,
                b"xx" => c.xx = true,
                b"gt" => c.gt = true,
                b"lt" => c.lt = true,
                _ => {
                    return Err(CmdError::msg(format!(
                        "ERR Unsupported option {}",
                        String::from_utf8_lossy(until_nul(opt))
                    )))
                }
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(CmdError::msg(
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if c.gt && c.lt {
            return Err(CmdError::msg(
                "ERR GT and LT options at the same time are not compatible",
            ));
        }
        Ok(c)
    }

    /// Whether a new expiry `when` may replace `current` (0 = no TTL, which
    /// counts as infinite for GT and LT).
    fn allow(self, current: i64, when: i64) -> bool {
        let has_ttl = current != 0;
        if self.nx && has_ttl {
            return false;
        }
        if self.xx && !has_ttl {
            return false;
        }
        if self.gt && (!has_ttl || when <= current) {
            return false;
        }
        if self.lt && has_ttl && when >= current {
            return false;
        }
        true
    }
}

/// Redis prints option names with %s: a NUL byte ends them.
fn until_nul(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Millis,
}

pub fn expire(ctx: &mut Ctx) -> CmdResult {
    let now = ctx.db().now_ms;
    expire_generic(ctx, now, Unit::Seconds)
}

pub fn pexpire(ctx: &mut Ctx) -> CmdResult {
    let now = ctx.db().now_ms;
    expire_generic(ctx, now, Unit::Millis)
}

pub fn expireat(ctx: &mut Ctx) -> CmdResult {
    expire_generic(ctx, 0, Unit::Seconds)
}

pub fn pexpireat(ctx: &mut Ctx) -> CmdResult {
    expire_generic(ctx, 0, Unit::Millis)
}

/// The absolute expiry in ms for `amount` in `unit` after `base`, or None on
/// overflow (Redis refuses those instead of wrapping).
fn absolute_ms(amount: i64, unit: Unit, base: i64) -> Option<i64> {
    let ms = match unit {
        Unit::Seconds => amount.checked_mul(1000)?,
        Unit::Millis => amount,
    };
    ms.checked_add(base)
}

/// Shared body of the four EXPIRE commands. `base` is the current time for
/// relative forms and 0 for the *AT forms.
fn expire_generic(ctx: &mut Ctx, base: i64, unit: Unit) -> CmdResult {
    let args = ctx.args;
    let conditions = Conditions::parse(&args[3..])?;
    let amount = int(&args[2])?;
    let when = absolute_ms(amount, unit, base).ok_or_else(|| {
        CmdError::msg(format!(
            "ERR invalid expire time in '{}' command",
            ctx.spec.name
        ))
    })?;
    let key = &args[1][..];
    // Loading a dataset or applying a master's stream, an expiry in the past
    // is stored as is: the key goes away when the master says DEL.
    let delete_now = !ctx.state.loading && !ctx.state.is_replica();
    let db = ctx.db();
    let now = db.now_ms;
    let Some(entry) = db.get_mut(key) else {
        ctx.reply.int(0);
        return Ok(());
    };
    if !conditions.allow(entry.expire_at, when) {
        ctx.reply.int(0);
        return Ok(());
    }
    if when <= now && delete_now {
        db.remove(key);
        ctx.dirty(1);
        ctx.propagate_as(vec![Ctx::word("DEL"), args[1].clone()]);
    } else {
        // 0 means "no TTL" in an Entry; a replica storing an expiry at the
        // epoch keeps the key expired with the nearest representable time.
        db.set_expire(key, if when == 0 { -1 } else { when });
        ctx.dirty(1);
        if ctx.spec.name != "pexpireat" {
            let mut argv = vec![
                Ctx::word("PEXPIREAT"),
                args[1].clone(),
                Bytes::from(when.to_string()),
            ];
            argv.extend(args[3..].iter().cloned());
            ctx.propagate_as(argv);
        }
    }
    ctx.reply.int(1);
    Ok(())
}

/// What TTL-like commands print.
#[derive(Clone, Copy)]
struct TtlView {
    millis: bool,
    absolute: bool,
}

fn ttl_generic(ctx: &mut Ctx, view: TtlView) -> CmdResult {
    let args = ctx.args;
    let db = ctx.db();
    let now = db.now_ms;
    let reply = match lookup_no_touch(db, &args[1]) {
        None => -2,
        Some(e) if e.expire_at == 0 => -1,
        Some(e) => {
            let ms = if view.absolute {
                e.expire_at
            } else {
                e.expire_at - now
            }
            .max(0);
            if view.millis {
                ms
            } else {
                // Seconds are rounded to the nearest, as Redis does.
                (ms + 500) / 1000
            }
        }
    };
    ctx.reply.int(reply);
    Ok(())
}

pub fn ttl(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(
        ctx,
        TtlView {
            millis: false,
            absolute: false,
        },
    )
}

pub fn pttl(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(
        ctx,
        TtlView {
            millis: true,
            absolute: false,
        },
    )
}

pub fn expiretime(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(
        ctx,
        TtlView {
            millis: false,
            absolute: true,
        },
    )
}

pub fn pexpiretime(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(
        ctx,
        TtlView {
            millis: true,
            absolute: true,
        },
    )
}

pub fn persist(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let db = ctx.db();
    let removed = db.get_mut(&args[1]).is_some() && db.persist(&args[1]);
    if removed {
        ctx.dirty(1);
    }
    ctx.reply.int(removed as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conds(words: &[&str]) -> Result<Conditions, CmdError> {
        let v: Vec<Bytes> = words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        Conditions::parse(&v)
    }

    #[test]
    fn option_combinations() {
        assert!(conds(&["nx"]).is_ok());
        assert!(conds(&["XX", "gt"]).is_ok());
        assert!(conds(&["xx", "lt"]).is_ok());
        assert!(conds(&["nx", "nx"]).is_ok());
        let nx_err = "ERR NX and XX, GT or LT options at the same time are not compatible";
        assert_eq!(conds(&["nx", "xx"]).unwrap_err().text(), nx_err);
        assert_eq!(conds(&["gt", "nx"]).unwrap_err().text(), nx_err);
        assert_eq!(
            conds(&["gt", "lt"]).unwrap_err().text(),
            "ERR GT and LT options at the same time are not compatible"
        );
        assert_eq!(
            conds(&["foo"]).unwrap_err().text(),
            "ERR Unsupported option foo"
        );
    }

    #[test]
    fn conditions_against_current_ttl() {
        let gt = Conditions {
            gt: true,
            ..Default::default()
        };
        let lt = Conditions {
            lt: true,
            ..Default::default()
        };
        let nx = Conditions {
            nx: true,
            ..Default::default()
        };
        let xx = Conditions {
            xx: true,
            ..Default::default()
        };
        // No TTL is infinite: GT never passes, LT always does.
        assert!(!gt.allow(0, 100));
        assert!(lt.allow(0, 100));
        assert!(gt.allow(50, 100));
        assert!(!gt.allow(100, 100));
        assert!(lt.allow(150, 100));
        assert!(!lt.allow(100, 100));
        assert!(nx.allow(0, 1) && !nx.allow(5, 1));
        assert!(xx.allow(5, 1) && !xx.allow(0, 1));
    }

    #[test]
    fn overflow_is_detected() {
        assert_eq!(
            absolute_ms(9_223_372_036_854_775, Unit::Seconds, 0),
            Some(9_223_372_036_854_775_000)
        );
        assert_eq!(absolute_ms(9_223_372_036_854_776, Unit::Seconds, 0), None);
        assert_eq!(absolute_ms(-9_223_372_036_854_776, Unit::Seconds, 0), None);
        assert_eq!(absolute_ms(i64::MAX, Unit::Millis, 1), None);
        assert_eq!(
            absolute_ms(i64::MIN, Unit::Millis, 1000),
            Some(i64::MIN + 1000)
        );
    }
}
