//! SORT and SORT_RO.
//!
//! `SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC]
//! [ALPHA] [STORE destination]` sorts the elements of a list, set or sorted
//! set numerically (or ALPHA: as strings), optionally by the values of other
//! keys (`BY weight_*`, or a hash field `BY h_*->field`), and returns them or
//! other keys' values (`GET`), or stores the result as a list.

use std::cmp::Ordering;
use std::collections::VecDeque;

use bytes::Bytes;

use crate::commands::args::{eq_ic, int};
use crate::commands::{CmdError, CmdResult};
use crate::db::{CompactBytes, Db, Value};
use crate::server::context::Ctx;

/// The parsed options.
#[derive(Debug, Default)]
struct SortOptions {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    /// Negative: no limit.
    limit_count: i64,
    store: Option<Bytes>,
    by: Option<Bytes>,
    /// `BY` a pattern without `*` (like `BY nosort`): keep the native order.
    dont_sort: bool,
    gets: Vec<Bytes>,
}

fn parse_options(args: &[Bytes], readonly: bool) -> Result<SortOptions, CmdError> {
    let mut o = SortOptions {
        limit_count: -1,
        ..Default::default()
    };
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if eq_ic(a, "asc") {
            o.desc = false;
        } else if eq_ic(a, "desc") {
            o.desc = true;
        } else if eq_ic(a, "alpha") {
            o.alpha = true;
        } else if eq_ic(a, "limit") && left >= 2 {
            o.limit_start = int(&args[j + 1])?;
            o.limit_count = int(&args[j + 2])?;
            j += 2;
        } else if !readonly && eq_ic(a, "store") && left >= 1 {
            o.store = Some(args[j + 1].clone());
            j += 1;
        } else if eq_ic(a, "by") && left >= 1 {
            let pattern = args[j + 1].clone();
            o.dont_sort = !c_str(&pattern).contains(&b'*');
            o.by = Some(pattern);
            j += 1;
        } else if eq_ic(a, "get") && left >= 1 {
            o.gets.push(args[j + 1].clone());
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// Redis handles patterns as C strings in places: a NUL byte ends them.
fn c_str(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

pub fn sort(ctx: &mut Ctx) -> CmdResult {
    sort_generic(ctx, false)
}

pub fn sort_ro(ctx: &mut Ctx) -> CmdResult {
    sort_generic(ctx, true)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    List,
    Set,
    ZSet,
}

/// One element being sorted, with what it sorts by.
#[derive(Debug)]
struct Item {
    elem: CompactBytes,
    score: f64,
    /// ALPHA with BY: the looked-up value (None when the key is missing).
    by_value: Option<Vec<u8>>,
}

/// The elements of the key to sort in their native order, or an empty
/// list for a missing key.
fn load_elements(db: &mut Db, key: &[u8]) -> Result<(Kind, Vec<CompactBytes>), CmdError> {
    let Some(entry) = db.get(key) else {
        return Ok((Kind::List, Vec::new()));
    };
    let loaded = match &entry.value {
        Value::List(l) => (Kind::List, l.iter().cloned().collect()),
        Value::Set(s) => (
            Kind::Set,
            s.ordered_members().into_iter().cloned().collect(),
        ),
        Value::ZSet(z) => (Kind::ZSet, z.iter().map(|m| m.member.clone()).collect()),
        _ => return Err(CmdError::WrongType),
    };
    if loaded.0 == Kind::ZSet {
        // Redis converts a listpack sorted set to a skiplist before sorting
        // it, and OBJECT ENCODING shows that afterwards.
        if let Some(Value::ZSet(z)) = db.get_mut(key).map(|e| &mut e.value) {
            z.big = true;
        }
    }
    Ok(loaded)
}

/// The output window `start..=end` for LIMIT over `len` elements, as Redis
/// computes it (an empty window has end == start - 1).
fn limit_window(limit_start: i64, limit_count: i64, len: usize) -> (i64, i64) {
    let len = len as i64;
    let mut start = limit_start.max(0);
    let mut end = if limit_count < 0 {
        len - 1
    } else {
        start.saturating_add(limit_count) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    (start, end)
}

fn sort_generic(ctx: &mut Ctx, readonly: bool) -> CmdResult {
    let args = ctx.args;
    // The sorted key is only read; STORE touches its destination itself.
    ctx.signal_only_touched();
    let mut opts = parse_options(args, readonly)?;
    let db_index = ctx.db_index();
    let db = ctx.db();
    let (kind, mut elems) = load_elements(db, &args[1])?;
    // An unsorted set would store (and replicate) in a random order, so a
    // stored set is always sorted, as strings.
    if opts.dont_sort && kind == Kind::Set && opts.store.is_some() {
        opts.dont_sort = false;
        opts.alpha = true;
        opts.by = None;
    }
    if opts.dont_sort && opts.desc && kind != Kind::Set {
        elems.reverse();
    }
    let (start, end) = limit_window(opts.limit_start, opts.limit_count, elems.len());
    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            by_value: None,
        })
        .collect();
    if !opts.dont_sort {
        load_weights(db, &opts, &mut items)?;
        items.sort_by(|a, b| compare(a, b, &opts));
    }
    let window: &[Item] = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    match opts.store.clone() {
        None => {
            reply_window(ctx, &opts, window);
            Ok(())
        }
        Some(dest) => {
            store_window(ctx, &opts, window, &dest, db_index);
            Ok(())
        }
    }
}

/// Fills each item's sort weight: its BY value (or the element itself),
/// parsed as a number unless ALPHA.
fn load_weights(db: &mut Db, opts: &SortOptions, items: &mut [Item]) -> Result<(), CmdError> {
    let mut bad_number = false;
    for item in items.iter_mut() {
        let weight = match &opts.by {
            Some(pattern) => match lookup_by_pattern(db, pattern, &item.elem) {
                Some(v) => v,
                None => continue,
            },
            None => item.elem.to_vec(),
        };
        if opts.alpha {
            if opts.by.is_some() {
                item.by_value = Some(weight);
            }
        } else {
            match sort_strtod(&weight) {
                Some(v) => item.score = v,
                None => bad_number = true,
            }
        }
    }
    if bad_number {
        return Err(CmdError::msg(
            "ERR One or more scores can't be converted into double",
        ));
    }
    Ok(())
}

/// The order of two items (Redis's sortCompare).
fn compare(a: &Item, b: &Item, opts: &SortOptions) -> Ordering {
    let ord = if !opts.alpha {
        // Equal weights fall back to the elements' bytes, so the result
        // does not depend on the sort algorithm.
        match a.score.partial_cmp(&b.score) {
            Some(Ordering::Equal) | None => a.elem.as_slice().cmp(b.elem.as_slice()),
            Some(o) => o,
        }
    } else if opts.by.is_some() {
        match (&a.by_value, &b.by_value) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => compare_strings(x, y, opts.store.is_some()),
        }
    } else {
        compare_strings(&a.elem, &b.elem, opts.store.is_some())
    };
    if opts.desc {
        ord.reverse()
    } else {
        ord
    }
}

/// Binary comparison when storing; otherwise strcoll, which (in the C and
/// C.UTF-8 locales) compares bytes up to the first NUL.
fn compare_strings(a: &[u8], b: &[u8], binary: bool) -> Ordering {
    if binary {
        a.cmp(b)
    } else {
        c_str(a).cmp(c_str(b))
    }
}

/// Resolves a BY/GET pattern for one element: `#` is the element itself;
/// otherwise the first `*` is replaced by the element and the key read as a
/// string, or with `->field` as a hash field. Missing keys, wrong types and
/// patterns without `*` give None.
fn lookup_by_pattern(db: &mut Db, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    let cpat = c_str(pattern);
    if cpat == b"#" {
        return Some(elem.to_vec());
    }
    let star = cpat.iter().position(|&c| c == b'*')?;
    let field_at = cpat[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|p| star + 1 + p)
        .filter(|&f| f + 2 < cpat.len());
    let key_end = field_at.unwrap_or(pattern.len());
    let mut key = Vec::with_capacity(pattern.len() + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let entry = db.get(&key)?;
    match (&entry.value, field_at) {
        (Value::Hash(h), Some(f)) => h.map.get(&pattern[f + 2..]).map(|v| v.to_vec()),
        (Value::Str(s), None) => Some(s.to_vec()),
        _ => None,
    }
}

/// C strtod as SORT uses it: the whole string (up to a NUL) must be a
/// number; overflow, underflow and NaN are errors. Leading spaces, hex and
/// `inf` are accepted, and the empty string is 0.
fn sort_strtod(s: &[u8]) -> Option<f64> {
    let mut buf = Vec::with_capacity(s.len() + 1);
    buf.extend_from_slice(s);
    buf.push(0);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated and outlives the call; strtod only
    // reads it and stores a pointer into it in `end`; errno is thread-local.
    let (value, consumed_all, range_error) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(buf.as_ptr() as *const libc::c_char, &mut end);
        let errno = *libc::__errno_location();
        (v, !end.is_null() && *end == 0, errno == libc::ERANGE)
    };
    if !consumed_all || range_error || value.is_nan() {
        return None;
    }
    Some(value)
}

/// Writes the window, or for GET the looked-up values (nil when missing).
fn reply_window(ctx: &mut Ctx, opts: &SortOptions, window: &[Item]) {
    let per_item = opts.gets.len().max(1);
    ctx.reply.array_len(window.len() * per_item);
    for item in window {
        if opts.gets.is_empty() {
            ctx.reply.bulk(&item.elem);
            continue;
        }
        for pattern in &opts.gets {
            match lookup_by_pattern(ctx.db(), pattern, &item.elem) {
                Some(v) => ctx.reply.bulk(&v),
                None => ctx.reply.null(),
            }
        }
    }
}

/// STORE: the result becomes a list (missing GET values as empty strings);
/// an empty result deletes the destination.
fn store_window(ctx: &mut Ctx, opts: &SortOptions, window: &[Item], dest: &[u8], db_index: usize) {
    let mut list: VecDeque<CompactBytes> = VecDeque::new();
    for item in window {
        if opts.gets.is_empty() {
            list.push_back(item.elem.clone());
            continue;
        }
        for pattern in &opts.gets {
            let v = lookup_by_pattern(ctx.db(), pattern, &item.elem).unwrap_or_default();
            list.push_back(CompactBytes::from_vec(v));
        }
    }
    let stored = list.len();
    if stored > 0 {
        ctx.db().set(dest, Value::List(Box::new(list)));
        ctx.dirty(stored as u64);
        ctx.touch(db_index, dest);
    } else if ctx.db().delete(dest) {
        ctx.dirty(1);
        ctx.touch(db_index, dest);
    }
    ctx.reply.int(stored as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn parses_options() {
        let o = parse_options(
            &words("SORT k BY w_* LIMIT 1 2 GET # GET h_*->f DESC ALPHA STORE d"),
            false,
        )
        .unwrap();
        assert!(o.desc && o.alpha && !o.dont_sort);
        assert_eq!((o.limit_start, o.limit_count), (1, 2));
        assert_eq!(o.gets.len(), 2);
        assert_eq!(o.store.as_deref(), Some(&b"d"[..]));
        assert!(
            parse_options(&words("SORT k BY nosort"), false)
                .unwrap()
                .dont_sort
        );
        assert_eq!(
            parse_options(&words("SORT k STORE d"), true).unwrap_err(),
            CmdError::Syntax
        );
        assert_eq!(
            parse_options(&words("SORT k LIMIT 1"), false).unwrap_err(),
            CmdError::Syntax
        );
        assert_eq!(
            parse_options(&words("SORT k LIMIT x 1"), false).unwrap_err(),
            CmdError::NotInteger
        );
    }

    #[test]
    fn limit_windows() {
        assert_eq!(limit_window(0, -1, 5), (0, 4));
        assert_eq!(limit_window(-3, 2, 5), (0, 1));
        assert_eq!(limit_window(3, 10, 5), (3, 4));
        assert_eq!(limit_window(5, 1, 5), (4, 3));
        assert_eq!(limit_window(0, 0, 5), (0, -1));
        assert_eq!(limit_window(0, -1, 0), (-1, -2));
        assert_eq!(limit_window(2, i64::MAX, 5), (2, 4));
    }

    #[test]
    fn strtod_rules() {
        assert_eq!(sort_strtod(b"1.5"), Some(1.5));
        assert_eq!(sort_strtod(b" 2"), Some(2.0));
        assert_eq!(sort_strtod(b""), Some(0.0));
        assert_eq!(sort_strtod(b"0x10"), Some(16.0));
        assert_eq!(sort_strtod(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(sort_strtod(b"3\0junk"), Some(3.0));
        assert_eq!(sort_strtod(b"2 "), None);
        assert_eq!(sort_strtod(b"nan"), None);
        assert_eq!(sort_strtod(b"1e400"), None);
        assert_eq!(sort_strtod(b"abc"), None);
    }

    #[test]
    fn patterns_resolve_keys_and_fields() {
        let mut db = Db::new(0);
        db.set(b"w_a", Value::Str(CompactBytes::new(b"3")));
        let mut h = crate::db::HashValue::default();
        h.map
            .insert(CompactBytes::new(b"f"), CompactBytes::new(b"hv"));
        db.set(b"h_a", Value::Hash(Box::new(h)));
        assert_eq!(lookup_by_pattern(&mut db, b"#", b"a"), Some(b"a".to_vec()));
        assert_eq!(
            lookup_by_pattern(&mut db, b"w_*", b"a"),
            Some(b"3".to_vec())
        );
        assert_eq!(lookup_by_pattern(&mut db, b"w_*", b"b"), None);
        assert_eq!(lookup_by_pattern(&mut db, b"nostar", b"a"), None);
        assert_eq!(
            lookup_by_pattern(&mut db, b"h_*->f", b"a"),
            Some(b"hv".to_vec())
        );
        assert_eq!(lookup_by_pattern(&mut db, b"h_*->g", b"a"), None);
        // A string key read as a hash, or a hash read as a string: nothing.
        assert_eq!(lookup_by_pattern(&mut db, b"w_*->f", b"a"), None);
        assert_eq!(lookup_by_pattern(&mut db, b"h_*", b"a"), None);
        // "->" with no field name is part of the key name.
        db.set(b"x_a->", Value::Str(CompactBytes::new(b"arrow")));
        assert_eq!(
            lookup_by_pattern(&mut db, b"x_*->", b"a"),
            Some(b"arrow".to_vec())
        );
    }

    #[test]
    fn numeric_ties_break_on_bytes() {
        let opts = SortOptions::default();
        let item = |e: &str, s: f64| Item {
            elem: CompactBytes::new(e.as_bytes()),
            score: s,
            by_value: None,
        };
        let mut v = [item("b", 1.0), item("a", 1.0), item("c", 0.5)];
        v.sort_by(|a, b| compare(a, b, &opts));
        let names: Vec<&[u8]> = v.iter().map(|i| i.elem.as_slice()).collect();
        assert_eq!(names, vec![&b"c"[..], b"a", b"b"]);
    }
}
