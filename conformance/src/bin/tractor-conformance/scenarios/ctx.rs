//! Contexts between parent and child: started values, results, cancellation, streams (`ctx-`).

use crate::*;

pub(crate) async fn ctx_stop_after_return(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "returner", |p| async move {
        let (ctx, first): (_, i64) = p
            .open_context(NS, "started_plus_one", Data { data: 1 })
            .await?;
        check!(first == 2, "{first}");
        // A round trip on the same channel: the child's Return is in
        // before our stream opens.
        let () = p.run(NS, "do_nothing", ()).await?;
        match ctx.open_stream().await {
            // Closing it sends a Stop the finished child ignores.
            Ok(stream) => {
                drop(stream);
                fact("stream", "opened");
            }
            Err(e) => fact("stream", describe(&e)),
        }
        let r: String = ctx.wait_for_result().await?;
        fact("result", r);
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("after", hi);
        Ok(())
    })
    .await
}

pub(crate) async fn ctx_parent_error_in_block(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "ctx", |p| async move {
        for (i, open_stream) in [false, true].into_iter().enumerate() {
            let out: Result<()> = async {
                let (ctx, ()) = p.open_context(NS, "block_tracked", ()).await?;
                let _stream = if open_stream {
                    Some(ctx.open_stream().await?)
                } else {
                    None
                };
                Err(Error::raise("ValueError", "the opener's block fails"))
            }
            .await;
            let e = out.expect_err("the block raised");
            fact(&format!("error_stream_{open_stream}"), describe(&e));
            // Leaving the block cancelled the remote task: its drop guard
            // ran (this waits for it).
            let drops: u32 = p.run(NS, "wait_drops", Count { n: i as u32 + 1 }).await?;
            fact(&format!("remote_ended_stream_{open_stream}"), drops);
        }
        Ok(())
    })
    .await
}

pub(crate) async fn ctx_cancel_by_opener(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    with_daemon(&r, "blocker", |p| async move {
        for (i, open_stream) in [false, true].into_iter().enumerate() {
            let (ctx, ()) = p.open_context(NS, "block_tracked", ()).await?;
            let stream = if open_stream {
                Some(ctx.open_stream().await?)
            } else {
                None
            };
            ctx.cancel()?;
            let e = ctx.wait_for_result::<()>().await.expect_err("cancelled");
            fact(&format!("outcome_stream_{open_stream}"), describe(&e));
            fact(
                &format!("requested_by_root_stream_{open_stream}"),
                requested_by(&e, &root),
            );
            drop(stream);
            let drops: u32 = p.run(NS, "wait_drops", Count { n: i as u32 + 1 }).await?;
            fact(&format!("remote_ended_stream_{open_stream}"), drops);
        }
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("after", hi);
        Ok(())
    })
    .await
}

pub(crate) async fn ctx_cancel_actor_raises(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    nursery_with(&r, "blocker", |_, p| async move {
        let (ctx, ()) = p.open_context(NS, "block_tracked", ()).await?;
        let remote = root
            .find_actor("blocker")
            .await?
            .ok_or_else(|| not_found("blocker"))?;
        fact("acked", remote.cancel_actor().await?);
        let e = ctx.wait_for_result::<()>().await.expect_err("cancelled");
        fact("outcome", describe(&e));
        fact("canceller", canceller(&e));
        // Asking again gives the same error.
        let again = ctx.wait_for_result::<()>().await.expect_err("cancelled");
        fact("again", describe(&again));
        Ok(())
    })
    .await
}

pub(crate) async fn ctx_cancel_after_return(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        for via_actor in [false, true] {
            let name = format!("returner-{via_actor}");
            let p = n.start_actor(&name, daemon()).await?;
            let (ctx, _): (_, i64) = p
                .open_context(NS, "started_plus_one", Data { data: 1 })
                .await?;
            // A round trip first, as the catalogue's pause: the child's
            // Return comes before the late cancel.
            let () = p.run(NS, "do_nothing", ()).await?;
            if via_actor {
                let remote = root
                    .find_actor(&name)
                    .await?
                    .ok_or_else(|| not_found(&name))?;
                fact("acked", remote.cancel_actor().await?);
            } else {
                let late = ctx.cancel();
                fact(
                    "late_cancel",
                    late.map_or_else(|e| describe(&e), |()| "accepted".into()),
                );
            }
            let r: String = ctx.wait_for_result().await?;
            fact(&format!("result_via_actor_{via_actor}"), r);
            if !via_actor {
                p.cancel_actor().await?;
            }
        }
        Ok(())
    })
    .await
}

pub(crate) async fn ctx_opener_cancels_echo(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    with_daemon(&r, "echoer", |p| async move {
        for when in ["pre_stream", "post_stream_open", "post_stream_close"] {
            let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
            let mut stream = None;
            if when != "pre_stream" {
                let s = ctx.open_stream().await?;
                s.send(&7i64).await?;
                let back: i64 = s.receive().await?;
                check!(back == 7, "{back}");
                stream = Some(s);
            }
            if when == "post_stream_close" {
                drop(stream.take());
            }
            ctx.cancel()?;
            let outcome = match ctx.wait_for_result::<u32>().await {
                Ok(count) => format!("returned:{count}"),
                Err(e) if requested_by(&e, &root) => "cancelled_by_root".into(),
                Err(e) => describe(&e),
            };
            fact(&format!("outcome_{when}"), outcome);
            let reopen = ctx.open_stream().await;
            fact(&format!("reopen_{when}"), reopen.is_err());
            drop(stream);
            // The channel is still up.
            let hi: String = p.run(NS, "hi", ()).await?;
            check!(hi == "hi from echoer", "{hi}");
        }
        Ok(())
    })
    .await
}

pub(crate) async fn ctx_opener_waits(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    with_daemon(&r, "echoer", |p| async move {
        let (ctx, stream) = open_echo(&p).await?;
        // The echo ends only when our side of the stream does: waiting for
        // its result can only time out.
        let timeout = root.sleep(Duration::from_millis(100));
        match race(ctx.wait_for_result::<u32>(), timeout).await {
            Either::Left(r) => {
                return Err(Error::raise(
                    "AssertionError",
                    format!("the echo ended by itself: {r:?}"),
                ));
            }
            Either::Right(()) => fact("timed_out", true),
        }
        ctx.cancel()?;
        let e = ctx.wait_for_result::<u32>().await.expect_err("cancelled");
        fact("outcome", describe(&e));
        fact("requested_by_root", requested_by(&e, &root));
        drop(stream);
        Ok(())
    })
    .await
}

pub(crate) async fn ctx_cancel_from_sibling_task(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    with_daemon(&r, "echoer", |p| async move {
        let (ctx, stream) = open_echo(&p).await?;
        let seen = Cell::new(false);
        let iterate = async {
            let mut got = Vec::new();
            let end = loop {
                match stream.next::<String>().await {
                    Some(Ok(v)) => {
                        got.push(v);
                        seen.set(true);
                    }
                    Some(Err(e)) => break Some(e),
                    None => break None,
                }
            };
            (got, end)
        };
        let cancel = async {
            stream.send("yo").await?;
            when(|| seen.get()).await;
            ctx.cancel()
        };
        let ((got, end), cancelled) = join2(iterate, cancel).await;
        cancelled?;
        fact("received", got.join(","));
        // The cancelled echo's stream ends with the cancellation (no
        // `Stop` before it that would read as a normal end), which is also
        // the context's outcome.
        fact("end", end.map_or_else(|| "eoc".into(), |e| describe(&e)));
        let e = ctx.wait_for_result::<u32>().await.expect_err("cancelled");
        fact("outcome", describe(&e));
        fact("requested_by_root", requested_by(&e, &root));
        drop(stream);
        // The child's finally ran; the channel is still up.
        let drops: u32 = p.run(NS, "wait_drops", Count { n: 1 }).await?;
        fact("remote_ended", drops);
        Ok(())
    })
    .await
}

pub(crate) async fn ctx_child_self_cancel(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "selfish", |p| async move {
        let e = context_error::<()>(&p, "self_cancel", "cancelled").await;
        fact("error", describe(&e));
        fact("canceller", canceller(&e));
        if let Some(r) = e.remote() {
            fact("tb_says_itself", r.tb_str().contains("itself"));
        }
        let refused: bool = p.run(NS, "self_cancel_refused", ()).await?;
        fact("open_stream_refused", refused);
        Ok(())
    })
    .await
}

pub(crate) async fn ctx_unserializable_started(root: ActorHandle) -> Result<()> {
    daemon_context_error::<()>(&root, "encoder", "unserializable_started", "fails").await
}

/// Ours: a context's function streams three items and fails. Read to its
/// end, the stream ends with that error; the scoped form returns it
/// whether or not the body read that far.
pub(crate) async fn ctx_stream_then_fail(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "streamer", |p| async move {
        let (ctx, ()) = p.open_context(NS, "stream_then_fail", ()).await?;
        let stream = ctx.open_stream().await?;
        let mut items = Vec::new();
        let mut end = "none".to_owned();
        while let Some(item) = stream.next::<u32>().await {
            match item {
                Ok(i) => items.push(i),
                Err(e) => {
                    end = describe(&e);
                    break;
                }
            }
        }
        fact("items", format!("{items:?}"));
        fact("stream_end", end);
        fact(
            "result",
            describe(&ctx.wait_for_result::<()>().await.unwrap_err()),
        );
        drop((stream, ctx));
        // The scoped form: the body reads one item and is done; the
        // function's failure is the outcome.
        let scoped = p
            .with_context(NS, "stream_then_fail", (), |ctx, ()| async move {
                let stream = ctx.open_stream().await?;
                stream.receive::<u32>().await
            })
            .await;
        fact(
            "scoped",
            scoped.map_or_else(|e| describe(&e), |v| format!("ok:{v}")),
        );
        // A body that fails itself: its error is the outcome, and the
        // function is cancelled.
        let failed = p
            .with_context(NS, "echo", (), |_ctx, ()| async move {
                Err::<(), _>(Error::raise("KeyError", "the body gives up"))
            })
            .await;
        fact(
            "scoped_body_failed",
            failed.map_or_else(|e| describe(&e), |()| "ok".into()),
        );
        Ok(())
    })
    .await
}

/// Scenarios `ctx-started-value` and `ctx-result-returned`.
pub(crate) async fn ctx_started_value(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "ctx", |p| async move {
        let (ctx, first): (_, i64) = p
            .open_context(NS, "started_plus_one", Data { data: 10 })
            .await?;
        let result: String = ctx.wait_for_result().await?;
        fact("started", first);
        fact("result", &result);
        check!(first == 11 && result == "yo", "{first} {result}");
        Ok(())
    })
    .await
}

/// Scenarios `ctx-started-twice` and `ctx-stream-before-started`.
pub(crate) async fn ctx_started_twice(root: ActorHandle, id: &str) -> Result<()> {
    let func = if id == "ctx-started-twice" {
        "started_twice"
    } else {
        "stream_before_started"
    };
    daemon_context_error::<i64>(&root, "ctx", func, "must fail").await
}

/// Scenario `ctx-cancel-blocking-child`.
pub(crate) async fn ctx_cancel_blocking_child(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "blocker", |p| async move {
        let (ctx, ()) = p.open_context(NS, "block_forever", ()).await?;
        ctx.cancel()?;
        let e = ctx.wait_for_result::<()>().await.expect_err("cancelled");
        fact("outcome", describe(&e));
        check!(e.is_cancelled(), "{e}");
        // The daemon still serves.
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("after", hi);
        Ok(())
    })
    .await
}

/// Scenario `ctx-child-closes-stream-immediately`.
pub(crate) async fn ctx_child_closes_stream_immediately(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "closer", |p| async move {
        let (ctx, ()) = p.open_context(NS, "close_at_once", ()).await?;
        let stream = ctx.open_stream().await?;
        let first = stream.next::<i64>().await;
        check!(first.is_none(), "expected the end, got {first:?}");
        let again = stream.receive::<i64>().await.expect_err("ended");
        fact("again", describe(&again));
        let r: String = ctx.wait_for_result().await?;
        fact("result", r);
        Ok(())
    })
    .await
}

/// Scenario `ctx-error-dropped-unread`.
pub(crate) async fn ctx_error_dropped_unread(root: ActorHandle) -> Result<()> {
    // Ours: the context is dropped before its function's error is
    // read; the error is logged, not lost.
    with_daemon(&root, "failer", |p| async move {
        let (ctx, ()) = p.open_context(NS, "started_then_fail", ()).await?;
        drop(ctx);
        // Later on the same channel: the error has come by then.
        let _: u32 = p.run(NS, "pid", ()).await?;
        Ok(())
    })
    .await
}

/// A daemon `name` whose context `NS:func` must fail (see
/// [`context_error`]): the error is the fact `error`.
async fn daemon_context_error<S: serde::de::DeserializeOwned>(
    root: &ActorHandle,
    name: &str,
    func: &str,
    what: &str,
) -> Result<()> {
    with_daemon(root, name, |p| async move {
        let e = context_error::<S>(&p, func, what).await;
        fact("error", describe(&e));
        Ok(())
    })
    .await
}
