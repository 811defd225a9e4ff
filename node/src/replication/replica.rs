//! Our side as a replica: REPLICAOF, the link task (handshake, PSYNC, full
//! or partial sync, applying the stream, ACKs), promotion, and FAILOVER.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::{config_int, ensure_backlog, LinkState, MasterLink, SyncProgress};
use crate::db::Db;
use crate::rdb::{LoadOptions, RdbItem, RdbReader};
use crate::resp::request::Parsed;
use crate::resp::{ParseLimits, Reply, RequestParser};
use crate::server::client::{ClientState, KillSwitch};
use crate::server::state::{ServerState, Shared};
use crate::{notice, warning};

/// Becomes a replica of host:port (REPLICAOF, `replicaof` at start-up).
pub fn set_master(st: &mut ServerState, host: &str, port: u16) {
    let was_master = st.repl.master.is_none();
    if let Some(m) = &st.repl.master {
        m.kill.kill();
    }
    st.repl.link_gen += 1;
    let gen = st.repl.link_gen;
    // Our own history is the cached master: the first PSYNC asks to continue
    // it, which a promoted former replica of ours accepts through replid2.
    let has_master_client =
        was_master || st.repl.master.as_ref().is_some_and(|m| m.has_master_client);
    let stream_db = st.repl.master.as_ref().map_or(0, |m| m.stream_db);
    st.repl.master = Some(MasterLink {
        host: host.to_string(),
        port,
        state: LinkState::Connect,
        gen,
        last_io_ms: crate::util::time::now_ms(),
        down_since_ms: None,
        sync: None,
        read_offset: st.repl_log.offset,
        has_master_client,
        stream_db,
        kill: Arc::new(KillSwitch::default()),
        pre_psync: false,
    });
    let _ = st.config.set("replicaof", &format!("{host} {port}"));
    crate::log::set_role(b'S');
    for db in &mut st.dbs {
        db.delete_expired = false;
    }
    st.repl_log.forwarding_only = true;
    ensure_backlog(st);
    if was_master {
        // Clients blocked in WAIT can never be served by a replica.
        st.repl.waits.clear();
    }
    super::master::refresh_good_replicas(st);
    notice!("Connecting to MASTER {host}:{port}");
    if let Some(shared) = st.repl.shared.upgrade() {
        tokio::spawn(run_link(shared, gen));
    }
}

/// REPLICAOF NO ONE: a new history, the old one kept as replid2 so other
/// replicas of our former master can continue from us.
pub fn promote(st: &mut ServerState) {
    let Some(m) = st.repl.master.take() else {
        return;
    };
    m.kill.kill();
    st.repl.link_gen += 1;
    st.repl.shift_replid(st.repl_log.offset);
    notice!(
        "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
        st.repl.replid2,
        st.repl.second_offset,
        st.repl.replid
    );
    disconnect_sub_replicas(st);
    // "no one" is how the directive is cleared (CONFIG GET then shows "").
    let _ = st.config.set("replicaof", "no one");
    crate::log::set_role(b'M');
    for db in &mut st.dbs {
        db.delete_expired = true;
    }
    st.repl_log.forwarding_only = false;
    ensure_backlog(st);
    st.repl_log.stream_db = None;
    st.repl.no_replicas_since_ms = Some(crate::util::time::now_ms());
    super::master::refresh_good_replicas(st);
}

/// Closes our replicas' connections (they reconnect and PSYNC again).
pub fn disconnect_sub_replicas(st: &mut ServerState) {
    for r in st.repl.replicas.values() {
        r.kill.kill();
    }
}

fn still_current(shared: &Shared, gen: u64) -> bool {
    let st = shared.state.lock();
    st.repl.master.as_ref().is_some_and(|m| m.gen == gen)
}

fn with_link<T>(shared: &Shared, gen: u64, f: impl FnOnce(&mut MasterLink) -> T) -> Option<T> {
    let mut st = shared.state.lock();
    st.repl.master.as_mut().filter(|m| m.gen == gen).map(f)
}

/// The link task: connects, syncs and applies the stream, reconnecting
/// until REPLICAOF changes the master (a new generation).
pub async fn run_link(shared: Arc<Shared>, gen: u64) {
    loop {
        if !still_current(&shared, gen) || shared.stopping.load(std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let kill = with_link(&shared, gen, |m| m.kill.clone());
        let Some(kill) = kill else { return };
        let outcome = tokio::select! {
            r = link_once(&shared, gen) => r,
            _ = kill.wait() => return,
        };
        let was_up = with_link(&shared, gen, |m| {
            let up = m.state == LinkState::Connected;
            m.state = LinkState::Connect;
            m.sync = None;
            if up {
                m.down_since_ms = Some(crate::util::time::now_ms());
            }
            up
        });
        let Some(was_up) = was_up else { return };
        match outcome {
            Ok(()) => {}
            Err(e) => warning!("{e}"),
        }
        if was_up {
            notice!("Connection with master lost.");
            notice!("* Caching the disconnected master state.");
            // Reconnect at once, as Redis does after a lost link.
            continue;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The connection to our master, with a read buffer.
struct MasterConn {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    rbuf: BytesMut,
    timeout: Duration,
    /// Reading the snapshot (a timeout then names the bulk transfer).
    in_transfer: bool,
    /// total_net_repl_input_bytes.
    repl_in: Arc<std::sync::atomic::AtomicU64>,
}

impl MasterConn {
    async fn fill(&mut self) -> Result<usize, String> {
        reserve_for_read(&mut self.rbuf, 0);
        match tokio::time::timeout(self.timeout, self.reader.read_buf(&mut self.rbuf)).await {
            Err(_) if self.in_transfer => Err("Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.".into()),
            Err(_) => Err("Timeout connecting to the MASTER...".into()),
            Ok(Ok(0)) => Err("Master closed the connection".into()),
            Ok(Ok(n)) => {
                self.repl_in
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                Ok(n)
            }
            Ok(Err(e)) => Err(format!("Error reading from MASTER: {e}")),
        }
    }

    /// One line without its CRLF.
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(pos) = self.rbuf.iter().position(|&b| b == b'\n') {
                let line = self.rbuf.split_to(pos + 1);
                let text = String::from_utf8_lossy(&line[..pos]);
                return Ok(text.trim_end_matches('\r').to_string());
            }
            if self.rbuf.len() > 64 * 1024 {
                return Err("Bad protocol from MASTER: line too long".into());
            }
            self.fill().await?;
        }
    }

    async fn send(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut out = Vec::new();
        crate::server::repl_log::encode_argv(&argv, &mut out);
        self.writer
            .write_all(&out)
            .await
            .map_err(|e| format!("Error writing to MASTER: {e}"))
    }

    async fn ack(&mut self, offset: u64) -> Result<(), String> {
        let off = offset.to_string();
        self.send(&[b"REPLCONF", b"ACK", off.as_bytes()]).await
    }
}

/// What PSYNC answered.
enum PsyncReply {
    Full {
        replid: String,
        offset: u64,
    },
    Continue {
        new_id: Option<String>,
    },
    /// The master does not know PSYNC: SYNC was sent instead.
    Sync,
}

/// One connection's life: connect, handshake, sync, stream.
async fn link_once(shared: &Arc<Shared>, gen: u64) -> Result<(), String> {
    let (host, port, timeout) = {
        let st = shared.state.lock();
        let Some(m) = st.repl.master.as_ref().filter(|m| m.gen == gen) else {
            return Ok(());
        };
        (
            m.host.clone(),
            m.port,
            config_int(&st, "repl-timeout", 60).max(1) as u64,
        )
    };
    let timeout = Duration::from_secs(timeout);
    with_link(shared, gen, |m| m.state = LinkState::Connecting);
    notice!("MASTER <-> REPLICA sync started");
    let stream =
        match tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port))).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("Error condition on socket for SYNC: {e}")),
            Err(_) => return Err("Timeout connecting to the MASTER...".into()),
        };
    let _ = stream.set_nodelay(true);
    notice!("Non blocking connect for SYNC fired the event.");
    // The link is a client like any other for CLIENT LIST / CLIENT KILL
    // TYPE master; killing it drops this connection and we reconnect.
    let (client_id, conn_kill) = register_master_client(shared, &stream, &host, port);
    // Removed from the registry however this future ends (also when the
    // link task is cancelled by REPLICAOF).
    let _registered = MasterClientGuard {
        shared: shared.clone(),
        id: client_id,
    };
    let (reader, writer) = stream.into_split();
    tokio::select! {
        r = link_connected(shared, gen, reader, writer, timeout) => r,
        _ = conn_kill.wait() => Err("Connection with master killed by CLIENT KILL".to_string()),
    }
}

/// Unregisters the master link's client entry when dropped.
struct MasterClientGuard {
    shared: Arc<Shared>,
    id: crate::server::client::ClientId,
}

impl Drop for MasterClientGuard {
    fn drop(&mut self) {
        self.shared
            .state
            .lock()
            .clients
            .clients
            .shift_remove(&self.id);
    }
}

/// Adds the master link to the client registry (flags M).
fn register_master_client(
    shared: &Arc<Shared>,
    stream: &TcpStream,
    host: &str,
    port: u16,
) -> (crate::server::client::ClientId, Arc<KillSwitch>) {
    use std::os::fd::AsRawFd;
    let kill = Arc::new(KillSwitch::default());
    let mut st = shared.state.lock();
    let id = st.clients.next_id();
    let (push_tx, _) = tokio::sync::mpsc::unbounded_channel();
    let laddr = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let fd = stream.as_raw_fd() as i64;
    let info = crate::server::client::ClientInfo::new(
        id,
        format!("{host}:{port}"),
        laddr,
        fd,
        "M",
        push_tx,
        kill.clone(),
    );
    st.clients.clients.insert(id, info);
    (id, kill)
}

async fn link_connected(
    shared: &Arc<Shared>,
    gen: u64,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    timeout: Duration,
) -> Result<(), String> {
    let mut conn = MasterConn {
        reader,
        writer,
        rbuf: BytesMut::with_capacity(64 * 1024),
        timeout,
        in_transfer: false,
        repl_in: shared.state.lock().repl.stats.net_repl_in.clone(),
    };
    with_link(shared, gen, |m| m.state = LinkState::Handshake);
    let reply = match handshake(shared, &mut conn).await {
        Ok(r) => {
            super::failover::finished(&mut shared.state.lock());
            r
        }
        Err(e) => {
            let mut st = shared.state.lock();
            if st.repl.failover.in_progress {
                super::failover::abort(&mut st, "Failover target rejected psync request");
            }
            return Err(e);
        }
    };
    let (full, offset_note) = match reply {
        PsyncReply::Full { replid, offset } => {
            notice!("Full resync from master: {replid}:{offset}");
            (true, Some((replid, offset)))
        }
        PsyncReply::Sync => (true, None),
        PsyncReply::Continue { new_id } => {
            notice!("Successful partial resynchronization with master.");
            let mut st = shared.state.lock();
            if let Some(id) = new_id {
                if id != st.repl.replid {
                    let offset = st.repl_log.offset;
                    st.repl.replid2 = std::mem::replace(&mut st.repl.replid, id.clone());
                    st.repl.second_offset = offset as i64 + 1;
                    notice!("Master replication ID changed to {id}");
                    disconnect_sub_replicas(&mut st);
                }
            }
            notice!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
            (false, None)
        }
    };
    if full {
        with_link(shared, gen, |m| m.state = LinkState::Sync);
        full_sync(shared, gen, &mut conn, offset_note).await?;
    } else {
        with_link(shared, gen, |m| {
            m.state = LinkState::Connected;
            m.has_master_client = true;
            m.down_since_ms = None;
            m.last_io_ms = crate::util::time::now_ms();
        });
    }
    stream_loop(shared, gen, &mut conn).await
}

async fn handshake(shared: &Arc<Shared>, conn: &mut MasterConn) -> Result<PsyncReply, String> {
    conn.send(&[b"PING"]).await?;
    let pong = conn.line().await?;
    let pong_ok = pong.starts_with('+')
        || pong.starts_with("-NOAUTH")
        || pong.starts_with("-NOPERM")
        || pong.starts_with("-ERR operation not permitted");
    if !pong_ok {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    notice!("Master replied to PING, replication can continue...");
    let (auth, user, port, ip, psync_args) = {
        let st = shared.state.lock();
        let get = |n: &str| {
            st.config
                .get(n)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let announce_port = config_int(&st, "replica-announce-port", 0);
        let port = if announce_port > 0 {
            announce_port as u16
        } else {
            st.tcp_port
        };
        let cached = st.repl.master.as_ref().is_some_and(|m| m.has_master_client);
        let psync = if cached {
            (st.repl.replid.clone(), (st.repl_log.offset + 1).to_string())
        } else {
            ("?".to_string(), "-1".to_string())
        };
        (
            get("masterauth"),
            get("masteruser"),
            port,
            get("replica-announce-ip"),
            psync,
        )
    };
    let failing_over = shared.state.lock().repl.failover.in_progress;
    // One pipelined burst, replies read in order, as Redis does.
    let port = port.to_string();
    let mut expected = Vec::new();
    if let Some(pass) = &auth {
        match &user {
            Some(u) => conn.send(&[b"AUTH", u.as_bytes(), pass.as_bytes()]).await?,
            None => conn.send(&[b"AUTH", pass.as_bytes()]).await?,
        }
        expected.push("auth");
    }
    conn.send(&[b"REPLCONF", b"listening-port", port.as_bytes()])
        .await?;
    expected.push("listening-port");
    if let Some(ip) = &ip {
        conn.send(&[b"REPLCONF", b"ip-address", ip.as_bytes()])
            .await?;
        expected.push("ip-address");
    }
    conn.send(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
        .await?;
    expected.push("capa");
    for what in expected {
        let r = conn.line().await?;
        if !r.starts_with('-') {
            continue;
        }
        if what == "auth" {
            return Err(format!("Unable to AUTH to MASTER: {r}"));
        }
        notice!("(Non critical) Master does not understand REPLCONF {what}: {r}");
    }
    let (replid, offset) = psync_args;
    if replid == "?" {
        notice!("Partial resynchronization not possible (no cached master)");
    } else {
        notice!("Trying a partial resynchronization (request {replid}:{offset}).");
    }
    if failing_over {
        conn.send(&[b"PSYNC", replid.as_bytes(), offset.as_bytes(), b"FAILOVER"])
            .await?;
    } else {
        conn.send(&[b"PSYNC", replid.as_bytes(), offset.as_bytes()])
            .await?;
    }
    let reply = loop {
        let l = conn.line().await?;
        if !l.is_empty() {
            break l;
        }
    };
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC") {
        let mut parts = rest.split_whitespace();
        let id = parts.next().unwrap_or("");
        let off = parts.next().and_then(|o| o.parse::<u64>().ok());
        return match off {
            Some(off) if id.len() == 40 => Ok(PsyncReply::Full {
                replid: id.to_string(),
                offset: off,
            }),
            _ => Err(format!(
                "Master replied with wrong +FULLRESYNC syntax: {reply}"
            )),
        };
    }
    if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let id = rest.trim();
        let new_id = (id.len() == 40).then(|| id.to_string());
        return Ok(PsyncReply::Continue { new_id });
    }
    if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
        return Err(format!(
            "Master is currently unable to PSYNC but should be in the future: {reply}"
        ));
    }
    if reply.starts_with("-ERR") {
        warning!("Master does not support PSYNC or is in error state (reply: {reply})");
        conn.writer
            .write_all(b"SYNC\r\n")
            .await
            .map_err(|e| format!("I/O error writing to MASTER: {e}"))?;
        return Ok(PsyncReply::Sync);
    }
    Err(format!("Unexpected reply to PSYNC from master: {reply}"))
}

/// Reads the snapshot, loads it into new databases outside the lock and
/// swaps them in at once: clients never see a half-loaded dataset, and the
/// old data keeps serving reads until then.
async fn full_sync(
    shared: &Arc<Shared>,
    gen: u64,
    conn: &mut MasterConn,
    fullresync: Option<(String, u64)>,
) -> Result<(), String> {
    let header = loop {
        let l = conn.line().await?;
        if l.is_empty() {
            continue; // keepalive newline while the master prepares the RDB
        }
        break l;
    };
    if header.starts_with('-') {
        return Err(format!(
            "MASTER aborted replication with an error: {header}"
        ));
    }
    let Some(spec) = header.strip_prefix('$') else {
        return Err(format!(
            "Bad protocol from MASTER, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?"
        ));
    };
    let now = crate::util::time::now_ms();
    conn.in_transfer = true;
    let data = if let Some(mark) = spec.strip_prefix("EOF:") {
        if mark.len() != 40 {
            return Err(format!("Bad protocol from MASTER: bad EOF mark '{mark}'"));
        }
        notice!("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk");
        with_link(shared, gen, |m| {
            m.sync = Some(SyncProgress {
                total: 0,
                read: 0,
                last_io_ms: now,
            })
        });
        read_until_mark(shared, gen, conn, mark.as_bytes()).await?
    } else {
        let len: u64 = spec
            .parse()
            .map_err(|_| format!("Bad protocol from MASTER: bad bulk length '{spec}'"))?;
        notice!("MASTER <-> REPLICA sync: receiving {len} bytes from master to disk");
        with_link(shared, gen, |m| {
            m.sync = Some(SyncProgress {
                total: len,
                read: 0,
                last_io_ms: now,
            })
        });
        read_sized(shared, gen, conn, len).await?
    };
    conn.in_transfer = false;
    let eof_form = spec.starts_with("EOF:");
    notice!("MASTER <-> REPLICA sync: Flushing old data");
    notice!("MASTER <-> REPLICA sync: Loading DB in memory");
    let (limits, databases) = {
        let st = shared.state.lock();
        (st.config.settings.encoding, st.dbs.len())
    };
    let load = tokio::task::spawn_blocking(move || load_dbs(&data, limits, databases));
    // A newline every second while loading keeps the master from timing us out.
    tokio::pin!(load);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let loaded = loop {
        tokio::select! {
            r = &mut load => break r.map_err(|e| format!("loading task failed: {e}"))?,
            _ = tick.tick() => {
                let _ = conn.writer.write_all(b"\n").await;
            }
        }
    };
    let (dbs, aux) = loaded.map_err(|e| {
        format!("Failed trying to load the MASTER synchronization DB from socket: {e}")
    })?;
    let old = {
        let mut st = shared.state.lock();
        if st.repl.master.as_ref().map(|m| m.gen) != Some(gen) {
            return Ok(());
        }
        let old = install_dataset(&mut st, dbs);
        restart_aof_after_sync(&mut st);
        let pre_psync = fullresync.is_none();
        let (replid, offset) = match fullresync {
            Some((id, off)) => (id, off),
            // SYNC: no offset is known.
            None => (crate::server::state::random_hex_id(), 0),
        };
        st.repl.replid = replid;
        st.repl.clear_replid2();
        st.repl_log.offset = offset;
        let size = config_int(&st, "repl-backlog-size", 1 << 20).max(16 * 1024) as usize;
        st.repl_log.backlog = Some(super::backlog::Backlog::new(size, offset));
        st.repl_log.active = true;
        disconnect_sub_replicas(&mut st);
        let now = crate::util::time::now_ms();
        if let Some(m) = st.repl.master.as_mut() {
            m.state = LinkState::Connected;
            m.has_master_client = true;
            m.sync = None;
            m.down_since_ms = None;
            m.last_io_ms = now;
            m.read_offset = offset;
            m.stream_db = aux.repl_stream_db.clamp(0, databases as i64 - 1) as usize;
            m.pre_psync = pre_psync;
        }
        old
    };
    // Freed outside the lock: a big dataset takes a while to drop.
    drop(old);
    notice!("MASTER <-> REPLICA sync: Finished with success");
    if eof_form {
        // The master streams nothing until this first ACK.
        let offset = shared.state.lock().repl_log.offset;
        conn.ack(offset).await?;
    }
    Ok(())
}

/// The AOF describes the dataset the sync just replaced: as Redis's
/// restartAOFAfterSYNC, it is closed and started again with a rewrite of
/// the new dataset (writes from the master meanwhile go to the new incr).
fn restart_aof_after_sync(st: &mut ServerState) {
    if st.aof.status == crate::aof::AofStatus::Off {
        return;
    }
    crate::aof::stop(st);
    if let Err(e) = crate::aof::start(st, false) {
        warning!(
            "Failed enabling the AOF after successful master synchronization! Trying it again in one second. ({e})"
        );
        // The cron retries a scheduled rewrite.
        st.aof.status = crate::aof::AofStatus::WaitRewrite;
        st.aof.rewrite_scheduled = true;
    }
}

/// Swaps in loaded databases; returns the old ones for the caller to drop.
fn install_dataset(st: &mut ServerState, mut dbs: Vec<Db>) -> Vec<Db> {
    let lfu = st.config.settings.lfu_params();
    for db in &mut dbs {
        db.delete_expired = false;
        db.lfu = lfu;
    }
    std::mem::swap(&mut st.dbs, &mut dbs);
    for i in 0..st.dbs.len() {
        st.signal_all_watched_in_db(i);
    }
    st.dirty += 1;
    dbs
}

fn load_dbs(
    data: &[u8],
    limits: crate::db::EncodingLimits,
    databases: usize,
) -> Result<(Vec<Db>, crate::rdb::RdbAux), String> {
    let opts = LoadOptions {
        limits,
        drop_expired: false,
        now_ms: crate::util::time::now_ms(),
        databases,
        verify_checksum: true,
    };
    let mut reader = RdbReader::new(data, opts).map_err(|e| e.to_string())?;
    let mut dbs: Vec<Db> = (0..databases).map(Db::new).collect();
    let mut keys = 0u64;
    while let Some(item) = reader.next_item().map_err(|e| e.to_string())? {
        match item {
            RdbItem::Key(k) => {
                dbs[k.db].set_entry(&k.key, k.entry);
                keys += 1;
            }
            RdbItem::FunctionLibrary(_) => {
                return Err(
                    "the snapshot holds function libraries, which this server does not support"
                        .into(),
                )
            }
            _ => {}
        }
    }
    if !reader.is_finished() {
        return Err("Short read or OOM loading DB. Unrecoverable error, aborting now.".into());
    }
    notice!("Done loading RDB, keys loaded: {keys}, keys expired: 0.");
    Ok((dbs, reader.aux()))
}

async fn read_sized(
    shared: &Arc<Shared>,
    gen: u64,
    conn: &mut MasterConn,
    len: u64,
) -> Result<Vec<u8>, String> {
    // Grows as bytes arrive: a bogus length must not reserve memory up front.
    let mut data = Vec::with_capacity(len.min(64 << 20) as usize);
    let mut last_report = 0u64;
    loop {
        let want = (len - data.len() as u64) as usize;
        let take = want.min(conn.rbuf.len());
        data.extend_from_slice(&conn.rbuf.split_to(take));
        if data.len() as u64 == len {
            return Ok(data);
        }
        conn.fill()
            .await
            .map_err(|e| format!("I/O error trying to sync with MASTER: {e}"))?;
        if data.len() as u64 - last_report > 1 << 20 {
            last_report = data.len() as u64;
            let read = data.len() as u64 + conn.rbuf.len() as u64;
            let now = crate::util::time::now_ms();
            with_link(shared, gen, |m| {
                if let Some(s) = &mut m.sync {
                    s.read = read.min(len);
                    s.last_io_ms = now;
                }
            });
        }
    }
}

async fn read_until_mark(
    shared: &Arc<Shared>,
    gen: u64,
    conn: &mut MasterConn,
    mark: &[u8],
) -> Result<Vec<u8>, String> {
    let mut data: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut last_report = 0usize;
    loop {
        data.extend_from_slice(&conn.rbuf.split());
        if data.len() >= mark.len() && data.ends_with(mark) {
            data.truncate(data.len() - mark.len());
            return Ok(data);
        }
        conn.fill()
            .await
            .map_err(|e| format!("I/O error trying to sync with MASTER: {e}"))?;
        if data.len() - last_report > 1 << 20 {
            last_report = data.len();
            let now = crate::util::time::now_ms();
            let read = data.len() as u64;
            with_link(shared, gen, |m| {
                if let Some(s) = &mut m.sync {
                    s.read = read;
                    s.last_io_ms = now;
                }
            });
        }
    }
}

/// Applies the master's stream: each command runs as the master client (no
/// replies, writes allowed), its exact bytes are forwarded to our replicas
/// and backlog, and the offset advances per command (per transaction
/// inside MULTI). ACKs go out every second and on GETACK.
async fn stream_loop(shared: &Arc<Shared>, gen: u64, conn: &mut MasterConn) -> Result<(), String> {
    let mut master = ClientState::new(0, String::new(), true);
    master.is_master_link = true;
    master.db = shared
        .state
        .lock()
        .repl
        .master
        .as_ref()
        .map_or(0, |m| m.stream_db);
    let repl_in = shared.state.lock().repl.stats.net_repl_in.clone();
    let mut parser = RequestParser::new();
    let mut reply = Reply::new(false);
    let mut multi_bytes: Vec<Bytes> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        if !conn.rbuf.is_empty() {
            match apply_buffered(
                shared,
                gen,
                &mut conn.rbuf,
                &mut parser,
                &mut master,
                &mut reply,
                &mut multi_bytes,
            )? {
                Applied::Stale => return Ok(()),
                Applied::AckNow(off) => {
                    conn.ack(off).await?;
                    // More commands may follow the GETACK in the buffer.
                    continue;
                }
                Applied::Done => {}
            }
        }
        tokio::select! {
            r = async {
                let wanted = parser.bytes_wanted(conn.rbuf.len());
                reserve_for_read(&mut conn.rbuf, wanted);
                conn.reader.read_buf(&mut conn.rbuf).await
            } => {
                match r {
                    Ok(0) => return Err("Connection with master lost (closed by master).".into()),
                    Ok(n) => {
                        shared.net_input_bytes.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                        repl_in.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                        let now = crate::util::time::now_ms();
                        with_link(shared, gen, |m| m.last_io_ms = now);
                    }
                    Err(e) => return Err(format!("Error reading from MASTER: {e}")),
                }
            }
            _ = tick.tick() => {
                let (offset, idle_ms, timeout_ms, pre_psync) = {
                    let st = shared.state.lock();
                    let m = st.repl.master.as_ref();
                    let idle = m.map_or(0, |m| crate::util::time::now_ms() - m.last_io_ms);
                    let pre_psync = m.is_some_and(|m| m.pre_psync);
                    (st.repl_log.offset, idle, config_int(&st, "repl-timeout", 60) * 1000, pre_psync)
                };
                if idle_ms > timeout_ms {
                    return Err("MASTER timeout: no data nor PING received...".into());
                }
                if !pre_psync {
                    conn.ack(offset).await?;
                }
            }
        }
    }
}

/// Commands from our master see keys that look expired here as existing
/// (as in Redis): the master decides expiry, and its DEL must find the key.
pub fn master_sees_every_key(st: &mut ServerState) {
    for db in &mut st.dbs {
        db.now_ms = i64::MIN;
    }
}

/// master_failover_state.
pub fn failover_state_name(st: &ServerState) -> &'static str {
    let f = &st.repl.failover;
    if !f.active {
        "no-failover"
    } else if f.in_progress {
        "failover-in-progress"
    } else {
        "waiting-for-sync"
    }
}

/// A command from the master failed here: the datasets may have diverged.
/// Logged as Redis does (the reply itself is never sent to the master).
fn report_error_reply(reply: &[u8], command: &[u8]) {
    if reply.first() != Some(&b'-') {
        return;
    }
    let command = String::from_utf8_lossy(command).to_ascii_lowercase();
    let end = reply
        .iter()
        .position(|&b| b == b'\r')
        .unwrap_or(reply.len());
    let text = String::from_utf8_lossy(&reply[1..end]);
    warning!(
        "== CRITICAL == This replica is sending an error to its master: '{text}' after processing the command '{command}'"
    );
}

/// What applying the buffered stream bytes ended with.
enum Applied {
    Done,
    /// REPLCONF GETACK: ACK this offset, then go on.
    AckNow(u64),
    /// REPLICAOF changed meanwhile: this link is over.
    Stale,
}

/// Runs every complete command in the buffer under one lock.
fn apply_buffered(
    shared: &Arc<Shared>,
    gen: u64,
    rbuf: &mut BytesMut,
    parser: &mut RequestParser,
    master: &mut ClientState,
    reply: &mut Reply,
    multi_bytes: &mut Vec<Bytes>,
) -> Result<Applied, String> {
    let limits = ParseLimits {
        from_master: true,
        ..ParseLimits::default()
    };
    // A big argument still arriving: nothing can run yet, and copying the
    // buffer on every read would make its transfer quadratic.
    if parser.bytes_wanted(rbuf.len()) > 0 {
        return Ok(Applied::Done);
    }
    let raw = Bytes::copy_from_slice(rbuf);
    let mut pos = 0usize;
    let mut ack_now = None;
    let mut st = shared.state.lock();
    if st.repl.master.as_ref().map(|m| m.gen) != Some(gen) {
        return Ok(Applied::Stale);
    }
    loop {
        match parser.parse(rbuf, limits) {
            Ok(Parsed::Request(r)) => {
                if r.inline {
                    return Err(format!(
                        "Bad protocol from MASTER: inline command '{}' in the replication stream",
                        String::from_utf8_lossy(&r.args[0])
                    ));
                }
                let end = pos + r.wire_len;
                if end > raw.len() {
                    return Err("Protocol error from MASTER: request length mismatch".into());
                }
                let bytes = raw.slice(pos..end);
                pos = end;
                if r.args[0].eq_ignore_ascii_case(b"replconf") {
                    if r.args
                        .get(1)
                        .is_some_and(|a| a.eq_ignore_ascii_case(b"getack"))
                    {
                        ack_now = Some(st.repl_log.offset);
                    }
                } else {
                    let mark = reply.len();
                    // A refcount, not a copy: only an error needs the name.
                    let name = r.args[0].clone();
                    crate::server::exec::execute(&mut st, master, reply, r.args);
                    report_error_reply(&reply.buf[mark..], &name);
                    reply.truncate(mark);
                }
                multi_bytes.push(bytes);
                if master.multi.is_none() {
                    for b in multi_bytes.drain(..) {
                        st.repl_log.append_raw(b);
                    }
                }
            }
            Ok(Parsed::Empty { wire_len }) => pos += wire_len,
            Ok(Parsed::Incomplete) => break,
            Err(e) => {
                return Err(format!("Protocol error from MASTER: {}", e.0));
            }
        }
        if ack_now.is_some() {
            break;
        }
    }
    crate::server::exec::serve_blocked_clients(&mut st);
    st.repl_log.flush_replicas();
    let now = crate::util::time::now_ms();
    let read_offset = st.repl_log.offset + rbuf.len() as u64;
    let db = master.db;
    if let Some(m) = st.repl.master.as_mut() {
        m.last_io_ms = now;
        m.read_offset = read_offset;
        m.stream_db = db;
    }
    Ok(match ack_now {
        Some(off) => Applied::AckNow(off),
        None => Applied::Done,
    })
}

/// Makes room for the next read: at least 64 KiB, or what a partially
/// received argument still needs.
fn reserve_for_read(buf: &mut BytesMut, wanted: usize) {
    const CHUNK: usize = 64 * 1024;
    if buf.capacity() - buf.len() < CHUNK / 4 {
        buf.reserve(CHUNK.max(wanted));
    }
}
