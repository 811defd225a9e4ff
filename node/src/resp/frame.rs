//! A complete RESP2/RESP3 value, as a client sees it. Used on the client
//! side of the protocol: tests, the replica's link to its master, sentinels
//! talking to instances. (The server writes replies with `Reply` instead.)

use std::fmt;

/// Nesting deeper than this is refused: the input is untrusted.
const MAX_DEPTH: usize = 128;
/// Largest bulk a client-side parse accepts (the RDB payload is not a frame).
const MAX_BULK: usize = 512 * 1024 * 1024;

#[derive(Clone, PartialEq)]
pub enum Frame {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` or RESP3 `_`.
    Null,
    NullArray,
    Array(Vec<Frame>),
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    Push(Vec<Frame>),
    Double(Vec<u8>),
    Boolean(bool),
    Verbatim(Vec<u8>, Vec<u8>),
    BigNumber(Vec<u8>),
}

/// Why a byte string is not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid RESP frame: {}", self.0)
    }
}

impl std::error::Error for FrameError {}

impl Frame {
    /// Parses one frame from the start of `buf`. Ok(None) means more bytes
    /// are needed; Ok(Some((frame, used))) gives the bytes consumed.
    pub fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
        parse_at(buf, 0, 0)
    }

    /// Encodes a command as a multibulk request.
    pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(16 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            let a = a.as_ref();
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Encodes the frame back to bytes (RESP3 types kept as RESP3).
    pub fn encode(&self, out: &mut Vec<u8>) {
        fn line(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
            out.push(marker);
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        match self {
            Frame::Simple(s) => line(out, b'+', s),
            Frame::Error(s) => line(out, b'-', s),
            Frame::Integer(n) => line(out, b':', n.to_string().as_bytes()),
            Frame::Bulk(b) => {
                line(out, b'$', b.len().to_string().as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Null => out.extend_from_slice(b"$-1\r\n"),
            Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                let marker = match self {
                    Frame::Array(_) => b'*',
                    Frame::Set(_) => b'~',
                    _ => b'>',
                };
                line(out, marker, items.len().to_string().as_bytes());
                for i in items {
                    i.encode(out);
                }
            }
            Frame::Map(pairs) => {
                line(out, b'%', pairs.len().to_string().as_bytes());
                for (k, v) in pairs {
                    k.encode(out);
                    v.encode(out);
                }
            }
            Frame::Double(d) => line(out, b',', d),
            Frame::Boolean(b) => line(out, b'#', if *b { b"t" } else { b"f" }),
            Frame::Verbatim(fmt, text) => {
                line(out, b'=', (text.len() + 4).to_string().as_bytes());
                out.extend_from_slice(fmt);
                out.push(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            Frame::BigNumber(n) => line(out, b'(', n),
        }
    }

    /// The bytes of a bulk, simple string or verbatim string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Frame::Bulk(b) | Frame::Simple(b) | Frame::Verbatim(_, b) | Frame::Double(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Frame::Integer(n) => Some(*n),
            _ => self.as_str().and_then(|s| s.parse().ok()),
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }

    /// Elements of an array, set or push frame.
    pub fn items(&self) -> Option<&[Frame]> {
        match self {
            Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => Some(v),
            _ => None,
        }
    }
}

fn find_line(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 1 < buf.len() {
        if buf[i] == b'\r' && buf[i + 1] == b'\n' {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn parse_len(body: &[u8]) -> Result<i64, FrameError> {
    std::str::from_utf8(body)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| FrameError(format!("bad length {:?}", String::from_utf8_lossy(body))))
}

type Parsed = Result<Option<(Frame, usize)>, FrameError>;

fn parse_at(buf: &[u8], start: usize, depth: usize) -> Parsed {
    if depth > MAX_DEPTH {
        return Err(FrameError("nesting too deep".into()));
    }
    if start >= buf.len() {
        return Ok(None);
    }
    let Some(eol) = find_line(buf, start + 1) else {
        return Ok(None);
    };
    let body = &buf[start + 1..eol];
    let next = eol + 2;
    let marker = buf[start];
    let frame = match marker {
        b'+' => Frame::Simple(body.to_vec()),
        b'-' => Frame::Error(body.to_vec()),
        b':' => Frame::Integer(parse_len(body)?),
        b',' => Frame::Double(body.to_vec()),
        b'(' => Frame::BigNumber(body.to_vec()),
        b'#' => match body {
            b"t" => Frame::Boolean(true),
            b"f" => Frame::Boolean(false),
            _ => return Err(FrameError("bad boolean".into())),
        },
        b'_' => Frame::Null,
        b'$' | b'=' | b'!' => {
            let len = parse_len(body)?;
            if len < 0 {
                return Ok(Some((Frame::Null, next)));
            }
            let len = len as usize;
            if len > MAX_BULK {
                return Err(FrameError("bulk too long".into()));
            }
            if buf.len() < next + len + 2 {
                return Ok(None);
            }
            let data = buf[next..next + len].to_vec();
            let end = next + len + 2;
            let frame = match marker {
                b'$' => Frame::Bulk(data),
                b'!' => Frame::Error(data),
                _ => {
                    if data.len() < 4 || data[3] != b':' {
                        return Err(FrameError("bad verbatim string".into()));
                    }
                    Frame::Verbatim(data[..3].to_vec(), data[4..].to_vec())
                }
            };
            return Ok(Some((frame, end)));
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = parse_len(body)?;
            if n < 0 {
                return Ok(Some((Frame::NullArray, next)));
            }
            let count = if marker == b'%' || marker == b'|' {
                2 * n as usize
            } else {
                n as usize
            };
            let mut items = Vec::with_capacity(count.min(4096));
            let mut pos = next;
            for _ in 0..count {
                match parse_at(buf, pos, depth + 1)? {
                    Some((f, p)) => {
                        items.push(f);
                        pos = p;
                    }
                    None => return Ok(None),
                }
            }
            let frame = match marker {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                b'>' => Frame::Push(items),
                _ => {
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    if marker == b'|' {
                        // An attribute precedes the real reply; return that reply.
                        return match parse_at(buf, pos, depth + 1)? {
                            Some(x) => Ok(Some(x)),
                            None => Ok(None),
                        };
                    }
                    Frame::Map(pairs)
                }
            };
            return Ok(Some((frame, pos)));
        }
        other => return Err(FrameError(format!("unknown type byte {:?}", other as char))),
    };
    Ok(Some((frame, next)))
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match self {
            Frame::Simple(b) => write!(f, "+{}", s(b)),
            Frame::Error(b) => write!(f, "-{}", s(b)),
            Frame::Integer(n) => write!(f, ":{n}"),
            Frame::Bulk(b) => write!(f, "{:?}", s(b)),
            Frame::Null => write!(f, "(nil)"),
            Frame::NullArray => write!(f, "(nil array)"),
            Frame::Array(v) => f.debug_list().entries(v).finish(),
            Frame::Set(v) => write!(f, "set{:?}", v),
            Frame::Push(v) => write!(f, "push{:?}", v),
            Frame::Map(p) => f
                .debug_map()
                .entries(p.iter().map(|(k, v)| (k, v)))
                .finish(),
            Frame::Double(b) => write!(f, ",{}", s(b)),
            Frame::Boolean(b) => write!(f, "#{b}"),
            Frame::Verbatim(fm, b) => write!(f, "={}:{}", s(fm), s(b)),
            Frame::BigNumber(b) => write!(f, "({}", s(b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let input = b"*3\r\n$3\r\nfoo\r\n:5\r\n%1\r\n+a\r\n,1.5\r\n";
        let (frame, used) = Frame::parse(input).unwrap().unwrap();
        assert_eq!(used, input.len());
        let mut out = Vec::new();
        frame.encode(&mut out);
        assert_eq!(out, input.to_vec());
        assert_eq!(Frame::parse(b"$5\r\nab").unwrap(), None);
        assert!(Frame::parse(b"?x\r\n").is_err());
    }
}
