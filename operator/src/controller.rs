//! Reconciliation of a `RedisHA`: validate, make sure the auth Secret
//! exists, server-side apply every child object, and publish the status.
//! Failures are retried with exponential backoff and are visible in the
//! status and as Events; an invalid spec is reported, never retried in a loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::crd::{MasterRef, Phase, RedisHA, RedisHAStatus};
use crate::history::{set_condition, ConditionUpdate};
use crate::metrics::Metrics;
use crate::resources::{self, Names};
use crate::rolling::{ordinal_of, plan_roll, pods_to_keep, PodState, RollStep};
use crate::validation::{self, Findings};

/// Field manager of every server-side apply the reconciler sends.
pub const FIELD_MANAGER: &str = "redis-ha-operator";

/// What the sentinel watcher last saw for one RedisHA (shared with the
/// reconciler, which folds it into phase and conditions).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    pub master: Option<MasterRef>,
    pub failing_over: bool,
    /// Set while more than one pod claims master.
    pub split_brain: Option<String>,
    /// Set while fewer than a majority of sentinels answer.
    pub sentinels_unreachable: Option<String>,
}

/// Key of a RedisHA in the shared maps: `namespace/name`.
pub fn key_of(rha: &RedisHA) -> String {
    format!("{}/{}", rha.namespace().unwrap_or_default(), rha.name_any())
}

/// Starts (or keeps) the sentinel watcher of a RedisHA; implemented by
/// [`crate::observer::Observers`], absent in tests of the reconcile alone.
pub trait WatcherHost: Send + Sync {
    fn ensure(&self, rha: &RedisHA, ctx: &Arc<Context>);
}

pub struct Context {
    pub client: Client,
    pub metrics: Arc<Metrics>,
    pub reporter: Reporter,
    pub observed: Mutex<HashMap<String, Observed>>,
    /// Consecutive failures per RedisHA, for the error backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    pub watchers: Option<Arc<dyn WatcherHost>>,
    /// Send `SENTINEL FAILOVER` for a switchover during a roll (off in tests
    /// of the reconcile alone, which have no sentinels).
    pub sentinel_switchover: bool,
}

impl Context {
    pub fn new(
        client: Client,
        metrics: Arc<Metrics>,
        watchers: Option<Arc<dyn WatcherHost>>,
    ) -> Self {
        Context {
            client,
            metrics,
            reporter: Reporter {
                controller: FIELD_MANAGER.into(),
                instance: std::env::var("POD_NAME").ok(),
            },
            observed: Mutex::default(),
            failures: Mutex::default(),
            sentinel_switchover: watchers.is_some(),
            watchers,
        }
    }

    pub fn observed(&self, key: &str) -> Observed {
        self.observed
            .lock()
            .map(|map| map.get(key).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    pub fn recorder(&self) -> Recorder {
        Recorder::new(self.client.clone(), self.reporter.clone())
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        // A poisoned map only holds counters: keep using it.
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error("Secret {0} (spec.auth.secretName) does not exist or has no 'password' key")]
    MissingSecret(String),
    #[error("cannot generate a password: {0}")]
    Random(#[from] std::io::Error),
}

impl Error {
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "ApiError",
            Error::MissingSecret(_) => "SecretMissing",
            Error::Random(_) => "PasswordGeneration",
        }
    }
}

fn kube_err(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let action = action.into();
    move |source| Error::Kube { action, source }
}

/// The reconcile entry point for the kube-runtime Controller.
pub async fn reconcile(rha: Arc<RedisHA>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started();
    let result = reconcile_inner(&rha, &ctx).await;
    match &result {
        Ok(_) => {
            ctx.failures().remove(&key_of(&rha));
        }
        Err(err) => {
            ctx.metrics.reconcile_failed(err.reason());
            // Best effort: the error is also retried and logged.
            let _ = report_error(&rha, &ctx, err).await;
        }
    }
    result
}

/// Backoff after a failed reconcile: 5 s doubling per consecutive failure, at most 5 minutes.
pub fn error_policy(rha: Arc<RedisHA>, err: &Error, ctx: Arc<Context>) -> Action {
    let failures = {
        let mut map = ctx.failures();
        let count = map.entry(key_of(&rha)).or_insert(0);
        *count += 1;
        *count
    };
    tracing::warn!(redisha = %key_of(&rha), error = %err, failures, "reconcile failed");
    Action::requeue(backoff(failures))
}

/// The delay before retry number `failures` (1-based).
pub fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(6);
    Duration::from_secs(5 * (1u64 << exponent)).min(Duration::from_secs(300))
}

async fn reconcile_inner(rha: &RedisHA, ctx: &Arc<Context>) -> Result<Action, Error> {
    let names = Names::of(rha);
    let findings = validation::check_spec(&rha.spec);
    if !findings.is_valid() {
        let message = findings.errors.join("; ");
        tracing::info!(redisha = %key_of(rha), %message, "invalid spec");
        publish(
            ctx,
            rha,
            EventType::Warning,
            "InvalidSpec",
            "Validate",
            &message,
        )
        .await?;
        let status = invalid_status(rha, &message, Timestamp::now());
        patch_status(ctx, rha, &status).await?;
        // Retrying cannot help: wait for the spec to change.
        return Ok(Action::await_change());
    }

    ensure_secret(rha, ctx, &names).await?;

    let client = &ctx.client;
    let ns = &names.namespace;
    apply(client, ns, &resources::config_map(rha)).await?;
    for service in [
        resources::headless_service(rha),
        resources::sentinel_headless_service(rha),
        resources::master_service(rha),
        resources::replicas_service(rha),
        resources::sentinel_service(rha),
    ] {
        apply(client, ns, &service).await?;
    }
    apply(client, ns, &resources::redis_pdb(rha)).await?;
    apply(client, ns, &resources::sentinel_pdb(rha)).await?;
    let observed = ctx.observed(&key_of(rha));
    let mut redis_set = resources::redis_statefulset(rha);
    let desired_pods = rha.spec.replicas + 1;
    let master_ordinal = observed.master.as_ref().and_then(|m| ordinal_of(&m.pod));
    let scale_blocked = pods_to_keep(desired_pods, master_ordinal);
    if let (Some(keep), Some(spec)) = (scale_blocked, redis_set.spec.as_mut()) {
        spec.replicas = Some(keep);
        let master = observed
            .master
            .as_ref()
            .map(|m| m.pod.clone())
            .unwrap_or_default();
        let note = format!("scaling to {desired_pods} redis pods would remove master {master}: asking the sentinels to fail over first");
        publish(ctx, rha, EventType::Normal, "Switchover", "Scale", &note).await?;
        request_switchover(rha, ctx, &names).await;
    }
    let redis = apply(client, ns, &redis_set).await?;
    let sentinel = apply(client, ns, &resources::sentinel_statefulset(rha)).await?;
    let rolling = roll_redis_pods(rha, ctx, &names, &redis).await?;

    if let Some(watchers) = &ctx.watchers {
        watchers.ensure(rha, ctx);
    }

    let status = compute_status(
        rha,
        &findings,
        redis.status.as_ref(),
        sentinel.status.as_ref(),
        &observed,
        Timestamp::now(),
    );
    patch_status(ctx, rha, &status).await?;
    let requeue = if rolling || scale_blocked.is_some() {
        10
    } else if status.phase == Phase::Ready {
        300
    } else {
        15
    };
    Ok(Action::requeue(Duration::from_secs(requeue)))
}

/// Asks the sentinels (through the `<name>-sentinel` Service) to fail over
/// away from the current master. A refusal (no suitable replica yet, a
/// failover in progress) is only logged: the next reconcile asks again.
async fn request_switchover(rha: &RedisHA, ctx: &Context, names: &Names) {
    if !ctx.sentinel_switchover {
        return;
    }
    let host = format!("{}.{}.svc", names.sentinel, names.namespace);
    let port = resources::SENTINEL_PORT as u16;
    if let Err(err) = crate::failover::request_failover(&host, port, &names.master_name).await {
        tracing::warn!(redisha = %key_of(rha), error = %err, "SENTINEL FAILOVER failed; retrying later");
    }
}

/// One step of a safe roll of the redis pods (see [`crate::rolling`]).
/// Returns whether a roll is in progress.
async fn roll_redis_pods(
    rha: &RedisHA,
    ctx: &Context,
    names: &Names,
    redis: &StatefulSet,
) -> Result<bool, Error> {
    let Some(update_revision) = redis
        .status
        .as_ref()
        .and_then(|s| s.update_revision.clone())
    else {
        return Ok(false);
    };
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let selector = resources::selector_labels(rha, "redis")
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(kube_err(format!("list redis pods of {}", key_of(rha))))?;
    let states: Vec<PodState> = list.items.iter().map(pod_state).collect();
    match plan_roll(&states, &update_revision, rha.spec.replicas + 1) {
        RollStep::Done => Ok(false),
        RollStep::Wait(reason) => {
            tracing::debug!(redisha = %key_of(rha), %reason, "roll waits");
            Ok(true)
        }
        RollStep::DeletePod(name) => {
            pods.delete(&name, &Default::default())
                .await
                .map_err(kube_err(format!("delete pod {}/{name}", names.namespace)))?;
            let note = format!("replaced pod {name} to apply the new spec");
            publish(ctx, rha, EventType::Normal, "RollingUpdate", "Roll", &note).await?;
            Ok(true)
        }
        RollStep::Switchover(master) => {
            let note =
                format!("asking the sentinels to fail over away from {master} before replacing it");
            publish(ctx, rha, EventType::Normal, "Switchover", "Roll", &note).await?;
            request_switchover(rha, ctx, names).await;
            Ok(true)
        }
    }
}

fn pod_state(pod: &Pod) -> PodState {
    let labels = pod.labels();
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let name = pod.name_any();
    PodState {
        ordinal: name
            .rsplit('-')
            .next()
            .and_then(|o| o.parse().ok())
            .unwrap_or(0),
        revision: labels.get("controller-revision-hash").cloned(),
        ready,
        is_master: labels.get(crate::crd::ROLE_LABEL).map(String::as_str) == Some("master"),
        name,
    }
}

/// Server-side apply of one child (forced: the operator owns these fields).
async fn apply<K>(client: &Client, namespace: &str, object: &K) -> Result<K, Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    // SSA needs apiVersion and kind in the body; k8s-openapi types omit
    // them from their Default, so add them here.
    let mut body = serde_json::to_value(object).map_err(|e| Error::Kube {
        action: format!("serialize {} {name}", K::kind(&())),
        source: kube::Error::SerdeError(e),
    })?;
    body["apiVersion"] = K::api_version(&()).into();
    body["kind"] = K::kind(&()).into();
    api.patch(&name, &params, &Patch::Apply(&body))
        .await
        .map_err(kube_err(format!(
            "apply {} {namespace}/{name}",
            K::kind(&())
        )))
}

/// Makes sure the auth Secret exists: a user-named one must exist; the
/// generated one is created once (never re-applied, which would change
/// the password under running pods).
async fn ensure_secret(rha: &RedisHA, ctx: &Context, names: &Names) -> Result<(), Error> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let existing = secrets
        .get_opt(&names.secret)
        .await
        .map_err(kube_err(format!(
            "get Secret {}/{}",
            names.namespace, names.secret
        )))?;
    let user_named = rha
        .spec
        .auth
        .as_ref()
        .and_then(|a| a.secret_name.as_ref())
        .is_some();
    match existing {
        Some(secret) if has_password(&secret) => Ok(()),
        _ if user_named => Err(Error::MissingSecret(names.secret.clone())),
        Some(_) => Err(Error::MissingSecret(names.secret.clone())),
        None => {
            let secret = resources::auth_secret(rha, &random_password()?);
            secrets
                .create(
                    &PostParams {
                        field_manager: Some(FIELD_MANAGER.into()),
                        ..PostParams::default()
                    },
                    &secret,
                )
                .await
                .map_err(kube_err(format!(
                    "create Secret {}/{}",
                    names.namespace, names.secret
                )))?;
            let note = format!("generated Secret {} with a random password", names.secret);
            publish(
                ctx,
                rha,
                EventType::Normal,
                "SecretCreated",
                "Reconcile",
                &note,
            )
            .await
        }
    }
}

fn has_password(secret: &Secret) -> bool {
    let in_data = secret
        .data
        .as_ref()
        .is_some_and(|d| d.contains_key(resources::PASSWORD_KEY));
    let in_string_data = secret
        .string_data
        .as_ref()
        .is_some_and(|d| d.contains_key(resources::PASSWORD_KEY));
    in_data || in_string_data
}

/// 32 hex characters from the kernel's CSPRNG.
fn random_password() -> Result<String, std::io::Error> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

async fn publish(
    ctx: &Context,
    rha: &RedisHA,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
) -> Result<(), Error> {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.into()),
        action: action.into(),
        secondary: None,
    };
    ctx.recorder()
        .publish(&event, &rha.object_ref(&()))
        .await
        .map_err(kube_err(format!("publish Event {reason}")))
}

/// A failed reconcile shows up as a Warning Event and a Degraded condition.
async fn report_error(rha: &RedisHA, ctx: &Context, err: &Error) -> Result<(), Error> {
    publish(
        ctx,
        rha,
        EventType::Warning,
        err.reason(),
        "Reconcile",
        &err.to_string(),
    )
    .await?;
    let now = Timestamp::now();
    let mut status = rha.status.clone().unwrap_or_default();
    status.phase = Phase::Degraded;
    let generation = rha.metadata.generation;
    set_condition(
        &mut status.conditions,
        degraded(true, err.reason(), err.to_string()),
        now,
        generation,
    );
    set_condition(
        &mut status.conditions,
        ready(false, err.reason(), err.to_string()),
        now,
        generation,
    );
    patch_status(ctx, rha, &status).await
}

fn ready(status: bool, reason: &str, message: String) -> ConditionUpdate<'_> {
    ConditionUpdate {
        type_: "Ready",
        status,
        reason,
        message,
    }
}

fn degraded(status: bool, reason: &str, message: String) -> ConditionUpdate<'_> {
    ConditionUpdate {
        type_: "Degraded",
        status,
        reason,
        message,
    }
}

fn invalid_status(rha: &RedisHA, message: &str, now: Timestamp) -> RedisHAStatus {
    let mut status = rha.status.clone().unwrap_or_default();
    status.phase = Phase::Degraded;
    status.observed_generation = rha.metadata.generation;
    let generation = rha.metadata.generation;
    set_condition(
        &mut status.conditions,
        degraded(true, "InvalidSpec", message.to_string()),
        now,
        generation,
    );
    set_condition(
        &mut status.conditions,
        ready(false, "InvalidSpec", message.to_string()),
        now,
        generation,
    );
    status
}

/// Pure: the status from the StatefulSets, the watcher's observations and
/// the spec findings. `readyReplicas` counts ready redis pods besides the
/// master.
pub fn compute_status(
    rha: &RedisHA,
    findings: &Findings,
    redis: Option<&StatefulSetStatus>,
    sentinel: Option<&StatefulSetStatus>,
    observed: &Observed,
    now: Timestamp,
) -> RedisHAStatus {
    let spec = &rha.spec;
    let mut status = rha.status.clone().unwrap_or_default();
    let ready_pods = redis.and_then(|s| s.ready_replicas).unwrap_or(0);
    let ready_sentinels = sentinel.and_then(|s| s.ready_replicas).unwrap_or(0);
    status.ready_replicas = (ready_pods - 1).max(0);
    status.ready_sentinels = ready_sentinels;
    status.replica_summary = format!("{}/{}", status.ready_replicas, spec.replicas);
    status.sentinel_summary = format!("{}/{}", ready_sentinels, spec.sentinels);
    status.observed_generation = rha.metadata.generation;
    if observed.master.is_some() {
        status.master = observed.master.clone();
    }

    let all_ready = ready_pods == spec.replicas + 1 && ready_sentinels == spec.sentinels;
    let quorum_ready = ready_sentinels >= spec.effective_quorum().max(spec.sentinels / 2 + 1);
    let (phase, reason, message) = if let Some(split) = &observed.split_brain {
        (Phase::Degraded, "SplitBrain", split.clone())
    } else if let Some(problem) = &observed.sentinels_unreachable {
        (Phase::Degraded, "SentinelsUnreachable", problem.clone())
    } else if observed.failing_over {
        (
            Phase::FailingOver,
            "FailingOver",
            "the sentinels are failing over".to_string(),
        )
    } else if all_ready && status.master.is_some() {
        (
            Phase::Ready,
            "AllReady",
            format!(
                "master {} with {} replicas and {} sentinels ready",
                master_pod(&status),
                status.ready_replicas,
                ready_sentinels
            ),
        )
    } else if status.phase == Phase::Creating && status.master.is_none() {
        (
            Phase::Creating,
            "Creating",
            format!(
                "{ready_pods}/{} redis pods and {ready_sentinels}/{} sentinels ready",
                spec.replicas + 1,
                spec.sentinels
            ),
        )
    } else if ready_pods == 0 || !quorum_ready {
        (Phase::Degraded, "Unavailable", format!("{ready_pods}/{} redis pods and {ready_sentinels}/{} sentinels ready: no failover possible", spec.replicas + 1, spec.sentinels))
    } else {
        (
            Phase::Degraded,
            "PodsNotReady",
            format!(
                "{ready_pods}/{} redis pods and {ready_sentinels}/{} sentinels ready",
                spec.replicas + 1,
                spec.sentinels
            ),
        )
    };
    status.phase = phase;
    let generation = rha.metadata.generation;
    let is_degraded = phase == Phase::Degraded;
    let degraded_reason = if is_degraded { reason } else { "AsExpected" };
    let degraded_message = if is_degraded {
        message.clone()
    } else {
        "no problem detected".to_string()
    };
    set_condition(
        &mut status.conditions,
        ready(phase == Phase::Ready, reason, message),
        now,
        generation,
    );
    set_condition(
        &mut status.conditions,
        degraded(is_degraded, degraded_reason, degraded_message),
        now,
        generation,
    );
    let warnings = findings.warnings.join("; ");
    let warn = ConditionUpdate {
        type_: "ConfigurationWarning",
        status: !findings.warnings.is_empty(),
        reason: if findings.warnings.is_empty() {
            "None"
        } else {
            "RiskyConfiguration"
        },
        message: warnings,
    };
    set_condition(&mut status.conditions, warn, now, generation);
    status
}

fn master_pod(status: &RedisHAStatus) -> String {
    status
        .master
        .as_ref()
        .map(|m| {
            if m.pod.is_empty() {
                m.address.clone()
            } else {
                m.pod.clone()
            }
        })
        .unwrap_or_default()
}

/// Applies the fields of the status this reconciler owns (the failover
/// history belongs to the watcher's field manager and is left alone).
async fn patch_status(ctx: &Context, rha: &RedisHA, status: &RedisHAStatus) -> Result<(), Error> {
    let api: Api<RedisHA> =
        Api::namespaced(ctx.client.clone(), &rha.namespace().unwrap_or_default());
    let mut owned = serde_json::json!({
        "phase": status.phase,
        "readyReplicas": status.ready_replicas,
        "readySentinels": status.ready_sentinels,
        "replicaSummary": status.replica_summary,
        "sentinelSummary": status.sentinel_summary,
        "conditions": status.conditions,
    });
    if let Some(generation) = status.observed_generation {
        owned["observedGeneration"] = generation.into();
    }
    if let Some(master) = &status.master {
        owned["master"] = serde_json::json!(master);
    }
    let body = serde_json::json!({
        "apiVersion": RedisHA::api_version(&()),
        "kind": RedisHA::kind(&()),
        "status": owned,
    });
    api.patch_status(
        &rha.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(kube_err(format!("patch status of RedisHA {}", key_of(rha))))?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
