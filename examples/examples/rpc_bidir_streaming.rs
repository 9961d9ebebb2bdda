//! Ping-pong over a context's two-way stream.
//!
//! ```text
//! cargo run -p tractor-examples --example rpc_bidir_streaming
//! ```
//!
//! The root opens a context with `simple_rpc` in a daemon. The daemon's
//! side sends `started` with its argument plus one, opens its end of the
//! stream and answers every `ping` with a `pong`. The root plays ten
//! rounds, closes its end of the stream, which ends the daemon's loop, and
//! reads the context's result: how many pings the daemon answered.

use serde::{Deserialize, Serialize};
use tractor_examples::{ActorOptions, Address, Config, Context, Error, Functions};

const ROUNDS: u32 = 10;

#[derive(Serialize, Deserialize)]
struct Data {
    data: i64,
}

fn functions() -> Functions {
    Functions::new().context(
        "pingpong",
        "simple_rpc",
        |ctx: Context, d: Data| async move {
            // Like a task's `started`: the opener waits for this value.
            ctx.started(d.data + 1).await?;
            let stream = ctx.open_stream().await?;
            let mut count = 0u32;
            // Ends when the root closes its side of the stream.
            while let Some(msg) = stream.next::<String>().await {
                let msg = msg?;
                if msg != "ping" {
                    return Err(Error::raise(
                        "ValueError",
                        format!("expected ping, got {msg:?}"),
                    ));
                }
                stream.send("pong").await?;
                count += 1;
            }
            Ok(count)
        },
    )
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config = Config::new("pingpong_root", functions())
            .registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            root.open_nursery(|n| async move {
                let opts = ActorOptions::new().enable_modules(["pingpong"]);
                let portal = n.start_actor("rpc_server", opts).await?;

                let (ctx, sent): (_, i64) = portal
                    .open_context("pingpong", "simple_rpc", Data { data: 10 })
                    .await?;
                println!("rpc_server started with {sent}");
                let stream = ctx.open_stream().await?;
                let mut pongs = 0;
                for _ in 0..ROUNDS {
                    stream.send("ping").await?;
                    let reply: String = stream.receive().await?;
                    if reply == "pong" {
                        pongs += 1;
                    }
                }
                println!("sent {ROUNDS} pings, got {pongs} pongs");
                // Closing our side ends the server's loop and its function.
                stream.close()?;
                let answered: u32 = ctx.wait_for_result().await?;
                println!("rpc_server answered {answered} pings");

                let cancelled = portal.cancel_actor().await?;
                println!("rpc_server cancelled: {cancelled}");
                Ok(())
            })
            .await
        })
        .await
    })
}
