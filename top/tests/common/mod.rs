//! What the tests of `tractor-top` share: the binary, its JSON answer,
//! and signals to the tree's actors.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tractor_conformance::Tree;

/// The binary under test.
pub const TOP: &str = env!("CARGO_BIN_EXE_tractor-top");

/// Runs `tractor-top --json` in `tree` against `registry`.
pub fn top_json(tree: &Tree, registry: &str) -> Value {
    let out = tree
        .command(Path::new(TOP), &["--registry", registry, "--json"])
        .output()
        .expect("tractor-top runs");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// The entry of the actor named `name`.
pub fn actor<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["actors"]
        .as_array()
        .expect("actors")
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {doc:#}"))
}

/// The pid of the actor named `name`.
pub fn pid_of(doc: &Value, name: &str) -> i32 {
    actor(doc, name)["snapshot"]["pid"].as_i64().expect("a pid") as i32
}

/// Sends `sig` (`-STOP`, …) to `pid`.
pub fn signal(sig: &str, pid: i32) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill {sig} {pid}");
}
