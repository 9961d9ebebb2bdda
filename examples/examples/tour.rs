//! A guided run of a real actor tree: spawning, RPC, a context with a
//! two-way stream, an error climbing the tree, and a clean teardown.
//!
//! ```text
//! cargo run -p tractor-examples --example tour
//! ```
//!
//! Every actor below is its own OS process: this program started again
//! in child mode. The tree runs on tokio, or on smol with
//! `TRACTOR_ADAPTER=smol` (every example does).
//!
//! With `--linger`, the tour stops while its context streams, prints the
//! registrar's address and waits for Enter: time to look at the tree
//! with `tractor-top` from another terminal.
//!
//! ```text
//! cargo run -p tractor-examples --example tour -- --linger
//! ```

use tractor_examples::{
    ActorOptions, Address, Config, Error, Functions, Result, ServedContext, current_actor,
};

tractor_examples::service! {
    /// Arithmetic.
    #[namespace = "tour.math"]
    trait Math {
        /// `x` squared.
        async fn square(&self, x: i64) -> Result<i64>;
    }
}

tractor_examples::service! {
    /// Who serves this.
    #[namespace = "tour.info"]
    trait Info {
        /// The actor, its process and its adapter.
        async fn whoami(&self) -> Result<String>;
    }
}

tractor_examples::service! {
    /// A context: `started` first, then a stream both ways, then a result.
    #[namespace = "tour.echo"]
    trait Echo {
        /// Starts with "ready", sends back each word it gets in capitals,
        /// and returns how many it echoed.
        #[context]
        async fn shout(&self, ctx: ServedContext<String, String, String>) -> Result<u32>;
    }
}

tractor_examples::service! {
    /// Errors that climb a tree.
    #[namespace = "tour.tree"]
    trait Tree {
        /// Spawns a leaf that fails with `why`.
        async fn delegate(&self, why: String) -> Result<()>;
        /// Fails with `why`.
        async fn fail(&self, why: String) -> Result<()>;
    }
}

/// The implementation of every service of the tour.
struct Tour;

impl Math for Tour {
    async fn square(&self, x: i64) -> Result<i64> {
        Ok(x * x)
    }
}

impl Info for Tour {
    async fn whoami(&self) -> Result<String> {
        let me = current_actor().expect("running in an actor");
        Ok(format!(
            "{} (pid {}, on {})",
            me.uid(),
            std::process::id(),
            tractor_examples::adapter_name()
        ))
    }
}

impl Echo for Tour {
    async fn shout(&self, ctx: ServedContext<String, String, String>) -> Result<u32> {
        ctx.started("ready".into()).await?;
        let stream = ctx.open_stream().await?;
        let mut n = 0;
        while let Some(word) = stream.next().await {
            stream.send(&word?.to_uppercase()).await?;
            n += 1;
        }
        Ok(n)
    }
}

impl Tree for Tour {
    // A middle actor that spawns a child of its own, which fails.
    async fn delegate(&self, why: String) -> Result<()> {
        let me = current_actor().expect("running in an actor");
        me.open_nursery(|n| async move {
            let leaf = n
                .start_actor("leaf", ActorOptions::new().serve(TreeService))
                .await?;
            TreeClient::new(&leaf).fail(why).await
        })
        .await
    }

    async fn fail(&self, why: String) -> Result<()> {
        Err(Error::raise("ValueError", why))
    }
}

/// Everything any actor of this program can serve.
fn functions() -> Functions {
    Functions::new()
        .serve(MathService, Tour)
        .serve(InfoService, Tour)
        .serve(EchoService, Tour)
        .serve(TreeService, Tour)
}

/// Waits for a line (or the end) of standard input, without holding the
/// runtime up.
async fn enter_pressed(me: &tractor_examples::ActorHandle) {
    let pressed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = pressed.clone();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_line(&mut String::new());
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    while !pressed.load(std::sync::atomic::Ordering::SeqCst) {
        me.sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn main() -> Result<(), Error> {
    let linger = std::env::args().any(|a| a == "--linger");
    tractor_examples::block_on(async {
        // Children become children right here; only the root goes on.
        let config = Config::new("tour", functions())
            // A registrar of its own, on a free port, so tours never collide.
            .registry_addrs([Address::tcp("127.0.0.1", 0)]);
        tractor_examples::open_root_actor(config, |root| async move {
            println!(
                "1. root actor {} is up (pid {}, on {})",
                root.uid(),
                std::process::id(),
                tractor_examples::adapter_name()
            );
            let me = root.clone();
            root.open_nursery(|n| async move {
                let opts = ActorOptions::new()
                    .serve(MathService)
                    .serve(InfoService)
                    .serve(EchoService);
                let worker = n.start_actor("worker", opts).await?;
                let who = InfoClient::new(&worker).whoami().await?;
                println!("2. spawned a daemon actor: {who}");

                let nine = MathClient::new(&worker).square(3).await?;
                println!("3. RPC: worker says 3² = {nine}");

                let (ctx, first) = EchoClient::new(&worker).shout().await?;
                println!("4. opened a context; the worker started with {first:?}");
                let stream = ctx.open_stream().await?;
                for word in ["hello", "actor", "tree"] {
                    stream.send(&word.to_owned()).await?;
                    let back = stream.receive().await?;
                    println!("   sent {word:?}, got {back:?}");
                }
                if linger {
                    let registrar = me.registry_addrs()[0].clone();
                    println!(
                        "   lingering: the registrar is at {registrar}; from another terminal:"
                    );
                    println!("   cargo run -p tractor-top -- --registry {registrar}");
                    println!("   press Enter to go on");
                    enter_pressed(&me).await;
                }
                stream.close()?;
                let count = ctx.wait_for_result().await?;
                println!("   the context returned: it echoed {count} words");

                println!("5. a middle actor spawns a leaf that raises ValueError...");
                let mid = n
                    .start_actor("middle", ActorOptions::new().serve(TreeService))
                    .await?;
                match TreeClient::new(&mid)
                    .delegate("the leaf gives up".into())
                    .await
                {
                    Ok(()) => println!("   (no error?)"),
                    Err(e) => {
                        let r = e.remote().expect("a remote error");
                        println!(
                            "   it climbed the tree: raised in {}, relayed by {}",
                            r.src_uid(),
                            r.relay_uid().map(ToString::to_string).unwrap_or_default()
                        );
                        println!("{e}");
                    }
                }

                println!("6. cancelling the nursery: every child is reaped");
                n.cancel().await;
                Ok(())
            })
            .await?;
            println!("7. the nursery has exited: no child process is left");
            Ok(())
        })
        .await
    })
}
