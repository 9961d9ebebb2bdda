//! The handshake of a new channel (spec/PROTOCOL.md §3.1, §3.5). This file
//! decides what each side sends first, with or without the tree's secret,
//! what each `Aid` or authentication step means in each state of the
//! handshake, when a peer is refused, and what a finished handshake opens
//! (a peer channel, a probe's answer).

use std::time::Instant;

use crate::msg::{Aid, AuthStep, Msg};

use super::auth::{self, AuthError, Side};
use super::channel::{Channel, ChannelOrigin, ChannelState, CloseReason, Handshake};
use super::timer::Timer;
use super::{Action, Actor, ChannelId, Closer, Event};

impl Actor {
    pub(super) fn start_handshake(&mut self, now: Instant, channel: ChannelId) {
        self.timers.set(
            Timer::Handshake(channel),
            now + self.config.handshake_timeout,
        );
        let Some(ch) = self.channels.get(&channel) else {
            return;
        };
        let origin = ch.origin;
        let state = match (&self.config.auth.secret, origin) {
            // Python's handshake: both ends send their `Aid` at once.
            (None, _) => {
                self.send_identity(channel);
                Handshake::Identity {
                    authenticated: false,
                }
            }
            // An acceptor with a secret says nothing before the connector.
            (Some(_), ChannelOrigin::Accepted) => Handshake::Opening,
            (Some(_), ChannelOrigin::Connected | ChannelOrigin::Probe) => {
                let ours = self.next_nonce();
                self.send_step(channel, AuthStep::Hello { nonce: ours });
                Handshake::Hello { ours }
            }
        };
        self.set_handshake(channel, state);
    }

    fn set_handshake(&mut self, channel: ChannelId, state: Handshake) {
        if let Some(ch) = self.channels.get_mut(&channel) {
            ch.state = ChannelState::Handshaking(state);
        }
    }

    /// A fresh nonce: the next HMAC of the counter under the driver's key.
    fn next_nonce(&mut self) -> [u8; 32] {
        self.nonces += 1;
        auth::nonce(&self.config.auth.nonce_key, self.nonces)
    }

    /// Sends one authentication step, in an anonymous `Aid`.
    fn send_step(&mut self, channel: ChannelId, step: AuthStep) {
        if let Some(ch) = self.channels.get_mut(&channel) {
            ch.write(&Msg::from(auth::step_aid(step)));
            self.queue_transmit(channel);
        }
    }

    /// Sends who we are: our `Aid`, or a probe's.
    fn send_identity(&mut self, channel: ChannelId) {
        let mut aid = self.aid();
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        if ch.origin == ChannelOrigin::Probe {
            // A prober is nobody: Python sends nil, which it reads as "is a
            // registrar", and `registry-probe` as the name.
            aid.name = "registry-probe".to_owned();
            aid.uuid = self.rng.uuid4();
            aid.is_registrar = None;
            aid.is_probe = true;
            aid.credit_flow = None;
        }
        ch.write(&Msg::from(aid));
        self.queue_transmit(channel);
    }

    /// One `Aid` (an identity or an authentication step) on a channel whose
    /// handshake is in `state`: the handshake's state machine
    /// (spec/PROTOCOL.md §3.1, §3.5).
    pub(super) fn on_handshake_msg(&mut self, channel: ChannelId, state: Handshake, aid: Aid) {
        let Some(ch) = self.channels.get(&channel) else {
            return;
        };
        let origin = ch.origin;
        let secret = self.config.auth.secret.clone();
        let mut aid = aid;
        let step = aid.auth.take();
        match (state, step, secret) {
            (Handshake::Identity { authenticated }, None, _) => {
                self.on_handshake(channel, aid, authenticated);
            }
            (Handshake::Identity { .. }, Some(AuthStep::Hello { .. }), None) => {
                self.refuse(channel, AuthError::NoSecret);
            }
            (Handshake::Identity { .. }, Some(step), _) => {
                self.invalid_handshake(channel, format!("{step:?} where an Aid was due"));
            }
            (Handshake::Opening, None, _) => {
                if self.config.auth.accept_unauthenticated {
                    tracing::info!(target: "tractor::runtime", %channel, peer = %aid, "accepting a peer that does not authenticate");
                    self.send_identity(channel);
                    self.on_handshake(channel, aid, false);
                } else {
                    self.refuse(channel, AuthError::PeerNotAuthenticated);
                }
            }
            (Handshake::Opening, Some(AuthStep::Hello { nonce: connector }), Some(_)) => {
                // Our opening only: our proof waits until the connector's
                // is checked, so that a peer without the secret gets no
                // MAC of ours to guess it from offline.
                let acceptor = self.next_nonce();
                self.send_step(channel, AuthStep::Hello { nonce: acceptor });
                self.set_handshake(
                    channel,
                    Handshake::Proof {
                        acceptor,
                        connector,
                    },
                );
            }
            (
                Handshake::Hello { ours },
                Some(AuthStep::Hello { nonce: acceptor }),
                Some(secret),
            ) => {
                let mac = auth::proof(&secret, Side::Connector, &acceptor, &ours);
                self.send_step(channel, AuthStep::Proof { mac });
                self.set_handshake(
                    channel,
                    Handshake::Proof {
                        acceptor,
                        connector: ours,
                    },
                );
            }
            (Handshake::Hello { .. }, None, _) => {
                // The acceptor sent its `Aid` (no secret, or Python): it is
                // not one of ours, and we already sent our opening.
                self.refuse(channel, AuthError::PeerNotAuthenticated);
            }
            (
                Handshake::Proof {
                    acceptor,
                    connector,
                },
                Some(AuthStep::Proof { mac }),
                Some(secret),
            ) => {
                let theirs = match origin {
                    ChannelOrigin::Accepted => Side::Connector,
                    ChannelOrigin::Connected | ChannelOrigin::Probe => Side::Acceptor,
                };
                if auth::verify(&secret, theirs, &acceptor, &connector, &mac) {
                    tracing::debug!(target: "tractor::runtime", %channel, "the peer proved the secret");
                    if origin == ChannelOrigin::Accepted {
                        // The connector proved first; now we do.
                        let mac = auth::proof(&secret, Side::Acceptor, &acceptor, &connector);
                        self.send_step(channel, AuthStep::Proof { mac });
                    }
                    self.send_identity(channel);
                    self.set_handshake(
                        channel,
                        Handshake::Identity {
                            authenticated: true,
                        },
                    );
                } else {
                    self.refuse(channel, AuthError::BadProof);
                }
            }
            (state, step, _) => {
                let got = match step {
                    Some(step) => format!("{step:?}"),
                    None => "an Aid".to_owned(),
                };
                self.invalid_handshake(channel, format!("{got} in handshake state {state:?}"));
            }
        }
    }

    fn on_handshake(&mut self, channel: ChannelId, peer: Aid, authenticated: bool) {
        self.timers.stop(Timer::Handshake(channel));
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        match ch.origin {
            ChannelOrigin::Probe => {
                self.events
                    .push_back(Event::ProbeAnswered { channel, peer });
                self.close_channel(channel, CloseReason::Probe);
            }
            ChannelOrigin::Accepted if peer.is_probe => {
                // A probe only wanted our `Aid`, which is already queued;
                // it never becomes a peer (scenario disc-probe-no-phantom-peer).
                self.close_channel(channel, CloseReason::Probe);
            }
            ChannelOrigin::Accepted | ChannelOrigin::Connected => {
                let origin = ch.origin;
                let was = std::mem::replace(
                    &mut ch.state,
                    ChannelState::Open {
                        peer: peer.clone(),
                        authenticated,
                    },
                );
                self.inbound_done(origin, &was, false);
                let uid = peer.uid();
                self.events
                    .push_back(Event::ChannelOpened { channel, peer });
                if origin == ChannelOrigin::Accepted {
                    self.maybe_child_connected(channel, &uid);
                } else {
                    self.on_registrar_open(channel);
                }
            }
        }
    }

    /// The transport under `channel` (TLS, say) refused the peer's
    /// credentials, or the peer refused this actor's: the connection fails
    /// as an authentication failure ([`CloseReason::Auth`]), whether it
    /// was still being made or open. [`Action::Abort`] follows.
    pub fn handle_refused(&mut self, now: Instant, channel: ChannelId, why: AuthError) {
        self.clock = Some(now);
        if self.closing.remove(&channel).is_some() {
            self.timers.stop(Timer::Stall(channel));
            self.actions.push_back(Action::Abort { channel });
            return;
        }
        self.drop_channel(channel, CloseReason::Auth(why), Closer::Peer(now));
    }

    /// Closes a channel whose peer failed to authenticate, with the reason
    /// logged.
    pub(super) fn refuse(&mut self, channel: ChannelId, why: AuthError) {
        tracing::warn!(target: "tractor::runtime", %channel, reason = %why, "connection refused");
        self.close_channel(channel, CloseReason::Auth(why));
    }

    pub(super) fn invalid_handshake(&mut self, channel: ChannelId, what: String) {
        tracing::warn!(target: "tractor::runtime", %channel, %what, "invalid handshake");
        self.close_channel(channel, CloseReason::InvalidHandshake(what));
    }

    /// Whether a peer that closed the connection now did so because it
    /// refused our authentication: it took part (it sent its opening) and
    /// closed after our proof, while we awaited its answer. A connector
    /// proves first, so it is refused while awaiting the acceptor's proof;
    /// an acceptor proves only once it checked the connector's, so it is
    /// refused while awaiting the connector's `Aid` (a connector that goes
    /// before proving has not been refused anything). A peer that closes
    /// without a word may be refusing too, or may be going away (a
    /// registrar that is not serving yet): that stays `Eof`.
    pub(super) fn refused_us(ch: &Channel) -> bool {
        let ChannelState::Handshaking(state) = &ch.state else {
            return false;
        };
        match ch.origin {
            ChannelOrigin::Accepted => matches!(
                state,
                Handshake::Identity {
                    authenticated: true
                }
            ),
            ChannelOrigin::Connected | ChannelOrigin::Probe => {
                matches!(state, Handshake::Proof { .. })
            }
        }
    }
}
