//! A tree to look at with `tractor-top`: a root that is its own
//! registrar, a daemon with a child of its own, and a context streaming
//! between the root and a second daemon. It prints the registrar's
//! address (`registry=<address>`) once the whole tree is up, then runs
//! until SIGINT (or SIGTERM). It runs on tokio, or on smol with
//! `TRACTOR_ADAPTER=smol`.
//!
//! ```text
//! cargo run -p tractor-top --example top_tree
//! ```

use std::time::Duration;

use tractor_adapters::Adapter;
use tractor_driver::prelude::*;
use tractor_driver::{Address, Context};

async fn counter(ctx: Context) -> Result<()> {
    ctx.started(()).await?;
    let stream = ctx.open_stream().await?;
    let mut n = 0u64;
    loop {
        stream.send(&n).await?;
        n += 1;
        tractor_driver::current_actor()
            .ok_or_else(|| Error::raise("RuntimeError", "no actor"))?
            .sleep(Duration::from_millis(20))
            .await;
    }
}

async fn with_child() -> Result<()> {
    let me =
        tractor_driver::current_actor().ok_or_else(|| Error::raise("RuntimeError", "no actor"))?;
    me.open_nursery(|n| async move {
        n.start_actor("leaf", ActorOptions::new()).await?;
        std::future::pending::<Result<()>>().await
    })
    .await
}

fn main() -> Result<()> {
    let adapter = Adapter::from_env();
    adapter.block_on(tree(adapter))
}

async fn tree(adapter: Adapter) -> Result<()> {
    let functions = Functions::new()
        .context("top", "counter", |ctx: Context, (): ()| counter(ctx))
        .rpc("top", "with_child", |(): ()| with_child());
    let config = Config::new("top-root", functions)
        .enable_modules(["top"])
        .registry_addrs([Address::tcp("127.0.0.1", 0)]);
    tractor_driver::open_root_actor(adapter.runtime(), config, |root| async move {
        let registry = root.registry_addrs();
        let me = root.clone();
        root.open_nursery(|n| async move {
            let options = ActorOptions::new().enable_modules(["top"]);
            let middle = n.start_actor("middle", options.clone()).await?;
            let feeder = n.start_actor("feeder", options).await?;
            let (ctx, ()) = feeder.open_context("top", "counter", ()).await?;
            let stream = ctx.open_stream().await?;
            // The middle daemon starts a child of its own, and stays in
            // that call.
            let _call = me.spawn(async move {
                let _ = middle.run::<()>("top", "with_child", ()).await;
            });
            me.wait_for_actor("leaf").await?;
            let _ = stream.receive::<u64>().await?;
            println!("registry={}", registry[0]);
            loop {
                stream.receive::<u64>().await?;
            }
        })
        .await
    })
    .await
}
