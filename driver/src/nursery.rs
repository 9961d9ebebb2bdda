//! Actor nurseries: children spawned together, supervised together.

use std::future::{Future, poll_fn};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::{Duration, Instant};

use serde::Serialize;
use tractor_protocol::{
    Address, ChannelId, ChildId, ExitStatus, NurseryId, RemoteErrorKind, SpawnRequest, Uid,
};

use crate::engine::{ChildState, Shared, State};
use crate::error::{Error, ErrorKind, Result};
use crate::future::ApiFuture;
use crate::launch::Launcher;
use crate::payload::encode_args;
use crate::portal::{Portal, ResultCell};
use crate::runtime::BoxFuture;

/// How to start a child actor.
#[derive(Debug, Clone, Default)]
pub struct ActorOptions {
    /// The namespaces it serves (Python's `enable_modules`).
    pub enable_modules: Vec<String>,
    /// The program to run; by default this very program (it must reach a
    /// tractor entry point, which turns it into the child).
    pub program: Option<PathBuf>,
    /// `program` is a Python interpreter with Python tractor installed
    /// ([`ActorOptions::python`]): its `argv[0]` is its real path rather
    /// than the child's title.
    pub python: bool,
    /// Addresses it must listen on; by default one it picks.
    pub bind_addrs: Option<Vec<Address>>,
    /// Addresses others reach it at, when not where it listens (a
    /// wildcard bind on another host, say): position by position, they
    /// replace its bound addresses in what it gives out, a port 0 taking
    /// the port bound (see [`Config::advertise_addrs`](crate::Config::advertise_addrs)).
    /// They reach the child as `TRACTOR_ADVERTISE_ADDRS`; a child given
    /// none advertises nothing, whatever this actor does.
    pub advertise_addrs: Option<Vec<Address>>,
    /// The debugger for this child (default: the tree's setting).
    pub debug_mode: Option<bool>,
    /// Its log level (default: this actor's).
    pub loglevel: Option<String>,
    /// Environment variables set for its process, besides those it
    /// inherits from this one.
    pub env: Vec<(String, String)>,
    /// Runs its command line through this launcher (see
    /// [`ActorOptions::launcher`]).
    pub launcher: Option<Arc<dyn Launcher>>,
    /// It runs a guest runtime beside its own (see
    /// [`ActorOptions::guest`]).
    pub guest: bool,
}

impl ActorOptions {
    /// Default options: serve nothing, run this program.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves these namespaces too.
    pub fn enable_modules<S: Into<String>>(mut self, ns: impl IntoIterator<Item = S>) -> Self {
        self.enable_modules.extend(ns.into_iter().map(Into::into));
        self
    }

    /// Turns the debugger on or off for this child, whatever the tree's
    /// setting (Python's per-actor `debug_mode`).
    pub fn debug_mode(mut self, on: bool) -> Self {
        self.debug_mode = Some(on);
        self
    }

    /// Gives the child a guest runtime beside its own (see
    /// [`guest`](crate::guest)): tokio in a `tractor-smol` child, smol's
    /// executor in a `tractor-tokio` one, each behind its adapter's
    /// feature (`guest-tokio`, `guest-smol`); its tasks reach it through
    /// [`to_guest`](crate::to_guest). The child is told with Python's
    /// `--asyncio` flag, so a Python child
    /// ([`ActorOptions::python`]) runs in asyncio guest mode
    /// (`infect_asyncio`). A child whose program has no guest fails to
    /// start, saying so.
    ///
    /// ```no_run
    /// # use tractor_driver::prelude::*;
    /// # use tractor_driver::to_guest;
    /// # async fn demo(n: ActorNursery) -> Result<()> {
    /// let worker = n
    ///     .start_actor("worker", ActorOptions::new().enable_modules(["net"]).guest())
    ///     .await?;
    /// # let _ = worker;
    /// # Ok(())
    /// # }
    /// ```
    pub fn guest(mut self) -> Self {
        self.guest = true;
        self
    }

    /// Gives the child this log level instead of this actor's.
    pub fn loglevel(mut self, level: impl Into<String>) -> Self {
        self.loglevel = Some(level.into());
        self
    }

    /// Sets an environment variable for the child's process (and so,
    /// unless they change it, for its own children).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Starts the child through `launcher`: on another host (`ssh`,
    /// `srun`, `kubectl exec`) or in another network namespace, say. Its
    /// settings reach it on its standard input, it connects back to the
    /// launcher's [`parent_addr`](Launcher::parent_addr) (by default this
    /// actor's first accept address, which must be TCP) and listens on
    /// [`bind_addrs`](ActorOptions::bind_addrs) on its host; it is then
    /// supervised, cancelled and reaped as any child, through the
    /// launcher's local process. See [`launch`](crate::launch).
    ///
    /// ```no_run
    /// # use tractor_driver::prelude::*;
    /// # use tractor_driver::{Address, CommandPrefix};
    /// # async fn demo(n: ActorNursery) -> Result<()> {
    /// let mut options = ActorOptions::new().launcher(CommandPrefix::new(["ssh", "node7"]));
    /// options.bind_addrs = Some(vec![Address::tcp("0.0.0.0", 0)]);
    /// let remote = n.start_actor("remote", options).await?;
    /// # let _ = remote;
    /// # Ok(())
    /// # }
    /// ```
    pub fn launcher(mut self, launcher: impl Launcher) -> Self {
        self.launcher = Some(Arc::new(launcher));
        self
    }

    /// Runs another program as the child: one built on this crate, that
    /// reaches a tractor entry point (for a Python child, see
    /// [`ActorOptions::python`]). Its `argv[0]` is the child's title,
    /// `_subactor[<name>]`, as for this program.
    pub fn program(mut self, path: impl Into<PathBuf>) -> Self {
        self.program = Some(path.into());
        self.python = false;
        self
    }

    /// Runs the child as a Python tractor actor: `interpreter -m
    /// tractor._child --uid "('<name>', '<uuid>')" --parent_addr
    /// "<address>" [--loglevel <level>]`, the command line a Python parent
    /// starts its children with (spec/PROTOCOL.md §3.2). Give the
    /// interpreter of the environment where `tractor` is installed, such
    /// as a virtual environment's `bin/python`.
    ///
    /// The interpreter gets its own path as `argv[0]` (CPython finds its
    /// virtual environment from it); the child sets its process title
    /// itself. It serves the modules named in
    /// [`enable_modules`](ActorOptions::enable_modules): Python module
    /// paths that it imports, so they must be importable in that
    /// environment (installed, or on a `PYTHONPATH` given with
    /// [`env`](ActorOptions::env)). Call its functions by module path and
    /// function name. The child inherits this process's environment; in a
    /// tree with a secret (spec/PROTOCOL.md §3.5) the parent must accept
    /// unauthenticated peers (`Config::accept_unauthenticated`), as a
    /// Python actor proves no secret.
    ///
    /// ```no_run
    /// # use tractor_driver::prelude::*;
    /// # async fn demo(n: ActorNursery) -> Result<()> {
    /// #[derive(serde::Serialize)]
    /// struct Add {
    ///     x: i64,
    ///     y: i64,
    /// }
    /// // `async def add(x, y)` in the module `app/workers.py`.
    /// let options = ActorOptions::new()
    ///     .python("/opt/app/.venv/bin/python")
    ///     .enable_modules(["app.workers"]);
    /// let worker = n.start_actor("py-worker", options).await?;
    /// let sum: i64 = worker.run("app.workers", "add", Add { x: 1, y: 2 }).await?;
    /// # let _ = sum;
    /// # Ok(())
    /// # }
    /// ```
    pub fn python(mut self, interpreter: impl Into<PathBuf>) -> Self {
        self.program = Some(interpreter.into());
        self.python = true;
        self
    }
}

/// One `run_in_actor` child whose result the nursery waits for.
struct OneShot {
    child: ChildId,
    uid: Uid,
    cell: Arc<ResultCell>,
    done: bool,
}

/// A group of child actors supervised together (Python's `ActorNursery`).
///
/// Get one with [`ActorHandle::open_nursery`](crate::ActorHandle::open_nursery):
/// the nursery lives as long as the body given there, and the call does
/// not return before every child has exited and been reaped. Clones share
/// the nursery.
#[derive(Clone)]
pub struct ActorNursery {
    shared: Arc<Shared>,
    id: NurseryId,
    one_shots: Arc<Mutex<Vec<OneShot>>>,
    /// [`ActorNursery::cancel`] was called: the cancellations it causes
    /// are not failures.
    cancelled: Arc<AtomicBool>,
}

impl std::fmt::Debug for ActorNursery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ActorNursery({})", self.id)
    }
}

/// Reaps a nursery whose scope was dropped before its end.
struct Guard {
    shared: Arc<Shared>,
    id: NurseryId,
    armed: bool,
    /// The failures collected so far.
    errors: Vec<Error>,
    one_shots: Arc<Mutex<Vec<OneShot>>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.armed {
            let id = self.id;
            tracing::debug!(target: "tractor::cancel", nursery = %id, "nursery dropped: reaping its children");
            self.shared.with(|st, now| {
                st.actor.cancel_nursery(now, id);
                st.actor.close_nursery(id);
            });
            // Children that failed before the cancellation that drops us
            // reached them: their failures are not lost with the scope.
            let dropped = DroppedNursery {
                id,
                errors: std::mem::take(&mut self.errors),
                one_shots: self.one_shots.clone(),
            };
            match crate::task_record::current_call() {
                // The call reports them once the children are reaped.
                Some(call) => {
                    let failures = dropped.failures(Arc::downgrade(&self.shared));
                    self.shared.with(|st, _| {
                        st.dropped_nurseries
                            .entry(call)
                            .or_default()
                            .push(Box::pin(failures))
                    })
                }
                None => {
                    let mut errors = dropped.errors;
                    errors.extend(ready_failures(&dropped.one_shots, &errors));
                    for e in errors {
                        tracing::error!(target: "tractor::runtime", "a child failed while its nursery was dropped: {e}");
                    }
                }
            }
        }
    }
}

/// A nursery that a served call's cancellation dropped, still reaping.
struct DroppedNursery {
    id: NurseryId,
    errors: Vec<Error>,
    one_shots: Arc<Mutex<Vec<OneShot>>>,
}

/// Waits for the nurseries that `call`'s cancellation dropped to reap
/// their children; returns the failures among them. A cancelled call
/// reports these in place of its cancellation, as a trio nursery's errors
/// outlive the cancel scope that ended it.
pub(crate) async fn dropped_failures(
    shared: &Arc<Shared>,
    call: tractor_protocol::DialogId,
) -> Vec<Error> {
    let dropped = shared.with(|st, _| st.dropped_nurseries.remove(&call).unwrap_or_default());
    let mut errors = Vec::new();
    for failures in dropped {
        errors.extend(failures.await);
    }
    errors
}

impl DroppedNursery {
    /// Its failures, once its children are reaped (all of them but those
    /// already seen when the actor is gone).
    async fn failures(self, shared: Weak<Shared>) -> Vec<Error> {
        let id = self.id;
        if let Some(shared) = shared.upgrade() {
            shared
                .wait(|st, _| st.nurseries_done.remove(&id).then_some(()))
                .await;
        }
        let mut errors = self.errors;
        let more = ready_failures(&self.one_shots, &errors);
        errors.extend(more);
        errors
    }
}

/// The failures among the one-shot results already in, not in `known`.
fn ready_failures(one_shots: &Mutex<Vec<OneShot>>, known: &[Error]) -> Vec<Error> {
    let mut found: Vec<Error> = Vec::new();
    let mut one_shots = one_shots.lock().unwrap_or_else(|e| e.into_inner());
    for one in one_shots.iter_mut().filter(|o| !o.done) {
        let waker = std::task::Waker::noop();
        if let Poll::Ready(Err(e)) = one.cell.poll(&mut std::task::Context::from_waker(waker))
            && is_failure(&e)
            // The body may have failed with this very error already.
            && !known.iter().chain(&found).any(|k| k.remote() == e.remote())
        {
            found.push(e);
        }
    }
    found
}

pub(crate) async fn open_nursery<F, Fut, T>(shared: Arc<Shared>, body: F) -> Result<T>
where
    F: FnOnce(ActorNursery) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let id = shared.with(|st, _| st.actor.open_nursery());
    let one_shots = Arc::new(Mutex::new(Vec::new()));
    let mut guard = Guard {
        shared: shared.clone(),
        id,
        armed: true,
        errors: Vec::new(),
        one_shots: one_shots.clone(),
    };
    let nursery = ActorNursery {
        shared: shared.clone(),
        id,
        one_shots,
        cancelled: Arc::new(AtomicBool::new(false)),
    };
    let out = body(nursery.clone()).await;
    let (value, mut errors) = match out {
        Ok(v) => (Some(v), Vec::new()),
        Err(e) => (None, vec![e]),
    };
    let mut notice = DaemonNotice::new(&nursery);
    if errors.is_empty() {
        errors = notice.during(nursery.collect_results()).await;
    }
    guard.errors.clone_from(&errors);
    if !errors.is_empty() {
        let error = crate::log::failure(&errors[0]);
        tracing::info!(target: "tractor::cancel", nursery = %id, %error, "the nursery failed: cancelling its children");
        shared.with(|st, now| st.actor.cancel_nursery(now, id));
    }
    shared.with(|st, _| st.actor.close_nursery(id));
    notice
        .during(shared.wait(|st, _| st.nurseries_done.remove(&id).then_some(())))
        .await;
    guard.armed = false;
    // Errors that arrived while the others were reaped count too; the
    // cancellations the reaping caused do not.
    let more = ready_failures(&nursery.one_shots, &errors);
    errors.extend(more);
    shared.with(|st, _| st.children.retain(|_, c| c.nursery != Some(id)));
    match Error::group(errors) {
        Some(e) => Err(e),
        None => Ok(value.expect("a value when nothing failed")),
    }
}

/// The nursery's one notice, at `info`, that its body has ended and it
/// waits on daemons: given [`crate::log::DAEMON_WAIT_NOTICE`] after the
/// body's end if daemons it has not cancelled still run, else looked for
/// again as long after, until the nursery is done. It runs on the
/// runtime's clock, beside the wait, and delays nothing.
struct DaemonNotice {
    nursery: ActorNursery,
    after: Duration,
    /// `None`: never (too far for the clock).
    deadline: Option<Instant>,
    sleep: Option<BoxFuture<'static, ()>>,
    said: bool,
}

impl DaemonNotice {
    /// Counts from now: the body has just ended.
    fn new(nursery: &ActorNursery) -> Self {
        let after = crate::log::daemon_wait_notice();
        DaemonNotice {
            nursery: nursery.clone(),
            after,
            deadline: crate::log::notice_deadline(Instant::now(), after),
            sleep: None,
            said: false,
        }
    }

    /// `fut`, with the notice given meanwhile if due.
    async fn during<T>(&mut self, fut: impl Future<Output = T>) -> T {
        let mut fut = std::pin::pin!(fut);
        poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(v);
            }
            while !self.said {
                let Some(deadline) = self.deadline else {
                    break;
                };
                let rt = &self.nursery.shared.rt;
                let sleep = self.sleep.get_or_insert_with(|| rt.sleep_until(deadline));
                if sleep.as_mut().poll(cx).is_pending() {
                    break;
                }
                self.sleep = None;
                let daemons = self.nursery.running_daemons();
                if daemons.is_empty() {
                    self.deadline = crate::log::notice_deadline(Instant::now(), self.after);
                    continue;
                }
                self.said = true;
                let (n, s) = (daemons.len(), if daemons.len() == 1 { "" } else { "s" });
                let names = crate::log::list(daemons);
                tracing::info!(
                    target: "tractor::runtime",
                    nursery = %self.nursery.id,
                    "the nursery's body has ended; it waits for {n} daemon actor{s}: {names} \
                     — cancel them (Portal::cancel_actor) or the nursery (ActorNursery::cancel)"
                );
            }
            Poll::Pending
        })
        .await
    }
}

/// Children of one start call that have not all connected back: dropped
/// armed, it cancels them.
struct Batch {
    shared: Arc<Shared>,
    children: Vec<ChildId>,
    armed: bool,
}

impl Batch {
    /// Asks every child of the batch to go (reaping each as
    /// [`Portal::cancel_actor`] does); disarms.
    fn cancel(&mut self) {
        self.armed = false;
        if self.children.is_empty() {
            return;
        }
        tracing::debug!(target: "tractor::cancel", children = self.children.len(), "cancelling an unfinished start of children");
        let children = &self.children;
        self.shared.with(|st, now| {
            for child in children {
                st.actor.cancel_child(now, *child);
            }
        });
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if self.armed {
            self.cancel();
        }
    }
}

/// Where a starting child stands: `None` while it boots, its channel and
/// uid once it has connected back, why not if it never will.
fn connection(st: &State, child: ChildId) -> Option<std::result::Result<(ChannelId, Uid), String>> {
    let c = st.children.get(&child)?;
    if let Some(reason) = &c.failed {
        return Some(Err(reason.clone()));
    }
    if let Some(ch) = c.channel {
        if let Some(peer) = st.actor.peer(ch) {
            return Some(Ok((ch, peer.uid())));
        }
        return Some(Err(match c.exited {
            Some(status) => ended(c, status, "after connecting back"),
            None => "its channel closed".into(),
        }));
    }
    if let Some(status) = c.exited {
        return Some(Err(exited_early(c, status)));
    }
    None
}

/// How a starting child ended, `when`: `it died before connecting back
/// (uid worker[9b1e2c3d…], pid 1234, killed by SIGKILL)`.
fn ended(c: &ChildState, status: ExitStatus, when: &str) -> String {
    let verb = if status.code.is_some() {
        "exited"
    } else {
        "died"
    };
    let mut which = Vec::new();
    if let Some(uid) = &c.uid {
        which.push(format!("uid {uid}"));
    }
    if let Some(pid) = c.pid {
        which.push(format!("pid {pid}"));
    }
    which.push(status.to_string());
    format!("it {verb} {when} ({})", which.join(", "))
}

/// Why a child that exited before it connected back could not be
/// started: how it ended and, unless it was killed from outside (SIGKILL,
/// SIGTERM, SIGINT, SIGHUP), the likely cause.
fn exited_early(c: &ChildState, status: ExitStatus) -> String {
    let ended = ended(c, status, "before connecting back");
    if matches!(status.signal, Some(1 | 2 | 9 | 15)) {
        return ended;
    }
    format!(
        "{ended}; a child runs its program's `main` from the start, so code before the \
         tractor entry point (parsing arguments, say, or a panic there) runs in every child \
         too: the child's stderr shows why it ended"
    )
}

/// A remote failure, not a cancellation or a lost connection caused by
/// reaping.
fn is_failure(e: &Error) -> bool {
    e.remote()
        .is_some_and(|r| r.kind() != RemoteErrorKind::ContextCancelled)
}

impl ActorNursery {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<OneShot>> {
        self.one_shots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The names of this nursery's daemons (not `run_in_actor` children)
    /// that run and are not being cancelled, in spawn order.
    fn running_daemons(&self) -> Vec<String> {
        let one_shots: Vec<ChildId> = self.lock().iter().map(|o| o.child).collect();
        let id = self.id;
        self.shared.with(|st, _| {
            st.actor
                .children_info()
                .into_iter()
                .filter(|c| c.nursery.is_some_and(|(n, _)| n == id))
                .filter(|c| matches!(c.state, "starting" | "booting" | "running"))
                .filter(|c| !one_shots.contains(&c.id))
                .map(|c| c.uid.name)
                .collect()
        })
    }

    /// Starts a daemon actor (Python's `start_actor`): it serves
    /// `options.enable_modules` until cancelled. The nursery's end waits
    /// for it; cancel it with [`Portal::cancel_actor`] or
    /// [`ActorNursery::cancel`].
    ///
    /// It returns once the child has connected back, which may be before
    /// the child has registered with the registrar; the child registers
    /// before it serves its first call, so discovery finds it once it has
    /// answered one (or use [`ActorHandle::wait_for_actor`] from another
    /// actor).
    ///
    /// The name is copied at once: the future borrows only the nursery,
    /// so names may be made on the spot. The process is started when the
    /// future is first polled, not when it is made; dropping the future
    /// before it returns cancels the child (the nursery still waits for it
    /// to exit). So awaiting several `start_actor` futures in turn starts
    /// the children in turn, each once the one before has connected back;
    /// [`ActorNursery::start_actors`] starts them all at once.
    ///
    /// ```no_run
    /// # use tractor_driver::{ActorNursery, ActorOptions, Result};
    /// # async fn demo(n: ActorNursery) -> Result<()> {
    /// let opts = ActorOptions::new().enable_modules(["math"]);
    /// let squarer = n.start_actor("squarer", opts.clone()).await?;
    /// // Three more, booting side by side.
    /// let workers = n
    ///     .start_actors((0..3).map(|i| (format!("worker-{i}"), opts.clone())))
    ///     .await?;
    /// # let _ = (squarer, workers);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`ActorHandle::wait_for_actor`]: crate::ActorHandle::wait_for_actor
    #[track_caller]
    pub fn start_actor(
        &self,
        name: impl Into<String>,
        options: ActorOptions,
    ) -> ApiFuture<'_, Result<Portal>> {
        let batch = vec![(name.into(), options)];
        ApiFuture::new("ActorNursery::start_actor", async move {
            let mut portals = self.start_batch(batch).await?;
            Ok(portals.pop().expect("one portal for one child"))
        })
    }

    /// Starts several daemon actors at once, each as
    /// [`ActorNursery::start_actor`] does, and returns their portals in the
    /// order given, once every one has connected back.
    ///
    /// Every process is started before any is waited for, so the children
    /// boot side by side: the batch takes about as long as its slowest
    /// child, not the sum of them all.
    ///
    /// If a child cannot be started, or exits or loses its channel before
    /// the whole batch has connected, the others of the batch (which have
    /// no portal yet) are cancelled, and the call fails with that child's
    /// [`ErrorKind::Spawn`] error once they have all exited: no child of a
    /// failed batch outlives the call. The nursery's other children are
    /// left alone; returning the error from the nursery's body cancels
    /// them, as any failure does. Dropping the future before it returns
    /// cancels the whole batch the same way, without waiting.
    ///
    /// ```no_run
    /// # use tractor_driver::{ActorNursery, ActorOptions, Result};
    /// # async fn demo(n: ActorNursery) -> Result<()> {
    /// let opts = ActorOptions::new().enable_modules(["math"]);
    /// let workers = n
    ///     .start_actors((0..4).map(|i| (format!("worker-{i}"), opts.clone())))
    ///     .await?;
    /// assert_eq!(workers.len(), 4);
    /// assert_eq!(workers[2].peer().name, "worker-2");
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn start_actors<N: Into<String>>(
        &self,
        actors: impl IntoIterator<Item = (N, ActorOptions)>,
    ) -> ApiFuture<'_, Result<Vec<Portal>>> {
        let batch: Vec<(String, ActorOptions)> = actors
            .into_iter()
            .map(|(name, options)| (name.into(), options))
            .collect();
        ApiFuture::new("ActorNursery::start_actors", self.start_batch(batch))
    }

    /// Starts every child of `batch`, then waits until all have connected
    /// back (see [`ActorNursery::start_actors`]).
    pub(crate) async fn start_batch(
        &self,
        batch: Vec<(String, ActorOptions)>,
    ) -> Result<Vec<Portal>> {
        let id = self.id;
        let names: Vec<String> = batch.iter().map(|(name, _)| name.clone()).collect();
        // Every spawn is issued under one lock, and the processes are all
        // started (back to back, as the lock is released) before any of
        // them is waited for.
        let (children, refused) = self.shared.with(|st, _| {
            let mut children = Vec::with_capacity(batch.len());
            for (name, options) in batch {
                if let Some(launcher) = &options.launcher {
                    let addr = launcher
                        .parent_addr()
                        .or_else(|| st.actor.accept_addrs().first().cloned());
                    if let Err(e) = crate::launch::check(addr.as_ref(), options.python) {
                        return (children, Some(Error::from(ErrorKind::Launch(e))));
                    }
                }
                if let Some(advertise) = &options.advertise_addrs {
                    // Refused here, with its reason, rather than by the
                    // child at its start, which would look like a crash.
                    let binds = match &options.bind_addrs {
                        Some(b) if !b.is_empty() => b.clone(),
                        _ => {
                            let tpt = st
                                .actor
                                .runtime_vars()
                                .enable_transports
                                .first()
                                .and_then(|k| crate::transport::Transport::from_key(k))
                                .unwrap_or_default();
                            let dir = &self.shared.settings.uds_dir;
                            vec![crate::transport::random_addr(tpt, dir, &name)]
                        }
                    };
                    if let Err(e) = tractor_protocol::advertised(&binds, advertise) {
                        return (children, Some(Error::from(ErrorKind::Advertise(e))));
                    }
                }
                let request = SpawnRequest {
                    enable_modules: options
                        .enable_modules
                        .iter()
                        .map(|ns| (ns.clone(), String::new()))
                        .collect(),
                    bind_addrs: options.bind_addrs,
                    debug_mode: options.debug_mode,
                    ..SpawnRequest::new(&name)
                };
                let child = match st.actor.spawn_in(id, request) {
                    Ok(child) => child,
                    Err(e) => return (children, Some(Error::from(e))),
                };
                st.children.insert(
                    child,
                    ChildState {
                        name,
                        nursery: Some(id),
                        program: options.program,
                        python: options.python,
                        loglevel: options.loglevel,
                        env: match &options.advertise_addrs {
                            Some(addrs) => {
                                let mut env = options.env;
                                env.push((
                                    crate::transport::ADVERTISE_ADDRS_ENV.to_owned(),
                                    crate::transport::advertise_env(addrs),
                                ));
                                env
                            }
                            None => options.env,
                        },
                        launcher: options.launcher,
                        guest: options.guest,
                        channel: None,
                        failed: None,
                        exited: None,
                        uid: None,
                        pid: None,
                    },
                );
                children.push(child);
            }
            (children, None)
        });
        // Until every child has connected, dropping this cancels them all.
        let mut batch = Batch {
            shared: self.shared.clone(),
            children,
            armed: true,
        };
        let failed = match refused {
            Some(e) => Err(e),
            None => {
                let outcome = self
                    .shared
                    .wait(|st, _| {
                        let mut all = Vec::with_capacity(batch.children.len());
                        for (i, child) in batch.children.iter().enumerate() {
                            match connection(st, *child) {
                                Some(Ok(connected)) => all.push(connected),
                                Some(Err(reason)) => return Some(Err((i, reason))),
                                None => {}
                            }
                        }
                        (all.len() == batch.children.len()).then_some(Ok(all))
                    })
                    .await;
                match outcome {
                    Ok(connected) => {
                        batch.armed = false;
                        let portals = connected
                            .into_iter()
                            .zip(&batch.children)
                            .map(|((channel, peer), child)| Portal {
                                shared: self.shared.clone(),
                                channel: Some(channel),
                                peer,
                                child: Some(*child),
                                result: None,
                                _lease: None,
                            })
                            .collect();
                        return Ok(portals);
                    }
                    Err((i, reason)) => Err(Error::from(ErrorKind::Spawn {
                        name: names[i].clone(),
                        reason,
                    })),
                }
            }
        };
        // The rest of the batch goes, and is gone before the error returns.
        batch.cancel();
        let children = std::mem::take(&mut batch.children);
        self.shared
            .wait(|st, _| {
                children
                    .iter()
                    .all(|child| {
                        st.children
                            .get(child)
                            .is_none_or(|c| c.exited.is_some() || c.failed.is_some())
                    })
                    .then_some(())
            })
            .await;
        failed
    }

    /// Starts an actor that runs one function, `ns:func(**args)`, and
    /// exits after it (Python's `run_in_actor`). Its result is read with
    /// [`Portal::wait_for_result`], or by the nursery at its end: an error
    /// there cancels every other child, and the nursery fails with it.
    ///
    /// The names are copied and `args` encoded at once: the future borrows
    /// only the nursery; an encoding error fails it before any child is
    /// started.
    #[track_caller]
    pub fn run_in_actor(
        &self,
        name: impl Into<String>,
        ns: impl Into<String>,
        func: impl Into<String>,
        args: impl Serialize,
        options: ActorOptions,
    ) -> ApiFuture<'_, Result<Portal>> {
        let (name, ns, func) = (name.into(), ns.into(), func.into());
        let kwargs = encode_args(&args);
        ApiFuture::new("ActorNursery::run_in_actor", async move {
            let kwargs = kwargs?;
            let mut options = options;
            if !options.enable_modules.contains(&ns) {
                options.enable_modules.push(ns.clone());
            }
            let mut portal = self
                .start_batch(vec![(name, options)])
                .await?
                .pop()
                .expect("one portal for one child");
            let cell = portal.start_call(&ns, &func, kwargs)?;
            self.lock().push(OneShot {
                child: portal.child.expect("a child's portal"),
                uid: portal.peer.clone(),
                cell: cell.clone(),
                done: false,
            });
            portal.result = Some(cell);
            Ok(portal)
        })
    }

    /// Cancels every child (Python's `ActorNursery.cancel`): each is asked
    /// to cancel, then terminated and killed if it does not go in time.
    /// Returns when all have exited; no more children may be started.
    #[track_caller]
    pub fn cancel(&self) -> impl Future<Output = ()> {
        crate::task_record::api("ActorNursery::cancel", async move {
            self.cancelled.store(true, Ordering::SeqCst);
            let id = self.id;
            let children = self.shared.with(|st, _| {
                let all = st.actor.children_info().into_iter();
                crate::log::list(
                    all.filter(|c| c.nursery.is_some_and(|(n, _)| n == id))
                        .map(|c| c.uid),
                )
            });
            tracing::info!(target: "tractor::cancel", nursery = %id, %children, "cancelling the nursery");
            self.shared.with(|st, now| st.actor.cancel_nursery(now, id));
            self.shared
                .wait(|st, _| {
                    let busy = st
                        .children
                        .values()
                        .any(|c| c.nursery == Some(id) && c.exited.is_none() && c.failed.is_none());
                    (!busy).then_some(())
                })
                .await;
        })
    }

    /// Waits for every `run_in_actor` result; the first failure cancels
    /// the nursery. Returns the failures.
    async fn collect_results(&self) -> Vec<Error> {
        poll_fn(|cx| {
            let mut one_shots = self.lock();
            let mut pending = false;
            for one in one_shots.iter_mut().filter(|o| !o.done) {
                match one.cell.poll(cx) {
                    Poll::Pending => pending = true,
                    Poll::Ready(Ok(_)) => {
                        one.done = true;
                        // Its work is done: the child goes.
                        let child = one.child;
                        self.shared
                            .with(|st, now| st.actor.cancel_child(now, child));
                    }
                    Poll::Ready(Err(e)) => {
                        one.done = true;
                        if self.cancelled.load(Ordering::SeqCst) && !is_failure(&e) {
                            // Cancelled with the nursery, as asked.
                            continue;
                        }
                        tracing::debug!(target: "tractor::cancel", uid = %one.uid, error = %e, "run_in_actor failed");
                        return Poll::Ready(vec![e]);
                    }
                }
            }
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(Vec::new())
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starting(pid: Option<u32>) -> ChildState {
        ChildState {
            name: "g0".into(),
            nursery: None,
            program: None,
            python: false,
            loglevel: None,
            env: Vec::new(),
            launcher: None,
            guest: false,
            channel: None,
            failed: None,
            exited: None,
            uid: Some(Uid::new("g0", "9b1e2c3d-0000-4000-8000-000000000000")),
            pid,
        }
    }

    #[test]
    fn a_child_gone_before_connecting_back_says_how_and_why() {
        let status = |code, signal| ExitStatus { code, signal };
        let c = starting(Some(1234));
        let code = exited_early(&c, status(Some(101), None));
        assert!(
            code.starts_with(
                "it exited before connecting back (uid g0[9b1e2c3d…], pid 1234, exit code 101); "
            ),
            "{code}"
        );
        assert!(code.contains("before the tractor entry point"), "{code}");
        assert!(
            code.ends_with("the child's stderr shows why it ended"),
            "{code}"
        );
        // Killed from outside: no guess at a cause in its own code.
        let killed = exited_early(&c, status(None, Some(9)));
        assert_eq!(
            killed,
            "it died before connecting back (uid g0[9b1e2c3d…], pid 1234, killed by SIGKILL)"
        );
        let aborted = exited_early(&c, status(None, Some(6)));
        assert!(
            aborted.starts_with(
                "it died before connecting back (uid g0[9b1e2c3d…], pid 1234, killed by SIGABRT); "
            ),
            "{aborted}"
        );
        let unknown = exited_early(&starting(None), status(None, None));
        assert!(
            unknown.contains("(uid g0[9b1e2c3d…], an unknown exit status)"),
            "{unknown}"
        );
        let spawn = Error::from(ErrorKind::Spawn {
            name: "g0".into(),
            reason: code,
        });
        assert!(
            spawn.to_string().starts_with(
                "could not spawn actor \"g0\": it exited before connecting back (uid g0[9b1e2c3d…], pid 1234, exit code 101)"
            ),
            "{spawn}"
        );
    }
}
