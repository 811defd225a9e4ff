//! The AOF manifest of Redis 7's multi-part layout: one line per file,
//! `file <name> seq <n> type <b|h|i>`, the base first, then history files,
//! then incr files in order. It lives in `appenddirname` as
//! `<appendfilename>.manifest` and is replaced atomically (temp file, fsync,
//! rename, directory fsync), so a crash leaves either the old or the new one.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// The role of one file in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// The snapshot at the last rewrite (RDB or AOF format).
    Base,
    /// A base or incr file superseded by a rewrite, waiting to be deleted.
    History,
    /// Commands written after the base, in sequence order.
    Incr,
}

impl FileKind {
    fn letter(self) -> char {
        match self {
            FileKind::Base => 'b',
            FileKind::History => 'h',
            FileKind::Incr => 'i',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: i64,
    pub kind: FileKind,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub history: Vec<AofFile>,
    pub incr: Vec<AofFile>,
    pub base_seq: i64,
    pub incr_seq: i64,
}

/// Why a manifest could not be read; rendered as Redis's fatal report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// (line number, trimmed line) when the error is on a line.
    pub line: Option<(usize, String)>,
    pub reason: String,
}

impl ManifestError {
    fn at(linenum: usize, line: &str, reason: &str) -> Self {
        ManifestError {
            line: Some((linenum, line.to_string())),
            reason: reason.to_string(),
        }
    }
}

/// Redis rejects longer manifest lines (MANIFEST_MAX_LINE).
const MAX_LINE: usize = 1024;

impl Manifest {
    /// Parses a manifest as Redis's aofLoadManifestFromFile does: `#` lines
    /// are comments, unknown key/value pairs are ignored (forward
    /// compatibility), names must be plain file names, incr sequence numbers
    /// must grow.
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        let mut m = Manifest::default();
        if text.is_empty() {
            return Err(ManifestError {
                line: None,
                reason: "Found an empty AOF manifest".into(),
            });
        }
        let mut max_incr_seq = 0;
        let mut rest = text;
        let mut linenum = 0;
        while !rest.is_empty() {
            linenum += 1;
            let (raw, complete) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let line = &rest[..=i];
                    rest = &rest[i + 1..];
                    (line, true)
                }
                None => {
                    let line = rest;
                    rest = &[];
                    (line, false)
                }
            };
            if raw.first() == Some(&b'#') {
                continue;
            }
            let line = String::from_utf8_lossy(raw);
            let trimmed = line.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
            if !complete || raw.len() > MAX_LINE {
                return Err(ManifestError::at(
                    linenum,
                    trimmed,
                    "The AOF manifest file contains too long line",
                ));
            }
            if trimmed.is_empty() {
                return Err(ManifestError::at(
                    linenum,
                    trimmed,
                    "Invalid AOF manifest file format",
                ));
            }
            let entry = parse_line(trimmed).map_err(|r| ManifestError::at(linenum, trimmed, r))?;
            match entry.kind {
                FileKind::Base => {
                    if m.base.is_some() {
                        return Err(ManifestError::at(
                            linenum,
                            trimmed,
                            "Found duplicate base file information",
                        ));
                    }
                    m.base_seq = entry.seq;
                    m.base = Some(entry);
                }
                FileKind::History => m.history.push(entry),
                FileKind::Incr => {
                    if entry.seq <= max_incr_seq {
                        return Err(ManifestError::at(
                            linenum,
                            trimmed,
                            "Found a non-monotonic sequence number",
                        ));
                    }
                    max_incr_seq = entry.seq;
                    m.incr_seq = entry.seq;
                    m.incr.push(entry);
                }
            }
        }
        Ok(m)
    }

    /// The manifest text: base, history, incr.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let all = self.base.iter().chain(&self.history).chain(&self.incr);
        for f in all {
            out.push_str(&format!(
                "file {} seq {} type {}\n",
                quote_if_needed(&f.name),
                f.seq,
                f.kind.letter()
            ));
        }
        out
    }

    /// No base and no incr file: nothing to load.
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.incr.is_empty()
    }

    /// Names a new base file (`<appendfilename>.<seq>.base.rdb|aof`) and
    /// turns the previous base into a history file.
    pub fn new_base(&mut self, filename: &str, rdb_format: bool) -> String {
        if let Some(mut old) = self.base.take() {
            old.kind = FileKind::History;
            self.history.insert(0, old);
        }
        self.base_seq += 1;
        let suffix = if rdb_format { "rdb" } else { "aof" };
        let name = format!("{filename}.{}.base.{suffix}", self.base_seq);
        self.base = Some(AofFile {
            name: name.clone(),
            seq: self.base_seq,
            kind: FileKind::Base,
        });
        name
    }

    /// Appends a new incr file (`<appendfilename>.<seq>.incr.aof`).
    pub fn new_incr(&mut self, filename: &str) -> String {
        self.incr_seq += 1;
        let name = format!("{filename}.{}.incr.aof", self.incr_seq);
        self.incr.push(AofFile {
            name: name.clone(),
            seq: self.incr_seq,
            kind: FileKind::Incr,
        });
        name
    }

    /// The incr file being appended to, creating one if there is none.
    pub fn last_incr_or_new(&mut self, filename: &str) -> String {
        match self.incr.last() {
            Some(f) => f.name.clone(),
            None => self.new_incr(filename),
        }
    }

    /// After a successful rewrite the incr files it covers become history;
    /// `keep_last` keeps the one currently written to.
    pub fn mark_rewritten_incr_as_history(&mut self, keep_last: bool) {
        let keep = if keep_last { self.incr.pop() } else { None };
        for mut f in self.incr.drain(..).rev() {
            f.kind = FileKind::History;
            self.history.insert(0, f);
        }
        self.incr.extend(keep);
    }

    /// Writes the manifest atomically into `dir`.
    pub fn persist(&self, dir: &Path, filename: &str) -> Result<(), String> {
        let name = manifest_name(filename);
        let temp_name = format!("temp-{name}");
        let temp = dir.join(&temp_name);
        let target = dir.join(&name);
        let write = || -> io::Result<File> {
            let mut f = File::create(&temp)?;
            f.write_all(self.render().as_bytes())?;
            Ok(f)
        };
        let file =
            write().map_err(|e| format!("Can't open the AOF manifest file {temp_name}: {e}"))?;
        file.sync_all()
            .map_err(|e| format!("Fail to fsync the temp AOF file {temp_name}: {e}."))?;
        drop(file);
        std::fs::rename(&temp, &target).map_err(|e| {
            format!("Error trying to rename the temporary AOF manifest file {temp_name} into {name}: {e}")
        })?;
        fsync_dir(dir)
            .map_err(|e| format!("Fail to fsync AOF directory {}: {e}.", target.display()))
    }
}

pub fn manifest_name(filename: &str) -> String {
    format!("{filename}.manifest")
}

/// Makes a rename or a new file in `dir` durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parse_line(line: &str) -> Result<AofFile, &'static str> {
    let args = split_args(line).ok_or("Invalid AOF manifest file format")?;
    if args.len() < 6 || args.len() % 2 != 0 {
        return Err("Invalid AOF manifest file format");
    }
    let (mut name, mut seq, mut kind) = (None, 0i64, None);
    for pair in args.chunks(2) {
        let key = pair[0].to_ascii_lowercase();
        match key.as_str() {
            "file" => {
                if pair[1].contains('/') {
                    return Err("File can't be a path, just a filename");
                }
                name = Some(pair[1].clone());
            }
            // atoll: leading digits, 0 when there are none.
            "seq" => seq = leading_int(&pair[1]),
            "type" => kind = pair[1].chars().next(),
            _ => {}
        }
    }
    let (Some(name), Some(kind)) = (name, kind) else {
        return Err("Invalid AOF manifest file format");
    };
    if seq == 0 || name.is_empty() {
        return Err("Invalid AOF manifest file format");
    }
    let kind = match kind {
        'b' => FileKind::Base,
        'h' => FileKind::History,
        'i' => FileKind::Incr,
        _ => return Err("Unknown AOF file type"),
    };
    Ok(AofFile { name, seq, kind })
}

fn leading_int(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let v: i64 = digits[..end].parse().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// Splits a line into words, honouring double quotes with `\"`, `\\`,
/// `\n`, `\t`, `\xHH` escapes (the subset of sdssplitargs that names use).
fn split_args(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Some(out);
        };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        'n' => word.push('\n'),
                        't' => word.push('\t'),
                        'r' => word.push('\r'),
                        'x' => {
                            let hex: String = [chars.next()?, chars.next()?].iter().collect();
                            word.push(char::from(u8::from_str_radix(&hex, 16).ok()?));
                        }
                        other => word.push(other),
                    },
                    c => word.push(c),
                }
            }
            // A closing quote must be followed by a space or the end.
            if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                return None;
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
}

/// Names with spaces, quotes or control characters are written quoted,
/// as Redis's sdscatrepr does.
fn quote_if_needed(name: &str) -> String {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\'' && c != '\\');
    if plain && !name.is_empty() {
        return name.to_string();
    }
    let mut s = String::from("\"");
    for c in name.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if c.is_ascii_graphic() || c == ' ' => s.push(c),
            c => s.push_str(&format!("\\x{:02x}", c as u32 & 0xff)),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_redis_layout() {
        let text = b"file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.1.incr.aof seq 1 type h\nfile appendonly.aof.3.incr.aof seq 3 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.2.base.rdb");
        assert_eq!(m.incr.len(), 1);
        assert_eq!(m.history.len(), 1);
        assert_eq!(m.render().as_bytes(), text);
    }

    #[test]
    fn rejects_bad_manifests() {
        assert_eq!(
            Manifest::parse(b"").unwrap_err().reason,
            "Found an empty AOF manifest"
        );
        assert_eq!(
            Manifest::parse(b"file a seq 1\n").unwrap_err().reason,
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            Manifest::parse(b"file a seq 1 type x\n")
                .unwrap_err()
                .reason,
            "Unknown AOF file type"
        );
        assert_eq!(
            Manifest::parse(b"file a/b seq 1 type b\n")
                .unwrap_err()
                .reason,
            "File can't be a path, just a filename"
        );
        assert_eq!(
            Manifest::parse(b"file a seq 2 type i\nfile b seq 1 type i\n")
                .unwrap_err()
                .reason,
            "Found a non-monotonic sequence number"
        );
    }

    #[test]
    fn rewrite_bookkeeping() {
        let mut m = Manifest::default();
        assert_eq!(
            m.new_base("appendonly.aof", true),
            "appendonly.aof.1.base.rdb"
        );
        assert_eq!(m.new_incr("appendonly.aof"), "appendonly.aof.1.incr.aof");
        assert_eq!(m.new_incr("appendonly.aof"), "appendonly.aof.2.incr.aof");
        assert_eq!(
            m.new_base("appendonly.aof", false),
            "appendonly.aof.2.base.aof"
        );
        m.mark_rewritten_incr_as_history(true);
        assert_eq!(
            m.render(),
            "file appendonly.aof.2.base.aof seq 2 type b\nfile appendonly.aof.1.incr.aof seq 1 type h\nfile appendonly.aof.1.base.rdb seq 1 type h\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
        );
    }

    #[test]
    fn quoted_names_round_trip() {
        let mut m = Manifest::default();
        m.new_base("my file.aof", true);
        let parsed = Manifest::parse(m.render().as_bytes()).unwrap();
        assert_eq!(parsed, m);
    }
}
