//! Pausing any actor of a tree, at any depth, in the one terminal's REPL.
//!
//! ```text
//! cargo run -p tractor-examples --example debug_pause
//! ```
//!
//! Three stops, one after the other, each taking the tree's terminal lock
//! from the root first:
//!
//! 1. the root pauses with `pause!`, which captures two values (type `v`
//!    at the prompt to see them, `l` for more source, `w` for the
//!    backtrace);
//! 2. a child pauses in a served function (type `ctx` to see the call it
//!    serves, `gdb` to attach a debugger to it in the same terminal);
//! 3. a grandchild, two levels down, pauses: its lock request travels to
//!    the root through its own connection.
//!
//! `c` continues each. `q` instead fails the paused task with `BdbQuit`,
//! which climbs the tree like any error and opens each parent's crash
//! REPL on the way. With no terminal (stdin closed) every REPL continues
//! at once, so the program also runs unattended.

use tractor_examples::{ActorOptions, Address, Config, Error, Functions, current_actor, pause};

fn functions() -> Functions {
    Functions::new()
        .rpc("debugging", "pause_here", |(): ()| async move {
            let me = current_actor().expect("running in an actor");
            pause().await?;
            Ok(format!("{} resumed", me.uid().name))
        })
        .rpc("debugging", "spawn_pauser", |(): ()| async move {
            let me = current_actor().expect("running in an actor");
            me.open_nursery(|n| async move {
                let grandchild = n
                    .run_in_actor(
                        "grandchild",
                        "debugging",
                        "pause_here",
                        (),
                        ActorOptions::new(),
                    )
                    .await?;
                grandchild.wait_for_result::<String>().await
            })
            .await
        })
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config = Config::new("root", functions())
            .registry_addrs([Address::tcp("127.0.0.1", 0)])
            // For the whole tree: every child inherits it.
            .debug_mode(true);
        tractor_examples::open_root_actor(config, |root| async move {
            let answer = 42;
            let names = vec!["child", "middle", "grandchild"];
            tractor_examples::pause!(answer, names).await?;
            println!("root resumed");
            root.open_nursery(|n| async move {
                let child = n
                    .run_in_actor("child", "debugging", "pause_here", (), ActorOptions::new())
                    .await?;
                println!("{}", child.wait_for_result::<String>().await?);
                let middle = n
                    .run_in_actor(
                        "middle",
                        "debugging",
                        "spawn_pauser",
                        (),
                        ActorOptions::new(),
                    )
                    .await?;
                println!("{}", middle.wait_for_result::<String>().await?);
                Ok(())
            })
            .await
        })
        .await
    })
}
