//! The workspace's structure, measured: inside every crate, modules import
//! one another without a cycle (between the top-level modules of a crate,
//! `use crate::…` and `crate::x::…`, and between the files of each module
//! directory, `use super::…`), and no source file outside tests is longer
//! than [`MAX_LINES`]. Read from the sources, so a new loop fails here with
//! the loop printed.
//!
//! Not imports: comments and doc links, paths inside `#[cfg(test)]`
//! modules (a unit test may reach anywhere), and `$crate::` in a macro
//! (it is a path of the code the macro expands into).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Module name to the names it imports from (edges), over one level of the
/// tree.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The longest a source file may be, its unit tests left out.
const MAX_LINES: usize = 1000;

/// Each crate's source root, from the workspace's root, with its root
/// file's name.
const ROOTS: &[(&str, &str)] = &[
    ("protocol/src", "lib"),
    ("macros/src", "lib"),
    ("driver/src", "lib"),
    ("adapters/src", "lib"),
    ("adapter-tokio/src", "lib"),
    ("adapter-smol/src", "lib"),
    ("conformance/src", "lib"),
    ("conformance/src/bin/tractor-conformance", "main"),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace's root")
        .to_owned()
}

/// A file's text without its comments (doc comments included: a doc link is
/// not an import) and without its `#[cfg(test)]` modules.
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    without_tests(&without_comments(&text))
}

fn without_comments(text: &str) -> String {
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

/// `code` without the modules marked `#[cfg(test)]` (`mod x { … }`).
fn without_tests(code: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find(MARK) {
        let after = &rest[at + MARK.len()..];
        let is_module = after
            .find(['{', ';'])
            .is_some_and(|end| after.as_bytes()[end] == b'{' && after[..end].contains("mod "));
        if !is_module {
            out.push_str(&rest[..at + MARK.len()]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..at]);
        let open = after.find('{').expect("a module's body");
        let end = closing(&after[open + 1..], 1).map_or(after.len(), |i| open + 1 + i + 1);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Where the brace that brings `depth` open braces back to none is in
/// `text`, if it is.
fn closing(text: &str, mut depth: usize) -> Option<usize> {
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
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
        if before.is_some_and(|c| is_ident(c) || c == ':' || c == '$') {
            // `super::super::…`, a longer path ending in the prefix, or a
            // macro's `$crate::`.
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = closing(group, 1).unwrap_or(group.len());
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
        if stem == parent
            || (path.is_file() && path.extension().is_none_or(|e| e != "rs"))
            || (path.is_dir() && stem == "bin")
        {
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

/// Every module directory below `dir` (those with a `mod.rs`).
fn module_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for entry in fs::read_dir(dir).expect("a readable directory") {
        let path = entry.expect("an entry").path();
        // A binary's sources are a crate of their own (see `ROOTS`).
        if path.is_dir() && !path.ends_with("bin") {
            if path.join("mod.rs").is_file() {
                dirs.push(path.clone());
            }
            dirs.extend(module_dirs(&path));
        }
    }
    dirs.sort();
    dirs
}

#[test]
fn no_crate_has_an_import_cycle() {
    let root = workspace();
    let mut checked = 0;
    for (dir, parent) in ROOTS {
        let dir = root.join(dir);
        assert_acyclic(
            &format!("top-level modules of {}", dir.display()),
            &graph(&dir, parent, "crate::"),
        );
        for sub in module_dirs(&dir) {
            assert_acyclic(
                &format!("files of {}", sub.display()),
                &graph(&sub, "mod", "super::"),
            );
            checked += 1;
        }
        checked += 1;
    }
    assert!(
        checked >= ROOTS.len() + 3,
        "{checked} module levels checked"
    );
}

#[test]
fn the_graphs_are_read_at_all() {
    let root = workspace();
    let protocol = graph(&root.join("protocol/src"), "lib", "crate::");
    assert!(protocol["msg"].contains("error"), "{protocol:#?}");
    let actor = graph(&root.join("protocol/src/actor"), "mod", "super::");
    assert!(actor["dialogs"].contains("dialog"), "{actor:#?}");
    let driver = graph(&root.join("driver/src"), "lib", "crate::");
    assert!(driver["serve"].contains("engine"), "{driver:#?}");
    // The engine knows nothing of what it serves.
    for above in [
        "functions",
        "serve",
        "debug",
        "stackscope",
        "nursery",
        "portal",
    ] {
        assert!(
            !driver["engine"].contains(above),
            "engine -> {above}: {driver:#?}"
        );
    }
    let portal = graph(&root.join("driver/src/portal"), "mod", "super::");
    assert!(portal["stream"].contains("dlg"), "{portal:#?}");
}

#[test]
fn no_source_file_is_too_long() {
    let root = workspace();
    let mut long = Vec::new();
    let files: BTreeSet<PathBuf> = ROOTS
        .iter()
        .flat_map(|(dir, _)| files_of(&root.join(dir)))
        .collect();
    let mut seen = 0;
    {
        for file in files {
            let text = fs::read_to_string(&file).expect("a readable file");
            let lines = without_tests(&text).lines().count();
            seen += 1;
            if lines > MAX_LINES {
                long.push(format!("{} ({lines} lines)", file.display()));
            }
        }
    }
    assert!(seen > 50, "only {seen} files read");
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines, unit tests left out: {long:#?}"
    );
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

#[test]
fn test_modules_and_macro_paths_are_no_imports() {
    let code = without_tests(
        "use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n    fn f() { {} }\n}\nuse crate::c;\n#[cfg(test)]\nuse crate::d;\n",
    );
    assert_eq!(
        first_segments(&code, "crate::"),
        ["a", "c", "d"].map(String::from).into()
    );
    assert!(first_segments("$crate::x::y()", "crate::").is_empty());
}
