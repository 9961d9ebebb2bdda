//! Background tasks on an actor's runtime, each with a handle that yields
//! its output: the part of `tokio::spawn` that code written for either
//! adapter needs.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::error::{ErrorKind, Result};
use crate::panic::catch_panic;
use crate::runtime::{BoxFuture, Runtime};
use crate::task_record::{Kind, Tracked};

/// The name of a task spawned by [`ActorHandle::spawn`](crate::ActorHandle::spawn).
pub(crate) static SPAWNED: LazyLock<Arc<str>> = LazyLock::new(|| "task".into());

/// The name of the root's body, as Python's root task is usually named.
pub(crate) static MAIN: LazyLock<Arc<str>> = LazyLock::new(|| "main".into());

/// Whether this thread is polling one of the actor's tasks: blocking it
/// could stall the very runtime a blocking call waits for.
pub(crate) fn in_task() -> bool {
    crate::task_record::current_task().is_some()
}

/// Waits for `fut` on this thread, parking it in between (for threads
/// outside the runtime: [`in_task`] is false).
pub(crate) fn wait_here<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// A task started with [`ActorHandle::spawn`](crate::ActorHandle::spawn).
///
/// Awaiting it yields the task's output, or an error when the task
/// panicked (the panic's message and place, as for a served function) or
/// was dropped by its runtime before it finished ([`ErrorKind::Cancelled`]).
/// Dropping the handle detaches the task, which runs on; a panic in a
/// detached task is logged.
#[derive(Debug)]
pub struct JoinHandle<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

#[derive(Debug)]
struct Slot<T> {
    out: Option<Result<T>>,
    waker: Option<Waker>,
    finished: bool,
    detached: bool,
}

impl<T> Slot<T> {
    fn new() -> Arc<Mutex<Self>> {
        Arc::new(Mutex::new(Slot {
            out: None,
            waker: None,
            finished: false,
            detached: false,
        }))
    }

    fn finish(&mut self, out: Result<T>) {
        self.finished = true;
        match out {
            Err(e) if self.detached => {
                tracing::error!(target: "tractor::runtime", "a detached task failed: {e}")
            }
            out => self.out = Some(out),
        }
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

fn lock<T>(slot: &Mutex<Slot<T>>) -> MutexGuard<'_, Slot<T>> {
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts `fut` on `rt` and returns its handle; the task is on record as
/// spawned by the caller.
#[track_caller]
pub(crate) fn spawn<T, F>(rt: &dyn Runtime, fut: F) -> JoinHandle<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let slot = Slot::new();
    rt.spawn(Box::pin(Task {
        fut: Box::pin(fut),
        slot: slot.clone(),
        tracked: Tracked::new(SPAWNED.clone(), Kind::Spawned(Location::caller())),
    }));
    JoinHandle { slot }
}

/// Runs the blocking `f` on a thread of its own; the handle yields what
/// it returns, or its panic as an error.
pub(crate) fn spawn_thread<T, F>(name: &str, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let slot = Slot::new();
    let theirs = slot.clone();
    let run = move || {
        let Poll::Ready(out) = catch_panic(move || Poll::Ready(Ok(f()))) else {
            unreachable!("a blocking call is always ready")
        };
        lock(&theirs).finish(out);
    };
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(run) {
        lock(&slot).finish(Err(crate::Error::runtime(format!(
            "could not start a thread: {e}"
        ))));
    }
    JoinHandle { slot }
}

impl<T> JoinHandle<T> {
    /// Whether the task has ended (its output may not be taken yet).
    pub fn is_finished(&self) -> bool {
        lock(&self.slot).finished
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T>;

    /// # Panics
    ///
    /// When polled again after it returned the output.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let mut slot = lock(&self.slot);
        if let Some(out) = slot.out.take() {
            return Poll::Ready(out);
        }
        assert!(!slot.finished, "a JoinHandle polled after it completed");
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        lock(&self.slot).detached = true;
    }
}

/// The spawned future: catches its panic and hands its output over.
struct Task<T> {
    fut: BoxFuture<'static, T>,
    slot: Arc<Mutex<Slot<T>>>,
    tracked: Tracked,
}

impl<T> Future for Task<T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let fut = &mut this.fut;
        match this
            .tracked
            .poll(|| catch_panic(|| fut.as_mut().poll(cx).map(Ok)))
        {
            Poll::Pending => Poll::Pending,
            Poll::Ready(out) => {
                lock(&self.slot).finish(out);
                Poll::Ready(())
            }
        }
    }
}

impl<T> Drop for Task<T> {
    /// A runtime that drops the task unfinished (it is shutting down)
    /// leaves its handle a cancellation rather than a hang.
    fn drop(&mut self) {
        let mut slot = lock(&self.slot);
        if !slot.finished {
            slot.finish(Err(ErrorKind::Cancelled.into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::time::Instant;

    use super::*;
    use crate::runtime::{
        Connection, Listener, Process, SignalKind, SignalStream, StdListener, Target,
    };

    /// A runtime that only queues tasks, for the test to poll by hand.
    #[derive(Default)]
    struct Queue(Mutex<Vec<BoxFuture<'static, ()>>>);

    impl Runtime for Queue {
        fn spawn(&self, task: BoxFuture<'static, ()>) {
            self.0.lock().unwrap().push(task);
        }
        fn sleep_until(&self, _: Instant) -> BoxFuture<'static, ()> {
            Box::pin(std::future::pending())
        }
        fn connect(&self, _: Target) -> BoxFuture<'static, io::Result<Connection>> {
            Box::pin(async { Err(io::ErrorKind::Unsupported.into()) })
        }
        fn listen(&self, _: StdListener) -> io::Result<Box<dyn Listener>> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn spawn_process(
            &self,
            _: std::process::Command,
            _: Option<std::process::Stdio>,
        ) -> io::Result<Box<dyn Process>> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn signal(&self, _: SignalKind) -> io::Result<Box<dyn SignalStream>> {
            Err(io::ErrorKind::Unsupported.into())
        }
    }

    impl Queue {
        /// Polls the one queued task once; whether it finished.
        fn run_once(&self) -> bool {
            let mut tasks = self.0.lock().unwrap();
            let mut cx = Context::from_waker(Waker::noop());
            tasks[0].as_mut().poll(&mut cx).is_ready()
        }
    }

    fn poll<T>(h: &mut JoinHandle<T>) -> Poll<Result<T>> {
        Pin::new(h).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn the_handle_yields_the_output_once_the_task_ends() {
        let rt = Queue::default();
        let mut h = spawn(&rt, async { 7 });
        assert!(poll(&mut h).is_pending());
        assert!(!h.is_finished());
        assert!(rt.run_once());
        assert!(h.is_finished());
        match poll(&mut h) {
            Poll::Ready(Ok(7)) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_panic_becomes_the_handles_error() {
        let rt = Queue::default();
        let mut h = spawn(&rt, async { panic!("the task gives up") });
        assert!(rt.run_once());
        match poll(&mut h) {
            Poll::Ready(Err(e)) => {
                let shown = e.to_string();
                assert!(shown.contains("the task gives up"), "{shown}");
                assert!(shown.contains("task.rs"), "{shown}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_task_dropped_unfinished_cancels_its_handle() {
        let rt = Queue::default();
        let mut h = spawn(&rt, std::future::pending::<u8>());
        assert!(!rt.run_once());
        rt.0.lock().unwrap().clear();
        match poll(&mut h) {
            Poll::Ready(Err(e)) => assert!(e.is_cancelled(), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_detached_task_runs_on() {
        let rt = Queue::default();
        let done = Arc::new(Mutex::new(false));
        let flag = done.clone();
        drop(spawn(&rt, async move { *flag.lock().unwrap() = true }));
        assert!(rt.run_once());
        assert!(*done.lock().unwrap());
    }
}
