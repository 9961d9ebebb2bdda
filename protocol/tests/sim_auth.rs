//! The handshake's authentication extension (spec/PROTOCOL.md §3.5), and
//! who may cancel an actor or change a registrar's table: between
//! simulated actors, and against a raw peer that writes whatever bytes it
//! likes to one core.

mod sim;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tractor_protocol::{
    Action, Actor, ActorConfig, Aid, AuthError, AuthStep, ChannelId, CloseReason, Event,
    FrameDecoder, Msg, Output, PERMISSION_ERROR, Raw, Secret, Start, Uid, Violation,
};

use sim::{Idle, Sim, TREE_SECRET, tcp};

const SECOND: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------
// Between simulated actors

fn closes(sim: &Sim, node: usize) -> Vec<CloseReason> {
    sim.events_of(node, |e| match e {
        Event::ChannelClosed { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

/// Every `Aid` that names an actor (not an authentication step) sent from
/// `from` to `to`.
fn identities(sim: &Sim, from: usize, to: usize) -> Vec<Aid> {
    sim.wire
        .iter()
        .filter(|w| w.from == from && w.to == to)
        .filter_map(|w| match &w.msg {
            Msg::Aid(a) if a.auth.is_none() => Some(Aid::clone(a)),
            _ => None,
        })
        .collect()
}

fn steps(sim: &Sim, from: usize, to: usize) -> Vec<&'static str> {
    sim.wire
        .iter()
        .filter(|w| w.from == from && w.to == to)
        .map(|w| match &w.msg {
            Msg::Aid(a) => match a.auth {
                Some(AuthStep::Hello { .. }) => "hello",
                Some(AuthStep::Proof { .. }) => "proof",
                None => "aid",
            },
            other => other.msg_type().as_str(),
        })
        .collect()
}

fn with_secret(name: &str, secret: &str) -> ActorConfig {
    let mut cfg = Sim::tree_config(name);
    cfg.auth.secret = Some(Secret::new(secret).unwrap());
    cfg
}

#[test]
fn a_shared_secret_opens_the_channel_authenticated_both_ways() {
    let mut sim = Sim::new(1);
    let a = sim.add(Sim::tree_config("a"), tcp(1000), Idle);
    let b = sim.add(Sim::tree_config("b"), tcp(2000), Idle);
    let ch = sim.connect(a, b);
    assert!(sim.nodes[a].actor.peer_authenticated(ch));
    let peer = sim.nodes[a].actor.peer(ch).unwrap().clone();
    assert_eq!(peer.uid(), *sim.nodes[b].actor.uid());
    assert_eq!(peer.auth, None, "the identity carries no step");
    // The connector opens; each side proves before it names itself.
    assert_eq!(steps(&sim, a, b), ["hello", "proof", "aid"]);
    assert_eq!(steps(&sim, b, a), ["hello", "proof", "aid"]);
    // The connector proves first: the acceptor's proof is sent only after
    // it checked the connector's.
    let sent = |from: usize, to: usize| {
        sim.wire
            .iter()
            .position(|w| {
                w.from == from
                    && w.to == to
                    && matches!(&w.msg, Msg::Aid(x) if matches!(x.auth, Some(AuthStep::Proof { .. })))
            })
            .unwrap()
    };
    assert!(sent(a, b) < sent(b, a), "the connector proves first");
    let b_side: Vec<_> = sim.events_of(b, |e| match e {
        Event::ChannelOpened { channel, .. } => Some(*channel),
        _ => None,
    });
    assert!(sim.nodes[b].actor.peer_authenticated(b_side[0]));
    // The steps are anonymous: no name, uuid nor pid before the proofs.
    for w in &sim.wire {
        if let Msg::Aid(aid) = &w.msg
            && aid.auth.is_some()
        {
            assert_eq!(
                (aid.name.as_str(), aid.uuid.as_str(), aid.pid),
                ("", "", None)
            );
        }
    }
}

#[test]
fn a_different_secret_is_refused_both_ways_before_any_identity() {
    let mut sim = Sim::new(2);
    let a = sim.add(with_secret("a", "the-first-secret-000"), tcp(1000), Idle);
    let b = sim.add(with_secret("b", "the-other-secret-000"), tcp(2000), Idle);
    let addr = sim.nodes[b].addr.clone();
    sim.with(a, |cx| cx.actor.connect(addr));
    sim.settle(SECOND);
    assert!(identities(&sim, a, b).is_empty());
    assert!(identities(&sim, b, a).is_empty());
    // The acceptor checks the connector's proof first, and closes without
    // proving itself: the connector is told it was refused.
    assert_eq!(steps(&sim, b, a), ["hello"], "no proof from the acceptor");
    assert_eq!(steps(&sim, a, b), ["hello", "proof"]);
    assert_eq!(
        closes(&sim, a),
        [CloseReason::Auth(AuthError::Refused)],
        "the acceptor refused the connector's proof"
    );
    // The acceptor never reports a channel it did not open; its core is
    // clean again.
    assert!(closes(&sim, b).is_empty());
    sim.assert_clean(a);
    sim.assert_clean(b);
}

#[test]
fn a_secret_holder_refuses_a_peer_without_one_and_the_reverse() {
    // A connector without a secret sends its `Aid` at once (Python's
    // handshake): the acceptor with a secret answers nothing and closes.
    let mut sim = Sim::new(3);
    let plain = sim.add(Sim::config("plain"), tcp(1000), Idle);
    let holder = sim.add(Sim::tree_config("holder"), tcp(2000), Idle);
    let addr = sim.nodes[holder].addr.clone();
    sim.with(plain, |cx| cx.actor.connect(addr));
    sim.settle(SECOND);
    assert!(
        sim.wire.iter().all(|w| w.from != holder),
        "the holder sent nothing"
    );
    // The peer without a secret cannot tell a refusal from a listener that
    // goes away: a plain end of the stream (the holder logs why).
    assert_eq!(closes(&sim, plain), [CloseReason::Eof]);

    // A connector with a secret to an acceptor without one: the acceptor
    // (Python's handshake) named itself at once, ours did not.
    let mut sim = Sim::new(4);
    let holder = sim.add(Sim::tree_config("holder"), tcp(1000), Idle);
    let plain = sim.add(Sim::config("plain"), tcp(2000), Idle);
    let addr = sim.nodes[plain].addr.clone();
    sim.with(holder, |cx| cx.actor.connect(addr));
    sim.settle(SECOND);
    assert!(identities(&sim, holder, plain).is_empty());
    assert_eq!(steps(&sim, holder, plain), ["hello"]);
    assert_eq!(
        closes(&sim, holder),
        [CloseReason::Auth(AuthError::PeerNotAuthenticated)]
    );
}

#[test]
fn the_handshake_deadline_holds_while_authenticating() {
    let mut a = raw_actor(Some(TREE_SECRET), false);
    let now = Instant::now();
    let ch = a.handle_accepted(now);
    let out = drain(&mut a);
    assert!(out.bytes(ch).is_empty(), "an acceptor with a secret waits");
    let deadline = out.timeout.expect("a handshake deadline");
    a.handle_timeout(deadline);
    let out = drain(&mut a);
    assert_eq!(out.closed, [ch]);
    assert!(out.bytes(ch).is_empty());
    assert!(a.is_idle());
}

// ---------------------------------------------------------------------
// A raw peer against one core

struct Drained {
    transmits: Vec<(ChannelId, Bytes)>,
    closed: Vec<ChannelId>,
    events: Vec<Event>,
    timeout: Option<Instant>,
}

impl Drained {
    fn bytes(&self, ch: ChannelId) -> Vec<u8> {
        self.transmits
            .iter()
            .filter(|(c, _)| *c == ch)
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    }

    fn msgs(&self, ch: ChannelId) -> Vec<Msg> {
        let mut buf = BytesMut::from(&self.bytes(ch)[..]);
        let mut dec = FrameDecoder::new();
        let mut out = Vec::new();
        while let Some(f) = dec.decode(&mut buf).unwrap() {
            out.push(f.msg().unwrap());
        }
        out
    }

    fn close_reason(&self, ch: ChannelId) -> Option<CloseReason> {
        self.events.iter().find_map(|e| match e {
            Event::ChannelClosed {
                channel, reason, ..
            } if *channel == ch => Some(reason.clone()),
            _ => None,
        })
    }
}

fn drain(a: &mut Actor) -> Drained {
    let mut d = Drained {
        transmits: Vec::new(),
        closed: Vec::new(),
        events: Vec::new(),
        timeout: None,
    };
    loop {
        match a.poll_output() {
            Output::Transmit(t) => {
                // Written at once, as a driver would report it.
                a.handle_written(Instant::now(), t.channel, t.data.len());
                d.transmits.push((t.channel, t.data));
            }
            Output::Action(Action::Close { channel } | Action::Abort { channel }) => {
                d.closed.push(channel)
            }
            Output::Action(_) => {}
            Output::Event(e) => d.events.push(e),
            Output::Timeout(t) => {
                d.timeout = t;
                return d;
            }
        }
    }
}

const NAME: &str = "guarded";
const UUID: &str = "guarded-0000-4000-8000-000000000000";
const PID: u32 = 4242;

fn raw_config(secret: Option<&str>, open: bool) -> ActorConfig {
    let mut cfg = ActorConfig::new(NAME, UUID);
    cfg.pid = Some(PID);
    cfg.is_registrar = true;
    cfg.auth.secret = secret.map(|s| Secret::new(s).unwrap());
    cfg.auth.nonce_key = [7; 32];
    cfg.auth.accept_unauthenticated = open;
    cfg
}

fn raw_actor(secret: Option<&str>, open: bool) -> Actor {
    Actor::new(raw_config(secret, open))
}

fn frame(msg: &Msg) -> BytesMut {
    let mut out = BytesMut::new();
    msg.encode_frame(&mut out).unwrap();
    out
}

/// An `Aid` as a Python actor sends it.
fn python_aid(name: &str) -> Msg {
    Msg::from(Aid {
        name: name.to_owned(),
        uuid: format!("{name}-uuid"),
        pid: Some(99),
        is_registrar: Some(false),
        is_probe: false,
        credit_flow: None,
        auth: None,
    })
}

fn step(s: AuthStep) -> Msg {
    Msg::from(Aid {
        name: String::new(),
        uuid: String::new(),
        pid: None,
        is_registrar: Some(false),
        is_probe: false,
        credit_flow: None,
        auth: Some(s),
    })
}

#[test]
fn task_dumps_asked_meanwhile_share_one_and_too_many_are_refused() {
    use tractor_protocol::introspect::{DUMP_TASKS_METHOD, MAX_DUMPS_ASKED};
    // No secret: anyone may look.
    let mut a = raw_actor(None, true);
    let lookers: Vec<ChannelId> = (0..=MAX_DUMPS_ASKED)
        .map(|n| accept_and_feed(&mut a, &[python_aid(&format!("looker{n}"))]).0)
        .collect();
    let ask = |a: &mut Actor, n: usize, cid: &str| {
        let start = Msg::from(Start {
            cid: cid.to_owned(),
            ns: "self".into(),
            func: DUMP_TASKS_METHOD.into(),
            kwargs: Raw::EMPTY_MAP,
            uid: Uid::new(format!("looker{n}"), format!("looker{n}-uuid")),
            pld_spec: tractor_protocol::DEFAULT_PLD_SPEC.into(),
        });
        a.handle_data(Instant::now(), lookers[n], &frame(&start));
        drain(a)
    };
    let dumps = |out: &Drained| {
        out.events
            .iter()
            .filter(|e| matches!(e, Event::TaskDumpRequested))
            .count()
    };
    let refused = |out: &Drained, ch: ChannelId| {
        let [Msg::Error(e)] = &out.msgs(ch)[..] else {
            panic!("{:?}", out.msgs(ch))
        };
        assert_eq!(e.boxed_type_str, "RuntimeError");
        assert!(e.tb_str.contains("ask again later"), "{e:?}");
        e.tb_str.clone()
    };
    // The first asks for a dump; the rest wait for it, one per channel,
    // up to the bound.
    assert_eq!(dumps(&ask(&mut a, 0, "dump-0")), 1);
    for (n, &looker) in lookers.iter().enumerate().take(MAX_DUMPS_ASKED).skip(1) {
        let out = ask(&mut a, n, &format!("dump-{n}"));
        assert_eq!(dumps(&out), 0, "call {n}");
        assert!(out.msgs(looker).is_empty(), "call {n}");
    }
    let over = ask(&mut a, MAX_DUMPS_ASKED, "dump-over");
    assert!(refused(&over, lookers[MAX_DUMPS_ASKED]).contains("asked for already"));
    let again = ask(&mut a, 0, "dump-again");
    assert!(refused(&again, lookers[0]).contains("on this channel"));
    // One dump answers every call that waited, each with its cid.
    a.answer_task_dumps("the tree");
    let out = drain(&mut a);
    for (n, &looker) in lookers.iter().enumerate().take(MAX_DUMPS_ASKED) {
        let msgs = out.msgs(looker);
        let [Msg::StartAck(ack), Msg::Return(r)] = &msgs[..] else {
            panic!("{n}: {msgs:?}")
        };
        let cid = format!("dump-{n}");
        assert_eq!((ack.cid.as_str(), r.cid.as_str()), (&*cid, &*cid));
        assert_eq!(r.pld.decode::<String>().unwrap(), "the tree");
    }
    let ch = lookers[0];
    // Then a new call asks for a new dump; one too long is cut, at a
    // character's edge, saying so.
    assert_eq!(dumps(&ask(&mut a, 0, "dump-99")), 1);
    // One byte, then two-byte characters: the bound falls inside one.
    let cut = tractor_protocol::introspect::MAX_DUMP_LEN;
    let huge = format!("x{}", "é".repeat(cut));
    a.answer_task_dumps(&huge);
    let msgs = drain(&mut a).msgs(ch);
    let [Msg::StartAck(_), Msg::Return(r)] = &msgs[..] else {
        panic!("{msgs:?}")
    };
    let text: String = r.pld.decode().unwrap();
    assert_eq!(&text[..cut - 1], &huge[..cut - 1], "cut before the bound");
    assert_eq!(
        &text[cut - 1..],
        format!(
            "\n(cut: {} more bytes of the dump left out)\n",
            huge.len() - (cut - 1)
        ),
    );
}

#[test]
fn our_runtime_methods_are_not_asked_of_a_python_peer() {
    use tractor_protocol::UsageError;
    let mut a = raw_actor(None, true);
    // A Python actor's Aid announces no credit_flow: it would crash on a
    // `self` method it lacks, so the call fails here, and nothing is sent.
    let (py, _) = accept_and_feed(&mut a, &[python_aid("pyactor")]);
    for func in ["introspect", "dump_tasks"] {
        let refused = a.call(py, "self", func, Raw::EMPTY_MAP);
        assert!(
            matches!(&refused, Err(UsageError::NotServedByPeer { peer, func: f, .. })
                if peer.name == "pyactor" && f == func),
            "{refused:?}"
        );
        let err = refused.unwrap_err().to_string();
        assert!(err.contains("not a tractor-rs actor"), "{err}");
    }
    assert!(drain(&mut a).msgs(py).is_empty());
    // Nor the registrar's, to one that says it is no registrar.
    let refused = a.call(py, "self", "get_registry", Raw::EMPTY_MAP);
    assert!(
        matches!(&refused, Err(UsageError::NotServedByPeer { func, .. }) if func == "get_registry"),
        "{refused:?}"
    );
    // Python's own runtime methods still go.
    assert!(a.call(py, "self", "cancel", Raw::EMPTY_MAP).is_ok());
    // A Python registrar is asked for its table.
    let Msg::Aid(mut registrar) = python_aid("pyregistrar") else {
        unreachable!()
    };
    registrar.is_registrar = Some(true);
    let (pyreg, _) = accept_and_feed(&mut a, &[Msg::Aid(registrar)]);
    a.call(pyreg, "self", "get_registry", Raw::EMPTY_MAP)
        .unwrap();
    // One of ours announces it: asked.
    let Msg::Aid(mut ours) = python_aid("rsactor") else {
        unreachable!()
    };
    ours.credit_flow = Some(1);
    let (rs, _) = accept_and_feed(&mut a, &[Msg::Aid(ours)]);
    a.call(rs, "self", "introspect", Raw::EMPTY_MAP).unwrap();
    let msgs = drain(&mut a).msgs(rs);
    assert!(
        matches!(&msgs[..], [Msg::Start(s)] if s.func == "introspect"),
        "{msgs:?}"
    );
}

/// Asserts that what the guarded actor sent names nothing of it.
fn learned_nothing(bytes: &[u8]) {
    let hay = String::from_utf8_lossy(bytes);
    for secret in [NAME, UUID, "guarded"] {
        assert!(!hay.contains(secret), "{secret:?} leaked in {hay:?}");
    }
    let pid = PID.to_be_bytes();
    assert!(
        !bytes.windows(2).any(|w| w == &pid[2..]),
        "the pid leaked in {bytes:?}"
    );
}

/// Feeds `msgs` to a freshly accepted channel; returns what came out.
fn accept_and_feed(a: &mut Actor, msgs: &[Msg]) -> (ChannelId, Drained) {
    let now = Instant::now();
    let ch = a.handle_accepted(now);
    let mut bytes = BytesMut::new();
    for m in msgs {
        bytes.extend_from_slice(&frame(m));
    }
    a.handle_data(now, ch, &bytes);
    (ch, drain(a))
}

#[test]
fn a_python_style_peer_learns_nothing_and_is_refused() {
    let mut a = raw_actor(Some(TREE_SECRET), false);
    let (ch, out) = accept_and_feed(&mut a, &[python_aid("stranger")]);
    assert!(out.bytes(ch).is_empty(), "not one byte to a stranger");
    assert_eq!(out.closed, [ch]);
    assert!(a.is_idle());
}

#[test]
fn a_python_style_peer_is_accepted_only_when_configured() {
    let mut a = raw_actor(Some(TREE_SECRET), true);
    let (ch, out) = accept_and_feed(&mut a, &[python_aid("pyroot")]);
    let msgs = out.msgs(ch);
    assert_eq!(msgs.len(), 1, "only our Aid, as Python expects");
    let Msg::Aid(aid) = &msgs[0] else {
        panic!("{msgs:?}")
    };
    assert_eq!((aid.name.as_str(), aid.auth.as_ref()), (NAME, None));
    assert!(out.closed.is_empty());
    assert!(!a.peer_authenticated(ch), "open, but not trusted");

    // Unauthenticated and a stranger: it may not cancel this actor, nor
    // look into it, nor register another uid.
    let now = Instant::now();
    let start = |func: &str, kwargs: Raw| {
        Msg::from(Start {
            cid: format!("cid-{func}"),
            ns: "self".into(),
            func: func.into(),
            kwargs,
            uid: Uid::new("pyroot", "pyroot-uuid"),
            pld_spec: tractor_protocol::DEFAULT_PLD_SPEC.into(),
        })
    };
    let other = Raw::encode(&serde_json::json!({
        "uid": ["victim", "victim-uuid"],
        "addr": ["127.0.0.1", 1],
    }))
    .unwrap();
    for (func, kwargs) in [
        ("cancel", Raw::EMPTY_MAP),
        ("introspect", Raw::EMPTY_MAP),
        ("dump_tasks", Raw::EMPTY_MAP),
        ("register_actor", other.clone()),
        ("unregister_actor", other),
    ] {
        a.handle_data(now, ch, &frame(&start(func, kwargs)));
        let out = drain(&mut a);
        let msgs = out.msgs(ch);
        let [Msg::Error(e)] = &msgs[..] else {
            panic!("self.{func}: {msgs:?}")
        };
        assert_eq!(e.boxed_type_str, PERMISSION_ERROR, "self.{func}");
        assert!(
            out.events.iter().any(|e| matches!(
                e,
                Event::Violation {
                    violation: Violation::Unauthorized { .. },
                    ..
                }
            )),
            "self.{func}"
        );
        assert!(
            !out.events.iter().any(|e| matches!(
                e,
                Event::ActorCancelRequested { .. }
                    | Event::RegistryChanged
                    | Event::IntrospectRequested { .. }
                    | Event::TaskDumpRequested
            )),
            "self.{func} took effect"
        );
    }
    // Its own registration is its own business.
    let own = Raw::encode(&serde_json::json!({
        "uid": ["pyroot", "pyroot-uuid"],
        "addr": ["127.0.0.1", 5],
    }))
    .unwrap();
    a.handle_data(now, ch, &frame(&start("register_actor", own)));
    let out = drain(&mut a);
    assert!(out.events.contains(&Event::RegistryChanged));
    assert_eq!(a.registry().len(), 1);
}

/// Runs a connector's side of the handshake by hand against `a` with
/// `secret`, up to its proof: returns the channel, the acceptor's nonce,
/// and the connector's proof (not yet sent). The acceptor answers the
/// opening with its own opening alone.
fn handshake_by_hand(
    a: &mut Actor,
    secret: &str,
    nonce: [u8; 32],
) -> (ChannelId, [u8; 32], [u8; 32]) {
    let (ch, out) = accept_and_feed(a, &[step(AuthStep::Hello { nonce })]);
    let msgs = out.msgs(ch);
    let [Msg::Aid(hello)] = &msgs[..] else {
        panic!("the acceptor's opening alone, no proof: {msgs:?}")
    };
    let Some(AuthStep::Hello { nonce: na }) = &hello.auth else {
        panic!("{msgs:?}")
    };
    learned_nothing(&out.bytes(ch));
    let pc = mac_of(secret, "connector", na, &nonce);
    (ch, *na, pc)
}

/// A side's proof, computed independently of the core (the definition in
/// spec/PROTOCOL.md §3.5).
fn mac_of(secret: &str, side: &str, acceptor: &[u8; 32], connector: &[u8; 32]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(b"tractor-auth-v1 proof\0");
    mac.update(side.as_bytes());
    mac.update(b"\0");
    mac.update(acceptor);
    mac.update(connector);
    mac.finalize().into_bytes().into()
}

/// Whether `bytes` hold no proof step at all, nor the MAC given, raw or
/// in hex.
fn no_mac_in(bytes: &[u8], mac: &[u8; 32]) -> bool {
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    let text = String::from_utf8_lossy(bytes);
    !text.contains("auth_proof") && !text.contains(&hex) && !bytes.windows(32).any(|w| w == mac)
}

#[test]
fn a_correct_proof_by_hand_opens_the_channel() {
    let mut a = raw_actor(Some(TREE_SECRET), false);
    let nc = [1; 32];
    let (ch, na, pc) = handshake_by_hand(&mut a, TREE_SECRET, nc);
    let now = Instant::now();
    a.handle_data(now, ch, &frame(&step(AuthStep::Proof { mac: pc })));
    let out = drain(&mut a);
    let msgs = out.msgs(ch);
    // Only now, the connector's proof checked, the acceptor proves itself
    // (the right proof for both nonces), then names itself.
    let pa = mac_of(TREE_SECRET, "acceptor", &na, &nc);
    assert!(
        matches!(&msgs[..], [Msg::Aid(p), Msg::Aid(aid)]
            if p.auth == Some(AuthStep::Proof { mac: pa })
                && aid.name == NAME && aid.auth.is_none()),
        "{msgs:?}"
    );
    a.handle_data(now, ch, &frame(&python_aid("friend")));
    let out = drain(&mut a);
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::ChannelOpened { channel, .. } if *channel == ch))
    );
    assert!(a.peer_authenticated(ch));
}

#[test]
fn a_reflected_proof_is_refused() {
    // An acceptor's proof, recorded from a handshake that went through,
    // reflected back as a connector's proof on a new connection.
    let mut a = raw_actor(Some(TREE_SECRET), false);
    let now = Instant::now();
    let (ch, _, pc) = handshake_by_hand(&mut a, TREE_SECRET, [1; 32]);
    a.handle_data(now, ch, &frame(&step(AuthStep::Proof { mac: pc })));
    let msgs = drain(&mut a).msgs(ch);
    let Some(Msg::Aid(aid)) = msgs.first() else {
        panic!("{msgs:?}")
    };
    let Some(AuthStep::Proof { mac: pa }) = &aid.auth else {
        panic!("{msgs:?}")
    };
    let (ch, _, _) = handshake_by_hand(&mut a, TREE_SECRET, [1; 32]);
    a.handle_data(now, ch, &frame(&step(AuthStep::Proof { mac: *pa })));
    let out = drain(&mut a);
    assert!(out.bytes(ch).is_empty(), "no Aid for a reflected proof");
    assert_eq!(out.closed, [ch]);

    // A connector's own proof, reflected back to it by the acceptor.
    let ch = a.connect(tcp(9));
    a.handle_connected(now, ch);
    let _ = drain(&mut a);
    a.handle_data(now, ch, &frame(&step(AuthStep::Hello { nonce: [5; 32] })));
    let msgs = drain(&mut a).msgs(ch);
    let [Msg::Aid(aid)] = &msgs[..] else {
        panic!("{msgs:?}")
    };
    let Some(AuthStep::Proof { mac: pc }) = &aid.auth else {
        panic!("{msgs:?}")
    };
    a.handle_data(now, ch, &frame(&step(AuthStep::Proof { mac: *pc })));
    let out = drain(&mut a);
    learned_nothing(&out.bytes(ch));
    assert_eq!(
        out.close_reason(ch),
        Some(CloseReason::Auth(AuthError::BadProof))
    );
}

#[test]
fn a_replayed_proof_is_refused() {
    let mut a = raw_actor(Some(TREE_SECRET), false);
    // A handshake that went through: its proof is recorded...
    let (ch, _, pc) = handshake_by_hand(&mut a, TREE_SECRET, [1; 32]);
    a.handle_data(
        Instant::now(),
        ch,
        &frame(&step(AuthStep::Proof { mac: pc })),
    );
    drain(&mut a);
    // ...and replayed on a new connection with the same opening: the
    // acceptor's nonce is new, so the proof no longer fits.
    let (ch, _, _) = handshake_by_hand(&mut a, TREE_SECRET, [1; 32]);
    a.handle_data(
        Instant::now(),
        ch,
        &frame(&step(AuthStep::Proof { mac: pc })),
    );
    let out = drain(&mut a);
    assert!(out.bytes(ch).is_empty());
    assert_eq!(out.closed, [ch]);
}

#[test]
fn a_wrong_secret_is_refused_and_learns_nothing() {
    let mut a = raw_actor(Some(TREE_SECRET), false);
    let (ch, _, wrong) = handshake_by_hand(&mut a, "not-the-tree-secret", [2; 32]);
    a.handle_data(
        Instant::now(),
        ch,
        &frame(&step(AuthStep::Proof { mac: wrong })),
    );
    let out = drain(&mut a);
    assert!(out.bytes(ch).is_empty());
    assert_eq!(out.closed, [ch]);
}

#[test]
fn a_connector_with_a_wrong_secret_gets_no_acceptor_mac() {
    // Everything the acceptor writes to a connector that does not hold the
    // secret, from the connection to its close: the acceptor's opening,
    // and not one byte of a proof it could test guesses of the secret
    // against offline.
    let mut a = raw_actor(Some(TREE_SECRET), false);
    let now = Instant::now();
    let nc = [6; 32];
    let ch = a.handle_accepted(now);
    let mut sent = drain(&mut a).bytes(ch);
    a.handle_data(now, ch, &frame(&step(AuthStep::Hello { nonce: nc })));
    let out = drain(&mut a);
    sent.extend(out.bytes(ch));
    let Some(Msg::Aid(aid)) = out.msgs(ch).first().cloned() else {
        panic!("{:?}", out.msgs(ch))
    };
    let Some(AuthStep::Hello { nonce: na }) = aid.auth else {
        panic!("{:?}", out.msgs(ch))
    };
    let wrong = mac_of("not-the-tree-secret", "connector", &na, &nc);
    a.handle_data(now, ch, &frame(&step(AuthStep::Proof { mac: wrong })));
    let out = drain(&mut a);
    sent.extend(out.bytes(ch));
    assert_eq!(out.closed, [ch]);
    // The acceptor's proof for these nonces, had it sent one.
    let pa = mac_of(TREE_SECRET, "acceptor", &na, &nc);
    assert!(no_mac_in(&sent, &pa), "an acceptor MAC leaked: {sent:?}");
    let mut dec = FrameDecoder::new();
    let mut buf = BytesMut::from(&sent[..]);
    let mut msgs = Vec::new();
    while let Some(f) = dec.decode(&mut buf).unwrap() {
        msgs.push(f.msg().unwrap());
    }
    assert_eq!(msgs.len(), 1, "the opening alone: {msgs:?}");
    learned_nothing(&sent);
    assert!(a.is_idle());
    // A connector that goes without proving anything is not told, nor
    // tells, more.
    let (ch, _, _) = handshake_by_hand(&mut a, TREE_SECRET, nc);
    a.handle_closed(now, ch, None);
    let out = drain(&mut a);
    assert!(out.bytes(ch).is_empty());
    assert!(a.is_idle());
}

#[test]
fn steps_out_of_order_are_refused() {
    for msgs in [
        // A proof before any opening.
        vec![step(AuthStep::Proof { mac: [0; 32] })],
        // A second opening where the proof is due.
        vec![
            step(AuthStep::Hello { nonce: [1; 32] }),
            step(AuthStep::Hello { nonce: [1; 32] }),
        ],
        // An identity where the proof is due.
        vec![
            step(AuthStep::Hello { nonce: [1; 32] }),
            python_aid("eager"),
        ],
    ] {
        let mut a = raw_actor(Some(TREE_SECRET), false);
        let (ch, out) = accept_and_feed(&mut a, &msgs);
        learned_nothing(&out.bytes(ch));
        assert_eq!(out.closed, [ch], "{msgs:?}");
        assert!(a.is_idle());
    }
}

#[test]
fn garbage_and_truncated_frames_are_refused_without_a_word() {
    let now = Instant::now();
    let hello = frame(&step(AuthStep::Hello { nonce: [3; 32] }));
    let garbage: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        vec![0xff; 64],
        vec![0, 0, 0, 3, 0x92, 0x01, 0x02],
        // A frame announcing a body far over the limit.
        vec![0x7f, 0xff, 0xff, 0xff],
    ];
    for bytes in &garbage {
        let mut a = raw_actor(Some(TREE_SECRET), false);
        let ch = a.handle_accepted(now);
        a.handle_data(now, ch, bytes);
        a.handle_closed(now, ch, None);
        let out = drain(&mut a);
        assert!(out.bytes(ch).is_empty(), "{bytes:?}");
        assert!(a.is_idle(), "{bytes:?}");
    }
    // Every truncation of a valid opening, then the end of the stream.
    for cut in 0..hello.len() {
        let mut a = raw_actor(Some(TREE_SECRET), false);
        let ch = a.handle_accepted(now);
        a.handle_data(now, ch, &hello[..cut]);
        a.handle_closed(now, ch, None);
        let out = drain(&mut a);
        assert!(out.bytes(ch).is_empty(), "cut at {cut}");
        assert!(a.is_idle(), "cut at {cut}");
    }
    // A nonce that is not 64 hex digits does not decode at all.
    let bad = Msg::decode(Bytes::from(
        frame(&step(AuthStep::Hello { nonce: [0xab; 32] }))[4..]
            .iter()
            .map(|&b| if b == b'a' { b'g' } else { b })
            .collect::<Vec<u8>>(),
    ));
    assert!(bad.is_err(), "{bad:?}");
}

#[test]
fn an_actor_without_a_secret_refuses_an_opening() {
    let mut a = raw_actor(None, false);
    let (ch, out) = accept_and_feed(&mut a, &[step(AuthStep::Hello { nonce: [4; 32] })]);
    // Python's handshake: our Aid went out at once, as it always did.
    assert!(matches!(&out.msgs(ch)[..], [Msg::Aid(aid)] if aid.name == NAME));
    assert_eq!(out.closed, [ch]);
    // The refusal is logged, and no channel ever opened.
    assert!(out.close_reason(ch).is_none());
    assert!(a.is_idle());
}

#[test]
fn a_connector_whose_proof_is_refused_gets_a_typed_error() {
    let mut a = raw_actor(Some(TREE_SECRET), false);
    let now = Instant::now();
    let na = [5; 32];
    // Connects, and gets the acceptor's opening: returns the channel, the
    // connector's nonce, and what it sent in answer.
    let open = |a: &mut Actor| {
        let ch = a.connect(tcp(9));
        a.handle_connected(now, ch);
        let out = drain(a);
        let [Msg::Aid(hello)] = &out.msgs(ch)[..] else {
            panic!()
        };
        let Some(AuthStep::Hello { nonce: nc }) = hello.auth else {
            panic!()
        };
        learned_nothing(&out.bytes(ch));
        a.handle_data(now, ch, &frame(&step(AuthStep::Hello { nonce: na })));
        let out = drain(a);
        let msgs = out.msgs(ch);
        // The connector proves first, and names itself only once the
        // acceptor proved itself.
        assert!(
            matches!(&msgs[..], [Msg::Aid(p)]
                if p.auth == Some(AuthStep::Proof { mac: mac_of(TREE_SECRET, "connector", &na, &nc) })),
            "our proof alone: {msgs:?}"
        );
        learned_nothing(&out.bytes(ch));
        (ch, nc)
    };

    // An acceptor that refuses our proof closes without its own.
    let (ch, _) = open(&mut a);
    a.handle_closed(now, ch, None);
    let out = drain(&mut a);
    assert_eq!(
        out.close_reason(ch),
        Some(CloseReason::Auth(AuthError::Refused))
    );

    // An acceptor whose proof is wrong: our Aid stays home.
    let (ch, nc) = open(&mut a);
    let mut mac = mac_of(TREE_SECRET, "acceptor", &na, &nc);
    mac[0] ^= 1;
    a.handle_data(now, ch, &frame(&step(AuthStep::Proof { mac })));
    let out = drain(&mut a);
    learned_nothing(&out.bytes(ch));
    assert_eq!(
        out.close_reason(ch),
        Some(CloseReason::Auth(AuthError::BadProof))
    );

    // An acceptor that proves itself: our Aid goes.
    let (ch, nc) = open(&mut a);
    let mac = mac_of(TREE_SECRET, "acceptor", &na, &nc);
    a.handle_data(now, ch, &frame(&step(AuthStep::Proof { mac })));
    let msgs = drain(&mut a).msgs(ch);
    assert!(
        matches!(&msgs[..], [Msg::Aid(id)] if id.name == NAME && id.auth.is_none()),
        "{msgs:?}"
    );
}

#[test]
fn a_stranger_drops_only_the_address_of_an_actor_that_is_gone() {
    // No secret: anyone gets in. A stranger may not drop the address of an
    // actor that is still connected to the registrar, only one whose
    // holder is gone (what Python's finders use `delete_addr` for).
    let mut a = raw_actor(None, false);
    let now = Instant::now();
    let start = |who: &str, func: &str, kwargs: serde_json::Value| {
        Msg::from(Start {
            cid: format!("cid-{who}-{func}"),
            ns: "self".into(),
            func: func.into(),
            kwargs: Raw::encode(&kwargs).unwrap(),
            uid: Uid::new(who, format!("{who}-uuid")),
            pld_spec: tractor_protocol::DEFAULT_PLD_SPEC.into(),
        })
    };
    let (victim, _) = accept_and_feed(&mut a, &[python_aid("victim")]);
    a.handle_data(
        now,
        victim,
        &frame(&start(
            "victim",
            "register_actor",
            serde_json::json!({"uid": ["victim", "victim-uuid"], "addr": ["127.0.0.1", 7]}),
        )),
    );
    drain(&mut a);
    assert_eq!(a.registry().len(), 1);
    let (stranger, _) = accept_and_feed(&mut a, &[python_aid("stranger")]);
    let delete = start(
        "stranger",
        "delete_addr",
        serde_json::json!({"addr": ["127.0.0.1", 7]}),
    );
    a.handle_data(now, stranger, &frame(&delete));
    let out = drain(&mut a);
    let msgs = out.msgs(stranger);
    let [Msg::Error(e)] = &msgs[..] else {
        panic!("{msgs:?}")
    };
    assert_eq!(e.boxed_type_str, PERMISSION_ERROR);
    assert_eq!(a.registry().len(), 1, "a live actor's address stays");
    // The victim goes: its address may be dropped now.
    a.handle_closed(now, victim, None);
    drain(&mut a);
    a.handle_data(now, stranger, &frame(&delete));
    let out = drain(&mut a);
    assert!(out.events.contains(&Event::RegistryChanged));
    assert_eq!(a.registry().len(), 0);
}

#[test]
fn a_transport_that_refuses_credentials_fails_the_channel_as_unauthenticated() {
    // Whatever the transport (TLS) refused, while connecting or once open,
    // the channel fails as an authentication failure with the driver's
    // words, and is released.
    let mut a = raw_actor(None, true);
    let now = Instant::now();
    let why = AuthError::Certificate("invalid peer certificate: UnknownIssuer".into());

    let ch = a.connect(tcp(9));
    drain(&mut a);
    a.handle_refused(now, ch, why.clone());
    let out = drain(&mut a);
    assert_eq!(out.close_reason(ch), Some(CloseReason::Auth(why.clone())));
    assert!(out.closed.contains(&ch), "released: {:?}", out.closed);

    let ch = a.connect(tcp(9));
    a.handle_connected(now, ch);
    drain(&mut a);
    a.handle_refused(now, ch, why.clone());
    let out = drain(&mut a);
    assert_eq!(out.close_reason(ch), Some(CloseReason::Auth(why.clone())));
    assert!(out.closed.contains(&ch), "released: {:?}", out.closed);
    assert!(
        why.to_string().contains("UnknownIssuer"),
        "the driver's words are kept: {why}"
    );
    // Gone: a late report about it changes nothing.
    a.handle_closed(now, ch, None);
    assert_eq!(drain(&mut a).close_reason(ch), None);
}
