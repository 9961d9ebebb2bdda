//! The debugger: pauses, crash REPLs and the terminal lock; and task-tree dumps (`dbg-`, `dump-`).

use crate::*;

/// Scenario `dbg-root-pause`.
pub(crate) async fn dbg_root_pause(_root: ActorHandle) -> Result<()> {
    let answer = 42;
    tractor_driver::pause!(answer).await?;
    fact("after_pause", true);
    Ok(())
}

/// Scenario `dbg-root-crash-repl`.
pub(crate) async fn dbg_root_crash_repl(_root: ActorHandle) -> Result<()> {
    Err(Error::raise("AssertionError", "assert 0"))
}

/// Scenario `dbg-nested-errors`.
pub(crate) async fn dbg_nested_errors(root: ActorHandle) -> Result<()> {
    // An error two levels down: a REPL per level as it climbs.
    one_shot(&root, "spawn-error", "spawn_error").await
}

/// Scenario `dbg-root-timeout-child-crash`.
pub(crate) async fn dbg_root_timeout_child_crash(root: ActorHandle) -> Result<()> {
    let crash = root.open_nursery(|n| async move {
        let raise = Raise::new("KeyError", "'missing'");
        n.run_in_actor("key-error", NS, "raise", raise, ActorOptions::new())
            .await?
            .wait_for_result::<()>()
            .await
    });
    // The root gives up while the child is in its crash REPL: the
    // nursery it drops reaps the child only after the REPL.
    let give_up = async {
        root.sleep(Duration::from_secs(3)).await;
        fact("gave_up", true);
        Err(Error::raise("TooSlowError", "the root gave up after 3 s"))
    };
    smol::future::or(crash, give_up).await
}

/// Scenario `dbg-shielded-pause`.
pub(crate) async fn dbg_shielded_pause(root: ActorHandle) -> Result<()> {
    nursery_with(&root, "cancelled-before-pause", |n, p| async move {
        let (ctx, ()) = p.open_context(NS, "cancelled_before_pause", ()).await?;
        // The child's cleanup pauses, shielded, as it is cancelled.
        ctx.cancel()?;
        let out = ctx.wait_for_result::<()>().await;
        fact(
            "result",
            out.err().map(|e| describe(&e)).unwrap_or_default(),
        );
        // The child holds the terminal: it is reaped after its REPL.
        n.cancel().await;
        Ok(())
    })
    .await
}

/// Scenarios `dump-sigusr1-hierarchical` and `dump-env-propagation`.
pub(crate) async fn dump_sigusr1_hierarchical(root: ActorHandle) -> Result<()> {
    // A tree hung two levels down, in sync code; the test signals
    // the root, then interrupts it.
    nursery_with(&root, "hanger", |_, p| async move {
        p.run::<()>(NS, "hang_with_grandchild", ()).await
    })
    .await
}

/// Scenario `dbg-stale-lock`.
pub(crate) async fn dbg_stale_lock(root: ActorHandle) -> Result<()> {
    nursery_with(&root, "pauser", |_, p| async move {
        // The pauser is killed in its REPL, holding the terminal.
        let lost = p.run::<String>(NS, "pause_then_return", ()).await;
        fact("call", lost.err().map(|e| describe(&e)).unwrap_or_default());
        // The root took the lock back: it can pause, and ctrl-c
        // works again after.
        tractor_driver::pause().await?;
        fact("waiting_for_ctrl_c", true);
        loop {
            me().sleep(Duration::from_secs(3600)).await;
        }
    })
    .await
}

/// Scenario `dbg-sync-pause-threads`.
pub(crate) async fn dbg_sync_pause_threads(root: ActorHandle) -> Result<()> {
    // In code a task polls, blocking is refused...
    let refused = tractor_driver::pause_blocking()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    fact("in_task_refused", refused.contains("async code"));
    // ...and works from a thread of the root, and of a child.
    fact("root_thread", pause_in_thread().await?);
    let child: String = one_shot_result(&root, "sync-pauser", "sync_pause").await?;
    fact("child_thread", child);
    Ok(())
}

/// Scenario `dbg-debug-filter`.
pub(crate) async fn dbg_debug_filter(root: ActorHandle) -> Result<()> {
    // The program's filter passes KeyErrors by: no REPL for it,
    // in the child or here...
    let raise = Raise::new("KeyError", "no such key");
    let e = root
        .open_nursery(|n| async move {
            let options = ActorOptions::new().env(SKIP_CRASH, "KeyError");
            n.run_in_actor("key-error", NS, "raise", raise, options)
                .await?;
            Ok(())
        })
        .await
        .expect_err("raise fails");
    fact("filtered", describe(&e));
    // ...while a NameError stops in each.
    root.open_nursery(|n| async move {
        let options = ActorOptions::new().env(SKIP_CRASH, "KeyError");
        n.run_in_actor("name-error", NS, "name_error", (), options)
            .await?;
        Ok(())
    })
    .await
}

/// Scenario `dbg-post-mortem-api`.
pub(crate) async fn dbg_post_mortem_api(root: ActorHandle) -> Result<()> {
    // The root catches the child's error and looks at it by hand;
    // having handled it, the tree ends well.
    let e = one_shot(&root, "name-error", "name_error")
        .await
        .expect_err("name_error fails");
    tractor_driver::post_mortem(&e).await?;
    fact("handled", describe(&e));
    Ok(())
}

/// Scenario `dbg-multi-daemon-no-clobber`.
pub(crate) async fn dbg_multi_daemon_no_clobber(root: ActorHandle) -> Result<()> {
    nursery_with(&root, "bp-forever", |n, bp| async move {
        let ne = n.start_actor("name-error", daemon()).await?;
        // One pauses while the other crashes: both want the
        // terminal at once.
        let (paused, crashed) = smol::future::zip(
            bp.run::<String>(NS, "pause_then_return", ()),
            ne.run::<()>(NS, "name_error", ()),
        )
        .await;
        fact("paused", paused?);
        let e = crashed.expect_err("name_error fails");
        fact("crashed", describe(&e));
        n.cancel().await;
        Ok(())
    })
    .await
}

/// Scenarios `dbg-child-pause`, `dbg-grandchild-pause` and `dbg-child-crash-then-root`.
pub(crate) async fn dbg_child_one_shot(root: ActorHandle, id: &str) -> Result<()> {
    let func = match id {
        "dbg-child-pause" => "pause_then_return",
        "dbg-grandchild-pause" => "spawn_pauser",
        _ => "name_error",
    };
    let got: String = one_shot_result(&root, &func.replace('_', "-"), func).await?;
    fact("result", got);
    Ok(())
}

/// Scenario `dbg-crash-handler`: plain code returns an error, which stops in a
/// REPL, then goes on.
pub(crate) fn crash_handler_error() -> i32 {
    let out = tractor_driver::debug::crash_handler(|| {
        "12x".parse::<u32>().map_err(|e| format!("bad count: {e}"))
    });
    fact("after_repl", format!("{out:?}"));
    i32::from(out.is_err())
}

/// Scenario `dbg-crash-handler-panic`: plain code panics, stops in a REPL, and
/// the panic resumes after it (the process never gets past it).
pub(crate) fn crash_handler_panic() -> i32 {
    tractor_driver::debug::crash_handler(|| {
        if std::hint::black_box(true) {
            panic!("the entry point panicked on purpose");
        }
        Ok::<(), String>(())
    })
    .ok();
    fact("after_repl", "unreachable");
    1
}
