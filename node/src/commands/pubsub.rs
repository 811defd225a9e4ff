//! SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB.

use bytes::Bytes;

use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec, SubcommandSpec};
use crate::command;
use crate::server::context::Ctx;

pub static COMMANDS: &[CommandSpec] = &[
    command!(
        "subscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | SENTINEL,
        (0, 0, 0),
        "pubsub",
        "2.0.0",
        "Listen for messages published to the given channels",
        subscribe
    ),
    command!(
        "unsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | SENTINEL,
        (0, 0, 0),
        "pubsub",
        "2.0.0",
        "Stop listening for messages posted to the given channels",
        unsubscribe
    ),
    command!(
        "psubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | SENTINEL,
        (0, 0, 0),
        "pubsub",
        "2.0.0",
        "Listen for messages published to channels matching the given patterns",
        psubscribe
    ),
    command!(
        "punsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | SENTINEL,
        (0, 0, 0),
        "pubsub",
        "2.0.0",
        "Stop listening for messages posted to channels matching the given patterns",
        punsubscribe
    ),
    command!(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE | SENTINEL,
        (0, 0, 0),
        "pubsub",
        "2.0.0",
        "Post a message to a channel",
        publish
    ),
    CommandSpec {
        subcommands: PUBSUB_SUBCOMMANDS,
        ..command!(
            "pubsub",
            -2,
            0,
            (0, 0, 0),
            "pubsub",
            "2.8.0",
            "A container for Pub/Sub commands",
            pubsub
        )
    },
];

static PUBSUB_SUBCOMMANDS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "channels",
        arity: -2,
        flags: PUBSUB | LOADING | STALE,
        summary: "List active channels",
    },
    SubcommandSpec {
        name: "numsub",
        arity: -2,
        flags: PUBSUB | LOADING | STALE,
        summary: "Get the count of subscribers for channels",
    },
    SubcommandSpec {
        name: "numpat",
        arity: 2,
        flags: PUBSUB | LOADING | STALE,
        summary: "Get the count of unique patterns pattern subscriptions",
    },
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Show helpful text about the different subcommands",
    },
];

/// One subscribe/unsubscribe confirmation frame (a push in RESP3).
fn confirm(ctx: &mut Ctx, kind: &[u8], name: Option<&[u8]>, count: usize) {
    ctx.reply.push_len(3);
    ctx.reply.bulk(kind);
    match name {
        Some(n) => ctx.reply.bulk(n),
        None => ctx.reply.null(),
    }
    ctx.reply.int(count as i64);
}

fn subscribe(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.in_exec {
        return Err(CmdError::msg(
            "ERR SUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    let args = ctx.args;
    for ch in &args[1..] {
        if ctx.client.channels.insert(ch.clone()) {
            ctx.state.pubsub.subscribe(ctx.client.id, ch);
        }
        let n = ctx.client.subscription_count();
        confirm(ctx, b"subscribe", Some(ch), n);
    }
    Ok(())
}

fn psubscribe(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.in_exec {
        return Err(CmdError::msg(
            "ERR PSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    let args = ctx.args;
    for p in &args[1..] {
        if ctx.client.patterns.insert(p.clone()) {
            ctx.state.pubsub.psubscribe(ctx.client.id, p);
        }
        let n = ctx.client.subscription_count();
        confirm(ctx, b"psubscribe", Some(p), n);
    }
    Ok(())
}

fn unsubscribe_channels(ctx: &mut Ctx, channels: Vec<Bytes>) {
    if channels.is_empty() {
        let n = ctx.client.subscription_count();
        confirm(ctx, b"unsubscribe", None, n);
        return;
    }
    for ch in channels {
        if ctx.client.channels.remove(&ch) {
            ctx.state.pubsub.unsubscribe(ctx.client.id, &ch);
        }
        let n = ctx.client.subscription_count();
        confirm(ctx, b"unsubscribe", Some(&ch), n);
    }
}

fn unsubscribe_patterns(ctx: &mut Ctx, patterns: Vec<Bytes>) {
    if patterns.is_empty() {
        let n = ctx.client.subscription_count();
        confirm(ctx, b"punsubscribe", None, n);
        return;
    }
    for p in patterns {
        if ctx.client.patterns.remove(&p) {
            ctx.state.pubsub.punsubscribe(ctx.client.id, &p);
        }
        let n = ctx.client.subscription_count();
        confirm(ctx, b"punsubscribe", Some(&p), n);
    }
}

fn unsubscribe(ctx: &mut Ctx) -> CmdResult {
    let channels = if ctx.argc() > 1 {
        ctx.args[1..].to_vec()
    } else {
        ctx.client.channels.iter().cloned().collect()
    };
    unsubscribe_channels(ctx, channels);
    Ok(())
}

fn punsubscribe(ctx: &mut Ctx) -> CmdResult {
    let patterns = if ctx.argc() > 1 {
        ctx.args[1..].to_vec()
    } else {
        ctx.client.patterns.iter().cloned().collect()
    };
    unsubscribe_patterns(ctx, patterns);
    Ok(())
}

/// Drops all subscriptions without replying (RESET).
pub fn unsubscribe_everything(ctx: &mut Ctx) {
    for ch in std::mem::take(&mut ctx.client.channels) {
        ctx.state.pubsub.unsubscribe(ctx.client.id, &ch);
    }
    for p in std::mem::take(&mut ctx.client.patterns) {
        ctx.state.pubsub.punsubscribe(ctx.client.id, &p);
    }
}

fn publish(ctx: &mut Ctx) -> CmdResult {
    let limit = ctx.state.config.settings.pubsub_output_hard_limit;
    let n = ctx
        .state
        .pubsub
        .publish(&ctx.state.clients, &ctx.args[1], &ctx.args[2], limit);
    ctx.reply.int(n as i64);
    // Replicas and the AOF receive PUBLISH too (Redis propagates it).
    ctx.propagate_as(ctx.args.to_vec());
    Ok(())
}

fn pubsub(ctx: &mut Ctx) -> CmdResult {
    let sub = ctx.arg(1).to_ascii_lowercase();
    match sub.as_slice() {
        b"channels" if ctx.argc() <= 3 => {
            let pattern = ctx.args.get(2).cloned();
            let mut names: Vec<Bytes> = ctx
                .state
                .pubsub
                .channels
                .keys()
                .filter(|c| {
                    pattern
                        .as_ref()
                        .is_none_or(|p| crate::glob::glob_match(p, c, false))
                })
                .cloned()
                .collect();
            names.sort();
            ctx.reply.array_len(names.len());
            for n in names {
                ctx.reply.bulk(&n);
            }
        }
        b"numsub" => {
            let channels = ctx.args[2..].to_vec();
            // A flat array even in RESP3, as Redis 7.0 replies.
            ctx.reply.array_len(channels.len() * 2);
            for ch in channels {
                let n = ctx.state.pubsub.channels.get(&ch).map_or(0, |s| s.len());
                ctx.reply.bulk(&ch);
                ctx.reply.int(n as i64);
            }
        }
        b"numpat" if ctx.argc() == 2 => {
            let n = ctx.state.pubsub.pattern_count();
            ctx.reply.int(n as i64);
        }
        b"help" if ctx.argc() == 2 => {
            let lines = [
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "HELP",
                "    Prints this help.",
            ];
            ctx.reply.array_len(lines.len());
            for l in lines {
                ctx.reply.simple(l);
            }
        }
        b"channels" | b"numpat" | b"help" => {
            return Err(CmdError::WrongArity(format!(
                "pubsub|{}",
                String::from_utf8_lossy(&sub)
            )));
        }
        _ => {
            return Err(CmdError::msg(format!(
                "ERR unknown subcommand '{}'. Try PUBSUB HELP.",
                String::from_utf8_lossy(ctx.arg(1))
            )))
        }
    }
    Ok(())
}
