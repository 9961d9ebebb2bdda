//! TLS between hosts, on both adapters over TCP: a tree with a generated
//! tree CA over a LAN of four hosts, each a network namespace of its own
//! (`ip netns exec`: needs root and `ip`; the test says why and returns
//! where the machine cannot): the root on one, two children launched onto
//! two others, and strangers with none of the tree's credentials on the
//! fourth. Every run ends with the check that the tree left no process
//! behind.

use std::path::{Path, PathBuf};

use tractor_adapters::Adapter;
use tractor_conformance::netns::Lan;

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
        let mut tree = lan
            .tree()
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

/// A CA as an operator would make one, and leaves it issues, as PEM.
struct Pki {
    ca: rcgen::Certificate,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap();
        Pki {
            ca,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A leaf for one host: its certificate and key.
    fn leaf(&self, host: &str) -> (String, String) {
        let name = tractor_driver::tls::SERVER_NAME.to_owned();
        let mut params = rcgen::CertificateParams::new(vec![name]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, host);
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Per-host files under `/etc/<dir>`: `ip netns exec <host>` mounts
/// `/etc/netns/<host>/<dir>` over it, so that the same path holds another
/// host's files on each. Removed when dropped.
struct HostFiles {
    dir: String,
    made: Vec<PathBuf>,
}

impl HostFiles {
    /// Files for hosts `0..hosts` from `pki`, and for `stranger` the CA of
    /// `pki` with a leaf of `rogue`.
    fn new(lan: &Lan, hosts: usize, pki: &Pki, stranger: usize, rogue: &Pki) -> HostFiles {
        let dir = format!("tractor-conf-{}", std::process::id());
        let mut files = HostFiles {
            made: vec![Path::new("/etc").join(&dir)],
            dir,
        };
        // The mount point, empty on the machine itself.
        std::fs::create_dir_all(&files.made[0]).unwrap();
        for i in (0..hosts).chain([stranger]) {
            let host = lan.host(i).name();
            let at = Path::new("/etc/netns").join(host);
            files.made.push(at.clone());
            let at = at.join(&files.dir);
            std::fs::create_dir_all(&at).unwrap();
            let (cert, key) = if i == stranger {
                rogue.leaf(host)
            } else {
                pki.leaf(host)
            };
            std::fs::write(at.join("ca.pem"), pki.ca.pem()).unwrap();
            std::fs::write(at.join("cert.pem"), cert).unwrap();
            std::fs::write(at.join("key.pem"), key).unwrap();
        }
        files
    }

    /// The path every host reads its files at.
    fn path(&self) -> PathBuf {
        Path::new("/etc").join(&self.dir)
    }
}

impl Drop for HostFiles {
    fn drop(&mut self) {
        for dir in &self.made {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn a_tls_tree_runs_on_pem_files_of_each_hosts_own() {
    // Production mode: a CA of the operator's, each host its own leaf at
    // the same path; the root's `Config` names the files on one adapter,
    // its environment on the other, and the children read them on their
    // own hosts.
    if let Err(why) = Lan::available() {
        println!("skipped: no network namespaces here: {why}");
        return;
    }
    let lan = Lan::new(4).expect("a LAN of four hosts");
    let files = HostFiles::new(
        &lan,
        3,
        &Pki::new("operations CA"),
        3,
        &Pki::new("rogue CA"),
    );
    let dir = files.path();
    for (adapter, via) in Adapter::ALL
        .map(Adapter::name)
        .into_iter()
        .zip(["files", "env"].into_iter().cycle())
    {
        let mut tree = lan
            .tree()
            .adapter(adapter)
            .env("CONF_TLS_VIA", via)
            .env("CONF_TLS_DIR", &dir.display().to_string())
            .env(tractor_driver::MAX_PENDING_CONNECTIONS_ENV, "2");
        if via == "env" {
            let file = |name: &str| dir.join(name).display().to_string();
            tree = tree
                .env(tractor_driver::tls::CA_FILE_ENV, &file("ca.pem"))
                .env(tractor_driver::tls::CERT_FILE_ENV, &file("cert.pem"))
                .env(tractor_driver::tls::KEY_FILE_ENV, &file("key.pem"));
        }
        let r = tree.run(Path::new(PROGRAM), &["tls-netns", "tcp"]);
        tree.assert_clean();
        r.assert_ok();
        assert_eq!(r.fact("four_hosts"), "true", "{adapter}: {r:?}");
        assert_eq!(r.fact("ca_reached"), "true", "{adapter}: {r:?}");
        assert_eq!(r.fact("per_host_certs"), "true", "{adapter}: {r:?}");
        assert_eq!(r.fact("echoed"), "20/20", "{adapter}: {r:?}");
        assert_eq!(r.fact("sibling"), "hi from near", "{adapter}: {r:?}");
        assert_eq!(r.fact("stranger_learned"), "false", "{adapter}: {r:?}");
        // The stranger trusts the tree, and the tree refuses its leaf: in
        // TLS 1.3 the connector learns it at its first read, from the
        // peer's alert, and reports it as unauthenticated all the same.
        let other = r.fact("stranger_root");
        assert!(
            other.starts_with("unauthenticated:") && other.contains("alert"),
            "{adapter}: {other}"
        );
    }
}
