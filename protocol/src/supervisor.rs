//! Restart decisions for long-lived children, after Erlang/OTP's
//! supervisors (spec/DIALOGS.md, "Supervision"): see [`Supervisor`].
//!
//! Like the rest of the core this reads no clock and starts nothing: the
//! driver reports what its children did (with `now` where time matters)
//! and carries out the [`SupervisorAction`]s it polls.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// The most children one supervisor holds; [`Supervisor::add_child`]
/// refuses more with [`SupervisorError::TooManyChildren`].
pub const MAX_SUPERVISED_CHILDREN: usize = 1024;

/// Which children a supervisor restarts when one of them must be
/// restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestartStrategy {
    /// Only the child that exited is started again; its siblings are left
    /// alone.
    OneForOne,
    /// The child that exited and every child added after it: the later
    /// ones are stopped (the last one first), then all of them are started
    /// again in the order they were added.
    RestForOne,
    /// Every child: the others are stopped (the last one first), then all
    /// of them are started again in the order they were added.
    OneForAll,
}

/// When a child is started again after it exits on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Restart {
    /// Always, however it exited.
    Permanent,
    /// Only after an abnormal exit (`Exit::Failed`, or `Exit::Cancelled`
    /// that the supervisor did not ask for); a normal exit removes it.
    Transient,
    /// Never: any exit removes it, and a sibling's restart that stops it
    /// removes it too.
    Temporary,
}

/// How many restarts a supervisor makes in a sliding window of time
/// before it gives up and fails.
///
/// The default, as in OTP, is one restart in five seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Intensity {
    /// The most restarts allowed inside any window of `period`; one more
    /// makes the supervisor fail. `0` fails at the first restart.
    pub max_restarts: u32,
    /// The length of the window. A restart made at `t` is inside the
    /// window at `now` while `now - t < period`.
    pub period: Duration,
}

impl Intensity {
    /// At most `max_restarts` restarts inside any window of `period`.
    pub fn new(max_restarts: u32, period: Duration) -> Self {
        Intensity {
            max_restarts,
            period,
        }
    }
}

impl Default for Intensity {
    /// One restart in five seconds (OTP's default).
    fn default() -> Self {
        Intensity::new(1, Duration::from_secs(5))
    }
}

/// A child to supervise: a name unique among the supervisor's children and
/// its restart policy. What the child runs is the driver's business; the
/// supervisor knows it by its [`ChildKey`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChildSpec {
    /// The child's name, unique among its supervisor's current children.
    pub name: String,
    /// When it is restarted.
    pub restart: Restart,
}

impl ChildSpec {
    /// A child named `name` with the restart policy `restart`.
    pub fn new(name: impl Into<String>, restart: Restart) -> Self {
        ChildSpec {
            name: name.into(),
            restart,
        }
    }
}

/// A supervisor's handle on one of its children. Keys are never reused,
/// even after the child is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildKey(u64);

impl fmt::Display for ChildKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "child#{}", self.0)
    }
}

/// How a child ended, as the driver reports it with
/// [`Supervisor::child_exited`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Exit {
    /// It finished on its own without error.
    Normal,
    /// It failed (or could not be started); the text says why.
    Failed(String),
    /// It was cancelled or killed. After a `SupervisorAction::Stop` for it
    /// this is the expected end; otherwise somebody else ended it, which
    /// counts as abnormal.
    Cancelled,
}

impl Exit {
    /// Whether this exit, not asked for by the supervisor, is abnormal
    /// (anything but `Exit::Normal`).
    pub fn is_abnormal(&self) -> bool {
        !matches!(self, Exit::Normal)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Normal => f.write_str("exited normally"),
            Exit::Failed(reason) => write!(f, "failed: {reason}"),
            Exit::Cancelled => f.write_str("was cancelled"),
        }
    }
}

/// Why a supervisor failed: one of its children needed a restart that
/// would exceed its [`Intensity`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error(
    "child `{child}` {exit}; restarting it would exceed {} restarts in {:?}",
    intensity.max_restarts,
    intensity.period
)]
pub struct Escalation {
    /// The name of the child whose exit was one restart too many.
    pub child: String,
    /// How it exited.
    pub exit: Exit,
    /// The supervisor's intensity that was exceeded.
    pub intensity: Intensity,
}

impl From<Escalation> for Exit {
    /// A supervisor's failure as its parent supervisor sees it: an abnormal
    /// exit of one of its children.
    fn from(escalation: Escalation) -> Self {
        Exit::Failed(escalation.to_string())
    }
}

/// What the driver carries out for a supervisor, polled with
/// [`Supervisor::poll_action`] and carried out in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorAction {
    /// Start this child, then report `Supervisor::child_started` (or
    /// `Supervisor::child_exited` if it could not be started).
    Start(ChildKey),
    /// Stop (cancel) this running child, then report its exit with
    /// `Supervisor::child_exited`. Several come last-added first.
    Stop(ChildKey),
    /// The supervisor failed: its restart intensity was exceeded. Every
    /// child has exited by now. To a parent supervisor this is the exit
    /// `Exit::Failed` of one of its children (`Exit::from`).
    Escalate(Escalation),
    /// The supervisor was shut down and every child has exited. To a
    /// parent supervisor that asked for it this is the exit it awaited.
    Done,
}

/// Where a child is, as its supervisor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChildState {
    /// Not running: waiting to be started (or, once the supervisor has
    /// ended, never to be started again).
    Down,
    /// `SupervisorAction::Start` was emitted; `child_started` not yet
    /// reported.
    Starting,
    /// Started and running.
    Running,
    /// `SupervisorAction::Stop` was emitted; its exit not yet reported.
    Stopping,
}

/// Where the supervisor itself is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SupervisorState {
    /// Supervising: children are started and restarted.
    Active,
    /// `Supervisor::shutdown` was called; children are being stopped.
    ShuttingDown,
    /// The intensity was exceeded; children are being stopped before the
    /// supervisor fails.
    Escalating,
    /// `SupervisorAction::Done` was emitted.
    Done,
    /// `SupervisorAction::Escalate` was emitted.
    Failed,
}

/// A supervisor's refusal of a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// A current child has this name already.
    #[error("a child named `{0}` is supervised already")]
    DuplicateName(String),
    /// The supervisor holds the most children it may.
    #[error("a supervisor holds at most {0} children")]
    TooManyChildren(usize),
    /// No current child has this key (it was never added, or was removed).
    #[error("{0} is not supervised here")]
    UnknownChild(ChildKey),
    /// `child_started` for a child whose start was not asked for (or that
    /// was reported started already).
    #[error("{0} was not being started")]
    NotStarting(ChildKey),
    /// `child_exited` for a child that is not running (its exit was
    /// reported already).
    #[error("{0} is not running")]
    NotRunning(ChildKey),
    /// The supervisor is shutting down, failing or ended: it takes no new
    /// children.
    #[error("the supervisor is ending and takes no new children")]
    Ending,
}

#[derive(Debug)]
struct Child {
    key: ChildKey,
    spec: ChildSpec,
    state: ChildState,
}

#[derive(Debug)]
enum Mode {
    Active,
    Stopping(Option<Escalation>),
    Ended(bool),
}

/// The restart decisions of one supervisor over its children, after
/// Erlang/OTP: a [`RestartStrategy`] picks which children restart together, each
/// child's [`Restart`] policy says whether it restarts at all, and an
/// [`Intensity`] bounds how often restarts may happen before the
/// supervisor gives up and fails ([`SupervisorAction::Escalate`]).
///
/// Sans-IO: the driver adds children, reports when each started and how
/// it exited (with `now`), and after every call polls
/// [`Supervisor::poll_action`] until `None`, carrying out each action in
/// order. Rules:
///
/// * Children are started in the order they were added. A child gets a
///   `Start` only while it is down, so never twice without an exit between.
/// * Stops come last-added first. Restarts wait until every stop asked for
///   is confirmed by its exit, then start the children in added order.
/// * An exit after a `Stop` for that child was caused by the supervisor:
///   it is no failure and does not count toward the intensity.
/// * Each other exit that needs a restart counts one restart (a group
///   restart of several children is one). When the restarts inside the
///   window exceed `max_restarts`, every running child is stopped
///   (last-added first) and, once all have exited, the supervisor emits
///   `Escalate` and ends. Only the restarts inside the window are kept.
/// * [`Supervisor::shutdown`] stops every running child last-added first,
///   then emits `Done`. After `Escalate`, `Done` or `shutdown` nothing is
///   started any more.
///
/// Several `Start`s or `Stop`s may be queued at once, in the order OTP
/// carries them out. OTP does them one at a time, each to completion: a
/// driver that does the same (waits for a child to be up before it starts
/// the next, for its exit before it stops the next) gets OTP's sequencing;
/// one that runs them concurrently gets the same children started and
/// stopped, in no guaranteed order. A child may be stopped while its start
/// is still unreported; `child_started` is then still accepted.
///
/// ```
/// use std::time::{Duration, Instant};
/// use tractor_protocol::{
///     ChildSpec, Exit, Intensity, Restart, RestartStrategy, Supervisor, SupervisorAction,
/// };
///
/// let mut sup = Supervisor::new(RestartStrategy::OneForAll, Intensity::default());
/// let db = sup.add_child(ChildSpec::new("db", Restart::Permanent))?;
/// let web = sup.add_child(ChildSpec::new("web", Restart::Permanent))?;
/// assert_eq!(sup.poll_action(), Some(SupervisorAction::Start(db)));
/// assert_eq!(sup.poll_action(), Some(SupervisorAction::Start(web)));
/// sup.child_started(db)?;
/// sup.child_started(web)?;
///
/// // `db` fails: `web` is stopped, then both start again in order.
/// let now = Instant::now();
/// sup.child_exited(db, Exit::Failed("disk full".into()), now)?;
/// assert_eq!(sup.poll_action(), Some(SupervisorAction::Stop(web)));
/// assert_eq!(sup.poll_action(), None);
/// sup.child_exited(web, Exit::Cancelled, now)?;
/// assert_eq!(sup.poll_action(), Some(SupervisorAction::Start(db)));
/// assert_eq!(sup.poll_action(), Some(SupervisorAction::Start(web)));
/// # Ok::<(), tractor_protocol::SupervisorError>(())
/// ```
#[derive(Debug)]
pub struct Supervisor {
    strategy: RestartStrategy,
    intensity: Intensity,
    children: Vec<Child>,
    next_key: u64,
    /// Times of the restarts inside the window, oldest first.
    restarts: VecDeque<Instant>,
    mode: Mode,
    actions: VecDeque<SupervisorAction>,
}

impl Supervisor {
    /// A supervisor with no children yet.
    pub fn new(strategy: RestartStrategy, intensity: Intensity) -> Self {
        Supervisor {
            strategy,
            intensity,
            children: Vec::new(),
            next_key: 0,
            restarts: VecDeque::new(),
            mode: Mode::Active,
            actions: VecDeque::new(),
        }
    }

    /// Its strategy.
    pub fn strategy(&self) -> RestartStrategy {
        self.strategy
    }

    /// Its restart intensity.
    pub fn intensity(&self) -> Intensity {
        self.intensity
    }

    /// Adds a child after the current ones; it is started (a `Start`
    /// action) once no stop is pending.
    pub fn add_child(&mut self, spec: ChildSpec) -> Result<ChildKey, SupervisorError> {
        if !matches!(self.mode, Mode::Active) {
            return Err(SupervisorError::Ending);
        }
        if self.children.iter().any(|c| c.spec.name == spec.name) {
            return Err(SupervisorError::DuplicateName(spec.name));
        }
        if self.children.len() >= MAX_SUPERVISED_CHILDREN {
            return Err(SupervisorError::TooManyChildren(MAX_SUPERVISED_CHILDREN));
        }
        let key = ChildKey(self.next_key);
        self.next_key += 1;
        self.children.push(Child {
            key,
            spec,
            state: ChildState::Down,
        });
        self.drive();
        Ok(key)
    }

    /// The child asked for by `SupervisorAction::Start` is running.
    pub fn child_started(&mut self, key: ChildKey) -> Result<(), SupervisorError> {
        let child = self.child_mut(key)?;
        match child.state {
            ChildState::Starting => child.state = ChildState::Running,
            // Stopped before its start was reported: it stays stopping.
            ChildState::Stopping => {}
            ChildState::Down | ChildState::Running => {
                return Err(SupervisorError::NotStarting(key));
            }
        }
        Ok(())
    }

    /// The child exited (or its start failed) at `now`.
    pub fn child_exited(
        &mut self,
        key: ChildKey,
        exit: Exit,
        now: Instant,
    ) -> Result<(), SupervisorError> {
        let index = self.index_of(key)?;
        let child = &mut self.children[index];
        match child.state {
            ChildState::Down => return Err(SupervisorError::NotRunning(key)),
            ChildState::Stopping => {
                // Asked for: no failure, no restart counted.
                tracing::debug!(child = %child.spec.name, %exit, "supervised child stopped");
                if matches!(self.mode, Mode::Active) && child.spec.restart == Restart::Temporary {
                    self.children.remove(index);
                } else {
                    child.state = ChildState::Down;
                }
            }
            ChildState::Starting | ChildState::Running => {
                let wanted = match child.spec.restart {
                    Restart::Permanent => true,
                    Restart::Transient => exit.is_abnormal(),
                    Restart::Temporary => false,
                };
                if !wanted {
                    tracing::debug!(child = %child.spec.name, %exit, "supervised child removed");
                    self.children.remove(index);
                } else {
                    child.state = ChildState::Down;
                    let name = child.spec.name.clone();
                    self.restart(index, name, exit, now);
                }
            }
        }
        self.drive();
        Ok(())
    }

    /// Stops every running child, last-added first, then emits
    /// `SupervisorAction::Done`. Nothing is started afterwards. Does
    /// nothing if the supervisor is already ending.
    pub fn shutdown(&mut self) {
        if matches!(self.mode, Mode::Active) {
            tracing::debug!("supervisor shutting down");
            self.mode = Mode::Stopping(None);
            self.stop_from(0);
            self.drive();
        }
    }

    /// The next action to carry out, if any.
    pub fn poll_action(&mut self) -> Option<SupervisorAction> {
        self.actions.pop_front()
    }

    /// Where the supervisor is.
    pub fn state(&self) -> SupervisorState {
        match &self.mode {
            Mode::Active => SupervisorState::Active,
            Mode::Stopping(None) => SupervisorState::ShuttingDown,
            Mode::Stopping(Some(_)) => SupervisorState::Escalating,
            Mode::Ended(false) => SupervisorState::Done,
            Mode::Ended(true) => SupervisorState::Failed,
        }
    }

    /// The current children's keys, in the order they were added.
    pub fn children(&self) -> impl Iterator<Item = ChildKey> + '_ {
        self.children.iter().map(|c| c.key)
    }

    /// The spec of a current child.
    pub fn child_spec(&self, key: ChildKey) -> Option<&ChildSpec> {
        self.children.iter().find(|c| c.key == key).map(|c| &c.spec)
    }

    /// Where a current child is (`None` once it was removed).
    pub fn child_state(&self, key: ChildKey) -> Option<ChildState> {
        self.children.iter().find(|c| c.key == key).map(|c| c.state)
    }

    /// How many restarts are inside the window that ends at `now` (never
    /// more than `max_restarts + 1`).
    pub fn restarts_in_window(&self, now: Instant) -> usize {
        let period = self.intensity.period;
        self.restarts
            .iter()
            .filter(|t| in_window(**t, now, period))
            .count()
    }

    fn index_of(&self, key: ChildKey) -> Result<usize, SupervisorError> {
        self.children
            .iter()
            .position(|c| c.key == key)
            .ok_or(SupervisorError::UnknownChild(key))
    }

    fn child_mut(&mut self, key: ChildKey) -> Result<&mut Child, SupervisorError> {
        let index = self.index_of(key)?;
        Ok(&mut self.children[index])
    }

    /// The child at `index` (now down) needs a restart: count it, then
    /// either stop its group for a restart or give up.
    fn restart(&mut self, index: usize, name: String, exit: Exit, now: Instant) {
        if !matches!(self.mode, Mode::Active) {
            return;
        }
        let period = self.intensity.period;
        self.restarts.retain(|t| in_window(*t, now, period));
        self.restarts.push_back(now);
        if self.restarts.len() > self.intensity.max_restarts as usize {
            tracing::warn!(child = %name, %exit, "restart intensity exceeded; supervisor fails");
            self.mode = Mode::Stopping(Some(Escalation {
                child: name,
                exit,
                intensity: self.intensity,
            }));
            self.stop_from(0);
            return;
        }
        tracing::info!(child = %name, %exit, strategy = ?self.strategy, "restarting");
        match self.strategy {
            RestartStrategy::OneForOne => {}
            RestartStrategy::RestForOne => self.stop_from(index + 1),
            RestartStrategy::OneForAll => self.stop_from(0),
        }
    }

    /// Asks every running child from `first` on to stop, last first.
    fn stop_from(&mut self, first: usize) {
        for child in self.children[first..].iter_mut().rev() {
            if matches!(child.state, ChildState::Starting | ChildState::Running) {
                child.state = ChildState::Stopping;
                self.actions.push_back(SupervisorAction::Stop(child.key));
            }
        }
    }

    /// Emits what follows once no stop is pending: the starts of the down
    /// children, or the supervisor's end.
    fn drive(&mut self) {
        if self
            .children
            .iter()
            .any(|c| c.state == ChildState::Stopping)
        {
            return;
        }
        match &mut self.mode {
            Mode::Active => {
                for child in &mut self.children {
                    if child.state == ChildState::Down {
                        child.state = ChildState::Starting;
                        self.actions.push_back(SupervisorAction::Start(child.key));
                    }
                }
            }
            Mode::Stopping(escalation) => {
                let action = match escalation.take() {
                    Some(e) => SupervisorAction::Escalate(e),
                    None => SupervisorAction::Done,
                };
                self.mode = Mode::Ended(matches!(action, SupervisorAction::Escalate(_)));
                self.actions.push_back(action);
            }
            Mode::Ended(_) => {}
        }
    }
}

/// Whether a restart made at `then` is inside the window of `period`
/// ending at `now` (a `then` after `now` is).
fn in_window(then: Instant, now: Instant, period: Duration) -> bool {
    now.checked_duration_since(then)
        .is_none_or(|age| age < period)
}
