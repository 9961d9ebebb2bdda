//! The functions the program's actors serve (namespace `conf`), and
//! their arguments.

mod grace;
mod guest;
mod more;
mod streams;
mod trees;
mod typed;

pub(crate) use grace::*;
pub(crate) use guest::*;
pub(crate) use more::*;
pub(crate) use streams::*;
pub(crate) use trees::*;
pub(crate) use typed::*;

use crate::*;

/// Structs of named fields, the keyword arguments of served functions:
/// serialisable both ways, every field `pub(crate)`.
macro_rules! args {
    ($($(#[$doc:meta])* $name:ident { $($field:ident: $ty:ty),+ $(,)? })+) => {
        $(
            $(#[$doc])*
            #[derive(Serialize, Deserialize)]
            pub(crate) struct $name {
                $(pub(crate) $field: $ty),+
            }
        )+
    };
}

args! {
    /// A text, or none.
    Value { value: Option<String> }
    /// An integer.
    Data { data: i64 }
    /// How many.
    Count { n: u32 }
    /// The error `conf:raise` fails with.
    Raise { type_name: String, message: String }
    /// A relay of failures: `depth` levels of `breadth` children below.
    Depth { depth: u32, breadth: u32 }
    /// A level of the failing tree: `depth` levels of `breadth` children
    /// below, `leaves` leaves in the whole tree (all of them meet at one
    /// barrier).
    Level { depth: u32, breadth: u32, leaves: u32 }
    /// A number to test.
    Number { n: u64 }
    /// The name of another actor.
    Other { other: String }
    /// How long to wait first, in milliseconds.
    Delay { ms: u64 }
    /// A file a child holds, and whether it then fails.
    Guarded { path: String, raise: bool }
    /// The spawn server to ask, and the name of the daemon it is to start.
    Spawn { server: String, name: String }
}

impl Raise {
    /// The arguments that make `conf:raise` fail with `type_name: message`.
    pub(crate) fn new(type_name: &str, message: impl Into<String>) -> Self {
        Raise {
            type_name: type_name.into(),
            message: message.into(),
        }
    }
}

pub(crate) async fn pause_then_return() -> Result<String> {
    let answer = 42;
    tractor_driver::pause!(answer).await?;
    Ok("resumed".to_owned())
}

pub(crate) fn functions() -> Functions {
    guest_functions(pubsub_functions(Functions::new()))
        .serve(MathService, Calc)
        .rpc(NS, "hi", |(): ()| async move {
            Ok(format!("hi from {}", me().uid().name))
        })
        .rpc(NS, "do_nothing", |(): ()| async move { Ok(()) })
        .rpc(NS, "nested_supervisor", |(): ()| {
            crate::scenarios::supervise::nested_supervisor()
        })
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
            nursery_with(&me(), "sync-hanger", |_, p| async move {
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
        // top-snapshot: another actor's snapshot, or the error's type.
        .rpc(NS, "introspect_peer", |o: Other| async move {
            let me = me();
            let p = me
                .find_actor(&o.other)
                .await?
                .ok_or_else(|| Error::raise("LookupError", o.other.clone()))?;
            Ok(
                match p
                    .run::<tractor_driver::introspect::Snapshot>("self", "introspect", ())
                    .await
                {
                    Ok(s) => format!("answered:{}", s.uid.name),
                    Err(e) => e.type_name().unwrap_or("?").to_owned(),
                },
            )
        })
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
            nursery_with(&me(), "grandchild", |_, g| async move {
                let pid: u32 = g.run(NS, "pid", ()).await?;
                let call = g.clone();
                me().spawn(async move {
                    let _ = call.run::<()>(NS, "block_sync", ()).await;
                });
                // Started once the grandchild is stuck for good.
                until(&me(), || blocked_marker(pid).exists()).await;
                started_then_wait(&ctx, pid).await
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
            nursery_with(&me(), "leaf", |_, p| async move {
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
            nursery_with(&me(), "grandchild", |_, g| async move {
                let pid: u32 = g.run(NS, "pid", ()).await?;
                started_then_wait(&ctx, pid).await
            })
            .await
        })
        // top-snapshot: a context whose opener waits for `started` forever.
        .context(NS, "never_started", |_ctx: Context, (): ()| async move {
            std::future::pending::<()>().await;
            Ok(())
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
            started_then_wait(&ctx, ()).await
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
        .merge(grace_functions())
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
