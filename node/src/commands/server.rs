//! Placeholder module; its commands are added by the server family work.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
