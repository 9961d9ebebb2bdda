//! One dialog as the application holds it: its outcome, its stream
//! items and the broadcast window, shared by the handles made of it.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use tractor_protocol::{DialogError, DialogId, Incoming, Raw, Role, Uid, UsageError};

use crate::engine::Shared;
use crate::error::{Error, ErrorKind, Result};

use super::dialog_error;
use super::fanout::{DEFAULT_BROADCAST_CAPACITY, Fanout, Next};

/// The broadcast subscriber id of a stream itself.
pub(super) const STREAM_SUB: u64 = 0;

/// One dialog held by the application.
pub(crate) struct Dlg {
    pub(super) shared: Arc<Shared>,
    pub(super) dialog: DialogId,
    pub(super) role: Role,
    pub(super) peer: Uid,
    pub(super) outcome: Mutex<Option<Result<Raw>>>,
    /// The outcome's error reached the application (a stream's end, a
    /// wait for the result): dropping the dialog need not report it.
    pub(super) observed: std::sync::atomic::AtomicBool,
    /// The broadcast window, once the stream has a subscriber.
    pub(super) fanout: Mutex<Option<Fanout<Raw>>>,
    /// Stream items taken from the core ahead of the reader, in order: a
    /// busy stream takes the engine's lock once per [`ITEM_BATCH`].
    pub(super) batch: Mutex<VecDeque<Raw>>,
    /// Sends so far, for [`Dlg::turn_due`].
    sends: AtomicU32,
}

/// How many stream items a reader takes from the core at once, at most.
/// They count as read (their credits go back), so a stream holds at most
/// this many items beyond its window in the reading process.
const ITEM_BATCH: usize = 64;

/// How many stream items a task sends in a row, at most, before it lets
/// the actor's other tasks run.
const SENDS_PER_TURN: u32 = 64;

impl std::fmt::Debug for Dlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} with {}", self.dialog, self.peer)
    }
}

impl Dlg {
    pub(super) fn new(shared: Arc<Shared>, dialog: DialogId, role: Role, peer: Uid) -> Arc<Self> {
        Arc::new(Dlg {
            shared,
            dialog,
            role,
            peer,
            outcome: Mutex::new(None),
            observed: std::sync::atomic::AtomicBool::new(false),
            fanout: Mutex::new(None),
            batch: Mutex::new(VecDeque::new()),
            sends: AtomicU32::new(0),
        })
    }

    pub(super) fn outcome(&self) -> Option<Result<Raw>> {
        self.outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn lock_batch(&self) -> std::sync::MutexGuard<'_, VecDeque<Raw>> {
        self.batch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this send lets the actor's other tasks run first: every
    /// [`SENDS_PER_TURN`]th does, as every send on a trio channel is a
    /// checkpoint and tokio's own channels spend a budget. A sender that
    /// never waits would otherwise keep the connection's writer from
    /// running on the actor's one thread: its items would go out in
    /// bursts, only once the peer's credits ran out, with the peer idle
    /// meanwhile.
    ///
    /// Receiving needs no such turn: items reach the core only through the
    /// connection's reader task, so a reader runs dry, and waits, after at
    /// most what the core holds for its stream (a credit window, or the
    /// buffer of a peer without credits) and a batch.
    pub(super) fn turn_due(&self) -> bool {
        self.sends.fetch_add(1, Ordering::Relaxed) % SENDS_PER_TURN == SENDS_PER_TURN - 1
    }

    pub(super) fn set_outcome(&self, o: Result<Raw>) {
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(o);
    }

    /// Hands the outcome's error to the application.
    pub(super) fn observed(&self, e: Error) -> Error {
        self.observed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        e
    }

    pub(super) fn poll_next(&self, cx: &mut TaskContext<'_>) -> Poll<Incoming> {
        if let Some(item) = self.lock_batch().pop_front() {
            return Poll::Ready(Incoming::Yield(item));
        }
        let dialog = self.dialog;
        self.shared.poll_dialog(dialog, cx, |st| {
            // Another reader may have filled the batch meanwhile: what it
            // holds comes before anything still in the core.
            if let Some(item) = self.lock_batch().pop_front() {
                return Some(Incoming::Yield(item));
            }
            let gone = |e: UsageError| {
                Incoming::Error(DialogError::Protocol {
                    peer: self.peer.clone(),
                    violation: tractor_protocol::Violation::Unexpected {
                        msg_type: "recv",
                        cid: e.to_string(),
                        state: "ended",
                    },
                })
            };
            match st.actor.recv(dialog) {
                Ok(Some(Incoming::Yield(item))) => {
                    st.actor
                        .recv_items(dialog, ITEM_BATCH, &mut self.lock_batch());
                    Some(Incoming::Yield(item))
                }
                Ok(Some(i)) => Some(i),
                // The dialog is gone: its outcome was taken already.
                Ok(None) if st.actor.cid(dialog).is_none() => {
                    Some(gone(UsageError::UnknownDialog(dialog)))
                }
                Ok(None) => None,
                Err(e) => Some(gone(e)),
            }
        })
    }

    pub(super) async fn next(&self) -> Incoming {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The next stream item straight from the dialog: `None` once the peer
    /// closed its side, the dialog's error once it failed.
    pub(super) fn poll_raw(&self, cx: &mut TaskContext<'_>) -> Poll<Option<Result<Raw>>> {
        loop {
            if let Some(o) = self.outcome() {
                return Poll::Ready(o.err().map(|e| Err(self.observed(e))));
            }
            let incoming = match self.poll_next(cx) {
                Poll::Ready(i) => i,
                Poll::Pending => return Poll::Pending,
            };
            match incoming {
                Incoming::Yield(v) => return Poll::Ready(Some(Ok(v))),
                Incoming::Stop => {
                    // A peer that closes its stream on its way out of a
                    // failure sends its error right behind the `Stop`
                    // (Python does): when it is here already, it is how
                    // the stream ended.
                    let dialog = self.dialog;
                    match self.shared.with(|st, _| st.actor.recv(dialog)) {
                        Ok(Some(Incoming::Error(e))) => self.set_outcome(Err(dialog_error(e))),
                        Ok(Some(Incoming::Return(v))) => {
                            self.set_outcome(Ok(v));
                            return Poll::Ready(None);
                        }
                        Ok(Some(other)) => {
                            tracing::debug!(target: "tractor::transport", %dialog, ?other, "after the stream's end");
                            return Poll::Ready(None);
                        }
                        Ok(None) | Err(_) => return Poll::Ready(None),
                    }
                }
                Incoming::Return(v) => self.set_outcome(Ok(v)),
                Incoming::Error(e) => self.set_outcome(Err(dialog_error(e))),
                Incoming::Started(_) => {}
            }
        }
    }

    /// Runs `f` on the broadcast window, making it on first use with the
    /// stream itself as its first subscriber.
    pub(crate) fn with_fanout<R>(&self, f: impl FnOnce(&mut Fanout<Raw>) -> R) -> R {
        let mut g = self.fanout.lock().unwrap_or_else(|e| e.into_inner());
        f(g.get_or_insert_with(|| {
            let mut fanout = Fanout::new(DEFAULT_BROADCAST_CAPACITY);
            let stream = fanout.add();
            debug_assert_eq!(stream, STREAM_SUB);
            fanout
        }))
    }

    /// The next item for subscriber `sub`, pulling from the dialog when it
    /// has read everything held. Without a broadcast window this reads the
    /// dialog directly (the stream itself before anyone subscribed).
    pub(crate) fn poll_sub(
        &self,
        sub: u64,
        raise_on_lag: bool,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Raw>>> {
        let mut g = self.fanout.lock().unwrap_or_else(|e| e.into_inner());
        let Some(fanout) = g.as_mut() else {
            return self.poll_raw(cx);
        };
        loop {
            match fanout.next(sub) {
                Next::Item(raw) => return Poll::Ready(Some(Ok(raw))),
                Next::Lagged(n) if raise_on_lag => {
                    return Poll::Ready(Some(Err(ErrorKind::Lagged(n).into())));
                }
                Next::Lagged(n) => {
                    tracing::warn!(target: "tractor::runtime", dialog = %self.dialog, n, "a broadcast receiver lagged")
                }
                Next::End(end) => return Poll::Ready(end.map(Err)),
                Next::Closed => return Poll::Ready(Some(Err(ErrorKind::Closed.into()))),
                Next::Empty => match self.poll_raw(cx) {
                    Poll::Ready(Some(Ok(raw))) => fanout.push(raw),
                    Poll::Ready(Some(Err(e))) => fanout.finish(Some(e)),
                    Poll::Ready(None) => fanout.finish(None),
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }

    pub(super) fn op<R>(
        &self,
        f: impl FnOnce(
            &mut tractor_protocol::Actor,
            std::time::Instant,
            DialogId,
        ) -> std::result::Result<R, UsageError>,
    ) -> Result<R> {
        let dialog = self.dialog;
        Ok(self.shared.with(|st, now| f(&mut st.actor, now, dialog))?)
    }
}

impl Drop for Dlg {
    fn drop(&mut self) {
        if self.role == Role::Opener {
            let dialog = self.dialog;
            self.shared.with(|st, now| {
                // An outcome that arrived unread counts as read now.
                while self.outcome().is_none() {
                    match st.actor.recv(dialog) {
                        Ok(Some(Incoming::Return(v))) => self.set_outcome(Ok(v)),
                        Ok(Some(Incoming::Error(e))) => self.set_outcome(Err(dialog_error(e))),
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => break,
                    }
                }
                let failed = !matches!(self.outcome(), Some(Ok(_)));
                st.dialogs.remove(&dialog);
                let _ = st.actor.leave(now, dialog, failed);
            });
            // An error nobody read must not vanish. A cancellation is no
            // failure: ours, or one that came down the tree.
            if let Some(Err(e)) = self.outcome()
                && !self.observed.load(std::sync::atomic::Ordering::Relaxed)
                && !e.is_cancelled()
            {
                tracing::error!(target: "tractor::runtime", peer = %self.peer, "a context was dropped with its error unread: {e}");
            }
        }
    }
}

/// Whether `e` is the cancellation this actor asked for itself.
pub(super) fn asked_for(e: &Error, me: &Uid) -> bool {
    e.is_cancelled()
        && (matches!(
            e.kind(),
            ErrorKind::Dialog(DialogError::CancelledAsRequested { .. })
        ) || e.canceller() == Some(me))
}
