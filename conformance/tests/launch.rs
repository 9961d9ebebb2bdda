//! Children run through a launcher, on both adapters over TCP: onto
//! another host of a LAN of network namespaces (`ip netns exec`: needs
//! root and `ip`; the tests say why and return where the machine cannot),
//! the root on a host of its own; and through `env -i`, which leaves the
//! child only what its bootstrap block gives it. Every run ends with the
//! check that the tree left no process behind.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use tractor_adapters::Adapter;
use tractor_conformance::netns::Lan;
use tractor_conformance::{HANG, Run, Tree};
use tractor_protocol::{Address, ChildArgs, Uid};

const PROGRAM: &str = env!("CARGO_BIN_EXE_tractor-conformance");

/// The tree's secret: a call to a launched child needs the handshake.
const SECRET: &str = "launched-children-share-this";

/// Runs scenario `id` of `tree` over TCP, and checks the tree is gone.
fn run_tree(tree: Tree, id: &str) -> Run {
    let run = tree.run(Path::new(PROGRAM), &[id, "tcp"]);
    tree.assert_clean();
    run
}

/// Runs scenario `id` on `adapter` over TCP with the tree's secret and
/// `env`, and checks the tree is gone.
fn run(id: &str, adapter: &str, env: &[(&str, &str)]) -> Run {
    let tree = env.iter().fold(
        Tree::new()
            .adapter(adapter)
            .env(tractor_driver::SECRET_ENV, SECRET),
        |t, (k, v)| t.env(k, v),
    );
    run_tree(tree, id)
}

/// A fresh LAN of two hosts, or `None` (having said why) where none can
/// be made.
fn lan() -> Option<Lan> {
    if let Err(why) = Lan::available() {
        println!("skipped: no network namespaces here: {why}");
        return None;
    }
    Some(Lan::new(2).expect("a LAN of two hosts"))
}

/// A tree on `adapter` whose root runs on the LAN's first host, with the
/// hosts' names and addresses in its environment.
fn on_lan(lan: &Lan, adapter: &str) -> Tree {
    lan.tree().adapter(adapter)
}

/// [`run`] with the root on the LAN's first host, the child's on its
/// second.
fn run_in(lan: &Lan, id: &str, adapter: &str) -> Run {
    run_tree(
        on_lan(lan, adapter).env(tractor_driver::SECRET_ENV, SECRET),
        id,
    )
}

#[test]
fn launch_into_another_network_namespace() {
    let Some(lan) = lan() else { return };
    for adapter in Adapter::ALL.map(Adapter::name) {
        let r = run_in(&lan, "launch-netns", adapter);
        r.assert_ok();
        assert_eq!(r.fact("other_netns"), "true", "{r:?}");
        assert_eq!(r.fact("secret_reached"), "true", "{r:?}");
        assert_eq!(r.fact("echoed"), "20/20", "{r:?}");
        assert_eq!(r.fact("error"), "remote:ValueError:ValueError", "{r:?}");
        assert_eq!(r.fact("error_source"), "remote", "{r:?}");
    }
}

#[test]
fn launch_through_a_prefix_that_clears_the_environment() {
    for adapter in Adapter::ALL.map(Adapter::name) {
        let r = run(
            "launch-env-cleared",
            adapter,
            &[
                (tractor_driver::MAX_DIALOGS_PER_PEER_ENV, "77"),
                ("CONF_CANARY", "inherited"),
            ],
        );
        r.assert_ok();
        assert_eq!(r.fact("hi"), "hi from cleared", "{r:?}");
        assert_eq!(r.fact("secret_reached"), "true", "{r:?}");
        assert_eq!(r.fact("limit"), "77", "{r:?}");
        // `env -i` did clear the rest: the block is all that crossed.
        assert_eq!(r.fact("canary"), "none", "{r:?}");
    }
}

#[test]
fn a_killed_launcher_loses_its_child_by_name_and_leaves_no_survivor() {
    let Some(lan) = lan() else { return };
    for adapter in Adapter::ALL.map(Adapter::name) {
        let r = run_in(&lan, "launch-launcher-killed", adapter);
        r.assert_ok();
        assert!(!r.fact("child_pid").is_empty(), "{r:?}");
        assert_eq!(r.fact("child_ended"), "true", "{r:?}");
    }
}

#[test]
fn a_partition_is_found_by_keepalive_on_both_sides() {
    // The child's host loses its link under an open context, inside its
    // namespace: no FIN, no RST, only silence, and the tree is over TLS.
    // With a 3 s keepalive the root's context fails naming the child, and
    // the child, its parent silent, cancels itself and exits; nothing is
    // left once the link is back, or once the host is deleted.
    for (adapter, end) in Adapter::ALL
        .map(Adapter::name)
        .into_iter()
        .flat_map(|a| [(a, "heal"), (a, "delete")])
    {
        // A LAN each: `delete` takes its host away.
        let Some(lan) = lan() else { return };
        let tree = on_lan(&lan, adapter)
            .env(tractor_driver::tls::TLS_ENV, "generate")
            .env(tractor_driver::KEEPALIVE_MS_ENV, "3000")
            .env("CONF_PARTITION_END", end);
        let r = run_tree(tree, "launch-partition");
        r.assert_ok();
        let lost = r.fact("lost");
        assert!(
            lost.starts_with("actor 'far' (uid far["),
            "{adapter}/{end}: {lost}"
        );
        assert_eq!(r.fact("lost_kind"), "true", "{adapter}/{end}: {r:?}");
        assert_eq!(r.fact("child_gone"), "true", "{adapter}/{end}: {r:?}");
        assert_eq!(r.fact("tls"), "true", "{adapter}/{end}: {r:?}");
    }
}

#[test]
fn wildcard_listeners_are_reached_at_their_advertised_addresses() {
    // Three hosts; every actor binds 0.0.0.0 and advertises its host's
    // address (a wildcard is not loopback: the tree has a secret).
    if let Err(why) = Lan::available() {
        println!("skipped: no network namespaces here: {why}");
        return;
    }
    let lan = Lan::new(3).expect("a LAN of three hosts");
    let root_maddr = format!("/ip4/{}/tcp/0", lan.host(0).ip);
    for (adapter, via_env) in Adapter::ALL
        .map(Adapter::name)
        .into_iter()
        .zip([true, false].into_iter().cycle())
    {
        // A secret, not a tree CA of its own: the joiner, another root,
        // must share the tree's credentials.
        let mut tree = on_lan(&lan, adapter).env(tractor_driver::SECRET_ENV, SECRET);
        if via_env {
            // The root's alone: `hidden`, which advertises nothing, must
            // not take it over.
            tree = tree.env(tractor_driver::ADVERTISE_ADDRS_ENV, &root_maddr);
        }
        let r = run_tree(tree, "launch-advertise");
        r.assert_ok();
        let ip = |i: usize| lan.host(i).ip.to_string();
        assert_eq!(r.fact("root_gives"), ip(0), "{adapter}: {r:?}");
        assert_eq!(r.fact("registry_gives"), ip(0), "{adapter}: {r:?}");
        assert_eq!(r.fact("far_gives"), ip(1), "{adapter}: {r:?}");
        assert_eq!(r.fact("hidden_gives"), "0.0.0.0", "{adapter}: {r:?}");
        assert_eq!(r.fact("sibling"), "hi from near", "{adapter}: {r:?}");
        assert_eq!(r.fact("hidden"), "true", "{adapter}: {r:?}");
        assert_eq!(r.fact("bad_advertise"), "true", "{adapter}: {r:?}");
        // Another root, joining the registrar at its wildcard: it gives out
        // the host's address for the registrar and for itself, and its
        // child on another host reaches the registrar through it.
        let host = ip(0);
        assert_eq!(
            r.fact("joiner_registry"),
            format!("{host}:registrar"),
            "{adapter}: {r:?}"
        );
        assert_eq!(
            r.fact("joiner_gives"),
            format!("{host}:own"),
            "{adapter}: {r:?}"
        );
        assert_eq!(r.fact("joiner_child"), "hi from near", "{adapter}: {r:?}");
    }
}

#[test]
fn over_unix_sockets_a_launched_child_is_refused_with_a_typed_error() {
    for adapter in Adapter::ALL.map(Adapter::name) {
        let tree = Tree::new().adapter(adapter);
        let r = tree.run(Path::new(PROGRAM), &["launch-needs-tcp", "uds"]);
        tree.assert_clean();
        r.assert_ok();
        assert_eq!(r.fact("not_tcp"), "true", "{r:?}");
        assert!(r.fact("error").contains("over TCP"), "{r:?}");
    }
}

/// Starts the program as a launched child whose stdin says `input`, its
/// parent nowhere: how it ends and what it said.
fn bad_block(input: &[u8]) -> (Option<i32>, String) {
    let tree = Tree::new();
    let args = ChildArgs {
        uid: Uid::new("bad", "0d6f2a8e-1c3b-4e5f-8a9b-0c1d2e3f4a5b"),
        parent_addr: Address::tcp("127.0.0.1", 9),
        loglevel: None,
        bootstrap_stdin: true,
        guest: false,
    }
    .to_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = tree
        .command(Path::new(PROGRAM), &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    let mut stdin = child.stdin.take().expect("a stdin");
    // The child may be gone already, having read enough: no matter.
    let _ = stdin.write_all(input);
    drop(stdin);
    let started = std::time::Instant::now();
    let out = child.wait_with_output().expect("it ends");
    assert!(started.elapsed() < HANG, "hung on its block");
    tree.assert_clean();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_malformed_bootstrap_block_is_refused_clearly() {
    let (code, said) = bad_block(b"TRACTOR_SECRET=x\n#end\n");
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("does not start with"), "{said}");
    let (code, said) = bad_block(b"#tractor-bootstrap 1\nA=\\q\n#end\n");
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("unknown escape"), "{said}");
    // The parent went before the block's end.
    let (code, said) = bad_block(b"#tractor-bootstrap 1\nA=1\n");
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("ended before"), "{said}");
    let endless = [b"#tractor-bootstrap 1\n".as_slice(), &[b'a'; 40_000]].concat();
    let (code, said) = bad_block(&endless);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("longer than"), "{said}");
}

#[test]
fn a_launched_child_has_no_terminal_and_its_pause_goes_on() {
    for adapter in Adapter::ALL.map(Adapter::name) {
        let r = run("launch-pause", adapter, &[]);
        r.assert_ok();
        assert_eq!(r.fact("paused"), "resumed", "{r:?}");
    }
}
