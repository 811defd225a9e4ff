//! Placeholder module; its commands are added by the set family work.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
