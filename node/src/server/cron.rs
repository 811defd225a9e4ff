//! The periodic task (Redis's serverCron): active expiry, client timeouts,
//! the samples behind instantaneous_ops_per_sec, background saves.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::exec::{collect_expired, propagate_ops};
use super::state::{ServerState, Shared};

/// Keys sampled per database per round (ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP).
const KEYS_PER_LOOP: usize = 20;

pub async fn run(shared: Arc<Shared>) {
    loop {
        let hz = shared.state.lock().config.settings.hz.max(1);
        tokio::time::sleep(Duration::from_millis(1000 / hz as u64)).await;
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let net_in = shared.net_input_bytes.load(Ordering::Relaxed);
        let net_out = shared.net_output_bytes.load(Ordering::Relaxed);
        let mut st = shared.state.lock();
        // Replicas never expire keys themselves: the master's DEL does.
        if st.active_expire_enabled && st.repl.master.is_none() {
            active_expire_cycle(&mut st, hz);
        }
        close_idle_clients(&mut st);
        sample_rates(&mut st, net_in, net_out);
        super::persist::cron(&mut st);
        crate::replication::cron(&mut st);
        crate::aof::cron(&mut st);
        super::evict::continue_evictions(&mut st);
    }
}

/// Samples keys with a TTL and deletes the expired ones, repeating while
/// many of the sampled keys were expired, within a time budget (25% of a
/// cron period), as Redis's activeExpireCycle does.
pub fn active_expire_cycle(st: &mut ServerState, hz: u32) {
    let effort = st.config.settings.active_expire_effort.clamp(1, 10) as usize - 1;
    let per_loop = KEYS_PER_LOOP + KEYS_PER_LOOP / 4 * effort;
    let acceptable_stale_pct = 10 - effort;
    let budget = Duration::from_micros(1_000_000 / hz as u64 / 4);
    let started = Instant::now();
    let now = crate::util::time::now_ms();
    st.set_now(now);
    for i in 0..st.dbs.len() {
        loop {
            let (sampled, expired) = st.dbs[i].active_expire_round(per_loop);
            if sampled == 0
                || expired * 100 / sampled <= acceptable_stale_pct
                || started.elapsed() > budget
            {
                break;
            }
        }
    }
    // Each expired key is its own DEL in the stream, as Redis propagates them.
    let mut ops = Vec::new();
    collect_expired(st, &mut ops);
    for op in ops {
        let key = op.1[1].clone();
        st.signal_modified_key(op.0, &key);
        propagate_ops(st, vec![op]);
    }
    super::exec::serve_blocked_clients(st);
}

fn close_idle_clients(st: &mut ServerState) {
    let timeout = st.config.settings.timeout_secs;
    if timeout == 0 {
        return;
    }
    let now = crate::util::time::now_ms();
    for c in st.clients.clients.values() {
        let exempt =
            c.blocked || c.sub > 0 || c.psub > 0 || c.flags.contains('S') || c.flags.contains('M');
        if !exempt && now - c.last_interaction_ms > (timeout as i64) * 1000 {
            c.kill.kill();
        }
    }
}

fn push_sample(samples: &mut std::collections::VecDeque<(i64, u64)>, now: i64, value: u64) {
    samples.push_back((now, value));
    while samples.len() > 16 {
        samples.pop_front();
    }
}

fn sample_rates(st: &mut ServerState, net_in: u64, net_out: u64) {
    let now = crate::util::time::now_ms();
    let last = st.stats.ops_samples.back().map(|s| s.0).unwrap_or(0);
    if now - last < 100 {
        return;
    }
    let ops = st.stats.total_commands_processed;
    push_sample(&mut st.stats.ops_samples, now, ops);
    push_sample(&mut st.stats.net_in_samples, now, net_in);
    push_sample(&mut st.stats.net_out_samples, now, net_out);
}

/// Rate per second over the sampled window (instantaneous_* fields).
pub fn rate(samples: &std::collections::VecDeque<(i64, u64)>) -> f64 {
    match (samples.front(), samples.back()) {
        (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) as f64 * 1000.0 / (b.0 - a.0) as f64,
        _ => 0.0,
    }
}
