//! A daemon actor: started once, asked twice, then cancelled.
//!
//! ```text
//! cargo run -p tractor-examples --example movie_theatre_question
//! ```
//!
//! `start_actor` spawns a child that serves the namespaces it is given
//! until someone cancels it. Each `portal.run` is one remote call; the
//! child counts the questions it was asked, which shows that both calls
//! reached the same long-lived process. A nursery waits for its daemons,
//! so the root ends this one with `cancel_actor` before leaving.

use std::sync::atomic::{AtomicU32, Ordering};

use tractor_examples::{ActorOptions, Address, Config, Error, Functions};

/// How many questions this process has been asked (per process: only the
/// daemon's copy ever moves).
static ASKED: AtomicU32 = AtomicU32::new(0);

fn functions() -> Functions {
    Functions::new().rpc("theatre", "movie_theatre_question", |(): ()| async move {
        let n = ASKED.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(format!(
            "have you ever seen a portal? (question {n}, asked in pid {})",
            std::process::id()
        ))
    })
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config =
            Config::new("audience", functions()).registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            root.open_nursery(|n| async move {
                let opts = ActorOptions::new().enable_modules(["theatre"]);
                let frank = n.start_actor("frank", opts).await?;
                println!("started the daemon {}", frank.peer());

                let first: String = frank.run("theatre", "movie_theatre_question", ()).await?;
                println!("frank: {first}");
                // The daemon is still there: ask again.
                let second: String = frank.run("theatre", "movie_theatre_question", ()).await?;
                println!("frank: {second}");

                // A daemon never ends by itself; without this the nursery
                // would wait for it forever.
                let cancelled = frank.cancel_actor().await?;
                println!("frank cancelled: {cancelled}");
                Ok(())
            })
            .await?;
            println!("the nursery has exited: frank is gone");
            Ok(())
        })
        .await
    })
}
