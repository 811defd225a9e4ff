//! Background saves: BGSAVE forks a child while other clients keep being
//! served, and its file is the dataset as it was at the fork; a crash of the
//! server during BGSAVE leaves the previous dump loadable; save points start
//! saves by themselves; SIGTERM and plain SHUTDOWN save when save points are
//! configured, SHUTDOWN NOSAVE never does.

mod support;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use redis_ha_node::resp::Frame;
use support::{free_port, read_log, start_ours_in, Client, DirServer, ScratchDir};

/// Keys in the big dataset: enough for the save to take measurable time.
const BIG: usize = 200_000;
/// Keys per MSET / MGET.
const BATCH: usize = 1000;

/// Our server in a directory that survives restarts.
type Ours = DirServer;

/// Our server in `dir` with the given `save` directive.
fn start(dir: &Path, save: &str) -> Ours {
    start_on(dir, save, free_port())
}

fn start_on(dir: &Path, save: &str, port: u16) -> Ours {
    start_ours_in(dir, port, &["--save", save], Duration::from_secs(30))
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    support::wait_exit(child, Duration::from_secs(20))
}

fn cmd(c: &mut Client, args: &[&str]) -> Frame {
    c.cmd(args).expect("command")
}

fn simple(f: &Frame) -> String {
    match f {
        Frame::Simple(s) | Frame::Bulk(s) | Frame::Error(s) => String::from_utf8_lossy(s).into(),
        Frame::Integer(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn info_field(c: &mut Client, name: &str) -> String {
    let text = simple(&cmd(c, &["INFO", "persistence"]));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("INFO lacks {name}"))
        .trim()
        .to_string()
}

fn value_of(i: usize) -> String {
    format!("value-{i}-{}", "x".repeat(i % 17))
}

/// Writes `BIG` string keys with pipelined MSETs.
fn fill(c: &mut Client) {
    for start in (0..BIG).step_by(BATCH) {
        let mut args = vec!["MSET".to_string()];
        for i in start..start + BATCH {
            args.push(format!("key:{i}"));
            args.push(value_of(i));
        }
        c.send(&args).expect("send MSET");
    }
    for _ in (0..BIG).step_by(BATCH) {
        assert_eq!(simple(&c.read().expect("MSET reply")), "OK");
    }
}

/// Every key of the big dataset holds its value.
fn check_filled(c: &mut Client) {
    for start in (0..BIG).step_by(BATCH) {
        let mut args = vec!["MGET".to_string()];
        args.extend((start..start + BATCH).map(|i| format!("key:{i}")));
        let Frame::Array(values) = c.cmd(&args).expect("MGET") else {
            panic!("MGET reply")
        };
        for (offset, v) in values.iter().enumerate() {
            assert_eq!(simple(v), value_of(start + offset));
        }
    }
}

fn wait_bgsave_done(c: &mut Client) {
    let started = Instant::now();
    while info_field(c, "rdb_bgsave_in_progress") == "1" {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "BGSAVE never ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bgsave_keeps_serving_and_saves_the_fork_time_dataset() {
    let dir = ScratchDir::new("bgsave-serve");
    let server = start(&dir.0, "");
    let mut c = server.client();
    fill(&mut c);
    assert_eq!(simple(&cmd(&mut c, &["BGSAVE", "NOW"])), "ERR syntax error");
    assert_eq!(
        simple(&cmd(&mut c, &["BGSAVE"])),
        "Background saving started"
    );
    // Another client keeps running commands while the child writes; every
    // write lands after the fork, so none of them is in the file.
    let mut other = server.client();
    let mut served_during_save = 0;
    let mut slowest = Duration::ZERO;
    while info_field(&mut other, "rdb_bgsave_in_progress") == "1" {
        let t = Instant::now();
        let reply = cmd(&mut other, &["INCR", "during"]);
        assert!(matches!(reply, Frame::Integer(_)), "{reply:?}");
        slowest = slowest.max(t.elapsed());
        served_during_save += 1;
        if served_during_save == 1 {
            assert_eq!(
                simple(&cmd(&mut c, &["BGSAVE"])),
                "ERR Background save already in progress"
            );
            assert_eq!(
                simple(&cmd(&mut c, &["SAVE"])),
                "ERR Background save already in progress"
            );
        }
    }
    eprintln!("served {served_during_save} commands during BGSAVE, slowest {slowest:?}");
    assert!(
        served_during_save > 0,
        "no command was served during the save"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a command waited {slowest:?}"
    );
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(info_field(&mut c, "rdb_saves"), "1");
    // The changes after the fork are still unsaved.
    assert_eq!(
        info_field(&mut c, "rdb_changes_since_last_save"),
        served_during_save.to_string()
    );
    assert!(read_log(&dir.0).contains("Background saving terminated with success"));
    drop(server);

    let server = start(&dir.0, "");
    let mut c = server.client();
    assert_eq!(simple(&cmd(&mut c, &["DBSIZE"])), BIG.to_string());
    assert_eq!(simple(&cmd(&mut c, &["EXISTS", "during"])), "0");
    check_filled(&mut c);
}

#[test]
fn kill_during_bgsave_leaves_the_previous_dump_loadable() {
    let dir = ScratchDir::new("bgsave-kill");
    let server = start(&dir.0, "");
    let mut c = server.client();
    cmd(&mut c, &["SET", "old", "1"]);
    assert_eq!(simple(&cmd(&mut c, &["SAVE"])), "OK");
    fill(&mut c);
    assert_eq!(
        simple(&cmd(&mut c, &["BGSAVE"])),
        "Background saving started"
    );
    // The child, orphaned, must not keep the port: a new server binds it.
    let port = server.port;
    let mut server = server;
    let _ = server.child.kill();
    let _ = server.child.wait();
    drop(server);
    let restarted = start_on(&dir.0, "", port);
    drop(restarted);
    // Kill the server and its child at once, as a machine crash would.
    let server = start(&dir.0, "");
    let mut c = server.client();
    fill(&mut c);
    assert_eq!(
        simple(&cmd(&mut c, &["BGSAVE"])),
        "Background saving started"
    );
    let log = read_log(&dir.0);
    let child_pid: i32 = log
        .lines()
        .rev()
        .find_map(|l| l.split("Background saving started by pid ").nth(1))
        .and_then(|p| p.trim().parse().ok())
        .expect("child pid in the log");
    let mut server = server;
    let _ = server.child.kill();
    let _ = server.child.wait();
    // SAFETY: a plain kill(2) of the child pid the server logged.
    unsafe { libc::kill(child_pid, libc::SIGKILL) };
    drop(server);

    let server = start(&dir.0, "");
    let mut c = server.client();
    assert_eq!(simple(&cmd(&mut c, &["GET", "old"])), "1");
    let size = simple(&cmd(&mut c, &["DBSIZE"]));
    // Either the old dump, or the new one if the child had finished.
    assert!(
        size == "1" || size == (BIG + 1).to_string(),
        "partial dataset loaded: {size} keys"
    );
}

#[test]
fn sigterm_saves_when_save_points_are_set() {
    let dir = ScratchDir::new("bgsave-sigterm");
    let mut server = start(&dir.0, "3600 1");
    let mut c = server.client();
    cmd(&mut c, &["SET", "k", "v"]);
    // SAFETY: a plain kill(2) of the server we started.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    wait_exit(&mut server.child);
    assert!(dir.0.join("dump.rdb").exists(), "{}", read_log(&dir.0));
    drop(server);
    let server = start(&dir.0, "");
    assert_eq!(simple(&cmd(&mut server.client(), &["GET", "k"])), "v");
}

#[test]
fn sigterm_without_save_points_does_not_save() {
    let dir = ScratchDir::new("bgsave-sigterm-nosave");
    let mut server = start(&dir.0, "");
    cmd(&mut server.client(), &["SET", "k", "v"]);
    // SAFETY: a plain kill(2) of the server we started.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    wait_exit(&mut server.child);
    assert!(!dir.0.join("dump.rdb").exists());
}

#[test]
fn plain_shutdown_saves_with_save_points_and_nosave_does_not() {
    let dir = ScratchDir::new("bgsave-shutdown");
    let mut server = start(&dir.0, "3600 1");
    let mut c = server.client();
    cmd(&mut c, &["SET", "k", "v"]);
    let _ = c.cmd(&["SHUTDOWN", "NOSAVE"]);
    wait_exit(&mut server.child);
    assert!(!dir.0.join("dump.rdb").exists());
    drop(server);

    let mut server = start(&dir.0, "3600 1");
    let mut c = server.client();
    cmd(&mut c, &["SET", "k", "v2"]);
    let _ = c.cmd(&["SHUTDOWN"]);
    wait_exit(&mut server.child);
    assert!(dir.0.join("dump.rdb").exists());
    drop(server);
    let server = start(&dir.0, "");
    assert_eq!(simple(&cmd(&mut server.client(), &["GET", "k"])), "v2");
}

#[test]
fn a_save_point_starts_a_background_save() {
    let dir = ScratchDir::new("bgsave-point");
    let server = start(&dir.0, "1 1");
    let mut c = server.client();
    let before: i64 = simple(&cmd(&mut c, &["LASTSAVE"])).parse().expect("int");
    cmd(&mut c, &["SET", "k", "v"]);
    let started = Instant::now();
    loop {
        let now: i64 = simple(&cmd(&mut c, &["LASTSAVE"])).parse().expect("int");
        if now > before && dir.0.join("dump.rdb").exists() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no save happened: {}",
            read_log(&dir.0)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_bgsave_done(&mut c);
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    assert!(read_log(&dir.0).contains("1 changes in 1 seconds. Saving..."));
    drop(server);
    let server = start(&dir.0, "");
    assert_eq!(simple(&cmd(&mut server.client(), &["GET", "k"])), "v");
}

#[test]
fn flushall_saves_the_empty_dataset_with_save_points() {
    let dir = ScratchDir::new("bgsave-flushall");
    let server = start(&dir.0, "3600 1");
    let mut c = server.client();
    cmd(&mut c, &["SET", "k", "v"]);
    assert_eq!(simple(&cmd(&mut c, &["SAVE"])), "OK");
    cmd(&mut c, &["SET", "k2", "v"]);
    assert_eq!(simple(&cmd(&mut c, &["FLUSHALL"])), "OK");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "1");
    drop(server);
    let server = start(&dir.0, "");
    assert_eq!(simple(&cmd(&mut server.client(), &["DBSIZE"])), "0");
}

#[test]
fn bgsave_inside_multi_is_scheduled_and_run_by_the_cron() {
    let dir = ScratchDir::new("bgsave-multi");
    let server = start(&dir.0, "");
    let mut c = server.client();
    cmd(&mut c, &["SET", "k", "v"]);
    cmd(&mut c, &["MULTI"]);
    assert_eq!(simple(&cmd(&mut c, &["BGSAVE"])), "QUEUED");
    let Frame::Array(replies) = cmd(&mut c, &["EXEC"]) else {
        panic!("EXEC")
    };
    assert_eq!(simple(&replies[0]), "Background saving scheduled");
    let started = Instant::now();
    while !dir.0.join("dump.rdb").exists() {
        assert!(started.elapsed() < Duration::from_secs(10), "never saved");
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_bgsave_done(&mut c);
    assert_eq!(info_field(&mut c, "rdb_saves"), "1");
}

#[test]
fn a_failed_bgsave_is_reported_and_cleaned_up() {
    let dir = ScratchDir::new("bgsave-fail");
    let server = start(&dir.0, "");
    let mut c = server.client();
    cmd(&mut c, &["SET", "k", "v"]);
    // A directory in the way of the final rename makes the child fail.
    std::fs::create_dir(dir.0.join("dump.rdb")).expect("mkdir");
    assert_eq!(
        simple(&cmd(&mut c, &["BGSAVE"])),
        "Background saving started"
    );
    wait_bgsave_done(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "err");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "1");
    assert!(read_log(&dir.0).contains("Background saving error"));
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("temp-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");

    std::fs::remove_dir(dir.0.join("dump.rdb")).expect("rmdir");
    assert_eq!(
        simple(&cmd(&mut c, &["BGSAVE"])),
        "Background saving started"
    );
    wait_bgsave_done(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
}

#[test]
fn sigterm_keeps_running_when_the_final_save_fails() {
    let dir = ScratchDir::new("bgsave-sigterm-fail");
    let mut server = start(&dir.0, "3600 1");
    cmd(&mut server.client(), &["SET", "k", "v"]);
    std::fs::create_dir(dir.0.join("dump.rdb")).expect("mkdir");
    // SAFETY: a plain kill(2) of the server we started.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(500));
    assert!(matches!(server.child.try_wait(), Ok(None)), "server exited");
    assert_eq!(simple(&cmd(&mut server.client(), &["GET", "k"])), "v");
    // Once the save can succeed, the next SIGTERM stops it.
    std::fs::remove_dir(dir.0.join("dump.rdb")).expect("rmdir");
    // SAFETY: as above.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    wait_exit(&mut server.child);
    assert!(dir.0.join("dump.rdb").is_file());
}
