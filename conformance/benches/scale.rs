//! What a tree costs as it grows: memory per idle child, time to bring
//! up and tear down many children, and opening contexts with thousands
//! already open on one channel.
//!
//! ```text
//! cargo bench -p tractor-conformance --bench scale              # a minute or so
//! cargo bench -p tractor-conformance --bench scale -- --quick   # a few seconds
//! cargo bench -p tractor-conformance --bench scale -- --only=contexts
//! ```
//!
//! One line of JSON per figure and adapter (tokio, then smol), each with
//! its target and whether it is met:
//!
//! * `idle_rss`: eight daemons, each after answering one call, then left
//!   idle: their resident set (`VmRSS`) and proportional set (`Pss`, what
//!   a process costs once pages shared with its siblings are divided
//!   among them), median, minimum and maximum. Target: RSS ≤ 3 MiB.
//! * `scale`: 10, 100 and 1,000 daemons started in one batch
//!   (`start_actors`), each then answering one call, all calls in flight
//!   at once: time until every answer is in, the cost per actor, and the
//!   teardown of the lot (the nursery's cancel to its end). Targets: the
//!   1,000 answered within 1.5 s; the cost per actor at 1,000 within 2×
//!   of that at 10. The quick run stops at 100.
//! * `contexts`: one daemon; 10,000 contexts opened on its channel, a
//!   hundred at a time (each by a task of its own), and kept open: the
//!   time per open over the last 1,000 (with 9,000 or more open), against
//!   the first 1,000; then the latency of one open at a time with all of
//!   them open; memory per open context, in the root and in the child
//!   (RSS growth ÷ contexts). Target: ≤ 20 µs per open at 10,000.
//!
//! * `guest`: what a guest runtime (`ActorOptions::guest`) adds to an
//!   idle child: four daemons without one and four with one, each after
//!   the same calls: threads, RSS and PSS (medians), and the time of a
//!   `to_guest::run` of an empty future, against an `ActorHandle::spawn`
//!   of one joined in the same child (the baseline). No target: the
//!   README reports it.
//!
//! The tree runs on Unix sockets with a registrar of its own, with its
//! limits raised for the figures (`TRACTOR_MAX_CONNECTIONS`,
//! `TRACTOR_MAX_PENDING_CONNECTIONS`, `TRACTOR_MAX_DIALOGS_PER_PEER`:
//! each line says what it ran with).

#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tractor_adapters::Adapter;
use tractor_driver::{
    ActorHandle, ActorOptions, Address, Config, Context, Error, Functions, Limits, Portal, Runtime,
    Transport,
};

/// The namespace of the benchmark's functions.
const NS: &str = "scale";
/// Names of this tree's actors, and so of its socket files, start so.
const PREFIX: &str = "sc-";
/// Tells a child which adapter to run on.
const ADAPTER: &str = tractor_conformance::ADAPTER;
/// The adapter the tree being measured runs on.
static CURRENT_ADAPTER: Mutex<&str> = Mutex::new("tokio");

type Result<T> = std::result::Result<T, Error>;

fn main() {
    if !tractor_driver::is_root_process() {
        let adapter = Adapter::from_env();
        std::process::exit(adapter.block_on(tree(adapter.runtime(), adapter.name())));
    }
    let code = Adapter::ALL
        .into_iter()
        .map(|a| a.block_on(tree(a.runtime(), a.name())))
        .max()
        .unwrap_or(0);
    std::process::exit(code);
}

fn functions() -> Functions {
    Functions::new()
        .rpc(NS, "noop", |(): ()| async { Ok(()) })
        // Kept open until cancelled.
        .context(NS, "open", |ctx: Context, (): ()| async move {
            ctx.started(()).await?;
            std::future::pending::<()>().await;
            Ok(())
        })
        .rpc(NS, "rss_kib", |(): ()| async {
            Ok(memory(std::process::id()).0)
        })
        .rpc(NS, "pid", |(): ()| async { Ok(std::process::id()) })
        .rpc(NS, "probe", |p: Probe| probe(p))
}

/// What `probe` is asked: how many calls of each kind.
#[derive(serde::Serialize, serde::Deserialize)]
struct Probe {
    calls: u32,
    guest: bool,
}

/// Times `calls` spawns joined on the actor's runtime and, with a guest,
/// `calls` runs of an empty future on it: `(pid, spawn µs, run µs)`.
async fn probe(p: Probe) -> Result<(u32, f64, f64)> {
    let me =
        tractor_driver::current_actor().ok_or_else(|| Error::raise("RuntimeError", "no actor"))?;
    let t0 = Instant::now();
    for _ in 0..p.calls {
        me.spawn(async {}).await?;
    }
    let spawn_us = t0.elapsed().as_secs_f64() * 1e6 / f64::from(p.calls);
    let mut run_us = 0.0;
    if p.guest {
        let t0 = Instant::now();
        for _ in 0..p.calls {
            tractor_driver::to_guest::run(|| async { Ok::<_, Error>(()) }).await?;
        }
        run_us = t0.elapsed().as_secs_f64() * 1e6 / f64::from(p.calls);
    }
    Ok((std::process::id(), spawn_us, run_us))
}

/// The limits every actor of the tree runs with: room for 1,000 children
/// connecting at once, and for 10,000 dialogs on a channel.
fn limits() -> Limits {
    Limits {
        max_connections: 4096,
        max_pending_connections: 2048,
        max_dialogs_per_peer: 20_000,
        ..Limits::default()
    }
}

fn daemon() -> ActorOptions {
    let adapter = *CURRENT_ADAPTER.lock().unwrap_or_else(|e| e.into_inner());
    ActorOptions::new()
        .enable_modules([NS])
        .env(ADAPTER, adapter)
}

/// `VmRSS` and `Pss` of `pid`, in KiB (0 where unreadable).
fn memory(pid: u32) -> (u64, u64) {
    let field = |path: String, key: &str| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
            })
            .unwrap_or(0)
    };
    (
        field(format!("/proc/{pid}/status"), "VmRSS:"),
        field(format!("/proc/{pid}/smaps_rollup"), "Pss:"),
    )
}

async fn tree(rt: Arc<dyn Runtime>, adapter: &'static str) -> i32 {
    *CURRENT_ADAPTER.lock().unwrap_or_else(|e| e.into_inner()) = adapter;
    if !tractor_driver::is_root_process() {
        let config = Config::new("child", functions());
        return match tractor_driver::open_root_actor(rt, config, |_| async { Ok(()) }).await {
            Ok(()) => 0,
            Err(_) => 1,
        };
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let only: Vec<String> = std::env::args()
        .filter_map(|a| a.strip_prefix("--only=").map(str::to_owned))
        .flat_map(|s| s.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let dir = match tractor_driver::runtime_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("no runtime directory: {e}");
            return 1;
        }
    };
    let registry = format!("{PREFIX}registry@{}.sock", std::process::id());
    let config = Config::new(format!("{PREFIX}root"), functions())
        .transport(Transport::Uds)
        .limits(limits())
        .registry_addrs([Address::uds(dir.to_string_lossy(), registry)]);
    let out = tractor_driver::open_root_actor(rt, config, |root| async move {
        let mut met = Vec::new();
        if wanted("idle_rss") {
            met.push(idle_rss(&root, adapter).await?);
        }
        if wanted("scale") {
            met.push(scale(&root, adapter, quick).await?);
        }
        if wanted("guest") {
            guest_cost(&root, adapter).await?;
        }
        if wanted("contexts") {
            met.push(contexts(&root, adapter, if quick { 2_000 } else { 10_000 }).await?);
        }
        Ok(met)
    })
    .await;
    match out {
        Ok(met) => {
            let n = met.iter().filter(|m| **m).count();
            println!(
                "{}",
                json!({"figure": "summary", "adapter": adapter, "met": n, "of": met.len()})
            );
            0
        }
        Err(e) => {
            eprintln!("the benchmark failed: {e:#}");
            1
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn limits_json() -> serde_json::Value {
    let l = limits();
    json!({
        "max_connections": l.max_connections,
        "max_pending_connections": l.max_pending_connections,
        "max_dialogs_per_peer": l.max_dialogs_per_peer,
    })
}

async fn idle_rss(root: &ActorHandle, adapter: &str) -> Result<bool> {
    const N: usize = 8;
    let me = root.clone();
    let (rss, pss) = root
        .open_nursery(|n| async move {
            let portals = n
                .start_actors((0..N).map(|i| (format!("{PREFIX}idle-{i}"), daemon())))
                .await?;
            let mut pids = Vec::new();
            for p in &portals {
                p.run::<()>(NS, "noop", ()).await?;
                pids.push(p.run::<u32>(NS, "pid", ()).await?);
            }
            // Settled: whatever start-up allocated and freed is returned.
            // (`SCALE_IDLE_MS` holds them longer, to look at them.)
            let idle = std::env::var("SCALE_IDLE_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(500);
            me.sleep(Duration::from_millis(idle)).await;
            let mut rss = Vec::new();
            let mut pss = Vec::new();
            for pid in pids {
                let (r, s) = memory(pid);
                rss.push(r as f64 / 1024.0);
                pss.push(s as f64 / 1024.0);
            }
            n.cancel().await;
            Ok((rss, pss))
        })
        .await?;
    let (mut rss, mut pss) = (rss, pss);
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let rss_median = median(&mut rss);
    let met = rss_median <= 3.0;
    println!(
        "{}",
        json!({
            "figure": "idle_rss", "adapter": adapter, "children": N,
            "rss_mib_median": round(rss_median), "rss_mib_min": round(min(&rss)),
            "rss_mib_max": round(max(&rss)),
            "pss_mib_median": round(median(&mut pss)), "pss_mib_min": round(min(&pss)),
            "target_rss_mib": 3.0, "met": met,
        })
    );
    Ok(met)
}

/// The `Threads:` of `pid` (0 where unreadable).
fn threads(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// One daemon of `guest_cost`: with a guest, threads, RSS and PSS in MiB,
/// a spawn joined and a guest run, in µs.
type Row = (bool, f64, f64, f64, f64, f64);

async fn guest_cost(root: &ActorHandle, adapter: &str) -> Result<()> {
    const N: usize = 4;
    const CALLS: u32 = 2_000;
    let me = root.clone();
    let rows = root
        .open_nursery(|n| async move {
            let mut rows = Vec::new();
            for guest in [false, true] {
                let options = if guest { daemon().guest() } else { daemon() };
                let kind = if guest { "guest" } else { "plain" };
                let portals = n
                    .start_actors((0..N).map(|i| (format!("{PREFIX}{kind}-{i}"), options.clone())))
                    .await?;
                for p in &portals {
                    let probe = Probe {
                        calls: CALLS,
                        guest,
                    };
                    let (pid, spawn_us, run_us): (u32, f64, f64) =
                        p.run(NS, "probe", probe).await?;
                    rows.push((guest, pid, spawn_us, run_us));
                }
            }
            me.sleep(Duration::from_millis(500)).await;
            let rows: Vec<_> = rows
                .into_iter()
                .map(|(guest, pid, spawn_us, run_us)| {
                    let (rss, pss) = memory(pid);
                    (
                        guest,
                        threads(pid) as f64,
                        rss as f64 / 1024.0,
                        pss as f64 / 1024.0,
                        spawn_us,
                        run_us,
                    )
                })
                .collect();
            n.cancel().await;
            Ok(rows)
        })
        .await?;
    let col = |guest: bool, f: fn(&Row) -> f64| {
        let mut v: Vec<f64> = rows.iter().filter(|r| r.0 == guest).map(f).collect();
        median(&mut v)
    };
    let (threads_plain, threads_guest) = (col(false, |r| r.1), col(true, |r| r.1));
    let (rss_plain, rss_guest) = (col(false, |r| r.2), col(true, |r| r.2));
    let (pss_plain, pss_guest) = (col(false, |r| r.3), col(true, |r| r.3));
    let spawn_us = col(true, |r| r.4);
    let run_us = col(true, |r| r.5);
    println!(
        "{}",
        json!({
            "figure": "guest", "adapter": adapter, "children": N, "calls": CALLS,
            "threads_without": threads_plain, "threads_with": threads_guest,
            "rss_mib_without": round(rss_plain), "rss_mib_with": round(rss_guest),
            "pss_mib_without": round(pss_plain), "pss_mib_with": round(pss_guest),
            "spawn_join_us": round(spawn_us), "guest_run_us": round(run_us),
            "run_vs_spawn": round(run_us / spawn_us),
        })
    );
    Ok(())
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

async fn scale(root: &ActorHandle, adapter: &str, quick: bool) -> Result<bool> {
    let sizes: &[usize] = if quick { &[10, 100] } else { &[10, 100, 1000] };
    let mut per_actor = Vec::new();
    let mut met = true;
    for &size in sizes {
        let me = root.clone();
        let (up, answered, teardown) = root
            .open_nursery(|n| async move {
                let t0 = Instant::now();
                let portals: Vec<Portal> = n
                    .start_actors((0..size).map(|i| (format!("{PREFIX}w{i}"), daemon())))
                    .await?;
                let up = t0.elapsed();
                let calls: Vec<_> = portals
                    .into_iter()
                    .map(|p| me.spawn(async move { p.run::<()>(NS, "noop", ()).await }))
                    .collect();
                for c in calls {
                    c.await
                        .map_err(|e| Error::raise("JoinError", e.to_string()))??;
                }
                let answered = t0.elapsed();
                let t1 = Instant::now();
                n.cancel().await;
                Ok((up, answered, t1))
            })
            .await?;
        let teardown = teardown.elapsed();
        let cost = answered.as_secs_f64() * 1e3 / size as f64;
        per_actor.push(cost);
        let flat = cost <= 2.0 * per_actor[0];
        let fast = size < 1000 || answered <= Duration::from_millis(1500);
        met &= flat && fast;
        println!(
            "{}",
            json!({
                "figure": "scale", "adapter": adapter, "children": size,
                "all_up_ms": round(up.as_secs_f64() * 1e3),
                "all_answered_ms": round(answered.as_secs_f64() * 1e3),
                "per_actor_ms": round(cost),
                "per_actor_vs_10": round(cost / per_actor[0]),
                "teardown_ms": round(teardown.as_secs_f64() * 1e3),
                "target": "1,000 answered ≤ 1500 ms; per actor ≤ 2× that at 10",
                "met": flat && fast, "limits": limits_json(),
            })
        );
    }
    Ok(met)
}

async fn contexts(root: &ActorHandle, adapter: &str, total: usize) -> Result<bool> {
    /// Contexts opened at once, each by a task of its own.
    const WAVE: usize = 100;
    let tail = total / 10;
    let me = root.clone();
    let (first, last, single, root_kib, child_kib) = root
        .open_nursery(|n| async move {
            let p = n.start_actor(format!("{PREFIX}ctx"), daemon()).await?;
            let child_before: u64 = p.run(NS, "rss_kib", ()).await?;
            let root_before = memory(std::process::id()).0;
            let mut open = Vec::with_capacity(total + 100);
            let (mut first, mut last) = (Duration::ZERO, Duration::ZERO);
            while open.len() < total {
                let at = open.len();
                let t = Instant::now();
                let wave: Vec<_> = (0..WAVE.min(total - at))
                    .map(|_| {
                        let p = p.clone();
                        me.spawn(async move { p.open_context::<()>(NS, "open", ()).await })
                    })
                    .collect();
                for opened in wave {
                    let (ctx, ()) = opened
                        .await
                        .map_err(|e| Error::raise("JoinError", e.to_string()))??;
                    open.push(ctx);
                }
                if at < tail {
                    first += t.elapsed();
                } else if at >= total - tail {
                    last += t.elapsed();
                }
            }
            let child_after: u64 = p.run(NS, "rss_kib", ()).await?;
            let root_after = memory(std::process::id()).0;
            // One at a time, with all of them open: the latency of one.
            let mut single = Vec::new();
            for _ in 0..100 {
                let t = Instant::now();
                let (ctx, ()) = p.open_context::<()>(NS, "open", ()).await?;
                single.push(t.elapsed().as_secs_f64() * 1e6);
                open.push(ctx);
            }
            n.cancel().await;
            drop(open);
            Ok((
                first,
                last,
                median(&mut single),
                root_after.saturating_sub(root_before),
                child_after.saturating_sub(child_before),
            ))
        })
        .await?;
    let per = |d: Duration| d.as_secs_f64() * 1e6 / tail as f64;
    let last_us = per(last);
    let met = last_us <= 20.0;
    println!(
        "{}",
        json!({
            "figure": "contexts", "adapter": adapter, "open": total, "wave": WAVE,
            "open_us_first": round(per(first)), "open_us_last": round(last_us),
            "one_at_a_time_us": round(single),
            "root_bytes_per_context": root_kib * 1024 / total as u64,
            "child_bytes_per_context": child_kib * 1024 / total as u64,
            "target_us": 20.0, "met": met, "limits": limits_json(),
        })
    );
    Ok(met)
}
