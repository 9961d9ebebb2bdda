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
    /// The runtime's name, as an actor's snapshot shows it (see
    /// `tractor_protocol::introspect`): `tokio`, `smol`; `custom` by
    /// default.
    fn name(&self) -> &'static str {
        "custom"
    }

    /// Runs a task in the background, detached. It may be called from any
    /// thread, including one outside the runtime (a thread stopped by
    /// `debug::pause_blocking`).
    fn spawn(&self, task: BoxFuture<'static, ()>);

    /// Completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()>;

    /// Opens a stream connection.
    fn connect(&self, target: Target) -> BoxFuture<'static, io::Result<Connection>>;

    /// Adopts a bound, non-blocking listener.
    fn listen(&self, listener: StdListener) -> io::Result<Box<dyn Listener>>;

    /// Starts a process. `stdin` is its standard input when the driver
    /// gives one (a launched child's bootstrap pipe: see
    /// [`launch`](crate::launch)); otherwise it inherits this process's.
    /// Set it on the runtime's own command: some (async-process) reset a
    /// `std::process::Command`'s standard streams to inherited ones.
    fn spawn_process(
        &self,
        command: std::process::Command,
        stdin: Option<std::process::Stdio>,
    ) -> io::Result<Box<dyn Process>>;

    /// Starts receiving a signal; it no longer has its default effect.
    ///
    /// The driver gives SIGINT and SIGTERM their default action back
    /// whenever no actor of the process listens (before the root starts,
    /// after its teardown) through an action of `signal-hook-registry`'s
    /// handler: receive signals through that registry, as tokio and
    /// `async-signal` do, so that the action runs.
    fn signal(&self, signal: SignalKind) -> io::Result<Box<dyn SignalStream>>;

    /// A future that runs this runtime's tasks on the thread that blocks
    /// on the actor: the entry points poll it beside the actor's own
    /// future for the actor's whole life, so that the actor's tasks share
    /// that thread instead of crossing to another at every message. A
    /// runtime whose tasks run on threads of their own returns `None`
    /// (the default).
    fn driver(&self) -> Option<BoxFuture<'static, ()>> {
        None
    }

    /// Starts a guest runtime for this process's actor (see
    /// [`guest`](crate::guest)): another executor, on threads of its own,
    /// that the actor's tasks reach through [`to_guest`](crate::to_guest).
    /// The default has none.
    fn start_guest(&self) -> io::Result<std::sync::Arc<dyn Guest>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this runtime offers no guest runtime",
        ))
    }

    /// Lets the runtime's other ready tasks run once before the caller
    /// goes on. The default wakes the task and returns `Pending` once;
    /// a runtime that would poll a task that woke itself again at once (a
    /// "last in, first out" slot) gives its own way.
    fn yield_now(&self) -> BoxFuture<'static, ()> {
        let mut yielded = false;
        Box::pin(std::future::poll_fn(move |cx| {
            if yielded {
                return Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }))
    }
}

/// A guest runtime beside an actor's own (see [`guest`](crate::guest)),
/// as the driver drives it: what an adapter (or a program embedding the
/// driver) implements for its guest.
///
/// The links between guest tasks and the actor's rest on three rules:
/// every task given to [`spawn`](Guest::spawn) is eventually polled to
/// its end or dropped (a task spawned once the guest is shut down is
/// dropped at once, on the caller's thread); a task's waker never polls
/// it inline, on the waking thread; and each thread the guest starts
/// calls [`mark_guest_thread`](crate::guest::mark_guest_thread) first.
pub trait Guest: Send + Sync + 'static {
    /// The runtime's name, for errors and dumps: `tokio`, `smol`.
    fn name(&self) -> &'static str;

    /// Starts a task on the guest, from any thread; the guest polls it on
    /// its own threads, in its context (a tokio guest's tasks may use
    /// tokio's sockets and timers).
    fn spawn(&self, task: BoxFuture<'static, ()>);

    /// Stops the guest: its tasks are dropped (not leaked: their drops
    /// are what ends their links) and its threads end. Blocks the calling
    /// thread (never one of the guest's) until that is done, or until
    /// `deadline`; says whether it was done in time.
    fn shutdown(&self, deadline: Instant) -> bool;
}

/// Runs `fut` to its end, polling `rt`'s [`Runtime::driver`] beside it.
pub(crate) async fn drive<T>(rt: &dyn Runtime, fut: impl Future<Output = T>) -> T {
    let mut fut = std::pin::pin!(fut);
    let Some(mut driver) = rt.driver() else {
        return fut.await;
    };
    std::future::poll_fn(move |cx| {
        let _ = driver.as_mut().poll(cx);
        fut.as_mut().poll(cx)
    })
    .await
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

    /// The connection's TCP socket, if it is one: the driver sets its
    /// keepalive (`Limits::keepalive`) on it, once, for every connection
    /// accepted or opened. A runtime whose connections are not sockets
    /// leaves the default, `None`.
    fn tcp_socket(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }
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

/// A signal stream polled only once it woke its task: an actor's main
/// future polls its signals beside the state it waits on, and is woken by
/// that state many times a second on a busy actor; a stream that reads
/// its pipe at every poll (async-signal does) would cost system calls
/// each time.
pub(crate) struct WokenOnly {
    inner: Box<dyn SignalStream>,
    gate: std::sync::Arc<Gate>,
}

/// Whether a [`WokenOnly`] stream's own waker fired since it was last
/// polled, and the task to wake then.
#[derive(Default)]
struct Gate {
    woken: std::sync::atomic::AtomicBool,
    task: std::sync::Mutex<Option<std::task::Waker>>,
}

impl std::task::Wake for Gate {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.woken.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(task) = &*self.task.lock().unwrap_or_else(|e| e.into_inner()) {
            task.wake_by_ref();
        }
    }
}

impl WokenOnly {
    pub(crate) fn wrap(inner: Box<dyn SignalStream>) -> Box<dyn SignalStream> {
        let gate = Gate::default();
        // Polled at first, to register its waker.
        gate.woken.store(true, std::sync::atomic::Ordering::SeqCst);
        Box::new(WokenOnly {
            inner,
            gate: std::sync::Arc::new(gate),
        })
    }
}

impl SignalStream for WokenOnly {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        {
            let mut task = self.gate.task.lock().unwrap_or_else(|e| e.into_inner());
            if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        // Taken before polling: a wake from here on polls again.
        if !self
            .gate
            .woken
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Poll::Pending;
        }
        let waker = std::task::Waker::from(self.gate.clone());
        let out = self.inner.poll_recv(&mut Context::from_waker(&waker));
        if out.is_ready() {
            // More may be queued behind it.
            self.gate
                .woken
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        out
    }
}

/// The signals an actor handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalKind {
    /// SIGINT (ctrl-c): the tree is cancelled gracefully.
    Interrupt,
    /// SIGTERM: as SIGINT, but not a terminal key, so even while a debug
    /// REPL is live.
    Terminate,
    /// SIGUSR1.
    User1,
}

/// Defines an adapter crate's entry points, `open_root_actor`,
/// `open_nursery` and `run_daemon`, as the driver's own with the runtime
/// `$rt` filled in, and its `prelude`: the driver's
/// [`prelude`](crate::prelude) plus those entry points. This is what
/// `tractor-tokio` and `tractor-smol` do; a crate binding another runtime
/// does the same after implementing [`Runtime`].
///
/// Invoke it where the crate re-exports the driver (`pub use
/// tractor_driver::*;`): the `prelude` it defines there takes the place
/// of the driver's, which the glob would otherwise bring in. Other crates
/// see only the adapter's; inside the adapter crate itself, name it by its
/// path (`crate::prelude`), as a bare `prelude` is ambiguous there.
///
/// ```
/// # use std::io;
/// # use std::time::Instant;
/// # use tractor_driver::runtime::*;
/// /// A runtime of one's own.
/// #[derive(Clone, Copy)]
/// pub struct Mine;
/// # impl Runtime for Mine {
/// #     fn spawn(&self, _: BoxFuture<'static, ()>) { unimplemented!() }
/// #     fn sleep_until(&self, _: Instant) -> BoxFuture<'static, ()> { unimplemented!() }
/// #     fn connect(&self, _: Target) -> BoxFuture<'static, io::Result<Connection>> { unimplemented!() }
/// #     fn listen(&self, _: StdListener) -> io::Result<Box<dyn Listener>> { unimplemented!() }
/// #     fn spawn_process(&self, _: std::process::Command, _: Option<std::process::Stdio>) -> io::Result<Box<dyn Process>> { unimplemented!() }
/// #     fn signal(&self, _: SignalKind) -> io::Result<Box<dyn SignalStream>> { unimplemented!() }
/// # }
///
/// // At the root of the crate, which re-exports the driver's API:
/// # pub use tractor_driver::*;
/// entry_points!(Mine);
///
/// mod program {
///     // The crate's prelude: the driver's, and the entry points on `Mine`.
///     use crate::prelude::*;
///
///     pub fn start() -> impl std::future::Future<Output = Result<()>> {
///         run_daemon(Config::new("daemon", Functions::new()))
///     }
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! entry_points {
    ($rt:expr) => {
        /// Runs this program's root actor around `body`, on this crate's
        /// runtime (Python's `open_root_actor`), and returns what `body`
        /// returned once the actor has wound down: every child reaped,
        /// the actor unregistered, its sockets closed.
        ///
        /// **In a child process this call becomes the child and never
        /// returns.** A child is this same program started again with
        /// Python's child command line; this call recognises it, connects
        /// back to the parent, serves what the parent enabled and ends the
        /// process when cancelled. So call it first in `main`: whatever
        /// runs before it runs in every child too.
        ///
        /// `body` gets the root's [`ActorHandle`], to open nurseries
        /// ([`ActorHandle::open_nursery`]) and find actors through the
        /// registrar. The root becomes the registrar when none answers at
        /// [`Config::registry_addrs`]. An error of `body` is returned once
        /// the tree is torn down; SIGINT or SIGTERM cancels the tree, and
        /// the call returns [`ErrorKind::Interrupted`] or
        /// [`ErrorKind::Terminated`]. The root hears them from the start of
        /// `body` to the end of its teardown: a first one during the
        /// teardown after `body` ended on its own still cancels the tree
        /// gracefully, and its error replaces `body`'s success or joins
        /// `body`'s failure ([`ErrorKind::Group`], the failure first); a
        /// second one there kills the children. Outside that span they
        /// have their default action: the process dies by the signal. It
        /// fails at once if an actor already runs in this process.
        ///
        #[doc = concat!("```no_run\nuse ", module_path!(), "::prelude::*;")]
        ///
        /// async fn tree(functions: Functions) -> Result<String> {
        ///     open_root_actor(Config::new("root", functions), |root| async move {
        ///         Ok(root.uid().to_string())
        ///     })
        ///     .await
        /// }
        /// # let _ = tree;
        /// ```
        pub async fn open_root_actor<F, Fut, T>(
            config: $crate::Config,
            body: F,
        ) -> $crate::Result<T>
        where
            F: FnOnce($crate::ActorHandle) -> Fut,
            Fut: ::std::future::Future<Output = $crate::Result<T>>,
        {
            $crate::open_root_actor(::std::sync::Arc::new($rt), config, body).await
        }

        /// Opens an actor nursery on this crate's runtime: in this
        /// process's actor if one runs, else in a root actor started with
        /// `config` for it and torn down after it (Python's implicit root,
        /// `open_nursery` without `open_root_actor`). `config` is not used
        /// when an actor already runs.
        ///
        /// As with [`open_root_actor`], in a child process this call
        /// becomes the child and never returns: call it first in `main`.
        ///
        #[doc = concat!("```no_run\nuse ", module_path!(), "::prelude::*;")]
        ///
        /// async fn tree(functions: Functions) -> Result<()> {
        ///     open_nursery(Config::new("root", functions), |n| async move {
        ///         let opts = ActorOptions::new().enable_modules(["work"]);
        ///         let worker = n.start_actor("worker", opts).await?;
        ///         worker.cancel_actor().await?;
        ///         Ok(())
        ///     })
        ///     .await
        /// }
        /// # let _ = tree;
        /// ```
        pub async fn open_nursery<F, Fut, T>(config: $crate::Config, body: F) -> $crate::Result<T>
        where
            F: FnOnce($crate::ActorNursery) -> Fut,
            Fut: ::std::future::Future<Output = $crate::Result<T>>,
        {
            $crate::open_nursery(::std::sync::Arc::new($rt), config, body).await
        }

        /// Runs this program as a long-lived root that only serves
        /// (Python's `run_daemon`), on this crate's runtime: the
        /// namespaces of [`Config::enable_modules`], to any actor that
        /// connects, until a peer cancels it ([`Portal::cancel_actor`]),
        /// or SIGINT or SIGTERM does. In a child process this call becomes
        /// the child, as [`open_root_actor`] does.
        ///
        #[doc = concat!("```no_run\nuse ", module_path!(), "::prelude::*;")]
        ///
        /// async fn serve(functions: Functions) -> Result<()> {
        ///     let config = Config::new("service", functions)
        ///         .enable_modules(["math"])
        ///         .registry_addrs([Address::tcp("127.0.0.1", 1616)]);
        ///     run_daemon(config).await
        /// }
        /// # let _ = serve;
        /// ```
        pub async fn run_daemon(config: $crate::Config) -> $crate::Result<()> {
            $crate::run_daemon(::std::sync::Arc::new($rt), config).await
        }

        pub mod prelude {
            //! The names nearly every program uses, for a glob import: the
            //! API's handles, options and errors, and this crate's entry
            //! points, which run on its runtime.
            //!
            #![doc = concat!("```no_run\nuse ", module_path!(), "::*;")]
            //!
            //! /// Everything the actors of this program serve.
            //! fn functions() -> Functions {
            //!     Functions::new().rpc("procs", "pid", |(): ()| async move { Ok(std::process::id()) })
            //! }
            //!
            //! /// The root: workers started at once, each asked its pid. In a
            //! /// child process, the call becomes the child and never returns.
            //! async fn tree() -> Result<Vec<u32>> {
            //!     let config = Config::new("root", functions());
            //!     open_root_actor(config, |root| async move {
            //!         root.open_nursery(|n| async move {
            //!             let opts = ActorOptions::new().enable_modules(["procs"]);
            //!             let workers = n
            //!                 .start_actors((0..3).map(|i| (format!("worker-{i}"), opts.clone())))
            //!                 .await?;
            //!             let mut pids = Vec::new();
            //!             for worker in &workers {
            //!                 pids.push(worker.run("procs", "pid", ()).await?);
            //!             }
            //!             n.cancel().await;
            //!             Ok(pids)
            //!         })
            //!         .await
            //!     })
            //!     .await
            //! }
            //! # let _ = tree;
            //! ```

            pub use $crate::prelude::*;

            pub use super::{open_nursery, open_root_actor, run_daemon};
        }
    };
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Wake, Waker};

    use super::{SignalStream, WokenOnly};

    /// A signal stream that counts its polls, and delivers when told.
    struct Fake {
        polls: Arc<AtomicUsize>,
        pending: Arc<AtomicUsize>,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl SignalStream for Fake {
        fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            if self.pending.load(Ordering::SeqCst) > 0 {
                self.pending.fetch_sub(1, Ordering::SeqCst);
                return Poll::Ready(Some(()));
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_signal_stream_is_polled_only_after_it_woke_its_task() {
        let (polls, pending) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let inner_waker = Arc::new(Mutex::new(None::<Waker>));
        let mut s = WokenOnly::wrap(Box::new(Fake {
            polls: polls.clone(),
            pending: pending.clone(),
            waker: inner_waker.clone(),
        }));
        let task = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        // The first poll reaches the stream; the task's other wake-ups
        // do not.
        for _ in 0..5 {
            assert_eq!(s.poll_recv(&mut cx), Poll::Pending);
        }
        assert_eq!(polls.load(Ordering::SeqCst), 1);
        // Two signals, then the stream's own wake: the task is woken, and
        // both come through before the stream is left alone again.
        pending.store(2, Ordering::SeqCst);
        let w = inner_waker.lock().unwrap().take().expect("a waker");
        w.wake();
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "the task was woken");
        assert_eq!(s.poll_recv(&mut cx), Poll::Ready(Some(())));
        assert_eq!(s.poll_recv(&mut cx), Poll::Ready(Some(())));
        assert_eq!(s.poll_recv(&mut cx), Poll::Pending);
        assert_eq!(s.poll_recv(&mut cx), Poll::Pending);
        assert_eq!(polls.load(Ordering::SeqCst), 4);
    }
}
