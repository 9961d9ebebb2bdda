//! Tree secrets: who may join a tree, and what a stranger may do (`auth-`).

use crate::*;

// ---------------------------------------------------------------------------
// A tree's secret (spec/PROTOCOL.md §3.5).

/// A msgpack string of fewer than 32 bytes.
pub(crate) fn fixstr(out: &mut Vec<u8>, s: &str) {
    out.push(0xa0 | u8::try_from(s.len()).expect("a short string"));
    out.extend_from_slice(s.as_bytes());
}

/// Connects to `addr` as a stranger speaking Python's handshake: sends an
/// `Aid` at once and reads until the peer closes. Returns every byte the
/// peer sent, or why the exchange failed.
pub(crate) fn python_stranger(addr: &Address) -> std::result::Result<Vec<u8>, String> {
    use std::io::{Read, Write};
    let mut body = vec![0x86];
    for (k, v) in [
        ("msg_type", "Aid"),
        ("name", "stranger"),
        ("uuid", "00000000-0000-4000-8000-0000"),
    ] {
        fixstr(&mut body, k);
        fixstr(&mut body, v);
    }
    fixstr(&mut body, "pid");
    body.push(0x01);
    fixstr(&mut body, "is_registrar");
    body.push(0xc2);
    fixstr(&mut body, "is_probe");
    body.push(0xc2);
    let mut frame = u32::try_from(body.len())
        .expect("a small body")
        .to_le_bytes()
        .to_vec();
    frame.extend_from_slice(&body);
    /// Sends the frame and reads until the peer closes or, once it said
    /// something, falls silent (a peer that took us in keeps the
    /// connection open).
    fn talk<S: Read + Write>(
        mut s: S,
        frame: &[u8],
        quiet: impl Fn(&S) -> std::io::Result<()>,
    ) -> std::io::Result<Vec<u8>> {
        s.write_all(frame)?;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return Ok(got),
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    quiet(&s)?;
                }
                Err(e)
                    if !got.is_empty()
                        && matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                {
                    return Ok(got);
                }
                Err(e) => return Err(e),
            }
        }
    }
    let limit = Some(Duration::from_secs(30));
    let quiet = Some(Duration::from_millis(500));
    match addr {
        Address::Tcp { host, port } => std::net::TcpStream::connect((host.as_str(), *port))
            .and_then(|s| {
                s.set_read_timeout(limit)?;
                talk(s, &frame, |s| s.set_read_timeout(quiet))
            }),
        Address::Uds { dir, file } => std::os::unix::net::UnixStream::connect(
            std::path::Path::new(dir).join(file),
        )
        .and_then(|s| {
            s.set_read_timeout(limit)?;
            talk(s, &frame, |s| s.set_read_timeout(quiet))
        }),
    }
    .map_err(|e| e.to_string())
}

/// Whether `bytes` name the actor `uid` of process `pid` in any way.
pub(crate) fn names_actor(bytes: &[u8], uid: &tractor_driver::Uid, pid: u32) -> bool {
    let has =
        |needle: &[u8]| !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == needle);
    has(uid.name.as_bytes())
        || has(uid.uuid.as_bytes())
        || has(&pid.to_be_bytes())
        || u16::try_from(pid).is_ok_and(|p| has(&p.to_be_bytes()))
}

/// A tree with a secret (the test gives it in the environment, or a file
/// the environment names): a stranger speaking Python's handshake to the
/// root gets nothing; children and grandchildren inherit the secret, not
/// on their command line; calls, the registrar and a sibling's cancel
/// (an authenticated peer's) work.
pub(crate) async fn auth_tree(root: ActorHandle) -> Result<()> {
    let addr = root.accept_addrs()[0].clone();
    let got = off_runtime(&root, move || python_stranger(&addr)).await;
    match got {
        Ok(bytes) => {
            fact("stranger_bytes", bytes.len());
            fact(
                "stranger_learned",
                names_actor(&bytes, root.uid(), std::process::id()),
            );
        }
        Err(e) => fact("stranger_bytes", format!("error: {e}")),
    }
    let r = root.clone();
    nursery_with(&r, "kid", |n, kid| async move {
        let (mine, below): (AuthReport, AuthReport) = kid.run(NS, "auth_report_deep", ()).await?;
        fact("child_secret", mine.has_secret);
        fact("child_argv", mine.in_argv);
        fact("grandchild_secret", below.has_secret);
        fact("grandchild_argv", below.in_argv);
        let hi: String = kid.run(NS, "hi", ()).await?;
        fact("hi", hi);
        fact("found", root.find_actor("kid").await?.is_some());
        let sib = n.start_actor("sib", daemon()).await?;
        let peer = Other {
            other: "kid".into(),
        };
        let acked = sib.run::<bool>(NS, "cancel_peer", peer).await;
        fact(
            "sibling_cancel",
            match acked {
                Ok(acked) => acked.to_string(),
                Err(e) => describe(&e),
            },
        );
        n.cancel().await;
        Ok(())
    })
    .await
}

/// A root with a secret of its own (its own registrar too) reaches for the
/// tree's registrar daemon, whose secret differs: refused, with a typed
/// error, before either learned who the other is.
pub(crate) async fn auth_wrong_secret(root: ActorHandle) -> Result<()> {
    let transport = Transport::of(&root.registry_addrs()[0]);
    let spec = std::env::args().nth(3).unwrap_or_default();
    let daemon = registry_addr(transport, &spec)?;
    match root.portal_at(&daemon).await {
        Ok(p) => fact("error", format!("none: reached {}", p.peer())),
        Err(e) => match e.kind() {
            ErrorKind::Unauthenticated { reason, .. } => {
                fact("error", format!("unauthenticated:{reason:?}"));
            }
            _ => fact("error", describe(&e)),
        },
    }
    Ok(())
}

#[derive(Serialize)]
pub(crate) struct RegisterArgs {
    pub(crate) uid: tractor_driver::Uid,
    pub(crate) addr: Address,
}

#[derive(Serialize)]
pub(crate) struct UnregisterArgs {
    pub(crate) uid: tractor_driver::Uid,
}

/// A root of another tree, neither with a secret, asks the registrar daemon
/// to cancel itself, to register a fake actor and to unregister the
/// registrar: each refused with a `PermissionError`; the table is intact.
pub(crate) async fn auth_stranger_cancel(root: ActorHandle) -> Result<()> {
    let reg = root.registry_addrs()[0].clone();
    let p = root.portal_at(&reg).await?;
    let outcome = |r: Result<()>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => describe(&e),
    };
    fact("cancel", outcome(p.cancel_actor().await.map(|_| ())));
    let evil = RegisterArgs {
        uid: tractor_driver::Uid::new("evil", "evil-uuid"),
        addr: Address::tcp("127.0.0.1", 1),
    };
    fact(
        "register_other",
        outcome(p.run::<()>("self", "register_actor", evil).await),
    );
    let victim = UnregisterArgs {
        uid: p.peer().clone(),
    };
    fact(
        "unregister_other",
        outcome(p.run::<()>("self", "unregister_actor", victim).await),
    );
    let table = root.get_registry().await?;
    fact("evil_listed", table.keys().any(|k| k.starts_with("evil.")));
    fact(
        "registrar_listed",
        table.keys().any(|k| k.starts_with("registrar.")),
    );
    fact(
        "still_serves",
        root.find_actor("registrar").await?.is_some(),
    );
    Ok(())
}

/// Scenario `auth-wrong-secret-registrar`.
pub(crate) async fn auth_wrong_secret_registrar(_root: ActorHandle) -> Result<()> {
    fact("started", "unexpectedly");
    Ok(())
}

/// Scenario `auth-insecure-bind`.
pub(crate) async fn auth_insecure_bind(root: ActorHandle) -> Result<()> {
    fact("started", true);
    fact("bound", crate_list(&root.accept_addrs()));
    Ok(())
}
