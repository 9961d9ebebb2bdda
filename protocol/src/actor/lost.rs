//! What an actor remembers of the channels whose peer went away: a
//! dialog opened on one later fails naming who was lost
//! (`UsageError::PeerLost`), not as an anonymous closed channel.

use super::channel::CloseReason;
use super::{Actor, ChannelId, DialogError, ExitStatus, UsageError};
use crate::msg::Aid;

/// How many lost channels an actor remembers, to say who was lost when a
/// dialog is opened on one (`UsageError::PeerLost`).
pub const LOST_CHANNELS_KEPT: usize = 64;

/// A channel whose peer went away.
#[derive(Debug)]
pub(super) struct LostPeer {
    channel: ChannelId,
    peer: crate::Uid,
    pid: Option<u32>,
    exit: Option<ExitStatus>,
    reason: CloseReason,
}

impl Actor {
    /// `channel`'s peer `aid` went away (its process's end, if known).
    pub(super) fn remember_lost(
        &mut self,
        channel: ChannelId,
        aid: &Aid,
        peer_exit: Option<(Option<u32>, ExitStatus)>,
        reason: &CloseReason,
    ) {
        if self.lost.len() >= LOST_CHANNELS_KEPT {
            self.lost.pop_front();
        }
        let (pid, exit) = match peer_exit {
            Some((pid, exit)) => (pid, Some(exit)),
            None => (aid.pid, None),
        };
        self.lost.push_back(LostPeer {
            channel,
            peer: aid.uid(),
            pid,
            exit,
            reason: reason.clone(),
        });
    }

    /// Why a dialog cannot be opened on `channel`, which is not open:
    /// `UsageError::PeerLost` while this actor remembers the channel's loss
    /// (with how the peer's process ended, once that is known: for a child,
    /// when its exit is handled), else `UsageError::ChannelNotOpen`.
    pub fn not_open(&self, channel: ChannelId) -> UsageError {
        match self.lost.iter().rev().find(|l| l.channel == channel) {
            Some(l) => UsageError::PeerLost(Box::new(DialogError::PeerLost {
                peer: l.peer.clone(),
                pid: l.pid,
                exit: l.exit,
                channel,
                reason: l.reason.clone(),
            })),
            None => UsageError::ChannelNotOpen(channel),
        }
    }

    /// A child's process ended: the channels lost with it learn how.
    pub(super) fn lost_child_exited(
        &mut self,
        uid: &crate::Uid,
        pid: Option<u32>,
        exit: ExitStatus,
    ) {
        for l in self.lost.iter_mut().filter(|l| l.peer == *uid) {
            l.exit = Some(exit);
            l.pid = pid.or(l.pid);
        }
    }
}
