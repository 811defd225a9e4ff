//! Placeholder module; its commands are added by the list family work.

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
