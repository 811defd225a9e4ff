//! INFO replication and ROLE, field for field as Redis 7.0 prints them
//! (Sentinel and clients parse both).

use std::fmt::Write as _;

use super::{config_bool, config_int, ReplicaState};
use crate::resp::Reply;
use crate::server::state::ServerState;

/// The body of `# Replication` (without the title line).
pub fn replication_fields(st: &ServerState) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| f.push((k.to_string(), v));
    let now = crate::util::time::now_ms();
    let repl = &st.repl;
    if let Some(m) = &repl.master {
        put("role", "slave".into());
        put("master_host", m.host.clone());
        put("master_port", m.port.to_string());
        let up = m.state == super::LinkState::Connected;
        put("master_link_status", if up { "up" } else { "down" }.into());
        let io = if m.has_master_client && up {
            (now - m.last_io_ms) / 1000
        } else {
            -1
        };
        put("master_last_io_seconds_ago", io.to_string());
        put(
            "master_sync_in_progress",
            (m.sync.is_some() as u8).to_string(),
        );
        let (read, applied) = if m.has_master_client || up {
            (m.read_offset.max(st.repl_log.offset), st.repl_log.offset)
        } else {
            (1, 1)
        };
        put("slave_read_repl_offset", read.to_string());
        put("slave_repl_offset", applied.to_string());
        if let Some(s) = m.sync {
            put("master_sync_total_bytes", s.total.to_string());
            put("master_sync_read_bytes", s.read.to_string());
            put(
                "master_sync_left_bytes",
                (s.total as i64 - s.read as i64).to_string(),
            );
            let perc = if s.total > 0 {
                s.read as f64 * 100.0 / s.total as f64
            } else {
                0.0
            };
            put("master_sync_perc", format!("{perc:.2}"));
            put(
                "master_sync_last_io_seconds_ago",
                ((now - s.last_io_ms) / 1000).to_string(),
            );
        }
        if !up {
            let down = m.down_since_ms.map_or(-1, |d| (now - d) / 1000);
            put("master_link_down_since_seconds", down.to_string());
        }
        put(
            "slave_priority",
            config_int(st, "replica-priority", 100).to_string(),
        );
        put(
            "slave_read_only",
            (config_bool(st, "replica-read-only") as u8).to_string(),
        );
        put(
            "replica_announced",
            (config_bool(st, "replica-announced") as u8).to_string(),
        );
    } else {
        put("role", "master".into());
    }
    put("connected_slaves", repl.replicas.len().to_string());
    if super::master::min_replicas_active(st) {
        put("min_slaves_good_slaves", repl.good_replicas.to_string());
    }
    for (n, r) in repl.replicas.values().enumerate() {
        let ip = r.hs.announced_ip.as_deref().unwrap_or(&r.peer_ip);
        let lag = if r.state == ReplicaState::Online {
            (now - r.ack_time_ms) / 1000
        } else {
            0
        };
        let offset = if r.pre_psync { 0 } else { r.ack_offset };
        put(
            &format!("slave{n}"),
            format!(
                "ip={ip},port={},state={},offset={offset},lag={lag}",
                r.hs.listening_port,
                r.state.name()
            ),
        );
    }
    put(
        "master_failover_state",
        super::replica::failover_state_name(st).into(),
    );
    put("master_replid", repl.replid.clone());
    put("master_replid2", repl.replid2.clone());
    put("master_repl_offset", st.repl_log.offset.to_string());
    put("second_repl_offset", repl.second_offset.to_string());
    match &st.repl_log.backlog {
        Some(b) => {
            put("repl_backlog_active", "1".into());
            put("repl_backlog_size", b.size().to_string());
            put(
                "repl_backlog_first_byte_offset",
                b.first_byte_offset().to_string(),
            );
            put("repl_backlog_histlen", b.histlen().to_string());
        }
        None => {
            put("repl_backlog_active", "0".into());
            put(
                "repl_backlog_size",
                config_int(st, "repl-backlog-size", 1 << 20).to_string(),
            );
            put("repl_backlog_first_byte_offset", "0".into());
            put("repl_backlog_histlen", "0".into());
        }
    }
    f
}

/// The INFO text of the section, title included.
pub fn section_text(st: &ServerState) -> String {
    let mut out = String::from("# Replication\r\n");
    for (k, v) in replication_fields(st) {
        let _ = write!(out, "{k}:{v}\r\n");
    }
    out
}

/// ROLE.
pub fn role(st: &ServerState, reply: &mut Reply) {
    if let Some(m) = &st.repl.master {
        reply.array_len(5);
        reply.bulk(b"slave");
        reply.bulk(m.host.as_bytes());
        reply.int(i64::from(m.port));
        reply.bulk(m.state.role_name().as_bytes());
        // Only a live master client has an offset here (a cached one does
        // not count, unlike in INFO).
        let offset = if m.state == super::LinkState::Connected {
            st.repl_log.offset as i64
        } else {
            -1
        };
        reply.int(offset);
        return;
    }
    reply.array_len(3);
    reply.bulk(b"master");
    reply.int(st.repl_log.offset as i64);
    let online: Vec<_> = st
        .repl
        .replicas
        .values()
        .filter(|r| r.state == ReplicaState::Online)
        .collect();
    reply.array_len(online.len());
    for r in online {
        let ip = r.hs.announced_ip.as_deref().unwrap_or(&r.peer_ip);
        reply.array_len(3);
        reply.bulk(ip.as_bytes());
        reply.bulk(r.hs.listening_port.to_string().as_bytes());
        let offset = if r.pre_psync { 0 } else { r.ack_offset };
        reply.bulk(offset.to_string().as_bytes());
    }
}
