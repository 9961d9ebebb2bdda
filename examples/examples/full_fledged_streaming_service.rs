//! A streaming service three levels deep: two streamers, an aggregator
//! that merges them, and the root that reads the merged stream.
//!
//! ```text
//! cargo run -p tractor-examples --example full_fledged_streaming_service
//! ```
//!
//! The root starts an `aggregator` daemon and opens a stream from its
//! `aggregate` generator. The aggregator spawns two streamer daemons of its
//! own, opens a stream from each (both send `0..seed`), merges the two as
//! items arrive, drops the values it has already sent, and sends the rest
//! up to the root. When both streamers are done it cancels them and ends
//! its stream; the root checks it got every value once, in order, and
//! cancels the aggregator.

use std::collections::HashSet;
use std::time::Instant;

use futures_lite::future;
use serde::{Deserialize, Serialize};
use tractor_examples::{ActorOptions, Address, Config, Error, Functions, MsgStream, current_actor};

const SEED: u64 = 1000;

#[derive(Serialize, Deserialize)]
struct Seed {
    seed: u64,
}

fn functions() -> Functions {
    Functions::new()
        // The streamers: `0..seed`, one item at a time.
        .stream(
            "streaming",
            "stream_data",
            |out: MsgStream, s: Seed| async move {
                for i in 0..s.seed {
                    out.send(&i).await?;
                }
                Ok(())
            },
        )
        .stream(
            "streaming",
            "aggregate",
            |out: MsgStream, s: Seed| async move { aggregate(out, s.seed).await },
        )
}

/// The aggregator's generator: two streams in, one de-duplicated stream out.
async fn aggregate(out: MsgStream, seed: u64) -> Result<(), Error> {
    let me = current_actor().expect("running in an actor");
    me.open_nursery(|n| async move {
        let opts = || ActorOptions::new().enable_modules(["streaming"]);
        let first = n.start_actor("streamer_1", opts()).await?;
        let second = n.start_actor("streamer_2", opts()).await?;
        let a = first
            .open_stream_from("streaming", "stream_data", Seed { seed })
            .await?;
        let b = second
            .open_stream_from("streaming", "stream_data", Seed { seed })
            .await?;

        // Take whichever stream has an item first. Waiting on `next` and
        // dropping it unfinished loses nothing: the item stays queued.
        let (mut a_done, mut b_done) = (false, false);
        let mut seen = HashSet::new();
        let mut merged = 0;
        while !(a_done && b_done) {
            let from_a = async { (true, a.next::<u64>().await) };
            let from_b = async { (false, b.next::<u64>().await) };
            let (from_a, item) = match (a_done, b_done) {
                (false, false) => future::or(from_a, from_b).await,
                (false, true) => from_a.await,
                (true, _) => from_b.await,
            };
            match item {
                None if from_a => a_done = true,
                None => b_done = true,
                Some(value) => {
                    let value = value?;
                    merged += 1;
                    if seen.insert(value) {
                        out.send(&value).await?;
                    }
                }
            }
        }
        // This child's stdout is the root's: the line shows up in order,
        // before the root sees the stream end.
        println!(
            "aggregator: merged {merged} items from 2 streamers, sent {} up",
            seen.len()
        );
        // Both streamers have finished: this aggregation is over.
        n.cancel().await;
        Ok(())
    })
    .await
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config = Config::new("streaming_root", functions())
            .registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            root.open_nursery(|n| async move {
                let pre_start = Instant::now();
                let opts = ActorOptions::new().enable_modules(["streaming"]);
                let aggregator = n.start_actor("aggregator", opts).await?;
                let stream = aggregator
                    .open_stream_from("streaming", "aggregate", Seed { seed: SEED })
                    .await?;
                let start = Instant::now();
                let mut values = Vec::new();
                while let Some(v) = stream.next::<u64>().await {
                    values.push(v?);
                }
                let stream_time = start.elapsed();
                let cancelled = aggregator.cancel_actor().await?;
                println!("aggregator cancelled: {cancelled}");

                let expected: Vec<u64> = (0..SEED).collect();
                if values != expected {
                    return Err(Error::raise(
                        "AssertionError",
                        format!("got {} values, not 0..{SEED} in order", values.len()),
                    ));
                }
                println!(
                    "received {} values from the aggregator: 0..{SEED}, in order, each once",
                    values.len()
                );
                println!(
                    "stream time {:.3}s, stream + spawn time {:.3}s",
                    stream_time.as_secs_f64(),
                    pre_start.elapsed().as_secs_f64()
                );
                Ok(())
            })
            .await
        })
        .await
    })
}
