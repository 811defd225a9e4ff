//! Checks of a `RedisHA` spec that the apiserver's schema cannot make (or
//! that an old CRD without the CEL rules let through). Errors stop the
//! reconcile and become a `Degraded` condition; warnings are reported but the
//! set is still built.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use crate::crd::RedisHASpec;

/// Directives the operator sets itself; a user value would break the set.
const MANAGED_DIRECTIVES: &[&str] = &[
    "port",
    "bind",
    "dir",
    "daemonize",
    "supervised",
    "pidfile",
    "logfile",
    "replicaof",
    "slaveof",
    "requirepass",
    "masterauth",
    "masteruser",
    "replica-announce-ip",
    "slave-announce-ip",
    "replica-announce-port",
    "slave-announce-port",
    "min-replicas-to-write",
    "min-slaves-to-write",
    "min-replicas-max-lag",
    "min-slaves-max-lag",
    "protected-mode",
    "include",
    "rename-command",
    "loadmodule",
];

/// The result of checking a spec.
#[derive(Debug, Default, PartialEq)]
pub struct Findings {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl Findings {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Every Redis 7.0 redis.conf directive name (and alias).
pub fn known_directives() -> &'static BTreeSet<&'static str> {
    static NAMES: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        include_str!("redis_directives.txt")
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    })
}

/// Checks a spec; see the module documentation.
pub fn check_spec(spec: &RedisHASpec) -> Findings {
    let mut findings = Findings::default();
    check_topology(spec, &mut findings);
    check_redis_config(spec, &mut findings);
    check_persistence(spec, &mut findings);
    findings
}

fn check_topology(spec: &RedisHASpec, findings: &mut Findings) {
    let errors = &mut findings.errors;
    if spec.replicas < 0 {
        errors.push(format!("spec.replicas must be >= 0, got {}", spec.replicas));
    }
    if spec.sentinels < 3 || spec.sentinels % 2 == 0 {
        errors.push(format!(
            "spec.sentinels must be an odd number >= 3, got {}",
            spec.sentinels
        ));
    }
    if let Some(quorum) = spec.quorum {
        if quorum < 2 {
            errors.push(format!(
                "spec.quorum must be >= 2 (a quorum of 1 lets one partitioned sentinel start a failover), got {quorum}"
            ));
        }
        if quorum > spec.sentinels {
            errors.push(format!(
                "spec.quorum ({quorum}) must not exceed spec.sentinels ({}): no failover could ever be agreed",
                spec.sentinels
            ));
        }
    }
    if let Some(min) = spec.min_replicas_to_write {
        if min > spec.replicas {
            errors.push(format!(
                "spec.minReplicasToWrite ({min}) exceeds spec.replicas ({}): the master would refuse every write",
                spec.replicas
            ));
        }
    }
}

fn check_redis_config(spec: &RedisHASpec, findings: &mut Findings) {
    let known = known_directives();
    for (name, value) in &spec.redis_config {
        let lower = name.to_ascii_lowercase();
        if !known.contains(lower.as_str()) {
            findings.errors.push(format!(
                "spec.redisConfig: unknown directive '{name}' (not a Redis 7.0 redis.conf directive)"
            ));
        } else if MANAGED_DIRECTIVES.contains(&lower.as_str()) {
            findings.errors.push(format!(
                "spec.redisConfig: directive '{name}' is managed by the operator and cannot be set"
            ));
        }
        if value.contains(['\n', '\r']) {
            findings.errors.push(format!(
                "spec.redisConfig: the value of '{name}' must be a single line"
            ));
        }
    }
}

/// Whether this spec keeps no data across a pod restart.
pub fn persistence_disabled(spec: &RedisHASpec) -> bool {
    let get = |key: &str| {
        spec.redis_config
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value.trim().to_string())
    };
    let no_snapshots = matches!(get("save").as_deref(), Some("") | Some("\"\"") | Some("''"));
    let no_aof = !matches!(get("appendonly").as_deref(), Some("yes"));
    no_snapshots && no_aof
}

fn check_persistence(spec: &RedisHASpec, findings: &mut Findings) {
    if persistence_disabled(spec) {
        findings.warnings.push(
            "persistence is off (save \"\" and appendonly no): a master pod that restarts faster than \
             sentinel down-after-milliseconds comes back empty; the start-up script holds such a pod \
             back until the sentinels fail over, but with spec.replicas = 0 its data is lost"
                .to_string(),
        );
    }
    if spec.storage.is_none() {
        findings.warnings.push(
            "spec.storage is not set: data lives in an emptyDir and is lost when a pod is deleted; \
             the set relies on replicas for durability"
                .to_string(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> RedisHASpec {
        serde_json::from_value(json).expect("valid spec json")
    }

    #[test]
    fn defaults_are_valid() {
        let findings = check_spec(&spec(serde_json::json!({"storage": {"size": "1Gi"}})));
        assert_eq!(findings, Findings::default());
    }

    #[test]
    fn quorum_one_and_quorum_above_sentinels_are_rejected() {
        let one = check_spec(&spec(serde_json::json!({"quorum": 1})));
        assert!(
            one.errors[0].starts_with("spec.quorum must be >= 2"),
            "{one:?}"
        );
        let big = check_spec(&spec(serde_json::json!({"quorum": 5, "sentinels": 3})));
        assert_eq!(
            big.errors,
            ["spec.quorum (5) must not exceed spec.sentinels (3): no failover could ever be agreed"]
        );
    }

    #[test]
    fn even_or_small_sentinel_counts_and_negative_replicas_are_rejected() {
        let even = check_spec(&spec(serde_json::json!({"sentinels": 4})));
        assert_eq!(
            even.errors,
            ["spec.sentinels must be an odd number >= 3, got 4"]
        );
        let one = check_spec(&spec(serde_json::json!({"sentinels": 1})));
        assert_eq!(one.errors.len(), 1);
        let negative = check_spec(&spec(serde_json::json!({"replicas": -1})));
        assert_eq!(negative.errors, ["spec.replicas must be >= 0, got -1"]);
    }

    #[test]
    fn redis_config_directives_are_checked() {
        let findings = check_spec(&spec(serde_json::json!({"redisConfig": {
            "maxmemory": "100mb",
            "maxmemory-policy": "allkeys-lru",
            "no-such-thing": "1",
            "port": "7000",
            "hz": "10\nreplicaof evil 6379",
        }})));
        assert_eq!(
            findings.errors,
            [
                "spec.redisConfig: the value of 'hz' must be a single line",
                "spec.redisConfig: unknown directive 'no-such-thing' (not a Redis 7.0 redis.conf directive)",
                "spec.redisConfig: directive 'port' is managed by the operator and cannot be set",
            ]
        );
    }

    #[test]
    fn persistence_off_is_warned_about() {
        let findings = check_spec(&spec(serde_json::json!({"redisConfig": {"save": "\"\""}})));
        assert!(findings.is_valid());
        assert!(findings.warnings[0].starts_with("persistence is off"));
        let aof = spec(serde_json::json!({"redisConfig": {"save": "", "appendonly": "yes"}}));
        assert!(!persistence_disabled(&aof));
    }

    /// The directive list is extracted from the node crate's table; this
    /// fails when the node crate gains or renames one.
    #[test]
    fn directive_list_matches_the_node_table() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../node/src/config/directives.rs"
        );
        let source = std::fs::read_to_string(path).expect("node/src/config/directives.rs readable");
        let table = &source[source
            .find("pub static DIRECTIVES")
            .expect("DIRECTIVES table")..];
        let mut from_node = BTreeSet::new();
        for marker in ["d!(", "alias "] {
            for (at, _) in table.match_indices(marker) {
                let rest = table[at + marker.len()..].trim_start();
                if let Some(quoted) = rest.strip_prefix('"') {
                    if let Some(end) = quoted.find('"') {
                        from_node.insert(quoted[..end].to_string());
                    }
                }
            }
        }
        let ours: BTreeSet<String> = known_directives().iter().map(|s| s.to_string()).collect();
        assert_eq!(ours, from_node);
    }
}
