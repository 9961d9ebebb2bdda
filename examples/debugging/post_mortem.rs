//! Opening a REPL on an error by hand, and debug mode for one child only.
//!
//! ```text
//! cargo run -p tractor-examples --example debug_post_mortem
//! ```
//!
//! The root runs without debug mode; only the child `debugged` has it, set
//! in its `ActorOptions`. Both children fail:
//!
//! 1. `debugged` catches its own error and looks at it with
//!    `post_mortem(&e)` (a REPL on the error, where it was raised), then
//!    lets it go on; its crash REPL follows as the error leaves the
//!    function.
//! 2. `plain` fails the same way, without debug mode: no REPL, it never
//!    even asks for the terminal.
//!
//! The root handles both errors and ends well.

use tractor_examples::{ActorOptions, Address, Config, Error, Functions, post_mortem};

fn functions() -> Functions {
    Functions::new().rpc("debugging", "fail", |(): ()| async move {
        let e = Error::raise("RuntimeError", "the hard drive is full of cats");
        // Does nothing without debug mode.
        if let Err(quit) = post_mortem(&e).await {
            eprintln!("no post-mortem here: {quit}");
        }
        Err::<(), _>(e)
    })
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config =
            Config::new("root", functions()).registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            for (name, debug) in [("debugged", true), ("plain", false)] {
                let options = ActorOptions::new().debug_mode(debug);
                let out = root
                    .open_nursery(|n| async move {
                        n.run_in_actor(name, "debugging", "fail", (), options)
                            .await?;
                        Ok(())
                    })
                    .await;
                println!("{name} failed: {}", out.expect_err("fail fails"));
            }
            Ok(())
        })
        .await
    })
}
