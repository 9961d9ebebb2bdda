//! tractor for Rust on [smol](https://docs.rs/smol): structured concurrency
//! across processes, wire-compatible with Python's
//! [`tractor`](https://github.com/goodboy/tractor).
//!
//! An *actor* is an OS process running its own async runtime. A root
//! actor spawns children through an actor nursery and waits for them as a
//! task nursery waits for its tasks; it calls them through portals, talks
//! with them through contexts and streams, and never leaves one behind.
//! Errors climb the tree, cancellation goes down it. This crate runs the
//! actors on smol ([`Smol`]: `async-io` sockets and timers,
//! `async-process` children, `async-signal` signals); `tractor-tokio`
//! offers the same API on tokio, a tree may mix actors on either, and
//! every protocol decision is taken by the sans-IO core,
//! `tractor-protocol`. `use tractor_smol::prelude::*;` ([`prelude`])
//! brings in what a program needs, this crate's entry points included.
//!
//! The program blocks on its root with `smol::block_on`, and an actor's
//! tasks (the connections' readers and writers, its timer, every served
//! function and what it spawns through the API) run on that thread, on
//! an executor the entry point drives beside the actor: a message goes
//! from the socket to the function and back without waking another
//! thread. While no actor runs (before the first, after the last), a task
//! on smol's global executor drives that executor instead.
//! As in Python tractor, a served function that blocks its thread (a long
//! computation, `std::thread::sleep`, blocking IO) stalls its whole
//! actor, cancellation included, until it returns: give such work to
//! `smol::unblock`, or to another actor.
//!
//! ```no_run
//! use tractor_smol::prelude::*;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Square {
//!     x: i64,
//! }
//!
//! fn main() -> Result<()> {
//!     // Everything any actor of this program can serve.
//!     let functions = Functions::new()
//!         .rpc("math", "square", |a: Square| async move { Ok(a.x * a.x) });
//!     smol::block_on(async {
//!         // In a child process this call becomes the child and never returns.
//!         open_root_actor(Config::new("root", functions), |root| async move {
//!             root.open_nursery(|n| async move {
//!                 let portal = n
//!                     .start_actor("squarer", ActorOptions::new().enable_modules(["math"]))
//!                     .await?;
//!                 let nine: i64 = portal.run("math", "square", Square { x: 3 }).await?;
//!                 assert_eq!(nine, 9);
//!                 portal.cancel_actor().await?;
//!                 Ok(())
//!             })
//!             .await
//!         })
//!         .await
//!     })
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
//! use tractor_smol::prelude::*;
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
//! use tractor_smol::prelude::*;
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
//! fn main() -> Result<()> {
//!     smol::block_on(open_root_actor(Config::new("root", functions()), |root| async move {
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
//!     }))
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
//! there at their next await point, as dropping a smol `Task` does:
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
//! use tractor_smol::prelude::*;
//!
//! fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
//!     let config = Config::new("root", Functions::new());
//!     let answer = smol::block_on(open_root_actor(config, |_root| async move { Ok(42) }))
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
//! use tractor_smol::prelude::*;
//! use tractor_smol::Transport;
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
//! use tractor_smol::prelude::*;
//! use tractor_smol::{Secret, TreeSecret};
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
//! # A tokio guest
//!
//! With the feature `guest-tokio`, an actor given a guest runtime
//! ([`ActorOptions::guest`], [`Config::guest`]) runs a tokio runtime of
//! one worker beside its own, for tokio-only libraries; its tasks reach
//! it through [`to_guest`], linked to them (see [`guest`]).
//!
//! # Many calls at once
//!
//! The futures of the API borrow only the handle they were called on, and
//! are `Send`: start many actors at once, and call them from tasks of
//! your own, each owning a clone of a portal. `smol::spawn` runs them on
//! smol's global executor, another thread than the actor's;
//! [`ActorHandle::spawn`] keeps them on the actor's own, where a call
//! costs less.
//!
//! ```no_run
//! use tractor_smol::prelude::*;
//!
//! async fn fan_out(n: ActorNursery) -> Result<Vec<i64>> {
//!     let opts = ActorOptions::new().enable_modules(["math"]);
//!     let workers = n
//!         .start_actors((0..4).map(|i| (format!("worker-{i}"), opts.clone())))
//!         .await?;
//!     let tasks: Vec<_> = (0..16i64)
//!         .map(|x| {
//!             let worker = workers[x as usize % workers.len()].clone();
//!             smol::spawn(async move {
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
//!         squares.push(task.await?);
//!     }
//!     Ok(squares)
//! }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

#[cfg(feature = "guest-tokio")]
#[path = "guest.rs"]
mod guest_tokio;

use smol::Async;
use smol::stream::Stream;
// The runtime trait's vocabulary: what this crate implements.
use tractor_driver::runtime::*;

pub use tractor_driver::*;

/// smol as tractor's [`Runtime`]. Its tasks go to an executor of this
/// crate's. While an actor runs, the actor's entry point drives that
/// executor on the thread blocking on it (no hop between threads per
/// message); while none does, a task on smol's global executor drives it,
/// so that a task still running when its actor has ended, or spawned
/// before any actor, goes on. Two roots running at once on two threads
/// of one process share it: a task may then run on either thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

/// The executor of every task spawned through [`Smol`].
static EXECUTOR: smol::Executor<'static> = smol::Executor::new();
/// How many entry points drive [`EXECUTOR`] now.
static DRIVERS: AtomicUsize = AtomicUsize::new(0);
/// Whether a task of smol's global executor drives [`EXECUTOR`] now.
static FALLBACK: AtomicBool = AtomicBool::new(false);
/// The fallback's waker, woken when an entry point starts driving.
static FALLBACK_WAKER: std::sync::Mutex<Option<std::task::Waker>> = std::sync::Mutex::new(None);

/// Counts a driver of [`EXECUTOR`] while it lives.
struct Driving;

impl Driving {
    fn new() -> Self {
        DRIVERS.fetch_add(1, Ordering::SeqCst);
        if let Some(w) = fallback_waker().take() {
            w.wake();
        }
        Driving
    }
}

impl Drop for Driving {
    fn drop(&mut self) {
        if DRIVERS.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The tasks left (a timer woken at the very end, a function
            // outliving its actor) go on without it.
            ensure_driven();
        }
    }
}

fn fallback_waker() -> std::sync::MutexGuard<'static, Option<std::task::Waker>> {
    FALLBACK_WAKER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes sure something drives [`EXECUTOR`] while no entry point does: a
/// task on smol's global executor, which hands over as soon as one does.
fn ensure_driven() {
    if DRIVERS.load(Ordering::SeqCst) > 0 || FALLBACK.swap(true, Ordering::SeqCst) {
        return;
    }
    smol::spawn(async {
        loop {
            EXECUTOR.run(a_driver_starts()).await;
            FALLBACK.store(false, Ordering::SeqCst);
            // The last driver may have gone between the run's end and the
            // flag's reset, and found the flag still set.
            if DRIVERS.load(Ordering::SeqCst) > 0 || FALLBACK.swap(true, Ordering::SeqCst) {
                return;
            }
        }
    })
    .detach();
}

/// Ready once an entry point drives [`EXECUTOR`].
fn a_driver_starts() -> impl std::future::Future<Output = ()> {
    std::future::poll_fn(|cx| {
        if DRIVERS.load(Ordering::SeqCst) > 0 {
            return Poll::Ready(());
        }
        *fallback_waker() = Some(cx.waker().clone());
        // Checked again: a driver that started meanwhile found no waker.
        if DRIVERS.load(Ordering::SeqCst) > 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

impl Runtime for Smol {
    fn name(&self) -> &'static str {
        "smol"
    }

    fn start_guest(&self) -> io::Result<Arc<dyn guest::Guest>> {
        #[cfg(feature = "guest-tokio")]
        return guest_tokio::start();
        #[cfg(not(feature = "guest-tokio"))]
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "tractor-smol was built without its `guest-tokio` feature",
        ))
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        EXECUTOR.spawn(task).detach();
        ensure_driven();
    }

    fn driver(&self) -> Option<BoxFuture<'static, ()>> {
        // Counted from now, before its first poll: the fallback stops
        // taking the tasks the actor spawns from its first poll on.
        let driving = Driving::new();
        Some(Box::pin(async move {
            let _driving = driving;
            EXECUTOR.run(std::future::pending::<()>()).await
        }))
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            smol::Timer::at(deadline).await;
        })
    }

    fn connect(&self, target: Target) -> BoxFuture<'static, io::Result<Connection>> {
        Box::pin(async move {
            Ok(match target {
                Target::Tcp(addr) => {
                    let s = Async::<std::net::TcpStream>::connect(addr).await?;
                    s.get_ref().set_nodelay(true)?;
                    connection(s)
                }
                Target::Unix(path) => connection(Async::<UnixStream>::connect(path).await?),
            })
        })
    }

    fn listen(&self, listener: StdListener) -> io::Result<Box<dyn Listener>> {
        Ok(match listener {
            StdListener::Tcp(l) => Box::new(Accept(Async::new(l)?)),
            StdListener::Unix(l) => Box::new(Accept(Async::new(l)?)),
        })
    }

    fn spawn_process(
        &self,
        command: std::process::Command,
        stdin: Option<std::process::Stdio>,
    ) -> io::Result<Box<dyn Process>> {
        let mut command = smol::process::Command::from(command);
        if let Some(stdin) = stdin {
            command.stdin(stdin);
        }
        let child = command.spawn()?;
        Ok(Box::new(Child(child)))
    }

    fn signal(&self, signal: SignalKind) -> io::Result<Box<dyn SignalStream>> {
        use async_signal::Signal as S;
        let s = match signal {
            SignalKind::Interrupt => S::Int,
            SignalKind::Terminate => S::Term,
            SignalKind::User1 => S::Usr1,
        };
        Ok(Box::new(Signals(async_signal::Signals::new([s])?)))
    }
}

entry_points!(Smol);

/// A socket both halves of a connection use at once: reads and writes
/// go through shared references, as `Async` allows for sockets.
trait Socket: Send + Sync + 'static {
    fn shutdown_write(&self) -> io::Result<()>;

    /// The socket, if it is TCP (for the driver's keepalive).
    fn tcp(&self) -> Option<std::os::fd::BorrowedFd<'_>>;
}

impl Socket for std::net::TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn tcp(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        Some(std::os::fd::AsFd::as_fd(self))
    }
}

impl Socket for UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn tcp(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }
}

fn connection<S>(socket: Async<S>) -> Connection
where
    S: Socket,
    for<'a> &'a S: Read + Write,
{
    let socket = Arc::new(socket);
    Connection {
        reader: Box::new(Reading {
            socket: socket.clone(),
            waiting: false,
        }),
        writer: Box::new(Half(socket)),
    }
}

/// The sending half of a connection.
struct Half<S>(Arc<Async<S>>);

/// The receiving half of a connection.
///
/// async-io's own `poll_read` reads, and on `WouldBlock` reads again
/// whenever an event came since it last waited, which the event that
/// woke it always is: two failed reads per message on a connection that
/// carries one at a time. This one takes that event as used up when it
/// wakes, so a read that finds nothing waits at once; a busy stream
/// still reads on without waiting while data keeps coming.
struct Reading<S> {
    socket: Arc<Async<S>>,
    /// Waiting for readability was asked for: the next poll first takes
    /// the event that woke it.
    waiting: bool,
}

impl<S> ReadHalf for Reading<S>
where
    S: Socket,
    for<'a> &'a S: Read + Write,
{
    fn poll_read(&mut self, cx: &mut TaskContext<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            if self.waiting {
                std::task::ready!(self.socket.poll_readable(cx))?;
                self.waiting = false;
            }
            match (&mut self.socket.get_ref()).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.waiting = true,
                done => return Poll::Ready(done),
            }
        }
    }

    fn tcp_socket(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.socket.get_ref().tcp()
    }
}

impl<S> WriteHalf for Half<S>
where
    S: Socket,
    for<'a> &'a S: Read + Write,
{
    fn poll_write(&mut self, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        smol::io::AsyncWrite::poll_write(Pin::new(&mut &*self.0), cx, buf)
    }

    fn poll_shutdown(&mut self, _cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        // Writes are not buffered: shutting the direction down is all.
        match self.0.get_ref().shutdown_write() {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// A listening socket of either family.
trait Accepting: Send + Sync + 'static {
    fn accept_one(&self) -> io::Result<Connection>;
}

impl Accepting for std::net::TcpListener {
    fn accept_one(&self) -> io::Result<Connection> {
        let (s, _) = self.accept()?;
        s.set_nodelay(true)?;
        Ok(connection(Async::new(s)?))
    }
}

impl Accepting for std::os::unix::net::UnixListener {
    fn accept_one(&self) -> io::Result<Connection> {
        let (s, _) = self.accept()?;
        Ok(connection(Async::new(s)?))
    }
}

struct Accept<L>(Async<L>);

impl<L: Accepting> Listener for Accept<L> {
    fn poll_accept(&mut self, cx: &mut TaskContext<'_>) -> Poll<io::Result<Connection>> {
        loop {
            match self.0.get_ref().accept_one() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = smol::ready!(self.0.poll_readable(cx)) {
                        return Poll::Ready(Err(e));
                    }
                }
                other => return Poll::Ready(other),
            }
        }
    }
}

struct Child(smol::process::Child);

impl Process for Child {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn wait(self: Box<Self>) -> BoxFuture<'static, io::Result<std::process::ExitStatus>> {
        let mut child = self.0;
        Box::pin(async move { child.status().await })
    }
}

struct Signals(async_signal::Signals);

impl SignalStream for Signals {
    fn poll_recv(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<()>> {
        Pin::new(&mut self.0).poll_next(cx).map(|s| s.map(|_| ()))
    }
}
