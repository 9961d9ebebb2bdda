//! The little an async runtime must provide: tasks, a clock, sockets,
//! processes and signals.
//!
//! Everything else (the actor core, the wire, supervision, the user API)
//! is written once, in this crate, against [`Runtime`]. An adapter
//! implements it in a few hundred lines; `tractor-tokio` and `tractor-smol`
//! are the two this project ships.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitStatus;
use std::task::{Context, Poll};
use std::time::Instant;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An async runtime, as the actor runtime needs it.
///
/// Listeners are bound by the caller (so that address choice and stale
/// socket files are handled once, here) and handed over as non-blocking
/// std sockets; connections and processes are the runtime's own.
pub trait Runtime: Send + Sync + 'static {
    /// Runs a task in the background, detached.
    fn spawn(&self, task: BoxFuture<'static, ()>);

    /// Completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()>;

    /// Opens a stream connection.
    fn connect(&self, target: Target) -> BoxFuture<'static, io::Result<Connection>>;

    /// Adopts a bound, non-blocking listener.
    fn listen(&self, listener: StdListener) -> io::Result<Box<dyn Listener>>;

    /// Starts a process.
    fn spawn_process(&self, command: std::process::Command) -> io::Result<Box<dyn Process>>;

    /// Starts receiving a signal; it no longer has its default effect.
    fn signal(&self, signal: SignalKind) -> io::Result<Box<dyn SignalStream>>;
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A TCP endpoint.
    Tcp(SocketAddr),
    /// A Unix-domain socket file.
    Unix(PathBuf),
}

/// A bound, non-blocking listening socket.
#[derive(Debug)]
pub enum StdListener {
    /// TCP.
    Tcp(std::net::TcpListener),
    /// A Unix-domain socket.
    Unix(std::os::unix::net::UnixListener),
}

/// The two halves of a connection, used by two tasks at once.
pub struct Connection {
    /// The receiving half.
    pub reader: Box<dyn ReadHalf>,
    /// The sending half.
    pub writer: Box<dyn WriteHalf>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connection")
    }
}

/// The receiving half of a connection.
pub trait ReadHalf: Send + 'static {
    /// Reads some bytes; `Ok(0)` at the end of the stream.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
}

/// The sending half of a connection.
pub trait WriteHalf: Send + 'static {
    /// Writes some of `buf`.
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;

    /// Flushes and shuts down the sending direction.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// A listening socket.
pub trait Listener: Send + 'static {
    /// Accepts one connection.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Connection>>;
}

/// A started process.
pub trait Process: Send + 'static {
    /// Its process id.
    fn pid(&self) -> u32;

    /// Waits for it to end, and reaps it.
    fn wait(self: Box<Self>) -> BoxFuture<'static, io::Result<ExitStatus>>;
}

/// Deliveries of one signal.
pub trait SignalStream: Send + 'static {
    /// The next delivery; `None` if no more can come.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>>;
}

/// The signals an actor handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalKind {
    /// SIGINT (ctrl-c): the tree is cancelled gracefully.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGUSR1.
    User1,
}
