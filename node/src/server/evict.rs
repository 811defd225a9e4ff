//! maxmemory: when used memory is over the limit, keys are evicted per
//! `maxmemory-policy` before a command runs, with Redis's sampled
//! approximation: `maxmemory-samples` keys per database feed a small pool
//! of the best candidates seen so far, and the best one goes first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;

use super::exec::propagate_ops;
use super::state::ServerState;
use crate::db::{lfu, lru_clock, CompactBytes, Entry};

/// The reply to a denied command when nothing more can be evicted.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// How many candidates the pool keeps (Redis's EVPOOL_SIZE).
const POOL_SIZE: usize = 16;

/// What the key score is based on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rank {
    Lru,
    Lfu,
    Ttl,
    Random,
}

/// A parsed maxmemory-policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Policy {
    rank: Rank,
    volatile_only: bool,
}

/// None for noeviction.
fn parse_policy(name: &str) -> Option<Policy> {
    let (scope, rank) = name.split_once('-')?;
    let rank = match rank {
        "lru" => Rank::Lru,
        "lfu" => Rank::Lfu,
        "ttl" => Rank::Ttl,
        "random" => Rank::Random,
        _ => return None,
    };
    Some(Policy {
        rank,
        volatile_only: scope == "volatile",
    })
}

/// Higher means evict sooner: idle seconds (LRU), 255 minus the decayed
/// counter (LFU), the reverse of the expiry time (TTL).
fn score(rank: Rank, e: &Entry, now_ms: i64, decay_minutes: u32) -> u64 {
    match rank {
        Rank::Lru => u64::from(lru_clock().wrapping_sub(e.lru)),
        Rank::Lfu => 255 - u64::from(lfu::decayed_counter(e.lru, now_ms, decay_minutes)),
        Rank::Ttl => u64::MAX - e.expire_at.max(0) as u64,
        Rank::Random => 0,
    }
}

#[derive(Debug, Clone)]
struct Candidate {
    db: usize,
    key: CompactBytes,
    score: u64,
}

/// The best candidates seen, sorted by ascending score (best last).
#[derive(Debug, Default)]
struct Pool {
    entries: Vec<Candidate>,
}

impl Pool {
    fn offer(&mut self, c: Candidate) {
        if let Some(i) = self
            .entries
            .iter()
            .position(|x| x.db == c.db && x.key == c.key)
        {
            self.entries.remove(i);
        }
        if self.entries.len() >= POOL_SIZE {
            if self.entries[0].score >= c.score {
                return;
            }
            self.entries.remove(0);
        }
        let at = self.entries.partition_point(|x| x.score <= c.score);
        self.entries.insert(at, c);
    }

    fn pop_best(&mut self) -> Option<Candidate> {
        self.entries.pop()
    }
}

/// Samples every database into the pool.
fn fill_pool(state: &ServerState, policy: Policy, pool: &mut Pool, rng: &mut impl Rng) {
    let samples = state.config.settings.maxmemory_samples.max(1);
    let decay = state.config.settings.lfu_decay_time;
    for db in &state.dbs {
        let candidates = if policy.volatile_only {
            db.volatile_len()
        } else {
            db.len()
        };
        if candidates == 0 {
            continue;
        }
        for _ in 0..samples {
            let picked = if policy.volatile_only {
                db.random_volatile(rng)
            } else {
                db.key_at(rng.gen_range(0..db.len()))
            };
            if let Some((key, e)) = picked {
                pool.offer(Candidate {
                    db: db.id,
                    key: key.clone(),
                    score: score(policy.rank, e, db.now_ms, decay),
                });
            }
        }
    }
}

/// A uniformly random key of a random non-empty database.
fn random_victim(
    state: &ServerState,
    volatile_only: bool,
    rng: &mut impl Rng,
) -> Option<(usize, CompactBytes)> {
    let n = state.dbs.len();
    let start = rng.gen_range(0..n.max(1));
    (0..n).find_map(|i| {
        let db = &state.dbs[(start + i) % n];
        let picked = if volatile_only {
            db.random_volatile(rng)
        } else if db.is_empty() {
            None
        } else {
            db.key_at(rng.gen_range(0..db.len()))
        };
        picked.map(|(k, _)| (db.id, k.clone()))
    })
}

/// The next key to evict, or None when no key qualifies.
fn pick_victim(
    state: &ServerState,
    policy: Policy,
    pool: &mut Pool,
    rng: &mut impl Rng,
) -> Option<(usize, CompactBytes)> {
    if policy.rank == Rank::Random {
        return random_victim(state, policy.volatile_only, rng);
    }
    fill_pool(state, policy, pool, rng);
    // Pooled keys may have been deleted (or lost their TTL) since sampled.
    while let Some(c) = pool.pop_best() {
        let db = &state.dbs[c.db];
        let Some(e) = db.peek(&c.key) else {
            continue;
        };
        if policy.volatile_only && e.expire_at == 0 {
            continue;
        }
        return Some((c.db, c.key));
    }
    None
}

/// Deletes one evicted key with its bookkeeping: evicted_keys, WATCH and
/// blocked-client signalling, a DEL in the write stream.
fn evict_key(state: &mut ServerState, db: usize, key: &CompactBytes) {
    if state.dbs[db].remove(key).is_none() {
        return;
    }
    state.stats.evicted_keys += 1;
    state.signal_modified_key(db, key);
    if super::exec::write_stream_consumed(state) {
        let del = vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)];
        propagate_ops(state, vec![(db, del)]);
    }
}

/// What one round of evictions achieved (Redis's EVICT_OK / EVICT_RUNNING
/// / EVICT_FAIL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictResult {
    /// Within maxmemory.
    Ok,
    /// Still over the limit, but the time budget of this round was used
    /// up: the cron goes on, and the command is not refused.
    Running,
    /// Over the limit and nothing (more) can be evicted.
    Fail,
}

/// Set when a round stopped at its time budget: the cron continues it.
static EVICTION_CONTINUES: AtomicBool = AtomicBool::new(false);

/// The time one round may spend, from maxmemory-eviction-tenacity as
/// Redis's evictionTimeLimitUs computes it: 0..10 → 0..500 µs linearly,
/// then +15% per step, and 100 means no limit.
pub fn eviction_time_limit(tenacity: i64) -> Option<Duration> {
    let t = tenacity.clamp(0, 100);
    if t <= 10 {
        return Some(Duration::from_micros(50 * t as u64));
    }
    if t < 100 {
        return Some(Duration::from_micros(
            (500.0 * 1.15f64.powi(t as i32 - 10)) as u64,
        ));
    }
    None
}

/// Evicts keys until `measure(state)` is within maxmemory. Returns false
/// when still over the limit and nothing (more) can be evicted. The measure
/// is injected so unit tests (where the counting allocator is not
/// installed) can model memory use.
pub fn perform_evictions(
    state: &mut ServerState,
    measure: &mut dyn FnMut(&ServerState) -> usize,
) -> bool {
    perform_evictions_within(state, measure, None) != EvictResult::Fail
}

/// Keys between two looks at the clock (Redis checks every 16).
const KEYS_PER_TIME_CHECK: u32 = 16;

/// Evicts until within maxmemory, nothing qualifies, or `limit` has passed.
pub fn perform_evictions_within(
    state: &mut ServerState,
    measure: &mut dyn FnMut(&ServerState) -> usize,
    limit: Option<Duration>,
) -> EvictResult {
    let max = state.config.settings.maxmemory;
    if max == 0 {
        return EvictResult::Ok;
    }
    let policy = parse_policy(&state.config.settings.maxmemory_policy);
    let mut pool = Pool::default();
    let mut rng = rand::thread_rng();
    let started = Instant::now();
    let mut evicted = 0u32;
    loop {
        if measure(state) as u64 <= max {
            return EvictResult::Ok;
        }
        let Some(policy) = policy else {
            return EvictResult::Fail;
        };
        let Some((db, key)) = pick_victim(state, policy, &mut pool, &mut rng) else {
            return EvictResult::Fail;
        };
        evict_key(state, db, &key);
        evicted += 1;
        if evicted.is_multiple_of(KEYS_PER_TIME_CHECK) {
            if let Some(limit) = limit {
                if started.elapsed() > limit {
                    EVICTION_CONTINUES.store(true, Ordering::Relaxed);
                    return EvictResult::Running;
                }
            }
        }
    }
}

/// Evictions against the process's real memory use, bounded by
/// maxmemory-eviction-tenacity. A replica leaves eviction to its master
/// (replica-ignore-maxmemory yes, Redis's default): the master's DELs
/// reach it through the stream. Returns false when the command must be
/// refused.
pub fn evict_for_command(state: &mut ServerState) -> bool {
    // Nothing is evicted while a dataset is being loaded, as in Redis.
    if state.config.settings.maxmemory == 0 || state.is_replica() || state.loading {
        return true;
    }
    let tenacity = state
        .config
        .get("maxmemory-eviction-tenacity")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let limit = eviction_time_limit(tenacity);
    perform_evictions_within(state, &mut |_| crate::alloc::used_memory(), limit)
        != EvictResult::Fail
}

/// From the cron: goes on with evictions a command's round left unfinished
/// (Redis runs them from a timer event).
pub fn continue_evictions(state: &mut ServerState) {
    if EVICTION_CONTINUES.swap(false, Ordering::Relaxed) {
        evict_for_command(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::db::Value;

    fn state_with(policy: &str) -> ServerState {
        let mut config = Config::default();
        config.set("maxmemory", "1000").unwrap();
        config.set("maxmemory-policy", policy).unwrap();
        config.set("maxmemory-samples", "64").unwrap();
        let mut state = ServerState::new(config);
        state.set_now(crate::util::time::now_ms());
        state
    }

    fn put(state: &mut ServerState, key: &str) {
        state.dbs[0].set(key.as_bytes(), Value::Str(CompactBytes::new(b"v")));
    }

    /// Models 100 bytes per key; maxmemory is 1000.
    fn run(state: &mut ServerState) -> bool {
        perform_evictions(state, &mut |s: &ServerState| {
            s.dbs.iter().map(|d| d.len()).sum::<usize>() * 100
        })
    }

    #[test]
    fn policies_parse() {
        assert_eq!(parse_policy("noeviction"), None);
        assert_eq!(
            parse_policy("volatile-ttl"),
            Some(Policy {
                rank: Rank::Ttl,
                volatile_only: true
            })
        );
        assert_eq!(
            parse_policy("allkeys-lfu"),
            Some(Policy {
                rank: Rank::Lfu,
                volatile_only: false
            })
        );
    }

    #[test]
    fn pool_keeps_best_candidates() {
        let mut pool = Pool::default();
        for i in 0..40u64 {
            pool.offer(Candidate {
                db: 0,
                key: CompactBytes::new(format!("k{i}").as_bytes()),
                score: (i * 7) % 40,
            });
        }
        assert_eq!(pool.entries.len(), POOL_SIZE);
        assert_eq!(pool.pop_best().map(|c| c.score), Some(39));
        assert_eq!(pool.pop_best().map(|c| c.score), Some(38));
        // Re-offering a key replaces its entry rather than duplicating it.
        let k = CompactBytes::new(b"again");
        for s in [100, 101] {
            pool.offer(Candidate {
                db: 1,
                key: k.clone(),
                score: s,
            });
        }
        assert_eq!(pool.entries.iter().filter(|c| c.key == k).count(), 1);
    }

    #[test]
    fn lru_evicts_the_idlest_keys() {
        let mut state = state_with("allkeys-lru");
        for i in 0..12 {
            put(&mut state, &format!("k{i}"));
        }
        for (k, idle) in [("k3", 1000), ("k7", 500)] {
            if let Some(e) = state.dbs[0].get_mut(k.as_bytes()) {
                e.lru = lru_clock() - idle;
            }
        }
        assert!(run(&mut state));
        assert_eq!(state.dbs[0].len(), 10);
        assert!(state.dbs[0].peek(b"k3").is_none());
        assert!(state.dbs[0].peek(b"k7").is_none());
        assert_eq!(state.stats.evicted_keys, 2);
    }

    #[test]
    fn lfu_evicts_the_least_used_key() {
        let mut state = state_with("allkeys-lfu");
        let now = state.dbs[0].now_ms;
        for i in 0..11 {
            put(&mut state, &format!("k{i}"));
            if let Some(e) = state.dbs[0].get_mut(format!("k{i}").as_bytes()) {
                e.lru = (lfu::minutes(now) << 8) | (50 + i);
            }
        }
        if let Some(e) = state.dbs[0].get_mut(b"k5") {
            e.lru = (lfu::minutes(now) << 8) | 2;
        }
        assert!(run(&mut state));
        assert!(state.dbs[0].peek(b"k5").is_none());
        assert_eq!(state.dbs[0].len(), 10);
    }

    #[test]
    fn volatile_ttl_evicts_soonest_expiry_and_fails_without_volatile_keys() {
        let mut state = state_with("volatile-ttl");
        let now = state.dbs[0].now_ms;
        for i in 0..10 {
            put(&mut state, &format!("p{i}"));
        }
        for (k, ttl) in [("a", 50_000), ("b", 10_000), ("c", 90_000)] {
            put(&mut state, k);
            state.dbs[0].set_expire(k.as_bytes(), now + ttl);
        }
        // 13 keys, room for 10: b, a, c go in expiry order.
        assert!(run(&mut state));
        assert_eq!(state.dbs[0].len(), 10);
        assert_eq!(state.dbs[0].volatile_len(), 0);
        put(&mut state, "more");
        assert!(!run(&mut state));
        assert_eq!(state.stats.evicted_keys, 3);
    }

    #[test]
    fn noeviction_fails_and_keeps_keys() {
        let mut state = state_with("noeviction");
        for i in 0..11 {
            put(&mut state, &format!("k{i}"));
        }
        assert!(!run(&mut state));
        assert_eq!(state.dbs[0].len(), 11);
    }

    #[test]
    fn random_policies_evict_until_under_limit() {
        let mut state = state_with("allkeys-random");
        for i in 0..20 {
            put(&mut state, &format!("k{i}"));
        }
        assert!(run(&mut state));
        assert_eq!(state.dbs[0].len(), 10);
        let mut state = state_with("volatile-random");
        let now = state.dbs[0].now_ms;
        for i in 0..12 {
            put(&mut state, &format!("k{i}"));
        }
        state.dbs[0].set_expire(b"k1", now + 1000);
        assert!(!run(&mut state));
        assert_eq!(state.dbs[0].len(), 11);
        assert!(state.dbs[0].peek(b"k1").is_none());
    }

    #[test]
    fn evicted_keys_are_propagated_as_del() {
        let mut state = state_with("allkeys-lru");
        let capture = crate::server::test_support::StreamCapture::attach(&mut state);
        for i in 0..11 {
            put(&mut state, &format!("k{i}"));
        }
        if let Some(e) = state.dbs[0].get_mut(b"k4") {
            e.lru = lru_clock() - 100;
        }
        assert!(run(&mut state));
        assert_eq!(capture.commands_without_select(), vec!["DEL k4"]);
    }

    #[test]
    fn tenacity_time_limits_follow_redis() {
        assert_eq!(eviction_time_limit(0), Some(Duration::ZERO));
        assert_eq!(eviction_time_limit(10), Some(Duration::from_micros(500)));
        assert_eq!(eviction_time_limit(11), Some(Duration::from_micros(575)));
        assert_eq!(eviction_time_limit(100), None);
    }

    #[test]
    fn a_zero_budget_round_stops_after_sixteen_keys() {
        let mut state = state_with("allkeys-random");
        for i in 0..100 {
            put(&mut state, &format!("k{i}"));
        }
        let result = perform_evictions_within(
            &mut state,
            &mut |s: &ServerState| s.dbs.iter().map(|d| d.len()).sum::<usize>() * 100,
            Some(Duration::ZERO),
        );
        assert_eq!(result, EvictResult::Running);
        assert_eq!(state.dbs[0].len(), 100 - 16);
    }
}
