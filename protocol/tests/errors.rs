//! What an `Error` message says to each side: a Python peer's message,
//! recovered from its traceback; ours, closing our traceback the way
//! Python's does (spec/PROTOCOL.md §7.5).

mod common;

use bytes::Bytes;
use tractor_protocol::{LocalError, Msg, RemoteError, TaskError, Uid, pack_error};

use common::{transcript, vector};

/// The `Error` frames of a recorded conversation between Python actors.
fn errors_of(scenario: &str) -> Vec<RemoteError> {
    transcript(scenario)
        .wire
        .iter()
        .filter(|w| w.msg_type == "Error")
        .map(
            |w| match Msg::decode(Bytes::copy_from_slice(&w.frame[4..])) {
                Ok(Msg::Error(e)) => RemoteError::from_message(*e),
                other => panic!("{scenario}: an Error, got {other:?}"),
            },
        )
        .collect()
}

#[test]
fn a_python_error_tells_its_message_from_its_traceback() {
    // Python sends `message=''` for an application's error: the message
    // is the traceback's closing text.
    let raised = errors_of("nested_error_relay");
    assert_eq!(raised[0].message().message.as_deref(), Some(""));
    assert_eq!(raised[0].text(), "leaf failure");
    // A relay's own message is sent, and read as sent.
    assert_eq!(raised[1].text(), "remote task raised a 'ValueError'\n");

    // A registered type is printed qualified by its module.
    let custom = errors_of("custom_error");
    assert!(
        custom[0]
            .tb_str()
            .ends_with("\n__mp_main__.CustomAppError: ('custom failure', 42)\n")
    );
    assert_eq!(custom[0].text(), "('custom failure', 42)");

    // Without tractor's note on how the error was raised.
    let ctx = errors_of("ctx_error");
    assert!(ctx[0].tb_str().contains("( ^^^ this exc was collapsed"));
    assert_eq!(ctx[0].text(), "child says no");

    // Each leaf's own.
    let multi = errors_of("nested_multierrors");
    let leaves: Vec<&str> = multi
        .iter()
        .filter(|e| e.src_type() == "ValueError")
        .map(RemoteError::text)
        .collect();
    assert!(leaves.contains(&"leaf mid0_leaf0 failed"), "{leaves:?}");

    let vector = match Msg::decode(Bytes::from(vector("error_valueerror").body)) {
        Ok(Msg::Error(e)) => RemoteError::from_message(*e),
        other => panic!("{other:?}"),
    };
    assert_eq!(vector.text(), "child says no");
}

#[test]
fn a_python_error_shows_its_message_once() {
    let e = &errors_of("nested_error_relay")[0];
    let shown = e.to_string();
    assert!(shown.contains("\n |_message: leaf failure\n"), "{shown}");
    assert!(!shown.contains("ValueError: leaf failure"), "{shown}");
    assert!(
        shown.contains(" | Traceback (most recent call last):\n"),
        "{shown}"
    );
    assert!(shown.contains("line 107, in leaf_raises\n"), "{shown}");
}

fn uid(name: &str) -> Uid {
    Uid::new(name, format!("{name}-uuid"))
}

#[test]
fn an_error_raised_here_closes_its_traceback_as_python_does() {
    let raised = LocalError::new("ValueError", "boom from rust").with_traceback(
        "Traceback (most recent call last):\n  File \"src/main.rs\", line 48, in app::parse\n",
    );
    let sent = pack_error(&TaskError::Local(raised), &uid("leaf"), Some("c1"), "");
    assert_eq!(
        sent.tb_str,
        "Traceback (most recent call last):\n  File \"src/main.rs\", line 48, in app::parse\n\
         ValueError: boom from rust\n"
    );
    assert_eq!(sent.message.as_deref(), Some("boom from rust"));

    // An empty message: the type alone, as Python prints one; no traceback:
    // the closing line alone; a message of several lines, as it is.
    let bare = pack_error(
        &TaskError::Local(LocalError::new("KeyError", "")),
        &uid("leaf"),
        None,
        "",
    );
    assert_eq!(bare.tb_str, "KeyError\n");
    let lines = pack_error(
        &TaskError::Local(LocalError::new("RuntimeError", "one\ntwo")),
        &uid("leaf"),
        None,
        "",
    );
    assert_eq!(lines.tb_str, "RuntimeError: one\ntwo\n");

    // Read back without its `message`, as Python reads it: the same text.
    for (mut e, text) in [(sent, "boom from rust"), (bare, ""), (lines, "one\ntwo")] {
        e.message = Some(String::new());
        assert_eq!(RemoteError::from_message(e).text(), text);
    }
}

#[test]
fn an_error_from_a_rust_peer_shows_its_message_once() {
    let raised = LocalError::new("ValueError", "boom from rust").with_traceback(
        "Traceback (most recent call last):\n  File \"src/main.rs\", line 48\n  (set RUST_BACKTRACE=1 for a backtrace)",
    );
    let e = RemoteError::from_message(pack_error(
        &TaskError::Local(raised),
        &uid("leaf"),
        None,
        "",
    ));
    assert_eq!(e.text(), "boom from rust");
    assert_eq!(
        e.to_string(),
        "RemoteActorError: remote task raised a 'ValueError'\n \
         |_src_uid=('leaf', 'leaf-uuid')\n \
         |_message: boom from rust\n \
         +------ remote traceback (from 'leaf') ------\n \
         | Traceback (most recent call last):\n \
         |   File \"src/main.rs\", line 48\n \
         |   (set RUST_BACKTRACE=1 for a backtrace)\n \
         +------"
    );
}

#[test]
fn a_traceback_that_does_not_close_with_its_type_gives_no_message() {
    let mut e = pack_error(
        &TaskError::Local(LocalError::new("ValueError", "x")),
        &uid("leaf"),
        None,
        "",
    );
    e.message = None;
    for (tb, text) in [
        // An older Rust peer's traceback: a place, no closing line.
        (
            "  at src/main.rs:48:26\n  (set RUST_BACKTRACE=1 for a backtrace)",
            "",
        ),
        // Another type's closing line.
        ("Traceback (most recent call last):\nKeyError: 'k'\n", ""),
        // Not a type name.
        ("Traceback (most recent call last):\nsome words: x\n", ""),
        ("", ""),
        // A chained error: the last traceback's closing text.
        (
            "KeyError: 'k'\n\nDuring handling of the above exception, another exception occurred:\n\n\
             Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n\
             ValueError: x\n",
            "x",
        ),
    ] {
        e.tb_str = tb.to_owned();
        assert_eq!(RemoteError::from_message(e.clone()).text(), text, "{tb:?}");
    }
}

#[test]
fn a_registered_types_fields_travel_and_survive_every_relay() {
    use tractor_protocol::{DecodeError, ErrorFields, Raw};
    let fields = ErrorFields {
        type_name: "CustomAppError".into(),
        value: Raw::encode(&("custom failure", 42)).unwrap(),
    };
    let raised = LocalError::new("CustomAppError", "custom failure").with_fields(fields.clone());
    let leaf = pack_error(&TaskError::Local(raised), &uid("leaf"), Some("c1"), "");
    // Over the wire: the extension comes back as sent, after Python's
    // fields.
    let mut body = bytes::BytesMut::new();
    Msg::from(leaf.clone()).encode(&mut body).unwrap();
    let json = Msg::decode(body.clone().freeze()).unwrap().to_json();
    assert!(
        json.ends_with(
            r#""_bad_msg_as_dict": null, "error_fields": ["CustomAppError", ["custom failure", 42]]}"#
        ),
        "{json}"
    );
    let Ok(Msg::Error(back)) = Msg::decode(body.freeze()) else {
        panic!("an Error")
    };
    assert_eq!(*back, leaf);
    // Relayed once (source kept), then again (the chain restarts at the
    // relay): the fields stay.
    let mid = pack_error(
        &TaskError::Remote(RemoteError::from_message(*back)),
        &uid("mid"),
        None,
        "",
    );
    let root = pack_error(
        &TaskError::Remote(RemoteError::from_message(mid.clone())),
        &uid("root"),
        None,
        "",
    );
    assert_eq!(mid.boxed_type_str, "RemoteActorError");
    assert_eq!(root.src_type_str, "RemoteActorError");
    for e in [mid, root] {
        assert_eq!(RemoteError::from_message(e).fields(), Some(&fields));
    }
    // Without fields, nothing is written: Python's own layout.
    let plain = pack_error(
        &TaskError::Local(LocalError::new("ValueError", "x")),
        &uid("leaf"),
        None,
        "",
    );
    assert!(!Msg::from(plain).to_json().contains("error_fields"));

    // A malformed extension is refused with a typed error.
    let mut bad = leaf_body_with(&common::mp::val(7));
    assert!(matches!(
        Msg::decode(bad.split().freeze()),
        Err(DecodeError::WrongType {
            field: "error_fields",
            ..
        })
    ));
    let mut bad = leaf_body_with(&common::mp::val(("a", 1, 2)));
    assert!(matches!(
        Msg::decode(bad.split().freeze()),
        Err(DecodeError::InvalidValue {
            field: "error_fields",
            ..
        })
    ));
}

/// A minimal `Error` body whose `error_fields` is `value` (msgpack).
fn leaf_body_with(value: &[u8]) -> bytes::BytesMut {
    use common::mp::{obj, val};
    let body = obj(&[
        ("msg_type", val("Error")),
        ("src_uid", val(("leaf", "leaf-uuid"))),
        ("src_type_str", val("ValueError")),
        ("boxed_type_str", val("ValueError")),
        ("relay_path", val([("leaf", "leaf-uuid")])),
        ("error_fields", value.to_vec()),
    ]);
    bytes::BytesMut::from(&body[..])
}
