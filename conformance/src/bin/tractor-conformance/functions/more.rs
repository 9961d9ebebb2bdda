//! More of the program's functions (namespace `conf`), and the guards
//! and counters they keep.

use crate::*;

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
        // launch-*: the network namespace this process runs in, and a
        // variable of its environment.
        .rpc(NS, "netns", |(): ()| async move {
            Ok(std::fs::read_link("/proc/self/ns/net")?
                .display()
                .to_string())
        })
        .rpc(NS, "env_var", |v: Value| async move {
            Ok(std::env::var(v.value.unwrap_or_default()).ok())
        })
        // tls-netns: a file as this process sees it (on its host).
        .rpc(NS, "read_file", |v: Value| async move {
            Ok(std::fs::read_to_string(v.value.unwrap_or_default()).ok())
        })
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
            let below = nursery_with(&me(), "grandchild", |n, g| async move {
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
            let (over, after) = nursery_with(&me(), "grandchild", |n, g| async move {
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
            started_then_wait(&ctx, ()).await
        })
        .context(
            NS,
            "hold_grandchildren",
            |ctx: Context, (): ()| async move { hold_grandchildren(ctx).await },
        )
        .context(NS, "guard_ctx", |ctx: Context, (): ()| async move {
            let _finally = PrintOnDrop(me().uid().name.clone());
            started_then_wait(&ctx, ()).await
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

/// The racers of disc-registrar-election-race that called the registrar.
pub(crate) static CHECKED_IN: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());
