//! A map payload split into its entries and written back: the keyword
//! arguments a typed service reads name by name.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tractor_protocol::Raw;

#[test]
fn a_repeated_or_non_string_key_is_refused() {
    // {"x": 1, "x": 2}
    let twice = Raw::from_msgpack(vec![0x82, 0xa1, b'x', 1, 0xa1, b'x', 2]).expect("msgpack");
    let e = twice.map_entries().unwrap_err();
    assert!(e.reason.contains("the key \"x\" twice"), "{e}");
    // {1: 2}
    let int_key = Raw::from_msgpack(vec![0x81, 1, 2]).expect("msgpack");
    let e = int_key.map_entries().unwrap_err();
    assert!(e.reason.contains("not a string"), "{e}");
    // [1]
    let array = Raw::from_msgpack(vec![0x91, 1]).expect("msgpack");
    assert!(
        array
            .map_entries()
            .unwrap_err()
            .reason
            .contains("not a map")
    );
}

#[test]
fn values_keep_their_bytes_and_nesting() {
    let nested = Raw::encode(&BTreeMap::from([
        ("a", vec![vec![1, 2], vec![3]]),
        ("b", vec![]),
    ]))
    .expect("encoded");
    let entries = nested.map_entries().expect("a map");
    assert_eq!(entries[0].0, "a");
    assert_eq!(
        entries[0].1.decode::<Vec<Vec<u8>>>().expect("a"),
        [vec![1, 2], vec![3]]
    );
    assert_eq!(entries[1].1.to_json(), "[]");
    let again = Raw::from_map_entries(entries.iter().map(|(k, v)| (k.as_str(), v.clone())));
    assert_eq!(again.as_bytes(), nested.as_bytes());
}

#[test]
fn many_keys_are_read_in_one_pass() {
    let many: BTreeMap<String, u32> = (0..100_000).map(|i| (format!("k{i}"), i)).collect();
    let raw = Raw::encode(&many).expect("encoded");
    let entries = raw.map_entries().expect("a map");
    assert_eq!(entries.len(), 100_000);
    assert_eq!(entries[99_999].1.decode::<u32>().expect("a u32"), 99_999);
}

proptest! {
    #[test]
    fn any_string_map_round_trips(map in proptest::collection::btree_map(".{0,8}", any::<i64>(), 0..20)) {
        let raw = Raw::encode(&map).expect("encoded");
        let entries = raw.map_entries().expect("a map");
        let back: BTreeMap<String, i64> = entries
            .iter()
            .map(|(k, v)| (k.clone(), v.decode::<i64>().expect("an i64")))
            .collect();
        prop_assert_eq!(&back, &map);
        let again = Raw::from_map_entries(entries.iter().map(|(k, v)| (k.as_str(), v.clone())));
        prop_assert_eq!(again.as_bytes(), raw.as_bytes());
    }
}
