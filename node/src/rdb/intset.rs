//! Intset: the blob of small all-integer sets (type 11).
//!
//! `[width u32 LE][count u32 LE][count × width-byte LE integers]`, members
//! unique and ascending, width the smallest of 2/4/8 that holds them all.

/// Encodes sorted, unique integers. None when `values` is empty (an intset
/// must hold at least one member).
pub fn encode(values: &[i64]) -> Option<Vec<u8>> {
    if values.is_empty() || values.len() > u32::MAX as usize {
        return None;
    }
    let width = values.iter().map(|&v| width_of(v)).max().unwrap_or(2);
    let mut out = Vec::with_capacity(8 + values.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    Some(out)
}

fn width_of(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

/// Validates an intset blob and returns its members.
pub fn decode(blob: &[u8]) -> Result<Vec<i64>, String> {
    if blob.len() < 8 {
        return Err(format!("intset of {} bytes is too short", blob.len()));
    }
    let width = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(format!("intset has invalid width {width}"));
    }
    let count = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
    if count == 0 {
        return Err("intset is empty".into());
    }
    if (blob.len() - 8) / width != count || !(blob.len() - 8).is_multiple_of(width) {
        return Err(format!(
            "intset counts {count} members of {width} bytes but has {} data bytes",
            blob.len() - 8
        ));
    }
    let mut values = Vec::with_capacity(count);
    for chunk in blob[8..].chunks_exact(width) {
        let v = match width {
            2 => i16::from_le_bytes([chunk[0], chunk[1]]) as i64,
            4 => i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as i64,
            _ => {
                let mut w = [0u8; 8];
                w.copy_from_slice(chunk);
                i64::from_le_bytes(w)
            }
        };
        if values.last().is_some_and(|&prev| prev >= v) {
            return Err("intset members are not sorted and unique".into());
        }
        values.push(v);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_example() {
        let blob = encode(&[1, 2, 3]).unwrap();
        assert_eq!(blob, [2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 2, 0, 3, 0]);
        assert_eq!(decode(&blob).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn widths() {
        for set in [
            vec![-5i64, 70000],
            vec![i64::MIN, 0, i64::MAX],
            vec![i16::MIN as i64],
        ] {
            let blob = encode(&set).unwrap();
            assert_eq!(decode(&blob).unwrap(), set);
        }
        assert_eq!(encode(&[70000]).unwrap()[0], 4);
        assert_eq!(encode(&[1 << 40]).unwrap()[0], 8);
        assert!(encode(&[]).is_none());
    }

    #[test]
    fn corrupt() {
        assert!(decode(&[2, 0, 0, 0, 0, 0, 0, 0]).is_err(), "empty");
        assert!(decode(&[3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0]).is_err(), "width");
        assert!(decode(&[2, 0, 0, 0, 2, 0, 0, 0, 1, 0]).is_err(), "short");
        assert!(
            decode(&[2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 0]).is_err(),
            "order"
        );
        assert!(
            decode(&[2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 1, 0]).is_err(),
            "dup"
        );
        assert!(decode(&[2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0]).is_err());
        assert!(decode(&[2, 0, 0]).is_err());
    }
}
