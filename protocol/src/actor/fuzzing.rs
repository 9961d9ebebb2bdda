//! Drives one actor with an arbitrary sequence of inputs, for fuzzing.
//!
//! The bytes are read as a program: open a channel (its peer's handshake
//! included, under a fixed identity, so that inputs get past it), deliver a
//! message built from the next bytes (with cids drawn from a small pool and
//! from live dialogs, so that they hit something), deliver raw bytes, let
//! time pass, close a channel, or perform an application operation on a
//! dialog. After every step the driver's rule is applied and these hold:
//!
//! * nothing panics;
//! * every frame the actor writes decodes;
//! * state stays bounded by what the input created;
//! * once every channel is closed and every dialog ended, no state is left.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::frame::FrameDecoder;
use crate::msg::{self, Aid, FuncType, Msg};
use crate::raw::Raw;
use crate::uid::Uid;

use super::{Actor, ActorConfig, ChannelId, DialogId, Endpoints, Event, Output, TaskError};

/// Reads the input a byte at a time, then zeros.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[usize::from(self.byte()) % items.len()])
        }
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = usize::from(self.byte()).min(max).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }

    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

const NS: &str = "fuzz";
const CIDS: [&str; 4] = ["c0", "c1", "c2", "c3"];

fn peer() -> Uid {
    Uid::new("peer", "00000000-0000-4000-8000-000000000000")
}

/// Checks that the payload messages' short way (encoding and decoding
/// `Started`, `Yield` and `Return`, and reading a `Yield` in place) agrees
/// with the general codec on `data`.
pub fn payload_short_way(data: &[u8]) {
    crate::codec::short_way_agrees(data);
}

/// Runs one program; panics if an invariant breaks.
pub fn dialogs(data: &[u8]) {
    let mut config = ActorConfig::new("fuzzed", "11111111-1111-4111-8111-111111111111");
    config.is_registrar = true;
    config.serve_tty_lock = true;
    config.endpoints = Endpoints::new()
        .expose(NS, "func", FuncType::AsyncFunc)
        .expose(NS, "ctx", FuncType::Context)
        .expose(NS, "gen", FuncType::AsyncGen);
    // Small output bounds, so that pausing and stalling happen.
    config.limits.max_queued_bytes = 256;
    config.limits.max_queued_frames = 4;
    let mut actor = Actor::new(config);
    let mut now = Instant::now();
    let mut input = Input(data);
    let mut channels: Vec<ChannelId> = Vec::new();
    let mut dialogs: Vec<DialogId> = Vec::new();
    let mut written: Vec<(ChannelId, FrameDecoder, BytesMut)> = Vec::new();
    let mut steps = 0usize;

    while !input.done() {
        steps += 1;
        match input.byte() % 8 {
            0 => {
                let ch = actor.handle_accepted(now);
                let aid = Msg::from(Aid {
                    name: peer().name,
                    uuid: peer().uuid,
                    pid: Some(1),
                    is_registrar: Some(false),
                    is_probe: input.byte() == 0xff,
                    // Half the peers speak credits, half do not.
                    credit_flow: input.byte().is_multiple_of(2).then_some(1),
                    auth: None,
                });
                feed(&mut actor, now, ch, &aid);
                channels.push(ch);
            }
            1 => {
                if let Some(ch) = input.pick(&channels) {
                    let msg = message(&mut input, &actor, &dialogs);
                    feed(&mut actor, now, ch, &msg);
                }
            }
            2 => {
                if let Some(ch) = input.pick(&channels) {
                    let bytes = input.bytes(64);
                    actor.handle_data(now, ch, &bytes);
                }
            }
            3 => {
                now += Duration::from_millis(u64::from(input.byte()) * 20);
                actor.handle_timeout(now);
            }
            4 => {
                if let Some(ch) = input.pick(&channels) {
                    // Released by the `Abort` that follows.
                    actor.handle_closed(now, ch, None);
                }
            }
            5 => {
                if let Some(d) = input.pick(&dialogs) {
                    operate(&mut actor, now, d, &mut input);
                }
            }
            6 => {
                if let Some(ch) = input.pick(&channels) {
                    let opened = match input.byte() % 4 {
                        0 => actor.call(ch, NS, "func", Raw::EMPTY_MAP),
                        1 => actor.open_context(ch, NS, "ctx", Raw::EMPTY_MAP, Default::default()),
                        2 => actor.open_stream_from(ch, NS, "gen", Raw::EMPTY_MAP),
                        _ => actor.cancel_actor(now, ch),
                    };
                    if let Ok(d) = opened {
                        dialogs.push(d);
                    }
                }
            }
            _ => {
                let ch = actor.connect(crate::Address::tcp("127.0.0.1", 1));
                match input.byte() % 3 {
                    0 => {
                        actor.handle_connected(now, ch);
                        channels.push(ch);
                    }
                    1 => actor.handle_connect_failed(now, ch, "refused".into()),
                    _ => actor.handle_refused(
                        now,
                        ch,
                        crate::AuthError::Certificate("unknown issuer".into()),
                    ),
                }
            }
        }
        // Every fifth step's output is never reported written: a peer
        // that does not read.
        let report = !steps.is_multiple_of(5);
        drain(
            &mut actor,
            now,
            report,
            &mut dialogs,
            &mut channels,
            &mut written,
        );
        let (live_channels, live_dialogs) = actor.live_state();
        assert!(
            live_channels <= steps && live_dialogs <= 4 * steps,
            "state grows past the input"
        );
    }

    // Wind everything down: every channel closes, every function finishes,
    // every opened dialog is left; nothing may remain.
    for ch in channels.clone() {
        actor.handle_closed(now, ch, None);
    }
    drain(
        &mut actor,
        now,
        true,
        &mut dialogs,
        &mut channels,
        &mut written,
    );
    for d in dialogs.clone() {
        let _ = actor.finish(d, Err(TaskError::Cancelled));
        let _ = actor.reject(d, TaskError::Cancelled);
        while let Ok(Some(_)) = actor.recv(d) {}
        let _ = actor.leave(now, d, true);
    }
    now += Duration::from_secs(60);
    actor.handle_timeout(now);
    drain(
        &mut actor,
        now,
        true,
        &mut dialogs,
        &mut channels,
        &mut written,
    );
    assert!(
        actor.is_idle(),
        "state left after everything ended: {actor:?}"
    );
    assert!(
        channels.is_empty(),
        "channels never released (no Close or Abort): {channels:?}"
    );
}

fn feed(actor: &mut Actor, now: Instant, ch: ChannelId, msg: &Msg) {
    let mut buf = BytesMut::new();
    if msg.encode_frame(&mut buf).is_ok() {
        actor.handle_data(now, ch, &buf);
    }
}

/// A message for the actor, aimed at something that exists.
fn message(input: &mut Input<'_>, actor: &Actor, dialogs: &[DialogId]) -> Msg {
    let live: Vec<String> = dialogs
        .iter()
        .filter_map(|d| actor.cid(*d).map(str::to_owned))
        .collect();
    let cid = match input.byte() % 2 {
        0 if !live.is_empty() => live[usize::from(input.byte()) % live.len()].clone(),
        _ => CIDS[usize::from(input.byte()) % CIDS.len()].to_owned(),
    };
    let pld = Raw::encode(&u32::from(input.byte())).expect("an int encodes");
    match input.byte() % 13 {
        0 | 1 => {
            let (ns, func) = match input.byte() % 10 {
                0 => (NS, "func"),
                1 => (NS, "ctx"),
                2 => (NS, "gen"),
                3 => ("self", "cancel"),
                4 => ("self", "_cancel_task"),
                5 => ("self", "wait_for_actor"),
                6 => (crate::tty_lock::TTY_LOCK_NS, crate::tty_lock::TTY_LOCK_FUNC),
                7 => ("self", crate::introspect::INTROSPECT_METHOD),
                8 => ("self", crate::introspect::DUMP_TASKS_METHOD),
                _ => ("nowhere", "nothing"),
            };
            let kwargs = match func {
                "_cancel_task" => {
                    #[derive(serde::Serialize)]
                    struct K {
                        cid: String,
                    }
                    Raw::encode(&K { cid: cid.clone() }).expect("kwargs encode")
                }
                "wait_for_actor" => {
                    #[derive(serde::Serialize)]
                    struct K {
                        name: &'static str,
                    }
                    Raw::encode(&K { name: "peer" }).expect("kwargs encode")
                }
                _ => Raw::EMPTY_MAP,
            };
            let uid = if input.byte() == 0xff {
                Uid::new("liar", "x")
            } else {
                peer()
            };
            Msg::from(msg::Start::new(cid, ns, func, kwargs, uid))
        }
        2 => Msg::StartAck(msg::StartAck {
            cid,
            functype: [FuncType::AsyncFunc, FuncType::Context, FuncType::AsyncGen]
                [usize::from(input.byte()) % 3],
        }),
        3 => Msg::Started(msg::Started::new(cid, pld)),
        4 | 5 => Msg::Yield(msg::Yield::new(cid, pld)),
        6 => Msg::Stop(msg::Stop { cid }),
        7 => Msg::Return(msg::Return::new(cid, pld)),
        8 => Msg::CancelAck(msg::CancelAck { cid, pld: true }),
        11 => Msg::Credit(msg::Credit {
            cid,
            n: u32::from(input.byte()),
        }),
        9 => {
            let boxed =
                ["ContextCancelled", "StreamOverrun", "ValueError"][usize::from(input.byte()) % 3];
            Msg::from(msg::Error {
                src_uid: peer(),
                src_type_str: boxed.to_owned(),
                boxed_type_str: boxed.to_owned(),
                relay_path: vec![peer()],
                message: None,
                tb_str: String::new(),
                canceller: (input.byte().is_multiple_of(2)).then(|| actor.uid().clone()),
                sender: None,
                cid: Some(cid),
                bad_msg: None,
                bad_msg_as_dict: None,
                fields: None,
            })
        }
        10 => Msg::from(msg::SpawnSpec {
            parent_main_data: Raw::EMPTY_MAP,
            runtime_vars: Raw::EMPTY_MAP,
            enable_modules: Vec::new(),
            reg_addrs: Vec::new(),
            bind_addrs: None,
        }),
        _ => Msg::from(Aid {
            name: "again".into(),
            uuid: "again".into(),
            pid: None,
            is_registrar: None,
            is_probe: false,
            credit_flow: None,
            auth: None,
        }),
    }
}

/// One application operation on a dialog; refusals are fine, panics not.
fn operate(actor: &mut Actor, now: Instant, d: DialogId, input: &mut Input<'_>) {
    let value = Raw::encode(&u32::from(input.byte())).expect("an int encodes");
    let _ = match input.byte() % 11 {
        0 => actor.accept(d),
        1 => actor.reject(d, TaskError::Cancelled),
        2 => actor.started(d, value),
        3 => actor.open_stream(d),
        4 => actor.send(d, value),
        5 => actor.close_stream(d),
        6 => actor.cancel(now, d),
        7 => actor.finish(d, Ok(value)),
        8 => actor.finish(d, Err(TaskError::Cancelled)),
        9 => actor.leave(now, d, input.byte().is_multiple_of(2)),
        _ => actor.recv(d).map(drop),
    };
}

/// The driver's rule, checking that every written frame decodes.
fn drain(
    actor: &mut Actor,
    now: Instant,
    report: bool,
    dialogs: &mut Vec<DialogId>,
    channels: &mut Vec<ChannelId>,
    written: &mut Vec<(ChannelId, FrameDecoder, BytesMut)>,
) {
    loop {
        match actor.poll_output() {
            Output::Transmit(t) => {
                let i = match written.iter().position(|(c, _, _)| *c == t.channel) {
                    Some(i) => i,
                    None => {
                        written.push((t.channel, FrameDecoder::new(), BytesMut::new()));
                        written.len() - 1
                    }
                };
                let (_, decoder, buf) = &mut written[i];
                buf.extend_from_slice(&t.data);
                if report {
                    actor.handle_written(now, t.channel, t.data.len());
                }
                while let Some(frame) = decoder.decode(buf).expect("our frames are well-formed") {
                    frame.msg().expect("our messages decode");
                }
            }
            Output::Action(super::Action::Close { channel } | super::Action::Abort { channel }) => {
                channels.retain(|c| *c != channel)
            }
            Output::Action(
                super::Action::Connect { .. }
                | super::Action::PauseReading { .. }
                | super::Action::ResumeReading { .. }
                | super::Action::Spawn { .. }
                | super::Action::Signal { .. },
            ) => {}
            Output::Event(Event::Invoke { dialog, .. }) => dialogs.push(dialog),
            // Answered at once: the snapshot of whatever state the input
            // made.
            Output::Event(Event::IntrospectRequested { channel, cid, .. }) => {
                actor.answer_introspect(channel, cid, now, Default::default())
            }
            Output::Event(Event::TaskDumpRequested) => actor.answer_task_dumps("(a dump)"),
            Output::Event(
                Event::ChannelOpened { .. }
                | Event::ChannelClosed { .. }
                | Event::ProbeAnswered { .. }
                | Event::Readable { .. }
                | Event::Writable { .. }
                | Event::Cancel { .. }
                | Event::ActorCancelRequested { .. }
                | Event::TtyLockAcquired { .. }
                | Event::SpawnFailed { .. }
                | Event::ChildConnected { .. }
                | Event::ChildExited { .. }
                | Event::NurseryDone { .. }
                | Event::SpawnSpecReceived { .. }
                | Event::ParentLost { .. }
                | Event::RegistryChanged
                | Event::Registered { .. }
                | Event::RegistrarLost { .. }
                | Event::Violation { .. },
            ) => {}
            Output::Timeout(_) => return,
        }
    }
}

// ---------------------------------------------------------------------
// The handshake's authentication (spec/PROTOCOL.md §3.5)

/// The secret of [`handshake`]'s actor and of the peers that know it.
const FUZZ_SECRET: &str = "fuzzed-tree-secret-0123";

/// What the fuzzer, as the peer, knows of one channel.
#[derive(Default)]
struct PeerSide {
    /// Whether the fuzzer is the acceptor (the actor connected).
    acceptor: bool,
    /// The nonce the fuzzer sent.
    ours: Option<[u8; 32]>,
    /// The nonce the actor sent.
    theirs: Option<[u8; 32]>,
    /// The proof the actor sent.
    their_proof: Option<[u8; 32]>,
    /// The fuzzer sent the right proof (or, to an actor open to them, a
    /// plain `Aid` first): the actor may name itself now.
    may_learn: bool,
    /// The fuzzer, as the connector, sent the right proof: the actor, as
    /// the acceptor, may prove itself now.
    proved: bool,
    /// Bytes the actor wrote, not yet split into frames.
    decoder: FrameDecoder,
    buf: BytesMut,
}

/// Drives one actor's handshakes with an arbitrary program, for fuzzing.
///
/// The first byte picks the actor: with the secret and strict, with it and
/// open to peers that do not authenticate, or without one. Then one opcode
/// byte (`% 6`) per step: accept a channel; connect one; deliver raw bytes;
/// deliver a handshake step built from the next bytes (an opening, the
/// right proof, a wrong one, a replayed one, the actor's own reflected
/// back, a plain `Aid`); let time pass; end a channel. After every step:
///
/// * nothing panics, and every frame the actor writes decodes;
/// * a strict actor with the secret never writes its `Aid` (nor opens a
///   channel) before its peer proved the secret;
/// * an actor that accepted a connection never writes its proof before
///   the connector sent the right one (no MAC to guess the secret from);
/// * at the end, with every channel closed, no state is left.
///
/// Returns how many channels opened.
pub fn handshake(data: &[u8]) -> usize {
    use super::auth::{self, Side};
    use crate::msg::AuthStep;
    let mut input = Input(data);
    let mode = input.byte() % 3;
    let mut config = ActorConfig::new("fuzzed", "11111111-1111-4111-8111-111111111111");
    config.pid = Some(4242);
    config.is_registrar = true;
    config.endpoints = Endpoints::new().expose(NS, "func", FuncType::AsyncFunc);
    if mode < 2 {
        config.auth.secret = Some(auth::Secret::new(FUZZ_SECRET).expect("a valid secret"));
        config.auth.accept_unauthenticated = mode == 1;
    }
    config.auth.nonce_key = [input.byte(); 32];
    let strict = mode == 0;
    let secret = auth::Secret::new(FUZZ_SECRET).expect("a valid secret");
    let mut actor = Actor::new(config);
    let mut now = Instant::now();
    let mut sides: Vec<(ChannelId, PeerSide)> = Vec::new();
    let mut old_proofs: Vec<[u8; 32]> = vec![[0; 32]];
    let mut opened = 0;
    let step_aid = |step: AuthStep| {
        let mut aid = auth::step_aid(step);
        aid.name = String::new();
        Msg::from(aid)
    };
    while !input.done() {
        let live: Vec<ChannelId> = sides.iter().map(|(c, _)| *c).collect();
        match input.byte() % 6 {
            0 => {
                let ch = actor.handle_accepted(now);
                sides.push((ch, PeerSide::default()));
            }
            1 => {
                // A connection this actor opened, by either entry: the
                // same handshake follows.
                let ch = if sides.len().is_multiple_of(2) {
                    let ch = actor.connect(crate::Address::tcp("127.0.0.1", 1));
                    actor.handle_connected(now, ch);
                    ch
                } else {
                    actor.attach_connected(now)
                };
                sides.push((
                    ch,
                    PeerSide {
                        acceptor: true,
                        ..PeerSide::default()
                    },
                ));
            }
            2 => {
                if let Some(ch) = input.pick(&live) {
                    let bytes = input.bytes(64);
                    actor.handle_data(now, ch, &bytes);
                }
            }
            3 => {
                let Some(ch) = input.pick(&live) else {
                    continue;
                };
                let Some((_, side)) = sides.iter_mut().find(|(c, _)| *c == ch) else {
                    continue;
                };
                let msg = match input.byte() % 7 {
                    0 => {
                        let mut nonce = [0u8; 32];
                        nonce[0] = input.byte();
                        nonce[1] = input.byte();
                        side.ours = Some(nonce);
                        step_aid(AuthStep::Hello { nonce })
                    }
                    1 => {
                        // The right proof, if both nonces are known.
                        let (Some(ours), Some(theirs)) = (side.ours, side.theirs) else {
                            continue;
                        };
                        let mac = if side.acceptor {
                            auth::proof(&secret, Side::Acceptor, &ours, &theirs)
                        } else {
                            auth::proof(&secret, Side::Connector, &theirs, &ours)
                        };
                        old_proofs.push(mac);
                        side.may_learn = true;
                        side.proved = true;
                        step_aid(AuthStep::Proof { mac })
                    }
                    2 => {
                        let mut mac = [0u8; 32];
                        mac[0] = input.byte();
                        step_aid(AuthStep::Proof { mac })
                    }
                    3 => {
                        let i = usize::from(input.byte()) % old_proofs.len();
                        step_aid(AuthStep::Proof { mac: old_proofs[i] })
                    }
                    4 => {
                        let Some(mac) = side.their_proof else {
                            continue;
                        };
                        step_aid(AuthStep::Proof { mac })
                    }
                    _ => {
                        if !side.acceptor && side.ours.is_none() && mode == 1 {
                            side.may_learn = true;
                        }
                        Msg::from(Aid {
                            name: "peer".into(),
                            uuid: "00000000-0000-4000-8000-000000000000".into(),
                            pid: Some(1),
                            is_registrar: Some(false),
                            is_probe: input.byte() == 0xff,
                            credit_flow: None,
                            auth: None,
                        })
                    }
                };
                feed(&mut actor, now, ch, &msg);
            }
            4 => {
                now += Duration::from_millis(u64::from(input.byte()) * 100);
                actor.handle_timeout(now);
            }
            _ => {
                if let Some(ch) = input.pick(&live) {
                    let error = input.byte().is_multiple_of(2).then(|| "reset".to_owned());
                    actor.handle_closed(now, ch, error);
                }
            }
        }
        drain_handshake(&mut actor, &mut sides, strict, &mut opened);
    }
    let live: Vec<ChannelId> = sides.iter().map(|(c, _)| *c).collect();
    for ch in live {
        actor.close(now, ch);
    }
    drain_handshake(&mut actor, &mut sides, strict, &mut opened);
    now += Duration::from_secs(3600);
    actor.handle_timeout(now);
    drain_handshake(&mut actor, &mut sides, strict, &mut opened);
    assert!(actor.is_idle(), "state left: {:?}", actor.live_state());
    opened
}

/// The driver's rule for [`handshake`], checking what the actor writes.
fn drain_handshake(
    actor: &mut Actor,
    sides: &mut Vec<(ChannelId, PeerSide)>,
    strict: bool,
    opened: &mut usize,
) {
    use crate::msg::AuthStep;
    loop {
        match actor.poll_output() {
            Output::Transmit(t) => {
                let Some((_, side)) = sides.iter_mut().find(|(c, _)| *c == t.channel) else {
                    continue;
                };
                side.buf.extend_from_slice(&t.data);
                while let Some(frame) = side
                    .decoder
                    .decode(&mut side.buf)
                    .expect("our frames are well-formed")
                {
                    match frame.msg().expect("our messages decode") {
                        Msg::Aid(aid) => match aid.auth {
                            Some(AuthStep::Hello { nonce }) => side.theirs = Some(nonce),
                            Some(AuthStep::Proof { mac }) => {
                                assert!(
                                    side.acceptor || side.proved,
                                    "the acceptor proved itself to a connector that did not"
                                );
                                side.their_proof = Some(mac);
                            }
                            None => assert!(
                                !strict || side.may_learn,
                                "the actor named itself to a peer that did not prove the secret"
                            ),
                        },
                        other => assert!(
                            !strict || side.may_learn,
                            "{} to a peer that did not prove the secret",
                            other.msg_type()
                        ),
                    }
                }
            }
            Output::Action(super::Action::Close { channel }) => {
                sides.retain(|(c, _)| *c != channel);
            }
            Output::Action(
                super::Action::Connect { .. }
                | super::Action::Abort { .. }
                | super::Action::PauseReading { .. }
                | super::Action::ResumeReading { .. }
                | super::Action::Spawn { .. }
                | super::Action::Signal { .. },
            ) => {}
            Output::Event(Event::ChannelOpened { channel, .. }) => {
                let proved = sides
                    .iter()
                    .any(|(c, side)| *c == channel && side.may_learn);
                assert!(!strict || proved, "{channel} opened without a proof");
                *opened += 1;
            }
            Output::Event(Event::ChannelClosed { channel, .. }) => {
                sides.retain(|(c, _)| *c != channel);
            }
            Output::Event(
                Event::ProbeAnswered { .. }
                | Event::Invoke { .. }
                | Event::IntrospectRequested { .. }
                | Event::TaskDumpRequested
                | Event::Readable { .. }
                | Event::Writable { .. }
                | Event::Cancel { .. }
                | Event::ActorCancelRequested { .. }
                | Event::TtyLockAcquired { .. }
                | Event::SpawnFailed { .. }
                | Event::ChildConnected { .. }
                | Event::ChildExited { .. }
                | Event::NurseryDone { .. }
                | Event::SpawnSpecReceived { .. }
                | Event::ParentLost { .. }
                | Event::RegistryChanged
                | Event::Registered { .. }
                | Event::RegistrarLost { .. }
                | Event::Violation { .. },
            ) => {}
            Output::Timeout(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_programs_hold_the_invariants() {
        // The fuzz target's job, on stable and in a few seconds: seeded
        // random programs of growing length.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in (8..4000).step_by(13) {
            let program: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            dialogs(&program);
            handshake(&program);
            payload_short_way(&program);
        }
    }

    #[test]
    fn the_handshake_driver_opens_channels_it_proved_and_no_other() {
        // Strict, with the secret: accept a channel and prove it; connect
        // one and prove it; each gets the peer's plain Aid after.
        let proved = [
            0, 1, // mode: strict; nonce key
            0, 3, 0, 0, 5, 6, 3, 0, 1, 3, 0, 6, 0, // accepted: hello, proof, Aid
            1, 3, 1, 0, 7, 8, 3, 1, 1, 3, 1, 6, 0, // connected: the same
        ];
        assert_eq!(handshake(&proved), 2);
        // Wrong, replayed or no proofs open nothing.
        let unproved = [
            0, 1, 0, 3, 0, 0, 5, 6, 3, 0, 2, 9, 3, 0, 6, 0, // a wrong proof
            0, 3, 1, 0, 5, 6, 3, 1, 3, 0, 3, 1, 6, 0, // a replayed one
            0, 3, 2, 6, 0, // a plain Aid
        ];
        assert_eq!(handshake(&unproved), 0);
        // Open to peers that do not authenticate: the plain Aid opens.
        assert_eq!(handshake(&[1, 1, 0, 3, 0, 6, 0]), 1);
    }
}
