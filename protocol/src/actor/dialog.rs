//! Dialog state: one `cid`, from `Start` to its single outcome.
//!
//! The opener (the side that sent `Start`, spec/PROTOCOL.md §5.1):
//!
//! ```text
//!  call() / open_context() / open_stream_from() / cancel_actor()
//!     |
//!     | Start
//!     v
//! +----------+  StartAck(context)  +--------------+  Started
//! | AwaitAck |-------------------->| AwaitStarted |----------+
//! +----------+                     +--------------+          |
//!     |  StartAck(asyncfunc, asyncgen)                        v
//!     +---------------------------------------------->+-----------+ Yield*, Stop
//!                                                      |  Running  |<-----------+
//!                                                      +-----------+------------+
//!   Error at any point, Return (asyncfunc, context),        |
//!   Stop (asyncgen), CancelAck (runtime calls),              |
//!   the channel closing, a cancel deadline                  v
//!  ------------------------------------------------> +-----------+
//!                                                     |   Done    |  the outcome waits in the
//!                                                     +-----------+  inbox; routes are gone
//! ```
//!
//! A `call` dialog is forgotten once its outcome is taken; a context or a
//! stream lives until the application leaves it ([`Actor::leave`]), as
//! Python's `async with` block does.
//!
//! When the channel to a child of this actor closes from the child's side,
//! the dialog is done at once, but its outcome, a
//! [`DialogError::PeerLost`] that says how the child's process ended,
//! waits for the child's exit report (at most [`PEER_EXIT_WAIT`]); what
//! arrived before stays readable meanwhile.
//!
//! [`PEER_EXIT_WAIT`]: super::PEER_EXIT_WAIT
//!
//! The callee (the side that runs the function, §5.2):
//!
//! ```text
//!  Start --lookup fails--> Error (no StartAck), nothing kept
//!    |
//!    v Event::Invoke
//! +---------+ accept(): StartAck  +---------+ started(): Started (context)
//! | Invoked |-------------------->| Running |---- open_stream(), send(): Yield,
//! +---------+                     +---------+     close_stream(): Stop
//!    | reject(): Error               | finish(): [Stop,] Return | Error
//!    v                               v            (asyncgen: Stop | Error)
//!  forgotten                      forgotten, then CancelAck for every
//!                                 `_cancel_task` that waited on it
//! ```
//!
//! [`Actor::leave`]: super::Actor::leave

use std::collections::VecDeque;

use crate::msg::FuncType;
use crate::raw::Raw;
use crate::uid::Uid;

use super::channel::CloseReason;
use super::error::RemoteError;
use super::ids::{ChannelId, DialogId};
use super::process::ExitStatus;

/// Which end of the dialog this actor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the `Start`.
    Opener,
    /// A peer sent the `Start`; we run the function.
    Callee,
}

/// What a dialog is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An application endpoint of this kind.
    Func(FuncType),
    /// Our `self.cancel` request to a peer (Python's `Portal.cancel_actor`).
    CancelActor,
    /// Our `self._cancel_task` request for the context `target`.
    CancelTask { target: Option<DialogId> },
    /// A peer's request for the terminal, served by the core (root only).
    TtyLock,
    /// The supervisor's `self.cancel` to a child it reaps.
    Reap { child: super::ids::ChildId },
    /// Our `self.register_actor` to a registrar (the core keeps this
    /// actor registered).
    Register,
    /// Our `self.unregister_actor` to a registrar.
    Unregister,
}

impl Kind {
    /// The functype the peer must acknowledge.
    pub(crate) fn functype(self) -> FuncType {
        match self {
            Kind::Func(t) => t,
            Kind::CancelActor
            | Kind::CancelTask { .. }
            | Kind::Reap { .. }
            | Kind::Register
            | Kind::Unregister => FuncType::AsyncFunc,
            Kind::TtyLock => FuncType::Context,
        }
    }
}

/// The opener's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenerPhase {
    /// `Start` sent, waiting for `StartAck`.
    AwaitAck,
    /// A context: acknowledged, waiting for `Started`.
    AwaitStarted,
    /// Running: results, stream items, the outcome may come.
    Running,
    /// The outcome is known.
    Done,
}

/// The callee's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CalleePhase {
    /// The application was asked to run the function and has not accepted.
    Invoked,
    /// `StartAck` sent; the function runs.
    Running,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Opener(OpenerPhase),
    Callee(CalleePhase),
}

/// Our own side of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LocalStream {
    /// Not opened (yet).
    Unopened,
    /// Open: we may send `Yield`s.
    Open,
    /// Closed: our `Stop` is sent, or was not needed.
    Closed,
}

/// Options of a context dialog (Python's `open_context` / `open_stream`
/// arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextOptions {
    /// How many received messages may wait for the application before
    /// the peer's stream overruns (Python's `msg_buffer_size`).
    pub msg_buffer_size: usize,
    /// Keep receiving past the buffer instead of failing the peer with
    /// `StreamOverrun`; up to 616 more (`OVERRUN_BACKLOG`), the oldest
    /// dropped beyond that.
    pub allow_overruns: bool,
    /// With a peer that uses credits (our own actors): how many items it
    /// may send ahead of the application, granted again half at a time.
    /// Larger than Python's buffer so that a stream between two of our
    /// actors never waits for a grant while the receiver keeps up.
    pub credit_window: usize,
}

/// The default [`ContextOptions::credit_window`].
pub const DEFAULT_CREDIT_WINDOW: usize = 512;

/// Extra stream items kept when overruns are allowed, as in Python.
pub const OVERRUN_BACKLOG: usize = 616;

/// Python's default `msg_buffer_size`.
pub const DEFAULT_MSG_BUFFER_SIZE: usize = 64;

impl Default for ContextOptions {
    fn default() -> Self {
        ContextOptions {
            msg_buffer_size: DEFAULT_MSG_BUFFER_SIZE,
            allow_overruns: false,
            credit_window: DEFAULT_CREDIT_WINDOW,
        }
    }
}

/// Something a dialog received, in order, for the application.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The callee's first value (`context` dialogs).
    Started(Raw),
    /// One stream item.
    Yield(Raw),
    /// The peer closed its side of the stream. For a legacy `asyncgen`
    /// stream this is the end of the dialog.
    Stop,
    /// The final result. Nothing follows.
    Return(Raw),
    /// The dialog failed. Nothing follows for an opener.
    Error(DialogError),
}

impl Incoming {
    /// Whether nothing can follow this for an opener: a result or an error.
    pub fn is_final(&self) -> bool {
        matches!(self, Incoming::Return(_) | Incoming::Error(_))
    }
}

/// An [`Incoming`] as it waits in a dialog's inbox: its error boxed, so
/// that the stream items queued and taken one by one move as small values.
#[derive(Debug)]
pub(crate) enum Queued {
    Started(Raw),
    Yield(Raw),
    Stop,
    Return(Raw),
    Error(Box<DialogError>),
}

impl Queued {
    /// As [`Incoming::is_final`].
    pub(crate) fn is_final(&self) -> bool {
        matches!(self, Queued::Return(_) | Queued::Error(_))
    }
}

impl From<Incoming> for Queued {
    fn from(i: Incoming) -> Self {
        match i {
            Incoming::Started(v) => Queued::Started(v),
            Incoming::Yield(v) => Queued::Yield(v),
            Incoming::Stop => Queued::Stop,
            Incoming::Return(v) => Queued::Return(v),
            Incoming::Error(e) => Queued::Error(Box::new(e)),
        }
    }
}

impl From<Queued> for Incoming {
    fn from(q: Queued) -> Self {
        match q {
            Queued::Started(v) => Incoming::Started(v),
            Queued::Yield(v) => Incoming::Yield(v),
            Queued::Stop => Incoming::Stop,
            Queued::Return(v) => Incoming::Return(v),
            Queued::Error(e) => Incoming::Error(*e),
        }
    }
}

/// How a dialog failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// The peer sent an `Error`.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// Our own cancel request took effect: the callee answered with the
    /// `ContextCancelled` naming us as canceller (kept in `error`), or
    /// acknowledged the request with no outcome left to send. Python's
    /// opener swallows this (spec/PROTOCOL.md §5.4); it is not a failure of
    /// the callee.
    #[error("cancelled as requested")]
    CancelledAsRequested {
        /// The callee's `ContextCancelled`, if one came.
        error: Option<RemoteError>,
    },
    /// A cancel request was not acknowledged in time.
    #[error("the cancel request was not acknowledged within {after:?}")]
    CancelTimeout {
        /// How long we waited.
        after: std::time::Duration,
    },
    /// The channel the dialog ran on was closed by this actor (or found
    /// unreadable) before the outcome arrived.
    #[error("transport closed on {channel} before the dialog ended: {reason}")]
    TransportClosed {
        /// The channel.
        channel: ChannelId,
        /// Why it closed.
        reason: CloseReason,
    },
    /// The peer went away before the outcome arrived: its end of the
    /// channel closed (its process died, or it hung up).
    ///
    /// When the peer is a child of this actor, the error waits for the
    /// child's process to be reaped, at most 0.5 s (`PEER_EXIT_WAIT`)
    /// after the channel closed, and says how it ended. Any other peer (a
    /// sibling found through the registrar, say) fails the dialog at once,
    /// with the pid its handshake gave.
    ///
    /// `Display` names the actor and, when known, how its process ended:
    ///
    /// ```text
    /// actor 'worker' (uid worker[9b1e2c3d…], pid 1234) died: killed by SIGKILL
    /// actor 'worker' (uid worker[9b1e2c3d…], pid 1234) is gone: the peer closed the connection on ch4
    /// ```
    #[error("{}", peer_lost(.peer, .pid, .exit, .channel, .reason))]
    PeerLost {
        /// Who the peer was.
        peer: Uid,
        /// Its process: a child's as this actor spawned it, another
        /// peer's as its handshake said.
        pid: Option<u32>,
        /// How its process ended: known only for a child of this actor
        /// whose exit was reported in time.
        exit: Option<ExitStatus>,
        /// The channel.
        channel: ChannelId,
        /// How the channel closed.
        reason: CloseReason,
    },
    /// The peer broke the dialog's protocol.
    #[error("protocol violation by {peer}: {violation}")]
    Protocol {
        /// The peer.
        peer: Uid,
        /// What it did.
        violation: Violation,
    },
}

/// [`DialogError::PeerLost`] in words.
fn peer_lost<'a>(
    peer: &'a Uid,
    pid: &'a Option<u32>,
    exit: &'a Option<ExitStatus>,
    channel: &'a ChannelId,
    reason: &'a CloseReason,
) -> impl std::fmt::Display + 'a {
    struct Text<'a>(
        &'a Uid,
        Option<u32>,
        Option<ExitStatus>,
        ChannelId,
        &'a CloseReason,
    );
    impl std::fmt::Display for Text<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let Text(peer, pid, exit, channel, reason) = self;
            write!(f, "actor '{}' (uid {peer}", crate::text::clean(&peer.name))?;
            if let Some(pid) = pid {
                write!(f, ", pid {pid}")?;
            }
            match exit {
                Some(exit) if exit.success() => write!(f, ") exited: {exit}"),
                Some(exit) => write!(f, ") died: {exit}"),
                None => write!(f, ") is gone: {reason} on {channel}"),
            }
        }
    }
    Text(peer, *pid, *exit, *channel, reason)
}

/// A message a peer should not have sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// A message for a dialog that does not exist (never did, or ended).
    #[error("{msg_type} for unknown dialog {cid}")]
    UnknownDialog {
        /// The message type.
        msg_type: &'static str,
        /// Its cid.
        cid: String,
    },
    /// A message the dialog's current state does not allow.
    #[error("unexpected {msg_type} for dialog {cid} while {state}")]
    Unexpected {
        /// The message type.
        msg_type: &'static str,
        /// The dialog.
        cid: String,
        /// What the dialog was doing.
        state: &'static str,
    },
    /// `StartAck` named another kind of endpoint than the one called.
    #[error("dialog {cid} expected a {expected} endpoint, the peer runs a {found}")]
    WrongFuncType {
        /// The dialog.
        cid: String,
        /// The kind that was called.
        expected: FuncType,
        /// The kind the peer acknowledged.
        found: FuncType,
    },
    /// A `Start` reused the cid of a running dialog.
    #[error("Start reuses the cid {cid} of a running dialog")]
    DuplicateCid {
        /// The cid.
        cid: String,
    },
    /// A `Start` claimed another uid than the channel's peer.
    #[error("Start claims uid {claimed} on a channel to {peer}")]
    UidMismatch {
        /// The uid in the `Start`.
        claimed: Uid,
        /// The channel's peer.
        peer: Uid,
    },
    /// A runtime request (`ns="self"`) we do not serve, or with bad
    /// arguments.
    #[error("bad runtime request self.{func}: {why}")]
    BadRuntimeRequest {
        /// The function asked for.
        func: String,
        /// What is wrong.
        why: String,
    },
    /// A message that does not decode.
    #[error("undecodable message: {0}")]
    Undecodable(crate::DecodeError),
    /// A message that only makes sense on a new or spawn channel.
    #[error("{msg_type} after the handshake")]
    OutOfPlace {
        /// The message type.
        msg_type: &'static str,
    },
    /// A runtime request this peer may not make (spec/PROTOCOL.md §3.5):
    /// it was refused with a `PermissionError`.
    #[error("self.{func} refused: {why}")]
    Unauthorized {
        /// The function asked for.
        func: String,
        /// Why the peer may not.
        why: String,
    },
}

/// What a cancel owes or has asked for.
#[derive(Debug, Default)]
pub(crate) struct CancelState {
    /// Who asked for the cancel (first asker wins, as in Python).
    pub(crate) canceller: Option<Uid>,
    /// Opener: we asked the callee to cancel.
    pub(crate) requested: bool,
    /// Callee: `_cancel_task` requests waiting for the function to end, to
    /// be answered with `CancelAck`.
    pub(crate) acks_owed: Vec<(ChannelId, String)>,
    /// Callee: an `Error` the opener sent (only ever `StreamOverrun`),
    /// raised in place of a plain cancellation.
    pub(crate) remote_error: Option<RemoteError>,
}

/// One dialog's state.
#[derive(Debug)]
pub(crate) struct Dialog {
    pub(crate) cid: String,
    pub(crate) peer: Uid,
    pub(crate) channel: ChannelId,
    pub(crate) kind: Kind,
    pub(crate) phase: Phase,
    /// The function's namespace and name, for listings.
    pub(crate) endpoint: Option<(String, String)>,
    /// Received and not yet taken by the application.
    pub(crate) inbox: VecDeque<Queued>,
    /// A `Readable` event was emitted and the inbox not drained since.
    pub(crate) notified: bool,
    /// Callee only: the caller is unreachable; whatever the function does
    /// now is dropped.
    pub(crate) orphaned: bool,
    /// Context: `Started` was sent (callee) or received (opener).
    pub(crate) started: bool,
    pub(crate) local_stream: LocalStream,
    /// The peer sent `Stop`.
    pub(crate) remote_stopped: bool,
    /// The application took the peer's `Stop` from the inbox.
    pub(crate) stop_taken: bool,
    /// The application took the outcome (`Return` or `Error`): the
    /// dialog is over for it, even if not yet left.
    pub(crate) outcome_taken: bool,
    pub(crate) cancel: CancelState,
    /// Opener: the outcome was a `ContextCancelled` sent by the callee
    /// itself; leaving then needs no `_cancel_task` (§5.1).
    pub(crate) callee_cancelled: bool,
    pub(crate) options: ContextOptions,
    /// Items we may still send: `None` when the peer does not use credits.
    pub(crate) credit_out: Option<u32>,
    /// Room we have granted in total, and items taken but not yet granted
    /// back: `None` when the peer does not use credits.
    pub(crate) credit_in: Option<(u32, u32)>,
    /// Stream items that arrived after our side closed its stream, and
    /// were dropped.
    pub(crate) dropped_after_close: u64,
    /// `Actor::send` was refused (no credit, or the channel's output
    /// queue over the bound) and `Event::Writable` is still owed.
    pub(crate) send_refused: bool,
    /// Callee: counted in its channel's `callees` (the per-peer limit).
    pub(crate) counted: bool,
    /// The actor's clock when it was opened (see `Actor::snapshot`).
    pub(crate) opened_at: Option<std::time::Instant>,
    /// Stream items sent and received.
    pub(crate) items_sent: u64,
    pub(crate) items_received: u64,
}

impl Dialog {
    pub(crate) fn new(
        cid: String,
        peer: Uid,
        channel: ChannelId,
        kind: Kind,
        phase: Phase,
    ) -> Self {
        Dialog {
            cid,
            peer,
            channel,
            kind,
            phase,
            endpoint: None,
            inbox: VecDeque::new(),
            notified: false,
            orphaned: false,
            started: false,
            local_stream: LocalStream::Unopened,
            remote_stopped: false,
            stop_taken: false,
            outcome_taken: false,
            cancel: CancelState::default(),
            callee_cancelled: false,
            options: ContextOptions::default(),
            credit_out: None,
            credit_in: None,
            dropped_after_close: 0,
            send_refused: false,
            counted: false,
            opened_at: None,
            items_sent: 0,
            items_received: 0,
        }
    }

    pub(crate) fn role(&self) -> Role {
        match self.phase {
            Phase::Opener(_) => Role::Opener,
            Phase::Callee(_) => Role::Callee,
        }
    }

    /// Whether a `Yield` arriving now is a stream item for this dialog:
    /// a running context or async generator we opened, or a context we
    /// run. The one rule `opener_msg`, `callee_msg` and the short way of
    /// `take_yield` share.
    pub(crate) fn takes_yield(&self) -> bool {
        match self.phase {
            Phase::Opener(OpenerPhase::Running) => {
                matches!(
                    self.kind,
                    Kind::Func(FuncType::Context | FuncType::AsyncGen)
                )
            }
            Phase::Callee(_) => self.kind == Kind::Func(FuncType::Context),
            Phase::Opener(_) => false,
        }
    }

    /// Whether the application holds this dialog (everything but our own
    /// `_cancel_task` requests and the terminal locks the core serves).
    pub(crate) fn is_app(&self) -> bool {
        matches!(self.kind, Kind::Func(_) | Kind::CancelActor)
    }

    /// Received stream items waiting in the inbox.
    pub(crate) fn queued(&self) -> usize {
        self.inbox.len()
    }

    /// What a listing shows of this dialog.
    pub(crate) fn info(&self, id: DialogId) -> DialogInfo {
        let kind = match self.kind {
            Kind::Func(f) => f.to_string(),
            Kind::CancelActor | Kind::Reap { .. } => "cancel-actor".into(),
            Kind::CancelTask { .. } => "cancel-task".into(),
            Kind::TtyLock => "tty-lock".into(),
            Kind::Register => "register".into(),
            Kind::Unregister => "unregister".into(),
        };
        let state = if self.cancel.canceller.is_some() || self.cancel.requested {
            "cancelling"
        } else {
            match self.phase {
                Phase::Opener(OpenerPhase::AwaitAck) => "awaiting ack",
                Phase::Opener(OpenerPhase::AwaitStarted) => "awaiting started",
                Phase::Opener(OpenerPhase::Done) => "done",
                Phase::Callee(CalleePhase::Invoked) => "invoked",
                Phase::Opener(_) | Phase::Callee(_) => match self.local_stream {
                    LocalStream::Open if self.remote_stopped => "draining",
                    LocalStream::Open => "streaming",
                    _ if self.started && self.remote_stopped => "draining",
                    _ => "running",
                },
            }
        };
        DialogInfo {
            id,
            cid: self.cid.clone(),
            peer: self.peer.clone(),
            role: self.role(),
            kind,
            endpoint: self.endpoint.clone(),
            state,
            dropped_after_close: self.dropped_after_close,
        }
    }
}

/// One dialog as [`Actor::dialogs`](super::Actor::dialogs) lists it: for
/// people looking into a live actor (the debugger, task-tree dumps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogInfo {
    /// Its id in this actor.
    pub id: DialogId,
    /// Its id on the wire.
    pub cid: String,
    /// The other actor.
    pub peer: Uid,
    /// Which end we are.
    pub role: Role,
    /// The kind of call (`asyncfunc`, `context`, `cancel-actor`, …).
    pub kind: String,
    /// The function's namespace and name, when known.
    pub endpoint: Option<(String, String)>,
    /// Where it stands: `awaiting ack`, `awaiting started`, `running`,
    /// `streaming`, `draining`, `cancelling`, `done` or `invoked`.
    pub state: &'static str,
    /// Stream items the peer sent after this side had closed its stream
    /// ([`Actor::close_stream`](super::Actor::close_stream)): dropped
    /// unread, as Python drops them.
    pub dropped_after_close: u64,
}

impl std::fmt::Display for DialogInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = match self.role {
            Role::Opener => "->",
            Role::Callee => "<-",
        };
        match &self.endpoint {
            Some((ns, func)) => write!(f, "{ns}:{func}")?,
            None => write!(f, "({})", self.kind)?,
        }
        write!(
            f,
            " {} {side} {} [{}, cid {}",
            self.kind, self.peer, self.state, self.cid
        )?;
        if self.dropped_after_close > 0 {
            write!(f, ", {} dropped after close", self.dropped_after_close)?;
        }
        f.write_str("]")
    }
}
