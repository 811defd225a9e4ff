//! Sorted set commands, following Redis 7.0's t_zset.c: argument parsing
//! order, error texts, reply shapes in RESP2 and RESP3 (WITHSCORES pairs are
//! flat in RESP2 and [member, double] arrays in RESP3), encodings and what
//! is propagated.

mod pop;
#[cfg(test)]
mod propagation_tests;
mod range;
mod read;
mod setops;
mod write;

use super::flags::*;
use super::{CmdError, CommandSpec};
use crate::command;
use crate::db::value::Value;
use crate::db::zset::ScoredMember;
use crate::db::{Db, ZSet};
use crate::resp::Reply;

pub static COMMANDS: &[CommandSpec] = &[
    command!("zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), "sorted-set", "1.2.0", "Add one or more members to a sorted set, or update its score if it already exists", write::zadd),
    command!("zincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), "sorted-set", "1.2.0", "Increment the score of a member in a sorted set", write::zincrby),
    command!("zrem", -3, WRITE | FAST, (1, 1, 1), "sorted-set", "1.2.0", "Remove one or more members from a sorted set", write::zrem),
    command!("zremrangebyscore", 4, WRITE, (1, 1, 1), "sorted-set", "1.2.0", "Remove all members in a sorted set within the given scores", write::zremrangebyscore),
    command!("zremrangebyrank", 4, WRITE, (1, 1, 1), "sorted-set", "2.0.0", "Remove all members in a sorted set within the given indexes", write::zremrangebyrank),
    command!("zremrangebylex", 4, WRITE, (1, 1, 1), "sorted-set", "2.8.9", "Remove all members in a sorted set between the given lexicographical range", write::zremrangebylex),
    command!("zscore", 3, READONLY | FAST, (1, 1, 1), "sorted-set", "1.2.0", "Get the score associated with the given member in a sorted set", read::zscore),
    command!("zmscore", -3, READONLY | FAST, (1, 1, 1), "sorted-set", "6.2.0", "Get the score associated with the given members in a sorted set", read::zmscore),
    command!("zcard", 2, READONLY | FAST, (1, 1, 1), "sorted-set", "1.2.0", "Get the number of members in a sorted set", read::zcard),
    command!("zrank", 3, READONLY | FAST, (1, 1, 1), "sorted-set", "2.0.0", "Determine the index of a member in a sorted set", read::zrank),
    command!("zrevrank", 3, READONLY | FAST, (1, 1, 1), "sorted-set", "2.0.0", "Determine the index of a member in a sorted set, with scores ordered from high to low", read::zrevrank),
    command!("zscan", -3, READONLY, (1, 1, 1), "sorted-set", "2.8.0", "Incrementally iterate sorted sets elements and associated scores", read::zscan),
    command!("zrandmember", -2, READONLY, (1, 1, 1), "sorted-set", "6.2.0", "Get one or multiple random elements from a sorted set", read::zrandmember),
    command!("zcount", 4, READONLY | FAST, (1, 1, 1), "sorted-set", "2.0.0", "Count the members in a sorted set with scores within the given values", range::zcount),
    command!("zlexcount", 4, READONLY | FAST, (1, 1, 1), "sorted-set", "2.8.9", "Count the number of members in a sorted set between a given lexicographical range", range::zlexcount),
    command!("zrange", -4, READONLY, (1, 1, 1), "sorted-set", "1.2.0", "Return a range of members in a sorted set", range::zrange),
    command!("zrangestore", -5, WRITE | DENYOOM, (1, 2, 1), "sorted-set", "6.2.0", "Store a range of members from sorted set into another key", range::zrangestore),
    command!("zrevrange", -4, READONLY, (1, 1, 1), "sorted-set", "1.2.0", "Return a range of members in a sorted set, by index, with scores ordered from high to low", range::zrevrange),
    command!("zrangebyscore", -4, READONLY, (1, 1, 1), "sorted-set", "1.0.5", "Return a range of members in a sorted set, by score", range::zrangebyscore),
    command!("zrevrangebyscore", -4, READONLY, (1, 1, 1), "sorted-set", "2.2.0", "Return a range of members in a sorted set, by score, with scores ordered from high to low", range::zrevrangebyscore),
    command!("zrangebylex", -4, READONLY, (1, 1, 1), "sorted-set", "2.8.9", "Return a range of members in a sorted set, by lexicographical range", range::zrangebylex),
    command!("zrevrangebylex", -4, READONLY, (1, 1, 1), "sorted-set", "2.8.9", "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.", range::zrevrangebylex),
    command!("zpopmin", -2, WRITE | FAST, (1, 1, 1), "sorted-set", "5.0.0", "Remove and return members with the lowest scores in a sorted set", pop::zpopmin),
    command!("zpopmax", -2, WRITE | FAST, (1, 1, 1), "sorted-set", "5.0.0", "Remove and return members with the highest scores in a sorted set", pop::zpopmax),
    command!("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST, (1, -2, 1), "sorted-set", "5.0.0", "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available", pop::bzpopmin),
    command!("bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST, (1, -2, 1), "sorted-set", "5.0.0", "Remove and return the member with the highest score from one or more sorted sets, or block until one is available", pop::bzpopmax),
    command!("zmpop", -4, WRITE, (0, 0, 0), "sorted-set", "7.0.0", "Remove and return members with scores in a sorted set", pop::zmpop),
    command!("bzmpop", -5, WRITE | BLOCKING, (0, 0, 0), "sorted-set", "7.0.0", "Remove and return members with scores in a sorted set or block until one is available", pop::bzmpop),
    command!("zunion", -3, READONLY, (0, 0, 0), "sorted-set", "6.2.0", "Add multiple sorted sets", setops::zunion),
    command!("zinter", -3, READONLY, (0, 0, 0), "sorted-set", "6.2.0", "Intersect multiple sorted sets", setops::zinter),
    command!("zdiff", -3, READONLY, (0, 0, 0), "sorted-set", "6.2.0", "Subtract multiple sorted sets", setops::zdiff),
    command!("zunionstore", -4, WRITE | DENYOOM, (1, 1, 1), "sorted-set", "2.0.0", "Add multiple sorted sets and store the resulting sorted set in a new key", setops::zunionstore),
    command!("zinterstore", -4, WRITE | DENYOOM, (1, 1, 1), "sorted-set", "2.0.0", "Intersect multiple sorted sets and store the resulting sorted set in a new key", setops::zinterstore),
    command!("zdiffstore", -4, WRITE | DENYOOM, (1, 1, 1), "sorted-set", "6.2.0", "Subtract multiple sorted sets and store the resulting sorted set in a new key", setops::zdiffstore),
    command!("zintercard", -3, READONLY, (0, 0, 0), "sorted-set", "7.0.0", "Intersect multiple sorted sets and return the cardinality of the result", setops::zintercard),
];

/// The sorted set at `key` for reading (counts keyspace hits and misses).
fn read_zset<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a ZSet>, CmdError> {
    match db.get(key).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The sorted set at `key` for writing.
fn write_zset<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a mut ZSet>, CmdError> {
    match db.get_mut(key).map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Deletes `key` when its sorted set became empty (Redis keeps no empty containers).
fn remove_if_empty(db: &mut Db, key: &[u8]) {
    if matches!(db.peek(key).map(|e| &e.value), Some(Value::ZSet(z)) if z.is_empty()) {
        db.remove(key);
    }
}

/// One member of a range reply: a [member, score] pair in RESP3 with
/// scores, member then score (flat) in RESP2.
fn reply_member(reply: &mut Reply, member: &[u8], score: f64, withscores: bool) {
    if withscores && reply.resp3 {
        reply.array_len(2);
    }
    reply.bulk(member);
    if withscores {
        reply.double(score);
    }
}

/// The array header of a reply of `count` members.
fn reply_members_header(reply: &mut Reply, count: usize, withscores: bool) {
    if withscores && !reply.resp3 {
        reply.array_len(count * 2);
    } else {
        reply.array_len(count);
    }
}

/// A whole range reply.
fn reply_members<'a>(
    reply: &mut Reply,
    items: impl Iterator<Item = &'a ScoredMember>,
    count: usize,
    withscores: bool,
) {
    reply_members_header(reply, count, withscores);
    for e in items {
        reply_member(reply, &e.member, e.score, withscores);
    }
}

/// Redis's index sanitizing for rank ranges: negative indexes count from
/// the end, then clamp. Returns the inclusive ranks, or None when empty.
fn rank_window(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, end as usize))
}

#[cfg(test)]
mod tests {
    use super::rank_window;

    #[test]
    fn rank_windows_follow_redis() {
        assert_eq!(rank_window(5, 0, -1), Some((0, 4)));
        assert_eq!(rank_window(5, -100, 100), Some((0, 4)));
        assert_eq!(rank_window(5, 3, 1), None);
        assert_eq!(rank_window(5, 5, 10), None);
        assert_eq!(rank_window(5, -2, -1), Some((3, 4)));
        assert_eq!(rank_window(5, i64::MIN, i64::MAX), Some((0, 4)));
        assert_eq!(rank_window(0, 0, -1), None);
    }
}
