//! The Sentinel's own pub/sub: clients SUBSCRIBE to event names
//! (`+switch-master`, `+sdown`, ...) or PSUBSCRIBE to patterns; every event
//! is also logged, as sentinelEvent does.

use std::collections::{HashMap, HashSet};

use tokio::sync::mpsc::UnboundedSender;

use crate::glob::glob_match;
use crate::log::Level;
use crate::resp::Reply;

/// One subscribed client: where its pushed messages go and what it wants.
struct Subscriber {
    tx: UnboundedSender<Vec<u8>>,
    resp3: bool,
    channels: HashSet<Vec<u8>>,
    patterns: HashSet<Vec<u8>>,
}

#[derive(Default)]
pub struct EventHub {
    subscribers: HashMap<u64, Subscriber>,
}

impl EventHub {
    pub fn register(&mut self, client: u64, tx: UnboundedSender<Vec<u8>>, resp3: bool) {
        self.subscribers.entry(client).or_insert(Subscriber {
            tx,
            resp3,
            channels: HashSet::new(),
            patterns: HashSet::new(),
        });
    }

    pub fn set_resp3(&mut self, client: u64, resp3: bool) {
        if let Some(s) = self.subscribers.get_mut(&client) {
            s.resp3 = resp3;
        }
    }

    pub fn unregister(&mut self, client: u64) {
        self.subscribers.remove(&client);
    }

    /// Adds or removes a channel or pattern; returns the client's new total.
    pub fn change(&mut self, client: u64, name: &[u8], pattern: bool, add: bool) -> usize {
        let Some(s) = self.subscribers.get_mut(&client) else {
            return 0;
        };
        let set = if pattern {
            &mut s.patterns
        } else {
            &mut s.channels
        };
        if add {
            set.insert(name.to_vec());
        } else {
            set.remove(name);
        }
        s.channels.len() + s.patterns.len()
    }

    pub fn list(&self, client: u64, pattern: bool) -> Vec<Vec<u8>> {
        self.subscribers
            .get(&client)
            .map(|s| {
                let set = if pattern { &s.patterns } else { &s.channels };
                let mut v: Vec<_> = set.iter().cloned().collect();
                v.sort();
                v
            })
            .unwrap_or_default()
    }

    pub fn count(&self, client: u64) -> usize {
        self.subscribers
            .get(&client)
            .map(|s| s.channels.len() + s.patterns.len())
            .unwrap_or(0)
    }

    pub fn pattern_total(&self) -> usize {
        self.subscribers.values().map(|s| s.patterns.len()).sum()
    }

    pub fn channel_total(&self) -> usize {
        let all: HashSet<&Vec<u8>> = self
            .subscribers
            .values()
            .flat_map(|s| s.channels.iter())
            .collect();
        all.len()
    }

    /// Logs the event and publishes it on the channel named after it.
    pub fn emit(&mut self, level: Level, kind: &str, message: &str) {
        crate::log::log(level, &format!("{kind} {message}"));
        if level == Level::Debug {
            return;
        }
        self.publish(kind.as_bytes(), message.as_bytes());
    }

    fn publish(&mut self, channel: &[u8], message: &[u8]) {
        for s in self.subscribers.values() {
            if s.channels.contains(channel) {
                let mut r = Reply::new(s.resp3);
                push_header(&mut r, 3);
                r.bulk(b"message");
                r.bulk(channel);
                r.bulk(message);
                let _ = s.tx.send(r.take());
            }
            for p in &s.patterns {
                if glob_match(p, channel, false) {
                    let mut r = Reply::new(s.resp3);
                    push_header(&mut r, 4);
                    r.bulk(b"pmessage");
                    r.bulk(p);
                    r.bulk(channel);
                    r.bulk(message);
                    let _ = s.tx.send(r.take());
                }
            }
        }
    }
}

/// `>n` in RESP3, `*n` in RESP2.
pub fn push_header(r: &mut Reply, n: usize) {
    if r.resp3 {
        r.push_len(n);
    } else {
        r.array_len(n);
    }
}
