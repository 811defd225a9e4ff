//! Feeding the AOF: each propagated write is encoded into the AOF buffer
//! (with its own SELECT tracking: the AOF is a stream of its own, separate
//! from the replication stream), and the buffer is written to the current
//! incr file before the batch's replies go out. `appendfsync` decides when
//! the data reaches the disk: `always` fsyncs right after that write,
//! `everysec` hands an fsync to a background thread at most once a second,
//! `no` leaves it to the OS.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use bytes::Bytes;

use super::{Aof, AofStatus, FsyncPolicy};
use crate::server::repl_log::encode_argv;
use crate::warning;

/// Commands Redis propagates to replicas only, never to the AOF.
fn replication_only(argv: &[Bytes]) -> bool {
    argv.first().is_some_and(|name| {
        name.eq_ignore_ascii_case(b"publish") || name.eq_ignore_ascii_case(b"spublish")
    })
}

impl Aof {
    /// Whether writes are being collected now: AOF on, or being turned on
    /// with the rewrite that creates its base running (writes made after
    /// the fork belong to the new incr file).
    pub fn accepts_writes(&self) -> bool {
        match self.status {
            AofStatus::On => true,
            AofStatus::WaitRewrite => self.child.is_some(),
            AofStatus::Off => false,
        }
    }

    /// Appends one call's propagated commands (already wrapped in
    /// MULTI/EXEC when several) to the AOF buffer.
    pub fn feed(&mut self, ops: &[(usize, Vec<Bytes>)]) {
        if !self.accepts_writes() {
            return;
        }
        for (db, argv) in ops {
            if replication_only(argv) {
                continue;
            }
            if self.timestamp_enabled {
                let now = crate::util::time::now_ms() / 1000;
                if self.cur_timestamp < now {
                    self.cur_timestamp = now;
                    self.buf
                        .extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
                }
            }
            if self.selected_db != Some(*db) {
                let select = [Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())];
                encode_argv(&select, &mut self.buf);
                self.selected_db = Some(*db);
            }
            encode_argv(argv, &mut self.buf);
        }
    }

    /// Bytes waiting in the buffer (aof_buffer_length).
    pub fn buffer_len(&self) -> usize {
        self.buf.len()
    }

    /// Writes the buffer to the incr file, then fsyncs as the policy says.
    /// Called before a batch's replies are written and from the cron.
    pub fn flush(&mut self, now_secs: i64, child_active: bool) {
        if self.buf.is_empty() {
            // everysec: data written in the last second may still only be
            // in the page cache; sync it even when nothing new came.
            if self.policy == FsyncPolicy::EverySec
                && self.fsync_offset != self.current_size
                && now_secs > self.last_fsync_secs
                && self.fsyncer.pending() == 0
            {
                self.try_fsync(now_secs, child_active);
            }
            return;
        }
        let Some(file) = self.file.as_mut() else {
            // WaitRewrite before the temp incr file exists: nothing to do.
            return;
        };
        let (written, error) = write_all_counting(file, &self.buf);
        if written != self.buf.len() {
            self.on_write_error(written, error, now_secs);
            return;
        }
        if !self.last_write_ok {
            warning!("AOF write error looks solved, Redis can write again.");
            self.last_write_ok = true;
            self.last_write_error = None;
        }
        self.current_size += written as u64;
        self.last_incr_size += written as u64;
        self.buf.clear();
        if self.buf.capacity() > 64 * 1024 {
            self.buf = Vec::new();
        }
        self.try_fsync(now_secs, child_active);
    }

    fn try_fsync(&mut self, now_secs: i64, child_active: bool) {
        // no-appendfsync-on-rewrite: leave the disk to the child's writes.
        if self.no_fsync_on_rewrite && child_active {
            return;
        }
        let Some(file) = self.file.as_ref() else {
            return;
        };
        match self.policy {
            FsyncPolicy::Always => {
                if let Err(e) = file.sync_data() {
                    warning!("Can't persist AOF for fsync error when the AOF fsync policy is 'always': {e}. Exiting...");
                    std::process::exit(1);
                }
                self.fsync_offset = self.current_size;
                self.last_fsync_secs = now_secs;
            }
            FsyncPolicy::EverySec if now_secs > self.last_fsync_secs => {
                if self.fsyncer.pending() == 0 {
                    if let Ok(dup) = file.try_clone() {
                        self.fsyncer.submit(dup);
                    }
                    self.fsync_offset = self.current_size;
                }
                self.last_fsync_secs = now_secs;
            }
            _ => {}
        }
    }

    /// A failed or short write: the partial data is cut off again and the
    /// buffer kept for the next try; writes are refused (MISCONF) until a
    /// write succeeds. With `always` nothing can be promised any more, so
    /// the server exits, as Redis does.
    fn on_write_error(&mut self, written: usize, error: Option<std::io::Error>, now_secs: i64) {
        let reason = error.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::WriteZero));
        let can_log = now_secs - self.last_write_error_log > 30;
        if can_log {
            self.last_write_error_log = now_secs;
        }
        let mut error_text = strerror(&reason);
        if written > 0 {
            if can_log {
                warning!(
                    "Short write while writing to the AOF file: (nwritten={written}, expected={})",
                    self.buf.len()
                );
            }
            error_text = "No space left on device".into();
            if let Some(file) = self.file.as_ref() {
                if let Err(e) = file.set_len(self.last_incr_size) {
                    if can_log {
                        warning!("Could not remove short write from the append-only file.  Redis may refuse to load the AOF the next time it starts.  ftruncate: {e}");
                    }
                    self.current_size += written as u64;
                    self.last_incr_size += written as u64;
                    self.buf.drain(..written);
                }
            }
        } else if can_log {
            warning!("Error writing to the AOF file: {}", strerror(&reason));
        }
        if self.policy == FsyncPolicy::Always {
            warning!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
            std::process::exit(1);
        }
        self.last_write_ok = false;
        self.last_write_error = Some(error_text);
    }

    /// Writes and fsyncs everything now (shutdown, turning the AOF off,
    /// switching to a new incr file).
    pub fn flush_and_sync(&mut self, now_secs: i64) {
        let policy = self.policy;
        self.policy = FsyncPolicy::No;
        self.flush(now_secs, false);
        self.policy = policy;
        if let Some(file) = self.file.as_ref() {
            if let Err(e) = file.sync_data() {
                warning!("Fail to fsync the AOF file: {e}");
            } else {
                self.fsync_offset = self.current_size;
                self.last_fsync_secs = now_secs;
            }
        }
    }

    /// Replaces the file being appended to; the old one is synced and
    /// closed in the background.
    pub fn switch_file(&mut self, new: Option<File>) {
        if let Some(old) = std::mem::replace(&mut self.file, new) {
            self.fsyncer.submit(old);
            self.fsync_offset = self.current_size;
        }
        self.last_incr_size = 0;
    }
}

/// C's strerror text (no "(os error N)" suffix), as Redis prints errors.
fn strerror(e: &std::io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    // SAFETY: strerror returns a valid NUL-terminated static string.
    unsafe { std::ffi::CStr::from_ptr(libc::strerror(code)) }
        .to_string_lossy()
        .into_owned()
}

/// Writes as much as possible, retrying short writes; returns the count
/// and the error that stopped it, if any.
fn write_all_counting(file: &mut File, mut data: &[u8]) -> (usize, Option<std::io::Error>) {
    let mut total = 0;
    while !data.is_empty() {
        match file.write(data) {
            Ok(0) => break,
            Ok(n) => {
                total += n;
                data = &data[n..];
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (total, Some(e)),
        }
    }
    (total, None)
}

/// The background fsync thread (Redis's BIO_AOF_FSYNC): fsync can take
/// long on a busy disk and must not stall the server. Each job is a handle
/// on the file; dropping it afterwards closes it.
pub struct Fsyncer {
    tx: Option<mpsc::Sender<File>>,
    pending: Arc<AtomicUsize>,
}

impl Default for Fsyncer {
    fn default() -> Self {
        Fsyncer {
            tx: None,
            pending: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Fsyncer {
    /// Jobs not finished yet (aof_pending_bio_fsync).
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    pub fn submit(&mut self, file: File) {
        if self.tx.is_none() {
            self.tx = self.start();
        }
        self.pending.fetch_add(1, Ordering::AcqRel);
        let sent = self.tx.as_ref().map(|tx| tx.send(file));
        if !matches!(sent, Some(Ok(()))) {
            // No thread: the job is lost, but then so is nothing: the file
            // was handed over, and dropping it closes it.
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn start(&self) -> Option<mpsc::Sender<File>> {
        let (tx, rx) = mpsc::channel::<File>();
        let pending = self.pending.clone();
        std::thread::Builder::new()
            .name("aof-fsync".into())
            .spawn(move || {
                for file in rx {
                    if let Err(e) = file.sync_data() {
                        warning!("Fail to fsync the AOF file: {e}");
                    }
                    drop(file);
                    pending.fetch_sub(1, Ordering::AcqRel);
                }
            })
            .ok()?;
        Some(tx)
    }
}
