//! What the scenarios share: printing facts, describing errors, running
//! futures together, spawning and killing, markers in the tree's folder.

use crate::*;

pub(crate) const NS: &str = "conf";

/// In a child of scenario dbg-debug-filter: the error type that opens no
/// crash REPL.
pub(crate) const SKIP_CRASH: &str = "CONF_SKIP_CRASH";

/// Set for a child (fault-child-sigkilled-spawn): it stops before the
/// entry point, so it never connects back.
pub(crate) const STALL_BEFORE_ENTRY: &str = "CONF_STALL_BEFORE_ENTRY";

pub(crate) fn me() -> ActorHandle {
    current_actor().expect("an actor runs")
}

pub(crate) fn fact(key: &str, value: impl std::fmt::Display) {
    println!("{key}={value}");
}

pub(crate) fn daemon() -> ActorOptions {
    ActorOptions::new().enable_modules([NS])
}

/// Whether this tree's actors record backtraces (they inherit the
/// environment): Rust's convention, as the driver reads it.
pub(crate) fn backtraces_on() -> bool {
    match std::env::var_os("RUST_LIB_BACKTRACE") {
        Some(v) => v != "0",
        None => std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0"),
    }
}

/// A traceback reads as Python's (its header, its frames, the error's
/// `Type: message` last, newline-terminated), shows where the error was
/// made and, with backtraces on, only the application's frames: none of
/// the runtime's, the standard library's or tractor's.
pub(crate) fn check_short_traceback(tb: &str) -> Result<()> {
    check!(
        tb.starts_with("Traceback (most recent call last):\n  File \""),
        "no Python header and frame first: {tb}"
    );
    check!(tb.ends_with('\n'), "not newline-terminated: {tb:?}");
    // The closing line says the error itself, not a frame.
    let frames = tb
        .trim_end()
        .rsplit_once('\n')
        .map_or("", |(frames, _)| frames);
    let runtime = [
        "tokio::",
        "async_executor::",
        "async_task::",
        "async_io::",
        "futures",
        "tractor_driver::",
        "tractor_protocol::",
        "tractor_tokio::",
        "tractor_smol::",
        "std::",
        "core::",
        "alloc::",
    ];
    check!(
        !frames
            .lines()
            .any(|l| runtime.iter().any(|r| l.contains(r))),
        "frames of the runtime in: {tb}"
    );
    check!(tb.lines().count() <= 50, "a long traceback: {tb}");
    Ok(())
}

pub(crate) type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

pub(crate) type SendBoxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs futures concurrently on the current task.
pub(crate) async fn join_all<F: Future + Unpin>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<Option<F>> = futs.into_iter().map(Some).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futs.iter_mut().enumerate() {
            if let Some(fut) = f {
                match Pin::new(fut).poll(cx) {
                    std::task::Poll::Ready(v) => {
                        out[i] = Some(v);
                        *f = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future finished"))
        .collect()
}

/// Describes an error for the tests: kind, boxed and source types.
pub(crate) fn describe(e: &Error) -> String {
    match e.kind() {
        ErrorKind::Group(errors) => {
            let parts: Vec<String> = errors.iter().map(describe).collect();
            format!("group[{}]", parts.join(","))
        }
        ErrorKind::Interrupted => "interrupted".into(),
        ErrorKind::Terminated => "terminated".into(),
        _ => match e.remote() {
            Some(r) => format!("remote:{}:{}", r.boxed_type(), r.src_type()),
            None if e.is_cancelled() => "cancelled".into(),
            None => format!("local:{e}"),
        },
    }
}

/// Either of two outcomes.
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls `a`, then `b`, until one finishes; the other is dropped, which
/// cancels it.
pub(crate) async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

/// Polls `a` and `b` until both finish.
pub(crate) async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let (mut ra, mut rb) = (None, None);
    poll_fn(|cx| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.expect("a finished"), rb.expect("b finished"))
}

/// Lets the other futures of this task run once.
pub(crate) async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Resolves once `cond` holds; for a condition the same task changes (no
/// waker needed: it is polled right after the future that changes it).
pub(crate) fn when(cond: impl Fn() -> bool) -> impl Future<Output = ()> {
    poll_fn(move |_| {
        if cond() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

/// Waits until `cond` holds, for conditions that another task, thread or
/// process changes: it looks again every few milliseconds, which changes
/// how long the wait takes and nothing else.
/// The file by which process `pid` tells it is blocked in `block_sync`.
/// The file `conf:hold` writes once it runs, in the process `pid`.
pub(crate) fn held_marker(pid: u32) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("held-{pid}"))
}

/// Kills the process `pid` with SIGKILL.
pub(crate) fn sigkill(pid: u32) -> Result<()> {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .map_err(|e| Error::raise("OSError", format!("kill {pid}: {e}")))
}

/// Checks that `e` is the error of a dialog whose peer, the child `name`
/// of pid `pid`, was SIGKILLed: the actor, its pid and the signal, in the
/// error's fields and its words. Prints the error and the pid.
pub(crate) fn child_died(e: &Error, name: &str, pid: u32) -> Result<()> {
    fact("error", describe(e));
    fact("victim_pid", pid);
    let ErrorKind::Dialog(DialogError::PeerLost {
        peer,
        pid: Some(lost),
        exit: Some(exit),
        ..
    }) = e.kind()
    else {
        return Err(Error::raise(
            "AssertionError",
            format!("not a lost peer: {e}"),
        ));
    };
    check!(peer.name == name && *lost == pid, "{e}");
    check!(exit.signal == Some(9) && exit.code.is_none(), "{e}");
    let said = e.to_string();
    check!(
        said.starts_with(&format!("actor '{name}' (uid {peer}, pid {pid}) died: ")),
        "{said}"
    );
    check!(said.ends_with("killed by SIGKILL"), "{said}");
    Ok(())
}

pub(crate) fn blocked_marker(pid: u32) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("blocked-{pid}"))
}

pub(crate) async fn until(actor: &ActorHandle, mut cond: impl FnMut() -> bool) {
    while !cond() {
        actor.sleep(Duration::from_millis(5)).await;
    }
}

/// A cancellation requested by this side of a context names `by` as its
/// canceller.
pub(crate) fn requested_by(e: &Error, by: &ActorHandle) -> bool {
    matches!(e.kind(), ErrorKind::Dialog(_))
        && e.to_string() == "cancelled as requested"
        && e.canceller() == Some(by.uid())
}

/// The canceller named by a `ContextCancelled`.
pub(crate) fn canceller(e: &Error) -> String {
    e.canceller().map(|u| u.name.clone()).unwrap_or_default()
}

pub(crate) fn interrupted() -> Error {
    ErrorKind::Interrupted.into()
}

/// A file in the tree's runtime directory (removed with the tree).
pub(crate) fn tree_file(name: &str) -> Result<String> {
    let dir = std::env::var("XDG_RUNTIME_DIR")
        .map_err(|_| Error::raise("OSError", "XDG_RUNTIME_DIR is not set"))?;
    Ok(format!("{dir}/{name}"))
}

pub(crate) fn registry_names(
    reg: &std::collections::BTreeMap<String, Vec<Address>>,
) -> Vec<String> {
    let mut names: Vec<String> = reg
        .keys()
        .map(|k| k.rsplit_once('.').map_or(k.as_str(), |(n, _)| n).to_owned())
        .collect();
    names.sort();
    names
}

/// The children this actor's own record lists with a process, by name,
/// among `names` (read from its task-tree dump: a child line is
/// `name[uuid] pid N: state`).
pub(crate) fn children_with_pids(names: &[String]) -> std::collections::BTreeMap<String, u32> {
    let dump = tractor_driver::stackscope::dump();
    let mut found = std::collections::BTreeMap::new();
    for line in dump.lines().map(str::trim_start) {
        let Some(name) = names.iter().find(|n| line.starts_with(&format!("{n}["))) else {
            continue;
        };
        let pid = line
            .split_once(" pid ")
            .and_then(|(_, rest)| rest.split(':').next())
            .and_then(|pid| pid.parse().ok());
        if let Some(pid) = pid {
            found.insert(name.clone(), pid);
        }
    }
    found
}

/// Polls `fut` once: its output if that finished it.
pub(crate) async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// An event's message.
pub(crate) struct Message(pub(crate) String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        if f.name() == "message" {
            self.0 = format!("{v:?}");
        }
    }
}

/// A registrar given on the command line: a TCP port on the loopback
/// interface, or a socket file in the runtime directory.
/// Addresses as multiaddrs, comma-separated; each checked to read back as
/// itself.
pub(crate) fn crate_list_maddr(addrs: &[Address]) -> Result<String> {
    let texts: Vec<String> = addrs.iter().map(Address::to_maddr).collect();
    for (addr, text) in addrs.iter().zip(&texts) {
        let back: Result<Address, _> = text.parse();
        check!(back.as_ref() == Ok(addr), "{text} reads back as {back:?}");
    }
    Ok(texts.join(","))
}

/// Runs `body` with a daemon named `name` (serving this program's
/// namespace) in a nursery of its own, then cancels the daemon, which must
/// acknowledge.
pub(crate) async fn with_daemon<F, Fut, T>(root: &ActorHandle, name: &str, body: F) -> Result<T>
where
    F: FnOnce(Portal) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    root.open_nursery(|n| async move {
        let p = n.start_actor(name, daemon()).await?;
        let out = body(p.clone()).await?;
        p.cancel_actor().await?;
        Ok(out)
    })
    .await
}

/// Opens a nursery on `root`, starts the daemon `name` in it, and runs
/// `body` with the nursery and the daemon's portal: the nursery's outcome.
pub(crate) async fn nursery_with<F, Fut, T>(root: &ActorHandle, name: &str, body: F) -> Result<T>
where
    F: FnOnce(ActorNursery, Portal) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    root.open_nursery(|n| async move {
        let p = n.start_actor(name, daemon()).await?;
        body(n.clone(), p).await
    })
    .await
}

/// Opens a nursery on `root` whose `body` must fail: the error it ends
/// with (a panic saying `what` if it does not fail).
pub(crate) async fn nursery_error<F, Fut>(root: &ActorHandle, what: &str, body: F) -> Error
where
    F: FnOnce(ActorNursery) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    root.open_nursery(body).await.expect_err(what)
}

/// Starts `count` one-shot children in `n`, named `{prefix}-{i}`, each
/// running `NS:func` with the arguments `args(i)`: their portals.
pub(crate) async fn run_in_actors<A: Serialize>(
    n: &ActorNursery,
    prefix: &str,
    count: usize,
    func: &str,
    args: impl Fn(usize) -> A,
) -> Result<Vec<Portal>> {
    let mut portals = Vec::with_capacity(count);
    for i in 0..count {
        let name = format!("{prefix}-{i}");
        portals.push(
            n.run_in_actor(name, NS, func, args(i), ActorOptions::new())
                .await?,
        );
    }
    Ok(portals)
}

/// Runs `body` with the stream of a `conf:echo` context opened on a
/// daemon `name` (see [`with_daemon`]), then closes the stream: `body`'s
/// outcome and how many items the echo passed back.
pub(crate) async fn with_echo<F, Fut, T>(
    root: &ActorHandle,
    name: &str,
    body: F,
) -> Result<(T, u32)>
where
    F: FnOnce(MsgStream) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    with_daemon(root, name, |p| async move {
        let (ctx, stream) = open_echo(&p).await?;
        let out = body(stream).await?;
        let echoed = ctx.wait_for_result::<u32>().await?;
        Ok((out, echoed))
    })
    .await
}

/// Opens `NS:func` on `p` as a context that must fail, at its opening or
/// after it started with a `S`: its error (a panic saying `what` if it
/// returns).
pub(crate) async fn context_error<S: serde::de::DeserializeOwned>(
    p: &Portal,
    func: &str,
    what: &str,
) -> Error {
    match p.open_context::<S>(NS, func, ()).await {
        Ok((ctx, _)) => ctx.wait_for_result::<()>().await.expect_err(what),
        Err(e) => e,
    }
}

/// In a context's function: says `value` as started, then waits until
/// cancelled.
pub(crate) async fn started_then_wait(ctx: &Context, value: impl Serialize) -> Result<()> {
    ctx.started(value).await?;
    std::future::pending::<()>().await;
    Ok(())
}

/// Prints `ready=true`, then waits for ever: the test ends the tree from
/// outside.
pub(crate) async fn ready_then_wait() -> Result<()> {
    fact("ready", true);
    std::future::pending::<()>().await;
    Ok(())
}

/// Opens a `conf:echo` context on `p`, and its stream.
pub(crate) async fn open_echo(p: &Portal) -> Result<(Context, MsgStream)> {
    let (ctx, ()) = p.open_context(NS, "echo", ()).await?;
    let stream = ctx.open_stream().await?;
    Ok((ctx, stream))
}

/// Sends the integers `0..count` on `stream`.
pub(crate) async fn send_ints(stream: &MsgStream, count: i64) -> Result<()> {
    for i in 0..count {
        stream.send(&i).await?;
    }
    Ok(())
}

/// Sends `count` pings on `stream`, each answered by a `pong`.
pub(crate) async fn ping_pong(stream: &MsgStream, count: usize) -> Result<()> {
    for _ in 0..count {
        stream.send("ping").await?;
        let pong: String = stream.receive().await?;
        check!(pong == "pong", "{pong}");
    }
    Ok(())
}

/// Opens a `conf:echo` context on `p` and sends the integers `0..count`
/// on its stream, each echoed back as itself; then closes the stream: how
/// many items the echo passed back.
pub(crate) async fn echo_ints(p: &Portal, count: i64) -> Result<u32> {
    let (echo, items) = open_echo(p).await?;
    for i in 0..count {
        items.send(&i).await?;
        let back: i64 = items.receive().await?;
        check!(back == i, "{back} for {i}");
    }
    drop(items);
    echo.wait_for_result::<u32>().await
}

/// Runs `NS:func` in a one-shot child `name`, in a nursery of its own:
/// the nursery's outcome.
pub(crate) async fn one_shot(root: &ActorHandle, name: &str, func: &str) -> Result<()> {
    root.open_nursery(|n| async move {
        n.run_in_actor(name, NS, func, (), ActorOptions::new())
            .await?;
        Ok(())
    })
    .await
}

/// Runs `NS:func` in a one-shot child `name`, in a nursery of its own,
/// and waits for its result.
pub(crate) async fn one_shot_result<T: serde::de::DeserializeOwned + Send + 'static>(
    root: &ActorHandle,
    name: &str,
    func: &str,
) -> Result<T> {
    root.open_nursery(|n| async move {
        let p = n
            .run_in_actor(name, NS, func, (), ActorOptions::new())
            .await?;
        p.wait_for_result().await
    })
    .await
}

/// This process's runtime, for the entry points: its adapter's
/// ([`ADAPTER`] picks it).
pub(crate) fn runtime() -> Arc<dyn Runtime> {
    Adapter::from_env().runtime()
}

pub(crate) fn crate_list(addrs: &[Address]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs `f` on a plain thread, the actor's runtime going on meanwhile.
pub(crate) async fn off_runtime<T: Send + 'static>(
    actor: &ActorHandle,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let slot = Arc::new(std::sync::Mutex::new(None));
    let out = slot.clone();
    std::thread::spawn(move || {
        let v = f();
        *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
    });
    loop {
        if let Some(v) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return v;
        }
        actor.sleep(Duration::from_millis(5)).await;
    }
}

/// The `n`-th extra argument of the command line (after the scenario id,
/// the transport and the registrar).
pub(crate) fn extra_arg(n: usize) -> Result<usize> {
    let arg = std::env::args().nth(4 + n).unwrap_or_default();
    arg.parse()
        .map_err(|e| Error::raise("ValueError", format!("argument {arg:?}: {e}")))
}

/// What an actor knows of its tree's secret: whether it has one (from its
/// environment, where its parent put it), and whether it shows on its
/// command line.
#[derive(Serialize, Deserialize)]
pub(crate) struct AuthReport {
    pub(crate) has_secret: bool,
    pub(crate) in_argv: bool,
}

pub(crate) fn auth_report() -> AuthReport {
    use std::os::unix::ffi::OsStrExt;
    let secret = std::env::var_os(tractor_driver::SECRET_ENV).unwrap_or_default();
    let secret = secret.as_bytes();
    let cmdline = std::fs::read("/proc/self/cmdline").unwrap_or_default();
    AuthReport {
        has_secret: !secret.is_empty(),
        in_argv: !secret.is_empty() && cmdline.windows(secret.len()).any(|w| w == secret),
    }
}

/// The limit on calls at once per peer that `tpt-limits-inherited` gives its
/// tree.
pub(crate) const INHERITED_DIALOGS: usize = 4;

/// Runs as many calls at once in the actor behind `p` as
/// [`INHERITED_DIALOGS`], over one connection: how one more call fares,
/// then one more once a running one ended (`ok:…`, or the error's type).
pub(crate) async fn over_the_limit(p: &Portal) -> Result<(String, String)> {
    let mut running = Vec::new();
    for _ in 0..INHERITED_DIALOGS {
        let (ctx, ()) = p.open_context(NS, "block_forever", ()).await?;
        running.push(ctx);
    }
    let outcome = |r: Result<String>| match r {
        Ok(hi) => format!("ok:{hi}"),
        Err(e) => e.type_name().map_or_else(|| describe(&e), str::to_owned),
    };
    let over = outcome(p.run::<String>(NS, "hi", ()).await);
    let first = running.remove(0);
    first.cancel()?;
    let _ = first.wait_for_result::<()>().await;
    let after = outcome(p.run::<String>(NS, "hi", ()).await);
    for ctx in running {
        ctx.cancel()?;
        let _ = ctx.wait_for_result::<()>().await;
    }
    Ok((over, after))
}

/// Runs `cmd` (another scenario of this program, say) to its end, its
/// stdin empty and its stderr this process's: the facts it printed, by
/// key. Its failure, with what it printed, is an error naming `what`.
pub(crate) fn facts_of(
    mut cmd: std::process::Command,
    what: &str,
) -> Result<std::collections::HashMap<String, String>> {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()?;
    let said = String::from_utf8_lossy(&out.stdout);
    check!(out.status.success(), "{what}: {} said {said:?}", out.status);
    Ok(said
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}
