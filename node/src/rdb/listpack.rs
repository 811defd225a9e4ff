//! Listpack: the compact blob Redis 7.0 stores small hashes, sorted sets and
//! quicklist nodes in (types 16, 17, 18).
//!
//! `[total_bytes u32 LE][count u16 LE][entries][0xFF]`; each entry is an
//! encoding byte (+ data) followed by a "backlen" holding the entry's size so
//! the list can also be walked backwards.

use crate::util::number::parse_i64;

const HEADER: usize = 6;
const TERMINATOR: u8 = 0xff;
/// Header count meaning "too many to count here, walk the entries".
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One decoded element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LpItem<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl LpItem<'_> {
    /// The element as Redis returns it to clients (integers in decimal).
    pub fn to_bytes(self) -> Vec<u8> {
        match self {
            LpItem::Int(v) => v.to_string().into_bytes(),
            LpItem::Str(s) => s.to_vec(),
        }
    }

    /// The element as stored in a value, without an intermediate Vec.
    pub fn to_compact(self) -> crate::db::CompactBytes {
        match self {
            LpItem::Int(v) => {
                crate::db::CompactBytes::new(itoa::Buffer::new().format(v).as_bytes())
            }
            LpItem::Str(s) => crate::db::CompactBytes::new(s),
        }
    }
}

/// Incrementally builds a listpack.
#[derive(Debug)]
pub struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    pub fn new() -> Self {
        Builder {
            buf: vec![0; HEADER],
            count: 0,
        }
    }

    /// Appends an element; canonical decimal integers get an integer
    /// encoding, as Redis's lpAppend does.
    pub fn push(&mut self, element: &[u8]) {
        let start = self.buf.len();
        match as_int(element) {
            Some(v) => encode_int(&mut self.buf, v),
            None => encode_str(&mut self.buf, element),
        }
        let size = self.buf.len() - start;
        push_backlen(&mut self.buf, size);
        self.count += 1;
    }

    /// Bytes the listpack would have if finished now.
    pub fn size(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(TERMINATOR);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(COUNT_UNKNOWN as usize) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// The integer a listpack stores for `s`, if it is one (string2ll rules).
fn as_int(s: &[u8]) -> Option<i64> {
    if s.len() > 20 {
        return None;
    }
    parse_i64(s)
}

fn encode_int(buf: &mut Vec<u8>, v: i64) {
    if (0..=127).contains(&v) {
        buf.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = if v < 0 { v + 8192 } else { v } as u16;
        buf.push(0xc0 | (u >> 8) as u8);
        buf.push((u & 0xff) as u8);
    } else if i16::try_from(v).is_ok() {
        buf.push(0xf1);
        buf.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        buf.push(0xf2);
        buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if i32::try_from(v).is_ok() {
        buf.push(0xf3);
        buf.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        buf.push(0xf4);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

fn encode_str(buf: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 64 {
        buf.push(0x80 | len as u8);
    } else if len < 4096 {
        buf.push(0xe0 | (len >> 8) as u8);
        buf.push((len & 0xff) as u8);
    } else {
        buf.push(0xf0);
        buf.extend_from_slice(&(len as u32).to_le_bytes());
    }
    buf.extend_from_slice(s);
}

/// Size in bytes of the backlen for an entry of `size` bytes.
fn backlen_size(size: usize) -> usize {
    match size {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Writes the backlen: 7-bit groups, most significant first; every byte
/// after the first has the high bit set.
fn push_backlen(buf: &mut Vec<u8>, size: usize) {
    let n = backlen_size(size);
    for i in (0..n).rev() {
        let group = ((size >> (7 * i)) & 0x7f) as u8;
        buf.push(if i == n - 1 { group } else { group | 0x80 });
    }
}

/// Total bytes (encoding, data, backlen) `element` takes in a listpack.
pub fn entry_size(element: &[u8]) -> usize {
    let body = match as_int(element) {
        Some(v) => match v {
            0..=127 => 1,
            -4096..=4095 => 2,
            _ if i16::try_from(v).is_ok() => 3,
            _ if (-(1 << 23)..(1 << 23)).contains(&v) => 4,
            _ if i32::try_from(v).is_ok() => 5,
            _ => 9,
        },
        None => match element.len() {
            n if n < 64 => 1 + n,
            n if n < 4096 => 2 + n,
            n => 5 + n,
        },
    };
    body + backlen_size(body)
}

/// Builds a listpack holding `elements`.
pub fn encode<'a>(elements: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut b = Builder::new();
    for e in elements {
        b.push(e);
    }
    b.finish()
}

/// Validates a listpack blob completely and returns its elements.
pub fn decode(blob: &[u8]) -> Result<Vec<LpItem<'_>>, String> {
    if blob.len() < HEADER + 1 {
        return Err(format!("listpack of {} bytes is too short", blob.len()));
    }
    let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    if total != blob.len() {
        return Err(format!(
            "listpack header says {total} bytes but the blob has {}",
            blob.len()
        ));
    }
    if blob[blob.len() - 1] != TERMINATOR {
        return Err("listpack does not end with 0xFF".into());
    }
    let declared = u16::from_le_bytes([blob[4], blob[5]]);
    let end = blob.len() - 1;
    let mut items = Vec::new();
    let mut pos = HEADER;
    while pos < end {
        let (item, size) = decode_entry(&blob[pos..end])
            .map_err(|e| format!("listpack entry at blob offset {pos}: {e}"))?;
        let back_at = pos + size;
        let back_len = backlen_size(size);
        // Checked against the encoding on the stack: this runs per element.
        let mut expected = [0u8; 5];
        for (i, b) in expected[..back_len].iter_mut().enumerate() {
            let shift = 7 * (back_len - 1 - i);
            let group = ((size >> shift) & 0x7f) as u8;
            *b = if i == 0 { group } else { group | 0x80 };
        }
        if blob.get(back_at..back_at + back_len) != Some(&expected[..back_len])
            || back_at + back_len > end
        {
            return Err(format!(
                "listpack entry at blob offset {pos} has a bad backlen"
            ));
        }
        items.push(item);
        pos = back_at + back_len;
    }
    if declared != COUNT_UNKNOWN && declared as usize != items.len() {
        return Err(format!(
            "listpack header counts {declared} elements but holds {}",
            items.len()
        ));
    }
    Ok(items)
}

/// Decodes the encoding and data at the start of `b`; returns the element and
/// the encoding+data size.
fn decode_entry(b: &[u8]) -> Result<(LpItem<'_>, usize), String> {
    let need = |n: usize| -> Result<&[u8], String> {
        b.get(..n)
            .ok_or_else(|| "entry runs past the end".to_string())
    };
    let first = b[0];
    Ok(match first {
        0x00..=0x7f => (LpItem::Int(first as i64), 1),
        0x80..=0xbf => {
            let len = (first & 0x3f) as usize;
            (LpItem::Str(&need(1 + len)?[1..]), 1 + len)
        }
        0xc0..=0xdf => {
            let h = need(2)?;
            let u = ((h[0] & 0x1f) as i64) << 8 | h[1] as i64;
            let v = if u >= 4096 { u - 8192 } else { u };
            (LpItem::Int(v), 2)
        }
        0xe0..=0xef => {
            let h = need(2)?;
            let len = ((h[0] & 0x0f) as usize) << 8 | h[1] as usize;
            (LpItem::Str(&need(2 + len)?[2..]), 2 + len)
        }
        0xf0 => {
            let h = need(5)?;
            let len = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
            let total = len
                .checked_add(5)
                .ok_or_else(|| "string length overflows".to_string())?;
            (LpItem::Str(&need(total)?[5..]), total)
        }
        0xf1 => {
            let h = need(3)?;
            (LpItem::Int(i16::from_le_bytes([h[1], h[2]]) as i64), 3)
        }
        0xf2 => {
            let h = need(4)?;
            // Sign-extend the 24-bit value by placing it in the top bytes.
            let v = i32::from_le_bytes([0, h[1], h[2], h[3]]) >> 8;
            (LpItem::Int(v as i64), 4)
        }
        0xf3 => {
            let h = need(5)?;
            (
                LpItem::Int(i32::from_le_bytes([h[1], h[2], h[3], h[4]]) as i64),
                5,
            )
        }
        0xf4 => {
            let h = need(9)?;
            let mut w = [0u8; 8];
            w.copy_from_slice(&h[1..9]);
            (LpItem::Int(i64::from_le_bytes(w)), 9)
        }
        0xff => return Err("unexpected terminator".into()),
        other => return Err(format!("unknown encoding byte 0x{other:02x}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_example_hash() {
        // From a 7.0 dump: hash f1 -> v1, f2 -> 200.
        let expected = [
            0x16, 0, 0, 0, 4, 0, 0x82, b'f', b'1', 3, 0x82, b'v', b'1', 3, 0x82, b'f', b'2', 3,
            0xc0, 0xc8, 2, 0xff,
        ];
        let blob = encode([&b"f1"[..], b"v1", b"f2", b"200"]);
        assert_eq!(blob, expected);
        let items = decode(&blob).unwrap();
        assert_eq!(items[3], LpItem::Int(200));
        assert_eq!(items[0], LpItem::Str(b"f1"));
    }

    #[test]
    fn every_encoding_round_trips() {
        let long_a = vec![b'a'; 100];
        let long_b = vec![b'b'; 5000];
        let long_c = vec![b'c'; 20000];
        let ints: Vec<Vec<u8>> = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8388607,
            -8388608,
            8388608,
            i32::MAX as i64,
            i32::MIN as i64,
            i32::MAX as i64 + 1,
            i64::MAX,
            i64::MIN,
        ]
        .iter()
        .map(|v| v.to_string().into_bytes())
        .collect();
        let mut elements: Vec<&[u8]> = vec![b"", b"x", b"007", b"-0", b"+1", b"1.5"];
        elements.push(&long_a);
        elements.push(&long_b);
        elements.push(&long_c);
        elements.extend(ints.iter().map(|v| v.as_slice()));
        let blob = encode(elements.iter().copied());
        let mut b = Builder::new();
        for e in &elements {
            let before = b.buf.len();
            b.push(e);
            assert_eq!(b.buf.len() - before, entry_size(e), "{e:?}");
        }
        let decoded = decode(&blob).unwrap();
        assert_eq!(decoded.len(), elements.len());
        for (d, e) in decoded.iter().zip(&elements) {
            assert_eq!(d.to_bytes(), e.to_vec());
        }
        assert!(matches!(decoded[2], LpItem::Str(b"007")));
        assert!(matches!(decoded[9], LpItem::Int(0)));
    }

    #[test]
    fn backlen_forms() {
        for (size, bytes) in [
            (1usize, vec![1u8]),
            (127, vec![127]),
            (200, vec![0x01, 0xc8]),
            (16383, vec![0x00, 0xff, 0xff]),
            (2097151, vec![0x00, 0xff, 0xff, 0xff]),
        ] {
            let mut v = Vec::new();
            push_backlen(&mut v, size);
            assert_eq!(v, bytes, "size {size}");
        }
    }

    #[test]
    fn corrupt_blobs_are_rejected() {
        let good = encode([&b"a"[..], b"12"]);
        assert!(decode(&good).is_ok());
        let mut bad = good.clone();
        bad[0] += 1;
        assert!(decode(&bad).is_err(), "size mismatch");
        let mut bad = good.clone();
        bad[4] = 3;
        assert!(decode(&bad).is_err(), "count mismatch");
        let mut bad = good.clone();
        bad[4] = 0xff;
        bad[5] = 0xff;
        assert!(decode(&bad).is_ok(), "unknown count is walked");
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] = 0;
        assert!(decode(&bad).is_err(), "terminator");
        let mut bad = good.clone();
        bad[8] = 9;
        assert!(decode(&bad).is_err(), "backlen");
        let mut bad = good.clone();
        bad[6] = 0xf5;
        assert!(decode(&bad).is_err(), "encoding");
        let mut bad = good;
        bad[6] = 0xf0;
        assert!(decode(&bad).is_err(), "long string past end");
        assert!(decode(&[7, 0, 0, 0, 0, 0, 0xff]).unwrap().is_empty());
        assert!(decode(&[]).is_err());
    }
}
