//! Talking to another actor: [`Portal`], [`Context`] and [`MsgStream`].
//!
//! Layered bottom up: `fanout` (the broadcast window, a plain data
//! structure), `dlg` (one dialog as the application holds it), `stream`
//! ([`MsgStream`] and [`Items`]), `broadcast` ([`BroadcastReceiver`]),
//! `context` ([`Context`]); [`Portal`], here, opens them all.

mod broadcast;
mod context;
mod dlg;
mod fanout;
mod stream;

pub use broadcast::BroadcastReceiver;
pub use context::Context;
pub(crate) use dlg::Dlg;
use dlg::asked_for;
pub use fanout::DEFAULT_BROADCAST_CAPACITY;
use stream::StreamSide;
pub use stream::{Items, MsgStream};

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tractor_protocol::{
    ChannelId, ChildId, ContextOptions, DialogError, DialogId, Incoming, LocalCall, Raw, Role, Uid,
    UsageError,
};

use crate::engine::Shared;
use crate::error::{Error, ErrorKind, Result};
use crate::future::ApiFuture;
use crate::payload::{decode, encode_args};

/// A dialog's failure as the user sees it.
pub(crate) fn dialog_error(e: DialogError) -> Error {
    match e {
        DialogError::Remote(r) => ErrorKind::Remote(r).into(),
        other => ErrorKind::Dialog(other).into(),
    }
}

/// Closes a channel when the last portal using it goes: for channels
/// opened to reach a discovered actor.
pub(crate) struct ChannelLease {
    pub(crate) shared: Arc<Shared>,
    pub(crate) channel: ChannelId,
}

impl Drop for ChannelLease {
    fn drop(&mut self) {
        self.shared.close_channel(self.channel);
    }
}

/// A one-shot call's outcome, shared by everyone who may wait for it.
pub(crate) struct ResultCell {
    shared: Arc<Shared>,
    dialog: DialogId,
    outcome: Mutex<Option<Result<Raw>>>,
}

impl ResultCell {
    pub(crate) fn new(shared: Arc<Shared>, dialog: DialogId) -> Arc<Self> {
        Arc::new(ResultCell {
            shared,
            dialog,
            outcome: Mutex::new(None),
        })
    }

    pub(crate) fn poll(&self, cx: &mut TaskContext<'_>) -> Poll<Result<Raw>> {
        let mut outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(o) = outcome.as_ref() {
            return Poll::Ready(o.clone());
        }
        let got = poll_call(&self.shared, self.dialog, cx);
        if let Poll::Ready(o) = &got {
            *outcome = Some(o.clone());
        }
        got
    }
}

impl Drop for ResultCell {
    fn drop(&mut self) {
        let taken = self.outcome.get_mut().map(|o| o.is_some()).unwrap_or(true);
        if !taken {
            // Nobody will read it: the core may forget the call.
            let dialog = self.dialog;
            self.shared.with(|st, now| {
                st.dialogs.remove(&dialog);
                let _ = st.actor.leave(now, dialog, true);
            });
        }
    }
}

/// Polls a call dialog for its outcome; the core forgets the dialog once
/// it is taken.
fn poll_call(
    shared: &Arc<Shared>,
    dialog: DialogId,
    cx: &mut TaskContext<'_>,
) -> Poll<Result<Raw>> {
    shared.poll_dialog(dialog, cx, |st| {
        loop {
            match st.actor.recv(dialog) {
                Ok(Some(Incoming::Return(v))) => {
                    st.dialogs.remove(&dialog);
                    return Some(Ok(v));
                }
                Ok(Some(Incoming::Error(e))) => {
                    st.dialogs.remove(&dialog);
                    return Some(Err(dialog_error(e)));
                }
                Ok(Some(other)) => {
                    tracing::debug!(target: "tractor::transport", %dialog, ?other, "ignored in a call")
                }
                // The dialog is gone: its outcome was taken already.
                Ok(None) if st.actor.cid(dialog).is_none() => {
                    return Some(Err(UsageError::UnknownDialog(dialog).into()));
                }
                Ok(None) => return None,
                Err(e) => return Some(Err(e.into())),
            }
        }
    })
}

/// Cancels a call nobody waits for any more.
struct CallGuard {
    shared: Arc<Shared>,
    dialog: DialogId,
    done: bool,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if !self.done {
            let dialog = self.dialog;
            self.shared.with(|st, now| {
                st.dialogs.remove(&dialog);
                let _ = st.actor.cancel(now, dialog);
                let _ = st.actor.leave(now, dialog, true);
            });
        }
    }
}

/// A handle to another actor: call its functions, open contexts and
/// streams with it, cancel it.
///
/// A portal to a child comes from [`ActorNursery`](crate::ActorNursery);
/// one to any actor from discovery ([`find_actor`](crate::ActorHandle::find_actor)).
///
/// A portal is a handle to a channel, and its clones are handles to the
/// same one: cheap (a few reference counts), and equal in every way.
/// Calls, contexts and streams through any of them are separate dialogs
/// over that channel, so many tasks may use one portal at once, each
/// with its own clone (or, within one task, through `&Portal`); the
/// futures of its calls borrow only the portal and are `Send`. A clone
/// of a child's portal can [`cancel_actor`](Portal::cancel_actor) it
/// like the original; a clone of a
/// [`run_in_actor`](crate::ActorNursery::run_in_actor) portal reads the
/// same result ([`wait_for_result`](Portal::wait_for_result)); a channel
/// discovery opened closes when the last clone of its portal is dropped.
/// Dropping a child's portal, or every clone of it, does not stop the
/// child: [`cancel_actor`](Portal::cancel_actor) or its nursery does.
///
/// ```no_run
/// # use tractor_driver::{ActorHandle, Portal, Result};
/// # async fn demo(actor: ActorHandle, portal: Portal) -> Result<()> {
/// let tasks: Vec<_> = (0..4)
///     .map(|i| {
///         let portal = portal.clone();
///         actor.spawn(async move { portal.run::<String>("math", "hi", ()).await })
///     })
///     .collect();
/// for task in tasks {
///     let hi: String = task.await??;
/// #   let _ = hi;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Portal {
    pub(crate) shared: Arc<Shared>,
    pub(crate) peer: Uid,
    /// `None` for a local portal: one to this very actor, whose calls are
    /// answered in process.
    pub(crate) channel: Option<ChannelId>,
    pub(crate) child: Option<ChildId>,
    pub(crate) result: Option<Arc<ResultCell>>,
    pub(crate) _lease: Option<Arc<ChannelLease>>,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.channel {
            Some(channel) => write!(f, "Portal({} on {channel})", self.peer),
            None => write!(f, "Portal({}, local)", self.peer),
        }
    }
}

impl Portal {
    /// The actor on the other side.
    pub fn peer(&self) -> &Uid {
        &self.peer
    }

    /// Whether this is a local portal: one to this very actor, whose calls
    /// are answered in process (see [`ActorHandle::local_portal`](crate::ActorHandle::local_portal)).
    pub fn is_local(&self) -> bool {
        self.channel.is_none()
    }

    /// The channel to the peer, or the refusal of `op` through a local
    /// portal.
    fn channel_for(&self, op: &'static str) -> Result<ChannelId> {
        self.channel
            .ok_or_else(|| UsageError::LocalPortal(op).into())
    }

    /// A local portal's call: decided by the core as a peer's call would
    /// be, then answered by the core (a registrar method, at once or once
    /// the registry changed) or run here, in the caller's task (a function
    /// this actor serves).
    async fn run_local(&self, ns: &str, func: &str, kwargs: Raw) -> Result<Raw> {
        let answer = self
            .shared
            .wait(|st, _| match st.actor.call_local(ns, func, &kwargs) {
                Ok(LocalCall::Wait) => None,
                Ok(LocalCall::Answer(v)) => Some(Ok(Some(v))),
                Ok(LocalCall::Run) => Some(Ok(None)),
                Err(e) => Some(Err(e)),
            })
            .await
            .map_err(|e| Error::raise(e.type_name, e.message))?;
        match answer {
            Some(v) => Ok(v),
            None => self.shared.dispatch.call_local(ns, func, kwargs)?.await,
        }
    }

    /// Calls `ns:func(**args)` and waits for its result (Python's
    /// `Portal.run_from_ns`, and `Portal.run` given a function's path).
    ///
    /// `args` serialises to a keyword map: a struct with named fields, a
    /// map, or `()` for no arguments; it is encoded at once, so the future
    /// borrows only the portal (see [`ApiFuture`]). Dropping the future
    /// cancels the call in the other actor.
    ///
    /// ```no_run
    /// # use tractor_driver::{Portal, Result};
    /// # async fn demo(portal: Portal) -> Result<()> {
    /// #[derive(serde::Serialize)]
    /// struct Square {
    ///     x: i64,
    /// }
    /// let nine: i64 = portal.run("math", "square", Square { x: 3 }).await?;
    /// // Many calls at once over one portal, each its own dialog.
    /// let calls: Vec<_> = (0..4)
    ///     .map(|x| portal.run::<i64>("math", "square", Square { x }))
    ///     .collect();
    /// # let _ = (nine, calls);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn run<T: DeserializeOwned>(
        &self,
        ns: impl Into<String>,
        func: impl Into<String>,
        args: impl Serialize,
    ) -> ApiFuture<'_, Result<T>> {
        self.call("Portal::run", ns.into(), func.into(), encode_args(&args))
    }

    /// The same as [`Portal::run`]: Python's name for calling by namespace.
    #[track_caller]
    pub fn run_from_ns<T: DeserializeOwned>(
        &self,
        ns: impl Into<String>,
        func: impl Into<String>,
        args: impl Serialize,
    ) -> ApiFuture<'_, Result<T>> {
        self.call(
            "Portal::run_from_ns",
            ns.into(),
            func.into(),
            encode_args(&args),
        )
    }

    /// The future of [`Portal::run`], its arguments encoded (or not).
    #[track_caller]
    pub(crate) fn call<T: DeserializeOwned>(
        &self,
        what: &'static str,
        ns: String,
        func: String,
        kwargs: Result<Raw>,
    ) -> ApiFuture<'_, Result<T>> {
        ApiFuture::new(what, async move {
            let raw = self.run_raw(&ns, &func, kwargs?).await?;
            decode(&raw)
        })
    }

    pub(crate) async fn run_raw(&self, ns: &str, func: &str, kwargs: Raw) -> Result<Raw> {
        let Some(channel) = self.channel else {
            return self.run_local(ns, func, kwargs).await;
        };
        let shared = self.shared.clone();
        let opened = shared.with(|st, _| {
            let d = st.actor.call(channel, ns, func, kwargs)?;
            st.track(d);
            Ok::<_, UsageError>(d)
        });
        let dialog = match opened {
            Ok(d) => d,
            Err(e) => return Err(self.not_opened(e).await),
        };
        let mut guard = CallGuard {
            shared,
            dialog,
            done: false,
        };
        let out = poll_fn(|cx| poll_call(&guard.shared, dialog, cx)).await;
        guard.done = true;
        out
    }

    /// The error of a dialog this portal could not open. A portal to a
    /// child that went away waits for the child's exit (at most
    /// `PEER_EXIT_WAIT`), so that its error names the child and says how it
    /// ended, as a dialog open at the time learns.
    async fn not_opened(&self, e: UsageError) -> Error {
        let (UsageError::PeerLost(lost), Some(child), Some(channel)) =
            (&e, self.child, self.channel)
        else {
            return e.into();
        };
        if !matches!(**lost, DialogError::PeerLost { exit: None, .. }) {
            return e.into();
        }
        let exited = self.shared.wait(|st, _| {
            st.children
                .get(&child)
                .is_none_or(|c| c.exited.is_some() || c.failed.is_some())
                .then_some(())
        });
        let _ = self
            .shared
            .timeout(tractor_protocol::PEER_EXIT_WAIT, exited)
            .await;
        self.shared.with(|st, _| st.actor.not_open(channel)).into()
    }

    /// Starts a call whose result is read later.
    pub(crate) fn start_call(&self, ns: &str, func: &str, kwargs: Raw) -> Result<Arc<ResultCell>> {
        let channel = self.channel_for("a call whose result is read later")?;
        let dialog = self.shared.with(|st, _| {
            let d = st.actor.call(channel, ns, func, kwargs)?;
            st.track(d);
            Ok::<_, UsageError>(d)
        })?;
        Ok(ResultCell::new(self.shared.clone(), dialog))
    }

    /// The result of the function this actor was started to run
    /// ([`ActorNursery::run_in_actor`](crate::ActorNursery::run_in_actor));
    /// it may be read more than once.
    #[track_caller]
    pub fn wait_for_result<T: DeserializeOwned>(&self) -> impl Future<Output = Result<T>> {
        crate::task_record::api("Portal::wait_for_result", async move {
            let Some(cell) = &self.result else {
                return Err(Error::runtime(format!(
                    "{} was not started with run_in_actor: it has no result to wait for",
                    self.peer
                )));
            };
            let raw = poll_fn(|cx| cell.poll(cx)).await?;
            decode(&raw)
        })
    }

    /// Opens a context with the context function `ns:func` (Python's
    /// `Portal.open_context`), and waits for the value it sends with
    /// `started`. `args` is encoded at once, as for [`Portal::run`].
    ///
    /// Leaving the context (dropping it) before its result arrived cancels
    /// the function in the other actor, as leaving Python's block early
    /// does; [`Context::wait_for_result`] waits for it instead. An error
    /// of the function that nobody read is logged at `error` level when
    /// the context is dropped (or when it comes after);
    /// [`Portal::with_context`] returns it instead.
    #[track_caller]
    pub fn open_context<S: DeserializeOwned>(
        &self,
        ns: impl Into<String>,
        func: impl Into<String>,
        args: impl Serialize,
    ) -> ApiFuture<'_, Result<(Context, S)>> {
        self.context(
            "Portal::open_context",
            ns.into(),
            func.into(),
            encode_args(&args),
            ContextOptions::default(),
        )
    }

    /// Runs `body` with a context opened with `ns:func` (as
    /// [`Portal::open_context`] opens it) and the value the function sent
    /// with `started`, then waits for the function's outcome: the scoped
    /// form of a context, Python's `async with portal.open_context(…)`
    /// block, which cannot lose the function's error.
    ///
    /// - The body returns `Ok`: the function's outcome is waited for (the
    ///   body may have read it already with [`Context::wait_for_result`]);
    ///   its error, if it failed, is the result, else the body's value. A
    ///   cancellation the body asked for with [`Context::cancel`] is no
    ///   failure.
    /// - The body fails: the function is cancelled, as leaving the block
    ///   early does, and the body's error is the result.
    ///
    /// ```no_run
    /// # use tractor_driver::{Portal, Result};
    /// # async fn demo(portal: &Portal) -> Result<()> {
    /// let total = portal
    ///     .with_context("app", "numbers", (), |ctx, (): ()| async move {
    ///         let stream = ctx.open_stream().await?;
    ///         let mut total = 0u64;
    ///         // A failure of `numbers` ends the stream with its error.
    ///         while let Some(n) = stream.next::<u64>().await {
    ///             total += n?;
    ///         }
    ///         Ok(total)
    ///     })
    ///     .await?;
    /// # let _ = total;
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn with_context<'p, S, T, F, Fut>(
        &'p self,
        ns: impl Into<String>,
        func: impl Into<String>,
        args: impl Serialize,
        body: F,
    ) -> ApiFuture<'p, Result<T>>
    where
        S: DeserializeOwned + Send + 'p,
        T: Send + 'p,
        F: FnOnce(Context, S) -> Fut + Send + 'p,
        Fut: Future<Output = Result<T>> + Send + 'p,
    {
        let (ns, func, kwargs) = (ns.into(), func.into(), encode_args(&args));
        ApiFuture::new("Portal::with_context", async move {
            let kwargs = kwargs?;
            let channel = self.channel_for("Portal::with_context")?;
            let (ctx, first) = self
                .context_started::<S>(&format!("{ns}:{func}"), |a, _| {
                    a.open_context(channel, &ns, &func, kwargs, ContextOptions::default())
                })
                .await?;
            match body(ctx.clone(), first).await {
                Ok(value) => match ctx.wait_for_result::<serde::de::IgnoredAny>().await {
                    Ok(_) => Ok(value),
                    Err(e) if asked_for(&e, &self.shared.uid) => Ok(value),
                    Err(e) => Err(e),
                },
                Err(e) => {
                    if ctx.dlg.outcome().is_none() {
                        let _ = ctx.cancel();
                    }
                    Err(e)
                }
            }
        })
    }

    /// [`Portal::open_context`] with a buffer size and overrun policy.
    #[track_caller]
    pub fn open_context_with<S: DeserializeOwned>(
        &self,
        ns: impl Into<String>,
        func: impl Into<String>,
        args: impl Serialize,
        options: ContextOptions,
    ) -> ApiFuture<'_, Result<(Context, S)>> {
        self.context(
            "Portal::open_context_with",
            ns.into(),
            func.into(),
            encode_args(&args),
            options,
        )
    }

    /// The future of [`Portal::open_context_with`].
    #[track_caller]
    pub(crate) fn context<S: DeserializeOwned>(
        &self,
        what: &'static str,
        ns: String,
        func: String,
        kwargs: Result<Raw>,
        options: ContextOptions,
    ) -> ApiFuture<'_, Result<(Context, S)>> {
        ApiFuture::new(what, async move {
            let kwargs = kwargs?;
            let channel = self.channel_for(what)?;
            self.context_started(&format!("{ns}:{func}"), |a, _| {
                a.open_context(channel, &ns, &func, kwargs, options)
            })
            .await
        })
    }

    /// Asks the peer, the root, for the tree's terminal on behalf of the
    /// task `task`: the core's lock request (spec/PROTOCOL.md §10.2), until the
    /// root grants it with `Started(LockStatus)`.
    pub(crate) async fn request_tty_lock(
        &self,
        task: (&str, i64),
    ) -> Result<(Context, tractor_protocol::LockStatus)> {
        let channel = self.channel_for("the terminal lock")?;
        self.context_started("the terminal lock", |a, _| {
            a.request_tty_lock(channel, task)
        })
        .await
    }

    /// Opens a context with `open` and waits for its `Started` value.
    async fn context_started<S: DeserializeOwned>(
        &self,
        what: &str,
        open: impl FnOnce(
            &mut tractor_protocol::Actor,
            std::time::Instant,
        ) -> std::result::Result<DialogId, UsageError>,
    ) -> Result<(Context, S)> {
        let opened = self.shared.with(|st, now| {
            let d = open(&mut st.actor, now)?;
            st.track(d);
            Ok::<_, UsageError>(d)
        });
        let dialog = match opened {
            Ok(d) => d,
            Err(e) => return Err(self.not_opened(e).await),
        };
        let dlg = Dlg::new(self.shared.clone(), dialog, Role::Opener, self.peer.clone());
        loop {
            match dlg.next().await {
                Incoming::Started(v) => {
                    let first = decode(&v)?;
                    return Ok((Context { dlg }, first));
                }
                Incoming::Return(_) => {
                    return Err(Error::runtime(format!(
                        "{what} returned without calling started()"
                    )));
                }
                Incoming::Error(e) => {
                    let e = dialog_error(e);
                    dlg.set_outcome(Err(e.clone()));
                    return Err(dlg.observed(e));
                }
                other => tracing::debug!(target: "tractor::transport", ?other, "before Started"),
            }
        }
    }

    /// Opens a one-way stream from the generator `ns:func` (Python's
    /// legacy `Portal.open_stream_from`); `args` is encoded at once, as for
    /// [`Portal::run`].
    #[track_caller]
    pub fn open_stream_from(
        &self,
        ns: impl Into<String>,
        func: impl Into<String>,
        args: impl Serialize,
    ) -> ApiFuture<'_, Result<MsgStream>> {
        let (ns, func, kwargs) = (ns.into(), func.into(), encode_args(&args));
        ApiFuture::new("Portal::open_stream_from", async move {
            let kwargs = kwargs?;
            let channel = self.channel_for("Portal::open_stream_from")?;
            let opened = self.shared.with(|st, _| {
                let d = st.actor.open_stream_from(channel, &ns, &func, kwargs)?;
                st.track(d);
                Ok::<_, UsageError>(d)
            });
            let dialog = match opened {
                Ok(d) => d,
                Err(e) => return Err(self.not_opened(e).await),
            };
            let dlg = Dlg::new(self.shared.clone(), dialog, Role::Opener, self.peer.clone());
            Ok(MsgStream {
                dlg,
                side: StreamSide::From,
            })
        })
    }

    /// Asks the actor to cancel itself (Python's `Portal.cancel_actor`).
    ///
    /// For a child, this is its supervisor's reaping: a cancel request,
    /// then SIGTERM and SIGKILL if it does not go in time; it returns when
    /// the process has exited. For any other actor, `Ok(true)` says it
    /// acknowledged, `Ok(false)` that it did not answer in time.
    #[track_caller]
    pub fn cancel_actor(&self) -> impl Future<Output = Result<bool>> {
        crate::task_record::api("Portal::cancel_actor", async move {
            tracing::info!(target: "tractor::cancel", actor = %self.peer, "cancelling actor");
            if let Some(child) = self.child {
                self.shared
                    .with(|st, now| st.actor.cancel_child(now, child));
                self.shared
                    .wait(|st, _| {
                        st.children
                            .get(&child)
                            .is_none_or(|c| c.exited.is_some() || c.failed.is_some())
                            .then_some(())
                    })
                    .await;
                return Ok(true);
            }
            let channel = self.channel_for("Portal::cancel_actor")?;
            let shared = self.shared.clone();
            let dialog = shared.with(|st, now| {
                let d = st.actor.cancel_actor(now, channel)?;
                st.track(d);
                Ok::<_, UsageError>(d)
            })?;
            match poll_fn(|cx| poll_call(&shared, dialog, cx)).await {
                Ok(_) => Ok(true),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Dialog(DialogError::CancelTimeout { .. })
                    ) =>
                {
                    Ok(false)
                }
                // Gone is as good as cancelled.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Dialog(
                            DialogError::TransportClosed { .. } | DialogError::PeerLost { .. }
                        )
                    ) =>
                {
                    Ok(true)
                }
                Err(e) => Err(e),
            }
        })
    }
}
