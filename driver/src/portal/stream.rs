//! [`MsgStream`] and its items as a `futures` stream, [`Items`].

use std::future::poll_fn;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tractor_protocol::{DialogId, Raw, Role, UsageError};

use crate::engine::Shared;
use crate::error::{Error, ErrorKind, Result};
use crate::payload::{decode, encode};

use super::dialog_error;
use super::dlg::{Dlg, STREAM_SUB};

/// Which kind of stream a [`MsgStream`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StreamSide {
    /// A context's two-way stream.
    Context,
    /// A served generator's sending end.
    Generator,
    /// A legacy stream's receiving end.
    From,
}

/// A stream of messages inside a context (both ways) or from a generator
/// (one way), Python's `MsgStream`.
///
/// Items are any `serde` values; each [`MsgStream::receive`] names the type
/// it expects. Dropping a context's stream closes this side (a `Stop` to
/// the peer); [`MsgStream::into_items`] gives a `futures` `Stream`.
pub struct MsgStream {
    pub(super) dlg: Arc<Dlg>,
    pub(super) side: StreamSide,
}

impl std::fmt::Debug for MsgStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MsgStream({} with {})", self.dlg.dialog, self.dlg.peer)
    }
}

impl MsgStream {
    pub(crate) fn generator(shared: Arc<Shared>, dialog: DialogId) -> Self {
        let peer = shared.uid.clone();
        MsgStream {
            dlg: Dlg::new(shared, dialog, Role::Callee, peer),
            side: StreamSide::Generator,
        }
    }

    /// Sends one item; waits while the peer has no room for it (between
    /// our actors, credit-based flow control; towards Python, never). The
    /// item is encoded at once: the future borrows only the stream, not
    /// the item. Unlike the calls that return an
    /// [`ApiFuture`](crate::ApiFuture), this one allocates nothing of its
    /// own per item: it is the streaming hot path.
    #[track_caller]
    pub fn send<'s, T: Serialize + ?Sized>(
        &'s self,
        item: &T,
    ) -> impl Future<Output = Result<()>> + Send + use<'s, T> {
        let raw = encode(item);
        crate::task_record::api("MsgStream::send", self.send_raw(raw))
    }

    /// Sends one item already encoded (see [`MsgStream::send`]).
    pub(crate) async fn send_raw(&self, raw: Result<Raw>) -> Result<()> {
        if self.side == StreamSide::From {
            return Err(Error::runtime("a stream from a generator only receives"));
        }
        let raw = raw?;
        let dialog = self.dlg.dialog;
        if self.dlg.turn_due() {
            self.dlg.shared.rt.yield_now().await;
        }
        poll_fn(|cx| {
            self.dlg.shared.poll_dialog(dialog, cx, |st| {
                match st.actor.send(dialog, raw.clone()) {
                    Ok(()) => Some(Ok(())),
                    Err(UsageError::NoCredit(_)) => None,
                    // The function ended while we waited for room: its
                    // failure is the answer (it may be a moment away:
                    // a dead child's exit).
                    Err(e @ UsageError::Ended(_)) => match st.actor.final_error(dialog) {
                        Some(failure) => Some(Err(dialog_error(failure.clone()))),
                        None if st.actor.outcome_pending(dialog) => None,
                        None => Some(Err(e.into())),
                    },
                    Err(e) => Some(Err(e.into())),
                }
            })
        })
        .await
    }

    /// Receives the next item. When no item will come any more (the peer
    /// has closed its side, or the dialog has ended), this is an
    /// [`ErrorKind::EndOfStream`] error (or the dialog's own error). After
    /// this side's [`close`](MsgStream::close), items that arrived late
    /// were dropped before that end.
    #[track_caller]
    pub fn receive<T: DeserializeOwned>(&self) -> impl Future<Output = Result<T>> {
        crate::task_record::api("MsgStream::receive", async move {
            match self.next::<T>().await {
                Some(r) => r,
                None => Err(ErrorKind::EndOfStream.into()),
            }
        })
    }

    /// The next item, or `None` at the end of the stream.
    #[track_caller]
    pub fn next<T: DeserializeOwned>(&self) -> impl Future<Output = Option<Result<T>>> {
        crate::task_record::api("MsgStream::next", async move {
            poll_fn(|cx| self.poll_item(cx)).await
        })
    }

    pub(super) fn poll_item<T: DeserializeOwned>(
        &self,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<T>>> {
        if self.side == StreamSide::Generator {
            return Poll::Ready(Some(Err(Error::runtime("a generator's stream only sends"))));
        }
        self.dlg
            .poll_sub(STREAM_SUB, true, cx)
            .map(|o| o.map(|r| r.and_then(|raw| decode(&raw))))
    }

    /// Closes this stream, in both directions, as Python's `aclose` does:
    /// the peer's `receive` ends, and this side stops taking items.
    ///
    /// Items already received can still be read. Items the peer sends
    /// after the close are dropped: each is logged at `debug` under
    /// `tractor::transport` with the count so far. Reading on after a
    /// close gives what was received before it, then the end
    /// ([`ErrorKind::EndOfStream`] from [`receive`](MsgStream::receive),
    /// `None` from [`next`](MsgStream::next)) once the peer ends its side
    /// or the context ends: not every item the peer sent.
    ///
    /// So, to read a peer's last replies, do not close first: read the
    /// replies you wait for, then close; or, with a peer that ends its
    /// side by itself (it closes its stream, or its function returns),
    /// read until the end and close after. Closing from one task while
    /// another still reads drops what had not arrived yet.
    ///
    /// A legacy one-way stream ([`Portal::open_stream_from`](crate::Portal::open_stream_from), or a served
    /// generator's sending end) is not closed by this: it ends with its
    /// generator, and dropping its receiving end cancels the generator.
    /// Closing twice is harmless; dropping a context's stream closes it.
    pub fn close(&self) -> Result<()> {
        if self.side == StreamSide::Context {
            self.dlg.op(|a, _, d| a.close_stream(d))?;
        }
        Ok(())
    }

    /// The items as a `futures` `Stream` of `T`.
    pub fn into_items<T: DeserializeOwned>(self) -> Items<T> {
        Items::new(self)
    }
}

impl Drop for MsgStream {
    fn drop(&mut self) {
        // A served function's own stream, dropped while it runs, closes at
        // the end of that poll, unless the function failed (see
        // `task_record::hold_stop`).
        let held = self.side == StreamSide::Context
            && self.dlg.role == Role::Callee
            && crate::task_record::hold_stop(self.dlg.dialog);
        if self.side == StreamSide::Context && !held {
            let _ = self.close();
        }
        // Once there are subscribers, the stream no longer holds them back.
        let mut fanout = self.dlg.fanout.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = fanout.as_mut() {
            f.remove(STREAM_SUB);
        }
    }
}

/// The items of a [`MsgStream`] or a [`BroadcastReceiver`](crate::BroadcastReceiver) as a
/// `futures_core::Stream` of `T`.
#[derive(Debug)]
pub struct Items<T, S = MsgStream> {
    pub(super) source: S,
    pub(super) _item: PhantomData<fn() -> T>,
}

impl<T, S> Items<T, S> {
    pub(crate) fn new(source: S) -> Self {
        Items {
            source,
            _item: PhantomData,
        }
    }

    /// What the items come from.
    pub fn get_ref(&self) -> &S {
        &self.source
    }
}

impl<T> Items<T> {
    /// The stream back, for sending.
    pub fn stream(&self) -> &MsgStream {
        &self.source
    }
}

impl<T: DeserializeOwned> futures_core::Stream for Items<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Result<T>>> {
        self.source.poll_item(cx)
    }
}
