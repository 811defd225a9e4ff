//! Round trips through the encoder and decoder, hand-built files in the
//! legacy encodings, corrupt inputs, and a bounded random-mutation run of
//! the fuzz entry point.

use rand::{Rng, SeedableRng};

use super::encode::{score_text, write_len, write_string};
use super::*;
use crate::db::{CompactBytes, EncodingLimits, HashValue, SetValue, ZSet};

fn s(v: &[u8]) -> Value {
    Value::Str(CompactBytes::new(v))
}

fn list(items: &[&[u8]]) -> Value {
    Value::List(Box::new(
        items.iter().map(|i| CompactBytes::new(i)).collect(),
    ))
}

fn hash(pairs: &[(&[u8], &[u8])]) -> Value {
    let mut h = HashValue::default();
    for (k, v) in pairs {
        h.map.insert(CompactBytes::new(k), CompactBytes::new(v));
    }
    h.update_encoding(&EncodingLimits::default());
    Value::Hash(Box::new(h))
}

fn set(members: &[&[u8]]) -> Value {
    let mut st = SetValue::default();
    for m in members {
        st.members.insert(CompactBytes::new(m));
    }
    st.update_encoding(&EncodingLimits::default());
    Value::Set(Box::new(st))
}

fn zset(pairs: &[(&[u8], f64)]) -> Value {
    let mut z = ZSet::default();
    for (m, sc) in pairs {
        z.insert(m, *sc);
    }
    z.update_encoding(&EncodingLimits::default());
    Value::ZSet(Box::new(z))
}

fn owned(v: Vec<Vec<u8>>) -> Vec<CompactBytes> {
    v.into_iter().map(CompactBytes::from_vec).collect()
}

/// One value of every type and encoding, with a name.
fn sample_values() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    let mut add = |name: &str, v: Value| out.push((name.to_string(), v));
    add("str-empty", s(b""));
    add("str-int8", s(b"-12"));
    add("str-int16", s(b"12345"));
    add("str-int32", s(b"-70000"));
    add("str-int64", s(b"9223372036854775807"));
    add("str-not-canonical", s(b"007"));
    add("str-binary", s(&[0, 255, 13, 10, 0xc3, 0xfe]));
    add("str-compressible", s(&b"abcdefgh".repeat(100)));
    let noise: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
        .collect();
    add("str-noise", s(&noise));
    add("list-small", list(&[b"a", b"1", b"-5000", b"", b"x y"]));
    let many: Vec<Vec<u8>> = (0..5000)
        .map(|i| format!("element-{i}").into_bytes())
        .collect();
    add("list-many-nodes", Value::List(Box::new(owned(many).into())));
    let big_elem = vec![b'q'; 20_000];
    add("list-big-elements", list(&[&big_elem, b"tiny", &big_elem]));
    add(
        "hash-listpack",
        hash(&[(b"f1", b"v1"), (b"f2", b"200"), (b"n", b"-1")]),
    );
    let long_val = vec![b'v'; 100];
    add("hash-long-value", hash(&[(b"f", &long_val)]));
    let mut h = HashValue::default();
    // More fields than hash-max-listpack-entries (512 by default in 7.0).
    for i in 0..600 {
        h.map.insert(
            CompactBytes::from_vec(format!("field{i}").into_bytes()),
            CompactBytes::from_vec(i.to_string().into_bytes()),
        );
    }
    h.update_encoding(&EncodingLimits::default());
    assert!(h.big);
    add("hash-table", Value::Hash(Box::new(h)));
    add("set-intset16", set(&[b"1", b"2", b"3", b"-7"]));
    add(
        "set-intset64",
        set(&[b"1", b"9223372036854775807", b"-9223372036854775808"]),
    );
    add("set-table", set(&[b"a", b"b", b"1"]));
    let mut big_ints = SetValue::default();
    for i in 0..1000 {
        big_ints
            .members
            .insert(CompactBytes::from_vec(i.to_string().into_bytes()));
    }
    big_ints.update_encoding(&EncodingLimits::default());
    add("set-many-ints", Value::Set(Box::new(big_ints)));
    add(
        "zset-listpack",
        zset(&[
            (b"a", 1.0),
            (b"b", 1.5),
            (b"c", -0.0),
            (b"d", 0.0),
            (b"e", f64::INFINITY),
            (b"f", f64::NEG_INFINITY),
            (b"g", 0.1),
            (b"h", 1e20),
            (b"i", -4503599627370495.0),
            (b"j", 4503599627370496.0),
            (b"12", 12.0),
        ]),
    );
    let mut z = ZSet::default();
    for i in 0..200 {
        z.insert(format!("m{i}").as_bytes(), i as f64 / 3.0);
    }
    z.insert(b"neg-zero", -0.0);
    z.update_encoding(&EncodingLimits::default());
    assert!(z.big);
    add("zset-skiplist", Value::ZSet(Box::new(z)));
    out
}

/// A database index and its keys.
type DbEntries = (usize, Vec<(Vec<u8>, Entry)>);

fn write_file(dbs: &[DbEntries], opts: WriteOptions, aux: &RdbAux) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), opts);
    w.begin(aux).unwrap();
    for (db, entries) in dbs {
        let ttl = entries.iter().filter(|(_, e)| e.expire_at != 0).count();
        w.select_db(*db, entries.len() as u64, ttl as u64).unwrap();
        for (k, e) in entries {
            w.write_entry(k, e).unwrap();
        }
    }
    w.finish().unwrap()
}

fn read_keys(bytes: &[u8], opts: LoadOptions) -> Result<Vec<LoadedKey>, RdbError> {
    let mut out = Vec::new();
    for item in RdbReader::new(bytes, opts)? {
        if let RdbItem::Key(k) = item? {
            out.push(k);
        }
    }
    Ok(out)
}

fn keep_all() -> LoadOptions {
    LoadOptions {
        drop_expired: false,
        ..LoadOptions::default()
    }
}

/// A file made of a header, `body`, EOF and a correct checksum.
fn file_with(version: &str, body: &[u8]) -> Vec<u8> {
    let mut f = format!("REDIS{version}").into_bytes();
    f.extend_from_slice(body);
    f.push(0xff);
    let crc = crc64::checksum(&f);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

fn file(body: &[u8]) -> Vec<u8> {
    file_with("0010", body)
}

fn string_bytes(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_string(&mut out, v, false).unwrap();
    out
}

fn raw_string(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_len(&mut out, v.len() as u64).unwrap();
    out.extend_from_slice(v);
    out
}

/// A key record: type byte, key "k", then `value` bytes.
fn key_record(t: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![t, 1, b'k'];
    out.extend_from_slice(value);
    out
}

fn single(bytes: &[u8]) -> Result<Value, RdbError> {
    let mut keys = read_keys(bytes, keep_all())?;
    assert_eq!(keys.len(), 1);
    Ok(keys.remove(0).entry.value)
}

fn list_items(v: &Value) -> Vec<Vec<u8>> {
    match v {
        Value::List(l) => l.iter().map(|e| e.to_vec()).collect(),
        other => panic!("not a list: {other:?}"),
    }
}

#[test]
fn every_type_round_trips_through_a_file() {
    for compress in [false, true] {
        let values = sample_values();
        let mut db0 = Vec::new();
        let mut db3 = Vec::new();
        for (i, (name, v)) in values.iter().enumerate() {
            let mut e = Entry::new(v.clone());
            if i % 3 == 0 {
                e.expire_at = 4_000_000_000_000 + i as i64;
            }
            db0.push((name.as_bytes().to_vec(), e.clone()));
            db3.push((format!("db3:{name}").into_bytes(), e));
        }
        let aux = RdbAux {
            ctime: 1_700_000_000,
            used_mem: 3_000_000_000,
            repl_id: Some("a".repeat(40)),
            repl_offset: 12345,
            repl_stream_db: 3,
            ..RdbAux::default()
        };
        let opts = WriteOptions {
            compress,
            ..WriteOptions::default()
        };
        let bytes = write_file(&[(0, db0.clone()), (3, db3.clone())], opts, &aux);
        let mut reader = RdbReader::new(&bytes[..], keep_all()).unwrap();
        let mut keys = Vec::new();
        let mut selects = Vec::new();
        let mut resizes = Vec::new();
        while let Some(item) = reader.next_item().unwrap() {
            match item {
                RdbItem::Key(k) => keys.push(k),
                RdbItem::SelectDb(d) => selects.push(d),
                RdbItem::ResizeDb {
                    keys,
                    keys_with_ttl,
                } => resizes.push((keys, keys_with_ttl)),
                _ => {}
            }
        }
        assert!(reader.is_finished());
        assert_eq!(reader.aux(), aux);
        assert_eq!(selects, vec![0, 3]);
        let ttl = db0.iter().filter(|(_, e)| e.expire_at != 0).count() as u64;
        assert_eq!(resizes, vec![(db0.len() as u64, ttl); 2]);
        let expected: Vec<_> = db0
            .iter()
            .map(|(k, e)| (0, k, e))
            .chain(db3.iter().map(|(k, e)| (3, k, e)))
            .collect();
        assert_eq!(keys.len(), expected.len());
        for (got, (db, k, e)) in keys.iter().zip(expected) {
            assert_eq!(got.db, db);
            assert_eq!(&got.key, k);
            assert!(
                entries_equal(&got.entry, e),
                "{}: {:?} != {:?}",
                String::from_utf8_lossy(k),
                got.entry.value,
                e.value
            );
        }
    }
}

#[test]
fn every_type_round_trips_through_dump_payloads() {
    for (name, v) in sample_values() {
        for compress in [false, true] {
            let opts = WriteOptions {
                compress,
                ..WriteOptions::default()
            };
            let payload = dump_payload_with(&v, &opts);
            let n = payload.len();
            assert_eq!(&payload[n - 10..n - 8], &[10, 0], "{name}");
            let back = restore_payload(&payload).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(values_equal(&v, &back), "{name}");
        }
    }
}

#[test]
fn chosen_type_codes_follow_redis() {
    let code = |v: &Value| dump_payload(v)[0];
    let values = sample_values();
    let by_name = |n: &str| &values.iter().find(|(name, _)| name == n).unwrap().1;
    assert_eq!(code(by_name("str-int8")), types::STRING);
    assert_eq!(code(by_name("list-small")), types::LIST_QUICKLIST_2);
    assert_eq!(code(by_name("hash-listpack")), types::HASH_LISTPACK);
    assert_eq!(code(by_name("hash-long-value")), types::HASH);
    assert_eq!(code(by_name("hash-table")), types::HASH);
    assert_eq!(code(by_name("set-intset16")), types::SET_INTSET);
    assert_eq!(code(by_name("set-table")), types::SET);
    assert_eq!(code(by_name("set-many-ints")), types::SET);
    assert_eq!(code(by_name("zset-listpack")), types::ZSET_LISTPACK);
    assert_eq!(code(by_name("zset-skiplist")), types::ZSET_2);
}

#[test]
fn header_and_aux_bytes_match_redis() {
    let aux = RdbAux {
        ctime: 1_700_000_000,
        used_mem: 1_000_000,
        repl_id: Some("5e3d0a6b1c9f8e7d2a4b6c8d0e1f3a5b7c9d2e4f".into()),
        repl_offset: 54,
        repl_stream_db: 0,
        ..RdbAux::default()
    };
    let mut w = RdbWriter::new(Vec::new(), WriteOptions::default());
    w.begin(&aux).unwrap();
    w.select_db(0, 1, 0).unwrap();
    w.write_entry(b"foo", &Entry::new(s(b"bar"))).unwrap();
    let bytes = w.finish().unwrap();
    let mut expected = b"REDIS0010".to_vec();
    expected.extend_from_slice(b"\xfa\x09redis-ver\x067.0.15");
    expected.extend_from_slice(b"\xfa\x0aredis-bits\xc0\x40");
    expected.extend_from_slice(b"\xfa\x05ctime\xc2");
    expected.extend_from_slice(&1_700_000_000i32.to_le_bytes());
    expected.extend_from_slice(b"\xfa\x08used-mem\xc2");
    expected.extend_from_slice(&1_000_000i32.to_le_bytes());
    expected.extend_from_slice(b"\xfa\x0erepl-stream-db\xc0\x00");
    expected.extend_from_slice(b"\xfa\x07repl-id\x28");
    expected.extend_from_slice(b"5e3d0a6b1c9f8e7d2a4b6c8d0e1f3a5b7c9d2e4f");
    expected.extend_from_slice(b"\xfa\x0brepl-offset\xc0\x36");
    expected.extend_from_slice(b"\xfa\x08aof-base\xc0\x00");
    expected.extend_from_slice(b"\xfe\x00\xfb\x01\x00");
    expected.extend_from_slice(b"\x00\x03foo\x03bar\xff");
    let crc = crc64::checksum(&expected);
    expected.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(bytes, expected);
    // Without replication info the three repl-* fields are absent.
    let mut w = RdbWriter::new(Vec::new(), WriteOptions::default());
    w.begin(&RdbAux::default()).unwrap();
    let bytes = w.finish().unwrap();
    assert!(!bytes.windows(7).any(|w| w == b"repl-id"));
    let mut r = RdbReader::new(&bytes[..], keep_all()).unwrap();
    while r.next_item().unwrap().is_some() {}
    assert_eq!(r.aux().repl_id, None);
    assert_eq!(r.aux().redis_ver, "7.0.15");
}

#[test]
fn checksum_can_be_disabled() {
    let opts = WriteOptions {
        checksum: false,
        ..WriteOptions::default()
    };
    let bytes = write_file(
        &[(0, vec![(b"k".to_vec(), Entry::new(s(b"v")))])],
        opts,
        &RdbAux::default(),
    );
    assert_eq!(&bytes[bytes.len() - 8..], &[0; 8]);
    assert_eq!(read_keys(&bytes, keep_all()).unwrap().len(), 1);
}

#[test]
fn string_encodings() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"\xc1\x39\x30", b"12345"),
        (b"\xc2\x90\xee\xfe\xff", b"-70000"),
        (b"\xc0\x40", b"64"),
        (b"\xc0\x80", b"-128"),
        (b"\x00", b""),
        (b"\x03abc", b"abc"),
        (b"\x40\x03abc", b"abc"),
        (b"\x80\x00\x00\x00\x03abc", b"abc"),
        (b"\x81\x00\x00\x00\x00\x00\x00\x00\x03abc", b"abc"),
        // LZF: literal "abc" then a 6-byte back reference.
        (b"\xc3\x06\x09\x02abc\x80\x02", b"abcabcabc"),
    ];
    for (enc, want) in cases {
        let v = single(&file(&key_record(0, enc))).unwrap();
        assert!(values_equal(&v, &s(want)), "{enc:?}");
    }
    // The writer's choices.
    assert_eq!(string_bytes(b"12345"), b"\xc1\x39\x30");
    assert_eq!(string_bytes(b"-70000"), b"\xc2\x90\xee\xfe\xff");
    assert_eq!(string_bytes(b"2147483648"), b"\x0a2147483648");
    assert_eq!(string_bytes(b"-0"), b"\x02-0");
    let mut long = Vec::new();
    write_len(&mut long, 300).unwrap();
    assert_eq!(long, [0x41, 0x2c]);
    let mut huge = Vec::new();
    write_len(&mut huge, 70000).unwrap();
    assert_eq!(huge, [0x80, 0, 1, 0x11, 0x70]);
    let mut giant = Vec::new();
    write_len(&mut giant, 1 << 33).unwrap();
    assert_eq!(giant, [0x81, 0, 0, 0, 2, 0, 0, 0, 0]);
    let mut packed = Vec::new();
    write_string(&mut packed, &[b'z'; 100], true).unwrap();
    assert_eq!(packed[0], 0xc3);
    let mut short = Vec::new();
    write_string(&mut short, &[b'z'; 20], true).unwrap();
    assert_eq!(
        short[0], 20,
        "strings of 20 bytes or less are never compressed"
    );
}

#[test]
fn zset_listpack_scores_use_d2string() {
    assert_eq!(score_text(1.0), b"1");
    assert_eq!(score_text(-0.0), b"0");
    assert_eq!(score_text(0.0), b"0");
    assert_eq!(score_text(1.5), b"1.5");
    assert_eq!(score_text(0.1), b"0.10000000000000001");
    assert_eq!(score_text(f64::INFINITY), b"inf");
    assert_eq!(score_text(f64::NEG_INFINITY), b"-inf");
    assert_eq!(score_text(4503599627370495.0), b"4503599627370495");
    assert_eq!(score_text(4503599627370496.0), b"4503599627370496");
    assert_eq!(score_text(-4503599627370495.0), b"-4503599627370495");
    assert_eq!(score_text(1e16), b"10000000000000000");
    assert_eq!(score_text(1e20), b"1e+20");
}

#[test]
fn legacy_encodings_load() {
    let zl = |items: &[&[u8]]| string_bytes(&ziplist::encode(items));
    // Type 1: plain list.
    let mut body = vec![2];
    body.extend(string_bytes(b"x"));
    body.extend(string_bytes(b"7"));
    let v = single(&file(&key_record(types::LIST, &body))).unwrap();
    assert_eq!(list_items(&v), vec![b"x".to_vec(), b"7".to_vec()]);
    // Type 3: zset with string doubles, including the inf forms.
    let mut body = vec![3];
    body.extend(string_bytes(b"a"));
    body.extend(b"\x031.5");
    body.extend(string_bytes(b"b"));
    body.push(254);
    body.extend(string_bytes(b"c"));
    body.push(255);
    let v = single(&file(&key_record(types::ZSET, &body))).unwrap();
    assert!(values_equal(
        &v,
        &zset(&[
            (b"a", 1.5),
            (b"b", f64::INFINITY),
            (b"c", f64::NEG_INFINITY)
        ])
    ));
    // Type 3 with a NaN score is corrupt.
    let mut body = vec![1];
    body.extend(string_bytes(b"a"));
    body.push(253);
    assert!(single(&file(&key_record(types::ZSET, &body))).is_err());
    // Type 9: zipmap.
    let zm = ziplist::encode_zipmap(&[(b"f", b"v"), (b"n", b"12")]);
    let v = single(&file(&key_record(types::HASH_ZIPMAP, &string_bytes(&zm)))).unwrap();
    assert!(values_equal(&v, &hash(&[(b"f", b"v"), (b"n", b"12")])));
    // Type 10: ziplist list.
    let v = single(&file(&key_record(
        types::LIST_ZIPLIST,
        &zl(&[b"a", b"-3", b"300"]),
    )))
    .unwrap();
    assert_eq!(
        list_items(&v),
        vec![b"a".to_vec(), b"-3".to_vec(), b"300".to_vec()]
    );
    // Type 12: ziplist zset; type 13: ziplist hash.
    let v = single(&file(&key_record(
        types::ZSET_ZIPLIST,
        &zl(&[b"m", b"2.5", b"n", b"3"]),
    )))
    .unwrap();
    assert!(values_equal(&v, &zset(&[(b"m", 2.5), (b"n", 3.0)])));
    let v = single(&file(&key_record(
        types::HASH_ZIPLIST,
        &zl(&[b"f", b"1", b"g", b"two"]),
    )))
    .unwrap();
    assert!(values_equal(&v, &hash(&[(b"f", b"1"), (b"g", b"two")])));
    // Type 14: quicklist of ziplists, with an empty node that is skipped.
    let mut body = vec![3];
    body.extend(zl(&[b"a", b"b"]));
    body.extend(zl(&[]));
    body.extend(zl(&[b"c"]));
    let v = single(&file(&key_record(types::LIST_QUICKLIST, &body))).unwrap();
    assert_eq!(
        list_items(&v),
        vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
    );
    // Type 18 with a PLAIN node between PACKED ones.
    let mut body = vec![3, 2];
    body.extend(string_bytes(&listpack::encode([&b"a"[..], b"1"])));
    body.push(1);
    body.extend(string_bytes(b"plain element"));
    body.push(2);
    body.extend(string_bytes(&listpack::encode([&b"z"[..]])));
    let v = single(&file(&key_record(types::LIST_QUICKLIST_2, &body))).unwrap();
    assert_eq!(
        list_items(&v),
        vec![
            b"a".to_vec(),
            b"1".to_vec(),
            b"plain element".to_vec(),
            b"z".to_vec()
        ]
    );
    // A quicklist node stored as an LZF-compressed listpack.
    let lp = listpack::encode(std::iter::repeat_n(&b"repeat-me"[..], 50));
    let mut body = vec![1, 2];
    write_string(&mut body, &lp, true).unwrap();
    assert_eq!(body[2], 0xc3);
    let v = single(&file(&key_record(types::LIST_QUICKLIST_2, &body))).unwrap();
    assert_eq!(list_items(&v).len(), 50);
    // Old versions: no checksum before version 5.
    let mut old = b"REDIS0004".to_vec();
    old.extend(key_record(0, &string_bytes(b"v")));
    old.push(0xff);
    assert_eq!(read_keys(&old, keep_all()).unwrap().len(), 1);
}

#[test]
fn blob_values_get_the_encoding_their_size_implies() {
    // A 600-field listpack hash (an old or differently configured server)
    // loads as a hash table; a 2-member hash-table set of ints as an intset.
    let fields: Vec<Vec<u8>> = (0..1200).map(|i| format!("{i}").into_bytes()).collect();
    let lp = listpack::encode(fields.iter().map(|f| &f[..]));
    let v = single(&file(&key_record(types::HASH_LISTPACK, &string_bytes(&lp)))).unwrap();
    match v {
        Value::Hash(h) => assert!(h.big && h.map.len() == 600),
        other => panic!("{other:?}"),
    }
    let mut body = vec![2];
    body.extend(raw_string(b"5"));
    body.extend(raw_string(b"-5"));
    match single(&file(&key_record(types::SET, &body))).unwrap() {
        Value::Set(st) => assert!(!st.big),
        other => panic!("{other:?}"),
    }
}

#[test]
fn key_metadata_and_expiry() {
    let mut body = Vec::new();
    body.extend(b"\xfd");
    body.extend(1000i32.to_le_bytes()); // legacy seconds: long expired
    body.extend(key_record(0, &string_bytes(b"old")));
    body.extend(b"\xf8\x05\xf9\x07"); // IDLE 5, FREQ 7
    body.extend(b"\xfc");
    body.extend(4_000_000_000_000i64.to_le_bytes());
    body.extend([0, 2, b'k', b'2', 1, b'v']);
    body.extend([0, 2, b'k', b'3', 1, b'w']); // no metadata carried over
                                              // An expiry stays pending across other opcodes until its key.
    body.extend(b"\xfc");
    body.extend(5_000_000_000_000i64.to_le_bytes());
    body.extend([opcode::SELECTDB, 2]);
    body.extend([0, 2, b'k', b'4', 1, b'x']);
    let f = file(&body);
    let keys = read_keys(&f, keep_all()).unwrap();
    assert_eq!(keys.len(), 4);
    assert_eq!(
        (keys[3].db, keys[3].entry.expire_at),
        (2, 5_000_000_000_000)
    );
    assert_eq!(keys[0].entry.expire_at, 1_000_000);
    assert_eq!(keys[1].entry.expire_at, 4_000_000_000_000);
    assert_eq!(keys[1].idle_secs, Some(5));
    assert_eq!(keys[1].lfu_freq, Some(7));
    assert!(keys[1].entry.lru <= lru_now() - 5 + 1);
    assert_eq!(keys[2].entry.expire_at, 0);
    assert_eq!(keys[2].idle_secs, None);
    assert_eq!(keys[2].lfu_freq, None);
    // A master drops the expired key.
    let mut r = RdbReader::new(&f[..], LoadOptions::default()).unwrap();
    let mut n = 0;
    while let Some(item) = r.next_item().unwrap() {
        n += matches!(item, RdbItem::Key(_)) as usize;
    }
    assert_eq!(n, 3);
    assert_eq!(r.stats().expired_skipped, 1);
    // An expiry exactly at the epoch stays "expired" (0 would mean no TTL).
    let mut body = b"\xfc".to_vec();
    body.extend(0i64.to_le_bytes());
    body.extend(key_record(0, &string_bytes(b"v")));
    assert_eq!(
        read_keys(&file(&body), keep_all()).unwrap()[0]
            .entry
            .expire_at,
        -1
    );
    // Writing IDLE/FREQ.
    let mut w = RdbWriter::new(Vec::new(), WriteOptions::default());
    w.begin(&RdbAux::default()).unwrap();
    let meta = KeyMeta {
        idle_secs: Some(100),
        lfu_freq: Some(3),
    };
    w.write_entry_with_meta(b"k", &Entry::new(s(b"v")), meta)
        .unwrap();
    let bytes = w.finish().unwrap();
    let keys = read_keys(&bytes, keep_all()).unwrap();
    assert_eq!((keys[0].idle_secs, keys[0].lfu_freq), (Some(100), Some(3)));
}

fn lru_now() -> u32 {
    crate::db::lru_clock()
}

#[test]
fn empty_collections_are_skipped_but_not_restored() {
    let mut body = key_record(types::LIST, &[0]);
    body.extend(key_record(types::SET, &[0]));
    body.extend(key_record(types::LIST_QUICKLIST_2, &[0]));
    body.extend(key_record(
        types::HASH_LISTPACK,
        &string_bytes(&listpack::encode([])),
    ));
    body.extend(key_record(0, &[1, b'v']));
    let f = file(&body);
    let mut r = RdbReader::new(&f[..], keep_all()).unwrap();
    let mut keys = 0;
    while let Some(item) = r.next_item().unwrap() {
        keys += matches!(item, RdbItem::Key(_)) as usize;
    }
    assert_eq!(keys, 1);
    assert_eq!(r.stats().empty_skipped, 4);
    let payload = dump_payload(&Value::new_list());
    assert_eq!(
        restore_payload(&payload).unwrap_err().kind,
        RdbErrorKind::EmptyValue
    );
}

#[test]
fn functions_and_unsupported_things() {
    let mut body = vec![opcode::FUNCTION2];
    body.extend(string_bytes(
        b"#!lua name=lib\nredis.register_function('f', function() end)",
    ));
    body.extend(key_record(0, &[1, b'v']));
    let f = file(&body);
    let items: Vec<_> = RdbReader::new(&f[..], keep_all()).unwrap().collect();
    assert!(matches!(&items[0], Ok(RdbItem::FunctionLibrary(code)) if code.starts_with(b"#!lua")));
    assert!(matches!(&items[1], Ok(RdbItem::Key(_))));

    let err = |body: &[u8]| read_keys(&file(body), keep_all()).unwrap_err();
    // Module aux for module "ReJSON-RL" (id of its name, version 3).
    let name = b"ReJSON-RL";
    let charset = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut id = 0u64;
    for c in name {
        id = id << 6 | charset.iter().position(|x| x == c).unwrap() as u64;
    }
    id = id << 10 | 3;
    let mut body = vec![opcode::MODULE_AUX, 0x81];
    body.extend(id.to_be_bytes());
    let e = err(&body);
    assert_eq!(e.kind, RdbErrorKind::ModuleAux("ReJSON-RL".into()));
    assert_eq!(e.offset, 9);
    let mut body = key_record(types::MODULE_2, &[0x81]);
    body.extend(id.to_be_bytes());
    let e = err(&body);
    assert!(e.to_string().contains("unsupported value type 7"), "{e}");
    assert!(e.to_string().contains("ReJSON-RL"), "{e}");
    assert_eq!(e.key.as_deref(), Some(&b"k"[..]));
    let e = err(&key_record(types::STREAM_LISTPACKS_2, &[0]));
    assert!(
        matches!(e.kind, RdbErrorKind::UnsupportedType { code: 19, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("stream"));
    assert!(matches!(
        err(&key_record(types::STREAM_LISTPACKS, &[0])).kind,
        RdbErrorKind::UnsupportedType { code: 15, .. }
    ));
    assert!(matches!(
        err(&key_record(types::MODULE_PRE_GA, &[0])).kind,
        RdbErrorKind::UnsupportedType { code: 6, .. }
    ));
    for t in [8u8, 20, 21, 100, 244] {
        let e = err(&key_record(t, &[0]));
        assert_eq!(e.kind, RdbErrorKind::UnknownType(t));
        assert_eq!(e.offset, 9);
    }
}

#[test]
fn corrupt_files_are_rejected_with_offsets() {
    let good = write_file(
        &[(0, vec![(b"k".to_vec(), Entry::new(s(b"value")))])],
        WriteOptions::default(),
        &RdbAux::default(),
    );
    assert!(read_keys(&good, keep_all()).is_ok());
    // Bad magic and versions.
    let kind = |bytes: &[u8]| read_keys(bytes, keep_all()).unwrap_err().kind;
    assert_eq!(kind(b"RADIS0010\xff"), RdbErrorKind::BadMagic);
    assert_eq!(kind(b"REDIS"), RdbErrorKind::BadMagic);
    assert_eq!(kind(b"REDIS00x0\xff"), RdbErrorKind::BadMagic);
    assert_eq!(kind(b""), RdbErrorKind::BadMagic);
    assert_eq!(
        kind(&file_with("0011", b"")),
        RdbErrorKind::UnsupportedVersion(11)
    );
    assert_eq!(
        kind(&file_with("0000", b"")),
        RdbErrorKind::UnsupportedVersion(0)
    );
    assert!(read_keys(&file_with("0009", b""), keep_all()).is_ok());
    // Wrong checksum; a zero checksum is not checked.
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    let e = read_keys(&bad, keep_all()).unwrap_err();
    assert!(matches!(e.kind, RdbErrorKind::ChecksumMismatch { .. }));
    assert_eq!(e.offset, n as u64 - 8);
    let no_verify = LoadOptions {
        verify_checksum: false,
        ..keep_all()
    };
    assert!(read_keys(&bad, no_verify).is_ok());
    let mut zero = good.clone();
    zero[n - 8..].fill(0);
    assert!(read_keys(&zero, keep_all()).is_ok());
    // A flipped data byte breaks the checksum.
    let mut flipped = good.clone();
    let at = flipped.windows(5).position(|w| w == b"value").unwrap();
    flipped[at] = b'V';
    assert!(matches!(
        kind(&flipped),
        RdbErrorKind::ChecksumMismatch { .. }
    ));
    // Every truncation is an error, never a panic.
    for cut in 0..good.len() {
        assert!(read_keys(&good[..cut], keep_all()).is_err(), "cut at {cut}");
    }
    // SELECTDB out of range.
    let e = read_keys(&file(&[opcode::SELECTDB, 16]), keep_all()).unwrap_err();
    assert_eq!(
        e.kind,
        RdbErrorKind::DbIndexOutOfRange {
            index: 16,
            databases: 16
        }
    );
    // Invalid length prefix; string encoding where a length belongs.
    assert!(matches!(
        kind(&file(&key_record(types::LIST, &[0x90]))),
        RdbErrorKind::Corrupt(_)
    ));
    assert!(matches!(
        kind(&file(&key_record(types::LIST, &[0xc0]))),
        RdbErrorKind::Corrupt(_)
    ));
    assert!(matches!(
        kind(&file(&key_record(0, &[0xc4]))),
        RdbErrorKind::Corrupt(_)
    ));
    // A huge declared length with no data behind it: truncation, quickly.
    let mut body = key_record(0, &[0x81]);
    body.extend(u64::MAX.to_be_bytes());
    assert_eq!(kind(&file(&body)), RdbErrorKind::Truncated);
    let mut body = b"REDIS0010".to_vec();
    body.extend(key_record(types::LIST, &[0x81]));
    body.extend((u64::MAX / 2).to_be_bytes());
    body.extend([0x01, b'x']);
    assert_eq!(kind(&body), RdbErrorKind::Truncated);
    // LZF claiming an impossible expansion.
    let mut body = key_record(0, &[0xc3, 0x02, 0x81]);
    body.extend((1u64 << 40).to_be_bytes());
    body.extend([0, b'a']);
    let e = read_keys(&file(&body), keep_all()).unwrap_err();
    assert!(e.to_string().contains("LZF"), "{e}");
    // Duplicates.
    let mut body = vec![2];
    body.extend(raw_string(b"a"));
    body.extend(raw_string(b"a"));
    assert!(kind(&file(&key_record(types::SET, &body)))
        .to_string()
        .contains("duplicate"));
    let lp = listpack::encode([&b"f"[..], b"1", b"f", b"2"]);
    assert!(
        kind(&file(&key_record(types::HASH_LISTPACK, &string_bytes(&lp))))
            .to_string()
            .contains("duplicate")
    );
    let lp = listpack::encode([&b"m"[..], b"1", b"m", b"2"]);
    assert!(
        kind(&file(&key_record(types::ZSET_LISTPACK, &string_bytes(&lp))))
            .to_string()
            .contains("duplicate")
    );
    // Odd listpack element counts, bad scores, bad container kinds.
    let lp = listpack::encode([&b"f"[..]]);
    assert!(read_keys(
        &file(&key_record(types::HASH_LISTPACK, &string_bytes(&lp))),
        keep_all()
    )
    .is_err());
    let lp = listpack::encode([&b"m"[..], b"abc"]);
    assert!(read_keys(
        &file(&key_record(types::ZSET_LISTPACK, &string_bytes(&lp))),
        keep_all()
    )
    .is_err());
    let mut body = vec![1, 3];
    body.extend(string_bytes(b"x"));
    let e = read_keys(
        &file(&key_record(types::LIST_QUICKLIST_2, &body)),
        keep_all(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("container"), "{e}");
    // Error messages name what, where and which key.
    let mut body = key_record(types::SET_INTSET, &string_bytes(&[2, 0, 0, 0, 0, 0, 0, 0]));
    body.splice(1..3, raw_string(b"mykey"));
    let e = read_keys(&file(&body), keep_all()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("intset is empty")
            && text.contains("byte offset 16")
            && text.contains("mykey"),
        "{text}"
    );
}

#[test]
fn restore_payload_checks_its_footer() {
    let good = dump_payload(&s(b"hello"));
    assert!(restore_payload(&good).is_ok());
    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 0x40;
    let e = restore_payload(&bad_crc).unwrap_err();
    assert!(e.is_version_or_checksum());
    // Unlike files, a zero CRC is not a waiver.
    let mut zero = good.clone();
    zero[n - 8..].fill(0);
    assert!(restore_payload(&zero).unwrap_err().is_version_or_checksum());
    let mut v11 = good[..n - 8].to_vec();
    v11[n - 10] = 11;
    let crc = crc64::checksum(&v11);
    v11.extend(crc.to_le_bytes());
    let e = restore_payload(&v11).unwrap_err();
    assert_eq!(e.kind, RdbErrorKind::UnsupportedVersion(11));
    assert!(e.is_version_or_checksum());
    // Older payload versions load (e.g. from Redis 6.2, version 9).
    let mut v9 = good[..n - 8].to_vec();
    v9[n - 10] = 9;
    let crc = crc64::checksum(&v9);
    v9.extend(crc.to_le_bytes());
    assert!(restore_payload(&v9).is_ok());
    assert!(restore_payload(b"short")
        .unwrap_err()
        .is_version_or_checksum());
    // A well-formed footer around a bad body is "bad data format".
    let mut body = vec![types::LIST_QUICKLIST_2, 1, 2, 3, b'a', b'b', b'c'];
    body.extend([10, 0]);
    let crc = crc64::checksum(&body);
    body.extend(crc.to_le_bytes());
    let e = restore_payload(&body).unwrap_err();
    assert!(!e.is_version_or_checksum());
    let mut body = vec![0xf0, 10, 0];
    let crc = crc64::checksum(&body);
    body.extend(crc.to_le_bytes());
    assert_eq!(
        restore_payload(&body).unwrap_err().kind,
        RdbErrorKind::UnknownType(0xf0)
    );
}

#[test]
fn quicklist_nodes_follow_the_fill_setting() {
    let elems: Vec<Vec<u8>> = (0..1000)
        .map(|i| format!("{i:0>20}").into_bytes())
        .collect();
    let v = Value::List(Box::new(owned(elems.clone()).into()));
    let count_nodes = |fill: i64| {
        let payload = dump_payload_with(
            &v,
            &WriteOptions {
                compress: false,
                list_max_listpack_size: fill,
                ..WriteOptions::default()
            },
        );
        payload[1]
    };
    // 1000 elements of 22 bytes each: ~22 KB in 8 KB nodes is 3 nodes; a
    // fill of 100 elements per node gives 10, but the 8 KB safety cap still
    // holds (100 × 22 < 8 KB).
    assert_eq!(count_nodes(-2), 3);
    assert_eq!(count_nodes(100), 10);
    assert_eq!(count_nodes(-5), 1);
    // Elements over the plain threshold get PLAIN nodes of their own.
    let plain = dump_payload_with(
        &list(&[b"a", &[b'p'; 50], b"b", b"c"]),
        &WriteOptions {
            compress: false,
            list_plain_threshold: 50,
            ..WriteOptions::default()
        },
    );
    assert_eq!(plain[1], 3);
    assert_eq!(plain[2], 2);
    let back = restore_payload(&plain).unwrap();
    assert_eq!(list_items(&back)[1], vec![b'p'; 50]);
    let back = restore_payload(&dump_payload(&v)).unwrap();
    assert_eq!(list_items(&back), elems);
}

/// Valid files of every type, then random mutations of them and pure noise,
/// through the fuzz entry point (which also checks DUMP/RESTORE round trips
/// of whatever decodes).
#[test]
fn random_inputs_never_panic() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed_0dbf);
    let mut seeds = Vec::new();
    for (name, v) in sample_values() {
        // Keep the seeds small so mutations hit structure, not bulk data.
        if v.approx_heap_size() > 20_000 {
            continue;
        }
        let e = Entry::new(v.clone());
        seeds.push(write_file(
            &[(0, vec![(name.into_bytes(), e)])],
            WriteOptions::default(),
            &RdbAux::default(),
        ));
        seeds.push(dump_payload(&v));
    }
    let zl = ziplist::encode(&[b"a", b"1", b"b", b"2"]);
    for t in [
        types::LIST_ZIPLIST,
        types::HASH_ZIPLIST,
        types::ZSET_ZIPLIST,
    ] {
        seeds.push(file(&key_record(t, &string_bytes(&zl))));
    }
    let zm = ziplist::encode_zipmap(&[(b"f", b"v")]);
    seeds.push(file(&key_record(types::HASH_ZIPMAP, &string_bytes(&zm))));
    for round in 0..4000 {
        let mut data = seeds[rng.gen_range(0..seeds.len())].clone();
        match round % 4 {
            0 => {
                for _ in 0..rng.gen_range(1..4) {
                    let i = rng.gen_range(0..data.len());
                    data[i] = rng.gen();
                }
            }
            1 => {
                let cut = rng.gen_range(0..data.len());
                data.truncate(cut);
            }
            2 => {
                let i = rng.gen_range(0..data.len());
                let noise: Vec<u8> = (0..rng.gen_range(1..8)).map(|_| rng.gen()).collect();
                data.splice(i..i, noise);
            }
            _ => {
                data = (0..rng.gen_range(0..200)).map(|_| rng.gen()).collect();
            }
        }
        fuzz_decode(&data);
    }
}
