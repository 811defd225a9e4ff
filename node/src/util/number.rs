//! Number parsing and formatting with Redis's exact rules.
//!
//! Redis is strict about integers (no `+`, no leading zeros, no spaces) and
//! parses floats with the C library; replies print doubles with `%.17g`.
//! Getting these byte-identical matters because clients and the differential
//! tests compare the text.

use std::os::raw::{c_char, c_int};

extern "C" {
    fn rh_parse_double(s: *const c_char, len: usize, out: *mut f64) -> c_int;
    fn rh_is_long_double(s: *const c_char, len: usize) -> c_int;
    fn rh_add_long_double(
        cur: *const c_char,
        cur_len: usize,
        incr: *const c_char,
        incr_len: usize,
        out: *mut c_char,
        cap: usize,
    ) -> c_int;
    fn rh_format_g17(v: f64, out: *mut c_char, cap: usize) -> c_int;
}

/// Parses a signed 64-bit integer exactly as Redis's `string2ll` does.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut value: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if negative {
        if value > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((value as i64).wrapping_neg())
    } else {
        if value > i64::MAX as u64 {
            return None;
        }
        Some(value as i64)
    }
}

/// Parses an unsigned 64-bit integer with the same strictness.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s == b"0" {
        return Some(0);
    }
    if s.is_empty() || s.len() > 20 || !(b'1'..=b'9').contains(&s[0]) {
        return None;
    }
    let mut value: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(value)
}

/// Parses a double the way Redis's `string2d` does (C `strtod`, whole
/// string, no leading space, no NaN, overflow rejected).
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let mut out = 0.0f64;
    // SAFETY: the pointer/length pair describes a live slice; the C side
    // copies it into its own NUL-terminated buffer and writes one f64.
    let ok = unsafe { rh_parse_double(s.as_ptr() as *const c_char, s.len(), &mut out) };
    (ok == 1).then_some(out)
}

/// True when `s` is accepted by Redis's `string2ld` (long double).
pub fn is_long_double(s: &[u8]) -> bool {
    // SAFETY: as in `parse_f64`; the C side only reads the slice.
    unsafe { rh_is_long_double(s.as_ptr() as *const c_char, s.len()) == 1 }
}

/// Outcome of adding two long doubles for INCRBYFLOAT / HINCRBYFLOAT.
pub enum LongDoubleSum {
    Ok(Vec<u8>),
    NotAFloat,
    NanOrInfinity,
}

/// `current + incr` computed in C `long double` and printed with Redis's
/// human format (`%.17Lf` with trailing zeroes removed). `current` None
/// means 0 (missing key).
pub fn add_long_double(current: Option<&[u8]>, incr: &[u8]) -> LongDoubleSum {
    let mut buf = [0u8; 5200];
    let (cur_ptr, cur_len) = match current {
        Some(c) => (c.as_ptr() as *const c_char, c.len()),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: both inputs are live slices (or null for "no current value",
    // which the C side checks) and `buf` is writable for `buf.len()` bytes.
    let n = unsafe {
        rh_add_long_double(
            cur_ptr,
            cur_len,
            incr.as_ptr() as *const c_char,
            incr.len(),
            buf.as_mut_ptr() as *mut c_char,
            buf.len(),
        )
    };
    match n {
        -2 => LongDoubleSum::NanOrInfinity,
        n if n < 0 => LongDoubleSum::NotAFloat,
        n => LongDoubleSum::Ok(buf[..n as usize].to_vec()),
    }
}

/// Formats a double as Redis 7.0 does in replies: `inf`, `-inf`, else `%.17g`.
pub fn format_double(v: f64) -> Vec<u8> {
    if v.is_infinite() {
        return if v > 0.0 {
            b"inf".to_vec()
        } else {
            b"-inf".to_vec()
        };
    }
    if v.is_nan() {
        return b"nan".to_vec();
    }
    let mut buf = [0u8; 64];
    // SAFETY: `buf` is writable for its length; snprintf never writes more.
    let n = unsafe { rh_format_g17(v, buf.as_mut_ptr() as *mut c_char, buf.len()) };
    buf[..n.clamp(0, 63) as usize].to_vec()
}

/// Formats an i64 in decimal.
pub fn format_i64(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        for bad in [&b""[..], b"-0", b"+1", b"01", b" 1", b"1 ", b"1a", b"-"] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn doubles_follow_strtod() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1x"), None);
        assert_eq!(parse_f64(b""), None);
        assert_eq!(format_double(0.1), b"0.10000000000000001".to_vec());
        assert_eq!(format_double(2.0), b"2".to_vec());
        assert_eq!(format_double(f64::NEG_INFINITY), b"-inf".to_vec());
    }

    #[test]
    fn long_double_sums_are_human_formatted() {
        match add_long_double(Some(b"10.5"), b"0.1") {
            LongDoubleSum::Ok(v) => assert_eq!(v, b"10.6".to_vec()),
            _ => panic!("expected a sum"),
        }
        assert!(matches!(
            add_long_double(None, b"abc"),
            LongDoubleSum::NotAFloat
        ));
        assert!(matches!(
            add_long_double(Some(b"inf"), b"-inf"),
            LongDoubleSum::NanOrInfinity
        ));
    }
}
