//! Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET.

use bytes::Bytes;

use super::args::{eq_ic, int};
use super::flags::*;
use super::{CmdError, CmdResult, CommandSpec};
use crate::command;
use crate::config::REDIS_VERSION;
use crate::server::client::ReplyMode;
use crate::server::context::Ctx;

pub static COMMANDS: &[CommandSpec] = &[
    command!(
        "ping",
        -1,
        FAST | SENTINEL,
        (0, 0, 0),
        "connection",
        "1.0.0",
        "Ping the server",
        ping
    ),
    command!(
        "echo",
        2,
        LOADING | STALE | FAST,
        (0, 0, 0),
        "connection",
        "1.0.0",
        "Echo the given string",
        echo
    ),
    command!(
        "quit",
        -1,
        ALLOW_BUSY | NOSCRIPT | NO_AUTH | FAST | LOADING | STALE,
        (0, 0, 0),
        "connection",
        "1.0.0",
        "Close the connection",
        quit
    ),
    command!(
        "select",
        2,
        LOADING | STALE | FAST,
        (0, 0, 0),
        "connection",
        "1.0.0",
        "Change the selected database for the current connection",
        select
    ),
    command!(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | SENTINEL,
        (0, 0, 0),
        "connection",
        "1.0.0",
        "Authenticate to the server",
        auth
    ),
    command!(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | SENTINEL,
        (0, 0, 0),
        "connection",
        "6.0.0",
        "Handshake with Redis",
        hello
    ),
    command!(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | SENTINEL,
        (0, 0, 0),
        "connection",
        "6.2.0",
        "Reset the connection",
        reset
    ),
];

fn ping(ctx: &mut Ctx) -> CmdResult {
    if ctx.argc() > 2 {
        return Err(CmdError::WrongArity("ping".into()));
    }
    if ctx.client.in_resp2_pubsub_mode() {
        ctx.reply.array_len(2);
        ctx.reply.bulk(b"pong");
        let arg = if ctx.argc() == 2 {
            ctx.args[1].clone()
        } else {
            Bytes::new()
        };
        ctx.reply.bulk(&arg);
        return Ok(());
    }
    if ctx.argc() == 2 {
        let arg = ctx.args[1].clone();
        ctx.reply.bulk(&arg);
    } else {
        ctx.reply.simple("PONG");
    }
    Ok(())
}

fn echo(ctx: &mut Ctx) -> CmdResult {
    let arg = ctx.args[1].clone();
    ctx.reply.bulk(&arg);
    Ok(())
}

fn quit(ctx: &mut Ctx) -> CmdResult {
    ctx.reply.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}

fn select(ctx: &mut Ctx) -> CmdResult {
    // Redis parses an int (so out-of-int-range is "not an integer") and
    // then reports any negative or too-large index as out of range.
    let id = int(ctx.arg(1))?;
    if id < i32::MIN as i64 || id > i32::MAX as i64 {
        return Err(CmdError::NotInteger);
    }
    if id < 0 || id as usize >= ctx.state.dbs.len() {
        return Err(CmdError::msg("ERR DB index is out of range"));
    }
    ctx.client.db = id as usize;
    ctx.reply.ok();
    Ok(())
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Checks credentials of the default user (the only user this server has).
fn check_credentials(ctx: &Ctx, user: Option<&[u8]>, pass: &[u8]) -> bool {
    if let Some(u) = user {
        if u != b"default" {
            return false;
        }
    }
    match &ctx.state.config.settings.requirepass {
        Some(required) => constant_time_eq(required, pass),
        None => true,
    }
}

/// Compares secrets without an early exit that would leak their prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn auth(ctx: &mut Ctx) -> CmdResult {
    if ctx.argc() > 3 {
        return Err(CmdError::Syntax);
    }
    let (user, pass) = if ctx.argc() == 2 {
        if ctx.state.config.settings.requirepass.is_none() {
            return Err(CmdError::msg(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            ));
        }
        (None, ctx.args[1].clone())
    } else {
        (Some(ctx.args[1].clone()), ctx.args[2].clone())
    };
    if check_credentials(ctx, user.as_deref(), &pass) {
        ctx.client.authenticated = true;
        ctx.reply.ok();
        Ok(())
    } else {
        Err(CmdError::msg(WRONGPASS))
    }
}

/// Client names may not contain spaces or control characters.
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn hello(ctx: &mut Ctx) -> CmdResult {
    let mut version = None;
    let mut i = 1;
    if ctx.argc() >= 2 {
        let v = int(ctx.arg(1))
            .map_err(|_| CmdError::msg("ERR Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::msg("NOPROTO unsupported protocol version"));
        }
        version = Some(v);
        i = 2;
    }
    let mut credentials = None;
    let mut setname = None;
    while i < ctx.argc() {
        let more = ctx.argc() - i - 1;
        if eq_ic(ctx.arg(i), "auth") && more >= 2 {
            credentials = Some((ctx.args[i + 1].clone(), ctx.args[i + 2].clone()));
            i += 3;
        } else if eq_ic(ctx.arg(i), "setname") && more >= 1 {
            setname = Some(ctx.args[i + 1].clone());
            i += 2;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(ctx.arg(i))
            )));
        }
    }
    if let Some((user, pass)) = &credentials {
        if !check_credentials(ctx, Some(user), pass) {
            return Err(CmdError::msg(WRONGPASS));
        }
        ctx.client.authenticated = true;
    }
    if !ctx.client.authenticated {
        return Err(CmdError::msg(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(name) = setname {
        if !valid_client_name(&name) {
            return Err(CmdError::msg(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ));
        }
        ctx.client.name = (!name.is_empty()).then_some(name);
    }
    if let Some(v) = version {
        ctx.client.resp3 = v == 3;
        ctx.reply.resp3 = v == 3;
    }
    let sentinel = ctx.state.config.sentinel_mode;
    ctx.reply.map_len(if sentinel { 6 } else { 7 });
    ctx.reply.bulk(b"server");
    ctx.reply.bulk(b"redis");
    ctx.reply.bulk(b"version");
    ctx.reply.bulk(REDIS_VERSION.as_bytes());
    ctx.reply.bulk(b"proto");
    ctx.reply.int(if ctx.client.resp3 { 3 } else { 2 });
    ctx.reply.bulk(b"id");
    ctx.reply.int(ctx.client.id as i64);
    ctx.reply.bulk(b"mode");
    ctx.reply
        .bulk(if sentinel { b"sentinel" } else { b"standalone" });
    if !sentinel {
        ctx.reply.bulk(b"role");
        let role: &[u8] = if ctx.state.is_replica() {
            b"replica"
        } else {
            b"master"
        };
        ctx.reply.bulk(role);
    }
    ctx.reply.bulk(b"modules");
    ctx.reply.array_len(0);
    Ok(())
}

fn reset(ctx: &mut Ctx) -> CmdResult {
    ctx.client.multi = None;
    let watched = std::mem::take(&mut ctx.client.watched);
    super::transaction::unwatch_all(ctx.state, ctx.client.id, &watched);
    super::pubsub::unsubscribe_everything(ctx);
    ctx.client.db = 0;
    ctx.client.resp3 = false;
    ctx.reply.resp3 = false;
    ctx.client.reply_mode = ReplyMode::On;
    ctx.client.name = None;
    if ctx.client.monitor {
        ctx.client.monitor = false;
        let id = ctx.client.id;
        ctx.state.monitors.retain(|m| *m != id);
    }
    if let Some(info) = ctx.state.clients.get_mut(ctx.client.id) {
        info.no_evict = false;
    }
    ctx.client.authenticated = ctx.state.config.settings.requirepass.is_none();
    ctx.reply.simple("RESET");
    Ok(())
}
