//! `redis-ha`: run and poke a whole HA set on 127.0.0.1.
//!
//!   redis-ha up [--dir D] [--port 6379] [--replicas 2] [--sentinel-port 26379]
//!               [--sentinels 3] [--quorum 2] [--down-after-ms 5000]
//!               [--failover-timeout-ms 60000] [--master-name mymaster]
//!               [--node-bin PATH] [--keep] [--no-restart]
//!   redis-ha status      [--sentinel host:port]... [--master-name mymaster]
//!   redis-ha kill-master [--sentinel host:port]... [--master-name mymaster]

use std::path::PathBuf;
use std::process::ExitCode;

use redis_ha_node::local::layout::{SetOptions, DEFAULT_MASTER_NAME};
use redis_ha_node::local::supervise::{self, UpOptions};

const USAGE: &str = "Usage:
  redis-ha up [--dir D] [--port 6379] [--replicas 2] [--sentinel-port 26379]
              [--sentinels 3] [--quorum 2] [--down-after-ms 5000]
              [--failover-timeout-ms 60000] [--master-name mymaster]
              [--node-bin PATH] [--keep] [--no-restart]
  redis-ha status      [--sentinel host:port]... [--master-name mymaster]
  redis-ha kill-master [--sentinel host:port]... [--master-name mymaster]
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("up") => parse_up(&args[1..]).and_then(supervise::up),
        Some("status") => parse_target(&args[1..])
            .and_then(|(s, name)| supervise::status(&s, &name))
            .map(|text| print!("{text}")),
        Some("kill-master") => parse_target(&args[1..])
            .and_then(|(s, name)| supervise::kill_master(&s, &name))
            .map(|text| println!("{text}")),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or missing command\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("redis-ha: {e}");
            ExitCode::FAILURE
        }
    }
}

fn value<'a>(args: &'a [String], i: usize, flag: &str) -> Result<&'a str, String> {
    args.get(i + 1)
        .map(String::as_str)
        .ok_or_else(|| format!("{flag} needs a value"))
}

fn number<T: std::str::FromStr>(text: &str, flag: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: '{text}' is not a valid number"))
}

/// The node binary: `--node-bin`, else `redis-ha-node` next to this program.
fn default_node_bin() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("locating myself: {e}"))?;
    Ok(me.with_file_name("redis-ha-node"))
}

fn parse_up(args: &[String]) -> Result<UpOptions, String> {
    let mut set = SetOptions::default();
    let mut node_bin = None;
    let mut keep = false;
    let mut restart = true;
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        let mut takes_value = true;
        match flag {
            "--dir" => set.dir = PathBuf::from(value(args, i, flag)?),
            "--port" => set.port = number(value(args, i, flag)?, flag)?,
            "--replicas" => set.replicas = number(value(args, i, flag)?, flag)?,
            "--sentinel-port" => set.sentinel_port = number(value(args, i, flag)?, flag)?,
            "--sentinels" => set.sentinels = number(value(args, i, flag)?, flag)?,
            "--quorum" => set.quorum = number(value(args, i, flag)?, flag)?,
            "--down-after-ms" => set.down_after_ms = number(value(args, i, flag)?, flag)?,
            "--failover-timeout-ms" => {
                set.failover_timeout_ms = number(value(args, i, flag)?, flag)?
            }
            "--master-name" => set.master_name = value(args, i, flag)?.to_string(),
            "--node-bin" => node_bin = Some(PathBuf::from(value(args, i, flag)?)),
            "--keep" => {
                keep = true;
                takes_value = false;
            }
            "--no-restart" => {
                restart = false;
                takes_value = false;
            }
            other => return Err(format!("unknown option '{other}'\n{USAGE}")),
        }
        i += if takes_value { 2 } else { 1 };
    }
    let node_bin = match node_bin {
        Some(b) => b,
        None => default_node_bin()?,
    };
    // A bare name is looked up on PATH when started; a path must exist.
    if node_bin.components().count() > 1 && !node_bin.exists() {
        return Err(format!(
            "node binary {} not found (build it with `cargo build --release -p redis-ha-node`, or pass --node-bin)",
            node_bin.display()
        ));
    }
    Ok(UpOptions {
        set,
        node_bin,
        keep,
        restart,
    })
}

fn parse_target(args: &[String]) -> Result<(Vec<(String, u16)>, String), String> {
    let mut sentinels = Vec::new();
    let mut name = DEFAULT_MASTER_NAME.to_string();
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        match flag {
            "--sentinel" => {
                let addr = value(args, i, flag)?;
                let (h, p) = addr
                    .rsplit_once(':')
                    .ok_or_else(|| format!("--sentinel wants host:port, got '{addr}'"))?;
                sentinels.push((h.to_string(), number(p, flag)?));
            }
            "--master-name" => name = value(args, i, flag)?.to_string(),
            other => return Err(format!("unknown option '{other}'\n{USAGE}")),
        }
        i += 2;
    }
    if sentinels.is_empty() {
        let d = SetOptions::default();
        sentinels = (0..d.sentinels)
            .map(|k| ("127.0.0.1".to_string(), d.sentinel_port + k))
            .collect();
    }
    Ok((sentinels, name))
}
