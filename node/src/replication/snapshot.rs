//! The snapshot sent in a full sync. Like BGSAVE, it is written by a forked
//! child from its copy-on-write image of the dataset, taken while the state
//! lock is held — so it is exactly the dataset at the offset announced in
//! `+FULLRESYNC` — and the parent keeps serving clients. The child writes
//! into a pipe; a reader thread collects the bytes and hands the same
//! snapshot to every replica attached to this fork.

use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

use crate::rdb::RdbAux;
use crate::server::state::ServerState;
use crate::{notice, warning};

pub type SnapshotResult = Option<Arc<Result<Bytes, String>>>;

/// Forks the snapshot child. Returns the child's pid and where the result
/// will appear.
pub fn start(st: &ServerState) -> Result<(libc::pid_t, watch::Receiver<SnapshotResult>), String> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe writes two descriptors into the array we own.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    let aux = RdbAux {
        used_mem: crate::alloc::used_memory() as u64,
        repl_id: Some(st.repl.replid.clone()),
        repl_offset: st.repl_log.offset as i64,
        // A replica forwards its master's stream unchanged (no SELECT is
        // injected), so its sub-replica must start in the stream's database.
        repl_stream_db: st.repl.master.as_ref().map_or(0, |m| m.stream_db as i64),
        ..RdbAux::default()
    };
    // SAFETY: the child only runs `child_main`, which ends in `_exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        // SAFETY: closing descriptors we created.
        unsafe {
            libc::close(read_fd);
            libc::close(write_fd);
        }
        return Err(format!("Can't save in background: fork: {e}"));
    }
    if pid == 0 {
        child_main(st, write_fd, &aux);
    }
    // SAFETY: the parent does not write; the child holds its own copy.
    unsafe { libc::close(write_fd) };
    notice!("Starting BGSAVE for SYNC with target: replicas sockets");
    notice!("Background RDB transfer started by pid {pid}");
    let (tx, rx) = watch::channel(None);
    let shared = st.repl.shared.clone();
    std::thread::spawn(move || {
        // SAFETY: read_fd is ours alone from here on.
        let mut pipe = unsafe { std::fs::File::from_raw_fd(read_fd) };
        let mut data = Vec::with_capacity(1 << 20);
        let read = pipe.read_to_end(&mut data);
        let mut status: libc::c_int = 0;
        // SAFETY: waiting for the child we forked.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let ok = read.is_ok() && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        let result = if ok {
            notice!("Background RDB transfer terminated with success");
            Ok(Bytes::from(data))
        } else {
            warning!("Background transfer error");
            Err("snapshot child failed".to_string())
        };
        let ok = result.is_ok();
        let _ = tx.send(Some(Arc::new(result)));
        if let Some(shared) = shared.upgrade() {
            super::master::snapshot_done(&mut shared.state.lock(), pid, ok);
        }
    });
    Ok((pid, rx))
}

/// The forked child: writes the snapshot into the pipe and exits without
/// touching any lock the parent's other threads may have held.
fn child_main(st: &ServerState, write_fd: libc::c_int, aux: &RdbAux) -> ! {
    // SAFETY: descriptor juggling in our own process before anything else runs.
    unsafe {
        if write_fd != 3 {
            libc::dup2(write_fd, 3);
        }
        if libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32) != 0 {
            for fd in 4..4096 {
                libc::close(fd);
            }
        }
    }
    // SAFETY: fd 3 is the pipe's write end, owned by this File now.
    let file = unsafe { std::fs::File::from_raw_fd(3) };
    let out = std::io::BufWriter::with_capacity(1 << 16, file);
    let code = match crate::server::persist::write_rdb_to(st, out, aux) {
        Ok(mut w) => match w.flush() {
            Ok(()) => 0,
            Err(_) => 1,
        },
        Err(_) => 1,
    };
    // SAFETY: _exit skips destructors and atexit handlers, as a fork child must.
    unsafe { libc::_exit(code) }
}
