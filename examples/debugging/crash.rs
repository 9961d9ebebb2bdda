//! Crash REPLs: an error stops in a REPL in the actor that raised it,
//! then in each parent as it climbs the tree.
//!
//! ```text
//! cargo run -p tractor-examples --example debug_crash
//! ```
//!
//! In debug mode every failing served function and root body opens a
//! crash REPL before its error travels on; cancellations never do, and
//! the program's debug filter (here: not for `KeyError`) narrows it
//! further.
//!
//! 1. A child raises `KeyError`: the filter lets it pass, so no REPL
//!    opens, and the root handles the error.
//! 2. A child raises `NameError`: its REPL opens first, showing the error
//!    and the source where it was raised. After `c` the error reaches the
//!    root, whose REPL shows it boxed with its source actor
//!    (`src_uid=('name_error', …)`). After `c` there, the program ends with
//!    the error, and every process of the tree is gone.

use tractor_examples::{ActorOptions, Address, Config, Error, Functions};

fn functions() -> Functions {
    Functions::new()
        .rpc("debugging", "key_error", |(): ()| async move {
            Err::<(), _>(Error::raise("KeyError", "'missing'"))
        })
        .rpc("debugging", "name_error", |(): ()| async move {
            Err::<(), _>(Error::raise(
                "NameError",
                "name 'doggypants' is not defined",
            ))
        })
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config = Config::new("root", functions())
            .registry_addrs([Address::tcp("127.0.0.1", 0)])
            .debug_mode(true)
            // Every actor of this program skips the REPL for KeyErrors.
            .debug_filter(|e| e.type_name() != Some("KeyError"));
        tractor_examples::open_root_actor(config, |root| async move {
            let handled = root
                .open_nursery(|n| async move {
                    n.run_in_actor(
                        "key_error",
                        "debugging",
                        "key_error",
                        (),
                        ActorOptions::new(),
                    )
                    .await?;
                    Ok(())
                })
                .await;
            println!(
                "handled without a REPL: {}",
                handled.expect_err("key_error raises")
            );
            root.open_nursery(|n| async move {
                n.run_in_actor(
                    "name_error",
                    "debugging",
                    "name_error",
                    (),
                    ActorOptions::new(),
                )
                .await?;
                Ok(())
            })
            .await
        })
        .await
    })
}
