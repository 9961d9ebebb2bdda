//! Task-tree dumps of a hung tree: `SIGUSR1` to the root makes every
//! actor dump its tree, parent before child, to stderr and to its log
//! file; ctrl-c afterwards still tears the tree down.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tractor_adapters::Adapter;
use tractor_conformance::{HANG, Tree};

const PROGRAM: &str = env!("CARGO_BIN_EXE_tractor-conformance");

/// The adapters, by name, in the order of `Adapter::ALL`.
fn adapters() -> impl Iterator<Item = &'static str> {
    Adapter::ALL.into_iter().map(Adapter::name)
}

/// The folder of the program's source files, as dumps name them.
const SOURCE: &str = "conformance/src/bin/tractor-conformance/";

/// The pid of the tree's process whose command line names actor `name`.
fn pid_of(tree: &Tree, name: &str) -> u32 {
    let needle = format!("('{name}', ");
    let found = tree.survivors();
    found
        .iter()
        .find(|(_, cmd)| cmd.contains(&needle))
        .unwrap_or_else(|| panic!("no process of {name}: {found:#?}"))
        .0
}

/// The dump log of `pid`, once it holds a whole dump (panics after
/// [`HANG`]).
fn dump_log(dir: &Path, pid: u32) -> String {
    let path: PathBuf = dir.join(format!("tractor-stackscope-{pid}.log"));
    let deadline = Instant::now() + HANG;
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains("end-of-('") {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no dump in {}: {text:?}",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Runs scenario `id` (dumps turned on by `tree`'s config or environment),
/// signals the root once, and checks every actor's dump.
fn dump_hung_tree(tree: Tree, id: &str, adapter: &str) {
    let mut running = tree.spawn(Path::new(PROGRAM), &[id, "tcp"]);
    running.wait_for_line("hanging=sync-hanger");
    let root = running.pid();
    let hanger = pid_of(&tree, "hanger");
    let sync_hanger = pid_of(&tree, "sync-hanger");
    running.signal("USR1");
    let logs: Vec<String> = [root, hanger, sync_hanger]
        .iter()
        .map(|pid| dump_log(&tree.temp_dir(), *pid))
        .collect();
    // ctrl-c still tears the hung tree down.
    running.signal("INT");
    let run = running.finish(&tree);
    tree.assert_clean();

    let [root_log, hanger_log, sync_log] = &logs[..] else {
        unreachable!()
    };
    // The root: its body waiting on the hanger, the hanger running.
    assert!(
        root_log.contains("end-of-('root', '"),
        "{adapter}: {root_log}"
    );
    assert!(
        root_log.contains("main: the root's body"),
        "{adapter}: {root_log}"
    );
    // tractor's own futures note where user code awaits them.
    for api in ["ActorHandle::open_nursery", "Portal::run"] {
        assert!(
            root_log.contains(&format!("{api} at {SOURCE}")),
            "{adapter}: {root_log}"
        );
    }
    // Its open nursery, holding the hanger.
    let nursery = root_log
        .split("nurseries (1):\n  nursery")
        .nth(1)
        .unwrap_or_else(|| panic!("{adapter}: no nursery in {root_log}"));
    assert!(
        nursery.contains("[open]\n    hanger["),
        "{adapter}: {root_log}"
    );
    assert!(
        root_log.contains(&format!("pid {hanger}: running")),
        "{adapter}: {root_log}"
    );
    // The hanger: the call it serves, waiting on its own child.
    assert!(
        hanger_log.contains("end-of-('hanger', '"),
        "{adapter}: {hanger_log}"
    );
    assert!(
        hanger_log.contains("call conf:hang_with_grandchild asyncfunc <- root["),
        "{adapter}: {hanger_log}"
    );
    // A future of the user's own, traced, among tractor's.
    for site in [
        "ActorHandle::open_nursery",
        "  waiting on the sync hanger",
        "    Portal::run",
    ] {
        assert!(
            hanger_log.contains(&format!("{site} at {SOURCE}")),
            "{adapter}: {hanger_log}"
        );
    }
    assert!(
        hanger_log.contains(&format!("pid {sync_hanger}: running")),
        "{adapter}: {hanger_log}"
    );
    // The sync hanger: stuck inside a poll, at the traced site, on a
    // thread asleep in the kernel.
    assert!(
        sync_log.contains("end-of-('sync-hanger', '"),
        "{adapter}: {sync_log}"
    );
    assert!(
        sync_log.contains("call conf:hang_sync asyncfunc <- hanger["),
        "{adapter}: {sync_log}"
    );
    assert!(
        sync_log.contains("running a poll for "),
        "{adapter}: {sync_log}"
    );
    assert!(
        sync_log.contains(&format!("inside sleeping in sync code at {SOURCE}")),
        "{adapter}: {sync_log}"
    );
    assert!(
        sync_log.contains("runtime: reader of "),
        "{adapter}: {sync_log}"
    );

    // The same dumps reached stderr, parent before child.
    let at = |needle: &str| {
        run.stderr
            .find(needle)
            .unwrap_or_else(|| panic!("{adapter}: no {needle:?} in stderr:\n{}", run.stderr))
    };
    let (r, h, s) = (
        at("end-of-('root', '"),
        at("end-of-('hanger', '"),
        at("end-of-('sync-hanger', '"),
    );
    assert!(r < h && h < s, "{adapter}: out of order:\n{}", run.stderr);
    assert_ne!(run.code, Some(0), "{adapter}: an interrupted tree fails");
}

#[test]
fn dump_sigusr1_hierarchical_then_sigint_teardown() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        dump_hung_tree(tree, "dump-sigusr1-hierarchical", adapter);
    }
}

#[test]
fn dump_env_propagation() {
    for adapter in adapters() {
        let tree = Tree::new()
            .adapter(adapter)
            .env("TRACTOR_ENABLE_STACKSCOPE", "1");
        dump_hung_tree(tree, "dump-env-propagation", adapter);
    }
}

#[test]
fn dump_lists_guest_tasks_under_their_linked_task() {
    for adapter in adapters() {
        let tree = Tree::new().adapter(adapter);
        let mut running = tree.spawn(Path::new(PROGRAM), &["dump-guest-tasks", "tcp"]);
        running.wait_for_line("hanging=guest");
        let guester = pid_of(&tree, "guester");
        running.signal("USR1");
        let log = dump_log(&tree.temp_dir(), guester);
        running.signal("INT");
        running.finish(&tree);
        tree.assert_clean();
        let guest = if adapter == "tokio" { "smol" } else { "tokio" };
        let lines: Vec<&str> = log.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.contains(&format!("guest task on {guest}, linked to [")))
            .unwrap_or_else(|| panic!("{adapter}: no guest task in {log}"));
        // Right under the call it is linked to (and that call's lines).
        let linked = lines[at]
            .split("linked to [")
            .nth(1)
            .and_then(|r| r.split(']').next())
            .expect("an id");
        let call = lines[..at]
            .iter()
            .rposition(|l| l.trim_start().starts_with('[') && !l.starts_with("    "))
            .expect("a task before");
        assert!(
            lines[call].contains(&format!("[{linked}] call "))
                && lines[call].contains("guest_hang"),
            "{adapter}: {log}"
        );
        assert!(lines[at].contains("started at"), "{adapter}: {log}");
    }
}
