//! Actor clusters (`cluster-`): workers started together, called
//! together, gone together.

use crate::*;

/// Three workers: a call to all, a typed call to each with its number,
/// then a call that fails in one worker only and one that fails in all.
pub(crate) async fn cluster_gather(root: ActorHandle) -> Result<()> {
    let options = ClusterOptions::new(daemon().serve(MathService)).count(3);
    let pids: Vec<String> = root
        .open_cluster(options.clone(), |cluster| async move {
            let names: Vec<String> = cluster.run_all(NS, "hi", ()).await?;
            fact("names", names.join(","));
            let squares = cluster
                .map(|i, p| async move { MathClient::new(&p).square(i as i64 + 2).await })
                .await?;
            fact("squares", format!("{squares:?}"));
            // A context and a stream with every worker, gathered; one
            // message each way on each.
            let ctxs: Vec<(Context, ())> = tractor_driver::gather(
                cluster
                    .portals()
                    .iter()
                    .map(|p| p.open_context(NS, "echo", ())),
            )
            .await?;
            let streams =
                tractor_driver::gather(ctxs.iter().map(|(ctx, ())| ctx.open_stream())).await?;
            tractor_driver::gather(
                streams
                    .iter()
                    .enumerate()
                    .map(|(i, s)| async move { s.send(&format!("to {i}")).await }),
            )
            .await?;
            let echoed: Vec<String> =
                tractor_driver::gather(streams.iter().map(|s| s.receive::<String>())).await?;
            fact("echoed", echoed.join(","));
            drop(streams);
            drop(ctxs);
            cluster.run_all::<u32>(NS, "pid", ()).await
        })
        .await?
        .iter()
        .map(u32::to_string)
        .collect();
    fact("pids", pids.join(","));
    // One worker fails: its error alone, and every worker is reaped.
    let e = root
        .open_cluster(options.clone(), |cluster| async move {
            cluster
                .map(|i, p| async move {
                    match i {
                        1 => MathClient::new(&p).divide(i as i64, 0).await,
                        _ => MathClient::new(&p).square(i as i64).await,
                    }
                })
                .await
        })
        .await
        .expect_err("a division by zero");
    fact("one_failed", e.type_name().unwrap_or("?"));
    fact(
        "one_failed_from",
        e.remote().map_or("?".into(), |r| r.src_uid().name.clone()),
    );
    // All fail: their errors together, as a group.
    let e = root
        .open_cluster(options, |cluster| async move {
            cluster
                .run_all::<()>(NS, "raise", Raise::new("ValueError", "every worker"))
                .await
        })
        .await
        .expect_err("every worker raises");
    fact("all_failed", e.errors().len());
    Ok(())
}

/// Contexts opened with three daemons at once (Python's
/// `gather_contexts`), then again with one that cannot be opened: the
/// error, and the daemons serve on.
pub(crate) async fn cluster_gather_contexts(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let daemons = n
            .start_actors((0..3).map(|i| (format!("ctx-{i}"), daemon())))
            .await?;
        let opened: Vec<(Context, i64)> =
            tractor_driver::gather(daemons.iter().enumerate().map(|(i, p)| {
                p.open_context(
                    NS,
                    "started_plus_one",
                    Data {
                        data: i as i64 * 10,
                    },
                )
            }))
            .await?;
        let started: Vec<i64> = opened.iter().map(|(_, s)| *s).collect();
        fact("started", format!("{started:?}"));
        let results = tractor_driver::gather(
            opened
                .iter()
                .map(|(ctx, _)| ctx.wait_for_result::<String>()),
        )
        .await?;
        fact("results", results.join(","));
        let e = tractor_driver::gather(daemons.iter().enumerate().map(|(i, p)| {
            let func = if i == 1 {
                "no_such_context"
            } else {
                "block_forever"
            };
            p.open_context::<()>(NS, func, ())
        }))
        .await
        .expect_err("one cannot be opened");
        fact("failed", e.type_name().unwrap_or("?"));
        let his: Vec<String> =
            tractor_driver::gather(daemons.iter().map(|p| p.run(NS, "hi", ()))).await?;
        fact("serving", his.len());
        n.cancel().await;
        Ok(())
    })
    .await
}

/// Three local tasks ask a cache for the same feed at once: one opens the
/// context, the others share it, each reads every item through its own
/// subscription, and the feed is closed when the last lets go.
pub(crate) async fn cluster_context_cache(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "ticker", |p| async move {
        type Feed = (Context, MsgStream);
        let cache: ContextCache<&'static str, Feed> = ContextCache::new();
        let joined = Arc::new(AtomicU32::new(0));
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (cache, p, joined) = (cache.clone(), p.clone(), joined.clone());
                me().spawn(async move {
                    let (hit, feed) = cache
                        .open("ticks", || async move {
                            let (ctx, ()) = p.open_context(NS, "ticks", ()).await?;
                            let stream = ctx.open_stream().await?;
                            Ok((ctx, stream))
                        })
                        .await?;
                    let items = feed.1.subscribe()?;
                    // Every task subscribes before the feed starts.
                    joined.fetch_add(1, Ordering::SeqCst);
                    until(&me(), || joined.load(Ordering::SeqCst) == 3).await;
                    if !hit {
                        feed.1.send("go").await?;
                    }
                    let mut got = Vec::new();
                    while let Some(i) = items.next::<u32>().await {
                        got.push(i?);
                    }
                    Ok::<_, Error>((hit, got))
                })
            })
            .collect();
        let mut hits = 0;
        for task in tasks {
            let (hit, got) = task.await??;
            hits += usize::from(hit);
            check!(got == [0, 1, 2, 3, 4], "a task got {got:?}");
        }
        fact("hits", hits);
        fact("open_after", cache.len());
        let (hit, _again) = cache
            .open("ticks", || async {
                let (ctx, ()) = p.open_context(NS, "ticks", ()).await?;
                let stream = ctx.open_stream().await?;
                Ok((ctx, stream))
            })
            .await?;
        fact("reopened_hit", hit);
        drop(_again);
        // Keys live apart: b ends while a is held, and b is a miss again.
        let open = |p: Portal| async move {
            let (ctx, ()) = p.open_context(NS, "ticks", ()).await?;
            let stream = ctx.open_stream().await?;
            Ok((ctx, stream))
        };
        let (_, a) = cache.open("a", || open(p.clone())).await?;
        let (_, b) = cache.open("b", || open(p.clone())).await?;
        drop(b);
        fact("a_held_alone", cache.len() == 1);
        let (b_hit, _b) = cache.open("b", || open(p.clone())).await?;
        fact("b_reopened_hit", b_hit);
        drop(a);
        Ok(())
    })
    .await
}

/// Subscribers of a publisher in a daemon: three that read (`even`,
/// `odd`, both) get every item of their topics in order, while a fourth
/// that never reads lags without holding anyone back.
pub(crate) async fn pubsub_topics(root: ActorHandle) -> Result<()> {
    #[derive(Serialize)]
    struct Topics {
        topics: Vec<&'static str>,
    }
    #[derive(Serialize)]
    struct Range {
        from: u64,
        to: u64,
    }
    const BATCH: u64 = 100;
    const BATCHES: u64 = 8;
    with_daemon(&root, "publisher", |p| async move {
        let wanted: [&[&'static str]; 3] = [&["even"], &["odd"], &["even", "odd"]];
        let counts: Arc<Vec<AtomicU64>> = Arc::new((0..3).map(|_| AtomicU64::new(0)).collect());
        let mut readers = Vec::new();
        for (i, topics) in wanted.into_iter().enumerate() {
            let (p, counts) = (p.clone(), counts.clone());
            let topics = topics.to_vec();
            let (ctx, ()) = p
                .open_context(
                    NS,
                    "subscribe",
                    Topics {
                        topics: topics.clone(),
                    },
                )
                .await?;
            let stream = ctx.open_stream().await?;
            readers.push(me().spawn(async move {
                let mut got = Vec::new();
                while got.len() < (BATCH * BATCHES) as usize / (3 - topics.len()) {
                    let (topic, n): (String, u64) = stream.receive().await?;
                    check!(topics.contains(&topic.as_str()), "{topic} for {topics:?}");
                    got.push(n);
                    counts[i].fetch_add(1, Ordering::SeqCst);
                }
                drop(ctx);
                Ok::<_, Error>(got)
            }));
        }
        // The one that never reads.
        let (_slow, ()) = p
            .open_context(
                NS,
                "subscribe",
                Topics {
                    topics: vec!["even", "odd"],
                },
            )
            .await?;
        loop {
            let (subs, _): (usize, u64) = p.run(NS, "pubsub_stats", ()).await?;
            if subs == 4 {
                break;
            }
            me().sleep(Duration::from_millis(5)).await;
        }
        for b in 0..BATCHES {
            let reached: usize = p
                .run(
                    NS,
                    "publish_range",
                    Range {
                        from: b * BATCH,
                        to: (b + 1) * BATCH,
                    },
                )
                .await?;
            check!(reached == 3 * BATCH as usize, "reached {reached}");
            // Every reader has the batch before the next is published.
            let want = [(b + 1) * BATCH / 2, (b + 1) * BATCH / 2, (b + 1) * BATCH];
            until(&me(), || {
                (0..3).all(|i| counts[i].load(Ordering::SeqCst) == want[i])
            })
            .await;
        }
        let mut all = Vec::new();
        for r in readers {
            all.push(r.await??);
        }
        let evens: Vec<u64> = (0..BATCH * BATCHES).filter(|n| n % 2 == 0).collect();
        let odds: Vec<u64> = (0..BATCH * BATCHES).filter(|n| n % 2 == 1).collect();
        fact("even_in_order", all[0] == evens);
        fact("odd_in_order", all[1] == odds);
        fact(
            "both_in_order",
            all[2] == (0..BATCH * BATCHES).collect::<Vec<_>>(),
        );
        let (_, lagged): (usize, u64) = p.run(NS, "pubsub_stats", ()).await?;
        fact("slow_lagged", lagged > 0);
        Ok(())
    })
    .await
}
