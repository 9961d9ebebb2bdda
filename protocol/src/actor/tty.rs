//! The tree-wide terminal lock of the debugger (spec/PROTOCOL.md §10).
//!
//! The root serves it: requests (the context
//! `tractor.devx.debug._tty_lock:lock_stdio_for_peer`) and the root's own
//! REPLs queue in one FIFO. The holder gets `Started(LockStatus{locked:
//! true})`; its `Yield(LockRelease)` gets `Stop` then
//! `Return(LockStatus{locked: false})`, and the next in line is served. A
//! holder whose channel goes away releases the lock at once, and a peer left
//! with no channel at all is refused further requests (Python's
//! `Lock._blocked`).
//!
//! ```text
//!  Start --> StartAck(context) --> queued --(head of FIFO)--> holding --LockRelease--> Stop, Return
//!                   |                 |                          |
//!   duplicate cid: Error(RuntimeError)|  _cancel_task, channel   |  _cancel_task, channel
//!   blocked peer: Error(DebugRequestError)  loss: dequeued        |  loss: released
//! ```
//!
//! The requester side is an ordinary context: [`Actor::request_tty_lock`]
//! opens it and [`Actor::release_tty_lock`] sends the release.

use std::collections::{HashSet, VecDeque};

use serde::Serialize;

use crate::msg::{self, FuncType, Msg, StartAck};
use crate::raw::Raw;
use crate::tty_lock::{LockRelease, LockStatus, TTY_LOCK_FUNC, TTY_LOCK_NS};
use crate::uid::Uid;

use super::dialog::{CalleePhase, ContextOptions, Dialog, Kind, LocalStream, Phase};
use super::error::{self, LocalError};
use super::{Actor, ChannelId, DialogId, Event, TtyTicket, UsageError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// A peer's lock context.
    Remote(DialogId),
    /// One of our own REPLs.
    Local(TtyTicket),
}

/// Who holds the terminal and who waits.
#[derive(Debug, Default)]
pub(crate) struct TtyLock {
    holder: Option<Claim>,
    queue: VecDeque<Claim>,
    blocked: HashSet<Uid>,
}

impl TtyLock {
    pub(crate) fn is_idle(&self) -> bool {
        self.holder.is_none() && self.queue.is_empty()
    }
}

impl Actor {
    /// A peer asks for the terminal.
    pub(super) fn on_tty_lock_request(&mut self, channel: ChannelId, peer: Uid, start: msg::Start) {
        if self.routes.contains(&peer, &start.cid) {
            let err = LocalError::new(
                "RuntimeError",
                format!("lock request {} is already active", start.cid),
            );
            self.send_error(channel, &err.into(), Some(&start.cid));
            return;
        }
        self.send_msg(
            channel,
            &Msg::StartAck(StartAck {
                cid: start.cid.clone(),
                functype: FuncType::Context,
            }),
        );
        if self.tty.blocked.contains(&peer) {
            let err = LocalError::new(
                "DebugRequestError",
                format!(
                    "{peer} lost its connections while in the debugger and may not lock the terminal again"
                ),
            );
            self.send_error(channel, &err.into(), Some(&start.cid));
            return;
        }
        let id = self.add_dialog(Dialog::new(
            start.cid,
            peer,
            channel,
            Kind::TtyLock,
            Phase::Callee(CalleePhase::Running),
        ));
        // The requester streams its release to us: give it room.
        self.start_credits(id, true, false);
        self.tty.queue.push_back(Claim::Remote(id));
        self.grant_tty();
    }

    /// Serves the head of the queue if the terminal is free.
    fn grant_tty(&mut self) {
        while self.tty.holder.is_none() {
            let Some(next) = self.tty.queue.pop_front() else {
                return;
            };
            match next {
                Claim::Local(ticket) => {
                    self.tty.holder = Some(next);
                    self.events.push_back(Event::TtyLockAcquired { ticket });
                }
                Claim::Remote(id) => {
                    let Some(d) = self.dialogs.get_mut(&id) else {
                        continue;
                    };
                    d.started = true;
                    d.local_stream = LocalStream::Open;
                    let status = LockStatus {
                        subactor_uid: d.peer.clone(),
                        cid: d.cid.clone(),
                        locked: true,
                    };
                    let (channel, cid) = (d.channel, d.cid.clone());
                    self.tty.holder = Some(next);
                    self.send_msg(
                        channel,
                        &Msg::Started(msg::Started {
                            cid,
                            pld: encode(&status),
                        }),
                    );
                }
            }
        }
    }

    /// A message on a lock context we serve.
    pub(super) fn tty_lock_msg(&mut self, id: DialogId, msg: Msg) -> Result<(), &'static str> {
        let holding = self.tty.holder == Some(Claim::Remote(id));
        match msg {
            Msg::Yield(y) if holding => {
                if y.decode_pld::<LockRelease>().is_err() {
                    return Err("holding the terminal (expected LockRelease)");
                }
                self.release_remote_tty(id, true);
                Ok(())
            }
            // The requester left its stream without releasing: that ends
            // its hold too.
            Msg::Stop(_) if holding => {
                self.release_remote_tty(id, true);
                Ok(())
            }
            Msg::Error(_) | Msg::Stop(_) => {
                self.drop_tty_claim(id, None);
                Ok(())
            }
            _ => Err("serving the terminal lock"),
        }
    }

    /// Ends a granted lock context normally: `Stop`, then the unlocked
    /// status as result.
    fn release_remote_tty(&mut self, id: DialogId, reply: bool) {
        let Some(d) = self.remove_dialog(id) else {
            return;
        };
        self.tty.holder = None;
        if reply {
            let status = LockStatus {
                subactor_uid: d.peer.clone(),
                cid: d.cid.clone(),
                locked: false,
            };
            self.send_msg(d.channel, &Msg::Stop(msg::Stop { cid: d.cid.clone() }));
            self.send_msg(
                d.channel,
                &Msg::Return(msg::Return {
                    cid: d.cid,
                    pld: encode(&status),
                }),
            );
        }
        self.grant_tty();
    }

    /// Withdraws a peer's claim, held or queued; `canceller` answers it with
    /// a `ContextCancelled` (a `_cancel_task`), `None` sends nothing.
    pub(super) fn drop_tty_claim(&mut self, id: DialogId, canceller: Option<&Uid>) {
        let claim = Claim::Remote(id);
        self.tty.queue.retain(|c| *c != claim);
        if self.tty.holder == Some(claim) {
            self.tty.holder = None;
        }
        if let Some(d) = self.remove_dialog(id)
            && let Some(canceller) = canceller
        {
            let err = error::cancelled(&self.uid, canceller, Some(&d.cid));
            self.send_msg(d.channel, &Msg::from(err));
        }
        self.grant_tty();
    }

    /// A lock context's channel closed: its claim goes, and a peer with no
    /// channel left may not ask again.
    pub(super) fn tty_claim_lost(&mut self, id: DialogId) {
        let Some(peer) = self.dialogs.get(&id).map(|d| d.peer.clone()) else {
            return;
        };
        self.drop_tty_claim(id, None);
        let connected = self.channels.values().any(|c| {
            c.peer()
                .is_some_and(|p| p.name == peer.name && p.uuid == peer.uuid)
        });
        if !connected {
            self.tty.blocked.insert(peer);
        }
    }

    /// Queues one of our own REPLs for the terminal. [`Event::TtyLockAcquired`]
    /// with the ticket says when it is ours (possibly at once).
    pub fn acquire_tty_lock(&mut self) -> TtyTicket {
        let ticket = TtyTicket(self.next_id());
        self.tty.queue.push_back(Claim::Local(ticket));
        self.grant_tty();
        ticket
    }

    /// Gives back (or stops waiting for) the terminal.
    pub fn release_tty_lock_local(&mut self, ticket: TtyTicket) {
        let claim = Claim::Local(ticket);
        self.tty.queue.retain(|c| *c != claim);
        if self.tty.holder == Some(claim) {
            self.tty.holder = None;
            self.grant_tty();
        }
    }

    /// Who holds the terminal: `None` if it is free, this actor's uid for
    /// one of its own REPLs.
    pub fn tty_lock_holder(&self) -> Option<Uid> {
        match self.tty.holder? {
            Claim::Local(_) => Some(self.uid.clone()),
            Claim::Remote(id) => self.dialogs.get(&id).map(|d| d.peer.clone()),
        }
    }

    /// Asks the root (the peer of `channel`) for the terminal on behalf of
    /// the task `task` (any `(name, id)` unique per requesting task). The
    /// lock is ours when [`Actor::recv`] gives `Started` with a
    /// [`LockStatus`] whose `locked` is true; then call
    /// [`Actor::release_tty_lock`], wait for the outcome and leave.
    pub fn request_tty_lock(
        &mut self,
        channel: ChannelId,
        task: (&str, i64),
    ) -> Result<DialogId, UsageError> {
        #[derive(Serialize)]
        struct Args<'a> {
            subactor_task_uid: (&'a str, i64),
        }
        let kwargs = Raw::encode(&Args {
            subactor_task_uid: task,
        })
        .expect("lock arguments encode");
        self.open_context(
            channel,
            TTY_LOCK_NS,
            TTY_LOCK_FUNC,
            kwargs,
            ContextOptions::default(),
        )
    }

    /// Gives the terminal back: sends `Yield(LockRelease)` on the lock
    /// context and closes our stream, as Python's requester does.
    pub fn release_tty_lock(&mut self, dialog: DialogId) -> Result<(), UsageError> {
        let cid = self.dialog_mut(dialog)?.cid.clone();
        let release = LockRelease {
            subactor_uid: self.uid.clone(),
            cid,
        };
        self.open_stream(dialog)?;
        self.send(dialog, encode(&release))?;
        self.close_stream(dialog)
    }
}

fn encode<T: Serialize>(v: &T) -> Raw {
    Raw::encode(v).expect("lock payloads encode")
}
