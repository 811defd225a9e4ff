//! Differential test: every case file in tests/cases runs against a real
//! redis-server 7 and against redis-ha-node, in RESP2 and in RESP3, and the
//! replies must be identical (order-insensitive only where a case says so,
//! because Redis itself gives no order). A second test runs randomly
//! generated command sequences over a small key space the same way.
//!
//! Case file lines (redis-cli quoting):
//!   SET k v                 exact comparison
//!   !unordered SMEMBERS s   aggregate compared as a multiset
//!   !pairs HGETALL h        map / flat pairs compared as a set of pairs
//!   !scan SSCAN s 0         cursor iterated to 0; union of items compared as a set
//!   !shape SPOP s 2         only reply type and length compared
//!   !sleep 120              pause (ms)
//!   !client 2               switch to connection #2 (opened on first use)
//!   # comment

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use rand::{Rng, SeedableRng};
use redis_ha_node::resp::Frame;
use support::{have_real_redis, split_line, Client, Flavor, ServerProcess};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Exact,
    Unordered,
    Pairs,
    Scan,
    Shape,
}

fn encoded(f: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    f.encode(&mut out);
    out
}

fn sorted_items(items: &[Frame]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = items.iter().map(encoded).collect();
    v.sort();
    v
}

/// Pairs of a map or flat field/value array, sorted.
fn sorted_pairs(f: &Frame) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = match f {
        Frame::Map(p) => p.iter().map(|(k, v)| (encoded(k), encoded(v))).collect(),
        Frame::Array(items)
            if items
                .iter()
                .all(|i| matches!(i, Frame::Array(x) if x.len() == 2))
                && !items.is_empty() =>
        {
            items
                .iter()
                .filter_map(|i| i.items().map(|x| (encoded(&x[0]), encoded(&x[1]))))
                .collect()
        }
        Frame::Array(items) if items.len() % 2 == 0 => items
            .chunks(2)
            .map(|c| (encoded(&c[0]), encoded(&c[1])))
            .collect(),
        _ => return None,
    };
    pairs.sort();
    Some(pairs)
}

fn shape(f: &Frame) -> (u8, usize) {
    let tag = encoded(f)[0];
    let len = match f {
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => v.len(),
        Frame::Map(p) => p.len(),
        _ => 0,
    };
    (tag, len)
}

fn same(mode: Mode, a: &Frame, b: &Frame) -> bool {
    match mode {
        Mode::Exact | Mode::Scan => a == b,
        Mode::Unordered => match (a.items(), b.items()) {
            (Some(x), Some(y)) => {
                encoded(a)[0] == encoded(b)[0] && sorted_items(x) == sorted_items(y)
            }
            _ => a == b,
        },
        Mode::Pairs => match (sorted_pairs(a), sorted_pairs(b)) {
            (Some(x), Some(y)) => encoded(a)[0] == encoded(b)[0] && x == y,
            _ => a == b,
        },
        Mode::Shape => a.is_error() == b.is_error() && shape(a) == shape(b),
    }
}

/// Iterates a SCAN-family command to the end; returns the set of items
/// (pairs joined for HSCAN/ZSCAN) or the first error reply.
fn full_scan(client: &mut Client, args: &[Vec<u8>]) -> Result<Frame, String> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let cursor_at = if name == "scan" { 1 } else { 2 };
    let paired = name == "hscan" || name == "zscan";
    let mut args = args.to_vec();
    let mut seen = BTreeSet::new();
    for _ in 0..100_000 {
        let reply = client.cmd(&args).map_err(|e| e.to_string())?;
        if reply.is_error() {
            return Ok(reply);
        }
        let parts = reply.items().ok_or("scan reply is not an array")?;
        let cursor = parts[0].as_bytes().ok_or("bad cursor")?.to_vec();
        let items = parts[1].items().ok_or("bad items")?;
        if paired {
            for c in items.chunks(2) {
                let mut joined = encoded(&c[0]);
                joined.extend(c.get(1).map(encoded).unwrap_or_default());
                seen.insert(joined);
            }
        } else {
            seen.extend(items.iter().map(encoded));
        }
        if cursor == b"0" {
            return Ok(Frame::Array(seen.into_iter().map(Frame::Bulk).collect()));
        }
        args[cursor_at] = cursor;
    }
    Err("scan did not finish".into())
}

/// A pair of servers and their connections, driven in lockstep.
struct Pair {
    redis: ServerProcess,
    ours: ServerProcess,
    clients: Vec<(Client, Client)>,
    active: usize,
    resp3: bool,
    verbose: bool,
}

impl Pair {
    fn start(resp3: bool) -> Pair {
        let redis = ServerProcess::start(Flavor::RealRedis, &[]);
        let ours = ServerProcess::start(Flavor::Ours, &[]);
        let mut pair = Pair {
            redis,
            ours,
            clients: Vec::new(),
            active: 0,
            resp3,
            verbose: std::env::var_os("DIFF_VERBOSE").is_some(),
        };
        pair.open();
        pair
    }

    fn open(&mut self) {
        let mut a = self.redis.client();
        let mut b = self.ours.client();
        if self.resp3 {
            let _ = a.cmd(&["HELLO", "3"]);
            let _ = b.cmd(&["HELLO", "3"]);
        }
        self.clients.push((a, b));
    }

    fn switch(&mut self, n: usize) {
        while self.clients.len() < n {
            self.open();
        }
        self.active = n - 1;
    }

    /// Runs one command on both; returns the two replies.
    fn run(&mut self, mode: Mode, args: &[Vec<u8>]) -> Result<(Frame, Frame), String> {
        let (a, b) = &mut self.clients[self.active];
        let (x, y) = if mode == Mode::Scan {
            (full_scan(a, args)?, full_scan(b, args)?)
        } else {
            (
                a.cmd(args).map_err(|e| format!("redis-server: {e}"))?,
                b.cmd(args).map_err(|e| format!("redis-ha-node: {e}"))?,
            )
        };
        if self.verbose {
            let shown: Vec<String> = args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            eprintln!(
                "[resp{}] {:?}\n  redis: {:?}\n  ours:  {:?}",
                if self.resp3 { 3 } else { 2 },
                shown,
                x,
                y
            );
        }
        Ok((x, y))
    }
}

/// Parses one case line into its mode and arguments (None for blank/comment).
enum Line {
    Command(Mode, Vec<Vec<u8>>),
    Sleep(u64),
    Client(usize),
}

fn parse_line(line: &str) -> Result<Option<Line>, String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let (mode, rest) = match t.split_once(' ') {
        Some(("!unordered", r)) => (Mode::Unordered, r),
        Some(("!pairs", r)) => (Mode::Pairs, r),
        Some(("!scan", r)) => (Mode::Scan, r),
        Some(("!shape", r)) => (Mode::Shape, r),
        Some(("!sleep", r)) => {
            return r
                .trim()
                .parse()
                .map(|ms| Some(Line::Sleep(ms)))
                .map_err(|e| e.to_string())
        }
        Some(("!client", r)) => {
            return r
                .trim()
                .parse()
                .map(|n| Some(Line::Client(n)))
                .map_err(|e| e.to_string())
        }
        _ if t.starts_with('!') => return Err(format!("unknown directive in {t:?}")),
        _ => (Mode::Exact, t),
    };
    let args = split_line(rest).ok_or_else(|| format!("unbalanced quotes in {t:?}"))?;
    if args.is_empty() {
        return Ok(None);
    }
    Ok(Some(Line::Command(mode, args)))
}

fn run_case_text(name: &str, text: &str) -> Result<(), Failed> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if let Some(l) = parse_line(raw).map_err(|e| format!("{name}:{}: {e}", i + 1))? {
            lines.push((i + 1, raw.trim().to_string(), l));
        }
    }
    for resp3 in [false, true] {
        let mut pair = Pair::start(resp3);
        for (lineno, raw, line) in &lines {
            match line {
                Line::Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
                Line::Client(n) => pair.switch(*n),
                Line::Command(mode, args) => {
                    let (x, y) = pair
                        .run(*mode, args)
                        .map_err(|e| format!("{name}:{lineno}: {raw}: {e}"))?;
                    if !same(*mode, &x, &y) {
                        return Err(format!(
                            "{name}:{lineno} (RESP{}): {raw}\n  redis-server: {x:?}\n  redis-ha-node: {y:?}",
                            if resp3 { 3 } else { 2 }
                        )
                        .into());
                    }
                }
            }
        }
    }
    Ok(())
}

// ---- Random sequences -------------------------------------------------------

/// Command templates. Placeholders: {s} string key, {n} counter key, {l} list,
/// {h} hash, {t} set, {z} zset, {any} any key; {v} value, {i} small int,
/// {u} small unsigned, {m} member, {f} field, {score} score, {fl} float.
const TEMPLATES: &[&str] = &[
    "SET {s} {v}",
    "GET {s}",
    "APPEND {s} {v}",
    "STRLEN {s}",
    "GETRANGE {s} {i} {i}",
    "SETRANGE {s} {u} {v}",
    "MSET {s} {v} {s} {v}",
    "MGET {s} {s} {any}",
    "SETNX {s} {v}",
    "GETSET {s} {v}",
    "GETDEL {s}",
    "SETBIT {s} {u} 1",
    "GETBIT {s} {u}",
    "BITCOUNT {s}",
    "INCR {n}",
    "INCRBY {n} {i}",
    "DECR {n}",
    "DECRBY {n} {i}",
    "INCRBYFLOAT {n} {fl}",
    "DEL {any}",
    "EXISTS {any} {any}",
    "TYPE {any}",
    "RENAME {any} {any}",
    "RENAMENX {any} {any}",
    "EXPIRE {any} 100",
    "TTL {any}",
    "PERSIST {any}",
    "DBSIZE",
    "!unordered KEYS *",
    "COPY {any} {any}",
    "LPUSH {l} {v} {v}",
    "RPUSH {l} {v}",
    "LPOP {l}",
    "RPOP {l} 2",
    "LRANGE {l} {i} {i}",
    "LLEN {l}",
    "LINDEX {l} {i}",
    "LREM {l} {i} {v}",
    "LTRIM {l} {i} {i}",
    "LINSERT {l} BEFORE {v} {v}",
    "LPOS {l} {v}",
    "LMOVE {l} {l} LEFT RIGHT",
    "LSET {l} {i} {v}",
    "RPOPLPUSH {l} {l}",
    "HSET {h} {f} {v}",
    "HGET {h} {f}",
    "HDEL {h} {f}",
    "HINCRBY {h} {f} {i}",
    "HLEN {h}",
    "!pairs HGETALL {h}",
    "HEXISTS {h} {f}",
    "HMGET {h} {f} {f}",
    "HSTRLEN {h} {f}",
    "HSETNX {h} {f} {v}",
    "!unordered HKEYS {h}",
    "HINCRBYFLOAT {h} {f} {fl}",
    "SADD {t} {m} {m}",
    "SREM {t} {m}",
    "!unordered SMEMBERS {t}",
    "SISMEMBER {t} {m}",
    "SCARD {t}",
    "!unordered SINTER {t} {t}",
    "!unordered SUNION {t} {t}",
    "!unordered SDIFF {t} {t}",
    "SINTERSTORE {t} {t} {t}",
    "SUNIONSTORE {t} {t} {t}",
    "SMOVE {t} {t} {m}",
    "SMISMEMBER {t} {m} {m}",
    "ZADD {z} {score} {m}",
    "ZINCRBY {z} {score} {m}",
    "ZREM {z} {m}",
    "ZRANGE {z} 0 -1 WITHSCORES",
    "ZRANK {z} {m}",
    "ZSCORE {z} {m}",
    "ZCARD {z}",
    "ZCOUNT {z} -inf +inf",
    "ZPOPMIN {z}",
    "ZRANGEBYSCORE {z} {score} +inf",
    "ZREVRANGE {z} 0 2 WITHSCORES",
    "ZUNIONSTORE {z} 2 {z} {z}",
    "ZADD {z} GT CH {score} {m}",
    "ZRANGEBYLEX {z} - +",
    "ZMSCORE {z} {m} {m}",
];

fn pick<'a, R: Rng>(rng: &mut R, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

fn key<R: Rng>(rng: &mut R, prefix: &str) -> String {
    // Mostly keys of the template's type, sometimes any key (WRONGTYPE paths).
    if rng.gen_bool(0.8) {
        format!("{prefix}{}", rng.gen_range(1..=3))
    } else {
        pick(rng, &["s1", "n1", "l1", "h1", "t1", "z1", "missing"]).to_string()
    }
}

fn expand<R: Rng>(rng: &mut R, template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find('}').unwrap_or(0);
        let word = match &rest[start + 1..end] {
            "s" => key(rng, "s"),
            "n" => key(rng, "n"),
            "l" => key(rng, "l"),
            "h" => key(rng, "h"),
            "t" => key(rng, "t"),
            "z" => key(rng, "z"),
            "any" => pick(
                rng,
                &[
                    "s1", "s2", "n1", "l1", "l2", "h1", "t1", "t2", "z1", "z2", "missing",
                ],
            )
            .to_string(),
            "v" => pick(
                rng,
                &[
                    "a", "b", "hello", "1", "2", "10", "-1", "\"\"", "\"x y\"", "0",
                ],
            )
            .to_string(),
            "i" => rng.gen_range(-3..6).to_string(),
            "u" => rng.gen_range(0..20).to_string(),
            "m" => pick(rng, &["a", "b", "c", "d", "1", "2", "3", "-5"]).to_string(),
            "f" => pick(rng, &["f1", "f2", "f3", "f4"]).to_string(),
            "score" => pick(
                rng,
                &["0", "1", "2", "2.5", "-1", "+inf", "-inf", "(1", "1e3"],
            )
            .to_string(),
            "fl" => pick(rng, &["1.5", "-0.25", "10", "3.0e2", "0.1"]).to_string(),
            other => other.to_string(),
        };
        out.push_str(&word);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn random_sequence(seed: u64, steps: usize) -> String {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut text = String::new();
    for _ in 0..steps {
        let t = TEMPLATES[rng.gen_range(0..TEMPLATES.len())];
        // ZRANGEBYSCORE's "(1" is only valid as a bound; elsewhere it becomes 1.
        let mut line = expand(&mut rng, t);
        if !t.starts_with("ZRANGEBYSCORE") {
            line = line.replace("(1", "1");
        }
        text.push_str(&line);
        text.push('\n');
    }
    text
}

fn main() {
    let args = Arguments::from_args();
    let cases_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut trials = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&cases_dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let real = have_real_redis();
    for path in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
    {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        trials.push(Trial::test(name.clone(), move || {
            if !real {
                return Err("redis-server 7 is required for the differential tests (apt-get install redis-server)".into());
            }
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            run_case_text(&name, &text)
        }));
    }
    let seeds: Vec<u64> = match std::env::var("DIFF_SEED") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => vec![1, 2, 3, 4],
    };
    for seed in seeds {
        trials.push(Trial::test(
            format!("random_sequence_seed_{seed}"),
            move || {
                if !real {
                    return Err("redis-server 7 is required for the differential tests".into());
                }
                let text = random_sequence(seed, 600);
                run_case_text(&format!("random(seed={seed})"), &text)
            },
        ));
    }
    libtest_mimic::run(&args, trials).exit();
}
