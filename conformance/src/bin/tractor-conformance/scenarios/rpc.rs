//! Calls to served functions: found, refused, concurrent, to oneself (`rpc-`).

use crate::*;

pub(crate) async fn rpc_callback_exposed(root: ActorHandle) -> Result<()> {
    let got: String = one_shot_result(&root, "caller", "call_root").await?;
    fact("result", got);
    Ok(())
}

pub(crate) async fn rpc_siblings(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let greet = |other: &str| Other {
            other: other.to_owned(),
        };
        let donny = n
            .run_in_actor(
                "donny",
                NS,
                "greet_sibling",
                greet("gretchen"),
                ActorOptions::new(),
            )
            .await?;
        let gretchen = n
            .run_in_actor(
                "gretchen",
                NS,
                "greet_sibling",
                greet("donny"),
                ActorOptions::new(),
            )
            .await?;
        fact("donny", donny.wait_for_result::<String>().await?);
        fact("gretchen", gretchen.wait_for_result::<String>().await?);
        Ok(())
    })
    .await
}

pub(crate) async fn rpc_cancel_actor_ack(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    nursery_with(&r, "streamer", |_, p| async move {
        let s = p.open_stream_from(NS, "range", Count { n: 5 }).await?;
        let mut got = 0;
        while let Some(v) = s.next::<u32>().await {
            v?;
            got += 1;
        }
        drop(s);
        fact("streamed", got);
        // Through discovery, not the supervisor's portal: a plain cancel
        // request, which the actor acknowledges.
        let remote = root
            .find_actor("streamer")
            .await?
            .ok_or_else(|| not_found("streamer"))?;
        fact("acked", remote.cancel_actor().await?);
        Ok(())
    })
    .await
}

/// The registrar root's portal to the registrar address, itself: a local
/// portal (Python's `get_registry(addr)` giving a `LocalPortal`), through
/// which `self.wait_for_actor` finds the root at that address, answered in
/// process. The same portal runs the root's own functions in process, and
/// refuses what needs a dialog with oneself.
pub(crate) async fn rpc_local_portal_self(root: ActorHandle) -> Result<()> {
    #[derive(Serialize)]
    struct Name {
        name: String,
    }
    let reg = root.registry_addrs()[0].clone();
    let p = root.portal_at(&reg).await?;
    fact("local", p.is_local());
    fact("peer_is_self", p.peer() == root.uid());
    let name = root.uid().name.clone();
    let addrs: Vec<Address> = p
        .run_from_ns("self", "wait_for_actor", Name { name: name.clone() })
        .await?;
    fact("first_is_registrar_addr", addrs.first() == Some(&reg));
    let found: Option<Vec<Address>> = p
        .run_from_ns("self", "find_actor", Name { name: name.clone() })
        .await?;
    fact("find_actor", found.as_deref() == Some(&addrs[..]));
    // Discovery of oneself gives the local portal too.
    let me = root
        .find_actor(&name)
        .await?
        .expect("the root is registered");
    fact("find_actor_local", me.is_local());
    fact(
        "wait_for_actor_local",
        root.wait_for_actor(&name).await?.is_local(),
    );
    fact("local_portal", root.local_portal().is_local());
    // The root's own functions, in process: results, and errors as raised.
    let hi: String = p.run(NS, "hi", ()).await?;
    fact("hi", hi);
    let raised = p
        .run::<()>(NS, "raise", Raise::new("ValueError", "on purpose"))
        .await
        .expect_err("the function raises");
    fact("raised", describe(&raised));
    let hidden = p
        .run::<()>("not_exposed", "hi", ())
        .await
        .expect_err("not exposed");
    fact("not_exposed", hidden.type_name().unwrap_or_default());
    // What would be a dialog with oneself.
    let ctx = p
        .open_context::<()>(NS, "block_forever", ())
        .await
        .expect_err("a context with oneself is invalid");
    fact("context", describe(&ctx));
    let ctx_run = p
        .run::<()>(NS, "block_forever", ())
        .await
        .expect_err("a context function is no plain one");
    fact("context_run", describe(&ctx_run));
    let cancel = p
        .cancel_actor()
        .await
        .expect_err("not through a local portal");
    fact("cancel_actor", describe(&cancel));
    // A child, whose registrar is the root.
    let (local, hi): (bool, String) = with_daemon(&root, "finder", |c| async move {
        c.run(NS, "find_self", ()).await
    })
    .await?;
    fact("child_find_self", format!("{local},{hi}"));
    Ok(())
}

/// Scenarios `rpc-module-not-exposed` and `rpc-func-not-found`.
pub(crate) async fn rpc_not_callable(root: ActorHandle, id: &str) -> Result<()> {
    let (ns, func) = if id == "rpc-module-not-exposed" {
        ("not.exposed", "hi")
    } else {
        (NS, "no_such_function")
    };
    with_daemon(&root, "frank", |p| async move {
        let e = p.run::<()>(ns, func, ()).await.expect_err("must fail");
        fact("error", describe(&e));
        Ok(())
    })
    .await
}

/// Scenario `rpc-bad-kwargs`.
pub(crate) async fn rpc_bad_kwargs(root: ActorHandle) -> Result<()> {
    let e = nursery_error(&root, "bad kwargs fail", |n| async move {
        #[derive(Serialize)]
        struct Unexpected {
            unexpected: i32,
        }
        n.run_in_actor(
            "bad",
            NS,
            "square",
            Unexpected { unexpected: 10 },
            ActorOptions::new(),
        )
        .await?;
        Ok(())
    })
    .await;
    fact("error", describe(&e));
    // The library raised it: only its place travels, with the
    // hint when backtraces are off; no frame at all.
    let tb = e.remote().map_or("", |r| r.tb_str());
    check_short_traceback(tb)?;
    // The header, the place, the hint (off) and the closing line.
    let lines = if backtraces_on() { 3 } else { 4 };
    check!(tb.lines().count() == lines, "frames in: {tb}");
    check!(
        tb.lines().nth(1).is_some_and(|l| !l.contains(", in ")),
        "a frame named in: {tb}"
    );
    fact("backtraces", backtraces_on());
    Ok(())
}

/// Scenario `rpc-concurrent-calls-one-portal`.
pub(crate) async fn rpc_concurrent_calls_one_portal(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "pool", |p| async move {
        let calls = (0..50i64)
            .map(|i| {
                let p = p.clone();
                Box::pin(async move { p.run::<i64>(NS, "square", Data { data: i }).await })
                    as Boxed<'_, _>
            })
            .collect();
        let results: Result<Vec<i64>> = join_all(calls).await.into_iter().collect();
        let results = results?;
        check!(
            results
                .iter()
                .enumerate()
                .all(|(i, r)| *r == (i * i) as i64),
            "results {results:?}"
        );
        fact("calls", results.len());
        Ok(())
    })
    .await
}

/// Scenario `rpc-ctx-to-self-invalid`.
pub(crate) async fn rpc_ctx_to_self_invalid(root: ActorHandle) -> Result<()> {
    let me = root
        .find_actor(&root.uid().name)
        .await?
        .expect("the root is registered");
    let e = me
        .open_context::<()>(NS, "block_forever", ())
        .await
        .expect_err("a context with oneself is invalid");
    fact("error", &e);
    check!(e.to_string().contains("invalid operation"), "{e}");
    Ok(())
}

/// A typed service in a child let serve it, called through its client:
/// results, an argument left out, the service's own error back typed, and
/// an error of tractor's.
pub(crate) async fn rpc_typed_service(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let p = n
            .start_actor("calc", ActorOptions::new().serve(MathService))
            .await?;
        let math = MathClient::new(&p);
        fact("square", math.square(7).await?);
        fact("greet", math.greet("ada".into(), None).await?);
        fact(
            "greet_titled",
            math.greet("ada".into(), Some("countess".into())).await?,
        );
        let e = math.divide(7, 0).await.expect_err("a division by zero");
        fact("divide_type", e.type_name().unwrap_or("?"));
        fact(
            "divide_typed",
            format!("{:?}", e.downcast_ref::<MathError>()),
        );
        let e = math.square(i64::MAX).await.expect_err("an overflow");
        fact("overflow", e.type_name().unwrap_or("?"));
        // The string API reaches the same functions.
        #[derive(Serialize)]
        struct Square {
            x: i64,
        }
        let nine: i64 = p
            .run(MathService::NAMESPACE, "square", Square { x: 3 })
            .await?;
        fact("untyped", nine);
        // A typed context: `started`, a stream both ways, a result.
        let (ctx, first) = math.totals(10).await?;
        let stream = ctx.open_stream().await?;
        let mut totals = vec![first];
        for n in [1, 2, 3] {
            stream.send(&n).await?;
            totals.push(stream.receive().await?);
        }
        stream.close()?;
        fact("totals", format!("{totals:?}"));
        fact("added", ctx.wait_for_result().await?);
        n.cancel().await;
        Ok(())
    })
    .await
}
