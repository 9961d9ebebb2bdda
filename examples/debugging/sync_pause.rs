//! Pausing plain threads: sync code in the root and in a child stops in
//! the same REPL, one at a time.
//!
//! ```text
//! cargo run -p tractor-examples --example debug_sync_pause
//! ```
//!
//! `pause_blocking()` blocks the calling thread until the REPL ends,
//! taking the tree's terminal like any pause. It is for threads outside
//! the runtime (`std::thread::spawn`, a blocking pool): from code an async
//! task polls it fails at once, since blocking there could stall the
//! thread the lock needs. The program shows that refusal first.

use tractor_examples::{ActorOptions, Address, Config, Error, Functions, pause_blocking};

/// Some sync work that stops in the debugger halfway, on a thread of its
/// own; its answer comes back over a channel.
async fn crunch_in_thread(x: u64) -> Result<u64, Error> {
    let (tx, rx) = smol::channel::bounded(1);
    std::thread::spawn(move || {
        let half = x * 2;
        let out = pause_blocking().map(|()| half + 1);
        let _ = tx.send_blocking(out);
    });
    rx.recv()
        .await
        .map_err(|_| Error::raise("RuntimeError", "the worker thread vanished"))?
}

fn functions() -> Functions {
    #[derive(serde::Deserialize)]
    struct Crunch {
        x: u64,
    }
    Functions::new().rpc("debugging", "crunch", |c: Crunch| async move {
        crunch_in_thread(c.x).await
    })
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config = Config::new("root", functions())
            .registry_addrs([Address::tcp("127.0.0.1", 0)])
            .debug_mode(true);
        tractor_examples::open_root_actor(config, |root| async move {
            let refused = pause_blocking().expect_err("refused in async code");
            println!("in async code: {refused}");
            println!("root thread: {}", crunch_in_thread(20).await?);
            root.open_nursery(|n| async move {
                #[derive(serde::Serialize)]
                struct Crunch {
                    x: u64,
                }
                let child = n
                    .run_in_actor(
                        "cruncher",
                        "debugging",
                        "crunch",
                        Crunch { x: 50 },
                        ActorOptions::new(),
                    )
                    .await?;
                println!("child thread: {}", child.wait_for_result::<u64>().await?);
                Ok(())
            })
            .await
        })
        .await
    })
}
