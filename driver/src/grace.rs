//! Graceful cancellation: a served function that asks for it
//! ([`graceful_cancel`]) is told of its cancellation instead of being
//! dropped at its next await point, and has the tree's grace period to
//! clean up and return (see `serve::Cancellable`, which decides).

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use tractor_protocol::UsageError;

use crate::error::Result;

/// What the guards of one served call share with the code that serves it.
#[derive(Debug, Default)]
pub(crate) struct GraceCell {
    /// Guards alive.
    guards: AtomicUsize,
    /// The cancellation was handed to the guards.
    delivered: AtomicBool,
    /// Who waits for it: `cancelled()` futures, and the serving task (to
    /// hear of the last guard's drop).
    wakers: Mutex<Vec<Waker>>,
}

impl GraceCell {
    /// Guards alive.
    pub(crate) fn guarded(&self) -> bool {
        self.guards.load(Ordering::SeqCst) > 0
    }

    /// The cancellation was handed to the guards.
    pub(crate) fn delivered(&self) -> bool {
        self.delivered.load(Ordering::SeqCst)
    }

    /// Hands the cancellation to the guards, waking whoever waits for it.
    pub(crate) fn deliver(&self) {
        self.delivered.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Remembers `waker` to wake at delivery or at the last guard's drop.
    pub(crate) fn watch(&self, waker: &Waker) {
        let mut wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }

    fn wake(&self) {
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in wakers {
            w.wake();
        }
    }
}

std::thread_local! {
    /// The grace cell of the served call whose function this thread polls.
    static CURRENT: RefCell<Option<Arc<GraceCell>>> = const { RefCell::new(None) };
}

/// Runs `f` (a poll of a served function) with `cell` as its call's.
pub(crate) fn in_grace<R>(cell: &Arc<GraceCell>, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<Arc<GraceCell>>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let before = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = before);
        }
    }
    let before = CURRENT.with(|c| c.borrow_mut().replace(cell.clone()));
    let _reset = Reset(before);
    f()
}

/// Asks for graceful cancellation of the served call this code runs in
/// (an rpc, context or stream function a peer called): while the returned
/// guard lives, the call's cancellation no longer drops the function at
/// its next await point. Instead [`GracefulCancel::cancelled`] resolves
/// and [`GracefulCancel::is_cancelled`] turns true, and the function has
/// the tree's grace period
/// ([`Config::cancel_grace`](crate::Config#structfield.cancel_grace), 1 s
/// by default, counted from when the cancellation reached it) to clean up
/// and return: await a flush, send a last message, call another actor.
///
/// What its caller then gets:
/// * it returns `Err(e)`: `e`, as it is (an error raised during cleanup is
///   never masked by the cancellation);
/// * it returns `Ok(_)`: the call ends cancelled, as it would have without
///   the guard (its caller asked for that);
/// * it overruns the grace period: it is dropped at its next await point,
///   as without the guard, and the call ends cancelled.
///
/// Dropping the guard ends the request: from then on a cancellation
/// (one that came already, or one to come) drops the function at its next
/// await point. In debug mode a live REPL holds the cancellation back as
/// usual; the grace starts when it reaches the function.
///
/// Called outside a served function's own code (the root's body, a task
/// it spawned), it is [`ErrorKind::Usage`](crate::ErrorKind::Usage) with
/// `UsageError::NotInServedCall`.
///
/// ```
/// use std::time::Duration;
/// # use tractor_driver::prelude::*;
///
/// /// A worker that, once cancelled, takes a moment to flush (any awaits
/// /// will do: a pause, a last stream item, a call to another actor).
/// fn functions() -> Functions {
///     Functions::new().context("jobs", "worker", |ctx: Context, (): ()| async move {
///         let guard = graceful_cancel()?;
///         ctx.started(()).await?;
///         // Work until cancelled...
///         guard.cancelled().await;
///         // ... then clean up, within the grace period.
///         let me = current_actor().expect("served in an actor");
///         me.sleep(Duration::from_millis(10)).await;
///         Ok(()) // reported as cancelled: its caller asked for that
///     })
/// }
/// # let _ = functions();
/// // Outside a served function, there is no call to guard.
/// assert!(graceful_cancel().is_err());
/// ```
pub fn graceful_cancel() -> Result<GracefulCancel> {
    let cell = CURRENT.with(|c| c.borrow().clone());
    let Some(cell) = cell else {
        return Err(UsageError::NotInServedCall("graceful_cancel").into());
    };
    cell.guards.fetch_add(1, Ordering::SeqCst);
    Ok(GracefulCancel { cell })
}

/// A served call's request for graceful cancellation, while it lives (see
/// [`graceful_cancel`]).
#[derive(Debug)]
#[must_use = "dropping the guard ends graceful cancellation at once"]
pub struct GracefulCancel {
    cell: Arc<GraceCell>,
}

impl GracefulCancel {
    /// Whether the call's cancellation has reached the function: its grace
    /// period runs.
    pub fn is_cancelled(&self) -> bool {
        self.cell.delivered()
    }

    /// Resolves once the call's cancellation has reached the function (at
    /// once if it has). Cancel-safe: dropping the future loses nothing, and
    /// any number may wait at once.
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + '_ {
        poll_fn(move |cx| {
            if self.cell.delivered() {
                return Poll::Ready(());
            }
            self.cell.watch(cx.waker());
            // Delivered between the check and the registration.
            if self.cell.delivered() {
                return Poll::Ready(());
            }
            Poll::Pending
        })
    }
}

impl Drop for GracefulCancel {
    fn drop(&mut self) {
        if self.cell.guards.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The serving task drops a cancelled function at its next
            // await point from now on: let it look.
            self.cell.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn outside_a_served_call_it_is_a_usage_error() {
        let e = graceful_cancel().unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Usage(UsageError::NotInServedCall("graceful_cancel"))
            ),
            "{e}"
        );
    }

    #[test]
    fn guards_count_and_hear_of_the_cancellation() {
        let cell: Arc<GraceCell> = Arc::default();
        let (a, b) = in_grace(&cell, || (graceful_cancel(), graceful_cancel()));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(cell.guarded() && !a.is_cancelled());
        // Not delivered: the future waits.
        let waker = Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        {
            let mut fut = std::pin::pin!(a.cancelled());
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            cell.deliver();
            assert!(fut.as_mut().poll(&mut cx).is_ready());
        }
        assert!(a.is_cancelled() && b.is_cancelled());
        drop(a);
        assert!(cell.guarded());
        drop(b);
        assert!(!cell.guarded());
        // Outside `in_grace`, no cell is current any more.
        assert!(graceful_cancel().is_err());
    }
}
