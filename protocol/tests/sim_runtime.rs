//! The runtime services the core serves itself: the registrar and the
//! debugger's terminal lock. Tests named after a scenario id of
//! spec/SCENARIOS.md check that scenario.

mod sim;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tractor_protocol::{
    Address, ChannelId, DialogError, DialogId, Event, Incoming, LockStatus, Raw, Uid,
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
    sim.with(node, |cx| cx.actor.call(cx.now, ch, "self", func, kwargs))
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

#[test]
fn fault_stale_registry_entry() {
    let (mut sim, root, clients) = registrar_tree(6, &["client", "stale"]);
    let (stale, stale_ch) = clients[1];
    register(&mut sim, stale, stale_ch);
    let (client, ch) = clients[0];
    #[derive(Serialize)]
    struct ByAddr {
        addr: Address,
    }
    let addr = sim.nodes[stale].addr.clone();
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
    sim.with(node, |cx| {
        cx.actor.request_tty_lock(cx.now, ch, ("repl", 7))
    })
    .unwrap()
}

fn release(sim: &mut Sim, node: usize, d: DialogId) {
    sim.with(node, |cx| cx.actor.release_tty_lock(cx.now, d))
        .unwrap();
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
