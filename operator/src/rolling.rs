//! Safe rolling of the redis pods after a spec change. The redis StatefulSet
//! uses `updateStrategy: OnDelete`, and the operator replaces pods itself, one
//! at a time: outdated replicas first (highest ordinal first), then a
//! sentinel-driven switchover away from an outdated master, then the old
//! master (by then a replica). The default RollingUpdate would restart the
//! master whenever its ordinal comes up and make clients wait for
//! down-after-milliseconds plus a failover.

/// What the operator knows about one redis pod.
#[derive(Clone, Debug, PartialEq)]
pub struct PodState {
    pub name: String,
    pub ordinal: i32,
    /// The pod's `controller-revision-hash` label.
    pub revision: Option<String>,
    pub ready: bool,
    /// Carries `redisha.dev/role=master`.
    pub is_master: bool,
}

/// The next step of a roll.
#[derive(Clone, Debug, PartialEq)]
pub enum RollStep {
    /// Every pod runs the current revision.
    Done,
    /// Not now (a pod is not ready or missing): never take a second pod down.
    Wait(String),
    /// Delete this outdated pod; the StatefulSet recreates it at the new revision.
    DeletePod(String),
    /// Ask the sentinels to fail over away from this outdated master.
    Switchover(String),
}

/// Plans the next step for the pods of a StatefulSet whose current
/// template revision is `update_revision`.
pub fn plan_roll(pods: &[PodState], update_revision: &str, desired: i32) -> RollStep {
    let outdated = |p: &&PodState| p.revision.as_deref() != Some(update_revision);
    if !pods.iter().any(|p| outdated(&p)) {
        return RollStep::Done;
    }
    if let Some(pod) = pods.iter().find(|p| !p.ready) {
        return RollStep::Wait(format!("pod {} is not ready", pod.name));
    }
    if (pods.len() as i32) < desired {
        return RollStep::Wait(format!("{} of {desired} redis pods exist", pods.len()));
    }
    let mut replicas: Vec<&PodState> = pods
        .iter()
        .filter(|p| !p.is_master)
        .filter(outdated)
        .collect();
    replicas.sort_by_key(|p| std::cmp::Reverse(p.ordinal));
    if let Some(replica) = replicas.first() {
        return RollStep::DeletePod(replica.name.clone());
    }
    let Some(master) = pods.iter().find(|p| p.is_master) else {
        return RollStep::Wait("no pod is labelled master yet".into());
    };
    let has_updated_replica = pods
        .iter()
        .any(|p| !p.is_master && !outdated(&p) && p.ready);
    if has_updated_replica {
        RollStep::Switchover(master.name.clone())
    } else {
        // A lone master (replicas: 0) can only be restarted in place.
        RollStep::DeletePod(master.name.clone())
    }
}

/// Scaling down removes the highest ordinals. When the master is among
/// them, the StatefulSet keeps it (returns the pod count to run for now)
/// until a switchover has moved the master below the cut.
pub fn pods_to_keep(desired: i32, master_ordinal: Option<i32>) -> Option<i32> {
    master_ordinal.filter(|m| *m >= desired).map(|m| m + 1)
}

/// The ordinal in a StatefulSet pod name (`cache-redis-2` -> 2).
pub fn ordinal_of(pod: &str) -> Option<i32> {
    pod.rsplit('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ordinal: i32, revision: &str, ready: bool, is_master: bool) -> PodState {
        PodState {
            name: format!("r-{ordinal}"),
            ordinal,
            revision: Some(revision.into()),
            ready,
            is_master,
        }
    }

    #[test]
    fn scaling_down_never_removes_the_master() {
        assert_eq!(pods_to_keep(2, Some(1)), None);
        assert_eq!(pods_to_keep(2, Some(2)), Some(3));
        assert_eq!(pods_to_keep(1, Some(3)), Some(4));
        assert_eq!(pods_to_keep(3, None), None);
        assert_eq!(ordinal_of("cache-redis-12"), Some(12));
        assert_eq!(ordinal_of("cache"), None);
    }

    #[test]
    fn up_to_date_pods_need_nothing() {
        let pods = [pod(0, "new", true, true), pod(1, "new", true, false)];
        assert_eq!(plan_roll(&pods, "new", 2), RollStep::Done);
    }

    #[test]
    fn replicas_roll_first_highest_ordinal_first_then_switchover_then_old_master() {
        let mut pods = vec![
            pod(0, "old", true, false),
            pod(1, "old", true, true),
            pod(2, "old", true, false),
        ];
        assert_eq!(
            plan_roll(&pods, "new", 3),
            RollStep::DeletePod("r-2".into())
        );
        pods[2] = pod(2, "new", true, false);
        assert_eq!(
            plan_roll(&pods, "new", 3),
            RollStep::DeletePod("r-0".into())
        );
        pods[0] = pod(0, "new", true, false);
        assert_eq!(
            plan_roll(&pods, "new", 3),
            RollStep::Switchover("r-1".into())
        );
        // The sentinels promoted r-2; the old master is now an outdated replica.
        pods[1].is_master = false;
        pods[2].is_master = true;
        assert_eq!(
            plan_roll(&pods, "new", 3),
            RollStep::DeletePod("r-1".into())
        );
        pods[1] = pod(1, "new", true, false);
        assert_eq!(plan_roll(&pods, "new", 3), RollStep::Done);
    }

    #[test]
    fn never_a_second_pod_down() {
        let pods = [
            pod(0, "new", false, false),
            pod(1, "old", true, true),
            pod(2, "old", true, false),
        ];
        assert_eq!(
            plan_roll(&pods, "new", 3),
            RollStep::Wait("pod r-0 is not ready".into())
        );
        let missing = [pod(1, "old", true, true), pod(2, "old", true, false)];
        assert_eq!(
            plan_roll(&missing, "new", 3),
            RollStep::Wait("2 of 3 redis pods exist".into())
        );
    }

    #[test]
    fn no_switchover_without_an_updated_ready_replica_and_a_lone_master_restarts() {
        let unlabelled = [pod(0, "old", true, false), pod(1, "new", true, false)];
        assert_eq!(
            plan_roll(&unlabelled, "new", 2),
            RollStep::DeletePod("r-0".into())
        );
        let lone = [pod(0, "old", true, true)];
        assert_eq!(
            plan_roll(&lone, "new", 1),
            RollStep::DeletePod("r-0".into())
        );
        let no_label = [pod(0, "new", true, false), pod(1, "old", true, true)];
        assert_eq!(
            plan_roll(&no_label, "new", 2),
            RollStep::Switchover("r-1".into())
        );
    }
}
