//! tractor for Rust: the actor runtime and user API, written once for any
//! async runtime.
//!
//! An *actor* is an OS process with its own async runtime. A root actor
//! spawns children through an [`ActorNursery`], calls their functions
//! through a [`Portal`], opens [`Context`]s and [`MsgStream`]s with them,
//! and never outlives them: a nursery's scope ends only once each child
//! has exited and been reaped. Errors travel up the tree, cancellation
//! down.
//!
//! This crate holds everything above the sans-IO core
//! (`tractor-protocol`) that does not depend on a particular runtime; it
//! talks to the runtime through the small [`Runtime`] trait. Use it
//! through an adapter crate, `tractor-tokio` or `tractor-smol`, which
//! implement that trait and re-export this API; their `prelude`
//! (`use tractor_tokio::prelude::*;`) is this crate's [`prelude`] plus
//! their entry points.
//!
//! The calls that take names or values (spawning, RPC, contexts,
//! discovery) copy the names and encode the values at once, and return an
//! [`ApiFuture`] that borrows only the handle called: such futures can be
//! built in a loop, collected, awaited together, and moved into tasks
//! together with a clone of their handle.
//!
//! # Processes
//!
//! A child is this very program started again with Python's child command
//! line (`-m tractor._child --uid … --parent_addr …`). The entry point
//! ([`open_root_actor`], [`run_daemon`]) recognises it and turns the
//! process into the child: it connects back to its parent, serves the
//! functions its parent enabled, and exits when cancelled or when the
//! parent goes. So call the entry point early in `main`, before work that
//! only the root should do; whatever runs before it runs in every child.
//! A child may also be a Python tractor actor, started with the same
//! command line by its interpreter ([`ActorOptions::python`]).
//!
//! SIGINT and SIGTERM cancel an actor (a root, its whole tree) while it
//! runs, to the end of its teardown; outside that span they have their
//! default action, as in any program: a process that goes on after its
//! root dies by them. A program that handles or ignores one of them itself
//! before its first actor starts keeps that outside actors (on Linux).
//!
//! Decisions where Python's behaviour is a flaw:
//!
//! * A child whose parent disappears cancels itself (and a thread watching
//!   its parent process ends it if its runtime is stalled).
//! * A dialog whose connection drops fails at once instead of hanging.
//! * A cancelled function is dropped at its next await point, the way
//!   tokio aborts a task, unless it asked for graceful cancellation with
//!   [`graceful_cancel`]: then it is told (its [`GracefulCancel`] guard's
//!   `cancelled()` resolves) and has the tree's grace period
//!   ([`Config::cancel_grace`](Config#structfield.cancel_grace), 1 s by
//!   default) to await its cleanup and return; an error it returns then
//!   is what its caller gets, never masked by the cancellation. Every
//!   deadline that waits for a cancellation to be acknowledged is the
//!   grace longer than Python's. A function still runs to its first await
//!   point if it was cancelled before it ever ran, so that an error it
//!   raises at once is what its caller gets.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod auth;
mod cache;
mod cluster;
mod config;
pub mod debug;
mod engine;
mod entry;
mod error;
mod error_types;
mod functions;
mod future;
mod grace;
pub mod guest;
mod handle;
mod kwargs;
pub mod launch;
mod limits;
mod lineage;
mod listen;
pub mod log;
mod nursery;
mod panic;
mod payload;
mod portal;
pub mod prelude;
mod pubsub;
mod reap;
pub mod runtime;
mod serve;
pub mod service;
mod signals;
pub mod stackscope;
mod supervision;
mod task;
mod task_record;
pub mod tls;
pub mod to_guest;
mod trace;
mod transport;

pub use auth::{
    ACCEPT_UNAUTHENTICATED_ENV, INSECURE_BIND_ENV, SECRET_ENV, SECRET_FILE_ENV, TreeSecret,
};
pub use cache::{Cached, ContextCache};
pub use cluster::{ActorCluster, ClusterOptions, gather};
pub use config::Config;
pub use debug::{pause, pause_blocking, pause_shielded, post_mortem};
pub use entry::{is_root_process, open_nursery, open_root_actor, run_daemon};
pub use error::{Error, ErrorKind, Result, StdError};
pub use error_types::{RemoteErrorType, register_error_type, registered_error_type};
pub use functions::Functions;
pub use future::ApiFuture;
pub use grace::{GracefulCancel, graceful_cancel};
pub use handle::{ActorHandle, current_actor};
pub use kwargs::Kwargs;
pub use launch::{CommandPrefix, LaunchError, Launcher};
pub use limits::{
    CANCEL_GRACE_MS_ENV, KEEPALIVE_MS_ENV, MAX_CONNECTIONS_ENV, MAX_DIALOGS_PER_PEER_ENV,
    MAX_FRAME_LEN_ENV, MAX_PENDING_CONNECTIONS_ENV, MAX_QUEUED_BYTES_ENV, MAX_QUEUED_FRAMES_ENV,
    STALL_TIMEOUT_MS_ENV,
};
pub use nursery::{ActorNursery, ActorOptions};
pub use portal::{
    BroadcastReceiver, Context, DEFAULT_BROADCAST_CAPACITY, Items, MsgStream, Portal,
};
pub use pubsub::{DEFAULT_SUBSCRIBER_BACKLOG, Publisher};
pub use runtime::Runtime;
pub use service::{ContextTypes, OpenedContext, Serve, ServedContext, Service, TypedStream};
pub use supervision::{ActorSupervisor, SupervisedActor, SupervisorOptions};
pub use task::JoinHandle;
pub use tls::TlsConfig;
pub use transport::{ADVERTISE_ADDRS_ENV, Transport, runtime_dir};

/// An actor's picture of itself (`self.introspect`), from the core.
pub use tractor_protocol::introspect;
pub use tractor_protocol::{
    AddrParseError, Address, AdvertiseError, AuthError, ContextOptions, DEFAULT_CREDIT_WINDOW,
    DialogError, EndpointSpec, Escalation, ExitStatus, Intensity, Limits, LocalError,
    MADDR_PROTOCOLS, ReapTimeouts, RemoteError, RemoteErrorKind, Restart, RestartStrategy, Role,
    Secret, SecretError, TOO_MANY_DIALOGS, Uid, UsageError, maddr_protocol, parse_endpoints,
    transport_of_maddr_protocol,
};
