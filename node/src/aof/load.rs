//! Start-up with `appendonly yes`: the AOF directory is loaded INSTEAD of
//! the RDB file. The manifest names a base (RDB or commands) and incr files
//! (commands), loaded in order; an old-style single `appendonly.aof` in the
//! working directory is first moved into the directory, as Redis 7 does.
//! Then the last incr file is opened for appending (a base is created first
//! when the directory is empty).

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek};
use std::path::Path;

use bytes::Bytes;

use super::manifest::{AofFile, Manifest};
use super::{config_yes, names, AofStatus, Names};
use crate::resp::Reply;
use crate::server::client::ClientState;
use crate::server::exec::{execute, Outcome};
use crate::server::state::ServerState;
use crate::{notice, warning};

/// The client id of the loader's fake client (Redis's CLIENT_ID_AOF).
const AOF_CLIENT_ID: u64 = u64::MAX;

/// What loading one file gave.
#[derive(Debug, PartialEq, Eq)]
enum FileLoad {
    Loaded,
    Empty,
    /// The last incomplete command was cut off (aof-load-truncated yes).
    Truncated,
}

/// Reads the manifest (missing directory or manifest: an empty one).
fn read_manifest(n: &Names) -> Result<Manifest, String> {
    if !n.dir.is_dir() {
        return Ok(Manifest::default());
    }
    let path = n.dir.join(super::manifest::manifest_name(&n.filename));
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
        Err(e) => {
            let text = format!(
                "Fatal error: can't open the AOF manifest file {} for reading: {e}",
                path.display()
            );
            warning!("{text}");
            return Err(text);
        }
    };
    Manifest::parse(&text).map_err(|e| {
        warning!("\n*** FATAL AOF MANIFEST FILE ERROR ***\n");
        let mut text = format!("AOF manifest {}: ", path.display());
        if let Some((num, line)) = &e.line {
            warning!("Reading the manifest file, at line {num}\n");
            warning!(">>> '{line}'\n");
            text.push_str(&format!("line {num} ('{line}'): "));
        }
        warning!("{}\n", e.reason);
        text.push_str(&e.reason);
        text
    })
}

/// Moves an old-style `appendonly.aof` into the directory with a manifest
/// naming it as the base (aofUpgradePrepare).
fn upgrade_if_needed(n: &Names, m: &mut Manifest) -> Result<(), String> {
    if !Path::new(&n.filename).is_file() {
        return Ok(());
    }
    let base_is_old_file = m.base.as_ref().is_some_and(|b| b.name == n.filename)
        && m.incr.is_empty()
        && !n.dir.join(&n.filename).exists();
    if n.dir.is_dir() && !m.is_empty() && !base_is_old_file {
        return Ok(());
    }
    std::fs::create_dir_all(&n.dir).map_err(|e| {
        let text = format!(
            "Can't open or create append-only dir {}: {e}",
            n.dir.display()
        );
        warning!("{text}");
        text
    })?;
    *m = Manifest::default();
    m.base = Some(AofFile {
        name: n.filename.clone(),
        seq: 1,
        kind: super::manifest::FileKind::Base,
    });
    m.base_seq = 1;
    m.persist(&n.dir, &n.filename)
        .inspect_err(|e| warning!("{e}"))?;
    std::fs::rename(&n.filename, n.dir.join(&n.filename)).map_err(|e| {
        let text = format!(
            "Error trying to move the old AOF file {} into dir {}: {e}",
            n.filename,
            n.dir.display()
        );
        warning!("{text}");
        text
    })?;
    notice!(
        "Successfully migrated an old-style AOF file ({}) into the AOF directory ({}).",
        n.filename,
        n.dir.display()
    );
    Ok(())
}

/// Loads the AOF at start-up. Errors are fatal: the message names the
/// file and the reason, and the dataset is left empty.
pub fn load_at_startup(state: &mut ServerState) -> Result<(), String> {
    let n = names(state);
    let mut manifest = read_manifest(&n)?;
    upgrade_if_needed(&n, &mut manifest)?;
    state.aof.manifest = manifest.clone();
    if manifest.is_empty() {
        return Ok(());
    }
    let files: Vec<&AofFile> = manifest.base.iter().chain(&manifest.incr).collect();
    let mut total = 0;
    for f in &files {
        match std::fs::metadata(n.dir.join(&f.name)) {
            Ok(md) => total += md.len(),
            Err(e) => {
                warning!("Unable to obtain the AOF file {} length. stat: {e}", f.name);
                return Err(format!(
                    "Fatal error: the AOF file {} listed in the manifest can't be read: {e}",
                    n.dir.join(&f.name).display()
                ));
            }
        }
    }
    if total == 0 {
        return Ok(());
    }
    let started = std::time::Instant::now();
    state.loading = true;
    let saved_stats = (
        state.command_stats.clone(),
        state.stats.total_commands_processed,
    );
    let result = load_files(state, &n, &files);
    state.loading = false;
    state.command_stats = saved_stats.0;
    state.stats.total_commands_processed = saved_stats.1;
    if let Err(e) = result {
        for db in &mut state.dbs {
            db.clear();
        }
        return Err(e);
    }
    // Sizes after a possible truncation.
    let size_of = |f: &AofFile| std::fs::metadata(n.dir.join(&f.name)).map_or(0, |m| m.len());
    state.aof.current_size = files.iter().map(|f| size_of(f)).sum();
    state.aof.rewrite_base_size = manifest.base.as_ref().map_or(0, size_of);
    state.aof.fsync_offset = state.aof.current_size;
    state.dirty = 0;
    notice!(
        "DB loaded from append only file: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn load_files(state: &mut ServerState, n: &Names, files: &[&AofFile]) -> Result<(), String> {
    let truncate_ok = config_yes(state, "aof-load-truncated");
    for (i, f) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        let is_base = i == 0 && state.aof.manifest.base.is_some();
        let started = std::time::Instant::now();
        let outcome = load_file(state, n, &f.name, truncate_ok)?;
        let kind = if is_base { "base" } else { "incr" };
        if outcome != FileLoad::Truncated || last {
            notice!(
                "DB loaded from {kind} file {}: {:.3} seconds",
                f.name,
                started.elapsed().as_secs_f64()
            );
        }
        if outcome == FileLoad::Truncated && !last {
            warning!("Fatal error: the truncated file is not the last file");
            return Err(format!(
                "Fatal error: the AOF file {} is truncated but is not the last file",
                f.name
            ));
        }
    }
    Ok(())
}

/// Loads one file: an RDB image if it starts with "REDIS" (a base, or an
/// old-style RDB preamble followed by commands), then commands.
fn load_file(
    state: &mut ServerState,
    n: &Names,
    name: &str,
    truncate_ok: bool,
) -> Result<FileLoad, String> {
    let path = n.dir.join(name);
    let mut file = File::open(&path).map_err(|e| {
        let text = format!("Fatal error: can't open the append log file {name} for reading: {e}");
        warning!("{text}");
        text
    })?;
    let size = file.metadata().map_or(0, |m| m.len());
    if size == 0 {
        return Ok(FileLoad::Empty);
    }
    let mut sig = [0u8; 5];
    let is_rdb = file.read_exact(&mut sig).is_ok() && &sig == b"REDIS";
    file.rewind().map_err(|e| read_error(name, &e))?;
    if !is_rdb {
        let input = BufReader::with_capacity(READ_BUFFER, file);
        return replay(state, &path, name, input, 0, truncate_ok);
    }
    let old_style = name == n.filename;
    if old_style {
        notice!("Reading RDB preamble from AOF file...");
    } else {
        notice!("Reading RDB base file on AOF loading...");
    }
    let (mut rest_file, buffered) = match crate::server::persist::load_rdb_reader(state, file) {
        Ok((_, _, f, buffered)) => (f, buffered),
        Err(reason) => {
            if old_style {
                warning!(
                    "Error reading the RDB preamble of the AOF file {name}, AOF loading aborted"
                );
            } else {
                warning!("Error reading the RDB base file {name}, AOF loading aborted");
            }
            return Err(format!(
                "Fatal error loading the AOF file {}: {reason}",
                path.display()
            ));
        }
    };
    let file_pos = rest_file
        .stream_position()
        .map_err(|e| read_error(name, &e))?;
    let start_offset = file_pos - buffered.len() as u64;
    if old_style {
        notice!("Reading the remaining AOF tail...");
    }
    // What the RDB reader had buffered past its end, then the rest.
    let input = BufReader::with_capacity(READ_BUFFER, Cursor::new(buffered).chain(rest_file));
    replay(state, &path, name, input, start_offset, truncate_ok)
}

/// Read buffer of the command replay.
const READ_BUFFER: usize = 64 * 1024;

/// Longest header line accepted (Redis's AOF_ANNOTATION_LINE_MAX_LEN).
const MAX_LINE: u64 = 1024;

fn read_error(name: &str, e: &std::io::Error) -> String {
    let text = format!("Unrecoverable error reading the append only file {name}: {e}");
    warning!("{text}");
    text
}

/// Why parsing stopped before the end of the data.
enum Stop {
    /// The data ends inside a command.
    Truncated,
    /// Not the AOF's command format at this offset.
    BadFormat(u64),
    /// The file could not be read.
    Io(std::io::Error),
}

/// The commands of a file, read as a stream with the byte offset kept.
struct CommandReader<R: BufRead> {
    input: R,
    /// Offset of the next unread byte, in the file.
    pos: u64,
    line: Vec<u8>,
}

/// One step of the replay.
enum Next {
    Command(Vec<Bytes>),
    /// A `#...` line (aof-timestamp-enabled annotations).
    Annotation,
    End,
}

impl<R: BufRead> CommandReader<R> {
    /// Reads one line into `self.line`; false when it has no newline (the
    /// data ended). A line longer than MAX_LINE is a format error.
    fn read_line(&mut self) -> Result<bool, Stop> {
        self.line.clear();
        let n = (&mut self.input)
            .take(MAX_LINE)
            .read_until(b'\n', &mut self.line)
            .map_err(Stop::Io)?;
        self.pos += n as u64;
        if self.line.last() == Some(&b'\n') {
            return Ok(true);
        }
        if n as u64 == MAX_LINE {
            return Err(Stop::BadFormat(self.pos - n as u64));
        }
        Ok(false)
    }

    /// `*<argc>\r\n` then `$<len>\r\n<bytes>\r\n` per argument.
    fn next(&mut self) -> Result<Next, Stop> {
        let start = self.pos;
        if !self.read_line()? {
            return if self.line.is_empty() {
                Ok(Next::End)
            } else {
                Err(Stop::Truncated)
            };
        }
        match self.line.first() {
            Some(b'#') => return Ok(Next::Annotation),
            Some(b'*') => {}
            _ => return Err(Stop::BadFormat(start)),
        }
        let argc = leading_number(&self.line[1..])
            .filter(|&n| n >= 1)
            .ok_or(Stop::BadFormat(start))?;
        let mut argv = Vec::with_capacity(argc.min(1024) as usize);
        for _ in 0..argc {
            let at = self.pos;
            if !self.read_line()? {
                return Err(Stop::Truncated);
            }
            if self.line.first() != Some(&b'$') {
                return Err(Stop::BadFormat(at));
            }
            let len = leading_number(&self.line[1..]).ok_or(Stop::BadFormat(at))? as u64;
            // Grown as data arrives: a forged length reserves nothing.
            let mut arg = Vec::with_capacity(len.min(1 << 20) as usize + 2);
            let got = (&mut self.input)
                .take(len + 2)
                .read_to_end(&mut arg)
                .map_err(Stop::Io)?;
            self.pos += got as u64;
            if (got as u64) < len + 2 {
                return Err(Stop::Truncated);
            }
            if !arg.ends_with(b"\r\n") {
                return Err(Stop::BadFormat(self.pos - 2));
            }
            arg.truncate(arg.len() - 2);
            argv.push(Bytes::from(arg));
        }
        Ok(Next::Command(argv))
    }
}

/// The number at the start of a header line (atoi/strtol: digits up to
/// the first other byte); None when there are no digits.
fn leading_number(s: &[u8]) -> Option<i64> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 18 {
        return None;
    }
    std::str::from_utf8(&s[..digits]).ok()?.parse().ok()
}

/// Runs the commands of one file through a fake client, as Redis's
/// loadSingleAppendOnlyFile does. `base_offset` is where `input` starts in
/// the file (after an RDB preamble).
fn replay<R: BufRead>(
    state: &mut ServerState,
    path: &Path,
    name: &str,
    input: R,
    base_offset: u64,
    truncate_ok: bool,
) -> Result<FileLoad, String> {
    let mut client = ClientState::new(AOF_CLIENT_ID, String::new(), true);
    let mut reply = Reply::new(false);
    let mut reader = CommandReader {
        input,
        pos: base_offset,
        line: Vec::new(),
    };
    let mut valid_up_to = base_offset;
    let mut valid_before_multi = base_offset;
    let stop = loop {
        let cmd_at = reader.pos;
        let argv = match reader.next() {
            Ok(Next::Command(argv)) => argv,
            Ok(Next::Annotation) => {
                valid_up_to = reader.pos;
                continue;
            }
            Ok(Next::End) => break None,
            Err(stop) => break Some(stop),
        };
        let Some(spec) = crate::commands::table().lookup(&argv[0]) else {
            let cmd = String::from_utf8_lossy(&argv[0]).into_owned();
            warning!("Unknown command '{cmd}' reading the append only file {name}");
            return Err(format!(
                "Fatal error: unknown command '{cmd}' at offset {cmd_at} of the append only file {}",
                path.display()
            ));
        };
        if spec.name == "multi" {
            valid_before_multi = valid_up_to;
        }
        if let Outcome::Blocked(..) = execute(state, &mut client, &mut reply, argv) {
            // The loader never waits (CLIENT_DENY_BLOCKING).
            state.blocked.unblock(AOF_CLIENT_ID);
        }
        reply.buf.clear();
        valid_up_to = reader.pos;
    };
    let stop = match stop {
        None if client.multi.is_some() => {
            warning!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
            valid_up_to = valid_before_multi;
            Stop::Truncated
        }
        None => return Ok(FileLoad::Loaded),
        Some(stop) => stop,
    };
    match stop {
        Stop::BadFormat(offset) => {
            warning!("Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>");
            Err(format!(
                "Fatal error: bad file format at offset {offset} of the append only file {}",
                path.display()
            ))
        }
        Stop::Io(e) => Err(read_error(name, &e)),
        Stop::Truncated => handle_truncated(path, name, valid_up_to, truncate_ok),
    }
}

/// The file ends inside a command: with aof-load-truncated the tail is cut
/// off and loading goes on; without it, start-up stops.
fn handle_truncated(
    path: &Path,
    name: &str,
    valid_up_to: u64,
    truncate_ok: bool,
) -> Result<FileLoad, String> {
    if truncate_ok {
        warning!("!!! Warning: short read while loading the AOF file {name}!!!");
        warning!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!");
        let cut = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(valid_up_to));
        match cut {
            Ok(()) => {
                warning!("AOF {name} loaded anyway because aof-load-truncated is enabled");
                return Ok(FileLoad::Truncated);
            }
            Err(e) => warning!("Error truncating the AOF file {name}: {e}"),
        }
    }
    warning!("Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.");
    Err(format!(
        "Fatal error: the append only file {} ends inside a command (last valid offset {valid_up_to}) and aof-load-truncated is no",
        path.display()
    ))
}

/// After loading (aofOpenIfNeededOnServerStart): creates the directory, a
/// base file when there is none, opens the last incr file for appending
/// and writes the manifest. Errors are fatal.
pub fn open_on_server_start(state: &mut ServerState) -> Result<(), String> {
    let n = names(state);
    super::refresh_settings(state);
    std::fs::create_dir_all(&n.dir).map_err(|e| {
        let text = format!(
            "Can't open or create append-only dir {}: {e}",
            n.dir.display()
        );
        warning!("{text}");
        text
    })?;
    let had_incr = !state.aof.manifest.incr.is_empty();
    if state.aof.manifest.is_empty() {
        let rdb = config_yes(state, "aof-use-rdb-preamble");
        let base = state.aof.manifest.new_base(&n.filename, rdb);
        // SAFETY: getpid always succeeds.
        let temp = format!("temp-rewriteaof-{}.aof", unsafe { libc::getpid() });
        let written = super::rewrite::write_base(state, Path::new(&temp), rdb)
            .and_then(|()| std::fs::rename(&temp, n.dir.join(&base)));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            let text = format!("Write error writing append only file on disk: {e}");
            warning!("{text}");
            return Err(text);
        }
        // Redis leaves aof_current_size / aof_base_size at 0 here (they
        // are set by loading and by rewrites).
        notice!("Creating AOF base file {base} on server start");
    }
    let incr = state.aof.manifest.last_incr_or_new(&n.filename);
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(n.dir.join(&incr))
        .map_err(|e| {
            let text = format!("Can't open the append-only file {incr}: {e}");
            warning!("{text}");
            text
        })?;
    state
        .aof
        .manifest
        .persist(&n.dir, &n.filename)
        .inspect_err(|e| warning!("{e}"))?;
    state.aof.last_incr_size = file.metadata().map_or(0, |m| m.len());
    state.aof.switch_file(Some(file));
    state.aof.last_incr_size = std::fs::metadata(n.dir.join(&incr)).map_or(0, |m| m.len());
    state.aof.fsync_offset = state.aof.current_size;
    state.aof.status = AofStatus::On;
    if had_incr {
        notice!("Opening AOF incr file {incr} on server start");
    } else {
        notice!("Creating AOF incr file {incr} on server start");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8]) -> (Vec<Vec<Bytes>>, Option<Stop>) {
        let mut reader = CommandReader {
            input: std::io::Cursor::new(data.to_vec()),
            pos: 0,
            line: Vec::new(),
        };
        let mut cmds = Vec::new();
        loop {
            match reader.next() {
                Ok(Next::Command(argv)) => cmds.push(argv),
                Ok(Next::Annotation) => {}
                Ok(Next::End) => return (cmds, None),
                Err(stop) => return (cmds, Some(stop)),
            }
        }
    }

    #[test]
    fn parses_commands_annotations_and_reports_where_it_stopped() {
        let (cmds, stop) =
            read_all(b"#TS:1\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(cmds.len(), 2);
        assert!(stop.is_none());
        let (cmds, stop) = read_all(b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI");
        assert_eq!(cmds.len(), 1);
        assert!(matches!(stop, Some(Stop::Truncated)));
        let (_, stop) = read_all(b"*1\r\n$4\r\nPING\r\n+OK\r\n");
        assert!(matches!(stop, Some(Stop::BadFormat(14))));
        let (_, stop) = read_all(b"*1\r\n$4\r\nPINGxx");
        assert!(matches!(stop, Some(Stop::BadFormat(12))));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small LCG: deterministic inputs mixing protocol bytes and noise.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let alphabet = b"*$#\r\n0123456789-PINGSET ";
        for _ in 0..3000 {
            let mut data = Vec::new();
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 33) % 64;
            for _ in 0..len {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = (seed >> 33) as usize;
                data.push(if r.is_multiple_of(4) {
                    r as u8
                } else {
                    alphabet[r % alphabet.len()]
                });
            }
            let _ = read_all(&data);
        }
    }
}
