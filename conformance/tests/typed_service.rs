//! Typed services (`service!`) between real processes: through their
//! typed client, and called the way Python calls them, with the keyword
//! arguments of a call recorded from Python.

#[path = "../../protocol/tests/common/mod.rs"]
mod common;

use std::path::Path;

use tractor_adapters::Adapter;
use tractor_conformance::Tree;
use tractor_conformance::peer::{self, RawPeer};
use tractor_protocol::{FrameDecoder, Msg, Raw};

use common::transcript;

const PROGRAM: &str = env!("CARGO_BIN_EXE_tractor-conformance");

/// Every adapter over each transport.
fn cases() -> impl Iterator<Item = (&'static str, &'static str)> {
    Adapter::ALL
        .into_iter()
        .map(Adapter::name)
        .flat_map(|a| ["tcp", "uds"].map(|t| (a, t)))
}

#[test]
fn typed_client_calls_a_typed_service_in_a_child() {
    for (a, t) in cases() {
        let tree = Tree::new().adapter(a);
        let r = tree.run(Path::new(PROGRAM), &["typed-service", t]);
        tree.assert_clean();
        r.assert_ok();
        assert_eq!(r.fact("square"), "49", "{a}/{t}: {r:?}");
        assert_eq!(r.fact("greet"), "hello, ada");
        assert_eq!(r.fact("greet_titled"), "hello, countess ada");
        // The service's own error, registered: back as its type.
        assert_eq!(r.fact("divide_type"), "ZeroDivisionError");
        assert_eq!(
            r.fact("divide_typed"),
            "Some(DivisionByZero { dividend: 7 })"
        );
        assert_eq!(r.fact("overflow"), "OverflowError");
        assert_eq!(r.fact("untyped"), "9");
        assert_eq!(r.fact("totals"), "[10, 11, 13, 16]");
        assert_eq!(r.fact("added"), "3");
    }
}

/// The keyword arguments Python sent with the recorded call of
/// `self:register_actor` (`uid` and `addr`), as they were on the wire.
fn python_kwargs() -> (Raw, Vec<u8>) {
    let t = transcript("run_in_actor");
    let f = t
        .wire
        .iter()
        .find(|f| f.msg_type == "Start" && f.msg["func"] == "register_actor")
        .expect("the recorded register_actor call");
    let mut buf = bytes::BytesMut::from(&f.frame[..]);
    let msg = FrameDecoder::default()
        .decode(&mut buf)
        .expect("a frame")
        .expect("a whole frame")
        .msg()
        .expect("a message");
    let Msg::Start(start) = msg else {
        panic!("{msg:?}")
    };
    let bytes = start.kwargs.as_bytes().to_vec();
    (start.kwargs, bytes)
}

/// The result of calling `conf_math:func` with `kwargs` as a peer that
/// speaks as Python does: `Ok` with the returned value as JSON, or the
/// error's type and message.
fn call(p: &mut RawPeer, func: &str, kwargs: Raw) -> Result<String, (String, String)> {
    match p.call("conf_math", func, kwargs).expect("an answer") {
        Msg::Return(r) => Ok(r.pld.to_json()),
        Msg::Error(e) => Err((e.boxed_type_str.clone(), e.tb_str.clone())),
        other => panic!("{other:?}"),
    }
}

fn kwargs(json: &[(&str, Raw)]) -> Raw {
    Raw::from_map_entries(json.iter().map(|(k, v)| (*k, v.clone())))
}

fn int(n: i64) -> Raw {
    Raw::encode(&n).expect("an int")
}

#[test]
fn a_typed_service_answers_calls_shaped_as_pythons() {
    let (recorded, recorded_bytes) = python_kwargs();
    assert_eq!(
        recorded.to_json(),
        r#"{"uid": ["child", "0b01e30a-a89e-48f6-a14a-8c92fb6fc649"], "addr": ["127.0.0.1", 34647]}"#
    );
    for (a, t) in cases() {
        let d = peer::attack_daemon(Path::new(PROGRAM), a, t, "");
        let mut p = RawPeer::connect(&d.addr, "pyclient").expect("a connection");
        p.handshake().expect("a handshake");
        // Python's own bytes for two parameters, a tuple each.
        let sent = Raw::from_msgpack(recorded_bytes.clone()).expect("msgpack");
        assert_eq!(
            call(&mut p, "register_actor", sent),
            Ok(r#""child at 127.0.0.1:34647""#.to_owned()),
            "{a}/{t}"
        );
        // `portal.run_from_ns('conf_math', 'square', x=7)`.
        assert_eq!(
            call(&mut p, "square", kwargs(&[("x", int(7))])),
            Ok("49".into())
        );
        // An `Option` parameter left out, and given.
        let name = Raw::encode("ada").expect("a str");
        assert_eq!(
            call(&mut p, "greet", kwargs(&[("name", name.clone())])),
            Ok(r#""hello, ada""#.into())
        );
        // Python's TypeErrors for a keyword call that does not fit.
        let type_error = |r: Result<String, (String, String)>, says: &str| {
            let (ty, tb) = r.expect_err(says);
            assert_eq!(ty, "TypeError", "{tb}");
            assert!(tb.contains(says), "{says}: {tb}");
        };
        type_error(
            call(&mut p, "square", kwargs(&[])),
            "conf_math:square() missing 1 required argument: 'x'",
        );
        type_error(
            call(&mut p, "square", kwargs(&[("x", int(7)), ("y", int(1))])),
            "conf_math:square() got an unexpected keyword argument 'y'",
        );
        type_error(
            call(&mut p, "square", kwargs(&[("x", name)])),
            "conf_math:square() got a bad argument 'x'",
        );
        // The daemon goes on.
        assert_eq!(d.hi(), "hi from root", "{a}/{t}");
        drop(p);
        d.stop();
    }
}

#[test]
fn a_typed_clients_arguments_are_pythons_bytes() {
    // What `MathClient::register_actor(uid, addr)` sends: the parameters
    // in the trait's order, each encoded as serde encodes it, byte for
    // byte what Python sent for the same call.
    let (_, recorded) = python_kwargs();
    let ours = tractor_driver::Kwargs::new()
        .arg("uid", &("child", "0b01e30a-a89e-48f6-a14a-8c92fb6fc649"))
        .arg("addr", &("127.0.0.1", 34647u16))
        .into_raw()
        .expect("encoded");
    assert_eq!(ours.as_bytes(), &recorded[..]);
}
