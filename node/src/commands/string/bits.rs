//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, and the bit
//! helpers BITFIELD shares. Bit 0 is the most significant bit of byte 0.

use super::super::args::{eq_ic, int};
use super::{db_and_reply, raw_entry, read_string, write_string};
use crate::commands::{CmdError, CmdResult};
use crate::db::{Db, Entry, Value};
use crate::server::context::Ctx;
use crate::util::number;

const BIT_OFFSET_ERROR: &str = "ERR bit offset is not an integer or out of range";

/// Parses a bit offset (Redis's getBitOffsetFromArgument). With
/// `hash_width`, "#n" means the n-th field of that width (BITFIELD). The
/// byte holding the bit must fit proto-max-bulk-len, except on our master's
/// stream.
pub(super) fn bit_offset(ctx: &Ctx, arg: &[u8], hash_width: Option<u32>) -> Result<u64, CmdError> {
    let err = || CmdError::msg(BIT_OFFSET_ERROR);
    let (digits, width) = match (arg.first(), hash_width) {
        (Some(b'#'), Some(w)) => (&arg[1..], Some(w)),
        _ => (arg, None),
    };
    let mut offset = number::parse_i64(digits).ok_or_else(err)?;
    if let Some(w) = width {
        // Redis multiplies without an overflow check; a wrapped product is
        // then rejected (negative) or accepted exactly as it does.
        offset = offset.wrapping_mul(w as i64);
    }
    if offset < 0 {
        return Err(err());
    }
    if let Some(limit) = super::string_limit(ctx) {
        if (offset as u64 >> 3) >= limit {
            return Err(err());
        }
    }
    Ok(offset as u64)
}

/// Redis's lookupStringForBitCommand: the string at `key`, created or
/// zero-padded so that bit `max_bit` exists, then edited by `f`. `f` also
/// learns whether the string was created or grown (which counts as a change
/// even if no bit flips). The result is a "raw" string.
pub(super) fn edit_bits<R>(
    db: &mut Db,
    key: &[u8],
    max_bit: u64,
    f: impl FnOnce(&mut Vec<u8>, bool) -> R,
) -> Result<R, CmdError> {
    let needed = (max_bit >> 3) as usize + 1;
    match write_string(db, key)? {
        Some(mut slot) => Ok(slot.edit(|v| {
            let grown = v.len() < needed;
            if grown {
                v.resize(needed, 0);
            }
            f(v, grown)
        })),
        None => {
            let mut v = vec![0u8; needed];
            let out = f(&mut v, true);
            db.set_entry(key, raw_entry(v));
            Ok(out)
        }
    }
}

/// Mask of the bit at `offset` within its byte.
fn bit_mask(offset: u64) -> u8 {
    0x80 >> (offset & 7)
}

pub(super) fn setbit(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let offset = bit_offset(ctx, &args[2], None)?;
    let value_error = || CmdError::msg("ERR bit is not an integer or out of range");
    let on = number::parse_i64(&args[3]).ok_or_else(value_error)?;
    if on & !1 != 0 {
        return Err(value_error());
    }
    let (was_set, changed) = edit_bits(ctx.db(), &args[1], offset, |v, grown| {
        let byte = &mut v[(offset >> 3) as usize];
        let mask = bit_mask(offset);
        let was_set = *byte & mask != 0;
        if on == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
        (was_set, grown || was_set != (on == 1))
    })?;
    if changed {
        ctx.dirty(1);
    }
    ctx.reply.int(was_set as i64);
    Ok(())
}

pub(super) fn getbit(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let offset = bit_offset(ctx, &args[2], None)?;
    let (db, reply) = db_and_reply(ctx);
    let set = read_string(db, &args[1])?
        .and_then(|s| s.get((offset >> 3) as usize).copied())
        .is_some_and(|byte| byte & bit_mask(offset) != 0);
    reply.int(set as i64);
    Ok(())
}

/// BIT or BYTE (the unit of BITCOUNT / BITPOS ranges): true for BIT.
fn range_unit_is_bit(arg: &[u8]) -> Result<bool, CmdError> {
    if eq_ic(arg, "bit") {
        Ok(true)
    } else if eq_ic(arg, "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Resolves an inclusive range over `total` units (negative = from the
/// end); None when it is empty.
fn clamp_range(mut start: i64, mut end: i64, total: i64) -> Option<(u64, u64)> {
    if start < 0 {
        start = start.saturating_add(total);
    }
    if end < 0 {
        end = end.saturating_add(total);
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    (start <= end).then_some((start as u64, end as u64))
}

/// A resolved range in bits: (first, last) inclusive.
fn to_bit_range((start, end): (u64, u64), in_bits: bool) -> (u64, u64) {
    if in_bits {
        (start, end)
    } else {
        (start * 8, end * 8 + 7)
    }
}

/// Set bits in a byte slice.
fn popcount(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        n += u64::from_ne_bytes(word).count_ones() as u64;
    }
    n + chunks
        .remainder()
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum::<u64>()
}

/// Set bits among bits `first..=last` (both within `bytes`).
fn count_bits(bytes: &[u8], first: u64, last: u64) -> u64 {
    let (first_byte, last_byte) = ((first >> 3) as usize, (last >> 3) as usize);
    let whole = popcount(&bytes[first_byte..=last_byte]);
    // Take back the bits of the edge bytes that fall outside the range.
    let before_first = !(0xFFu8 >> (first & 7));
    let after_last = 0xFFu8.checked_shr(((last & 7) + 1) as u32).unwrap_or(0);
    let outside = (bytes[first_byte] & before_first).count_ones()
        + (bytes[last_byte] & after_last).count_ones();
    whole - outside as u64
}

pub(super) fn bitcount(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let (db, reply) = db_and_reply(ctx);
    // Redis 7.0 looks the key up first: a missing key counts 0 whatever
    // the other arguments are.
    let Some(s) = read_string(db, &args[1])? else {
        reply.int(0);
        return Ok(());
    };
    let count = match args.len() {
        2 => popcount(s),
        4 | 5 => {
            let start = int(&args[2])?;
            let end = int(&args[3])?;
            if start < 0 && end < 0 && start > end {
                reply.int(0);
                return Ok(());
            }
            let in_bits = match args.get(4) {
                Some(unit) => range_unit_is_bit(unit)?,
                None => false,
            };
            let total = if in_bits {
                s.len() as i64 * 8
            } else {
                s.len() as i64
            };
            match clamp_range(start, end, total) {
                Some(range) => {
                    let (first, last) = to_bit_range(range, in_bits);
                    count_bits(s, first, last)
                }
                None => 0,
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    reply.int(count as i64);
    Ok(())
}

/// Position of the first bit equal to `target` among bits `first..=last`.
fn find_bit(bytes: &[u8], first: u64, last: u64, target: bool) -> Option<u64> {
    let (first_byte, last_byte) = ((first >> 3) as usize, (last >> 3) as usize);
    // Looking for a 0 is looking for a 1 in the complement.
    let look = |i: usize| if target { bytes[i] } else { !bytes[i] };
    let in_range = |i: usize| {
        let mut m = 0xFFu8;
        if i == first_byte {
            m &= 0xFF >> (first & 7);
        }
        if i == last_byte {
            m &= 0xFF << (7 - (last & 7));
        }
        m
    };
    let hit = |i: usize| {
        let b = look(i) & in_range(i);
        (b != 0).then(|| i as u64 * 8 + b.leading_zeros() as u64)
    };
    if let Some(p) = hit(first_byte) {
        return Some(p);
    }
    if last_byte > first_byte + 1 {
        // Skip whole bytes that cannot contain the target quickly.
        let skip = if target { 0x00 } else { 0xFF };
        let middle = &bytes[first_byte + 1..last_byte];
        if let Some(k) = middle.iter().position(|&b| b != skip) {
            return hit(first_byte + 1 + k);
        }
    }
    if last_byte > first_byte {
        return hit(last_byte);
    }
    None
}

pub(super) fn bitpos(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let bit = int(&args[2])?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::msg("ERR The bit argument must be 1 or 0."));
    }
    let target = bit == 1;
    let (db, reply) = db_and_reply(ctx);
    // A missing key is an endless run of zeros.
    let Some(s) = read_string(db, &args[1])? else {
        reply.int(if target { -1 } else { 0 });
        return Ok(());
    };
    let len = s.len() as i64;
    let (range, in_bits, end_given) = match args.len() {
        3 => (clamp_range(0, len - 1, len), false, false),
        4..=6 => {
            let start = int(&args[3])?;
            let in_bits = match args.get(5) {
                Some(unit) => range_unit_is_bit(unit)?,
                None => false,
            };
            let end = match args.get(4) {
                Some(e) => Some(int(e)?),
                None => None,
            };
            let total = if in_bits { len * 8 } else { len };
            (
                clamp_range(start, end.unwrap_or(total - 1), total),
                in_bits,
                end.is_some(),
            )
        }
        _ => return Err(CmdError::Syntax),
    };
    // An empty range holds neither a 0 nor a 1.
    let Some(range) = range else {
        reply.int(-1);
        return Ok(());
    };
    let (first, last) = to_bit_range(range, in_bits);
    let pos = match find_bit(s, first, last, target) {
        Some(p) => p as i64,
        // Without an explicit end the string is seen as padded with zeros,
        // so the first clear bit is just past its end.
        None if !target && !end_given => last as i64 + 1,
        None => -1,
    };
    reply.int(pos);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

pub(super) fn bitop(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let op = [
        ("and", BitOp::And),
        ("or", BitOp::Or),
        ("xor", BitOp::Xor),
        ("not", BitOp::Not),
    ]
    .into_iter()
    .find(|(name, _)| eq_ic(&args[1], name))
    .map(|(_, op)| op)
    .ok_or(CmdError::Syntax)?;
    if op == BitOp::Not && args.len() != 4 {
        return Err(CmdError::msg(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let (dest, sources) = (&args[2][..], &args[3..]);
    // Only the destination is modified: WATCHes on the sources survive.
    ctx.signal_only_touched();
    let db_index = ctx.db_index();
    let db = ctx.db();
    // First pass: expiry, keyspace stats and type checks, as lookups do.
    let mut max_len = 0;
    for key in sources {
        if let Some(s) = read_string(db, key)? {
            max_len = max_len.max(s.len());
        }
    }
    // An empty result deletes the destination.
    let changed = if max_len == 0 {
        db.delete(dest)
    } else {
        let result = combine(db, sources, op, max_len);
        db.set_entry(dest, raw_entry(result));
        true
    };
    if changed {
        ctx.dirty(1);
        ctx.touch(db_index, dest);
    }
    ctx.reply.int(max_len as i64);
    Ok(())
}

/// The bitwise combination of the source strings; shorter (or missing)
/// sources count as zero bytes.
fn combine(db: &Db, sources: &[bytes::Bytes], op: BitOp, max_len: usize) -> Vec<u8> {
    let value = |key: &[u8]| match db.peek(key) {
        Some(Entry {
            value: Value::Str(s),
            ..
        }) => &s[..],
        _ => &[][..],
    };
    let mut out = value(&sources[0]).to_vec();
    out.resize(max_len, 0);
    if op == BitOp::Not {
        out.iter_mut().for_each(|b| *b = !*b);
        return out;
    }
    for key in &sources[1..] {
        let src = value(key);
        let (covered, rest) = out.split_at_mut(src.len().min(max_len));
        for (o, s) in covered.iter_mut().zip(src) {
            match op {
                BitOp::And => *o &= s,
                BitOp::Or => *o |= s,
                BitOp::Xor => *o ^= s,
                BitOp::Not => {}
            }
        }
        if op == BitOp::And {
            rest.fill(0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious bit-by-bit definition, to check the fast paths against.
    fn slow_find(bytes: &[u8], first: u64, last: u64, target: bool) -> Option<u64> {
        (first..=last).find(|&i| (bytes[(i >> 3) as usize] & bit_mask(i) != 0) == target)
    }

    fn slow_count(bytes: &[u8], first: u64, last: u64) -> u64 {
        (first..=last)
            .filter(|&i| bytes[(i >> 3) as usize] & bit_mask(i) != 0)
            .count() as u64
    }

    #[test]
    fn bit_search_and_count_match_the_definition() {
        let samples: [&[u8]; 5] = [
            b"\xff\xf0\x00\x0f\xff",
            b"\x00\x00\x00\x01",
            b"\xff\xff\xff",
            b"a",
            b"foobar\x00\xff",
        ];
        for bytes in samples {
            let bits = bytes.len() as u64 * 8;
            for first in 0..bits {
                for last in first..bits {
                    for target in [false, true] {
                        assert_eq!(
                            find_bit(bytes, first, last, target),
                            slow_find(bytes, first, last, target),
                            "{bytes:?} {first} {last} {target}"
                        );
                    }
                    assert_eq!(
                        count_bits(bytes, first, last),
                        slow_count(bytes, first, last)
                    );
                }
            }
        }
    }

    #[test]
    fn ranges_clamp_like_redis() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-10, -20, 3), Some((0, 0)));
        assert_eq!(clamp_range(5, 10, 3), None);
        assert_eq!(clamp_range(0, -1, 0), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
    }

    #[test]
    fn popcount_handles_remainders() {
        assert_eq!(popcount(b""), 0);
        assert_eq!(popcount(b"\xff"), 8);
        assert_eq!(popcount(&[0xffu8; 17]), 136);
        assert_eq!(popcount(b"foobar"), 26);
    }
}
