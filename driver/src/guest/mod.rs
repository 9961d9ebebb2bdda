//! A guest runtime beside an actor's own (Python tractor's "infected
//! asyncio", for Rust): code written for another executor runs in the
//! actor, on the guest's thread, linked to the actor's tasks by
//! structured concurrency.
//!
//! An actor gets one through [`ActorOptions::guest`](crate::ActorOptions::guest)
//! or [`Config::guest`](crate::Config::guest). Each adapter brings the
//! other one's executor: a `tractor-smol` actor hosts tokio (feature
//! `guest-tokio`), a `tractor-tokio` actor hosts smol's executor (feature
//! `guest-smol`). The guest starts with the actor, before it serves
//! anything, and is shut down, with every task still on it, at the end of
//! the actor's teardown, after its functions have ended.
//!
//! [`to_guest`](crate::to_guest) is how a task of the actor uses it. What
//! is decided here, once for every adapter:
//!
//! * **Who waits for whom.** A guest task started through `to_guest` is
//!   *linked* to the future that started it. Dropping that future (its
//!   task was cancelled: an actor cancel, SIGINT, a `select!` that went
//!   the other way) cancels the guest task, and the drop returns only
//!   once the guest thread has dropped it: neither side outlives the
//!   other. A guest task that blocks its thread holds that drop until its
//!   poll returns, for at most [`DROP_WAIT`]; past it, the guest task is
//!   logged and left to the guest's shutdown, and later drops do not wait
//!   until the guest polls a task again. A link dropped on a guest's own
//!   thread (a guest task that called `to_guest` itself) does not wait:
//!   the thread would wait for itself.
//! * **Errors.** A guest task's error reaches the linked task as its own:
//!   a [`LocalError`](crate::LocalError) named with the error's type and
//!   its message, made where the link was opened. A panic becomes a
//!   `Panic` error with its message and place, as in a served function.
//!   The linked task's function fails with it, so its caller, in another
//!   actor, gets it boxed like any remote error (and a crash REPL opens
//!   on it in debug mode).
//! * **Bounds.** A channel to a guest task holds at most its capacity of
//!   items each way: a side that sends faster than the other reads waits.
//! * **The debugger and dumps.** [`pause()`](crate::pause()) from a guest
//!   task takes the tree's terminal like any task (its waits run on the
//!   actor's runtime; the guest task waits for the REPL). A task-tree
//!   dump (SIGUSR1) lists each guest task under the task it is linked to.

use std::panic::Location;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
pub use crate::runtime::Guest;
use crate::runtime::Runtime;

pub(crate) mod api;
pub(crate) mod channel;
pub(crate) mod link;

pub use channel::{GuestChannel, GuestStart, LinkedChannel};
pub use link::mark_guest_thread;
pub(crate) use link::{Link, on_actor};

/// The longest a dropped link waits for its guest task to be dropped on
/// the guest's thread (see the module's docs). With [`SHUTDOWN_WAIT`] it
/// fits, with room to spare, in the 1.5 s a cancelled child has to wind
/// down before it exits regardless: a child whose guest thread is
/// blocked still winds down by itself, well before its parent's reaping
/// would kill it.
pub const DROP_WAIT: Duration = Duration::from_millis(500);

/// How long the guest's shutdown may take at the end of an actor's
/// teardown before the actor exits without it (the process's exit then
/// ends the guest's threads).
pub const SHUTDOWN_WAIT: Duration = Duration::from_millis(250);

/// How many items a channel to a guest task holds each way, unless told
/// otherwise.
pub const DEFAULT_CAPACITY: usize = 128;

static GUEST: Mutex<Option<Arc<dyn Guest>>> = Mutex::new(None);

fn slot() -> MutexGuard<'static, Option<Arc<dyn Guest>>> {
    GUEST.lock().unwrap_or_else(|e| e.into_inner())
}

/// The guest of this process's actor.
pub(crate) fn current() -> Result<Arc<dyn Guest>> {
    slot().clone().ok_or_else(|| {
        Error::runtime(
            "this actor runs no guest runtime (none was given, or it was shut down with the actor): give it one with ActorOptions::guest (a child) or Config::guest (a root)",
        )
    })
}

/// Starts `rt`'s guest for this process's actor; it is stopped again
/// when the returned guard is dropped, unless [`Started::keep`] was
/// called (the actor's teardown stops it then).
pub(crate) fn start(rt: &dyn Runtime) -> Result<Started> {
    let guest = rt
        .start_guest()
        .map_err(|e| Error::runtime(format!("could not start the guest runtime: {e}")))?;
    tracing::debug!(target: "tractor::runtime", guest = guest.name(), "guest runtime up");
    let old = slot().replace(guest);
    if let Some(old) = old {
        // Not expected (one actor per process), but never left running.
        stop_now(old);
    }
    Ok(Started(true))
}

/// A guest just started, stopped if the actor does not get as far as
/// running ([`Started::keep`]).
pub(crate) struct Started(bool);

impl Started {
    /// The actor runs: its teardown stops the guest.
    pub(crate) fn keep(mut self) {
        self.0 = false;
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let guest = if self.0 { slot().take() } else { None };
        if let Some(guest) = guest {
            stop_now(guest);
        }
    }
}

/// Shuts the guest down, if there is one, waiting for it on a thread of
/// its own (a guest may refuse to be stopped from inside an async
/// context) for up to [`SHUTDOWN_WAIT`].
pub(crate) async fn stop(shared: &Arc<crate::engine::Shared>) {
    let Some(guest) = slot().take() else {
        return;
    };
    let name = guest.name();
    let deadline = Instant::now() + SHUTDOWN_WAIT;
    let done = crate::task::spawn_thread("tractor-guest-stop", move || guest.shutdown(deadline));
    let stopped = shared
        .timeout(SHUTDOWN_WAIT + Duration::from_millis(100), done)
        .await;
    match stopped {
        Some(Ok(true)) => {
            tracing::debug!(target: "tractor::runtime", guest = name, "guest runtime down")
        }
        _ => {
            tracing::warn!(target: "tractor::runtime", guest = name, "the guest runtime did not stop within {SHUTDOWN_WAIT:?}: the actor exits without waiting for it")
        }
    }
}

fn stop_now(guest: Arc<dyn Guest>) {
    let deadline = Instant::now() + SHUTDOWN_WAIT;
    let _ = std::thread::Builder::new()
        .name("tractor-guest-stop".into())
        .spawn(move || guest.shutdown(deadline))
        .map(|t| t.join());
}

/// A guest task's failure as the linked task's error: its type's name
/// (the last path segment, generics kept) and its message, made at
/// `at`. A [`crate::Error`] passes as it is.
pub(crate) fn guest_error<E>(e: E, at: &'static Location<'static>) -> Error
where
    E: std::fmt::Display + Send + 'static,
{
    let any: Box<dyn std::any::Any + Send> = Box::new(e);
    match any.downcast::<Error>() {
        Ok(e) => *e,
        Err(any) => {
            let e = *any.downcast::<E>().unwrap_or_else(|_| unreachable!());
            Error::local(
                short_type_name::<E>(),
                // The alternate form: an error with causes (anyhow's) shows
                // them all.
                format!("{e:#}"),
                crate::error::place(at),
                None,
            )
        }
    }
}

/// A type's name as people write it: each path cut to its last segment,
/// but for std's errors, which keep their module (`std::io::error::Error`
/// is `io::Error`; `Box<dyn core::error::Error + core::marker::Send>` is
/// `Box<dyn error::Error + Send>`).
fn short_type_name<E>() -> String {
    let full = std::any::type_name::<E>();
    let mut out = String::with_capacity(full.len());
    let mut path = String::new();
    let flush = |path: &mut String, out: &mut String| {
        let parts: Vec<&str> = path.split("::").collect();
        match parts.as_slice() {
            ["std" | "core" | "alloc", module, .., "Error"] => {
                out.push_str(module);
                out.push_str("::Error");
            }
            [.., last] => out.push_str(last),
            [] => {}
        }
        path.clear();
    };
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            path.push(c);
        } else {
            flush(&mut path, &mut out);
            out.push(c);
        }
    }
    flush(&mut path, &mut out);
    out
}

#[cfg(test)]
mod tests;
