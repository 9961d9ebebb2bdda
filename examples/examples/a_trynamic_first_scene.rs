//! Two sibling actors that find each other through the registrar.
//!
//! ```text
//! cargo run -p tractor-examples --example a_trynamic_first_scene
//! ```
//!
//! The root (the director, and the tree's registrar) starts two one-shot
//! actors, donny and gretchen. Neither knows where the other listens:
//! each asks the registrar with `wait_for_actor`, which answers as soon as
//! the other has registered, connects to it directly and calls its `hi`.
//! Each one-shot returns what it heard; the director prints both lines.

use serde::{Deserialize, Serialize};
use tractor_examples::{ActorOptions, Address, Config, Error, Functions, current_actor};

#[derive(Serialize, Deserialize)]
struct SayHello {
    other_actor: String,
}

fn functions() -> Functions {
    Functions::new()
        .rpc("scene", "hi", |(): ()| async move {
            let me = current_actor().expect("running in an actor");
            Ok(format!("Hi my name is {}", me.uid().name))
        })
        .rpc("scene", "say_hello", |args: SayHello| async move {
            let me = current_actor().expect("running in an actor");
            // Waits until the other actor has registered, wherever it is.
            let other = me.wait_for_actor(&args.other_actor).await?;
            let line: String = other.run("scene", "hi", ()).await?;
            Ok(format!(
                "{} asked {}, who said: {line}",
                me.uid().name,
                other.peer().name
            ))
        })
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config =
            Config::new("director", functions()).registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            root.open_nursery(|n| async move {
                println!("Alright... Action!");
                // Arguments always travel by name.
                let donny = n
                    .run_in_actor(
                        "donny",
                        "scene",
                        "say_hello",
                        SayHello {
                            other_actor: "gretchen".into(),
                        },
                        ActorOptions::new(),
                    )
                    .await?;
                let gretchen = n
                    .run_in_actor(
                        "gretchen",
                        "scene",
                        "say_hello",
                        SayHello {
                            other_actor: "donny".into(),
                        },
                        ActorOptions::new(),
                    )
                    .await?;
                println!("{}", gretchen.wait_for_result::<String>().await?);
                println!("{}", donny.wait_for_result::<String>().await?);
                println!("CUT! Donny, you're supposed to say...");
                Ok(())
            })
            .await
        })
        .await
    })
}
