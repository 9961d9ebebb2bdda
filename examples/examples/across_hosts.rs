//! A tree across hosts: one worker on each host, started through `ssh`,
//! or, given no host, in a network namespace of its own on this machine.
//!
//! ```text
//! # Two hosts that run this same program at this same path, and reach
//! # this machine at 10.0.0.1:
//! cargo run -p tractor-examples --example across_hosts -- --listen 10.0.0.1 node1 node2
//! # The same, with ssh options of your own (the words before the host):
//! cargo run -p tractor-examples --example across_hosts -- --listen 10.0.0.1 \
//!     --ssh "ssh -T -i ~/.ssh/cluster -p 2222" node1 node2
//! # No host: one network namespace per worker (needs root and `ip`):
//! sudo cargo run -p tractor-examples --example across_hosts
//! ```
//!
//! Each worker is an ordinary child, only started through a launcher
//! (`ActorOptions::launcher`): `ssh -T <host>`, or `ip netns exec <ns>`.
//! The tree runs over TLS with a tree CA the root generates; the CA and
//! the worker's other settings reach it on its stdin. It connects back to
//! the root's address, says where it runs, squares numbers streamed to
//! it, and its error reaches the root with its name. When the root's body
//! ends, the workers are cancelled and reaped through their launchers,
//! and the namespaces are removed.

use std::net::Ipv4Addr;
use std::process::Command;

use tractor_examples::{
    ActorOptions, Address, CommandPrefix, Config, Context, Error, Functions, TlsConfig,
    current_actor,
};

/// The worker's functions.
fn functions() -> Functions {
    Functions::new()
        .rpc("worker", "where", |(): ()| async move {
            let me = current_actor().expect("in an actor");
            let netns = std::fs::read_link("/proc/self/ns/net")
                .map(|l| l.display().to_string())
                .unwrap_or_default();
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            Ok(format!(
                "{} on {} (pid {}, {netns}, listening on {})",
                me.uid().name,
                host.trim(),
                std::process::id(),
                me.accept_addrs()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ))
        })
        .context("worker", "squares", |ctx: Context, (): ()| async move {
            ctx.started(()).await?;
            let stream = ctx.open_stream().await?;
            let mut n = 0u32;
            while let Some(x) = stream.next::<i64>().await {
                let x = x?;
                stream.send(&(x * x)).await?;
                n += 1;
            }
            Ok(n)
        })
        .rpc("worker", "fail", |(): ()| async move {
            Err::<(), _>(Error::raise("ValueError", "raised on the far side"))
        })
}

/// A network namespace joined to this one by a veth pair, removed when
/// dropped.
struct Netns {
    name: String,
    link: String,
    here: Ipv4Addr,
    there: Ipv4Addr,
}

fn ip(args: &[&str]) -> std::io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The third octet of run `pid`'s namespace `i` (1 or 2).
fn subnet(pid: u32, i: u8) -> u8 {
    ((pid % 127) * 2) as u8 + i - 1
}

impl Netns {
    fn new(i: u8) -> std::io::Result<Netns> {
        let pid = std::process::id();
        let ns = Netns {
            name: format!("across-{pid}-{i}"),
            link: format!("acr{}x{i}", pid % 100_000),
            // A /30 of 10.198.0.0/16 of this run's own.
            here: Ipv4Addr::new(10, 198, subnet(pid, i), 1),
            there: Ipv4Addr::new(10, 198, subnet(pid, i), 2),
        };
        let peer = format!("acr{}y{i}", pid % 100_000);
        ip(&["netns", "add", &ns.name])?;
        ip(&[
            "link", "add", &ns.link, "type", "veth", "peer", "name", &peer,
        ])?;
        ip(&["link", "set", &peer, "netns", &ns.name])?;
        ip(&["addr", "add", &format!("{}/30", ns.here), "dev", &ns.link])?;
        ip(&["link", "set", &ns.link, "up"])?;
        let inside = |args: &[&str]| {
            let mut all = vec!["-n", ns.name.as_str()];
            all.extend_from_slice(args);
            ip(&all)
        };
        inside(&["addr", "add", &format!("{}/30", ns.there), "dev", &peer])?;
        inside(&["link", "set", &peer, "up"])?;
        inside(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["link", "delete", &self.link]);
        let _ = ip(&["netns", "delete", &self.name]);
    }
}

/// Where each worker runs: its launcher, and the addresses of the root and
/// of the worker as each reaches the other.
struct Place {
    launcher: Vec<String>,
    root: Ipv4Addr,
    worker: Option<Ipv4Addr>,
}

fn main() -> std::result::Result<(), Error> {
    // A worker started through a launcher reads its settings first.
    tractor_examples::launch::bootstrap();
    if !tractor_examples::is_root_process() {
        // A worker: the entry point turns this process into it.
        return tractor_examples::block_on(tractor_examples::open_root_actor(
            Config::new("across", functions()),
            |_| async { Ok(()) },
        ));
    }
    let mut args = std::env::args().skip(1).peekable();
    let mut listen = None;
    let mut ssh = vec!["ssh".to_owned(), "-T".to_owned()];
    let mut hosts = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next(),
            "--ssh" => {
                let words = args.next().unwrap_or_default();
                ssh = words.split_whitespace().map(str::to_owned).collect();
                if ssh.is_empty() {
                    return Err(Error::raise("ValueError", "--ssh: no command"));
                }
            }
            _ => hosts.push(a),
        }
    }
    let mut namespaces = Vec::new();
    let places: Vec<Place> = if hosts.is_empty() {
        for i in 0..2 {
            match Netns::new(i + 1) {
                Ok(ns) => namespaces.push(ns),
                Err(e) => {
                    eprintln!(
                        "no network namespace here ({e}): run as root, with `ip`, or name hosts"
                    );
                    return Ok(());
                }
            }
        }
        namespaces
            .iter()
            .map(|ns| Place {
                launcher: ["ip", "netns", "exec", &ns.name]
                    .map(str::to_owned)
                    .to_vec(),
                root: ns.here,
                worker: Some(ns.there),
            })
            .collect()
    } else {
        // The workers connect back to it: it must be an address of this
        // host as theirs reach it.
        let root: Ipv4Addr = listen
            .as_deref()
            .ok_or_else(|| {
                Error::raise(
                    "ValueError",
                    "--listen <address>: where the hosts reach this one",
                )
            })?
            .parse()
            .map_err(|e| Error::raise("ValueError", format!("--listen: {e}")))?;
        hosts
            .iter()
            .map(|h| Place {
                launcher: ssh.iter().cloned().chain([h.clone()]).collect(),
                root,
                worker: None,
            })
            .collect()
    };
    let binds: Vec<Address> = places
        .iter()
        .map(|p| Address::tcp(p.root.to_string(), 0))
        .collect();
    tractor_examples::block_on(async move {
        let mut config = Config::new("across", functions())
            .tls(TlsConfig::generate())
            .registry_addrs([binds[0].clone()]);
        config.bind_addrs = binds.clone();
        tractor_examples::open_root_actor(config, |root| async move {
            let bound = root.accept_addrs();
            let netns = std::fs::read_link("/proc/self/ns/net")?;
            println!("root (pid {}, {})", std::process::id(), netns.display());
            root.open_nursery(|n| async move {
                let mut workers = Vec::new();
                for (i, place) in places.iter().enumerate() {
                    // The root's address on the network the worker is on.
                    let parent = bound
                        .iter()
                        .find(|a| a.to_string().starts_with(&place.root.to_string()))
                        .cloned()
                        .unwrap_or_else(|| bound[0].clone());
                    let mut options = ActorOptions::new()
                        .enable_modules(["worker"])
                        .launcher(CommandPrefix::new(place.launcher.clone()).parent_addr(parent));
                    if let Some(at) = place.worker {
                        options.bind_addrs = Some(vec![Address::tcp(at.to_string(), 0)]);
                    }
                    workers.push(n.start_actor(format!("worker-{i}"), options).await?);
                }
                for w in &workers {
                    let said: String = w.run("worker", "where", ()).await?;
                    println!("{said}");
                }
                for w in &workers {
                    let (ctx, ()) = w.open_context("worker", "squares", ()).await?;
                    let stream = ctx.open_stream().await?;
                    let mut squares = Vec::new();
                    for x in 1..=5i64 {
                        stream.send(&x).await?;
                        squares.push(stream.receive::<i64>().await?);
                    }
                    stream.close()?;
                    let count: u32 = ctx.wait_for_result().await?;
                    println!("{} squared {count}: {squares:?}", w.peer().name);
                }
                let e = workers[0]
                    .run::<()>("worker", "fail", ())
                    .await
                    .expect_err("it raises");
                let from = e
                    .remote()
                    .map(|r| r.src_uid().name.clone())
                    .unwrap_or_default();
                println!(
                    "an error from {from}: {}",
                    e.remote().map(|r| r.text()).unwrap_or_default()
                );
                n.cancel().await;
                Ok(())
            })
            .await
        })
        .await?;
        println!("every worker is gone");
        Ok::<(), Error>(())
    })?;
    drop(namespaces);
    Ok(())
}
