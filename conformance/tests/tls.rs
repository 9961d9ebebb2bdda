//! TLS between hosts, on both adapters over TCP: a tree with a generated
//! tree CA, its root on its end of a veth pair, a child launched into
//! another network namespace (`ip netns exec`: needs root and `ip`; the
//! test says why and returns where the machine cannot). Every run ends
//! with the check that the tree left no process behind.

use std::path::Path;

use tractor_adapters::Adapter;
use tractor_conformance::Tree;
use tractor_conformance::netns::Netns;

const PROGRAM: &str = env!("CARGO_BIN_EXE_tractor-conformance");

#[test]
fn a_tls_tree_works_across_namespaces_and_refuses_strangers() {
    if let Err(why) = Netns::available() {
        println!("skipped: no network namespaces here: {why}");
        return;
    }
    let ns = Netns::new().expect("a network namespace");
    let (root_ip, ns_ip) = (ns.root_ip.to_string(), ns.ns_ip.to_string());
    // TLS from the environment on one adapter, from `Config` on the other.
    for (adapter, via) in Adapter::ALL
        .map(Adapter::name)
        .into_iter()
        .zip(["env", "config"].into_iter().cycle())
    {
        let mut tree = Tree::new()
            .adapter(adapter)
            .env("CONF_NETNS", ns.name())
            .env("CONF_NETNS_ROOT_IP", &root_ip)
            .env("CONF_NETNS_CHILD_IP", &ns_ip)
            .env("CONF_TLS_VIA", via)
            .env(tractor_driver::MAX_PENDING_CONNECTIONS_ENV, "2");
        if via == "env" {
            tree = tree.env(tractor_driver::tls::TLS_ENV, "generate");
        }
        let r = tree.run(Path::new(PROGRAM), &["tls-netns", "tcp"]);
        tree.assert_clean();
        r.assert_ok();
        assert_eq!(r.fact("other_netns"), "true", "{adapter}: {r:?}");
        assert_eq!(r.fact("ca_reached"), "true", "{adapter}: {r:?}");
        assert_eq!(r.fact("mode_cleared"), "true", "{adapter}: {r:?}");
        assert_eq!(r.fact("echoed"), "20/20", "{adapter}: {r:?}");
        assert_eq!(
            r.fact("error"),
            "remote:ValueError:ValueError",
            "{adapter}: {r:?}"
        );
        // Python's `Aid` to the TLS address: no `Aid` back, nothing learned.
        let stranger = r.fact("stranger");
        assert!(
            stranger == "nothing" || stranger == "alert",
            "{adapter}: {stranger}"
        );
        assert_eq!(r.fact("stranger_learned"), "false", "{adapter}: {r:?}");
        // TLS handshakes count as connections still handshaking: one over
        // the limit is dropped at once, and the silent ones end with the
        // tree (checked clean above).
        assert_eq!(r.fact("over_pending"), "closed", "{adapter}: {r:?}");
        // Another tree's root: refused by its own check of the certificate.
        let other = r.fact("stranger_root");
        assert!(
            other.starts_with("connect:") && other.contains("certificate"),
            "{adapter}: {other}"
        );
    }
}
