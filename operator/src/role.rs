//! Which pod is the master, decided deterministically from what sentinels
//! and pods report. Used when the sentinels disagree or know nothing (all
//! sentinels restarted, several pods lost, every pod replicating a dead
//! address): the answer is never "the oldest pod", always the most complete
//! dataset.

/// What one redis pod reports (INFO replication), if it answered.
#[derive(Clone, Debug, PartialEq)]
pub struct PodReport {
    pub ordinal: i32,
    /// The pod's stable hostname.
    pub host: String,
    pub is_master: bool,
    /// `master_repl_offset` (a replica's processed offset).
    pub offset: i64,
}

/// Why a pod was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// At least `quorum` sentinels name it.
    Sentinels,
    /// The only reachable pod that reports role:master.
    OnlyMaster,
    /// Several or no pods claim master: the highest replication offset wins,
    /// ties broken by the lowest ordinal.
    HighestOffset,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MasterChoice {
    pub host: String,
    pub basis: Basis,
}

/// Decides the master.
///
/// `sentinel_answers` holds, per reachable sentinel, the host it reports as
/// master (None: it knows none). `pods` holds the pods that answered.
pub fn decide_master(
    sentinel_answers: &[Option<String>],
    quorum: usize,
    pods: &[PodReport],
) -> Option<MasterChoice> {
    if let Some(host) = agreed_by_sentinels(sentinel_answers, quorum) {
        return Some(MasterChoice {
            host,
            basis: Basis::Sentinels,
        });
    }
    let masters: Vec<&PodReport> = pods.iter().filter(|p| p.is_master).collect();
    if let [only] = masters.as_slice() {
        return Some(MasterChoice {
            host: only.host.clone(),
            basis: Basis::OnlyMaster,
        });
    }
    // Split brain or nobody: among the claimants if any, else among all.
    let candidates: Vec<&PodReport> = if masters.is_empty() {
        pods.iter().collect()
    } else {
        masters
    };
    candidates
        .into_iter()
        .max_by(|a, b| a.offset.cmp(&b.offset).then(b.ordinal.cmp(&a.ordinal)))
        .map(|p| MasterChoice {
            host: p.host.clone(),
            basis: Basis::HighestOffset,
        })
}

/// The host named by at least `quorum` sentinels (the most named wins; a
/// tie between two hosts both reaching quorum is no agreement).
pub fn agreed_by_sentinels(answers: &[Option<String>], quorum: usize) -> Option<String> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for host in answers.iter().flatten() {
        match counts.iter_mut().find(|(h, _)| h == host) {
            Some((_, n)) => *n += 1,
            None => counts.push((host, 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    match counts.as_slice() {
        [(host, n), rest @ ..]
            if *n >= quorum.max(1) && rest.first().is_none_or(|(_, m)| m < n) =>
        {
            Some(host.to_string())
        }
        _ => None,
    }
}

/// How many reachable pods claim to be master (more than one is split brain).
pub fn master_claims(pods: &[PodReport]) -> usize {
    pods.iter().filter(|p| p.is_master).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ordinal: i32, is_master: bool, offset: i64) -> PodReport {
        PodReport {
            ordinal,
            host: format!("r-{ordinal}"),
            is_master,
            offset,
        }
    }

    fn named(hosts: &[&str]) -> Vec<Option<String>> {
        hosts
            .iter()
            .map(|h| {
                if h.is_empty() {
                    None
                } else {
                    Some(h.to_string())
                }
            })
            .collect()
    }

    #[test]
    fn sentinel_quorum_wins() {
        let pods = [pod(0, true, 900), pod(1, false, 1000), pod(2, true, 1200)];
        let choice = decide_master(&named(&["r-1", "r-1", "r-2"]), 2, &pods).expect("choice");
        assert_eq!(
            choice,
            MasterChoice {
                host: "r-1".into(),
                basis: Basis::Sentinels
            }
        );
    }

    #[test]
    fn without_sentinel_quorum_the_only_master_is_kept() {
        let pods = [pod(0, false, 900), pod(1, true, 10), pod(2, false, 1200)];
        let choice = decide_master(&named(&["r-1", "", ""]), 2, &pods).expect("choice");
        assert_eq!(
            choice,
            MasterChoice {
                host: "r-1".into(),
                basis: Basis::OnlyMaster
            }
        );
    }

    #[test]
    fn whole_set_restart_picks_the_highest_offset_not_the_oldest_pod() {
        // Every pod replicates a dead address; no sentinel knows anything.
        let pods = [pod(0, false, 500), pod(1, false, 1500), pod(2, false, 1000)];
        let choice = decide_master(&named(&["", "", ""]), 2, &pods).expect("choice");
        assert_eq!(
            choice,
            MasterChoice {
                host: "r-1".into(),
                basis: Basis::HighestOffset
            }
        );
    }

    #[test]
    fn equal_offsets_are_broken_by_lowest_ordinal() {
        let pods = [pod(2, false, 700), pod(1, false, 700), pod(3, false, 100)];
        assert_eq!(
            decide_master(&[], 2, &pods).map(|c| c.host),
            Some("r-1".into())
        );
    }

    #[test]
    fn split_brain_resolves_to_the_claimant_with_most_data() {
        let pods = [pod(0, true, 100), pod(1, false, 5000), pod(2, true, 300)];
        let choice = decide_master(&named(&["r-0", "r-2", ""]), 2, &pods).expect("choice");
        assert_eq!(
            choice,
            MasterChoice {
                host: "r-2".into(),
                basis: Basis::HighestOffset
            }
        );
        assert_eq!(master_claims(&pods), 2);
    }

    #[test]
    fn tied_sentinel_answers_are_no_agreement() {
        let pods = [pod(0, false, 1), pod(1, false, 2)];
        let choice =
            decide_master(&named(&["r-0", "r-0", "r-1", "r-1"]), 2, &pods).expect("choice");
        assert_eq!(choice.basis, Basis::HighestOffset);
        assert_eq!(decide_master(&named(&["r-0"]), 2, &[]), None);
    }

    #[test]
    fn the_decision_does_not_depend_on_report_order() {
        let mut pods = vec![
            pod(0, false, 7),
            pod(1, false, 9),
            pod(2, false, 9),
            pod(3, false, 3),
        ];
        let first = decide_master(&[], 2, &pods);
        pods.reverse();
        assert_eq!(decide_master(&[], 2, &pods), first);
        assert_eq!(first.map(|c| c.host), Some("r-1".into()));
    }
}
