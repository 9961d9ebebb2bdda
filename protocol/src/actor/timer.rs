//! Every deadline of an actor in one table; the next wake-up is its minimum.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::ids::{ChannelId, ChildId, DialogId};

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The peer's `Aid` must arrive by then (spec/PROTOCOL.md §3.1).
    Handshake(ChannelId),
    /// Our cancel request (the dialog) must be acknowledged by then.
    CancelAck(DialogId),
    /// The next step of reaping a child is due.
    Reap(ChildId),
    /// Dialogs that lost their channel to this child stop waiting for its
    /// exit status.
    PeerExit(ChildId),
    /// The next attempt to register with the registrar of this index.
    Register(usize),
    /// An exited child's connections stop being read to their end.
    Drain(ChildId),
    /// The channel's output stayed over the bound with nothing written
    /// (or its closing flush did not finish) until then.
    Stall(ChannelId),
}

/// Deadlines, ordered, with at most one per [`Timer`].
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    ordered: BTreeSet<(Instant, Timer)>,
    set: HashMap<Timer, Instant>,
}

impl TimerTable {
    /// Arms `timer` for `at`, replacing an earlier setting.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        if let Some(old) = self.set.insert(timer, at) {
            self.ordered.remove(&(old, timer));
        }
        self.ordered.insert((at, timer));
    }

    /// Disarms `timer` if it is set.
    pub(crate) fn stop(&mut self, timer: Timer) {
        if let Some(at) = self.set.remove(&timer) {
            self.ordered.remove(&(at, timer));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.ordered.first().map(|(at, _)| *at)
    }

    /// Removes and returns one timer that is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let (at, timer) = *self.ordered.first()?;
        if at > now {
            return None;
        }
        self.ordered.remove(&(at, timer));
        self.set.remove(&timer);
        Some(timer)
    }

    /// How many timers are armed.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first_and_rearming_replaces() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        table.set(Timer::Handshake(ChannelId(1)), t0 + Duration::from_secs(5));
        table.set(Timer::Handshake(ChannelId(2)), t0 + Duration::from_secs(3));
        table.set(Timer::Handshake(ChannelId(1)), t0 + Duration::from_secs(1));
        assert_eq!(table.len(), 2);
        assert_eq!(table.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(table.pop_due(t0), None);
        assert_eq!(
            table.pop_due(t0 + Duration::from_secs(4)),
            Some(Timer::Handshake(ChannelId(1)))
        );
        assert_eq!(
            table.pop_due(t0 + Duration::from_secs(4)),
            Some(Timer::Handshake(ChannelId(2)))
        );
        assert_eq!(table.pop_due(t0 + Duration::from_secs(4)), None);
        table.set(Timer::Handshake(ChannelId(3)), t0);
        table.stop(Timer::Handshake(ChannelId(3)));
        assert_eq!(table.next(), None);
    }
}
