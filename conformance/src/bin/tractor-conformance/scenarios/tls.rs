//! TLS between hosts (`tls-`): a tree with a generated tree CA, its root
//! on its end of a veth pair, a child launched into another network
//! namespace (tests/tls.rs makes it, as tests/launch.rs does). The tree
//! has TLS from the environment (`TRACTOR_TLS=generate`) or, with
//! `CONF_TLS_VIA=config`, from its `Config`; it has no secret.

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

/// Scenario `tls-netns`: across the namespaces, calls, a context stream
/// and an error relay work inside TLS; the child got the tree CA in its
/// environment; a raw peer speaking Python's `Aid` to the root's address
/// gets no `Aid` back; a second root, with a CA of its own, cannot
/// connect (run as another process: `tls-stranger-root`).
pub(crate) async fn tls_netns(rt: Arc<dyn Runtime>, config: Config) -> Result<()> {
    let (mut config, options) = in_netns(config, netns_exec()?)?;
    if std::env::var("CONF_TLS_VIA").is_ok_and(|v| v == "config") {
        config = config.tls(TlsConfig::generate());
    }
    tractor_driver::open_root_actor(rt, config, |root| async move {
        let mine = std::fs::read_link("/proc/self/ns/net")?
            .display()
            .to_string();
        let addr = root.accept_addrs()[0].clone();
        let stranger = addr.clone();
        let got = off_runtime(&root, move || python_stranger(&stranger)).await;
        fact(
            "stranger_learned",
            got.as_ref()
                .is_ok_and(|b| names_actor(b, root.uid(), std::process::id())),
        );
        fact("stranger", answer(got));
        let target = addr.clone();
        let other = off_runtime(&root, move || stranger_root(&target)).await?;
        fact("stranger_root", other);
        root.open_nursery(|n| async move {
            let p = n.start_actor("far", options).await?;
            let theirs: String = p.run(NS, "netns", ()).await?;
            fact("other_netns", theirs != mine);
            let ca = child_env(&p, tractor_driver::tls::CA_PEM_ENV).await?;
            fact(
                "ca_reached",
                ca.is_some_and(|pem| pem.contains("BEGIN CERTIFICATE")),
            );
            let mode = child_env(&p, tractor_driver::tls::TLS_ENV).await?;
            fact("mode_cleared", mode.is_none());
            super::launch::echo_and_raise(&p).await?;
            p.cancel_actor().await?;
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

/// Runs `tls-stranger-root` against `target` in another process, a root
/// with a tree CA of its own: the error it reported.
fn stranger_root(target: &Address) -> Result<String> {
    let Address::Tcp { host, port } = target else {
        return Err(Error::raise("ValueError", "the root listens on TCP"));
    };
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(["tls-stranger-root", "tcp"]);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TRACTOR_TLS") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .env(tractor_driver::tls::TLS_ENV, "generate")
        .env("CONF_TLS_TARGET_HOST", host)
        .env("CONF_TLS_TARGET_PORT", port.to_string())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()?;
    let said = String::from_utf8_lossy(&out.stdout);
    Ok(said
        .lines()
        .find_map(|l| l.strip_prefix("error="))
        .map_or_else(
            || format!("none: {} said {said:?}", out.status),
            str::to_owned,
        ))
}

/// Scenario `tls-stranger-root`: a root with a generated tree CA of its
/// own reaches for the actor at `CONF_TLS_TARGET_HOST`:
/// `CONF_TLS_TARGET_PORT`, whose tree has another: refused, with a typed
/// error naming the certificate.
pub(crate) async fn tls_stranger_root(rt: Arc<dyn Runtime>, config: Config) -> Result<()> {
    let port = given("CONF_TLS_TARGET_PORT")?
        .parse::<u16>()
        .map_err(|e| Error::raise("ValueError", e.to_string()))?;
    let target = Address::tcp(given("CONF_TLS_TARGET_HOST")?, port);
    let config = config.registry_addrs([Address::tcp("127.0.0.1", 0)]);
    tractor_driver::open_root_actor(rt, config, |root| async move {
        match root.portal_at(&target).await {
            Ok(p) => fact("error", format!("none: reached {}", p.peer())),
            Err(e) => match e.kind() {
                ErrorKind::Connect { reason, .. } => fact("error", format!("connect:{reason}")),
                _ => fact("error", describe(&e)),
            },
        }
        Ok(())
    })
    .await
}
