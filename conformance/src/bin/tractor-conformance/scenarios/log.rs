//! Logging across a tree (`log-`).

use crate::*;

/// How many calls and stream items the story's daemon serves: more than
/// the story has lines.
pub(crate) const STORY_CALLS: u32 = 40;

/// A small tree's life, to be read in its log: a daemon spawned, called,
/// streamed from, a context with it cancelled, then the daemon cancelled.
pub(crate) async fn log_tree_story(root: ActorHandle) -> Result<()> {
    nursery_with(&root, "teller", |_, teller| async move {
        for _ in 0..STORY_CALLS {
            let _: String = teller.run(NS, "hi", ()).await?;
        }
        let stream = teller
            .open_stream_from(NS, "range", Count { n: STORY_CALLS })
            .await?;
        let mut items = 0;
        while let Some(item) = stream.next::<u32>().await {
            item?;
            items += 1;
        }
        fact("items", items);
        let (ctx, ()) = teller.open_context(NS, "block_forever", ()).await?;
        ctx.cancel()?;
        let out = ctx.wait_for_result::<()>().await;
        fact("ctx_cancelled", out.is_err_and(|e| e.is_cancelled()));
        fact("teller_pid", teller.run::<u32>(NS, "pid", ()).await?);
        fact("acked", teller.cancel_actor().await?);
        Ok(())
    })
    .await
}

/// How many times the nursery said it waits on daemons (this process's
/// console, seen by [`DaemonNoticeSeen`]).
pub(crate) static NOTICES: AtomicU32 = AtomicU32::new(0);

/// The task waiting for the first notice.
pub(crate) static NOTICE_WAITER: std::sync::Mutex<Option<std::task::Waker>> =
    std::sync::Mutex::new(None);

/// A layer beside the console that counts the nursery's notices that it
/// waits on daemons, and wakes [`NOTICE_WAITER`].
pub(crate) struct DaemonNoticeSeen;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for DaemonNoticeSeen {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        if m.0.contains("daemon actor") {
            NOTICES.fetch_add(1, Ordering::SeqCst);
            if let Some(w) = NOTICE_WAITER
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
            {
                w.wake();
            }
        }
    }
}

/// The root's body ends with two daemons running (a third was cancelled
/// before): the nursery says so, and a task that waited for its words
/// cancels them.
pub(crate) async fn log_daemon_wait(root: ActorHandle) -> Result<()> {
    let me = root.clone();
    nursery_with(&root, "daemon-a", |n, a| async move {
        let b = n.start_actor("daemon-b", daemon()).await?;
        let c = n.start_actor("daemon-c", daemon()).await?;
        // Gone before the body ends: not named.
        c.cancel_actor().await?;
        me.spawn(async move {
            poll_fn(|cx| {
                *NOTICE_WAITER.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
                if NOTICES.load(Ordering::SeqCst) > 0 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            let _ = a.cancel_actor().await;
            let _ = b.cancel_actor().await;
        });
        fact("body_ended", true);
        Ok(())
    })
    .await?;
    fact("notices", NOTICES.load(Ordering::SeqCst));
    Ok(())
}
