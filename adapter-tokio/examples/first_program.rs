use tractor_tokio::prelude::*;

/// The arguments of `greeter:hello`, sent as keyword arguments.
#[derive(serde::Serialize, serde::Deserialize)]
struct Greet {
    who: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    // Everything the actors of this program can serve.
    let functions = Functions::new().rpc("greeter", "hello", |g: Greet| async move {
        Ok(format!("hello {}, from pid {}", g.who, std::process::id()))
    });
    // Port 0: this root is its own registrar, on a port the OS picks.
    let config = Config::new("root", functions).registry_addrs([Address::tcp("127.0.0.1", 0)]);

    // A child is this same program run again: there, this call becomes
    // the child and never returns, so only the root runs the body.
    open_root_actor(config, |root| async move {
        root.open_nursery(|nursery| async move {
            let options = ActorOptions::new().enable_modules(["greeter"]);
            let child = nursery.start_actor("greeter", options).await?;
            let reply: String = child
                .run("greeter", "hello", Greet { who: "root".into() })
                .await?;
            println!("root (pid {}) got: {reply}", std::process::id());
            // A daemon serves until cancelled, and the nursery waits for it.
            child.cancel_actor().await?;
            Ok(())
        })
        .await
    })
    .await
}
