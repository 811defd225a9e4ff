//! Sorted set: a member → score hash map plus an order-statistic index of
//! (score, member) pairs in Redis's order (score, then member bytes).
//!
//! The ordered index is a list of sorted chunks (at most `CHUNK_MAX`
//! elements each) with a Fenwick tree over the chunk sizes. Finding a
//! position by key or by rank is a binary search over the chunks plus one
//! inside a chunk, so ZRANK, ZRANGE by index, by score or by lex all cost
//! O(log n + answer size), like Redis's skiplist, with far fewer
//! allocations and better locality.
//!
//! The hash map is insertion-ordered (`IndexMap`): its positions give O(1)
//! uniform random members (ZRANDMEMBER) and a SCAN cursor that survives
//! deletions (see `ZSet::scan`).

use std::cmp::Ordering;
use std::ops::Range;

use indexmap::IndexMap;
use rand::Rng;

use super::compact::CompactBytes;
use super::value::{EncodingLimits, FastHasher};

/// An entry of the ordered index. Scores are never NaN (commands reject it).
#[derive(Clone, Debug)]
pub struct ScoredMember {
    pub score: f64,
    pub member: CompactBytes,
}

/// Compares an entry with a (score, member) key in index order.
fn cmp_key(e: &ScoredMember, score: f64, member: &[u8]) -> Ordering {
    e.score
        .partial_cmp(&score)
        .unwrap_or(Ordering::Equal)
        .then_with(|| e.member.as_slice().cmp(member))
}

impl PartialEq for ScoredMember {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ScoredMember {}

impl PartialOrd for ScoredMember {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ScoredMember {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_key(self, other.score, &other.member)
    }
}

/// One end of a score range (`(1.5` is exclusive, `-inf`/`+inf` allowed).
#[derive(Clone, Copy, Debug)]
pub struct ScoreBound {
    pub value: f64,
    pub exclusive: bool,
}

impl ScoreBound {
    /// True when `score` is not below this bound used as a minimum.
    pub fn above_min(&self, score: f64) -> bool {
        if self.exclusive {
            score > self.value
        } else {
            score >= self.value
        }
    }

    /// True when `score` is not above this bound used as a maximum.
    pub fn below_max(&self, score: f64) -> bool {
        if self.exclusive {
            score < self.value
        } else {
            score <= self.value
        }
    }
}

/// True when no score can be in [min, max] (Redis tests this first).
fn score_range_is_empty(min: &ScoreBound, max: &ScoreBound) -> bool {
    min.value > max.value || (min.value == max.value && (min.exclusive || max.exclusive))
}

/// One end of a lex range: `-`, `+`, `[x` or `(x`.
#[derive(Clone, Debug)]
pub enum LexBound {
    NegInf,
    PosInf,
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
}

impl LexBound {
    /// True when member `m` is not below this bound used as a minimum.
    pub fn above_min(&self, m: &[u8]) -> bool {
        match self {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Inclusive(v) => m >= v.as_slice(),
            LexBound::Exclusive(v) => m > v.as_slice(),
        }
    }

    /// True when member `m` is not above this bound used as a maximum.
    pub fn below_max(&self, m: &[u8]) -> bool {
        match self {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Inclusive(v) => m <= v.as_slice(),
            LexBound::Exclusive(v) => m < v.as_slice(),
        }
    }

    /// Infinite bounds count as exclusive, as in Redis.
    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Inclusive(_))
    }

    /// Orders bound values: `-` below every string, `+` above.
    fn cmp_value(&self, other: &LexBound) -> Ordering {
        fn rank(b: &LexBound) -> u8 {
            match b {
                LexBound::NegInf => 0,
                LexBound::Inclusive(_) | LexBound::Exclusive(_) => 1,
                LexBound::PosInf => 2,
            }
        }
        match (self, other) {
            (
                LexBound::Inclusive(a) | LexBound::Exclusive(a),
                LexBound::Inclusive(b) | LexBound::Exclusive(b),
            ) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

/// True when no member can be in [min, max].
fn lex_range_is_empty(min: &LexBound, max: &LexBound) -> bool {
    match min.cmp_value(max) {
        Ordering::Greater => true,
        Ordering::Equal => min.exclusive() || max.exclusive(),
        Ordering::Less => false,
    }
}

/// Chunk size limit: a chunk that grows past it splits in two halves.
const CHUNK_MAX: usize = 128;
/// A chunk that shrinks below this merges with a neighbour when they fit.
const CHUNK_MIN: usize = CHUNK_MAX / 4;

/// The ordered index: sorted, never-empty chunks plus a Fenwick tree of
/// their lengths for rank arithmetic.
#[derive(Clone, Debug, Default)]
struct OrderIndex {
    chunks: Vec<Vec<ScoredMember>>,
    /// 1-based Fenwick tree over `chunks[i].len()`.
    counts: Vec<usize>,
    len: usize,
}

impl OrderIndex {
    fn from_sorted(items: Vec<ScoredMember>) -> Self {
        let len = items.len();
        let mut chunks = Vec::with_capacity(len / (CHUNK_MAX / 2) + 1);
        let mut rest = items.into_iter().peekable();
        while rest.peek().is_some() {
            chunks.push(rest.by_ref().take(CHUNK_MAX / 2).collect());
        }
        let mut index = OrderIndex {
            chunks,
            counts: Vec::new(),
            len,
        };
        index.rebuild_counts();
        index
    }

    fn rebuild_counts(&mut self) {
        let n = self.chunks.len();
        self.counts.clear();
        self.counts.resize(n + 1, 0);
        for i in 1..=n {
            self.counts[i] += self.chunks[i - 1].len();
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                let v = self.counts[i];
                self.counts[parent] += v;
            }
        }
    }

    fn adjust_count(&mut self, chunk: usize, grew: bool) {
        let mut i = chunk + 1;
        while i < self.counts.len() {
            if grew {
                self.counts[i] += 1;
            } else {
                self.counts[i] -= 1;
            }
            i += i & i.wrapping_neg();
        }
    }

    /// Number of elements in the chunks before `chunk`.
    fn count_before(&self, chunk: usize) -> usize {
        let mut i = chunk;
        let mut sum = 0;
        while i > 0 {
            sum += self.counts[i];
            i &= i - 1;
        }
        sum
    }

    /// (chunk, offset) holding `rank`; requires `rank < len`.
    fn locate(&self, rank: usize) -> (usize, usize) {
        let n = self.chunks.len();
        let mut pos = 0;
        let mut rem = rank;
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next <= n && self.counts[next] <= rem {
                pos = next;
                rem -= self.counts[next];
            }
            step >>= 1;
        }
        (pos, rem)
    }

    /// Rank of the first element for which `pred` is false (`pred` must be
    /// true for a prefix of the order and false after it).
    fn partition_point(&self, pred: impl Fn(&ScoredMember) -> bool) -> usize {
        let ci = self.chunks.partition_point(|c| pred(&c[c.len() - 1]));
        if ci == self.chunks.len() {
            return self.len;
        }
        self.count_before(ci) + self.chunks[ci].partition_point(|e| pred(e))
    }

    fn get(&self, rank: usize) -> Option<&ScoredMember> {
        if rank >= self.len {
            return None;
        }
        let (ci, off) = self.locate(rank);
        self.chunks[ci].get(off)
    }

    fn insert(&mut self, item: ScoredMember) {
        self.len += 1;
        if self.chunks.is_empty() {
            self.chunks.push(vec![item]);
            self.rebuild_counts();
            return;
        }
        let ci = self
            .chunks
            .partition_point(|c| c[c.len() - 1] < item)
            .min(self.chunks.len() - 1);
        let chunk = &mut self.chunks[ci];
        let pos = chunk.partition_point(|e| *e < item);
        chunk.insert(pos, item);
        if chunk.len() > CHUNK_MAX {
            let tail = chunk.split_off(chunk.len() / 2);
            self.chunks.insert(ci + 1, tail);
            self.rebuild_counts();
        } else {
            self.adjust_count(ci, true);
        }
    }

    /// Removes the entry with exactly this score and member.
    fn remove(&mut self, score: f64, member: &[u8]) -> Option<ScoredMember> {
        let ci = self
            .chunks
            .partition_point(|c| cmp_key(&c[c.len() - 1], score, member) == Ordering::Less);
        let chunk = self.chunks.get_mut(ci)?;
        let pos = chunk.partition_point(|e| cmp_key(e, score, member) == Ordering::Less);
        if chunk.get(pos).map(|e| cmp_key(e, score, member)) != Some(Ordering::Equal) {
            return None;
        }
        let removed = chunk.remove(pos);
        self.len -= 1;
        self.after_shrink(ci);
        Some(removed)
    }

    fn remove_at(&mut self, rank: usize) -> Option<ScoredMember> {
        if rank >= self.len {
            return None;
        }
        let (ci, off) = self.locate(rank);
        let removed = self.chunks[ci].remove(off);
        self.len -= 1;
        self.after_shrink(ci);
        Some(removed)
    }

    /// Keeps chunks non-empty and not too sparse after chunk `ci` lost one element.
    fn after_shrink(&mut self, ci: usize) {
        let n = self.chunks[ci].len();
        if n == 0 {
            self.chunks.remove(ci);
            self.rebuild_counts();
            return;
        }
        if n < CHUNK_MIN && self.merge_with_neighbour(ci) {
            self.rebuild_counts();
            return;
        }
        self.adjust_count(ci, false);
    }

    /// Merges chunk `ci` into a neighbour when both fit in one chunk.
    fn merge_with_neighbour(&mut self, ci: usize) -> bool {
        if self.chunks.len() < 2 {
            return false;
        }
        let (a, b) = if ci + 1 < self.chunks.len() {
            (ci, ci + 1)
        } else {
            (ci - 1, ci)
        };
        if self.chunks[a].len() + self.chunks[b].len() > CHUNK_MAX {
            return false;
        }
        let tail = self.chunks.remove(b);
        self.chunks[a].extend(tail);
        true
    }

    /// Removes ranks `start..end` and returns the removed entries.
    fn remove_ranks(&mut self, start: usize, end: usize) -> Vec<ScoredMember> {
        let end = end.min(self.len);
        if start >= end {
            return Vec::new();
        }
        let (first, mut off) = self.locate(start);
        let mut removed = Vec::with_capacity(end - start);
        let mut ci = first;
        while removed.len() < end - start {
            let chunk = &mut self.chunks[ci];
            let take = (end - start - removed.len()).min(chunk.len() - off);
            removed.extend(chunk.drain(off..off + take));
            ci += 1;
            off = 0;
        }
        self.len -= removed.len();
        self.chunks.retain(|c| !c.is_empty());
        if first < self.chunks.len() && self.chunks[first].len() < CHUNK_MIN {
            self.merge_with_neighbour(first);
        }
        self.rebuild_counts();
        removed
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = &ScoredMember> {
        self.chunks.iter().flatten()
    }

    /// Entries with ranks `start..end` (clamped to the length), ascending.
    fn iter_ranks(
        &self,
        start: usize,
        end: usize,
    ) -> impl DoubleEndedIterator<Item = &ScoredMember> + '_ {
        let end = end.min(self.len);
        let (first, last, lo, hi) = if start < end {
            let (first, lo) = self.locate(start);
            let (last, hi) = self.locate(end - 1);
            (first, last, lo, hi + 1)
        } else {
            (1, 0, 0, 0)
        };
        let chunks = &self.chunks;
        (first..last + 1).flat_map(move |ci| {
            let c = &chunks[ci];
            let from = if ci == first { lo } else { 0 };
            let to = if ci == last { hi } else { c.len() };
            c[from..to].iter()
        })
    }
}

/// The part of the ranks `matched` that LIMIT `offset` `count` selects,
/// counted from the end when `rev` (the caller walks it backwards).
pub fn window(matched: Range<usize>, rev: bool, offset: usize, count: usize) -> Range<usize> {
    if rev {
        let end = matched.end.saturating_sub(offset).max(matched.start);
        end.saturating_sub(count).max(matched.start)..end
    } else {
        let start = matched.start.saturating_add(offset).min(matched.end);
        start..start.saturating_add(count).min(matched.end)
    }
}

#[derive(Clone, Debug, Default)]
pub struct ZSet {
    scores: IndexMap<CompactBytes, f64, FastHasher>,
    order: OrderIndex,
    /// Converted to the skiplist encoding; never converts back (as Redis).
    pub big: bool,
}

impl ZSet {
    /// Builds a set from entries with distinct members, in any order.
    pub fn from_entries(mut items: Vec<ScoredMember>) -> Self {
        items.sort_unstable();
        let mut scores = IndexMap::with_capacity_and_hasher(items.len(), FastHasher::default());
        for e in &items {
            scores.insert(e.member.clone(), e.score);
        }
        ZSet {
            scores,
            order: OrderIndex::from_sorted(items),
            big: false,
        }
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.scores.contains_key(member)
    }

    /// Sets a member's score. Returns true when the member is new. An equal
    /// score (including -0 for 0) leaves the member untouched, as in Redis.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        // A listpack keeps scores as text that reads -0 back as 0.
        let score = if !self.big && score == 0.0 {
            0.0
        } else {
            score
        };
        if let Some(old) = self.scores.get_mut(member) {
            if *old != score {
                let previous = std::mem::replace(old, score);
                if let Some(mut entry) = self.order.remove(previous, member) {
                    entry.score = score;
                    self.order.insert(entry);
                }
            }
            return false;
        }
        let key = CompactBytes::new(member);
        self.scores.insert(key.clone(), score);
        self.order.insert(ScoredMember { score, member: key });
        true
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.swap_remove(member) {
            Some(score) => {
                self.order.remove(score, member);
                true
            }
            None => false,
        }
    }

    /// 0-based rank in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(
            self.order
                .partition_point(|e| cmp_key(e, score, member) == Ordering::Less),
        )
    }

    /// The entry at an ascending rank.
    pub fn get_by_rank(&self, rank: usize) -> Option<&ScoredMember> {
        self.order.get(rank)
    }

    /// Ascending iteration over all members.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &ScoredMember> {
        self.order.iter()
    }

    /// Entries with ascending ranks `start..end` (end clamped to the length).
    pub fn iter_ranks(
        &self,
        start: usize,
        end: usize,
    ) -> impl DoubleEndedIterator<Item = &ScoredMember> + '_ {
        self.order.iter_ranks(start, end)
    }

    /// The ranks of the members with min <= score <= max.
    pub fn score_ranks(&self, min: &ScoreBound, max: &ScoreBound) -> Range<usize> {
        if score_range_is_empty(min, max) {
            return 0..0;
        }
        let lo = self.order.partition_point(|e| !min.above_min(e.score));
        let hi = self.order.partition_point(|e| max.below_max(e.score));
        lo..hi.max(lo)
    }

    /// The ranks of the members in a lex range (see `lex_window`).
    pub fn lex_ranks(&self, min: &LexBound, max: &LexBound, rev: bool) -> Range<usize> {
        self.lex_window(min, max, rev, 0, usize::MAX)
    }

    /// The ranks a lex range query with LIMIT `offset` `count` returns
    /// (walked backwards when `rev`). Redis defines lex ranges only for sets
    /// whose scores are all equal, but answers for others too: it finds the
    /// first (last when `rev`) member in range, skips `offset` members
    /// without looking at them, then takes members while they stay below the
    /// max (above the min when `rev`). A small (listpack) set finds its
    /// starting member by a linear scan, reproduced here exactly; a big set
    /// uses binary search, which agrees whenever members are in lex order.
    pub fn lex_window(
        &self,
        min: &LexBound,
        max: &LexBound,
        rev: bool,
        offset: usize,
        count: usize,
    ) -> Range<usize> {
        let (Some(first), Some(last)) = (
            self.order.get(0),
            self.order.get(self.len().wrapping_sub(1)),
        ) else {
            return 0..0;
        };
        if lex_range_is_empty(min, max)
            || !max.below_max(&first.member)
            || !min.above_min(&last.member)
        {
            return 0..0;
        }
        if self.big {
            let lo = self.order.partition_point(|e| !min.above_min(&e.member));
            let hi = self.order.partition_point(|e| max.below_max(&e.member));
            return window(lo..hi.max(lo), rev, offset, count);
        }
        if rev {
            let Some(from_end) = self.iter().rev().position(|e| max.below_max(&e.member)) else {
                return 0..0;
            };
            let start = self.len() - 1 - from_end;
            let in_range = self
                .order
                .get(start)
                .is_some_and(|e| min.above_min(&e.member));
            let Some(p) = start.checked_sub(offset).filter(|_| in_range) else {
                return 0..0;
            };
            let run = self
                .iter_ranks(0, p + 1)
                .rev()
                .take(count)
                .take_while(|e| min.above_min(&e.member))
                .count();
            p + 1 - run..p + 1
        } else {
            let Some(start) = self.iter().position(|e| min.above_min(&e.member)) else {
                return 0..0;
            };
            let in_range = self
                .order
                .get(start)
                .is_some_and(|e| max.below_max(&e.member));
            let p = start.saturating_add(offset);
            if !in_range || p >= self.len() {
                return 0..0;
            }
            let run = self
                .iter_ranks(p, self.len())
                .take(count)
                .take_while(|e| max.below_max(&e.member))
                .count();
            p..p + run
        }
    }

    /// Members with ranks `start..=end` (already clamped, start <= end < len),
    /// ascending, or descending ranks when `rev`.
    pub fn range_by_rank(&self, start: usize, end: usize, rev: bool) -> Vec<&ScoredMember> {
        if rev {
            let n = self.len();
            self.iter_ranks(n - 1 - end, n - start).rev().collect()
        } else {
            self.iter_ranks(start, end + 1).collect()
        }
    }

    /// Members with min <= score <= max in ascending order (descending when
    /// `rev`), after skipping `offset`, at most `limit` (negative = all).
    pub fn range_by_score(
        &self,
        min: ScoreBound,
        max: ScoreBound,
        rev: bool,
        offset: usize,
        limit: i64,
    ) -> Vec<&ScoredMember> {
        self.window_items(self.score_ranks(&min, &max), rev, offset, limit)
    }

    pub fn count_by_score(&self, min: ScoreBound, max: ScoreBound) -> usize {
        self.score_ranks(&min, &max).len()
    }

    /// Lexicographic range; meaningful when all scores are equal (as in Redis).
    pub fn range_by_lex(
        &self,
        min: &LexBound,
        max: &LexBound,
        rev: bool,
        offset: usize,
        limit: i64,
    ) -> Vec<&ScoredMember> {
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        self.collect_ranks(self.lex_window(min, max, rev, offset, take), rev)
    }

    pub fn count_by_lex(&self, min: &LexBound, max: &LexBound) -> usize {
        self.lex_ranks(min, max, false).len()
    }

    /// The entries of `ranks` after LIMIT `offset` `limit` (negative: all).
    fn window_items(
        &self,
        ranks: Range<usize>,
        rev: bool,
        offset: usize,
        limit: i64,
    ) -> Vec<&ScoredMember> {
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        self.collect_ranks(window(ranks, rev, offset, take), rev)
    }

    fn collect_ranks(&self, r: Range<usize>, rev: bool) -> Vec<&ScoredMember> {
        if rev {
            self.iter_ranks(r.start, r.end).rev().collect()
        } else {
            self.iter_ranks(r.start, r.end).collect()
        }
    }

    /// Removes and returns the lowest (or highest) member.
    pub fn pop(&mut self, highest: bool) -> Option<ScoredMember> {
        let rank = if highest {
            self.len().checked_sub(1)?
        } else {
            0
        };
        let entry = self.order.remove_at(rank)?;
        self.scores.swap_remove(entry.member.as_slice());
        Some(entry)
    }

    /// Removes the members with ascending ranks `start..end`; returns how many.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let removed = self.order.remove_ranks(start, end);
        for e in &removed {
            self.scores.swap_remove(e.member.as_slice());
        }
        removed.len()
    }

    /// A uniformly chosen member and its score.
    pub fn random_entry<R: Rng>(&self, rng: &mut R) -> Option<(&CompactBytes, f64)> {
        if self.is_empty() {
            return None;
        }
        self.entry_at(rng.gen_range(0..self.len()))
    }

    /// The entry at a position of the hash map (0..len), for sampling.
    pub fn entry_at(&self, i: usize) -> Option<(&CompactBytes, f64)> {
        self.scores.get_index(i).map(|(m, s)| (m, *s))
    }

    /// One ZSCAN step over hash-map positions, visited from the end towards
    /// 0: `swap_remove` only moves the last (already visited) entry into a
    /// hole, so every member present for the whole scan is returned at least
    /// once. The cursor is "positions left to visit"; 0 starts and ends.
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(&'a CompactBytes, f64),
    ) -> u64 {
        let len = self.len() as u64;
        let mut next = if cursor == 0 { len } else { cursor.min(len) };
        let mut steps = 0;
        while next > 0 && steps < count.max(1) {
            next -= 1;
            if let Some((m, s)) = self.entry_at(next as usize) {
                visit(m, s);
            }
            steps += 1;
        }
        next
    }

    /// Picks the encoding of a whole set (after it was built in one go):
    /// the skiplist when a limit is crossed, else the listpack, whose -0
    /// scores read back as 0.
    pub fn update_encoding(&mut self, limits: &EncodingLimits) {
        if self.big {
            return;
        }
        if self.len() > limits.zset_max_listpack_entries
            || self
                .scores
                .keys()
                .any(|m| m.len() > limits.zset_max_listpack_value)
        {
            self.big = true;
            return;
        }
        let negative_zeros: Vec<CompactBytes> = self
            .scores
            .iter()
            .filter(|(_, s)| **s == 0.0 && s.is_sign_negative())
            .map(|(m, _)| m.clone())
            .collect();
        for m in negative_zeros {
            self.remove(&m);
            self.insert(&m, 0.0);
        }
    }

    /// The encoding check Redis makes before adding a new member of
    /// `member_len` bytes: the set converts first, then takes the member.
    pub fn prepare_insert(&mut self, member_len: usize, limits: &EncodingLimits) {
        if !self.big
            && (self.len() + 1 > limits.zset_max_listpack_entries
                || member_len > limits.zset_max_listpack_value)
        {
            self.big = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn incl(v: f64) -> ScoreBound {
        ScoreBound {
            value: v,
            exclusive: false,
        }
    }

    fn excl(v: f64) -> ScoreBound {
        ScoreBound {
            value: v,
            exclusive: true,
        }
    }

    #[test]
    fn order_rank_ranges() {
        let mut z = ZSet::default();
        assert!(z.insert(b"b", 2.0));
        assert!(z.insert(b"a", 2.0));
        assert!(z.insert(b"c", 1.0));
        assert!(!z.insert(b"c", 3.0));
        let names: Vec<_> = z.iter().map(|e| e.member.to_vec()).collect();
        assert_eq!(names, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(z.rank(b"c"), Some(2));
        assert_eq!(
            z.range_by_score(incl(2.0), excl(3.0), false, 0, -1).len(),
            2
        );
        assert_eq!(
            z.range_by_score(incl(2.0), excl(3.0), true, 1, 1)[0]
                .member
                .as_slice(),
            b"a"
        );
        assert_eq!(z.pop(true).unwrap().member.as_slice(), b"c");
        assert!(z.remove(b"a"));
        assert_eq!(z.len(), 1);
    }

    #[test]
    fn equal_score_is_not_an_update() {
        let mut z = ZSet::default();
        z.insert(b"a", 0.0);
        z.insert(b"a", -0.0);
        assert!(z.score(b"a").unwrap().is_sign_positive());
        // A big (skiplist) set keeps -0; a small one stores it as 0.
        z.insert(b"b", -0.0);
        assert!(z.score(b"b").unwrap().is_sign_positive());
        z.big = true;
        z.insert(b"c", -0.0);
        assert!(z.score(b"c").unwrap().is_sign_negative());
    }

    #[test]
    fn empty_ranges() {
        let mut z = ZSet::default();
        for (i, m) in [b"a", b"b", b"c"].iter().enumerate() {
            z.insert(*m, i as f64);
        }
        assert_eq!(z.score_ranks(&excl(1.0), &incl(1.0)).len(), 0);
        assert_eq!(z.score_ranks(&incl(2.0), &incl(1.0)).len(), 0);
        assert_eq!(z.score_ranks(&incl(1.0), &incl(1.0)), 1..2);
        let all = z.lex_ranks(&LexBound::NegInf, &LexBound::PosInf, false);
        assert_eq!(all, 0..3);
        assert!(z
            .lex_ranks(&LexBound::PosInf, &LexBound::NegInf, false)
            .is_empty());
        assert!(z
            .lex_ranks(&LexBound::NegInf, &LexBound::NegInf, false)
            .is_empty());
        let b = LexBound::Inclusive(b"b".to_vec());
        assert_eq!(z.lex_ranks(&b, &b, false), 1..2);
        assert!(z
            .lex_ranks(&b, &LexBound::Exclusive(b"b".to_vec()), false)
            .is_empty());
    }

    /// Random operations checked against a plain sorted vector.
    #[test]
    fn matches_a_naive_model() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut z = ZSet::default();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        for step in 0..20_000 {
            let member = format!("m{}", rng.gen_range(0..900)).into_bytes();
            let score = rng.gen_range(0..50) as f64;
            match rng.gen_range(0..10) {
                0..=5 => {
                    let new = z.insert(&member, score);
                    let pos = model.iter().position(|(_, m)| *m == member);
                    assert_eq!(new, pos.is_none());
                    if let Some(p) = pos {
                        model.remove(p);
                    }
                    model.push((score, member));
                }
                6..=7 => {
                    let pos = model.iter().position(|(_, m)| *m == member);
                    assert_eq!(z.remove(&member), pos.is_some());
                    if let Some(p) = pos {
                        model.remove(p);
                    }
                }
                8 => {
                    let highest = rng.gen_bool(0.5);
                    model.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
                    let expected = if highest {
                        model.pop()
                    } else if model.is_empty() {
                        None
                    } else {
                        Some(model.remove(0))
                    };
                    let got = z.pop(highest).map(|e| (e.score, e.member.to_vec()));
                    assert_eq!(got, expected);
                }
                _ => {
                    let n = model.len();
                    if n > 0 {
                        let a = rng.gen_range(0..n);
                        let b = rng.gen_range(a..=n.min(a + 300));
                        model.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap().then(x.1.cmp(&y.1)));
                        model.drain(a..b);
                        assert_eq!(z.remove_ranks(a, b), b - a);
                    }
                }
            }
            model.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
            assert_eq!(z.len(), model.len());
            if step % 97 == 0 {
                let got: Vec<_> = z.iter().map(|e| (e.score, e.member.to_vec())).collect();
                assert_eq!(got, model);
                for (i, (s, m)) in model.iter().enumerate() {
                    assert_eq!(z.rank(m), Some(i));
                    assert_eq!(z.get_by_rank(i).map(|e| e.score), Some(*s));
                }
                let lo = rng.gen_range(0..50) as f64;
                let hi = lo + rng.gen_range(0..10) as f64;
                let expected = model.iter().filter(|(s, _)| *s > lo && *s <= hi).count();
                assert_eq!(z.count_by_score(excl(lo), incl(hi)), expected);
                let start = rng.gen_range(0..=model.len());
                let end = rng.gen_range(start..=model.len());
                let got: Vec<_> = z
                    .iter_ranks(start, end)
                    .rev()
                    .map(|e| e.member.to_vec())
                    .collect();
                let want: Vec<_> = model[start..end]
                    .iter()
                    .rev()
                    .map(|e| e.1.clone())
                    .collect();
                assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn bulk_build_and_scan() {
        let items: Vec<ScoredMember> = (0..1000)
            .map(|i| ScoredMember {
                score: (i % 7) as f64,
                member: CompactBytes::from(format!("k{i}").as_str()),
            })
            .collect();
        let z = ZSet::from_entries(items);
        assert_eq!(z.len(), 1000);
        let ordered: Vec<_> = z.iter().collect();
        assert!(ordered.windows(2).all(|w| w[0] < w[1]));
        let mut seen = 0;
        let mut cursor = 0;
        loop {
            cursor = z.scan(cursor, 10, |_, _| seen += 1);
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen, 1000);
    }
}
