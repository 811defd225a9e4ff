//! Wall-clock helpers. Redis expresses expiry as absolute Unix milliseconds.
//! These read CLOCK_REALTIME directly: they run on every command, and
//! `SystemTime`'s checked arithmetic shows up in profiles.

fn realtime() -> (i64, i64) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    if rc != 0 {
        return (0, 0);
    }
    (ts.tv_sec, ts.tv_nsec)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let (s, ns) = realtime();
    s * 1000 + ns / 1_000_000
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    let (s, ns) = realtime();
    s * 1_000_000 + ns / 1000
}
