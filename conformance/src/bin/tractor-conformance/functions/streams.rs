//! Context functions that drive a stream: request/response, feeds,
//! spawn clients.

use crate::*;

/// One task feeds `yo` every few milliseconds while another answers each
/// `ping` with a `pong`, on the same stream; returns the pongs sent.
pub(crate) async fn reqresp(ctx: Context) -> Result<u32> {
    ctx.started(()).await?;
    let stream = ctx.open_stream().await?;
    let feed = async {
        while stream.send("yo").await.is_ok() {
            me().sleep(Duration::from_millis(10)).await;
        }
        std::future::pending::<std::convert::Infallible>().await
    };
    let answer = async {
        let mut pongs = 0u32;
        while let Some(m) = stream.next::<String>().await {
            if m? == "ping" {
                stream.send("pong").await?;
                pongs += 1;
            }
        }
        Ok(pongs)
    };
    match race(answer, feed).await {
        Either::Left(r) => r,
        Either::Right(never) => match never {},
    }
}

/// Streams 0, 1, 2, … until the opener sends `done`, then closes its
/// stream and returns how many items it sent.
pub(crate) async fn stream_until_done(ctx: Context) -> Result<u64> {
    ctx.started(()).await?;
    let stream = ctx.open_stream().await?;
    let sent = AtomicU64::new(0);
    let feed = async {
        loop {
            let i = sent.load(Ordering::SeqCst);
            stream.send(&i).await?;
            sent.store(i + 1, Ordering::SeqCst);
            yield_now().await;
        }
        #[allow(unreachable_code)]
        Ok::<(), Error>(())
    };
    let done = async {
        while let Some(m) = stream.next::<String>().await {
            if m? == "done" {
                return Ok(());
            }
        }
        Err(Error::raise("EOFError", "the opener left without done"))
    };
    match race(done, feed).await {
        Either::Left(r) => r?,
        Either::Right(r) => r?,
    }
    stream.close()?;
    Ok(sent.load(Ordering::SeqCst))
}

/// Streams integers through an echo of the actor `peer` until that ends;
/// returns how it ended and who cancelled it.
pub(crate) async fn feed_peer(ctx: Context, peer: String) -> Result<String> {
    let peer = me().wait_for_actor(&peer).await?;
    let (link, ()) = peer.open_context(NS, "echo", ()).await?;
    let stream = link.open_stream().await?;
    // Linked up: now the opener may go on.
    ctx.started(()).await?;
    let mut i = 0i64;
    let end = loop {
        if let Err(e) = stream.send(&i).await {
            break Some(e);
        }
        match stream.next::<i64>().await {
            Some(Ok(_)) => i += 1,
            Some(Err(e)) => break Some(e),
            None => break None,
        }
    };
    let end = match end {
        Some(e) => e,
        None => match link.wait_for_result::<u32>().await {
            Ok(n) => return Ok(format!("returned:{n}")),
            Err(e) => e,
        },
    };
    Ok(format!("{}:{}", describe(&end), canceller(&end)))
}

/// Asks the spawn server for a daemon, echoes 100 items with it, reports
/// its name in `started`, then holds on until cancelled.
pub(crate) async fn spawn_client(ctx: Context, s: Spawn) -> Result<()> {
    let me = me();
    let server = me.wait_for_actor(&s.server).await?;
    let (spawning, ()) = server.open_context(NS, "spawn_server", ()).await?;
    let requests = spawning.open_stream().await?;
    requests.send(&s.name).await?;
    let spawned: String = requests.receive().await?;
    let bro = me.wait_for_actor(&spawned).await?;
    echo_ints(&bro, 100).await?;
    started_then_wait(&ctx, &spawned).await
}
