//! A live actor's picture of itself: what the runtime methods
//! `self.introspect` and `self.dump_tasks` answer (ours, not Python's),
//! for tools that look into a live tree.
//!
//! The core decides who may ask (its parent, its children, and peers
//! that proved the tree's secret: the rules of `self.cancel`) and fills
//! in what it knows (its identity, children, dialogs, counters); the
//! driver adds what only the process can tell ([`ProcessStats`]). A
//! Python actor does not serve these methods, and is not asked (see
//! [`OUR_METHODS`]).
//!
//! The answer is a msgpack map, [`Snapshot`], whose field `version` is
//! [`SNAPSHOT_VERSION`]: a newer version only adds fields, which older
//! readers skip; a reader meets fields it does not know with their
//! defaults.

use serde::{Deserialize, Serialize};

use crate::uid::Uid;

/// The runtime method (`ns = "self"`) that answers a [`Snapshot`].
pub const INTROSPECT_METHOD: &str = "introspect";

/// The runtime method (`ns = "self"`) that answers the actor's task
/// tree as text: what a `SIGUSR1` dump shows, asked over the wire (same
/// rules as [`INTROSPECT_METHOD`]).
pub const DUMP_TASKS_METHOD: &str = "dump_tasks";

/// The runtime methods of ours, which only our actors serve: the core
/// sends them only to a peer whose `Aid` announced `credit_flow` (every
/// actor of ours does; Python's does not, and a Python actor crashes on
/// a `self` method it does not have), and fails the call at once with
/// `UsageError::NotServedByPeer` otherwise.
pub const OUR_METHODS: [&str; 2] = [INTROSPECT_METHOD, DUMP_TASKS_METHOD];

/// The most `dump_tasks` calls an actor holds at once, all answered by
/// the one dump in the making, one per channel; more are refused (with
/// a `RuntimeError`) until it is done.
pub const MAX_DUMPS_ASKED: usize = 16;

/// The longest task dump `self.dump_tasks` answers, in bytes: a longer
/// one is cut there (at a character's edge) and says how much was left
/// out, so the answer fits the default frame limit (a peer that set a
/// lower one gets the frame refused, as any payload over it).
pub const MAX_DUMP_LEN: usize = 1 << 20;

/// The version of [`Snapshot`] this crate writes.
pub const SNAPSHOT_VERSION: u32 = 1;

/// The most dialogs a [`Snapshot`] lists (the oldest first): an actor
/// with tens of thousands open still answers in a frame every peer
/// takes. [`Snapshot::dialogs_total`] counts them all.
pub const MAX_LISTED_DIALOGS: usize = 1_000;

/// What the driver knows of its process, for [`Snapshot`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessStats {
    /// The runtime the actor runs on: `tokio`, `smol`, or another's name.
    pub adapter: String,
    /// The tree's transport: `tcp` or `uds`.
    pub transport: String,
    /// Where the actor accepts connections, as text.
    pub addrs: Vec<String>,
    /// Milliseconds since the actor started.
    pub uptime_ms: u64,
    /// The process's resident set, KiB.
    pub rss_kib: u64,
    /// CPU time the process used, user and system, milliseconds.
    pub cpu_ms: u64,
    /// Its threads.
    pub threads: u32,
}

/// One actor, as it sees itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    /// [`SNAPSHOT_VERSION`] of the writer.
    pub version: u32,
    /// The actor.
    pub uid: Uid,
    /// Its process id.
    pub pid: Option<u32>,
    /// Its parent, `None` for a root.
    pub parent: Option<Uid>,
    /// It is the registrar of its tree.
    pub registrar: bool,
    /// The registrars it registers with (a tool given any actor's
    /// address finds the tree's registrar here).
    pub registrars: Vec<crate::Address>,
    /// It is being cancelled.
    pub cancelling: bool,
    /// What the process tells ([`ProcessStats`]).
    pub process: ProcessStats,
    /// Its children.
    pub children: Vec<ChildSnapshot>,
    /// Its open dialogs, calls and contexts both ways: the oldest
    /// [`MAX_LISTED_DIALOGS`].
    pub dialogs: Vec<DialogSnapshot>,
    /// How many dialogs are open, listed or not.
    pub dialogs_total: u64,
    /// Counts since the actor started.
    pub counters: Counters,
}

/// A child, as its parent sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChildSnapshot {
    /// The child.
    pub uid: Uid,
    /// Its process id, once started.
    pub pid: Option<u32>,
    /// Where it stands: `starting`, `booting`, `running`, `cancelling`,
    /// `exiting` or `killed`.
    pub state: String,
}

/// An open call or context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DialogSnapshot {
    /// `ns:func`, or what the runtime calls it (`cancel-actor`, …).
    pub function: String,
    /// `asyncfunc`, `context`, `asyncgen`, or the runtime's kind.
    pub kind: String,
    /// The other actor.
    pub peer: Uid,
    /// `opener` (this actor called) or `callee` (this actor serves).
    pub role: String,
    /// Where it stands (`awaiting started`, `running`, `streaming`, …).
    pub state: String,
    /// Milliseconds since it was opened.
    pub age_ms: u64,
    /// Stream items sent.
    pub items_sent: u64,
    /// Stream items received.
    pub items_received: u64,
    /// Items this side may still send before the peer grants more; `None`
    /// without credits.
    pub credit_out: Option<u32>,
    /// Received items waiting to be read.
    pub queued: u32,
}

/// Counts since an actor started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Calls and contexts peers opened with this actor.
    pub calls_served: u64,
    /// Calls and contexts this actor opened with peers.
    pub calls_made: u64,
    /// Stream items sent.
    pub items_sent: u64,
    /// Stream items received.
    pub items_received: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_goes_through_msgpack_and_skips_what_it_does_not_know() {
        let s = Snapshot {
            version: SNAPSHOT_VERSION,
            uid: Uid::new("worker", "9b1e"),
            pid: Some(7),
            children: vec![ChildSnapshot {
                uid: Uid::new("leaf", "1"),
                pid: Some(8),
                state: "running".into(),
            }],
            counters: Counters {
                calls_served: 3,
                ..Counters::default()
            },
            ..Snapshot::default()
        };
        let bytes = rmp_serde::to_vec_named(&s).unwrap();
        let back: Snapshot = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, s);
        // A newer writer's extra field is skipped; a missing one defaults.
        #[derive(Serialize)]
        struct Newer {
            version: u32,
            uid: Uid,
            flux_capacitor: bool,
        }
        let newer = Newer {
            version: 2,
            uid: Uid::new("w", "u"),
            flux_capacitor: true,
        };
        let read: Snapshot =
            rmp_serde::from_slice(&rmp_serde::to_vec_named(&newer).unwrap()).unwrap();
        assert_eq!(read.version, 2);
        assert_eq!(read.uid, Uid::new("w", "u"));
        assert!(read.children.is_empty());
    }
}
