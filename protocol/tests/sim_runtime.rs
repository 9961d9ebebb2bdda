//! The runtime services the core serves itself: the registrar and the
//! debugger's terminal lock. Tests named after a scenario id of
//! spec/SCENARIOS.md check that scenario.

mod sim;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tractor_protocol::{
    Address, ChannelId, DialogError, DialogId, Endpoints, Event, FuncType, Incoming, LocalCall,
    LockStatus, Raw, Uid,
};

use sim::{Idle, Sim, tcp};

const SECOND: Duration = Duration::from_secs(1);

fn registrar_tree(seed: u64, clients: &[&str]) -> (Sim, usize, Vec<(usize, ChannelId)>) {
    let mut sim = Sim::new(seed);
    let mut cfg = Sim::config("root");
    cfg.is_registrar = true;
    cfg.serve_tty_lock = true;
    let root = sim.add(cfg, tcp(1616), Idle);
    sim.nodes[root].actor.set_accept_addrs(vec![tcp(1616)]);
    let mut out = Vec::new();
    for (i, name) in clients.iter().enumerate() {
        let node = sim.add(Sim::config(name), tcp(2000 + i as u16), Idle);
        let ch = sim.connect(node, root);
        out.push((node, ch));
    }
    (sim, root, out)
}

fn call(sim: &mut Sim, node: usize, ch: ChannelId, func: &str, kwargs: Raw) -> DialogId {
    sim.with(node, |cx| cx.actor.call(ch, "self", func, kwargs))
        .unwrap()
}

fn result(sim: &mut Sim, node: usize, d: DialogId) -> Raw {
    match sim.outcome(node, d, SECOND) {
        Incoming::Return(v) => v,
        other => panic!("{other:?}"),
    }
}

fn uid_of(sim: &Sim, node: usize) -> Uid {
    sim.nodes[node].actor.uid().clone()
}

#[derive(Serialize)]
struct Register {
    uid: Uid,
    addr: Address,
}

#[derive(Serialize)]
struct Name<'a> {
    name: &'a str,
}

fn register(sim: &mut Sim, node: usize, ch: ChannelId) {
    let me = uid_of(sim, node);
    let addr = sim.nodes[node].addr.clone();
    let d = call(
        sim,
        node,
        ch,
        "register_actor",
        Raw::encode(&Register { uid: me, addr }).unwrap(),
    );
    assert_eq!(result(sim, node, d), Raw::NIL);
}

#[test]
fn disc_self_registered() {
    let (mut sim, root, clients) = registrar_tree(1, &["client"]);
    assert_eq!(
        sim.nodes[root].actor.registry(),
        [(uid_of(&sim, root), vec![tcp(1616)])]
    );
    let (client, ch) = clients[0];
    let d = call(
        &mut sim,
        client,
        ch,
        "wait_for_actor",
        Raw::encode(&Name { name: "root" }).unwrap(),
    );
    let addrs: Vec<Address> = result(&mut sim, client, d).decode().unwrap();
    assert_eq!(addrs, [tcp(1616)]);
    assert!(sim.elapsed() < Duration::from_millis(200));
}

/// rpc-local-portal-self, the core's part: a registrar's call to itself
/// (`Actor::call_local`) is decided as a peer's `Start` would be and
/// answered in process, without a message; registrar methods are answered
/// at once (or, for a name nobody registered, once the registry changes),
/// plain functions are the driver's to run, and what would need a dialog
/// with oneself is refused.
#[test]
fn rpc_local_portal_self() {
    let mut sim = Sim::new(8);
    let mut cfg = Sim::config("root");
    cfg.is_registrar = true;
    cfg.endpoints = Endpoints::new()
        .expose("app", "plain", FuncType::AsyncFunc)
        .expose("app", "ctx", FuncType::Context)
        .expose("app", "gen", FuncType::AsyncGen);
    let root = sim.add(cfg, tcp(1616), Idle);
    sim.nodes[root].actor.set_accept_addrs(vec![tcp(1616)]);
    let client = sim.add(Sim::config("client"), tcp(2000), Idle);
    let ch = sim.connect(client, root);
    let local = |sim: &mut Sim, node: usize, ns: &str, func: &str, kwargs: Raw| {
        sim.with(node, |cx| cx.actor.call_local(ns, func, &kwargs))
    };
    let wire_before = sim.wire_types(root, client).len();
    // The scenario: the registrar waits for itself, answered at once.
    let me = Raw::encode(&Name { name: "root" }).unwrap();
    let LocalCall::Answer(v) = local(&mut sim, root, "self", "wait_for_actor", me.clone()).unwrap()
    else {
        panic!("answered at once")
    };
    let addrs: Vec<Address> = v.decode().unwrap();
    assert_eq!(addrs, [tcp(1616)]);
    let found = local(&mut sim, root, "self", "find_actor", me).unwrap();
    assert_eq!(found, LocalCall::Answer(Raw::encode(&[tcp(1616)]).unwrap()));
    let miss = Raw::encode(&Name { name: "nobody" }).unwrap();
    assert_eq!(
        local(&mut sim, root, "self", "find_actor", miss).unwrap(),
        LocalCall::Answer(Raw::NIL)
    );
    let LocalCall::Answer(table) =
        local(&mut sim, root, "self", "get_registry", Raw::EMPTY_MAP).unwrap()
    else {
        panic!("answered at once")
    };
    let table: BTreeMap<String, Vec<Address>> = table.decode().unwrap();
    let key = format!("root.{}", uid_of(&sim, root).uuid);
    assert_eq!(table, BTreeMap::from([(key, vec![tcp(1616)])]));
    // A name nobody registered: wait, until the registry changes.
    let client_name = Raw::encode(&Name { name: "client" }).unwrap();
    assert_eq!(
        local(
            &mut sim,
            root,
            "self",
            "wait_for_actor",
            client_name.clone()
        )
        .unwrap(),
        LocalCall::Wait
    );
    let changes = |sim: &Sim| {
        sim.events_of(root, |e| matches!(e, Event::RegistryChanged).then_some(()))
            .len()
    };
    let before = changes(&sim);
    register(&mut sim, client, ch);
    assert_eq!(changes(&sim), before + 1);
    assert_eq!(
        local(&mut sim, root, "self", "wait_for_actor", client_name).unwrap(),
        LocalCall::Answer(Raw::encode(&[tcp(2000)]).unwrap())
    );
    // Nothing of it went over the wire: the registrar sent only its
    // answers to the client's registration.
    assert_eq!(
        sim.wire_types(root, client)[wire_before..],
        ["StartAck", "Return"]
    );
    // Plain functions run in the caller; what needs a dialog is refused.
    assert_eq!(
        local(&mut sim, root, "app", "plain", Raw::EMPTY_MAP).unwrap(),
        LocalCall::Run
    );
    let refused = |sim: &mut Sim, node: usize, ns: &str, func: &str, kwargs: Raw| {
        let e = local(sim, node, ns, func, kwargs).unwrap_err();
        format!("{}: {}", e.type_name, e.message)
    };
    for func in ["ctx", "gen"] {
        let e = refused(&mut sim, root, "app", func, Raw::EMPTY_MAP);
        assert!(
            e.starts_with("RuntimeError: ") && e.contains("invalid operation"),
            "{e}"
        );
    }
    let e = refused(&mut sim, root, "app", "missing", Raw::EMPTY_MAP);
    assert!(e.starts_with("AttributeError: "), "{e}");
    let e = refused(&mut sim, root, "other", "plain", Raw::EMPTY_MAP);
    assert!(e.starts_with("ModuleNotExposed: "), "{e}");
    let e = refused(&mut sim, root, "app", "plain", Raw::NIL);
    assert!(e.starts_with("TypeError: "), "{e}");
    let e = refused(&mut sim, root, "self", "find_actor", Raw::EMPTY_MAP);
    assert!(e.starts_with("TypeError: self.find_actor: "), "{e}");
    let e = refused(&mut sim, root, "self", "cancel", Raw::EMPTY_MAP);
    assert!(e.starts_with("RuntimeError: self.cancel "), "{e}");
    // An actor that is not the registrar answers no registrar method.
    let e = refused(&mut sim, client, "self", "find_actor", Raw::EMPTY_MAP);
    assert!(e.starts_with("RuntimeError: self.find_actor "), "{e}");
}

#[test]
fn disc_reg_then_unreg() {
    let (mut sim, root, clients) = registrar_tree(2, &["actor"]);
    let (actor, ch) = clients[0];
    register(&mut sim, actor, ch);
    let me = uid_of(&sim, actor);
    assert!(
        sim.nodes[root]
            .actor
            .registry()
            .iter()
            .any(|(u, a)| *u == me && !a.is_empty())
    );
    #[derive(Serialize)]
    struct ByUid {
        uid: Uid,
    }
    let d = call(
        &mut sim,
        actor,
        ch,
        "unregister_actor",
        Raw::encode(&ByUid { uid: me.clone() }).unwrap(),
    );
    assert_eq!(result(&mut sim, actor, d), Raw::NIL);
    assert!(
        !sim.nodes[root]
            .actor
            .registry()
            .iter()
            .any(|(u, _)| *u == me)
    );
    // The wire is Python's (transcript registrar).
    assert_eq!(sim.wire_types(actor, root), ["Aid", "Start", "Start"]);
    assert_eq!(
        sim.wire_types(root, actor),
        ["Aid", "StartAck", "Return", "StartAck", "Return"]
    );
}

#[test]
fn disc_find_miss_none() {
    let (mut sim, _, clients) = registrar_tree(3, &["client", "quote_svc"]);
    let (client, ch) = clients[0];
    let d = call(
        &mut sim,
        client,
        ch,
        "find_actor",
        Raw::encode(&Name {
            name: "no_such_svc",
        })
        .unwrap(),
    );
    assert_eq!(
        result(&mut sim, client, d),
        Raw::NIL,
        "a miss is nil, not an error"
    );
    // A wait blocks until the service registers.
    let w = call(
        &mut sim,
        client,
        ch,
        "wait_for_actor",
        Raw::encode(&Name { name: "quote_svc" }).unwrap(),
    );
    sim.sleep(SECOND);
    assert_eq!(sim.take(client, w), []);
    let (svc, svc_ch) = clients[1];
    register(&mut sim, svc, svc_ch);
    let addrs: Vec<Address> = result(&mut sim, client, w).decode().unwrap();
    assert_eq!(addrs, [sim.nodes[svc].addr.clone()]);
    // find_actor hits now, by name or by uuid.
    let uuid = uid_of(&sim, svc).uuid;
    for key in ["quote_svc", uuid.as_str()] {
        let d = call(
            &mut sim,
            client,
            ch,
            "find_actor",
            Raw::encode(&Name { name: key }).unwrap(),
        );
        let addrs: Vec<Address> = result(&mut sim, client, d).decode().unwrap();
        assert_eq!(addrs.len(), 1);
    }
}

#[test]
fn disc_registry_dump() {
    let (mut sim, root, clients) = registrar_tree(4, &["a", "b"]);
    for &(node, ch) in &clients {
        register(&mut sim, node, ch);
    }
    let (a, ch) = clients[0];
    let d = call(&mut sim, a, ch, "get_registry", Raw::EMPTY_MAP);
    let table: BTreeMap<String, Vec<Address>> = result(&mut sim, a, d).decode().unwrap();
    let mut expected = BTreeMap::new();
    for node in [root, clients[0].0, clients[1].0] {
        let uid = uid_of(&sim, node);
        expected.insert(
            format!("{}.{}", uid.name, uid.uuid),
            vec![sim.nodes[node].addr.clone()],
        );
    }
    assert_eq!(table, expected);
}

#[test]
fn disc_duplicate_name() {
    let mut sim = Sim::new(5);
    let mut cfg = Sim::config("root");
    cfg.is_registrar = true;
    let root = sim.add(cfg, tcp(1616), Idle);
    let mut doggies = Vec::new();
    for i in 0..2 {
        let node = sim.add(
            tractor_protocol::ActorConfig::new("doggy", format!("doggy-{i}")),
            tcp(3000 + i),
            Idle,
        );
        let ch = sim.connect(node, root);
        register(&mut sim, node, ch);
        doggies.push((node, ch));
    }
    let (d0, ch) = doggies[0];
    let d = call(
        &mut sim,
        d0,
        ch,
        "wait_for_actor",
        Raw::encode(&Name { name: "doggy" }).unwrap(),
    );
    let addrs: Vec<Address> = result(&mut sim, d0, d).decode().unwrap();
    assert_eq!(addrs, [tcp(3000), tcp(3001)]);
}

/// A Python actor: no credit flow, and a registration over a connection
/// it may close at once.
fn python_like(sim: &mut Sim, root: usize, name: &str, port: u16) -> (usize, ChannelId) {
    let mut cfg = Sim::config(name);
    cfg.flow_control = false;
    let node = sim.add(cfg, tcp(port), Idle);
    let ch = sim.connect(node, root);
    (node, ch)
}

fn listed_at(sim: &Sim, registrar: usize, node: usize) -> bool {
    let uid = uid_of(sim, node);
    sim.nodes[registrar]
        .actor
        .registry()
        .iter()
        .any(|(u, _)| *u == uid)
}

#[test]
fn fault_stale_registry_entry() {
    // A Python actor's entry outlives it (Python registers over a
    // connection it closes): others drop its stale address.
    let (mut sim, root, clients) = registrar_tree(6, &["client"]);
    let (stale, stale_ch) = python_like(&mut sim, root, "stale", 2100);
    register(&mut sim, stale, stale_ch);
    let (client, ch) = clients[0];
    #[derive(Serialize)]
    struct ByAddr {
        addr: Address,
    }
    let addr = sim.nodes[stale].addr.clone();
    // Its holder dies: the address is stale (a live holder's address
    // would not be dropped at a stranger's request).
    sim.crash(stale);
    sim.settle(SECOND);
    let d = call(
        &mut sim,
        client,
        ch,
        "delete_addr",
        Raw::encode(&ByAddr { addr }).unwrap(),
    );
    let removed: Option<Uid> = result(&mut sim, client, d).decode().unwrap();
    assert_eq!(removed, Some(uid_of(&sim, stale)));
    assert!(
        !sim.nodes[root]
            .actor
            .registry()
            .iter()
            .any(|(u, _)| *u == uid_of(&sim, stale))
    );
}

#[test]
fn a_rust_actor_that_dies_leaves_no_entry() {
    // One of ours registers over a connection it keeps open while it
    // lives: its entry goes with that connection, however it dies, so a
    // name resolves to no dead process (a supervised child restarted
    // under its name is found, not its crashed predecessor).
    let (mut sim, root, clients) = registrar_tree(8, &["client", "worker"]);
    let (worker, worker_ch) = clients[1];
    register(&mut sim, worker, worker_ch);
    let (python, python_ch) = python_like(&mut sim, root, "python", 2100);
    register(&mut sim, python, python_ch);
    assert!(listed_at(&sim, root, worker) && listed_at(&sim, root, python));
    sim.crash(worker);
    sim.settle(SECOND);
    assert!(!listed_at(&sim, root, worker));
    let changed = sim.events_of(root, |e| matches!(e, Event::RegistryChanged).then_some(()));
    assert!(!changed.is_empty());
    // A Python actor closing its registration's connection stays listed.
    sim.with(python, |cx| cx.actor.close(cx.now, python_ch));
    sim.settle(SECOND);
    assert!(listed_at(&sim, root, python));
    // Another actor registering under the crashed one's name is the one
    // found.
    let (client, ch) = clients[0];
    let d = call(
        &mut sim,
        client,
        ch,
        "find_actor",
        Raw::encode(&Name { name: "worker" }).unwrap(),
    );
    let found: Option<Vec<Address>> = result(&mut sim, client, d).decode().unwrap();
    assert_eq!(found, None);
}

#[test]
fn a_waiter_whose_channel_closes_leaves_nothing() {
    let (mut sim, root, clients) = registrar_tree(7, &["client"]);
    let (client, ch) = clients[0];
    let d = call(
        &mut sim,
        client,
        ch,
        "wait_for_actor",
        Raw::encode(&Name { name: "never" }).unwrap(),
    );
    sim.settle(SECOND);
    sim.with(client, |cx| cx.actor.close(cx.now, ch));
    sim.settle(SECOND);
    assert!(matches!(
        sim.take(client, d).as_slice(),
        [Incoming::Error(DialogError::TransportClosed { .. })]
    ));
    sim.assert_clean(root);
    sim.assert_clean(client);
}

#[test]
fn bad_registrar_arguments_fail_without_startack() {
    let (mut sim, root, clients) = registrar_tree(8, &["client"]);
    let (client, ch) = clients[0];
    let d = call(&mut sim, client, ch, "register_actor", Raw::EMPTY_MAP);
    match sim.outcome(client, d, SECOND) {
        Incoming::Error(DialogError::Remote(e)) => assert_eq!(e.boxed_type(), "TypeError"),
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.wire_types(root, client), ["Aid", "Error"]);
}

// ---------------------------------------------------------------------------
// The terminal lock

/// Waits for the lock context's `Started` and checks it grants the lock.
fn locked(sim: &mut Sim, node: usize, d: DialogId) -> bool {
    match sim.take(node, d).first() {
        Some(Incoming::Started(status)) => {
            let status: LockStatus = status.decode().unwrap();
            assert_eq!(status.subactor_uid, uid_of(sim, node));
            assert!(status.locked);
            true
        }
        Some(other) => panic!("{other:?}"),
        None => false,
    }
}

fn request(sim: &mut Sim, node: usize, ch: ChannelId) -> DialogId {
    sim.with(node, |cx| cx.actor.request_tty_lock(ch, ("repl", 7)))
        .unwrap()
}

fn release(sim: &mut Sim, node: usize, d: DialogId) {
    sim.with(node, |cx| cx.actor.release_tty_lock(d)).unwrap();
    let rest = sim.recv_until(node, d, SECOND, Incoming::is_final);
    let Some(Incoming::Return(status)) = rest.last() else {
        panic!("{rest:?}");
    };
    let status: LockStatus = status.decode().unwrap();
    assert!(!status.locked);
    sim.with(node, |cx| cx.actor.leave(cx.now, d, false))
        .unwrap();
}

#[test]
fn dbg_tty_lock_dialog_matches_python() {
    let (mut sim, root, clients) = registrar_tree(20, &["child"]);
    let (child, ch) = clients[0];
    let d = request(&mut sim, child, ch);
    sim.settle(SECOND);
    assert!(locked(&mut sim, child, d));
    assert_eq!(
        sim.nodes[root].actor.tty_lock_holder(),
        Some(uid_of(&sim, child))
    );
    release(&mut sim, child, d);
    sim.settle(SECOND);
    assert_eq!(sim.nodes[root].actor.tty_lock_holder(), None);
    // Transcript debug_pause, lock connection, plus the one credit grant
    // each of our actors makes on a context.
    let without_credits = |types: Vec<&'static str>| {
        assert_eq!(
            types.iter().filter(|t| **t == "Credit").count(),
            1,
            "{types:?}"
        );
        types
            .into_iter()
            .filter(|t| *t != "Credit")
            .collect::<Vec<_>>()
    };
    assert_eq!(
        without_credits(sim.wire_types(child, root)),
        ["Aid", "Start", "Yield", "Stop"]
    );
    assert_eq!(
        without_credits(sim.wire_types(root, child)),
        ["Aid", "StartAck", "Started", "Stop", "Return"]
    );
    assert_eq!(sim.nodes[child].actor.live_state().1, 0);
    assert_eq!(sim.nodes[root].actor.live_state().1, 0);
}

#[test]
fn dbg_multi_daemon_no_clobber_fifo() {
    let (mut sim, root, clients) = registrar_tree(21, &["a", "b", "c"]);
    // The root's own REPL asks first, then a, b, c.
    let ticket = sim.nodes[root].actor.acquire_tty_lock();
    // Requests on different channels may overtake each other; each is let
    // arrive before the next is made, so that request order is known.
    let reqs: Vec<_> = clients
        .iter()
        .map(|&(n, ch)| {
            let d = request(&mut sim, n, ch);
            sim.settle(SECOND);
            (n, d)
        })
        .collect();
    assert!(
        sim.nodes[root]
            .events
            .iter()
            .any(|e| matches!(e, Event::TtyLockAcquired { ticket: t } if *t == ticket))
    );
    for &(n, d) in &reqs {
        assert!(
            !locked(&mut sim, n, d),
            "nobody else holds while the root does"
        );
    }
    sim.with(root, |cx| cx.actor.release_tty_lock_local(ticket));
    // Then exactly one at a time, in request order.
    for (i, &(n, d)) in reqs.iter().enumerate() {
        sim.settle(SECOND);
        assert!(locked(&mut sim, n, d), "{i} is served");
        for &(m, e) in &reqs[i + 1..] {
            assert!(!locked(&mut sim, m, e), "one holder at a time");
        }
        release(&mut sim, n, d);
    }
    sim.settle(SECOND);
    assert_eq!(sim.nodes[root].actor.tty_lock_holder(), None);
    assert_eq!(sim.nodes[root].actor.live_state().1, 0);
}

#[test]
fn dbg_holder_death_releases_and_blocks() {
    let (mut sim, root, clients) = registrar_tree(22, &["dead", "next"]);
    let (dead, dead_ch) = clients[0];
    let (next, next_ch) = clients[1];
    let d = request(&mut sim, dead, dead_ch);
    sim.settle(SECOND);
    assert!(locked(&mut sim, dead, d));
    let w = request(&mut sim, next, next_ch);
    sim.settle(SECOND);
    assert!(!locked(&mut sim, next, w));
    // The holder's process dies: the lock passes on at once.
    sim.crash(dead);
    sim.settle(SECOND);
    assert!(locked(&mut sim, next, w));
    assert_eq!(
        sim.nodes[root].actor.tty_lock_holder(),
        Some(uid_of(&sim, next))
    );
    release(&mut sim, next, w);
    // A peer that vanished mid-lock is refused if it shows up again.
    let addr = sim.nodes[root].addr.clone();
    sim.nodes[dead].alive = true;
    let ch = sim.with(dead, |cx| cx.actor.connect(addr));
    sim.run_until(SECOND, |s| s.opened(dead, ch));
    let again = request(&mut sim, dead, ch);
    match sim.outcome(dead, again, SECOND) {
        Incoming::Error(DialogError::Remote(e)) => assert_eq!(e.boxed_type(), "DebugRequestError"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn dbg_cancelled_request_leaves_the_queue() {
    let (mut sim, root, clients) = registrar_tree(23, &["holder", "quitter", "last"]);
    let reqs: Vec<_> = clients
        .iter()
        .map(|&(n, ch)| {
            let d = request(&mut sim, n, ch);
            sim.settle(SECOND);
            (n, d)
        })
        .collect();
    assert!(locked(&mut sim, reqs[0].0, reqs[0].1));
    // The second requester gives up while queued.
    let (quitter, q) = reqs[1];
    sim.with(quitter, |cx| cx.actor.cancel(cx.now, q)).unwrap();
    let outcome = sim.outcome(quitter, q, SECOND);
    assert!(
        matches!(
            outcome,
            Incoming::Error(DialogError::CancelledAsRequested { .. })
        ),
        "{outcome:?}"
    );
    sim.with(quitter, |cx| cx.actor.leave(cx.now, q, true))
        .unwrap();
    release(&mut sim, reqs[0].0, reqs[0].1);
    sim.settle(SECOND);
    assert!(locked(&mut sim, reqs[2].0, reqs[2].1), "the third is next");
    release(&mut sim, reqs[2].0, reqs[2].1);
    sim.settle(SECOND);
    assert_eq!(sim.nodes[root].actor.live_state().1, 0);
}

// ---------------------------------------------------------------------------
// An actor's own registration, kept alive.

/// A registrar at 1616 and a worker that registers with it (its accept
/// address 2000), registered.
fn registered_worker(seed: u64) -> (Sim, usize, usize) {
    let mut sim = Sim::new(seed);
    let registrar = add_registrar(&mut sim);
    let worker = sim.add(Sim::config("worker"), tcp(2000), Idle);
    sim.nodes[worker]
        .actor
        .set_runtime_vars(tractor_protocol::RuntimeVars {
            registry_addrs: vec![tcp(1616)],
            ..Default::default()
        });
    sim.with(worker, |cx| cx.actor.register(cx.now));
    assert_eq!(sim.nodes[worker].actor.first_registration(), None);
    sim.run_until(SECOND, |s| {
        s.nodes[worker].actor.first_registration().is_some()
    });
    assert_eq!(sim.nodes[worker].actor.first_registration(), Some(Ok(())));
    assert!(listed(&sim, registrar, worker));
    (sim, registrar, worker)
}

fn add_registrar(sim: &mut Sim) -> usize {
    let mut cfg = Sim::config("registrar");
    cfg.is_registrar = true;
    let node = sim.add(cfg, tcp(1616), Idle);
    sim.nodes[node].actor.set_accept_addrs(vec![tcp(1616)]);
    node
}

fn listed(sim: &Sim, registrar: usize, node: usize) -> bool {
    let uid = uid_of(sim, node);
    let addr = sim.nodes[node].addr.clone();
    sim.nodes[registrar]
        .actor
        .registry()
        .iter()
        .any(|(u, a)| *u == uid && *a == [addr.clone()])
}

/// The `retry_at` of each `RegistrarLost` of `node`.
fn retries(sim: &Sim, node: usize) -> Vec<Option<std::time::Instant>> {
    sim.events_of(node, |e| match e {
        Event::RegistrarLost { retry_at, .. } => Some(*retry_at),
        _ => None,
    })
}

#[test]
fn disc_registrar_restart() {
    // The registrar dies; the worker tries again and again, further and
    // further apart up to REGISTER_RETRY_MAX, and registers with the
    // registrar started at the same address within that much.
    let (mut sim, registrar, worker) = registered_worker(40);
    // One connection, kept open, with Python's register_actor on it.
    assert_eq!(sim.wire_types(worker, registrar), ["Aid", "Start"]);
    assert_eq!(sim.nodes[worker].actor.registrations(), [(tcp(1616), true)]);
    sim.sleep(SECOND);
    sim.crash(registrar);
    sim.run_until(SECOND, |s| !retries(s, worker).is_empty());
    let lost = sim.now;
    sim.sleep(Duration::from_secs(10));
    assert_eq!(
        sim.nodes[worker].actor.registrations(),
        [(tcp(1616), false)]
    );
    let at: Vec<_> = retries(&sim, worker)
        .into_iter()
        .map(Option::unwrap)
        .collect();
    assert!(at.len() > 5, "{} attempts", at.len());
    // At once, then 50 ms later, then further and further apart.
    assert!(at[0] <= lost);
    assert_eq!(at[1] - lost, tractor_protocol::REGISTER_RETRY_MIN);
    let gaps: Vec<Duration> = at[1..].windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps[0], 2 * tractor_protocol::REGISTER_RETRY_MIN);
    assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
    assert_eq!(*gaps.last().unwrap(), tractor_protocol::REGISTER_RETRY_MAX);
    let again = add_registrar(&mut sim);
    let back = sim.now;
    sim.run_until(3 * SECOND, |s| {
        s.nodes[worker].actor.registrations() == [(tcp(1616), true)]
    });
    assert!(listed(&sim, again, worker));
    assert!(sim.now - back <= tractor_protocol::REGISTER_RETRY_MAX + SECOND / 10);
    let registered = sim.events_of(worker, |e| match e {
        Event::Registered { again, addrs, .. } => Some((*again, addrs.clone())),
        _ => None,
    });
    assert_eq!(
        registered,
        [(false, vec![tcp(2000)]), (true, vec![tcp(2000)])]
    );
    // Unregistering closes that connection and goes over a fresh one, as
    // Python's does (the wire of transcript debug_pause).
    sim.with(worker, |cx| cx.actor.unregister());
    sim.run_until(SECOND, |s| !s.nodes[worker].actor.unregistering());
    assert!(!listed(&sim, again, worker));
    assert_eq!(
        sim.wire_types(worker, again),
        ["Aid", "Start", "Aid", "Start"]
    );
    sim.settle(SECOND);
    sim.assert_clean(worker);
}

#[test]
fn a_first_registration_that_fails_goes_on_until_the_registrar_answers() {
    let mut sim = Sim::new(41);
    let worker = sim.add(Sim::config("worker"), tcp(2000), Idle);
    sim.nodes[worker]
        .actor
        .set_runtime_vars(tractor_protocol::RuntimeVars {
            registry_addrs: vec![tcp(1616)],
            ..Default::default()
        });
    sim.with(worker, |cx| cx.actor.register(cx.now));
    sim.run_until(SECOND, |s| {
        s.nodes[worker].actor.first_registration().is_some()
    });
    let Some(Err((registrar, why))) = sim.nodes[worker].actor.first_registration() else {
        panic!("a failure");
    };
    assert_eq!(registrar, tcp(1616));
    assert!(why.contains("connection refused"), "{why}");
    sim.sleep(SECOND);
    let registrar = add_registrar(&mut sim);
    sim.run_until(3 * SECOND, |s| listed(s, registrar, worker));
    // It never was registered: nothing to unregister.
    sim.with(worker, |cx| cx.actor.unregister());
    sim.run_until(SECOND, |s| !s.nodes[worker].actor.unregistering());
    assert!(!listed(&sim, registrar, worker));
    sim.settle(SECOND);
    sim.assert_clean(worker);
}

#[test]
fn an_error_answer_is_a_failed_attempt() {
    // Something that is not a registrar listens there: it refuses
    // register_actor, and the worker tries again later on a new connection.
    let mut sim = Sim::new(42);
    let impostor = sim.add(Sim::config("impostor"), tcp(1616), Idle);
    let worker = sim.add(Sim::config("worker"), tcp(2000), Idle);
    sim.nodes[worker]
        .actor
        .set_runtime_vars(tractor_protocol::RuntimeVars {
            registry_addrs: vec![tcp(1616)],
            ..Default::default()
        });
    sim.with(worker, |cx| cx.actor.register(cx.now));
    sim.run_until(SECOND, |s| {
        s.nodes[worker].actor.first_registration().is_some()
    });
    assert!(matches!(
        sim.nodes[worker].actor.first_registration(),
        Some(Err(_))
    ));
    sim.sleep(SECOND);
    let attempts = sim
        .wire_types(worker, impostor)
        .iter()
        .filter(|t| **t == "Aid")
        .count();
    assert!(attempts > 2, "{attempts} attempts");
    assert!(
        sim.nodes[impostor].actor.live_state().0 <= 1,
        "old connections are closed"
    );
}

#[test]
fn an_actor_winding_down_stops_trying() {
    let (mut sim, registrar, worker) = registered_worker(43);
    sim.with(worker, |cx| cx.actor.cancel_self());
    sim.crash(registrar);
    sim.settle(10 * SECOND);
    assert_eq!(retries(&sim, worker), [None]);
    assert!(!sim.nodes[worker].actor.unregistering());
    sim.assert_clean(worker);
}

#[test]
fn unregistering_while_the_registrar_is_away_reaches_the_one_back() {
    // Registered, the link lost: unregister() connects again to unregister,
    // in case the registrar kept the entry.
    let (mut sim, registrar, worker) = registered_worker(44);
    sim.crash(registrar);
    sim.sleep(Duration::from_millis(20));
    let again = add_registrar(&mut sim);
    sim.with(worker, |cx| cx.actor.unregister());
    sim.run_until(SECOND, |s| !s.nodes[worker].actor.unregistering());
    assert_eq!(sim.wire_types(worker, again), ["Aid", "Start"]);
    sim.settle(SECOND);
    sim.assert_clean(worker);
}

#[test]
fn unregistering_before_the_registration_is_answered_comes_after_it() {
    // register_actor is on its way: unregister_actor follows it on the same
    // connection, so the registrar handles them in that order.
    let mut sim = Sim::new(45);
    let registrar = add_registrar(&mut sim);
    let worker = sim.add(Sim::config("worker"), tcp(2000), Idle);
    sim.nodes[worker]
        .actor
        .set_runtime_vars(tractor_protocol::RuntimeVars {
            registry_addrs: vec![tcp(1616)],
            ..Default::default()
        });
    sim.with(worker, |cx| cx.actor.register(cx.now));
    sim.run_until(SECOND, |s| {
        s.wire_types(worker, registrar).contains(&"Start")
    });
    sim.with(worker, |cx| cx.actor.unregister());
    sim.run_until(SECOND, |s| !s.nodes[worker].actor.unregistering());
    assert_eq!(sim.wire_types(worker, registrar), ["Aid", "Start", "Start"]);
    assert!(!listed(&sim, registrar, worker));
    sim.settle(SECOND);
    sim.assert_clean(worker);
}
