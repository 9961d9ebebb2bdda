//! The dialogs both sides share: routing, receiving, ending
//! (spec/PROTOCOL.md §1.5, §5.3). This file decides which dialog a message
//! after `Start` belongs to (and what a message for no live dialog is: late
//! or a violation), what the application takes with `recv`, what a dialog
//! learns when its channel closes, and how a dialog is forgotten and
//! remembered as finished (tombstones).

use std::collections::VecDeque;
use std::time::Instant;

use crate::msg::{FuncType, Msg};
use crate::raw::Raw;
use crate::uid::Uid;

use super::channel::CloseReason;
use super::dialog::{Dialog, DialogError, Incoming, Kind, OpenerPhase, Phase, Queued};
use super::error::{self, RemoteError};
use super::timer::Timer;
use super::{Actor, CancelCause, ChannelId, DialogId, Event, Loss, Role, UsageError, Violation};

/// How many finished dialogs are remembered so that late messages for them
/// (a second `Stop`, a `Yield` after close) are dropped without a report.
const TOMBSTONES: usize = 1024;

impl Actor {
    /// Takes the dialog's next input, if any.
    ///
    /// A `call` or `cancel_actor` dialog is forgotten once its outcome is
    /// taken; other dialogs stay until [`Actor::leave`] (opener) or
    /// [`Actor::finish`] (callee). A dialog that has ended so (or whose
    /// channel's loss ended it) has nothing more to give: `Ok(None)`, so
    /// that `while let Some(item) = actor.recv(dialog)? { … }` ends. Only a
    /// dialog id this actor never gave out is [`UsageError::UnknownDialog`].
    pub fn recv(&mut self, dialog: DialogId) -> Result<Option<Incoming>, UsageError> {
        Ok(self.recv_one(dialog)?.map(Incoming::from))
    }

    /// Takes the stream items at the front of a dialog's inbox, up to
    /// `max`, into `out`, as [`Actor::recv`] would one by one (their
    /// credits are granted back as each is taken); stops at anything
    /// else, which [`Actor::recv`] then gives. Returns how many it took.
    ///
    /// A reader that keeps a few items at hand this way takes the core's
    /// lock once per batch instead of once per item; what it holds is
    /// counted as read, so at most `max` items more than the window wait
    /// in the process.
    pub fn recv_items(&mut self, dialog: DialogId, max: usize, out: &mut VecDeque<Raw>) -> usize {
        let mut n = 0;
        while n < max
            && self
                .dialogs
                .get(&dialog)
                .is_some_and(|d| matches!(d.inbox.front(), Some(Queued::Yield(_))))
        {
            let Ok(Some(Queued::Yield(item))) = self.recv_one(dialog) else {
                break;
            };
            out.push_back(item);
            n += 1;
        }
        n
    }

    fn recv_one(&mut self, dialog: DialogId) -> Result<Option<Queued>, UsageError> {
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return if self.dialog_was_given_out(dialog) {
                Ok(None)
            } else {
                Err(UsageError::UnknownDialog(dialog))
            };
        };
        let item = d.inbox.pop_front();
        if d.inbox.is_empty() {
            d.notified = false;
        }
        let took_item = matches!(item, Some(Queued::Yield(_)));
        match &item {
            Some(Queued::Stop) => d.stop_taken = true,
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

    /// Whether this actor gave out the dialog id, live or ended.
    fn dialog_was_given_out(&self, dialog: DialogId) -> bool {
        (1..=self.last_dialog).contains(&dialog.0)
    }

    /// The cid of a dialog, as on the wire.
    pub fn cid(&self, dialog: DialogId) -> Option<&str> {
        self.dialogs.get(&dialog).map(|d| d.cid.as_str())
    }

    pub(super) fn dialog_mut(&mut self, dialog: DialogId) -> Result<&mut Dialog, UsageError> {
        self.dialogs
            .get_mut(&dialog)
            .ok_or(UsageError::UnknownDialog(dialog))
    }

    /// Everything a dialog receives after its `Start`, from an open
    /// channel; `route` is the dialog its peer and cid lead to, if any.
    pub(super) fn on_dialog_msg(
        &mut self,
        now: Instant,
        channel: ChannelId,
        route: Option<DialogId>,
        msg: Msg,
    ) {
        let msg_type = msg.msg_type().as_str();
        let Some(cid) = msg.cid() else {
            // A cid-less `Error` is a runtime-level failure of the peer;
            // Python drops it too (spec/PROTOCOL.md §7.4).
            if let Msg::Error(e) = msg {
                let e = RemoteError::from_message(*e);
                tracing::warn!(target: "tractor::runtime", %channel, error = %e, "runtime error from peer");
            }
            return;
        };
        let Some(id) = route else {
            let cid = cid.to_owned();
            let key = (self.peer_of(channel), cid.clone());
            if self.finished.contains(&key) {
                match msg {
                    // The opener left before the function's failure came
                    // (a context dropped unread, a call given up): nobody
                    // will read it, but it is not lost. A cancellation is
                    // only the answer to leaving.
                    Msg::Error(e) if e.boxed_type_str != error::CONTEXT_CANCELLED => {
                        let e = RemoteError::from_message(*e);
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
            // The route led here by the message's cid: the dialog's is the
            // same, and a refused message leaves the dialog in place.
            let cid = self
                .dialogs
                .get(&id)
                .map(|d| d.cid.clone())
                .unwrap_or_default();
            let peer = self.peer_of(channel);
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

    /// The uid of an open channel's peer (on_msg checked it is open).
    fn peer_of(&self, channel: ChannelId) -> Uid {
        self.channels
            .get(&channel)
            .and_then(|ch| ch.peer())
            .map_or_else(|| Uid::new("", ""), crate::msg::Aid::uid)
    }

    /// Queues one input and signals it.
    pub(super) fn deliver(&mut self, id: DialogId, item: Incoming) {
        if let Some(d) = self.dialogs.get_mut(&id) {
            d.inbox.push_back(item.into());
            self.notify(id);
        }
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
                    let lost = peer_lost(d, pid, exit, channel, reason.clone());
                    self.deliver_final(id, lost)
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
                self.routes.remove(&key.0, &key.1);
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
            let lost = peer_lost(d, pid, exit, channel, reason);
            self.deliver(id, lost);
        }
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

    /// Forgets a dialog entirely.
    pub(super) fn remove_dialog(&mut self, id: DialogId) -> Option<Dialog> {
        let d = self.dialogs.remove(&id)?;
        if d.counted
            && let Some(ch) = self.channels.get_mut(&d.channel)
        {
            ch.callees = ch.callees.saturating_sub(1);
        }
        if self.routes.get(&d.peer, &d.cid) == Some(id) {
            self.routes.remove(&d.peer, &d.cid);
            self.tombstone((d.peer.clone(), d.cid.clone()));
        }
        self.timers.stop(Timer::CancelAck(id));
        Some(d)
    }

    /// Remembers a finished dialog's key for a while.
    pub(super) fn tombstone(&mut self, key: (Uid, String)) {
        if self.finished.len() == TOMBSTONES {
            self.finished.pop_front();
        }
        self.finished.push_back(key);
    }
}

/// What a dialog gets when its peer is gone: `PeerLost`, with how its
/// process ended if that is known (`pid`, `exit`) and how the channel
/// closed.
fn peer_lost(
    d: &Dialog,
    pid: Option<u32>,
    exit: Option<super::ExitStatus>,
    channel: ChannelId,
    reason: CloseReason,
) -> Incoming {
    Incoming::Error(DialogError::PeerLost {
        peer: d.peer.clone(),
        pid,
        exit,
        channel,
        reason,
    })
}
