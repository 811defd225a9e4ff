//! Leader election, as pure functions over epochs and votes: one vote per
//! epoch, and a winner needs an absolute majority of all known Sentinels
//! and at least the master's quorum.

/// This Sentinel's vote for one master.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vote {
    pub leader: Option<String>,
    pub leader_epoch: u64,
}

/// What `vote` changed, for events and config flushes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VoteOutcome {
    /// Set when the requester's epoch was newer and we adopted it.
    pub new_epoch: Option<u64>,
    /// True when a new vote was cast by this call.
    pub voted: bool,
}

/// Votes for `req_runid` in `req_epoch` unless we already voted in that
/// epoch (or a later one). `current_epoch` is raised to `req_epoch` first.
/// The stored vote (possibly an older one) is what gets reported back.
pub fn vote(
    current_epoch: &mut u64,
    vote: &mut Vote,
    req_epoch: u64,
    req_runid: &str,
) -> VoteOutcome {
    let mut out = VoteOutcome::default();
    if req_epoch > *current_epoch {
        *current_epoch = req_epoch;
        out.new_epoch = Some(req_epoch);
    }
    if vote.leader_epoch < req_epoch && *current_epoch <= req_epoch {
        vote.leader = Some(req_runid.to_string());
        vote.leader_epoch = *current_epoch;
        out.voted = true;
    }
    out
}

/// The majority needed among `voters` (all known Sentinels plus us).
pub fn majority(voters: usize) -> usize {
    voters / 2 + 1
}

/// Picks the runid with most votes (ties: first seen in `votes` order).
pub fn most_voted<'a>(votes: impl IntoIterator<Item = &'a str>) -> Option<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for v in votes {
        match counts.iter_mut().find(|(r, _)| r.eq_ignore_ascii_case(v)) {
            Some((_, n)) => *n += 1,
            None => counts.push((v.to_string(), 1)),
        }
    }
    let mut best: Option<(String, usize)> = None;
    for (r, n) in counts {
        if best.as_ref().is_none_or(|(_, b)| n > *b) {
            best = Some((r, n));
        }
    }
    best
}

/// The election winner given the other Sentinels' votes for this epoch and
/// our own vote, or None when nobody has a majority of `voters` and
/// `quorum` votes.
pub fn winner(
    others: &[&str],
    my_vote: Option<&str>,
    voters: usize,
    quorum: u32,
) -> Option<String> {
    let mut all: Vec<&str> = others.to_vec();
    if let Some(m) = my_vote {
        all.push(m);
    }
    let (name, votes) = most_voted(all)?;
    if votes < majority(voters) || votes < quorum as usize {
        return None;
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_vote_per_epoch() {
        let mut epoch = 0;
        let mut v = Vote::default();
        let out = vote(&mut epoch, &mut v, 5, "aaa");
        assert_eq!(out.new_epoch, Some(5));
        assert!(out.voted);
        assert_eq!(v.leader.as_deref(), Some("aaa"));
        assert_eq!(v.leader_epoch, 5);
        // A second request in the same epoch gets the first vote back.
        let out = vote(&mut epoch, &mut v, 5, "bbb");
        assert!(!out.voted);
        assert_eq!(v.leader.as_deref(), Some("aaa"));
        // An older epoch never changes the vote.
        let out = vote(&mut epoch, &mut v, 4, "ccc");
        assert!(!out.voted);
        assert_eq!(epoch, 5);
        // A newer epoch does.
        let out = vote(&mut epoch, &mut v, 6, "ccc");
        assert!(out.voted);
        assert_eq!((v.leader.as_deref(), v.leader_epoch), (Some("ccc"), 6));
    }

    #[test]
    fn no_vote_when_our_epoch_is_ahead() {
        let mut epoch = 9;
        let mut v = Vote::default();
        let out = vote(&mut epoch, &mut v, 7, "aaa");
        assert!(!out.voted);
        assert_eq!(v.leader, None);
        assert_eq!(epoch, 9);
    }

    #[test]
    fn majority_and_quorum_both_required() {
        // 3 sentinels, quorum 2: two votes win.
        assert_eq!(winner(&["me"], Some("me"), 3, 2).as_deref(), Some("me"));
        // Only our own vote: not a majority of 3.
        assert_eq!(winner(&[], Some("me"), 3, 2), None);
        // 5 sentinels, quorum 4: a majority of 3 is not enough.
        assert_eq!(winner(&["me", "me"], Some("me"), 5, 4), None);
        assert_eq!(
            winner(&["me", "me", "me"], Some("me"), 5, 4).as_deref(),
            Some("me")
        );
        // Split votes: nobody wins.
        assert_eq!(winner(&["a", "b"], Some("c"), 3, 1), None);
        // Quorum 1 with a single sentinel.
        assert_eq!(winner(&[], Some("me"), 1, 1).as_deref(), Some("me"));
    }

    #[test]
    fn most_voted_counts_case_insensitively() {
        assert_eq!(most_voted(["AB", "ab", "cd"]), Some(("AB".to_string(), 2)));
        assert_eq!(most_voted(Vec::<&str>::new()), None);
    }
}
