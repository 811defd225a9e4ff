//! The append-only file against real processes: restarts keep the data
//! with appendfsync everysec and always (kill -9 right after an
//! acknowledged write), BGREWRITEAOF then restart, a real redis-server 7
//! loading our AOF directory and we loading its, truncated tails with
//! aof-load-truncated yes/no, corrupt manifests / missing files / corrupt
//! commands refusing start-up, CONFIG SET appendonly yes at run time,
//! automatic rewrites, the old single-file layout upgrade, INFO field names,
//! and MISCONF after failed BGSAVE / AOF writes.
//!
//! The real-Redis parts are skipped (with a note) when it is not installed.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_ha_node::resp::Frame;
use support::{
    cmd_bytes as cmd, fill_big_collections, free_port, have_real_redis, ok, read_log,
    spawn_ours_in, start_ours_in, Client, DirServer, ScratchDir,
};

const LIMIT: Duration = Duration::from_secs(30);

fn start_ours(dir: &Path, extra: &[&str]) -> DirServer {
    let mut args = vec!["--save", "", "--appendonly", "yes"];
    args.extend_from_slice(extra);
    start_ours_in(dir, free_port(), &args, LIMIT)
}

/// A real redis-server on a directory; killed on drop.
struct Real {
    child: Child,
    port: u16,
}

impl Drop for Real {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_real(dir: &Path, extra: &[&str]) -> Real {
    let port = free_port();
    let child = Command::new(support::redis_server_binary())
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "yes"])
        .arg("--dir")
        .arg(dir)
        .args(["--logfile", "real.log"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let mut real = Real { child, port };
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = real.child.try_wait() {
            panic!(
                "redis-server exited with {status}: {}",
                std::fs::read_to_string(dir.join("real.log")).unwrap_or_default()
            );
        }
        assert!(started.elapsed() < LIMIT, "real redis did not start");
        if let Ok(mut c) = Client::connect(port) {
            if matches!(c.cmd(&["PING"]), Ok(Frame::Simple(_))) {
                return real;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every type, compact and big, binary values, TTLs, a transaction, two dbs.
fn populate(c: &mut Client) {
    let far = b"4102444800000";
    ok(c, &[b"SET", b"str", b"hello"]);
    ok(c, &[b"SET", b"bin", b"\x00\xff\r\nbinary"]);
    ok(c, &[b"SET", b"ttl", b"v", b"EX", b"100000"]);
    ok(c, &[b"INCRBYFLOAT", b"float", b"1.5"]);
    ok(c, &[b"RPUSH", b"list", b"a", b"b", b"1", b"2"]);
    ok(c, &[b"SADD", b"intset", b"1", b"2", b"300000"]);
    ok(c, &[b"SADD", b"set", b"x", b"y", b"z"]);
    ok(c, &[b"HSET", b"hash", b"f", b"v", b"n", b"1"]);
    ok(
        c,
        &[b"ZADD", b"zset", b"1", b"a", b"2.5", b"b", b"-inf", b"c"],
    );
    ok(c, &[b"PEXPIREAT", b"zset", far]);
    ok(c, &[b"EXPIRE", b"list", b"100000"]);
    ok(c, &[b"MULTI"]);
    ok(c, &[b"INCR", b"counter"]);
    ok(c, &[b"LPUSH", b"list", b"head"]);
    ok(c, &[b"EXEC"]);
    ok(c, &[b"PUBLISH", b"channel", b"not in the aof"]);
    fill_big_collections(c, 200);
    ok(c, &[b"DEL", b"set"]);
}

fn text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) => String::from_utf8_lossy(b).escape_debug().to_string(),
        Frame::Integer(n) => n.to_string(),
        Frame::Array(items) => {
            let mut parts: Vec<String> = items.iter().map(text).collect();
            parts.sort();
            parts.join(",")
        }
        other => format!("{other:?}"),
    }
}

/// Everything observable about the dataset, sorted: db, key, type,
/// absolute expiry, value.
fn snapshot(c: &mut Client) -> Vec<String> {
    let mut out = Vec::new();
    for db in ["0", "3"] {
        ok(c, &[b"SELECT", db.as_bytes()]);
        let Frame::Array(keys) = cmd(c, &[b"KEYS", b"*"]) else {
            panic!("KEYS")
        };
        for key in keys {
            let Frame::Bulk(key) = key else { panic!("key") };
            let k = key.as_slice();
            let ty = text(&cmd(c, &[b"TYPE", k]));
            let value = match ty.as_str() {
                "string" => text(&cmd(c, &[b"GET", k])),
                "list" => {
                    let Frame::Array(items) = cmd(c, &[b"LRANGE", k, b"0", b"-1"]) else {
                        panic!("LRANGE")
                    };
                    items.iter().map(text).collect::<Vec<_>>().join("|")
                }
                "set" => text(&cmd(c, &[b"SMEMBERS", k])),
                "hash" => text(&cmd(c, &[b"HGETALL", k])),
                "zset" => text(&cmd(c, &[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"])),
                other => panic!("unexpected type {other}"),
            };
            out.push(format!(
                "{db} {} {ty} {} {value}",
                String::from_utf8_lossy(k),
                text(&cmd(c, &[b"PEXPIRETIME", k])),
            ));
        }
    }
    ok(c, &[b"SELECT", b"0"]);
    out.sort();
    assert!(out.len() > 10, "dataset too small: {out:?}");
    out
}

fn info_field(c: &mut Client, name: &str) -> String {
    let Frame::Bulk(info) = cmd(c, &[b"INFO", b"persistence"]) else {
        panic!("INFO")
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
}

/// Polls until `cond` holds, up to the generous deadline.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// INFO persistence as (name, value) pairs, from one reply.
fn persistence_info(c: &mut Client) -> std::collections::HashMap<String, String> {
    let Frame::Bulk(info) = cmd(c, &[b"INFO", b"persistence"]) else {
        panic!("INFO")
    };
    String::from_utf8_lossy(&info)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn wait_rewrite_done(c: &mut Client, rewrites: u64) {
    // All three from the same INFO: a scheduled rewrite may start between
    // two separate calls.
    wait_for("the AOF rewrite", || {
        let info = persistence_info(c);
        info["aof_rewrite_in_progress"] == "0"
            && info["aof_rewrite_scheduled"] == "0"
            && info["aof_rewrites"].parse::<u64>().unwrap_or(0) >= rewrites
    });
    assert_eq!(info_field(c, "aof_last_bgrewrite_status"), "ok");
}

fn kill9(server: &mut DirServer) {
    server.child.kill().expect("kill -9");
    let _ = server.child.wait();
}

fn aof_dir(dir: &Path) -> PathBuf {
    dir.join("appendonlydir")
}

fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(aof_dir(dir).join("appendonly.aof.manifest")).unwrap_or_default()
}

/// Starts ours expecting a failed start-up; returns the log.
fn failed_start(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["--save", "", "--appendonly", "yes"];
    args.extend_from_slice(extra);
    let mut child = spawn_ours_in(dir, free_port(), &args);
    let status = support::wait_exit(&mut child, LIMIT);
    assert!(!status.success(), "start-up should fail: {}", read_log(dir));
    read_log(dir)
}

fn restart_keeps_data(fsync: &str) {
    let dir = ScratchDir::new(&format!("aof-restart-{fsync}"));
    let expected = {
        let mut server = start_ours(&dir.0, &["--appendfsync", fsync]);
        let mut c = server.client();
        populate(&mut c);
        let snap = snapshot(&mut c);
        kill9(&mut server);
        snap
    };
    let layout = manifest(&dir.0);
    assert_eq!(
        layout,
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    let incr = std::fs::read(aof_dir(&dir.0).join("appendonly.aof.1.incr.aof")).expect("incr");
    let incr = String::from_utf8_lossy(&incr);
    assert!(
        incr.starts_with("*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"),
        "{incr}"
    );
    assert!(!incr.contains("PUBLISH") && !incr.contains("publish"));
    assert!(incr.contains("$4\r\nPXAT\r\n") && incr.contains("$9\r\nPEXPIREAT\r\n"));
    assert!(incr.contains("*1\r\n$5\r\nMULTI\r\n"));
    let server = start_ours(&dir.0, &["--appendfsync", fsync]);
    let mut c = server.client();
    assert_eq!(snapshot(&mut c), expected);
    let log = read_log(&dir.0);
    assert!(
        log.contains("DB loaded from incr file appendonly.aof.1.incr.aof"),
        "{log}"
    );
    assert!(log.contains("Opening AOF incr file appendonly.aof.1.incr.aof on server start"));
}

#[test]
fn restart_keeps_data_with_everysec() {
    restart_keeps_data("everysec");
}

#[test]
fn restart_keeps_data_with_no_fsync() {
    restart_keeps_data("no");
}

#[test]
fn always_keeps_an_acknowledged_write_across_kill_9() {
    let dir = ScratchDir::new("aof-always");
    {
        let mut server = start_ours(&dir.0, &["--appendfsync", "always"]);
        let mut c = server.client();
        for i in 0..50 {
            ok(&mut c, &[b"SET", format!("k{i}").as_bytes(), b"v"]);
        }
        ok(&mut c, &[b"SET", b"last", b"acknowledged"]);
        kill9(&mut server);
    }
    let server = start_ours(&dir.0, &["--appendfsync", "always"]);
    let mut c = server.client();
    assert_eq!(
        cmd(&mut c, &[b"GET", b"last"]),
        Frame::Bulk(b"acknowledged".to_vec())
    );
    assert_eq!(cmd(&mut c, &[b"DBSIZE"]), Frame::Integer(51));
}

fn rewrite_then_restart(preamble: &str) {
    let dir = ScratchDir::new(&format!("aof-rewrite-{preamble}"));
    let base_ext = if preamble == "yes" { "rdb" } else { "aof" };
    let expected = {
        let mut server = start_ours(&dir.0, &["--aof-use-rdb-preamble", preamble]);
        let mut c = server.client();
        populate(&mut c);
        assert_eq!(
            cmd(&mut c, &[b"BGREWRITEAOF"]),
            Frame::Simple(b"Background append only file rewriting started".to_vec())
        );
        wait_rewrite_done(&mut c, 1);
        // Writes after the rewrite go to the new incr file.
        ok(&mut c, &[b"SET", b"after-rewrite", b"1"]);
        ok(&mut c, &[b"LPUSH", b"list", b"newest"]);
        let snap = snapshot(&mut c);
        kill9(&mut server);
        snap
    };
    assert_eq!(
        manifest(&dir.0),
        format!("file appendonly.aof.2.base.{base_ext} seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n")
    );
    // History files are gone.
    let mut files: Vec<String> = std::fs::read_dir(aof_dir(&dir.0))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        vec![
            format!("appendonly.aof.2.base.{base_ext}"),
            "appendonly.aof.2.incr.aof".to_string(),
            "appendonly.aof.manifest".to_string()
        ]
    );
    let server = start_ours(&dir.0, &["--aof-use-rdb-preamble", preamble]);
    let mut c = server.client();
    assert_eq!(snapshot(&mut c), expected);
    // A real Redis 7 loads the same directory to the same data.
    if have_real_redis() {
        drop(server);
        let real = start_real(&dir.0, &[]);
        let mut rc = Client::connect(real.port).expect("connect");
        assert_eq!(snapshot(&mut rc), expected);
    } else {
        eprintln!("real-redis part skipped: redis-server not installed");
    }
}

#[test]
fn bgrewriteaof_with_rdb_base_then_restart_and_real_redis_loads_it() {
    rewrite_then_restart("yes");
}

#[test]
fn bgrewriteaof_with_command_base_then_restart_and_real_redis_loads_it() {
    rewrite_then_restart("no");
}

#[test]
fn real_redis_loads_our_incr_files() {
    if !have_real_redis() {
        eprintln!("skipped: redis-server not installed");
        return;
    }
    let dir = ScratchDir::new("aof-to-real");
    let expected = {
        let mut server = start_ours(&dir.0, &[]);
        let mut c = server.client();
        populate(&mut c);
        let snap = snapshot(&mut c);
        kill9(&mut server);
        snap
    };
    let real = start_real(&dir.0, &[]);
    let mut rc = Client::connect(real.port).expect("connect");
    assert_eq!(snapshot(&mut rc), expected);
}

#[test]
fn we_load_real_redis_aof_directory() {
    if !have_real_redis() {
        eprintln!("skipped: redis-server not installed");
        return;
    }
    for preamble in ["yes", "no"] {
        let dir = ScratchDir::new("aof-from-real");
        let expected = {
            // always: with everysec Redis may postpone a write while a
            // background fsync runs (its documented up-to-2s loss window),
            // and the kill below would lose it.
            let real = start_real(
                &dir.0,
                &[
                    "--aof-use-rdb-preamble",
                    preamble,
                    "--appendfsync",
                    "always",
                ],
            );
            let mut rc = Client::connect(real.port).expect("connect");
            populate(&mut rc);
            ok(&mut rc, &[b"BGREWRITEAOF"]);
            wait_rewrite_done(&mut rc, 1);
            ok(&mut rc, &[b"SET", b"after-rewrite", b"1"]);
            ok(&mut rc, &[b"HSET", b"hash", b"later", b"2"]);
            snapshot(&mut rc)
        };
        let server = start_ours(&dir.0, &[]);
        let mut c = server.client();
        assert_eq!(
            snapshot(&mut c),
            expected,
            "aof-use-rdb-preamble {preamble}"
        );
    }
}

/// An incr file whose last command is cut in the middle.
fn truncated_dir(tag: &str) -> (ScratchDir, u64) {
    let dir = ScratchDir::new(tag);
    {
        let mut server = start_ours(&dir.0, &[]);
        let mut c = server.client();
        ok(&mut c, &[b"SET", b"kept", b"1"]);
        ok(&mut c, &[b"SET", b"cut", b"2"]);
        kill9(&mut server);
    }
    let incr = aof_dir(&dir.0).join("appendonly.aof.1.incr.aof");
    let len = std::fs::metadata(&incr).expect("incr").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&incr)
        .expect("open");
    f.set_len(len - 5).expect("truncate");
    let last_cmd = b"*3\r\n$3\r\nSET\r\n$3\r\ncut\r\n$1\r\n2\r\n".len() as u64;
    (dir, len - last_cmd)
}

#[test]
fn truncated_tail_is_cut_with_aof_load_truncated_yes() {
    let (dir, valid) = truncated_dir("aof-trunc-yes");
    let server = start_ours(&dir.0, &[]);
    let mut c = server.client();
    assert_eq!(cmd(&mut c, &[b"GET", b"kept"]), Frame::Bulk(b"1".to_vec()));
    assert_eq!(cmd(&mut c, &[b"GET", b"cut"]), Frame::Null);
    let log = read_log(&dir.0);
    assert!(
        log.contains(
            "!!! Warning: short read while loading the AOF file appendonly.aof.1.incr.aof!!!"
        ),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "!!! Truncating the AOF appendonly.aof.1.incr.aof at offset {valid} !!!"
        )),
        "{log}"
    );
    assert!(log.contains(
        "AOF appendonly.aof.1.incr.aof loaded anyway because aof-load-truncated is enabled"
    ));
    // Appending continues after the cut: a later restart reads it all.
    ok(&mut c, &[b"SET", b"after", b"3"]);
    drop(c);
    drop(server);
    let server = start_ours(&dir.0, &[]);
    let mut c = server.client();
    assert_eq!(cmd(&mut c, &[b"GET", b"after"]), Frame::Bulk(b"3".to_vec()));
    assert_eq!(cmd(&mut c, &[b"GET", b"kept"]), Frame::Bulk(b"1".to_vec()));
}

#[test]
fn truncated_tail_refuses_start_with_aof_load_truncated_no() {
    let (dir, _) = truncated_dir("aof-trunc-no");
    let log = failed_start(&dir.0, &["--aof-load-truncated", "no"]);
    assert!(log.contains("Unexpected end of file reading the append only file appendonly.aof.1.incr.aof. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."), "{log}");
}

#[test]
fn corrupt_manifest_missing_base_and_bad_commands_refuse_start_up() {
    let dir = ScratchDir::new("aof-corrupt");
    {
        let mut server = start_ours(&dir.0, &[]);
        let mut c = server.client();
        ok(&mut c, &[b"SET", b"a", b"1"]);
        ok(&mut c, &[b"SET", b"b", b"2"]);
        kill9(&mut server);
    }
    let m = aof_dir(&dir.0).join("appendonly.aof.manifest");
    let good = std::fs::read(&m).expect("manifest");

    std::fs::write(&m, b"file appendonly.aof.1.base.rdb seq 1 type x\n").expect("write");
    let log = failed_start(&dir.0, &[]);
    assert!(
        log.contains("*** FATAL AOF MANIFEST FILE ERROR ***"),
        "{log}"
    );
    assert!(log.contains("Unknown AOF file type"), "{log}");

    std::fs::write(&m, b"garbage\n").expect("write");
    let log = failed_start(&dir.0, &[]);
    assert!(log.contains("Invalid AOF manifest file format"), "{log}");

    std::fs::write(&m, &good).expect("write");
    let base = aof_dir(&dir.0).join("appendonly.aof.1.base.rdb");
    let base_bytes = std::fs::read(&base).expect("base");
    std::fs::remove_file(&base).expect("rm base");
    let log = failed_start(&dir.0, &[]);
    assert!(log.contains("appendonly.aof.1.base.rdb"), "{log}");
    assert!(
        log.contains("listed in the manifest can't be read"),
        "{log}"
    );

    // A corrupt RDB base: the loader says which file.
    let mut bad = base_bytes.clone();
    let n = bad.len();
    bad[n - 3] ^= 0xff;
    std::fs::write(&base, &bad).expect("write");
    let log = failed_start(&dir.0, &[]);
    assert!(
        log.contains(
            "Error reading the RDB base file appendonly.aof.1.base.rdb, AOF loading aborted"
        ),
        "{log}"
    );

    // Garbage in the middle of the incr file: refused, naming file and offset.
    std::fs::write(&base, &base_bytes).expect("write");
    let incr = aof_dir(&dir.0).join("appendonly.aof.1.incr.aof");
    let mut data = std::fs::read(&incr).expect("incr");
    let offset = data.len();
    data.extend_from_slice(b"+this is not a command\r\n*1\r\n$4\r\nPING\r\n");
    std::fs::write(&incr, &data).expect("write");
    let log = failed_start(&dir.0, &[]);
    assert!(
        log.contains("Bad file format reading the append only file appendonly.aof.1.incr.aof"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "bad file format at offset {offset} of the append only file"
        )),
        "{log}"
    );
}

#[test]
fn config_set_appendonly_yes_at_run_time_writes_a_base() {
    let dir = ScratchDir::new("aof-config-set");
    let expected = {
        let mut server = start_ours_in(&dir.0, free_port(), &["--save", ""], LIMIT);
        let mut c = server.client();
        populate(&mut c);
        assert_eq!(info_field(&mut c, "aof_enabled"), "0");
        assert_eq!(
            cmd(&mut c, &[b"CONFIG", b"SET", b"appendonly", b"yes"]),
            Frame::Simple(b"OK".to_vec())
        );
        assert_eq!(info_field(&mut c, "aof_enabled"), "1");
        wait_rewrite_done(&mut c, 1);
        ok(&mut c, &[b"SET", b"after-enable", b"x"]);
        let snap = snapshot(&mut c);
        kill9(&mut server);
        snap
    };
    assert_eq!(
        manifest(&dir.0),
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    let server = start_ours(&dir.0, &[]);
    let mut c = server.client();
    assert_eq!(snapshot(&mut c), expected);
    // And off again: the file stops growing.
    ok(&mut c, &[b"CONFIG", b"SET", b"appendonly", b"no"]);
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
}

#[test]
fn automatic_rewrite_triggers_on_growth() {
    let dir = ScratchDir::new("aof-auto");
    let server = start_ours(
        &dir.0,
        &[
            "--auto-aof-rewrite-percentage",
            "100",
            "--auto-aof-rewrite-min-size",
            "4096",
        ],
    );
    let mut c = server.client();
    let value = "x".repeat(100);
    for i in 0..200 {
        ok(
            &mut c,
            &[
                b"SET",
                format!("key:{}", i % 10).as_bytes(),
                value.as_bytes(),
            ],
        );
    }
    wait_rewrite_done(&mut c, 1);
    let log = read_log(&dir.0);
    assert!(
        log.contains("Starting automatic rewriting of AOF on"),
        "{log}"
    );
    assert_eq!(cmd(&mut c, &[b"DBSIZE"]), Frame::Integer(10));
}

#[test]
fn old_single_file_aof_is_upgraded() {
    let dir = ScratchDir::new("aof-upgrade");
    std::fs::write(
        dir.0.join("appendonly.aof"),
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$3\r\nold\r\n$5\r\nstyle\r\n",
    )
    .expect("write");
    let server = start_ours(&dir.0, &[]);
    let mut c = server.client();
    assert_eq!(
        cmd(&mut c, &[b"GET", b"old"]),
        Frame::Bulk(b"style".to_vec())
    );
    assert!(!dir.0.join("appendonly.aof").exists());
    assert_eq!(
        manifest(&dir.0),
        "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    let log = read_log(&dir.0);
    assert!(log.contains("Successfully migrated an old-style AOF file (appendonly.aof) into the AOF directory (appendonlydir)."), "{log}");
}

fn persistence_field_names(port: u16) -> Vec<String> {
    let mut c = Client::connect(port).expect("connect");
    let Frame::Bulk(info) = cmd(&mut c, &[b"INFO", b"persistence"]) else {
        panic!("INFO")
    };
    String::from_utf8_lossy(&info)
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
        .collect()
}

#[test]
fn info_persistence_fields_match_real_redis() {
    if !have_real_redis() {
        eprintln!("skipped: redis-server not installed");
        return;
    }
    let ours_dir = ScratchDir::new("aof-info-ours");
    let real_dir = ScratchDir::new("aof-info-real");
    let ours = start_ours(&ours_dir.0, &[]);
    let real = start_real(&real_dir.0, &[]);
    assert_eq!(
        persistence_field_names(ours.port),
        persistence_field_names(real.port)
    );
    let mut c = ours.client();
    let mut rc = Client::connect(real.port).expect("connect");
    for c in [&mut c, &mut rc] {
        ok(c, &[b"CONFIG", b"SET", b"appendonly", b"no"]);
    }
    assert_eq!(
        persistence_field_names(ours.port),
        persistence_field_names(real.port)
    );
}

/// Replies of SET and PING on a server whose last BGSAVE failed because
/// `dbfilename` names a non-empty directory (a rename root cannot do).
fn misconf_after_failed_bgsave(port: u16, dir: &Path) -> (Frame, Frame, Frame) {
    let blocker = dir.join("dump.rdb");
    std::fs::create_dir_all(blocker.join("inside")).expect("blocker");
    let mut c = Client::connect(port).expect("connect");
    ok(&mut c, &[b"CONFIG", b"SET", b"save", b"3600 1"]);
    ok(&mut c, &[b"SET", b"k", b"v"]);
    ok(&mut c, &[b"BGSAVE"]);
    wait_for("the BGSAVE failure", || {
        let info = persistence_info(&mut c);
        info["rdb_bgsave_in_progress"] == "0" && info["rdb_last_bgsave_status"] == "err"
    });
    let set = cmd(&mut c, &[b"SET", b"k2", b"v"]);
    let ping = cmd(&mut c, &[b"PING"]);
    let get = cmd(&mut c, &[b"GET", b"k"]);
    // A successful save clears the condition.
    std::fs::remove_dir_all(&blocker).expect("rm blocker");
    ok(&mut c, &[b"CONFIG", b"SET", b"save", b""]);
    (set, ping, get)
}

#[test]
fn misconf_after_a_failed_bgsave_matches_real_redis() {
    let dir = ScratchDir::new("aof-misconf");
    let ours = start_ours_in(&dir.0, free_port(), &["--save", ""], LIMIT);
    let got = misconf_after_failed_bgsave(ours.port, &dir.0);
    let Frame::Error(e) = &got.0 else {
        panic!("SET not refused: {:?}", got.0)
    };
    assert!(
        String::from_utf8_lossy(e).starts_with("MISCONF Redis is configured to save RDB snapshots")
    );
    let mut c = ours.client();
    ok(&mut c, &[b"SET", b"k3", b"v"]);
    if have_real_redis() {
        let real_dir = ScratchDir::new("aof-misconf-real");
        let real = start_real(&real_dir.0, &["--appendonly", "no"]);
        assert_eq!(misconf_after_failed_bgsave(real.port, &real_dir.0), got);
    }
}

/// The incr file is a link to /dev/full: every AOF write fails with ENOSPC.
fn misconf_after_aof_write_error(start: impl FnOnce(&Path) -> u16, dir: &Path) -> (Frame, Frame) {
    let aof = aof_dir(dir);
    std::fs::create_dir_all(&aof).expect("dir");
    std::fs::write(
        aof.join("appendonly.aof.manifest"),
        "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .expect("manifest");
    std::fs::write(
        aof.join("appendonly.aof.1.base.aof"),
        b"*1\r\n$4\r\nPING\r\n",
    )
    .expect("base");
    std::os::unix::fs::symlink("/dev/full", aof.join("appendonly.aof.1.incr.aof")).expect("link");
    let port = start(dir);
    let mut c = Client::connect(port).expect("connect");
    // The write is applied and acknowledged; the flush after it fails.
    ok(&mut c, &[b"SET", b"k", b"v"]);
    let mut set = Frame::Null;
    wait_for("the AOF write error", || {
        set = cmd(&mut c, &[b"SET", b"k2", b"v"]);
        matches!(set, Frame::Error(_))
    });
    let get = cmd(&mut c, &[b"GET", b"k"]);
    (set, get)
}

#[test]
fn misconf_after_an_aof_write_error_matches_real_redis() {
    let dir = ScratchDir::new("aof-write-error");
    let mut holder = None;
    let got = misconf_after_aof_write_error(
        |d| {
            let s = start_ours(d, &[]);
            let port = s.port;
            holder = Some(s);
            port
        },
        &dir.0,
    );
    assert_eq!(
        got.0,
        Frame::Error(b"MISCONF Errors writing to the AOF file: No space left on device".to_vec())
    );
    if have_real_redis() {
        let real_dir = ScratchDir::new("aof-write-error-real");
        let mut real_holder = None;
        let real = misconf_after_aof_write_error(
            |d| {
                let r = start_real(d, &[]);
                let port = r.port;
                real_holder = Some(r);
                port
            },
            &real_dir.0,
        );
        assert_eq!(real, got);
    }
}

#[test]
fn fork_children_report_their_copy_on_write_size() {
    let dir = ScratchDir::new("aof-cow");
    let server = start_ours(&dir.0, &[]);
    let mut c = server.client();
    populate(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_cow_size"), "0");
    ok(&mut c, &[b"BGSAVE"]);
    wait_for("the BGSAVE", || {
        let info = persistence_info(&mut c);
        info["rdb_bgsave_in_progress"] == "0" && info["rdb_saves"] == "1"
    });
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    let rdb_cow: u64 = info_field(&mut c, "rdb_last_cow_size")
        .parse()
        .expect("number");
    assert!(rdb_cow > 0, "rdb_last_cow_size {rdb_cow}");
    ok(&mut c, &[b"BGREWRITEAOF"]);
    wait_rewrite_done(&mut c, 1);
    let aof_cow: u64 = info_field(&mut c, "aof_last_cow_size")
        .parse()
        .expect("number");
    assert!(aof_cow > 0, "aof_last_cow_size {aof_cow}");
    let log = read_log(&dir.0);
    assert!(log.contains("Fork CoW for RDB: current"), "{log}");
}

#[test]
fn bgrewriteaof_during_bgsave_is_scheduled_and_bgsave_during_rewrite_needs_schedule() {
    let dir = ScratchDir::new("aof-one-child");
    let server = start_ours(&dir.0, &[]);
    let mut c = server.client();
    populate(&mut c);
    // One pipelined batch: the BGSAVE child cannot have been reaped (the
    // cron does that) when BGREWRITEAOF runs.
    c.send_raw(b"BGSAVE\r\nBGREWRITEAOF\r\n").expect("send");
    assert_eq!(
        c.read().expect("reply"),
        Frame::Simple(b"Background saving started".to_vec())
    );
    assert_eq!(
        c.read().expect("reply"),
        Frame::Simple(b"Background append only file rewriting scheduled".to_vec())
    );
    // The rewrite runs once the save is done.
    wait_rewrite_done(&mut c, 1);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    // And the other way round.
    c.send_raw(b"BGREWRITEAOF\r\nBGSAVE\r\nBGSAVE SCHEDULE\r\n")
        .expect("send");
    assert_eq!(
        c.read().expect("reply"),
        Frame::Simple(b"Background append only file rewriting started".to_vec())
    );
    assert_eq!(
        c.read().expect("reply"),
        Frame::Error(b"ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.".to_vec())
    );
    assert_eq!(
        c.read().expect("reply"),
        Frame::Simple(b"Background saving scheduled".to_vec())
    );
    wait_for("the scheduled BGSAVE", || {
        let info = persistence_info(&mut c);
        info["rdb_saves"] == "2" && info["rdb_bgsave_in_progress"] == "0"
    });
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
}

#[test]
fn old_style_aof_with_rdb_preamble_and_command_tail_loads() {
    let dir = ScratchDir::new("aof-preamble");
    {
        let mut server = start_ours_in(&dir.0, free_port(), &["--save", ""], LIMIT);
        let mut c = server.client();
        ok(&mut c, &[b"SET", b"from-rdb", b"1"]);
        ok(&mut c, &[b"RPUSH", b"list", b"a", b"b"]);
        ok(&mut c, &[b"SAVE"]);
        kill9(&mut server);
    }
    let mut old = std::fs::read(dir.0.join("dump.rdb")).expect("dump");
    std::fs::remove_file(dir.0.join("dump.rdb")).expect("rm dump");
    old.extend_from_slice(b"*3\r\n$5\r\nRPUSH\r\n$4\r\nlist\r\n$1\r\nc\r\n*3\r\n$3\r\nSET\r\n$4\r\ntail\r\n$1\r\n2\r\n");
    std::fs::write(dir.0.join("appendonly.aof"), &old).expect("write");
    let server = start_ours(&dir.0, &[]);
    let mut c = server.client();
    assert_eq!(
        cmd(&mut c, &[b"GET", b"from-rdb"]),
        Frame::Bulk(b"1".to_vec())
    );
    assert_eq!(cmd(&mut c, &[b"GET", b"tail"]), Frame::Bulk(b"2".to_vec()));
    assert_eq!(
        cmd(&mut c, &[b"LRANGE", b"list", b"0", b"-1"]),
        Frame::Array(vec![
            Frame::Bulk(b"a".to_vec()),
            Frame::Bulk(b"b".to_vec()),
            Frame::Bulk(b"c".to_vec())
        ])
    );
    let log = read_log(&dir.0);
    assert!(
        log.contains("Reading RDB preamble from AOF file..."),
        "{log}"
    );
    assert!(log.contains("Reading the remaining AOF tail..."), "{log}");
}

#[test]
fn appendonly_yes_during_a_bgsave_schedules_the_rewrite() {
    let dir = ScratchDir::new("aof-enable-during-bgsave");
    let server = start_ours_in(&dir.0, free_port(), &["--save", ""], LIMIT);
    let mut c = server.client();
    populate(&mut c);
    c.send_raw(b"BGSAVE\r\nCONFIG SET appendonly yes\r\nINFO persistence\r\n")
        .expect("send");
    assert_eq!(
        c.read().expect("reply"),
        Frame::Simple(b"Background saving started".to_vec())
    );
    assert_eq!(c.read().expect("reply"), Frame::Simple(b"OK".to_vec()));
    let Frame::Bulk(info) = c.read().expect("reply") else {
        panic!("INFO")
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    assert!(info.contains("aof_enabled:1\r\n"), "{info}");
    assert!(info.contains("aof_rewrite_scheduled:1\r\n"), "{info}");
    wait_rewrite_done(&mut c, 1);
    let expected = snapshot(&mut c);
    ok(&mut c, &[b"SET", b"later", b"1"]);
    drop(c);
    drop(server);
    let server = start_ours(&dir.0, &[]);
    let mut c = server.client();
    assert_eq!(cmd(&mut c, &[b"GET", b"later"]), Frame::Bulk(b"1".to_vec()));
    ok(&mut c, &[b"DEL", b"later"]);
    assert_eq!(snapshot(&mut c), expected);
    let log = read_log(&dir.0);
    assert!(log.contains("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible."), "{log}");
}
