//! A tree of both adapters (`mixed-tree`).

use crate::*;

/// A tree of both adapters: the root on this process's, its children on
/// the other (the first other one of `Adapter::ALL`). RPC, a context with
/// a stream, an error relayed across, and cancellation all cross the
/// boundary.
pub(crate) async fn mixed_tree(root: ActorHandle) -> Result<()> {
    let mine = Adapter::from_env();
    let other = Adapter::ALL
        .into_iter()
        .find(|a| *a != mine)
        .expect("another adapter")
        .name();
    fact("root_adapter", mine);
    let on_other = move || ActorOptions::new().env(ADAPTER, other);
    root.open_nursery(|n| async move {
        let p = n.start_actor("other", daemon().env(ADAPTER, other)).await?;
        let theirs: String = p.run(NS, "adapter", ()).await?;
        fact("child_adapter", theirs);
        let (ctx, first): (_, i64) = p.open_context(NS, "pingpong", Data { data: 1 }).await?;
        let stream = ctx.open_stream().await?;
        ping_pong(&stream, 3).await?;
        drop(stream);
        let count: u32 = ctx.wait_for_result().await?;
        fact("streamed", format!("{first},{count}"));
        // A one-shot that never returns, cancelled with the nursery below.
        let sleeper = n
            .run_in_actor("sleeper", NS, "sleep_forever", (), on_other())
            .await?;
        let () = sleeper.run(NS, "do_nothing", ()).await?;
        p.cancel_actor().await?;
        n.cancel().await;
        fact("cancelled", true);
        Ok(())
    })
    .await?;
    // An error raised two levels down, relayed by a middle actor of the
    // other adapter.
    let e = nursery_error(&root, "the leaf fails", |n| async move {
        n.run_in_actor(
            "mid",
            NS,
            "relay",
            Depth {
                depth: 1,
                breadth: 1,
            },
            on_other(),
        )
        .await?;
        Ok(())
    })
    .await;
    fact("error", describe(&e));
    let r = e.remote().expect("a remote error");
    fact(
        "relay",
        r.relay_uid().map(|u| u.name.clone()).unwrap_or_default(),
    );
    Ok(())
}
