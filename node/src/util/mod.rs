//! Small helpers shared by every command family: Redis-exact number parsing
//! and formatting, and the clock.

pub mod number;
pub mod time;
