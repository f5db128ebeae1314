//! The relay's top-level modules import each other without a circle: every `crate::X`
//! path (plain, or inside `use crate::{…}`) outside `#[cfg(test)]` code is an edge from
//! the file's top-level module to `X`; `lib.rs`, which assembles them (AppState, the
//! router), is the root and not a node. A circle fails with the modules on it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The names right after `crate::` in `text`, with `crate::{a, b::c}` giving `a` and `b`.
fn crate_references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        // `latch_crate::` or `some_crate::` is not this crate.
        if text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut item) = (0, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => found.push(std::mem::take(&mut item)),
                    _ => item.push(c),
                }
            }
            found.push(item);
        } else {
            found.push(rest.to_owned());
        }
    }
    found
        .iter()
        .map(|item| item.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect())
        .filter(|name: &String| !name.is_empty())
        .collect()
}

fn relay_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = common::rust_files(&src);
    let top = |path: &Path| {
        let rel = path.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        first.trim_end_matches(".rs").to_owned()
    };
    let modules: BTreeSet<String> = files.iter().map(|f| top(f)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let from = top(file);
        // lib.rs is the root; main.rs and cli/ are the binary, which nothing imports.
        if matches!(from.as_str(), "lib" | "main" | "cli") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let edges = graph.entry(from.clone()).or_default();
        for to in crate_references(code) {
            if to != from && modules.contains(&to) && !matches!(to.as_str(), "lib" | "main" | "cli") {
                edges.insert(to);
            }
        }
    }
    graph
}

/// One circle, if there is any: depth-first search with the path on the stack.
fn find_circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(node: &str, graph: &Graph, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn grouped_and_plain_paths_are_both_read() {
    let refs = crate_references("use crate::{db::{self, Db}, realtime};\nlet x = crate::clock::now_ms();");
    assert_eq!(refs, ["db", "realtime", "clock"]);
    assert!(crate_references("use latch_crate::x; other_crate::y").is_empty());
}

#[test]
fn the_search_finds_a_planted_circle() {
    let mut graph = Graph::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_circle(&graph), None);
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_circle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
}

#[test]
fn relay_modules_import_each_other_without_a_circle() {
    let graph = relay_graph();
    for room in ["db", "realtime", "http"] {
        assert!(graph.contains_key(room), "the walk found {room}");
    }
    assert!(graph["realtime"].contains("db"), "realtime reads the database through db");
    for (from, to) in &graph {
        println!("{from} -> {}", to.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    assert_eq!(find_circle(&graph), None, "the relay's modules import each other in a circle");
    // The storage room sits below the others: it imports none of the rooms above it.
    for upper in ["http", "realtime", "metrics", "limits", "inbox", "cleanup"] {
        assert!(!graph["db"].contains(upper), "db imports {upper}");
    }
}
