//! This actor's own registration with its registrars, kept alive
//! (spec/PROTOCOL.md §9.2).
//!
//! Python registers over a fresh connection at boot and never again: a
//! registrar that restarts has forgotten the actor for good. Here each
//! registrar gets one connection that stays open while the actor lives.
//! When it closes (the registrar died, the connection broke) or an attempt
//! fails, the actor connects again after a backoff and registers every
//! one of its addresses again, so that a registrar restarted at the same
//! address knows the whole tree again moments later.
//!
//! ```text
//!  register()                          timer (backoff)
//!     |                                  |       ^
//!     v                                  v       | connect failed, the
//! +------------+  handshake   +-------------+    | channel closed, an
//! | Connecting |------------->| Registering |----+ error answered
//! +------------+              +-------------+    |
//!                                | every address |
//!                                v acknowledged  |
//!                           +------------+       |
//!                           | Registered |-------+
//!                           +------------+
//!   unregister(): the registration's connection closes, and
//!   unregister_actor goes over a fresh one, as Python's does (over the
//!   same one while register_actor answers are still due, to keep the
//!   order); that one closes with the answer
//!  +---------------+                +---------+
//!  | Unregistering |--------------->| Stopped |
//!  +---------------+                +---------+
//! ```
//!
//! Attempts are spaced by the backoff: each begins the current delay
//! after the one before began, the delay doubling from
//! [`REGISTER_RETRY_MIN`] to [`REGISTER_RETRY_MAX`] and starting over once
//! registered. When a registration that was up drops, the first attempt
//! begins at once (the last one began long before), the next
//! [`REGISTER_RETRY_MIN`] after it. An actor that winds down (cancelled,
//! its parent lost) stops trying.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::addr::Address;
use crate::raw::Raw;
use crate::uid::Uid;

use super::channel::{ChannelOrigin, CloseReason};
use super::dialog::{ContextOptions, Incoming, Kind};
use super::timer::Timer;
use super::{Actor, ChannelId, DialogId, Event};

/// The shortest wait between two registration attempts with one registrar.
pub const REGISTER_RETRY_MIN: Duration = Duration::from_millis(50);

/// The longest wait between two registration attempts with one registrar.
pub const REGISTER_RETRY_MAX: Duration = Duration::from_secs(2);

/// Where the link with one registrar is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    /// No connection; the next attempt is at the timer.
    Waiting,
    /// Connecting or handshaking.
    Connecting(ChannelId),
    /// `register_actor` sent for each address; these answers are awaited.
    Registering {
        channel: ChannelId,
        pending: Vec<DialogId>,
    },
    /// Every address registered; the channel stays open.
    Registered(ChannelId),
    /// `unregister_actor` sent; the channel closes with its answer.
    Unregistering(ChannelId),
    /// Nothing more to do with this registrar.
    Stopped,
}

impl Link {
    fn channel(&self) -> Option<ChannelId> {
        match self {
            Link::Connecting(c) | Link::Registered(c) | Link::Unregistering(c) => Some(*c),
            Link::Registering { channel, .. } => Some(*channel),
            Link::Waiting | Link::Stopped => None,
        }
    }
}

/// This actor's registration with one registrar.
#[derive(Debug)]
pub(crate) struct Registration {
    registrar: Address,
    link: Link,
    /// When the current (or last) attempt began.
    attempt_began: Instant,
    /// The wait before the attempt after a failure.
    retry: Duration,
    /// Failed attempts in a row.
    failures: u32,
    /// Whether every address was registered at least once.
    registered_once: bool,
    /// How the first attempt went.
    first: Option<Result<(), String>>,
    /// `unregister()` was called: no more registering.
    stopping: bool,
}

/// The registrations of one actor, one per registrar.
#[derive(Debug, Default)]
pub(crate) struct Registrations(Vec<Registration>);

impl Registrations {
    fn by_channel(&self, channel: ChannelId) -> Option<usize> {
        self.0
            .iter()
            .position(|r| r.link.channel() == Some(channel))
    }

    fn by_dialog(&self, dialog: DialogId) -> Option<usize> {
        self.0.iter().position(|r| match &r.link {
            Link::Registering { pending, .. } => pending.contains(&dialog),
            _ => false,
        })
    }
}

impl Actor {
    /// Registers this actor's accept addresses (see
    /// [`Actor::set_accept_addrs`]) with every registrar of its runtime
    /// vars, each over a connection of its own that stays open, and keeps
    /// them registered: when that connection closes or an attempt fails,
    /// the actor connects again after a backoff ([`REGISTER_RETRY_MIN`]
    /// doubling to [`REGISTER_RETRY_MAX`]) and registers every address
    /// again, until [`Actor::unregister`] or the actor winds down. A
    /// registrar registers nowhere; calling this twice does nothing more.
    ///
    /// [`Event::Registered`] says when all addresses are registered with a
    /// registrar, [`Event::RegistrarLost`] when an attempt failed or the
    /// link dropped; [`Actor::first_registration`] how the first attempts
    /// went.
    pub fn register(&mut self, now: Instant) {
        if self.config.is_registrar || !self.registrations.0.is_empty() {
            return;
        }
        let mut registrars: Vec<Address> = Vec::new();
        for addr in &self.runtime_vars.registry_addrs {
            if !registrars.contains(addr) {
                registrars.push(addr.clone());
            }
        }
        for registrar in registrars {
            self.registrations.0.push(Registration {
                registrar,
                link: Link::Waiting,
                attempt_began: now,
                retry: REGISTER_RETRY_MIN,
                failures: 0,
                registered_once: false,
                first: None,
                stopping: false,
            });
        }
        for i in 0..self.registrations.0.len() {
            self.connect_registrar(now, i);
        }
    }

    /// How the first attempt to register with each registrar went: `None`
    /// while one is under way, else the first failure (the registrar and
    /// why), or `Ok` when every registrar has registered this actor. Later
    /// attempts go on in either case.
    pub fn first_registration(&self) -> Option<Result<(), (Address, String)>> {
        let mut out = Ok(());
        for r in &self.registrations.0 {
            match &r.first {
                None => return None,
                Some(Err(why)) if out.is_ok() => out = Err((r.registrar.clone(), why.clone())),
                Some(_) => {}
            }
        }
        Some(out)
    }

    /// Each registrar, and whether this actor is registered with it now.
    pub fn registrations(&self) -> Vec<(Address, bool)> {
        self.registrations
            .0
            .iter()
            .map(|r| (r.registrar.clone(), matches!(r.link, Link::Registered(_))))
            .collect()
    }

    /// Stops keeping this actor registered and removes it from each
    /// registrar that registered it (`unregister_actor`, spec/PROTOCOL.md
    /// §9.2): the registration's connection closes and the request goes
    /// over a fresh one, as Python's does (over the same one if answers to
    /// `register_actor` are still due on it, so that it comes after them).
    /// Each connection closes once answered; [`Actor::unregistering`] says
    /// whether any is still at it.
    pub fn unregister(&mut self) {
        for i in 0..self.registrations.0.len() {
            let r = &mut self.registrations.0[i];
            if r.stopping {
                continue;
            }
            r.stopping = true;
            self.timers.stop(Timer::Register(i));
            match r.link.clone() {
                Link::Registering { channel, .. } => self.send_unregister(i, channel),
                Link::Registered(channel) => {
                    self.registrations.0[i].link = Link::Waiting;
                    self.close_channel(channel, CloseReason::Local);
                    self.connect_to_unregister(i);
                }
                Link::Connecting(channel) if !r.registered_once => {
                    r.link = Link::Stopped;
                    self.close_channel(channel, CloseReason::Local);
                }
                // Unregisters once connected.
                Link::Connecting(_) => {}
                Link::Waiting if r.registered_once => self.connect_to_unregister(i),
                Link::Waiting => r.link = Link::Stopped,
                Link::Unregistering(_) | Link::Stopped => {}
            }
        }
    }

    /// Opens a fresh connection to registrar `i` to unregister over.
    fn connect_to_unregister(&mut self, i: usize) {
        let registrar = self.registrations.0[i].registrar.clone();
        let channel = self.open_outbound(registrar, ChannelOrigin::Connected);
        self.registrations.0[i].link = Link::Connecting(channel);
    }

    /// Whether unregistering is still under way with some registrar (or,
    /// before [`Actor::unregister`], whether any registration is kept).
    pub fn unregistering(&self) -> bool {
        self.registrations.0.iter().any(|r| r.link != Link::Stopped)
    }

    /// Begins an attempt with registrar `i`.
    fn connect_registrar(&mut self, now: Instant, i: usize) {
        let registrar = self.registrations.0[i].registrar.clone();
        let channel = self.open_outbound(registrar, ChannelOrigin::Connected);
        let r = &mut self.registrations.0[i];
        r.attempt_began = now;
        r.link = Link::Connecting(channel);
    }

    /// The backoff of registrar `i` is over.
    pub(super) fn on_register_timer(&mut self, now: Instant, i: usize) {
        let cancelling = self.cancelling.is_some();
        let Some(r) = self.registrations.0.get_mut(i) else {
            return;
        };
        if r.link != Link::Waiting {
            return;
        }
        if r.stopping || cancelling {
            r.link = Link::Stopped;
            return;
        }
        self.connect_registrar(now, i);
    }

    /// A channel finished its handshake: if a registration waited for it,
    /// it registers (or unregisters) now.
    pub(super) fn on_registrar_open(&mut self, channel: ChannelId) {
        let Some(i) = self.registrations.by_channel(channel) else {
            return;
        };
        let r = &self.registrations.0[i];
        if r.link != Link::Connecting(channel) {
            return;
        }
        if r.stopping {
            // Only a registration that had registered connects again to
            // unregister.
            self.send_unregister(i, channel);
            return;
        }
        #[derive(Serialize)]
        struct Args<'a> {
            uid: &'a Uid,
            addr: &'a Address,
        }
        let mut pending = Vec::new();
        for addr in self.accept_addrs.clone() {
            let uid = self.uid.clone();
            let kwargs = Raw::encode(&Args {
                uid: &uid,
                addr: &addr,
            })
            .expect("a uid and an address encode");
            match self.open(
                channel,
                Kind::Register,
                "self",
                "register_actor",
                kwargs,
                ContextOptions::default(),
            ) {
                Ok(d) => pending.push(d),
                Err(e) => {
                    self.registration_failed(i, e.to_string());
                    return;
                }
            }
        }
        if pending.is_empty() {
            self.registered(i, channel);
        } else {
            self.registrations.0[i].link = Link::Registering { channel, pending };
        }
    }

    fn send_unregister(&mut self, i: usize, channel: ChannelId) {
        #[derive(Serialize)]
        struct Args<'a> {
            uid: &'a Uid,
        }
        let uid = self.uid.clone();
        let kwargs = Raw::encode(&Args { uid: &uid }).expect("a uid encodes");
        let sent = self.open(
            channel,
            Kind::Unregister,
            "self",
            "unregister_actor",
            kwargs,
            ContextOptions::default(),
        );
        if sent.is_ok() {
            self.registrations.0[i].link = Link::Unregistering(channel);
        } else {
            self.registrations.0[i].link = Link::Stopped;
            self.close_channel(channel, CloseReason::Local);
        }
    }

    /// The answer to one of our `register_actor` or `unregister_actor`
    /// requests (the dialog is gone already).
    pub(super) fn on_registration_answer(
        &mut self,
        dialog: DialogId,
        channel: ChannelId,
        kind: Kind,
        outcome: Incoming,
    ) {
        if kind == Kind::Unregister {
            if let Some(i) = self.registrations.by_channel(channel)
                && self.registrations.0[i].link == Link::Unregistering(channel)
            {
                self.registrations.0[i].link = Link::Stopped;
                if let Incoming::Error(e) = &outcome {
                    tracing::debug!(target: "tractor::runtime", registrar = %self.registrations.0[i].registrar, error = %e, "unregistering failed");
                }
                self.close_channel(channel, CloseReason::Local);
            }
            return;
        }
        let Some(i) = self.registrations.by_dialog(dialog) else {
            return;
        };
        match outcome {
            Incoming::Return(_) => {
                let Link::Registering { pending, .. } = &mut self.registrations.0[i].link else {
                    return;
                };
                pending.retain(|d| *d != dialog);
                if pending.is_empty() {
                    self.registered(i, channel);
                }
            }
            Incoming::Error(e) => self.registration_failed(i, e.to_string()),
            other => self.registration_failed(i, format!("unexpected answer {other:?}")),
        }
    }

    fn registered(&mut self, i: usize, channel: ChannelId) {
        let addrs = self.accept_addrs.clone();
        let r = &mut self.registrations.0[i];
        r.link = Link::Registered(channel);
        let again = r.registered_once;
        r.registered_once = true;
        r.retry = REGISTER_RETRY_MIN;
        r.failures = 0;
        r.first.get_or_insert(Ok(()));
        let registrar = r.registrar.clone();
        self.events.push_back(Event::Registered {
            registrar,
            addrs,
            again,
        });
    }

    /// A registration's channel closed (before its dialogs are failed).
    pub(super) fn on_registrar_channel_closed(&mut self, channel: ChannelId, reason: &CloseReason) {
        let Some(i) = self.registrations.by_channel(channel) else {
            return;
        };
        match self.registrations.0[i].link {
            Link::Unregistering(_) => self.registrations.0[i].link = Link::Stopped,
            Link::Connecting(_) if self.registrations.0[i].stopping => {
                self.registrations.0[i].link = Link::Stopped;
            }
            _ => self.registration_failed(i, reason.to_string()),
        }
    }

    /// An attempt with registrar `i` failed, or its link dropped: the next
    /// one is due a backoff after this one began (or never, winding down).
    fn registration_failed(&mut self, i: usize, why: String) {
        let stop = self.cancelling.is_some();
        let r = &mut self.registrations.0[i];
        let channel = r.link.channel();
        let was_registered = matches!(r.link, Link::Registered(_));
        if r.stopping || stop {
            r.link = Link::Stopped;
        } else {
            r.link = Link::Waiting;
        }
        r.first.get_or_insert_with(|| Err(why.clone()));
        r.failures += 1;
        let retry_at = (r.link == Link::Waiting).then(|| {
            // A link that was up (its attempt began long ago) is tried
            // again at once, then after the shortest wait.
            let at = r.attempt_began + r.retry;
            if !was_registered {
                r.retry = (r.retry * 2).min(REGISTER_RETRY_MAX);
            }
            at
        });
        let (registrar, failures) = (r.registrar.clone(), r.failures);
        if let Some(at) = retry_at {
            self.timers.set(Timer::Register(i), at);
        }
        self.events.push_back(Event::RegistrarLost {
            registrar,
            channel,
            reason: why,
            failures,
            retry_at,
        });
        // An error answer leaves the channel open: it goes, and the next
        // attempt starts afresh.
        if let Some(c) = channel
            && self.channels.contains_key(&c)
        {
            self.close_channel(c, CloseReason::Local);
        }
    }
}
