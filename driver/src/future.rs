//! [`ApiFuture`]: what the calls of tractor's API that take names or
//! values return.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::runtime::BoxFuture;
use crate::task_record::{TracedFuture, traced_at};

/// The future of a call into tractor's API that takes names or values:
/// [`Portal::run`](crate::Portal::run) and the other calls of a
/// [`Portal`](crate::Portal),
/// [`ActorNursery::start_actor`](crate::ActorNursery::start_actor),
/// [`start_actors`](crate::ActorNursery::start_actors),
/// [`run_in_actor`](crate::ActorNursery::run_in_actor), discovery
/// ([`ActorHandle::find_actor`](crate::ActorHandle::find_actor) and its
/// kin) and [`Context::started`](crate::Context::started).
/// ([`MsgStream::send`](crate::MsgStream::send) borrows only the stream
/// too, without the allocation.)
///
/// It borrows nothing but the handle the call was made on (`'a`): names
/// are copied and values encoded when the call is made, before the
/// future exists. So the names may be temporaries, the futures may be
/// built in a loop and kept in a `Vec`, and a value that cannot be
/// encoded is not an error of the call but of the future: awaiting it
/// gives the encoding error, and nothing is sent.
///
/// Like any Rust future it does nothing until it is polled: making the
/// future sends nothing and starts nothing. Futures awaited one after
/// the other run one after the other; to have them run side by side,
/// poll them together (a join of your runtime or of the `futures` crate)
/// or use a call made for it, such as
/// [`start_actors`](crate::ActorNursery::start_actors) for children.
///
/// ```no_run
/// # use tractor_driver::{ActorNursery, ActorOptions, ApiFuture, Portal, Result};
/// # async fn demo(n: &ActorNursery) -> Result<()> {
/// let opts = ActorOptions::new().enable_modules(["math"]);
/// let spawns: Vec<ApiFuture<'_, Result<Portal>>> = (0..3)
///     .map(|i| n.start_actor(format!("worker-{i}"), opts.clone()))
///     .collect();
/// // No child exists yet; each starts when its turn comes, once the one
/// // before it has connected back.
/// for spawn in spawns {
///     let portal = spawn.await?;
/// #   let _ = portal;
/// }
/// # Ok(())
/// # }
/// ```
///
/// It is `Send`, so a task that owns the handle (portals, nurseries and
/// actor handles are cheap to clone) and awaits it may be spawned on a
/// multi-threaded runtime; and it is `Unpin`, so it can be polled in
/// place. Each call costs one small heap allocation, the boxed body of the
/// call. Dropping the future before it ends cancels what it started (see
/// each call).
///
/// In a task-tree dump ([`stackscope`](crate::stackscope)) a pending
/// `ApiFuture` shows as the call that made it, at the line of your code
/// that made the call.
#[must_use = "futures do nothing unless awaited"]
pub struct ApiFuture<'a, T> {
    inner: TracedFuture<BoxFuture<'a, T>>,
}

impl<'a, T> ApiFuture<'a, T> {
    /// The body `fut` of the API call `what`, recorded at the place in
    /// user code that called it (every caller up to there tracks its
    /// caller).
    #[track_caller]
    pub(crate) fn new(what: &'static str, fut: impl Future<Output = T> + Send + 'a) -> Self {
        ApiFuture {
            inner: traced_at(what, Location::caller(), Box::pin(fut)),
        }
    }
}

impl<T> Future for ApiFuture<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.get_mut().inner).poll(cx)
    }
}

impl<T> std::fmt::Debug for ApiFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiFuture").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Waker};

    use super::ApiFuture;
    use crate::stackscope;
    use crate::task_record::{Kind, Tracked};
    use crate::{ActorHandle, ActorNursery, ActorOptions, Portal, Result};

    /// Never run: that it compiles is the test. Names made on the spot,
    /// owned or borrowed, and arguments by value or by reference, leave
    /// futures that borrow only their receiver, so they can be collected
    /// and awaited later, and a task owning a portal can be spawned.
    #[allow(dead_code, clippy::needless_borrows_for_generic_args)]
    async fn futures_borrow_only_their_receiver(
        actor: ActorHandle,
        n: ActorNursery,
        portal: Portal,
        items: crate::MsgStream,
    ) -> Result<()> {
        #[derive(serde::Serialize)]
        struct X {
            x: i64,
        }
        let opts = ActorOptions::new().enable_modules(["math"]);
        let owned: Vec<ApiFuture<'_, Result<Portal>>> = (0..3)
            .map(|i| n.start_actor(format!("w{i}"), opts.clone()))
            .collect();
        let borrowed: Vec<_> = (0..3)
            .map(|i| n.start_actor(&format!("v{i}"), opts.clone()))
            .collect();
        let batch = n.start_actors((0..3).map(|i| (format!("u{i}"), opts.clone())));
        let one_shot = {
            let args = X { x: 3 };
            n.run_in_actor(
                String::from("t"),
                &String::from("math"),
                "square",
                &args,
                opts,
            )
        };
        let calls: Vec<ApiFuture<'_, Result<i64>>> = (0..3)
            .map(|i| portal.run(format!("ns{i}"), &format!("f{i}"), &X { x: i }))
            .collect();
        let contexts: Vec<_> = (0..3)
            .map(|i| portal.open_context::<()>("ns", format!("ctx{i}"), ()))
            .collect();
        let stream = {
            let func = String::from("gen");
            portal.open_stream_from("ns", &func, ())
        };
        let found = {
            let name = String::from("w0");
            (
                actor.find_actor(&name),
                actor.query_actor(&name),
                actor.wait_for_actor(&name),
            )
        };
        // A stream's sends borrow only the stream, not their items.
        let sends: Vec<_> = (0..3).map(|i| items.send(&format!("item {i}"))).collect();
        for send in sends {
            send.await?;
        }
        for spawn in owned.into_iter().chain(borrowed) {
            spawn.await?;
        }
        batch.await?;
        one_shot.await?;
        for call in calls {
            call.await?;
        }
        for ctx in contexts {
            ctx.await?;
        }
        stream.await?;
        let (find, query, wait) = found;
        find.await?;
        query.await?;
        wait.await?;
        // Each task owns its clone of the portal; its future is `Send`.
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let portal = portal.clone();
                actor.spawn(async move { portal.run::<i64>("math", "square", X { x: i }).await })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        Ok(())
    }

    #[test]
    fn api_futures_are_send_and_unpin() {
        fn check<F: Future + Send + Unpin>() {}
        check::<ApiFuture<'_, Result<Portal>>>();
        check::<ApiFuture<'_, Result<Vec<Portal>>>>();
        let _ = futures_borrow_only_their_receiver;
    }

    /// An API call of this crate's kind: it tracks its caller.
    #[track_caller]
    fn pending_call() -> ApiFuture<'static, ()> {
        ApiFuture::new("Test::pending_call", std::future::pending())
    }

    #[test]
    fn a_pending_api_future_shows_the_line_that_made_the_call() {
        stackscope::enable();
        let task = Tracked::new("api-future-test".into(), Kind::Runtime);
        let (mut call, line) = (pending_call(), line!());
        let mut cx = Context::from_waker(Waker::noop());
        let polled = task.poll(|| Pin::new(&mut call).poll(&mut cx));
        assert!(polled.is_pending());
        let dump = stackscope::dump();
        let site = format!("Test::pending_call at {}:{line}:", file!());
        assert!(dump.contains(&site), "no {site:?} in\n{dump}");
    }
}
