//! Faults: children killed, hung, or failing while spawned; parents dying (`fault-`).

use crate::*;

/// A daemon spawned from a plain thread that exits right after: the OS
/// thread that forked the child ends while the parent process lives on, as
/// Python's spawning worker threads do. Linux's parent-death signal would
/// take that for the parent's death and SIGTERM the child; the child must
/// get no SIGTERM, serve on once the thread is gone, and end only when
/// the root cancels it.
pub(crate) async fn spawned_from_exiting_thread(root: ActorHandle) -> Result<()> {
    // The thread drives the spawn itself; tokio's processes need its
    // runtime entered.
    let tokio = tokio::runtime::Handle::try_current().ok();
    let actor = root.clone();
    root.open_nursery(|n| async move {
        let (tx, rx) = smol::channel::bounded(1);
        let spawner = n.clone();
        let thread = std::thread::spawn(move || {
            let _in_tokio = tokio.as_ref().map(tokio::runtime::Handle::enter);
            let out = smol::future::block_on(async {
                let p = spawner.start_actor("thread-spawned", daemon()).await?;
                // Before this thread ends: the child notes SIGTERM from now.
                p.run::<()>(NS, "watch_sigterm", ()).await?;
                Ok::<_, Error>(p)
            });
            let _ = tx.send_blocking((nix::unistd::gettid(), out));
        });
        let (tid, p) = rx
            .recv()
            .await
            .map_err(|_| Error::raise("RuntimeError", "the spawning thread vanished"))?;
        let p = p?;
        // Once its /proc entry is gone, the kernel is done with the
        // thread's exit: a signal it sends the thread's children is queued.
        let task = std::path::PathBuf::from(format!("/proc/self/task/{tid}"));
        let deadline = Instant::now() + tractor_conformance::HANG;
        while task.exists() {
            check!(Instant::now() < deadline, "the spawning thread never ended");
            actor.sleep(Duration::from_millis(5)).await;
        }
        thread
            .join()
            .map_err(|_| Error::raise("RuntimeError", "the spawning thread panicked"))?;
        fact("spawner_gone", true);
        for _ in 0..3 {
            let hi: String = p.run(NS, "hi", ()).await?;
            check!(hi == "hi from thread-spawned", "{hi}");
        }
        let ppid: i32 = p.run(NS, "ppid", ()).await?;
        fact(
            "child_of_root",
            i64::from(ppid) == i64::from(std::process::id()),
        );
        let seen: bool = p.run(NS, "sigterm_seen", ()).await?;
        fact("sigterm_seen", seen);
        fact("cancel_acked", p.cancel_actor().await?);
        Ok(())
    })
    .await
}

/// 25 one-shots, each failing before its first await point while the
/// body still spawns the next: every failure reaches the root, each
/// naming the actor it came from.
pub(crate) async fn fault_fail_during_spawn(root: ActorHandle) -> Result<()> {
    const COUNT: usize = 25;
    let e = nursery_error(&root, "the one-shots fail", |n| async move {
        run_in_actors(&n, "failer", COUNT, "raise", |i| {
            Raise::new("AssertionError", format!("failer-{i} fails"))
        })
        .await?;
        Ok(())
    })
    .await;
    fact("error", describe(&e));
    let mut sources = Vec::new();
    for e in e.errors() {
        let name = e.source_actor().map(|u| u.name.clone()).unwrap_or_default();
        // Its own failure, not one relayed or made up on its behalf.
        let own = e
            .remote()
            .is_some_and(|r| r.text() == format!("{name} fails"));
        check!(own, "{name:?} is not the source of {e}");
        sources.push(name);
    }
    sources.sort_by_key(|s| s.trim_start_matches("failer-").parse::<usize>().ok());
    let expected: Vec<String> = (0..COUNT).map(|i| format!("failer-{i}")).collect();
    let missing: Vec<&String> = expected.iter().filter(|n| !sources.contains(n)).collect();
    fact("failures", sources.len());
    fact("missing", format!("{missing:?}"));
    fact("sources_distinct", {
        let mut d = sources.clone();
        d.dedup();
        d.len() == sources.len()
    });
    Ok(())
}

/// Scenario `fault-nested-failing-leaves`.
pub(crate) async fn fault_nested_failing_leaves(root: ActorHandle) -> Result<()> {
    // Ours: root → 2 → 4 → 8 leaves, every leaf failing at once.
    // Each is delivered, grouped per level.
    let e = nursery_error(&root, "the leaves fail", |n| async move {
        for i in 0..2 {
            // 2 × 2 × 2 leaves in all.
            let sub = Level {
                depth: 1,
                breadth: 2,
                leaves: 8,
            };
            n.run_in_actor(format!("n{i}"), NS, "relay_all", sub, ActorOptions::new())
                .await?;
        }
        Ok(())
    })
    .await;
    fact("error", describe(&e));
    let text = e.to_string();
    let mut failed: Vec<String> = text
        .lines()
        .filter_map(|l| l.split("|_message: ").nth(1))
        .filter(|m| m.ends_with(" failed"))
        .map(|m| m.trim_end_matches(" failed").to_owned())
        .collect();
    failed.sort();
    fact("leaves_failed", failed.join(","));
    eprintln!("{e}");
    Ok(())
}

/// Scenario `fault-child-sigkilled`.
pub(crate) async fn fault_child_sigkilled(root: ActorHandle) -> Result<()> {
    // A context open, its result awaited.
    nursery_with(&root, "victim", |_, p| async move {
        let (ctx, ()) = p.open_context(NS, "block_forever", ()).await?;
        let pid: u32 = p.run(NS, "pid", ()).await?;
        sigkill(pid)?;
        let e = ctx
            .wait_for_result::<()>()
            .await
            .expect_err("the child died");
        child_died(&e, "victim", pid)
    })
    .await
}

/// Scenario `fault-child-sigkilled-call`.
pub(crate) async fn fault_child_sigkilled_call(root: ActorHandle) -> Result<()> {
    // A call in flight: the child runs it when it is killed.
    let me = root.clone();
    nursery_with(&root, "victim", |_, p| async move {
        let pid: u32 = p.run(NS, "pid", ()).await?;
        let killer = me.spawn({
            let me = me.clone();
            async move {
                until(&me, || held_marker(pid).exists()).await;
                sigkill(pid)
            }
        });
        let e = p
            .run::<()>(NS, "hold", ())
            .await
            .expect_err("the child died");
        killer.await??;
        child_died(&e, "victim", pid)
    })
    .await
}

/// Scenario `fault-sibling-sigkilled`.
pub(crate) async fn fault_sibling_sigkilled(root: ActorHandle) -> Result<()> {
    // A child calls its sibling, found through the registrar; the
    // root kills the sibling. The caller is not its parent: its
    // call fails at once, naming the sibling by uid and the pid
    // its handshake gave.
    let me = root.clone();
    nursery_with(&root, "caller", |n, caller| async move {
        let victim = n.start_actor("victim", daemon()).await?;
        let pid: u32 = victim.run(NS, "pid", ()).await?;
        fact("victim_pid", pid);
        let killer = me.spawn({
            let me = me.clone();
            async move {
                until(&me, || held_marker(pid).exists()).await;
                sigkill(pid)
            }
        });
        let target = Value {
            value: Some("victim".into()),
        };
        let said: String = caller.run(NS, "call_held", target).await?;
        killer.await??;
        fact("error", &said);
        check!(
            said.starts_with("actor 'victim' (uid victim[")
                && said.contains(&format!(", pid {pid}) is gone: ")),
            "{said}"
        );
        caller.cancel_actor().await?;
        Ok(())
    })
    .await
}

/// Scenario `fault-child-sigkilled-stream`.
pub(crate) async fn fault_child_sigkilled_stream(root: ActorHandle) -> Result<()> {
    // A context's stream open both ways, the root waiting for an
    // item.
    nursery_with(&root, "victim", |_, p| async move {
        let pid: u32 = p.run(NS, "pid", ()).await?;
        let (ctx, stream) = open_echo(&p).await?;
        stream.send(&Item::Int(1)).await?;
        let echoed: Item = stream.receive().await?;
        check!(echoed == Item::Int(1), "echoed {echoed:?}");
        sigkill(pid)?;
        let e = stream.receive::<Item>().await.expect_err("the child died");
        child_died(&e, "victim", pid)?;
        // The context ended with the same error.
        let after = ctx.wait_for_result::<u32>().await.expect_err("it died");
        check!(after.to_string() == e.to_string(), "{after} after {e}");
        Ok(())
    })
    .await
}

/// Scenario `fault-child-sigkilled-blocked-send`.
pub(crate) async fn fault_child_sigkilled_blocked_send(root: ActorHandle) -> Result<()> {
    // Ours: the root sends into a stream the child never reads,
    // until it has no room; the child is killed meanwhile. The
    // waiting send fails with the child's death, no hang.
    nursery_with(&root, "victim", |_, p| async move {
        let pid: u32 = p.run(NS, "pid", ()).await?;
        let (_ctx, ()) = p.open_context(NS, "deaf_stream", ()).await?;
        let stream = _ctx.open_stream().await?;
        let sent = std::sync::atomic::AtomicUsize::new(0);
        let send = async {
            loop {
                stream.send(&1u32).await?;
                sent.fetch_add(1, Ordering::SeqCst);
            }
            #[allow(unreachable_code)]
            Ok::<(), Error>(())
        };
        let kill = async {
            // The window is full: the next send waits for room
            // that never comes.
            let full = tractor_driver::DEFAULT_CREDIT_WINDOW;
            until(&me(), || sent.load(Ordering::SeqCst) >= full).await;
            sigkill(pid)
        };
        let (sent_out, killed) = join2(send, kill).await;
        killed?;
        let e = sent_out.expect_err("the send ends with the child");
        fact("sent", sent.load(Ordering::SeqCst));
        child_died(&e, "victim", pid)
    })
    .await
}

/// Scenario `fault-child-sigkilled-spawn`.
pub(crate) async fn fault_child_sigkilled_spawn(root: ActorHandle) -> Result<()> {
    // Killed while the root waits for it to connect back: it
    // stops before its entry point, so it never does by itself.
    root.open_nursery(|n| async move {
        let name = "victim".to_owned();
        let mut start = n.start_actor(&name, daemon().env(STALL_BEFORE_ENTRY, "1"));
        // The first poll starts the process.
        check!(
            poll_once(&mut start).await.is_pending(),
            "a stalled child started"
        );
        let pid = children_with_pids(std::slice::from_ref(&name))
            .get(&name)
            .copied()
            .ok_or_else(|| Error::raise("AssertionError", "no pid for the child"))?;
        fact("victim_pid", pid);
        sigkill(pid)?;
        let e = start.await.expect_err("it never connected back");
        fact("error", describe(&e));
        let said = e.to_string();
        check!(
            matches!(e.kind(), ErrorKind::Spawn { name, .. } if name == "victim"),
            "{said}"
        );
        check!(
            said.contains(&format!("pid {pid}, killed by SIGKILL")),
            "{said}"
        );
        Ok(())
    })
    .await
}

/// Scenario `fault-grandchild-sync-blocked`.
pub(crate) async fn fault_grandchild_sync_blocked(root: ActorHandle) -> Result<()> {
    let out = nursery_with(&root, "mid", |_, mid| async move {
        let (_ctx, pid): (_, u32) = mid.open_context(NS, "spawn_blocked", ()).await?;
        fact("grandchild_blocked", pid != 0);
        Err::<(), _>(Error::raise("AssertionError", "the root gives up"))
    })
    .await;
    let e = out.expect_err("the root raised");
    fact("error", describe(&e));
    Ok(())
}

/// Scenario `fault-grandchild-sync-blocked-sigint`.
pub(crate) async fn fault_grandchild_sync_blocked_sigint(root: ActorHandle) -> Result<()> {
    // Ours: the same tree, ended by SIGINT from outside.
    nursery_with(&root, "mid", |_, mid| async move {
        let (_ctx, pid): (_, u32) = mid.open_context(NS, "spawn_blocked", ()).await?;
        fact("grandchild_blocked", pid != 0);
        ready_then_wait().await
    })
    .await
}

/// Scenario `fault-hung-child-with-grandchild`.
pub(crate) async fn fault_hung_child_with_grandchild(root: ActorHandle) -> Result<()> {
    // Ours: the test stops the child (SIGSTOP: it hears no cancel,
    // no SIGTERM), then interrupts the root, whose reaper must
    // kill it, and the grandchild with it (one blocked in sync
    // code: by itself it would take its wind-down time to go).
    nursery_with(&root, "mid", |_, mid| async move {
        fact("mid", mid.run::<u32>(NS, "pid", ()).await?);
        let (_ctx, grandchild): (_, u32) = mid.open_context(NS, "spawn_blocked", ()).await?;
        fact("grandchild", grandchild);
        ready_then_wait().await
    })
    .await
}

/// Scenario `fault-parent-dies-with-grandchildren`.
pub(crate) async fn fault_parent_dies_with_grandchildren(root: ActorHandle) -> Result<()> {
    // Ours: the test SIGKILLs this root; below it, one child has a
    // healthy grandchild and the other one blocked in sync code.
    nursery_with(&root, "orphan-a", |n, a| async move {
        let b = n.start_actor("orphan-b", daemon()).await?;
        let (_ga, healthy): (_, u32) = a.open_context(NS, "spawn_grandchild", ()).await?;
        let (_gb, blocked): (_, u32) = b.open_context(NS, "spawn_blocked", ()).await?;
        fact("grandchildren", format!("{healthy},{blocked}"));
        ready_then_wait().await
    })
    .await
}

/// Scenarios `fault-parent-dies` and `cancel-sigint-external`.
pub(crate) async fn fault_parent_dies(root: ActorHandle) -> Result<()> {
    nursery_with(&root, "orphan-a", |n, a| async move {
        let b = n
            .run_in_actor("orphan-b", NS, "sleep_forever", (), ActorOptions::new())
            .await?;
        let _ = (a.run::<u32>(NS, "pid", ()).await?, b.peer());
        ready_then_wait().await
    })
    .await
}

/// Scenario `fault-child-sigkilled-full-stream` (ours): the child streams
/// without pause and is killed once the root has read 10,000 items.
/// The root reads on, every item in order, until the stream fails with
/// the child's death: no hang, nothing out of order.
pub(crate) async fn fault_child_sigkilled_full_stream(root: ActorHandle) -> Result<()> {
    const KILL_AT: u64 = 10_000;
    nursery_with(&root, "victim", |_, p| async move {
        let pid: u32 = p.run(NS, "pid", ()).await?;
        let (ctx, ()) = p.open_context(NS, "stream_until_done", ()).await?;
        let stream = ctx.open_stream().await?;
        let mut read = 0u64;
        let end = loop {
            match stream.next::<u64>().await {
                Some(Ok(i)) => {
                    check!(i == read, "item {i} where {read} was due");
                    read += 1;
                    if read == KILL_AT {
                        sigkill(pid)?;
                    }
                }
                Some(Err(e)) => break e,
                None => {
                    return Err(Error::raise(
                        "AssertionError",
                        format!("the stream ended without an error after {read} items"),
                    ));
                }
            }
        };
        fact("read_up_to_the_kill", read >= KILL_AT);
        child_died(&end, "victim", pid)
    })
    .await
}
