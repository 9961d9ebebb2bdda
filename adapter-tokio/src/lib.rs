//! tractor for Rust on [tokio](https://tokio.rs).
//!
//! Actors are processes; a root spawns children through an actor nursery,
//! talks to them through portals, contexts and streams, and never leaves
//! one behind. The API is [`tractor_driver`]'s, re-exported here with the
//! runtime filled in: this crate only supplies tokio's sockets, processes,
//! timers and signals ([`Tokio`]); every protocol decision is taken by the
//! sans-IO core, `tractor-protocol`. `use tractor_tokio::prelude::*;`
//! ([`prelude`]) brings in what a program needs, this crate's entry points
//! included.
//!
//! ```no_run
//! use tractor_tokio::prelude::*;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Square {
//!     x: i64,
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
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

use std::io;
use std::pin::Pin;
use std::process::ExitStatus;
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

    fn spawn_process(&self, command: std::process::Command) -> io::Result<Box<dyn Process>> {
        let child = tokio::process::Command::from(command).spawn()?;
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

fn connection<R, W>(r: R, w: W) -> Connection
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    Connection {
        reader: Box::new(Reader(r)),
        writer: Box::new(Writer(w)),
    }
}

struct Reader<R>(R);

impl<R: AsyncRead + Unpin + Send + 'static> ReadHalf for Reader<R> {
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

    fn wait(self: Box<Self>) -> BoxFuture<'static, io::Result<ExitStatus>> {
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
