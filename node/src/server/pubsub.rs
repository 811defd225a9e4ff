//! Channel and pattern subscriptions, and message delivery.

use std::collections::HashMap;

use bytes::Bytes;
use indexmap::IndexSet;

use super::client::{ClientId, ClientRegistry};
use crate::resp::Reply;

#[derive(Debug, Default)]
pub struct PubSubRegistry {
    pub channels: HashMap<Bytes, IndexSet<ClientId>>,
    pub patterns: HashMap<Bytes, IndexSet<ClientId>>,
}

impl PubSubRegistry {
    pub fn subscribe(&mut self, client: ClientId, channel: &Bytes) {
        self.channels
            .entry(channel.clone())
            .or_default()
            .insert(client);
    }

    pub fn unsubscribe(&mut self, client: ClientId, channel: &[u8]) {
        if let Some(set) = self.channels.get_mut(channel) {
            set.shift_remove(&client);
            if set.is_empty() {
                self.channels.remove(channel);
            }
        }
    }

    pub fn psubscribe(&mut self, client: ClientId, pattern: &Bytes) {
        self.patterns
            .entry(pattern.clone())
            .or_default()
            .insert(client);
    }

    pub fn punsubscribe(&mut self, client: ClientId, pattern: &[u8]) {
        if let Some(set) = self.patterns.get_mut(pattern) {
            set.shift_remove(&client);
            if set.is_empty() {
                self.patterns.remove(pattern);
            }
        }
    }

    /// Number of subscribed patterns (PUBSUB NUMPAT counts unique patterns).
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }

    /// Delivers a message; returns the number of receivers.
    /// `hard_limit` is the pubsub class's client-output-buffer-limit.
    pub fn publish(
        &self,
        clients: &ClientRegistry,
        channel: &[u8],
        message: &[u8],
        hard_limit: usize,
    ) -> usize {
        let mut receivers = 0;
        let mut cached: [Option<Bytes>; 2] = [None, None];
        if let Some(subs) = self.channels.get(channel) {
            for id in subs {
                if let Some(c) = clients.get(*id) {
                    let slot = &mut cached[c.resp3 as usize];
                    let frame = slot.get_or_insert_with(|| {
                        let mut r = Reply::new(c.resp3);
                        r.push_len(3);
                        r.bulk(b"message");
                        r.bulk(channel);
                        r.bulk(message);
                        Bytes::from(r.take())
                    });
                    c.push_limited(frame.clone(), hard_limit);
                    receivers += 1;
                }
            }
        }
        for (pattern, subs) in &self.patterns {
            if !crate::glob::glob_match(pattern, channel, false) {
                continue;
            }
            for id in subs {
                if let Some(c) = clients.get(*id) {
                    let mut r = Reply::new(c.resp3);
                    r.push_len(4);
                    r.bulk(b"pmessage");
                    r.bulk(pattern);
                    r.bulk(channel);
                    r.bulk(message);
                    c.push_limited(Bytes::from(r.take()), hard_limit);
                    receivers += 1;
                }
            }
        }
        receivers
    }

    /// Drops every subscription of a client that disconnected.
    pub fn remove_client(&mut self, client: ClientId, channels: &[Bytes], patterns: &[Bytes]) {
        for c in channels {
            self.unsubscribe(client, c);
        }
        for p in patterns {
            self.punsubscribe(client, p);
        }
    }
}
