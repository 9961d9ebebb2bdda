//! Children run through a launcher (`launch-`): onto another host of a
//! LAN of network namespaces (`ip netns exec`), or with their environment
//! cleared (`env -i`), their settings reaching them through the bootstrap
//! block on their stdin. Their tests (tests/launch.rs) make the LAN, run
//! the root on one of its hosts, and give the child's host in
//! `CONF_NETNS`, the root's address in `CONF_NETNS_ROOT_IP` and the
//! child's in `CONF_NETNS_CHILD_IP` (`tractor_conformance::netns::env`).

use tractor_driver::CommandPrefix;

use crate::*;

/// A variable the test must have set.
pub(crate) fn given(var: &str) -> Result<String> {
    std::env::var(var).map_err(|_| Error::raise("KeyError", format!("{var} is not set")))
}

/// A variable of a launched child's environment.
pub(crate) async fn child_env(p: &Portal, var: &str) -> Result<Option<String>> {
    p.run(
        NS,
        "env_var",
        Value {
            value: Some(var.to_owned()),
        },
    )
    .await
}

/// The root listening, and registering, on its end of the veth pair; the
/// options of a child launched into the namespace, listening on its end.
pub(crate) fn in_netns(
    mut config: Config,
    launcher: Vec<String>,
) -> Result<(Config, ActorOptions)> {
    let root_ip = given("CONF_NETNS_ROOT_IP")?;
    let child_ip = given("CONF_NETNS_CHILD_IP")?;
    config.bind_addrs = vec![Address::tcp(root_ip.clone(), 0)];
    config = config.registry_addrs([Address::tcp(root_ip, 0)]);
    let mut options = daemon().launcher(CommandPrefix::new(launcher));
    options.bind_addrs = Some(vec![Address::tcp(child_ip, 0)]);
    Ok((config, options))
}

/// A context stream both ways with `p` (20 items echoed: fact `echoed`),
/// then a call that raises: its error (fact `error`), which names the
/// actor it came from.
pub(crate) async fn echo_and_raise(p: &Portal) -> Result<Error> {
    let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
    let stream = ctx.open_stream().await?;
    let mut echoed = 0;
    for i in 0..20i64 {
        stream.send(&Item::Int(i)).await?;
        match stream.next::<Item>().await {
            Some(Ok(Item::Int(j))) if j == i => echoed += 1,
            other => check!(false, "echo of {i}: {other:?}"),
        }
    }
    stream.close()?;
    let count: u32 = ctx.wait_for_result().await?;
    fact("echoed", format!("{echoed}/{count}"));
    let e = p
        .run::<()>(NS, "raise", Raise::new("ValueError", "from the namespace"))
        .await
        .expect_err("it raises");
    fact("error", describe(&e));
    Ok(e)
}

/// What `p` got from its sibling `other`, found through the registrar
/// (`conf:greet_sibling`).
pub(crate) async fn greet(p: &Portal, other: &str) -> Result<String> {
    let other = Other {
        other: other.to_owned(),
    };
    p.run(NS, "greet_sibling", other).await
}

/// `ip netns exec <namespace>`.
pub(crate) fn netns_exec() -> Result<Vec<String>> {
    Ok(["ip", "netns", "exec"]
        .into_iter()
        .map(str::to_owned)
        .chain([given("CONF_NETNS")?])
        .collect())
}

/// Scenario `launch-netns`: a child launched into another network
/// namespace serves calls, a context stream both ways and its errors, as
/// any child; the tree's secret reached it (a call needs the handshake).
pub(crate) async fn launch_netns(rt: Arc<dyn Runtime>, config: Config) -> Result<()> {
    let (config, options) = in_netns(config, netns_exec()?)?;
    tractor_driver::open_root_actor(rt, config, |root| async move {
        let mine = std::fs::read_link("/proc/self/ns/net")?
            .display()
            .to_string();
        root.open_nursery(|n| async move {
            let p = n.start_actor("remote", options).await?;
            let theirs: String = p.run(NS, "netns", ()).await?;
            fact("other_netns", theirs != mine);
            let secret = child_env(&p, tractor_driver::SECRET_ENV).await?;
            fact(
                "secret_reached",
                secret.is_some() && secret == std::env::var(tractor_driver::SECRET_ENV).ok(),
            );
            let e = echo_and_raise(&p).await?;
            fact(
                "error_source",
                e.remote()
                    .map_or("none".into(), |r| r.src_uid().name.clone()),
            );
            p.cancel_actor().await?;
            Ok(())
        })
        .await
    })
    .await
}

/// Scenario `launch-env-cleared`: a child launched through `env -i` has
/// none of the root's environment but what its bootstrap block gave it:
/// the tree's secret and a limit.
pub(crate) async fn launch_env_cleared(rt: Arc<dyn Runtime>, config: Config) -> Result<()> {
    tractor_driver::open_root_actor(rt, config, |root| async move {
        root.open_nursery(|n| async move {
            let options = daemon().launcher(CommandPrefix::new(["env", "-i"]));
            let p = n.start_actor("cleared", options).await?;
            let said: String = p.run(NS, "hi", ()).await?;
            fact("hi", said);
            let secret = child_env(&p, tractor_driver::SECRET_ENV).await?;
            fact(
                "secret_reached",
                secret.is_some() && secret == std::env::var(tractor_driver::SECRET_ENV).ok(),
            );
            let limit = tractor_driver::MAX_DIALOGS_PER_PEER_ENV;
            fact("limit", child_env(&p, limit).await?.unwrap_or_default());
            fact(
                "canary",
                child_env(&p, "CONF_CANARY").await?.unwrap_or("none".into()),
            );
            p.cancel_actor().await?;
            Ok(())
        })
        .await
    })
    .await
}

/// The parent process of `pid`, from `/proc`.
fn ppid_of(pid: u32) -> Result<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| Error::raise("LookupError", format!("no PPid for {pid}")))
}

/// Whether process `pid` has ended: gone, or a zombie.
fn ended(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// Scenario `launch-launcher-killed`: the launcher's local process (a
/// shell that runs the child in the namespace and waits for it) is
/// SIGKILLed during a call: the root reports the child lost, by name, and
/// the child, whose stdin pipe then ends, goes too: the root waits for it
/// (it is no longer the root's to reap: the shell was its parent).
pub(crate) async fn launch_launcher_killed(rt: Arc<dyn Runtime>, config: Config) -> Result<()> {
    let mut launcher = netns_exec()?;
    // `"$@"; exit` keeps the shell: it is not replaced by the child.
    launcher.extend(["sh", "-c", "\"$@\"; exit $?", "launcher"].map(str::to_owned));
    let (config, options) = in_netns(config, launcher)?;
    tractor_driver::open_root_actor(rt, config, |root| async move {
        let me = root.clone();
        root.open_nursery(|n| async move {
            let p = n.start_actor("victim", options).await?;
            let child: u32 = p.run(NS, "pid", ()).await?;
            let shell = ppid_of(child)?;
            check!(
                shell != std::process::id(),
                "the child is not below a shell"
            );
            fact("child_pid", child);
            let killer = me.spawn({
                let me = me.clone();
                async move {
                    until(&me, || held_marker(child).exists()).await;
                    sigkill(shell)
                }
            });
            let e = p
                .run::<()>(NS, "hold", ())
                .await
                .expect_err("the launcher died");
            killer.await??;
            child_died(&e, "victim", shell)?;
            until(&me, || ended(child)).await;
            fact("child_ended", true);
            Ok(())
        })
        .await
    })
    .await
}

/// Scenario `launch-needs-tcp`: over Unix sockets, a launched child has no
/// address to connect back to (a socket file does not cross hosts):
/// starting it fails with a typed error, before any process starts.
pub(crate) async fn launch_needs_tcp(rt: Arc<dyn Runtime>, config: Config) -> Result<()> {
    tractor_driver::open_root_actor(rt, config, |root| async move {
        let e = nursery_error(&root, "a launched child needs TCP", |n| async move {
            let options = daemon().launcher(CommandPrefix::new(["env"]));
            n.start_actor("nowhere", options).await.map(drop)
        })
        .await;
        let typed = matches!(
            e.kind(),
            ErrorKind::Launch(tractor_driver::LaunchError::NotTcp { .. })
        );
        fact("not_tcp", typed);
        fact("error", &e);
        Ok(())
    })
    .await
}

/// Scenario `launch-pause`: in debug mode, a launched child that pauses
/// has no terminal (its stdin is the bootstrap pipe, set aside for
/// `/dev/null`): its REPL ends at once, as at end of input, and the
/// function goes on.
pub(crate) async fn launch_pause(rt: Arc<dyn Runtime>, mut config: Config) -> Result<()> {
    config.debug_mode = true;
    tractor_driver::open_root_actor(rt, config, |root| async move {
        root.open_nursery(|n| async move {
            let options = daemon().launcher(CommandPrefix::new(["env", "-i"]));
            let p = n.start_actor("paused", options).await?;
            let said: String = p.run(NS, "pause_then_return", ()).await?;
            fact("paused", said);
            p.cancel_actor().await?;
            Ok(())
        })
        .await
    })
    .await
}

/// Runs `ip args…` (on links and namespaces the test made).
fn ip(args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("ip").args(args).output()?;
    check!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Scenario `launch-partition`: a child on another host has a context
/// open with the root when that host's link goes down (`ip link set
/// CONF_NETNS_LINK down` inside the host's namespace, `CONF_NETNS`).
/// Both sides fall silent to each other; with the tree's keepalive (the
/// test gives a short one), each finds it out: the root's context fails
/// naming the child, and the child, its parent lost, cancels itself and
/// exits. Then, as `CONF_PARTITION_END` says, the link comes back up
/// (`heal`) or the host's namespace is deleted (`delete`) before the child
/// is gone.
pub(crate) async fn launch_partition(rt: Arc<dyn Runtime>, config: Config) -> Result<()> {
    let (config, options) = in_netns(config, netns_exec()?)?;
    let host = given("CONF_NETNS")?;
    let link = given("CONF_NETNS_LINK")?;
    let delete = match given("CONF_PARTITION_END")?.as_str() {
        "heal" => false,
        "delete" => true,
        other => {
            return Err(Error::raise(
                "ValueError",
                format!("a partition ends by {other}?"),
            ));
        }
    };
    tractor_driver::open_root_actor(rt, config, |root| async move {
        let me = root.clone();
        root.open_nursery(|n| async move {
            let p = n.start_actor("far", options).await?;
            let pid: u32 = p.run(NS, "pid", ()).await?;
            // Whether the tree is over TLS: the child holds the tree CA.
            let ca = child_env(&p, tractor_driver::tls::CA_PEM_ENV).await?;
            fact("tls", ca.is_some());
            let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
            let stream = ctx.open_stream().await?;
            stream.send(&Item::Int(1)).await?;
            check!(
                matches!(stream.next::<Item>().await, Some(Ok(Item::Int(1)))),
                "the echo before the partition"
            );
            ip(&["-n", &host, "link", "set", &link, "down"])?;
            // Nothing more crosses: the stream ends with the loss.
            let lost = match stream.next::<Item>().await {
                Some(Err(e)) => e,
                other => {
                    check!(false, "the stream went on across a partition: {other:?}");
                    unreachable!()
                }
            };
            fact("lost", lost.to_string());
            if delete {
                // The name goes at once; the namespace itself, with its
                // links, once its last process has left.
                ip(&["netns", "delete", &host])?;
            }
            fact(
                "lost_kind",
                matches!(lost.kind(), ErrorKind::Dialog(DialogError::PeerLost { .. })),
            );
            // The child ends on its own, however long its side takes to
            // find the silence (bounded only to catch a hang).
            let deadline = Instant::now() + Duration::from_secs(120);
            while std::path::Path::new(&format!("/proc/{pid}")).exists()
                && Instant::now() < deadline
            {
                me.sleep(Duration::from_millis(50)).await;
            }
            fact(
                "child_gone",
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            );
            if !delete {
                ip(&["-n", &host, "link", "set", &link, "up"])?;
            }
            Ok(())
        })
        .await
    })
    .await
}

/// Scenario `launch-advertise`: every actor listens on a wildcard
/// (`0.0.0.0`), which no other host can connect to, and advertises its
/// host's address instead: the root `CONF_NETNS_ROOT_IP`, `far` its own
/// on `CONF_NETNS`, `near` its own on `CONF_NETNS_SIBLING`. The launched
/// children connect back to the root's advertised address (their
/// launchers name none) and register theirs: `far` finds `near` through
/// the registrar and reaches it across hosts. `hidden`, on the sibling's
/// host too, advertises nothing: what it registered (`0.0.0.0`) leads
/// `far` nowhere. The root advertises from its `Config`, or from
/// `TRACTOR_ADVERTISE_ADDRS` when the test sets it. A child whose
/// advertised addresses cannot fit is refused before it starts. A second
/// root on the root's host (`launch-advertise-joiner`) joins the
/// registrar at its wildcard address, advertising the host's address for
/// it and for itself: its own child, launched on `CONF_NETNS`, finds
/// `near` through it.
pub(crate) async fn launch_advertise(rt: Arc<dyn Runtime>, mut config: Config) -> Result<()> {
    let root_ip = given("CONF_NETNS_ROOT_IP")?;
    let child_ip = given("CONF_NETNS_CHILD_IP")?;
    config.registry_addrs = vec![Address::tcp("0.0.0.0", 0)];
    config.bind_addrs = Vec::new();
    // Else `TRACTOR_ADVERTISE_ADDRS`, which the test set for the root
    // alone: no child may take it for its own.
    if std::env::var_os(tractor_driver::ADVERTISE_ADDRS_ENV).is_none() {
        config.advertise_addrs = vec![Address::tcp(root_ip.clone(), 0)];
    }
    let on = |host: String, ip: Option<String>| {
        let mut o = daemon().launcher(CommandPrefix::new(["ip", "netns", "exec", &host]));
        o.bind_addrs = Some(vec![Address::tcp("0.0.0.0", 0)]);
        o.advertise_addrs = ip.map(|ip| vec![Address::tcp(ip, 0)]);
        o
    };
    let far = on(given("CONF_NETNS")?, Some(child_ip.clone()));
    let near = on(
        given("CONF_NETNS_SIBLING")?,
        Some(given("CONF_NETNS_SIBLING_IP")?),
    );
    let hidden = on(given("CONF_NETNS_SIBLING")?, None);
    let host_of = |addrs: &[Address]| match addrs {
        [Address::Tcp { host, port }] if *port != 0 => host.clone(),
        other => format!("{other:?}"),
    };
    tractor_driver::open_root_actor(rt, config, |root| async move {
        let me = root.clone();
        fact("root_gives", host_of(&root.accept_addrs()));
        fact("registry_gives", host_of(&root.registry_addrs()));
        root.open_nursery(|n| async move {
            let p = n.start_actor("far", far).await?;
            let q = n.start_actor("near", near).await?;
            let h = n.start_actor("hidden", hidden).await?;
            let addrs: Vec<Address> = p.run(NS, "accept_addrs", ()).await?;
            fact("far_gives", host_of(&addrs));
            let addrs: Vec<Address> = h.run(NS, "accept_addrs", ()).await?;
            fact("hidden_gives", host_of(&addrs));
            let hi = greet(&p, "near").await?;
            fact("sibling", hi);
            let lost = greet(&p, "hidden")
                .await
                .expect_err("nothing listens at 0.0.0.0 on far's host");
            fact(
                "hidden",
                lost.to_string().contains("could not connect to 0.0.0.0:"),
            );
            let mut bad = daemon();
            bad.advertise_addrs = Some(vec![Address::uds("/tmp", "x.sock")]);
            let refused = n.start_actor("bad", bad).await.map(drop);
            fact(
                "bad_advertise",
                matches!(
                    refused.as_ref().map_err(Error::kind),
                    Err(ErrorKind::Advertise(_))
                ),
            );
            let registrar = root_registrar_port(&me);
            let joined = off_runtime(&me, move || joiner(registrar)).await?;
            for key in ["joiner_registry", "joiner_gives", "joiner_child"] {
                fact(key, joined.get(key).map_or("missing", String::as_str));
            }
            for portal in [&p, &q, &h] {
                portal.cancel_actor().await?;
            }
            Ok(())
        })
        .await
    })
    .await
}

/// The port the registrar (this root) listens on.
fn root_registrar_port(root: &ActorHandle) -> u16 {
    match root.registry_addrs().first() {
        Some(Address::Tcp { port, .. }) => *port,
        _ => 0,
    }
}

/// Runs `launch-advertise-joiner` beside this root, on its host: what it
/// reported, by key.
fn joiner(port: u16) -> Result<std::collections::HashMap<String, String>> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(["launch-advertise-joiner", "tcp"])
        .env("CONF_JOIN_PORT", port.to_string())
        .env_remove(tractor_driver::ADVERTISE_ADDRS_ENV);
    facts_of(cmd, "the joiner")
}

/// Scenario `launch-advertise-joiner`: a root that finds the registrar at
/// `0.0.0.0:CONF_JOIN_PORT` (on its host) and joins it, listening on a
/// wildcard itself; it advertises `CONF_NETNS_ROOT_IP` for both, the
/// registrar's position first. What it gives out (`joiner_registry`,
/// `joiner_gives`: the host, and whether the port is the registrar's or
/// its own), and what its child, launched on `CONF_NETNS`, got from
/// `near` through the registrar (`joiner_child`).
pub(crate) async fn launch_advertise_joiner(
    rt: Arc<dyn Runtime>,
    mut config: Config,
) -> Result<()> {
    let root_ip = given("CONF_NETNS_ROOT_IP")?;
    let port: u16 = given("CONF_JOIN_PORT")?
        .parse()
        .map_err(|e: std::num::ParseIntError| Error::raise("ValueError", e.to_string()))?;
    config.name = "joiner".into();
    config.registry_addrs = vec![Address::tcp("0.0.0.0", port)];
    config.bind_addrs = vec![Address::tcp("0.0.0.0", 0)];
    config.advertise_addrs = vec![Address::tcp(root_ip.clone(), 0), Address::tcp(root_ip, 0)];
    let host = given("CONF_NETNS")?;
    let mut child = daemon().launcher(CommandPrefix::new(["ip", "netns", "exec", &host]));
    child.bind_addrs = Some(vec![Address::tcp("0.0.0.0", 0)]);
    child.advertise_addrs = Some(vec![Address::tcp(given("CONF_NETNS_CHILD_IP")?, 0)]);
    tractor_driver::open_root_actor(rt, config, |root| async move {
        let show = |addrs: Vec<Address>| match addrs.as_slice() {
            [Address::Tcp { host, port: p }] => {
                format!("{host}:{}", if *p == port { "registrar" } else { "own" })
            }
            other => format!("{other:?}"),
        };
        fact("joiner_registry", show(root.registry_addrs()));
        fact("joiner_gives", show(root.accept_addrs()));
        root.open_nursery(|n| async move {
            let p = n.start_actor("joiner-child", child).await?;
            fact("joiner_child", greet(&p, "near").await?);
            p.cancel_actor().await?;
            Ok(())
        })
        .await
    })
    .await
}
