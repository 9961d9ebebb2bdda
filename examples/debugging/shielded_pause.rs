//! Pausing where cancellation is under way: in the cleanup of a function
//! that was cancelled.
//!
//! ```text
//! cargo run -p tractor-examples --example debug_shielded_pause
//! ```
//!
//! The root opens a context with a child and cancels it. Dropping the
//! child's function runs its guard's cleanup, as cancelled code:
//!
//! * `pause()` there fails at once, saying why and what to use instead
//!   (it would otherwise wait for a REPL its cancelled task never gets);
//! * `pause_shielded()` opens the REPL anyway. It runs to its end whatever
//!   happens to its caller, and the child's teardown (and the root's reap
//!   of it) waits until you continue.

use tractor_examples::{
    ActorOptions, Address, Config, Context, Error, Functions, pause, pause_shielded,
};

/// Cleanup that wants to stop in the debugger.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        // The refusal is immediate: nothing here waits.
        if let Err(e) = futures_lite::future::block_on(pause()) {
            eprintln!("pause() refused: {e}");
        }
        // Starts now, in the background; no need to await it.
        drop(pause_shielded());
    }
}

fn functions() -> Functions {
    Functions::new().context(
        "debugging",
        "wait_forever",
        |ctx: Context, (): ()| async move {
            let _cleanup = Cleanup;
            ctx.started(()).await?;
            std::future::pending::<Result<(), Error>>().await
        },
    )
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config = Config::new("root", functions())
            .registry_addrs([Address::tcp("127.0.0.1", 0)])
            .debug_mode(true);
        tractor_examples::open_root_actor(config, |root| async move {
            root.open_nursery(|n| async move {
                let child = n
                    .start_actor("cleaner", ActorOptions::new().enable_modules(["debugging"]))
                    .await?;
                let (ctx, ()) = child.open_context("debugging", "wait_forever", ()).await?;
                ctx.cancel()?;
                let outcome = ctx.wait_for_result::<()>().await;
                println!(
                    "the context ended: {}",
                    outcome.expect_err("it was cancelled")
                );
                // The child is reaped once its REPL ends.
                n.cancel().await;
                Ok(())
            })
            .await
        })
        .await
    })
}
