//! The registrar: which actor listens where (spec/PROTOCOL.md §9).
//!
//! An actor configured as registrar answers these `ns="self"` requests,
//! each with `StartAck(asyncfunc)` then `Return`:
//!
//! | request | kwargs | returns |
//! |---|---|---|
//! | `register_actor` | `uid`, `addr` | nil; the address joins the uid's list and leaves any other uid's; waiters for the name wake |
//! | `unregister_actor` | `uid` | nil |
//! | `find_actor` | `name` | the addresses of the first uid whose name *or uuid* equals `name` (as Python matches), or nil |
//! | `wait_for_actor` | `name` | all addresses of uids with exactly that name; held until one registers |
//! | `get_registry` | — | map `"name.uuid"` → addresses |
//! | `delete_addr` | `addr` | the uid that held it, or nil; a uid left with no address is dropped |
//!
//! Python also checks that a registered address is loopback or private;
//! we register what we are told, so that tests and containers with other
//! address plans work, and leave policing addresses to the listener.

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::addr::Address;
use crate::msg::{self, FuncType, Msg, StartAck};
use crate::raw::Raw;
use crate::uid::Uid;

use super::error::LocalError;
use super::{Actor, ChannelId, Event};

/// How many uids dropped with their registration's connection a registrar
/// remembers, to expect their `unregister_actor`.
const RECENTLY_UNLINKED: usize = 64;

/// The registrar's table, in registration order.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    entries: Vec<(Uid, Vec<Address>)>,
    /// Entries that live as long as a channel: a Rust actor registers
    /// itself over a connection it keeps open while it lives
    /// (registration.rs), so that connection's end, however it comes,
    /// means the actor is gone or registers again.
    links: Vec<(Uid, ChannelId)>,
    /// The last uids dropped with their channel (at most
    /// `RECENTLY_UNLINKED`): their own `unregister_actor`, which comes
    /// after the close, is expected to find nothing.
    unlinked: std::collections::VecDeque<Uid>,
    /// `wait_for_actor` requests not answered yet: channel, cid, name.
    waiters: Vec<(ChannelId, String, String)>,
}

impl Registry {
    pub(crate) fn register(&mut self, uid: Uid, addr: Address) {
        for (other, addrs) in &mut self.entries {
            if *other != uid {
                addrs.retain(|a| *a != addr);
            }
        }
        self.entries
            .retain(|(u, addrs)| *u == uid || !addrs.is_empty());
        self.prune_links();
        match self.entries.iter_mut().find(|(u, _)| *u == uid) {
            Some((_, addrs)) => {
                if !addrs.contains(&addr) {
                    addrs.push(addr);
                }
            }
            None => self.entries.push((uid, vec![addr])),
        }
    }

    fn unregister(&mut self, uid: &Uid) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(u, _)| u != uid);
        self.prune_links();
        self.entries.len() != before
    }

    /// Ties `uid`'s entry to `channel`: when the channel closes, the entry
    /// goes.
    fn link(&mut self, uid: &Uid, channel: ChannelId) {
        if !self.links.iter().any(|(u, c)| u == uid && *c == channel) {
            self.links.push((uid.clone(), channel));
        }
    }

    /// `channel` closed: drops the entries tied to it; returns their uids.
    pub(crate) fn drop_linked(&mut self, channel: ChannelId) -> Vec<Uid> {
        let mut gone = Vec::new();
        self.links.retain(|(u, c)| {
            if *c == channel {
                gone.push(u.clone());
            }
            *c != channel
        });
        // Registered again over another channel: that one holds it now.
        gone.retain(|u| !self.links.iter().any(|(l, _)| l == u));
        self.entries.retain(|(u, _)| !gone.contains(u));
        for uid in &gone {
            if self.unlinked.len() >= RECENTLY_UNLINKED {
                self.unlinked.pop_front();
            }
            self.unlinked.push_back(uid.clone());
        }
        gone
    }

    /// Whether `uid` was dropped with its channel, which it is told once.
    fn was_unlinked(&mut self, uid: &Uid) -> bool {
        let at = self.unlinked.iter().position(|u| u == uid);
        at.and_then(|i| self.unlinked.remove(i)).is_some()
    }

    /// Forgets the links of uids that have no entry any more.
    fn prune_links(&mut self) {
        let entries = &self.entries;
        self.links
            .retain(|(l, _)| entries.iter().any(|(u, _)| u == l));
    }

    fn find(&self, name: &str) -> Option<&[Address]> {
        self.entries
            .iter()
            .find(|(u, _)| u.name == name || u.uuid == name)
            .map(|(_, a)| a.as_slice())
    }

    fn all_named(&self, name: &str) -> Vec<Address> {
        self.entries
            .iter()
            .filter(|(u, _)| u.name == name)
            .flat_map(|(_, a)| a.iter().cloned())
            .collect()
    }

    /// The uid `addr` is registered for.
    fn holder(&self, addr: &Address) -> Option<&Uid> {
        self.entries
            .iter()
            .find(|(_, a)| a.contains(addr))
            .map(|(u, _)| u)
    }

    fn delete_addr(&mut self, addr: &Address) -> Option<Uid> {
        let (uid, addrs) = self.entries.iter_mut().find(|(_, a)| a.contains(addr))?;
        addrs.retain(|a| a != addr);
        let uid = uid.clone();
        self.entries.retain(|(_, a)| !a.is_empty());
        self.prune_links();
        Some(uid)
    }

    /// The table, for inspection.
    pub(crate) fn entries(&self) -> &[(Uid, Vec<Address>)] {
        &self.entries
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Forgets the waiters of a closed channel.
    pub(crate) fn drop_waiters(&mut self, channel: ChannelId) {
        self.waiters.retain(|(c, _, _)| *c != channel);
    }
}

impl Actor {
    /// Why `peer` may not make this change to the registry, or `None` if
    /// it may (spec/PROTOCOL.md §3.5): an actor registers and unregisters
    /// only itself, unless it proved the tree's secret (a parent, say,
    /// removing a child it reaped). The registrar cannot tell a registered
    /// actor's parent otherwise: the wire does not name it. Requests whose
    /// arguments do not decode are answered as before, with a `TypeError`.
    /// `delete_addr`, which Python's finders use to drop an address that no
    /// longer answers, is open to all but for an address whose holder shows
    /// it lives: it is this actor, or it keeps a connection to it open (as
    /// every Rust actor does with its registrar); only the holder itself or
    /// an authenticated peer may drop that one.
    fn registration_refusal(
        &self,
        channel: ChannelId,
        peer: &Uid,
        start: &msg::Start,
    ) -> Option<String> {
        #[derive(Deserialize)]
        struct ByUid {
            uid: Uid,
        }
        #[derive(Deserialize)]
        struct ByAddr {
            addr: Address,
        }
        if self.peer_authenticated(channel) {
            return None;
        }
        if start.func == "delete_addr" {
            let addr = start.decode_kwargs::<ByAddr>().ok()?.addr;
            let holder = self.registry.holder(&addr)?;
            if holder == peer {
                return None;
            }
            let lives = *holder == self.uid
                || self.channels.values().any(|ch| {
                    ch.peer()
                        .is_some_and(|p| p.name == holder.name && p.uuid == holder.uuid)
                });
            return lives.then(|| {
                format!(
                    "{peer} may not drop {addr}: {holder} holds it and is connected to this registrar; only an address whose holder is gone may be dropped, by others than the holder"
                )
            });
        }
        if !matches!(start.func.as_str(), "register_actor" | "unregister_actor") {
            return None;
        }
        let target = start.decode_kwargs::<ByUid>().ok()?.uid;
        (target != *peer).then(|| {
            format!(
                "{peer} may not change the registration of {target}: only that actor may, or one that proved the tree's secret"
            )
        })
    }
}

/// `get_registry`'s answer: `"name.uuid"` → addresses, in order.
struct Table<'a>(&'a [(Uid, Vec<Address>)]);

impl Serialize for Table<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (uid, addrs) in self.0 {
            map.serialize_entry(&format!("{}.{}", uid.name, uid.uuid), addrs)?;
        }
        map.end()
    }
}

/// The registrar requests this core serves.
pub(crate) const METHODS: [&str; 6] = [
    "register_actor",
    "unregister_actor",
    "find_actor",
    "wait_for_actor",
    "get_registry",
    "delete_addr",
];

#[derive(Deserialize)]
struct Register {
    uid: Uid,
    addr: Address,
}

#[derive(Deserialize)]
struct ByUid {
    uid: Uid,
}

#[derive(Deserialize)]
struct ByName {
    name: String,
}

#[derive(Deserialize)]
struct ByAddr {
    addr: Address,
}

/// A registrar method's keyword arguments.
struct Kwargs<'a> {
    kwargs: &'a Raw,
    /// The `Start` they came in, if a peer sent them.
    cid: Option<&'a str>,
}

impl Kwargs<'_> {
    fn get<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        self.kwargs
            .decode_in(self.cid.map(|_| msg::MsgType::Start), self.cid, "kwargs")
            .map_err(|e| e.to_string())
    }
}

/// A registrar method's answer.
pub(super) enum Reply {
    /// The answer.
    Now(Raw),
    /// `wait_for_actor` of this name, which nobody registered yet.
    NotYet(String),
}

impl Actor {
    /// Serves one registrar request; `start.func` is one of [`METHODS`].
    pub(super) fn on_registrar_request(
        &mut self,
        channel: ChannelId,
        peer: Uid,
        start: msg::Start,
    ) {
        let cid = start.cid.clone();
        if let Some(why) = self.registration_refusal(channel, &peer, &start) {
            self.refuse_request(channel, &start, why);
            return;
        }
        // One of ours registering itself keeps this connection open while
        // it lives (registration.rs): its entry lives as long as the
        // connection, so a process that died unannounced is not found.
        let linked = start.func == "register_actor"
            && self
                .peer(channel)
                .is_some_and(|aid| aid.credit_flow.is_some())
            && start.decode_kwargs::<ByUid>().is_ok_and(|k| k.uid == peer);
        let reply = self
            .registrar_reply(&start.func, &start.kwargs, Some(&start.cid))
            .map(|reply| match reply {
                Reply::Now(pld) => Some(pld),
                Reply::NotYet(name) => {
                    self.registry.waiters.push((channel, cid.clone(), name));
                    None
                }
            });
        match reply {
            Err(err) => {
                // Bad arguments: the call fails before it runs, no StartAck.
                self.send_error(channel, &err.into(), Some(&cid));
            }
            Ok(reply) => {
                if linked {
                    self.registry.link(&peer, channel);
                }
                self.send_msg(
                    channel,
                    &Msg::StartAck(StartAck {
                        cid: cid.clone(),
                        functype: FuncType::AsyncFunc,
                    }),
                );
                if let Some(pld) = reply {
                    self.send_msg(channel, &Msg::Return(msg::Return { cid, pld }));
                }
            }
        }
    }

    /// Carries out the registrar method `func` with the keyword arguments
    /// `kwargs` (of the `Start` with this `cid`, or of a call this actor
    /// makes to itself), for a peer or for this actor: its answer, or the
    /// `TypeError` of arguments that do not fit (or of a `func` that is not
    /// one of [`METHODS`]).
    pub(super) fn registrar_reply(
        &mut self,
        func: &str,
        kwargs: &Raw,
        cid: Option<&str>,
    ) -> Result<Reply, LocalError> {
        let args = Kwargs { kwargs, cid };
        let reply: Result<Reply, String> = match func {
            "register_actor" => args.get::<Register>().map(|k| {
                let name = k.uid.name.clone();
                tracing::info!(target: "tractor::runtime", uid = %k.uid, addr = %k.addr, "registered");
                self.registry.register(k.uid, k.addr);
                self.events.push_back(Event::RegistryChanged);
                self.wake_waiters(&name);
                Reply::Now(Raw::NIL)
            }),
            "unregister_actor" => args.get::<ByUid>().map(|k| {
                if self.registry.unregister(&k.uid) {
                    self.events.push_back(Event::RegistryChanged);
                    tracing::debug!(target: "tractor::runtime", uid = %k.uid, "unregistered");
                } else if self.registry.was_unlinked(&k.uid) {
                    tracing::debug!(target: "tractor::runtime", uid = %k.uid, "unregistered already, with its registration's connection");
                } else {
                    tracing::warn!(target: "tractor::runtime", uid = %k.uid, "unregister of an actor that was not registered");
                }
                Reply::Now(Raw::NIL)
            }),
            "find_actor" => args
                .get::<ByName>()
                .map(|k| Reply::Now(encode(&self.registry.find(&k.name)))),
            "wait_for_actor" => args.get::<ByName>().map(|k| {
                let found = self.registry.all_named(&k.name);
                if found.is_empty() {
                    Reply::NotYet(k.name)
                } else {
                    Reply::Now(encode(&found))
                }
            }),
            "get_registry" => Ok(Reply::Now(encode(&Table(self.registry.entries())))),
            "delete_addr" => args.get::<ByAddr>().map(|k| {
                let deleted = self.registry.delete_addr(&k.addr);
                if deleted.is_some() {
                    self.events.push_back(Event::RegistryChanged);
                }
                Reply::Now(encode(&deleted))
            }),
            _ => Err("not a registrar method".to_owned()),
        };
        reply.map_err(|why| LocalError::new("TypeError", format!("self.{func}: {why}")))
    }

    fn wake_waiters(&mut self, name: &str) {
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.registry.waiters)
            .into_iter()
            .partition(|(_, _, n)| n == name);
        self.registry.waiters = waiting;
        if ready.is_empty() {
            return;
        }
        let pld = encode(&self.registry.all_named(name));
        for (channel, cid, _) in ready {
            self.send_msg(
                channel,
                &Msg::Return(msg::Return {
                    cid,
                    pld: pld.clone(),
                }),
            );
        }
    }

    /// The registrar's table: every registered actor and its addresses, in
    /// registration order. Empty unless this actor is a registrar.
    pub fn registry(&self) -> &[(Uid, Vec<Address>)] {
        self.registry.entries()
    }

    /// Records this actor's own listening addresses. A registrar lists
    /// itself under them, without any message (Python's `LocalPortal`).
    pub fn set_accept_addrs(&mut self, addrs: Vec<Address>) {
        if self.config.is_registrar {
            for addr in &addrs {
                self.registry.register(self.uid.clone(), addr.clone());
            }
            let name = self.uid.name.clone();
            self.wake_waiters(&name);
        }
        self.accept_addrs = addrs;
    }

    /// This actor's listening addresses, as set by the driver.
    pub fn accept_addrs(&self) -> &[Address] {
        &self.accept_addrs
    }
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Raw {
    // Addresses, uids and strings always encode.
    Raw::encode(value).expect("registrar replies encode")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(n: &str, u: &str) -> Uid {
        Uid::new(n, u)
    }

    #[test]
    fn an_address_belongs_to_one_uid() {
        let mut r = Registry::default();
        let a = Address::tcp("127.0.0.1", 1);
        r.register(uid("x", "1"), a.clone());
        r.register(uid("x", "1"), a.clone());
        assert_eq!(r.entries(), [(uid("x", "1"), vec![a.clone()])]);
        // Another uid takes the address over; the first is left with none
        // and dropped.
        r.register(uid("y", "2"), a.clone());
        assert_eq!(r.entries(), [(uid("y", "2"), vec![a.clone()])]);
        assert_eq!(r.find("2"), Some(&[a.clone()][..]), "a uuid matches too");
        assert_eq!(r.delete_addr(&a), Some(uid("y", "2")));
        assert!(r.entries().is_empty());
        assert_eq!(r.delete_addr(&a), None);
    }
}
