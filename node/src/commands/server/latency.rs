//! The latency monitor: spikes above latency-monitor-threshold, per event
//! ("command", "fast-command", ...), and LATENCY LATEST / HISTORY / RESET /
//! DOCTOR / GRAPH / HELP.

use std::fmt::Write as _;

use super::subcommands::{reply_help, resolve};
use crate::commands::{CmdError, CmdResult};
use crate::server::context::Ctx;
use crate::server::state::{LatencyEvent, ServerState};

/// Samples kept per event, as in Redis.
const HISTORY_LEN: usize = 160;

/// Records `ms` for `event` when it reaches latency-monitor-threshold (0
/// disables the monitor). Spikes within the same second keep the worst.
pub fn record_latency(state: &mut ServerState, event: &'static str, ms: u64) {
    let threshold = state.config.settings.latency_monitor_threshold;
    if threshold <= 0 || (ms as i64) < threshold {
        return;
    }
    let now = crate::util::time::now_ms() / 1000;
    let ev = state.latency.entry(event).or_default();
    match ev.samples.back_mut() {
        Some(last) if last.0 == now => last.1 = last.1.max(ms),
        _ => {
            ev.samples.push_back((now, ms));
            while ev.samples.len() > HISTORY_LEN {
                ev.samples.pop_front();
            }
        }
    }
    ev.max_ms = ev.max_ms.max(ms);
}

/// Events sorted by name, so replies do not depend on hash order.
fn events(state: &ServerState) -> Vec<(&'static str, &LatencyEvent)> {
    let mut v: Vec<(&'static str, &LatencyEvent)> =
        state.latency.iter().map(|(k, v)| (*k, v)).collect();
    v.sort_by_key(|(k, _)| *k);
    v
}

pub fn latency(ctx: &mut Ctx) -> CmdResult {
    match resolve(ctx)?.name {
        "latest" => {
            let list: Vec<(&str, i64, u64, u64)> = events(ctx.state)
                .into_iter()
                .filter_map(|(name, ev)| ev.samples.back().map(|s| (name, s.0, s.1, ev.max_ms)))
                .collect();
            ctx.reply.array_len(list.len());
            for (name, time, latest, max) in list {
                ctx.reply.array_len(4);
                ctx.reply.bulk(name.as_bytes());
                ctx.reply.int(time);
                ctx.reply.int(latest as i64);
                ctx.reply.int(max as i64);
            }
            Ok(())
        }
        "history" => {
            let name = String::from_utf8_lossy(ctx.arg(2)).into_owned();
            let samples: Vec<(i64, u64)> = ctx
                .state
                .latency
                .get(name.as_str())
                .map(|ev| ev.samples.iter().copied().collect())
                .unwrap_or_default();
            ctx.reply.array_len(samples.len());
            for (time, ms) in samples {
                ctx.reply.array_len(2);
                ctx.reply.int(time);
                ctx.reply.int(ms as i64);
            }
            Ok(())
        }
        "reset" => {
            let removed = if ctx.argc() == 2 {
                let n = ctx.state.latency.len();
                ctx.state.latency.clear();
                n
            } else {
                let names: Vec<String> = ctx.args[2..]
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                names
                    .iter()
                    .filter(|n| ctx.state.latency.remove(n.as_str()).is_some())
                    .count()
            };
            ctx.reply.int(removed as i64);
            Ok(())
        }
        "doctor" => {
            let text = doctor(ctx.state);
            ctx.reply.verbatim(text.as_bytes(), "txt");
            Ok(())
        }
        "graph" => {
            let name = String::from_utf8_lossy(ctx.arg(2)).into_owned();
            let Some(ev) = ctx
                .state
                .latency
                .get(name.as_str())
                .filter(|e| !e.samples.is_empty())
            else {
                return Err(CmdError::msg(format!(
                    "ERR No samples available for event '{name}'"
                )));
            };
            let text = graph(&name, ev);
            ctx.reply.verbatim(text.as_bytes(), "txt");
            Ok(())
        }
        _ => {
            reply_help(
                ctx,
                &[
                    "DOCTOR",
                    "    Return a human readable latency analysis report.",
                    "GRAPH <event>",
                    "    Return an ASCII latency graph for the <event> class.",
                    "HISTORY <event>",
                    "    Return time-latency samples for the <event> class.",
                    "LATEST",
                    "    Return the latest latency samples for all events.",
                    "RESET [<event> ...]",
                    "    Reset latency data of one or more <event> classes.",
                    "    (default: reset all data for all event classes)",
                ],
            );
            Ok(())
        }
    }
}

/// A plain-language summary of the recorded spikes.
fn doctor(state: &ServerState) -> String {
    let threshold = state.config.settings.latency_monitor_threshold;
    if threshold <= 0 && state.latency.is_empty() {
        return "Latency monitoring is disabled. Enable it with \
                CONFIG SET latency-monitor-threshold <milliseconds>.\n"
            .to_string();
    }
    let list = events(state);
    if list.is_empty() {
        return format!("No latency spikes of {threshold} milliseconds or more were observed.\n");
    }
    let mut out = String::from("Latency spikes observed:\n\n");
    for (i, (name, ev)) in list.iter().enumerate() {
        let n = ev.samples.len() as u64;
        let avg = ev.samples.iter().map(|s| s.1).sum::<u64>() / n.max(1);
        let _ = writeln!(
            out,
            "{}. {}: {} latency spikes (average {}ms). Worst all time event {}ms.",
            i + 1,
            name,
            n,
            avg,
            ev.max_ms
        );
    }
    out.push_str("\nSlow commands are listed by SLOWLOG GET.\n");
    out
}

/// Columns of '#' (height proportional to the spike) with each sample's
/// age in seconds below, oldest first.
fn graph(name: &str, ev: &LatencyEvent) -> String {
    const HEIGHT: u64 = 4;
    let max = ev.samples.iter().map(|s| s.1).max().unwrap_or(0).max(1);
    let min = ev.samples.iter().map(|s| s.1).min().unwrap_or(0);
    let now = crate::util::time::now_ms() / 1000;
    let mut out = format!(
        "{name} - high {max} ms, low {min} ms (all time high {} ms)\n{}\n",
        ev.max_ms,
        "-".repeat(80)
    );
    for row in (1..=HEIGHT).rev() {
        for s in &ev.samples {
            out.push(if s.1 * HEIGHT >= row * max { '#' } else { ' ' });
        }
        out.push('\n');
    }
    let ages: Vec<String> = ev
        .samples
        .iter()
        .map(|s| format!("{}s", (now - s.0).max(0)))
        .collect();
    out.push_str(&ages.join(" "));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_and_merging() {
        let mut st = ServerState::new(crate::config::Config::default());
        record_latency(&mut st, "command", 500);
        assert!(st.latency.is_empty(), "monitor disabled by default");
        st.config.settings.latency_monitor_threshold = 100;
        record_latency(&mut st, "command", 50);
        assert!(st.latency.is_empty());
        record_latency(&mut st, "command", 150);
        record_latency(&mut st, "command", 120);
        let ev = &st.latency["command"];
        assert!(ev.samples.len() <= 2);
        assert_eq!(ev.max_ms, 150);
        assert!(graph("command", ev).contains('#'));
        assert!(doctor(&st).contains("command"));
    }
}
