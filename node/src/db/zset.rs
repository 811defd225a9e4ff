//! Sorted set: a member → score map plus an ordered index of (score, member),
//! giving Redis's order (score, then member bytes) for range queries.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use super::compact::CompactBytes;
use super::value::{EncodingLimits, FastHasher};

/// An entry of the ordered index. Scores are never NaN (commands reject it).
#[derive(Clone, Debug)]
pub struct ScoredMember {
    pub score: f64,
    pub member: CompactBytes,
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
        self.score
            .partial_cmp(&other.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| self.member.as_slice().cmp(other.member.as_slice()))
    }
}

/// One end of a score range (`(1.5` is exclusive, `-inf`/`+inf` allowed).
#[derive(Clone, Copy, Debug)]
pub struct ScoreBound {
    pub value: f64,
    pub exclusive: bool,
}

/// One end of a lex range: `-`, `+`, `[x` or `(x`.
#[derive(Clone, Debug)]
pub enum LexBound {
    NegInf,
    PosInf,
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
}

#[derive(Clone, Debug, Default)]
pub struct ZSet {
    scores: HashMap<CompactBytes, f64, FastHasher>,
    order: BTreeSet<ScoredMember>,
    /// Converted to the skiplist encoding; never converts back (as Redis).
    pub big: bool,
}

impl ScoreBound {
    fn above_min(&self, score: f64) -> bool {
        if self.exclusive {
            score > self.value
        } else {
            score >= self.value
        }
    }

    fn below_max(&self, score: f64) -> bool {
        if self.exclusive {
            score < self.value
        } else {
            score <= self.value
        }
    }
}

impl LexBound {
    fn above_min(&self, m: &[u8]) -> bool {
        match self {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Inclusive(v) => m >= v.as_slice(),
            LexBound::Exclusive(v) => m > v.as_slice(),
        }
    }

    fn below_max(&self, m: &[u8]) -> bool {
        match self {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Inclusive(v) => m <= v.as_slice(),
            LexBound::Exclusive(v) => m < v.as_slice(),
        }
    }
}

impl ZSet {
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets a member's score. Returns true when the member is new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        if let Some(old) = self.scores.get_mut(member) {
            if *old != score || old.is_sign_negative() != score.is_sign_negative() {
                let key = CompactBytes::new(member);
                self.order.remove(&ScoredMember {
                    score: *old,
                    member: key.clone(),
                });
                *old = score;
                self.order.insert(ScoredMember { score, member: key });
            }
            return false;
        }
        let key = CompactBytes::new(member);
        self.scores.insert(key.clone(), score);
        self.order.insert(ScoredMember { score, member: key });
        true
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove(member) {
            Some(score) => {
                self.order.remove(&ScoredMember {
                    score,
                    member: CompactBytes::new(member),
                });
                true
            }
            None => false,
        }
    }

    /// 0-based rank in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        let probe = ScoredMember {
            score,
            member: CompactBytes::new(member),
        };
        Some(self.order.range(..probe).count())
    }

    /// Ascending iteration over all members.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &ScoredMember> {
        self.order.iter()
    }

    /// Members with ranks `start..=end` (already clamped, start <= end < len),
    /// ascending, or descending ranks when `rev`.
    pub fn range_by_rank(&self, start: usize, end: usize, rev: bool) -> Vec<&ScoredMember> {
        let n = end + 1 - start;
        if rev {
            self.order.iter().rev().skip(start).take(n).collect()
        } else {
            self.order.iter().skip(start).take(n).collect()
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
        let take = if limit < 0 {
            usize::MAX
        } else {
            limit as usize
        };
        let lower = Bound::Included(ScoredMember {
            score: min.value,
            member: CompactBytes::default(),
        });
        let in_range = |e: &&ScoredMember| min.above_min(e.score) && max.below_max(e.score);
        if min.value > max.value {
            return Vec::new();
        }
        if rev {
            self.order
                .iter()
                .rev()
                .skip_while(|e| !max.below_max(e.score))
                .take_while(|e| min.above_min(e.score))
                .skip(offset)
                .take(take)
                .collect()
        } else {
            self.order
                .range((lower, Bound::Unbounded))
                .skip_while(|e| !min.above_min(e.score))
                .take_while(|e| max.below_max(e.score))
                .filter(in_range)
                .skip(offset)
                .take(take)
                .collect()
        }
    }

    pub fn count_by_score(&self, min: ScoreBound, max: ScoreBound) -> usize {
        self.range_by_score(min, max, false, 0, -1).len()
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
        let take = if limit < 0 {
            usize::MAX
        } else {
            limit as usize
        };
        if rev {
            self.order
                .iter()
                .rev()
                .skip_while(|e| !max.below_max(&e.member))
                .take_while(|e| min.above_min(&e.member))
                .skip(offset)
                .take(take)
                .collect()
        } else {
            self.order
                .iter()
                .skip_while(|e| !min.above_min(&e.member))
                .take_while(|e| max.below_max(&e.member))
                .skip(offset)
                .take(take)
                .collect()
        }
    }

    pub fn count_by_lex(&self, min: &LexBound, max: &LexBound) -> usize {
        self.range_by_lex(min, max, false, 0, -1).len()
    }

    /// Removes and returns the lowest (or highest) member.
    pub fn pop(&mut self, highest: bool) -> Option<ScoredMember> {
        let entry = if highest {
            self.order.pop_last()?
        } else {
            self.order.pop_first()?
        };
        self.scores.remove(entry.member.as_slice());
        Some(entry)
    }

    pub fn update_encoding(&mut self, limits: &EncodingLimits) {
        if !self.big
            && (self.len() > limits.zset_max_listpack_entries
                || self
                    .scores
                    .keys()
                    .any(|m| m.len() > limits.zset_max_listpack_value))
        {
            self.big = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let incl = ScoreBound {
            value: 2.0,
            exclusive: false,
        };
        let excl = ScoreBound {
            value: 3.0,
            exclusive: true,
        };
        assert_eq!(z.range_by_score(incl, excl, false, 0, -1).len(), 2);
        assert_eq!(
            z.range_by_score(incl, excl, true, 1, 1)[0]
                .member
                .as_slice(),
            b"a"
        );
        assert_eq!(z.pop(true).unwrap().member.as_slice(), b"c");
        assert!(z.remove(b"a"));
        assert_eq!(z.len(), 1);
    }
}
