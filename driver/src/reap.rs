//! Ending a process together with everything below it.
//!
//! A child actor that must be killed (it ignored a cancel request and
//! SIGTERM, or a second SIGINT asked for it) may have children of its own
//! that it can no longer end: SIGKILL leaves them no time. So whoever kills
//! a child kills its whole subtree at once, as `/proc` shows it at that
//! moment, and waits until each of those processes is dead before it
//! reports the child gone.
//!
//! A child actor is also a *subreaper* (Linux's `PR_SET_CHILD_SUBREAPER`):
//! a process below it whose own parent died is handed to it, not to the
//! system's init, and it reaps those before it exits. An actor's process
//! therefore never exits while a process below it is alive, whichever way
//! it exits: after a clean teardown, through its wind-down watchdog, or
//! when its parent is gone. This includes processes a served function
//! started itself and left running: they end with the actor.
//!
//! The root is not made a subreaper: it is the user's program, whose other
//! subprocesses are none of the tree's business.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// How long to wait for killed processes to be dead before giving up
/// (they are SIGKILLed: only a process stuck in the kernel takes long).
pub(crate) const DEATH_TIMEOUT: Duration = Duration::from_secs(2);

/// The state letter and parent of process `pid`, from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: the command may hold spaces and
    // parentheses, so the fields start after the last `)`.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// The children of `pid`, from each of its threads' `children` file
/// (`/proc/<pid>/task/<tid>/children`); `None` where the kernel has no
/// such files.
fn children_of(pid: u32) -> Option<Vec<u32>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut children = Vec::new();
    let mut any = false;
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        any = true;
        children.extend(
            text.split_ascii_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
    }
    // A process without threads is gone (no children); a kernel without
    // the files gives none for any thread.
    any.then_some(children)
}

/// Every process below `root` (its children, theirs, and so on), as
/// `/proc` shows them now; empty where there is no `/proc`.
pub(crate) fn descendants(root: u32) -> Vec<u32> {
    if std::path::Path::new(&format!("/proc/{root}/task")).exists()
        && let Some(first) = children_of(root)
    {
        // Each process's own list of children: a walk of the subtree
        // alone, however many other processes the machine has.
        let mut below = Vec::new();
        let mut frontier = first;
        while let Some(p) = frontier.pop() {
            if p == root || below.contains(&p) {
                continue;
            }
            below.push(p);
            frontier.extend(children_of(p).unwrap_or_default());
        }
        return below;
    }
    scan_descendants(root)
}

/// [`descendants`] by reading the parent of every process on the machine.
fn scan_descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat(pid)?.1)))
        .collect();
    let mut below = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == p && pid != root && !below.contains(&pid) {
                below.push(pid);
                frontier.push(pid);
            }
        }
    }
    below
}

/// SIGKILLs every process below `pid`; returns their pids (to wait for
/// with [`dead`]). The caller signals `pid` itself.
pub(crate) fn kill_below(pid: u32) -> Vec<u32> {
    let below = descendants(pid);
    for &p in &below {
        if let Err(e) = kill(Pid::from_raw(p as i32), Signal::SIGKILL) {
            tracing::debug!(target: "tractor::cancel", pid = p, error = %e, "signal not delivered");
        }
    }
    if !below.is_empty() {
        tracing::warn!(target: "tractor::cancel", pid, below = ?below, "killing the processes below it too (SIGKILL)");
    }
    below
}

/// Whether each of `pids` is dead: gone, or a zombie (reaped here when it
/// is this process's to reap).
pub(crate) fn dead(pids: &[u32]) -> bool {
    pids.iter().all(|&p| {
        // Ours to reap when it was handed to us (a subreaper); else its
        // parent or init reaps it.
        let _ = waitpid(Pid::from_raw(p as i32), Some(WaitPidFlag::WNOHANG));
        !matches!(stat(p), Some((state, _)) if state != 'Z' && state != 'X')
    })
}

/// Makes this process the subreaper of everything below it (Linux only;
/// elsewhere nothing).
pub(crate) fn become_subreaper() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::debug!(target: "tractor::runtime", error = %e, "not a subreaper");
    }
}

/// Kills every process below this one and reaps them all, giving up after
/// [`DEATH_TIMEOUT`], and removes their socket files: a child actor's last
/// act before it exits. Blocks the calling thread; each round takes a few
/// milliseconds.
pub(crate) fn end_everything_below() {
    let mut killed = Vec::new();
    end_below(&mut killed);
    // A killed actor leaves its socket file behind.
    if !killed.is_empty()
        && let Ok(dir) = crate::transport::runtime_dir()
    {
        for p in killed {
            crate::transport::remove_socket_files_of(&dir, p);
        }
    }
}

/// [`end_everything_below`]'s loop: `killed` gets every process signalled.
fn end_below(killed: &mut Vec<u32>) {
    let me = std::process::id();
    let deadline = Instant::now() + DEATH_TIMEOUT;
    loop {
        // Reap whatever has ended: our children, and (a subreaper) the
        // orphans handed to us. No child left, ended or not, means nothing
        // below: whatever is below a process hangs from one of its
        // children, or was handed to it when its parent died.
        let no_children = loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break false,
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break true,
            }
        };
        if no_children {
            return;
        }
        let below = descendants(me);
        for &p in &below {
            let _ = kill(Pid::from_raw(p as i32), Signal::SIGKILL);
            if !killed.contains(&p) {
                killed.push(p);
            }
        }
        if Instant::now() >= deadline {
            tracing::warn!(target: "tractor::cancel", left = ?below, "processes below still alive: exiting regardless");
            return;
        }
        tracing::warn!(target: "tractor::cancel", below = ?below, "ending the processes below before exiting (SIGKILL)");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_reads_a_command_with_parentheses_and_spaces() {
        // This test process itself: running, with the test runner's
        // parent.
        let (state, ppid) = stat(std::process::id()).expect("own stat");
        assert!(state.is_ascii_uppercase(), "{state}");
        assert_eq!(ppid, std::os::unix::process::parent_id());
    }

    #[test]
    fn a_subtree_is_found_killed_and_dead() {
        // sh → sleep: two levels below this process.
        let mut sh = std::process::Command::new("sh")
            .args(["-c", "sleep 1000 & wait"])
            .spawn()
            .expect("sh");
        let pid = sh.id();
        let deadline = Instant::now() + Duration::from_secs(30);
        let below = loop {
            let below = descendants(pid);
            if !below.is_empty() {
                break below;
            }
            assert!(Instant::now() < deadline, "sleep never started");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(descendants(std::process::id()).contains(&pid));
        assert!(descendants(std::process::id()).contains(&below[0]));
        // Both ways of finding them agree.
        let mut scanned = scan_descendants(pid);
        scanned.sort_unstable();
        let mut walked = descendants(pid);
        walked.sort_unstable();
        assert_eq!(walked, scanned);
        assert!(!dead(&below));
        assert_eq!(kill_below(pid), below);
        while !dead(&below) {
            assert!(Instant::now() < deadline, "the sleep outlived SIGKILL");
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = sh.kill();
        let _ = sh.wait();
        assert!(dead(&[pid]));
    }
}
