//! Functions that ask for graceful cancellation (`graceful_cancel`): they
//! clean up with awaits once cancelled, fail in their cleanup, or overrun
//! their grace period.

use crate::*;

/// Cleanups that ran to their end in this process, after awaiting.
pub(crate) static CLEANUPS: AtomicU32 = AtomicU32::new(0);

/// Items a cancelled context sent after its cancellation reached it.
pub(crate) static LAST_ITEMS: AtomicU32 = AtomicU32::new(0);

/// The lock the `grace_lock*` functions block on: held for ever by the
/// first caller of `grace_lock_hold`.
pub(crate) static LOCK: smol::lock::Mutex<()> = smol::lock::Mutex::new(());

/// The held lock's guard, kept for the life of the process.
static HELD: OnceLock<smol::lock::MutexGuard<'static, ()>> = OnceLock::new();

pub(crate) fn grace_functions() -> Functions {
    Functions::new()
        // Cancelled, it awaits its cleanup (a pause on the actor's clock,
        // and a call to another actor: the registrar, asked whether this
        // actor is still registered) and counts it.
        .context(NS, "grace_cleanup", |ctx: Context, (): ()| async move {
            let guard = tractor_driver::graceful_cancel()?;
            ctx.started(()).await?;
            guard.cancelled().await;
            check!(
                guard.is_cancelled(),
                "cancelled() resolved before the cancellation"
            );
            let me = me();
            me.sleep(Duration::from_millis(100)).await;
            let key = format!("{}.{}", me.uid().name, me.uid().uuid);
            let registered = me.get_registry().await?.contains_key(&key);
            check!(registered, "{key} is not registered during its cleanup");
            me.sleep(Duration::from_millis(10)).await;
            CLEANUPS.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        // Told of its cancellation, it drops its guard: its next await
        // point ends it, and the count after it never happens.
        .context(NS, "grace_drop_guard", |ctx: Context, (): ()| async move {
            let guard = tractor_driver::graceful_cancel()?;
            ctx.started(()).await?;
            guard.cancelled().await;
            drop(guard);
            me().sleep(Duration::from_millis(50)).await;
            CLEANUPS.fetch_add(100, Ordering::SeqCst);
            Ok(())
        })
        // Streams its count until cancelled, then sends one last item
        // (`-1`), closes its stream and fails: the failure is its outcome.
        .context(
            NS,
            "grace_stream_raise",
            |ctx: Context, (): ()| async move {
                let guard = tractor_driver::graceful_cancel()?;
                ctx.started(()).await?;
                let stream = ctx.open_stream().await?;
                let mut i = 0i64;
                loop {
                    match race(stream.send(&i), guard.cancelled()).await {
                        Either::Left(sent) => sent?,
                        Either::Right(()) => break,
                    }
                    i += 1;
                    me().sleep(Duration::from_millis(5)).await;
                    if guard.is_cancelled() {
                        break;
                    }
                }
                me().sleep(Duration::from_millis(50)).await;
                if stream.send(&-1i64).await.is_ok() {
                    LAST_ITEMS.fetch_add(1, Ordering::SeqCst);
                }
                stream.close()?;
                me().sleep(Duration::from_millis(10)).await;
                Err::<(), _>(Error::raise(
                    "RuntimeError",
                    "the stream's cleanup failed after the cancellation",
                ))
            },
        )
        // Cancelled, its cleanup awaits and then fails.
        .context(NS, "grace_raise", |ctx: Context, (): ()| async move {
            let guard = tractor_driver::graceful_cancel()?;
            ctx.started(()).await?;
            guard.cancelled().await;
            me().sleep(Duration::from_millis(50)).await;
            Err::<(), _>(Error::raise(
                "AssertionError",
                "the cleanup failed after the cancellation",
            ))
        })
        // Takes the lock for ever.
        .rpc(NS, "grace_lock_hold", |(): ()| async move {
            if HELD.get().is_none() {
                let held = LOCK.lock().await;
                let _ = HELD.set(held);
            }
            Ok(())
        })
        // Blocked on the held lock, until its cancellation comes: then it
        // gives up waiting and returns.
        .context(NS, "grace_lock_watch", |ctx: Context, (): ()| async move {
            let guard = tractor_driver::graceful_cancel()?;
            ctx.started(()).await?;
            match race(LOCK.lock(), guard.cancelled()).await {
                Either::Left(_) => Err(Error::raise("AssertionError", "the held lock was taken")),
                Either::Right(()) => Ok(()),
            }
        })
        // Blocked on the held lock, never looking at its cancellation: it
        // overruns its grace period and is dropped.
        .context(
            NS,
            "grace_lock_overrun",
            |ctx: Context, (): ()| async move {
                let _guard = tractor_driver::graceful_cancel()?;
                let _finally = Tracked;
                ctx.started(()).await?;
                let _held = LOCK.lock().await;
                Err::<(), _>(Error::raise("AssertionError", "the held lock was taken"))
            },
        )
        .rpc(NS, "wait_cleanups", |c: Count| async move {
            let me = me();
            until(&me, || CLEANUPS.load(Ordering::SeqCst) >= c.n).await;
            Ok((
                CLEANUPS.load(Ordering::SeqCst),
                LAST_ITEMS.load(Ordering::SeqCst),
            ))
        })
        // Outside a served call's own code (a task it spawned), the guard
        // is refused.
        .rpc(NS, "grace_outside", |(): ()| async move {
            let me = me();
            let task = me.spawn(async move { tractor_driver::graceful_cancel().map(drop) });
            let refused = match task.await {
                Ok(Err(e)) => matches!(e.kind(), ErrorKind::Usage(_)),
                _ => false,
            };
            Ok(refused)
        })
}
