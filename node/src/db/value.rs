//! The value types a key can hold, and the encoding names Redis reports for
//! them (OBJECT ENCODING, and later the RDB encoder, depend on those).

use std::collections::VecDeque;

use indexmap::{IndexMap, IndexSet};

use super::compact::CompactBytes;
use super::zset::ZSet;

pub type FastHasher = ahash::RandomState;
pub type HashMapValue = IndexMap<CompactBytes, CompactBytes, FastHasher>;
pub type SetMembers = IndexSet<CompactBytes, FastHasher>;

/// Thresholds that decide the compact encodings (redis.conf's *-max-* settings).
#[derive(Clone, Copy, Debug)]
pub struct EncodingLimits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub list_max_listpack_size: i64,
}

impl Default for EncodingLimits {
    fn default() -> Self {
        EncodingLimits {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct HashValue {
    pub map: HashMapValue,
    /// Converted to a real hash table; like Redis, never converted back.
    pub big: bool,
}

#[derive(Clone, Debug, Default)]
pub struct SetValue {
    pub members: SetMembers,
    /// Holds a non-integer or too many members for an intset; never reverts.
    pub big: bool,
}

#[derive(Clone, Debug)]
pub enum Value {
    Str(CompactBytes),
    List(Box<VecDeque<CompactBytes>>),
    Hash(Box<HashValue>),
    Set(Box<SetValue>),
    ZSet(Box<ZSet>),
}

/// The TYPE names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Hash,
    Set,
    ZSet,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<ValueType> {
        Some(match name.to_ascii_lowercase().as_slice() {
            b"string" => ValueType::String,
            b"list" => ValueType::List,
            b"hash" => ValueType::Hash,
            b"set" => ValueType::Set,
            b"zset" => ValueType::ZSet,
            _ => return None,
        })
    }
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Str(_) => ValueType::String,
            Value::List(_) => ValueType::List,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
            Value::ZSet(_) => ValueType::ZSet,
        }
    }

    pub fn new_list() -> Value {
        Value::List(Box::default())
    }

    pub fn new_hash() -> Value {
        Value::Hash(Box::default())
    }

    pub fn new_set() -> Value {
        Value::Set(Box::default())
    }

    pub fn new_zset() -> Value {
        Value::ZSet(Box::default())
    }

    /// Number of elements of a container (1 for a string).
    pub fn len(&self) -> usize {
        match self {
            Value::Str(_) => 1,
            Value::List(l) => l.len(),
            Value::Hash(h) => h.map.len(),
            Value::Set(s) => s.members.len(),
            Value::ZSet(z) => z.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING for this value, following Redis 7.0's rules.
    pub fn encoding(&self, raw_string: bool) -> &'static str {
        match self {
            Value::Str(s) => string_encoding(s, raw_string),
            Value::List(_) => "quicklist",
            Value::Hash(h) => {
                if h.big {
                    "hashtable"
                } else {
                    "listpack"
                }
            }
            Value::Set(s) => {
                if s.big {
                    "hashtable"
                } else {
                    "intset"
                }
            }
            Value::ZSet(z) => {
                if z.big {
                    "skiplist"
                } else {
                    "listpack"
                }
            }
        }
    }

    /// Rough heap footprint, for eviction accounting and MEMORY USAGE.
    pub fn approx_heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::List(l) => l.iter().map(|e| 24 + e.heap_size()).sum::<usize>() + 32,
            Value::Hash(h) => h
                .map
                .iter()
                .map(|(k, v)| 64 + k.heap_size() + v.heap_size())
                .sum(),
            Value::Set(s) => s.members.iter().map(|m| 40 + m.heap_size()).sum(),
            Value::ZSet(z) => z.len() * 120,
        }
    }
}

/// "int" for strings that are canonical integers, "embstr" up to 44 bytes,
/// "raw" beyond, and "raw" after in-place edits like APPEND even when the
/// result looks like an integer (Redis does not re-encode edited strings).
pub fn string_encoding(s: &[u8], raw: bool) -> &'static str {
    if raw {
        return "raw";
    }
    if s.len() <= 20 && crate::util::number::parse_i64(s).is_some() {
        return "int";
    }
    if s.len() > 44 {
        "raw"
    } else {
        "embstr"
    }
}

impl HashValue {
    /// Switches to the hash-table encoding when a limit is crossed.
    pub fn update_encoding(&mut self, limits: &EncodingLimits) {
        if !self.big
            && (self.map.len() > limits.hash_max_listpack_entries
                || self.map.iter().any(|(k, v)| {
                    k.len() > limits.hash_max_listpack_value
                        || v.len() > limits.hash_max_listpack_value
                }))
        {
            self.big = true;
        }
    }
}

impl SetValue {
    pub fn update_encoding(&mut self, limits: &EncodingLimits) {
        if !self.big
            && (self.members.len() > limits.set_max_intset_entries
                || self
                    .members
                    .iter()
                    .any(|m| crate::util::number::parse_i64(m).is_none()))
        {
            self.big = true;
        }
    }

    /// Members in the order Redis returns them: ascending numeric for an intset.
    pub fn ordered_members(&self) -> Vec<&CompactBytes> {
        let mut v: Vec<&CompactBytes> = self.members.iter().collect();
        if !self.big {
            v.sort_by_key(|m| crate::util::number::parse_i64(m).unwrap_or(0));
        }
        v
    }
}
