//! What is on record of each task: its name and kind, where it waits
//! (for task-tree dumps), and the served call whose code a thread runs.
//!
//! A leaf: everything above records here (the engine its own tasks, the
//! served calls and spawned tasks theirs); [`stackscope`](crate::stackscope)
//! formats the records into a dump, and errors read whether they are made
//! in a cancelled call.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;

use tractor_protocol::DialogId;

pub(crate) static ENABLED: AtomicBool = AtomicBool::new(false);

pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// What a task is, for the dump.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// The root's body.
    Main,
    /// A task of `ActorHandle::spawn`, spawned here.
    Spawned(&'static Location<'static>),
    /// A function served to a peer: its dialog.
    Call(DialogId),
    /// The runtime's own.
    Runtime,
    /// A task on the actor's guest runtime (see `guest`), started at
    /// `at` by the task on record as `linked`.
    Guest {
        runtime: &'static str,
        linked: Option<u64>,
        at: &'static Location<'static>,
    },
}

/// One place a task waits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub(crate) what: &'static str,
    pub(crate) at: &'static Location<'static>,
}

#[derive(Debug, Default)]
pub(crate) struct Trace {
    /// In a poll since then, on this thread (its kernel id).
    pub(crate) polling: Option<(Instant, i32)>,
    /// Traced futures entered in the poll under way, outermost first.
    pub(crate) entered: Vec<Frame>,
    /// Pending traced futures of the poll under way, innermost first.
    pub(crate) building: Vec<(usize, Frame)>,
    /// Pending traced futures at the end of the last poll.
    pub(crate) waiting: Vec<(usize, Frame)>,
    /// When the last poll ended.
    pub(crate) idle_since: Option<Instant>,
}

/// One task on record.
#[derive(Debug)]
pub(crate) struct TaskRecord {
    pub(crate) id: u64,
    /// A served call's function name, `main` for the root's body, `task`
    /// for a spawned task, or what the runtime calls its own.
    pub(crate) name: Arc<str>,
    pub(crate) kind: Kind,
    trace: Mutex<Trace>,
}

impl TaskRecord {
    pub(crate) fn trace(&self) -> MutexGuard<'_, Trace> {
        self.trace.lock().unwrap_or_else(|e| e.into_inner())
    }
}

static TASKS: Mutex<BTreeMap<u64, Arc<TaskRecord>>> = Mutex::new(BTreeMap::new());
static NEXT_TASK: AtomicU64 = AtomicU64::new(1);

pub(crate) fn tasks() -> MutexGuard<'static, BTreeMap<u64, Arc<TaskRecord>>> {
    TASKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A task's place on record, for as long as the task lives.
#[derive(Debug)]
pub(crate) struct Tracked(Arc<TaskRecord>);

impl Tracked {
    /// Puts a task named `name` on record.
    pub(crate) fn new(name: Arc<str>, kind: Kind) -> Self {
        let record = Arc::new(TaskRecord {
            id: NEXT_TASK.fetch_add(1, Ordering::Relaxed),
            name,
            kind,
            trace: Mutex::new(Trace::default()),
        });
        tasks().insert(record.id, record.clone());
        Tracked(record)
    }

    /// Runs `f` as a poll of this task: code in it can tell which task it
    /// runs in, and (with dumps on) where the task waits is recorded.
    pub(crate) fn poll<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Reset(Option<(Arc<TaskRecord>, usize)>, bool);
        impl Drop for Reset {
            fn drop(&mut self) {
                let mine = CURRENT.with(|c| c.replace(self.0.take()));
                if self.1
                    && let Some((record, _)) = mine
                {
                    let mut t = record.trace();
                    t.polling = None;
                    t.entered.clear();
                    t.waiting = std::mem::take(&mut t.building);
                    t.idle_since = Some(Instant::now());
                }
            }
        }
        let on = enabled();
        if on {
            let mut t = self.0.trace();
            t.polling = Some((Instant::now(), nix::unistd::gettid().as_raw()));
            t.building.clear();
        }
        let before = CURRENT.with(|c| c.replace(Some((self.0.clone(), 0))));
        let _reset = Reset(before, on);
        f()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        tasks().remove(&self.0.id);
    }
}

std::thread_local! {
    /// The task this thread polls, and how deep in traced futures.
    static CURRENT: RefCell<Option<(Arc<TaskRecord>, usize)>> = const { RefCell::new(None) };
}

/// The name of the task this thread polls, if it polls one.
pub(crate) fn current_task() -> Option<Arc<str>> {
    CURRENT.with(|c| c.borrow().as_ref().map(|(r, _)| r.name.clone()))
}

/// The record id of the task this thread polls, if it polls one.
pub(crate) fn current_task_id() -> Option<u64> {
    CURRENT.with(|c| c.borrow().as_ref().map(|(r, _)| r.id))
}

/// A runtime task: `fut`, on record as `name`.
pub(crate) fn runtime_task(
    name: String,
    fut: impl Future<Output = ()> + Send + 'static,
) -> crate::runtime::BoxFuture<'static, ()> {
    let tracked = Tracked::new(name.into(), Kind::Runtime);
    let mut fut = Box::pin(fut);
    Box::pin(std::future::poll_fn(move |cx| {
        tracked.poll(|| fut.as_mut().poll(cx))
    }))
}

pin_project_lite::pin_project! {
    /// A future that records where it is awaited while pending (see
    /// [`Traced::traced`]).
    #[must_use = "futures do nothing unless awaited"]
    pub struct TracedFuture<F> {
        #[pin]
        inner: F,
        frame: Frame,
    }
}

impl<F: Future> Future for TracedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if !enabled() {
            return this.inner.poll(cx);
        }
        let frame = *this.frame;
        let Some((record, depth)) = CURRENT.with(|c| {
            let mut c = c.borrow_mut();
            let (record, depth) = c.as_mut()?;
            *depth += 1;
            Some((record.clone(), *depth - 1))
        }) else {
            return this.inner.poll(cx);
        };
        record.trace().entered.push(frame);
        struct Leave<'a>(&'a TaskRecord);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.trace().entered.pop();
                CURRENT.with(|c| {
                    if let Some((_, depth)) = c.borrow_mut().as_mut() {
                        *depth = depth.saturating_sub(1);
                    }
                });
            }
        }
        let leave = Leave(&record);
        let out = this.inner.poll(cx);
        drop(leave);
        if out.is_pending() {
            record.trace().building.push((depth, frame));
        }
        out
    }
}

/// Marks a future's await site for task-tree dumps: while it is pending,
/// a dump shows `what` and the place that called `traced`.
pub trait Traced: Future + Sized {
    /// This future, recorded as `what` at the caller's place while
    /// pending (only when dumps are on; otherwise a plain poll).
    #[track_caller]
    fn traced(self, what: &'static str) -> TracedFuture<Self> {
        traced_at(what, Location::caller(), self)
    }
}

impl<F: Future> Traced for F {}

/// A future of tractor's API, recorded as `what` at the place in user
/// code that called it (every caller up to there tracks its caller).
#[track_caller]
pub(crate) fn api<F: Future>(what: &'static str, fut: F) -> TracedFuture<F> {
    traced_at(what, Location::caller(), fut)
}

/// `fut`, recorded as `what` at `at` while pending.
pub(crate) fn traced_at<F: Future>(
    what: &'static str,
    at: &'static Location<'static>,
    fut: F,
) -> TracedFuture<F> {
    TracedFuture {
        inner: fut,
        frame: Frame { what, at },
    }
}

std::thread_local! {
    /// The call whose function this thread is polling or dropping.
    static CURRENT_CALL: std::cell::Cell<Option<DialogId>> = const { std::cell::Cell::new(None) };
    /// Whether that call's cancellation had come when this began (see
    /// [`in_cancelled_call`]).
    static CALL_CANCELLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` as part of `dialog`'s function, the task `tracked`;
/// `cancelled`: the call's cancellation has come.
pub(crate) fn in_call<R>(
    dialog: DialogId,
    cancelled: bool,
    tracked: &Tracked,
    f: impl FnOnce() -> R,
) -> R {
    let before = CURRENT_CALL.with(|c| c.replace(Some(dialog)));
    let r = as_call(cancelled, || tracked.poll(f));
    CURRENT_CALL.with(|c| c.set(before));
    r
}

/// Runs `f` as (part of) a served function whose cancellation has come,
/// or has not.
pub(crate) fn as_call<R>(cancelled: bool, f: impl FnOnce() -> R) -> R {
    let before = CALL_CANCELLED.with(|c| c.replace(cancelled));
    let r = f();
    CALL_CANCELLED.with(|c| c.set(before));
    r
}

/// The served call whose code runs on this thread now, if any.
pub(crate) fn current_call() -> Option<DialogId> {
    CURRENT_CALL.with(|c| c.get())
}

std::thread_local! {
    /// The function being polled dropped its context's stream: the `Stop`
    /// waits for the end of the poll.
    static HELD_STOP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a context stream of `dialog` dropped now holds its `Stop` back
/// until the end of the function's poll (see [`held_stop`]); if so it is
/// held.
pub(crate) fn hold_stop(dialog: DialogId) -> bool {
    let ours = current_call() == Some(dialog);
    if ours {
        HELD_STOP.with(|h| h.set(true));
    }
    ours
}

/// Runs `f` (a poll or the drop of a function), and says whether it
/// dropped its context's stream. A function that fails drops its stream on
/// the way out, in the same poll: its error then ends the stream for the
/// opener, with no `Stop` before it that would read as a normal end.
pub(crate) fn held_stop<R>(f: impl FnOnce() -> R) -> (R, bool) {
    let before = HELD_STOP.with(|h| h.replace(false));
    let r = f();
    (r, HELD_STOP.with(|h| h.replace(before)))
}

/// Whether the code running on this thread is a served function whose
/// cancellation came before this step of it began (not in debug mode): a
/// function that fails in its first step although its actor is already
/// being cancelled (its call was read just before the cancel request).
/// Such a failure is its own, not the cancellation's, and must reach the
/// caller before the reaper's deadlines end the process: its traceback
/// skips the backtrace, whose first resolution in a process can take
/// longer than that (see `serve::settle_failure` for a failure made before).
pub(crate) fn in_cancelled_call() -> bool {
    CALL_CANCELLED.with(|c| c.get())
}
