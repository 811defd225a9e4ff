//! Helpers for forked snapshot children (BGSAVE and BGREWRITEAOF): the
//! child closes every inherited descriptor but its report pipe, and sends
//! the parent its copy-on-write size as Redis does (Private_Dirty of the
//! child's mappings, i.e. pages copied because the parent wrote to them).

/// A pipe for the child's report (read end, write end); [-1, -1] when it
/// could not be created (the report is then simply missing).
pub fn report_pipe() -> [libc::c_int; 2] {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    let piped = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } == 0;
    if piped {
        fds
    } else {
        [-1, -1]
    }
}

pub fn close_fds(fds: &[libc::c_int; 2]) {
    for &fd in fds {
        if fd >= 0 {
            // SAFETY: descriptors we created.
            unsafe { libc::close(fd) };
        }
    }
}

/// In the child: closes every descriptor above stderr except `keep` (the
/// listening sockets above all, so an orphaned child never holds the port).
pub fn close_inherited_fds_except(keep: libc::c_int) {
    // SAFETY: only this process's descriptor table is touched.
    unsafe {
        let ranges_closed = if keep < 3 {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) == 0
        } else {
            (keep == 3 || libc::syscall(libc::SYS_close_range, 3u32, (keep - 1) as u32, 0u32) == 0)
                && libc::syscall(libc::SYS_close_range, (keep + 1) as u32, u32::MAX, 0u32) == 0
        };
        if !ranges_closed {
            // Kernels without close_range: one by one.
            for fd in 3..4096 {
                if fd != keep {
                    libc::close(fd);
                }
            }
        }
    }
}

/// The child's private dirty memory: pages copied because the parent
/// wrote to them while the child ran (what Redis reports as COW size,
/// read from /proc/self/smaps).
pub fn private_dirty_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps_rollup") else {
        return 0;
    };
    text.lines()
        .filter(|l| l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

pub fn report_cow_size(fd: libc::c_int) {
    if fd < 0 {
        return;
    }
    let bytes = private_dirty_bytes().to_le_bytes();
    // SAFETY: writes 8 bytes from a local buffer to our pipe.
    unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
}

/// In the parent: the child's report, once it has exited; closes the pipe.
pub fn read_cow_size(fd: libc::c_int) -> Option<u64> {
    if fd < 0 {
        return None;
    }
    let mut bytes = [0u8; 8];
    // SAFETY: reads at most 8 bytes into a local buffer, then closes our fd.
    let n = unsafe { libc::read(fd, bytes.as_mut_ptr().cast(), bytes.len()) };
    unsafe { libc::close(fd) };
    (n == 8).then(|| u64::from_le_bytes(bytes))
}
