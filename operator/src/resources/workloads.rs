//! The redis and sentinel StatefulSets.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, ExecAction, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodAffinityTerm, PodAntiAffinity, PodSpec, PodTemplateSpec, Probe,
    SecretKeySelector, Volume, VolumeMount, VolumeResourceRequirements, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::config::{config_hash, config_map, CONFIG_DIR, DATA_DIR};
use super::{child_meta, selector_labels, Names, PASSWORD_KEY, REDIS_PORT, SENTINEL_PORT};
use crate::crd::RedisHA;

/// Annotation with the hash of the ConfigMap, so config changes roll pods.
pub const CONFIG_HASH_ANNOTATION: &str = "redisha.dev/config-hash";
const SENTINEL_DIR: &str = "/data/sentinel";

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn env_from_field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_string(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn env_from_secret(name: &str, secret: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: PASSWORD_KEY.to_string(),
                ..SecretKeySelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// Environment shared by the redis and sentinel start-up scripts.
fn common_env(names: &Names) -> Vec<EnvVar> {
    vec![
        env_from_field("POD_NAME", "metadata.name"),
        env_from_field("POD_NAMESPACE", "metadata.namespace"),
        env_from_secret("REDIS_PASSWORD", &names.secret),
        env("CONFIG_DIR", CONFIG_DIR),
        env("MASTER_NAME", names.master_name.clone()),
        env("HEADLESS_SERVICE", names.redis_headless.clone()),
        env("SENTINEL_SERVICE", names.sentinel.clone()),
        env("REDIS_SET_NAME", names.redis.clone()),
        env("REDIS_PORT", REDIS_PORT.to_string()),
        env("SENTINEL_PORT", SENTINEL_PORT.to_string()),
    ]
}

fn exec_probe(command: &[&str], period: i32, failures: i32, initial_delay: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(command.iter().map(|s| s.to_string()).collect()),
        }),
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn config_volume(names: &Names) -> Volume {
    Volume {
        name: "config".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: names.config.clone(),
            default_mode: Some(0o755),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..VolumeMount::default()
    }
}

/// The user's affinity, else a preference to spread pods of one component
/// over nodes (losing one node should not take the master and a replica).
fn affinity(rha: &RedisHA, component: &str) -> Affinity {
    if let Some(affinity) = &rha.spec.affinity {
        return affinity.clone();
    }
    let term = PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_labels: Some(selector_labels(rha, component)),
            ..LabelSelector::default()
        }),
        topology_key: "kubernetes.io/hostname".into(),
        ..PodAffinityTerm::default()
    };
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: term,
                },
            ]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}

fn pod_spec(rha: &RedisHA, component: &str, container: Container, volumes: Vec<Volume>) -> PodSpec {
    PodSpec {
        containers: vec![container],
        volumes: Some(volumes),
        affinity: Some(affinity(rha, component)),
        tolerations: (!rha.spec.tolerations.is_empty()).then(|| rha.spec.tolerations.clone()),
        node_selector: (!rha.spec.node_selector.is_empty()).then(|| rha.spec.node_selector.clone()),
        termination_grace_period_seconds: Some(30),
        ..PodSpec::default()
    }
}

fn template(rha: &RedisHA, component: &str, spec: PodSpec) -> PodTemplateSpec {
    let mut annotations = BTreeMap::from([(
        CONFIG_HASH_ANNOTATION.to_string(),
        config_hash(&config_map(rha)),
    )]);
    if rha.spec.metrics.enabled {
        annotations.insert("prometheus.io/scrape".into(), "true".into());
        annotations.insert(
            "prometheus.io/port".into(),
            rha.spec.metrics.port.to_string(),
        );
    }
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(selector_labels(rha, component)),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(spec),
    }
}

fn ports(rha: &RedisHA, name: &str, number: i32) -> Vec<ContainerPort> {
    let mut ports = vec![ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }];
    if rha.spec.metrics.enabled {
        ports.push(ContainerPort {
            name: Some("metrics".into()),
            container_port: rha.spec.metrics.port,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        });
    }
    ports
}

/// `--metrics-port` is understood by this project's node image only.
fn extra_args(rha: &RedisHA) -> String {
    if rha.spec.metrics.enabled {
        format!("--metrics-port {}", rha.spec.metrics.port)
    } else {
        String::new()
    }
}

/// The StatefulSet `<name>-redis`: `replicas + 1` pods that choose their
/// role in start-redis.sh.
pub fn redis_statefulset(rha: &RedisHA) -> StatefulSet {
    let names = Names::of(rha);
    let mut vars = common_env(&names);
    vars.push(env_from_secret("REDISCLI_AUTH", &names.secret));
    vars.push(env("DATA_DIR", DATA_DIR));
    vars.push(env("EXTRA_ARGS", extra_args(rha)));
    let container = Container {
        name: "redis".into(),
        image: Some(rha.spec.image().to_string()),
        command: Some(vec!["sh".into(), format!("{CONFIG_DIR}/start-redis.sh")]),
        env: Some(vars),
        ports: Some(ports(rha, "redis", REDIS_PORT)),
        readiness_probe: Some(exec_probe(
            &["sh", &format!("{CONFIG_DIR}/readiness.sh")],
            5,
            3,
            5,
        )),
        // Up to 15 minutes to start: a pod may legitimately wait for a
        // failover before redis starts, or load a large dataset; liveness
        // only counts once redis answered.
        startup_probe: Some(exec_probe(&["redis-cli", "-p", "6379", "ping"], 5, 180, 5)),
        liveness_probe: Some(exec_probe(&["redis-cli", "-p", "6379", "ping"], 10, 6, 60)),
        resources: rha.spec.resources.clone(),
        volume_mounts: Some(vec![mount("config", CONFIG_DIR), mount("data", DATA_DIR)]),
        ..Container::default()
    };
    let mut volumes = vec![config_volume(&names)];
    let claims = match &rha.spec.storage {
        None => {
            volumes.push(empty_dir("data"));
            None
        }
        Some(storage) => Some(vec![PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some("data".into()),
                ..ObjectMeta::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                storage_class_name: storage.storage_class_name.clone(),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_string(),
                        Quantity(storage.size.clone()),
                    )])),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        }]),
    };
    StatefulSet {
        metadata: child_meta(rha, &names.redis, "redis"),
        spec: Some(StatefulSetSpec {
            replicas: Some(rha.spec.replicas + 1),
            service_name: Some(names.redis_headless.clone()),
            // Parallel: a pod waiting for the sentinels must not block the
            // others from starting (e.g. after a whole-set restart).
            pod_management_policy: Some("Parallel".into()),
            // The operator replaces outdated pods itself (crate::rolling):
            // replicas first, then a switchover, then the old master.
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("OnDelete".into()),
                ..StatefulSetUpdateStrategy::default()
            }),
            selector: LabelSelector {
                match_labels: Some(selector_labels(rha, "redis")),
                ..LabelSelector::default()
            },
            template: template(rha, "redis", pod_spec(rha, "redis", container, volumes)),
            volume_claim_templates: claims,
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}

/// The StatefulSet `<name>-sentinel`.
pub fn sentinel_statefulset(rha: &RedisHA) -> StatefulSet {
    let names = Names::of(rha);
    let settings = &rha.spec.sentinel;
    let mut vars = common_env(&names);
    vars.extend([
        env("SENTINEL_HEADLESS_SERVICE", names.sentinel_headless.clone()),
        env("SENTINEL_DIR", SENTINEL_DIR),
        env("QUORUM", rha.spec.effective_quorum().to_string()),
        env(
            "DOWN_AFTER_MILLISECONDS",
            settings.down_after_milliseconds.to_string(),
        ),
        env("FAILOVER_TIMEOUT", settings.failover_timeout.to_string()),
        env("PARALLEL_SYNCS", settings.parallel_syncs.to_string()),
    ]);
    let container = Container {
        name: "sentinel".into(),
        image: Some(rha.spec.image().to_string()),
        command: Some(vec!["sh".into(), format!("{CONFIG_DIR}/start-sentinel.sh")]),
        env: Some(vars),
        ports: Some(ports(rha, "sentinel", SENTINEL_PORT)),
        readiness_probe: Some(exec_probe(&["redis-cli", "-p", "26379", "ping"], 5, 3, 5)),
        // Up to 10 minutes to start: start-sentinel.sh waits until the redis
        // pods answer (a new set's pods may still be scheduled or pulled).
        startup_probe: Some(exec_probe(&["redis-cli", "-p", "26379", "ping"], 5, 120, 5)),
        liveness_probe: Some(exec_probe(&["redis-cli", "-p", "26379", "ping"], 10, 6, 30)),
        resources: rha.spec.sentinel_resources.clone(),
        volume_mounts: Some(vec![mount("config", CONFIG_DIR), mount("data", "/data")]),
        ..Container::default()
    };
    let volumes = vec![config_volume(&names), empty_dir("data")];
    StatefulSet {
        metadata: child_meta(rha, &names.sentinel, "sentinel"),
        spec: Some(StatefulSetSpec {
            replicas: Some(rha.spec.sentinels),
            service_name: Some(names.sentinel_headless.clone()),
            pod_management_policy: Some("Parallel".into()),
            selector: LabelSelector {
                match_labels: Some(selector_labels(rha, "sentinel")),
                ..LabelSelector::default()
            },
            template: template(
                rha,
                "sentinel",
                pod_spec(rha, "sentinel", container, volumes),
            ),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}
