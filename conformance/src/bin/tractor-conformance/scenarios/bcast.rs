//! Broadcast receivers over one stream, and fan-outs (`bcast-`, some `stream-`).

use crate::*;

pub(crate) async fn bcast_local_fanout(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "streamer", |p| async move {
        let (ctx, ()) = p.open_context(NS, "stream_until_done", ()).await?;
        let stream = ctx.open_stream().await?;
        // 22 subscribers, each its own task. All subscribe before any
        // reads: a subscriber sees the items that arrive after it joined.
        let counts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::new(AtomicU32::new(0));
        let subs = (0..22)
            .map(|_| stream.subscribe())
            .collect::<Result<Vec<_>>>()?;
        // How far each subscriber has read. A subscriber keeps within
        // half the broadcast window of the slowest one: on a loaded
        // machine one task can otherwise read a whole window ahead while
        // another waits for a thread, and the slow one then lags, which
        // is right but another scenario (bcast-lag).
        let read: Arc<Vec<AtomicU64>> = Arc::new((0..22).map(|_| AtomicU64::new(0)).collect());
        let lead = DEFAULT_BROADCAST_CAPACITY as u64 / 2;
        for (i, sub) in subs.into_iter().enumerate() {
            let (counts, seen, read) = (counts.clone(), seen.clone(), read.clone());
            me().spawn(async move {
                let mut count = 0u64;
                let mut end = "eoc".to_owned();
                loop {
                    let slowest = || read.iter().map(|r| r.load(Ordering::SeqCst)).min();
                    until(&me(), || {
                        slowest().is_none_or(|s| count < s.saturating_add(lead))
                    })
                    .await;
                    let Some(v) = sub.next::<u64>().await else {
                        break;
                    };
                    match v {
                        Ok(v) if v == count => count += 1,
                        Ok(v) => {
                            end = format!("out of order: {v} at {count}");
                            break;
                        }
                        Err(e) => {
                            end = describe(&e);
                            break;
                        }
                    }
                    seen.fetch_max(count as u32, Ordering::SeqCst);
                    read[i].store(count, Ordering::SeqCst);
                }
                // Done reading: nobody waits for this one any more.
                read[i].store(u64::MAX, Ordering::SeqCst);
                counts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((count, end));
            });
        }
        let me = me();
        until(&me, || seen.load(Ordering::SeqCst) >= 20).await;
        stream.send("done").await?;
        // Every subscriber reads to the end of the stream before the
        // result is read (reading it drops any item still unread).
        until(&me, || {
            counts.lock().unwrap_or_else(|e| e.into_inner()).len() == 22
        })
        .await;
        let sent: u64 = ctx.wait_for_result().await?;
        let counts = counts.lock().unwrap_or_else(|e| e.into_inner()).clone();
        fact("subscribers", counts.len());
        fact("all_got_all", counts.iter().all(|(c, _)| *c == sent));
        let mut ends: Vec<&str> = counts.iter().map(|(_, e)| e.as_str()).collect();
        ends.sort_unstable();
        ends.dedup();
        fact("ends", format!("{ends:?}"));
        drop(stream);
        Ok(())
    })
    .await
}

pub(crate) async fn bcast_fanout_echo(root: ActorHandle) -> Result<()> {
    let ((), echoed) = with_echo(&root, "echoer", |stream| async move {
        const N: i64 = 1000;
        let mut readers: Vec<Boxed<'_, Result<bool>>> = Vec::new();
        for _ in 0..10 {
            let sub = stream.subscribe()?;
            readers.push(Box::pin(async move {
                for i in 0..N {
                    if sub.receive::<i64>().await? != i {
                        return Ok(false);
                    }
                }
                Ok(true)
            }));
        }
        // The stream itself reads as one more subscriber.
        let own = &stream;
        readers.push(Box::pin(async move {
            for i in 0..N {
                if own.receive::<i64>().await? != i {
                    return Ok(false);
                }
            }
            Ok(true)
        }));
        let send = send_ints(&stream, N);
        let (sent, read) = join2(send, join_all(readers)).await;
        sent?;
        let read: Result<Vec<bool>> = read.into_iter().collect();
        let read = read?;
        fact("readers", read.len());
        fact("all_in_order", read.iter().all(|ok| *ok));
        Ok(())
    })
    .await?;
    fact("echoed", echoed);
    Ok(())
}

pub(crate) async fn bcast_go_signal(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "ticker", |p| async move {
        let (ctx, ()) = p.open_context(NS, "ticks", ()).await?;
        let stream = ctx.open_stream().await?;
        let results = Arc::new(std::sync::Mutex::new(Vec::new()));
        let subs = (0..3)
            .map(|_| stream.subscribe())
            .collect::<Result<Vec<_>>>()?;
        for sub in subs {
            let results = results.clone();
            me().spawn(async move {
                let mut got = Vec::new();
                let mut clean = true;
                while let Some(v) = sub.next::<u32>().await {
                    match v {
                        Ok(v) => got.push(v),
                        Err(_) => {
                            clean = false;
                            break;
                        }
                    }
                }
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((got, clean));
            });
        }
        stream.send("go").await?;
        let me = me();
        until(&me, || {
            results.lock().unwrap_or_else(|e| e.into_inner()).len() == 3
        })
        .await;
        let results = results.lock().unwrap_or_else(|e| e.into_inner()).clone();
        fact(
            "all_got_ticks",
            results.iter().all(|(got, _)| *got == [0, 1, 2, 3, 4]),
        );
        fact("all_ended_cleanly", results.iter().all(|(_, clean)| *clean));
        drop(stream);
        ctx.wait_for_result::<()>().await?;
        Ok(())
    })
    .await
}

pub(crate) async fn bcast_subscribe_after_close(root: ActorHandle) -> Result<()> {
    with_echo(&root, "echoer", |stream| async move {
        let sub = stream.subscribe()?;
        sub.close();
        let again = sub.subscribe().map(|_| ()).map_err(|e| describe(&e));
        fact(
            "subscribe",
            again.err().unwrap_or_else(|| "accepted".into()),
        );
        let recv = sub.receive::<i64>().await.map_err(|e| describe(&e));
        fact("receive", recv.err().unwrap_or_else(|| "received".into()));
        sub.close();
        // The stream itself is unaffected.
        stream.send(&3i64).await?;
        fact("stream", stream.receive::<i64>().await?);
        Ok(())
    })
    .await?;
    Ok(())
}

/// Items echoed in the lag scenarios: 100 more than a broadcast window
/// holds, so that a reader who waits for the end falls out of it.
pub(crate) const LAG_ITEMS: i64 = DEFAULT_BROADCAST_CAPACITY as i64 + 100;

pub(crate) async fn bcast_lag(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "echoer", |p| async move {
        for slow_opener in [false, true] {
            let (ctx, stream) = open_echo(&p).await?;
            let sub = stream.subscribe()?;
            let read_fast = async {
                for i in 0..LAG_ITEMS {
                    let v: i64 = if slow_opener {
                        sub.receive().await?
                    } else {
                        stream.receive().await?
                    };
                    check!(v == i, "{v} at {i}");
                }
                Ok::<(), Error>(())
            };
            let send = send_ints(&stream, LAG_ITEMS);
            let (sent, read) = join2(send, read_fast).await;
            sent?;
            read?;
            // The slow side never read: it fell out of the window.
            let first = if slow_opener {
                stream.receive::<i64>().await
            } else {
                sub.receive::<i64>().await
            };
            let lag = first.map_err(|e| e.to_string()).err().unwrap_or_default();
            let next = if slow_opener {
                stream.receive::<i64>().await?
            } else {
                sub.receive::<i64>().await?
            };
            let side = if slow_opener { "opener" } else { "subscriber" };
            fact(&format!("lag_{side}"), lag);
            fact(&format!("resumes_at_{side}"), next);
            drop(sub);
            drop(stream);
            ctx.wait_for_result::<u32>().await?;
        }
        Ok(())
    })
    .await
}

pub(crate) async fn bcast_no_raise_on_lag(root: ActorHandle) -> Result<()> {
    nursery_with(&root, "echoer", |_, p| async move {
        let (_ctx, stream) = open_echo(&p).await?;
        let slow = stream.subscribe()?.raise_on_lag(false);
        let send = send_ints(&stream, LAG_ITEMS);
        let fast = async {
            for i in 0..LAG_ITEMS {
                let v: i64 = stream.receive().await?;
                check!(v == i, "{v} at {i}");
            }
            Ok::<(), Error>(())
        };
        let (sent, read) = join2(send, fast).await;
        sent?;
        read?;
        // No Lagged: the slow subscriber reads on from the oldest item held.
        fact("slow_first", slow.receive::<i64>().await?);
        Err(interrupted())
    })
    .await
}

pub(crate) async fn bcast_fast_sub_cancelled(root: ActorHandle) -> Result<()> {
    with_echo(&root, "echoer", |stream| async move {
        const N: i64 = 1000;
        let sub = stream.subscribe()?;
        let taken = Cell::new(0);
        let fast = async {
            loop {
                sub.receive::<i64>().await?;
                taken.set(taken.get() + 1);
                yield_now().await;
            }
            #[allow(unreachable_code)]
            Ok::<(), Error>(())
        };
        // The fast subscriber is cancelled after 20 items.
        let fast = async {
            match race(fast, when(|| taken.get() >= 20)).await {
                Either::Left(r) => r,
                Either::Right(()) => Ok(()),
            }
        };
        let slow = async {
            let mut got = Vec::new();
            for _ in 0..N {
                got.push(stream.receive::<i64>().await?);
                yield_now().await;
            }
            Ok::<Vec<i64>, Error>(got)
        };
        let send = send_ints(&stream, N);
        let ((sent, fast), got) = join2(join2(send, fast), slow).await;
        sent?;
        fast?;
        let got = got?;
        drop(sub);
        fact("fast_took", taken.get());
        fact("slow_got_all", got == (0..N).collect::<Vec<_>>());
        Ok(())
    })
    .await?;
    Ok(())
}

pub(crate) async fn bcast_first_recver_cancelled(root: ActorHandle) -> Result<()> {
    with_echo(&root, "echoer", |stream| async move {
        let sub = stream.subscribe()?;
        // The subscriber waits for the stream, and is cancelled waiting.
        let polled = Cell::new(false);
        let first = async {
            polled.set(true);
            sub.receive::<i64>().await
        };
        match race(first, when(|| polled.get())).await {
            Either::Left(r) => {
                return Err(Error::raise(
                    "AssertionError",
                    format!("received before anything was sent: {r:?}"),
                ));
            }
            Either::Right(()) => fact("cancelled_waiting", true),
        }
        stream.send(&5i64).await?;
        // Another receiver gets the value.
        fact("stream_got", stream.receive::<i64>().await?);
        fact("sub_got", sub.receive::<i64>().await?);
        drop(sub);
        Ok(())
    })
    .await?;
    Ok(())
}

pub(crate) async fn bcast_slow_consumers(root: ActorHandle) -> Result<()> {
    with_echo(&root, "echoer", |stream| async move {
        let fast = stream.subscribe()?;
        let slow = fast.subscribe()?;
        let send = send_ints(&stream, LAG_ITEMS);
        let read = async {
            let mut lags = 0;
            for i in 0..LAG_ITEMS {
                match fast.receive::<i64>().await {
                    Ok(v) => check!(v == i, "{v} at {i}"),
                    Err(e) if matches!(e.kind(), ErrorKind::Lagged(_)) => lags += 1,
                    Err(e) => return Err(e),
                }
            }
            Ok::<u32, Error>(lags)
        };
        let (sent, lags) = join2(send, read).await;
        sent?;
        fact("fast_lags", lags?);
        // The slow subscriber lags once, then reads the window: the last
        // DEFAULT_BROADCAST_CAPACITY items, in order.
        let lag = slow.receive::<i64>().await.err().map(|e| e.to_string());
        fact("slow_lag", lag.unwrap_or_default());
        let mut window = Vec::new();
        for _ in 0..DEFAULT_BROADCAST_CAPACITY {
            window.push(slow.receive::<i64>().await?);
        }
        fact(
            "slow_window",
            window
                == (LAG_ITEMS - DEFAULT_BROADCAST_CAPACITY as i64..LAG_ITEMS).collect::<Vec<_>>(),
        );
        // The stream itself never read either.
        let original = stream.receive::<i64>().await.err().map(|e| e.to_string());
        fact("original_lag", original.unwrap_or_default());
        // The fast one closes (twice: harmless), and is closed after.
        fast.close();
        fast.close();
        let closed = fast.receive::<i64>().await.err().map(|e| describe(&e));
        fact("fast_after_close", closed.unwrap_or_default());
        drop((fast, slow));
        Ok(())
    })
    .await?;
    Ok(())
}
