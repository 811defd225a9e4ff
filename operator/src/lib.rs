//! redis-ha-operator: reconciles `RedisHA` resources (`redisha.dev/v1alpha1`)
//! into redis and sentinel StatefulSets, and records the failovers the
//! sentinels perform.

pub mod controller;
pub mod crd;
pub mod failover;
pub mod history;
pub mod http;
pub mod metrics;
pub mod observer;
pub mod resources;
pub mod role;
pub mod rolling;
pub mod validation;

/// The CRD as YAML, exactly as `crdgen` prints it and `deploy/crd.yaml` holds it.
pub fn crd_yaml() -> Result<String, serde_saphyr::SerializeError> {
    use kube::CustomResourceExt;
    serde_saphyr::to_string(&crd::RedisHA::crd())
}
