//! Per-peer bounds: connections, handshakes, dialogs, and the output queued
//! for a peer (backpressure), and messages that do not decode. See
//! [`Limits`].

use std::time::{Duration, Instant};

use crate::msg::Aid;

use super::channel::{ChannelOrigin, ChannelState, CloseReason};
use super::timer::Timer;
use super::{Action, Actor, ChannelId, Closer, DialogError, Event, MAX_BAD_MESSAGES, Violation};

/// Inbound connections open at once, by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Inbound connections still handshaking at once, by default.
pub const DEFAULT_MAX_PENDING_CONNECTIONS: usize = 128;
/// Functions run at once for one connection (one peer), by default.
pub const DEFAULT_MAX_DIALOGS_PER_PEER: usize = 1024;
/// Output bytes queued for one connection before its reading pauses, by
/// default.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;
/// Output frames queued for one connection before its reading pauses, by
/// default.
pub const DEFAULT_MAX_QUEUED_FRAMES: usize = 16 * 1024;
/// How long a connection's output may stay over the bound with nothing of
/// it written before the connection is dropped, by default.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a silent TCP peer (host down, cable pulled, a partition) is
/// given before its connection is taken as lost, by default.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(30);

/// The shortest keepalive honoured: TCP counts its probes in whole seconds.
pub const MIN_KEEPALIVE: Duration = Duration::from_secs(2);

/// How often a broken stream (a frame over `ActorConfig::max_frame_len`,
/// say) is logged as a warning; the others in between go to `debug`.
const FRAME_WARN_EVERY: Duration = Duration::from_secs(60);

/// Boxed type name of the error a caller gets for a call over
/// [`Limits::max_dialogs_per_peer`].
pub const TOO_MANY_DIALOGS: &str = "TooManyDialogs";

/// How much one actor gives its peers; every bound is per actor or per
/// connection, and each has a default.
///
/// * **Connections.** An accepted connection over
///   [`max_connections`](Limits::max_connections) open ones, or over
///   [`max_pending_connections`](Limits::max_pending_connections) still
///   handshaking, is dropped at once (`Action::Abort`), before a byte is
///   read or written. Connections this actor opens itself are not
///   limited. One warning is logged when a limit is first hit, and one
///   line when the count is back to half the limit, with how many were
///   refused meanwhile.
/// * **Dialogs.** A `Start` from a peer that already has
///   [`max_dialogs_per_peer`](Limits::max_dialogs_per_peer) functions
///   running on its connection is answered with an `Error` of type
///   `TooManyDialogs`, the caller's remote error; the connection stays
///   open. Logged once per connection.
/// * **Output.** Every connection's output queue is bounded: the core
///   counts what it transmitted until the driver reports it written
///   (`Actor::handle_written`). Once more than
///   [`max_queued_bytes`](Limits::max_queued_bytes) or
///   [`max_queued_frames`](Limits::max_queued_frames) are queued, the core
///   emits `Action::PauseReading`: the driver reads nothing more from that
///   peer, so it cannot ask for more work, and stream items sent to it
///   (`Actor::send`) are refused with `UsageError::NoCredit`. Once the
///   queue is back to half the bounds, `Action::ResumeReading` follows,
///   then `Event::Writable` for each dialog whose send was refused (and
///   that has credit to send). If nothing of the queue is written
///   for [`stall_timeout`](Limits::stall_timeout) while it is over the
///   bound, the peer is taken as stuck: the connection is dropped
///   (`Action::Abort`, `CloseReason::Stalled`, logged as a warning).
///   The same timeout bounds the flush of a connection this actor closes
///   (`Action::Close`).
/// * **Frames.** The largest frame accepted is `ActorConfig::max_frame_len`.
/// * **Liveness.** A TCP connection whose peer falls silent (its host is
///   down, the cable is pulled, the network partitions) is taken as lost
///   within [`keepalive`](Limits::keepalive), idle or not: the kernel
///   probes an idle connection (`Keepalive`, from
///   `Limits::keepalive_probes`) and gives up on data the peer does not
///   acknowledge. The loss is the connection's end, as any other: a child
///   cancels itself, a parent reports the child lost by name. A peer whose
///   host answers but whose process is stopped is not silent to TCP: the
///   stall timeout covers it once output is queued for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Inbound connections open at once, handshaking or not.
    pub max_connections: usize,
    /// Inbound connections whose handshake has not finished, at once.
    pub max_pending_connections: usize,
    /// Functions this actor runs at once for one connection.
    pub max_dialogs_per_peer: usize,
    /// Output bytes queued for one connection before reading from it
    /// pauses.
    pub max_queued_bytes: usize,
    /// Output frames queued for one connection before reading from it
    /// pauses.
    pub max_queued_frames: usize,
    /// How long a connection's queued output may go unwritten, over the
    /// bound or while it is closing, before it is dropped.
    pub stall_timeout: Duration,
    /// How long a TCP peer may stay silent before its connection is
    /// taken as lost; `None` leaves the system's defaults (hours). At
    /// least `MIN_KEEPALIVE`, in whole seconds.
    pub keepalive: Option<Duration>,
}

/// How the kernel probes a TCP connection for [`Limits::keepalive`]: the
/// socket options a driver sets on each TCP connection (`SO_KEEPALIVE`,
/// `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`, `TCP_USER_TIMEOUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Silence before the first probe (`TCP_KEEPIDLE`), whole seconds.
    pub idle: Duration,
    /// Between unanswered probes (`TCP_KEEPINTVL`), whole seconds.
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped (`TCP_KEEPCNT`).
    pub probes: u32,
    /// How long sent data may stay unacknowledged before the connection
    /// is dropped (`TCP_USER_TIMEOUT`).
    pub user_timeout: Duration,
}

impl Limits {
    /// The probes that find a silent peer within
    /// [`keepalive`](Limits::keepalive) (rounded to whole seconds, at
    /// least `MIN_KEEPALIVE`): half of it idle, then up to three probes
    /// spread over the rest, so that the last unanswered probe ends within
    /// it; data unacknowledged for all of it drops the connection too.
    /// `None` when keepalive is off.
    pub fn keepalive_probes(&self) -> Option<Keepalive> {
        let total = self.keepalive?.max(MIN_KEEPALIVE).as_secs();
        let idle = total / 2;
        let rest = total - idle;
        let probes = rest.min(3);
        let interval = rest / probes;
        let probes = u32::try_from(probes).unwrap_or(3);
        Some(Keepalive {
            idle: Duration::from_secs(idle),
            interval: Duration::from_secs(interval),
            probes,
            user_timeout: Duration::from_secs(total),
        })
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_pending_connections: DEFAULT_MAX_PENDING_CONNECTIONS,
            max_dialogs_per_peer: DEFAULT_MAX_DIALOGS_PER_PEER,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            max_queued_frames: DEFAULT_MAX_QUEUED_FRAMES,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            keepalive: Some(DEFAULT_KEEPALIVE),
        }
    }
}

/// An inbound limit being hit: logged once, with the refusals counted until
/// the count is back to half the limit.
#[derive(Debug, Default)]
pub(super) struct Refusing {
    pub(super) connections: Option<u64>,
    pub(super) pending: Option<u64>,
}

impl Actor {
    /// Whether a new inbound connection is over a limit: why, if so (and
    /// counts or logs the refusal).
    pub(super) fn refuse_inbound(&mut self) -> Option<CloseReason> {
        let limits = &self.config.limits;
        let (reason, refused, what) = if self.inbound >= limits.max_connections {
            (
                CloseReason::TooManyConnections(limits.max_connections),
                &mut self.refusing.connections,
                "connections",
            )
        } else if self.pending >= limits.max_pending_connections {
            (
                CloseReason::TooManyPending(limits.max_pending_connections),
                &mut self.refusing.pending,
                "handshaking connections",
            )
        } else {
            return None;
        };
        match refused {
            Some(n) => *n += 1,
            None => {
                *refused = Some(1);
                tracing::warn!(target: "tractor::transport", limit = %reason, "too many {what}: dropping new connections at once until fewer are open");
            }
        }
        Some(reason)
    }

    /// An inbound connection went away, or finished its handshake: the
    /// counts drop, and a limit hit is over once back to half.
    pub(super) fn inbound_done(&mut self, origin: ChannelOrigin, was: &ChannelState, gone: bool) {
        if origin != ChannelOrigin::Accepted {
            return;
        }
        if matches!(was, ChannelState::Handshaking(_)) {
            self.pending = self.pending.saturating_sub(1);
        }
        if gone {
            self.inbound = self.inbound.saturating_sub(1);
        }
        let limits = &self.config.limits;
        if self.inbound <= limits.max_connections / 2
            && let Some(n) = self.refusing.connections.take()
        {
            tracing::info!(target: "tractor::transport", refused = n, open = self.inbound, "accepting connections again");
        }
        if self.pending <= limits.max_pending_connections / 2
            && let Some(n) = self.refusing.pending.take()
        {
            tracing::info!(target: "tractor::transport", refused = n, handshaking = self.pending, "accepting handshakes again");
        }
    }

    /// A message that does not decode: it fails the dialog it names, and
    /// after [`MAX_BAD_MESSAGES`] in a row the channel.
    pub(super) fn on_undecodable(&mut self, channel: ChannelId, e: crate::DecodeError) {
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        if !matches!(ch.state, ChannelState::Open { .. }) {
            self.close_channel(channel, CloseReason::InvalidHandshake(e.to_string()));
            return;
        }
        ch.bad_messages += 1;
        let n = ch.bad_messages;
        let peer = ch.peer().map(Aid::uid);
        tracing::warn!(target: "tractor::runtime", %channel, error = %e, "undecodable message");
        // A bad message that names its dialog fails that dialog, as a
        // `MsgTypeError` blamed on the peer does in Python.
        if let (Some(cid), Some(peer)) = (e.cid(), peer.clone())
            && let Some(id) = self.routes.get(&peer, cid)
        {
            self.fail_dialog(
                id,
                DialogError::Protocol {
                    peer,
                    violation: Violation::Undecodable(e.clone()),
                },
            );
        }
        self.events.push_back(Event::Violation {
            channel,
            violation: Violation::Undecodable(e),
        });
        if n >= MAX_BAD_MESSAGES {
            self.close_channel(channel, CloseReason::TooManyBadMessages(n));
        }
    }

    /// Logs a stream that cannot be split into frames (it is closed): one
    /// warning a minute at most, with how many more there were.
    pub(super) fn log_frame_error(
        &mut self,
        now: Instant,
        channel: ChannelId,
        e: &crate::frame::FrameError,
    ) {
        match &mut self.frame_warned {
            Some((at, more)) if now.saturating_duration_since(*at) < FRAME_WARN_EVERY => {
                *more += 1;
                tracing::debug!(target: "tractor::transport", %channel, error = %e, "unreadable stream: connection closed");
            }
            _ => {
                let more = self.frame_warned.map_or(0, |(_, n)| n);
                self.frame_warned = Some((now, 0));
                tracing::warn!(target: "tractor::transport", %channel, error = %e, more_since_last_warning = more, "unreadable stream: connection closed");
            }
        }
    }

    /// The driver wrote `n` bytes of what was transmitted for `channel`
    /// (any part of one or more `Output::Transmit`s, in order). Drivers that call this get backpressure: without it every
    /// byte transmitted counts as queued, and reading from the peer pauses
    /// once the bound is reached (see `Limits`).
    pub fn handle_written(&mut self, now: Instant, channel: ChannelId, n: usize) {
        self.clock = Some(now);
        if let Some(flight) = self.closing.get_mut(&channel) {
            flight.written(n);
            if flight.is_empty() {
                self.closing.remove(&channel);
                self.timers.stop(Timer::Stall(channel));
            }
            return;
        }
        let stall = self.config.limits.stall_timeout;
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        ch.flight.written(n);
        if ch.paused && n > 0 {
            // Progress: the peer reads, if slowly.
            self.timers.set(Timer::Stall(channel), now + stall);
        }
        if self.update_flow(channel) {
            // What was read before the pause is handled now.
            self.process_input(now, channel);
        }
    }

    /// Pauses or resumes reading from `channel` as its queued output
    /// crosses the bounds: whether it resumed. Output only grows outside
    /// [`Actor::handle_written`], so only that resumes.
    pub(super) fn update_flow(&mut self, channel: ChannelId) -> bool {
        let limits = &self.config.limits;
        let Some(ch) = self.channels.get_mut(&channel) else {
            return false;
        };
        let (bytes, frames) = ch.queued();
        if !ch.paused && (bytes > limits.max_queued_bytes || frames > limits.max_queued_frames) {
            ch.paused = true;
            tracing::debug!(target: "tractor::transport", %channel, bytes, frames, "output over the bound: reading paused");
            if let Some(now) = self.clock {
                self.timers
                    .set(Timer::Stall(channel), now + limits.stall_timeout);
            }
            self.actions.push_back(Action::PauseReading { channel });
            false
        } else if ch.paused
            && bytes <= limits.max_queued_bytes / 2
            && frames <= limits.max_queued_frames / 2
        {
            ch.paused = false;
            tracing::debug!(target: "tractor::transport", %channel, bytes, frames, "output drained: reading resumed");
            self.timers.stop(Timer::Stall(channel));
            self.actions.push_back(Action::ResumeReading { channel });
            for dialog in std::mem::take(&mut ch.blocked_senders) {
                self.wake_refused_sender(dialog);
            }
            true
        } else {
            false
        }
    }

    /// Whether reading from `channel` is paused (its output is over the
    /// bound); `false` for a channel that is gone.
    pub fn is_reading_paused(&self, channel: ChannelId) -> bool {
        self.channels.get(&channel).is_some_and(|c| c.paused)
    }

    /// A channel's stall deadline passed.
    pub(super) fn on_stall_timer(&mut self, channel: ChannelId) {
        let timeout = self.config.limits.stall_timeout;
        if let Some(flight) = self.closing.remove(&channel) {
            tracing::warn!(target: "tractor::transport", %channel, unwritten = flight.bytes, ?timeout, "closing connection not flushed in time: dropped");
            self.actions.push_back(Action::Abort { channel });
            return;
        }
        let Some(ch) = self.channels.get(&channel) else {
            return;
        };
        if !ch.paused {
            return;
        }
        let (bytes, frames) = ch.queued();
        let peer = ch
            .peer()
            .map_or_else(|| "?".to_owned(), |p| p.uid().to_string());
        tracing::warn!(target: "tractor::transport", %channel, %peer, bytes, frames, ?timeout, "the peer reads nothing of its queued output: dropping the connection");
        self.drop_channel(channel, CloseReason::Stalled(timeout), Closer::Abort);
    }
}
