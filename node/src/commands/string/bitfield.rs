//! BITFIELD and BITFIELD_RO: integers of 1..64 bits at arbitrary bit
//! offsets, most significant bit first, with WRAP / SAT / FAIL overflow.

use super::super::args::{eq_ic, int};
use super::bits::{bit_offset, edit_bits};
use super::{db_and_reply, read_string};
use crate::commands::{CmdError, CmdResult};
use crate::server::context::Ctx;
use crate::util::number;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpKind {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One GET / SET / INCRBY with the OVERFLOW policy in force at its place.
#[derive(Clone, Copy, Debug)]
struct FieldOp {
    kind: OpKind,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

pub(super) fn bitfield(ctx: &mut Ctx) -> CmdResult {
    run(ctx, false)
}

pub(super) fn bitfield_ro(ctx: &mut Ctx) -> CmdResult {
    run(ctx, true)
}

fn run(ctx: &mut Ctx, read_only_command: bool) -> CmdResult {
    let ops = parse_ops(ctx)?;
    let highest_write_bit = ops
        .iter()
        .filter(|op| op.kind != OpKind::Get)
        .map(|op| op.offset + op.bits as u64 - 1)
        .max();
    match highest_write_bit {
        None => run_reads(ctx, &ops),
        Some(_) if read_only_command => Err(CmdError::msg(
            "ERR BITFIELD_RO only supports the GET subcommand",
        )),
        Some(max_bit) => run_writes(ctx, &ops, max_bit),
    }
}

const TYPE_ERROR: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// `i<bits>` (1..=64) or `u<bits>` (1..=63): (signed, bits).
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let err = || CmdError::msg(TYPE_ERROR);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    let bits = number::parse_i64(&arg[1..]).ok_or_else(err)?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&bits) {
        return Err(err());
    }
    Ok((signed, bits as u32))
}

fn parse_ops(ctx: &Ctx) -> Result<Vec<FieldOp>, CmdError> {
    let args = ctx.args;
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let remaining = args.len() - j - 1;
        let sub = &args[j][..];
        let is_get = eq_ic(sub, "get") && remaining >= 2;
        let is_set = eq_ic(sub, "set") && remaining >= 3;
        let is_incr = eq_ic(sub, "incrby") && remaining >= 3;
        if eq_ic(sub, "overflow") && remaining >= 1 {
            let policy = &args[j + 1][..];
            overflow = if eq_ic(policy, "wrap") {
                Overflow::Wrap
            } else if eq_ic(policy, "sat") {
                Overflow::Sat
            } else if eq_ic(policy, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::msg("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        }
        if !(is_get || is_set || is_incr) {
            return Err(CmdError::Syntax);
        }
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(ctx, &args[j + 2], Some(bits))?;
        let kind = if is_get {
            OpKind::Get
        } else {
            let value = int(&args[j + 3])?;
            if is_set {
                OpKind::Set(value)
            } else {
                OpKind::IncrBy(value)
            }
        };
        ops.push(FieldOp {
            kind,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if is_get { 3 } else { 4 };
    }
    Ok(ops)
}

/// Only GETs: the key is read, never created.
fn run_reads(ctx: &mut Ctx, ops: &[FieldOp]) -> CmdResult {
    let args = ctx.args;
    let (db, reply) = db_and_reply(ctx);
    let value = read_string(db, &args[1])?.map_or(&[][..], |s| &s[..]);
    reply.array_len(ops.len());
    for op in ops {
        reply.int(read_field(value, op));
    }
    Ok(())
}

/// At least one SET / INCRBY: the string is created or grown to hold the
/// highest bit written, then the operations run in order.
fn run_writes(ctx: &mut Ctx, ops: &[FieldOp], max_bit: u64) -> CmdResult {
    let args = ctx.args;
    let (results, changes) = edit_bits(ctx.db(), &args[1], max_bit, |v, grown| {
        let mut changes = 0;
        let results: Vec<Option<i64>> = ops
            .iter()
            .map(|op| match op.kind {
                OpKind::Get => Some(read_field(v, op)),
                _ => {
                    let (reply, changed) = write_field(v, op)?;
                    // Creating or growing the string counts as a change too.
                    if grown || changed {
                        changes += 1;
                    }
                    Some(reply)
                }
            })
            .collect();
        (results, changes)
    })?;
    if changes > 0 {
        ctx.dirty(changes);
    }
    ctx.reply.array_len(results.len());
    for r in results {
        match r {
            Some(n) => ctx.reply.int(n),
            None => ctx.reply.null(),
        }
    }
    Ok(())
}

fn read_field(bytes: &[u8], op: &FieldOp) -> i64 {
    let raw = get_unsigned(bytes, op.offset, op.bits);
    if op.signed {
        sign_extend(raw, op.bits)
    } else {
        raw as i64
    }
}

/// Runs one SET / INCRBY. Returns None when FAIL blocked it, else the
/// reply (old value for SET, new value for INCRBY) and whether the stored
/// field changed.
fn write_field(bytes: &mut [u8], op: &FieldOp) -> Option<(i64, bool)> {
    let (reply, old, new, overflowed) = if op.signed {
        let old = sign_extend(get_unsigned(bytes, op.offset, op.bits), op.bits);
        let (mut new, overflow) = match op.kind {
            OpKind::IncrBy(by) => (
                old.wrapping_add(by),
                signed_overflow(old, by, op.bits, op.overflow),
            ),
            _ => {
                let v = set_value(op);
                (v, signed_overflow(v, 0, op.bits, op.overflow))
            }
        };
        if let Some(limit) = overflow {
            new = limit;
        }
        let reply = if matches!(op.kind, OpKind::IncrBy(_)) {
            new
        } else {
            old
        };
        (reply, old as u64, new as u64, overflow.is_some())
    } else {
        let old = get_unsigned(bytes, op.offset, op.bits);
        let (mut new, overflow) = match op.kind {
            OpKind::IncrBy(by) => (
                old.wrapping_add(by as u64),
                unsigned_overflow(old, by, op.bits, op.overflow),
            ),
            _ => {
                let v = set_value(op) as u64;
                (v, unsigned_overflow(v, 0, op.bits, op.overflow))
            }
        };
        if let Some(limit) = overflow {
            new = limit;
        }
        let reply = if matches!(op.kind, OpKind::IncrBy(_)) {
            new
        } else {
            old
        };
        (reply as i64, old, new, overflow.is_some())
    };
    if overflowed && op.overflow == Overflow::Fail {
        return None;
    }
    set_unsigned(bytes, op.offset, op.bits, new);
    Some((reply, old != new))
}

fn set_value(op: &FieldOp) -> i64 {
    match op.kind {
        OpKind::Set(v) => v,
        _ => 0,
    }
}

/// Reads `bits` bits at `offset`; bits past the end read as 0.
fn get_unsigned(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    (offset..offset + bits as u64).fold(0u64, |acc, i| {
        let byte = bytes.get((i >> 3) as usize).copied().unwrap_or(0);
        (acc << 1) | ((byte >> (7 - (i & 7))) & 1) as u64
    })
}

/// Writes the low `bits` bits of `value` at `offset` (inside `bytes`).
fn set_unsigned(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits as u64 {
        let i = offset + j;
        let Some(byte) = bytes.get_mut((i >> 3) as usize) else {
            return;
        };
        let mask = 0x80u8 >> (i & 7);
        if (value >> (bits as u64 - 1 - j)) & 1 == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

fn sign_extend(raw: u64, bits: u32) -> i64 {
    if bits < 64 && raw & (1 << (bits - 1)) != 0 {
        (raw | (u64::MAX << bits)) as i64
    } else {
        raw as i64
    }
}

/// Overflow of `value + incr` in an unsigned field of `bits` bits. None
/// when it fits; else the value WRAP or SAT stores (ignored under FAIL).
/// The arithmetic mirrors Redis's checkUnsignedBitfieldOverflow, including
/// how it treats a SET of a negative number (a huge unsigned value).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, policy: Overflow) -> Option<u64> {
    let max: u64 = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = (value as i64).wrapping_neg();
    let wrapped = || {
        let sum = value.wrapping_add(incr as u64);
        if bits == 64 {
            sum
        } else {
            sum & !(u64::MAX << bits)
        }
    };
    let high = value > max || (incr > 0 && incr > max_incr);
    let low = !high && incr < 0 && incr < min_incr;
    match (high, low, policy) {
        (false, false, _) => None,
        (_, _, Overflow::Wrap | Overflow::Fail) => Some(wrapped()),
        (true, _, Overflow::Sat) => Some(max),
        (false, true, Overflow::Sat) => Some(0),
    }
}

/// The signed counterpart (checkSignedBitfieldOverflow), with Redis's
/// wrapping intermediate arithmetic kept as is.
fn signed_overflow(value: i64, incr: i64, bits: u32, policy: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrapped = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let upper = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= upper;
            } else {
                c &= !upper;
            }
        }
        c as i64
    };
    let high = value > max
        || (bits != 64 && incr > max_incr)
        || (value >= 0 && incr > 0 && incr > max_incr);
    let low = !high
        && (value < min
            || (bits != 64 && incr < min_incr)
            || (value < 0 && incr < 0 && incr < min_incr));
    match (high, low, policy) {
        (false, false, _) => None,
        (_, _, Overflow::Wrap | Overflow::Fail) => Some(wrapped()),
        (true, _, Overflow::Sat) => Some(max),
        (false, true, Overflow::Sat) => Some(min),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_across_bytes() {
        let mut buf = [0u8; 10];
        set_unsigned(&mut buf, 5, 13, 0x1abc);
        assert_eq!(get_unsigned(&buf, 5, 13), 0x1abc);
        set_unsigned(&mut buf, 3, 64, u64::MAX - 5);
        assert_eq!(get_unsigned(&buf, 3, 64), u64::MAX - 5);
        assert_eq!(sign_extend(0xff, 8), -1);
        assert_eq!(sign_extend(0x7f, 8), 127);
        assert_eq!(get_unsigned(b"\xff", 4, 8), 0xf0);
    }

    #[test]
    fn overflow_policies() {
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Wrap), Some(4));
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Wrap), Some(251));
        assert_eq!(unsigned_overflow(5, 10, 8, Overflow::Wrap), None);
        assert_eq!(signed_overflow(120, 10, 8, Overflow::Wrap), Some(-126));
        assert_eq!(signed_overflow(120, 10, 8, Overflow::Sat), Some(127));
        assert_eq!(signed_overflow(-120, -10, 8, Overflow::Sat), Some(-128));
        assert_eq!(signed_overflow(-120, -10, 8, Overflow::Wrap), Some(126));
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            Some(i64::MIN)
        );
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Sat),
            Some(i64::MAX)
        );
        assert_eq!(signed_overflow(-5, 3, 64, Overflow::Sat), None);
        // SET of a value outside the field (incr 0).
        assert_eq!(signed_overflow(200, 0, 8, Overflow::Sat), Some(127));
        assert_eq!(signed_overflow(-200, 0, 8, Overflow::Sat), Some(-128));
        assert_eq!(unsigned_overflow(u64::MAX, 0, 8, Overflow::Sat), Some(255));
    }

    #[test]
    fn types() {
        assert_eq!(field_type(b"i64").ok(), Some((true, 64)));
        assert_eq!(field_type(b"u63").ok(), Some((false, 63)));
        for bad in [&b"u64"[..], b"i65", b"i0", b"I8", b"i", b"", b"u-1", b"i08"] {
            assert!(field_type(bad).is_err(), "{bad:?}");
        }
    }
}
