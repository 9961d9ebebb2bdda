//! Serving calls: what runs one invoked function to its end, cancels it
//! at its next await point when the core says so (or, for a function that
//! asked for graceful cancellation, tells it and gives it the tree's grace
//! period to return), and reports its outcome. The actor installs this as
//! the engine's dispatcher.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};

use tractor_protocol::{DialogId, Raw, TaskError};

use crate::engine::{Dispatch, Invoke, Shared};
use crate::error::{Error, ErrorKind, Result};
use crate::functions::Functions;
use crate::grace::{GraceCell, in_grace};
use crate::panic::catch_panic;
use crate::runtime::BoxFuture;
use crate::task_record::{Kind, Tracked, held_stop, in_call};

/// The program's functions, served: the engine's dispatcher.
pub(crate) struct Served(Arc<Functions>);

impl Served {
    /// Serves `functions`.
    pub(crate) fn new(functions: Functions) -> Arc<Self> {
        Arc::new(Served(Arc::new(functions)))
    }
}

impl Dispatch for Served {
    fn task_dump(&self) -> String {
        crate::stackscope::dump_on_request()
    }

    fn invoke(&self, shared: Arc<Shared>, call: Invoke) -> BoxFuture<'static, ()> {
        Box::pin(run_callee(shared, self.0.clone(), call))
    }

    fn call_local(
        &self,
        ns: &str,
        func: &str,
        kwargs: Raw,
    ) -> Result<BoxFuture<'static, Result<Raw>>> {
        self.0.run_local(ns, func, kwargs)
    }
}

/// Runs one invoked function to its end, and reports its outcome.
pub(crate) async fn run_callee(shared: Arc<Shared>, functions: Arc<Functions>, call: Invoke) {
    let Invoke {
        dialog,
        ns,
        func,
        kwargs,
        kind,
    } = call;
    let prepared = functions.prepare(&shared, dialog, &ns, &func, kwargs, kind);
    let fut = match prepared {
        Ok(fut) => fut,
        Err(e) => {
            shared.with(|st, _| {
                st.dialogs.remove(&dialog);
                let _ = st.actor.reject(dialog, e.to_task_error());
                st.wake_all();
            });
            return;
        }
    };
    if shared.with(|st, _| st.actor.accept(dialog)).is_err() {
        return;
    }
    tracing::debug!(target: "tractor::transport", %ns, %func, %dialog, "serving");
    // Python names a served call's task after its function.
    let name: Arc<str> = func.as_str().into();
    let outcome = Cancellable {
        fut: Some(fut),
        shared: shared.clone(),
        dialog,
        tracked: Tracked::new(name.clone(), Kind::Call(dialog)),
        started: false,
        cancelled: false,
        grace: Arc::default(),
        grace_over: None,
    }
    .await;
    // Children that failed before the cancellation reached their nursery
    // make the call fail, not merely end cancelled.
    let failed = crate::nursery::dropped_failures(&shared, dialog).await;
    let outcome = match outcome {
        Err(e) if e.is_cancelled() => Err(Error::group(failed).unwrap_or(e)),
        outcome => outcome,
    };
    if let Err(e) = &outcome
        && e.unsettled()
    {
        settle_failure(&shared, dialog, e).await;
    }
    // In debug mode a failure opens a REPL here first, before the error
    // travels on.
    if let Err(e) = &outcome {
        crate::debug::crashed(&shared, &name, e).await;
    }
    let outcome = outcome.map_err(|e| e.to_task_error());
    if let Err(TaskError::Local(e)) = &outcome {
        tracing::debug!(target: "tractor::runtime", %ns, %func, error = %e, "served function failed");
    }
    shared.with(|st, _| {
        st.dialogs.remove(&dialog);
        if let Err(e) = st.actor.finish(dialog, outcome) {
            tracing::debug!(target: "tractor::runtime", %dialog, error = %e, "finish refused");
        }
        // Teardown waits for the last running function to end.
        if st.actor.running_functions() == 0 {
            st.wake_all();
        }
    });
}

/// Settles a served function's failure before it is sent: its
/// backtrace is resolved beside the runtime, and waited for only until
/// the call's cancellation comes; then the failure goes at once, without
/// it. A function that failed before its cancellation came reports its
/// own failure (never a cancellation), and that report must leave before
/// the reaper's deadlines end the process, however long the first
/// resolution of a backtrace takes in it. Not in debug mode, where the
/// failure's REPL shows the backtrace and the reaper waits for it.
async fn settle_failure(shared: &Arc<Shared>, dialog: DialogId, e: &Error) {
    let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
    let mut resolving = false;
    poll_fn(|cx| {
        *waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        if !e.unsettled() {
            return Poll::Ready(());
        }
        let cancelled = shared.with(|st, _| {
            st.watch(dialog, cx);
            !st.actor.runtime_vars().debug_mode
                && st
                    .dialogs
                    .get(&dialog)
                    .is_some_and(|slot| slot.cancel.is_some())
        });
        if cancelled {
            e.settle_without_backtrace();
            return Poll::Ready(());
        }
        if !resolving {
            resolving = true;
            let waker = waker.clone();
            e.settle(move || {
                if let Some(w) = waker.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    w.wake();
                }
            });
        }
        Poll::Pending
    })
    .await
}

/// A served function's future, dropped at its next await point once the
/// core asks for its cancellation; a panic in it becomes its error.
///
/// A function always runs to its first await point, even if its
/// cancellation came before it was ever polled (a call whose `Start` was
/// read just before an actor-wide cancel): as a cancelled trio task runs
/// to its first checkpoint, a function that fails before it awaits
/// anything reports that failure, not a cancellation. Only a poll that
/// leaves the function pending counts as an await point: an await that
/// completes at once (a value already there, a free lock) does not stop
/// it.
///
/// A function holding a `GracefulCancel` guard is not dropped: its guard
/// is told of the cancellation, and it has the tree's grace period (from
/// then) to return; after that, or once its last guard is dropped, it is
/// dropped at its next await point as any other. A failure it returns then
/// is its outcome; a value counts as the cancellation's end.
struct Cancellable {
    fut: Option<BoxFuture<'static, Result<Raw>>>,
    shared: Arc<Shared>,
    dialog: DialogId,
    /// The task on record, named after the function.
    tracked: Tracked,
    /// The function has been polled once: it has reached its first await
    /// point, and a cancellation may drop it from now on.
    started: bool,
    /// Its cancellation had come when it was last polled, outside debug
    /// mode (see `task_record::in_cancelled_call`).
    cancelled: bool,
    /// What its graceful-cancellation guards share with us.
    grace: Arc<GraceCell>,
    /// The end of its grace period, once its cancellation was handed to
    /// its guards.
    grace_over: Option<BoxFuture<'static, ()>>,
}

impl Cancellable {
    /// Hands the cancellation to the function's guards, once, and starts
    /// its grace period.
    fn deliver(&mut self, now: std::time::Instant) {
        if self.grace.delivered() {
            return;
        }
        let grace = self.shared.with(|st, _| st.actor.cancel_grace());
        let dialog = self.dialog;
        tracing::debug!(target: "tractor::cancel", %dialog, ?grace, "cancelled with a grace period");
        self.grace_over = Some(self.shared.rt.sleep_until(now + grace));
        self.grace.deliver();
    }

    /// Whether the grace period has run out (the timer is watched from now
    /// on).
    fn grace_over(&mut self, cx: &mut TaskContext<'_>) -> bool {
        let over = self
            .grace_over
            .as_mut()
            .is_some_and(|t| t.as_mut().poll(cx).is_ready());
        if over {
            let dialog = self.dialog;
            tracing::info!(target: "tractor::cancel", %dialog, "grace period over: dropping the cancelled function");
        }
        over
    }
}

impl Drop for Cancellable {
    fn drop(&mut self) {
        // The function's own drops (its guards' cleanup) run as part of it,
        // and can tell whether it was cancelled.
        // A stream dropped here goes with a cancelled or failed function:
        // the error that follows ends it.
        if let Some(fut) = self.fut.take() {
            held_stop(|| in_call(self.dialog, self.cancelled, &self.tracked, || drop(fut)));
        }
    }
}

impl Future for Cancellable {
    type Output = Result<Raw>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let dialog = self.dialog;
        let (cancelled, debug_mode, now) = self.shared.with(|st, now| {
            st.watch(dialog, cx);
            let cancelled = st
                .dialogs
                .get(&dialog)
                .is_some_and(|slot| slot.cancel.is_some());
            (cancelled, st.actor.runtime_vars().debug_mode, now)
        });
        // The last guard's drop, or the cancellation handed to them, wakes
        // us too.
        self.grace.watch(cx.waker());
        // A REPL live or due holds cancellation back until it ends (its
        // end wakes us).
        let cancel = cancelled && !crate::debug::held(&self.shared);
        // A function that waits at an await point is dropped there; one
        // never polled runs to its first. One that holds a guard is told,
        // and dropped only once its grace is over.
        if cancel && self.started {
            if !self.grace.guarded() {
                return Poll::Ready(Err(ErrorKind::Cancelled.into()));
            }
            self.deliver(now);
            if self.grace_over(cx) {
                return Poll::Ready(Err(ErrorKind::Cancelled.into()));
            }
        }
        let this = &mut *self;
        let Some(fut) = this.fut.as_mut() else {
            return Poll::Ready(Err(Error::runtime(
                "a served function polled after it ended",
            )));
        };
        this.started = true;
        // In debug mode a failure keeps its backtrace for the REPL (whose
        // reaper waits for it).
        this.cancelled = cancel && !debug_mode;
        let cancelled = this.cancelled;
        let grace = this.grace.clone();
        let (poll, held) = held_stop(|| {
            in_call(dialog, cancelled, &this.tracked, || {
                in_grace(&grace, || catch_panic(|| fut.as_mut().poll(cx)))
            })
        });
        // The function dropped its stream and goes on, or returned: the
        // `Stop` goes now (before the `Return`).
        if held && !matches!(poll, Poll::Ready(Err(_))) {
            this.shared.with(|st, _| {
                if let Err(e) = st.actor.close_stream(dialog) {
                    tracing::debug!(target: "tractor::transport", %dialog, error = %e, "stream not closed");
                }
            });
        }
        match poll {
            // A function told of its cancellation that returns a value
            // ends cancelled, as its caller asked.
            Poll::Ready(Ok(_)) if this.grace.delivered() => {
                Poll::Ready(Err(ErrorKind::Cancelled.into()))
            }
            // Its outcome counts even if the cancellation came first: a
            // failure goes to the caller as it is.
            Poll::Ready(outcome) => Poll::Ready(outcome),
            // It holds a guard: it is told (polled again at once to see
            // it), and dropped only once its grace is over.
            Poll::Pending if cancel && this.grace.guarded() => {
                if !this.grace.delivered() {
                    this.deliver(now);
                    cx.waker().wake_by_ref();
                }
                if this.grace_over(cx) {
                    return Poll::Ready(Err(ErrorKind::Cancelled.into()));
                }
                Poll::Pending
            }
            // It has reached its first await point: a pending cancellation
            // takes effect there.
            Poll::Pending if cancel => Poll::Ready(Err(ErrorKind::Cancelled.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}
