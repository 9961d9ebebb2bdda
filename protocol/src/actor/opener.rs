//! Opening dialogs: calls, contexts, legacy streams and cancel requests
//! this actor makes (spec/PROTOCOL.md §4, §5.1, §6). This file decides
//! what the opener sends to start, cancel and leave a dialog, what each
//! message from the callee means in each phase of the opener's dialog, and
//! when the opener's outcome is final.

use std::time::{Duration, Instant};

use crate::msg::{self, FuncType, Msg};
use crate::raw::Raw;

use super::dialog::{ContextOptions, Dialog, DialogError, Incoming, Kind, OpenerPhase, Phase};
use super::error::{RemoteError, RemoteErrorKind};
use super::timer::Timer;
use super::{Actor, CancelCause, ChannelId, DialogId, Event, Role, UsageError, Violation};

/// How long `Context.cancel` waits for the callee's `CancelAck` (Python's
/// shielded 0.616 s).
pub const CONTEXT_CANCEL_TIMEOUT: Duration = Duration::from_millis(616);

/// How long `Portal.cancel_actor` waits for `CancelAck` (Python's
/// `Portal.cancel_timeout`) before the supervisor escalates.
pub const ACTOR_CANCEL_TIMEOUT: Duration = Duration::from_millis(500);

/// The grace period the Rust driver gives a cancelled function that asked
/// for one, unless configured: long enough for a last message or a flush
/// over a local connection, short enough that a stuck cleanup does not
/// hold a whole tree's teardown for long.
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(1);

/// The longest grace period taken (`u32::MAX` milliseconds, about 49
/// days): a longer one counts as this, so that no deadline overflows.
pub const MAX_CANCEL_GRACE: Duration = Duration::from_millis(u32::MAX as u64);

impl Actor {
    /// How long a context's cancellation waits for the callee's
    /// acknowledgment: [`CONTEXT_CANCEL_TIMEOUT`] plus the grace period.
    pub fn context_cancel_timeout(&self) -> Duration {
        CONTEXT_CANCEL_TIMEOUT + self.cancel_grace()
    }

    /// How long `self.cancel` waits for the peer's acknowledgment:
    /// [`ACTOR_CANCEL_TIMEOUT`] plus the grace period.
    pub fn actor_cancel_timeout(&self) -> Duration {
        ACTOR_CANCEL_TIMEOUT + self.cancel_grace()
    }

    /// Calls `ns:func(**kwargs)` as a plain async function on the peer of
    /// `channel` (Python's `Portal.run`). The outcome arrives through
    /// [`Actor::recv`]: [`Incoming::Return`] or [`Incoming::Error`]; then
    /// the dialog is forgotten.
    pub fn call(
        &mut self,
        channel: ChannelId,
        ns: &str,
        func: &str,
        kwargs: Raw,
    ) -> Result<DialogId, UsageError> {
        self.open(
            channel,
            Kind::Func(FuncType::AsyncFunc),
            ns,
            func,
            kwargs,
            ContextOptions::default(),
        )
    }

    /// Opens a context with `ns:func(**kwargs)` on the peer of `channel`
    /// (Python's `Portal.open_context`). [`Actor::recv`] then gives the
    /// callee's [`Incoming::Started`], stream items, and the outcome. The
    /// dialog lives until [`Actor::leave`].
    pub fn open_context(
        &mut self,
        channel: ChannelId,
        ns: &str,
        func: &str,
        kwargs: Raw,
        options: ContextOptions,
    ) -> Result<DialogId, UsageError> {
        self.open(
            channel,
            Kind::Func(FuncType::Context),
            ns,
            func,
            kwargs,
            options,
        )
    }

    /// Opens a legacy one-way stream from the async generator `ns:func` on
    /// the peer of `channel` (Python's `Portal.open_stream_from`).
    /// [`Actor::recv`] gives its items, then [`Incoming::Stop`] (or an
    /// error). The dialog lives until [`Actor::leave`].
    pub fn open_stream_from(
        &mut self,
        channel: ChannelId,
        ns: &str,
        func: &str,
        kwargs: Raw,
    ) -> Result<DialogId, UsageError> {
        self.open(
            channel,
            Kind::Func(FuncType::AsyncGen),
            ns,
            func,
            kwargs,
            ContextOptions::default(),
        )
    }

    /// Asks the peer of `channel` to cancel itself (Python's
    /// `Portal.cancel_actor`, `self.cancel`). The outcome is
    /// [`Incoming::Return`] holding the peer's `true`, or
    /// [`DialogError::CancelTimeout`] after [`Actor::actor_cancel_timeout`]
    /// ([`ACTOR_CANCEL_TIMEOUT`] plus the grace period), when a supervisor
    /// should escalate.
    pub fn cancel_actor(
        &mut self,
        now: Instant,
        channel: ChannelId,
    ) -> Result<DialogId, UsageError> {
        let id = self.open(
            channel,
            Kind::CancelActor,
            "self",
            "cancel",
            Raw::EMPTY_MAP,
            ContextOptions::default(),
        )?;
        self.timers
            .set(Timer::CancelAck(id), now + self.actor_cancel_timeout());
        Ok(id)
    }

    pub(super) fn open(
        &mut self,
        channel: ChannelId,
        kind: Kind,
        ns: &str,
        func: &str,
        kwargs: Raw,
        options: ContextOptions,
    ) -> Result<DialogId, UsageError> {
        let aid = self.peer(channel).ok_or_else(|| self.not_open(channel))?;
        let peer = aid.uid();
        let missing = match (ns, aid.credit_flow) {
            ("self", None) if crate::introspect::OUR_METHODS.contains(&func) => {
                Some("it is not a tractor-rs actor (a Python one, say)")
            }
            ("self", None)
                if super::registrar::METHODS.contains(&func) && aid.is_registrar == Some(false) =>
            {
                Some("it is not a registrar (and a Python actor)")
            }
            _ => None,
        };
        if let Some(why) = missing {
            return Err(UsageError::NotServedByPeer {
                peer,
                func: func.to_owned(),
                why,
            });
        }
        if kwargs.kind() != crate::Kind::Map {
            return Err(UsageError::KwargsNotAMap(kwargs.kind()));
        }
        // A channel to ourselves would route both ends of the dialog to one
        // (uid, cid) entry; Python refuses it too ("Invalid Operation").
        if peer == self.uid {
            return Err(UsageError::SelfDialog(channel));
        }
        let cid = self.rng.uuid4();
        let start = msg::Start::new(cid.clone(), ns, func, kwargs, self.uid.clone());
        let mut dialog = Dialog::new(
            cid,
            peer,
            channel,
            kind,
            Phase::Opener(OpenerPhase::AwaitAck),
        );
        dialog.options = options;
        dialog.endpoint = Some((ns.to_owned(), func.to_owned()));
        let id = self.add_dialog(dialog);
        if matches!(kind, Kind::Func(_)) {
            self.counters.calls_made += 1;
        }
        self.send_msg(channel, &Msg::from(start));
        match kind {
            Kind::Func(FuncType::Context) => self.start_credits(id, true, true),
            Kind::Func(FuncType::AsyncGen) => self.start_credits(id, true, false),
            _ => {}
        }
        Ok(id)
    }

    /// Cancels a dialog.
    ///
    /// Opener: asks the callee to cancel (`self._cancel_task`, Python's
    /// `Context.cancel`). The callee's `ContextCancelled` naming us then
    /// arrives as [`DialogError::CancelledAsRequested`]; without an answer
    /// in [`Actor::context_cancel_timeout`] ([`CONTEXT_CANCEL_TIMEOUT`]
    /// plus the grace period) the outcome is
    /// [`DialogError::CancelTimeout`]. Callee: cancels the function itself;
    /// [`Event::Cancel`] follows. Cancelling a finished dialog does nothing.
    pub fn cancel(&mut self, now: Instant, dialog: DialogId) -> Result<(), UsageError> {
        let me = self.uid.clone();
        let d = self.dialog_mut(dialog)?;
        match d.phase {
            Phase::Opener(OpenerPhase::Done) => Ok(()),
            Phase::Opener(_) => {
                if d.cancel.requested || !d.is_app() {
                    return Ok(());
                }
                d.cancel.requested = true;
                let (channel, cid) = (d.channel, d.cid.clone());
                self.send_cancel_task(now, channel, cid, Some(dialog));
                Ok(())
            }
            Phase::Callee(_) => {
                self.request_cancel(dialog, me, CancelCause::SelfCancel);
                Ok(())
            }
        }
    }

    fn send_cancel_task(
        &mut self,
        now: Instant,
        channel: ChannelId,
        cid: String,
        target: Option<DialogId>,
    ) {
        #[derive(serde::Serialize)]
        struct Args<'a> {
            cid: &'a str,
        }
        let kwargs = match Raw::encode(&Args { cid: &cid }) {
            Ok(k) => k,
            Err(_) => return,
        };
        if let Ok(id) = self.open(
            channel,
            Kind::CancelTask { target },
            "self",
            "_cancel_task",
            kwargs,
            ContextOptions::default(),
        ) {
            self.timers
                .set(Timer::CancelAck(id), now + self.context_cancel_timeout());
        }
    }

    /// Leaves a context or stream this actor opened (the end of Python's
    /// `async with` block); the dialog is forgotten.
    ///
    /// `failed` says the block ended by an error or a cancellation. As in
    /// Python: an open stream is closed first; a context left before its
    /// outcome, or left failing for any reason but a `ContextCancelled`
    /// from the callee, sends the callee `self._cancel_task`; a legacy
    /// stream sends `Stop` if it had not ended, and `_cancel_task` always.
    pub fn leave(
        &mut self,
        now: Instant,
        dialog: DialogId,
        failed: bool,
    ) -> Result<(), UsageError> {
        let d = self.dialog_mut(dialog)?;
        if d.role() != Role::Opener {
            return Err(UsageError::InvalidState {
                op: "leave",
                dialog,
                why: "only the opener leaves; the callee finishes",
            });
        }
        let done = d.phase == Phase::Opener(OpenerPhase::Done);
        let (channel, cid, kind) = (d.channel, d.cid.clone(), d.kind);
        let callee_cancelled = d.callee_cancelled;
        let requested = d.cancel.requested;
        match kind {
            Kind::Func(FuncType::Context) => {
                self.end_local_stream(dialog);
                // One request per context: after our own `cancel()` there
                // is nothing more to ask.
                let cancel = !done || (failed && !callee_cancelled);
                if cancel && !requested {
                    self.send_cancel_task(now, channel, cid, None);
                }
            }
            Kind::Func(FuncType::AsyncGen) => {
                if !done {
                    self.send_msg(channel, &Msg::Stop(msg::Stop { cid: cid.clone() }));
                }
                self.send_cancel_task(now, channel, cid, None);
            }
            _ => {}
        }
        self.remove_dialog(dialog);
        Ok(())
    }

    /// The failure an opener's dialog ended with, once it is queued to
    /// read (without taking it, nor any item before it).
    pub fn final_error(&self, dialog: DialogId) -> Option<&DialogError> {
        let d = self.dialogs.get(&dialog)?;
        match d.inbox.back() {
            Some(super::dialog::Queued::Error(e))
                if d.phase == Phase::Opener(OpenerPhase::Done) =>
            {
                Some(e)
            }
            _ => None,
        }
    }

    /// Whether an opener's dialog has ended with its outcome still to come:
    /// its peer, our child, is gone and its exit is awaited to tell how.
    pub fn outcome_pending(&self, dialog: DialogId) -> bool {
        self.awaiting_exit
            .values()
            .any(|waiting| waiting.iter().any(|(id, _, _)| *id == dialog))
    }

    /// A message for a dialog we opened; `Err` names the state it did not
    /// fit.
    pub(super) fn opener_msg(
        &mut self,
        now: Instant,
        id: DialogId,
        phase: OpenerPhase,
        msg: Msg,
    ) -> Result<(), &'static str> {
        let Some(d) = self.dialogs.get_mut(&id) else {
            return Ok(());
        };
        let kind = d.kind;
        match (phase, msg) {
            (OpenerPhase::AwaitAck, Msg::StartAck(ack)) => {
                if ack.functype != kind.functype() {
                    let violation = Violation::WrongFuncType {
                        cid: d.cid.clone(),
                        expected: kind.functype(),
                        found: ack.functype,
                    };
                    let err = DialogError::Protocol {
                        peer: d.peer.clone(),
                        violation: violation.clone(),
                    };
                    let channel = d.channel;
                    self.deliver_final(id, Incoming::Error(err));
                    self.events
                        .push_back(Event::Violation { channel, violation });
                    return Ok(());
                }
                d.phase = Phase::Opener(if kind == Kind::Func(FuncType::Context) {
                    OpenerPhase::AwaitStarted
                } else {
                    OpenerPhase::Running
                });
                Ok(())
            }
            (OpenerPhase::AwaitStarted, Msg::Started(m)) => {
                d.started = true;
                d.phase = Phase::Opener(OpenerPhase::Running);
                self.deliver(id, Incoming::Started(m.pld));
                Ok(())
            }
            (OpenerPhase::AwaitStarted, Msg::Return(m)) => {
                // A callee that returns without `started()` (§5.1); Python
                // then hangs, we hand over the result.
                self.deliver_final(id, Incoming::Return(m.pld));
                Ok(())
            }
            (OpenerPhase::Running, Msg::Yield(m)) if d.takes_yield() => {
                self.deliver_yield(id, m.pld);
                Ok(())
            }
            (OpenerPhase::Running, Msg::Stop(_)) if kind == Kind::Func(FuncType::Context) => {
                if !d.remote_stopped {
                    d.remote_stopped = true;
                    self.deliver(id, Incoming::Stop);
                }
                Ok(())
            }
            (OpenerPhase::Running, Msg::Stop(_)) if kind == Kind::Func(FuncType::AsyncGen) => {
                d.remote_stopped = true;
                self.finish_opener(id, Incoming::Stop);
                Ok(())
            }
            (OpenerPhase::Running, Msg::Return(m))
                if matches!(
                    kind,
                    Kind::Func(FuncType::AsyncFunc | FuncType::Context)
                        | Kind::Register
                        | Kind::Unregister
                ) =>
            {
                self.deliver_final(id, Incoming::Return(m.pld));
                Ok(())
            }
            (OpenerPhase::Running, Msg::CancelAck(m)) => match kind {
                Kind::CancelActor => {
                    let pld = Raw::encode(&m.pld).expect("a bool encodes");
                    self.timers.stop(Timer::CancelAck(id));
                    self.deliver_final(id, Incoming::Return(pld));
                    Ok(())
                }
                Kind::CancelTask { target } => {
                    self.timers.stop(Timer::CancelAck(id));
                    self.remove_dialog(id);
                    // The callee ended the task before acknowledging; if no
                    // outcome came, there is none to come.
                    if let Some(target) = target
                        && self
                            .dialogs
                            .get(&target)
                            .is_some_and(|t| t.phase != Phase::Opener(OpenerPhase::Done))
                    {
                        let err = DialogError::CancelledAsRequested { error: None };
                        self.deliver_final(target, Incoming::Error(err));
                    }
                    Ok(())
                }
                Kind::Reap { child } => {
                    self.on_reap_acked(now, id, child);
                    Ok(())
                }
                Kind::Func(_) | Kind::TtyLock => Err("running an application dialog"),
                Kind::Register | Kind::Unregister => Err("awaiting the registrar's answer"),
            },
            (
                OpenerPhase::AwaitAck | OpenerPhase::AwaitStarted | OpenerPhase::Running,
                Msg::Error(e),
            ) => {
                let e = RemoteError::from_message(*e);
                let from_callee = e.src_uid() == &d.peer;
                let ours = e.kind() == RemoteErrorKind::ContextCancelled
                    && d.cancel.requested
                    && e.canceller() == Some(&self.uid)
                    && from_callee;
                d.callee_cancelled = e.kind() == RemoteErrorKind::ContextCancelled && from_callee;
                let err = if ours {
                    DialogError::CancelledAsRequested { error: Some(e) }
                } else {
                    DialogError::Remote(e)
                };
                self.deliver_final(id, Incoming::Error(err));
                Ok(())
            }
            (OpenerPhase::AwaitAck, _) => Err("awaiting StartAck"),
            (OpenerPhase::AwaitStarted, _) => Err("awaiting Started"),
            (OpenerPhase::Running, Msg::Started(_)) => Err("already started"),
            (OpenerPhase::Running, _) => Err("running"),
            (OpenerPhase::Done, _) => Err("finished"),
        }
    }

    /// Queues the final input of an opener's dialog: its outcome.
    pub(super) fn deliver_final(&mut self, id: DialogId, item: Incoming) {
        self.finish_opener(id, item);
    }

    fn finish_opener(&mut self, id: DialogId, item: Incoming) {
        let Some((channel, kind)) = self.dialogs.get(&id).map(|d| (d.channel, d.kind)) else {
            return;
        };
        if !self.end_opener(id) {
            return;
        }
        if matches!(kind, Kind::Register | Kind::Unregister) {
            // The core's own requests: answered here, nothing for the
            // application.
            self.remove_dialog(id);
            self.on_registration_answer(id, channel, kind, item);
            return;
        }
        self.deliver(id, item);
    }

    /// Ends an opener's dialog, its outcome to be delivered: false if it
    /// had ended already.
    pub(super) fn end_opener(&mut self, id: DialogId) -> bool {
        let Some(d) = self.dialogs.get_mut(&id) else {
            return false;
        };
        if d.phase == Phase::Opener(OpenerPhase::Done) {
            return false;
        }
        d.phase = Phase::Opener(OpenerPhase::Done);
        let key = (d.peer.clone(), d.cid.clone());
        self.timers.stop(Timer::CancelAck(id));
        // The cid is finished: later messages for it are late, not unknown.
        self.routes.remove(&key.0, &key.1);
        self.tombstone(key);
        true
    }

    /// A cancel request was not acknowledged in time.
    pub(super) fn on_cancel_timeout(&mut self, id: DialogId) {
        let Some(d) = self.dialogs.get(&id) else {
            return;
        };
        match d.kind {
            Kind::CancelActor => {
                let after = self.actor_cancel_timeout();
                self.deliver_final(id, Incoming::Error(DialogError::CancelTimeout { after }));
            }
            Kind::CancelTask { target } => {
                let after = self.context_cancel_timeout();
                self.remove_dialog(id);
                if let Some(target) = target {
                    self.deliver_final(
                        target,
                        Incoming::Error(DialogError::CancelTimeout { after }),
                    );
                }
            }
            Kind::Func(_)
            | Kind::TtyLock
            | Kind::Reap { .. }
            | Kind::Register
            | Kind::Unregister => {}
        }
    }
}
