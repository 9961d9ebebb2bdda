//! Supervised daemon actors, restarted by Erlang/OTP's strategies: the
//! core's `Supervisor` decides which child starts, stops or restarts and
//! when the supervisor gives up; this carries its actions out with real
//! processes and reports how each one ended.

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use serde::Serialize;
use tractor_protocol::{
    ChildId, ChildKey, ChildSpec, Escalation, Exit, ExitStatus, Intensity, Raw, Restart,
    RestartStrategy, Supervisor, SupervisorAction,
};

use crate::engine::Shared;
use crate::error::{Error, ErrorKind, Result};
use crate::future::ApiFuture;
use crate::handle::ActorHandle;
use crate::nursery::{ActorNursery, ActorOptions};
use crate::payload::encode_args;
use crate::portal::{Portal, ResultCell};
use crate::runtime::BoxFuture;

/// How a supervisor restarts its children (see
/// [`ActorHandle::open_supervisor`]): OTP's strategy and restart
/// intensity. The default is one-for-one, at most 1 restart in 5 s.
#[derive(Debug, Clone, Copy)]
pub struct SupervisorOptions {
    /// Which children restart together when one must.
    pub strategy: RestartStrategy,
    /// How many restarts, in how long, before the supervisor gives up.
    pub intensity: Intensity,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        SupervisorOptions::new(RestartStrategy::OneForOne)
    }
}

impl SupervisorOptions {
    /// `strategy`, with the default intensity.
    pub fn new(strategy: RestartStrategy) -> Self {
        SupervisorOptions {
            strategy,
            intensity: Intensity::default(),
        }
    }

    /// At most `max_restarts` restarts in any `period`; one more makes the
    /// supervisor stop its children and fail.
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.intensity = Intensity::new(max_restarts, period);
        self
    }
}

/// A child of a supervisor: a daemon actor, its restart policy and,
/// optionally, a main function it runs while it lives.
///
/// Without a main function the child serves calls until it is stopped;
/// its process ending on its own with exit code 0 is a normal exit, any
/// other end (a crash, a signal, someone else cancelling it) is a failure.
/// With one, the child's work is that call: its return is a normal exit,
/// its error a failure; the child is then stopped and, as its policy says,
/// started again.
#[derive(Debug, Clone)]
pub struct SupervisedActor {
    name: String,
    options: ActorOptions,
    restart: Restart,
    main: Option<MainCall>,
}

#[derive(Debug, Clone)]
struct MainCall {
    ns: String,
    func: String,
    /// The encoded arguments, or why they did not encode.
    kwargs: std::result::Result<Raw, String>,
}

impl SupervisedActor {
    /// A permanent child named `name`, started with `options`.
    pub fn new(name: impl Into<String>, options: ActorOptions) -> Self {
        SupervisedActor {
            name: name.into(),
            options,
            restart: Restart::Permanent,
            main: None,
        }
    }

    /// Its restart policy: permanent (the default: always restarted),
    /// transient (restarted only after a failure) or temporary (never).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Runs `ns:func(**args)` in each incarnation of the child once it is
    /// up (its namespace is enabled for it); the call's end is the
    /// child's. The arguments are encoded at once; an encoding error fails
    /// [`ActorSupervisor::start_child`].
    pub fn main(
        mut self,
        ns: impl Into<String>,
        func: impl Into<String>,
        args: impl Serialize,
    ) -> Self {
        let ns = ns.into();
        if !self.options.enable_modules.contains(&ns) {
            self.options.enable_modules.push(ns.clone());
        }
        self.main = Some(MainCall {
            ns,
            func: func.into(),
            kwargs: encode_args(&args).map_err(|e| e.to_string()),
        });
        self
    }

    /// Its name: every incarnation registers under it.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A supervisor over daemon actors (see [`ActorHandle::open_supervisor`]);
/// clones share it.
#[derive(Clone)]
pub struct ActorSupervisor {
    shared: Arc<Shared>,
    nursery: ActorNursery,
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for ActorSupervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("ActorSupervisor")
            .field("strategy", &inner.core.strategy())
            .field("children", &inner.slots.len())
            .field("restarts", &inner.restarts)
            .finish()
    }
}

struct Inner {
    core: Supervisor,
    slots: HashMap<ChildKey, Slot>,
    /// Keys in the order the children were added.
    order: Vec<ChildKey>,
    /// How the supervisor ended: after a shutdown, or giving up.
    ended: Option<std::result::Result<(), Escalation>>,
    /// Restarts so far (starts after a child's first).
    restarts: u64,
    /// The loop and the tasks waiting on the supervisor.
    wakers: Vec<Waker>,
}

impl Inner {
    /// Wakes `cx` at the next change (once, however often it asks).
    fn park(&mut self, cx: &Context<'_>) {
        if !self.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            self.wakers.push(cx.waker().clone());
        }
    }

    fn wake(&mut self) {
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }

    fn key_of(&self, name: &str) -> Option<ChildKey> {
        self.order
            .iter()
            .copied()
            .find(|k| self.slots.get(k).is_some_and(|s| s.spec.name == name))
    }
}

struct Slot {
    spec: SupervisedActor,
    run: Run,
    /// Incarnations started so far.
    starts: u64,
    /// A `Stop` came while the child was starting.
    stop_pending: bool,
}

enum Run {
    Down,
    Starting,
    Up {
        child: ChildId,
        portal: Portal,
        main: Option<Arc<ResultCell>>,
        /// How its work ended, once it did (its main call returned).
        verdict: Option<Exit>,
        /// The supervisor asked it to stop.
        stopping: bool,
    },
}

impl ActorSupervisor {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `child` after the current children and waits until it is up:
    /// the portal to its first incarnation. If that start fails, the
    /// child's policy decides, as for any failure; the call returns once
    /// an incarnation is up, or with the supervisor's error if it gives
    /// up first. Later incarnations are reached by name:
    /// [`ActorSupervisor::portal`], or [`ActorHandle::wait_for_actor`]
    /// from anywhere in the tree.
    #[track_caller]
    pub fn start_child(&self, child: SupervisedActor) -> ApiFuture<'_, Result<Portal>> {
        ApiFuture::new("ActorSupervisor::start_child", async move {
            if let Some(MainCall {
                kwargs: Err(why), ..
            }) = &child.main
            {
                return Err(Error::runtime(format!(
                    "the arguments of {}'s main function do not encode: {why}",
                    child.name
                )));
            }
            let name = child.name.clone();
            let key = {
                let mut inner = self.lock();
                let spec = ChildSpec::new(child.name.clone(), child.restart);
                let key = inner
                    .core
                    .add_child(spec)
                    .map_err(|e| Error::runtime(format!("cannot supervise {name}: {e}")))?;
                inner.slots.insert(
                    key,
                    Slot {
                        spec: child,
                        run: Run::Down,
                        starts: 0,
                        stop_pending: false,
                    },
                );
                inner.order.push(key);
                inner.wake();
                key
            };
            self.wait_up(key, &name).await
        })
    }

    /// A portal to the current incarnation of the child named `name`,
    /// waiting while it is being (re)started. Fails if no such child is
    /// supervised (any more: a temporary child, or a transient one that
    /// exited normally, is gone), or once the supervisor has ended.
    #[track_caller]
    pub fn portal(&self, name: impl Into<String>) -> ApiFuture<'_, Result<Portal>> {
        let name = name.into();
        ApiFuture::new("ActorSupervisor::portal", async move {
            let key = self.lock().key_of(&name);
            match key {
                Some(key) => self.wait_up(key, &name).await,
                None => Err(Error::runtime(format!(
                    "no supervised child is named {name}"
                ))),
            }
        })
    }

    /// Waits until the child `key` is up; its portal.
    async fn wait_up(&self, key: ChildKey, name: &str) -> Result<Portal> {
        poll_fn(|cx| {
            let mut inner = self.lock();
            if let Some(ended) = &inner.ended {
                return Poll::Ready(Err(ended_error(ended)));
            }
            match inner.slots.get(&key) {
                None => {
                    return Poll::Ready(Err(Error::runtime(format!(
                        "the supervised child {name} has ended and is not restarted"
                    ))));
                }
                Some(Slot {
                    run:
                        Run::Up {
                            child,
                            portal,
                            stopping: false,
                            verdict: None,
                            ..
                        },
                    ..
                }) => {
                    // Not one that died and is not reaped yet: the next
                    // incarnation is waited for instead.
                    let child = *child;
                    let alive = self.shared.with(|st, _| {
                        let alive = st.children.get(&child).is_some_and(|c| {
                            c.exited.is_none()
                                && c.failed.is_none()
                                && c.channel.is_some_and(|ch| st.actor.peer(ch).is_some())
                        });
                        if !alive {
                            st.wake_on_change(cx);
                        }
                        alive
                    });
                    if alive {
                        return Poll::Ready(Ok(portal.clone()));
                    }
                }
                Some(_) => {}
            }
            inner.park(cx);
            Poll::Pending
        })
        .await
    }

    /// How many restarts the supervisor has made so far.
    pub fn restarts(&self) -> u64 {
        self.lock().restarts
    }

    /// Stops every child, last-added first, and ends the supervisor;
    /// returns once all have exited. The supervisor's body goes on; what
    /// it asks of the supervisor afterwards fails.
    #[track_caller]
    pub fn shutdown(&self) -> impl Future<Output = ()> + '_ {
        crate::task_record::api("ActorSupervisor::shutdown", async move {
            {
                let mut inner = self.lock();
                inner.core.shutdown();
                inner.wake();
            }
            let _ = self.wait().await;
        })
    }

    /// Waits until the supervisor ends: `Ok` after a shutdown, or the
    /// error of a supervisor that gave up (a child failed more often than
    /// its intensity allows). A body that has nothing else to do awaits
    /// this to keep its children supervised until then.
    #[track_caller]
    pub fn wait(&self) -> impl Future<Output = Result<()>> + '_ {
        crate::task_record::api("ActorSupervisor::wait", async move {
            poll_fn(|cx| {
                let mut inner = self.lock();
                if let Some(ended) = &inner.ended
                    && inner.slots.values().all(|s| matches!(s.run, Run::Down))
                {
                    return Poll::Ready(match ended {
                        Ok(()) => Ok(()),
                        Err(e) => Err(ErrorKind::SupervisorFailed(e.clone()).into()),
                    });
                }
                inner.park(cx);
                Poll::Pending
            })
            .await
        })
    }
}

/// What a supervisor that has ended answers.
fn ended_error(ended: &std::result::Result<(), Escalation>) -> Error {
    match ended {
        Ok(()) => Error::runtime("the supervisor has shut down"),
        Err(e) => ErrorKind::SupervisorFailed(e.clone()).into(),
    }
}

/// How a child's process ended, when the supervisor had not asked.
fn exit_of(status: Option<ExitStatus>, failed: Option<&str>) -> Exit {
    match (status, failed) {
        (Some(s), _) if s.code == Some(0) => Exit::Normal,
        (Some(s), _) => Exit::Failed(format!("its process ended: {s}")),
        (None, Some(why)) => Exit::Failed(why.to_owned()),
        (None, None) => Exit::Failed("its process is gone".to_owned()),
    }
}

/// The first line of an error: enough to say why, in a log or an
/// escalation.
fn headline(e: &Error) -> String {
    let text = match e.remote() {
        // `ValueError: no such key`, from the function that raised it.
        Some(r) => format!("{}: {}", r.boxed_type(), r.text()),
        None => e.to_string(),
    };
    text.lines().next().unwrap_or_default().to_owned()
}

/// Carries out the supervisor's actions and reports its children's ends.
struct Driver {
    shared: Arc<Shared>,
    sup: ActorSupervisor,
    starting: Vec<(ChildKey, BoxFuture<'static, Result<Vec<Portal>>>)>,
}

impl Driver {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), Escalation>> {
        loop {
            let mut progress = self.carry_out_actions();
            progress |= self.poll_starts(cx);
            progress |= self.poll_mains(cx);
            progress |= self.reap_exits(cx);
            if progress {
                continue;
            }
            let mut inner = self.sup.lock();
            inner.park(cx);
            if let Some(ended) = &inner.ended
                && self.starting.is_empty()
                && inner.slots.values().all(|s| matches!(s.run, Run::Down))
            {
                return Poll::Ready(ended.clone());
            }
            return Poll::Pending;
        }
    }

    fn carry_out_actions(&mut self) -> bool {
        let mut progress = false;
        loop {
            let mut inner = self.sup.lock();
            let Some(action) = inner.core.poll_action() else {
                return progress;
            };
            progress = true;
            match action {
                SupervisorAction::Start(key) => {
                    let Some(slot) = inner.slots.get_mut(&key) else {
                        continue;
                    };
                    slot.run = Run::Starting;
                    slot.stop_pending = false;
                    slot.starts += 1;
                    if slot.starts > 1 {
                        inner.restarts += 1;
                    }
                    let slot = &inner.slots[&key];
                    let batch = vec![(slot.spec.name.clone(), slot.spec.options.clone())];
                    tracing::info!(target: "tractor::runtime", child = %slot.spec.name, incarnation = slot.starts, "supervisor starting a child");
                    drop(inner);
                    let nursery = self.sup.nursery.clone();
                    self.starting.push((
                        key,
                        Box::pin(async move { nursery.start_batch(batch).await }),
                    ));
                }
                SupervisorAction::Stop(key) => {
                    let Some(slot) = inner.slots.get_mut(&key) else {
                        continue;
                    };
                    match &mut slot.run {
                        Run::Up {
                            child, stopping, ..
                        } => {
                            *stopping = true;
                            let child = *child;
                            tracing::info!(target: "tractor::runtime", child = %slot.spec.name, "supervisor stopping a child");
                            drop(inner);
                            self.shared
                                .with(|st, now| st.actor.cancel_child(now, child));
                        }
                        Run::Starting => slot.stop_pending = true,
                        Run::Down => {}
                    }
                }
                SupervisorAction::Escalate(e) => {
                    tracing::error!(target: "tractor::runtime", error = %e, "supervisor gives up");
                    inner.ended = Some(Err(e));
                    inner.wake();
                }
                SupervisorAction::Done => {
                    inner.ended = Some(Ok(()));
                    inner.wake();
                }
            }
        }
    }

    fn poll_starts(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let mut i = 0;
        while i < self.starting.len() {
            let Poll::Ready(started) = self.starting[i].1.as_mut().poll(cx) else {
                i += 1;
                continue;
            };
            progress = true;
            let (key, _) = self.starting.swap_remove(i);
            let mut inner = self.sup.lock();
            let inner = &mut *inner;
            let Some(slot) = inner.slots.get_mut(&key) else {
                continue;
            };
            match started.map(|mut p| p.pop().expect("one portal for one child")) {
                Ok(portal) => {
                    let child = portal.child.expect("a child's portal");
                    let stopping = slot.stop_pending;
                    let main = match (&slot.spec.main, stopping) {
                        (Some(m), false) => {
                            let kwargs = m.kwargs.clone().unwrap_or(Raw::EMPTY_MAP);
                            match portal.start_call(&m.ns, &m.func, kwargs) {
                                Ok(cell) => Some(cell),
                                Err(e) => {
                                    tracing::warn!(target: "tractor::runtime", child = %slot.spec.name, error = %e, "the main function could not be called");
                                    None
                                }
                            }
                        }
                        _ => None,
                    };
                    slot.run = Run::Up {
                        child,
                        portal,
                        main,
                        verdict: None,
                        stopping,
                    };
                    if stopping {
                        self.shared
                            .with(|st, now| st.actor.cancel_child(now, child));
                    }
                    if let Err(e) = inner.core.child_started(key) {
                        tracing::debug!(target: "tractor::runtime", error = %e, "start not taken");
                    }
                }
                Err(e) => {
                    slot.run = Run::Down;
                    let exit = Exit::Failed(headline(&e));
                    tracing::warn!(target: "tractor::runtime", child = %slot.spec.name, %exit, "a supervised child could not be started");
                    report_exit(inner, key, exit);
                }
            }
            inner.wake();
        }
        progress
    }

    fn poll_mains(&mut self, cx: &mut Context<'_>) -> bool {
        let mut ended = Vec::new();
        {
            let mut inner = self.sup.lock();
            for slot in inner.slots.values_mut() {
                let Run::Up {
                    child,
                    main: Some(cell),
                    verdict: verdict @ None,
                    stopping,
                    ..
                } = &mut slot.run
                else {
                    continue;
                };
                let Poll::Ready(outcome) = cell.poll(cx) else {
                    continue;
                };
                let exit = match outcome {
                    Ok(_) => Exit::Normal,
                    Err(_) if *stopping => Exit::Cancelled,
                    Err(e) => Exit::Failed(headline(&e)),
                };
                tracing::info!(target: "tractor::runtime", child = %slot.spec.name, %exit, "a supervised child's main function ended");
                *verdict = Some(exit);
                ended.push(*child);
            }
            if !ended.is_empty() {
                inner.wake();
            }
        }
        // Its work is over: the process goes, and its end is reported
        // once it has.
        for child in &ended {
            self.shared
                .with(|st, now| st.actor.cancel_child(now, *child));
        }
        !ended.is_empty()
    }

    fn reap_exits(&mut self, cx: &mut Context<'_>) -> bool {
        let up: Vec<(ChildKey, ChildId)> = {
            let inner = self.sup.lock();
            inner
                .slots
                .iter()
                .filter_map(|(k, s)| match s.run {
                    Run::Up { child, .. } => Some((*k, child)),
                    _ => None,
                })
                .collect()
        };
        let gone: Vec<(ChildKey, Option<ExitStatus>, Option<String>)> =
            self.shared.with(|st, _| {
                let gone = up
                    .iter()
                    .filter_map(|(key, child)| match st.children.get(child) {
                        None => Some((*key, None, None)),
                        Some(c) if c.exited.is_some() || c.failed.is_some() => {
                            let out = (*key, c.exited, c.failed.clone());
                            st.children.remove(child);
                            Some(out)
                        }
                        Some(_) => None,
                    })
                    .collect::<Vec<_>>();
                if gone.is_empty() {
                    st.wake_on_change(cx);
                }
                gone
            });
        if gone.is_empty() {
            return false;
        }
        let mut inner = self.sup.lock();
        let inner = &mut *inner;
        for (key, status, failed) in gone {
            let Some(slot) = inner.slots.get_mut(&key) else {
                continue;
            };
            let Run::Up {
                stopping, verdict, ..
            } = std::mem::replace(&mut slot.run, Run::Down)
            else {
                continue;
            };
            let exit = match (stopping, verdict) {
                (true, _) => Exit::Cancelled,
                (false, Some(verdict)) => verdict,
                (false, None) => exit_of(status, failed.as_deref()),
            };
            if !stopping {
                tracing::warn!(target: "tractor::runtime", child = %slot.spec.name, %exit, "a supervised child ended");
            }
            report_exit(inner, key, exit);
        }
        inner.wake();
        true
    }
}

/// Tells the core how child `key` ended; forgets it if the core did.
fn report_exit(inner: &mut Inner, key: ChildKey, exit: Exit) {
    if let Err(e) = inner.core.child_exited(key, exit, Instant::now()) {
        tracing::debug!(target: "tractor::runtime", error = %e, "exit not taken");
    }
    if inner.core.child_state(key).is_none() {
        inner.slots.remove(&key);
        inner.order.retain(|k| *k != key);
    }
}

impl ActorHandle {
    /// Opens a supervisor over daemon actors, runs `body` with it, and
    /// returns the body's value once every child has been stopped.
    ///
    /// Children are added with [`ActorSupervisor::start_child`]. When one
    /// ends without being asked to, the supervisor restarts it, and the
    /// children its [`RestartStrategy`] ties to it, as its policy says
    /// ([`Restart`]): each incarnation is a new process registered under
    /// the same name, so [`ActorHandle::find_actor`] and
    /// [`ActorHandle::wait_for_actor`] reach the new one, and a portal
    /// held to the dead one fails naming it. More restarts within the
    /// [`Intensity`]'s period than it allows make the supervisor give up:
    /// it stops every child, last-added first, the body is dropped, and
    /// the call fails with [`ErrorKind::SupervisorFailed`], which climbs
    /// the tree like any error (a supervisor nested in a child's main
    /// function fails that child, which its own supervisor then restarts
    /// or gives up on in turn).
    ///
    /// The body's end shuts the supervisor down: its children are stopped
    /// last-added first. A body with nothing else to do awaits
    /// [`ActorSupervisor::wait`]. A body that fails stops the children the
    /// same way, and the call fails with its error.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use tractor_driver::{ActorHandle, ActorOptions, Result, Restart, RestartStrategy,
    /// #     SupervisedActor, SupervisorOptions};
    /// # async fn demo(actor: ActorHandle) -> Result<()> {
    /// let options =
    ///     SupervisorOptions::new(RestartStrategy::OneForOne).intensity(3, Duration::from_secs(5));
    /// actor
    ///     .open_supervisor(options, |sup| async move {
    ///         let serve = ActorOptions::new().enable_modules(["db"]);
    ///         sup.start_child(SupervisedActor::new("db", serve.clone())).await?;
    ///         sup.start_child(SupervisedActor::new("cache", serve).restart(Restart::Transient))
    ///             .await?;
    ///         // Keep them up until the supervisor gives up (or ctrl-c).
    ///         sup.wait().await
    ///     })
    ///     .await
    /// # }
    /// ```
    #[track_caller]
    pub fn open_supervisor<F, Fut, T>(
        &self,
        options: SupervisorOptions,
        body: F,
    ) -> impl Future<Output = Result<T>>
    where
        F: FnOnce(ActorSupervisor) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let shared = self.shared.clone();
        crate::task_record::api("ActorHandle::open_supervisor", async move {
            self.open_nursery(move |nursery| async move {
                let sup = ActorSupervisor {
                    shared: shared.clone(),
                    nursery,
                    inner: Arc::new(Mutex::new(Inner {
                        core: Supervisor::new(options.strategy, options.intensity),
                        slots: HashMap::new(),
                        order: Vec::new(),
                        ended: None,
                        restarts: 0,
                        wakers: Vec::new(),
                    })),
                };
                supervise(shared, sup.clone(), body(sup)).await
            })
            .await
        })
    }
}

/// Runs `body` beside the supervisor's driver: the body's end shuts the
/// supervisor down; the supervisor giving up drops the body.
async fn supervise<T>(
    shared: Arc<Shared>,
    sup: ActorSupervisor,
    body: impl Future<Output = Result<T>>,
) -> Result<T> {
    let mut driver = Driver {
        shared,
        sup: sup.clone(),
        starting: Vec::new(),
    };
    let mut body = pin!(body);
    let mut outcome: Option<Result<T>> = None;
    let ended = poll_fn(|cx| {
        if outcome.is_none()
            && let Poll::Ready(out) = body.as_mut().poll(cx)
        {
            if let Err(e) = &out {
                tracing::info!(target: "tractor::runtime", error = %crate::log::failure(e), "the supervisor's body failed: stopping its children");
            }
            outcome = Some(out);
            let mut inner = sup.lock();
            inner.core.shutdown();
        }
        match driver.poll(cx) {
            // Given up: the body goes.
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) if outcome.is_some() => Poll::Ready(Ok(())),
            // Shut down from the body, which goes on.
            Poll::Ready(Ok(())) | Poll::Pending => Poll::Pending,
        }
    })
    .await;
    match ended {
        Err(e) => Err(ErrorKind::SupervisorFailed(e).into()),
        Ok(()) => outcome.expect("the body ended"),
    }
}
