//! A one-shot actor: a child process started to run one function, whose
//! result outlives it.
//!
//! ```text
//! cargo run -p tractor-examples --example actor_spawning_and_causality
//! ```
//!
//! `run_in_actor` starts a child (this very program, in child mode) that
//! runs a single function and then goes away. The nursery's scope does not
//! end before its children have: when `open_nursery` returns, the child has
//! finished and its process has been reaped, yet its result is still there
//! to read, as many times as needed.

use serde::{Deserialize, Serialize};
use tractor_examples::{
    ActorOptions, Address, Config, Error, Functions, current_actor, is_root_process,
};

/// What the child answers.
#[derive(Serialize, Deserialize)]
struct Line {
    words: String,
    speaker: String,
    pid: u32,
}

fn functions() -> Functions {
    Functions::new().rpc("linguist", "cellar_door", |(): ()| async move {
        // Causality, checked: this code runs in the child, never the root.
        if is_root_process() {
            return Err(Error::raise(
                "AssertionError",
                "cellar_door ran in the root process",
            ));
        }
        let me = current_actor().expect("running in an actor");
        Ok(Line {
            words: "Dang that's beautiful".into(),
            speaker: me.uid().name.clone(),
            pid: std::process::id(),
        })
    })
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        // In a child process this call becomes the child and never returns.
        let config =
            Config::new("director", functions()).registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            println!(
                "root actor {} runs in pid {}",
                root.uid(),
                std::process::id()
            );
            let portal = root
                .open_nursery(|n| async move {
                    let portal = n
                        .run_in_actor(
                            "some_linguist",
                            "linguist",
                            "cellar_door",
                            (),
                            ActorOptions::new(),
                        )
                        .await?;
                    println!("spawned {} to run linguist:cellar_door", portal.peer());
                    let line: Line = portal.wait_for_result().await?;
                    println!(
                        "inside the nursery: {} (pid {}) says {:?}",
                        line.speaker, line.pid, line.words
                    );
                    // Hand the portal out of the nursery's scope.
                    Ok(portal)
                })
                .await?;
            println!("the nursery has ended: some_linguist has exited and been reaped");
            // The result was kept: reading it again needs no process.
            let again: Line = portal.wait_for_result().await?;
            println!("after the nursery, the result is still {:?}", again.words);
            Ok(())
        })
        .await
    })
}
