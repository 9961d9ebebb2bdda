//! A hung tree, looked into: where every task of every actor waits.
//!
//! ```text
//! cargo run -p tractor-examples --example stackscope
//! ```
//!
//! The root opens a context with `stuck`, which opens one with its own
//! child `sleepy`, which waits for something that never comes. Once the
//! tree stands, the root sends itself `SIGUSR1`, as you would with
//! `kill -USR1 <pid>` from another terminal when a tree hangs. Every actor
//! prints its task tree on stderr, parent before child, and appends it to
//! `tractor-stackscope-<pid>.log` in the temporary directory: its tasks
//! with the line each waits at (tractor's own futures note it, and
//! `.traced("...")` adds a future of yours), its children, its open
//! contexts and its threads. Then the root cancels the tree.
//!
//! Dumps are on because the config says so (`enable_stack_on_sig`);
//! `TRACTOR_ENABLE_STACKSCOPE=1` in the environment does the same for any
//! program.

use std::time::{Duration, Instant};

use tractor_examples::stackscope::{Traced, log_path};
use tractor_examples::{ActorOptions, Address, Config, Context, Error, Functions, current_actor};

const NS: &str = "hangs";

fn functions() -> Functions {
    Functions::new()
        .context(NS, "doze", |ctx: Context, (): ()| async move {
            ctx.started(std::process::id()).await?;
            std::future::pending::<()>().traced("dozing off").await;
            Ok(())
        })
        .context(NS, "watch", |ctx: Context, (): ()| async move {
            let me = current_actor().expect("an actor runs");
            me.open_nursery(|n| async move {
                let sleepy = n.start_actor("sleepy", enabled()).await?;
                let (dozing, sleepy_pid) = sleepy.open_context::<u32>(NS, "doze", ()).await?;
                ctx.started((std::process::id(), sleepy_pid)).await?;
                dozing.wait_for_result::<()>().await
            })
            .await
        })
}

fn enabled() -> ActorOptions {
    ActorOptions::new().enable_modules([NS])
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config = Config::new("root", functions())
            .registry_addrs([Address::tcp("127.0.0.1", 0)])
            .enable_stack_on_sig(true);
        tractor_examples::open_root_actor(config, |root| async move {
            let waiter = root.clone();
            root.open_nursery(|n| async move {
                let stuck = n.start_actor("stuck", enabled()).await?;
                let (_watching, (stuck_pid, sleepy_pid)) =
                    stuck.open_context::<(u32, u32)>(NS, "watch", ()).await?;
                let pids = [std::process::id(), stuck_pid, sleepy_pid];
                println!("tree up: root, stuck and sleepy are pids {pids:?}");
                let me = std::process::id().to_string();
                let sent = std::process::Command::new("kill")
                    .args(["-USR1", &me])
                    .status()
                    .map_err(|e| Error::raise("OSError", format!("kill: {e}")))?;
                assert!(sent.success(), "kill -USR1 failed");
                // Each dump ends its log with its actor's end marker.
                let deadline = Instant::now() + Duration::from_secs(30);
                for pid in pids {
                    let path = log_path(pid);
                    while !std::fs::read_to_string(&path).is_ok_and(|t| t.contains("end-of-('")) {
                        if Instant::now() > deadline {
                            return Err(Error::raise(
                                "TimeoutError",
                                format!("no dump in {}", path.display()),
                            ));
                        }
                        waiter.sleep(Duration::from_millis(10)).await;
                    }
                    println!("dumped: {}", path.display());
                }
                n.cancel().await;
                Ok(())
            })
            .await
        })
        .await
    })
}
