//! Every channel that goes away releases its connection, and every
//! per-peer resource is bounded (see `Limits`).

use std::time::{Duration, Instant};

use bytes::BytesMut;
use tractor_protocol::{
    Action, Actor, ActorConfig, Aid, ChannelId, CloseReason, Endpoints, Event, FrameDecoder,
    FuncType, Limits, Msg, Output, Raw, Start, TOO_MANY_DIALOGS, Uid, UsageError,
};

/// What one drain of the actor produced.
#[derive(Default, Debug)]
struct Drained {
    transmits: Vec<(ChannelId, usize)>,
    actions: Vec<Action>,
    events: Vec<Event>,
    sent: Vec<Msg>,
}

impl Drained {
    fn released(&self, channel: ChannelId) -> Vec<&Action> {
        self.actions
            .iter()
            .filter(|a| {
                matches!(a, Action::Close { channel: c } | Action::Abort { channel: c } if *c == channel)
            })
            .collect()
    }
}

/// Polls until `Timeout`; writes are reported only when `written` says so.
fn drain(actor: &mut Actor, now: Instant, written: bool) -> Drained {
    let mut out = Drained::default();
    loop {
        match actor.poll_output() {
            Output::Transmit(t) => {
                let mut buf = BytesMut::from(&t.data[..]);
                let mut decoder = FrameDecoder::new();
                while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                    out.sent.push(frame.msg().unwrap());
                }
                out.transmits.push((t.channel, t.data.len()));
                if written {
                    actor.handle_written(now, t.channel, t.data.len());
                }
            }
            Output::Action(a) => out.actions.push(a),
            Output::Event(e) => out.events.push(e),
            Output::Timeout(_) => return out,
        }
    }
}

fn frame(msg: &Msg) -> Vec<u8> {
    let mut b = BytesMut::new();
    msg.encode_frame(&mut b).unwrap();
    b.to_vec()
}

fn peer() -> Uid {
    Uid::new("peer", "0000")
}

fn aid() -> Msg {
    Msg::from(Aid {
        name: peer().name,
        uuid: peer().uuid,
        pid: Some(7),
        is_registrar: Some(false),
        is_probe: false,
        credit_flow: None,
        auth: None,
    })
}

fn actor(limits: Limits) -> Actor {
    let mut config = ActorConfig::new("daemon", "1111");
    let mut endpoints = Endpoints::new();
    endpoints.insert("ns", "func", FuncType::AsyncFunc);
    config.endpoints = endpoints;
    config.limits = limits;
    Actor::new(config)
}

/// An accepted channel whose handshake is done.
fn open(a: &mut Actor, now: Instant) -> ChannelId {
    let ch = a.handle_accepted(now);
    a.handle_data(now, ch, &frame(&aid()));
    let d = drain(a, now, true);
    assert!(
        d.events
            .iter()
            .any(|e| matches!(e, Event::ChannelOpened { channel, .. } if *channel == ch))
    );
    ch
}

fn start(cid: &str) -> Msg {
    Msg::from(Start::new(cid, "ns", "func", Raw::EMPTY_MAP, peer()))
}

#[test]
fn a_connection_that_ends_at_any_point_is_released_once() {
    let now = Instant::now();
    // Before a byte, mid-frame, after the handshake, with an error.
    let aid = frame(&aid());
    let cases: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("empty", vec![], None),
        ("partial frame", aid[..aid.len() / 2].to_vec(), None),
        ("after the handshake", aid.clone(), None),
        ("broken", aid.clone(), Some("reset".into())),
    ];
    for (what, bytes, error) in cases {
        let mut a = actor(Limits::default());
        let ch = a.handle_accepted(now);
        a.handle_data(now, ch, &bytes);
        drain(&mut a, now, true);
        a.handle_closed(now, ch, error);
        let d = drain(&mut a, now, true);
        assert_eq!(
            d.released(ch),
            vec![&Action::Abort { channel: ch }],
            "{what}: released at once"
        );
        assert!(a.is_idle(), "{what}: nothing left: {a:?}");
    }
}

#[test]
fn a_connection_closed_by_us_flushes_then_is_released_once() {
    let now = Instant::now();
    let mut a = actor(Limits::default());
    let ch = open(&mut a, now);
    a.close(now, ch);
    let d = drain(&mut a, now, true);
    assert_eq!(d.released(ch), vec![&Action::Close { channel: ch }]);
    assert!(a.is_idle());

    // A handshake that never comes: closed at the deadline.
    let mut a = actor(Limits::default());
    let ch = a.handle_accepted(now);
    drain(&mut a, now, true);
    let later = now + Duration::from_secs(60);
    a.handle_timeout(later);
    let d = drain(&mut a, later, true);
    assert_eq!(d.released(ch), vec![&Action::Close { channel: ch }]);
    assert!(a.is_idle());

    // A connect given up on before it is up.
    let mut a = actor(Limits::default());
    let ch = a.connect(tractor_protocol::Address::tcp("127.0.0.1", 1));
    drain(&mut a, now, true);
    a.close(now, ch);
    let d = drain(&mut a, now, true);
    assert_eq!(d.released(ch), vec![&Action::Abort { channel: ch }]);
}

#[test]
fn a_close_whose_flush_does_not_go_out_is_cut_short() {
    let now = Instant::now();
    let limits = Limits::default();
    let stall = limits.stall_timeout;
    let mut a = actor(limits);
    let ch = a.handle_accepted(now);
    // Our `Aid` is transmitted and never reported written.
    drain(&mut a, now, false);
    a.close(now, ch);
    let d = drain(&mut a, now, false);
    assert_eq!(d.released(ch), vec![&Action::Close { channel: ch }]);
    assert!(!a.is_idle(), "the flush is still awaited");
    let later = now + stall;
    a.handle_timeout(later);
    let d = drain(&mut a, later, false);
    assert_eq!(d.released(ch), vec![&Action::Abort { channel: ch }]);
    assert!(a.is_idle());
}

#[test]
fn a_peer_that_does_not_read_pauses_its_input_then_is_dropped() {
    let now = Instant::now();
    let limits = Limits {
        max_queued_bytes: 4096,
        max_queued_frames: 1000,
        ..Limits::default()
    };
    let stall = limits.stall_timeout;
    let mut a = actor(limits);
    let ch = open(&mut a, now);
    // Calls answered with 1 KiB each, nothing of which is written.
    let big = Raw::encode(&vec![7u8; 1024]).unwrap();
    let mut paused_after = None;
    for i in 0..20 {
        a.handle_data(now, ch, &frame(&start(&format!("c{i}"))));
        let d = drain(&mut a, now, false);
        for e in &d.events {
            if let Event::Invoke { dialog, .. } = e {
                a.accept(*dialog).unwrap();
                a.finish(*dialog, Ok(big.clone())).unwrap();
            }
        }
        let d = drain(&mut a, now, false);
        if d.actions.contains(&Action::PauseReading { channel: ch }) {
            paused_after = Some(i);
            break;
        }
    }
    let paused_after = paused_after.expect("reading paused");
    assert!(paused_after >= 3, "not before the bound: {paused_after}");
    assert!(a.is_reading_paused(ch));

    // Progress re-arms the stall deadline; draining resumes reading.
    let t1 = now + stall / 2;
    a.handle_written(t1, ch, 100);
    let d = drain(&mut a, t1, false);
    assert!(d.actions.is_empty());
    a.handle_timeout(now + stall);
    let d = drain(&mut a, now + stall, false);
    assert!(d.released(ch).is_empty(), "progress was made");
    a.handle_written(t1, ch, 1 << 20);
    let d = drain(&mut a, t1, false);
    assert_eq!(d.actions, vec![Action::ResumeReading { channel: ch }]);
    assert!(!a.is_reading_paused(ch));

    // Over the bound again, and stuck: dropped at the deadline.
    for i in 100..120 {
        a.handle_data(t1, ch, &frame(&start(&format!("c{i}"))));
        let d = drain(&mut a, t1, false);
        for e in &d.events {
            if let Event::Invoke { dialog, .. } = e {
                a.accept(*dialog).unwrap();
                a.finish(*dialog, Ok(big.clone())).unwrap();
            }
        }
        drain(&mut a, t1, false);
        if a.is_reading_paused(ch) {
            break;
        }
    }
    assert!(a.is_reading_paused(ch));
    let t2 = t1 + stall;
    a.handle_timeout(t2);
    let d = drain(&mut a, t2, false);
    assert_eq!(d.released(ch), vec![&Action::Abort { channel: ch }]);
    assert!(d.events.iter().any(|e| matches!(
        e,
        Event::ChannelClosed { channel, reason: CloseReason::Stalled(_), .. } if *channel == ch
    )));
}

#[test]
fn stream_items_wait_while_the_peer_is_over_the_bound() {
    let now = Instant::now();
    let limits = Limits {
        max_queued_bytes: 2048,
        ..Limits::default()
    };
    let mut a = actor(limits);
    let ch = open(&mut a, now);
    // A context we open: its stream sends items to the peer.
    let d = a
        .open_context(ch, "ns", "ctx", Raw::EMPTY_MAP, Default::default())
        .unwrap();
    drain(&mut a, now, false);
    let cid = a.dialog_info(d).unwrap().cid;
    let ack = Msg::StartAck(tractor_protocol::StartAck {
        cid: cid.clone(),
        functype: FuncType::Context,
    });
    let started = Msg::Started(tractor_protocol::Started { cid, pld: Raw::NIL });
    a.handle_data(now, ch, &frame(&ack));
    a.handle_data(now, ch, &frame(&started));
    drain(&mut a, now, false);
    while a.recv(d).unwrap().is_some() {}
    a.open_stream(d).unwrap();
    let item = Raw::encode(&vec![1u8; 512]).unwrap();
    let mut refused = false;
    for _ in 0..20 {
        match a.send(d, item.clone()) {
            Ok(()) => {
                drain(&mut a, now, false);
            }
            Err(UsageError::NoCredit(_)) => {
                refused = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused, "sends wait once the output is over the bound");
    a.handle_written(now, ch, 1 << 20);
    let out = drain(&mut a, now, false);
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::Writable { dialog } if *dialog == d))
    );
    a.send(d, item).unwrap();
}

#[test]
fn connections_over_the_limits_are_dropped_at_once() {
    let now = Instant::now();
    let limits = Limits {
        max_connections: 3,
        max_pending_connections: 2,
        ..Limits::default()
    };
    let mut a = actor(limits);
    let p1 = a.handle_accepted(now);
    let p2 = a.handle_accepted(now);
    drain(&mut a, now, true);
    // Two handshaking already: the third waits for none.
    let p3 = a.handle_accepted(now);
    let d = drain(&mut a, now, true);
    assert_eq!(d.released(p3), vec![&Action::Abort { channel: p3 }]);
    assert!(d.transmits.iter().all(|(c, _)| *c != p3), "not a byte sent");
    // One finishes its handshake: room for one more pending.
    a.handle_data(now, p1, &frame(&aid()));
    let p4 = a.handle_accepted(now);
    let d = drain(&mut a, now, true);
    assert!(d.released(p4).is_empty());
    // Three open: the fourth is over the connection limit.
    let p5 = a.handle_accepted(now);
    let d = drain(&mut a, now, true);
    assert_eq!(d.released(p5), vec![&Action::Abort { channel: p5 }]);
    // Closing frees room.
    a.handle_closed(now, p2, None);
    drain(&mut a, now, true);
    let p6 = a.handle_accepted(now);
    let d = drain(&mut a, now, true);
    assert!(d.released(p6).is_empty());
}

#[test]
fn calls_over_the_per_peer_limit_get_a_typed_error() {
    let now = Instant::now();
    let limits = Limits {
        max_dialogs_per_peer: 2,
        ..Limits::default()
    };
    let mut a = actor(limits);
    let ch = open(&mut a, now);
    let mut invoked = Vec::new();
    let mut refused = Vec::new();
    for i in 0..4 {
        a.handle_data(now, ch, &frame(&start(&format!("c{i}"))));
        let d = drain(&mut a, now, true);
        for e in &d.events {
            if let Event::Invoke { dialog, .. } = e {
                invoked.push(*dialog);
            }
        }
        for m in &d.sent {
            if let Msg::Error(e) = m {
                refused.push((e.cid.clone(), e.boxed_type_str.clone()));
            }
        }
    }
    assert_eq!(invoked.len(), 2);
    assert_eq!(
        refused,
        vec![
            (Some("c2".to_owned()), TOO_MANY_DIALOGS.to_owned()),
            (Some("c3".to_owned()), TOO_MANY_DIALOGS.to_owned()),
        ]
    );
    // One finishes: the next call runs.
    a.accept(invoked[0]).unwrap();
    a.finish(invoked[0], Ok(Raw::NIL)).unwrap();
    drain(&mut a, now, true);
    a.handle_data(now, ch, &frame(&start("c4")));
    let d = drain(&mut a, now, true);
    assert!(d.events.iter().any(|e| matches!(e, Event::Invoke { .. })));
}

#[test]
fn input_read_while_paused_waits_and_is_handled_on_resume() {
    let now = Instant::now();
    let limits = Limits {
        max_queued_bytes: 1024,
        ..Limits::default()
    };
    let mut a = actor(limits);
    let ch = open(&mut a, now);
    let big = Raw::encode(&vec![7u8; 2048]).unwrap();
    a.handle_data(now, ch, &frame(&start("c0")));
    let d = drain(&mut a, now, false);
    let Some(Event::Invoke { dialog, .. }) = d.events.first() else {
        panic!("{d:?}");
    };
    a.accept(*dialog).unwrap();
    a.finish(*dialog, Ok(big)).unwrap();
    let d = drain(&mut a, now, false);
    assert!(d.actions.contains(&Action::PauseReading { channel: ch }));
    // Three calls read in one go: none runs while paused.
    let mut bytes = Vec::new();
    for cid in ["c1", "c2", "c3"] {
        bytes.extend(frame(&start(cid)));
    }
    a.handle_data(now, ch, &bytes);
    let d = drain(&mut a, now, false);
    assert!(!d.events.iter().any(|e| matches!(e, Event::Invoke { .. })));
    // Written: reading resumes and the three run.
    a.handle_written(now, ch, 1 << 20);
    let d = drain(&mut a, now, false);
    assert!(d.actions.contains(&Action::ResumeReading { channel: ch }));
    let invoked = d
        .events
        .iter()
        .filter(|e| matches!(e, Event::Invoke { .. }))
        .count();
    assert_eq!(invoked, 3);
    // A peer that leaves while paused: its unhandled calls are dropped.
    let mut a = actor(Limits {
        max_queued_bytes: 1024,
        ..Limits::default()
    });
    let ch = open(&mut a, now);
    a.handle_data(now, ch, &frame(&start("c0")));
    let d = drain(&mut a, now, false);
    let Some(Event::Invoke { dialog, .. }) = d.events.first() else {
        panic!("{d:?}");
    };
    a.accept(*dialog).unwrap();
    a.finish(*dialog, Ok(Raw::encode(&vec![7u8; 2048]).unwrap()))
        .unwrap();
    drain(&mut a, now, false);
    a.handle_data(now, ch, &frame(&start("c1")));
    a.handle_closed(now, ch, None);
    let d = drain(&mut a, now, false);
    assert!(!d.events.iter().any(|e| matches!(e, Event::Invoke { .. })));
    assert!(d.events.iter().any(|e| matches!(
        e,
        Event::ChannelClosed {
            reason: CloseReason::Eof,
            ..
        }
    )));
    assert_eq!(d.released(ch), vec![&Action::Abort { channel: ch }]);
    assert!(a.is_idle(), "{a:?}");
}

#[test]
fn keepalive_probes_end_within_the_keepalive() {
    use std::time::Duration;
    use tractor_protocol::{DEFAULT_KEEPALIVE, Keepalive, MIN_KEEPALIVE};
    let probes = |secs: u64| {
        Limits {
            keepalive: Some(Duration::from_secs(secs)),
            ..Limits::default()
        }
        .keepalive_probes()
        .unwrap()
    };
    // The default: 15 s of silence, then three probes 5 s apart.
    assert_eq!(Limits::default().keepalive, Some(DEFAULT_KEEPALIVE));
    assert_eq!(
        probes(30),
        Keepalive {
            idle: Duration::from_secs(15),
            interval: Duration::from_secs(5),
            probes: 3,
            user_timeout: Duration::from_secs(30),
        }
    );
    // Whatever the keepalive, the last probe ends within it, and not
    // much before (TCP counts whole seconds; at most three probes).
    for secs in 2..=3600 {
        let k = probes(secs);
        let ends = k.idle + k.interval * k.probes;
        assert!(ends <= Duration::from_secs(secs), "{secs}: {k:?}");
        assert!(
            ends + Duration::from_secs(3) > Duration::from_secs(secs),
            "{secs}: {k:?}"
        );
        assert!(k.idle >= Duration::from_secs(1) && k.interval >= Duration::from_secs(1));
        assert!((1..=3).contains(&k.probes), "{secs}: {k:?}");
        assert_eq!(k.user_timeout, Duration::from_secs(secs));
    }
    // Under the least honoured: the least; sub-second parts are dropped.
    assert_eq!(probes(0), probes(MIN_KEEPALIVE.as_secs()));
    let half = Limits {
        keepalive: Some(Duration::from_millis(10_900)),
        ..Limits::default()
    };
    assert_eq!(half.keepalive_probes().unwrap(), probes(10));
    // Off: nothing to set.
    let off = Limits {
        keepalive: None,
        ..Limits::default()
    };
    assert_eq!(off.keepalive_probes(), None);
}
