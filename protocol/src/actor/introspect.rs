//! `self.introspect` and `self.dump_tasks`: who may ask, the
//! [`Snapshot`] the core answers, and the task dumps it hands out (see
//! [`crate::introspect`]).

use std::time::Instant;

use super::{Actor, ChannelId, Event, Role};
use crate::LocalError;
use crate::introspect::{
    ChildSnapshot, DUMP_TASKS_METHOD, DialogSnapshot, MAX_DUMP_LEN, MAX_DUMPS_ASKED, ProcessStats,
    SNAPSHOT_VERSION, Snapshot,
};
use crate::msg::{self, FuncType, Msg, StartAck};
use crate::raw::Raw;
use crate::uid::Uid;

impl Actor {
    /// A peer's `self.introspect`: [`Event::IntrospectRequested`], for
    /// the driver to answer with [`Actor::answer_introspect`]. Its
    /// `self.dump_tasks`: [`Event::TaskDumpRequested`] unless a dump is
    /// already in the making, which answers this call too (at most
    /// [`MAX_DUMPS_ASKED`] calls wait, one per channel; more are refused
    /// with a `RuntimeError`).
    ///
    /// In a tree with a secret, only a peer that may control this actor
    /// asks (its parent, a child, a peer that proved the secret: the rule
    /// of `self.cancel`); others are refused. In a tree without one, any
    /// peer may: such a tree serves every function it exposes to anyone
    /// who connects, and a read-only picture of it is no more.
    pub(super) fn on_introspect_request(
        &mut self,
        channel: ChannelId,
        peer: Uid,
        start: msg::Start,
    ) {
        if self.config.auth.secret.is_some()
            && let Some(why) = self.control_refusal(channel, &peer)
        {
            self.refuse_request(channel, &start, why);
            return;
        }
        if start.func != DUMP_TASKS_METHOD {
            self.events.push_back(Event::IntrospectRequested {
                channel,
                peer,
                cid: start.cid,
            });
            return;
        }
        let busy = if self.dumps_asked.iter().any(|(c, _)| *c == channel) {
            Some("a task-tree dump is already coming on this channel: ask again later".to_owned())
        } else if self.dumps_asked.len() >= MAX_DUMPS_ASKED {
            Some(format!(
                "{MAX_DUMPS_ASKED} task-tree dumps are asked for already: ask again later"
            ))
        } else {
            None
        };
        if let Some(why) = busy {
            let err = LocalError::new("RuntimeError", why);
            self.send_error(channel, &err.into(), Some(&start.cid));
            return;
        }
        self.dumps_asked.push((channel, start.cid));
        if self.dumps_asked.len() == 1 {
            self.events.push_back(Event::TaskDumpRequested);
        }
    }

    /// Answers every `self.dump_tasks` call waiting (see
    /// [`Event::TaskDumpRequested`]) with `dump`, the actor's task tree as
    /// text, cut to [`MAX_DUMP_LEN`]; calls whose channel has closed
    /// meanwhile are forgotten.
    pub fn answer_task_dumps(&mut self, dump: &str) {
        let mut text = std::borrow::Cow::Borrowed(dump);
        if dump.len() > MAX_DUMP_LEN {
            let mut end = MAX_DUMP_LEN;
            while !dump.is_char_boundary(end) {
                end -= 1;
            }
            text = format!(
                "{}\n(cut: {} more bytes of the dump left out)\n",
                &dump[..end],
                dump.len() - end
            )
            .into();
        }
        // Encoded once, however many wait.
        let pld = Raw::encode(&text);
        for (channel, cid) in std::mem::take(&mut self.dumps_asked) {
            self.answer_encoded(channel, cid, pld.clone());
        }
    }

    /// A runtime call's answer: its `StartAck`, then `value` returned.
    fn answer(&mut self, channel: ChannelId, cid: String, value: &impl serde::Serialize) {
        self.answer_encoded(channel, cid, Raw::encode(value));
    }

    /// [`answer`](Self::answer), with the value encoded already.
    fn answer_encoded(
        &mut self,
        channel: ChannelId,
        cid: String,
        pld: Result<Raw, crate::PayloadEncodeError>,
    ) {
        if self.peer(channel).is_none() {
            return;
        }
        self.send_msg(
            channel,
            &Msg::StartAck(StartAck {
                cid: cid.clone(),
                functype: FuncType::AsyncFunc,
            }),
        );
        match pld {
            Ok(pld) => self.send_msg(channel, &Msg::Return(msg::Return { cid, pld })),
            Err(e) => {
                let err = LocalError::new("RuntimeError", e.to_string());
                self.send_error(channel, &err.into(), Some(&cid));
            }
        }
    }

    /// Answers an [`Event::IntrospectRequested`]: this actor's
    /// [`Snapshot`] at `now`, with what the driver knows of its process.
    /// Nothing is sent if the channel has closed meanwhile.
    pub fn answer_introspect(
        &mut self,
        channel: ChannelId,
        cid: String,
        now: Instant,
        process: ProcessStats,
    ) {
        if self.peer(channel).is_none() {
            return;
        }
        let snapshot = self.snapshot(now, process);
        self.answer(channel, cid, &snapshot);
    }

    /// This actor as it sees itself at `now` (see [`crate::introspect`]):
    /// `process` is what its driver knows of the process.
    pub fn snapshot(&self, now: Instant, process: ProcessStats) -> Snapshot {
        let children = self
            .children_info()
            .into_iter()
            .map(|c| ChildSnapshot {
                uid: c.uid,
                pid: c.pid,
                state: c.state.to_owned(),
            })
            .collect();
        let mut dialogs: Vec<DialogSnapshot> = self
            .dialogs
            .iter()
            .filter(|(_, d)| d.is_app())
            .map(|(id, d)| {
                let info = d.info(*id);
                DialogSnapshot {
                    function: match &info.endpoint {
                        Some((ns, func)) => format!("{ns}:{func}"),
                        None => info.kind.clone(),
                    },
                    kind: info.kind,
                    peer: info.peer,
                    role: match info.role {
                        Role::Opener => "opener",
                        Role::Callee => "callee",
                    }
                    .to_owned(),
                    state: info.state.to_owned(),
                    age_ms: d
                        .opened_at
                        .map_or(0, |t| now.saturating_duration_since(t).as_millis() as u64),
                    items_sent: d.items_sent,
                    items_received: d.items_received,
                    credit_out: d.credit_out,
                    queued: u32::try_from(d.queued()).unwrap_or(u32::MAX),
                }
            })
            .collect();
        // Oldest first, as many as a listing takes.
        dialogs.sort_by_key(|d| std::cmp::Reverse(d.age_ms));
        let dialogs_total = dialogs.len() as u64;
        dialogs.truncate(crate::introspect::MAX_LISTED_DIALOGS);
        Snapshot {
            version: SNAPSHOT_VERSION,
            uid: self.uid.clone(),
            pid: self.config.pid,
            parent: self.parent.and_then(|c| self.peer(c)).map(crate::Aid::uid),
            registrar: self.config.is_registrar,
            registrars: self.runtime_vars.registry_addrs.clone(),
            cancelling: self.cancelling.is_some(),
            process,
            children,
            dialogs,
            dialogs_total,
            counters: self.counters,
        }
    }
}
