//! A deterministic network of actors in one process.
//!
//! Every actor is a real [`Actor`] core; the simulator is its driver. It
//! carries transmits between linked channels after a seeded random delay
//! (keeping each direction of each channel in order, as a stream socket
//! does, while deliveries on different channels may overtake each other),
//! turns `Connect` actions into accepted channels on the listening actor,
//! and jumps the clock straight to the next thing that happens: a delivery,
//! an actor's deadline or an application's wake-up. Faults are injected by
//! breaking a channel or crashing an actor.
//!
//! Applications are small state machines ([`App`]) that react to the core's
//! events, the way an adapter's tasks would.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tractor_protocol::{
    Action, Actor, ActorConfig, Address, ChannelId, DialogId, Event, FrameDecoder, Incoming, Msg,
    Output,
};

mod service;
mod tasks;
#[allow(unused_imports)]
pub use service::{Reply, Service};
#[allow(unused_imports)]
pub use tasks::{Log, Task, TaskCx, Tasks};

/// The secret of [`Sim::tree_config`]'s actors.
pub const TREE_SECRET: &str = "sim-tree-secret-0123456789";

/// One message as it crossed the simulated network.
#[derive(Debug, Clone)]
pub struct Wire {
    pub from: usize,
    pub to: usize,
    pub msg: Msg,
}

/// What an application sees when it runs.
pub struct Cx<'a> {
    pub actor: &'a mut Actor,
    pub now: Instant,
    wakes: &'a mut Vec<(Duration, u64)>,
    exit: &'a mut Option<i32>,
}

impl Cx<'_> {
    /// Ends this actor's process with `code` once the current callback
    /// returns (its connections close after what it sent).
    pub fn exit(&mut self, code: i32) {
        *self.exit = Some(code);
    }

    /// Asks for [`App::on_wake`] with `token` after `delay`.
    pub fn wake_after(&mut self, delay: Duration, token: u64) {
        self.wakes.push((delay, token));
    }
}

/// An actor's application.
pub trait App {
    fn on_event(&mut self, cx: &mut Cx<'_>, event: &Event) {
        let _ = (cx, event);
    }
    fn on_wake(&mut self, cx: &mut Cx<'_>, token: u64) {
        let _ = (cx, token);
    }
}

/// An application that does nothing on its own.
pub struct Idle;
impl App for Idle {}

pub struct Node {
    pub actor: Actor,
    pub app: Box<dyn App>,
    /// Every event the core emitted, in order.
    pub events: Vec<Event>,
    pub addr: Address,
    pub alive: bool,
    timeout: Option<Instant>,
    /// Set when the node's process is a child of another node.
    pub parent: Option<(usize, tractor_protocol::ChildId)>,
    /// The process ignores SIGTERM (a hung or shielded task).
    pub ignores_term: bool,
    /// How the process ended, once it has.
    pub exit: Option<tractor_protocol::ExitStatus>,
    /// The `Action::Connect`s the core asked for, in order.
    pub connects: Vec<ChannelId>,
}

/// Builds the application of a spawned child, by the child's name.
pub type Template = Box<dyn FnMut(&str) -> Option<(ActorConfig, Box<dyn App>)>>;

enum Delivery {
    Data { bytes: Bytes },
    Closed { error: Option<String> },
}

struct Pending {
    from: usize,
    node: usize,
    channel: ChannelId,
    what: Delivery,
}

pub struct Sim {
    pub now: Instant,
    pub start: Instant,
    pub nodes: Vec<Node>,
    listeners: HashMap<Address, usize>,
    links: HashMap<(usize, ChannelId), (usize, ChannelId)>,
    in_flight: BTreeMap<(Instant, u64), Pending>,
    /// When the last delivery on each direction of each link is due, so
    /// that a later one is never earlier.
    last_due: HashMap<(usize, ChannelId), Instant>,
    wakes: BTreeMap<(Instant, u64), (usize, u64)>,
    seq: u64,
    rng: u64,
    /// Every message sent between actors, in send order.
    pub wire: Vec<Wire>,
    /// Every message delivered to an actor, in arrival order.
    pub arrivals: Vec<Wire>,
    arrival_decoders: HashMap<(usize, ChannelId), (FrameDecoder, BytesMut)>,
    decoders: HashMap<(usize, ChannelId), (FrameDecoder, BytesMut)>,
    /// Makes the applications of spawned children.
    pub templates: Option<Template>,
    next_port: u16,
    pub min_latency: Duration,
    pub max_latency: Duration,
}

impl Sim {
    pub fn new(seed: u64) -> Self {
        let start = Instant::now();
        Sim {
            now: start,
            start,
            nodes: Vec::new(),
            listeners: HashMap::new(),
            links: HashMap::new(),
            in_flight: BTreeMap::new(),
            last_due: HashMap::new(),
            wakes: BTreeMap::new(),
            seq: 0,
            rng: seed ^ 0x5eed,
            wire: Vec::new(),
            arrivals: Vec::new(),
            arrival_decoders: HashMap::new(),
            decoders: HashMap::new(),
            templates: None,
            next_port: 40000,
            min_latency: Duration::from_micros(50),
            max_latency: Duration::from_millis(2),
        }
    }

    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn latency(&mut self) -> Duration {
        let span = (self.max_latency - self.min_latency).as_nanos() as u64;
        let jitter = if span == 0 { 0 } else { self.random() % span };
        self.min_latency + Duration::from_nanos(jitter)
    }

    /// Adds an actor listening at `addr`; its uuid is derived from the name.
    pub fn add(
        &mut self,
        mut config: ActorConfig,
        addr: Address,
        app: impl App + 'static,
    ) -> usize {
        let index = self.nodes.len();
        config.seed = self.random();
        config.pid = Some(1000 + index as u32);
        self.listeners.insert(addr.clone(), index);
        self.add_boxed(config, addr, Box::new(app))
    }

    fn add_boxed(&mut self, mut config: ActorConfig, addr: Address, app: Box<dyn App>) -> usize {
        let index = self.nodes.len();
        config.seed = self.random();
        config.pid = Some(1000 + index as u32);
        self.listeners.insert(addr.clone(), index);
        let mut actor = Actor::new(config);
        actor.set_accept_addrs(vec![addr.clone()]);
        self.nodes.push(Node {
            actor,
            app,
            events: Vec::new(),
            addr,
            alive: true,
            timeout: None,
            parent: None,
            ignores_term: false,
            exit: None,
            connects: Vec::new(),
        });
        index
    }

    /// A config for a test actor named `name`.
    pub fn config(name: &str) -> ActorConfig {
        ActorConfig::new(name, format!("{name}-0000-4000-8000-000000000000"))
    }

    /// A config for a test actor named `name` of one tree: it proves
    /// [`TREE_SECRET`] in every handshake, and trusts who proves it
    /// (spec/PROTOCOL.md §3.5).
    pub fn tree_config(name: &str) -> ActorConfig {
        let mut cfg = Self::config(name);
        cfg.auth.secret = Some(tractor_protocol::Secret::new(TREE_SECRET).unwrap());
        let mut key = [0u8; 32];
        for (k, b) in key.iter_mut().zip(name.bytes().cycle()) {
            *k = b;
        }
        cfg.auth.nonce_key = key;
        cfg
    }

    /// Runs `f` as node `node`'s application, then lets the core's outputs
    /// take effect.
    pub fn with<T>(&mut self, node: usize, f: impl FnOnce(&mut Cx<'_>) -> T) -> T {
        let mut wakes = Vec::new();
        let mut exit = None;
        let now = self.now;
        let n = &mut self.nodes[node];
        let out = f(&mut Cx {
            actor: &mut n.actor,
            now,
            wakes: &mut wakes,
            exit: &mut exit,
        });
        self.schedule_wakes(node, wakes);
        self.drain(node);
        if let Some(code) = exit {
            self.end_process(node, Some(code), None, None);
        }
        out
    }

    fn schedule_wakes(&mut self, node: usize, wakes: Vec<(Duration, u64)>) {
        for (delay, token) in wakes {
            self.seq += 1;
            self.wakes
                .insert((self.now + delay, self.seq), (node, token));
        }
    }

    /// Applies the driver's rule to one node: poll until `Timeout`.
    fn drain(&mut self, node: usize) {
        loop {
            if !self.nodes[node].alive {
                return;
            }
            let out = self.nodes[node].actor.poll_output();
            match out {
                Output::Transmit(t) => self.transmit(node, t.channel, t.data),
                Output::Action(a) => self.act(node, a),
                Output::Event(e) => {
                    let mut wakes = Vec::new();
                    let mut exit = None;
                    let now = self.now;
                    let n = &mut self.nodes[node];
                    n.events.push(e.clone());
                    n.app.on_event(
                        &mut Cx {
                            actor: &mut n.actor,
                            now,
                            wakes: &mut wakes,
                            exit: &mut exit,
                        },
                        &e,
                    );
                    self.schedule_wakes(node, wakes);
                    if let Some(code) = exit {
                        // Flush what the actor queued, then end.
                        self.drain_transmits(node);
                        self.end_process(node, Some(code), None, None);
                        return;
                    }
                }
                Output::Timeout(t) => {
                    self.nodes[node].timeout = t;
                    return;
                }
            }
        }
    }

    fn transmit(&mut self, node: usize, channel: ChannelId, bytes: Bytes) {
        // The simulated socket takes everything at once.
        let now = self.now;
        self.nodes[node]
            .actor
            .handle_written(now, channel, bytes.len());
        let Some(&(peer, peer_channel)) = self.links.get(&(node, channel)) else {
            return;
        };
        let (decoder, buf) = self.decoders.entry((node, channel)).or_default();
        buf.extend_from_slice(&bytes);
        while let Some(frame) = decoder.decode(buf).expect("actors send well-formed frames") {
            let msg = frame.msg().expect("actors send decodable messages");
            self.wire.push(Wire {
                from: node,
                to: peer,
                msg,
            });
        }
        self.send_along(node, channel, peer, peer_channel, Delivery::Data { bytes });
    }

    fn send_along(
        &mut self,
        from: usize,
        channel: ChannelId,
        to: usize,
        to_channel: ChannelId,
        what: Delivery,
    ) {
        let mut due = self.now + self.latency();
        if let Some(last) = self.last_due.get(&(from, channel)) {
            due = due.max(*last);
        }
        self.last_due.insert((from, channel), due);
        self.seq += 1;
        self.in_flight.insert(
            (due, self.seq),
            Pending {
                from,
                node: to,
                channel: to_channel,
                what,
            },
        );
    }

    fn act(&mut self, node: usize, action: Action) {
        match action {
            Action::Connect { channel, addr } => {
                self.nodes[node].connects.push(channel);
                let now = self.now;
                match self
                    .listeners
                    .get(&addr)
                    .copied()
                    .filter(|l| self.nodes[*l].alive)
                {
                    Some(listener) => {
                        let accepted = self.nodes[listener].actor.handle_accepted(now);
                        self.links.insert((node, channel), (listener, accepted));
                        self.links.insert((listener, accepted), (node, channel));
                        self.nodes[node].actor.handle_connected(now, channel);
                        self.drain(listener);
                    }
                    None => self.nodes[node].actor.handle_connect_failed(
                        now,
                        channel,
                        "connection refused".to_owned(),
                    ),
                }
            }
            Action::Close { channel } => {
                if let Some((peer, peer_channel)) = self.links.remove(&(node, channel)) {
                    self.links.remove(&(peer, peer_channel));
                    self.send_along(
                        node,
                        channel,
                        peer,
                        peer_channel,
                        Delivery::Closed { error: None },
                    );
                }
            }
            Action::Abort { channel } => {
                // The socket goes without a word to the peer: the
                // simulations abort only connections whose end was
                // reported (`handle_closed`, sometimes injected while the
                // peer lives on).
                if let Some((peer, peer_channel)) = self.links.remove(&(node, channel)) {
                    self.links.remove(&(peer, peer_channel));
                }
            }
            // Simulated sockets never fill up.
            Action::PauseReading { .. } | Action::ResumeReading { .. } => {}
            Action::Spawn {
                child,
                uid,
                parent_addr,
                ..
            } => {
                let made = self.templates.as_mut().and_then(|t| t(&uid.name));
                let Some((mut config, app)) = made else {
                    self.nodes[node]
                        .actor
                        .handle_spawn_failed(child, "no such program".into());
                    return;
                };
                config.name = uid.name.clone();
                config.uuid = uid.uuid.clone();
                self.next_port += 1;
                let addr = tcp(self.next_port);
                let kid = self.add_boxed(config, addr, app);
                self.nodes[kid].parent = Some((node, child));
                let pid = 1000 + kid as u32;
                self.nodes[node].actor.handle_spawned(child, pid);
                if let Some(parent_addr) = parent_addr {
                    self.with(kid, |cx| {
                        cx.actor.connect_parent(parent_addr);
                    });
                }
            }
            Action::Signal { pid, signal, .. } => {
                let kid = (pid - 1000) as usize;
                if !self.nodes[kid].alive {
                    return;
                }
                match signal {
                    tractor_protocol::Signal::Terminate if self.nodes[kid].ignores_term => {}
                    tractor_protocol::Signal::Terminate => {
                        self.end_process(kid, None, Some(15), Some("killed"))
                    }
                    tractor_protocol::Signal::Kill => {
                        self.end_process(kid, None, Some(9), Some("killed"))
                    }
                }
            }
        }
    }

    /// Writes out what a node queued, without handling its events.
    fn drain_transmits(&mut self, node: usize) {
        loop {
            match self.nodes[node].actor.poll_output() {
                Output::Transmit(t) => self.transmit(node, t.channel, t.data),
                Output::Action(a @ (Action::Close { .. } | Action::Abort { .. })) => {
                    self.act(node, a)
                }
                Output::Timeout(_) => return,
                _ => {}
            }
        }
    }

    /// Ends a node's process: its connections close (after what it sent,
    /// or reset if it was killed), and its parent hears of the exit.
    pub fn end_process(
        &mut self,
        node: usize,
        code: Option<i32>,
        signal: Option<i32>,
        reset: Option<&str>,
    ) {
        if !self.nodes[node].alive {
            return;
        }
        self.nodes[node].alive = false;
        let status = tractor_protocol::ExitStatus { code, signal };
        self.nodes[node].exit = Some(status);
        self.listeners.retain(|_, n| *n != node);
        let channels: Vec<_> = self
            .links
            .keys()
            .filter(|(n, _)| *n == node)
            .map(|(_, c)| *c)
            .collect();
        for channel in channels {
            if let Some((peer, peer_channel)) = self.links.remove(&(node, channel)) {
                self.links.remove(&(peer, peer_channel));
                let error = reset.map(|r| r.to_owned());
                self.send_along(
                    node,
                    channel,
                    peer,
                    peer_channel,
                    Delivery::Closed { error },
                );
            }
        }
        if let Some((parent, child)) = self.nodes[node].parent
            && self.nodes[parent].alive
        {
            let now = self.now;
            self.nodes[parent]
                .actor
                .handle_process_exited(now, child, status);
            self.drain(parent);
        }
    }

    /// Breaks a channel: both ends see the connection reset at once.
    pub fn break_channel(&mut self, node: usize, channel: ChannelId) {
        let now = self.now;
        if let Some((peer, peer_channel)) = self.links.remove(&(node, channel)) {
            self.links.remove(&(peer, peer_channel));
            self.nodes[peer].actor.handle_closed(
                now,
                peer_channel,
                Some("connection reset".into()),
            );
            self.drain(peer);
        }
        self.nodes[node]
            .actor
            .handle_closed(now, channel, Some("connection reset".into()));
        self.drain(node);
    }

    /// Kills an actor (SIGKILL from outside): its connections reset, it
    /// does nothing more, its parent hears of the exit.
    pub fn crash(&mut self, node: usize) {
        self.end_process(node, None, Some(9), Some("connection reset"));
    }

    /// The next moment something happens.
    fn next_due(&self) -> Option<Instant> {
        let deliveries = self.in_flight.keys().next().map(|(t, _)| *t);
        let wakes = self.wakes.keys().next().map(|(t, _)| *t);
        let timers = self
            .nodes
            .iter()
            .filter(|n| n.alive)
            .filter_map(|n| n.timeout)
            .min();
        [deliveries, wakes, timers].into_iter().flatten().min()
    }

    /// Advances to the next thing that happens and does it. Returns false
    /// when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        for node in 0..self.nodes.len() {
            self.drain(node);
        }
        let Some(due) = self.next_due() else {
            return false;
        };
        self.now = self.now.max(due);
        let now = self.now;
        if let Some((&key, _)) = self.in_flight.iter().next()
            && key.0 <= now
        {
            let p = self.in_flight.remove(&key).unwrap();
            if self.nodes[p.node].alive {
                match p.what {
                    Delivery::Data { bytes } => {
                        let (decoder, buf) = self
                            .arrival_decoders
                            .entry((p.node, p.channel))
                            .or_default();
                        buf.extend_from_slice(&bytes);
                        while let Ok(Some(frame)) = decoder.decode(buf) {
                            if let Ok(msg) = frame.msg() {
                                self.arrivals.push(Wire {
                                    from: p.from,
                                    to: p.node,
                                    msg,
                                });
                            }
                        }
                        self.nodes[p.node].actor.handle_data(now, p.channel, &bytes)
                    }
                    Delivery::Closed { error } => self.nodes[p.node]
                        .actor
                        .handle_closed(now, p.channel, error),
                }
                self.drain(p.node);
            }
            return true;
        }
        if let Some((&key, _)) = self.wakes.iter().next()
            && key.0 <= now
        {
            let (node, token) = self.wakes.remove(&key).unwrap();
            if self.nodes[node].alive {
                let mut wakes = Vec::new();
                let mut exit = None;
                let n = &mut self.nodes[node];
                n.app.on_wake(
                    &mut Cx {
                        actor: &mut n.actor,
                        now,
                        wakes: &mut wakes,
                        exit: &mut exit,
                    },
                    token,
                );
                self.schedule_wakes(node, wakes);
                self.drain(node);
                if let Some(code) = exit {
                    self.end_process(node, Some(code), None, None);
                }
            }
            return true;
        }
        for node in 0..self.nodes.len() {
            if self.nodes[node].alive && self.nodes[node].timeout.is_some_and(|t| t <= now) {
                self.nodes[node].actor.handle_timeout(now);
                self.drain(node);
            }
        }
        true
    }

    /// Runs until `done` holds, failing the test if it does not within
    /// `limit` of simulated time (a hang).
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Sim) -> bool) {
        let deadline = self.now + limit;
        loop {
            if done(self) {
                return;
            }
            assert!(
                self.now <= deadline,
                "still waiting after {limit:?} of simulated time"
            );
            if !self.step() {
                assert!(
                    done(self),
                    "the simulation went idle before the condition held"
                );
                return;
            }
        }
    }

    /// Runs until nothing more happens before `limit` from now.
    pub fn settle(&mut self, limit: Duration) {
        let deadline = self.now + limit;
        while self.next_due().is_some_and(|t| t <= deadline) {
            self.step();
        }
        for node in 0..self.nodes.len() {
            self.drain(node);
        }
    }

    /// Lets `d` of simulated time pass, doing everything due meanwhile.
    pub fn sleep(&mut self, d: Duration) {
        let until = self.now + d;
        while self.next_due().is_some_and(|t| t <= until) {
            self.step();
        }
        self.now = until;
        for node in 0..self.nodes.len() {
            self.drain(node);
        }
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Connects `from` to `to`'s address and waits until both ends have
    /// finished the handshake.
    pub fn connect(&mut self, from: usize, to: usize) -> ChannelId {
        let addr = self.nodes[to].addr.clone();
        let channel = self.with(from, |cx| cx.actor.connect(addr));
        let (peer, peer_channel) = self.links[&(from, channel)];
        self.run_until(Duration::from_secs(1), |s| {
            s.opened(from, channel) && s.opened(peer, peer_channel)
        });
        channel
    }

    /// Links `from` to `to` over a connection that is up already (as a
    /// socket pair would): `from` attaches it (`Actor::attach_connected`),
    /// `to` accepts it. Returns `from`'s channel and `to`'s, without
    /// waiting for the handshake.
    pub fn attach(&mut self, from: usize, to: usize) -> (ChannelId, ChannelId) {
        let now = self.now;
        let channel = self.nodes[from].actor.attach_connected(now);
        let accepted = self.nodes[to].actor.handle_accepted(now);
        self.links.insert((from, channel), (to, accepted));
        self.links.insert((to, accepted), (from, channel));
        self.drain(from);
        self.drain(to);
        (channel, accepted)
    }

    /// Whether node `node` has seen `channel` open.
    pub fn opened(&self, node: usize, channel: ChannelId) -> bool {
        self.nodes[node]
            .events
            .iter()
            .any(|e| matches!(e, Event::ChannelOpened { channel: c, .. } if *c == channel))
    }

    /// Waits for the final input of an opener's dialog and returns it.
    pub fn outcome(&mut self, node: usize, dialog: DialogId, limit: Duration) -> Incoming {
        let mut got = None;
        self.run_until(limit, |s| {
            while let Ok(Some(item)) = s.nodes[node].actor.recv(dialog) {
                if item.is_final() {
                    got = Some(item);
                    return true;
                }
            }
            false
        });
        got.expect("a final input")
    }

    /// Takes everything the dialog has received so far.
    pub fn take(&mut self, node: usize, dialog: DialogId) -> Vec<Incoming> {
        let mut items = Vec::new();
        while let Ok(Some(item)) = self.nodes[node].actor.recv(dialog) {
            items.push(item);
        }
        items
    }

    /// Runs until the dialog has received something that matches `want`,
    /// and returns everything received up to and including it.
    pub fn recv_until(
        &mut self,
        node: usize,
        dialog: DialogId,
        limit: Duration,
        mut want: impl FnMut(&Incoming) -> bool,
    ) -> Vec<Incoming> {
        let mut items = Vec::new();
        self.run_until(limit, |s| {
            while let Ok(Some(item)) = s.nodes[node].actor.recv(dialog) {
                let hit = want(&item);
                items.push(item);
                if hit {
                    return true;
                }
            }
            false
        });
        items
    }

    /// Asserts that node `node` holds nothing that lives on.
    pub fn assert_clean(&self, node: usize) {
        let actor = &self.nodes[node].actor;
        assert!(
            actor.is_idle(),
            "{} still holds state: {actor:?}",
            actor.uid()
        );
    }
}

impl Sim {
    /// The types of the messages sent from `from` to `to`, in order.
    pub fn wire_types(&self, from: usize, to: usize) -> Vec<&'static str> {
        self.wire
            .iter()
            .filter(|w| w.from == from && w.to == to)
            .map(|w| w.msg.msg_type().as_str())
            .collect()
    }

    /// The events of node `node` that match `f`.
    pub fn events_of<T>(&self, node: usize, f: impl FnMut(&Event) -> Option<T>) -> Vec<T> {
        self.nodes[node].events.iter().filter_map(f).collect()
    }
}

pub fn tcp(port: u16) -> Address {
    Address::tcp("127.0.0.1", port)
}
