//! Spawning, reaping and parent loss in the simulated network, with
//! simulated processes. Tests named after a scenario id of spec/SCENARIOS.md
//! check that scenario.

mod sim;

use std::time::Duration;

use tractor_protocol::{
    ActorConfig, CancelCause, ChannelId, ChildId, ContextOptions, DialogError, Endpoints, Event,
    ExitStatus, FuncType, Incoming, LocalError, PEER_EXIT_WAIT, REAP_CANCEL_TIMEOUT,
    REAP_KILL_AFTER, Raw, ReapTimeouts, RuntimeVars, SpawnRequest, TaskError,
};

use sim::{App, Cx, Log, Sim, Task, TaskCx, Tasks, tcp};

const SECOND: Duration = Duration::from_secs(1);
const NS: &str = "app.kids";

/// A child program: serves `NS` functions, exits once cancelled or
/// orphaned, as a tractor child process does.
struct ChildProgram {
    tasks: Tasks,
    /// Ignore cancellation entirely (a task stuck in sync code).
    stubborn: bool,
}

impl App for ChildProgram {
    fn on_event(&mut self, cx: &mut Cx<'_>, event: &Event) {
        match event {
            Event::SpawnSpecReceived { .. } => self.tasks.log.push("booted"),
            Event::Cancel { .. } if self.stubborn => {}
            // A child whose runtime was cancelled, or whose parent is gone,
            // exits once its functions have ended (the core has sent the
            // CancelAck by then).
            Event::ParentLost { .. } => {
                self.tasks.on_event(cx, event);
                cx.exit(0);
            }
            _ => self.tasks.on_event(cx, event),
        }
        if matches!(event, Event::ActorCancelRequested { .. }) && !self.stubborn {
            cx.exit(0);
        }
    }
    fn on_wake(&mut self, cx: &mut Cx<'_>, token: u64) {
        self.tasks.on_wake(cx, token);
    }
}

struct Answer;
impl Task for Answer {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        cx.actor.accept(cx.dialog).unwrap();
        cx.actor
            .finish(cx.dialog, Ok(Raw::encode(&42).unwrap()))
            .unwrap();
    }
}

/// A call that never returns by itself.
struct Hang;
impl Task for Hang {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        cx.actor.accept(cx.dialog).unwrap();
    }
    fn on_cancel(&mut self, cx: &mut TaskCx<'_>, _cause: &CancelCause) {
        let _ = cx.actor.finish(cx.dialog, Err(TaskError::Cancelled));
    }
}

struct Forever {
    log: Log,
}
impl Task for Forever {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        cx.actor.accept(cx.dialog).unwrap();
        cx.actor.started(cx.dialog, Raw::NIL).unwrap();
    }
    fn on_cancel(&mut self, cx: &mut TaskCx<'_>, cause: &CancelCause) {
        self.log.push(format!("forever cancelled: {cause:?}"));
        let _ = cx.actor.finish(cx.dialog, Err(TaskError::Cancelled));
    }
}

/// A function whose one step comes after its cancellation (a driver
/// polls it once even so): it fails then, on its own account.
struct FailsAsCancelled;
impl Task for FailsAsCancelled {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        cx.actor.accept(cx.dialog).unwrap();
    }
    fn on_cancel(&mut self, cx: &mut TaskCx<'_>, _: &CancelCause) {
        let own = LocalError::new("AssertionError", "fails at once");
        cx.actor.finish(cx.dialog, Err(own.into())).unwrap();
    }
}

struct Tree {
    sim: Sim,
    root: usize,
    log: Log,
}

fn tree(seed: u64, stubborn: bool) -> Tree {
    tree_reaping(seed, stubborn, ReapTimeouts::default())
}

/// A tree whose root reaps with `reap`.
fn tree_reaping(seed: u64, stubborn: bool, reap: ReapTimeouts) -> Tree {
    tree_with(seed, stubborn, reap, std::time::Duration::ZERO)
}

/// A tree whose root reaps with `reap` and gives cancelled functions
/// `grace`.
fn tree_with(seed: u64, stubborn: bool, reap: ReapTimeouts, grace: std::time::Duration) -> Tree {
    let mut sim = Sim::new(seed);
    let mut cfg = Sim::config("root");
    cfg.reap = reap;
    cfg.cancel_grace = grace;
    cfg.is_registrar = true;
    cfg.serve_tty_lock = true;
    let root = sim.add(cfg, tcp(1616), sim::Idle);
    sim.nodes[root].actor.set_runtime_vars(RuntimeVars {
        root_mailbox: Some(tcp(1616)),
        root_addrs: vec![tcp(1616)],
        registry_addrs: vec![tcp(1616)],
        ..RuntimeVars::default()
    });
    let log = Log::default();
    let l = log.clone();
    sim.templates = Some(Box::new(move |name| {
        let mut cfg = ActorConfig::new(name, "");
        cfg.endpoints = Endpoints::new()
            .expose(NS, "answer", FuncType::AsyncFunc)
            .expose(NS, "hang", FuncType::AsyncFunc)
            .expose(NS, "forever", FuncType::Context)
            .expose(NS, "fails_as_cancelled", FuncType::AsyncFunc);
        let l2 = l.clone();
        let tasks = Tasks::new(&l)
            .serve(NS, "answer", |_| Answer)
            .serve(NS, "hang", |_| Hang)
            .serve(NS, "forever", move |_| Forever { log: l2.clone() })
            .serve(NS, "fails_as_cancelled", |_| FailsAsCancelled);
        Some((
            cfg,
            Box::new(ChildProgram { tasks, stubborn }) as Box<dyn App>,
        ))
    }));
    Tree { sim, root, log }
}

impl Tree {
    /// Opens the `forever` context on a child.
    fn open_forever(&mut self, ch: ChannelId) -> tractor_protocol::DialogId {
        self.sim
            .with(self.root, |cx| {
                cx.actor
                    .open_context(ch, NS, "forever", Raw::EMPTY_MAP, ContextOptions::default())
            })
            .unwrap()
    }

    fn spawn(&mut self, name: &str, ignores_term: bool) -> (ChildId, ChannelId, usize) {
        let child = self.sim.with(self.root, |cx| cx.actor.spawn(request(name)));
        let node = self.sim.nodes.len() - 1;
        self.sim.nodes[node].ignores_term = ignores_term;
        let mut channel = None;
        let root = self.root;
        self.sim.run_until(SECOND, |s| {
            channel = s.nodes[root].events.iter().find_map(|e| match e {
                Event::ChildConnected { child: c, channel } if *c == child => Some(*channel),
                _ => None,
            });
            channel.is_some()
        });
        (child, channel.unwrap(), node)
    }

    fn exited(&self, child: ChildId) -> Option<ExitStatus> {
        self.sim.nodes[self.root]
            .events
            .iter()
            .find_map(|e| match e {
                Event::ChildExited {
                    child: c, status, ..
                } if *c == child => Some(*status),
                _ => None,
            })
    }
}

#[test]
fn spawn_handshake_and_spawn_spec_follow_d1() {
    let mut t = tree(1, false);
    let (_, _, node) = t.spawn("worker", false);
    t.sim.settle(SECOND);
    // D1: both Aids, then the parent's SpawnSpec on the spawn channel.
    assert_eq!(t.sim.wire_types(t.root, node), ["Aid", "SpawnSpec"]);
    assert_eq!(t.sim.wire_types(node, t.root), ["Aid"]);
    assert!(t.log.contains("booted"));
    // The child took the tree's runtime vars, as a child.
    let vars = t.sim.nodes[node].actor.runtime_vars();
    assert!(!vars.is_root);
    assert_eq!(vars.root_mailbox, Some(tcp(1616)));
    assert_eq!(vars.registry_addrs, [tcp(1616)]);
    let spec = t.sim.wire.iter().find_map(|w| match &w.msg {
        tractor_protocol::Msg::SpawnSpec(s) => Some(s.clone()),
        _ => None,
    });
    let spec = spec.unwrap();
    assert_eq!(spec.reg_addrs, [tcp(1616)]);
    assert_eq!(spec.bind_addrs, None);
    assert_eq!(spec.parent_main_data, Raw::EMPTY_MAP);
}

#[test]
fn spawn_one_shot_result_then_graceful_reap() {
    // run_in_actor: call, result, then self.cancel, CancelAck, exit (D2).
    let mut t = tree(2, false);
    let (child, ch, node) = t.spawn("one_shot", false);
    let d = t
        .sim
        .with(t.root, |cx| cx.actor.call(ch, NS, "answer", Raw::EMPTY_MAP))
        .unwrap();
    assert_eq!(
        t.sim.outcome(t.root, d, SECOND),
        Incoming::Return(Raw::encode(&42).unwrap())
    );
    let t0 = t.sim.now;
    t.sim
        .with(t.root, |cx| cx.actor.cancel_child(cx.now, child));
    t.sim.run_until(SECOND, |s| s.nodes[node].exit.is_some());
    t.sim.settle(SECOND);
    assert_eq!(
        t.exited(child),
        Some(ExitStatus {
            code: Some(0),
            signal: None
        })
    );
    assert!(
        t.sim.now - t0 < REAP_CANCEL_TIMEOUT,
        "no escalation was needed"
    );
    assert_eq!(
        t.sim.wire_types(node, t.root),
        ["Aid", "StartAck", "Return", "StartAck", "CancelAck"]
    );
    assert_eq!(t.sim.nodes[t.root].actor.children().count(), 0);
    assert_eq!(t.sim.nodes[t.root].actor.live_state(), (0, 0));
}

#[test]
fn fault_grandchild_sync_blocked_is_terminated() {
    // The child never acknowledges the cancel: SIGTERM after 0.5 s.
    let mut t = tree(3, true);
    let (child, ch, node) = t.spawn("stuck", false);
    let d = t.open_forever(ch);
    t.sim.recv_until(t.root, d, SECOND, |_| true);
    let t0 = t.sim.now;
    t.sim
        .with(t.root, |cx| cx.actor.cancel_child(cx.now, child));
    t.sim
        .run_until(5 * SECOND, |s| s.nodes[node].exit.is_some());
    assert_eq!(t.sim.now - t0, REAP_CANCEL_TIMEOUT);
    assert_eq!(t.sim.nodes[node].exit.unwrap().signal, Some(15));
    // The context fails at once instead of hanging, saying how the child
    // went.
    let outcome = t
        .sim
        .recv_until(t.root, d, SECOND, Incoming::is_final)
        .pop()
        .unwrap();
    let Incoming::Error(e @ DialogError::PeerLost { exit, .. }) = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(exit.and_then(|x| x.signal), Some(15));
    assert!(e.to_string().ends_with(") died: killed by SIGTERM"), "{e}");
    t.sim
        .with(t.root, |cx| cx.actor.leave(cx.now, d, true))
        .unwrap();
    t.sim.settle(SECOND);
    assert_eq!(t.exited(child).unwrap().signal, Some(15));
    assert_eq!(t.sim.nodes[t.root].actor.live_state(), (0, 0));
}

#[test]
fn fault_shield_hung_child_hard_kill() {
    // Ignores the cancel and SIGTERM: SIGKILL after a further 1.6 s.
    let mut t = tree(4, true);
    let (child, ch, node) = t.spawn("hung", true);
    let d = t.open_forever(ch);
    t.sim.recv_until(t.root, d, SECOND, |_| true);
    let t0 = t.sim.now;
    t.sim
        .with(t.root, |cx| cx.actor.cancel_child(cx.now, child));
    t.sim
        .run_until(10 * SECOND, |s| s.nodes[node].exit.is_some());
    assert_eq!(t.sim.now - t0, REAP_CANCEL_TIMEOUT + REAP_KILL_AFTER);
    assert_eq!(t.sim.nodes[node].exit.unwrap().signal, Some(9));
    t.sim.settle(SECOND);
    assert_eq!(t.exited(child).unwrap().signal, Some(9));
    t.sim
        .with(t.root, |cx| cx.actor.leave(cx.now, d, true))
        .unwrap();
}

#[test]
fn reaping_timeouts_are_the_supervisor_s_to_choose() {
    // The same hung child as above, reaped on a slower schedule.
    let reap = ReapTimeouts {
        cancel_ack: 2 * SECOND,
        kill_after: 3 * SECOND,
    };
    let mut t = tree_reaping(4, true, reap);
    let (child, ch, node) = t.spawn("hung", true);
    let d = t.open_forever(ch);
    t.sim.recv_until(t.root, d, SECOND, |_| true);
    let t0 = t.sim.now;
    t.sim
        .with(t.root, |cx| cx.actor.cancel_child(cx.now, child));
    t.sim
        .run_until(20 * SECOND, |s| s.nodes[node].exit.is_some());
    assert_eq!(t.sim.now - t0, reap.cancel_ack + reap.kill_after);
    assert_eq!(t.sim.nodes[node].exit.unwrap().signal, Some(9));
    t.sim.settle(SECOND);
    assert_eq!(t.exited(child).unwrap().signal, Some(9));
}

#[test]
fn reaping_waits_the_grace_period_longer_at_each_step() {
    // The same hung child, reaped by a root whose tree gives a cancelled
    // function 2 s of grace: each step waits that much longer.
    let grace = 2 * SECOND;
    let mut t = tree_with(6, true, ReapTimeouts::default(), grace);
    let (child, ch, node) = t.spawn("hung", true);
    let d = t.open_forever(ch);
    t.sim.recv_until(t.root, d, SECOND, |_| true);
    let t0 = t.sim.now;
    t.sim
        .with(t.root, |cx| cx.actor.cancel_child(cx.now, child));
    t.sim
        .run_until(20 * SECOND, |s| s.nodes[node].exit.is_some());
    assert_eq!(
        t.sim.now - t0,
        REAP_CANCEL_TIMEOUT + REAP_KILL_AFTER + 2 * grace
    );
    assert_eq!(t.sim.nodes[node].exit.unwrap().signal, Some(9));
    t.sim.settle(SECOND);
    assert_eq!(t.exited(child).unwrap().signal, Some(9));
}

#[test]
fn an_actor_cancel_waits_the_grace_period_longer() {
    // `self.cancel` to a child whose function never ends: the request
    // gives up after Python's 0.5 s plus the tree's grace, and says so.
    let grace = 2 * SECOND;
    let mut t = tree_with(7, true, ReapTimeouts::default(), grace);
    let (child, ch, node) = t.spawn("hung", true);
    let d = t.open_forever(ch);
    t.sim.recv_until(t.root, d, SECOND, |_| true);
    let t0 = t.sim.now;
    let id = t
        .sim
        .with(t.root, |cx| cx.actor.cancel_actor(cx.now, ch))
        .unwrap();
    let outcome = t
        .sim
        .recv_until(t.root, id, 10 * SECOND, Incoming::is_final)
        .pop()
        .unwrap();
    let want = tractor_protocol::ACTOR_CANCEL_TIMEOUT + grace;
    assert!(
        matches!(outcome, Incoming::Error(DialogError::CancelTimeout { after }) if after == want),
        "{outcome:?}"
    );
    assert_eq!(t.sim.now - t0, want);
    t.sim
        .with(t.root, |cx| cx.actor.cancel_child(cx.now, child));
    t.sim
        .run_until(20 * SECOND, |s| s.nodes[node].exit.is_some());
}

#[test]
fn debug_mode_never_terminates_and_waits_for_the_terminal() {
    let mut t = tree(5, true);
    let mut vars = t.sim.nodes[t.root].actor.runtime_vars().clone();
    vars.debug_mode = true;
    t.sim.nodes[t.root].actor.set_runtime_vars(vars);
    let (child, ch, node) = t.spawn("debugged", true);
    let d = t.open_forever(ch);
    t.sim.recv_until(t.root, d, SECOND, |_| true);
    // Someone is in a REPL for 5 s.
    let ticket = t.sim.nodes[t.root].actor.acquire_tty_lock();
    let t0 = t.sim.now;
    t.sim
        .with(t.root, |cx| cx.actor.cancel_child(cx.now, child));
    t.sim.sleep(5 * SECOND);
    assert!(
        t.sim.nodes[node].exit.is_none(),
        "nothing is killed while the terminal is held"
    );
    t.sim
        .with(t.root, |cx| cx.actor.release_tty_lock_local(ticket));
    t.sim
        .run_until(5 * SECOND, |s| s.nodes[node].exit.is_some());
    assert_eq!(
        t.sim.nodes[node].exit.unwrap().signal,
        Some(9),
        "SIGKILL, never SIGTERM"
    );
    assert!(t.sim.now - t0 >= 5 * SECOND);
    t.sim.settle(SECOND);
    t.sim
        .with(t.root, |cx| cx.actor.leave(cx.now, d, true))
        .unwrap();
}

#[test]
fn fault_parent_dies() {
    // The parent is killed while the child runs a context: the child sees
    // its parent go, cancels its functions and exits: no orphan.
    let mut t = tree(6, false);
    let (_, ch, node) = t.spawn("orphan", false);
    let d = t.open_forever(ch);
    t.sim.recv_until(t.root, d, SECOND, |_| true);
    let root = t.root;
    t.sim.crash(root);
    t.sim.run_until(SECOND, |s| s.nodes[node].exit.is_some());
    // The context ran over the parent channel, so it was cancelled as that
    // channel closed; the actor as a whole then saw its parent gone.
    assert!(
        t.log
            .lines()
            .iter()
            .any(|l| l.starts_with("forever cancelled: ChannelClosed"))
    );
    assert!(
        t.sim.nodes[node]
            .events
            .iter()
            .any(|e| matches!(e, Event::ParentLost { .. }))
    );
    assert_eq!(t.sim.nodes[node].exit.unwrap().code, Some(0));
}

#[test]
fn fault_child_sigkilled() {
    let mut t = tree(7, false);
    let (child, ch, node) = t.spawn("victim", false);
    let d = t.open_forever(ch);
    t.sim.recv_until(t.root, d, SECOND, |_| true);
    let t0 = t.sim.now;
    t.sim.crash(node);
    // The exit is reported before the connection's end is read: the
    // context fails as soon as it is, naming the child and how it died.
    let outcome = t
        .sim
        .recv_until(t.root, d, SECOND, Incoming::is_final)
        .pop()
        .unwrap();
    assert!(t.sim.now - t0 < PEER_EXIT_WAIT, "no wait for a known exit");
    let Incoming::Error(
        e @ DialogError::PeerLost {
            peer, pid, exit, ..
        },
    ) = &outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(peer.name, "victim");
    assert_eq!(*pid, Some(1000 + node as u32));
    assert_eq!(
        *exit,
        Some(ExitStatus {
            code: None,
            signal: Some(9)
        })
    );
    assert_eq!(
        e.to_string(),
        format!(
            "actor 'victim' (uid {peer}, pid {}) died: killed by SIGKILL",
            1000 + node
        )
    );
    t.sim.settle(SECOND);
    assert_eq!(t.exited(child).unwrap().signal, Some(9));
    t.sim
        .with(t.root, |cx| cx.actor.leave(cx.now, d, true))
        .unwrap();
    // Reaping a child that is already gone does nothing.
    t.sim
        .with(t.root, |cx| cx.actor.cancel_child(cx.now, child));
    t.sim.settle(SECOND);
    assert_eq!(t.sim.nodes[t.root].actor.live_state(), (0, 0));
}

#[test]
fn cancel_some_cancels_all_reaps_every_child() {
    // One-cancels-all: the nursery cancels all its children; each goes
    // through the graceful path.
    let mut t = tree(8, false);
    let kids: Vec<_> = (0..4).map(|i| t.spawn(&format!("kid{i}"), false)).collect();
    for &(child, _, _) in &kids {
        t.sim
            .with(t.root, |cx| cx.actor.cancel_child(cx.now, child));
    }
    t.sim.settle(SECOND);
    for &(child, _, node) in &kids {
        assert_eq!(
            t.exited(child),
            Some(ExitStatus {
                code: Some(0),
                signal: None
            })
        );
        assert_eq!(t.sim.nodes[node].exit.unwrap().code, Some(0));
    }
    assert_eq!(t.sim.nodes[t.root].actor.live_state(), (0, 0));
}

#[test]
fn spawn_failure_is_reported() {
    let mut t = tree(9, false);
    t.sim.templates = None;
    let child = t.sim.with(t.root, |cx| cx.actor.spawn(request("ghost")));
    assert!(t.sim.nodes[t.root].events.iter().any(|e| matches!(
        e,
        Event::SpawnFailed { child: c, .. } if *c == child
    )));
    assert_eq!(t.sim.nodes[t.root].actor.children().count(), 0);
}

#[test]
fn nursery_one_cancels_all_then_done() {
    // Two children in a nursery; one's task fails, the application cancels
    // the nursery: every child is reaped, then the closed nursery is done.
    let mut t = tree(10, false);
    let nursery = t.sim.nodes[t.root].actor.open_nursery();
    let mut kids = Vec::new();
    for name in ["a", "b"] {
        let child = t
            .sim
            .with(t.root, |cx| cx.actor.spawn_in(nursery, request(name)))
            .unwrap();
        let node = t.sim.nodes.len() - 1;
        kids.push((child, node));
    }
    let root = t.root;
    t.sim.run_until(SECOND, |s| {
        s.nodes[root]
            .events
            .iter()
            .filter(|e| matches!(e, Event::ChildConnected { .. }))
            .count()
            == 2
    });
    t.sim
        .with(root, |cx| cx.actor.cancel_nursery(cx.now, nursery));
    // No more children after one-cancels-all.
    let refused = t
        .sim
        .with(root, |cx| cx.actor.spawn_in(nursery, request("late")));
    assert_eq!(
        refused,
        Err(tractor_protocol::UsageError::NurseryClosed(nursery))
    );
    t.sim.with(root, |cx| cx.actor.close_nursery(nursery));
    t.sim.settle(5 * SECOND);
    for (child, node) in kids {
        assert_eq!(
            t.exited(child),
            Some(ExitStatus {
                code: Some(0),
                signal: None
            })
        );
        assert!(t.sim.nodes[node].exit.is_some());
    }
    let done: Vec<_> = t.sim.nodes[root]
        .events
        .iter()
        .filter(|e| matches!(e, Event::NurseryDone { nursery: n } if *n == nursery))
        .collect();
    assert_eq!(done.len(), 1);
    t.sim.assert_clean(root);
}

#[test]
fn a_one_shot_failing_as_its_nursery_is_cancelled_reports_its_failure() {
    // One-cancels-all reaches a one-shot whose call was just read: its
    // function fails after the cancel, on its own account. The call ends
    // with that failure (never a ContextCancelled), sent before the
    // CancelAck, and the child goes the graceful way: reaping neither
    // swallows the failure nor needs to escalate.
    let mut t = tree(12, false);
    let nursery = t.sim.nodes[t.root].actor.open_nursery();
    let child = t
        .sim
        .with(t.root, |cx| cx.actor.spawn_in(nursery, request("last")))
        .unwrap();
    let node = t.sim.nodes.len() - 1;
    let root = t.root;
    let mut channel = None;
    t.sim.run_until(SECOND, |s| {
        channel = s.nodes[root].events.iter().find_map(|e| match e {
            Event::ChildConnected { child: c, channel } if *c == child => Some(*channel),
            _ => None,
        });
        channel.is_some()
    });
    let call = t
        .sim
        .with(root, |cx| {
            cx.actor
                .call(channel.unwrap(), NS, "fails_as_cancelled", Raw::EMPTY_MAP)
        })
        .unwrap();
    let t0 = t.sim.now;
    t.sim
        .with(root, |cx| cx.actor.cancel_nursery(cx.now, nursery));
    t.sim.with(root, |cx| cx.actor.close_nursery(nursery));
    let Incoming::Error(e) = t.sim.outcome(root, call, SECOND) else {
        panic!("the call's own failure")
    };
    let DialogError::Remote(e) = e else {
        panic!("a remote failure: {e:?}")
    };
    assert_eq!(e.boxed_type(), "AssertionError");
    assert_ne!(
        e.kind(),
        tractor_protocol::RemoteErrorKind::ContextCancelled
    );
    assert_eq!(e.src_uid().name, "last");
    t.sim.run_until(SECOND, |s| s.nodes[node].exit.is_some());
    assert!(
        t.sim.now - t0 < REAP_CANCEL_TIMEOUT,
        "no escalation was needed"
    );
    t.sim.settle(SECOND);
    assert_eq!(
        t.exited(child),
        Some(ExitStatus {
            code: Some(0),
            signal: None
        })
    );
    // The call's StartAck, the cancel's, the failure, then the CancelAck.
    assert_eq!(
        t.sim.wire_types(node, root),
        ["Aid", "StartAck", "StartAck", "Error", "CancelAck"]
    );
    assert!(
        t.sim.nodes[root]
            .events
            .iter()
            .any(|e| matches!(e, Event::NurseryDone { nursery: n } if *n == nursery))
    );
    t.sim.assert_clean(root);
}

#[test]
fn closing_a_nursery_waits_for_its_daemons() {
    let mut t = tree(11, false);
    let nursery = t.sim.nodes[t.root].actor.open_nursery();
    let child = t
        .sim
        .with(t.root, |cx| cx.actor.spawn_in(nursery, request("daemon")))
        .unwrap();
    t.sim.settle(SECOND);
    t.sim.with(t.root, |cx| cx.actor.close_nursery(nursery));
    t.sim.settle(SECOND);
    // A daemon is not cancelled by the block's end: the nursery waits.
    let done = |t: &Tree| {
        t.sim.nodes[t.root]
            .events
            .iter()
            .any(|e| matches!(e, Event::NurseryDone { .. }))
    };
    assert!(!done(&t));
    t.sim
        .with(t.root, |cx| cx.actor.cancel_child(cx.now, child));
    t.sim.settle(SECOND);
    assert!(done(&t));
}

/// A child that serves the test namespace: its parent enables it.
fn request(name: &str) -> SpawnRequest {
    SpawnRequest {
        enable_modules: vec![(NS.to_owned(), String::new())],
        ..SpawnRequest::new(name)
    }
}

#[test]
fn a_child_whose_channel_ends_before_its_exit_fails_its_dialogs_with_the_exit() {
    let mut t = tree(21, false);
    let (child, ch, node) = t.spawn("victim", false);
    let d = t.open_forever(ch);
    t.sim.recv_until(t.root, d, SECOND, |_| true);
    // The root reads the connection's end before it reaps the process.
    t.sim
        .with(t.root, |cx| cx.actor.handle_closed(cx.now, ch, None));
    let recv = |t: &mut Tree| t.sim.with(t.root, |cx| cx.actor.recv(d)).unwrap();
    assert_eq!(recv(&mut t), None, "the outcome waits for the exit");
    t.sim.sleep(PEER_EXIT_WAIT / 2);
    assert_eq!(recv(&mut t), None, "still waiting");
    t.sim.crash(node);
    match recv(&mut t) {
        Some(Incoming::Error(DialogError::PeerLost {
            pid,
            exit,
            channel,
            reason,
            ..
        })) => {
            assert_eq!(pid, Some(1000 + node as u32));
            assert_eq!(exit.and_then(|x| x.signal), Some(9));
            assert_eq!(channel, ch);
            assert_eq!(reason, tractor_protocol::CloseReason::Eof);
        }
        other => panic!("{other:?}"),
    }
    t.sim
        .with(t.root, |cx| cx.actor.leave(cx.now, d, true))
        .unwrap();
    t.sim.settle(SECOND);
    assert_eq!(t.exited(child).unwrap().signal, Some(9));
    assert!(t.sim.nodes[t.root].actor.is_idle());
}

#[test]
fn a_child_that_hangs_up_and_lives_on_fails_its_dialogs_after_the_wait() {
    let mut t = tree(22, false);
    let (child, ch, node) = t.spawn("hangs-up", false);
    let d = t.open_forever(ch);
    let call = t
        .sim
        .with(t.root, |cx| cx.actor.call(ch, NS, "hang", Raw::EMPTY_MAP))
        .unwrap();
    t.sim.recv_until(t.root, d, SECOND, |_| true);
    let root = t.root;
    t.sim.run_until(SECOND, |s| {
        let acks = s.wire_types(node, root);
        acks.iter().filter(|m| **m == "StartAck").count() == 2
    });
    let t0 = t.sim.now;
    // Its end of the connection closes; its process does not exit.
    t.sim
        .with(t.root, |cx| cx.actor.handle_closed(cx.now, ch, None));
    // The call waits too: looking for its outcome does not end it.
    let answer = t.sim.with(t.root, |cx| cx.actor.recv(call)).unwrap();
    assert_eq!(answer, None);
    let outcome = t
        .sim
        .recv_until(t.root, d, SECOND, Incoming::is_final)
        .pop()
        .unwrap();
    assert_eq!(t.sim.now - t0, PEER_EXIT_WAIT);
    let Incoming::Error(
        e @ DialogError::PeerLost {
            pid, exit: None, ..
        },
    ) = &outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(*pid, Some(1000 + node as u32));
    assert!(
        e.to_string().ends_with(&format!(
            ") is gone: the peer closed the connection on {ch}"
        )),
        "{e}"
    );
    // Every dialog on the channel failed at the same moment.
    let answer = t.sim.with(t.root, |cx| cx.actor.recv(call)).unwrap();
    assert!(
        matches!(answer, Some(Incoming::Error(DialogError::PeerLost { .. }))),
        "{answer:?}"
    );
    t.sim
        .with(t.root, |cx| cx.actor.leave(cx.now, d, true))
        .unwrap();
    // A late exit finds nothing waiting for it.
    t.sim.crash(node);
    t.sim.settle(SECOND);
    assert_eq!(t.exited(child).unwrap().signal, Some(9));
    assert!(t.sim.nodes[t.root].actor.is_idle());
}

#[test]
fn a_child_s_last_words_count_even_when_its_exit_is_heard_first() {
    // The driver may reap a child's process before it has read the end of
    // the child's connection (two tasks, either first). What the child
    // sent before it died still reaches its dialogs, and the child counts
    // as gone, its nursery done, only once its connections are read to
    // their end, or `PEER_EXIT_WAIT` after the exit.
    let mut t = tree(23, false);
    let root = t.root;
    let nursery = t.sim.nodes[root].actor.open_nursery();
    let child = t
        .sim
        .with(root, |cx| cx.actor.spawn_in(nursery, request("last-words")))
        .unwrap();
    let mut channel = None;
    t.sim.run_until(SECOND, |s| {
        channel = s.nodes[root].events.iter().find_map(|e| match e {
            Event::ChildConnected { child: c, channel } if *c == child => Some(*channel),
            _ => None,
        });
        channel.is_some()
    });
    let ch = channel.unwrap();
    let call = t
        .sim
        .with(root, |cx| cx.actor.call(ch, NS, "answer", Raw::EMPTY_MAP))
        .unwrap();
    let status = ExitStatus {
        code: Some(0),
        signal: None,
    };
    // The exit is heard before anything the child sent is read.
    t.sim.with(root, |cx| {
        cx.actor.handle_process_exited(cx.now, child, status);
        cx.actor.close_nursery(nursery);
    });
    let done = |t: &Tree| {
        t.sim.nodes[t.root]
            .events
            .iter()
            .any(|e| matches!(e, Event::NurseryDone { nursery: n } if *n == nursery))
    };
    assert!(!done(&t), "gone before its connection was read");
    assert_eq!(t.exited(child), None);
    assert!(matches!(
        t.sim.outcome(root, call, SECOND),
        Incoming::Return(_)
    ));
    // Its connection does not end (the process lives on in the sim): the
    // wait ends it.
    t.sim.sleep(PEER_EXIT_WAIT + PEER_EXIT_WAIT / 10);
    assert!(done(&t));
    assert_eq!(t.exited(child), Some(status));
}
