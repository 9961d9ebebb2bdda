//! Every example runs to completion as a real process tree and leaves
//! nothing behind.

use std::path::PathBuf;

use tractor_conformance::Tree;

/// An example's binary; `cargo test` builds examples beside the tests.
fn example(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().expect("the test binary's path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    assert!(path.exists(), "{} is not built", path.display());
    path
}

#[test]
fn tour_runs_a_whole_tree_and_cleans_up() {
    let tree = Tree::new();
    let run = tree.run(&example("tour"), &[]);
    tree.assert_clean();
    assert_eq!(
        run.code,
        Some(0),
        "{}\n{}",
        run.stdout.join("\n"),
        run.stderr
    );
    let out = run.stdout.join("\n");
    assert!(out.contains("3² = 9"), "{out}");
    assert!(out.contains(r#"sent "tree", got "TREE""#), "{out}");
    assert!(out.contains("it echoed 3 words"), "{out}");
    assert!(out.contains("raised in leaf["), "{out}");
    assert!(out.contains("relayed by middle["), "{out}");
    assert!(out.ends_with("no child process is left"), "{out}");
}
