//! `tractor-top --json` against a real tree: every actor with its
//! snapshot, in tree order; an actor that stops answering is shown as
//! gone, not waited for.

mod common;

use std::path::Path;

use common::{TOP, actor, pid_of, signal, top_json};
use serde_json::Value;
use tractor_conformance::{Tree, example_binary};

fn json_shows_the_whole_tree_and_a_stopped_actor_as_gone(adapter: &str) {
    let tree = Tree::new().adapter(adapter);
    let mut running = tree.spawn(&example_binary("top_tree"), &[]);
    let registry = running.wait_for_fact("registry");
    let doc = top_json(&tree, &registry);
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["registry"], registry.as_str());
    // Each under its parent, in tree order; tractor-top leaves itself out.
    let order: Vec<(String, u64)> = doc["actors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["depth"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [("top-root", 0), ("feeder", 1), ("middle", 1), ("leaf", 2)];
    assert_eq!(
        order,
        expected.map(|(n, d)| (n.to_owned(), d)).to_vec(),
        "{doc:#}"
    );
    for (name, _) in expected {
        let a = actor(&doc, name);
        assert_eq!(a["status"], "ok", "{a:#}");
        let pid = a["snapshot"]["pid"].as_i64().expect("a pid");
        assert!(Path::new(&format!("/proc/{pid}")).exists(), "{name} runs");
        assert_eq!(a["snapshot"]["process"]["adapter"], adapter, "{a:#}");
    }
    let root = &actor(&doc, "top-root")["snapshot"];
    assert_eq!(root["registrar"], true);
    assert_eq!(root["children"].as_array().unwrap().len(), 2, "{root:#}");
    // The feeder streams to the root: its context, and items counted.
    let feeder = &actor(&doc, "feeder")["snapshot"];
    let ctx = &feeder["dialogs"][0];
    assert_eq!(ctx["function"], "top:counter", "{feeder:#}");
    assert_eq!(ctx["role"], "callee");
    assert_eq!(ctx["state"], "streaming");
    assert!(ctx["items_sent"].as_u64().unwrap() > 0, "{feeder:#}");
    assert_eq!(actor(&doc, "leaf")["snapshot"]["parent"][0], "middle");
    // Any actor of the tree leads to it: the leaf tells its registrar.
    let leaf_addr = actor(&doc, "leaf")["addrs"][0].as_str().unwrap().to_owned();
    let from_leaf = top_json(&tree, &leaf_addr);
    assert_eq!(from_leaf["registry"], registry.as_str(), "{from_leaf:#}");
    let names = |d: &Value| -> Vec<String> {
        d["actors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&from_leaf), names(&doc));

    // A stopped actor answers nothing: shown as gone, the rest as ever.
    let leaf = pid_of(&doc, "leaf");
    signal("-STOP", leaf);
    let doc = top_json(&tree, &registry);
    signal("-CONT", leaf);
    let gone = actor(&doc, "leaf");
    assert_eq!(gone["status"], "gone", "{gone:#}");
    assert!(
        gone["error"].as_str().unwrap().contains("no answer"),
        "{gone:#}"
    );
    assert_eq!(actor(&doc, "feeder")["status"], "ok");

    running.signal("INT");
    running.finish(&tree);
    tree.assert_clean();
}

#[test]
fn json_on_tokio() {
    json_shows_the_whole_tree_and_a_stopped_actor_as_gone("tokio");
}

#[test]
fn json_on_smol() {
    json_shows_the_whole_tree_and_a_stopped_actor_as_gone("smol");
}

#[test]
fn nothing_at_the_address_is_an_error_not_an_empty_tree() {
    let tree = Tree::new();
    // A port nobody listens on: bound, then freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let registry = format!("127.0.0.1:{port}");
    let out = tree
        .command(Path::new(TOP), &["--registry", &registry, "--json"])
        .output()
        .expect("tractor-top runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        err.contains(&format!("no tree found at {registry}")),
        "{err}"
    );
    tree.assert_clean();
}

#[test]
fn a_tree_with_a_secret_is_seen_only_with_it() {
    let tree = Tree::new().env("TRACTOR_SECRET", "top-secret-of-this-tree");
    let mut running = tree.spawn(&example_binary("top_tree"), &[]);
    let registry = running.wait_for_fact("registry");
    // With the tree's secret (inherited like any process of the tree).
    let doc = top_json(&tree, &registry);
    assert_eq!(doc["actors"].as_array().unwrap().len(), 4, "{doc:#}");
    for a in doc["actors"].as_array().unwrap() {
        assert_eq!(a["status"], "ok", "{a:#}");
    }
    // Without it, or with another, the registrar does not let it in:
    // it fails, saying why.
    for secret in [None, Some("a-wrong-secret-for-this-tree")] {
        let mut command = tree.command(Path::new(TOP), &["--registry", &registry, "--json"]);
        match secret {
            None => command.env_remove("TRACTOR_SECRET"),
            Some(s) => command.env("TRACTOR_SECRET", s),
        };
        let out = command.output().expect("tractor-top runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{secret:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{secret:?}: {out:?}");
        assert!(err.starts_with("tractor-top: "), "{secret:?}: {err}");
        let hint = match secret {
            None => "give it in TRACTOR_SECRET",
            Some(_) => "another secret?",
        };
        assert!(err.contains(hint), "{secret:?}: {err}");
    }
    running.signal("INT");
    running.finish(&tree);
    tree.assert_clean();
}

#[test]
fn a_python_actor_is_shown_with_what_the_registrar_knows_and_never_asked() {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    use tractor_conformance::peer::RawPeer;
    use tractor_protocol::{FrameDecoder, Msg, Raw};

    let tree = Tree::new();
    let mut running = tree.spawn(&example_binary("top_tree"), &[]);
    let registry = running.wait_for_fact("registry");
    // An actor that speaks as Python's does: its Aid announces no
    // credit_flow. It answers each connection's handshake and records
    // every call it is sent.
    let mut reg = RawPeer::connect(&format!("tcp:{registry}"), "pyactor").unwrap();
    reg.handshake().unwrap();
    let aid = reg.aid_frame();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    // Connections accepted, and ended.
    let conns: Arc<Mutex<(usize, usize)>> = Arc::default();
    let (seen, counted) = (calls.clone(), conns.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            counted.lock().unwrap().0 += 1;
            let (aid, seen, counted) = (aid.clone(), seen.clone(), counted.clone());
            std::thread::spawn(move || {
                let _ = conn.write_all(&aid);
                let mut decoder = FrameDecoder::new();
                let mut buf = bytes::BytesMut::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = conn.read(&mut chunk) {
                    buf.extend_from_slice(&chunk[..n]);
                    while let Ok(Some(f)) = decoder.decode(&mut buf) {
                        if let Ok(Msg::Start(s)) = f.msg() {
                            seen.lock().unwrap().push(format!("{}.{}", s.ns, s.func));
                        }
                    }
                }
                counted.lock().unwrap().1 += 1;
            });
        }
    });
    let args = serde_json::json!({
        "uid": [reg.uid().name, reg.uid().uuid],
        "addr": ["127.0.0.1", port],
    });
    let registered = reg
        .call("self", "register_actor", Raw::encode(&args).unwrap())
        .unwrap();
    assert!(matches!(registered, Msg::Return(_)), "{registered:?}");

    let doc = top_json(&tree, &registry);
    let py = actor(&doc, "pyactor");
    assert_eq!(py["status"], "no-introspection", "{py:#}");
    assert_eq!(py["addrs"][0], format!("127.0.0.1:{port}"), "{py:#}");
    assert_eq!(actor(&doc, "leaf")["status"], "ok");
    let out = tree
        .command(Path::new(TOP), &["--registry", &registry, "--once"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("pyactor[") && l.ends_with("python, no introspection")),
        "{text}"
    );
    // Given its address, tractor-top finds no tree there (a Python actor
    // that is no registrar), and asks it nothing either.
    let out = tree
        .command(
            Path::new(TOP),
            &["--registry", &format!("127.0.0.1:{port}"), "--json"],
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(err.contains("no tree found at 127.0.0.1:"), "{err}");
    assert!(err.contains("not a registrar"), "{err}");
    // It was connected to, and asked nothing it would crash on: read
    // once every connection to it has ended (tractor-top has exited).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (accepted, ended) = *conns.lock().unwrap();
        if accepted >= 3 && ended == accepted {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "connections {accepted} accepted, {ended} ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(*calls.lock().unwrap(), Vec::<String>::new());

    drop(reg);
    running.signal("INT");
    running.finish(&tree);
    tree.assert_clean();
}
