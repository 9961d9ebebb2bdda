//! Invariants the fuzz targets check on every message they manage to decode.

use bytes::BytesMut;
use tractor_protocol::{LockRelease, LockStatus, Msg, Raw};

/// Whatever decoded must re-encode, decode back to the same message, and
/// re-encode to the same bytes; printing and typed payload reads must not
/// panic whatever the payload holds.
pub fn check_message(msg: &Msg) {
    let mut first = BytesMut::new();
    msg.encode(&mut first).expect("a decoded message encodes");
    let again = Msg::decode(first.clone().freeze()).expect("an encoded message decodes");
    assert_eq!(&again, msg, "decode(encode(m)) == m");
    let mut second = BytesMut::new();
    again.encode(&mut second).expect("encodes twice");
    assert_eq!(first, second, "encoding is stable");

    let _ = msg.to_string();
    let _ = msg.to_json();
    let payload = match msg {
        Msg::Started(m) => Some(&m.pld),
        Msg::Yield(m) => Some(&m.pld),
        Msg::Return(m) => Some(&m.pld),
        Msg::Start(m) => Some(&m.kwargs),
        _ => None,
    };
    if let Some(raw) = payload {
        check_payload(raw);
    }
}

/// Typed reads of an arbitrary payload fail cleanly or succeed.
pub fn check_payload(raw: &Raw) {
    let _ = raw.decode::<LockStatus>();
    let _ = raw.decode::<LockRelease>();
    let _ = raw.decode::<Vec<(String, i64)>>();
    let _ = raw.decode::<std::collections::BTreeMap<String, Option<f64>>>();
    let _ = raw.decode::<String>();
    // Keyword arguments, as a typed service reads them: each entry is one
    // whole value, and the map written back from them is the same bytes.
    if let Ok(entries) = raw.map_entries() {
        for (_, value) in &entries {
            assert!(Raw::from_msgpack(value.as_bytes().to_vec()).is_ok());
        }
        let again = Raw::from_map_entries(entries.iter().map(|(k, v)| (k.as_str(), v.clone())));
        assert_eq!(
            again.map_entries().ok().map(|e| e.len()),
            Some(entries.len())
        );
    }
}
