//! Pure functions from a `RedisHA` to the Kubernetes objects that run it.
//! Nothing here talks to the apiserver, so every object is unit-tested.
//!
//! Naming (for a RedisHA called `cache`):
//! - StatefulSet `cache-redis` (pods `cache-redis-N`) behind headless Service
//!   `cache-redis-headless`; a pod's address is
//!   `cache-redis-N.cache-redis-headless.<ns>.svc`.
//! - StatefulSet `cache-sentinel` behind headless `cache-sentinel-headless`,
//!   clients reach sentinels through `cache-sentinel`.
//! - Services `cache-master` / `cache-replicas` select on the
//!   `redisha.dev/role` label the operator moves when the master changes.

mod config;
mod network;
mod workloads;

pub use config::{config_hash, config_map, redis_conf, sentinel_conf};
pub use network::{
    auth_secret, headless_service, master_service, redis_pdb, replicas_service,
    sentinel_headless_service, sentinel_pdb, sentinel_service,
};
pub use workloads::{redis_statefulset, sentinel_statefulset};

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};

use crate::crd::RedisHA;

pub const REDIS_PORT: i32 = 6379;
pub const SENTINEL_PORT: i32 = 26379;
/// Key of the password in the auth Secret.
pub const PASSWORD_KEY: &str = "password";
pub const MANAGED_BY: &str = "redis-ha-operator";

/// The names of everything one RedisHA owns.
#[derive(Clone, Debug, PartialEq)]
pub struct Names {
    pub instance: String,
    pub namespace: String,
    pub redis: String,
    pub redis_headless: String,
    pub sentinel: String,
    pub sentinel_headless: String,
    pub master_service: String,
    pub replicas_service: String,
    pub config: String,
    pub secret: String,
    /// The name sentinels monitor the master under.
    pub master_name: String,
}

impl Names {
    pub fn of(rha: &RedisHA) -> Self {
        let name = rha.name_any();
        let secret = rha
            .spec
            .auth
            .as_ref()
            .and_then(|auth| auth.secret_name.clone())
            .unwrap_or_else(|| format!("{name}-auth"));
        Names {
            namespace: rha.namespace().unwrap_or_else(|| "default".into()),
            redis: format!("{name}-redis"),
            redis_headless: format!("{name}-redis-headless"),
            sentinel: format!("{name}-sentinel"),
            sentinel_headless: format!("{name}-sentinel-headless"),
            master_service: format!("{name}-master"),
            replicas_service: format!("{name}-replicas"),
            config: format!("{name}-config"),
            secret,
            master_name: name.clone(),
            instance: name,
        }
    }

    /// Stable DNS name of redis pod `ordinal`.
    pub fn redis_host(&self, ordinal: i32) -> String {
        format!(
            "{}-{ordinal}.{}.{}.svc",
            self.redis, self.redis_headless, self.namespace
        )
    }

    /// Stable DNS name of sentinel pod `ordinal`.
    pub fn sentinel_host(&self, ordinal: i32) -> String {
        format!(
            "{}-{ordinal}.{}.{}.svc",
            self.sentinel, self.sentinel_headless, self.namespace
        )
    }

    /// The pod name behind a redis address the sentinels report, if it is one of ours.
    pub fn pod_of_host(&self, host: &str) -> Option<String> {
        let pod = host.split('.').next()?;
        let ordinal = pod.strip_prefix(&self.redis)?.strip_prefix('-')?;
        ordinal.parse::<u32>().ok()?;
        let rest = &host[pod.len()..];
        let ours = rest.is_empty() || rest.starts_with(&format!(".{}", self.redis_headless));
        ours.then(|| pod.to_string())
    }
}

/// Labels that select one component (`redis` or `sentinel`) of one RedisHA.
pub fn selector_labels(rha: &RedisHA, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "redis-ha".to_string()),
        ("app.kubernetes.io/instance".to_string(), rha.name_any()),
        (
            "app.kubernetes.io/component".to_string(),
            component.to_string(),
        ),
    ])
}

/// Labels on every object: the selector labels plus `managed-by`.
pub fn labels(rha: &RedisHA, component: &str) -> BTreeMap<String, String> {
    let mut labels = selector_labels(rha, component);
    labels.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
    labels
}

/// The owner reference that garbage-collects a child with its RedisHA.
pub fn owner_reference(rha: &RedisHA) -> OwnerReference {
    // controller_owner_ref is None only for an object without uid, which the
    // apiserver never hands out; fall back to a reference without uid so the
    // pure builders stay total.
    rha.controller_owner_ref(&())
        .unwrap_or_else(|| OwnerReference {
            api_version: RedisHA::api_version(&()).into_owned(),
            kind: RedisHA::kind(&()).into_owned(),
            name: rha.name_any(),
            uid: String::new(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        })
}

/// Metadata of a child object.
pub fn child_meta(rha: &RedisHA, name: &str, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(Names::of(rha).namespace),
        labels: Some(labels(rha, component)),
        owner_references: Some(vec![owner_reference(rha)]),
        ..ObjectMeta::default()
    }
}

#[cfg(test)]
pub(crate) mod tests;
