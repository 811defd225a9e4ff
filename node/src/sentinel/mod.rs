//! Sentinel mode (`redis-ha-node --sentinel`, or the binary run as
//! `redis-sentinel`): a Redis Sentinel compatible with Redis 7.0's — the
//! same sentinel.conf, commands, events, hello protocol and elections.

pub mod commands;
pub mod config;
pub mod detect;
pub mod discovery;
pub mod election;
pub mod events;
pub mod failover;
pub mod instance;
pub mod monitor;
pub mod scripts;
pub mod server;
pub mod state;
pub mod timer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng;

use config::SentinelConfig;
use state::Sentinel;

/// True when argv asks for sentinel mode: `--sentinel` anywhere, or the
/// program file named `redis-sentinel`.
pub fn wanted(argv0: &str, args: &[String]) -> bool {
    let prog = std::path::Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    prog == "redis-sentinel" || args.iter().any(|a| a == "--sentinel")
}

/// Loads the config and runs the Sentinel until SHUTDOWN or a signal.
/// `args` is argv without the program name and without `--sentinel`.
pub fn main(args: &[String]) -> Result<(), String> {
    crate::log::set_role(b'X');
    let mut file: Option<String> = None;
    let mut rest = args;
    if let Some(first) = rest.first() {
        if !first.starts_with("--") {
            file = Some(first.clone());
            rest = &rest[1..];
        }
    }
    let Some(file) = file else {
        return Err("Sentinel needs config file on disk to save state. Exiting...".into());
    };
    let path = std::fs::canonicalize(&file).unwrap_or_else(|_| PathBuf::from(&file));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "Fatal error, can't open config file '{}': {e}",
            path.display()
        )
    })?;
    let mut all = text.clone();
    all.push('\n');
    all.push_str(&crate::config::overrides_to_lines(rest));
    let conf = SentinelConfig::parse(&all).map_err(|e| e.to_string())?;
    config::check_writable(&path).map_err(|e| {
        format!(
            "Sentinel config file {} is not writable: {e}. Exiting...",
            path.display()
        )
    })?;
    crate::log::set_level(crate::log::Level::from_name(&conf.loglevel));
    crate::log::set_file(&conf.logfile).map_err(|e| format!("Can't open the log file: {e}"))?;
    if let Some(dir) = &conf.dir {
        std::env::set_current_dir(dir).map_err(|e| format!("Can't chdir to '{dir}': {e}"))?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("Can't start the runtime: {e}"))?;
    runtime.block_on(run(conf, path))
}

async fn run(conf: SentinelConfig, path: PathBuf) -> Result<(), String> {
    crate::notice!("oO0OoO0OoO0Oo redis-ha-node is starting oO0OoO0OoO0Oo");
    let binds: Vec<String> = if conf.bind.is_empty() {
        vec!["0.0.0.0".to_string()]
    } else {
        conf.bind
            .iter()
            .map(|b| b.trim_start_matches('-').to_string())
            .collect()
    };
    let mut listeners = Vec::new();
    for b in &binds {
        let l = tokio::net::TcpListener::bind((b.as_str(), conf.port))
            .await
            .map_err(|e| {
                format!(
                    "Warning: Could not create server TCP listening socket {b}:{}: {e}",
                    conf.port
                )
            })?;
        listeners.push(l);
    }
    if !conf.pidfile.is_empty() {
        let _ = std::fs::write(&conf.pidfile, format!("{}\n", std::process::id()));
    }
    let shared = Arc::new_cyclic(|weak| {
        let mut s = Sentinel::new(&conf, path.clone());
        s.ctx.shared = weak.clone();
        Mutex::new(s)
    });
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    {
        let mut s = shared.lock();
        s.ctx.shutdown = Some(stop_tx);
        crate::notice!("Running mode=sentinel, port={}.", conf.port);
        // The id (and everything else) must be on disk before we act.
        s.flush_config()?;
        crate::warning!("Sentinel ID is {}", s.ctx.myid);
    }
    server::serve(shared.clone(), listeners).await;
    let timer_state = shared.clone();
    tokio::spawn(async move {
        loop {
            // 10-19 Hz, re-randomised each tick as Redis does, so the
            // Sentinels of a group do not act in lock step.
            let ms = 1000 / rand::thread_rng().gen_range(10..20);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            timer::tick(&mut timer_state.lock());
        }
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {
            crate::warning!("Received SIGTERM scheduling shutdown...");
            let _ = shared.lock().flush_config();
        }
        _ = tokio::signal::ctrl_c() => {
            crate::warning!("Received SIGINT scheduling shutdown...");
            let _ = shared.lock().flush_config();
        }
        _ = stop_rx.changed() => {}
    }
    if !conf.pidfile.is_empty() {
        let _ = std::fs::remove_file(&conf.pidfile);
    }
    crate::warning!("Sentinel is now ready to exit, bye bye...");
    Ok(())
}
