//! Dialog state: one `cid`, from `Start` to its single outcome.
//!
//! An `asyncfunc` dialog (PROTOCOL.md §4.3, §6), as its opener sees it:
//!
//! ```text
//!   call() --Start--> +----------+ StartAck(asyncfunc) +---------------+
//!                     | AwaitAck |-------------------->| AwaitOutcome  |
//!                     +----------+                     +---------------+
//!                        |  Error, or anything else       | Return | Error
//!                        v                                v        v
//!                     +------------------------------------------------+
//!                     | Done: the outcome is queued for recv(); once    |
//!                     | it is taken, the dialog's state is dropped      |
//!                     +------------------------------------------------+
//! ```
//!
//! and as its callee sees it:
//!
//! ```text
//!   Start --> lookup --(not found)--> Error, no StartAck, no state kept
//!               |
//!               v  Event::Invoke
//!          +---------+  accept() --StartAck-->  +---------+  finish(Ok) --Return-->
//!          | Invoked |                          | Running |  finish(Err) --Error-->  Done
//!          +---------+  reject() --Error-->     +---------+
//!                       Done (no StartAck, as for a lookup failure)
//! ```
//!
//! If the channel a dialog runs on closes, the opener's outcome is a
//! transport-closed error at once, and the callee's task is asked to stop;
//! nothing more is sent for it.

use std::collections::VecDeque;

use crate::msg::FuncType;
use crate::raw::Raw;
use crate::uid::Uid;

use super::channel::CloseReason;
use super::error::RemoteError;
use super::ids::ChannelId;

/// Which end of the dialog this actor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the `Start`.
    Opener,
    /// A peer sent the `Start`; we run the function.
    Callee,
}

/// The opener's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenerPhase {
    /// `Start` sent, waiting for `StartAck`.
    AwaitAck,
    /// Acknowledged; waiting for the outcome.
    AwaitOutcome,
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

/// Something a dialog received, in order, for the application.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The callee's first value (`context` dialogs).
    Started(Raw),
    /// One stream item.
    Yield(Raw),
    /// The peer closed its side of the stream.
    Stop,
    /// The final result. Nothing follows.
    Return(Raw),
    /// The dialog failed. Nothing follows.
    Error(DialogError),
}

impl Incoming {
    /// Whether nothing can follow this.
    pub fn is_final(&self) -> bool {
        matches!(self, Incoming::Return(_) | Incoming::Error(_))
    }
}

/// How a dialog failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// The peer sent an `Error`.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The channel the dialog ran on closed before the outcome arrived.
    #[error("transport closed on {channel} before the dialog ended: {reason}")]
    TransportClosed {
        /// The channel.
        channel: ChannelId,
        /// Why it closed.
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
        /// What the dialog was waiting for.
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
    /// A message that does not decode.
    #[error("undecodable message: {0}")]
    Undecodable(crate::DecodeError),
    /// A message that only makes sense on a new or spawn channel.
    #[error("{msg_type} after the handshake")]
    OutOfPlace {
        /// The message type.
        msg_type: &'static str,
    },
}

/// One dialog's state.
#[derive(Debug)]
pub(crate) struct Dialog {
    pub(crate) cid: String,
    pub(crate) peer: Uid,
    pub(crate) channel: ChannelId,
    pub(crate) kind: FuncType,
    pub(crate) phase: Phase,
    /// Received and not yet taken by the application.
    pub(crate) inbox: VecDeque<Incoming>,
    /// A `Readable` event was emitted and the inbox not drained since.
    pub(crate) notified: bool,
    /// Callee only: the caller is unreachable; whatever the function does
    /// now is dropped.
    pub(crate) orphaned: bool,
}

impl Dialog {
    pub(crate) fn role(&self) -> Role {
        match self.phase {
            Phase::Opener(_) => Role::Opener,
            Phase::Callee(_) => Role::Callee,
        }
    }
}
