//! Placeholder module; its commands are added by the zset family work.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
