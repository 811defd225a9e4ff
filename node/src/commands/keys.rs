//! Placeholder module; its commands are added by the keys family work.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
