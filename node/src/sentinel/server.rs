//! The Sentinel's listener and client connections: RESP2/RESP3 requests
//! parsed with the node's request parser, replies written with `Reply`,
//! event messages pushed to subscribers.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};

use super::commands::{self, After};
use super::events::EventHub;
use super::state::*;
use crate::resp::request::Parsed;
use crate::resp::{ParseLimits, Reply, RequestParser};
use crate::util::time::now_ms;

/// A connected client, owned by its task.
pub struct Client {
    pub id: u64,
    pub resp3: bool,
    pub authenticated: bool,
    pub name: String,
}

impl Client {
    pub fn subscriptions(&self, st: &Sentinel) -> usize {
        st.ctx.events.count(self.id)
    }
}

struct Entry {
    addr: String,
    laddr: String,
    name: String,
    created: i64,
    kill: Arc<Notify>,
}

/// All clients, for CLIENT LIST and CLIENT KILL.
#[derive(Default)]
pub struct ClientRegistry {
    next_id: u64,
    clients: HashMap<u64, Entry>,
}

impl ClientRegistry {
    fn add(&mut self, addr: String, laddr: String, kill: Arc<Notify>) -> u64 {
        self.next_id += 1;
        self.clients.insert(
            self.next_id,
            Entry {
                addr,
                laddr,
                name: String::new(),
                created: now_ms(),
                kill,
            },
        );
        self.next_id
    }

    fn remove(&mut self, id: u64) {
        self.clients.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn set_name(&mut self, id: u64, name: &str) {
        if let Some(e) = self.clients.get_mut(&id) {
            e.name = name.to_string();
        }
    }

    pub fn line(&self, id: u64, hub: &EventHub) -> Option<String> {
        let e = self.clients.get(&id)?;
        let subs = hub.count(id);
        Some(format!(
            "id={} addr={} laddr={} fd=0 name={} age={} idle=0 flags={} db=0 sub={} psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=NULL user=default redir=-1 resp=2",
            id,
            e.addr,
            e.laddr,
            e.name,
            (now_ms() - e.created) / 1000,
            if subs > 0 { "P" } else { "N" },
            subs
        ))
    }

    pub fn list(&self, hub: &EventHub) -> String {
        let mut ids: Vec<u64> = self.clients.keys().copied().collect();
        ids.sort();
        let mut out = String::new();
        for id in ids {
            if let Some(l) = self.line(id, hub) {
                out.push_str(&l);
                out.push('\n');
            }
        }
        out
    }

    fn kill_where(&self, pred: impl Fn(u64, &Entry) -> bool) -> usize {
        let mut n = 0;
        for (id, e) in &self.clients {
            if pred(*id, e) {
                e.kill.notify_one();
                n += 1;
            }
        }
        n
    }

    pub fn kill_id(&self, id: u64) -> usize {
        self.kill_where(|i, _| i == id)
    }

    pub fn kill_addr(&self, addr: &str) -> usize {
        self.kill_where(|_, e| e.addr == addr)
    }

    pub fn kill_laddr(&self, addr: &str) -> usize {
        self.kill_where(|_, e| e.laddr == addr)
    }

    /// `normal` or `pubsub`; the calling client is spared only by id filters
    /// in Redis, so it is included here as well.
    pub fn kill_type(&self, kind: &str, hub: &EventHub, _me: u64) -> usize {
        self.kill_where(|id, _| (hub.count(id) > 0) == (kind == "pubsub"))
    }
}

/// Accepts clients until shutdown.
pub async fn serve(shared: Shared, listeners: Vec<TcpListener>) {
    for l in listeners {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                match l.accept().await {
                    Ok((sock, _)) => {
                        let shared = shared.clone();
                        tokio::spawn(async move { handle(shared, sock).await });
                    }
                    Err(e) => {
                        crate::warning!("Accepting client connection: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }
}

async fn handle(shared: Shared, sock: TcpStream) {
    let _ = sock.set_nodelay(true);
    let addr = sock.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let laddr = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let kill = Arc::new(Notify::new());
    let (push_tx, mut push_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let mut client = {
        let mut st = shared.lock();
        st.ctx.total_connections += 1;
        let id = st.ctx.clients.add(addr, laddr, kill.clone());
        st.ctx.events.register(id, push_tx, false);
        Client {
            id,
            resp3: false,
            authenticated: st.ctx.requirepass.is_none(),
            name: String::new(),
        }
    };
    let (mut rd, mut wr) = sock.into_split();
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut parser = RequestParser::new();
    let mut shutdown = false;
    loop {
        tokio::select! {
            n = rd.read_buf(&mut buf) => {
                match n {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let mut reply = Reply::new(client.resp3);
                let mut close = false;
                {
                    let mut st = shared.lock();
                    loop {
                        let limits = ParseLimits { unauthenticated: !client.authenticated, ..ParseLimits::default() };
                        match parser.parse(&mut buf, limits) {
                            Ok(Parsed::Request(req)) => {
                                reply.resp3 = client.resp3;
                                if commands::execute(&mut st, &mut client, &req.args, &mut reply) == After::Shutdown {
                                    shutdown = true;
                                    close = true;
                                    break;
                                }
                            }
                            Ok(Parsed::Empty { .. }) => {}
                            Ok(Parsed::Incomplete) => break,
                            Err(e) => {
                                reply.raw(e.reply_line().as_bytes());
                                close = true;
                                break;
                            }
                        }
                    }
                }
                if !reply.is_empty() && wr.write_all(&reply.buf).await.is_err() {
                    break;
                }
                if close {
                    break;
                }
            }
            Some(msg) = push_rx.recv() => {
                if wr.write_all(&msg).await.is_err() {
                    break;
                }
            }
            _ = kill.notified() => break,
        }
    }
    let mut st = shared.lock();
    st.ctx.events.unregister(client.id);
    st.ctx.clients.remove(client.id);
    if shutdown {
        crate::warning!("User requested shutdown...");
        let _ = st.flush_config();
        if let Some(tx) = &st.ctx.shutdown {
            let _ = tx.send(true);
        }
    }
}
