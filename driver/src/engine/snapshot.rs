//! What the driver adds to an actor's snapshot (`self.introspect`, see
//! `tractor_protocol::introspect`): its runtime, addresses, uptime, and
//! its process's memory, CPU time and threads, read from `/proc`.

use tractor_protocol::introspect::ProcessStats;

use super::{Shared, State};

/// Clock ticks per second of `/proc/<pid>/stat`'s times: Linux's
/// `USER_HZ`, 100 on every architecture it runs on.
const USER_HZ: u64 = 100;

/// This actor's process, now.
pub(crate) fn process_stats(shared: &Shared, st: &State) -> ProcessStats {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
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
        uptime_ms: shared.started.elapsed().as_millis() as u64,
        rss_kib: field("VmRSS:"),
        cpu_ms: cpu_ms(),
        threads: u32::try_from(field("Threads:")).unwrap_or(u32::MAX),
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
