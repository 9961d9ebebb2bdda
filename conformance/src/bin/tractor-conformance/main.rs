//! The conformance suite's actor program: every function the scenarios
//! call, and every scenario as a root.
//!
//! `tractor-conformance <scenario-id> [tcp|uds] [registrar]` runs one
//! scenario as the root of a real tree and prints `facts` (one `key=value`
//! per line) that the tests check, then `ok`. With `registrar` (a TCP port
//! on the loopback interface, or a socket file in the runtime directory)
//! the root uses that registrar, typically the `registrar-daemon` scenario
//! running as another program; otherwise the tree has its own. Started by
//! a parent as a child, the same program serves the functions below.
//! `tractor-conformance --list` prints the id of every scenario it has,
//! one a line: `tests/catalogue.rs` checks the catalogue against it.
//!
//! The program's parts: [`scenarios::SCENARIOS`], the one table from a
//! scenario's id to what runs it, and a module per family of ids (by
//! their prefix) under [`scenarios`]; [`functions`], the functions its
//! actors serve, and [`errors`], the error types they relay; [`support`],
//! what the scenarios share. This file configures the root for an id
//! ([`configure`]) and runs it ([`run`]). Every module starts with
//! `use crate::*`: the imports below, and those of [`support`],
//! [`functions`] and [`errors`], are the program's prelude.
//!
//! A few scenarios (`spawn-one-root-in-sub`, `tpt-proto-mismatch`,
//! `tpt-uds-bindspace-created`, `disc-registrar-bind-union` on Unix
//! sockets) state behaviour the runtime does not have yet;
//! `tests/scenarios.txt` says so, and no test runs them.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tractor_adapters::Adapter;
use tractor_conformance::ADAPTER;
use tractor_driver::stackscope::Traced;
use tractor_driver::{
    ActorHandle, ActorNursery, ActorOptions, Address, ClusterOptions, Config, Context,
    ContextCache, DEFAULT_BROADCAST_CAPACITY, DialogError, Error, ErrorKind, Functions, MsgStream,
    Portal, Publisher, ReapTimeouts, RemoteErrorType, Result, Runtime, ServedContext, Service,
    Transport, current_actor, is_root_process, register_error_type, registered_error_type,
};

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(Error::raise("AssertionError", format!($($msg)+)));
        }
    };
}

mod errors;
mod functions;
mod scenarios;
mod support;

use errors::*;
use functions::*;
use scenarios::{SCENARIOS, Scenario};
use support::*;

/// The limits `CONF_LIMITS` asks for: `max_connections`, `max_pending`,
/// `max_dialogs`, `max_queued_bytes`, `max_queued_frames`, `stall_ms` and
/// `max_frame`, comma-separated `key=value`s.
fn limits_from_env(mut config: Config) -> Result<Config> {
    let Ok(spec) = std::env::var("CONF_LIMITS") else {
        return Ok(config);
    };
    let mut limits = tractor_driver::Limits::default();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let n: u64 = value
            .parse()
            .map_err(|e| Error::raise("ValueError", format!("CONF_LIMITS {part:?}: {e}")))?;
        match key {
            "max_connections" => limits.max_connections = n as usize,
            "max_pending" => limits.max_pending_connections = n as usize,
            "max_dialogs" => limits.max_dialogs_per_peer = n as usize,
            "max_queued_bytes" => limits.max_queued_bytes = n as usize,
            "max_queued_frames" => limits.max_queued_frames = n as usize,
            "stall_ms" => limits.stall_timeout = Duration::from_millis(n),
            "max_frame" => config = config.max_frame_len(n as u32),
            other => {
                return Err(Error::raise(
                    "KeyError",
                    format!("CONF_LIMITS: no limit {other:?}"),
                ));
            }
        }
    }
    Ok(config.limits(limits))
}

/// The root's settings for scenario `id`: its own registrar (on a free TCP
/// port, or in the tree's runtime directory), or the one given.
fn configure(id: &str, transport: Transport, registry: Option<&str>) -> Result<Config> {
    let name = match id {
        "registrar-daemon" => "registrar".to_owned(),
        "registry-probe" => "probe".to_owned(),
        "registry-wait" => "finder".to_owned(),
        "disc-registrar-election-race" => format!("racer-{}", extra_arg(0)?),
        _ => "root".to_owned(),
    };
    let mut config = Config::new(name, functions())
        .transport(transport)
        .enable_modules([NS])
        .serve(MathService);
    match registry {
        Some(r) => config = config.registry_addrs([registry_addr(transport, r)?]),
        // Each tree its own registrar, on a free port.
        None if transport == Transport::Tcp => {
            config = config.registry_addrs([Address::tcp("127.0.0.1", 0)]);
        }
        None => {}
    }
    if id == "attack-daemon" {
        config = limits_from_env(config)?;
    }
    // Addresses given as multiaddr text, as a Python configuration does.
    let maddr = |text: String| -> Result<Address> {
        text.parse()
            .map_err(|e| Error::raise("ValueError", format!("{text}: {e}")))
    };
    let runtime_dir = || -> Result<String> {
        let dir = tractor_driver::runtime_dir()?;
        Ok(dir.to_string_lossy().trim_start_matches('/').to_owned())
    };
    let pid = std::process::id();
    match (id, transport) {
        ("disc-reg-then-unreg-maddr", Transport::Tcp) => {
            config = config.registry_addrs([maddr("/ip4/127.0.0.1/tcp/0".into())?]);
        }
        ("disc-reg-then-unreg-maddr", _) => {
            let text = format!("/unix/{}/maddr-registry@{pid}.sock", runtime_dir()?);
            config = config.registry_addrs([maddr(text)?]);
        }
        ("disc-bind-maddr-str", Transport::Tcp) => {
            config.bind_addrs = vec![maddr("/ip4/127.0.0.1/tcp/0".into())?];
        }
        ("disc-bind-maddr-str", _) => {
            let text = format!("/unix/{}/maddr-bound@{pid}.sock", runtime_dir()?);
            config.bind_addrs = vec![maddr(text)?];
        }
        _ => {}
    }
    match id {
        "spawn-debug-flag-inherited" => config.debug_mode = true,
        "dbg-debug-filter" => {
            config.debug_mode = true;
            config = config.debug_filter(|e| e.type_name() != Some("KeyError"));
        }
        // The same program's children: the filter rides in their
        // environment.
        _ if let Ok(skip) = std::env::var(SKIP_CRASH) => {
            config = config.debug_filter(move |e| e.type_name() != Some(skip.as_str()));
        }
        _ if id.starts_with("dbg-") => config.debug_mode = true,
        // dump-env-propagation: only TRACTOR_ENABLE_STACKSCOPE, from the
        // test, turns dumps on.
        "dump-sigusr1-hierarchical" | "dump-guest-tasks" => {
            config = config.enable_stack_on_sig(true)
        }
        "cancel-graceful-before-hard-reap"
        | "cancel-sigterm-root"
        | "cancel-second-signal"
        | "cancel-signal-during-wind-down" => {
            // Only the graceful path (or the kill a second signal makes)
            // can end the children in time: a hard reap would outlast the
            // harness's patience.
            let never = Duration::from_secs(600);
            config = config.reap_timeouts(ReapTimeouts {
                cancel_ack: never,
                kill_after: never,
            });
        }
        "disc-non-registrar-binds-exact" => {
            config.bind_addrs = vec![match transport {
                Transport::Tcp => Address::tcp("127.0.0.1", 0),
                _ => Address::uds(
                    tractor_driver::runtime_dir()?.to_string_lossy(),
                    "exact@conformance.sock",
                ),
            }];
        }
        "tpt-uds-double-listen" => config.bind_addrs = config.registry_addrs.clone(),
        "auth-insecure-bind" if transport == Transport::Tcp => {
            config.bind_addrs = vec![Address::tcp("0.0.0.0", 0)];
        }
        "auth-tree-generated" => config = config.secret(tractor_driver::TreeSecret::Generate),
        "tpt-limits-inherited" => {
            // A small limit in the root's configuration, for the whole
            // tree (`tpt-limits-inherited-env` takes it from the environment).
            config = config.limits(tractor_driver::Limits {
                max_dialogs_per_peer: INHERITED_DIALOGS,
                ..tractor_driver::Limits::default()
            });
        }
        "auth-wrong-secret-registrar" => {
            // The tree's registrar, with a secret of its own.
            config = config.secret(tractor_driver::TreeSecret::Value(
                tractor_driver::Secret::new("a-secret-of-another-tree")
                    .map_err(|e| Error::raise("ValueError", e.to_string()))?,
            ));
        }
        "auth-wrong-secret" => {
            // Its own registrar, and a secret of its own (a configured
            // secret wins over the tree's environment).
            config = config
                .registry_addrs([match transport {
                    Transport::Tcp => Address::tcp("127.0.0.1", 0),
                    _ => Address::uds(
                        tractor_driver::runtime_dir()?.to_string_lossy(),
                        "stranger@conformance.sock",
                    ),
                }])
                .secret(tractor_driver::TreeSecret::Value(
                    tractor_driver::Secret::new("a-secret-of-another-tree")
                        .map_err(|e| Error::raise("ValueError", e.to_string()))?,
                ));
        }
        "disc-registrar-bind-union" if transport == Transport::Uds => {
            // A registrar asked to bind its own address once more.
            let reg = Transport::Uds.default_registry(&tractor_driver::runtime_dir()?);
            config = config.registry_addrs([reg.clone()]);
            config.bind_addrs = vec![reg];
        }
        _ => {}
    }
    Ok(config)
}

fn registry_addr(transport: Transport, spec: &str) -> Result<Address> {
    Ok(match transport {
        Transport::Tcp => Address::tcp(
            "127.0.0.1",
            spec.parse::<u16>()
                .map_err(|e| Error::raise("ValueError", format!("port {spec:?}: {e}")))?,
        ),
        _ => Address::uds(tractor_driver::runtime_dir()?.to_string_lossy(), spec),
    })
}

/// Runs scenario `id`: around the root (or without one), or as its body;
/// an id the table does not have fails inside a root, as a scenario that
/// raises does.
async fn run(id: &str, transport: Transport, registry: Option<&str>) -> Result<()> {
    let rt = runtime();
    match scenarios::find(id) {
        Some(Scenario::Around(around)) => around(rt, transport, registry).await,
        Some(Scenario::Configured(f)) => f(rt, configure(id, transport, registry)?).await,
        Some(Scenario::Body(body)) => {
            let config = configure(id, transport, registry)?;
            tractor_driver::open_root_actor(rt, config, body).await
        }
        // Plain code has run before any runtime: not a root's.
        Some(Scenario::Plain(_)) | None => {
            let config = configure(id, transport, registry)?;
            tractor_driver::open_root_actor(rt, config, |root| async move {
                let _root = root;
                Err(Error::raise("KeyError", format!("no scenario {id:?}")))
            })
            .await
        }
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--list") {
        for (id, _) in SCENARIOS {
            println!("{id}");
        }
        return;
    }
    // A launched child reads its settings before this program reads any.
    tractor_driver::launch::bootstrap();
    // In every actor of the program: each one is this program again.
    register_error_type::<CustomAppError>();
    register_error_type::<AnotherAppError>();
    register_error_type::<MathError>();
    let watched = [
        "log-daemon-wait",
        "cancel-second-signal",
        "cancel-signal-during-wind-down",
    ];
    if std::env::args()
        .nth(1)
        .is_some_and(|id| watched.contains(&id.as_str()))
        && is_root_process()
    {
        // The console, and an eye on it for the nursery's notice and the
        // signals acted on.
        use tracing_subscriber::prelude::*;
        let level = std::env::var(tractor_driver::log::ENV).unwrap_or_else(|_| "info".into());
        tracing_subscriber::registry()
            .with(tractor_driver::log::console(&level).expect("a known level"))
            .with(scenarios::log::DaemonNoticeSeen)
            .with(scenarios::cancel::SignalsHeard)
            .init();
    } else if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }
    if std::env::var_os(STALL_BEFORE_ENTRY).is_some() && !is_root_process() {
        // A child that never reaches the entry point, and so never
        // connects back: until it is killed.
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    // Plain code, no actor: a failure stops in a REPL, then goes on.
    if let Some(Scenario::Plain(plain)) =
        std::env::args().nth(1).and_then(|id| scenarios::find(&id))
    {
        std::process::exit(plain());
    }
    // A child's command line is the runtime's own, not a scenario's.
    let args: Vec<String> = if is_root_process() {
        std::env::args().skip(1).collect()
    } else {
        Vec::new()
    };
    let root = async move {
        let id = args.first().cloned().unwrap_or_default();
        let transport = match args.get(1).map(String::as_str) {
            Some("uds") => Transport::Uds,
            _ => Transport::Tcp,
        };
        match run(&id, transport, args.get(2).map(String::as_str)).await {
            Ok(()) => {
                println!("ok");
                0
            }
            Err(e) => {
                fact("root_error", describe(&e));
                eprintln!("{e:#}");
                // A SIGTERMed tree exits as a process SIGTERM ended
                // reads in a shell: 128 + 15.
                if matches!(e.kind(), ErrorKind::Terminated) {
                    143
                } else {
                    1
                }
            }
        }
    };
    // tokio's current-thread runtime, or its multi-threaded one when
    // `TRACTOR_TOKIO_WORKERS` says so (the tests run both).
    let code = Adapter::from_env().block_on(root);
    std::process::exit(code);
}
