//! Credit-based flow control between our own actors, and Python's overrun
//! behaviour with a peer that does not offer it.

mod sim;

use std::time::Duration;

use tractor_protocol::{
    ContextOptions, DEFAULT_CREDIT_WINDOW, DEFAULT_MSG_BUFFER_SIZE, DialogId, Endpoints, FuncType,
    Incoming, Raw, STREAM_OVERRUN, UsageError,
};

use sim::{Idle, Log, Sim, Task, TaskCx, Tasks, tcp};

const NS: &str = "app.flow";

/// Streams `0..n` as fast as the peer lets it.
struct Producer {
    next: u64,
    n: u64,
    blocked: u64,
}

impl Producer {
    fn pump(&mut self, cx: &mut TaskCx<'_>) {
        while self.next < self.n {
            match cx.actor.send(cx.dialog, Raw::encode(&self.next).unwrap()) {
                Ok(()) => self.next += 1,
                Err(UsageError::NoCredit(_)) => {
                    self.blocked += 1;
                    return;
                }
                Err(e) => panic!("{e}"),
            }
        }
        cx.actor.close_stream(cx.dialog).unwrap();
        cx.actor
            .finish(cx.dialog, Ok(Raw::encode(&self.blocked).unwrap()))
            .unwrap();
    }
}

impl Task for Producer {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        cx.actor.accept(cx.dialog).unwrap();
        cx.actor.started(cx.dialog, Raw::NIL).unwrap();
        cx.actor.open_stream(cx.dialog).unwrap();
        self.pump(cx);
    }
    fn on_writable(&mut self, cx: &mut TaskCx<'_>) {
        self.pump(cx);
    }
    fn on_readable(&mut self, cx: &mut TaskCx<'_>) {
        while let Ok(Some(_)) = cx.actor.recv(cx.dialog) {}
    }
}

fn pair(seed: u64, consumer_flow: bool) -> (Sim, usize, usize, tractor_protocol::ChannelId) {
    let mut sim = Sim::new(seed);
    let mut cfg = Sim::config("consumer");
    cfg.flow_control = consumer_flow;
    let consumer = sim.add(cfg, tcp(1), Idle);
    let mut cfg = Sim::config("producer");
    cfg.endpoints = Endpoints::new().expose(NS, "produce", FuncType::Context);
    let tasks = Tasks::new(&Log::default()).serve(NS, "produce", |kw| Producer {
        next: 0,
        n: kw
            .decode::<std::collections::BTreeMap<String, u64>>()
            .unwrap()["n"],
        blocked: 0,
    });
    let producer = sim.add(cfg, tcp(2), tasks);
    let ch = sim.connect(consumer, producer);
    (sim, consumer, producer, ch)
}

fn open(
    sim: &mut Sim,
    consumer: usize,
    ch: tractor_protocol::ChannelId,
    n: u64,
    buffer: usize,
) -> DialogId {
    let mut kw = std::collections::BTreeMap::new();
    kw.insert("n", n);
    let opts = ContextOptions {
        msg_buffer_size: buffer,
        allow_overruns: false,
        credit_window: buffer,
    };
    sim.with(consumer, |cx| {
        cx.actor
            .open_context(ch, NS, "produce", Raw::encode(&kw).unwrap(), opts)
    })
    .unwrap()
}

/// Reads one item per millisecond until the outcome, checking that no more
/// than `buffer` items ever wait, and returns the items.
fn slow_read(sim: &mut Sim, consumer: usize, d: DialogId, buffer: usize) -> (Vec<u64>, Incoming) {
    let mut items = Vec::new();
    loop {
        sim.sleep(Duration::from_millis(1));
        let mut waiting = Vec::new();
        while let Ok(Some(item)) = sim.nodes[consumer].actor.recv(d) {
            waiting.push(item);
        }
        let yields = waiting
            .iter()
            .filter(|i| matches!(i, Incoming::Yield(_)))
            .count();
        assert!(
            yields <= buffer,
            "{yields} items waited in a buffer of {buffer}"
        );
        for item in waiting {
            match item {
                Incoming::Yield(v) => items.push(v.decode().unwrap()),
                Incoming::Started(_) | Incoming::Stop => {}
                outcome => return (items, outcome),
            }
        }
        assert!(sim.elapsed() < Duration::from_secs(60), "hung");
    }
}

#[test]
fn a_fast_producer_waits_for_a_slow_consumer() {
    let (mut sim, consumer, producer, ch) = pair(1, true);
    let d = open(&mut sim, consumer, ch, 1000, 64);
    let (items, outcome) = slow_read(&mut sim, consumer, d, 64);
    assert_eq!(items, (0..1000).collect::<Vec<_>>(), "every item, in order");
    let Incoming::Return(blocked) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        blocked.decode::<u64>().unwrap() > 10,
        "the producer was held back"
    );
    // No overrun, and grants came in batches of half a buffer.
    assert!(
        !sim.wire
            .iter()
            .any(|w| matches!(&w.msg, tractor_protocol::Msg::Error(_)))
    );
    let grants = sim
        .wire_types(consumer, producer)
        .iter()
        .filter(|t| **t == "Credit")
        .count();
    assert!(
        (1000 / 32..=1000 / 32 + 2).contains(&grants),
        "{grants} grants"
    );
    leave_and_settle(&mut sim, consumer, producer, d);
}

#[test]
fn a_one_item_buffer_works_with_credits() {
    let (mut sim, consumer, _, ch) = pair(2, true);
    let d = open(&mut sim, consumer, ch, 100, 1);
    let (items, outcome) = slow_read(&mut sim, consumer, d, 1);
    assert_eq!(items.len(), 100);
    assert!(matches!(outcome, Incoming::Return(_)));
}

#[test]
fn without_credits_the_peer_overruns_as_in_python() {
    // The consumer does not offer credits (as a Python actor): the producer
    // sends freely and the consumer's full buffer fails it.
    let (mut sim, consumer, producer, ch) = pair(3, false);
    let d = open(&mut sim, consumer, ch, 1000, 64);
    sim.settle(Duration::from_secs(1));
    assert!(!sim.wire_types(consumer, producer).contains(&"Credit"));
    assert!(!sim.wire_types(producer, consumer).contains(&"Credit"));
    let errors: Vec<_> = sim
        .wire
        .iter()
        .filter_map(|w| match &w.msg {
            tractor_protocol::Msg::Error(e) if w.from == consumer => Some(e.boxed_type_str.clone()),
            _ => None,
        })
        .collect();
    assert!(errors.iter().all(|e| e == STREAM_OVERRUN) && !errors.is_empty());
    sim.with(consumer, |cx| cx.actor.leave(cx.now, d, true))
        .unwrap();
}

#[test]
fn the_default_window_lets_more_than_python_s_buffer_wait() {
    // Our actors grant more than Python's 64-message buffer; the receiver
    // must hold what it granted without calling it an overrun.
    let (mut sim, consumer, producer, ch) = pair(3, true);
    let kw = std::collections::BTreeMap::from([("n", 2000u64)]);
    let d = sim
        .with(consumer, |cx| {
            cx.actor.open_context(
                ch,
                NS,
                "produce",
                Raw::encode(&kw).unwrap(),
                ContextOptions::default(),
            )
        })
        .unwrap();
    // Let the producer fill the window before anything is read.
    sim.sleep(Duration::from_millis(50));
    let mut items: Vec<u64> = Vec::new();
    while let Ok(Some(item)) = sim.nodes[consumer].actor.recv(d) {
        if let Incoming::Yield(v) = item {
            items.push(v.decode().unwrap());
        }
    }
    assert!(
        items.len() > DEFAULT_MSG_BUFFER_SIZE && items.len() <= DEFAULT_CREDIT_WINDOW,
        "{} items waited",
        items.len()
    );
    let (rest, outcome) = slow_read(&mut sim, consumer, d, DEFAULT_CREDIT_WINDOW);
    items.extend(rest);
    assert_eq!(items, (0..2000).collect::<Vec<_>>());
    assert!(matches!(outcome, Incoming::Return(_)), "{outcome:?}");
    assert!(
        !sim.wire_types(consumer, producer).contains(&"Error"),
        "no overrun"
    );
}

/// Counts the core's `debug` reports of stream items dropped after close.
#[derive(Clone, Default)]
struct DropReports(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl DropReports {
    fn count(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl tracing::Subscriber for DropReports {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let meta = event.metadata();
        if meta.target() != "tractor::transport" || *meta.level() != tracing::Level::DEBUG {
            return;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        if message
            .0
            .contains("after this side closed its stream: dropped")
        {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Items dropped after close, as the consumer's dialog listing counts
/// them.
fn dropped(sim: &Sim, consumer: usize, d: DialogId) -> u64 {
    let all = sim.nodes[consumer].actor.dialogs();
    let info = all
        .iter()
        .find(|i| i.id == d)
        .expect("the dialog is listed");
    info.dropped_after_close
}

#[test]
fn items_after_close_are_dropped_counted_and_never_hold_the_sender_back() {
    // The consumer closes its side (both ways, as Python's `aclose`)
    // without reading, while the producer has a window of items queued
    // and goes on sending. What came before the close is still read;
    // everything after it is dropped, logged and counted; and the
    // producer, which never stops on its own, still ends: a side that no
    // longer reads never makes its peer wait for credit.
    let reports = DropReports::default();
    tracing::subscriber::with_default(reports.clone(), || {
        let (mut sim, consumer, producer, ch) = pair(5, true);
        let d = open(&mut sim, consumer, ch, 1000, 64);
        // The producer fills the window, then waits for a grant.
        sim.sleep(Duration::from_millis(50));
        assert_eq!(dropped(&sim, consumer, d), 0);
        ok_close(&mut sim, consumer, d);
        let mut items: Vec<u64> = Vec::new();
        let outcome = loop {
            sim.sleep(Duration::from_millis(1));
            let mut end = None;
            while let Ok(Some(item)) = sim.nodes[consumer].actor.recv(d) {
                match item {
                    Incoming::Yield(v) => items.push(v.decode().unwrap()),
                    Incoming::Started(_) | Incoming::Stop => {}
                    outcome => end = Some(outcome),
                }
            }
            if let Some(outcome) = end {
                break outcome;
            }
            assert!(sim.elapsed() < Duration::from_secs(60), "the producer hung");
        };
        assert!(matches!(outcome, Incoming::Return(_)), "{outcome:?}");
        assert_eq!(
            items,
            (0..64).collect::<Vec<_>>(),
            "what came before the close"
        );
        assert_eq!(dropped(&sim, consumer, d), 1000 - 64);
        assert_eq!(reports.count(), 1000 - 64);
        assert!(
            !sim.wire_types(consumer, producer).contains(&"Error"),
            "no overrun"
        );
        leave_and_settle(&mut sim, consumer, producer, d);
    });
}

#[test]
fn items_after_close_are_dropped_without_an_overrun_towards_python() {
    // Without credits (a Python consumer's behaviour) the producer sends
    // freely: a consumer that closed its side drops every item rather
    // than failing the producer with an overrun.
    let (mut sim, consumer, producer, ch) = pair(6, false);
    let d = open(&mut sim, consumer, ch, 1000, 64);
    ok_close(&mut sim, consumer, d);
    let outcome = sim.outcome(consumer, d, Duration::from_secs(10));
    assert!(matches!(outcome, Incoming::Return(_)), "{outcome:?}");
    assert_eq!(dropped(&sim, consumer, d), 1000);
    assert!(!sim.wire_types(consumer, producer).contains(&"Error"));
    sim.with(consumer, |cx| cx.actor.leave(cx.now, d, false))
        .unwrap();
}

/// The consumer leaves the dialog; once things settle, neither side holds
/// a dialog any more.
fn leave_and_settle(sim: &mut Sim, consumer: usize, producer: usize, d: DialogId) {
    sim.with(consumer, |cx| cx.actor.leave(cx.now, d, false))
        .unwrap();
    sim.settle(Duration::from_secs(1));
    assert_eq!(sim.nodes[consumer].actor.live_state().1, 0);
    assert_eq!(sim.nodes[producer].actor.live_state().1, 0);
}

fn ok_close(sim: &mut Sim, consumer: usize, d: DialogId) {
    sim.with(consumer, |cx| cx.actor.close_stream(d)).unwrap();
}
