//! Property test of the core's invariants, over random operations in a
//! simulated tree with random delays, broken channels and a crash:
//!
//! * every dialog ends with at most one outcome, and nothing is delivered
//!   after it;
//! * every dialog still open at the end gets exactly one outcome once it is
//!   cancelled: every cancel request is answered or times out;
//! * terminal-lock grants follow the order requests arrived, and a holder
//!   that dies releases the lock;
//! * once every channel is closed, no actor keeps any state.

mod sim;

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tractor_protocol::{
    CancelCause, ChannelId, ContextOptions, DialogId, Endpoints, FuncType, Incoming, LocalError,
    LockStatus, Msg, Raw, Secret, TaskError,
};

use sim::{Log, Sim, Task, TaskCx, Tasks, tcp};

const NS: &str = "app.prop";
const SECOND: Duration = Duration::from_secs(1);

/// What a called function does; chosen by the caller in the kwargs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
enum Plan {
    /// Return after `d` ms.
    Return,
    /// Fail after `d` ms.
    Raise,
    /// Context: echo stream items until the opener's Stop, then return.
    Echo,
    /// Context: wait until cancelled.
    Hang,
    /// Context: ignore cancel requests (not channel loss).
    Stubborn,
    /// Legacy stream: five items, one every `d` ms.
    Generate,
}

#[derive(Serialize, Deserialize)]
struct Args {
    plan: Plan,
    d: u64,
}

struct Callee {
    plan: Plan,
    d: u64,
    sent: u64,
}

impl Task for Callee {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        cx.actor.accept(cx.dialog).unwrap();
        match self.plan {
            Plan::Echo | Plan::Hang | Plan::Stubborn => {
                cx.actor.started(cx.dialog, Raw::NIL).unwrap();
                if self.plan == Plan::Echo {
                    cx.actor.open_stream(cx.dialog).unwrap();
                }
            }
            _ => cx.wake_after(Duration::from_millis(self.d)),
        }
    }
    fn on_input(&mut self, cx: &mut TaskCx<'_>, item: Incoming) {
        match (self.plan, item) {
            (Plan::Echo, Incoming::Yield(v)) => {
                let _ = cx.actor.send(cx.dialog, v);
            }
            (Plan::Echo, Incoming::Stop) => {
                let _ = cx.actor.finish(cx.dialog, Ok(Raw::NIL));
            }
            _ => {}
        }
    }
    fn on_cancel(&mut self, cx: &mut TaskCx<'_>, cause: &CancelCause) {
        let ignore = self.plan == Plan::Stubborn
            && !matches!(cause, CancelCause::ChannelClosed | CancelCause::ParentLost);
        if !ignore {
            let _ = cx.actor.finish(cx.dialog, Err(TaskError::Cancelled));
        }
    }
    fn on_wake(&mut self, cx: &mut TaskCx<'_>) {
        if cx.actor.cid(cx.dialog).is_none() {
            return;
        }
        match self.plan {
            Plan::Return => {
                let _ = cx.actor.finish(cx.dialog, Ok(Raw::NIL));
            }
            Plan::Raise => {
                let err = LocalError::new("ValueError", "planned");
                let _ = cx.actor.finish(cx.dialog, Err(err.into()));
            }
            Plan::Generate if self.sent < 5 => {
                let _ = cx.actor.send(cx.dialog, Raw::NIL);
                self.sent += 1;
                cx.wake_after(Duration::from_millis(self.d));
            }
            Plan::Generate => {
                let _ = cx.actor.finish(cx.dialog, Ok(Raw::NIL));
            }
            _ => {}
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Open a dialog from node `from` to node `to`.
    Open {
        from: usize,
        to: usize,
        plan: Plan,
        d: u64,
    },
    /// Send an item on a dialog's stream (opening it if needed).
    Send { dialog: usize },
    /// Close a dialog's stream.
    CloseStream { dialog: usize },
    /// Cancel a dialog.
    Cancel { dialog: usize },
    /// Leave a dialog, failing or not.
    Leave { dialog: usize, failed: bool },
    /// Ask the root for the terminal.
    Lock { from: usize },
    /// Release a held terminal.
    Unlock { from: usize },
    /// Cancel a whole actor.
    CancelActor { from: usize, to: usize },
    /// Break the channel between two nodes.
    Break { a: usize, b: usize },
    /// Kill a non-root node.
    Crash { node: usize },
    /// Let time pass.
    Sleep { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    let node = 0usize..3;
    let plan = prop::sample::select(vec![
        Plan::Return,
        Plan::Raise,
        Plan::Echo,
        Plan::Hang,
        Plan::Stubborn,
        Plan::Generate,
    ]);
    prop_oneof![
        10 => (node.clone(), node.clone(), plan, 0u64..50).prop_map(|(from, to, plan, d)| Op::Open { from, to, plan, d }),
        3 => (0usize..32).prop_map(|dialog| Op::Send { dialog }),
        1 => (0usize..32).prop_map(|dialog| Op::CloseStream { dialog }),
        2 => (0usize..32).prop_map(|dialog| Op::Cancel { dialog }),
        2 => (0usize..32, any::<bool>()).prop_map(|(dialog, failed)| Op::Leave { dialog, failed }),
        2 => (1usize..3).prop_map(|from| Op::Lock { from }),
        2 => (1usize..3).prop_map(|from| Op::Unlock { from }),
        1 => (node.clone(), node.clone()).prop_map(|(from, to)| Op::CancelActor { from, to }),
        1 => (node.clone(), node.clone()).prop_map(|(a, b)| Op::Break { a, b }),
        1 => (1usize..3).prop_map(|node| Op::Crash { node }),
        4 => (0u64..800).prop_map(|ms| Op::Sleep { ms }),
    ]
}

/// An opener's dialog, as the test saw it.
struct Opened {
    node: usize,
    id: DialogId,
    plan: Plan,
    items: Vec<Incoming>,
    finals: usize,
    left: bool,
    stream_open: bool,
    /// A `cancel_actor`: it waits for every function of the target,
    /// stubborn ones included.
    actor_cancel: bool,
}

struct World {
    sim: Sim,
    channels: HashMap<(usize, usize), ChannelId>,
    opened: Vec<Opened>,
    /// Per node: its terminal-lock dialog, and whether it holds the lock.
    locks: HashMap<usize, (DialogId, bool)>,
    crashed: Vec<usize>,
    /// A channel was broken or a node crashed: cancels may go unanswered.
    faults: bool,
}

impl World {
    fn new(seed: u64) -> Self {
        let mut sim = Sim::new(seed);
        for (i, name) in ["root", "b", "c"].iter().enumerate() {
            let mut cfg = Sim::config(name);
            cfg.is_registrar = i == 0;
            cfg.serve_tty_lock = i == 0;
            // One tree: its actors prove a shared secret to each other, and
            // so may cancel one another (spec/PROTOCOL.md §3.5).
            cfg.auth.secret = Some(Secret::new("invariants-tree-secret").unwrap());
            cfg.auth.nonce_key = [seed as u8 ^ i as u8; 32];
            cfg.endpoints = Endpoints::new()
                .expose(NS, "func", FuncType::AsyncFunc)
                .expose(NS, "ctx", FuncType::Context)
                .expose(NS, "gen", FuncType::AsyncGen);
            let tasks = ["func", "ctx", "gen"]
                .iter()
                .fold(Tasks::new(&Log::default()), |t, f| {
                    t.serve(NS, f, |kw| {
                        let a: Args = kw.decode().unwrap();
                        Callee {
                            plan: a.plan,
                            d: a.d,
                            sent: 0,
                        }
                    })
                });
            sim.add(cfg, tcp(1000 + i as u16), tasks);
        }
        World {
            sim,
            channels: HashMap::new(),
            opened: Vec::new(),
            locks: HashMap::new(),
            crashed: Vec::new(),
            faults: false,
        }
    }

    fn alive(&self, node: usize) -> bool {
        !self.crashed.contains(&node)
    }

    /// An open channel from `a` to `b`, connecting if needed.
    fn channel(&mut self, a: usize, b: usize) -> Option<ChannelId> {
        if !self.alive(a) || !self.alive(b) {
            return None;
        }
        if let Some(ch) = self.channels.get(&(a, b))
            && self.sim.nodes[a].actor.peer(*ch).is_some()
        {
            return Some(*ch);
        }
        let ch = self.sim.connect(a, b);
        self.channels.insert((a, b), ch);
        Some(ch)
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Open { from, to, plan, d } if from != to => {
                let Some(ch) = self.channel(from, to) else {
                    return;
                };
                let kwargs = Raw::encode(&Args { plan, d }).unwrap();
                let opened = self.sim.with(from, |cx| match plan {
                    Plan::Return | Plan::Raise => cx.actor.call(ch, NS, "func", kwargs),
                    Plan::Generate => cx.actor.open_stream_from(ch, NS, "gen", kwargs),
                    _ => cx
                        .actor
                        .open_context(ch, NS, "ctx", kwargs, ContextOptions::default()),
                });
                if let Ok(id) = opened {
                    self.opened.push(Opened {
                        node: from,
                        id,
                        plan,
                        items: Vec::new(),
                        finals: 0,
                        left: false,
                        stream_open: false,
                        actor_cancel: false,
                    });
                }
            }
            Op::Open { .. } => {}
            Op::Send { dialog } => {
                let Some(o) = self.opened.get_mut(dialog) else {
                    return;
                };
                if o.left || o.plan != Plan::Echo || !o.items.contains(&Incoming::Started(Raw::NIL))
                {
                    return;
                }
                let (node, id) = (o.node, o.id);
                if !o.stream_open && self.sim.with(node, |cx| cx.actor.open_stream(id)).is_ok() {
                    self.opened[dialog].stream_open = true;
                }
                let _ = self.sim.with(node, |cx| cx.actor.send(id, Raw::NIL));
            }
            Op::CloseStream { dialog } => {
                if let Some(o) = self.opened.get(dialog).filter(|o| !o.left) {
                    let (node, id) = (o.node, o.id);
                    let _ = self.sim.with(node, |cx| cx.actor.close_stream(id));
                }
            }
            Op::Cancel { dialog } => {
                if let Some(o) = self.opened.get(dialog).filter(|o| !o.left) {
                    let (node, id) = (o.node, o.id);
                    let _ = self.sim.with(node, |cx| cx.actor.cancel(cx.now, id));
                }
            }
            Op::Leave { dialog, failed } => {
                let Some(o) = self.opened.get_mut(dialog) else {
                    return;
                };
                if o.left || matches!(o.plan, Plan::Return | Plan::Raise) {
                    return;
                }
                o.left = true;
                let (node, id) = (o.node, o.id);
                self.sim
                    .with(node, |cx| cx.actor.leave(cx.now, id, failed))
                    .unwrap();
            }
            Op::Lock { from } => {
                if self.locks.contains_key(&from) {
                    return;
                }
                let Some(ch) = self.channel(from, 0) else {
                    return;
                };
                let d = self
                    .sim
                    .with(from, |cx| cx.actor.request_tty_lock(ch, ("t", from as i64)))
                    .unwrap();
                self.locks.insert(from, (d, false));
            }
            Op::Unlock { from } => {
                if let Some(&(d, true)) = self.locks.get(&from) {
                    let _ = self.sim.with(from, |cx| cx.actor.release_tty_lock(d));
                }
            }
            Op::CancelActor { from, to } if from != to => {
                let Some(ch) = self.channel(from, to) else {
                    return;
                };
                if let Ok(id) = self.sim.with(from, |cx| cx.actor.cancel_actor(cx.now, ch)) {
                    // Its outcome, `true` or a timeout, is taken like a
                    // call's.
                    self.opened.push(Opened {
                        node: from,
                        id,
                        plan: Plan::Return,
                        items: Vec::new(),
                        finals: 0,
                        left: false,
                        stream_open: false,
                        actor_cancel: true,
                    });
                }
            }
            Op::CancelActor { .. } => {}
            Op::Break { a, b } => {
                if let Some(ch) = self.channels.get(&(a, b)).copied()
                    && self.alive(a)
                {
                    self.sim.break_channel(a, ch);
                    self.faults = true;
                }
            }
            Op::Crash { node } => {
                if self.alive(node) && self.crashed.is_empty() {
                    self.sim.crash(node);
                    self.crashed.push(node);
                    self.faults = true;
                }
            }
            Op::Sleep { ms } => self.sim.sleep(Duration::from_millis(ms)),
        }
        self.collect();
    }

    /// Takes what every dialog received and checks it as it comes.
    fn collect(&mut self) {
        for o in &mut self.opened {
            if o.left || !self.sim.nodes[o.node].alive {
                continue;
            }
            while let Ok(Some(item)) = self.sim.nodes[o.node].actor.recv(o.id) {
                assert_eq!(
                    o.finals,
                    0,
                    "{:?} delivered after the outcome {:?}",
                    item,
                    o.items.last()
                );
                if item.is_final() || (o.plan == Plan::Generate && item == Incoming::Stop) {
                    o.finals += 1;
                }
                o.items.push(item);
            }
        }
        for (&node, lock) in &mut self.locks {
            if !self.sim.nodes[node].alive {
                continue;
            }
            while let Ok(Some(item)) = self.sim.nodes[node].actor.recv(lock.0) {
                match item {
                    Incoming::Started(status) => {
                        let status: LockStatus = status.decode().unwrap();
                        assert!(status.locked);
                        lock.1 = true;
                    }
                    item if item.is_final() => {
                        let d = lock.0;
                        let _ = self.sim.nodes[node].actor.leave(self.sim.now, d, false);
                    }
                    _ => {}
                }
            }
        }
        self.locks.retain(|&node, (d, _)| {
            self.sim.nodes[node].alive && self.sim.nodes[node].actor.cid(*d).is_some()
        });
    }

    /// The end: cancel everything still open, wait, check outcomes, then
    /// close every channel and check that nothing is left.
    fn finish(mut self) {
        for i in 0..self.opened.len() {
            let o = &self.opened[i];
            if !o.left && o.finals == 0 && self.alive(o.node) {
                let (node, id) = (o.node, o.id);
                let _ = self.sim.with(node, |cx| cx.actor.cancel(cx.now, id));
            }
        }
        for (&node, &(d, _)) in &self.locks.clone() {
            let _ = self.sim.with(node, |cx| cx.actor.cancel(cx.now, d));
        }
        self.sim.settle(30 * SECOND);
        self.collect();
        let stubborn = self.opened.iter().any(|o| o.plan == Plan::Stubborn);
        for o in &self.opened {
            if o.left || !self.alive(o.node) {
                assert!(o.finals <= 1);
                continue;
            }
            assert_eq!(o.finals, 1, "{:?} dialog ended with {:?}", o.plan, o.items);
            // A healthy callee answers every cancel request; only one that
            // ignores them, or a fault, leaves the request to time out.
            let timed_out = o.items.iter().any(|i| {
                matches!(
                    i,
                    Incoming::Error(tractor_protocol::DialogError::CancelTimeout { .. })
                )
            });
            assert!(
                !timed_out
                    || o.plan == Plan::Stubborn
                    || (o.actor_cancel && stubborn)
                    || self.faults,
                "{:?} dialog's cancel went unanswered: {:?}",
                o.plan,
                o.items
            );
        }
        if !self.faults && !self.opened.iter().any(|o| o.plan == Plan::Stubborn) {
            self.check_cancels_answered();
        }
        // Leave what is left, close every channel.
        for o in &mut self.opened {
            if !o.left && self.sim.nodes[o.node].alive {
                let (node, id) = (o.node, o.id);
                let _ = self.sim.with(node, |cx| cx.actor.leave(cx.now, id, false));
            }
        }
        for (&node, &(d, _)) in &self.locks.clone() {
            let _ = self.sim.with(node, |cx| cx.actor.leave(cx.now, d, true));
        }
        let channels: Vec<_> = self.channels.iter().map(|(k, v)| (*k, *v)).collect();
        for ((a, _), ch) in channels {
            if self.alive(a) {
                self.sim.with(a, |cx| cx.actor.close(cx.now, ch));
            }
        }
        self.sim.settle(30 * SECOND);
        for node in 0..3 {
            if self.alive(node) {
                self.sim.assert_clean(node);
            }
        }
        self.check_lock_fifo();
    }

    /// Every `self.cancel` and `self._cancel_task` request got its
    /// `CancelAck`.
    fn check_cancels_answered(&self) {
        let acked: Vec<&str> = self
            .sim
            .wire
            .iter()
            .filter_map(|w| match &w.msg {
                Msg::CancelAck(a) => Some(a.cid.as_str()),
                _ => None,
            })
            .collect();
        for w in &self.sim.wire {
            if let Msg::Start(s) = &w.msg
                && s.ns == "self"
                && (s.func == "cancel" || s.func == "_cancel_task")
            {
                assert!(
                    acked.contains(&s.cid.as_str()),
                    "self.{} {} was never answered",
                    s.func,
                    s.cid
                );
            }
        }
    }

    /// Grants happened in the order requests reached the root, skipping
    /// requests withdrawn (cancelled, or whose requester died) first.
    fn check_lock_fifo(&self) {
        let mut queue: Vec<String> = Vec::new();
        let mut granted: Vec<String> = Vec::new();
        let mut withdrawn: Vec<String> = Vec::new();
        for w in &self.sim.arrivals {
            match &w.msg {
                Msg::Start(s) if w.to == 0 && s.func == "lock_stdio_for_peer" => {
                    queue.push(s.cid.clone())
                }
                Msg::Start(s) if w.to == 0 && s.func == "_cancel_task" => {
                    #[derive(Deserialize)]
                    struct K {
                        cid: String,
                    }
                    withdrawn.push(s.decode_kwargs::<K>().unwrap().cid);
                }
                _ => {}
            }
        }
        // A grant is when the root sends it.
        for w in &self.sim.wire {
            if let Msg::Started(s) = &w.msg
                && w.from == 0
                && s.decode_pld::<LockStatus>().is_ok()
            {
                granted.push(s.cid.clone());
            }
        }
        let mut expected = queue
            .iter()
            .filter(|c| granted.contains(c))
            .cloned()
            .collect::<Vec<_>>();
        expected.dedup();
        assert_eq!(
            granted, expected,
            "grants in request order (withdrawn: {withdrawn:?})"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_random_operations(seed in any::<u64>(), ops in prop::collection::vec(op(), 1..60)) {
        let mut world = World::new(seed);
        for op in &ops {
            world.apply(op);
        }
        world.finish();
    }
}
