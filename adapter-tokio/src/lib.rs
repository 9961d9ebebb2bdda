//! tractor for Rust on [tokio](https://tokio.rs): structured concurrency
//! across processes, wire-compatible with Python's
//! [`tractor`](https://github.com/goodboy/tractor).
//!
//! An *actor* is an OS process running its own async runtime. A root
//! actor spawns children through an actor nursery and waits for them as a
//! task nursery waits for its tasks; it calls them through portals, talks
//! with them through contexts and streams, and never leaves one behind.
//! Errors climb the tree, cancellation goes down it. This crate runs the
//! actors on tokio ([`Tokio`]: its sockets, processes, timers and
//! signals); `tractor-smol` offers the same API on smol, and every
//! protocol decision is taken by the sans-IO core, `tractor-protocol`.
//! `use tractor_tokio::prelude::*;` ([`prelude`]) brings in what a program
//! needs, this crate's entry points included.
//!
//! ```no_run
//! use tractor_tokio::prelude::*;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Square {
//!     x: i64,
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<()> {
//!     // Everything any actor of this program can serve.
//!     let functions = Functions::new()
//!         .rpc("math", "square", |a: Square| async move { Ok(a.x * a.x) });
//!     // In a child process this call becomes the child and never returns.
//!     open_root_actor(Config::new("root", functions), |root| async move {
//!         root.open_nursery(|n| async move {
//!             let portal = n
//!                 .start_actor("squarer", ActorOptions::new().enable_modules(["math"]))
//!                 .await?;
//!             let nine: i64 = portal.run("math", "square", Square { x: 3 }).await?;
//!             assert_eq!(nine, 9);
//!             portal.cancel_actor().await?;
//!             Ok(())
//!         })
//!         .await
//!     })
//!     .await
//! }
//! ```
//!
//! # Children are this program
//!
//! A child actor is this very program, started again with Python's child
//! command line: `-m tractor._child --uid "('squarer', '<uuid>')"
//! --parent_addr "('127.0.0.1', 40123)"`. The entry point
//! ([`open_root_actor`], [`open_nursery`], [`run_daemon`]) recognises it
//! and turns the process into that child: it connects back to its
//! parent, serves the namespaces its parent enabled for it, and exits
//! when cancelled, without ever returning into `main`. So **call the
//! entry point first in `main`**: whatever runs before it (reading
//! arguments, opening files, printing) runs in every child too.
//!
//! [`Functions`] is the catalogue of everything the program's actors can
//! serve, by `(namespace, function)`, handed to the entry point in every
//! process; [`ActorOptions::enable_modules`] chooses which namespaces a
//! child serves. A child may also be another program that reaches a
//! tractor entry point ([`ActorOptions::program`]).
//!
//! # Roots, nurseries, daemons and one-shots
//!
//! * The **root** is the actor of the process nobody spawned.
//!   [`open_root_actor`] runs it around a body that gets its
//!   [`ActorHandle`]; [`open_nursery`] starts one for the span of a
//!   nursery when the process runs none.
//! * A **nursery** ([`ActorNursery`], from [`ActorHandle::open_nursery`])
//!   starts children, and its scope ends only once each has exited and
//!   been reaped. When its body or a child fails, it cancels the other
//!   children and fails with that error (several at once come out
//!   together, [`ErrorKind::Group`]).
//! * A **daemon** ([`ActorNursery::start_actor`], many at once with
//!   [`ActorNursery::start_actors`]) serves calls until cancelled. The
//!   nursery waits for it: end it with [`Portal::cancel_actor`] or
//!   [`ActorNursery::cancel`].
//! * A **one-shot** ([`ActorNursery::run_in_actor`]) runs one function
//!   and exits; [`Portal::wait_for_result`] reads its result, and the
//!   nursery's end waits for it.
//!
//! Each child comes with a [`Portal`]: [`Portal::run`] calls one of its
//! functions, [`Portal::open_context`] opens a context with it.
//!
//! ```no_run
//! use tractor_tokio::prelude::*;
//!
//! async fn one_shot(root: ActorHandle) -> Result<String> {
//!     root.open_nursery(|n| async move {
//!         // Runs `greeter:hello(who="root")` in a new child, which then exits.
//!         #[derive(serde::Serialize)]
//!         struct Hello {
//!             who: &'static str,
//!         }
//!         let hello = Hello { who: "root" };
//!         let opts = ActorOptions::new();
//!         let child = n.run_in_actor("greeter", "greeter", "hello", hello, opts).await?;
//!         child.wait_for_result().await
//!     })
//!     .await
//! }
//! ```
//!
//! # Contexts and streams
//!
//! A context is a pair of tasks, one in each actor. The serving side is a
//! function added with [`Functions::context`]: it gets a [`Context`],
//! sends a first value with [`Context::started`], may open a two-way
//! [`MsgStream`] with [`Context::open_stream`], and ends with a result.
//! The calling side opens it with [`Portal::open_context`], which returns
//! once that first value arrives, opens its own end of the stream, and
//! reads the result with [`Context::wait_for_result`].
//!
//! ```no_run
//! use tractor_tokio::prelude::*;
//!
//! fn functions() -> Functions {
//!     // The serving side: `started`, then the stream, then a result.
//!     Functions::new().context("echo", "shout", |ctx: Context, (): ()| async move {
//!         ctx.started("ready").await?;
//!         let stream = ctx.open_stream().await?;
//!         let mut echoed = 0u32;
//!         // Ends when the caller closes its end of the stream.
//!         while let Some(word) = stream.next::<String>().await {
//!             stream.send(&word?.to_uppercase()).await?;
//!             echoed += 1;
//!         }
//!         Ok(echoed)
//!     })
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<()> {
//!     open_root_actor(Config::new("root", functions()), |root| async move {
//!         root.open_nursery(|n| async move {
//!             let opts = ActorOptions::new().enable_modules(["echo"]);
//!             let portal = n.start_actor("echoer", opts).await?;
//!             // The calling side: returns with the value sent by `started`.
//!             let (ctx, first): (Context, String) =
//!                 portal.open_context("echo", "shout", ()).await?;
//!             assert_eq!(first, "ready");
//!             let stream = ctx.open_stream().await?;
//!             for word in ["hello", "tree"] {
//!                 stream.send(word).await?;
//!                 let back: String = stream.receive().await?;
//!                 assert_eq!(back, word.to_uppercase());
//!             }
//!             // Closing our end ends the loop over there, and the function.
//!             stream.close()?;
//!             let echoed: u32 = ctx.wait_for_result().await?;
//!             assert_eq!(echoed, 2);
//!             portal.cancel_actor().await?;
//!             Ok(())
//!         })
//!         .await
//!     })
//!     .await
//! }
//! ```
//!
//! Items and results are any `serde` values; every receiving call names
//! the type it expects. [`MsgStream::subscribe`] fans one stream out to
//! many local tasks; [`Functions::stream`] with
//! [`Portal::open_stream_from`] is the older one-way stream.
//!
//! # Cancellation
//!
//! Cancelling a call, a context or an actor drops the futures running
//! there at their next await point, as tokio's `JoinHandle::abort` does:
//! code after that point never runs, so cleanup belongs in `Drop`, unless
//! the served function asked for graceful cancellation
//! ([`graceful_cancel`]): then it is told, and has the tree's grace period
//! ([`Config::cancel_grace`](Config#structfield.cancel_grace)) to await its
//! cleanup and return, a failure of that cleanup being what its caller
//! gets. The caller gets Python's `ContextCancelled`. A served function always runs
//! to its first await point, even if the cancellation came before it was
//! first polled (as a cancelled trio task runs to its first checkpoint):
//! one that fails before it waits for anything reports its own error, one
//! that returns at once its result. Cancellation goes down the
//! tree: an actor cancels its children before it exits, a child whose
//! parent is gone cancels itself, and dropping a call's future cancels
//! the call in the other actor. SIGINT or SIGTERM to the root cancels the
//! whole tree, and the entry point returns [`ErrorKind::Interrupted`] or
//! [`ErrorKind::Terminated`] once every process is gone.
//!
//! # Errors
//!
//! One type, [`Error`]: cheap to clone, and converted from any
//! `std::error::Error`, so served functions use `?`; [`Error::raise`]
//! makes one under a Python type name, and a panic arrives as `Panic`.
//! An error climbs the tree: the caller gets it, a nursery whose child
//! failed cancels the other children and fails with it, and so on up to
//! the root. [`Error::remote`] gives what came from another actor (a
//! [`RemoteError`]): the actor that raised it
//! ([`RemoteError::src_uid`]), the relay path
//! ([`RemoteError::relay_path`]), its type and its traceback. It prints
//! like Python's, each hop keeping its own message and traceback:
//!
//! ```text
//! RemoteActorError: remote task raised a 'ValueError'
//!  |_src_uid=('leaf', '831e4d25-…')
//!  |_relay_uid=('middle', '37e09c22-…')
//!  |_boxed_type=RemoteActorError
//!  |_message: remote task raised a 'ValueError'
//!  +------ remote traceback (from 'middle') ------
//!  | RemoteActorError: remote task raised a 'ValueError'
//!  |  |_src_uid=('leaf', '831e4d25-…')
//!  |  |_message: the leaf gives up
//!  |  +------ remote traceback (from 'leaf') ------
//!  |  | Traceback (most recent call last):
//!  |  |   File "src/main.rs", line 65
//!  |  |   (set RUST_BACKTRACE=1 for a backtrace)
//!  |  +------
//!  +------
//! ```
//!
//! A traceback says where the error was made; with `RUST_BACKTRACE` set
//! it adds the application's frames of a backtrace. It travels in
//! Python's shape, closed by `Type: message`, so that a Python peer shows
//! it as its own.
//!
//! `Error` is not itself a `std::error::Error` (it converts from every
//! one of them, which rules that out): to hand it to `anyhow` or a
//! `Box<dyn std::error::Error>`, wrap it in [`StdError`] (in the prelude)
//! with `.map_err(StdError)?`; a `Box<dyn Error + Send + Sync>` takes it
//! with a plain `?`.
//!
//! ```no_run
//! use tractor_tokio::prelude::*;
//!
//! #[tokio::main]
//! async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
//!     let config = Config::new("root", Functions::new());
//!     let answer = open_root_actor(config, |_root| async move { Ok(42) })
//!         .await
//!         .map_err(StdError)?;
//!     println!("{answer}");
//!     Ok(())
//! }
//! ```
//!
//! # The registrar and transports
//!
//! Actors find each other by name ([`ActorHandle::find_actor`],
//! [`ActorHandle::wait_for_actor`]) through the registrar, at the
//! addresses of [`Config::registry_addrs`]. Empty (the default) means the
//! transport's default address: TCP `127.0.0.1:1616`, as in Python, or
//! `registry@1616.sock` in the runtime directory ([`runtime_dir`]) with
//! Unix sockets ([`Config::transport`] with [`Transport::Uds`]). A root
//! that finds no registrar there becomes the registrar; others register
//! with it, so programs on one machine find each other. A registrar of
//! the tree's own, on a port the OS picks, keeps trees apart (tests, say):
//!
//! ```
//! use tractor_tokio::prelude::*;
//! use tractor_tokio::Transport;
//!
//! // TCP, a registrar of its own on a free port.
//! let alone = Config::new("root", Functions::new())
//!     .registry_addrs([Address::tcp("127.0.0.1", 0)]);
//! // Unix sockets, the default registrar: `registry@1616.sock`.
//! let local = Config::new("root", Functions::new()).transport(Transport::Uds);
//! # let _ = (alone, local);
//! ```
//!
//! Children inherit the registrar and the transport.
//!
//! # A tree's secret
//!
//! Without configuration, as in Python, whoever reaches an actor's socket
//! may call it. Give the tree a secret ([`Config::secret`], or
//! `TRACTOR_SECRET` / `TRACTOR_SECRET_FILE` in the environment) and every
//! connection proves it before either side says who it is; children get it
//! in their environment, never on their command line, and strangers are
//! refused ([`ErrorKind::Unauthenticated`] on the side that connected).
//! A root or child that would listen on a TCP address that is not
//! loopback without a secret refuses to start ([`ErrorKind::InsecureBind`])
//! unless [`Config::allow_insecure_bind`] (or `TRACTOR_INSECURE_BIND=1`)
//! says so. Only an actor's parent, its children, or a peer that proved the
//! secret may cancel it.
//!
//! ```
//! use tractor_tokio::prelude::*;
//! use tractor_tokio::{Secret, TreeSecret};
//!
//! let secret = Secret::new("a-long-enough-tree-secret").expect("16 bytes or more");
//! let config = Config::new("root", Functions::new()).secret(TreeSecret::Value(secret));
//! // Or one only this root's descendants get:
//! let alone = Config::new("root", Functions::new()).secret(TreeSecret::Generate);
//! # let _ = (config, alone);
//! ```
//!
//! # Logging
//!
//! The runtime logs through `tracing`, under the targets
//! `tractor::transport`, `tractor::runtime`, `tractor::devx`,
//! `tractor::cancel` and `tractor::pdb`. Without a subscriber of your own,
//! [`Config::loglevel`] (passed to every child) or `TRACTOR_LOGLEVEL` in
//! the environment (which wins, in any process where it is set) makes
//! each actor log to stderr, filtered by Python's levels: `info` tells
//! the tree's story (spawns, exits, registrations, cancellations),
//! `cancel` only its cancellations, `runtime` the steps between, `debug`
//! each call, `transport` every message. See [`log`] for all of them.
//!
//! ```text
//! TRACTOR_LOGLEVEL=info cargo run
//! ```
//!
//! # Which tokio runtime
//!
//! An actor's tasks (the connections' readers and writers, its timer,
//! every served function and what it spawns) run on the runtime `main`
//! blocks on, in the root and in every child, which run the same `main`.
//! On the current-thread runtime (`#[tokio::main(flavor =
//! "current_thread")]`, as above) they share the thread that blocks: a
//! message goes from the socket to the function and back without waking
//! another thread, and a round trip takes about half as long as on the
//! multi-threaded runtime. That one (`#[tokio::main]`, with tokio's
//! `rt-multi-thread` feature) works too and spreads the actor's tasks
//! over its workers, for served functions that compute side by side
//! within one actor.
//!
//! On one thread, as in Python tractor, a served function that blocks
//! its thread (a long computation, `std::thread::sleep`, blocking IO)
//! stalls its whole actor, cancellation included, until it returns. Give
//! such work to `tokio::task::spawn_blocking`, or to another actor.
//!
//! # A smol guest
//!
//! With the feature `guest-smol`, an actor given a guest runtime
//! ([`ActorOptions::guest`], [`Config::guest`]) runs smol's executor on a
//! thread beside its own, for code written for smol or async-io; its
//! tasks reach it through [`to_guest`], linked to them (see [`guest`]).
//!
//! # Many calls at once
//!
//! The futures of the API borrow only the handle they were called on, and
//! are `Send`: start many actors at once, and call them from tasks of
//! your own, each owning a clone of a portal.
//!
//! ```no_run
//! use tractor_tokio::prelude::*;
//!
//! async fn fan_out(n: ActorNursery) -> Result<Vec<i64>> {
//!     let opts = ActorOptions::new().enable_modules(["math"]);
//!     let workers = n
//!         .start_actors((0..4).map(|i| (format!("worker-{i}"), opts.clone())))
//!         .await?;
//!     let tasks: Vec<_> = (0..16i64)
//!         .map(|x| {
//!             let worker = workers[x as usize % workers.len()].clone();
//!             tokio::spawn(async move {
//!                 #[derive(serde::Serialize)]
//!                 struct Square {
//!                     x: i64,
//!                 }
//!                 worker.run::<i64>("math", "square", Square { x }).await
//!             })
//!         })
//!         .collect();
//!     let mut squares = Vec::new();
//!     for task in tasks {
//!         squares.push(task.await??);
//!     }
//!     Ok(squares)
//! }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "guest-smol")]
#[path = "guest.rs"]
mod guest_smol;

use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
// The runtime trait's vocabulary: what this crate implements.
use tractor_driver::runtime::*;

pub use tractor_driver::*;

/// The tokio runtime as tractor's [`Runtime`]: tasks go to the current
/// tokio runtime (from a thread outside it, to the one the actor started
/// on).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

/// The runtime of the first task spawned in this process: where tasks
/// spawned from outside any runtime go.
static HOME: std::sync::OnceLock<tokio::runtime::Handle> = std::sync::OnceLock::new();

impl Runtime for Tokio {
    fn name(&self) -> &'static str {
        "tokio"
    }

    fn start_guest(&self) -> io::Result<std::sync::Arc<dyn guest::Guest>> {
        #[cfg(feature = "guest-smol")]
        return guest_smol::start();
        #[cfg(not(feature = "guest-smol"))]
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "tractor-tokio was built without its `guest-smol` feature",
        ))
    }

    fn yield_now(&self) -> BoxFuture<'static, ()> {
        // tokio polls a task that woke itself again at once (its LIFO
        // slot); its own yield waits behind the other ready tasks.
        Box::pin(tokio::task::yield_now())
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        match tokio::runtime::Handle::try_current() {
            Ok(here) => {
                HOME.get_or_init(|| here.clone());
                here.spawn(task);
            }
            Err(_) => match HOME.get() {
                Some(home) => drop(home.spawn(task)),
                None => panic!("tractor-tokio: no tokio runtime to spawn on"),
            },
        }
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    fn connect(&self, target: Target) -> BoxFuture<'static, io::Result<Connection>> {
        Box::pin(async move {
            Ok(match target {
                Target::Tcp(addr) => {
                    let s = tokio::net::TcpStream::connect(addr).await?;
                    s.set_nodelay(true)?;
                    let (r, w) = s.into_split();
                    connection(r, w)
                }
                Target::Unix(path) => {
                    let (r, w) = tokio::net::UnixStream::connect(path).await?.into_split();
                    connection(r, w)
                }
            })
        })
    }

    fn listen(&self, listener: StdListener) -> io::Result<Box<dyn Listener>> {
        Ok(match listener {
            StdListener::Tcp(l) => Box::new(TcpListener(tokio::net::TcpListener::from_std(l)?)),
            StdListener::Unix(l) => Box::new(UnixListener(tokio::net::UnixListener::from_std(l)?)),
        })
    }

    fn spawn_process(
        &self,
        command: std::process::Command,
        stdin: Option<std::process::Stdio>,
    ) -> io::Result<Box<dyn Process>> {
        let mut command = tokio::process::Command::from(command);
        if let Some(stdin) = stdin {
            command.stdin(stdin);
        }
        let child = command.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("the child has no pid"))?;
        Ok(Box::new(Child { child, pid }))
    }

    fn signal(&self, signal: SignalKind) -> io::Result<Box<dyn SignalStream>> {
        use tokio::signal::unix::SignalKind as K;
        let kind = match signal {
            SignalKind::Interrupt => K::interrupt(),
            SignalKind::Terminate => K::terminate(),
            SignalKind::User1 => K::user_defined1(),
        };
        Ok(Box::new(Signal(tokio::signal::unix::signal(kind)?)))
    }
}

entry_points!(Tokio);

/// The TCP socket under a read half, if it is one (for the driver's
/// keepalive).
trait TcpOf {
    fn tcp(&self) -> Option<std::os::fd::BorrowedFd<'_>>;
}

impl TcpOf for tokio::net::tcp::OwnedReadHalf {
    fn tcp(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        let stream: &tokio::net::TcpStream = self.as_ref();
        Some(stream.as_fd())
    }
}

impl TcpOf for tokio::net::unix::OwnedReadHalf {
    fn tcp(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }
}

fn connection<R, W>(r: R, w: W) -> Connection
where
    R: AsyncRead + TcpOf + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    Connection {
        reader: Box::new(Reader(r)),
        writer: Box::new(Writer(w)),
    }
}

struct Reader<R>(R);

impl<R: AsyncRead + TcpOf + Unpin + Send + 'static> ReadHalf for Reader<R> {
    fn tcp_socket(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.0.tcp()
    }

    fn poll_read(
        &mut self,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut self.0).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

struct Writer<W>(W);

impl<W: AsyncWrite + Unpin + Send + 'static> WriteHalf for Writer<W> {
    fn poll_write(
        &mut self,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_shutdown(&mut self, cx: &mut std::task::Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

struct TcpListener(tokio::net::TcpListener);

impl Listener for TcpListener {
    fn poll_accept(&mut self, cx: &mut std::task::Context<'_>) -> Poll<io::Result<Connection>> {
        self.0.poll_accept(cx).map(|r| {
            r.and_then(|(s, _)| {
                s.set_nodelay(true)?;
                let (r, w) = s.into_split();
                Ok(connection(r, w))
            })
        })
    }
}

struct UnixListener(tokio::net::UnixListener);

impl Listener for UnixListener {
    fn poll_accept(&mut self, cx: &mut std::task::Context<'_>) -> Poll<io::Result<Connection>> {
        self.0.poll_accept(cx).map(|r| {
            r.map(|(s, _)| {
                let (r, w) = s.into_split();
                connection(r, w)
            })
        })
    }
}

struct Child {
    child: tokio::process::Child,
    pid: u32,
}

impl Process for Child {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn wait(self: Box<Self>) -> BoxFuture<'static, io::Result<std::process::ExitStatus>> {
        let mut child = self.child;
        Box::pin(async move { child.wait().await })
    }
}

struct Signal(tokio::signal::unix::Signal);

impl SignalStream for Signal {
    fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<()>> {
        self.0.poll_recv(cx)
    }
}
