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
//!
//! The context is a typed service's: the compiler checks the argument,
//! the `started` value, both directions of the stream and the result, and
//! on the wire it is Python's `simple_rpc(ctx, data)` in module
//! `pingpong`, called with `data=10`.

use tractor_examples::{ActorOptions, Address, Config, Error, Functions, Result, ServedContext};

const ROUNDS: u32 = 10;

tractor_examples::service! {
    /// Ping-pong, under Python's module name for it.
    #[namespace = "pingpong"]
    trait PingPong {
        /// Starts with `data + 1`, answers every `ping` with a `pong`
        /// until the caller closes its end, and returns how many it
        /// answered.
        #[context]
        async fn simple_rpc(&self, ctx: ServedContext<i64, String, String>, data: i64) -> Result<u32>;
    }
}

struct Server;

impl PingPong for Server {
    async fn simple_rpc(&self, ctx: ServedContext<i64, String, String>, data: i64) -> Result<u32> {
        // Like a task's `started`: the opener waits for this value.
        ctx.started(data + 1).await?;
        let stream = ctx.open_stream().await?;
        let mut count = 0;
        // Ends when the root closes its side of the stream.
        while let Some(msg) = stream.next().await {
            let msg = msg?;
            if msg != "ping" {
                return Err(Error::raise(
                    "ValueError",
                    format!("expected ping, got {msg:?}"),
                ));
            }
            stream.send(&"pong".to_owned()).await?;
            count += 1;
        }
        Ok(count)
    }
}

fn functions() -> Functions {
    Functions::new().serve(PingPongService, Server)
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config = Config::new("pingpong_root", functions())
            .registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            root.open_nursery(|n| async move {
                let opts = ActorOptions::new().serve(PingPongService);
                let portal = n.start_actor("rpc_server", opts).await?;

                let (ctx, sent) = PingPongClient::new(&portal).simple_rpc(10).await?;
                println!("rpc_server started with {sent}");
                let stream = ctx.open_stream().await?;
                let mut pongs = 0;
                for _ in 0..ROUNDS {
                    stream.send(&"ping".to_owned()).await?;
                    let reply = stream.receive().await?;
                    if reply == "pong" {
                        pongs += 1;
                    }
                }
                println!("sent {ROUNDS} pings, got {pongs} pongs");
                // Closing our side ends the server's loop and its function.
                stream.close()?;
                let answered = ctx.wait_for_result().await?;
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
