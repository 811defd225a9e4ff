//! The shipped `start-redis.sh` (taken from the generated ConfigMap) run
//! against real `redis-server` and `redis-sentinel` processes. Pods get
//! their own loopback addresses (127.0.1.10 + ordinal, one shared port), as
//! pods get their own DNS names in a cluster.
//!
//! Checks: ordinal 0 of a brand-new set starts as master and the others as
//! its replicas; a master killed with SIGKILL that restarts with an empty
//! data directory while the sentinels still name it master does NOT start
//! as an (empty) master: it waits for the failover and rejoins as a replica,
//! and no key is lost.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_ha_operator::crd::{RedisHA, RedisHASpec};

const PASSWORD: &str = "bootstrap-secret";
const MASTER_NAME: &str = "cache";
const KEYS: usize = 100;

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("addr").port()
}

fn pod_ip(ordinal: usize) -> String {
    format!("127.0.1.1{ordinal}")
}

/// A script exactly as the operator ships it in the ConfigMap.
fn shipped_script(dir: &Path, name: &str) -> PathBuf {
    let spec: RedisHASpec = serde_json::from_value(serde_json::json!({})).expect("spec");
    let config_map = redis_ha_operator::resources::config_map(&RedisHA::new(MASTER_NAME, spec));
    let script = config_map
        .data
        .as_ref()
        .and_then(|d| d.get(name))
        .expect("script in the ConfigMap");
    let path = dir.join(name);
    std::fs::write(&path, script).expect("write script");
    path
}

struct Cluster {
    dir: tempfile::TempDir,
    // Each shipped script is written once: sh reads a script as it runs,
    // so rewriting it under a starting shell could hand it an empty file.
    script: PathBuf,
    sentinel_script: PathBuf,
    readiness_script: PathBuf,
    /// The pods' `save` directive ("" = no RDB, as a cache).
    save: &'static str,
    redis_port: u16,
    sentinel_ports: Vec<u16>,
    pods: Vec<Option<Child>>,
    sentinels: Vec<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        for child in self
            .pods
            .iter_mut()
            .flatten()
            .chain(self.sentinels.iter_mut())
        {
            signal_group(child, "KILL");
            let _ = child.wait();
        }
    }
}

/// Sends SIGNAL to the process group a script leads: a pod in standby is
/// the script with redis-server as its child, as in a container, where the
/// kubelet signals every process of it.
fn signal_group(child: &Child, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
}

impl Cluster {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Cluster {
            script: shipped_script(dir.path(), "start-redis.sh"),
            sentinel_script: shipped_script(dir.path(), "start-sentinel.sh"),
            readiness_script: shipped_script(dir.path(), "readiness.sh"),
            dir,
            save: "",
            redis_port: free_port(),
            sentinel_ports: vec![free_port(), free_port(), free_port()],
            pods: vec![None, None, None],
            sentinels: Vec::new(),
        }
    }

    fn pod_dir(&self, ordinal: usize, what: &str) -> PathBuf {
        let path = self.dir.path().join(format!("pod-{ordinal}")).join(what);
        std::fs::create_dir_all(&path).expect("pod dir");
        path
    }

    fn start_sentinels(&mut self) {
        for (i, port) in self.sentinel_ports.clone().into_iter().enumerate() {
            let dir = self.dir.path().join(format!("sentinel-{i}"));
            std::fs::create_dir_all(&dir).expect("sentinel dir");
            let config = dir.join("sentinel.conf");
            let text = format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor {MASTER_NAME} {} {} 2\n\
                 sentinel auth-pass {MASTER_NAME} {PASSWORD}\nsentinel down-after-milliseconds {MASTER_NAME} 4000\n\
                 sentinel failover-timeout {MASTER_NAME} 10000\n",
                dir.display(),
                pod_ip(0),
                self.redis_port
            );
            std::fs::write(&config, text).expect("sentinel.conf");
            let child = Command::new("redis-sentinel")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("redis-sentinel");
            self.sentinels.push(child);
        }
        for port in self.sentinel_ports.clone() {
            wait_for("a sentinel to listen", Duration::from_secs(10), || {
                cli("127.0.0.1", port, None, &["PING"]).is_some()
            });
        }
    }

    /// Runs the shipped script for pod `ordinal` with the environment the
    /// StatefulSet gives it; its stderr goes to `pod-N/script.log`.
    fn start_pod(&mut self, ordinal: usize) {
        let config_dir = self.pod_dir(ordinal, "config");
        let data_dir = self.pod_dir(ordinal, "data");
        let conf = format!(
            "port {}\nbind {}\ndir {}\nsave \"{}\"\nappendonly no\n",
            self.redis_port,
            pod_ip(ordinal),
            data_dir.display(),
            self.save
        );
        std::fs::write(config_dir.join("redis.conf"), conf).expect("redis.conf");
        // As the ConfigMap mounts it: spec.replicas for the scripts.
        std::fs::write(config_dir.join("replicas"), "2").expect("replicas");
        let log = std::fs::File::create(self.dir.path().join(format!("pod-{ordinal}/script.log")))
            .expect("log");
        let child = Command::new("sh")
            .arg(&self.script)
            .env("POD_NAME", format!("cache-redis-{ordinal}"))
            .env("POD_NAMESPACE", "test")
            .env("HEADLESS_SERVICE", "cache-redis-headless")
            .env("POD_HOST_TEMPLATE", "127.0.1.1%d")
            .env("SENTINEL_SERVICE", "127.0.0.1")
            .env("SENTINEL_PORT", self.sentinel_ports[0].to_string())
            .env("MASTER_NAME", MASTER_NAME)
            .env("REDIS_PORT", self.redis_port.to_string())
            .env("REDIS_PASSWORD", PASSWORD)
            .env("REDISCLI_AUTH", PASSWORD)
            .env("CONFIG_DIR", &config_dir)
            .env("DATA_DIR", &data_dir)
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("sh start-redis.sh");
        self.pods[ordinal] = Some(child);
    }

    /// Runs the shipped start-sentinel.sh for sentinel `i` (its base
    /// sentinel.conf, as in the ConfigMap but on this test's port).
    fn start_sentinel_script(&mut self, i: usize) {
        let base = self.dir.path().join(format!("sentinel-base-{i}"));
        std::fs::create_dir_all(&base).expect("base dir");
        let conf = format!(
            "port {}\nbind 127.0.0.1\nprotected-mode no\nsentinel resolve-hostnames yes\nsentinel announce-hostnames yes\n",
            self.sentinel_ports[i]
        );
        std::fs::write(base.join("sentinel.conf"), conf).expect("base sentinel.conf");
        std::fs::write(base.join("replicas"), "2").expect("replicas");
        let log =
            std::fs::File::create(self.dir.path().join(format!("sentinel-{i}.log"))).expect("log");
        let child = Command::new("sh")
            .arg(&self.sentinel_script)
            .env("POD_NAME", format!("cache-sentinel-{i}"))
            .env("POD_NAMESPACE", "test")
            .env("SENTINEL_HOST", "127.0.0.1")
            .env("SENTINEL_HEADLESS_SERVICE", "cache-sentinel-headless")
            .env(
                "SENTINEL_DIR",
                self.dir.path().join(format!("sentinel-state-{i}")),
            )
            .env("CONFIG_DIR", &base)
            .env("HEADLESS_SERVICE", "cache-redis-headless")
            .env("REDIS_SET_NAME", "cache-redis")
            .env("POD_HOST_TEMPLATE", "127.0.1.1%d")
            .env("SENTINEL_SERVICE", "127.0.0.1")
            .env("SENTINEL_PORT", self.sentinel_ports[0].to_string())
            .env("MASTER_NAME", MASTER_NAME)
            .env("REDIS_PORT", self.redis_port.to_string())
            .env("REDIS_PASSWORD", PASSWORD)
            .env("QUORUM", "2")
            .env("DOWN_AFTER_MILLISECONDS", "4000")
            .env("FAILOVER_TIMEOUT", "10000")
            .env("PARALLEL_SYNCS", "1")
            .env("POD_WAIT_SECONDS", "10")
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("sh start-sentinel.sh");
        self.sentinels.push(child);
    }

    /// Exit status of the shipped readiness.sh for pod `ordinal`.
    fn ready(&self, ordinal: usize) -> bool {
        Command::new("sh")
            .arg(&self.readiness_script)
            .env("READINESS_HOST", pod_ip(ordinal))
            .env("REDIS_PORT", self.redis_port.to_string())
            .env("REDISCLI_AUTH", PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn kill_sentinels(&mut self) {
        for mut child in self.sentinels.drain(..) {
            signal_group(&child, "KILL");
            let _ = child.wait();
        }
    }

    /// SIGKILL of the pod's processes (a crash: nothing saved).
    fn kill_pod(&mut self, ordinal: usize) {
        if let Some(mut child) = self.pods[ordinal].take() {
            signal_group(&child, "KILL");
            let _ = child.wait();
        }
    }

    /// SIGTERM, as the kubelet stops a pod: redis saves its dump (when
    /// `save` points are set) and exits; waits for the whole pod to end.
    fn stop_pod(&mut self, ordinal: usize) {
        if let Some(mut child) = self.pods[ordinal].take() {
            signal_group(&child, "TERM");
            let _ = child.wait();
            wait_for("the pod's redis to exit", Duration::from_secs(20), || {
                self.redis(ordinal, &["PING"]).is_none()
            });
        }
    }

    fn wipe_data(&self, ordinal: usize) {
        for entry in std::fs::read_dir(self.pod_dir(ordinal, "data"))
            .expect("data dir")
            .flatten()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }

    /// Prints every script's log and each sentinel's state: when a story
    /// fails in CI only the test's output is left to read.
    fn dump_logs(&self) {
        for ordinal in 0..3 {
            eprintln!(
                "==== pod {ordinal} script ====\n{}",
                self.script_log(ordinal)
            );
        }
        for (i, port) in self.sentinel_ports.iter().enumerate() {
            let state = cli(
                "127.0.0.1",
                *port,
                None,
                &["SENTINEL", "master", MASTER_NAME],
            );
            eprintln!(
                "==== sentinel {i} script ====\n{}\n==== sentinel {i} SENTINEL master ====\n{}",
                self.sentinel_log(i),
                state.unwrap_or_default().replace('\n', " ")
            );
        }
    }

    fn sentinel_log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("sentinel-{i}.log")))
            .unwrap_or_default()
    }

    fn masters(&self) -> Vec<usize> {
        (0..3)
            .filter(|o| self.role(*o).as_deref() == Some("master"))
            .collect()
    }

    fn replicates(&self, ordinal: usize, master: usize) -> bool {
        self.redis(ordinal, &["INFO", "replication"])
            .is_some_and(|i| {
                i.contains(&format!("master_host:{}", pod_ip(master)))
                    && i.contains("master_link_status:up")
            })
    }

    fn write_keys(&self, range: std::ops::Range<usize>) {
        for i in range {
            assert_eq!(
                self.redis(0, &["SET", &format!("key:{i}"), &i.to_string()])
                    .as_deref(),
                Some("OK\n")
            );
        }
    }

    fn script_log(&self, ordinal: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("pod-{ordinal}/script.log")))
            .unwrap_or_default()
    }

    fn redis(&self, ordinal: usize, args: &[&str]) -> Option<String> {
        cli(&pod_ip(ordinal), self.redis_port, Some(PASSWORD), args)
    }

    fn sentinel(&self, args: &[&str]) -> Option<String> {
        cli("127.0.0.1", self.sentinel_ports[0], None, args)
    }

    fn role(&self, ordinal: usize) -> Option<String> {
        let info = self.redis(ordinal, &["INFO", "replication"])?;
        info.lines()
            .find_map(|l| l.trim_end().strip_prefix("role:").map(str::to_string))
    }

    fn replica_synced(&self, ordinal: usize) -> bool {
        self.redis(ordinal, &["INFO", "replication"])
            .is_some_and(|info| {
                info.contains("role:slave") && info.contains("master_link_status:up")
            })
    }

    fn sentinel_master_ip(&self) -> Option<String> {
        self.sentinel(&["SENTINEL", "get-master-addr-by-name", MASTER_NAME])?
            .lines()
            .next()
            .map(str::to_string)
    }

    fn sentinel_field(&self, field: &str) -> Option<String> {
        let reply = self.sentinel(&["SENTINEL", "master", MASTER_NAME])?;
        let lines: Vec<&str> = reply.lines().collect();
        lines
            .windows(2)
            .find(|w| w[0] == field)
            .map(|w| w[1].to_string())
    }
}

/// One redis-cli call (`--raw`), None when it fails.
fn cli(host: &str, port: u16, password: Option<&str>, args: &[&str]) -> Option<String> {
    let mut command = Command::new("timeout");
    command
        .args([
            "5",
            "redis-cli",
            "--raw",
            "-h",
            host,
            "-p",
            &port.to_string(),
        ])
        .args(args);
    command.env_remove("REDISCLI_AUTH");
    if let Some(password) = password {
        command.env("REDISCLI_AUTH", password);
    }
    let output = command.stderr(Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    (output.status.success() && !text.starts_with("ERR") && !text.contains("Could not connect"))
        .then_some(text)
}

fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn empty_restarted_master_waits_for_failover_and_rejoins_as_replica() {
    let mut cluster = Cluster::new();
    cluster.start_sentinels();

    // Brand-new set: ordinal 0 becomes master, the others its replicas.
    cluster.start_pod(0);
    wait_for("pod 0 to start as master", Duration::from_secs(30), || {
        cluster.role(0).as_deref() == Some("master")
    });
    // At once, or from standby when it asked before the sentinels listened.
    assert!(
        cluster.script_log(0).contains("(brand-new set"),
        "{}",
        cluster.script_log(0)
    );
    cluster.start_pod(1);
    cluster.start_pod(2);
    for ordinal in [1, 2] {
        wait_for("replica sync", Duration::from_secs(30), || {
            cluster.replica_synced(ordinal)
        });
        let log = cluster.script_log(ordinal);
        assert!(
            log.contains(&format!("starting as replica of {}:", pod_ip(0))),
            "{log}"
        );
    }

    for ordinal in [0, 1, 2] {
        assert!(
            cluster.ready(ordinal),
            "readiness.sh fails for synced pod {ordinal}"
        );
    }
    cluster.write_keys(0..KEYS);
    assert_eq!(
        cluster.redis(0, &["WAIT", "2", "5000"]).as_deref(),
        Some("2\n")
    );
    wait_for(
        "sentinels to see both replicas",
        Duration::from_secs(60),
        || {
            cluster.sentinel_field("num-slaves").as_deref() == Some("2")
                && cluster.sentinel_field("num-other-sentinels").as_deref() == Some("2")
        },
    );

    // The master dies and its pod comes back at once with an empty data
    // directory, before the sentinels noticed (down-after-milliseconds 4000).
    cluster.kill_pod(0);
    cluster.wipe_data(0);
    cluster.start_pod(0);
    assert_eq!(
        cluster.sentinel_master_ip().as_deref(),
        Some(pod_ip(0).as_str()),
        "sentinels still name pod 0"
    );

    // Until the sentinels fail over, pod 0 must never serve as a master.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert_ne!(
            cluster.role(0).as_deref(),
            Some("master"),
            "an empty restarted master came back as master"
        );
        assert!(
            !cluster.ready(0),
            "a pod waiting for the failover is not ready"
        );
        if cluster
            .sentinel_master_ip()
            .is_some_and(|ip| ip != pod_ip(0))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the sentinels did not fail over");
        std::thread::sleep(Duration::from_millis(100));
    }
    let new_master = cluster.sentinel_master_ip().expect("new master");
    let new_ordinal = if new_master == pod_ip(1) { 1 } else { 2 };
    assert_eq!(new_master, pod_ip(new_ordinal));

    wait_for(
        "pod 0 to rejoin as replica",
        Duration::from_secs(60),
        || cluster.replica_synced(0),
    );
    assert!(
        cluster.ready(0),
        "readiness.sh fails for the rejoined, synced pod 0"
    );
    let log = cluster.script_log(0);
    assert!(
        log.contains("its data is gone: waiting for them to fail over"),
        "{log}"
    );
    assert!(
        log.contains(&format!("starting as replica of {new_master}:")),
        "{log}"
    );
    for ordinal in [0, new_ordinal] {
        assert_eq!(
            cluster.redis(ordinal, &["DBSIZE"]).as_deref(),
            Some(format!("{KEYS}\n").as_str()),
            "pod {ordinal} lost keys"
        );
    }
}

/// Bootstraps a set, writes keys, then loses the master and every sentinel
/// at once: both replicas now replicate a dead address and no sentinel
/// knows anything. The shipped start-sentinel.sh must end this in one
/// deterministic master (highest offset, ties by lowest ordinal: pod 1),
/// and the lost master must come back empty as a replica with all keys.
#[test]
fn every_pod_replicating_a_dead_master_ends_with_one_deterministic_master() {
    let mut cluster = Cluster::new();
    cluster.start_sentinels();
    cluster.start_pod(0);
    wait_for("pod 0 to start as master", Duration::from_secs(30), || {
        cluster.role(0).as_deref() == Some("master")
    });
    cluster.start_pod(1);
    cluster.start_pod(2);
    for ordinal in [1, 2] {
        wait_for("replica sync", Duration::from_secs(30), || {
            cluster.replica_synced(ordinal)
        });
    }
    cluster.write_keys(0..KEYS);
    assert_eq!(
        cluster.redis(0, &["WAIT", "2", "5000"]).as_deref(),
        Some("2\n")
    );

    cluster.kill_sentinels();
    cluster.kill_pod(0);
    for ordinal in [1, 2] {
        let info = cluster
            .redis(ordinal, &["INFO", "replication"])
            .expect("replica answers");
        assert!(
            info.contains("role:slave") && info.contains(&format!("master_host:{}", pod_ip(0))),
            "{info}"
        );
    }

    cluster.start_sentinel_script(0);
    wait_for(
        "the first sentinel to choose a master",
        Duration::from_secs(30),
        || cluster.sentinel_master_ip().as_deref() == Some(pod_ip(1).as_str()),
    );
    cluster.start_sentinel_script(1);
    cluster.start_sentinel_script(2);
    let log =
        std::fs::read_to_string(cluster.dir.path().join("sentinel-0.log")).unwrap_or_default();
    assert!(log.contains(&format!("promoting {}", pod_ip(1))), "{log}");
    assert_eq!(cluster.role(1).as_deref(), Some("master"));
    wait_for("pod 2 to follow pod 1", Duration::from_secs(30), || {
        cluster.redis(2, &["INFO", "replication"]).is_some_and(|i| {
            i.contains(&format!("master_host:{}", pod_ip(1))) && i.contains("master_link_status:up")
        })
    });

    // The lost master comes back empty and joins the chosen one.
    cluster.wipe_data(0);
    cluster.start_pod(0);
    wait_for(
        "pod 0 to rejoin as replica",
        Duration::from_secs(60),
        || cluster.replica_synced(0),
    );
    assert!(
        cluster
            .script_log(0)
            .contains(&format!("starting as replica of {}:", pod_ip(1))),
        "{}",
        cluster.script_log(0)
    );
    for ordinal in [0, 1, 2] {
        assert_eq!(
            cluster.redis(ordinal, &["DBSIZE"]).as_deref(),
            Some(format!("{KEYS}\n").as_str()),
            "pod {ordinal} lost keys"
        );
    }
    let masters = (0..3)
        .filter(|o| cluster.role(*o).as_deref() == Some("master"))
        .count();
    assert_eq!(masters, 1, "exactly one master");
}

/// A whole-set restart: every sentinel is lost (their state rebuilt from
/// nothing), every redis pod is stopped, and the master's volume is lost
/// too. Pod 2 stopped last and holds the most data; pod 1 stopped early.
/// Everything starts again at once: the pods come up in standby, the
/// sentinels' start-up promotes the pod with the highest replication offset
/// (pod 2, not ordinal 0) and points the others at it; no key is lost.
/// The brand-new bootstrap at the start goes through the same path (every
/// offset equal: ordinal 0).
#[test]
fn whole_set_restart_promotes_the_pod_with_the_most_data() {
    let mut cluster = Cluster::new();
    cluster.save = "3600 1";
    for ordinal in 0..3 {
        cluster.start_pod(ordinal);
    }
    for i in 0..3 {
        cluster.start_sentinel_script(i);
    }
    wait_for("a brand-new set to form", Duration::from_secs(60), || {
        cluster.masters() == [0] && cluster.replicates(1, 0) && cluster.replicates(2, 0)
    });
    for ordinal in 1..3 {
        let log = cluster.script_log(ordinal);
        assert!(log.contains("starting in standby"), "{log}");
    }
    cluster.write_keys(0..KEYS);
    assert_eq!(
        cluster.redis(0, &["WAIT", "2", "5000"]).as_deref(),
        Some("2\n")
    );

    // The sentinels go first (nobody fails over), then pod 1; more writes
    // reach only pod 2; then pod 2 and the master stop, and the master's
    // volume is lost.
    cluster.kill_sentinels();
    cluster.stop_pod(1);
    cluster.write_keys(KEYS..KEYS + 50);
    assert_eq!(
        cluster.redis(0, &["WAIT", "1", "5000"]).as_deref(),
        Some("1\n")
    );
    cluster.stop_pod(2);
    cluster.stop_pod(0);
    cluster.wipe_data(0);

    for ordinal in 0..3 {
        cluster.start_pod(ordinal);
    }
    for i in 0..3 {
        cluster.start_sentinel_script(i);
    }
    wait_for(
        "pod 2 to be the only master",
        Duration::from_secs(60),
        || cluster.masters() == [2] && cluster.replicates(0, 2) && cluster.replicates(1, 2),
    );
    let promoted = (0..3).any(|i| {
        cluster
            .sentinel_log(i)
            .contains(&format!("promoting {}", pod_ip(2)))
    });
    assert!(promoted, "{}", cluster.sentinel_log(0));
    wait_for(
        "the sentinels to name pod 2",
        Duration::from_secs(30),
        || cluster.sentinel_master_ip().as_deref() == Some(pod_ip(2).as_str()),
    );
    for ordinal in 0..3 {
        assert_eq!(
            cluster.redis(ordinal, &["DBSIZE"]).as_deref(),
            Some(format!("{}\n", KEYS + 50).as_str()),
            "pod {ordinal} lost keys"
        );
    }
}

/// A pod that asks before any sentinel listens starts in standby; when the
/// sentinels then name it master (their static bootstrap config), it takes
/// the role by the start-up rule (brand-new set), and a later pod follows it.
#[test]
fn a_pod_started_before_the_sentinels_takes_the_role_they_name() {
    let mut cluster = Cluster::new();
    cluster.start_pod(0);
    wait_for("pod 0 in standby", Duration::from_secs(30), || {
        cluster.script_log(0).contains("starting in standby")
            && cluster.role(0).as_deref() == Some("slave")
    });
    cluster.start_sentinels();
    wait_for(
        "pod 0 to take the master role",
        Duration::from_secs(30),
        || cluster.role(0).as_deref() == Some("master"),
    );
    let log = cluster.script_log(0);
    assert!(
        log.contains("the sentinels name this pod master: taking the role (brand-new set"),
        "{log}"
    );
    cluster.start_pod(1);
    wait_for("pod 1 to replicate pod 0", Duration::from_secs(30), || {
        cluster.replicates(1, 0)
    });
    assert_eq!(cluster.masters(), [0]);
}
