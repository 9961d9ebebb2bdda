//! Which root is the registrar (spec/PROTOCOL.md §9.1), decided without a
//! race: see [`Election`].

use std::time::{Duration, Instant};

use crate::actor::CloseReason;
use crate::addr::Address;
use crate::msg::Aid;
use crate::uid::Uid;

/// How long a root keeps probing and binding while the registrar address
/// is taken but nobody answers there, before it fails.
pub const ELECTION_PATIENCE: Duration = Duration::from_secs(30);

/// The first wait before probing again.
const RETRY_MIN: Duration = Duration::from_millis(10);

/// The longest wait before probing again.
const RETRY_MAX: Duration = Duration::from_millis(500);

/// What a probe of one address found (spec/PROTOCOL.md §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAnswer {
    /// A registrar answered (its `Aid` does not say `is_registrar: false`).
    Registrar(Uid),
    /// An actor answered that is not a registrar.
    NotARegistrar(Uid),
    /// Something accepted the connection and gave no valid handshake.
    Silent(String),
    /// Nothing listens: the connection was refused.
    Absent,
    /// An actor listens whose handshake's authentication failed
    /// (spec/PROTOCOL.md §3.5): it holds another secret, or needs one this
    /// root lacks. Asking again changes nothing.
    Refused(crate::AuthError),
}

impl ProbeAnswer {
    /// The answer of a probe that got `aid` ([`crate::Event::ProbeAnswered`]).
    pub fn from_aid(aid: &Aid) -> Self {
        if aid.is_registrar != Some(false) {
            ProbeAnswer::Registrar(aid.uid())
        } else {
            ProbeAnswer::NotARegistrar(aid.uid())
        }
    }

    /// The answer of a probe whose channel closed without an `Aid`.
    pub fn from_close(reason: &CloseReason) -> Self {
        match reason {
            CloseReason::ConnectFailed(_) => ProbeAnswer::Absent,
            CloseReason::Auth(e) => ProbeAnswer::Refused(e.clone()),
            other => ProbeAnswer::Silent(other.to_string()),
        }
    }
}

/// What the root does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionStep {
    /// Probe this address, then report with [`Election::probed`].
    Probe(Address),
    /// Nobody listens at the registrar addresses: bind them and be the
    /// registrar, or report with [`Election::bind_taken`] that one of them
    /// is taken.
    Bind,
    /// Wait until then, and ask again.
    Wait(Instant),
    /// A registrar answers: be its client.
    Join,
    /// Give up.
    Fail(ElectionError),
}

/// Why a root could not settle who the registrar is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ElectionError {
    /// An actor that is not a registrar listens at a registrar address.
    #[error("{addr} is taken by {peer}, which is not a registrar")]
    NotARegistrar {
        /// The address.
        addr: Address,
        /// Who answered there.
        peer: Uid,
    },
    /// The actor at a registrar address refused this root's
    /// authentication, or failed it (spec/PROTOCOL.md §3.5).
    #[error("the registrar at {addr} and this root do not share a secret: {reason}")]
    Refused {
        /// The address.
        addr: Address,
        /// What failed.
        reason: crate::AuthError,
    },
    /// The address stayed taken, and nothing there answered as an actor.
    #[error("{addr} is occupied but did not answer as a registrar within {patience:?}: {reason}")]
    NoAnswer {
        /// The address.
        addr: Address,
        /// The last thing that went wrong there.
        reason: String,
        /// How long the root tried.
        patience: Duration,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Probing the addresses in turn: the next one's index, whether a
    /// registrar answered so far, and the last address that did not answer.
    Probing {
        next: usize,
        registrar: bool,
        silent: Option<(Address, String)>,
    },
    Binding,
    Waiting(Instant),
    Joined,
    Failed(ElectionError),
}

/// A root's choice between being the registrar and being a client of one
/// (spec/PROTOCOL.md §9.1), decided without a race.
///
/// A root probes the registrar addresses: if a registrar answers it joins
/// it as a client; if nobody listens it binds them and is the registrar.
/// Roots that start together can all find nobody and all try to bind; the
/// operating system lets one of them. The others must not fail for that:
/// they probe again, after a short wait, until the winner answers. A
/// listener that accepts but does not answer as an actor (the winner not
/// serving yet, or going away again) is asked again too. Only what lasts
/// [`ELECTION_PATIENCE`] fails the root, as does an actor that answers and
/// is not a registrar (Python's `RuntimeError`).
///
/// ```text
///             +-------+  a registrar answers   +------+
///      +----->| Probe |----------------------->| Join |
///      |      +-------+                        +------+
///      |        |   |  an actor that is not a registrar: Fail
///      |        |   +-- a listener that does not answer --+
///      |        | nobody listens                          |
///      |        v                                         v
///      |      +------+  the address is taken        +------------+
///      |      | Bind |----------------------------->| Wait       |--> Fail, past
///      |      +------+                              | (backoff)  |    the patience
///      |        | bound: the registrar              +------------+
///      |        v                                         |
///      |     (done)                                       |
///      +--------------------------------------------------+
/// ```
///
/// [`Election`] only decides; the driver probes, binds and waits:
///
/// ```
/// use std::time::Instant;
/// use tractor_protocol::{Address, Election, ElectionStep, ProbeAnswer};
///
/// let reg = Address::tcp("127.0.0.1", 1616);
/// let mut election = Election::new(vec![reg.clone()], Instant::now());
/// // Nobody there: bind it.
/// assert_eq!(election.next(Instant::now()), ElectionStep::Probe(reg.clone()));
/// election.probed(&reg, ProbeAnswer::Absent);
/// assert_eq!(election.next(Instant::now()), ElectionStep::Bind);
/// // Another root bound it first: wait, then probe again.
/// election.bind_taken(Instant::now(), &reg, "address in use".into());
/// let ElectionStep::Wait(until) = election.next(Instant::now()) else { panic!() };
/// assert_eq!(election.next(until), ElectionStep::Probe(reg.clone()));
/// // The winner answers: join it.
/// let winner = tractor_protocol::Uid::new("root", "b6f5b0b2-3f8a-4b7e-9c1d-0a1b2c3d4e5f");
/// election.probed(&reg, ProbeAnswer::Registrar(winner));
/// assert_eq!(election.next(until), ElectionStep::Join);
/// ```
#[derive(Debug, Clone)]
pub struct Election {
    addrs: Vec<Address>,
    state: State,
    retry: Duration,
    give_up: Instant,
}

impl Election {
    /// An election over the registrar addresses `addrs` (those that can be
    /// probed: a TCP port 0 names no listener), starting at `now`. With no
    /// address at all, the root binds at once.
    pub fn new(addrs: Vec<Address>, now: Instant) -> Self {
        Election {
            addrs,
            state: State::Probing {
                next: 0,
                registrar: false,
                silent: None,
            },
            retry: RETRY_MIN,
            give_up: now + ELECTION_PATIENCE,
        }
    }

    /// What to do now. Asking again before reporting gives the same step.
    pub fn next(&mut self, now: Instant) -> ElectionStep {
        loop {
            match &self.state {
                State::Probing {
                    next,
                    registrar,
                    silent,
                } => {
                    if let Some(addr) = self.addrs.get(*next) {
                        return ElectionStep::Probe(addr.clone());
                    }
                    if *registrar {
                        self.state = State::Joined;
                    } else if let Some((addr, reason)) = silent.clone() {
                        self.retry_or_fail(now, addr, reason);
                    } else {
                        self.state = State::Binding;
                    }
                }
                State::Binding => return ElectionStep::Bind,
                State::Waiting(until) if now < *until => return ElectionStep::Wait(*until),
                State::Waiting(_) => {
                    self.state = State::Probing {
                        next: 0,
                        registrar: false,
                        silent: None,
                    }
                }
                State::Joined => return ElectionStep::Join,
                State::Failed(e) => return ElectionStep::Fail(e.clone()),
            }
        }
    }

    /// The probe of `addr` (from [`ElectionStep::Probe`]) got `answer`.
    pub fn probed(&mut self, addr: &Address, answer: ProbeAnswer) {
        let State::Probing {
            next,
            registrar,
            silent,
        } = &mut self.state
        else {
            return;
        };
        if self.addrs.get(*next) != Some(addr) {
            return;
        }
        *next += 1;
        match answer {
            ProbeAnswer::Registrar(_) => *registrar = true,
            ProbeAnswer::NotARegistrar(peer) => {
                self.state = State::Failed(ElectionError::NotARegistrar {
                    addr: addr.clone(),
                    peer,
                });
            }
            ProbeAnswer::Silent(reason) => *silent = Some((addr.clone(), reason)),
            ProbeAnswer::Refused(reason) => {
                self.state = State::Failed(ElectionError::Refused {
                    addr: addr.clone(),
                    reason,
                });
            }
            ProbeAnswer::Absent => {}
        }
    }

    /// Binding (from [`ElectionStep::Bind`]) failed because `addr`, one of
    /// the registrar addresses, is taken: another root was faster, or is
    /// going away.
    pub fn bind_taken(&mut self, now: Instant, addr: &Address, reason: String) {
        if self.state == State::Binding {
            self.retry_or_fail(now, addr.clone(), format!("cannot listen on it: {reason}"));
        }
    }

    fn retry_or_fail(&mut self, now: Instant, addr: Address, reason: String) {
        let until = now + self.retry;
        if until > self.give_up {
            self.state = State::Failed(ElectionError::NoAnswer {
                addr,
                reason,
                patience: ELECTION_PATIENCE,
            });
            return;
        }
        self.retry = (self.retry * 2).min(RETRY_MAX);
        self.state = State::Waiting(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_authentication_fails_at_once() {
        let now = Instant::now();
        let a = Address::tcp("127.0.0.1", 1616);
        let mut e = Election::new(vec![a.clone()], now);
        assert_eq!(e.next(now), ElectionStep::Probe(a.clone()));
        e.probed(
            &a,
            ProbeAnswer::from_close(&CloseReason::Auth(crate::AuthError::BadProof)),
        );
        assert_eq!(
            e.next(now),
            ElectionStep::Fail(ElectionError::Refused {
                addr: a,
                reason: crate::AuthError::BadProof,
            })
        );
    }

    fn tcp(port: u16) -> Address {
        Address::tcp("127.0.0.1", port)
    }

    fn uid(name: &str) -> Uid {
        Uid::new(name, "00000000-0000-4000-8000-000000000000")
    }

    #[test]
    fn nobody_there_binds_a_registrar_there_joins() {
        let t0 = Instant::now();
        let mut e = Election::new(vec![tcp(1), tcp(2)], t0);
        assert_eq!(e.next(t0), ElectionStep::Probe(tcp(1)));
        e.probed(&tcp(1), ProbeAnswer::Absent);
        assert_eq!(e.next(t0), ElectionStep::Probe(tcp(2)));
        e.probed(&tcp(2), ProbeAnswer::Absent);
        assert_eq!(e.next(t0), ElectionStep::Bind);

        let mut e = Election::new(vec![tcp(1), tcp(2)], t0);
        e.probed(&tcp(1), ProbeAnswer::Absent);
        e.probed(&tcp(2), ProbeAnswer::Registrar(uid("reg")));
        assert_eq!(e.next(t0), ElectionStep::Join);

        // Nothing to probe (a port-0 registrar): bind at once.
        assert_eq!(Election::new(Vec::new(), t0).next(t0), ElectionStep::Bind);
    }

    #[test]
    fn a_lost_bind_probes_again_and_joins_the_winner() {
        let t0 = Instant::now();
        let mut e = Election::new(vec![tcp(1616)], t0);
        e.probed(&tcp(1616), ProbeAnswer::Absent);
        assert_eq!(e.next(t0), ElectionStep::Bind);
        e.bind_taken(t0, &tcp(1616), "Address already in use".into());
        let ElectionStep::Wait(until) = e.next(t0) else {
            panic!("a wait")
        };
        assert!(until > t0);
        assert_eq!(
            e.next(until - Duration::from_millis(1)),
            ElectionStep::Wait(until)
        );
        // The winner listens but does not answer yet: again, after a longer
        // wait.
        assert_eq!(e.next(until), ElectionStep::Probe(tcp(1616)));
        e.probed(&tcp(1616), ProbeAnswer::Silent("no handshake".into()));
        let ElectionStep::Wait(later) = e.next(until) else {
            panic!("a wait")
        };
        assert!(later - until > until - t0, "the wait grows");
        assert_eq!(e.next(later), ElectionStep::Probe(tcp(1616)));
        e.probed(&tcp(1616), ProbeAnswer::Registrar(uid("winner")));
        assert_eq!(e.next(later), ElectionStep::Join);
    }

    #[test]
    fn a_probe_that_gets_no_handshake_is_asked_again() {
        // Scenario disc-probe-retry: the first probe's handshake never
        // comes (the core closes it at its handshake deadline); after one
        // short wait the second gets a registrar's.
        let t0 = Instant::now();
        let mut e = Election::new(vec![tcp(1616)], t0);
        let stalled = CloseReason::HandshakeTimeout(Duration::from_millis(100));
        e.probed(&tcp(1616), ProbeAnswer::from_close(&stalled));
        assert_eq!(e.next(t0), ElectionStep::Wait(t0 + RETRY_MIN));
        assert_eq!(e.next(t0 + RETRY_MIN), ElectionStep::Probe(tcp(1616)));
        e.probed(&tcp(1616), ProbeAnswer::Registrar(uid("registrar")));
        assert_eq!(e.next(t0 + RETRY_MIN), ElectionStep::Join);
        // A refused connection is nobody, not a stall.
        let refused = CloseReason::ConnectFailed("connection refused".into());
        assert_eq!(ProbeAnswer::from_close(&refused), ProbeAnswer::Absent);
    }

    #[test]
    fn a_winner_gone_again_leaves_the_address_to_bind() {
        let t0 = Instant::now();
        let mut e = Election::new(vec![tcp(1616)], t0);
        e.probed(&tcp(1616), ProbeAnswer::Absent);
        assert_eq!(e.next(t0), ElectionStep::Bind);
        e.bind_taken(t0, &tcp(1616), "in use".into());
        let ElectionStep::Wait(until) = e.next(t0) else {
            panic!("a wait")
        };
        e.next(until);
        e.probed(&tcp(1616), ProbeAnswer::Absent);
        assert_eq!(e.next(until), ElectionStep::Bind);
    }

    #[test]
    fn an_actor_that_is_not_a_registrar_fails_at_once() {
        let t0 = Instant::now();
        let mut e = Election::new(vec![tcp(1616)], t0);
        e.probed(&tcp(1616), ProbeAnswer::NotARegistrar(uid("worker")));
        let ElectionStep::Fail(err) = e.next(t0) else {
            panic!("a failure")
        };
        assert_eq!(
            err.to_string(),
            format!(
                "{} is taken by {}, which is not a registrar",
                tcp(1616),
                uid("worker")
            )
        );
    }

    #[test]
    fn a_silent_listener_fails_after_the_patience() {
        let t0 = Instant::now();
        let mut e = Election::new(vec![tcp(1616)], t0);
        let mut now = t0;
        let mut probes = 0;
        let err = loop {
            match e.next(now) {
                ElectionStep::Probe(addr) => {
                    probes += 1;
                    e.probed(&addr, ProbeAnswer::Silent("the peer closed".into()));
                }
                ElectionStep::Wait(until) => now = until,
                ElectionStep::Fail(err) => break err,
                other => panic!("{other:?}"),
            }
        };
        assert!(now - t0 <= ELECTION_PATIENCE);
        assert!(now - t0 + RETRY_MAX > ELECTION_PATIENCE);
        assert!(probes > 10, "{probes} probes");
        assert!(
            err.to_string().contains("occupied but did not answer"),
            "{err}"
        );
    }

    #[test]
    fn late_or_foreign_reports_change_nothing() {
        let t0 = Instant::now();
        let mut e = Election::new(vec![tcp(1)], t0);
        e.probed(&tcp(9), ProbeAnswer::Registrar(uid("other")));
        e.bind_taken(t0, &tcp(1), "in use".into());
        assert_eq!(e.next(t0), ElectionStep::Probe(tcp(1)));
    }
}
