//! A cluster: one worker per core started at once, the work split among
//! them and gathered back (Python's `open_actor_cluster`).
//!
//! ```text
//! cargo run -p tractor-examples --example actor_cluster
//! ```
//!
//! The root counts the primes below 200,000 by giving each worker a slice
//! of the range through a typed service, then asks every worker who it is
//! with one call to all (`run_all`, by name, as Python calls). The count
//! is checked against the root's own; when the cluster's body ends, its
//! workers are cancelled and reaped.

use tractor_examples::{
    ActorOptions, Address, ClusterOptions, Config, Error, Functions, Result, Service, current_actor,
};

const LIMIT: u64 = 200_000;

tractor_examples::service! {
    /// Number crunching.
    #[namespace = "primes"]
    trait Primes {
        /// How many primes `n` there are with `lo <= n < hi`.
        async fn count(&self, lo: u64, hi: u64) -> Result<u64>;
        /// The worker's name and process.
        async fn whoami(&self) -> Result<String>;
    }
}

struct Worker;

impl Primes for Worker {
    async fn count(&self, lo: u64, hi: u64) -> Result<u64> {
        Ok((lo..hi).filter(|&n| is_prime(n)).count() as u64)
    }

    async fn whoami(&self) -> Result<String> {
        let me = current_actor().expect("running in an actor");
        Ok(format!("{} (pid {})", me.uid().name, std::process::id()))
    }
}

fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

fn main() -> std::result::Result<(), Error> {
    tractor_examples::block_on(async {
        let functions = Functions::new().serve(PrimesService, Worker);
        let config =
            Config::new("cluster_root", functions).registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            let options = ClusterOptions::new(ActorOptions::new().serve(PrimesService));
            let total = root
                .open_cluster(options, |cluster| async move {
                    let workers = cluster.len() as u64;
                    println!("{workers} workers started at once");
                    let slice = LIMIT.div_ceil(workers);
                    let counts = cluster
                        .map(move |i, portal| async move {
                            let lo = i as u64 * slice;
                            PrimesClient::new(&portal)
                                .count(lo, (lo + slice).min(LIMIT))
                                .await
                        })
                        .await?;
                    println!("counts per worker: {counts:?}");
                    let names: Vec<String> = cluster
                        .run_all(PrimesService::NAMESPACE, "whoami", ())
                        .await?;
                    for name in names {
                        println!("  {name}");
                    }
                    Ok(counts.iter().sum::<u64>())
                })
                .await?;
            let local = (0..LIMIT).filter(|&n| is_prime(n)).count() as u64;
            println!("{total} primes below {LIMIT} (the root alone counts {local})");
            assert_eq!(total, local);
            println!("the cluster has ended: its workers are gone");
            Ok(())
        })
        .await
    })
}
