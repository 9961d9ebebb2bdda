//! Every example runs to completion as a real process tree and leaves
//! nothing behind.

mod common;

use common::{adapters, example};
use tractor_conformance::{Tree, number_after};

/// Runs an example on `adapter` in a tree of its own, checks that it
/// succeeded and left no process or socket behind, and returns what it
/// printed.
fn run(name: &str, adapter: &str) -> String {
    // Shown with a failing test's output: which adapter's run it was.
    eprintln!("{name} on {adapter}");
    let tree = Tree::new().adapter(adapter);
    let run = tree.run(&example(name), &[]);
    tree.assert_clean();
    let out = run.stdout.join("\n");
    assert_eq!(
        run.code,
        Some(0),
        "{name} failed on {adapter}:\n{out}\n{}",
        run.stderr
    );
    out
}

/// What the example printed on each adapter, one run after the other.
fn on_both(name: &str) -> impl Iterator<Item = String> + '_ {
    adapters().map(move |adapter| run(name, adapter))
}

/// The line of `out` that starts with `prefix`.
fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"))
}

#[test]
fn tour_runs_a_whole_tree_and_cleans_up() {
    for adapter in adapters() {
        let out = run("tour", adapter);
        // The root and its children run on the adapter chosen.
        let on = format!(", on {adapter})");
        assert!(line(&out, "1. root actor tour[").ends_with(&on), "{out}");
        assert!(
            line(&out, "2. spawned a daemon actor: worker[").ends_with(&on),
            "{out}"
        );
        assert!(out.contains("3² = 9"), "{out}");
        assert!(out.contains(r#"sent "tree", got "TREE""#), "{out}");
        assert!(out.contains("it echoed 3 words"), "{out}");
        assert!(out.contains("raised in leaf["), "{out}");
        assert!(out.contains("relayed by middle["), "{out}");
        // The leaf's own message and backtrace survive the relay.
        assert!(out.contains("|_message: the leaf gives up"), "{out}");
        assert!(out.contains("remote traceback (from 'leaf')"), "{out}");
        assert!(out.ends_with("no child process is left"), "{out}");
    }
}

#[test]
fn the_tour_lingers_until_enter_with_its_registrar_up() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut tour = tree
            .command(&example("tour"), &["--linger"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the tour starts");
        let mut lines = BufReader::new(tour.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        let registrar = loop {
            let line = lines.next().expect("the tour lingers").unwrap();
            seen.push(line.clone());
            if let Some(rest) = line.split_once("the registrar is at ") {
                break rest.1.split(';').next().unwrap().to_owned();
            }
        };
        // Paused after the words, with the context open.
        assert!(seen.iter().any(|l| l.contains(r#"got "TREE""#)), "{seen:?}");
        assert!(!seen.iter().any(|l| l.contains("it echoed")), "{seen:?}");
        // While it waits, its registrar answers.
        std::net::TcpStream::connect(&registrar)
            .unwrap_or_else(|e| panic!("{adapter}: the registrar at {registrar}: {e}"));
        tour.stdin.take().unwrap().write_all(b"\n").unwrap();
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        assert!(tour.wait().unwrap().success(), "{adapter}: {rest:?}");
        assert!(
            rest.last()
                .is_some_and(|l| l.ends_with("no child process is left")),
            "{adapter}: {rest:?}"
        );
        tree.assert_clean();
    }
}

#[test]
fn a_one_shot_result_outlives_its_actor() {
    for out in on_both("actor_spawning_and_causality") {
        let root_pid = number_after(line(&out, "root actor director["), "pid ");
        let inside = line(&out, "inside the nursery: ");
        assert!(
            inside.starts_with("inside the nursery: some_linguist (pid "),
            "{out}"
        );
        assert!(inside.ends_with(r#"says "Dang that's beautiful""#), "{out}");
        let child_pid = number_after(inside, "pid ");
        assert_ne!(root_pid, child_pid, "the function ran in the root:\n{out}");
        // Read again once the child has been reaped.
        let lines: Vec<&str> = out.lines().collect();
        let ended = lines
            .iter()
            .position(|l| l.starts_with("the nursery has ended"))
            .expect("the nursery ends");
        assert_eq!(
            lines.get(ended + 1),
            Some(&r#"after the nursery, the result is still "Dang that's beautiful""#),
            "{out}"
        );
    }
}

#[test]
fn a_daemon_answers_twice_then_is_cancelled() {
    for out in on_both("movie_theatre_question") {
        let first = line(&out, "frank: have you ever seen a portal? (question 1,");
        let second = line(&out, "frank: have you ever seen a portal? (question 2,");
        // The same process answered both.
        assert_eq!(
            number_after(first, "in pid "),
            number_after(second, "in pid "),
            "{out}"
        );
        assert!(out.contains("frank cancelled: true"), "{out}");
        assert!(
            out.ends_with("the nursery has exited: frank is gone"),
            "{out}"
        );
    }
}

#[test]
fn a_failing_root_takes_one_worker_per_core_down_with_it() {
    for out in on_both("we_are_processes") {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let root_pid = number_after(line(&out, "root in pid "), "pid ");
        let mut pids: Vec<u64> = out
            .lines()
            .filter(|l| l.starts_with("Yo, worker_"))
            .map(|l| number_after(l, "running in pid "))
            .collect();
        pids.sort_unstable();
        pids.dedup();
        assert_eq!(pids.len(), cores, "one process per core:\n{out}");
        assert!(!pids.contains(&root_pid), "{out}");
        for i in 0..cores {
            assert!(out.contains(&format!("Yo, worker_{i} is running")), "{out}");
        }
        assert!(out.contains("caught: Exception: Self destructed"), "{out}");
        assert!(
            out.ends_with(&format!(
                "Zombies contained: all {cores} worker processes are gone"
            )),
            "{out}"
        );
    }
}

#[test]
fn two_peers_find_each_other_through_the_registrar() {
    for out in on_both("a_trynamic_first_scene") {
        assert_eq!(
            out,
            "Alright... Action!\n\
             gretchen asked donny, who said: Hi my name is donny\n\
             donny asked gretchen, who said: Hi my name is gretchen\n\
             CUT! Donny, you're supposed to say..."
        );
    }
}

#[test]
fn an_aggregator_merges_two_streams_into_one() {
    for out in on_both("full_fledged_streaming_service") {
        assert!(
            out.contains("aggregator: merged 2000 items from 2 streamers, sent 1000 up"),
            "{out}"
        );
        assert!(
            out.contains("received 1000 values from the aggregator: 0..1000, in order, each once"),
            "{out}"
        );
        assert!(out.contains("aggregator cancelled: true"), "{out}");
    }
}

#[test]
fn remote_errors_climb_the_tree_alone_or_in_groups() {
    for out in on_both("remote_error_propagation") {
        // Act 1: the daemon's own error, with its traceback.
        let act1 = &out[..out.find("== 2.").expect("act 2")];
        assert!(
            act1.contains("RemoteActorError: remote task raised a 'AssertionError'"),
            "{out}"
        );
        assert!(act1.contains(" |_src_uid=('actor_1', '"), "{out}");
        assert!(act1.contains(" |_message: actor_1 asserts 0"), "{out}");
        assert!(
            act1.contains(" +------ remote traceback (from 'actor_1') ------"),
            "{out}"
        );
        assert!(
            act1.contains(" |   File \"examples/examples/remote_error_propagation.rs\", line "),
            "{out}"
        );
        assert!(
            act1.contains(
                "the nursery cancelled its 3 daemons and failed with actor_1's AssertionError"
            ),
            "{out}"
        );
        // Act 2: relayed by the middle actor.
        let act2 = &out[out.find("== 2.").unwrap()..out.find("== 3.").expect("act 3")];
        assert!(act2.contains(" |_src_uid=('leaf', '"), "{out}");
        assert!(act2.contains(" |_relay_uid=('middle', '"), "{out}");
        assert!(act2.contains(" |_boxed_type=RemoteActorError"), "{out}");
        assert!(
            act2.contains("it came up the tree: leaf -> middle -> root"),
            "{out}"
        );
        // Act 3: every failure, in one group.
        let act3 = &out[out.find("== 3.").unwrap()..];
        assert!(act3.contains("3 errors in the actor nursery:"), "{out}");
        for i in 0..3 {
            assert!(
                act3.contains(&format!("asserter_{i} failed: true")),
                "{out}"
            );
            assert!(
                act3.contains(&format!("|  |_src_uid=('asserter_{i}', '")),
                "{out}"
            );
        }
        assert!(
            act3.contains("3 errors in one group, from asserter_0, asserter_1, asserter_2"),
            "{out}"
        );
        assert!(
            out.ends_with("Look Ma, those actors failed hard, and the tree is clean"),
            "{out}"
        );
    }
}

#[test]
fn a_context_streams_ping_pong_both_ways() {
    for out in on_both("rpc_bidir_streaming") {
        assert_eq!(
            out,
            "rpc_server started with 11\n\
             sent 10 pings, got 10 pongs\n\
             rpc_server answered 10 pings\n\
             rpc_server cancelled: true"
        );
    }
}

#[test]
fn the_registrar_lists_and_locates_actors() {
    for out in on_both("service_discovery") {
        let registrar = line(&out, "the registrar listens on 127.0.0.1:");
        assert!(registrar.ends_with("this root is it: true"), "{out}");
        let registrar_port = number_after(registrar, "127.0.0.1:");
        assert!(out.contains("the registrar knows 2 actors:"), "{out}");
        let root_entry = line(&out, "  discovery_root at 127.0.0.1:");
        assert_eq!(number_after(root_entry, "127.0.0.1:"), registrar_port);
        let service_port =
            number_after(line(&out, "  some_actor_name at 127.0.0.1:"), "127.0.0.1:");
        assert_ne!(service_port, registrar_port, "{out}");
        let queried = line(&out, r#"query_actor("some_actor_name"): listening on "#);
        assert_eq!(number_after(queried, "127.0.0.1:"), service_port, "{out}");
        assert!(
            out.contains(r#"wait_for_actor("some_actor_name"): a portal to some_actor_name["#),
            "{out}"
        );
        // Found by name, called through the typed client.
        assert!(
            out.contains("  which says it is some_actor_name in pid "),
            "{out}"
        );
        assert!(
            out.contains(r#"find_actor("some_actor_name"): a portal to some_actor_name["#),
            "{out}"
        );
        assert!(
            out.contains(r#"find_actor("no_such_actor") found something: false"#),
            "{out}"
        );
        assert!(
            out.ends_with("after cancelling it, some_actor_name is registered: false"),
            "{out}"
        );
    }
}

#[test]
fn typed_payloads_round_trip_and_misfits_fail_clearly() {
    for out in on_both("typed_payloads") {
        assert!(out.contains("started: Point { x: 0, y: 0 }"), "{out}");
        assert!(
            out.contains("sent Dot(Point { x: 1, y: 2 }), got Dot(Point { x: 3, y: 6 })"),
            "{out}"
        );
        assert!(
            out.contains("got Segment { from: Point { x: 0, y: 3 }, to: Point { x: -6, y: 15 } }"),
            "{out}"
        );
        assert!(out.contains("sent Nothing, got Nothing"), "{out}");
        assert!(
            out.contains(r#"result: Summary { label: "triple", shapes: 3 }"#),
            "{out}"
        );
        let started = line(&out, "started as a Point: ");
        assert!(started.contains("local TypeError"), "{out}");
        assert!(started.contains("Point"), "{out}");
        assert!(started.contains("this is no Point"), "{out}");
        let result = line(&out, "result as a Point: ");
        assert!(result.contains("local TypeError"), "{out}");
        assert!(result.contains(r#"string "geometry""#), "{out}");
        let args = line(&out, "arguments of area: ");
        assert!(args.contains("remote TypeError from scaler"), "{out}");
        assert!(args.contains("geometry:area() got bad arguments"), "{out}");
        assert!(args.contains("missing field `height`"), "{out}");
        assert!(out.ends_with("area of a 6x7 rectangle: 42"), "{out}");
    }
}

#[test]
fn every_subscriber_gets_every_tick() {
    for out in on_both("streaming_broadcast_fanout") {
        assert_eq!(
            out,
            "the ticker will send 5 ticks\n\
             sub_0: stream ended, got [0, 1, 2, 3, 4]\n\
             sub_1: stream ended, got [0, 1, 2, 3, 4]\n\
             sub_2: stream ended, got [0, 1, 2, 3, 4]\n\
             quitter: left after [0, 1]\n\
             the ticker returned: it sent 5 ticks"
        );
    }
}

#[test]
fn stackscope_dumps_a_hung_tree_parent_first() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let run = tree.run(&example("stackscope"), &[]);
        tree.assert_clean();
        assert_eq!(run.code, Some(0), "{adapter}: {run:?}");
        let out = run.stdout.join("\n");
        assert_eq!(out.matches("dumped: ").count(), 3, "{adapter}: {out}");
        // Each actor's tree on stderr, parent before child, with the
        // line each of them waits at.
        let at = |needle: &str| {
            run.stderr
                .find(needle)
                .unwrap_or_else(|| panic!("{adapter}: no {needle:?} in:\n{}", run.stderr))
        };
        let order = [
            at("end-of-('root', '"),
            at("Context::wait_for_result at examples/examples/stackscope.rs:"),
            at("end-of-('stuck', '"),
            at("dozing off at examples/examples/stackscope.rs:"),
            at("end-of-('sleepy', '"),
        ];
        assert!(order.is_sorted(), "{adapter}: {}", run.stderr);
    }
}

#[test]
fn a_cluster_splits_the_work_and_ends_with_its_workers() {
    for out in on_both("actor_cluster") {
        let workers = number_after(&out, "") as usize;
        assert!(workers >= 1, "{out}");
        assert!(
            out.contains(&format!("{workers} workers started at once")),
            "{out}"
        );
        assert_eq!(out.matches(" (pid ").count(), workers, "{out}");
        for i in 0..workers {
            assert!(
                out.contains(&format!("  cluster_root.worker_{i} (pid ")),
                "{out}"
            );
        }
        assert!(
            out.contains("17984 primes below 200000 (the root alone counts 17984)"),
            "{out}"
        );
        assert!(
            out.ends_with("the cluster has ended: its workers are gone"),
            "{out}"
        );
    }
}

#[test]
fn a_supervised_counter_comes_back_until_it_dies_too_often() {
    for out in on_both("supervisor") {
        assert!(out.starts_with("counter counts [1, 2, 3]"), "{out}");
        let died = line(&out, "the portal to the dead counter: ");
        assert!(
            died.starts_with("the portal to the dead counter: actor 'counter' (uid counter[")
                && died.ends_with("died: exit code 3"),
            "{out}"
        );
        // A new process: its count starts over.
        assert!(
            out.contains("restarted (1 restart so far), found by name: it counts 1 again"),
            "{out}"
        );
        assert!(
            out.contains(
                "the supervisor gave up: child `counter` failed: its process ended: exit code 3; \
                 restarting it would exceed 3 restarts in 10s"
            ),
            "{out}"
        );
        assert!(out.ends_with("no counter is left running"), "{out}");
    }
}

#[test]
fn a_tree_across_network_namespaces() {
    for out in on_both("across_hosts") {
        if out.contains("no network namespace here") {
            println!("not run: {out}");
            return;
        }
        let root_ns = line(&out, "root (pid ")
            .rsplit(", ")
            .next()
            .unwrap()
            .to_owned();
        // Each worker in a namespace of its own, not the root's.
        let mut seen = Vec::new();
        for i in 0..2 {
            let w = line(&out, &format!("worker-{i} on "));
            let ns = w.split(", ").nth(1).unwrap().to_owned();
            assert!(ns.starts_with("net:[") && ns != root_ns, "{out}");
            assert!(w.contains("listening on 10.198."), "{out}");
            seen.push(ns);
            assert!(
                out.contains(&format!("worker-{i} squared 5: [1, 4, 9, 16, 25]")),
                "{out}"
            );
        }
        assert_ne!(seen[0], seen[1], "{out}");
        assert!(
            out.contains("an error from worker-0: raised on the far side"),
            "{out}"
        );
        assert!(out.ends_with("every worker is gone"), "{out}");
    }
}

#[test]
fn one_feed_is_shared_by_every_task_that_asks() {
    for out in on_both("shared_feed") {
        assert!(
            out.starts_with("gathered 2 contexts, started with [5, 5]"),
            "{out}"
        );
        // Whichever task asked first opened it; the others shared it.
        assert_eq!(
            out.matches(": opened the feed, got [0, 1, 2, 3, 4]")
                .count(),
            1,
            "{out}"
        );
        assert_eq!(
            out.matches(": shared the feed, got [0, 1, 2, 3, 4]")
                .count(),
            3,
            "{out}"
        );
        assert!(out.ends_with("feeds still open: 0"), "{out}");
    }
}

#[test]
fn subscribers_get_the_topics_they_asked_for() {
    for out in on_both("pubsub") {
        assert_eq!(
            out,
            "BTC got: BTC 42000, BTC 42001, BTC 42002\n\
             ETH got: ETH 2500, ETH 2500.1, ETH 2500.2\n\
             BTC+ETH got: BTC 42000, ETH 2500, BTC 42001, ETH 2500.1, BTC 42002, ETH 2500.2"
        );
    }
}

#[test]
fn a_guest_task_echoes_through_its_actor() {
    for (adapter, out) in adapters().zip(on_both("guest_runtime")) {
        // Each adapter hosts the other's executor.
        let guest = if adapter == "smol" { "tokio" } else { "smol" };
        assert_eq!(
            line(&out, "the guest task said: "),
            format!("the guest task said: start (the guest is {guest})"),
            "{out}"
        );
        for n in 0..5 {
            assert!(
                out.contains(&format!("sent {n}, the guest echoed {n}\n")),
                "{out}"
            );
        }
        assert!(
            out.ends_with("the guest task echoed 5 numbers and returned"),
            "{out}"
        );
    }
}
