//! Keeps `scenarios.txt` honest: every tier-1 and tier-2 scenario of
//! spec/SCENARIOS.md with a core prefix is listed, and every test it names
//! exists.

use std::collections::BTreeMap;
use std::path::PathBuf;

const PREFIXES: [&str; 6] = ["ctx-", "cancel-", "err-", "stream-", "disc-", "rpc-"];

/// The scenario ids of tiers 1 and 2 with a core prefix, from the
/// repository's spec/SCENARIOS.md: the catalogue is ours, whatever
/// recordings `$TRACTOR_VECTORS_DIR` points the vector tests at.
fn tier_ids() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/SCENARIOS.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = text.find("### Tier 1").expect("a tier 1 section");
    let end = text.find("### Tier 3").expect("a tier 3 section");
    let mut ids = Vec::new();
    for word in text[start..end].split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        if PREFIXES.iter().any(|p| word.starts_with(p)) && !ids.contains(&word.to_owned()) {
            ids.push(word.to_owned());
        }
    }
    ids
}

fn listed() -> BTreeMap<String, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios.txt");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (id, target) = l.split_once(char::is_whitespace).expect("id and target");
            (id.to_owned(), target.trim().to_owned())
        })
        .collect()
}

#[test]
fn every_core_scenario_is_listed() {
    let ids = tier_ids();
    assert!(ids.len() > 100, "found only {} ids", ids.len());
    let listed = listed();
    let missing: Vec<_> = ids.iter().filter(|id| !listed.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "scenarios missing from scenarios.txt: {missing:?}"
    );
    let unknown: Vec<_> = listed.keys().filter(|id| !ids.contains(id)).collect();
    assert!(
        unknown.is_empty(),
        "ids in scenarios.txt that spec/SCENARIOS.md does not list: {unknown:?}"
    );
}

#[test]
fn every_named_test_exists() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for (id, target) in listed() {
        if let Some(why) = target.strip_prefix("adapter:") {
            assert!(why.trim().len() > 10, "{id}: say why it needs the adapter");
            continue;
        }
        let (file, test) = target
            .split_once("::")
            .unwrap_or_else(|| panic!("{id}: {target}"));
        let path = if file.contains('/') {
            root.join(file)
        } else {
            root.join("tests").join(format!("{file}.rs"))
        };
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{id}: {}: {e}", path.display()));
        assert!(
            source.contains(&format!("fn {test}(")),
            "{id}: no test {test} in {}",
            path.display()
        );
    }
}
