//! Property tests: every message type, arbitrary field values.
//!
//! Each generated message is built twice: once as our [`Msg`], once as a
//! serde mirror encoded by `rmp-serde` in struct-map mode, which lays out
//! tagged structs exactly as msgspec does. The two encodings must be the
//! same bytes, and decoding ours must give the message back.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use tractor_protocol::{
    Address, Aid, AuthStep, CancelAck, Error, ErrorFields, FrameDecoder, FuncType, Msg, Raw,
    Return, SpawnSpec, Start, StartAck, Started, Stop, Uid, Yield,
};

/// Any msgpack value.
#[derive(Debug, Clone)]
enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Bin(Vec<u8>),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Nil => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(v) => s.serialize_str(v),
            Value::Bin(b) => s.serialize_bytes(b),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// Pairs serialized as a map, in order.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
struct OrderedMap(#[serde(serialize_with = "ordered_map")] Vec<(String, String)>);

fn ordered_map<S: Serializer>(pairs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

/// The serde mirror of the catalogue.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "msg_type")]
#[allow(non_snake_case)]
enum Mirror {
    Aid {
        name: String,
        uuid: String,
        pid: Option<u32>,
        is_registrar: Option<bool>,
        is_probe: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        credit_flow: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        auth_nonce: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        auth_proof: Option<String>,
    },
    SpawnSpec {
        _parent_main_data: Value,
        _runtime_vars: Value,
        enable_modules: OrderedMap,
        reg_addrs: Vec<Address>,
        bind_addrs: Option<Vec<Address>>,
    },
    Start {
        cid: String,
        ns: String,
        func: String,
        kwargs: Value,
        uid: Uid,
        pld_spec: String,
    },
    StartAck {
        cid: String,
        functype: &'static str,
    },
    Started {
        cid: String,
        pld: Value,
    },
    Yield {
        cid: String,
        pld: Value,
    },
    Stop {
        cid: String,
    },
    Return {
        cid: String,
        pld: Value,
    },
    CancelAck {
        cid: String,
        pld: bool,
    },
    Credit {
        cid: String,
        n: u32,
    },
    Error {
        src_uid: Uid,
        src_type_str: String,
        boxed_type_str: String,
        relay_path: Vec<Uid>,
        message: Option<String>,
        tb_str: String,
        canceller: Option<Uid>,
        sender: Option<Uid>,
        cid: Option<String>,
        _bad_msg: Option<Value>,
        _bad_msg_as_dict: Option<Value>,
        // Our extension: absent unless set.
        #[serde(skip_serializing_if = "Option::is_none")]
        error_fields: Option<Box<(String, String)>>,
    },
}

fn text() -> impl Strategy<Value = String> {
    // Short text of any script, and lengths around every header boundary.
    prop_oneof![
        8 => "\\PC{0,40}",
        1 => "[a-z\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{202e}]{0,12}",
        1 => "[a-z]{30,33}",
        1 => "[a-z]{254,257}",
        1 => prop_oneof![Just(65535usize), Just(65536)].prop_map(|n| "é".repeat(n / 2) + &"x".repeat(n % 2)),
    ]
}

/// Integers, with every boundary between msgpack's integer forms.
fn uint(max: u64) -> impl Strategy<Value = u64> {
    let edges: Vec<u64> = [
        0u64,
        1,
        0x7f,
        0x80,
        0xff,
        0x100,
        0xffff,
        0x1_0000,
        0xffff_ffff,
    ]
    .into_iter()
    .filter(|e| *e <= max)
    .collect();
    prop_oneof![prop::sample::select(edges), 0..=max]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<u64>().prop_map(Value::UInt),
        (-300i64..300).prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        text().prop_map(Value::Str),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Value::Bin),
    ];
    leaf.prop_recursive(4, 64, 20, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..20).prop_map(Value::Array),
            prop::collection::vec((inner.clone(), inner), 0..20).prop_map(Value::Map),
        ]
    })
}

fn map_value() -> impl Strategy<Value = Value> {
    prop::collection::vec((text().prop_map(Value::Str), value()), 0..6).prop_map(Value::Map)
}

fn raw(v: &Value) -> Raw {
    Raw::encode(v).expect("any Value encodes")
}

fn uid() -> impl Strategy<Value = Uid> {
    (text(), text()).prop_map(|(n, u)| Uid::new(n, u))
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        (text(), uint(u16::MAX.into())).prop_map(|(h, p)| Address::tcp(h, p as u16)),
        (text(), text()).prop_map(|(d, f)| Address::uds(d, f)),
    ]
}

fn cid() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    ]
}

/// A message and its mirror.
fn message() -> impl Strategy<Value = (Msg, Mirror)> {
    let pid = prop::option::of(uint(u32::MAX.into()).prop_map(|p| p as u32));
    let flow = prop::option::of(uint(u32::MAX.into()).prop_map(|v| v as u32));
    let aid = (
        text(),
        text(),
        pid,
        any::<Option<bool>>(),
        any::<bool>(),
        flow,
        prop::option::of((any::<bool>(), any::<[u8; 32]>())),
    )
        .prop_map(
            |(name, uuid, pid, is_registrar, is_probe, credit_flow, auth)| {
                let hex = |b: &[u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
                let (auth_nonce, auth_proof) = match &auth {
                    Some((true, b)) => (Some(hex(b)), None),
                    Some((false, b)) => (None, Some(hex(b))),
                    None => (None, None),
                };
                (
                    Msg::from(Aid {
                        name: name.clone(),
                        uuid: uuid.clone(),
                        pid,
                        is_registrar,
                        is_probe,
                        credit_flow,
                        auth: auth.map(|(hello, b)| {
                            if hello {
                                AuthStep::Hello { nonce: b }
                            } else {
                                AuthStep::Proof { mac: b }
                            }
                        }),
                    }),
                    Mirror::Aid {
                        name,
                        uuid,
                        pid,
                        is_registrar,
                        is_probe,
                        credit_flow,
                        auth_nonce,
                        auth_proof,
                    },
                )
            },
        );
    let credit = (cid(), uint(u32::MAX.into())).prop_map(|(cid, n)| {
        let n = n as u32;
        (
            Msg::Credit(tractor_protocol::Credit {
                cid: cid.clone(),
                n,
            }),
            Mirror::Credit { cid, n },
        )
    });
    let spawn_spec = (
        map_value(),
        map_value(),
        prop::collection::vec((text(), text()), 0..20),
        prop::collection::vec(address(), 0..4),
        prop::option::of(prop::collection::vec(address(), 0..4)),
    )
        .prop_map(|(main, vars, modules, reg, bind)| {
            (
                Msg::from(SpawnSpec {
                    parent_main_data: raw(&main),
                    runtime_vars: raw(&vars),
                    enable_modules: modules.clone(),
                    reg_addrs: reg.clone(),
                    bind_addrs: bind.clone(),
                }),
                Mirror::SpawnSpec {
                    _parent_main_data: main,
                    _runtime_vars: vars,
                    enable_modules: OrderedMap(modules),
                    reg_addrs: reg,
                    bind_addrs: bind,
                },
            )
        });
    let start = (cid(), text(), text(), map_value(), uid(), text()).prop_map(
        |(cid, ns, func, kwargs, uid, pld_spec)| {
            (
                Msg::from(Start {
                    cid: cid.clone(),
                    ns: ns.clone(),
                    func: func.clone(),
                    kwargs: raw(&kwargs),
                    uid: uid.clone(),
                    pld_spec: pld_spec.clone(),
                }),
                Mirror::Start {
                    cid,
                    ns,
                    func,
                    kwargs,
                    uid,
                    pld_spec,
                },
            )
        },
    );
    let start_ack = (
        cid(),
        prop_oneof![
            Just(FuncType::AsyncFunc),
            Just(FuncType::AsyncGen),
            Just(FuncType::Context)
        ],
    )
        .prop_map(|(cid, functype)| {
            (
                Msg::StartAck(StartAck {
                    cid: cid.clone(),
                    functype,
                }),
                Mirror::StartAck {
                    cid,
                    functype: functype.as_str(),
                },
            )
        });
    let payload = (0..3u8, cid(), value()).prop_map(|(which, cid, pld)| match which {
        0 => (
            Msg::Started(Started::new(cid.clone(), raw(&pld))),
            Mirror::Started { cid, pld },
        ),
        1 => (
            Msg::Yield(Yield::new(cid.clone(), raw(&pld))),
            Mirror::Yield { cid, pld },
        ),
        _ => (
            Msg::Return(Return::new(cid.clone(), raw(&pld))),
            Mirror::Return { cid, pld },
        ),
    });
    let stop = cid().prop_map(|cid| (Msg::Stop(Stop { cid: cid.clone() }), Mirror::Stop { cid }));
    let cancel_ack = (cid(), any::<bool>()).prop_map(|(cid, pld)| {
        (
            Msg::CancelAck(CancelAck {
                cid: cid.clone(),
                pld,
            }),
            Mirror::CancelAck { cid, pld },
        )
    });
    let error = (
        (uid(), text(), text(), prop::collection::vec(uid(), 0..20)),
        (
            prop::option::of(text()),
            text(),
            prop::option::of(uid()),
            prop::option::of(uid()),
        ),
        (
            prop::option::of(cid()),
            prop::option::of(map_value()),
            prop::option::of(map_value()),
        ),
    )
        .prop_map(
            |(
                (src_uid, src_type_str, boxed_type_str, relay_path),
                (message, tb_str, canceller, sender),
                (cid, bad_msg, bad_msg_as_dict),
            )| {
                // Our extension, with and without (one more strategy here
                // overflows a debug build's stack).
                let error_fields = cid.clone().map(|c| Box::new((src_type_str.clone(), c)));
                (
                    Msg::from(Error {
                        src_uid: src_uid.clone(),
                        src_type_str: src_type_str.clone(),
                        boxed_type_str: boxed_type_str.clone(),
                        relay_path: relay_path.clone(),
                        message: message.clone(),
                        tb_str: tb_str.clone(),
                        canceller: canceller.clone(),
                        sender: sender.clone(),
                        cid: cid.clone(),
                        bad_msg: bad_msg.as_ref().map(raw),
                        bad_msg_as_dict: bad_msg_as_dict.as_ref().map(raw),
                        fields: error_fields.as_deref().map(|(name, v)| {
                            Box::new(ErrorFields {
                                type_name: name.clone(),
                                value: Raw::encode(v).expect("a str encodes"),
                            })
                        }),
                    }),
                    Mirror::Error {
                        src_uid,
                        src_type_str,
                        boxed_type_str,
                        relay_path,
                        message,
                        tb_str,
                        canceller,
                        sender,
                        cid,
                        _bad_msg: bad_msg,
                        _bad_msg_as_dict: bad_msg_as_dict,
                        error_fields,
                    },
                )
            },
        );
    prop_oneof![
        aid, spawn_spec, start, start_ack, payload, stop, cancel_ack, credit, error
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encoding_matches_msgspec_layout_and_round_trips((msg, mirror) in message()) {
        let mut ours = BytesMut::new();
        msg.encode(&mut ours).unwrap();
        let oracle = rmp_serde::to_vec_named(&mirror).unwrap();
        prop_assert_eq!(&ours[..], &oracle[..], "bytes differ from the msgspec layout for {}", msg);

        let back = Msg::decode(ours.clone().freeze()).unwrap();
        prop_assert_eq!(&back, &msg);
        let mut again = BytesMut::new();
        back.encode(&mut again).unwrap();
        prop_assert_eq!(&again[..], &ours[..]);

        // The JSON form is JSON, and the one-line form is one line with no
        // control character a peer could use to forge or colour a log.
        serde_json::from_str::<serde_json::Value>(&msg.to_json()).unwrap();
        let line = msg.to_string();
        prop_assert!(!line.chars().any(char::is_control), "{:?}", line);
    }

    #[test]
    fn frames_survive_any_chunking(
        msgs in prop::collection::vec(message().prop_map(|(m, _)| m), 1..8),
        chunk in 1usize..64,
    ) {
        let mut wire = BytesMut::new();
        for m in &msgs {
            m.encode_frame(&mut wire).unwrap();
        }
        let wire: Bytes = wire.freeze();
        let mut decoder = FrameDecoder::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                got.push(frame.msg().unwrap());
            }
        }
        decoder.finish(&buf).unwrap();
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn any_payload_value_round_trips_through_raw(v in value()) {
        let raw = raw(&v);
        let checked = Raw::from_msgpack(raw.clone().into_bytes()).unwrap();
        prop_assert_eq!(&checked, &raw);
        serde_json::from_str::<serde_json::Value>(&raw.to_json()).unwrap();
    }
}
