//! Broadcast fan-out of one stream to many local tasks:
//! [`MsgStream::subscribe`](crate::MsgStream::subscribe) and
//! [`BroadcastReceiver`].
//!
//! The items of the stream go into one bounded window shared by every
//! subscriber; each subscriber has its own read position in it. Whichever
//! subscriber finds nothing unread pulls the next item from the stream, so
//! no task is dedicated to pumping, and a subscriber that is cancelled while
//! waiting leaves nothing behind: the others are woken by the stream itself.
//! A subscriber that falls more than the window's size behind gets
//! [`ErrorKind::Lagged`] once and then reads on from the oldest item still
//! held, as tokio's broadcast channel does.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use serde::de::DeserializeOwned;
use tractor_protocol::Raw;

use super::dlg::Dlg;
use super::fanout::Fanout;
use super::stream::{Items, MsgStream, StreamSide};
use crate::error::{Error, ErrorKind, Result};
use crate::payload::decode;

/// One local task's view of a broadcast stream, made by
/// [`MsgStream::subscribe`](crate::MsgStream::subscribe) or
/// [`BroadcastReceiver::subscribe`] (Python's `broadcast_receiver`).
///
/// Each receiver gets every item that arrives after it subscribed, in
/// order. Dropping it, or [`BroadcastReceiver::close`], unsubscribes.
pub struct BroadcastReceiver {
    pub(crate) dlg: Arc<Dlg>,
    pub(crate) id: u64,
    pub(super) raise_on_lag: bool,
}

impl std::fmt::Debug for BroadcastReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BroadcastReceiver({} of {:?})", self.id, self.dlg)
    }
}

impl BroadcastReceiver {
    pub(crate) fn new(dlg: Arc<Dlg>, id: u64) -> Self {
        BroadcastReceiver {
            dlg,
            id,
            raise_on_lag: true,
        }
    }

    /// Whether falling behind is an [`ErrorKind::Lagged`] error (the
    /// default) or only a logged warning before reading on.
    pub fn raise_on_lag(mut self, raise: bool) -> Self {
        self.raise_on_lag = raise;
        self
    }

    /// Another receiver of the same stream, starting at the next item to
    /// arrive. Fails with [`ErrorKind::Closed`] once this one is closed.
    pub fn subscribe(&self) -> Result<BroadcastReceiver> {
        let id = self.dlg.with_fanout(|f| {
            if f.contains(self.id) {
                Ok(f.add())
            } else {
                Err(Error::from(ErrorKind::Closed))
            }
        })?;
        Ok(BroadcastReceiver::new(self.dlg.clone(), id))
    }

    /// Receives the next item; at the end of the stream this is an
    /// [`ErrorKind::EndOfStream`] error (or the stream's own error).
    #[track_caller]
    pub fn receive<T: DeserializeOwned>(&self) -> impl Future<Output = Result<T>> {
        crate::task_record::api("BroadcastReceiver::receive", async move {
            match self.next::<T>().await {
                Some(r) => r,
                None => Err(ErrorKind::EndOfStream.into()),
            }
        })
    }

    /// The next item, or `None` at the end of the stream.
    #[track_caller]
    pub fn next<T: DeserializeOwned>(&self) -> impl Future<Output = Option<Result<T>>> {
        crate::task_record::api("BroadcastReceiver::next", async move {
            poll_fn(|cx| self.poll_item(cx)).await
        })
    }

    pub(crate) fn poll_item<T: DeserializeOwned>(
        &self,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<T>>> {
        self.dlg
            .poll_sub(self.id, self.raise_on_lag, cx)
            .map(|o| o.map(|r| r.and_then(|raw: Raw| decode(&raw))))
    }

    /// Unsubscribes; receiving afterwards fails with
    /// [`ErrorKind::Closed`]. Closing twice is harmless.
    pub fn close(&self) {
        self.dlg.with_fanout(|f| f.remove(self.id));
    }

    /// The items as a `futures` `Stream` of `T`.
    pub fn into_items<T: DeserializeOwned>(self) -> Items<T, BroadcastReceiver> {
        Items::new(self)
    }
}

impl Drop for BroadcastReceiver {
    fn drop(&mut self) {
        self.close();
    }
}

impl MsgStream {
    /// A broadcast receiver of this stream's items, for fan-out to many
    /// local tasks (Python's `MsgStream.subscribe`).
    ///
    /// Each receiver gets every item that arrives after it subscribed;
    /// from the first subscription on, this stream's own `receive` reads
    /// the same way, as one more subscriber. Up to
    /// [`DEFAULT_BROADCAST_CAPACITY`](crate::DEFAULT_BROADCAST_CAPACITY) items are held for the slowest
    /// receiver; one that falls further behind gets
    /// [`ErrorKind::Lagged`]. Keep the stream itself alive while its
    /// receivers read: dropping it closes this side.
    pub fn subscribe(&self) -> Result<BroadcastReceiver> {
        if self.side == StreamSide::Generator {
            return Err(Error::runtime("a generator's stream only sends"));
        }
        let id = self.dlg.with_fanout(Fanout::add);
        Ok(BroadcastReceiver::new(self.dlg.clone(), id))
    }
}

impl<T: DeserializeOwned> futures_core::Stream for Items<T, BroadcastReceiver> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Result<T>>> {
        self.source.poll_item(cx)
    }
}
