//! The engine: one actor core driven by tasks on a [`Runtime`].
//!
//! The core ([`Actor`]) sits behind one mutex with the little state the
//! engine keeps beside it (wakers, connection and child progress). Every
//! operation locks, calls the core, then *drains* it: polls its outputs
//! until a deadline and carries each out (bytes to a channel's writer,
//! connects, spawns, signals, events to the tasks waiting for them). The
//! lock is never held across an await, and user code never runs under it.
//!
//! Per connection there are two tasks: a reader feeding the core and a
//! writer flushing what the core transmitted. One timer task serves the
//! core's single deadline; one task per listener accepts; one per child
//! process waits for its exit.

use std::collections::HashSet;
use std::future::poll_fn;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tractor_protocol::{
    Action, Actor, Aid, CancelCause, ChannelId, ChildId, CloseReason, DialogId, Event, ExitStatus,
    IdMap, NurseryId, Output, Signal, SpawnSpec, TtyTicket, Uid,
};

use crate::error::Error;
use crate::runtime::{BoxFuture, Runtime};
use crate::task_record::runtime_task;
use crate::transport;

mod children;
mod io;
mod snapshot;

pub(crate) use children::proc_title;
use children::{Proc, child_name, log_exit};
pub(crate) use io::ChanCtl;
pub(crate) use snapshot::snapshot;

/// Decides, from an error, whether it opens a crash REPL in debug mode (the
/// program's `DebugFilter`, kept here as the engine passes it on).
pub(crate) type CrashFilter = Arc<dyn Fn(&Error) -> bool + Send + Sync>;

/// What the actor serves. The engine knows nothing of user functions: it
/// hands each call the core starts to the dispatcher the actor installed,
/// and asks it to run the calls a local portal makes.
pub(crate) trait Dispatch: Send + Sync {
    /// Runs `call` to its end, reporting its outcome to the core.
    fn invoke(&self, shared: Arc<Shared>, call: Invoke) -> BoxFuture<'static, ()>;

    /// The plain function `ns:func` called with `kwargs`, to run in the
    /// caller's task (a call the actor makes to itself, which its core
    /// allowed): its future, or the error of a call that cannot be made.
    fn call_local(
        &self,
        ns: &str,
        func: &str,
        kwargs: tractor_protocol::Raw,
    ) -> crate::Result<BoxFuture<'static, crate::Result<tractor_protocol::Raw>>>;

    /// The process's task tree as text (what `SIGUSR1` dumps); called
    /// on a thread of its own, without the state's lock.
    fn task_dump(&self) -> String;
}

/// The failures still to come from a nursery that a served call's
/// cancellation dropped: ready once its children are reaped.
pub(crate) type Leftover = BoxFuture<'static, Vec<Error>>;

/// The actor this process runs, once it runs one: what the API reaches
/// from anywhere in the process (`current_actor`, task-tree dumps).
static CURRENT: Mutex<Option<Arc<Shared>>> = Mutex::new(None);

/// Makes `shared` (or nothing) the process's current actor.
pub(crate) fn set_current(shared: Option<Arc<Shared>>) {
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = shared;
}

/// The process's current actor, if one runs.
pub(crate) fn current() -> Option<Arc<Shared>> {
    CURRENT.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// What the engine was told at start and never changes.
#[derive(Clone)]
pub(crate) struct Settings {
    /// The log level children are started with.
    pub(crate) loglevel: Option<String>,
    /// Where Unix sockets live.
    pub(crate) uds_dir: PathBuf,
    /// Which failures open a crash REPL in debug mode.
    pub(crate) debug_filter: Option<CrashFilter>,
    /// The tree's secret and its opt-outs, passed on to children.
    pub(crate) auth: crate::auth::Auth,
    /// The limits this actor runs with, passed on to children.
    pub(crate) limits: crate::limits::TreeLimits,
    /// TLS between hosts, if the tree has it, passed on to children.
    pub(crate) tls: Option<crate::tls::Tls>,
    /// The addresses this actor gives out in place of the ones it binds
    /// (`tractor_protocol::advertised`); none: the bound ones.
    pub(crate) advertise: Vec<tractor_protocol::Address>,
}

/// What holds an actor's cancellation and teardown back while a person
/// works at its terminal: REPLs live, and shielded, blocking or crash
/// stops under way (counted by the debugger, read by the engine's users).
#[derive(Debug, Default)]
pub(crate) struct Holds {
    /// REPLs live.
    pub(crate) repls: AtomicUsize,
    /// Stops under way, from their call to their end.
    pub(crate) pauses: AtomicUsize,
    /// When the last REPL or stop ended.
    pub(crate) last_end: Mutex<Option<Instant>>,
    /// Terminal lock requests made so far (each request's id is the next:
    /// Python sends its requesting task's id).
    pub(crate) lock_requests: AtomicI64,
}

/// One actor: the core, and the runtime that drives it.
pub(crate) struct Shared {
    pub(crate) rt: Arc<dyn Runtime>,
    pub(crate) uid: Uid,
    /// Runs the calls the core starts.
    pub(crate) dispatch: Arc<dyn Dispatch>,
    pub(crate) settings: Settings,
    /// What holds cancellation and teardown back (see [`Holds`]).
    pub(crate) holds: Holds,
    /// When the actor started.
    pub(crate) started: Instant,
    state: Mutex<State>,
}

/// How a connection asked for by this actor is doing.
#[derive(Debug, Clone)]
pub(crate) enum Conn {
    /// Connecting or handshaking.
    Pending,
    /// Open, with this peer.
    Open(Aid),
    /// A probe got this answer.
    Probed(Aid),
    /// Closed or failed.
    Closed(CloseReason),
}

/// A child as the engine tracks it, beside the core's own record.
#[derive(Debug)]
pub(crate) struct ChildState {
    pub(crate) name: String,
    pub(crate) nursery: Option<NurseryId>,
    pub(crate) program: Option<PathBuf>,
    /// `program` is a Python interpreter: it keeps its own `argv[0]`.
    pub(crate) python: bool,
    pub(crate) loglevel: Option<String>,
    pub(crate) env: Vec<(String, String)>,
    /// Runs its command line through this launcher.
    pub(crate) launcher: Option<Arc<dyn crate::launch::Launcher>>,
    /// It runs a guest runtime (`--asyncio`).
    pub(crate) guest: bool,
    pub(crate) channel: Option<ChannelId>,
    pub(crate) failed: Option<String>,
    pub(crate) exited: Option<ExitStatus>,
    /// Its uid, once its spawn is under way.
    pub(crate) uid: Option<Uid>,
    /// Its process, once started.
    pub(crate) pid: Option<u32>,
}

/// Waiters of one dialog, and its pending cancellation.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    wakers: Vec<Waker>,
    pub(crate) cancel: Option<CancelCause>,
}

impl Slot {
    fn wake(&mut self) {
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }
}

fn add_waker(wakers: &mut Vec<Waker>, cx: &Context<'_>) {
    if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
        wakers.push(cx.waker().clone());
    }
}

/// The engine's state, under the one lock.
pub(crate) struct State {
    pub(crate) actor: Actor,
    chans: IdMap<ChannelId, Arc<ChanCtl>>,
    pub(crate) conns: IdMap<ChannelId, Conn>,
    pub(crate) dialogs: IdMap<DialogId, Slot>,
    pub(crate) children: IdMap<ChildId, ChildState>,
    pub(crate) nurseries_done: HashSet<NurseryId>,
    waiters: Vec<Waker>,
    deadline: Option<Instant>,
    timer_waker: Option<Waker>,
    /// A peer asked this actor to cancel (`self.cancel`), or a signal did.
    pub(crate) cancel_requested: Option<Uid>,
    pub(crate) parent_lost: bool,
    pub(crate) spawn_spec: Option<SpawnSpec>,
    /// The actor is shutting down: listeners and the timer stop once
    /// nothing needs them.
    pub(crate) stopping: bool,
    /// The actor's teardown has begun (or its root body was dropped).
    pub(crate) winding_down: bool,
    /// Reader and writer tasks still running.
    pub(crate) io_tasks: usize,
    listeners: Vec<Arc<ChanCtl>>,
    /// Calls that arrived while a child was still booting; they run once
    /// it serves (Python starts its RPC loop only then, spec/PROTOCOL.md §3.3).
    deferred: Option<Vec<Invoke>>,
    /// The root's own REPLs that were given the terminal and have not yet
    /// noticed.
    pub(crate) tty_granted: HashSet<TtyTicket>,
    /// The tree's terminal is held (for a REPL here or in a child), as of
    /// the last change of state.
    tty_held: bool,
    /// The nurseries a served call's cancellation dropped, by call: their
    /// children's failures are the call's outcome.
    pub(crate) dropped_nurseries: IdMap<DialogId, Vec<Leftover>>,
    /// Each child process running: its pid and the strongest signal sent
    /// to it (for the log line of its exit).
    procs: IdMap<ChildId, Proc>,
}

/// A call the core started, to run.
pub(crate) struct Invoke {
    /// Its dialog.
    pub(crate) dialog: DialogId,
    /// The namespace.
    pub(crate) ns: String,
    /// The function.
    pub(crate) func: String,
    /// Its keyword arguments.
    pub(crate) kwargs: tractor_protocol::Raw,
    /// The kind of endpoint, from the RPC table.
    pub(crate) kind: tractor_protocol::FuncType,
}

impl State {
    /// Wakes every general waiter (they re-check their condition).
    pub(crate) fn wake_all(&mut self) {
        for w in self.waiters.drain(..) {
            w.wake();
        }
    }

    /// Wakes every waiter, general and per dialog.
    pub(crate) fn wake_everything(&mut self) {
        self.wake_all();
        for slot in self.dialogs.values_mut() {
            slot.wake();
        }
    }

    /// Registers a dialog so its events reach waiters.
    pub(crate) fn track(&mut self, dialog: DialogId) {
        self.dialogs.entry(dialog).or_default();
    }

    /// Waits for the dialog's next event.
    /// Wakes `cx` at the next general wake-up (a state change).
    pub(crate) fn wake_on_change(&mut self, cx: &Context<'_>) {
        add_waker(&mut self.waiters, cx);
    }

    pub(crate) fn watch(&mut self, dialog: DialogId, cx: &Context<'_>) {
        add_waker(&mut self.dialogs.entry(dialog).or_default().wakers, cx);
    }
}

impl Shared {
    pub(crate) fn new(
        rt: Arc<dyn Runtime>,
        actor: Actor,
        dispatch: Arc<dyn Dispatch>,
        settings: Settings,
    ) -> Arc<Self> {
        let uid = actor.uid().clone();
        let shared = Arc::new(Shared {
            rt,
            uid,
            dispatch,
            started: Instant::now(),
            settings,
            holds: Holds::default(),
            state: Mutex::new(State {
                actor,
                chans: IdMap::default(),
                conns: IdMap::default(),
                dialogs: IdMap::default(),
                children: IdMap::default(),
                nurseries_done: HashSet::new(),
                waiters: Vec::new(),
                deadline: None,
                timer_waker: None,
                cancel_requested: None,
                parent_lost: false,
                spawn_spec: None,
                stopping: false,
                winding_down: false,
                io_tasks: 0,
                listeners: Vec::new(),
                deferred: None,
                tty_granted: HashSet::new(),
                tty_held: false,
                dropped_nurseries: IdMap::default(),
                procs: IdMap::default(),
            }),
        });
        let timer = shared.clone();
        shared
            .rt
            .spawn(runtime_task("timer".to_owned(), async move {
                timer.run_timer().await
            }));
        shared
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the state, if its lock comes free within `patience` (for
    /// task-tree dumps, which must not hang on a task that holds it).
    pub(crate) fn peek<R>(&self, patience: Duration, f: impl FnOnce(&State) -> R) -> Option<R> {
        let deadline = Instant::now() + patience;
        loop {
            match self.state.try_lock() {
                Ok(st) => return Some(f(&st)),
                Err(std::sync::TryLockError::Poisoned(p)) => return Some(f(&p.into_inner())),
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(std::sync::TryLockError::WouldBlock) => return None,
            }
        }
    }

    /// Runs `f` on the state, then carries out what the core asks.
    pub(crate) fn with<R>(self: &Arc<Self>, f: impl FnOnce(&mut State, Instant) -> R) -> R {
        let mut st = self.lock();
        let r = f(&mut st, Instant::now());
        self.drain(&mut st);
        r
    }

    /// `fut`, unless `after` passes first.
    pub(crate) async fn timeout<T>(
        self: &Arc<Self>,
        after: Duration,
        fut: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let mut fut = std::pin::pin!(fut);
        let mut sleep = self.rt.sleep_until(Instant::now() + after);
        poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            sleep.as_mut().poll(cx).map(|()| None)
        })
        .await
    }

    /// Waits until `f` returns a value; it runs under the lock each time the
    /// state may have changed (any general wake-up).
    pub(crate) async fn wait<T>(
        self: &Arc<Self>,
        mut f: impl FnMut(&mut State, Instant) -> Option<T>,
    ) -> T {
        poll_fn(|cx| {
            let mut st = self.lock();
            let r = f(&mut st, Instant::now());
            self.drain(&mut st);
            match r {
                Some(v) => Poll::Ready(v),
                None => {
                    add_waker(&mut st.waiters, cx);
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Like [`Shared::wait`], for one dialog's events.
    pub(crate) fn poll_dialog<T>(
        self: &Arc<Self>,
        dialog: DialogId,
        cx: &Context<'_>,
        f: impl FnOnce(&mut State) -> Option<T>,
    ) -> Poll<T> {
        let mut st = self.lock();
        let r = f(&mut st);
        if r.is_none() {
            st.watch(dialog, cx);
        }
        self.drain(&mut st);
        match r {
            Some(v) => Poll::Ready(v),
            None => Poll::Pending,
        }
    }

    /// Polls the core until its next deadline, carrying out every output.
    fn drain(self: &Arc<Self>, st: &mut State) {
        loop {
            match st.actor.poll_output() {
                Output::Transmit(t) => match st.chans.get(&t.channel) {
                    Some(ctl) => ctl.push(t.data),
                    None => {
                        tracing::debug!(target: "tractor::transport", channel = %t.channel, "transmit for a gone channel")
                    }
                },
                Output::Action(action) => self.act(st, action),
                Output::Event(event) => self.on_event(st, event),
                Output::Timeout(deadline) => {
                    let held = st.actor.tty_lock_holder().is_some();
                    if held != st.tty_held {
                        st.tty_held = held;
                        if !held {
                            crate::signals::terminal_released();
                        }
                    }
                    if deadline != st.deadline {
                        st.deadline = deadline;
                        if let Some(w) = st.timer_waker.take() {
                            w.wake();
                        }
                    }
                    return;
                }
            }
        }
    }

    fn act(self: &Arc<Self>, st: &mut State, action: Action) {
        match action {
            Action::Connect { channel, addr } => {
                let ctl = Arc::new(ChanCtl::default());
                st.chans.insert(channel, ctl.clone());
                st.conns.insert(channel, Conn::Pending);
                let target = transport::target(&addr);
                let shared = self.clone();
                self.rt.spawn(runtime_task(
                    format!("connecting {channel} to {addr}"),
                    async move {
                        let conn = match target {
                            Ok(t) => {
                                let tls = shared
                                    .settings
                                    .tls
                                    .as_ref()
                                    .filter(|tls| tls.applies_to(&t))
                                    .map(|tls| tls.client());
                                match (shared.rt.connect(t).await, tls) {
                                    (Ok(conn), Some(session)) => {
                                        let deadline = Instant::now()
                                            + shared
                                                .with(|st, _| st.actor.config().handshake_timeout);
                                        match session {
                                            Ok(session) => shared
                                                .secure(&ctl, conn, session, deadline)
                                                .await
                                                .map_err(|e| {
                                                    if crate::tls::refused_credentials(&e).is_some()
                                                    {
                                                        return e;
                                                    }
                                                    std::io::Error::new(
                                                        e.kind(),
                                                        format!("TLS handshake: {e}"),
                                                    )
                                                }),
                                            Err(e) => Err(e),
                                        }
                                    }
                                    (conn, _) => conn,
                                }
                            }
                            Err(e) => Err(e),
                        };
                        match conn {
                            Ok(conn) => {
                                shared.with(|st, now| {
                                    if ctl.is_closing() {
                                        // Given up on meanwhile (`Abort`):
                                        // the connection is dropped here.
                                        return;
                                    }
                                    shared.start_io(st, channel, ctl, conn);
                                    st.actor.handle_connected(now, channel);
                                });
                            }
                            Err(e) => shared.with(|st, now| {
                                if !Self::refused(st, now, channel, &e) {
                                    st.actor.handle_connect_failed(
                                        now,
                                        channel,
                                        format!("{addr}: {e}"),
                                    );
                                }
                            }),
                        }
                    },
                ));
            }
            Action::Close { channel } => {
                // The writer flushes, then ends and forgets the channel; an
                // `Abort` may still cut the flush short.
                if let Some(ctl) = st.chans.get(&channel) {
                    ctl.close();
                }
            }
            Action::Abort { channel } => {
                if let Some(ctl) = st.chans.remove(&channel) {
                    ctl.abort();
                }
            }
            Action::PauseReading { channel } => {
                if let Some(ctl) = st.chans.get(&channel) {
                    ctl.set_paused(true);
                }
            }
            Action::ResumeReading { channel } => {
                if let Some(ctl) = st.chans.get(&channel) {
                    ctl.set_paused(false);
                }
            }
            Action::Spawn {
                child,
                uid,
                parent_addr,
                debug_mode: _,
            } => self.spawn_child(st, child, uid, parent_addr),
            Action::Signal { child, pid, signal } => {
                let sig = match signal {
                    Signal::Terminate => nix::sys::signal::Signal::SIGTERM,
                    Signal::Kill => nix::sys::signal::Signal::SIGKILL,
                };
                let uid = child_name(&st.actor, child);
                match signal {
                    Signal::Terminate => {
                        tracing::info!(target: "tractor::cancel", child = %uid, pid, "not gone when asked: terminating (SIGTERM)")
                    }
                    Signal::Kill => {
                        tracing::warn!(target: "tractor::cancel", child = %uid, pid, "still running: killing (SIGKILL)")
                    }
                }
                if let Some(p) = st.procs.get_mut(&child) {
                    if p.signalled != Some(Signal::Kill) {
                        p.signalled = Some(signal);
                    }
                    // SIGKILL leaves the child no time to end its own
                    // children: they go with it, found before it dies.
                    if signal == Signal::Kill {
                        p.below.extend(crate::reap::kill_below(pid));
                    }
                }
                // The pid is ours until we reap it, which the core hears of
                // before it could ask for another signal.
                let pid = nix::unistd::Pid::from_raw(pid as i32);
                if let Err(e) = nix::sys::signal::kill(pid, sig) {
                    tracing::debug!(target: "tractor::cancel", %child, error = %e, "signal not delivered");
                }
            }
        }
    }

    fn on_event(self: &Arc<Self>, st: &mut State, event: Event) {
        match event {
            Event::ChannelOpened { channel, peer } => {
                if let Some(c) = st.conns.get_mut(&channel) {
                    *c = Conn::Open(peer);
                }
                st.wake_all();
            }
            Event::ChannelClosed {
                channel,
                reason,
                peer,
            } => {
                let peer = peer.map_or_else(|| "?".to_owned(), |p| p.to_string());
                tracing::debug!(target: "tractor::runtime", %channel, %peer, %reason, "channel closed");
                // Its connection was released by the `Close` or `Abort`
                // that came first.
                if let Some(c) = st.conns.get_mut(&channel) {
                    *c = Conn::Closed(reason);
                }
                st.wake_all();
            }
            Event::ProbeAnswered { channel, peer } => {
                st.conns.insert(channel, Conn::Probed(peer));
                st.wake_all();
            }
            Event::Invoke {
                dialog,
                ns,
                func,
                kwargs,
                kind,
                ..
            } => {
                st.track(dialog);
                let call = Invoke {
                    dialog,
                    ns,
                    func,
                    kwargs,
                    kind,
                };
                match st.deferred.as_mut() {
                    Some(later) => later.push(call),
                    None => self.run(call),
                }
            }
            Event::Readable { dialog } | Event::Writable { dialog } => {
                if let Some(slot) = st.dialogs.get_mut(&dialog) {
                    slot.wake();
                }
            }
            Event::Cancel { dialog, cause } => {
                log_cancel(st, dialog, &cause);
                let slot = st.dialogs.entry(dialog).or_default();
                slot.cancel.get_or_insert(cause);
                slot.wake();
            }
            Event::ActorCancelRequested { by } => {
                tracing::info!(target: "tractor::cancel", %by, "actor cancel requested");
                st.cancel_requested.get_or_insert(by);
                st.wake_all();
            }
            Event::SpawnFailed { child, reason } => {
                st.procs.remove(&child);
                let name = st.children.get(&child).map(|c| c.name.clone());
                let name = name.unwrap_or_else(|| child.to_string());
                tracing::warn!(target: "tractor::runtime", child = %name, %reason, "spawn failed");
                if let Some(c) = st.children.get_mut(&child) {
                    c.failed = Some(reason);
                }
                st.wake_all();
            }
            Event::ChildConnected { child, channel } => {
                if let Some(peer) = st.actor.peer(channel) {
                    tracing::debug!(target: "tractor::runtime", child = %peer.uid(), %channel, "connected back");
                }
                if let Some(c) = st.children.get_mut(&child) {
                    c.channel = Some(channel);
                }
                st.wake_all();
            }
            Event::ChildExited { child, uid, status } => {
                log_exit(&uid, st.procs.remove(&child), status);
                if let Some(c) = st.children.get_mut(&child) {
                    c.exited = Some(status);
                }
                st.wake_all();
            }
            Event::NurseryDone { nursery } => {
                st.nurseries_done.insert(nursery);
                st.wake_all();
            }
            Event::SpawnSpecReceived { spec } => {
                st.spawn_spec = Some(spec);
                st.wake_all();
            }
            Event::ParentLost { reason, .. } => {
                if st.cancel_requested.is_none() {
                    tracing::info!(target: "tractor::cancel", %reason, "lost the parent: cancelling");
                }
                st.parent_lost = true;
                st.wake_all();
            }
            Event::TtyLockAcquired { ticket } => {
                st.tty_granted.insert(ticket);
                st.wake_all();
            }
            Event::RegistryChanged => st.wake_all(),
            Event::IntrospectRequested { channel, peer, cid } => {
                tracing::debug!(target: "tractor::runtime", %peer, "introspected");
                snapshot::answer(self, st, channel, cid);
            }
            Event::TaskDumpRequested => snapshot::dump_tasks(self, st),
            Event::Registered {
                registrar,
                addrs,
                again,
            } => {
                let addrs = crate::log::list(&addrs);
                if again {
                    tracing::info!(target: "tractor::runtime", %registrar, %addrs, "registered again with the registrar");
                } else {
                    tracing::info!(target: "tractor::runtime", %registrar, %addrs, "registered with the registrar");
                }
                st.wake_all();
            }
            Event::RegistrarLost {
                registrar,
                channel,
                reason,
                failures,
                retry_at,
            } => {
                if let Some(channel) = channel {
                    // Nobody waits on a registration's channel.
                    st.conns.remove(&channel);
                }
                match retry_at {
                    Some(at) if failures == 1 => {
                        let retry_in = at.saturating_duration_since(Instant::now());
                        tracing::info!(target: "tractor::runtime", %registrar, %reason, ?retry_in, "lost the registrar: registering again until it answers");
                    }
                    Some(at) => {
                        let retry_in = at.saturating_duration_since(Instant::now());
                        tracing::debug!(target: "tractor::runtime", %registrar, %reason, failures, ?retry_in, "registering failed again");
                    }
                    None => {
                        tracing::debug!(target: "tractor::runtime", %registrar, %reason, "registration ended")
                    }
                }
                st.wake_all();
            }
            Event::Violation { channel, violation } => {
                tracing::warn!(target: "tractor::transport", %channel, %violation, "protocol violation");
            }
        }
    }

    fn run(self: &Arc<Self>, call: Invoke) {
        self.rt.spawn(self.dispatch.invoke(self.clone(), call));
    }

    /// Holds calls back until [`Shared::serve`] (a booting child).
    pub(crate) fn defer_calls(self: &Arc<Self>) {
        self.lock().deferred.get_or_insert_with(Vec::new);
    }

    /// Runs the calls held back, and every call from now on.
    pub(crate) fn serve(self: &Arc<Self>) {
        let calls = self.lock().deferred.take().unwrap_or_default();
        for call in calls {
            self.run(call);
        }
    }

    /// One poll of [`Shared::wait`]: checks `f` and, if it has nothing,
    /// registers `cx` under the same lock, so that no wake-up is lost.
    pub(crate) fn poll_state<T>(
        self: &Arc<Self>,
        cx: &Context<'_>,
        f: impl FnOnce(&mut State) -> Option<T>,
    ) -> Poll<T> {
        let mut st = self.lock();
        match f(&mut st) {
            Some(v) => Poll::Ready(v),
            None => {
                add_waker(&mut st.waiters, cx);
                Poll::Pending
            }
        }
    }

    /// Shuts the engine down once idle: the timer and every listener stop.
    pub(crate) fn set_stopping(self: &Arc<Self>) {
        self.with(|st, _| {
            st.stopping = true;
            if let Some(w) = st.timer_waker.take() {
                w.wake();
            }
        });
        self.stop_listeners();
    }
}

/// Logs a served function's cancellation: at `cancel` when its caller
/// asked for it (a context or call cancelled), else (the whole actor is
/// cancelling, the channel went) one line at `debug`.
fn log_cancel(st: &State, dialog: DialogId, cause: &CancelCause) {
    // Looked up only for a line that is shown: cancelling many functions
    // at once stays linear.
    let func = || dialog_func(&st.actor, dialog);
    match cause {
        CancelCause::Requested { by } => {
            if tracing::enabled!(target: "tractor::cancel", tracing::Level::INFO) {
                let func = func();
                tracing::info!(target: "tractor::cancel", %func, %by, "cancelled by its caller")
            }
        }
        other => {
            if tracing::enabled!(target: "tractor::transport", tracing::Level::DEBUG) {
                let func = func();
                tracing::debug!(target: "tractor::transport", %func, cause = ?other, "cancelled")
            }
        }
    }
}

/// A dialog's function as log lines name it (`ns:func`), else its id.
pub(crate) fn dialog_func(actor: &Actor, dialog: DialogId) -> String {
    actor
        .dialog_info(dialog)
        .and_then(|d| d.endpoint)
        .map_or_else(|| dialog.to_string(), |(ns, f)| format!("{ns}:{f}"))
}
