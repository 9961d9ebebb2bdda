//! `Event::Writable` comes exactly once after each refused `Actor::send`
//! (no credit, or the channel's output queue over the bound), once a send
//! can succeed again, and never otherwise.

use std::time::Instant;

use bytes::BytesMut;
use tractor_protocol::{
    Actor, ActorConfig, Aid, ChannelId, Credit, DialogId, Event, FuncType, Incoming, Limits, Msg,
    Output, Raw, Return, StartAck, Started, UsageError,
};

fn frame(msg: &Msg) -> Vec<u8> {
    let mut b = BytesMut::new();
    msg.encode_frame(&mut b).unwrap();
    b.to_vec()
}

/// Polls until `Timeout` and returns the events; writes are reported
/// written only when `written` says so.
fn drain(actor: &mut Actor, now: Instant, written: bool) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        match actor.poll_output() {
            Output::Transmit(t) => {
                if written {
                    actor.handle_written(now, t.channel, t.data.len());
                }
            }
            Output::Action(_) => {}
            Output::Event(e) => events.push(e),
            Output::Timeout(_) => return events,
        }
    }
}

fn writables(events: &[Event], dialog: DialogId) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Writable { dialog: d } if *d == dialog))
        .count()
}

/// An actor with one open channel to a peer (using credits or not), and a
/// context it opened there whose stream is open: the dialog and its cid.
fn setup(credits: bool, limits: Limits) -> (Actor, Instant, ChannelId, DialogId, String) {
    let now = Instant::now();
    let mut config = ActorConfig::new("sender", "1111");
    config.limits = limits;
    let mut a = Actor::new(config);
    let ch = a.handle_accepted(now);
    let aid = Msg::from(Aid {
        name: "peer".into(),
        uuid: "0000".into(),
        pid: Some(7),
        is_registrar: Some(false),
        is_probe: false,
        credit_flow: credits.then_some(1),
        auth: None,
    });
    a.handle_data(now, ch, &frame(&aid));
    drain(&mut a, now, true);
    let (d, cid) = open_ctx(&mut a, now, ch);
    (a, now, ch, d, cid)
}

/// Opens a context on `ch` and its stream: the dialog and its cid.
fn open_ctx(a: &mut Actor, now: Instant, ch: ChannelId) -> (DialogId, String) {
    let d = a
        .open_context(ch, "ns", "ctx", Raw::EMPTY_MAP, Default::default())
        .unwrap();
    drain(a, now, true);
    let cid = a.dialog_info(d).unwrap().cid;
    let ack = Msg::StartAck(StartAck {
        cid: cid.clone(),
        functype: FuncType::Context,
    });
    let started = Msg::Started(Started {
        cid: cid.clone(),
        pld: Raw::NIL,
    });
    a.handle_data(now, ch, &frame(&ack));
    a.handle_data(now, ch, &frame(&started));
    drain(a, now, true);
    while a.recv(d).unwrap().is_some() {}
    a.open_stream(d).unwrap();
    drain(a, now, true);
    (d, cid)
}

fn credit(a: &mut Actor, now: Instant, ch: ChannelId, cid: &str, n: u32) {
    let msg = Msg::Credit(Credit {
        cid: cid.to_owned(),
        n,
    });
    a.handle_data(now, ch, &frame(&msg));
}

fn item() -> Raw {
    Raw::encode(&1u8).unwrap()
}

#[test]
fn no_writable_when_credit_runs_out_and_comes_back_without_a_refused_send() {
    let (mut a, now, ch, d, cid) = setup(true, Limits::default());
    credit(&mut a, now, ch, &cid, 2);
    let events = drain(&mut a, now, true);
    assert_eq!(writables(&events, d), 0, "the first grant: nobody waited");
    a.send(d, item()).unwrap();
    a.send(d, item()).unwrap();
    let mut events = drain(&mut a, now, true);
    // Credit at zero, refilled, with no send refused meanwhile.
    credit(&mut a, now, ch, &cid, 2);
    events.extend(drain(&mut a, now, true));
    credit(&mut a, now, ch, &cid, 2);
    events.extend(drain(&mut a, now, true));
    assert_eq!(writables(&events, d), 0, "{events:?}");
    a.send(d, item()).unwrap();
}

#[test]
fn one_writable_after_a_no_credit_refusal_and_a_refill() {
    let (mut a, now, ch, d, cid) = setup(true, Limits::default());
    // No grant yet: refused, twice; one episode.
    assert_eq!(a.send(d, item()), Err(UsageError::NoCredit(d)));
    assert_eq!(a.send(d, item()), Err(UsageError::NoCredit(d)));
    assert_eq!(writables(&drain(&mut a, now, true), d), 0);
    credit(&mut a, now, ch, &cid, 1);
    let mut events = drain(&mut a, now, true);
    // More credit while nobody was refused again: no second event.
    credit(&mut a, now, ch, &cid, 1);
    events.extend(drain(&mut a, now, true));
    assert_eq!(writables(&events, d), 1, "{events:?}");
    a.send(d, item()).unwrap();
    a.send(d, item()).unwrap();
    // A new episode: one more.
    assert_eq!(a.send(d, item()), Err(UsageError::NoCredit(d)));
    credit(&mut a, now, ch, &cid, 3);
    let events = drain(&mut a, now, true);
    assert_eq!(writables(&events, d), 1, "{events:?}");
    a.send(d, item()).unwrap();
}

/// Sends until the channel's output queue is over the bound: the refusal.
fn fill(a: &mut Actor, now: Instant, ch: ChannelId, d: DialogId) {
    let big = Raw::encode(&vec![1u8; 512]).unwrap();
    for _ in 0..20 {
        match a.send(d, big.clone()) {
            Ok(()) => {
                assert_eq!(writables(&drain(a, now, false), d), 0);
            }
            Err(UsageError::NoCredit(_)) => {
                assert!(a.is_reading_paused(ch));
                return;
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the output never went over the bound");
}

fn small_queue() -> Limits {
    Limits {
        max_queued_bytes: 2048,
        ..Limits::default()
    }
}

#[test]
fn one_writable_after_an_output_queue_refusal_and_the_drain() {
    let (mut a, now, ch, d, _) = setup(false, small_queue());
    fill(&mut a, now, ch, d);
    assert_eq!(a.send(d, item()), Err(UsageError::NoCredit(d)));
    assert_eq!(writables(&drain(&mut a, now, false), d), 0);
    a.handle_written(now, ch, 1 << 20);
    let events = drain(&mut a, now, true);
    assert_eq!(writables(&events, d), 1, "{events:?}");
    a.send(d, item()).unwrap();
    assert_eq!(writables(&drain(&mut a, now, true), d), 0);
}

#[test]
fn a_sender_refused_by_the_queue_and_out_of_credit_waits_for_both() {
    let (mut a, now, ch, d, cid) = setup(true, small_queue());
    // Credit runs out with the item that fills the queue.
    credit(&mut a, now, ch, &cid, 4);
    drain(&mut a, now, true);
    fill(&mut a, now, ch, d);
    // Credit is spent by the time the queue drains: not writable yet.
    a.handle_written(now, ch, 1 << 20);
    let events = drain(&mut a, now, true);
    assert!(!a.is_reading_paused(ch));
    assert_eq!(writables(&events, d), 0, "{events:?}");
    assert_eq!(a.send(d, item()), Err(UsageError::NoCredit(d)));
    credit(&mut a, now, ch, &cid, 1);
    let events = drain(&mut a, now, true);
    assert_eq!(writables(&events, d), 1, "{events:?}");
    a.send(d, item()).unwrap();
}

#[test]
fn a_grant_that_arrives_during_a_pause_is_handled_after_the_drain() {
    let (mut a, now, ch, d, cid) = setup(true, small_queue());
    // `d` is refused for want of credit.
    assert_eq!(a.send(d, item()), Err(UsageError::NoCredit(d)));
    // Another dialog fills the channel's queue and is refused by it.
    let (other, other_cid) = open_ctx(&mut a, now, ch);
    credit(&mut a, now, ch, &other_cid, 100);
    drain(&mut a, now, true);
    fill(&mut a, now, ch, other);
    // `d`'s grant arrives while reading is paused: it waits, unread.
    credit(&mut a, now, ch, &cid, 1);
    assert!(drain(&mut a, now, false).is_empty());
    a.handle_written(now, ch, 1 << 20);
    let events = drain(&mut a, now, true);
    assert_eq!(writables(&events, d), 1, "{events:?}");
    assert_eq!(writables(&events, other), 1, "{events:?}");
    a.send(d, item()).unwrap();
    a.send(other, item()).unwrap();
}

#[test]
fn no_writable_for_a_dialog_that_ended_meanwhile() {
    // Refused for want of credit; the outcome came and was taken; a late
    // grant wakes nobody.
    let (mut a, now, ch, d, cid) = setup(true, Limits::default());
    assert_eq!(a.send(d, item()), Err(UsageError::NoCredit(d)));
    let ret = Msg::Return(Return {
        cid: cid.clone(),
        pld: Raw::NIL,
    });
    a.handle_data(now, ch, &frame(&ret));
    drain(&mut a, now, true);
    assert!(matches!(a.recv(d), Ok(Some(Incoming::Return(_)))));
    credit(&mut a, now, ch, &cid, 4);
    assert_eq!(writables(&drain(&mut a, now, true), d), 0);

    // Refused for want of credit, then left.
    let (mut a, now, ch, d, cid) = setup(true, Limits::default());
    assert_eq!(a.send(d, item()), Err(UsageError::NoCredit(d)));
    a.leave(now, d, false).unwrap();
    drain(&mut a, now, true);
    credit(&mut a, now, ch, &cid, 4);
    assert_eq!(writables(&drain(&mut a, now, true), d), 0);

    // Refused by the full queue, then left before it drained.
    let (mut a, now, ch, d, _) = setup(false, small_queue());
    fill(&mut a, now, ch, d);
    a.leave(now, d, false).unwrap();
    drain(&mut a, now, false);
    a.handle_written(now, ch, 1 << 20);
    let events = drain(&mut a, now, true);
    assert!(!a.is_reading_paused(ch));
    assert_eq!(writables(&events, d), 0, "{events:?}");
}
