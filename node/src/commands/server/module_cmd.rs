//! MODULE: this server loads no modules. LIST answers (clients ask at
//! start-up); LOAD, LOADEX and UNLOAD are refused the way Redis 7.0 refuses
//! them, by default because enable-module-command is off.

use super::config_cmd::protected_action_allowed;
use super::subcommands::{reply_help, resolve};
use crate::commands::{CmdError, CmdResult};
use crate::server::context::Ctx;

const NOT_ALLOWED: &str = "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", \
you can run it from a local connection, otherwise you need to set this option in the configuration file, \
and then restart the server.";

pub fn module(ctx: &mut Ctx) -> CmdResult {
    let sub = resolve(ctx)?.name;
    if matches!(sub, "load" | "loadex" | "unload")
        && !protected_action_allowed(ctx, "enable-module-command")
    {
        return Err(CmdError::msg(NOT_ALLOWED));
    }
    match sub {
        "list" => {
            ctx.reply.array_len(0);
            Ok(())
        }
        "load" | "loadex" => {
            crate::warning!(
                "Module {} failed to load: this server does not support modules",
                String::from_utf8_lossy(ctx.arg(2))
            );
            Err(CmdError::msg(
                "ERR Error loading the extension. Please check the server logs.",
            ))
        }
        "unload" => Err(CmdError::msg(
            "ERR Error unloading module: no such module with that name",
        )),
        _ => {
            reply_help(
                ctx,
                &[
                    "LIST",
                    "    Return a list of loaded modules.",
                    "LOAD <path> [<arg> ...]",
                    "    Load a module library from <path>, passing to it any optional arguments.",
                    "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
                    "    Load a module library from <path>, while passing it module configurations and optional arguments.",
                    "UNLOAD <name>",
                    "    Unload a module.",
                ],
            );
            Ok(())
        }
    }
}
