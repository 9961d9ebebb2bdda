//! `tractor-top`: looks into a running tree. Given its registrar's
//! address, it asks every registered actor for its snapshot
//! (`self.introspect`, see `tractor_tokio::introspect`), 64 at a time, and
//! shows the tree: live in the terminal, walked again about once a
//! second (the default when its output is a terminal: see [`live`] for
//! the keys), once as text (`--once`, the default otherwise), or once as
//! one JSON document (`--json`), for scripts and CI.
//!
//! ```text
//! tractor-top --registry 127.0.0.1:1616
//! tractor-top --registry 127.0.0.1:1616 --json
//! tractor-top --registry /unix/run/user/1000/tractor/registry@1616.sock --once
//! ```
//!
//! It joins the tree as a root of its own (so it is registered while it
//! looks, and leaves it out of what it shows), with the tree's secret
//! from the environment (`TRACTOR_SECRET`, `TRACTOR_SECRET_FILE`) when
//! the tree has one (without it, such a tree's registrar closes the
//! connection without a word, and `tractor-top` fails once it has tried
//! for half a minute, as a root does). It fails at once if nothing
//! listens at the address. An actor that does not answer within
//! [`walk::ANSWER_WAIT`] is shown as gone; a Python actor, which does not
//! serve the method, as "python, no introspection".

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
  --registry ADDRESS  the tree's registrar: host:port, /ip4/../tcp/.., or
                      /unix/<path> (default 127.0.0.1:1616)
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

/// Whether something accepts connections at `addr`.
fn listening(addr: &Address) -> std::io::Result<()> {
    use std::net::ToSocketAddrs;
    match addr {
        Address::Tcp { host, port } => {
            let mut last = std::io::Error::other("the host resolves to no address");
            for a in (host.as_str(), *port).to_socket_addrs()? {
                match std::net::TcpStream::connect_timeout(&a, walk::ANSWER_WAIT) {
                    Ok(_) => return Ok(()),
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
        Address::Uds { dir, file } => {
            std::os::unix::net::UnixStream::connect(std::path::Path::new(dir).join(file)).map(drop)
        }
    }
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
    // Nothing there: as a root, this would become the registrar of an
    // empty tree of its own (and hold the address a tree starting later
    // would look for).
    if let Err(e) = listening(&args.registry) {
        eprintln!("tractor-top: no registrar at {}: {e}", args.registry);
        return ExitCode::FAILURE;
    }
    let transport = match args.registry {
        Address::Tcp { .. } => Transport::Tcp,
        Address::Uds { .. } => Transport::Uds,
    };
    let config = Config::new("tractor-top", Functions::new())
        .transport(transport)
        .registry_addrs([args.registry.clone()]);
    let registry = args.registry.to_string();
    let mode = args.mode;
    if mode == Mode::Live {
        // The runtime's log lines would scribble over the view.
        let _ =
            tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default());
    }
    let out = open_root_actor(config, |me| async move {
        if mode == Mode::Live {
            return live::run(me, registry).await;
        }
        let seen = walk::Walker::new(me).walk().await?;
        let out = match mode {
            Mode::Json => format!("{}\n", render::json(&registry, &seen)),
            _ => render::text(&seen),
        };
        // A reader that went away (`| head`) is not an error of ours.
        let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
        Ok(())
    })
    .await;
    match out {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tractor-top: {e}");
            // A tree with a secret says nothing to a stranger: it only
            // closes the connection, as a registrar still starting might.
            let no_secret = ["TRACTOR_SECRET", "TRACTOR_SECRET_FILE"]
                .iter()
                .all(|k| std::env::var_os(k).is_none());
            if no_secret && e.to_string().contains("did not answer as a registrar") {
                eprintln!(
                    "tractor-top: (if the tree has a secret, give it in TRACTOR_SECRET or TRACTOR_SECRET_FILE)"
                );
            }
            ExitCode::FAILURE
        }
    }
}
