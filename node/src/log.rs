//! Log lines in Redis's format: `pid:R dd Mon yyyy hh:mm:ss.mmm L message`,
//! where R is the role (M master, S replica, X sentinel, C child) and L the
//! level (`.` debug, `-` verbose, `*` notice, `#` warning).

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
}

impl Level {
    pub fn from_name(name: &str) -> Level {
        match name {
            "debug" => Level::Debug,
            "verbose" => Level::Verbose,
            "warning" => Level::Warning,
            _ => Level::Notice,
        }
    }

    fn mark(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            Level::Warning => '#',
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
static ROLE: AtomicU8 = AtomicU8::new(b'M');
static FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// 'M', 'S', 'X' or 'C'.
pub fn set_role(role: u8) {
    ROLE.store(role, Ordering::Relaxed);
}

/// Logs to this file instead of standard output ("" = standard output).
pub fn set_file(path: &str) -> std::io::Result<()> {
    let mut slot = FILE.lock().unwrap_or_else(|e| e.into_inner());
    *slot = if path.is_empty() {
        None
    } else {
        Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        )
    };
    Ok(())
}

fn timestamp() -> String {
    let now_ms = crate::util::time::now_ms();
    let secs = (now_ms / 1000) as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed struct we own; strftime
    // writes at most buf.len() bytes into our buffer.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        let mut buf = [0u8; 64];
        let fmt = b"%d %b %Y %H:%M:%S\0";
        let n = libc::strftime(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            fmt.as_ptr() as *const libc::c_char,
            &tm,
        );
        format!(
            "{}.{:03}",
            String::from_utf8_lossy(&buf[..n]),
            now_ms % 1000
        )
    }
}

pub fn log(level: Level, message: &str) {
    if (level as u8) < LEVEL.load(Ordering::Relaxed) {
        return;
    }
    let line = format!(
        "{}:{} {} {} {}\n",
        std::process::id(),
        ROLE.load(Ordering::Relaxed) as char,
        timestamp(),
        level.mark(),
        message
    );
    let mut slot = FILE.lock().unwrap_or_else(|e| e.into_inner());
    match slot.as_mut() {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stdout().write_all(line.as_bytes());
        }
    }
}

#[macro_export]
macro_rules! notice {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Notice, &format!($($t)*)) };
}

#[macro_export]
macro_rules! warning {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Warning, &format!($($t)*)) };
}

#[macro_export]
macro_rules! verbose {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Verbose, &format!($($t)*)) };
}
