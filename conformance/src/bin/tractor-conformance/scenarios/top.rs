//! An actor's picture of itself, `self.introspect` (`top-`).

use crate::*;
use tractor_driver::introspect::{DialogSnapshot, Snapshot};

/// The open dialog of `s` serving or calling `function`.
fn dialog<'a>(s: &'a Snapshot, function: &str) -> Result<&'a DialogSnapshot> {
    s.dialogs
        .iter()
        .find(|d| d.function == function)
        .ok_or_else(|| Error::raise("AssertionError", format!("no {function} in {s:?}")))
}

/// Scenario `top-snapshot`: a child's snapshot while it echoes a stream,
/// its counters moving between two; its task dump (`self.dump_tasks`);
/// the root's own; a sibling's look.
pub(crate) async fn top_snapshot(root: ActorHandle) -> Result<()> {
    let me = root.clone();
    root.open_nursery(|n| async move {
        let a = n.start_actor("snap-a", daemon()).await?;
        let b = n.start_actor("snap-b", daemon()).await?;
        let (ctx, stream) = open_echo(&a).await?;
        send_ints(&stream, 5).await?;
        for _ in 0..5 {
            stream.receive::<i64>().await?;
        }
        let first: Snapshot = a.run("self", "introspect", ()).await?;
        fact("version", first.version);
        fact("uid", &first.uid.name);
        fact(
            "pid_is_the_childs",
            first.pid == Some(a.run::<u32>(NS, "pid", ()).await?),
        );
        fact(
            "parent",
            first.parent.as_ref().map_or("none", |p| p.name.as_str()),
        );
        fact("registrar", first.registrar);
        fact(
            "registrars_are_the_roots",
            first.registrars == me.registry_addrs(),
        );
        fact("adapter", &first.process.adapter);
        fact("transport", &first.process.transport);
        fact("addrs", first.process.addrs.len());
        fact("rss_positive", first.process.rss_kib > 0);
        fact("threads_positive", first.process.threads > 0);
        fact(
            "dialogs_listed",
            format!("{}/{}", first.dialogs.len(), first.dialogs_total),
        );
        let echo = dialog(&first, "conf:echo")?;
        fact(
            "echo",
            format!(
                "{} {} {} {}",
                echo.kind, echo.role, echo.state, echo.peer.name
            ),
        );
        fact(
            "echo_items",
            format!("{}/{}", echo.items_received, echo.items_sent),
        );
        send_ints(&stream, 3).await?;
        for _ in 0..3 {
            stream.receive::<i64>().await?;
        }
        let second: Snapshot = a.run("self", "introspect", ()).await?;
        let echo2 = dialog(&second, "conf:echo")?;
        fact(
            "echo_items_after",
            format!("{}/{}", echo2.items_received, echo2.items_sent),
        );
        fact("age_grew", echo2.age_ms >= echo.age_ms);
        fact(
            "cpu_not_back",
            second.process.cpu_ms >= first.process.cpu_ms,
        );
        fact(
            "calls_served_grew",
            second.counters.calls_served > first.counters.calls_served,
        );
        fact("items_counted", second.counters.items_sent >= 8);
        // Its task tree, asked over the wire.
        let dump: String = a.run("self", "dump_tasks", ()).await?;
        fact(
            "dump_names_the_actor",
            dump.contains("task tree of ('snap-a'"),
        );
        fact("dump_shows_the_echo", dump.contains("call conf:echo"));
        // Asking turned await sites on: once the echo has run again, a
        // dump shows the line of code it waits at.
        send_ints(&stream, 1).await?;
        stream.receive::<i64>().await?;
        let again: String = a.run("self", "dump_tasks", ()).await?;
        let echo_task: Vec<&str> = again
            .lines()
            .skip_while(|l| !l.contains("call conf:echo"))
            .skip(1)
            .take_while(|l| l.starts_with("      "))
            .collect();
        fact(
            "dump_again_shows_sites",
            echo_task
                .iter()
                .any(|l| l.contains(" at ") && l.contains(".rs:")),
        );
        // Contexts in each state, on the other child: one whose function
        // has not called `started` (the opener waits for it), one started
        // without a stream, one streaming.
        let waiting = {
            let b = b.clone();
            me.spawn(async move {
                let _ = b.open_context::<()>(NS, "never_started", ()).await;
            })
        };
        let (_running, ()) = b.open_context(NS, "block_forever", ()).await?;
        let (streaming, ()) = b.open_context(NS, "deaf_stream", ()).await?;
        let _stream = streaming.open_stream().await?;
        // Until the first has reached the child.
        let states = |s: &Snapshot, side: &str| {
            let mut v: Vec<String> = s
                .dialogs
                .iter()
                .filter(|d| d.role == side && d.peer.name != "snap-a")
                .map(|d| format!("{}={}", d.function, d.state))
                .collect();
            v.sort();
            v.join(",")
        };
        let b_snap = loop {
            let s: Snapshot = b.run("self", "introspect", ()).await?;
            if s.dialogs.len() == 3 {
                break s;
            }
            me.sleep(std::time::Duration::from_millis(10)).await;
        };
        fact("b_states", states(&b_snap, "callee"));
        fact("root_states", states(&me.snapshot(), "opener"));
        drop(waiting);
        // The root, as it sees itself.
        let mine = me.snapshot();
        let mut kids: Vec<String> = mine
            .children
            .iter()
            .map(|c| format!("{}:{}:{}", c.uid.name, c.state, c.pid.is_some()))
            .collect();
        kids.sort();
        fact("root_children", kids.join(","));
        let opened = dialog(&mine, "conf:echo")?;
        fact("root_echo", format!("{} {}", opened.role, opened.state));
        fact("root_parent", mine.parent.is_none());
        // A sibling, neither the child's parent nor its child: in a tree
        // without a secret, any peer may look.
        let refused: String = b
            .run(
                NS,
                "introspect_peer",
                Other {
                    other: "snap-a".into(),
                },
            )
            .await?;
        fact("sibling", refused);
        drop(stream);
        ctx.cancel()?;
        let _ = ctx.wait_for_result::<()>().await;
        n.cancel().await;
        Ok(())
    })
    .await
}
