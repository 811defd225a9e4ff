//! Writes replies straight into a client's output buffer, in the protocol
//! version that client negotiated. Command handlers call these methods; no
//! intermediate reply tree is built on the hot path.

use crate::util::number::format_double;

/// An output buffer plus the protocol version it is written in.
#[derive(Debug, Default)]
pub struct Reply {
    pub buf: Vec<u8>,
    pub resp3: bool,
}

/// Kinds of aggregate whose length is only known after the elements are written.
#[derive(Clone, Copy, Debug)]
pub enum Aggregate {
    Array,
    Map,
    Set,
}

/// A placeholder left by `begin_deferred`, filled in by `end_deferred`.
#[derive(Debug)]
pub struct Deferred {
    at: usize,
    kind: Aggregate,
}

impl Reply {
    pub fn new(resp3: bool) -> Self {
        Reply {
            buf: Vec::with_capacity(256),
            resp3,
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Drops everything written after `mark` (used to undo a partial reply).
    pub fn truncate(&mut self, mark: usize) {
        self.buf.truncate(mark);
    }

    fn header(&mut self, marker: u8, n: i64) {
        self.buf.push(marker);
        let mut tmp = itoa::Buffer::new();
        self.buf.extend_from_slice(tmp.format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    pub fn simple(&mut self, s: &str) {
        self.simple_bytes(s.as_bytes());
    }

    pub fn simple_bytes(&mut self, s: &[u8]) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error line. `text` carries its code (`ERR ...`, `WRONGTYPE ...`);
    /// CR and LF are replaced by spaces as Redis does.
    pub fn error(&mut self, text: &str) {
        self.buf.push(b'-');
        self.buf.extend(
            text.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk_str(&mut self, s: &str) {
        self.bulk(s.as_bytes());
    }

    pub fn bulk_int(&mut self, n: i64) {
        let mut tmp = itoa::Buffer::new();
        self.bulk(tmp.format(n).as_bytes());
    }

    /// The null for a missing scalar: `$-1` (RESP2) or `_` (RESP3).
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null for a missing aggregate: `*-1` (RESP2) or `_` (RESP3).
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    pub fn array_len(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` pairs: `%n` in RESP3, a flat `*2n` array in RESP2.
    pub fn map_len(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    pub fn set_len(&mut self, n: usize) {
        self.header(if self.resp3 { b'~' } else { b'*' }, n as i64);
    }

    /// Out-of-band data (pub/sub messages): `>n` in RESP3, `*n` in RESP2.
    pub fn push_len(&mut self, n: usize) {
        self.header(if self.resp3 { b'>' } else { b'*' }, n as i64);
    }

    pub fn double(&mut self, v: f64) {
        let text = format_double(v);
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(&text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(&text);
        }
    }

    pub fn boolean(&mut self, v: bool) {
        if self.resp3 {
            self.buf
                .extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(v as i64);
        }
    }

    /// A verbatim string (`=len txt:...` in RESP3, a bulk in RESP2).
    pub fn verbatim(&mut self, text: &[u8], format: &str) {
        if self.resp3 {
            self.header(b'=', (text.len() + 4) as i64);
            self.buf.extend_from_slice(format.as_bytes());
            self.buf.push(b':');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    pub fn bulks<'a, I: IntoIterator<Item = &'a [u8]>>(&mut self, items: I)
    where
        I::IntoIter: ExactSizeIterator,
    {
        let it = items.into_iter();
        self.array_len(it.len());
        for item in it {
            self.bulk(item);
        }
    }

    /// Starts an aggregate whose length is not known yet.
    pub fn begin_deferred(&mut self, kind: Aggregate) -> Deferred {
        Deferred {
            at: self.buf.len(),
            kind,
        }
    }

    /// Inserts the header of a deferred aggregate with `n` elements (pairs for maps).
    pub fn end_deferred(&mut self, d: Deferred, n: usize) {
        let (marker, count) = match d.kind {
            Aggregate::Array => (b'*', n),
            Aggregate::Set => (if self.resp3 { b'~' } else { b'*' }, n),
            Aggregate::Map => {
                if self.resp3 {
                    (b'%', n)
                } else {
                    (b'*', 2 * n)
                }
            }
        };
        let mut header = Vec::with_capacity(16);
        header.push(marker);
        let mut tmp = itoa::Buffer::new();
        header.extend_from_slice(tmp.format(count).as_bytes());
        header.extend_from_slice(b"\r\n");
        self.buf.splice(d.at..d.at, header);
    }

    /// Appends already-encoded protocol bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_shapes() {
        let mut r2 = Reply::new(false);
        r2.map_len(1);
        r2.bulk(b"a");
        r2.double(1.5);
        r2.null();
        r2.boolean(true);
        assert_eq!(r2.buf, b"*2\r\n$1\r\na\r\n$3\r\n1.5\r\n$-1\r\n:1\r\n");
        let mut r3 = Reply::new(true);
        r3.map_len(1);
        r3.bulk(b"a");
        r3.double(1.5);
        r3.null();
        r3.boolean(true);
        assert_eq!(r3.buf, b"%1\r\n$1\r\na\r\n,1.5\r\n_\r\n#t\r\n");
    }

    #[test]
    fn deferred_length() {
        let mut r = Reply::new(false);
        r.int(7);
        let d = r.begin_deferred(Aggregate::Array);
        r.bulk(b"x");
        r.bulk(b"y");
        r.end_deferred(d, 2);
        assert_eq!(r.buf, b":7\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n");
    }
}
