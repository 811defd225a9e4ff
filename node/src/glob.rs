//! Glob-style matching with Redis's rules (KEYS, SCAN MATCH, PSUBSCRIBE,
//! CONFIG GET): `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, and `\` to escape.

/// True when `text` matches `pattern`.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    // Bound the backtracking work: a pathological pattern on a long string
    // must not stall the server (Redis 7 adds the same kind of limit).
    let mut budget: u32 = 1_000_000;
    match_here(pattern, text, nocase, &mut budget)
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

fn match_here(mut p: &[u8], mut s: &[u8], nocase: bool, budget: &mut u32) -> bool {
    while !p.is_empty() {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                for i in 0..=s.len() {
                    if match_here(&p[1..], &s[i..], nocase, budget) {
                        return true;
                    }
                    if *budget == 0 {
                        return false;
                    }
                }
                return false;
            }
            b'?' => {
                if s.is_empty() {
                    return false;
                }
                s = &s[1..];
                p = &p[1..];
            }
            b'[' => {
                if s.is_empty() {
                    return false;
                }
                let (matched, rest) = match_class(&p[1..], s[0], nocase);
                if !matched {
                    return false;
                }
                p = rest;
                s = &s[1..];
            }
            b'\\' if p.len() >= 2 => {
                if s.is_empty() || !eq(p[1], s[0], nocase) {
                    return false;
                }
                p = &p[2..];
                s = &s[1..];
            }
            c => {
                if s.is_empty() || !eq(c, s[0], nocase) {
                    return false;
                }
                p = &p[1..];
                s = &s[1..];
            }
        }
    }
    s.is_empty()
}

/// Matches one character class; `p` starts after '['. Returns whether `c`
/// matched and the pattern after the closing ']'.
fn match_class(mut p: &[u8], c: u8, nocase: bool) -> (bool, &[u8]) {
    let negate = p.first() == Some(&b'^');
    if negate {
        p = &p[1..];
    }
    let mut matched = false;
    loop {
        if p.is_empty() {
            // Unterminated class: Redis treats the end of pattern as the close.
            break;
        }
        if p[0] == b'\\' && p.len() >= 2 {
            if eq(p[1], c, nocase) {
                matched = true;
            }
            p = &p[2..];
        } else if p[0] == b']' {
            p = &p[1..];
            break;
        } else if p.len() >= 3 && p[1] == b'-' {
            let (mut start, mut end) = (p[0], p[2]);
            if start > end {
                std::mem::swap(&mut start, &mut end);
            }
            let (lo, hi, ch) = if nocase {
                (
                    start.to_ascii_lowercase(),
                    end.to_ascii_lowercase(),
                    c.to_ascii_lowercase(),
                )
            } else {
                (start, end, c)
            };
            if ch >= lo && ch <= hi {
                matched = true;
            }
            p = &p[3..];
        } else {
            if eq(p[0], c, nocase) {
                matched = true;
            }
            p = &p[1..];
        }
    }
    (matched != negate, p)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn redis_rules() {
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h*llo", b"heeeello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"h\\*llo", b"h*llo", false));
        assert!(!glob_match(b"h\\*llo", b"hello", false));
        assert!(glob_match(b"*", b"", false));
        assert!(glob_match(b"MAXMEM*", b"maxmemory", true));
        assert!(!glob_match(b"a*b", b"acd", false));
    }
}
