//! Pure status bookkeeping: the bounded failover history and Kubernetes-style
//! conditions (lastTransitionTime moves only when the status flips).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::crd::{FailoverRecord, RedisHAStatus, FAILOVER_HISTORY_LIMIT};

/// Milliseconds from detection to completion; never negative (clocks of
/// different sentinels' events can disagree by a little).
pub fn duration_ms(detected: Timestamp, completed: Timestamp) -> i64 {
    let millis = completed.as_millisecond() - detected.as_millisecond();
    millis.max(0)
}

/// Builds a record, computing its duration.
pub fn record(
    detected: Timestamp,
    completed: Timestamp,
    old_master: &str,
    new_master: &str,
    epoch: Option<i64>,
    trigger: &str,
) -> FailoverRecord {
    let detected = detected.min(completed);
    FailoverRecord {
        detected_at: Time(detected),
        completed_at: Time(completed),
        duration_milliseconds: duration_ms(detected, completed),
        old_master: old_master.to_string(),
        new_master: new_master.to_string(),
        epoch,
        trigger: trigger.to_string(),
    }
}

fn same_failover(a: &FailoverRecord, b: &FailoverRecord) -> bool {
    let same_switch = a.old_master == b.old_master && a.new_master == b.new_master;
    match (a.epoch, b.epoch) {
        (Some(x), Some(y)) => same_switch && x == y,
        _ => same_switch && a.completed_at == b.completed_at,
    }
}

/// Adds a failover to the history: kept in completion order, oldest first,
/// at most [`FAILOVER_HISTORY_LIMIT`] entries; the same failover reported
/// twice (e.g. after an operator restart) is recorded once. Returns whether
/// the record was new.
pub fn append_failover(status: &mut RedisHAStatus, new: FailoverRecord) -> bool {
    if status.failovers.iter().any(|old| same_failover(old, &new)) {
        return false;
    }
    status.failovers.push(new);
    status
        .failovers
        .sort_by(|a, b| a.completed_at.cmp(&b.completed_at));
    let excess = status
        .failovers
        .len()
        .saturating_sub(FAILOVER_HISTORY_LIMIT);
    status.failovers.drain(..excess);
    status.failover_count += 1;
    status.last_failover_time = status.failovers.last().map(|r| r.completed_at.clone());
    true
}

/// The wanted state of one condition.
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionUpdate<'a> {
    pub type_: &'a str,
    pub status: bool,
    pub reason: &'a str,
    pub message: String,
}

/// Sets a condition; `lastTransitionTime` changes only when `status` flips.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    update: ConditionUpdate<'_>,
    now: Timestamp,
    generation: Option<i64>,
) {
    let status = if update.status { "True" } else { "False" }.to_string();
    let transition_time = conditions
        .iter()
        .find(|c| c.type_ == update.type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    conditions.retain(|c| c.type_ != update.type_);
    conditions.push(Condition {
        type_: update.type_.to_string(),
        status,
        reason: update.reason.to_string(),
        message: update.message,
        last_transition_time: transition_time,
        observed_generation: generation,
    });
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("valid timestamp")
    }

    #[test]
    fn durations_are_completion_minus_detection() {
        let r = record(
            at(10),
            at(17),
            "cache-redis-0",
            "cache-redis-1",
            Some(1),
            "odown",
        );
        assert_eq!(r.duration_milliseconds, 7000);
        // A detection stamped after completion (skewed clocks) clamps to zero.
        let skewed = record(at(20), at(17), "a", "b", None, "observed");
        assert_eq!(skewed.duration_milliseconds, 0);
        assert_eq!(skewed.detected_at, skewed.completed_at);
    }

    #[test]
    fn history_is_ordered_by_completion_and_counts_every_failover() {
        let mut status = RedisHAStatus::default();
        assert!(append_failover(
            &mut status,
            record(at(100), at(105), "b", "c", Some(2), "odown")
        ));
        assert!(append_failover(
            &mut status,
            record(at(0), at(5), "a", "b", Some(1), "odown")
        ));
        let order: Vec<_> = status
            .failovers
            .iter()
            .map(|r| r.new_master.as_str())
            .collect();
        assert_eq!(order, ["b", "c"]);
        assert_eq!(status.failover_count, 2);
        assert_eq!(status.last_failover_time, Some(Time(at(105))));
    }

    #[test]
    fn the_same_failover_is_recorded_once() {
        let mut status = RedisHAStatus::default();
        assert!(append_failover(
            &mut status,
            record(at(0), at(5), "a", "b", Some(1), "odown")
        ));
        assert!(!append_failover(
            &mut status,
            record(at(1), at(6), "a", "b", Some(1), "odown")
        ));
        assert_eq!(status.failovers.len(), 1);
        assert_eq!(status.failover_count, 1);
    }

    #[test]
    fn history_is_bounded_to_the_last_twenty() {
        let mut status = RedisHAStatus::default();
        for i in 0..25 {
            let r = record(
                at(i * 10),
                at(i * 10 + 3),
                &format!("m{i}"),
                &format!("m{}", i + 1),
                Some(i + 1),
                "odown",
            );
            assert!(append_failover(&mut status, r));
        }
        assert_eq!(status.failovers.len(), FAILOVER_HISTORY_LIMIT);
        assert_eq!(status.failover_count, 25);
        assert_eq!(
            status.failovers[0].epoch,
            Some(6),
            "the five oldest were dropped"
        );
        assert_eq!(status.failovers[19].epoch, Some(25));
        assert_eq!(status.last_failover_time, Some(Time(at(243))));
    }

    #[test]
    fn condition_transition_time_moves_only_on_flips() {
        let mut conditions = Vec::new();
        let ready = |status: bool, reason: &'static str| ConditionUpdate {
            type_: "Ready",
            status,
            reason,
            message: reason.to_string(),
        };
        set_condition(&mut conditions, ready(false, "Creating"), at(0), Some(1));
        set_condition(
            &mut conditions,
            ready(false, "WaitingForPods"),
            at(5),
            Some(1),
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time, Time(at(0)));
        assert_eq!(conditions[0].reason, "WaitingForPods");
        set_condition(&mut conditions, ready(true, "AllReady"), at(9), Some(2));
        assert_eq!(conditions[0].last_transition_time, Time(at(9)));
        assert_eq!(conditions[0].status, "True");
        assert_eq!(conditions[0].observed_generation, Some(2));
    }
}
