//! Zombies contained: one actor per CPU core, an error in the root, and a
//! tree that leaves no process behind.
//!
//! ```text
//! cargo run -p tractor-examples --example we_are_processes
//! ```
//!
//! The root starts one worker per core, all at once
//! (`ActorNursery::start_actors`), and opens a context with each. A worker
//! reports its name and process id through `started`, then waits forever. Half a second later the root fails on purpose. The
//! failure cancels the nursery: every worker is cancelled and reaped, and
//! the root actor has ended, before the error reaches `main`, which checks
//! that none of the reported processes still exists. (Watch it with
//! `pstree -a` from another terminal.)

use std::time::Duration;

use tractor_examples::prelude::*;

fn functions() -> Functions {
    Functions::new().context("procs", "target", |ctx: Context, (): ()| async move {
        let me = current_actor().expect("running in an actor");
        ctx.started((me.uid().name.clone(), std::process::id()))
            .await?;
        // Busy with nothing until the tree is torn down.
        std::future::pending::<()>().await;
        Ok(())
    })
}

/// The processes of `pids` that still exist, or `None` where the system
/// has no `/proc` to tell.
fn still_running(pids: &[u32]) -> Option<Vec<u32>> {
    let proc = std::path::Path::new("/proc");
    proc.is_dir().then(|| {
        pids.iter()
            .copied()
            .filter(|pid| proc.join(pid.to_string()).exists())
            .collect()
    })
}

fn main() -> Result<(), Error> {
    block_on(async {
        let config = Config::new("we_are_processes", functions())
            .registry_addrs([Address::tcp("127.0.0.1", 0)]);
        let mut pids = Vec::new();
        let outcome = open_root_actor(config, |root| {
            let pids = &mut pids;
            async move {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                println!(
                    "root in pid {} spawns {cores} workers, one per core",
                    std::process::id()
                );
                let me = root.clone();
                root.open_nursery(|n| async move {
                    // Every worker's process starts at once; this returns
                    // when all have connected back.
                    let opts = ActorOptions::new().enable_modules(["procs"]);
                    let workers = n
                        .start_actors((0..cores).map(|i| (format!("worker_{i}"), opts.clone())))
                        .await?;
                    // The contexts stay open while the workers run.
                    let mut contexts = Vec::new();
                    for portal in &workers {
                        let (ctx, (name, pid)): (Context, (String, u32)) =
                            portal.open_context("procs", "target", ()).await?;
                        println!("Yo, {name} is running in pid {pid}");
                        pids.push(pid);
                        contexts.push(ctx);
                    }
                    println!("This process tree will self-destruct in 0.5 s...");
                    me.sleep(Duration::from_millis(500)).await;
                    // You could have done this yourself: fail on purpose. The
                    // error cancels the nursery, which reaps every worker, and
                    // then leaves the root actor.
                    Err::<(), _>(Error::raise("Exception", "Self destructed"))
                })
                .await
            }
        })
        .await;
        // Only the original process gets here: the actor tree is gone.
        let Err(e) = outcome else {
            return Err(Error::raise(
                "AssertionError",
                "the tree should have failed",
            ));
        };
        println!("caught: {e}");
        match still_running(&pids) {
            Some(survivors) if !survivors.is_empty() => Err(Error::raise(
                "AssertionError",
                format!("workers survived: {survivors:?}"),
            )),
            Some(_) => {
                println!(
                    "Zombies contained: all {} worker processes are gone",
                    pids.len()
                );
                Ok(())
            }
            None => {
                println!("Zombies contained (no /proc here to double-check)");
                Ok(())
            }
        }
    })
}
