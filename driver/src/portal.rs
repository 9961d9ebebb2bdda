//! Talking to another actor: [`Portal`], [`Context`] and [`MsgStream`].

use std::future::poll_fn;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tractor_protocol::{
    ChannelId, ChildId, ContextOptions, DialogError, DialogId, Incoming, LocalCall, Raw, Role, Uid,
    UsageError,
};

use crate::broadcast::{BroadcastReceiver, DEFAULT_BROADCAST_CAPACITY, Fanout, Next};
use crate::engine::Shared;
use crate::error::{Error, ErrorKind, PayloadErrorWrap, Result};
use crate::functions::encode_args;
use crate::future::ApiFuture;

/// A dialog's failure as the user sees it.
pub(crate) fn dialog_error(e: DialogError) -> Error {
    match e {
        DialogError::Remote(r) => ErrorKind::Remote(r).into(),
        other => ErrorKind::Dialog(other).into(),
    }
}

/// Encodes a value to send.
fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Raw> {
    Raw::encode(value).map_err(|e| Error::from(PayloadErrorWrap::from(e)))
}

/// Decodes a payload into the type the caller expects.
pub(crate) fn decode<T: DeserializeOwned>(raw: &Raw) -> Result<T> {
    raw.decode::<T>()
        .map_err(|e| Error::from(PayloadErrorWrap::from(e)))
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
    shared.poll_dialog(dialog, cx, |st, _| {
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
            None => self.shared.functions.run_local(ns, func, kwargs)?.await,
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
    fn call<T: DeserializeOwned>(
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
        let dialog = shared.with(|st, _| {
            let d = st.actor.call(channel, ns, func, kwargs)?;
            st.track(d);
            Ok::<_, UsageError>(d)
        })?;
        let mut guard = CallGuard {
            shared,
            dialog,
            done: false,
        };
        let out = poll_fn(|cx| poll_call(&guard.shared, dialog, cx)).await;
        guard.done = true;
        out
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
        crate::stackscope::api("Portal::wait_for_result", async move {
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
    fn context<S: DeserializeOwned>(
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
        let dialog = self.shared.with(|st, now| {
            let d = open(&mut st.actor, now)?;
            st.track(d);
            Ok::<_, UsageError>(d)
        })?;
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
            let dialog = self.shared.with(|st, _| {
                let d = st.actor.open_stream_from(channel, &ns, &func, kwargs)?;
                st.track(d);
                Ok::<_, UsageError>(d)
            })?;
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
        crate::stackscope::api("Portal::cancel_actor", async move {
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

/// One dialog held by the application.
pub(crate) struct Dlg {
    shared: Arc<Shared>,
    dialog: DialogId,
    role: Role,
    peer: Uid,
    outcome: Mutex<Option<Result<Raw>>>,
    /// The outcome's error reached the application (a stream's end, a
    /// wait for the result): dropping the dialog need not report it.
    observed: std::sync::atomic::AtomicBool,
    /// The broadcast window, once the stream has a subscriber.
    fanout: Mutex<Option<Fanout<Raw>>>,
}

impl std::fmt::Debug for Dlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} with {}", self.dialog, self.peer)
    }
}

impl Dlg {
    fn new(shared: Arc<Shared>, dialog: DialogId, role: Role, peer: Uid) -> Arc<Self> {
        Arc::new(Dlg {
            shared,
            dialog,
            role,
            peer,
            outcome: Mutex::new(None),
            observed: std::sync::atomic::AtomicBool::new(false),
            fanout: Mutex::new(None),
        })
    }

    fn outcome(&self) -> Option<Result<Raw>> {
        self.outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_outcome(&self, o: Result<Raw>) {
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(o);
    }

    /// Hands the outcome's error to the application.
    fn observed(&self, e: Error) -> Error {
        self.observed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        e
    }

    fn poll_next(&self, cx: &mut TaskContext<'_>) -> Poll<Incoming> {
        let dialog = self.dialog;
        self.shared.poll_dialog(dialog, cx, |st, _| {
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

    async fn next(&self) -> Incoming {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The next stream item straight from the dialog: `None` once the peer
    /// closed its side, the dialog's error once it failed.
    fn poll_raw(&self, cx: &mut TaskContext<'_>) -> Poll<Option<Result<Raw>>> {
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

    fn op<R>(
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
fn asked_for(e: &Error, me: &Uid) -> bool {
    e.is_cancelled()
        && (matches!(
            e.kind(),
            ErrorKind::Dialog(DialogError::CancelledAsRequested { .. })
        ) || e.canceller() == Some(me))
}

/// One side of a context: a task pair across two actors, with a `started`
/// handshake, an optional two-way stream and one result (Python's
/// `tractor.Context`).
///
/// The opener gets it from [`Portal::open_context`]; the function it runs
/// gets the other side as its first argument.
#[derive(Clone)]
pub struct Context {
    dlg: Arc<Dlg>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Context({} with {})", self.dlg.dialog, self.dlg.peer)
    }
}

impl Context {
    pub(crate) fn callee(shared: Arc<Shared>, dialog: DialogId) -> Self {
        let peer = shared.uid.clone();
        Context {
            dlg: Dlg::new(shared, dialog, Role::Callee, peer),
        }
    }

    /// Which side this is.
    pub fn side(&self) -> Role {
        self.dlg.role
    }

    /// The context's id on the wire.
    pub fn cid(&self) -> Option<String> {
        let dialog = self.dlg.dialog;
        self.dlg
            .shared
            .with(|st, _| st.actor.cid(dialog).map(str::to_owned))
    }

    /// Sends the first value to the opener (callee only, once). The value
    /// is encoded at once: the future borrows only the context.
    #[track_caller]
    pub fn started<T: Serialize>(&self, value: T) -> ApiFuture<'_, Result<()>> {
        let raw = encode(&value);
        ApiFuture::new("Context::started", async move {
            let raw = raw?;
            self.dlg.op(|a, _, d| a.started(d, raw))
        })
    }

    /// Opens this side's stream: from now on both sides may send and
    /// receive.
    #[track_caller]
    pub fn open_stream(&self) -> impl Future<Output = Result<MsgStream>> {
        crate::stackscope::api("Context::open_stream", async move {
            self.dlg.op(|a, _, d| a.open_stream(d))?;
            Ok(MsgStream {
                dlg: self.dlg.clone(),
                side: StreamSide::Context,
            })
        })
    }

    /// Gives the terminal back on a lock context from
    /// [`Portal::request_tty_lock`]: the core's release, then the root's
    /// final status.
    pub(crate) async fn release_tty_lock(&self) -> Result<tractor_protocol::LockStatus> {
        self.dlg.op(|a, _, d| a.release_tty_lock(d))?;
        self.wait_for_result().await
    }

    /// Cancels the context. From the opener: the callee is asked to stop,
    /// and [`Context::wait_for_result`] then reports the cancellation. From
    /// the callee: the function cancels itself.
    pub fn cancel(&self) -> Result<()> {
        self.dlg.op(|a, now, d| {
            // Looked up only for a line that is shown.
            if tracing::enabled!(target: "tractor::cancel", tracing::Level::INFO) {
                let func = crate::engine::dialog_func(a, d);
                let peer = &self.dlg.peer;
                if self.dlg.role == Role::Opener {
                    tracing::info!(target: "tractor::cancel", %func, %peer, "cancelling context");
                } else {
                    tracing::info!(target: "tractor::cancel", %func, caller = %peer, "cancelling its own context");
                }
            }
            a.cancel(now, d)
        })
    }

    /// Waits for the callee's result (opener only). Stream items still
    /// queued are dropped, as Python drains them.
    #[track_caller]
    pub fn wait_for_result<T: DeserializeOwned>(&self) -> impl Future<Output = Result<T>> {
        crate::stackscope::api("Context::wait_for_result", async move {
            if self.dlg.role != Role::Opener {
                return Err(Error::runtime(
                    "only the opener of a context waits for its result",
                ));
            }
            loop {
                if let Some(o) = self.dlg.outcome() {
                    return decode(&o.map_err(|e| self.dlg.observed(e))?);
                }
                match self.dlg.next().await {
                    Incoming::Return(v) => self.dlg.set_outcome(Ok(v)),
                    Incoming::Error(e) => self.dlg.set_outcome(Err(dialog_error(e))),
                    Incoming::Yield(_) => {
                        tracing::debug!(target: "tractor::transport", "dropping an unread stream item")
                    }
                    Incoming::Started(_) | Incoming::Stop => {}
                }
            }
        })
    }
}

/// The broadcast subscriber id of a stream itself.
const STREAM_SUB: u64 = 0;

/// Which kind of stream a [`MsgStream`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamSide {
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
    dlg: Arc<Dlg>,
    side: StreamSide,
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
        crate::stackscope::api("MsgStream::send", async move {
            if self.side == StreamSide::From {
                return Err(Error::runtime("a stream from a generator only receives"));
            }
            let raw = raw?;
            let dialog = self.dlg.dialog;
            poll_fn(|cx| {
                self.dlg.shared.poll_dialog(dialog, cx, |st, _| {
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
        })
    }

    /// Receives the next item. When no item will come any more (the peer
    /// has closed its side, or the dialog has ended), this is an
    /// [`ErrorKind::EndOfStream`] error (or the dialog's own error). After
    /// this side's [`close`](MsgStream::close), items that arrived late
    /// were dropped before that end.
    #[track_caller]
    pub fn receive<T: DeserializeOwned>(&self) -> impl Future<Output = Result<T>> {
        crate::stackscope::api("MsgStream::receive", async move {
            match self.next::<T>().await {
                Some(r) => r,
                None => Err(ErrorKind::EndOfStream.into()),
            }
        })
    }

    /// The next item, or `None` at the end of the stream.
    #[track_caller]
    pub fn next<T: DeserializeOwned>(&self) -> impl Future<Output = Option<Result<T>>> {
        crate::stackscope::api("MsgStream::next", async move {
            poll_fn(|cx| self.poll_item(cx)).await
        })
    }

    fn poll_item<T: DeserializeOwned>(&self, cx: &mut TaskContext<'_>) -> Poll<Option<Result<T>>> {
        if self.side == StreamSide::Generator {
            return Poll::Ready(Some(Err(Error::runtime("a generator's stream only sends"))));
        }
        self.dlg
            .poll_sub(STREAM_SUB, true, cx)
            .map(|o| o.map(|r| r.and_then(|raw| decode(&raw))))
    }

    /// A broadcast receiver of this stream's items, for fan-out to many
    /// local tasks (Python's `MsgStream.subscribe`).
    ///
    /// Each receiver gets every item that arrives after it subscribed;
    /// from the first subscription on, this stream's own `receive` reads
    /// the same way, as one more subscriber. Up to
    /// [`DEFAULT_BROADCAST_CAPACITY`] items are held for the slowest
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
    /// A legacy one-way stream ([`Portal::open_stream_from`], or a served
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
        // `functions::hold_stop`).
        let held = self.side == StreamSide::Context
            && self.dlg.role == Role::Callee
            && crate::functions::hold_stop(self.dlg.dialog);
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

/// The items of a [`MsgStream`] or a [`BroadcastReceiver`] as a
/// `futures_core::Stream` of `T`.
#[derive(Debug)]
pub struct Items<T, S = MsgStream> {
    source: S,
    _item: PhantomData<fn() -> T>,
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

impl<T: DeserializeOwned> futures_core::Stream for Items<T, BroadcastReceiver> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Result<T>>> {
        self.source.poll_item(cx)
    }
}
