//! `tractor-top`: looks into a running tree. Given its registrar's
//! address, it asks every registered actor for its snapshot
//! (`self.introspect`, see `tractor_tokio::introspect`), 64 at a time, and
//! shows the tree: live in the terminal, walked again about once a
//! second (the default when its input and output are a terminal: see [`live`] for
//! the keys), once as text (`--once`, the default otherwise), or once as
//! one JSON document (`--json`), for scripts and CI.
//!
//! ```text
//! tractor-top --registry 127.0.0.1:1616
//! tractor-top --registry 127.0.0.1:1616 --json
//! tractor-top --registry /unix/run/user/1000/tractor/registry@1616.sock --once
//! ```
//!
//! The address may be the tree's registrar's or any tractor-rs actor's
//! of the tree (which tells its registrar); of a Python tree, its
//! registrar's. `tractor-top` runs as a root of its own,
//! its own registrar on a free loopback port (so it joins no tree and
//! holds no address a tree looks for), and connects with the tree's
//! secret from the environment (`TRACTOR_SECRET`, `TRACTOR_SECRET_FILE`)
//! when the tree has one: without it, such a tree closes the connection
//! without a word, and `tractor-top` fails saying so. An actor that does
//! not answer within [`walk::ANSWER_WAIT`] is shown as gone; a Python
//! actor, which does not serve the method, as "python, no
//! introspection".

#![forbid(unsafe_code)]

mod live;
mod render;
mod view;
mod walk;

use std::io::IsTerminal;
use std::process::ExitCode;

use tractor_tokio::prelude::*;
use tractor_tokio::{Address, Transport};

/// How the tree is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Live in the terminal.
    Live,
    /// Once, as text.
    Once,
    /// Once, as JSON.
    Json,
}

/// What the command line asks for.
struct Args {
    registry: Address,
    mode: Mode,
}

const USAGE: &str = "usage: tractor-top [--registry ADDRESS] [--live | --once | --json]
  --registry ADDRESS  the tree's registrar, or any actor of the tree:
                      host:port, /ip4/../tcp/.., or /unix/<path>
                      (default 127.0.0.1:1616)
  --live              show the tree live, walked about once a second (the
                      default on a terminal); keys: up/down select, d task
                      dump, esc close it, q quit
  --once              print the tree once, as text (the default otherwise)
  --json              print one snapshot of the whole tree as JSON";

fn parse(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let on_terminal = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let mut out = Args {
        registry: Address::tcp("127.0.0.1", 1616),
        mode: if on_terminal { Mode::Live } else { Mode::Once },
    };
    let mut args = args.skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--registry" => {
                let v = args.next().ok_or("--registry needs an address")?;
                out.registry = v.parse().map_err(|e| format!("--registry {v}: {e}"))?;
            }
            "--json" => out.mode = Mode::Json,
            "--once" => out.mode = Mode::Once,
            "--live" => out.mode = Mode::Live,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(out)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse(std::env::args()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // A registrar of its own, on a free loopback port: it joins no tree,
    // and holds no address a tree looks for.
    let config = Config::new("tractor-top", Functions::new())
        .transport(Transport::Tcp)
        .registry_addrs([Address::tcp("127.0.0.1", 0)]);
    let (addr, mode) = (args.registry, args.mode);
    if mode == Mode::Live {
        // The runtime's log lines would scribble over the view.
        let _ =
            tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default());
    }
    let out = open_root_actor(config, |me| async move {
        let mut walker = match walk::Walker::find(me, addr.clone()).await {
            Ok(w) => w,
            Err(e) => return Ok(Err((addr, e))),
        };
        if mode == Mode::Live {
            return live::run(walker).await.map(Ok);
        }
        let seen = walker.walk().await?;
        let out = match mode {
            Mode::Json => format!("{}\n", render::json(&walker.registrar().to_string(), &seen)),
            _ => render::text(&seen),
        };
        // A reader that went away (`| head`) is not an error of ours.
        let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
        Ok(Ok(()))
    })
    .await;
    match out {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tractor-top: {e}");
            ExitCode::FAILURE
        }
        // No tree there: where it was looked for, and why.
        Ok(Err((addr, e))) => {
            let e = e.to_string();
            eprintln!("tractor-top: no tree found at {addr}: {e}");
            // A tree with a secret says nothing to a stranger: it only
            // closes the connection.
            let no_secret = ["TRACTOR_SECRET", "TRACTOR_SECRET_FILE"]
                .iter()
                .all(|k| std::env::var_os(k).is_none());
            if no_secret && e.contains("closed") {
                eprintln!(
                    "tractor-top: (if the tree has a secret, give it in TRACTOR_SECRET or TRACTOR_SECRET_FILE)"
                );
            }
            ExitCode::FAILURE
        }
    }
}
