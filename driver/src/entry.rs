//! Entry points: the root actor (`open_root_actor`, `open_nursery`,
//! `run_daemon`), a child process's whole life (`run_child`), and what
//! they share: listening, the registrar election, the root's signals
//! ([`RootSignals`]), teardown and the wind-down watchdog.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::{Duration, Instant};

use tractor_protocol::{
    Actor, ActorConfig as CoreConfig, Address, ChannelId, ChildArgs, Election, ElectionStep,
    RuntimeVars, Uid,
};

use crate::config::Config;
use crate::debug::DebugFilter;
use crate::engine::{Conn, Settings, Shared};
use crate::engine::{current, set_current};
use crate::error::{Error, ErrorKind, Result};
use crate::functions::Functions;
use crate::handle::{ActorHandle, current_actor};
use crate::lineage::Lineage;
use crate::listen::{any_port, listen, try_listen};
use crate::nursery::ActorNursery;
use crate::runtime::{Runtime, SignalKind, SignalStream};
use crate::transport::{self, Transport};

/// How long an exiting actor waits for its connections to flush.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether this process is the root of its tree (it was not started as a
/// child by a parent actor).
///
/// In a launched child that has not read its bootstrap block yet, it reads
/// it first (see [`launch::bootstrap`](crate::launch::bootstrap)).
pub fn is_root_process() -> bool {
    crate::launch::bootstrap();
    child_args().is_none()
}

/// This process's child command line, if it is a child.
fn child_args() -> Option<ChildArgs> {
    ChildArgs::parse(std::env::args().skip(1)).ok().flatten()
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    h.finish()
}

fn new_uuid(seed: u64) -> String {
    // Version-4 layout from 128 random-ish bits.
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (a, b) = (next(), next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// Winds the actor down from now on, and asks each child to cancel (a
/// child already asked is left to its reaping).
fn cancel_children(shared: &Arc<Shared>) {
    shared.with(|st, now| {
        st.winding_down = true;
        let children: Vec<_> = st.actor.children().map(|(c, _)| c).collect();
        if !children.is_empty() {
            let names = crate::log::list(st.actor.children().map(|(_, u)| u));
            tracing::info!(target: "tractor::cancel", children = %names, "winding down: cancelling the children");
        }
        for child in children {
            st.actor.cancel_child(now, child);
        }
    });
}

/// Winds an actor down: children reaped, unregistered, listeners closed,
/// connections flushed.
async fn teardown(handle: &ActorHandle) {
    let shared = &handle.shared;
    cancel_children(shared);
    shared
        .wait(|st, _| st.actor.children().next().is_none().then_some(()))
        .await;
    tracing::debug!(target: "tractor::runtime", "teardown: children reaped");
    handle.unregister().await;
    tracing::debug!(target: "tractor::runtime", "teardown: unregistered");
    let addrs = handle.accept_addrs();
    shared.stop_listeners();
    for addr in &addrs {
        transport::unbind(addr);
    }
    // A REPL live or due holds functions back from cancellation: wait for
    // it. Functions still running were cancelled; give them their moment
    // (a cancelled function's cleanup may pause, shielded, meanwhile).
    let no_repl = || shared.wait(|_, _| (!crate::debug::held(shared)).then_some(()));
    no_repl().await;
    // A function that asked for graceful cancellation has its grace on
    // top of that.
    let idle = shared.wait(|st, _| (st.actor.running_functions() == 0).then_some(()));
    let grace = shared.with(|st, _| st.actor.cancel_grace());
    if shared.timeout(FLUSH_TIMEOUT + grace, idle).await.is_none() {
        tracing::debug!(target: "tractor::runtime", "teardown: functions still running");
    }
    no_repl().await;
    // Every linked guest task went with its function; what is left on the
    // guest (tasks it spawned itself) goes with it.
    crate::guest::stop(shared).await;
    shared.close_all_channels();
    let flushed = shared.wait(|st, _| (st.io_tasks == 0).then_some(()));
    if shared.timeout(FLUSH_TIMEOUT, flushed).await.is_none() {
        tracing::debug!(target: "tractor::runtime", "teardown: connections not flushed");
    }
    shared.set_stopping();
}

/// Runs the root actor of a tree around `body`.
pub async fn open_root_actor<F, Fut, T>(rt: Arc<dyn Runtime>, config: Config, body: F) -> Result<T>
where
    F: FnOnce(ActorHandle) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let runtime = rt.clone();
    crate::runtime::drive(&*runtime, open_root_actor_driven(rt, config, body)).await
}

async fn open_root_actor_driven<F, Fut, T>(
    rt: Arc<dyn Runtime>,
    config: Config,
    body: F,
) -> Result<T>
where
    F: FnOnce(ActorHandle) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    // Checked before the child command line: a function running in a
    // child that opens a root must fail, not start the child again.
    if current_actor().is_some() {
        return Err(Error::runtime("an actor already runs in this process"));
    }
    if let Some(code) = maybe_run_child(&rt, &config).await {
        exit_process(code);
    }
    let handle = start_root(rt, &config).await?;
    let mut signals = RootSignals::new(&handle.shared);
    let out = run_body(&handle, &mut signals, body(handle.clone())).await;
    let shared = &handle.shared;
    if let Err(e) = &out {
        let crashed = crate::debug::crashed(shared, &crate::task::MAIN, e);
        signals.hurrying(shared, crashed).await;
    }
    signals.hurrying(shared, teardown(&handle)).await;
    set_current(None);
    match signals.late {
        Some(kind) => with_late_signal(out, kind),
        None => out,
    }
}

/// The entry point's outcome when the first SIGINT or SIGTERM came while
/// the root wound down after a body that ended on its own: the signal's
/// error replaces a success (or a cancellation by a peer), and joins a
/// failure of the body, after it, in a group.
fn with_late_signal<T>(out: Result<T>, kind: SignalKind) -> Result<T> {
    let signal = signal_error(kind);
    match out {
        Ok(_) => Err(signal),
        Err(e) if e.is_cancelled() => Err(signal),
        Err(e) => {
            let mut errors = e.errors();
            errors.push(signal);
            Err(Error::group(errors).unwrap_or_else(|| signal_error(kind)))
        }
    }
}

/// The error a root returns when `kind` cancelled its tree.
fn signal_error(kind: SignalKind) -> Error {
    match kind {
        SignalKind::Terminate => ErrorKind::Terminated.into(),
        _ => ErrorKind::Interrupted.into(),
    }
}

/// Opens an actor nursery in this process's actor, or, when none runs,
/// in a root actor started for it with `config` and torn down after it
/// (Python's implicit root: `open_nursery` with no `open_root_actor`).
///
/// Like `open_root_actor`, in a child process this call becomes the
/// child and never returns, so call it early in `main`.
pub async fn open_nursery<F, Fut, T>(rt: Arc<dyn Runtime>, config: Config, body: F) -> Result<T>
where
    F: FnOnce(ActorNursery) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    if let Some(actor) = current_actor() {
        // Inside an actor, which its own entry point drives already.
        return actor.open_nursery(body).await;
    }
    let runtime = rt.clone();
    crate::runtime::drive(&*runtime, open_nursery_driven(rt, config, body)).await
}

async fn open_nursery_driven<F, Fut, T>(rt: Arc<dyn Runtime>, config: Config, body: F) -> Result<T>
where
    F: FnOnce(ActorNursery) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    if let Some(actor) = current_actor() {
        return actor.open_nursery(body).await;
    }
    open_root_actor_driven(
        rt,
        config,
        |root| async move { root.open_nursery(body).await },
    )
    .await
}

/// Runs a long-lived RPC server as the root (Python's `run_daemon`): it
/// serves `config.enable_modules` until cancelled by a peer, SIGINT or SIGTERM.
///
/// Started by hand to serve a tree with a secret, it takes the secret as any
/// root does: [`Config::secret`], else `TRACTOR_SECRET`, else the file
/// `TRACTOR_SECRET_FILE` names. Its limits are [`Config::limits`], each
/// overridden by its variable when set (`TRACTOR_MAX_DIALOGS_PER_PEER`,
/// …: see the field [`limits`](Config#structfield.limits)).
pub async fn run_daemon(rt: Arc<dyn Runtime>, config: Config) -> Result<()> {
    let runtime = rt.clone();
    crate::runtime::drive(&*runtime, run_daemon_driven(rt, config)).await
}

async fn run_daemon_driven(rt: Arc<dyn Runtime>, config: Config) -> Result<()> {
    open_root_actor_driven(rt, config, |actor| async move {
        actor
            .shared
            .wait(|st, _| st.cancel_requested.is_some().then_some(()))
            .await;
        Ok(())
    })
    .await
}

/// If this process is a child, runs it and returns its exit code.
async fn maybe_run_child(rt: &Arc<dyn Runtime>, config: &Config) -> Option<i32> {
    // A launched child reads its settings before anything else does.
    crate::launch::bootstrap();
    let args = match ChildArgs::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => return None,
        Err(e) => {
            eprintln!("{e}");
            return Some(2);
        }
    };
    let program = (config.functions.clone(), config.debug_filter.clone());
    Some(run_child(rt.clone(), program, args).await)
}

fn exit_process(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}

async fn start_root(rt: Arc<dyn Runtime>, config: &Config) -> Result<ActorHandle> {
    if current().is_some() {
        return Err(Error::runtime("an actor already runs in this process"));
    }
    let uds_dir = transport::runtime_dir()?;
    let registry_addrs = if config.registry_addrs.is_empty() {
        vec![config.transport.default_registry(&uds_dir)]
    } else {
        config.registry_addrs.clone()
    };
    transport::check_transport(config.transport, &registry_addrs, &config.bind_addrs)?;
    let auth = crate::auth::Auth::for_root(
        config.secret.as_ref(),
        config.accept_unauthenticated,
        config.allow_insecure_bind,
    )?;
    let tls = crate::tls::Tls::for_root(config.tls.as_ref())?;
    for addr in registry_addrs.iter().chain(&config.bind_addrs) {
        if tls.is_none() {
            auth.check_bind(addr)?;
        }
    }
    let limits = crate::limits::TreeLimits::for_root(
        &config.limits,
        config.max_frame_len,
        config.cancel_grace,
    )?;
    let advertise = if config.advertise_addrs.is_empty() {
        transport::advertise_from_env()?
    } else {
        config.advertise_addrs.clone()
    };
    let seed = random_seed();
    let mut core = CoreConfig::new(config.name.clone(), new_uuid(seed));
    crate::log::set_actor(&Uid::new(core.name.clone(), core.uuid.clone()));
    core.pid = Some(std::process::id());
    core.serve_tty_lock = true;
    core.seed = seed;
    core.reap = config.reap;
    core.limits = limits.limits.clone();
    core.max_frame_len = limits.max_frame_len;
    core.cancel_grace = limits.cancel_grace;
    core.endpoints = config.functions.endpoints(Some(&config.enable_modules));
    core.auth = auth.core()?;
    let loglevel = crate::log::effective(config.loglevel.clone());
    if let Some(level) = &loglevel {
        crate::log::install(level);
    }
    let settings = Settings {
        loglevel,
        uds_dir: uds_dir.clone(),
        debug_filter: config.debug_filter.clone().map(DebugFilter::into_inner),
        auth,
        limits,
        tls,
        advertise: advertise.clone(),
    };
    let shared = Shared::new(
        rt,
        Actor::new(core),
        crate::serve::Served::new(config.functions.clone()),
        settings,
    );
    // Before the root can be reached: a peer's first call may use it.
    let guest = match config.guest {
        true => Some(crate::guest::start(&*shared.rt)?),
        false => None,
    };
    // Is there a registrar already? (spec/PROTOCOL.md §9.1) Nothing listens
    // on TCP port 0: such an address asks this root to be the registrar on
    // a port the OS picks, and is not probed. Roots that start together
    // may all find nobody: the one that binds the address first is the
    // registrar, and the others probe again until it answers.
    let probed = registry_addrs.iter().filter(|a| !any_port(a)).cloned();
    let mut election = Election::new(probed.collect(), Instant::now());
    let (found, bound) = loop {
        match election.next(Instant::now()) {
            ElectionStep::Probe(addr) => {
                let answer = shared.probe(&addr).await;
                election.probed(&addr, answer);
            }
            ElectionStep::Wait(until) => shared.rt.sleep_until(until).await,
            ElectionStep::Join => {
                let mut binds = config.bind_addrs.clone();
                if binds.is_empty() {
                    binds.push(transport::random_addr(
                        config.transport,
                        &uds_dir,
                        &config.name,
                    ));
                }
                // The advertised addresses past the registrar's are this
                // root's own listeners'.
                let own = advertise.get(registry_addrs.len()..).unwrap_or_default();
                break (true, listen(&shared, &binds, own)?);
            }
            ElectionStep::Bind => {
                shared.with(|st, _| st.actor.set_registrar(true));
                let mut all = registry_addrs.clone();
                all.extend(config.bind_addrs.iter().cloned());
                match try_listen(&shared, &all, &advertise) {
                    Ok(bound) => break (false, bound),
                    Err(f) if f.taken && registry_addrs.contains(&f.addr) => {
                        // Another root was faster: it is the registrar.
                        shared.with(|st, _| st.actor.set_registrar(false));
                        tracing::debug!(target: "tractor::runtime", addr = %f.addr, error = %f.error, "the registrar address was taken meanwhile: asking again");
                        election.bind_taken(Instant::now(), &f.addr, f.error.to_string());
                    }
                    Err(f) => return Err(f.error),
                }
            }
            ElectionStep::Fail(tractor_protocol::ElectionError::Refused { addr, reason }) => {
                return Err(ErrorKind::Unauthenticated {
                    addr: addr.to_string(),
                    reason,
                }
                .into());
            }
            ElectionStep::Fail(e) => return Err(Error::runtime(e.to_string())),
        }
    };
    let registry_addrs = if found {
        // Another root is the registrar: its addresses as advertised (how
        // this root's children reach it); a port-0 address names nobody.
        let n = registry_addrs.len().min(advertise.len());
        tractor_protocol::advertised(&registry_addrs, &advertise[..n])
            .map_err(ErrorKind::Advertise)?
            .into_iter()
            .filter(|a| !any_port(a))
            .collect()
    } else {
        // As bound: a registrar asked for at port 0 got a real one.
        bound[..registry_addrs.len()].to_vec()
    };
    let vars = RuntimeVars {
        is_root: true,
        root_mailbox: bound.first().cloned(),
        root_addrs: bound.clone(),
        enable_transports: vec![config.transport.key().to_owned()],
        registry_addrs,
        debug_mode: config.debug_mode,
        use_stackscope: config.stack_on_sig,
        ..RuntimeVars::default()
    };
    if config.stack_on_sig || config.debug_mode {
        crate::stackscope::enable();
    }
    shared.with(|st, _| st.actor.set_runtime_vars(vars));
    let handle = ActorHandle {
        shared: shared.clone(),
    };
    if let Err(e) = handle.register().await {
        teardown(&handle).await;
        return Err(e);
    }
    if let Some(guest) = guest {
        guest.keep();
    }
    set_current(Some(shared));
    tracing::info!(target: "tractor::runtime", uid = %handle.uid(), addrs = %crate::log::list(&bound), registrar = !found, "root actor up");
    Ok(handle)
}

/// The signals that cancel a root's tree, SIGINT and SIGTERM, heard from
/// the start of its body to the end of its teardown (outside that span
/// they have their default action: see `signals`).
///
/// The first cancels the tree gracefully: the body is dropped and each
/// child asked to cancel. SIGINT is ignored while a debug REPL holds the
/// terminal (ctrl-c is the REPL's); SIGTERM, which no terminal key sends,
/// cancels the tree regardless, and a REPL open then still runs to its end
/// before its actor goes. A first signal that comes while the root winds
/// down after its body ended on its own is the first all the same: the
/// children are asked to cancel (as the teardown does anyway), and the
/// entry point reports the signal (see `with_late_signal`). The next one
/// while the root winds down kills its children at once (SIGKILL; their
/// own children then go as orphans do), so a second ctrl-c or SIGTERM
/// never waits on a slow child.
struct RootSignals {
    streams: Vec<(SignalKind, Box<dyn SignalStream>)>,
    /// The first signal heard: it cancelled the tree.
    heard: Option<SignalKind>,
    /// That first signal, if it came during a wind-down it did not start.
    late: Option<SignalKind>,
    /// Dropped after the streams.
    _listening: crate::signals::Listening,
}

impl RootSignals {
    fn new(shared: &Arc<Shared>) -> Self {
        let listening = crate::signals::listen();
        RootSignals {
            streams: interrupt_and_terminate(shared),
            heard: None,
            late: None,
            _listening: listening,
        }
    }

    /// The next signal delivered.
    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Poll<SignalKind> {
        for (kind, s) in &mut self.streams {
            if let Poll::Ready(Some(())) = s.poll_recv(cx) {
                return Poll::Ready(*kind);
            }
        }
        Poll::Pending
    }

    /// Runs `fut`, part of the root's wind-down, meanwhile cancelling the
    /// tree at a first SIGINT or SIGTERM and killing the children at any
    /// after it (but for SIGINT while a REPL holds the terminal).
    async fn hurrying<T>(&mut self, shared: &Arc<Shared>, fut: impl Future<Output = T>) -> T {
        let mut fut = pin!(fut);
        poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(v);
            }
            while let Poll::Ready(kind) = self.poll(cx) {
                if kind == SignalKind::Interrupt && sigint_for_repl(shared) {
                    continue;
                }
                let name = signal_name(kind);
                if self.heard.is_none() {
                    self.heard = Some(kind);
                    self.late = Some(kind);
                    tracing::info!(target: "tractor::cancel", "{name} while winding down: cancelling the tree");
                    cancel_children(shared);
                } else {
                    tracing::warn!(target: "tractor::cancel", "{name} again while winding down: killing the children");
                    shared.kill_children();
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// The actor's SIGINT and SIGTERM streams (those the runtime could give),
/// each polled only once it woke the actor: the actor's main future is
/// woken by much else.
fn interrupt_and_terminate(shared: &Arc<Shared>) -> Vec<(SignalKind, Box<dyn SignalStream>)> {
    [SignalKind::Interrupt, SignalKind::Terminate]
        .into_iter()
        .filter_map(|k| {
            Some((
                k,
                crate::runtime::WokenOnly::wrap(shared.rt.signal(k).ok()?),
            ))
        })
        .collect()
}

/// Whether a SIGINT the root has read belongs to a debug REPL (one held
/// the tree's terminal when it came, so ctrl-c was not for the tree): then
/// it only redraws the prompt.
fn sigint_for_repl(shared: &Arc<Shared>) -> bool {
    let held = repl_in_tree(shared);
    if crate::signals::sigint_for(held) == crate::signals::SigintFor::Tree {
        return false;
    }
    tracing::warn!(target: "tractor::runtime", "ignoring SIGINT while a debug REPL is in use");
    if crate::debug::repl_live(shared) {
        crate::debug::reprompt();
    }
    true
}

fn signal_name(kind: SignalKind) -> &'static str {
    match kind {
        SignalKind::Interrupt => "SIGINT",
        SignalKind::Terminate => "SIGTERM",
        SignalKind::User1 => "SIGUSR1",
    }
}

/// Runs the root's body until it ends, SIGINT or SIGTERM arrives, or a
/// peer cancels this actor.
async fn run_body<T>(
    handle: &ActorHandle,
    signals: &mut RootSignals,
    body: impl Future<Output = Result<T>>,
) -> Result<T> {
    let shared = handle.shared.clone();
    // Boxed to be dropped by hand, below.
    let mut body = Box::pin(body);
    let main =
        crate::task_record::Tracked::new(crate::task::MAIN.clone(), crate::task_record::Kind::Main);
    let out = poll_fn(|cx| {
        if let Poll::Ready(v) = main.poll(|| body.as_mut().poll(cx)) {
            return Poll::Ready(v);
        }
        while let Poll::Ready(kind) = signals.poll(cx) {
            if kind == SignalKind::Terminate {
                signals.heard = Some(kind);
                if repl_in_tree(&shared) {
                    tracing::info!(target: "tractor::cancel", "SIGTERM: a debug REPL is in use; it ends first");
                }
                tracing::info!(target: "tractor::cancel", "SIGTERM: cancelling the tree");
                return Poll::Ready(Err(ErrorKind::Terminated.into()));
            }
            if sigint_for_repl(&shared) {
                continue;
            }
            signals.heard = Some(kind);
            tracing::info!(target: "tractor::cancel", "SIGINT: cancelling the tree");
            return Poll::Ready(Err(ErrorKind::Interrupted.into()));
        }
        shared
            .poll_state(cx, |st| st.cancel_requested.clone())
            .map(|by| {
                tracing::info!(target: "tractor::cancel", %by, "root cancelled");
                Err(ErrorKind::Cancelled.into())
            })
    })
    .await;
    if out.as_ref().is_err_and(Error::is_cancelled) {
        // The body's drops run as cancelled code (see `debug`).
        shared.with(|st, _| st.winding_down = true);
    }
    main.poll(|| drop(body));
    out
}

/// Whether a debug REPL runs in this actor, or (the root) a child holds
/// the tree's terminal lock (the core drops a claim whose channel closed).
fn repl_in_tree(shared: &Arc<Shared>) -> bool {
    crate::debug::repl_live(shared) || shared.with(|st, _| st.actor.tty_lock_holder().is_some())
}

/// How long a child may take to wind down before it exits regardless; a
/// parent waits [`tractor_protocol::REAP_KILL_AFTER`] before killing it.
const WIND_DOWN: Duration = Duration::from_millis(1500);

/// Ends the process after [`WIND_DOWN`], ending every process below it
/// (their socket files in `uds_dir` removed) and removing its own socket
/// files first.
fn watchdog(shared: Weak<Shared>, addrs: Vec<Address>, uds_dir: Option<std::path::PathBuf>) {
    let start = Instant::now();
    std::thread::spawn(move || {
        // A REPL live meanwhile holds winding down back: the time counts
        // from its end.
        loop {
            let actor = shared.upgrade();
            let last_end = actor.as_deref().and_then(crate::debug::last_repl_end);
            let held = actor.as_deref().is_some_and(crate::debug::held);
            drop(actor);
            let from = last_end.map_or(start, |end| end.max(start));
            let due = from + WIND_DOWN;
            let now = Instant::now();
            if held {
                std::thread::sleep(WIND_DOWN);
            } else if now < due {
                std::thread::sleep(due - now);
            } else {
                break;
            }
        }
        tracing::warn!(target: "tractor::runtime", "winding down took too long: exiting");
        // Never before what runs below: children that are stuck as well
        // would outlive us otherwise.
        crate::reap::end_everything_below(uds_dir.as_deref());
        for addr in &addrs {
            transport::unbind(addr);
        }
        exit_process(1);
    });
}

/// Watches, from a plain thread, that the parent process lives: the
/// backstop for a child whose runtime is stalled (a function blocking
/// every worker), which cannot react to the parent channel closing.
/// `parent` is the process the child's [`Lineage`](crate::lineage::Lineage)
/// said to watch; once `getppid()` names another (the parent died, and a
/// reaper took the child over), the thread starts the [`watchdog`] (the
/// child has [`WIND_DOWN`] to go) and closes the parent `channel`, which
/// cancels the actor as a lost parent does if its runtime still runs.
///
/// No parent-death signal backs this up: Linux sends it when the *thread*
/// that forked the child exits, which is not the parent's death (see
/// [`lineage`](crate::lineage)).
fn orphan_guard(shared: &Arc<Shared>, parent: nix::unistd::Pid, channel: ChannelId) {
    let weak = Arc::downgrade(shared);
    std::thread::spawn(move || {
        while nix::unistd::getppid() == parent {
            std::thread::sleep(Duration::from_millis(100));
        }
        let Some(shared) = weak.upgrade() else {
            watchdog(Weak::new(), Vec::new(), transport::runtime_dir().ok());
            return;
        };
        watchdog(
            Arc::downgrade(&shared),
            shared.with(|st, _| st.actor.accept_addrs().to_vec()),
            Some(shared.settings.uds_dir.clone()),
        );
        let reason = format!("the parent process (pid {parent}) is gone");
        shared.with(|st, now| st.actor.handle_closed(now, channel, Some(reason)));
    });
}

/// The backstop of a launched child: a plain thread reads `pipe` (its
/// standard input from the parent, kept open for its whole life, through
/// whatever launcher) until it ends, then does what [`orphan_guard`] does
/// for a dead parent: over `ssh`, a killed local launcher looks like this.
fn pipe_guard(shared: &Arc<Shared>, mut pipe: std::fs::File, channel: ChannelId) {
    use std::io::Read;
    let weak = Arc::downgrade(shared);
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while pipe.read(&mut buf).is_ok_and(|n| n > 0) {}
        tracing::info!(target: "tractor::cancel", "the parent's pipe on stdin ended: the launcher is gone");
        let Some(shared) = weak.upgrade() else {
            return;
        };
        watchdog(
            Arc::downgrade(&shared),
            shared.with(|st, _| st.actor.accept_addrs().to_vec()),
            Some(shared.settings.uds_dir.clone()),
        );
        let reason = "the launcher's pipe on stdin ended".to_owned();
        shared.with(|st, now| st.actor.handle_closed(now, channel, Some(reason)));
    });
}

/// A child's whole life; returns its exit code.
async fn run_child(
    rt: Arc<dyn Runtime>,
    (functions, debug_filter): (Functions, Option<DebugFilter>),
    args: ChildArgs,
) -> i32 {
    // First of all, before the parent could die unseen (see `lineage`).
    let (lineage, lineage_warning) = crate::lineage::resolve(&args.uid.uuid);
    let launched_pipe = crate::launch::take_parent_pipe(&args.uid.uuid);
    // Whatever is orphaned below us comes to us, to end and reap before
    // we exit (see `reap`).
    crate::reap::become_subreaper();
    #[cfg(target_os = "linux")]
    {
        // `comm` (what `ps -o comm`, `top` and zombie scans show) gets the
        // title too, as far as its 15 bytes go.
        let title = crate::engine::proc_title(&args.uid.name);
        let mut comm: String = title.chars().take(15).collect();
        while comm.len() > 15 {
            comm.pop();
        }
        // The process's own (its main thread's), whichever thread runs this.
        let _ = std::fs::write("/proc/self/comm", comm);
    }
    // Before anything could hang: a parent may signal us at any time.
    if crate::stackscope::env_enabled() {
        crate::stackscope::enable();
    }
    let uds_dir = match transport::runtime_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tractor child {}: {e}", args.uid);
            return 1;
        }
    };
    let auth = match crate::auth::Auth::for_child().and_then(|a| Ok((a.core()?, a))) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tractor child {}: {e}", args.uid);
            return 1;
        }
    };
    let tls = match crate::tls::Tls::for_child() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tractor child {}: {e}", args.uid);
            return 1;
        }
    };
    let limits = match crate::limits::TreeLimits::for_child() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tractor child {}: {e}", args.uid);
            return 1;
        }
    };
    let advertise = match transport::advertise_from_env() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tractor child {}: {e}", args.uid);
            return 1;
        }
    };
    let seed = random_seed();
    let mut core = CoreConfig::new(args.uid.name.clone(), args.uid.uuid.clone());
    core.pid = Some(std::process::id());
    core.seed = seed;
    core.limits = limits.limits.clone();
    core.max_frame_len = limits.max_frame_len;
    core.cancel_grace = limits.cancel_grace;
    core.endpoints = functions.endpoints(None);
    core.auth = auth.0;
    crate::log::set_actor(&args.uid);
    let loglevel = crate::log::effective(args.loglevel.clone());
    if let Some(level) = &loglevel {
        crate::log::install(level);
    }
    if let Some(warning) = lineage_warning {
        tracing::warn!(target: "tractor::runtime", "{warning}: watching the parent process found at start");
    }
    let parent_process = match lineage {
        Lineage::Watch(pid) => pid,
        Lineage::Gone(pid) => {
            // Nothing started yet: nothing to wind down.
            tracing::info!(target: "tractor::cancel", parent_pid = pid, "lost the parent: it died before this child started");
            eprintln!(
                "tractor child {}: the parent process (pid {pid}) is gone",
                args.uid
            );
            return 1;
        }
    };
    let settings = Settings {
        loglevel,
        uds_dir: uds_dir.clone(),
        debug_filter: debug_filter.map(DebugFilter::into_inner),
        auth: auth.1,
        limits,
        tls,
        advertise,
    };
    let shared = Shared::new(
        rt,
        Actor::new(core),
        crate::serve::Served::new(functions),
        settings,
    );
    // SIGINT (a ctrl-c reaches the whole process group) and SIGTERM (a
    // parent's escalation) cancel this actor gracefully, even while it
    // boots; a parent that gets no answer still ends it with SIGKILL. They
    // are heard (not given their default action) until the process exits.
    let _listening = crate::signals::listen();
    let mut signals = interrupt_and_terminate(&shared);
    // Before anything is served: a function may use it at once.
    if args.guest {
        match crate::guest::start(&*shared.rt) {
            Ok(guest) => guest.keep(),
            Err(e) => {
                eprintln!("tractor child {}: {e}", args.uid);
                return 1;
            }
        }
    }
    // Served functions may ask for their actor as soon as they run.
    set_current(Some(shared.clone()));
    shared.defer_calls();
    let parent = args.parent_addr.clone();
    let channel = shared.with(|st, _| {
        let ch = st.actor.connect_parent(parent.clone());
        st.conns.insert(ch, Conn::Pending);
        ch
    });
    orphan_guard(&shared, parent_process, channel);
    if let Some(pipe) = launched_pipe {
        pipe_guard(&shared, pipe, channel);
    }
    let handle = ActorHandle {
        shared: shared.clone(),
    };
    let spec = shared
        .wait(|st, _| {
            if let Some(spec) = st.spawn_spec.take() {
                return Some(Some(spec));
            }
            match st.conns.get(&channel) {
                Some(Conn::Closed(_)) | None => Some(None),
                _ if st.parent_lost => Some(None),
                _ => None,
            }
        })
        .await;
    let Some(spec) = spec else {
        eprintln!(
            "tractor child {}: could not reach the parent at {parent}",
            args.uid
        );
        teardown(&handle).await;
        return 1;
    };
    let vars = shared.with(|st, _| st.actor.runtime_vars().clone());
    // As Python's child: on if the tree asks, or in debug mode.
    if vars.use_stackscope || vars.debug_mode {
        crate::stackscope::enable();
    }
    let transport = vars
        .enable_transports
        .first()
        .and_then(|k| Transport::from_key(k))
        .unwrap_or_default();
    let binds = match spec.bind_addrs.clone().filter(|b| !b.is_empty()) {
        Some(b) => b,
        None => vec![transport::random_addr(transport, &uds_dir, &args.uid.name)],
    };
    if let Err(e) = listen(&shared, &binds, &shared.settings.advertise) {
        eprintln!("tractor child {}: {e}", args.uid);
        teardown(&handle).await;
        return 1;
    }
    tracing::info!(
        target: "tractor::runtime",
        uid = %args.uid,
        addrs = %crate::log::list(handle.accept_addrs()),
        parent = %parent,
        "actor up"
    );
    if let Err(e) = handle.register().await {
        tracing::warn!(target: "tractor::runtime", error = %e, "could not register with the registrar");
    }
    shared.serve();
    // Serve until a peer cancels us, the parent goes, or a signal.
    let mut interrupted = false;
    let debug = vars.debug_mode;
    poll_fn(|cx| {
        for (kind, s) in signals.iter_mut() {
            while let Poll::Ready(Some(())) = s.poll_recv(cx) {
                // In debug mode ctrl-c is the root's to handle (it cancels
                // the tree once no REPL holds the terminal).
                if debug && *kind == SignalKind::Interrupt {
                    if crate::debug::repl_live(&shared) {
                        crate::debug::reprompt();
                    }
                    tracing::debug!(target: "tractor::runtime", "SIGINT left to the root in debug mode");
                    continue;
                }
                interrupted = true;
                return Poll::Ready(());
            }
        }
        shared.poll_state(cx, |st| {
            (st.cancel_requested.is_some() || st.parent_lost).then_some(())
        })
    })
    .await;
    if interrupted {
        shared.with(|st, _| st.actor.cancel_self());
    }
    // From here on the child only winds down. If that stalls (a function
    // blocks its thread, the parent is gone and cannot kill us), a plain
    // thread ends the process: no orphan outlives its tree.
    let uds_dir = handle.shared.settings.uds_dir.clone();
    watchdog(
        Arc::downgrade(&handle.shared),
        handle.accept_addrs(),
        Some(uds_dir.clone()),
    );
    teardown(&handle).await;
    set_current(None);
    // Children were reaped in teardown; what is left below is orphans
    // handed to us, or processes a function started and left running.
    crate::reap::end_everything_below(Some(&uds_dir));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_look_like_version_4() {
        let u = new_uuid(12345);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        assert_ne!(u, new_uuid(12346));
    }
}
