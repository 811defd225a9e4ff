//! Snapshot-style assertions on the important fields of every generated
//! object, and kubernetes-validate --strict over all of them.

use super::*;
use crate::crd::{RedisHA, RedisHASpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// A RedisHA as the apiserver would hand it out (namespace and uid set).
pub(crate) fn sample(spec: serde_json::Value) -> RedisHA {
    let spec: RedisHASpec = serde_json::from_value(spec).expect("valid spec");
    let mut rha = RedisHA::new("cache", spec);
    rha.metadata.namespace = Some("shop".into());
    rha.metadata.uid = Some("0b5e8e2c-1111-2222-3333-444455556666".into());
    rha.metadata.generation = Some(3);
    rha
}

/// Every object the operator generates for `rha`, as JSON.
pub(crate) fn all_objects(rha: &RedisHA) -> Vec<serde_json::Value> {
    let to = |v: Result<serde_json::Value, serde_json::Error>| v.expect("object serializes");
    vec![
        to(serde_json::to_value(config_map(rha))),
        to(serde_json::to_value(auth_secret(rha, "s3cret"))),
        to(serde_json::to_value(headless_service(rha))),
        to(serde_json::to_value(sentinel_headless_service(rha))),
        to(serde_json::to_value(master_service(rha))),
        to(serde_json::to_value(replicas_service(rha))),
        to(serde_json::to_value(sentinel_service(rha))),
        to(serde_json::to_value(redis_pdb(rha))),
        to(serde_json::to_value(sentinel_pdb(rha))),
        to(serde_json::to_value(redis_statefulset(rha))),
        to(serde_json::to_value(sentinel_statefulset(rha))),
    ]
}

fn env_value(container: &serde_json::Value, name: &str) -> serde_json::Value {
    container["env"]
        .as_array()
        .and_then(|env| env.iter().find(|e| e["name"] == name))
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn names_are_stable_dns_names() {
    let names = Names::of(&sample(serde_json::json!({})));
    assert_eq!(
        names.redis_host(0),
        "cache-redis-0.cache-redis-headless.shop.svc"
    );
    assert_eq!(
        names.sentinel_host(2),
        "cache-sentinel-2.cache-sentinel-headless.shop.svc"
    );
    assert_eq!(names.secret, "cache-auth");
    assert_eq!(
        names.pod_of_host("cache-redis-1.cache-redis-headless.shop.svc"),
        Some("cache-redis-1".into())
    );
    assert_eq!(
        names.pod_of_host("cache-redis-1"),
        Some("cache-redis-1".into())
    );
    assert_eq!(names.pod_of_host("10.1.2.3"), None);
    assert_eq!(
        names.pod_of_host("cache-redis-x.cache-redis-headless.shop.svc"),
        None
    );
    assert_eq!(
        names.pod_of_host("other-redis-0.other-redis-headless.shop.svc"),
        None
    );
}

#[test]
fn every_object_is_owned_labelled_and_namespaced() {
    let rha = sample(serde_json::json!({}));
    for object in all_objects(&rha) {
        let meta = &object["metadata"];
        assert_eq!(meta["namespace"], "shop", "{object}");
        let owner = &meta["ownerReferences"][0];
        assert_eq!(owner["kind"], "RedisHA");
        assert_eq!(owner["apiVersion"], "redisha.dev/v1alpha1");
        assert_eq!(owner["name"], "cache");
        assert_eq!(owner["uid"], "0b5e8e2c-1111-2222-3333-444455556666");
        assert_eq!(owner["controller"], true);
        assert_eq!(meta["labels"]["app.kubernetes.io/instance"], "cache");
        assert_eq!(
            meta["labels"]["app.kubernetes.io/managed-by"],
            "redis-ha-operator"
        );
    }
}

#[test]
fn redis_statefulset_snapshot() {
    let rha = sample(
        serde_json::json!({"replicas": 2, "storage": {"size": "5Gi", "storageClassName": "fast"}}),
    );
    let sts = serde_json::to_value(redis_statefulset(&rha)).expect("json");
    assert_eq!(sts["metadata"]["name"], "cache-redis");
    assert_eq!(sts["spec"]["replicas"], 3);
    assert_eq!(sts["spec"]["serviceName"], "cache-redis-headless");
    assert_eq!(sts["spec"]["podManagementPolicy"], "Parallel");
    let pod = &sts["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["image"], crate::crd::DEFAULT_IMAGE);
    assert_eq!(
        container["command"],
        serde_json::json!(["sh", "/etc/redis-ha/start-redis.sh"])
    );
    assert_eq!(
        container["readinessProbe"]["exec"]["command"],
        serde_json::json!(["sh", "/etc/redis-ha/readiness.sh"])
    );
    // Waiting for a failover before redis starts must not count as dead.
    let startup = &container["startupProbe"];
    assert_eq!(
        startup["periodSeconds"].as_i64().unwrap() * startup["failureThreshold"].as_i64().unwrap(),
        900
    );
    assert_eq!(
        env_value(container, "SENTINEL_SERVICE")["value"],
        "cache-sentinel"
    );
    assert_eq!(
        env_value(container, "HEADLESS_SERVICE")["value"],
        "cache-redis-headless"
    );
    assert_eq!(env_value(container, "MASTER_NAME")["value"], "cache");
    assert!(
        env_value(container, "REPLICAS").is_null(),
        "the count lives in the ConfigMap, not the template"
    );
    assert_eq!(
        env_value(container, "REDIS_PASSWORD")["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "cache-auth", "key": "password"})
    );
    let claim = &sts["spec"]["volumeClaimTemplates"][0];
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "5Gi");
    assert_eq!(claim["spec"]["storageClassName"], "fast");
    let volumes: Vec<&str> = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(volumes, ["config"], "a PVC replaces the emptyDir");
    assert!(
        sts["spec"]["template"]["metadata"]["annotations"]["redisha.dev/config-hash"].is_string()
    );
    // The role label is moved by the watcher, never set in the template
    // (that would label every pod master).
    assert!(sts["spec"]["template"]["metadata"]["labels"]
        .get(crate::crd::ROLE_LABEL)
        .is_none());
}

#[test]
fn redis_statefulset_without_storage_uses_empty_dir_and_user_scheduling() {
    let rha = sample(serde_json::json!({
        "replicas": 0,
        "image": "redis:7.0",
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "redis", "effect": "NoSchedule"}],
    }));
    let sts = serde_json::to_value(redis_statefulset(&rha)).expect("json");
    assert_eq!(sts["spec"]["replicas"], 1);
    assert!(sts["spec"].get("volumeClaimTemplates").is_none());
    let pod = &sts["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], "redis:7.0");
    assert_eq!(
        pod["volumes"][1],
        serde_json::json!({"name": "data", "emptyDir": {}})
    );
    assert_eq!(pod["nodeSelector"]["disk"], "ssd");
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    assert_eq!(
        pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
            ["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
}

#[test]
fn sentinel_statefulset_snapshot() {
    let rha = sample(
        serde_json::json!({"sentinels": 5, "quorum": 3, "sentinel": {"downAfterMilliseconds": 2000}}),
    );
    let sts = serde_json::to_value(sentinel_statefulset(&rha)).expect("json");
    assert_eq!(sts["metadata"]["name"], "cache-sentinel");
    assert_eq!(sts["spec"]["replicas"], 5);
    assert_eq!(sts["spec"]["serviceName"], "cache-sentinel-headless");
    let container = &sts["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["command"],
        serde_json::json!(["sh", "/etc/redis-ha/start-sentinel.sh"])
    );
    assert_eq!(env_value(container, "QUORUM")["value"], "3");
    // start-sentinel.sh waits for the redis pods before the sentinel listens.
    let startup = &container["startupProbe"];
    assert_eq!(
        startup["periodSeconds"].as_i64().unwrap() * startup["failureThreshold"].as_i64().unwrap(),
        600
    );
    assert_eq!(
        env_value(container, "DOWN_AFTER_MILLISECONDS")["value"],
        "2000"
    );
    assert_eq!(env_value(container, "FAILOVER_TIMEOUT")["value"], "60000");
    assert_eq!(env_value(container, "PARALLEL_SYNCS")["value"], "1");
    assert_eq!(container["ports"][0]["containerPort"], 26379);
}

#[test]
fn services_select_by_role_and_headless_ones_publish_not_ready() {
    let rha = sample(serde_json::json!({}));
    let master = serde_json::to_value(master_service(&rha)).expect("json");
    assert_eq!(master["metadata"]["name"], "cache-master");
    assert_eq!(master["spec"]["selector"]["redisha.dev/role"], "master");
    assert_eq!(
        master["spec"]["selector"]["app.kubernetes.io/component"],
        "redis"
    );
    assert!(master["spec"].get("clusterIP").is_none());
    let replicas = serde_json::to_value(replicas_service(&rha)).expect("json");
    assert_eq!(replicas["metadata"]["name"], "cache-replicas");
    assert_eq!(replicas["spec"]["selector"]["redisha.dev/role"], "replica");
    let headless = serde_json::to_value(headless_service(&rha)).expect("json");
    assert_eq!(headless["spec"]["clusterIP"], "None");
    assert_eq!(headless["spec"]["publishNotReadyAddresses"], true);
    assert!(headless["spec"]["selector"]
        .get("redisha.dev/role")
        .is_none());
    let sentinel = serde_json::to_value(sentinel_service(&rha)).expect("json");
    assert_eq!(sentinel["metadata"]["name"], "cache-sentinel");
    assert_eq!(sentinel["spec"]["ports"][0]["port"], 26379);
}

#[test]
fn sentinel_pdb_follows_quorum_math() {
    let cases = [
        (3, None, 2),
        (3, Some(3), 3),
        (5, None, 3),
        (5, Some(2), 3),
        (5, Some(4), 4),
        (7, None, 4),
    ];
    for (sentinels, quorum, expected) in cases {
        let rha = sample(serde_json::json!({"sentinels": sentinels, "quorum": quorum}));
        let pdb = sentinel_pdb(&rha);
        let spec = pdb.spec.expect("spec");
        assert_eq!(
            spec.min_available,
            Some(IntOrString::Int(expected)),
            "{sentinels} sentinels, quorum {quorum:?}"
        );
    }
    let redis = redis_pdb(&sample(serde_json::json!({})))
        .spec
        .expect("spec");
    assert_eq!(redis.max_unavailable, Some(IntOrString::Int(1)));
}

#[test]
fn redis_conf_carries_settings_and_user_directives() {
    let rha = sample(serde_json::json!({
        "storage": {},
        "minReplicasToWrite": 1,
        "minReplicasMaxLag": 10,
        "redisConfig": {"maxmemory": "100mb"},
    }));
    let conf = redis_conf(&rha.spec);
    assert_eq!(
        conf,
        "port 6379\nbind 0.0.0.0\nprotected-mode no\ndir /data\nreplica-read-only yes\nappendonly yes\n\
         min-replicas-to-write 1\nmin-replicas-max-lag 10\nmaxmemory 100mb\n"
    );
    let sentinel = sentinel_conf();
    let resolve = sentinel
        .find("sentinel resolve-hostnames yes")
        .expect("resolve-hostnames");
    assert!(sentinel.contains("sentinel announce-hostnames yes"));
    assert!(
        !sentinel.contains("sentinel monitor"),
        "the monitor line is written at start-up"
    );
    assert!(resolve > 0);
}

#[test]
fn scaling_changes_the_config_map_but_not_the_pod_templates() {
    let two = sample(serde_json::json!({"replicas": 2}));
    let four = sample(serde_json::json!({"replicas": 4}));
    let data = |rha: &RedisHA| config_map(rha).data.expect("data")["replicas"].clone();
    assert_eq!(
        (data(&two), data(&four)),
        ("2".to_string(), "4".to_string())
    );
    let template = |sts: k8s_openapi::api::apps::v1::StatefulSet| {
        serde_json::to_value(sts.spec.expect("spec").template).expect("json")
    };
    assert_eq!(
        template(redis_statefulset(&two)),
        template(redis_statefulset(&four))
    );
    assert_eq!(
        template(sentinel_statefulset(&two)),
        template(sentinel_statefulset(&four))
    );
}

#[test]
fn config_changes_change_the_pod_template_hash() {
    let a = serde_json::to_value(redis_statefulset(&sample(serde_json::json!({})))).expect("json");
    let b = serde_json::to_value(redis_statefulset(&sample(
        serde_json::json!({"redisConfig": {"hz": "20"}}),
    )))
    .expect("json");
    let hash = |v: &serde_json::Value| {
        v["spec"]["template"]["metadata"]["annotations"]["redisha.dev/config-hash"].clone()
    };
    assert_ne!(hash(&a), hash(&b));
    assert_eq!(hash(&a), hash(&a.clone()));
}

#[test]
fn scripts_are_valid_posix_shell() {
    for (name, script) in [
        ("start-redis.sh", config::START_REDIS),
        ("start-sentinel.sh", config::START_SENTINEL),
        ("readiness.sh", config::READINESS),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(name);
        std::fs::write(&path, script).expect("write script");
        let status = std::process::Command::new("sh")
            .arg("-n")
            .arg(&path)
            .status()
            .expect("run sh -n");
        assert!(status.success(), "{name} has a syntax error");
    }
}

/// Runs `kubernetes-validate --strict` on YAML files; the version matches
/// the k8s-openapi feature the crate is built with (v1_34).
pub(crate) fn kubernetes_validate(files: &[std::path::PathBuf]) {
    let output = std::process::Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", "1.34.0"])
        .args(files)
        .output()
        .expect("kubernetes-validate is installed (scripts/install-deps.sh)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kubernetes-validate failed:\n{stdout}\n{stderr}"
    );
    assert!(
        !stdout.contains("ERROR") && !stderr.contains("ERROR"),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn generated_objects_pass_kubernetes_validate_strict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    let specs = [
        serde_json::json!({}),
        serde_json::json!({
            "replicas": 1, "sentinels": 5, "quorum": 3, "image": "redis:7.0",
            "storage": {"size": "2Gi", "storageClassName": "standard"},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "metrics": {"enabled": true},
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "nodeSelector": {"disk": "ssd"},
        }),
    ];
    for (n, spec) in specs.into_iter().enumerate() {
        for (i, object) in all_objects(&sample(spec)).into_iter().enumerate() {
            let path = dir.path().join(format!("{n}-{i}.yaml"));
            let yaml = serde_saphyr::to_string(&object).expect("yaml");
            std::fs::write(&path, yaml).expect("write object");
            files.push(path);
        }
    }
    kubernetes_validate(&files);
}
