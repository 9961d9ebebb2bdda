//! The callee side: requests from peers, the runtime namespace `self`, the
//! functions this actor runs, and cancelling them (spec/PROTOCOL.md §4, §5.2,
//! §5.4, §8.1). This file decides whether a peer's `Start` runs a function,
//! what a running function's dialog does with each message from its caller,
//! and what goes back when the function is accepted, starts, finishes or is
//! cancelled.

use serde::Deserialize;

use crate::msg::{self, FuncType, Msg, StartAck};
use crate::raw::Raw;
use crate::uid::Uid;

use super::dialog::{CalleePhase, Dialog, DialogError, Incoming, Kind, LocalStream, Phase};
use super::error::{self, LocalError, MODULE_NOT_EXPOSED, RemoteError, TaskError, pack_error};
use super::{
    Actor, CancelCause, ChannelId, DialogId, Event, LookupError, Role, TOO_MANY_DIALOGS,
    UsageError, Violation,
};

/// What a call this actor makes to itself does ([`Actor::call_local`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalCall {
    /// Run the function: this actor serves it as an `asyncfunc`. The
    /// driver runs it in the caller's task; its result or error is the
    /// call's.
    Run,
    /// The answer, already there (a registrar method's).
    Answer(Raw),
    /// `wait_for_actor` of a name nobody registered yet: ask again once
    /// the registry changed ([`Event::RegistryChanged`]).
    Wait,
}

impl Actor {
    pub(super) fn on_start(&mut self, channel: ChannelId, peer: Uid, start: msg::Start) {
        if start.uid != peer {
            // Python crashes its RPC loop here; we refuse the one request.
            let violation = Violation::UidMismatch {
                claimed: start.uid.clone(),
                peer: peer.clone(),
            };
            let err = LocalError::new("RuntimeError", violation.to_string());
            self.send_error(channel, &err.into(), Some(&start.cid));
            self.events
                .push_back(Event::Violation { channel, violation });
            return;
        }
        if start.ns == "self" {
            self.on_runtime_request(channel, peer, start);
            return;
        }
        if self.config.serve_tty_lock
            && start.ns == crate::tty_lock::TTY_LOCK_NS
            && start.func == crate::tty_lock::TTY_LOCK_FUNC
        {
            self.on_tty_lock_request(channel, peer, start);
            return;
        }
        if self.routes.contains(&peer, &start.cid) {
            let violation = Violation::DuplicateCid { cid: start.cid };
            self.events
                .push_back(Event::Violation { channel, violation });
            return;
        }
        if self.cancelling.is_some() {
            let err = self.cancelling_error();
            self.send_error(channel, &err.into(), Some(&start.cid));
            return;
        }
        let kind = match self.config.endpoints.lookup(&start.ns, &start.func) {
            Ok(kind) => kind,
            Err(e) => {
                let err = self.lookup_error(e, &start.ns, &start.func);
                self.send_error(channel, &err.into(), Some(&start.cid));
                return;
            }
        };
        let limit = self.config.limits.max_dialogs_per_peer;
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        if ch.callees >= limit {
            if !ch.dialog_limit_logged {
                ch.dialog_limit_logged = true;
                tracing::warn!(target: "tractor::runtime", %channel, %peer, limit, "too many calls at once from one peer: refusing the calls over the limit");
            }
            let err = LocalError::new(
                TOO_MANY_DIALOGS,
                format!(
                    "actor {} already runs {limit} functions for {peer}: call refused",
                    self.uid
                ),
            );
            self.send_error(channel, &err.into(), Some(&start.cid));
            return;
        }
        ch.callees += 1;
        let mut dialog = Dialog::new(
            start.cid,
            peer.clone(),
            channel,
            Kind::Func(kind),
            Phase::Callee(CalleePhase::Invoked),
        );
        dialog.endpoint = Some((start.ns.clone(), start.func.clone()));
        dialog.counted = true;
        let id = self.add_dialog(dialog);
        self.counters.calls_served += 1;
        // The opener's grant follows its Start at once: be ready to count it
        // before the application even accepts.
        if matches!(kind, FuncType::Context | FuncType::AsyncGen) {
            self.start_credits(id, false, true);
        }
        self.events.push_back(Event::Invoke {
            dialog: id,
            peer,
            ns: start.ns,
            func: start.func,
            kwargs: start.kwargs,
            kind,
        });
    }

    /// Why `ns:func` cannot be started, as the caller hears it.
    fn lookup_error(&self, e: LookupError, ns: &str, func: &str) -> LocalError {
        match e {
            LookupError::ModuleNotExposed => LocalError::new(
                MODULE_NOT_EXPOSED,
                format!("namespace {ns:?} is not exposed by actor {}", self.uid),
            ),
            LookupError::NoSuchFunction => LocalError::new(
                "AttributeError",
                format!("namespace {ns:?} has no function {func:?}"),
            ),
        }
    }

    /// The refusal of a call that comes while this actor is cancelled.
    fn cancelling_error(&self) -> LocalError {
        LocalError::new(
            "RuntimeError",
            format!("actor {} is cancelling and takes no new calls", self.uid),
        )
    }

    /// A call of `ns:func(**kwargs)` that this actor makes to itself, in
    /// process: no channel, no dialog, nothing sent (Python's
    /// `LocalPortal`, spec/PROTOCOL.md §9.2). It is decided as a peer's
    /// `Start` would be, and answered as follows:
    ///
    /// * a function this actor serves as an `asyncfunc`:
    ///   [`LocalCall::Run`], for the driver to run in the caller's task;
    /// * a registrar method (`ns = "self"`, in a registrar): carried out
    ///   here, [`LocalCall::Answer`] with its result, or
    ///   [`LocalCall::Wait`] for a `wait_for_actor` nobody answers yet
    ///   (ask again once [`Event::RegistryChanged`] came).
    ///
    /// The errors are those a peer would get, raised here: not exposed
    /// (`ModuleNotExposed`), no such function (`AttributeError`), arguments
    /// that are no keyword map or do not fit (`TypeError`), a call while
    /// this actor is cancelled (`RuntimeError`), and, as `RuntimeError`,
    /// a context or stream function (a dialog with oneself is an invalid
    /// operation) or another runtime method (`cancel` and the like).
    pub fn call_local(
        &mut self,
        ns: &str,
        func: &str,
        kwargs: &Raw,
    ) -> Result<LocalCall, LocalError> {
        if kwargs.kind() != crate::Kind::Map {
            return Err(LocalError::new(
                "TypeError",
                UsageError::KwargsNotAMap(kwargs.kind()).to_string(),
            ));
        }
        if ns == "self" {
            if !(self.config.is_registrar && super::registrar::METHODS.contains(&func)) {
                return Err(LocalError::new(
                    "RuntimeError",
                    format!(
                        "self.{func} is not answered in process: through a local portal, \
                         actor {} answers only the registrar's methods, and only as registrar",
                        self.uid
                    ),
                ));
            }
            return Ok(match self.registrar_reply(func, kwargs, None)? {
                super::registrar::Reply::Now(v) => LocalCall::Answer(v),
                super::registrar::Reply::NotYet(_) => LocalCall::Wait,
            });
        }
        if self.cancelling.is_some() {
            return Err(self.cancelling_error());
        }
        match self.config.endpoints.lookup(ns, func) {
            Ok(FuncType::AsyncFunc) => Ok(LocalCall::Run),
            Ok(kind) => {
                let what = match kind {
                    FuncType::Context => "a context function",
                    _ => "a stream function",
                };
                Err(LocalError::new(
                    "RuntimeError",
                    format!(
                        "{ns}:{func} is {what} of this very actor: a dialog with oneself is an \
                         invalid operation (in process, only plain functions run)"
                    ),
                ))
            }
            Err(e) => Err(self.lookup_error(e, ns, func)),
        }
    }

    /// `Start(ns="self")`: the runtime's own methods (spec/PROTOCOL.md §4.2).
    fn on_runtime_request(&mut self, channel: ChannelId, peer: Uid, start: msg::Start) {
        let ack = |cid: &str| {
            Msg::StartAck(StartAck {
                cid: cid.to_owned(),
                functype: FuncType::AsyncFunc,
            })
        };
        match start.func.as_str() {
            "cancel" => {
                if let Some(why) = self.control_refusal(channel, &peer) {
                    self.refuse_request(channel, &start, why);
                    return;
                }
                self.send_msg(channel, &ack(&start.cid));
                self.on_actor_cancel(channel, peer, start.cid);
            }
            "_cancel_task" => {
                #[derive(Deserialize)]
                struct Args {
                    cid: String,
                }
                let target = match start.decode_kwargs::<Args>() {
                    Ok(args) => args.cid,
                    Err(e) => {
                        let err = LocalError::new("TypeError", e.to_string());
                        self.send_error(channel, &err.into(), Some(&start.cid));
                        return;
                    }
                };
                self.send_msg(channel, &ack(&start.cid));
                self.on_cancel_task(channel, peer, start.cid, target);
            }
            crate::introspect::INTROSPECT_METHOD | crate::introspect::DUMP_TASKS_METHOD => {
                self.on_introspect_request(channel, peer, start);
            }
            func if self.config.is_registrar && super::registrar::METHODS.contains(&func) => {
                self.on_registrar_request(channel, peer, start);
            }
            other => {
                // Python raises AttributeError uncaught here and tears the
                // actor down; we answer the one request.
                let violation = Violation::BadRuntimeRequest {
                    func: other.to_owned(),
                    why: "no such runtime method".to_owned(),
                };
                let err = LocalError::new("AttributeError", violation.to_string());
                self.send_error(channel, &err.into(), Some(&start.cid));
                self.events
                    .push_back(Event::Violation { channel, violation });
            }
        }
    }

    /// Why `peer` on `channel` may not control this actor (`self.cancel`),
    /// or `None` if it may: this actor's parent, one of its children, or a
    /// peer that proved the tree's secret (spec/PROTOCOL.md §3.5). Without
    /// a secret, a peer is who its `Aid` says.
    pub(super) fn control_refusal(&self, channel: ChannelId, peer: &Uid) -> Option<String> {
        if self.peer_authenticated(channel) {
            return None;
        }
        let parent = self.parent.and_then(|c| self.peer(c)).map(crate::Aid::uid);
        if parent.as_ref() == Some(peer) || self.children.values().any(|c| &c.uid == peer) {
            return None;
        }
        Some(format!(
            "{peer} is not the parent of actor {}, nor a child of it, nor authenticated by the tree's secret",
            self.uid
        ))
    }

    /// Answers a runtime request the peer may not make with a
    /// `PermissionError`, and reports it.
    pub(super) fn refuse_request(&mut self, channel: ChannelId, start: &msg::Start, why: String) {
        tracing::warn!(target: "tractor::runtime", %channel, peer = %start.uid, func = %start.func, %why, "runtime request refused");
        let violation = Violation::Unauthorized {
            func: start.func.clone(),
            why,
        };
        let err = LocalError::new(error::PERMISSION_ERROR, violation.to_string());
        self.send_error(channel, &err.into(), Some(&start.cid));
        self.events
            .push_back(Event::Violation { channel, violation });
    }

    /// `self._cancel_task`: cancel the function the peer started with cid
    /// `target` over this channel; answer once it has ended.
    fn on_cancel_task(&mut self, channel: ChannelId, peer: Uid, cid: String, target: String) {
        let found = self.routes.get(&peer, &target).filter(|id| {
            self.dialogs
                .get(id)
                .is_some_and(|d| d.channel == channel && d.role() == Role::Callee)
        });
        let Some(id) = found else {
            // Unknown or already finished: nothing to wait for (§5.3 races).
            self.send_cancel_ack(channel, cid);
            return;
        };
        if self
            .dialogs
            .get(&id)
            .is_some_and(|d| d.kind == Kind::TtyLock)
        {
            self.drop_tty_claim(id, Some(&peer));
            self.send_cancel_ack(channel, cid);
            return;
        }
        if let Some(d) = self.dialogs.get_mut(&id) {
            d.cancel.acks_owed.push((channel, cid));
        }
        self.request_cancel(id, peer.clone(), CancelCause::Requested { by: peer });
    }

    /// `self.cancel`: cancel every function this actor runs, then answer.
    fn on_actor_cancel(&mut self, channel: ChannelId, peer: Uid, cid: String) {
        match &mut self.cancelling {
            Some((_, owed)) => owed.push((channel, cid)),
            None => {
                self.cancelling = Some((peer.clone(), vec![(channel, cid)]));
                self.cancel_running(&peer, CancelCause::ActorCancel { by: peer.clone() });
                self.events
                    .push_back(Event::ActorCancelRequested { by: peer });
            }
        }
        self.check_actor_cancelled();
    }

    /// Sends the actor-wide `CancelAck`s once no function runs any more.
    pub(super) fn check_actor_cancelled(&mut self) {
        let busy = self
            .dialogs
            .values()
            .any(|d| d.role() == Role::Callee && d.is_app());
        if busy {
            return;
        }
        let owed = match &mut self.cancelling {
            Some((_, owed)) => std::mem::take(owed),
            None => return,
        };
        for (channel, cid) in owed {
            self.send_cancel_ack(channel, cid);
        }
    }

    fn send_cancel_ack(&mut self, channel: ChannelId, cid: String) {
        self.send_msg(channel, &Msg::CancelAck(msg::CancelAck { cid, pld: true }));
    }

    /// Asks a running function to stop; `canceller` is kept if it is the
    /// first to ask.
    pub(super) fn request_cancel(&mut self, id: DialogId, canceller: Uid, cause: CancelCause) {
        let Some(d) = self.dialogs.get_mut(&id) else {
            return;
        };
        if d.cancel.canceller.is_none() {
            d.cancel.canceller = Some(canceller);
        }
        self.events.push_back(Event::Cancel { dialog: id, cause });
    }

    /// Confirms that an invoked function runs: sends `StartAck`.
    ///
    /// Call once the arguments are known to fit; if they do not, call
    /// [`Actor::reject`] instead, so that the caller gets the error without
    /// a `StartAck`, as Python does for a bad call (scenario rpc-bad-kwargs).
    pub fn accept(&mut self, dialog: DialogId) -> Result<(), UsageError> {
        let d = self.dialog_mut(dialog)?;
        if d.orphaned {
            return Ok(());
        }
        if d.phase != Phase::Callee(CalleePhase::Invoked) {
            return Err(UsageError::InvalidState {
                op: "accept",
                dialog,
                why: "it is not a newly invoked function",
            });
        }
        d.phase = Phase::Callee(CalleePhase::Running);
        let kind = d.kind;
        let msg = Msg::StartAck(StartAck {
            cid: d.cid.clone(),
            functype: d.kind.functype(),
        });
        let channel = d.channel;
        self.send_msg(channel, &msg);
        // Our grant goes out with the StartAck; the peer's may already have
        // come with its Start (see `on_start`).
        if kind == Kind::Func(FuncType::Context) {
            self.start_credits(dialog, true, false);
        }
        Ok(())
    }

    /// Refuses an invoked function before it runs: sends `Error` without a
    /// `StartAck`.
    pub fn reject(&mut self, dialog: DialogId, err: TaskError) -> Result<(), UsageError> {
        let d = self.dialog_mut(dialog)?;
        if d.phase != Phase::Callee(CalleePhase::Invoked) {
            return Err(UsageError::InvalidState {
                op: "reject",
                dialog,
                why: "it is not a newly invoked function",
            });
        }
        if !d.orphaned {
            let (channel, cid) = (d.channel, d.cid.clone());
            self.send_error(channel, &err, Some(&cid));
        }
        self.callee_done(dialog);
        Ok(())
    }

    /// Sends a context's first value (`Context.started`). Only once.
    pub fn started(&mut self, dialog: DialogId, value: Raw) -> Result<(), UsageError> {
        let d = self.dialog_mut(dialog)?;
        if d.kind != Kind::Func(FuncType::Context) || d.role() != Role::Callee {
            return Err(UsageError::InvalidState {
                op: "started",
                dialog,
                why: "only the callee of a context sends Started",
            });
        }
        if d.phase != Phase::Callee(CalleePhase::Running) {
            return Err(UsageError::InvalidState {
                op: "started",
                dialog,
                why: "the function has not been accepted",
            });
        }
        if d.started {
            return Err(UsageError::InvalidState {
                op: "started",
                dialog,
                why: "Started was already sent",
            });
        }
        d.started = true;
        if d.orphaned {
            return Ok(());
        }
        let msg = Msg::Started(msg::Started {
            cid: d.cid.clone(),
            pld: value,
        });
        let channel = d.channel;
        self.send_msg(channel, &msg);
        Ok(())
    }

    /// Ends a function this actor runs, with its outcome: a value (sent as
    /// `Return`; a legacy stream just ends with `Stop`), an error (boxed in
    /// `Error`), or [`TaskError::Cancelled`] after an [`Event::Cancel`].
    ///
    /// A context's open stream is closed first, as leaving Python's stream
    /// block does. Then every `_cancel_task` that waited for this function
    /// is answered.
    pub fn finish(
        &mut self,
        dialog: DialogId,
        outcome: Result<Raw, TaskError>,
    ) -> Result<(), UsageError> {
        let d = self.dialog_mut(dialog)?;
        if d.role() != Role::Callee {
            return Err(UsageError::InvalidState {
                op: "finish",
                dialog,
                why: "only a called function finishes; an opener leaves",
            });
        }
        if d.phase == Phase::Callee(CalleePhase::Invoked) && outcome.is_ok() {
            return Err(UsageError::InvalidState {
                op: "finish",
                dialog,
                why: "the function was never accepted",
            });
        }
        if d.orphaned {
            self.callee_done(dialog);
            return Ok(());
        }
        let (channel, cid, kind) = (d.channel, d.cid.clone(), d.kind);
        let remote_error = d.cancel.remote_error.clone();
        let canceller = d.cancel.canceller.clone();
        if kind == Kind::Func(FuncType::Context) {
            if outcome.is_ok() {
                self.end_local_stream(dialog);
            } else if let Some(d) = self.dialogs.get_mut(&dialog) {
                // A failed function's error ends its stream: a `Stop`
                // before it would read as a normal end to the opener.
                d.local_stream = LocalStream::Closed;
            }
        }
        match (kind, outcome) {
            (Kind::Func(FuncType::AsyncGen), Ok(_)) => {
                self.send_msg(channel, &Msg::Stop(msg::Stop { cid }));
            }
            (_, Ok(pld)) => self.send_msg(channel, &Msg::Return(msg::Return { cid, pld })),
            (_, Err(TaskError::Cancelled)) => match (remote_error, kind) {
                // The caller's own error cancelled us: it goes back to them
                // (boxed once more), as Python raises it in place of the
                // cancellation.
                (Some(e), _) => self.send_error(channel, &TaskError::Remote(e), Some(&cid)),
                // A cancelled generator still ends its stream (§4.3).
                (None, Kind::Func(FuncType::AsyncGen)) => {
                    self.send_msg(channel, &Msg::Stop(msg::Stop { cid }));
                }
                (None, _) => {
                    let canceller = canceller.unwrap_or_else(|| self.uid.clone());
                    let err = error::cancelled(&self.uid, &canceller, Some(&cid));
                    self.send_msg(channel, &Msg::from(err));
                }
            },
            (_, Err(err)) => self.send_error(channel, &err, Some(&cid)),
        }
        self.callee_done(dialog);
        Ok(())
    }

    /// Forgets a finished callee dialog and answers what waited for it.
    fn callee_done(&mut self, id: DialogId) {
        let Some(d) = self.remove_dialog(id) else {
            return;
        };
        for (channel, cid) in d.cancel.acks_owed {
            self.send_cancel_ack(channel, cid);
        }
        self.check_actor_cancelled();
    }

    /// Sends `Stop` for our open stream unless the peer's `Stop` was already
    /// seen by the application (then nothing is echoed, §5.3).
    pub(super) fn end_local_stream(&mut self, id: DialogId) {
        let Some(d) = self.dialogs.get_mut(&id) else {
            return;
        };
        if d.local_stream != LocalStream::Open {
            d.local_stream = LocalStream::Closed;
            return;
        }
        d.local_stream = LocalStream::Closed;
        if d.remote_stopped && d.stop_taken {
            return;
        }
        let (channel, cid) = (d.channel, d.cid.clone());
        self.send_msg(channel, &Msg::Stop(msg::Stop { cid }));
    }

    pub(super) fn send_error(&mut self, channel: ChannelId, err: &TaskError, cid: Option<&str>) {
        let traceback = match err {
            TaskError::Local(e) => e.traceback.clone(),
            TaskError::Remote(_) | TaskError::Cancelled => String::new(),
        };
        let boxed = pack_error(err, &self.uid, cid, &traceback);
        self.send_msg(channel, &Msg::from(boxed));
    }

    /// A message for a function we run.
    pub(super) fn callee_msg(&mut self, id: DialogId, msg: Msg) -> Result<(), &'static str> {
        let Some(d) = self.dialogs.get_mut(&id) else {
            return Ok(());
        };
        match (d.kind, msg) {
            (_, Msg::Yield(m)) if d.takes_yield() => {
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
                let e = RemoteError::from_message(*e);
                let peer = d.peer.clone();
                d.cancel.remote_error = Some(e.clone());
                self.deliver(id, Incoming::Error(DialogError::Remote(e.clone())));
                self.request_cancel(id, peer, CancelCause::RemoteError(e));
                Ok(())
            }
            _ => Err("running the called function"),
        }
    }
}
