//! What watching a busy tree costs it: a root calls a daemon's no-op in
//! a loop, two-second windows alternating without and with `tractor-top
//! --json` run against the tree once a second (the refresh rate of a
//! live view), three of each. One line of JSON: the calls per second of
//! each, medians, and their ratio.
//!
//! ```text
//! cargo bench -p tractor-top --bench attached
//! ```
//!
//! Each refresh is a whole `tractor-top` process (start, join the tree,
//! ask every actor, leave): more than a live view that stays connected
//! costs, so the ratio is a bound.

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
            let (mut without, mut with) = (Vec::new(), Vec::new());
            let mut refreshes = 0;
            for _ in 0..ROUNDS {
                without.push(rate(&p).await?);
                let stop = Arc::new(AtomicBool::new(false));
                let watcher = watch(registry.clone(), stop.clone());
                with.push(rate(&p).await?);
                stop.store(true, Ordering::SeqCst);
                refreshes += watcher.join().unwrap_or(0);
            }
            let (a, b) = (median(&mut without), median(&mut with));
            println!(
                "{}",
                serde_json::json!({
                    "figure": "top_attached",
                    "window_s": WINDOW.as_secs(), "rounds": ROUNDS,
                    "refresh_ms": REFRESH.as_millis() as u64,
                    "refreshes_ok": refreshes,
                    "calls_per_s_without": a.round(),
                    "calls_per_s_with": b.round(),
                    "with_vs_without": (b / a * 1000.0).round() / 1000.0,
                    "without_rounds": without.iter().map(|x| x.round()).collect::<Vec<_>>(),
                    "with_rounds": with.iter().map(|x| x.round()).collect::<Vec<_>>(),
                })
            );
            n.cancel().await;
            Ok(())
        })
        .await
    })
    .await
}
