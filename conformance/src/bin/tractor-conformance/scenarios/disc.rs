//! Discovery: the registrar, its registry, and what actors bind (`disc-`).

use crate::*;

pub(crate) async fn disc_duplicate_name(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    nursery_with(&r, "doggy", |n, a| async move {
        let b = n.start_actor("doggy", daemon()).await?;
        check!(a.peer().uuid != b.peer().uuid, "two actors, one uuid");
        let found = root.wait_for_actor("doggy").await?;
        fact("found", &found.peer().name);
        fact(
            "one_of_them",
            found.peer().uuid == a.peer().uuid || found.peer().uuid == b.peer().uuid,
        );
        let count = |reg: &std::collections::BTreeMap<String, Vec<Address>>| {
            reg.keys().filter(|k| k.starts_with("doggy.")).count()
        };
        // A child registers once it listens, after its parent's spawn
        // returned: both entries, under their own uids, in time.
        while count(&root.get_registry().await?) < 2 {
            root.sleep(Duration::from_millis(5)).await;
        }
        fact("registered", count(&root.get_registry().await?));
        drop(found);
        n.cancel().await;
        fact("after_cancel", count(&root.get_registry().await?));
        Ok(())
    })
    .await
}

pub(crate) async fn disc_registry_dump(root: ActorHandle) -> Result<()> {
    let reg = root.get_registry().await?;
    let own = format!("{}.{}", root.uid().name, root.uid().uuid);
    fact("root_listed", reg.contains_key(&own));
    fact(
        "keys_split",
        reg.keys().all(|k| {
            k.rsplit_once('.')
                .is_some_and(|(n, u)| !n.is_empty() && u.len() == 36)
        }),
    );
    with_daemon(&root, "lister", |p| async move {
        let listed: bool = p.run(NS, "registry_has_me", ()).await?;
        fact("child_listed", listed);
        Ok(())
    })
    .await
}

pub(crate) async fn disc_unregister_on_cancel(root: ActorHandle, streaming: bool) -> Result<()> {
    let before = registry_names(&root.get_registry().await?);
    fact("before", before.join(","));
    let inner = root.clone();
    let e = nursery_error(&root, "interrupted", |n| async move {
        let root = inner;
        let mut streams = Vec::new();
        for i in 0..3 {
            let p = n.start_actor(format!("sub-{i}"), daemon()).await?;
            if streaming {
                streams.push(p.open_stream_from(NS, "count_forever", ()).await?);
            }
        }
        for i in 0..3 {
            root.wait_for_actor(format!("sub-{i}")).await?;
        }
        fact(
            "during",
            registry_names(&root.get_registry().await?).join(","),
        );
        for s in &streams {
            for _ in 0..10 {
                s.receive::<u64>().await?;
            }
        }
        // Close the streams explicitly, then a KeyboardInterrupt.
        drop(streams);
        Err::<(), _>(interrupted())
    })
    .await;
    fact("error", describe(&e));
    fact(
        "after",
        registry_names(&root.get_registry().await?).join(","),
    );
    Ok(())
}

pub(crate) async fn disc_unregister_on_sigint(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        for i in 0..3 {
            n.start_actor(format!("sub-{i}"), daemon()).await?;
        }
        for i in 0..3 {
            root.wait_for_actor(format!("sub-{i}")).await?;
        }
        fact(
            "during",
            registry_names(&root.get_registry().await?).join(","),
        );
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT)
            .map_err(|e| Error::raise("OSError", e.to_string()))?;
        std::future::pending::<()>().await;
        Ok(())
    })
    .await
}

pub(crate) async fn disc_child_finds_root(root: ActorHandle) -> Result<()> {
    fact("root_is_registrar", root.is_registrar());
    let r = root.clone();
    r.open_nursery(|n| async move {
        let p = n
            .run_in_actor("child", NS, "find_root", (), ActorOptions::new())
            .await?;
        let (name, uuid): (String, String) = p.wait_for_result().await?;
        fact("found", name);
        fact("same_uid", uuid == root.uid().uuid);
        Ok(())
    })
    .await
}

pub(crate) async fn disc_non_registrar_binds(root: ActorHandle) -> Result<()> {
    let addrs = root.accept_addrs();
    let reg = root.registry_addrs();
    fact("registrar", root.is_registrar());
    fact("listeners", addrs.len());
    let (addr, reg) = (&addrs[0], &reg[0]);
    fact("transport", addr.transport());
    fact("not_the_registry", addr != reg);
    match (addr, reg) {
        (Address::Tcp { host, port }, Address::Tcp { host: rhost, .. }) => {
            fact("same_bindspace", host == rhost);
            fact("port_set", *port > 0);
        }
        (Address::Uds { dir, file }, Address::Uds { dir: rdir, .. }) => {
            fact("same_bindspace", dir == rdir);
            fact("file", file);
        }
        _ => fact("same_bindspace", false),
    }
    Ok(())
}

pub(crate) async fn disc_cancel_remote_registrar(root: ActorHandle) -> Result<()> {
    let reg = root.registry_addrs()[0].clone();
    let p = root.portal_at(&reg).await?;
    fact("peer", &p.peer().name);
    fact("acked", p.cancel_actor().await?);
    drop(p);
    // Once its runtime is gone, connecting to it fails. (While it winds
    // down, a call may still connect and then fail otherwise.)
    loop {
        match root.get_registry().await {
            Err(e) if matches!(e.kind(), ErrorKind::Connect { .. }) => break,
            _ => root.sleep(Duration::from_millis(5)).await,
        }
    }
    fact("after", true);
    Ok(())
}

/// Scenario `disc-self-registered`.
pub(crate) async fn disc_self_registered(root: ActorHandle) -> Result<()> {
    let p = root.wait_for_actor(&root.uid().name).await?;
    fact("found", &p.peer().name);
    Ok(())
}

/// Scenarios `disc-reg-then-unreg`, `disc-find-miss-none` and `disc-reg-then-unreg-maddr`.
pub(crate) async fn disc_reg_then_unreg(root: ActorHandle) -> Result<()> {
    let registry = root.registry_addrs();
    fact("registry_maddr", crate_list_maddr(&registry)?);
    let transport = root.accept_addrs()[0].transport();
    let default = match transport {
        "tcp" => Transport::Tcp,
        _ => Transport::Uds,
    }
    .default_registry(&tractor_driver::runtime_dir()?);
    fact("default_registry", root.registry_addrs() == [default]);
    let missing = root.find_actor("no_such_svc").await?;
    fact("missing", missing.is_none());
    let r = root.clone();
    nursery_with(&r, "actor", |n, p| async move {
        let found = root.wait_for_actor("actor").await?;
        fact("found", &found.peer().name);
        let hi: String = found.run(NS, "hi", ()).await?;
        check!(hi == "hi from actor", "{hi}");
        let reg = root.get_registry().await?;
        let key = format!("{}.{}", p.peer().name, p.peer().uuid);
        fact("registered", reg.get(&key).is_some_and(|a| !a.is_empty()));
        drop(found);
        n.cancel().await;
        let reg = root.get_registry().await?;
        fact("unregistered", !reg.contains_key(&key));
        Ok(())
    })
    .await
}

/// Scenario `disc-bind-maddr-str`.
pub(crate) async fn disc_bind_maddr_str(root: ActorHandle) -> Result<()> {
    let addrs = root.accept_addrs();
    fact("bound", crate_list_maddr(&addrs)?);
    fact(
        "port_picked",
        addrs
            .iter()
            .all(|a| !matches!(a, Address::Tcp { port: 0, .. })),
    );
    // The tree works through what it bound.
    with_daemon(&root, "kid", |p| async move {
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("hi", hi);
        Ok(())
    })
    .await
}

/// Scenario `disc-registrar-bind-union`.
pub(crate) async fn disc_registrar_bind_union(root: ActorHandle) -> Result<()> {
    let addrs = root.accept_addrs();
    fact("listeners", addrs.len());
    fact(
        "registry_bound",
        root.registry_addrs().iter().all(|r| addrs.contains(r)),
    );
    Ok(())
}
