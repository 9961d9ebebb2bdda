//! Functions that grow a tree below their actor: relays of failures,
//! aggregators, supervisors and holders of grandchildren.

use crate::*;

/// Spawns a leaf (or a subtree) that fails, and lets its error climb.
pub(crate) async fn relay(d: Depth) -> Result<()> {
    me().open_nursery(|n| async move {
        for i in 0..d.breadth {
            let name = format!("leaf-{}-{i}", d.depth);
            if d.depth <= 1 {
                let raise = Raise::new("RuntimeError", format!("{name} failed"));
                n.run_in_actor(&name, NS, "raise", raise, ActorOptions::new())
                    .await?;
            } else {
                let sub = Depth {
                    depth: d.depth - 1,
                    breadth: d.breadth,
                };
                n.run_in_actor(&name, NS, "relay", sub, ActorOptions::new())
                    .await?;
            }
        }
        Ok(())
    })
    .await
}

/// A tree of `d.breadth` children per level, `d.depth` levels down, each
/// named after its parent; every leaf fails at one barrier, once all
/// `d.leaves` leaves of the whole tree are there.
pub(crate) async fn relay_all(d: Level) -> Result<()> {
    let me_name = me().uid().name.clone();
    me().open_nursery(|n| async move {
        for i in 0..d.breadth {
            let name = format!("{me_name}.{i}");
            if d.depth == 0 {
                n.run_in_actor(
                    &name,
                    NS,
                    "raise_at_barrier",
                    Count { n: d.leaves },
                    ActorOptions::new(),
                )
                .await?;
            } else {
                let sub = Level {
                    depth: d.depth - 1,
                    ..d
                };
                n.run_in_actor(&name, NS, "relay_all", sub, ActorOptions::new())
                    .await?;
            }
        }
        Ok(())
    })
    .await
}

/// Two streamers below, merged in lockstep and de-duplicated, sent up.
pub(crate) async fn aggregate(out: MsgStream, n: u32) -> Result<()> {
    me().open_nursery(|an| async move {
        let opts = || ActorOptions::new().enable_modules([NS]);
        let a = an.start_actor("streamer-a", opts()).await?;
        let b = an.start_actor("streamer-b", opts()).await?;
        let sa = a.open_stream_from(NS, "range", Count { n }).await?;
        let sb = b.open_stream_from(NS, "range", Count { n }).await?;
        let mut seen = std::collections::BTreeSet::new();
        loop {
            let x = sa.next::<u32>().await.transpose()?;
            let y = sb.next::<u32>().await.transpose()?;
            if x.is_none() && y.is_none() {
                break;
            }
            for v in [x, y].into_iter().flatten() {
                if seen.insert(v) {
                    out.send(&v).await?;
                }
            }
        }
        an.cancel().await;
        Ok(())
    })
    .await
}

/// Spawns `count` one-shot actors that raise `AssertionError` (each beside
/// a daemon, if `with_daemons`).
pub(crate) async fn asserters(
    n: &tractor_driver::ActorNursery,
    count: usize,
    with_daemons: bool,
) -> Result<()> {
    for i in 0..count {
        if with_daemons {
            n.start_actor(format!("daemon-{i}"), daemon()).await?;
        }
        let raise = Raise::new("AssertionError", format!("one-shot {i} asserts"));
        n.run_in_actor(
            format!("asserter-{i}"),
            NS,
            "raise",
            raise,
            ActorOptions::new(),
        )
        .await?;
    }
    Ok(())
}

/// Spawns two leaves, names them in `started`, squares 1..=4 on them round
/// robin, and cancels them before returning the squares.
pub(crate) async fn supervise_leaves(ctx: Context) -> Result<Vec<i64>> {
    me().open_nursery(|n| async move {
        let names = ["leaf_1", "leaf_2"];
        let mut leaves = Vec::new();
        for name in names {
            leaves.push(n.start_actor(name, daemon()).await?);
        }
        ctx.started(names).await?;
        let calls: Vec<SendBoxed<'_, Result<i64>>> = (1..=4i64)
            .map(|i| {
                let leaf = leaves[(i as usize - 1) % leaves.len()].clone();
                Box::pin(async move { leaf.run::<i64>(NS, "square", Data { data: i }).await })
                    as SendBoxed<'_, _>
            })
            .collect();
        let squares: Result<Vec<i64>> = join_all(calls).await.into_iter().collect();
        // The leaves go first, then the supervisor returns.
        n.cancel().await;
        squares
    })
    .await
}

/// A middle actor's context: a daemon grandchild holding a context and a
/// one-shot grandchild asleep, each with a guard that prints when
/// dropped, as is this function's own. Started once all are in place.
pub(crate) async fn hold_grandchildren(ctx: Context) -> Result<()> {
    let _finally = PrintOnDrop(me().uid().name.clone());
    nursery_with(&me(), "grandchild", |n, g| async move {
        let (_held, ()) = g.open_context(NS, "guard_ctx", ()).await?;
        let sleeper = n
            .run_in_actor(
                "grandchild-sleeper",
                NS,
                "sleep_forever",
                (),
                ActorOptions::new(),
            )
            .await?;
        // It serves (a call answered), so its registration is done.
        let _: u32 = sleeper.run(NS, "pid", ()).await?;
        started_then_wait(&ctx, ()).await
    })
    .await
}
