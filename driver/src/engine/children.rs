//! Child processes: how one is started, killed and reaped, and how its
//! exit is told in the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tractor_protocol::{Actor, Address, ChildArgs, ChildId, ExitStatus, Signal, Uid};

use super::{Shared, State};
use crate::task_record::runtime_task;
use crate::transport;

/// The process title of a child actor named `name`: the first word of its
/// command line, and (cut to the kernel's 15 bytes) its `comm`, which
/// still shows once the process is a zombie.
pub(crate) fn proc_title(name: &str) -> String {
    format!("_subactor[{name}]")
}

/// A child process, as its exit's log line tells it.
#[derive(Debug, Clone)]
pub(super) struct Proc {
    pub(super) pid: u32,
    pub(super) signalled: Option<Signal>,
    /// The processes below it that were killed with it: its exit is
    /// reported once they are dead too.
    pub(super) below: Vec<u32>,
}

impl Shared {
    pub(super) fn spawn_child(
        self: &Arc<Self>,
        st: &mut State,
        child: ChildId,
        uid: Uid,
        parent_addr: Option<Address>,
    ) {
        let Some(parent_addr) = parent_addr else {
            st.actor
                .handle_spawn_failed(child, "this actor has no accept address".into());
            return;
        };
        let (program, python, loglevel, env, launcher, guest) = match st.children.get_mut(&child) {
            Some(c) => {
                c.uid = Some(uid.clone());
                (
                    c.program.clone(),
                    c.python,
                    c.loglevel.clone(),
                    c.env.clone(),
                    c.launcher.clone(),
                    c.guest,
                )
            }
            None => (None, false, None, Vec::new(), None, false),
        };
        // A launched child connects back to the address its host reaches
        // this actor at.
        let parent_addr = launcher
            .as_ref()
            .and_then(|l| l.parent_addr())
            .unwrap_or(parent_addr);
        let program = match program.map(Ok).unwrap_or_else(std::env::current_exe) {
            Ok(p) => p,
            Err(e) => {
                st.actor.handle_spawn_failed(child, e.to_string());
                return;
            }
        };
        let args = ChildArgs {
            uid,
            parent_addr,
            loglevel: loglevel.or_else(|| self.settings.loglevel.clone()),
            bootstrap_stdin: launcher.is_some(),
            guest,
        };
        let mut cmd = std::process::Command::new(&program);
        // The child's title in `ps` and `/proc/<pid>/cmdline`, as Python's
        // `_subactor[<name>@<pid>]` (the pid is `ps`'s own column here). A
        // Python interpreter keeps its real path: CPython finds its
        // virtual environment from `argv[0]`, and titles itself.
        if !python {
            std::os::unix::process::CommandExt::arg0(&mut cmd, proc_title(&args.uid.name));
        }
        // The command line is Python's; this process's pid goes in the
        // environment, after the caller's variables (see `lineage`).
        let parent_pid = crate::lineage::parent_pid_value(&args.uid.uuid);
        cmd.args(args.to_args());
        // This actor's limits, so that a whole tree runs with its root's
        // (a child given its own with `ActorOptions::env` runs with those).
        cmd.envs(self.settings.limits.child_env())
            // Where this actor is reached is not where its child is.
            .env_remove(crate::transport::ADVERTISE_ADDRS_ENV)
            .envs(env);
        // The tree's secret goes in the environment, never on the command
        // line; what the caller's variables say of it is overridden.
        for (key, value) in self.settings.auth.child_env() {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        // TLS's settings too (a generated tree CA's key among them).
        for (key, value) in crate::tls::Tls::child_env(self.settings.tls.as_ref()) {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        cmd.env(crate::lineage::PARENT_PID_ENV, parent_pid);
        // Only the child this actor launched reads its stdin as the pipe.
        cmd.env_remove(crate::launch::LAUNCHED_ENV);
        // A launched child gets its settings on its stdin, through a pipe
        // kept open until its launcher's process exits. This process's pid
        // means nothing on another host: it watches its own parent process.
        let (cmd, stdin, pipe) = match &launcher {
            None => (cmd, None, None),
            Some(l) => {
                cmd.env_remove(crate::lineage::PARENT_PID_ENV);
                let skip = [crate::lineage::PARENT_PID_ENV, crate::launch::LAUNCHED_ENV];
                match crate::launch::prepare(l.as_ref(), cmd, &skip) {
                    Ok((cmd, stdin, pipe)) => (cmd, Some(stdin.into()), Some(pipe)),
                    Err(e) => {
                        st.actor.handle_spawn_failed(child, e.to_string());
                        return;
                    }
                }
            }
        };
        match self.rt.spawn_process(cmd, stdin) {
            Ok(process) => {
                let pid = process.pid();
                tracing::info!(target: "tractor::runtime", child = %args.uid, pid, "spawned");
                st.procs.insert(
                    child,
                    Proc {
                        pid,
                        signalled: None,
                        below: Vec::new(),
                    },
                );
                if let Some(c) = st.children.get_mut(&child) {
                    c.pid = Some(pid);
                }
                st.actor.handle_spawned(child, pid);
                let shared = self.clone();
                let rt = self.rt.clone();
                self.rt.spawn(runtime_task(
                    format!("waiting for {} (pid {pid})", args.uid),
                    async move {
                        let status = process.wait().await;
                        drop(pipe);
                        let status = match status {
                            Ok(s) => exit_status(s),
                            Err(e) => {
                                tracing::warn!(target: "tractor::runtime", %child, error = %e, "waiting for a child failed");
                                ExitStatus {
                                    code: None,
                                    signal: None,
                                }
                            }
                        };
                        // Killed with processes below it: gone only once
                        // they are dead too.
                        let below = shared.with(|st, _| {
                            st.procs.get(&child).map(|p| p.below.clone()).unwrap_or_default()
                        });
                        let deadline = Instant::now() + crate::reap::DEATH_TIMEOUT;
                        while !crate::reap::dead(&below) && Instant::now() < deadline {
                            rt.sleep_until(Instant::now() + Duration::from_millis(2)).await;
                        }
                        for p in below {
                            transport::remove_socket_files_of(&shared.settings.uds_dir, p);
                        }
                        shared.with(|st, now| {
                            if let Some(c) = st.children.get(&child) {
                                // A crashed child leaves its socket file behind.
                                transport::remove_socket_file(
                                    &shared.settings.uds_dir,
                                    &c.name,
                                    pid,
                                );
                            }
                            st.actor.handle_process_exited(now, child, status)
                        });
                    },
                ));
            }
            Err(e) => {
                st.actor
                    .handle_spawn_failed(child, format!("{}: {e}", program.display()));
            }
        }
    }

    /// Kills every child process at once (SIGKILL), reaping or not: a
    /// second SIGINT or SIGTERM during the root's teardown. Each is still
    /// waited for, and its exit reported.
    pub(crate) fn kill_children(self: &Arc<Self>) {
        self.with(|st, _| {
            for (child, p) in st.procs.iter_mut() {
                let uid = child_name(&st.actor, *child);
                tracing::warn!(target: "tractor::cancel", child = %uid, pid = p.pid, "killing at once: SIGKILL");
                p.signalled = Some(Signal::Kill);
                p.below.extend(crate::reap::kill_below(p.pid));
                // The pid is ours until the core hears of its exit, under
                // this lock.
                let pid = nix::unistd::Pid::from_raw(p.pid as i32);
                if let Err(e) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL) {
                    tracing::debug!(target: "tractor::cancel", %child, error = %e, "signal not delivered");
                }
            }
        });
    }
}

/// A child as log lines name it: its uid, else its id.
pub(super) fn child_name(actor: &Actor, child: ChildId) -> String {
    actor
        .children()
        .find(|(c, _)| *c == child)
        .map_or_else(|| child.to_string(), |(_, u)| u.to_string())
}

/// How a child's process ended, as its exit's log line says it: its exit
/// code or the signal that ended it, and how it was reaped: `normally`
/// (this actor sent it no signal), `terminated` (sent SIGTERM) or `killed`
/// (sent SIGKILL).
pub(super) fn describe_exit(
    status: ExitStatus,
    signalled: Option<Signal>,
) -> (String, &'static str) {
    let name = |n: i32| {
        nix::sys::signal::Signal::try_from(n)
            .map_or_else(|_| format!("signal {n}"), |s| s.as_str().to_owned())
    };
    let exit = match (status.code, status.signal) {
        (Some(code), _) => format!("code {code}"),
        (None, Some(n)) => name(n),
        (None, None) => "unknown".to_owned(),
    };
    let reaped = match signalled {
        None => "normally",
        Some(Signal::Terminate) => "terminated",
        Some(Signal::Kill) => "killed",
    };
    (exit, reaped)
}

/// Logs a child's exit: at `info`, or `warning` when it had to be killed.
pub(super) fn log_exit(uid: &Uid, proc: Option<Proc>, status: ExitStatus) {
    let pid = proc.as_ref().map(|p| p.pid).unwrap_or_default();
    let signalled = proc.and_then(|p| p.signalled);
    let (exit, reaped) = describe_exit(status, signalled);
    if signalled == Some(Signal::Kill) {
        tracing::warn!(target: "tractor::runtime", child = %uid, pid, %exit, reaped, "exited");
    } else {
        tracing::info!(target: "tractor::runtime", child = %uid, pid, %exit, reaped, "exited");
    }
}

/// A std exit status as the core reports it.
pub(super) fn exit_status(s: std::process::ExitStatus) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    ExitStatus {
        code: s.code(),
        signal: s.signal(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_say_how_the_child_went() {
        let code = |c| ExitStatus {
            code: Some(c),
            signal: None,
        };
        let signal = |n| ExitStatus {
            code: None,
            signal: Some(n),
        };
        assert_eq!(describe_exit(code(0), None), ("code 0".into(), "normally"));
        assert_eq!(
            describe_exit(code(1), Some(Signal::Terminate)),
            ("code 1".into(), "terminated")
        );
        assert_eq!(
            describe_exit(signal(15), Some(Signal::Terminate)),
            ("SIGTERM".into(), "terminated")
        );
        assert_eq!(
            describe_exit(signal(9), Some(Signal::Kill)),
            ("SIGKILL".into(), "killed")
        );
        assert_eq!(
            describe_exit(signal(11), None),
            ("SIGSEGV".into(), "normally")
        );
        assert_eq!(
            describe_exit(signal(99), None),
            ("signal 99".into(), "normally")
        );
    }
}
