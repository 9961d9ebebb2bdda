//! The README's first program and its typed service are this crate's
//! examples `first_program` and `typed_service`, byte for byte, and each
//! runs as a real tree that leaves nothing behind.

use std::path::Path;

use tractor_conformance::{Tree, example_binary as example, number_after};

/// The text of README.md between `<!-- {name} -->` and `<!-- /{name} -->`,
/// inside its one fenced code block.
fn readme_block(name: &str) -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).expect("README.md");
    let open = format!("<!-- {name} -->\n");
    let close = format!("<!-- /{name} -->");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("no {open:?} in README.md"))
        + open.len();
    let len = text[start..]
        .find(&close)
        .unwrap_or_else(|| panic!("no {close:?} in README.md"));
    let block = &text[start..start + len];
    let body = block
        .split_once('\n')
        .filter(|(fence, _)| fence.starts_with("```"))
        .and_then(|(_, rest)| rest.strip_suffix("```\n"))
        .unwrap_or_else(|| panic!("the {name} block of README.md is not one fenced code block"));
    body.to_owned()
}

#[test]
fn the_readme_shows_the_first_program_as_it_is() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/first_program.rs");
    let program = std::fs::read_to_string(file).expect("examples/first_program.rs");
    let shown = readme_block("first-program");
    assert!(
        shown == program,
        "README.md's first program differs from adapter-tokio/examples/first_program.rs; \
         copy the file into the README between its markers"
    );
}

#[test]
fn the_readme_shows_the_typed_service_as_it_is() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/typed_service.rs");
    let program = std::fs::read_to_string(file).expect("examples/typed_service.rs");
    assert!(
        readme_block("typed-service") == program,
        "README.md's typed service differs from adapter-tokio/examples/typed_service.rs; \
         copy the file into the README between its markers"
    );
}

#[test]
fn the_readme_dependencies_name_this_crate_and_what_the_program_uses() {
    let deps = readme_block("first-program-deps");
    let lines: Vec<&str> = deps.lines().collect();
    assert_eq!(lines.first(), Some(&"[dependencies]"), "{deps}");
    for needed in [
        r#"tractor-tokio = { path = "../tractor-rs/adapter-tokio" }"#,
        r#"serde = { version = "1", features = ["derive"] }"#,
        r#"tokio = { version = "1", features = ["rt", "macros"] }"#,
    ] {
        assert!(lines.contains(&needed), "no {needed:?} in:\n{deps}");
    }
}

/// Runs the example `name` as a real tree that must leave nothing behind
/// and print one line, `root (pid R) got: hello root, from pid C`, with C
/// another process than the root's.
fn one_call_to_a_child(name: &str) {
    let tree = Tree::new();
    let running = tree.spawn(&example(name), &[]);
    let root_pid = running.pid();
    let run = running.finish(&tree);
    tree.assert_clean();
    let out = run.stdout.join("\n");
    assert_eq!(run.code, Some(0), "{out}\n{}", run.stderr);
    let [line] = run.stdout.as_slice() else {
        panic!("one line expected:\n{out}\n{}", run.stderr);
    };
    let pid_after = |marker: &str| number_after(line, marker) as u32;
    assert!(line.starts_with("root (pid "), "{line}");
    assert!(line.contains(") got: hello root, from pid "), "{line}");
    assert_eq!(pid_after("root (pid "), root_pid, "{line}");
    let child = pid_after("from pid ");
    assert_ne!(
        child, root_pid,
        "the call ran in the root, not in a child: {line}"
    );
}

#[test]
fn the_first_program_runs_a_root_and_a_child_and_leaves_nothing() {
    one_call_to_a_child("first_program");
}

#[test]
fn the_typed_service_runs_in_a_child_and_leaves_nothing() {
    one_call_to_a_child("typed_service");
}
