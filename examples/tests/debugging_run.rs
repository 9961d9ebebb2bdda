//! The debugger's examples (`examples/debugging/`), run unattended: with
//! stdin closed every REPL continues at once, so each program runs to its
//! end, showing its REPLs in order; on both adapters, leaving nothing
//! behind. The pty tests of the conformance suite drive the same features
//! by hand.

mod common;

use common::{adapters, example};
use tractor_conformance::Tree;

/// Runs `name` on every adapter; checks its exit code and that it left
/// nothing behind; gives what it printed (stdout, then stderr) and each
/// REPL's banner, in order.
fn run(name: &str, code: i32) -> Vec<(String, Vec<String>)> {
    adapters()
        .map(|adapter| {
            let tree = Tree::new().adapter(adapter);
            let run = tree.run(&example(name), &[]);
            tree.assert_clean();
            let out = format!("{}\n{}", run.stdout.join("\n"), run.stderr);
            assert_eq!(run.code, Some(code), "{name} on {adapter}:\n{out}");
            let banners = run
                .stdout
                .iter()
                .enumerate()
                .filter(|(_, l)| l.contains("Opening a REPL in"))
                .map(|(i, l)| format!("{l} {}", run.stdout.get(i + 2).map_or("", |s| s.trim())))
                .collect();
            (out, banners)
        })
        .collect()
}

/// Whether `banner` opens a REPL for `reason` in actor `actor`.
fn is(banner: &str, reason: &str, actor: &str) -> bool {
    banner.contains(&format!("Opening a REPL in {reason} actor"))
        && banner.contains(&format!("|_{actor}"))
}

#[test]
fn pause_stops_the_root_a_child_and_a_grandchild_in_turn() {
    for (out, banners) in run("debug_pause", 0) {
        assert_eq!(banners.len(), 3, "{out}");
        assert!(is(&banners[0], "paused", "root["), "{banners:?}");
        assert!(is(&banners[1], "paused", "child["), "{banners:?}");
        assert!(is(&banners[2], "paused", "grandchild["), "{banners:?}");
        assert!(out.contains("grandchild resumed"), "{out}");
    }
}

#[test]
fn a_crash_stops_in_the_child_then_the_root_unless_filtered() {
    for (out, banners) in run("debug_crash", 1) {
        assert!(
            out.contains("handled without a REPL: RemoteActorError"),
            "{out}"
        );
        assert_eq!(banners.len(), 2, "{out}");
        assert!(is(&banners[0], "crashed", "name_error["), "{banners:?}");
        assert!(is(&banners[1], "crashed", "root["), "{banners:?}");
        assert!(!out.contains("|_key_error"), "{out}");
    }
}

#[test]
fn two_daemons_take_the_terminal_in_turn() {
    for (out, banners) in run("debug_multi_daemon", 0) {
        assert_eq!(banners.len(), 4, "{out}");
        let paused = banners
            .iter()
            .filter(|b| is(b, "paused", "bp_forever["))
            .count();
        let crashed = banners
            .iter()
            .filter(|b| is(b, "crashed", "name_error["))
            .count();
        assert_eq!((paused, crashed), (2, 2), "{banners:?}");
        assert!(out.contains("streamed [0, 1], 2 calls failed"), "{out}");
    }
}

#[test]
fn a_cancelled_cleanup_pauses_only_shielded() {
    for (out, banners) in run("debug_shielded_pause", 0) {
        assert!(
            out.contains("pause() refused: cannot pause: its call was cancelled"),
            "{out}"
        );
        assert_eq!(banners.len(), 1, "{out}");
        assert!(is(&banners[0], "paused", "cleaner["), "{banners:?}");
        assert!(out.contains("the context ended: cancelled"), "{out}");
    }
}

#[test]
fn threads_pause_in_the_root_and_a_child() {
    for (out, banners) in run("debug_sync_pause", 0) {
        assert!(
            out.contains("in async code: pause_blocking() called from async code"),
            "{out}"
        );
        assert_eq!(banners.len(), 2, "{out}");
        assert!(is(&banners[0], "paused", "root["), "{banners:?}");
        assert!(is(&banners[1], "paused", "cruncher["), "{banners:?}");
        assert!(out.contains("root thread: 41"), "{out}");
        assert!(out.contains("child thread: 101"), "{out}");
    }
}

#[test]
fn post_mortem_and_debug_mode_for_one_child() {
    for (out, banners) in run("debug_post_mortem", 0) {
        // The manual post-mortem, then the crash REPL, both in `debugged`;
        // none in `plain`.
        assert_eq!(banners.len(), 2, "{out}");
        assert!(
            banners.iter().all(|b| is(b, "crashed", "debugged[")),
            "{banners:?}"
        );
        assert!(out.contains("plain failed: RemoteActorError"), "{out}");
        assert!(
            out.contains("no post-mortem here: the debugger needs debug mode"),
            "{out}"
        );
    }
}

#[test]
fn crash_handler_stops_plain_code_then_returns_its_error() {
    for (out, banners) in run("debug_crash_handler", 1) {
        assert_eq!(banners.len(), 1, "{out}");
        assert!(
            is(&banners[0], "crashed", "debug_crash_handler (pid "),
            "{banners:?}"
        );
        assert!(
            out.contains("Error: \"bad count \\\"12x\\\": invalid digit"),
            "{out}"
        );
    }
}
