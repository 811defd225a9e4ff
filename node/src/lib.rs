//! redis-ha-node: a Redis 7.0-compatible server (and, later, sentinel).

pub mod alloc;
pub mod aof;
pub mod commands;
pub mod config;
pub mod db;
pub mod fuzzing;
pub mod glob;
pub mod local;
pub mod log;
pub mod metrics;
pub mod rdb;
pub mod replication;
pub mod resp;
pub mod sentinel;
pub mod server;
pub mod util;
