//! A supervisor: a daemon restarted when its process dies, found again by
//! name, until it dies too often and the supervisor gives up (Erlang/OTP's
//! restart strategies, for process actors).
//!
//! ```text
//! cargo run -p tractor-examples --example supervisor
//! ```
//!
//! The root supervises a `counter` daemon, one-for-one, allowing 3
//! restarts in 10 s. It counts, then makes the counter crash (its process
//! exits with code 3): the portal held to the dead process fails naming
//! it, and the supervisor has already started a new process under the same
//! name, which the registrar gives to anyone who asks, its count fresh.
//! Crashing it over and over exceeds the restart intensity: the
//! supervisor stops its children and fails, and its error is the root's
//! to handle like any other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tractor_examples::{
    ActorOptions, Address, Config, Error, ErrorKind, Functions, RestartStrategy, Result,
    SupervisedActor, SupervisorOptions,
};

tractor_examples::service! {
    /// A counter that lives as long as its process.
    #[namespace = "counter"]
    trait Counter {
        /// Adds one; the count so far.
        async fn bump(&self) -> Result<u64>;
        /// Dies at once, as a process with a bug would.
        async fn crash(&self) -> Result<()>;
    }
}

/// The count of this process.
static COUNT: AtomicU64 = AtomicU64::new(0);

struct Server;

impl Counter for Server {
    async fn bump(&self) -> Result<u64> {
        Ok(COUNT.fetch_add(1, Ordering::SeqCst) + 1)
    }

    async fn crash(&self) -> Result<()> {
        std::process::exit(3)
    }
}

fn main() -> std::result::Result<(), Error> {
    tractor_examples::block_on(async {
        let functions = Functions::new().serve(CounterService, Server);
        let config =
            Config::new("supervisor", functions).registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            let options = SupervisorOptions::new(RestartStrategy::OneForOne)
                .intensity(3, Duration::from_secs(10));
            let finder = root.clone();
            let finder_in = root.clone();
            let outcome: Result<()> = root
                .open_supervisor(options, |sup| async move {
                    let counter = ActorOptions::new().serve(CounterService);
                    let first = sup
                        .start_child(SupervisedActor::new("counter", counter))
                        .await?;
                    let client = CounterClient::new(&first);
                    let mut counts = Vec::new();
                    for _ in 0..3 {
                        counts.push(client.bump().await?);
                    }
                    println!("counter counts {counts:?}");
                    let died = client.crash().await.expect_err("the process exits");
                    println!("the portal to the dead counter: {died}");
                    // A new process, under the same name, for anyone who asks.
                    let again = finder_in.wait_for_actor("counter").await?;
                    let count = CounterClient::new(&again).bump().await?;
                    println!(
                        "restarted ({} restart so far), found by name: it counts {count} again",
                        sup.restarts()
                    );
                    // Dying over and over: more than 3 restarts in 10 s.
                    loop {
                        let portal = sup.portal("counter").await?;
                        let _ = CounterClient::new(&portal).crash().await;
                    }
                })
                .await;
            let e = outcome.expect_err("the supervisor gives up");
            assert!(matches!(e.kind(), ErrorKind::SupervisorFailed(_)));
            println!("{e}");
            match finder.find_actor("counter").await? {
                None => println!("no counter is left running"),
                Some(p) => println!("a counter is still up: {p:?}"),
            }
            Ok(())
        })
        .await
    })
}
