//! Functions that use their actor's guest runtime (`guest-` scenarios):
//! each runs in a child given one, whichever the adapter (a smol child's
//! guest is tokio, a tokio child's is smol).

use crate::*;
use tractor_driver::guest::{GuestChannel, LinkedChannel};
use tractor_driver::to_guest;

/// Guest tasks started by `guest_hold`, and those of them not yet dropped.
static HELD: AtomicU32 = AtomicU32::new(0);
static ALIVE: AtomicU32 = AtomicU32::new(0);

/// Counts a live guest task of `guest_hold`, and marks `path` when the
/// guest drops it.
pub(crate) struct Held(String);

impl Held {
    pub(crate) fn new(path: String) -> Self {
        HELD.fetch_add(1, Ordering::SeqCst);
        ALIVE.fetch_add(1, Ordering::SeqCst);
        Held(path)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        ALIVE.fetch_sub(1, Ordering::SeqCst);
        let on = std::thread::current().name().unwrap_or("").to_owned();
        let _ = std::fs::write(&self.0, format!("dropped on {on}"));
    }
}

/// What the guest is, and a round trip through its own sockets and timer:
/// `(guest, echoed, thread, actor task inside tokio)`.
async fn guest_api() -> Result<(String, String, String, bool)> {
    let actor_in_tokio = tokio::runtime::Handle::try_current().is_ok();
    let (guest, echoed, thread) = to_guest::run(|| async {
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        if tokio::runtime::Handle::try_current().is_ok() {
            // tokio's sockets and timer: they panic outside a tokio
            // runtime, as on a smol actor's own thread.
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let (client, accepted) =
                tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
            let (mut client, (mut server, _)) = (client?, accepted?);
            client.write_all(b"hello").await?;
            let mut buf = [0u8; 5];
            server.read_exact(&mut buf).await?;
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok::<_, std::io::Error>((
                "tokio".to_owned(),
                String::from_utf8_lossy(&buf).into_owned(),
                thread,
            ))
        } else {
            use smol::io::{AsyncReadExt, AsyncWriteExt};
            let listener = smol::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let (client, accepted) =
                smol::future::zip(smol::net::TcpStream::connect(addr), listener.accept()).await;
            let (mut client, (mut server, _)) = (client?, accepted?);
            client.write_all(b"hello").await?;
            let mut buf = [0u8; 5];
            server.read_exact(&mut buf).await?;
            smol::Timer::after(Duration::from_millis(1)).await;
            Ok((
                "smol".to_owned(),
                String::from_utf8_lossy(&buf).into_owned(),
                thread,
            ))
        }
    })
    .await?;
    Ok((guest, echoed, thread, actor_in_tokio))
}

/// Fails in the guest: `how` is `error`, `panic`, or `channel` (an error
/// after `started`, seen by the linked task's `receive`).
async fn guest_fail(how: String) -> Result<()> {
    match how.as_str() {
        "error" => {
            to_guest::run(|| async {
                Err::<(), _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "the upstream refused",
                ))
            })
            .await
        }
        "panic" => {
            to_guest::run(|| async {
                if std::hint::black_box(true) {
                    panic!("the guest task panicked on purpose");
                }
                Ok::<(), std::io::Error>(())
            })
            .await
        }
        _ => {
            let (_, mut chan): ((), LinkedChannel<(), u32, ()>) =
                to_guest::open_channel_from(|start| async move {
                    let mut chan = start.started(());
                    chan.send(1u32).await.map_err(std::io::Error::other)?;
                    Err::<(), _>(std::io::Error::other("the guest's feed broke"))
                })
                .await?;
            let first = chan.receive().await?;
            check!(first == 1, "{first}");
            // The guest's error, once its one item is read.
            chan.receive().await?;
            Err(Error::raise(
                "AssertionError",
                "the guest's error was not seen",
            ))
        }
    }
}

/// A context whose guest task holds `path` until it is dropped.
async fn guest_hold(ctx: Context, path: String) -> Result<()> {
    let (_, chan) = to_guest::open_channel_from(move |start| async move {
        let _held = Held::new(path);
        let _chan: GuestChannel<(), ()> = start.started(());
        std::future::pending::<()>().await;
        Ok::<(), Error>(())
    })
    .await?;
    ctx.started(()).await?;
    let _chan: LinkedChannel<(), (), ()> = chan;
    std::future::pending().await
}

/// Relays `n` numbers a guest task produces into a channel of 16 over
/// the context's stream; returns how far the guest ever got ahead of
/// what was received from it.
async fn guest_stream(ctx: Context, n: u64) -> Result<u64> {
    const CAPACITY: usize = 16;
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let (_, mut chan) = to_guest::open_channel_with_capacity(CAPACITY, move |start| async move {
        let mut chan = start.started(());
        for i in 0..n {
            chan.send(i).await?;
            counter.fetch_add(1, Ordering::SeqCst);
        }
        Ok::<_, Error>(())
    })
    .await?;
    ctx.started(()).await?;
    let stream = ctx.open_stream().await?;
    let (mut received, mut lead) = (0u64, 0u64);
    loop {
        match chan.receive().await {
            Ok(i) => {
                received += 1;
                lead = lead.max(sent.load(Ordering::SeqCst).saturating_sub(received));
                let i: u64 = i;
                stream.send(&i).await?;
            }
            Err(e) if matches!(e.kind(), ErrorKind::EndOfStream) => break,
            Err(e) => return Err(e),
        }
    }
    let _: LinkedChannel<(), u64, ()> = chan;
    Ok(lead)
}

pub(crate) fn guest_functions(f: Functions) -> Functions {
    f.rpc(NS, "guest_api", |(): ()| guest_api())
        .rpc(NS, "guest_fail", |a: Value| {
            guest_fail(a.value.unwrap_or_default())
        })
        .context(NS, "guest_hold", |ctx: Context, a: Value| {
            guest_hold(ctx, a.value.unwrap_or_default())
        })
        .rpc(NS, "guest_held", |(): ()| async {
            Ok((HELD.load(Ordering::SeqCst), ALIVE.load(Ordering::SeqCst)))
        })
        .context(NS, "guest_stream", |ctx: Context, c: Count| {
            guest_stream(ctx, u64::from(c.n))
        })
        // dbg-guest-pause: a REPL from a guest task.
        .rpc(NS, "guest_pause", |(): ()| async {
            to_guest::run(|| async {
                tractor_driver::pause().await?;
                Ok::<_, Error>("resumed".to_owned())
            })
            .await
        })
        // guest-blocked-thread: a guest task that blocks the guest's
        // one thread for ever.
        .context(NS, "guest_block", |ctx: Context, (): ()| async move {
            let (_, _chan): ((), LinkedChannel<(), (), ()>) =
                to_guest::open_channel_from(|start| async move {
                    let _chan = start.started(());
                    std::thread::sleep(Duration::from_secs(3600));
                    Ok::<(), Error>(())
                })
                .await?;
            ctx.started(()).await?;
            std::future::pending::<Result<()>>().await
        })
        // dump-guest-tasks: a guest task that waits for ever.
        .rpc(NS, "guest_hang", |(): ()| async {
            to_guest::run(|| async {
                fact("hanging", "guest");
                std::future::pending::<()>().await;
                Ok::<(), Error>(())
            })
            .await
        })
}
