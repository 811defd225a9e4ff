//! `redis-ha`: the whole HA set (one master, replicas, sentinels) as plain
//! processes on 127.0.0.1, without Docker or Kubernetes, plus small
//! operational commands (`status`, `kill-master`) that find the master the
//! way clients do: by asking the sentinels.

pub mod layout;
pub mod probe;
pub mod supervise;
