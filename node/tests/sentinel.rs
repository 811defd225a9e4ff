//! Sentinel mode against real processes: failovers with Debian
//! redis-server data nodes (our replication is not merged yet), our
//! sentinels alone and mixed with real redis-sentinel, client libraries,
//! quorum edge cases and bad input.

mod sentinel_support;
mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis_ha_node::resp::Frame;
use sentinel_support::*;
use support::{have_real_redis, Client};

fn bulk_text(f: &Frame) -> String {
    f.as_str().unwrap_or_default().to_string()
}

fn err_text(f: &Frame) -> String {
    match f {
        Frame::Error(e) => String::from_utf8_lossy(e).into_owned(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Writes INCR to whatever master the sentinels report, counting acks.
fn start_writer(
    sentinel_port: u16,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok(mut s) = Client::connect(sentinel_port) else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let Some(port) = s
                .cmd(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME])
                .ok()
                .and_then(|f| f.items()?.get(1)?.as_str()?.parse::<u16>().ok())
            else {
                continue;
            };
            let Ok(mut c) = Client::connect(port) else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let _ = c.stream.set_read_timeout(Some(Duration::from_millis(500)));
            while !stop.load(Ordering::Relaxed) {
                match c.cmd(&["INCR", "counter"]) {
                    Ok(Frame::Integer(_)) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => break,
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    })
}

#[test]
fn kill_master_promotes_replica_and_old_master_rejoins() {
    if !have_real_redis() {
        return;
    }
    full_story(Kind::Real);
}

/// The whole story with our processes only: our master, 2 of our
/// replicas, 3 of our sentinels.
#[test]
fn full_story_with_our_processes_only() {
    full_story(Kind::Ours);
}

fn full_story(data: Kind) {
    let mut g = Group::start_with(data, &[Kind::Ours, Kind::Ours, Kind::Ours], 2);
    let old = g.nodes[0].port;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let writer = start_writer(g.sentinels[0].port, stop.clone(), acked.clone());
    assert!(wait_for(LONG, || (acked.load(Ordering::Relaxed) > 20).then_some(())).is_some());

    g.nodes[0].kill9();
    let new = g.wait_new_master(old);
    assert!(
        g.nodes[1..].iter().any(|n| n.port == new),
        "promoted a replica"
    );
    let promoted = g.node_by_port(new).expect("node");
    assert!(wait_for(LONG, || (promoted.role()?.0 == "master").then_some(())).is_some());
    // The other replica follows the new master.
    let other = g.nodes[1..]
        .iter()
        .find(|n| n.port != new)
        .expect("other replica");
    assert!(
        wait_for(LONG, || (other.role()? == ("slave".to_string(), Some(new)))
            .then_some(()))
        .is_some(),
        "the other replica did not follow: {:?}",
        other.role()
    );
    // Same epoch everywhere.
    let epochs = wait_for(LONG, || {
        let e: Vec<String> = g
            .sentinels
            .iter()
            .map(|s| s.master_field("config-epoch"))
            .collect::<Option<_>>()?;
        (e.iter().all(|x| x == &e[0]) && e[0] != "0").then_some(e)
    });
    assert!(epochs.is_some(), "sentinels disagree on the config epoch");
    // Writes continue on the new master, found through the sentinels.
    let before = acked.load(Ordering::Relaxed);
    assert!(
        wait_for(LONG, || (acked.load(Ordering::Relaxed) > before + 20)
            .then_some(()))
        .is_some()
    );
    stop.store(true, Ordering::Relaxed);
    let _ = writer.join();
    // Every write acknowledged by the new master is on the other replica
    // too once it caught up (it follows the new master's stream).
    let mut pc = promoted.client();
    let counter = pc.cmd(&["GET", "counter"]).expect("get");
    assert!(
        wait_for(LONG, || (other.client().cmd(&["GET", "counter"]).ok()?
            == counter)
            .then_some(()))
        .is_some(),
        "the other replica did not catch up"
    );
    if data == Kind::Ours {
        // It followed with a partial resync (PSYNC2), not a full copy.
        let log = std::fs::read_to_string(other.dir.0.join("server.log")).unwrap_or_default();
        assert!(
            log.contains("Successful partial resynchronization with master."),
            "{log}"
        );
    }

    // The old master comes back and is converted into a replica.
    g.nodes[0].spawn();
    let rejoined = wait_for(Duration::from_secs(60), || {
        (g.nodes[0].role()? == ("slave".to_string(), Some(new))).then_some(())
    });
    assert!(
        rejoined.is_some(),
        "old master not converted:\n{}",
        g.sentinels[0].log()
    );
    assert!(g
        .sentinels
        .iter()
        .any(|s| s.log().contains("+convert-to-slave")));
    // Every sentinel's config file holds the new master and the old one as a replica.
    for s in &g.sentinels {
        let conf = s.config();
        assert!(
            conf.contains(&format!("sentinel monitor {MASTER_NAME} 127.0.0.1 {new} 2")),
            "{conf}"
        );
        assert!(
            conf.contains(&format!(
                "sentinel known-replica {MASTER_NAME} 127.0.0.1 {old}"
            )),
            "{conf}"
        );
    }
}

#[test]
fn sigstop_of_the_master_fails_over() {
    if !have_real_redis() {
        return;
    }
    let g = Group::start(&[Kind::Ours, Kind::Ours, Kind::Ours], 2);
    let old = g.nodes[0].port;
    g.nodes[0].signal(libc::SIGSTOP);
    let new = g.wait_new_master(old);
    assert_ne!(new, old);
    g.nodes[0].signal(libc::SIGCONT);
    let rejoined = wait_for(Duration::from_secs(60), || {
        (g.nodes[0].role()? == ("slave".to_string(), Some(new))).then_some(())
    });
    assert!(
        rejoined.is_some(),
        "stopped master not converted after SIGCONT"
    );
}

#[test]
fn manual_failover_and_its_errors() {
    if !have_real_redis() {
        return;
    }
    let g = Group::start(&[Kind::Ours], 1);
    let old = g.nodes[0].port;
    let mut c = g.sentinels[0].client();
    let mut sub = g.sentinels[0].client();
    sub.cmd(&["SUBSCRIBE", "+switch-master"])
        .expect("subscribe");
    assert_eq!(
        c.cmd(&["SENTINEL", "FAILOVER", MASTER_NAME]).unwrap(),
        Frame::Simple(b"OK".to_vec())
    );
    let again = c.cmd(&["SENTINEL", "FAILOVER", MASTER_NAME]).unwrap();
    assert_eq!(err_text(&again), "INPROG Failover already in progress");
    let new = g.wait_new_master(old);
    // Clients learn of it from the +switch-master event, 5 tokens.
    let msg = sub
        .read_timeout(Duration::from_secs(30))
        .expect("read")
        .expect("event");
    let items = msg.items().expect("message").to_vec();
    assert_eq!(bulk_text(&items[1]), "+switch-master");
    let tokens: Vec<String> = bulk_text(&items[2])
        .split(' ')
        .map(str::to_string)
        .collect();
    assert_eq!(
        tokens,
        vec![
            MASTER_NAME.to_string(),
            "127.0.0.1".into(),
            old.to_string(),
            "127.0.0.1".into(),
            new.to_string()
        ]
    );
    let e = c.cmd(&["SENTINEL", "FAILOVER", "nosuch"]).unwrap();
    assert_eq!(err_text(&e), "ERR No such master with that name");

    // A master without replicas cannot fail over.
    let lonely = DataNode::start(None);
    let p = lonely.port.to_string();
    assert_eq!(
        c.cmd(&["SENTINEL", "MONITOR", "lonely", "127.0.0.1", &p, "1"])
            .unwrap(),
        Frame::Simple(b"OK".to_vec())
    );
    let e = c.cmd(&["SENTINEL", "FAILOVER", "lonely"]).unwrap();
    assert_eq!(err_text(&e), "NOGOODSLAVE No suitable replica to promote");
}

#[test]
fn mixed_group_with_real_redis_sentinel_agrees_on_one_failover() {
    if !have_real_redis() {
        return;
    }
    let g = Group::start(&[Kind::Ours, Kind::Ours, Kind::Real], 2);
    let old = g.nodes[0].port;
    let mut g = g;
    g.nodes[0].kill9();
    let new = g.wait_new_master(old);
    let epochs: Vec<String> = g
        .sentinels
        .iter()
        .map(|s| {
            wait_for(LONG, || s.master_field("config-epoch").filter(|e| e != "0")).expect("epoch")
        })
        .collect();
    assert!(
        epochs.iter().all(|e| e == &epochs[0]),
        "epochs differ: {epochs:?}"
    );
    let _ = new;
    // Exactly one sentinel promoted a replica (an election lost to a split
    // vote would end before that).
    let promoters = g
        .sentinels
        .iter()
        .filter(|s| s.log().contains("+promoted-slave"))
        .count();
    assert_eq!(promoters, 1);
}

#[test]
fn reply_shapes_match_real_redis_sentinel() {
    if !have_real_redis() {
        return;
    }
    let g = Group::start(&[Kind::Ours, Kind::Real], 1);
    let mut ours = g.sentinels[0].client();
    let mut real = g.sentinels[1].client();
    for cmd in [
        vec!["SENTINEL", "MASTER", MASTER_NAME],
        vec!["SENTINEL", "MASTERS"],
    ] {
        let a = ours.cmd(&cmd).unwrap();
        let b = real.cmd(&cmd).unwrap();
        let (a, b) = match (&a, &b) {
            (Frame::Array(x), Frame::Array(y)) if cmd[1] == "MASTERS" => {
                (x[0].clone(), y[0].clone())
            }
            _ => (a, b),
        };
        assert_eq!(record_fields(&a), record_fields(&b), "{cmd:?}");
        assert_eq!(record_field(&a, "flags"), record_field(&b, "flags"));
    }
    for cmd in [
        vec!["SENTINEL", "REPLICAS", MASTER_NAME],
        vec!["SENTINEL", "SENTINELS", MASTER_NAME],
    ] {
        let a = ours.cmd(&cmd).unwrap();
        let b = real.cmd(&cmd).unwrap();
        let (a, b) = (a.items().unwrap().to_vec(), b.items().unwrap().to_vec());
        assert_eq!(a.len(), b.len(), "{cmd:?}");
        assert_eq!(record_fields(&a[0]), record_fields(&b[0]), "{cmd:?}");
        // All values are bulk strings.
        assert!(a[0]
            .items()
            .unwrap()
            .iter()
            .all(|x| matches!(x, Frame::Bulk(_))));
    }
    // Same replies, byte for byte.
    for cmd in [
        vec!["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME],
        vec!["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nosuch"],
        vec!["SENTINEL", "MASTER", "nosuch"],
        vec![
            "SENTINEL",
            "IS-MASTER-DOWN-BY-ADDR",
            "127.0.0.1",
            "1",
            "0",
            "*",
        ],
        vec!["SENTINEL", "MONITOR", "x", "127.0.0.1", "1", "0"],
        vec!["SENTINEL", "MONITOR", "x", "127.0.0.1", "1", "q"],
        vec!["SENTINEL", "MONITOR", "x", "127.0.0.1", "abc", "1"],
        vec!["SENTINEL", "MONITOR", "x", "not-an-ip", "1", "1"],
        vec!["SENTINEL", "MONITOR", MASTER_NAME, "127.0.0.1", "1", "1"],
        vec!["SENTINEL", "SET", MASTER_NAME, "quorum", "0"],
        vec!["SENTINEL", "SET", MASTER_NAME, "nosuch", "1"],
        vec![
            "SENTINEL",
            "SET",
            MASTER_NAME,
            "notification-script",
            "/bin/true",
        ],
        vec!["SENTINEL", "CONFIG", "SET", "announce-port", "abc"],
        vec!["SENTINEL", "CONFIG", "GET", "resolve-hostnames"],
        vec!["SENTINEL", "RESET", "nomatch*"],
        vec!["SENTINEL", "CKQUORUM", MASTER_NAME],
        vec!["SENTINEL", "SIMULATE-FAILURE", "bogus"],
        vec!["SENTINEL", "DEBUG"],
        vec!["SENTINEL", "DEBUG", "info-period", "x"],
        vec!["SENTINEL", "DEBUG", "foo", "1"],
        vec!["SENTINEL", "HELP"],
        vec!["SENTINEL", "DEBUG", "ask-period", "1000"],
        vec!["SENTINEL", "BOGUS"],
        vec!["SENTINEL", "MASTERS", "extra"],
        vec!["PUBLISH", "chan", "x"],
        vec!["GET", "x"],
        vec!["ROLE"],
        vec!["PING"],
        vec!["AUTH", "x"],
        vec!["CLIENT", "GETNAME"],
        vec!["SHUTDOWN", "bogus"],
    ] {
        let a = ours.cmd(&cmd).unwrap();
        let b = real.cmd(&cmd).unwrap();
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{cmd:?}");
    }
    // INFO sentinel: the same lines (up to the live counters).
    let a = bulk_text(&ours.cmd(&["INFO", "sentinel"]).unwrap());
    let b = bulk_text(&real.cmd(&["INFO", "sentinel"]).unwrap());
    let keys = |t: &str| {
        t.lines()
            .map(|l| l.split(':').next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&a), keys(&b));
    assert!(a.contains(&format!(
        "master0:name={MASTER_NAME},status=ok,address=127.0.0.1:{}",
        g.nodes[0].port
    )));
    // HELLO 3 reports mode sentinel.
    let h = ours.cmd(&["HELLO", "3"]).unwrap();
    assert!(format!("{h:?}").contains("sentinel"));
}

#[test]
fn two_of_three_sentinels_down_never_fail_over_one_down_does() {
    if !have_real_redis() {
        return;
    }
    let mut g = Group::start(&[Kind::Ours, Kind::Ours, Kind::Ours], 2);
    let old = g.nodes[0].port;
    g.sentinels[1].kill9();
    g.sentinels[2].kill9();
    g.nodes[0].signal(libc::SIGSTOP);
    // The survivor sees the master down but can never get a majority.
    let s = &g.sentinels[0];
    assert!(wait_for(LONG, || s
        .master_field("flags")
        .filter(|f| f.contains("s_down")))
    .is_some());
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(s.master_port(), Some(old));
    assert!(!s.log().contains("+elected-leader"), "{}", s.log());
    assert!(
        !s.log().contains("+odown"),
        "quorum 2 reached with one sentinel:\n{}",
        s.log()
    );
    // One sentinel back: quorum and majority (2 of 3) are reachable again.
    g.sentinels[1].spawn();
    let new = g.wait_new_master(old);
    assert_ne!(new, old);
}

#[test]
fn bad_input_is_refused_without_harm() {
    if !have_real_redis() {
        return;
    }
    let master = DataNode::start(None);
    let s = SentinelProc::start(Kind::Ours, master.port, 1, "");
    let mut c = s.client();
    // Garbage hello messages are answered but change nothing.
    for bad in [
        "garbage",
        "1,2,3",
        "127.0.0.1,notaport,0123456789012345678901234567890123456789,0,mymaster,127.0.0.1,1,0",
        "127.0.0.1,1,short,0,mymaster,127.0.0.1,1,0",
        "127.0.0.1,1,0123456789012345678901234567890123456789,-5,mymaster,127.0.0.1,1,0",
        "127.0.0.1,1,0123456789012345678901234567890123456789,0,mymaster,127.0.0.1,0,99",
    ] {
        assert_eq!(
            c.cmd(&["PUBLISH", "__sentinel__:hello", bad]).unwrap(),
            Frame::Integer(1)
        );
    }
    assert_eq!(s.master_field("num-other-sentinels").as_deref(), Some("0"));
    assert_eq!(s.master_port(), Some(master.port));
    // A well-formed hello from an unknown sentinel is learnt.
    let good = format!(
        "127.0.0.1,1,0123456789012345678901234567890123456789,0,{MASTER_NAME},127.0.0.1,{},0",
        master.port
    );
    assert_eq!(
        c.cmd(&["PUBLISH", "__sentinel__:hello", &good]).unwrap(),
        Frame::Integer(1)
    );
    assert_eq!(s.master_field("num-other-sentinels").as_deref(), Some("1"));
    let e = c
        .cmd(&["SENTINEL", "MONITOR", "m2", "127.0.0.1", "1", "0"])
        .unwrap();
    assert_eq!(err_text(&e), "ERR Quorum must be 1 or greater.");
    assert_eq!(c.cmd(&["PING"]).unwrap(), Frame::Simple(b"PONG".to_vec()));
}

#[test]
fn wrong_auth_pass_is_logged_and_marks_the_master_down() {
    if !have_real_redis() {
        return;
    }
    let master = DataNode::start(None);
    master
        .client()
        .cmd(&["CONFIG", "SET", "requirepass", "right"])
        .unwrap();
    let s = SentinelProc::start(
        Kind::Ours,
        master.port,
        1,
        &format!("sentinel auth-pass {MASTER_NAME} wrong\n"),
    );
    let logged = wait_for(LONG, || {
        s.log().contains("Error authenticating").then_some(())
    });
    assert!(logged.is_some(), "{}", s.log());
    assert!(wait_for(LONG, || s
        .master_field("flags")
        .filter(|f| f.contains("s_down")))
    .is_some());
    // Fixing the password at run time brings it back.
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["SENTINEL", "SET", MASTER_NAME, "auth-pass", "right"])
            .unwrap(),
        Frame::Simple(b"OK".to_vec())
    );
    assert!(wait_for(LONG, || s.master_field("flags").filter(|f| f == "master")).is_some());
    assert!(s
        .config()
        .contains(&format!("sentinel auth-pass {MASTER_NAME} right")));
}

/// Runs our sentinel with `args`, killing it after 20 s; (exit success, stderr).
fn run_bounded(args: &[&str]) -> (bool, String) {
    let dir = support::ScratchDir::new("sentinel-run");
    let err_path = dir.0.join("stderr");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let mut child = std::process::Command::new(support::our_binary())
        .arg("--sentinel")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .expect("run");
    let status = wait_for(Duration::from_secs(20), || child.try_wait().ok().flatten());
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let text = std::fs::read_to_string(&err_path).unwrap_or_default();
    (status.is_some_and(|s| s.success()), text)
}

#[test]
fn unwritable_or_missing_config_is_an_error_at_start() {
    let dir = support::ScratchDir::new("sentinel-ro");
    let conf = dir.0.join("ro.conf");
    std::fs::write(&conf, sentinel_conf(support::free_port(), 1, 1, "")).unwrap();
    let mut perms = std::fs::metadata(&conf).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o444);
    std::fs::set_permissions(&conf, perms).unwrap();
    // root can write anything: the check is only meaningful otherwise.
    if unsafe { libc::geteuid() } != 0 {
        let (ok, text) = run_bounded(&[conf.to_str().unwrap_or_default()]);
        assert!(!ok);
        assert!(text.contains("is not writable"), "{text}");
    }
    let (ok, text) = run_bounded(&[]);
    assert!(!ok);
    assert!(
        text.contains("Sentinel needs config file on disk to save state"),
        "{text}"
    );
    // A bad directive is a fatal config error with the line.
    let bad = dir.0.join("bad.conf");
    std::fs::write(&bad, "port 1\nsentinel monitor m 127.0.0.1 1 0\n").unwrap();
    let (ok, text) = run_bounded(&[bad.to_str().unwrap_or_default()]);
    assert!(!ok);
    assert!(
        text.contains("at line 2") && text.contains("Quorum must be 1 or greater."),
        "{text}"
    );
}

#[test]
fn invoked_as_redis_sentinel_and_state_survives_restart() {
    if !have_real_redis() {
        return;
    }
    let master = DataNode::start(None);
    let dir = support::ScratchDir::new("sentinel-argv0");
    let link = dir.0.join("redis-sentinel");
    std::os::unix::fs::symlink(support::our_binary(), &link).unwrap();
    let port = support::free_port();
    let conf = dir.0.join("s.conf");
    std::fs::write(&conf, sentinel_conf(port, master.port, 1, "")).unwrap();
    let mut child = std::process::Command::new(&link)
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let myid = wait_for(LONG, || {
        let mut c = Client::connect(port).ok()?;
        c.cmd(&["SENTINEL", "MYID"])
            .ok()?
            .as_str()
            .map(str::to_string)
    })
    .expect("sentinel up");
    let mut c = Client::connect(port).unwrap();
    assert_eq!(
        c.cmd(&["ROLE"]).unwrap().items().unwrap()[0],
        Frame::Bulk(b"sentinel".to_vec())
    );
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains(&format!("sentinel myid {myid}")), "{text}");
    assert!(text.contains("# Generated by CONFIG REWRITE"));
    let mut child = std::process::Command::new(&link)
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let again = wait_for(LONG, || {
        let mut c = Client::connect(port).ok()?;
        c.cmd(&["SENTINEL", "MYID"])
            .ok()?
            .as_str()
            .map(str::to_string)
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(again.as_deref(), Some(myid.as_str()));
}

#[test]
fn client_libraries_discover_the_master_before_and_after() {
    if !have_real_redis() {
        return;
    }
    let g = Group::start(&[Kind::Ours, Kind::Ours], 1);
    let old = g.nodes[0].port;
    let ports: Vec<u16> = g.sentinels.iter().map(|s| s.port).collect();
    let node_ports: Vec<u16> = g.nodes.iter().map(|n| n.port).collect();
    // Rust redis crate.
    let discover_rust = |expect: u16| {
        let urls: Vec<String> = ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect();
        let mut s = redis::sentinel::Sentinel::build(urls).expect("build");
        let client = s.master_for(MASTER_NAME, None).expect("master_for");
        let mut conn = client.get_connection().expect("connect");
        let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut conn).expect("role");
        assert_eq!(role[0], redis::Value::BulkString(b"master".to_vec()));
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg("v")
            .query(&mut conn)
            .expect("write");
        assert_eq!(
            client.get_connection_info().addr.to_string(),
            format!("127.0.0.1:{expect}"),
            "sentinels {ports:?} nodes {node_ports:?}"
        );
    };
    // redis-py Sentinel.
    let discover_py = |expect: u16| {
        let script = format!(
            "import redis.sentinel as s\nsen = s.Sentinel([{}], socket_timeout=2)\nprint(sen.discover_master('{MASTER_NAME}')[1])\nm = sen.master_for('{MASTER_NAME}', socket_timeout=2)\nm.set('py', '1')\nprint(len(sen.discover_slaves('{MASTER_NAME}')))\n",
            ports.iter().map(|p| format!("('127.0.0.1', {p})")).collect::<Vec<_>>().join(",")
        );
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("python3");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], expect.to_string());
        lines[1].parse::<usize>().unwrap_or(0)
    };
    discover_rust(old);
    assert_eq!(discover_py(old), 2);
    let mut c = g.sentinels[0].client();
    assert_eq!(
        c.cmd(&["SENTINEL", "FAILOVER", MASTER_NAME]).unwrap(),
        Frame::Simple(b"OK".to_vec())
    );
    let new = g.wait_new_master(old);
    let promoted = g.node_by_port(new).expect("node");
    assert!(wait_for(LONG, || (promoted.role()?.0 == "master").then_some(())).is_some());
    // SENTINEL MASTERS (what both libraries read) shows the new address
    // once the failover is over.
    for s in &g.sentinels {
        let port = new.to_string();
        assert!(wait_for(LONG, || s.master_field("port").filter(|p| p == &port)).is_some());
    }
    discover_rust(new);
    discover_py(new);
}

/// `--ask-sentinels`: a restarted former master joins the new master as a
/// replica at once; a master the sentinels still name, restarted without
/// data, refuses to start as an empty master.
#[test]
fn ask_sentinels_start_up_option() {
    let mut g = Group::start_with(Kind::Ours, &[Kind::Ours, Kind::Ours, Kind::Ours], 2);
    let old = g.nodes[0].port;
    let list: Vec<String> = g
        .sentinels
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    let ask = vec![
        "--ask-sentinels".to_string(),
        list.join(","),
        "--master-name".to_string(),
        MASTER_NAME.to_string(),
    ];
    g.nodes[0].kill9();
    let new = g.wait_new_master(old);
    let promoted = g.node_by_port(new).expect("node");
    promoted
        .client()
        .cmd(&["SET", "after", "failover"])
        .expect("write");
    g.nodes[0].extra = ask.clone();
    g.nodes[0].spawn();
    // A replica from its first reply on: never an empty master.
    assert_eq!(g.nodes[0].role().map(|r| r.0), Some("slave".to_string()));
    assert!(wait_for(LONG, || {
        (g.nodes[0].client().cmd(&["GET", "after"]).ok()? == Frame::Bulk(b"failover".to_vec()))
            .then_some(())
    })
    .is_some());

    // A lone master the sentinel has seen, restarted without data while the
    // sentinel still names it: refuses to start.
    let mut lone = DataNode::start_kind(Kind::Ours, None);
    let s = SentinelProc::start(Kind::Ours, lone.port, 1, "");
    assert!(wait_for(LONG, || s.master_field("runid").filter(|r| !r.is_empty())).is_some());
    lone.kill9();
    let out = std::process::Command::new(support::our_binary())
        .args([
            "--port",
            &lone.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(&lone.dir.0)
        .args([
            "--ask-sentinels",
            &format!("127.0.0.1:{}", s.port),
            "--master-name",
            MASTER_NAME,
        ])
        .stdout(std::process::Stdio::null())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("refusing to start as an empty master"),
        "{text}"
    );
}

/// A clock jump (here: the sentinel stopped for 3 s) enters TILT; in TILT
/// it answers is-master-down-by-addr with 0.
#[test]
fn tilt_after_the_process_was_stopped() {
    if !have_real_redis() {
        return;
    }
    let master = DataNode::start(None);
    let s = SentinelProc::start(Kind::Ours, master.port, 1, "");
    let pid = s.child.as_ref().expect("child").id() as libc::pid_t;
    // SAFETY: signals to a child we own.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_secs(3));
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let tilted = wait_for(LONG, || {
        let info = bulk_text(&s.client().cmd(&["INFO", "sentinel"]).ok()?);
        info.contains("sentinel_tilt:1").then_some(())
    });
    assert!(tilted.is_some(), "{}", s.log());
    assert!(s.log().contains("+tilt #tilt mode entered"));
    let p = master.port.to_string();
    let reply = s
        .client()
        .cmd(&[
            "SENTINEL",
            "IS-MASTER-DOWN-BY-ADDR",
            "127.0.0.1",
            &p,
            "0",
            "*",
        ])
        .unwrap();
    assert_eq!(reply.items().unwrap()[0], Frame::Integer(0));
}

/// resolve-hostnames / announce-hostnames: a master given by name is
/// reached through its resolved IP and reported by name.
#[test]
fn hostnames_are_stored_resolved_and_announced() {
    if !have_real_redis() {
        return;
    }
    let master = DataNode::start(None);
    let replica = DataNode::start(Some(master.port));
    let port = support::free_port();
    let dir = support::ScratchDir::new("sentinel-hostnames");
    let conf = dir.0.join("s.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\nsentinel resolve-hostnames yes\nsentinel announce-hostnames yes\n\
             sentinel monitor {MASTER_NAME} localhost {} 1\nsentinel down-after-milliseconds {MASTER_NAME} 1000\n",
            master.port
        ),
    )
    .unwrap();
    let mut s = SentinelProc {
        kind: Kind::Ours,
        port,
        dir,
        conf,
        child: None,
    };
    s.spawn();
    let addr = s
        .client()
        .cmd(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME])
        .unwrap();
    assert_eq!(addr.items().unwrap()[0], Frame::Bulk(b"localhost".to_vec()));
    // Connected through the resolved address: it learns the replica.
    assert!(
        wait_for(LONG, || (s.knows()?.1 == 1).then_some(())).is_some(),
        "{}",
        s.log()
    );
    assert_eq!(s.master_field("flags").as_deref(), Some("master"));
    assert_eq!(s.master_field("ip").as_deref(), Some("localhost"));
    assert!(s.config().contains(&format!(
        "sentinel monitor {MASTER_NAME} localhost {} 1",
        master.port
    )));
    let _ = replica;
    // Without resolve-hostnames a name is refused, as Redis does.
    let e = s
        .client()
        .cmd(&["SENTINEL", "CONFIG", "SET", "resolve-hostnames", "no"])
        .unwrap();
    assert_eq!(e, Frame::Simple(b"OK".to_vec()));
    let e = s
        .client()
        .cmd(&["SENTINEL", "MONITOR", "other", "localhost", "1", "1"])
        .unwrap();
    assert_eq!(err_text(&e), "ERR Invalid IP address or hostname specified");
}

/// Real redis-sentinel processes monitoring our data nodes fail them over
/// like Redis nodes: promotion, the other replica follows, the old master
/// is converted when it returns.
#[test]
fn real_sentinels_fail_over_our_nodes() {
    if !have_real_redis() {
        return;
    }
    let mut g = Group::start_with(Kind::Ours, &[Kind::Real, Kind::Real, Kind::Real], 2);
    let old = g.nodes[0].port;
    g.nodes[0].kill9();
    let new = g.wait_new_master(old);
    let other = g.nodes[1..]
        .iter()
        .find(|n| n.port != new)
        .expect("other replica");
    assert!(
        wait_for(LONG, || (other.role()? == ("slave".to_string(), Some(new)))
            .then_some(()))
        .is_some(),
        "the other replica did not follow"
    );
    g.nodes[0].spawn();
    let rejoined = wait_for(Duration::from_secs(60), || {
        (g.nodes[0].role()? == ("slave".to_string(), Some(new))).then_some(())
    });
    assert!(
        rejoined.is_some(),
        "old master not converted:\n{}",
        g.sentinels[0].log()
    );
}

/// A minority sentinel cut off from the others (they are alive but
/// stopped, so it cannot reach them) may see the master objectively down
/// with quorum 1, but it can never be elected: it needs a majority of the
/// three sentinels it knows.
#[test]
fn partitioned_minority_sentinel_cannot_get_elected() {
    if !have_real_redis() {
        return;
    }
    let g = Group::start(&[Kind::Ours, Kind::Ours, Kind::Ours], 1);
    let old = g.nodes[0].port;
    let stop = |s: &SentinelProc, sig| {
        let pid = s.child.as_ref().expect("child").id() as libc::pid_t;
        // SAFETY: signals to children we own.
        unsafe { libc::kill(pid, sig) };
    };
    stop(&g.sentinels[1], libc::SIGSTOP);
    stop(&g.sentinels[2], libc::SIGSTOP);
    g.nodes[0].signal(libc::SIGSTOP);
    let a = &g.sentinels[0];
    let aborted = wait_for(Duration::from_secs(60), || {
        a.log()
            .contains("-failover-abort-not-elected")
            .then_some(())
    });
    assert!(aborted.is_some(), "{}", a.log());
    assert!(a.log().contains("+try-failover"));
    assert!(!a.log().contains("+elected-leader"), "{}", a.log());
    assert_eq!(a.master_port(), Some(old));
    // The replicas were never touched.
    for r in &g.nodes[1..] {
        assert_eq!(r.role(), Some(("slave".to_string(), Some(old))));
    }
    stop(&g.sentinels[1], libc::SIGCONT);
    stop(&g.sentinels[2], libc::SIGCONT);
}

/// A "master" that answers garbage (not RESP) or errors: the sentinel
/// flags it down, keeps serving clients, and never fails anything over.
#[test]
fn misbehaving_instances_are_down_not_fatal() {
    use std::io::{Read, Write};
    let garbage = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let gport = garbage.local_addr().expect("addr").port();
    let errors = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let eport = errors.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut c in garbage.incoming().flatten() {
            let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n\x00\xff*x\r\n");
        }
    });
    std::thread::spawn(move || {
        for mut c in errors.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    // One error per request line group.
                    let _ = c.write_all(
                        &b"-ERR nope\r\n"
                            .repeat(buf[..n].iter().filter(|b| **b == b'*').count().max(1)),
                    );
                }
            });
        }
    });
    let s = SentinelProc::start(Kind::Ours, gport, 1, "");
    let e = eport.to_string();
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["SENTINEL", "MONITOR", "errs", "127.0.0.1", &e, "1"])
            .unwrap(),
        Frame::Simple(b"OK".to_vec())
    );
    let _ = c
        .cmd(&["SENTINEL", "SET", "errs", "down-after-milliseconds", "1000"])
        .unwrap();
    for name in [MASTER_NAME, "errs"] {
        let down = wait_for(LONG, || {
            let f = s.client().cmd(&["SENTINEL", "MASTER", name]).ok()?;
            record_field(&f, "flags").filter(|fl| fl.contains("s_down"))
        });
        assert!(down.is_some(), "{name} not flagged down:\n{}", s.log());
    }
    // Still serving; with no replica to promote nothing was switched.
    assert_eq!(c.cmd(&["PING"]).unwrap(), Frame::Simple(b"PONG".to_vec()));
    assert!(!s.log().contains("+switch-master"), "{}", s.log());
    assert_eq!(s.master_port(), Some(gport));
}

/// notification-script runs for warning events, client-reconfig-script
/// with `<master> leader start <from-ip> <from-port> <to-ip> <to-port>`.
#[test]
fn notification_and_reconfig_scripts_run() {
    if !have_real_redis() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let master = DataNode::start(None);
    let replica = DataNode::start(Some(master.port));
    let dir = support::ScratchDir::new("sentinel-scripts");
    let script = |name: &str| {
        let path = dir.0.join(name);
        let out = dir.0.join(format!("{name}.out"));
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display()),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (path, out)
    };
    let (notify, notify_out) = script("notify.sh");
    let (reconf, reconf_out) = script("reconf.sh");
    let s = SentinelProc::start(
        Kind::Ours,
        master.port,
        1,
        &format!(
            "sentinel notification-script {MASTER_NAME} {}\nsentinel client-reconfig-script {MASTER_NAME} {}\n",
            notify.display(),
            reconf.display()
        ),
    );
    assert!(wait_for(LONG, || {
        let f = s
            .client()
            .cmd(&["SENTINEL", "REPLICAS", MASTER_NAME])
            .ok()?;
        let r = f.items()?.first()?.clone();
        (record_field(&r, "master-link-status").as_deref() == Some("ok")).then_some(())
    })
    .is_some());
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["SENTINEL", "FAILOVER", MASTER_NAME]).unwrap(),
        Frame::Simple(b"OK".to_vec())
    );
    let expect = format!(
        "{MASTER_NAME} leader start 127.0.0.1 {} 127.0.0.1 {}",
        master.port, replica.port
    );
    let ran = wait_for(LONG, || {
        let text = std::fs::read_to_string(&reconf_out).ok()?;
        text.contains(&expect).then_some(())
    });
    assert!(ran.is_some(), "{}", s.log());
    let switch = format!(
        "+switch-master {MASTER_NAME} 127.0.0.1 {} 127.0.0.1 {}",
        master.port, replica.port
    );
    let notified = wait_for(LONG, || {
        let text = std::fs::read_to_string(&notify_out).ok()?;
        (text.contains(&switch) && text.contains("+elected-leader master")).then_some(())
    });
    assert!(
        notified.is_some(),
        "{:?}",
        std::fs::read_to_string(&notify_out)
    );
    // The config keeps them; SENTINEL SET may not change them (deny-scripts-reconfig).
    assert!(s.config().contains("sentinel notification-script"));
    let e = c
        .cmd(&[
            "SENTINEL",
            "SET",
            MASTER_NAME,
            "notification-script",
            "/bin/true",
        ])
        .unwrap();
    assert!(err_text(&e).contains("denied"));
}

/// Sentinels protected by requirepass talk to each other with
/// sentinel-pass; clients must AUTH; PSUBSCRIBE receives the events.
#[test]
fn password_protected_sentinels_and_pattern_subscribers() {
    if !have_real_redis() {
        return;
    }
    let mut master = DataNode::start(None);
    let replica = DataNode::start(Some(master.port));
    let extra = "requirepass sp\nsentinel sentinel-pass sp\n";
    let a = SentinelProc::start(Kind::Ours, master.port, 2, extra);
    let b = SentinelProc::start(Kind::Ours, master.port, 2, extra);
    let authed = |s: &SentinelProc| {
        let mut c = s.client();
        assert_eq!(
            c.cmd(&["AUTH", "sp"]).unwrap(),
            Frame::Simple(b"OK".to_vec())
        );
        c
    };
    let e = a.client().cmd(&["SENTINEL", "MASTERS"]).unwrap();
    assert_eq!(err_text(&e), "NOAUTH Authentication required.");
    let e = a.client().cmd(&["AUTH", "wrong"]).unwrap();
    assert_eq!(
        err_text(&e),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    // They find each other and stay connected (their links authenticate).
    for s in [&a, &b] {
        let ok = wait_for(LONG, || {
            let f = authed(s)
                .cmd(&["SENTINEL", "SENTINELS", MASTER_NAME])
                .ok()?;
            let items = f.items()?.to_vec();
            (items.len() == 1 && record_field(&items[0], "flags").as_deref() == Some("sentinel"))
                .then_some(())
        });
        assert!(ok.is_some(), "{}", s.log());
        let ok = wait_for(LONG, || {
            let f = authed(s).cmd(&["SENTINEL", "REPLICAS", MASTER_NAME]).ok()?;
            let r = f.items()?.first()?.clone();
            (record_field(&r, "master-link-status").as_deref() == Some("ok")).then_some(())
        });
        assert!(ok.is_some());
    }
    let mut sub = authed(&a);
    let first = sub.cmd(&["PSUBSCRIBE", "*switch*"]).unwrap();
    assert_eq!(
        first.items().unwrap()[0],
        Frame::Bulk(b"psubscribe".to_vec())
    );
    master.kill9();
    // Quorum 2 with two sentinels: both must agree, through authenticated links.
    let msg = wait_for(Duration::from_secs(60), || {
        sub.read_timeout(Duration::from_secs(1)).ok().flatten()
    })
    .expect("a pmessage");
    let items = msg.items().expect("pmessage").to_vec();
    assert_eq!(items[0], Frame::Bulk(b"pmessage".to_vec()));
    assert_eq!(items[2], Frame::Bulk(b"+switch-master".to_vec()));
    assert!(bulk_text(&items[3]).ends_with(&format!("127.0.0.1 {}", replica.port)));
}
