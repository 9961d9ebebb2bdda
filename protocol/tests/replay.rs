//! Transcript replay: our core plays one actor of a recorded conversation
//! between Python actors.
//!
//! The core gets the recorded actor's identity and is fed, in the recorded
//! order, every frame that actor received; a small script plays the part of
//! its application (what Python's user code and runtime did). Every message
//! the core sends must be the one the Python actor sent next on that
//! connection: same type, same fields, with only the things that differ
//! from run to run mapped (cids the actor made up itself) or left out
//! (error messages and tracebacks, which are Python's own text).

mod common;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use serde::Serialize;
use serde_json::Value;
use tractor_protocol::{
    Action, Actor, ActorConfig, Address, ChannelId, ChildId, DialogError, DialogId, Event,
    FrameDecoder, Incoming, LocalError, LockStatus, Msg, Output, Raw, RuntimeVars, SpawnRequest,
    TaskError, Uid,
};

use common::{Transcript, transcript};

/// What the script can touch.
struct Ctl<'a> {
    actor: &'a mut Actor,
    now: Instant,
}

/// The application side of the replayed actor.
trait Script {
    fn start(&mut self, ctl: &mut Ctl<'_>);
    fn on_event(&mut self, ctl: &mut Ctl<'_>, event: &Event);
}

struct Replay {
    actor: Actor,
    role: String,
    start: Instant,
    now: Instant,
    conns: HashMap<String, ChannelId>,
    /// Connections the core asked for, by the name of the actor at the
    /// address, not yet matched to a recorded connection.
    pending: VecDeque<(ChannelId, String)>,
    names: HashMap<Address, String>,
    pids: HashMap<String, u32>,
    sent: HashMap<ChannelId, VecDeque<Msg>>,
    decoders: HashMap<ChannelId, (FrameDecoder, BytesMut)>,
    /// Python's cids (made up by the replayed actor) to ours.
    cids: HashMap<String, String>,
    log: Vec<String>,
}

impl Replay {
    fn new(t: &Transcript, role: &str, configure: impl FnOnce(&mut ActorConfig)) -> Self {
        let (_, uuid, pid) = t
            .actors
            .iter()
            .find(|a| a.0 == role)
            .expect("role is an actor");
        let mut config = ActorConfig::new(role, uuid.clone());
        config.pid = Some(*pid);
        configure(&mut config);
        let start = Instant::now();
        Replay {
            actor: Actor::new(config),
            role: role.to_owned(),
            start,
            now: start,
            conns: HashMap::new(),
            pending: VecDeque::new(),
            names: HashMap::new(),
            pids: t.actors.iter().map(|(n, _, p)| (n.clone(), *p)).collect(),
            sent: HashMap::new(),
            decoders: HashMap::new(),
            cids: HashMap::new(),
            log: Vec::new(),
        }
    }

    /// Runs the driver's rule: poll until `Timeout`, carrying out actions
    /// and handing events to the script.
    fn pump(&mut self, script: &mut dyn Script) {
        loop {
            match self.actor.poll_output() {
                Output::Transmit(t) => {
                    let (decoder, buf) = self.decoders.entry(t.channel).or_default();
                    buf.extend_from_slice(&t.data);
                    while let Some(frame) = decoder.decode(buf).unwrap() {
                        let msg = frame.msg().unwrap();
                        self.sent.entry(t.channel).or_default().push_back(msg);
                    }
                }
                Output::Action(Action::Connect { channel, addr }) => {
                    let name = self.names.get(&addr).cloned().unwrap_or_else(|| {
                        panic!("the script connects to {addr}, which it did not name")
                    });
                    self.pending.push_back((channel, name));
                    self.actor.handle_connected(self.now, channel);
                }
                Output::Action(Action::Spawn { child, uid, .. }) => {
                    let pid = self.pids[&uid.name];
                    self.actor.handle_spawned(child, pid);
                }
                Output::Action(other) => self.log.push(format!("{other:?}")),
                Output::Event(e) => {
                    let mut ctl = Ctl {
                        actor: &mut self.actor,
                        now: self.now,
                    };
                    script.on_event(&mut ctl, &e);
                }
                Output::Timeout(_) => return,
            }
        }
    }

    /// The channel of a recorded connection to actor `peer`.
    fn channel(&mut self, conn: &str, peer: &str) -> ChannelId {
        if let Some(ch) = self.conns.get(conn) {
            return *ch;
        }
        let ch = match self.pending.iter().position(|(_, n)| n == peer) {
            Some(i) => self.pending.remove(i).unwrap().0,
            None => self.actor.handle_accepted(self.now),
        };
        self.conns.insert(conn.to_owned(), ch);
        ch
    }

    /// Python's frame, with the cids our actor made up in place of the
    /// recorded actor's.
    fn rewrite(&self, frame: &[u8]) -> Vec<u8> {
        let mut out = frame.to_vec();
        for (theirs, ours) in &self.cids {
            assert_eq!(theirs.len(), ours.len());
            let (t, o) = (theirs.as_bytes(), ours.as_bytes());
            let mut i = 0;
            while i + t.len() <= out.len() {
                if &out[i..i + t.len()] == t {
                    out[i..i + t.len()].copy_from_slice(o);
                    i += t.len();
                } else {
                    i += 1;
                }
            }
        }
        out
    }

    fn run(mut self, t: &Transcript, script: &mut dyn Script) -> Self {
        {
            let mut ctl = Ctl {
                actor: &mut self.actor,
                now: self.now,
            };
            script.start(&mut ctl);
        }
        self.pump(script);
        for w in &t.wire {
            self.now = self.start + Duration::from_secs_f64(w.t_ms / 1000.0);
            let what = format!(
                "{} seq {} ({} -> {} {})",
                t.scenario, w.seq, w.actor, w.peer, w.msg_type
            );
            if w.actor == self.role {
                self.pump(script);
                let ch = self.channel(&w.conn, &w.peer);
                self.pump(script);
                let ours = self
                    .sent
                    .get_mut(&ch)
                    .and_then(VecDeque::pop_front)
                    .unwrap_or_else(|| {
                        panic!("{what}: our actor sent nothing (log: {:?})", self.log)
                    });
                self.compare(&what, &ours, &w.msg);
            } else if w.peer == self.role {
                let ch = self.channel(&w.conn, &w.actor);
                let frame = self.rewrite(&w.frame);
                self.actor.handle_data(self.now, ch, &frame);
                self.pump(script);
            }
        }
        self.pump(script);
        for (ch, rest) in &self.sent {
            assert!(
                rest.is_empty(),
                "{}: our actor sent more on {ch}: {rest:?}",
                t.scenario
            );
        }
        self
    }

    fn compare(&mut self, what: &str, ours: &Msg, theirs: &Value) {
        let mut ours: Value = serde_json::from_str(&ours.to_json()).unwrap();
        // A cid the recorded actor made up is matched to ours.
        if let (Some(t), Some(o)) = (theirs["cid"].as_str(), ours["cid"].as_str())
            && t != o
            && !self.cids.contains_key(t)
        {
            self.cids.insert(t.to_owned(), o.to_owned());
        }
        let mut theirs = theirs.clone();
        map_strings(&mut theirs, &self.cids);
        // The one deliberate difference: our Aid offers credit flow control
        // under a key Python ignores (see the Actor docs). Nothing else of
        // it may show towards a Python peer.
        if ours["msg_type"] == "Aid" {
            let offered = ours.as_object_mut().unwrap().remove("credit_flow");
            assert_eq!(offered, Some(Value::from(1)), "{what}");
        }
        for v in [&mut ours, &mut theirs] {
            if v["msg_type"] == "Error" {
                // Python's wording and tracebacks are its own.
                v["tb_str"] = Value::Null;
                v["message"] = Value::Null;
            }
        }
        assert_eq!(ours.to_string(), theirs.to_string(), "{what}");
    }
}

fn map_strings(v: &mut Value, map: &HashMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(o) = map.get(s.as_str()) {
                *s = o.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| map_strings(i, map)),
        Value::Object(m) => m.values_mut().for_each(|i| map_strings(i, map)),
        _ => {}
    }
}

fn addr(v: &Value) -> Address {
    serde_json::from_value::<(String, Value)>(v.clone())
        .map(|(a, b)| match b {
            Value::Number(n) => Address::tcp(a, n.as_u64().unwrap() as u16),
            Value::String(f) => Address::uds(a, f),
            other => panic!("address {other}"),
        })
        .unwrap()
}

/// The first recorded message matching `f`.
fn find(t: &Transcript, mut f: impl FnMut(&common::WireFrame) -> bool) -> &Value {
    &t.wire.iter().find(|w| f(w)).expect("recorded").msg
}

fn raw(v: impl Serialize) -> Raw {
    Raw::encode(&v).unwrap()
}

// ---------------------------------------------------------------------------
// The child's side: boot, register, serve, cancel, unregister (D1, D2).

/// What a served function does.
#[derive(Clone)]
enum Behaviour {
    /// An asyncfunc returning this.
    Returns(Raw),
    /// `ctx_stream_child`: started {"ready": 1}, echoes `child-N` for each
    /// item, returns the list of items after the opener's Stop.
    CtxStream,
    /// `ctx_raises`: started, then ValueError.
    CtxRaises,
    /// `ctx_sleep_forever`: started, then waits to be cancelled.
    CtxSleepForever,
    /// `pause_then_return`: takes the terminal lock from the root, gives it
    /// back, returns "resumed".
    PauseThenReturn,
    /// `mid_spawns_leaf`: spawns `leaf`, runs `leaf_raises` in it, reaps
    /// it and relays its error.
    SpawnsLeaf(Box<SpawnRequest>),
}

struct Child {
    parent: Address,
    me: Address,
    funcs: HashMap<String, Behaviour>,
    registrar: Option<Address>,
    reg_channel: Option<ChannelId>,
    unreg_channel: Option<ChannelId>,
    running: HashMap<DialogId, (Behaviour, Vec<String>)>,
    /// The lock connection and dialog of `pause_then_return`.
    lock: Option<(DialogId, Option<ChannelId>, Option<DialogId>)>,
    /// `mid_spawns_leaf`: the task, the leaf and the call into it.
    relay: Option<(DialogId, Option<ChildId>, Option<DialogId>)>,
}

impl Child {
    fn new(parent: Address, me: Address, funcs: &[(&str, Behaviour)]) -> Self {
        Child {
            parent,
            me,
            funcs: funcs
                .iter()
                .map(|(f, b)| (f.to_string(), b.clone()))
                .collect(),
            registrar: None,
            reg_channel: None,
            unreg_channel: None,
            running: HashMap::new(),
            lock: None,
            relay: None,
        }
    }
}

impl Script for Child {
    fn start(&mut self, ctl: &mut Ctl<'_>) {
        ctl.actor.connect_parent(self.parent.clone());
    }

    fn on_event(&mut self, ctl: &mut Ctl<'_>, event: &Event) {
        let me = ctl.actor.uid().clone();
        match event {
            Event::SpawnSpecReceived { spec } => {
                ctl.actor.set_accept_addrs(vec![self.me.clone()]);
                let registrar = spec.reg_addrs[0].clone();
                self.reg_channel = Some(ctl.actor.connect(registrar.clone()));
                self.registrar = Some(registrar);
            }
            Event::ChannelOpened { channel, .. } if Some(*channel) == self.reg_channel => {
                #[derive(Serialize)]
                struct Register {
                    uid: Uid,
                    addr: Address,
                }
                let kwargs = raw(Register {
                    uid: me,
                    addr: self.me.clone(),
                });
                ctl.actor
                    .call(*channel, "self", "register_actor", kwargs)
                    .unwrap();
            }
            Event::ChannelOpened { channel, .. } if Some(*channel) == self.unreg_channel => {
                #[derive(Serialize)]
                struct Unregister {
                    uid: Uid,
                }
                ctl.actor
                    .call(
                        *channel,
                        "self",
                        "unregister_actor",
                        raw(Unregister { uid: me }),
                    )
                    .unwrap();
            }
            Event::ChannelOpened { channel, .. }
                if self.lock.is_some_and(|(_, ch, _)| ch == Some(*channel)) =>
            {
                let d = ctl
                    .actor
                    .request_tty_lock(*channel, ("pause_then_return", 140579720426640))
                    .unwrap();
                self.lock.as_mut().unwrap().2 = Some(d);
            }
            Event::ActorCancelRequested { .. } => {
                let registrar = self.registrar.clone().unwrap();
                self.unreg_channel = Some(ctl.actor.connect(registrar));
            }
            Event::Invoke { dialog, func, .. } => {
                let b = self.funcs[func.as_str()].clone();
                ctl.actor.accept(*dialog).unwrap();
                match &b {
                    Behaviour::Returns(v) => ctl.actor.finish(*dialog, Ok(v.clone())).unwrap(),
                    Behaviour::CtxStream => {
                        ctl.actor
                            .started(*dialog, raw(serde_json::json!({"ready": 1})))
                            .unwrap();
                        ctl.actor.open_stream(*dialog).unwrap();
                    }
                    Behaviour::CtxRaises => {
                        ctl.actor.started(*dialog, raw("about-to-fail")).unwrap();
                        let err = LocalError::new("ValueError", "child says no");
                        ctl.actor.finish(*dialog, Err(err.into())).unwrap();
                    }
                    Behaviour::CtxSleepForever => {
                        ctl.actor.started(*dialog, raw("sleeping")).unwrap();
                    }
                    Behaviour::PauseThenReturn => {
                        let root = ctl.actor.runtime_vars().root_mailbox.clone().unwrap();
                        let ch = ctl.actor.connect(root);
                        self.lock = Some((*dialog, Some(ch), None));
                    }
                    Behaviour::SpawnsLeaf(request) => {
                        let leaf = ctl.actor.spawn((**request).clone());
                        self.relay = Some((*dialog, Some(leaf), None));
                    }
                }
                self.running.insert(*dialog, (b, Vec::new()));
            }
            Event::ChildConnected { child, channel } => {
                if let Some((_, Some(leaf), call)) = &mut self.relay
                    && leaf == child
                {
                    *call = Some(
                        ctl.actor
                            .call(*channel, "__mp_main__", "leaf_raises", Raw::EMPTY_MAP)
                            .unwrap(),
                    );
                }
            }
            Event::Cancel { dialog, .. } => {
                let _ = ctl.actor.finish(*dialog, Err(TaskError::Cancelled));
            }
            Event::Readable { dialog } => {
                while let Ok(Some(item)) = ctl.actor.recv(*dialog) {
                    self.on_input(ctl, *dialog, item);
                }
            }
            _ => {}
        }
    }
}

impl Child {
    fn on_input(&mut self, ctl: &mut Ctl<'_>, dialog: DialogId, item: Incoming) {
        let now = ctl.now;
        // The terminal lock we asked for.
        if let Some((task, _, Some(lock))) = self.lock
            && lock == dialog
        {
            match item {
                Incoming::Started(status) => {
                    let status: LockStatus = status.decode().unwrap();
                    assert!(status.locked);
                    assert_eq!(&status.subactor_uid, ctl.actor.uid());
                    ctl.actor.release_tty_lock(lock).unwrap();
                    ctl.actor.finish(task, Ok(raw("resumed"))).unwrap();
                }
                Incoming::Return(_) => ctl.actor.leave(now, lock, false).unwrap(),
                _ => {}
            }
            return;
        }
        // The leaf's failure, relayed up after reaping it.
        if let Some((task, Some(leaf), Some(call))) = self.relay
            && call == dialog
        {
            if let Incoming::Error(DialogError::Remote(e)) = item {
                ctl.actor.cancel_child(now, leaf);
                ctl.actor.finish(task, Err(TaskError::Remote(e))).unwrap();
            }
            return;
        }
        let Some((behaviour, seen)) = self.running.get_mut(&dialog) else {
            return;
        };
        if let (Behaviour::CtxStream, Incoming::Yield(v)) = (&*behaviour, &item) {
            let v: String = v.decode().unwrap();
            seen.push(format!("'{v}'"));
            let n = seen.len() - 1;
            ctl.actor.send(dialog, raw(format!("child-{n}"))).unwrap();
        } else if let (Behaviour::CtxStream, Incoming::Stop) = (&*behaviour, &item) {
            let done = format!("done:[{}]", seen.join(", "));
            ctl.actor.close_stream(dialog).unwrap();
            ctl.actor.finish(dialog, Ok(raw(done))).unwrap();
        }
    }
}

fn replay_child(scenario: &str, role: &str, funcs: &[(&str, Behaviour)]) {
    let t = transcript(scenario);
    // The root is parent, registrar and terminal-lock server at once.
    let spec = find(&t, |w| w.peer == role && w.msg_type == "SpawnSpec");
    let parent = addr(&spec["_runtime_vars"]["_root_mailbox"]);
    let register = find(&t, |w| w.actor == role && w.msg["func"] == "register_actor");
    let me = addr(&register["kwargs"]["addr"]);
    // The functions this child serves, as its code declares them.
    let mut replay = Replay::new(&t, role, |c| {
        for (func, b) in funcs {
            let kind = match b {
                Behaviour::CtxStream | Behaviour::CtxRaises | Behaviour::CtxSleepForever => {
                    tractor_protocol::FuncType::Context
                }
                _ => tractor_protocol::FuncType::AsyncFunc,
            };
            c.endpoints.insert("__main__", *func, kind);
        }
    });
    replay.names.insert(parent.clone(), "root".into());
    let mut script = Child::new(parent, me, funcs);
    replay.run(&t, &mut script);
}

#[test]
fn child_of_run_in_actor() {
    replay_child(
        "run_in_actor",
        "child",
        &[("answer", Behaviour::Returns(raw("Dang that's beautiful")))],
    );
}

#[test]
fn child_of_uds_run_in_actor() {
    let t = transcript("uds_run_in_actor");
    let ret = find(&t, |w| w.actor == "child" && w.msg_type == "Return")["pld"].clone();
    replay_child(
        "uds_run_in_actor",
        "child",
        &[("answer", Behaviour::Returns(raw(ret)))],
    );
}

#[test]
fn child_of_cancel_actor() {
    replay_child(
        "cancel_actor",
        "child",
        &[("trivial", Behaviour::Returns(raw(1)))],
    );
}

#[test]
fn child_of_ctx_stream() {
    replay_child(
        "ctx_stream",
        "child",
        &[("ctx_stream_child", Behaviour::CtxStream)],
    );
}

#[test]
fn child_of_ctx_error() {
    replay_child(
        "ctx_error",
        "child",
        &[("ctx_raises", Behaviour::CtxRaises)],
    );
}

#[test]
fn child_of_ctx_cancel() {
    replay_child(
        "ctx_cancel",
        "child",
        &[("ctx_sleep_forever", Behaviour::CtxSleepForever)],
    );
}

#[test]
fn child_of_debug_pause() {
    replay_child(
        "debug_pause",
        "child",
        &[("pause_then_return", Behaviour::PauseThenReturn)],
    );
}

#[test]
fn mid_of_nested_error_relay() {
    let t = transcript("nested_error_relay");
    let request = request_for(&t, "leaf");
    replay_child(
        "nested_error_relay",
        "mid",
        &[("mid_spawns_leaf", Behaviour::SpawnsLeaf(Box::new(request)))],
    );
}

// ---------------------------------------------------------------------------
// The root's side: registrar, parent, terminal-lock server.

/// A root that spawns its children, makes one call into each, and cancels
/// them all once every call has returned (an actor nursery with
/// `run_in_actor` children).
struct Root {
    /// (request, function to call in `__main__`), in spawn order.
    spawns: VecDeque<(SpawnRequest, String)>,
    channels: Vec<ChannelId>,
    calls: Vec<DialogId>,
    done: usize,
    total: usize,
}

impl Script for Root {
    fn start(&mut self, ctl: &mut Ctl<'_>) {
        for (request, _) in &self.spawns {
            ctl.actor.spawn(request.clone());
        }
    }

    fn on_event(&mut self, ctl: &mut Ctl<'_>, event: &Event) {
        let now = ctl.now;
        match event {
            Event::ChildConnected { channel, .. } => {
                self.channels.push(*channel);
                let (_, func) = self.spawns.pop_front().unwrap();
                let d = ctl
                    .actor
                    .call(*channel, "__main__", &func, Raw::EMPTY_MAP)
                    .unwrap();
                self.calls.push(d);
            }
            Event::Readable { dialog } if self.calls.contains(dialog) => {
                while let Ok(Some(item)) = ctl.actor.recv(*dialog) {
                    if item.is_final() {
                        self.done += 1;
                    }
                }
                if self.done == self.total {
                    for ch in self.channels.clone() {
                        ctl.actor.cancel_actor(now, ch).unwrap();
                    }
                }
            }
            _ => {}
        }
    }
}

/// The spawn request that reproduces the recorded `SpawnSpec` to `name`.
fn request_for(t: &Transcript, name: &str) -> SpawnRequest {
    let spec = find(t, |w| w.peer == name && w.msg_type == "SpawnSpec");
    let uuid = t.actors.iter().find(|a| a.0 == name).unwrap().1.clone();
    SpawnRequest {
        uuid: Some(uuid),
        parent_main_data: raw(spec["_parent_main_data"].clone()),
        enable_modules: serde_json::from_value::<serde_json::Map<String, Value>>(
            spec["enable_modules"].clone(),
        )
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap().to_owned()))
        .collect(),
        ..SpawnRequest::new(name)
    }
}

fn replay_root(scenario: &str, children: &[(&str, &str)]) {
    let t = transcript(scenario);
    let me = addr(&t.registrar_addr);
    let spec = find(&t, |w| w.msg_type == "SpawnSpec");
    let debug = spec["_runtime_vars"]["_debug_mode"] == true;
    let tpt = spec["_runtime_vars"]["_enable_tpts"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let mut replay = Replay::new(&t, "root", |c| {
        c.is_registrar = true;
        c.serve_tty_lock = true;
    });
    replay.actor.set_accept_addrs(vec![me.clone()]);
    replay.actor.set_runtime_vars(RuntimeVars {
        root_mailbox: Some(me.clone()),
        root_addrs: vec![me.clone()],
        registry_addrs: vec![me.clone()],
        enable_transports: vec![tpt],
        debug_mode: debug,
        ..RuntimeVars::default()
    });
    let mut script = Root {
        spawns: children
            .iter()
            .map(|(name, func)| (request_for(&t, name), func.to_string()))
            .collect(),
        channels: Vec::new(),
        calls: Vec::new(),
        done: 0,
        total: children.len(),
    };
    replay.run(&t, &mut script);
}

#[test]
fn root_of_run_in_actor() {
    replay_root("run_in_actor", &[("child", "answer")]);
}

#[test]
fn root_of_debug_pause_serves_the_terminal_lock() {
    replay_root("debug_pause", &[("child", "pause_then_return")]);
}

#[test]
fn root_of_registrar_serves_register_find_and_wait() {
    // svc is a daemon: it is only cancelled at the end; client runs
    // `client_lookup` against the registrar.
    let t = transcript("registrar");
    let me = addr(&t.registrar_addr);
    let svc_register = find(&t, |w| {
        w.actor == "svc" && w.msg["func"] == "register_actor"
    });
    let svc_addr = addr(&svc_register["kwargs"]["addr"]);
    let mut replay = Replay::new(&t, "root", |c| c.is_registrar = true);
    replay.actor.set_accept_addrs(vec![me.clone()]);
    replay.actor.set_runtime_vars(RuntimeVars {
        root_mailbox: Some(me.clone()),
        root_addrs: vec![me.clone()],
        registry_addrs: vec![me.clone()],
        ..RuntimeVars::default()
    });
    replay.names.insert(svc_addr.clone(), "svc".into());
    let mut script = Registrar {
        svc: request_for(&t, "svc"),
        client: request_for(&t, "client"),
        svc_addr,
        channels: Vec::new(),
        lookup: None,
        to_svc: None,
    };
    let replay = replay.run(&t, &mut script);
    // The registrar's table ends with the root alone.
    assert_eq!(replay.actor.registry().len(), 1);
}

struct Registrar {
    svc: SpawnRequest,
    client: SpawnRequest,
    svc_addr: Address,
    channels: Vec<ChannelId>,
    lookup: Option<DialogId>,
    /// Our own connection to svc, once made.
    to_svc: Option<ChannelId>,
}

impl Script for Registrar {
    fn start(&mut self, ctl: &mut Ctl<'_>) {
        ctl.actor.spawn(self.svc.clone());
    }

    fn on_event(&mut self, ctl: &mut Ctl<'_>, event: &Event) {
        let now = ctl.now;
        match event {
            Event::ChildConnected { channel, .. } => {
                self.channels.push(*channel);
                if self.channels.len() == 1 {
                    ctl.actor.spawn(self.client.clone());
                } else {
                    let d = ctl
                        .actor
                        .call(*channel, "__main__", "client_lookup", Raw::EMPTY_MAP)
                        .unwrap();
                    self.lookup = Some(d);
                }
            }
            Event::Readable { dialog } if Some(*dialog) == self.lookup => {
                if let Ok(Some(Incoming::Return(_))) = ctl.actor.recv(*dialog) {
                    // Python's root looks svc up itself and connects to it
                    // before cancelling its children.
                    self.to_svc = Some(ctl.actor.connect(self.svc_addr.clone()));
                }
            }
            Event::ChannelOpened { channel, .. } if Some(*channel) == self.to_svc => {
                for ch in self.channels.clone() {
                    ctl.actor.cancel_actor(now, ch).unwrap();
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// The opener's side of contexts.

/// How the root uses its one child's context.
#[derive(Clone, Copy, PartialEq)]
enum Use {
    /// `ctx_stream`: three items each way, then close and take the result.
    Stream,
    /// `ctx_error`: the child raises; our block fails and is left.
    Error,
    /// `ctx_cancel`: we cancel the sleeping child.
    Cancel,
}

struct Opener {
    child: SpawnRequest,
    func: String,
    kwargs: Raw,
    usage: Use,
    channel: Option<ChannelId>,
    ctx: Option<DialogId>,
    got: usize,
}

impl Script for Opener {
    fn start(&mut self, ctl: &mut Ctl<'_>) {
        ctl.actor.spawn(self.child.clone());
    }

    fn on_event(&mut self, ctl: &mut Ctl<'_>, event: &Event) {
        let now = ctl.now;
        match event {
            Event::ChildConnected { channel, .. } => {
                self.channel = Some(*channel);
                let d = ctl
                    .actor
                    .open_context(
                        *channel,
                        "__main__",
                        &self.func,
                        self.kwargs.clone(),
                        Default::default(),
                    )
                    .unwrap();
                self.ctx = Some(d);
            }
            Event::Readable { dialog } if Some(*dialog) == self.ctx => {
                let d = *dialog;
                while let Ok(Some(item)) = ctl.actor.recv(d) {
                    match (self.usage, item) {
                        (Use::Stream, Incoming::Started(_)) => {
                            ctl.actor.open_stream(d).unwrap();
                            for i in 0..3 {
                                ctl.actor.send(d, raw(format!("parent-{i}"))).unwrap();
                            }
                        }
                        (Use::Stream, Incoming::Yield(_)) => {
                            self.got += 1;
                            if self.got == 3 {
                                ctl.actor.close_stream(d).unwrap();
                            }
                        }
                        (Use::Cancel, Incoming::Started(_)) => ctl.actor.cancel(now, d).unwrap(),
                        (_, item) if item.is_final() => {
                            let failed = matches!(item, Incoming::Error(DialogError::Remote(_)));
                            ctl.actor.leave(now, d, failed).unwrap();
                            ctl.actor.cancel_actor(now, self.channel.unwrap()).unwrap();
                            return;
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

fn replay_opener(scenario: &str, func: &str, usage: Use) {
    let t = transcript(scenario);
    let me = addr(&t.registrar_addr);
    let start = find(&t, |w| w.actor == "root" && w.msg["func"] == func);
    let mut replay = Replay::new(&t, "root", |c| {
        c.is_registrar = true;
        c.serve_tty_lock = true;
    });
    replay.actor.set_accept_addrs(vec![me.clone()]);
    replay.actor.set_runtime_vars(RuntimeVars {
        root_mailbox: Some(me.clone()),
        root_addrs: vec![me.clone()],
        registry_addrs: vec![me.clone()],
        ..RuntimeVars::default()
    });
    let mut script = Opener {
        child: request_for(&t, "child"),
        func: func.to_owned(),
        kwargs: raw(start["kwargs"].clone()),
        usage,
        channel: None,
        ctx: None,
        got: 0,
    };
    replay.run(&t, &mut script);
}

#[test]
fn root_of_ctx_stream() {
    replay_opener("ctx_stream", "ctx_stream_child", Use::Stream);
}

#[test]
fn root_of_ctx_error_sends_cancel_task_after_the_error() {
    replay_opener("ctx_error", "ctx_raises", Use::Error);
}

#[test]
fn root_of_ctx_cancel() {
    replay_opener("ctx_cancel", "ctx_sleep_forever", Use::Cancel);
}

#[test]
fn root_of_cancel_actor() {
    replay_root("cancel_actor", &[("child", "trivial")]);
}
