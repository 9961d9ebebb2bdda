//! Where tractor-smol's tasks run: on the executor the entry point drives
//! while an actor runs, and still somewhere once none does.

use std::sync::mpsc;
use std::time::Duration;

use tractor_smol::prelude::*;
use tractor_smol::runtime::Runtime;

/// Generous: only there to turn a hang into a failure.
const HANG: Duration = Duration::from_secs(60);

fn config(name: &str) -> Config {
    // Its own registrar, on a port of its own: no other tree is joined.
    Config::new(name, Functions::new()).registry_addrs([Address::tcp("127.0.0.1", 0)])
}

#[test]
fn a_task_outliving_its_root_still_finishes() {
    let handle = smol::block_on(open_root_actor(config("outliver"), |actor| async move {
        Ok(actor.spawn(async {
            smol::Timer::after(Duration::from_millis(50)).await;
            7
        }))
    }))
    .expect("the root runs and ends");
    // No actor drives the executor any more: the task goes on all the same.
    let out = smol::block_on(smol::future::or(async { Some(handle.await) }, async {
        smol::Timer::after(HANG).await;
        None
    }));
    assert_eq!(
        out.expect("the task finished").expect("the task's output"),
        7
    );
}

#[test]
fn a_task_spawned_outside_any_actor_runs_and_a_root_after_it_works() {
    let (tx, rx) = mpsc::channel();
    tractor_smol::Smol.spawn(Box::pin(async move {
        smol::Timer::after(Duration::from_millis(10)).await;
        let _ = tx.send(1);
    }));
    assert_eq!(
        rx.recv_timeout(HANG),
        Ok(1),
        "spawned with no actor running"
    );
    // Then two roots, one after the other, each serving its own task.
    for name in ["first", "second"] {
        let out = smol::block_on(open_root_actor(config(name), |actor| async move {
            actor.spawn(async { 3 }).await
        }));
        assert_eq!(out.expect("the root runs"), 3);
    }
}
