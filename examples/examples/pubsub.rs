//! Publish/subscribe across actors: a daemon publishes prices under their
//! symbols; subscribers in the root each get the symbols they asked for.
//!
//! ```text
//! cargo run -p tractor-examples --example pubsub
//! ```
//!
//! The `quotes` daemon serves `subscribe(topics)` with a `Publisher`, and
//! `publish(ticks)` publishes that many prices for `BTC` and `ETH`. Two
//! subscribers in the root, one per symbol, and a third for both, read
//! what their topics bring; each has its own stream, so none waits for
//! another.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use tractor_examples::{ActorOptions, Address, Config, Context, Error, Functions, Publisher};

/// The daemon's publisher (each process of the program has its own; only
/// the daemon publishes).
static QUOTES: LazyLock<Publisher<f64>> = LazyLock::new(Publisher::new);

#[derive(Serialize, Deserialize)]
struct Topics {
    topics: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Ticks {
    ticks: u32,
}

fn functions() -> Functions {
    Functions::new()
        .context(
            "quotes",
            "subscribe",
            |ctx: Context, t: Topics| async move { QUOTES.serve(ctx, t.topics).await },
        )
        .rpc("quotes", "subscribers", |(): ()| async move {
            Ok(QUOTES.subscribers())
        })
        .rpc("quotes", "publish", |t: Ticks| async move {
            for i in 0..t.ticks {
                QUOTES.publish("BTC", &(42_000.0 + f64::from(i)))?;
                QUOTES.publish("ETH", &(2_500.0 + f64::from(i) / 10.0))?;
            }
            Ok(())
        })
}

fn main() -> std::result::Result<(), Error> {
    tractor_examples::block_on(async {
        let config =
            Config::new("pubsub_root", functions()).registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            root.open_nursery(|n| async move {
                let quotes = n
                    .start_actor("quotes", ActorOptions::new().enable_modules(["quotes"]))
                    .await?;
                let mut subscriptions = Vec::new();
                for topics in [vec!["BTC"], vec!["ETH"], vec!["BTC", "ETH"]] {
                    let topics: Vec<String> = topics.into_iter().map(String::from).collect();
                    let (ctx, ()) = quotes
                        .open_context(
                            "quotes",
                            "subscribe",
                            Topics {
                                topics: topics.clone(),
                            },
                        )
                        .await?;
                    let stream = ctx.open_stream().await?;
                    subscriptions.push((topics, ctx, stream));
                }
                // Publish once all three listen.
                while quotes.run::<usize>("quotes", "subscribers", ()).await? < 3 {
                    root_sleep().await;
                }
                quotes
                    .run::<()>("quotes", "publish", Ticks { ticks: 3 })
                    .await?;
                for (topics, _ctx, stream) in &subscriptions {
                    let mut got = Vec::new();
                    for _ in 0..3 * topics.len() {
                        let (symbol, price): (String, f64) = stream.receive().await?;
                        got.push(format!("{symbol} {price}"));
                    }
                    println!("{} got: {}", topics.join("+"), got.join(", "));
                }
                drop(subscriptions);
                quotes.cancel_actor().await?;
                Ok(())
            })
            .await
        })
        .await
    })
}

/// A short pause of the root's.
async fn root_sleep() {
    if let Some(me) = tractor_examples::current_actor() {
        me.sleep(std::time::Duration::from_millis(5)).await;
    }
}
