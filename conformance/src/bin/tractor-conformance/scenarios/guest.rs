//! An actor's guest runtime (`guest-`, and `dbg-guest-pause`,
//! `dump-guest-tasks`): children given one with `ActorOptions::guest`.

use crate::*;

/// A daemon with a guest runtime.
fn guest_daemon() -> ActorOptions {
    daemon().guest()
}

/// A file of this tree's temporary directory, for a child to write.
fn marker(name: &str) -> String {
    let path = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path.display().to_string()
}

/// Scenario `guest-runtime-api`: a child runs its guest's own sockets and
/// timer; a child without a guest says how to get one.
pub(crate) async fn guest_runtime_api(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let p = n.start_actor("guester", guest_daemon()).await?;
        let (guest, echoed, thread, actor_in_tokio): (String, String, String, bool) =
            p.run(NS, "guest_api", ()).await?;
        fact("guest", guest);
        fact("echoed", echoed);
        fact("thread", thread);
        fact("actor_in_tokio", actor_in_tokio);
        let plain = n.start_actor("plain", daemon()).await?;
        let e = plain
            .run::<(String, String, String, bool)>(NS, "guest_api", ())
            .await
            .expect_err("no guest");
        fact("no_guest", e.to_string().contains("ActorOptions::guest"));
        n.cancel().await;
        Ok(())
    })
    .await
}

/// Scenario `guest-cancel`: a context cancelled, then an actor cancelled,
/// each while its function waits on a guest task: the guest task is
/// dropped, on the guest's thread, before the function is gone.
pub(crate) async fn guest_cancel(root: ActorHandle) -> Result<()> {
    let (by_ctx, by_actor) = (marker("guest-held-ctx"), marker("guest-held-actor"));
    let (ctx_path, actor_path) = (by_ctx.clone(), by_actor.clone());
    root.open_nursery(|n| async move {
        let p = n.start_actor("holder", guest_daemon()).await?;
        let (ctx, ()) = p
            .open_context(
                NS,
                "guest_hold",
                Value {
                    value: Some(ctx_path),
                },
            )
            .await?;
        let (held, alive): (u32, u32) = p.run(NS, "guest_held", ()).await?;
        fact("held_before", format!("{held}/{alive}"));
        ctx.cancel()?;
        let e = ctx.wait_for_result::<()>().await.expect_err("cancelled");
        check!(e.is_cancelled(), "{e}");
        let (held, alive): (u32, u32) = p.run(NS, "guest_held", ()).await?;
        fact("held_after_ctx_cancel", format!("{held}/{alive}"));
        let q = n.start_actor("held-at-exit", guest_daemon()).await?;
        let (_ctx, ()) = q
            .open_context(
                NS,
                "guest_hold",
                Value {
                    value: Some(actor_path),
                },
            )
            .await?;
        q.cancel_actor().await?;
        n.cancel().await;
        Ok(())
    })
    .await?;
    for (key, path) in [("ctx_marker", by_ctx), ("actor_marker", by_actor)] {
        fact(
            key,
            std::fs::read_to_string(&path).unwrap_or_else(|_| "absent".into()),
        );
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Scenario `guest-errors`: a guest error, a guest panic and a guest
/// feed that fails after `started` reach the parent as remote errors.
pub(crate) async fn guest_errors(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let p = n.start_actor("guest-failer", guest_daemon()).await?;
        for how in ["error", "panic", "channel"] {
            let e = p
                .run::<()>(
                    NS,
                    "guest_fail",
                    Value {
                        value: Some(how.into()),
                    },
                )
                .await
                .expect_err("the guest fails");
            let remote = e
                .remote()
                .ok_or_else(|| Error::raise("AssertionError", format!("{e}")))?;
            fact(&format!("{how}_type"), remote.boxed_type());
            fact(&format!("{how}_src"), &remote.src_uid().name);
            let said = e.to_string();
            let expected = match how {
                "error" => "the upstream refused",
                "panic" => "the guest task panicked on purpose",
                _ => "the guest's feed broke",
            };
            fact(&format!("{how}_message"), said.contains(expected));
        }
        // The child still serves.
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("after", hi);
        n.cancel().await;
        Ok(())
    })
    .await
}

/// Scenario `guest-stream-10k`: a guest task's 10,000 items through a
/// channel of 16 and the child's stream, in order.
pub(crate) async fn guest_stream_10k(root: ActorHandle) -> Result<()> {
    const N: u32 = 10_000;
    root.open_nursery(|n| async move {
        let p = n.start_actor("guest-feed", guest_daemon()).await?;
        let (ctx, ()) = p.open_context(NS, "guest_stream", Count { n: N }).await?;
        let stream = ctx.open_stream().await?;
        let mut next = 0u64;
        while let Some(v) = stream.next::<u64>().await {
            let v = v?;
            check!(v == next, "got {v}, expected {next}");
            next += 1;
        }
        let lead: u64 = ctx.wait_for_result().await?;
        fact("received", next);
        fact("max_lead", lead);
        n.cancel().await;
        Ok(())
    })
    .await
}

/// Scenario `dbg-guest-pause`: a guest task pauses in a REPL.
pub(crate) async fn dbg_guest_pause(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let p = n.start_actor("guest-pauser", guest_daemon()).await?;
        let got: String = p.run(NS, "guest_pause", ()).await?;
        fact("result", got);
        n.cancel().await;
        Ok(())
    })
    .await
}

/// Scenario `dump-guest-tasks`: a child's guest task hangs, to be dumped.
pub(crate) async fn dump_guest_tasks(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let p = n.start_actor("guester", guest_daemon()).await?;
        p.run::<()>(NS, "guest_hang", ()).await
    })
    .await
}

/// Scenario `guest-root-sigint`: a root with a guest, and a child with
/// one, each holding a guest task when SIGINT comes; the root's guest
/// (tokio's) also holds a task it spawned itself. Every one is dropped
/// before the root returns.
pub(crate) async fn guest_root_sigint(rt: Arc<dyn Runtime>, config: Config) -> Result<()> {
    let (root_path, child_path, detached_path) = (
        marker("guest-root-held"),
        marker("guest-child-held"),
        marker("guest-detached-held"),
    );
    let paths = (root_path.clone(), child_path.clone(), detached_path.clone());
    let out = tractor_driver::open_root_actor(rt, config.guest(), |root| async move {
        let r = root.clone();
        r.open_nursery(|n| async move {
            let p = n.start_actor("holder", guest_daemon()).await?;
            let (_ctx, ()) = p
                .open_context(
                    NS,
                    "guest_hold",
                    Value {
                        value: Some(paths.1),
                    },
                )
                .await?;
            let (root_path, detached_path) = (paths.0, paths.2);
            // Started once it holds its marker (and its own task holds
            // its one).
            let (_, _held): ((), tractor_driver::guest::LinkedChannel<(), (), ()>) =
                tractor_driver::to_guest::open_channel_from(move |start| async move {
                    let _held = Held::new(root_path);
                    if tokio::runtime::Handle::try_current().is_ok() {
                        // Left to the guest's shutdown.
                        let (tx, rx) = smol::channel::bounded(1);
                        tokio::spawn(async move {
                            let _held = Held::new(detached_path);
                            let _ = tx.send(()).await;
                            std::future::pending::<()>().await
                        });
                        let _ = rx.recv().await;
                    }
                    let _chan = start.started(());
                    std::future::pending::<()>().await;
                    Ok::<(), Error>(())
                })
                .await?;
            fact("ready", true);
            nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT)
                .map_err(|e| Error::raise("OSError", e.to_string()))?;
            std::future::pending::<Result<()>>().await
        })
        .await
    })
    .await;
    for (key, path) in [
        ("root_marker", root_path),
        ("child_marker", child_path),
        ("detached_marker", detached_path),
    ] {
        let said = std::fs::read_to_string(&path).unwrap_or_else(|_| "absent".into());
        fact(key, said.split(" on ").next().unwrap_or_default());
        let _ = std::fs::remove_file(path);
    }
    out
}

/// Scenario `dbg-guest-crash`: a guest task's panic fails its child's
/// function: a crash REPL in the child, then in the root.
pub(crate) async fn dbg_guest_crash(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let p = n
            .run_in_actor(
                "guest-crasher",
                NS,
                "guest_fail",
                Value {
                    value: Some("panic".into()),
                },
                ActorOptions::new().guest(),
            )
            .await?;
        p.wait_for_result::<()>().await
    })
    .await
}

/// Scenario `guest-blocked-thread`: a child whose guest task blocks the
/// guest's thread is cancelled: it acknowledges, gives up on the guest
/// task and its guest after their waits, and exits by itself (its
/// parent's log says how it was reaped).
pub(crate) async fn guest_blocked_thread(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let p = n.start_actor("blocker", guest_daemon()).await?;
        let (_ctx, ()) = p.open_context(NS, "guest_block", ()).await?;
        let acked = p.cancel_actor().await;
        fact("cancel_acked", acked.is_ok());
        n.cancel().await;
        Ok(())
    })
    .await
}
