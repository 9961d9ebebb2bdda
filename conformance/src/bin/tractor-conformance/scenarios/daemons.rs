//! Programs that tests run beside a scenario: a registrar, a registry prober or waiter, a target for attacks, registrar elections.

use crate::*;

pub(crate) async fn registrar_daemon(root: ActorHandle) -> Result<()> {
    fact("registrar", root.is_registrar());
    // Where the tree's other roots find it (a port 0 got a real one).
    match &root.registry_addrs()[0] {
        Address::Tcp { port, .. } => fact("registry", port),
        Address::Uds { file, .. } => fact("registry", file),
    }
    ready_then_wait().await
}

/// A root that serves this program's namespace until SIGINT, for tests
/// that attack it from outside with raw connections: it tells its pid and
/// where it listens. `CONF_LIMITS` (`key=value,…`) sets its limits.
pub(crate) async fn attack_daemon(root: ActorHandle) -> Result<()> {
    fact("pid", std::process::id());
    match &root.accept_addrs()[0] {
        Address::Tcp { host, port } => fact("addr", format!("tcp:{host}:{port}")),
        Address::Uds { dir, file } => fact("addr", format!("uds:{dir}/{file}")),
    }
    ready_then_wait().await
}

/// One of several roots started at once on the same registrar address
/// (`disc-registrar-election-race <tpt> <registrar> <index> <count>`, as
/// `racer-<index>`): exactly one becomes the registrar, the others its
/// clients, and none fails because another won. Each client finds the
/// registrar by its name and calls it, and the registrar checks that the
/// caller is registered; it waits for every client's call, so that it
/// outlives what they ask of it.
pub(crate) async fn registrar_election_race(root: ActorHandle) -> Result<()> {
    let count = extra_arg(1)?;
    let me = root.uid().name.clone();
    fact("registrar", root.is_registrar());
    let racers: Vec<String> = (0..count).map(|i| format!("racer-{i}")).collect();
    if root.is_registrar() {
        // Each client checks in once registered here.
        let others: std::collections::BTreeSet<String> =
            racers.iter().filter(|r| **r != me).cloned().collect();
        until(&root, || CHECKED_IN.lock().is_ok_and(|c| *c == others)).await;
        fact("registrar_name", me);
        return Ok(());
    }
    // The registrar is the racer listening at the registrar address.
    let reg = root.registry_addrs()[0].clone();
    let table = root.get_registry().await?;
    let name = table
        .iter()
        .find(|(_, addrs)| addrs.contains(&reg))
        .and_then(|(key, _)| key.rsplit_once('.'))
        .map(|(name, _)| name.to_owned())
        .ok_or_else(|| not_found("at the registrar address"))?;
    check!(racers.contains(&name), "the registrar is {name}");
    let registrar = root
        .find_actor(&name)
        .await?
        .ok_or_else(|| not_found(&name))?;
    registrar
        .run::<()>(NS, "check_in", Value { value: Some(me) })
        .await?;
    fact("registrar_name", name);
    Ok(())
}

/// A root and its daemon child, registered with a registrar daemon that
/// the test kills and starts again; they serve until SIGINT.
pub(crate) async fn registrar_restart(root: ActorHandle) -> Result<()> {
    nursery_with(&root, "kid", |_, kid| async move {
        // It serves (a call answered), so its registration is done.
        let _: u32 = kid.run(NS, "pid", ()).await?;
        ready_then_wait().await
    })
    .await
}

/// Waits until the registrar lists `root` and `kid` (scenario
/// disc-registrar-restart), then finds `kid` by name and calls it.
pub(crate) async fn registry_wait(root: ActorHandle) -> Result<()> {
    let wanted = ["kid", "root"].map(String::from);
    let names = loop {
        let names = registry_names(&root.get_registry().await?);
        if wanted.iter().all(|w| names.contains(w)) {
            break names;
        }
        root.sleep(Duration::from_millis(10)).await;
    };
    fact("registered", names.join(","));
    let kid = root
        .find_actor("kid")
        .await?
        .ok_or_else(|| not_found("kid"))?;
    fact("hi", kid.run::<String>(NS, "hi", ()).await?);
    Ok(())
}

pub(crate) async fn registry_probe(root: ActorHandle) -> Result<()> {
    fact("registrar", root.is_registrar());
    fact(
        "registered",
        registry_names(&root.get_registry().await?).join(","),
    );
    Ok(())
}
