//! Publish/subscribe: an actor publishes items under topics; subscribers
//! in other actors each get the topics they asked for over a stream of
//! their own.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use serde::Serialize;
use tractor_protocol::Raw;

use crate::error::Result;
use crate::payload::encode;
use crate::portal::Context;

/// How many items a subscriber that does not keep up may have waiting by
/// default, beyond what its stream's credit window already took.
pub const DEFAULT_SUBSCRIBER_BACKLOG: usize = 1000;

/// The publishing side of publish/subscribe: [`publish`](Publisher::publish)
/// an item under a topic, and every subscriber that asked for the topic
/// gets `(topic, item)` on its stream.
///
/// Each subscriber is served by a context function of the publishing
/// actor that calls [`serve`](Publisher::serve): that function's task
/// sends the subscriber's items, with the stream's credit flow control,
/// so a subscriber that reads slowly holds back only its own task. Items
/// wait for it in a backlog of their own, bounded: when it is full, the
/// oldest is dropped and counted as lagged ([`lagged`](Publisher::lagged)),
/// and publishing never waits.
///
/// ```
/// # use tractor_driver::prelude::*;
/// # use tractor_driver::Publisher;
/// #[derive(serde::Deserialize)]
/// struct Topics {
///     topics: Vec<String>,
/// }
///
/// let quotes: Publisher<f64> = Publisher::new();
/// let serving = quotes.clone();
/// // The function subscribers open a context with.
/// let functions = Functions::new().context("feeds", "subscribe", move |ctx: Context, t: Topics| {
///     let quotes = serving.clone();
///     async move { quotes.serve(ctx, t.topics).await }
/// });
/// // Anywhere in the publishing actor:
/// assert_eq!(quotes.publish("BTC", &42_000.5)?, 0); // nobody subscribed yet
/// # let _ = functions;
/// # Ok::<(), Error>(())
/// ```
pub struct Publisher<T> {
    inner: Arc<Mutex<Subscribers>>,
    _items: PhantomData<fn(&T)>,
}

impl<T> Clone for Publisher<T> {
    fn clone(&self) -> Self {
        Publisher {
            inner: self.inner.clone(),
            _items: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("Publisher")
            .field("subscribers", &s.subs.len())
            .field("lagged", &s.lagged)
            .finish()
    }
}

struct Subscribers {
    next: u64,
    backlog: usize,
    subs: HashMap<u64, Subscriber>,
    /// Items dropped, summed over every subscriber so far.
    lagged: u64,
}

struct Subscriber {
    topics: HashSet<String>,
    queue: VecDeque<Raw>,
    waker: Option<Waker>,
}

impl<T> Default for Publisher<T> {
    fn default() -> Self {
        Self::with_backlog(DEFAULT_SUBSCRIBER_BACKLOG)
    }
}

impl<T> Publisher<T> {
    /// A publisher whose subscribers may each have
    /// [`DEFAULT_SUBSCRIBER_BACKLOG`] items waiting.
    pub fn new() -> Self {
        Self::default()
    }

    /// A publisher whose subscribers may each have `backlog` items
    /// waiting (at least one).
    pub fn with_backlog(backlog: usize) -> Self {
        Publisher {
            inner: Arc::new(Mutex::new(Subscribers {
                next: 0,
                backlog: backlog.max(1),
                subs: HashMap::new(),
                lagged: 0,
            })),
            _items: PhantomData,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Subscribers> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many subscribers are connected.
    pub fn subscribers(&self) -> usize {
        self.lock().subs.len()
    }

    /// How many items were dropped because a subscriber's backlog was
    /// full, over all subscribers so far.
    pub fn lagged(&self) -> u64 {
        self.lock().lagged
    }

    /// Serves one subscriber, inside the context function it opened with
    /// `topics`: sends `started`, then every item published under one of
    /// the topics, as `(topic, item)`, until the subscriber closes its side
    /// of the stream or leaves the context (which cancels this). A
    /// subscriber sends nothing: anything it sends ends its subscription.
    /// Returns how many items it sent.
    pub async fn serve(&self, ctx: Context, topics: Vec<String>) -> Result<u64> {
        ctx.started(()).await?;
        let stream = ctx.open_stream().await?;
        let id = {
            let mut s = self.lock();
            let id = s.next;
            s.next += 1;
            s.subs.insert(
                id,
                Subscriber {
                    topics: topics.into_iter().collect(),
                    queue: VecDeque::new(),
                    waker: None,
                },
            );
            id
        };
        // Gone with this task, however it ends.
        let _leave = Leave {
            inner: &self.inner,
            id,
        };
        // The subscriber's side ending is the end of this one.
        let mut ended = pin!(stream.next::<serde::de::IgnoredAny>());
        let mut sent = 0u64;
        loop {
            let next = poll_fn(|cx| {
                if ended.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                let mut s = self.lock();
                let Some(sub) = s.subs.get_mut(&id) else {
                    return Poll::Ready(None);
                };
                match sub.queue.pop_front() {
                    Some(item) => Poll::Ready(Some(item)),
                    None => {
                        sub.waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            })
            .await;
            let Some(item) = next else {
                return Ok(sent);
            };
            stream.send_raw(Ok(item)).await?;
            sent += 1;
        }
    }
}

impl<T: Serialize> Publisher<T> {
    /// Publishes `item` under `topic` to every subscriber that asked for
    /// it: the number of subscribers it went to. Never waits: a subscriber
    /// whose backlog is full loses its oldest item waiting.
    pub fn publish(&self, topic: &str, item: &T) -> Result<usize> {
        let pair = encode(&(topic, item))?;
        let mut woken = Vec::new();
        let reached = {
            let mut s = self.lock();
            let backlog = s.backlog;
            let mut dropped = 0;
            let mut reached = 0;
            for sub in s.subs.values_mut().filter(|sub| sub.topics.contains(topic)) {
                if sub.queue.len() == backlog {
                    sub.queue.pop_front();
                    dropped += 1;
                }
                sub.queue.push_back(pair.clone());
                woken.extend(sub.waker.take());
                reached += 1;
            }
            s.lagged += dropped;
            if dropped > 0 {
                tracing::debug!(target: "tractor::transport", topic, dropped, "slow subscribers lagged");
            }
            reached
        };
        woken.into_iter().for_each(Waker::wake);
        Ok(reached)
    }
}

/// A subscriber's place, given up when its serving task ends.
struct Leave<'a> {
    inner: &'a Mutex<Subscribers>,
    id: u64,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .subs
            .remove(&self.id);
    }
}
