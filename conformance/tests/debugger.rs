//! The debugger through a real terminal: each scenario runs as a tree
//! whose root sits on a pty, driven like a person at the keyboard (type a
//! command, wait for the output), on each adapter; afterwards no process
//! or socket of the tree is left.

use std::path::Path;

use rexpect::session::{PtySession, spawn_command};
use tractor_adapters::Adapter;
use tractor_conformance::Tree;

const PROGRAM: &str = env!("CARGO_BIN_EXE_tractor-conformance");

/// The REPL's prompt.
const PROMPT: &str = "(Pdb+) ";

/// The adapters, by name, in the order of `Adapter::ALL`.
fn adapters() -> impl Iterator<Item = &'static str> {
    Adapter::ALL.into_iter().map(Adapter::name)
}

/// Generous: only a hang should ever reach it.
const HANG_MS: u64 = 60_000;

/// Starts scenario `id` on `adapter` with its root on a pty.
fn start(tree: &Tree, id: &str) -> PtySession {
    let command = tree.command(Path::new(PROGRAM), &[id, "tcp"]);
    spawn_command(command, Some(HANG_MS)).expect("the scenario starts on a pty")
}

/// Reads up to `needle`, failing with what was read.
fn expect(p: &mut PtySession, needle: &str) -> String {
    match p.exp_string(needle) {
        Ok(before) => before,
        Err(e) => panic!("waiting for {needle:?}: {e}"),
    }
}

/// Everything up to the end, and the exit code.
fn finish(mut p: PtySession) -> (String, i32) {
    let rest = p.exp_eof().expect("the tree exits");
    let status = p.process().wait().expect("the root is reaped");
    let code = match status {
        nix::sys::wait::WaitStatus::Exited(_, code) => code,
        other => panic!("the root ended with {other:?}:\n{rest}"),
    };
    (rest, code)
}

/// Continues at the prompt, then checks how the tree ended and that it
/// left nothing behind; returns the output after the REPL.
fn continue_to_end(mut p: PtySession, tree: &Tree, adapter: &str, code: i32) -> String {
    p.send_line("c").unwrap();
    let (rest, got) = finish(p);
    assert_eq!(got, code, "{adapter}: {rest}");
    tree.assert_clean();
    rest
}

/// A banner up to the prompt: `reason` and the actor named.
fn repl(p: &mut PtySession, reason: &str, actor: &str) -> String {
    expect(p, &format!("Opening a REPL in {reason} actor"));
    let banner = expect(p, PROMPT);
    assert!(banner.contains(&format!("|_{actor}[")), "{banner}");
    banner
}

#[test]
fn dbg_root_pause_continue_and_quit() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-root-pause");
        let banner = repl(&mut p, "paused", "root");
        // The source around the pause, its line marked.
        assert!(banner.contains("-> "), "{banner}");
        assert!(banner.contains("pause!(answer)"), "{banner}");
        p.send_line("v").unwrap();
        expect(&mut p, "answer = 42");
        expect(&mut p, PROMPT);
        let rest = continue_to_end(p, &tree, adapter, 0);
        assert!(rest.contains("after_pause=true"), "{adapter}: {rest}");

        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-root-pause");
        repl(&mut p, "paused", "root");
        p.send_line("q").unwrap();
        let (rest, code) = finish(p);
        assert_eq!(code, 1, "{adapter}: {rest}");
        assert!(rest.contains("BdbQuit"), "{adapter}: {rest}");
        assert!(!rest.contains("after_pause"), "{adapter}: {rest}");
        tree.assert_clean();
    }
}

#[test]
fn dbg_child_pause_survives_ctrl_c_mashing() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-child-pause");
        repl(&mut p, "paused", "pause-then-return");
        // ctrl-c reaches the whole foreground group: the REPL only prompts
        // again, and nothing is cancelled.
        for _ in 0..3 {
            p.send_control('c').unwrap();
            expect(&mut p, PROMPT);
        }
        p.send_line("ctx").unwrap();
        expect(&mut p, "pause_then_return asyncfunc <- root[");
        expect(&mut p, PROMPT);
        let rest = continue_to_end(p, &tree, adapter, 0);
        assert!(rest.contains("result=resumed"), "{adapter}: {rest}");
    }
}

/// The pid of the tree's root: the one of its processes this test started.
fn root_pid(tree: &Tree) -> i32 {
    let me = std::process::id().to_string();
    tree.survivors()
        .into_iter()
        .find(|(pid, _)| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // pid (comm) state ppid …: the comm may hold spaces, not ')'.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after.split_whitespace().nth(1) == Some(me.as_str())
        })
        .map(|(pid, _)| pid as i32)
        .expect("the root runs")
}

/// How many of `pid`'s TCP sockets have bytes waiting to be read.
fn tcp_sockets_with_input(pid: i32) -> usize {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    ["tcp", "tcp6"]
        .iter()
        .filter_map(|t| std::fs::read_to_string(format!("/proc/{pid}/net/{t}")).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    let queued = f.get(4).and_then(|q| q.split(':').nth(1));
                    let waiting =
                        queued.is_some_and(|rx| u64::from_str_radix(rx, 16).is_ok_and(|n| n > 0));
                    waiting && f.get(9).is_some_and(|i| inodes.contains(*i))
                })
                .map(|_| ())
                .collect::<Vec<_>>()
        })
        .count()
}

#[test]
fn dbg_ctrl_c_at_a_repl_read_late_by_the_root_stays_the_repls() {
    use nix::sys::signal::Signal;
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-child-pause");
        repl(&mut p, "paused", "pause-then-return");
        // The root frozen, ctrl-c at the child's REPL, and the REPL left:
        // the root reads the signal only after the terminal is free again.
        p.process_mut().signal(Signal::SIGSTOP).unwrap();
        p.send_control('c').unwrap();
        expect(&mut p, PROMPT);
        p.send_line("c").unwrap();
        // The child has let go of the terminal and returned its result once
        // both its lock connection and its call's have bytes queued for the
        // root.
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(HANG_MS);
        while tcp_sockets_with_input(root_pid(&tree)) < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "{adapter}: the child never answered"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        p.process_mut().signal(Signal::SIGCONT).unwrap();
        let (rest, code) = finish(p);
        assert_eq!(code, 0, "{adapter}: {rest}");
        assert!(rest.contains("result=resumed"), "{adapter}: {rest}");
        tree.assert_clean();
    }
}

#[test]
fn dbg_grandchild_pause_takes_the_roots_lock() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-grandchild-pause");
        repl(&mut p, "paused", "leaf");
        let rest = continue_to_end(p, &tree, adapter, 0);
        assert!(rest.contains("result=resumed"), "{adapter}: {rest}");
    }
}

#[test]
fn dbg_child_crash_then_root() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-child-crash-then-root");
        // First the failing child, on its own error...
        let child = repl(&mut p, "crashed", "name-error");
        assert!(child.contains("NameError"), "{child}");
        p.send_line("c").unwrap();
        // ...then the root, on the error boxed with its source.
        let root = repl(&mut p, "crashed", "root");
        assert!(root.contains("NameError"), "{root}");
        assert!(root.contains("src_uid=('name-error'"), "{root}");
        let rest = continue_to_end(p, &tree, adapter, 1);
        assert!(rest.contains("NameError"), "{adapter}: {rest}");
    }
}

#[test]
fn dbg_multi_daemon_no_clobber() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-multi-daemon-no-clobber");
        // Two REPLs, one after the other in either order: each screen up
        // to its prompt holds exactly one whole banner.
        let mut seen = Vec::new();
        for _ in 0..2 {
            let screen = expect(&mut p, PROMPT);
            assert_eq!(
                screen.matches("Opening a REPL in").count(),
                1,
                "{adapter}: two REPLs at once:\n{screen}"
            );
            let who = if screen.contains("|_bp-forever[") {
                assert!(
                    screen.contains("Opening a REPL in paused actor"),
                    "{screen}"
                );
                "bp-forever"
            } else {
                assert!(screen.contains("|_name-error["), "{screen}");
                assert!(
                    screen.contains("Opening a REPL in crashed actor"),
                    "{screen}"
                );
                assert!(screen.contains("NameError"), "{screen}");
                "name-error"
            };
            seen.push(who);
            // The REPL answers with nothing of another's in between.
            p.send_line("h").unwrap();
            let answer = expect(&mut p, PROMPT);
            assert!(answer.contains("q, quit"), "{adapter}: {answer}");
            assert!(
                !answer.contains("Opening a REPL"),
                "{adapter}: another REPL printed over {who}'s:\n{answer}"
            );
            p.send_line("c").unwrap();
        }
        seen.sort_unstable();
        assert_eq!(seen, ["bp-forever", "name-error"], "{adapter}");
        let (rest, code) = finish(p);
        assert_eq!(code, 0, "{adapter}: {rest}");
        assert!(!rest.contains("Opening a REPL"), "{adapter}: {rest}");
        assert!(rest.contains("paused=resumed"), "{adapter}: {rest}");
        assert!(rest.contains("crashed="), "{adapter}: {rest}");
        tree.assert_clean();
    }
}

#[test]
fn dbg_child_quit_opens_only_the_roots_crash_repl() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-child-pause");
        repl(&mut p, "paused", "pause-then-return");
        p.send_line("q").unwrap();
        // No second REPL in the child that quit: the next is the root's,
        // on the quit boxed with its source.
        let root = repl(&mut p, "crashed", "root");
        assert!(!root.contains("Opening a REPL"), "{root}");
        assert!(root.contains("BdbQuit"), "{root}");
        assert!(root.contains("src_uid=('pause-then-return'"), "{root}");
        let rest = continue_to_end(p, &tree, adapter, 1);
        assert!(rest.contains("BdbQuit"), "{adapter}: {rest}");
    }
}

#[test]
fn dbg_post_mortem_api() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-post-mortem-api");
        // The child's own crash REPL first...
        repl(&mut p, "crashed", "name-error");
        p.send_line("c").unwrap();
        // ...then the root's manual one, named as such, on the boxed error.
        let root = repl(&mut p, "crashed", "root");
        assert!(root.contains(": post_mortem at "), "{root}");
        assert!(root.contains("src_uid=('name-error'"), "{root}");
        let rest = continue_to_end(p, &tree, adapter, 0);
        assert!(
            rest.contains("handled=remote:NameError"),
            "{adapter}: {rest}"
        );
    }
}

#[test]
fn dbg_shielded_pause_in_a_cancelled_functions_cleanup() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-shielded-pause");
        // The cleanup's unshielded pause fails at once, with the hint...
        let refused = expect(&mut p, "pause_shielded()");
        assert!(
            refused.contains("unshielded pause refused: ")
                && refused.contains("its call was cancelled"),
            "{adapter}: {refused}"
        );
        // ...and its shielded one opens, though the call is over.
        let between = expect(&mut p, "Opening a REPL in paused actor");
        let banner = expect(&mut p, PROMPT);
        assert!(banner.contains("|_cancelled-before-pause["), "{banner}");
        assert!(banner.contains(": pause_shielded at "), "{banner}");
        let rest = continue_to_end(p, &tree, adapter, 0);
        // The root saw its call cancelled (before the REPL or after).
        let all = format!("{refused}{between}{banner}{rest}");
        assert!(all.contains("result=cancelled"), "{adapter}: {all}");
        assert!(!all.contains("went through"), "{adapter}: {all}");
    }
}

#[test]
fn dbg_stale_lock_after_the_holder_is_killed() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-stale-lock");
        let banner = repl(&mut p, "paused", "pauser");
        let pid: i32 = banner
            .split("(pid ")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no pid in {banner}"));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("the pauser is killed");
        // The call fails, the root takes the terminal back: its own pause
        // opens...
        expect(&mut p, "call=");
        repl(&mut p, "paused", "root");
        p.send_line("c").unwrap();
        expect(&mut p, "waiting_for_ctrl_c=true");
        // ...and ctrl-c cancels the tree again.
        p.send_control('c').unwrap();
        let (rest, code) = finish(p);
        assert_eq!(code, 1, "{adapter}: {rest}");
        assert!(rest.contains("root_error=interrupted"), "{adapter}: {rest}");
        tree.assert_clean();
    }
}

#[test]
fn dbg_sync_pause_from_threads() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-sync-pause-threads");
        expect(&mut p, "in_task_refused=true");
        let root = repl(&mut p, "paused", "root");
        assert!(root.contains(": pause_blocking at "), "{root}");
        p.send_line("c").unwrap();
        let child = repl(&mut p, "paused", "sync-pauser");
        assert!(child.contains(": pause_blocking at "), "{child}");
        let rest = continue_to_end(p, &tree, adapter, 0);
        assert!(rest.contains("child_thread=resumed"), "{adapter}: {rest}");
    }
}

#[test]
fn dbg_debug_filter_skips_what_it_rejects() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-debug-filter");
        // No REPL for the KeyError, in the child or the root: the first
        // is the NameError child's.
        let before = expect(&mut p, "filtered=remote:KeyError");
        assert!(!before.contains("Opening a REPL"), "{adapter}: {before}");
        let child = repl(&mut p, "crashed", "name-error");
        assert!(!child.contains("KeyError"), "{adapter}: {child}");
        p.send_line("c").unwrap();
        let root = repl(&mut p, "crashed", "root");
        assert!(root.contains("NameError"), "{root}");
        let rest = continue_to_end(p, &tree, adapter, 1);
        assert!(rest.contains("NameError"), "{adapter}: {rest}");
    }
}

#[test]
fn dbg_crash_handler_in_plain_code() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-crash-handler");
        let banner = plain_crash(&mut p);
        assert!(banner.contains("bad count: invalid digit"), "{banner}");
        let rest = continue_to_end(p, &tree, adapter, 1);
        assert!(
            rest.contains("after_repl=Err(\"bad count"),
            "{adapter}: {rest}"
        );

        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-crash-handler-panic");
        let banner = plain_crash(&mut p);
        assert!(banner.contains("panicked on purpose"), "{banner}");
        let rest = continue_to_end(p, &tree, adapter, 101);
        assert!(rest.contains("panicked on purpose"), "{adapter}: {rest}");
        assert!(!rest.contains("after_repl"), "{adapter}: {rest}");
    }
}

/// The crash REPL of plain code, named after the program, with no actor.
fn plain_crash(p: &mut PtySession) -> String {
    expect(p, "Opening a REPL in crashed actor");
    let banner = expect(p, PROMPT);
    assert!(banner.contains("|_tractor-conformance (pid "), "{banner}");
    assert!(banner.contains(": crash_handler at "), "{banner}");
    banner
}

#[test]
fn dbg_root_crash_repl() {
    for adapter in adapters() {
        for command in ["c", "q"] {
            let tree = Tree::new().adapter(adapter);
            let mut p = start(&tree, "dbg-root-crash-repl");
            let banner = repl(&mut p, "crashed", "root");
            assert!(banner.contains("AssertionError: assert 0"), "{banner}");
            // Either way the error goes on after the REPL.
            p.send_line(command).unwrap();
            let (rest, code) = finish(p);
            assert_eq!(code, 1, "{adapter} {command}: {rest}");
            assert!(
                rest.contains("AssertionError"),
                "{adapter} {command}: {rest}"
            );
            tree.assert_clean();
        }
    }
}

#[test]
fn dbg_nested_errors_stop_at_every_level() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-nested-errors");
        let leaf = repl(&mut p, "crashed", "name-error");
        assert!(leaf.contains("NameError"), "{leaf}");
        p.send_line("c").unwrap();
        let middle = repl(&mut p, "crashed", "spawn-error");
        assert!(middle.contains("src_uid=('name-error'"), "{middle}");
        p.send_line("c").unwrap();
        let root = repl(&mut p, "crashed", "root");
        assert!(root.contains("src_uid=('name-error'"), "{root}");
        assert!(root.contains("relay_uid=('spawn-error'"), "{root}");
        let rest = continue_to_end(p, &tree, adapter, 1);
        assert!(rest.contains("NameError"), "{adapter}: {rest}");
    }
}

#[test]
fn dbg_root_timeout_while_a_child_is_in_its_crash_repl() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-root-timeout-child-crash");
        let child = repl(&mut p, "crashed", "key-error");
        assert!(child.contains("KeyError"), "{child}");
        // The root's time runs out meanwhile; the REPL stays.
        expect(&mut p, "gave_up=true");
        p.send_line("h").unwrap();
        expect(&mut p, "q, quit");
        expect(&mut p, PROMPT);
        p.send_line("c").unwrap();
        // Then the root's own crash, on its timeout.
        let root = repl(&mut p, "crashed", "root");
        assert!(root.contains("TooSlowError"), "{root}");
        let rest = continue_to_end(p, &tree, adapter, 1);
        assert!(rest.contains("TooSlowError"), "{adapter}: {rest}");
    }
}

#[test]
fn dbg_guest_task_pause() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-guest-pause");
        let banner = repl(&mut p, "paused", "guest-pauser");
        // The task on record is the guest task, stopped at its pause.
        assert!(banner.contains("|_guest: pause at "), "{adapter}: {banner}");
        assert!(
            banner.contains("tractor_driver::pause().await?"),
            "{adapter}: {banner}"
        );
        let rest = continue_to_end(p, &tree, adapter, 0);
        assert!(rest.contains("result=resumed"), "{adapter}: {rest}");
    }
}

#[test]
fn dbg_guest_task_crash_opens_the_childs_repl_then_the_roots() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut p = start(&tree, "dbg-guest-crash");
        // The guest task's panic is its linked function's failure.
        let child = repl(&mut p, "crashed", "guest-crasher");
        assert!(child.contains("Panic"), "{adapter}: {child}");
        assert!(
            child.contains("the guest task panicked on purpose"),
            "{adapter}: {child}"
        );
        p.send_line("c").unwrap();
        let root = repl(&mut p, "crashed", "root");
        assert!(
            root.contains("src_uid=('guest-crasher'"),
            "{adapter}: {root}"
        );
        let rest = continue_to_end(p, &tree, adapter, 1);
        assert!(rest.contains("Panic"), "{adapter}: {rest}");
    }
}
