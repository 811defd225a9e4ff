//! Legacy blobs Redis < 7.0 wrote: ziplists (types 10, 12, 13 and the nodes
//! of quicklist v1, type 14) and zipmaps (type 9, Redis <= 2.4). Only
//! decoding is needed: 7.0 converts them to listpacks when loading.

use super::listpack::LpItem;

const ZL_HEADER: usize = 10;
const ZL_END: u8 = 0xff;
const ZL_BIGLEN: u8 = 0xfe;

/// Validates a ziplist blob and returns its elements.
pub fn decode(blob: &[u8]) -> Result<Vec<LpItem<'_>>, String> {
    if blob.len() < ZL_HEADER + 1 {
        return Err(format!("ziplist of {} bytes is too short", blob.len()));
    }
    let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    if total != blob.len() {
        return Err(format!(
            "ziplist header says {total} bytes but the blob has {}",
            blob.len()
        ));
    }
    let tail = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
    let declared = u16::from_le_bytes([blob[8], blob[9]]);
    if blob[blob.len() - 1] != ZL_END {
        return Err("ziplist does not end with 0xFF".into());
    }
    let end = blob.len() - 1;
    let mut items = Vec::new();
    let mut pos = ZL_HEADER;
    let mut prev_size = 0usize;
    let mut last_entry = ZL_HEADER;
    while pos < end {
        let (item, size, prevlen) = decode_entry(&blob[pos..end])
            .map_err(|e| format!("ziplist entry at blob offset {pos}: {e}"))?;
        if prevlen != prev_size {
            return Err(format!(
                "ziplist entry at blob offset {pos} has prevlen {prevlen}, expected {prev_size}"
            ));
        }
        items.push(item);
        last_entry = pos;
        prev_size = size;
        pos += size;
    }
    if tail != last_entry {
        return Err(format!(
            "ziplist tail offset {tail} does not point at the last entry ({last_entry})"
        ));
    }
    if declared != u16::MAX && declared as usize != items.len() {
        return Err(format!(
            "ziplist header counts {declared} entries but holds {}",
            items.len()
        ));
    }
    Ok(items)
}

/// Decodes one entry: returns the element, the entry's total size and its
/// recorded prevlen.
fn decode_entry(b: &[u8]) -> Result<(LpItem<'_>, usize, usize), String> {
    let need = |n: usize| -> Result<&[u8], String> {
        b.get(..n)
            .ok_or_else(|| "entry runs past the end".to_string())
    };
    let (prevlen, mut p) = match b[0] {
        ZL_END => return Err("unexpected terminator".into()),
        ZL_BIGLEN => {
            let h = need(5)?;
            (u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize, 5)
        }
        n => (n as usize, 1),
    };
    let enc = *need(p + 1)?.last().unwrap_or(&0);
    let (len_bytes, str_len) = match enc >> 6 {
        0 => (1, Some((enc & 0x3f) as usize)),
        1 => {
            let h = need(p + 2)?;
            (2, Some(((enc & 0x3f) as usize) << 8 | h[p + 1] as usize))
        }
        2 => {
            let h = need(p + 5)?;
            let len = u32::from_be_bytes([h[p + 1], h[p + 2], h[p + 3], h[p + 4]]) as usize;
            (5, Some(len))
        }
        _ => (1, None),
    };
    p += len_bytes;
    if let Some(len) = str_len {
        let total = p
            .checked_add(len)
            .ok_or_else(|| "string length overflows".to_string())?;
        return Ok((LpItem::Str(&need(total)?[p..]), total, prevlen));
    }
    let (value, width) = match enc {
        0xc0 => {
            let h = need(p + 2)?;
            (i16::from_le_bytes([h[p], h[p + 1]]) as i64, 2)
        }
        0xd0 => {
            let h = need(p + 4)?;
            (
                i32::from_le_bytes([h[p], h[p + 1], h[p + 2], h[p + 3]]) as i64,
                4,
            )
        }
        0xe0 => {
            let h = need(p + 8)?;
            let mut w = [0u8; 8];
            w.copy_from_slice(&h[p..p + 8]);
            (i64::from_le_bytes(w), 8)
        }
        0xf0 => {
            let h = need(p + 3)?;
            (
                (i32::from_le_bytes([0, h[p], h[p + 1], h[p + 2]]) >> 8) as i64,
                3,
            )
        }
        0xfe => {
            let h = need(p + 1)?;
            (h[p] as i8 as i64, 1)
        }
        0xf1..=0xfd => (((enc & 0x0f) as i64) - 1, 0),
        other => return Err(format!("unknown encoding byte 0x{other:02x}")),
    };
    Ok((LpItem::Int(value), p + width, prevlen))
}

/// A zipmap entry: field and value.
pub type FieldValue<'a> = (&'a [u8], &'a [u8]);

/// Validates a zipmap blob and returns its (field, value) pairs.
pub fn decode_zipmap(blob: &[u8]) -> Result<Vec<FieldValue<'_>>, String> {
    let declared = *blob.first().ok_or("zipmap is empty")?;
    let mut pos = 1;
    let mut pairs = Vec::new();
    loop {
        let at = pos;
        let (key_len, used) = zipmap_len(blob, pos)?;
        let Some(key_len) = key_len else {
            pos += used;
            break;
        };
        pos += used;
        let key = slice(blob, pos, key_len)?;
        pos += key_len;
        let (value_len, used) = zipmap_len(blob, pos)?;
        let value_len = value_len.ok_or(format!("zipmap entry at {at} has no value"))?;
        pos += used;
        let free = *blob.get(pos).ok_or("zipmap value runs past the end")? as usize;
        pos += 1;
        let value = slice(blob, pos, value_len)?;
        pos += value_len + free;
        pairs.push((key, value));
    }
    if pos != blob.len() {
        return Err("zipmap has bytes after its terminator".into());
    }
    if declared < 254 && declared as usize != pairs.len() {
        return Err(format!(
            "zipmap header counts {declared} entries but holds {}",
            pairs.len()
        ));
    }
    Ok(pairs)
}

/// A zipmap length at `pos`: (None for the terminator, bytes used).
fn zipmap_len(blob: &[u8], pos: usize) -> Result<(Option<usize>, usize), String> {
    match blob.get(pos) {
        None => Err("zipmap runs past the end".into()),
        Some(0xff) => Ok((None, 1)),
        Some(0xfe) => {
            let h = slice(blob, pos + 1, 4)?;
            Ok((
                Some(u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize),
                5,
            ))
        }
        Some(&n) => Ok((Some(n as usize), 1)),
    }
}

fn slice(blob: &[u8], pos: usize, len: usize) -> Result<&[u8], String> {
    pos.checked_add(len)
        .and_then(|end| blob.get(pos..end))
        .ok_or_else(|| "zipmap runs past the end".to_string())
}

/// Builds a ziplist the way Redis < 7.0 did. Redis 7.0 never writes one:
/// this exists to test loaders (ours and, in interop tests, Redis's).
pub fn encode(elements: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    let mut last = ZL_HEADER;
    for e in elements {
        let start = body.len();
        last = ZL_HEADER + start;
        if prev < 254 {
            body.push(prev as u8);
        } else {
            body.push(ZL_BIGLEN);
            body.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        match crate::util::number::parse_i64(e) {
            Some(v @ 0..=12) => body.push(0xf1 + v as u8),
            Some(v) if i8::try_from(v).is_ok() => {
                body.push(0xfe);
                body.push(v as i8 as u8);
            }
            Some(v) if i16::try_from(v).is_ok() => {
                body.push(0xc0);
                body.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => {
                body.push(0xf0);
                body.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            Some(v) if i32::try_from(v).is_ok() => {
                body.push(0xd0);
                body.extend_from_slice(&(v as i32).to_le_bytes());
            }
            Some(v) => {
                body.push(0xe0);
                body.extend_from_slice(&v.to_le_bytes());
            }
            None if e.len() < 64 => {
                body.push(e.len() as u8);
                body.extend_from_slice(e);
            }
            None if e.len() < 16384 => {
                body.push(0x40 | (e.len() >> 8) as u8);
                body.push((e.len() & 0xff) as u8);
                body.extend_from_slice(e);
            }
            None => {
                body.push(0x80);
                body.extend_from_slice(&(e.len() as u32).to_be_bytes());
                body.extend_from_slice(e);
            }
        }
        prev = body.len() - start;
    }
    let mut out = Vec::new();
    out.extend_from_slice(&((ZL_HEADER + body.len() + 1) as u32).to_le_bytes());
    out.extend_from_slice(&(last as u32).to_le_bytes());
    out.extend_from_slice(&(elements.len().min(65535) as u16).to_le_bytes());
    out.extend_from_slice(&body);
    out.push(ZL_END);
    out
}

/// Builds a zipmap (a Redis <= 2.4 small hash), with two bytes of free
/// space after each value as zipmaps had. For tests, like `encode`.
pub fn encode_zipmap(pairs: &[FieldValue<'_>]) -> Vec<u8> {
    let mut out = vec![pairs.len().min(254) as u8];
    let put_len = |out: &mut Vec<u8>, n: usize| {
        if n < 254 {
            out.push(n as u8);
        } else {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
    };
    for (k, v) in pairs {
        put_len(&mut out, k.len());
        out.extend_from_slice(k);
        put_len(&mut out, v.len());
        out.push(2); // two bytes of free space after the value
        out.extend_from_slice(v);
        out.extend_from_slice(b"..");
    }
    out.push(0xff);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ziplist_round_trip() {
        let big = vec![b'z'; 300];
        let huge = vec![b'h'; 17000];
        let elements: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"0",
            b"12",
            b"13",
            b"-1",
            b"300",
            b"-70000",
            b"8388608",
            b"2147483648",
            b"-9223372036854775808",
            b"007",
            &big,
            b"after-big",
            &huge,
        ];
        let blob = encode(&elements);
        let items = decode(&blob).unwrap();
        let got: Vec<Vec<u8>> = items.iter().map(|i| i.to_bytes()).collect();
        let want: Vec<Vec<u8>> = elements.iter().map(|e| e.to_vec()).collect();
        assert_eq!(got, want);
        assert!(decode(&encode(&[])).unwrap().is_empty());
    }

    #[test]
    fn ziplist_corruption() {
        let good = encode(&[b"a", b"b"]);
        for (i, v) in [(0usize, 99u8), (4, 99), (8, 7), (10, 5)] {
            let mut bad = good.clone();
            bad[i] = v;
            assert!(decode(&bad).is_err(), "byte {i}");
        }
        let mut bad = good.clone();
        // An immediate-int encoding shrinks the entry: the next prevlen breaks.
        bad[11] = 0xf8;
        assert!(decode(&bad).is_err());
        assert!(decode(&good[..5]).is_err());
    }

    #[test]
    fn zipmap_round_trip() {
        let long = vec![b'v'; 300];
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"f1", b"v1"), (b"f2", &long), (b"", b"")];
        let blob = encode_zipmap(&pairs);
        assert_eq!(decode_zipmap(&blob).unwrap(), pairs);
        assert!(decode_zipmap(&blob[..blob.len() - 1]).is_err());
        let mut bad = blob.clone();
        bad[0] = 5;
        assert!(decode_zipmap(&bad).is_err());
        assert!(decode_zipmap(&[]).is_err());
        assert_eq!(decode_zipmap(&[0, 0xff]).unwrap(), vec![]);
    }
}
