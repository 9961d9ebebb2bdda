//! Two daemons want the terminal at once: one pauses on every item it
//! streams, the other fails on every call. Their REPLs take turns and
//! never print over each other.
//!
//! ```text
//! cargo run -p tractor-examples --example debug_multi_daemon
//! ```
//!
//! Every REPL entry takes the root's lock first, first come first served
//! across the tree. While one is live:
//!
//! * ctrl-c does not tear the tree down: the REPL's actor and the root
//!   ignore it, and the prompt comes back;
//! * the root does not cancel or kill a child that holds the lock: it
//!   waits for the REPL to end.
//!
//! Continue with `c` at each prompt (four in all, in whichever order the
//! two daemons win the lock); the root handles the failures and ends
//! well.

use tractor_examples::{
    ActorOptions, Address, Config, Error, Functions, MsgStream, current_actor, pause,
};

fn functions() -> Functions {
    Functions::new()
        .stream(
            "debugging",
            "pause_per_item",
            |stream: MsgStream, (): ()| async move {
                for i in 0..2u32 {
                    pause().await?;
                    stream.send(&i).await?;
                }
                Ok(())
            },
        )
        .rpc("debugging", "name_error", |(): ()| async move {
            let me = current_actor().expect("running in an actor");
            Err::<(), _>(Error::raise(
                "NameError",
                format!("{} has no name 'doggypants'", me.uid().name),
            ))
        })
}

fn daemon() -> ActorOptions {
    ActorOptions::new().enable_modules(["debugging"])
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config = Config::new("root", functions())
            .registry_addrs([Address::tcp("127.0.0.1", 0)])
            .debug_mode(true);
        tractor_examples::open_root_actor(config, |root| async move {
            root.open_nursery(|n| async move {
                let pauser = n.start_actor("bp_forever", daemon()).await?;
                let crasher = n.start_actor("name_error", daemon()).await?;
                let streamed = async {
                    let stream = pauser
                        .open_stream_from("debugging", "pause_per_item", ())
                        .await?;
                    let mut got = Vec::new();
                    while let Some(item) = stream.next::<u32>().await {
                        got.push(item?);
                    }
                    Ok::<_, Error>(got)
                };
                let failed = async {
                    let mut errors = 0;
                    for _ in 0..2 {
                        if crasher
                            .run::<()>("debugging", "name_error", ())
                            .await
                            .is_err()
                        {
                            errors += 1;
                        }
                    }
                    errors
                };
                let (streamed, failed) = futures_lite::future::zip(streamed, failed).await;
                println!("streamed {:?}, {failed} calls failed", streamed?);
                n.cancel().await;
                Ok(())
            })
            .await
        })
        .await
    })
}
