//! Helpers for the sentinel suites: data nodes (Debian redis-server until
//! our replication lands), our sentinels and real redis-sentinel processes,
//! all on 127.0.0.1 with free ports, killed on drop.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_ha_node::resp::Frame;

use crate::support::{free_port, our_binary, redis_server_binary, Client, ScratchDir};

pub const MASTER_NAME: &str = "mymaster";

/// Polls `f` every 100 ms until it returns Some or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub const LONG: Duration = Duration::from_secs(40);

fn wait_ping(port: u16, child: &mut Child, what: &str) {
    let ok = wait_for(Duration::from_secs(15), || {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{what} on port {port} exited early: {st}");
        }
        let mut c = Client::connect(port).ok()?;
        match c.cmd(&["PING"]).ok()? {
            Frame::Simple(s) if s == b"PONG" => Some(()),
            Frame::Error(e) if e.starts_with(b"NOAUTH") => Some(()),
            _ => None,
        }
    });
    assert!(ok.is_some(), "{what} on port {port} did not answer PING");
}

/// A Debian redis-server data node that can be killed and restarted on
/// the same port.
pub struct DataNode {
    pub kind: Kind,
    pub port: u16,
    pub dir: ScratchDir,
    pub child: Option<Child>,
    pub replicaof: Option<u16>,
    /// Extra command-line arguments for the next spawn.
    pub extra: Vec<String>,
}

impl DataNode {
    pub fn start(replicaof: Option<u16>) -> DataNode {
        DataNode::start_kind(Kind::Real, replicaof)
    }

    /// Our node (Kind::Ours) or Debian's redis-server (Kind::Real).
    pub fn start_kind(kind: Kind, replicaof: Option<u16>) -> DataNode {
        let mut n = DataNode {
            kind,
            port: free_port(),
            dir: ScratchDir::new("sentinel-data"),
            child: None,
            replicaof,
            extra: Vec::new(),
        };
        n.spawn();
        n
    }

    pub fn spawn(&mut self) {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.0.join("server.log"))
            .expect("log file");
        let mut cmd = Command::new(match self.kind {
            Kind::Ours => our_binary(),
            Kind::Real => redis_server_binary(),
        });
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(&self.dir.0)
            .arg("--save")
            .arg("")
            .arg("--repl-diskless-sync-delay")
            .arg("0");
        if let Some(m) = self.replicaof {
            cmd.arg("--replicaof").arg("127.0.0.1").arg(m.to_string());
        }
        cmd.args(&self.extra);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        let mut child = cmd.spawn().expect("start redis-server (is it installed?)");
        wait_ping(self.port, &mut child, "redis-server");
        self.child = Some(child);
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn signal(&self, sig: libc::c_int) {
        if let Some(c) = &self.child {
            // SAFETY: kill() on the pid of a child we own.
            unsafe {
                libc::kill(c.id() as libc::pid_t, sig);
            }
        }
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port).expect("connect to data node")
    }

    /// `role:` and `master_port:` from INFO replication.
    pub fn role(&self) -> Option<(String, Option<u16>)> {
        let mut c = Client::connect(self.port).ok()?;
        c.stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .ok()?;
        let info = c.cmd(&["INFO", "replication"]).ok()?;
        let text = info.as_str()?.to_string();
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
        };
        Some((
            field("role:")?,
            field("master_port:").and_then(|p| p.parse().ok()),
        ))
    }

    /// `master_link_status:up` on a replica.
    pub fn link_up(&self) -> bool {
        let Ok(mut c) = Client::connect(self.port) else {
            return false;
        };
        c.cmd(&["INFO", "replication"])
            .ok()
            .and_then(|f| f.as_str().map(|s| s.contains("master_link_status:up")))
            .unwrap_or(false)
    }
}

impl Drop for DataNode {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        self.kill9();
    }
}

/// Which sentinel implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ours,
    Real,
}

pub struct SentinelProc {
    pub kind: Kind,
    pub port: u16,
    pub dir: ScratchDir,
    pub conf: PathBuf,
    pub child: Option<Child>,
}

/// The sentinel.conf used by the suites: small timeouts so failovers are quick.
pub fn sentinel_conf(port: u16, master_port: u16, quorum: u32, extra: &str) -> String {
    format!(
        "port {port}\nbind 127.0.0.1\nsentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} {quorum}\n\
         sentinel down-after-milliseconds {MASTER_NAME} 1000\nsentinel failover-timeout {MASTER_NAME} 6000\n{extra}"
    )
}

impl SentinelProc {
    pub fn start(kind: Kind, master_port: u16, quorum: u32, extra: &str) -> SentinelProc {
        let port = free_port();
        let dir = ScratchDir::new("sentinel");
        let conf = dir.0.join("sentinel.conf");
        std::fs::write(&conf, sentinel_conf(port, master_port, quorum, extra)).expect("write conf");
        let mut s = SentinelProc {
            kind,
            port,
            dir,
            conf,
            child: None,
        };
        s.spawn();
        s
    }

    pub fn spawn(&mut self) {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.0.join("sentinel.log"))
            .expect("log file");
        let mut cmd = match self.kind {
            Kind::Ours => {
                let mut c = Command::new(our_binary());
                c.arg("--sentinel");
                c
            }
            Kind::Real => Command::new("redis-sentinel"),
        };
        cmd.arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        let mut child = cmd.spawn().expect("start sentinel");
        wait_ping(self.port, &mut child, "sentinel");
        self.child = Some(child);
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn client(&self) -> Client {
        let c = Client::connect(self.port).expect("connect to sentinel");
        c.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        c
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("sentinel.log")).unwrap_or_default()
    }

    pub fn config(&self) -> String {
        std::fs::read_to_string(&self.conf).unwrap_or_default()
    }

    /// SENTINEL GET-MASTER-ADDR-BY-NAME.
    pub fn master_port(&self) -> Option<u16> {
        let mut c = Client::connect(self.port).ok()?;
        c.stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .ok()?;
        let f = c
            .cmd(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME])
            .ok()?;
        f.items()?.get(1)?.as_str()?.parse().ok()
    }

    /// One field of SENTINEL MASTER.
    pub fn master_field(&self, field: &str) -> Option<String> {
        let mut c = Client::connect(self.port).ok()?;
        c.stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .ok()?;
        record_field(&c.cmd(&["SENTINEL", "MASTER", MASTER_NAME]).ok()?, field)
    }

    /// How many other sentinels and replicas it knows.
    pub fn knows(&self) -> Option<(usize, usize)> {
        let s = self.master_field("num-other-sentinels")?.parse().ok()?;
        let r = self.master_field("num-slaves")?.parse().ok()?;
        Some((s, r))
    }
}

impl Drop for SentinelProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A field of a flat field/value record.
pub fn record_field(f: &Frame, field: &str) -> Option<String> {
    let items = f.items()?;
    items
        .chunks(2)
        .find(|kv| kv[0].as_str() == Some(field))
        .and_then(|kv| kv.get(1)?.as_str().map(str::to_string))
}

/// The field names of a flat record, in order.
pub fn record_fields(f: &Frame) -> Vec<String> {
    f.items()
        .map(|items| {
            items
                .chunks(2)
                .filter_map(|kv| kv[0].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Master + 2 replicas (redis-server) and `n` of our sentinels that know
/// each other and both replicas.
pub struct Group {
    pub nodes: Vec<DataNode>,
    pub sentinels: Vec<SentinelProc>,
}

impl Group {
    pub fn start(kinds: &[Kind], quorum: u32) -> Group {
        Group::start_with(Kind::Real, kinds, quorum)
    }

    /// Data nodes of `data` kind, sentinels of `kinds`.
    pub fn start_with(data: Kind, kinds: &[Kind], quorum: u32) -> Group {
        let master = DataNode::start_kind(data, None);
        let mport = master.port;
        let r1 = DataNode::start_kind(data, Some(mport));
        let r2 = DataNode::start_kind(data, Some(mport));
        let sentinels: Vec<SentinelProc> = kinds
            .iter()
            .map(|k| SentinelProc::start(*k, mport, quorum, ""))
            .collect();
        let g = Group {
            nodes: vec![master, r1, r2],
            sentinels,
        };
        g.wait_discovery();
        g
    }

    pub fn wait_discovery(&self) {
        let n = self.sentinels.len();
        for s in &self.sentinels {
            let ok = wait_for(LONG, || {
                let (others, replicas) = s.knows()?;
                (others == n - 1 && replicas == 2).then_some(())
            });
            assert!(
                ok.is_some(),
                "sentinel {} did not discover the group:\n{}",
                s.port,
                s.log()
            );
        }
        // Replicas must be synced, and seen so by every sentinel, before a
        // failover can pick one.
        for r in &self.nodes[1..] {
            assert!(
                wait_for(LONG, || r.link_up().then_some(())).is_some(),
                "replica not synced"
            );
        }
        for s in &self.sentinels {
            let ok = wait_for(LONG, || {
                let mut c = Client::connect(s.port).ok()?;
                let f = c.cmd(&["SENTINEL", "REPLICAS", MASTER_NAME]).ok()?;
                let all_ok = f.items()?.iter().all(|r| {
                    record_field(r, "master-link-status").as_deref() == Some("ok")
                        && record_field(r, "flags").as_deref() == Some("slave")
                });
                all_ok.then_some(())
            });
            assert!(
                ok.is_some(),
                "sentinel {} does not see synced replicas",
                s.port
            );
        }
        // And every sentinel is connected to the others.
        for s in &self.sentinels {
            let ok = wait_for(LONG, || {
                let mut c = Client::connect(s.port).ok()?;
                let f = c.cmd(&["SENTINEL", "SENTINELS", MASTER_NAME]).ok()?;
                let all_ok = f
                    .items()?
                    .iter()
                    .all(|r| record_field(r, "flags").as_deref() == Some("sentinel"));
                all_ok.then_some(())
            });
            assert!(
                ok.is_some(),
                "sentinel {} is not connected to its peers",
                s.port
            );
        }
    }

    pub fn node_by_port(&self, port: u16) -> Option<&DataNode> {
        self.nodes.iter().find(|n| n.port == port)
    }

    /// Waits until every live sentinel reports a master other than
    /// `old`, and all report the same one.
    pub fn wait_new_master(&self, old: u16) -> u16 {
        let live: Vec<&SentinelProc> = self
            .sentinels
            .iter()
            .filter(|s| s.child.is_some())
            .collect();
        let got = wait_for(Duration::from_secs(60), || {
            let ports: Vec<u16> = live
                .iter()
                .map(|s| s.master_port())
                .collect::<Option<_>>()?;
            (ports[0] != old && ports.iter().all(|p| *p == ports[0])).then_some(ports[0])
        });
        match got {
            Some(p) => p,
            None => {
                let logs: Vec<String> = live.iter().map(|s| s.log()).collect();
                panic!(
                    "sentinels did not agree on a new master:\n{}",
                    logs.join("\n-----\n")
                );
            }
        }
    }
}
