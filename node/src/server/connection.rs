//! One task per client connection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::blocking::{BlockRequest, Unblocked};
use super::client::{ClientInfo, ClientState, KillSwitch};
use super::context::write_timeout_reply;
use super::exec::{apply_reply_mode, execute, Outcome};
use super::state::{ServerState, Shared};
use crate::resp::request::{Parsed, Request};
use crate::resp::{ParseLimits, Reply, RequestParser};

const READ_CHUNK: usize = 16 * 1024;

/// Redis's protected-mode refusal, sent to non-loopback clients when no
/// password and no explicit bind are configured.
const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

struct Connection {
    shared: Arc<Shared>,
    client: ClientState,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    rbuf: BytesMut,
    parser: RequestParser,
    pending: VecDeque<Request>,
    push_rx: mpsc::UnboundedReceiver<Bytes>,
    pending_push: Arc<AtomicUsize>,
    kill: Arc<KillSwitch>,
    reply: Reply,
    limits: ParseLimits,
    query_buffer_limit: u64,
    /// A request waits for writes to resume (FAILOVER pauses them).
    paused: bool,
}

/// Accepts a new client: registers it and runs its loop until it goes away.
pub async fn serve_client(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let laddr = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let fd = stream.as_raw_fd() as i64;
    let (push_tx, push_rx) = mpsc::unbounded_channel();
    let kill = Arc::new(KillSwitch::default());
    let pending_push = Arc::new(AtomicUsize::new(0));
    let (mut reader, mut writer) = stream.into_split();
    let registered = {
        let mut st = shared.state.lock();
        st.stats.total_connections_received += 1;
        let settings = &st.config.settings;
        let denied = settings.protected_mode
            && settings.requirepass.is_none()
            && !st.config.explicit.contains(&"bind")
            && !peer.ip().is_loopback();
        if st.clients.len() >= settings.maxclients {
            st.stats.rejected_connections += 1;
            Err("-ERR max number of clients reached\r\n")
        } else if denied {
            st.stats.rejected_connections += 1;
            Err(DENIED)
        } else {
            let id = st.clients.next_id();
            let authenticated = st.config.settings.requirepass.is_none();
            let mut info =
                ClientInfo::new(id, peer.to_string(), laddr, fd, "N", push_tx, kill.clone());
            // The connection task counts its queued push bytes here.
            info.pending_push = pending_push.clone();
            st.clients.clients.insert(id, info);
            Ok((id, authenticated))
        }
    };
    let (id, authenticated) = match registered {
        Ok(v) => v,
        Err(text) => {
            let _ = writer.write_all(text.as_bytes()).await;
            let _ = reader.read(&mut [0u8; 1]).await.ok();
            return;
        }
    };
    let mut conn = Connection {
        shared: shared.clone(),
        client: ClientState::new(id, peer.to_string(), authenticated),
        reader,
        writer,
        rbuf: BytesMut::with_capacity(READ_CHUNK),
        parser: RequestParser::new(),
        pending: VecDeque::new(),
        push_rx,
        pending_push,
        kill,
        reply: Reply::new(false),
        limits: ParseLimits::default(),
        query_buffer_limit: u64::MAX,
        paused: false,
    };
    conn.refresh_limits(&shared.state.lock());
    conn.run().await;
    if conn.client.is_replica {
        // PSYNC/SYNC made this connection a replica: its task now streams.
        let handover = shared.state.lock().repl.handovers.remove(&id);
        if let Some(handover) = handover {
            let Connection {
                reader,
                writer,
                rbuf,
                ..
            } = conn;
            crate::replication::master::serve_replica(
                shared.clone(),
                id,
                reader,
                writer,
                rbuf,
                handover,
            )
            .await;
            let mut st = shared.state.lock();
            forget_client(&mut st, &ClientState::new(id, String::new(), true));
            return;
        }
    }
    let _ = conn.writer.shutdown().await;
    let mut st = shared.state.lock();
    forget_client(&mut st, &conn.client);
}

/// Removes every trace of a client from the shared state.
pub fn forget_client(st: &mut ServerState, client: &ClientState) {
    st.clients.clients.shift_remove(&client.id);
    let channels: Vec<Bytes> = client.channels.iter().cloned().collect();
    let patterns: Vec<Bytes> = client.patterns.iter().cloned().collect();
    st.pubsub.remove_client(client.id, &channels, &patterns);
    crate::commands::transaction::unwatch_all(st, client.id, &client.watched);
    st.blocked.unblock(client.id);
    st.monitors.retain(|m| *m != client.id);
}

enum Step {
    Continue,
    Close,
}

impl Connection {
    async fn run(&mut self) {
        loop {
            match self.process_input().await {
                Step::Continue => {}
                Step::Close => return,
            }
            if self.client.close_after_reply {
                return;
            }
            tokio::select! {
                biased;
                _ = self.kill.wait() => return,
                push = self.push_rx.recv() => {
                    let Some(first) = push else { return };
                    if !self.write_pushes(first).await {
                        return;
                    }
                }
                read = self.reader.read_buf(&mut self.rbuf) => {
                    match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            self.shared.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                            if self.rbuf.capacity() - self.rbuf.len() < 1024 {
                                self.rbuf.reserve(READ_CHUNK.max(self.parser.bytes_wanted(self.rbuf.len())));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Writes a push frame and any others already queued.
    async fn write_pushes(&mut self, first: Bytes) -> bool {
        let mut out = first.to_vec();
        while let Ok(more) = self.push_rx.try_recv() {
            out.extend_from_slice(&more);
        }
        self.pending_push.fetch_sub(
            out.len().min(self.pending_push.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        self.write_out(&out).await
    }

    async fn write_out(&mut self, out: &[u8]) -> bool {
        if out.is_empty() {
            return true;
        }
        self.shared
            .net_output_bytes
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        self.writer.write_all(out).await.is_ok()
    }

    /// Re-reads the parse limits (config and auth state may have changed).
    fn refresh_limits(&mut self, st: &ServerState) {
        self.limits = ParseLimits {
            proto_max_bulk_len: st.config.settings.proto_max_bulk_len,
            unauthenticated: !self.client.authenticated,
            from_master: self.client.is_master_link,
        };
        self.query_buffer_limit = st.config.settings.client_query_buffer_limit;
    }

    /// Parses and runs everything buffered, blocking where a command blocks.
    async fn process_input(&mut self) -> Step {
        loop {
            // Limits were refreshed under the lock at the end of the last batch.
            if self.rbuf.len() as u64 > self.query_buffer_limit {
                // Redis closes such a client without a reply.
                return Step::Close;
            }
            let limits = self.limits;
            let mut protocol_error = None;
            if self.pending.is_empty() {
                loop {
                    match self.parser.parse(&mut self.rbuf, limits) {
                        Ok(Parsed::Request(r)) => {
                            self.pending.push_back(r);
                            // Auth state can change mid-batch (AUTH); stop at it so
                            // the limits for the following requests are right.
                            if !self.client.authenticated {
                                break;
                            }
                        }
                        Ok(Parsed::Empty { .. }) => {}
                        Ok(Parsed::Incomplete) => break,
                        Err(e) => {
                            protocol_error = Some(e);
                            break;
                        }
                    }
                }
            }
            if self.pending.is_empty() && protocol_error.is_none() {
                return Step::Continue;
            }
            let blocked = self.run_batch();
            // Write from the reply buffer and keep its allocation for the next batch.
            let out = std::mem::take(&mut self.reply.buf);
            let written = self.write_out(&out).await;
            self.reply.buf = out;
            self.reply.buf.clear();
            if !written {
                return Step::Close;
            }
            if let Some((rx, request)) = blocked {
                if let Step::Close = self.wait_unblocked(rx, request).await {
                    return Step::Close;
                }
                continue;
            }
            if self.paused {
                self.paused = false;
                if let Step::Close = self.wait_writes_resume().await {
                    return Step::Close;
                }
                continue;
            }
            if let Some(e) = protocol_error {
                let _ = self.write_out(e.reply_line().as_bytes()).await;
                return Step::Close;
            }
            if self.client.close_after_reply || self.client.is_replica {
                return Step::Close;
            }
            // Loop: the top parses whatever complete requests remain.
        }
    }

    /// Runs the pending requests under one lock acquisition. Returns the
    /// wait handle if a command blocked (the rest stay pending).
    fn run_batch(&mut self) -> Option<(oneshot::Receiver<Unblocked>, BlockRequest)> {
        let shared = self.shared.clone();
        let mut st = shared.state.lock();
        self.reply.resp3 = self.client.resp3;
        let mut blocked = None;
        while let Some(req) = self.pending.pop_front() {
            let mark = self.reply.len();
            if req.inline
                && (req.args[0].eq_ignore_ascii_case(b"post")
                    || req.args[0].eq_ignore_ascii_case(b"host:"))
            {
                // Cross-protocol scripting attack (HTTP sent to Redis): close silently.
                self.client.close_after_reply = true;
                break;
            }
            let outcome = execute(&mut st, &mut self.client, &mut self.reply, req.args);
            apply_reply_mode(&mut self.client, &mut self.reply, mark);
            // HELLO may have switched the protocol for the next replies.
            self.reply.resp3 = self.client.resp3;
            match outcome {
                Outcome::Blocked(rx, request) => {
                    blocked = Some((rx, request));
                    break;
                }
                Outcome::Paused(args) => {
                    // Runs again once writes resume.
                    self.reply.truncate(mark);
                    self.pending.push_front(Request {
                        args,
                        inline: req.inline,
                        wire_len: req.wire_len,
                    });
                    self.paused = true;
                    break;
                }
                Outcome::Done => {}
            }
            if self.client.close_after_reply {
                self.pending.clear();
                break;
            }
            if self.client.is_replica {
                // PSYNC/SYNC: the replica link takes the connection over.
                self.pending.clear();
                break;
            }
        }
        // The AOF is written (and with appendfsync always, synced) before
        // any reply of this batch goes out.
        crate::aof::flush_before_reply(&mut st);
        sync_client_info(&mut st, &self.client, self.rbuf.len());
        self.refresh_limits(&st);
        // The batch's writes go to the replicas as one message.
        st.repl_log.flush_replicas();
        blocked
    }

    /// Waits (polling) until FAILOVER resumes writes, or the client goes.
    async fn wait_writes_resume(&mut self) -> Step {
        loop {
            if !crate::replication::failover::writes_paused(&self.shared.state.lock()) {
                return Step::Continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                _ = self.kill.wait() => return Step::Close,
            }
        }
    }

    /// Waits until a blocked command is served, times out, or the client goes.
    async fn wait_unblocked(
        &mut self,
        mut rx: oneshot::Receiver<Unblocked>,
        request: BlockRequest,
    ) -> Step {
        let deadline = request.deadline_ms.map(|d| {
            let wait = (d - crate::util::time::now_ms()).max(0) as u64;
            tokio::time::Instant::now() + Duration::from_millis(wait)
        });
        loop {
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                served = &mut rx => {
                    return match served {
                        Ok(Unblocked::Reply(bytes)) => {
                            if self.write_out(&bytes).await { Step::Continue } else { Step::Close }
                        }
                        Err(_) => Step::Close,
                    };
                }
                _ = sleep => {
                    let timed_out = {
                        let mut st = self.shared.state.lock();
                        let gone = st.blocked.unblock(self.client.id).is_some();
                        if let Some(info) = st.clients.get_mut(self.client.id) {
                            info.blocked = false;
                        }
                        gone
                    };
                    if timed_out {
                        let mut r = Reply::new(self.client.resp3);
                        write_timeout_reply(&mut r, request.timeout_reply);
                        return if self.write_out(&r.buf).await { Step::Continue } else { Step::Close };
                    }
                    // Served at the same moment: the reply is in the channel.
                }
                _ = self.kill.wait() => return Step::Close,
                read = self.reader.read_buf(&mut self.rbuf) => {
                    match read {
                        Ok(0) | Err(_) => return Step::Close,
                        Ok(_) => {}
                    }
                }
            }
        }
    }
}

/// Mirrors what CLIENT LIST shows into the registry.
pub fn sync_client_info(st: &mut ServerState, client: &ClientState, qbuf: usize) {
    if let Some(info) = st.clients.get_mut(client.id) {
        info.last_interaction_ms = crate::util::time::now_ms();
        info.db = client.db;
        info.resp3 = client.resp3;
        info.sub = client.channels.len();
        info.psub = client.patterns.len();
        info.multi = client
            .multi
            .as_ref()
            .map(|m| m.queued.len() as i64)
            .unwrap_or(-1);
        info.last_cmd = client.last_cmd;
        info.name = client.name.clone();
        info.qbuf = qbuf;
        // Rebuilt in place: this runs after every batch.
        let mut flags = std::mem::take(&mut info.flags);
        flags.clear();
        if client.is_replica {
            flags.push('S');
        }
        if client.is_master_link {
            flags.push('M');
        }
        if client.multi.is_some() {
            flags.push('x');
        }
        if client.subscription_count() > 0 {
            flags.push('P');
        }
        if client.monitor {
            flags.push('O');
        }
        if info.dirty_cas && client.multi.is_some() {
            flags.push('d');
        }
        if info.no_evict {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        info.flags = flags;
    }
}
