//! A shared context cache: many local tasks ask for "the" context (or any
//! resource) of a key; the first opens it, the others share it, and it is
//! closed when the last of them lets go (Python's `maybe_open_context`).

use std::collections::HashMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::hash::Hash;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use crate::error::Result;

/// Resources opened once per key and shared by every local task that asks
/// for the same key while one is open (Python's `maybe_open_context`).
///
/// [`open`](ContextCache::open) gives the resource of a key, opening it
/// with the function given if nobody holds one; a task that asks while
/// another opens it waits for that opening instead of opening a second.
/// The resource is dropped (a context dropped cancels its function; a
/// stream dropped closes) when the last [`Cached`] handle of it goes. To
/// share a stream's items among the tasks, hold the stream and give each
/// task a [`subscribe`](crate::MsgStream::subscribe) of it.
///
/// The cache is a value the program holds (clones share it), not a hidden
/// global: one per kind of resource, kept where the tasks can reach it.
///
/// Unlike Python's, a resource's end is its drop: synchronous, with the
/// last hold, whatever ended that hold's task (a return, an error, a
/// cancellation). So there is no exit to wait for, no error from an exit
/// to deliver or to mask another, and no task of the cache's own: the
/// resource lives in the holds of the tasks that use it, and the next task
/// to ask after its end opens a new one.
///
/// ```no_run
/// # use tractor_driver::{ContextCache, MsgStream, Portal, Result};
/// # async fn demo(portal: Portal, cache: ContextCache<String, MsgStream>) -> Result<()> {
/// let (hit, feed) = cache
///     .open("BTC".to_owned(), || async move {
///         let (ctx, ()) = portal.open_context("feeds", "quotes", ()).await?;
///         ctx.open_stream().await
///     })
///     .await?;
/// let quotes = feed.subscribe()?; // this task's own view of the stream
/// # let _ = (hit, quotes);
/// # Ok(())
/// # }
/// ```
pub struct ContextCache<K, V> {
    entries: Arc<Mutex<HashMap<K, Entry<V>>>>,
}

impl<K, V> Clone for ContextCache<K, V> {
    fn clone(&self) -> Self {
        ContextCache {
            entries: self.entries.clone(),
        }
    }
}

impl<K, V> Default for ContextCache<K, V> {
    fn default() -> Self {
        ContextCache {
            entries: Arc::default(),
        }
    }
}

impl<K: fmt::Debug, V> fmt::Debug for ContextCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_list().entries(entries.keys()).finish()
    }
}

/// One key's state.
enum Entry<V> {
    /// A task is opening it; these wait for it.
    Opening(Vec<Waker>),
    /// Open, held by `users` handles.
    Open { value: Arc<V>, users: usize },
}

impl<K: Hash + Eq + Clone, V> ContextCache<K, V> {
    /// An empty cache.
    pub fn new() -> Self {
        ContextCache {
            entries: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Entry<V>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many keys are open or being opened.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is open.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The resource of `key`, and whether it was in the cache already
    /// (`true`: another task had opened it). Opens it with `open` otherwise;
    /// if that fails, the error is this call's, and a task that was waiting
    /// for this opening tries in turn.
    pub async fn open<F, Fut>(&self, key: K, open: F) -> Result<(bool, Cached<K, V>)>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        // Either the value is there (a hit), or this task takes the
        // opening, or it waits for another's.
        let opener = poll_fn(|cx| {
            let mut entries = self.lock();
            match entries.get_mut(&key) {
                Some(Entry::Open { value, users }) => {
                    *users += 1;
                    Poll::Ready(Some(value.clone()))
                }
                Some(Entry::Opening(waiters)) => {
                    waiters.push(cx.waker().clone());
                    Poll::Pending
                }
                None => {
                    entries.insert(key.clone(), Entry::Opening(Vec::new()));
                    Poll::Ready(None)
                }
            }
        })
        .await;
        if let Some(value) = opener {
            return Ok((true, self.handle(key, value)));
        }
        // This task opens it; dropped or failed, it hands the opening
        // on to the next waiter.
        let mut guard = Opening {
            cache: self,
            key: Some(key),
        };
        let value = Arc::new(open().await?);
        let key = guard.key.take().expect("the key being opened");
        let waiters = {
            let mut entries = self.lock();
            let old = entries.insert(
                key.clone(),
                Entry::Open {
                    value: value.clone(),
                    users: 1,
                },
            );
            match old {
                Some(Entry::Opening(waiters)) => waiters,
                _ => Vec::new(),
            }
        };
        waiters.into_iter().for_each(Waker::wake);
        Ok((false, self.handle(key, value)))
    }

    fn handle(&self, key: K, value: Arc<V>) -> Cached<K, V> {
        Cached {
            cache: self.clone(),
            key: Some(key),
            value,
        }
    }
}

/// An opening under way: if it does not finish (its task dropped, its
/// function failed), the key is freed and the tasks waiting for it woken,
/// one of which opens it then.
struct Opening<'c, K: Hash + Eq + Clone, V> {
    cache: &'c ContextCache<K, V>,
    key: Option<K>,
}

impl<K: Hash + Eq + Clone, V> Drop for Opening<'_, K, V> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let waiters = match self.cache.lock().remove(&key) {
            Some(Entry::Opening(waiters)) => waiters,
            _ => Vec::new(),
        };
        waiters.into_iter().for_each(Waker::wake);
    }
}

/// One task's hold on a cached resource; the resource goes when the last
/// hold on it does.
pub struct Cached<K: Hash + Eq + Clone, V> {
    cache: ContextCache<K, V>,
    key: Option<K>,
    value: Arc<V>,
}

impl<K: Hash + Eq + Clone, V> Deref for Cached<K, V> {
    type Target = V;

    fn deref(&self) -> &V {
        &self.value
    }
}

impl<K: Hash + Eq + Clone + fmt::Debug, V> fmt::Debug for Cached<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cached({:?})", self.key)
    }
}

impl<K: Hash + Eq + Clone, V> Drop for Cached<K, V> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let last = {
            let mut entries = self.cache.lock();
            match entries.get_mut(&key) {
                Some(Entry::Open { users, .. }) if *users > 1 => {
                    *users -= 1;
                    None
                }
                Some(Entry::Open { .. }) => entries.remove(&key),
                _ => None,
            }
        };
        // The resource itself goes here, outside the lock (its drop may
        // cancel a context or close a stream).
        drop(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn the_first_opens_the_others_share_and_the_last_closes() {
        let cache: ContextCache<&str, Counted> = ContextCache::new();
        let closed = Arc::new(AtomicUsize::new(0));
        let opened = AtomicUsize::new(0);
        let open = || async {
            opened.fetch_add(1, Ordering::SeqCst);
            Ok(Counted(closed.clone()))
        };
        let (hit1, a) = block_on(cache.open("k", open)).expect("opened");
        let (hit2, b) = block_on(cache.open("k", open)).expect("shared");
        assert_eq!((hit1, hit2), (false, true));
        assert!(Arc::ptr_eq(&a.value, &b.value));
        assert_eq!(opened.load(Ordering::SeqCst), 1);
        drop(a);
        assert_eq!(closed.load(Ordering::SeqCst), 0, "one user is left");
        drop(b);
        assert_eq!(closed.load(Ordering::SeqCst), 1, "the last user closed it");
        assert!(cache.is_empty());
        let (hit3, _c) = block_on(cache.open("k", open)).expect("opened again");
        assert!(!hit3);
        assert_eq!(opened.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failed_or_abandoned_opening_frees_the_key() {
        let cache: ContextCache<u8, u8> = ContextCache::new();
        let failed = block_on(cache.open(1, || async {
            Err(crate::Error::raise("OSError", "no feed"))
        }));
        assert!(failed.is_err());
        assert!(cache.is_empty());
        // An opening dropped half-way frees the key too.
        let mut cx = std::task::Context::from_waker(Waker::noop());
        {
            let mut pending = Box::pin(cache.open(2, std::future::pending::<Result<u8>>));
            assert!(pending.as_mut().poll(&mut cx).is_pending());
            assert_eq!(cache.len(), 1);
            // A second asker waits for that opening.
            let mut second = Box::pin(cache.open(2, || async { Ok(7) }));
            assert!(second.as_mut().poll(&mut cx).is_pending());
            drop(pending);
            // The waiter now opens it itself: no hit.
            match second.as_mut().poll(&mut cx) {
                Poll::Ready(Ok((hit, v))) => assert_eq!((hit, *v), (false, 7)),
                other => panic!("{:?}", other.map(|r| r.map(|(h, _)| h))),
            }
        }
        assert!(cache.is_empty());
    }
}
