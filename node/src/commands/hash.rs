//! Placeholder module; its commands are added by the hash family work.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
