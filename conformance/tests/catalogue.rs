//! Keeps `scenarios.txt` honest: every tier-1 and tier-2 scenario of
//! spec/SCENARIOS.md with a prefix this suite is about is listed exactly once,
//! either with the test of `processes.rs` that runs it or with the reason
//! it is not run here, and every test it names exists; and keeps them
//! honest against the program: the ids they say the program runs are in
//! its table of scenarios (`tractor-conformance --list`), and an id the
//! table does not have fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tractor_conformance::Tree;

const PROGRAM: &str = env!("CARGO_BIN_EXE_tractor-conformance");

/// The catalogue prefixes of behaviour between real actors.
const PREFIXES: [&str; 14] = [
    "spawn-", "rpc-", "ctx-", "stream-", "bcast-", "cancel-", "err-", "fault-", "disc-", "maddr-",
    "tpt-", "svc-", "moc-", "sup-",
];

/// The kinds of reason a scenario is not run here (`tag: why`).
const REASONS: [&str; 6] = ["sim", "unit", "python-only", "api", "design", "gap"];

/// The ids of scenarios.txt and debugger.txt whose test runs the
/// program under other ids (or runs another program): the test's notes
/// there say how.
const RUN_UNDER_OTHER_IDS: [&str; 23] = [
    "svc-cluster-stream-all",
    "moc-enter-once",
    "moc-per-key-lifecycle",
    "moc-fanout-stream",
    "disc-get-registry-example",
    "tpt-param-error-relay",
    "tpt-empty-connects-released",
    "tpt-partial-handshake-released",
    "tpt-non-reading-client-bounded",
    "tpt-stalled-peer-dropped",
    "tpt-limits-hit",
    "tpt-uds-socket-mode",
    "cancel-ctxc-self-requested-absorbed",
    "cancel-ctxc-actor-cancel-raised",
    "err-not-swallowed-by-peer-ctxc",
    "err-rae-repr-fields",
    "dbg-child-pause-loop",
    "dbg-nested-errors-up-through-nurseries",
    "dbg-ctx-pause-then-quit",
    "dbg-sigint-rules",
    "dbg-crash-handler-cm",
    "dbg-multi-subactors-serialized",
    "dbg-root-cancel-vs-child-in-lock",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The repository's spec/SCENARIOS.md: the catalogue is ours, whatever
/// recordings `$TRACTOR_VECTORS_DIR` points the protocol tests at.
fn catalogue() -> String {
    let path = repo().join("spec/SCENARIOS.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ids of tiers 1 and 2 with one of [`PREFIXES`], in catalogue order.
fn tier_ids(text: &str) -> Vec<String> {
    let start = text.find("### Tier 1").expect("a tier 1 section");
    let end = text.find("### Tier 3").expect("a tier 3 section");
    let mut ids = Vec::new();
    for word in text[start..end].split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        let word = word.trim_end_matches('-');
        if PREFIXES
            .iter()
            .any(|p| word.starts_with(p) && word.len() > p.len())
            && !ids.iter().any(|i| i == word)
        {
            ids.push(word.to_owned());
        }
    }
    ids
}

/// The debugger's ids (tier 3, its "Debugger" item), in catalogue order.
fn debugger_ids(text: &str) -> Vec<String> {
    let start = text.find("* **Debugger:**").expect("a debugger item");
    let end = start
        + text[start..]
            .find("* **Dumps:**")
            .expect("the item after it");
    let mut ids: Vec<String> = Vec::new();
    for word in text[start..end].split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        if word.starts_with("dbg-") && !ids.iter().any(|i| i == word) {
            ids.push(word.to_owned());
        }
    }
    ids
}

/// The lines of `scenarios.txt`: `(line number, id, target)`.
fn listed() -> Vec<(usize, String, String)> {
    listed_in("scenarios.txt")
}

/// The lines of the list `file` (under tests/): `(line number, id, target)`.
fn listed_in(file: &str) -> Vec<(usize, String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(n, l)| {
            let (id, target) = l
                .split_once(char::is_whitespace)
                .unwrap_or_else(|| panic!("{file}:{}: an id and a target", n + 1));
            (n + 1, id.to_owned(), target.trim().to_owned())
        })
        .collect()
}

/// Whether `source` defines a `#[test]` function `name`.
fn has_test(source: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    lines.iter().enumerate().any(|(i, l)| {
        l.trim_start().starts_with(&format!("fn {name}("))
            && i > 0
            && lines[i - 1].trim() == "#[test]"
    })
}

#[test]
fn every_scenario_is_listed_exactly_once() {
    let ids = tier_ids(&catalogue());
    assert!(ids.len() > 100, "found only {} ids", ids.len());
    let mut count: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (line, id, _) in listed() {
        count.entry(id).or_default().push(line);
    }
    let missing: Vec<_> = ids.iter().filter(|id| !count.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "scenarios missing from scenarios.txt: {missing:?}"
    );
    let twice: Vec<_> = count.iter().filter(|(_, lines)| lines.len() > 1).collect();
    assert!(twice.is_empty(), "listed more than once: {twice:?}");
    let unknown: Vec<_> = count.keys().filter(|id| !ids.contains(id)).collect();
    assert!(
        unknown.is_empty(),
        "ids in scenarios.txt that tiers 1 and 2 of spec/SCENARIOS.md do not list: {unknown:?}"
    );
}

/// Asserts that the file at `path` defines `fn test(`: what a reason of
/// scenarios.txt (at `at`) cites.
fn assert_defines(at: &str, path: &Path, test: &str) {
    let source =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{at}: {}: {e}", path.display()));
    assert!(
        source.contains(&format!("fn {test}(")),
        "{at}: no fn {test} in {}",
        path.display()
    );
}

#[test]
fn every_target_is_a_real_test_or_a_reason() {
    let processes = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/processes.rs"),
    )
    .expect("tests/processes.rs");
    for (line, id, target) in listed() {
        let at = format!("scenarios.txt:{line} ({id})");
        if let Some(rest) = target.strip_prefix("processes::") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            assert!(
                has_test(&processes, name),
                "{at}: no #[test] fn {name} in tests/processes.rs"
            );
            continue;
        }
        let (tag, why) = target
            .split_once(':')
            .unwrap_or_else(|| panic!("{at}: `processes::test` or `tag: reason`, got {target:?}"));
        assert!(
            REASONS.contains(&tag),
            "{at}: unknown reason tag {tag:?} (one of {REASONS:?})"
        );
        let why = why.trim();
        if tag == "unit" {
            // A unit test of the driver's, as `path::test` from the
            // repository's root, then why no process is needed.
            let cited = why.split_whitespace().next().unwrap_or_default();
            let (file, test) = cited
                .rsplit_once("::")
                .unwrap_or_else(|| panic!("{at}: unit: cite `path::test` first"));
            assert_defines(&at, &repo().join(file), test);
            assert!(
                why.len() >= cited.len() + 20,
                "{at}: say why no process is needed"
            );
        } else if tag == "sim" {
            // The simulator's test that covers it, then why not here.
            let cited = why.split_whitespace().next().unwrap_or_default();
            let (file, test) = cited
                .split_once("::")
                .unwrap_or_else(|| panic!("{at}: sim: cite `file::test` first"));
            let path = if file.contains('/') {
                repo().join("protocol").join(file)
            } else {
                repo().join("protocol/tests").join(format!("{file}.rs"))
            };
            assert_defines(&at, &path, test);
        } else {
            assert!(why.len() >= 20, "{at}: say precisely why: {why:?}");
        }
    }
}

#[test]
fn every_debugger_scenario_is_listed_once_with_a_real_test_or_a_reason() {
    let ids = debugger_ids(&catalogue());
    assert!(ids.len() >= 20, "found only {} debugger ids", ids.len());
    let listed = listed_in("debugger.txt");
    let names: Vec<&String> = listed.iter().map(|(_, id, _)| id).collect();
    assert_eq!(
        names,
        ids.iter().collect::<Vec<_>>(),
        "debugger.txt must list the debugger's ids once each, in catalogue order"
    );
    let read = |path: &str| {
        std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let debugger = read("conformance/tests/debugger.rs");
    let examples = read("examples/tests/debugging_run.rs");
    for (line, id, target) in listed {
        let at = format!("debugger.txt:{line} ({id})");
        let test = |rest: &str| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        if let Some(rest) = target.strip_prefix("debugger::") {
            assert!(
                has_test(&debugger, &test(rest)),
                "{at}: no such test in debugger.rs"
            );
        } else if let Some(rest) = target.strip_prefix("examples::") {
            assert!(
                has_test(&examples, &test(rest)),
                "{at}: no such test in debugging_run.rs"
            );
        } else {
            let (tag, why) = target
                .split_once(':')
                .unwrap_or_else(|| panic!("{at}: a test or `tag: reason`, got {target:?}"));
            assert!(REASONS.contains(&tag) && tag != "sim", "{at}: tag {tag:?}");
            assert!(why.trim().len() >= 20, "{at}: say precisely why: {why:?}");
        }
    }
}

/// The ids of the program's table of scenarios, in its order.
fn program_ids() -> Vec<String> {
    let out = std::process::Command::new(PROGRAM)
        .arg("--list")
        .output()
        .unwrap_or_else(|e| panic!("{PROGRAM}: {e}"));
    assert!(out.status.success(), "--list failed: {out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8 ids")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_scenario_said_to_run_here_is_in_the_program() {
    let ids = program_ids();
    let known: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    assert!(
        known.len() > 150,
        "the program lists only {} ids",
        known.len()
    );
    assert_eq!(known.len(), ids.len(), "an id twice in the table: {ids:?}");
    // Tested ones, and the gaps (in the program, without a test).
    let said: Vec<(String, String)> = listed()
        .into_iter()
        .chain(listed_in("debugger.txt"))
        .filter(|(_, _, target)| {
            ["processes::", "debugger::", "gap:"]
                .iter()
                .any(|p| target.starts_with(p))
        })
        .map(|(_, id, target)| (id, target))
        .collect();
    assert!(said.len() > 100, "found only {} ids", said.len());
    for (id, target) in &said {
        let other = RUN_UNDER_OTHER_IDS.contains(&id.as_str());
        if target.starts_with("gap:") || !other {
            assert!(
                known.contains(id.as_str()),
                "{id} ({target}) is not in the program's table"
            );
        } else {
            assert!(
                !known.contains(id.as_str()),
                "{id} is in the program's table: take it off RUN_UNDER_OTHER_IDS"
            );
        }
    }
    for id in RUN_UNDER_OTHER_IDS {
        assert!(
            said.iter().any(|(i, _)| i == id),
            "{id} of RUN_UNDER_OTHER_IDS has no test in the lists"
        );
    }
}

#[test]
fn an_id_the_program_does_not_have_fails() {
    let tree = Tree::new();
    let run = tree.run(Path::new(PROGRAM), &["no-such-scenario", "tcp"]);
    tree.assert_clean();
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.fact("root_error")
            .contains("no scenario \"no-such-scenario\""),
        "{run:?}"
    );
}

#[test]
fn the_parser_finds_known_ids_and_fails_on_a_missing_one() {
    let text = "### Tier 1\n* **Spawning:** spawn-one, rpc-two,\n  ctx-three\n\
                * **Other:** msg-skipped, log-skipped\n### Tier 2\n* bcast-four (x)\n### Tier 3\n\
                * spawn-never";
    assert_eq!(
        tier_ids(text),
        ["spawn-one", "rpc-two", "ctx-three", "bcast-four"]
    );
    assert!(has_test("#[test]\nfn a_test() {}", "a_test"));
    let text =
        "* **Debugger:**\n  * core: dbg-one, dbg-two,\n    dbg-one\n* **Dumps:** dump-x, dbg-no";
    assert_eq!(debugger_ids(text), ["dbg-one", "dbg-two"]);
    assert!(!has_test("fn helper() {}", "helper"));
}
