//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP.

use std::collections::HashSet;

use super::subcommands::{reply_help, resolve};
use crate::commands::{CmdError, CmdResult};
use crate::config::{find_directive, Kind};
use crate::server::context::Ctx;
use crate::server::state::ServerState;

pub fn config(ctx: &mut Ctx) -> CmdResult {
    match resolve(ctx)?.name {
        "get" => get(ctx),
        "set" => set(ctx),
        "resetstat" => {
            reset_stats(ctx.state);
            ctx.reply.ok();
            Ok(())
        }
        "rewrite" => rewrite(ctx),
        _ => {
            reply_help(
                ctx,
                &[
                    "GET <pattern>",
                    "    Return parameters matching the glob-like <pattern> and their values.",
                    "SET <directive> <value>",
                    "    Set the configuration <directive> to <value>.",
                    "RESETSTAT",
                    "    Reset statistics reported by the INFO command.",
                    "REWRITE",
                    "    Rewrite the configuration file.",
                ],
            );
            Ok(())
        }
    }
}

fn has_glob(pattern: &[u8]) -> bool {
    pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// CONFIG GET pattern [pattern ...]: a map of every matching parameter,
/// each once. An exact name is returned as it was typed, as Redis does.
fn get(ctx: &mut Ctx) -> CmdResult {
    let mut seen: HashSet<String> = HashSet::new();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pattern in &ctx.args[2..] {
        if !has_glob(pattern) {
            let typed = String::from_utf8_lossy(pattern).into_owned();
            let Some(d) = find_directive(&typed).filter(|d| d.kind != Kind::FileOnly) else {
                continue;
            };
            if seen.insert(typed.to_ascii_lowercase()) {
                let value = ctx.state.config.get(d.name).unwrap_or("").to_string();
                pairs.push((typed, value));
            }
            continue;
        }
        for (name, value) in ctx.state.config.get_matching(pattern) {
            if seen.insert(name.clone()) {
                pairs.push((name, value));
            }
        }
    }
    ctx.reply.map_len(pairs.len());
    for (name, value) in pairs {
        ctx.reply.bulk(name.as_bytes());
        ctx.reply.bulk(value.as_bytes());
    }
    Ok(())
}

/// Settings that may only change at run time when enable-protected-configs
/// allows it for this client.
const PROTECTED: &[&str] = &["dir", "dbfilename", "enable-protected-configs"];

fn is_local_client(addr: &str) -> bool {
    addr.parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback())
}

/// Whether an action guarded by `yes|no|local` (enable-debug-command,
/// enable-protected-configs) is allowed for this client.
pub fn protected_action_allowed(ctx: &Ctx, setting: &str) -> bool {
    match ctx.state.config.get(setting) {
        Some("yes") => true,
        Some("local") => is_local_client(&ctx.client.addr),
        _ => false,
    }
}

fn set_failed(name: &str, reason: &str) -> CmdError {
    CmdError::msg(format!(
        "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
    ))
}

/// CONFIG SET name value [name value ...]: every pair is checked before any
/// is applied, and a failure leaves the configuration as it was.
fn set(ctx: &mut Ctx) -> CmdResult {
    if !ctx.argc().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut canonical: Vec<&'static str> = Vec::new();
    for pair in ctx.args[2..].chunks(2) {
        let typed = String::from_utf8_lossy(&pair[0]).into_owned();
        let directive = find_directive(&typed).filter(|d| d.kind != Kind::FileOnly);
        let Some(d) = directive else {
            return Err(CmdError::msg(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{typed}'"
            )));
        };
        if PROTECTED.contains(&d.name) && !protected_action_allowed(ctx, "enable-protected-configs")
        {
            return Err(set_failed(&typed, "can't set protected config"));
        }
        // replicaof changes through REPLICAOF, never through CONFIG SET.
        if d.immutable || d.name == "replicaof" {
            return Err(set_failed(&typed, "can't set immutable config"));
        }
        if canonical.contains(&d.name) {
            return Err(set_failed(&typed, "duplicate parameter"));
        }
        canonical.push(d.name);
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        pairs.push((typed.to_ascii_lowercase(), value));
    }
    let mut updated = ctx.state.config.clone();
    for (name, value) in &pairs {
        updated
            .set(name, value)
            .map_err(|e| set_failed(name, &e.text))?;
    }
    let before = std::mem::replace(&mut ctx.state.config, updated);
    apply_changes(ctx.state, &before, &canonical);
    if let Err(e) = apply_appendonly(ctx, &before, &canonical) {
        // Turning the AOF on failed: the old configuration stays.
        ctx.state.config = before;
        return Err(e);
    }
    ctx.reply.ok();
    Ok(())
}

/// Acts on settings whose new value needs more than being stored.
fn apply_changes(
    state: &mut ServerState,
    before: &crate::config::Config,
    changed: &[&'static str],
) {
    for name in changed {
        if before.get(name) == state.config.get(name) {
            continue;
        }
        match *name {
            "loglevel" => crate::log::set_level(crate::log::Level::from_name(
                &state.config.settings.loglevel,
            )),
            "dir" => {
                // The working directory is where files are written (the value
                // was checked to be a directory).
                if let Err(e) = std::env::set_current_dir(&state.config.settings.dir) {
                    crate::warning!("Can't chdir to '{}': {e}", state.config.settings.dir);
                }
            }
            "maxmemory" => lower_maxmemory(state),
            "hz" => {
                // Redis keeps hz within 1..=500 and reports the value it uses.
                let used = state.config.settings.hz.to_string();
                if state.config.get("hz") != Some(used.as_str()) {
                    let _ = state.config.set("hz", &used);
                }
            }
            "repl-backlog-size"
            | "client-output-buffer-limit"
            | "min-replicas-to-write"
            | "min-replicas-max-lag" => crate::replication::on_config_change(state, name),
            _ => {}
        }
    }
}

/// appendonly yes|no at run time: turning it on starts the rewrite that
/// creates the base (updateAppendonly in Redis).
fn apply_appendonly(
    ctx: &mut Ctx,
    before: &crate::config::Config,
    changed: &[&'static str],
) -> CmdResult {
    // appendfsync and friends take effect for the very next batch.
    crate::aof::refresh_settings(ctx.state);
    if !changed.contains(&"appendonly") {
        return Ok(());
    }
    let on = ctx.state.config.get("appendonly") == Some("yes");
    let was_on = ctx.state.aof.status != crate::aof::AofStatus::Off;
    if on && !was_on {
        let in_exec = ctx.client.in_exec;
        crate::aof::start(ctx.state, in_exec)
            .map_err(|_| set_failed("appendonly", "Unable to turn on AOF. Check server logs."))?;
    } else if !on && was_on {
        crate::aof::stop(ctx.state);
    }
    let _ = before;
    Ok(())
}

/// A new maxmemory below current use warns and evicts at once, as Redis.
fn lower_maxmemory(state: &mut ServerState) {
    let max = state.config.settings.maxmemory;
    let used = crate::alloc::used_memory() as u64;
    if max > 0 && used > max {
        crate::warning!(
            "WARNING: the new maxmemory value set via CONFIG SET ({max}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy."
        );
        crate::server::evict::evict_for_command(state);
    }
}

/// CONFIG RESETSTAT: the counters INFO shows start again from zero.
pub fn reset_stats(state: &mut ServerState) {
    let stats = &mut state.stats;
    let last = |s: &std::collections::VecDeque<(i64, u64)>| s.back().map_or(0, |x| x.1);
    // Network totals are process-wide counters: remember where they were.
    let in_base = last(&stats.net_in_samples);
    let out_base = last(&stats.net_out_samples);
    let net_in = std::mem::take(&mut stats.net_in_samples);
    let net_out = std::mem::take(&mut stats.net_out_samples);
    *stats = Default::default();
    stats.net_input_bytes_base = in_base;
    stats.net_output_bytes_base = out_base;
    stats.net_in_samples = net_in;
    stats.net_out_samples = net_out;
    state.command_stats.clear();
    for db in &mut state.dbs {
        db.stats = Default::default();
    }
    let repl = &mut state.repl.stats;
    (repl.sync_full, repl.sync_partial_ok, repl.sync_partial_err) = (0, 0, 0);
    repl.net_repl_in
        .store(0, std::sync::atomic::Ordering::Relaxed);
    repl.net_repl_out
        .store(0, std::sync::atomic::Ordering::Relaxed);
}

fn rewrite(ctx: &mut Ctx) -> CmdResult {
    match crate::config::rewrite::rewrite(&ctx.state.config) {
        Ok(()) => {
            crate::notice!("CONFIG REWRITE executed with success.");
            ctx.reply.ok();
            Ok(())
        }
        Err(e) => {
            crate::warning!("CONFIG REWRITE failed: {e}");
            Err(CmdError::msg(format!("ERR {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(has_glob(b"max*"));
        assert!(has_glob(b"h?"));
        assert!(has_glob(b"[ab]"));
        assert!(!has_glob(b"maxmemory"));
    }

    #[test]
    fn local_clients() {
        assert!(is_local_client("127.0.0.1:5555"));
        assert!(is_local_client("[::1]:5555"));
        assert!(!is_local_client("10.0.0.1:5555"));
        assert!(!is_local_client(""));
    }
}
