//! The parts of Redis 7.0's command descriptions that our command table does
//! not carry: ACL categories, tips, key specifications, complexity, doc
//! flags and history. They are data (`command_meta.tsv`, regenerated from a
//! real server by `gen_command_meta.py`), looked up by full command name
//! (`get`, `config|get`). Commands without a row get derived values.

use std::collections::HashMap;
use std::sync::OnceLock;

const DATA: &str = include_str!("command_meta.tsv");

/// Where a key specification starts looking for keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginSearch {
    /// At this argument index.
    Index(i64),
    /// After this keyword, searched from `startfrom` (negative: from the end, backwards).
    Keyword(&'static str, i64),
    Unknown,
}

/// How a key specification finds keys from where it begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindKeys {
    /// `lastkey` is relative to the first key (negative: from the end).
    Range {
        lastkey: i64,
        keystep: i64,
        limit: i64,
    },
    /// The argument at `keynumidx` (relative) holds the number of keys, which
    /// start `firstkey` arguments after the beginning.
    Keynum {
        keynumidx: i64,
        firstkey: i64,
        keystep: i64,
    },
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub notes: Option<&'static str>,
    pub flags: Vec<&'static str>,
    pub begin: BeginSearch,
    pub find: FindKeys,
}

impl KeySpec {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }
}

/// One value of a COMMAND DOCS argument description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    Text(String),
    Int(i64),
    /// `flags`: optional, multiple, multiple_token.
    Flags(Vec<String>),
    /// `arguments` of a oneof or block argument.
    Args(Vec<DocArg>),
}

/// One argument of COMMAND DOCS: its fields in Redis's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocArg {
    pub fields: Vec<(String, ArgValue)>,
}

/// One command's (or subcommand's) extra description.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub since: &'static str,
    pub group: &'static str,
    pub movable_keys: bool,
    /// ACL categories without the '@'.
    pub categories: Vec<&'static str>,
    pub tips: Vec<&'static str>,
    pub key_specs: Vec<KeySpec>,
    pub complexity: &'static str,
    pub doc_flags: Vec<&'static str>,
    pub deprecated_since: &'static str,
    pub replaced_by: &'static str,
    pub history: Vec<(&'static str, &'static str)>,
    /// What Redis's COMMAND INFO says, to check the command table against.
    pub arity: i64,
    pub flags: Vec<&'static str>,
    pub range: (i64, i64, i64),
    pub summary: &'static str,
    pub arguments: Vec<DocArg>,
}

fn list(field: &'static str) -> Vec<&'static str> {
    field.split(',').filter(|s| !s.is_empty()).collect()
}

fn ints<const N: usize>(text: &str) -> Option<[i64; N]> {
    let mut out = [0i64; N];
    let mut parts = text.split(',');
    for slot in out.iter_mut() {
        *slot = parts.next()?.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn parse_begin(text: &'static str) -> Option<BeginSearch> {
    if text == "unknown" {
        return Some(BeginSearch::Unknown);
    }
    if let Some(n) = text.strip_prefix("index=") {
        return n.parse().ok().map(BeginSearch::Index);
    }
    let rest = text.strip_prefix("keyword=")?;
    let (word, from) = rest.rsplit_once(',')?;
    Some(BeginSearch::Keyword(word, from.parse().ok()?))
}

fn parse_find(text: &'static str) -> Option<FindKeys> {
    if text == "unknown" {
        return Some(FindKeys::Unknown);
    }
    if let Some(r) = text.strip_prefix("range=") {
        let [lastkey, keystep, limit] = ints::<3>(r)?;
        return Some(FindKeys::Range {
            lastkey,
            keystep,
            limit,
        });
    }
    let [keynumidx, firstkey, keystep] = ints::<3>(text.strip_prefix("keynum=")?)?;
    Some(FindKeys::Keynum {
        keynumidx,
        firstkey,
        keystep,
    })
}

/// `FLAGS BEGIN FIND[ #notes]`.
fn parse_key_spec(text: &'static str) -> Option<KeySpec> {
    let (main, notes) = match text.split_once(" #") {
        Some((m, n)) => (m, Some(n)),
        None => (text, None),
    };
    let mut words = main.split(' ');
    let flags = list(words.next()?);
    let begin = parse_begin(words.next()?)?;
    let find = parse_find(words.next()?)?;
    Some(KeySpec {
        notes,
        flags,
        begin,
        find,
    })
}

fn parse_line(line: &'static str) -> Option<(&'static str, Meta)> {
    let f: Vec<&'static str> = line.split('\t').collect();
    if f.len() != 17 {
        return None;
    }
    let key_specs = if f[6].is_empty() {
        Vec::new()
    } else {
        f[6].split(';')
            .map(parse_key_spec)
            .collect::<Option<Vec<_>>>()?
    };
    let history = if f[11].is_empty() {
        Vec::new()
    } else {
        f[11]
            .split(" ~~ ")
            .map(|h| h.split_once("::"))
            .collect::<Option<Vec<_>>>()?
    };
    let meta = Meta {
        since: f[1],
        group: f[2],
        movable_keys: f[3] == "1",
        categories: list(f[4]),
        tips: list(f[5]),
        key_specs,
        complexity: f[7],
        doc_flags: list(f[8]),
        deprecated_since: f[9],
        replaced_by: f[10],
        history,
        arity: f[12].parse().ok()?,
        flags: list(f[13]),
        range: {
            let [first, last, step] = ints::<3>(f[14])?;
            (first, last, step)
        },
        summary: f[15],
        arguments: if f[16].is_empty() {
            Vec::new()
        } else {
            ArgParser {
                s: f[16].as_bytes(),
                i: 0,
            }
            .list()?
        },
    };
    Some((f[0], meta))
}

/// Reads `[(key=value;...),...]` (see gen_command_meta.py).
struct ArgParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl ArgParser<'_> {
    fn eat(&mut self, b: u8) -> Option<()> {
        (self.s.get(self.i) == Some(&b)).then(|| self.i += 1)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn list(&mut self) -> Option<Vec<DocArg>> {
        self.eat(b'[')?;
        let mut out = Vec::new();
        if self.eat(b']').is_some() {
            return Some(out);
        }
        loop {
            out.push(self.arg()?);
            if self.eat(b']').is_some() {
                return Some(out);
            }
            self.eat(b',')?;
        }
    }

    /// Raw text up to (not including) any of `stops`.
    fn until(&mut self, stops: &[u8]) -> &[u8] {
        let start = self.i;
        while self.peek().is_some_and(|b| !stops.contains(&b)) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    fn arg(&mut self) -> Option<DocArg> {
        self.eat(b'(')?;
        let mut fields = Vec::new();
        loop {
            let key = String::from_utf8(self.until(b"=").to_vec()).ok()?;
            self.eat(b'=')?;
            let value = match key.as_str() {
                "arguments" => ArgValue::Args(self.list()?),
                "flags" => ArgValue::Flags(
                    self.until(b";)")
                        .split(|b| *b == b',')
                        .map(unescape)
                        .collect::<Option<Vec<_>>>()?,
                ),
                "key_spec_index" => ArgValue::Int(unescape(self.until(b";)"))?.parse().ok()?),
                _ => ArgValue::Text(unescape(self.until(b";)"))?),
            };
            fields.push((key, value));
            if self.eat(b')').is_some() {
                return Some(DocArg { fields });
            }
            self.eat(b';')?;
        }
    }
}

/// Undoes the %XX escapes of the argument encoding.
fn unescape(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn all() -> &'static HashMap<&'static str, Meta> {
    static META: OnceLock<HashMap<&'static str, Meta>> = OnceLock::new();
    META.get_or_init(|| DATA.lines().filter_map(parse_line).collect())
}

/// The description of `name` (lowercase full name), if Redis 7.0 has the command.
pub fn lookup(name: &str) -> Option<&'static Meta> {
    all().get(name)
}

/// Every ACL category, in the order Redis lists them.
pub const ACL_CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Legacy (first, last, step) key positions implied by key specs, the way
/// Redis derives them for COMMAND INFO: consecutive plain ranges merge,
/// anything else is left to the key specs.
pub fn legacy_range(specs: &[KeySpec]) -> (i64, i64, i64) {
    if let [spec] = specs {
        if let (
            BeginSearch::Index(pos),
            FindKeys::Range {
                lastkey, keystep, ..
            },
        ) = (spec.begin, spec.find)
        {
            let last = if lastkey >= 0 { pos + lastkey } else { lastkey };
            return (pos, last, keystep);
        }
    }
    let mut first = i64::MAX;
    let mut last: i64 = 0;
    let mut prev_last: i64 = 0;
    for spec in specs {
        let (
            BeginSearch::Index(pos),
            FindKeys::Range {
                lastkey, keystep, ..
            },
        ) = (spec.begin, spec.find)
        else {
            continue;
        };
        if keystep != 1 || (prev_last != 0 && prev_last != pos - 1) {
            continue;
        }
        first = first.min(pos);
        let abs_last = if lastkey >= 0 { lastkey + pos } else { lastkey };
        // Redis compares as unsigned, so a negative (from the end) wins.
        if (abs_last as u64) > (last as u64) {
            last = abs_last;
        }
        prev_last = last;
    }
    if first == i64::MAX {
        (0, 0, 0)
    } else {
        (first, last, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_parses() {
        let lines = DATA.lines().filter(|l| !l.is_empty()).count();
        assert_eq!(
            all().len(),
            lines,
            "some lines of command_meta.tsv did not parse"
        );
        assert!(lines > 300);
    }

    #[test]
    fn known_entries() {
        let get = lookup("get").unwrap();
        assert_eq!(get.categories, ["read", "string", "fast"]);
        assert_eq!(get.key_specs.len(), 1);
        assert_eq!(get.key_specs[0].flags, ["RO", "access"]);
        assert_eq!(get.key_specs[0].begin, BeginSearch::Index(1));
        let set = lookup("set").unwrap();
        assert_eq!(
            set.key_specs[0].notes,
            Some("RW and ACCESS due to the optional `GET` argument")
        );
        assert_eq!(set.history.len(), 4);
        let z = lookup("zunionstore").unwrap();
        assert!(z.movable_keys);
        assert_eq!(
            z.key_specs[1].find,
            FindKeys::Keynum {
                keynumidx: 0,
                firstkey: 1,
                keystep: 1
            }
        );
        let m = lookup("migrate").unwrap();
        assert_eq!(m.key_specs[1].begin, BeginSearch::Keyword("KEYS", -2));
        assert!(lookup("config|get").is_some());
        let args = &set.arguments;
        assert_eq!(args.len(), 5);
        assert_eq!(
            args[0].fields,
            [
                ("name".to_string(), ArgValue::Text("key".into())),
                ("type".to_string(), ArgValue::Text("key".into())),
                ("key_spec_index".to_string(), ArgValue::Int(0)),
            ]
        );
        let ArgValue::Args(inner) = &args[4].fields[3].1 else {
            panic!("expiration has nested arguments: {:?}", args[4]);
        };
        assert_eq!(inner.len(), 5);
        assert_eq!(
            args[4].fields[2].1,
            ArgValue::Flags(vec!["optional".into()])
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(b"a%3Bb%25").as_deref(), Some("a;b%"));
        assert_eq!(unescape(b"%G1"), None);
        let parsed = ArgParser {
            s: b"[(name=x%29;type=string)]",
            i: 0,
        }
        .list()
        .unwrap();
        assert_eq!(parsed[0].fields[0].1, ArgValue::Text("x)".into()));
        assert!(ArgParser {
            s: b"[(name=x",
            i: 0
        }
        .list()
        .is_none());
    }

    #[test]
    fn legacy_ranges() {
        assert_eq!(
            legacy_range(&lookup("memory|usage").unwrap().key_specs),
            (2, 2, 1)
        );
        assert_eq!(legacy_range(&lookup("mset").unwrap().key_specs), (1, -1, 2));
        assert_eq!(legacy_range(&lookup("lmove").unwrap().key_specs), (1, 2, 1));
        assert_eq!(
            legacy_range(&lookup("zunionstore").unwrap().key_specs),
            (1, 1, 1)
        );
        assert_eq!(legacy_range(&lookup("ping").unwrap().key_specs), (0, 0, 0));
    }
}
