//! Scenarios with real process trees, by catalogue id, on both adapters
//! (tokio and smol) over TCP and Unix sockets. Every run ends with the
//! check that the tree left no process and no socket file behind.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use tractor_adapters::Adapter;
use tractor_conformance::peer::{self, RawPeer, Stream};
use tractor_conformance::{HANG, Run, Running, Tree};
use tractor_protocol::{Address, ChildArgs, Uid};

const PROGRAM: &str = env!("CARGO_BIN_EXE_tractor-conformance");
/// The adapters, by name, in the order of `Adapter::ALL`.
fn adapters() -> impl Iterator<Item = &'static str> {
    Adapter::ALL.into_iter().map(Adapter::name)
}

/// Every scenario runs on each adapter over each transport: adapter by
/// adapter, TCP first. On tokio, the TCP runs use its current-thread
/// runtime and the Unix-socket runs its multi-threaded one (two workers,
/// [`run_env`]), so that every scenario runs on both.
fn cases() -> impl Iterator<Item = (&'static str, &'static str)> {
    adapters().flat_map(|a| ["tcp", "uds"].map(|t| (a, t)))
}

/// Runs scenario `id` on `adapter` over `transport` and checks the tree
/// is gone.
fn run(id: &str, adapter: &str, transport: &str) -> Run {
    run_env(id, adapter, transport, &[])
}

/// [`run`] with these environment variables set for the whole tree.
fn run_env(id: &str, adapter: &str, transport: &str, env: &[(&str, &str)]) -> Run {
    let base = match (adapter, transport) {
        ("tokio", "uds") => Tree::new().env(tractor_adapters::WORKERS_ENV, "2"),
        _ => Tree::new(),
    };
    let tree = env
        .iter()
        .fold(base.adapter(adapter), |t, (k, v)| t.env(k, v));
    let run = tree.run(Path::new(PROGRAM), &[id, transport]);
    tree.assert_clean();
    run
}

/// Runs a passing scenario with backtraces on, then off, whatever the
/// environment of the test, on both adapters and transports.
fn passes_with_and_without_backtraces(id: &str, check: impl Fn(&Run)) {
    for on in ["1", "0"] {
        let env = [("RUST_BACKTRACE", on), ("RUST_LIB_BACKTRACE", on)];
        for (a, t) in cases() {
            let r = run_env(id, a, t, &env);
            r.assert_ok();
            assert_eq!(r.fact("backtraces"), (on == "1").to_string(), "{r:?}");
            check(&r);
        }
    }
}

/// Runs a passing scenario on both adapters and transports; `check` sees each run.
fn passes(id: &str, check: impl Fn(&Run)) {
    for (a, t) in cases() {
        let r = run(id, a, t);
        r.assert_ok();
        check(&r);
    }
}

/// Runs a scenario that ends in a KeyboardInterrupt (the root fails with
/// `Interrupted`) on both transports; `check` sees each run.
fn interrupted(id: &str, check: impl Fn(&Run)) {
    for (a, t) in cases() {
        let r = run(id, a, t);
        assert_eq!(r.code, Some(1), "{r:?}");
        assert_eq!(r.fact("root_error"), "interrupted", "{r:?}");
        check(&r);
    }
}

/// A tree whose registrar is another root program, a daemon: returns the
/// tree, the daemon and the registrar argument the tree's roots take.
fn registrar(adapter: &str, transport: &str) -> (Tree, Running, String) {
    registrar_in(Tree::new().adapter(adapter), transport)
}

/// [`registrar`] in this tree (with its environment).
fn registrar_in(tree: Tree, transport: &str) -> (Tree, Running, String) {
    // Port 0 (the daemon reports the real one) or a socket file.
    let asked = if transport == "tcp" {
        "0"
    } else {
        "registry@conformance.sock"
    };
    let mut daemon = tree.spawn(Path::new(PROGRAM), &["registrar-daemon", transport, asked]);
    let reg = daemon.wait_for_fact("registry");
    daemon.wait_for_line("ready=true");
    (tree, daemon, reg)
}

/// Stops the registrar daemon with SIGINT and checks the tree is gone.
fn stop(tree: &Tree, daemon: Running) {
    daemon.signal("INT");
    let r = daemon.finish(tree);
    assert_eq!(r.fact("root_error"), "interrupted", "{r:?}");
    tree.assert_clean();
}

/// Runs a passing scenario against a registrar daemon, on both transports.
fn passes_with_registrar(id: &str, check: impl Fn(&Run)) {
    for (a, t) in cases() {
        let (tree, daemon, reg) = registrar(a, t);
        let r = tree.run(Path::new(PROGRAM), &[id, t, &reg]);
        r.assert_ok();
        check(&r);
        stop(&tree, daemon);
    }
}

#[test]
fn spawn_daemon_call_twice() {
    passes("spawn-daemon-call-twice", |r| {
        assert_eq!(r.fact("first"), "hi from frank");
        assert_eq!(r.fact("second"), "hi from frank");
    });
}

#[test]
fn spawn_one_shot_result() {
    passes("spawn-one-shot-result", |r| {
        assert_eq!(r.fact("after"), r#"Some("yo"),None"#)
    });
}

#[test]
fn spawn_child_not_root_and_distinct() {
    // Covers spawn-child-not-root, spawn-child-distinct-pid and
    // spawn-run-in-actor-recursive: one child, three questions.
    passes("spawn-child-not-root", |r| {
        assert_eq!(r.fact("child_is_root"), "false");
        assert_eq!(r.fact("child_is_registrar"), "false");
    });
}

#[test]
fn spawn_debug_flag_inherited() {
    passes("spawn-debug-flag-inherited", |r| {
        assert_eq!(r.fact("root"), "true");
        assert_eq!(r.fact("child"), "true");
    });
    // And off by default.
    passes("spawn-child-not-root", |r| {
        assert_eq!(r.fact("child_debug_mode"), "false");
    });
}

#[test]
fn spawn_one_root_in_sub() {
    passes("spawn-one-root-in-sub", |r| {
        assert_eq!(r.fact("error"), "remote:RuntimeError:RuntimeError");
        assert_eq!(r.fact("message"), "an actor already runs in this process");
    });
}

#[test]
fn spawn_one_root_per_proc() {
    passes("spawn-one-root-per-proc", |r| {
        assert!(r.fact("error").contains("already runs"))
    });
}

#[test]
fn spawn_many_concurrent_zombies_contained() {
    passes("spawn-many-concurrent", |r| {
        assert_eq!(r.fact("distinct_pids"), "4");
        assert_eq!(r.fact("error"), "local:Exception: zombies contained?");
    });
}

#[test]
fn rpc_module_not_exposed() {
    passes("rpc-module-not-exposed", |r| {
        assert_eq!(r.fact("error"), "remote:ModuleNotExposed:ModuleNotExposed")
    });
}

#[test]
fn rpc_func_not_found() {
    passes("rpc-func-not-found", |r| {
        assert_eq!(r.fact("error"), "remote:AttributeError:AttributeError")
    });
}

#[test]
fn rpc_bad_kwargs_is_a_plain_type_error() {
    passes_with_and_without_backtraces("rpc-bad-kwargs", |r| {
        assert_eq!(r.fact("error"), "remote:TypeError:TypeError")
    });
}

#[test]
fn rpc_concurrent_calls_one_portal() {
    passes("rpc-concurrent-calls-one-portal", |r| {
        assert_eq!(r.fact("calls"), "50")
    });
}

/// A registrar's portal to its own address is a local portal (Python's
/// `LocalPortal`): `self.wait_for_actor` through it finds the root at the
/// registrar address, answered in process; discovery of oneself gives the
/// same, in a child too; the actor's functions run in process, their errors
/// as raised; a dialog with oneself is refused with a typed error.
#[test]
fn rpc_local_portal_self() {
    passes("rpc-local-portal-self", |r| {
        for fact in [
            "local",
            "peer_is_self",
            "first_is_registrar_addr",
            "find_actor",
            "find_actor_local",
            "wait_for_actor_local",
            "local_portal",
        ] {
            assert_eq!(r.fact(fact), "true", "{fact}: {r:?}");
        }
        assert_eq!(r.fact("hi"), "hi from root");
        assert_eq!(r.fact("raised"), "local:ValueError: on purpose");
        assert_eq!(r.fact("not_exposed"), "ModuleNotExposed");
        let refused =
            "is not possible through a local portal: a dialog with oneself is an invalid operation";
        assert_eq!(
            r.fact("context"),
            format!("local:Portal::open_context {refused}")
        );
        assert_eq!(
            r.fact("cancel_actor"),
            format!("local:Portal::cancel_actor {refused}")
        );
        let run = r.fact("context_run");
        assert!(
            run.starts_with("local:RuntimeError: conf:block_forever is a context function")
                && run.contains("invalid operation"),
            "{run}"
        );
        assert_eq!(r.fact("child_find_self"), "true,hi from finder");
    });
}

#[test]
fn rpc_ctx_to_self_invalid() {
    passes("rpc-ctx-to-self-invalid", |r| {
        assert!(r.fact("error").contains("invalid operation"))
    });
}

#[test]
fn ctx_started_value_and_result() {
    // ctx-started-value and ctx-result-returned.
    passes("ctx-started-value", |r| {
        assert_eq!(r.fact("started"), "11");
        assert_eq!(r.fact("result"), "yo");
    });
}

#[test]
fn ctx_started_twice() {
    passes("ctx-started-twice", |r| {
        assert_eq!(r.fact("error"), "remote:RuntimeError:RuntimeError")
    });
}

#[test]
fn ctx_stream_before_started() {
    passes("ctx-stream-before-started", |r| {
        assert_eq!(r.fact("error"), "remote:RuntimeError:RuntimeError")
    });
}

#[test]
fn ctx_cancel_blocking_child() {
    passes("ctx-cancel-blocking-child", |r| {
        assert_eq!(r.fact("outcome"), "cancelled");
        assert_eq!(r.fact("after"), "hi from blocker");
    });
}

#[test]
fn ctx_child_closes_stream_immediately() {
    passes("ctx-child-closes-stream-immediately", |r| {
        assert_eq!(r.fact("again"), "local:the stream has ended");
        assert_eq!(r.fact("result"), "done");
    });
}

#[test]
fn stream_pingpong() {
    passes("stream-pingpong", |r| assert_eq!(r.fact("count"), "10"));
}

#[test]
fn stream_legacy_asyncgen() {
    passes("stream-legacy-asyncgen", |r| {
        assert_eq!(r.fact("items"), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]")
    });
}

#[test]
fn stream_two_streams_one_portal() {
    passes("stream-two-streams-one-portal", |r| {
        assert_eq!(r.fact("items"), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]")
    });
}

#[test]
fn stream_sender_shares_its_thread() {
    // Ours: on an actor's one thread, a sender that never waits for room
    // still lets the actor's other tasks run.
    // Checked on one thread: smol, and tokio's current-thread runtime
    // (its TCP case); tokio's Unix-socket case runs on two workers.
    let one_thread = std::cell::Cell::new(0);
    passes("stream-sender-shares-its-thread", |r| {
        let turns: u64 = r.fact("turns_during_sends").parse().expect("a count");
        if r.fact("one_thread") == "true" {
            one_thread.set(one_thread.get() + 1);
            assert!(turns >= 500 / 64, "{turns}");
        }
    });
    assert_eq!(one_thread.get(), 3, "the cases on one thread");
}

#[test]
fn stream_3_level_aggregate() {
    passes("stream-3-level-aggregate", |r| {
        assert_eq!(r.fact("count"), "1000")
    });
}

#[test]
fn cancel_nursery_cancel_daemon() {
    passes("cancel-nursery-cancel-daemon", |r| {
        assert_eq!(r.fact("cancelled"), "true")
    });
}

#[test]
fn cancel_nursery_dropped_mid_flight() {
    // Not a catalogue id: dropping a nursery's future (a `select!` that
    // lost) still cancels and reaps its children.
    passes("cancel-nursery-dropped", |r| {
        assert_eq!(r.fact("dropped"), "true");
        assert_eq!(r.fact("reaped"), "2");
    });
}

/// How many AssertionErrors a described error holds: itself, or every
/// member of its group; fails on anything else.
fn assertion_failures(described: &str) -> usize {
    let one = "remote:AssertionError:AssertionError";
    if described == one {
        return 1;
    }
    let members = described
        .strip_prefix("group[")
        .and_then(|g| g.strip_suffix(']'))
        .unwrap_or_else(|| panic!("not an AssertionError or a group: {described}"));
    let members: Vec<&str> = members.split(',').collect();
    assert!(members.iter().all(|m| *m == one), "{described}");
    members.len()
}

#[test]
fn cancel_some_cancels_all_ria() {
    // The first failure cancels the others, but every one-shot got its
    // call before that cancellation, and a function runs to its first
    // await point even when cancelled: each asserts at once, so all N
    // failures are reported.
    passes("cancel-some-cancels-all-ria", |r| {
        assert_eq!(r.fact("n1"), "remote:AssertionError:AssertionError");
        assert_eq!(assertion_failures(r.fact("n3")), 3, "{r:?}");
    });
}

#[test]
fn cancel_sigint_root() {
    for (a, t) in cases() {
        let r = run("cancel-sigint-root", a, t);
        assert_eq!(r.code, Some(1), "{r:?}");
        assert_eq!(r.fact("ready"), "true");
        assert_eq!(r.fact("root_error"), "interrupted");
    }
}

#[test]
fn cancel_sigint_from_outside() {
    for (a, t) in cases() {
        let tree = Tree::new().adapter(a);
        let mut root = tree.spawn(Path::new(PROGRAM), &["cancel-sigint-external", t]);
        root.wait_for_line("ready=true");
        root.signal("INT");
        let r = root.finish(&tree);
        tree.assert_clean();
        assert_eq!(r.fact("root_error"), "interrupted");
    }
}

#[test]
fn cancel_sigterm_root() {
    // Ours: SIGTERM to a root with children and grandchildren cancels the
    // tree as SIGINT does. The root's reaping timeouts are far beyond the
    // harness's patience, so only graceful cancellation ends the children
    // in time; each actor's cancelled function drops its guard.
    for (a, t) in cases() {
        let tree = Tree::new().adapter(a);
        let mut root = tree.spawn(Path::new(PROGRAM), &["cancel-sigterm-root", t]);
        root.wait_for_line("ready=true");
        let up = tree.survivors();
        assert_eq!(
            up.len(),
            5,
            "root, two children, two grandchildren: {up:#?}"
        );
        root.signal("TERM");
        let r = root.finish(&tree);
        // Nothing outlives the root: it reaped its children, which reaped
        // theirs.
        assert_eq!(tree.survivors(), [], "{a}/{t}: {r:?}");
        assert_eq!(tree.leftover_sockets(), Vec::<std::path::PathBuf>::new());
        assert_eq!((r.code, r.signal), (Some(143), None), "{a}/{t}: {r:?}");
        assert_eq!(r.fact("root_error"), "terminated");
        assert!(r.stderr.contains("terminated by SIGTERM"), "{r:?}");
        for name in ["mid", "sibling", "grandchild"] {
            let dropped = format!("dropped={name}");
            assert!(r.stdout.contains(&dropped), "{a}/{t}: no {dropped}: {r:?}");
        }
    }
}

#[test]
fn cancel_second_signal_during_teardown() {
    // Ours: a second SIGTERM or SIGINT while the root winds down kills its
    // children at once; the root still ends with the first signal's error
    // and nothing is left. The child cannot cancel (it is stopped) and the
    // root's reaping timeouts are far beyond the harness's patience: only
    // the kill ends it in time.
    for (i, (a, t)) in cases().enumerate() {
        let tree = Tree::new().adapter(a).env("TRACTOR_LOGLEVEL", "info");
        let mut root = tree.spawn(Path::new(PROGRAM), &["cancel-second-signal", t]);
        let pid = root.wait_for_fact("stuck_pid");
        root.wait_for_line("ready=true");
        root.signal("TERM");
        // The first was acted on: the tree is being cancelled.
        root.wait_for_line("signal_heard=1");
        let second = Instant::now();
        // Each signal on both adapters and both transports.
        root.signal(["TERM", "INT"][(i ^ (i >> 1)) & 1]);
        let r = root.finish(&tree);
        assert!(
            second.elapsed() < HANG / 2,
            "{a}/{t}: the second signal took {:?}",
            second.elapsed()
        );
        tree.assert_clean();
        assert_eq!(r.code, Some(143), "{a}/{t}: {r:?}");
        assert_eq!(r.fact("root_error"), "terminated");
        let has = |parts: &[&str]| r.stderr_line(parts).is_some();
        let pid = format!("pid={pid}");
        assert!(
            has(&["killing at once: SIGKILL", "child=stuck[", &pid]),
            "{a}/{t}: no SIGKILL line:\n{}",
            r.stderr
        );
        assert!(
            has(&["exited child=stuck[", &pid, "exit=SIGKILL reaped=killed"]),
            "{a}/{t}: not reaped as killed:\n{}",
            r.stderr
        );
    }
}

#[test]
fn cancel_first_signal_during_wind_down() {
    // Ours: the root's body has ended on its own and its teardown waits on
    // a child slow to cancel (stopped until the test lets it go on). A
    // first SIGTERM or SIGINT then cancels the tree as any first signal
    // does: the child goes gracefully, not killed, and the entry point
    // reports the signal instead of the body's success.
    for (i, (a, t)) in cases().enumerate() {
        let tree = Tree::new().adapter(a).env("TRACTOR_LOGLEVEL", "info");
        let mut root = tree.spawn(Path::new(PROGRAM), &["cancel-signal-during-wind-down", t]);
        let pid = root.wait_for_fact("slow_pid");
        root.wait_for_line("body_ended=true");
        // Each signal on both adapters and both transports.
        let (signal, error, code) =
            [("TERM", "terminated", 143), ("INT", "interrupted", 1)][(i ^ (i >> 1)) & 1];
        root.signal(signal);
        root.wait_for_line("signal_heard=1");
        // The child goes on, finds the cancel request and goes (a child
        // killed at the signal is gone already: then this does nothing).
        let _ = Command::new("kill").args(["-CONT", &pid]).status();
        let r = root.finish(&tree);
        tree.assert_clean();
        assert_eq!((r.code, r.signal), (Some(code), None), "{a}/{t}: {r:?}");
        assert_eq!(r.fact("root_error"), error, "{a}/{t}");
        let sig = format!("SIG{signal} while winding down: cancelling the tree");
        assert!(r.stderr.contains(&sig), "{a}/{t}:\n{}", r.stderr);
        let asked = r
            .stderr_line(&[" [slow[", "actor cancel requested by=root["])
            .is_some();
        assert!(asked, "{a}/{t}: the child was not asked:\n{}", r.stderr);
        let pid = format!("pid={pid}");
        let exit = r
            .stderr_line(&["exited child=slow[", &pid])
            .unwrap_or_else(|| panic!("{a}/{t}: no exit line:\n{}", r.stderr));
        assert!(exit.contains(" reaped=normally"), "{a}/{t}: {exit}");
        assert!(!r.stderr.contains("SIGKILL"), "{a}/{t}:\n{}", r.stderr);
    }
}

#[test]
fn signal_default_outside_roots() {
    // Ours: once its root has ended, a process that goes on dies by SIGINT
    // or SIGTERM, as any Rust program does; a root started after still
    // hears them and cancels its tree.
    for a in adapters() {
        for (signal, number, error) in [("TERM", 15, "terminated"), ("INT", 2, "interrupted")] {
            let tree = Tree::new().adapter(a);
            let mut root = tree.spawn(Path::new(PROGRAM), &["signal-default-outside-roots", "tcp"]);
            root.wait_for_line("ready=second");
            root.signal(signal);
            root.wait_for_line("ready=after");
            root.signal(signal);
            let r = root.finish(&tree);
            tree.assert_clean();
            assert_eq!(
                (r.code, r.signal),
                (None, Some(number)),
                "{a}/{signal}: {r:?}"
            );
            assert_eq!(r.fact("second_root"), error, "{a}/{signal}");
        }
    }
}

/// How many calls and stream items the daemon of `log-tree-story` serves.
const STORY_CALLS: usize = 40;

#[test]
fn log_tree_story() {
    // Ours: at `info` the log tells a tree's story, one line per event,
    // and nothing per call or per stream item.
    for (a, t) in cases() {
        let r = run_env("log-tree-story", a, t, &[("TRACTOR_LOGLEVEL", "info")]);
        r.assert_ok();
        assert_eq!(r.fact("items"), STORY_CALLS.to_string());
        assert_eq!(r.fact("ctx_cancelled"), "true");
        let pid = format!("pid={}", r.fact("teller_pid"));
        let has = |parts: &[&str]| r.stderr_line(parts).is_some();
        let story: [&[&str]; 9] = [
            &["[root[", " info ", "spawned child=teller[", &pid],
            &["[teller[", " info ", "actor up", "addrs="],
            &[
                "[teller[",
                " info ",
                "registered with the registrar registrar=",
            ],
            &["[root[", " info ", "registered uid=teller[", "addr="],
            &[
                "[root[",
                " cancel ",
                "cancelling context func=conf:block_forever peer=teller[",
            ],
            &[
                "[teller[",
                " cancel ",
                "cancelled by its caller func=conf:block_forever by=root[",
            ],
            &["[root[", " cancel ", "cancelling actor actor=teller["],
            &["[teller[", " cancel ", "actor cancel requested by=root["],
            &[
                "[root[",
                " info ",
                "exited child=teller[",
                &pid,
                "exit=code 0 reaped=normally",
            ],
        ];
        for parts in story {
            assert!(
                has(parts),
                "{a}/{t}: no line with {parts:?} in:\n{}",
                r.stderr
            );
        }
        let lines = r.stderr.lines().count();
        assert!(
            lines < STORY_CALLS,
            "{a}/{t}: {lines} lines at info:\n{}",
            r.stderr
        );
        for per_call in ["func=conf:hi", "func=hi", "serving", " msg="] {
            assert!(
                !r.stderr.contains(per_call),
                "{a}/{t}: {per_call:?} at info:\n{}",
                r.stderr
            );
        }
    }
    // The calls and items are there, lower down.
    for a in adapters() {
        let r = run_env(
            "log-tree-story",
            a,
            "tcp",
            &[("TRACTOR_LOGLEVEL", "transport")],
        );
        r.assert_ok();
        let count = |needle: &str| r.stderr.lines().filter(|l| l.contains(needle)).count();
        assert_eq!(
            count(" debug tractor::transport: serving ns=conf func=hi "),
            STORY_CALLS
        );
        assert!(count(" transport tractor::transport: send ") >= 2 * STORY_CALLS);
        assert!(count("msg=Yield") >= 2 * STORY_CALLS, "{a}");
        assert_eq!(count("spawned child=teller["), 1, "{a}: the story too");
        // The root is the registrar at port 0 (a port the OS picks): it
        // looks for no other there, where nothing can listen.
        assert_eq!(count("127.0.0.1:0"), 0, "{a}:\n{}", r.stderr);
        assert_eq!(count("registrar=true"), 1, "{a}: the root is the registrar");
    }
}

#[test]
fn log_daemon_wait_notice() {
    // Ours: a nursery whose body has ended while daemons run says so once,
    // at info, naming those still running; the program cancels them when
    // it sees the words.
    for (a, t) in cases() {
        let env = [
            ("TRACTOR_LOGLEVEL", "info"),
            ("TRACTOR_DAEMON_WAIT_NOTICE", "0.1"),
        ];
        let r = run_env("log-daemon-wait", a, t, &env);
        r.assert_ok();
        assert_eq!(r.fact("body_ended"), "true");
        assert_eq!(r.fact("notices"), "1");
        let notices: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.contains("daemon actor"))
            .collect();
        assert_eq!(notices.len(), 1, "{a}/{t}:\n{}", r.stderr);
        let expected = "] info tractor::runtime: the nursery's body has ended; it waits for \
                        2 daemon actors: daemon-a, daemon-b — cancel them";
        assert!(
            notices[0].starts_with(|c: char| c.is_ascii_digit())
                && notices[0].contains("[root[")
                && notices[0].contains(expected),
            "{a}/{t}: {}",
            notices[0]
        );
    }
}

#[test]
fn fault_parent_dies_no_orphans() {
    // The root is SIGKILLed with a daemon and a one-shot running: they
    // notice their parent channel close and go (and a thread watching
    // their parent process backs that up).
    for (a, t) in cases() {
        let tree = Tree::new().adapter(a);
        let mut root = tree.spawn(Path::new(PROGRAM), &["fault-parent-dies", t]);
        root.wait_for_line("ready=true");
        let root_pid = root.pid();
        assert_eq!(tree.survivors().len(), 3, "root and two children run");
        root.signal("KILL");
        let r = root.finish(&tree);
        assert_eq!(r.signal, Some(9));
        let deadline = std::time::Instant::now() + tractor_conformance::HANG;
        while !tree.survivors().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            tree.survivors().is_empty(),
            "orphans: {:?}",
            tree.survivors()
        );
        // The children removed their socket files on the way out; only the
        // killed root's stay, and the next root replaces them.
        let root_files = [
            "registry@1616.sock".to_owned(),
            format!("root@{pid}.sock", pid = root_pid),
        ];
        for f in tree.leftover_sockets() {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            assert!(root_files.contains(&name), "a child left {name}");
        }
        let again = tree.run(Path::new(PROGRAM), &["disc-self-registered", t]);
        again.assert_ok();
        tree.assert_clean();
    }
}

#[test]
fn fault_spawned_from_exiting_thread() {
    // Ours: the thread that forked a child exits while the parent lives
    // (Python spawns from worker threads that end after a few idle
    // seconds). That is no parent death: the child gets no SIGTERM, serves
    // calls after the thread is gone, and ends only when cancelled.
    for (a, t) in cases() {
        let r = run_env(
            "fault-spawned-from-exiting-thread",
            a,
            t,
            &[("TRACTOR_LOGLEVEL", "info")],
        );
        r.assert_ok();
        assert_eq!(r.fact("spawner_gone"), "true", "{a}/{t}");
        assert_eq!(r.fact("child_of_root"), "true", "{a}/{t}");
        assert_eq!(r.fact("sigterm_seen"), "false", "{a}/{t}:\n{}", r.stderr);
        assert_eq!(r.fact("cancel_acked"), "true", "{a}/{t}");
        assert_eq!(
            r.stderr_line(&["lost the parent"]),
            None,
            "{a}/{t}:\n{}",
            r.stderr
        );
    }
}

#[test]
fn fault_parent_dies_grandchildren_go_too() {
    // Ours: the root is SIGKILLed with two children, each with a
    // grandchild, one of them blocked in sync code. Every process goes by
    // itself, and only the killed root's socket files stay.
    for (a, t) in cases() {
        let tree = Tree::new().adapter(a);
        let mut root = tree.spawn(
            Path::new(PROGRAM),
            &["fault-parent-dies-with-grandchildren", t],
        );
        root.wait_for_line("ready=true");
        let root_pid = root.pid();
        assert_eq!(
            tree.survivors().len(),
            5,
            "root, two children, two grandchildren"
        );
        root.signal("KILL");
        let r = root.finish(&tree);
        assert_eq!(r.signal, Some(9));
        let deadline = Instant::now() + HANG;
        while !tree.survivors().is_empty() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            tree.survivors().is_empty(),
            "orphans: {:?}",
            tree.survivors()
        );
        let root_files = [
            "registry@1616.sock".to_owned(),
            format!("root@{root_pid}.sock"),
        ];
        for f in tree.leftover_sockets() {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            assert!(root_files.contains(&name), "{a}/{t}: left {name}");
        }
    }
}

/// The uuid of the child [`start_child`] starts.
const LATE_UUID: &str = "5e1d7c2a-9b0f-4d4e-8a61-2f3c4b5d6e7f";

/// Starts the conformance program as a child whose parent, at
/// 127.0.0.1:`port`, is this test; `TRACTOR_PARENT_PID` (the variable a
/// Rust parent sets) is `parent_pid`. With `wrapper`, a shell forks it
/// rather than this process.
fn start_child(adapter: &str, port: u16, parent_pid: &str, wrapper: bool) -> (Tree, Running) {
    let args = ChildArgs {
        uid: Uid::new("late", LATE_UUID),
        parent_addr: Address::tcp("127.0.0.1", port),
        loglevel: None,
        bootstrap_stdin: false,
        guest: false,
    }
    .to_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tree = Tree::new()
        .adapter(adapter)
        .env("TRACTOR_PARENT_PID", parent_pid);
    let running = if wrapper {
        // Not the last command, so the shell forks the child and waits.
        let mut sh = vec!["-c", "\"$0\" \"$@\"; exit $?", PROGRAM];
        sh.extend(&args);
        tree.spawn(Path::new("sh"), &sh)
    } else {
        tree.spawn(Path::new(PROGRAM), &args)
    };
    (tree, running)
}

/// The first connection to `listener` (non-blocking); panics after
/// [`HANG`].
fn accept(listener: &std::net::TcpListener) -> std::net::TcpStream {
    let deadline = Instant::now() + HANG;
    loop {
        match listener.accept() {
            Ok((stream, _)) => return stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("accepting: {e}"),
        }
        assert!(Instant::now() < deadline, "the child never connected");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn fault_parent_gone_before_child_starts() {
    // Ours: the parent named in TRACTOR_PARENT_PID died before the child
    // looked (the child's parent process is then a reaper, which polling
    // getppid() would take for the parent): the child goes at once, without
    // connecting. The parent is alive when it is an ancestor through a
    // wrapper, and a value written for another child is not the child's.
    let gone = {
        let mut p = Command::new("true").spawn().expect("`true` runs");
        let pid = p.id();
        p.wait().expect("reaped");
        pid
    };
    let me = std::process::id();
    let cases = [
        (format!("{gone}:{LATE_UUID}"), false, true),
        (format!("{me}:{LATE_UUID}"), true, false),
        (format!("{gone}:another-child"), false, false),
    ];
    for a in adapters() {
        for (value, wrapper, is_gone) in &cases {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
            listener.set_nonblocking(true).expect("non-blocking");
            let port = listener.local_addr().expect("its address").port();
            let (tree, running) = start_child(a, port, value, *wrapper);
            let gone_said = format!("the parent process (pid {gone}) is gone");
            if *is_gone {
                let r = running.finish(&tree);
                assert_eq!(r.code, Some(1), "{a} {value}: {r:?}");
                assert!(r.stderr_line(&[&gone_said]).is_some(), "{a} {value}: {r:?}");
                // A connection made would wait in the backlog: none was.
                let e = listener.accept().expect_err("the child never connects");
                assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{a} {value}");
            } else {
                // Alive: it connects, and hanging up on it ends it.
                drop(accept(&listener));
                let r = running.finish(&tree);
                assert_eq!(r.code, Some(1), "{a} {value} wrapper={wrapper}: {r:?}");
                assert!(r.stderr_line(&[&gone_said]).is_none(), "{a} {value}: {r:?}");
                assert!(
                    r.stderr_line(&["could not reach the parent"]).is_some(),
                    "{a} {value}: {r:?}"
                );
            }
            tree.assert_clean();
        }
    }
}

/// Checks a run in which the root's dialog with its child `victim` failed
/// because the child was SIGKILLed: the error names it, its pid and the
/// signal.
fn victim_died(r: &Run) {
    let pid = r.fact("victim_pid");
    let error = r.fact("error");
    assert!(
        error.starts_with("local:actor 'victim' (uid victim[")
            && error.ends_with(&format!(", pid {pid}) died: killed by SIGKILL")),
        "{error}"
    );
}

#[test]
fn fault_child_sigkilled() {
    // A context open, its result awaited.
    passes("fault-child-sigkilled", victim_died);
}

#[test]
fn fault_child_sigkilled_during_a_call() {
    passes("fault-child-sigkilled-call", victim_died);
}

#[test]
fn fault_child_sigkilled_mid_stream() {
    passes("fault-child-sigkilled-stream", victim_died);
}

#[test]
fn fault_child_sigkilled_while_a_send_waits_for_room() {
    passes("fault-child-sigkilled-blocked-send", |r| {
        assert_eq!(r.fact("sent"), "512", "{r:?}");
        victim_died(r);
    });
}

#[test]
fn fault_child_sigkilled_streaming_at_full_speed() {
    // Ours: killed while streaming at full speed, with items on the way
    // and in the reader's batch: read in order, then the death.
    passes("fault-child-sigkilled-full-stream", |r| {
        assert_eq!(r.fact("read_up_to_the_kill"), "true", "{r:?}");
        victim_died(r);
    });
}

#[test]
fn fault_sibling_sigkilled() {
    // Not the caller's child: named by its uid and its handshake's pid, the
    // connection's end for how it went.
    passes("fault-sibling-sigkilled", |r| {
        let pid = r.fact("victim_pid");
        let error = r.fact("error");
        assert!(
            error.starts_with("actor 'victim' (uid victim[")
                && error.contains(&format!(", pid {pid}) is gone: ")),
            "{error}"
        );
    });
}

#[test]
fn fault_child_sigkilled_mid_spawn() {
    // Killed before it connected back: the spawn fails, naming it.
    passes("fault-child-sigkilled-spawn", |r| {
        let pid = r.fact("victim_pid");
        let error = r.fact("error");
        assert!(
            error.starts_with(
                "local:could not spawn actor \"victim\": it died before connecting back (uid victim["
            ) && error.ends_with(&format!(", pid {pid}, killed by SIGKILL)")),
            "{error}"
        );
    });
}

#[test]
fn fault_grandchild_sync_blocked() {
    passes("fault-grandchild-sync-blocked", |r| {
        assert_eq!(r.fact("grandchild_blocked"), "true");
        assert_eq!(r.fact("error"), "local:AssertionError: the root gives up");
    });
}

#[test]
fn fault_grandchild_sync_blocked_sigint() {
    // Ours: SIGINT to the root while a grandchild blocks in synchronous
    // code. Its parent ends it before exiting itself, so nothing of the
    // tree is alive when the root exits (Tree::assert_clean).
    for (a, t) in cases() {
        let tree = Tree::new().adapter(a);
        let mut root = tree.spawn(
            Path::new(PROGRAM),
            &["fault-grandchild-sync-blocked-sigint", t],
        );
        root.wait_for_line("ready=true");
        assert_eq!(tree.survivors().len(), 3, "root, child and grandchild run");
        root.signal("INT");
        let r = root.finish(&tree);
        tree.assert_clean();
        assert_eq!(r.fact("grandchild_blocked"), "true", "{r:?}");
        assert_eq!(r.fact("root_error"), "interrupted", "{r:?}");
    }
}

#[test]
fn fault_hung_child_killed_with_its_children() {
    // Ours: a child that hears nothing (stopped) is killed by the root's
    // reaper after the cancel request and SIGTERM went unanswered; its
    // own child goes with it, before the root exits.
    for (a, t) in cases() {
        let tree = Tree::new().adapter(a).env("TRACTOR_LOGLEVEL", "warning");
        let mut root = tree.spawn(Path::new(PROGRAM), &["fault-hung-child-with-grandchild", t]);
        let mid = root.wait_for_fact("mid");
        let grandchild = root.wait_for_fact("grandchild");
        root.wait_for_line("ready=true");
        let up: Vec<String> = tree
            .survivors()
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        assert!(up.contains(&mid) && up.contains(&grandchild), "{up:?}");
        let stopped = Command::new("kill").args(["-STOP", &mid]).status();
        assert!(stopped.is_ok_and(|s| s.success()));
        root.signal("INT");
        let r = root.finish(&tree);
        tree.assert_clean();
        assert_eq!(r.fact("root_error"), "interrupted", "{r:?}");
        assert!(
            r.stderr_line(&["killing the processes below it too", &grandchild])
                .is_some(),
            "{r:?}"
        );
    }
}

#[test]
fn ctx_stream_then_fail_error_not_lost() {
    // Ours: a stream's end reports its function's failure, and the scoped
    // form returns it; read, it is not logged as lost.
    for (a, t) in cases() {
        let r = run_env(
            "ctx-stream-then-fail",
            a,
            t,
            &[("TRACTOR_LOGLEVEL", "error")],
        );
        r.assert_ok();
        assert_eq!(r.fact("items"), "[0, 1, 2]", "{r:?}");
        assert_eq!(
            r.fact("stream_end"),
            "remote:ValueError:ValueError",
            "{r:?}"
        );
        assert_eq!(r.fact("result"), "remote:ValueError:ValueError", "{r:?}");
        assert_eq!(r.fact("scoped"), "remote:ValueError:ValueError", "{r:?}");
        assert_eq!(
            r.fact("scoped_body_failed"),
            "local:KeyError: the body gives up",
            "{r:?}"
        );
        assert!(r.stderr_line(&["unread"]).is_none(), "{r:?}");
    }
}

#[test]
fn ctx_error_dropped_unread_is_logged() {
    // Ours: a context dropped before its function's error was read logs
    // that error at `error` level.
    for (a, t) in cases() {
        let r = run_env(
            "ctx-error-dropped-unread",
            a,
            t,
            &[("TRACTOR_LOGLEVEL", "error")],
        );
        r.assert_ok();
        assert!(
            r.stderr_line(&["error", "unread", "ValueError"]).is_some(),
            "{r:?}"
        );
        assert!(r.stderr.contains("failed after started"), "{r:?}");
    }
}

#[test]
fn err_boxed_assertion() {
    passes("err-boxed-assertion", |r| {
        assert_eq!(r.fact("error"), "remote:AssertionError:AssertionError")
    });
}

#[test]
fn err_multierror() {
    // Both fail, even the one whose call arrived just before the first
    // failure cancelled it (see cancel_some_cancels_all_ria).
    passes("err-multierror", |r| {
        assert_eq!(assertion_failures(r.fact("error")), 2, "{r:?}");
    });
}

#[test]
fn err_panic_relayed_with_backtrace() {
    passes_with_and_without_backtraces("err-panic-relayed", |r| {
        assert_eq!(r.fact("error"), "remote:Panic:Panic")
    });
}

#[test]
fn err_inception_relay() {
    passes("err-inception-relay", |r| {
        assert_eq!(r.fact("error"), "remote:RemoteActorError:RuntimeError");
        assert_eq!(r.fact("src"), "leaf-1-0");
        assert_eq!(r.fact("relay"), "mid");
        assert!(r.stderr.contains("|_src_uid=('leaf-1-0'"), "{}", r.stderr);
    });
}

#[test]
fn err_nested_multierrors() {
    // Every leaf fails at about the same time, and each nursery cancels
    // its other children at its first failure: how many failures reach
    // each level before that cancellation is a race. So the shape of what
    // the root gets varies (one relayed error, a relayed group, a group of
    // mid's own); what holds is that it comes through mid and carries a
    // leaf's own failure.
    passes("err-nested-multierrors", |r| {
        assert!(r.fact("error").starts_with("remote:"), "{r:?}");
        assert!(r.fact("src") == "mid" || r.fact("relay") == "mid", "{r:?}");
        assert!(r.stderr.contains("|_message: leaf-1-"), "{}", r.stderr);
    });
}

#[test]
fn fault_nested_failing_leaves_all_delivered() {
    // Ours: root → 2 → 4 → 8 leaves that all fail at one barrier, in
    // code no cancellation can interrupt: all 8 failures reach the root,
    // grouped per level, each naming its leaf.
    passes("fault-nested-failing-leaves", |r| {
        assert_eq!(
            r.fact("leaves_failed"),
            "n0.0.0,n0.0.1,n0.1.0,n0.1.1,n1.0.0,n1.0.1,n1.1.0,n1.1.1",
            "{}",
            r.stderr
        );
        assert_eq!(
            r.fact("error"),
            "group[remote:ExceptionGroup:ExceptionGroup,remote:ExceptionGroup:ExceptionGroup]",
            "{}",
            r.stderr
        );
    });
}

#[test]
fn disc_self_registered() {
    passes("disc-self-registered", |r| {
        assert_eq!(r.fact("found"), "root")
    });
}

#[test]
fn disc_reg_then_unreg_and_find_miss() {
    // Also disc-get-registry-example: on Unix sockets the tree uses the
    // transport's default registrar address; on TCP each tree takes a free
    // port instead, so that trees can run side by side.
    for (a, t) in cases() {
        let r = run("disc-reg-then-unreg", a, t);
        r.assert_ok();
        assert_eq!(r.fact("default_registry"), (t == "uds").to_string());
        assert_eq!(r.fact("missing"), "true");
        assert_eq!(r.fact("found"), "actor");
        assert_eq!(r.fact("registered"), "true");
        assert_eq!(r.fact("unregistered"), "true");
    }
}

#[test]
fn disc_reg_then_unreg_maddr() {
    // The registrar's address given as a multiaddr: the same dialogs.
    for (a, t) in cases() {
        let r = run("disc-reg-then-unreg-maddr", a, t);
        r.assert_ok();
        let prefix = if t == "tcp" {
            "/ip4/127.0.0.1/tcp/"
        } else {
            "/unix/"
        };
        let registry = r.fact("registry_maddr");
        assert!(registry.starts_with(prefix), "{a}/{t}: {registry}");
        if t == "uds" {
            assert!(
                registry.ends_with(".sock") && registry.contains("maddr-registry@"),
                "{registry}"
            );
        }
        assert_eq!(r.fact("default_registry"), "false");
        assert_eq!(r.fact("missing"), "true");
        assert_eq!(r.fact("found"), "actor");
        assert_eq!(r.fact("registered"), "true");
        assert_eq!(r.fact("unregistered"), "true");
    }
}

#[test]
fn disc_bind_maddr_str() {
    for (a, t) in cases() {
        let r = run("disc-bind-maddr-str", a, t);
        r.assert_ok();
        let bound = r.fact("bound");
        if t == "tcp" {
            assert!(bound.starts_with("/ip4/127.0.0.1/tcp/"), "{a}: {bound}");
        } else {
            assert!(
                bound.starts_with("/unix/") && bound.contains("maddr-bound@"),
                "{a}: {bound}"
            );
        }
        assert_eq!(r.fact("port_picked"), "true", "{a}/{t}: {bound}");
        assert_eq!(r.fact("hi"), "hi from kid");
    }
}

#[test]
fn tpt_root_passes_tpt_to_sub() {
    for (a, t) in cases() {
        let r = run("tpt-root-passes-tpt-to-sub", a, t);
        r.assert_ok();
        assert_eq!(r.fact("child_transport"), t);
    }
}

// ---------------------------------------------------------------------------
// Spawning and lifetimes

#[test]
fn spawn_no_runtime() {
    // No actor before the root opens (nothing to discover with) or after.
    passes("spawn-no-runtime", |r| {
        assert_eq!(r.fact("before"), "true");
        assert_eq!(r.fact("inside"), "true");
        assert_eq!(r.fact("after"), "true");
    });
}

#[test]
fn spawn_root_only_runtime() {
    passes("spawn-root-only-runtime", |r| {
        assert_eq!(r.fact("iterations"), "10");
        assert_eq!(r.fact("registrar"), "true");
        assert_eq!(r.fact("registered"), "root");
    });
}

#[test]
fn spawn_implicit_root() {
    passes("spawn-implicit-root", |r| {
        assert_eq!(r.fact("before"), "true");
        assert_eq!(r.fact("root"), "root");
        assert_eq!(r.fact("registrar"), "true");
        assert_eq!(r.fact("hi"), "hi from kid");
        assert_eq!(r.fact("after"), "true");
    });
}

#[test]
fn spawn_runtime_vars_reset() {
    // A second root in the same process starts clean after the first (run
    // with the debugger on) is gone.
    passes("spawn-runtime-vars-reset", |r| {
        assert_eq!(r.fact("between"), "true");
        assert_eq!(r.fact("new_uid"), "true");
        assert_eq!(r.fact("registrar"), "true");
        assert_eq!(r.fact("registered"), "root");
        assert_eq!(r.fact("hi"), "hi from kid");
    });
}

#[test]
fn spawn_loglevel_propagated() {
    passes("spawn-loglevel-propagated", |r| {
        for level in ["debug", "cancel", "critical"] {
            assert_eq!(r.fact(level), level);
            // The child's stderr is the root's.
            let line = format!("loglevel log-{level} Some(\"{level}\")");
            assert!(r.stderr.contains(&line), "no {line:?} in {}", r.stderr);
        }
    });
}

#[test]
fn spawn_proctitle() {
    passes("spawn-proctitle", |r| {
        // Python's `_subactor[<name>@<pid>]`, less the pid (`ps` shows it
        // in a column of its own).
        assert_eq!(r.fact("arg0"), "_subactor[proctitle_boi]");
        // comm: the same, cut to the kernel's 15 bytes.
        assert_eq!(r.fact("comm"), "_subactor[proct");
        assert!(!r.fact("root_comm").starts_with("_subactor["));
    });
}

/// `ActorOptions::python`: the child is started as Python tractor's child,
/// `<interpreter> -m tractor._child --uid … --parent_addr …`, with the
/// interpreter's own path as `argv[0]` (CPython finds its virtual
/// environment from it), not our `_subactor[…]` title. The interpreter is
/// a stand-in: a link `<venv>/bin/python` to the conformance program,
/// which becomes a child from that command line and answers. Its command
/// line and environment as `/proc` has them: the root's environment, plus
/// the variable the options set, the tree's limits and the parent pid,
/// nothing else.
#[test]
fn spawn_python_child() {
    for (a, t) in cases() {
        let tree = Tree::new().adapter(a);
        let r = tree.run(Path::new(PROGRAM), &["spawn-python-child", t]);
        tree.assert_clean();
        r.assert_ok();
        assert_eq!(r.fact("argv0_is_interpreter"), "true", "{r:?}");
        assert_eq!(r.fact("argv0"), "bin/python", "{r:?}");
        assert_eq!(r.fact("args_exact"), "true", "{r:?}");
        assert_eq!(
            r.fact("args"),
            "-m tractor._child --uid ('pychild', '<uuid>') --parent_addr <parent_addr>"
        );
        let parent = r.fact("parent_addr_arg");
        match t {
            "tcp" => assert!(parent.starts_with("('127.0.0.1', "), "{parent}"),
            _ => {
                let dir = tree.socket_dir().display().to_string();
                assert!(parent.starts_with(&format!("('{dir}', '")), "{parent}");
                assert!(parent.ends_with(".sock')"), "{parent}");
            }
        }
        // The variable the options set, the tree's limits and grace (a
        // Python child ignores them) and the parent's pid; nothing else.
        assert_eq!(
            r.fact("env_added"),
            "CONF_PY_MARK,TRACTOR_CANCEL_GRACE_MS,TRACTOR_KEEPALIVE_MS,TRACTOR_MAX_CONNECTIONS,\
             TRACTOR_MAX_DIALOGS_PER_PEER,TRACTOR_MAX_FRAME_LEN,TRACTOR_MAX_PENDING_CONNECTIONS,TRACTOR_MAX_QUEUED_BYTES,\
             TRACTOR_MAX_QUEUED_FRAMES,TRACTOR_PARENT_PID,TRACTOR_STALL_TIMEOUT_MS"
        );
        assert_eq!(r.fact("env_missing"), "");
        assert_eq!(r.fact("env_changed"), "");
        assert_eq!(r.fact("env_mark"), "set by the parent");
        assert_eq!(r.fact("env_parent_pid"), "true");
        assert_eq!(r.fact("hi"), "hi from pychild");
        // The stand-in's directory went with the root.
        let left: Vec<_> = std::fs::read_dir(tree.temp_dir())
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            !left
                .iter()
                .any(|n| n.to_string_lossy().starts_with("tractor-conformance-venv-")),
            "{left:?}"
        );
    }
}

#[test]
fn spawn_worker_pool() {
    passes("spawn-worker-pool", |r| {
        assert_eq!(r.fact("completed"), "6");
        assert_eq!(r.fact("primes"), "1000003,1000033,1000037,1000039");
    });
}

/// `ActorNursery::start_actors`, on both adapters and transports: one
/// poll of the batch has started every child (each then answers with its
/// own name, from the pid it was started as), twelve tasks call the
/// workers at once, names borrowed from temporaries work, and a batch
/// with a child that cannot start leaves none of its children behind.
#[test]
fn spawn_start_actors() {
    passes("spawn-start-actors", |r| {
        assert_eq!(r.fact("started_at_first_poll"), "4");
        assert_eq!(r.fact("order"), "worker-0,worker-1,worker-2,worker-3");
        assert_eq!(r.fact("answers"), "12");
        assert_eq!(r.fact("distinct_pids"), "4");
        assert_eq!(r.fact("extra"), "hi from extra-0,hi from extra-1");
        assert_eq!(r.fact("doomed_error"), "spawn:doomed-1");
        assert_eq!(r.fact("doomed_left"), "0");
        assert_eq!(r.fact("workers_after_failed_batch"), "4");
        assert_eq!(r.fact("dropped_batch_listed"), "2");
        assert_eq!(r.fact("dropped_batch_gone"), "true");
    });
}

#[test]
fn spawn_nested_tree_inside_out() {
    // Also ctx-nested-started-result: the leaf names come with `started`,
    // the squares with the result.
    passes("spawn-nested-tree-inside-out", |r| {
        assert_eq!(r.fact("started"), "leaf_1,leaf_2");
        assert_eq!(r.fact("result"), "[1, 4, 9, 16]");
        assert_eq!(r.fact("leaves_listed"), "0");
    });
}

#[test]
fn spawn_lifetime_stack_on_error() {
    passes("spawn-lifetime-stack-on-error", |r| {
        assert_eq!(r.fact("outcome"), "remote:AssertionError:AssertionError");
        assert_eq!(r.fact("file_left"), "false");
    });
}

#[test]
fn spawn_lifetime_stack_on_cancel() {
    passes("spawn-lifetime-stack-on-cancel", |r| {
        assert_eq!(r.fact("held"), "true");
        assert_eq!(r.fact("outcome"), "local:TimeoutError: the parent gave up");
        assert_eq!(r.fact("file_left"), "false");
    });
}

// ---------------------------------------------------------------------------
// RPC

#[test]
fn rpc_callback_exposed() {
    passes("rpc-callback-exposed", |r| {
        assert_eq!(r.fact("result"), "hi from root")
    });
}

#[test]
fn rpc_sibling_discovery_call() {
    // Also rpc-run-by-name-string: each sibling calls the other by
    // namespace and function name.
    passes("rpc-sibling-discovery-call", |r| {
        assert_eq!(r.fact("donny"), "hi from gretchen");
        assert_eq!(r.fact("gretchen"), "hi from donny");
    });
}

#[test]
fn rpc_cancel_actor_ack() {
    passes("rpc-cancel-actor-ack", |r| {
        assert_eq!(r.fact("streamed"), "5");
        assert_eq!(r.fact("acked"), "true");
    });
}

// ---------------------------------------------------------------------------
// Contexts

#[test]
fn ctx_stop_after_return_ignored() {
    passes("ctx-stop-after-return-ignored", |r| {
        assert_eq!(r.fact("stream"), "opened");
        assert_eq!(r.fact("result"), "yo");
        assert_eq!(r.fact("after"), "hi from returner");
    });
}

#[test]
fn ctx_parent_error_in_block() {
    passes("ctx-parent-error-in-block", |r| {
        for open in ["false", "true"] {
            assert_eq!(
                r.fact(&format!("error_stream_{open}")),
                "local:ValueError: the opener's block fails"
            );
        }
        assert_eq!(r.fact("remote_ended_stream_false"), "1");
        assert_eq!(r.fact("remote_ended_stream_true"), "2");
    });
}

#[test]
fn ctx_cancel_by_opener_silent() {
    // Also cancel-ctxc-self-requested-absorbed. Our `wait_for_result`
    // reports the cancellation this side asked for as an error that
    // `is_cancelled()`, where Python's `result()` returns quietly.
    passes("ctx-cancel-by-opener-silent", |r| {
        for open in ["false", "true"] {
            assert_eq!(r.fact(&format!("outcome_stream_{open}")), "cancelled");
            assert_eq!(r.fact(&format!("requested_by_root_stream_{open}")), "true");
        }
        assert_eq!(r.fact("remote_ended_stream_false"), "1");
        assert_eq!(r.fact("remote_ended_stream_true"), "2");
        assert_eq!(r.fact("after"), "hi from blocker");
    });
}

#[test]
fn ctx_cancel_actor_raises_ctxc() {
    // Also cancel-ctxc-actor-cancel-raised.
    passes("ctx-cancel-actor-raises-ctxc", |r| {
        let ctxc = "remote:ContextCancelled:ContextCancelled";
        assert_eq!(r.fact("acked"), "true");
        assert_eq!(r.fact("outcome"), ctxc);
        assert_eq!(r.fact("canceller"), "root");
        assert_eq!(r.fact("again"), ctxc);
    });
}

#[test]
fn ctx_cancel_after_child_returned() {
    passes("ctx-cancel-after-child-returned", |r| {
        assert_eq!(r.fact("late_cancel"), "accepted");
        assert_eq!(r.fact("result_via_actor_false"), "yo");
        assert_eq!(r.fact("acked"), "true");
        assert_eq!(r.fact("result_via_actor_true"), "yo");
    });
}

#[test]
fn ctx_opener_cancels_echo_child() {
    passes("ctx-opener-cancels-echo-child", |r| {
        assert_eq!(r.fact("outcome_pre_stream"), "cancelled_by_root");
        assert_eq!(r.fact("outcome_post_stream_open"), "cancelled_by_root");
        // With our side closed the echo may return its count first.
        let closed = r.fact("outcome_post_stream_close");
        assert!(
            closed == "cancelled_by_root" || closed == "returned:1",
            "{closed}"
        );
        for when in ["pre_stream", "post_stream_open", "post_stream_close"] {
            assert_eq!(r.fact(&format!("reopen_{when}")), "true", "{when}");
        }
    });
}

#[test]
fn ctx_opener_waits_for_child() {
    passes("ctx-opener-waits-for-child", |r| {
        assert_eq!(r.fact("timed_out"), "true");
        assert_eq!(r.fact("outcome"), "cancelled");
        assert_eq!(r.fact("requested_by_root"), "true");
    });
}

#[test]
fn ctx_cancel_from_sibling_task() {
    passes("ctx-cancel-from-sibling-task", |r| {
        assert_eq!(r.fact("received"), "yo");
        // As in Python: the iteration ends with the ctxc.
        assert_eq!(r.fact("end"), "cancelled");
        assert_eq!(r.fact("outcome"), "cancelled");
        assert_eq!(r.fact("requested_by_root"), "true");
        assert_eq!(r.fact("remote_ended"), "1");
    });
}

#[test]
fn ctx_child_self_cancel() {
    passes("ctx-child-self-cancel", |r| {
        assert_eq!(r.fact("error"), "remote:ContextCancelled:ContextCancelled");
        assert_eq!(r.fact("canceller"), "selfish");
        assert_eq!(r.fact("tb_says_itself"), "true");
        assert_eq!(r.fact("open_stream_refused"), "true");
    });
}

#[test]
fn ctx_unserializable_started() {
    // Also err-not-swallowed-by-peer-ctxc: the child's own encoding error
    // wins over the peer context it cancels on the way out.
    passes("ctx-unserializable-started", |r| {
        assert_eq!(r.fact("error"), "remote:TypeError:TypeError")
    });
}

// ---------------------------------------------------------------------------
// Streams and broadcast

#[test]
fn stream_reqresp_on_top() {
    passes("stream-reqresp-on-top", |r| {
        assert_eq!(r.fact("pongs"), "3");
        assert_eq!(r.fact("answered"), "3");
        assert_eq!(r.fact("saw_yo"), "true");
    });
}

#[test]
fn stream_consumer_respawn() {
    passes("stream-consumer-respawn", |r| {
        assert_eq!(r.fact("received"), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]");
        assert_eq!(r.fact("restarts"), "6");
    });
}

#[test]
fn stream_infinite_cancelled_by_timeout() {
    passes("stream-infinite-cancelled-by-timeout", |r| {
        assert_eq!(r.fact("timed_out"), "true");
        assert_eq!(r.fact("cancelled"), "true");
    });
}

#[test]
fn stream_ctx_plus_legacy_kbi() {
    interrupted("stream-ctx-plus-legacy-kbi", |r| {
        assert_eq!(r.fact("echoed"), "7");
        assert_eq!(r.fact("legacy_first"), "0");
    });
}

#[test]
fn stream_local_fanout_22() {
    passes("stream-local-fanout-22", |r| {
        assert_eq!(r.fact("subscribers"), "22");
        assert_eq!(r.fact("all_got_all"), "true");
        assert_eq!(r.fact("ends"), r#"["eoc"]"#);
    });
}

#[test]
fn stream_fanout_echo_10() {
    passes("stream-fanout-echo-10", |r| {
        assert_eq!(r.fact("readers"), "11");
        assert_eq!(r.fact("all_in_order"), "true");
        assert_eq!(r.fact("echoed"), "1000");
    });
}

#[test]
fn stream_fanout_go_signal() {
    passes("stream-fanout-go-signal", |r| {
        assert_eq!(r.fact("all_got_ticks"), "true");
        assert_eq!(r.fact("all_ended_cleanly"), "true");
    });
}

#[test]
fn bcast_subscribe_after_close() {
    passes("bcast-subscribe-after-close", |r| {
        assert_eq!(r.fact("subscribe"), "local:the resource is closed");
        assert_eq!(r.fact("receive"), "local:the resource is closed");
        assert_eq!(r.fact("stream"), "3");
    });
}

const LAGGED_100: &str = "a broadcast receiver lagged 100 items behind its stream";

#[test]
fn bcast_lag() {
    passes("bcast-lag", |r| {
        for side in ["subscriber", "opener"] {
            assert_eq!(r.fact(&format!("lag_{side}")), LAGGED_100);
            assert_eq!(r.fact(&format!("resumes_at_{side}")), "100");
        }
    });
}

#[test]
fn bcast_no_raise_on_lag() {
    interrupted("bcast-no-raise-on-lag", |r| {
        assert_eq!(r.fact("slow_first"), "100")
    });
}

#[test]
fn bcast_fast_sub_cancelled() {
    passes("bcast-fast-sub-cancelled", |r| {
        assert_eq!(r.fact("fast_took"), "20");
        assert_eq!(r.fact("slow_got_all"), "true");
    });
}

#[test]
fn bcast_first_recver_cancelled() {
    passes("bcast-first-recver-cancelled", |r| {
        assert_eq!(r.fact("cancelled_waiting"), "true");
        assert_eq!(r.fact("stream_got"), "5");
        assert_eq!(r.fact("sub_got"), "5");
    });
}

#[test]
fn bcast_slow_consumers_lag_out() {
    passes("bcast-slow-consumers-lag-out", |r| {
        assert_eq!(r.fact("fast_lags"), "0");
        assert_eq!(r.fact("slow_lag"), LAGGED_100);
        assert_eq!(r.fact("slow_window"), "true");
        assert_eq!(r.fact("original_lag"), LAGGED_100);
        assert_eq!(r.fact("fast_after_close"), "local:the resource is closed");
    });
}

// ---------------------------------------------------------------------------
// Cancellation

#[test]
fn cancel_kbi_in_nursery() {
    interrupted("cancel-kbi-in-nursery", |r| {
        assert_eq!(r.fact("ready"), "true")
    });
}

#[test]
fn cancel_cluster_kbi() {
    interrupted("cancel-cluster-kbi", |r| {
        assert_eq!(r.fact("ready"), "true")
    });
}

#[test]
fn cancel_sigint_from_child_task() {
    interrupted("cancel-sigint-from-child-task", |r| {
        assert_eq!(r.fact("ready"), "true")
    });
}

#[test]
fn cancel_some_cancels_all_daemon_fails() {
    passes("cancel-some-cancels-all-daemon-fails", |r| {
        let one = "remote:AssertionError:AssertionError";
        assert_eq!(r.fact("quick_false"), one);
        assert_eq!(r.fact("quick_true"), one);
    });
}

#[test]
fn cancel_some_cancels_all_delayed_ria() {
    // The first failure cancels the others; those already failed count,
    // the cancellations it caused do not. A one-shot still in its pause
    // when the first failure comes is cancelled there (the first may fail
    // before the last has even been started): one to three failures.
    passes("cancel-some-cancels-all-delayed-ria", |r| {
        let count: usize = r.fact("count").parse().unwrap();
        assert!((1..=3).contains(&count), "{count}");
        let members: Vec<&str> = r.fact("members").split(';').collect();
        assert_eq!(members.len(), count);
        assert!(
            members
                .iter()
                .all(|m| *m == "remote:AssertionError:AssertionError"),
            "{members:?}"
        );
    });
}

// Graceful cancellation (`graceful_cancel`): functions that clean up
// with awaits once cancelled.

#[test]
fn cancel_finally_checkpoint_after_ctxc() {
    // The cleanup (a pause, a call to the registrar) ran before the
    // opener's outcome came, and that outcome is the cancellation asked for.
    passes("cancel-finally-checkpoint-after-ctxc", |r| {
        assert_eq!(r.fact("outcome"), "cancelled");
        assert_eq!(r.fact("requested_by_root"), "true");
        assert_eq!(r.fact("cleanups"), "1");
        // A guard dropped once told ends the grace: no cleanup after it.
        assert_eq!(r.fact("dropped_guard_outcome"), "cancelled");
        assert_eq!(r.fact("cleanups_after_dropped_guard"), "1");
        assert_eq!(r.fact("outside_refused"), "true");
        assert_eq!(r.fact("root_refused"), "true");
        assert_eq!(r.fact("after"), "hi from cleaner");
    });
}

#[test]
fn cancel_mask_unmask_in_acm() {
    // The failure of a cancelled function's cleanup is its outcome: type
    // and message, not a cancellation.
    passes("cancel-mask-unmask-in-acm", |r| {
        assert_eq!(r.fact("outcome"), "remote:AssertionError:AssertionError");
        assert_eq!(r.fact("message_kept"), "true");
        assert_eq!(r.fact("after"), "hi from failer");
    });
}

#[test]
fn cancel_mask_sendchan_aclose() {
    // A streaming function sends a last item after its cancellation,
    // closes its stream and fails: the item arrives and the failure is the
    // outcome.
    passes("cancel-mask-sendchan-aclose", |r| {
        assert_eq!(r.fact("last_item"), "Some(-1)");
        assert_eq!(r.fact("stream_end"), "none");
        assert_eq!(r.fact("outcome"), "remote:RuntimeError:RuntimeError");
        assert_eq!(r.fact("message_kept"), "true");
        assert_eq!(r.fact("last_items_sent"), "1");
    });
}

#[test]
fn cancel_mask_lock_acquire_special() {
    // Blocked on a lock: watching its cancellation, a function ends
    // cancelled; not watching, it overruns its grace and is dropped,
    // ending cancelled; still blocked when its actor is cancelled, it
    // holds nothing up (the tree exits, nothing survives).
    passes("cancel-mask-lock-acquire-special", |r| {
        assert_eq!(r.fact("watching"), "cancelled");
        assert_eq!(r.fact("overrun"), "cancelled");
        assert_eq!(r.fact("overrun_dropped"), "1");
    });
}

#[test]
fn cancel_graceful_before_hard_reap() {
    // The scenario's reaping timeouts are far beyond the harness's
    // patience: only the graceful cancel can end the daemon, whose
    // cancelled function prints as it goes.
    interrupted("cancel-graceful-before-hard-reap", |r| {
        assert!(r.stdout.iter().any(|l| l == "dropped=daemon"), "{r:?}")
    });
}

#[test]
fn cancel_midstream_at_various_delays() {
    // Cut after a number of items rather than a delay: the same cuts on
    // every machine.
    passes("cancel-midstream-at-various-delays", |r| {
        assert_eq!(r.fact("cut_after"), "[0, 1, 10, 500]")
    });
}

#[test]
fn cancel_oob_bg_opener() {
    // cancel-oob-bg-opener-self-cancel (ctx.cancel() then the actor) and
    // cancel-oob-bg-opener-actor-cancel (the actor only), from the parent
    // task while a background task waits in the context.
    passes("cancel-oob-bg-opener-self-cancel", |r| {
        assert_eq!(r.fact("acked_actor_only_false"), "true");
        assert_eq!(r.fact("outcome_actor_only_false"), "cancelled_by_root");
        assert_eq!(r.fact("acked_actor_only_true"), "true");
        assert_eq!(
            r.fact("outcome_actor_only_true"),
            "remote:ContextCancelled:ContextCancelled:root"
        );
    });
}

/// The secret of the trees that share one (spec/PROTOCOL.md §3.5).
const TREE_SECRET: &str = "conformance-tree-secret-0123";

/// Runs a passing scenario whose actors cancel peers that are not their
/// parent nor children: only a tree with a secret trusts them to.
fn passes_with_secret(id: &str, check: impl Fn(&Run)) {
    for (a, t) in cases() {
        let r = run_env(id, a, t, &[("TRACTOR_SECRET", TREE_SECRET)]);
        r.assert_ok();
        check(&r);
    }
}

#[test]
fn cancel_peer_canceller() {
    passes_with_secret("cancel-peer-canceller", |r| {
        let ctxc = "remote:ContextCancelled:ContextCancelled";
        assert_eq!(r.fact("acked"), "true");
        assert_eq!(r.fact("sleeper_outcome"), ctxc);
        assert_eq!(r.fact("sleeper_canceller"), "canceller");
        assert_eq!(r.fact("requested_by_root"), "false");
        // cancel-peer-canceller-observer-side: the sibling saw the same.
        assert_eq!(r.fact("caller_saw"), format!("{ctxc}:canceller"));
    });
}

#[test]
fn cancel_peer_spawned_service() {
    passes("cancel-peer-spawned-service", |r| {
        assert_eq!(r.fact("spawned"), "little_bro");
        assert_eq!(r.fact("root_echoed"), "10");
        assert_eq!(r.fact("client_cancelled_by_root"), "true");
        assert_eq!(r.fact("spawned_gone"), "true");
    });
}

// ---------------------------------------------------------------------------
// Errors

#[test]
fn err_boxed_from_daemons_example() {
    passes("err-boxed-from-daemons-example", |r| {
        assert_eq!(r.fact("error"), "remote:AssertionError:AssertionError")
    });
}

#[test]
fn err_multierror_25_during_spawn() {
    // Failing at once: every one-shot has its call before the body ends,
    // and so before the first failure cancels the rest; each fails before
    // its first await point, so all 25 are reported. Failing after a
    // pause while later ones still spawn: the first failure cancels those
    // still pausing (only failures are reported), so one to 25.
    passes("err-multierror-25-during-spawn", |r| {
        assert_eq!(r.fact("count_0"), "25", "{r:?}");
        let count: usize = r.fact("count_200").parse().unwrap();
        assert!((1..=25).contains(&count), "200: {count}");
        for delay in ["0", "200"] {
            assert_eq!(r.fact(&format!("all_assertions_{delay}")), "true");
        }
    });
}

#[test]
fn fault_25_fail_during_spawn() {
    // Every one-shot fails before its first await point, the last ones
    // while the first failure already cancels the nursery: each failure
    // reaches the root, from the actor that raised it, and none is
    // mistaken for a cancellation.
    passes("fault-25-fail-during-spawn", |r| {
        assert_eq!(r.fact("missing"), "[]", "{r:?}");
        assert_eq!(r.fact("failures"), "25", "{r:?}");
        assert_eq!(r.fact("sources_distinct"), "true", "{r:?}");
        assert_eq!(assertion_failures(r.fact("error")), 25, "{r:?}");
    });
}

#[test]
fn err_custom_registered() {
    passes("err-custom-registered", |r| {
        // Directly from the child that raised it: its own type, its
        // message closing its traceback, its value rebuilt here.
        assert_eq!(r.fact("boxed_type"), "CustomAppError", "{r:?}");
        assert_eq!(r.fact("src_type"), "CustomAppError", "{r:?}");
        assert_eq!(r.fact("src"), "raiser", "{r:?}");
        assert_eq!(r.fact("text"), "custom failure (code 42)", "{r:?}");
        assert_eq!(r.fact("tb_closes_with_message"), "true", "{r:?}");
        assert_eq!(r.fact("type_name"), "CustomAppError", "{r:?}");
        assert_eq!(
            r.fact("rebuilt"),
            "Some(CustomAppError { what: \"custom failure\", code: 42 })",
            "{r:?}"
        );
        assert_eq!(r.fact("other_type"), "None", "{r:?}");
        // Relayed by a middle actor: boxed as a RemoteActorError, the
        // source's type and value kept.
        assert_eq!(r.fact("relayed_boxed_type"), "RemoteActorError", "{r:?}");
        assert_eq!(r.fact("relayed_src_type"), "CustomAppError", "{r:?}");
        assert_eq!(r.fact("relayed_src"), "leaf", "{r:?}");
        assert_eq!(r.fact("relay_path"), "leaf,mid", "{r:?}");
        assert_eq!(r.fact("relayed_rebuilt"), r.fact("rebuilt"), "{r:?}");
    });
}

#[test]
fn err_custom_registered_2() {
    passes("err-custom-registered-2", |r| {
        assert_eq!(r.fact("boxed_type"), "AnotherAppError", "{r:?}");
        assert_eq!(r.fact("src_type"), "AnotherAppError", "{r:?}");
        assert_eq!(r.fact("text"), "another failure: one, two", "{r:?}");
        assert_eq!(r.fact("tb_closes_with_message"), "true", "{r:?}");
        assert_eq!(
            r.fact("rebuilt"),
            "Some(AnotherAppError { reasons: [\"one\", \"two\"] })",
            "{r:?}"
        );
        assert_eq!(r.fact("other_type"), "None", "{r:?}");
    });
}

#[test]
fn err_type_registry_unit() {
    // The registry's lookups, in the root's process: no tree needed
    // beyond it, so one adapter and transport.
    let r = run("err-type-registry-unit", "tokio", "tcp");
    r.assert_ok();
    assert_eq!(r.fact("before"), "None", "{r:?}");
    for key in ["one", "two", "custom", "again"] {
        assert_eq!(r.fact(key), "true", "{key}: {r:?}");
    }
    assert_eq!(r.fact("unregistered"), "None", "{r:?}");
    assert_eq!(r.fact("builtins"), "[None, None, None]", "{r:?}");
    assert_eq!(r.fact("local_type"), "UnitTwoError", "{r:?}");
    assert_eq!(
        r.fact("local_rebuilt"),
        "Some(UnitTwoError(\"two\"))",
        "{r:?}"
    );
    assert_eq!(r.fact("local_other"), "None", "{r:?}");
}

#[test]
fn err_unregistered_relayed() {
    passes("err-unregistered-relayed", |r| {
        assert_eq!(r.fact("boxed_type"), "UnregisteredAppError");
        assert_eq!(r.fact("src_type"), "UnregisteredAppError");
        assert_eq!(r.fact("message"), "nobody registered this error");
        assert_eq!(r.fact("tb_str"), "true");
        assert_eq!(
            r.fact("header"),
            "RemoteActorError: remote task raised a 'UnregisteredAppError'"
        );
    });
}

#[test]
fn err_rae_repr_fields() {
    passes("err-inception-relay", |r| {
        for part in [
            "RemoteActorError: remote task raised a 'RuntimeError'",
            "|_src_uid=('leaf-1-0', '",
            "|_relay_uid=('mid', '",
            "|_boxed_type=RemoteActorError",
            "remote traceback (from 'mid')",
        ] {
            assert!(r.stderr.contains(part), "no {part:?} in {}", r.stderr);
        }
    });
}

// ---------------------------------------------------------------------------
// Discovery

#[test]
fn disc_duplicate_name() {
    // With the root as registrar, and with a registrar daemon.
    let check = |r: &Run| {
        assert_eq!(r.fact("found"), "doggy");
        assert_eq!(r.fact("one_of_them"), "true");
        assert_eq!(r.fact("registered"), "2");
        assert_eq!(r.fact("after_cancel"), "0");
    };
    passes("disc-duplicate-name", check);
    passes_with_registrar("disc-duplicate-name", check);
}

#[test]
fn disc_registry_dump() {
    passes("disc-registry-dump", |r| {
        assert_eq!(r.fact("root_listed"), "true");
        assert_eq!(r.fact("keys_split"), "true");
        assert_eq!(r.fact("child_listed"), "true");
    });
}

#[test]
fn disc_unregister_on_cancel() {
    // A KeyboardInterrupt in the root's nursery...
    passes("disc-unregister-on-cancel", |r| {
        assert_eq!(r.fact("before"), "root");
        assert_eq!(r.fact("during"), "root,sub-0,sub-1,sub-2");
        assert_eq!(r.fact("error"), "interrupted");
        assert_eq!(r.fact("after"), "root");
    });
    // ...and SIGINT, which ends the root: a registrar daemon outlives it
    // and is asked afterwards.
    for (a, t) in cases() {
        let (tree, daemon, reg) = registrar(a, t);
        let r = tree.run(Path::new(PROGRAM), &["disc-unregister-on-sigint", t, &reg]);
        assert_eq!(r.fact("during"), "registrar,root,sub-0,sub-1,sub-2");
        assert_eq!(r.fact("root_error"), "interrupted");
        let probe = tree.run(Path::new(PROGRAM), &["registry-probe", t, &reg]);
        probe.assert_ok();
        assert_eq!(probe.fact("registered"), "probe,registrar");
        stop(&tree, daemon);
    }
}

#[test]
fn disc_unregister_on_cancel_remote() {
    passes_with_registrar("disc-unregister-on-cancel-remote", |r| {
        assert_eq!(r.fact("before"), "registrar,root");
        assert_eq!(r.fact("during"), "registrar,root,sub-0,sub-1,sub-2");
        assert_eq!(r.fact("error"), "interrupted");
        assert_eq!(r.fact("after"), "registrar,root");
    });
}

#[test]
fn disc_unregister_after_explicit_close() {
    passes("disc-unregister-after-explicit-close", |r| {
        assert_eq!(r.fact("during"), "root,sub-0,sub-1,sub-2");
        assert_eq!(r.fact("error"), "interrupted");
        assert_eq!(r.fact("after"), "root");
    });
}

#[test]
fn disc_non_registrar_child_finds_root() {
    passes_with_registrar("disc-non-registrar-child-finds-root", |r| {
        assert_eq!(r.fact("root_is_registrar"), "false");
        assert_eq!(r.fact("found"), "root");
        assert_eq!(r.fact("same_uid"), "true");
    });
}

fn non_registrar_binds(r: &Run) {
    assert_eq!(r.fact("registrar"), "false");
    assert_eq!(r.fact("listeners"), "1");
    assert_eq!(r.fact("not_the_registry"), "true");
    assert_eq!(r.fact("same_bindspace"), "true");
    if r.fact("transport") == "tcp" {
        assert_eq!(r.fact("port_set"), "true");
    }
}

#[test]
fn disc_non_registrar_random_bind() {
    passes_with_registrar("disc-non-registrar-random-bind", |r| {
        non_registrar_binds(r);
        if r.fact("transport") == "uds" {
            assert!(r.fact("file").starts_with("root@"), "{r:?}");
        }
    });
}

#[test]
fn disc_non_registrar_binds_exact() {
    passes_with_registrar("disc-non-registrar-binds-exact", |r| {
        non_registrar_binds(r);
        if r.fact("transport") == "uds" {
            assert_eq!(r.fact("file"), "exact@conformance.sock");
        }
    });
}

#[test]
fn disc_cancel_remote_registrar() {
    // Ours differs in one point: the daemon's process ends with its root
    // actor, where Python's process stays up without a runtime.
    // The two programs share a secret: a stranger is refused (see
    // auth_stranger_cancel).
    for (a, t) in cases() {
        let tree = Tree::new().adapter(a).env("TRACTOR_SECRET", TREE_SECRET);
        let (tree, daemon, reg) = registrar_in(tree, t);
        let r = tree.run(
            Path::new(PROGRAM),
            &["disc-cancel-remote-registrar", t, &reg],
        );
        r.assert_ok();
        assert_eq!(r.fact("peer"), "registrar");
        assert_eq!(r.fact("acked"), "true");
        assert_eq!(r.fact("after"), "true");
        let d = daemon.finish(&tree);
        assert_eq!(d.fact("root_error"), "cancelled");
        tree.assert_clean();
    }
}

/// A TCP port nothing listens on, below the range the OS takes the local
/// ports of outgoing connections from (so that no connection of another
/// program on the machine takes it meanwhile).
fn free_port() -> u16 {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000, ephemeral.max(10_001));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let seed = std::process::id() ^ nanos;
    (0..10_000u32)
        .map(|k| low + seed.wrapping_add(k.wrapping_mul(7919)) % (high - low))
        .find_map(|port| {
            let port = u16::try_from(port).ok()?;
            std::net::TcpListener::bind(("127.0.0.1", port)).ok()?;
            Some(port)
        })
        .expect("a free port")
}

/// Waits for every root to exit, checking each run as it ends (so that a
/// root that failed is reported at once, not after one waiting on it hangs).
fn finish_all(tree: &Tree, mut running: Vec<Running>) -> Vec<Run> {
    let deadline = Instant::now() + HANG;
    let mut runs = Vec::new();
    while !running.is_empty() {
        match running.iter_mut().position(Running::exited) {
            Some(i) => {
                let run = running.swap_remove(i).finish(tree);
                run.assert_ok();
                runs.push(run);
            }
            None => {
                assert!(Instant::now() < deadline, "the roots hung");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
    runs
}

#[test]
fn disc_registrar_election_race() {
    // Ours: roots started at the same moment on one registrar address all
    // find nobody there, and all try to listen on it; one does and is the
    // registrar, the others join it. A few rounds, as losing is a matter of
    // timing. On Unix sockets, from the second round on, a dead
    // registrar's socket file is in the way: one root takes it over.
    const ROOTS: usize = 6;
    const ROUNDS: usize = 4;
    for (a, t) in cases() {
        for round in 0..ROUNDS {
            let tree = Tree::new().adapter(a);
            let reg = match t {
                "tcp" => free_port().to_string(),
                _ => "registry@1616.sock".to_owned(),
            };
            if t == "uds" && round > 0 {
                let dir = tree.socket_dir();
                std::fs::create_dir_all(&dir).expect("the socket directory");
                drop(std::os::unix::net::UnixListener::bind(dir.join(&reg)).expect("a socket"));
            }
            let count = ROOTS.to_string();
            let running = (0..ROOTS)
                .map(|i| {
                    let index = i.to_string();
                    let args = ["disc-registrar-election-race", t, &reg, &index, &count];
                    tree.spawn(Path::new(PROGRAM), &args)
                })
                .collect();
            let runs = finish_all(&tree, running);
            let registrars: Vec<&Run> = runs
                .iter()
                .filter(|r| r.fact("registrar") == "true")
                .collect();
            assert_eq!(registrars.len(), 1, "{a}/{t}: {runs:#?}");
            // Every one found it by the same name.
            let name = registrars[0].fact("registrar_name");
            assert!(runs.iter().all(|r| r.fact("registrar_name") == name));
            tree.assert_clean();
        }
    }
}

#[test]
fn disc_registrar_restart() {
    // Ours: a registrar killed and started again at the same address (on
    // Unix sockets, over the dead one's socket file) has the whole tree
    // registered again, the root and its child, within moments.
    for (a, t) in cases() {
        let (tree, daemon, reg) = registrar(a, t);
        let mut tree_root = tree.spawn(Path::new(PROGRAM), &["disc-registrar-restart", t, &reg]);
        tree_root.wait_for_line("ready=true");
        daemon.signal("KILL");
        let killed = daemon.finish(&tree);
        assert_eq!(killed.signal, Some(9), "{killed:?}");
        if t == "uds" {
            assert!(tree.socket_dir().join(&reg).exists(), "a stale socket file");
        }
        let mut again = tree.spawn(Path::new(PROGRAM), &["registrar-daemon", t, &reg]);
        assert_eq!(again.wait_for_fact("registrar"), "true");
        assert_eq!(again.wait_for_fact("registry"), reg);
        again.wait_for_line("ready=true");
        let found = tree.run(Path::new(PROGRAM), &["registry-wait", t, &reg]);
        found.assert_ok();
        assert_eq!(found.fact("registered"), "finder,kid,registrar,root");
        assert_eq!(found.fact("hi"), "hi from kid");
        tree_root.signal("INT");
        let r = tree_root.finish(&tree);
        assert_eq!(r.fact("root_error"), "interrupted", "{r:?}");
        stop(&tree, again);
    }
}

#[test]
fn disc_nursery_forwards_bind() {
    passes("disc-nursery-forwards-bind", |r| {
        assert_eq!(r.fact("root"), "root");
        assert_eq!(r.fact("listeners"), "2");
        assert_eq!(r.fact("forwarded"), "true");
    });
}

#[test]
fn disc_registrar_bind_union() {
    // A registrar asked to bind its own Unix-socket address as well: one
    // listener, on the registry address (the other cases are in
    // disc_nursery_forwards_bind).
    for a in adapters() {
        let r = run("disc-registrar-bind-union", a, "uds");
        r.assert_ok();
        assert_eq!(r.fact("listeners"), "1");
        assert_eq!(r.fact("registry_bound"), "true");
    }
}

// ---------------------------------------------------------------------------
// Transports

#[test]
fn tpt_proto_mismatch() {
    // A registrar address of the other transport fails before any spawn,
    // naming the fields and the protocols.
    passes("tpt-proto-mismatch", |r| {
        let e = r.fact("error");
        for word in ["registry_addrs", "enable_transports", "tcp", "uds"] {
            assert!(e.contains(word), "{word} missing from {e}");
        }
    });
}

#[test]
fn tpt_uds_bindspace_created() {
    for a in adapters() {
        let r = run("tpt-uds-bindspace-created", a, "uds");
        r.assert_ok();
        assert_eq!(r.fact("dir_before"), "false");
        assert_eq!(r.fact("dir_created"), "true");
        assert_eq!(r.fact("registrar"), "true");
        assert_eq!(r.fact("bound"), "true");
        assert_eq!(r.fact("registry"), "true");
        assert_eq!(r.fact("left_in_dir"), "0");
    }
}

#[test]
fn tpt_uds_example() {
    for a in adapters() {
        let r = run("tpt-uds-example", a, "uds");
        r.assert_ok();
        assert_eq!(r.fact("registry"), "registry@1616.sock");
        assert_eq!(r.fact("child_listeners"), "1");
        assert_eq!(r.fact("child_addr_ok"), "true");
        // Ours: socket files are created 0600, not after the umask.
        assert_eq!(r.fact("socket_modes"), "600,600");
    }
}

#[test]
fn tpt_uds_double_listen() {
    // A second listener on the registrar's address fails, on either
    // transport, and leaves the registrar serving.
    for (a, t) in cases() {
        let (tree, daemon, reg) = registrar(a, t);
        let r = tree.run(Path::new(PROGRAM), &["tpt-uds-double-listen", t, &reg]);
        r.assert_ok();
        assert!(r.fact("error").starts_with("cannot listen on"), "{r:?}");
        let probe = tree.run(Path::new(PROGRAM), &["registry-probe", t, &reg]);
        probe.assert_ok();
        assert_eq!(probe.fact("registered"), "probe,registrar");
        stop(&tree, daemon);
    }
}

#[test]
fn tpt_rt_dir_secure() {
    passes("tpt-rt-dir-secure", |r| {
        assert_eq!(r.fact("fresh"), "true");
        assert_eq!(r.fact("file_refused"), "true");
        assert_eq!(r.fact("file_kept"), "true");
        assert_eq!(r.fact("existing_mode"), "700");
        assert_eq!(r.fact("created_mode"), "700");
    });
}

#[test]
fn tpt_handshake_garbage() {
    passes("tpt-handshake-garbage", |r| {
        assert_eq!(r.fact("garbage"), "closed");
        assert_eq!(r.fact("after"), "hi from kid");
    });
}

// ---------------------------------------------------------------------------
// Mixed trees: one protocol, two adapters

#[test]
fn mixed_trees_both_ways() {
    // A tokio root with smol children, and a smol root with tokio children:
    // RPC, a context with a stream, cancellation and an error relayed
    // across the boundary.
    passes("mixed-tree", |r| {
        let root: Adapter = r.fact("root_adapter").parse().expect("an adapter");
        let other = Adapter::ALL.into_iter().find(|a| *a != root);
        assert_eq!(r.fact("child_adapter"), other.expect("another").name());
        assert_eq!(r.fact("streamed"), "2,3");
        assert_eq!(r.fact("cancelled"), "true");
        assert_eq!(r.fact("error"), "remote:RemoteActorError:RuntimeError");
        assert_eq!(r.fact("relay"), "mid");
    });
}

#[test]
fn log_nursery_failure_names_its_source() {
    // Ours: a failing nursery's line at `cancel` names the error's own
    // type and the actors it came from and through, not the box it
    // travelled in (RemoteActorError).
    for a in adapters() {
        let r = run_env("mixed-tree", a, "tcp", &[("TRACTOR_LOGLEVEL", "cancel")]);
        r.assert_ok();
        let failed = |actor: &str| {
            let at = format!(" [{actor}[");
            r.stderr_line(&[&at, "the nursery failed: cancelling its children"])
                .unwrap_or_else(|| panic!("{a}: no failure of {actor}'s nursery:\n{}", r.stderr))
        };
        let root = failed("root");
        assert!(
            root.contains(" error=RuntimeError from leaf-1-0[") && root.contains("] via mid["),
            "{a}: {root}"
        );
        let mid = failed("mid");
        assert!(
            mid.contains(" error=RuntimeError from leaf-1-0["),
            "{a}: {mid}"
        );
        assert!(!mid.contains(" via "), "{a}: {mid}");
    }
}

#[test]
fn log_level_from_the_environment_names_each_actor() {
    for adapter in adapters() {
        // The root sets no level: TRACTOR_LOGLEVEL, inherited, sets every
        // process's, and each logs to the console under its own name.
        let env = [("TRACTOR_LOGLEVEL", "cancel")];
        let r = run_env("cancel-nursery-cancel-daemon", adapter, "tcp", &env);
        r.assert_ok();
        let line = |actor: &str| {
            let at = format!(" [{actor}[");
            r.stderr_line(&[&at, "] cancel tractor::cancel: actor cancel requested"])
                .is_some()
        };
        assert!(line("idle"), "{adapter}: {}", r.stderr);
        // Below `cancel`, nothing of the runtime's shows.
        assert!(
            !r.stderr.contains(" runtime tractor::"),
            "{adapter}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains(" transport tractor::"),
            "{adapter}: {}",
            r.stderr
        );
    }
}

#[test]
fn auth_tree_with_a_secret() {
    // The secret in the environment (TCP cases), or in a file the
    // environment names (Unix-socket cases).
    for (a, t) in cases() {
        let tree = Tree::new().adapter(a);
        let tree = if t == "tcp" {
            tree.env("TRACTOR_SECRET", TREE_SECRET)
        } else {
            let path = tree.temp_dir().join("tree-secret");
            std::fs::write(&path, format!("{TREE_SECRET}\n")).expect("the secret file");
            let path = path.to_string_lossy().into_owned();
            tree.env("TRACTOR_SECRET_FILE", &path)
        };
        let r = tree.run(Path::new(PROGRAM), &["auth-tree", t]);
        r.assert_ok();
        // A stranger speaking Python's handshake got not one byte.
        assert_eq!(r.fact("stranger_bytes"), "0", "{r:?}");
        assert_eq!(r.fact("stranger_learned"), "false");
        for level in ["child", "grandchild"] {
            assert_eq!(r.fact(&format!("{level}_secret")), "true", "{r:?}");
            assert_eq!(r.fact(&format!("{level}_argv")), "false", "{r:?}");
        }
        assert_eq!(r.fact("hi"), "hi from kid");
        assert_eq!(r.fact("found"), "true");
        assert_eq!(r.fact("sibling_cancel"), "true");
        tree.assert_clean();
    }
}

#[test]
fn auth_tree_with_a_generated_secret() {
    // The root makes one; its descendants get it, strangers do not.
    for (a, t) in cases() {
        let r = run("auth-tree-generated", a, t);
        r.assert_ok();
        assert_eq!(r.fact("stranger_bytes"), "0", "{r:?}");
        assert_eq!(r.fact("child_secret"), "true");
        assert_eq!(r.fact("grandchild_secret"), "true");
        assert_eq!(r.fact("child_argv"), "false");
        assert_eq!(r.fact("sibling_cancel"), "true");
    }
}

#[test]
fn auth_tree_open_to_peers_that_do_not_authenticate() {
    // With a secret, and open to Python peers: the stranger speaking
    // Python's handshake is answered (and may call), the tree's own actors
    // still authenticate, so a sibling may cancel a sibling.
    for (a, t) in cases() {
        let env = [
            ("TRACTOR_SECRET", TREE_SECRET),
            ("TRACTOR_ACCEPT_UNAUTHENTICATED", "1"),
        ];
        let r = run_env("auth-tree", a, t, &env);
        r.assert_ok();
        assert_eq!(r.fact("stranger_learned"), "true", "{r:?}");
        assert_eq!(r.fact("child_secret"), "true");
        assert_eq!(r.fact("sibling_cancel"), "true");
    }
}

#[test]
fn auth_tree_without_a_secret() {
    // The same tree without a secret: the stranger learns who the root
    // is (as with Python), and a sibling may not cancel a sibling.
    for (a, t) in cases() {
        let r = run("auth-tree", a, t);
        r.assert_ok();
        assert_ne!(r.fact("stranger_bytes"), "0", "{r:?}");
        assert_eq!(r.fact("stranger_learned"), "true");
        assert_eq!(r.fact("child_secret"), "false");
        assert!(
            r.fact("sibling_cancel").contains("PermissionError"),
            "{r:?}"
        );
    }
}

#[test]
fn auth_wrong_secret_is_refused() {
    for (a, t) in cases() {
        let tree = Tree::new().adapter(a).env("TRACTOR_SECRET", TREE_SECRET);
        let (tree, daemon, reg) = registrar_in(tree, t);
        let r = tree.run(Path::new(PROGRAM), &["auth-wrong-secret", t, &reg]);
        r.assert_ok();
        // The daemon checks the root's proof first, and closes without
        // proving itself.
        assert_eq!(r.fact("error"), "unauthenticated:Refused", "{r:?}");
        // With that registrar as its own, such a root does not start: the
        // probe's refusal is final.
        let r = tree.run(
            Path::new(PROGRAM),
            &["auth-wrong-secret-registrar", t, &reg],
        );
        assert_eq!(r.code, Some(1), "{r:?}");
        let e = r.fact("root_error");
        assert!(e.contains("could not connect to"), "{e}");
        assert!(e.contains("refused it"), "{e}");
        // The daemon was not disturbed: it ends at the SIGINT.
        stop(&tree, daemon);
    }
}

#[test]
fn auth_stranger_cancel_is_refused() {
    passes_with_registrar("auth-stranger-cancel", |r| {
        for key in ["cancel", "register_other", "unregister_other"] {
            assert!(r.fact(key).contains("PermissionError"), "{key}: {r:?}");
        }
        assert_eq!(r.fact("evil_listed"), "false");
        assert_eq!(r.fact("registrar_listed"), "true");
        assert_eq!(r.fact("still_serves"), "true");
    });
}

#[test]
fn auth_insecure_bind() {
    for (a, t) in cases() {
        if t != "tcp" {
            // A Unix socket needs no secret.
            let r = run("auth-insecure-bind", a, t);
            r.assert_ok();
            assert_eq!(r.fact("started"), "true");
            continue;
        }
        let r = run("auth-insecure-bind", a, t);
        assert_eq!(r.code, Some(1), "{r:?}");
        let e = r.fact("root_error");
        assert!(e.contains("refusing to listen on 0.0.0.0:0"), "{e}");
        assert!(e.contains("TRACTOR_INSECURE_BIND"), "{e}");
        for env in [
            ("TRACTOR_INSECURE_BIND", "1"),
            ("TRACTOR_SECRET", TREE_SECRET),
        ] {
            let r = run_env("auth-insecure-bind", a, t, &[env]);
            r.assert_ok();
            assert!(r.fact("bound").contains("0.0.0.0:"), "{r:?}");
        }
    }
}
// ---------------------------------------------------------------------------
// Attacks from outside: every per-peer resource is bounded (ours)

/// A daemon to attack (the `attack-daemon` scenario) with these limits.
fn attack_daemon(adapter: &str, transport: &str, limits: &str) -> peer::Attacked {
    peer::attack_daemon(Path::new(PROGRAM), adapter, transport, limits)
}

#[test]
fn tpt_empty_connects_released() {
    for (a, t) in cases() {
        let d = attack_daemon(a, t, "");
        let (pid, addr) = (d.pid, d.addr.clone());
        let before = peer::settled_fds(pid);
        for _ in 0..1000 {
            drop(Stream::connect(&addr).unwrap());
        }
        peer::wait_until("every empty connection released", || {
            peer::fd_count(pid) <= before
        });
        assert_eq!(d.wait_for_hi(), "hi from root", "{a}/{t}");
        // Nothing of the flood is left behind once it is through.
        peer::wait_until("the flood's last connections released", || {
            peer::fd_count(pid) <= before
        });
        let r = d.stop();
        assert!(!r.stderr.contains("panicked"), "{a}/{t}: {}", r.stderr);
    }
}

#[test]
fn tpt_partial_handshake_released() {
    // Connections that end mid-frame, right after our Aid, or after a
    // call that is still running.
    for (a, t) in cases() {
        let d = attack_daemon(a, t, "");
        let (pid, addr) = (d.pid, d.addr.clone());
        let before = peer::settled_fds(pid);
        for i in 0..300 {
            let mut p = RawPeer::connect(&addr, "leaver").unwrap();
            let aid = p.aid_frame();
            match i % 3 {
                0 => p.stream.write_all(&aid[..aid.len() / 2]).unwrap(),
                1 => {
                    p.handshake().unwrap();
                }
                _ => {
                    p.handshake().unwrap();
                    p.start("conf", "sleep_forever", tractor_protocol::Raw::EMPTY_MAP)
                        .unwrap();
                }
            }
        }
        peer::wait_until("every connection released", || {
            peer::fd_count(pid) <= before
        });
        assert_eq!(d.wait_for_hi(), "hi from root", "{a}/{t}");
        d.stop();
    }
}

#[test]
fn tpt_introspect_and_dump_floods_answered() {
    use tractor_protocol::{Msg, Raw, introspect::Snapshot};
    // Bursts of `self.introspect` (more than are answered in tasks at
    // once) and `self.dump_tasks` in single writes: every call gets one
    // outcome, the dumps share their making, and nothing is left running.
    for (a, t) in cases() {
        let d = attack_daemon(a, t, "");
        let threads = || peer::status_kib(d.pid, "Threads");
        let before = threads();
        let mut p = RawPeer::connect(&d.addr, "looker").unwrap();
        p.handshake().unwrap();
        let (mut snapshots, mut dumps, mut busy) = (0, 0, 0);
        for _ in 0..20 {
            let mut burst = Vec::new();
            let mut asked = std::collections::HashMap::new();
            for i in 0..100 {
                let func = if i % 50 == 7 {
                    "dump_tasks"
                } else {
                    "introspect"
                };
                let (cid, f) = p.start_frame("self", func, Raw::EMPTY_MAP);
                burst.extend_from_slice(&f);
                asked.insert(cid, func);
            }
            p.stream.write_all(&burst).unwrap();
            while !asked.is_empty() {
                let m = p.recv().unwrap().expect("an answer");
                let Some(func) = m.cid().and_then(|c| asked.get(c)).copied() else {
                    continue;
                };
                match (&m, func) {
                    (Msg::StartAck(_), _) => continue,
                    (Msg::Return(r), "introspect") => {
                        let s: Snapshot = r.pld.decode().unwrap();
                        assert_eq!(s.uid.name, "root", "{a}/{t}");
                        snapshots += 1;
                    }
                    (Msg::Return(r), _) => {
                        let text: String = r.pld.decode().unwrap();
                        assert!(text.contains("task tree of ('root'"), "{a}/{t}: {text}");
                        dumps += 1;
                    }
                    (Msg::Error(e), "dump_tasks") if e.tb_str.contains("ask again later") => {
                        busy += 1
                    }
                    (other, _) => panic!("{a}/{t}: {func}: {other:?}"),
                }
                asked.remove(m.cid().unwrap());
            }
        }
        assert_eq!(snapshots, 1960, "{a}/{t}");
        assert_eq!(dumps + busy, 40, "{a}/{t}");
        assert!(dumps > 0, "{a}/{t}");
        drop(p);
        assert_eq!(d.wait_for_hi(), "hi from root", "{a}/{t}");
        // The dump's thread has ended.
        peer::wait_until("the dump's thread gone", || threads() <= before + 1);
        let r = d.stop();
        assert!(!r.stderr.contains("panicked"), "{a}/{t}: {}", r.stderr);
    }
}

#[test]
fn tpt_non_reading_client_bounded() {
    for (a, t) in cases() {
        let d = attack_daemon(a, t, "");
        // Up to 100,000 calls of 16 KiB each, 1.6 GB of replies if all
        // ran (more calls than the kernel's buffers take at once), for
        // two seconds at most.
        let seen =
            peer::non_reading_client(&d, 100_000, 16 * 1024, std::time::Duration::from_secs(2));
        eprintln!("{a}/{t}: {seen:?}");
        assert!(seen.peak_rss_kib < 64 * 1024, "{a}/{t}: {seen:?}");
        assert!(seen.good_calls >= 10, "{a}/{t}: {seen:?}");
        assert_eq!(d.hi(), "hi from root", "{a}/{t}");
        d.stop();
    }
}

#[test]
fn tpt_keepalive_on_every_tcp_connection_of_the_tree() {
    // The root's keepalive (here from its environment) reaches the
    // child: every established connection of both, opened or accepted,
    // probes its peer within it; `0` turns it off; the default is 30 s.
    for adapter in adapters() {
        let r = run_env(
            "tpt-keepalive",
            adapter,
            "tcp",
            &[("TRACTOR_KEEPALIVE_MS", "12000")],
        );
        r.assert_ok();
        if r.facts.contains_key("ss") {
            eprintln!("not run: `ss` (iproute2) is {}", r.fact("ss"));
            return;
        }
        let sockets: usize = r.fact("sockets").parse().unwrap();
        assert!(sockets >= 4, "{adapter}: {r:?}");
        assert_eq!(
            r.fact("with_keepalive"),
            r.fact("sockets"),
            "{adapter}: {r:?}"
        );
        // Half the keepalive idle before the first probe.
        let longest: f64 = r.fact("longest_secs").parse().unwrap();
        assert!((1.0..=6.0).contains(&longest), "{adapter}: {r:?}");
        let r = run_env(
            "tpt-keepalive",
            adapter,
            "tcp",
            &[("TRACTOR_KEEPALIVE_MS", "0")],
        );
        r.assert_ok();
        assert_eq!(r.fact("with_keepalive"), "0", "{adapter}: {r:?}");
        let r = run_env(
            "tpt-keepalive",
            adapter,
            "tcp",
            &[("TRACTOR_KEEPALIVE_MS", "")],
        );
        r.assert_ok();
        assert_eq!(
            r.fact("with_keepalive"),
            r.fact("sockets"),
            "{adapter}: {r:?}"
        );
        let longest: f64 = r.fact("longest_secs").parse().unwrap();
        assert!(longest > 6.0 && longest <= 15.0, "{adapter}: {r:?}");
    }
}

#[test]
fn tpt_limits_inherited() {
    // The root's configured limit reaches its grandchild, through its
    // child: a fifth call at once is refused there, typed.
    for (a, t) in cases() {
        let r = run("tpt-limits-inherited", a, t);
        r.assert_ok();
        assert_eq!(r.fact("root_over_the_limit"), "TooManyDialogs", "{r:?}");
        assert_eq!(r.fact("over_the_limit"), "TooManyDialogs", "{a}/{t}: {r:?}");
        assert_eq!(
            r.fact("after_one_ended"),
            "ok:hi from grandchild",
            "{a}/{t}"
        );
    }
}

#[test]
fn tpt_limits_inherited_from_the_environment() {
    // The same limit from the root's environment; without it, the fifth
    // call runs (the default is 1024).
    for (a, t) in cases() {
        let env = [("TRACTOR_MAX_DIALOGS_PER_PEER", "4")];
        let r = run_env("tpt-limits-inherited-env", a, t, &env);
        r.assert_ok();
        assert_eq!(r.fact("root_over_the_limit"), "TooManyDialogs", "{r:?}");
        assert_eq!(r.fact("over_the_limit"), "TooManyDialogs", "{a}/{t}: {r:?}");
        let r = run("tpt-limits-inherited-env", a, t);
        r.assert_ok();
        assert_eq!(r.fact("root_over_the_limit"), "ok:hi from root", "{a}/{t}");
        assert_eq!(r.fact("over_the_limit"), "ok:hi from grandchild", "{a}/{t}");
    }
}

#[test]
fn tpt_limits_malformed_environment() {
    // A limit that is not a whole number stops the root before it starts,
    // naming the variable; nothing is left behind.
    for a in adapters() {
        for value in ["four", "-4", "4.0"] {
            let env = [("TRACTOR_MAX_DIALOGS_PER_PEER", value)];
            let r = run_env("tpt-limits-inherited-env", a, "uds", &env);
            assert_eq!(r.code, Some(1), "{a} {value}: {r:?}");
            let e = r.fact("root_error");
            assert!(e.contains("TRACTOR_MAX_DIALOGS_PER_PEER"), "{e}");
            assert!(e.contains(value), "{e}");
            assert!(!r.facts.contains_key("over_the_limit"), "{r:?}");
        }
    }
}

#[test]
fn tpt_limits_hit() {
    for (a, t) in cases() {
        let limits = "max_connections=8,max_pending=4,max_dialogs=2,max_frame=4096";
        let d = attack_daemon(a, t, limits);
        let (pid, addr) = (d.pid, d.addr.clone());
        let before = peer::settled_fds(pid);
        // Dropped at once: the connection ends before a byte of the
        // daemon's handshake.
        let refused = |what: &str| {
            let mut s = Stream::connect(&addr).unwrap();
            let mut buf = [0u8; 64];
            match std::io::Read::read(&mut s, &mut buf) {
                Ok(0) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                other => panic!("{a}/{t}: {what}: {other:?}"),
            }
        };
        // Four handshaking connections: a fifth is over the pending limit.
        let mut held: Vec<RawPeer> = (0..4)
            .map(|_| RawPeer::connect(&addr, "holder").unwrap())
            .collect();
        peer::wait_until("four connections accepted", || {
            peer::fd_count(pid) >= before + 4
        });
        refused("pending");
        // Their handshakes done, more up to the limit of 8 inbound ones
        // (the daemon's registration with itself is one): the next is
        // dropped at once.
        // (A call answered: the daemon has read the handshake.)
        let ready = |p: &mut RawPeer| {
            p.handshake()?;
            p.call("conf", "hi", tractor_protocol::Raw::EMPTY_MAP)
        };
        for p in &mut held {
            ready(p).unwrap();
        }
        loop {
            let mut p = RawPeer::connect(&addr, "holder").unwrap();
            if ready(&mut p).is_err() {
                break;
            }
            held.push(p);
            assert!(held.len() <= 8, "{a}/{t}: no limit");
        }
        assert!(held.len() >= 6, "{a}/{t}: {}", held.len());
        refused("connections");
        // Two calls running for one peer: its third is refused, typed.
        let p = &mut held[0];
        for _ in 0..2 {
            p.start("conf", "sleep_forever", tractor_protocol::Raw::EMPTY_MAP)
                .unwrap();
        }
        match p
            .call("conf", "hi", tractor_protocol::Raw::EMPTY_MAP)
            .unwrap()
        {
            tractor_protocol::Msg::Error(e) => {
                assert_eq!(e.boxed_type_str, tractor_protocol::TOO_MANY_DIALOGS)
            }
            other => panic!("{a}/{t}: {other:?}"),
        }
        // Another peer is not affected.
        match held[1].call("conf", "hi", tractor_protocol::Raw::EMPTY_MAP) {
            Ok(tractor_protocol::Msg::Return(_)) => {}
            other => panic!("{a}/{t}: {other:?}"),
        }
        // A frame over the size limit closes its connection.
        let p = &mut held[2];
        p.stream.write_all(&8192u32.to_le_bytes()).unwrap();
        assert!(
            matches!(p.recv(), Ok(None) | Err(_)),
            "{a}/{t}: the connection ends"
        );
        drop(held);
        peer::wait_until("every connection released", || {
            peer::fd_count(pid) <= before
        });
        assert_eq!(d.wait_for_hi(), "hi from root", "{a}/{t}");
        let r = d.stop();
        for line in [
            "too many handshaking connections",
            "too many connections",
            "too many calls at once from one peer",
            "unreadable stream: connection closed",
        ] {
            let n = r.stderr.lines().filter(|l| l.contains(line)).count();
            assert!(n >= 1, "{a}/{t}: no line {line:?}:\n{}", r.stderr);
        }
    }
}

#[test]
fn tpt_stalled_peer_dropped() {
    // A peer that stops reading while its replies pile up is dropped once
    // nothing of them is written for the stall timeout.
    for (a, t) in cases() {
        let limits = "max_queued_bytes=65536,stall_ms=300";
        let d = attack_daemon(a, t, limits);
        let (pid, addr) = (d.pid, d.addr.clone());
        let before = peer::settled_fds(pid);
        let mut bad = RawPeer::connect(&addr, "staller").unwrap();
        bad.handshake().unwrap();
        bad.stream
            .set_write_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        for _ in 0..400 {
            if bad.start("conf", "blob", peer::blob(64 * 1024)).is_err() {
                break;
            }
        }
        peer::wait_until("the stalled connection released", || {
            peer::fd_count(pid) <= before
        });
        // What was written before the drop, then the end.
        bad.stream
            .set_read_timeout(Some(tractor_conformance::HANG))
            .unwrap();
        while let Ok(Some(_)) = bad.recv() {}
        assert_eq!(d.hi(), "hi from root", "{a}/{t}");
        let r = d.stop();
        assert!(
            r.stderr
                .contains("the peer reads nothing of its queued output"),
            "{a}/{t}:\n{}",
            r.stderr
        );
    }
}

// ---------------------------------------------------------------------------
// Actor clusters (ours, Python's open_actor_cluster)

#[test]
fn cluster_gather() {
    for (a, t) in cases() {
        let r = run("cluster-gather", a, t);
        r.assert_ok();
        assert_eq!(
            r.fact("names"),
            "hi from root.worker_0,hi from root.worker_1,hi from root.worker_2",
            "{a}/{t}: {r:?}"
        );
        assert_eq!(r.fact("squares"), "[4, 9, 16]");
        assert_eq!(r.fact("echoed"), "to 0,to 1,to 2");
        // Three processes of their own, none of them the root's, all
        // gone once the cluster ended (`run` checks the whole tree).
        let pids: Vec<u32> = r
            .fact("pids")
            .split(',')
            .map(|p| p.parse().expect("a pid"))
            .collect();
        let distinct: std::collections::BTreeSet<&u32> = pids.iter().collect();
        assert_eq!(distinct.len(), 3, "{r:?}");
        let gone = |pid: &u32| !Path::new(&format!("/proc/{pid}")).exists();
        assert!(pids.iter().all(gone), "{r:?}");
        assert_eq!(r.fact("one_failed"), "ZeroDivisionError");
        assert_eq!(r.fact("one_failed_from"), "root.worker_1");
        assert_eq!(r.fact("all_failed"), "3");
    }
}

// Supervision (ours: OTP's restart strategies over daemon actors)

/// The pids of a `sup-` strategy run, all gone with the tree.
fn sup_pids_gone(r: &Run) {
    let pids: Vec<u32> = r
        .fact("pids")
        .split(',')
        .map(|p| p.parse().expect("a pid"))
        .collect();
    assert_eq!(pids.len(), 3, "{r:?}");
    assert!(
        pids.iter()
            .all(|pid| !Path::new(&format!("/proc/{pid}")).exists()),
        "{r:?}"
    );
}

#[test]
fn sup_strategies_restart_killed_processes() {
    // sup.b is killed with SIGKILL: each strategy renews its own choice
    // of children, the portal held to the dead one names it and how it
    // died, and the registrar gives the new process for the name.
    let strategies = [
        ("sup-one-for-one", "sup.b", "1"),
        ("sup-rest-for-one", "sup.b,sup.c", "2"),
        ("sup-one-for-all", "sup.a,sup.b,sup.c", "3"),
    ];
    for (id, renewed, restarts) in strategies {
        for (a, t) in cases() {
            let r = run(id, a, t);
            r.assert_ok();
            assert_eq!(r.fact("renewed"), renewed, "{id} {a}/{t}: {r:?}");
            assert_eq!(r.fact("restarts"), restarts, "{id} {a}/{t}: {r:?}");
            let old = r.fact("old_portal");
            assert!(
                old.starts_with("actor 'sup.b' (uid sup.b[")
                    && old.ends_with("died: killed by SIGKILL"),
                "{id} {a}/{t}: {old}"
            );
            assert_eq!(r.fact("found_new"), "true", "{id} {a}/{t}: {r:?}");
            sup_pids_gone(&r);
        }
    }
}

#[test]
fn sup_intensity_gives_up_and_climbs() {
    for (a, t) in cases() {
        let r = run("sup-intensity", a, t);
        r.assert_ok();
        // Temporary and transient children ended once, for good.
        assert_eq!(r.fact("sup.once_gone"), "true", "{a}/{t}: {r:?}");
        assert_eq!(r.fact("sup.done_gone"), "true", "{a}/{t}: {r:?}");
        assert_eq!(r.fact("restarts_before"), "0", "{a}/{t}: {r:?}");
        // Two restarts allowed in the window; the third need gives up.
        assert_eq!(r.fact("restarts"), "2", "{a}/{t}: {r:?}");
        assert_eq!(
            r.fact("escalated"),
            "the supervisor gave up: child `sup.flaky` failed: ValueError: flaky; \
             restarting it would exceed 2 restarts in 60s",
            "{a}/{t}: {r:?}"
        );
        assert_eq!(r.fact("kind"), "true");
        assert_eq!(r.fact("after"), r.fact("escalated"));
    }
}

#[test]
fn sup_nested_supervisors_escalate_through_the_tree() {
    for (a, t) in cases() {
        let r = run("sup-nested", a, t);
        r.assert_ok();
        assert_eq!(r.fact("root_gave_up_on"), "true", "{a}/{t}: {r:?}");
        assert_eq!(r.fact("nested_gave_up_on"), "true", "{a}/{t}: {r:?}");
    }
}

#[test]
fn cluster_gather_contexts() {
    for (a, t) in cases() {
        let r = run("cluster-gather-contexts", a, t);
        r.assert_ok();
        assert_eq!(r.fact("started"), "[1, 11, 21]", "{a}/{t}: {r:?}");
        assert_eq!(r.fact("results"), "yo,yo,yo");
        assert_eq!(r.fact("failed"), "AttributeError");
        assert_eq!(r.fact("serving"), "3");
    }
}

#[test]
fn cluster_context_cache() {
    for (a, t) in cases() {
        let r = run("cluster-context-cache", a, t);
        r.assert_ok();
        // One task opened the feed, two shared it; every task read all
        // five items; the last one out closed it, so the next asks anew.
        assert_eq!(r.fact("hits"), "2", "{a}/{t}: {r:?}");
        assert_eq!(r.fact("open_after"), "0");
        assert_eq!(r.fact("reopened_hit"), "false");
        assert_eq!(r.fact("a_held_alone"), "true");
        assert_eq!(r.fact("b_reopened_hit"), "false");
    }
}

#[test]
fn pubsub_topics() {
    for (a, t) in cases() {
        let r = run("pubsub-topics", a, t);
        r.assert_ok();
        // Each reader got every item of its topics, in order; the
        // subscriber that never read lost items, and held nobody back.
        for fact in [
            "even_in_order",
            "odd_in_order",
            "both_in_order",
            "slow_lagged",
        ] {
            assert_eq!(r.fact(fact), "true", "{fact}, {a}/{t}: {r:?}");
        }
    }
}

/// The guest runtime an actor on `adapter` hosts.
fn guest_of(run: &Run) -> &'static str {
    // Each adapter hosts the other's executor.
    match run.fact("actor_in_tokio") {
        "true" => "smol",
        _ => "tokio",
    }
}

#[test]
fn guest_runtime_api_runs_the_other_executors_code() {
    for (a, t) in cases() {
        let r = run("guest-runtime-api", a, t);
        r.assert_ok();
        assert_eq!(
            r.fact("actor_in_tokio"),
            (a == "tokio").to_string(),
            "{r:?}"
        );
        assert_eq!(r.fact("guest"), guest_of(&r), "{r:?}");
        assert_eq!(r.fact("echoed"), "hello", "{r:?}");
        assert_eq!(r.fact("thread"), "tractor-guest", "{r:?}");
        assert_eq!(r.fact("no_guest"), "true", "{r:?}");
    }
}

#[test]
fn guest_cancel_reaches_guest_tasks_before_their_function_goes() {
    passes("guest-cancel", |r| {
        assert_eq!(r.fact("held_before"), "1/1", "{r:?}");
        // Gone by the time the context's cancellation was acknowledged.
        assert_eq!(r.fact("held_after_ctx_cancel"), "1/0", "{r:?}");
        assert_eq!(r.fact("ctx_marker"), "dropped on tractor-guest", "{r:?}");
        // An actor cancelled: its guest task dropped before it exited.
        assert_eq!(r.fact("actor_marker"), "dropped on tractor-guest", "{r:?}");
    });
}

#[test]
fn guest_errors_and_panics_reach_the_parent() {
    passes("guest-errors", |r| {
        for (how, ty) in [
            ("error", "io::Error"),
            ("panic", "Panic"),
            ("channel", "io::Error"),
        ] {
            assert_eq!(r.fact(&format!("{how}_type")), ty, "{r:?}");
            assert_eq!(r.fact(&format!("{how}_src")), "guest-failer", "{r:?}");
            assert_eq!(r.fact(&format!("{how}_message")), "true", "{r:?}");
        }
        assert_eq!(r.fact("after"), "hi from guest-failer", "{r:?}");
    });
}

#[test]
fn guest_stream_10k_items_with_backpressure() {
    passes("guest-stream-10k", |r| {
        assert_eq!(r.fact("received"), "10000", "{r:?}");
        let lead: u64 = r.fact("max_lead").parse().expect("a count");
        // The channel holds 16: the guest never got further ahead.
        assert!(lead <= 16, "{r:?}");
    });
}

#[test]
fn guest_root_sigint_drops_every_guest_task_of_the_tree() {
    for (a, t) in cases() {
        let r = run("guest-root-sigint", a, t);
        assert_eq!(r.code, Some(1), "{r:?}");
        assert_eq!(r.fact("ready"), "true", "{r:?}");
        assert_eq!(r.fact("root_error"), "interrupted", "{r:?}");
        assert_eq!(r.fact("root_marker"), "dropped", "{r:?}");
        assert_eq!(r.fact("child_marker"), "dropped", "{r:?}");
        // Only tokio lets a guest task spawn on its guest by itself: the
        // guest's shutdown drops what it spawned.
        let detached = if a == "smol" { "dropped" } else { "absent" };
        assert_eq!(r.fact("detached_marker"), detached, "{r:?}");
    }
}

#[test]
fn guest_blocked_thread_delays_the_exit_but_never_to_a_kill() {
    for (a, t) in cases() {
        let r = run_env(
            "guest-blocked-thread",
            a,
            t,
            &[("RUST_LOG", "tractor::runtime=info")],
        );
        r.assert_ok();
        assert_eq!(r.fact("cancel_acked"), "true", "{r:?}");
        assert!(
            r.stderr
                .contains("a cancelled guest task was not dropped within"),
            "{r:?}"
        );
        let exit = r
            .stderr
            .lines()
            .find(|l| l.contains("exited child=blocker["))
            .unwrap_or_else(|| panic!("no exit of the blocker: {r:?}"));
        // Not SIGTERMed, not SIGKILLed: it wound down by itself.
        assert!(exit.contains("exit=code 0 reaped=\"normally\""), "{exit}");
    }
}

#[test]
fn top_snapshot_shows_a_childs_calls_counters_and_process() {
    for (a, t) in cases() {
        let r = run("top-snapshot", a, t);
        r.assert_ok();
        let expect = [
            ("version", "1"),
            ("uid", "snap-a"),
            ("pid_is_the_childs", "true"),
            ("parent", "root"),
            ("registrar", "false"),
            ("registrars_are_the_roots", "true"),
            ("adapter", a),
            ("transport", t),
            ("addrs", "1"),
            ("rss_positive", "true"),
            ("threads_positive", "true"),
            ("dialogs_listed", "1/1"),
            ("echo", "context callee streaming root"),
            ("echo_items", "5/5"),
            ("echo_items_after", "8/8"),
            ("age_grew", "true"),
            ("cpu_not_back", "true"),
            ("calls_served_grew", "true"),
            ("items_counted", "true"),
            ("dump_names_the_actor", "true"),
            ("dump_shows_the_echo", "true"),
            ("dump_again_shows_sites", "true"),
            // A context in each state: the callee's side, then the
            // opener's (still waiting for `started`).
            (
                "b_states",
                "conf:block_forever=running,conf:deaf_stream=streaming,conf:never_started=running",
            ),
            (
                "root_states",
                "conf:block_forever=running,conf:deaf_stream=streaming,\
                 conf:never_started=awaiting started",
            ),
            ("root_children", "snap-a:running:true,snap-b:running:true"),
            ("root_echo", "opener streaming"),
            ("root_parent", "true"),
            // Neither its parent nor its child: in a tree without a
            // secret, any peer may look.
            ("sibling", "answered:snap-a"),
        ];
        for (key, value) in expect {
            assert_eq!(r.fact(key), value, "{key}: {r:?}");
        }
    }
}
