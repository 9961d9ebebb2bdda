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
//! the root serves (PROTOCOL.md §10): a child asks for it over IPC with
//! the same context as Python's (`lock_stdio_for_peer`), so a Rust child
//! can pause under a Python root and the other way round. Requests are
//! served first come, first served across the tree; while a REPL is live:
//!
//! * ctrl-c does not tear the tree down: the REPL's actor and the root
//!   ignore SIGINT (the REPL prints its prompt again), and in debug mode a
//!   child leaves ctrl-c to the root, which cancels the tree over IPC once
//!   no REPL is live;
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

mod repl;

use std::future::Future;
use std::panic::Location;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tractor_protocol::TtyTicket;

use crate::engine::Shared;
use crate::error::{Error, ErrorKind, Result};
use crate::portal::{Context, Portal};
use crate::{ActorHandle, current_actor};

pub(crate) use repl::reprompt;
use repl::{Outcome, Reason, Stop};

/// REPLs live in this process.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// When the last REPL of this process ended.
static LAST_END: Mutex<Option<Instant>> = Mutex::new(None);

/// Whether a REPL is live in this process.
pub(crate) fn repl_live() -> bool {
    LIVE.load(Ordering::SeqCst) > 0
}

/// When the last REPL ended, if one did.
pub(crate) fn last_repl_end() -> Option<Instant> {
    *LAST_END.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where and why a task stops.
struct Site {
    task: String,
    file: Option<(String, u32)>,
    values: Vec<(String, String)>,
    backtrace: std::backtrace::Backtrace,
}

impl Site {
    /// The site of a call to `what` at `at`.
    fn here(what: &str, at: &'static Location<'static>, values: Vec<(String, String)>) -> Self {
        Site {
            task: format!("{what} at {}:{}:{}", at.file(), at.line(), at.column()),
            file: Some((at.file().to_owned(), at.line())),
            values,
            backtrace: std::backtrace::Backtrace::force_capture(),
        }
    }
}

/// Stops this task in a REPL, once the tree's terminal is ours; returns
/// when the user continues, or fails with a `BdbQuit` error when they
/// quit. Needs debug mode (an error says so otherwise).
///
/// ```no_run
/// # async fn demo() -> tractor_driver::Result<()> {
/// tractor_driver::pause().await?;
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
    enter(site, Reason::Paused)
}

/// [`pause()`] showing `values` (names and their `{:#?}`) in the REPL; what
/// [`pause!`](crate::pause!) expands to.
#[doc(hidden)]
#[track_caller]
pub fn pause_with_values(
    values: Vec<(&'static str, String)>,
) -> impl Future<Output = Result<()>> + Send + 'static {
    let values = values.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
    enter(
        Site::here("pause", Location::caller(), values),
        Reason::Paused,
    )
}

/// Pauses like [`pause()`], and shows the values named in the REPL
/// (command `v`), each as `{:#?}`.
///
/// ```no_run
/// # async fn demo() -> tractor_driver::Result<()> {
/// let (x, y) = (3, vec!["a", "b"]);
/// tractor_driver::pause!(x, y).await?;
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

/// Opens a REPL on `error` (a post-mortem), as a crash does on its own;
/// returns when the user leaves it, with `Err(BdbQuit)` if they quit.
/// Needs debug mode.
#[track_caller]
pub fn post_mortem(error: &Error) -> impl Future<Output = Result<()>> + Send + 'static {
    let mut site = Site::here("post_mortem", Location::caller(), Vec::new());
    if let Some(at) = site_of(&format!("{error:#}")) {
        site.file = Some(at);
    }
    enter(site, Reason::Crashed(format!("{error:#}")))
}

/// The crash REPL of a served function or a root body that failed with
/// `error`, in debug mode; cancellations and interrupts never enter it.
pub(crate) async fn crashed(shared: &Arc<Shared>, task: String, error: &Error) {
    let debug = shared.with(|st, _| st.actor.runtime_vars().debug_mode);
    if !debug || error.is_cancelled() || is_quit(error) {
        return;
    }
    let shown = format!("{error:#}");
    let site = Site {
        task,
        file: site_of(&shown),
        values: Vec::new(),
        backtrace: std::backtrace::Backtrace::disabled(),
    };
    if let Err(e) = enter(site, Reason::Crashed(shown)).await {
        tracing::debug!(error = %e, "crash REPL ended");
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

async fn enter(site: Site, reason: Reason) -> Result<()> {
    let me = current_actor().ok_or_else(|| {
        Error::runtime(
            "pause() needs an actor: call it inside open_root_actor or a served function",
        )
    })?;
    if !me.debug_mode() {
        return Err(Error::runtime(
            "pause() needs debug mode: set Config::debug_mode on the root, or ActorOptions::debug_mode for this actor",
        ));
    }
    let lock = TreeLock::acquire(&me, &site.task).await?;
    let shared = me.shared().clone();
    let stop = Stop {
        actor: me.uid().to_string(),
        pid: std::process::id(),
        task: site.task,
        reason,
        file: site.file,
        values: site.values,
        backtrace: site.backtrace,
        dialogs: shared.with(|st, _| st.actor.dialogs().iter().map(|d| d.to_string()).collect()),
    };
    let live = Live::enter(shared);
    let outcome = crate::task::spawn_thread("tractor-repl", move || repl::on_terminal(&stop)).await;
    drop(live);
    lock.release().await;
    match outcome? {
        Outcome::Continue => Ok(()),
        Outcome::Quit => Err(Error::raise(QUIT, "quit from the debugger")),
    }
}

/// `file:line` of the first place an error's text names (`at a.rs:3:9`).
fn site_of(shown: &str) -> Option<(String, u32)> {
    shown.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix("at ")?;
        let mut parts = rest.rsplitn(3, ':');
        let _col = parts.next()?.parse::<u32>().ok()?;
        let line = parts.next()?.parse::<u32>().ok()?;
        Some((parts.next()?.to_owned(), line))
    })
}

/// One live REPL: counted while it lasts; its end wakes what waited for it.
struct Live {
    shared: Arc<Shared>,
}

impl Live {
    fn enter(shared: Arc<Shared>) -> Self {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Live { shared }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        *LAST_END.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        LIVE.fetch_sub(1, Ordering::SeqCst);
        // Cancellations held back while the REPL ran may go on.
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

/// Ids for lock requests, unique in this process (Python sends the
/// requesting task's id).
static NEXT_REQUEST: AtomicI64 = AtomicI64::new(1);

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
        let id = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
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
            Ok(status) => tracing::warn!(?status, "the root still reports the terminal locked"),
            Err(e) => tracing::warn!(error = %e, "releasing the terminal failed"),
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
    }
}
