//! The functions the program's actors serve (namespace `conf`), and
//! their arguments.

use crate::*;

#[derive(Serialize, Deserialize)]
pub(crate) struct Value {
    pub(crate) value: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Data {
    pub(crate) data: i64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Count {
    pub(crate) n: u32,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Raise {
    pub(crate) type_name: String,
    pub(crate) message: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Depth {
    pub(crate) depth: u32,
    pub(crate) breadth: u32,
}

/// A level of the failing tree: `depth` levels of `breadth` children below,
/// `leaves` leaves in the whole tree (all of them meet at one barrier).
#[derive(Serialize, Deserialize)]
pub(crate) struct Level {
    pub(crate) depth: u32,
    pub(crate) breadth: u32,
    pub(crate) leaves: u32,
}

pub(crate) async fn pause_then_return() -> Result<String> {
    let answer = 42;
    tractor_driver::pause!(answer).await?;
    Ok("resumed".to_owned())
}

pub(crate) fn functions() -> Functions {
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
        .rpc(NS, "adapter", |(): ()| async move {
            Ok(Adapter::from_env().name())
        })
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
pub(crate) async fn relay(d: Depth) -> Result<()> {
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
pub(crate) async fn relay_all(d: Level) -> Result<()> {
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
pub(crate) async fn aggregate(out: MsgStream, n: u32) -> Result<()> {
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
pub(crate) async fn asserters(
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
pub(crate) struct PauseOnDrop;

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
pub(crate) async fn pause_in_thread() -> Result<String> {
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
pub(crate) static SIGTERM_SEEN: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Starts noting SIGTERM deliveries to this process.
pub(crate) fn watch_sigterm() -> std::io::Result<()> {
    let flag = SIGTERM_SEEN.get_or_init(Arc::default);
    signal_hook::flag::register(signal_hook::consts::SIGTERM, flag.clone())?;
    Ok(())
}

/// Whether SIGTERM came since `watch_sigterm`: queued for the process and
/// not yet taken by a thread (its `ShdPnd` mask), or delivered (the flag
/// its handler sets). Read in that order, a signal queued before the call
/// is seen either way.
pub(crate) fn sigterm_seen() -> bool {
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

/// The served function `conf:panic`'s panic, in a function of its own
/// that the optimiser keeps: a named frame in any build profile.
#[inline(never)]
pub(crate) fn panic_on_purpose() {
    panic!("the child panicked on purpose");
}

// ---------------------------------------------------------------------------
// More of the program's functions, and helpers for the scenarios below.

#[derive(Serialize, Deserialize)]
pub(crate) struct Number {
    pub(crate) n: u64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Other {
    pub(crate) other: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Delay {
    pub(crate) ms: u64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Guarded {
    pub(crate) path: String,
    pub(crate) raise: bool,
}

/// Any item the echo servers pass back.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub(crate) enum Item {
    Int(i64),
    Text(String),
}

/// A value with no wire form: serialising it fails.
pub(crate) struct Unserializable;

impl Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value has no wire form"))
    }
}

/// How many functions holding a [`Tracked`] ended in this process, by
/// returning or by being cancelled: their `finally` ran.
pub(crate) static DROPS: AtomicU32 = AtomicU32::new(0);

/// Counts into [`DROPS`] when dropped.
pub(crate) struct Tracked;

impl Drop for Tracked {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

/// Prints `dropped=<actor>` on the tree's stdout when dropped: the
/// function holding it was cancelled, and the actor lived to run its
/// cleanup.
pub(crate) struct PrintOnDrop(pub(crate) String);

impl Drop for PrintOnDrop {
    fn drop(&mut self) {
        use std::io::Write;
        println!("dropped={}", self.0);
        let _ = std::io::stdout().flush();
    }
}

/// Removes a file when dropped.
pub(crate) struct Unlink(pub(crate) String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Whether `open_stream` was refused after a context cancelled itself.
pub(crate) static SELF_CANCEL_REFUSED: AtomicBool = AtomicBool::new(false);

pub(crate) fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|i| i * i <= n)
            .all(|i| !n.is_multiple_of(i))
}

pub(crate) fn not_found(name: &str) -> Error {
    Error::raise("LookupError", format!("no actor named {name}"))
}

pub(crate) fn more_functions() -> Functions {
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
pub(crate) async fn supervise_leaves(ctx: Context) -> Result<Vec<i64>> {
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
pub(crate) async fn reqresp(ctx: Context) -> Result<u32> {
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
pub(crate) async fn stream_until_done(ctx: Context) -> Result<u64> {
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
pub(crate) async fn feed_peer(ctx: Context, peer: String) -> Result<String> {
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
pub(crate) struct Spawn {
    pub(crate) server: String,
    pub(crate) name: String,
}

/// Asks the spawn server for a daemon, echoes 100 items with it, reports
/// its name in `started`, then holds on until cancelled.
pub(crate) async fn spawn_client(ctx: Context, s: Spawn) -> Result<()> {
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

/// A middle actor's context: a daemon grandchild holding a context and a
/// one-shot grandchild asleep, each with a guard that prints when
/// dropped, as is this function's own. Started once all are in place.
pub(crate) async fn hold_grandchildren(ctx: Context) -> Result<()> {
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

/// The racers of disc-registrar-election-race that called the registrar.
pub(crate) static CHECKED_IN: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());
