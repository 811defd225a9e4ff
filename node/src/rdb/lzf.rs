//! LZF, the compression Redis applies to RDB strings (liblzf's format).
//!
//! The stream is a sequence of runs, each led by a control byte `c`:
//! * `c < 32`: a literal run, the next `c + 1` bytes are copied as is;
//! * otherwise a back reference: length code `n = c >> 5` (when 7, the next
//!   byte is added), then the low byte of the distance; `n + 2` bytes are
//!   copied from `((c & 0x1f) << 8 | low) + 1` bytes behind the output end,
//!   byte by byte, so the source may overlap what is being written.

use std::collections::TryReserveError;

/// Longest literal run one control byte can announce.
const MAX_LITERAL: usize = 32;
/// Longest back reference: length code 7 + 255, plus the implicit 2.
const MAX_MATCH: usize = 7 + 255 + 2;
/// Farthest a back reference can reach.
const MAX_DISTANCE: usize = 1 << 13;
/// Largest hash table (log2 entries) of recent 3-byte sequences the
/// compressor uses.
const HASH_BITS: u32 = 14;

/// Largest expansion one input byte can produce (a 3-byte reference that
/// yields MAX_MATCH bytes), used to reject impossible length claims early.
pub const MAX_RATIO: usize = MAX_MATCH.div_ceil(3) + 1;

/// Why a compressed stream could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LzfError {
    /// A run or reference needs more input than there is.
    Truncated,
    /// A back reference points before the start of the output.
    BadReference,
    /// The output would differ in length from the announced size.
    LengthMismatch { expected: usize, actual: usize },
    /// The announced size cannot be allocated.
    OutOfMemory,
}

impl std::fmt::Display for LzfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LzfError::Truncated => write!(f, "LZF stream is truncated"),
            LzfError::BadReference => write!(f, "LZF back reference before the output start"),
            LzfError::LengthMismatch { expected, actual } => write!(
                f,
                "LZF output length mismatch (expected {expected}, got {actual})"
            ),
            LzfError::OutOfMemory => write!(f, "LZF output too large to allocate"),
        }
    }
}

impl From<TryReserveError> for LzfError {
    fn from(_: TryReserveError) -> Self {
        LzfError::OutOfMemory
    }
}

/// Expands `input` into exactly `expected_len` bytes.
pub fn decompress(input: &[u8], expected_len: usize) -> Result<Vec<u8>, LzfError> {
    // Each input byte yields at most MAX_RATIO output bytes: a claim beyond
    // that is corrupt, and checking it first keeps a forged header from
    // reserving gigabytes.
    if expected_len > input.len().saturating_mul(MAX_RATIO) {
        return Err(LzfError::LengthMismatch {
            expected: expected_len,
            actual: input.len().saturating_mul(MAX_RATIO),
        });
    }
    let mut out = Vec::new();
    out.try_reserve_exact(expected_len)?;
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < MAX_LITERAL {
            let run = ctrl + 1;
            let lit = input.get(i..i + run).ok_or(LzfError::Truncated)?;
            if out.len() + run > expected_len {
                return Err(too_long(expected_len));
            }
            out.extend_from_slice(lit);
            i += run;
            continue;
        }
        let mut len = ctrl >> 5;
        if len == 7 {
            len += *input.get(i).ok_or(LzfError::Truncated)? as usize;
            i += 1;
        }
        len += 2;
        let low = *input.get(i).ok_or(LzfError::Truncated)? as usize;
        i += 1;
        let distance = ((ctrl & 0x1f) << 8 | low) + 1;
        if distance > out.len() {
            return Err(LzfError::BadReference);
        }
        if out.len() + len > expected_len {
            return Err(too_long(expected_len));
        }
        let start = out.len() - distance;
        if distance >= len {
            out.extend_from_within(start..start + len);
        } else {
            // Overlapping copy: later bytes repeat ones written by this run.
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    if out.len() != expected_len {
        return Err(LzfError::LengthMismatch {
            expected: expected_len,
            actual: out.len(),
        });
    }
    Ok(out)
}

fn too_long(expected: usize) -> LzfError {
    LzfError::LengthMismatch {
        expected,
        actual: expected + 1,
    }
}

fn hash3(data: &[u8], i: usize, bits: u32) -> usize {
    let v = (data[i] as u32) << 16 | (data[i + 1] as u32) << 8 | data[i + 2] as u32;
    (v.wrapping_mul(0x9e37_79b1) >> (32 - bits)) as usize
}

/// Compresses `input`, or returns None when the result would exceed
/// `max_out` bytes (the caller then stores the data raw).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(max_out.min(input.len()));
    // Position + 1 of the last occurrence of each hashed 3-byte sequence.
    // Sized to the input: a snapshot compresses millions of short strings,
    // and clearing a full-size table for each would dominate the cost.
    let bits = (usize::BITS - input.len().leading_zeros()).clamp(4, HASH_BITS);
    let mut table = vec![0usize; 1 << bits];
    let mut literal_start = 0;
    let mut i = 0;
    while i + 2 < input.len() {
        let h = hash3(input, i, bits);
        let candidate = table[h];
        table[h] = i + 1;
        if candidate != 0 {
            let cand = candidate - 1;
            let distance = i - cand;
            if distance <= MAX_DISTANCE && input[cand..cand + 3] == input[i..i + 3] {
                let limit = MAX_MATCH.min(input.len() - i);
                let mut len = 3;
                while len < limit && input[cand + len] == input[i + len] {
                    len += 1;
                }
                emit_literals(&mut out, &input[literal_start..i]);
                emit_reference(&mut out, distance - 1, len);
                if out.len() > max_out {
                    return None;
                }
                // Index the positions inside the match so later data can
                // refer to them too.
                let end = i + len;
                let mut j = i + 1;
                while j < end && j + 2 < input.len() {
                    table[hash3(input, j, bits)] = j + 1;
                    j += 1;
                }
                i = end;
                literal_start = i;
                continue;
            }
        }
        i += 1;
    }
    emit_literals(&mut out, &input[literal_start..]);
    (out.len() <= max_out).then_some(out)
}

fn emit_literals(out: &mut Vec<u8>, mut lit: &[u8]) {
    while !lit.is_empty() {
        let run = lit.len().min(MAX_LITERAL);
        out.push((run - 1) as u8);
        out.extend_from_slice(&lit[..run]);
        lit = &lit[run..];
    }
}

/// Writes a back reference; `offset` is distance - 1 (0..8192).
fn emit_reference(out: &mut Vec<u8>, offset: usize, len: usize) {
    let code = len - 2;
    let high = (offset >> 8) as u8;
    if code < 7 {
        out.push((code as u8) << 5 | high);
    } else {
        out.push(7 << 5 | high);
        out.push((code - 7) as u8);
    }
    out.push((offset & 0xff) as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) {
        match compress(data, data.len() + data.len() / 16 + 64) {
            Some(c) => assert_eq!(decompress(&c, data.len()).unwrap(), data),
            None => panic!("compression with generous room failed"),
        }
    }

    #[test]
    fn hand_made_streams() {
        // Literal "abc", then a reference of length 6 at distance 3.
        let stream = [2, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(decompress(&stream, 9).unwrap(), b"abcabcabc");
        // Long reference (length code 7 + extra byte) of a single byte.
        let stream = [0, b'x', (7 << 5), 10, 0];
        assert_eq!(decompress(&stream, 1 + 19).unwrap(), vec![b'x'; 20]);
        // A literal-only stream is valid.
        assert_eq!(decompress(&[1, b'h', b'i'], 2).unwrap(), b"hi");
    }

    #[test]
    fn corrupt_streams_are_rejected() {
        assert_eq!(decompress(&[5, b'a'], 6), Err(LzfError::Truncated));
        assert_eq!(decompress(&[(1 << 5), 0], 3), Err(LzfError::BadReference));
        assert!(matches!(
            decompress(&[0, b'a'], 2),
            Err(LzfError::LengthMismatch { .. })
        ));
        assert!(matches!(
            decompress(&[0, b'a', (7 << 5), 255, 0], 3),
            Err(LzfError::LengthMismatch { .. })
        ));
        assert!(decompress(&[0, b'a'], usize::MAX).is_err());
        assert!(decompress(&[0, b'a', (7 << 5)], 30).is_err());
    }

    #[test]
    fn compress_round_trips() {
        round_trip(b"");
        round_trip(b"a");
        round_trip(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        round_trip(&b"hello world ".repeat(1000));
        let noise: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        round_trip(&noise);
        let mixed: Vec<u8> = (0..20000u32).map(|i| (i % 251 / 3) as u8).collect();
        round_trip(&mixed);
        // Long runs exercise MAX_MATCH and references near MAX_DISTANCE.
        let mut far = vec![0u8; 9000];
        for (i, b) in far.iter_mut().enumerate() {
            *b = (i * 7 % 256) as u8 ^ (i / 8192) as u8;
        }
        round_trip(&far);
    }

    #[test]
    fn compression_saves_space_or_gives_up() {
        let data = b"abcabcabcabcabcabcabcabcabcabcabcabc".repeat(10);
        let c = compress(&data, data.len() - 4).unwrap();
        assert!(c.len() < data.len() / 4);
        let noise: Vec<u8> = (0..64u32).map(|i| (i * 97 + 13) as u8).collect();
        assert!(compress(&noise, noise.len() - 4).is_none());
    }
}
