//! One stream from another actor, fanned out to several local tasks.
//!
//! ```text
//! cargo run -p tractor-examples --example streaming_broadcast_fanout
//! ```
//!
//! The root opens a context with a `ticker` daemon, whose side sends a few
//! ticks on the context's stream. Instead of one task reading the stream,
//! the root subscribes several receivers to it (`MsgStream::subscribe`,
//! or `subscribe` on a receiver already made) and gives each to a task of
//! its own: every subscriber gets its own copy of every tick, in order,
//! and sees the end of the stream when the ticker is done. One more task
//! leaves after two ticks; closing its receiver holds nobody back.
//!
//! The ticker waits for a `go` before its first tick, so that every
//! subscriber is in place before anything is sent.

use serde::{Deserialize, Serialize};
use tractor_examples::{
    ActorOptions, Address, BroadcastReceiver, Config, Context, Error, Functions,
};

#[derive(Serialize, Deserialize)]
struct Count {
    count: u32,
}

fn functions() -> Functions {
    Functions::new().context(
        "ticker",
        "tick_stream",
        |ctx: Context, c: Count| async move {
            ctx.started(c.count).await?;
            let stream = ctx.open_stream().await?;
            let go: String = stream.receive().await?;
            if go != "go" {
                return Err(Error::raise(
                    "ValueError",
                    format!("expected go, got {go:?}"),
                ));
            }
            for tick in 0..c.count {
                stream.send(&tick).await?;
            }
            // Returning closes this side: every subscriber's loop ends.
            Ok(c.count)
        },
    )
}

/// Reads one subscriber's copy of the stream to its end.
async fn consume(name: String, ticks: BroadcastReceiver) -> Result<(String, Vec<u32>), Error> {
    let mut got = Vec::new();
    while let Some(tick) = ticks.next::<u32>().await {
        got.push(tick?);
    }
    Ok((name, got))
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config =
            Config::new("fanout_root", functions()).registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            // Local tasks run on the actor's runtime, whichever it is.
            let me = root.clone();
            root.open_nursery(|n| async move {
                let opts = ActorOptions::new().enable_modules(["ticker"]);
                let portal = n.start_actor("ticker", opts).await?;
                let (ctx, count): (_, u32) = portal
                    .open_context("ticker", "tick_stream", Count { count: 5 })
                    .await?;
                println!("the ticker will send {count} ticks");
                let stream = ctx.open_stream().await?;

                // Subscribing is immediate: each receiver is in place as soon
                // as it exists, before any tick is sent.
                let sub_0 = stream.subscribe()?;
                let sub_1 = stream.subscribe()?;
                // A receiver makes more receivers of the same stream.
                let sub_2 = sub_0.subscribe()?;
                let quitter = stream.subscribe()?;

                let mut tasks = Vec::new();
                for (name, rx) in [("sub_0", sub_0), ("sub_1", sub_1), ("sub_2", sub_2)] {
                    tasks.push(me.spawn(consume(name.to_owned(), rx)));
                }
                let leaving = me.spawn(async move {
                    let mut got = Vec::new();
                    for _ in 0..2 {
                        got.push(quitter.receive::<u32>().await?);
                    }
                    // Unsubscribes; the others read on.
                    quitter.close();
                    Ok::<_, Error>(got)
                });

                stream.send("go").await?;
                for task in tasks {
                    let (name, ticks) = task.await??;
                    println!("{name}: stream ended, got {ticks:?}");
                }
                let early = leaving.await??;
                println!("quitter: left after {early:?}");

                let sent: u32 = ctx.wait_for_result().await?;
                println!("the ticker returned: it sent {sent} ticks");
                portal.cancel_actor().await?;
                Ok(())
            })
            .await
        })
        .await
    })
}
