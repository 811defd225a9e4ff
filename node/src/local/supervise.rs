//! Starts the processes of a local HA set, waits until the set is whole,
//! restarts members that die (a data node comes back as a replica of the
//! master the sentinels report, never as a stale master), reports each
//! change of master, and stops everything on SIGINT/SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::layout::{self, Member, Role, SetOptions};
use super::probe;

/// Set by the signal handler; the supervision loop polls it.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    let handler = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// How long the set may take to come up before `up` gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// A dead member is restarted after this pause (long enough for the
/// sentinels to notice a dead master and fail over first).
const RESTART_DELAY: Duration = Duration::from_secs(3);

struct Process {
    member: Member,
    child: Option<Child>,
    died_at: Option<Instant>,
}

/// Everything `up` needs besides the set's shape.
pub struct UpOptions {
    pub set: SetOptions,
    pub node_bin: PathBuf,
    pub keep: bool,
    pub restart: bool,
}

pub fn up(opts: UpOptions) -> Result<(), String> {
    layout::validate(&opts.set)?;
    let members = layout::members(&opts.set);
    layout::write_files(&members, &opts.set.dir, opts.keep)?;
    install_signal_handlers();
    let mut procs: Vec<Process> = Vec::new();
    for m in members {
        let child = spawn(&opts.node_bin, &m, None)?;
        procs.push(Process {
            member: m,
            child: Some(child),
            died_at: None,
        });
    }
    let result = wait_ready(&opts.set, &mut procs).map(|_| {
        print_summary(&opts.set);
        supervise(&opts, &mut procs);
    });
    stop_all(&mut procs);
    result
}

fn spawn(bin: &Path, m: &Member, replicaof: Option<(String, u16)>) -> Result<Child, String> {
    let config = std::fs::canonicalize(m.config_path())
        .map_err(|e| format!("{}: {e}", m.config_path().display()))?;
    let stderr = std::fs::File::create(m.dir.join("stderr.log"))
        .map_err(|e| format!("{}: {e}", m.dir.display()))?;
    let mut cmd = Command::new(bin);
    cmd.arg(&config);
    if m.role == Role::Sentinel {
        cmd.arg("--sentinel");
    }
    if let Some((host, port)) = replicaof {
        cmd.args(["--replicaof", &host, &port.to_string()]);
    }
    cmd.current_dir(&m.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    // SAFETY: prctl is async-signal-safe; it makes the kernel stop the
    // child if this supervisor dies without cleaning up (kill -9).
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| format!("starting {} for port {}: {e}", bin.display(), m.port))
}

fn sentinel_addrs(set: &SetOptions) -> Vec<(String, u16)> {
    (0..set.sentinels)
        .map(|i| ("127.0.0.1".to_string(), set.sentinel_port + i))
        .collect()
}

/// What is still missing before the set counts as up, or None when whole.
fn missing_piece(set: &SetOptions) -> Option<String> {
    let host = "127.0.0.1";
    for i in 0..=set.replicas {
        let port = set.port + i;
        let info = match probe::info(host, port, "replication") {
            Ok(i) => i,
            Err(e) => return Some(format!("data node {port}: {e}")),
        };
        if i > 0 && probe::info_field(&info, "master_link_status") != Some("up") {
            return Some(format!("replica {port}: link to the master not up yet"));
        }
    }
    for (h, p) in sentinel_addrs(set) {
        let field = |name| {
            probe::sentinel_master_field(&h, p, &set.master_name, name)
                .ok()
                .and_then(|v| v.parse::<u16>().ok())
        };
        match field("num-other-sentinels") {
            Some(n) if n + 1 >= set.sentinels => {}
            _ => return Some(format!("sentinel {p}: has not met the other sentinels yet")),
        }
        // A sentinel learns replicas from the master's INFO, which it asks
        // for only every 10 s; a master lost before that has no replica
        // to promote (-failover-abort-no-good-slave).
        match field("num-slaves") {
            Some(n) if n >= set.replicas => {}
            _ => return Some(format!("sentinel {p}: does not know every replica yet")),
        }
    }
    None
}

fn wait_ready(set: &SetOptions, procs: &mut [Process]) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last = String::new();
    loop {
        if STOP.load(Ordering::SeqCst) {
            return Err("interrupted while starting".into());
        }
        for p in procs.iter_mut() {
            if let Some(Ok(Some(status))) = p.child.as_mut().map(Child::try_wait) {
                return Err(format!(
                    "the process for port {} exited during start-up ({status}); see {}",
                    p.member.port,
                    p.member.dir.display()
                ));
            }
        }
        match missing_piece(set) {
            None => return Ok(()),
            Some(what) => {
                if Instant::now() > deadline {
                    return Err(format!("the set did not come up in time: {what}"));
                }
                if what != last {
                    eprintln!("redis-ha: waiting: {what}");
                    last = what;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn print_summary(set: &SetOptions) {
    println!("redis-ha: the HA set is up in {}", set.dir.display());
    println!("  master    127.0.0.1:{}", set.port);
    for i in 1..=set.replicas {
        println!("  replica   127.0.0.1:{}", set.port + i);
    }
    for (_, p) in sentinel_addrs(set) {
        println!("  sentinel  127.0.0.1:{p}");
    }
    println!(
        "Clients find the master through the sentinels: redis-cli -p {} SENTINEL get-master-addr-by-name {}",
        set.sentinel_port, set.master_name
    );
    println!("Try `redis-ha kill-master` in another terminal; Ctrl-C stops the set.");
    println!("redis-ha: ready");
}

fn supervise(opts: &UpOptions, procs: &mut [Process]) {
    let sentinels = sentinel_addrs(&opts.set);
    let mut master = probe::discover_master(&sentinels, &opts.set.master_name).ok();
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(250));
        if let Ok(now) = probe::discover_master(&sentinels, &opts.set.master_name) {
            if master.as_ref() != Some(&now) {
                let old = master
                    .as_ref()
                    .map(|(h, p)| format!("{h}:{p}"))
                    .unwrap_or_else(|| "?".into());
                println!("redis-ha: master changed: {old} -> {}:{}", now.0, now.1);
                master = Some(now);
            }
        }
        for p in procs.iter_mut() {
            reap_and_restart(opts, p, master.clone());
        }
    }
}

fn reap_and_restart(opts: &UpOptions, p: &mut Process, master: Option<(String, u16)>) {
    if let Some(child) = p.child.as_mut() {
        if let Ok(Some(status)) = child.try_wait() {
            println!(
                "redis-ha: the process on port {} exited ({status})",
                p.member.port
            );
            p.child = None;
            p.died_at = Some(Instant::now());
        }
        return;
    }
    let Some(died) = p.died_at else { return };
    if !opts.restart || died.elapsed() < RESTART_DELAY {
        return;
    }
    // A data node rejoins as a replica of the master the sentinels report,
    // so a former master never comes back as a second (stale) master.
    let replicaof = match p.member.role {
        Role::Sentinel => None,
        Role::Master | Role::Replica => match master {
            Some((h, port)) if port != p.member.port => Some((h, port)),
            // The sentinels still name this dead node: wait for the failover.
            _ => return,
        },
    };
    match spawn(&opts.node_bin, &p.member, replicaof.clone()) {
        Ok(child) => {
            let how = replicaof
                .map(|(h, port)| format!(" as a replica of {h}:{port}"))
                .unwrap_or_default();
            println!("redis-ha: restarted port {}{how}", p.member.port);
            p.child = Some(child);
            p.died_at = None;
        }
        Err(e) => {
            eprintln!("redis-ha: {e}");
            p.died_at = Some(Instant::now());
        }
    }
}

fn stop_all(procs: &mut [Process]) {
    for p in procs.iter_mut() {
        if let Some(child) = &p.child {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for p in procs.iter_mut() {
        let Some(child) = p.child.as_mut() else {
            continue;
        };
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    println!("redis-ha: stopped");
}

/// `redis-ha status`: the master each sentinel reports and every data
/// node's role, offset and link.
pub fn status(sentinels: &[(String, u16)], name: &str) -> Result<String, String> {
    let mut out = String::new();
    for (h, p) in sentinels {
        let line = match probe::sentinel_master(h, *p, name) {
            Ok((mh, mp)) => {
                let epoch = probe::sentinel_master_field(h, *p, name, "config-epoch")
                    .unwrap_or_else(|_| "?".into());
                format!("sentinel {h}:{p}: master {mh}:{mp} (config-epoch {epoch})")
            }
            Err(e) => format!("sentinel {h}:{p}: {e}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    let (mh, mp) = probe::discover_master(sentinels, name)?;
    out.push_str(&node_line(&mh, mp));
    let info = probe::info(&mh, mp, "replication")?;
    for line in info.lines().filter(|l| l.starts_with("slave")) {
        let Some((_, fields)) = line.split_once(':') else {
            continue;
        };
        let get = |k: &str| {
            fields
                .split(',')
                .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
        };
        if let (Some(ip), Some(Ok(port))) = (get("ip"), get("port").map(str::parse::<u16>)) {
            out.push_str(&node_line(ip, port));
        }
    }
    Ok(out)
}

fn node_line(host: &str, port: u16) -> String {
    match probe::info(host, port, "replication") {
        Ok(info) => {
            let role = probe::info_field(&info, "role").unwrap_or("?");
            let offset = probe::info_field(&info, "master_repl_offset").unwrap_or("?");
            let link = probe::info_field(&info, "master_link_status")
                .map(|l| format!(" link {l}"))
                .unwrap_or_default();
            format!("node {host}:{port}: {role} offset {offset}{link}\n")
        }
        Err(e) => format!("node {host}:{port}: down ({e})\n"),
    }
}

/// `redis-ha kill-master`: kill -9 of the master the sentinels report, on
/// this machine only (the pid comes from its INFO server).
pub fn kill_master(sentinels: &[(String, u16)], name: &str) -> Result<String, String> {
    let (host, port) = probe::discover_master(sentinels, name)?;
    let is_local = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if !is_local {
        return Err(format!(
            "the master {host}:{port} is not on this machine; refusing to kill it"
        ));
    }
    let info = probe::info(&host, port, "server")?;
    let pid: libc::pid_t = probe::info_field(&info, "process_id")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("{host}:{port}: no process_id in INFO server"))?;
    // SAFETY: kill(2) with a pid read from the instance itself.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    if rc != 0 {
        return Err(format!(
            "kill -9 {pid}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(format!(
        "killed the master {host}:{port} (pid {pid}) with SIGKILL"
    ))
}
