//! The two-way channel between a task of the actor and the guest task
//! linked to it: bounded each way, a `started` value first, and the guest
//! task's end (its return, error or panic) as the channel's end.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::error::{Error, ErrorKind, Result};

use super::Link;

/// One direction's queue.
struct Queue<T> {
    items: VecDeque<T>,
    /// The receiver waits for an item or the end.
    receiver: Option<Waker>,
    /// The sender waits for room.
    sender: Option<Waker>,
    /// The sending side is done: nothing more comes.
    closed: bool,
    /// The receiving side is gone: what is sent is dropped (an error for
    /// the guest's sends, see [`GuestChannel::send`]).
    dropped: bool,
}

impl<T> Queue<T> {
    fn new(capacity: usize) -> Self {
        Queue {
            items: VecDeque::with_capacity(capacity.min(1024)),
            receiver: None,
            sender: None,
            closed: false,
            dropped: false,
        }
    }

    /// Nothing more is sent this way, and nothing sent is read: what is
    /// queued, and the wakers of both sides, to drop and wake once the
    /// lock is released.
    fn shut(&mut self) -> (VecDeque<T>, [Option<Waker>; 2]) {
        self.closed = true;
        self.dropped = true;
        (
            std::mem::take(&mut self.items),
            [self.receiver.take(), self.sender.take()],
        )
    }
}

/// Wakes what a locked step took, once the lock is released.
fn wake(wakers: impl IntoIterator<Item = Option<Waker>>) {
    for w in wakers.into_iter().flatten() {
        w.wake();
    }
}

fn store(slot: &mut Option<Waker>, cx: &Context<'_>) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *slot = Some(cx.waker().clone());
    }
}

struct Chan<ToGuest, ToCaller> {
    capacity: usize,
    /// The caller waits for `started`.
    starting: Option<Waker>,
    to_guest: Queue<ToGuest>,
    to_caller: Queue<ToCaller>,
}

type Shared<G, C> = Arc<Mutex<Chan<G, C>>>;

/// The `started` value, until the linked task takes it.
type FirstSlot<F> = Arc<Mutex<Option<F>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a guest task opened with
/// [`to_guest::open_channel_from`](crate::to_guest::open_channel_from)
/// gets first: [`GuestStart::started`] hands the linked task its first
/// value (as a context's `started` does) and gives the channel.
pub struct GuestStart<First, ToCaller, FromCaller> {
    chan: Shared<FromCaller, ToCaller>,
    first: FirstSlot<First>,
    /// `started` was not called: dropping this closes the channel.
    open: bool,
}

impl<First, ToCaller, FromCaller> GuestStart<First, ToCaller, FromCaller> {
    /// Sends `first` to the linked task, whose `open_channel_from` then
    /// returns it with its end of the channel; gives this end.
    pub fn started(mut self, first: First) -> GuestChannel<ToCaller, FromCaller> {
        *lock(&self.first) = Some(first);
        let chan = self.chan.clone();
        if let Some(w) = lock(&chan).starting.take() {
            w.wake();
        }
        // `self`'s drop would close the channel: the channel's own does.
        self.open = false;
        GuestChannel { chan }
    }
}

impl<First, ToCaller, FromCaller> Drop for GuestStart<First, ToCaller, FromCaller> {
    fn drop(&mut self) {
        if self.open {
            guest_gone(&self.chan);
        }
    }
}

impl<First, ToCaller, FromCaller> std::fmt::Debug for GuestStart<First, ToCaller, FromCaller> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuestStart")
    }
}

fn guest_gone<G, C>(chan: &Mutex<Chan<G, C>>) {
    let (unread, wakers, starting) = {
        let mut c = lock(chan);
        c.to_caller.closed = true;
        let receiver = c.to_caller.receiver.take();
        let (unread, [a, b]) = c.to_guest.shut();
        (unread, [a, b, receiver], c.starting.take())
    };
    drop(unread);
    wake(wakers.into_iter().chain([starting]));
}

/// The guest task's end of its channel with the linked task.
pub struct GuestChannel<ToCaller, FromCaller> {
    chan: Shared<FromCaller, ToCaller>,
}

impl<ToCaller, FromCaller> GuestChannel<ToCaller, FromCaller> {
    /// Sends `item` to the linked task, waiting while the channel is full.
    /// Fails with [`ErrorKind::Closed`] once the linked task's end is gone
    /// (dropped, or waiting for this task's return): nothing reads any
    /// more.
    pub async fn send(&mut self, item: ToCaller) -> Result<()> {
        let mut item = Some(item);
        poll_fn(|cx| {
            let mut c = lock(&self.chan);
            let capacity = c.capacity;
            let q = &mut c.to_caller;
            if q.dropped {
                return Poll::Ready(Err(Error::from(ErrorKind::Closed)));
            }
            if q.items.len() >= capacity {
                store(&mut q.sender, cx);
                return Poll::Pending;
            }
            q.items.extend(item.take());
            let receiver = q.receiver.take();
            drop(c);
            wake([receiver]);
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// The next item the linked task sent; `None` once it closed its end
    /// (see [`LinkedChannel::close`]) and every item was received.
    pub async fn recv(&mut self) -> Option<FromCaller> {
        poll_fn(|cx| {
            let mut c = lock(&self.chan);
            let q = &mut c.to_guest;
            if let Some(item) = q.items.pop_front() {
                let sender = q.sender.take();
                drop(c);
                wake([sender]);
                return Poll::Ready(Some(item));
            }
            if q.closed {
                return Poll::Ready(None);
            }
            store(&mut q.receiver, cx);
            Poll::Pending
        })
        .await
    }
}

impl<ToCaller, FromCaller> Drop for GuestChannel<ToCaller, FromCaller> {
    fn drop(&mut self) {
        guest_gone(&self.chan);
    }
}

impl<ToCaller, FromCaller> std::fmt::Debug for GuestChannel<ToCaller, FromCaller> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuestChannel")
    }
}

/// The linked task's end of its channel with a guest task (from
/// [`to_guest::open_channel_from`](crate::to_guest::open_channel_from)).
///
/// Dropping it cancels the guest task and waits until the guest has
/// dropped it (see [`guest`](crate::guest)); [`LinkedChannel::wait`]
/// waits for the guest task's return instead.
pub struct LinkedChannel<ToGuest, FromGuest, R> {
    chan: Shared<ToGuest, FromGuest>,
    link: Link<R>,
    /// The guest task's output, once taken from the link.
    ended: Option<Result<R>>,
}

impl<ToGuest, FromGuest, R> std::fmt::Debug for LinkedChannel<ToGuest, FromGuest, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkedChannel")
    }
}

impl<ToGuest, FromGuest, R> LinkedChannel<ToGuest, FromGuest, R> {
    /// Sends `item` to the guest task, waiting while the channel is full.
    /// Once the guest task's end is gone, waits for the task to end, and
    /// fails with its error if it failed, with [`ErrorKind::Closed`] if
    /// it returned. Fails with [`ErrorKind::Closed`] at once after
    /// [`close`](LinkedChannel::close).
    pub async fn send(&mut self, item: ToGuest) -> Result<()> {
        let mut item = Some(item);
        poll_fn(|cx| {
            {
                let mut c = lock(&self.chan);
                let capacity = c.capacity;
                let q = &mut c.to_guest;
                if q.closed && !q.dropped {
                    return Poll::Ready(Err(Error::from(ErrorKind::Closed)));
                }
                if !q.dropped {
                    if q.items.len() >= capacity {
                        store(&mut q.sender, cx);
                    } else {
                        q.items.extend(item.take());
                        let receiver = q.receiver.take();
                        drop(c);
                        wake([receiver]);
                        return Poll::Ready(Ok(()));
                    }
                }
            }
            // Full, or the guest's end is gone: then its task's end tells
            // how (it may still run, having dropped its end early).
            match self.poll_end(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => Poll::Ready(Err(Error::from(ErrorKind::Closed))),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// The next item from the guest task, waiting for one. Once the
    /// guest's end is gone and every item was received, waits for the
    /// task to end: its error if it failed (its panic included), else
    /// [`ErrorKind::EndOfStream`].
    pub async fn receive(&mut self) -> Result<FromGuest> {
        poll_fn(|cx| {
            let closed = {
                let mut c = lock(&self.chan);
                let q = &mut c.to_caller;
                if let Some(item) = q.items.pop_front() {
                    let sender = q.sender.take();
                    drop(c);
                    wake([sender]);
                    return Poll::Ready(Ok(item));
                }
                store(&mut q.receiver, cx);
                q.closed
            };
            if !closed {
                // The guest's end closes before its task ends; the link
                // is polled meanwhile all the same (its waker is this).
                return match self.poll_end(cx) {
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    _ => Poll::Pending,
                };
            }
            // The guest's end is gone: its task's end tells how (it may
            // still run, having dropped its end early).
            self.poll_end(cx)
                .map(|end| end.and_then(|()| Err(Error::from(ErrorKind::EndOfStream))))
        })
        .await
    }

    /// Closes this end for sending: the guest task's
    /// [`recv`](GuestChannel::recv) yields `None` once it has what was
    /// sent. Receiving goes on.
    pub fn close(&mut self) {
        let receiver = {
            let mut c = lock(&self.chan);
            c.to_guest.closed = true;
            c.to_guest.receiver.take()
        };
        wake([receiver]);
    }

    /// Closes this end both ways: nothing more is sent, and what the
    /// guest task sent, or still sends, is dropped.
    fn shut(&mut self) {
        let (unread, wakers, receiver) = {
            let mut c = lock(&self.chan);
            c.to_guest.closed = true;
            let receiver = c.to_guest.receiver.take();
            let (unread, wakers) = c.to_caller.shut();
            (unread, wakers, receiver)
        };
        drop(unread);
        wake(wakers.into_iter().chain([receiver]));
    }

    /// Closes this end (as [`close`](LinkedChannel::close), and what the
    /// guest task still sends is dropped), then waits for the guest task
    /// to return, and yields what it returned: its output, or its error.
    pub async fn wait(mut self) -> Result<R> {
        self.shut();
        poll_fn(|cx| self.poll_end(cx)).await?;
        self.ended
            .take()
            .unwrap_or_else(|| Err(ErrorKind::Cancelled.into()))
    }

    /// Ready once the guest task ended: `Err` with its error (again on
    /// every call), `Ok` if it returned (its output kept for `wait`).
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.ended.is_none() {
            match Pin::new(&mut self.link).poll(cx) {
                Poll::Ready(out) => self.ended = Some(out),
                Poll::Pending => return Poll::Pending,
            }
        }
        match &self.ended {
            Some(Err(e)) => Poll::Ready(Err(e.clone())),
            _ => Poll::Ready(Ok(())),
        }
    }
}

impl<ToGuest, FromGuest, R> Drop for LinkedChannel<ToGuest, FromGuest, R> {
    fn drop(&mut self) {
        self.shut();
        // `link`'s own drop then cancels the guest task and waits for it.
    }
}

/// The two ends of a new channel, before its guest task starts.
pub(crate) fn pair<First, ToGuest, FromGuest>(
    capacity: usize,
) -> (
    GuestStart<First, FromGuest, ToGuest>,
    Starting<First, ToGuest, FromGuest>,
) {
    let capacity = capacity.max(1);
    let chan = Arc::new(Mutex::new(Chan {
        capacity,
        starting: None,
        to_guest: Queue::new(capacity),
        to_caller: Queue::new(capacity),
    }));
    let first = Arc::new(Mutex::new(None));
    (
        GuestStart {
            chan: chan.clone(),
            first: first.clone(),
            open: true,
        },
        Starting { chan, first },
    )
}

/// The linked task's end until `started` comes.
pub(crate) struct Starting<First, ToGuest, FromGuest> {
    chan: Shared<ToGuest, FromGuest>,
    first: FirstSlot<First>,
}

impl<First, ToGuest, FromGuest> Starting<First, ToGuest, FromGuest> {
    /// Waits for the guest task's `started` value, or its end (an error,
    /// or a return before `started`, which is one).
    pub(crate) async fn started<R>(
        self,
        mut link: Link<R>,
        runtime: &'static str,
    ) -> Result<(First, LinkedChannel<ToGuest, FromGuest, R>)> {
        let mut ended = None;
        let first = poll_fn(|cx| {
            if let Some(first) = lock(&self.first).take() {
                return Poll::Ready(Ok(first));
            }
            store(&mut lock(&self.chan).starting, cx);
            if let Some(first) = lock(&self.first).take() {
                return Poll::Ready(Ok(first));
            }
            match Pin::new(&mut link).poll(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Ready(Ok(out)) => {
                    // It may have sent `started` before it returned.
                    ended = Some(Ok(out));
                    match lock(&self.first).take() {
                        Some(first) => Poll::Ready(Ok(first)),
                        None => Poll::Ready(Err(Error::runtime(format!(
                            "the guest task (on {runtime}) returned without calling started()"
                        )))),
                    }
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await?;
        Ok((
            first,
            LinkedChannel {
                chan: self.chan,
                link,
                ended,
            },
        ))
    }
}
