//! The Kubernetes side of the sentinel watcher: one task per RedisHA that
//! runs [`crate::failover::spawn_watcher`] against the sentinels' stable DNS
//! names and turns its outputs into pod labels, status history, Events,
//! metrics and a reconcile of the RedisHA (which folds the observations into
//! phase and conditions).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use tokio::task::JoinHandle;

use crate::controller::{key_of, Context, Observed, WatcherHost};
use crate::crd::{MasterRef, RedisHA, ROLE_LABEL};
use crate::failover::{spawn_watcher, Failover, Output, WatchTarget};
use crate::history;
use crate::metrics::InstanceLabels;
use crate::resources::{selector_labels, Names, PASSWORD_KEY, REDIS_PORT, SENTINEL_PORT};
use crate::role;

/// Field manager of the failover history in the status.
pub const HISTORY_MANAGER: &str = "redis-ha-operator-failover";

/// The running watcher tasks, keyed by `namespace/name`.
pub struct Observers {
    trigger: UnboundedSender<ObjectRef<RedisHA>>,
    tasks: Mutex<HashMap<String, (WatchTarget, JoinHandle<()>)>>,
}

impl Observers {
    pub fn new(trigger: UnboundedSender<ObjectRef<RedisHA>>) -> Self {
        Observers {
            trigger,
            tasks: Mutex::default(),
        }
    }
}

/// Where the watcher of a RedisHA looks (the password is read from the
/// Secret by the task itself).
pub fn target_of(rha: &RedisHA) -> WatchTarget {
    let names = Names::of(rha);
    let port = |p: i32| u16::try_from(p).unwrap_or_default();
    WatchTarget {
        master_name: names.master_name.clone(),
        sentinels: (0..rha.spec.sentinels)
            .map(|i| (names.sentinel_host(i), port(SENTINEL_PORT)))
            .collect(),
        pods: (0..=rha.spec.replicas)
            .map(|i| (i, names.redis_host(i), port(REDIS_PORT)))
            .collect(),
        password: None,
        poll_interval: Duration::from_secs(5),
    }
}

impl WatcherHost for Observers {
    fn ensure(&self, rha: &RedisHA, ctx: &Arc<Context>) {
        let key = key_of(rha);
        let target = target_of(rha);
        let mut tasks = self
            .tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((running, handle)) = tasks.get(&key) {
            if *running == target && !handle.is_finished() {
                return;
            }
            handle.abort();
        }
        let task = Observer {
            ctx: ctx.clone(),
            trigger: self.trigger.clone(),
            rha: rha.clone(),
            names: Names::of(rha),
            split_brain: None,
            sentinels_unreachable: None,
        };
        tracing::info!(redisha = %key, "starting sentinel watcher");
        tasks.insert(key, (target.clone(), tokio::spawn(task.run(target))));
    }
}

struct Observer {
    ctx: Arc<Context>,
    trigger: UnboundedSender<ObjectRef<RedisHA>>,
    rha: RedisHA,
    names: Names,
    split_brain: Option<String>,
    sentinels_unreachable: Option<String>,
}

impl Observer {
    fn key(&self) -> String {
        key_of(&self.rha)
    }

    async fn run(mut self, mut target: WatchTarget) {
        target.password = self.password().await;
        let (watcher, mut outputs) = spawn_watcher(target);
        let mut check = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                output = outputs.recv() => match output {
                    Some(output) => self.handle(output).await,
                    None => break,
                },
                _ = check.tick() => {
                    if !self.still_exists().await {
                        break;
                    }
                    self.relabel().await;
                }
            }
        }
        watcher.abort();
        if let Ok(mut observed) = self.ctx.observed.lock() {
            observed.remove(&self.key());
        }
        tracing::info!(redisha = %self.key(), "sentinel watcher stopped");
    }

    async fn password(&self) -> Option<String> {
        let secrets: Api<Secret> = Api::namespaced(self.ctx.client.clone(), &self.names.namespace);
        let secret = secrets.get_opt(&self.names.secret).await.ok()??;
        let bytes = secret.data?.get(PASSWORD_KEY)?.0.clone();
        String::from_utf8(bytes).ok()
    }

    async fn still_exists(&self) -> bool {
        let api: Api<RedisHA> = Api::namespaced(self.ctx.client.clone(), &self.names.namespace);
        // On API errors keep watching; only a confirmed absence stops the task.
        !matches!(api.get_opt(&self.rha.name_any()).await, Ok(None))
    }

    fn update(&self, change: impl FnOnce(&mut Observed)) {
        if let Ok(mut observed) = self.ctx.observed.lock() {
            change(observed.entry(self.key()).or_default());
        }
        // The controller folds the observation into phase and conditions.
        let _ = self.trigger.unbounded_send(ObjectRef::from(&self.rha));
    }

    fn pod_name(&self, address: &str) -> String {
        let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
        self.names
            .pod_of_host(host)
            .unwrap_or_else(|| address.to_string())
    }

    async fn handle(&mut self, output: Output) {
        match output {
            Output::Master(address) => {
                let pod = self.names.pod_of_host(
                    address
                        .rsplit_once(':')
                        .map_or(address.as_str(), |(h, _)| h),
                );
                let master = MasterRef {
                    pod: pod.unwrap_or_default(),
                    address,
                };
                self.update(|o| o.master = Some(master));
                self.relabel().await;
            }
            Output::MasterDown { address, .. } => {
                let note = format!(
                    "the sentinels agree that master {} is down",
                    self.pod_name(&address)
                );
                self.publish(EventType::Warning, "MasterDown", &note).await;
                self.update(|o| o.failing_over = true);
            }
            Output::FailoverStarted { address, .. } => {
                let note = format!(
                    "the sentinels started a failover away from {}",
                    self.pod_name(&address)
                );
                self.publish(EventType::Normal, "FailoverStarted", &note)
                    .await;
                self.update(|o| o.failing_over = true);
            }
            Output::FailoverCompleted(failover) => self.completed(failover).await,
            Output::Pods(reports) => self.check_split_brain(&reports).await,
            Output::Sentinels(reach) => self.check_sentinels(reach).await,
            Output::SentinelReset { sentinel, reason } => {
                let note = format!("SENTINEL RESET sent to {sentinel}: {reason}");
                self.publish(EventType::Normal, "SentinelReset", &note)
                    .await;
            }
        }
    }

    async fn completed(&mut self, failover: Failover) {
        let old = self.pod_name(&failover.old_master);
        let new = self.pod_name(&failover.new_master);
        let record = history::record(
            failover.detected_at,
            failover.completed_at,
            &old,
            &new,
            failover.epoch,
            failover.trigger,
        );
        let note = format!(
            "master moved from {old} to {new} in {} ms (epoch {}, trigger {})",
            record.duration_milliseconds,
            record.epoch.map_or("?".to_string(), |e| e.to_string()),
            record.trigger
        );
        match self.append_history(record).await {
            Ok(true) => {
                let labels = InstanceLabels {
                    namespace: self.names.namespace.clone(),
                    name: self.names.instance.clone(),
                };
                self.ctx.metrics.failovers.get_or_create(&labels).inc();
                self.publish(EventType::Normal, "FailoverCompleted", &note)
                    .await;
            }
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(redisha = %self.key(), error = %err, "cannot record the failover in status")
            }
        }
        tracing::info!(redisha = %self.key(), %old, %new, "failover completed");
        self.update(|o| o.failing_over = false);
        self.relabel().await;
    }

    /// Appends to `status.failovers` (read-modify-write of the fields owned
    /// by [`HISTORY_MANAGER`]). Returns whether the record was new.
    async fn append_history(
        &self,
        record: crate::crd::FailoverRecord,
    ) -> Result<bool, kube::Error> {
        let api: Api<RedisHA> = Api::namespaced(self.ctx.client.clone(), &self.names.namespace);
        let current = api.get_status(&self.rha.name_any()).await?;
        let mut status = current.status.unwrap_or_default();
        if !history::append_failover(&mut status, record) {
            return Ok(false);
        }
        let body = serde_json::json!({
            "apiVersion": RedisHA::api_version(&()),
            "kind": RedisHA::kind(&()),
            "status": {
                "failovers": status.failovers,
                "failoverCount": status.failover_count,
                "lastFailoverTime": status.last_failover_time,
            },
        });
        let params = PatchParams::apply(HISTORY_MANAGER).force();
        api.patch_status(&self.rha.name_any(), &params, &Patch::Apply(&body))
            .await?;
        Ok(true)
    }

    async fn check_split_brain(&mut self, reports: &[role::PodReport]) {
        let claimants: Vec<String> = reports
            .iter()
            .filter(|p| p.is_master)
            .map(|p| self.pod_name(&p.host))
            .collect();
        let labels = InstanceLabels {
            namespace: self.names.namespace.clone(),
            name: self.names.instance.clone(),
        };
        if claimants.len() > 1 {
            let message = format!(
                "{} pods report role:master: {}",
                claimants.len(),
                claimants.join(", ")
            );
            self.ctx.metrics.split_brain.get_or_create(&labels).set(1);
            if self.split_brain.as_deref() != Some(message.as_str()) {
                self.publish(EventType::Warning, "SplitBrain", &message)
                    .await;
                self.split_brain = Some(message.clone());
                self.update(|o| o.split_brain = Some(message));
            }
        } else {
            self.ctx.metrics.split_brain.get_or_create(&labels).set(0);
            if self.split_brain.take().is_some() {
                self.update(|o| o.split_brain = None);
            }
        }
    }

    /// A lost sentinel majority is a Warning Event (once per episode) and a
    /// Degraded condition until the majority answers again.
    async fn check_sentinels(&mut self, reach: crate::failover::SentinelReach) {
        let problem = reach.problem();
        if problem == self.sentinels_unreachable {
            return;
        }
        if let Some(message) = &problem {
            self.publish(EventType::Warning, "SentinelsUnreachable", message)
                .await;
        }
        self.sentinels_unreachable = problem.clone();
        self.update(|o| o.sentinels_unreachable = problem);
    }

    /// Puts `redisha.dev/role=master` on the pod the sentinels name and
    /// `replica` on every other redis pod, so the master Service follows.
    async fn relabel(&self) {
        let master = self
            .ctx
            .observed(&self.key())
            .master
            .map(|m| m.pod)
            .filter(|p| !p.is_empty());
        let Some(master) = master else { return };
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.names.namespace);
        let selector = selector_labels(&self.rha, "redis")
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let list = match pods.list(&ListParams::default().labels(&selector)).await {
            Ok(list) => list,
            Err(err) => {
                tracing::warn!(redisha = %self.key(), error = %err, "cannot list redis pods");
                return;
            }
        };
        for pod in list {
            let wanted = if pod.name_any() == master {
                "master"
            } else {
                "replica"
            };
            if pod.labels().get(ROLE_LABEL).map(String::as_str) == Some(wanted) {
                continue;
            }
            let patch = serde_json::json!({"metadata": {"labels": {ROLE_LABEL: wanted}}});
            if let Err(err) = pods
                .patch(
                    &pod.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                tracing::warn!(pod = %pod.name_any(), error = %err, "cannot label pod");
            }
        }
    }

    async fn publish(&self, type_: EventType, reason: &str, note: &str) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note.into()),
            action: "Failover".into(),
            secondary: None,
        };
        if let Err(err) = self
            .ctx
            .recorder()
            .publish(&event, &self.rha.object_ref(&()))
            .await
        {
            tracing::warn!(redisha = %self.key(), reason, error = %err, "cannot publish Event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::tests::{context, lines, requests, Fake};
    use crate::resources::tests::sample;
    use futures::StreamExt;
    use k8s_openapi::jiff::Timestamp;

    const PODS: &str = "/api/v1/namespaces/shop/pods";

    fn pod(name: &str, role: Option<&str>) -> serde_json::Value {
        let mut labels = serde_json::json!({"app.kubernetes.io/instance": "cache"});
        if let Some(role) = role {
            labels[ROLE_LABEL] = role.into();
        }
        serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "shop", "labels": labels}})
    }

    fn host(ordinal: i32) -> String {
        format!("cache-redis-{ordinal}.cache-redis-headless.shop.svc:6379")
    }

    type Harness = (
        Observer,
        Arc<Mutex<Vec<crate::controller::tests::Sent>>>,
        futures::channel::mpsc::UnboundedReceiver<ObjectRef<RedisHA>>,
    );

    fn observer(fake: Fake) -> Harness {
        let rha = fake.rha.clone();
        let (ctx, sent) = context(fake);
        let (trigger, triggered) = futures::channel::mpsc::unbounded();
        let observer = Observer {
            ctx,
            trigger,
            names: Names::of(&rha),
            rha,
            split_brain: None,
            sentinels_unreachable: None,
        };
        (observer, sent, triggered)
    }

    fn fake() -> Fake {
        Fake {
            rha: sample(serde_json::json!({})),
            secret: None,
            ready_redis: 3,
            ready_sentinels: 3,
            pods: vec![
                pod("cache-redis-0", Some("master")),
                pod("cache-redis-1", Some("replica")),
                pod("cache-redis-2", None),
            ],
        }
    }

    #[tokio::test]
    async fn a_new_master_moves_the_role_label_and_triggers_a_reconcile() {
        let (mut observer, sent, mut triggered) = observer(fake());
        observer.handle(Output::Master(host(1))).await;
        let sent = requests(&sent);
        assert_eq!(
            lines(&sent),
            [
                format!("GET {PODS}"),
                format!("PATCH {PODS}/cache-redis-0"),
                format!("PATCH {PODS}/cache-redis-1"),
                format!("PATCH {PODS}/cache-redis-2"),
            ]
        );
        assert!(
            sent[0].query.contains("labelSelector="),
            "{}",
            sent[0].query
        );
        let role = |i: usize| sent[i].body["metadata"]["labels"][ROLE_LABEL].clone();
        assert_eq!(
            (role(1), role(2), role(3)),
            ("replica".into(), "master".into(), "replica".into())
        );
        let observed = observer.ctx.observed("shop/cache");
        assert_eq!(
            observed.master,
            Some(MasterRef {
                pod: "cache-redis-1".into(),
                address: host(1)
            })
        );
        assert_eq!(
            triggered.next().await.map(|r| r.name),
            Some("cache".to_string())
        );
    }

    #[tokio::test]
    async fn a_completed_failover_is_appended_to_status_with_an_event_and_a_metric() {
        let (mut observer, sent, _triggered) = observer(fake());
        observer
            .handle(Output::MasterDown {
                address: host(0),
                at: Timestamp::now(),
            })
            .await;
        assert!(observer.ctx.observed("shop/cache").failing_over);
        let detected = Timestamp::from_second(1_800_000_000).expect("time");
        let completed = Timestamp::from_millisecond(1_800_000_006_500).expect("time");
        let failover = Failover {
            detected_at: detected,
            completed_at: completed,
            old_master: host(0),
            new_master: host(2),
            epoch: Some(3),
            trigger: "odown",
        };
        observer.handle(Output::FailoverCompleted(failover)).await;

        let sent = requests(&sent);
        let status_path = "/apis/redisha.dev/v1alpha1/namespaces/shop/redishas/cache/status";
        assert_eq!(
            lines(&sent[..4]),
            [
                "POST /apis/events.k8s.io/v1/namespaces/shop/events".to_string(),
                format!("GET {status_path}"),
                format!("PATCH {status_path}"),
                "POST /apis/events.k8s.io/v1/namespaces/shop/events".to_string(),
            ]
        );
        assert_eq!(
            (
                sent[0].body["type"].as_str(),
                sent[0].body["reason"].as_str()
            ),
            (Some("Warning"), Some("MasterDown"))
        );
        assert!(
            sent[2]
                .query
                .contains("fieldManager=redis-ha-operator-failover"),
            "{}",
            sent[2].query
        );
        let status = &sent[2].body["status"];
        assert_eq!(status["failoverCount"], 1);
        assert_eq!(status["failovers"][0]["oldMaster"], "cache-redis-0");
        assert_eq!(status["failovers"][0]["newMaster"], "cache-redis-2");
        assert_eq!(status["failovers"][0]["durationMilliseconds"], 6500);
        assert_eq!(status["failovers"][0]["epoch"], 3);
        assert_eq!(status["failovers"][0]["trigger"], "odown");
        assert_eq!(
            status["lastFailoverTime"],
            status["failovers"][0]["completedAt"]
        );
        assert!(
            status.get("phase").is_none(),
            "phase and conditions belong to the reconciler"
        );
        assert_eq!(sent[3].body["reason"], "FailoverCompleted");
        assert_eq!(
            sent[3].body["note"],
            "master moved from cache-redis-0 to cache-redis-2 in 6500 ms (epoch 3, trigger odown)"
        );
        assert!(!observer.ctx.observed("shop/cache").failing_over);
        let labels = InstanceLabels {
            namespace: "shop".into(),
            name: "cache".into(),
        };
        assert_eq!(
            observer.ctx.metrics.failovers.get_or_create(&labels).get(),
            1
        );
    }

    #[tokio::test]
    async fn split_brain_is_a_warning_event_an_observation_and_a_metric() {
        let (mut observer, sent, _triggered) = observer(fake());
        let report = |ordinal: i32, is_master: bool| role::PodReport {
            ordinal,
            host: host(ordinal),
            is_master,
            offset: 10,
        };
        let split = vec![report(0, true), report(1, true), report(2, false)];
        observer.handle(Output::Pods(split.clone())).await;
        observer.handle(Output::Pods(split)).await;
        let sent = requests(&sent);
        assert_eq!(
            lines(&sent),
            ["POST /apis/events.k8s.io/v1/namespaces/shop/events"],
            "one Event per split-brain episode"
        );
        assert_eq!(sent[0].body["type"], "Warning");
        assert_eq!(sent[0].body["reason"], "SplitBrain");
        assert_eq!(
            sent[0].body["note"],
            "2 pods report role:master: cache-redis-0, cache-redis-1"
        );
        let labels = InstanceLabels {
            namespace: "shop".into(),
            name: "cache".into(),
        };
        assert_eq!(
            observer
                .ctx
                .metrics
                .split_brain
                .get_or_create(&labels)
                .get(),
            1
        );
        assert!(observer.ctx.observed("shop/cache").split_brain.is_some());

        observer
            .handle(Output::Pods(vec![report(0, false), report(1, true)]))
            .await;
        assert_eq!(
            observer
                .ctx
                .metrics
                .split_brain
                .get_or_create(&labels)
                .get(),
            0
        );
        assert_eq!(observer.ctx.observed("shop/cache").split_brain, None);
    }

    #[tokio::test]
    async fn losing_the_sentinel_majority_is_a_warning_and_degrades_the_status() {
        let (mut observer, sent, _triggered) = observer(fake());
        let reach = |answering| {
            Output::Sentinels(crate::failover::SentinelReach {
                answering,
                total: 3,
            })
        };
        observer.handle(reach(3)).await;
        observer.handle(reach(1)).await;
        observer.handle(reach(1)).await;
        let sent_now = requests(&sent);
        assert_eq!(
            lines(&sent_now),
            ["POST /apis/events.k8s.io/v1/namespaces/shop/events"]
        );
        assert_eq!(sent_now[0].body["reason"], "SentinelsUnreachable");
        assert_eq!(sent_now[0].body["type"], "Warning");
        let observed = observer.ctx.observed("shop/cache");
        let status = crate::controller::compute_status(
            &observer.rha,
            &crate::validation::Findings::default(),
            None,
            None,
            &observed,
            Timestamp::now(),
        );
        assert_eq!(status.phase, crate::crd::Phase::Degraded);
        let degraded = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Degraded")
            .expect("Degraded");
        assert_eq!(degraded.reason, "SentinelsUnreachable");
        observer.handle(reach(2)).await;
        assert_eq!(
            observer.ctx.observed("shop/cache").sentinels_unreachable,
            None
        );
    }
}
