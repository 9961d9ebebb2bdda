//! The crate's modules import one another without a cycle: between the
//! top-level modules of `src/` (`use crate::…`, `crate::x::…`), and between
//! the files of `src/actor/` (`use super::…`). Read from the sources, so a
//! new loop fails here with the loop printed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Module name to the names it imports from (edges), over one level of the
/// tree.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// A file's text without its comments (doc comments included: a doc link is
/// not an import).
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.find("//") {
            // A `//` inside a string literal would cut a line short; the
            // paths this test looks for do not follow one on a line.
            Some(at) => &line[..at],
            None => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first segment of every path that starts with `prefix` (`crate::` or
/// `super::`), grouped imports (`prefix{a::b, c}`) included.
fn first_segments(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            // `super::super::…` or a longer path ending in the prefix.
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..end].chars().chain(std::iter::once(',')) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let name: String =
                            item.trim().chars().take_while(|&c| is_ident(c)).collect();
                        if !name.is_empty() {
                            found.insert(name);
                        }
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
        } else {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// What a module file re-exports or imports by name from its submodules
/// (`pub use x::{A, B}`, `use x::C`): item name to submodule.
fn names_from(code: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for stmt in code.split(';') {
        let stmt = stmt.trim();
        let Some(path) = stmt
            .strip_prefix("pub use ")
            .or_else(|| stmt.strip_prefix("use "))
        else {
            // Attributes before a `use` (`#[cfg(..)]`) end in `]`.
            let Some(at) = stmt.rfind(']') else { continue };
            let tail = stmt[at + 1..].trim();
            let Some(path) = tail
                .strip_prefix("pub use ")
                .or_else(|| tail.strip_prefix("use "))
            else {
                continue;
            };
            collect_names(path, modules, &mut names);
            continue;
        };
        collect_names(path, modules, &mut names);
    }
    names
}

fn collect_names(path: &str, modules: &BTreeSet<String>, names: &mut BTreeMap<String, String>) {
    let Some((module, items)) = path.split_once("::") else {
        return;
    };
    if !modules.contains(module.trim()) {
        return;
    }
    let items = items.trim().trim_start_matches('{').trim_end_matches('}');
    for item in items.split(',') {
        let item = item.trim();
        let name = match item.split_once(" as ") {
            Some((_, alias)) => alias.trim(),
            None => item.rsplit("::").next().unwrap_or(item),
        };
        if !name.is_empty() && name != "self" && name.chars().all(is_ident) {
            names.insert(name.to_owned(), module.trim().to_owned());
        }
    }
}

/// The `.rs` files of a module: `x.rs`, or everything under `x/`.
fn files_of(path: &Path) -> Vec<PathBuf> {
    if path.is_dir() {
        let mut files = Vec::new();
        for entry in fs::read_dir(path).expect("a readable directory") {
            files.extend(files_of(&entry.expect("an entry").path()));
        }
        files.sort();
        files
    } else if path.extension().is_some_and(|e| e == "rs") {
        vec![path.to_owned()]
    } else {
        Vec::new()
    }
}

/// The modules of a directory (`x.rs` and `x/`), with their files; the
/// module file itself (`lib.rs`, `mod.rs`) is the parent, not a node.
fn modules_in(dir: &Path, parent: &str) -> BTreeMap<String, Vec<PathBuf>> {
    let mut modules = BTreeMap::new();
    for entry in fs::read_dir(dir).expect("a readable directory") {
        let path = entry.expect("an entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if stem == parent || (path.is_file() && path.extension().is_none_or(|e| e != "rs")) {
            continue;
        }
        let files = files_of(&path);
        if !files.is_empty() {
            modules.insert(stem.to_owned(), files);
        }
    }
    modules
}

/// The import graph of the modules in `dir`, whose parent file is `parent`,
/// following paths that start with `prefix`.
fn graph(dir: &Path, parent: &str, prefix: &str) -> Graph {
    let modules = modules_in(dir, parent);
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let by_name = names_from(&code(&dir.join(format!("{parent}.rs"))), &names);
    let mut graph = Graph::new();
    for (module, files) in &modules {
        let edges = graph.entry(module.clone()).or_default();
        for file in files {
            // Only the module's own file speaks of its siblings with
            // `super::`; deeper files would mean their own parent.
            if prefix == "super::" && file.parent() != Some(dir) {
                continue;
            }
            for first in first_segments(&code(file), prefix) {
                let target = if names.contains(&first) {
                    Some(first)
                } else {
                    by_name.get(&first).cloned()
                };
                if let Some(target) = target
                    && &target != module
                {
                    edges.insert(target);
                }
            }
        }
    }
    graph
}

/// A cycle of the graph, as the path that closes it, if there is one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut loop_ = path[at..].to_vec();
            loop_.push(node.to_owned());
            return Some(loop_);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, done, path) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(found) = visit(node, graph, &mut done, &mut Vec::new()) {
            return Some(found);
        }
    }
    None
}

fn assert_acyclic(what: &str, graph: &Graph) {
    if let Some(found) = cycle(graph) {
        panic!(
            "the {what} import one another in a loop: {}\nthe whole graph: {graph:#?}",
            found.join(" -> ")
        );
    }
}

#[test]
fn top_level_modules_have_no_import_cycle() {
    let graph = graph(&src(), "lib", "crate::");
    // The graph was read at all: the messages need their errors.
    assert!(graph["msg"].contains("error"), "{graph:#?}");
    assert_acyclic("top-level modules of src/", &graph);
}

#[test]
fn actor_files_have_no_import_cycle() {
    let graph = graph(&src().join("actor"), "mod", "super::");
    assert!(graph["dialogs"].contains("dialog"), "{graph:#?}");
    assert_acyclic("files of src/actor/", &graph);
}

#[test]
fn a_loop_is_found_and_printed() {
    let mut graph = Graph::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        cycle(&graph).map(|c| c.join(" -> ")),
        Some("a -> b -> c -> a".to_owned())
    );
    graph.get_mut("c").expect("c").clear();
    assert_eq!(cycle(&graph), None);
}

#[test]
fn grouped_and_inline_paths_are_read() {
    let found = first_segments(
        "use crate::{a::{B, C}, d};\nlet x = crate::e::f();\nsuper::super::g;",
        "crate::",
    );
    assert_eq!(found, ["a", "d", "e"].map(String::from).into());
}
