//! A guided run of a real actor tree: spawning, RPC, a context with a
//! two-way stream, an error climbing the tree, and a clean teardown.
//!
//! ```text
//! cargo run -p tractor-examples --example tour
//! ```
//!
//! Every actor below is its own OS process: this program started again
//! in child mode. The tree runs on tokio, or on smol with
//! `TRACTOR_ADAPTER=smol` (every example does).

use serde::{Deserialize, Serialize};
use tractor_examples::{ActorOptions, Address, Config, Context, Error, Functions, current_actor};

#[derive(Serialize, Deserialize)]
struct Square {
    x: i64,
}

#[derive(Serialize, Deserialize)]
struct Fail {
    why: String,
}

/// Everything any actor of this program can serve.
fn functions() -> Functions {
    Functions::new()
        .rpc(
            "tour.math",
            "square",
            |a: Square| async move { Ok(a.x * a.x) },
        )
        .rpc("tour.info", "whoami", |(): ()| async move {
            let me = current_actor().expect("running in an actor");
            Ok(format!(
                "{} (pid {}, on {})",
                me.uid(),
                std::process::id(),
                tractor_examples::adapter_name()
            ))
        })
        // A context: `started` first, then a stream both ways, then a result.
        .context("tour.echo", "shout", |ctx: Context, (): ()| async move {
            ctx.started("ready").await?;
            let stream = ctx.open_stream().await?;
            let mut n = 0u32;
            while let Some(word) = stream.next::<String>().await {
                stream.send(&word?.to_uppercase()).await?;
                n += 1;
            }
            Ok(n)
        })
        // A middle actor that spawns a child of its own, which fails.
        .rpc("tour.tree", "delegate", |f: Fail| async move {
            let me = current_actor().expect("running in an actor");
            me.open_nursery(|n| async move {
                let leaf = n
                    .run_in_actor("leaf", "tour.tree", "fail", f, ActorOptions::new())
                    .await?;
                leaf.wait_for_result::<()>().await
            })
            .await
        })
        .rpc("tour.tree", "fail", |f: Fail| async move {
            Err::<(), _>(Error::raise("ValueError", f.why))
        })
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        // Children become children right here; only the root goes on.
        let config = Config::new("tour", functions())
            // A registrar of its own, on a free port, so tours never collide.
            .registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            println!(
                "1. root actor {} is up (pid {}, on {})",
                root.uid(),
                std::process::id(),
                tractor_examples::adapter_name()
            );
            root.open_nursery(|n| async move {
                let opts =
                    ActorOptions::new().enable_modules(["tour.math", "tour.info", "tour.echo"]);
                let worker = n.start_actor("worker", opts).await?;
                let who: String = worker.run("tour.info", "whoami", ()).await?;
                println!("2. spawned a daemon actor: {who}");

                let nine: i64 = worker.run("tour.math", "square", Square { x: 3 }).await?;
                println!("3. RPC: worker says 3² = {nine}");

                let (ctx, first): (_, String) =
                    worker.open_context("tour.echo", "shout", ()).await?;
                println!("4. opened a context; the worker started with {first:?}");
                let stream = ctx.open_stream().await?;
                for word in ["hello", "actor", "tree"] {
                    stream.send(word).await?;
                    let back: String = stream.receive().await?;
                    println!("   sent {word:?}, got {back:?}");
                }
                stream.close()?;
                let count: u32 = ctx.wait_for_result().await?;
                println!("   the context returned: it echoed {count} words");

                println!("5. a middle actor spawns a leaf that raises ValueError...");
                let opts = ActorOptions::new().enable_modules(["tour.tree"]);
                let mid = n.start_actor("middle", opts).await?;
                let fail = Fail {
                    why: "the leaf gives up".into(),
                };
                match mid.run::<()>("tour.tree", "delegate", fail).await {
                    Ok(()) => println!("   (no error?)"),
                    Err(e) => {
                        let r = e.remote().expect("a remote error");
                        println!(
                            "   it climbed the tree: raised in {}, relayed by {}",
                            r.src_uid(),
                            r.relay_uid().map(ToString::to_string).unwrap_or_default()
                        );
                        println!("{e}");
                    }
                }

                println!("6. cancelling the nursery: every child is reaped");
                n.cancel().await;
                Ok(())
            })
            .await?;
            println!("7. the nursery has exited: no child process is left");
            Ok(())
        })
        .await
    })
}
