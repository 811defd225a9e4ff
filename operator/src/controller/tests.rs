//! The reconciler against kube-rs's mocked API server (tower-test): every
//! request it sends is recorded and compared with the exact expected list.

use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use tower_test::mock;

use super::*;
use crate::resources::tests::sample;

#[derive(Clone, Debug)]
pub(crate) struct Sent {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: serde_json::Value,
}

/// Per-test answers of the fake apiserver.
#[derive(Clone)]
pub(crate) struct Fake {
    pub rha: RedisHA,
    /// The Secret the apiserver holds (None: 404).
    pub secret: Option<serde_json::Value>,
    /// readyReplicas reported by the StatefulSets after apply.
    pub ready_redis: i32,
    pub ready_sentinels: i32,
    /// The pods a pod list returns.
    pub pods: Vec<serde_json::Value>,
}

impl Fake {
    fn respond(&self, sent: &Sent) -> (u16, serde_json::Value) {
        if sent.method == "GET" && sent.path.contains("/secrets/") {
            return match &self.secret {
                Some(secret) => (200, secret.clone()),
                None => (
                    404,
                    serde_json::json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "secrets not found", "reason": "NotFound", "code": 404
                    }),
                ),
            };
        }
        if sent.method == "GET" && sent.path.ends_with("/status") {
            return (200, serde_json::to_value(&self.rha).expect("rha json"));
        }
        if sent.method == "GET" && sent.path.ends_with("/pods") {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": self.pods});
            return (200, list);
        }
        if sent.method == "PATCH" && sent.path.contains("/pods/") {
            let name = sent.path.rsplit('/').next().unwrap_or_default();
            let pod = self
                .pods
                .iter()
                .find(|p| p["metadata"]["name"] == name)
                .cloned()
                .unwrap_or_default();
            return (200, pod);
        }
        if sent.path.ends_with("/status") {
            let mut rha = serde_json::to_value(&self.rha).expect("rha json");
            rha["status"] = sent.body["status"].clone();
            return (200, rha);
        }
        let mut echo = sent.body.clone();
        if sent.path.contains("/statefulsets/") {
            let ready = if sent.path.ends_with("-sentinel") {
                self.ready_sentinels
            } else {
                self.ready_redis
            };
            echo["status"] = serde_json::json!({"replicas": ready, "readyReplicas": ready, "updateRevision": "rev-new"});
        }
        (if sent.method == "POST" { 201 } else { 200 }, echo)
    }
}

/// A Context whose client talks to `fake`; returns the recorded requests.
pub(crate) fn context(fake: Fake) -> (Arc<Context>, Arc<Mutex<Vec<Sent>>>) {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = sent.clone();
    tokio::spawn(async move {
        while let Some((request, reply)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.expect("request body");
            let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            let request = Sent {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or_default().to_string(),
                body,
            };
            let (code, answer) = fake.respond(&request);
            log.lock().expect("log").push(request);
            let response = Response::builder()
                .status(code)
                .body(Body::from(serde_json::to_vec(&answer).expect("json")))
                .expect("response");
            reply.send_response(response);
        }
    });
    let client = Client::new(service, "default");
    let ctx = Context::new(client, Arc::new(Metrics::default()), None);
    (Arc::new(ctx), sent)
}

pub(crate) fn requests(sent: &Mutex<Vec<Sent>>) -> Vec<Sent> {
    sent.lock().expect("log").clone()
}

pub(crate) fn lines(sent: &[Sent]) -> Vec<String> {
    sent.iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

const NS: &str = "/api/v1/namespaces/shop";
const EVENTS: &str = "POST /apis/events.k8s.io/v1/namespaces/shop/events";
const STATUS: &str = "PATCH /apis/redisha.dev/v1alpha1/namespaces/shop/redishas/cache/status";

fn apply_lines() -> Vec<String> {
    let mut lines = vec![format!("PATCH {NS}/configmaps/cache-config")];
    for service in [
        "cache-redis-headless",
        "cache-sentinel-headless",
        "cache-master",
        "cache-replicas",
        "cache-sentinel",
    ] {
        lines.push(format!("PATCH {NS}/services/{service}"));
    }
    lines.push("PATCH /apis/policy/v1/namespaces/shop/poddisruptionbudgets/cache-redis".into());
    lines.push("PATCH /apis/policy/v1/namespaces/shop/poddisruptionbudgets/cache-sentinel".into());
    lines.push("PATCH /apis/apps/v1/namespaces/shop/statefulsets/cache-redis".into());
    lines.push("PATCH /apis/apps/v1/namespaces/shop/statefulsets/cache-sentinel".into());
    // The roll check lists the redis pods.
    lines.push(format!("GET {NS}/pods"));
    lines
}

fn existing_secret() -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cache-auth", "namespace": "shop"}, "data": {"password": "c2VjcmV0"}})
}

#[tokio::test]
async fn first_reconcile_creates_the_secret_applies_children_and_patches_status() {
    let rha = sample(serde_json::json!({}));
    let fake = Fake {
        rha: rha.clone(),
        secret: None,
        ready_redis: 0,
        ready_sentinels: 0,
        pods: vec![],
    };
    let (ctx, sent) = context(fake);
    let action = reconcile(Arc::new(rha), ctx)
        .await
        .expect("reconcile succeeds");
    assert_eq!(action, Action::requeue(Duration::from_secs(15)));

    let sent = requests(&sent);
    let mut expected = vec![
        format!("GET {NS}/secrets/cache-auth"),
        format!("POST {NS}/secrets"),
        EVENTS.to_string(),
    ];
    expected.extend(apply_lines());
    expected.push(STATUS.to_string());
    assert_eq!(lines(&sent), expected);

    // The generated Secret holds a 32-hex-character password.
    let password = sent[1].body["stringData"]["password"]
        .as_str()
        .expect("password");
    assert_eq!(password.len(), 32);
    assert!(password.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(sent[2].body["reason"], "SecretCreated");
    assert_eq!(sent[2].body["type"], "Normal");
    assert_eq!(sent[2].body["regarding"]["name"], "cache");

    // Every child is a forced server-side apply by our field manager, with apiVersion/kind.
    for request in &sent[3..sent.len() - 2] {
        assert!(
            request.query.contains("fieldManager=redis-ha-operator"),
            "{}",
            request.query
        );
        assert!(request.query.contains("force=true"), "{}", request.query);
        assert!(
            request.body["apiVersion"].is_string() && request.body["kind"].is_string(),
            "{:?}",
            request.body
        );
        assert_eq!(
            request.body["metadata"]["ownerReferences"][0]["name"],
            "cache"
        );
    }
    let sts = &sent[sent.len() - 4];
    assert_eq!(sts.body["kind"], "StatefulSet");
    assert_eq!(sts.body["spec"]["replicas"], 3);

    let status = &sent.last().expect("status patch").body;
    assert_eq!(status["kind"], "RedisHA");
    assert_eq!(status["status"]["phase"], "Creating");
    assert_eq!(status["status"]["replicaSummary"], "0/2");
    assert_eq!(status["status"]["sentinelSummary"], "0/3");
    assert_eq!(status["status"]["observedGeneration"], 3);
    assert!(
        status["status"].get("failovers").is_none(),
        "the history belongs to the watcher"
    );
    assert!(status["status"].get("failoverCount").is_none());
    let ready = status["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "Ready")
        .cloned();
    assert_eq!(ready.expect("Ready condition")["status"], "False");
}

#[tokio::test]
async fn a_ready_set_with_a_known_master_is_ready() {
    let rha = sample(serde_json::json!({}));
    let fake = Fake {
        rha: rha.clone(),
        secret: Some(existing_secret()),
        ready_redis: 3,
        ready_sentinels: 3,
        pods: vec![],
    };
    let (ctx, sent) = context(fake);
    let master = MasterRef {
        pod: "cache-redis-1".into(),
        address: "cache-redis-1.cache-redis-headless.shop.svc:6379".into(),
    };
    ctx.observed.lock().expect("map").insert(
        "shop/cache".into(),
        Observed {
            master: Some(master),
            ..Observed::default()
        },
    );
    let action = reconcile(Arc::new(rha), ctx)
        .await
        .expect("reconcile succeeds");
    assert_eq!(action, Action::requeue(Duration::from_secs(300)));
    let sent = requests(&sent);
    let mut expected = vec![format!("GET {NS}/secrets/cache-auth")];
    expected.extend(apply_lines());
    expected.push(STATUS.to_string());
    assert_eq!(
        lines(&sent),
        expected,
        "an existing Secret is neither created nor re-applied"
    );
    let status = &sent.last().expect("status").body["status"];
    assert_eq!(status["phase"], "Ready");
    assert_eq!(status["master"]["pod"], "cache-redis-1");
    assert_eq!(status["replicaSummary"], "2/2");
    assert_eq!(status["readySentinels"], 3);
}

#[tokio::test]
async fn an_invalid_spec_is_reported_and_not_retried() {
    let rha = sample(serde_json::json!({"quorum": 1, "redisConfig": {"no-such-directive": "1"}}));
    let fake = Fake {
        rha: rha.clone(),
        secret: None,
        ready_redis: 0,
        ready_sentinels: 0,
        pods: vec![],
    };
    let (ctx, sent) = context(fake);
    let action = reconcile(Arc::new(rha), ctx)
        .await
        .expect("an invalid spec is not an error");
    assert_eq!(action, Action::await_change());
    let sent = requests(&sent);
    assert_eq!(
        lines(&sent),
        [EVENTS, STATUS],
        "nothing is applied for an invalid spec"
    );
    assert_eq!(sent[0].body["type"], "Warning");
    assert_eq!(sent[0].body["reason"], "InvalidSpec");
    let note = sent[0].body["note"].as_str().expect("note");
    assert!(note.contains("spec.quorum must be >= 2"), "{note}");
    assert!(
        note.contains("unknown directive 'no-such-directive'"),
        "{note}"
    );
    let status = &sent[1].body["status"];
    assert_eq!(status["phase"], "Degraded");
    let degraded = status["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "Degraded")
        .cloned()
        .expect("Degraded");
    assert_eq!(degraded["status"], "True");
    assert_eq!(degraded["reason"], "InvalidSpec");
    assert_eq!(degraded["message"], note);
}

#[tokio::test]
async fn a_missing_user_secret_is_an_error_with_event_status_and_backoff() {
    let rha = sample(serde_json::json!({"auth": {"secretName": "my-pass"}}));
    let fake = Fake {
        rha: rha.clone(),
        secret: None,
        ready_redis: 0,
        ready_sentinels: 0,
        pods: vec![],
    };
    let (ctx, sent) = context(fake);
    let rha = Arc::new(rha);
    let err = reconcile(rha.clone(), ctx.clone())
        .await
        .expect_err("missing secret fails");
    assert_eq!(err.reason(), "SecretMissing");
    let sent = requests(&sent);
    assert_eq!(
        lines(&sent),
        [
            format!("GET {NS}/secrets/my-pass"),
            EVENTS.to_string(),
            STATUS.to_string()
        ]
    );
    assert_eq!(sent[1].body["reason"], "SecretMissing");
    assert_eq!(sent[2].body["status"]["phase"], "Degraded");
    assert_eq!(
        error_policy(rha.clone(), &err, ctx.clone()),
        Action::requeue(Duration::from_secs(5))
    );
    assert_eq!(
        error_policy(rha.clone(), &err, ctx.clone()),
        Action::requeue(Duration::from_secs(10))
    );
    assert_eq!(
        error_policy(rha, &err, ctx),
        Action::requeue(Duration::from_secs(20))
    );
}

#[test]
fn backoff_doubles_up_to_five_minutes() {
    let delays: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
    assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
}

#[test]
fn status_phases() {
    let now = Timestamp::from_second(1_800_000_000).expect("time");
    let rha = sample(serde_json::json!({}));
    let sts = |ready: i32| StatefulSetStatus {
        ready_replicas: Some(ready),
        ..StatefulSetStatus::default()
    };
    let findings = Findings::default();
    let master = Observed {
        master: Some(MasterRef {
            pod: "cache-redis-0".into(),
            address: "a:6379".into(),
        }),
        ..Observed::default()
    };

    let creating = compute_status(
        &rha,
        &findings,
        Some(&sts(1)),
        Some(&sts(3)),
        &Observed::default(),
        now,
    );
    assert_eq!(creating.phase, Phase::Creating);
    let ready = compute_status(&rha, &findings, Some(&sts(3)), Some(&sts(3)), &master, now);
    assert_eq!(ready.phase, Phase::Ready);

    let mut was_ready = rha.clone();
    was_ready.status = Some(ready);
    let lost_replica = compute_status(
        &was_ready,
        &findings,
        Some(&sts(2)),
        Some(&sts(3)),
        &master,
        now,
    );
    assert_eq!(
        (lost_replica.phase, lost_replica.replica_summary.as_str()),
        (Phase::Degraded, "1/2")
    );
    let failing = Observed {
        failing_over: true,
        ..master.clone()
    };
    assert_eq!(
        compute_status(
            &was_ready,
            &findings,
            Some(&sts(2)),
            Some(&sts(3)),
            &failing,
            now
        )
        .phase,
        Phase::FailingOver
    );
    let split = Observed {
        split_brain: Some("2 pods claim master".into()),
        ..master
    };
    let split_status = compute_status(
        &was_ready,
        &findings,
        Some(&sts(3)),
        Some(&sts(3)),
        &split,
        now,
    );
    assert_eq!(split_status.phase, Phase::Degraded);
    let degraded = split_status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .expect("Degraded");
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "SplitBrain")
    );
}

fn redis_pod(ordinal: i32, revision: &str, master: bool) -> serde_json::Value {
    let role = if master { "master" } else { "replica" };
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("cache-redis-{ordinal}"), "namespace": "shop",
                     "labels": {"controller-revision-hash": revision, "redisha.dev/role": role}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    })
}

#[tokio::test]
async fn a_changed_spec_replaces_an_outdated_replica_first() {
    let rha = sample(serde_json::json!({}));
    let pods = vec![
        redis_pod(0, "rev-old", true),
        redis_pod(1, "rev-new", false),
        redis_pod(2, "rev-old", false),
    ];
    let fake = Fake {
        rha: rha.clone(),
        secret: Some(existing_secret()),
        ready_redis: 3,
        ready_sentinels: 3,
        pods,
    };
    let (ctx, sent) = context(fake);
    let action = reconcile(Arc::new(rha), ctx)
        .await
        .expect("reconcile succeeds");
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(10)),
        "a roll in progress is checked again soon"
    );
    let sent = requests(&sent);
    let mut expected = vec![format!("GET {NS}/secrets/cache-auth")];
    expected.extend(apply_lines());
    expected.push(format!("DELETE {NS}/pods/cache-redis-2"));
    expected.push(EVENTS.to_string());
    expected.push(STATUS.to_string());
    assert_eq!(lines(&sent), expected);
    assert_eq!(sent[sent.len() - 2].body["reason"], "RollingUpdate");
    let sts = sent
        .iter()
        .find(|s| s.path.ends_with("/statefulsets/cache-redis"))
        .expect("sts apply");
    assert_eq!(sts.body["spec"]["updateStrategy"]["type"], "OnDelete");
}

#[tokio::test]
async fn an_outdated_master_is_switched_over_not_deleted() {
    let rha = sample(serde_json::json!({}));
    let pods = vec![
        redis_pod(0, "rev-old", true),
        redis_pod(1, "rev-new", false),
        redis_pod(2, "rev-new", false),
    ];
    let fake = Fake {
        rha: rha.clone(),
        secret: Some(existing_secret()),
        ready_redis: 3,
        ready_sentinels: 3,
        pods,
    };
    let (ctx, sent) = context(fake);
    reconcile(Arc::new(rha), ctx)
        .await
        .expect("reconcile succeeds");
    let sent = requests(&sent);
    assert!(
        !sent.iter().any(|s| s.method == "DELETE"),
        "the master is never deleted while it is master"
    );
    let event = sent
        .iter()
        .find(|s| s.path.ends_with("/events"))
        .expect("event");
    assert_eq!(event.body["reason"], "Switchover");
    assert_eq!(
        event.body["note"],
        "asking the sentinels to fail over away from cache-redis-0 before replacing it"
    );
}

#[tokio::test]
async fn scaling_down_keeps_the_master_until_it_has_moved() {
    let rha = sample(serde_json::json!({"replicas": 1}));
    let fake = Fake {
        rha: rha.clone(),
        secret: Some(existing_secret()),
        ready_redis: 3,
        ready_sentinels: 3,
        pods: vec![],
    };
    let (ctx, sent) = context(fake);
    let master = MasterRef {
        pod: "cache-redis-2".into(),
        address: "cache-redis-2.cache-redis-headless.shop.svc:6379".into(),
    };
    ctx.observed.lock().expect("map").insert(
        "shop/cache".into(),
        Observed {
            master: Some(master),
            ..Observed::default()
        },
    );
    let action = reconcile(Arc::new(rha), ctx)
        .await
        .expect("reconcile succeeds");
    assert_eq!(action, Action::requeue(Duration::from_secs(10)));
    let sent = requests(&sent);
    let event = sent
        .iter()
        .find(|s| s.path.ends_with("/events"))
        .expect("event");
    assert_eq!(event.body["reason"], "Switchover");
    assert_eq!(
        event.body["note"],
        "scaling to 2 redis pods would remove master cache-redis-2: asking the sentinels to fail over first"
    );
    let sts = sent
        .iter()
        .find(|s| s.path.ends_with("/statefulsets/cache-redis"))
        .expect("sts apply");
    assert_eq!(
        sts.body["spec"]["replicas"], 3,
        "the master's pod is kept for now"
    );
}
