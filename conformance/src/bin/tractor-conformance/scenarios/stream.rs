//! Streams over contexts (`stream-`).

use crate::*;

pub(crate) async fn stream_reqresp(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "server", |p| async move {
        let (ctx, ()) = p.open_context(NS, "reqresp", ()).await?;
        let stream = ctx.open_stream().await?;
        let mut yos = 0;
        // The child's feed runs by itself...
        while stream.receive::<String>().await? != "yo" {}
        yos += 1;
        // ...and answers requests on the same stream meanwhile.
        let mut pongs = 0;
        for _ in 0..3 {
            stream.send("ping").await?;
            loop {
                match stream.receive::<String>().await?.as_str() {
                    "pong" => break,
                    "yo" => yos += 1,
                    other => return Err(Error::raise("ValueError", other.to_owned())),
                }
            }
            pongs += 1;
        }
        drop(stream);
        let answered: u32 = ctx.wait_for_result().await?;
        fact("pongs", pongs);
        fact("answered", answered);
        fact("saw_yo", yos > 0);
        Ok(())
    })
    .await
}

pub(crate) async fn stream_consumer_respawn(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "streamer", |p| async move {
        let s = p.open_stream_from(NS, "range", Count { n: 11 }).await?;
        let got = RefCell::new(Vec::new());
        let mut restarts = 0;
        loop {
            // A consumer cancelled after each even value, then started
            // again on the same stream.
            let cancel_me = Cell::new(false);
            let consumer = async {
                while let Some(v) = s.next::<u32>().await {
                    let v = v?;
                    got.borrow_mut().push(v);
                    if v % 2 == 0 {
                        cancel_me.set(true);
                        yield_now().await;
                    }
                }
                Ok::<(), Error>(())
            };
            match race(consumer, when(|| cancel_me.get())).await {
                Either::Left(r) => {
                    r?;
                    break;
                }
                Either::Right(()) => restarts += 1,
            }
        }
        fact("received", format!("{:?}", got.into_inner()));
        fact("restarts", restarts);
        Ok(())
    })
    .await
}

pub(crate) async fn stream_infinite_timeout(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    nursery_with(&r, "streamer", |n, p| async move {
        let s = p.open_stream_from(NS, "count_forever", ()).await?;
        let consume = async {
            while let Some(v) = s.next::<u64>().await {
                v?;
            }
            Ok::<(), Error>(())
        };
        match race(consume, root.sleep(Duration::from_millis(100))).await {
            Either::Left(r) => {
                return Err(Error::raise(
                    "AssertionError",
                    format!("an endless stream ended: {r:?}"),
                ));
            }
            Either::Right(()) => fact("timed_out", true),
        }
        drop(s);
        n.cancel().await;
        fact("cancelled", true);
        Ok(())
    })
    .await
}

pub(crate) async fn stream_ctx_plus_legacy_kbi(root: ActorHandle) -> Result<()> {
    nursery_with(&root, "both", |_, p| async move {
        let (_ctx, echo) = open_echo(&p).await?;
        let legacy = p.open_stream_from(NS, "count_forever", ()).await?;
        echo.send(&7i64).await?;
        let back: i64 = echo.receive().await?;
        let first: u64 = legacy.receive().await?;
        fact("echoed", back);
        fact("legacy_first", first);
        Err(interrupted())
    })
    .await
}

/// Scenario `stream-pingpong`.
pub(crate) async fn stream_pingpong(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "ponger", |p| async move {
        let (ctx, first): (_, i64) = p.open_context(NS, "pingpong", Data { data: 10 }).await?;
        check!(first == 11, "{first}");
        let stream = ctx.open_stream().await?;
        ping_pong(&stream, 10).await?;
        drop(stream);
        let count: u32 = ctx.wait_for_result().await?;
        fact("count", count);
        check!(count == 10, "{count}");
        Ok(())
    })
    .await
}

/// Scenarios `stream-legacy-asyncgen` and `stream-two-streams-one-portal`.
pub(crate) async fn stream_legacy_asyncgen(root: ActorHandle, id: &str) -> Result<()> {
    let two = id == "stream-two-streams-one-portal";
    with_daemon(&root, "streamerd", |p| async move {
        let a = p.open_stream_from(NS, "range", Count { n: 10 }).await?;
        let b = if two {
            Some(p.open_stream_from(NS, "range", Count { n: 10 }).await?)
        } else {
            None
        };
        let mut got = Vec::new();
        while let Some(v) = a.next::<u32>().await {
            got.push(v?);
        }
        if let Some(b) = b {
            let mut other = Vec::new();
            while let Some(v) = b.next::<u32>().await {
                other.push(v?);
            }
            check!(other == got, "{other:?} vs {got:?}");
        }
        fact("items", format!("{got:?}"));
        check!(got == (0..10).collect::<Vec<_>>(), "{got:?}");
        Ok(())
    })
    .await
}

/// Scenario `stream-3-level-aggregate`.
pub(crate) async fn stream_3_level_aggregate(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "aggregator", |p| async move {
        let s = p
            .open_stream_from(NS, "aggregate", Count { n: 1000 })
            .await?;
        let mut got = Vec::new();
        while let Some(v) = s.next::<u32>().await {
            got.push(v?);
        }
        fact("count", got.len());
        check!(
            got == (0..1000).collect::<Vec<_>>(),
            "out of order or missing"
        );
        Ok(())
    })
    .await
}

/// Scenario `stream-sender-shares-its-thread` (ours): a task that sends a
/// stream's items with credit to spare never waits for room, and still
/// lets its actor's other tasks run (the connection's writer among them)
/// at least once every 64 items: a sibling task counts its turns while
/// the root sends 500 items into a stream the child never reads. Checked
/// where the actor runs on one thread.
pub(crate) async fn stream_sender_shares_its_thread(root: ActorHandle) -> Result<()> {
    const ITEMS: u32 = 500;
    with_daemon(&root, "deaf", |p| async move {
        let (ctx, ()) = p.open_context(NS, "deaf_stream", ()).await?;
        let stream = ctx.open_stream().await?;
        check!(
            ITEMS as usize <= tractor_driver::DEFAULT_CREDIT_WINDOW,
            "the sends must not wait for credit"
        );
        let turns = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sibling = {
            let (turns, stop) = (turns.clone(), stop.clone());
            me().spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    turns.fetch_add(1, Ordering::SeqCst);
                    yield_now().await;
                }
            })
        };
        until(&me(), || turns.load(Ordering::SeqCst) > 0).await;
        let before = turns.load(Ordering::SeqCst);
        for i in 0..ITEMS {
            stream.send(&i).await?;
        }
        let during = turns.load(Ordering::SeqCst) - before;
        stop.store(true, Ordering::SeqCst);
        sibling.await?;
        fact("turns_during_sends", during);
        // On one thread the sibling runs only when the sender lets it. On
        // tokio's multi-threaded runtime it may run on another worker, or
        // wait there for a CPU: no turn is promised.
        let one_thread = Adapter::from_env().workers().is_none();
        fact("one_thread", one_thread);
        if one_thread {
            check!(
                during >= u64::from(ITEMS / 64),
                "the sibling ran {during} times during {ITEMS} sends"
            );
        }
        Ok(())
    })
    .await
}
