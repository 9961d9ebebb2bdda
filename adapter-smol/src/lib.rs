//! tractor for Rust on [smol](https://docs.rs/smol): `async-io` sockets and
//! timers, `async-process` children, `async-signal` signals.
//!
//! The user API is [`tractor_driver`]'s, the same as `tractor-tokio`'s,
//! re-exported here with the runtime filled in, so a program can switch
//! runtimes without changing its actor code, and a tree may mix actors
//! built on either. Like the tokio adapter it only does IO ([`Smol`]):
//! every protocol decision is taken by `tractor-protocol`.
//!
//! Tasks run on smol's global executor (`smol::spawn`; its thread count is
//! `SMOL_THREADS`, one by default); the program blocks on its root with
//! `smol::block_on`. `use tractor_smol::prelude::*;` ([`prelude`]) brings
//! in what a program needs, this crate's entry points included.
//!
//! ```no_run
//! use tractor_smol::prelude::*;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Square {
//!     x: i64,
//! }
//!
//! fn main() -> Result<(), Error> {
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

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use smol::Async;
use smol::stream::Stream;
// The runtime trait's vocabulary: what this crate implements.
use tractor_driver::runtime::*;

pub use tractor_driver::*;

/// smol as tractor's [`Runtime`]: tasks go to smol's global executor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

impl Runtime for Smol {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        smol::spawn(task).detach();
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

    fn spawn_process(&self, command: std::process::Command) -> io::Result<Box<dyn Process>> {
        let child = smol::process::Command::from(command).spawn()?;
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
}

impl Socket for std::net::TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl Socket for UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

fn connection<S>(socket: Async<S>) -> Connection
where
    S: Socket,
    for<'a> &'a S: Read + Write,
{
    let socket = Arc::new(socket);
    Connection {
        reader: Box::new(Half(socket.clone())),
        writer: Box::new(Half(socket)),
    }
}

/// One half of a connection.
struct Half<S>(Arc<Async<S>>);

impl<S> ReadHalf for Half<S>
where
    S: Socket,
    for<'a> &'a S: Read + Write,
{
    fn poll_read(&mut self, cx: &mut TaskContext<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        smol::io::AsyncRead::poll_read(Pin::new(&mut &*self.0), cx, buf)
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

    fn wait(self: Box<Self>) -> BoxFuture<'static, io::Result<ExitStatus>> {
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
