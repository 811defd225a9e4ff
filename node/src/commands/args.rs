//! Argument parsing shared by command handlers, with Redis's error texts.

use super::CmdError;
use crate::util::number;

pub fn eq_ic(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

pub fn int(arg: &[u8]) -> Result<i64, CmdError> {
    number::parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// A float argument (strtod rules): "ERR value is not a valid float".
pub fn float(arg: &[u8]) -> Result<f64, CmdError> {
    number::parse_f64(arg).ok_or(CmdError::NotFloat)
}

/// An integer that must be >= 0, with Redis's "out of range" message for
/// commands that report it as `ERR value is out of range, must be positive`.
pub fn positive_int(arg: &[u8]) -> Result<i64, CmdError> {
    let n = int(arg)?;
    if n < 0 {
        return Err(CmdError::msg("ERR value is out of range, must be positive"));
    }
    Ok(n)
}

/// A blocking command's timeout in seconds (may be fractional). Returns None
/// for 0 (wait forever), else milliseconds.
///
/// Redis reads the seconds as a long double and truncates seconds * 1000 to
/// a long long: a tiny negative like -0.0001 is 0 (forever), and values too
/// big for a long long (inf, 1e30) convert to LLONG_MIN on x86, so they are
/// "negative". A deadline past the end of time waits forever.
pub fn block_timeout(arg: &[u8]) -> Result<Option<i64>, CmdError> {
    if !number::is_long_double(arg) {
        return Err(CmdError::msg("ERR timeout is not a float or out of range"));
    }
    let secs = number::parse_f64_loose(arg).unwrap_or(0.0);
    let ms = (secs * 1000.0).trunc();
    // 2^63 as f64: the first value a long long cannot hold.
    let limit = i64::MAX as f64;
    let ms = if (-limit..limit).contains(&ms) {
        ms as i64
    } else {
        i64::MIN
    };
    if ms < 0 {
        return Err(CmdError::msg("ERR timeout is negative"));
    }
    if ms == 0 || ms > i64::MAX - crate::util::time::now_ms() {
        return Ok(None);
    }
    Ok(Some(ms))
}

/// The arity error text for a command or `container|sub`.
pub fn arity_error(name: &str) -> CmdError {
    CmdError::WrongArity(name.to_ascii_lowercase())
}

/// Options of SCAN / HSCAN / SSCAN / ZSCAN.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub pattern: Option<bytes::Bytes>,
    pub count: usize,
    pub type_filter: Option<bytes::Bytes>,
}

/// Parses a SCAN cursor as Redis does with C `strtoul`: `ERR invalid cursor`
/// unless the text (up to a NUL byte) is an optionally signed decimal that
/// fits 64 bits. Like strtoul, "-1" wraps to 2^64-1 and "" is 0.
pub fn scan_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::msg("ERR invalid cursor");
    let text = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    if text.is_empty() {
        return Ok(0);
    }
    let (negative, digits) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut value: u64 = 0;
    for &d in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add((d - b'0') as u64))
            .ok_or_else(invalid)?;
    }
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// Parses `[MATCH pattern] [COUNT n] [TYPE t]` starting at `args[from]`.
/// TYPE is only accepted by SCAN (`allow_type`).
pub fn scan_options(
    args: &[bytes::Bytes],
    from: usize,
    allow_type: bool,
) -> Result<ScanOptions, CmdError> {
    let mut opts = ScanOptions {
        pattern: None,
        count: 10,
        type_filter: None,
    };
    let mut i = from;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        if eq_ic(&args[i], "count") && has_value {
            let n = int(&args[i + 1])?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            opts.count = n as usize;
        } else if eq_ic(&args[i], "match") && has_value {
            let p = args[i + 1].clone();
            // MATCH * filters nothing; Redis skips the matching work.
            opts.pattern = (p.as_ref() != b"*").then_some(p);
        } else if allow_type && eq_ic(&args[i], "type") && has_value {
            opts.type_filter = Some(args[i + 1].clone());
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(opts)
}

impl ScanOptions {
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|p| crate::glob::glob_match(p, item, false))
    }
}

/// Writes `[cursor, [items...]]`.
pub fn reply_scan(reply: &mut crate::resp::Reply, cursor: u64, items: &[&[u8]]) {
    reply.array_len(2);
    reply.bulk(cursor.to_string().as_bytes());
    reply.array_len(items.len());
    for i in items {
        reply.bulk(i);
    }
}
