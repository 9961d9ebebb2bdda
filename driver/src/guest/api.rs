//! What [`to_guest`](crate::to_guest) offers: the functions that start
//! linked guest tasks.

use std::future::Future;
use std::panic::Location;

use super::{DEFAULT_CAPACITY, GuestStart, LinkedChannel};
use crate::error::Result;
use crate::guest;

/// Runs the future `f` makes on the guest runtime, and yields its output,
/// or its error (a guest error becomes this task's error, named with the
/// error's type; a panic, a `Panic` error). `f` is called on the guest's
/// thread, so the future is made in the guest's context too (a tokio
/// timer or socket panics if made outside a tokio runtime). Dropping the
/// returned future cancels the guest's and waits until the guest has
/// dropped it.
///
/// Fails at once where the actor runs no guest.
#[track_caller]
pub fn run<T, E, F, Fut>(f: F) -> impl Future<Output = Result<T>> + Send + 'static
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let at = Location::caller();
    async move {
        let g = guest::current()?;
        let name = g.name();
        let link = guest::link::to_guest(|t| g.spawn(t), name, at, async move {
            f().await.map_err(|e| guest::guest_error(e, at))
        });
        link.await
    }
}

/// Starts a guest task, `f` of a [`GuestStart`], linked to this task by
/// a two-way channel, and waits for its
/// [`started`](GuestStart::started) value: yields it with this end of
/// the channel ([`LinkedChannel`]). The channel holds up to
/// [`DEFAULT_CAPACITY`](crate::guest::DEFAULT_CAPACITY) items each way.
///
/// The guest task's error, or a return before `started`, is this call's
/// error; once started, its error is the channel's (its `receive`, `send`
/// and `wait`). Dropping the channel (or this call's future) cancels the
/// guest task and waits until the guest has dropped it.
#[track_caller]
pub fn open_channel_from<First, ToGuest, FromGuest, R, E, F, Fut>(
    f: F,
) -> impl Future<Output = Result<(First, LinkedChannel<ToGuest, FromGuest, R>)>> + Send + 'static
where
    F: FnOnce(GuestStart<First, FromGuest, ToGuest>) -> Fut + Send + 'static,
    Fut: Future<Output = std::result::Result<R, E>> + Send + 'static,
    First: Send + 'static,
    ToGuest: Send + 'static,
    FromGuest: Send + 'static,
    R: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    open_channel_with_capacity(DEFAULT_CAPACITY, f)
}

/// [`open_channel_from`] with a channel holding up to `capacity` items
/// each way (at least one).
#[track_caller]
pub fn open_channel_with_capacity<First, ToGuest, FromGuest, R, E, F, Fut>(
    capacity: usize,
    f: F,
) -> impl Future<Output = Result<(First, LinkedChannel<ToGuest, FromGuest, R>)>> + Send + 'static
where
    F: FnOnce(GuestStart<First, FromGuest, ToGuest>) -> Fut + Send + 'static,
    Fut: Future<Output = std::result::Result<R, E>> + Send + 'static,
    First: Send + 'static,
    ToGuest: Send + 'static,
    FromGuest: Send + 'static,
    R: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let at = Location::caller();
    async move {
        let g = guest::current()?;
        let name = g.name();
        let (start, starting) = guest::channel::pair(capacity);
        let link = guest::link::to_guest(|t| g.spawn(t), name, at, async move {
            f(start).await.map_err(|e| guest::guest_error(e, at))
        });
        starting.started(link, name).await
    }
}
