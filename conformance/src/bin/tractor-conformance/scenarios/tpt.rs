//! Transports: sockets, handshakes, limits, the runtime directory (`tpt-`).

use crate::*;

pub(crate) async fn tpt_uds_example(root: ActorHandle) -> Result<()> {
    let dir = tractor_driver::runtime_dir()?
        .to_string_lossy()
        .into_owned();
    let reg = root.registry_addrs();
    fact(
        "registry",
        match &reg[0] {
            Address::Uds { dir: d, file } if *d == dir => file.clone(),
            other => other.to_string(),
        },
    );
    with_daemon(&root, "kid", |p| async move {
        let pid: u32 = p.run(NS, "pid", ()).await?;
        let addrs: Vec<Address> = p.run(NS, "accept_addrs", ()).await?;
        fact("child_listeners", addrs.len());
        let expected = format!("kid@{pid}.sock");
        fact(
            "child_addr_ok",
            matches!(&addrs[0], Address::Uds { dir: d, file } if *d == dir && *file == expected),
        );
        // Every socket file, the root's and the child's: its owner's only.
        use std::os::unix::fs::PermissionsExt;
        let mode = |file: &str| {
            std::fs::metadata(std::path::Path::new(&dir).join(file))
                .map(|m| format!("{:o}", m.permissions().mode() & 0o777))
                .unwrap_or_else(|e| e.to_string())
        };
        fact(
            "socket_modes",
            format!("{},{}", mode("registry@1616.sock"), mode(&expected)),
        );
        Ok(())
    })
    .await
}

pub(crate) async fn tpt_handshake_garbage(root: ActorHandle) -> Result<()> {
    let addr = root.accept_addrs()[0].clone();
    let outcome = Arc::new(std::sync::Mutex::new(None));
    let out = outcome.clone();
    std::thread::spawn(move || {
        let got = send_garbage(&addr);
        *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(got);
    });
    until(&root, || {
        outcome.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    })
    .await;
    let got = outcome
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_default();
    fact("garbage", got);
    // The root still serves.
    with_daemon(&root, "kid", |p| async move {
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("after", hi);
        Ok(())
    })
    .await
}

/// Connects to `addr`, sends a frame no decoder accepts (an empty body)
/// instead of a handshake, and reads until the peer closes: `closed`, or
/// why not.
pub(crate) fn send_garbage(addr: &Address) -> String {
    use std::io::{Read, Write};
    fn talk(mut s: impl Read + Write) -> std::io::Result<()> {
        s.write_all(&[0, 0, 0, 0])?;
        let mut sink = Vec::new();
        s.read_to_end(&mut sink)?;
        Ok(())
    }
    let limit = Some(Duration::from_secs(30));
    let r = match addr {
        Address::Tcp { host, port } => std::net::TcpStream::connect((host.as_str(), *port))
            .and_then(|s| {
                s.set_read_timeout(limit)?;
                talk(s)
            }),
        Address::Uds { dir, file } => std::os::unix::net::UnixStream::connect(
            std::path::Path::new(dir).join(file),
        )
        .and_then(|s| {
            s.set_read_timeout(limit)?;
            talk(s)
        }),
    };
    match r {
        Ok(()) => "closed".into(),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => "closed".into(),
        Err(e) => format!("not closed: {e}"),
    }
}

/// How the runtime directory is chosen: refused when a file is in the
/// way, made private when it exists, created private when it does not.
pub(crate) fn rt_dir_secure() -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let base = std::path::PathBuf::from(tree_file("tractor")?);
    let mode = |p: &std::path::Path| -> Result<String> {
        Ok(format!(
            "{:o}",
            std::fs::metadata(p)?.permissions().mode() & 0o777
        ))
    };
    fact("fresh", !base.exists());
    std::fs::write(&base, b"not a directory")?;
    fact("file_refused", tractor_driver::runtime_dir().is_err());
    fact("file_kept", base.is_file());
    std::fs::remove_file(&base)?;
    std::fs::DirBuilder::new().mode(0o755).create(&base)?;
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755))?;
    fact("existing_mode", mode(&tractor_driver::runtime_dir()?)?);
    std::fs::remove_dir(&base)?;
    fact("created_mode", mode(&tractor_driver::runtime_dir()?)?);
    Ok(())
}

/// A Unix-socket registrar in a directory that does not exist yet.
pub(crate) async fn bindspace_created(rt: Arc<dyn Runtime>) -> Result<()> {
    let doggy = tractor_driver::runtime_dir()?.join("doggy");
    fact("dir_before", doggy.exists());
    let reg = Address::uds(doggy.to_string_lossy(), "registry@doggy.sock");
    let config = configure("", Transport::Uds, None)?.registry_addrs([reg.clone()]);
    let dir = doggy.clone();
    tractor_driver::open_root_actor(rt, config, |root| async move {
        fact("dir_created", dir.is_dir());
        fact("registrar", root.is_registrar());
        fact("bound", root.accept_addrs().contains(&reg));
        fact("registry", root.registry_addrs() == [reg]);
        Ok(())
    })
    .await?;
    fact("left_in_dir", std::fs::read_dir(&doggy)?.count());
    std::fs::remove_dir(&doggy)?;
    Ok(())
}

/// A root whose limits (from its configuration, or its environment) its
/// whole tree enforces: its child runs as many calls at once in the root as
/// the limit allows, then one more; the same in a grandchild it spawns.
pub(crate) async fn limits_inherited(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    nursery_with(&r, "kid", |n, kid| async move {
        let (root_over, over, after): (String, String, String) =
            kid.run(NS, "dialogs_deep", ()).await?;
        fact("root_over_the_limit", root_over);
        fact("over_the_limit", over);
        fact("after_one_ended", after);
        n.cancel().await;
        Ok(())
    })
    .await
}

/// Scenario `tpt-root-passes-tpt-to-sub`.
pub(crate) async fn tpt_root_passes_tpt_to_sub(root: ActorHandle) -> Result<()> {
    let transport = root.accept_addrs()[0].transport();
    let r = root.clone();
    with_daemon(&r, "sub", |_p| async move {
        let _ = root.wait_for_actor("sub").await?;
        let addr = root.query_actor("sub").await?.expect("registered");
        fact("child_transport", addr.transport());
        check!(addr.transport() == transport, "{addr} is not {transport}");
        Ok(())
    })
    .await
}

/// A root's body that does nothing: the root only starts, and ends.
fn root_only(_: ActorHandle) -> std::future::Ready<Result<()>> {
    std::future::ready(Ok(()))
}

/// A root that must not start: its error is the fact `error`, on one
/// line; started, it fails saying `why`.
async fn refused_root(rt: Arc<dyn Runtime>, config: Config, why: &str) -> Result<()> {
    match tractor_driver::open_root_actor(rt, config, root_only).await {
        Err(e) => {
            fact("error", e.to_string().replace('\n', " "));
            Ok(())
        }
        Ok(()) => Err(Error::raise("AssertionError", why)),
    }
}

/// Scenario `tpt-proto-mismatch`: a root of one transport given a registrar of
/// the other.
pub(crate) async fn tpt_proto_mismatch(
    rt: Arc<dyn Runtime>,
    transport: Transport,
    _registry: Option<&str>,
) -> Result<()> {
    let (enabled, reg) = match transport {
        Transport::Tcp => (Transport::Uds, Address::tcp("127.0.0.1", 0)),
        _ => (
            Transport::Tcp,
            Address::uds(
                tractor_driver::runtime_dir()?.to_string_lossy(),
                "registry@1616.sock",
            ),
        ),
    };
    let config = configure("tpt-proto-mismatch", enabled, None)?.registry_addrs([reg]);
    refused_root(
        rt,
        config,
        "a root started with a registrar of another transport",
    )
    .await
}

/// Scenario `tpt-uds-double-listen`: a listener asked to bind the registrar's
/// address once more.
pub(crate) async fn tpt_uds_double_listen(rt: Arc<dyn Runtime>, config: Config) -> Result<()> {
    refused_root(
        rt,
        config,
        "a second listener bound the registrar's address",
    )
    .await
}

/// Scenario `tpt-rt-dir-secure`: the runtime directory's checks, then a root in it.
pub(crate) async fn tpt_rt_dir_secure(
    rt: Arc<dyn Runtime>,
    transport: Transport,
    registry: Option<&str>,
) -> Result<()> {
    rt_dir_secure()?;
    let config = configure("tpt-rt-dir-secure", transport, registry)?;
    tractor_driver::open_root_actor(rt, config, root_only).await
}

/// Liveness (ours): every TCP connection of the tree, the root's and a
/// daemon child's, carries the tree's keepalive, as `ss` shows it
/// (`timer:(keepalive,…)`): the seconds left before the first probe,
/// which the test compares with the keepalive it gave the root.
pub(crate) async fn tpt_keepalive(root: ActorHandle) -> Result<()> {
    let me = root.clone();
    nursery_with(&root, "ka", |_, p| async move {
        let child: u32 = p.run(NS, "pid", ()).await?;
        let ours = [std::process::id(), child];
        // A socket with data in flight shows its retransmission timer
        // instead: asked again until the connections are idle.
        let mut seen = (0, Vec::new());
        for _ in 0..100 {
            seen = match keepalive_timers(&ours) {
                Ok(seen) => seen,
                Err(e) => {
                    fact("ss", format!("missing: {e}"));
                    return Ok(());
                }
            };
            if seen.0 > 0 && seen.1.len() == seen.0 {
                break;
            }
            me.sleep(Duration::from_millis(20)).await;
        }
        let (sockets, timers) = seen;
        fact("sockets", sockets);
        fact("with_keepalive", timers.len());
        let longest = timers.iter().copied().fold(0.0, f64::max);
        fact("longest_secs", longest.ceil());
        p.cancel_actor().await?;
        Ok(())
    })
    .await
}

/// The established TCP connections of processes `pids`, as `ss` lists
/// them: how many, and the seconds left on the keepalive timer of those
/// that show one.
fn keepalive_timers(pids: &[u32]) -> std::io::Result<(usize, Vec<f64>)> {
    let out = std::process::Command::new("ss")
        .args(["-tnoHp", "state", "established"])
        .output()?;
    let out = String::from_utf8_lossy(&out.stdout);
    let ours: Vec<String> = pids.iter().map(|pid| format!("pid={pid},")).collect();
    let mut sockets = 0;
    let mut timers = Vec::new();
    for line in out.lines().filter(|l| ours.iter().any(|p| l.contains(p))) {
        sockets += 1;
        // `ss` shows the time left as `14sec`, `5.684ms` (seconds and
        // milliseconds), `850ms` or `2min`.
        let Some(rest) = line.split("timer:(keepalive,").nth(1) else {
            continue;
        };
        let left = rest.split(',').next().unwrap_or_default();
        let number = |t: &str| t.parse::<f64>().unwrap_or(f64::NAN);
        let secs = if let Some(m) = left.strip_suffix("min") {
            number(m) * 60.0
        } else if let Some(s) = left.strip_suffix("sec") {
            number(s)
        } else if let Some(ms) = left.strip_suffix("ms") {
            if ms.contains('.') {
                number(ms)
            } else {
                number(ms) / 1000.0
            }
        } else {
            f64::NAN
        };
        timers.push(secs);
    }
    Ok((sockets, timers))
}
