//! One feed shared by many local tasks, and contexts opened together.
//!
//! ```text
//! cargo run -p tractor-examples --example shared_feed
//! ```
//!
//! Two `ticker` daemons start at once. `gather` opens a context with each
//! at the same time (Python's `gather_contexts`) and checks their
//! `started` values. Then four local tasks of the root each ask a
//! `ContextCache` for the feed of `ticker_0` (Python's
//! `maybe_open_context`): the first opens the context, the other three
//! share it, and every task reads all the ticks through a subscription of
//! its own. When the last task lets go, the feed is closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tractor_examples::{
    ActorOptions, Address, Config, ContextCache, Error, Functions, OpenedContext, Result,
    ServedContext, TypedStream, gather,
};

const TICKS: u64 = 5;
const TASKS: usize = 4;

tractor_examples::service! {
    /// A feed of ticks.
    #[namespace = "feeds"]
    trait Ticker {
        /// Starts with how many ticks it will send, waits for the caller's
        /// `go`, sends `0..count`, and returns how many it sent.
        #[context]
        async fn ticks(&self, ctx: ServedContext<u64, String, u64>, count: u64) -> Result<u64>;
    }
}

struct Feed;

impl Ticker for Feed {
    async fn ticks(&self, ctx: ServedContext<u64, String, u64>, count: u64) -> Result<u64> {
        ctx.started(count).await?;
        let stream = ctx.open_stream().await?;
        let go = stream.receive().await?;
        if go != "go" {
            return Err(Error::raise(
                "ValueError",
                format!("expected go, got {go:?}"),
            ));
        }
        for tick in 0..count {
            stream.send(&tick).await?;
        }
        stream.close()?;
        Ok(count)
    }
}

/// A feed as the cache holds it: the context and its stream.
type Opened = (OpenedContext<String, u64, u64>, TypedStream<u64, String>);

fn main() -> std::result::Result<(), Error> {
    tractor_examples::block_on(async {
        let functions = Functions::new().serve(TickerService, Feed);
        let config =
            Config::new("feeds_root", functions).registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            let me = root.clone();
            root.open_nursery(|n| async move {
                let options = ActorOptions::new().serve(TickerService);
                let tickers = n
                    .start_actors((0..2).map(|i| (format!("ticker_{i}"), options.clone())))
                    .await?;

                // Both contexts at once; if one could not be opened, the
                // other would be dropped, which cancels it.
                let clients: Vec<TickerClient> = tickers.iter().map(TickerClient::new).collect();
                let opened = gather(clients.iter().map(|c| c.ticks(TICKS))).await?;
                let started: Vec<u64> = opened.iter().map(|(_, count)| *count).collect();
                println!(
                    "gathered {} contexts, started with {started:?}",
                    opened.len()
                );
                // Leaving a context before its result cancels its function.
                drop(opened);

                // Four tasks, one feed.
                let cache: ContextCache<&'static str, Opened> = ContextCache::new();
                let subscribed = Arc::new(AtomicUsize::new(0));
                let portal = tickers[0].clone();
                let tasks: Vec<_> = (0..TASKS)
                    .map(|task| {
                        let (cache, portal, subscribed, me) = (
                            cache.clone(),
                            portal.clone(),
                            subscribed.clone(),
                            me.clone(),
                        );
                        me.clone().spawn(async move {
                            let (hit, feed) = cache
                                .open("ticker_0", || async move {
                                    let (ctx, _) = TickerClient::new(&portal).ticks(TICKS).await?;
                                    let stream = ctx.open_stream().await?;
                                    Ok((ctx, stream))
                                })
                                .await?;
                            let ticks = feed.1.stream().subscribe()?;
                            // The feed starts once every task listens.
                            subscribed.fetch_add(1, Ordering::SeqCst);
                            while subscribed.load(Ordering::SeqCst) < TASKS {
                                me.sleep(std::time::Duration::from_millis(5)).await;
                            }
                            if !hit {
                                feed.1.send(&"go".to_owned()).await?;
                            }
                            let mut got = Vec::new();
                            while let Some(tick) = ticks.next::<u64>().await {
                                got.push(tick?);
                            }
                            Ok::<_, Error>(format!(
                                "task {task}: {} the feed, got {got:?}",
                                if hit { "shared" } else { "opened" }
                            ))
                        })
                    })
                    .collect();
                let mut lines = Vec::new();
                for task in tasks {
                    lines.push(task.await??);
                }
                lines.sort();
                for line in lines {
                    println!("{line}");
                }
                println!("feeds still open: {}", cache.len());
                n.cancel().await;
                Ok(())
            })
            .await
        })
        .await
    })
}
