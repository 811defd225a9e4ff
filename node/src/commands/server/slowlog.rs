//! SLOWLOG GET / LEN / RESET / HELP. The executor records the entries.

use super::subcommands::{reply_help, resolve, syntax_error};
use crate::commands::args::int;
use crate::commands::{CmdError, CmdResult};
use crate::server::context::Ctx;

pub fn slowlog(ctx: &mut Ctx) -> CmdResult {
    match resolve(ctx)?.name {
        "get" => get(ctx),
        "len" => {
            ctx.reply.int(ctx.state.slowlog.len() as i64);
            Ok(())
        }
        "reset" => {
            ctx.state.slowlog.clear();
            ctx.reply.ok();
            Ok(())
        }
        _ => {
            reply_help(
                ctx,
                &[
                    "GET [<count>]",
                    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                    "    Entries are made of:",
                    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                    "    client name",
                    "LEN",
                    "    Return the length of the slowlog.",
                    "RESET",
                    "    Reset the slowlog.",
                ],
            );
            Ok(())
        }
    }
}

/// SLOWLOG GET [count]: the newest `count` entries (10 by default, -1 = all),
/// each `[id, unix time, microseconds, [args...], "ip:port", "name"]`.
fn get(ctx: &mut Ctx) -> CmdResult {
    if ctx.argc() > 3 {
        return Err(syntax_error(ctx));
    }
    let count = if ctx.argc() == 3 {
        int(ctx.arg(2))
            .ok()
            .filter(|n| *n >= -1)
            .ok_or_else(|| CmdError::msg("ERR count should be greater than or equal to -1"))?
    } else {
        10
    };
    let len = ctx.state.slowlog.len();
    let n = if count == -1 {
        len
    } else {
        (count as usize).min(len)
    };
    ctx.reply.array_len(n);
    for entry in ctx.state.slowlog.iter().take(n) {
        ctx.reply.array_len(6);
        ctx.reply.int(entry.id as i64);
        ctx.reply.int(entry.time_secs);
        ctx.reply.int(entry.duration_us as i64);
        ctx.reply.array_len(entry.args.len());
        for a in &entry.args {
            ctx.reply.bulk(a);
        }
        ctx.reply.bulk(entry.peer.as_bytes());
        ctx.reply.bulk(&entry.name);
    }
    Ok(())
}
