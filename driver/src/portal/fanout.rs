//! The broadcast window behind [`BroadcastReceiver`](crate::BroadcastReceiver):
//! one bounded window of items shared by every subscriber, each with its
//! own read position. A plain data structure, knowing nothing of dialogs.

use std::collections::{HashMap, VecDeque};

use crate::error::Error;

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
    pub(super) buf: VecDeque<T>,
    /// The sequence number of `buf[0]`.
    pub(super) first: u64,
    pub(super) subs: HashMap<u64, u64>,
    pub(super) next_id: u64,
    pub(super) capacity: usize,
    pub(super) end: Option<Option<Error>>,
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

    pub(super) fn tail(&self) -> u64 {
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
    pub(super) fn len(&self) -> usize {
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
    pub(super) fn trim(&mut self) {
        let oldest = self.subs.values().copied().min().unwrap_or(self.tail());
        while self.first < oldest && !self.buf.is_empty() {
            self.buf.pop_front();
            self.first += 1;
        }
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
