//! One actor's protocol state, driven from outside: see [`Actor`].

mod auth;
mod callee;
mod channel;
mod dialog;
mod dialogs;
mod endpoints;
mod error;
#[cfg(any(test, fuzzing))]
pub mod fuzzing;
mod handshake;
mod ids;
mod introspect;
mod limits;
mod lost;
mod opener;
mod output;
mod process;
mod registrar;
mod registration;
mod rng;
mod routes;
mod stream;
mod supervise;
mod timer;
mod tty;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::addr::Address;
use crate::frame::DEFAULT_MAX_FRAME_LEN;
use crate::msg::{Aid, Msg};
use crate::uid::Uid;

pub use auth::{AuthConfig, AuthError, MAX_SECRET_LEN, MIN_SECRET_LEN, Secret, SecretError};
pub use callee::LocalCall;
pub use channel::{ChannelOrigin, CloseReason};
pub use dialog::{
    ContextOptions, DEFAULT_CREDIT_WINDOW, DEFAULT_MSG_BUFFER_SIZE, DialogError, DialogInfo,
    Incoming, OVERRUN_BACKLOG, Role, Violation,
};
pub use endpoints::{Endpoints, LookupError};
pub use error::{
    CONTEXT_CANCELLED, LocalError, MODULE_NOT_EXPOSED, MSG_TYPE_ERROR, PERMISSION_ERROR,
    REMOTE_ACTOR_ERROR, RemoteError, RemoteErrorKind, STREAM_OVERRUN, TaskError, pack_error,
};
pub use ids::{BuildIdHasher, ChannelId, ChildId, DialogId, IdHasher, IdMap, NurseryId, TtyTicket};
pub use limits::{
    DEFAULT_KEEPALIVE, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_DIALOGS_PER_PEER,
    DEFAULT_MAX_PENDING_CONNECTIONS, DEFAULT_MAX_QUEUED_BYTES, DEFAULT_MAX_QUEUED_FRAMES,
    DEFAULT_STALL_TIMEOUT, Keepalive, Limits, MIN_KEEPALIVE, TOO_MANY_DIALOGS,
};
pub use lost::LOST_CHANNELS_KEPT;
pub use opener::{
    ACTOR_CANCEL_TIMEOUT, CONTEXT_CANCEL_TIMEOUT, DEFAULT_CANCEL_GRACE, MAX_CANCEL_GRACE,
};
pub use output::{Action, CancelCause, Event, Output, Transmit, UsageError};
pub use process::{ExitStatus, Signal};
pub use registration::{REGISTER_RETRY_MAX, REGISTER_RETRY_MIN};
pub use supervise::{
    ChildInfo, REAP_CANCEL_TIMEOUT, REAP_KILL_AFTER, ReapTimeouts, RuntimeVars, SpawnRequest,
};

use channel::{Channel, ChannelState, Flight, Handshake};
use dialog::Dialog;
use registrar::Registry;
use registration::Registrations;
use rng::Rng;
use supervise::{Child, Nursery};
use timer::{Timer, TimerTable};
use tty::TtyLock;

/// How long an inbound handshake may take, as in Python (`_server.py`).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the dialogs of a channel to a child that closed from the
/// child's side wait for the child's exit status, which names how its
/// process ended in their [`DialogError::PeerLost`]; a peer that is not a
/// child of this actor fails them at once.
pub const PEER_EXIT_WAIT: Duration = Duration::from_millis(500);

/// Undecodable messages tolerated in a row on one channel before it is
/// closed; Python gives up at the fifth (spec/PROTOCOL.md §1.4).
pub const MAX_BAD_MESSAGES: u32 = 5;

/// Who an actor is and how it behaves.
#[derive(Debug, Clone)]
pub struct ActorConfig {
    /// The actor's name.
    pub name: String,
    /// The actor's uuid; with the name, its uid.
    pub uuid: String,
    /// The OS process id, sent in the handshake.
    pub pid: Option<u32>,
    /// Whether this actor is a registrar: it then serves the registrar
    /// requests of spec/PROTOCOL.md §9.3 and lists itself.
    pub is_registrar: bool,
    /// Whether this actor serves the debugger's terminal lock (the root of
    /// a tree does).
    pub serve_tty_lock: bool,
    /// The functions peers may call.
    pub endpoints: Endpoints,
    /// How long a peer has to send its `Aid` on a new channel. Python waits
    /// forever on connections it opened; we use this for both directions.
    pub handshake_timeout: Duration,
    /// The largest frame body accepted.
    pub max_frame_len: u32,
    /// Seeds the generator of new cids. Drivers pass something random;
    /// simulations a fixed value.
    pub seed: u64,
    /// Offer credit-based flow control to peers (see [`Actor`]); peers
    /// that do not offer it, Python ones included, get Python's
    /// overrun behaviour.
    pub flow_control: bool,
    /// How long this actor gives a child at each step of reaping it,
    /// before the grace period is added (see [`Actor::reap_timeouts`]).
    pub reap: ReapTimeouts,
    /// The handshake's authentication (spec/PROTOCOL.md §3.5); none by
    /// default.
    pub auth: AuthConfig,
    /// What this actor gives its peers: connections, dialogs, queued
    /// output (see [`Limits`]).
    pub limits: Limits,
    /// How long a cancelled function that asked to clean up may still run
    /// once its cancellation reached it: every deadline that waits for a
    /// cancellation's acknowledgment is this much longer than Python's
    /// (see [`Actor::cancel_grace`]). Zero here keeps Python's deadlines;
    /// the Rust driver sets its tree's ([`DEFAULT_CANCEL_GRACE`] unless
    /// configured). At most [`MAX_CANCEL_GRACE`] counts.
    pub cancel_grace: Duration,
}

impl ActorConfig {
    /// A configuration with defaults: not a registrar, nothing exposed.
    pub fn new(name: impl Into<String>, uuid: impl Into<String>) -> Self {
        ActorConfig {
            name: name.into(),
            uuid: uuid.into(),
            pid: None,
            is_registrar: false,
            serve_tty_lock: false,
            endpoints: Endpoints::new(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            seed: 0,
            flow_control: true,
            reap: ReapTimeouts::default(),
            auth: AuthConfig::default(),
            limits: Limits::default(),
            cancel_grace: Duration::ZERO,
        }
    }
}

/// Which side ended a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closer {
    /// This actor closed it (or gave up on it): the driver closes the
    /// connection after what was queued for it.
    Us,
    /// This actor gave up on it, dropping what was queued for it.
    Abort,
    /// The connection ended or could not be made, as the driver saw at
    /// this moment.
    Peer(Instant),
}

/// What the dialogs of a closed channel learn of their peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loss {
    /// Nothing: this actor closed the channel (`TransportClosed`).
    Closed,
    /// The peer is gone and this is all there is to know
    /// (`PeerLost` at once).
    Peer {
        pid: Option<u32>,
        exit: Option<ExitStatus>,
    },
    /// The peer is this child, whose exit is still to be reported
    /// (`PeerLost` once it is, or after [`PEER_EXIT_WAIT`] from `now`).
    Child { child: ChildId, now: Instant },
}

/// One actor's protocol state, driven from outside.
///
/// [`Actor`] holds everything an actor knows about its connections and
/// dialogs, and decides every message it sends. It never touches a socket,
/// a clock or a task: a *driver* (an adapter such as `tractor-tokio`, a test
/// harness, or your own event loop) feeds it what happened and carries out
/// what it asks.
///
/// # The driver's one rule
///
/// **After every input and every operation (every `handle_*` and every
/// `&mut self` method), call [`Actor::poll_output`] until it returns
/// [`Output::Timeout`]; then wait for IO, or for that deadline and call
/// [`Actor::handle_timeout`].**
///
/// Only the calls that can set a deadline take `now`; the others have no
/// use for the time.
///
/// The outputs are:
///
/// * [`Output::Transmit`]: bytes to write to one channel, all frames queued
///   for it coalesced into one buffer (one write per wake-up);
/// * [`Output::Action`]: something to do: connect, close or drop a
///   connection, pause or resume reading from one;
/// * [`Output::Event`]: something the application should know: a channel
///   opened, a peer asks us to run a function, a dialog has input;
/// * [`Output::Timeout`]: the next deadline, after which the driver calls
///   [`Actor::handle_timeout`]; `None` means no deadline.
///
/// Transmits come before actions, so a channel's last frames are written
/// before the [`Action::Close`] that follows them.
///
/// # Connections end once
///
/// Every channel that goes away, whoever ended it and at whatever point
/// (connecting, handshaking, open), yields exactly one [`Action::Close`]
/// (this actor closed it: flush, then close) or [`Action::Abort`] (it
/// ended, failed or was given up on: drop it now); a flush that does not
/// finish in time is cut short by an [`Action::Abort`] after the
/// [`Action::Close`]. A driver that releases the socket and its IO tasks
/// on these, once its flush is done or at once, keeps nothing of a
/// connection past its channel. An inbound connection over the
/// limits gets [`Action::Abort`] straight from [`Actor::handle_accepted`].
///
/// # Backpressure
///
/// The output queued for each connection is bounded (`Limits`): what was
/// transmitted counts until the driver reports it written with
/// [`Actor::handle_written`]. Past the bound the core emits
/// [`Action::PauseReading`]: the driver stops reading that connection (a
/// peer that does not read cannot make us do more work), the core leaves
/// input already read unhandled, and stream sends to that peer wait
/// (`UsageError::NoCredit`, then [`Event::Writable`]). Back at half the
/// bound, [`Action::ResumeReading`]. Output that stays over the bound with
/// nothing written for `Limits::stall_timeout` drops the connection
/// ([`CloseReason::Stalled`]), and so does a close whose flush does not
/// finish in that time.
///
/// # Inputs
///
/// | the driver saw | it calls |
/// |---|---|
/// | a listener accepted a connection | [`Actor::handle_accepted`] |
/// | a connection asked for by [`Action::Connect`] is up / failed | [`Actor::handle_connected`] / [`Actor::handle_connect_failed`] |
/// | a connection it opened on its own is up (no [`Action::Connect`]) | [`Actor::attach_connected`] |
/// | bytes arrived | [`Actor::handle_data`] |
/// | bytes of a transmit were written | [`Actor::handle_written`] |
/// | a connection ended (EOF or error) | [`Actor::handle_closed`] |
/// | the transport refused the peer's credentials, or the peer ours | [`Actor::handle_refused`] |
/// | the deadline from [`Output::Timeout`] passed | [`Actor::handle_timeout`] |
///
/// and the application's operations are methods too: [`Actor::connect`],
/// [`Actor::call`], [`Actor::recv`], [`Actor::accept`], [`Actor::finish`], ….
///
/// # Flow control
///
/// Python tractor has none: a receiver whose buffer (64 messages by
/// default) fills up drops the next item and fails the sender with
/// `StreamOverrun`. We keep that behaviour towards any peer that does not
/// offer better, and between our own actors use credits instead:
///
/// * **Negotiation.** Our `Aid` carries one extra key, `credit_flow: 1`.
///   Python ignores keys it does not know (msgspec's default), so this is
///   safe to send to anyone; Python's `Aid` never has it. A channel uses
///   credits only if both `Aid`s announced them.
/// * **Grants.** The receiving side of a stream grants its buffer size with
///   a [`Credit`](crate::Credit) message right after the `Start` (opener)
///   or `StartAck` (callee) of a context or legacy stream, then grants
///   again as the application takes items with [`Actor::recv`], once half
///   a buffer has been taken.
/// * **Sending.** [`Actor::send`] spends one credit per item and, with none
///   left, refuses with [`UsageError::NoCredit`]; [`Event::Writable`] says
///   when more arrived (once, and only after such a refusal). No item is dropped and no overrun occurs.
///
/// `Credit` is never sent to a peer that did not announce `credit_flow`.
#[derive(Debug)]
pub struct Actor {
    config: ActorConfig,
    uid: Uid,
    rng: Rng,
    next_id: u64,
    /// The last dialog id given out: dialog ids have their own sequence,
    /// so that an id at most this one, and not live, is a dialog that ended.
    last_dialog: u64,
    /// Nonces drawn so far (spec/PROTOCOL.md §3.5).
    nonces: u64,
    channels: IdMap<ChannelId, Channel>,
    dialogs: IdMap<DialogId, Dialog>,
    /// Routing: (peer uid, cid) to dialog (spec/PROTOCOL.md §1.5).
    routes: routes::Routes,
    /// Recently finished dialogs: late messages for them are dropped
    /// quietly instead of reported (spec/PROTOCOL.md §5.3 races).
    finished: VecDeque<(Uid, String)>,
    /// An actor-wide cancel in progress: who asked, and the `CancelAck`s
    /// owed once every function has finished.
    cancelling: Option<(Uid, Vec<(ChannelId, String)>)>,
    registry: Registry,
    /// This actor's own registration with each registrar.
    registrations: Registrations,
    accept_addrs: Vec<Address>,
    tty: TtyLock,
    children: IdMap<ChildId, Child>,
    /// Dialogs whose channel to a child closed from its side, failing
    /// once the child's exit is known (or [`PEER_EXIT_WAIT`] has passed):
    /// each with the channel and how it closed.
    awaiting_exit: IdMap<ChildId, Vec<(DialogId, ChannelId, CloseReason)>>,
    /// Children whose process exited while connections to them were still
    /// open: what they sent before they died is read to its end before
    /// they count as gone.
    draining: IdMap<ChildId, supervise::Draining>,
    /// The channels whose peer went away most recently, newest last (at
    /// most [`LOST_CHANNELS_KEPT`]): a dialog opened on one later fails
    /// naming who was lost, not an anonymous closed channel.
    lost: std::collections::VecDeque<lost::LostPeer>,
    nurseries: IdMap<NurseryId, Nursery>,
    runtime_vars: RuntimeVars,
    /// A child's channel to its parent.
    parent: Option<ChannelId>,
    /// The parent's `SpawnSpec` has not arrived yet.
    awaiting_spawn_spec: bool,
    timers: TimerTable,
    transmits: VecDeque<ChannelId>,
    /// Last bytes of channels that are closing.
    flushes: VecDeque<Transmit>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    /// The latest time an input carried, for deadlines set by operations
    /// that take none.
    clock: Option<Instant>,
    /// Counts since the start, for `self.introspect`.
    counters: crate::introspect::Counters,
    /// `self.dump_tasks` calls waiting for the driver's dump.
    dumps_asked: Vec<(ChannelId, String)>,
    /// Channels closed with [`Action::Close`] whose last bytes are not
    /// all written yet.
    closing: IdMap<ChannelId, Flight>,
    /// Accepted channels open, handshaking or not.
    inbound: usize,
    /// Accepted channels handshaking.
    pending: usize,
    /// Inbound limits being hit.
    refusing: limits::Refusing,
    /// When a broken stream was last logged as a warning, and how many
    /// have been logged at `debug` only since.
    frame_warned: Option<(Instant, u64)>,
}

impl Actor {
    /// A new actor with no channels.
    pub fn new(config: ActorConfig) -> Self {
        let uid = Uid::new(config.name.clone(), config.uuid.clone());
        let rng = Rng::new(config.seed);
        Actor {
            config,
            uid,
            rng,
            next_id: 0,
            last_dialog: 0,
            nonces: 0,
            channels: IdMap::default(),
            dialogs: IdMap::default(),
            routes: routes::Routes::default(),
            finished: VecDeque::new(),
            cancelling: None,
            registry: Registry::default(),
            registrations: Registrations::default(),
            accept_addrs: Vec::new(),
            tty: TtyLock::default(),
            children: IdMap::default(),
            awaiting_exit: IdMap::default(),
            draining: IdMap::default(),
            lost: std::collections::VecDeque::new(),
            nurseries: IdMap::default(),
            runtime_vars: RuntimeVars::default(),
            parent: None,
            awaiting_spawn_spec: false,
            timers: TimerTable::default(),
            transmits: VecDeque::new(),
            flushes: VecDeque::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            clock: None,
            counters: crate::introspect::Counters::default(),
            dumps_asked: Vec::new(),
            closing: IdMap::default(),
            inbound: 0,
            pending: 0,
            refusing: limits::Refusing::default(),
            frame_warned: None,
        }
    }

    /// This actor's uid.
    pub fn uid(&self) -> &Uid {
        &self.uid
    }

    /// This actor's configuration.
    pub fn config(&self) -> &ActorConfig {
        &self.config
    }

    /// The `Aid` this actor sends in handshakes.
    pub fn aid(&self) -> Aid {
        Aid {
            name: self.config.name.clone(),
            uuid: self.config.uuid.clone(),
            pid: self.config.pid,
            // A non-registrar must say `false`: a probe reads nil as "is a
            // registrar" (spec/PROTOCOL.md §2.1).
            is_registrar: Some(self.config.is_registrar),
            is_probe: false,
            credit_flow: self.config.flow_control.then_some(1),
            auth: None,
        }
    }

    /// Makes this actor a registrar, or not: for a root that found no
    /// registrar when it probed. Call it before accepting connections; the
    /// `Aid` sent from then on says so.
    pub fn set_registrar(&mut self, is_registrar: bool) {
        self.config.is_registrar = is_registrar;
    }

    /// Cancels this actor on its own behalf (a signal, a local decision):
    /// every function it runs is sent [`Event::Cancel`], as for a peer's
    /// `self.cancel`, and nothing is acknowledged to anyone.
    pub fn cancel_self(&mut self) {
        let me = self.uid.clone();
        if self.cancelling.is_none() {
            self.cancelling = Some((me.clone(), Vec::new()));
        }
        self.cancel_running(&me, CancelCause::ActorCancel { by: me.clone() });
    }

    /// The peer of an open channel.
    pub fn peer(&self, channel: ChannelId) -> Option<&Aid> {
        self.channels.get(&channel).and_then(Channel::peer)
    }

    /// Whether the peer of an open channel proved the tree's secret in its
    /// handshake (spec/PROTOCOL.md §3.5).
    pub fn peer_authenticated(&self, channel: ChannelId) -> bool {
        self.channels
            .get(&channel)
            .is_some_and(Channel::authenticated)
    }

    /// How many channels and dialogs the actor tracks; zero of each once
    /// everything has closed and ended.
    pub fn live_state(&self) -> (usize, usize) {
        (self.channels.len(), self.dialogs.len())
    }

    /// Every dialog this actor is part of, by cid: what the debugger and
    /// task-tree dumps show of a live actor.
    pub fn dialogs(&self) -> Vec<DialogInfo> {
        let mut all: Vec<_> = self.dialogs.iter().map(|(id, d)| d.info(*id)).collect();
        all.sort_by(|a, b| a.cid.cmp(&b.cid));
        all
    }

    /// One dialog as [`Actor::dialogs`] lists it, if this actor is part of
    /// it: a lookup, not a listing (for log lines about one dialog).
    pub fn dialog_info(&self, id: DialogId) -> Option<DialogInfo> {
        self.dialogs.get(&id).map(|d| d.info(id))
    }

    /// The grace period of a cancelled function
    /// ([`ActorConfig::cancel_grace`], at most [`MAX_CANCEL_GRACE`]).
    pub fn cancel_grace(&self) -> Duration {
        self.config.cancel_grace.min(MAX_CANCEL_GRACE)
    }

    /// How many functions this actor runs for its peers (invoked and not
    /// finished).
    pub fn running_functions(&self) -> usize {
        self.dialogs
            .values()
            .filter(|d| d.role() == Role::Callee && d.is_app())
            .count()
    }

    /// Whether the actor holds nothing that lives on: no channel, dialog,
    /// route, deadline, child, terminal claim or registrar waiter. What it
    /// keeps regardless (its identity, the registrar's table, a bounded
    /// memory of finished dialogs) does not count.
    pub fn is_idle(&self) -> bool {
        self.channels.is_empty()
            && self.dialogs.is_empty()
            && self.routes.is_empty()
            && self.timers.next().is_none()
            && self.children.is_empty()
            && self.awaiting_exit.is_empty()
            && self.draining.is_empty()
            && self.nurseries.is_empty()
            && self.tty.is_idle()
            && self.registry.is_idle()
            && self.transmits.is_empty()
            && self.flushes.is_empty()
            && self.closing.is_empty()
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Tracks a new dialog and routes `(peer, cid)` to it.
    fn add_dialog(&mut self, mut dialog: Dialog) -> DialogId {
        dialog.opened_at = self.clock;
        self.last_dialog += 1;
        let id = DialogId(self.last_dialog);
        self.routes.insert(&dialog.peer, &dialog.cid, id);
        self.dialogs.insert(id, dialog);
        id
    }

    /// Asks every function this actor runs to stop, on behalf of `by`.
    fn cancel_running(&mut self, by: &Uid, cause: CancelCause) {
        let running: Vec<DialogId> = self
            .dialogs
            .iter()
            .filter(|(_, d)| d.role() == Role::Callee && d.is_app() && !d.orphaned)
            .map(|(id, _)| *id)
            .collect();
        for id in running {
            self.request_cancel(id, by.clone(), cause.clone());
        }
    }

    // -----------------------------------------------------------------
    // Outputs

    /// The next thing the driver must do. Call until it returns
    /// [`Output::Timeout`], after every input and operation.
    pub fn poll_output(&mut self) -> Output {
        if let Some(t) = self.flushes.pop_front() {
            return Output::Transmit(t);
        }
        while let Some(id) = self.transmits.pop_front() {
            let Some(ch) = self.channels.get_mut(&id) else {
                continue;
            };
            ch.queued = false;
            if ch.out.is_empty() {
                continue;
            }
            return Output::Transmit(Transmit {
                channel: id,
                data: ch.take_out(),
            });
        }
        if let Some(action) = self.actions.pop_front() {
            return Output::Action(action);
        }
        if let Some(event) = self.events.pop_front() {
            return Output::Event(event);
        }
        Output::Timeout(self.timers.next())
    }

    // -----------------------------------------------------------------
    // Channels

    /// A listener accepted a connection: returns its channel. Without a
    /// secret our `Aid` is sent at once and the peer's awaited; with one,
    /// the connector speaks first (spec/PROTOCOL.md §3.5). A connection
    /// over the limits (`Limits`) gets [`Action::Abort`] at once instead.
    ///
    /// This is the accepting side's counterpart of [`Actor::connect`] then
    /// [`Actor::handle_connected`], or of [`Actor::attach_connected`]: the
    /// two ends of one connection are one of each.
    pub fn handle_accepted(&mut self, now: Instant) -> ChannelId {
        self.clock = Some(now);
        let id = ChannelId(self.next_id());
        if let Some(reason) = self.refuse_inbound() {
            tracing::debug!(target: "tractor::transport", channel = %id, %reason, "connection refused");
            self.actions.push_back(Action::Abort { channel: id });
            return id;
        }
        self.inbound += 1;
        self.pending += 1;
        let ch = Channel::new(
            id,
            ChannelOrigin::Accepted,
            ChannelState::Handshaking(Handshake::Opening),
            self.config.max_frame_len,
        );
        self.channels.insert(id, ch);
        self.start_handshake(now, id);
        id
    }

    /// Opens a channel to `addr`: emits [`Action::Connect`].
    pub fn connect(&mut self, addr: Address) -> ChannelId {
        self.open_outbound(addr, ChannelOrigin::Connected)
    }

    /// Registers a connection this actor opened that is up already (a
    /// custom transport, one end of a socket pair, an inherited file
    /// descriptor): returns its channel, whose handshake starts at once,
    /// as the connecting side's. No [`Action::Connect`] is emitted; the
    /// rest is as [`Actor::connect`] followed by
    /// [`Actor::handle_connected`]: the same handshake, authentication
    /// (spec/PROTOCOL.md §3.5), handshake deadline and bounds (connections
    /// this actor opens are not counted against the inbound limits). The
    /// other end is the peer's [`Actor::handle_accepted`].
    ///
    /// ```
    /// use std::time::Instant;
    /// use tractor_protocol::{Action, Actor, ActorConfig, Event, Output};
    ///
    /// let now = Instant::now();
    /// let mut a = Actor::new(ActorConfig::new("a", "00000000-0000-4000-8000-00000000000a"));
    /// let mut b = Actor::new(ActorConfig::new("b", "00000000-0000-4000-8000-00000000000b"));
    /// // Both ends of one connection that exists already.
    /// let ends = [a.attach_connected(now), b.handle_accepted(now)];
    /// let mut actors = [a, b];
    /// let mut opened = [false, false];
    /// while opened != [true, true] {
    ///     for me in 0..2 {
    ///         loop {
    ///             match actors[me].poll_output() {
    ///                 // Carry the bytes to the other end.
    ///                 Output::Transmit(t) => actors[1 - me].handle_data(now, ends[1 - me], &t.data),
    ///                 Output::Action(Action::Connect { .. }) => unreachable!("already connected"),
    ///                 Output::Event(Event::ChannelOpened { channel, peer }) => {
    ///                     assert_eq!(channel, ends[me]);
    ///                     assert_eq!(peer.name, ["b", "a"][me]);
    ///                     opened[me] = true;
    ///                 }
    ///                 Output::Action(_) | Output::Event(_) => {}
    ///                 Output::Timeout(_) => break,
    ///             }
    ///         }
    ///     }
    /// }
    /// ```
    pub fn attach_connected(&mut self, now: Instant) -> ChannelId {
        self.clock = Some(now);
        let id = ChannelId(self.next_id());
        let ch = Channel::new(
            id,
            ChannelOrigin::Connected,
            ChannelState::Handshaking(Handshake::Opening),
            self.config.max_frame_len,
        );
        self.channels.insert(id, ch);
        self.start_handshake(now, id);
        id
    }

    /// Opens a channel to `addr` only to learn what listens there: the
    /// answer comes as [`Event::ProbeAnswered`], after which the channel
    /// closes (spec/PROTOCOL.md §3.1).
    pub fn probe(&mut self, addr: Address) -> ChannelId {
        self.open_outbound(addr, ChannelOrigin::Probe)
    }

    fn open_outbound(&mut self, addr: Address, origin: ChannelOrigin) -> ChannelId {
        let id = ChannelId(self.next_id());
        let ch = Channel::new(
            id,
            origin,
            ChannelState::Connecting,
            self.config.max_frame_len,
        );
        self.channels.insert(id, ch);
        self.actions
            .push_back(Action::Connect { channel: id, addr });
        id
    }

    /// The connection asked for by [`Action::Connect`] is up.
    pub fn handle_connected(&mut self, now: Instant, channel: ChannelId) {
        self.clock = Some(now);
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        if ch.state != ChannelState::Connecting {
            return;
        }
        ch.state = ChannelState::Handshaking(Handshake::Opening);
        self.start_handshake(now, channel);
    }

    /// The connection asked for by [`Action::Connect`] could not be made.
    pub fn handle_connect_failed(&mut self, now: Instant, channel: ChannelId, reason: String) {
        self.drop_channel(
            channel,
            CloseReason::ConnectFailed(reason),
            Closer::Peer(now),
        );
    }

    /// Bytes arrived on a channel.
    pub fn handle_data(&mut self, now: Instant, channel: ChannelId, data: &[u8]) {
        self.clock = Some(now);
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        ch.feed(data);
        self.process_input(now, channel);
    }

    /// Handles the messages read from `channel`, until its input is
    /// paused (output over the bound): the rest waits for
    /// [`Action::ResumeReading`].
    fn process_input(&mut self, now: Instant, channel: ChannelId) {
        loop {
            let Some(ch) = self.channels.get_mut(&channel) else {
                return;
            };
            if ch.paused {
                return;
            }
            match ch.next_frame() {
                Ok(None) => return,
                Ok(Some(frame)) => match self.take_yield(channel, frame.body) {
                    Ok(()) => {}
                    Err(body) => match Msg::decode(body) {
                        Ok(msg) => {
                            if let Some(ch) = self.channels.get_mut(&channel) {
                                ch.bad_messages = 0;
                            }
                            self.on_msg(now, channel, msg);
                        }
                        Err(e) => self.on_undecodable(channel, e),
                    },
                },
                Err(e) => {
                    self.log_frame_error(now, channel, &e);
                    self.close_channel(channel, CloseReason::Frame(e));
                    return;
                }
            }
        }
    }

    /// A connection ended: the peer closed it or it broke (`error`).
    /// [`Action::Abort`] follows (or the connection was closed already),
    /// to release it.
    pub fn handle_closed(&mut self, now: Instant, channel: ChannelId, error: Option<String>) {
        self.clock = Some(now);
        if self.closing.remove(&channel).is_some() {
            // Its last bytes will not go out.
            self.timers.stop(Timer::Stall(channel));
            self.actions.push_back(Action::Abort { channel });
            return;
        }
        let Some(ch) = self.channels.get(&channel) else {
            return;
        };
        let reason = match (error, ch.partial_frame()) {
            (Some(e), _) => CloseReason::Broken(e),
            // Input left unhandled while paused is not a broken frame.
            (None, Err(_)) if ch.paused => CloseReason::Eof,
            (None, Err(e)) => CloseReason::Frame(e),
            (None, Ok(())) if Self::refused_us(ch) => CloseReason::Auth(AuthError::Refused),
            (None, Ok(())) => CloseReason::Eof,
        };
        self.drop_channel(channel, reason, Closer::Peer(now));
    }

    /// Closes a channel: what was queued for it is still transmitted, then
    /// [`Action::Close`] follows.
    pub fn close(&mut self, now: Instant, channel: ChannelId) {
        self.clock = Some(now);
        self.close_channel(channel, CloseReason::Local);
    }

    fn close_channel(&mut self, channel: ChannelId, reason: CloseReason) {
        self.drop_channel(channel, reason, Closer::Us);
    }

    /// Forgets a channel, failing what depended on it.
    fn drop_channel(&mut self, channel: ChannelId, reason: CloseReason, closer: Closer) {
        let Some(mut ch) = self.channels.remove(&channel) else {
            return;
        };
        self.timers.stop(Timer::Handshake(channel));
        self.timers.stop(Timer::Stall(channel));
        self.inbound_done(ch.origin, &ch.state, true);
        self.registry.drop_waiters(channel);
        for uid in self.registry.drop_linked(channel) {
            tracing::debug!(target: "tractor::runtime", %uid, "unregistered: its registration's connection closed");
            self.events.push_back(Event::RegistryChanged);
        }
        self.on_registrar_channel_closed(channel, &reason);
        if closer == Closer::Us && ch.is_connected() {
            // What is queued still goes out, before the close, within the
            // stall timeout.
            if !ch.out.is_empty() {
                let data = ch.take_out();
                self.flushes.push_back(Transmit { channel, data });
            }
            if !ch.flight.is_empty() {
                if let Some(now) = self.clock {
                    let stall = self.config.limits.stall_timeout;
                    self.timers.set(Timer::Stall(channel), now + stall);
                }
                self.closing.insert(channel, std::mem::take(&mut ch.flight));
            }
            self.actions.push_back(Action::Close { channel });
        } else {
            // The connection ended, failed, is not up yet, or is given up
            // on: whatever it was, it goes now.
            self.actions.push_back(Action::Abort { channel });
        }
        let was_open = ch.peer().is_some();
        let peer = ch.peer().map(Aid::uid);
        if let (Closer::Peer(_), Some(aid)) = (closer, ch.peer()) {
            self.remember_lost(channel, aid, ch.peer_exit, &reason);
        }
        let dialogs: Vec<DialogId> = self
            .dialogs
            .iter()
            .filter(|(_, d)| d.channel == channel)
            .map(|(id, _)| *id)
            .collect();
        let loss = if dialogs.is_empty() {
            Loss::Closed
        } else {
            self.loss(&ch, closer)
        };
        for id in dialogs {
            self.on_channel_lost(id, channel, &reason, &loss);
        }
        for child in self.children.values_mut() {
            if child.channel == Some(channel) {
                child.channel = None;
            }
        }
        if self.parent == Some(channel) {
            self.on_parent_lost(channel, reason.clone());
        }
        self.on_drained(channel);
        // The application hears of channels it saw open or asked for; an
        // inbound connection that never finished its handshake is only
        // logged, and an answered probe has said all it had to.
        let asked_for = ch.origin != ChannelOrigin::Accepted;
        if (was_open || asked_for) && reason != CloseReason::Probe {
            self.events.push_back(Event::ChannelClosed {
                channel,
                peer,
                reason,
            });
        } else {
            tracing::debug!(target: "tractor::runtime", %channel, %reason, "channel closed");
        }
    }

    /// What the dialogs of a channel that closed learn of their peer.
    fn loss(&self, ch: &Channel, closer: Closer) -> Loss {
        let (Closer::Peer(now), Some(aid)) = (closer, ch.peer()) else {
            return Loss::Closed;
        };
        if let Some((pid, exit)) = ch.peer_exit {
            return Loss::Peer {
                pid,
                exit: Some(exit),
            };
        }
        let uid = aid.uid();
        match self.children.iter().find(|(_, c)| c.uid == uid) {
            Some((&child, _)) => Loss::Child { child, now },
            None => Loss::Peer {
                pid: aid.pid,
                exit: None,
            },
        }
    }

    fn queue_transmit(&mut self, channel: ChannelId) {
        if let Some(ch) = self.channels.get_mut(&channel)
            && ch.is_connected()
            && !ch.queued
            && !ch.out.is_empty()
        {
            ch.queued = true;
            self.transmits.push_back(channel);
        }
    }

    fn send_msg(&mut self, channel: ChannelId, msg: &Msg) {
        if let Some(ch) = self.channels.get_mut(&channel) {
            tracing::trace!(target: "tractor::transport", %channel, %msg, "send");
            ch.write(msg);
            self.queue_transmit(channel);
            let _ = self.update_flow(channel);
        }
    }

    /// A deadline passed. Call when the time from [`Output::Timeout`] is
    /// reached (calling early or late is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.clock = Some(now);
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::Handshake(channel) => {
                    let timeout = self.config.handshake_timeout;
                    self.close_channel(channel, CloseReason::HandshakeTimeout(timeout));
                }
                Timer::CancelAck(dialog) => self.on_cancel_timeout(dialog),
                Timer::Reap(child) => self.on_reap_timer(now, child),
                Timer::PeerExit(child) => {
                    let pid = self.children.get(&child).and_then(|c| c.pid);
                    self.report_lost(child, pid, None);
                }
                Timer::Register(i) => self.on_register_timer(now, i),
                Timer::Drain(child) => self.on_drain_timeout(child),
                Timer::Stall(channel) => self.on_stall_timer(channel),
            }
        }
    }

    fn on_msg(&mut self, now: Instant, channel: ChannelId, msg: Msg) {
        tracing::trace!(target: "tractor::transport", %channel, %msg, "recv");
        let Some(ch) = self.channels.get(&channel) else {
            return;
        };
        let peer = match &ch.state {
            ChannelState::Open { peer, .. } => peer,
            ChannelState::Connecting => return,
            ChannelState::Handshaking(state) => {
                let state = state.clone();
                let Msg::Aid(aid) = msg else {
                    self.invalid_handshake(
                        channel,
                        format!("expected Aid, got {}", msg.msg_type()),
                    );
                    return;
                };
                self.on_handshake_msg(channel, state, *aid);
                return;
            }
        };
        if self.parent == Some(channel) && self.awaiting_spawn_spec {
            match msg {
                Msg::SpawnSpec(spec) => self.on_spawn_spec(channel, *spec),
                other => {
                    let what = format!(
                        "expected SpawnSpec from the parent, got {}",
                        other.msg_type()
                    );
                    self.close_channel(channel, CloseReason::InvalidHandshake(what));
                }
            }
            return;
        }
        match msg {
            Msg::Start(start) => self.on_start(channel, peer.uid(), *start),
            Msg::Aid(_) | Msg::SpawnSpec(_) => {
                let violation = Violation::OutOfPlace {
                    msg_type: msg.msg_type().as_str(),
                };
                self.events
                    .push_back(Event::Violation { channel, violation });
            }
            other => {
                // Found here, while the peer's `Aid` is at hand: a dialog's
                // message costs no copy of the peer's uid nor of the cid.
                let route = other
                    .cid()
                    .and_then(|cid| self.routes.find(&peer.name, &peer.uuid, cid));
                self.on_dialog_msg(now, channel, route, other)
            }
        }
    }
}
