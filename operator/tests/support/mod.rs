//! Real Debian `redis-server` / `redis-sentinel` processes for the
//! operator's tests against live sentinels (watcher, roll switchover).
#![allow(dead_code)] // each test binary uses a different part

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis_ha_operator::failover::Output;
use tokio::time::{timeout, Instant};

pub const MASTER_NAME: &str = "mymaster";

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// Child processes killed (SIGKILL) and reaped on drop.
pub struct Processes(pub Vec<(String, Child)>);

impl Processes {
    pub fn spawn(&mut self, name: &str, command: &mut Command) {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name}: {err}"));
        self.0.push((name.to_string(), child));
    }

    /// SIGTERM (as the kubelet stops a pod), waits for the exit and forgets
    /// the process, so `name` can be spawned again.
    pub fn stop(&mut self, name: &str) {
        if let Some(index) = self.0.iter().position(|(n, _)| n == name) {
            let (_, mut child) = self.0.remove(index);
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    pub fn kill(&mut self, name: &str) {
        if let Some((_, child)) = self.0.iter_mut().find(|(n, _)| n == name) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn redis_server(dir: &Path, port: u16, replica_of: Option<u16>) -> Command {
    let mut command = Command::new("redis-server");
    command.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]);
    command.arg("--dir").arg(dir);
    if let Some(master) = replica_of {
        command.args(["--replicaof", "127.0.0.1", &master.to_string()]);
    }
    command
}

pub fn sentinel(dir: &Path, port: u16, master_port: u16) -> Command {
    let config = dir.join("sentinel.conf");
    let text = format!(
        "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
         sentinel down-after-milliseconds {MASTER_NAME} 3000\nsentinel failover-timeout {MASTER_NAME} 10000\n\
         sentinel parallel-syncs {MASTER_NAME} 1\n",
        dir.display()
    );
    std::fs::write(&config, text).expect("write sentinel.conf");
    let mut command = Command::new("redis-sentinel");
    command.arg(config);
    command
}

pub async fn query(port: u16, args: &[&str]) -> Option<redis::Value> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
    let work = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query_async::<redis::Value>(&mut conn).await
    };
    timeout(Duration::from_secs(2), work).await.ok()?.ok()
}

pub fn count_entries(value: &Option<redis::Value>) -> usize {
    match value {
        Some(redis::Value::Array(items)) => items.len(),
        _ => 0,
    }
}

/// Polls `condition` every 200 ms for up to `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn next(outputs: &mut tokio::sync::mpsc::Receiver<Output>) -> Output {
    let output = timeout(Duration::from_secs(60), outputs.recv()).await;
    output
        .expect("watcher output in time")
        .expect("watcher alive")
}

pub async fn info_field(port: u16, field: &str) -> Option<String> {
    let text = match query(port, &["INFO", "replication"]).await? {
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).to_string(),
        redis::Value::VerbatimString { text, .. } => text,
        _ => return None,
    };
    text.lines().find_map(|l| {
        l.trim_end()
            .strip_prefix(field)?
            .strip_prefix(':')
            .map(str::to_string)
    })
}

/// Field `name` of `SENTINEL MASTER` on one sentinel.
pub async fn sentinel_field(port: u16, name: &str) -> Option<String> {
    let Some(redis::Value::Array(items)) = query(port, &["SENTINEL", "MASTER", MASTER_NAME]).await
    else {
        return None;
    };
    let text: Vec<String> = items
        .iter()
        .map(|v| match v {
            redis::Value::BulkString(b) => String::from_utf8_lossy(b).to_string(),
            _ => String::new(),
        })
        .collect();
    text.chunks(2)
        .find(|pair| pair[0] == name)
        .and_then(|pair| pair.get(1).cloned())
}
