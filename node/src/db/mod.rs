//! The keyspace: numbered databases of keys with values and expiry.
//!
//! Each database is an insertion-ordered hash map (`IndexMap`): O(1) lookup,
//! O(1) random sampling by index (RANDOMKEY, eviction, active expiry) and a
//! SCAN cursor over positions. Keys with a TTL are also kept in `volatile`, so
//! the active expiry cycle samples only them, as Redis samples its expires dict.

pub mod compact;
pub mod lfu;
pub mod value;
pub mod zset;

use indexmap::{IndexMap, IndexSet};
use rand::Rng;

pub use compact::CompactBytes;
pub use value::{EncodingLimits, HashValue, SetValue, Value, ValueType};
pub use zset::ZSet;

use value::FastHasher;

/// A key's value and metadata.
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 means no expiry.
    pub expire_at: i64,
    /// LRU clock (seconds resolution) or LFU counter, for OBJECT and eviction.
    pub lru: u32,
    /// A string edited in place (APPEND, SETRANGE, SETBIT): OBJECT ENCODING "raw".
    pub raw: bool,
}

impl Entry {
    pub fn new(value: Value) -> Self {
        Entry {
            value,
            expire_at: 0,
            lru: lru_clock(),
            raw: false,
        }
    }
}

/// The error every command returns when a key holds another type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// The LRU clock, refreshed by the server cron (as Redis's server.lruclock)
/// so key accesses do not read the system clock. 0 until the first refresh.
static LRU_CLOCK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Seconds-resolution clock for idle times (OBJECT IDLETIME).
pub fn lru_clock() -> u32 {
    match LRU_CLOCK.load(std::sync::atomic::Ordering::Relaxed) {
        0 => (crate::util::time::now_ms() / 1000) as u32,
        cached => cached,
    }
}

/// Re-reads the system clock into the LRU clock (called by the cron).
pub fn refresh_lru_clock() {
    let now = (crate::util::time::now_ms() / 1000) as u32;
    LRU_CLOCK.store(now, std::sync::atomic::Ordering::Relaxed);
}

/// Records an access: the LRU clock, or under an LFU policy the decayed
/// and (probabilistically) incremented LFU counter, as Redis's updateLFU.
fn touch(e: &mut Entry, lfu: Option<lfu::LfuParams>, now_ms: i64) {
    match lfu {
        None => e.lru = lru_clock(),
        Some(p) => e.lru = lfu::on_access(e.lru, p, now_ms, &mut rand::thread_rng()),
    }
}

/// One numbered database.
#[derive(Debug)]
pub struct Db {
    pub id: usize,
    entries: IndexMap<CompactBytes, Entry, FastHasher>,
    volatile: IndexSet<CompactBytes, FastHasher>,
    /// The time commands see: fixed for the duration of one command, as Redis does.
    pub now_ms: i64,
    /// Masters delete expired keys on access; replicas only hide them and wait
    /// for the master's DEL.
    pub delete_expired: bool,
    /// Keys removed by expiry since the executor last looked; it propagates
    /// them as DEL before the command that found them.
    pub expired_log: Vec<CompactBytes>,
    pub stats: DbStats,
    /// Set under an LFU maxmemory policy: accesses then update the LFU
    /// counter kept in `Entry.lru` instead of the LRU clock.
    pub lfu: Option<lfu::LfuParams>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct DbStats {
    pub expired_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
}

impl Db {
    pub fn new(id: usize) -> Self {
        Db {
            id,
            entries: IndexMap::with_hasher(FastHasher::new()),
            volatile: IndexSet::with_hasher(FastHasher::new()),
            now_ms: crate::util::time::now_ms(),
            delete_expired: true,
            expired_log: Vec::new(),
            stats: DbStats::default(),
            lfu: None,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a key read from a snapshot with one hash probe (set_entry
    /// looks the key up first); a duplicate replaces the earlier entry.
    pub fn insert_loaded(&mut self, key: &[u8], mut entry: Entry) {
        if self.lfu.is_some() && entry.lru == lru_clock() {
            entry.lru = lfu::initial_field(self.now_ms);
        }
        let has_ttl = entry.expire_at != 0;
        let (_, old) = self.entries.insert_full(CompactBytes::new(key), entry);
        if has_ttl {
            self.volatile.insert(CompactBytes::new(key));
        } else if old.is_some_and(|o| o.expire_at != 0) {
            self.volatile.swap_remove(key);
        }
    }

    /// Makes room for `additional` more keys (a snapshot's RESIZEDB hint).
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    fn is_expired(&self, e: &Entry) -> bool {
        e.expire_at != 0 && e.expire_at <= self.now_ms
    }

    /// Removes `key` if its TTL has passed. Returns true when the key is
    /// (logically) gone.
    fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        let expired = match self.entries.get(key) {
            Some(e) => self.is_expired(e),
            None => return false,
        };
        if !expired {
            return false;
        }
        if self.delete_expired {
            self.remove(key);
            self.stats.expired_keys += 1;
            self.expired_log.push(CompactBytes::new(key));
        }
        true
    }

    /// Looks a key up for reading (counts keyspace hits/misses).
    pub fn get(&mut self, key: &[u8]) -> Option<&Entry> {
        let found = !self.expire_if_needed(key) && self.entries.contains_key(key);
        if found {
            self.stats.keyspace_hits += 1;
            let (lfu, now_ms) = (self.lfu, self.now_ms);
            let e = self.entries.get_mut(key)?;
            touch(e, lfu, now_ms);
            Some(e)
        } else {
            self.stats.keyspace_misses += 1;
            None
        }
    }

    /// Looks a key up for writing.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        if self.expire_if_needed(key) {
            return None;
        }
        let (lfu, now_ms) = (self.lfu, self.now_ms);
        let e = self.entries.get_mut(key)?;
        touch(e, lfu, now_ms);
        Some(e)
    }

    /// Existence check that neither counts stats nor touches the LRU clock.
    pub fn contains(&mut self, key: &[u8]) -> bool {
        !self.expire_if_needed(key) && self.entries.contains_key(key)
    }

    /// Reads an entry without expiry side effects (snapshots, OBJECT, DEBUG).
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.entries.get(key).filter(|e| !self.is_expired(e))
    }

    /// Sets a key to a new value and clears its TTL (Redis's setKey).
    pub fn set(&mut self, key: &[u8], value: Value) {
        self.set_entry(key, Entry::new(value));
    }

    /// Sets a key, keeping the TTL it had (SET ... KEEPTTL).
    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value) {
        let expire_at = self.get_mut(key).map(|e| e.expire_at).unwrap_or(0);
        let mut entry = Entry::new(value);
        entry.expire_at = expire_at;
        self.set_entry(key, entry);
    }

    /// Inserts a whole entry (value and TTL).
    pub fn set_entry(&mut self, key: &[u8], mut entry: Entry) {
        // Entries are created stamped with the LRU clock (Entry::new, COPY...).
        // Under an LFU policy a fresh one starts with the initial LFU counter
        // instead; entries carrying loaded LFU data (RESTORE FREQ, snapshot
        // load) hold a small value that never equals the seconds clock.
        if self.lfu.is_some() && entry.lru == lru_clock() {
            entry.lru = lfu::initial_field(self.now_ms);
        }
        let has_ttl = entry.expire_at != 0;
        match self.entries.get_mut(key) {
            Some(slot) => *slot = entry,
            None => {
                self.entries.insert(CompactBytes::new(key), entry);
            }
        }
        if has_ttl {
            self.volatile.insert(CompactBytes::new(key));
        } else {
            self.volatile.swap_remove(key);
        }
    }

    /// Deletes a key. Returns its entry (even if it was logically expired).
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.entries.swap_remove(key)?;
        if e.expire_at != 0 {
            self.volatile.swap_remove(key);
        }
        Some(e)
    }

    /// Deletes a key unless it already expired; true when a live key was deleted.
    pub fn delete(&mut self, key: &[u8]) -> bool {
        if self.expire_if_needed(key) {
            return false;
        }
        self.remove(key).is_some()
    }

    /// Sets an absolute expiry on an existing key.
    pub fn set_expire(&mut self, key: &[u8], at_ms: i64) -> bool {
        match self.entries.get_mut(key) {
            Some(e) => {
                e.expire_at = at_ms;
                self.volatile.insert(CompactBytes::new(key));
                true
            }
            None => false,
        }
    }

    /// Removes the TTL; true when there was one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        match self.entries.get_mut(key) {
            Some(e) if e.expire_at != 0 => {
                e.expire_at = 0;
                self.volatile.swap_remove(key);
                true
            }
            _ => false,
        }
    }

    /// The absolute expiry of a live key (0 = none), or None if missing.
    pub fn expire_of(&mut self, key: &[u8]) -> Option<i64> {
        self.get_mut(key).map(|e| e.expire_at)
    }

    pub fn clear(&mut self) {
        self.entries = IndexMap::with_hasher(FastHasher::new());
        self.volatile = IndexSet::with_hasher(FastHasher::new());
    }

    /// Swaps the contents of two databases (SWAPDB); ids stay in place.
    pub fn swap_contents(&mut self, other: &mut Db) {
        std::mem::swap(&mut self.entries, &mut other.entries);
        std::mem::swap(&mut self.volatile, &mut other.volatile);
    }

    /// All keys, including ones whose TTL passed but that are not deleted yet.
    pub fn iter(&self) -> impl Iterator<Item = (&CompactBytes, &Entry)> {
        self.entries.iter()
    }

    /// Live (non-expired) keys.
    pub fn iter_live(&self) -> impl Iterator<Item = (&CompactBytes, &Entry)> {
        let now = self.now_ms;
        self.entries
            .iter()
            .filter(move |(_, e)| e.expire_at == 0 || e.expire_at > now)
    }

    /// A random live key, trying a bounded number of samples like Redis.
    pub fn random_key(&mut self) -> Option<CompactBytes> {
        let mut rng = rand::thread_rng();
        for _ in 0..100 {
            if self.entries.is_empty() {
                return None;
            }
            let i = rng.gen_range(0..self.entries.len());
            let (k, e) = self.entries.get_index(i)?;
            if !self.is_expired(e) {
                return Some(k.clone());
            }
            let k = k.clone();
            self.expire_if_needed(&k);
        }
        // Every sample was expired: fall back to any key, as Redis does after
        // many tries (it returns one even if it is logically expired).
        self.entries.get_index(0).map(|(k, _)| k.clone())
    }

    /// A random key with a TTL and its entry (volatile-* eviction sampling).
    pub fn random_volatile(&self, rng: &mut impl Rng) -> Option<(&CompactBytes, &Entry)> {
        if self.volatile.is_empty() {
            return None;
        }
        let key = self
            .volatile
            .get_index(rng.gen_range(0..self.volatile.len()))?;
        self.entries.get_key_value(key)
    }

    /// Key at a position (for sampling).
    pub fn key_at(&self, i: usize) -> Option<(&CompactBytes, &Entry)> {
        self.entries.get_index(i)
    }

    /// One SCAN step. Positions are visited from the end towards 0, so that
    /// `swap_remove` (which moves the last entry into the hole) only ever moves
    /// an already-visited key into the unvisited region: every key present for
    /// the whole scan is returned at least once, as SCAN promises. The cursor
    /// is "next position + 1"; 0 starts and ends a scan.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(&CompactBytes, &Entry),
    ) -> u64 {
        let len = self.entries.len() as u64;
        let mut next = if cursor == 0 { len } else { cursor.min(len) };
        let mut steps = 0;
        while next > 0 && steps < count.max(1) {
            next -= 1;
            if let Some((k, e)) = self.entries.get_index(next as usize) {
                if !self.is_expired(e) {
                    visit(k, e);
                }
            }
            steps += 1;
        }
        next
    }

    /// One round of active expiry: samples up to `samples` keys with a TTL and
    /// deletes those that expired. Returns (sampled, expired).
    pub fn active_expire_round(&mut self, samples: usize) -> (usize, usize) {
        let mut rng = rand::thread_rng();
        let mut expired = 0;
        let mut sampled = 0;
        while sampled < samples && !self.volatile.is_empty() {
            sampled += 1;
            let i = rng.gen_range(0..self.volatile.len());
            let Some(key) = self.volatile.get_index(i).cloned() else {
                break;
            };
            if self.expire_if_needed(&key) {
                expired += 1;
            }
        }
        (sampled, expired)
    }

    /// Average remaining TTL of a sample of volatile keys (INFO keyspace avg_ttl).
    pub fn avg_ttl_sample(&self) -> i64 {
        let n = self.volatile.len().min(100);
        if n == 0 {
            return 0;
        }
        let mut total = 0i64;
        let mut counted = 0i64;
        for k in self.volatile.iter().take(n) {
            if let Some(e) = self.entries.get(k) {
                total += (e.expire_at - self.now_ms).max(0);
                counted += 1;
            }
        }
        if counted == 0 {
            0
        } else {
            total / counted
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_lazy_and_logged() {
        let mut db = Db::new(0);
        db.now_ms = 1000;
        db.set(b"k", Value::Str(CompactBytes::new(b"v")));
        db.set_expire(b"k", 1500);
        assert!(db.get(b"k").is_some());
        db.now_ms = 1500;
        assert!(db.get(b"k").is_none());
        assert_eq!(db.expired_log.len(), 1);
        assert_eq!(db.len(), 0);
        assert_eq!(db.volatile_len(), 0);
    }

    #[test]
    fn scan_survives_deletions() {
        let mut db = Db::new(0);
        for i in 0..100 {
            db.set(
                format!("k{i}").as_bytes(),
                Value::Str(CompactBytes::new(b"v")),
            );
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            let mut batch = Vec::new();
            cursor = db.scan(cursor, 10, |k, _| batch.push(k.to_vec()));
            seen.extend(batch);
            // Delete keys that were already returned, as a concurrent client might.
            if round % 2 == 0 {
                let victim = format!("k{}", round);
                if seen.contains(victim.as_bytes()) {
                    db.remove(victim.as_bytes());
                }
            }
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..100 {
            let k = format!("k{i}");
            if db.peek(k.as_bytes()).is_some() {
                assert!(seen.contains(k.as_bytes()), "{k} missed");
            }
        }
    }
}
