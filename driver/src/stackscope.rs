//! Seeing inside a live actor: task-tree dumps on `SIGUSR1`.
//!
//! Every task an actor runs is on record: the root's body (`main`), each
//! function served to a peer (named after the function, with its cid and
//! peer), each task of [`ActorHandle::spawn`](crate::ActorHandle::spawn),
//! and the runtime's own (connection readers and writers, listeners,
//! child reapers). With dumps enabled, each poll of a task also records
//! where it waits: every future of tractor's API notes the place in your
//! code that awaits it, and [`Traced::traced`] does the same for any
//! future of yours.
//!
//! On `SIGUSR1` the actor writes its tree — tasks with their await sites,
//! nurseries with their children, open contexts and streams with their
//! state, threads with their kernel wait — to stderr and appends it to
//! `tractor-stackscope-<pid>.log` in the temporary directory; then it
//! sends `SIGUSR1` on to each of its children, so a whole tree dumps parent
//! before child, as Python tractor's does (mixed trees dump together).
//!
//! The dump runs on a thread of its own, so a tree hung in a task that
//! never yields (or a runtime whose every thread is blocked) still dumps;
//! a task blocked inside a poll shows as such, with the thread it blocks
//! and that thread's kernel wait channel.
//!
//! Dumps are on when [`Config::enable_stack_on_sig`](crate::Config) says
//! so (every child inherits it through the tree's runtime variables), when
//! the tree runs in debug mode, or when `TRACTOR_ENABLE_STACKSCOPE` is set
//! to anything non-empty in a process's environment. Otherwise `SIGUSR1`
//! keeps its default action, as in Python. A peer's `self.dump_tasks`
//! (see `tractor_protocol::introspect`) gets the same text over the wire
//! whether dumps are on or not; it turns the recording of await sites on,
//! but not the signal.
//!
//! ```
//! # use tractor_driver::prelude::*;
//! # async fn demo() {
//! // `.traced` comes with the prelude (`stackscope::Traced`).
//! // Shows in a dump as `waiting for prices at src/main.rs:…` while pending.
//! let prices = async { 42 }.traced("waiting for prices").await;
//! # let _ = prices;
//! # }
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::engine::current as current_shared;
use crate::task_record::{ENABLED, Kind, TaskRecord, tasks};
pub use crate::task_record::{Traced, TracedFuture};

/// The environment variable that turns dumps on in any process of a tree
/// (children inherit it).
pub const ENV: &str = "TRACTOR_ENABLE_STACKSCOPE";

/// Whether the environment asks for dumps.
pub(crate) fn env_enabled() -> bool {
    std::env::var_os(ENV).is_some_and(|v| !v.is_empty())
}

/// The line that ends each actor's dump; Python's reads the same.
pub(crate) fn end_marker(uid: &tractor_protocol::Uid) -> String {
    format!("end-of-('{}', '{}')", uid.name, uid.uuid)
}

/// Turns dumps on in this process: `SIGUSR1` dumps the task tree from now
/// on. Idempotent.
pub(crate) fn enable() {
    static HANDLER: OnceLock<()> = OnceLock::new();
    ENABLED.store(true, Ordering::SeqCst);
    HANDLER.get_or_init(|| {
        let signals = match signal_hook::iterator::Signals::new([signal_hook::consts::SIGUSR1]) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(target: "tractor::devx", error = %e, "no task-tree dumps: SIGUSR1 handler refused");
                return;
            }
        };
        let started = std::thread::Builder::new()
            .name("tractor-stackscope".into())
            .spawn(move || {
                let mut signals = signals;
                for _ in signals.forever() {
                    on_signal();
                }
            });
        match started {
            Ok(_) => tracing::info!(
                target: "tractor::devx",
                pid = std::process::id(),
                "enabling task-tree dumps on SIGUSR1"
            ),
            Err(e) => {
                tracing::warn!(target: "tractor::devx", error = %e, "no task-tree dumps: no thread")
            }
        }
    });
}

/// The log file dumps are appended to.
pub fn log_path(pid: u32) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tractor-stackscope-{pid}.log"))
}

fn on_signal() {
    let (text, children) = render();
    {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }
    let path = log_path(std::process::id());
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = appended {
        tracing::warn!(target: "tractor::devx", path = %path.display(), error = %e, "task-tree dump not logged");
    }
    // Parent before child: each child dumps once it hears of it.
    for (uid, pid) in children {
        tracing::info!(target: "tractor::devx", child = %uid, pid, "relaying SIGUSR1 to sub-actor");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGUSR1,
        );
    }
}

/// This actor's task tree as text.
pub fn dump() -> String {
    render().0
}

/// The dump a peer asked for (`self.dump_tasks`): asking turns the
/// recording of await sites on in this process, so that the next dump
/// shows where each task waits (the first says so); `SIGUSR1` keeps what
/// it did.
pub(crate) fn dump_on_request() -> String {
    let was_on = ENABLED.swap(true, Ordering::SeqCst);
    let mut text = dump();
    if !was_on {
        text.push_str(
            "(await sites were not recorded until now: they show in the next dump, \
             once tasks have run again)\n",
        );
    }
    text
}

/// The records in id order, but each guest task right under the task it
/// is linked to (and under that task's other guest tasks started before).
fn linked_order(records: Vec<Arc<TaskRecord>>) -> Vec<Arc<TaskRecord>> {
    use std::collections::{BTreeMap, BTreeSet};
    let ids: BTreeSet<u64> = records.iter().map(|r| r.id).collect();
    // Guest tasks by the task they are linked to, if that one is shown.
    let mut under: BTreeMap<u64, Vec<Arc<TaskRecord>>> = BTreeMap::new();
    let mut top = Vec::with_capacity(records.len());
    for r in records {
        match r.kind {
            Kind::Guest {
                linked: Some(to), ..
            } if ids.contains(&to) => under.entry(to).or_default().push(r),
            _ => top.push(r),
        }
    }
    // Depth first; a record is linked only to an older one, so this ends.
    let mut out = Vec::with_capacity(ids.len());
    let mut stack: Vec<Arc<TaskRecord>> = top.into_iter().rev().collect();
    while let Some(r) = stack.pop() {
        if let Some(guests) = under.remove(&r.id) {
            stack.extend(guests.into_iter().rev());
        }
        out.push(r);
    }
    out
}

/// The dump, and the children to relay it to.
fn render() -> (String, Vec<(String, u32)>) {
    let now = Instant::now();
    let pid = std::process::id();
    let mut out = String::new();
    let shared = current_shared();
    let uid = shared.as_ref().map(|s| s.uid.clone());
    let title = match &uid {
        Some(u) => format!("('{}', '{}')", u.name, u.uuid),
        None => "(no actor)".to_owned(),
    };
    let _ = writeln!(out, "\n======== task tree of {title}, pid {pid} ========");
    // The actor's state, if its lock comes free soon: a task hung while
    // holding it must not hang the dump.
    let state = shared.as_ref().and_then(|s| {
        s.peek(Duration::from_millis(500), |st| {
            (
                st.actor.dialogs(),
                st.actor.children_info(),
                st.actor.nurseries_info(),
                st.actor.runtime_vars().is_root,
            )
        })
    });
    let (dialogs, children, nurseries) = match state {
        Some((dialogs, children, nurseries, is_root)) => {
            let _ = writeln!(out, "{}", if is_root { "root actor" } else { "sub-actor" });
            (dialogs, children, nurseries)
        }
        None if shared.is_some() => {
            let _ = writeln!(
                out,
                "(the actor's state is locked: dialogs and children not shown)"
            );
            (Vec::new(), Vec::new(), Vec::new())
        }
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    let threads = threads();
    let records: Vec<Arc<TaskRecord>> = tasks().values().cloned().collect();
    let records = linked_order(records);
    let _ = writeln!(out, "tasks ({}):", records.len());
    let shown: std::collections::BTreeSet<u64> = records.iter().map(|r| r.id).collect();
    for r in &records {
        // A guest task is shown right under its linked task, indented.
        let indent = match r.kind {
            Kind::Guest {
                linked: Some(to), ..
            } if shown.contains(&to) => "  ",
            _ => "",
        };
        let what = match &r.kind {
            Kind::Main => "main: the root's body".to_owned(),
            Kind::Spawned(at) => format!("task spawned at {at}"),
            Kind::Call(d) => match dialogs.iter().find(|i| i.id == *d) {
                Some(i) => format!("call {i}"),
                None => format!("call {}", r.name),
            },
            Kind::Runtime => format!("runtime: {}", r.name),
            Kind::Guest {
                runtime,
                linked: Some(to),
                at,
            } => format!("guest task on {runtime}, linked to [{to}], started at {at}"),
            Kind::Guest { runtime, at, .. } => format!("guest task on {runtime}, started at {at}"),
        };
        let _ = writeln!(out, "  {indent}[{}] {what}", r.id);
        let t = r.trace();
        if let Some((since, tid)) = t.polling {
            let thread = threads
                .iter()
                .find(|th| th.tid == tid)
                .map(|th| {
                    format!(
                        "thread {} '{}' ({}, wchan {})",
                        th.tid, th.name, th.state, th.wchan
                    )
                })
                .unwrap_or_else(|| format!("thread {tid}"));
            let _ = writeln!(
                out,
                "      running a poll for {:.1?} on {thread}",
                now.duration_since(since)
            );
            for (depth, f) in t.entered.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "        {:indent$}inside {} at {}",
                    "",
                    f.what,
                    f.at,
                    indent = depth * 2
                );
            }
        } else if t.waiting.is_empty() {
            match t.idle_since {
                Some(since) => {
                    let _ = writeln!(
                        out,
                        "      waiting for {:.1?} (at no traced site)",
                        now.duration_since(since)
                    );
                }
                None => {
                    let _ = writeln!(out, "      no poll seen since dumps were enabled");
                }
            }
        } else {
            let waited = t
                .idle_since
                .map(|s| now.duration_since(s))
                .unwrap_or_default();
            let _ = writeln!(out, "      waiting for {waited:.1?}:");
            for (depth, f) in t.waiting.iter().rev() {
                let _ = writeln!(
                    out,
                    "        {:indent$}{} at {}",
                    "",
                    f.what,
                    f.at,
                    indent = depth * 2
                );
            }
        }
    }
    let _ = writeln!(out, "nurseries ({}):", nurseries.len());
    let child_line = |out: &mut String, c: &tractor_protocol::ChildInfo| {
        let pid = c
            .pid
            .map(|p| format!("pid {p}"))
            .unwrap_or_else(|| "no pid yet".into());
        let _ = writeln!(out, "    {} {pid}: {}", c.uid, c.state);
    };
    for (n, state) in &nurseries {
        let _ = writeln!(out, "  {n} [{state}]");
        for c in children
            .iter()
            .filter(|c| c.nursery.is_some_and(|(m, _)| m == *n))
        {
            child_line(&mut out, c);
        }
    }
    let loose: Vec<_> = children.iter().filter(|c| c.nursery.is_none()).collect();
    if !loose.is_empty() {
        let _ = writeln!(out, "  children outside any nursery:");
        for c in loose {
            child_line(&mut out, c);
        }
    }
    let _ = writeln!(out, "contexts and calls ({}):", dialogs.len());
    for d in &dialogs {
        let _ = writeln!(out, "  {d}");
    }
    let _ = writeln!(out, "threads ({}):", threads.len());
    for th in &threads {
        let _ = writeln!(
            out,
            "  {} '{}' {} wchan {}",
            th.tid, th.name, th.state, th.wchan
        );
    }
    if let Some(u) = &uid {
        let _ = writeln!(out, "{}", end_marker(u));
    }
    let relay = children
        .iter()
        .filter_map(|c| c.pid.map(|p| (c.uid.to_string(), p)))
        .collect();
    (out, relay)
}

/// One thread of this process, as the kernel shows it.
struct ThreadInfo {
    tid: i32,
    name: String,
    state: String,
    wchan: String,
}

fn threads() -> Vec<ThreadInfo> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut all: Vec<ThreadInfo> = dir
        .flatten()
        .filter_map(|e| {
            let tid = e.file_name().to_str()?.parse().ok()?;
            let read = |f: &str| {
                std::fs::read_to_string(e.path().join(f))
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_default()
            };
            let stat = read("stat");
            // The state follows the name's closing parenthesis.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("?")
                .to_owned();
            let wchan = match read("wchan") {
                w if w.is_empty() || w == "0" => "-".to_owned(),
                w => w,
            };
            Some(ThreadInfo {
                tid,
                name: read("comm"),
                state,
                wchan,
            })
        })
        .collect();
    all.sort_by_key(|t| t.tid);
    all
}
