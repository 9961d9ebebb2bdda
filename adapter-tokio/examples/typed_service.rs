use tractor_tokio::prelude::*;

// The service, once: served under the namespace `greeter`.
tractor_tokio::service! {
    trait Greeter {
        async fn hello(&self, who: String) -> Result<String>;
    }
}

struct Polite;

impl Greeter for Polite {
    async fn hello(&self, who: String) -> Result<String> {
        Ok(format!("hello {who}, from pid {}", std::process::id()))
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let functions = Functions::new().serve(GreeterService, Polite);
    let config = Config::new("root", functions).registry_addrs([Address::tcp("127.0.0.1", 0)]);
    open_root_actor(config, |root| async move {
        root.open_nursery(|nursery| async move {
            let options = ActorOptions::new().serve(GreeterService);
            let child = nursery.start_actor("greeter", options).await?;
            // Checked by the compiler: the method, its argument, its result.
            let reply = GreeterClient::new(&child).hello("root".into()).await?;
            println!("root (pid {}) got: {reply}", std::process::id());
            child.cancel_actor().await?;
            Ok(())
        })
        .await
    })
    .await
}
