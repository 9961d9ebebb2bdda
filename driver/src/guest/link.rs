//! A task on another runtime, linked to the future that started it: the
//! future yields the task's output; dropping it cancels the task and
//! (towards a guest) waits until the task has been dropped.

use std::cell::Cell;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::error::{ErrorKind, Result};
use crate::panic::catch_panic;
use crate::runtime::BoxFuture;
use crate::task_record::{Kind, Tracked};

std::thread_local! {
    /// This thread has polled a guest task: it is one of a guest's own
    /// (a guest runtime keeps its threads to itself).
    static GUEST_THREAD: Cell<bool> = const { Cell::new(false) };
    /// This thread polls a guest task now.
    static IN_GUEST_TASK: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is polling a guest task.
fn in_guest_task() -> bool {
    IN_GUEST_TASK.with(Cell::get)
}

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

/// Runs `fut` on the actor's runtime when called from a guest task, and
/// where it is otherwise: for the actor's own waits (its timers, its
/// locks' wake-ups) that a guest's thread cannot drive.
pub(crate) async fn on_actor<T, F>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    if !in_guest_task() {
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
        if let Some(w) = st.task.take() {
            w.wake();
        }
        // A guest's own thread waiting for its guest would wait for itself.
        if self.side == Side::Actor || GUEST_THREAD.with(Cell::get) {
            return;
        }
        let deadline = Instant::now() + super::DROP_WAIT;
        while !st.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
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
        self.fut = None;
        let mut st = self.shared.lock();
        st.out = out;
        st.ended = true;
        st.task = None;
        if let Some(w) = st.caller.take() {
            w.wake();
        }
        self.shared.ended.notify_all();
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
        let guest = this.side == Side::Guest;
        if guest {
            GUEST_THREAD.with(|g| g.set(true));
        }
        let was = IN_GUEST_TASK.with(|g| g.replace(guest));
        let polled = match &this.tracked {
            Some(t) => t.poll(|| catch_panic(|| fut.as_mut().poll(cx))),
            None => catch_panic(|| fut.as_mut().poll(cx)),
        };
        IN_GUEST_TASK.with(|g| g.set(was));
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
        self.fut = None;
        let mut st = self.shared.lock();
        st.ended = true;
        st.task = None;
        if let Some(w) = st.caller.take() {
            w.wake();
        }
        self.shared.ended.notify_all();
    }
}
