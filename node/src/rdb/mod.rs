//! The RDB snapshot format of Redis 7.0 (RDB version 10): an encoder whose
//! files and DUMP payloads a real Redis 7.0 loads, and a validating decoder
//! that reads what Redis 7.0 writes plus the older encodings (ziplists,
//! zipmaps, quicklist v1, string-encoded doubles) a 7.0 server still loads.
//!
//! Layout: `encode` (streaming [`RdbWriter`], [`dump_payload`]), `decode`
//! (streaming [`RdbReader`], [`restore_payload`]), and the primitive codecs
//! (`crc64`, `lzf`, `listpack`, `intset`, `ziplist`). The authoritative
//! description of the format is `shared/protocol/rdb.md`.
//!
//! Streams (types 15, 19), modules (6, 7, MODULE_AUX) and the 7.2-only
//! types (20, 21) are not supported: decoding them fails with an error that
//! names the type. Function libraries are handed to the caller as raw code.

pub mod crc64;
mod decode;
mod encode;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod ziplist;

#[cfg(test)]
mod tests;

use std::fmt;

use crate::db::{Entry, Value};

pub use decode::{
    restore_payload, restore_payload_with, LoadOptions, LoadStats, LoadedKey, RdbItem, RdbReader,
};
pub use encode::{dump_payload, dump_payload_with, KeyMeta, RdbWriter, WriteOptions};

/// The RDB version Redis 7.0 writes and the newest it loads.
pub const RDB_VERSION: u32 = 10;

/// Opcodes that may appear where a value type is expected.
pub mod opcode {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Value type codes (the byte before each key).
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;

    /// True for the type bytes Redis 7.0 recognises (rdbIsObjectType).
    pub fn is_object_type(t: u8) -> bool {
        t <= 7 || (9..=19).contains(&t)
    }
}

/// What went wrong while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdbErrorKind {
    /// The underlying reader failed (other than by ending early).
    Io(String),
    /// The input ended in the middle of an item.
    Truncated,
    /// The file does not start with `REDIS` and four digits.
    BadMagic,
    /// An RDB version this loader cannot handle (0 or > 10).
    UnsupportedVersion(u32),
    /// The stored CRC-64 differs from the computed one.
    ChecksumMismatch { stored: u64, computed: u64 },
    /// A DUMP payload shorter than its 10-byte footer.
    PayloadTooShort(usize),
    /// A byte that is neither an opcode nor a known value type.
    UnknownType(u8),
    /// A known type this server cannot hold (streams, modules, 7.2 types).
    UnsupportedType { code: u8, what: String },
    /// Module auxiliary data for a module this server does not have.
    ModuleAux(String),
    /// SELECTDB with an index beyond the configured databases.
    DbIndexOutOfRange { index: u64, databases: usize },
    /// A collection with no elements (only an error for RESTORE: a file
    /// loader skips such keys, as Redis does).
    EmptyValue,
    /// Malformed content.
    Corrupt(String),
}

/// A decoding error: what, where (byte offset from the start of the input)
/// and, inside a value, which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdbError {
    pub kind: RdbErrorKind,
    pub offset: u64,
    pub key: Option<Vec<u8>>,
}

impl RdbError {
    pub fn new(kind: RdbErrorKind, offset: u64) -> Self {
        RdbError {
            kind,
            offset,
            key: None,
        }
    }

    pub(crate) fn with_key(mut self, key: &[u8]) -> Self {
        if self.key.is_none() {
            self.key = Some(key.to_vec());
        }
        self
    }

    /// True for the failures RESTORE reports as "ERR DUMP payload version or
    /// checksum are wrong" (anything else is "ERR Bad data format").
    pub fn is_version_or_checksum(&self) -> bool {
        matches!(
            self.kind,
            RdbErrorKind::UnsupportedVersion(_)
                | RdbErrorKind::ChecksumMismatch { .. }
                | RdbErrorKind::PayloadTooShort(_)
        )
    }
}

impl fmt::Display for RdbErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdbErrorKind::Io(e) => write!(f, "read error: {e}"),
            RdbErrorKind::Truncated => write!(f, "unexpected end of input"),
            RdbErrorKind::BadMagic => write!(f, "wrong signature (not an RDB file)"),
            RdbErrorKind::UnsupportedVersion(v) => {
                write!(f, "can't handle RDB format version {v}")
            }
            RdbErrorKind::ChecksumMismatch { stored, computed } => write!(
                f,
                "wrong RDB checksum (stored {stored:016x}, computed {computed:016x})"
            ),
            RdbErrorKind::PayloadTooShort(n) => {
                write!(f, "DUMP payload of {n} bytes is shorter than its footer")
            }
            RdbErrorKind::UnknownType(t) => write!(f, "unknown opcode or value type {t}"),
            RdbErrorKind::UnsupportedType { code, what } => {
                write!(f, "unsupported value type {code} ({what})")
            }
            RdbErrorKind::ModuleAux(name) => {
                write!(
                    f,
                    "module auxiliary data for module '{name}' is not supported"
                )
            }
            RdbErrorKind::DbIndexOutOfRange { index, databases } => write!(
                f,
                "SELECTDB {index} is out of range (the server has {databases} databases)"
            ),
            RdbErrorKind::EmptyValue => write!(f, "empty collection value"),
            RdbErrorKind::Corrupt(msg) => write!(f, "corrupt data: {msg}"),
        }
    }
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte offset {}", self.kind, self.offset)?;
        if let Some(key) = &self.key {
            let shown = &key[..key.len().min(64)];
            write!(
                f,
                " (key \"{}\")",
                String::from_utf8_lossy(shown).escape_debug()
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for RdbError {}

/// The AUX fields Redis 7.0 writes at the start of a snapshot, and what a
/// loader learns from them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RdbAux {
    pub redis_ver: String,
    pub redis_bits: u32,
    /// Unix seconds at save time.
    pub ctime: i64,
    pub used_mem: u64,
    /// Replication info: written only when `repl_id` is set (a master with a
    /// backlog, a replica, or a snapshot sent to a replica). A loader sets
    /// it only when the file holds a 40-character id.
    pub repl_id: Option<String>,
    pub repl_offset: i64,
    pub repl_stream_db: i64,
    pub aof_base: bool,
}

impl Default for RdbAux {
    fn default() -> Self {
        RdbAux {
            redis_ver: "7.0.15".into(),
            redis_bits: 64,
            ctime: crate::util::time::now_ms() / 1000,
            used_mem: 0,
            repl_id: None,
            repl_offset: 0,
            repl_stream_db: 0,
            aof_base: false,
        }
    }
}

impl RdbAux {
    /// Interprets the raw AUX pairs of a file; unknown keys are ignored and
    /// missing ones keep neutral defaults (empty version, zeroes).
    pub fn from_fields(fields: &[(Vec<u8>, Vec<u8>)]) -> RdbAux {
        let mut aux = RdbAux {
            redis_ver: String::new(),
            redis_bits: 0,
            ctime: 0,
            ..RdbAux::default()
        };
        let num = |v: &[u8]| crate::util::number::parse_i64(v);
        for (k, v) in fields {
            match k.as_slice() {
                b"redis-ver" => aux.redis_ver = String::from_utf8_lossy(v).into_owned(),
                b"redis-bits" => aux.redis_bits = num(v).unwrap_or(0).clamp(0, 64) as u32,
                b"ctime" => aux.ctime = num(v).unwrap_or(0),
                b"used-mem" => aux.used_mem = num(v).unwrap_or(0).max(0) as u64,
                b"repl-id" if v.len() == 40 => {
                    aux.repl_id = Some(String::from_utf8_lossy(v).into_owned())
                }
                b"repl-offset" => aux.repl_offset = num(v).unwrap_or(0),
                b"repl-stream-db" => aux.repl_stream_db = num(v).unwrap_or(0),
                b"aof-base" => aux.aof_base = num(v) == Some(1),
                _ => {}
            }
        }
        aux
    }
}

/// Semantic equality of two values, including the compact-encoding flags
/// (for tests and the fuzz round trip; `Value` has no `PartialEq`).
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(x), Value::List(y)) => x == y,
        (Value::Hash(x), Value::Hash(y)) => {
            x.big == y.big
                && x.map.len() == y.map.len()
                && x.map
                    .iter()
                    .all(|(k, v)| y.map.get(k.as_slice()) == Some(v))
        }
        (Value::Set(x), Value::Set(y)) => {
            x.big == y.big
                && x.members.len() == y.members.len()
                && x.members.iter().all(|m| y.members.contains(m.as_slice()))
        }
        (Value::ZSet(x), Value::ZSet(y)) => {
            x.big == y.big
                && x.len() == y.len()
                // -0 and 0 are the same score (a listpack stores both as 0).
                && x.iter()
                    .zip(y.iter())
                    .all(|(p, q)| p.member == q.member && p.score == q.score)
        }
        _ => false,
    }
}

/// Same key, value and TTL.
pub fn entries_equal(a: &Entry, b: &Entry) -> bool {
    a.expire_at == b.expire_at && values_equal(&a.value, &b.value)
}

/// Fuzz entry point: arbitrary bytes as an RDB file (and, prefixed with a
/// header, as the body of one) and as a DUMP payload. Must never panic; every
/// value decoded must survive a DUMP/RESTORE round trip unchanged.
pub fn fuzz_decode(data: &[u8]) {
    let mut prefixed = b"REDIS0010".to_vec();
    prefixed.extend_from_slice(data);
    for input in [data, &prefixed[..]] {
        let opts = LoadOptions {
            verify_checksum: false,
            drop_expired: false,
            ..LoadOptions::default()
        };
        let Ok(reader) = RdbReader::new(input, opts) else {
            continue;
        };
        for item in reader {
            match item {
                Ok(RdbItem::Key(k)) => check_round_trip(&k.entry.value),
                Ok(_) => {}
                Err(e) => {
                    let _ = e.to_string();
                    break;
                }
            }
        }
    }
    if let Ok(v) = restore_payload(data) {
        check_round_trip(&v);
    }
}

fn check_round_trip(value: &Value) {
    let payload = dump_payload(value);
    match restore_payload(&payload) {
        Ok(again) => assert!(values_equal(value, &again), "round trip changed a value"),
        Err(e) => panic!("our own DUMP payload failed to restore: {e}"),
    }
}
