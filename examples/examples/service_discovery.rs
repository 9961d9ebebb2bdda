//! Finding actors by name through the registrar.
//!
//! ```text
//! cargo run -p tractor-examples --example service_discovery
//! ```
//!
//! The first root on a registrar address becomes the tree's registrar;
//! every actor registers its name and addresses there when it starts and
//! unregisters when it ends. This root starts a service daemon, then:
//!
//! * lists the registrar's whole table (`get_registry`);
//! * waits for the service by name (`wait_for_actor`);
//! * asks where it listens (`query_actor`) and gets a portal to it
//!   (`find_actor`), and sees that an unknown name finds nothing;
//! * cancels the service and sees that its name is gone.

use tractor_examples::{ActorOptions, Address, Config, Error, Functions, Result, current_actor};

const SERVICE: &str = "some_actor_name";

tractor_examples::service! {
    /// What an actor says of itself.
    #[namespace = "service"]
    trait Who {
        /// Its name and pid.
        async fn whoami(&self) -> Result<String>;
    }
}

struct Me;

impl Who for Me {
    async fn whoami(&self) -> Result<String> {
        let me = current_actor().expect("running in an actor");
        Ok(format!("{} in pid {}", me.uid().name, std::process::id()))
    }
}

fn functions() -> Functions {
    Functions::new().serve(WhoService, Me)
}

fn main() -> Result<(), Error> {
    tractor_examples::block_on(async {
        let config = Config::new("discovery_root", functions())
            .registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            let registrar = root.registry_addrs();
            println!(
                "the registrar listens on {}; this root is it: {}",
                registrar
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                root.is_registrar()
            );
            let me = root.clone();
            root.open_nursery(|n| async move {
                let root = me;
                let opts = ActorOptions::new().serve(WhoService);
                let service = n.start_actor(SERVICE, opts).await?;

                // `start_actor` returns once the child has connected back. A
                // child registers before it serves its first call, so once it
                // has answered one, the registrar lists it.
                let who = WhoClient::new(&service).whoami().await?;
                println!("started {who}");

                // Every registered actor, as `name.uuid`.
                let table = root.get_registry().await?;
                println!("the registrar knows {} actors:", table.len());
                for (key, addrs) in &table {
                    let name = key.split('.').next().unwrap_or(key);
                    let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                    println!("  {name} at {}", addrs.join(", "));
                }

                // By name alone: no address was passed around.
                let found = root.wait_for_actor(SERVICE).await?;
                println!("wait_for_actor({SERVICE:?}): a portal to {}", found.peer());
                let who = WhoClient::new(&found).whoami().await?;
                println!("  which says it is {who}");
                match root.query_actor(SERVICE).await? {
                    Some(addr) => println!("query_actor({SERVICE:?}): listening on {addr}"),
                    None => println!("query_actor({SERVICE:?}): not registered"),
                }
                if let Some(portal) = root.find_actor(SERVICE).await? {
                    println!("find_actor({SERVICE:?}): a portal to {}", portal.peer());
                }
                let missing = root.find_actor("no_such_actor").await?;
                println!(
                    "find_actor(\"no_such_actor\") found something: {}",
                    missing.is_some()
                );

                // An actor unregisters on its way out.
                service.cancel_actor().await?;
                let after = root.query_actor(SERVICE).await?;
                println!(
                    "after cancelling it, {SERVICE} is registered: {}",
                    after.is_some()
                );
                Ok(())
            })
            .await
        })
        .await
    })
}
