//! One connection: framing both ways and the handshake (spec/PROTOCOL.md §3.1).
//!
//! ```text
//!            connect()                      handle_accepted()
//!               |                                  |
//!               v                                  |
//!          +------------+  handle_connected()      |
//!          | Connecting |----------------------+   |
//!          +------------+                      v   v
//!               |                      +-------------------+
//!     handle_connect_failed()          |  Handshaking(..)  |  see `Handshake`: without
//!               |                      +-------------------+  a secret our Aid is sent at
//!               |                        |  Aid   |     |     once and the peer's awaited
//!               |           (probe) Aid  |        |     |
//!               |            <-----------+        v     |
//!               |                           +--------+  | anything else, a bad
//!               |                           |  Open  |  | frame, a failed proof,
//!               |                           +--------+  | the deadline
//!               |                               |       |
//!               v          EOF, error, close()  v       v
//!          +---------------------------------------------+
//!          |  Closed: the channel's state is dropped      |
//!          +---------------------------------------------+
//! ```
//!
//! A connection the driver opened on its own enters `Handshaking` at once,
//! as a connector's, through `attach_connected()`.
//!
//! Without a secret both ends send their `Aid` without waiting for the
//! other's, which is what Python does, so either order of arrival works.
//! With one, the handshake first runs the challenge–response of
//! spec/PROTOCOL.md §3.5 and no `Aid` leaves before the peer proved the
//! secret:
//!
//! ```text
//!  connector                                   acceptor
//!  Hello        --- Aid{auth_nonce: Nc} --->   Opening (sends nothing)
//!               <-- Aid{auth_nonce: Na} ---
//!               <-- Aid{auth_proof: Pa} ---    Proof
//!  Proof        --- Aid{auth_proof: Pc} --->
//!  (checks Pa)  --- our Aid --------------->   (checks Pc)
//!  Identity     <-- its Aid ---------------    Identity
//!  Open                                        Open
//!
//!  Pa = HMAC(secret, "acceptor", Na, Nc)   Pc = HMAC(secret, "connector", Na, Nc)
//! ```

use std::collections::VecDeque;

use bytes::BytesMut;

use crate::frame::{FrameDecoder, FrameError};
use crate::msg::{Aid, Msg};

use super::ids::{ChannelId, DialogId};
use super::process::ExitStatus;

/// Who opened the channel, and what for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrigin {
    /// A peer connected to one of our listeners.
    Accepted,
    /// We connected to a peer.
    Connected,
    /// We connected only to learn what listens there (a registrar probe):
    /// our `Aid` says `is_probe`, and the channel closes after the peer's.
    Probe,
}

/// Where the channel is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChannelState {
    /// Waiting for the driver's `handle_connected`.
    Connecting,
    /// The handshake is under way.
    Handshaking(Handshake),
    /// The peer is known; messages flow.
    Open {
        peer: Aid,
        /// The peer proved the tree's secret.
        authenticated: bool,
    },
}

/// The handshake's states, each named by what it awaits
/// (spec/PROTOCOL.md §3.1, §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// Our `Aid` is sent; the peer's is awaited. `authenticated`: the peer
    /// proved the secret first.
    Identity { authenticated: bool },
    /// An acceptor with a secret: nothing sent; the connector speaks first,
    /// with its opening (or, a peer that does not authenticate, its `Aid`).
    Opening,
    /// A connector with a secret: our opening (nonce `ours`) is sent; the
    /// acceptor's is awaited.
    Hello { ours: [u8; 32] },
    /// Both nonces known; the peer's proof is awaited. A connector has sent
    /// its proof; an acceptor has sent only its opening, and proves itself
    /// once the connector's proof is checked.
    Proof {
        acceptor: [u8; 32],
        connector: [u8; 32],
    },
}

/// Why a channel closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed the connection between frames.
    #[error("the peer closed the connection")]
    Eof,
    /// The driver reported the connection broken.
    #[error("the connection broke: {0}")]
    Broken(String),
    /// The connection could not be made.
    #[error("could not connect: {0}")]
    ConnectFailed(String),
    /// This actor closed it.
    #[error("closed by this actor")]
    Local,
    /// The peer's `Aid` did not arrive in time.
    #[error("no handshake from the peer within {0:?}")]
    HandshakeTimeout(std::time::Duration),
    /// The peer's first message was not an `Aid`.
    #[error("invalid actor handshake: {0}")]
    InvalidHandshake(String),
    /// The byte stream could not be split into frames.
    #[error("unreadable stream: {0}")]
    Frame(#[from] FrameError),
    /// The peer kept sending messages that do not decode.
    #[error("{0} undecodable messages in a row")]
    TooManyBadMessages(u32),
    /// The peer only probed us, or we only probed the peer.
    #[error("probe finished")]
    Probe,
    /// The peer, a child of this actor, exited, and the connection's end
    /// did not come within [`PEER_EXIT_WAIT`](crate::PEER_EXIT_WAIT) after
    /// (its socket lives on in another process).
    #[error("the peer's process exited, and the connection did not end with it")]
    PeerExited,
    /// The handshake's authentication failed (spec/PROTOCOL.md §3.5).
    #[error("authentication failed: {0}")]
    Auth(#[from] super::auth::AuthError),
    /// Output queued for the peer stayed over the bound (`Limits`) with
    /// nothing of it written for this long: the peer does not read.
    #[error("the peer read nothing of its queued output for {0:?}")]
    Stalled(std::time::Duration),
    /// This many inbound connections were open already
    /// (`Limits::max_connections`).
    #[error("too many connections (limit {0})")]
    TooManyConnections(usize),
    /// This many inbound connections were still handshaking
    /// (`Limits::max_pending_connections`).
    #[error("too many connections still handshaking (limit {0})")]
    TooManyPending(usize),
}

/// Output handed to the driver in transmits and not yet reported written
/// (`Actor::handle_written`).
#[derive(Debug, Default)]
pub(crate) struct Flight {
    /// Each transmit's unwritten bytes and frames, oldest first.
    parts: VecDeque<(usize, usize)>,
    pub(crate) bytes: usize,
    pub(crate) frames: usize,
}

impl Flight {
    /// A transmit of `bytes` holding `frames` frames left.
    pub(crate) fn push(&mut self, bytes: usize, frames: usize) {
        if bytes > 0 {
            self.parts.push_back((bytes, frames));
            self.bytes += bytes;
            self.frames += frames;
        }
    }

    /// The driver wrote `n` more bytes: the oldest transmits shrink. A
    /// frame counts until the end of its transmit is written.
    pub(crate) fn written(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.parts.front_mut() else {
                return;
            };
            if n >= front.0 {
                n -= front.0;
                self.bytes -= front.0;
                self.frames -= front.1;
                self.parts.pop_front();
            } else {
                front.0 -= n;
                self.bytes -= n;
                n = 0;
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes == 0
    }
}

/// One connection's framing and handshake state.
#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) id: ChannelId,
    pub(crate) origin: ChannelOrigin,
    pub(crate) state: ChannelState,
    decoder: FrameDecoder,
    inbuf: BytesMut,
    /// Frames waiting to be written.
    pub(crate) out: BytesMut,
    /// Whether `id` is in the actor's transmit queue.
    pub(crate) queued: bool,
    /// Undecodable messages received in a row.
    pub(crate) bad_messages: u32,
    /// The peer is a child of this actor whose process has ended already
    /// (its pid, and how): the channel's loss is reported with it.
    pub(crate) peer_exit: Option<(Option<u32>, ExitStatus)>,
    /// Frames in `out`.
    pub(crate) out_frames: usize,
    /// Transmitted and not yet written.
    pub(crate) flight: Flight,
    /// The driver was told to stop reading: the queued output is over the
    /// bound.
    pub(crate) paused: bool,
    /// Dialogs whose `send` was refused, waiting for reading to resume
    /// (the output queue back under the bound) before they can be told
    /// `Writable`.
    pub(crate) blocked_senders: Vec<DialogId>,
    /// Functions this actor runs for the peer on this channel.
    pub(crate) callees: usize,
    /// The per-peer dialog limit was hit and logged.
    pub(crate) dialog_limit_logged: bool,
}

impl Channel {
    pub(crate) fn new(
        id: ChannelId,
        origin: ChannelOrigin,
        state: ChannelState,
        max_frame_len: u32,
    ) -> Self {
        Channel {
            id,
            origin,
            state,
            decoder: FrameDecoder::with_max_frame_len(max_frame_len),
            inbuf: BytesMut::new(),
            out: BytesMut::new(),
            queued: false,
            bad_messages: 0,
            peer_exit: None,
            out_frames: 0,
            flight: Flight::default(),
            paused: false,
            blocked_senders: Vec::new(),
            callees: 0,
            dialog_limit_logged: false,
        }
    }

    /// The peer's identity, once the handshake is done.
    pub(crate) fn peer(&self) -> Option<&Aid> {
        match &self.state {
            ChannelState::Open { peer, .. } => Some(peer),
            _ => None,
        }
    }

    /// Whether the peer proved the tree's secret in the handshake.
    pub(crate) fn authenticated(&self) -> bool {
        matches!(
            self.state,
            ChannelState::Open {
                authenticated: true,
                ..
            }
        )
    }

    /// Whether frames written now can leave: the driver has a connection.
    pub(crate) fn is_connected(&self) -> bool {
        !matches!(self.state, ChannelState::Connecting)
    }

    /// Appends one message to the outgoing bytes.
    pub(crate) fn write(&mut self, msg: &Msg) {
        if let Err(e) = msg.encode_frame(&mut self.out) {
            // The frame was not appended (the encoder leaves `out` as it
            // was on failure).
            // Only an outgoing message the core built wrongly, or a payload
            // over 4 GiB, can get here; drop it rather than poison the stream.
            tracing::error!(target: "tractor::runtime", channel = %self.id, error = %e, "message not sent");
        } else {
            self.out_frames += 1;
        }
    }

    /// Appends a `Yield` of `pld` on dialog `cid` (as [`Channel::write`]
    /// would the message).
    pub(crate) fn write_yield(&mut self, cid: &str, pld: &crate::Raw) {
        if crate::codec::write_yield_frame(&mut self.out, cid, pld) {
            self.out_frames += 1;
        } else {
            tracing::error!(target: "tractor::runtime", channel = %self.id, %cid, "stream item over 4 GiB not sent");
        }
    }

    /// Output queued and not yet written: bytes, frames.
    pub(crate) fn queued(&self) -> (usize, usize) {
        (
            self.out.len() + self.flight.bytes,
            self.out_frames + self.flight.frames,
        )
    }

    /// Takes what is queued in `out` for one transmit, counting it in
    /// flight.
    pub(crate) fn take_out(&mut self) -> bytes::Bytes {
        let data = self.out.split().freeze();
        self.flight.push(data.len(), self.out_frames);
        self.out_frames = 0;
        data
    }

    /// Takes in bytes read from the connection.
    pub(crate) fn feed(&mut self, data: &[u8]) {
        self.inbuf.extend_from_slice(data);
    }

    /// The next complete frame, or why the stream is unusable.
    pub(crate) fn next_frame(&mut self) -> Result<Option<crate::Frame>, FrameError> {
        self.decoder.decode(&mut self.inbuf)
    }

    /// Whether the peer stopped in the middle of a frame.
    pub(crate) fn partial_frame(&self) -> Result<(), FrameError> {
        self.decoder.finish(&self.inbuf)
    }
}
