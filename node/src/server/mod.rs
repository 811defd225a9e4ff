//! The server: listeners, connection tasks, the periodic cron, shutdown.

pub mod blocking;
pub mod client;
pub mod connection;
pub mod context;
pub mod cron;
pub mod evict;
pub mod exec;
pub mod persist;
pub mod pubsub;
pub mod repl_log;
pub mod state;
#[cfg(test)]
pub mod test_support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::{notice, warning};
pub use state::{ServerState, Shared};

/// Turns one `bind` entry into a socket address. A leading `-` marks an
/// address whose failure to bind is not fatal; `*` and `::*` mean any.
fn bind_target(entry: &str, port: u16) -> (Option<SocketAddr>, bool) {
    let (optional, addr) = match entry.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, entry),
    };
    let ip = match addr {
        "*" => "0.0.0.0".to_string(),
        "::*" => "::".to_string(),
        other => other.to_string(),
    };
    let parsed = ip
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port));
    (parsed, optional)
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // Like Redis: the IPv6 socket must not also claim IPv4, which the
        // other listener has.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(511)?;
    TcpListener::from_std(socket.into())
}

/// Binds every configured address. Errors name the address, as Redis does.
pub fn bind_listeners(config: &Config) -> Result<Vec<TcpListener>, String> {
    let port = config.settings.port;
    let mut listeners = Vec::new();
    if port == 0 {
        return Ok(listeners);
    }
    for entry in &config.settings.bind {
        let (addr, optional) = bind_target(entry, port);
        let Some(addr) = addr else {
            if optional {
                continue;
            }
            return Err(format!("Invalid bind address '{entry}'"));
        };
        match listen(addr) {
            Ok(l) => listeners.push(l),
            Err(e) if optional => {
                crate::verbose!("Skipping optional bind {addr}: {e}");
            }
            Err(e) => {
                return Err(format!(
                    "Warning: Could not create server TCP listening socket {addr}: {e}"
                ))
            }
        }
    }
    if listeners.is_empty() {
        return Err("Failed listening on port (tcp), aborting.".into());
    }
    Ok(listeners)
}

/// Accepts clients on one listener until the server stops.
async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, peer)) => {
                        let keepalive = shared.state.lock().config.settings.tcp_keepalive_secs;
                        if keepalive > 0 {
                            let sock = socket2::SockRef::from(&stream);
                            let ka = socket2::TcpKeepalive::new().with_time(std::time::Duration::from_secs(keepalive));
                            let _ = sock.set_tcp_keepalive(&ka);
                        }
                        tokio::spawn(connection::serve_client(shared.clone(), stream, peer));
                    }
                    Err(e) => {
                        warning!("Accepting client connection: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                }
            }
            _ = shared.stop_notify.notified() => return,
        }
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
    }
}

/// Runs the server until SHUTDOWN or a signal; with `metrics_port`, also
/// the Prometheus endpoint (`--metrics-port`).
pub async fn run(config: Config, metrics_port: Option<u16>) -> Result<(), String> {
    let listeners = bind_listeners(&config)?;
    let port = config.settings.port;
    let state = ServerState::new(config);
    let shared = Shared::new(state);
    {
        let st = shared.state.lock();
        for name in &st.config.ignored {
            notice!("Config directive '{name}' is accepted but has no effect in redis-ha-node");
        }
    }
    notice!("Server initialized");
    {
        let mut st = shared.state.lock();
        st.repl.shared = Arc::downgrade(&shared);
        let repl_aux = if st.config.get("appendonly") == Some("yes") {
            // The AOF is loaded instead of the RDB file, as Redis does, and
            // (as in Redis 7.0) the replication id is not restored from it.
            crate::aof::load::load_at_startup(&mut st)?;
            crate::aof::load::open_on_server_start(&mut st)?;
            None
        } else {
            let repl_aux = persist::load_repl_aux(&st);
            persist::load_at_startup(&mut st)?;
            repl_aux
        };
        crate::replication::start_up(&mut st, repl_aux);
    }
    for l in listeners {
        if let Ok(a) = l.local_addr() {
            crate::verbose!("Listening on {a}");
        }
        tokio::spawn(accept_loop(shared.clone(), l));
    }
    notice!("Ready to accept connections tcp (port {port})");
    tokio::spawn(cron::run(shared.clone()));
    if let Some(port) = metrics_port {
        tokio::spawn(crate::metrics::serve(shared.clone(), port));
    }
    wait_for_shutdown(shared.clone()).await;
    Ok(())
}

/// Returns when SHUTDOWN was requested or SIGTERM/SIGINT arrived.
async fn wait_for_shutdown(shared: Arc<Shared>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    loop {
        // Fresh futures each round: after a failed save on a signal the
        // server keeps running and waits for the next one.
        let signalled = tokio::select! {
            _ = next_signal(&mut term) => {
                warning!("Received SIGTERM scheduling shutdown...");
                true
            }
            _ = next_signal(&mut int) => {
                warning!("Received SIGINT scheduling shutdown...");
                true
            }
            _ = shutdown_requested(&shared) => false,
        };
        // SHUTDOWN saved (or not) in its handler already.
        if !signalled || save_before_signal_exit(&shared) {
            break;
        }
    }
    persist::kill_child_for_shutdown(&mut shared.state.lock());
    crate::aof::on_shutdown(&mut shared.state.lock());
    shared.stopping.store(true, Ordering::SeqCst);
    shared.stop_notify.notify_waiters();
    warning!("Redis is now ready to exit, bye bye...");
}

/// The next delivery of a signal; never, when its handler could not be set.
async fn next_signal(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal.as_mut() {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// On SIGTERM/SIGINT: stops a BGSAVE child and, when save points are
/// configured, saves synchronously. A failed save keeps the server running,
/// as in Redis.
fn save_before_signal_exit(shared: &Arc<Shared>) -> bool {
    let mut st = shared.state.lock();
    persist::kill_child_for_shutdown(&mut st);
    if persist::save_points(&st).is_empty() {
        return true;
    }
    notice!("Saving the final RDB snapshot before exiting.");
    if persist::save(&mut st).is_err() {
        warning!("Error trying to save the DB, can't exit.");
        warning!("Errors trying to shut down the server. Check the logs for more information.");
        return false;
    }
    true
}

async fn shutdown_requested(shared: &Arc<Shared>) {
    let notify = shared.state.lock().shutdown_notify.clone();
    loop {
        if shared.state.lock().shutdown.is_some() {
            return;
        }
        // SHUTDOWN uses notify_one, whose permit survives until we wait here.
        notify.notified().await;
    }
}
