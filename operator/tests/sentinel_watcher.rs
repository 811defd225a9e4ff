//! The sentinel watcher against real Debian `redis-server` and
//! `redis-sentinel` processes: a master, two replicas, three sentinels; the
//! master is killed with SIGKILL and the watcher must report exactly one
//! failover with the right old and new master and a duration.

mod support;

use std::time::Duration;

use redis_ha_operator::failover::{spawn_watcher, Failover, Output, WatchTarget};
use support::*;
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_master_yields_exactly_one_failover_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let redis_ports = [free_port(), free_port(), free_port()];
    let sentinel_ports = [free_port(), free_port(), free_port()];
    let mut processes = Processes(Vec::new());
    for (i, port) in redis_ports.iter().enumerate() {
        let data = dir.path().join(format!("redis-{i}"));
        std::fs::create_dir_all(&data).expect("data dir");
        let replica_of = (i > 0).then_some(redis_ports[0]);
        processes.spawn(
            &format!("redis-{i}"),
            &mut redis_server(&data, *port, replica_of),
        );
    }
    for port in &redis_ports[1..] {
        wait_for("replica sync", Duration::from_secs(30), || async {
            info_field(*port, "master_link_status").await.as_deref() == Some("up")
        })
        .await;
    }
    for (i, port) in sentinel_ports.iter().enumerate() {
        let data = dir.path().join(format!("sentinel-{i}"));
        std::fs::create_dir_all(&data).expect("sentinel dir");
        processes.spawn(
            &format!("sentinel-{i}"),
            &mut sentinel(&data, *port, redis_ports[0]),
        );
    }
    // Sentinels must know both replicas and each other before a failover can succeed.
    for port in sentinel_ports {
        wait_for(
            "sentinel discovery",
            Duration::from_secs(60),
            || async move {
                count_entries(&query(port, &["SENTINEL", "replicas", MASTER_NAME]).await) == 2
                    && count_entries(&query(port, &["SENTINEL", "sentinels", MASTER_NAME]).await)
                        == 2
            },
        )
        .await;
    }

    let target = WatchTarget {
        master_name: MASTER_NAME.into(),
        sentinels: sentinel_ports
            .iter()
            .map(|p| ("127.0.0.1".to_string(), *p))
            .collect(),
        pods: redis_ports
            .iter()
            .enumerate()
            .map(|(i, p)| (i as i32, "127.0.0.1".to_string(), *p))
            .collect(),
        password: None,
        poll_interval: Duration::from_millis(500),
    };
    let (watcher, mut outputs) = spawn_watcher(target);
    let old_master = format!("127.0.0.1:{}", redis_ports[0]);
    let mut seen = Vec::new();
    loop {
        let output = next(&mut outputs).await;
        let is_master = output == Output::Master(old_master.clone());
        seen.push(output);
        if is_master {
            break;
        }
    }
    // The first poll also saw one pod claiming master.
    processes.kill("redis-0");

    let failover: Failover = loop {
        let output = next(&mut outputs).await;
        seen.push(output.clone());
        if let Output::FailoverCompleted(failover) = output {
            break failover;
        }
    };
    // Keep watching for several more poll rounds: no second record may appear.
    // (and until the demoted side of any second failover has been converted).
    let mut polls = 0;
    let mut claims = 0;
    let settle_deadline = Instant::now() + Duration::from_secs(60);
    while polls < 8 || (claims != 1 && Instant::now() < settle_deadline) {
        let output = next(&mut outputs).await;
        if let Output::Pods(pods) = &output {
            polls += 1;
            claims = redis_ha_operator::role::master_claims(pods);
        }
        seen.push(output);
    }
    watcher.abort();

    let records: Vec<&Failover> = seen
        .iter()
        .filter_map(|o| {
            if let Output::FailoverCompleted(f) = o {
                Some(f)
            } else {
                None
            }
        })
        .collect();
    // Exactly one record for the killed master. (On a badly overloaded
    // machine the sentinels may later fail over the new master too; such a
    // real second failover must then be a new record with a newer epoch
    // that continues the chain, never a duplicate or a flip back.)
    let for_killed = records
        .iter()
        .filter(|f| f.old_master == old_master)
        .count();
    assert_eq!(
        for_killed, 1,
        "exactly one failover record for the killed master: {seen:?}"
    );
    for pair in records.windows(2) {
        assert_eq!(
            pair[1].old_master, pair[0].new_master,
            "records form a chain: {records:?}"
        );
        assert!(
            pair[1].epoch > pair[0].epoch,
            "each later failover has a newer epoch: {records:?}"
        );
    }
    assert_eq!(failover.old_master, old_master);
    let candidates = [
        format!("127.0.0.1:{}", redis_ports[1]),
        format!("127.0.0.1:{}", redis_ports[2]),
    ];
    assert!(
        candidates.contains(&failover.new_master),
        "new master {} is a former replica",
        failover.new_master
    );
    assert_eq!(failover.trigger, "odown");
    assert!(
        failover.epoch.is_some_and(|e| e >= 1),
        "epoch from +new-epoch: {:?}",
        failover.epoch
    );
    assert!(failover.completed_at >= failover.detected_at);
    let record = redis_ha_operator::history::record(
        failover.detected_at,
        failover.completed_at,
        &failover.old_master,
        &failover.new_master,
        failover.epoch,
        failover.trigger,
    );
    assert!(
        record.duration_milliseconds > 0,
        "detection precedes completion: {record:?}"
    );
    let downs = seen
        .iter()
        .filter(|o| matches!(o, Output::MasterDown { .. }))
        .count();
    let starts = seen
        .iter()
        .filter(|o| matches!(o, Output::FailoverStarted { .. }))
        .count();
    assert_eq!(
        (downs, starts),
        (records.len(), records.len()),
        "one MasterDown and one FailoverStarted per failover: {seen:?}"
    );

    // The last master the sentinels chose really is master, and the watcher's
    // last poll saw exactly one pod claiming it.
    let last = records.last().expect("a record");
    let new_port: u16 = last
        .new_master
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    assert_eq!(
        info_field(new_port, "role").await.as_deref(),
        Some("master")
    );
    let last_pods = seen
        .iter()
        .rev()
        .find_map(|o| {
            if let Output::Pods(p) = o {
                Some(p.clone())
            } else {
                None
            }
        })
        .expect("pods");
    assert_eq!(
        redis_ha_operator::role::master_claims(&last_pods),
        1,
        "{last_pods:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_remembering_a_departed_sentinel_are_reset_one_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let redis_ports = [free_port(), free_port()];
    let sentinel_ports = [free_port(), free_port(), free_port()];
    let mut processes = Processes(Vec::new());
    for (i, port) in redis_ports.iter().enumerate() {
        let data = dir.path().join(format!("redis-{i}"));
        std::fs::create_dir_all(&data).expect("data dir");
        processes.spawn(
            &format!("redis-{i}"),
            &mut redis_server(&data, *port, (i > 0).then_some(redis_ports[0])),
        );
    }
    for (i, port) in sentinel_ports.iter().enumerate() {
        let data = dir.path().join(format!("sentinel-{i}"));
        std::fs::create_dir_all(&data).expect("sentinel dir");
        processes.spawn(
            &format!("sentinel-{i}"),
            &mut sentinel(&data, *port, redis_ports[0]),
        );
    }
    for port in sentinel_ports {
        wait_for(
            "sentinel discovery",
            Duration::from_secs(60),
            || async move {
                sentinel_field(port, "num-other-sentinels").await.as_deref() == Some("2")
                    && sentinel_field(port, "num-slaves").await.as_deref() == Some("1")
            },
        )
        .await;
    }
    // Sentinel 2 goes away for good (a scale-down from 3 to 2 in this
    // test's terms); the others remember it forever unless reset.
    processes.kill("sentinel-2");
    let target = WatchTarget {
        master_name: MASTER_NAME.into(),
        sentinels: sentinel_ports[..2]
            .iter()
            .map(|p| ("127.0.0.1".to_string(), *p))
            .collect(),
        pods: redis_ports
            .iter()
            .enumerate()
            .map(|(i, p)| (i as i32, "127.0.0.1".to_string(), *p))
            .collect(),
        password: None,
        poll_interval: Duration::from_millis(500),
    };
    let (watcher, mut outputs) = spawn_watcher(target);
    let mut reset = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Output::SentinelReset { sentinel, reason } = next(&mut outputs).await {
            assert_eq!(reason, "it knows 3 sentinels, 2 exist");
            reset.push(sentinel);
        }
        let mut settled = true;
        for port in &sentinel_ports[..2] {
            settled &= sentinel_field(*port, "num-other-sentinels")
                .await
                .as_deref()
                == Some("1")
                && sentinel_field(*port, "num-slaves").await.as_deref() == Some("1");
        }
        if settled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sentinels did not forget the departed one; resets: {reset:?}"
        );
    }
    // Settled: several more rounds bring no further reset.
    let mut polls = 0;
    while polls < 6 {
        match next(&mut outputs).await {
            Output::Pods(_) => polls += 1,
            Output::SentinelReset { sentinel, .. } => {
                panic!("reset of {sentinel} after the counts matched")
            }
            _ => {}
        }
    }
    watcher.abort();
    let mut distinct = reset.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        2,
        "each stale sentinel was reset: {reset:?}"
    );
}
