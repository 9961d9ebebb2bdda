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
