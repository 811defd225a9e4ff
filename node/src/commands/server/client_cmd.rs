//! CLIENT ID / INFO / LIST / KILL / SETNAME / GETNAME / REPLY / NO-EVICT /
//! UNBLOCK / GETREDIR / HELP.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::subcommands::{reply_help, resolve, syntax_error};
use crate::commands::args::{eq_ic, int};
use crate::commands::connection::valid_client_name;
use crate::commands::{CmdError, CmdResult};
use crate::resp::Reply;
use crate::server::blocking::Unblocked;
use crate::server::client::{ClientId, ClientInfo, ReplyMode};
use crate::server::connection::sync_client_info;
use crate::server::context::{write_timeout_reply, Ctx};

pub fn client(ctx: &mut Ctx) -> CmdResult {
    match resolve(ctx)?.name {
        "id" => {
            ctx.reply.int(ctx.client.id as i64);
            Ok(())
        }
        "info" => info(ctx),
        "list" => list(ctx),
        "kill" => kill(ctx),
        "setname" => setname(ctx),
        "getname" => {
            match ctx.client.name.clone() {
                Some(n) => ctx.reply.bulk(&n),
                None => ctx.reply.null(),
            }
            Ok(())
        }
        "reply" => reply_mode(ctx),
        "no-evict" => no_evict(ctx),
        "unblock" => unblock(ctx),
        "getredir" => {
            // Client-side caching is not supported: never redirecting.
            ctx.reply.int(-1);
            Ok(())
        }
        _ => {
            reply_help(ctx, HELP);
            Ok(())
        }
    }
}

const HELP: &[&str] = &[
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
];

/// CLIENT LIST TYPE / CLIENT KILL TYPE classes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ClientType {
    Normal,
    Master,
    Replica,
    PubSub,
}

fn parse_type(arg: &[u8]) -> Result<ClientType, CmdError> {
    match arg.to_ascii_lowercase().as_slice() {
        b"normal" => Ok(ClientType::Normal),
        b"master" => Ok(ClientType::Master),
        b"replica" | b"slave" => Ok(ClientType::Replica),
        b"pubsub" => Ok(ClientType::PubSub),
        _ => Err(CmdError::msg(format!(
            "ERR Unknown client type '{}'",
            String::from_utf8_lossy(arg)
        ))),
    }
}

fn type_of(c: &ClientInfo) -> ClientType {
    if c.flags.contains('M') {
        ClientType::Master
    } else if c.flags.contains('S') {
        ClientType::Replica
    } else if c.sub + c.psub > 0 {
        ClientType::PubSub
    } else {
        ClientType::Normal
    }
}

/// The flags= field with Redis's letters in Redis's order (O monitor, S
/// replica, M master, P pub/sub, x MULTI, b blocked, d dirty CAS,
/// e no-evict; N for none).
fn flag_letters(c: &ClientInfo) -> String {
    let mut out: String = "OSMPx"
        .chars()
        .filter(|ch| match ch {
            'P' => c.sub + c.psub > 0,
            _ => c.flags.contains(*ch),
        })
        .collect();
    if c.blocked {
        out.push('b');
    }
    out.extend("de".chars().filter(|ch| c.flags.contains(*ch)));
    if out.is_empty() {
        out.push('N');
    }
    out
}

/// One CLIENT LIST line, in Redis 7.0's field order, ending with '\n'.
/// `argv_mem` is the size of the arguments of the command running now
/// (only the calling client has one).
fn describe(out: &mut String, c: &ClientInfo, now_ms: i64, argv_mem: usize) {
    let omem = c.pending_push.load(Ordering::Relaxed);
    let name = c
        .name
        .as_ref()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    let events = if omem > 0 { "rw" } else { "r" };
    let _ = writeln!(
        out,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 multi={} \
         qbuf={} qbuf-free=0 argv-mem={} multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} tot-mem={} events={} \
         cmd={} user=default redir=-1 resp={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        name,
        (now_ms - c.created_ms).max(0) / 1000,
        (now_ms - c.last_interaction_ms).max(0) / 1000,
        flag_letters(c),
        c.db,
        c.sub,
        c.psub,
        c.multi,
        c.qbuf,
        argv_mem,
        omem,
        c.qbuf + argv_mem + omem,
        events,
        c.last_cmd,
        if c.resp3 { 3 } else { 2 },
    );
}

/// Brings the caller's own registry entry up to date (name, db, flags,
/// cmd) so it describes the connection as it is now.
fn refresh_self(ctx: &mut Ctx) -> usize {
    let qbuf = ctx.state.clients.get(ctx.client.id).map_or(0, |c| c.qbuf);
    sync_client_info(ctx.state, ctx.client, qbuf);
    ctx.args.iter().map(|a| a.len()).sum()
}

fn info(ctx: &mut Ctx) -> CmdResult {
    let argv_mem = refresh_self(ctx);
    let mut out = String::new();
    if let Some(c) = ctx.state.clients.get(ctx.client.id) {
        describe(&mut out, c, crate::util::time::now_ms(), argv_mem);
    }
    ctx.reply.verbatim(out.as_bytes(), "txt");
    Ok(())
}

fn list(ctx: &mut Ctx) -> CmdResult {
    let mut only_type = None;
    let mut only_ids: Option<Vec<i64>> = None;
    if ctx.argc() == 4 && eq_ic(ctx.arg(2), "type") {
        only_type = Some(parse_type(ctx.arg(3))?);
    } else if ctx.argc() >= 4 && eq_ic(ctx.arg(2), "id") {
        let ids = ctx.args[3..]
            .iter()
            .map(|a| int(a).map_err(|_| CmdError::msg("ERR Invalid client ID")))
            .collect::<Result<Vec<_>, _>>()?;
        only_ids = Some(ids);
    } else if ctx.argc() != 2 {
        return Err(CmdError::Syntax);
    }
    let argv_mem = refresh_self(ctx);
    let now = crate::util::time::now_ms();
    let me = ctx.client.id;
    let mut out = String::new();
    let mut describe_one =
        |c: &ClientInfo| describe(&mut out, c, now, if c.id == me { argv_mem } else { 0 });
    match only_ids {
        // With IDs, clients come in the order the IDs were given.
        Some(ids) => {
            for id in ids {
                if let Some(c) = u64::try_from(id)
                    .ok()
                    .and_then(|id| ctx.state.clients.get(id))
                {
                    describe_one(c);
                }
            }
        }
        None => {
            for c in ctx.state.clients.clients.values() {
                if only_type.is_none_or(|t| type_of(c) == t) {
                    describe_one(c);
                }
            }
        }
    }
    ctx.reply.verbatim(out.as_bytes(), "txt");
    Ok(())
}

/// The filters of `CLIENT KILL <option> <value> ...`.
#[derive(Default)]
struct KillFilter {
    id: Option<ClientId>,
    addr: Option<String>,
    laddr: Option<String>,
    kind: Option<ClientType>,
    skip_me: bool,
}

impl KillFilter {
    fn matches(&self, c: &ClientInfo) -> bool {
        self.id.is_none_or(|id| c.id == id)
            && self.addr.as_ref().is_none_or(|a| *a == c.addr)
            && self.laddr.as_ref().is_none_or(|a| *a == c.laddr)
            && self.kind.is_none_or(|k| type_of(c) == k)
    }
}

fn parse_kill_filter(ctx: &Ctx) -> Result<KillFilter, CmdError> {
    let mut f = KillFilter {
        skip_me: true,
        ..Default::default()
    };
    if !(ctx.argc() - 2).is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    for pair in ctx.args[2..].chunks(2) {
        let (opt, value) = (&pair[0], &pair[1]);
        let text = || String::from_utf8_lossy(value).into_owned();
        if eq_ic(opt, "id") {
            let id = int(value)
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| CmdError::msg("ERR client-id should be greater than 0"))?;
            f.id = Some(id as ClientId);
        } else if eq_ic(opt, "type") {
            f.kind = Some(parse_type(value)?);
        } else if eq_ic(opt, "addr") {
            f.addr = Some(text());
        } else if eq_ic(opt, "laddr") {
            f.laddr = Some(text());
        } else if eq_ic(opt, "user") {
            // The default user is the only one.
            if value.as_ref() != b"default" {
                return Err(CmdError::msg(format!("ERR No such user '{}'", text())));
            }
        } else if eq_ic(opt, "skipme") {
            f.skip_me = if eq_ic(value, "yes") {
                true
            } else if eq_ic(value, "no") {
                false
            } else {
                return Err(CmdError::Syntax);
            };
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(f)
}

/// CLIENT KILL ip:port (old form, replies OK) or with filters (replies the
/// number of clients killed). The caller itself is closed after its reply.
fn kill(ctx: &mut Ctx) -> CmdResult {
    let old_form = ctx.argc() == 3;
    let filter = if old_form {
        KillFilter {
            addr: Some(String::from_utf8_lossy(ctx.arg(2)).into_owned()),
            ..Default::default()
        }
    } else {
        parse_kill_filter(ctx)?
    };
    let me = ctx.client.id;
    let mut killed = 0;
    for c in ctx.state.clients.clients.values() {
        if !filter.matches(c) || (c.id == me && filter.skip_me) {
            continue;
        }
        if c.id == me {
            ctx.client.close_after_reply = true;
        } else {
            c.kill.kill();
        }
        killed += 1;
    }
    if old_form {
        if killed == 0 {
            return Err(CmdError::msg("ERR No such client"));
        }
        ctx.reply.ok();
    } else {
        ctx.reply.int(killed);
    }
    Ok(())
}

fn setname(ctx: &mut Ctx) -> CmdResult {
    let name = ctx.args[2].clone();
    if !valid_client_name(&name) {
        return Err(CmdError::msg(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    ctx.client.name = (!name.is_empty()).then_some(name);
    ctx.reply.ok();
    Ok(())
}

/// CLIENT REPLY ON|OFF|SKIP. OFF and SKIP write nothing themselves; the
/// connection drops the replies they suppress (see `apply_reply_mode`).
fn reply_mode(ctx: &mut Ctx) -> CmdResult {
    let arg = ctx.arg(2);
    if eq_ic(arg, "on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.reply.ok();
    } else if eq_ic(arg, "off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if eq_ic(arg, "skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

fn no_evict(ctx: &mut Ctx) -> CmdResult {
    let on = if eq_ic(ctx.arg(2), "on") {
        true
    } else if eq_ic(ctx.arg(2), "off") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    if let Some(info) = ctx.state.clients.get_mut(ctx.client.id) {
        info.no_evict = on;
    }
    ctx.reply.ok();
    Ok(())
}

/// Text of the error a client gets when unblocked with CLIENT UNBLOCK ... ERROR.
const UNBLOCKED_ERROR: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends another client's blocking
/// command, as if its timeout passed or with an error. 1 if it was blocked.
fn unblock(ctx: &mut Ctx) -> CmdResult {
    let id = int(ctx.arg(2))?;
    let with_error = match ctx.argc() {
        3 => false,
        4 if eq_ic(ctx.arg(3), "timeout") => false,
        4 if eq_ic(ctx.arg(3), "error") => true,
        4 => {
            return Err(CmdError::msg(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
        _ => return Err(syntax_error(ctx)),
    };
    let blocked = u64::try_from(id)
        .ok()
        .and_then(|id| ctx.state.blocked.unblock(id));
    let Some(blocked) = blocked else {
        ctx.reply.int(0);
        return Ok(());
    };
    let mut reply = Reply::new(blocked.resp3);
    if with_error {
        reply.error(UNBLOCKED_ERROR);
        ctx.state.stats.total_error_replies += 1;
        *ctx.state
            .stats
            .error_counts
            .entry("UNBLOCKED".to_string())
            .or_insert(0) += 1;
    } else {
        write_timeout_reply(&mut reply, blocked.request.timeout_reply);
    }
    let _ = blocked.reply_tx.send(Unblocked::Reply(reply.take()));
    if let Some(info) = ctx.state.clients.get_mut(blocked.client) {
        info.blocked = false;
    }
    ctx.reply.int(1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_types() {
        assert_eq!(parse_type(b"REPLICA").unwrap(), ClientType::Replica);
        assert_eq!(parse_type(b"slave").unwrap(), ClientType::Replica);
        assert_eq!(
            parse_type(b"foo").unwrap_err().text(),
            "ERR Unknown client type 'foo'"
        );
    }
}
