//! redis-ha-node: a Redis 7.0-compatible server (and, later, sentinel).

pub mod alloc;
pub mod commands;
pub mod config;
pub mod db;
pub mod fuzzing;
pub mod glob;
pub mod log;
pub mod rdb;
pub mod resp;
pub mod server;
pub mod util;
