//! Incremental parser for client requests: multibulk (`*N` + `$len` bulks)
//! and inline commands, with Redis 7.0's limits and protocol error texts.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

/// Largest inline request, count line or bulk-length line (PROTO_INLINE_MAX_SIZE).
pub const INLINE_MAX: usize = 64 * 1024;

/// Limits that depend on configuration and on the client's auth state.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    pub proto_max_bulk_len: u64,
    /// True while the client still has to authenticate: tighter limits apply.
    pub unauthenticated: bool,
    /// The connection is our master's: bulk length limits do not apply.
    pub from_master: bool,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            proto_max_bulk_len: 512 * 1024 * 1024,
            unauthenticated: false,
            from_master: false,
        }
    }
}

/// A protocol error: the reply text (after `-ERR Protocol error: `) and the
/// connection is closed after it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub Cow<'static, str>);

impl ProtocolError {
    fn new(text: &'static str) -> Self {
        ProtocolError(Cow::Borrowed(text))
    }
}

impl ProtocolError {
    pub fn reply_line(&self) -> String {
        format!("-ERR Protocol error: {}\r\n", self.0)
    }
}

/// One parsed request.
#[derive(Debug)]
pub struct Request {
    pub args: Vec<Bytes>,
    /// Inline requests matter to replication (a master sending inline text is corrupt).
    pub inline: bool,
    /// Bytes this request occupied in the stream (replication offsets count them).
    pub wire_len: usize,
}

/// Progress through a multibulk request that has not fully arrived yet, so a
/// big request is not re-scanned from its start on every read.
#[derive(Debug, Default)]
struct MultibulkProgress {
    argc: usize,
    /// Byte ranges of the arguments seen so far, relative to the buffer start.
    ranges: Vec<(usize, usize)>,
    /// Where parsing continues.
    pos: usize,
    /// Length of the bulk whose header was read but whose payload has not arrived.
    pending_bulk: Option<usize>,
}

/// Parses requests out of a connection's read buffer.
#[derive(Debug, Default)]
pub struct RequestParser {
    progress: Option<MultibulkProgress>,
}

/// What the next parse step found.
pub enum Parsed {
    Request(Request),
    /// `*0`, `*-1` or an empty inline line: consumed, nothing to run.
    Empty {
        wire_len: usize,
    },
    Incomplete,
}

impl RequestParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// True while a multibulk request has started but not completed.
    pub fn in_progress(&self) -> bool {
        self.progress.is_some()
    }

    /// How many more bytes the partially read bulk needs, so the reader can
    /// reserve room for it at once.
    pub fn bytes_wanted(&self, buffered: usize) -> usize {
        match &self.progress {
            Some(MultibulkProgress {
                pending_bulk: Some(len),
                pos,
                ..
            }) => (pos + len + 2).saturating_sub(buffered),
            _ => 0,
        }
    }

    /// Parses one request from the front of `buf`, consuming its bytes when
    /// complete.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: ParseLimits,
    ) -> Result<Parsed, ProtocolError> {
        if buf.is_empty() {
            return Ok(Parsed::Incomplete);
        }
        if self.progress.is_none() && buf[0] != b'*' {
            return parse_inline(buf);
        }
        self.parse_multibulk(buf, limits)
    }

    fn parse_multibulk(
        &mut self,
        buf: &mut BytesMut,
        limits: ParseLimits,
    ) -> Result<Parsed, ProtocolError> {
        if self.progress.is_none() {
            let Some(line_end) = find_cr_line(buf, 0) else {
                if buf.len() > INLINE_MAX {
                    return Err(ProtocolError::new("too big mbulk count string"));
                }
                return Ok(Parsed::Incomplete);
            };
            let count = crate::util::number::parse_i64(&buf[1..line_end]);
            let count = match count {
                Some(c) if c <= i32::MAX as i64 => c,
                _ => return Err(ProtocolError::new("invalid multibulk length")),
            };
            if count > 10 && limits.unauthenticated {
                return Err(ProtocolError::new("unauthenticated multibulk length"));
            }
            let pos = line_end + 2;
            if count <= 0 {
                let _ = buf.split_to(pos);
                return Ok(Parsed::Empty { wire_len: pos });
            }
            let argc = count as usize;
            self.progress = Some(MultibulkProgress {
                argc,
                // Cap the pre-allocation: the count is untrusted.
                ranges: Vec::with_capacity(argc.min(1024)),
                pos,
                pending_bulk: None,
            });
        }
        let Some(progress) = self.progress.as_mut() else {
            // Unreachable: set just above; answered as a protocol error, never a panic.
            return Err(ProtocolError::new("invalid multibulk length"));
        };
        while progress.ranges.len() < progress.argc {
            let len = match progress.pending_bulk {
                Some(len) => len,
                None => {
                    let Some(line_end) = find_cr_line(buf, progress.pos) else {
                        if buf.len() - progress.pos > INLINE_MAX {
                            return Err(ProtocolError::new("too big bulk count string"));
                        }
                        return Ok(Parsed::Incomplete);
                    };
                    if buf[progress.pos] != b'$' {
                        return Err(expected_dollar(buf[progress.pos]));
                    }
                    let len = crate::util::number::parse_i64(&buf[progress.pos + 1..line_end]);
                    let len = match len {
                        Some(l)
                            if l >= 0
                                && (limits.from_master
                                    || l as u64 <= limits.proto_max_bulk_len) =>
                        {
                            l
                        }
                        _ => return Err(ProtocolError::new("invalid bulk length")),
                    };
                    if len > 16384 && limits.unauthenticated {
                        return Err(ProtocolError::new("unauthenticated bulk length"));
                    }
                    progress.pos = line_end + 2;
                    progress.pending_bulk = Some(len as usize);
                    len as usize
                }
            };
            // Redis does not check the CRLF after the payload; it skips two bytes.
            if buf.len() < progress.pos + len + 2 {
                return Ok(Parsed::Incomplete);
            }
            progress.ranges.push((progress.pos, progress.pos + len));
            progress.pos += len + 2;
            progress.pending_bulk = None;
        }
        let Some(progress) = self.progress.take() else {
            return Err(ProtocolError::new("invalid multibulk length"));
        };
        let frame = buf.split_to(progress.pos).freeze();
        let args = progress
            .ranges
            .iter()
            .map(|&(start, end)| frame.slice(start..end))
            .collect();
        Ok(Parsed::Request(Request {
            args,
            inline: false,
            wire_len: progress.pos,
        }))
    }
}

fn expected_dollar(got: u8) -> ProtocolError {
    ProtocolError(Cow::Owned(format!("expected '$', got '{}'", got as char)))
}

/// Finds the `\r` ending a header line that starts at `from`, requiring the
/// `\n` after it to have arrived too (Redis searches for `\r`).
fn find_cr_line(buf: &[u8], from: usize) -> Option<usize> {
    let rel = memchr(b'\r', &buf[from..])?;
    let cr = from + rel;
    (cr + 1 < buf.len()).then_some(cr)
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

fn parse_inline(buf: &mut BytesMut) -> Result<Parsed, ProtocolError> {
    let Some(nl) = memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(Parsed::Incomplete);
    };
    let line = buf.split_to(nl + 1);
    let mut content = &line[..nl];
    if content.last() == Some(&b'\r') {
        content = &content[..content.len() - 1];
    }
    let args = split_args(content).ok_or(ProtocolError::new("unbalanced quotes in request"))?;
    if args.is_empty() {
        return Ok(Parsed::Empty { wire_len: nl + 1 });
    }
    Ok(Parsed::Request(Request {
        args: args.into_iter().map(Bytes::from).collect(),
        inline: true,
        wire_len: nl + 1,
    }))
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Splits a line into arguments with the quoting rules of Redis's
/// `sdssplitargs`. Returns None on unbalanced quotes. Also used by the
/// config file parser.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            if in_double {
                if i >= line.len() {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 3 < line.len() && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex_value(line[i + 2]), hex_value(line[i + 3])) {
                        current.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < line.len() {
                    let escaped = match line[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    };
                    current.push(escaped);
                    i += 2;
                    continue;
                }
                if c == b'"' {
                    // The closing quote must be followed by a space or the end.
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                }
                current.push(c);
                i += 1;
            } else if in_single {
                if i >= line.len() {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < line.len() && line[i + 1] == b'\'' {
                    current.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                }
                current.push(c);
                i += 1;
            } else {
                if i >= line.len() {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    c => current.push(c),
                }
                i += 1;
            }
        }
        args.push(current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut parser = RequestParser::new();
        let mut out = Vec::new();
        loop {
            match parser.parse(&mut buf, ParseLimits::default())? {
                Parsed::Request(r) => out.push(r.args.iter().map(|a| a.to_vec()).collect()),
                Parsed::Empty { .. } => {}
                Parsed::Incomplete => return Ok(out),
            }
        }
    }

    #[test]
    fn multibulk_and_inline() {
        let got = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nSET a \"b c\"\r\n*0\r\n\r\n").unwrap();
        assert_eq!(
            got,
            vec![
                vec![b"GET".to_vec(), b"k".to_vec()],
                vec![b"SET".to_vec(), b"a".to_vec(), b"b c".to_vec()]
            ]
        );
    }

    #[test]
    fn incremental_bulk() {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(&b"*1\r\n$5\r\nhel"[..]);
        assert!(matches!(
            parser.parse(&mut buf, ParseLimits::default()),
            Ok(Parsed::Incomplete)
        ));
        assert_eq!(parser.bytes_wanted(buf.len()), 4);
        buf.extend_from_slice(b"lo\r\n");
        match parser.parse(&mut buf, ParseLimits::default()) {
            Ok(Parsed::Request(r)) => assert_eq!(r.args[0].as_ref(), b"hello"),
            _ => panic!("expected a request"),
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn protocol_errors() {
        assert_eq!(
            parse_all(b"*abc\r\n").unwrap_err().0,
            "invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n:1\r\n").unwrap_err().0,
            "expected '$', got ':'"
        );
        assert_eq!(
            parse_all(b"*1\r\n$-5\r\n").unwrap_err().0,
            "invalid bulk length"
        );
        assert_eq!(
            parse_all(b"SET a \"b\r\n").unwrap_err().0,
            "unbalanced quotes in request"
        );
        assert_eq!(
            parse_all(b"SET a \"b\"c\r\n").unwrap_err().0,
            "unbalanced quotes in request"
        );
        let big = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(parse_all(&big).unwrap_err().0, "too big inline request");
    }

    #[test]
    fn split_args_escapes() {
        let got = split_args(br#"a "\x41\n" 'it\'s' b"c d""#).unwrap();
        assert_eq!(
            got,
            vec![
                b"a".to_vec(),
                b"A\n".to_vec(),
                b"it's".to_vec(),
                b"bc d".to_vec()
            ]
        );
    }
}
