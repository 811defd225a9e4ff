//! Server and administration commands: INFO, CONFIG, CLIENT, COMMAND,
//! DBSIZE/FLUSHDB/FLUSHALL/SWAPDB, TIME, LASTSAVE, SHUTDOWN, DEBUG, MONITOR,
//! SLOWLOG, LATENCY, MEMORY, MODULE, ROLE, LOLWUT.

mod admin;
mod client_cmd;
mod command_cmd;
pub mod command_meta;
mod config_cmd;
mod debug;
pub mod info;
mod latency;
mod memory;
mod module_cmd;
mod slowlog;
mod subcommands;

pub use latency::record_latency;
pub use subcommands::stats_name;

use super::flags::*;
use super::{CommandSpec, SubcommandSpec};
use crate::command;

/// Subcommand flags shared by most admin subcommands.
const ADMIN_SUB: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
const CONN_SUB: u32 = NOSCRIPT | LOADING | STALE;
const HELP_SUB: u32 = LOADING | STALE;

macro_rules! sub {
    ($name:literal, $arity:expr, $flags:expr, $summary:literal) => {
        SubcommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            summary: $summary,
        }
    };
}

static CONFIG_SUBCOMMANDS: &[SubcommandSpec] = &[
    sub!(
        "get",
        -3,
        ADMIN_SUB,
        "Get the values of configuration parameters"
    ),
    sub!(
        "set",
        -4,
        ADMIN_SUB,
        "Set configuration parameters to the given values"
    ),
    sub!(
        "resetstat",
        2,
        ADMIN_SUB,
        "Reset the stats returned by INFO"
    ),
    sub!(
        "rewrite",
        2,
        ADMIN_SUB,
        "Rewrite the configuration file with the in memory configuration"
    ),
    sub!(
        "help",
        2,
        HELP_SUB,
        "Show helpful text about the different subcommands"
    ),
];

static CLIENT_SUBCOMMANDS: &[SubcommandSpec] = &[
    sub!(
        "id",
        2,
        CONN_SUB,
        "Returns the client ID for the current connection"
    ),
    sub!(
        "info",
        2,
        CONN_SUB,
        "Returns information about the current client connection."
    ),
    sub!("list", -2, ADMIN_SUB, "Get the list of client connections"),
    sub!("kill", -3, ADMIN_SUB, "Kill the connection of a client"),
    sub!("setname", 3, CONN_SUB, "Set the current connection name"),
    sub!("getname", 2, CONN_SUB, "Get the current connection name"),
    sub!(
        "reply",
        3,
        CONN_SUB,
        "Instruct the server whether to reply to commands"
    ),
    sub!(
        "no-evict",
        3,
        ADMIN_SUB,
        "Set client eviction mode for the current connection"
    ),
    sub!(
        "unblock",
        -3,
        ADMIN_SUB,
        "Unblock a client blocked in a blocking command from a different connection"
    ),
    sub!(
        "getredir",
        2,
        CONN_SUB,
        "Get tracking notifications redirection client ID if any"
    ),
    sub!(
        "help",
        2,
        HELP_SUB,
        "Show helpful text about the different subcommands"
    ),
];

static COMMAND_SUBCOMMANDS: &[SubcommandSpec] = &[
    sub!("count", 2, HELP_SUB, "Get total number of Redis commands"),
    sub!("list", -2, HELP_SUB, "Get an array of Redis command names"),
    sub!(
        "info",
        -2,
        HELP_SUB,
        "Get array of specific Redis command details, or all when no argument is given."
    ),
    sub!(
        "docs",
        -2,
        HELP_SUB,
        "Get array of specific Redis command documentation"
    ),
    sub!(
        "getkeys",
        -4,
        HELP_SUB,
        "Extract keys given a full Redis command"
    ),
    sub!(
        "getkeysandflags",
        -4,
        HELP_SUB,
        "Extract keys and access flags given a full Redis command"
    ),
    sub!(
        "help",
        2,
        HELP_SUB,
        "Show helpful text about the different subcommands"
    ),
];

static SLOWLOG_SUBCOMMANDS: &[SubcommandSpec] = &[
    sub!(
        "get",
        -2,
        ADMIN | LOADING | STALE,
        "Get the slow log's entries"
    ),
    sub!(
        "len",
        2,
        ADMIN | LOADING | STALE,
        "Get the slow log's length"
    ),
    sub!(
        "reset",
        2,
        ADMIN | LOADING | STALE,
        "Clear all entries from the slow log"
    ),
    sub!(
        "help",
        2,
        HELP_SUB,
        "Show helpful text about the different subcommands"
    ),
];

static LATENCY_SUBCOMMANDS: &[SubcommandSpec] = &[
    sub!(
        "latest",
        2,
        ADMIN_SUB,
        "Return the latest latency samples for all events."
    ),
    sub!(
        "history",
        3,
        ADMIN_SUB,
        "Return timestamp-latency samples for the event."
    ),
    sub!(
        "reset",
        -2,
        ADMIN_SUB,
        "Reset latency data for one or more events."
    ),
    sub!(
        "doctor",
        2,
        ADMIN_SUB,
        "Return a human readable latency analysis report."
    ),
    sub!(
        "graph",
        3,
        ADMIN_SUB,
        "Return a latency graph for the event."
    ),
    sub!(
        "help",
        2,
        HELP_SUB,
        "Show helpful text about the different subcommands."
    ),
];

static MEMORY_SUBCOMMANDS: &[SubcommandSpec] = &[
    sub!("usage", -3, READONLY, "Estimate the memory usage of a key"),
    sub!("stats", 2, 0, "Show memory usage details"),
    sub!("doctor", 2, 0, "Outputs memory problems report"),
    sub!("malloc-stats", 2, 0, "Show allocator internal stats"),
    sub!("purge", 2, 0, "Ask the allocator to release memory"),
    sub!(
        "help",
        2,
        HELP_SUB,
        "Show helpful text about the different subcommands"
    ),
];

static MODULE_SUBCOMMANDS: &[SubcommandSpec] = &[
    sub!(
        "list",
        2,
        ADMIN | NOSCRIPT,
        "List all modules loaded by the server"
    ),
    sub!(
        "load",
        -3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        "Load a module"
    ),
    sub!(
        "loadex",
        -3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        "Load a module with extended parameters"
    ),
    sub!(
        "unload",
        3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        "Unload a module"
    ),
    sub!(
        "help",
        2,
        HELP_SUB,
        "Show helpful text about the different subcommands"
    ),
];

pub static COMMANDS: &[CommandSpec] = &[
    command!(
        "info",
        -1,
        LOADING | STALE | SENTINEL,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Get information and statistics about the server",
        info::info_command
    ),
    CommandSpec {
        subcommands: CONFIG_SUBCOMMANDS,
        ..command!(
            "config",
            -2,
            0,
            (0, 0, 0),
            "server",
            "2.0.0",
            "A container for server configuration commands",
            config_cmd::config
        )
    },
    CommandSpec {
        subcommands: CLIENT_SUBCOMMANDS,
        ..command!(
            "client",
            -2,
            SENTINEL,
            (0, 0, 0),
            "connection",
            "2.4.0",
            "A container for client connection commands",
            client_cmd::client
        )
    },
    CommandSpec {
        subcommands: COMMAND_SUBCOMMANDS,
        ..command!(
            "command",
            -1,
            LOADING | STALE | SENTINEL,
            (0, 0, 0),
            "server",
            "2.8.13",
            "Get array of Redis command details",
            command_cmd::command
        )
    },
    command!(
        "dbsize",
        1,
        READONLY | FAST,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Return the number of keys in the selected database",
        admin::dbsize
    ),
    command!(
        "flushdb",
        -1,
        WRITE,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Remove all keys from the current database",
        admin::flushdb
    ),
    command!(
        "flushall",
        -1,
        WRITE,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Remove all keys from all databases",
        admin::flushall
    ),
    command!(
        "swapdb",
        3,
        WRITE | FAST,
        (0, 0, 0),
        "server",
        "4.0.0",
        "Swaps two Redis databases",
        admin::swapdb
    ),
    command!(
        "time",
        1,
        LOADING | STALE | FAST,
        (0, 0, 0),
        "server",
        "2.6.0",
        "Return the current server time",
        admin::time
    ),
    command!(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Get the UNIX time stamp of the last successful save to disk",
        admin::lastsave
    ),
    command!(
        "save",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Synchronously save the dataset to disk",
        admin::save
    ),
    command!(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Asynchronously save the dataset to disk",
        admin::bgsave
    ),
    command!(
        "bgrewriteaof",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Asynchronously rewrite the append-only file",
        crate::aof::rewrite::bgrewriteaof_command
    ),
    command!(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY | SENTINEL,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Synchronously save the dataset to disk and then shut down the server",
        admin::shutdown
    ),
    command!(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        "server",
        "1.0.0",
        "A container for debugging commands",
        debug::debug
    ),
    command!(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Listen for all requests received by the server in real time",
        admin::monitor
    ),
    CommandSpec {
        subcommands: SLOWLOG_SUBCOMMANDS,
        ..command!(
            "slowlog",
            -2,
            0,
            (0, 0, 0),
            "server",
            "2.2.12",
            "A container for slow log commands",
            slowlog::slowlog
        )
    },
    CommandSpec {
        subcommands: LATENCY_SUBCOMMANDS,
        ..command!(
            "latency",
            -2,
            0,
            (0, 0, 0),
            "server",
            "2.8.13",
            "A container for latency diagnostics commands",
            latency::latency
        )
    },
    CommandSpec {
        subcommands: MEMORY_SUBCOMMANDS,
        ..command!(
            "memory",
            -2,
            0,
            (0, 0, 0),
            "server",
            "4.0.0",
            "A container for memory diagnostics commands",
            memory::memory
        )
    },
    CommandSpec {
        subcommands: MODULE_SUBCOMMANDS,
        ..command!(
            "module",
            -2,
            0,
            (0, 0, 0),
            "server",
            "4.0.0",
            "A container for module commands",
            module_cmd::module
        )
    },
    command!(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | FAST | SENTINEL,
        (0, 0, 0),
        "server",
        "2.8.12",
        "Return the role of the instance in the context of replication",
        admin::role
    ),
    command!(
        "lolwut",
        -1,
        READONLY | FAST,
        (0, 0, 0),
        "server",
        "5.0.0",
        "Display some computer art and the Redis version",
        admin::lolwut
    ),
];
