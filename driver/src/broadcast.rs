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

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use serde::de::DeserializeOwned;
use tractor_protocol::Raw;

use crate::error::{Error, ErrorKind, Result};
use crate::portal::{Dlg, Items, decode};

/// How many items a stream's fan-out holds for its slowest subscriber.
pub const DEFAULT_BROADCAST_CAPACITY: usize = 1000;

/// What a subscriber finds at its read position.
#[derive(Debug)]
pub(crate) enum Next<T> {
    /// The next item.
    Item(T),
    /// The subscriber fell behind by this many items; it reads on from
    /// the oldest item held.
    Lagged(u64),
    /// The stream ended, normally (`None`) or with an error.
    End(Option<Error>),
    /// Nothing unread: the caller pulls from the stream.
    Empty,
    /// This subscriber was closed.
    Closed,
}

/// The shared window: items by sequence number, each subscriber's next
/// sequence number, and how the stream ended.
#[derive(Debug)]
pub(crate) struct Fanout<T> {
    buf: VecDeque<T>,
    /// The sequence number of `buf[0]`.
    first: u64,
    subs: HashMap<u64, u64>,
    next_id: u64,
    capacity: usize,
    end: Option<Option<Error>>,
}

impl<T: Clone> Fanout<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        Fanout {
            buf: VecDeque::new(),
            first: 0,
            subs: HashMap::new(),
            next_id: 0,
            capacity: capacity.max(1),
            end: None,
        }
    }

    fn tail(&self) -> u64 {
        self.first + self.buf.len() as u64
    }

    /// A new subscriber, which sees the items pushed from now on.
    pub(crate) fn add(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.subs.insert(id, self.tail());
        id
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.subs.contains_key(&id)
    }

    pub(crate) fn remove(&mut self, id: u64) {
        self.subs.remove(&id);
        self.trim();
    }

    /// How many subscribers are open.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.subs.len()
    }

    /// Subscriber `id`'s next item, advancing it.
    pub(crate) fn next(&mut self, id: u64) -> Next<T> {
        let Some(&seq) = self.subs.get(&id) else {
            return Next::Closed;
        };
        if seq < self.first {
            self.subs.insert(id, self.first);
            return Next::Lagged(self.first - seq);
        }
        if seq < self.tail() {
            let item = self.buf[(seq - self.first) as usize].clone();
            self.subs.insert(id, seq + 1);
            self.trim();
            return Next::Item(item);
        }
        match &self.end {
            Some(end) => Next::End(end.clone()),
            None => Next::Empty,
        }
    }

    /// Appends an item pulled from the stream; the oldest goes once the
    /// window is full.
    pub(crate) fn push(&mut self, item: T) {
        self.buf.push_back(item);
        if self.buf.len() > self.capacity {
            self.buf.pop_front();
            self.first += 1;
        }
    }

    /// Records how the stream ended; every subscriber sees it after its
    /// unread items.
    pub(crate) fn finish(&mut self, end: Option<Error>) {
        self.end.get_or_insert(end);
    }

    /// Drops the items every subscriber has read.
    fn trim(&mut self) {
        let oldest = self.subs.values().copied().min().unwrap_or(self.tail());
        while self.first < oldest && !self.buf.is_empty() {
            self.buf.pop_front();
            self.first += 1;
        }
    }
}

/// One local task's view of a broadcast stream, made by
/// [`MsgStream::subscribe`](crate::MsgStream::subscribe) or
/// [`BroadcastReceiver::subscribe`] (Python's `broadcast_receiver`).
///
/// Each receiver gets every item that arrives after it subscribed, in
/// order. Dropping it, or [`BroadcastReceiver::close`], unsubscribes.
pub struct BroadcastReceiver {
    pub(crate) dlg: Arc<Dlg>,
    pub(crate) id: u64,
    raise_on_lag: bool,
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
        crate::stackscope::api("BroadcastReceiver::receive", async move {
            match self.next::<T>().await {
                Some(r) => r,
                None => Err(ErrorKind::EndOfStream.into()),
            }
        })
    }

    /// The next item, or `None` at the end of the stream.
    #[track_caller]
    pub fn next<T: DeserializeOwned>(&self) -> impl Future<Output = Option<Result<T>>> {
        crate::stackscope::api("BroadcastReceiver::next", async move {
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

#[cfg(test)]
mod tests {
    use super::*;

    impl<T: PartialEq> PartialEq for Next<T> {
        fn eq(&self, other: &Self) -> bool {
            match (self, other) {
                (Next::Item(a), Next::Item(b)) => a == b,
                (Next::Lagged(a), Next::Lagged(b)) => a == b,
                (Next::End(a), Next::End(b)) => a.is_some() == b.is_some(),
                (Next::Empty, Next::Empty) | (Next::Closed, Next::Closed) => true,
                _ => false,
            }
        }
    }

    #[test]
    fn every_subscriber_reads_every_item_in_order() {
        let mut f = Fanout::new(8);
        let (a, b) = (f.add(), f.add());
        assert_eq!(f.next(a), Next::Empty);
        for i in 0..3 {
            f.push(i);
        }
        assert_eq!(f.next(a), Next::Item(0));
        assert_eq!(f.next(a), Next::Item(1));
        assert_eq!(f.next(b), Next::Item(0));
        assert_eq!(f.next(a), Next::Item(2));
        assert_eq!(f.next(a), Next::Empty);
        assert_eq!(f.next(b), Next::Item(1));
        assert_eq!(f.next(b), Next::Item(2));
        // Read by all: nothing is held any more.
        assert!(f.buf.is_empty());
    }

    #[test]
    fn a_late_subscriber_starts_at_the_tail() {
        let mut f = Fanout::new(8);
        let a = f.add();
        f.push(1);
        let b = f.add();
        f.push(2);
        assert_eq!(f.next(b), Next::Item(2));
        assert_eq!(f.next(a), Next::Item(1));
    }

    #[test]
    fn a_slow_subscriber_lags_once_then_reads_from_the_oldest() {
        let mut f = Fanout::new(3);
        let (fast, slow) = (f.add(), f.add());
        for i in 0..5 {
            f.push(i);
            assert_eq!(f.next(fast), Next::Item(i));
        }
        assert_eq!(f.next(slow), Next::Lagged(2));
        assert_eq!(f.next(slow), Next::Item(2));
        assert_eq!(f.next(slow), Next::Item(3));
        assert_eq!(f.next(slow), Next::Item(4));
        assert_eq!(f.next(slow), Next::Empty);
    }

    #[test]
    fn the_end_comes_after_the_unread_items() {
        let mut f = Fanout::new(4);
        let (a, b) = (f.add(), f.add());
        f.push(7);
        f.finish(None);
        f.finish(Some(Error::runtime("ignored: the first end stands")));
        assert_eq!(f.next(a), Next::Item(7));
        assert_eq!(f.next(a), Next::End(None));
        assert_eq!(f.next(a), Next::End(None));
        assert_eq!(f.next(b), Next::Item(7));
        assert_eq!(f.next(b), Next::End(None));
    }

    #[test]
    fn a_closed_subscriber_holds_nothing_back() {
        let mut f = Fanout::new(4);
        let (a, b) = (f.add(), f.add());
        f.push(1);
        f.push(2);
        assert_eq!(f.next(a), Next::Item(1));
        f.remove(b);
        assert_eq!(f.buf.len(), 1);
        assert_eq!(f.next(b), Next::Closed);
        assert_eq!(f.len(), 1);
        f.remove(b);
        assert_eq!(f.len(), 1);
    }
}
