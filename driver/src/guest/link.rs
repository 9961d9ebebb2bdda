//! A task on another runtime, linked to the future that started it: the
//! future yields the task's output; dropping it cancels the task and
//! (towards a guest) waits until the task has been dropped.

use std::cell::Cell;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::error::{ErrorKind, Result};
use crate::panic::catch_panic;
use crate::runtime::BoxFuture;
use crate::task_record::{Kind, Tracked};

std::thread_local! {
    /// This thread is one of a guest's own: marked when the guest starts
    /// it ([`mark_guest_thread`]), or when it first polls a guest task.
    static GUEST_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as one of a guest runtime's own (see
/// [`Guest`](crate::runtime::Guest)): a link to a guest task dropped here
/// does not wait for the guest (it would wait for this very thread), and
/// tractor's waits ([`pause()`](crate::pause())) made here run on the
/// actor's runtime. A guest calls it on each thread it starts.
pub fn mark_guest_thread() {
    GUEST_THREAD.with(|g| g.set(true));
}

/// Whether this thread is one of a guest's.
fn on_guest_thread() -> bool {
    GUEST_THREAD.with(Cell::get)
}

/// Polls of guest tasks so far, process-wide: how a dropped link tells a
/// guest that does not move any more from one that is merely busy.
pub(super) static PROGRESS: AtomicU64 = AtomicU64::new(0);
/// [`PROGRESS`] when a dropped link last gave up waiting (`u64::MAX`:
/// never). While it stays there, the guest has not polled anything
/// since: later drops do not wait (so that a blocked guest costs one
/// [`DROP_WAIT`](super::DROP_WAIT), not one per link).
pub(super) static STALLED_AT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Where a linked task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// On the guest: a dropped link waits for it.
    Guest,
    /// On the actor's runtime, started from a guest task: a dropped link
    /// only cancels it (the actor's teardown waits for its own tasks; a
    /// guest thread waiting on the actor's could wait on itself).
    Actor,
}

struct State<T> {
    out: Option<Result<T>>,
    /// The task's future is gone: finished, cancelled or dropped by its
    /// runtime.
    ended: bool,
    /// The link was dropped: the task is to drop its future.
    cancel: bool,
    caller: Option<Waker>,
    task: Option<Waker>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    ended: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The future that started a linked task: it yields the task's output,
/// its panic as an error, or [`ErrorKind::Cancelled`] if its runtime
/// dropped it unfinished (it shut down).
pub(crate) struct Link<T> {
    shared: Arc<Shared<T>>,
    side: Side,
    runtime: &'static str,
}

/// Starts `fut` on the guest through `spawn`, linked to the returned
/// future; on record (for dumps) under the task polling the caller.
pub(crate) fn to_guest<T, F>(
    spawn: impl FnOnce(BoxFuture<'static, ()>),
    runtime: &'static str,
    at: &'static Location<'static>,
    fut: F,
) -> Link<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let linked = crate::task_record::current_task_id();
    let tracked = Tracked::new(
        "guest".into(),
        Kind::Guest {
            runtime,
            linked,
            at,
        },
    );
    start(spawn, Side::Guest, runtime, Some(tracked), fut)
}

fn start<T, F>(
    spawn: impl FnOnce(BoxFuture<'static, ()>),
    side: Side,
    runtime: &'static str,
    tracked: Option<Tracked>,
    fut: F,
) -> Link<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            out: None,
            ended: false,
            cancel: false,
            caller: None,
            task: None,
        }),
        ended: Condvar::new(),
    });
    spawn(Box::pin(Linked {
        fut: Some(Box::pin(fut)),
        shared: shared.clone(),
        side,
        tracked,
    }));
    Link {
        shared,
        side,
        runtime,
    }
}

/// Runs `fut` on the actor's runtime when polled on a guest's thread,
/// and where it is otherwise: for the actor's own waits (its timers, its
/// locks' wake-ups) that a guest's thread cannot drive.
pub(crate) async fn on_actor<T, F>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    if !on_guest_thread() {
        return fut.await;
    }
    let shared = crate::engine::current()
        .ok_or_else(|| crate::error::Error::runtime("no actor runs in this process any more"))?;
    let rt = shared.rt.clone();
    let link = start(move |t| rt.spawn(t), Side::Actor, "actor", None, fut);
    link.await
}

impl<T> Future for Link<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let mut st = self.shared.lock();
        if let Some(out) = st.out.take() {
            return Poll::Ready(out);
        }
        if st.ended {
            return Poll::Ready(Err(ErrorKind::Cancelled.into()));
        }
        if !st.caller.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.caller = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<T> Drop for Link<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if st.ended {
            return;
        }
        st.cancel = true;
        let task = st.task.take();
        drop(st);
        if let Some(w) = task {
            w.wake();
        }
        // A guest's own thread waiting for its guest would wait for
        // itself; a guest that has not moved since a wait gave up would
        // only make this one give up too.
        let progress = PROGRESS.load(Ordering::SeqCst);
        if self.side == Side::Actor
            || on_guest_thread()
            || STALLED_AT.load(Ordering::SeqCst) == progress
        {
            return;
        }
        let deadline = Instant::now() + super::DROP_WAIT;
        let mut st = self.shared.lock();
        while !st.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                STALLED_AT.store(PROGRESS.load(Ordering::SeqCst), Ordering::SeqCst);
                tracing::error!(
                    target: "tractor::runtime",
                    guest = self.runtime,
                    "a cancelled guest task was not dropped within {:?} (its thread is blocked?): it is left to the guest's shutdown",
                    super::DROP_WAIT
                );
                return;
            }
            st = self
                .shared
                .ended
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The task on the other runtime: polls `fut` until it ends or its link
/// is dropped.
struct Linked<T, F> {
    fut: Option<Pin<Box<F>>>,
    shared: Arc<Shared<T>>,
    side: Side,
    tracked: Option<Tracked>,
}

impl<T, F: Future<Output = Result<T>>> Linked<T, F> {
    /// Drops the future, then tells the link it is gone.
    fn end(&mut self, out: Option<Result<T>>) {
        drop_quietly(self.fut.take());
        self.shared.finish(out);
    }
}

impl<T> Shared<T> {
    /// The task's future is gone, with its output if it finished.
    fn finish(&self, out: Option<Result<T>>) {
        let mut st = self.lock();
        st.out = out;
        st.ended = true;
        st.task = None;
        let caller = st.caller.take();
        drop(st);
        self.ended.notify_all();
        if let Some(w) = caller {
            w.wake();
        }
    }
}

impl<T, F: Future<Output = Result<T>>> Future for Linked<T, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Every field is Unpin (the future is boxed).
        let this = Pin::into_inner(self);
        {
            let mut st = this.shared.lock();
            if st.cancel {
                drop(st);
                this.end(None);
                return Poll::Ready(());
            }
            if !st.task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.task = Some(cx.waker().clone());
            }
        }
        let Some(fut) = this.fut.as_mut() else {
            return Poll::Ready(());
        };
        if this.side == Side::Guest {
            mark_guest_thread();
            PROGRESS.fetch_add(1, Ordering::Relaxed);
        }
        let polled = match &this.tracked {
            Some(t) => t.poll(|| catch_panic(|| fut.as_mut().poll(cx))),
            None => catch_panic(|| fut.as_mut().poll(cx)),
        };
        match polled {
            Poll::Ready(out) => {
                this.end(Some(out));
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, F> Drop for Linked<T, F> {
    /// A runtime that drops the task unfinished (it is shutting down)
    /// ends its link with a cancellation.
    fn drop(&mut self) {
        if self.fut.is_none() {
            return;
        }
        drop_quietly(self.fut.take());
        self.shared.finish(None);
    }
}

/// Drops `value`, logging a panic of its drop rather than letting it
/// unwind past the link: the link would never learn that the task ended,
/// and its caller would wait for it.
fn drop_quietly<T>(value: T) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(value))).is_err() {
        tracing::error!(target: "tractor::runtime", "a linked task's future panicked while it was dropped");
    }
}
