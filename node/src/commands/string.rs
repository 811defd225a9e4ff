//! Placeholder module; its commands are added by the string family work.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
