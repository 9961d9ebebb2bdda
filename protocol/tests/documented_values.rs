//! Values the rustdoc states in words rather than by a link (a link into
//! this crate would not render on the pages of the crates that re-export
//! the item): a change of one of them must change those docs too.

use std::time::Duration;

use tractor_protocol::{
    DEFAULT_MAX_FRAME_LEN, ELECTION_PATIENCE, Limits, OVERRUN_BACKLOG, PEER_EXIT_WAIT,
    REAP_CANCEL_TIMEOUT, REAP_KILL_AFTER, REGISTER_RETRY_MAX, REGISTER_RETRY_MIN, ReapTimeouts,
};

#[test]
fn the_values_the_docs_spell_out_hold() {
    // `ContextOptions::allow_overruns`: "up to 616 more".
    assert_eq!(OVERRUN_BACKLOG, 616);
    // `ReapTimeouts::default`: "`cancel_ack` 0.5 s … `kill_after` 1.6 s".
    assert_eq!(REAP_CANCEL_TIMEOUT, Duration::from_millis(500));
    assert_eq!(REAP_KILL_AFTER, Duration::from_millis(1600));
    // `DialogError::PeerLost`: "at most 0.5 s (`PEER_EXIT_WAIT`)".
    assert_eq!(PEER_EXIT_WAIT, Duration::from_millis(500));
    let reap = ReapTimeouts::default();
    assert_eq!(
        (reap.cancel_ack, reap.kill_after),
        (REAP_CANCEL_TIMEOUT, REAP_KILL_AFTER)
    );
    // README and spec/PROTOCOL.md §9: registration attempts "50 ms apart
    // at first and doubling up to 2 s"; a root gives up on a registrar
    // address taken with nothing answering "for 30 s".
    assert_eq!(REGISTER_RETRY_MIN, Duration::from_millis(50));
    assert_eq!(REGISTER_RETRY_MAX, Duration::from_secs(2));
    assert_eq!(ELECTION_PATIENCE, Duration::from_secs(30));
    // README "Limits", spec/PROTOCOL.md §4.1 and §12, CHANGELOG: the
    // defaults of every limit, in words.
    let limits = Limits::default();
    assert_eq!(limits.max_connections, 1024);
    assert_eq!(limits.max_pending_connections, 128);
    assert_eq!(limits.max_dialogs_per_peer, 1024);
    assert_eq!(limits.max_queued_bytes, 4 * 1024 * 1024);
    assert_eq!(limits.max_queued_frames, 16_384);
    assert_eq!(limits.stall_timeout, Duration::from_secs(30));
    assert_eq!(DEFAULT_MAX_FRAME_LEN, 64 * 1024 * 1024);
}

#[test]
fn the_grace_period_adds_to_every_cancel_deadline_and_zero_adds_nothing() {
    use tractor_protocol::{
        ACTOR_CANCEL_TIMEOUT, Actor, ActorConfig, CONTEXT_CANCEL_TIMEOUT, DEFAULT_CANCEL_GRACE,
        MAX_CANCEL_GRACE,
    };
    // README "Graceful cancellation": "1 s by default".
    assert_eq!(DEFAULT_CANCEL_GRACE, Duration::from_secs(1));
    // The core's own default is no grace: Python's deadlines, unchanged.
    let cfg = ActorConfig::new("a", "a-uuid");
    assert_eq!(cfg.cancel_grace, Duration::ZERO);
    let a = Actor::new(cfg.clone());
    assert_eq!(a.context_cancel_timeout(), CONTEXT_CANCEL_TIMEOUT);
    assert_eq!(a.actor_cancel_timeout(), ACTOR_CANCEL_TIMEOUT);
    assert_eq!(a.reap_timeouts(), ReapTimeouts::default());
    // A grace adds to each.
    let grace = Duration::from_millis(1250);
    let mut with = cfg.clone();
    with.cancel_grace = grace;
    let a = Actor::new(with);
    assert_eq!(a.cancel_grace(), grace);
    assert_eq!(a.context_cancel_timeout(), CONTEXT_CANCEL_TIMEOUT + grace);
    assert_eq!(a.actor_cancel_timeout(), ACTOR_CANCEL_TIMEOUT + grace);
    assert_eq!(
        a.reap_timeouts(),
        ReapTimeouts {
            cancel_ack: REAP_CANCEL_TIMEOUT + grace,
            kill_after: REAP_KILL_AFTER + grace,
        }
    );
    // An absurd grace is capped, not an overflow.
    let mut huge = cfg;
    huge.cancel_grace = Duration::MAX;
    let a = Actor::new(huge);
    assert_eq!(a.cancel_grace(), MAX_CANCEL_GRACE);
    assert_eq!(
        a.context_cancel_timeout(),
        CONTEXT_CANCEL_TIMEOUT + MAX_CANCEL_GRACE
    );
}
