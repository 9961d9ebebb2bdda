//! The sans-IO core of tractor for Rust.
//!
//! tractor runs actors as OS processes that talk over TCP or Unix sockets.
//! This crate holds everything about that conversation that does not need
//! a socket, a process, a clock or an async runtime, so that the tokio and
//! smol adapters (and anyone embedding tractor in their own transport)
//! behave identically.
//!
//! It is wire-compatible with Python's `tractor`: the frames it writes are
//! byte for byte the ones a Python actor writes, and it reads anything a
//! Python actor sends.
//!
//! # The wire layer
//!
//! * [`Msg`] and its variants: every message of the protocol, from the
//!   [`Aid`] handshake to the boxed remote [`Error`].
//! * [`Raw`]: a payload kept undecoded until the receiving dialog reads it
//!   as any `serde::Deserialize` type; any `serde::Serialize` value can be
//!   written into one.
//! * [`FrameDecoder`] and [`Msg::encode_frame`]: length-prefixed framing,
//!   incremental on the way in, batched on the way out.
//! * [`LockStatus`] and [`LockRelease`]: the debugger's TTY-lock payloads.
//!
//! ```
//! use bytes::BytesMut;
//! use tractor_protocol::{FrameDecoder, Msg, Raw, Yield};
//!
//! // Encode two stream items into one buffer, as one write would send them.
//! let mut wire = BytesMut::new();
//! for item in [1u32, 2] {
//!     Msg::from(Yield::new("cid-1", Raw::encode(&item)?)).encode_frame(&mut wire)?;
//! }
//!
//! // The receiving side splits the bytes back into messages.
//! let mut decoder = FrameDecoder::new();
//! let mut got = Vec::new();
//! while let Some(frame) = decoder.decode(&mut wire)? {
//!     if let Msg::Yield(y) = frame.msg()? {
//!         got.push(y.decode_pld::<u32>()?);
//!     }
//! }
//! assert_eq!(got, [1, 2]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The actor core
//!
//! [`Actor`] is one actor's protocol state machine: the handshake on every
//! channel, routing by `(peer uid, cid)`, every dialog from `Start` to its
//! one outcome, cancellation, the registrar, the debugger's terminal lock
//! and the supervision of children. It reads no clock and touches no
//! socket; a driver feeds it inputs (`handle_*` calls, with `now` where it may set a deadline) and
//! carries out its outputs. The driver keeps one rule: **after every input
//! or operation, call [`Actor::poll_output`] until it returns
//! [`Output::Timeout`]**, then wait for IO or that deadline. See the
//! [`Actor`] docs for the full table of inputs and outputs.
//!
//! Before its actor exists, a root settles whether it is the registrar or
//! a client of one with [`Election`], which tells the driver when to
//! probe, bind or wait, so that roots started together never fail because
//! another won.
//!
//! Here is a complete driver, with two actors in one process and a `Vec`
//! for a network: the client calls `math:square` on the server.
//!
//! ```
//! use std::time::Instant;
//! use tractor_protocol::{
//!     Action, Actor, ActorConfig, Address, ChannelId, Endpoints, Event, FuncType, Incoming,
//!     Output, Raw,
//! };
//!
//! let now = Instant::now();
//! let mut config = ActorConfig::new("server", "00000000-0000-4000-8000-000000000001");
//! config.endpoints = Endpoints::new().expose("math", "square", FuncType::AsyncFunc);
//! let mut actors = [
//!     Actor::new(ActorConfig::new("client", "00000000-0000-4000-8000-000000000002")),
//!     Actor::new(config),
//! ];
//! // Our "network": each channel's other end, and the bytes in flight.
//! let mut links: Vec<((usize, ChannelId), (usize, ChannelId))> = Vec::new();
//! let mut wire: Vec<(usize, ChannelId, Vec<u8>)> = Vec::new();
//!
//! let channel = actors[0].connect(Address::tcp("127.0.0.1", 1616));
//! let mut call = None;
//! let mut answer = None;
//! while answer.is_none() {
//!     for me in 0..2 {
//!         // The driver's rule: poll until Timeout.
//!         loop {
//!             match actors[me].poll_output() {
//!                 Output::Transmit(t) => {
//!                     let (to, ch) = links.iter().find(|(a, _)| *a == (me, t.channel)).unwrap().1;
//!                     wire.push((to, ch, t.data.to_vec()));
//!                 }
//!                 Output::Action(Action::Connect { channel, .. }) => {
//!                     // "Connect" to the server: it accepts, we are connected.
//!                     let accepted = actors[1].handle_accepted(now);
//!                     links.push(((0, channel), (1, accepted)));
//!                     links.push(((1, accepted), (0, channel)));
//!                     actors[0].handle_connected(now, channel);
//!                 }
//!                 Output::Action(_) => {}
//!                 Output::Event(Event::ChannelOpened { channel, .. }) if me == 0 => {
//!                     let kwargs = Raw::encode(&[("x", 7)].into_iter().collect::<std::collections::BTreeMap<_, _>>())?;
//!                     call = Some(actors[0].call(channel, "math", "square", kwargs)?);
//!                 }
//!                 Output::Event(Event::Invoke { dialog, kwargs, .. }) => {
//!                     // The server's application runs the function.
//!                     #[derive(serde::Deserialize)]
//!                     struct Args { x: i64 }
//!                     let args: Args = kwargs.decode()?;
//!                     actors[1].accept(dialog)?;
//!                     actors[1].finish(dialog, Ok(Raw::encode(&(args.x * args.x))?))?;
//!                 }
//!                 Output::Event(Event::Readable { dialog }) => {
//!                     if let Some(Incoming::Return(v)) = actors[0].recv(dialog)? {
//!                         answer = Some(v.decode::<i64>()?);
//!                     }
//!                 }
//!                 Output::Event(_) => {}
//!                 Output::Timeout(_) => break,
//!             }
//!         }
//!     }
//!     // Deliver what was written.
//!     for (to, ch, bytes) in wire.drain(..) {
//!         actors[to].handle_data(now, ch, &bytes);
//!     }
//! }
//! assert!(call.is_some());
//! assert_eq!(answer, Some(49));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Supervision
//!
//! [`Supervisor`] holds the restart decisions for long-lived children,
//! after Erlang/OTP (one-for-one, rest-for-one, one-for-all; permanent,
//! transient and temporary children; a restart intensity): the driver
//! reports starts and exits and carries out its `Start`/`Stop` actions.
//!
//! # Robustness
//!
//! Bytes from the network never cause a panic or an allocation larger than
//! the frame that carried them. Frames are bounded
//! ([`DEFAULT_MAX_FRAME_LEN`]), refused before their body is buffered, and
//! every malformed message yields a [`DecodeError`] that names the message
//! type, the `cid` when readable, the field, and what was expected.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod actor;
mod addr;
mod bootstrap;
mod child_args;
mod codec;
mod election;
mod error;
mod frame;
pub mod introspect;
mod maddr;
mod msg;
mod msg_type;
mod msgpack;
mod raw;
mod supervisor;
mod text;
mod tty_lock;
mod uid;

pub use actor::{
    ACTOR_CANCEL_TIMEOUT, Action, Actor, ActorConfig, AuthConfig, AuthError, BuildIdHasher,
    CONTEXT_CANCEL_TIMEOUT, CONTEXT_CANCELLED, CancelCause, ChannelId, ChannelOrigin, ChildId,
    ChildInfo, CloseReason, ContextOptions, DEFAULT_CANCEL_GRACE, DEFAULT_CREDIT_WINDOW,
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_KEEPALIVE, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_DIALOGS_PER_PEER, DEFAULT_MAX_PENDING_CONNECTIONS, DEFAULT_MAX_QUEUED_BYTES,
    DEFAULT_MAX_QUEUED_FRAMES, DEFAULT_MSG_BUFFER_SIZE, DEFAULT_STALL_TIMEOUT, DialogError,
    DialogId, DialogInfo, Endpoints, Event, ExitStatus, IdHasher, IdMap, Incoming, Keepalive,
    LOST_CHANNELS_KEPT, Limits, LocalCall, LocalError, LookupError, MAX_BAD_MESSAGES,
    MAX_CANCEL_GRACE, MAX_SECRET_LEN, MIN_KEEPALIVE, MIN_SECRET_LEN, MODULE_NOT_EXPOSED,
    MSG_TYPE_ERROR, NurseryId, OVERRUN_BACKLOG, Output, PEER_EXIT_WAIT, PERMISSION_ERROR,
    REAP_CANCEL_TIMEOUT, REAP_KILL_AFTER, REGISTER_RETRY_MAX, REGISTER_RETRY_MIN,
    REMOTE_ACTOR_ERROR, ReapTimeouts, RemoteError, RemoteErrorKind, Role, RuntimeVars,
    STREAM_OVERRUN, Secret, SecretError, Signal, SpawnRequest, TOO_MANY_DIALOGS, TaskError,
    Transmit, TtyTicket, UsageError, Violation, pack_error,
};
pub use addr::{Address, AdvertiseError, advertised};
pub use bootstrap::{
    BOOTSTRAP_END, BOOTSTRAP_HEADER, BootstrapError, BootstrapReader, BootstrapVar,
    MAX_BOOTSTRAP_LEN, decode_bootstrap, encode_bootstrap,
};
pub use child_args::{BOOTSTRAP_FLAG, CHILD_MARKER, ChildArgs, ChildArgsError, GUEST_FLAG};
pub use election::{ELECTION_PATIENCE, Election, ElectionError, ElectionStep, ProbeAnswer};
pub use maddr::{
    AddrParseError, EndpointSpec, MADDR_PROTOCOLS, maddr_protocol, parse_endpoints,
    transport_of_maddr_protocol,
};

/// Entry points for cargo-fuzz targets (only built under `cfg(fuzzing)`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub use actor::fuzzing;
pub use error::{DecodeError, EncodeError, PayloadEncodeError, PayloadError};
pub use frame::{DEFAULT_MAX_FRAME_LEN, Frame, FrameDecoder, FrameError, HEADER_LEN};
pub use msg::{
    Aid, AuthStep, CancelAck, Credit, DEFAULT_PLD_SPEC, Error, ErrorFields, FuncType, Msg, Return,
    SpawnSpec, Start, StartAck, Started, Stop, Yield,
};
pub use msg_type::MsgType;
pub use msgpack::Kind;
pub use raw::Raw;
pub use supervisor::{
    ChildKey, ChildSpec, ChildState, Escalation, Exit, Intensity, MAX_SUPERVISED_CHILDREN, Restart,
    RestartStrategy, Supervisor, SupervisorAction, SupervisorError, SupervisorState,
};
pub use tty_lock::{LockRelease, LockStatus, TTY_LOCK_FUNC, TTY_LOCK_NS};
pub use uid::Uid;
