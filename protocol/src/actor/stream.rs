//! Streams both ways and their flow control (spec/PROTOCOL.md §5.3–§5.5).
//! This file decides when a stream may be opened, sent on and closed, when
//! an item may go out (credits, backpressure) and when it is refused, how
//! many credits are granted back, and what happens to an item that arrives
//! with the buffer full (overrun) or after this side closed its stream.

use bytes::{Buf, Bytes};

use crate::msg::{self, FuncType, Msg};
use crate::raw::Raw;

use super::dialog::{ContextOptions, Incoming, Kind, LocalStream, OpenerPhase, Phase};
use super::error;
use super::{Actor, ChannelId, DialogId, Event, Role, UsageError};

impl Actor {
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
    pub(super) fn replenish(&mut self, id: DialogId) {
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

    /// Opens this side's stream of a context (Python's `open_stream`):
    /// from now on [`Actor::send`] may send items. The callee must have
    /// sent `Started`, the opener received it.
    pub fn open_stream(&mut self, dialog: DialogId) -> Result<(), UsageError> {
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
    pub fn send(&mut self, dialog: DialogId, item: Raw) -> Result<(), UsageError> {
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
            self.dialog_mut(dialog)?.send_refused = true;
            return Err(UsageError::NoCredit(dialog));
        }
        let d = self.dialog_mut(dialog)?;
        match d.credit_out.as_mut() {
            // The function has ended (returned, failed, or its actor is
            // gone): no credit will come, so waiting for one would hang.
            Some(0) if d.phase == Phase::Opener(OpenerPhase::Done) => {
                return Err(UsageError::Ended(dialog));
            }
            Some(0) => {
                d.send_refused = true;
                return Err(UsageError::NoCredit(dialog));
            }
            Some(n) => *n -= 1,
            None => {}
        }
        d.items_sent += 1;
        let channel = d.channel;
        self.counters.items_sent += 1;
        if tracing::enabled!(target: "tractor::transport", tracing::Level::TRACE) {
            // The general way, which logs the message.
            let cid = self.dialog_mut(dialog)?.cid.clone();
            self.send_msg(channel, &Msg::Yield(msg::Yield { cid, pld: item }));
            return Ok(());
        }
        // The same frame, without making the message.
        let d = self
            .dialogs
            .get(&dialog)
            .ok_or(UsageError::UnknownDialog(dialog))?;
        if let Some(ch) = self.channels.get_mut(&channel) {
            ch.write_yield(&d.cid, &item);
            self.queue_transmit(channel);
            let _ = self.update_flow(channel);
        }
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
    pub fn close_stream(&mut self, dialog: DialogId) -> Result<(), UsageError> {
        self.dialog_mut(dialog)?;
        self.end_local_stream(dialog);
        Ok(())
    }

    /// The peer granted room for `n` more items.
    pub(super) fn on_credit(&mut self, id: DialogId, n: u32) {
        let Some(d) = self.dialogs.get_mut(&id) else {
            return;
        };
        let Some(credit) = d.credit_out.as_mut() else {
            // We never asked this peer for credits; nothing to do.
            return;
        };
        *credit = credit.saturating_add(n);
        self.wake_refused_sender(id);
    }

    /// Emits [`Event::Writable`] for a dialog whose [`Actor::send`] was
    /// refused, once a send can succeed again: it has credit (or the peer
    /// uses none) and its channel's output queue is not over the bound.
    /// Once per refusal: the flag is cleared with the event. A dialog that
    /// ended meanwhile (forgotten, its outcome taken, or its stream closed)
    /// is owed nothing. A dialog still blocked by its channel's queue waits
    /// for reading to resume.
    pub(super) fn wake_refused_sender(&mut self, id: DialogId) {
        let Some(d) = self.dialogs.get_mut(&id) else {
            return;
        };
        if !d.send_refused {
            return;
        }
        if d.outcome_taken || d.local_stream == LocalStream::Closed || !d.is_app() {
            d.send_refused = false;
            return;
        }
        if d.credit_out == Some(0) {
            // The peer's grant will call again.
            return;
        }
        if let Some(ch) = self.channels.get_mut(&d.channel)
            && ch.paused
        {
            // `ResumeReading` will call again.
            if !ch.blocked_senders.contains(&id) {
                ch.blocked_senders.push(id);
            }
            return;
        }
        d.send_refused = false;
        self.events.push_back(Event::Writable { dialog: id });
    }

    /// The common case of a stream item, taken without making the message:
    /// a `Yield` of the canonical shape, on an open channel, for a dialog
    /// that takes items as they come. Gives the body back if it was not
    /// taken; anything else (and every message while message tracing is
    /// on, which logs each one) goes the general way, which ends the same
    /// for this case.
    pub(super) fn take_yield(&mut self, channel: ChannelId, body: Bytes) -> Result<(), Bytes> {
        if tracing::enabled!(target: "tractor::transport", tracing::Level::TRACE) {
            return Err(body);
        }
        let Some((id, start)) = self.yield_route(channel, &body) else {
            return Err(body);
        };
        let mut item = body;
        item.advance(start);
        self.deliver_yield(id, Raw::from_checked(item));
        Ok(())
    }

    /// The dialog that takes `body` as a stream item as it comes, and where
    /// the item starts, if it is a canonical `Yield` for one; the channel's
    /// count of bad messages is then reset, as for any message that fits.
    fn yield_route(&mut self, channel: ChannelId, body: &[u8]) -> Option<(DialogId, usize)> {
        let (cid, start) = crate::codec::yield_parts(body)?;
        if self.parent == Some(channel) && self.awaiting_spawn_spec {
            return None;
        }
        let ch = self.channels.get_mut(&channel)?;
        let super::channel::ChannelState::Open { peer, .. } = &ch.state else {
            return None;
        };
        let id = self.routes.find(&peer.name, &peer.uuid, cid)?;
        if !self.dialogs.get(&id)?.takes_yield() {
            return None;
        }
        ch.bad_messages = 0;
        Some((id, start))
    }

    /// Queues a stream item, enforcing the buffer (§5.5).
    pub(super) fn deliver_yield(&mut self, id: DialogId, item: Raw) {
        let Some(d) = self.dialogs.get_mut(&id) else {
            return;
        };
        d.items_received += 1;
        self.counters.items_received += 1;
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
                    .filter(|i| matches!(i, super::dialog::Queued::Yield(_)))
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
                && let Some(oldest) = d
                    .inbox
                    .iter()
                    .position(|i| matches!(i, super::dialog::Queued::Yield(_)))
            {
                d.inbox.remove(oldest);
            }
            self.deliver(id, Incoming::Yield(item));
        } else {
            // Tell the sender and drop the item; our side goes on.
            let err = error::overrun(&self.uid, &d.peer, &d.cid, capacity);
            let channel = d.channel;
            self.send_msg(channel, &Msg::from(err));
        }
    }
}
