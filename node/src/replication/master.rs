//! Our side as a master: REPLCONF, PSYNC/SYNC, full and partial resyncs,
//! the per-replica connection task, ACKs, WAIT, min-replicas-to-write,
//! keepalive PINGs and replica timeouts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use super::{
    config_bool, config_int, ensure_backlog, FullSyncTicket, Handover, HandshakeInfo, ReplicaInfo,
    ReplicaState, WaitRequest,
};
use crate::resp::request::Parsed;
use crate::resp::{ParseLimits, Reply, RequestParser};
use crate::server::blocking::Unblocked;
use crate::server::client::{ClientId, ClientState};
use crate::server::repl_log::ReplicaOut;
use crate::server::state::{ServerState, Shared};
use crate::{notice, warning};

/// `REPLCONF GETACK *` as it appears in the stream.
const GETACK: &[u8] = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";
const PING: &[u8] = b"*1\r\n$4\r\nping\r\n";
/// What a replica connection may buffer unparsed (it only sends ACKs).
const REPLICA_INPUT_LIMIT: usize = 1 << 20;

/// REPLCONF from a (would-be) replica. ACK and GETACK are never answered;
/// the other options reply +OK once all of them were accepted.
pub fn replconf(
    st: &mut ServerState,
    client: &ClientState,
    args: &[Bytes],
    reply: &mut Reply,
) -> Result<(), String> {
    if args.len().is_multiple_of(2) {
        return Err("ERR syntax error".into());
    }
    let now = crate::util::time::now_ms();
    let mut i = 1;
    while i < args.len() {
        let opt = String::from_utf8_lossy(&args[i]).to_ascii_lowercase();
        let val = &args[i + 1];
        match opt.as_str() {
            "listening-port" => {
                let port = parse_int(val)?;
                st.repl
                    .handshakes
                    .entry(client.id)
                    .or_default()
                    .listening_port = port.clamp(0, 65535) as u16;
            }
            "ip-address" => {
                if val.len() >= 256 {
                    return Err(format!(
                        "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                        val.len()
                    ));
                }
                st.repl
                    .handshakes
                    .entry(client.id)
                    .or_default()
                    .announced_ip = Some(String::from_utf8_lossy(val).into_owned());
            }
            "capa" => {
                let hs = st.repl.handshakes.entry(client.id).or_default();
                if val.eq_ignore_ascii_case(b"eof") {
                    hs.capa_eof = true;
                } else if val.eq_ignore_ascii_case(b"psync2") {
                    hs.capa_psync2 = true;
                }
            }
            "ack" => {
                // Only a replica's ACK counts, and it is never answered.
                if let Ok(offset) = parse_int(val) {
                    record_ack(st, client.id, offset.max(0) as u64, now);
                }
                return Ok(());
            }
            "getack" => {
                // Only meaningful on a replica (its link task answers it).
                return Ok(());
            }
            "rdb-only" => {
                let v = parse_int(val)?;
                if v != 0 && v != 1 {
                    return Err("ERR syntax error".into());
                }
                st.repl.handshakes.entry(client.id).or_default().rdb_only = v == 1;
            }
            "rdb-filter-only" => {
                let filter = String::from_utf8_lossy(val).to_ascii_lowercase();
                if !filter.is_empty() && filter != "functions" {
                    return Err(format!("ERR Unsupported rdb-filter-only option: {filter}"));
                }
            }
            _ => {
                return Err(format!(
                    "ERR Unrecognized REPLCONF option: {}",
                    String::from_utf8_lossy(&args[i])
                ))
            }
        }
        i += 2;
    }
    reply.ok();
    Ok(())
}

fn parse_int(v: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "ERR value is not an integer or out of range".to_string())
}

/// Records a replica's acknowledged offset and wakes WAITers it satisfies.
pub fn record_ack(st: &mut ServerState, id: ClientId, offset: u64, now_ms: i64) {
    let Some(r) = st.repl.replicas.get_mut(&id) else {
        return;
    };
    r.ack_offset = r.ack_offset.max(offset);
    r.ack_time_ms = now_ms;
    if !st.repl.waits.is_empty() {
        process_waits(st);
    }
    if st.repl.failover.active {
        super::failover::check(st);
    }
}

/// PSYNC / SYNC: decides between a partial and a full resync and turns the
/// connection into a replica (its task takes over after this batch).
/// Nothing is replied here: the connection task writes +FULLRESYNC or
/// +CONTINUE in order with the stream.
pub fn psync(st: &mut ServerState, client: &mut ClientState, args: &[Bytes]) -> Result<(), String> {
    if client.is_replica {
        return Ok(());
    }
    if client.is_master_link {
        return Err("ERR Command is not valid when client is a replica.".into());
    }
    let is_sync = args[0].eq_ignore_ascii_case(b"sync");
    let mut requested = None;
    let mut failover = false;
    if !is_sync {
        let offset = parse_int(&args[2])?;
        requested = Some((String::from_utf8_lossy(&args[1]).into_owned(), offset));
        failover = args
            .get(3)
            .is_some_and(|a| a.eq_ignore_ascii_case(b"failover"));
    }
    let hs = st.repl.handshakes.remove(&client.id).unwrap_or_default();
    let peer_ip = client
        .addr
        .rsplit_once(':')
        .map(|(ip, _)| ip.to_string())
        .unwrap_or_default();
    if failover {
        // We are the target of a coordinated failover: promote first.
        let my_id = &st.repl.replid;
        if requested.as_ref().map(|r| &r.0) != Some(my_id) {
            return Err("ERR PSYNC FAILOVER replid must match my replid.".into());
        }
        crate::warning!("Failover request received for replid {my_id}.");
        super::replica::promote(st);
        notice!(
            "MASTER MODE enabled (failover request from 'id={} addr={}')",
            client.id,
            client.addr
        );
    }
    // As Redis orders them: a FAILOVER request first, then these refusals.
    if st.repl.failover.active {
        return Err("NOMASTERLINK Can't SYNC while failing over".into());
    }
    if st.repl.master.is_some() && !st.repl.link_up() {
        return Err("NOMASTERLINK Can't SYNC while not connected with my master".into());
    }
    let (mut info, stream_rx) = new_replica(st, client, hs, peer_ip, is_sync);
    notice!("Replica {} asks for synchronization", info.name());
    if let Some((replid, offset)) = &requested {
        if let Some(backlog_bytes) = try_partial(st, &info, replid, *offset) {
            let header = if info.hs.capa_psync2 {
                format!("+CONTINUE {}\r\n", st.repl.replid)
            } else {
                "+CONTINUE\r\n".to_string()
            };
            notice!(
                "Partial resynchronization request from {} accepted. Sending {} bytes of backlog starting from offset {}.",
                info.name(),
                backlog_bytes.len(),
                offset
            );
            let out = info.pending_out.take();
            if let Some(out) = out {
                out.send(&Bytes::from(header));
                out.send(&Bytes::from(backlog_bytes));
                st.repl_log.add_replica(out);
            }
            st.repl.stats.sync_partial_ok += 1;
            info.state = ReplicaState::Online;
            info.ack_time_ms = crate::util::time::now_ms();
            finish_register(st, client, info, stream_rx, None, false);
            refresh_good_replicas(st);
            return Ok(());
        }
        if replid == "?" {
            notice!("Full resync requested by replica {}", info.name());
        } else {
            st.repl.stats.sync_partial_err += 1;
        }
    } else {
        notice!("Full resync requested by replica {} (SYNC)", info.name());
    }
    // Full resync: first replica ever → new history with a fresh backlog.
    if st.repl_log.backlog.is_none() && st.repl.master.is_none() {
        st.repl.replid = crate::server::state::random_hex_id();
        st.repl.clear_replid2();
        ensure_backlog(st);
        notice!(
            "Replication backlog created, my new replication IDs are '{}' and '{}'",
            st.repl.replid,
            st.repl.replid2
        );
    } else {
        ensure_backlog(st);
    }
    st.repl.stats.sync_full += 1;
    let (ticket_tx, ticket_rx) = oneshot::channel();
    info.ticket = Some(ticket_tx);
    let eof_form = config_bool(st, "repl-diskless-sync") && info.hs.capa_eof;
    info.eof_form = eof_form;
    let rdb_only = info.hs.rdb_only;
    finish_register(st, client, info, stream_rx, Some(ticket_rx), rdb_only);
    let delay = config_int(st, "repl-diskless-sync-delay", 5);
    if st.repl.snapshot.is_none() && (!eof_form || delay == 0) {
        start_full_sync(st);
    } else if eof_form && delay > 0 {
        notice!("Delay next BGSAVE for diskless SYNC");
    }
    Ok(())
}

fn new_replica(
    st: &ServerState,
    client: &ClientState,
    hs: HandshakeInfo,
    peer_ip: String,
    pre_psync: bool,
) -> (ReplicaInfo, mpsc::UnboundedReceiver<Bytes>) {
    let (hard, _, _) = replica_output_limits(st);
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let queued = Arc::new(AtomicUsize::new(0));
    let kill = st
        .clients
        .get(client.id)
        .map(|c| c.kill.clone())
        .unwrap_or_default();
    let now = crate::util::time::now_ms();
    let info = ReplicaInfo {
        id: client.id,
        peer_ip,
        hs,
        state: ReplicaState::WaitBgsave,
        ack_offset: 0,
        ack_time_ms: now,
        pre_psync,
        ticket: None,
        wait_since_ms: now,
        kill: kill.clone(),
        soft_limit_since_ms: None,
        pending_out: Some(ReplicaOut {
            id: client.id,
            addr: client.addr.clone(),
            tx,
            pending: queued.clone(),
            kill,
            hard_limit: hard,
        }),
        queued,
        eof_form: false,
    };
    (info, rx)
}

/// Stores the replica and the receiving ends its connection task takes over.
fn finish_register(
    st: &mut ServerState,
    client: &mut ClientState,
    info: ReplicaInfo,
    stream_rx: mpsc::UnboundedReceiver<Bytes>,
    ticket: Option<oneshot::Receiver<FullSyncTicket>>,
    rdb_only: bool,
) {
    client.is_replica = true;
    st.repl.no_replicas_since_ms = None;
    st.repl.handovers.insert(
        info.id,
        Handover {
            stream_rx,
            queued: info.queued.clone(),
            ticket,
            eof_form: info.eof_form,
            rdb_only,
        },
    );
    st.repl.replicas.insert(info.id, info);
}

/// The backlog bytes a partial resync sends, or None for a full resync.
fn try_partial(st: &ServerState, info: &ReplicaInfo, replid: &str, offset: i64) -> Option<Vec<u8>> {
    let repl = &st.repl;
    let same_history =
        replid == repl.replid || (replid == repl.replid2 && offset <= repl.second_offset);
    if !same_history {
        if replid != "?" {
            if replid != repl.replid && replid != repl.replid2 {
                notice!(
                    "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{}', my replication IDs are '{}' and '{}')",
                    replid,
                    repl.replid,
                    repl.replid2
                );
            } else {
                notice!(
                    "Partial resynchronization not accepted: Requested offset for second ID was {}, but I can reply up to {}",
                    offset,
                    repl.second_offset
                );
            }
        }
        return None;
    }
    let backlog = st.repl_log.backlog.as_ref();
    let bytes = backlog.and_then(|b| {
        if offset < 0 {
            None
        } else {
            b.copy_from(offset as u64)
        }
    });
    if bytes.is_none() {
        notice!(
            "Unable to partial resync with replica {} for lack of backlog (Replica request was: {}).",
            info.name(),
            offset
        );
        if offset > st.repl_log.offset as i64 + 1 {
            warning!(
                "Warning: replica {} tried to PSYNC with an offset that is greater than the master replication offset.",
                info.name()
            );
        }
    }
    bytes
}

/// Forks one snapshot for every replica waiting for one.
pub fn start_full_sync(st: &mut ServerState) {
    let waiting: Vec<ClientId> = st
        .repl
        .replicas
        .values()
        .filter(|r| r.state == ReplicaState::WaitBgsave && r.ticket.is_some())
        .map(|r| r.id)
        .collect();
    if waiting.is_empty() {
        return;
    }
    let (pid, rx) = match super::snapshot::start(st) {
        Ok(v) => v,
        Err(e) => {
            warning!("BGSAVE for replication failed: {e}");
            for id in waiting {
                if let Some(r) = st.repl.replicas.get(&id) {
                    r.kill.kill();
                }
            }
            return;
        }
    };
    let offset = st.repl_log.offset;
    st.repl.snapshot = Some(super::RunningSnapshot { pid, offset });
    // The stream a new replica receives starts with SELECT.
    st.repl_log.stream_db = None;
    for id in waiting {
        let Some(r) = st.repl.replicas.get_mut(&id) else {
            continue;
        };
        let header = (!r.pre_psync).then(|| format!("+FULLRESYNC {} {offset}\r\n", st.repl.replid));
        if let Some(t) = r.ticket.take() {
            let _ = t.send(FullSyncTicket {
                header,
                rdb: rx.clone(),
            });
        }
        if let Some(out) = r.pending_out.take() {
            st.repl_log.add_replica(out);
        }
    }
}

/// The snapshot child finished (called from its reader thread).
pub fn snapshot_done(st: &mut ServerState, pid: libc::pid_t, ok: bool) {
    if st.repl.snapshot.is_some_and(|s| s.pid == pid) {
        st.repl.snapshot = None;
    }
    if !ok {
        return;
    }
    // Replicas that arrived during this fork get the next one.
    let no_delay = config_int(st, "repl-diskless-sync-delay", 5) == 0;
    let start_now = st.repl.replicas.values().any(|r| {
        r.state == ReplicaState::WaitBgsave && r.ticket.is_some() && (no_delay || !r.eof_form)
    });
    if start_now {
        start_full_sync(st);
    }
}

/// client-output-buffer-limit for the replica class: (hard, soft, seconds).
pub fn replica_output_limits(st: &ServerState) -> (usize, usize, i64) {
    let value = st.config.get("client-output-buffer-limit").unwrap_or("");
    let words: Vec<&str> = value.split_whitespace().collect();
    for c in words.chunks(4) {
        if c.len() == 4 && (c[0] == "replica" || c[0] == "slave") {
            let n = |s: &str| {
                crate::config::directives::parse_memory(s)
                    .unwrap_or(0)
                    .max(0)
            };
            return (
                n(c[1]) as usize,
                n(c[2]) as usize,
                c[3].parse().unwrap_or(0),
            );
        }
    }
    (256 << 20, 64 << 20, 60)
}

/// The connection task of a replica, once PSYNC/SYNC made it one: sends
/// the snapshot (full sync) and then the stream, and reads ACKs.
pub async fn serve_replica(
    shared: Arc<Shared>,
    id: ClientId,
    mut reader: OwnedReadHalf,
    mut writer: OwnedWriteHalf,
    mut rbuf: BytesMut,
    handover: Handover,
) {
    let (kill, repl_out) = {
        let st = shared.state.lock();
        let kill = st.clients.get(id).map(|c| c.kill.clone());
        (kill, st.repl.stats.net_repl_out.clone())
    };
    let Some(kill) = kill else { return };
    let mut link = ReplicaLink {
        shared: shared.clone(),
        repl_out,
        id,
        parser: RequestParser::new(),
        acked: false,
    };
    let result = async {
        if let Some(ticket) = handover.ticket {
            link.send_snapshot(
                &mut reader,
                &mut writer,
                &mut rbuf,
                ticket,
                handover.eof_form,
                &kill,
            )
            .await?;
            if handover.rdb_only {
                return Err("rdb-only transfer done".to_string());
            }
        }
        link.stream(
            &mut reader,
            &mut writer,
            &mut rbuf,
            handover.stream_rx,
            handover.queued,
            handover.eof_form,
            &kill,
        )
        .await
    }
    .await;
    let mut st = shared.state.lock();
    if let Some(r) = st.repl.replicas.shift_remove(&id) {
        if let Err(e) = result {
            verbose_reason(&e);
        }
        notice!("Connection with replica {} lost.", r.name());
    }
    st.repl_log.remove_replica(id);
    if st.repl.replicas.is_empty() {
        st.repl.no_replicas_since_ms = Some(crate::util::time::now_ms());
    }
    refresh_good_replicas(&mut st);
}

fn verbose_reason(e: &str) {
    crate::verbose!("Replica link closed: {e}");
}

struct ReplicaLink {
    shared: Arc<Shared>,
    /// total_net_repl_output_bytes.
    repl_out: Arc<std::sync::atomic::AtomicU64>,
    id: ClientId,
    parser: RequestParser,
    /// A REPLCONF ACK arrived (EOF-form transfers wait for the first).
    acked: bool,
}

impl ReplicaLink {
    /// Handles what the replica sent: REPLCONF ACK and newlines.
    fn handle_input(&mut self, rbuf: &mut BytesMut) -> Result<(), String> {
        let limits = ParseLimits::default();
        loop {
            match self.parser.parse(rbuf, limits) {
                Ok(Parsed::Request(r)) => {
                    if r.args.len() >= 3
                        && r.args[0].eq_ignore_ascii_case(b"replconf")
                        && r.args[1].eq_ignore_ascii_case(b"ack")
                    {
                        let offset = std::str::from_utf8(&r.args[2])
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok())
                            .unwrap_or(0);
                        self.acked = true;
                        let now = crate::util::time::now_ms();
                        record_ack(&mut self.shared.state.lock(), self.id, offset, now);
                    }
                }
                Ok(Parsed::Empty { .. }) => {
                    // A bare newline: the replica is alive (loading).
                    let now = crate::util::time::now_ms();
                    let mut st = self.shared.state.lock();
                    if let Some(r) = st.repl.replicas.get_mut(&self.id) {
                        r.ack_time_ms = now;
                    }
                }
                Ok(Parsed::Incomplete) => return Ok(()),
                Err(e) => return Err(format!("protocol error from replica: {}", e.0)),
            }
        }
    }

    async fn read_some(
        &mut self,
        reader: &mut OwnedReadHalf,
        rbuf: &mut BytesMut,
    ) -> Result<(), String> {
        // A replica only sends ACKs and newlines: a growing buffer is abuse.
        if rbuf.len() > REPLICA_INPUT_LIMIT {
            return Err("replica input buffer over limit".into());
        }
        match reader.read_buf(rbuf).await {
            Ok(0) => Err("replica closed the connection".into()),
            Ok(_) => self.handle_input(rbuf),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn send_snapshot(
        &mut self,
        reader: &mut OwnedReadHalf,
        writer: &mut OwnedWriteHalf,
        rbuf: &mut BytesMut,
        mut ticket_rx: oneshot::Receiver<FullSyncTicket>,
        eof_form: bool,
        kill: &crate::server::client::KillSwitch,
    ) -> Result<(), String> {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        // Waiting for the fork: a newline every second keeps the replica
        // from timing out.
        let ticket = loop {
            tokio::select! {
                t = &mut ticket_rx => break t.map_err(|_| "snapshot cancelled".to_string())?,
                _ = tick.tick() => {
                    writer.write_all(b"\n").await.map_err(|e| e.to_string())?;
                }
                r = self.read_some(reader, rbuf) => r?,
                _ = kill.wait() => return Err("killed".into()),
            }
        };
        if let Some(h) = &ticket.header {
            writer
                .write_all(h.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut rdb_rx = ticket.rdb;
        let rdb = loop {
            if let Some(res) = rdb_rx.borrow().clone() {
                break res;
            }
            tokio::select! {
                c = rdb_rx.changed() => c.map_err(|_| "snapshot lost".to_string())?,
                _ = tick.tick(), if !eof_form => {
                    writer.write_all(b"\n").await.map_err(|e| e.to_string())?;
                }
                r = self.read_some(reader, rbuf) => r?,
                _ = kill.wait() => return Err("killed".into()),
            }
        };
        let data = match rdb.as_ref() {
            Ok(d) => d.clone(),
            Err(e) => return Err(e.clone()),
        };
        self.set_state(ReplicaState::SendBulk);
        let write = async {
            if eof_form {
                let mark = crate::server::state::random_hex_id();
                writer
                    .write_all(format!("$EOF:{mark}\r\n").as_bytes())
                    .await?;
                writer.write_all(&data).await?;
                writer.write_all(mark.as_bytes()).await
            } else {
                writer
                    .write_all(format!("${}\r\n", data.len()).as_bytes())
                    .await?;
                writer.write_all(&data).await
            }
        };
        tokio::select! {
            r = write => r.map_err(|e| e.to_string())?,
            _ = kill.wait() => return Err("killed".into()),
        }
        self.shared
            .net_output_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.repl_out
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        let name = {
            let mut st = self.shared.state.lock();
            let now = crate::util::time::now_ms();
            let name = st.repl.replicas.get_mut(&self.id).map(|r| {
                r.state = ReplicaState::Online;
                r.ack_time_ms = now;
                r.name()
            });
            refresh_good_replicas(&mut st);
            name.unwrap_or_default()
        };
        if eof_form {
            notice!("Streamed RDB transfer with replica {name} succeeded (socket). Waiting for REPLCONF ACK from replica to enable streaming");
        } else {
            notice!("Synchronization with replica {name} succeeded");
        }
        Ok(())
    }

    fn set_state(&self, state: ReplicaState) {
        let mut st = self.shared.state.lock();
        if let Some(r) = st.repl.replicas.get_mut(&self.id) {
            r.state = state;
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn stream(
        &mut self,
        reader: &mut OwnedReadHalf,
        writer: &mut OwnedWriteHalf,
        rbuf: &mut BytesMut,
        mut rx: mpsc::UnboundedReceiver<Bytes>,
        queued: Arc<AtomicUsize>,
        wait_first_ack: bool,
        kill: &crate::server::client::KillSwitch,
    ) -> Result<(), String> {
        // EOF-marked transfers: the stream starts once the replica ACKs, so
        // the marker is never glued to stream bytes.
        if wait_first_ack {
            self.acked = false;
            while !self.acked {
                tokio::select! {
                    r = self.read_some(reader, rbuf) => r?,
                    _ = kill.wait() => return Err("killed".into()),
                }
            }
            let name = {
                let st = self.shared.state.lock();
                st.repl
                    .replicas
                    .get(&self.id)
                    .map(|r| r.name())
                    .unwrap_or_default()
            };
            notice!("Synchronization with replica {name} succeeded");
        }
        let mut out = Vec::with_capacity(64 * 1024);
        loop {
            tokio::select! {
                biased;
                _ = kill.wait() => return Err("killed".into()),
                chunk = rx.recv() => {
                    let Some(first) = chunk else { return Err("stream closed".into()) };
                    out.clear();
                    out.extend_from_slice(&first);
                    while out.len() < 1 << 20 {
                        match rx.try_recv() {
                            Ok(more) => out.extend_from_slice(&more),
                            Err(_) => break,
                        }
                    }
                    writer.write_all(&out).await.map_err(|e| e.to_string())?;
                    queued.fetch_sub(out.len().min(queued.load(Ordering::Relaxed)), Ordering::Relaxed);
                    self.shared.net_output_bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
                    self.repl_out.fetch_add(out.len() as u64, Ordering::Relaxed);
                }
                r = self.read_some(reader, rbuf) => r?,
            }
        }
    }
}

/// Replicas online with an ACK within min-replicas-max-lag seconds.
pub fn refresh_good_replicas(st: &mut ServerState) {
    let max_lag = config_int(st, "min-replicas-max-lag", 10);
    let now = crate::util::time::now_ms();
    st.repl.good_replicas = st
        .repl
        .replicas
        .values()
        .filter(|r| r.state == ReplicaState::Online && (now - r.ack_time_ms) / 1000 <= max_lag)
        .count();
    let need = config_int(st, "min-replicas-to-write", 0);
    st.repl.too_few_good_replicas = st.repl.master.is_none()
        && need > 0
        && max_lag > 0
        && (st.repl.good_replicas as i64) < need;
}

/// The NOREPLICAS check for a write on a master (kept up to date by
/// `refresh_good_replicas`, so the write path reads no configuration).
pub fn too_few_good_replicas(st: &ServerState) -> bool {
    st.repl.too_few_good_replicas
}

/// Online replicas that acknowledged at least `offset`.
pub fn replicas_acked(st: &ServerState, offset: u64) -> usize {
    st.repl
        .replicas
        .values()
        .filter(|r| r.state == ReplicaState::Online && r.ack_offset >= offset)
        .count()
}

/// WAIT numreplicas timeout. Returns Some(count) to reply now, or None
/// when the client blocks (its request is registered).
pub fn wait(
    st: &mut ServerState,
    client: ClientId,
    woff: u64,
    numreplicas: usize,
    timeout_ms: i64,
    in_multi: bool,
) -> Option<usize> {
    let target = woff;
    let acked = replicas_acked(st, target);
    if acked >= numreplicas || in_multi {
        return Some(acked);
    }
    let deadline_ms = (timeout_ms > 0).then(|| crate::util::time::now_ms() + timeout_ms);
    st.repl.waits.push(WaitRequest {
        client,
        target_offset: target,
        numreplicas,
        deadline_ms,
    });
    st.repl.getack_pending = true;
    None
}

/// Answers WAITers that have enough ACKs or whose timeout passed.
pub fn process_waits(st: &mut ServerState) {
    let now = crate::util::time::now_ms();
    let waits = std::mem::take(&mut st.repl.waits);
    for w in waits {
        if !st.blocked.is_blocked(w.client) {
            continue;
        }
        let acked = replicas_acked(st, w.target_offset);
        let timed_out = w.deadline_ms.is_some_and(|d| now >= d);
        if acked >= w.numreplicas || timed_out {
            if let Some(b) = st.blocked.unblock(w.client) {
                let mut r = Reply::new(b.resp3);
                r.int(acked as i64);
                let _ = b.reply_tx.send(Unblocked::Reply(r.take()));
            }
            if let Some(info) = st.clients.get_mut(w.client) {
                info.blocked = false;
            }
        } else {
            st.repl.waits.push(w);
        }
    }
}

/// Sends the GETACK a WAIT asked for, once its command has finished (so
/// the GETACK bytes never count as that client's own write).
pub fn flush_getack(st: &mut ServerState) {
    if st.repl.getack_pending {
        st.repl.getack_pending = false;
        send_getack(st);
    }
}

/// Sends `REPLCONF GETACK *` to the replicas (WAIT, FAILOVER).
pub fn send_getack(st: &mut ServerState) {
    if st.repl.master.is_none() && !st.repl_log.replicas.is_empty() {
        st.repl_log.append_raw(Bytes::from_static(GETACK));
    }
}

/// The master's part of the replication cron.
pub fn cron(st: &mut ServerState) {
    let now = crate::util::time::now_ms();
    flush_getack(st);
    let is_master = st.repl.master.is_none();
    // Keepalive PING into the stream (a replica forwards its master's).
    let period = config_int(st, "repl-ping-replica-period", 10).max(1) * 1000;
    // Not once SHUTDOWN has saved: the dump's offset must stay the last one
    // replicas see, so they can continue partially after the restart.
    let shutting_down = st.shutdown.is_some();
    if is_master
        && !shutting_down
        && !st.repl.replicas.is_empty()
        && now - st.repl.last_ping_ms >= period
    {
        st.repl.last_ping_ms = now;
        // Skipped during a FAILOVER with a TIMEOUT, as Redis does.
        let failover = &st.repl.failover;
        if !(failover.active && failover.deadline_ms.is_some()) {
            st.repl_log.append_raw(Bytes::from_static(PING));
        }
    }
    // A replica whose own master is unreachable keeps its replicas' links
    // alive with newlines (which never count toward offsets).
    if !is_master && !st.repl.link_up() && now - st.repl.last_ping_ms >= 1000 {
        st.repl.last_ping_ms = now;
        let newline = Bytes::from_static(b"\n");
        for r in &st.repl_log.replicas {
            r.send(&newline);
        }
    }
    let timeout = config_int(st, "repl-timeout", 60) * 1000;
    let (_, soft, soft_secs) = replica_output_limits(st);
    for r in st.repl.replicas.values_mut() {
        if r.state == ReplicaState::Online && !r.pre_psync && now - r.ack_time_ms > timeout {
            warning!(
                "Disconnecting timedout replica (streaming sync): {}",
                r.name()
            );
            r.kill.kill();
        }
        let queued = r.queued.load(Ordering::Relaxed);
        if soft > 0 && queued > soft {
            let since = *r.soft_limit_since_ms.get_or_insert(now);
            if (now - since) / 1000 >= soft_secs && !r.kill.is_killed() {
                warning!(
                    "Client id={} addr={} flags=S scheduled to be closed ASAP for overcoming of output buffer limits.",
                    r.id,
                    r.name()
                );
                r.kill.kill();
            }
        } else {
            r.soft_limit_since_ms = None;
        }
    }
    // Diskless sync: fork once the delay passed since the first waiter.
    if st.repl.snapshot.is_none() {
        let delay = config_int(st, "repl-diskless-sync-delay", 5) * 1000;
        let max_waiting = config_int(st, "repl-diskless-sync-max-replicas", 0);
        // (since, diskless) of every replica waiting for a snapshot.
        let waiting: Vec<(i64, bool)> = st
            .repl
            .replicas
            .values()
            .filter(|r| r.state == ReplicaState::WaitBgsave && r.ticket.is_some())
            .map(|r| (r.wait_since_ms, r.eof_form))
            .collect();
        let oldest = waiting.iter().map(|w| w.0).min();
        // Only diskless transfers wait for the delay, to batch replicas.
        let disk_waiting = waiting.iter().any(|w| !w.1);
        if let Some(oldest) = oldest {
            if disk_waiting
                || now - oldest >= delay
                || (max_waiting > 0 && waiting.len() as i64 >= max_waiting)
            {
                start_full_sync(st);
            }
        }
    }
    // A master without replicas frees its backlog after repl-backlog-ttl.
    let ttl = config_int(st, "repl-backlog-ttl", 3600);
    if is_master && st.repl.replicas.is_empty() && ttl > 0 && st.repl_log.backlog.is_some() {
        if let Some(since) = st.repl.no_replicas_since_ms {
            if (now - since) / 1000 >= ttl {
                st.repl_log.backlog = None;
                st.repl_log.active = !st.repl_log.sinks.is_empty();
                st.repl.replid = crate::server::state::random_hex_id();
                st.repl.clear_replid2();
                notice!(
                    "Replication backlog freed after {} seconds without connected replicas.",
                    ttl
                );
            }
        }
    }
    let live: Vec<ClientId> = st.repl.handshakes.keys().copied().collect();
    for id in live {
        if st.clients.get(id).is_none() {
            st.repl.handshakes.remove(&id);
        }
    }
    refresh_good_replicas(st);
    if !st.repl.waits.is_empty() {
        process_waits(st);
    }
}

/// Whether min-replicas-to-write is in force (INFO min_slaves_good_slaves).
pub fn min_replicas_active(st: &ServerState) -> bool {
    config_int(st, "min-replicas-to-write", 0) > 0 && config_int(st, "min-replicas-max-lag", 10) > 0
}
