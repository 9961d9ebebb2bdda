//! Which process a child watches to know that its parent lives.
//!
//! A child notices its parent's death first by the parent channel closing
//! (the kernel closes a dead process's sockets); as a backstop for a
//! stalled runtime, a plain thread polls `getppid()` (the actor's
//! `orphan_guard`). No parent-death signal is asked of the kernel: Linux
//! sends `PR_SET_PDEATHSIG`'s signal when the *thread* that forked the
//! child exits, not the process, and a parent may well spawn from a thread
//! that ends long before it does (Python's trio spawns from cached worker
//! threads that exit after a few idle seconds): the child would take a
//! living parent for dead.
//!
//! Polling `getppid()` has a start-up race: a parent that died before the
//! child first looked has already handed the child to a reaper, whose pid
//! the child would record and watch forever. So a Rust parent tells each
//! child its pid in [`PARENT_PID_ENV`] (the command line is Python's wire
//! format and stays as it is), and the child resolves its [`Lineage`] at
//! its start:
//!
//! * The variable names a process that is still this child's ancestor: the
//!   parent lives. The child watches its own parent process, which is that
//!   process, or one the parent started it through (a wrapper program
//!   that forks it, say).
//! * The variable names a process that is no longer among its ancestors:
//!   the parent is gone ([`Lineage::Gone`]); the child exits as one that
//!   lost its parent, before it connects anywhere.
//! * No variable for this child (a Python parent sets none; a value
//!   inherited through such a parent names another child's parent and is
//!   ignored): the child watches `getppid()` as it finds it at its start,
//!   and only a parent that dies before that moment goes unnoticed by the
//!   backstop (the parent channel still fails).

use nix::unistd::Pid;

/// The environment variable in which a Rust parent tells a child its
/// process id, as `<parent pid>:<child uuid>`: the uuid keeps a value
/// inherited through a parent that does not set it (a Python actor) from
/// misleading its own children.
pub(crate) const PARENT_PID_ENV: &str = "TRACTOR_PARENT_PID";

/// How many ancestors [`is_ancestor`] follows before it gives up.
const MAX_DEPTH: usize = 256;

/// The value of [`PARENT_PID_ENV`] this process gives its child `uuid`.
pub(crate) fn parent_pid_value(uuid: &str) -> String {
    format!("{}:{uuid}", std::process::id())
}

/// The parent pid a value of [`PARENT_PID_ENV`] gives the child `uuid`:
/// `Ok(None)` when it was written for another child, an error naming what
/// is wrong when it does not parse.
fn parse_parent_pid(value: &str, uuid: &str) -> Result<Option<u32>, String> {
    let (pid, for_uuid) = value
        .split_once(':')
        .ok_or_else(|| format!("{PARENT_PID_ENV}={value:?} is not <pid>:<uuid>"))?;
    let pid: u32 = pid
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{PARENT_PID_ENV}={value:?}: {pid:?} is not a process id"))?;
    Ok((for_uuid == uuid).then_some(pid))
}

/// What a child found of its parent process at its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lineage {
    /// The parent lives; this process (the child's own parent process)
    /// stays its parent for as long as it does.
    Watch(Pid),
    /// The parent, this pid, died before the child looked.
    Gone(u32),
}

/// The lineage of the child `uuid` of this process, and a warning to log
/// if [`PARENT_PID_ENV`] was set but unreadable (the child then does as if
/// it were not set). Call it first thing in the child.
pub(crate) fn resolve(uuid: &str) -> (Lineage, Option<String>) {
    let now = nix::unistd::getppid();
    let named = match std::env::var(PARENT_PID_ENV) {
        Ok(v) => parse_parent_pid(&v, uuid),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(e) => Err(format!("{PARENT_PID_ENV}: {e}")),
    };
    match named {
        Ok(Some(parent)) => (of_named(parent, now, is_ancestor), None),
        Ok(None) => (Lineage::Watch(now), None),
        Err(warning) => (Lineage::Watch(now), Some(warning)),
    }
}

/// The lineage of a child whose parent said its pid is `parent`, whose
/// parent process is `now`, given a test of ancestry.
fn of_named(parent: u32, now: Pid, ancestor: impl Fn(u32) -> bool) -> Lineage {
    if i64::from(now.as_raw()) == i64::from(parent) || ancestor(parent) {
        Lineage::Watch(now)
    } else {
        Lineage::Gone(parent)
    }
}

/// Whether `pid` is an ancestor of this process: found by following
/// `PPid` through `/proc`, or, where `/proc` cannot tell, whether a
/// process `pid` exists at all.
fn is_ancestor(pid: u32) -> bool {
    ancestor_in_proc(pid).unwrap_or_else(|| {
        i32::try_from(pid).is_ok_and(|p| nix::sys::signal::kill(Pid::from_raw(p), None).is_ok())
    })
}

/// [`is_ancestor`] from `/proc`; `None` if some `/proc/<pid>/status` on
/// the way could not be read.
fn ancestor_in_proc(pid: u32) -> Option<bool> {
    let mut at = u32::try_from(nix::unistd::getppid().as_raw()).ok()?;
    for _ in 0..MAX_DEPTH {
        if at == pid {
            return Some(true);
        }
        if at <= 1 {
            return Some(false);
        }
        let status = std::fs::read_to_string(format!("/proc/{at}/status")).ok()?;
        at = ppid_in_status(&status)?;
    }
    Some(false)
}

/// The `PPid` of a `/proc/<pid>/status`.
fn ppid_in_status(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_names_the_parent_for_one_child() {
        let value = parent_pid_value("1b4e28ba");
        let me = std::process::id();
        assert_eq!(value, format!("{me}:1b4e28ba"));
        assert_eq!(parse_parent_pid(&value, "1b4e28ba"), Ok(Some(me)));
        // Inherited by a grandchild through a parent that sets none.
        assert_eq!(parse_parent_pid(&value, "9f00"), Ok(None));
    }

    #[test]
    fn bad_values_are_errors_naming_them() {
        for bad in ["", "12", "x:u", "-3:u", "0:u", ":u"] {
            let e = parse_parent_pid(bad, "u").expect_err(bad);
            assert!(e.contains(PARENT_PID_ENV), "{e}");
        }
    }

    #[test]
    fn a_parent_that_is_no_ancestor_is_gone() {
        let reaper = Pid::from_raw(1);
        let parent = Pid::from_raw(4242);
        // Still the parent process, or an ancestor beyond a wrapper.
        assert_eq!(of_named(4242, parent, |_| false), Lineage::Watch(parent));
        let wrapper = Pid::from_raw(4243);
        assert_eq!(
            of_named(4242, wrapper, |p| p == 4242),
            Lineage::Watch(wrapper)
        );
        // Reparented to a reaper: the parent died first.
        assert_eq!(of_named(4242, reaper, |_| false), Lineage::Gone(4242));
    }

    #[test]
    fn this_process_s_ancestors_are_found_in_proc() {
        let parent = u32::try_from(nix::unistd::getppid().as_raw()).expect("a pid");
        assert!(is_ancestor(parent));
        assert_eq!(ancestor_in_proc(parent), Some(true));
        // Not itself, nor a process that has exited.
        assert_eq!(ancestor_in_proc(std::process::id()), Some(false));
        let mut gone = std::process::Command::new("true")
            .spawn()
            .expect("`true` runs");
        let gone_pid = gone.id();
        gone.wait().expect("reaped");
        assert!(!is_ancestor(gone_pid));
        assert_eq!(
            ppid_in_status("Name:\tx\nPPid:\t17\nTracerPid:\t0\n"),
            Some(17)
        );
        assert_eq!(ppid_in_status("Name:\tx\n"), None);
    }
}
