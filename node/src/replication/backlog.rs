//! The replication backlog: a circular buffer holding the most recent
//! `repl-backlog-size` bytes of the stream, so a replica that lost its link
//! can continue from where it stopped (`+CONTINUE`) instead of a full sync.

/// Circular record of the stream tail.
#[derive(Debug)]
pub struct Backlog {
    buf: Vec<u8>,
    /// Where the next byte goes in `buf`.
    write_pos: usize,
    /// Bytes of history held (≤ buf.len()).
    histlen: usize,
    /// Stream offset of the last byte held (master_repl_offset).
    end_offset: u64,
}

impl Backlog {
    /// An empty backlog whose next byte is `offset + 1`.
    pub fn new(size: usize, offset: u64) -> Self {
        Backlog {
            buf: vec![0; size.max(1)],
            write_pos: 0,
            histlen: 0,
            end_offset: offset,
        }
    }

    pub fn size(&self) -> usize {
        self.buf.len()
    }

    pub fn histlen(&self) -> usize {
        self.histlen
    }

    /// Offset of the first byte held (repl_backlog_first_byte_offset).
    pub fn first_byte_offset(&self) -> u64 {
        self.end_offset + 1 - self.histlen as u64
    }

    pub fn append(&mut self, mut data: &[u8]) {
        self.end_offset += data.len() as u64;
        let size = self.buf.len();
        if data.len() > size {
            data = &data[data.len() - size..];
        }
        while !data.is_empty() {
            let room = size - self.write_pos;
            let n = room.min(data.len());
            self.buf[self.write_pos..self.write_pos + n].copy_from_slice(&data[..n]);
            self.write_pos = (self.write_pos + n) % size;
            self.histlen = (self.histlen + n).min(size);
            data = &data[n..];
        }
    }

    /// The bytes from stream offset `from` (inclusive) to the end, or None
    /// when `from` is not inside the held history (+1 past the end is
    /// valid and yields nothing).
    pub fn copy_from(&self, from: u64) -> Option<Vec<u8>> {
        let first = self.first_byte_offset();
        if from < first || from > self.end_offset + 1 {
            return None;
        }
        let skip = (from - first) as usize;
        let len = self.histlen - skip;
        let size = self.buf.len();
        let start = (self.write_pos + size - self.histlen + skip) % size;
        let mut out = Vec::with_capacity(len);
        let first_part = (size - start).min(len);
        out.extend_from_slice(&self.buf[start..start + first_part]);
        out.extend_from_slice(&self.buf[..len - first_part]);
        Some(out)
    }

    /// A backlog of another size keeping as much of the tail as fits.
    pub fn resized(&self, size: usize) -> Backlog {
        let mut b = Backlog::new(size, self.first_byte_offset() - 1);
        if let Some(data) = self.copy_from(self.first_byte_offset()) {
            b.append(&data);
        }
        b
    }

    /// Moves the end to `offset` with no history (a master restarted from
    /// its dump continues the old history's offsets).
    pub fn rebase(&mut self, offset: u64) {
        self.end_offset = offset;
        self.histlen = 0;
        self.write_pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::Backlog;

    #[test]
    fn wraps_and_serves_ranges() {
        let mut b = Backlog::new(8, 100);
        assert_eq!(b.first_byte_offset(), 101);
        assert_eq!(b.copy_from(101), Some(vec![]));
        b.append(b"abcdef");
        assert_eq!(b.copy_from(101).unwrap(), b"abcdef");
        assert_eq!(b.copy_from(104).unwrap(), b"def");
        b.append(b"ghijk");
        // 11 bytes written into 8: the first 3 are gone.
        assert_eq!(b.first_byte_offset(), 104);
        assert_eq!(b.copy_from(104).unwrap(), b"defghijk");
        assert_eq!(b.copy_from(110).unwrap(), b"jk");
        assert_eq!(b.copy_from(112).unwrap(), b"");
        assert!(b.copy_from(103).is_none());
        assert!(b.copy_from(113).is_none());
        b.append(b"0123456789ab");
        assert_eq!(b.copy_from(b.first_byte_offset()).unwrap(), b"456789ab");
        let r = b.resized(4);
        assert_eq!(r.copy_from(r.first_byte_offset()).unwrap(), b"89ab");
        assert_eq!(r.first_byte_offset(), 120);
    }
}
