//! Errors raised in other processes climb the tree to the root.
//!
//! ```text
//! cargo run -p tractor-examples --example remote_error_propagation
//! ```
//!
//! Three acts:
//!
//! 1. A daemon raises `AssertionError` in a call from the root. The root
//!    gets it as a remote error naming the actor that raised it, its type
//!    and the remote traceback; letting it out of the nursery cancels the
//!    other daemons.
//! 2. A middle actor spawns a leaf that fails; the error reaches the root
//!    through the middle actor, which is recorded on the way (the relay
//!    path).
//! 3. Three one-shot actors fail; the nursery reports all three together,
//!    as one group.
//!
//! Every act ends with its nursery, so every process is gone at the end
//! and the program exits normally.

use tractor_examples::{
    ActorOptions, Address, Config, Error, Functions, Result, Service, current_actor,
};

tractor_examples::service! {
    /// Functions that fail.
    #[namespace = "errors"]
    trait Errors {
        /// Fails with an `AssertionError` naming this actor.
        async fn assert_err(&self) -> Result<()>;
        /// Spawns a leaf of its own that fails, and waits for it.
        async fn delegate(&self) -> Result<()>;
    }
}

struct Failing;

impl Errors for Failing {
    async fn assert_err(&self) -> Result<()> {
        let me = current_actor().expect("running in an actor");
        Err(Error::raise(
            "AssertionError",
            format!("{} asserts 0", me.uid().name),
        ))
    }

    async fn delegate(&self) -> Result<()> {
        let me = current_actor().expect("running in an actor");
        me.open_nursery(|n| async move {
            // A one-shot child, as Python's `run_in_actor`: by name.
            let leaf = n
                .run_in_actor(
                    "leaf",
                    ErrorsService::NAMESPACE,
                    "assert_err",
                    (),
                    ActorOptions::new(),
                )
                .await?;
            leaf.wait_for_result::<()>().await
        })
        .await
    }
}

fn functions() -> Functions {
    Functions::new().serve(ErrorsService, Failing)
}

fn daemon() -> ActorOptions {
    ActorOptions::new().serve(ErrorsService)
}

/// The names of the actors an error passed through, source first.
fn path(e: &Error) -> String {
    let Some(r) = e.remote() else {
        return String::from("(not remote)");
    };
    let mut names = vec![r.src_uid().name.clone()];
    names.extend(r.relay_path().iter().map(|u| u.name.clone()));
    names.dedup();
    names.join(" -> ")
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config =
            Config::new("root", functions()).registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            println!("== 1. a daemon raises");
            let out = root
                .open_nursery(|n| async move {
                    let mut daemons = Vec::new();
                    for i in 0..3 {
                        daemons.push(n.start_actor(format!("actor_{i}"), daemon()).await?);
                    }
                    let e = ErrorsClient::new(&daemons[1])
                        .assert_err()
                        .await
                        .expect_err("assert_err always fails");
                    println!("{e}");
                    // Out of the nursery with it: the daemons are cancelled.
                    Err::<(), _>(e)
                })
                .await;
            let e = out.expect_err("the nursery fails");
            let r = e.remote().expect("a remote error");
            println!(
                "the nursery cancelled its 3 daemons and failed with {}'s {}",
                r.src_uid().name,
                r.src_type()
            );

            println!("== 2. a leaf raises, its parent relays");
            let out = root
                .open_nursery(|n| async move {
                    let middle = n.start_actor("middle", daemon()).await?;
                    ErrorsClient::new(&middle).delegate().await
                })
                .await;
            let e = out.expect_err("the leaf fails");
            println!("{e}");
            println!("it came up the tree: {} -> root", path(&e));

            println!("== 3. several children fail");
            let out = root
                .open_nursery(|n| async move {
                    let mut asserters = Vec::new();
                    for i in 0..3 {
                        let name = format!("asserter_{i}");
                        let opts = ActorOptions::new();
                        asserters.push(
                            n.run_in_actor(&name, ErrorsService::NAMESPACE, "assert_err", (), opts)
                                .await?,
                        );
                    }
                    // Wait until each has failed; the nursery then reports
                    // every failure, not only the first.
                    for a in &asserters {
                        let failed = a.wait_for_result::<()>().await.is_err();
                        println!("{} failed: {failed}", a.peer().name);
                    }
                    Ok(())
                })
                .await;
            let group = out.expect_err("the asserters fail");
            println!("{group}");
            let sources: Vec<String> = group.errors().iter().map(path).collect();
            println!(
                "{} errors in one group, from {}",
                sources.len(),
                sources.join(", ")
            );
            println!("Look Ma, those actors failed hard, and the tree is clean");
            Ok(())
        })
        .await
    })
}
