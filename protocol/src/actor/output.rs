//! What the core asks of its driver and tells its application: the
//! [`Output`]s of [`Actor::poll_output`], with the [`Action`]s a driver
//! carries out and the [`Event`]s an application hears, why a running
//! function is asked to stop ([`CancelCause`]), and the API misuses the core
//! refuses ([`UsageError`]). The core decides these outputs elsewhere; this
//! file only says what each means.

use std::time::Instant;

use bytes::Bytes;

use crate::addr::Address;
use crate::msg::{Aid, FuncType};
use crate::raw::Raw;
use crate::uid::Uid;

#[cfg(doc)]
use super::{Actor, DialogError, PEER_EXIT_WAIT, TaskError};
use super::{
    ChannelId, ChildId, CloseReason, DialogId, ExitStatus, NurseryId, RemoteError, Signal,
    TtyTicket, Violation,
};

/// What the driver must do next; see [`Actor`].
#[derive(Debug)]
#[must_use]
pub enum Output {
    /// Write these bytes to the channel.
    Transmit(Transmit),
    /// Carry out this action.
    Action(Action),
    /// Tell the application.
    Event(Event),
    /// Nothing else to do until this deadline (or any input).
    Timeout(Option<Instant>),
}

/// Bytes for one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to write.
    pub channel: ChannelId,
    /// One or more whole frames.
    pub data: Bytes,
}

/// Something for the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a connection to `addr` for `channel`, then call
    /// [`Actor::handle_connected`] or [`Actor::handle_connect_failed`].
    Connect {
        /// The channel the connection is for.
        channel: ChannelId,
        /// Where to connect.
        addr: Address,
    },
    /// Close the connection after writing what was transmitted for it,
    /// reporting the writes with [`Actor::handle_written`]: if they do not
    /// all go out within `Limits::stall_timeout`, [`Action::Abort`]
    /// follows. The channel id is dead from now on.
    Close {
        /// The channel.
        channel: ChannelId,
    },
    /// Drop the connection at once: stop reading and writing, discard what
    /// is not written yet, release the socket (or give up connecting, for
    /// a connection asked for by [`Action::Connect`]). Every channel that
    /// goes away without an [`Action::Close`] gets this, whoever ended it
    /// and at whatever point, so that no connection outlives its channel.
    /// The channel id is dead from now on.
    Abort {
        /// The channel.
        channel: ChannelId,
    },
    /// Read nothing more from the connection until
    /// [`Action::ResumeReading`]: the output queued for the peer is over
    /// the bound (`Limits`). Bytes already read may still be passed in.
    PauseReading {
        /// The channel.
        channel: ChannelId,
    },
    /// Read from the connection again after [`Action::PauseReading`].
    ResumeReading {
        /// The channel.
        channel: ChannelId,
    },
    /// Start a child actor process; then call [`Actor::handle_spawned`]
    /// or [`Actor::handle_spawn_failed`], and [`Actor::handle_process_exited`]
    /// when it ends.
    Spawn {
        /// The child.
        child: ChildId,
        /// Its uid, which it must use in its handshake (a Python child takes
        /// it as `--uid "('name', 'uuid')"`).
        uid: Uid,
        /// Where it connects back to (`--parent_addr`); `None` if this
        /// actor has no accept address yet.
        parent_addr: Option<Address>,
        /// Whether the debugger is on in the child.
        debug_mode: bool,
    },
    /// Send a signal to a child's process.
    Signal {
        /// The child.
        child: ChildId,
        /// Its process id.
        pid: u32,
        /// Which signal.
        signal: Signal,
    },
}

/// Something the application should know.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A channel finished its handshake.
    ChannelOpened {
        /// The channel.
        channel: ChannelId,
        /// Who is on the other end.
        peer: Aid,
    },
    /// A channel closed; its id is dead. Dialogs that ran on it have
    /// failed (openers) or been asked to stop (callees). An opener whose
    /// channel to a child of this actor closed from the child's side gets
    /// its [`DialogError::PeerLost`] once the child's exit is reported, or
    /// [`PEER_EXIT_WAIT`] later.
    ChannelClosed {
        /// The channel.
        channel: ChannelId,
        /// Who was on the other end, if the handshake got that far.
        peer: Option<Uid>,
        /// Why.
        reason: CloseReason,
    },
    /// A probe learned what listens at an address; the channel is closing.
    ProbeAnswered {
        /// The probe's channel.
        channel: ChannelId,
        /// The identity the listener sent.
        peer: Aid,
    },
    /// A peer asks us to run a function. Answer with [`Actor::accept`]
    /// (then [`Actor::finish`]) or [`Actor::reject`].
    Invoke {
        /// The new dialog.
        dialog: DialogId,
        /// Who asked.
        peer: Uid,
        /// The namespace.
        ns: String,
        /// The function.
        func: String,
        /// Its keyword arguments (a map).
        kwargs: Raw,
        /// The kind of endpoint, from the RPC table.
        kind: FuncType,
    },
    /// The dialog has input for [`Actor::recv`]. Emitted once until the
    /// input is taken.
    Readable {
        /// The dialog.
        dialog: DialogId,
    },
    /// [`Actor::send`] on this dialog, refused with
    /// [`UsageError::NoCredit`], can succeed again. A send is refused so
    /// for one of two causes: the peer has granted no credit for another
    /// item (flow control), or the channel's output queue is over the
    /// bound (`Limits`, reading paused). This event comes once the dialog
    /// has credit again and its channel's queue is back under the bound
    /// ([`Action::ResumeReading`]), whichever of the two came last.
    ///
    /// Exactly once per refusal episode (however many sends were refused
    /// meanwhile), and only after a refusal: credit that runs out and is
    /// granted again while nobody sent yields no event. A dialog that
    /// ended meanwhile (forgotten, its outcome taken or its stream closed)
    /// gets none.
    Writable {
        /// The dialog.
        dialog: DialogId,
    },
    /// A function we run should stop. Call [`Actor::finish`] when it has,
    /// with [`TaskError::Cancelled`] if it stopped because of this (its
    /// caller then gets a `ContextCancelled`), or with whatever outcome it
    /// reached first.
    Cancel {
        /// The dialog.
        dialog: DialogId,
        /// Why.
        cause: CancelCause,
    },
    /// A peer asked this whole actor to cancel (`self.cancel`, Python's
    /// `Portal.cancel_actor`). Every function we run has been sent
    /// [`Event::Cancel`]; the `CancelAck` goes out once they have all
    /// finished. The application should wind the actor down.
    ActorCancelRequested {
        /// Who asked.
        by: Uid,
    },
    /// The terminal is ours: one of this actor's own REPLs, queued with
    /// [`Actor::acquire_tty_lock`], may run.
    TtyLockAcquired {
        /// The claim that was granted.
        ticket: TtyTicket,
    },
    /// A child could not be started; it is forgotten.
    SpawnFailed {
        /// The child.
        child: ChildId,
        /// Why.
        reason: String,
    },
    /// A child connected back and was sent its `SpawnSpec`: `channel` is
    /// the way to it (Python's portal to the child).
    ChildConnected {
        /// The child.
        child: ChildId,
        /// Its spawn channel.
        channel: ChannelId,
    },
    /// A child's process ended; it is forgotten.
    ChildExited {
        /// The child.
        child: ChildId,
        /// Its uid.
        uid: Uid,
        /// How it ended.
        status: ExitStatus,
    },
    /// A closed nursery's last child has exited.
    NurseryDone {
        /// The nursery.
        nursery: NurseryId,
    },
    /// The parent sent this actor its boot configuration (in a child, right
    /// after [`Actor::connect_parent`]'s handshake). The runtime vars are
    /// already applied; the application binds its listeners and registers.
    SpawnSpecReceived {
        /// The configuration.
        spec: crate::msg::SpawnSpec,
    },
    /// The channel to the parent closed. Every function this actor runs has
    /// been sent [`Event::Cancel`]; the actor should exit.
    ParentLost {
        /// The parent channel.
        channel: ChannelId,
        /// Why it closed.
        reason: CloseReason,
    },
    /// This actor is a registrar and its table changed (see
    /// [`Actor::registry`]): an actor registered, unregistered, or lost an
    /// address.
    RegistryChanged,
    /// A peer that may ask asked for this actor's
    /// [`Snapshot`](crate::introspect::Snapshot) (`self.introspect`):
    /// answer with [`Actor::answer_introspect`](super::Actor::answer_introspect).
    IntrospectRequested {
        /// Its channel.
        channel: ChannelId,
        /// Who asks.
        peer: Uid,
        /// The call's id, to answer.
        cid: String,
    },
    /// A peer that may ask asked for this actor's task tree
    /// (`self.dump_tasks`) and no dump is in the making: make one, and
    /// answer it with [`Actor::answer_task_dumps`](super::Actor::answer_task_dumps)
    /// (every call that asked meanwhile gets the same).
    TaskDumpRequested,
    /// Every accept address of this actor is registered with `registrar`
    /// (see [`Actor::register`]).
    Registered {
        /// The registrar.
        registrar: Address,
        /// The addresses registered.
        addrs: Vec<Address>,
        /// Whether this is a registration again, after the link was lost.
        again: bool,
    },
    /// An attempt to register with `registrar` failed, or the link with it
    /// dropped (see [`Actor::register`]).
    RegistrarLost {
        /// The registrar.
        registrar: Address,
        /// The attempt's channel, if it had one; it is closed.
        channel: Option<ChannelId>,
        /// What happened.
        reason: String,
        /// Failed attempts in a row, this one included.
        failures: u32,
        /// When the next attempt begins; `None` if there is none (the
        /// actor unregisters or winds down).
        retry_at: Option<Instant>,
    },
    /// A peer sent something the protocol does not allow; it was dropped,
    /// and any dialog it broke has failed.
    Violation {
        /// The channel it came on.
        channel: ChannelId,
        /// What it was.
        violation: Violation,
    },
}

/// Why a running function is asked to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelCause {
    /// The caller cancelled the dialog (`self._cancel_task`, Python's
    /// `Context.cancel`).
    Requested {
        /// Who asked.
        by: Uid,
    },
    /// The whole actor is being cancelled (`self.cancel`).
    ActorCancel {
        /// Who asked.
        by: Uid,
    },
    /// The function cancelled its own dialog ([`Actor::cancel`] on the
    /// callee side).
    SelfCancel,
    /// The caller sent an `Error` into the dialog (Python only ever sends
    /// `StreamOverrun` this way); finishing with [`TaskError::Cancelled`]
    /// relays that error back.
    RemoteError(RemoteError),
    /// The channel to the caller closed: whatever the function does now
    /// goes nowhere.
    ChannelClosed,
    /// This actor lost its parent and cancels itself.
    ParentLost,
}

/// A local misuse of the API: the operation was refused and changed
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// No such dialog (it never existed or has ended; `Actor::recv` reads
    /// an ended one as empty instead).
    #[error("no dialog {0}")]
    UnknownDialog(DialogId),
    /// No such open channel.
    #[error("channel {0} is not open")]
    ChannelNotOpen(ChannelId),
    /// The channel closed because its peer went away: the
    /// `DialogError::PeerLost` a dialog on it would have failed with,
    /// naming the actor and, for a child, how its process ended. Kept for
    /// the most recently lost channels (`LOST_CHANNELS_KEPT`); older ones
    /// are `ChannelNotOpen`.
    #[error("{0}")]
    PeerLost(Box<super::DialogError>),
    /// The item cannot go now: the peer granted no credit for it
    /// (credit-based flow control, in the `Actor` docs) or the channel's
    /// output queue is over the bound (`Limits`). Wait for
    /// `Event::Writable`, which this refusal makes due.
    #[error("{0}: the peer has no room for more items yet")]
    NoCredit(DialogId),
    /// The context's function has ended (returned, failed, or its actor
    /// is gone) while this side waited for room to send: no room will
    /// come. Its outcome is, or will shortly be, there to read
    /// (`Actor::final_error` tells a failure).
    #[error("{0}: the context has ended; its outcome is there to read")]
    Ended(DialogId),
    /// The channel leads back to this very actor: a dialog with oneself is
    /// not possible over the wire.
    #[error("{0} leads back to this actor: a dialog with oneself is an invalid operation")]
    SelfDialog(ChannelId),
    /// The operation needs a dialog over a channel, and the portal leads
    /// to this very actor in process (a local portal, whose calls the core
    /// answers with `Actor::call_local`): a dialog with oneself is not
    /// possible.
    #[error(
        "{0} is not possible through a local portal: a dialog with oneself is an invalid operation"
    )]
    LocalPortal(&'static str),
    /// The operation is only possible in the code of a function served to
    /// a peer (an rpc, context or stream function), and was made outside
    /// one.
    #[error("{0} is only possible in a function served to a peer")]
    NotInServedCall(&'static str),
    /// The nursery was cancelled or closed, or never existed: no more
    /// children go into it.
    #[error("{0} takes no more children")]
    NurseryClosed(NurseryId),
    /// A runtime method the peer does not have, not sent: a Python actor
    /// crashes on a `self` method it lacks (spec/PROTOCOL.md §4.1). Ours
    /// (`self.introspect`, `self.dump_tasks`) go only to a peer whose
    /// `Aid` announced `credit_flow` (one of our actors); the registrar's
    /// not to such a peer (no `credit_flow`) that says it is no
    /// registrar.
    #[error("{peer} does not serve self.{func}: {why}")]
    NotServedByPeer {
        /// The peer.
        peer: Uid,
        /// The method.
        func: String,
        /// Why it is not sent.
        why: &'static str,
    },
    /// Keyword arguments must be a map (Python binds them by name).
    #[error("keyword arguments must be a map, not {0}")]
    KwargsNotAMap(crate::Kind),
    /// The operation does not fit the dialog's role or state. Python
    /// raises `RuntimeError` in the offending task for these (e.g. a
    /// second `started()`).
    #[error("{op} is not possible on {dialog}: {why}")]
    InvalidState {
        /// The operation.
        op: &'static str,
        /// The dialog.
        dialog: DialogId,
        /// What is in the way.
        why: &'static str,
    },
}
