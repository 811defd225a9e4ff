//! The `RedisHA` custom resource (`redisha.dev/v1alpha1`).
//!
//! The schema the apiserver enforces is derived from these types: ranges come
//! from `#[schemars(range(..))]`, defaults from `#[serde(default = ..)]`, and
//! the rules a JSON schema cannot express (odd sentinel count, quorum bounds)
//! are CEL `x-kubernetes-validations`. What the apiserver cannot check (for
//! example unknown redis.conf directives) is checked by
//! [`crate::validation`] and reported as a `Degraded` condition.

// clippy reads the repeated `type_ = ..` of the printcolumn(..) entries in
// #[kube(..)] as duplicated attributes; they are separate columns.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of the resource.
pub const GROUP: &str = "redisha.dev";
/// The label that marks the pod sentinels currently report as master; the
/// `<name>-master` Service selects on it.
pub const ROLE_LABEL: &str = "redisha.dev/role";
/// Maximum number of failover records kept in `status.failovers`.
pub const FAILOVER_HISTORY_LIMIT: usize = 20;
/// The image used when `spec.image` is absent: this project's node image.
pub const DEFAULT_IMAGE: &str = "redis-ha/node:0.1.0";

/// Desired state of a highly available Redis set: one master, `replicas`
/// replicas and `sentinels` sentinels that fail over between them.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "redisha.dev",
    version = "v1alpha1",
    kind = "RedisHA",
    plural = "redishas",
    shortname = "rha",
    namespaced,
    status = "RedisHAStatus",
    derive = "PartialEq",
    doc = "A Redis master with replicas and sentinels that fail over between them",
    printcolumn(name = "Master", type_ = "string", json_path = ".status.master.pod"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Replicas",
        type_ = "string",
        json_path = ".status.replicaSummary",
        description = "ready/desired redis pods besides the master"
    ),
    printcolumn(
        name = "Sentinels",
        type_ = "string",
        json_path = ".status.sentinelSummary",
        description = "ready/desired sentinels"
    ),
    printcolumn(
        name = "Failovers",
        type_ = "integer",
        json_path = ".status.failoverCount"
    ),
    printcolumn(
        name = "Last Failover",
        type_ = "date",
        json_path = ".status.lastFailoverTime"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("self.sentinels % 2 == 1").message("sentinels must be an odd number (3, 5, 7, ...)"))]
#[x_kube(validation = Rule::new("!has(self.quorum) || self.quorum <= self.sentinels").message("quorum must not exceed the number of sentinels"))]
#[x_kube(validation = Rule::new("!has(self.minReplicasToWrite) || self.minReplicasToWrite <= self.replicas").message("minReplicasToWrite must not exceed replicas"))]
#[serde(rename_all = "camelCase")]
pub struct RedisHASpec {
    /// Number of redis pods besides the master (the StatefulSet has replicas + 1 pods).
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 15))]
    pub replicas: i32,

    /// Number of sentinels; odd and at least 3 so a majority always exists.
    #[serde(default = "default_sentinels")]
    #[schemars(range(min = 3, max = 9))]
    pub sentinels: i32,

    /// Sentinels that must agree the master is down; defaults to a majority of `sentinels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 9))]
    pub quorum: Option<i32>,

    /// Container image for redis and sentinel pods (redis-server/redis-sentinel/redis-cli).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,

    /// Resources of the redis containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Resources of the sentinel containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel_resources: Option<ResourceRequirements>,

    /// A PersistentVolumeClaim per redis pod; absent means an emptyDir (data lives as long as the pod).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,

    /// Password handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSpec>,

    /// Sentinel tuning.
    #[serde(default)]
    pub sentinel: SentinelSettings,

    /// Extra redis.conf directives (name -> value), checked against the Redis 7.0 directive list.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub redis_config: BTreeMap<String, String>,

    /// `min-replicas-to-write`: the master refuses writes with fewer connected replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 15))]
    pub min_replicas_to_write: Option<i32>,

    /// `min-replicas-max-lag` in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub min_replicas_max_lag: Option<i32>,

    /// Affinity of redis and sentinel pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    /// Tolerations of redis and sentinel pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,

    /// Node selector of redis and sentinel pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,

    /// Prometheus metrics of the redis and sentinel pods.
    #[serde(default)]
    pub metrics: MetricsSpec,
}

fn default_replicas() -> i32 {
    2
}

fn default_sentinels() -> i32 {
    3
}

/// Persistent storage of each redis pod.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Requested size of each volume (a Kubernetes quantity such as `1Gi`).
    #[serde(default = "default_storage_size")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    pub size: String,
    /// StorageClass of the claims; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

fn default_storage_size() -> String {
    "1Gi".into()
}

/// Where the password comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    /// An existing Secret with key `password`; the operator generates `<name>-auth` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
}

/// Sentinel monitoring parameters (sentinel.conf directives of the same names).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SentinelSettings {
    /// `sentinel down-after-milliseconds`.
    #[serde(default = "default_down_after")]
    #[schemars(range(min = 100, max = 600000))]
    pub down_after_milliseconds: i64,
    /// `sentinel failover-timeout`.
    #[serde(default = "default_failover_timeout")]
    #[schemars(range(min = 1000, max = 3600000))]
    pub failover_timeout: i64,
    /// `sentinel parallel-syncs`.
    #[serde(default = "default_parallel_syncs")]
    #[schemars(range(min = 1, max = 15))]
    pub parallel_syncs: i32,
}

impl Default for SentinelSettings {
    fn default() -> Self {
        Self {
            down_after_milliseconds: default_down_after(),
            failover_timeout: default_failover_timeout(),
            parallel_syncs: default_parallel_syncs(),
        }
    }
}

fn default_down_after() -> i64 {
    5000
}

fn default_failover_timeout() -> i64 {
    60000
}

fn default_parallel_syncs() -> i32 {
    1
}

/// Metrics endpoints on the pods.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    /// Serve Prometheus metrics (`--metrics-port`, supported by the node image).
    #[serde(default)]
    pub enabled: bool,
    /// Port of the metrics endpoint.
    #[serde(default = "default_metrics_port")]
    #[schemars(range(min = 1024, max = 65535))]
    pub port: i32,
}

impl Default for MetricsSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            port: default_metrics_port(),
        }
    }
}

fn default_metrics_port() -> i32 {
    9121
}

/// Lifecycle phase shown in `kubectl get redisha`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum Phase {
    #[default]
    Creating,
    Ready,
    Degraded,
    FailingOver,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Phase::Creating => "Creating",
            Phase::Ready => "Ready",
            Phase::Degraded => "Degraded",
            Phase::FailingOver => "FailingOver",
        };
        f.write_str(text)
    }
}

/// The master as the sentinels report it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MasterRef {
    /// Pod name (`<name>-redis-<ordinal>`), empty when the address is not one of our pods.
    pub pod: String,
    /// `host:port` as the sentinels announce it (a stable DNS name).
    pub address: String,
}

/// One failover, from detection to the switch of master.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailoverRecord {
    /// When the old master was first seen down (`+sdown`/`+odown`), or when the failover started.
    pub detected_at: Time,
    /// When the sentinels switched the master (`+switch-master`).
    pub completed_at: Time,
    /// `completedAt - detectedAt` in milliseconds.
    pub duration_milliseconds: i64,
    /// Pod (or address) of the master before the failover.
    pub old_master: String,
    /// Pod (or address) of the master after the failover.
    pub new_master: String,
    /// Sentinel configuration epoch of the failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    /// What triggered it: `odown` (master unreachable), `manual` (SENTINEL FAILOVER) or `observed`
    /// (the master changed without the events being seen, e.g. while the operator was down).
    pub trigger: String,
}

/// Observed state.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisHAStatus {
    #[serde(default)]
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<MasterRef>,
    /// Ready redis pods besides the master.
    #[serde(default)]
    pub ready_replicas: i32,
    #[serde(default)]
    pub ready_sentinels: i32,
    /// `readyReplicas/spec.replicas`, for `kubectl get`.
    #[serde(default)]
    pub replica_summary: String,
    /// `readySentinels/spec.sentinels`, for `kubectl get`.
    #[serde(default)]
    pub sentinel_summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The last failovers, oldest first, at most 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failovers: Vec<FailoverRecord>,
    #[serde(default)]
    pub failover_count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failover_time: Option<Time>,
}

impl RedisHASpec {
    /// The quorum in force: the configured one, else a majority of the sentinels.
    pub fn effective_quorum(&self) -> i32 {
        self.quorum.unwrap_or(self.sentinels / 2 + 1)
    }

    pub fn image(&self) -> &str {
        self.image.as_deref().unwrap_or(DEFAULT_IMAGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn crd_names_and_scope() {
        let crd = RedisHA::crd();
        assert_eq!(crd.spec.group, "redisha.dev");
        assert_eq!(crd.spec.names.plural, "redishas");
        assert_eq!(crd.spec.names.kind, "RedisHA");
        assert_eq!(crd.spec.names.short_names, Some(vec!["rha".to_string()]));
        assert_eq!(crd.spec.scope, "Namespaced");
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some());
        let columns: Vec<_> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            columns,
            [
                "Master",
                "Phase",
                "Replicas",
                "Sentinels",
                "Failovers",
                "Last Failover",
                "Age"
            ]
        );
    }

    #[test]
    fn schema_carries_defaults_ranges_and_cel_rules() {
        let crd = serde_json::to_value(RedisHA::crd()).expect("crd serializes");
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let number = |field: &str, key: &str| spec["properties"][field][key].as_f64();
        assert_eq!(number("sentinels", "default"), Some(3.0));
        assert_eq!(number("sentinels", "minimum"), Some(3.0));
        assert_eq!(number("replicas", "minimum"), Some(0.0));
        assert_eq!(number("quorum", "minimum"), Some(2.0));
        let rules: Vec<&str> = spec["x-kubernetes-validations"]
            .as_array()
            .expect("spec has CEL rules")
            .iter()
            .filter_map(|r| r["rule"].as_str())
            .collect();
        assert!(rules.contains(&"self.sentinels % 2 == 1"), "{rules:?}");
        assert!(rules
            .iter()
            .any(|r| r.contains("self.quorum <= self.sentinels")));
    }

    #[test]
    fn minimal_spec_gets_defaults() {
        let spec: RedisHASpec = serde_json::from_value(serde_json::json!({})).expect("defaults");
        assert_eq!(spec.replicas, 2);
        assert_eq!(spec.sentinels, 3);
        assert_eq!(spec.effective_quorum(), 2);
        assert_eq!(spec.sentinel.down_after_milliseconds, 5000);
        assert_eq!(spec.image(), DEFAULT_IMAGE);
        let five = RedisHASpec {
            sentinels: 5,
            ..spec
        };
        assert_eq!(five.effective_quorum(), 3);
    }
}
