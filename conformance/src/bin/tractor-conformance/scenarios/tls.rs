//! TLS between hosts (`tls-`): a tree with a generated tree CA over the
//! hosts of a LAN of network namespaces (tests/tls.rs makes it, as
//! tests/launch.rs does): the root on one, children launched onto two
//! others, strangers on a fourth. The tree has TLS from the environment
//! (`TRACTOR_TLS=generate`) or, with `CONF_TLS_VIA=config`, from its
//! `Config`; it has no secret.

use tractor_driver::TlsConfig;

use super::auth::{names_actor, python_stranger};
use super::launch::{child_env, given, in_netns, netns_exec};
use crate::*;

/// What a raw peer got back: nothing, a TLS alert record, or bytes.
fn answer(got: std::result::Result<Vec<u8>, String>) -> String {
    match got {
        Ok(b) if b.is_empty() => "nothing".into(),
        // A TLS record of type alert.
        Ok(b) if b[0] == 0x15 => "alert".into(),
        Ok(b) => format!("bytes:{b:02x?}"),
        Err(e) => format!("error:{e}"),
    }
}

/// Scenario `tls-netns`: a tree over three hosts. The root (on its own
/// host) launches `far` and `near` on two others; calls, a context stream
/// and an error relay work inside TLS; `far` reaches `near` directly,
/// each with a leaf certificate of the tree CA; the children got the
/// tree CA in their environment. From a fourth host, which holds none of
/// the tree's credentials, a raw peer speaking Python's `Aid` gets no
/// `Aid` back, and a root with a tree CA of its own (or, with the tree on
/// PEM files, one that trusts the tree's CA but holds a leaf of another)
/// is refused as unauthenticated (`tls-strangers`, run there).
pub(crate) async fn tls_netns(rt: Arc<dyn Runtime>, config: Config) -> Result<()> {
    let (mut config, far) = in_netns(config, netns_exec()?)?;
    let via = std::env::var("CONF_TLS_VIA").unwrap_or_default();
    // Production mode: PEM files at the same paths on every host, each
    // host with its own (the test's), from `Config` or the environment.
    let files = match std::env::var("CONF_TLS_DIR") {
        Ok(dir) => Some(std::path::PathBuf::from(dir)),
        Err(_) => None,
    };
    match (via.as_str(), &files) {
        ("config", _) => config = config.tls(TlsConfig::generate()),
        ("files", Some(dir)) => {
            config = config.tls(TlsConfig::from_pem_files(
                dir.join("ca.pem"),
                dir.join("cert.pem"),
                dir.join("key.pem"),
            ));
        }
        _ => {}
    }
    let near = sibling_options()?;
    tractor_driver::open_root_actor(rt, config, |root| async move {
        let mine = netns_id()?;
        let addr = root.accept_addrs()[0].clone();
        let target = addr.clone();
        let (uid, pid) = (root.uid().clone(), std::process::id());
        let said = off_runtime(&root, move || strangers(&target, &uid, pid)).await?;
        for key in ["stranger", "stranger_learned", "stranger_root"] {
            fact(key, said.get(key).map_or("missing", String::as_str));
        }
        let stranger_host = said.get("netns").cloned().unwrap_or_default();
        root.open_nursery(|n| async move {
            let p = n.start_actor("far", far).await?;
            let q = n.start_actor("near", near).await?;
            let theirs: String = p.run(NS, "netns", ()).await?;
            let sibling: String = q.run(NS, "netns", ()).await?;
            let hosts = [&mine, &theirs, &sibling, &stranger_host];
            let distinct = hosts
                .iter()
                .enumerate()
                .all(|(i, a)| !a.is_empty() && hosts[..i].iter().all(|b| b != a));
            fact("four_hosts", distinct);
            match &files {
                None => {
                    let ca = child_env(&p, tractor_driver::tls::CA_PEM_ENV).await?;
                    fact(
                        "ca_reached",
                        ca.is_some_and(|pem| pem.contains("BEGIN CERTIFICATE")),
                    );
                }
                Some(dir) => {
                    // The paths reached the children; each host read its
                    // own certificate there.
                    let ca = child_env(&p, tractor_driver::tls::CA_FILE_ENV).await?;
                    let ca_path = dir.join("ca.pem").display().to_string();
                    fact("ca_reached", ca.as_deref() == Some(ca_path.as_str()));
                    let cert = || Value {
                        value: Some(dir.join("cert.pem").display().to_string()),
                    };
                    let certs = [
                        std::fs::read_to_string(dir.join("cert.pem")).ok(),
                        p.run(NS, "read_file", cert()).await?,
                        q.run(NS, "read_file", cert()).await?,
                    ];
                    let distinct = certs.iter().enumerate().all(|(i, c)| {
                        c.as_ref().is_some_and(|c| c.contains("BEGIN CERTIFICATE"))
                            && certs[..i].iter().all(|d| d != c)
                    });
                    fact("per_host_certs", distinct);
                }
            }
            let mode = child_env(&p, tractor_driver::tls::TLS_ENV).await?;
            fact("mode_cleared", mode.is_none());
            super::launch::echo_and_raise(&p).await?;
            fact("sibling", super::launch::greet(&p, "near").await?);
            p.cancel_actor().await?;
            q.cancel_actor().await?;
            Ok(())
        })
        .await?;
        let over = off_runtime(&root, move || over_pending(&addr)).await;
        fact(
            "over_pending",
            over.unwrap_or_else(|e| format!("error:{e}")),
        );
        Ok(())
    })
    .await
}

/// This process's network namespace, as the kernel names it.
fn netns_id() -> Result<String> {
    Ok(std::fs::read_link("/proc/self/ns/net")?
        .display()
        .to_string())
}

/// The options of `near`: launched on the host `CONF_NETNS_SIBLING`,
/// listening on its address there, `CONF_NETNS_SIBLING_IP`.
fn sibling_options() -> Result<ActorOptions> {
    let host = given("CONF_NETNS_SIBLING")?;
    let mut options = daemon().launcher(tractor_driver::CommandPrefix::new([
        "ip", "netns", "exec", &host,
    ]));
    options.bind_addrs = Some(vec![Address::tcp(given("CONF_NETNS_SIBLING_IP")?, 0)]);
    Ok(options)
}

/// Holds as many silent connections to `addr` as the tree allows to
/// handshake at once (`TRACTOR_MAX_PENDING_CONNECTIONS`), each stuck in
/// its TLS handshake, then opens one more: what it got (`closed`: the
/// root dropped it at once). The silent ones are left to the root's
/// teardown.
fn over_pending(addr: &Address) -> std::io::Result<String> {
    use std::io::Read;
    let Address::Tcp { host, port } = addr else {
        return Err(std::io::Error::other("the root listens on TCP"));
    };
    let limit: usize = given(tractor_driver::MAX_PENDING_CONNECTIONS_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| std::io::Error::other("no pending limit set"))?;
    let _silent = (0..limit)
        .map(|_| std::net::TcpStream::connect((host.as_str(), *port)))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut one_more = std::net::TcpStream::connect((host.as_str(), *port))?;
    one_more.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut buf = [0u8; 64];
    Ok(match one_more.read(&mut buf) {
        Ok(0) => "closed".into(),
        Ok(n) => format!("bytes:{:02x?}", &buf[..n]),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => "closed".into(),
        Err(e) => format!("error:{e}"),
    })
}

/// Runs `tls-strangers` on the host `CONF_NETNS_STRANGER`, against the
/// root at `target` whose uid and pid are given (to look for them in what
/// a stranger gets back): what it reported, by key.
fn strangers(
    target: &Address,
    uid: &tractor_driver::Uid,
    pid: u32,
) -> Result<std::collections::HashMap<String, String>> {
    let Address::Tcp { host, port } = target else {
        return Err(Error::raise("ValueError", "the root listens on TCP"));
    };
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", &given("CONF_NETNS_STRANGER")?])
        .arg(std::env::current_exe()?)
        .args(["tls-strangers", "tcp"]);
    // Nothing of the tree's: its own tree CA, and no secret.
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("TRACTOR_TLS") || key_str == tractor_driver::SECRET_ENV {
            cmd.env_remove(key);
        }
    }
    // With the tree on PEM files, the stranger's host has files too: the
    // tree's CA (it trusts the tree) and a leaf of another CA (the tree
    // does not trust it). Else a tree CA of its own.
    match std::env::var("CONF_TLS_DIR") {
        Ok(dir) => {
            let dir = std::path::Path::new(&dir);
            cmd.env(tractor_driver::tls::CA_FILE_ENV, dir.join("ca.pem"))
                .env(tractor_driver::tls::CERT_FILE_ENV, dir.join("cert.pem"))
                .env(tractor_driver::tls::KEY_FILE_ENV, dir.join("key.pem"));
        }
        Err(_) => {
            cmd.env(tractor_driver::tls::TLS_ENV, "generate");
        }
    }
    cmd.env("CONF_TLS_TARGET_HOST", host)
        .env("CONF_TLS_TARGET_PORT", port.to_string())
        .env("CONF_TLS_TARGET_NAME", &uid.name)
        .env("CONF_TLS_TARGET_UUID", &uid.uuid)
        .env("CONF_TLS_TARGET_PID", pid.to_string());
    facts_of(cmd, "tls-strangers")
}

/// Scenario `tls-strangers`, run on a host with none of the tree's
/// credentials against the actor at `CONF_TLS_TARGET_HOST`:
/// `CONF_TLS_TARGET_PORT`: a raw peer speaking Python's `Aid` gets no
/// `Aid` back (`stranger`: nothing, or a TLS alert; `stranger_learned`:
/// whether the bytes name the target), and a root with a generated tree
/// CA of its own is refused with a typed error (`stranger_root`). Its
/// network namespace is fact `netns`.
pub(crate) async fn tls_strangers(rt: Arc<dyn Runtime>, config: Config) -> Result<()> {
    let port = given("CONF_TLS_TARGET_PORT")?
        .parse::<u16>()
        .map_err(|e| Error::raise("ValueError", e.to_string()))?;
    let target = Address::tcp(given("CONF_TLS_TARGET_HOST")?, port);
    let uid = tractor_driver::Uid::new(
        given("CONF_TLS_TARGET_NAME")?,
        given("CONF_TLS_TARGET_UUID")?,
    );
    let pid: u32 = given("CONF_TLS_TARGET_PID")?
        .parse()
        .map_err(|e: std::num::ParseIntError| Error::raise("ValueError", e.to_string()))?;
    fact("netns", netns_id()?);
    let config = config.registry_addrs([Address::tcp("127.0.0.1", 0)]);
    tractor_driver::open_root_actor(rt, config, |root| async move {
        let raw = target.clone();
        let got = off_runtime(&root, move || python_stranger(&raw)).await;
        fact(
            "stranger_learned",
            got.as_ref().is_ok_and(|b| names_actor(b, &uid, pid)),
        );
        fact("stranger", answer(got));
        match root.portal_at(&target).await {
            Ok(p) => fact("stranger_root", format!("none: reached {}", p.peer())),
            Err(e) => match e.kind() {
                ErrorKind::Unauthenticated { reason, .. } => {
                    fact("stranger_root", format!("unauthenticated:{reason}"))
                }
                _ => fact("stranger_root", describe(&e)),
            },
        }
        Ok(())
    })
    .await
}
