//! Cancellation: of nurseries, contexts, actors and trees, by calls and by signals (`cancel-`, `signal-`).

use crate::*;

pub(crate) async fn cancel_kbi_in_nursery(root: ActorHandle) -> Result<()> {
    nursery_with(&root, "idle", |_, p| async move {
        let () = p.run(NS, "do_nothing", ()).await?;
        fact("ready", true);
        Err(interrupted())
    })
    .await
}

pub(crate) async fn cancel_cluster_kbi(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        run_in_actors(&n, "worker", 2, "sleep_forever", |_| ()).await?;
        root.wait_for_actor("worker-1").await?;
        fact("ready", true);
        Err(interrupted())
    })
    .await
}

pub(crate) async fn cancel_sigint_from_child_task(root: ActorHandle) -> Result<()> {
    let spawner = root.clone();
    root.spawn(async move {
        let _ = spawner
            .open_nursery(|n| async move {
                run_in_actors(&n, "sleeper", 3, "sleep_forever", |_| ()).await?;
                std::future::pending::<()>().await;
                Ok(())
            })
            .await;
    });
    root.wait_for_actor("sleeper-2").await?;
    fact("ready", true);
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT)
        .map_err(|e| Error::raise("OSError", e.to_string()))?;
    std::future::pending::<()>().await;
    Ok(())
}

pub(crate) async fn cancel_daemon_fails(root: ActorHandle) -> Result<()> {
    for quick in [false, true] {
        let e = nursery_error(&root, "the daemon's call failed", |n| async move {
            let mut daemons = Vec::new();
            for i in 0..3 {
                daemons.push(n.start_actor(format!("daemon-{i}"), daemon()).await?);
            }
            let func = if quick { "do_nothing" } else { "sleep_forever" };
            let one_shots = run_in_actors(&n, "one-shot", 3, func, |_| ()).await?;
            if quick {
                for o in &one_shots {
                    o.wait_for_result::<()>().await?;
                }
            }
            let raise = Raise::new("AssertionError", "a daemon's call fails");
            daemons[0].run::<()>(NS, "raise", raise).await?;
            Ok(())
        })
        .await;
        fact(&format!("quick_{quick}"), describe(&e));
    }
    Ok(())
}

pub(crate) async fn cancel_delayed_ria(root: ActorHandle) -> Result<()> {
    let e = nursery_error(&root, "the one-shots fail", |n| async move {
        for i in 0..3 {
            let p = n.start_actor(format!("daemon-{i}"), daemon()).await?;
            let () = p.run(NS, "do_nothing", ()).await?;
        }
        run_in_actors(&n, "late", 3, "raise_after", |_| Delay { ms: 100 }).await?;
        Ok(())
    })
    .await;
    let errors = e.errors();
    fact("count", errors.len());
    let all: Vec<String> = errors.iter().map(describe).collect();
    fact("members", all.join(";"));
    Ok(())
}

pub(crate) async fn cancel_graceful_before_hard_reap(root: ActorHandle) -> Result<()> {
    let body_done = Cell::new(false);
    let flag = &body_done;
    let spawner = root.clone();
    let nursery = root.open_nursery(move |n| async move {
        let p = n.start_actor("daemon", daemon()).await?;
        let (ctx, ()) = p.open_context(NS, "guard_ctx", ()).await?;
        // Keep the daemon's function running past the body.
        spawner.spawn(async move {
            let _ = ctx.wait_for_result::<()>().await;
        });
        flag.set(true);
        Ok(())
    });
    // A sibling task raises a KeyboardInterrupt once the nursery waits for
    // its daemon.
    match race(nursery, when(|| body_done.get())).await {
        Either::Left(r) => {
            r?;
            Err(Error::raise(
                "AssertionError",
                "the nursery ended with its daemon running",
            ))
        }
        Either::Right(()) => Err(interrupted()),
    }
}

pub(crate) async fn cancel_midstream(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "aggregator", |p| async move {
        let mut cut = Vec::new();
        for k in [0usize, 1, 10, 500] {
            let s = p
                .open_stream_from(NS, "aggregate", Count { n: 1000 })
                .await?;
            let mut got = Vec::new();
            while got.len() < k {
                match s.next::<u32>().await {
                    Some(v) => got.push(v?),
                    None => break,
                }
            }
            check!(
                got == (0..k as u32).collect::<Vec<_>>(),
                "got {} items out of order",
                got.len()
            );
            // Cancelled mid-stream; the aggregator lives on.
            drop(s);
            let hi: String = p.run(NS, "hi", ()).await?;
            check!(hi == "hi from aggregator", "{hi}");
            cut.push(got.len());
        }
        fact("cut_after", format!("{cut:?}"));
        Ok(())
    })
    .await
}

pub(crate) async fn cancel_oob_bg_opener(root: ActorHandle) -> Result<()> {
    fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }
    let r = root.clone();
    r.open_nursery(|n| async move {
        for actor_only in [false, true] {
            let name = format!("oob-{actor_only}");
            let p = n.start_actor(&name, daemon()).await?;
            let slot = Arc::new(std::sync::Mutex::new(None::<Context>));
            let outcome = Arc::new(std::sync::Mutex::new(None::<String>));
            // The context is entered in a background task, which blocks.
            let (bg_slot, bg_outcome, me) = (slot.clone(), outcome.clone(), root.clone());
            root.spawn(async move {
                let got = match p.open_context::<()>(NS, "block_forever", ()).await {
                    Ok((ctx, ())) => {
                        *lock(&bg_slot) = Some(ctx.clone());
                        match ctx.wait_for_result::<()>().await {
                            Ok(()) => "returned".into(),
                            Err(e) if requested_by(&e, &me) => "cancelled_by_root".into(),
                            Err(e) => format!("{}:{}", describe(&e), canceller(&e)),
                        }
                    }
                    Err(e) => describe(&e),
                };
                *lock(&bg_outcome) = Some(got);
            });
            until(&root, || lock(&slot).is_some()).await;
            // The parent task cancels, out of band.
            if !actor_only {
                let ctx = lock(&slot).clone();
                ctx.map(|c| c.cancel()).transpose()?;
            }
            let remote = root
                .find_actor(&name)
                .await?
                .ok_or_else(|| not_found(&name))?;
            fact(
                &format!("acked_actor_only_{actor_only}"),
                remote.cancel_actor().await?,
            );
            until(&root, || lock(&outcome).is_some()).await;
            let got = lock(&outcome).take().unwrap_or_default();
            fact(&format!("outcome_actor_only_{actor_only}"), got);
            lock(&slot).take();
        }
        Ok(())
    })
    .await
}

pub(crate) async fn cancel_peer_canceller(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    nursery_with(&r, "sleeper", |n, sleeper| async move {
        let caller = n.start_actor("just_caller", daemon()).await?;
        let canceller_p = n.start_actor("canceller", daemon()).await?;
        let (sleeper_ctx, ()) = sleeper.open_context(NS, "block_tracked", ()).await?;
        let peer = Other {
            other: "sleeper".into(),
        };
        let (caller_ctx, ()) = caller.open_context(NS, "feed_peer", peer).await?;
        // A third actor cancels the sleeper.
        let peer = Other {
            other: "sleeper".into(),
        };
        let acked: bool = canceller_p.run(NS, "cancel_peer", peer).await?;
        fact("acked", acked);
        let e = sleeper_ctx
            .wait_for_result::<()>()
            .await
            .expect_err("cancelled");
        fact("sleeper_outcome", describe(&e));
        fact("sleeper_canceller", canceller(&e));
        fact("requested_by_root", requested_by(&e, &root));
        // The sibling streaming into the sleeper saw the same canceller.
        let seen: String = caller_ctx.wait_for_result().await?;
        fact("caller_saw", seen);
        n.cancel().await;
        Ok(())
    })
    .await
}

pub(crate) async fn cancel_peer_spawned_service(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        n.start_actor("spawn_server", daemon()).await?;
        let client = n.start_actor("client", daemon()).await?;
        let request = Spawn {
            server: "spawn_server".into(),
            name: "little_bro".into(),
        };
        let (client_ctx, spawned): (_, String) = client.open_context(NS, "client", request).await?;
        fact("spawned", &spawned);
        // The root finds the grandchild by name and talks to it too.
        let bro = root
            .find_actor(&spawned)
            .await?
            .ok_or_else(|| not_found(&spawned))?;
        fact("root_echoed", echo_ints(&bro, 10).await?);
        drop(bro);
        client_ctx.cancel()?;
        let e = client_ctx
            .wait_for_result::<()>()
            .await
            .expect_err("cancelled");
        fact("client_cancelled_by_root", requested_by(&e, &root));
        // The client's request went with it, and the server's spawn with
        // that: the grandchild is reaped and unregistered.
        while root.query_actor(&spawned).await?.is_some() {
            root.sleep(Duration::from_millis(5)).await;
        }
        fact("spawned_gone", true);
        n.cancel().await;
        Ok(())
    })
    .await
}

/// A tree of children and grandchildren, each holding a guard; the test
/// sends the root SIGTERM once it is up.
pub(crate) async fn cancel_sigterm_root(root: ActorHandle) -> Result<()> {
    nursery_with(&root, "mid", |n, mid| async move {
        let (_mid_ctx, ()) = mid.open_context(NS, "hold_grandchildren", ()).await?;
        let sibling = n.start_actor("sibling", daemon()).await?;
        let (_sibling_ctx, ()) = sibling.open_context(NS, "guard_ctx", ()).await?;
        ready_then_wait().await
    })
    .await
}

/// Stops process `pid` (SIGSTOP) and waits until it is stopped: a child
/// that answers nothing and exits by no watchdog of its own, as a wedged
/// one, until it gets SIGCONT (or SIGKILL).
pub(crate) async fn freeze(actor: &ActorHandle, pid: u32) -> Result<()> {
    let target = nix::unistd::Pid::from_raw(pid as i32);
    nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGSTOP)
        .map_err(|e| Error::raise("OSError", e.to_string()))?;
    until(actor, || {
        // The state follows the command name's closing parenthesis.
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
        })
    })
    .await;
    Ok(())
}

/// A daemon that cannot cancel (stopped): the test sends the root SIGTERM,
/// then a second signal once the first is heard, which must kill it.
pub(crate) async fn cancel_second_signal(root: ActorHandle) -> Result<()> {
    let me = root.clone();
    nursery_with(&root, "stuck", |_, stuck| async move {
        let pid: u32 = stuck.run(NS, "pid", ()).await?;
        freeze(&me, pid).await?;
        fact("stuck_pid", pid);
        ready_then_wait().await
    })
    .await
}

/// The root's body ends on its own while a daemon cannot cancel yet
/// (stopped; its nursery's future dropped, so the root's teardown reaps
/// it): the test signals the root during that wind-down, then lets the
/// daemon go on, and it is cancelled gracefully.
pub(crate) async fn cancel_signal_during_wind_down(root: ActorHandle) -> Result<()> {
    let frozen = Arc::new(AtomicBool::new(false));
    let set = frozen.clone();
    let me = root.clone();
    let nursery = nursery_with(&root, "slow", |_, slow| async move {
        let pid: u32 = slow.run(NS, "pid", ()).await?;
        freeze(&me, pid).await?;
        fact("slow_pid", pid);
        set.store(true, Ordering::SeqCst);
        std::future::pending::<()>().await;
        Ok(())
    });
    if let Either::Left(out) = race(nursery, when(|| frozen.load(Ordering::SeqCst))).await {
        out?;
        return Err(Error::raise("AssertionError", "the nursery ended"));
    }
    // Printed as the body returns: any signal after it comes during the
    // wind-down.
    fact("body_ended", true);
    Ok(())
}

/// Two roots in turn, then nothing: SIGINT and SIGTERM have their default
/// action again once a root has ended, and a root in between still hears
/// them. The test signals the second root, then the process.
pub(crate) async fn signal_default_outside_roots(
    rt: Arc<dyn Runtime>,
    config: Config,
) -> Result<()> {
    tractor_driver::open_root_actor(rt.clone(), config.clone(), |root| async move {
        with_daemon(&root, "first", |p| async move {
            let _: u32 = p.run(NS, "pid", ()).await?;
            Ok(())
        })
        .await
    })
    .await?;
    let second = tractor_driver::open_root_actor(rt, config, |root| async move {
        nursery_with(&root, "second", |_, _second| async move {
            fact("ready", "second");
            std::future::pending::<()>().await;
            Ok(())
        })
        .await
    })
    .await;
    let Err(e) = second else {
        return Err(Error::raise("AssertionError", "the second root ended"));
    };
    fact("second_root", describe(&e));
    fact("ready", "after");
    std::future::pending::<()>().await;
    Ok(())
}

/// How many signals the root said it acted on ([`SignalsHeard`]).
pub(crate) static SIGNALS_HEARD: AtomicU32 = AtomicU32::new(0);

/// A layer beside the console that prints `signal_heard=<n>` each time the
/// root says it cancels the tree or kills the children for a signal: the
/// tests' cue that a signal was acted on before they send the next.
pub(crate) struct SignalsHeard;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SignalsHeard {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "tractor::cancel" {
            return;
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        let signal = m.0.starts_with("SIGINT") || m.0.starts_with("SIGTERM");
        let acted = m.0.contains("cancelling the tree") || m.0.contains("killing the children");
        if signal && acted {
            let n = SIGNALS_HEARD.fetch_add(1, Ordering::SeqCst) + 1;
            fact("signal_heard", n);
        }
    }
}

/// Scenario `cancel-nursery-dropped`.
pub(crate) async fn cancel_nursery_dropped(root: ActorHandle) -> Result<()> {
    // The nursery's future is dropped while its children run: they
    // are still cancelled and reaped, before the root goes on.
    let pids = Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
    let seen = pids.clone();
    let nursery = root.open_nursery(|n| async move {
        for i in 0..2 {
            let p = n.start_actor(format!("dropped-{i}"), daemon()).await?;
            let pid: u32 = p.run(NS, "pid", ()).await?;
            seen.lock().expect("pids").push(pid);
        }
        std::future::pending::<()>().await;
        Ok(())
    });
    let both = until(&root, || pids.lock().expect("pids").len() == 2);
    if let Either::Left(out) = race(nursery, both).await {
        out?;
        return Err(Error::raise("AssertionError", "the nursery ended"));
    }
    fact("dropped", true);
    let pids = pids.lock().expect("pids").clone();
    until(&root, || {
        pids.iter()
            .all(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    })
    .await;
    fact("reaped", pids.len());
    Ok(())
}

/// Scenario `cancel-nursery-cancel-daemon`.
pub(crate) async fn cancel_nursery_cancel_daemon(root: ActorHandle) -> Result<()> {
    // A daemon and a one-shot that never returns: cancelling the
    // nursery ends both, and the nursery itself ends without error.
    nursery_with(&root, "idle", |n, p| async move {
        let () = p.run(NS, "do_nothing", ()).await?;
        let sleeper = n
            .run_in_actor("sleeper", NS, "sleep_forever", (), ActorOptions::new())
            .await?;
        // The one-shot's function is running once a call to it is
        // answered.
        let () = sleeper.run(NS, "do_nothing", ()).await?;
        n.cancel().await;
        fact("cancelled", true);
        Ok(())
    })
    .await
}

/// Scenario `cancel-some-cancels-all-ria`.
pub(crate) async fn cancel_some_cancels_all_ria(root: ActorHandle) -> Result<()> {
    for count in [1usize, 3] {
        let e = nursery_error(&root, "the one-shots fail", |n| async move {
            asserters(&n, count, true).await
        })
        .await;
        fact(&format!("n{count}"), describe(&e));
    }
    Ok(())
}

/// Scenario `cancel-sigint-root`.
pub(crate) async fn cancel_sigint_root(root: ActorHandle) -> Result<()> {
    nursery_with(&root, "daemon", |_, _p| async move {
        fact("ready", true);
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT)
            .map_err(|e| Error::raise("OSError", e.to_string()))?;
        std::future::pending::<()>().await;
        Ok(())
    })
    .await
}

/// Graceful cancellation (`graceful_cancel`): a cancelled context awaits
/// its cleanup (a pause, a call to the registrar) and returns; the opener
/// gets the cancellation it asked for only once the cleanup has run.
pub(crate) async fn cancel_finally_checkpoint_after_ctxc(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    with_daemon(&r, "cleaner", |p| async move {
        let (ctx, ()) = p.open_context(NS, "grace_cleanup", ()).await?;
        root.sleep(Duration::from_millis(100)).await;
        ctx.cancel()?;
        let e = ctx.wait_for_result::<()>().await.expect_err("cancelled");
        fact("outcome", describe(&e));
        fact("requested_by_root", requested_by(&e, &root));
        // No waiting: the outcome came after the function's end.
        let (cleanups, _): (u32, u32) = p.run(NS, "wait_cleanups", Count { n: 0 }).await?;
        fact("cleanups", cleanups);
        // A function that drops its guard once told is dropped at its next
        // await point: its cleanup does not run.
        let (ctx, ()) = p.open_context(NS, "grace_drop_guard", ()).await?;
        ctx.cancel()?;
        let e = ctx.wait_for_result::<()>().await.expect_err("cancelled");
        fact("dropped_guard_outcome", describe(&e));
        let (cleanups, _): (u32, u32) = p.run(NS, "wait_cleanups", Count { n: 0 }).await?;
        fact("cleanups_after_dropped_guard", cleanups);
        let refused: bool = p.run(NS, "grace_outside", ()).await?;
        fact("outside_refused", refused);
        fact(
            "root_refused",
            matches!(
                tractor_driver::graceful_cancel().map(drop),
                Err(e) if matches!(e.kind(), ErrorKind::Usage(_))
            ),
        );
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("after", hi);
        Ok(())
    })
    .await
}

/// A cancelled context whose cleanup fails: its caller gets that failure,
/// not a cancellation.
pub(crate) async fn cancel_mask_unmask_in_acm(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "failer", |p| async move {
        let (ctx, ()) = p.open_context(NS, "grace_raise", ()).await?;
        ctx.cancel()?;
        let e = ctx.wait_for_result::<()>().await.expect_err("failed");
        fact("outcome", describe(&e));
        fact(
            "message_kept",
            e.to_string()
                .contains("the cleanup failed after the cancellation"),
        );
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("after", hi);
        Ok(())
    })
    .await
}

/// A context streaming when cancelled sends one last item, closes its
/// stream and fails: the item arrives, and the failure is the outcome.
pub(crate) async fn cancel_mask_sendchan_aclose(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "streamer", |p| async move {
        let (ctx, ()) = p.open_context(NS, "grace_stream_raise", ()).await?;
        let stream = ctx.open_stream().await?;
        let mut got = Vec::new();
        while got.len() < 3 {
            match stream.next::<i64>().await {
                Some(v) => got.push(v?),
                None => break,
            }
        }
        check!(got == [0, 1, 2], "got {got:?}");
        ctx.cancel()?;
        let mut last = None;
        let mut end = "none".to_owned();
        while let Some(item) = stream.next::<i64>().await {
            match item {
                Ok(v) => last = Some(v),
                Err(e) => {
                    end = describe(&e);
                    break;
                }
            }
        }
        fact("last_item", format!("{last:?}"));
        fact("stream_end", end);
        drop(stream);
        let e = ctx.wait_for_result::<()>().await.expect_err("failed");
        fact("outcome", describe(&e));
        fact(
            "message_kept",
            e.to_string()
                .contains("the stream's cleanup failed after the cancellation"),
        );
        let (_, sent): (u32, u32) = p.run(NS, "wait_cleanups", Count { n: 0 }).await?;
        fact("last_items_sent", sent);
        Ok(())
    })
    .await
}

/// Functions blocked on a lock when cancelled: one that watches its
/// cancellation stops waiting and ends cancelled; one that does not
/// overruns its grace period and is dropped, ending cancelled too; and
/// one still blocked when its actor is cancelled does not keep the actor
/// (nor the tree) from ending.
pub(crate) async fn cancel_mask_lock_acquire_special(root: ActorHandle) -> Result<()> {
    let spawner = root.clone();
    with_daemon(&root, "locker", |p| async move {
        let () = p.run(NS, "grace_lock_hold", ()).await?;
        let (ctx, ()) = p.open_context(NS, "grace_lock_watch", ()).await?;
        ctx.cancel()?;
        let e = ctx.wait_for_result::<()>().await.expect_err("cancelled");
        fact("watching", describe(&e));
        let (ctx, ()) = p.open_context(NS, "grace_lock_overrun", ()).await?;
        ctx.cancel()?;
        let e = ctx.wait_for_result::<()>().await.expect_err("cancelled");
        fact("overrun", describe(&e));
        let drops: u32 = p.run(NS, "wait_drops", Count { n: 1 }).await?;
        fact("overrun_dropped", drops);
        // Left blocked: the daemon's own cancellation ends it.
        let (ctx, ()) = p.open_context(NS, "grace_lock_overrun", ()).await?;
        spawner.spawn(async move {
            let _ = ctx.wait_for_result::<()>().await;
        });
        Ok(())
    })
    .await
}
