//! Real client tools and libraries against redis-ha-node: redis-cli,
//! redis-benchmark, the Rust `redis` crate and Python's redis-py (RESP2 and
//! RESP3). Each must work without noticing it is not Redis.

mod support;

use std::process::Command;

use support::{Flavor, ServerProcess};

fn run(cmd: &mut Command) -> (bool, String) {
    match cmd.output() {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (false, format!("cannot run {cmd:?}: {e}")),
    }
}

fn cli(port: u16, args: &[&str]) -> String {
    let (ok, out) = run(Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args));
    assert!(ok, "redis-cli {args:?} failed: {out}");
    out
}

#[test]
fn redis_cli_works_in_resp2_and_resp3() {
    let s = ServerProcess::start(Flavor::Ours, &[]);
    assert_eq!(cli(s.port, &["SET", "k", "v"]).trim(), "OK");
    assert_eq!(cli(s.port, &["GET", "k"]).trim(), "v");
    assert_eq!(cli(s.port, &["-3", "HSET", "h", "f", "1"]).trim(), "1");
    let out = cli(s.port, &["-3", "HGETALL", "h"]);
    assert!(out.contains("f") && out.contains('1'), "{out}");
    assert_eq!(
        cli(s.port, &["--no-raw", "INCR", "n"]).trim(),
        "(integer) 1"
    );
    // Errors print as such, and the exit status stays 0 like real redis-cli.
    let out = cli(s.port, &["LPUSH", "k", "x"]);
    assert!(out.contains("WRONGTYPE"), "{out}");
}

#[test]
fn redis_benchmark_runs_against_it() {
    let s = ServerProcess::start(Flavor::Ours, &[]);
    let (ok, out) = run(Command::new("redis-benchmark")
        .args(["-p", &s.port.to_string(), "-n", "2000", "-c", "4", "-q"])
        .args([
            "-t",
            "ping,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset",
        ]));
    assert!(ok, "redis-benchmark failed: {out}");
    // Each test prints "<NAME>: <rps> requests per second" (MSET as "MSET (10 keys):").
    for test in [
        "SET:",
        "GET:",
        "INCR:",
        "LPUSH:",
        "SADD:",
        "HSET:",
        "ZADD:",
        "MSET (10 keys):",
        "LRANGE_100",
    ] {
        assert!(
            out.contains(test),
            "missing {test} in:
{out}"
        );
    }
    assert!(!out.to_lowercase().contains("error"), "{out}");
    let dbsize = cli(s.port, &["DBSIZE"]);
    assert!(dbsize.trim().parse::<u64>().unwrap_or(0) > 0, "{dbsize}");
}

#[tokio::test]
async fn rust_redis_crate_works() {
    use redis::AsyncCommands;
    let s = ServerProcess::start(Flavor::Ours, &[]);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", s.port)).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = con.set("key", 42).await.unwrap();
    let v: i64 = con.get("key").await.unwrap();
    assert_eq!(v, 42);
    let n: i64 = con.incr("key", 8).await.unwrap();
    assert_eq!(n, 50);
    let (a, b): (i64, String) = redis::pipe()
        .atomic()
        .incr("c", 1)
        .set("s", "x")
        .ignore()
        .get("s")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!((a, b.as_str()), (1, "x"));
    let _: () = con.rpush("l", &["a", "b"]).await.unwrap();
    let l: Vec<String> = con.lrange("l", 0, -1).await.unwrap();
    assert_eq!(l, vec!["a", "b"]);
    let err = con.lpush::<_, _, i64>("s", "x").await.unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"));
}

#[test]
fn redis_py_works_in_resp2_and_resp3() {
    let s = ServerProcess::start(Flavor::Ours, &[]);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/client_compat.py");
    let (ok, out) = run(Command::new("python3").arg(&script).arg(s.port.to_string()));
    assert!(
        ok,
        "redis-py check failed (is python3-redis installed?):\n{out}"
    );
    assert!(out.contains("redis-py ok"), "{out}");
}
