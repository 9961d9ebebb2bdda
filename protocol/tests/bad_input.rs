//! Every class of bad input gets its own typed error, and none panics.

mod common;

use bytes::{Bytes, BytesMut};
use tractor_protocol::{DecodeError, FrameDecoder, FrameError, Kind, Msg, MsgType, Raw, Yield};

use common::mp::{map, obj, val};
use common::{msg_vectors, vector};

fn decode(body: &[u8]) -> Result<Msg, DecodeError> {
    let shared = Msg::decode(Bytes::copy_from_slice(body));
    assert_eq!(Msg::decode_slice(body), shared, "both decoders agree");
    shared
}

fn err(body: &[u8]) -> DecodeError {
    decode(body).expect_err("must be refused")
}

const CID: &str = "c1";

fn yield_with(extra: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut entries = vec![
        ("msg_type", val("Yield")),
        ("cid", val(CID)),
        ("pld", val(1)),
    ];
    entries.extend(extra.iter().cloned());
    obj(&entries)
}

#[test]
fn truncated_body() {
    for v in msg_vectors() {
        for cut in 0..v.body.len() {
            match err(&v.body[..cut]) {
                DecodeError::Truncated { offset, len } => {
                    assert_eq!(len, cut, "{}", v.name);
                    assert!(offset <= cut, "{}", v.name);
                }
                other => panic!("{} cut at {cut}: {other}", v.name),
            }
        }
    }
    let e = err(&[]);
    assert_eq!(e, DecodeError::Truncated { offset: 0, len: 0 });
    assert_eq!(
        e.to_string(),
        "truncated: the value at byte 0 runs past the end of the 0-byte input"
    );
}

#[test]
fn not_a_map() {
    // Also when bytes follow: the first thing wrong is the kind.
    assert_eq!(
        err(&[0x92, 0x01, 0x02, 0xc0]),
        DecodeError::NotAMap { found: Kind::Array }
    );
    assert_eq!(
        err(&val([1, 2])),
        DecodeError::NotAMap { found: Kind::Array }
    );
    assert_eq!(err(&val("Stop")), DecodeError::NotAMap { found: Kind::Str });
    assert_eq!(err(&[0xc0]), DecodeError::NotAMap { found: Kind::Nil });
    assert_eq!(
        err(&val([1, 2])).to_string(),
        "message body is array, expected a map"
    );
}

#[test]
fn no_msg_type() {
    let e = err(&obj(&[("cid", val(CID)), ("pld", val(1))]));
    assert_eq!(e, DecodeError::MissingMsgType);
    assert_eq!(e.to_string(), "message has no `msg_type` key");
    assert_eq!(err(&[0x80]), DecodeError::MissingMsgType);
}

#[test]
fn unknown_msg_type() {
    let e = err(&obj(&[("msg_type", val("Bogus")), ("cid", val(CID))]));
    assert_eq!(
        e,
        DecodeError::UnknownMsgType {
            name: "Bogus".into()
        }
    );
    assert_eq!(e.to_string(), "unknown msg_type \"Bogus\"");
    // The payload structs of the debugger are not messages.
    assert!(matches!(
        err(&obj(&[("msg_type", val("LockStatus"))])),
        DecodeError::UnknownMsgType { .. }
    ));
    // A tag that is not a string.
    assert!(matches!(
        err(&obj(&[("msg_type", val(3))])),
        DecodeError::WrongType {
            msg_type: None,
            field: "msg_type",
            found: Kind::Int,
            ..
        }
    ));
}

#[test]
fn missing_required_field() {
    let e = err(&obj(&[("msg_type", val("Yield")), ("cid", val(CID))]));
    assert_eq!(
        e,
        DecodeError::MissingField {
            msg_type: MsgType::Yield,
            field: "pld",
            cid: Some(CID.into())
        }
    );
    assert_eq!(
        e.to_string(),
        "Yield message (cid c1) is missing required field `pld`"
    );
    assert_eq!(e.cid(), Some(CID));
    assert_eq!(
        err(&obj(&[("msg_type", val("Stop"))])),
        DecodeError::MissingField {
            msg_type: MsgType::Stop,
            field: "cid",
            cid: None
        }
    );
    // Every field of the Error message without a default is required.
    let e = err(&obj(&[
        ("msg_type", val("Error")),
        ("src_uid", val(("a", "b"))),
        ("src_type_str", val("ValueError")),
        ("boxed_type_str", val("ValueError")),
    ]));
    assert!(
        matches!(
            e,
            DecodeError::MissingField {
                field: "relay_path",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn wrong_field_type() {
    let e = err(&obj(&[
        ("msg_type", val("Yield")),
        ("cid", val(7)),
        ("pld", val(1)),
    ]));
    assert!(
        matches!(
            e,
            DecodeError::WrongType {
                msg_type: Some(MsgType::Yield),
                field: "cid",
                expected: "str",
                found: Kind::Int,
                ..
            }
        ),
        "{e}"
    );
    // The map header, "msg_type", "Yield" and "cid" take 1 + 9 + 6 + 4 bytes.
    assert_eq!(
        e.to_string(),
        "`cid` of Yield message: expected str, found int at byte 20"
    );

    let e = err(&obj(&[
        ("msg_type", val("CancelAck")),
        ("cid", val(CID)),
        ("pld", val("yes")),
    ]));
    // 1 + 9 + 10 ("CancelAck") + 4 + 3 ("c1") + 4 ("pld") bytes come first.
    assert_eq!(
        e.to_string(),
        "`pld` of CancelAck message (cid c1): expected bool, found str at byte 31"
    );

    let start = |kwargs: Vec<u8>, uid: Vec<u8>| {
        obj(&[
            ("msg_type", val("Start")),
            ("cid", val(CID)),
            ("ns", val("mod")),
            ("func", val("f")),
            ("kwargs", kwargs),
            ("uid", uid),
        ])
    };
    assert!(matches!(
        err(&start(val([1]), val(("a", "b")))),
        DecodeError::WrongType {
            field: "kwargs",
            expected: "map",
            found: Kind::Array,
            ..
        }
    ));
    assert!(matches!(
        err(&start(obj(&[]), val("a"))),
        DecodeError::WrongType {
            field: "uid",
            found: Kind::Str,
            ..
        }
    ));
    // Right type, value out of bounds.
    let e = err(&start(obj(&[]), val(("a", "b", "c"))));
    assert_eq!(
        e.to_string(),
        "`uid` of Start message (cid c1): expected a [name, uuid] pair of str, found an array of 3"
    );
    let e = err(&obj(&[
        ("msg_type", val("StartAck")),
        ("cid", val(CID)),
        ("functype", val("gen")),
    ]));
    assert!(
        matches!(
            e,
            DecodeError::InvalidValue {
                field: "functype",
                ..
            }
        ),
        "{e}"
    );
    let e = err(&obj(&[
        ("msg_type", val("Aid")),
        ("name", val("a")),
        ("uuid", val("b")),
        ("pid", val(-1)),
    ]));
    assert_eq!(
        e.to_string(),
        "`pid` of Aid message: -1 is not a process id"
    );
    let spawn = |addr: Vec<u8>| {
        obj(&[
            ("msg_type", val("SpawnSpec")),
            ("_parent_main_data", obj(&[])),
            ("_runtime_vars", obj(&[])),
            ("enable_modules", obj(&[])),
            ("reg_addrs", addr),
            ("bind_addrs", val(())),
        ])
    };
    let e = err(&spawn(val([("127.0.0.1", 70000)])));
    assert_eq!(
        e.to_string(),
        "`reg_addrs` of SpawnSpec message: port 70000 is out of range"
    );
    assert!(matches!(
        err(&spawn(val([("127.0.0.1", 1.5)]))),
        DecodeError::WrongType {
            field: "reg_addrs",
            found: Kind::Float,
            ..
        }
    ));
    // Defaults are not nullable: Python would refuse a nil `tb_str` too.
    let e = err(&obj(&[
        ("msg_type", val("Aid")),
        ("name", val("a")),
        ("uuid", val("b")),
        ("is_probe", val(())),
    ]));
    assert!(
        matches!(
            e,
            DecodeError::WrongType {
                field: "is_probe",
                found: Kind::Nil,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn invalid_utf8() {
    let bad = [0xa2, 0xff, 0xfe];
    let e = err(&obj(&[
        ("msg_type", val("Yield")),
        ("cid", bad.to_vec()),
        ("pld", val(1)),
    ]));
    assert_eq!(
        e,
        DecodeError::InvalidUtf8 {
            msg_type: Some(MsgType::Yield),
            field: Some("cid"),
            offset: 20
        }
    );
    assert_eq!(
        e.to_string(),
        "invalid UTF-8 in `cid` of Yield message at byte 20"
    );
    // In a key.
    let e = err(&map(&[
        (val("msg_type"), val("Stop")),
        (bad.to_vec(), val(CID)),
    ]));
    assert!(
        matches!(
            e,
            DecodeError::InvalidUtf8 {
                msg_type: Some(MsgType::Stop),
                field: None,
                ..
            }
        ),
        "{e}"
    );
    // In the tag.
    let e = err(&map(&[(val("msg_type"), bad.to_vec())]));
    assert!(
        matches!(
            e,
            DecodeError::InvalidUtf8 {
                msg_type: None,
                field: Some("msg_type"),
                ..
            }
        ),
        "{e}"
    );
    // Inside a payload it is the receiving dialog's business, as in Python:
    // the message decodes and the typed read fails.
    let msg = decode(&obj(&[
        ("msg_type", val("Yield")),
        ("cid", val(CID)),
        ("pld", bad.to_vec()),
    ]))
    .unwrap();
    let Msg::Yield(y) = msg else { panic!() };
    assert!(y.decode_pld::<String>().is_err());
}

#[test]
fn trailing_bytes() {
    let mut body = vector("stop").body;
    let len = body.len();
    body.push(0xc0);
    let e = err(&body);
    assert_eq!(
        e,
        DecodeError::TrailingBytes {
            offset: len,
            len: len + 1
        }
    );
    assert_eq!(
        e.to_string(),
        format!("1 trailing byte(s) after the value that ends at byte {len}")
    );
}

#[test]
fn reserved_marker() {
    let e = err(&yield_with(&[("x", vec![0xc1])]));
    assert!(matches!(e, DecodeError::ReservedMarker { .. }), "{e}");
}

#[test]
fn non_string_key() {
    let e = err(&map(&[(val("msg_type"), val("Stop")), (val(1), val(CID))]));
    assert!(
        matches!(
            e,
            DecodeError::NonStrKey {
                found: Kind::Int,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn duplicate_field() {
    let e = err(&yield_with(&[("cid", val("c2"))]));
    assert_eq!(
        e,
        DecodeError::DuplicateField {
            msg_type: MsgType::Yield,
            field: "cid",
            cid: None
        }
    );
    assert!(matches!(
        err(&yield_with(&[("msg_type", val("Yield"))])),
        DecodeError::DuplicateField {
            field: "msg_type",
            ..
        }
    ));
}

#[test]
fn unknown_keys_are_ignored_and_order_is_free() {
    let body = yield_with(&[
        ("future_field", val([1, 2, 3])),
        ("_private", obj(&[("k", val(()))])),
    ]);
    assert_eq!(
        decode(&body).unwrap(),
        Msg::Yield(Yield::new(CID, Raw::encode(&1).unwrap()))
    );
    let reordered = obj(&[
        ("pld", val(1)),
        ("cid", val(CID)),
        ("msg_type", val("Yield")),
    ]);
    assert_eq!(decode(&reordered).unwrap(), decode(&body).unwrap());
}

#[test]
fn absent_defaults_are_filled_in_as_python_does() {
    // The vectors made by Python from only the required fields.
    for name in ["aid_defaults", "error_minimal"] {
        let v = vector(name);
        let full = decode(&v.body).unwrap();
        // Keep just the required keys, in wire order.
        let required: &[&str] = match full.msg_type() {
            MsgType::Aid => &["msg_type", "name", "uuid"],
            _ => &[
                "msg_type",
                "src_uid",
                "src_type_str",
                "boxed_type_str",
                "relay_path",
            ],
        };
        let serde_json::Value::Object(fields) = &v.fields else {
            panic!()
        };
        // These fields are plain strings and arrays of strings, so their
        // JSON form encodes back to the same msgpack.
        let entries: Vec<_> = required.iter().map(|k| (*k, val(&fields[*k]))).collect();
        let minimal = obj(&entries);
        let msg = decode(&minimal).unwrap();
        assert_eq!(msg, full, "{name}");
        let mut out = BytesMut::new();
        msg.encode(&mut out).unwrap();
        assert_eq!(
            &out[..],
            &v.body[..],
            "{name}: defaults encoded as Python does"
        );
    }
}

#[test]
fn hostile_lengths_fail_without_allocating() {
    // A relay path announcing 2^32-1 uids in a 60-byte body.
    let mut relay = vec![0xdd, 0xff, 0xff, 0xff, 0xff];
    relay.extend(val(("a", "b")));
    let body = obj(&[
        ("msg_type", val("Error")),
        ("src_uid", val(("a", "b"))),
        ("src_type_str", val("E")),
        ("boxed_type_str", val("E")),
        ("relay_path", relay),
    ]);
    assert!(matches!(err(&body), DecodeError::Truncated { .. }));
    // A string announcing 4 GiB.
    let body = yield_with(&[("x", vec![0xdb, 0xff, 0xff, 0xff, 0xff])]);
    assert!(matches!(err(&body), DecodeError::Truncated { .. }));
}

#[test]
fn frame_level_errors() {
    let mut buf = BytesMut::from(&[0u8; 4][..]);
    assert_eq!(
        FrameDecoder::new().decode(&mut buf),
        Err(FrameError::Empty { offset: 0 })
    );

    let frame = vector("stop").frame;
    let n = frame.len();
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&frame);
    buf.extend_from_slice(&u32::MAX.to_le_bytes());
    let mut d = FrameDecoder::new();
    assert!(d.decode(&mut buf).unwrap().is_some());
    let e = d.decode(&mut buf).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "frame at stream offset {n} announces 4294967295 bytes, over the limit of 67108864"
        )
    );

    let mut buf = BytesMut::from(&frame[..n - 1]);
    let mut d = FrameDecoder::new();
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert_eq!(
        d.finish(&buf).unwrap_err().to_string(),
        format!(
            "stream ended inside the frame at offset 0: {} of {n} bytes arrived",
            n - 1
        )
    );
}

#[test]
fn a_bad_body_does_not_desync_the_stream() {
    let mut wire = BytesMut::new();
    let junk = val([1, 2]);
    wire.extend_from_slice(&(junk.len() as u32).to_le_bytes());
    wire.extend_from_slice(&junk);
    wire.extend_from_slice(&vector("stop").frame);
    let mut d = FrameDecoder::new();
    let first = d.decode(&mut wire).unwrap().unwrap();
    assert_eq!(
        first.msg(),
        Err(DecodeError::NotAMap { found: Kind::Array })
    );
    let second = d.decode(&mut wire).unwrap().unwrap();
    assert_eq!(second.msg().unwrap().msg_type(), MsgType::Stop);
}

#[test]
fn refused_outgoing_messages_write_nothing() {
    let Msg::Start(mut start) = decode(&vector("start_open_context_kwargs").body).unwrap() else {
        panic!()
    };
    start.kwargs = Raw::encode(&[1, 2]).unwrap();
    let mut out = BytesMut::from(&b"keep"[..]);
    let e = Msg::Start(start).encode_frame(&mut out).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`kwargs` of Start message must be a map, found array"
    );
    assert_eq!(&out[..], b"keep");
}

#[test]
fn deeply_nested_payloads_fail_cleanly_on_a_small_stack() {
    // 100 000 nested arrays: valid msgpack, 100 kB, and far deeper than any
    // recursive decoder should follow. Run where a tokio worker would, on a
    // 2 MiB stack.
    let mut pld = vec![0x91; 100_000];
    pld.push(0xc0);
    let body = obj(&[("msg_type", val("Yield")), ("cid", val(CID)), ("pld", pld)]);
    let outcome = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let Msg::Yield(y) = decode(&body).expect("structure is fine") else {
                panic!("not a Yield")
            };
            // Nesting within the limit still reads.
            let mut fine = vec![0x91; Raw::MAX_DEPTH - 2];
            fine.push(0xc0);
            Raw::from_msgpack(fine)
                .unwrap()
                .decode::<serde::de::IgnoredAny>()
                .unwrap();
            let json = y.pld.to_json();
            let line = y.to_string();
            (
                y.decode_pld::<serde::de::IgnoredAny>().is_err(),
                json.len(),
                line.len(),
            )
        })
        .unwrap()
        .join()
        .expect("no stack overflow");
    let (refused, json_len, line_len) = outcome;
    assert!(refused, "the typed read hits the depth limit");
    assert!(json_len < 2_000, "rendering elides what is too deep");
    assert!(line_len < 200);
}

#[test]
fn a_payload_that_does_not_fit_names_the_field() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Area {
        width: i64,
        height: i64,
    }
    #[derive(serde::Serialize)]
    struct Sent {
        height: i64,
        width: &'static str,
    }
    let raw = Raw::encode(&Sent {
        height: 2,
        width: "wide",
    })
    .unwrap();
    let e = raw.decode::<Area>().expect_err("a string is no i64");
    assert!(e.reason.starts_with("at width: "), "{e}");
    // A mismatch at the top names no path.
    let e = Raw::encode(&1)
        .unwrap()
        .decode::<Area>()
        .expect_err("1 is no map");
    assert!(!e.reason.starts_with("at "), "{e}");
}
