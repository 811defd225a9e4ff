//! Prometheus metrics of a data node (`--metrics-port N`), named as
//! redis_exporter names them so existing dashboards and alerts work. The
//! values are read from the node's own INFO text, so they always agree
//! with what INFO reports.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::server::Shared;
use crate::{notice, warning};

/// Removes `--metrics-port N` from the command line (it is not a redis.conf
/// directive, so the config parser must not see it).
pub fn take_metrics_port(args: &mut Vec<String>) -> Result<Option<u16>, String> {
    let Some(i) = args.iter().position(|a| a == "--metrics-port") else {
        return Ok(None);
    };
    let value = args
        .get(i + 1)
        .ok_or("--metrics-port needs a port number")?
        .clone();
    let port: u16 = value
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("--metrics-port: '{value}' is not a valid port"))?;
    args.drain(i..i + 2);
    Ok(Some(port))
}

/// INFO fields exported as gauges or counters: (INFO name, metric, help).
const SIMPLE: &[(&str, &str, &str)] = &[
    (
        "uptime_in_seconds",
        "redis_uptime_in_seconds",
        "Seconds since start-up",
    ),
    (
        "connected_clients",
        "redis_connected_clients",
        "Client connections",
    ),
    (
        "blocked_clients",
        "redis_blocked_clients",
        "Clients in a blocking call",
    ),
    ("used_memory", "redis_memory_used_bytes", "Bytes allocated"),
    (
        "used_memory_rss",
        "redis_memory_used_rss_bytes",
        "Resident set size",
    ),
    ("maxmemory", "redis_memory_max_bytes", "maxmemory setting"),
    (
        "total_commands_processed",
        "redis_commands_processed_total",
        "Commands processed",
    ),
    (
        "total_connections_received",
        "redis_connections_received_total",
        "Connections accepted",
    ),
    ("expired_keys", "redis_expired_keys_total", "Keys expired"),
    ("evicted_keys", "redis_evicted_keys_total", "Keys evicted"),
    (
        "keyspace_hits",
        "redis_keyspace_hits_total",
        "Successful key lookups",
    ),
    (
        "keyspace_misses",
        "redis_keyspace_misses_total",
        "Failed key lookups",
    ),
    (
        "rdb_changes_since_last_save",
        "redis_rdb_changes_since_last_save",
        "Changes since the last save",
    ),
    (
        "rdb_last_save_time",
        "redis_rdb_last_save_timestamp_seconds",
        "Unix time of the last save",
    ),
    (
        "connected_slaves",
        "redis_connected_slaves",
        "Replicas connected",
    ),
    (
        "master_repl_offset",
        "redis_master_repl_offset",
        "Replication offset",
    ),
    (
        "master_last_io_seconds_ago",
        "redis_master_last_io_seconds_ago",
        "Seconds since the master last sent data",
    ),
    (
        "master_sync_in_progress",
        "redis_master_sync_in_progress",
        "A full sync is in progress",
    ),
];

/// The exposition text for one INFO text.
pub fn render(info: &str) -> String {
    let field = |name: &str| {
        info.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == name).then(|| v.trim_end())
        })
    };
    let mut out = String::new();
    out.push_str("# HELP redis_up Whether the node answered\n# TYPE redis_up gauge\nredis_up 1\n");
    let role = field("role").unwrap_or("master");
    out.push_str(&format!(
        "# HELP redis_instance_info Node information\n# TYPE redis_instance_info gauge\n\
         redis_instance_info{{role=\"{role}\",redis_version=\"{}\",redis_mode=\"{}\",run_id=\"{}\",tcp_port=\"{}\"}} 1\n",
        field("redis_version").unwrap_or(""),
        field("redis_mode").unwrap_or(""),
        field("run_id").unwrap_or(""),
        field("tcp_port").unwrap_or(""),
    ));
    for (name, metric, help) in SIMPLE {
        let Some(value) = field(name).and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        let kind = if metric.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        out.push_str(&format!(
            "# HELP {metric} {help}\n# TYPE {metric} {kind}\n{metric} {value}\n"
        ));
    }
    if let Some(status) = field("master_link_status") {
        let up = u8::from(status == "up");
        out.push_str(&format!(
            "# HELP redis_master_link_up Whether the link to the master is up\n# TYPE redis_master_link_up gauge\nredis_master_link_up {up}\n"
        ));
    }
    let dbs: Vec<(&str, &str)> = info
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.starts_with("db") && k[2..].chars().all(|c| c.is_ascii_digit()))
        .collect();
    if !dbs.is_empty() {
        out.push_str("# HELP redis_db_keys Keys per database\n# TYPE redis_db_keys gauge\n");
        for (db, v) in &dbs {
            let keys = v
                .split(',')
                .find_map(|kv| kv.strip_prefix("keys="))
                .unwrap_or("0");
            out.push_str(&format!("redis_db_keys{{db=\"{db}\"}} {keys}\n"));
        }
    }
    out
}

/// Serves `GET /metrics` (and `/` for a quick look) until the process ends.
pub async fn serve(shared: Arc<Shared>, port: u16) {
    let listener = match TcpListener::bind(("0.0.0.0", port)).await {
        Ok(l) => l,
        Err(e) => {
            warning!("Metrics: can't listen on port {port}: {e}");
            return;
        }
    };
    notice!("Metrics: Prometheus endpoint on port {port} (/metrics)");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(answer(shared.clone(), stream));
    }
}

async fn answer(shared: Arc<Shared>, mut stream: TcpStream) {
    // A scrape request is a few hundred bytes; anything larger is refused.
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => len += n,
        }
        if len == buf.len() {
            let _ = stream
                .write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
            return;
        }
    }
    let request_line = String::from_utf8_lossy(&buf[..len]);
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let response = if path == "/metrics" || path == "/" {
        let info = {
            let st = shared.state.lock();
            crate::commands::server::info::generate(
                &st,
                &[bytes::Bytes::from_static(b"everything")],
            )
        };
        let body = render(&info);
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
    };
    let _ = stream.write_all(response.as_bytes()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_port_is_taken_out_of_the_arguments() {
        let mut args: Vec<String> = ["--port", "7000", "--metrics-port", "9121", "--save", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(take_metrics_port(&mut args), Ok(Some(9121)));
        assert_eq!(args, ["--port", "7000", "--save", ""]);
        let mut none = vec!["--port".to_string(), "1".to_string()];
        assert_eq!(take_metrics_port(&mut none), Ok(None));
        let mut bad = vec!["--metrics-port".to_string(), "x".to_string()];
        assert!(take_metrics_port(&mut bad).is_err());
        let mut missing = vec!["--metrics-port".to_string()];
        assert!(take_metrics_port(&mut missing).is_err());
    }

    #[test]
    fn render_uses_redis_exporter_names() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nrun_id:abc\r\ntcp_port:6379\r\n\
                    # Replication\r\nrole:slave\r\nmaster_link_status:down\r\nconnected_slaves:0\r\nmaster_repl_offset:42\r\n\
                    # Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\ndb2:keys=5,expires=0,avg_ttl=0\r\n";
        let text = render(info);
        assert!(text.contains("redis_up 1\n"));
        assert!(text.contains("redis_instance_info{role=\"slave\",redis_version=\"7.0.15\""));
        assert!(text.contains("redis_master_repl_offset 42\n"));
        assert!(text.contains("redis_master_link_up 0\n"));
        assert!(text.contains("redis_db_keys{db=\"db0\"} 3\n"));
        assert!(text.contains("redis_db_keys{db=\"db2\"} 5\n"));
        assert!(text.contains("# TYPE redis_master_repl_offset gauge\n"));
    }
}
