//! Contexts, streams and cancellation in the simulated network. Tests named
//! after a scenario id of spec/SCENARIOS.md check that scenario.

mod sim;

use std::time::Duration;

use tractor_protocol::{
    ActorConfig, CONTEXT_CANCELLED, CancelCause, ChannelId, ContextOptions,
    DEFAULT_MSG_BUFFER_SIZE, DialogError, DialogId, Endpoints, Event, FuncType, Incoming,
    LocalError, REMOTE_ACTOR_ERROR, Raw, RemoteError, RemoteErrorKind, STREAM_OVERRUN, TaskError,
    UsageError,
};

use sim::{Idle, Log, Sim, Task, TaskCx, Tasks, tcp};

const SECOND: Duration = Duration::from_secs(1);
const NS: &str = "app.ctx";

fn raw<T: serde::Serialize>(v: T) -> Raw {
    Raw::encode(&v).unwrap()
}

fn text(s: &str) -> Raw {
    raw(s)
}

fn ok<T>(r: Result<T, UsageError>) -> T {
    r.expect("operation allowed")
}

// ---------------------------------------------------------------------------
// Callee behaviours

/// `started(value)`, then returns `ret` (at once, or after `delay`), or
/// waits for a cancel.
struct StartThen {
    value: Raw,
    ret: Option<Raw>,
    delay: Option<Duration>,
    log: Log,
}

impl Task for StartThen {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        ok(cx.actor.accept(cx.dialog));
        ok(cx.actor.started(cx.dialog, self.value.clone()));
        match (&self.ret, self.delay) {
            (Some(_), Some(delay)) => cx.wake_after(delay),
            (Some(_), None) => self.on_wake(cx),
            (None, _) => {}
        }
    }
    fn on_wake(&mut self, cx: &mut TaskCx<'_>) {
        if let Some(ret) = self.ret.take() {
            self.log.push("finally");
            ok(cx.actor.finish(cx.dialog, Ok(ret)));
        }
    }
    fn on_cancel(&mut self, cx: &mut TaskCx<'_>, _: &CancelCause) {
        self.log.push("finally");
        ok(cx.actor.finish(cx.dialog, Err(TaskError::Cancelled)));
    }
}

/// Echoes every stream item until the opener's `Stop`, then returns the
/// count.
struct Echo {
    count: u64,
    log: Log,
}

impl Task for Echo {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        ok(cx.actor.accept(cx.dialog));
        ok(cx.actor.started(cx.dialog, raw("ready")));
        ok(cx.actor.open_stream(cx.dialog));
    }
    fn on_input(&mut self, cx: &mut TaskCx<'_>, item: Incoming) {
        match item {
            Incoming::Yield(v) => {
                self.count += 1;
                let reply = match v.decode::<String>().as_deref() {
                    Ok("ping") => raw("pong"),
                    _ => v,
                };
                ok(cx.actor.send(cx.dialog, reply));
            }
            Incoming::Stop => {
                self.log.push("echo saw end of stream");
                ok(cx.actor.close_stream(cx.dialog));
                ok(cx.actor.finish(cx.dialog, Ok(raw(self.count))));
            }
            other => panic!("echo got {other:?}"),
        }
    }
    fn on_cancel(&mut self, cx: &mut TaskCx<'_>, _: &CancelCause) {
        self.log.push("finally");
        let _ = cx.actor.finish(cx.dialog, Err(TaskError::Cancelled));
    }
}

/// Misuses the API the way scenarios ctx-started-twice and
/// ctx-stream-before-started do; the refusal becomes the task's error.
struct Misuse {
    twice: bool,
}

impl Task for Misuse {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        ok(cx.actor.accept(cx.dialog));
        let refused = if self.twice {
            ok(cx.actor.started(cx.dialog, Raw::NIL));
            cx.actor.started(cx.dialog, Raw::NIL)
        } else {
            cx.actor.open_stream(cx.dialog)
        };
        let err = refused.expect_err("the misuse is refused");
        let err = LocalError::new("RuntimeError", err.to_string());
        ok(cx.actor.finish(cx.dialog, Err(err.into())));
    }
}

/// `started`, opens its stream, closes it at once, returns.
struct CloseAtOnce;

impl Task for CloseAtOnce {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        ok(cx.actor.accept(cx.dialog));
        ok(cx.actor.started(cx.dialog, Raw::NIL));
        ok(cx.actor.open_stream(cx.dialog));
        ok(cx.actor.close_stream(cx.dialog));
        ok(cx.actor.finish(cx.dialog, Ok(raw("done"))));
    }
    fn on_input(&mut self, _: &mut TaskCx<'_>, _: Incoming) {}
}

/// Cancels itself before `started`, then tries to open its stream.
struct SelfCancel {
    log: Log,
}

impl Task for SelfCancel {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        ok(cx.actor.accept(cx.dialog));
        ok(cx.actor.cancel(cx.now, cx.dialog));
        ok(cx.actor.started(cx.dialog, Raw::NIL));
        if let Err(e) = cx.actor.open_stream(cx.dialog) {
            self.log.push(format!("open_stream refused: {e}"));
        }
    }
}

/// Sends `n` stream items as fast as it can; reads nothing.
struct Flood {
    n: u64,
}

impl Task for Flood {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        ok(cx.actor.accept(cx.dialog));
        ok(cx.actor.started(cx.dialog, Raw::NIL));
        ok(cx.actor.open_stream(cx.dialog));
        for i in 0..self.n {
            ok(cx.actor.send(cx.dialog, raw(i)));
        }
    }
    fn on_readable(&mut self, cx: &mut TaskCx<'_>) {
        // Reads only what ends it: an error from the opener.
        while let Ok(Some(item)) = cx.actor.recv(cx.dialog) {
            if let Incoming::Error(_) = item {
                return;
            }
        }
    }
}

/// Never opens its stream and never reads.
struct Deaf;

impl Task for Deaf {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        ok(cx.actor.accept(cx.dialog));
        ok(cx.actor.started(cx.dialog, Raw::NIL));
    }
    fn on_readable(&mut self, _: &mut TaskCx<'_>) {}
}

/// A legacy async generator: yields `0..n`, one per millisecond.
struct Generator {
    next: u64,
    n: u64,
    log: Log,
}

impl Task for Generator {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        ok(cx.actor.accept(cx.dialog));
        cx.wake_after(Duration::from_millis(1));
    }
    fn on_wake(&mut self, cx: &mut TaskCx<'_>) {
        if cx.actor.cid(cx.dialog).is_none() {
            return;
        }
        if self.next == self.n {
            ok(cx.actor.finish(cx.dialog, Ok(Raw::NIL)));
            return;
        }
        ok(cx.actor.send(cx.dialog, raw(self.next)));
        self.next += 1;
        cx.wake_after(Duration::from_millis(1));
    }
    fn on_cancel(&mut self, cx: &mut TaskCx<'_>, _: &CancelCause) {
        self.log.push("generator cancelled");
        ok(cx.actor.finish(cx.dialog, Err(TaskError::Cancelled)));
    }
}

// ---------------------------------------------------------------------------
// The tree

struct Tree {
    sim: Sim,
    root: usize,
    child: usize,
    ch: ChannelId,
    log: Log,
}

/// A root and a child that does not offer credit flow control, as a
/// Python actor does not: these tests pin the Python-compatible wire
/// behaviour (credits are tested in `sim_flow.rs`).
fn tree(seed: u64) -> Tree {
    tree_with(seed, Sim::config)
}

/// Two actors of one tree that prove its secret to each other, so that
/// either may `self.cancel` the other.
fn trusted_tree(seed: u64) -> Tree {
    tree_with(seed, Sim::tree_config)
}

fn tree_with(seed: u64, config: fn(&str) -> ActorConfig) -> Tree {
    let mut sim = Sim::new(seed);
    let mut root = config("root");
    root.is_registrar = true;
    let root = sim.add(root, tcp(1616), Idle);
    let log = Log::default();
    let mut child = config("child");
    child.flow_control = false;
    child.endpoints = Endpoints::new()
        .expose(NS, "started_value", FuncType::Context)
        .expose(NS, "returns_yo", FuncType::Context)
        .expose(NS, "returns_later", FuncType::Context)
        .expose(NS, "blocks", FuncType::Context)
        .expose(NS, "echo", FuncType::Context)
        .expose(NS, "started_twice", FuncType::Context)
        .expose(NS, "stream_before_started", FuncType::Context)
        .expose(NS, "close_at_once", FuncType::Context)
        .expose(NS, "self_cancel", FuncType::Context)
        .expose(NS, "flood", FuncType::Context)
        .expose(NS, "deaf", FuncType::Context)
        .expose(NS, "gen", FuncType::AsyncGen);
    let l = log.clone();
    let l2 = log.clone();
    let l3 = log.clone();
    let l4 = log.clone();
    let l5 = log.clone();
    let tasks = Tasks::new(&log)
        .serve(NS, "started_value", move |kw| {
            let data: i64 = kw
                .decode::<std::collections::BTreeMap<String, i64>>()
                .unwrap()["data"];
            StartThen {
                value: raw(data + 1),
                ret: None,
                delay: None,
                log: l.clone(),
            }
        })
        .serve(NS, "returns_yo", move |_| StartThen {
            value: Raw::NIL,
            ret: Some(text("yo")),
            delay: None,
            log: l2.clone(),
        })
        .serve(NS, "returns_later", {
            let l = log.clone();
            move |_| StartThen {
                value: Raw::NIL,
                ret: Some(text("yo")),
                delay: Some(Duration::from_millis(10)),
                log: l.clone(),
            }
        })
        .serve(NS, "blocks", move |_| StartThen {
            value: text("blocking"),
            ret: None,
            delay: None,
            log: l3.clone(),
        })
        .serve(NS, "echo", move |_| Echo {
            count: 0,
            log: l4.clone(),
        })
        .serve(NS, "started_twice", |_| Misuse { twice: true })
        .serve(NS, "stream_before_started", |_| Misuse { twice: false })
        .serve(NS, "close_at_once", |_| CloseAtOnce)
        .serve(NS, "self_cancel", {
            let l = log.clone();
            move |_| SelfCancel { log: l.clone() }
        })
        .serve(NS, "flood", |kw| Flood {
            n: kw
                .decode::<std::collections::BTreeMap<String, u64>>()
                .unwrap()["n"],
        })
        .serve(NS, "deaf", |_| Deaf)
        .serve(NS, "gen", move |kw| Generator {
            next: 0,
            n: kw
                .decode::<std::collections::BTreeMap<String, u64>>()
                .unwrap()["n"],
            log: l5.clone(),
        });
    let child = sim.add(child, tcp(2000), tasks);
    let ch = sim.connect(root, child);
    Tree {
        sim,
        root,
        child,
        ch,
        log,
    }
}

fn kw(key: &str, v: i64) -> Raw {
    let mut m = std::collections::BTreeMap::new();
    m.insert(key.to_owned(), v);
    raw(m)
}

impl Tree {
    fn open(&mut self, func: &str, kwargs: Raw) -> DialogId {
        self.open_with(func, kwargs, ContextOptions::default())
    }

    fn open_with(&mut self, func: &str, kwargs: Raw, opts: ContextOptions) -> DialogId {
        let ch = self.ch;
        ok(self.sim.with(self.root, |cx| {
            cx.actor.open_context(ch, NS, func, kwargs, opts)
        }))
    }

    /// Waits for the opener's next input.
    fn next(&mut self, d: DialogId) -> Incoming {
        self.sim
            .recv_until(self.root, d, SECOND, |_| true)
            .pop()
            .unwrap()
    }

    /// Waits for the opener's outcome, skipping stream items.
    fn outcome(&mut self, d: DialogId) -> Incoming {
        self.sim
            .recv_until(self.root, d, 10 * SECOND, Incoming::is_final)
            .pop()
            .unwrap()
    }

    fn root_op<T>(
        &mut self,
        f: impl FnOnce(&mut tractor_protocol::Actor, std::time::Instant) -> T,
    ) -> T {
        self.sim.with(self.root, |cx| f(cx.actor, cx.now))
    }

    fn wire(&self, from: usize) -> Vec<&'static str> {
        let to = if from == self.root {
            self.child
        } else {
            self.root
        };
        self.sim.wire_types(from, to)
    }

    /// After the test: nothing is left of any dialog on either side.
    fn assert_no_dialogs(&mut self) {
        self.sim.settle(5 * SECOND);
        assert_eq!(
            self.sim.nodes[self.root].actor.live_state().1,
            0,
            "root dialogs"
        );
        assert_eq!(
            self.sim.nodes[self.child].actor.live_state().1,
            0,
            "child dialogs"
        );
    }
}

/// A root and a child serving one context `func` with the tasks `make`
/// builds; the root opens it. Returns the simulator, both nodes, the
/// channel and the dialog.
fn lone_context<T: Task + 'static>(
    seed: u64,
    func: &'static str,
    make: impl FnMut(&Raw) -> T + 'static,
) -> (Sim, usize, usize, ChannelId, DialogId) {
    lone_context_from(seed, Sim::config("root"), func, make)
}

/// [`lone_context`], opened by a root configured as `root_cfg`.
fn lone_context_from<T: Task + 'static>(
    seed: u64,
    root_cfg: tractor_protocol::ActorConfig,
    func: &'static str,
    make: impl FnMut(&Raw) -> T + 'static,
) -> (Sim, usize, usize, ChannelId, DialogId) {
    let mut sim = Sim::new(seed);
    let root = sim.add(root_cfg, tcp(1), Idle);
    let mut cfg = Sim::config("child");
    cfg.endpoints = Endpoints::new().expose(NS, func, FuncType::Context);
    let child = sim.add(
        cfg,
        tcp(2),
        Tasks::new(&Log::default()).serve(NS, func, make),
    );
    let ch = sim.connect(root, child);
    let d = ok(sim.with(root, |cx| {
        cx.actor
            .open_context(ch, NS, func, Raw::EMPTY_MAP, ContextOptions::default())
    }));
    (sim, root, child, ch, d)
}

fn remote(item: Incoming) -> RemoteError {
    match item {
        Incoming::Error(DialogError::Remote(e)) => e,
        other => panic!("expected a remote error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Tier 1: contexts

#[test]
fn ctx_started_value() {
    let mut t = tree(1);
    let d = t.open("started_value", kw("data", 10));
    assert_eq!(t.next(d), Incoming::Started(raw(11)));
    ok(t.root_op(|a, now| a.cancel(now, d)));
    t.outcome(d);
    ok(t.root_op(|a, now| a.leave(now, d, false)));
    t.assert_no_dialogs();
}

#[test]
fn ctx_result_returned() {
    let mut t = tree(2);
    let d = t.open("returns_yo", Raw::EMPTY_MAP);
    assert_eq!(t.next(d), Incoming::Started(Raw::NIL));
    assert_eq!(t.outcome(d), Incoming::Return(text("yo")));
    assert!(t.log.contains("finally"));
    ok(t.root_op(|a, now| a.leave(now, d, false)));
    assert_eq!(t.wire(t.child), ["Aid", "StartAck", "Started", "Return"]);
    assert_eq!(
        t.wire(t.root),
        ["Aid", "Start"],
        "a clean exit after the result sends nothing"
    );
    t.assert_no_dialogs();
}

#[test]
fn ctx_started_twice() {
    let mut t = tree(3);
    let d = t.open("started_twice", Raw::EMPTY_MAP);
    let items = t.sim.recv_until(t.root, d, SECOND, Incoming::is_final);
    assert_eq!(items[0], Incoming::Started(Raw::NIL));
    let err = remote(items[1].clone());
    assert_eq!(err.boxed_type(), "RuntimeError");
    assert!(err.text().contains("Started was already sent"), "{err}");
    ok(t.root_op(|a, now| a.leave(now, d, true)));
    t.assert_no_dialogs();
}

#[test]
fn ctx_stream_before_started() {
    let mut t = tree(4);
    let d = t.open("stream_before_started", Raw::EMPTY_MAP);
    let err = remote(t.outcome(d));
    assert_eq!(err.boxed_type(), "RuntimeError");
    assert!(
        err.text().contains("Started has not been exchanged"),
        "{err}"
    );
    ok(t.root_op(|a, now| a.leave(now, d, true)));
    t.assert_no_dialogs();
}

#[test]
fn ctx_stop_after_return_ignored() {
    let mut t = tree(5);
    let d = t.open("returns_later", Raw::EMPTY_MAP);
    assert_eq!(t.next(d), Incoming::Started(Raw::NIL));
    ok(t.root_op(|a, _| a.open_stream(d)));
    // The child returns; our Stop leaves after its Return.
    let child = t.child;
    t.sim
        .run_until(SECOND, |s| s.wire_types(child, 0).contains(&"Return"));
    ok(t.root_op(|a, _| a.close_stream(d)));
    assert_eq!(t.outcome(d), Incoming::Return(text("yo")));
    ok(t.root_op(|a, now| a.leave(now, d, false)));
    t.assert_no_dialogs();
    assert_eq!(t.wire(t.root).last(), Some(&"Stop"));
    // The late Stop was dropped without a report or an error.
    let violations = t.sim.events_of(t.child, |e| {
        matches!(e, Event::Violation { .. }).then_some(())
    });
    assert!(violations.is_empty());
    // Reopening the finished context's stream is refused.
    let d2 = t.open("returns_yo", Raw::EMPTY_MAP);
    t.outcome(d2);
    assert!(t.root_op(|a, _| a.open_stream(d2)).is_err());
    ok(t.root_op(|a, now| a.leave(now, d2, false)));
}

#[test]
fn ctx_child_closes_stream_immediately() {
    let mut t = tree(6);
    let d = t.open("close_at_once", Raw::EMPTY_MAP);
    assert_eq!(t.next(d), Incoming::Started(Raw::NIL));
    ok(t.root_op(|a, _| a.open_stream(d)));
    ok(t.root_op(|a, _| a.send(d, raw("hi"))));
    let items = t.sim.recv_until(t.root, d, SECOND, Incoming::is_final);
    assert_eq!(items, [Incoming::Stop, Incoming::Return(text("done"))]);
    // Leaving closes our stream: the Stop reaches a finished callee and is
    // dropped there without complaint.
    ok(t.root_op(|a, now| a.leave(now, d, false)));
    assert_eq!(
        t.wire(t.child),
        ["Aid", "StartAck", "Started", "Stop", "Return"]
    );
    t.assert_no_dialogs();
}

#[test]
fn stream_pingpong() {
    let mut t = tree(7);
    let d = t.open("echo", Raw::EMPTY_MAP);
    assert_eq!(t.next(d), Incoming::Started(raw("ready")));
    ok(t.root_op(|a, _| a.open_stream(d)));
    for _ in 0..10 {
        ok(t.root_op(|a, _| a.send(d, raw("ping"))));
        assert_eq!(t.next(d), Incoming::Yield(raw("pong")));
    }
    ok(t.root_op(|a, _| a.close_stream(d)));
    // The child's loop ends on our Stop and returns its count; it echoes
    // no Stop of its own (spec/DIALOGS.md D3).
    assert_eq!(t.outcome(d), Incoming::Return(raw(10)));
    assert!(t.log.contains("echo saw end of stream"));
    ok(t.root_op(|a, now| a.leave(now, d, false)));
    let child_wire = t.wire(t.child);
    assert_eq!(child_wire.last(), Some(&"Return"));
    assert!(!child_wire.contains(&"Stop"));
    assert_eq!(t.wire(t.root).iter().filter(|m| **m == "Stop").count(), 1);
    t.assert_no_dialogs();
}

// ---------------------------------------------------------------------------
// Tier 2: context cancellation

#[test]
fn ctx_cancel_by_opener_silent() {
    for open_stream in [false, true] {
        let mut t = tree(10 + open_stream as u64);
        let d = t.open("blocks", Raw::EMPTY_MAP);
        assert_eq!(t.next(d), Incoming::Started(text("blocking")));
        if open_stream {
            ok(t.root_op(|a, _| a.open_stream(d)));
        }
        let t0 = t.sim.now;
        ok(t.root_op(|a, now| a.cancel(now, d)));
        let outcome = t.outcome(d);
        assert!(t.sim.now - t0 < Duration::from_millis(500), "within 0.5 s");
        let Incoming::Error(DialogError::CancelledAsRequested { error: Some(ctxc) }) = outcome
        else {
            panic!("{outcome:?}");
        };
        assert_eq!(ctxc.kind(), RemoteErrorKind::ContextCancelled);
        assert_eq!(ctxc.canceller(), Some(t.sim.nodes[t.root].actor.uid()));
        assert!(t.log.contains("finally"), "the child's finally ran");
        ok(t.root_op(|a, now| a.leave(now, d, false)));
        // The wire matches the Python transcript ctx_cancel (plus the Stop
        // of leaving an open stream block).
        let mut expected = vec!["Aid", "Start", "Start"];
        if open_stream {
            expected.push("Stop");
        }
        assert_eq!(t.wire(t.root), expected);
        assert_eq!(
            t.wire(t.child),
            [
                "Aid",
                "StartAck",
                "Started",
                "StartAck",
                "Error",
                "CancelAck"
            ]
        );
        // The daemon still serves.
        let d2 = t.open("returns_yo", Raw::EMPTY_MAP);
        assert_eq!(t.outcome(d2), Incoming::Return(text("yo")));
        ok(t.root_op(|a, now| a.leave(now, d2, false)));
        t.assert_no_dialogs();
    }
}

#[test]
fn ctx_cancel_blocking_child() {
    // The same as ctx_cancel_by_opener_silent, seen from the child: its
    // task was asked to stop by the root, and nothing is left afterwards.
    let mut t = tree(12);
    let d = t.open("blocks", Raw::EMPTY_MAP);
    t.next(d);
    ok(t.root_op(|a, now| a.cancel(now, d)));
    t.outcome(d);
    let causes = t.sim.events_of(t.child, |e| match e {
        Event::Cancel { cause, .. } => Some(cause.clone()),
        _ => None,
    });
    assert_eq!(
        causes,
        [CancelCause::Requested {
            by: t.sim.nodes[t.root].actor.uid().clone()
        }]
    );
    ok(t.root_op(|a, now| a.leave(now, d, false)));
    t.assert_no_dialogs();
}

#[test]
fn ctx_cancel_actor_raises_ctxc() {
    let mut t = trusted_tree(13);
    let d = t.open("blocks", Raw::EMPTY_MAP);
    t.next(d);
    let ch = t.ch;
    let c = ok(t.root_op(|a, now| a.cancel_actor(now, ch)));
    // Not our own ctx.cancel(): the ContextCancelled is raised.
    let ctxc = remote(t.outcome(d));
    assert_eq!(ctxc.kind(), RemoteErrorKind::ContextCancelled);
    assert_eq!(ctxc.canceller(), Some(t.sim.nodes[t.root].actor.uid()));
    assert_eq!(
        t.sim.outcome(t.root, c, SECOND),
        Incoming::Return(raw(true))
    );
    assert!(t.log.contains("actor cancel by root"));
    ok(t.root_op(|a, now| a.leave(now, d, true)));
    t.assert_no_dialogs();
    // Error for the context before the CancelAck for the actor.
    let child = t.wire(t.child);
    assert_eq!(
        &child[child.len() - 3..],
        ["StartAck", "Error", "CancelAck"]
    );
}

#[test]
fn ctx_cancel_after_child_returned() {
    let mut t = tree(14);
    let d = t.open("returns_yo", Raw::EMPTY_MAP);
    assert_eq!(t.outcome(d), Incoming::Return(text("yo")));
    t.sim.sleep(Duration::from_millis(500));
    // A late cancel does not override the delivered result.
    ok(t.root_op(|a, now| a.cancel(now, d)));
    assert_eq!(t.sim.take(t.root, d), []);
    ok(t.root_op(|a, now| a.leave(now, d, false)));
    t.assert_no_dialogs();
}

#[test]
fn ctx_child_self_cancel() {
    let mut t = tree(15);
    let d = t.open("self_cancel", Raw::EMPTY_MAP);
    let items = t.sim.recv_until(t.root, d, SECOND, Incoming::is_final);
    let ctxc = remote(items.last().unwrap().clone());
    assert_eq!(ctxc.kind(), RemoteErrorKind::ContextCancelled);
    assert_eq!(
        ctxc.canceller(),
        Some(t.sim.nodes[t.child].actor.uid()),
        "cancelled by itself"
    );
    assert!(ctxc.tb_str().contains("itself"), "{}", ctxc.tb_str());
    assert!(
        t.log
            .lines()
            .iter()
            .any(|l| l.starts_with("open_stream refused"))
    );
    ok(t.root_op(|a, now| a.leave(now, d, true)));
    // The callee's own ContextCancelled needs no _cancel_task on leaving.
    assert_eq!(t.wire(t.root), ["Aid", "Start"]);
    t.assert_no_dialogs();
}

#[test]
fn ctx_parent_error_in_block() {
    for open_stream in [false, true] {
        let mut t = tree(16 + open_stream as u64);
        let d = t.open("blocks", Raw::EMPTY_MAP);
        t.next(d);
        if open_stream {
            ok(t.root_op(|a, _| a.open_stream(d)));
        }
        // The opener's block raises: leaving it cancels the remote task.
        ok(t.root_op(|a, now| a.leave(now, d, true)));
        t.sim.settle(SECOND);
        assert!(t.log.contains("finally"), "the remote task was cancelled");
        let root_wire = t.wire(t.root);
        assert_eq!(
            root_wire.last(),
            Some(&"Start"),
            "a _cancel_task: {root_wire:?}"
        );
        assert_eq!(
            root_wire.contains(&"Stop"),
            open_stream,
            "an open stream is closed first"
        );
        t.assert_no_dialogs();
        // The ContextCancelled that comes back for the forgotten context is
        // dropped quietly.
        assert!(
            t.sim
                .events_of(t.root, |e| matches!(e, Event::Violation { .. })
                    .then_some(()))
                .is_empty()
        );
    }
}

#[test]
fn ctx_error_then_leave_sends_cancel_task_like_python() {
    // Transcript ctx_error: after the callee's Error the opener still sends
    // `_cancel_task`, answered with StartAck + CancelAck.
    let mut t = tree(18);
    let d = t.open("started_twice", Raw::EMPTY_MAP);
    let _ = t.outcome(d);
    ok(t.root_op(|a, now| a.leave(now, d, true)));
    t.sim.settle(SECOND);
    assert_eq!(t.wire(t.root), ["Aid", "Start", "Start"]);
    assert_eq!(
        t.wire(t.child),
        [
            "Aid",
            "StartAck",
            "Started",
            "Error",
            "StartAck",
            "CancelAck"
        ]
    );
    t.assert_no_dialogs();
}

// ---------------------------------------------------------------------------
// Overruns

#[test]
fn stream_overrun_to_unopened_child() {
    let mut t = tree(20);
    let d = t.open("deaf", Raw::EMPTY_MAP);
    t.next(d);
    ok(t.root_op(|a, _| a.open_stream(d)));
    for i in 0..=DEFAULT_MSG_BUFFER_SIZE {
        ok(t.root_op(|a, _| a.send(d, raw(i))));
    }
    let err = remote(t.outcome(d));
    assert_eq!(err.boxed_type(), STREAM_OVERRUN);
    assert_eq!(
        err.sender(),
        Some(t.sim.nodes[t.root].actor.uid()),
        "names the overrunning sender"
    );
    ok(t.root_op(|a, now| a.leave(now, d, true)));
    // The child never read; its task is cancelled when we leave.
    t.assert_no_dialogs();
}

#[test]
fn stream_overrun_to_unopened_parent() {
    let mut t = tree(21);
    let d = t.open("flood", kw("n", 200));
    // We never read while the child floods us.
    t.sim.settle(SECOND);
    let items = t.sim.take(t.root, d);
    let err = remote(items.last().unwrap().clone());
    // The overrun we detected went to the child, which raised it and sent it
    // back boxed once more.
    assert_eq!(err.boxed_type(), REMOTE_ACTOR_ERROR);
    assert_eq!(err.src_type(), STREAM_OVERRUN);
    assert_eq!(err.src_uid(), t.sim.nodes[t.root].actor.uid());
    let yields = items
        .iter()
        .filter(|i| matches!(i, Incoming::Yield(_)))
        .count();
    assert_eq!(
        yields,
        DEFAULT_MSG_BUFFER_SIZE - 1,
        "the buffer, less the Started slot"
    );
    ok(t.root_op(|a, now| a.leave(now, d, true)));
    t.assert_no_dialogs();
}

#[test]
fn stream_overrun_allowed() {
    let mut t = tree(22);
    let opts = ContextOptions {
        msg_buffer_size: 1,
        allow_overruns: true,
        ..ContextOptions::default()
    };
    let d = t.open_with("flood", kw("n", 200), opts);
    t.sim.settle(SECOND);
    let items = t.sim.take(t.root, d);
    assert_eq!(
        items
            .iter()
            .filter(|i| matches!(i, Incoming::Yield(_)))
            .count(),
        200
    );
    assert!(!items.iter().any(|i| matches!(i, Incoming::Error(_))));
    ok(t.root_op(|a, now| a.cancel(now, d)));
    assert!(matches!(
        t.outcome(d),
        Incoming::Error(DialogError::CancelledAsRequested { .. })
    ));
    ok(t.root_op(|a, now| a.leave(now, d, false)));
    t.assert_no_dialogs();
}

// ---------------------------------------------------------------------------
// Legacy one-way streams

#[test]
fn stream_legacy_asyncgen() {
    let mut t = tree(30);
    let ch = t.ch;
    let d = ok(t.root_op(|a, _| a.open_stream_from(ch, NS, "gen", kw("n", 10))));
    let items = t
        .sim
        .recv_until(t.root, d, SECOND, |i| *i == Incoming::Stop);
    let values: Vec<u64> = items
        .iter()
        .filter_map(|i| match i {
            Incoming::Yield(v) => Some(v.decode().unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(values, (0..10).collect::<Vec<_>>());
    assert_eq!(items.last(), Some(&Incoming::Stop));
    ok(t.root_op(|a, now| a.leave(now, d, false)));
    // Python's consumer always sends `_cancel_task` on exit; the finished
    // generator's side answers it at once.
    t.sim.settle(SECOND);
    assert_eq!(t.wire(t.root), ["Aid", "Start", "Start"]);
    assert_eq!(
        &t.wire(t.child)[t.wire(t.child).len() - 3..],
        ["Stop", "StartAck", "CancelAck"]
    );
    t.assert_no_dialogs();
}

#[test]
fn stream_legacy_aclose_cancels_the_generator() {
    let mut t = tree(31);
    let ch = t.ch;
    let d = ok(t.root_op(|a, _| a.open_stream_from(ch, NS, "gen", kw("n", 1000))));
    let items = t
        .sim
        .recv_until(t.root, d, SECOND, |i| *i == Incoming::Yield(raw(4u64)));
    assert_eq!(items.len(), 5);
    ok(t.root_op(|a, now| a.leave(now, d, true)));
    t.sim.settle(SECOND);
    assert!(t.log.contains("generator cancelled"));
    let root = t.wire(t.root);
    assert_eq!(&root[root.len() - 2..], ["Stop", "Start"]);
    t.assert_no_dialogs();
}

#[test]
fn stream_two_streams_one_portal() {
    let mut t = tree(32);
    let ch = t.ch;
    let a = ok(t.root_op(|x, _| x.open_stream_from(ch, NS, "gen", kw("n", 20))));
    let b = ok(t.root_op(|x, _| x.open_stream_from(ch, NS, "gen", kw("n", 20))));
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    t.sim.run_until(SECOND, |s| {
        for (d, got) in [(a, &mut got_a), (b, &mut got_b)] {
            while let Ok(Some(item)) = s.nodes[0].actor.recv(d) {
                got.push(item);
            }
        }
        got_a.last() == Some(&Incoming::Stop) && got_b.last() == Some(&Incoming::Stop)
    });
    assert_eq!(got_a, got_b);
    assert_eq!(got_a.len(), 21);
    for d in [a, b] {
        ok(t.root_op(|x, now| x.leave(now, d, false)));
    }
    t.assert_no_dialogs();
}

// ---------------------------------------------------------------------------
// Faults

#[test]
fn fault_ipc_break_mid_stream_fails_both_sides_at_once() {
    let mut t = tree(40);
    let d = t.open("echo", Raw::EMPTY_MAP);
    t.next(d);
    ok(t.root_op(|a, _| a.open_stream(d)));
    ok(t.root_op(|a, _| a.send(d, raw("ping"))));
    assert_eq!(t.next(d), Incoming::Yield(raw("pong")));
    let ch = t.ch;
    t.sim.break_channel(t.root, ch);
    // A peer that is no child of the root: the error comes at once, with
    // what the handshake said of it.
    let outcome = t.outcome(d);
    let Incoming::Error(e @ DialogError::PeerLost { peer, exit, .. }) = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(peer.name, "child");
    assert_eq!(*exit, None);
    let text = e.to_string();
    assert!(
        text.starts_with("actor 'child' (uid child[")
            && text.contains(") is gone: the connection broke: connection reset on ch"),
        "{text}"
    );
    // Sending on the broken context is refused, not lost silently.
    assert!(t.root_op(|a, _| a.send(d, raw("ping"))).is_err());
    ok(t.root_op(|a, now| a.leave(now, d, true)));
    t.sim.settle(SECOND);
    assert!(t.log.contains("finally"), "the child's task was stopped");
    assert_eq!(t.sim.nodes[t.root].actor.live_state(), (0, 0));
    assert_eq!(t.sim.nodes[t.child].actor.live_state(), (0, 0));
}

#[test]
fn cancel_actor_with_contexts_from_several_peers() {
    // Two peers hold contexts into the child; a third actor cancels the
    // child: each peer sees ContextCancelled naming the canceller.
    let mut t = trusted_tree(41);
    let p2 = t.sim.add(Sim::tree_config("peer2"), tcp(3000), Idle);
    let canceller = t.sim.add(Sim::tree_config("canceller"), tcp(4000), Idle);
    let child = t.child;
    let ch2 = t.sim.connect(p2, child);
    let chx = t.sim.connect(canceller, child);
    let d1 = t.open("blocks", Raw::EMPTY_MAP);
    let d2 = ok(t.sim.with(p2, |cx| {
        cx.actor
            .open_context(ch2, NS, "blocks", Raw::EMPTY_MAP, ContextOptions::default())
    }));
    t.next(d1);
    t.sim.recv_until(p2, d2, SECOND, |_| true);
    let c = ok(t
        .sim
        .with(canceller, |cx| cx.actor.cancel_actor(cx.now, chx)));
    let x = t.sim.nodes[canceller].actor.uid().clone();
    for (node, d) in [(t.root, d1), (p2, d2)] {
        let item = t
            .sim
            .recv_until(node, d, SECOND, Incoming::is_final)
            .pop()
            .unwrap();
        let ctxc = remote(item);
        assert_eq!(ctxc.boxed_type(), CONTEXT_CANCELLED);
        assert_eq!(ctxc.canceller(), Some(&x));
    }
    assert_eq!(
        t.sim.outcome(canceller, c, SECOND),
        Incoming::Return(raw(true))
    );
    // New calls are refused while the actor winds down.
    let d3 = t.open("returns_yo", Raw::EMPTY_MAP);
    assert_eq!(remote(t.outcome(d3)).boxed_type(), "RuntimeError");
    for (node, d) in [(t.root, d1), (p2, d2), (t.root, d3)] {
        ok(t.sim.with(node, |cx| cx.actor.leave(cx.now, d, true)));
    }
    t.assert_no_dialogs();
}

#[test]
fn cancel_request_without_answer_times_out() {
    // The callee ignores cancellation (a sync-blocked task in Python): the
    // opener's cancel gives up after 0.616 s instead of hanging.
    struct Stubborn;
    impl Task for Stubborn {
        fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
            ok(cx.actor.accept(cx.dialog));
            ok(cx.actor.started(cx.dialog, Raw::NIL));
        }
        fn on_cancel(&mut self, _: &mut TaskCx<'_>, _: &CancelCause) {}
    }
    let (mut sim, root, _child, _ch, d) = lone_context(42, "stubborn", |_| Stubborn);
    sim.recv_until(root, d, SECOND, |_| true);
    let t0 = sim.now;
    ok(sim.with(root, |cx| cx.actor.cancel(cx.now, d)));
    let outcome = sim
        .recv_until(root, d, SECOND, Incoming::is_final)
        .pop()
        .unwrap();
    assert!(
        matches!(outcome, Incoming::Error(DialogError::CancelTimeout { .. })),
        "{outcome:?}"
    );
    assert_eq!(sim.now - t0, tractor_protocol::CONTEXT_CANCEL_TIMEOUT);
    ok(sim.with(root, |cx| cx.actor.leave(cx.now, d, true)));
    assert_eq!(
        sim.nodes[root].actor.live_state().1,
        0,
        "no state for the abandoned dialog"
    );
}

#[test]
fn cancel_request_waits_the_grace_period_longer() {
    // The same stubborn callee, cancelled by an opener whose tree gives a
    // cancelled function 3 s of grace: the opener waits Python's 0.616 s
    // plus the grace before it gives up, and says so.
    struct Stubborn;
    impl Task for Stubborn {
        fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
            ok(cx.actor.accept(cx.dialog));
            ok(cx.actor.started(cx.dialog, Raw::NIL));
        }
        fn on_cancel(&mut self, _: &mut TaskCx<'_>, _: &CancelCause) {}
    }
    let grace = 3 * SECOND;
    let mut cfg = Sim::config("root");
    cfg.cancel_grace = grace;
    let (mut sim, root, _child, _ch, d) = lone_context_from(42, cfg, "stubborn", |_| Stubborn);
    sim.recv_until(root, d, SECOND, |_| true);
    let t0 = sim.now;
    ok(sim.with(root, |cx| cx.actor.cancel(cx.now, d)));
    let outcome = sim
        .recv_until(root, d, 10 * SECOND, Incoming::is_final)
        .pop()
        .unwrap();
    let want = tractor_protocol::CONTEXT_CANCEL_TIMEOUT + grace;
    assert!(
        matches!(outcome, Incoming::Error(DialogError::CancelTimeout { after }) if after == want),
        "{outcome:?}"
    );
    assert_eq!(sim.now - t0, want);
    ok(sim.with(root, |cx| cx.actor.leave(cx.now, d, true)));
}

#[test]
fn a_callee_that_ends_within_the_grace_is_acknowledged() {
    // The callee takes 2 s to end after its cancellation (its cleanup),
    // longer than Python's 0.616 s but within the opener's 3 s of grace:
    // the opener gets the callee's acknowledgment, not a timeout.
    struct Slow;
    impl Task for Slow {
        fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
            ok(cx.actor.accept(cx.dialog));
            ok(cx.actor.started(cx.dialog, Raw::NIL));
        }
        fn on_cancel(&mut self, cx: &mut TaskCx<'_>, _: &CancelCause) {
            cx.wake_after(2 * SECOND);
        }
        fn on_wake(&mut self, cx: &mut TaskCx<'_>) {
            ok(cx.actor.finish(cx.dialog, Err(TaskError::Cancelled)));
        }
    }
    let mut cfg = Sim::config("root");
    cfg.cancel_grace = 3 * SECOND;
    let (mut sim, root, _child, _ch, d) = lone_context_from(43, cfg, "slow", |_| Slow);
    sim.recv_until(root, d, SECOND, |_| true);
    ok(sim.with(root, |cx| cx.actor.cancel(cx.now, d)));
    let outcome = sim
        .recv_until(root, d, 10 * SECOND, Incoming::is_final)
        .pop()
        .unwrap();
    assert!(
        matches!(
            outcome,
            Incoming::Error(DialogError::CancelledAsRequested { .. })
        ),
        "{outcome:?}"
    );
    ok(sim.with(root, |cx| cx.actor.leave(cx.now, d, true)));
}

#[test]
fn illegal_sequences_are_typed_errors() {
    // A callee that breaks the protocol: a Yield before Started.
    struct YieldFirst;
    impl Task for YieldFirst {
        fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
            ok(cx.actor.accept(cx.dialog));
            // The API will not do this, so the test forges the frame below.
        }
    }
    let (mut sim, root, rogue, ch, d) = lone_context(43, "rogue", |_| YieldFirst);
    sim.run_until(SECOND, |s| s.wire_types(rogue, root).contains(&"StartAck"));
    sim.sleep(Duration::from_millis(10));
    let cid = sim.nodes[root].actor.cid(d).unwrap().to_owned();
    // Inject a Yield from the rogue as if it had sent one.
    let mut frame = bytes::BytesMut::new();
    tractor_protocol::Msg::Yield(tractor_protocol::Yield::new(cid.clone(), Raw::NIL))
        .encode_frame(&mut frame)
        .unwrap();
    sim.with(root, |cx| cx.actor.handle_data(cx.now, ch, &frame));
    let outcome = sim.take(root, d).pop().unwrap();
    match outcome {
        Incoming::Error(DialogError::Protocol { violation, .. }) => {
            assert!(
                violation.to_string().contains("unexpected Yield"),
                "{violation}"
            );
            assert!(
                violation.to_string().contains("awaiting Started"),
                "{violation}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Anything after the end is a late message, dropped quietly.
    sim.with(root, |cx| cx.actor.handle_data(cx.now, ch, &frame));
    let violations = sim.events_of(root, |e| match e {
        Event::Violation { violation, .. } => Some(violation.to_string()),
        _ => None,
    });
    assert_eq!(violations.len(), 1, "{violations:?}");
    // A message for a cid that never existed is reported.
    let mut stray = bytes::BytesMut::new();
    tractor_protocol::Msg::Stop(tractor_protocol::Stop {
        cid: "never".into(),
    })
    .encode_frame(&mut stray)
    .unwrap();
    sim.with(root, |cx| cx.actor.handle_data(cx.now, ch, &stray));
    assert!(sim.nodes[root].events.iter().any(|e| matches!(
        e,
        Event::Violation {
            violation: tractor_protocol::Violation::UnknownDialog { .. },
            ..
        }
    )));
    ok(sim.with(root, |cx| cx.actor.leave(cx.now, d, true)));
}

#[test]
fn a_finished_task_refuses_further_operations() {
    let mut t = tree(44);
    let d = t.open("returns_yo", Raw::EMPTY_MAP);
    t.outcome(d);
    let invoked = t.sim.events_of(t.child, |e| match e {
        Event::Invoke { dialog, .. } => Some(*dialog),
        _ => None,
    })[0];
    let child = t.child;
    let again = t
        .sim
        .with(child, |cx| cx.actor.finish(invoked, Ok(Raw::NIL)));
    assert_eq!(again, Err(UsageError::UnknownDialog(invoked)));
    let send = t.sim.with(child, |cx| cx.actor.send(invoked, Raw::NIL));
    assert!(send.is_err());
    ok(t.root_op(|a, now| a.leave(now, d, false)));
    t.assert_no_dialogs();
}

#[test]
fn an_ended_dialog_reads_as_empty_and_an_unknown_one_as_an_error() {
    let mut t = tree(45);
    let d = t.open("returns_yo", Raw::EMPTY_MAP);
    assert_eq!(t.outcome(d), Incoming::Return(raw("yo")));
    let invoked = t.sim.events_of(t.child, |e| match e {
        Event::Invoke { dialog, .. } => Some(*dialog),
        _ => None,
    })[0];
    // The callee finished: its dialog is gone, and reads as empty.
    let child = t.child;
    let read = t.sim.with(child, |cx| cx.actor.recv(invoked));
    assert_eq!(read, Ok(None));
    // The opener left: a drain loop with `?` ends instead of failing.
    ok(t.root_op(|a, now| a.leave(now, d, false)));
    let drained = t.sim.with(t.root, |cx| -> Result<usize, UsageError> {
        let mut n = 0;
        while let Some(_item) = cx.actor.recv(d)? {
            n += 1;
        }
        Ok(n)
    });
    assert_eq!(drained, Ok(0));
    t.assert_no_dialogs();
    // An id this actor never gave out is still a misuse.
    let mut fresh = tractor_protocol::Actor::new(ActorConfig::new("fresh", "f-1"));
    assert_eq!(fresh.recv(d), Err(UsageError::UnknownDialog(d)));
}

#[test]
fn ctx_opener_cancels_echo_child() {
    // Cancel before opening our stream, with it open (after a sibling sent
    // 'yo' on it: ctx-cancel-from-sibling-task), and after closing it.
    for when in ["pre_stream", "post_stream_open", "post_stream_close"] {
        let mut t = tree(50);
        let d = t.open("echo", Raw::EMPTY_MAP);
        assert_eq!(t.next(d), Incoming::Started(raw("ready")));
        let mut before = Vec::new();
        if when != "pre_stream" {
            ok(t.root_op(|a, _| a.open_stream(d)));
            ok(t.root_op(|a, _| a.send(d, raw("yo"))));
            if when == "post_stream_close" {
                ok(t.root_op(|a, _| a.close_stream(d)));
            }
        }
        ok(t.root_op(|a, now| a.cancel(now, d)));
        let items = t.sim.recv_until(t.root, d, SECOND, Incoming::is_final);
        before.extend(
            items
                .iter()
                .filter(|i| matches!(i, Incoming::Yield(_)))
                .cloned(),
        );
        if when == "post_stream_open" {
            assert_eq!(
                before,
                [Incoming::Yield(raw("yo"))],
                "the echo first, then the cancel"
            );
        }
        let outcome = items.last().unwrap();
        assert!(
            matches!(
                outcome,
                Incoming::Error(DialogError::CancelledAsRequested { error: Some(_) })
                    | Incoming::Return(_)
            ),
            "{when}: {outcome:?}"
        );
        // Re-opening the stream of the cancelled context is refused.
        assert!(t.root_op(|a, _| a.open_stream(d)).is_err(), "{when}");
        ok(t.root_op(|a, now| a.leave(now, d, false)));
        // The channel is still up.
        assert!(t.sim.nodes[t.root].actor.peer(t.ch).is_some(), "{when}");
        t.assert_no_dialogs();
    }
}

#[test]
fn err_not_masked_by_finally_cancel() {
    // The child's task raises while a cancel request is in flight: the
    // application's error is what the opener gets, not a ContextCancelled.
    struct RaisesOnCancel;
    impl Task for RaisesOnCancel {
        fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
            ok(cx.actor.accept(cx.dialog));
            ok(cx.actor.started(cx.dialog, Raw::NIL));
        }
        fn on_cancel(&mut self, cx: &mut TaskCx<'_>, _: &CancelCause) {
            let err = LocalError::new("RuntimeError", "raised in finally");
            ok(cx.actor.finish(cx.dialog, Err(err.into())));
        }
    }
    let (mut sim, root, _child, _ch, d) = lone_context(51, "raises", |_| RaisesOnCancel);
    sim.recv_until(root, d, SECOND, |_| true);
    ok(sim.with(root, |cx| cx.actor.cancel(cx.now, d)));
    let outcome = sim
        .recv_until(root, d, SECOND, Incoming::is_final)
        .pop()
        .unwrap();
    let err = remote(outcome);
    assert_eq!(err.boxed_type(), "RuntimeError");
    ok(sim.with(root, |cx| cx.actor.leave(cx.now, d, true)));
}

#[test]
fn a_failed_function_ends_its_stream_with_its_error() {
    // The function streams an item and fails with its stream open: the
    // opener reads the item, then the error; no `Stop` before the error
    // would read as a normal end. A function that returns still closes
    // its stream first (ctx_child_closes_stream_immediately).
    struct StreamsThenFails;
    impl Task for StreamsThenFails {
        fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
            ok(cx.actor.accept(cx.dialog));
            ok(cx.actor.started(cx.dialog, Raw::NIL));
            ok(cx.actor.open_stream(cx.dialog));
            ok(cx.actor.send(cx.dialog, raw(1)));
            let err = LocalError::new("ValueError", "failed while streaming");
            ok(cx.actor.finish(cx.dialog, Err(err.into())));
        }
    }
    let (mut sim, root, child, _ch, d) = lone_context(53, "fails", |_| StreamsThenFails);
    let mut items = sim.recv_until(root, d, SECOND, Incoming::is_final);
    let err = remote(items.pop().unwrap());
    assert_eq!(err.boxed_type(), "ValueError");
    assert_eq!(
        items,
        [Incoming::Started(Raw::NIL), Incoming::Yield(raw(1))]
    );
    assert_eq!(
        sim.wire_types(child, root),
        ["Aid", "StartAck", "Credit", "Started", "Yield", "Error"]
    );
    ok(sim.with(root, |cx| cx.actor.leave(cx.now, d, true)));
}

#[test]
fn rpc_ctx_to_self_invalid() {
    let mut sim = Sim::new(52);
    let root = sim.add(Sim::config("root"), tcp(1), Idle);
    let ch = sim.connect(root, root);
    let refused = sim.with(root, |cx| {
        cx.actor.open_context(
            ch,
            NS,
            "anything",
            Raw::EMPTY_MAP,
            ContextOptions::default(),
        )
    });
    let err = refused.unwrap_err();
    assert_eq!(err, UsageError::SelfDialog(ch));
    assert!(err.to_string().contains("invalid operation"));
}

#[test]
fn dialog_info_looks_up_one_dialog() {
    // What `dialogs` lists of one dialog, found by its id alone, on both
    // sides; nothing once the dialog is gone.
    let (mut sim, root, child, _ch, d) = lone_context(61, "stubborn", |_| StartThen {
        value: Raw::NIL,
        ret: None,
        delay: None,
        log: Log::default(),
    });
    sim.recv_until(root, d, SECOND, |_| true);
    let opener = &sim.nodes[root].actor;
    let listed = opener.dialogs();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let info = opener.dialog_info(d).expect("the open context");
    assert_eq!(info, listed[0]);
    assert_eq!(info.endpoint, Some((NS.to_owned(), "stubborn".to_owned())));
    assert_eq!(info.role, tractor_protocol::Role::Opener);
    let callee = &sim.nodes[child].actor;
    let theirs = callee.dialogs();
    assert!(!theirs.is_empty());
    for one in theirs {
        assert_eq!(callee.dialog_info(one.id), Some(one));
    }
    ok(sim.with(root, |cx| cx.actor.cancel(cx.now, d)));
    sim.recv_until(root, d, 10 * SECOND, Incoming::is_final);
    ok(sim.with(root, |cx| cx.actor.leave(cx.now, d, false)));
    sim.settle(5 * SECOND);
    assert_eq!(sim.nodes[root].actor.dialog_info(d), None);
}
