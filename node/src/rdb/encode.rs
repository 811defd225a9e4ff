//! RDB encoder: a streaming file writer and DUMP payloads.
//!
//! The writer never needs the whole keyspace at once: after `begin`, a
//! snapshot can feed `select_db` and `write_entry` calls in chunks taken
//! under short locks, and the CRC-64 is accumulated as bytes go out.

use std::collections::VecDeque;
use std::io::{self, BufWriter, Write};

use super::{crc64, intset, listpack, lzf, opcode, types, RdbAux, RDB_VERSION};
use crate::db::{CompactBytes, Entry, HashValue, SetValue, Value, ZSet};
use crate::util::number::{format_double, parse_i64};

/// Choices a writer makes; the defaults are Redis 7.0's.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// `rdbcompression`: LZF-compress strings longer than 20 bytes when that
    /// saves at least 4 bytes.
    pub compress: bool,
    /// `rdbchecksum`: write the CRC-64 trailer (else eight zero bytes).
    pub checksum: bool,
    /// `list-max-listpack-size`: how lists are cut into quicklist nodes
    /// (negative: node byte limit 4/8/16/32/64 KB; positive: element count).
    pub list_max_listpack_size: i64,
    /// List elements at least this long get a PLAIN quicklist node of their
    /// own (Redis's packed threshold, 1 GiB by default).
    pub list_plain_threshold: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            compress: true,
            checksum: true,
            list_max_listpack_size: -2,
            list_plain_threshold: PLAIN_THRESHOLD,
        }
    }
}

/// Optional per-key metadata Redis writes under an LRU (IDLE) or LFU (FREQ)
/// maxmemory policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyMeta {
    pub idle_secs: Option<u64>,
    pub lfu_freq: Option<u8>,
}

/// Default for `list_plain_threshold` (Redis's packed_threshold, 1 GiB).
const PLAIN_THRESHOLD: usize = 1 << 30;
/// Node byte cap for count-limited fills (Redis's SIZE_SAFETY_LIMIT).
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Per-element overhead Redis adds when estimating node growth.
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// A blob must fit a listpack's u32 size field; stay well below it.
const MAX_LISTPACK_BYTES: usize = u32::MAX as usize - 64;

const QUICKLIST_NODE_PLAIN: u64 = 1;
const QUICKLIST_NODE_PACKED: u64 = 2;

/// Counts and checksums the bytes passing through.
struct Sink<W: Write> {
    inner: W,
    crc: u64,
    written: u64,
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc64::update(self.crc, &buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Streaming RDB file writer.
///
/// ```ignore
/// let mut w = RdbWriter::new(file, WriteOptions::default());
/// w.begin(&aux)?;
/// w.select_db(0, keys, keys_with_ttl)?;
/// w.write_entry(b"key", &entry)?;
/// let file = w.finish()?;
/// ```
pub struct RdbWriter<W: Write> {
    out: Sink<BufWriter<W>>,
    opts: WriteOptions,
}

impl<W: Write> RdbWriter<W> {
    pub fn new(inner: W, opts: WriteOptions) -> Self {
        RdbWriter {
            out: Sink {
                inner: BufWriter::with_capacity(64 * 1024, inner),
                crc: 0,
                written: 0,
            },
            opts,
        }
    }

    /// Writes the magic and the AUX fields, in Redis 7.0's order.
    pub fn begin(&mut self, aux: &RdbAux) -> io::Result<()> {
        write!(self.out, "REDIS{RDB_VERSION:04}")?;
        self.aux_field(b"redis-ver", aux.redis_ver.as_bytes())?;
        self.aux_field(b"redis-bits", aux.redis_bits.to_string().as_bytes())?;
        self.aux_field(b"ctime", aux.ctime.to_string().as_bytes())?;
        self.aux_field(b"used-mem", aux.used_mem.to_string().as_bytes())?;
        if let Some(id) = &aux.repl_id {
            self.aux_field(b"repl-stream-db", aux.repl_stream_db.to_string().as_bytes())?;
            self.aux_field(b"repl-id", id.as_bytes())?;
            self.aux_field(b"repl-offset", aux.repl_offset.to_string().as_bytes())?;
        }
        self.aux_field(b"aof-base", if aux.aof_base { b"1" } else { b"0" })
    }

    /// Writes one more AUX field (unknown keys are ignored by loaders).
    pub fn aux_field(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.out.write_all(&[opcode::AUX])?;
        write_string(&mut self.out, key, self.opts.compress)?;
        write_string(&mut self.out, value, self.opts.compress)
    }

    /// Starts a database: SELECTDB and the RESIZEDB sizing hint. Call only
    /// for non-empty databases, as Redis does.
    pub fn select_db(&mut self, index: usize, keys: u64, keys_with_ttl: u64) -> io::Result<()> {
        self.out.write_all(&[opcode::SELECTDB])?;
        write_len(&mut self.out, index as u64)?;
        self.out.write_all(&[opcode::RESIZEDB])?;
        write_len(&mut self.out, keys)?;
        write_len(&mut self.out, keys_with_ttl)
    }

    /// Writes a key with its value and expiry.
    pub fn write_entry(&mut self, key: &[u8], entry: &Entry) -> io::Result<()> {
        self.write_entry_with_meta(key, entry, KeyMeta::default())
    }

    /// Writes a key with its value, expiry, and IDLE/FREQ metadata.
    pub fn write_entry_with_meta(
        &mut self,
        key: &[u8],
        entry: &Entry,
        meta: KeyMeta,
    ) -> io::Result<()> {
        if entry.expire_at != 0 {
            self.out.write_all(&[opcode::EXPIRETIME_MS])?;
            self.out.write_all(&entry.expire_at.to_le_bytes())?;
        }
        if let Some(idle) = meta.idle_secs {
            self.out.write_all(&[opcode::IDLE])?;
            write_len(&mut self.out, idle)?;
        }
        if let Some(freq) = meta.lfu_freq {
            self.out.write_all(&[opcode::FREQ, freq])?;
        }
        let plan = Plan::of(&entry.value);
        self.out.write_all(&[plan.type_code()])?;
        write_string(&mut self.out, key, self.opts.compress)?;
        write_planned(&mut self.out, &entry.value, &plan, &self.opts)
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.out.written
    }

    /// Writes EOF and the checksum, flushes, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[opcode::EOF])?;
        let crc = if self.opts.checksum { self.out.crc } else { 0 };
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.flush()?;
        self.out.inner.into_inner().map_err(|e| e.into_error())
    }
}

/// A DUMP payload with Redis's default choices (LZF compression on).
pub fn dump_payload(value: &Value) -> Vec<u8> {
    dump_payload_with(value, &WriteOptions::default())
}

/// `<type><value><RDB version u16 LE><CRC-64 LE>`, as DUMP returns.
pub fn dump_payload_with(value: &Value, opts: &WriteOptions) -> Vec<u8> {
    let mut out = Vec::new();
    let plan = Plan::of(value);
    out.push(plan.type_code());
    // Writing into a Vec cannot fail.
    let _ = write_planned(&mut out, value, &plan, opts);
    out.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = crc64::checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// How a value is stored; compact blobs are built up front (they are small
/// by definition) so the type byte can be chosen before the key is written.
enum Plan {
    Str,
    List,
    HashListpack(Vec<u8>),
    Hash,
    Intset(Vec<u8>),
    Set,
    ZsetListpack(Vec<u8>),
    Zset2,
}

impl Plan {
    fn of(value: &Value) -> Plan {
        match value {
            Value::Str(_) => Plan::Str,
            Value::List(_) => Plan::List,
            Value::Hash(h) => match (!h.big).then(|| hash_listpack(h)).flatten() {
                Some(blob) => Plan::HashListpack(blob),
                None => Plan::Hash,
            },
            Value::Set(s) => match (!s.big).then(|| set_intset(s)).flatten() {
                Some(blob) => Plan::Intset(blob),
                None => Plan::Set,
            },
            Value::ZSet(z) => match (!z.big).then(|| zset_listpack(z)).flatten() {
                Some(blob) => Plan::ZsetListpack(blob),
                None => Plan::Zset2,
            },
        }
    }

    fn type_code(&self) -> u8 {
        match self {
            Plan::Str => types::STRING,
            Plan::List => types::LIST_QUICKLIST_2,
            Plan::HashListpack(_) => types::HASH_LISTPACK,
            Plan::Hash => types::HASH,
            Plan::Intset(_) => types::SET_INTSET,
            Plan::Set => types::SET,
            Plan::ZsetListpack(_) => types::ZSET_LISTPACK,
            Plan::Zset2 => types::ZSET_2,
        }
    }
}

fn hash_listpack(h: &HashValue) -> Option<Vec<u8>> {
    let size: usize = h
        .map
        .iter()
        .map(|(k, v)| listpack::entry_size(k) + listpack::entry_size(v))
        .sum();
    if size > MAX_LISTPACK_BYTES {
        return None;
    }
    let mut b = listpack::Builder::new();
    for (k, v) in &h.map {
        b.push(k);
        b.push(v);
    }
    Some(b.finish())
}

fn set_intset(s: &SetValue) -> Option<Vec<u8>> {
    let mut values = s
        .members
        .iter()
        .map(|m| parse_i64(m))
        .collect::<Option<Vec<i64>>>()?;
    values.sort_unstable();
    values.dedup();
    intset::encode(&values)
}

fn zset_listpack(z: &ZSet) -> Option<Vec<u8>> {
    let mut b = listpack::Builder::new();
    for e in z.iter() {
        b.push(&e.member);
        b.push(&score_text(e.score));
        if b.size() > MAX_LISTPACK_BYTES {
            return None;
        }
    }
    Some(b.finish())
}

/// A score as a zset listpack stores it (Redis 7.0's d2string): integral
/// values within ±2^52 in decimal (so -0 becomes "0", as a live 7.0.15
/// does), else `%.17g`.
pub fn score_text(score: f64) -> Vec<u8> {
    const LIMIT: f64 = 4_503_599_627_370_496.0; // 2^52
    if score.is_finite() && score > -LIMIT + 1.0 && score < LIMIT && score.fract() == 0.0 {
        return (score as i64).to_string().into_bytes();
    }
    format_double(score)
}

fn write_planned<W: Write>(
    w: &mut W,
    value: &Value,
    plan: &Plan,
    opts: &WriteOptions,
) -> io::Result<()> {
    let compress = opts.compress;
    match (plan, value) {
        (Plan::Str, Value::Str(s)) => write_string(w, s, compress),
        (Plan::List, Value::List(l)) => write_quicklist(w, l, opts),
        (Plan::HashListpack(blob), _) | (Plan::Intset(blob), _) | (Plan::ZsetListpack(blob), _) => {
            write_string(w, blob, compress)
        }
        (Plan::Hash, Value::Hash(h)) => {
            write_len(w, h.map.len() as u64)?;
            for (k, v) in &h.map {
                write_string(w, k, compress)?;
                write_string(w, v, compress)?;
            }
            Ok(())
        }
        (Plan::Set, Value::Set(s)) => {
            write_len(w, s.members.len() as u64)?;
            for m in &s.members {
                write_string(w, m, compress)?;
            }
            Ok(())
        }
        (Plan::Zset2, Value::ZSet(z)) => {
            write_len(w, z.len() as u64)?;
            // Redis walks its skiplist from the tail: highest score first.
            for e in z.iter().rev() {
                write_string(w, &e.member, compress)?;
                w.write_all(&e.score.to_le_bytes())?;
            }
            Ok(())
        }
        _ => Err(io::Error::other("RDB plan does not match the value")),
    }
}

/// A run of list elements stored as one quicklist node.
struct Node {
    start: usize,
    len: usize,
    plain: bool,
}

/// Cuts a list into nodes the way Redis fills them when pushing.
fn quicklist_nodes(list: &VecDeque<CompactBytes>, fill: i64, plain_threshold: usize) -> Vec<Node> {
    let (byte_limit, count_limit) = if fill < 0 {
        let level = (-fill).clamp(1, 5) as u32 - 1;
        (4096usize << level, usize::MAX)
    } else {
        (SIZE_SAFETY_LIMIT, (fill.max(1)) as usize)
    };
    let mut nodes: Vec<Node> = Vec::new();
    // Estimated listpack bytes of the open node (None: no open node).
    let mut open: Option<usize> = None;
    for (i, e) in list.iter().enumerate() {
        if e.len() >= plain_threshold {
            nodes.push(Node {
                start: i,
                len: 1,
                plain: true,
            });
            open = None;
            continue;
        }
        if let (Some(size), Some(node)) = (open, nodes.last_mut()) {
            let new_size = size + e.len() + SIZE_ESTIMATE_OVERHEAD;
            if new_size <= byte_limit && node.len < count_limit {
                node.len += 1;
                open = Some(size + listpack::entry_size(e));
                continue;
            }
        }
        nodes.push(Node {
            start: i,
            len: 1,
            plain: false,
        });
        open = Some(7 + listpack::entry_size(e));
    }
    nodes
}

fn write_quicklist<W: Write>(
    w: &mut W,
    list: &VecDeque<CompactBytes>,
    opts: &WriteOptions,
) -> io::Result<()> {
    let nodes = quicklist_nodes(list, opts.list_max_listpack_size, opts.list_plain_threshold);
    write_len(w, nodes.len() as u64)?;
    for node in nodes {
        if node.plain {
            write_len(w, QUICKLIST_NODE_PLAIN)?;
            write_string(w, &list[node.start], opts.compress)?;
        } else {
            write_len(w, QUICKLIST_NODE_PACKED)?;
            let blob = listpack::encode(
                list.range(node.start..node.start + node.len)
                    .map(|e| &e[..]),
            );
            write_string(w, &blob, opts.compress)?;
        }
    }
    Ok(())
}

/// Length in the smallest of the 6/14/32/64-bit forms (big-endian).
pub(crate) fn write_len<W: Write>(w: &mut W, n: u64) -> io::Result<()> {
    if n < 1 << 6 {
        w.write_all(&[n as u8])
    } else if n < 1 << 14 {
        w.write_all(&[0x40 | (n >> 8) as u8, (n & 0xff) as u8])
    } else if n <= u32::MAX as u64 {
        w.write_all(&[0x80])?;
        w.write_all(&(n as u32).to_be_bytes())
    } else {
        w.write_all(&[0x81])?;
        w.write_all(&n.to_be_bytes())
    }
}

/// A string as Redis writes it: short canonical integers that fit 32 bits
/// INT-encoded, longer strings LZF-compressed when worthwhile, else raw.
pub(crate) fn write_string<W: Write>(w: &mut W, s: &[u8], compress: bool) -> io::Result<()> {
    if s.len() <= 11 {
        if let Some(v) = parse_i64(s) {
            if let Ok(small) = i8::try_from(v) {
                return w.write_all(&[0xc0, small as u8]);
            }
            if let Ok(small) = i16::try_from(v) {
                w.write_all(&[0xc1])?;
                return w.write_all(&small.to_le_bytes());
            }
            if let Ok(small) = i32::try_from(v) {
                w.write_all(&[0xc2])?;
                return w.write_all(&small.to_le_bytes());
            }
        }
    }
    if compress && s.len() > 20 {
        if let Some(packed) = lzf::compress(s, s.len() - 4) {
            w.write_all(&[0xc3])?;
            write_len(w, packed.len() as u64)?;
            write_len(w, s.len() as u64)?;
            return w.write_all(&packed);
        }
    }
    write_len(w, s.len() as u64)?;
    w.write_all(s)
}
