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

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::poll_fn;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tractor_protocol::{
    Action, Actor, Address, Aid, CancelCause, ChannelId, ChildArgs, ChildId, CloseReason, DialogId,
    Event, ExitStatus, NurseryId, Output, ProbeAnswer, Signal, SpawnSpec, TtyTicket, Uid,
};

use crate::functions::Functions;
use crate::runtime::{BoxFuture, Connection, Listener, Runtime};
use crate::transport;

/// What the engine was told at start and never changes.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The log level children are started with.
    pub(crate) loglevel: Option<String>,
    /// Where Unix sockets live.
    pub(crate) uds_dir: PathBuf,
    /// Which failures open a crash REPL in debug mode.
    pub(crate) debug_filter: Option<crate::debug::DebugFilter>,
    /// The tree's secret and its opt-outs, passed on to children.
    pub(crate) auth: crate::auth::Auth,
    /// The limits this actor runs with, passed on to children.
    pub(crate) limits: crate::limits::TreeLimits,
}

/// The process title of a child actor named `name`: the first word of its
/// command line, and (cut to the kernel's 15 bytes) its `comm`, which
/// still shows once the process is a zombie.
pub(crate) fn proc_title(name: &str) -> String {
    format!("_subactor[{name}]")
}

/// One actor: the core, and the runtime that drives it.
pub(crate) struct Shared {
    pub(crate) rt: Arc<dyn Runtime>,
    pub(crate) uid: Uid,
    pub(crate) functions: Arc<Functions>,
    pub(crate) settings: Settings,
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

/// How many queued bytes one write may carry: the frames queued behind
/// `first`, joined up to this size, go out in a single write.
const WRITE_BATCH: usize = 64 * 1024;

/// `first` and the frames queued after it, joined while they fit in
/// [`WRITE_BATCH`].
fn coalesce(first: Bytes, queued: &mut VecDeque<Bytes>) -> Bytes {
    let more = queued
        .iter()
        .scan(first.len(), |len, b| {
            *len += b.len();
            (*len <= WRITE_BATCH).then_some(())
        })
        .count();
    if more == 0 {
        return first;
    }
    let mut joined = BytesMut::with_capacity(
        first.len() + queued.iter().take(more).map(Bytes::len).sum::<usize>(),
    );
    joined.extend_from_slice(&first);
    for b in queued.drain(..more) {
        joined.extend_from_slice(&b);
    }
    joined.freeze()
}

fn add_waker(wakers: &mut Vec<Waker>, cx: &Context<'_>) {
    if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
        wakers.push(cx.waker().clone());
    }
}

/// The engine's state, under the one lock.
pub(crate) struct State {
    pub(crate) actor: Actor,
    chans: HashMap<ChannelId, Arc<ChanCtl>>,
    pub(crate) conns: HashMap<ChannelId, Conn>,
    pub(crate) dialogs: HashMap<DialogId, Slot>,
    pub(crate) children: HashMap<ChildId, ChildState>,
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
    pub(crate) dropped_nurseries: HashMap<DialogId, Vec<crate::nursery::DroppedNursery>>,
    /// Each child process running: its pid and the strongest signal sent
    /// to it (for the log line of its exit).
    procs: HashMap<ChildId, Proc>,
}

/// A child process, as its exit's log line tells it.
#[derive(Debug, Clone)]
struct Proc {
    pid: u32,
    signalled: Option<Signal>,
    /// The processes below it that were killed with it: its exit is
    /// reported once they are dead too.
    below: Vec<u32>,
}

/// A call to run.
struct Invoke {
    dialog: DialogId,
    ns: String,
    func: String,
    kwargs: tractor_protocol::Raw,
    kind: tractor_protocol::FuncType,
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
    pub(crate) fn watch(&mut self, dialog: DialogId, cx: &Context<'_>) {
        add_waker(&mut self.dialogs.entry(dialog).or_default().wakers, cx);
    }
}

/// A connection's outgoing queue and its tasks' wakers.
#[derive(Default)]
pub(crate) struct ChanCtl {
    q: Mutex<ChanQ>,
}

#[derive(Default)]
struct ChanQ {
    out: VecDeque<Bytes>,
    /// Both tasks stop: the reader at once, the writer once `out` is
    /// written.
    closing: bool,
    /// Both tasks stop at once; nothing more is written.
    aborted: bool,
    /// The core asked for no more reads for now.
    paused: bool,
    writer: Option<Waker>,
    reader: Option<Waker>,
}

impl ChanCtl {
    fn lock(&self) -> MutexGuard<'_, ChanQ> {
        self.q.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, data: Bytes) {
        let mut q = self.lock();
        q.out.push_back(data);
        if let Some(w) = q.writer.take() {
            w.wake();
        }
    }

    pub(crate) fn close(&self) {
        let mut q = self.lock();
        q.closing = true;
        for w in [q.writer.take(), q.reader.take()].into_iter().flatten() {
            w.wake();
        }
    }

    /// Stops both tasks at once, dropping what is not written: the
    /// connection is released as soon as they see it.
    fn abort(&self) {
        let mut q = self.lock();
        q.closing = true;
        q.aborted = true;
        q.out.clear();
        for w in [q.writer.take(), q.reader.take()].into_iter().flatten() {
            w.wake();
        }
    }

    /// Pauses or resumes the reader.
    fn set_paused(&self, paused: bool) {
        let mut q = self.lock();
        q.paused = paused;
        if !paused && let Some(w) = q.reader.take() {
            w.wake();
        }
    }

    fn is_closing(&self) -> bool {
        self.lock().closing
    }
}

impl Shared {
    pub(crate) fn new(
        rt: Arc<dyn Runtime>,
        actor: Actor,
        functions: Arc<Functions>,
        settings: Settings,
    ) -> Arc<Self> {
        let uid = actor.uid().clone();
        let shared = Arc::new(Shared {
            rt,
            uid,
            functions,
            settings,
            state: Mutex::new(State {
                actor,
                chans: HashMap::new(),
                conns: HashMap::new(),
                dialogs: HashMap::new(),
                children: HashMap::new(),
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
                dropped_nurseries: HashMap::new(),
                procs: HashMap::new(),
            }),
        });
        let timer = shared.clone();
        shared.rt.spawn(crate::stackscope::runtime_task(
            "timer".to_owned(),
            async move { timer.run_timer().await },
        ));
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
        f: impl FnOnce(&mut State, Instant) -> Option<T>,
    ) -> Poll<T> {
        let mut st = self.lock();
        let r = f(&mut st, Instant::now());
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
                self.rt.spawn(crate::stackscope::runtime_task(
                    format!("connecting {channel} to {addr}"),
                    async move {
                        let conn = match target {
                            Ok(t) => shared.rt.connect(t).await,
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
                                st.actor
                                    .handle_connect_failed(now, channel, format!("{addr}: {e}"))
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

    fn spawn_child(
        self: &Arc<Self>,
        st: &mut State,
        child: ChildId,
        uid: Uid,
        parent_addr: Option<Address>,
    ) {
        let Some(parent_addr) = parent_addr else {
            st.actor
                .handle_spawn_failed(child, "this actor has no accept address".into());
            return;
        };
        let (program, python, loglevel, env) = match st.children.get_mut(&child) {
            Some(c) => {
                c.uid = Some(uid.clone());
                (
                    c.program.clone(),
                    c.python,
                    c.loglevel.clone(),
                    c.env.clone(),
                )
            }
            None => (None, false, None, Vec::new()),
        };
        let program = match program.map(Ok).unwrap_or_else(std::env::current_exe) {
            Ok(p) => p,
            Err(e) => {
                st.actor.handle_spawn_failed(child, e.to_string());
                return;
            }
        };
        let args = ChildArgs {
            uid,
            parent_addr,
            loglevel: loglevel.or_else(|| self.settings.loglevel.clone()),
        };
        let mut cmd = std::process::Command::new(&program);
        // The child's title in `ps` and `/proc/<pid>/cmdline`, as Python's
        // `_subactor[<name>@<pid>]` (the pid is `ps`'s own column here). A
        // Python interpreter keeps its real path: CPython finds its
        // virtual environment from `argv[0]`, and titles itself.
        if !python {
            std::os::unix::process::CommandExt::arg0(&mut cmd, proc_title(&args.uid.name));
        }
        // The command line is Python's; this process's pid goes in the
        // environment, after the caller's variables (see `lineage`).
        let parent_pid = crate::lineage::parent_pid_value(&args.uid.uuid);
        cmd.args(args.to_args());
        // This actor's limits, so that a whole tree runs with its root's
        // (a child given its own with `ActorOptions::env` runs with those).
        cmd.envs(self.settings.limits.child_env()).envs(env);
        // The tree's secret goes in the environment, never on the command
        // line; what the caller's variables say of it is overridden.
        for (key, value) in self.settings.auth.child_env() {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        cmd.env(crate::lineage::PARENT_PID_ENV, parent_pid);
        match self.rt.spawn_process(cmd) {
            Ok(process) => {
                let pid = process.pid();
                tracing::info!(target: "tractor::runtime", child = %args.uid, pid, "spawned");
                st.procs.insert(
                    child,
                    Proc {
                        pid,
                        signalled: None,
                        below: Vec::new(),
                    },
                );
                if let Some(c) = st.children.get_mut(&child) {
                    c.pid = Some(pid);
                }
                st.actor.handle_spawned(child, pid);
                let shared = self.clone();
                let rt = self.rt.clone();
                self.rt.spawn(crate::stackscope::runtime_task(
                    format!("waiting for {} (pid {pid})", args.uid),
                    async move {
                        let status = match process.wait().await {
                            Ok(s) => exit_status(s),
                            Err(e) => {
                                tracing::warn!(target: "tractor::runtime", %child, error = %e, "waiting for a child failed");
                                ExitStatus {
                                    code: None,
                                    signal: None,
                                }
                            }
                        };
                        // Killed with processes below it: gone only once
                        // they are dead too.
                        let below = shared.with(|st, _| {
                            st.procs.get(&child).map(|p| p.below.clone()).unwrap_or_default()
                        });
                        let deadline = Instant::now() + crate::reap::DEATH_TIMEOUT;
                        while !crate::reap::dead(&below) && Instant::now() < deadline {
                            rt.sleep_until(Instant::now() + Duration::from_millis(2)).await;
                        }
                        for p in below {
                            transport::remove_socket_files_of(&shared.settings.uds_dir, p);
                        }
                        shared.with(|st, now| {
                            if let Some(c) = st.children.get(&child) {
                                // A crashed child leaves its socket file behind.
                                transport::remove_socket_file(
                                    &shared.settings.uds_dir,
                                    &c.name,
                                    pid,
                                );
                            }
                            st.actor.handle_process_exited(now, child, status)
                        });
                    },
                ));
            }
            Err(e) => {
                st.actor
                    .handle_spawn_failed(child, format!("{}: {e}", program.display()));
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
        let shared = self.clone();
        let Invoke {
            dialog,
            ns,
            func,
            kwargs,
            kind,
        } = call;
        self.rt.spawn(Box::pin(async move {
            crate::functions::run_callee(shared, dialog, ns, func, kwargs, kind).await
        }));
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

    /// Starts the reader and writer of a new connection.
    fn start_io(
        self: &Arc<Self>,
        st: &mut State,
        channel: ChannelId,
        ctl: Arc<ChanCtl>,
        conn: Connection,
    ) {
        let Connection { reader, writer } = conn;
        st.chans.insert(channel, ctl.clone());
        st.io_tasks += 2;
        let shared = self.clone();
        let rctl = ctl.clone();
        self.rt.spawn(crate::stackscope::runtime_task(
            format!("reader of {channel}"),
            async move {
                shared.run_reader(channel, rctl, reader).await;
                shared.with(|st, _| {
                    st.io_tasks -= 1;
                    st.wake_all();
                });
            },
        ));
        let shared = self.clone();
        self.rt.spawn(crate::stackscope::runtime_task(
            format!("writer of {channel}"),
            async move {
                shared.run_writer(channel, ctl.clone(), writer).await;
                shared.with(|st, _| {
                    // The connection is done with: flushed and shut, broken
                    // or dropped.
                    if st.chans.get(&channel).is_some_and(|c| Arc::ptr_eq(c, &ctl)) {
                        st.chans.remove(&channel);
                    }
                    st.io_tasks -= 1;
                    st.wake_all();
                });
            },
        ));
    }

    async fn run_reader(
        self: &Arc<Self>,
        channel: ChannelId,
        ctl: Arc<ChanCtl>,
        mut reader: Box<dyn crate::runtime::ReadHalf>,
    ) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let read = poll_fn(|cx| {
                {
                    let mut q = ctl.lock();
                    if q.closing {
                        return Poll::Ready(None);
                    }
                    q.reader = Some(cx.waker().clone());
                    if q.paused {
                        return Poll::Pending;
                    }
                }
                reader.poll_read(cx, &mut buf).map(Some)
            })
            .await;
            match read {
                None => return,
                Some(Ok(0)) => {
                    self.with(|st, now| st.actor.handle_closed(now, channel, None));
                    return;
                }
                Some(Ok(n)) => self.with(|st, now| st.actor.handle_data(now, channel, &buf[..n])),
                Some(Err(e)) => {
                    self.with(|st, now| st.actor.handle_closed(now, channel, Some(e.to_string())));
                    return;
                }
            }
        }
    }

    async fn run_writer(
        self: &Arc<Self>,
        channel: ChannelId,
        ctl: Arc<ChanCtl>,
        mut writer: Box<dyn crate::runtime::WriteHalf>,
    ) {
        loop {
            let next = poll_fn(|cx| {
                let mut q = ctl.lock();
                if q.aborted {
                    return Poll::Ready(None);
                }
                if let Some(first) = q.out.pop_front() {
                    return Poll::Ready(Some(coalesce(first, &mut q.out)));
                }
                if q.closing {
                    return Poll::Ready(None);
                }
                q.writer = Some(cx.waker().clone());
                Poll::Pending
            })
            .await;
            let Some(mut data) = next else {
                if !ctl.lock().aborted {
                    let _ = poll_fn(|cx| writer.poll_shutdown(cx)).await;
                }
                return;
            };
            while !data.is_empty() {
                let wrote = poll_fn(|cx| {
                    {
                        let mut q = ctl.lock();
                        if q.aborted {
                            return Poll::Ready(None);
                        }
                        q.writer = Some(cx.waker().clone());
                    }
                    writer.poll_write(cx, &data).map(Some)
                })
                .await;
                let Some(wrote) = wrote else {
                    return;
                };
                match wrote {
                    Ok(0) => {
                        self.with(|st, now| {
                            st.actor
                                .handle_closed(now, channel, Some("write returned zero".into()))
                        });
                        return;
                    }
                    Ok(n) => {
                        let _ = data.split_to(n);
                        self.with(|st, now| st.actor.handle_written(now, channel, n));
                    }
                    Err(e) => {
                        self.with(|st, now| {
                            st.actor.handle_closed(now, channel, Some(e.to_string()))
                        });
                        return;
                    }
                }
            }
        }
    }

    async fn run_timer(self: Arc<Self>) {
        let mut sleep: Option<(Instant, BoxFuture<'static, ()>)> = None;
        loop {
            let fire = poll_fn(|cx| {
                let mut st = self.lock();
                st.timer_waker = Some(cx.waker().clone());
                if st.stopping && st.deadline.is_none() && st.actor.is_idle() {
                    return Poll::Ready(false);
                }
                let Some(deadline) = st.deadline else {
                    sleep = None;
                    return Poll::Pending;
                };
                drop(st);
                if sleep.as_ref().is_none_or(|(d, _)| *d != deadline) {
                    sleep = Some((deadline, self.rt.sleep_until(deadline)));
                }
                match sleep.as_mut() {
                    Some((_, s)) => s.as_mut().poll(cx).map(|()| true),
                    None => Poll::Pending,
                }
            })
            .await;
            if !fire {
                return;
            }
            sleep = None;
            self.with(|st, now| st.actor.handle_timeout(now));
        }
    }

    /// Accepts connections on `listener` until the actor stops.
    pub(crate) fn start_listener(self: &Arc<Self>, mut listener: Box<dyn Listener>) {
        let ctl = Arc::new(ChanCtl::default());
        self.lock().listeners.push(ctl.clone());
        let shared = self.clone();
        self.rt.spawn(crate::stackscope::runtime_task(
            "listener".to_owned(),
            async move {
                // Accept errors in a row (out of descriptors, say).
                let mut failing = 0u64;
                loop {
                    let accepted = poll_fn(|cx| {
                        if ctl.is_closing() {
                            return Poll::Ready(None);
                        }
                        ctl.lock().reader = Some(cx.waker().clone());
                        listener.poll_accept(cx).map(Some)
                    })
                    .await;
                    match accepted {
                        None => return,
                        Some(Ok(conn)) => {
                            if failing > 1 {
                                tracing::info!(target: "tractor::transport", failures = failing, "accepting again");
                            }
                            failing = 0;
                            shared.with(|st, now| {
                                let channel = st.actor.handle_accepted(now);
                                let chan_ctl = Arc::new(ChanCtl::default());
                                shared.start_io(st, channel, chan_ctl, conn);
                            })
                        }
                        Some(Err(e)) => {
                            // Logged once a burst; retried a little later,
                            // not in a busy loop (the error may persist
                            // until connections close).
                            failing += 1;
                            if failing == 1 {
                                tracing::warn!(target: "tractor::transport", error = %e, "accept failed");
                            } else {
                                tracing::debug!(target: "tractor::transport", error = %e, "accept failed");
                            }
                            let pause = Duration::from_millis(if failing == 1 { 1 } else { 50 });
                            shared.rt.sleep_until(Instant::now() + pause).await;
                        }
                    }
                }
            },
        ));
    }

    /// Stops accepting connections.
    pub(crate) fn stop_listeners(self: &Arc<Self>) {
        let listeners = std::mem::take(&mut self.lock().listeners);
        for l in listeners {
            l.close();
        }
    }

    /// Opens a channel to `addr` and waits for its handshake.
    pub(crate) async fn connect(
        self: &Arc<Self>,
        addr: &Address,
    ) -> crate::Result<(ChannelId, Aid)> {
        let channel = self.with(|st, _| st.actor.connect(addr.clone()));
        self.wait_open(channel, addr).await
    }

    pub(crate) async fn wait_open(
        self: &Arc<Self>,
        channel: ChannelId,
        addr: &Address,
    ) -> crate::Result<(ChannelId, Aid)> {
        let result = self
            .wait(|st, _| match st.conns.get(&channel) {
                Some(Conn::Pending) => None,
                Some(Conn::Open(peer)) => Some(Ok(peer.clone())),
                Some(Conn::Probed(peer)) => Some(Ok(peer.clone())),
                Some(Conn::Closed(reason)) => Some(Err(reason.clone())),
                None => Some(Err(CloseReason::Broken(
                    "the connection was forgotten".into(),
                ))),
            })
            .await;
        self.with(|st, _| {
            if !matches!(st.conns.get(&channel), Some(Conn::Open(_))) {
                st.conns.remove(&channel);
            }
        });
        result
            .map(|peer| (channel, peer))
            .map_err(|reason| match reason {
                CloseReason::Auth(reason) => crate::ErrorKind::Unauthenticated {
                    addr: addr.to_string(),
                    reason,
                }
                .into(),
                reason => crate::ErrorKind::Connect {
                    addr: addr.to_string(),
                    reason: reason.to_string(),
                }
                .into(),
            })
    }

    /// Asks who listens at `addr` (spec/PROTOCOL.md §3.1).
    pub(crate) async fn probe(self: &Arc<Self>, addr: &Address) -> ProbeAnswer {
        let channel = self.with(|st, _| {
            let ch = st.actor.probe(addr.clone());
            st.conns.insert(ch, Conn::Pending);
            ch
        });
        self.wait(|st, _| {
            let answer = match st.conns.get(&channel) {
                Some(Conn::Pending) => return None,
                Some(Conn::Probed(peer)) => ProbeAnswer::from_aid(peer),
                Some(Conn::Closed(reason)) => ProbeAnswer::from_close(reason),
                Some(Conn::Open(_)) | None => ProbeAnswer::Silent("the probe was lost".into()),
            };
            st.conns.remove(&channel);
            Some(answer)
        })
        .await
    }

    /// Closes a channel this actor opened.
    pub(crate) fn close_channel(self: &Arc<Self>, channel: ChannelId) {
        self.with(|st, now| {
            st.conns.remove(&channel);
            st.actor.close(now, channel);
        });
    }

    /// Closes every connection (what is queued for each is still sent).
    pub(crate) fn close_all_channels(self: &Arc<Self>) {
        self.with(|st, now| {
            let channels: Vec<_> = st.chans.keys().copied().collect();
            for ch in channels {
                st.conns.remove(&ch);
                st.actor.close(now, ch);
            }
        });
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

    /// Kills every child process at once (SIGKILL), reaping or not: a
    /// second SIGINT or SIGTERM during the root's teardown. Each is still
    /// waited for, and its exit reported.
    pub(crate) fn kill_children(self: &Arc<Self>) {
        self.with(|st, _| {
            for (child, p) in st.procs.iter_mut() {
                let uid = child_name(&st.actor, *child);
                tracing::warn!(target: "tractor::cancel", child = %uid, pid = p.pid, "killing at once: SIGKILL");
                p.signalled = Some(Signal::Kill);
                p.below.extend(crate::reap::kill_below(p.pid));
                // The pid is ours until the core hears of its exit, under
                // this lock.
                let pid = nix::unistd::Pid::from_raw(p.pid as i32);
                if let Err(e) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL) {
                    tracing::debug!(target: "tractor::cancel", %child, error = %e, "signal not delivered");
                }
            }
        });
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

/// A child as log lines name it: its uid, else its id.
fn child_name(actor: &Actor, child: ChildId) -> String {
    actor
        .children()
        .find(|(c, _)| *c == child)
        .map_or_else(|| child.to_string(), |(_, u)| u.to_string())
}

/// A dialog's function as log lines name it (`ns:func`), else its id.
pub(crate) fn dialog_func(actor: &Actor, dialog: DialogId) -> String {
    actor
        .dialog_info(dialog)
        .and_then(|d| d.endpoint)
        .map_or_else(|| dialog.to_string(), |(ns, f)| format!("{ns}:{f}"))
}

/// How a child's process ended, as its exit's log line says it: its exit
/// code or the signal that ended it, and how it was reaped: `normally`
/// (this actor sent it no signal), `terminated` (sent SIGTERM) or `killed`
/// (sent SIGKILL).
fn describe_exit(status: ExitStatus, signalled: Option<Signal>) -> (String, &'static str) {
    let name = |n: i32| {
        nix::sys::signal::Signal::try_from(n)
            .map_or_else(|_| format!("signal {n}"), |s| s.as_str().to_owned())
    };
    let exit = match (status.code, status.signal) {
        (Some(code), _) => format!("code {code}"),
        (None, Some(n)) => name(n),
        (None, None) => "unknown".to_owned(),
    };
    let reaped = match signalled {
        None => "normally",
        Some(Signal::Terminate) => "terminated",
        Some(Signal::Kill) => "killed",
    };
    (exit, reaped)
}

/// Logs a child's exit: at `info`, or `warning` when it had to be killed.
fn log_exit(uid: &Uid, proc: Option<Proc>, status: ExitStatus) {
    let pid = proc.as_ref().map(|p| p.pid).unwrap_or_default();
    let signalled = proc.and_then(|p| p.signalled);
    let (exit, reaped) = describe_exit(status, signalled);
    if signalled == Some(Signal::Kill) {
        tracing::warn!(target: "tractor::runtime", child = %uid, pid, %exit, reaped, "exited");
    } else {
        tracing::info!(target: "tractor::runtime", child = %uid, pid, %exit, reaped, "exited");
    }
}

/// A std exit status as the core reports it.
fn exit_status(s: std::process::ExitStatus) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    ExitStatus {
        code: s.code(),
        signal: s.signal(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_say_how_the_child_went() {
        let code = |c| ExitStatus {
            code: Some(c),
            signal: None,
        };
        let signal = |n| ExitStatus {
            code: None,
            signal: Some(n),
        };
        assert_eq!(describe_exit(code(0), None), ("code 0".into(), "normally"));
        assert_eq!(
            describe_exit(code(1), Some(Signal::Terminate)),
            ("code 1".into(), "terminated")
        );
        assert_eq!(
            describe_exit(signal(15), Some(Signal::Terminate)),
            ("SIGTERM".into(), "terminated")
        );
        assert_eq!(
            describe_exit(signal(9), Some(Signal::Kill)),
            ("SIGKILL".into(), "killed")
        );
        assert_eq!(
            describe_exit(signal(11), None),
            ("SIGSEGV".into(), "normally")
        );
        assert_eq!(
            describe_exit(signal(99), None),
            ("signal 99".into(), "normally")
        );
    }

    #[test]
    fn queued_frames_go_out_together_up_to_the_batch_size() {
        let frame = |n: usize, b: u8| Bytes::from(vec![b; n]);
        let mut q: VecDeque<Bytes> = [frame(3, 2), frame(4, 3)].into();
        let out = coalesce(frame(2, 1), &mut q);
        assert_eq!(&out[..], &[1, 1, 2, 2, 2, 3, 3, 3, 3]);
        assert!(q.is_empty());

        let mut q: VecDeque<Bytes> = [frame(WRITE_BATCH - 10, 2), frame(1, 3)].into();
        let out = coalesce(frame(10, 1), &mut q);
        assert_eq!(out.len(), WRITE_BATCH);
        assert_eq!(q.len(), 1, "the frame that does not fit waits");

        let big = frame(WRITE_BATCH * 2, 9);
        let mut q: VecDeque<Bytes> = [frame(1, 3)].into();
        assert_eq!(
            coalesce(big.clone(), &mut q),
            big,
            "a large frame goes alone"
        );
        assert_eq!(q.len(), 1);
    }
}
