//! The safe roll of the redis pods carried out against real Debian
//! `redis-server` and `redis-sentinel` processes: the operator's roll plan
//! (`rolling::plan_roll`) is followed step by step, a "pod deletion" stops a
//! redis with SIGTERM and starts it again at the new revision as a replica
//! of the current master (what `start-redis.sh` does), and the switchover is
//! the operator's own `SENTINEL FAILOVER` request. The sentinel watcher
//! supplies the master, as it moves the master label in a cluster.
//!
//! Checks: replicas are replaced first (highest ordinal first), then one
//! switchover, then the old master; no pod is stopped while another is not
//! ready; the watcher records exactly one failover, triggered `manual`,
//! away from the old master; no key is lost; the new master is an updated
//! pod and the old master ends as its replica.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use redis_ha_operator::failover::{request_failover, spawn_watcher, Failover, Output, WatchTarget};
use redis_ha_operator::rolling::{plan_roll, PodState, RollStep};
use support::*;
use tokio::sync::mpsc::Receiver;
use tokio::time::Instant;

const KEYS: usize = 100;
const OLD: &str = "rev-1";
const NEW: &str = "rev-2";

struct Pod {
    port: u16,
    revision: &'static str,
}

fn pod_name(ordinal: usize) -> String {
    format!("cache-redis-{ordinal}")
}

fn address(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// Ready as `readiness.sh` sees it: a master answers; a replica has its
/// link up and no sync in progress.
async fn ready(port: u16) -> bool {
    match info_field(port, "role").await.as_deref() {
        Some("master") => true,
        Some("slave") => {
            info_field(port, "master_link_status").await.as_deref() == Some("up")
                && info_field(port, "master_sync_in_progress").await.as_deref() == Some("0")
        }
        _ => false,
    }
}

/// What the watcher said since the last call: the latest master and every
/// completed failover.
fn drain(outputs: &mut Receiver<Output>, master: &mut String, records: &mut Vec<Failover>) {
    while let Ok(output) = outputs.try_recv() {
        match output {
            Output::Master(now) => *master = now,
            Output::FailoverCompleted(failover) => {
                *master = failover.new_master.clone();
                records.push(failover);
            }
            _ => {}
        }
    }
}

fn data_dir(root: &Path, ordinal: usize) -> std::path::PathBuf {
    let dir = root.join(format!("redis-{ordinal}"));
    std::fs::create_dir_all(&dir).expect("data dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roll_replaces_replicas_then_switches_over_then_replaces_the_old_master() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pods: BTreeMap<usize, Pod> = (0..3)
        .map(|i| {
            (
                i,
                Pod {
                    port: free_port(),
                    revision: OLD,
                },
            )
        })
        .collect();
    let sentinel_ports = [free_port(), free_port(), free_port()];
    let mut processes = Processes(Vec::new());
    let master_port = pods[&0].port;
    for (i, pod) in &pods {
        let replica_of = (*i > 0).then_some(master_port);
        processes.spawn(
            &pod_name(*i),
            &mut redis_server(&data_dir(dir.path(), *i), pod.port, replica_of),
        );
    }
    for (i, port) in sentinel_ports.iter().enumerate() {
        let data = dir.path().join(format!("sentinel-{i}"));
        std::fs::create_dir_all(&data).expect("sentinel dir");
        processes.spawn(
            &format!("sentinel-{i}"),
            &mut sentinel(&data, *port, master_port),
        );
    }
    for port in sentinel_ports {
        wait_for(
            "sentinel discovery",
            Duration::from_secs(60),
            || async move {
                sentinel_field(port, "num-slaves").await.as_deref() == Some("2")
                    && sentinel_field(port, "num-other-sentinels").await.as_deref() == Some("2")
            },
        )
        .await;
    }
    for i in 0..KEYS {
        let reply = query(master_port, &["SET", &format!("key:{i}"), &i.to_string()]).await;
        assert_eq!(reply, Some(redis::Value::Okay));
    }
    // WAIT inside query's 2 s limit, repeated until both replicas ack.
    wait_for(
        "both replicas to ack the writes",
        Duration::from_secs(30),
        || async { query(master_port, &["WAIT", "2", "1000"]).await == Some(redis::Value::Int(2)) },
    )
    .await;

    let (watcher, mut outputs) = spawn_watcher(WatchTarget {
        master_name: MASTER_NAME.into(),
        sentinels: sentinel_ports
            .iter()
            .map(|p| ("127.0.0.1".to_string(), *p))
            .collect(),
        pods: pods
            .iter()
            .map(|(i, p)| (*i as i32, "127.0.0.1".to_string(), p.port))
            .collect(),
        password: None,
        poll_interval: Duration::from_millis(500),
    });
    let mut master = String::new();
    let mut records = Vec::new();
    wait_for(
        "the watcher's first master",
        Duration::from_secs(30),
        || {
            drain(&mut outputs, &mut master, &mut records);
            let seen = master.clone();
            async move { seen == address(master_port) }
        },
    )
    .await;

    let mut steps = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        assert!(
            Instant::now() < deadline,
            "the roll did not finish: {steps:?}"
        );
        drain(&mut outputs, &mut master, &mut records);
        let mut states = Vec::new();
        for (i, pod) in &pods {
            states.push(PodState {
                name: pod_name(*i),
                ordinal: *i as i32,
                revision: Some(pod.revision.to_string()),
                ready: ready(pod.port).await,
                is_master: address(pod.port) == master,
            });
        }
        let step = plan_roll(&states, NEW, 3);
        match &step {
            RollStep::Done => break,
            RollStep::Wait(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            RollStep::DeletePod(name) => {
                // Never a second pod down: every other pod is ready.
                for state in states.iter().filter(|s| &s.name != name) {
                    assert!(state.ready, "{name} deleted while {state:?} is not ready");
                }
                let ordinal: usize = name.rsplit('-').next().unwrap().parse().unwrap();
                let port = pods[&ordinal].port;
                processes.stop(name);
                let master_port: u16 = master.rsplit(':').next().unwrap().parse().unwrap();
                assert_ne!(master_port, port, "the master itself is never deleted");
                processes.spawn(
                    name,
                    &mut redis_server(&data_dir(dir.path(), ordinal), port, Some(master_port)),
                );
                pods.get_mut(&ordinal).expect("pod").revision = NEW;
            }
            RollStep::Switchover(_) => {
                let before = records.len();
                // As the reconciler does on its next pass: ask again while
                // the sentinel has no suitable replica yet (one restarted
                // a moment ago may still be reconnecting).
                let asked = Instant::now();
                while let Err(err) =
                    request_failover("127.0.0.1", sentinel_ports[0], MASTER_NAME).await
                {
                    assert!(
                        asked.elapsed() < Duration::from_secs(20),
                        "SENTINEL FAILOVER refused: {err}"
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                wait_for("the switchover", Duration::from_secs(60), || {
                    drain(&mut outputs, &mut master, &mut records);
                    let done = records.len() > before;
                    async move { done }
                })
                .await;
            }
        }
        steps.push(step);
    }
    watcher.abort();

    let old_master = address(pods[&0].port);
    assert_eq!(
        steps,
        vec![
            RollStep::DeletePod(pod_name(2)),
            RollStep::DeletePod(pod_name(1)),
            RollStep::Switchover(pod_name(0)),
            RollStep::DeletePod(pod_name(0)),
        ]
    );
    assert_eq!(records.len(), 1, "exactly one failover: {records:?}");
    let failover = &records[0];
    assert_eq!(failover.trigger, "manual");
    assert_eq!(failover.old_master, old_master);
    assert_ne!(failover.new_master, old_master);
    assert_eq!(master, failover.new_master);

    let new_port: u16 = master.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(
        info_field(new_port, "role").await.as_deref(),
        Some("master")
    );
    wait_for(
        "the old master to sync from the new one",
        Duration::from_secs(30),
        || async { ready(pods[&0].port).await },
    )
    .await;
    assert_eq!(
        info_field(pods[&0].port, "master_port").await,
        Some(new_port.to_string())
    );
    for pod in pods.values() {
        assert_eq!(
            query(pod.port, &["DBSIZE"]).await,
            Some(redis::Value::Int(KEYS as i64)),
            "a pod lost keys"
        );
    }
}
