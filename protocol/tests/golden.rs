//! Byte-identity with Python tractor, checked against frames it produced.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use tractor_protocol::{
    Address, FrameDecoder, Kind, LockRelease, LockStatus, Msg, MsgType, Raw, Uid,
};

use common::{msg_vectors, transcripts, vector};

fn encode_body(msg: &Msg) -> Vec<u8> {
    let mut out = BytesMut::new();
    msg.encode(&mut out).expect("encodes");
    out.to_vec()
}

fn encode_frame(msg: &Msg) -> Vec<u8> {
    let mut out = BytesMut::new();
    msg.encode_frame(&mut out).expect("encodes");
    out.to_vec()
}

/// The message's JSON form, normalised through serde_json (which keeps key
/// order here), so that it compares as text with the vectors' fields: same
/// values, same wire order.
fn json(msg: &Msg) -> String {
    let value: serde_json::Value = serde_json::from_str(&msg.to_json()).expect("to_json is JSON");
    value.to_string()
}

#[test]
fn every_message_vector_round_trips_byte_for_byte() {
    let vectors = msg_vectors();
    assert!(
        vectors.len() >= 54,
        "expected at least 54 vectors, found {}",
        vectors.len()
    );
    let mut covered = BTreeSet::new();
    for v in &vectors {
        assert_eq!(
            &v.frame[4..],
            &v.body[..],
            "{}: frame = header + body",
            v.name
        );
        let msg =
            Msg::decode(Bytes::from(v.body.clone())).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(msg.msg_type().as_str(), v.msg_type, "{}", v.name);
        assert_eq!(encode_body(&msg), v.body, "{}: body bytes", v.name);
        assert_eq!(encode_frame(&msg), v.frame, "{}: frame bytes", v.name);
        assert_eq!(
            json(&msg),
            v.fields.to_string(),
            "{}: decoded fields",
            v.name
        );
        // Copying and sharing decoders agree.
        assert_eq!(Msg::decode_slice(&v.body).unwrap(), msg, "{}", v.name);
        covered.insert(msg.msg_type());
    }
    let all: BTreeSet<MsgType> = MsgType::PYTHON.into_iter().collect();
    assert_eq!(covered, all, "every message type has a vector");
}

#[test]
fn all_vectors_decode_from_one_stream() {
    let vectors = msg_vectors();
    let stream: Vec<u8> = vectors.iter().flat_map(|v| v.frame.clone()).collect();
    // One read holding everything, then reads of every size from 1 to 9.
    for chunk in [stream.len(), 1, 2, 3, 5, 7, 9] {
        let mut decoder = FrameDecoder::new();
        let mut buf = BytesMut::new();
        let mut bodies = Vec::new();
        for piece in stream.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                assert_eq!(
                    encode_body(&frame.msg().unwrap()),
                    frame.body,
                    "re-encoding at offset {}",
                    frame.offset
                );
                bodies.push(frame.body);
            }
        }
        decoder.finish(&buf).unwrap();
        assert_eq!(bodies.len(), vectors.len(), "chunk size {chunk}");
        for (body, v) in bodies.iter().zip(&vectors) {
            assert_eq!(&body[..], &v.body[..], "{}", v.name);
        }
        assert_eq!(decoder.offset(), stream.len() as u64);
    }
}

#[test]
fn every_transcript_frame_round_trips_byte_for_byte() {
    let transcripts = transcripts();
    assert!(transcripts.len() >= 9, "expected at least 9 transcripts");
    let mut frames = 0;
    for t in &transcripts {
        assert!(!t.wire.is_empty(), "{}: no frames", t.scenario);
        for w in &t.wire {
            let what = format!("{} seq {} ({} -> {})", t.scenario, w.seq, w.actor, w.peer);
            let mut buf = BytesMut::from(&w.frame[..]);
            let frame = FrameDecoder::new()
                .decode(&mut buf)
                .unwrap_or_else(|e| panic!("{what}: {e}"))
                .unwrap_or_else(|| panic!("{what}: incomplete frame"));
            assert!(buf.is_empty(), "{what}: one frame per entry");
            let msg = frame.msg().unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(msg.msg_type().as_str(), w.msg_type, "{what}");
            assert_eq!(encode_frame(&msg), w.frame, "{what}: frame bytes");
            assert_eq!(json(&msg), w.msg.to_string(), "{what}: decoded fields");
            frames += 1;
        }
    }
    assert!(frames > 0);
}

#[test]
fn transcript_connections_decode_as_streams() {
    // Each direction of each connection, as the receiving socket saw it.
    for t in transcripts() {
        let mut streams: BTreeMap<(String, String), Vec<u8>> = BTreeMap::new();
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for w in &t.wire {
            let key = (w.conn.clone(), w.actor.clone());
            streams
                .entry(key.clone())
                .or_default()
                .extend_from_slice(&w.frame);
            *counts.entry(key).or_default() += 1;
        }
        for (key, bytes) in streams {
            let mut decoder = FrameDecoder::new();
            let mut buf = BytesMut::new();
            let mut n = 0;
            for piece in bytes.chunks(13) {
                buf.extend_from_slice(piece);
                while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                    frame.msg().unwrap();
                    n += 1;
                }
            }
            decoder.finish(&buf).unwrap();
            assert_eq!(n, counts[&key], "{} {:?}", t.scenario, key);
        }
    }
}

fn payload(name: &str) -> Raw {
    match Msg::decode(Bytes::from(vector(name).body)).unwrap() {
        Msg::Started(m) => m.pld,
        Msg::Yield(m) => m.pld,
        Msg::Return(m) => m.pld,
        other => panic!("{name} carries no pld: {other}"),
    }
}

#[test]
fn tty_lock_payloads_are_tagged_structs() {
    let started = payload("started_lockstatus");
    let status: LockStatus = started.decode().unwrap();
    assert!(status.locked);
    assert_eq!(status.subactor_uid.name, "child");
    assert_eq!(
        Raw::encode(&status).unwrap(),
        started,
        "re-encoded byte for byte"
    );

    let returned = payload("return_lockstatus");
    let status: LockStatus = returned.decode().unwrap();
    assert!(!status.locked);
    assert_eq!(Raw::encode(&status).unwrap(), returned);

    let release = payload("yield_lockrelease");
    let r: LockRelease = release.decode().unwrap();
    assert_eq!(r.cid, status.cid);
    assert_eq!(Raw::encode(&r).unwrap(), release);

    // The tag is checked: a release is not a status.
    assert!(release.decode::<LockStatus>().is_err());
}

#[test]
fn scalar_payloads_read_as_rust_types() {
    assert_eq!(payload("yield_int0").decode::<u8>().unwrap(), 0);
    assert_eq!(payload("yield_int_u64").decode::<u64>().unwrap(), 1 << 40);
    assert_eq!(payload("yield_int_neg").decode::<i8>().unwrap(), -33);
    assert_eq!(
        payload("yield_int_neg_big").decode::<i64>().unwrap(),
        -(1 << 40)
    );
    assert_eq!(payload("yield_float").decode::<f64>().unwrap(), 1.5);
    assert!(payload("yield_bool").decode::<bool>().unwrap());
    assert_eq!(payload("yield_nil").decode::<Option<u8>>().unwrap(), None);
    assert_eq!(
        payload("yield_str_utf8").decode::<String>().unwrap(),
        "héllo ✓"
    );
    assert_eq!(
        payload("yield_str_256").decode::<String>().unwrap().len(),
        256
    );
    assert_eq!(
        payload("yield_list")
            .decode::<(u8, String, f64, Option<u8>)>()
            .unwrap(),
        (1, "two".to_owned(), 3.0, None)
    );
    assert_eq!(payload("yield_bytes").kind(), Kind::Bin);
    // Every Rust value written back gives Python's bytes.
    assert_eq!(Raw::encode(&-33i64).unwrap(), payload("yield_int_neg"));
    assert_eq!(
        Raw::encode(&(1u64 << 40)).unwrap(),
        payload("yield_int_u64")
    );
    assert_eq!(Raw::encode(&1.5f64).unwrap(), payload("yield_float"));
    assert_eq!(Raw::encode(&"héllo ✓").unwrap(), payload("yield_str_utf8"));
    assert_eq!(Raw::encode(&()).unwrap(), payload("yield_nil"));
}

#[test]
fn runtime_payloads_read_as_rust_types() {
    #[derive(Deserialize, Debug)]
    struct RegisterActor {
        uid: Uid,
        addr: Address,
    }
    for (name, expected_addr) in [
        ("start_register_actor", "tcp"),
        ("start_register_actor_uds", "uds"),
    ] {
        let Msg::Start(start) = Msg::decode(Bytes::from(vector(name).body)).unwrap() else {
            panic!("{name} is not a Start");
        };
        let kwargs: RegisterActor = start.decode_kwargs().unwrap();
        assert_eq!(kwargs.uid, start.uid, "{name}");
        assert_eq!(kwargs.addr.transport(), expected_addr, "{name}");
    }

    let addrs: Vec<Address> = payload("return_addrs").decode().unwrap();
    assert!(!addrs.is_empty());
    assert_eq!(Raw::encode(&addrs).unwrap(), payload("return_addrs"));

    #[derive(Deserialize, Debug)]
    struct RuntimeVars {
        _is_root: bool,
        _root_mailbox: Address,
        _enable_tpts: Vec<String>,
        _debug_mode: bool,
        _is_infected_aio: bool,
    }
    for (name, debug, tpt) in [
        ("spawnspec_tcp", false, "tcp"),
        ("spawnspec_uds_debug", true, "uds"),
    ] {
        let Msg::SpawnSpec(spec) = Msg::decode(Bytes::from(vector(name).body)).unwrap() else {
            panic!("{name} is not a SpawnSpec");
        };
        let vars: RuntimeVars = spec.decode_runtime_vars().unwrap();
        assert!(!vars._is_root);
        assert_eq!(vars._debug_mode, debug, "{name}");
        assert!(!vars._is_infected_aio);
        assert_eq!(vars._enable_tpts, [tpt]);
        assert_eq!(vars._root_mailbox.transport(), tpt);
        assert_eq!(spec.reg_addrs[0], vars._root_mailbox, "{name}");
    }
}

#[test]
fn a_payload_of_the_wrong_type_names_message_cid_and_type() {
    let v = vector("yield_str");
    let Msg::Yield(y) = Msg::decode(Bytes::from(v.body)).unwrap() else {
        panic!("not a Yield");
    };
    let err = y.decode_pld::<u64>().unwrap_err();
    assert_eq!(err.msg_type, Some(MsgType::Yield));
    assert_eq!(err.cid.as_deref(), Some(y.cid.as_str()));
    assert_eq!(err.field, "pld");
    assert_eq!(err.expected, "u64");
    assert_eq!(err.found, Kind::Str);
    let text = err.to_string();
    assert!(text.contains("Yield message (cid "), "{text}");
    assert!(text.contains("`u64`"), "{text}");

    let v = vector("start_open_context_kwargs");
    let Msg::Start(s) = Msg::decode(Bytes::from(v.body)).unwrap() else {
        panic!("not a Start");
    };
    let err = s.decode_kwargs::<Vec<u8>>().unwrap_err();
    assert_eq!(
        (err.msg_type, err.field, err.found),
        (Some(MsgType::Start), "kwargs", Kind::Map)
    );
}
