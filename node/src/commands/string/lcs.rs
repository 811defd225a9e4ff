//! LCS: the longest common subsequence of two strings, with LEN, IDX,
//! MINMATCHLEN and WITHMATCHLEN, using the classic dynamic-programming
//! table and the same backtracking order as Redis (so the same ranges).

use super::super::args::{eq_ic, int};
use crate::commands::{CmdError, CmdResult};
use crate::db::{CompactBytes, Db, Entry, Value};
use crate::server::context::Ctx;

#[derive(Debug, Default)]
struct LcsOptions {
    idx: bool,
    len: bool,
    with_match_len: bool,
    min_match_len: u64,
}

/// One matching range: positions in a and b (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Match {
    a: (u32, u32),
    b: (u32, u32),
}

impl Match {
    fn len(&self) -> u32 {
        self.a.1 - self.a.0 + 1
    }
}

pub(super) fn lcs(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args;
    let db = ctx.db();
    let a = string_or_empty(db, &args[1]);
    let b = string_or_empty(db, &args[2]);
    let (Some(a), Some(b)) = (a, b) else {
        return Err(CmdError::msg(
            "ERR The specified keys must contain string values",
        ));
    };
    let opts = parse_options(&args[3..])?;
    if opts.idx && opts.len {
        return Err(CmdError::msg(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Err(CmdError::msg("ERR String too long for LCS"));
    }
    let table = LcsTable::build(&a, &b, ctx.state.config.settings.proto_max_bulk_len)?;
    let total = table.at(a.len(), b.len());
    if opts.len {
        ctx.reply.int(total as i64);
        return Ok(());
    }
    let (common, matches) = table.backtrack(&a, &b);
    if !opts.idx {
        ctx.reply.bulk(&common);
        return Ok(());
    }
    let shown: Vec<&Match> = matches
        .iter()
        .filter(|m| m.len() as u64 >= opts.min_match_len)
        .collect();
    let reply = &mut *ctx.reply;
    reply.map_len(2);
    reply.bulk(b"matches");
    reply.array_len(shown.len());
    for m in shown {
        reply.array_len(if opts.with_match_len { 3 } else { 2 });
        for (start, end) in [m.a, m.b] {
            reply.array_len(2);
            reply.int(start as i64);
            reply.int(end as i64);
        }
        if opts.with_match_len {
            reply.int(m.len() as i64);
        }
    }
    reply.bulk(b"len");
    reply.int(total as i64);
    Ok(())
}

/// The key's string, an empty string when missing, None for another type.
fn string_or_empty(db: &mut Db, key: &[u8]) -> Option<CompactBytes> {
    match db.get(key) {
        None => Some(CompactBytes::default()),
        Some(Entry {
            value: Value::Str(s),
            ..
        }) => Some(s.clone()),
        Some(_) => None,
    }
}

fn parse_options(args: &[bytes::Bytes]) -> Result<LcsOptions, CmdError> {
    let mut o = LcsOptions::default();
    let mut j = 0;
    while j < args.len() {
        let opt = &args[j][..];
        if eq_ic(opt, "idx") {
            o.idx = true;
        } else if eq_ic(opt, "len") {
            o.len = true;
        } else if eq_ic(opt, "withmatchlen") {
            o.with_match_len = true;
        } else if eq_ic(opt, "minmatchlen") && j + 1 < args.len() {
            o.min_match_len = int(&args[j + 1])?.max(0) as u64;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// LCS lengths of every pair of prefixes: cell (i, j) is the LCS length of
/// a[..i] and b[..j].
struct LcsTable {
    cells: Vec<u32>,
    width: usize,
}

impl LcsTable {
    /// Builds the table; like Redis, refuses one bigger than
    /// proto-max-bulk-len bytes, and reports a failed allocation.
    fn build(a: &[u8], b: &[u8], max_bytes: u64) -> Result<LcsTable, CmdError> {
        let width = b.len() + 1;
        let count = (a.len() as u64 + 1) * width as u64;
        if count.saturating_mul(4) > max_bytes {
            return Err(CmdError::msg(
                "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
            ));
        }
        let mut cells: Vec<u32> = Vec::new();
        if cells.try_reserve_exact(count as usize).is_err() {
            return Err(CmdError::msg(
                "ERR Insufficient memory, failed allocating transient memory for LCS",
            ));
        }
        cells.resize(count as usize, 0);
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                cells[i * width + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * width + j - 1] + 1
                } else {
                    cells[(i - 1) * width + j].max(cells[i * width + j - 1])
                };
            }
        }
        Ok(LcsTable { cells, width })
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }

    /// Walks back from the end: the common subsequence and its contiguous
    /// matching ranges, last range first (the order Redis reports).
    fn backtrack(&self, a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<Match>) {
        let mut common = vec![0u8; self.at(a.len(), b.len()) as usize];
        let mut filled = common.len();
        let mut matches = Vec::new();
        let mut current: Option<Match> = None;
        let (mut i, mut j) = (a.len(), b.len());
        while i > 0 && j > 0 {
            if a[i - 1] == b[j - 1] {
                filled -= 1;
                common[filled] = a[i - 1];
                let (ai, bj) = ((i - 1) as u32, (j - 1) as u32);
                current = Some(match current {
                    // Still contiguous: extend the range backwards.
                    Some(m) if m.a.0 == ai + 1 && m.b.0 == bj + 1 => Match {
                        a: (ai, m.a.1),
                        b: (bj, m.b.1),
                    },
                    _ => Match {
                        a: (ai, ai),
                        b: (bj, bj),
                    },
                });
                i -= 1;
                j -= 1;
            } else {
                if let Some(m) = current.take() {
                    matches.push(m);
                }
                if self.at(i - 1, j) > self.at(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
            }
        }
        if let Some(m) = current {
            matches.push(m);
        }
        (common, matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_example() {
        let (a, b) = (b"ohmytext".as_slice(), b"mynewtext".as_slice());
        let t = LcsTable::build(a, b, u64::MAX).ok().map(|t| {
            let (common, matches) = t.backtrack(a, b);
            (t.at(a.len(), b.len()), common, matches)
        });
        let (len, common, matches) = t.unwrap_or_default();
        assert_eq!(len, 6);
        assert_eq!(common, b"mytext".to_vec());
        assert_eq!(
            matches,
            vec![
                Match {
                    a: (4, 7),
                    b: (5, 8)
                },
                Match {
                    a: (2, 3),
                    b: (0, 1)
                }
            ]
        );
    }

    #[test]
    fn table_size_is_bounded() {
        assert!(LcsTable::build(&[1; 600], &[2; 600], 1024 * 1024).is_err());
        assert!(LcsTable::build(b"", b"", 4).is_ok());
    }
}
