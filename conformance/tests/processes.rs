//! Scenarios with real process trees, by catalogue id, on TCP and Unix
//! sockets. Every run ends with the check that the tree left no process
//! and no socket file behind.

use std::path::Path;

use tractor_conformance::{Run, Tree};

const PROGRAM: &str = env!("CARGO_BIN_EXE_tractor-conformance");
const TRANSPORTS: [&str; 2] = ["tcp", "uds"];

/// Runs scenario `id` over `transport` and checks the tree is gone.
fn run(id: &str, transport: &str) -> Run {
    let tree = Tree::new();
    let run = tree.run(Path::new(PROGRAM), &[id, transport]);
    tree.assert_clean();
    run
}

/// Runs a passing scenario on both transports; `check` sees each run.
fn passes(id: &str, check: impl Fn(&Run)) {
    for t in TRANSPORTS {
        let r = run(id, t);
        r.assert_ok();
        check(&r);
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
    passes("rpc-bad-kwargs", |r| {
        assert_eq!(r.fact("error"), "remote:TypeError:TypeError")
    });
}

#[test]
fn rpc_concurrent_calls_one_portal() {
    passes("rpc-concurrent-calls-one-portal", |r| {
        assert_eq!(r.fact("calls"), "50")
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
fn cancel_some_cancels_all_ria() {
    passes("cancel-some-cancels-all-ria", |r| {
        let one = "remote:AssertionError:AssertionError";
        assert_eq!(r.fact("n1"), one);
        assert_eq!(r.fact("n3"), format!("group[{one},{one},{one}]"));
    });
}

#[test]
fn cancel_sigint_root() {
    for t in TRANSPORTS {
        let r = run("cancel-sigint-root", t);
        assert_eq!(r.code, Some(1), "{r:?}");
        assert_eq!(r.fact("ready"), "true");
        assert_eq!(r.fact("root_error"), "interrupted");
    }
}

#[test]
fn cancel_sigint_from_outside() {
    for t in TRANSPORTS {
        let tree = Tree::new();
        let mut root = tree.spawn(Path::new(PROGRAM), &["cancel-sigint-external", t]);
        root.wait_for_line("ready=true");
        root.signal("INT");
        let r = root.finish(&tree);
        tree.assert_clean();
        assert_eq!(r.fact("root_error"), "interrupted");
    }
}

#[test]
fn fault_parent_dies_no_orphans() {
    // The root is SIGKILLed with a daemon and a one-shot running: they
    // notice and go (and the kernel's parent-death signal backs that up).
    for t in TRANSPORTS {
        let tree = Tree::new();
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
fn fault_child_sigkilled() {
    passes("fault-child-sigkilled", |r| {
        assert!(
            r.fact("error").contains("transport closed"),
            "{}",
            r.fact("error")
        )
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
fn err_boxed_assertion() {
    passes("err-boxed-assertion", |r| {
        assert_eq!(r.fact("error"), "remote:AssertionError:AssertionError")
    });
}

#[test]
fn err_multierror() {
    passes("err-multierror", |r| {
        let one = "remote:AssertionError:AssertionError";
        assert_eq!(r.fact("error"), format!("group[{one},{one}]"));
    });
}

#[test]
fn err_panic_relayed_with_backtrace() {
    passes("err-panic-relayed", |r| {
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
    passes("err-nested-multierrors", |r| {
        assert_eq!(r.fact("error"), "remote:RemoteActorError:ExceptionGroup");
        assert_eq!(r.fact("relay"), "mid");
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
    passes("disc-reg-then-unreg", |r| {
        assert_eq!(r.fact("missing"), "true");
        assert_eq!(r.fact("found"), "actor");
        assert_eq!(r.fact("registered"), "true");
        assert_eq!(r.fact("unregistered"), "true");
    });
}

#[test]
fn tpt_root_passes_tpt_to_sub() {
    for t in TRANSPORTS {
        let r = run("tpt-root-passes-tpt-to-sub", t);
        r.assert_ok();
        assert_eq!(r.fact("child_transport"), t);
    }
}
