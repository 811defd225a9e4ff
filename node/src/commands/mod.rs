//! The command table: one entry per command, as data. Dispatch, arity
//! checks, MULTI queueing, read-only replicas, `denyoom`, propagation and
//! COMMAND INFO all read these entries instead of keeping their own lists.

pub mod args;
pub mod connection;
pub mod hash;
pub mod keys;
pub mod list;
pub mod pubsub;
pub mod replication;
pub mod server;
pub mod set;
pub mod string;
pub mod transaction;
pub mod zset;

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::server::context::Ctx;

/// Command flags (Redis's CMD_* flags, named as COMMAND INFO prints them).
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const ALLOW_BUSY: u32 = 1 << 15;
    pub const SENTINEL: u32 = 1 << 16;
    pub const ONLY_SENTINEL: u32 = 1 << 17;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 18;
    pub const NO_ASYNC_LOADING: u32 = 1 << 19;

    /// The names COMMAND INFO prints, in Redis's order. Redis hides
    /// may_replicate, sentinel and only_sentinel.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// Why a command failed. The executor turns it into the error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    WrongType,
    Syntax,
    NotInteger,
    NotFloat,
    /// `ERR wrong number of arguments for '<name>' command`.
    WrongArity(String),
    NoSuchKey,
    /// A complete error text including its code, e.g. "ERR index out of range".
    Msg(String),
}

impl CmdError {
    pub fn msg(text: impl Into<String>) -> Self {
        CmdError::Msg(text.into())
    }

    /// The error line's text, without the leading '-'.
    pub fn text(&self) -> String {
        match self {
            CmdError::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            }
            CmdError::Syntax => "ERR syntax error".into(),
            CmdError::NotInteger => "ERR value is not an integer or out of range".into(),
            CmdError::NotFloat => "ERR value is not a valid float".into(),
            CmdError::WrongArity(name) => {
                format!("ERR wrong number of arguments for '{name}' command")
            }
            CmdError::NoSuchKey => "ERR no such key".into(),
            CmdError::Msg(m) => m.clone(),
        }
    }
}

impl From<crate::db::WrongType> for CmdError {
    fn from(_: crate::db::WrongType) -> Self {
        CmdError::WrongType
    }
}

pub type CmdResult = Result<(), CmdError>;
pub type Handler = fn(&mut Ctx) -> CmdResult;

/// A subcommand of a container command (CONFIG GET, CLIENT LIST, ...), for
/// arity checks and COMMAND output.
#[derive(Debug)]
pub struct SubcommandSpec {
    pub name: &'static str,
    pub arity: i32,
    pub flags: u32,
    pub summary: &'static str,
}

/// One command.
#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    /// Positive: exact argc (command name included); negative: at least -arity.
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    /// ACL category / docs group: "string", "list", "server", ...
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [SubcommandSpec],
}

impl CommandSpec {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// The flags that apply to one invocation: a container command's
    /// subcommand (CONFIG GET, CLIENT ID) has its own.
    pub fn flags_for(&self, args: &[bytes::Bytes]) -> u32 {
        args.get(1)
            .and_then(|name| {
                self.subcommands
                    .iter()
                    .find(|s| name.eq_ignore_ascii_case(s.name.as_bytes()))
            })
            .map_or(self.flags, |s| s.flags)
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    /// Positions of the key arguments of one invocation, without allocating.
    pub fn key_position_iter(&self, argc: usize) -> impl Iterator<Item = usize> {
        let (first, last) = if self.first_key <= 0 {
            (1, 0)
        } else if self.last_key < 0 {
            (self.first_key, argc as i32 + self.last_key)
        } else {
            (self.first_key, self.last_key.min(argc as i32 - 1))
        };
        (first..=last)
            .step_by(self.key_step.max(1) as usize)
            .map(|i| i as usize)
    }

    /// Positions of the key arguments of one invocation.
    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        if self.first_key <= 0 {
            return Vec::new();
        }
        let last = if self.last_key < 0 {
            argc as i32 + self.last_key
        } else {
            self.last_key.min(argc as i32 - 1)
        };
        let step = self.key_step.max(1);
        (self.first_key..=last)
            .step_by(step as usize)
            .map(|i| i as usize)
            .collect()
    }
}

/// Builds a `CommandSpec` with the common fields; `subcommands` defaults to none.
#[macro_export]
macro_rules! command {
    ($name:literal, $arity:expr, $flags:expr, ($first:expr, $last:expr, $step:expr), $group:literal, $since:literal, $summary:literal, $handler:expr) => {
        $crate::commands::CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            first_key: $first,
            last_key: $last,
            key_step: $step,
            group: $group,
            summary: $summary,
            since: $since,
            handler: $handler,
            subcommands: &[],
        }
    };
}

/// The command table: lowercase name → spec.
pub struct CommandTable {
    by_name: HashMap<&'static [u8], &'static CommandSpec, ahash::RandomState>,
    all: Vec<&'static CommandSpec>,
}

impl CommandTable {
    fn build() -> Self {
        let families: [&'static [CommandSpec]; 11] = [
            connection::COMMANDS,
            server::COMMANDS,
            keys::COMMANDS,
            string::COMMANDS,
            list::COMMANDS,
            hash::COMMANDS,
            set::COMMANDS,
            zset::COMMANDS,
            pubsub::COMMANDS,
            transaction::COMMANDS,
            replication::COMMANDS,
        ];
        let mut by_name = HashMap::default();
        let mut all = Vec::new();
        for family in families {
            for spec in family {
                let previous = by_name.insert(spec.name.as_bytes(), spec);
                assert!(previous.is_none(), "command {} registered twice", spec.name);
                all.push(spec);
            }
        }
        CommandTable { by_name, all }
    }

    /// Case-insensitive lookup without allocating for normal-length names.
    pub fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        for (d, s) in buf.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        self.by_name.get(&buf[..name.len()]).copied()
    }

    pub fn all(&self) -> &[&'static CommandSpec] {
        &self.all
    }
}

/// The process-wide command table.
pub fn table() -> &'static CommandTable {
    static TABLE: OnceLock<CommandTable> = OnceLock::new();
    TABLE.get_or_init(CommandTable::build)
}
