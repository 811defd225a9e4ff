//! Shared plumbing of container commands (CONFIG GET, CLIENT LIST, ...):
//! subcommand lookup with Redis's arity and "unknown subcommand" errors,
//! HELP replies, and the `container|sub` names CLIENT LIST shows.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::commands::{table, CmdError, CommandSpec, SubcommandSpec};
use crate::server::context::Ctx;

/// Redis truncates echoed arguments in error messages to 128 bytes.
fn echo(arg: &[u8]) -> String {
    String::from_utf8_lossy(&arg[..arg.len().min(128)]).into_owned()
}

/// The command name as typed, upper-cased (Redis's "Try CONFIG HELP.").
fn typed_name(ctx: &Ctx) -> String {
    String::from_utf8_lossy(ctx.arg(0)).to_ascii_uppercase()
}

/// `ERR unknown subcommand 'x'. Try CONFIG HELP.`
pub fn unknown_subcommand(ctx: &Ctx) -> CmdError {
    CmdError::msg(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        echo(ctx.arg(1)),
        typed_name(ctx)
    ))
}

/// The error commands without a subcommand table (DEBUG, and SLOWLOG GET
/// with extra arguments) give for anything they do not understand.
pub fn syntax_error(ctx: &Ctx) -> CmdError {
    CmdError::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        echo(ctx.arg(1)),
        typed_name(ctx)
    ))
}

/// `container|sub` as a static string, for CLIENT LIST's cmd= field.
pub fn full_name(container: &'static str, sub: &'static str) -> &'static str {
    static NAMES: OnceLock<HashMap<(&'static str, &'static str), &'static str>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        let mut m = HashMap::new();
        for spec in table().all() {
            for s in spec.subcommands {
                // One small string per subcommand, made once for the process.
                let name: &'static str =
                    Box::leak(format!("{}|{}", spec.name, s.name).into_boxed_str());
                m.insert((spec.name, s.name), name);
            }
        }
        m
    });
    names.get(&(container, sub)).copied().unwrap_or(container)
}

/// The name a call is counted under in INFO commandstats: `config|get`
/// for a subcommand, the command's own name otherwise.
pub fn stats_name(spec: &'static CommandSpec, args: &[bytes::Bytes]) -> &'static str {
    let sub = args.get(1).and_then(|name| {
        spec.subcommands
            .iter()
            .find(|s| name.eq_ignore_ascii_case(s.name.as_bytes()))
    });
    match sub {
        Some(s) => full_name(spec.name, s.name),
        None => spec.name,
    }
}

fn arity_ok(arity: i32, argc: usize) -> bool {
    let argc = argc as i64;
    if arity >= 0 {
        argc == arity as i64
    } else {
        argc >= -(arity as i64)
    }
}

/// Resolves `args[1]` against the container's subcommands and checks the
/// subcommand's arity, as Redis does before running a subcommand.
pub fn resolve(ctx: &mut Ctx) -> Result<&'static SubcommandSpec, CmdError> {
    let spec = ctx.spec;
    let Some(sub) = spec
        .subcommands
        .iter()
        .find(|s| ctx.arg(1).eq_ignore_ascii_case(s.name.as_bytes()))
    else {
        return Err(unknown_subcommand(ctx));
    };
    ctx.client.last_cmd = full_name(spec.name, sub.name);
    if !arity_ok(sub.arity, ctx.argc()) {
        return Err(CmdError::WrongArity(format!("{}|{}", spec.name, sub.name)));
    }
    Ok(sub)
}

/// A HELP reply: the header line, the given lines, and the HELP entry, each
/// a status line.
pub fn reply_help(ctx: &mut Ctx, lines: &[&str]) {
    let header = format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        typed_name(ctx)
    );
    ctx.reply.array_len(lines.len() + 3);
    ctx.reply.simple(&header);
    for l in lines {
        ctx.reply.simple(l);
    }
    ctx.reply.simple("HELP");
    ctx.reply.simple("    Prints this help.");
}
