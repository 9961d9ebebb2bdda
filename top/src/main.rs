//! `tractor-top`: looks into a running tree. Given its registrar's
//! address, it asks every registered actor for its snapshot
//! (`self.introspect`, see `tractor_tokio::introspect`) and prints the
//! tree: as text (`--once`, the default for now) or as one JSON document
//! (`--json`), for scripts and CI.
//!
//! ```text
//! tractor-top --registry 127.0.0.1:1616 --json
//! tractor-top --registry /unix/run/user/1000/tractor/registry@1616.sock
//! ```
//!
//! It joins the tree as a root of its own (so it is registered while it
//! looks, and leaves it out of what it shows), with the tree's secret
//! from the environment (`TRACTOR_SECRET`, `TRACTOR_SECRET_FILE`) when
//! the tree has one. An actor that does not answer within
//! [`walk::ANSWER_WAIT`] is shown as gone; a Python actor, which does not
//! serve the method, as "python, no introspection".

#![forbid(unsafe_code)]

mod render;
mod walk;

use std::process::ExitCode;

use tractor_tokio::prelude::*;
use tractor_tokio::{Address, Transport};

/// What the command line asks for.
struct Args {
    registry: Address,
    json: bool,
}

const USAGE: &str = "usage: tractor-top [--registry ADDRESS] [--json | --once]
  --registry ADDRESS  the tree's registrar: host:port, /ip4/../tcp/.., or
                      /unix/<path> (default 127.0.0.1:1616)
  --json              print one snapshot of the whole tree as JSON
  --once              print the tree once, as text (the default)";

fn parse(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut out = Args {
        registry: Address::tcp("127.0.0.1", 1616),
        json: false,
    };
    let mut args = args.skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--registry" => {
                let v = args.next().ok_or("--registry needs an address")?;
                out.registry = v.parse().map_err(|e| format!("--registry {v}: {e}"))?;
            }
            "--json" => out.json = true,
            "--once" => out.json = false,
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
    let transport = match args.registry {
        Address::Tcp { .. } => Transport::Tcp,
        Address::Uds { .. } => Transport::Uds,
    };
    let config = Config::new("tractor-top", Functions::new())
        .transport(transport)
        .registry_addrs([args.registry.clone()]);
    let registry = args.registry.to_string();
    let json = args.json;
    let out = open_root_actor(config, |me| async move {
        let seen = walk::walk(&me).await?;
        let out = if json {
            format!("{}\n", render::json(&registry, &seen))
        } else {
            render::text(&seen)
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
            ExitCode::FAILURE
        }
    }
}
