//! Handles the core gives out: opaque, copyable, never reused within one
//! [`Actor`](super::Actor).

use std::fmt;

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

handle! {
    /// One connection to a peer actor (TCP or Unix socket).
    ChannelId, "ch"
}

handle! {
    /// One dialog (an RPC call, a context, a legacy stream), opened by this
    /// actor or by a peer.
    DialogId, "dlg"
}

handle! {
    /// One child actor of this actor's nursery.
    ChildId, "child"
}

handle! {
    /// A group of children supervised together (Python's actor nursery).
    NurseryId, "nursery"
}

/// The root's own claim on the terminal, from
/// [`Actor::acquire_tty_lock`](super::Actor::acquire_tty_lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TtyTicket(pub(crate) u64);

/// A hash map keyed by the core's own handles or other small integers it
/// hands out itself: a multiply-and-fold hash instead of SipHash. Peers
/// never choose these keys, so there is nothing to flood; every message
/// looks a few of them up, so the hash is worth keeping short.
pub type IdMap<K, V> = std::collections::HashMap<K, V, BuildIdHasher>;

/// Builds an [`IdHasher`] (for [`IdMap`]).
pub type BuildIdHasher = std::hash::BuildHasherDefault<IdHasher>;

/// The hasher of [`IdMap`]: integers are mixed by one multiplication by an
/// odd constant (Fibonacci hashing), folded so that both halves of the
/// product reach the bits a table indexes with; anything else byte by byte.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

/// 2^64 divided by the golden ratio, made odd.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(GOLDEN);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_spread_over_a_table() {
        // Sequential ids, as the core hands them out, land in distinct
        // buckets of a 1,024-slot table: nothing clusters.
        use std::hash::BuildHasher;
        let b = BuildIdHasher::default();
        let buckets: std::collections::HashSet<u64> = (1..=1024u64)
            .map(|i| b.hash_one(DialogId(i)) & 1023)
            .collect();
        assert!(
            buckets.len() > 600,
            "only {} buckets of 1024",
            buckets.len()
        );
        let mut m: IdMap<DialogId, u64> = IdMap::default();
        for i in 0..10_000 {
            m.insert(DialogId(i), i);
        }
        assert!((0..10_000).all(|i| m.get(&DialogId(i)) == Some(&i)));
    }
}
