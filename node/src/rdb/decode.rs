//! RDB decoder: a streaming reader of whole files and of DUMP payloads.
//!
//! Every length is validated before use and no buffer is sized from an
//! unchecked count: strings grow as bytes actually arrive, collections start
//! with a capped capacity. Any malformed input ends in an `RdbError` naming
//! the problem and its byte offset; nothing here panics.

use std::collections::VecDeque;
use std::io::{self, Read};

use super::listpack::LpItem;
use super::{
    crc64, intset, listpack, lzf, opcode, types, ziplist, RdbAux, RdbError, RdbErrorKind,
    RDB_VERSION,
};
use crate::db::{lru_clock, CompactBytes, EncodingLimits, Entry, HashValue, SetValue, Value, ZSet};
use crate::util::number::parse_f64;

/// Largest capacity reserved ahead of data for a string, in bytes.
const PREALLOC_BYTES: u64 = 1 << 20;
/// Largest capacity reserved ahead of data for a collection, in elements.
const PREALLOC_ELEMENTS: u64 = 4096;

/// How a file is loaded.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Thresholds deciding the compact encodings of loaded values.
    pub limits: EncodingLimits,
    /// Skip keys whose TTL passed: a master loading from disk does, a
    /// replica loading its master's snapshot keeps them (the master will
    /// send DEL).
    pub drop_expired: bool,
    /// The clock `drop_expired` compares with (Unix ms).
    pub now_ms: i64,
    /// SELECTDB beyond this is an error.
    pub databases: usize,
    /// Check the trailing CRC-64 (a stored zero always skips the check).
    pub verify_checksum: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            limits: EncodingLimits::default(),
            drop_expired: true,
            now_ms: crate::util::time::now_ms(),
            databases: 16,
            verify_checksum: true,
        }
    }
}

/// A key read from the file.
#[derive(Clone, Debug)]
pub struct LoadedKey {
    pub db: usize,
    pub key: Vec<u8>,
    /// Value and expiry (`expire_at` 0 = none; an expiry at or before the
    /// epoch is kept as -1, i.e. long expired). `lru` reflects IDLE.
    pub entry: Entry,
    /// IDLE opcode (seconds idle at save time), if present.
    pub idle_secs: Option<u64>,
    /// FREQ opcode (LFU counter), if present.
    pub lfu_freq: Option<u8>,
}

/// One thing found in the file, in file order.
#[derive(Clone, Debug)]
pub enum RdbItem {
    Aux {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    SelectDb(usize),
    ResizeDb {
        keys: u64,
        keys_with_ttl: u64,
    },
    Key(LoadedKey),
    /// A function library's source (FUNCTION2, or the code of a pre-GA
    /// FUNCTION record). This server has no functions: the caller decides
    /// whether to skip it or fail.
    FunctionLibrary(Vec<u8>),
}

/// Keys the reader skipped on purpose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadStats {
    pub expired_skipped: u64,
    pub empty_skipped: u64,
}

/// Buffered input that tracks the byte offset and the running CRC-64.
///
/// It keeps its own buffer so the checksum is folded in over whole
/// consumed stretches (at each refill, and when asked for) instead of once
/// per tiny read: most reads are a type byte, a length or a short string.
struct Input<R: Read> {
    inner: R,
    buf: Box<[u8]>,
    /// Unread bytes are buf[start..end].
    start: usize,
    end: usize,
    /// buf[crc_from..start] is consumed but not yet in `crc`.
    crc_from: usize,
    pos: u64,
    crc: u64,
}

const INPUT_BUFFER: usize = 64 * 1024;

impl<R: Read> Input<R> {
    fn new(inner: R) -> Self {
        Input {
            inner,
            buf: vec![0u8; INPUT_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            crc_from: 0,
            pos: 0,
            crc: 0,
        }
    }

    fn err(&self, kind: RdbErrorKind) -> RdbError {
        RdbError::new(kind, self.pos)
    }

    fn corrupt_at(&self, offset: u64, msg: impl Into<String>) -> RdbError {
        RdbError::new(RdbErrorKind::Corrupt(msg.into()), offset)
    }

    fn io_err(&self, e: io::Error) -> RdbError {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => self.err(RdbErrorKind::Truncated),
            _ => self.err(RdbErrorKind::Io(e.to_string())),
        }
    }

    /// The CRC-64 of everything consumed so far.
    fn crc(&mut self) -> u64 {
        self.crc = crc64::update(self.crc, &self.buf[self.crc_from..self.start]);
        self.crc_from = self.start;
        self.crc
    }

    /// Refills the (fully consumed) buffer; Ok(false) at the end of input.
    fn fill(&mut self) -> Result<bool, RdbError> {
        self.crc();
        self.start = 0;
        self.end = 0;
        self.crc_from = 0;
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => {
                    self.end = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_err(e)),
            }
        }
    }

    /// Consumes `n` buffered bytes, handing them to `take`.
    fn consume(&mut self, n: usize, take: &mut impl FnMut(&[u8])) {
        take(&self.buf[self.start..self.start + n]);
        self.start += n;
        self.pos += n as u64;
    }

    /// Reads exactly `len` bytes through `take`, in buffer-sized pieces.
    fn read_with(&mut self, mut len: usize, take: &mut impl FnMut(&[u8])) -> Result<(), RdbError> {
        loop {
            let n = len.min(self.end - self.start);
            self.consume(n, take);
            len -= n;
            if len == 0 {
                return Ok(());
            }
            if !self.fill()? {
                return Err(self.err(RdbErrorKind::Truncated));
            }
        }
    }

    fn read_exact(&mut self, out: &mut [u8]) -> Result<(), RdbError> {
        let len = out.len();
        if self.end - self.start >= len {
            out.copy_from_slice(&self.buf[self.start..self.start + len]);
            self.start += len;
            self.pos += len as u64;
            return Ok(());
        }
        let mut at = 0;
        self.read_with(len, &mut |chunk: &[u8]| {
            out[at..at + chunk.len()].copy_from_slice(chunk);
            at += chunk.len();
        })
    }

    fn u8(&mut self) -> Result<u8, RdbError> {
        if self.start < self.end {
            let b = self.buf[self.start];
            self.start += 1;
            self.pos += 1;
            return Ok(b);
        }
        let mut b = [0u8; 1];
        self.read_exact(&mut b)?;
        Ok(b[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        let mut b = [0u8; N];
        self.read_exact(&mut b)?;
        Ok(b)
    }

    /// Reads exactly `n` bytes, growing the buffer only as data arrives so
    /// a forged length cannot reserve memory the input does not back.
    fn bytes(&mut self, n: u64) -> Result<Vec<u8>, RdbError> {
        if n <= (self.end - self.start) as u64 {
            let n = n as usize;
            let v = self.buf[self.start..self.start + n].to_vec();
            self.start += n;
            self.pos += n as u64;
            return Ok(v);
        }
        let mut v = Vec::with_capacity(n.min(PREALLOC_BYTES) as usize);
        let len = usize::try_from(n).map_err(|_| self.err(RdbErrorKind::Truncated))?;
        self.read_with(len, &mut |chunk: &[u8]| v.extend_from_slice(chunk))?;
        Ok(v)
    }

    /// The reader, and the bytes buffered past the point reached.
    fn into_parts(self) -> (R, Vec<u8>) {
        (self.inner, self.buf[self.start..self.end].to_vec())
    }

    /// A string as a value element: short plain strings are copied from
    /// the buffer straight into a CompactBytes (no intermediate Vec).
    fn compact_string(&mut self) -> Result<CompactBytes, RdbError> {
        let avail = self.end - self.start;
        if avail >= 1 {
            let first = self.buf[self.start];
            let n = (first & 0x3f) as usize;
            if first >> 6 == 0 && avail > n {
                let s = CompactBytes::new(&self.buf[self.start + 1..self.start + 1 + n]);
                self.start += 1 + n;
                self.pos += 1 + n as u64;
                return Ok(s);
            }
        }
        Ok(CompactBytes::from_vec(self.string()?))
    }

    /// A length (§3): the string-encoding forms are not lengths here.
    fn len(&mut self) -> Result<u64, RdbError> {
        let at = self.pos;
        match self.len_or_encoding()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(e) => {
                Err(self.corrupt_at(at, format!("expected a length, found string encoding {e}")))
            }
        }
    }

    fn len_or_encoding(&mut self) -> Result<Len, RdbError> {
        let at = self.pos;
        let first = self.u8()?;
        Ok(match first >> 6 {
            0 => Len::Plain((first & 0x3f) as u64),
            1 => Len::Plain(((first & 0x3f) as u64) << 8 | self.u8()? as u64),
            3 => Len::Encoded(first & 0x3f),
            _ => match first {
                0x80 => Len::Plain(u32::from_be_bytes(self.array()?) as u64),
                0x81 => Len::Plain(u64::from_be_bytes(self.array()?)),
                _ => {
                    return Err(self.corrupt_at(at, format!("invalid length prefix 0x{first:02x}")))
                }
            },
        })
    }

    /// A string in any of its forms (§4): raw, INT8/16/32 or LZF.
    fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        let at = self.pos;
        match self.len_or_encoding()? {
            Len::Plain(n) => self.bytes(n),
            Len::Encoded(0) => Ok((self.u8()? as i8).to_string().into_bytes()),
            Len::Encoded(1) => Ok(i16::from_le_bytes(self.array()?).to_string().into_bytes()),
            Len::Encoded(2) => Ok(i32::from_le_bytes(self.array()?).to_string().into_bytes()),
            Len::Encoded(3) => {
                let packed_len = self.len()?;
                let plain_len = self.len()?;
                if plain_len > packed_len.saturating_mul(lzf::MAX_RATIO as u64) {
                    return Err(self.corrupt_at(
                        at,
                        format!("LZF string claims {plain_len} bytes from {packed_len}"),
                    ));
                }
                let packed = self.bytes(packed_len)?;
                lzf::decompress(&packed, plain_len as usize)
                    .map_err(|e| self.corrupt_at(at, e.to_string()))
            }
            Len::Encoded(e) => Err(self.corrupt_at(at, format!("unknown string encoding {e}"))),
        }
    }

    /// A legacy string-encoded double (ZSET type 3 scores).
    fn string_double(&mut self) -> Result<f64, RdbError> {
        let at = self.pos;
        match self.u8()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let text = self.bytes(n as u64)?;
                parse_f64(&text).ok_or_else(|| {
                    self.corrupt_at(
                        at,
                        format!("bad double \"{}\"", String::from_utf8_lossy(&text)),
                    )
                })
            }
        }
    }

    fn binary_double(&mut self) -> Result<f64, RdbError> {
        Ok(f64::from_le_bytes(self.array()?))
    }
}

enum Len {
    Plain(u64),
    Encoded(u8),
}

/// Streaming reader of an RDB file.
///
/// ```ignore
/// let mut r = RdbReader::new(file, LoadOptions::default())?;
/// while let Some(item) = r.next_item()? { ... }
/// let aux = r.aux();
/// ```
pub struct RdbReader<R: Read> {
    input: Input<R>,
    version: u32,
    opts: LoadOptions,
    db: usize,
    aux: Vec<(Vec<u8>, Vec<u8>)>,
    stats: LoadStats,
    /// Expiry/IDLE/FREQ read for the next key (they may precede it in any
    /// order, even with other opcodes in between, as Redis allows).
    pending: KeyPrefix,
    finished: bool,
    failed: bool,
    /// The LRU clock when loading started: loaded keys are stamped with it
    /// (one clock read per load, not per key).
    lru_now: u32,
}

#[derive(Default)]
struct KeyPrefix {
    expire_at: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
}

impl<R: Read> RdbReader<R> {
    /// Reads and checks the header (`REDIS` + 4-digit version 1..=10).
    pub fn new(inner: R, opts: LoadOptions) -> Result<Self, RdbError> {
        let mut input = Input::new(inner);
        let header: [u8; 9] = input.array().map_err(|mut e| {
            if e.kind == RdbErrorKind::Truncated {
                e.kind = RdbErrorKind::BadMagic;
            }
            e.offset = 0;
            e
        })?;
        if &header[..5] != b"REDIS" || !header[5..].iter().all(u8::is_ascii_digit) {
            return Err(RdbError::new(RdbErrorKind::BadMagic, 0));
        }
        let version = header[5..]
            .iter()
            .fold(0u32, |v, d| v * 10 + (d - b'0') as u32);
        if version == 0 || version > RDB_VERSION {
            return Err(RdbError::new(RdbErrorKind::UnsupportedVersion(version), 5));
        }
        Ok(RdbReader {
            input,
            version,
            opts,
            db: 0,
            aux: Vec::new(),
            stats: LoadStats::default(),
            pending: KeyPrefix::default(),
            finished: false,
            failed: false,
            lru_now: lru_clock(),
        })
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// The database the keys read now belong to (the last SELECTDB).
    pub fn current_db(&self) -> usize {
        self.db
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.input.pos
    }

    /// The AUX fields seen so far, in file order.
    pub fn aux_fields(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.aux
    }

    /// The AUX fields seen so far, interpreted.
    pub fn aux(&self) -> RdbAux {
        RdbAux::from_fields(&self.aux)
    }

    pub fn stats(&self) -> LoadStats {
        self.stats
    }

    /// True once EOF and the checksum were read.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The underlying reader and any bytes already buffered past the point
    /// reached (e.g. the EOF mark that follows a diskless replication
    /// payload).
    pub fn into_parts(self) -> (R, Vec<u8>) {
        self.input.into_parts()
    }

    /// The next item, or None after EOF (checksum verified).
    pub fn next_item(&mut self) -> Result<Option<RdbItem>, RdbError> {
        if self.finished || self.failed {
            return Ok(None);
        }
        let r = self.read_item();
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn read_item(&mut self) -> Result<Option<RdbItem>, RdbError> {
        loop {
            let at = self.input.pos;
            let op = self.input.u8()?;
            match op {
                opcode::EOF => {
                    self.read_checksum()?;
                    self.finished = true;
                    return Ok(None);
                }
                opcode::SELECTDB => {
                    let index = self.input.len()?;
                    if index >= self.opts.databases as u64 {
                        return Err(RdbError::new(
                            RdbErrorKind::DbIndexOutOfRange {
                                index,
                                databases: self.opts.databases,
                            },
                            at,
                        ));
                    }
                    self.db = index as usize;
                    return Ok(Some(RdbItem::SelectDb(self.db)));
                }
                opcode::EXPIRETIME => {
                    let secs = i32::from_le_bytes(self.input.array()?) as i64;
                    self.pending.expire_at = Some(secs * 1000);
                }
                opcode::EXPIRETIME_MS => {
                    self.pending.expire_at = Some(i64::from_le_bytes(self.input.array()?));
                }
                opcode::RESIZEDB => {
                    let keys = self.input.len()?;
                    let keys_with_ttl = self.input.len()?;
                    return Ok(Some(RdbItem::ResizeDb {
                        keys,
                        keys_with_ttl,
                    }));
                }
                opcode::AUX => {
                    let key = self.input.string()?;
                    let value = self.input.string()?;
                    self.aux.push((key.clone(), value.clone()));
                    return Ok(Some(RdbItem::Aux { key, value }));
                }
                opcode::FREQ => self.pending.freq = Some(self.input.u8()?),
                opcode::IDLE => self.pending.idle = Some(self.input.len()?),
                opcode::MODULE_AUX => {
                    let id = self.input.len()?;
                    return Err(RdbError::new(RdbErrorKind::ModuleAux(module_name(id)), at));
                }
                opcode::FUNCTION_PRE_GA => {
                    let _name = self.input.string()?;
                    let _engine = self.input.string()?;
                    if self.input.len()? != 0 {
                        let _description = self.input.string()?;
                    }
                    let code = self.input.string()?;
                    return Ok(Some(RdbItem::FunctionLibrary(code)));
                }
                opcode::FUNCTION2 => {
                    let code = self.input.string()?;
                    return Ok(Some(RdbItem::FunctionLibrary(code)));
                }
                t if types::is_object_type(t) => {
                    if let Some(key) = self.read_key(t, at)? {
                        return Ok(Some(RdbItem::Key(key)));
                    }
                }
                t => return Err(RdbError::new(RdbErrorKind::UnknownType(t), at)),
            }
        }
    }

    /// Reads a key of type `t` and its value, applying (and clearing) the
    /// pending expiry/IDLE/FREQ. None when the key is skipped: an empty
    /// collection, or an expired key when `drop_expired` is set.
    fn read_key(&mut self, t: u8, type_at: u64) -> Result<Option<LoadedKey>, RdbError> {
        let meta = std::mem::take(&mut self.pending);
        let key = self.input.string()?;
        let value = read_object(&mut self.input, t, type_at, &self.opts.limits)
            .map_err(|e| e.with_key(&key))?;
        let Some(value) = value else {
            self.stats.empty_skipped += 1;
            return Ok(None);
        };
        let expire_at = match meta.expire_at {
            None => 0,
            // 0 means "no TTL" in an Entry: keep the epoch as expired.
            Some(0) => -1,
            Some(ms) => ms,
        };
        if self.opts.drop_expired && expire_at != 0 && expire_at < self.opts.now_ms {
            self.stats.expired_skipped += 1;
            return Ok(None);
        }
        let mut entry = Entry {
            value,
            expire_at,
            lru: self.lru_now,
            raw: false,
        };
        if let Some(idle) = meta.idle {
            entry.lru = self
                .lru_now
                .saturating_sub(idle.min(u32::MAX as u64) as u32);
        }
        Ok(Some(LoadedKey {
            db: self.db,
            key,
            entry,
            idle_secs: meta.idle,
            lfu_freq: meta.freq,
        }))
    }

    fn read_checksum(&mut self) -> Result<(), RdbError> {
        if self.version < 5 {
            return Ok(());
        }
        let computed = self.input.crc();
        let at = self.input.pos;
        let stored = u64::from_le_bytes(self.input.array()?);
        if self.opts.verify_checksum && stored != 0 && stored != computed {
            return Err(RdbError::new(
                RdbErrorKind::ChecksumMismatch { stored, computed },
                at,
            ));
        }
        Ok(())
    }
}

impl<R: Read> Iterator for RdbReader<R> {
    type Item = Result<RdbItem, RdbError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_item().transpose()
    }
}

/// A module's 9-character name from its 64-bit type id (54 bits of name in
/// a 64-symbol alphabet, then 10 bits of version).
fn module_name(id: u64) -> String {
    const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..9)
        .map(|i| CHARSET[((id >> (64 - 6 * (i + 1))) & 63) as usize] as char)
        .collect()
}

/// Restores a DUMP payload with the default encoding thresholds.
pub fn restore_payload(payload: &[u8]) -> Result<Value, RdbError> {
    restore_payload_with(payload, &EncodingLimits::default())
}

/// Checks a DUMP payload's footer (RDB version ≤ 10, CRC-64 always
/// verified, as RESTORE does) and decodes its value.
pub fn restore_payload_with(payload: &[u8], limits: &EncodingLimits) -> Result<Value, RdbError> {
    if payload.len() < 10 {
        return Err(RdbError::new(
            RdbErrorKind::PayloadTooShort(payload.len()),
            0,
        ));
    }
    let footer_at = payload.len() - 10;
    let version = u16::from_le_bytes([payload[footer_at], payload[footer_at + 1]]);
    if version as u32 > RDB_VERSION {
        return Err(RdbError::new(
            RdbErrorKind::UnsupportedVersion(version as u32),
            footer_at as u64,
        ));
    }
    let mut stored = [0u8; 8];
    stored.copy_from_slice(&payload[footer_at + 2..]);
    let stored = u64::from_le_bytes(stored);
    let computed = crc64::checksum(&payload[..footer_at + 2]);
    if stored != computed {
        return Err(RdbError::new(
            RdbErrorKind::ChecksumMismatch { stored, computed },
            footer_at as u64 + 2,
        ));
    }
    let mut input = Input::new(&payload[..footer_at]);
    let t = input.u8()?;
    if !types::is_object_type(t) {
        return Err(RdbError::new(RdbErrorKind::UnknownType(t), 0));
    }
    match read_object(&mut input, t, 0, limits)? {
        Some(v) => Ok(v),
        None => Err(RdbError::new(RdbErrorKind::EmptyValue, 1)),
    }
}

fn cap(n: u64) -> usize {
    n.min(PREALLOC_ELEMENTS) as usize
}

fn unsupported(code: u8, what: &str, at: u64) -> RdbError {
    RdbError::new(
        RdbErrorKind::UnsupportedType {
            code,
            what: what.into(),
        },
        at,
    )
}

/// Reads a value of type `t`. None for an empty collection (skipped by
/// loaders, as Redis does). `type_at` is the offset of the type byte.
fn read_object<R: Read>(
    input: &mut Input<R>,
    t: u8,
    type_at: u64,
    limits: &EncodingLimits,
) -> Result<Option<Value>, RdbError> {
    let at = input.pos;
    let value = match t {
        types::STRING => Value::Str(input.compact_string()?),
        types::LIST => {
            let n = input.len()?;
            let mut list = VecDeque::with_capacity(cap(n));
            for _ in 0..n {
                list.push_back(input.compact_string()?);
            }
            Value::List(Box::new(list))
        }
        types::SET => {
            let n = input.len()?;
            let mut set = SetValue::default();
            set.members.reserve(cap(n));
            for _ in 0..n {
                let m_at = input.pos;
                if !set.members.insert(input.compact_string()?) {
                    return Err(input.corrupt_at(m_at, "duplicate set member"));
                }
            }
            set.update_encoding(limits);
            Value::Set(Box::new(set))
        }
        types::ZSET | types::ZSET_2 => {
            let n = input.len()?;
            let mut z = ZSet::default();
            for _ in 0..n {
                let m_at = input.pos;
                let member = input.string()?;
                let score = if t == types::ZSET {
                    input.string_double()?
                } else {
                    input.binary_double()?
                };
                if score.is_nan() {
                    return Err(input.corrupt_at(m_at, "zset score is NaN"));
                }
                if !z.insert(&member, score) {
                    return Err(input.corrupt_at(m_at, "duplicate zset member"));
                }
            }
            z.update_encoding(limits);
            Value::ZSet(Box::new(z))
        }
        types::HASH => {
            let n = input.len()?;
            let mut h = HashValue::default();
            h.map.reserve(cap(n));
            for _ in 0..n {
                let f_at = input.pos;
                let field = input.compact_string()?;
                let value = input.compact_string()?;
                if h.map.insert(field, value).is_some() {
                    return Err(input.corrupt_at(f_at, "duplicate hash field"));
                }
            }
            h.update_encoding(limits);
            Value::Hash(Box::new(h))
        }
        types::MODULE_PRE_GA => return Err(unsupported(t, "module value, pre-GA format", type_at)),
        types::MODULE_2 => {
            let id = input.len()?;
            let what = format!("value of module '{}'", module_name(id));
            return Err(unsupported(t, &what, type_at));
        }
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 => {
            return Err(unsupported(t, "stream", type_at))
        }
        types::HASH_ZIPMAP => {
            let blob = input.string()?;
            let pairs = ziplist::decode_zipmap(&blob).map_err(|e| input.corrupt_at(at, e))?;
            let items = pairs
                .into_iter()
                .flat_map(|(k, v)| [LpItem::Str(k), LpItem::Str(v)]);
            hash_from_items(items, limits).map_err(|e| input.corrupt_at(at, e))?
        }
        types::LIST_ZIPLIST => {
            let blob = input.string()?;
            let items = ziplist::decode(&blob).map_err(|e| input.corrupt_at(at, e))?;
            Value::List(Box::new(
                items.into_iter().map(|i| i.to_bytes().into()).collect(),
            ))
        }
        types::SET_INTSET => {
            let blob = input.string()?;
            let values = intset::decode(&blob).map_err(|e| input.corrupt_at(at, e))?;
            let mut set = SetValue::default();
            set.members.reserve(values.len());
            for v in values {
                set.members
                    .insert(CompactBytes::from_vec(v.to_string().into_bytes()));
            }
            set.update_encoding(limits);
            Value::Set(Box::new(set))
        }
        types::ZSET_ZIPLIST | types::ZSET_LISTPACK => {
            let blob = input.string()?;
            let items = if t == types::ZSET_ZIPLIST {
                ziplist::decode(&blob)
            } else {
                listpack::decode(&blob)
            }
            .map_err(|e| input.corrupt_at(at, e))?;
            zset_from_items(&items, limits).map_err(|e| input.corrupt_at(at, e))?
        }
        types::HASH_ZIPLIST | types::HASH_LISTPACK => {
            let blob = input.string()?;
            let items = if t == types::HASH_ZIPLIST {
                ziplist::decode(&blob)
            } else {
                listpack::decode(&blob)
            }
            .map_err(|e| input.corrupt_at(at, e))?;
            hash_from_items(items, limits).map_err(|e| input.corrupt_at(at, e))?
        }
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => read_quicklist(input, t)?,
        other => return Err(RdbError::new(RdbErrorKind::UnknownType(other), type_at)),
    };
    Ok((!value.is_empty()).then_some(value))
}

fn read_quicklist<R: Read>(input: &mut Input<R>, t: u8) -> Result<Value, RdbError> {
    let nodes = input.len()?;
    let mut list = VecDeque::new();
    for _ in 0..nodes {
        let node_at = input.pos;
        let container = if t == types::LIST_QUICKLIST_2 {
            input.len()?
        } else {
            2
        };
        let blob_at = input.pos;
        let blob = input.string()?;
        match container {
            1 => list.push_back(CompactBytes::from_vec(blob)),
            2 => {
                let items = if t == types::LIST_QUICKLIST {
                    ziplist::decode(&blob)
                } else {
                    listpack::decode(&blob)
                }
                .map_err(|e| input.corrupt_at(blob_at, e))?;
                // Empty nodes are skipped, as Redis does.
                list.extend(items.into_iter().map(|i| i.to_compact()));
            }
            other => {
                return Err(
                    input.corrupt_at(node_at, format!("unknown quicklist container type {other}"))
                )
            }
        }
    }
    Ok(Value::List(Box::new(list)))
}

fn hash_from_items<'a>(
    items: impl IntoIterator<Item = LpItem<'a>>,
    limits: &EncodingLimits,
) -> Result<Value, String> {
    let mut h = HashValue::default();
    let mut items = items.into_iter();
    h.map.reserve(items.size_hint().0 / 2);
    while let Some(field) = items.next() {
        let value = items
            .next()
            .ok_or("hash blob has a field without a value")?;
        match h.map.entry(field.to_compact()) {
            indexmap::map::Entry::Occupied(o) => {
                return Err(format!(
                    "duplicate hash field \"{}\"",
                    String::from_utf8_lossy(o.key())
                ));
            }
            indexmap::map::Entry::Vacant(v) => {
                v.insert(value.to_compact());
            }
        }
    }
    h.update_encoding(limits);
    Ok(Value::Hash(Box::new(h)))
}

fn zset_from_items(items: &[LpItem<'_>], limits: &EncodingLimits) -> Result<Value, String> {
    if !items.len().is_multiple_of(2) {
        return Err("zset blob has a member without a score".into());
    }
    let mut z = ZSet::default();
    for pair in items.chunks_exact(2) {
        let score = match pair[1] {
            LpItem::Int(v) => v as f64,
            LpItem::Str(s) => parse_f64(s)
                .ok_or_else(|| format!("bad zset score \"{}\"", String::from_utf8_lossy(s)))?,
        };
        if score.is_nan() {
            return Err("zset score is NaN".into());
        }
        let member = pair[0].to_bytes();
        if !z.insert(&member, score) {
            return Err(format!(
                "duplicate zset member \"{}\"",
                String::from_utf8_lossy(&member)
            ));
        }
    }
    z.update_encoding(limits);
    Ok(Value::ZSet(Box::new(z)))
}
