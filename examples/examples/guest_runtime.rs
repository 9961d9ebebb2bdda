//! An actor with a guest runtime: Python tractor's "infected asyncio"
//! echo server, for Rust.
//!
//! ```text
//! cargo run -p tractor-examples --example guest_runtime
//! TRACTOR_ADAPTER=smol cargo run -p tractor-examples --example guest_runtime
//! ```
//!
//! The root starts `echo_server` with a guest runtime
//! (`ActorOptions::guest`): in a smol actor that is tokio, in a tokio
//! actor smol's executor. The child's context opens a channel to a guest
//! task (`to_guest::open_channel_from`), which says `start`, then echoes
//! every number it gets after a nap on the guest's own timer (tokio's
//! timer only runs inside a tokio runtime). The context relays the
//! root's numbers to the guest task and its echoes back, over a stream.
//! When the root is done, the guest task is told (its channel ends) and
//! returns how many it echoed.

use std::time::Duration;

use tractor_examples::guest::{GuestStart, LinkedChannel};
use tractor_examples::prelude::*;
use tractor_examples::to_guest;

/// Runs on the guest: `start`, then echoes until the channel ends.
async fn echo_in_guest(start: GuestStart<String, u64, u64>) -> Result<u64> {
    let runtime = if tokio::runtime::Handle::try_current().is_ok() {
        "tokio"
    } else {
        "smol"
    };
    let mut chan = start.started(format!("start (the guest is {runtime})"));
    let mut echoed = 0;
    while let Some(n) = chan.recv().await {
        match runtime {
            "tokio" => tokio::time::sleep(Duration::from_millis(1)).await,
            _ => {
                smol::Timer::after(Duration::from_millis(1)).await;
            }
        }
        chan.send(n).await?;
        echoed += 1;
    }
    Ok(echoed)
}

/// The child's context: relays the stream through the guest task.
async fn echo_server(ctx: Context) -> Result<u64> {
    let (first, mut chan): (String, LinkedChannel<u64, u64, u64>) =
        to_guest::open_channel_from(echo_in_guest).await?;
    ctx.started(first).await?;
    let stream = ctx.open_stream().await?;
    while let Some(n) = stream.next::<u64>().await {
        chan.send(n?).await?;
        stream.send(&chan.receive().await?).await?;
    }
    // The root closed its side: so does this one, and the guest task
    // returns its count.
    chan.wait().await
}

fn main() -> Result<()> {
    block_on(async {
        let functions = Functions::new().context("aio", "echo_server", |ctx: Context, (): ()| {
            echo_server(ctx)
        });
        let config = Config::new("guest_root", functions)
            .registry_addrs([tractor_examples::Address::tcp("127.0.0.1", 0)]);
        open_root_actor(config, |root| async move {
            root.open_nursery(|n| async move {
                let options = ActorOptions::new().enable_modules(["aio"]).guest();
                let server = n.start_actor("echo_server", options).await?;
                let (ctx, first): (_, String) =
                    server.open_context("aio", "echo_server", ()).await?;
                println!("the guest task said: {first}");
                let stream = ctx.open_stream().await?;
                for n in 0..5u64 {
                    stream.send(&n).await?;
                    let back: u64 = stream.receive().await?;
                    println!("sent {n}, the guest echoed {back}");
                }
                stream.close()?;
                let echoed: u64 = ctx.wait_for_result().await?;
                println!("the guest task echoed {echoed} numbers and returned");
                server.cancel_actor().await?;
                Ok(())
            })
            .await
        })
        .await
    })
}
