//! `redis-ha-node [/path/to/redis.conf] [--name value ...]`, started like
//! redis-server.

use std::process::ExitCode;

use redis_ha_node::config::{Config, REDIS_VERSION};
use redis_ha_node::log;

const HA_VERSION: &str = env!("CARGO_PKG_VERSION");

#[global_allocator]
static ALLOCATOR: redis_ha_node::alloc::CountingAllocator = redis_ha_node::alloc::CountingAllocator;

fn usage() -> String {
    "Usage: ./redis-ha-node [/path/to/redis.conf] [options] [-]\n       \
     ./redis-ha-node - (read config from stdin)\n       \
     ./redis-ha-node -v or --version\n       \
     ./redis-ha-node -h or --help\n\n\
     Examples:\n       \
     ./redis-ha-node (run the server with default conf)\n       \
     ./redis-ha-node /etc/redis/6379.conf\n       \
     ./redis-ha-node --port 7777\n       \
     ./redis-ha-node --port 7777 --replicaof 127.0.0.1 8888\n       \
     ./redis-ha-node /etc/myredis.conf --loglevel verbose -\n"
        .to_string()
}

/// Splits argv into (config file, overrides), as redis-server does.
fn parse_argv(args: &[String]) -> Result<(Option<String>, Vec<String>, bool), String> {
    let mut file = None;
    let mut rest = args;
    if let Some(first) = rest.first() {
        if !first.starts_with("--") && first != "-" {
            file = Some(first.clone());
            rest = &rest[1..];
        }
    }
    let mut stdin = false;
    let mut overrides = Vec::new();
    for a in rest {
        if a == "-" {
            stdin = true;
        } else {
            overrides.push(a.clone());
        }
    }
    Ok((file, overrides, stdin))
}

/// Asks the sentinels for the master and configures `replicaof` (or stays
/// master when they name this node and it has data, or on first boot).
fn apply_sentinel_role(
    config: &mut Config,
    ask: &redis_ha_node::sentinel::discovery::AskSentinels,
) -> Result<(), String> {
    use redis_ha_node::sentinel::discovery::{decide, Decision};
    let mut me: Vec<String> = vec!["127.0.0.1".into(), "localhost".into(), "::1".into()];
    me.extend(
        config
            .settings
            .bind
            .iter()
            .map(|b| b.trim_start_matches('-').to_string()),
    );
    if let Some(ip) = config.get("replica-announce-ip").filter(|v| !v.is_empty()) {
        me.push(ip.to_string());
    }
    let has_data = std::path::Path::new(&config.settings.dbfilename).exists()
        || config
            .get("appenddirname")
            .is_some_and(|d| std::path::Path::new(d).exists());
    let decision = decide(
        ask,
        config.settings.port,
        &me,
        has_data,
        std::time::Duration::from_secs(30),
    )?;
    if let Decision::Replica(ip, port) = decision {
        config
            .set("replicaof", &format!("{ip} {port}"))
            .map_err(|e| format!("replicaof {ip} {port}: {e:?}"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let argv0 = std::env::args().next().unwrap_or_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let version_flag = matches!(args.first().map(String::as_str), Some("-v" | "--version"));
    if !version_flag && redis_ha_node::sentinel::wanted(&argv0, &args) {
        // Sentinel mode: its own config file, accept loop and state.
        let rest: Vec<String> = args.into_iter().filter(|a| a != "--sentinel").collect();
        return match redis_ha_node::sentinel::main(&rest) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                redis_ha_node::warning!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(first) = args.first() {
        match first.as_str() {
            "-v" | "--version" => {
                println!("Redis server v={REDIS_VERSION} redis-ha-node={HA_VERSION} bits=64");
                return ExitCode::SUCCESS;
            }
            "-h" | "--help" => {
                print!("{}", usage());
                return ExitCode::SUCCESS;
            }
            _ => {}
        }
    }
    // `--ask-sentinels host:port,... --master-name name`: the role comes
    // from the sentinels (see sentinel/discovery.rs).
    let mut args = args;
    let ask = match redis_ha_node::sentinel::discovery::take_args(&mut args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // `--metrics-port N`: a Prometheus endpoint (not a redis.conf directive).
    let metrics_port = match redis_ha_node::metrics::take_metrics_port(&mut args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (file, overrides, stdin) = match parse_argv(&args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut text = String::new();
    if let Some(path) = &file {
        match std::fs::read_to_string(path) {
            Ok(t) => text = t,
            Err(e) => {
                eprintln!("Fatal error, can't open config file '{path}': {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if stdin {
        let mut extra = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut extra) {
            eprintln!("Fatal error reading config from stdin: {e}");
            return ExitCode::FAILURE;
        }
        text.push('\n');
        text.push_str(&extra);
    }
    let mut config = match Config::load(Some(&text), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    config.file = file
        .as_ref()
        .map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| f.into()));
    log::set_level(log::Level::from_name(&config.settings.loglevel));
    if let Err(e) = log::set_file(&config.settings.logfile) {
        eprintln!("Can't open the log file: {e}");
        return ExitCode::FAILURE;
    }
    if !config.settings.dir.is_empty() {
        if let Err(e) = std::env::set_current_dir(&config.settings.dir) {
            eprintln!("Can't chdir to '{}': {e}", config.settings.dir);
            return ExitCode::FAILURE;
        }
    }
    if let Some(ask) = &ask {
        if let Err(e) = apply_sentinel_role(&mut config, ask) {
            eprintln!("{e}");
            redis_ha_node::warning!("{e}");
            return ExitCode::FAILURE;
        }
    }
    redis_ha_node::notice!("oO0OoO0OoO0Oo redis-ha-node is starting oO0OoO0OoO0Oo");
    redis_ha_node::notice!(
        "Redis version={REDIS_VERSION}, redis-ha-node={HA_VERSION}, bits=64, pid={}, just started",
        std::process::id()
    );
    // io-threads 1 (the default, as in Redis) runs everything on one thread;
    // more threads let parsing and socket I/O use other cores.
    let runtime = if config.settings.io_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.settings.io_threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Can't start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pidfile = config.settings.pidfile.clone();
    if !pidfile.is_empty() {
        if let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id())) {
            redis_ha_node::warning!("Failed to write PID file {pidfile}: {e}");
        }
    }
    let result = runtime.block_on(redis_ha_node::server::run(config, metrics_port));
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            redis_ha_node::warning!("{e}");
            ExitCode::FAILURE
        }
    }
}
