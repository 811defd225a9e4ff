//! Services, PodDisruptionBudgets and the auth Secret.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Secret, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{child_meta, selector_labels, Names, PASSWORD_KEY, REDIS_PORT, SENTINEL_PORT};
use crate::crd::{RedisHA, ROLE_LABEL};

fn port(name: &str, number: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_string()),
        port: number,
        target_port: Some(IntOrString::String(name.to_string())),
        protocol: Some("TCP".into()),
        ..ServicePort::default()
    }
}

fn service(
    rha: &RedisHA,
    name: &str,
    component: &str,
    selector: BTreeMap<String, String>,
    ports: Vec<ServicePort>,
    headless: bool,
) -> Service {
    Service {
        metadata: child_meta(rha, name, component),
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(ports),
            cluster_ip: headless.then(|| "None".to_string()),
            // Pod DNS names must resolve before a pod is ready: a replica
            // syncing from the master, and sentinels probing a starting pod,
            // address each other by name.
            publish_not_ready_addresses: headless.then_some(true),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// Headless Service giving every redis pod its stable DNS name.
pub fn headless_service(rha: &RedisHA) -> Service {
    let names = Names::of(rha);
    let selector = selector_labels(rha, "redis");
    service(
        rha,
        &names.redis_headless,
        "redis",
        selector,
        vec![port("redis", REDIS_PORT)],
        true,
    )
}

/// `<name>-master`: follows the pod labelled `redisha.dev/role=master`.
pub fn master_service(rha: &RedisHA) -> Service {
    let names = Names::of(rha);
    let mut selector = selector_labels(rha, "redis");
    selector.insert(ROLE_LABEL.into(), "master".into());
    service(
        rha,
        &names.master_service,
        "redis",
        selector,
        vec![port("redis", REDIS_PORT)],
        false,
    )
}

/// `<name>-replicas`: the pods labelled `redisha.dev/role=replica`.
pub fn replicas_service(rha: &RedisHA) -> Service {
    let names = Names::of(rha);
    let mut selector = selector_labels(rha, "redis");
    selector.insert(ROLE_LABEL.into(), "replica".into());
    service(
        rha,
        &names.replicas_service,
        "redis",
        selector,
        vec![port("redis", REDIS_PORT)],
        false,
    )
}

/// `<name>-sentinel`: any ready sentinel, for clients and start-up scripts.
pub fn sentinel_service(rha: &RedisHA) -> Service {
    let names = Names::of(rha);
    let selector = selector_labels(rha, "sentinel");
    let ports = vec![port("sentinel", SENTINEL_PORT)];
    service(rha, &names.sentinel, "sentinel", selector, ports, false)
}

/// Headless Service giving every sentinel pod its stable DNS name.
pub fn sentinel_headless_service(rha: &RedisHA) -> Service {
    let names = Names::of(rha);
    let selector = selector_labels(rha, "sentinel");
    let ports = vec![port("sentinel", SENTINEL_PORT)];
    service(
        rha,
        &names.sentinel_headless,
        "sentinel",
        selector,
        ports,
        true,
    )
}

/// Sentinels that must stay up: enough for a quorum to agree the master is
/// down AND for a majority to authorize the failover.
pub fn sentinel_min_available(rha: &RedisHA) -> i32 {
    let majority = rha.spec.sentinels / 2 + 1;
    rha.spec.effective_quorum().max(majority)
}

fn pdb(
    rha: &RedisHA,
    name: String,
    component: &str,
    spec: PodDisruptionBudgetSpec,
) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: child_meta(rha, &name, component),
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(rha, component)),
                ..LabelSelector::default()
            }),
            ..spec
        }),
        ..PodDisruptionBudget::default()
    }
}

/// At most one redis pod voluntarily down at a time: a drain never takes the
/// master and its only in-sync replica together.
pub fn redis_pdb(rha: &RedisHA) -> PodDisruptionBudget {
    let spec = PodDisruptionBudgetSpec {
        max_unavailable: Some(IntOrString::Int(1)),
        ..PodDisruptionBudgetSpec::default()
    };
    pdb(rha, Names::of(rha).redis, "redis", spec)
}

/// Sentinels: `minAvailable = max(quorum, majority)`.
pub fn sentinel_pdb(rha: &RedisHA) -> PodDisruptionBudget {
    let spec = PodDisruptionBudgetSpec {
        min_available: Some(IntOrString::Int(sentinel_min_available(rha))),
        ..PodDisruptionBudgetSpec::default()
    };
    pdb(rha, Names::of(rha).sentinel, "sentinel", spec)
}

/// The generated auth Secret (only when `spec.auth.secretName` is absent).
pub fn auth_secret(rha: &RedisHA, password: &str) -> Secret {
    let names = Names::of(rha);
    Secret {
        metadata: child_meta(rha, &names.secret, "auth"),
        type_: Some("Opaque".into()),
        string_data: Some(BTreeMap::from([(
            PASSWORD_KEY.to_string(),
            password.to_string(),
        )])),
        ..Secret::default()
    }
}
