//! The conformance suite's actor program: every function the scenarios
//! call, and every scenario as a root.
//!
//! `tractor-conformance <scenario-id> [tcp|uds]` runs one scenario as the
//! root of a real tree and prints `facts` (one `key=value` per line) that
//! the tests check, then `ok`. Started by a parent as a child, the same
//! program serves the functions below.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tractor_driver::{
    ActorHandle, ActorOptions, Config, Context, Error, ErrorKind, Functions, MsgStream, Result,
    Runtime, Transport, current_actor, is_root_process,
};

const NS: &str = "conf";

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

fn me() -> ActorHandle {
    current_actor().expect("an actor runs")
}

fn functions() -> Functions {
    Functions::new()
        .rpc(NS, "hi", |(): ()| async move {
            Ok(format!("hi from {}", me().uid().name))
        })
        .rpc(NS, "do_nothing", |(): ()| async move { Ok(()) })
        .rpc(NS, "cellar_door", |v: Value| async move { Ok(v.value) })
        .rpc(NS, "is_root", |(): ()| async move { Ok(is_root_process()) })
        .rpc(NS, "pid", |(): ()| async move { Ok(std::process::id()) })
        .rpc(NS, "am_registrar", |(): ()| async move {
            Ok(me().is_registrar())
        })
        .rpc(NS, "square", |d: Data| async move { Ok(d.data * d.data) })
        .rpc(NS, "raise", |r: Raise| async move {
            Err::<(), _>(Error::raise(r.type_name, r.message))
        })
        .rpc(NS, "panic", |(): ()| async move {
            if std::hint::black_box(true) {
                panic!("the child panicked on purpose");
            }
            Ok(())
        })
        .rpc(NS, "sleep_forever", |(): ()| async move {
            std::future::pending::<()>().await;
            Ok(())
        })
        .rpc(NS, "block_sync", |(): ()| async move {
            // A function that never reaches an await point again: only
            // signals can stop it.
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
                ctx.started(pid).await?;
                std::future::pending::<()>().await;
                Ok(())
            })
            .await
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
            ctx.started(()).await?;
            let stream = ctx.open_stream().await?;
            let mut count = 0u32;
            while let Some(item) = stream.next::<i64>().await {
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
            n.start_actor(&format!("daemon-{i}"), daemon()).await?;
        }
        let raise = Raise {
            type_name: "AssertionError".into(),
            message: format!("one-shot {i} asserts"),
        };
        n.run_in_actor(
            &format!("asserter-{i}"),
            NS,
            "raise",
            raise,
            ActorOptions::new(),
        )
        .await?;
    }
    Ok(())
}

fn fact(key: &str, value: impl std::fmt::Display) {
    println!("{key}={value}");
}

fn daemon() -> ActorOptions {
    ActorOptions::new().enable_modules([NS])
}

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(Error::raise("AssertionError", format!($($msg)+)));
        }
    };
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Runs futures concurrently on the current task.
async fn join_all<'a, T>(futs: Vec<Boxed<'a, T>>) -> Vec<T> {
    let mut futs: Vec<Option<Boxed<'a, T>>> = futs.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futs.iter_mut().enumerate() {
            if let Some(fut) = f {
                match fut.as_mut().poll(cx) {
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
        _ => match e.remote() {
            Some(r) => format!("remote:{}:{}", r.boxed_type(), r.src_type()),
            None if e.is_cancelled() => "cancelled".into(),
            None => format!("local:{e}"),
        },
    }
}

async fn scenario(id: &str, root: ActorHandle) -> Result<()> {
    match id {
        "spawn-daemon-call-twice" => {
            root.open_nursery(|n| async move {
                let p = n.start_actor("frank", daemon()).await?;
                let a: String = p.run(NS, "hi", ()).await?;
                let b: String = p.run(NS, "hi", ()).await?;
                fact("first", &a);
                fact("second", &b);
                check!(a == "hi from frank" && a == b, "got {a:?} and {b:?}");
                p.cancel_actor().await?;
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
            let rt: Arc<dyn Runtime> = Arc::new(tractor_tokio::Tokio);
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
                    let spawns = (0..4)
                        .map(|i| {
                            let n = n.clone();
                            Box::pin(async move {
                                n.start_actor(&format!("worker-{i}"), daemon()).await
                            }) as Boxed<'_, _>
                        })
                        .collect();
                    let portals: Vec<Result<tractor_driver::Portal>> = join_all(spawns).await;
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
            root.open_nursery(|n| async move {
                let p = n.start_actor("frank", daemon()).await?;
                let e = p.run::<()>(ns, func, ()).await.expect_err("must fail");
                fact("error", describe(&e));
                p.cancel_actor().await?;
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
            Ok(())
        }
        "rpc-concurrent-calls-one-portal" => {
            root.open_nursery(|n| async move {
                let p = n.start_actor("pool", daemon()).await?;
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
                p.cancel_actor().await?;
                Ok(())
            })
            .await
        }
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
            root.open_nursery(|n| async move {
                let p = n.start_actor("ctx", daemon()).await?;
                let (ctx, first): (_, i64) = p
                    .open_context(NS, "started_plus_one", Data { data: 10 })
                    .await?;
                let result: String = ctx.wait_for_result().await?;
                fact("started", first);
                fact("result", &result);
                check!(first == 11 && result == "yo", "{first} {result}");
                p.cancel_actor().await?;
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
            root.open_nursery(|n| async move {
                let p = n.start_actor("ctx", daemon()).await?;
                let e = match p.open_context::<i64>(NS, func, ()).await {
                    Ok((ctx, _)) => ctx.wait_for_result::<()>().await.expect_err("must fail"),
                    Err(e) => e,
                };
                fact("error", describe(&e));
                p.cancel_actor().await?;
                Ok(())
            })
            .await
        }
        "ctx-cancel-blocking-child" => {
            root.open_nursery(|n| async move {
                let p = n.start_actor("blocker", daemon()).await?;
                let (ctx, ()) = p.open_context(NS, "block_forever", ()).await?;
                ctx.cancel()?;
                let e = ctx.wait_for_result::<()>().await.expect_err("cancelled");
                fact("outcome", describe(&e));
                check!(e.is_cancelled(), "{e}");
                // The daemon still serves.
                let hi: String = p.run(NS, "hi", ()).await?;
                fact("after", hi);
                p.cancel_actor().await?;
                Ok(())
            })
            .await
        }
        "ctx-child-closes-stream-immediately" => {
            root.open_nursery(|n| async move {
                let p = n.start_actor("closer", daemon()).await?;
                let (ctx, ()) = p.open_context(NS, "close_at_once", ()).await?;
                let stream = ctx.open_stream().await?;
                let first = stream.next::<i64>().await;
                check!(first.is_none(), "expected the end, got {first:?}");
                let again = stream.receive::<i64>().await.expect_err("ended");
                fact("again", describe(&again));
                let r: String = ctx.wait_for_result().await?;
                fact("result", r);
                p.cancel_actor().await?;
                Ok(())
            })
            .await
        }
        "stream-pingpong" => {
            root.open_nursery(|n| async move {
                let p = n.start_actor("ponger", daemon()).await?;
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
                p.cancel_actor().await?;
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
        "cancel-nursery-cancel-daemon" => {
            root.open_nursery(|n| async move {
                let p = n.start_actor("idle", daemon()).await?;
                let () = p.run(NS, "do_nothing", ()).await?;
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
            let out = root
                .open_nursery(|n| async move {
                    n.run_in_actor("panicker", NS, "panic", (), ActorOptions::new())
                        .await?;
                    Ok(())
                })
                .await;
            let e = out.expect_err("the child panics");
            fact("error", describe(&e));
            let r = e.remote().expect("a remote error");
            check!(r.text().contains("the child panicked on purpose"), "{e}");
            check!(
                r.tb_str().contains("tractor_conformance"),
                "no backtrace: {}",
                r.tb_str()
            );
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
        "disc-reg-then-unreg" | "disc-find-miss-none" => {
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
            root.open_nursery(|n| async move {
                let p = n.start_actor("victim", daemon()).await?;
                let (ctx, ()) = p.open_context(NS, "block_forever", ()).await?;
                let pid: u32 = p.run(NS, "pid", ()).await?;
                nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                )
                .map_err(|e| Error::raise("OSError", e.to_string()))?;
                let e = ctx
                    .wait_for_result::<()>()
                    .await
                    .expect_err("the child died");
                fact("error", describe(&e));
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
        other => Err(Error::raise("KeyError", format!("no scenario {other:?}"))),
    }
}

fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let code = rt.block_on(async move {
        let runtime: Arc<dyn Runtime> = Arc::new(tractor_tokio::Tokio);
        let id = args.first().cloned().unwrap_or_default();
        let transport = match args.get(1).map(String::as_str) {
            Some("uds") => Transport::Uds,
            _ => Transport::Tcp,
        };
        let mut config = Config::new("root", functions())
            .transport(transport)
            .enable_modules([NS]);
        if transport == Transport::Tcp {
            // Each tree its own registrar, on a free port.
            config = config.registry_addrs([tractor_driver::Address::tcp("127.0.0.1", 0)]);
        }
        let out = tractor_driver::open_root_actor(runtime, config, |root| {
            let id = id.clone();
            async move { scenario(&id, root).await }
        })
        .await;
        match out {
            Ok(()) => {
                println!("ok");
                0
            }
            Err(e) => {
                fact("root_error", describe(&e));
                eprintln!("{e:#}");
                1
            }
        }
    });
    std::process::exit(code);
}
