//! Which dialog a message belongs to: `(peer, cid)` to [`DialogId`].
//!
//! Every message of a dialog is looked up here, so the lookup takes the
//! message's cid as borrowed text and hashes nothing else: the table is
//! keyed by cid, and the peers sharing a cid (a peer chooses its own, so
//! two peers may pick the same) sit side by side under it. The cid comes
//! from the network, so its hash stays the keyed one of the standard
//! library, which a peer cannot flood.

use std::collections::HashMap;

use super::DialogId;
use crate::uid::Uid;

/// `(peer, cid)` to dialog.
#[derive(Debug, Default)]
pub(super) struct Routes {
    by_cid: HashMap<String, Vec<(Uid, DialogId)>>,
    len: usize,
    /// The route found last, checked first: a stream's items come in runs
    /// on one dialog, and comparing a cid costs less than hashing it.
    hot: Option<Hot>,
}

/// The last route found: `(peer, cid)` and where it leads.
#[derive(Debug)]
struct Hot {
    name: String,
    uuid: String,
    cid: String,
    id: DialogId,
}

impl Hot {
    fn is(&self, name: &str, uuid: &str, cid: &str) -> bool {
        self.cid == cid && self.uuid == uuid && self.name == name
    }
}

impl Routes {
    pub(super) fn get(&self, peer: &Uid, cid: &str) -> Option<DialogId> {
        self.get_parts(&peer.name, &peer.uuid, cid)
    }

    /// [`Routes::get`] by the peer's name and uuid, as its `Aid` has them.
    pub(super) fn get_parts(&self, name: &str, uuid: &str, cid: &str) -> Option<DialogId> {
        self.by_cid
            .get(cid)?
            .iter()
            .find(|(p, _)| p.name == name && p.uuid == uuid)
            .map(|&(_, id)| id)
    }

    /// [`Routes::get_parts`], remembering what it found for the next
    /// lookup (the path of every message).
    pub(super) fn find(&mut self, name: &str, uuid: &str, cid: &str) -> Option<DialogId> {
        if let Some(hot) = &self.hot
            && hot.is(name, uuid, cid)
        {
            return Some(hot.id);
        }
        let id = self.get_parts(name, uuid, cid)?;
        // The strings' buffers are reused: no allocation once they fit.
        let hot = self.hot.get_or_insert_with(|| Hot {
            name: String::new(),
            uuid: String::new(),
            cid: String::new(),
            id,
        });
        for (to, from) in [
            (&mut hot.name, name),
            (&mut hot.uuid, uuid),
            (&mut hot.cid, cid),
        ] {
            to.clear();
            to.push_str(from);
        }
        hot.id = id;
        Some(id)
    }

    pub(super) fn contains(&self, peer: &Uid, cid: &str) -> bool {
        self.get(peer, cid).is_some()
    }

    /// Routes `(peer, cid)` to `id`, in place of any route it had.
    pub(super) fn insert(&mut self, peer: &Uid, cid: &str, id: DialogId) {
        self.forget_hot(peer, cid);
        let peers = match self.by_cid.get_mut(cid) {
            Some(peers) => peers,
            None => self.by_cid.entry(cid.to_owned()).or_default(),
        };
        match peers.iter_mut().find(|(p, _)| p == peer) {
            Some(route) => route.1 = id,
            None => {
                peers.push((peer.clone(), id));
                self.len += 1;
            }
        }
    }

    /// Removes the route of `(peer, cid)`; returns where it led.
    pub(super) fn remove(&mut self, peer: &Uid, cid: &str) -> Option<DialogId> {
        self.forget_hot(peer, cid);
        let peers = self.by_cid.get_mut(cid)?;
        let i = peers.iter().position(|(p, _)| p == peer)?;
        let (_, id) = peers.swap_remove(i);
        if peers.is_empty() {
            self.by_cid.remove(cid);
        }
        self.len -= 1;
        Some(id)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops the remembered route if it is `(peer, cid)`'s.
    fn forget_hot(&mut self, peer: &Uid, cid: &str) {
        if self
            .hot
            .as_ref()
            .is_some_and(|h| h.is(&peer.name, &peer.uuid, cid))
        {
            self.hot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_sharing_a_cid_keep_their_own_routes() {
        let (a, b) = (Uid::new("a", "1"), Uid::new("b", "2"));
        let mut r = Routes::default();
        r.insert(&a, "c1", DialogId(1));
        r.insert(&b, "c1", DialogId(2));
        r.insert(&a, "c2", DialogId(3));
        assert_eq!(r.get(&a, "c1"), Some(DialogId(1)));
        assert_eq!(r.get(&b, "c1"), Some(DialogId(2)));
        assert_eq!(r.get(&b, "c2"), None);
        r.insert(&a, "c1", DialogId(4));
        assert_eq!(r.get(&a, "c1"), Some(DialogId(4)));
        assert_eq!(r.remove(&a, "c1"), Some(DialogId(4)));
        assert_eq!(r.remove(&a, "c1"), None);
        assert!(r.contains(&b, "c1"));
        assert_eq!(r.remove(&b, "c1"), Some(DialogId(2)));
        assert_eq!(r.remove(&a, "c2"), Some(DialogId(3)));
        assert!(r.is_empty());
        assert!(r.by_cid.is_empty());
    }

    #[test]
    fn the_remembered_route_follows_changes() {
        let (a, b) = (Uid::new("a", "1"), Uid::new("b", "2"));
        let mut r = Routes::default();
        r.insert(&a, "c1", DialogId(1));
        r.insert(&b, "c1", DialogId(2));
        assert_eq!(r.find("a", "1", "c1"), Some(DialogId(1)));
        assert_eq!(r.find("a", "1", "c1"), Some(DialogId(1)));
        assert_eq!(r.find("b", "2", "c1"), Some(DialogId(2)));
        assert_eq!(r.find("a", "1", "c1"), Some(DialogId(1)));
        // Rerouted, then removed: the remembered route goes with it.
        r.insert(&a, "c1", DialogId(3));
        assert_eq!(r.find("a", "1", "c1"), Some(DialogId(3)));
        r.remove(&a, "c1");
        assert_eq!(r.find("a", "1", "c1"), None);
        assert_eq!(r.find("b", "2", "c1"), Some(DialogId(2)));
        assert_eq!(r.find("b", "2", "c2"), None);
        assert_eq!(r.find("a", "1", "c"), None);
    }
}
