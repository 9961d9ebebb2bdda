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
use tractor_conformance::ADAPTER;
use tractor_driver::stackscope::Traced;
use tractor_driver::{
    ActorHandle, ActorOptions, Address, Config, Context, DEFAULT_BROADCAST_CAPACITY, DialogError,
    Error, ErrorKind, Functions, MsgStream, Portal, ReapTimeouts, RemoteErrorType, Result, Runtime,
    Transport, current_actor, is_root_process, register_error_type, registered_error_type,
};

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(Error::raise("AssertionError", format!($($msg)+)));
        }
    };
}

const NS: &str = "conf";

/// In a child of scenario dbg-debug-filter: the error type that opens no
/// crash REPL.
const SKIP_CRASH: &str = "CONF_SKIP_CRASH";

/// Set for a child (fault-child-sigkilled-spawn): it stops before the
/// entry point, so it never connects back.
const STALL_BEFORE_ENTRY: &str = "CONF_STALL_BEFORE_ENTRY";

#[derive(Serialize, Deserialize)]
struct Value {
    value: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Data {
    data: i64,
}

#[derive(Serialize, Deserialize)]
struct Count {
    n: u32,
}

#[derive(Serialize, Deserialize)]
struct Raise {
    type_name: String,
    message: String,
}

#[derive(Serialize, Deserialize)]
struct Depth {
    depth: u32,
    breadth: u32,
}

/// A level of the failing tree: `depth` levels of `breadth` children below,
/// `leaves` leaves in the whole tree (all of them meet at one barrier).
#[derive(Serialize, Deserialize)]
struct Level {
    depth: u32,
    breadth: u32,
    leaves: u32,
}

fn me() -> ActorHandle {
    current_actor().expect("an actor runs")
}

async fn pause_then_return() -> Result<String> {
    let answer = 42;
    tractor_driver::pause!(answer).await?;
    Ok("resumed".to_owned())
}

fn functions() -> Functions {
    Functions::new()
        .rpc(NS, "hi", |(): ()| async move {
            Ok(format!("hi from {}", me().uid().name))
        })
        .rpc(NS, "do_nothing", |(): ()| async move { Ok(()) })
        // rpc-local-portal-self: a child that is not the registrar finds
        // itself through the registrar, and calls itself through that.
        .rpc(NS, "find_self", |(): ()| async move {
            let me = me();
            let p = me
                .find_actor(&me.uid().name)
                .await?
                .ok_or_else(|| Error::raise("LookupError", "not registered"))?;
            let hi: String = p.run(NS, "hi", ()).await?;
            Ok((p.is_local(), hi))
        })
        // A reply of `n` bytes (attack-daemon's callers).
        .rpc(NS, "blob", |c: Count| async move {
            Ok("x".repeat(c.n as usize))
        })
        // The debugger's scenarios (dbg-*).
        .rpc(NS, "pause_then_return", |(): ()| pause_then_return())
        // The same, under the name a Python parent calls it by in the
        // recorded `debug_pause` conversation (tests/python_root.rs).
        .rpc("__main__", "pause_then_return", |(): ()| {
            pause_then_return()
        })
        // A child whose own child hangs in sync code (dump-*).
        .rpc(NS, "hang_with_grandchild", |(): ()| async move {
            me().open_nursery(|n| async move {
                let p = n.start_actor("sync-hanger", daemon()).await?;
                p.run::<()>(NS, "hang_sync", ())
                    .traced("waiting on the sync hanger")
                    .await
            })
            .await
        })
        .rpc(NS, "hang_sync", |(): ()| async move {
            async {
                fact("hanging", "sync-hanger");
                std::thread::sleep(Duration::from_secs(3600));
            }
            .traced("sleeping in sync code")
            .await;
            Ok(())
        })
        .rpc(NS, "spawn_pauser", |(): ()| async move {
            me().open_nursery(|n| async move {
                let leaf = n
                    .run_in_actor("leaf", NS, "pause_then_return", (), ActorOptions::new())
                    .await?;
                leaf.wait_for_result::<String>().await
            })
            .await
        })
        .context(
            NS,
            "cancelled_before_pause",
            |ctx: Context, (): ()| async move {
                let _cleanup = PauseOnDrop;
                ctx.started(()).await?;
                std::future::pending::<Result<()>>().await
            },
        )
        .rpc(
            NS,
            "sync_pause",
            |(): ()| async move { pause_in_thread().await },
        )
        .rpc(NS, "spawn_error", |(): ()| async move {
            one_shot(&me(), "name-error", "name_error").await
        })
        .rpc(NS, "name_error", |(): ()| async move {
            Err::<(), _>(Error::raise(
                "NameError",
                "name 'doggypants' is not defined",
            ))
        })
        .rpc(NS, "cellar_door", |v: Value| async move { Ok(v.value) })
        .rpc(NS, "is_root", |(): ()| async move { Ok(is_root_process()) })
        .rpc(
            NS,
            "debug_mode",
            |(): ()| async move { Ok(me().debug_mode()) },
        )
        .rpc(NS, "adapter", |(): ()| async move { Ok(adapter_name()) })
        .rpc(NS, "pid", |(): ()| async move { Ok(std::process::id()) })
        .rpc(NS, "ppid", |(): ()| async move {
            Ok(nix::unistd::getppid().as_raw())
        })
        // fault-spawned-from-exiting-thread: SIGTERMs counted from the call.
        .rpc(NS, "watch_sigterm", |(): ()| async move {
            watch_sigterm().map_err(|e| Error::raise("OSError", format!("SIGTERM: {e}")))
        })
        .rpc(
            NS,
            "sigterm_seen",
            |(): ()| async move { Ok(sigterm_seen()) },
        )
        .rpc(NS, "am_registrar", |(): ()| async move {
            Ok(me().is_registrar())
        })
        .rpc(NS, "square", |d: Data| async move { Ok(d.data * d.data) })
        .rpc(
            NS,
            "relay_all",
            |d: Level| async move { relay_all(d).await },
        )
        .rpc(NS, "raise_at_barrier", |n: Count| async move {
            // Fails once `n` leaves are here, in synchronous code: no
            // cancellation can come between the barrier and the failure.
            let dir = std::env::temp_dir();
            std::fs::write(dir.join(format!("leaf-ready-{}", std::process::id())), "")?;
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            loop {
                let ready = std::fs::read_dir(&dir)?
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("leaf-ready-"))
                    .count();
                if ready >= n.n as usize {
                    break;
                }
                check!(
                    std::time::Instant::now() < deadline,
                    "the barrier never filled"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            let name = me().uid().name.clone();
            Err::<(), _>(Error::raise("RuntimeError", format!("{name} failed")))
        })
        .rpc(NS, "raise", |r: Raise| async move {
            Err::<(), _>(Error::raise(r.type_name, r.message))
        })
        .rpc(NS, "panic", |(): ()| async move {
            if std::hint::black_box(true) {
                panic_on_purpose();
            }
            Ok(())
        })
        // A call that holds until its actor dies: a file says it runs.
        .rpc(NS, "hold", |(): ()| async move {
            std::fs::write(held_marker(std::process::id()), "")?;
            std::future::pending::<()>().await;
            Ok(())
        })
        // Calls `conf:hold` on the actor named `value`, found through the
        // registrar: how that call failed.
        .rpc(NS, "call_held", |v: Value| async move {
            let name = v.value.unwrap_or_default();
            let p = me().wait_for_actor(&name).await?;
            match p.run::<()>(NS, "hold", ()).await {
                Ok(()) => Err(Error::raise("AssertionError", "hold returned")),
                Err(e) => Ok(e.to_string()),
            }
        })
        .rpc(NS, "sleep_forever", |(): ()| async move {
            std::future::pending::<()>().await;
            Ok(())
        })
        .rpc(NS, "block_sync", |(): ()| async move {
            // A function that never reaches an await point again: only
            // signals can stop it. A file tells that it got this far.
            std::fs::write(blocked_marker(std::process::id()), "")?;
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
            #[allow(unreachable_code)]
            Ok(())
        })
        .rpc(NS, "relay", |d: Depth| async move { relay(d).await })
        .context(NS, "spawn_blocked", |ctx: Context, (): ()| async move {
            me().open_nursery(|n| async move {
                let g = n.start_actor("grandchild", daemon()).await?;
                let pid: u32 = g.run(NS, "pid", ()).await?;
                let call = g.clone();
                me().spawn(async move {
                    let _ = call.run::<()>(NS, "block_sync", ()).await;
                });
                // Started once the grandchild is stuck for good.
                until(&me(), || blocked_marker(pid).exists()).await;
                ctx.started(pid).await?;
                std::future::pending::<()>().await;
                Ok(())
            })
            .await
        })
        .context(NS, "stream_then_fail", |ctx: Context, (): ()| async move {
            // Streams three items, then fails with its stream still open.
            ctx.started(()).await?;
            let stream = ctx.open_stream().await?;
            for i in 0..3u32 {
                stream.send(&i).await?;
            }
            Err::<(), _>(Error::raise("ValueError", "failed after streaming"))
        })
        .context(
            NS,
            "raise_custom_after_started",
            |ctx: Context, (): ()| async move {
                ctx.started(()).await?;
                Err::<(), _>(custom_app_error().into())
            },
        )
        .context(
            NS,
            "raise_another_after_started",
            |ctx: Context, (): ()| async move {
                ctx.started(()).await?;
                Err::<(), _>(another_app_error().into())
            },
        )
        .rpc(NS, "relay_custom", |(): ()| async move {
            // Lets a child's registered error out of this actor: relayed.
            me().open_nursery(|n| async move {
                let p = n.start_actor("leaf", daemon()).await?;
                let (ctx, ()) = p.open_context(NS, "raise_custom_after_started", ()).await?;
                ctx.wait_for_result::<()>().await
            })
            .await
        })
        .context(NS, "started_then_fail", |ctx: Context, (): ()| async move {
            ctx.started(()).await?;
            Err::<(), _>(Error::raise("ValueError", "failed after started"))
        })
        .context(NS, "spawn_grandchild", |ctx: Context, (): ()| async move {
            // Starts a daemon below this actor; reports its pid.
            me().open_nursery(|n| async move {
                let g = n.start_actor("grandchild", daemon()).await?;
                let pid: u32 = g.run(NS, "pid", ()).await?;
                ctx.started(pid).await?;
                std::future::pending::<()>().await;
                Ok(())
            })
            .await
        })
        .context(NS, "deaf_stream", |ctx: Context, (): ()| async move {
            // Opens its stream and never reads it.
            ctx.started(()).await?;
            let _stream = ctx.open_stream().await?;
            std::future::pending::<()>().await;
            Ok(())
        })
        .context(NS, "started_plus_one", |ctx: Context, d: Data| async move {
            ctx.started(d.data + 1).await?;
            Ok("yo")
        })
        .context(NS, "started_twice", |ctx: Context, (): ()| async move {
            ctx.started(1).await?;
            ctx.started(2).await?;
            Ok(())
        })
        .context(
            NS,
            "stream_before_started",
            |ctx: Context, (): ()| async move {
                let _stream = ctx.open_stream().await?;
                Ok(())
            },
        )
        .context(NS, "block_forever", |ctx: Context, (): ()| async move {
            ctx.started(()).await?;
            std::future::pending::<()>().await;
            Ok(())
        })
        .context(NS, "echo", |ctx: Context, (): ()| async move {
            let _finally = Tracked;
            ctx.started(()).await?;
            let stream = ctx.open_stream().await?;
            let mut count = 0u32;
            while let Some(item) = stream.next::<Item>().await {
                stream.send(&item?).await?;
                count += 1;
            }
            Ok(count)
        })
        .context(NS, "pingpong", |ctx: Context, d: Data| async move {
            ctx.started(d.data + 1).await?;
            let stream = ctx.open_stream().await?;
            let mut count = 0u32;
            while let Some(ping) = stream.next::<String>().await {
                if ping? != "ping" {
                    return Err(Error::raise("ValueError", "expected ping"));
                }
                stream.send("pong").await?;
                count += 1;
            }
            Ok(count)
        })
        .context(NS, "close_at_once", |ctx: Context, (): ()| async move {
            ctx.started(()).await?;
            let stream = ctx.open_stream().await?;
            stream.close()?;
            Ok("done")
        })
        .stream(NS, "range", |out: MsgStream, c: Count| async move {
            for i in 0..c.n {
                out.send(&i).await?;
            }
            Ok(())
        })
        .stream(NS, "aggregate", |out: MsgStream, c: Count| async move {
            aggregate(out, c.n).await
        })
        .merge(more_functions())
}

/// Spawns a leaf (or a subtree) that fails, and lets its error climb.
async fn relay(d: Depth) -> Result<()> {
    me().open_nursery(|n| async move {
        for i in 0..d.breadth {
            let name = format!("leaf-{}-{i}", d.depth);
            if d.depth <= 1 {
                let raise = Raise {
                    type_name: "RuntimeError".into(),
                    message: format!("{name} failed"),
                };
                n.run_in_actor(&name, NS, "raise", raise, ActorOptions::new())
                    .await?;
            } else {
                let sub = Depth {
                    depth: d.depth - 1,
                    breadth: d.breadth,
                };
                n.run_in_actor(&name, NS, "relay", sub, ActorOptions::new())
                    .await?;
            }
        }
        Ok(())
    })
    .await
}

/// A tree of `d.breadth` children per level, `d.depth` levels down, each
/// named after its parent; every leaf fails at one barrier, once all
/// `d.leaves` leaves of the whole tree are there.
async fn relay_all(d: Level) -> Result<()> {
    let me_name = me().uid().name.clone();
    me().open_nursery(|n| async move {
        for i in 0..d.breadth {
            let name = format!("{me_name}.{i}");
            if d.depth == 0 {
                n.run_in_actor(
                    &name,
                    NS,
                    "raise_at_barrier",
                    Count { n: d.leaves },
                    ActorOptions::new(),
                )
                .await?;
            } else {
                let sub = Level {
                    depth: d.depth - 1,
                    ..d
                };
                n.run_in_actor(&name, NS, "relay_all", sub, ActorOptions::new())
                    .await?;
            }
        }
        Ok(())
    })
    .await
}

/// Two streamers below, merged in lockstep and de-duplicated, sent up.
async fn aggregate(out: MsgStream, n: u32) -> Result<()> {
    me().open_nursery(|an| async move {
        let opts = || ActorOptions::new().enable_modules([NS]);
        let a = an.start_actor("streamer-a", opts()).await?;
        let b = an.start_actor("streamer-b", opts()).await?;
        let sa = a.open_stream_from(NS, "range", Count { n }).await?;
        let sb = b.open_stream_from(NS, "range", Count { n }).await?;
        let mut seen = std::collections::BTreeSet::new();
        loop {
            let x = sa.next::<u32>().await.transpose()?;
            let y = sb.next::<u32>().await.transpose()?;
            if x.is_none() && y.is_none() {
                break;
            }
            for v in [x, y].into_iter().flatten() {
                if seen.insert(v) {
                    out.send(&v).await?;
                }
            }
        }
        an.cancel().await;
        Ok(())
    })
    .await
}

/// Spawns `count` one-shot actors that raise `AssertionError` (each beside
/// a daemon, if `with_daemons`).
async fn asserters(
    n: &tractor_driver::ActorNursery,
    count: usize,
    with_daemons: bool,
) -> Result<()> {
    for i in 0..count {
        if with_daemons {
            n.start_actor(format!("daemon-{i}"), daemon()).await?;
        }
        let raise = Raise {
            type_name: "AssertionError".into(),
            message: format!("one-shot {i} asserts"),
        };
        n.run_in_actor(
            format!("asserter-{i}"),
            NS,
            "raise",
            raise,
            ActorOptions::new(),
        )
        .await?;
    }
    Ok(())
}

/// Pauses from its drop, as a cancelled function's cleanup would.
struct PauseOnDrop;

impl Drop for PauseOnDrop {
    fn drop(&mut self) {
        // Unshielded, in a cancelled call: refused at once.
        match smol::future::block_on(tractor_driver::pause()) {
            Err(e) => eprintln!("unshielded pause refused: {e}"),
            Ok(()) => eprintln!("unshielded pause went through"),
        }
        // Shielded: runs in the background, and holds teardown back.
        drop(tractor_driver::pause_shielded());
    }
}

/// Pauses a plain thread, as sync code would, and waits for it.
async fn pause_in_thread() -> Result<String> {
    let (tx, rx) = smol::channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send_blocking(tractor_driver::pause_blocking());
    });
    rx.recv()
        .await
        .map_err(|_| Error::raise("RuntimeError", "the pausing thread vanished"))??;
    Ok("resumed".into())
}

/// Set by this process's own SIGTERM handler, once `watch_sigterm` has
/// installed it (beside the runtime's, which still cancels the actor).
static SIGTERM_SEEN: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Starts noting SIGTERM deliveries to this process.
fn watch_sigterm() -> std::io::Result<()> {
    let flag = SIGTERM_SEEN.get_or_init(Arc::default);
    signal_hook::flag::register(signal_hook::consts::SIGTERM, flag.clone())?;
    Ok(())
}

/// Whether SIGTERM came since `watch_sigterm`: queued for the process and
/// not yet taken by a thread (its `ShdPnd` mask), or delivered (the flag
/// its handler sets). Read in that order, a signal queued before the call
/// is seen either way.
fn sigterm_seen() -> bool {
    let bit = 1u64 << (signal_hook::consts::SIGTERM - 1);
    let pending = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("ShdPnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & bit != 0);
    pending || SIGTERM_SEEN.get().is_some_and(|f| f.load(Ordering::SeqCst))
}

fn fact(key: &str, value: impl std::fmt::Display) {
    println!("{key}={value}");
}

fn daemon() -> ActorOptions {
    ActorOptions::new().enable_modules([NS])
}

/// The served function `conf:panic`'s panic, in a function of its own
/// that the optimiser keeps: a named frame in any build profile.
#[inline(never)]
fn panic_on_purpose() {
    panic!("the child panicked on purpose");
}

/// Whether this tree's actors record backtraces (they inherit the
/// environment): Rust's convention, as the driver reads it.
fn backtraces_on() -> bool {
    match std::env::var_os("RUST_LIB_BACKTRACE") {
        Some(v) => v != "0",
        None => std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0"),
    }
}

/// A traceback reads as Python's (its header, its frames, the error's
/// `Type: message` last, newline-terminated), shows where the error was
/// made and, with backtraces on, only the application's frames: none of
/// the runtime's, the standard library's or tractor's.
fn check_short_traceback(tb: &str) -> Result<()> {
    check!(
        tb.starts_with("Traceback (most recent call last):\n  File \""),
        "no Python header and frame first: {tb}"
    );
    check!(tb.ends_with('\n'), "not newline-terminated: {tb:?}");
    // The closing line says the error itself, not a frame.
    let frames = tb
        .trim_end()
        .rsplit_once('\n')
        .map_or("", |(frames, _)| frames);
    let runtime = [
        "tokio::",
        "async_executor::",
        "async_task::",
        "async_io::",
        "futures",
        "tractor_driver::",
        "tractor_protocol::",
        "tractor_tokio::",
        "tractor_smol::",
        "std::",
        "core::",
        "alloc::",
    ];
    check!(
        !frames
            .lines()
            .any(|l| runtime.iter().any(|r| l.contains(r))),
        "frames of the runtime in: {tb}"
    );
    check!(tb.lines().count() <= 50, "a long traceback: {tb}");
    Ok(())
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;
type SendBoxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs futures concurrently on the current task.
async fn join_all<F: Future + Unpin>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<Option<F>> = futs.into_iter().map(Some).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futs.iter_mut().enumerate() {
            if let Some(fut) = f {
                match Pin::new(fut).poll(cx) {
                    std::task::Poll::Ready(v) => {
                        out[i] = Some(v);
                        *f = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future finished"))
        .collect()
}

/// Describes an error for the tests: kind, boxed and source types.
fn describe(e: &Error) -> String {
    match e.kind() {
        ErrorKind::Group(errors) => {
            let parts: Vec<String> = errors.iter().map(describe).collect();
            format!("group[{}]", parts.join(","))
        }
        ErrorKind::Interrupted => "interrupted".into(),
        ErrorKind::Terminated => "terminated".into(),
        _ => match e.remote() {
            Some(r) => format!("remote:{}:{}", r.boxed_type(), r.src_type()),
            None if e.is_cancelled() => "cancelled".into(),
            None => format!("local:{e}"),
        },
    }
}

async fn scenario(id: &str, root: ActorHandle) -> Result<()> {
    match id {
        "dbg-root-pause" => {
            let answer = 42;
            tractor_driver::pause!(answer).await?;
            fact("after_pause", true);
            Ok(())
        }
        "dbg-root-crash-repl" => Err(Error::raise("AssertionError", "assert 0")),
        "dbg-nested-errors" => {
            // An error two levels down: a REPL per level as it climbs.
            one_shot(&root, "spawn-error", "spawn_error").await
        }
        "dbg-root-timeout-child-crash" => {
            let crash = root.open_nursery(|n| async move {
                let raise = Raise {
                    type_name: "KeyError".into(),
                    message: "'missing'".into(),
                };
                n.run_in_actor("key-error", NS, "raise", raise, ActorOptions::new())
                    .await?
                    .wait_for_result::<()>()
                    .await
            });
            // The root gives up while the child is in its crash REPL: the
            // nursery it drops reaps the child only after the REPL.
            let give_up = async {
                root.sleep(Duration::from_secs(3)).await;
                fact("gave_up", true);
                Err(Error::raise("TooSlowError", "the root gave up after 3 s"))
            };
            smol::future::or(crash, give_up).await
        }
        "dbg-shielded-pause" => {
            root.open_nursery(|n| async move {
                let p = n.start_actor("cancelled-before-pause", daemon()).await?;
                let (ctx, ()) = p.open_context(NS, "cancelled_before_pause", ()).await?;
                // The child's cleanup pauses, shielded, as it is cancelled.
                ctx.cancel()?;
                let out = ctx.wait_for_result::<()>().await;
                fact(
                    "result",
                    out.err().map(|e| describe(&e)).unwrap_or_default(),
                );
                // The child holds the terminal: it is reaped after its REPL.
                n.cancel().await;
                Ok(())
            })
            .await
        }
        "spawn-proctitle" => {
            root.open_nursery(|n| async move {
                let p = n.start_actor("proctitle_boi", daemon()).await?;
                let pid: u32 = p.run(NS, "pid", ()).await?;
                let proc = |f: &str| std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
                let cmdline = proc("cmdline");
                let arg0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
                fact("arg0", String::from_utf8_lossy(arg0));
                fact("comm", String::from_utf8_lossy(&proc("comm")).trim());
                let mine = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
                fact("root_comm", mine.trim());
                n.cancel().await;
                Ok(())
            })
            .await
        }
        "spawn-python-child" => spawn_python_child(root).await,
        "dump-sigusr1-hierarchical" | "dump-env-propagation" => {
            // A tree hung two levels down, in sync code; the test signals
            // the root, then interrupts it.
            root.open_nursery(|n| async move {
                let p = n.start_actor("hanger", daemon()).await?;
                p.run::<()>(NS, "hang_with_grandchild", ()).await
            })
            .await
        }
        "dbg-stale-lock" => {
            root.open_nursery(|n| async move {
                let p = n.start_actor("pauser", daemon()).await?;
                // The pauser is killed in its REPL, holding the terminal.
                let lost = p.run::<String>(NS, "pause_then_return", ()).await;
                fact("call", lost.err().map(|e| describe(&e)).unwrap_or_default());
                // The root took the lock back: it can pause, and ctrl-c
                // works again after.
                tractor_driver::pause().await?;
                fact("waiting_for_ctrl_c", true);
                loop {
                    me().sleep(Duration::from_secs(3600)).await;
                }
            })
            .await
        }
        "dbg-sync-pause-threads" => {
            // In code a task polls, blocking is refused...
            let refused = tractor_driver::pause_blocking()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            fact("in_task_refused", refused.contains("async code"));
            // ...and works from a thread of the root, and of a child.
            fact("root_thread", pause_in_thread().await?);
            let child: String = one_shot_result(&root, "sync-pauser", "sync_pause").await?;
            fact("child_thread", child);
            Ok(())
        }
        "dbg-debug-filter" => {
            // The program's filter passes KeyErrors by: no REPL for it,
            // in the child or here...
            let raise = Raise {
                type_name: "KeyError".into(),
                message: "no such key".into(),
            };
            let e = root
                .open_nursery(|n| async move {
                    let options = ActorOptions::new().env(SKIP_CRASH, "KeyError");
                    n.run_in_actor("key-error", NS, "raise", raise, options)
                        .await?;
                    Ok(())
                })
                .await
                .expect_err("raise fails");
            fact("filtered", describe(&e));
            // ...while a NameError stops in each.
            root.open_nursery(|n| async move {
                let options = ActorOptions::new().env(SKIP_CRASH, "KeyError");
                n.run_in_actor("name-error", NS, "name_error", (), options)
                    .await?;
                Ok(())
            })
            .await
        }
        "dbg-post-mortem-api" => {
            // The root catches the child's error and looks at it by hand;
            // having handled it, the tree ends well.
            let e = one_shot(&root, "name-error", "name_error")
                .await
                .expect_err("name_error fails");
            tractor_driver::post_mortem(&e).await?;
            fact("handled", describe(&e));
            Ok(())
        }
        "dbg-multi-daemon-no-clobber" => {
            root.open_nursery(|n| async move {
                let bp = n.start_actor("bp-forever", daemon()).await?;
                let ne = n.start_actor("name-error", daemon()).await?;
                // One pauses while the other crashes: both want the
                // terminal at once.
                let (paused, crashed) = smol::future::zip(
                    bp.run::<String>(NS, "pause_then_return", ()),
                    ne.run::<()>(NS, "name_error", ()),
                )
                .await;
                fact("paused", paused?);
                let e = crashed.expect_err("name_error fails");
                fact("crashed", describe(&e));
                n.cancel().await;
                Ok(())
            })
            .await
        }
        "dbg-child-pause" | "dbg-grandchild-pause" | "dbg-child-crash-then-root" => {
            let func = match id {
                "dbg-child-pause" => "pause_then_return",
                "dbg-grandchild-pause" => "spawn_pauser",
                _ => "name_error",
            };
            let got: String = one_shot_result(&root, &func.replace('_', "-"), func).await?;
            fact("result", got);
            Ok(())
        }
        "spawn-daemon-call-twice" => {
            with_daemon(&root, "frank", |p| async move {
                let a: String = p.run(NS, "hi", ()).await?;
                let b: String = p.run(NS, "hi", ()).await?;
                fact("first", &a);
                fact("second", &b);
                check!(a == "hi from frank" && a == b, "got {a:?} and {b:?}");
                Ok(())
            })
            .await
        }
        "spawn-one-shot-result" => {
            let (p1, p2) = root
                .open_nursery(|n| async move {
                    let value = Value {
                        value: Some("yo".into()),
                    };
                    let p1 = n
                        .run_in_actor("door-1", NS, "cellar_door", value, ActorOptions::new())
                        .await?;
                    let p2 = n
                        .run_in_actor(
                            "door-2",
                            NS,
                            "cellar_door",
                            Value { value: None },
                            ActorOptions::new(),
                        )
                        .await?;
                    let v1: Option<String> = p1.wait_for_result().await?;
                    check!(v1.as_deref() == Some("yo"), "got {v1:?}");
                    Ok((p1, p2))
                })
                .await?;
            // After the nursery: cached results, the children gone.
            let v1: Option<String> = p1.wait_for_result().await?;
            let v2: Option<String> = p2.wait_for_result().await?;
            fact("after", format!("{v1:?},{v2:?}"));
            check!(
                v1.as_deref() == Some("yo") && v2.is_none(),
                "got {v1:?}, {v2:?}"
            );
            Ok(())
        }
        "spawn-child-not-root" | "spawn-child-distinct-pid" | "spawn-run-in-actor-recursive" => {
            let (is_root, pid, registrar) = root
                .open_nursery(|n| async move {
                    let p = n.start_actor("kid", daemon()).await?;
                    let r: bool = p.run(NS, "is_root", ()).await?;
                    let pid: u32 = p.run(NS, "pid", ()).await?;
                    let reg: bool = p.run(NS, "am_registrar", ()).await?;
                    let debug: bool = p.run(NS, "debug_mode", ()).await?;
                    fact("child_debug_mode", debug);
                    p.cancel_actor().await?;
                    Ok((r, pid, reg))
                })
                .await?;
            fact("child_is_root", is_root);
            fact("child_is_registrar", registrar);
            check!(
                !is_root && !registrar,
                "child root={is_root} registrar={registrar}"
            );
            check!(
                pid != std::process::id(),
                "the child runs in the root's process"
            );
            check!(
                is_root_process() && root.is_registrar(),
                "the root is the registrar"
            );
            Ok(())
        }
        "spawn-one-root-per-proc" => {
            let rt = runtime();
            let second =
                tractor_driver::open_root_actor(rt, Config::new("again", functions()), |_| async {
                    Ok(())
                })
                .await;
            let e = second.expect_err("a second root in one process must fail");
            fact("error", &e);
            check!(e.to_string().contains("already runs"), "{e}");
            Ok(())
        }
        "spawn-many-concurrent" => {
            let out = root
                .open_nursery(|n| async move {
                    // Each future borrows only the nursery: built in a
                    // loop, awaited together.
                    let spawns = (0..4)
                        .map(|i| n.start_actor(format!("worker-{i}"), daemon()))
                        .collect();
                    let portals: Vec<Result<Portal>> = join_all(spawns).await;
                    let mut pids = std::collections::BTreeSet::new();
                    for p in &portals {
                        let p = p.as_ref().map_err(Clone::clone)?;
                        pids.insert(p.run::<u32>(NS, "pid", ()).await?);
                    }
                    fact("distinct_pids", pids.len());
                    check!(pids.len() == 4, "pids {pids:?}");
                    Err::<(), _>(Error::raise("Exception", "zombies contained?"))
                })
                .await;
            let e = out.expect_err("the body raised");
            fact("error", describe(&e));
            check!(e.to_string().contains("zombies contained?"), "{e}");
            Ok(())
        }
        "rpc-module-not-exposed" | "rpc-func-not-found" => {
            let (ns, func) = if id == "rpc-module-not-exposed" {
                ("not.exposed", "hi")
            } else {
                (NS, "no_such_function")
            };
            with_daemon(&root, "frank", |p| async move {
                let e = p.run::<()>(ns, func, ()).await.expect_err("must fail");
                fact("error", describe(&e));
                Ok(())
            })
            .await
        }
        "rpc-bad-kwargs" => {
            let out = root
                .open_nursery(|n| async move {
                    #[derive(Serialize)]
                    struct Unexpected {
                        unexpected: i32,
                    }
                    n.run_in_actor(
                        "bad",
                        NS,
                        "square",
                        Unexpected { unexpected: 10 },
                        ActorOptions::new(),
                    )
                    .await?;
                    Ok(())
                })
                .await;
            let e = out.expect_err("bad kwargs fail");
            fact("error", describe(&e));
            // The library raised it: only its place travels, with the
            // hint when backtraces are off; no frame at all.
            let tb = e.remote().map_or("", |r| r.tb_str());
            check_short_traceback(tb)?;
            // The header, the place, the hint (off) and the closing line.
            let lines = if backtraces_on() { 3 } else { 4 };
            check!(tb.lines().count() == lines, "frames in: {tb}");
            check!(
                tb.lines().nth(1).is_some_and(|l| !l.contains(", in ")),
                "a frame named in: {tb}"
            );
            fact("backtraces", backtraces_on());
            Ok(())
        }
        "rpc-concurrent-calls-one-portal" => {
            with_daemon(&root, "pool", |p| async move {
                let calls = (0..50i64)
                    .map(|i| {
                        let p = p.clone();
                        Box::pin(async move { p.run::<i64>(NS, "square", Data { data: i }).await })
                            as Boxed<'_, _>
                    })
                    .collect();
                let results: Result<Vec<i64>> = join_all(calls).await.into_iter().collect();
                let results = results?;
                check!(
                    results
                        .iter()
                        .enumerate()
                        .all(|(i, r)| *r == (i * i) as i64),
                    "results {results:?}"
                );
                fact("calls", results.len());
                Ok(())
            })
            .await
        }
        "rpc-local-portal-self" => rpc_local_portal_self(root).await,
        "rpc-ctx-to-self-invalid" => {
            let me = root
                .find_actor(&root.uid().name)
                .await?
                .expect("the root is registered");
            let e = me
                .open_context::<()>(NS, "block_forever", ())
                .await
                .expect_err("a context with oneself is invalid");
            fact("error", &e);
            check!(e.to_string().contains("invalid operation"), "{e}");
            Ok(())
        }
        "ctx-started-value" | "ctx-result-returned" => {
            with_daemon(&root, "ctx", |p| async move {
                let (ctx, first): (_, i64) = p
                    .open_context(NS, "started_plus_one", Data { data: 10 })
                    .await?;
                let result: String = ctx.wait_for_result().await?;
                fact("started", first);
                fact("result", &result);
                check!(first == 11 && result == "yo", "{first} {result}");
                Ok(())
            })
            .await
        }
        "ctx-started-twice" | "ctx-stream-before-started" => {
            let func = if id == "ctx-started-twice" {
                "started_twice"
            } else {
                "stream_before_started"
            };
            with_daemon(&root, "ctx", |p| async move {
                let e = match p.open_context::<i64>(NS, func, ()).await {
                    Ok((ctx, _)) => ctx.wait_for_result::<()>().await.expect_err("must fail"),
                    Err(e) => e,
                };
                fact("error", describe(&e));
                Ok(())
            })
            .await
        }
        "ctx-cancel-blocking-child" => {
            with_daemon(&root, "blocker", |p| async move {
                let (ctx, ()) = p.open_context(NS, "block_forever", ()).await?;
                ctx.cancel()?;
                let e = ctx.wait_for_result::<()>().await.expect_err("cancelled");
                fact("outcome", describe(&e));
                check!(e.is_cancelled(), "{e}");
                // The daemon still serves.
                let hi: String = p.run(NS, "hi", ()).await?;
                fact("after", hi);
                Ok(())
            })
            .await
        }
        "ctx-child-closes-stream-immediately" => {
            with_daemon(&root, "closer", |p| async move {
                let (ctx, ()) = p.open_context(NS, "close_at_once", ()).await?;
                let stream = ctx.open_stream().await?;
                let first = stream.next::<i64>().await;
                check!(first.is_none(), "expected the end, got {first:?}");
                let again = stream.receive::<i64>().await.expect_err("ended");
                fact("again", describe(&again));
                let r: String = ctx.wait_for_result().await?;
                fact("result", r);
                Ok(())
            })
            .await
        }
        "stream-pingpong" => {
            with_daemon(&root, "ponger", |p| async move {
                let (ctx, first): (_, i64) =
                    p.open_context(NS, "pingpong", Data { data: 10 }).await?;
                check!(first == 11, "{first}");
                let stream = ctx.open_stream().await?;
                for _ in 0..10 {
                    stream.send("ping").await?;
                    let pong: String = stream.receive().await?;
                    check!(pong == "pong", "{pong}");
                }
                drop(stream);
                let count: u32 = ctx.wait_for_result().await?;
                fact("count", count);
                check!(count == 10, "{count}");
                Ok(())
            })
            .await
        }
        "stream-legacy-asyncgen" | "stream-two-streams-one-portal" => {
            let two = id == "stream-two-streams-one-portal";
            root.open_nursery(|n| async move {
                let p = n.start_actor("streamerd", daemon()).await?;
                let a = p.open_stream_from(NS, "range", Count { n: 10 }).await?;
                let b = if two {
                    Some(p.open_stream_from(NS, "range", Count { n: 10 }).await?)
                } else {
                    None
                };
                let mut got = Vec::new();
                while let Some(v) = a.next::<u32>().await {
                    got.push(v?);
                }
                if let Some(b) = b {
                    let mut other = Vec::new();
                    while let Some(v) = b.next::<u32>().await {
                        other.push(v?);
                    }
                    check!(other == got, "{other:?} vs {got:?}");
                }
                fact("items", format!("{got:?}"));
                check!(got == (0..10).collect::<Vec<_>>(), "{got:?}");
                p.cancel_actor().await?;
                Ok(())
            })
            .await
        }
        "stream-3-level-aggregate" => {
            root.open_nursery(|n| async move {
                let p = n.start_actor("aggregator", daemon()).await?;
                let s = p
                    .open_stream_from(NS, "aggregate", Count { n: 1000 })
                    .await?;
                let mut got = Vec::new();
                while let Some(v) = s.next::<u32>().await {
                    got.push(v?);
                }
                fact("count", got.len());
                check!(
                    got == (0..1000).collect::<Vec<_>>(),
                    "out of order or missing"
                );
                p.cancel_actor().await?;
                Ok(())
            })
            .await
        }
        "mixed-tree" => mixed_tree(root).await,
        "spawn-debug-flag-inherited" => {
            fact("root", root.debug_mode());
            root.open_nursery(|n| async move {
                let child = n
                    .run_in_actor("debugged", NS, "debug_mode", (), ActorOptions::new())
                    .await?;
                let flag: bool = child.wait_for_result().await?;
                fact("child", flag);
                Ok(())
            })
            .await
        }
        "cancel-nursery-dropped" => {
            // The nursery's future is dropped while its children run: they
            // are still cancelled and reaped, before the root goes on.
            let pids = Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
            let seen = pids.clone();
            let nursery = root.open_nursery(|n| async move {
                for i in 0..2 {
                    let p = n.start_actor(format!("dropped-{i}"), daemon()).await?;
                    let pid: u32 = p.run(NS, "pid", ()).await?;
                    seen.lock().expect("pids").push(pid);
                }
                std::future::pending::<()>().await;
                Ok(())
            });
            let both = until(&root, || pids.lock().expect("pids").len() == 2);
            if let Either::Left(out) = race(nursery, both).await {
                out?;
                return Err(Error::raise("AssertionError", "the nursery ended"));
            }
            fact("dropped", true);
            let pids = pids.lock().expect("pids").clone();
            until(&root, || {
                pids.iter()
                    .all(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
            })
            .await;
            fact("reaped", pids.len());
            Ok(())
        }
        "cancel-nursery-cancel-daemon" => {
            // A daemon and a one-shot that never returns: cancelling the
            // nursery ends both, and the nursery itself ends without error.
            root.open_nursery(|n| async move {
                let p = n.start_actor("idle", daemon()).await?;
                let () = p.run(NS, "do_nothing", ()).await?;
                let sleeper = n
                    .run_in_actor("sleeper", NS, "sleep_forever", (), ActorOptions::new())
                    .await?;
                // The one-shot's function is running once a call to it is
                // answered.
                let () = sleeper.run(NS, "do_nothing", ()).await?;
                n.cancel().await;
                fact("cancelled", true);
                Ok(())
            })
            .await
        }
        "cancel-some-cancels-all-ria" => {
            for count in [1usize, 3] {
                let out = root
                    .open_nursery(|n| async move { asserters(&n, count, true).await })
                    .await;
                let e = out.expect_err("the one-shots fail");
                fact(&format!("n{count}"), describe(&e));
            }
            Ok(())
        }
        "cancel-sigint-root" => {
            root.open_nursery(|n| async move {
                let _p = n.start_actor("daemon", daemon()).await?;
                fact("ready", true);
                nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT)
                    .map_err(|e| Error::raise("OSError", e.to_string()))?;
                std::future::pending::<()>().await;
                Ok(())
            })
            .await
        }
        "err-boxed-assertion" | "err-multierror" => {
            let count = if id == "err-multierror" { 2 } else { 1 };
            let out = root
                .open_nursery(|n| async move { asserters(&n, count, false).await })
                .await;
            let e = out.expect_err("the children fail");
            fact("error", describe(&e));
            eprintln!("{e}");
            Ok(())
        }
        "err-panic-relayed" => {
            let out = one_shot(&root, "panicker", "panic").await;
            let e = out.expect_err("the child panics");
            fact("error", describe(&e));
            let r = e.remote().expect("a remote error");
            check!(r.text().contains("the child panicked on purpose"), "{e}");
            // Where it panicked, whatever the build profile.
            let tb = r.tb_str();
            check!(
                tb.contains("  File \"conformance/src/bin/tractor-conformance/"),
                "no place: {tb}"
            );
            // Python's last line: the type and the message.
            check!(
                tb.lines()
                    .last()
                    .is_some_and(|l| l.starts_with("Panic: the child panicked on purpose")),
                "no closing line: {tb}"
            );
            check_short_traceback(tb)?;
            // The function that panicked is a frame with backtraces on; a
            // hint to turn them on, else.
            if backtraces_on() {
                check!(
                    tb.lines().any(|l| l.starts_with("  File \"")
                        && l.ends_with(", in tractor_conformance::panic_on_purpose")),
                    "no frame of the panicking function: {tb}"
                );
            } else {
                check!(tb.contains("(set RUST_BACKTRACE=1"), "no hint: {tb}");
            }
            fact("backtraces", backtraces_on());
            Ok(())
        }
        "fault-nested-failing-leaves" => {
            // Ours: root → 2 → 4 → 8 leaves, every leaf failing at once.
            // Each is delivered, grouped per level.
            let out = root
                .open_nursery(|n| async move {
                    for i in 0..2 {
                        // 2 × 2 × 2 leaves in all.
                        let sub = Level {
                            depth: 1,
                            breadth: 2,
                            leaves: 8,
                        };
                        n.run_in_actor(format!("n{i}"), NS, "relay_all", sub, ActorOptions::new())
                            .await?;
                    }
                    Ok(())
                })
                .await;
            let e = out.expect_err("the leaves fail");
            fact("error", describe(&e));
            let text = e.to_string();
            let mut failed: Vec<String> = text
                .lines()
                .filter_map(|l| l.split("|_message: ").nth(1))
                .filter(|m| m.ends_with(" failed"))
                .map(|m| m.trim_end_matches(" failed").to_owned())
                .collect();
            failed.sort();
            fact("leaves_failed", failed.join(","));
            eprintln!("{e}");
            Ok(())
        }
        "err-inception-relay" | "err-nested-multierrors" => {
            let (depth, breadth) = if id == "err-inception-relay" {
                (1, 1)
            } else {
                (2, 2)
            };
            let out = root
                .open_nursery(|n| async move {
                    n.run_in_actor(
                        "mid",
                        NS,
                        "relay",
                        Depth { depth, breadth },
                        ActorOptions::new(),
                    )
                    .await?;
                    Ok(())
                })
                .await;
            let e = out.expect_err("the leaves fail");
            fact("error", describe(&e));
            if let Some(r) = e.remote() {
                fact("src", &r.src_uid().name);
                fact(
                    "relay",
                    r.relay_uid().map(|u| u.name.clone()).unwrap_or_default(),
                );
            }
            eprintln!("{e}");
            Ok(())
        }
        "disc-self-registered" => {
            let p = root.wait_for_actor(&root.uid().name).await?;
            fact("found", &p.peer().name);
            Ok(())
        }
        "disc-reg-then-unreg" | "disc-find-miss-none" | "disc-reg-then-unreg-maddr" => {
            let registry = root.registry_addrs();
            fact("registry_maddr", crate_list_maddr(&registry)?);
            let transport = root.accept_addrs()[0].transport();
            let default = match transport {
                "tcp" => Transport::Tcp,
                _ => Transport::Uds,
            }
            .default_registry(&tractor_driver::runtime_dir()?);
            fact("default_registry", root.registry_addrs() == [default]);
            let missing = root.find_actor("no_such_svc").await?;
            fact("missing", missing.is_none());
            let r = root.clone();
            r.open_nursery(|n| async move {
                let p = n.start_actor("actor", daemon()).await?;
                let found = root.wait_for_actor("actor").await?;
                fact("found", &found.peer().name);
                let hi: String = found.run(NS, "hi", ()).await?;
                check!(hi == "hi from actor", "{hi}");
                let reg = root.get_registry().await?;
                let key = format!("{}.{}", p.peer().name, p.peer().uuid);
                fact("registered", reg.get(&key).is_some_and(|a| !a.is_empty()));
                drop(found);
                n.cancel().await;
                let reg = root.get_registry().await?;
                fact("unregistered", !reg.contains_key(&key));
                Ok(())
            })
            .await
        }
        "tpt-root-passes-tpt-to-sub" => {
            let transport = root.accept_addrs()[0].transport();
            let r = root.clone();
            r.open_nursery(|n| async move {
                let p = n.start_actor("sub", daemon()).await?;
                let _ = root.wait_for_actor("sub").await?;
                let addr = root.query_actor("sub").await?.expect("registered");
                fact("child_transport", addr.transport());
                check!(addr.transport() == transport, "{addr} is not {transport}");
                p.cancel_actor().await?;
                Ok(())
            })
            .await
        }
        "fault-child-sigkilled" => {
            // A context open, its result awaited.
            root.open_nursery(|n| async move {
                let p = n.start_actor("victim", daemon()).await?;
                let (ctx, ()) = p.open_context(NS, "block_forever", ()).await?;
                let pid: u32 = p.run(NS, "pid", ()).await?;
                sigkill(pid)?;
                let e = ctx
                    .wait_for_result::<()>()
                    .await
                    .expect_err("the child died");
                child_died(&e, "victim", pid)
            })
            .await
        }
        "fault-child-sigkilled-call" => {
            // A call in flight: the child runs it when it is killed.
            let me = root.clone();
            root.open_nursery(|n| async move {
                let p = n.start_actor("victim", daemon()).await?;
                let pid: u32 = p.run(NS, "pid", ()).await?;
                let killer = me.spawn({
                    let me = me.clone();
                    async move {
                        until(&me, || held_marker(pid).exists()).await;
                        sigkill(pid)
                    }
                });
                let e = p
                    .run::<()>(NS, "hold", ())
                    .await
                    .expect_err("the child died");
                killer.await??;
                child_died(&e, "victim", pid)
            })
            .await
        }
        "fault-sibling-sigkilled" => {
            // A child calls its sibling, found through the registrar; the
            // root kills the sibling. The caller is not its parent: its
            // call fails at once, naming the sibling by uid and the pid
            // its handshake gave.
            let me = root.clone();
            root.open_nursery(|n| async move {
                let caller = n.start_actor("caller", daemon()).await?;
                let victim = n.start_actor("victim", daemon()).await?;
                let pid: u32 = victim.run(NS, "pid", ()).await?;
                fact("victim_pid", pid);
                let killer = me.spawn({
                    let me = me.clone();
                    async move {
                        until(&me, || held_marker(pid).exists()).await;
                        sigkill(pid)
                    }
                });
                let target = Value {
                    value: Some("victim".into()),
                };
                let said: String = caller.run(NS, "call_held", target).await?;
                killer.await??;
                fact("error", &said);
                check!(
                    said.starts_with("actor 'victim' (uid victim[")
                        && said.contains(&format!(", pid {pid}) is gone: ")),
                    "{said}"
                );
                caller.cancel_actor().await?;
                Ok(())
            })
            .await
        }
        "fault-child-sigkilled-stream" => {
            // A context's stream open both ways, the root waiting for an
            // item.
            root.open_nursery(|n| async move {
                let p = n.start_actor("victim", daemon()).await?;
                let pid: u32 = p.run(NS, "pid", ()).await?;
                let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
                let stream = ctx.open_stream().await?;
                stream.send(&Item::Int(1)).await?;
                let echoed: Item = stream.receive().await?;
                check!(echoed == Item::Int(1), "echoed {echoed:?}");
                sigkill(pid)?;
                let e = stream.receive::<Item>().await.expect_err("the child died");
                child_died(&e, "victim", pid)?;
                // The context ended with the same error.
                let after = ctx.wait_for_result::<u32>().await.expect_err("it died");
                check!(after.to_string() == e.to_string(), "{after} after {e}");
                Ok(())
            })
            .await
        }
        "fault-child-sigkilled-blocked-send" => {
            // Ours: the root sends into a stream the child never reads,
            // until it has no room; the child is killed meanwhile. The
            // waiting send fails with the child's death, no hang.
            root.open_nursery(|n| async move {
                let p = n.start_actor("victim", daemon()).await?;
                let pid: u32 = p.run(NS, "pid", ()).await?;
                let (_ctx, ()) = p.open_context(NS, "deaf_stream", ()).await?;
                let stream = _ctx.open_stream().await?;
                let sent = std::sync::atomic::AtomicUsize::new(0);
                let send = async {
                    loop {
                        stream.send(&1u32).await?;
                        sent.fetch_add(1, Ordering::SeqCst);
                    }
                    #[allow(unreachable_code)]
                    Ok::<(), Error>(())
                };
                let kill = async {
                    // The window is full: the next send waits for room
                    // that never comes.
                    let full = tractor_driver::DEFAULT_CREDIT_WINDOW;
                    until(&me(), || sent.load(Ordering::SeqCst) >= full).await;
                    sigkill(pid)
                };
                let (sent_out, killed) = join2(send, kill).await;
                killed?;
                let e = sent_out.expect_err("the send ends with the child");
                fact("sent", sent.load(Ordering::SeqCst));
                child_died(&e, "victim", pid)
            })
            .await
        }
        "fault-child-sigkilled-spawn" => {
            // Killed while the root waits for it to connect back: it
            // stops before its entry point, so it never does by itself.
            root.open_nursery(|n| async move {
                let name = "victim".to_owned();
                let mut start = n.start_actor(&name, daemon().env(STALL_BEFORE_ENTRY, "1"));
                // The first poll starts the process.
                check!(
                    poll_once(&mut start).await.is_pending(),
                    "a stalled child started"
                );
                let pid = children_with_pids(std::slice::from_ref(&name))
                    .get(&name)
                    .copied()
                    .ok_or_else(|| Error::raise("AssertionError", "no pid for the child"))?;
                fact("victim_pid", pid);
                sigkill(pid)?;
                let e = start.await.expect_err("it never connected back");
                fact("error", describe(&e));
                let said = e.to_string();
                check!(
                    matches!(e.kind(), ErrorKind::Spawn { name, .. } if name == "victim"),
                    "{said}"
                );
                check!(
                    said.contains(&format!("pid {pid}, killed by SIGKILL")),
                    "{said}"
                );
                Ok(())
            })
            .await
        }
        "fault-grandchild-sync-blocked" => {
            let out = root
                .open_nursery(|n| async move {
                    let mid = n.start_actor("mid", daemon()).await?;
                    let (_ctx, pid): (_, u32) = mid.open_context(NS, "spawn_blocked", ()).await?;
                    fact("grandchild_blocked", pid != 0);
                    Err::<(), _>(Error::raise("AssertionError", "the root gives up"))
                })
                .await;
            let e = out.expect_err("the root raised");
            fact("error", describe(&e));
            Ok(())
        }
        "fault-grandchild-sync-blocked-sigint" => {
            // Ours: the same tree, ended by SIGINT from outside.
            root.open_nursery(|n| async move {
                let mid = n.start_actor("mid", daemon()).await?;
                let (_ctx, pid): (_, u32) = mid.open_context(NS, "spawn_blocked", ()).await?;
                fact("grandchild_blocked", pid != 0);
                fact("ready", true);
                std::future::pending::<()>().await;
                Ok(())
            })
            .await
        }
        "fault-hung-child-with-grandchild" => {
            // Ours: the test stops the child (SIGSTOP: it hears no cancel,
            // no SIGTERM), then interrupts the root, whose reaper must
            // kill it, and the grandchild with it (one blocked in sync
            // code: by itself it would take its wind-down time to go).
            root.open_nursery(|n| async move {
                let mid = n.start_actor("mid", daemon()).await?;
                fact("mid", mid.run::<u32>(NS, "pid", ()).await?);
                let (_ctx, grandchild): (_, u32) =
                    mid.open_context(NS, "spawn_blocked", ()).await?;
                fact("grandchild", grandchild);
                fact("ready", true);
                std::future::pending::<()>().await;
                Ok(())
            })
            .await
        }
        "ctx-stream-then-fail" => ctx_stream_then_fail(root).await,
        "ctx-error-dropped-unread" => {
            // Ours: the context is dropped before its function's error is
            // read; the error is logged, not lost.
            with_daemon(&root, "failer", |p| async move {
                let (ctx, ()) = p.open_context(NS, "started_then_fail", ()).await?;
                drop(ctx);
                // Later on the same channel: the error has come by then.
                let _: u32 = p.run(NS, "pid", ()).await?;
                Ok(())
            })
            .await
        }
        "fault-parent-dies-with-grandchildren" => {
            // Ours: the test SIGKILLs this root; below it, one child has a
            // healthy grandchild and the other one blocked in sync code.
            root.open_nursery(|n| async move {
                let a = n.start_actor("orphan-a", daemon()).await?;
                let b = n.start_actor("orphan-b", daemon()).await?;
                let (_ga, healthy): (_, u32) = a.open_context(NS, "spawn_grandchild", ()).await?;
                let (_gb, blocked): (_, u32) = b.open_context(NS, "spawn_blocked", ()).await?;
                fact("grandchildren", format!("{healthy},{blocked}"));
                fact("ready", true);
                std::future::pending::<()>().await;
                Ok(())
            })
            .await
        }
        "fault-parent-dies" | "cancel-sigint-external" => {
            root.open_nursery(|n| async move {
                let a = n.start_actor("orphan-a", daemon()).await?;
                let b = n
                    .run_in_actor("orphan-b", NS, "sleep_forever", (), ActorOptions::new())
                    .await?;
                let _ = (a.run::<u32>(NS, "pid", ()).await?, b.peer());
                fact("ready", true);
                std::future::pending::<()>().await;
                Ok(())
            })
            .await
        }
        "spawn-root-only-runtime" => spawn_root_only_runtime(root).await,
        "spawn-one-root-in-sub" => spawn_one_root_in_sub(root).await,
        "spawn-loglevel-propagated" => spawn_loglevel_propagated(root).await,
        "spawn-worker-pool" => spawn_worker_pool(root).await,
        "fault-spawned-from-exiting-thread" => spawned_from_exiting_thread(root).await,
        "spawn-start-actors" => spawn_start_actors(root).await,
        "spawn-nested-tree-inside-out" | "ctx-nested-started-result" => {
            spawn_nested_tree(root).await
        }
        "spawn-lifetime-stack-on-error" => spawn_lifetime_stack(root, true).await,
        "spawn-lifetime-stack-on-cancel" => spawn_lifetime_stack(root, false).await,
        "rpc-callback-exposed" => rpc_callback_exposed(root).await,
        "rpc-run-by-name-string" | "rpc-sibling-discovery-call" => rpc_siblings(root).await,
        "rpc-cancel-actor-ack" => rpc_cancel_actor_ack(root).await,
        "ctx-stop-after-return-ignored" => ctx_stop_after_return(root).await,
        "ctx-parent-error-in-block" => ctx_parent_error_in_block(root).await,
        "ctx-cancel-by-opener-silent" => ctx_cancel_by_opener(root).await,
        "ctx-cancel-actor-raises-ctxc" => ctx_cancel_actor_raises(root).await,
        "ctx-cancel-after-child-returned" => ctx_cancel_after_return(root).await,
        "ctx-opener-cancels-echo-child" => ctx_opener_cancels_echo(root).await,
        "ctx-opener-waits-for-child" => ctx_opener_waits(root).await,
        "ctx-cancel-from-sibling-task" => ctx_cancel_from_sibling_task(root).await,
        "ctx-child-self-cancel" => ctx_child_self_cancel(root).await,
        "ctx-unserializable-started" => ctx_unserializable_started(root).await,
        "stream-reqresp-on-top" => stream_reqresp(root).await,
        "stream-consumer-respawn" => stream_consumer_respawn(root).await,
        "stream-infinite-cancelled-by-timeout" => stream_infinite_timeout(root).await,
        "stream-ctx-plus-legacy-kbi" => stream_ctx_plus_legacy_kbi(root).await,
        "stream-local-fanout-22" => bcast_local_fanout(root).await,
        "stream-fanout-echo-10" => bcast_fanout_echo(root).await,
        "stream-fanout-go-signal" => bcast_go_signal(root).await,
        "bcast-subscribe-after-close" => bcast_subscribe_after_close(root).await,
        "bcast-lag" => bcast_lag(root).await,
        "bcast-no-raise-on-lag" => bcast_no_raise_on_lag(root).await,
        "bcast-fast-sub-cancelled" => bcast_fast_sub_cancelled(root).await,
        "bcast-first-recver-cancelled" => bcast_first_recver_cancelled(root).await,
        "bcast-slow-consumers-lag-out" => bcast_slow_consumers(root).await,
        "cancel-kbi-in-nursery" => cancel_kbi_in_nursery(root).await,
        "cancel-cluster-kbi" => cancel_cluster_kbi(root).await,
        "cancel-sigint-from-child-task" => cancel_sigint_from_child_task(root).await,
        "cancel-some-cancels-all-daemon-fails" => cancel_daemon_fails(root).await,
        "cancel-some-cancels-all-delayed-ria" => cancel_delayed_ria(root).await,
        "cancel-graceful-before-hard-reap" => cancel_graceful_before_hard_reap(root).await,
        "cancel-midstream-at-various-delays" => cancel_midstream(root).await,
        "err-boxed-from-daemons-example" => err_boxed_from_daemons(root).await,
        "err-multierror-25-during-spawn" => err_multierror_during_spawn(root).await,
        "fault-25-fail-during-spawn" => fault_fail_during_spawn(root).await,
        "err-unregistered-relayed" => err_unregistered(root).await,
        "err-custom-registered" => err_custom_registered(root).await,
        "err-custom-registered-2" => err_another_registered(root).await,
        "err-type-registry-unit" => err_type_registry_unit(),
        "disc-duplicate-name" => disc_duplicate_name(root).await,
        "disc-registry-dump" => disc_registry_dump(root).await,
        "disc-unregister-on-cancel" | "disc-unregister-on-cancel-remote" => {
            disc_unregister_on_cancel(root, false).await
        }
        "disc-unregister-after-explicit-close" => disc_unregister_on_cancel(root, true).await,
        "disc-unregister-on-sigint" => disc_unregister_on_sigint(root).await,
        "disc-non-registrar-child-finds-root" => disc_child_finds_root(root).await,
        "disc-non-registrar-random-bind" | "disc-non-registrar-binds-exact" => {
            disc_non_registrar_binds(root).await
        }
        "disc-cancel-remote-registrar" => disc_cancel_remote_registrar(root).await,
        "cancel-oob-bg-opener-self-cancel" | "cancel-oob-bg-opener-actor-cancel" => {
            cancel_oob_bg_opener(root).await
        }
        "cancel-peer-canceller" | "cancel-peer-canceller-observer-side" => {
            cancel_peer_canceller(root).await
        }
        "cancel-peer-spawned-service" => cancel_peer_spawned_service(root).await,
        "registrar-daemon" => registrar_daemon(root).await,
        "attack-daemon" => attack_daemon(root).await,
        "registry-probe" => registry_probe(root).await,
        "disc-registrar-election-race" => registrar_election_race(root).await,
        "disc-registrar-restart" => registrar_restart(root).await,
        "registry-wait" => registry_wait(root).await,
        "tpt-uds-example" => tpt_uds_example(root).await,
        "disc-bind-maddr-str" => {
            let addrs = root.accept_addrs();
            fact("bound", crate_list_maddr(&addrs)?);
            fact(
                "port_picked",
                addrs
                    .iter()
                    .all(|a| !matches!(a, Address::Tcp { port: 0, .. })),
            );
            // The tree works through what it bound.
            with_daemon(&root, "kid", |p| async move {
                let hi: String = p.run(NS, "hi", ()).await?;
                fact("hi", hi);
                Ok(())
            })
            .await
        }
        "disc-registrar-bind-union" => {
            let addrs = root.accept_addrs();
            fact("listeners", addrs.len());
            fact(
                "registry_bound",
                root.registry_addrs().iter().all(|r| addrs.contains(r)),
            );
            Ok(())
        }
        "tpt-handshake-garbage" => tpt_handshake_garbage(root).await,
        "auth-tree" | "auth-tree-generated" => auth_tree(root).await,
        "auth-wrong-secret" => auth_wrong_secret(root).await,
        "tpt-limits-inherited" | "tpt-limits-inherited-env" => limits_inherited(root).await,
        "auth-wrong-secret-registrar" => {
            fact("started", "unexpectedly");
            Ok(())
        }
        "auth-stranger-cancel" => auth_stranger_cancel(root).await,
        "auth-insecure-bind" => {
            fact("started", true);
            fact("bound", crate_list(&root.accept_addrs()));
            Ok(())
        }
        "cancel-sigterm-root" => cancel_sigterm_root(root).await,
        "cancel-second-signal" => cancel_second_signal(root).await,
        "cancel-signal-during-wind-down" => cancel_signal_during_wind_down(root).await,
        "log-tree-story" => log_tree_story(root).await,
        "log-daemon-wait" => log_daemon_wait(root).await,
        other => Err(Error::raise("KeyError", format!("no scenario {other:?}"))),
    }
}

// ---------------------------------------------------------------------------
// More of the program's functions, and helpers for the scenarios below.

#[derive(Serialize, Deserialize)]
struct Number {
    n: u64,
}

#[derive(Serialize, Deserialize)]
struct Other {
    other: String,
}

#[derive(Serialize, Deserialize)]
struct Delay {
    ms: u64,
}

#[derive(Serialize, Deserialize)]
struct Guarded {
    path: String,
    raise: bool,
}

/// Any item the echo servers pass back.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
enum Item {
    Int(i64),
    Text(String),
}

/// A value with no wire form: serialising it fails.
struct Unserializable;

impl Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value has no wire form"))
    }
}

/// An application's error type, registered in every actor of this
/// program (at the start of `main`).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct CustomAppError {
    what: String,
    code: i64,
}

impl std::fmt::Display for CustomAppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.what, self.code)
    }
}

impl std::error::Error for CustomAppError {}

impl RemoteErrorType for CustomAppError {
    const NAME: &'static str = "CustomAppError";
}

fn custom_app_error() -> CustomAppError {
    CustomAppError {
        what: "custom failure".into(),
        code: 42,
    }
}

/// A second registered type.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct AnotherAppError {
    reasons: Vec<String>,
}

impl std::fmt::Display for AnotherAppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "another failure: {}", self.reasons.join(", "))
    }
}

impl std::error::Error for AnotherAppError {}

impl RemoteErrorType for AnotherAppError {
    const NAME: &'static str = "AnotherAppError";
}

fn another_app_error() -> AnotherAppError {
    AnotherAppError {
        reasons: vec!["one".into(), "two".into()],
    }
}

/// Types the registry's own scenario registers as it goes.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct UnitOneError(u8);

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct UnitTwoError(String);

macro_rules! unit_error_type {
    ($t:ty, $name:literal) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:?}", self)
            }
        }
        impl std::error::Error for $t {}
        impl RemoteErrorType for $t {
            const NAME: &'static str = $name;
        }
    };
}

unit_error_type!(UnitOneError, "UnitOneError");
unit_error_type!(UnitTwoError, "UnitTwoError");

/// An application's own error type, known to no registry.
#[derive(Debug)]
struct UnregisteredAppError(String);

impl std::fmt::Display for UnregisteredAppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnregisteredAppError {}

/// How many functions holding a [`Tracked`] ended in this process, by
/// returning or by being cancelled: their `finally` ran.
static DROPS: AtomicU32 = AtomicU32::new(0);

/// Counts into [`DROPS`] when dropped.
struct Tracked;

impl Drop for Tracked {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

/// Prints `dropped=<actor>` on the tree's stdout when dropped: the
/// function holding it was cancelled, and the actor lived to run its
/// cleanup.
struct PrintOnDrop(String);

impl Drop for PrintOnDrop {
    fn drop(&mut self) {
        use std::io::Write;
        println!("dropped={}", self.0);
        let _ = std::io::stdout().flush();
    }
}

/// Removes a file when dropped.
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Whether `open_stream` was refused after a context cancelled itself.
static SELF_CANCEL_REFUSED: AtomicBool = AtomicBool::new(false);

fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|i| i * i <= n)
            .all(|i| !n.is_multiple_of(i))
}

fn not_found(name: &str) -> Error {
    Error::raise("LookupError", format!("no actor named {name}"))
}

fn more_functions() -> Functions {
    Functions::new()
        .rpc(NS, "is_prime", |n: Number| async move { Ok(is_prime(n.n)) })
        .rpc(NS, "check_in", |v: Value| async move {
            // The caller is registered with this registrar by now.
            let name = v.value.unwrap_or_default();
            let registered = me().query_actor(&name).await?.is_some();
            check!(registered, "{name} is not registered");
            CHECKED_IN
                .lock()
                .map_err(|_| Error::raise("RuntimeError", "a poisoned lock"))?
                .insert(name);
            Ok(())
        })
        .rpc(NS, "call_root", |(): ()| async move {
            let root = me()
                .find_actor("root")
                .await?
                .ok_or_else(|| not_found("root"))?;
            root.run::<String>(NS, "hi", ()).await
        })
        .rpc(NS, "find_root", |(): ()| async move {
            let root = me()
                .find_actor("root")
                .await?
                .ok_or_else(|| not_found("root"))?;
            Ok((root.peer().name.clone(), root.peer().uuid.clone()))
        })
        .rpc(NS, "greet_sibling", |o: Other| async move {
            let sibling = me().wait_for_actor(&o.other).await?;
            sibling.run::<String>(NS, "hi", ()).await
        })
        .rpc(NS, "auth_report", |(): ()| async move { Ok(auth_report()) })
        .rpc(NS, "auth_report_deep", |(): ()| async move {
            let mine = auth_report();
            let below = me()
                .open_nursery(|n| async move {
                    let g = n.start_actor("grandchild", daemon()).await?;
                    let r: AuthReport = g.run(NS, "auth_report", ()).await?;
                    n.cancel().await;
                    Ok(r)
                })
                .await?;
            Ok((mine, below))
        })
        .rpc(NS, "dialogs_deep", |(): ()| async move {
            // The root's own limit, then a grandchild's (over this actor's
            // connection with it, its parent's).
            let root = me()
                .find_actor("root")
                .await?
                .ok_or_else(|| not_found("root"))?;
            let (root_over, _) = over_the_limit(&root).await?;
            let (over, after) = me()
                .open_nursery(|n| async move {
                    let g = n.start_actor("grandchild", daemon()).await?;
                    let outcome = over_the_limit(&g).await?;
                    n.cancel().await;
                    Ok(outcome)
                })
                .await?;
            Ok((root_over, over, after))
        })
        .rpc(NS, "cancel_peer", |o: Other| async move {
            let peer = me()
                .find_actor(&o.other)
                .await?
                .ok_or_else(|| not_found(&o.other))?;
            peer.cancel_actor().await
        })
        .rpc(NS, "wait_drops", |c: Count| async move {
            let me = me();
            until(&me, || DROPS.load(Ordering::SeqCst) >= c.n).await;
            Ok(DROPS.load(Ordering::SeqCst))
        })
        .rpc(NS, "guard_forever", |(): ()| async move {
            let _finally = PrintOnDrop(me().uid().name.clone());
            std::future::pending::<()>().await;
            Ok(())
        })
        .rpc(NS, "raise_after", |d: Delay| async move {
            // No pause at all for 0 (a zero sleep may still yield once):
            // it asserts before any await point.
            if d.ms > 0 {
                me().sleep(Duration::from_millis(d.ms)).await;
            }
            Err::<(), _>(Error::raise("AssertionError", "a one-shot fails late"))
        })
        .rpc(NS, "raise_unregistered", |(): ()| async move {
            Err::<(), _>(UnregisteredAppError("nobody registered this error".into()).into())
        })
        .rpc(NS, "accept_addrs", |(): ()| async move {
            Ok(me().accept_addrs())
        })
        .rpc(NS, "loglevel", |(): ()| async move {
            let me = me();
            let level = me.loglevel().map(str::to_owned);
            eprintln!("loglevel {} {level:?}", me.uid().name);
            Ok(level)
        })
        .rpc(NS, "registry_has_me", |(): ()| async move {
            let me = me();
            let key = format!("{}.{}", me.uid().name, me.uid().uuid);
            Ok(me.get_registry().await?.contains_key(&key))
        })
        .rpc(NS, "guarded_file", |g: Guarded| async move {
            std::fs::write(&g.path, b"held by a child")?;
            let _finally = Unlink(g.path.clone());
            if g.raise {
                return Err(Error::raise(
                    "AssertionError",
                    "the child fails holding a file",
                ));
            }
            std::future::pending::<()>().await;
            Ok(())
        })
        .rpc(NS, "open_root_here", |(): ()| async move {
            let rt = runtime();
            let config = Config::new("nested", Functions::new());
            tractor_driver::open_root_actor(rt, config, |_| async { Ok(()) }).await
        })
        .rpc(NS, "self_cancel_refused", |(): ()| async move {
            Ok(SELF_CANCEL_REFUSED.load(Ordering::SeqCst))
        })
        .context(NS, "block_tracked", |ctx: Context, (): ()| async move {
            let _finally = Tracked;
            ctx.started(()).await?;
            std::future::pending::<()>().await;
            Ok(())
        })
        .context(
            NS,
            "hold_grandchildren",
            |ctx: Context, (): ()| async move { hold_grandchildren(ctx).await },
        )
        .context(NS, "guard_ctx", |ctx: Context, (): ()| async move {
            let _finally = PrintOnDrop(me().uid().name.clone());
            ctx.started(()).await?;
            std::future::pending::<()>().await;
            Ok(())
        })
        .context(NS, "self_cancel", |ctx: Context, (): ()| async move {
            ctx.cancel()?;
            let refused = ctx.open_stream().await.is_err();
            SELF_CANCEL_REFUSED.store(refused, Ordering::SeqCst);
            // The next await point ends the function: it cancelled itself.
            me().sleep(Duration::from_secs(3600)).await;
            Ok(())
        })
        .context(NS, "supervisor", |ctx: Context, (): ()| async move {
            supervise_leaves(ctx).await
        })
        .context(NS, "reqresp", |ctx: Context, (): ()| async move {
            reqresp(ctx).await
        })
        .context(
            NS,
            "unserializable_started",
            |ctx: Context, (): ()| async move {
                // Hold a context and its stream with a peer (the root)...
                let root = me()
                    .find_actor("root")
                    .await?
                    .ok_or_else(|| not_found("root"))?;
                let (peer, ()) = root.open_context(NS, "block_forever", ()).await?;
                let stream = peer.open_stream().await?;
                let out = ctx.started(Unserializable).await;
                // ...and cancel it on the way out, as a `finally` would.
                drop(stream);
                let _ = peer.cancel();
                out
            },
        )
        .context(NS, "stream_until_done", |ctx: Context, (): ()| async move {
            stream_until_done(ctx).await
        })
        .context(NS, "ticks", |ctx: Context, (): ()| async move {
            ctx.started(()).await?;
            let stream = ctx.open_stream().await?;
            let go: String = stream.receive().await?;
            check!(go == "go", "expected go, got {go:?}");
            for i in 0..5u32 {
                stream.send(&i).await?;
            }
            stream.close()?;
            Ok(())
        })
        .context(NS, "spawn_server", |ctx: Context, (): ()| async move {
            // Spawns a daemon for each name it is sent, and keeps them
            // until it ends.
            ctx.started(()).await?;
            let stream = ctx.open_stream().await?;
            me().open_nursery(|n| async move {
                while let Some(name) = stream.next::<String>().await {
                    let name = name?;
                    n.start_actor(&name, daemon()).await?;
                    stream.send(&name).await?;
                }
                Ok(())
            })
            .await
        })
        .context(NS, "client", |ctx: Context, s: Spawn| async move {
            spawn_client(ctx, s).await
        })
        .context(NS, "feed_peer", |ctx: Context, o: Other| async move {
            feed_peer(ctx, o.other).await
        })
        .stream(NS, "count_forever", |out: MsgStream, (): ()| async move {
            let mut i = 0u64;
            loop {
                out.send(&i).await?;
                i += 1;
                yield_now().await;
            }
            #[allow(unreachable_code)]
            Ok(())
        })
}

/// Spawns two leaves, names them in `started`, squares 1..=4 on them round
/// robin, and cancels them before returning the squares.
async fn supervise_leaves(ctx: Context) -> Result<Vec<i64>> {
    me().open_nursery(|n| async move {
        let names = ["leaf_1", "leaf_2"];
        let mut leaves = Vec::new();
        for name in names {
            leaves.push(n.start_actor(name, daemon()).await?);
        }
        ctx.started(names).await?;
        let calls: Vec<SendBoxed<'_, Result<i64>>> = (1..=4i64)
            .map(|i| {
                let leaf = leaves[(i as usize - 1) % leaves.len()].clone();
                Box::pin(async move { leaf.run::<i64>(NS, "square", Data { data: i }).await })
                    as SendBoxed<'_, _>
            })
            .collect();
        let squares: Result<Vec<i64>> = join_all(calls).await.into_iter().collect();
        // The leaves go first, then the supervisor returns.
        n.cancel().await;
        squares
    })
    .await
}

/// One task feeds `yo` every few milliseconds while another answers each
/// `ping` with a `pong`, on the same stream; returns the pongs sent.
async fn reqresp(ctx: Context) -> Result<u32> {
    ctx.started(()).await?;
    let stream = ctx.open_stream().await?;
    let feed = async {
        while stream.send("yo").await.is_ok() {
            me().sleep(Duration::from_millis(10)).await;
        }
        std::future::pending::<std::convert::Infallible>().await
    };
    let answer = async {
        let mut pongs = 0u32;
        while let Some(m) = stream.next::<String>().await {
            if m? == "ping" {
                stream.send("pong").await?;
                pongs += 1;
            }
        }
        Ok(pongs)
    };
    match race(answer, feed).await {
        Either::Left(r) => r,
        Either::Right(never) => match never {},
    }
}

/// Streams 0, 1, 2, … until the opener sends `done`, then closes its
/// stream and returns how many items it sent.
async fn stream_until_done(ctx: Context) -> Result<u64> {
    ctx.started(()).await?;
    let stream = ctx.open_stream().await?;
    let sent = AtomicU64::new(0);
    let feed = async {
        loop {
            let i = sent.load(Ordering::SeqCst);
            stream.send(&i).await?;
            sent.store(i + 1, Ordering::SeqCst);
            yield_now().await;
        }
        #[allow(unreachable_code)]
        Ok::<(), Error>(())
    };
    let done = async {
        while let Some(m) = stream.next::<String>().await {
            if m? == "done" {
                return Ok(());
            }
        }
        Err(Error::raise("EOFError", "the opener left without done"))
    };
    match race(done, feed).await {
        Either::Left(r) => r?,
        Either::Right(r) => r?,
    }
    stream.close()?;
    Ok(sent.load(Ordering::SeqCst))
}

/// Streams integers through an echo of the actor `peer` until that ends;
/// returns how it ended and who cancelled it.
async fn feed_peer(ctx: Context, peer: String) -> Result<String> {
    let peer = me().wait_for_actor(&peer).await?;
    let (link, ()) = peer.open_context(NS, "echo", ()).await?;
    let stream = link.open_stream().await?;
    // Linked up: now the opener may go on.
    ctx.started(()).await?;
    let mut i = 0i64;
    let end = loop {
        if let Err(e) = stream.send(&i).await {
            break Some(e);
        }
        match stream.next::<i64>().await {
            Some(Ok(_)) => i += 1,
            Some(Err(e)) => break Some(e),
            None => break None,
        }
    };
    let end = match end {
        Some(e) => e,
        None => match link.wait_for_result::<u32>().await {
            Ok(n) => return Ok(format!("returned:{n}")),
            Err(e) => e,
        },
    };
    Ok(format!("{}:{}", describe(&end), canceller(&end)))
}

#[derive(Serialize, Deserialize)]
struct Spawn {
    server: String,
    name: String,
}

/// Asks the spawn server for a daemon, echoes 100 items with it, reports
/// its name in `started`, then holds on until cancelled.
async fn spawn_client(ctx: Context, s: Spawn) -> Result<()> {
    let me = me();
    let server = me.wait_for_actor(&s.server).await?;
    let (spawning, ()) = server.open_context(NS, "spawn_server", ()).await?;
    let requests = spawning.open_stream().await?;
    requests.send(&s.name).await?;
    let spawned: String = requests.receive().await?;
    let bro = me.wait_for_actor(&spawned).await?;
    let (echo, ()) = bro.open_context(NS, "echo", ()).await?;
    let items = echo.open_stream().await?;
    for i in 0..100i64 {
        items.send(&i).await?;
        let back: i64 = items.receive().await?;
        check!(back == i, "{back} for {i}");
    }
    drop(items);
    echo.wait_for_result::<u32>().await?;
    ctx.started(&spawned).await?;
    std::future::pending::<()>().await;
    Ok(())
}

/// Either of two outcomes.
enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls `a`, then `b`, until one finishes; the other is dropped, which
/// cancels it.
async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

/// Polls `a` and `b` until both finish.
async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let (mut ra, mut rb) = (None, None);
    poll_fn(|cx| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.expect("a finished"), rb.expect("b finished"))
}

/// Lets the other futures of this task run once.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Resolves once `cond` holds; for a condition the same task changes (no
/// waker needed: it is polled right after the future that changes it).
fn when(cond: impl Fn() -> bool) -> impl Future<Output = ()> {
    poll_fn(move |_| {
        if cond() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

/// Waits until `cond` holds, for conditions that another task, thread or
/// process changes: it looks again every few milliseconds, which changes
/// how long the wait takes and nothing else.
/// The file by which process `pid` tells it is blocked in `block_sync`.
/// The file `conf:hold` writes once it runs, in the process `pid`.
fn held_marker(pid: u32) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("held-{pid}"))
}

/// Kills the process `pid` with SIGKILL.
fn sigkill(pid: u32) -> Result<()> {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .map_err(|e| Error::raise("OSError", format!("kill {pid}: {e}")))
}

/// Checks that `e` is the error of a dialog whose peer, the child `name`
/// of pid `pid`, was SIGKILLed: the actor, its pid and the signal, in the
/// error's fields and its words. Prints the error and the pid.
fn child_died(e: &Error, name: &str, pid: u32) -> Result<()> {
    fact("error", describe(e));
    fact("victim_pid", pid);
    let ErrorKind::Dialog(DialogError::PeerLost {
        peer,
        pid: Some(lost),
        exit: Some(exit),
        ..
    }) = e.kind()
    else {
        return Err(Error::raise(
            "AssertionError",
            format!("not a lost peer: {e}"),
        ));
    };
    check!(peer.name == name && *lost == pid, "{e}");
    check!(exit.signal == Some(9) && exit.code.is_none(), "{e}");
    let said = e.to_string();
    check!(
        said.starts_with(&format!("actor '{name}' (uid {peer}, pid {pid}) died: ")),
        "{said}"
    );
    check!(said.ends_with("killed by SIGKILL"), "{said}");
    Ok(())
}

fn blocked_marker(pid: u32) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("blocked-{pid}"))
}

async fn until(actor: &ActorHandle, mut cond: impl FnMut() -> bool) {
    while !cond() {
        actor.sleep(Duration::from_millis(5)).await;
    }
}

/// A cancellation requested by this side of a context names `by` as its
/// canceller.
fn requested_by(e: &Error, by: &ActorHandle) -> bool {
    matches!(e.kind(), ErrorKind::Dialog(_))
        && e.to_string() == "cancelled as requested"
        && e.canceller() == Some(by.uid())
}

/// The canceller named by a `ContextCancelled`.
fn canceller(e: &Error) -> String {
    e.canceller().map(|u| u.name.clone()).unwrap_or_default()
}

fn interrupted() -> Error {
    ErrorKind::Interrupted.into()
}

/// A file in the tree's runtime directory (removed with the tree).
fn tree_file(name: &str) -> Result<String> {
    let dir = std::env::var("XDG_RUNTIME_DIR")
        .map_err(|_| Error::raise("OSError", "XDG_RUNTIME_DIR is not set"))?;
    Ok(format!("{dir}/{name}"))
}

fn registry_names(reg: &std::collections::BTreeMap<String, Vec<Address>>) -> Vec<String> {
    let mut names: Vec<String> = reg
        .keys()
        .map(|k| k.rsplit_once('.').map_or(k.as_str(), |(n, _)| n).to_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------
// Scenarios, one function each.

async fn spawn_root_only_runtime(root: ActorHandle) -> Result<()> {
    let mut iterations = 0;
    for _ in 0..10 {
        root.sleep(Duration::from_millis(10)).await;
        iterations += 1;
    }
    fact("iterations", iterations);
    fact("registrar", root.is_registrar());
    fact(
        "registered",
        registry_names(&root.get_registry().await?).join(","),
    );
    Ok(())
}

async fn spawn_one_root_in_sub(root: ActorHandle) -> Result<()> {
    let out = one_shot(&root, "nested", "open_root_here").await;
    let e = out.expect_err("a second root in a child must fail");
    fact("error", describe(&e));
    if let Some(r) = e.remote() {
        fact("message", r.text());
    }
    Ok(())
}

async fn spawn_loglevel_propagated(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        for level in ["debug", "cancel", "critical"] {
            let p = n
                .run_in_actor(
                    format!("log-{level}"),
                    NS,
                    "loglevel",
                    (),
                    ActorOptions::new().loglevel(level),
                )
                .await?;
            let got: Option<String> = p.wait_for_result().await?;
            fact(level, got.unwrap_or_default());
        }
        Ok(())
    })
    .await
}

/// A daemon spawned from a plain thread that exits right after: the OS
/// thread that forked the child ends while the parent process lives on, as
/// Python's spawning worker threads do. Linux's parent-death signal would
/// take that for the parent's death and SIGTERM the child; the child must
/// get no SIGTERM, serve on once the thread is gone, and end only when
/// the root cancels it.
async fn spawned_from_exiting_thread(root: ActorHandle) -> Result<()> {
    // The thread drives the spawn itself; tokio's processes need its
    // runtime entered.
    let tokio = tokio::runtime::Handle::try_current().ok();
    let actor = root.clone();
    root.open_nursery(|n| async move {
        let (tx, rx) = smol::channel::bounded(1);
        let spawner = n.clone();
        let thread = std::thread::spawn(move || {
            let _in_tokio = tokio.as_ref().map(tokio::runtime::Handle::enter);
            let out = smol::future::block_on(async {
                let p = spawner.start_actor("thread-spawned", daemon()).await?;
                // Before this thread ends: the child notes SIGTERM from now.
                p.run::<()>(NS, "watch_sigterm", ()).await?;
                Ok::<_, Error>(p)
            });
            let _ = tx.send_blocking((nix::unistd::gettid(), out));
        });
        let (tid, p) = rx
            .recv()
            .await
            .map_err(|_| Error::raise("RuntimeError", "the spawning thread vanished"))?;
        let p = p?;
        // Once its /proc entry is gone, the kernel is done with the
        // thread's exit: a signal it sends the thread's children is queued.
        let task = std::path::PathBuf::from(format!("/proc/self/task/{tid}"));
        let deadline = Instant::now() + tractor_conformance::HANG;
        while task.exists() {
            check!(Instant::now() < deadline, "the spawning thread never ended");
            actor.sleep(Duration::from_millis(5)).await;
        }
        thread
            .join()
            .map_err(|_| Error::raise("RuntimeError", "the spawning thread panicked"))?;
        fact("spawner_gone", true);
        for _ in 0..3 {
            let hi: String = p.run(NS, "hi", ()).await?;
            check!(hi == "hi from thread-spawned", "{hi}");
        }
        let ppid: i32 = p.run(NS, "ppid", ()).await?;
        fact(
            "child_of_root",
            i64::from(ppid) == i64::from(std::process::id()),
        );
        let seen: bool = p.run(NS, "sigterm_seen", ()).await?;
        fact("sigterm_seen", seen);
        fact("cancel_acked", p.cancel_actor().await?);
        Ok(())
    })
    .await
}

async fn spawn_worker_pool(root: ActorHandle) -> Result<()> {
    const INPUTS: [u64; 6] = [
        1_000_003, 1_000_033, 1_000_035, 1_000_037, 1_000_039, 1_000_041,
    ];
    root.open_nursery(|n| async move {
        let mut pool = Vec::new();
        for i in 0..4 {
            pool.push(n.start_actor(format!("worker-{i}"), daemon()).await?);
        }
        // Every input at once, spread over the pool; results recorded as
        // they come back.
        let done = RefCell::new(Vec::new());
        let calls: Vec<Boxed<'_, Result<()>>> = INPUTS
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let worker = pool[i % pool.len()].clone();
                let done = &done;
                Box::pin(async move {
                    let prime: bool = worker.run(NS, "is_prime", Number { n: x }).await?;
                    done.borrow_mut().push((x, prime));
                    Ok::<_, Error>(())
                }) as Boxed<'_, _>
            })
            .collect();
        for r in join_all(calls).await {
            r?;
        }
        let mut done = done.into_inner();
        fact("completed", done.len());
        done.sort();
        let primes: Vec<String> = done
            .iter()
            .filter(|(_, p)| *p)
            .map(|(x, _)| x.to_string())
            .collect();
        fact("primes", primes.join(","));
        n.cancel().await;
        Ok(())
    })
    .await
}

/// The children this actor's own record lists with a process, by name,
/// among `names` (read from its task-tree dump: a child line is
/// `name[uuid] pid N: state`).
fn children_with_pids(names: &[String]) -> std::collections::BTreeMap<String, u32> {
    let dump = tractor_driver::stackscope::dump();
    let mut found = std::collections::BTreeMap::new();
    for line in dump.lines().map(str::trim_start) {
        let Some(name) = names.iter().find(|n| line.starts_with(&format!("{n}["))) else {
            continue;
        };
        let pid = line
            .split_once(" pid ")
            .and_then(|(_, rest)| rest.split(':').next())
            .and_then(|pid| pid.parse().ok());
        if let Some(pid) = pid {
            found.insert(name.clone(), pid);
        }
    }
    found
}

/// Polls `fut` once: its output if that finished it.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// `ActorNursery::start_actors`: a batch of daemons started at once, used
/// from many tasks; a batch with a child that cannot start leaves none of
/// its children behind.
async fn spawn_start_actors(root: ActorHandle) -> Result<()> {
    let me = root.clone();
    root.open_nursery(|n| async move {
        let names: Vec<String> = (0..4).map(|i| format!("worker-{i}")).collect();
        let mut batch = n.start_actors(names.iter().map(|name| (name, daemon())));
        // One poll issues every spawn of the batch before it waits for any
        // child to connect back: all four are running processes by then.
        let first = poll_once(&mut batch).await;
        let started = children_with_pids(&names);
        fact("started_at_first_poll", started.len());
        check!(
            started.len() == names.len(),
            "after one poll only {started:?} were started"
        );
        let portals = match first {
            Poll::Ready(portals) => portals?,
            Poll::Pending => batch.await?,
        };
        let order: Vec<&str> = portals.iter().map(|p| p.peer().name.as_str()).collect();
        fact("order", order.join(","));
        check!(order == names, "portals in the order {order:?}");

        // Three tasks per worker call it at once, each through its own
        // clone of the worker's portal.
        let mut tasks = Vec::new();
        for portal in &portals {
            for _ in 0..3 {
                let portal = portal.clone();
                tasks.push(me.spawn(async move {
                    let hi: String = portal.run(NS, "hi", ()).await?;
                    let pid: u32 = portal.run(NS, "pid", ()).await?;
                    Ok::<_, Error>((portal.peer().name.clone(), hi, pid))
                }));
            }
        }
        let mut answers = 0;
        for task in tasks {
            let (name, hi, pid) = task.await??;
            check!(hi == format!("hi from {name}"), "{name} answered {hi:?}");
            check!(
                started.get(&name) == Some(&pid),
                "{name} answered from pid {pid}, started as {:?}",
                started.get(&name)
            );
            answers += 1;
        }
        fact("answers", answers);
        let pids: std::collections::BTreeSet<u32> = started.values().copied().collect();
        fact("distinct_pids", pids.len());
        check!(
            pids.len() == names.len() && !pids.contains(&std::process::id()),
            "pids {pids:?}"
        );

        // Names borrowed from temporaries, futures awaited together.
        #[allow(clippy::needless_borrows_for_generic_args)]
        let extra: Vec<Result<Portal>> = join_all(
            (0..2)
                .map(|i| n.start_actor(&format!("extra-{i}"), daemon()))
                .collect(),
        )
        .await;
        let mut extra_names = Vec::new();
        for p in extra {
            let p = p?;
            let hi: String = p.run(NS, "hi", ()).await?;
            extra_names.push(hi);
        }
        fact("extra", extra_names.join(","));

        // A batch whose middle child cannot start: the others are cancelled
        // and gone before the error comes back.
        let doomed: Vec<String> = ["doomed-0", "doomed-1", "doomed-2"]
            .map(String::from)
            .into();
        let options = |i: usize| match i {
            1 => daemon().program("/nonexistent/tractor-conformance"),
            _ => daemon(),
        };
        let mut failing = n.start_actors(
            doomed
                .iter()
                .enumerate()
                .map(|(i, name)| (name.as_str(), options(i))),
        );
        // The first poll finds doomed-1 failed and cancels the other two
        // (SIGTERM, as they have not connected back): what is left of them
        // to see here may already be going.
        let first = poll_once(&mut failing).await;
        let doomed_pids = children_with_pids(&doomed);
        let e = match first {
            Poll::Ready(r) => r.expect_err("a child cannot start"),
            Poll::Pending => failing.await.expect_err("a child cannot start"),
        };
        let spawn_error = matches!(e.kind(), ErrorKind::Spawn { name, .. } if name == "doomed-1");
        fact(
            "doomed_error",
            if spawn_error {
                "spawn:doomed-1"
            } else {
                "other"
            },
        );
        check!(spawn_error, "the batch failed with {e}");
        let left = children_with_pids(&doomed);
        let alive: Vec<&u32> = doomed_pids
            .values()
            .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
            .collect();
        fact("doomed_left", left.len() + alive.len());
        check!(
            left.is_empty() && alive.is_empty(),
            "after the failed batch: listed {left:?}, running {alive:?}"
        );
        // The nursery's other children are untouched by the failed batch.
        for portal in &portals {
            let hi: String = portal.run(NS, "hi", ()).await?;
            check!(hi == format!("hi from {}", portal.peer().name), "{hi}");
        }
        fact("workers_after_failed_batch", portals.len());

        // A batch whose future is dropped before it returns: its children
        // are cancelled and go (their spawns were issued by the first
        // poll; none can have connected back within it).
        let dropped: Vec<String> = ["dropped-0", "dropped-1"].map(String::from).into();
        let mut batch = n.start_actors(dropped.iter().map(|name| (name.as_str(), daemon())));
        check!(
            poll_once(&mut batch).await.is_pending(),
            "a batch ready at once"
        );
        fact("dropped_batch_listed", children_with_pids(&dropped).len());
        drop(batch);
        // Generously bounded: a child left behind would be listed forever.
        let mut gone = false;
        for _ in 0..6000 {
            if children_with_pids(&dropped).is_empty() {
                gone = true;
                break;
            }
            me.sleep(Duration::from_millis(5)).await;
        }
        fact("dropped_batch_gone", gone);
        check!(
            gone,
            "a dropped batch left {:?}",
            children_with_pids(&dropped)
        );

        n.cancel().await;
        Ok(())
    })
    .await
}

async fn spawn_nested_tree(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        let p = n.start_actor("supervisor", daemon()).await?;
        let (ctx, leaves): (_, Vec<String>) = p.open_context(NS, "supervisor", ()).await?;
        let squares: Vec<i64> = ctx.wait_for_result().await?;
        fact("started", leaves.join(","));
        fact("result", format!("{squares:?}"));
        // The supervisor cancelled its leaves before it returned: the
        // registrar lists none of them any more.
        let mut listed = 0;
        for leaf in &leaves {
            if root.query_actor(leaf).await?.is_some() {
                listed += 1;
            }
        }
        fact("leaves_listed", listed);
        p.cancel_actor().await?;
        Ok(())
    })
    .await
}

async fn spawn_lifetime_stack(root: ActorHandle, on_error: bool) -> Result<()> {
    let path = tree_file("lifetime-file")?;
    let r = root.clone();
    let p2 = path.clone();
    let out = r
        .open_nursery(|n| async move {
            let guarded = Guarded {
                path: p2.clone(),
                raise: on_error,
            };
            let p = n
                .run_in_actor("holder", NS, "guarded_file", guarded, ActorOptions::new())
                .await?;
            if on_error {
                return Ok(());
            }
            until(&root, || std::path::Path::new(&p2).exists()).await;
            fact("held", true);
            // The parent's timeout: the child never returns by itself, and
            // the timeout leaves the nursery, which cancels the child.
            let timeout = root.sleep(Duration::from_millis(100));
            match race(p.wait_for_result::<()>(), timeout).await {
                Either::Left(r) => Err(Error::raise(
                    "AssertionError",
                    format!("a child sleeping forever returned {r:?}"),
                )),
                Either::Right(()) => Err(Error::raise("TimeoutError", "the parent gave up")),
            }
        })
        .await;
    match out {
        Ok(()) => fact("outcome", "ok"),
        Err(e) => fact("outcome", describe(&e)),
    }
    fact("file_left", std::path::Path::new(&path).exists());
    Ok(())
}

async fn spawn_runtime_vars_reset(rt: Arc<dyn Runtime>, transport: Transport) -> Result<()> {
    let mut first = configure("", transport, None)?;
    first.debug_mode = true;
    let first_uid = tractor_driver::open_root_actor(rt.clone(), first, |root| async move {
        with_daemon(&root, "kid", |_| async { Ok(()) }).await?;
        Ok(root.uid().clone())
    })
    .await?;
    fact("between", current_actor().is_none());
    let second = configure("", transport, None)?;
    tractor_driver::open_root_actor(rt, second, |root| async move {
        fact("new_uid", root.uid().uuid != first_uid.uuid);
        fact("registrar", root.is_registrar());
        fact(
            "registered",
            registry_names(&root.get_registry().await?).join(","),
        );
        with_daemon(&root, "kid", |p| async move {
            let hi: String = p.run(NS, "hi", ()).await?;
            fact("hi", hi);
            Ok(())
        })
        .await
    })
    .await
}

async fn spawn_implicit_root(rt: Arc<dyn Runtime>, transport: Transport, bind: bool) -> Result<()> {
    let mut config = configure("", transport, None)?;
    let extra = match transport {
        Transport::Tcp => Address::tcp("127.0.0.1", 0),
        _ => Address::uds(
            tractor_driver::runtime_dir()?.to_string_lossy(),
            "forwarded@conformance.sock",
        ),
    };
    if bind {
        config.bind_addrs = vec![extra.clone()];
    }
    fact("before", current_actor().is_none());
    tractor_driver::open_nursery(rt, config, |n| async move {
        let root = current_actor().expect("the nursery runs in an actor");
        fact("root", &root.uid().name);
        fact("registrar", root.is_registrar());
        let addrs = root.accept_addrs();
        fact("listeners", addrs.len());
        if bind {
            let forwarded = match &extra {
                Address::Tcp { .. } => addrs[1..]
                    .iter()
                    .any(|a| matches!(a, Address::Tcp { port, .. } if *port > 0)),
                _ => addrs.contains(&extra),
            };
            fact("forwarded", forwarded);
        }
        let p = n.start_actor("kid", daemon()).await?;
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("hi", hi);
        p.cancel_actor().await?;
        Ok(())
    })
    .await?;
    fact("after", current_actor().is_none());
    Ok(())
}

async fn rpc_callback_exposed(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let p = n
            .run_in_actor("caller", NS, "call_root", (), ActorOptions::new())
            .await?;
        let got: String = p.wait_for_result().await?;
        fact("result", got);
        Ok(())
    })
    .await
}

async fn rpc_siblings(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let greet = |other: &str| Other {
            other: other.to_owned(),
        };
        let donny = n
            .run_in_actor(
                "donny",
                NS,
                "greet_sibling",
                greet("gretchen"),
                ActorOptions::new(),
            )
            .await?;
        let gretchen = n
            .run_in_actor(
                "gretchen",
                NS,
                "greet_sibling",
                greet("donny"),
                ActorOptions::new(),
            )
            .await?;
        fact("donny", donny.wait_for_result::<String>().await?);
        fact("gretchen", gretchen.wait_for_result::<String>().await?);
        Ok(())
    })
    .await
}

async fn rpc_cancel_actor_ack(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        let p = n.start_actor("streamer", daemon()).await?;
        let s = p.open_stream_from(NS, "range", Count { n: 5 }).await?;
        let mut got = 0;
        while let Some(v) = s.next::<u32>().await {
            v?;
            got += 1;
        }
        drop(s);
        fact("streamed", got);
        // Through discovery, not the supervisor's portal: a plain cancel
        // request, which the actor acknowledges.
        let remote = root
            .find_actor("streamer")
            .await?
            .ok_or_else(|| not_found("streamer"))?;
        fact("acked", remote.cancel_actor().await?);
        Ok(())
    })
    .await
}

async fn ctx_stop_after_return(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "returner", |p| async move {
        let (ctx, first): (_, i64) = p
            .open_context(NS, "started_plus_one", Data { data: 1 })
            .await?;
        check!(first == 2, "{first}");
        // A round trip on the same channel: the child's Return is in
        // before our stream opens.
        let () = p.run(NS, "do_nothing", ()).await?;
        match ctx.open_stream().await {
            // Closing it sends a Stop the finished child ignores.
            Ok(stream) => {
                drop(stream);
                fact("stream", "opened");
            }
            Err(e) => fact("stream", describe(&e)),
        }
        let r: String = ctx.wait_for_result().await?;
        fact("result", r);
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("after", hi);
        Ok(())
    })
    .await
}

async fn ctx_parent_error_in_block(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let p = n.start_actor("ctx", daemon()).await?;
        for (i, open_stream) in [false, true].into_iter().enumerate() {
            let out: Result<()> = async {
                let (ctx, ()) = p.open_context(NS, "block_tracked", ()).await?;
                let _stream = if open_stream {
                    Some(ctx.open_stream().await?)
                } else {
                    None
                };
                Err(Error::raise("ValueError", "the opener's block fails"))
            }
            .await;
            let e = out.expect_err("the block raised");
            fact(&format!("error_stream_{open_stream}"), describe(&e));
            // Leaving the block cancelled the remote task: its drop guard
            // ran (this waits for it).
            let drops: u32 = p.run(NS, "wait_drops", Count { n: i as u32 + 1 }).await?;
            fact(&format!("remote_ended_stream_{open_stream}"), drops);
        }
        p.cancel_actor().await?;
        Ok(())
    })
    .await
}

async fn ctx_cancel_by_opener(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        let p = n.start_actor("blocker", daemon()).await?;
        for (i, open_stream) in [false, true].into_iter().enumerate() {
            let (ctx, ()) = p.open_context(NS, "block_tracked", ()).await?;
            let stream = if open_stream {
                Some(ctx.open_stream().await?)
            } else {
                None
            };
            ctx.cancel()?;
            let e = ctx.wait_for_result::<()>().await.expect_err("cancelled");
            fact(&format!("outcome_stream_{open_stream}"), describe(&e));
            fact(
                &format!("requested_by_root_stream_{open_stream}"),
                requested_by(&e, &root),
            );
            drop(stream);
            let drops: u32 = p.run(NS, "wait_drops", Count { n: i as u32 + 1 }).await?;
            fact(&format!("remote_ended_stream_{open_stream}"), drops);
        }
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("after", hi);
        p.cancel_actor().await?;
        Ok(())
    })
    .await
}

async fn ctx_cancel_actor_raises(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        let p = n.start_actor("blocker", daemon()).await?;
        let (ctx, ()) = p.open_context(NS, "block_tracked", ()).await?;
        let remote = root
            .find_actor("blocker")
            .await?
            .ok_or_else(|| not_found("blocker"))?;
        fact("acked", remote.cancel_actor().await?);
        let e = ctx.wait_for_result::<()>().await.expect_err("cancelled");
        fact("outcome", describe(&e));
        fact("canceller", canceller(&e));
        // Asking again gives the same error.
        let again = ctx.wait_for_result::<()>().await.expect_err("cancelled");
        fact("again", describe(&again));
        Ok(())
    })
    .await
}

async fn ctx_cancel_after_return(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        for via_actor in [false, true] {
            let name = format!("returner-{via_actor}");
            let p = n.start_actor(&name, daemon()).await?;
            let (ctx, _): (_, i64) = p
                .open_context(NS, "started_plus_one", Data { data: 1 })
                .await?;
            // A round trip first, as the catalogue's pause: the child's
            // Return comes before the late cancel.
            let () = p.run(NS, "do_nothing", ()).await?;
            if via_actor {
                let remote = root
                    .find_actor(&name)
                    .await?
                    .ok_or_else(|| not_found(&name))?;
                fact("acked", remote.cancel_actor().await?);
            } else {
                let late = ctx.cancel();
                fact(
                    "late_cancel",
                    late.map_or_else(|e| describe(&e), |()| "accepted".into()),
                );
            }
            let r: String = ctx.wait_for_result().await?;
            fact(&format!("result_via_actor_{via_actor}"), r);
            if !via_actor {
                p.cancel_actor().await?;
            }
        }
        Ok(())
    })
    .await
}

async fn ctx_opener_cancels_echo(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        let p = n.start_actor("echoer", daemon()).await?;
        for when in ["pre_stream", "post_stream_open", "post_stream_close"] {
            let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
            let mut stream = None;
            if when != "pre_stream" {
                let s = ctx.open_stream().await?;
                s.send(&7i64).await?;
                let back: i64 = s.receive().await?;
                check!(back == 7, "{back}");
                stream = Some(s);
            }
            if when == "post_stream_close" {
                drop(stream.take());
            }
            ctx.cancel()?;
            let outcome = match ctx.wait_for_result::<u32>().await {
                Ok(count) => format!("returned:{count}"),
                Err(e) if requested_by(&e, &root) => "cancelled_by_root".into(),
                Err(e) => describe(&e),
            };
            fact(&format!("outcome_{when}"), outcome);
            let reopen = ctx.open_stream().await;
            fact(&format!("reopen_{when}"), reopen.is_err());
            drop(stream);
            // The channel is still up.
            let hi: String = p.run(NS, "hi", ()).await?;
            check!(hi == "hi from echoer", "{hi}");
        }
        p.cancel_actor().await?;
        Ok(())
    })
    .await
}

async fn ctx_opener_waits(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        let p = n.start_actor("echoer", daemon()).await?;
        let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
        let stream = ctx.open_stream().await?;
        // The echo ends only when our side of the stream does: waiting for
        // its result can only time out.
        let timeout = root.sleep(Duration::from_millis(100));
        match race(ctx.wait_for_result::<u32>(), timeout).await {
            Either::Left(r) => {
                return Err(Error::raise(
                    "AssertionError",
                    format!("the echo ended by itself: {r:?}"),
                ));
            }
            Either::Right(()) => fact("timed_out", true),
        }
        ctx.cancel()?;
        let e = ctx.wait_for_result::<u32>().await.expect_err("cancelled");
        fact("outcome", describe(&e));
        fact("requested_by_root", requested_by(&e, &root));
        drop(stream);
        p.cancel_actor().await?;
        Ok(())
    })
    .await
}

async fn ctx_cancel_from_sibling_task(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        let p = n.start_actor("echoer", daemon()).await?;
        let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
        let stream = ctx.open_stream().await?;
        let seen = Cell::new(false);
        let iterate = async {
            let mut got = Vec::new();
            let end = loop {
                match stream.next::<String>().await {
                    Some(Ok(v)) => {
                        got.push(v);
                        seen.set(true);
                    }
                    Some(Err(e)) => break Some(e),
                    None => break None,
                }
            };
            (got, end)
        };
        let cancel = async {
            stream.send("yo").await?;
            when(|| seen.get()).await;
            ctx.cancel()
        };
        let ((got, end), cancelled) = join2(iterate, cancel).await;
        cancelled?;
        fact("received", got.join(","));
        // The cancelled echo's stream ends with the cancellation (no
        // `Stop` before it that would read as a normal end), which is also
        // the context's outcome.
        fact("end", end.map_or_else(|| "eoc".into(), |e| describe(&e)));
        let e = ctx.wait_for_result::<u32>().await.expect_err("cancelled");
        fact("outcome", describe(&e));
        fact("requested_by_root", requested_by(&e, &root));
        drop(stream);
        // The child's finally ran; the channel is still up.
        let drops: u32 = p.run(NS, "wait_drops", Count { n: 1 }).await?;
        fact("remote_ended", drops);
        p.cancel_actor().await?;
        Ok(())
    })
    .await
}

async fn ctx_child_self_cancel(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "selfish", |p| async move {
        let e = match p.open_context::<()>(NS, "self_cancel", ()).await {
            Ok((ctx, ())) => ctx.wait_for_result::<()>().await.expect_err("cancelled"),
            Err(e) => e,
        };
        fact("error", describe(&e));
        fact("canceller", canceller(&e));
        if let Some(r) = e.remote() {
            fact("tb_says_itself", r.tb_str().contains("itself"));
        }
        let refused: bool = p.run(NS, "self_cancel_refused", ()).await?;
        fact("open_stream_refused", refused);
        Ok(())
    })
    .await
}

async fn ctx_unserializable_started(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "encoder", |p| async move {
        let e = match p.open_context::<()>(NS, "unserializable_started", ()).await {
            Ok((ctx, ())) => ctx.wait_for_result::<()>().await.expect_err("fails"),
            Err(e) => e,
        };
        fact("error", describe(&e));
        Ok(())
    })
    .await
}

async fn stream_reqresp(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "server", |p| async move {
        let (ctx, ()) = p.open_context(NS, "reqresp", ()).await?;
        let stream = ctx.open_stream().await?;
        let mut yos = 0;
        // The child's feed runs by itself...
        while stream.receive::<String>().await? != "yo" {}
        yos += 1;
        // ...and answers requests on the same stream meanwhile.
        let mut pongs = 0;
        for _ in 0..3 {
            stream.send("ping").await?;
            loop {
                match stream.receive::<String>().await?.as_str() {
                    "pong" => break,
                    "yo" => yos += 1,
                    other => return Err(Error::raise("ValueError", other.to_owned())),
                }
            }
            pongs += 1;
        }
        drop(stream);
        let answered: u32 = ctx.wait_for_result().await?;
        fact("pongs", pongs);
        fact("answered", answered);
        fact("saw_yo", yos > 0);
        Ok(())
    })
    .await
}

async fn stream_consumer_respawn(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let p = n.start_actor("streamer", daemon()).await?;
        let s = p.open_stream_from(NS, "range", Count { n: 11 }).await?;
        let got = RefCell::new(Vec::new());
        let mut restarts = 0;
        loop {
            // A consumer cancelled after each even value, then started
            // again on the same stream.
            let cancel_me = Cell::new(false);
            let consumer = async {
                while let Some(v) = s.next::<u32>().await {
                    let v = v?;
                    got.borrow_mut().push(v);
                    if v % 2 == 0 {
                        cancel_me.set(true);
                        yield_now().await;
                    }
                }
                Ok::<(), Error>(())
            };
            match race(consumer, when(|| cancel_me.get())).await {
                Either::Left(r) => {
                    r?;
                    break;
                }
                Either::Right(()) => restarts += 1,
            }
        }
        fact("received", format!("{:?}", got.into_inner()));
        fact("restarts", restarts);
        p.cancel_actor().await?;
        Ok(())
    })
    .await
}

async fn stream_infinite_timeout(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        let p = n.start_actor("streamer", daemon()).await?;
        let s = p.open_stream_from(NS, "count_forever", ()).await?;
        let consume = async {
            while let Some(v) = s.next::<u64>().await {
                v?;
            }
            Ok::<(), Error>(())
        };
        match race(consume, root.sleep(Duration::from_millis(100))).await {
            Either::Left(r) => {
                return Err(Error::raise(
                    "AssertionError",
                    format!("an endless stream ended: {r:?}"),
                ));
            }
            Either::Right(()) => fact("timed_out", true),
        }
        drop(s);
        n.cancel().await;
        fact("cancelled", true);
        Ok(())
    })
    .await
}

async fn stream_ctx_plus_legacy_kbi(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let p = n.start_actor("both", daemon()).await?;
        let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
        let echo = ctx.open_stream().await?;
        let legacy = p.open_stream_from(NS, "count_forever", ()).await?;
        echo.send(&7i64).await?;
        let back: i64 = echo.receive().await?;
        let first: u64 = legacy.receive().await?;
        fact("echoed", back);
        fact("legacy_first", first);
        Err(interrupted())
    })
    .await
}

async fn cancel_kbi_in_nursery(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let p = n.start_actor("idle", daemon()).await?;
        let () = p.run(NS, "do_nothing", ()).await?;
        fact("ready", true);
        Err(interrupted())
    })
    .await
}

async fn cancel_cluster_kbi(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        for i in 0..2 {
            n.run_in_actor(
                format!("worker-{i}"),
                NS,
                "sleep_forever",
                (),
                ActorOptions::new(),
            )
            .await?;
        }
        root.wait_for_actor("worker-1").await?;
        fact("ready", true);
        Err(interrupted())
    })
    .await
}

async fn cancel_sigint_from_child_task(root: ActorHandle) -> Result<()> {
    let spawner = root.clone();
    root.spawn(async move {
        let _ = spawner
            .open_nursery(|n| async move {
                for i in 0..3 {
                    n.run_in_actor(
                        format!("sleeper-{i}"),
                        NS,
                        "sleep_forever",
                        (),
                        ActorOptions::new(),
                    )
                    .await?;
                }
                std::future::pending::<()>().await;
                Ok(())
            })
            .await;
    });
    root.wait_for_actor("sleeper-2").await?;
    fact("ready", true);
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT)
        .map_err(|e| Error::raise("OSError", e.to_string()))?;
    std::future::pending::<()>().await;
    Ok(())
}

async fn cancel_daemon_fails(root: ActorHandle) -> Result<()> {
    for quick in [false, true] {
        let out = root
            .open_nursery(|n| async move {
                let mut daemons = Vec::new();
                for i in 0..3 {
                    daemons.push(n.start_actor(format!("daemon-{i}"), daemon()).await?);
                }
                let func = if quick { "do_nothing" } else { "sleep_forever" };
                let mut one_shots = Vec::new();
                for i in 0..3 {
                    let name = format!("one-shot-{i}");
                    one_shots.push(
                        n.run_in_actor(&name, NS, func, (), ActorOptions::new())
                            .await?,
                    );
                }
                if quick {
                    for o in &one_shots {
                        o.wait_for_result::<()>().await?;
                    }
                }
                let raise = Raise {
                    type_name: "AssertionError".into(),
                    message: "a daemon's call fails".into(),
                };
                daemons[0].run::<()>(NS, "raise", raise).await?;
                Ok(())
            })
            .await;
        let e = out.expect_err("the daemon's call failed");
        fact(&format!("quick_{quick}"), describe(&e));
    }
    Ok(())
}

async fn cancel_delayed_ria(root: ActorHandle) -> Result<()> {
    let out = root
        .open_nursery(|n| async move {
            for i in 0..3 {
                let p = n.start_actor(format!("daemon-{i}"), daemon()).await?;
                let () = p.run(NS, "do_nothing", ()).await?;
            }
            for i in 0..3 {
                n.run_in_actor(
                    format!("late-{i}"),
                    NS,
                    "raise_after",
                    Delay { ms: 100 },
                    ActorOptions::new(),
                )
                .await?;
            }
            Ok(())
        })
        .await;
    let e = out.expect_err("the one-shots fail");
    let errors = e.errors();
    fact("count", errors.len());
    let all: Vec<String> = errors.iter().map(describe).collect();
    fact("members", all.join(";"));
    Ok(())
}

async fn cancel_graceful_before_hard_reap(root: ActorHandle) -> Result<()> {
    let body_done = Cell::new(false);
    let flag = &body_done;
    let spawner = root.clone();
    let nursery = root.open_nursery(move |n| async move {
        let p = n.start_actor("daemon", daemon()).await?;
        let (ctx, ()) = p.open_context(NS, "guard_ctx", ()).await?;
        // Keep the daemon's function running past the body.
        spawner.spawn(async move {
            let _ = ctx.wait_for_result::<()>().await;
        });
        flag.set(true);
        Ok(())
    });
    // A sibling task raises a KeyboardInterrupt once the nursery waits for
    // its daemon.
    match race(nursery, when(|| body_done.get())).await {
        Either::Left(r) => {
            r?;
            Err(Error::raise(
                "AssertionError",
                "the nursery ended with its daemon running",
            ))
        }
        Either::Right(()) => Err(interrupted()),
    }
}

async fn cancel_midstream(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let p = n.start_actor("aggregator", daemon()).await?;
        let mut cut = Vec::new();
        for k in [0usize, 1, 10, 500] {
            let s = p
                .open_stream_from(NS, "aggregate", Count { n: 1000 })
                .await?;
            let mut got = Vec::new();
            while got.len() < k {
                match s.next::<u32>().await {
                    Some(v) => got.push(v?),
                    None => break,
                }
            }
            check!(
                got == (0..k as u32).collect::<Vec<_>>(),
                "got {} items out of order",
                got.len()
            );
            // Cancelled mid-stream; the aggregator lives on.
            drop(s);
            let hi: String = p.run(NS, "hi", ()).await?;
            check!(hi == "hi from aggregator", "{hi}");
            cut.push(got.len());
        }
        fact("cut_after", format!("{cut:?}"));
        p.cancel_actor().await?;
        Ok(())
    })
    .await
}

async fn err_boxed_from_daemons(root: ActorHandle) -> Result<()> {
    let out = root
        .open_nursery(|n| async move {
            for i in 0..3 {
                n.start_actor(format!("daemon-{i}"), daemon()).await?;
            }
            asserters(&n, 1, false).await
        })
        .await;
    fact("error", describe(&out.expect_err("the one-shot fails")));
    Ok(())
}

async fn err_multierror_during_spawn(root: ActorHandle) -> Result<()> {
    for delay in [0u64, 200] {
        let out = root
            .open_nursery(|n| async move {
                for i in 0..25 {
                    n.run_in_actor(
                        format!("asserter-{i}"),
                        NS,
                        "raise_after",
                        Delay { ms: delay },
                        ActorOptions::new(),
                    )
                    .await?;
                }
                Ok(())
            })
            .await;
        let e = out.expect_err("the one-shots fail");
        let errors = e.errors();
        let all_asserts = errors
            .iter()
            .all(|e| describe(e) == "remote:AssertionError:AssertionError");
        fact(&format!("count_{delay}"), errors.len());
        fact(&format!("all_assertions_{delay}"), all_asserts);
    }
    Ok(())
}

/// 25 one-shots, each failing before its first await point while the
/// body still spawns the next: every failure reaches the root, each
/// naming the actor it came from.
async fn fault_fail_during_spawn(root: ActorHandle) -> Result<()> {
    const COUNT: usize = 25;
    let out = root
        .open_nursery(|n| async move {
            for i in 0..COUNT {
                let raise = Raise {
                    type_name: "AssertionError".into(),
                    message: format!("failer-{i} fails"),
                };
                n.run_in_actor(
                    format!("failer-{i}"),
                    NS,
                    "raise",
                    raise,
                    ActorOptions::new(),
                )
                .await?;
            }
            Ok(())
        })
        .await;
    let e = out.expect_err("the one-shots fail");
    fact("error", describe(&e));
    let mut sources = Vec::new();
    for e in e.errors() {
        let name = e.source_actor().map(|u| u.name.clone()).unwrap_or_default();
        // Its own failure, not one relayed or made up on its behalf.
        let own = e
            .remote()
            .is_some_and(|r| r.text() == format!("{name} fails"));
        check!(own, "{name:?} is not the source of {e}");
        sources.push(name);
    }
    sources.sort_by_key(|s| s.trim_start_matches("failer-").parse::<usize>().ok());
    let expected: Vec<String> = (0..COUNT).map(|i| format!("failer-{i}")).collect();
    let missing: Vec<&String> = expected.iter().filter(|n| !sources.contains(n)).collect();
    fact("failures", sources.len());
    fact("missing", format!("{missing:?}"));
    fact("sources_distinct", {
        let mut d = sources.clone();
        d.dedup();
        d.len() == sources.len()
    });
    Ok(())
}

async fn err_unregistered(root: ActorHandle) -> Result<()> {
    let out = one_shot(&root, "raiser", "raise_unregistered").await;
    let e = out.expect_err("the child fails");
    let r = e
        .remote()
        .ok_or_else(|| Error::raise("AssertionError", format!("not remote: {e}")))?;
    fact("boxed_type", r.boxed_type());
    fact("src_type", r.src_type());
    fact("message", r.text());
    fact("tb_str", !r.tb_str().is_empty());
    fact(
        "header",
        e.to_string().lines().next().unwrap_or_default().to_owned(),
    );
    Ok(())
}

/// The facts of a registered error received from another actor: its
/// types, its message and where it is, and the value it rebuilds.
fn registered_facts<T: RemoteErrorType + std::fmt::Debug>(prefix: &str, e: &Error) -> Result<()> {
    let r = e
        .remote()
        .ok_or_else(|| Error::raise("AssertionError", format!("not remote: {e}")))?;
    fact(&format!("{prefix}boxed_type"), r.boxed_type());
    fact(&format!("{prefix}src_type"), r.src_type());
    fact(&format!("{prefix}src"), &r.src_uid().name);
    fact(&format!("{prefix}text"), r.text().trim_end());
    // As Python shows it: the traceback closes with the type and message.
    fact(
        &format!("{prefix}tb_closes_with_message"),
        r.tb_str()
            .ends_with(&format!("\n{}: {}\n", T::NAME, r.text())),
    );
    fact(
        &format!("{prefix}type_name"),
        e.type_name().unwrap_or_default(),
    );
    fact(
        &format!("{prefix}rebuilt"),
        format!("{:?}", e.downcast_ref::<T>()),
    );
    Ok(())
}

async fn err_custom_registered(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "raiser", |p| async move {
        let (ctx, ()) = p.open_context(NS, "raise_custom_after_started", ()).await?;
        let e = ctx
            .wait_for_result::<()>()
            .await
            .expect_err("the child fails");
        registered_facts::<CustomAppError>("", &e)?;
        // Not another registered type.
        fact(
            "other_type",
            format!("{:?}", e.downcast_ref::<AnotherAppError>()),
        );
        Ok(())
    })
    .await?;
    // Through a middle actor: relayed, still rebuilt.
    let e = one_shot(&root, "mid", "relay_custom")
        .await
        .expect_err("the relay fails");
    registered_facts::<CustomAppError>("relayed_", &e)?;
    fact(
        "relay_path",
        e.remote()
            .map(|r| {
                let names: Vec<&str> = r.relay_path().iter().map(|u| u.name.as_str()).collect();
                names.join(",")
            })
            .unwrap_or_default(),
    );
    Ok(())
}

async fn err_another_registered(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "raiser", |p| async move {
        let (ctx, ()) = p
            .open_context(NS, "raise_another_after_started", ())
            .await?;
        let e = ctx
            .wait_for_result::<()>()
            .await
            .expect_err("the child fails");
        registered_facts::<AnotherAppError>("", &e)?;
        fact(
            "other_type",
            format!("{:?}", e.downcast_ref::<CustomAppError>()),
        );
        Ok(())
    })
    .await
}

/// The registry's lookups by name, in this process.
fn err_type_registry_unit() -> Result<()> {
    fact(
        "before",
        format!("{:?}", registered_error_type("UnitOneError")),
    );
    register_error_type::<UnitOneError>();
    register_error_type::<UnitTwoError>();
    let found = |name| registered_error_type(name).unwrap_or_default();
    fact("one", found("UnitOneError").ends_with("::UnitOneError"));
    fact("two", found("UnitTwoError").ends_with("::UnitTwoError"));
    // Registered at the start of `main`, as every actor of the program.
    fact(
        "custom",
        found("CustomAppError").ends_with("::CustomAppError"),
    );
    fact(
        "unregistered",
        format!("{:?}", registered_error_type("UnregisteredAppError")),
    );
    // Python's builtin names and the runtime's own are names only.
    fact(
        "builtins",
        format!(
            "{:?}",
            ["ValueError", "RuntimeError", "ContextCancelled"].map(registered_error_type)
        ),
    );
    // Registering again changes nothing.
    register_error_type::<UnitOneError>();
    fact("again", found("UnitOneError").ends_with("::UnitOneError"));
    let e = Error::from(UnitTwoError("two".into()));
    fact("local_type", e.type_name().unwrap_or_default());
    fact(
        "local_rebuilt",
        format!("{:?}", e.downcast_ref::<UnitTwoError>()),
    );
    fact(
        "local_other",
        format!("{:?}", e.downcast_ref::<UnitOneError>()),
    );
    Ok(())
}

async fn disc_duplicate_name(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        let a = n.start_actor("doggy", daemon()).await?;
        let b = n.start_actor("doggy", daemon()).await?;
        check!(a.peer().uuid != b.peer().uuid, "two actors, one uuid");
        let found = root.wait_for_actor("doggy").await?;
        fact("found", &found.peer().name);
        fact(
            "one_of_them",
            found.peer().uuid == a.peer().uuid || found.peer().uuid == b.peer().uuid,
        );
        let count = |reg: &std::collections::BTreeMap<String, Vec<Address>>| {
            reg.keys().filter(|k| k.starts_with("doggy.")).count()
        };
        // A child registers once it listens, after its parent's spawn
        // returned: both entries, under their own uids, in time.
        while count(&root.get_registry().await?) < 2 {
            root.sleep(Duration::from_millis(5)).await;
        }
        fact("registered", count(&root.get_registry().await?));
        drop(found);
        n.cancel().await;
        fact("after_cancel", count(&root.get_registry().await?));
        Ok(())
    })
    .await
}

async fn disc_registry_dump(root: ActorHandle) -> Result<()> {
    let reg = root.get_registry().await?;
    let own = format!("{}.{}", root.uid().name, root.uid().uuid);
    fact("root_listed", reg.contains_key(&own));
    fact(
        "keys_split",
        reg.keys().all(|k| {
            k.rsplit_once('.')
                .is_some_and(|(n, u)| !n.is_empty() && u.len() == 36)
        }),
    );
    with_daemon(&root, "lister", |p| async move {
        let listed: bool = p.run(NS, "registry_has_me", ()).await?;
        fact("child_listed", listed);
        Ok(())
    })
    .await
}

async fn disc_unregister_on_cancel(root: ActorHandle, streaming: bool) -> Result<()> {
    let before = registry_names(&root.get_registry().await?);
    fact("before", before.join(","));
    let inner = root.clone();
    let out = root
        .open_nursery(|n| async move {
            let root = inner;
            let mut streams = Vec::new();
            for i in 0..3 {
                let p = n.start_actor(format!("sub-{i}"), daemon()).await?;
                if streaming {
                    streams.push(p.open_stream_from(NS, "count_forever", ()).await?);
                }
            }
            for i in 0..3 {
                root.wait_for_actor(format!("sub-{i}")).await?;
            }
            fact(
                "during",
                registry_names(&root.get_registry().await?).join(","),
            );
            for s in &streams {
                for _ in 0..10 {
                    s.receive::<u64>().await?;
                }
            }
            // Close the streams explicitly, then a KeyboardInterrupt.
            drop(streams);
            Err::<(), _>(interrupted())
        })
        .await;
    fact("error", describe(&out.expect_err("interrupted")));
    fact(
        "after",
        registry_names(&root.get_registry().await?).join(","),
    );
    Ok(())
}

async fn disc_unregister_on_sigint(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        for i in 0..3 {
            n.start_actor(format!("sub-{i}"), daemon()).await?;
        }
        for i in 0..3 {
            root.wait_for_actor(format!("sub-{i}")).await?;
        }
        fact(
            "during",
            registry_names(&root.get_registry().await?).join(","),
        );
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT)
            .map_err(|e| Error::raise("OSError", e.to_string()))?;
        std::future::pending::<()>().await;
        Ok(())
    })
    .await
}

async fn disc_child_finds_root(root: ActorHandle) -> Result<()> {
    fact("root_is_registrar", root.is_registrar());
    let r = root.clone();
    r.open_nursery(|n| async move {
        let p = n
            .run_in_actor("child", NS, "find_root", (), ActorOptions::new())
            .await?;
        let (name, uuid): (String, String) = p.wait_for_result().await?;
        fact("found", name);
        fact("same_uid", uuid == root.uid().uuid);
        Ok(())
    })
    .await
}

async fn disc_non_registrar_binds(root: ActorHandle) -> Result<()> {
    let addrs = root.accept_addrs();
    let reg = root.registry_addrs();
    fact("registrar", root.is_registrar());
    fact("listeners", addrs.len());
    let (addr, reg) = (&addrs[0], &reg[0]);
    fact("transport", addr.transport());
    fact("not_the_registry", addr != reg);
    match (addr, reg) {
        (Address::Tcp { host, port }, Address::Tcp { host: rhost, .. }) => {
            fact("same_bindspace", host == rhost);
            fact("port_set", *port > 0);
        }
        (Address::Uds { dir, file }, Address::Uds { dir: rdir, .. }) => {
            fact("same_bindspace", dir == rdir);
            fact("file", file);
        }
        _ => fact("same_bindspace", false),
    }
    Ok(())
}

async fn disc_cancel_remote_registrar(root: ActorHandle) -> Result<()> {
    let reg = root.registry_addrs()[0].clone();
    let p = root.portal_at(&reg).await?;
    fact("peer", &p.peer().name);
    fact("acked", p.cancel_actor().await?);
    drop(p);
    // Once its runtime is gone, connecting to it fails. (While it winds
    // down, a call may still connect and then fail otherwise.)
    loop {
        match root.get_registry().await {
            Err(e) if matches!(e.kind(), ErrorKind::Connect { .. }) => break,
            _ => root.sleep(Duration::from_millis(5)).await,
        }
    }
    fact("after", true);
    Ok(())
}

async fn cancel_oob_bg_opener(root: ActorHandle) -> Result<()> {
    fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }
    let r = root.clone();
    r.open_nursery(|n| async move {
        for actor_only in [false, true] {
            let name = format!("oob-{actor_only}");
            let p = n.start_actor(&name, daemon()).await?;
            let slot = Arc::new(std::sync::Mutex::new(None::<Context>));
            let outcome = Arc::new(std::sync::Mutex::new(None::<String>));
            // The context is entered in a background task, which blocks.
            let (bg_slot, bg_outcome, me) = (slot.clone(), outcome.clone(), root.clone());
            root.spawn(async move {
                let got = match p.open_context::<()>(NS, "block_forever", ()).await {
                    Ok((ctx, ())) => {
                        *lock(&bg_slot) = Some(ctx.clone());
                        match ctx.wait_for_result::<()>().await {
                            Ok(()) => "returned".into(),
                            Err(e) if requested_by(&e, &me) => "cancelled_by_root".into(),
                            Err(e) => format!("{}:{}", describe(&e), canceller(&e)),
                        }
                    }
                    Err(e) => describe(&e),
                };
                *lock(&bg_outcome) = Some(got);
            });
            until(&root, || lock(&slot).is_some()).await;
            // The parent task cancels, out of band.
            if !actor_only {
                let ctx = lock(&slot).clone();
                ctx.map(|c| c.cancel()).transpose()?;
            }
            let remote = root
                .find_actor(&name)
                .await?
                .ok_or_else(|| not_found(&name))?;
            fact(
                &format!("acked_actor_only_{actor_only}"),
                remote.cancel_actor().await?,
            );
            until(&root, || lock(&outcome).is_some()).await;
            let got = lock(&outcome).take().unwrap_or_default();
            fact(&format!("outcome_actor_only_{actor_only}"), got);
            lock(&slot).take();
        }
        Ok(())
    })
    .await
}

async fn cancel_peer_canceller(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        let sleeper = n.start_actor("sleeper", daemon()).await?;
        let caller = n.start_actor("just_caller", daemon()).await?;
        let canceller_p = n.start_actor("canceller", daemon()).await?;
        let (sleeper_ctx, ()) = sleeper.open_context(NS, "block_tracked", ()).await?;
        let peer = Other {
            other: "sleeper".into(),
        };
        let (caller_ctx, ()) = caller.open_context(NS, "feed_peer", peer).await?;
        // A third actor cancels the sleeper.
        let peer = Other {
            other: "sleeper".into(),
        };
        let acked: bool = canceller_p.run(NS, "cancel_peer", peer).await?;
        fact("acked", acked);
        let e = sleeper_ctx
            .wait_for_result::<()>()
            .await
            .expect_err("cancelled");
        fact("sleeper_outcome", describe(&e));
        fact("sleeper_canceller", canceller(&e));
        fact("requested_by_root", requested_by(&e, &root));
        // The sibling streaming into the sleeper saw the same canceller.
        let seen: String = caller_ctx.wait_for_result().await?;
        fact("caller_saw", seen);
        n.cancel().await;
        Ok(())
    })
    .await
}

async fn cancel_peer_spawned_service(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        n.start_actor("spawn_server", daemon()).await?;
        let client = n.start_actor("client", daemon()).await?;
        let request = Spawn {
            server: "spawn_server".into(),
            name: "little_bro".into(),
        };
        let (client_ctx, spawned): (_, String) = client.open_context(NS, "client", request).await?;
        fact("spawned", &spawned);
        // The root finds the grandchild by name and talks to it too.
        let bro = root
            .find_actor(&spawned)
            .await?
            .ok_or_else(|| not_found(&spawned))?;
        let (echo, ()) = bro.open_context(NS, "echo", ()).await?;
        let items = echo.open_stream().await?;
        for i in 0..10i64 {
            items.send(&i).await?;
            let back: i64 = items.receive().await?;
            check!(back == i, "{back} for {i}");
        }
        drop(items);
        fact("root_echoed", echo.wait_for_result::<u32>().await?);
        drop((echo, bro));
        client_ctx.cancel()?;
        let e = client_ctx
            .wait_for_result::<()>()
            .await
            .expect_err("cancelled");
        fact("client_cancelled_by_root", requested_by(&e, &root));
        // The client's request went with it, and the server's spawn with
        // that: the grandchild is reaped and unregistered.
        while root.query_actor(&spawned).await?.is_some() {
            root.sleep(Duration::from_millis(5)).await;
        }
        fact("spawned_gone", true);
        n.cancel().await;
        Ok(())
    })
    .await
}

async fn registrar_daemon(root: ActorHandle) -> Result<()> {
    fact("registrar", root.is_registrar());
    // Where the tree's other roots find it (a port 0 got a real one).
    match &root.registry_addrs()[0] {
        Address::Tcp { port, .. } => fact("registry", port),
        Address::Uds { file, .. } => fact("registry", file),
    }
    fact("ready", true);
    std::future::pending::<()>().await;
    Ok(())
}

/// A root that serves this program's namespace until SIGINT, for tests
/// that attack it from outside with raw connections: it tells its pid and
/// where it listens. `CONF_LIMITS` (`key=value,…`) sets its limits.
async fn attack_daemon(root: ActorHandle) -> Result<()> {
    fact("pid", std::process::id());
    match &root.accept_addrs()[0] {
        Address::Tcp { host, port } => fact("addr", format!("tcp:{host}:{port}")),
        Address::Uds { dir, file } => fact("addr", format!("uds:{dir}/{file}")),
    }
    fact("ready", true);
    std::future::pending::<()>().await;
    Ok(())
}

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

/// The `n`-th extra argument of the command line (after the scenario id,
/// the transport and the registrar).
fn extra_arg(n: usize) -> Result<usize> {
    let arg = std::env::args().nth(4 + n).unwrap_or_default();
    arg.parse()
        .map_err(|e| Error::raise("ValueError", format!("argument {arg:?}: {e}")))
}

/// The racers of disc-registrar-election-race that called the registrar.
static CHECKED_IN: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// One of several roots started at once on the same registrar address
/// (`disc-registrar-election-race <tpt> <registrar> <index> <count>`, as
/// `racer-<index>`): exactly one becomes the registrar, the others its
/// clients, and none fails because another won. Each client finds the
/// registrar by its name and calls it, and the registrar checks that the
/// caller is registered; it waits for every client's call, so that it
/// outlives what they ask of it.
async fn registrar_election_race(root: ActorHandle) -> Result<()> {
    let count = extra_arg(1)?;
    let me = root.uid().name.clone();
    fact("registrar", root.is_registrar());
    let racers: Vec<String> = (0..count).map(|i| format!("racer-{i}")).collect();
    if root.is_registrar() {
        // Each client checks in once registered here.
        let others: std::collections::BTreeSet<String> =
            racers.iter().filter(|r| **r != me).cloned().collect();
        until(&root, || CHECKED_IN.lock().is_ok_and(|c| *c == others)).await;
        fact("registrar_name", me);
        return Ok(());
    }
    // The registrar is the racer listening at the registrar address.
    let reg = root.registry_addrs()[0].clone();
    let table = root.get_registry().await?;
    let name = table
        .iter()
        .find(|(_, addrs)| addrs.contains(&reg))
        .and_then(|(key, _)| key.rsplit_once('.'))
        .map(|(name, _)| name.to_owned())
        .ok_or_else(|| not_found("at the registrar address"))?;
    check!(racers.contains(&name), "the registrar is {name}");
    let registrar = root
        .find_actor(&name)
        .await?
        .ok_or_else(|| not_found(&name))?;
    registrar
        .run::<()>(NS, "check_in", Value { value: Some(me) })
        .await?;
    fact("registrar_name", name);
    Ok(())
}

/// A root and its daemon child, registered with a registrar daemon that
/// the test kills and starts again; they serve until SIGINT.
async fn registrar_restart(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let kid = n.start_actor("kid", daemon()).await?;
        // It serves (a call answered), so its registration is done.
        let _: u32 = kid.run(NS, "pid", ()).await?;
        fact("ready", true);
        std::future::pending::<()>().await;
        Ok(())
    })
    .await
}

/// Waits until the registrar lists `root` and `kid` (scenario
/// disc-registrar-restart), then finds `kid` by name and calls it.
async fn registry_wait(root: ActorHandle) -> Result<()> {
    let wanted = ["kid", "root"].map(String::from);
    let names = loop {
        let names = registry_names(&root.get_registry().await?);
        if wanted.iter().all(|w| names.contains(w)) {
            break names;
        }
        root.sleep(Duration::from_millis(10)).await;
    };
    fact("registered", names.join(","));
    let kid = root
        .find_actor("kid")
        .await?
        .ok_or_else(|| not_found("kid"))?;
    fact("hi", kid.run::<String>(NS, "hi", ()).await?);
    Ok(())
}

async fn registry_probe(root: ActorHandle) -> Result<()> {
    fact("registrar", root.is_registrar());
    fact(
        "registered",
        registry_names(&root.get_registry().await?).join(","),
    );
    Ok(())
}

async fn tpt_uds_example(root: ActorHandle) -> Result<()> {
    let dir = tractor_driver::runtime_dir()?
        .to_string_lossy()
        .into_owned();
    let reg = root.registry_addrs();
    fact(
        "registry",
        match &reg[0] {
            Address::Uds { dir: d, file } if *d == dir => file.clone(),
            other => other.to_string(),
        },
    );
    with_daemon(&root, "kid", |p| async move {
        let pid: u32 = p.run(NS, "pid", ()).await?;
        let addrs: Vec<Address> = p.run(NS, "accept_addrs", ()).await?;
        fact("child_listeners", addrs.len());
        let expected = format!("kid@{pid}.sock");
        fact(
            "child_addr_ok",
            matches!(&addrs[0], Address::Uds { dir: d, file } if *d == dir && *file == expected),
        );
        // Every socket file, the root's and the child's: its owner's only.
        use std::os::unix::fs::PermissionsExt;
        let mode = |file: &str| {
            std::fs::metadata(std::path::Path::new(&dir).join(file))
                .map(|m| format!("{:o}", m.permissions().mode() & 0o777))
                .unwrap_or_else(|e| e.to_string())
        };
        fact(
            "socket_modes",
            format!("{},{}", mode("registry@1616.sock"), mode(&expected)),
        );
        Ok(())
    })
    .await
}

async fn tpt_handshake_garbage(root: ActorHandle) -> Result<()> {
    let addr = root.accept_addrs()[0].clone();
    let outcome = Arc::new(std::sync::Mutex::new(None));
    let out = outcome.clone();
    std::thread::spawn(move || {
        let got = send_garbage(&addr);
        *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(got);
    });
    until(&root, || {
        outcome.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    })
    .await;
    let got = outcome
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_default();
    fact("garbage", got);
    // The root still serves.
    with_daemon(&root, "kid", |p| async move {
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("after", hi);
        Ok(())
    })
    .await
}

/// Connects to `addr`, sends a frame no decoder accepts (an empty body)
/// instead of a handshake, and reads until the peer closes: `closed`, or
/// why not.
fn send_garbage(addr: &Address) -> String {
    use std::io::{Read, Write};
    fn talk(mut s: impl Read + Write) -> std::io::Result<()> {
        s.write_all(&[0, 0, 0, 0])?;
        let mut sink = Vec::new();
        s.read_to_end(&mut sink)?;
        Ok(())
    }
    let limit = Some(Duration::from_secs(30));
    let r = match addr {
        Address::Tcp { host, port } => std::net::TcpStream::connect((host.as_str(), *port))
            .and_then(|s| {
                s.set_read_timeout(limit)?;
                talk(s)
            }),
        Address::Uds { dir, file } => std::os::unix::net::UnixStream::connect(
            std::path::Path::new(dir).join(file),
        )
        .and_then(|s| {
            s.set_read_timeout(limit)?;
            talk(s)
        }),
    };
    match r {
        Ok(()) => "closed".into(),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => "closed".into(),
        Err(e) => format!("not closed: {e}"),
    }
}

/// Ours: a context's function streams three items and fails. Read to its
/// end, the stream ends with that error; the scoped form returns it
/// whether or not the body read that far.
async fn ctx_stream_then_fail(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "streamer", |p| async move {
        let (ctx, ()) = p.open_context(NS, "stream_then_fail", ()).await?;
        let stream = ctx.open_stream().await?;
        let mut items = Vec::new();
        let mut end = "none".to_owned();
        while let Some(item) = stream.next::<u32>().await {
            match item {
                Ok(i) => items.push(i),
                Err(e) => {
                    end = describe(&e);
                    break;
                }
            }
        }
        fact("items", format!("{items:?}"));
        fact("stream_end", end);
        fact(
            "result",
            describe(&ctx.wait_for_result::<()>().await.unwrap_err()),
        );
        drop((stream, ctx));
        // The scoped form: the body reads one item and is done; the
        // function's failure is the outcome.
        let scoped = p
            .with_context(NS, "stream_then_fail", (), |ctx, ()| async move {
                let stream = ctx.open_stream().await?;
                stream.receive::<u32>().await
            })
            .await;
        fact(
            "scoped",
            scoped.map_or_else(|e| describe(&e), |v| format!("ok:{v}")),
        );
        // A body that fails itself: its error is the outcome, and the
        // function is cancelled.
        let failed = p
            .with_context(NS, "echo", (), |_ctx, ()| async move {
                Err::<(), _>(Error::raise("KeyError", "the body gives up"))
            })
            .await;
        fact(
            "scoped_body_failed",
            failed.map_or_else(|e| describe(&e), |()| "ok".into()),
        );
        Ok(())
    })
    .await
}

async fn bcast_local_fanout(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "streamer", |p| async move {
        let (ctx, ()) = p.open_context(NS, "stream_until_done", ()).await?;
        let stream = ctx.open_stream().await?;
        // 22 subscribers, each its own task. All subscribe before any
        // reads: a subscriber sees the items that arrive after it joined.
        let counts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::new(AtomicU32::new(0));
        let subs = (0..22)
            .map(|_| stream.subscribe())
            .collect::<Result<Vec<_>>>()?;
        // How far each subscriber has read. A subscriber keeps within
        // half the broadcast window of the slowest one: on a loaded
        // machine one task can otherwise read a whole window ahead while
        // another waits for a thread, and the slow one then lags, which
        // is right but another scenario (bcast-lag).
        let read: Arc<Vec<AtomicU64>> = Arc::new((0..22).map(|_| AtomicU64::new(0)).collect());
        let lead = DEFAULT_BROADCAST_CAPACITY as u64 / 2;
        for (i, sub) in subs.into_iter().enumerate() {
            let (counts, seen, read) = (counts.clone(), seen.clone(), read.clone());
            me().spawn(async move {
                let mut count = 0u64;
                let mut end = "eoc".to_owned();
                loop {
                    let slowest = || read.iter().map(|r| r.load(Ordering::SeqCst)).min();
                    until(&me(), || {
                        slowest().is_none_or(|s| count < s.saturating_add(lead))
                    })
                    .await;
                    let Some(v) = sub.next::<u64>().await else {
                        break;
                    };
                    match v {
                        Ok(v) if v == count => count += 1,
                        Ok(v) => {
                            end = format!("out of order: {v} at {count}");
                            break;
                        }
                        Err(e) => {
                            end = describe(&e);
                            break;
                        }
                    }
                    seen.fetch_max(count as u32, Ordering::SeqCst);
                    read[i].store(count, Ordering::SeqCst);
                }
                // Done reading: nobody waits for this one any more.
                read[i].store(u64::MAX, Ordering::SeqCst);
                counts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((count, end));
            });
        }
        let me = me();
        until(&me, || seen.load(Ordering::SeqCst) >= 20).await;
        stream.send("done").await?;
        // Every subscriber reads to the end of the stream before the
        // result is read (reading it drops any item still unread).
        until(&me, || {
            counts.lock().unwrap_or_else(|e| e.into_inner()).len() == 22
        })
        .await;
        let sent: u64 = ctx.wait_for_result().await?;
        let counts = counts.lock().unwrap_or_else(|e| e.into_inner()).clone();
        fact("subscribers", counts.len());
        fact("all_got_all", counts.iter().all(|(c, _)| *c == sent));
        let mut ends: Vec<&str> = counts.iter().map(|(_, e)| e.as_str()).collect();
        ends.sort_unstable();
        ends.dedup();
        fact("ends", format!("{ends:?}"));
        drop(stream);
        Ok(())
    })
    .await
}

async fn bcast_fanout_echo(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "echoer", |p| async move {
        let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
        let stream = ctx.open_stream().await?;
        const N: i64 = 1000;
        let mut readers: Vec<Boxed<'_, Result<bool>>> = Vec::new();
        for _ in 0..10 {
            let sub = stream.subscribe()?;
            readers.push(Box::pin(async move {
                for i in 0..N {
                    if sub.receive::<i64>().await? != i {
                        return Ok(false);
                    }
                }
                Ok(true)
            }));
        }
        // The stream itself reads as one more subscriber.
        let own = &stream;
        readers.push(Box::pin(async move {
            for i in 0..N {
                if own.receive::<i64>().await? != i {
                    return Ok(false);
                }
            }
            Ok(true)
        }));
        let send = async {
            for i in 0..N {
                stream.send(&i).await?;
            }
            Ok::<(), Error>(())
        };
        let (sent, read) = join2(send, join_all(readers)).await;
        sent?;
        let read: Result<Vec<bool>> = read.into_iter().collect();
        let read = read?;
        fact("readers", read.len());
        fact("all_in_order", read.iter().all(|ok| *ok));
        drop(stream);
        let echoed: u32 = ctx.wait_for_result().await?;
        fact("echoed", echoed);
        Ok(())
    })
    .await
}

async fn bcast_go_signal(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "ticker", |p| async move {
        let (ctx, ()) = p.open_context(NS, "ticks", ()).await?;
        let stream = ctx.open_stream().await?;
        let results = Arc::new(std::sync::Mutex::new(Vec::new()));
        let subs = (0..3)
            .map(|_| stream.subscribe())
            .collect::<Result<Vec<_>>>()?;
        for sub in subs {
            let results = results.clone();
            me().spawn(async move {
                let mut got = Vec::new();
                let mut clean = true;
                while let Some(v) = sub.next::<u32>().await {
                    match v {
                        Ok(v) => got.push(v),
                        Err(_) => {
                            clean = false;
                            break;
                        }
                    }
                }
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((got, clean));
            });
        }
        stream.send("go").await?;
        let me = me();
        until(&me, || {
            results.lock().unwrap_or_else(|e| e.into_inner()).len() == 3
        })
        .await;
        let results = results.lock().unwrap_or_else(|e| e.into_inner()).clone();
        fact(
            "all_got_ticks",
            results.iter().all(|(got, _)| *got == [0, 1, 2, 3, 4]),
        );
        fact("all_ended_cleanly", results.iter().all(|(_, clean)| *clean));
        drop(stream);
        ctx.wait_for_result::<()>().await?;
        Ok(())
    })
    .await
}

async fn bcast_subscribe_after_close(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "echoer", |p| async move {
        let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
        let stream = ctx.open_stream().await?;
        let sub = stream.subscribe()?;
        sub.close();
        let again = sub.subscribe().map(|_| ()).map_err(|e| describe(&e));
        fact(
            "subscribe",
            again.err().unwrap_or_else(|| "accepted".into()),
        );
        let recv = sub.receive::<i64>().await.map_err(|e| describe(&e));
        fact("receive", recv.err().unwrap_or_else(|| "received".into()));
        sub.close();
        // The stream itself is unaffected.
        stream.send(&3i64).await?;
        fact("stream", stream.receive::<i64>().await?);
        drop(stream);
        ctx.wait_for_result::<u32>().await?;
        Ok(())
    })
    .await
}

/// Items echoed in the lag scenarios: 100 more than a broadcast window
/// holds, so that a reader who waits for the end falls out of it.
const LAG_ITEMS: i64 = DEFAULT_BROADCAST_CAPACITY as i64 + 100;

async fn bcast_lag(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "echoer", |p| async move {
        for slow_opener in [false, true] {
            let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
            let stream = ctx.open_stream().await?;
            let sub = stream.subscribe()?;
            let read_fast = async {
                for i in 0..LAG_ITEMS {
                    let v: i64 = if slow_opener {
                        sub.receive().await?
                    } else {
                        stream.receive().await?
                    };
                    check!(v == i, "{v} at {i}");
                }
                Ok::<(), Error>(())
            };
            let send = async {
                for i in 0..LAG_ITEMS {
                    stream.send(&i).await?;
                }
                Ok::<(), Error>(())
            };
            let (sent, read) = join2(send, read_fast).await;
            sent?;
            read?;
            // The slow side never read: it fell out of the window.
            let first = if slow_opener {
                stream.receive::<i64>().await
            } else {
                sub.receive::<i64>().await
            };
            let lag = first.map_err(|e| e.to_string()).err().unwrap_or_default();
            let next = if slow_opener {
                stream.receive::<i64>().await?
            } else {
                sub.receive::<i64>().await?
            };
            let side = if slow_opener { "opener" } else { "subscriber" };
            fact(&format!("lag_{side}"), lag);
            fact(&format!("resumes_at_{side}"), next);
            drop(sub);
            drop(stream);
            ctx.wait_for_result::<u32>().await?;
        }
        Ok(())
    })
    .await
}

async fn bcast_no_raise_on_lag(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let p = n.start_actor("echoer", daemon()).await?;
        let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
        let stream = ctx.open_stream().await?;
        let slow = stream.subscribe()?.raise_on_lag(false);
        let send = async {
            for i in 0..LAG_ITEMS {
                stream.send(&i).await?;
            }
            Ok::<(), Error>(())
        };
        let fast = async {
            for i in 0..LAG_ITEMS {
                let v: i64 = stream.receive().await?;
                check!(v == i, "{v} at {i}");
            }
            Ok::<(), Error>(())
        };
        let (sent, read) = join2(send, fast).await;
        sent?;
        read?;
        // No Lagged: the slow subscriber reads on from the oldest item held.
        fact("slow_first", slow.receive::<i64>().await?);
        Err(interrupted())
    })
    .await
}

async fn bcast_fast_sub_cancelled(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "echoer", |p| async move {
        let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
        let stream = ctx.open_stream().await?;
        const N: i64 = 1000;
        let sub = stream.subscribe()?;
        let taken = Cell::new(0);
        let fast = async {
            loop {
                sub.receive::<i64>().await?;
                taken.set(taken.get() + 1);
                yield_now().await;
            }
            #[allow(unreachable_code)]
            Ok::<(), Error>(())
        };
        // The fast subscriber is cancelled after 20 items.
        let fast = async {
            match race(fast, when(|| taken.get() >= 20)).await {
                Either::Left(r) => r,
                Either::Right(()) => Ok(()),
            }
        };
        let slow = async {
            let mut got = Vec::new();
            for _ in 0..N {
                got.push(stream.receive::<i64>().await?);
                yield_now().await;
            }
            Ok::<Vec<i64>, Error>(got)
        };
        let send = async {
            for i in 0..N {
                stream.send(&i).await?;
            }
            Ok::<(), Error>(())
        };
        let ((sent, fast), got) = join2(join2(send, fast), slow).await;
        sent?;
        fast?;
        let got = got?;
        drop(sub);
        fact("fast_took", taken.get());
        fact("slow_got_all", got == (0..N).collect::<Vec<_>>());
        drop(stream);
        ctx.wait_for_result::<u32>().await?;
        Ok(())
    })
    .await
}

async fn bcast_first_recver_cancelled(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "echoer", |p| async move {
        let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
        let stream = ctx.open_stream().await?;
        let sub = stream.subscribe()?;
        // The subscriber waits for the stream, and is cancelled waiting.
        let polled = Cell::new(false);
        let first = async {
            polled.set(true);
            sub.receive::<i64>().await
        };
        match race(first, when(|| polled.get())).await {
            Either::Left(r) => {
                return Err(Error::raise(
                    "AssertionError",
                    format!("received before anything was sent: {r:?}"),
                ));
            }
            Either::Right(()) => fact("cancelled_waiting", true),
        }
        stream.send(&5i64).await?;
        // Another receiver gets the value.
        fact("stream_got", stream.receive::<i64>().await?);
        fact("sub_got", sub.receive::<i64>().await?);
        drop(sub);
        drop(stream);
        ctx.wait_for_result::<u32>().await?;
        Ok(())
    })
    .await
}

async fn bcast_slow_consumers(root: ActorHandle) -> Result<()> {
    with_daemon(&root, "echoer", |p| async move {
        let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
        let stream = ctx.open_stream().await?;
        let fast = stream.subscribe()?;
        let slow = fast.subscribe()?;
        let send = async {
            for i in 0..LAG_ITEMS {
                stream.send(&i).await?;
            }
            Ok::<(), Error>(())
        };
        let read = async {
            let mut lags = 0;
            for i in 0..LAG_ITEMS {
                match fast.receive::<i64>().await {
                    Ok(v) => check!(v == i, "{v} at {i}"),
                    Err(e) if matches!(e.kind(), ErrorKind::Lagged(_)) => lags += 1,
                    Err(e) => return Err(e),
                }
            }
            Ok::<u32, Error>(lags)
        };
        let (sent, lags) = join2(send, read).await;
        sent?;
        fact("fast_lags", lags?);
        // The slow subscriber lags once, then reads the window: the last
        // DEFAULT_BROADCAST_CAPACITY items, in order.
        let lag = slow.receive::<i64>().await.err().map(|e| e.to_string());
        fact("slow_lag", lag.unwrap_or_default());
        let mut window = Vec::new();
        for _ in 0..DEFAULT_BROADCAST_CAPACITY {
            window.push(slow.receive::<i64>().await?);
        }
        fact(
            "slow_window",
            window
                == (LAG_ITEMS - DEFAULT_BROADCAST_CAPACITY as i64..LAG_ITEMS).collect::<Vec<_>>(),
        );
        // The stream itself never read either.
        let original = stream.receive::<i64>().await.err().map(|e| e.to_string());
        fact("original_lag", original.unwrap_or_default());
        // The fast one closes (twice: harmless), and is closed after.
        fast.close();
        fast.close();
        let closed = fast.receive::<i64>().await.err().map(|e| describe(&e));
        fact("fast_after_close", closed.unwrap_or_default());
        drop((fast, slow));
        drop(stream);
        ctx.wait_for_result::<u32>().await?;
        Ok(())
    })
    .await
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
        .enable_modules([NS]);
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
        "dump-sigusr1-hierarchical" => config = config.enable_stack_on_sig(true),
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

/// A middle actor's context: a daemon grandchild holding a context and a
/// one-shot grandchild asleep, each with a guard that prints when
/// dropped, as is this function's own. Started once all are in place.
async fn hold_grandchildren(ctx: Context) -> Result<()> {
    let _finally = PrintOnDrop(me().uid().name.clone());
    me().open_nursery(|n| async move {
        let g = n.start_actor("grandchild", daemon()).await?;
        let (_held, ()) = g.open_context(NS, "guard_ctx", ()).await?;
        let sleeper = n
            .run_in_actor(
                "grandchild-sleeper",
                NS,
                "sleep_forever",
                (),
                ActorOptions::new(),
            )
            .await?;
        // It serves (a call answered), so its registration is done.
        let _: u32 = sleeper.run(NS, "pid", ()).await?;
        ctx.started(()).await?;
        std::future::pending::<()>().await;
        Ok(())
    })
    .await
}

/// A tree of children and grandchildren, each holding a guard; the test
/// sends the root SIGTERM once it is up.
async fn cancel_sigterm_root(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let mid = n.start_actor("mid", daemon()).await?;
        let (_mid_ctx, ()) = mid.open_context(NS, "hold_grandchildren", ()).await?;
        let sibling = n.start_actor("sibling", daemon()).await?;
        let (_sibling_ctx, ()) = sibling.open_context(NS, "guard_ctx", ()).await?;
        fact("ready", true);
        std::future::pending::<()>().await;
        Ok(())
    })
    .await
}

/// Stops process `pid` (SIGSTOP) and waits until it is stopped: a child
/// that answers nothing and exits by no watchdog of its own, as a wedged
/// one, until it gets SIGCONT (or SIGKILL).
async fn freeze(actor: &ActorHandle, pid: u32) -> Result<()> {
    let target = nix::unistd::Pid::from_raw(pid as i32);
    nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGSTOP)
        .map_err(|e| Error::raise("OSError", e.to_string()))?;
    until(actor, || {
        // The state follows the command name's closing parenthesis.
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
        })
    })
    .await;
    Ok(())
}

/// A daemon that cannot cancel (stopped): the test sends the root SIGTERM,
/// then a second signal once the first is heard, which must kill it.
async fn cancel_second_signal(root: ActorHandle) -> Result<()> {
    let me = root.clone();
    root.open_nursery(|n| async move {
        let stuck = n.start_actor("stuck", daemon()).await?;
        let pid: u32 = stuck.run(NS, "pid", ()).await?;
        freeze(&me, pid).await?;
        fact("stuck_pid", pid);
        fact("ready", true);
        std::future::pending::<()>().await;
        Ok(())
    })
    .await
}

/// The root's body ends on its own while a daemon cannot cancel yet
/// (stopped; its nursery's future dropped, so the root's teardown reaps
/// it): the test signals the root during that wind-down, then lets the
/// daemon go on, and it is cancelled gracefully.
async fn cancel_signal_during_wind_down(root: ActorHandle) -> Result<()> {
    let frozen = Arc::new(AtomicBool::new(false));
    let set = frozen.clone();
    let me = root.clone();
    let nursery = root.open_nursery(|n| async move {
        let slow = n.start_actor("slow", daemon()).await?;
        let pid: u32 = slow.run(NS, "pid", ()).await?;
        freeze(&me, pid).await?;
        fact("slow_pid", pid);
        set.store(true, Ordering::SeqCst);
        std::future::pending::<()>().await;
        Ok(())
    });
    if let Either::Left(out) = race(nursery, when(|| frozen.load(Ordering::SeqCst))).await {
        out?;
        return Err(Error::raise("AssertionError", "the nursery ended"));
    }
    // Printed as the body returns: any signal after it comes during the
    // wind-down.
    fact("body_ended", true);
    Ok(())
}

/// Two roots in turn, then nothing: SIGINT and SIGTERM have their default
/// action again once a root has ended, and a root in between still hears
/// them. The test signals the second root, then the process.
async fn signal_default_outside_roots(
    rt: Arc<dyn Runtime>,
    transport: Transport,
    registry: Option<&str>,
) -> Result<()> {
    let config = configure("signal-default-outside-roots", transport, registry)?;
    tractor_driver::open_root_actor(rt.clone(), config.clone(), |root| async move {
        with_daemon(&root, "first", |p| async move {
            let _: u32 = p.run(NS, "pid", ()).await?;
            Ok(())
        })
        .await
    })
    .await?;
    let second = tractor_driver::open_root_actor(rt, config, |root| async move {
        root.open_nursery(|n| async move {
            let _second = n.start_actor("second", daemon()).await?;
            fact("ready", "second");
            std::future::pending::<()>().await;
            Ok(())
        })
        .await
    })
    .await;
    let Err(e) = second else {
        return Err(Error::raise("AssertionError", "the second root ended"));
    };
    fact("second_root", describe(&e));
    fact("ready", "after");
    std::future::pending::<()>().await;
    Ok(())
}

/// How many signals the root said it acted on ([`SignalsHeard`]).
static SIGNALS_HEARD: AtomicU32 = AtomicU32::new(0);

/// A layer beside the console that prints `signal_heard=<n>` each time the
/// root says it cancels the tree or kills the children for a signal: the
/// tests' cue that a signal was acted on before they send the next.
struct SignalsHeard;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SignalsHeard {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "tractor::cancel" {
            return;
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        let signal = m.0.starts_with("SIGINT") || m.0.starts_with("SIGTERM");
        let acted = m.0.contains("cancelling the tree") || m.0.contains("killing the children");
        if signal && acted {
            let n = SIGNALS_HEARD.fetch_add(1, Ordering::SeqCst) + 1;
            fact("signal_heard", n);
        }
    }
}

/// An event's message.
struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        if f.name() == "message" {
            self.0 = format!("{v:?}");
        }
    }
}

/// How many calls and stream items the story's daemon serves: more than
/// the story has lines.
const STORY_CALLS: u32 = 40;

/// A small tree's life, to be read in its log: a daemon spawned, called,
/// streamed from, a context with it cancelled, then the daemon cancelled.
async fn log_tree_story(root: ActorHandle) -> Result<()> {
    root.open_nursery(|n| async move {
        let teller = n.start_actor("teller", daemon()).await?;
        for _ in 0..STORY_CALLS {
            let _: String = teller.run(NS, "hi", ()).await?;
        }
        let stream = teller
            .open_stream_from(NS, "range", Count { n: STORY_CALLS })
            .await?;
        let mut items = 0;
        while let Some(item) = stream.next::<u32>().await {
            item?;
            items += 1;
        }
        fact("items", items);
        let (ctx, ()) = teller.open_context(NS, "block_forever", ()).await?;
        ctx.cancel()?;
        let out = ctx.wait_for_result::<()>().await;
        fact("ctx_cancelled", out.is_err_and(|e| e.is_cancelled()));
        fact("teller_pid", teller.run::<u32>(NS, "pid", ()).await?);
        fact("acked", teller.cancel_actor().await?);
        Ok(())
    })
    .await
}

/// How many times the nursery said it waits on daemons (this process's
/// console, seen by [`DaemonNoticeSeen`]).
static NOTICES: AtomicU32 = AtomicU32::new(0);

/// The task waiting for the first notice.
static NOTICE_WAITER: std::sync::Mutex<Option<std::task::Waker>> = std::sync::Mutex::new(None);

/// A layer beside the console that counts the nursery's notices that it
/// waits on daemons, and wakes [`NOTICE_WAITER`].
struct DaemonNoticeSeen;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for DaemonNoticeSeen {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        if m.0.contains("daemon actor") {
            NOTICES.fetch_add(1, Ordering::SeqCst);
            if let Some(w) = NOTICE_WAITER
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
            {
                w.wake();
            }
        }
    }
}

/// The root's body ends with two daemons running (a third was cancelled
/// before): the nursery says so, and a task that waited for its words
/// cancels them.
async fn log_daemon_wait(root: ActorHandle) -> Result<()> {
    let me = root.clone();
    root.open_nursery(|n| async move {
        let a = n.start_actor("daemon-a", daemon()).await?;
        let b = n.start_actor("daemon-b", daemon()).await?;
        let c = n.start_actor("daemon-c", daemon()).await?;
        // Gone before the body ends: not named.
        c.cancel_actor().await?;
        me.spawn(async move {
            poll_fn(|cx| {
                *NOTICE_WAITER.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
                if NOTICES.load(Ordering::SeqCst) > 0 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            let _ = a.cancel_actor().await;
            let _ = b.cancel_actor().await;
        });
        fact("body_ended", true);
        Ok(())
    })
    .await?;
    fact("notices", NOTICES.load(Ordering::SeqCst));
    Ok(())
}

/// A registrar given on the command line: a TCP port on the loopback
/// interface, or a socket file in the runtime directory.
/// Addresses as multiaddrs, comma-separated; each checked to read back as
/// itself.
fn crate_list_maddr(addrs: &[Address]) -> Result<String> {
    let texts: Vec<String> = addrs.iter().map(Address::to_maddr).collect();
    for (addr, text) in addrs.iter().zip(&texts) {
        let back: Result<Address, _> = text.parse();
        check!(back.as_ref() == Ok(addr), "{text} reads back as {back:?}");
    }
    Ok(texts.join(","))
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

/// Scenarios about the runtime itself run around the root (or without
/// one); every other runs as the root's body.
async fn run(id: &str, transport: Transport, registry: Option<&str>) -> Result<()> {
    let rt = runtime();
    let root_only = |_: ActorHandle| async { Ok(()) };
    match id {
        "spawn-no-runtime" => {
            // No actor, so no handle to discover anything with.
            fact("before", current_actor().is_none());
            let config = configure(id, transport, registry)?;
            tractor_driver::open_root_actor(rt, config, |root| async move {
                fact(
                    "inside",
                    current_actor().is_some_and(|a| a.uid() == root.uid()),
                );
                Ok(())
            })
            .await?;
            fact("after", current_actor().is_none());
            Ok(())
        }
        "spawn-runtime-vars-reset" => spawn_runtime_vars_reset(rt, transport).await,
        "signal-default-outside-roots" => {
            signal_default_outside_roots(rt, transport, registry).await
        }
        "spawn-implicit-root" => spawn_implicit_root(rt, transport, false).await,
        "disc-nursery-forwards-bind" => spawn_implicit_root(rt, transport, true).await,
        "tpt-proto-mismatch" => {
            let (enabled, reg) = match transport {
                Transport::Tcp => (Transport::Uds, Address::tcp("127.0.0.1", 0)),
                _ => (
                    Transport::Tcp,
                    Address::uds(
                        tractor_driver::runtime_dir()?.to_string_lossy(),
                        "registry@1616.sock",
                    ),
                ),
            };
            let config = configure(id, enabled, None)?.registry_addrs([reg]);
            match tractor_driver::open_root_actor(rt, config, root_only).await {
                Err(e) => {
                    fact("error", e.to_string().replace('\n', " "));
                    Ok(())
                }
                Ok(()) => Err(Error::raise(
                    "AssertionError",
                    "a root started with a registrar of another transport",
                )),
            }
        }
        "tpt-uds-double-listen" => {
            let config = configure(id, transport, registry)?;
            match tractor_driver::open_root_actor(rt, config, root_only).await {
                Err(e) => {
                    fact("error", e.to_string().replace('\n', " "));
                    Ok(())
                }
                Ok(()) => Err(Error::raise(
                    "AssertionError",
                    "a second listener bound the registrar's address",
                )),
            }
        }
        "tpt-rt-dir-secure" => {
            rt_dir_secure()?;
            let config = configure(id, transport, registry)?;
            tractor_driver::open_root_actor(rt, config, root_only).await
        }
        "tpt-uds-bindspace-created" => bindspace_created(rt).await,
        _ => {
            let config = configure(id, transport, registry)?;
            tractor_driver::open_root_actor(rt, config, |root| scenario(id, root)).await
        }
    }
}

/// How the runtime directory is chosen: refused when a file is in the
/// way, made private when it exists, created private when it does not.
fn rt_dir_secure() -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let base = std::path::PathBuf::from(tree_file("tractor")?);
    let mode = |p: &std::path::Path| -> Result<String> {
        Ok(format!(
            "{:o}",
            std::fs::metadata(p)?.permissions().mode() & 0o777
        ))
    };
    fact("fresh", !base.exists());
    std::fs::write(&base, b"not a directory")?;
    fact("file_refused", tractor_driver::runtime_dir().is_err());
    fact("file_kept", base.is_file());
    std::fs::remove_file(&base)?;
    std::fs::DirBuilder::new().mode(0o755).create(&base)?;
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755))?;
    fact("existing_mode", mode(&tractor_driver::runtime_dir()?)?);
    std::fs::remove_dir(&base)?;
    fact("created_mode", mode(&tractor_driver::runtime_dir()?)?);
    Ok(())
}

/// A Unix-socket registrar in a directory that does not exist yet.
async fn bindspace_created(rt: Arc<dyn Runtime>) -> Result<()> {
    let doggy = tractor_driver::runtime_dir()?.join("doggy");
    fact("dir_before", doggy.exists());
    let reg = Address::uds(doggy.to_string_lossy(), "registry@doggy.sock");
    let config = configure("", Transport::Uds, None)?.registry_addrs([reg.clone()]);
    let dir = doggy.clone();
    tractor_driver::open_root_actor(rt, config, |root| async move {
        fact("dir_created", dir.is_dir());
        fact("registrar", root.is_registrar());
        fact("bound", root.accept_addrs().contains(&reg));
        fact("registry", root.registry_addrs() == [reg]);
        Ok(())
    })
    .await?;
    fact("left_in_dir", std::fs::read_dir(&doggy)?.count());
    std::fs::remove_dir(&doggy)?;
    Ok(())
}

fn main() {
    // In every actor of the program: each one is this program again.
    register_error_type::<CustomAppError>();
    register_error_type::<AnotherAppError>();
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
            .with(DaemonNoticeSeen)
            .with(SignalsHeard)
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
    match std::env::args().nth(1).as_deref() {
        Some("dbg-crash-handler") => {
            let out = tractor_driver::debug::crash_handler(|| {
                "12x".parse::<u32>().map_err(|e| format!("bad count: {e}"))
            });
            fact("after_repl", format!("{out:?}"));
            std::process::exit(i32::from(out.is_err()));
        }
        Some("dbg-crash-handler-panic") => {
            tractor_driver::debug::crash_handler(|| {
                if std::hint::black_box(true) {
                    panic!("the entry point panicked on purpose");
                }
                Ok::<(), String>(())
            })
            .ok();
            fact("after_repl", "unreachable");
        }
        _ => {}
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
    let code = if on_smol() {
        smol::block_on(root)
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(root)
    };
    std::process::exit(code);
}

/// A tree of both adapters: the root on this process's, its children on
/// the other. RPC, a context with a stream, an error relayed across, and
/// cancellation all cross the boundary.
async fn mixed_tree(root: ActorHandle) -> Result<()> {
    let other = if on_smol() { "tokio" } else { "smol" };
    fact("root_adapter", adapter_name());
    let on_other = move || ActorOptions::new().env(ADAPTER, other);
    root.open_nursery(|n| async move {
        let p = n.start_actor("other", daemon().env(ADAPTER, other)).await?;
        let theirs: String = p.run(NS, "adapter", ()).await?;
        fact("child_adapter", theirs);
        let (ctx, first): (_, i64) = p.open_context(NS, "pingpong", Data { data: 1 }).await?;
        let stream = ctx.open_stream().await?;
        for _ in 0..3 {
            stream.send("ping").await?;
            let pong: String = stream.receive().await?;
            check!(pong == "pong", "{pong}");
        }
        drop(stream);
        let count: u32 = ctx.wait_for_result().await?;
        fact("streamed", format!("{first},{count}"));
        // A one-shot that never returns, cancelled with the nursery below.
        let sleeper = n
            .run_in_actor("sleeper", NS, "sleep_forever", (), on_other())
            .await?;
        let () = sleeper.run(NS, "do_nothing", ()).await?;
        p.cancel_actor().await?;
        n.cancel().await;
        fact("cancelled", true);
        Ok(())
    })
    .await?;
    // An error raised two levels down, relayed by a middle actor of the
    // other adapter.
    let out = root
        .open_nursery(|n| async move {
            n.run_in_actor(
                "mid",
                NS,
                "relay",
                Depth {
                    depth: 1,
                    breadth: 1,
                },
                on_other(),
            )
            .await?;
            Ok(())
        })
        .await;
    let e = out.expect_err("the leaf fails");
    fact("error", describe(&e));
    let r = e.remote().expect("a remote error");
    fact(
        "relay",
        r.relay_uid().map(|u| u.name.clone()).unwrap_or_default(),
    );
    Ok(())
}

/// The registrar root's portal to the registrar address, itself: a local
/// portal (Python's `get_registry(addr)` giving a `LocalPortal`), through
/// which `self.wait_for_actor` finds the root at that address, answered in
/// process. The same portal runs the root's own functions in process, and
/// refuses what needs a dialog with oneself.
async fn rpc_local_portal_self(root: ActorHandle) -> Result<()> {
    #[derive(Serialize)]
    struct Name {
        name: String,
    }
    let reg = root.registry_addrs()[0].clone();
    let p = root.portal_at(&reg).await?;
    fact("local", p.is_local());
    fact("peer_is_self", p.peer() == root.uid());
    let name = root.uid().name.clone();
    let addrs: Vec<Address> = p
        .run_from_ns("self", "wait_for_actor", Name { name: name.clone() })
        .await?;
    fact("first_is_registrar_addr", addrs.first() == Some(&reg));
    let found: Option<Vec<Address>> = p
        .run_from_ns("self", "find_actor", Name { name: name.clone() })
        .await?;
    fact("find_actor", found.as_deref() == Some(&addrs[..]));
    // Discovery of oneself gives the local portal too.
    let me = root
        .find_actor(&name)
        .await?
        .expect("the root is registered");
    fact("find_actor_local", me.is_local());
    fact(
        "wait_for_actor_local",
        root.wait_for_actor(&name).await?.is_local(),
    );
    fact("local_portal", root.local_portal().is_local());
    // The root's own functions, in process: results, and errors as raised.
    let hi: String = p.run(NS, "hi", ()).await?;
    fact("hi", hi);
    let raised = p
        .run::<()>(
            NS,
            "raise",
            Raise {
                type_name: "ValueError".into(),
                message: "on purpose".into(),
            },
        )
        .await
        .expect_err("the function raises");
    fact("raised", describe(&raised));
    let hidden = p
        .run::<()>("not_exposed", "hi", ())
        .await
        .expect_err("not exposed");
    fact("not_exposed", hidden.type_name().unwrap_or_default());
    // What would be a dialog with oneself.
    let ctx = p
        .open_context::<()>(NS, "block_forever", ())
        .await
        .expect_err("a context with oneself is invalid");
    fact("context", describe(&ctx));
    let ctx_run = p
        .run::<()>(NS, "block_forever", ())
        .await
        .expect_err("a context function is no plain one");
    fact("context_run", describe(&ctx_run));
    let cancel = p
        .cancel_actor()
        .await
        .expect_err("not through a local portal");
    fact("cancel_actor", describe(&cancel));
    // A child, whose registrar is the root.
    let (local, hi): (bool, String) = with_daemon(&root, "finder", |c| async move {
        c.run(NS, "find_self", ()).await
    })
    .await?;
    fact("child_find_self", format!("{local},{hi}"));
    Ok(())
}

/// A child started the way a Python child is (`ActorOptions::python`),
/// with this program standing in for the interpreter: a symbolic link
/// `<venv>/bin/python` to it, as a virtual environment's interpreter is a
/// link to the base one. CPython would find its environment from the link's
/// path in `argv[0]`; this program, started with the child command line,
/// becomes a child and answers. Its command line and environment are read
/// from `/proc`: exactly what the interpreter got.
async fn spawn_python_child(root: ActorHandle) -> Result<()> {
    let venv =
        std::env::temp_dir().join(format!("tractor-conformance-venv-{}", std::process::id()));
    let python = venv.join("bin").join("python");
    let made = std::fs::create_dir_all(venv.join("bin"))
        .and_then(|()| std::os::unix::fs::symlink(std::env::current_exe()?, &python));
    let out = match made {
        Ok(()) => python_child(&root, &venv, &python).await,
        Err(e) => Err(e.into()),
    };
    let _ = std::fs::remove_dir_all(&venv);
    out
}

/// [`spawn_python_child`] once the interpreter's stand-in is in place.
async fn python_child(
    root: &ActorHandle,
    venv: &std::path::Path,
    python: &std::path::Path,
) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        let options = ActorOptions::new()
            .python(python)
            .enable_modules([NS])
            .env("CONF_PY_MARK", "set by the parent");
        let p = n.start_actor("pychild", options).await?;
        let pid: u32 = p.run(NS, "pid", ()).await?;
        let proc = |f: &str| std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
        // NUL-terminated strings.
        let strings = |bytes: Vec<u8>| -> Vec<String> {
            bytes
                .split(|b| *b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        };
        let argv = strings(proc("cmdline"));
        let Some((argv0, args)) = argv.split_first() else {
            return Err(Error::raise("AssertionError", "no command line"));
        };
        fact(
            "argv0_is_interpreter",
            *argv0 == python.display().to_string(),
        );
        fact(
            "argv0",
            std::path::Path::new(argv0)
                .strip_prefix(venv)
                .map_or_else(|_| argv0.clone(), |p| p.display().to_string()),
        );
        let expected = tractor_protocol::ChildArgs {
            uid: p.peer().clone(),
            parent_addr: root.accept_addrs()[0].clone(),
            loglevel: root.loglevel().map(str::to_owned),
        }
        .to_args();
        fact("args_exact", *args == expected[..]);
        fact(
            "args",
            args.join(" ")
                .replace(&p.peer().uuid, "<uuid>")
                .replace(&expected[5], "<parent_addr>"),
        );
        fact("parent_addr_arg", args.get(5).cloned().unwrap_or_default());
        // The environment: this process's, with what the parent sets.
        let theirs: std::collections::BTreeMap<String, String> = strings(proc("environ"))
            .into_iter()
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect();
        let ours: std::collections::BTreeMap<String, String> = std::env::vars().collect();
        let names = |keep: &dyn Fn(&String) -> bool,
                     of: &std::collections::BTreeMap<String, String>| {
            of.keys()
                .filter(|k| keep(k))
                .cloned()
                .collect::<Vec<_>>()
                .join(",")
        };
        fact("env_added", names(&|k| !ours.contains_key(k), &theirs));
        fact("env_missing", names(&|k| !theirs.contains_key(k), &ours));
        fact(
            "env_changed",
            names(&|k| theirs.get(k).is_some_and(|v| ours[k] != *v), &ours),
        );
        fact(
            "env_mark",
            theirs.get("CONF_PY_MARK").cloned().unwrap_or_default(),
        );
        fact(
            "env_parent_pid",
            theirs.get("TRACTOR_PARENT_PID")
                == Some(&format!("{}:{}", std::process::id(), p.peer().uuid)),
        );
        let hi: String = p.run(NS, "hi", ()).await?;
        fact("hi", hi);
        n.cancel().await;
        Ok(())
    })
    .await
}

/// The adapter this process runs on.
fn adapter_name() -> &'static str {
    if on_smol() { "smol" } else { "tokio" }
}

/// Runs `body` with a daemon named `name` (serving this program's
/// namespace) in a nursery of its own, then cancels the daemon, which must
/// acknowledge.
async fn with_daemon<F, Fut, T>(root: &ActorHandle, name: &str, body: F) -> Result<T>
where
    F: FnOnce(Portal) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    root.open_nursery(|n| async move {
        let p = n.start_actor(name, daemon()).await?;
        let out = body(p.clone()).await?;
        p.cancel_actor().await?;
        Ok(out)
    })
    .await
}

/// Runs `NS:func` in a one-shot child `name`, in a nursery of its own:
/// the nursery's outcome.
async fn one_shot(root: &ActorHandle, name: &str, func: &str) -> Result<()> {
    root.open_nursery(|n| async move {
        n.run_in_actor(name, NS, func, (), ActorOptions::new())
            .await?;
        Ok(())
    })
    .await
}

/// Runs `NS:func` in a one-shot child `name`, in a nursery of its own,
/// and waits for its result.
async fn one_shot_result<T: serde::de::DeserializeOwned + Send + 'static>(
    root: &ActorHandle,
    name: &str,
    func: &str,
) -> Result<T> {
    root.open_nursery(|n| async move {
        let p = n
            .run_in_actor(name, NS, func, (), ActorOptions::new())
            .await?;
        p.wait_for_result().await
    })
    .await
}

/// Whether this process runs on smol ([`ADAPTER`] says so) or tokio.
fn on_smol() -> bool {
    std::env::var(ADAPTER).is_ok_and(|a| a == "smol")
}

/// This process's runtime, for the entry points.
fn runtime() -> Arc<dyn Runtime> {
    if on_smol() {
        Arc::new(tractor_smol::Smol)
    } else {
        Arc::new(tractor_tokio::Tokio)
    }
}

// ---------------------------------------------------------------------------
// A tree's secret (spec/PROTOCOL.md §3.5).

/// What an actor knows of its tree's secret: whether it has one (from its
/// environment, where its parent put it), and whether it shows on its
/// command line.
#[derive(Serialize, Deserialize)]
struct AuthReport {
    has_secret: bool,
    in_argv: bool,
}

fn auth_report() -> AuthReport {
    use std::os::unix::ffi::OsStrExt;
    let secret = std::env::var_os(tractor_driver::SECRET_ENV).unwrap_or_default();
    let secret = secret.as_bytes();
    let cmdline = std::fs::read("/proc/self/cmdline").unwrap_or_default();
    AuthReport {
        has_secret: !secret.is_empty(),
        in_argv: !secret.is_empty() && cmdline.windows(secret.len()).any(|w| w == secret),
    }
}

fn crate_list(addrs: &[Address]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs `f` on a plain thread, the actor's runtime going on meanwhile.
async fn off_runtime<T: Send + 'static>(
    actor: &ActorHandle,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let slot = Arc::new(std::sync::Mutex::new(None));
    let out = slot.clone();
    std::thread::spawn(move || {
        let v = f();
        *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
    });
    loop {
        if let Some(v) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return v;
        }
        actor.sleep(Duration::from_millis(5)).await;
    }
}

/// A msgpack string of fewer than 32 bytes.
fn fixstr(out: &mut Vec<u8>, s: &str) {
    out.push(0xa0 | u8::try_from(s.len()).expect("a short string"));
    out.extend_from_slice(s.as_bytes());
}

/// Connects to `addr` as a stranger speaking Python's handshake: sends an
/// `Aid` at once and reads until the peer closes. Returns every byte the
/// peer sent, or why the exchange failed.
fn python_stranger(addr: &Address) -> std::result::Result<Vec<u8>, String> {
    use std::io::{Read, Write};
    let mut body = vec![0x86];
    for (k, v) in [
        ("msg_type", "Aid"),
        ("name", "stranger"),
        ("uuid", "00000000-0000-4000-8000-0000"),
    ] {
        fixstr(&mut body, k);
        fixstr(&mut body, v);
    }
    fixstr(&mut body, "pid");
    body.push(0x01);
    fixstr(&mut body, "is_registrar");
    body.push(0xc2);
    fixstr(&mut body, "is_probe");
    body.push(0xc2);
    let mut frame = u32::try_from(body.len())
        .expect("a small body")
        .to_le_bytes()
        .to_vec();
    frame.extend_from_slice(&body);
    /// Sends the frame and reads until the peer closes or, once it said
    /// something, falls silent (a peer that took us in keeps the
    /// connection open).
    fn talk<S: Read + Write>(
        mut s: S,
        frame: &[u8],
        quiet: impl Fn(&S) -> std::io::Result<()>,
    ) -> std::io::Result<Vec<u8>> {
        s.write_all(frame)?;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return Ok(got),
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    quiet(&s)?;
                }
                Err(e)
                    if !got.is_empty()
                        && matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                {
                    return Ok(got);
                }
                Err(e) => return Err(e),
            }
        }
    }
    let limit = Some(Duration::from_secs(30));
    let quiet = Some(Duration::from_millis(500));
    match addr {
        Address::Tcp { host, port } => std::net::TcpStream::connect((host.as_str(), *port))
            .and_then(|s| {
                s.set_read_timeout(limit)?;
                talk(s, &frame, |s| s.set_read_timeout(quiet))
            }),
        Address::Uds { dir, file } => std::os::unix::net::UnixStream::connect(
            std::path::Path::new(dir).join(file),
        )
        .and_then(|s| {
            s.set_read_timeout(limit)?;
            talk(s, &frame, |s| s.set_read_timeout(quiet))
        }),
    }
    .map_err(|e| e.to_string())
}

/// Whether `bytes` name the actor `uid` of process `pid` in any way.
fn names_actor(bytes: &[u8], uid: &tractor_driver::Uid, pid: u32) -> bool {
    let has =
        |needle: &[u8]| !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == needle);
    has(uid.name.as_bytes())
        || has(uid.uuid.as_bytes())
        || has(&pid.to_be_bytes())
        || u16::try_from(pid).is_ok_and(|p| has(&p.to_be_bytes()))
}

/// A tree with a secret (the test gives it in the environment, or a file
/// the environment names): a stranger speaking Python's handshake to the
/// root gets nothing; children and grandchildren inherit the secret, not
/// on their command line; calls, the registrar and a sibling's cancel
/// (an authenticated peer's) work.
async fn auth_tree(root: ActorHandle) -> Result<()> {
    let addr = root.accept_addrs()[0].clone();
    let got = off_runtime(&root, move || python_stranger(&addr)).await;
    match got {
        Ok(bytes) => {
            fact("stranger_bytes", bytes.len());
            fact(
                "stranger_learned",
                names_actor(&bytes, root.uid(), std::process::id()),
            );
        }
        Err(e) => fact("stranger_bytes", format!("error: {e}")),
    }
    let r = root.clone();
    r.open_nursery(|n| async move {
        let kid = n.start_actor("kid", daemon()).await?;
        let (mine, below): (AuthReport, AuthReport) = kid.run(NS, "auth_report_deep", ()).await?;
        fact("child_secret", mine.has_secret);
        fact("child_argv", mine.in_argv);
        fact("grandchild_secret", below.has_secret);
        fact("grandchild_argv", below.in_argv);
        let hi: String = kid.run(NS, "hi", ()).await?;
        fact("hi", hi);
        fact("found", root.find_actor("kid").await?.is_some());
        let sib = n.start_actor("sib", daemon()).await?;
        let peer = Other {
            other: "kid".into(),
        };
        let acked = sib.run::<bool>(NS, "cancel_peer", peer).await;
        fact(
            "sibling_cancel",
            match acked {
                Ok(acked) => acked.to_string(),
                Err(e) => describe(&e),
            },
        );
        n.cancel().await;
        Ok(())
    })
    .await
}

/// The limit on calls at once per peer that `tpt-limits-inherited` gives its
/// tree.
const INHERITED_DIALOGS: usize = 4;

/// Runs as many calls at once in the actor behind `p` as
/// [`INHERITED_DIALOGS`], over one connection: how one more call fares,
/// then one more once a running one ended (`ok:…`, or the error's type).
async fn over_the_limit(p: &Portal) -> Result<(String, String)> {
    let mut running = Vec::new();
    for _ in 0..INHERITED_DIALOGS {
        let (ctx, ()) = p.open_context(NS, "block_forever", ()).await?;
        running.push(ctx);
    }
    let outcome = |r: Result<String>| match r {
        Ok(hi) => format!("ok:{hi}"),
        Err(e) => e.type_name().map_or_else(|| describe(&e), str::to_owned),
    };
    let over = outcome(p.run::<String>(NS, "hi", ()).await);
    let first = running.remove(0);
    first.cancel()?;
    let _ = first.wait_for_result::<()>().await;
    let after = outcome(p.run::<String>(NS, "hi", ()).await);
    for ctx in running {
        ctx.cancel()?;
        let _ = ctx.wait_for_result::<()>().await;
    }
    Ok((over, after))
}

/// A root whose limits (from its configuration, or its environment) its
/// whole tree enforces: its child runs as many calls at once in the root as
/// the limit allows, then one more; the same in a grandchild it spawns.
async fn limits_inherited(root: ActorHandle) -> Result<()> {
    let r = root.clone();
    r.open_nursery(|n| async move {
        let kid = n.start_actor("kid", daemon()).await?;
        let (root_over, over, after): (String, String, String) =
            kid.run(NS, "dialogs_deep", ()).await?;
        fact("root_over_the_limit", root_over);
        fact("over_the_limit", over);
        fact("after_one_ended", after);
        n.cancel().await;
        Ok(())
    })
    .await
}

/// A root with a secret of its own (its own registrar too) reaches for the
/// tree's registrar daemon, whose secret differs: refused, with a typed
/// error, before either learned who the other is.
async fn auth_wrong_secret(root: ActorHandle) -> Result<()> {
    let transport = Transport::of(&root.registry_addrs()[0]);
    let spec = std::env::args().nth(3).unwrap_or_default();
    let daemon = registry_addr(transport, &spec)?;
    match root.portal_at(&daemon).await {
        Ok(p) => fact("error", format!("none: reached {}", p.peer())),
        Err(e) => match e.kind() {
            ErrorKind::Unauthenticated { reason, .. } => {
                fact("error", format!("unauthenticated:{reason:?}"));
            }
            _ => fact("error", describe(&e)),
        },
    }
    Ok(())
}

#[derive(Serialize)]
struct RegisterArgs {
    uid: tractor_driver::Uid,
    addr: Address,
}

#[derive(Serialize)]
struct UnregisterArgs {
    uid: tractor_driver::Uid,
}

/// A root of another tree, neither with a secret, asks the registrar daemon
/// to cancel itself, to register a fake actor and to unregister the
/// registrar: each refused with a `PermissionError`; the table is intact.
async fn auth_stranger_cancel(root: ActorHandle) -> Result<()> {
    let reg = root.registry_addrs()[0].clone();
    let p = root.portal_at(&reg).await?;
    let outcome = |r: Result<()>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => describe(&e),
    };
    fact("cancel", outcome(p.cancel_actor().await.map(|_| ())));
    let evil = RegisterArgs {
        uid: tractor_driver::Uid::new("evil", "evil-uuid"),
        addr: Address::tcp("127.0.0.1", 1),
    };
    fact(
        "register_other",
        outcome(p.run::<()>("self", "register_actor", evil).await),
    );
    let victim = UnregisterArgs {
        uid: p.peer().clone(),
    };
    fact(
        "unregister_other",
        outcome(p.run::<()>("self", "unregister_actor", victim).await),
    );
    let table = root.get_registry().await?;
    fact("evil_listed", table.keys().any(|k| k.starts_with("evil.")));
    fact(
        "registrar_listed",
        table.keys().any(|k| k.starts_with("registrar.")),
    );
    fact(
        "still_serves",
        root.find_actor("registrar").await?.is_some(),
    );
    Ok(())
}
