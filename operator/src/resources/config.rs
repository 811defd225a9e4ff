//! The ConfigMap with redis.conf, the sentinel.conf base and the scripts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::ConfigMap;

use super::{child_meta, Names, REDIS_PORT, SENTINEL_PORT};
use crate::crd::{RedisHA, RedisHASpec};

pub const START_REDIS: &str = include_str!("scripts/start-redis.sh");
pub const START_SENTINEL: &str = include_str!("scripts/start-sentinel.sh");
pub const READINESS: &str = include_str!("scripts/readiness.sh");

/// ConfigMap key with `spec.replicas`, read by the scripts at each use; it
/// is left out of the config hash so scaling restarts no pod.
pub const REPLICAS_KEY: &str = "replicas";

/// Where the data volume is mounted in redis pods.
pub const DATA_DIR: &str = "/data";
/// Where the ConfigMap is mounted.
pub const CONFIG_DIR: &str = "/etc/redis-ha";

/// redis.conf shared by every redis pod. Per-pod settings (announce address,
/// replicaof, password) are passed on the command line by start-redis.sh.
pub fn redis_conf(spec: &RedisHASpec) -> String {
    let mut conf = String::new();
    let mut line = |text: String| {
        conf.push_str(&text);
        conf.push('\n');
    };
    line(format!("port {REDIS_PORT}"));
    line("bind 0.0.0.0".into());
    line("protected-mode no".into());
    line(format!("dir {DATA_DIR}"));
    line("replica-read-only yes".into());
    // With a volume, AOF keeps acknowledged writes across a pod restart.
    if spec.storage.is_some() {
        line("appendonly yes".into());
    }
    if let Some(min) = spec.min_replicas_to_write {
        line(format!("min-replicas-to-write {min}"));
    }
    if let Some(lag) = spec.min_replicas_max_lag {
        line(format!("min-replicas-max-lag {lag}"));
    }
    for (name, value) in &spec.redis_config {
        line(format!("{name} {value}"));
    }
    conf
}

/// The fixed part of sentinel.conf; start-sentinel.sh appends the `monitor`
/// line for the master the running set knows.
pub fn sentinel_conf() -> String {
    let mut conf = String::new();
    // Infallible: writing to a String.
    let _ = writeln!(conf, "port {SENTINEL_PORT}");
    conf.push_str("bind 0.0.0.0\n");
    conf.push_str("protected-mode no\n");
    // Must come before `sentinel monitor <hostname>`.
    conf.push_str("sentinel resolve-hostnames yes\n");
    conf.push_str("sentinel announce-hostnames yes\n");
    conf
}

/// The ConfigMap `<name>-config`.
pub fn config_map(rha: &RedisHA) -> ConfigMap {
    let names = Names::of(rha);
    let data = BTreeMap::from([
        ("redis.conf".to_string(), redis_conf(&rha.spec)),
        ("sentinel.conf".to_string(), sentinel_conf()),
        ("start-redis.sh".to_string(), START_REDIS.to_string()),
        ("start-sentinel.sh".to_string(), START_SENTINEL.to_string()),
        ("readiness.sh".to_string(), READINESS.to_string()),
        (REPLICAS_KEY.to_string(), rha.spec.replicas.to_string()),
    ]);
    ConfigMap {
        metadata: child_meta(rha, &names.config, "config"),
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// A stable hash (FNV-1a) of the ConfigMap contents; put on the pod templates
/// so a config change rolls the pods.
pub fn config_hash(config_map: &ConfigMap) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (key, value) in config_map
        .data
        .iter()
        .flatten()
        .filter(|(key, _)| *key != REPLICAS_KEY)
    {
        for byte in key.bytes().chain([0]).chain(value.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}
