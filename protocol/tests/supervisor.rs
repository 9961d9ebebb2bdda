//! The supervisor's restart decisions (spec/DIALOGS.md, "Supervision"):
//! each strategy's choice of children, each restart policy, the restart
//! intensity over synthetic time, shutdown, two nested levels, and a
//! property test of its invariants over random exits and times.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use tractor_protocol::{
    ChildKey, ChildSpec, ChildState, Exit, Intensity, MAX_SUPERVISED_CHILDREN, Restart,
    RestartStrategy, Supervisor, SupervisorAction, SupervisorError, SupervisorState,
};

use SupervisorAction::{Done, Start, Stop};

fn drain(sup: &mut Supervisor) -> Vec<SupervisorAction> {
    std::iter::from_fn(|| sup.poll_action()).collect()
}

fn failed() -> Exit {
    Exit::Failed("boom".into())
}

/// A supervisor with `n` permanent children `c0..`, all started.
fn running(
    strategy: RestartStrategy,
    intensity: Intensity,
    n: usize,
) -> (Supervisor, Vec<ChildKey>) {
    let mut sup = Supervisor::new(strategy, intensity);
    let keys: Vec<_> = (0..n)
        .map(|i| {
            sup.add_child(ChildSpec::new(format!("c{i}"), Restart::Permanent))
                .unwrap()
        })
        .collect();
    assert_eq!(
        drain(&mut sup),
        keys.iter().map(|k| Start(*k)).collect::<Vec<_>>()
    );
    for k in &keys {
        sup.child_started(*k).unwrap();
    }
    (sup, keys)
}

fn roomy() -> Intensity {
    Intensity::new(100, Duration::from_secs(60))
}

#[test]
fn each_strategy_picks_its_children_for_a_failure_of_the_first_middle_and_last() {
    // (strategy, failed index, stops in order, starts in order)
    #[rustfmt::skip]
    let cases: [(RestartStrategy, usize, &[usize], &[usize]); 9] = [
        (RestartStrategy::OneForOne, 0, &[], &[0]),
        (RestartStrategy::OneForOne, 1, &[], &[1]),
        (RestartStrategy::OneForOne, 2, &[], &[2]),
        (RestartStrategy::RestForOne, 0, &[2, 1], &[0, 1, 2]),
        (RestartStrategy::RestForOne, 1, &[2], &[1, 2]),
        (RestartStrategy::RestForOne, 2, &[], &[2]),
        (RestartStrategy::OneForAll, 0, &[2, 1], &[0, 1, 2]),
        (RestartStrategy::OneForAll, 1, &[2, 0], &[0, 1, 2]),
        (RestartStrategy::OneForAll, 2, &[1, 0], &[0, 1, 2]),
    ];
    let now = Instant::now();
    for (strategy, failing, stops, starts) in cases {
        let case = format!("{strategy:?}, child {failing} fails");
        let (mut sup, keys) = running(strategy, roomy(), 3);
        sup.child_exited(keys[failing], failed(), now).unwrap();
        let got = drain(&mut sup);
        let want_stops: Vec<_> = stops.iter().map(|i| Stop(keys[*i])).collect();
        if stops.is_empty() {
            let want: Vec<_> = starts.iter().map(|i| Start(keys[*i])).collect();
            assert_eq!(got, want, "{case}");
            continue;
        }
        // The stops first, and no start before every one is confirmed.
        assert_eq!(got, want_stops, "{case}");
        for (n, i) in stops.iter().enumerate() {
            assert_eq!(sup.child_state(keys[*i]), Some(ChildState::Stopping));
            sup.child_exited(keys[*i], Exit::Cancelled, now).unwrap();
            let got = drain(&mut sup);
            if n + 1 < stops.len() {
                assert_eq!(got, [], "{case}: started before every stop was confirmed");
            } else {
                let want: Vec<_> = starts.iter().map(|i| Start(keys[*i])).collect();
                assert_eq!(got, want, "{case}");
            }
        }
        // Untouched children still run; restarted ones are starting.
        for (i, key) in keys.iter().enumerate() {
            let want = if starts.contains(&i) {
                ChildState::Starting
            } else {
                ChildState::Running
            };
            assert_eq!(sup.child_state(*key), Some(want), "{case}: child {i}");
        }
        assert_eq!(sup.restarts_in_window(now), 1, "{case}");
    }
}

#[test]
fn each_restart_policy_with_normal_and_abnormal_exits() {
    // (policy, exit, restarted?)
    let cases = [
        (Restart::Permanent, Exit::Normal, true),
        (Restart::Permanent, failed(), true),
        (Restart::Permanent, Exit::Cancelled, true),
        (Restart::Transient, Exit::Normal, false),
        (Restart::Transient, failed(), true),
        (Restart::Transient, Exit::Cancelled, true),
        (Restart::Temporary, Exit::Normal, false),
        (Restart::Temporary, failed(), false),
        (Restart::Temporary, Exit::Cancelled, false),
    ];
    let now = Instant::now();
    for (policy, exit, restarted) in cases {
        let case = format!("{policy:?} child, {exit}");
        let mut sup = Supervisor::new(RestartStrategy::OneForAll, roomy());
        let sibling = sup
            .add_child(ChildSpec::new("sibling", Restart::Permanent))
            .unwrap();
        let child = sup.add_child(ChildSpec::new("child", policy)).unwrap();
        assert_eq!(drain(&mut sup), [Start(sibling), Start(child)]);
        sup.child_started(sibling).unwrap();
        sup.child_started(child).unwrap();
        sup.child_exited(child, exit, now).unwrap();
        if restarted {
            // One-for-all: the sibling is stopped, then both start again.
            assert_eq!(drain(&mut sup), [Stop(sibling)], "{case}");
            sup.child_exited(sibling, Exit::Cancelled, now).unwrap();
            assert_eq!(drain(&mut sup), [Start(sibling), Start(child)], "{case}");
            assert_eq!(sup.restarts_in_window(now), 1, "{case}");
        } else {
            // Removed; nobody else is touched and no restart is counted.
            assert_eq!(drain(&mut sup), [], "{case}");
            assert_eq!(sup.child_state(child), None, "{case}");
            assert_eq!(sup.children().collect::<Vec<_>>(), [sibling], "{case}");
            assert_eq!(sup.restarts_in_window(now), 0, "{case}");
            assert_eq!(
                sup.child_exited(child, Exit::Normal, now),
                Err(SupervisorError::UnknownChild(child))
            );
            // Its name is free again.
            sup.add_child(ChildSpec::new("child", policy)).unwrap();
        }
    }
}

#[test]
fn a_group_restart_removes_temporary_siblings_and_restarts_transient_ones() {
    let now = Instant::now();
    let mut sup = Supervisor::new(RestartStrategy::OneForAll, roomy());
    let a = sup
        .add_child(ChildSpec::new("a", Restart::Permanent))
        .unwrap();
    let t = sup
        .add_child(ChildSpec::new("t", Restart::Temporary))
        .unwrap();
    let r = sup
        .add_child(ChildSpec::new("r", Restart::Transient))
        .unwrap();
    drain(&mut sup);
    for k in [a, t, r] {
        sup.child_started(k).unwrap();
    }
    sup.child_exited(a, failed(), now).unwrap();
    assert_eq!(drain(&mut sup), [Stop(r), Stop(t)]);
    // Stopped by the supervisor: even a normal exit of the transient child
    // restarts it with the group.
    sup.child_exited(r, Exit::Normal, now).unwrap();
    sup.child_exited(t, Exit::Cancelled, now).unwrap();
    assert_eq!(drain(&mut sup), [Start(a), Start(r)]);
    assert_eq!(sup.child_state(t), None);
}

#[test]
fn a_child_may_be_stopped_before_its_start_is_reported() {
    let now = Instant::now();
    let mut sup = Supervisor::new(RestartStrategy::OneForAll, roomy());
    let a = sup
        .add_child(ChildSpec::new("a", Restart::Permanent))
        .unwrap();
    let b = sup
        .add_child(ChildSpec::new("b", Restart::Permanent))
        .unwrap();
    assert_eq!(drain(&mut sup), [Start(a), Start(b)]);
    sup.child_started(a).unwrap();
    // `a` fails while `b` is still starting.
    sup.child_exited(a, failed(), now).unwrap();
    assert_eq!(drain(&mut sup), [Stop(b)]);
    sup.child_started(b).unwrap();
    assert_eq!(sup.child_state(b), Some(ChildState::Stopping));
    sup.child_exited(b, Exit::Cancelled, now).unwrap();
    assert_eq!(drain(&mut sup), [Start(a), Start(b)]);
}

#[test]
fn a_failed_start_counts_as_a_restart() {
    let now = Instant::now();
    let mut sup = Supervisor::new(
        RestartStrategy::OneForOne,
        Intensity::new(1, Duration::from_secs(5)),
    );
    let a = sup
        .add_child(ChildSpec::new("a", Restart::Permanent))
        .unwrap();
    assert_eq!(drain(&mut sup), [Start(a)]);
    sup.child_exited(a, Exit::Failed("no such program".into()), now)
        .unwrap();
    assert_eq!(drain(&mut sup), [Start(a)]);
    sup.child_exited(a, Exit::Failed("no such program".into()), now)
        .unwrap();
    assert!(matches!(
        drain(&mut sup).as_slice(),
        [SupervisorAction::Escalate(e)] if e.child == "a"
    ));
}

#[test]
fn n_restarts_inside_the_period_are_allowed_and_the_next_escalates() {
    let t0 = Instant::now();
    let intensity = Intensity::new(3, Duration::from_secs(10));
    let (mut sup, keys) = running(RestartStrategy::OneForOne, intensity, 3);
    let middle = keys[1];
    for s in 0..3 {
        let now = t0 + Duration::from_secs(s);
        sup.child_exited(middle, failed(), now).unwrap();
        assert_eq!(drain(&mut sup), [Start(middle)], "restart {}", s + 1);
        sup.child_started(middle).unwrap();
        assert_eq!(sup.restarts_in_window(now), s as usize + 1);
    }
    // The fourth inside 10 s: the others stop, last first, then it fails.
    let now = t0 + Duration::from_secs(9);
    sup.child_exited(middle, failed(), now).unwrap();
    assert_eq!(sup.state(), SupervisorState::Escalating);
    assert_eq!(drain(&mut sup), [Stop(keys[2]), Stop(keys[0])]);
    sup.child_exited(keys[2], Exit::Cancelled, now).unwrap();
    assert_eq!(drain(&mut sup), []);
    sup.child_exited(keys[0], Exit::Cancelled, now).unwrap();
    let got = drain(&mut sup);
    let [SupervisorAction::Escalate(e)] = got.as_slice() else {
        panic!("expected an escalation, got {got:?}");
    };
    assert_eq!(e.child, "c1");
    assert_eq!(e.exit, failed());
    assert_eq!(e.intensity, intensity);
    assert!(e.to_string().contains("c1"), "{e}");
    assert_eq!(sup.state(), SupervisorState::Failed);
    assert_eq!(
        sup.add_child(ChildSpec::new("late", Restart::Permanent)),
        Err(SupervisorError::Ending)
    );
    sup.shutdown();
    assert_eq!(drain(&mut sup), []);
}

#[test]
fn restarts_spread_beyond_the_period_do_not_escalate() {
    let t0 = Instant::now();
    let (mut sup, keys) = running(
        RestartStrategy::OneForOne,
        Intensity::new(3, Duration::from_secs(10)),
        1,
    );
    // Every 4 s: the window of 10 s never holds more than 3.
    for s in 0..50u64 {
        let now = t0 + Duration::from_secs(4 * s);
        sup.child_exited(keys[0], failed(), now).unwrap();
        assert_eq!(drain(&mut sup), [Start(keys[0])], "exit {s}");
        sup.child_started(keys[0]).unwrap();
        assert!(sup.restarts_in_window(now) <= 3);
    }
    assert_eq!(sup.state(), SupervisorState::Active);
}

#[test]
fn a_restart_exactly_one_period_ago_is_outside_the_window() {
    let t0 = Instant::now();
    let period = Duration::from_secs(5);
    let (mut sup, keys) = running(RestartStrategy::OneForOne, Intensity::new(1, period), 1);
    sup.child_exited(keys[0], failed(), t0).unwrap();
    assert_eq!(drain(&mut sup), [Start(keys[0])]);
    sup.child_exited(keys[0], failed(), t0 + period).unwrap();
    assert_eq!(drain(&mut sup), [Start(keys[0])]);
    // One nanosecond less than a period after that: two in the window.
    sup.child_exited(keys[0], failed(), t0 + 2 * period - Duration::from_nanos(1))
        .unwrap();
    assert_eq!(sup.state(), SupervisorState::Failed);
}

/// Values the docs, the changelog and spec/DIALOGS.md spell out.
#[test]
fn the_default_intensity_is_one_restart_in_five_seconds() {
    assert_eq!(MAX_SUPERVISED_CHILDREN, 1024);
    assert_eq!(
        Intensity::default(),
        Intensity::new(1, Duration::from_secs(5))
    );
}

#[test]
fn zero_restarts_escalates_at_the_first() {
    let now = Instant::now();
    let (mut sup, keys) = running(
        RestartStrategy::OneForOne,
        Intensity::new(0, Duration::ZERO),
        1,
    );
    sup.child_exited(keys[0], Exit::Normal, now).unwrap();
    assert!(matches!(
        drain(&mut sup).as_slice(),
        [SupervisorAction::Escalate(e)] if e.exit == Exit::Normal
    ));
}

#[test]
fn stops_the_supervisor_asked_for_do_not_count() {
    let now = Instant::now();
    // One restart allowed: the group restart is it; the siblings' exits,
    // whatever they say, are the supervisor's own doing.
    let (mut sup, keys) = running(
        RestartStrategy::OneForAll,
        Intensity::new(1, Duration::from_secs(60)),
        4,
    );
    sup.child_exited(keys[0], failed(), now).unwrap();
    assert_eq!(
        drain(&mut sup),
        [Stop(keys[3]), Stop(keys[2]), Stop(keys[1])]
    );
    sup.child_exited(keys[3], failed(), now).unwrap();
    sup.child_exited(keys[2], Exit::Normal, now).unwrap();
    sup.child_exited(keys[1], Exit::Cancelled, now).unwrap();
    assert_eq!(
        drain(&mut sup),
        keys.iter().map(|k| Start(*k)).collect::<Vec<_>>()
    );
    assert_eq!(sup.restarts_in_window(now), 1);
    assert_eq!(sup.state(), SupervisorState::Active);
    // So is every stop of a shutdown.
    sup.shutdown();
    assert_eq!(
        drain(&mut sup),
        keys.iter().rev().map(|k| Stop(*k)).collect::<Vec<_>>()
    );
    for k in &keys {
        sup.child_exited(*k, failed(), now).unwrap();
    }
    assert_eq!(drain(&mut sup), [Done]);
}

#[test]
fn shutdown_stops_everything_in_reverse_order_and_starts_nothing_after() {
    let now = Instant::now();
    let (mut sup, keys) = running(RestartStrategy::OneForOne, roomy(), 4);
    // One child is down and about to be restarted when the shutdown comes.
    sup.child_exited(keys[1], failed(), now).unwrap();
    sup.shutdown();
    // Its restart was queued before the shutdown; nothing starts after it.
    let got = drain(&mut sup);
    assert_eq!(
        got,
        [
            Start(keys[1]),
            Stop(keys[3]),
            Stop(keys[2]),
            Stop(keys[1]),
            Stop(keys[0])
        ]
    );
    assert_eq!(sup.state(), SupervisorState::ShuttingDown);
    assert_eq!(
        sup.add_child(ChildSpec::new("late", Restart::Permanent)),
        Err(SupervisorError::Ending)
    );
    for (n, k) in keys.iter().copied().rev().enumerate() {
        sup.child_exited(k, failed(), now).unwrap();
        let got = drain(&mut sup);
        if n < 3 {
            assert_eq!(got, []);
        } else {
            assert_eq!(got, [Done]);
        }
    }
    assert_eq!(sup.state(), SupervisorState::Done);
    sup.shutdown();
    assert_eq!(drain(&mut sup), []);
}

#[test]
fn shutdown_during_a_group_restart_starts_nothing() {
    let now = Instant::now();
    let (mut sup, keys) = running(RestartStrategy::OneForAll, roomy(), 3);
    sup.child_exited(keys[1], failed(), now).unwrap();
    assert_eq!(drain(&mut sup), [Stop(keys[2]), Stop(keys[0])]);
    sup.shutdown();
    assert_eq!(drain(&mut sup), []);
    sup.child_exited(keys[2], Exit::Cancelled, now).unwrap();
    sup.child_exited(keys[0], Exit::Cancelled, now).unwrap();
    assert_eq!(drain(&mut sup), [Done]);
}

#[test]
fn an_empty_supervisor_shuts_down_at_once() {
    let mut sup = Supervisor::new(RestartStrategy::OneForOne, Intensity::default());
    sup.shutdown();
    assert_eq!(drain(&mut sup), [Done]);
}

#[test]
fn misuse_is_a_typed_error() {
    let now = Instant::now();
    let mut sup = Supervisor::new(RestartStrategy::OneForOne, Intensity::default());
    let a = sup
        .add_child(ChildSpec::new("a", Restart::Permanent))
        .unwrap();
    assert_eq!(
        sup.add_child(ChildSpec::new("a", Restart::Temporary)),
        Err(SupervisorError::DuplicateName("a".into()))
    );
    drain(&mut sup);
    sup.child_started(a).unwrap();
    assert_eq!(sup.child_started(a), Err(SupervisorError::NotStarting(a)));
    sup.shutdown();
    assert_eq!(drain(&mut sup), [Stop(a)]);
    sup.child_exited(a, Exit::Cancelled, now).unwrap();
    assert_eq!(
        sup.child_exited(a, Exit::Cancelled, now),
        Err(SupervisorError::NotRunning(a))
    );
    assert_eq!(sup.child_started(a), Err(SupervisorError::NotStarting(a)));

    let mut sup = Supervisor::new(RestartStrategy::OneForOne, Intensity::default());
    for i in 0..MAX_SUPERVISED_CHILDREN {
        sup.add_child(ChildSpec::new(format!("c{i}"), Restart::Temporary))
            .unwrap();
    }
    assert_eq!(
        sup.add_child(ChildSpec::new("one more", Restart::Temporary)),
        Err(SupervisorError::TooManyChildren(MAX_SUPERVISED_CHILDREN))
    );
    let mut other = Supervisor::new(RestartStrategy::OneForOne, Intensity::default());
    let foreign = other
        .add_child(ChildSpec::new("x", Restart::Permanent))
        .unwrap();
    let mut empty = Supervisor::new(RestartStrategy::OneForOne, Intensity::default());
    assert_eq!(
        empty.child_exited(foreign, failed(), now),
        Err(SupervisorError::UnknownChild(foreign))
    );
}

/// Two levels: an outer supervisor whose child "inner" is itself a
/// supervisor of two workers. The inner one's `Escalate` is its own
/// failure, which the outer one sees as an abnormal exit of "inner" and
/// answers by restarting it (a fresh inner supervisor) and stopping its
/// sibling, as its one-for-all strategy says.
#[test]
fn supervisors_nest_an_escalation_is_a_failure_of_the_parent_s_child() {
    let t0 = Instant::now();
    let mut outer = Supervisor::new(
        RestartStrategy::OneForAll,
        Intensity::new(2, Duration::from_secs(60)),
    );
    let inner_key = outer
        .add_child(ChildSpec::new("inner", Restart::Permanent))
        .unwrap();
    let logger = outer
        .add_child(ChildSpec::new("logger", Restart::Permanent))
        .unwrap();

    // The driver: runs the outer actions, creating a fresh inner
    // supervisor (with workers w0, w1) for each `Start(inner)`.
    let new_inner = || {
        let mut sup = Supervisor::new(
            RestartStrategy::OneForOne,
            Intensity::new(1, Duration::from_secs(60)),
        );
        let w: Vec<_> = ["w0", "w1"]
            .into_iter()
            .map(|n| {
                sup.add_child(ChildSpec::new(n, Restart::Permanent))
                    .unwrap()
            })
            .collect();
        let starts = drain(&mut sup);
        assert_eq!(starts, [Start(w[0]), Start(w[1])]);
        for k in &w {
            sup.child_started(*k).unwrap();
        }
        (sup, w)
    };
    let mut inner = None;
    let mut inner_generations = 0;
    let mut done = false;
    let mut run_outer =
        |outer: &mut Supervisor, inner: &mut Option<(Supervisor, Vec<ChildKey>)>, now: Instant| {
            while let Some(action) = outer.poll_action() {
                match action {
                    Start(k) if k == inner_key => {
                        *inner = Some(new_inner());
                        inner_generations += 1;
                        outer.child_started(k).unwrap();
                    }
                    Start(k) => outer.child_started(k).unwrap(),
                    Stop(k) if k == inner_key => {
                        // Stopping a supervisor is shutting it down.
                        let (sup, w) = inner.as_mut().unwrap();
                        sup.shutdown();
                        assert_eq!(drain(sup), [Stop(w[1]), Stop(w[0])]);
                        sup.child_exited(w[1], Exit::Cancelled, now).unwrap();
                        sup.child_exited(w[0], Exit::Cancelled, now).unwrap();
                        assert_eq!(drain(sup), [Done]);
                        outer.child_exited(k, Exit::Cancelled, now).unwrap();
                    }
                    Stop(k) => outer.child_exited(k, Exit::Cancelled, now).unwrap(),
                    Done => done = true,
                    other => panic!("unexpected {other:?}"),
                }
            }
            (inner_generations, done)
        };
    assert_eq!(run_outer(&mut outer, &mut inner, t0), (1, false));

    // A worker fails once: the inner supervisor restarts it alone.
    {
        let (sup, w) = inner.as_mut().unwrap();
        sup.child_exited(w[0], failed(), t0).unwrap();
        assert_eq!(drain(sup), [Start(w[0])]);
        sup.child_started(w[0]).unwrap();
    }
    assert_eq!(drain(&mut outer), []);

    // It fails again inside the window: the inner supervisor stops w1 and
    // escalates; the outer one sees "inner" fail.
    let now = t0 + Duration::from_secs(1);
    let escalation = {
        let (sup, w) = inner.as_mut().unwrap();
        sup.child_exited(w[0], failed(), now).unwrap();
        assert_eq!(drain(sup), [Stop(w[1])]);
        sup.child_exited(w[1], Exit::Cancelled, now).unwrap();
        match drain(sup).as_slice() {
            [SupervisorAction::Escalate(e)] => e.clone(),
            other => panic!("expected an escalation, got {other:?}"),
        }
    };
    assert_eq!(escalation.child, "w0");
    outer
        .child_exited(inner_key, Exit::from(escalation.clone()), now)
        .unwrap();
    // One-for-all: the logger is stopped, then both start again; the
    // driver builds a new inner supervisor.
    assert_eq!(outer.child_state(logger), Some(ChildState::Stopping));
    assert_eq!(run_outer(&mut outer, &mut inner, now), (2, false));
    assert_eq!(outer.restarts_in_window(now), 1);
    assert_eq!(outer.state(), SupervisorState::Active);
    assert!(matches!(
        outer.child_state(inner_key),
        Some(ChildState::Running)
    ));
    let Exit::Failed(reason) = Exit::from(escalation) else {
        unreachable!()
    };
    assert!(reason.contains("w0"), "{reason}");

    // Shutting the outer one down shuts the inner one down, last first.
    outer.shutdown();
    assert_eq!(run_outer(&mut outer, &mut inner, now), (2, true));
    assert_eq!(outer.state(), SupervisorState::Done);
}

// ---------------------------------------------------------------------
// Property test: a model driver with random exits, starts, additions,
// shutdowns and times, which checks after every call that
// * a Start is only for a child that is down and not removed (so never two
//   Starts without an exit between), comes in added order, and only once
//   every Stop asked for was confirmed;
// * each exit stops exactly its strategy's group of running children (all
//   of them when escalating), last-added first, and a Stop is only for a
//   running child;
// * the supervisor escalates exactly when the window (kept by the model)
//   holds more than max_restarts, exits after a Stop never counting;
// * after Escalate or a shutdown nothing starts, and the supervisor ends
//   with Escalate or Done once every child has exited.

#[derive(Debug, Clone)]
enum Op {
    /// An alive child (picked by index) exits after `advance_ms`.
    Exit {
        pick: usize,
        exit: u8,
        advance_ms: u64,
    },
    /// A starting child (picked by index) reports it started.
    Started {
        pick: usize,
    },
    Add(Restart),
    Shutdown,
}

fn restart_policy() -> impl proptest::strategy::Strategy<Value = Restart> {
    prop_oneof![
        Just(Restart::Permanent),
        Just(Restart::Transient),
        Just(Restart::Temporary)
    ]
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    prop_oneof![
        // Steps of 250 ms often land exactly on the window's edge.
        8 => (any::<usize>(), 0u8..3, prop_oneof![(0u64..12).prop_map(|k| k * 250), 0u64..3_000])
            .prop_map(|(pick, exit, advance_ms)| Op::Exit { pick, exit, advance_ms }),
        4 => any::<usize>().prop_map(|pick| Op::Started { pick }),
        1 => restart_policy().prop_map(Op::Add),
        1 => Just(Op::Shutdown),
    ]
}

#[derive(Debug, Default)]
struct ModelChild {
    restart: Option<Restart>,
    alive: bool,
    started: bool,
    stop_asked: bool,
    removed: bool,
}

#[derive(Debug)]
struct Model {
    strategy: RestartStrategy,
    intensity: Intensity,
    children: HashMap<ChildKey, ModelChild>,
    order: Vec<ChildKey>,
    window: Vec<Instant>,
    shutdown: bool,
    escalation_due: bool,
    ended: Option<SupervisorAction>,
}

impl Model {
    fn alive(&self) -> Vec<ChildKey> {
        self.order
            .iter()
            .copied()
            .filter(|k| self.children[k].alive)
            .collect()
    }

    fn active(&self) -> bool {
        !self.shutdown && !self.escalation_due
    }

    /// Checks every action the supervisor emits against the model, and
    /// returns them.
    fn absorb(&mut self, sup: &mut Supervisor) -> Result<Vec<SupervisorAction>, TestCaseError> {
        let mut batch = Vec::new();
        let mut last_start = None;
        while let Some(action) = sup.poll_action() {
            batch.push(action.clone());
            prop_assert!(self.ended.is_none(), "{action:?} after the end");
            match action {
                Start(k) => {
                    // Starts come in the order the children were added.
                    let at = self.order.iter().position(|o| *o == k);
                    prop_assert!(at > last_start, "Starts out of order: {batch:?}");
                    last_start = at;
                    prop_assert!(self.active(), "Start after escalation or shutdown");
                    prop_assert!(
                        self.children.values().all(|c| !c.stop_asked),
                        "Start while a stop is unconfirmed"
                    );
                    let c = self.children.get_mut(&k).expect("known key");
                    prop_assert!(!c.removed, "Start of a removed child");
                    prop_assert!(!c.alive, "Start of a running child");
                    c.alive = true;
                    c.started = false;
                }
                Stop(k) => {
                    let c = self.children.get_mut(&k).expect("known key");
                    prop_assert!(c.alive && !c.stop_asked, "Stop of a child not running");
                    c.stop_asked = true;
                }
                SupervisorAction::Escalate(_) => {
                    prop_assert!(self.escalation_due, "Escalate without cause");
                    prop_assert!(self.alive().is_empty(), "Escalate with children alive");
                    self.ended = Some(action);
                }
                Done => {
                    prop_assert!(self.shutdown && !self.escalation_due);
                    prop_assert!(self.alive().is_empty(), "Done with children alive");
                    self.ended = Some(action);
                }
            }
        }
        Ok(batch)
    }

    fn exit(
        &mut self,
        sup: &mut Supervisor,
        k: ChildKey,
        exit: Exit,
        now: Instant,
    ) -> Result<(), TestCaseError> {
        let active = self.active();
        let c = self.children.get_mut(&k).unwrap();
        let restart = c.restart.unwrap();
        c.alive = false;
        // Which children this exit must stop, last-added first: none, its
        // strategy's group, or (escalating) every running one.
        let mut group = None;
        if c.stop_asked {
            c.stop_asked = false;
            if active && restart == Restart::Temporary {
                c.removed = true;
            }
        } else if active {
            let wanted = match restart {
                Restart::Permanent => true,
                Restart::Transient => exit != Exit::Normal,
                Restart::Temporary => false,
            };
            if wanted {
                let period = self.intensity.period;
                self.window.retain(|t| now.duration_since(*t) < period);
                self.window.push(now);
                if self.window.len() > self.intensity.max_restarts as usize {
                    self.escalation_due = true;
                    group = Some(RestartStrategy::OneForAll);
                } else {
                    group = Some(self.strategy);
                }
            } else {
                c.removed = true;
            }
        }
        let at = self.order.iter().position(|o| *o == k).unwrap();
        let want: Vec<_> = self
            .order
            .iter()
            .enumerate()
            .rev()
            .filter(|(i, o)| match group {
                None | Some(RestartStrategy::OneForOne) => false,
                Some(RestartStrategy::RestForOne) => *i > at,
                Some(RestartStrategy::OneForAll) => true,
            } && self.children[*o].alive && !self.children[*o].stop_asked)
            .map(|(_, o)| Stop(*o))
            .collect();
        sup.child_exited(k, exit, now).unwrap();
        let batch = self.absorb(sup)?;
        let stops: Vec<_> = batch.into_iter().filter(|a| matches!(a, Stop(_))).collect();
        prop_assert_eq!(stops, want, "group: {:?}", group);
        Ok(())
    }

    fn check(&self, sup: &Supervisor, now: Instant) -> Result<(), TestCaseError> {
        for (k, c) in &self.children {
            let state = sup.child_state(*k);
            if c.removed {
                prop_assert_eq!(state, None);
                continue;
            }
            let want = match (c.alive, c.stop_asked, c.started) {
                (false, _, _) => ChildState::Down,
                (true, true, _) => ChildState::Stopping,
                (true, false, true) => ChildState::Running,
                (true, false, false) => ChildState::Starting,
            };
            prop_assert_eq!(state, Some(want), "child {}", k);
        }
        // Escalation exactly when the window holds more than max_restarts.
        let want = match (&self.ended, self.escalation_due, self.shutdown) {
            (Some(SupervisorAction::Escalate(_)), _, _) => SupervisorState::Failed,
            (Some(_), _, _) => SupervisorState::Done,
            (None, true, _) => SupervisorState::Escalating,
            (None, false, true) => SupervisorState::ShuttingDown,
            (None, false, false) => SupervisorState::Active,
        };
        prop_assert_eq!(sup.state(), want);
        if self.active() {
            let period = self.intensity.period;
            let in_window = self
                .window
                .iter()
                .filter(|t| now.duration_since(**t) < period)
                .count();
            prop_assert_eq!(sup.restarts_in_window(now), in_window);
            prop_assert!(in_window <= self.intensity.max_restarts as usize);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_exits_and_times_keep_the_invariants(
        strategy in prop_oneof![
            Just(RestartStrategy::OneForOne),
            Just(RestartStrategy::RestForOne),
            Just(RestartStrategy::OneForAll)
        ],
        max_restarts in 0u32..4,
        period_ms in prop_oneof![(1u64..24).prop_map(|k| k * 250), 1u64..6_000],
        initial in prop::collection::vec(restart_policy(), 1..6),
        ops in prop::collection::vec(op(), 0..80),
    ) {
        let intensity = Intensity::new(max_restarts, Duration::from_millis(period_ms));
        let mut sup = Supervisor::new(strategy, intensity);
        let mut model = Model {
            strategy,
            intensity,
            children: HashMap::new(),
            order: Vec::new(),
            window: Vec::new(),
            shutdown: false,
            escalation_due: false,
            ended: None,
        };
        let mut names = 0;
        let mut add = |sup: &mut Supervisor, model: &mut Model, restart: Restart| {
            names += 1;
            match sup.add_child(ChildSpec::new(format!("c{names}"), restart)) {
                Ok(k) => {
                    prop_assert!(model.active());
                    model.children.insert(k, ModelChild { restart: Some(restart), ..Default::default() });
                    model.order.push(k);
                }
                Err(e) => {
                    prop_assert_eq!(e, SupervisorError::Ending);
                    prop_assert!(!model.active());
                }
            }
            model.absorb(sup).map(drop)
        };
        let mut now = Instant::now();
        for r in initial {
            add(&mut sup, &mut model, r)?;
        }
        model.check(&sup, now)?;
        for op in ops {
            match op {
                Op::Exit { pick, exit, advance_ms } => {
                    let alive = model.alive();
                    if alive.is_empty() {
                        continue;
                    }
                    now += Duration::from_millis(advance_ms);
                    let exit = match exit {
                        0 => Exit::Normal,
                        1 => Exit::Failed("random".into()),
                        _ => Exit::Cancelled,
                    };
                    model.exit(&mut sup, alive[pick % alive.len()], exit, now)?;
                }
                Op::Started { pick } => {
                    let starting: Vec<_> = model
                        .alive()
                        .into_iter()
                        .filter(|k| !model.children[k].started)
                        .collect();
                    if starting.is_empty() {
                        continue;
                    }
                    let k = starting[pick % starting.len()];
                    sup.child_started(k).unwrap();
                    model.children.get_mut(&k).unwrap().started = true;
                    model.absorb(&mut sup)?;
                }
                Op::Add(restart) => add(&mut sup, &mut model, restart)?,
                Op::Shutdown => {
                    if model.ended.is_none() && !model.escalation_due {
                        model.shutdown = true;
                    }
                    sup.shutdown();
                    model.absorb(&mut sup)?;
                }
            }
            model.check(&sup, now)?;
        }
        // Wind down: shut down, then confirm every stop, last asked first.
        if model.ended.is_none() && !model.escalation_due {
            model.shutdown = true;
        }
        sup.shutdown();
        model.absorb(&mut sup)?;
        loop {
            let alive = model.alive();
            let Some(k) = alive.last().copied() else { break };
            prop_assert!(model.children[&k].stop_asked, "alive but not stopped at the end");
            model.exit(&mut sup, k, Exit::Cancelled, now)?;
            model.check(&sup, now)?;
        }
        match model.ended {
            Some(SupervisorAction::Escalate(_)) => prop_assert!(model.escalation_due),
            Some(Done) => prop_assert!(!model.escalation_due),
            _ => prop_assert!(false, "the supervisor did not end"),
        }
    }
}
