//! TLS between hosts, on both adapters over TCP: a tree with a generated
//! tree CA over a LAN of four hosts, each a network namespace of its own
//! (`ip netns exec`: needs root and `ip`; the test says why and returns
//! where the machine cannot): the root on one, two children launched onto
//! two others, and strangers with none of the tree's credentials on the
//! fourth. Every run ends with the check that the tree left no process
//! behind.

use std::path::Path;

use tractor_adapters::Adapter;
use tractor_conformance::Tree;
use tractor_conformance::netns::{self, Lan};

const PROGRAM: &str = env!("CARGO_BIN_EXE_tractor-conformance");

#[test]
fn a_tls_tree_works_across_hosts_and_refuses_strangers() {
    if let Err(why) = Lan::available() {
        println!("skipped: no network namespaces here: {why}");
        return;
    }
    let lan = Lan::new(4).expect("a LAN of four hosts");
    // TLS from the environment on one adapter, from `Config` on the other.
    for (adapter, via) in Adapter::ALL
        .map(Adapter::name)
        .into_iter()
        .zip(["env", "config"].into_iter().cycle())
    {
        let mut tree = netns::env(&lan)
            .iter()
            .fold(Tree::new(), |t, (k, v)| t.env(k, v))
            .within(lan.host(0).exec())
            .adapter(adapter)
            .env("CONF_TLS_VIA", via)
            .env(tractor_driver::MAX_PENDING_CONNECTIONS_ENV, "2");
        if via == "env" {
            tree = tree.env(tractor_driver::tls::TLS_ENV, "generate");
        }
        let r = tree.run(Path::new(PROGRAM), &["tls-netns", "tcp"]);
        tree.assert_clean();
        r.assert_ok();
        assert_eq!(r.fact("four_hosts"), "true", "{adapter}: {r:?}");
        assert_eq!(r.fact("ca_reached"), "true", "{adapter}: {r:?}");
        assert_eq!(r.fact("mode_cleared"), "true", "{adapter}: {r:?}");
        assert_eq!(r.fact("echoed"), "20/20", "{adapter}: {r:?}");
        assert_eq!(
            r.fact("error"),
            "remote:ValueError:ValueError",
            "{adapter}: {r:?}"
        );
        // Child to child, across two hosts, each with its own certificate.
        assert_eq!(r.fact("sibling"), "hi from near", "{adapter}: {r:?}");
        // Python's `Aid` to the TLS address: no `Aid` back, nothing learned.
        let stranger = r.fact("stranger");
        assert!(
            stranger == "nothing" || stranger == "alert",
            "{adapter}: {stranger}"
        );
        assert_eq!(r.fact("stranger_learned"), "false", "{adapter}: {r:?}");
        // Another tree's root: refused as unauthenticated, by its own
        // check of the certificate.
        let other = r.fact("stranger_root");
        assert!(
            other.starts_with("unauthenticated:") && other.contains("certificate"),
            "{adapter}: {other}"
        );
        // TLS handshakes count as connections still handshaking: one over
        // the limit is dropped at once, and the silent ones end with the
        // tree (checked clean above).
        assert_eq!(r.fact("over_pending"), "closed", "{adapter}: {r:?}");
    }
}
