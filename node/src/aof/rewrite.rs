//! BGREWRITEAOF: a forked child writes the whole dataset as the new base
//! file (RDB with `aof-use-rdb-preamble yes`, commands otherwise) while the
//! parent keeps serving and appends to a fresh incr file opened at fork
//! time. When the child succeeds, the new base is renamed into the AOF
//! directory, the incr files it covers become history, the manifest is
//! replaced atomically, and the history files are deleted.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use bytes::Bytes;

use super::{child, config_yes, has_active_child, names, AofStatus, RewriteChild};
use crate::db::{Entry, Value};
use crate::server::repl_log::encode_argv;
use crate::server::state::ServerState;
use crate::{notice, warning};

/// Items per RPUSH/SADD/ZADD/HMSET in the command form
/// (AOF_REWRITE_ITEMS_PER_CMD).
const ITEMS_PER_CMD: usize = 64;

/// The temp incr file that collects writes while the AOF is being turned
/// on (it becomes a real incr file once the base exists).
fn temp_incr_name(filename: &str) -> String {
    format!("temp-{filename}.incr")
}

fn temp_base_name(pid: libc::pid_t) -> String {
    format!("temp-rewriteaof-bg-{pid}.aof")
}

/// Forks the rewrite child (rewriteAppendOnlyFileBackground).
pub fn start_background(state: &mut ServerState) -> Result<(), String> {
    if has_active_child(state) {
        return Err("another child process is active".into());
    }
    let n = names(state);
    if let Err(e) = std::fs::create_dir_all(&n.dir) {
        warning!(
            "Can't open or create append-only dir {}: {e}",
            n.dir.display()
        );
        state.aof.last_bgrewrite_ok = false;
        return Err(e.to_string());
    }
    // The new incr file starts with a SELECT.
    state.aof.selected_db = None;
    state.aof.flush_and_sync(crate::util::time::now_ms() / 1000);
    if let Err(e) = open_new_incr(state) {
        state.aof.last_bgrewrite_ok = false;
        return Err(e);
    }
    state.aof.rewrites += 1;
    let fds = child::report_pipe();
    let rdb_preamble = config_yes(state, "aof-use-rdb-preamble");
    // SAFETY: the child only runs `child_main`, which ends in `_exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = io::Error::last_os_error();
        child::close_fds(&fds);
        state.aof.last_bgrewrite_ok = false;
        warning!("Can't rewrite append only file in background: fork: {e}");
        return Err(e.to_string());
    }
    if pid == 0 {
        child_main(state, rdb_preamble, fds[1]);
    }
    if fds[1] >= 0 {
        // SAFETY: closing our copy of the write end.
        unsafe { libc::close(fds[1]) };
    }
    notice!("Background append only file rewriting started by pid {pid}");
    state.aof.rewrite_scheduled = false;
    state.aof.child = Some(RewriteChild {
        pid,
        started_ms: crate::util::time::now_ms(),
        cow_pipe: fds[0],
    });
    Ok(())
}

/// Opens the incr file the parent writes to during the rewrite: a new
/// numbered incr file recorded in the manifest at once (AOF on), or the
/// temp incr file (AOF being turned on).
fn open_new_incr(state: &mut ServerState) -> Result<(), String> {
    let n = names(state);
    match state.aof.status {
        AofStatus::Off => Ok(()),
        AofStatus::WaitRewrite => {
            let name = temp_incr_name(&n.filename);
            let file =
                create_truncated(&n.dir.join(&name)).map_err(|e| log_open_error(&name, e))?;
            notice!("Creating AOF incr file {name} on background rewrite");
            state.aof.switch_file(Some(file));
            Ok(())
        }
        AofStatus::On => {
            let mut m = state.aof.manifest.clone();
            let name = m.new_incr(&n.filename);
            let file =
                create_truncated(&n.dir.join(&name)).map_err(|e| log_open_error(&name, e))?;
            if let Err(e) = m.persist(&n.dir, &n.filename) {
                warning!("{e}");
                return Err(e);
            }
            notice!("Creating AOF incr file {name} on background rewrite");
            state.aof.switch_file(Some(file));
            state.aof.manifest = m;
            Ok(())
        }
    }
}

fn log_open_error(name: &str, e: io::Error) -> String {
    let text = format!("Can't open the append-only file {name}: {e}");
    warning!("{text}");
    text
}

fn create_truncated(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

/// The forked child: writes the base to a temp file in the working
/// directory and reports its copy-on-write size. Takes no lock and logs
/// nothing (other threads' locks may have been held at fork time).
fn child_main(state: &ServerState, rdb_preamble: bool, cow_fd: libc::c_int) -> ! {
    child::close_inherited_fds_except(cow_fd);
    // SAFETY: getpid always succeeds.
    let pid = unsafe { libc::getpid() };
    let temp = temp_base_name(pid);
    let code = match write_base(state, Path::new(&temp), rdb_preamble) {
        Ok(()) => {
            child::report_cow_size(cow_fd);
            0
        }
        Err(_) => {
            let _ = std::fs::remove_file(&temp);
            1
        }
    };
    // SAFETY: ends the child without running the parent's destructors.
    unsafe { libc::_exit(code) }
}

/// Writes the whole dataset to `path` as a base file and syncs it.
pub fn write_base(state: &ServerState, path: &Path, rdb_preamble: bool) -> io::Result<()> {
    if rdb_preamble {
        return crate::server::persist::write_aof_base_rdb(state, path);
    }
    let file = File::create(path)?;
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    write_commands(state, &mut out)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// The dataset as commands (rewriteAppendOnlyFileRio): per database a
/// SELECT, then per key SET / RPUSH / SADD / ZADD / HMSET in batches of 64
/// items, and PEXPIREAT for keys with a TTL.
pub fn write_commands<W: Write>(state: &ServerState, out: &mut W) -> io::Result<()> {
    let mut buf = Vec::with_capacity(64 * 1024);
    if config_yes(state, "aof-timestamp-enabled") {
        let now = crate::util::time::now_ms() / 1000;
        buf.extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
    }
    for (index, db) in state.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let select = [
            Bytes::from_static(b"SELECT"),
            Bytes::from(index.to_string()),
        ];
        encode_argv(&select, &mut buf);
        for (key, entry) in db.iter_live() {
            write_key(&mut buf, key, entry);
            if buf.len() >= 32 * 1024 {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    out.write_all(&buf)
}

fn bulk(v: &[u8]) -> Bytes {
    Bytes::copy_from_slice(v)
}

fn write_key(buf: &mut Vec<u8>, key: &[u8], entry: &Entry) {
    let key_b = bulk(key);
    let batched = |buf: &mut Vec<u8>, cmd: &'static [u8], items: Vec<Vec<Bytes>>| {
        for chunk in items.chunks(ITEMS_PER_CMD) {
            let mut argv = vec![Bytes::from_static(cmd), key_b.clone()];
            for item in chunk {
                argv.extend(item.iter().cloned());
            }
            encode_argv(&argv, buf);
        }
    };
    match &entry.value {
        Value::Str(s) => {
            encode_argv(&[Bytes::from_static(b"SET"), key_b.clone(), bulk(s)], buf);
        }
        Value::List(list) => {
            let items = list.iter().map(|v| vec![bulk(v)]).collect();
            batched(buf, b"RPUSH", items);
        }
        Value::Set(set) => {
            let items = set.members.iter().map(|v| vec![bulk(v)]).collect();
            batched(buf, b"SADD", items);
        }
        Value::ZSet(z) => {
            let items = z
                .iter()
                .map(|m| {
                    let score = crate::util::number::format_double(m.score);
                    vec![Bytes::from(score), bulk(&m.member)]
                })
                .collect();
            batched(buf, b"ZADD", items);
        }
        Value::Hash(h) => {
            let items = h.map.iter().map(|(f, v)| vec![bulk(f), bulk(v)]).collect();
            batched(buf, b"HMSET", items);
        }
    }
    if entry.expire_at != 0 {
        let at = Bytes::from(entry.expire_at.to_string());
        encode_argv(&[Bytes::from_static(b"PEXPIREAT"), key_b, at], buf);
    }
}

/// Called from the cron: reaps a finished child and installs its base.
pub fn check_child_done(state: &mut ServerState) {
    let Some(child) = state.aof.child else {
        return;
    };
    let mut status: libc::c_int = 0;
    // SAFETY: waitpid only writes the status into our local.
    let r = unsafe { libc::waitpid(child.pid, &mut status, libc::WNOHANG) };
    if r == 0 {
        return;
    }
    state.aof.child = None;
    let cow = child::read_cow_size(child.cow_pipe);
    state.aof.last_rewrite_time_sec = (crate::util::time::now_ms() - child.started_ms) / 1000;
    let exited_ok = r == child.pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if exited_ok {
        notice!("Background AOF rewrite terminated with success");
        if let Some(cow) = cow {
            state.aof.last_cow_size = cow;
            crate::server::persist::log_cow("AOF rewrite", cow);
        }
        match install_new_base(state, child.pid) {
            Ok(()) => {
                state.aof.last_bgrewrite_ok = true;
                state.aof.consecutive_failures = 0;
                notice!("Background AOF rewrite finished successfully");
            }
            Err(e) => {
                warning!("{e}");
                rewrite_failed(state, child.pid);
            }
        }
    } else {
        if r == child.pid && libc::WIFSIGNALED(status) {
            warning!(
                "Background AOF rewrite terminated by signal {}",
                libc::WTERMSIG(status)
            );
        } else {
            warning!("Background AOF rewrite terminated with error");
        }
        rewrite_failed(state, child.pid);
    }
}

fn rewrite_failed(state: &mut ServerState, pid: libc::pid_t) {
    let _ = std::fs::remove_file(temp_base_name(pid));
    state.aof.last_bgrewrite_ok = false;
    state.aof.consecutive_failures += 1;
    if state.aof.status == AofStatus::WaitRewrite {
        // Still turning on: drop the temp incr and try again from the cron.
        let n = names(state);
        let temp = temp_incr_name(&n.filename);
        notice!("Removing the temp incr aof file {temp} in the background");
        state.aof.switch_file(None);
        let _ = std::fs::remove_file(n.dir.join(temp));
        state.aof.buf.clear();
        state.aof.rewrite_scheduled = true;
    }
}

/// backgroundRewriteDoneHandler's success path.
fn install_new_base(state: &mut ServerState, pid: libc::pid_t) -> Result<(), String> {
    let n = names(state);
    let rdb_preamble = config_yes(state, "aof-use-rdb-preamble");
    let temp = temp_base_name(pid);
    let mut m = state.aof.manifest.clone();
    let base_name = m.new_base(&n.filename, rdb_preamble);
    let base_path = n.dir.join(&base_name);
    std::fs::rename(&temp, &base_path).map_err(|e| {
        format!(
            "Error trying to rename the temporary AOF base file {temp} into {}: {e}",
            base_path.display()
        )
    })?;
    notice!("Successfully renamed the temporary AOF base file {temp} into {base_name}");
    let mut renamed_incr = None;
    if state.aof.status == AofStatus::WaitRewrite {
        let temp_incr = n.dir.join(temp_incr_name(&n.filename));
        let incr_name = m.new_incr(&n.filename);
        let incr_path = n.dir.join(&incr_name);
        if let Err(e) = std::fs::rename(&temp_incr, &incr_path) {
            let _ = std::fs::remove_file(&base_path);
            return Err(format!(
                "Error trying to rename the temporary AOF incr file {} into {}: {e}",
                temp_incr.display(),
                incr_path.display()
            ));
        }
        notice!(
            "Successfully renamed the temporary AOF incr file {} into {incr_name}",
            temp_incr_name(&n.filename)
        );
        renamed_incr = Some(incr_path);
    }
    let writing = state.aof.file.is_some();
    m.mark_rewritten_incr_as_history(writing);
    if let Err(e) = m.persist(&n.dir, &n.filename) {
        let _ = std::fs::remove_file(&base_path);
        if let Some(p) = renamed_incr {
            let _ = std::fs::remove_file(p);
        }
        return Err(e);
    }
    state.aof.manifest = m;
    if writing {
        // As Redis: the next write starts with a SELECT again.
        state.aof.selected_db = None;
        let base_size = std::fs::metadata(&base_path).map_or(0, |md| md.len());
        state.aof.current_size = base_size + state.aof.last_incr_size;
        state.aof.rewrite_base_size = state.aof.current_size;
        state.aof.fsync_offset = state.aof.current_size;
    }
    delete_history_files(state);
    if state.aof.status == AofStatus::WaitRewrite {
        state.aof.status = AofStatus::On;
    }
    Ok(())
}

/// Deletes the history files and records that in the manifest, unless
/// aof-disable-auto-gc is set.
pub fn delete_history_files(state: &mut ServerState) {
    if config_yes(state, "aof-disable-auto-gc") || state.aof.manifest.history.is_empty() {
        return;
    }
    let n = names(state);
    for f in std::mem::take(&mut state.aof.manifest.history) {
        notice!("Removing the history file {} in the background", f.name);
        let _ = std::fs::remove_file(n.dir.join(&f.name));
    }
    if let Err(e) = state.aof.manifest.persist(&n.dir, &n.filename) {
        warning!("{e}");
    }
}

/// Stops a running rewrite child and removes its temp file.
pub fn kill_child(state: &mut ServerState) {
    let Some(child) = state.aof.child.take() else {
        return;
    };
    notice!("Killing running AOF rewrite child: {}", child.pid);
    // SAFETY: plain syscalls on a pid we forked and have not reaped yet.
    unsafe {
        libc::kill(child.pid, libc::SIGUSR1);
        let mut status = 0;
        libc::waitpid(child.pid, &mut status, 0);
    }
    let _ = child::read_cow_size(child.cow_pipe);
    let _ = std::fs::remove_file(temp_base_name(child.pid));
}

/// BGREWRITEAOF.
pub fn bgrewriteaof_command(ctx: &mut crate::server::context::Ctx) -> crate::commands::CmdResult {
    use crate::commands::CmdError;
    let state = &mut *ctx.state;
    if state.aof.child.is_some() {
        return Err(CmdError::msg(
            "ERR Background append only file rewriting already in progress",
        ));
    }
    if has_active_child(state) || ctx.client.in_exec {
        state.aof.rewrite_scheduled = true;
        state.aof.consecutive_failures = 0;
        ctx.reply
            .simple("Background append only file rewriting scheduled");
        return Ok(());
    }
    match start_background(state) {
        Ok(()) => {
            ctx.reply
                .simple("Background append only file rewriting started");
            Ok(())
        }
        Err(_) => Err(CmdError::msg(
            "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.",
        )),
    }
}
