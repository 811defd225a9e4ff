//! FAILOVER (Redis 7.0): a coordinated switch from this master to one of
//! its replicas without losing writes. Writes are paused, the master waits
//! until a replica (the target, or any) has acknowledged everything, then
//! becomes that replica's replica with `PSYNC <replid> <offset> FAILOVER`;
//! the target promotes itself and answers +CONTINUE.

use bytes::Bytes;

use super::{replica, FailoverState, ReplicaState};
use crate::notice;
use crate::resp::Reply;
use crate::server::state::ServerState;

/// FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | FAILOVER ABORT.
pub fn command(st: &mut ServerState, args: &[Bytes], reply: &mut Reply) -> Result<(), String> {
    if args.len() == 2 && args[1].eq_ignore_ascii_case(b"abort") {
        if !st.repl.failover.active {
            return Err("ERR No failover in progress.".into());
        }
        abort(st, "Failover manually aborted");
        reply.ok();
        return Ok(());
    }
    let int = |a: &[u8]| -> Result<i64, String> {
        crate::util::number::parse_i64(a)
            .ok_or_else(|| "ERR value is not an integer or out of range".to_string())
    };
    let (mut timeout_ms, mut force, mut target) = (0i64, false, None::<(String, i64)>);
    let mut j = 1;
    while j < args.len() {
        let opt = &args[j];
        if opt.eq_ignore_ascii_case(b"timeout") && j + 1 < args.len() && timeout_ms == 0 {
            timeout_ms = int(&args[j + 1])?;
            if timeout_ms <= 0 {
                return Err("ERR FAILOVER timeout must be greater than 0".into());
            }
            j += 2;
        } else if opt.eq_ignore_ascii_case(b"to") && j + 2 < args.len() && target.is_none() {
            let port = int(&args[j + 2])?;
            target = Some((String::from_utf8_lossy(&args[j + 1]).into_owned(), port));
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"force") && !force {
            force = true;
            j += 1;
        } else {
            return Err("ERR syntax error".into());
        }
    }
    if st.repl.failover.active {
        return Err("ERR FAILOVER already in progress.".into());
    }
    if st.repl.master.is_some() {
        return Err("ERR FAILOVER is not valid when server is a replica.".into());
    }
    if st.repl.replicas.is_empty() {
        return Err("ERR FAILOVER requires connected replicas.".into());
    }
    if force && (timeout_ms == 0 || target.is_none()) {
        return Err(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.".into(),
        );
    }
    let mut chosen = None;
    if let Some((host, port)) = &target {
        let Some(state) = find_replica(st, host, *port).map(|r| r.1) else {
            return Err("ERR FAILOVER target HOST and PORT is not a replica.".into());
        };
        if state != ReplicaState::Online {
            return Err("ERR FAILOVER target replica is not online.".into());
        }
        notice!("FAILOVER requested to {host}:{port}.");
        chosen = Some((host.clone(), *port as u16));
    } else {
        notice!("FAILOVER requested to any replica.");
    }
    let now = crate::util::time::now_ms();
    st.repl.failover = FailoverState {
        active: true,
        in_progress: false,
        target: chosen,
        force,
        deadline_ms: (timeout_ms > 0).then_some(now + timeout_ms),
        paused_offset: st.repl_log.offset,
    };
    reply.ok();
    Ok(())
}

/// The replica at host:port (announced ip or peer ip, listening port).
fn find_replica(st: &ServerState, host: &str, port: i64) -> Option<(u64, ReplicaState)> {
    st.repl.replicas.values().find_map(|r| {
        let ip = r.hs.announced_ip.as_deref().unwrap_or(&r.peer_ip);
        (ip.eq_ignore_ascii_case(host) && i64::from(r.hs.listening_port) == port)
            .then_some((r.ack_offset, r.state))
    })
}

/// Ends a failover that did not happen; a master that had already turned
/// into a replica becomes master again.
pub fn abort(st: &mut ServerState, reason: &str) {
    if !st.repl.failover.active {
        return;
    }
    match &st.repl.failover.target {
        Some((h, p)) => notice!("FAILOVER to {h}:{p} aborted: {reason}"),
        None => notice!("FAILOVER to any replica aborted: {reason}"),
    }
    if st.repl.failover.in_progress {
        replica::promote(st);
    }
    st.repl.failover = FailoverState::default();
}

/// The switch succeeded (the target answered our PSYNC): writes resume
/// (they now get READONLY, as we are a replica).
pub fn finished(st: &mut ServerState) {
    if st.repl.failover.in_progress {
        st.repl.failover = FailoverState::default();
    }
}

/// Whether client writes are paused (waiting-for-sync or in progress).
pub fn writes_paused(st: &ServerState) -> bool {
    st.repl.failover.active
}

/// Checked on every cron tick and ACK: times out, or starts the switch
/// once a replica has acknowledged everything.
pub fn check(st: &mut ServerState) {
    let f = &st.repl.failover;
    if !f.active || f.in_progress {
        return;
    }
    let now = crate::util::time::now_ms();
    if f.deadline_ms.is_some_and(|d| d <= now) {
        if f.force {
            if let Some((host, port)) = f.target.clone() {
                notice!("FAILOVER to {host}:{port} time out exceeded, failing over.");
                switch_to(st, &host, port);
            }
        } else {
            abort(st, "Replica never caught up before timeout");
        }
        return;
    }
    let offset = st.repl_log.offset;
    let caught_up = match &f.target {
        Some((host, port)) => find_replica(st, host, i64::from(*port))
            .is_some_and(|(ack, _)| ack == offset)
            .then(|| (host.clone(), *port)),
        None => st.repl.replicas.values().find_map(|r| {
            (r.ack_offset == offset && r.state == ReplicaState::Online).then(|| {
                let ip =
                    r.hs.announced_ip
                        .clone()
                        .unwrap_or_else(|| r.peer_ip.clone());
                (ip, r.hs.listening_port)
            })
        }),
    };
    if let Some((host, port)) = caught_up {
        notice!("Failover target {host}:{port} is synced, failing over.");
        switch_to(st, &host, port);
    }
}

fn switch_to(st: &mut ServerState, host: &str, port: u16) {
    st.repl.failover.in_progress = true;
    st.repl.failover.target = Some((host.to_string(), port));
    replica::set_master(st, host, port);
}
