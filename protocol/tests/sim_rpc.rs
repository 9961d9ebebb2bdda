//! Channels and plain RPC in the simulated network. Tests named after a
//! scenario id of spec/SCENARIOS.md check that scenario.

mod sim;

use std::time::Duration;

use tractor_protocol::{
    CloseReason, DialogError, Endpoints, Event, FuncType, Incoming, LocalError, MODULE_NOT_EXPOSED,
    Raw, RemoteErrorKind, TaskError,
};

use sim::{Idle, Log, Reply, Service, Sim, Task, TaskCx, Tasks, tcp};

const SECOND: Duration = Duration::from_secs(1);

fn int(v: i64) -> Raw {
    Raw::encode(&v).unwrap()
}

/// A root (registrar) and a worker exposing `app.math:square` and
/// `app.math:slow_square` (answers after `delay`).
fn root_and_worker(seed: u64) -> (Sim, usize, usize) {
    let mut sim = Sim::new(seed);
    let mut root = Sim::config("root");
    root.is_registrar = true;
    let root = sim.add(root, tcp(1616), Idle);
    let mut worker = Sim::config("worker");
    worker.endpoints = Endpoints::new()
        .expose("app.math", "square", FuncType::AsyncFunc)
        .expose("app.math", "slow_square", FuncType::AsyncFunc)
        .expose("app.math", "fail", FuncType::AsyncFunc)
        .expose("app.math", "hang", FuncType::AsyncFunc);
    let service = Service::new()
        // Arguments that do not fit are refused before the function runs,
        // as Python refuses a call that raises TypeError on binding.
        .handle("app.math", "square", |kw| match kw.decode::<Args>() {
            Ok(a) => Reply::Now(Ok(int(a.x * a.x))),
            Err(e) => Reply::Reject(LocalError::new("TypeError", e.to_string()).into()),
        })
        .handle("app.math", "slow_square", |kw| {
            let a: Args = kw.decode().unwrap();
            // Later calls answer sooner, so replies overtake each other.
            // 5 ms apart: more than the network jitter.
            Reply::After(
                Duration::from_millis(200 - 5 * a.x as u64),
                Ok(int(a.x * a.x)),
            )
        })
        .handle("app.math", "fail", |_| {
            Reply::Now(Err(LocalError::new("ValueError", "no good")
                .with_traceback("Traceback:\n  worker.rs:1 in fail")
                .into()))
        })
        .handle("app.math", "hang", |_| Reply::Hang);
    let worker = sim.add(worker, tcp(2000), service);
    (sim, root, worker)
}

#[derive(serde::Deserialize)]
struct Args {
    x: i64,
}

fn kwargs(x: i64) -> Raw {
    #[derive(serde::Serialize)]
    struct K {
        x: i64,
    }
    Raw::encode(&K { x }).unwrap()
}

fn remote(item: Incoming) -> tractor_protocol::RemoteError {
    match item {
        Incoming::Error(DialogError::Remote(e)) => e,
        other => panic!("expected a remote error, got {other:?}"),
    }
}

#[test]
fn handshake_both_ways_then_clean_close() {
    let (mut sim, root, worker) = root_and_worker(1);
    let ch = sim.connect(root, worker);
    // Both ends saw the other's identity.
    let peer = sim.nodes[root].actor.peer(ch).unwrap().clone();
    assert_eq!(peer.name, "worker");
    assert_eq!(
        peer.is_registrar,
        Some(false),
        "a non-registrar says false explicitly"
    );
    let seen_by_worker = sim.events_of(worker, |e| match e {
        Event::ChannelOpened { peer, .. } => Some(peer.clone()),
        _ => None,
    });
    assert_eq!(seen_by_worker.len(), 1);
    assert_eq!(seen_by_worker[0].is_registrar, Some(true));
    assert_eq!(sim.wire_types(root, worker), ["Aid"]);
    assert_eq!(sim.wire_types(worker, root), ["Aid"]);

    sim.with(root, |cx| cx.actor.close(cx.now, ch));
    sim.settle(SECOND);
    let closed = sim.events_of(worker, |e| match e {
        Event::ChannelClosed { reason, peer, .. } => Some((reason.clone(), peer.clone())),
        _ => None,
    });
    assert_eq!(
        closed,
        [(CloseReason::Eof, Some(sim.nodes[root].actor.uid().clone()))]
    );
    sim.assert_clean(root);
    sim.assert_clean(worker);
}

#[test]
fn a_connection_up_already_is_attached_in_one_call() {
    // Without a secret, and with the tree's: the same handshake as a
    // connect, with no `Connect` asked of the driver.
    for secret in [false, true] {
        let mut sim = Sim::new(11);
        let config = |name: &str| match secret {
            false => Sim::config(name),
            true => Sim::tree_config(name),
        };
        let client = sim.add(config("client"), tcp(1000), Idle);
        let mut server = config("server");
        server.endpoints = Endpoints::new().expose("app.math", "square", FuncType::AsyncFunc);
        let service = Service::new().handle("app.math", "square", |kw| {
            let a: Args = kw.decode().unwrap();
            Reply::Now(Ok(int(a.x * a.x)))
        });
        let server = sim.add(server, tcp(2000), service);
        let (ch, accepted) = sim.attach(client, server);
        sim.run_until(SECOND, |s| {
            s.opened(client, ch) && s.opened(server, accepted)
        });
        assert_eq!(
            sim.nodes[client].actor.peer(ch).unwrap().uid(),
            *sim.nodes[server].actor.uid()
        );
        assert_eq!(
            sim.nodes[server].actor.peer(accepted).unwrap().uid(),
            *sim.nodes[client].actor.uid()
        );
        assert_eq!(sim.nodes[client].actor.peer_authenticated(ch), secret);
        assert_eq!(sim.nodes[server].actor.peer_authenticated(accepted), secret);
        let d = sim.with(client, |cx| {
            cx.actor.call(ch, "app.math", "square", kwargs(9)).unwrap()
        });
        match sim.outcome(client, d, SECOND) {
            Incoming::Return(v) => assert_eq!(v.decode::<i64>().unwrap(), 81),
            other => panic!("expected a return, got {other:?}"),
        }
        assert!(
            sim.nodes[client].connects.is_empty(),
            "no Connect asked for"
        );
        assert!(sim.nodes[server].connects.is_empty());
        sim.with(client, |cx| cx.actor.close(cx.now, ch));
        sim.settle(SECOND);
        sim.assert_clean(client);
        sim.assert_clean(server);
    }
}

#[test]
fn an_attached_connection_whose_peer_never_answers_times_out() {
    let mut sim = Sim::new(12);
    let client = sim.add(Sim::config("client"), tcp(1000), Idle);
    let now = sim.now;
    let ch = sim.with(client, |cx| cx.actor.attach_connected(now));
    // Nobody at the other end: the handshake deadline closes it.
    sim.settle(tractor_protocol::DEFAULT_HANDSHAKE_TIMEOUT * 2);
    let closed = sim.events_of(client, |e| match e {
        Event::ChannelClosed {
            channel, reason, ..
        } if *channel == ch => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(
        closed,
        [CloseReason::HandshakeTimeout(
            tractor_protocol::DEFAULT_HANDSHAKE_TIMEOUT
        )]
    );
    assert!(sim.nodes[client].connects.is_empty());
    sim.assert_clean(client);
}

#[test]
fn disc_probe_no_phantom_peer() {
    let (mut sim, root, worker) = root_and_worker(2);
    let addr = sim.nodes[root].addr.clone();
    let probe = sim.with(worker, |cx| cx.actor.probe(addr));
    sim.settle(SECOND);
    let answers = sim.events_of(worker, |e| match e {
        Event::ProbeAnswered { channel, peer } if *channel == probe => Some(peer.clone()),
        _ => None,
    });
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].is_registrar, Some(true));
    // The probe's own Aid says so, with nil for is_registrar.
    let probe_aid = sim.wire.iter().find(|w| w.from == worker).unwrap();
    let tractor_protocol::Msg::Aid(aid) = &probe_aid.msg else {
        panic!()
    };
    assert!(aid.is_probe);
    assert_eq!(
        (aid.name.as_str(), aid.is_registrar),
        ("registry-probe", None)
    );
    // The registrar never saw a peer, and neither side keeps anything.
    assert!(
        sim.events_of(root, |e| Some(e.clone())).is_empty(),
        "{:?}",
        sim.nodes[root].events
    );
    sim.assert_clean(root);
    sim.assert_clean(worker);
}

#[test]
fn probe_of_an_empty_address_fails_fast() {
    let (mut sim, _, worker) = root_and_worker(3);
    let probe = sim.with(worker, |cx| cx.actor.probe(tcp(9)));
    let closed = sim.events_of(worker, |e| match e {
        Event::ChannelClosed {
            channel, reason, ..
        } if *channel == probe => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(
        closed,
        [CloseReason::ConnectFailed("connection refused".into())]
    );
    sim.assert_clean(worker);
}

#[test]
fn tpt_server_handshake_timeout() {
    let (mut sim, root, _) = root_and_worker(4);
    // A connection that never says anything.
    let silent = sim.with(root, |cx| cx.actor.handle_accepted(cx.now));
    let t0 = sim.now;
    sim.settle(Duration::from_secs(60));
    assert_eq!(
        sim.now - t0,
        Duration::from_secs(10),
        "closed at the 10 s deadline"
    );
    assert!(
        sim.nodes[root].events.is_empty(),
        "an unfinished inbound handshake stays quiet"
    );
    assert!(sim.nodes[root].actor.peer(silent).is_none());
    sim.assert_clean(root);
}

#[test]
fn tpt_handshake_garbage() {
    let (mut sim, root, worker) = root_and_worker(5);
    let good = sim.connect(root, worker);
    // Another inbound connection sends bytes that are no frame of msgpack.
    let bad = sim.with(root, |cx| cx.actor.handle_accepted(cx.now));
    sim.with(root, |cx| {
        cx.actor
            .handle_data(cx.now, bad, b"\x05\x00\x00\x00\xc1\xc1\xc1\xc1\xc1")
    });
    // A frame that is fine but not an Aid.
    let bad2 = sim.with(root, |cx| cx.actor.handle_accepted(cx.now));
    let mut stop = bytes::BytesMut::new();
    tractor_protocol::Msg::Stop(tractor_protocol::Stop { cid: "c".into() })
        .encode_frame(&mut stop)
        .unwrap();
    sim.with(root, |cx| cx.actor.handle_data(cx.now, bad2, &stop));
    assert!(
        sim.nodes[root].actor.peer(bad).is_none() && sim.nodes[root].actor.peer(bad2).is_none()
    );
    // The good channel still works.
    let d = sim
        .with(root, |cx| {
            cx.actor.call(good, "app.math", "square", kwargs(3))
        })
        .unwrap();
    assert_eq!(sim.outcome(root, d, SECOND), Incoming::Return(int(9)));
    assert_eq!(
        sim.nodes[root].actor.live_state(),
        (1, 0),
        "only the good channel is left"
    );
}

#[test]
fn rpc_callback_exposed() {
    let (mut sim, root, worker) = root_and_worker(6);
    let ch = sim.connect(root, worker);
    let d = sim
        .with(root, |cx| {
            cx.actor.call(ch, "app.math", "square", kwargs(7))
        })
        .unwrap();
    assert_eq!(sim.outcome(root, d, SECOND), Incoming::Return(int(49)));
    assert_eq!(sim.wire_types(root, worker), ["Aid", "Start"]);
    assert_eq!(sim.wire_types(worker, root), ["Aid", "StartAck", "Return"]);
    // The dialog is gone on both sides once its outcome is taken.
    assert_eq!(sim.nodes[root].actor.live_state(), (1, 0));
    assert_eq!(sim.nodes[worker].actor.live_state(), (1, 0));
}

#[test]
fn rpc_module_not_exposed() {
    let (mut sim, root, worker) = root_and_worker(7);
    let ch = sim.connect(root, worker);
    let d = sim
        .with(root, |cx| {
            cx.actor.call(ch, "app.secret", "square", kwargs(7))
        })
        .unwrap();
    let err = remote(sim.outcome(root, d, SECOND));
    assert_eq!(err.boxed_type(), MODULE_NOT_EXPOSED);
    assert_eq!(err.src_uid(), sim.nodes[worker].actor.uid());
    assert!(err.text().contains("app.secret"), "{err}");
    // As in Python: the error comes without a StartAck.
    assert_eq!(sim.wire_types(worker, root), ["Aid", "Error"]);
    assert_eq!(sim.nodes[worker].actor.live_state(), (1, 0));
}

#[test]
fn rpc_func_not_found() {
    let (mut sim, root, worker) = root_and_worker(8);
    let ch = sim.connect(root, worker);
    let d = sim
        .with(root, |cx| cx.actor.call(ch, "app.math", "cube", kwargs(2)))
        .unwrap();
    let err = remote(sim.outcome(root, d, SECOND));
    assert_eq!(
        (err.boxed_type(), err.kind()),
        ("AttributeError", RemoteErrorKind::RemoteActorError)
    );
    assert_eq!(sim.wire_types(worker, root), ["Aid", "Error"]);
}

#[test]
fn rpc_bad_kwargs() {
    let (mut sim, root, worker) = root_and_worker(9);
    let ch = sim.connect(root, worker);
    // `{"y": 1}` does not fit the function's arguments.
    #[derive(serde::Serialize)]
    struct Wrong {
        y: i64,
    }
    let d = sim
        .with(root, |cx| {
            cx.actor.call(
                ch,
                "app.math",
                "square",
                Raw::encode(&Wrong { y: 1 }).unwrap(),
            )
        })
        .unwrap();
    let err = remote(sim.outcome(root, d, SECOND));
    assert_eq!(err.boxed_type(), "TypeError");
    assert!(err.text().contains("missing field `x`"), "{err}");
    assert_eq!(
        sim.wire_types(worker, root),
        ["Aid", "Error"],
        "refused before a StartAck"
    );
}

#[test]
fn err_boxed_local_error_names_source_and_traceback() {
    let (mut sim, root, worker) = root_and_worker(10);
    let ch = sim.connect(root, worker);
    let d = sim
        .with(root, |cx| {
            cx.actor.call(ch, "app.math", "fail", Raw::EMPTY_MAP)
        })
        .unwrap();
    let err = remote(sim.outcome(root, d, SECOND));
    assert_eq!(
        (err.src_type(), err.boxed_type()),
        ("ValueError", "ValueError")
    );
    assert_eq!(err.relay_path(), [sim.nodes[worker].actor.uid().clone()]);
    // The traceback, closed with the error's type and message.
    assert_eq!(
        err.tb_str(),
        "Traceback:\n  worker.rs:1 in fail\nValueError: no good\n"
    );
    assert_eq!(err.text(), "no good");
    assert_eq!(
        err.message().cid.as_deref(),
        sim.wire.last().unwrap().msg.cid()
    );
    assert_eq!(sim.wire_types(worker, root), ["Aid", "StartAck", "Error"]);
}

#[test]
fn rpc_concurrent_calls_one_portal() {
    let (mut sim, root, worker) = root_and_worker(11);
    let ch = sim.connect(root, worker);
    let calls: Vec<_> = (0..20)
        .map(|x| {
            let d = sim
                .with(root, |cx| {
                    cx.actor.call(ch, "app.math", "slow_square", kwargs(x))
                })
                .unwrap();
            (x, d)
        })
        .collect();
    for (x, d) in calls {
        assert_eq!(
            sim.outcome(root, d, SECOND),
            Incoming::Return(int(x * x)),
            "call {x}"
        );
    }
    // Replies arrived in the reverse order of the calls.
    let returns: Vec<_> = sim
        .wire
        .iter()
        .filter(|w| w.from == worker && w.msg.msg_type().as_str() == "Return")
        .map(|w| w.msg.cid().unwrap().to_owned())
        .collect();
    let starts: Vec<_> = sim
        .wire
        .iter()
        .filter(|w| w.from == root && w.msg.msg_type().as_str() == "Start")
        .map(|w| w.msg.cid().unwrap().to_owned())
        .collect();
    assert_eq!(returns, starts.into_iter().rev().collect::<Vec<_>>());
    assert_eq!(sim.nodes[root].actor.live_state(), (1, 0));
    assert_eq!(sim.nodes[worker].actor.live_state(), (1, 0));
}

#[test]
fn rpc_startack_disconnect() {
    let (mut sim, root, worker) = root_and_worker(12);
    let ch = sim.connect(root, worker);
    let d = sim
        .with(root, |cx| {
            cx.actor.call(ch, "app.math", "slow_square", kwargs(1))
        })
        .unwrap();
    // Let the Start arrive, then break the connection while the function
    // runs.
    sim.run_until(SECOND, |s| {
        s.nodes[worker]
            .events
            .iter()
            .any(|e| matches!(e, Event::Invoke { .. }))
    });
    sim.break_channel(root, ch);
    // The caller fails at once instead of hanging: the worker is no child
    // of the root, so no exit status is waited for.
    match sim.outcome(root, d, Duration::from_millis(1)) {
        Incoming::Error(DialogError::PeerLost {
            channel,
            peer,
            exit: None,
            ..
        }) => {
            assert_eq!(channel, ch);
            assert_eq!(peer.name, "worker");
        }
        other => panic!("{other:?}"),
    }
    sim.settle(SECOND);
    // The callee was asked to stop; its late result went nowhere, and no
    // state is left on either side.
    assert_eq!(
        sim.events_of(worker, |e| matches!(e, Event::Cancel { .. }).then_some(()))
            .len(),
        1
    );
    sim.assert_clean(root);
    sim.assert_clean(worker);
}

#[test]
fn fault_child_sigkilled_mid_call_fails_the_caller() {
    let (mut sim, root, worker) = root_and_worker(13);
    let ch = sim.connect(root, worker);
    let d = sim
        .with(root, |cx| {
            cx.actor.call(ch, "app.math", "hang", Raw::EMPTY_MAP)
        })
        .unwrap();
    sim.run_until(SECOND, |s| s.wire_types(worker, root).contains(&"StartAck"));
    sim.crash(worker);
    match sim.outcome(root, d, SECOND) {
        Incoming::Error(DialogError::PeerLost {
            reason, exit: None, ..
        }) => assert_eq!(reason, CloseReason::Broken("connection reset".into())),
        other => panic!("{other:?}"),
    }
    sim.assert_clean(root);
}

#[test]
fn a_call_on_a_channel_whose_peer_died_names_it() {
    // The peer is gone before the call is made: the call is refused with
    // the loss a dialog on the channel would have had, naming the actor,
    // not as an anonymous closed channel. Channels this actor closed
    // itself are merely not open.
    let (mut sim, root, worker) = root_and_worker(15);
    let ch = sim.connect(root, worker);
    sim.crash(worker);
    sim.settle(SECOND);
    let refused = sim.with(root, |cx| {
        cx.actor.call(ch, "app.math", "square", Raw::EMPTY_MAP)
    });
    match refused {
        Err(tractor_protocol::UsageError::PeerLost(lost)) => match *lost {
            DialogError::PeerLost { peer, channel, .. } => {
                assert_eq!(peer.name, "worker");
                assert_eq!(channel, ch);
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    let (mut sim, root, worker) = root_and_worker(16);
    let ch = sim.connect(root, worker);
    sim.with(root, |cx| cx.actor.close(cx.now, ch));
    sim.settle(SECOND);
    let refused = sim.with(root, |cx| {
        cx.actor.call(ch, "app.math", "square", Raw::EMPTY_MAP)
    });
    assert_eq!(
        refused,
        Err(tractor_protocol::UsageError::ChannelNotOpen(ch))
    );
}

#[test]
fn a_result_after_the_caller_left_goes_nowhere() {
    // The same as rpc-error-ship-closed-chan: the function fails after its
    // caller's channel closed; nothing is sent and nothing breaks.
    let (mut sim, root, worker) = root_and_worker(14);
    let ch = sim.connect(root, worker);
    let _ = sim
        .with(root, |cx| {
            cx.actor.call(ch, "app.math", "hang", Raw::EMPTY_MAP)
        })
        .unwrap();
    sim.run_until(SECOND, |s| s.wire_types(worker, root).contains(&"StartAck"));
    let invoked = sim.events_of(worker, |e| match e {
        Event::Invoke { dialog, .. } => Some(*dialog),
        _ => None,
    })[0];
    sim.with(root, |cx| cx.actor.close(cx.now, ch));
    sim.settle(SECOND);
    // The service already finished the dialog on its Cancel; finishing
    // again is refused as a misuse, not a crash.
    let again = sim.with(worker, |cx| {
        cx.actor.finish(
            invoked,
            Err(TaskError::Local(LocalError::new("ValueError", "late"))),
        )
    });
    assert!(again.is_err());
    sim.assert_clean(worker);
    assert_eq!(sim.wire_types(worker, root), ["Aid", "StartAck"]);
}

#[test]
fn disc_foreign_listener_rejected() {
    // Something accepts the probe's connection and hangs up without a
    // handshake: the prober hears a close, never an answer, and can tell
    // "occupied but did not answer" from a registrar.
    let (mut sim, _, worker) = root_and_worker(15);
    let probe = sim.with(worker, |cx| cx.actor.probe(tcp(1616)));
    sim.break_channel(worker, probe);
    sim.settle(SECOND);
    let answered = sim.events_of(worker, |e| {
        matches!(e, Event::ProbeAnswered { .. }).then_some(())
    });
    assert!(answered.is_empty());
    let closed = sim.events_of(worker, |e| match e {
        Event::ChannelClosed {
            channel, reason, ..
        } if *channel == probe => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(closed, [CloseReason::Broken("connection reset".into())]);
    sim.assert_clean(worker);
}

/// A function whose cancellation came before it ran: it runs to its end
/// anyway (a driver polls it once), with `outcome`.
struct RunsDespiteCancel {
    outcome: Option<Result<Raw, TaskError>>,
}

impl Task for RunsDespiteCancel {
    fn on_invoke(&mut self, cx: &mut TaskCx<'_>) {
        cx.actor.accept(cx.dialog).unwrap();
    }
    fn on_cancel(&mut self, cx: &mut TaskCx<'_>, _: &tractor_protocol::CancelCause) {
        let outcome = self.outcome.take().expect("one outcome");
        cx.actor.finish(cx.dialog, outcome).unwrap();
    }
}

#[test]
fn a_function_that_ends_after_its_cancel_request_reports_its_own_outcome() {
    // An actor cancel reaches two functions that then end on their own
    // (as a driver's function does when its first poll comes after the
    // cancel): the one that failed sends its error, not a cancellation,
    // and the one that returned sends its result, as Python's task that
    // finishes without reaching a checkpoint does. Then the CancelAck.
    let mut sim = Sim::new(16);
    let root = sim.add(Sim::tree_config("root"), tcp(1616), Idle);
    let mut worker = Sim::tree_config("worker");
    worker.endpoints = Endpoints::new()
        .expose("app.first", "fails", FuncType::AsyncFunc)
        .expose("app.first", "returns", FuncType::AsyncFunc);
    let tasks = Tasks::new(&Log::default())
        .serve("app.first", "fails", |_| RunsDespiteCancel {
            outcome: Some(Err(LocalError::new("AssertionError", "at once").into())),
        })
        .serve("app.first", "returns", |_| RunsDespiteCancel {
            outcome: Some(Ok(int(7))),
        });
    let worker = sim.add(worker, tcp(2000), tasks);
    let ch = sim.connect(root, worker);
    let [fails, returns] = ["fails", "returns"].map(|func| {
        sim.with(root, |cx| {
            cx.actor.call(ch, "app.first", func, Raw::EMPTY_MAP)
        })
        .unwrap()
    });
    sim.run_until(SECOND, |s| {
        s.wire_types(worker, root)
            .iter()
            .filter(|t| **t == "StartAck")
            .count()
            == 2
    });
    let c = sim
        .with(root, |cx| cx.actor.cancel_actor(cx.now, ch))
        .unwrap();
    let e = remote(sim.outcome(root, fails, SECOND));
    assert_eq!(e.boxed_type(), "AssertionError");
    assert_ne!(e.kind(), RemoteErrorKind::ContextCancelled);
    assert_eq!(sim.outcome(root, returns, SECOND), Incoming::Return(int(7)));
    assert_eq!(
        sim.outcome(root, c, SECOND),
        Incoming::Return(Raw::encode(&true).unwrap())
    );
    // Both outcomes (in either order) before the CancelAck.
    let mut sent = sim.wire_types(worker, root);
    assert_eq!(sent.pop(), Some("CancelAck"));
    let mut outcomes = sent.split_off(sent.len() - 2);
    outcomes.sort();
    assert_eq!(outcomes, ["Error", "Return"]);
}
