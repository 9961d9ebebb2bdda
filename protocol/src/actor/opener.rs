//! Opening dialogs, streams both ways, cancel requests, and everything a
//! dialog receives after its `Start` (spec/PROTOCOL.md §4–§6).

use std::time::{Duration, Instant};

use crate::msg::{self, Aid, FuncType, Msg};
use crate::raw::Raw;
use crate::uid::Uid;

use super::channel::CloseReason;
use super::dialog::{
    ContextOptions, Dialog, DialogError, Incoming, Kind, LocalStream, OpenerPhase, Phase,
};
use super::error::{self, RemoteError, RemoteErrorKind};
use super::timer::Timer;
use super::{Actor, CancelCause, ChannelId, DialogId, Event, Loss, Role, UsageError, Violation};

/// How long `Context.cancel` waits for the callee's `CancelAck` (Python's
/// shielded 0.616 s).
pub const CONTEXT_CANCEL_TIMEOUT: Duration = Duration::from_millis(616);

/// How long `Portal.cancel_actor` waits for `CancelAck` (Python's
/// `Portal.cancel_timeout`) before the supervisor escalates.
pub const ACTOR_CANCEL_TIMEOUT: Duration = Duration::from_millis(500);

/// How many finished dialogs are remembered so that late messages for them
/// (a second `Stop`, a `Yield` after close) are dropped without a report.
const TOMBSTONES: usize = 1024;

impl Actor {
    /// Calls `ns:func(**kwargs)` as a plain async function on the peer of
    /// `channel` (Python's `Portal.run`). The outcome arrives through
    /// [`Actor::recv`]: [`Incoming::Return`] or [`Incoming::Error`]; then
    /// the dialog is forgotten.
    pub fn call(
        &mut self,
        _now: Instant,
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
        _now: Instant,
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
        _now: Instant,
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
    /// [`DialogError::CancelTimeout`] after [`ACTOR_CANCEL_TIMEOUT`], when a
    /// supervisor should escalate.
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
            .set(Timer::CancelAck(id), now + ACTOR_CANCEL_TIMEOUT);
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
        let peer = self
            .peer(channel)
            .map(Aid::uid)
            .ok_or(UsageError::ChannelNotOpen(channel))?;
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
        self.send_msg(channel, &Msg::Start(start));
        match kind {
            Kind::Func(FuncType::Context) => self.start_credits(id, true, true),
            Kind::Func(FuncType::AsyncGen) => self.start_credits(id, true, false),
            _ => {}
        }
        Ok(id)
    }

    /// Sets up credits for a starting dialog, if its peer uses them: we
    /// grant our buffer for what we `receive`, and wait for the peer's
    /// grant before we `send`.
    pub(super) fn start_credits(&mut self, id: DialogId, receive: bool, send: bool) {
        let Some(d) = self.dialogs.get(&id) else {
            return;
        };
        let uses = self.config.flow_control
            && self
                .peer(d.channel)
                .is_some_and(|p| p.credit_flow.is_some_and(|v| v >= 1));
        if !uses {
            return;
        }
        let Some(d) = self.dialogs.get_mut(&id) else {
            return;
        };
        if send {
            d.credit_out = Some(0);
        }
        if receive {
            let window = u32::try_from(d.options.credit_window.max(1)).unwrap_or(u32::MAX);
            d.credit_in = Some((window, 0));
            let (channel, cid) = (d.channel, d.cid.clone());
            self.send_msg(channel, &Msg::Credit(msg::Credit { cid, n: window }));
        }
    }

    /// Grants back what the application has taken, half a buffer at a time.
    fn replenish(&mut self, id: DialogId) {
        let Some(d) = self.dialogs.get_mut(&id) else {
            return;
        };
        let half = (d.options.credit_window / 2).max(1);
        let done = d.phase == Phase::Opener(OpenerPhase::Done);
        let Some((granted, owed)) = d.credit_in.as_mut() else {
            return;
        };
        *owed += 1;
        if (*owed as usize) < half || done {
            return;
        }
        let n = std::mem::take(owed);
        *granted = granted.saturating_add(n);
        let (channel, cid) = (d.channel, d.cid.clone());
        self.send_msg(channel, &Msg::Credit(msg::Credit { cid, n }));
    }

    /// Sets a context's buffer and overrun policy (Python's `open_context`
    /// and `open_stream` arguments), on either side.
    pub fn set_context_options(
        &mut self,
        dialog: DialogId,
        options: ContextOptions,
    ) -> Result<(), UsageError> {
        let d = self.dialog_mut(dialog)?;
        let grow = options
            .credit_window
            .saturating_sub(d.options.credit_window);
        d.options = options;
        // A bigger buffer is more room for the peer (a smaller one cannot
        // take back what was granted).
        if grow > 0
            && let Some((granted, _)) = d.credit_in.as_mut()
        {
            let n = u32::try_from(grow).unwrap_or(u32::MAX);
            *granted = granted.saturating_add(n);
            let (channel, cid) = (d.channel, d.cid.clone());
            self.send_msg(channel, &Msg::Credit(msg::Credit { cid, n }));
        }
        Ok(())
    }

    /// The failure an opener's dialog ended with, once it is queued to
    /// read (without taking it, nor any item before it).
    pub fn final_error(&self, dialog: DialogId) -> Option<&DialogError> {
        let d = self.dialogs.get(&dialog)?;
        match d.inbox.back() {
            Some(Incoming::Error(e)) if d.phase == Phase::Opener(OpenerPhase::Done) => Some(e),
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

    /// Takes the dialog's next input, if any.
    ///
    /// A `call` or `cancel_actor` dialog is forgotten once its outcome is
    /// taken; other dialogs stay until [`Actor::leave`] (opener) or
    /// [`Actor::finish`] (callee).
    pub fn recv(&mut self, dialog: DialogId) -> Result<Option<Incoming>, UsageError> {
        let d = self.dialog_mut(dialog)?;
        let item = d.inbox.pop_front();
        if d.inbox.is_empty() {
            d.notified = false;
        }
        let took_item = matches!(item, Some(Incoming::Yield(_)));
        match &item {
            Some(Incoming::Stop) => d.stop_taken = true,
            Some(i) if i.is_final() => d.outcome_taken = true,
            _ => {}
        }
        // An outcome held back (the peer's exit is awaited) is still to
        // come: only taking it ends the dialog.
        let forget = item.is_some()
            && d.inbox.is_empty()
            && d.phase == Phase::Opener(OpenerPhase::Done)
            && matches!(d.kind, Kind::Func(FuncType::AsyncFunc) | Kind::CancelActor);
        if forget {
            self.remove_dialog(dialog);
        } else if took_item {
            self.replenish(dialog);
        }
        Ok(item)
    }

    /// The cid of a dialog, as on the wire.
    pub fn cid(&self, dialog: DialogId) -> Option<&str> {
        self.dialogs.get(&dialog).map(|d| d.cid.as_str())
    }

    /// Opens this side's stream of a context (Python's `open_stream`):
    /// from now on [`Actor::send`] may send items. The callee must have
    /// sent `Started`, the opener received it.
    pub fn open_stream(&mut self, _now: Instant, dialog: DialogId) -> Result<(), UsageError> {
        let me = self.uid.clone();
        let d = self.dialog_mut(dialog)?;
        let refuse = |why| {
            Err(UsageError::InvalidState {
                op: "open_stream",
                dialog,
                why,
            })
        };
        if d.kind != Kind::Func(FuncType::Context) {
            return refuse("only a context has a two-way stream");
        }
        if !d.started {
            return refuse("Started has not been exchanged yet");
        }
        if d.role() == Role::Callee && d.cancel.canceller.as_ref() == Some(&me) {
            return refuse("the context cancelled itself");
        }
        if d.outcome_taken {
            return refuse("the context has ended");
        }
        match d.local_stream {
            LocalStream::Unopened => {
                d.local_stream = LocalStream::Open;
                Ok(())
            }
            LocalStream::Open => refuse("the stream is already open"),
            LocalStream::Closed => refuse("the stream was closed"),
        }
    }

    /// Sends one stream item: on a context's open stream, or from a legacy
    /// stream's generator (callee).
    pub fn send(&mut self, _now: Instant, dialog: DialogId, item: Raw) -> Result<(), UsageError> {
        let d = self.dialog_mut(dialog)?;
        let refuse = |why| {
            Err(UsageError::InvalidState {
                op: "send",
                dialog,
                why,
            })
        };
        match (d.kind, d.role()) {
            (Kind::Func(FuncType::Context), _) => {
                if d.local_stream != LocalStream::Open {
                    return refuse("the stream is not open");
                }
                if d.outcome_taken {
                    return refuse("the context has ended");
                }
            }
            (Kind::Func(FuncType::AsyncGen), Role::Callee) => {
                if d.phase != Phase::Callee(super::dialog::CalleePhase::Running) {
                    return refuse("the generator has not been accepted");
                }
            }
            _ => return refuse("this dialog carries no stream from this side"),
        }
        if d.orphaned {
            return Ok(());
        }
        let channel = d.channel;
        if let Some(ch) = self.channels.get_mut(&channel)
            && ch.paused
        {
            // The peer's output queue is over the bound: wait for room.
            if !ch.blocked_senders.contains(&dialog) {
                ch.blocked_senders.push(dialog);
            }
            return Err(UsageError::NoCredit(dialog));
        }
        let d = self.dialog_mut(dialog)?;
        match d.credit_out.as_mut() {
            // The function has ended (returned, failed, or its actor is
            // gone): no credit will come, so waiting for one would hang.
            Some(0) if d.phase == Phase::Opener(OpenerPhase::Done) => {
                return Err(UsageError::Ended(dialog));
            }
            Some(0) => return Err(UsageError::NoCredit(dialog)),
            Some(n) => *n -= 1,
            None => {}
        }
        let (channel, cid) = (d.channel, d.cid.clone());
        self.send_msg(channel, &Msg::Yield(msg::Yield { cid, pld: item }));
        Ok(())
    }

    /// Closes this side's stream of a context (leaving Python's stream
    /// block): sends `Stop`, unless the application already took the
    /// peer's `Stop`. Closing twice is harmless.
    ///
    /// It closes both directions, as Python's `aclose` does: items already
    /// received stay in the inbox for [`Actor::recv`], but stream items
    /// that arrive afterwards are dropped, each logged at `debug` under
    /// `tractor::transport`, counted in [`DialogInfo::dropped_after_close`]
    /// and granted back to a peer that uses credits, so that it never
    /// waits on us. The peer's `Stop` and the outcome still arrive.
    ///
    /// [`DialogInfo::dropped_after_close`]: super::DialogInfo::dropped_after_close
    pub fn close_stream(&mut self, _now: Instant, dialog: DialogId) -> Result<(), UsageError> {
        self.dialog_mut(dialog)?;
        self.end_local_stream(dialog);
        Ok(())
    }

    /// Cancels a dialog.
    ///
    /// Opener: asks the callee to cancel (`self._cancel_task`, Python's
    /// `Context.cancel`). The callee's `ContextCancelled` naming us then
    /// arrives as [`DialogError::CancelledAsRequested`]; without an answer
    /// in [`CONTEXT_CANCEL_TIMEOUT`] the outcome is
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
                .set(Timer::CancelAck(id), now + CONTEXT_CANCEL_TIMEOUT);
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

    /// Everything a dialog receives after its `Start`.
    pub(super) fn on_dialog_msg(&mut self, now: Instant, channel: ChannelId, peer: Uid, msg: Msg) {
        let msg_type = msg.msg_type().as_str();
        let Some(cid) = msg.cid().map(str::to_owned) else {
            // A cid-less `Error` is a runtime-level failure of the peer;
            // Python drops it too (spec/PROTOCOL.md §7.4).
            if let Msg::Error(e) = msg {
                let e = RemoteError::from_message(e);
                tracing::warn!(target: "tractor::runtime", %channel, error = %e, "runtime error from peer");
            }
            return;
        };
        let key = (peer.clone(), cid.clone());
        let Some(&id) = self.routes.get(&key) else {
            if self.finished.contains(&key) {
                match msg {
                    // The opener left before the function's failure came
                    // (a context dropped unread, a call given up): nobody
                    // will read it, but it is not lost. A cancellation is
                    // only the answer to leaving.
                    Msg::Error(e) if e.boxed_type_str != error::CONTEXT_CANCELLED => {
                        let e = RemoteError::from_message(e);
                        tracing::error!(target: "tractor::runtime", %channel, %cid, "a dialog's error came after it was left, unread: {e}");
                    }
                    _ => {
                        tracing::debug!(target: "tractor::transport", %channel, msg_type, %cid, "late message for a finished dialog")
                    }
                }
            } else {
                let violation = Violation::UnknownDialog { msg_type, cid };
                self.events
                    .push_back(Event::Violation { channel, violation });
            }
            return;
        };
        if let Msg::Credit(c) = &msg {
            self.on_credit(id, c.n);
            return;
        }
        let Some(d) = self.dialogs.get(&id) else {
            return;
        };
        let result = match d.phase {
            Phase::Opener(phase) => self.opener_msg(now, id, phase, msg),
            Phase::Callee(_) if d.kind == Kind::TtyLock => self.tty_lock_msg(id, msg),
            Phase::Callee(_) => self.callee_msg(id, msg),
        };
        if let Err(state) = result {
            let violation = Violation::Unexpected {
                msg_type,
                cid,
                state,
            };
            if self
                .dialogs
                .get(&id)
                .is_some_and(|d| d.role() == Role::Opener)
            {
                let err = DialogError::Protocol {
                    peer,
                    violation: violation.clone(),
                };
                self.deliver_final(id, Incoming::Error(err));
            }
            self.events
                .push_back(Event::Violation { channel, violation });
        }
    }

    /// A message for a dialog we opened; `Err` names the state it did not
    /// fit.
    fn opener_msg(
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
            (OpenerPhase::Running, Msg::Yield(m))
                if matches!(kind, Kind::Func(FuncType::Context | FuncType::AsyncGen)) =>
            {
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
                let e = RemoteError::from_message(e);
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

    /// A message for a function we run.
    fn callee_msg(&mut self, id: DialogId, msg: Msg) -> Result<(), &'static str> {
        let Some(d) = self.dialogs.get_mut(&id) else {
            return Ok(());
        };
        match (d.kind, msg) {
            (Kind::Func(FuncType::Context), Msg::Yield(m)) => {
                self.deliver_yield(id, m.pld);
                Ok(())
            }
            (Kind::Func(FuncType::Context | FuncType::AsyncGen), Msg::Stop(_)) => {
                if !d.remote_stopped {
                    d.remote_stopped = true;
                    self.deliver(id, Incoming::Stop);
                }
                Ok(())
            }
            // Python's callees queue anything; a stray `Stop` is harmless.
            (Kind::Func(FuncType::AsyncFunc), Msg::Stop(_)) => Ok(()),
            (_, Msg::Error(e)) => {
                // Only ever a `StreamOverrun` in Python: the opener's error
                // cancels us and is raised in place of the cancellation.
                let e = RemoteError::from_message(e);
                let peer = d.peer.clone();
                d.cancel.remote_error = Some(e.clone());
                self.deliver(id, Incoming::Error(DialogError::Remote(e.clone())));
                self.request_cancel(id, peer, CancelCause::RemoteError(e));
                Ok(())
            }
            _ => Err("running the called function"),
        }
    }

    /// The peer granted room for `n` more items.
    fn on_credit(&mut self, id: DialogId, n: u32) {
        let Some(d) = self.dialogs.get_mut(&id) else {
            return;
        };
        let Some(credit) = d.credit_out.as_mut() else {
            // We never asked this peer for credits; nothing to do.
            return;
        };
        let was_empty = *credit == 0;
        *credit = credit.saturating_add(n);
        if was_empty && n > 0 && d.is_app() {
            self.events.push_back(Event::Writable { dialog: id });
        }
    }

    /// Queues a stream item, enforcing the buffer (§5.5).
    fn deliver_yield(&mut self, id: DialogId, item: Raw) {
        let me = self.uid.clone();
        let Some(d) = self.dialogs.get_mut(&id) else {
            return;
        };
        if d.local_stream == LocalStream::Closed {
            // Our side closed its stream, both ways as Python's `aclose`:
            // late items are dropped, counted and logged, and each is
            // granted back as if taken, so that a peer still sending never
            // waits on us.
            d.dropped_after_close += 1;
            let (cid, dropped) = (d.cid.clone(), d.dropped_after_close);
            tracing::debug!(
                target: "tractor::transport",
                dialog = %id,
                %cid,
                dropped,
                "stream item after this side closed its stream: dropped"
            );
            self.replenish(id);
            return;
        }
        // Python's buffer holds every message of the dialog; our credits
        // count stream items only, up to the window we grant.
        let (capacity, queued) = if d.credit_in.is_some() {
            let capacity = d.options.credit_window.max(d.options.msg_buffer_size);
            // The inbox holds a few other messages at most: count the
            // items only when it could be full.
            let queued = if d.inbox.len() < capacity {
                d.inbox.len()
            } else {
                d.inbox
                    .iter()
                    .filter(|i| matches!(i, Incoming::Yield(_)))
                    .count()
            };
            (capacity, queued)
        } else {
            (d.options.msg_buffer_size, d.queued())
        };
        if queued < capacity {
            self.deliver(id, Incoming::Yield(item));
        } else if d.options.allow_overruns {
            if queued >= capacity + super::OVERRUN_BACKLOG
                && let Some(oldest) = d.inbox.iter().position(|i| matches!(i, Incoming::Yield(_)))
            {
                d.inbox.remove(oldest);
            }
            self.deliver(id, Incoming::Yield(item));
        } else {
            // Tell the sender and drop the item; our side goes on.
            let err = error::overrun(&me, &d.peer, &d.cid, capacity);
            let channel = d.channel;
            self.send_msg(channel, &Msg::Error(err));
        }
    }

    /// Queues one input and signals it.
    pub(super) fn deliver(&mut self, id: DialogId, item: Incoming) {
        if let Some(d) = self.dialogs.get_mut(&id) {
            d.inbox.push_back(item);
            self.notify(id);
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
    fn end_opener(&mut self, id: DialogId) -> bool {
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
        self.routes.remove(&key);
        self.tombstone(key);
        true
    }

    fn notify(&mut self, id: DialogId) {
        if let Some(d) = self.dialogs.get_mut(&id)
            && !d.notified
            && !d.inbox.is_empty()
            && d.is_app()
        {
            d.notified = true;
            self.events.push_back(Event::Readable { dialog: id });
        }
    }

    /// A dialog's channel closed; `loss` says what is known of the peer.
    pub(super) fn on_channel_lost(
        &mut self,
        id: DialogId,
        channel: ChannelId,
        reason: &CloseReason,
        loss: &Loss,
    ) {
        let Some(d) = self.dialogs.get_mut(&id) else {
            return;
        };
        match d.phase {
            Phase::Opener(OpenerPhase::Done) => {}
            Phase::Opener(_)
                if matches!(
                    d.kind,
                    Kind::CancelTask { .. } | Kind::Reap { .. } | Kind::Register | Kind::Unregister
                ) =>
            {
                // A runtime request: nobody waits on it but its target,
                // which fails on its own account (a registration hears of
                // its channel).
                self.remove_dialog(id);
            }
            Phase::Opener(_) => match *loss {
                Loss::Closed => self.deliver_final(
                    id,
                    Incoming::Error(DialogError::TransportClosed {
                        channel,
                        reason: reason.clone(),
                    }),
                ),
                Loss::Peer { pid, exit } => {
                    let peer = d.peer.clone();
                    self.deliver_final(
                        id,
                        Incoming::Error(DialogError::PeerLost {
                            peer,
                            pid,
                            exit,
                            channel,
                            reason: reason.clone(),
                        }),
                    )
                }
                Loss::Child { child, now } => {
                    // Nothing more can arrive, but how the child ended is
                    // about to: the outcome waits for it.
                    self.end_opener(id);
                    let waiting = self.awaiting_exit.entry(child).or_default();
                    waiting.push((id, channel, reason.clone()));
                    if waiting.len() == 1 {
                        self.timers
                            .set(Timer::PeerExit(child), now + super::PEER_EXIT_WAIT);
                    }
                }
            },
            Phase::Callee(_) if d.kind == Kind::TtyLock => self.tty_claim_lost(id),
            Phase::Callee(_) => {
                // Nothing can reach the caller any more; the function is
                // asked to stop and its outcome will be dropped. Python
                // leaves such tasks running (spec/PROTOCOL.md §8.4).
                d.orphaned = true;
                d.cancel.acks_owed.retain(|(c, _)| *c != channel);
                let key = (d.peer.clone(), d.cid.clone());
                self.routes.remove(&key);
                self.tombstone(key);
                self.events.push_back(Event::Cancel {
                    dialog: id,
                    cause: CancelCause::ChannelClosed,
                });
            }
        }
    }

    /// Fails the dialogs that lost their channel to `child` with how it
    /// ended (`exit`), or without it once the wait for it is over.
    pub(super) fn report_lost(
        &mut self,
        child: super::ChildId,
        pid: Option<u32>,
        exit: Option<super::ExitStatus>,
    ) {
        self.timers.stop(Timer::PeerExit(child));
        for (id, channel, reason) in self.awaiting_exit.remove(&child).unwrap_or_default() {
            // A dialog left meanwhile wants nothing more.
            let Some(d) = self.dialogs.get(&id) else {
                continue;
            };
            let peer = d.peer.clone();
            self.deliver(
                id,
                Incoming::Error(DialogError::PeerLost {
                    peer,
                    pid,
                    exit,
                    channel,
                    reason,
                }),
            );
        }
    }

    /// A cancel request was not acknowledged in time.
    pub(super) fn on_cancel_timeout(&mut self, id: DialogId) {
        let Some(d) = self.dialogs.get(&id) else {
            return;
        };
        match d.kind {
            Kind::CancelActor => {
                let after = ACTOR_CANCEL_TIMEOUT;
                self.deliver_final(id, Incoming::Error(DialogError::CancelTimeout { after }));
            }
            Kind::CancelTask { target } => {
                let after = CONTEXT_CANCEL_TIMEOUT;
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

    /// Remembers a finished dialog's key for a while.
    fn tombstone(&mut self, key: (Uid, String)) {
        if self.finished.len() == TOMBSTONES {
            self.finished.pop_front();
        }
        self.finished.push_back(key);
    }

    pub(super) fn dialog_mut(&mut self, dialog: DialogId) -> Result<&mut Dialog, UsageError> {
        self.dialogs
            .get_mut(&dialog)
            .ok_or(UsageError::UnknownDialog(dialog))
    }

    /// Forgets a dialog entirely.
    pub(super) fn remove_dialog(&mut self, id: DialogId) -> Option<Dialog> {
        let d = self.dialogs.remove(&id)?;
        if d.counted
            && let Some(ch) = self.channels.get_mut(&d.channel)
        {
            ch.callees = ch.callees.saturating_sub(1);
        }
        let key = (d.peer.clone(), d.cid.clone());
        if self.routes.get(&key) == Some(&id) {
            self.routes.remove(&key);
            self.tombstone(key);
        }
        self.timers.stop(Timer::CancelAck(id));
        Some(d)
    }

    /// A local failure of a dialog, e.g. a message for it that does not
    /// decode.
    pub(super) fn fail_dialog(&mut self, id: DialogId, err: DialogError) {
        let Some(d) = self.dialogs.get(&id) else {
            return;
        };
        match d.role() {
            Role::Opener => self.deliver_final(id, Incoming::Error(err)),
            Role::Callee => {
                tracing::warn!(target: "tractor::runtime", dialog = %id, error = %err, "called function's dialog broken");
            }
        }
    }
}
