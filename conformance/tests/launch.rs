//! Children run through a launcher, on both adapters over TCP: into
//! another network namespace (`ip netns exec`: needs root and `ip`; the
//! tests say why and return where the machine cannot), and through `env
//! -i`, which leaves the child only what its bootstrap block gives it.
//! Every run ends with the check that the tree left no process behind.

use std::path::Path;

use tractor_adapters::Adapter;
use tractor_conformance::netns::Netns;
use tractor_conformance::{Run, Tree};

const PROGRAM: &str = env!("CARGO_BIN_EXE_tractor-conformance");

/// The tree's secret: a call to a launched child needs the handshake.
const SECRET: &str = "launched-children-share-this";

/// Runs scenario `id` on `adapter` over TCP with the tree's secret and
/// `env`, and checks the tree is gone.
fn run(id: &str, adapter: &str, env: &[(&str, &str)]) -> Run {
    let tree = env.iter().fold(
        Tree::new()
            .adapter(adapter)
            .env(tractor_driver::SECRET_ENV, SECRET),
        |t, (k, v)| t.env(k, v),
    );
    let run = tree.run(Path::new(PROGRAM), &[id, "tcp"]);
    tree.assert_clean();
    run
}

/// A fresh namespace, or `None` (having said why) where none can be made.
fn netns() -> Option<Netns> {
    if let Err(why) = Netns::available() {
        println!("skipped: no network namespaces here: {why}");
        return None;
    }
    Some(Netns::new().expect("a network namespace"))
}

/// [`run`] with the namespace's name and addresses in the tree's
/// environment.
fn run_in(ns: &Netns, id: &str, adapter: &str) -> Run {
    let (root_ip, ns_ip) = (ns.root_ip.to_string(), ns.ns_ip.to_string());
    run(
        id,
        adapter,
        &[
            ("CONF_NETNS", ns.name()),
            ("CONF_NETNS_ROOT_IP", &root_ip),
            ("CONF_NETNS_CHILD_IP", &ns_ip),
        ],
    )
}

#[test]
fn launch_into_another_network_namespace() {
    let Some(ns) = netns() else { return };
    for adapter in Adapter::ALL.map(Adapter::name) {
        let r = run_in(&ns, "launch-netns", adapter);
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
    let Some(ns) = netns() else { return };
    for adapter in Adapter::ALL.map(Adapter::name) {
        let r = run_in(&ns, "launch-launcher-killed", adapter);
        r.assert_ok();
        assert!(!r.fact("child_pid").is_empty(), "{r:?}");
    }
}
