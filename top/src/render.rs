//! The tree, as text or JSON: each actor under its parent.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::walk::{Answer, Seen};

/// The actors in tree order (each under its parent, by name), with their
/// depth.
pub(crate) fn ordered(seen: &[Seen]) -> Vec<(usize, &Seen)> {
    let parent_of = |s: &Seen| match &s.answer {
        Answer::Snapshot(snap) => snap
            .parent
            .clone()
            .filter(|p| seen.iter().any(|o| &o.uid == p)),
        _ => None,
    };
    let mut under: BTreeMap<String, Vec<&Seen>> = BTreeMap::new();
    let mut roots = Vec::new();
    for s in seen {
        match parent_of(s) {
            Some(p) => under.entry(format!("{p:#}")).or_default().push(s),
            None => roots.push(s),
        }
    }
    let mut out = Vec::with_capacity(seen.len());
    let mut stack: Vec<(usize, &Seen)> = roots.into_iter().rev().map(|s| (0, s)).collect();
    while let Some((depth, s)) = stack.pop() {
        if let Some(kids) = under.remove(&format!("{:#}", s.uid)) {
            stack.extend(kids.into_iter().rev().map(|k| (depth + 1, k)));
        }
        out.push((depth, s));
    }
    out
}

/// One JSON document: the registrar asked, and each actor in tree order.
pub(crate) fn json(registry: &str, seen: &[Seen]) -> Value {
    let actors: Vec<Value> = ordered(seen)
        .into_iter()
        .map(|(depth, s)| {
            let mut a = json!({
                "name": s.uid.name,
                "uuid": s.uid.uuid,
                "depth": depth,
                "addrs": s.addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            });
            match &s.answer {
                Answer::Snapshot(snap) => {
                    a["status"] = json!("ok");
                    a["snapshot"] = serde_json::to_value(snap).unwrap_or(Value::Null);
                }
                Answer::NoIntrospection => a["status"] = json!("no-introspection"),
                Answer::Gone(why) => {
                    a["status"] = json!("gone");
                    a["error"] = json!(why);
                }
            }
            a
        })
        .collect();
    json!({ "version": 1, "registry": registry, "actors": actors })
}

/// The tree as lines of text.
pub(crate) fn text(seen: &[Seen]) -> String {
    let mut out = String::new();
    for (depth, s) in ordered(seen) {
        let indent = "  ".repeat(depth);
        let _ = write!(out, "{indent}{}", s.uid);
        match &s.answer {
            Answer::Snapshot(snap) => {
                let p = &snap.process;
                let _ = write!(
                    out,
                    "  pid {}  {} {}  rss {:.1} MiB  cpu {} ms  up {:.1} s  calls {}/{}  items {}/{}",
                    snap.pid.map_or("?".into(), |p| p.to_string()),
                    p.adapter,
                    p.transport,
                    p.rss_kib as f64 / 1024.0,
                    p.cpu_ms,
                    p.uptime_ms as f64 / 1000.0,
                    snap.counters.calls_served,
                    snap.counters.calls_made,
                    snap.counters.items_sent,
                    snap.counters.items_received,
                );
                if snap.registrar {
                    out.push_str("  [registrar]");
                }
                out.push('\n');
                for d in &snap.dialogs {
                    let side = if d.role == "callee" { "<-" } else { "->" };
                    let _ = writeln!(
                        out,
                        "{indent}    {} {side} {} [{}, {} ms, items {}/{}]",
                        d.function, d.peer, d.state, d.age_ms, d.items_sent, d.items_received
                    );
                }
            }
            Answer::NoIntrospection => out.push_str("  python, no introspection\n"),
            Answer::Gone(why) => {
                let _ = writeln!(out, "  gone: {why}");
            }
        }
    }
    out
}
