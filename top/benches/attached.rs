//! What watching a busy tree costs it: a root calls a daemon's no-op in
//! a loop, in two-second windows taking turns: without a watcher, with
//! `tractor-top`'s live view attached (on a pty, refreshing once a
//! second), and with `tractor-top --json` run once a second, three of
//! each. One line of JSON: the calls per second of each, medians, and
//! their ratios to the windows without.
//!
//! ```text
//! cargo bench -p tractor-top --bench attached
//! ```
//!
//! Each `--json` refresh is a whole process (start, join the tree, ask
//! every actor, leave); the live view stays connected between its walks.

#![forbid(unsafe_code)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tractor_tokio::Address;
use tractor_tokio::prelude::*;

const WINDOW: Duration = Duration::from_secs(2);
const ROUNDS: usize = 3;
const REFRESH: Duration = Duration::from_secs(1);

fn functions() -> Functions {
    Functions::new().rpc("bench", "noop", |(): ()| async { Ok(()) })
}

/// Calls per second of `noop` on `p` over one window.
async fn rate(p: &Portal) -> Result<f64> {
    let t0 = Instant::now();
    let mut calls = 0u64;
    while t0.elapsed() < WINDOW {
        p.run::<()>("bench", "noop", ()).await?;
        calls += 1;
    }
    Ok(calls as f64 / t0.elapsed().as_secs_f64())
}

/// Runs `tractor-top --json` against `registry` once per [`REFRESH`]
/// until `stop`; returns how many runs succeeded.
fn watch(registry: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u32> {
    std::thread::spawn(move || {
        let mut ok = 0;
        while !stop.load(Ordering::SeqCst) {
            let started = Instant::now();
            let ran = Command::new(env!("CARGO_BIN_EXE_tractor-top"))
                .args(["--registry", &registry, "--json"])
                .stdout(Stdio::null())
                .status();
            if ran.is_ok_and(|s| s.success()) {
                ok += 1;
            }
            if let Some(left) = REFRESH.checked_sub(started.elapsed()) {
                std::thread::sleep(left);
            }
        }
        ok
    })
}

/// `tractor-top`'s live view against `registry`, on a pty whose output
/// a thread of rexpect's reads all along.
fn live(registry: &str) -> rexpect::session::PtySession {
    let mut command = Command::new("sh");
    command
        .args([
            "-c",
            r#"stty cols 120 rows 40 && exec "$0" --registry "$1""#,
            env!("CARGO_BIN_EXE_tractor-top"),
            registry,
        ])
        .env("TERM", "xterm-256color");
    rexpect::session::spawn_command(command, Some(30_000)).expect("the live view starts")
}

/// Quits the live view; whether it had drawn the busy actor.
fn quit(mut view: rexpect::session::PtySession) -> bool {
    let _ = view.send("q");
    let _ = view.flush();
    let drawn = view.exp_eof().unwrap_or_default();
    let _ = view.process_mut().exit();
    drawn.contains("busy")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let config =
        Config::new("top-bench", functions()).registry_addrs([Address::tcp("127.0.0.1", 0)]);
    open_root_actor(config, |root| async move {
        let registry = root.registry_addrs()[0].to_string();
        root.open_nursery(|n| async move {
            let p = n
                .start_actor("busy", ActorOptions::new().enable_modules(["bench"]))
                .await?;
            // Warm: the first calls of a fresh process cost more.
            rate(&p).await?;
            let (mut without, mut viewed, mut with) = (Vec::new(), Vec::new(), Vec::new());
            let (mut refreshes, mut views_drawn) = (0, 0);
            // Each round starts with another kind of window: whichever
            // runs first after a pause runs differently.
            for round in 0..ROUNDS {
                for turn in 0..3 {
                    match (round + turn) % 3 {
                        0 => without.push(rate(&p).await?),
                        1 => {
                            let view = live(&registry);
                            viewed.push(rate(&p).await?);
                            views_drawn += u32::from(quit(view));
                        }
                        _ => {
                            let stop = Arc::new(AtomicBool::new(false));
                            let watcher = watch(registry.clone(), stop.clone());
                            with.push(rate(&p).await?);
                            stop.store(true, Ordering::SeqCst);
                            refreshes += watcher.join().unwrap_or(0);
                        }
                    }
                }
            }
            let a = median(&mut without);
            let (v, b) = (median(&mut viewed), median(&mut with));
            let ratio = |x: f64| (x / a * 1000.0).round() / 1000.0;
            let rounds = |r: &[f64]| r.iter().map(|x| x.round()).collect::<Vec<_>>();
            println!(
                "{}",
                serde_json::json!({
                    "figure": "top_attached",
                    "window_s": WINDOW.as_secs(), "rounds": ROUNDS,
                    "refresh_ms": REFRESH.as_millis() as u64,
                    "live_views_drawn": views_drawn,
                    "json_refreshes_ok": refreshes,
                    "calls_per_s_without": a.round(),
                    "calls_per_s_live": v.round(),
                    "calls_per_s_json": b.round(),
                    "live_vs_without": ratio(v),
                    "json_vs_without": ratio(b),
                    "without_rounds": rounds(&without),
                    "live_rounds": rounds(&viewed),
                    "json_rounds": rounds(&with),
                })
            );
            n.cancel().await;
            Ok(())
        })
        .await
    })
    .await
}
