//! The driver's side of `self.introspect` and `self.dump_tasks` (see
//! `tractor_protocol::introspect`): to a snapshot it adds its runtime,
//! addresses, uptime, and its process's memory, CPU time and threads,
//! read from `/proc` (before the actor's state is locked, so a peer that
//! asks often keeps nobody waiting); a task dump is made on a thread of
//! its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tractor_protocol::ChannelId;
use tractor_protocol::introspect::ProcessStats;

use super::{Shared, State};
use crate::task_record::runtime_task;

/// At most this many `self.introspect` answers are made in tasks of
/// their own at once; past it, one is made at once, `/proc` read under
/// the lock (a peer that floods the call costs no more tasks).
const MAX_ANSWERING: usize = 32;

/// The `self.introspect` answers being made in tasks.
static ANSWERING: AtomicUsize = AtomicUsize::new(0);

/// Answers a `self.introspect` call, in a task of its own unless
/// [`MAX_ANSWERING`] are under way.
pub(super) fn answer(shared: &Arc<Shared>, st: &mut State, channel: ChannelId, cid: String) {
    if ANSWERING.fetch_add(1, Ordering::SeqCst) >= MAX_ANSWERING {
        ANSWERING.fetch_sub(1, Ordering::SeqCst);
        let process = process_stats(shared, st, Proc::read(shared));
        st.actor
            .answer_introspect(channel, cid, Instant::now(), process);
        return;
    }
    /// Counts the task out however it ends (dropped unrun at shutdown).
    struct Answering;
    impl Drop for Answering {
        fn drop(&mut self) {
            ANSWERING.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let counted = Answering;
    let task = shared.clone();
    shared.rt.spawn(runtime_task(
        "answering self.introspect".to_owned(),
        async move {
            let _counted = counted;
            let read = Proc::read(&task);
            task.with(|st, now| {
                let process = process_stats(&task, st, read);
                st.actor.answer_introspect(channel, cid, now, process);
            });
        },
    ));
}

/// This actor's snapshot, now.
pub(crate) fn snapshot(shared: &Arc<Shared>) -> tractor_protocol::introspect::Snapshot {
    let read = Proc::read(shared);
    shared.with(|st, now| {
        let process = process_stats(shared, st, read);
        st.actor.snapshot(now, process)
    })
}

/// Makes a task dump for the `self.dump_tasks` calls waiting, on a thread
/// of its own: the dump waits a while for the state's lock, and reads
/// every thread's kernel wait.
pub(super) fn dump_tasks(shared: &Arc<Shared>, st: &mut State) {
    let task = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("tractor-dump".to_owned())
        .spawn(move || {
            let dump = task.dispatch.task_dump();
            task.with(|st, _| st.actor.answer_task_dumps(&dump));
        });
    if let Err(e) = spawned {
        // Whoever asked hears why rather than waiting.
        tracing::warn!(target: "tractor::devx", error = %e, "no thread for a task dump");
        let why = format!("(no task dump: no thread for it: {e})");
        // Under the lock already (an event's handling), which sends it.
        st.actor.answer_task_dumps(&why);
    }
}

/// What `/proc` tells of this process.
struct Proc {
    uptime_ms: u64,
    rss_kib: u64,
    threads: u32,
    cpu_ms: u64,
}

impl Proc {
    /// Read now, with the actor's uptime at this moment (the figures
    /// whose rates a tool computes are all of one moment).
    fn read(shared: &Shared) -> Proc {
        let uptime_ms = shared.started.elapsed().as_millis() as u64;
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |key: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        Proc {
            uptime_ms,
            rss_kib: field("VmRSS:"),
            threads: u32::try_from(field("Threads:")).unwrap_or(u32::MAX),
            cpu_ms: cpu_ms(),
        }
    }
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times: Linux's
/// `USER_HZ`, 100 on every architecture it runs on.
const USER_HZ: u64 = 100;

/// This actor's process, now: `read` from `/proc`, the rest from `st`.
fn process_stats(shared: &Shared, st: &State, read: Proc) -> ProcessStats {
    ProcessStats {
        adapter: shared.rt.name().to_owned(),
        transport: st
            .actor
            .runtime_vars()
            .enable_transports
            .first()
            .cloned()
            .unwrap_or_default(),
        addrs: st
            .actor
            .accept_addrs()
            .iter()
            .map(ToString::to_string)
            .collect(),
        uptime_ms: read.uptime_ms,
        rss_kib: read.rss_kib,
        cpu_ms: read.cpu_ms,
        threads: read.threads,
    }
}

/// User and system CPU time of this process, in milliseconds.
fn cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // pid (comm) state ppid …: the comm may hold spaces, not ')'.
    let Some((_, after)) = stat.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are the 14th and 15th fields: 12th and 13th after
    // the comm.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) * 1000 / USER_HZ
}
