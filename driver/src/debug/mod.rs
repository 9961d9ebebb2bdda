//! The multi-process debugger: REPLs in any actor of a tree, one at a time
//! on the one terminal.
//!
//! With debug mode on ([`Config::debug_mode`](crate::Config) for the whole
//! tree, or [`ActorOptions::debug_mode`](crate::ActorOptions) for one
//! child), any task of any actor may stop in a REPL: [`pause()`] (or
//! [`pause!`](crate::pause!) to show some values), [`post_mortem`] on an
//! error, and, on its own, every served function or root body that fails
//! (a crash REPL, before the error travels on).
//!
//! Before it prints anything a REPL takes the tree's terminal lock, which
//! the root serves (spec/PROTOCOL.md §10): a child asks for it over IPC with
//! the same context as Python's (`lock_stdio_for_peer`), so a Rust child
//! can pause under a Python root and the other way round. Requests are
//! served first come, first served across the tree; while a REPL is live:
//!
//! * ctrl-c does not tear the tree down: the REPL's actor and the root
//!   ignore SIGINT (the REPL prints its prompt again), and in debug mode a
//!   child leaves ctrl-c to the root, which cancels the tree over IPC once
//!   no REPL is live; SIGTERM, which no terminal key sends, cancels the
//!   tree at once, and the REPL still runs to its end;
//! * cancellation waits: a function whose actor has a live REPL is
//!   cancelled only after the REPL ends, and a parent does not kill a
//!   child that holds the lock.
//!
//! The REPL reads the process's stdin and writes to its stdout (children
//! inherit both from the root). Its commands: `c` continue, `q` quit
//! (the pause fails with a `BdbQuit` error, which propagates like any
//! other), `w` the backtrace at the stop, `l` the source around it, `v`
//! the values given to `pause!`, `ctx` the actor's open contexts and
//! calls, `gdb` a debugger attached to this process in the same terminal,
//! `h` help. End of input continues.
//!
//! # Cancellation
//!
//! Once a REPL has the terminal it runs to its end: a caller cancelled
//! meanwhile (its future dropped) leaves it to finish in the background,
//! so the lock is never released under a REPL still reading. Before that,
//! while it waits for the terminal, a pause is as cancellable as any wait.
//!
//! A task whose cancellation is under way (its call was cancelled, it runs
//! in the drop of a cancelled function, or its actor is cancelling or
//! winding down) gets an error from [`pause()`] and [`post_mortem`] at
//! once, rather than a REPL that would never open: use
//! [`pause_shielded`] or [`post_mortem_shielded`] there. Those start at
//! their call, run to their end whatever happens to their caller, and hold
//! back the cancellation of this actor's functions and its teardown until
//! the REPL is over; awaiting them is optional.
//!
//! # Sync code
//!
//! [`pause_blocking`] stops a plain thread (`std::thread::spawn`, a
//! runtime's blocking pool) in the same REPL, taking the same lock. From
//! code that an async task polls it fails at once instead: blocking there
//! could stall the runtime thread that must serve the lock. Await
//! [`pause()`] in async code. [`crash_handler`] runs plain code, such as a
//! command-line entry point with no actor, and opens a REPL on its error
//! or panic.
//!
//! # Which crashes
//!
//! Every error of a served function or a root body opens a crash REPL in
//! debug mode, except cancellations and interrupts; a
//! [`DebugFilter`] set on the program's [`Config`](crate::Config) narrows
//! that further.

mod repl;

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tractor_protocol::TtyTicket;

use crate::engine::Shared;
use crate::error::{Error, ErrorKind, Result};
use crate::portal::{Context, Portal};
use crate::task::JoinHandle;
use crate::{ActorHandle, current_actor};

pub(crate) use repl::reprompt;
use repl::{Outcome, Reason, Stop};

/// Whether a REPL is live in the actor of `shared`.
pub(crate) fn repl_live(shared: &Shared) -> bool {
    shared.holds.repls.load(Ordering::SeqCst) > 0
}

/// Whether a REPL is live, or a shielded or blocking pause is under way,
/// in the actor of `shared`: cancellation and teardown wait for it.
pub(crate) fn held(shared: &Shared) -> bool {
    repl_live(shared) || shared.holds.pauses.load(Ordering::SeqCst) > 0
}

/// When the actor's last REPL (or held pause) ended, if one did.
pub(crate) fn last_repl_end(shared: &Shared) -> Option<Instant> {
    *shared
        .holds
        .last_end
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Which crash REPLs open: given a failure (never a cancellation, which
/// opens none), whether to stop on it. Set it with
/// [`Config::debug_filter`](crate::Config::debug_filter); it applies in
/// every actor of the program.
#[derive(Clone)]
pub struct DebugFilter(Arc<dyn Fn(&Error) -> bool + Send + Sync>);

impl DebugFilter {
    /// A filter stopping on the errors `keep` accepts.
    ///
    /// ```
    /// # use tractor_driver::debug::DebugFilter;
    /// // No REPL for a KeyError, raised here or boxed in a remote error.
    /// let filter = DebugFilter::new(|e| e.type_name() != Some("KeyError"));
    /// # let _ = filter;
    /// ```
    pub fn new(keep: impl Fn(&Error) -> bool + Send + Sync + 'static) -> Self {
        DebugFilter(Arc::new(keep))
    }

    /// The test itself, as the engine keeps it.
    pub(crate) fn into_inner(self) -> crate::engine::CrashFilter {
        self.0
    }

    /// Whether `error` opens a REPL.
    pub fn keeps(&self, error: &Error) -> bool {
        (self.0)(error)
    }
}

impl fmt::Debug for DebugFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DebugFilter")
    }
}

/// Where and why a task stops.
struct Site {
    /// The task's name (Python's task name): what the tree's lock request
    /// carries.
    task: String,
    /// The call that stopped it and where (`pause at src/a.rs:3:9`).
    place: Option<String>,
    file: Option<(String, u32)>,
    values: Vec<(String, String)>,
    backtrace: crate::trace::Trace,
}

impl Site {
    /// The site of a call to `what` at `at`.
    fn here(what: &str, at: &'static Location<'static>, values: Vec<(String, String)>) -> Self {
        Site {
            task: task_name(),
            place: Some(format!(
                "{what} at {}:{}:{}",
                at.file(),
                at.line(),
                at.column()
            )),
            file: Some((at.file().to_owned(), at.line())),
            values,
            backtrace: crate::trace::Trace::capture(),
        }
    }

    /// The site of a post-mortem on `error` called at `at`: the error's
    /// own place when its text names one.
    fn of_error(what: &str, at: &'static Location<'static>, error: &Error) -> (Self, Reason) {
        let shown = format!("{error:#}");
        let mut site = Site::here(what, at, Vec::new());
        if let Some(place) = site_of(&shown) {
            site.file = Some(place);
        }
        (site, Reason::Crashed(shown))
    }
}

/// Stops this task in a REPL, once the tree's terminal is ours; returns
/// when the user continues, or fails with a `BdbQuit` error when they
/// quit. Needs debug mode (an error says so otherwise), and fails at once
/// where cancellation is under way (see the [module docs](self)).
///
/// ```no_run
/// # use tractor_driver::{Result, pause};
/// # async fn demo() -> Result<()> {
/// pause().await?;
/// # Ok(())
/// # }
/// ```
///
/// A task in the REPL is suspended, so it cannot pause again before it
/// continues; other tasks that pause meanwhile, in this actor or any
/// other, wait for the terminal in turn.
#[track_caller]
pub fn pause() -> impl Future<Output = Result<()>> + Send + 'static {
    let site = Site::here("pause", Location::caller(), Vec::new());
    crate::task_record::api("pause", stop(site, Reason::Paused))
}

/// [`pause()`] showing `values` (names and their `{:#?}`) in the REPL; what
/// [`pause!`](crate::pause!) expands to.
#[doc(hidden)]
#[track_caller]
pub fn pause_with_values(
    values: Vec<(&'static str, String)>,
) -> impl Future<Output = Result<()>> + Send + 'static {
    let values = values.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
    let site = Site::here("pause", Location::caller(), values);
    crate::task_record::api("pause", stop(site, Reason::Paused))
}

/// Pauses like [`pause()`], and shows the values named in the REPL
/// (command `v`), each as `{:#?}`.
///
/// ```no_run
/// # use tractor_driver::{Result, pause};
/// # async fn demo() -> Result<()> {
/// let (x, y) = (3, vec!["a", "b"]);
/// pause!(x, y).await?;
/// # Ok(())
/// # }
/// ```
#[macro_export]
macro_rules! pause {
    () => {
        $crate::pause()
    };
    ($($value:expr),+ $(,)?) => {
        $crate::debug::pause_with_values(::std::vec![
            $((::std::stringify!($value), ::std::format!("{:#?}", $value))),+
        ])
    };
}

/// A pause that works where cancellation is under way: in a cancelled
/// call, in the drop of a cancelled function (a guard's cleanup), in an
/// actor winding down. It starts at this call and runs to its end even if
/// the returned future is dropped; until then this actor's functions are
/// not cancelled and its teardown waits. Awaiting the future yields the
/// REPL's outcome.
///
/// ```no_run
/// # use tractor_driver::debug;
/// struct Guard;
///
/// impl Drop for Guard {
///     fn drop(&mut self) {
///         // Runs even when the function holding the guard is cancelled.
///         drop(debug::pause_shielded());
///     }
/// }
/// ```
#[track_caller]
pub fn pause_shielded() -> impl Future<Output = Result<()>> + Send + 'static {
    let site = Site::here("pause_shielded", Location::caller(), Vec::new());
    crate::task_record::api("pause_shielded", shielded(site, Reason::Paused))
}

/// Opens a REPL on `error` (a post-mortem), as a crash does on its own;
/// returns when the user leaves it, with `Err(BdbQuit)` if they quit.
/// Needs debug mode, and fails at once where cancellation is under way
/// ([`post_mortem_shielded`] works there).
#[track_caller]
pub fn post_mortem(error: &Error) -> impl Future<Output = Result<()>> + Send + 'static {
    let (site, reason) = Site::of_error("post_mortem", Location::caller(), error);
    crate::task_record::api("post_mortem", stop(site, reason))
}

/// [`post_mortem`] shielded from cancellation, as [`pause_shielded`] is.
#[track_caller]
pub fn post_mortem_shielded(error: &Error) -> impl Future<Output = Result<()>> + Send + 'static {
    let (site, reason) = Site::of_error("post_mortem_shielded", Location::caller(), error);
    crate::task_record::api("post_mortem_shielded", shielded(site, reason))
}

/// Stops this thread in a REPL, as [`pause()`] stops a task: for sync
/// code on a thread outside the runtime (`std::thread::spawn`, a blocking
/// pool). It takes the tree's terminal like any pause, and the actor's
/// teardown waits for it.
///
/// Called from code an async task polls, it fails at once: that thread
/// may be the one the lock needs. Await [`pause()`] there.
///
/// ```no_run
/// # use tractor_driver::debug;
/// std::thread::spawn(|| {
///     debug::pause_blocking().expect("paused");
/// });
/// ```
#[track_caller]
pub fn pause_blocking() -> Result<()> {
    let site = Site::here("pause_blocking", Location::caller(), Vec::new());
    if crate::task::in_task() {
        return Err(Error::runtime(
            "pause_blocking() called from async code, whose thread it could stall: await pause() there",
        ));
    }
    let me = debugged_actor()?;
    if let Some(why) = cancelling(&me) {
        return Err(refused(why));
    }
    crate::task::wait_here(held_session(me, site, Reason::Paused))?
}

/// Runs `f`, plain code such as a command-line entry point, and opens a
/// REPL on its failure before passing it on: an `Err` is returned after
/// the REPL, a panic resumes after it.
///
/// With no actor in the process the REPL opens on the terminal directly;
/// inside an actor in debug mode it takes the tree's terminal like
/// [`pause_blocking`] (and without debug mode it opens none).
///
/// ```no_run
/// # use tractor_driver::debug;
/// fn main() -> Result<(), String> {
///     debug::crash_handler(|| {
///         let n: u32 = "nope".parse().map_err(|e| format!("bad count: {e}"))?;
///         Ok(println!("{n}"))
///     })
/// }
/// ```
#[track_caller]
pub fn crash_handler<T, E: fmt::Display>(
    f: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let at = Location::caller();
    let outcome = crate::panic::catch_panic(|| std::task::Poll::Ready(Ok(f())));
    let std::task::Poll::Ready(outcome) = outcome else {
        unreachable!("a blocking call is always ready")
    };
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            crash_repl(at, format!("{e}"));
            Err(e)
        }
        Err(panic) => {
            let shown = format!("{panic:#}");
            crash_repl(at, shown.clone());
            eprintln!("{shown}");
            std::panic::resume_unwind(Box::new(shown))
        }
    }
}

/// The REPL of [`crash_handler`], on a failure shown as `shown`.
fn crash_repl(at: &'static Location<'static>, shown: String) {
    let mut site = Site::here("crash_handler", at, Vec::new());
    if let Some(place) = site_of(&shown) {
        site.file = Some(place);
    }
    let reason = Reason::Crashed(shown);
    let Some(me) = current_actor() else {
        // Alone in the process: the terminal is ours.
        let name = std::env::args()
            .next()
            .and_then(|a| {
                std::path::Path::new(&a)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "main".into());
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
            repl::on_terminal(&site.into_stop(name, reason, Vec::new()))
        }));
        return;
    };
    if !me.debug_mode() {
        return;
    }
    if crate::task::in_task() {
        tracing::warn!(target: "tractor::pdb", "crash_handler() in async code opens no REPL: use post_mortem() there");
        return;
    }
    if let Err(e) = crate::task::wait_here(held_session(me, site, reason)).and_then(|r| r) {
        tracing::debug!(target: "tractor::pdb", error = %e, "crash REPL ended");
    }
}

/// The crash REPL of a served function or a root body that failed with
/// `error`, in debug mode; cancellations, interrupts and what the
/// program's [`DebugFilter`] rejects never enter it.
/// The REPL of a task named `task` that failed with `error`, if debug mode
/// and the filter want one.
pub(crate) async fn crashed(shared: &Arc<Shared>, task: &str, error: &Error) {
    let debug = shared.with(|st, _| st.actor.runtime_vars().debug_mode);
    if !debug || error.is_cancelled() || is_quit(error) {
        return;
    }
    if let Some(filter) = &shared.settings.debug_filter
        && !filter(error)
    {
        return;
    }
    let me = ActorHandle::of(shared.clone());
    let shown = format!("{error:#}");
    let site = Site {
        task: task.to_owned(),
        place: None,
        file: site_of(&shown),
        values: Vec::new(),
        backtrace: crate::trace::Trace::default(),
    };
    let _hold = Counted::new(Hold::Pause, shared.clone());
    if let Err(e) = session(me, site, Reason::Crashed(shown)).await {
        tracing::debug!(target: "tractor::pdb", error = %e, "crash REPL ended");
    }
}

/// This actor's own quit: the user just left a REPL here, and does not
/// want another (a quit relayed from a child still opens one, as Python
/// does).
fn is_quit(error: &Error) -> bool {
    matches!(error.kind(), ErrorKind::Local(e) if e.type_name == QUIT)
}

/// The error type of leaving a REPL with `q`, as Python's.
const QUIT: &str = "BdbQuit";

/// This process's actor, if it runs in debug mode.
fn debugged_actor() -> Result<ActorHandle> {
    let me = current_actor().ok_or_else(|| {
        Error::runtime(
            "the debugger needs an actor: pause inside open_root_actor or a served function (crash_handler serves plain code)",
        )
    })?;
    if !me.debug_mode() {
        return Err(Error::runtime(
            "the debugger needs debug mode: set Config::debug_mode on the root, or ActorOptions::debug_mode for this actor",
        ));
    }
    Ok(me)
}

/// Why a stop here would never open, if cancellation is under way for
/// the code running on this thread.
fn cancelling(me: &ActorHandle) -> Option<&'static str> {
    let call = crate::task_record::current_call();
    me.shared().with(|st, _| {
        if call.is_some_and(|d| st.dialogs.get(&d).is_some_and(|s| s.cancel.is_some())) {
            Some("its call was cancelled")
        } else if st.cancel_requested.is_some() {
            Some("its actor is cancelling")
        } else if st.winding_down {
            Some("its actor is winding down")
        } else {
            None
        }
    })
}

/// The error of a stop refused because cancellation is under way.
fn refused(why: &str) -> Error {
    Error::runtime(format!(
        "cannot pause: {why}, so this task would never reach a REPL; use pause_shielded() or post_mortem_shielded() to stop here anyway"
    ))
}

/// An unshielded stop: checked now, then the session.
fn stop(site: Site, reason: Reason) -> impl Future<Output = Result<()>> + Send + 'static {
    let checked = debugged_actor().and_then(|me| match cancelling(&me) {
        Some(why) => Err(refused(why)),
        None => Ok(me),
    });
    // From a guest task, the session's waits (the actor's timers) run on
    // the actor's runtime, and the guest task waits for it.
    async move { crate::guest::on_actor(session(checked?, site, reason)).await }
}

/// A shielded stop: started now, in a task of its own, holding
/// cancellation back until it ends.
fn shielded(site: Site, reason: Reason) -> impl Future<Output = Result<()>> + Send + 'static {
    let started = debugged_actor().map(|me| held_session(me, site, reason));
    async move { started?.await? }
}

/// A session in a task of its own, held from now to its end.
fn held_session(me: ActorHandle, site: Site, reason: Reason) -> JoinHandle<Result<()>> {
    let hold = Counted::new(Hold::Pause, me.shared().clone());
    let runner = me.clone();
    runner.spawn(async move {
        let _hold = hold;
        session(me, site, reason).await
    })
}

/// Takes the tree's terminal, then runs the REPL. Once the lock is ours
/// the REPL and the lock's release run in a task of their own, so a
/// caller dropped meanwhile cannot release the terminal under a REPL
/// still reading it.
///
/// The caller goes on as soon as the REPL ends, while the release goes on
/// in that task (held, so teardown waits for it), as Python's paused task
/// returns before the root acknowledges the release.
async fn session(me: ActorHandle, site: Site, reason: Reason) -> Result<()> {
    let lock = TreeLock::acquire(&me, &site.task).await?;
    let shared = me.shared().clone();
    let dialogs = shared.with(|st, _| st.actor.dialogs().iter().map(|d| d.to_string()).collect());
    let stop = site.into_stop(me.uid().to_string(), reason, dialogs);
    let live = Counted::new(Hold::Repl, shared.clone());
    let releasing = Counted::new(Hold::Pause, shared.clone());
    let ended = Arc::new(Mutex::new(None));
    let theirs = ended.clone();
    drop(me.spawn(async move {
        let outcome =
            crate::task::spawn_thread("tractor-repl", move || repl::on_terminal(&stop)).await;
        *theirs.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
        // Its end wakes the caller.
        drop(live);
        lock.release().await;
        drop(releasing);
    }));
    let outcome = shared
        .wait(|_, _| ended.lock().unwrap_or_else(|e| e.into_inner()).take())
        .await;
    match outcome? {
        Outcome::Continue => Ok(()),
        Outcome::Quit => Err(Error::raise(QUIT, "quit from the debugger")),
    }
}

impl Site {
    /// What the REPL shows of this site in `actor`.
    fn into_stop(self, actor: String, reason: Reason, dialogs: Vec<String>) -> Stop {
        Stop {
            actor,
            pid: std::process::id(),
            task: self.task,
            place: self.place,
            reason,
            file: self.file,
            values: self.values,
            backtrace: self.backtrace,
            dialogs,
        }
    }
}

/// The name of the task (or thread) running this code: a served call's
/// function name, `main` for the root's body, `task` for a spawned task,
/// or the thread's name.
fn task_name() -> String {
    if let Some(name) = crate::task_record::current_task() {
        return name.to_string();
    }
    let thread = std::thread::current();
    match thread.name() {
        Some(name) => format!("thread {name}"),
        None => format!("{:?}", thread.id()),
    }
}

/// `file:line` of the place an error's text names: the innermost frame
/// of its own traceback (its last `  File "a.rs", line 3` line, before
/// any line of another shape), else the first `at a.rs:3:9`.
fn site_of(shown: &str) -> Option<(String, u32)> {
    let frame = |l: &str| {
        let rest = l.strip_prefix("  File \"")?;
        let (file, rest) = rest.split_once("\", line ")?;
        let line = rest.split(',').next()?.parse::<u32>().ok()?;
        Some((file.to_owned(), line))
    };
    let innermost = shown
        .lines()
        .skip_while(|l| frame(l).is_none())
        .map_while(frame)
        .last();
    innermost.or_else(|| {
        shown.lines().find_map(|l| {
            let rest = l.trim_start().strip_prefix("at ")?;
            let mut parts = rest.rsplitn(3, ':');
            let _col = parts.next()?.parse::<u32>().ok()?;
            let line = parts.next()?.parse::<u32>().ok()?;
            Some((parts.next()?.to_owned(), line))
        })
    })
}

/// What a [`Counted`] counts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// A REPL live.
    Repl,
    /// A shielded, blocking or crash stop under way, from its call to its
    /// end.
    Pause,
}

/// One REPL live, or one stop under way, counted in the actor's
/// [`Holds`](crate::engine::Holds) while it lasts; its end wakes what
/// waited for it (held-back cancellation, teardown).
struct Counted {
    hold: Hold,
    shared: Arc<Shared>,
}

impl Counted {
    fn count(hold: Hold, shared: &Shared) -> &AtomicUsize {
        match hold {
            Hold::Repl => &shared.holds.repls,
            Hold::Pause => &shared.holds.pauses,
        }
    }

    fn new(hold: Hold, shared: Arc<Shared>) -> Self {
        Self::count(hold, &shared).fetch_add(1, Ordering::SeqCst);
        Counted { hold, shared }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let before = Self::count(self.hold, &self.shared).fetch_sub(1, Ordering::SeqCst);
        if before == 1 && self.hold == Hold::Repl {
            crate::signals::terminal_released();
        }
        *self
            .shared
            .holds
            .last_end
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        // Cancellations held back meanwhile may go on.
        self.shared.with(|st, _| st.wake_everything());
    }
}

/// The tree's terminal, held.
enum TreeLock {
    /// The root's own claim.
    Root { _held: RootTicket },
    /// A child's lock context with the root, on a connection of its own.
    Child { ctx: Context, _portal: Portal },
}

/// A claim on the root's lock, withdrawn when dropped.
struct RootTicket {
    shared: Arc<Shared>,
    ticket: TtyTicket,
}

impl Drop for RootTicket {
    fn drop(&mut self) {
        let ticket = self.ticket;
        self.shared.with(|st, _| {
            st.tty_granted.remove(&ticket);
            st.actor.release_tty_lock_local(ticket);
        });
    }
}

impl TreeLock {
    async fn acquire(me: &ActorHandle, task: &str) -> Result<Self> {
        let shared = me.shared().clone();
        let (is_root, root) = shared.with(|st, _| {
            let vars = st.actor.runtime_vars();
            (vars.is_root, vars.root_mailbox.clone())
        });
        if is_root {
            let ticket = shared.with(|st, _| st.actor.acquire_tty_lock());
            let held = RootTicket {
                shared: shared.clone(),
                ticket,
            };
            shared
                .wait(|st, _| st.tty_granted.remove(&ticket).then_some(()))
                .await;
            return Ok(TreeLock::Root { _held: held });
        }
        let root = root.ok_or_else(|| Error::runtime("no root address to ask for the terminal"))?;
        let id = shared.holds.lock_requests.fetch_add(1, Ordering::Relaxed) + 1;
        // A connection of its own, as Python's requester opens.
        let portal = me.portal_at(&root).await?;
        let (ctx, status) = portal.request_tty_lock((task, id)).await?;
        if !status.locked || status.subactor_uid != *me.uid() {
            return Err(Error::runtime(format!(
                "the root answered the lock request with {status:?}"
            )));
        }
        Ok(TreeLock::Child {
            ctx,
            _portal: portal,
        })
    }

    async fn release(self) {
        let TreeLock::Child { ctx, _portal } = self else {
            return;
        };
        match ctx.release_tty_lock().await {
            Ok(status) if !status.locked => {}
            Ok(status) => {
                tracing::warn!(target: "tractor::pdb", ?status, "the root still reports the terminal locked")
            }
            Err(e) => {
                tracing::warn!(target: "tractor::pdb", error = %e, "releasing the terminal failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_errors_first_place_is_its_site() {
        let shown = "ValueError: no\n  at examples/x.rs:12:5\n  at other.rs:1:1";
        assert_eq!(site_of(shown), Some(("examples/x.rs".into(), 12)));
        assert_eq!(site_of("no place here"), None);
        // A traceback in Python's shape: its innermost frame.
        let shown = "ValueError: no\nTraceback (most recent call last):\n  \
                     File \"./src/main.rs\", line 40, in app::main\n  \
                     File \"src/main.rs\", line 12, in app::parse\n  \
                     (set RUST_BACKTRACE=1 for a backtrace)\n  at later.rs:1:1";
        assert_eq!(site_of(shown), Some(("src/main.rs".into(), 12)));
    }
}
