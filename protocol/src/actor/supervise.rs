//! Children: spawning, the `SpawnSpec` step, reaping; and, in a child, its
//! parent (spec/PROTOCOL.md §3.2–§3.4, §8).
//!
//! A child's life as its parent's core sees it:
//!
//! ```text
//!  spawn() --Action::Spawn--> Starting --handle_spawned(pid)--> Booting
//!                                                                  |
//!           the child connects back and its Aid carries its uid:   |
//!           SpawnSpec is sent, Event::ChildConnected               v
//!                                                               Running
//!  cancel_child():                                                 |
//!    self.cancel ----CancelAck-----------------+                   |
//!      | no CancelAck in 0.5 s                 v                   |
//!      v                                   AwaitExit               |
//!    SIGTERM (not in debug mode) ---------> (1.6 s) --> SIGKILL    |
//!                                                                  v
//!  handle_process_exited() at any point ------------------> Event::ChildExited
//! ```
//!
//! Every wait is a timer-table entry and every signal an action: the core
//! decides, the driver sends the signal and reports the exit.
//!
//! Children may be grouped in nurseries ([`Actor::open_nursery`]): one
//! failure cancels them all ([`Actor::cancel_nursery`]), and a closed
//! nursery reports [`Event::NurseryDone`] when its last child has exited.

use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::addr::Address;
use crate::msg::{self, Msg};
use crate::raw::Raw;
use crate::uid::Uid;

use super::channel::CloseReason;
use super::dialog::Kind;
use super::ids::{ChannelId, ChildId, DialogId, NurseryId};
use super::process::{ExitStatus, Signal};
use super::timer::Timer;
use super::{Action, Actor, CancelCause, Event};

/// How long a child has to acknowledge `self.cancel` before it is sent
/// SIGTERM (Python's `Portal.cancel_timeout`).
pub const REAP_CANCEL_TIMEOUT: Duration = Duration::from_millis(500);

/// How long a child has to exit once cancelled or terminated before it is
/// sent SIGKILL (Python's hard reap, `terminate_after=1.6`).
pub const REAP_KILL_AFTER: Duration = Duration::from_millis(1600);

/// How long a supervisor gives a child at each step of reaping it
/// (spec/PROTOCOL.md §8): first a cancel request, then SIGTERM, then SIGKILL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReapTimeouts {
    /// How long the child has to acknowledge `self.cancel` before SIGTERM.
    pub cancel_ack: Duration,
    /// How long the child has to exit once cancelled or terminated before
    /// SIGKILL.
    pub kill_after: Duration,
}

impl Default for ReapTimeouts {
    /// Python's timings: `cancel_ack` 0.5 s (`REAP_CANCEL_TIMEOUT`) and
    /// `kill_after` 1.6 s (`REAP_KILL_AFTER`).
    fn default() -> Self {
        ReapTimeouts {
            cancel_ack: REAP_CANCEL_TIMEOUT,
            kill_after: REAP_KILL_AFTER,
        }
    }
}

/// The process-wide settings a tree shares, sent to every child in its
/// `SpawnSpec` (`_runtime_vars`, spec/PROTOCOL.md §3.4), keys in Python's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeVars {
    /// Whether this actor is the root of the tree.
    #[serde(rename = "_is_root")]
    pub is_root: bool,
    /// The root's first accept address: where the terminal lock is asked for.
    #[serde(rename = "_root_mailbox", with = "maybe_addr")]
    pub root_mailbox: Option<Address>,
    /// Every accept address of the root.
    #[serde(rename = "_root_addrs")]
    pub root_addrs: Vec<Address>,
    /// Transports children listen on: `["tcp"]` or `["uds"]`.
    #[serde(rename = "_enable_tpts")]
    pub enable_transports: Vec<String>,
    /// Registrar addresses.
    #[serde(rename = "_registry_addrs")]
    pub registry_addrs: Vec<Address>,
    /// Whether the multi-process debugger is on.
    #[serde(rename = "_debug_mode")]
    pub debug_mode: bool,
    /// Python only; always false.
    #[serde(default)]
    pub repl_fixture: bool,
    /// Python only (sync pause support).
    #[serde(default)]
    pub use_greenback: bool,
    /// Whether SIGUSR1 dumps the task tree.
    #[serde(default)]
    pub use_stackscope: bool,
    /// Python only: the child runs trio as an asyncio guest.
    #[serde(rename = "_is_infected_aio", default)]
    pub is_infected_aio: bool,
}

impl Default for RuntimeVars {
    fn default() -> Self {
        RuntimeVars {
            is_root: true,
            root_mailbox: None,
            root_addrs: Vec::new(),
            enable_transports: vec!["tcp".to_owned()],
            registry_addrs: Vec::new(),
            debug_mode: false,
            repl_fixture: false,
            use_greenback: false,
            use_stackscope: false,
            is_infected_aio: false,
        }
    }
}

/// `_root_mailbox`: an address, or nil / `[nil, nil]` before the root has
/// one.
mod maybe_addr {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        addr: &Option<Address>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        addr.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Address>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Addr(Address),
            Unset(#[allow(dead_code)] Option<(Option<()>, Option<()>)>),
        }
        Ok(match Either::deserialize(d)? {
            Either::Addr(a) => Some(a),
            Either::Unset(_) => None,
        })
    }
}

/// What to spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnRequest {
    /// The child's name.
    pub name: String,
    /// The child's uuid; a fresh one if `None`.
    pub uuid: Option<String>,
    /// `_parent_main_data` for a Python child (`__main__` re-import hints);
    /// an empty map by default, which Rust children ignore.
    pub parent_main_data: Raw,
    /// Namespaces the child may serve, with the source path Python uses to
    /// import them (empty for Rust children): `enable_modules`.
    pub enable_modules: Vec<(String, String)>,
    /// Addresses the child must listen on; `None` lets it pick.
    pub bind_addrs: Option<Vec<Address>>,
    /// Whether the debugger is on in the child (defaults to the tree's).
    pub debug_mode: Option<bool>,
}

impl SpawnRequest {
    /// A child named `name`, serving nothing, listening where it likes.
    pub fn new(name: impl Into<String>) -> Self {
        SpawnRequest {
            name: name.into(),
            uuid: None,
            parent_main_data: Raw::EMPTY_MAP,
            enable_modules: Vec::new(),
            bind_addrs: None,
            debug_mode: None,
        }
    }
}

/// One child as [`Actor::children_info`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// Its id in this actor.
    pub id: ChildId,
    /// Its identity.
    pub uid: Uid,
    /// Its process, once started.
    pub pid: Option<u32>,
    /// Its nursery and that nursery's state (`open`, `closing`,
    /// `cancelled`), if it has one.
    pub nursery: Option<(NurseryId, &'static str)>,
    /// Where it stands: `starting`, `booting`, `running`, `cancelling`,
    /// `exiting` or `killed`.
    pub state: &'static str,
}

/// Where a child is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildPhase {
    /// The driver is starting the process.
    Starting,
    /// The process runs; it has not connected back yet.
    Booting,
    /// Connected, `SpawnSpec` sent.
    Running,
}

/// A nursery's state.
#[derive(Debug, Default)]
pub(crate) struct Nursery {
    /// One-cancels-all happened: every child is being reaped and no more
    /// may be spawned.
    pub(crate) cancelled: bool,
    /// The nursery's block ended: once its last child exits, it is done.
    pub(crate) closing: bool,
}

/// Where a child's reaping is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reap {
    /// Not being reaped.
    No,
    /// `self.cancel` sent; its dialog.
    Cancelling(DialogId),
    /// Asked to stop (acknowledged, or terminated): waiting for the exit.
    AwaitExit,
    /// Killed: waiting for the exit report.
    Killed,
}

/// A child whose process exited while connections to it were open.
#[derive(Debug)]
pub(crate) struct Draining {
    uid: Uid,
    nursery: Option<NurseryId>,
    status: ExitStatus,
    /// Its connections not read to their end yet.
    channels: Vec<ChannelId>,
}

#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) nursery: Option<NurseryId>,
    pub(crate) uid: Uid,
    pub(crate) request: SpawnRequest,
    pub(crate) phase: ChildPhase,
    pub(crate) pid: Option<u32>,
    pub(crate) channel: Option<ChannelId>,
    pub(crate) reap: Reap,
}

impl Actor {
    /// Starts a child actor: emits [`Action::Spawn`]. When it has connected
    /// back and been sent its `SpawnSpec`, [`Event::ChildConnected`] gives
    /// the channel to it; when its process ends, [`Event::ChildExited`].
    pub fn spawn(&mut self, request: SpawnRequest) -> ChildId {
        self.spawn_child(None, request)
    }

    /// Opens a nursery: a group of children supervised together.
    pub fn open_nursery(&mut self) -> NurseryId {
        let id = NurseryId(self.next_id());
        self.nurseries.insert(id, Nursery::default());
        id
    }

    /// Spawns a child into a nursery; refused once the nursery has been
    /// cancelled or closed.
    pub fn spawn_in(
        &mut self,
        nursery: NurseryId,
        request: SpawnRequest,
    ) -> Result<ChildId, super::UsageError> {
        match self.nurseries.get(&nursery) {
            Some(n) if !n.cancelled && !n.closing => Ok(self.spawn_child(Some(nursery), request)),
            _ => Err(super::UsageError::NurseryClosed(nursery)),
        }
    }

    /// One-cancels-all: reaps every child of the nursery (each through
    /// [`Actor::cancel_child`]'s sequence) and refuses new ones. Call it
    /// when any task of the nursery failed, or the nursery is cancelled.
    pub fn cancel_nursery(&mut self, now: Instant, nursery: NurseryId) {
        let Some(n) = self.nurseries.get_mut(&nursery) else {
            return;
        };
        n.cancelled = true;
        let kids: Vec<ChildId> = self
            .children
            .iter()
            .filter(|(_, c)| c.nursery == Some(nursery))
            .map(|(id, _)| *id)
            .collect();
        for child in kids {
            self.cancel_child(now, child);
        }
        self.check_nursery(nursery);
    }

    /// The nursery's block has ended: no more children will be added.
    /// [`Event::NurseryDone`] follows once every child has exited (at once
    /// if none is left); daemons are not cancelled by this, as in Python.
    pub fn close_nursery(&mut self, nursery: NurseryId) {
        if let Some(n) = self.nurseries.get_mut(&nursery) {
            n.closing = true;
        }
        self.check_nursery(nursery);
    }

    /// Reports a closed nursery whose children are all gone, and forgets it.
    fn check_nursery(&mut self, nursery: NurseryId) {
        let closing = self.nurseries.get(&nursery).is_some_and(|n| n.closing);
        let busy = self.children.values().any(|c| c.nursery == Some(nursery))
            || self.draining.values().any(|d| d.nursery == Some(nursery));
        if closing && !busy {
            self.nurseries.remove(&nursery);
            self.events.push_back(Event::NurseryDone { nursery });
        }
    }

    fn spawn_child(&mut self, nursery: Option<NurseryId>, request: SpawnRequest) -> ChildId {
        let id = ChildId(self.next_id());
        let uuid = match &request.uuid {
            Some(u) => u.clone(),
            None => self.rng.uuid4(),
        };
        let uid = Uid::new(request.name.clone(), uuid);
        let debug_mode = request.debug_mode.unwrap_or(self.runtime_vars.debug_mode);
        self.actions.push_back(Action::Spawn {
            child: id,
            uid: uid.clone(),
            parent_addr: self.accept_addrs.first().cloned(),
            debug_mode,
        });
        self.children.insert(
            id,
            Child {
                nursery,
                uid,
                request,
                phase: ChildPhase::Starting,
                pid: None,
                channel: None,
                reap: Reap::No,
            },
        );
        id
    }

    /// The child's process runs, as `pid`.
    pub fn handle_spawned(&mut self, child: ChildId, pid: u32) {
        if let Some(c) = self.children.get_mut(&child)
            && c.phase == ChildPhase::Starting
        {
            c.phase = ChildPhase::Booting;
            c.pid = Some(pid);
        }
    }

    /// The child's process could not be started.
    pub fn handle_spawn_failed(&mut self, child: ChildId, reason: String) {
        if let Some(c) = self.children.remove(&child) {
            self.events.push_back(Event::SpawnFailed { child, reason });
            if let Some(n) = c.nursery {
                self.check_nursery(n);
            }
        }
    }

    /// The child's process ended; its state is dropped. It counts as gone
    /// ([`Event::ChildExited`], its nursery done) once every connection to
    /// it has been read to its end: what it sent before it died (a
    /// function's failure, say) still arrives, whichever the driver hears
    /// of first, the exit or the connection's end. A connection that does
    /// not end within [`PEER_EXIT_WAIT`](crate::PEER_EXIT_WAIT) of the exit
    /// is closed.
    pub fn handle_process_exited(&mut self, now: Instant, child: ChildId, status: ExitStatus) {
        let Some(c) = self.children.remove(&child) else {
            return;
        };
        self.timers.stop(Timer::Reap(child));
        if let Reap::Cancelling(dialog) = c.reap {
            self.remove_dialog(dialog);
        }
        // Dialogs that lost their channel to it learn how it ended; the
        // channels to it still open (their end not read yet) will say it
        // when they close.
        self.report_lost(child, c.pid, Some(status));
        self.lost_child_exited(&c.uid, c.pid, status);
        let mut open = Vec::new();
        for (&id, ch) in self.channels.iter_mut() {
            if ch
                .peer()
                .is_some_and(|p| p.name == c.uid.name && p.uuid == c.uid.uuid)
            {
                ch.peer_exit = Some((c.pid, status));
                open.push(id);
            }
        }
        let draining = Draining {
            uid: c.uid,
            nursery: c.nursery,
            status,
            channels: open,
        };
        if draining.channels.is_empty() {
            self.child_gone(child, draining);
        } else {
            self.timers
                .set(Timer::Drain(child), now + super::PEER_EXIT_WAIT);
            self.draining.insert(child, draining);
        }
    }

    /// An exited child is gone, everything it sent read.
    fn child_gone(&mut self, child: ChildId, d: Draining) {
        self.events.push_back(Event::ChildExited {
            child,
            uid: d.uid,
            status: d.status,
        });
        if let Some(n) = d.nursery {
            self.check_nursery(n);
        }
    }

    /// `channel` closed: an exited child whose last connection it was is
    /// gone now.
    pub(super) fn on_drained(&mut self, channel: ChannelId) {
        let done: Vec<ChildId> = self
            .draining
            .iter_mut()
            .filter_map(|(&child, d)| {
                d.channels.retain(|c| *c != channel);
                d.channels.is_empty().then_some(child)
            })
            .collect();
        for child in done {
            self.timers.stop(Timer::Drain(child));
            if let Some(d) = self.draining.remove(&child) {
                self.child_gone(child, d);
            }
        }
    }

    /// An exited child's connections did not end: they are closed.
    pub(super) fn on_drain_timeout(&mut self, child: ChildId) {
        let channels = self
            .draining
            .get(&child)
            .map(|d| d.channels.clone())
            .unwrap_or_default();
        for channel in channels {
            self.close_channel(channel, CloseReason::PeerExited);
        }
        // Closing each reported the child gone with the last; a channel
        // already unknown leaves nothing to wait for.
        if let Some(d) = self.draining.remove(&child) {
            self.child_gone(child, d);
        }
    }

    /// A channel finished its handshake with a peer claiming `peer`: if it
    /// is a child we wait for, this is its spawn channel.
    pub(super) fn maybe_child_connected(&mut self, channel: ChannelId, peer: &Uid) {
        let Some((&id, child)) = self
            .children
            .iter_mut()
            .find(|(_, c)| c.uid == *peer && c.channel.is_none() && c.phase != ChildPhase::Running)
        else {
            return;
        };
        child.phase = ChildPhase::Running;
        child.channel = Some(channel);
        let mut vars = self.runtime_vars.clone();
        vars.is_root = false;
        if let Some(debug) = child.request.debug_mode {
            vars.debug_mode = debug;
        }
        let spec = msg::SpawnSpec {
            parent_main_data: child.request.parent_main_data.clone(),
            runtime_vars: Raw::encode(&vars).expect("runtime vars encode"),
            enable_modules: child.request.enable_modules.clone(),
            reg_addrs: self.runtime_vars.registry_addrs.clone(),
            bind_addrs: child.request.bind_addrs.clone(),
        };
        self.send_msg(channel, &Msg::from(spec));
        self.events
            .push_back(Event::ChildConnected { child: id, channel });
    }

    /// The reaping deadlines this actor uses: each step of
    /// `ActorConfig::reap` plus the grace period.
    pub fn reap_timeouts(&self) -> ReapTimeouts {
        let grace = self.cancel_grace();
        ReapTimeouts {
            cancel_ack: self.config.reap.cancel_ack.saturating_add(grace),
            kill_after: self.config.reap.kill_after.saturating_add(grace),
        }
    }

    /// Reaps a child: asks it to cancel, then escalates to SIGTERM and
    /// SIGKILL if it does not go (spec/PROTOCOL.md §8.2). In debug mode SIGTERM
    /// is skipped and SIGKILL waits while the terminal lock is held, so
    /// that no REPL is killed mid-session. Reaping twice does nothing more.
    pub fn cancel_child(&mut self, now: Instant, child: ChildId) {
        let Some(c) = self.children.get(&child) else {
            return;
        };
        if c.reap != Reap::No {
            return;
        }
        let channel = c.channel.filter(|ch| self.peer(*ch).is_some());
        let kind = Kind::Reap { child };
        let asked = channel.and_then(|ch| {
            self.open(
                ch,
                kind,
                "self",
                "cancel",
                Raw::EMPTY_MAP,
                Default::default(),
            )
            .ok()
        });
        match asked {
            Some(id) => self.set_reap(
                child,
                Reap::Cancelling(id),
                now + self.reap_timeouts().cancel_ack,
            ),
            None => self.escalate(now, child),
        }
    }

    /// The child acknowledged `self.cancel`.
    pub(super) fn on_reap_acked(&mut self, now: Instant, dialog: DialogId, child: ChildId) {
        self.remove_dialog(dialog);
        if self
            .children
            .get(&child)
            .is_some_and(|c| c.reap == Reap::Cancelling(dialog))
        {
            self.set_reap(
                child,
                Reap::AwaitExit,
                now + self.reap_timeouts().kill_after,
            );
        }
    }

    /// The reap deadline of a child passed.
    pub(super) fn on_reap_timer(&mut self, now: Instant, child: ChildId) {
        let Some(c) = self.children.get(&child) else {
            return;
        };
        match c.reap {
            Reap::Cancelling(dialog) => {
                self.remove_dialog(dialog);
                self.escalate(now, child);
            }
            Reap::AwaitExit => {
                if self.runtime_vars.debug_mode && self.tty_lock_holder().is_some() {
                    // Someone is in a REPL: look again soon.
                    self.set_reap(
                        child,
                        Reap::AwaitExit,
                        now + self.reap_timeouts().cancel_ack,
                    );
                    return;
                }
                self.signal(child, Signal::Kill);
                self.set_reap(child, Reap::Killed, now + self.reap_timeouts().kill_after);
            }
            Reap::Killed => {
                // The exit report is the driver's to give; ask again.
                self.signal(child, Signal::Kill);
                self.set_reap(child, Reap::Killed, now + self.reap_timeouts().kill_after);
            }
            Reap::No => {}
        }
    }

    /// No acknowledgment: SIGTERM (not in debug mode), then the kill
    /// deadline.
    fn escalate(&mut self, now: Instant, child: ChildId) {
        if !self.runtime_vars.debug_mode {
            self.signal(child, Signal::Terminate);
        }
        self.set_reap(
            child,
            Reap::AwaitExit,
            now + self.reap_timeouts().kill_after,
        );
    }

    fn set_reap(&mut self, child: ChildId, reap: Reap, deadline: Instant) {
        if let Some(c) = self.children.get_mut(&child) {
            c.reap = reap;
            self.timers.set(Timer::Reap(child), deadline);
        }
    }

    fn signal(&mut self, child: ChildId, signal: Signal) {
        if let Some(pid) = self.children.get(&child).and_then(|c| c.pid) {
            self.actions
                .push_back(Action::Signal { child, pid, signal });
        }
    }

    /// The children of this actor, with their uids.
    pub fn children(&self) -> impl Iterator<Item = (ChildId, &Uid)> {
        self.children.iter().map(|(id, c)| (*id, &c.uid))
    }

    /// Every nursery not yet done, with its state (`open`, `closing` or
    /// `cancelled`), in opening order: what task-tree dumps show.
    pub fn nurseries_info(&self) -> Vec<(NurseryId, &'static str)> {
        let mut all: Vec<_> = self
            .nurseries
            .keys()
            .map(|n| (*n, self.nursery_state(*n)))
            .collect();
        all.sort();
        all
    }

    fn nursery_state(&self, n: NurseryId) -> &'static str {
        match self.nurseries.get(&n) {
            Some(n) if n.cancelled => "cancelled",
            Some(n) if n.closing => "closing",
            Some(_) => "open",
            None => "done",
        }
    }

    /// Every child not yet reaped, by nursery then spawn order: what
    /// task-tree dumps show of a live actor.
    pub fn children_info(&self) -> Vec<ChildInfo> {
        let mut all: Vec<_> = self
            .children
            .iter()
            .map(|(id, c)| {
                let state = match (c.reap, c.phase) {
                    (Reap::Cancelling(_), _) => "cancelling",
                    (Reap::AwaitExit, _) => "exiting",
                    (Reap::Killed, _) => "killed",
                    (Reap::No, ChildPhase::Starting) => "starting",
                    (Reap::No, ChildPhase::Booting) => "booting",
                    (Reap::No, ChildPhase::Running) => "running",
                };
                let nursery = c.nursery.map(|n| (n, self.nursery_state(n)));
                ChildInfo {
                    id: *id,
                    uid: c.uid.clone(),
                    pid: c.pid,
                    nursery,
                    state,
                }
            })
            .collect();
        all.sort_by_key(|c| (c.nursery.map(|n| n.0), c.id));
        all
    }

    /// The tree's shared settings as this actor knows them.
    pub fn runtime_vars(&self) -> &RuntimeVars {
        &self.runtime_vars
    }

    /// Sets the tree's shared settings (the root does; a child takes them
    /// from its `SpawnSpec`).
    pub fn set_runtime_vars(&mut self, vars: RuntimeVars) {
        self.runtime_vars = vars;
    }

    /// Connects to the parent at `addr` (a child's first act): after the
    /// handshake the parent's `SpawnSpec` arrives as
    /// [`Event::SpawnSpecReceived`]. If this channel is ever lost, the actor
    /// cancels itself: [`Event::ParentLost`].
    pub fn connect_parent(&mut self, addr: Address) -> ChannelId {
        let id = self.connect(addr);
        self.parent = Some(id);
        self.awaiting_spawn_spec = true;
        id
    }

    /// The first message on the parent channel after the handshake.
    pub(super) fn on_spawn_spec(&mut self, channel: ChannelId, spec: msg::SpawnSpec) {
        self.awaiting_spawn_spec = false;
        // A child serves exactly the namespaces its parent enabled.
        self.config
            .endpoints
            .retain_namespaces(|ns| spec.enable_modules.iter().any(|(m, _)| m == ns));
        match spec.decode_runtime_vars::<RuntimeVars>() {
            Ok(vars) => self.runtime_vars = vars,
            Err(e) => {
                tracing::warn!(target: "tractor::runtime", %channel, error = %e, "parent's runtime vars not understood")
            }
        }
        self.events.push_back(Event::SpawnSpecReceived { spec });
    }

    /// The parent channel closed: nobody is left to report to, so the actor
    /// cancels everything it runs (Python leaves such children orphaned,
    /// spec/PROTOCOL.md §8.4).
    pub(super) fn on_parent_lost(&mut self, channel: ChannelId, reason: CloseReason) {
        self.parent = None;
        let me = self.uid.clone();
        if self.cancelling.is_none() {
            self.cancelling = Some((me.clone(), Vec::new()));
        }
        self.cancel_running(&me, CancelCause::ParentLost);
        self.events.push_back(Event::ParentLost { channel, reason });
    }
}
