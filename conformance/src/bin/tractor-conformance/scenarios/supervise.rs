//! Supervision (`sup-`): daemons restarted by OTP's strategies when their
//! processes die, found again by name, and a supervisor that gives up
//! failing like any error.

use std::collections::BTreeMap;

use tractor_driver::{Restart, RestartStrategy, SupervisedActor, SupervisorOptions};

use crate::*;

/// The three children every strategy scenario supervises, in order.
const CHILDREN: [&str; 3] = ["sup.a", "sup.b", "sup.c"];

/// Each child's pid, asked through the supervisor.
async fn pids(sup: &tractor_driver::ActorSupervisor) -> Result<BTreeMap<&'static str, u32>> {
    let mut out = BTreeMap::new();
    for name in CHILDREN {
        let p = sup.portal(name).await?;
        out.insert(name, p.run::<u32>(NS, "pid", ()).await?);
    }
    Ok(out)
}

/// Three daemons under `strategy`; the middle one is killed (SIGKILL):
/// which of them are new processes afterwards, how a portal held to the
/// dead one fails, and whom the registrar gives for its name.
pub(crate) async fn sup_strategy(root: ActorHandle, strategy: RestartStrategy) -> Result<()> {
    let options = SupervisorOptions::new(strategy).intensity(5, Duration::from_secs(60));
    let me = root.clone();
    root.open_supervisor(options, |sup| async move {
        let mut first = Vec::new();
        for name in CHILDREN {
            first.push(
                sup.start_child(SupervisedActor::new(name, daemon()))
                    .await?,
            );
        }
        let before = pids(&sup).await?;
        let victim = before["sup.b"];
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(victim as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .map_err(|e| Error::raise("OSError", format!("kill: {e}")))?;
        // The portal held to the dead one fails, naming it.
        let old = loop {
            match first[1].run::<u32>(NS, "pid", ()).await {
                Ok(_) => me.sleep(Duration::from_millis(20)).await,
                Err(e) => break e,
            }
        };
        fact("old_portal", old.to_string());
        // Until the restarts the strategy asks for are all under way;
        // then every child is up again, by name, through the supervisor.
        let wanted = match strategy {
            RestartStrategy::OneForOne => 1,
            RestartStrategy::RestForOne => 2,
            RestartStrategy::OneForAll => 3,
        };
        while sup.restarts() < wanted {
            me.sleep(Duration::from_millis(20)).await;
        }
        let after = pids(&sup).await?;
        let renewed: Vec<&str> = CHILDREN
            .into_iter()
            .filter(|n| before[n] != after[n])
            .collect();
        fact("renewed", renewed.join(","));
        fact("restarts", sup.restarts());
        // The registrar gives the new process for the name.
        let found = me.wait_for_actor("sup.b").await?;
        let found_pid: u32 = found.run(NS, "pid", ()).await?;
        fact("found_new", found_pid == after["sup.b"]);
        let all: Vec<String> = after.values().map(u32::to_string).collect();
        fact("pids", all.join(","));
        Ok(())
    })
    .await
}

/// A child whose main function fails each time: restarted until the
/// intensity is exceeded; then the supervisor gives up, its children
/// stopped, and its error climbs to the root. Beside it, a temporary
/// child that fails once and is gone, and a transient one whose main
/// returns and is not restarted.
pub(crate) async fn sup_intensity(root: ActorHandle) -> Result<()> {
    let options =
        SupervisorOptions::new(RestartStrategy::OneForOne).intensity(2, Duration::from_secs(60));
    let seen = Arc::new(std::sync::Mutex::new(None));
    let keep = seen.clone();
    let e = root
        .open_supervisor(options, |sup| async move {
            *keep.lock().unwrap() = Some(sup.clone());
            sup.start_child(SupervisedActor::new("sup.steady", daemon()))
                .await?;
            // Temporary: its failure is final; transient: its return is.
            let once = SupervisedActor::new("sup.once", daemon())
                .restart(Restart::Temporary)
                .main(NS, "raise", Raise::new("ValueError", "once"));
            let done = SupervisedActor::new("sup.done", daemon())
                .restart(Restart::Transient)
                .main(NS, "hi", ());
            let _ = sup.start_child(once).await;
            let _ = sup.start_child(done).await;
            for name in ["sup.once", "sup.done"] {
                // Gone for good once its one run ended.
                loop {
                    match sup.portal(name).await {
                        Err(e)
                            if e.to_string().contains("not restarted")
                                || e.to_string().contains("no supervised child") =>
                        {
                            break;
                        }
                        _ => root_sleep().await,
                    }
                }
                fact(&format!("{name}_gone"), true);
            }
            fact("restarts_before", sup.restarts());
            let flaky = SupervisedActor::new("sup.flaky", daemon()).main(
                NS,
                "raise",
                Raise::new("ValueError", "flaky"),
            );
            // Its first incarnation is up before it fails.
            sup.start_child(flaky).await?;
            sup.wait().await?;
            fact("never", "the supervisor gave up");
            Ok(())
        })
        .await
        .expect_err("the supervisor gives up");
    fact(
        "escalated",
        e.to_string().lines().next().unwrap_or_default(),
    );
    fact("kind", matches!(e.kind(), ErrorKind::SupervisorFailed(_)));
    let sup = seen.lock().unwrap().take().expect("the supervisor");
    fact("restarts", sup.restarts());
    let after = sup.portal("sup.steady").await.expect_err("it has ended");
    fact(
        "after",
        after.to_string().lines().next().unwrap_or_default(),
    );
    Ok(())
}

async fn root_sleep() {
    me().sleep(Duration::from_millis(20)).await
}

/// A supervisor nested in a child's main function: the grandchild fails
/// at once, the nested supervisor (intensity 0) gives up, which fails
/// the child's main; the root's supervisor restarts the child once, then
/// gives up too. Both errors name their child.
pub(crate) async fn sup_nested(root: ActorHandle) -> Result<()> {
    let options =
        SupervisorOptions::new(RestartStrategy::OneForOne).intensity(1, Duration::from_secs(60));
    let e = root
        .open_supervisor(options, |sup| async move {
            let mid = SupervisedActor::new("sup.mid", daemon()).main(NS, "nested_supervisor", ());
            let _ = sup.start_child(mid).await;
            sup.wait().await
        })
        .await
        .expect_err("the supervisors give up");
    let text = e.to_string();
    fact("root_gave_up_on", text.contains("child `sup.mid`"));
    fact("nested_gave_up_on", text.contains("child `sup.leaf`"));
    Ok(())
}

/// Served: a supervisor over one child whose main fails at once, with no
/// restart allowed (`sup-nested`'s middle actor).
pub(crate) async fn nested_supervisor() -> Result<()> {
    let options =
        SupervisorOptions::new(RestartStrategy::OneForOne).intensity(0, Duration::from_secs(60));
    me().open_supervisor(options, |sup| async move {
        let leaf = SupervisedActor::new("sup.leaf", daemon()).main(
            NS,
            "raise",
            Raise::new("ValueError", "leaf"),
        );
        let _ = sup.start_child(leaf).await;
        sup.wait().await
    })
    .await
}
