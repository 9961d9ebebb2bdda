//! The functions a program offers to other actors, and how a call into one
//! runs.

use std::collections::BTreeMap;
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Once};
use std::task::{Context as TaskContext, Poll, Waker};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tractor_protocol::{DialogId, Endpoints, FuncType, LocalError, Raw, TaskError};

use crate::engine::Shared;
use crate::error::{Error, ErrorKind, PayloadErrorWrap, Result};
use crate::portal::{Context, MsgStream};
use crate::runtime::BoxFuture;
use crate::stackscope::{Kind, Tracked};

type Call = dyn Fn(Invocation) -> Result<BoxFuture<'static, Result<Raw>>> + Send + Sync;

/// A plain function called with its keyword arguments alone, in process.
type Plain = dyn Fn(Raw) -> Result<BoxFuture<'static, Result<Raw>>> + Send + Sync;

/// What a call into a served function gets.
pub(crate) struct Invocation {
    shared: Arc<Shared>,
    dialog: DialogId,
    kwargs: Raw,
}

struct Handler {
    kind: FuncType,
    call: Arc<Call>,
    /// A plain function's body, for calls this actor makes to itself.
    plain: Option<Arc<Plain>>,
}

/// The functions a program can serve to other actors, by `(ns, func)`.
///
/// A program declares its whole catalogue once and passes it to the entry
/// point (the root, or a child started from the same binary). Which of
/// these an actor really serves is decided per actor, by namespace, as in
/// Python: the root serves its `enable_modules`, a child what its parent
/// enabled for it. A call into another namespace fails with
/// `ModuleNotExposed`.
///
/// Arguments travel as a keyword map (`Start.kwargs`): a function takes one
/// `serde` struct whose fields are the keyword names, or `()` for none.
/// Pick Python's module path and function name as `(ns, func)` to stand in
/// for a Python function, or any dotted name for a Rust one.
///
/// ```
/// # use tractor_driver::prelude::*;
/// #[derive(serde::Deserialize)]
/// struct Square { x: i64 }
///
/// let functions = Functions::new()
///     .rpc("math", "square", |a: Square| async move { Ok::<_, Error>(a.x * a.x) })
///     .context("math", "counter", |ctx: Context, (): ()| async move {
///         ctx.started(0u32).await?;
///         Ok::<_, Error>(())
///     });
/// assert!(functions.contains("math", "square"));
/// ```
#[derive(Default, Clone)]
pub struct Functions {
    handlers: BTreeMap<(String, String), Handler>,
}

impl Clone for Handler {
    fn clone(&self) -> Self {
        Handler {
            kind: self.kind,
            call: self.call.clone(),
            plain: self.plain.clone(),
        }
    }
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.handlers.keys()).finish()
    }
}

impl Functions {
    /// No functions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves an async function (Python's plain `async def`, called with
    /// `Portal::run`): its arguments, then its one result.
    pub fn rpc<A, T, F, Fut>(self, ns: &str, func: &str, f: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        T: Serialize + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let name = format!("{ns}:{func}");
        let plain: Arc<Plain> = Arc::new(move |kwargs: Raw| {
            let args = decode_args::<A>(&name, &kwargs)?;
            let fut = f(args);
            Ok(Box::pin(async move { encode_result(fut.await?) }))
        });
        let body = plain.clone();
        self.add(
            ns,
            func,
            FuncType::AsyncFunc,
            move |inv: Invocation| body(inv.kwargs),
            Some(plain),
        )
    }

    /// Serves a context function (Python's `@tractor.context`): it gets a
    /// [`Context`] to send `started`, open a two-way stream, and ends with
    /// its result.
    pub fn context<A, T, F, Fut>(self, ns: &str, func: &str, f: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        T: Serialize + Send + 'static,
        F: Fn(Context, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let name = format!("{ns}:{func}");
        self.add(
            ns,
            func,
            FuncType::Context,
            move |inv: Invocation| {
                let args = decode_args::<A>(&name, &inv.kwargs)?;
                let ctx = Context::callee(inv.shared, inv.dialog);
                let fut = f(ctx, args);
                Ok(Box::pin(async move { encode_result(fut.await?) }))
            },
            None,
        )
    }

    /// Serves a one-way stream (Python's async generator, read with
    /// `Portal::open_stream_from`): it sends items on the [`MsgStream`] it
    /// gets, and the stream ends when it returns.
    pub fn stream<A, F, Fut>(self, ns: &str, func: &str, f: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        F: Fn(MsgStream, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let name = format!("{ns}:{func}");
        self.add(
            ns,
            func,
            FuncType::AsyncGen,
            move |inv: Invocation| {
                let args = decode_args::<A>(&name, &inv.kwargs)?;
                let stream = MsgStream::generator(inv.shared, inv.dialog);
                let fut = f(stream, args);
                Ok(Box::pin(async move {
                    fut.await?;
                    Ok(Raw::NIL)
                }))
            },
            None,
        )
    }

    fn add(
        mut self,
        ns: &str,
        func: &str,
        kind: FuncType,
        call: impl Fn(Invocation) -> Result<BoxFuture<'static, Result<Raw>>> + Send + Sync + 'static,
        plain: Option<Arc<Plain>>,
    ) -> Self {
        self.handlers.insert(
            (ns.to_owned(), func.to_owned()),
            Handler {
                kind,
                call: Arc::new(call),
                plain,
            },
        );
        self
    }

    /// Adds every function of `other` (its entries win on a clash).
    pub fn merge(mut self, other: Functions) -> Self {
        self.handlers.extend(other.handlers);
        self
    }

    /// Whether `(ns, func)` is in the catalogue.
    pub fn contains(&self, ns: &str, func: &str) -> bool {
        self.handlers
            .contains_key(&(ns.to_owned(), func.to_owned()))
    }

    /// The catalogue as the core's RPC table, restricted to `namespaces`.
    pub(crate) fn endpoints(&self, namespaces: Option<&[String]>) -> Endpoints {
        let mut e = Endpoints::new();
        for ((ns, func), h) in &self.handlers {
            e.insert(ns.clone(), func.clone(), h.kind);
        }
        if let Some(keep) = namespaces {
            e.retain_namespaces(|ns| keep.iter().any(|k| k == ns));
            for ns in keep {
                if e.namespaces().all(|n| n != ns) {
                    e = e.expose_namespace(ns.clone());
                }
            }
        }
        e
    }

    /// The plain function `ns:func` called with `kwargs`, to run in the
    /// caller's task (a call this actor makes to itself, which its core
    /// allowed): its future, or the `TypeError` of arguments that do not
    /// fit.
    pub(crate) fn run_local(
        &self,
        ns: &str,
        func: &str,
        kwargs: Raw,
    ) -> Result<BoxFuture<'static, Result<Raw>>> {
        match self.get(ns, func).and_then(|h| h.plain.as_ref()) {
            Some(plain) => plain(kwargs),
            None => Err(Error::raise(
                "AttributeError",
                format!("{ns}:{func} is not served as a plain function by this program"),
            )),
        }
    }

    fn get(&self, ns: &str, func: &str) -> Option<&Handler> {
        self.handlers.get(&(ns.to_owned(), func.to_owned()))
    }
}

/// Reads keyword arguments into `A`; `()` also takes an empty map.
pub(crate) fn decode_args<A: DeserializeOwned>(name: &str, kwargs: &Raw) -> Result<A> {
    match kwargs.decode::<A>() {
        Ok(a) => Ok(a),
        Err(e) => {
            if kwargs.as_bytes() == Raw::EMPTY_MAP.as_bytes()
                && let Ok(a) = Raw::NIL.decode::<A>()
            {
                return Ok(a);
            }
            Err(Error::raise(
                "TypeError",
                format!("{name}() got bad arguments: {e}"),
            ))
        }
    }
}

/// Writes arguments as a keyword map; `()` becomes an empty map.
pub(crate) fn encode_args<A: Serialize + ?Sized>(args: &A) -> Result<Raw> {
    let raw = Raw::encode(args).map_err(|e| Error::from(PayloadErrorWrap::from(e)))?;
    if raw.is_nil() {
        return Ok(Raw::EMPTY_MAP);
    }
    Ok(raw)
}

fn encode_result<T: Serialize>(value: T) -> Result<Raw> {
    Raw::encode(&value).map_err(|e| Error::from(PayloadErrorWrap::from(e)))
}

/// Runs one invoked function to its end, and reports its outcome.
pub(crate) async fn run_callee(
    shared: Arc<Shared>,
    dialog: DialogId,
    ns: String,
    func: String,
    kwargs: Raw,
    kind: FuncType,
) {
    let handler = shared
        .functions
        .get(&ns, &func)
        .filter(|h| h.kind == kind)
        .cloned();
    let prepared = match handler {
        Some(h) => (h.call)(Invocation {
            shared: shared.clone(),
            dialog,
            kwargs,
        }),
        None => Err(Error::raise(
            "AttributeError",
            format!("{ns}:{func} is not served as a {kind} by this program"),
        )),
    };
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
    /// mode (see [`in_cancelled_call`]).
    cancelled: bool,
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
fn in_call<R>(dialog: DialogId, cancelled: bool, tracked: &Tracked, f: impl FnOnce() -> R) -> R {
    let before = CURRENT_CALL.with(|c| c.replace(Some(dialog)));
    let r = as_call(cancelled, || tracked.poll(f));
    CURRENT_CALL.with(|c| c.set(before));
    r
}

/// Runs `f` as (part of) a served function whose cancellation has come,
/// or has not.
fn as_call<R>(cancelled: bool, f: impl FnOnce() -> R) -> R {
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
fn held_stop<R>(f: impl FnOnce() -> R) -> (R, bool) {
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
/// longer than that (see [`settle_failure`] for a failure made before).
pub(crate) fn in_cancelled_call() -> bool {
    CALL_CANCELLED.with(|c| c.get())
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
        let (cancelled, debug_mode) = self.shared.with(|st, _| {
            st.watch(dialog, cx);
            let cancelled = st
                .dialogs
                .get(&dialog)
                .is_some_and(|slot| slot.cancel.is_some());
            (cancelled, st.actor.runtime_vars().debug_mode)
        });
        // A REPL live or due holds cancellation back until it ends (its
        // end wakes us).
        let cancel = cancelled && !crate::debug::held();
        // A function that waits at an await point is dropped there; one
        // never polled runs to its first.
        if cancel && self.started {
            return Poll::Ready(Err(ErrorKind::Cancelled.into()));
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
        let (poll, held) = held_stop(|| {
            in_call(dialog, cancelled, &this.tracked, || {
                catch_panic(|| fut.as_mut().poll(cx))
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
            // Its outcome counts even if the cancellation came first: a
            // failure goes to the caller as it is.
            Poll::Ready(outcome) => Poll::Ready(outcome),
            // It has reached its first await point: a pending cancellation
            // takes effect there.
            Poll::Pending if cancel => Poll::Ready(Err(ErrorKind::Cancelled.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}

std::thread_local! {
    static IN_TASK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static LAST_PANIC: std::cell::RefCell<Option<Panicked>> = const { std::cell::RefCell::new(None) };
}

/// What the panic hook records of a panic in a task: where, and the stack.
/// Nothing is resolved in the hook: a panic there would abort the process.
struct Panicked {
    /// ` at file:line`, for the message.
    place: String,
    /// Where it happened.
    at: crate::error::Place,
    /// The stack, if backtraces are on.
    trace: Option<crate::trace::Trace>,
}

/// Polls `f`, turning a panic into the task's error: the panic message,
/// where it happened, and a backtrace.
pub(crate) fn catch_panic<T>(f: impl FnOnce() -> Poll<Result<T>>) -> Poll<Result<T>> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_TASK.with(|t| t.get()) {
                let panicked = Panicked {
                    place: info
                        .location()
                        .map(|l| format!(" at {}:{}", l.file(), l.line()))
                        .unwrap_or_default(),
                    at: info.location().map(crate::error::place).unwrap_or_default(),
                    trace: crate::trace::enabled().then(crate::trace::Trace::capture),
                };
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(panicked));
            } else {
                previous(info);
            }
        }));
    });
    IN_TASK.with(|t| t.set(true));
    let r = std::panic::catch_unwind(AssertUnwindSafe(f));
    IN_TASK.with(|t| t.set(false));
    match r {
        Ok(p) => p,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-text payload".into());
            let message = |place: &str| format!("{what}{place}");
            Poll::Ready(Err(match LAST_PANIC.with(|p| p.borrow_mut().take()) {
                Some(p) => Error::local("Panic".into(), message(&p.place), p.at, p.trace),
                None => LocalError::new("Panic", message("")).into(),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traceback_of(e: &Error) -> &str {
        match e.kind() {
            ErrorKind::Local(l) => &l.traceback,
            other => panic!("a local error expected: {other:?}"),
        }
    }

    #[test]
    fn a_failure_made_once_its_call_is_cancelled_goes_without_a_backtrace() {
        let e = as_call(true, || Error::raise("AssertionError", "at once"));
        let at = format!("  File \"driver/src/functions.rs\", line {}", line!() - 1);
        // Nothing is left to resolve: it may go out at once.
        assert!(!e.unsettled());
        let tb = traceback_of(&e);
        assert!(tb.lines().any(|l| l == at), "{tb}");
        let panicked = as_call(true, || {
            catch_panic(|| -> Poll<Result<()>> { panic!("a cancelled call panics") })
        });
        let Poll::Ready(Err(p)) = panicked else {
            panic!("the panic is the call's error")
        };
        assert!(!p.unsettled());
        let ptb = traceback_of(&p);
        assert!(
            ptb.contains("  File \"driver/src/functions.rs\", line "),
            "{ptb}"
        );
        if crate::trace::enabled() {
            for tb in [tb, ptb] {
                assert_eq!(
                    tb.lines().nth(2),
                    Some(crate::error::CANCELLED_NO_BACKTRACE),
                    "{tb}"
                );
                assert_eq!(tb.lines().count(), 3, "{tb}");
            }
        } else {
            assert!(tb.contains("RUST_BACKTRACE=1"), "{tb}");
        }
        // Outside a cancelled call: the backtrace as ever, resolved when
        // first needed.
        let e = as_call(false, || Error::raise("AssertionError", "at once"));
        assert_eq!(e.unsettled(), crate::trace::enabled());
        let tb = traceback_of(&e);
        assert!(!tb.contains(crate::error::CANCELLED_NO_BACKTRACE), "{tb}");
    }
}
