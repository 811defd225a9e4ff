//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN, ...).
//!
//! A blocked client's command is kept here. When a write touches a key that
//! clients wait on, the key is marked ready; after the writing command, the
//! executor re-runs the blocked commands on that key in the order the clients
//! blocked (as Redis's handleClientsBlockedOnKeys does) and sends each served
//! client its reply through a oneshot channel.

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::client::ClientId;
use crate::db::CompactBytes;

/// What a blocked command replies when its timeout passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutReply {
    /// `*-1` (RESP2) / `_` (RESP3): BLPOP, BRPOP, BZPOPMIN, BLMPOP, ...
    NullArray,
    /// `$-1` / `_`: BLMOVE, BRPOPLPUSH.
    NullBulk,
}

/// What a command asks for when it has to wait.
#[derive(Debug, Clone)]
pub struct BlockRequest {
    pub keys: Vec<CompactBytes>,
    /// Absolute deadline in Unix ms; None waits forever.
    pub deadline_ms: Option<i64>,
    pub timeout_reply: TimeoutReply,
}

/// How a blocked client's wait ended.
#[derive(Debug)]
pub enum Unblocked {
    /// Served: the encoded reply.
    Reply(Vec<u8>),
}

#[derive(Debug)]
pub struct BlockedClient {
    pub client: ClientId,
    pub db: usize,
    pub resp3: bool,
    pub args: Vec<Bytes>,
    pub request: BlockRequest,
    pub reply_tx: oneshot::Sender<Unblocked>,
}

#[derive(Debug, Default)]
pub struct BlockedRegistry {
    by_key: HashMap<(usize, CompactBytes), VecDeque<ClientId>>,
    clients: HashMap<ClientId, BlockedClient>,
    ready: Vec<(usize, CompactBytes)>,
    ready_set: HashSet<(usize, CompactBytes)>,
}

impl BlockedRegistry {
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_blocked(&self, id: ClientId) -> bool {
        self.clients.contains_key(&id)
    }

    /// Number of distinct keys clients are blocked on (INFO blocked_keys).
    pub fn key_count(&self) -> usize {
        self.by_key.len()
    }

    pub fn block(&mut self, blocked: BlockedClient) {
        for key in &blocked.request.keys {
            let queue = self.by_key.entry((blocked.db, key.clone())).or_default();
            if !queue.contains(&blocked.client) {
                queue.push_back(blocked.client);
            }
        }
        self.clients.insert(blocked.client, blocked);
    }

    /// Removes a client from every key it waits on; returns its entry.
    pub fn unblock(&mut self, id: ClientId) -> Option<BlockedClient> {
        let blocked = self.clients.remove(&id)?;
        for key in &blocked.request.keys {
            let slot = (blocked.db, key.clone());
            if let Some(queue) = self.by_key.get_mut(&slot) {
                queue.retain(|c| *c != id);
                if queue.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
        Some(blocked)
    }

    /// A write touched (db, key): if anyone waits on it, it becomes ready.
    pub fn signal_key(&mut self, db: usize, key: &[u8]) {
        if self.by_key.is_empty() {
            return;
        }
        let slot = (db, CompactBytes::new(key));
        if self.by_key.contains_key(&slot) && self.ready_set.insert(slot.clone()) {
            self.ready.push(slot);
        }
    }

    /// Takes the ready keys, oldest first.
    pub fn take_ready(&mut self) -> Vec<(usize, CompactBytes)> {
        self.ready_set.clear();
        std::mem::take(&mut self.ready)
    }

    /// Clients waiting on (db, key), in the order they blocked.
    pub fn waiters(&self, db: usize, key: &CompactBytes) -> Vec<ClientId> {
        self.by_key
            .get(&(db, key.clone()))
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn get(&self, id: ClientId) -> Option<&BlockedClient> {
        self.clients.get(&id)
    }

    /// Clients whose deadline passed.
    pub fn expired(&self, now_ms: i64) -> Vec<ClientId> {
        self.clients
            .values()
            .filter(|b| b.request.deadline_ms.is_some_and(|d| d <= now_ms))
            .map(|b| b.client)
            .collect()
    }
}
