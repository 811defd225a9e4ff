//! `redis-ha up`: the whole HA set as local processes. Starts the set,
//! writes through the master, kills the master with `redis-ha kill-master`,
//! and checks that the sentinels promote a replica, the data survives, the
//! old master comes back as a replica, and Ctrl-C (SIGTERM) stops everything.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{Client, ScratchDir};

fn ha_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_redis-ha"))
}

/// A first port of `n` consecutive ports that are all free right now. The
/// range stays below Linux's ephemeral ports (32768 and up): a killed node's
/// port must still be free when it is restarted, and ephemeral ports are
/// handed to other tests' `bind(0)` and outgoing connections meanwhile.
fn free_port_range(n: u16) -> u16 {
    for attempt in 0..200u32 {
        let base = 20000 + ((std::process::id() * 7919 + attempt * 104729) % 12000) as u16;
        let listeners: Vec<_> = (0..n)
            .map_while(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if listeners.len() == usize::from(n) {
            return base;
        }
    }
    panic!("no range of {n} free ports");
}

/// The running `redis-ha up`, its stdout lines delivered through a channel.
struct Set {
    child: Child,
    dir: PathBuf,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Set {
    fn start(dir: &Path, node_bin: &Path, port: u16, sentinel_port: u16) -> Set {
        let mut child = Command::new(ha_binary())
            .args(["up", "--dir"])
            .arg(dir)
            .args(["--port", &port.to_string()])
            .args(["--sentinel-port", &sentinel_port.to_string()])
            .args(["--down-after-ms", "1000", "--failover-timeout-ms", "4000"])
            .arg("--node-bin")
            .arg(node_bin)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start redis-ha up");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Set {
            child,
            dir: dir.to_path_buf(),
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line containing `needle`.
    fn wait_line(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("redis-ha up exited with {status}; saw {:?}", self.seen);
            }
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
        }
        panic!("no line with {needle:?} in time; saw {:?}", self.seen);
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        support::wait_exit(&mut self.child, Duration::from_secs(30))
    }
}

impl Drop for Set {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
        if std::thread::panicking() {
            dump_logs(&self.dir);
        }
    }
}

/// Prints the tail of every log file of the set: when a story fails in CI
/// only the test's output is left to read.
fn dump_logs(dir: &Path) {
    let Ok(members) = std::fs::read_dir(dir) else {
        return;
    };
    for member in members.flatten() {
        for name in ["redis.log", "sentinel.log"] {
            let path = member.path().join(name);
            if let Ok(text) = std::fs::read_to_string(&path) {
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(60)..];
                eprintln!("==== {} ====\n{}", path.display(), tail.join("\n"));
            }
        }
    }
}

fn ha_cli(args: &[&str]) -> String {
    let out = Command::new(ha_binary())
        .args(args)
        .output()
        .expect("run redis-ha");
    assert!(
        out.status.success(),
        "redis-ha {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn role_of(port: u16) -> Option<String> {
    let mut c = Client::connect(port).ok()?;
    let info = c.cmd(&["INFO", "replication"]).ok()?;
    let text = info.as_str()?.to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("role:"))
        .map(|r| r.trim().to_string())
}

fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

fn failover_story(node_bin: &Path, tag: &str) {
    let scratch = ScratchDir::new(tag);
    let dir = scratch.0.join("set");
    let port = free_port_range(6);
    let sentinel_port = port + 3;
    let mut set = Set::start(&dir, node_bin, port, sentinel_port);
    set.wait_line("redis-ha: ready", Duration::from_secs(90));
    assert_eq!(role_of(port).as_deref(), Some("master"));
    assert_eq!(role_of(port + 1).as_deref(), Some("slave"));

    let mut master = Client::connect(port).expect("connect to the master");
    for i in 0..100 {
        let r = master
            .cmd(&["SET", &format!("key:{i}"), &i.to_string()])
            .unwrap();
        assert_eq!(r.as_str(), Some("OK"));
    }
    // WAIT makes the writes acknowledged by both replicas before the kill.
    let acked = master.cmd(&["WAIT", "2", "5000"]).unwrap();
    assert_eq!(acked.as_int(), Some(2));

    let sentinel = format!("127.0.0.1:{sentinel_port}");
    let status = ha_cli(&["status", "--sentinel", &sentinel]);
    assert!(
        status.contains(&format!("master 127.0.0.1:{port}")),
        "{status}"
    );
    let killed = ha_cli(&["kill-master", "--sentinel", &sentinel]);
    assert!(killed.contains(&format!("127.0.0.1:{port}")), "{killed}");

    let changed = set.wait_line("master changed", Duration::from_secs(60));
    let new_port: u16 = changed
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("unparsable line {changed:?}"));
    assert_ne!(new_port, port);
    let mut new_master = Client::connect(new_port).expect("connect to the new master");
    for i in 0..100 {
        let v = new_master.cmd(&["GET", &format!("key:{i}")]).unwrap();
        assert_eq!(v.as_str(), Some(i.to_string().as_str()), "key:{i} lost");
    }
    // The killed master is restarted as a replica of the new one.
    set.wait_line(
        &format!("restarted port {port} as a replica"),
        Duration::from_secs(60),
    );
    wait_until(Duration::from_secs(60), "the old master to sync", || {
        Client::connect(port)
            .ok()
            .and_then(|mut c| c.cmd(&["GET", "key:99"]).ok())
            .and_then(|f| f.as_str().map(str::to_string))
            .as_deref()
            == Some("99")
    });
    assert_eq!(role_of(port).as_deref(), Some("slave"));

    let status = set.terminate();
    assert!(status.success(), "redis-ha up exited with {status}");
    for p in [port, port + 1, port + 2, sentinel_port, sentinel_port + 2] {
        assert!(
            Client::connect(p).is_err(),
            "port {p} still served after redis-ha stopped"
        );
    }
}

#[test]
fn up_with_real_redis_fails_over_and_stops_cleanly() {
    if !support::have_real_redis() {
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    failover_story(&support::redis_server_binary(), "ha-up-real");
}

#[test]
fn up_refuses_bad_options_and_an_existing_dir() {
    let scratch = ScratchDir::new("ha-up-bad");
    let out = Command::new(ha_binary())
        .args(["up", "--quorum", "5", "--dir"])
        .arg(scratch.0.join("x"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("quorum must be between 1"));
    let out = Command::new(ha_binary())
        .args(["up", "--port", "notaport"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid number"));
    // An existing directory is another set's state: not overwritten.
    let out = Command::new(ha_binary())
        .args(["up", "--node-bin"])
        .arg(support::our_binary())
        .arg("--dir")
        .arg(&scratch.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn up_with_our_node_fails_over_and_stops_cleanly() {
    failover_story(&support::our_binary(), "ha-up-ours");
}
