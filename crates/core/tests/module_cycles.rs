//! Core's modules (and medhall-app's) must not import each other in circles: a cycle means neither side can be read,
//! tested or moved to another crate without the other (issue 28).
//!
//! The graph is built from the source text alone: every `crate::name` path (and each name of a
//! `crate::{a, b::c}` group) in a file under `src/` is an arrow from the file's top-level module
//! to `name`, when `name` is a module `lib.rs` declares (`judging::types` counts as `judging`).
//! Comments, strings and character literals are skipped, so doc links do not count; test code
//! counts (a cycle through tests is still a cycle when tests build). `super::` never leaves a
//! top-level module in this crate, so it is not followed.
//!
//! `MODULE_CYCLES_SRC=/path/to/src cargo test -p medhall-core --test module_cycles` checks
//! another checkout's `src/` (an older commit, say).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The metrics layer as core sees it: `medhall-metrics`' re-exports (`fast_hash`, `metrics`,
/// `stats`, `text`: another crate, so the crate graph keeps them from reaching up) and core's
/// `signature`, which joins their signature parts and may import only them, never the domain
/// above it (it once reached into `judging` for a prompt version).
const METRIC_MODULES: [&str; 5] = ["fast_hash", "metrics", "signature", "stats", "text"];

/// Where one arrow was seen: file and line.
type Evidence = BTreeMap<(String, String), (PathBuf, usize)>;

fn source_dir() -> PathBuf {
    match std::env::var_os("MODULE_CYCLES_SRC") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The modules `lib.rs` declares (`mod x;`, `pub mod x;`, `pub(crate) mod x;`).
fn top_level_modules(lib: &str) -> BTreeSet<String> {
    code_only(lib)
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub(crate) mod ")
                .or_else(|| line.strip_prefix("pub mod "))
                .or_else(|| line.strip_prefix("mod "))?;
            let name = rest.strip_suffix(';')?.trim();
            Some(name.to_owned())
        })
        .collect()
}

/// `text` with comments, string literals and character literals blanked out (newlines kept, so
/// line numbers still hold).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && matches!(next, Some('"') | Some('#'))
            && raw_prefix_starts_here(&chars, i)
            && raw_string_start(&chars, i).is_some()
        {
            let (hashes, body) = raw_string_start(&chars, i).expect("checked");
            for &ch in &chars[i..body] {
                out.push(blank(ch));
            }
            i = body;
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while i < chars.len() && !chars[i..].starts_with(&closing) {
                out.push(blank(chars[i]));
                i += 1;
            }
            for _ in 0..closing.len().min(chars.len() - i) {
                out.push(' ');
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1f}'), or else a lifetime ('a), kept as code.
            let end = if next == Some('\\') {
                chars
                    .get(i + 3..)
                    .and_then(|rest| rest.iter().position(|&ch| ch == '\''))
                    .map(|p| i + 3 + p)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    for _ in i..=end {
                        out.push(' ');
                    }
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether the `r` at `i` begins a token (`r"…"`, or `br"…"` with the `b` before it), not the
/// end of a name such as `for`.
fn raw_prefix_starts_here(chars: &[char], i: usize) -> bool {
    let ident = |at: Option<usize>| {
        at.and_then(|at| chars.get(at))
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
    };
    match i.checked_sub(1) {
        Some(b) if chars[b] == 'b' => !ident(b.checked_sub(1)),
        before => !ident(before),
    }
}

/// For `r"…"` or `r#"…"#` starting at `i`: the number of `#` and where the body starts.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i + 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some((j - i - 1, j + 1))
}

fn identifier_at(chars: &[char], mut i: usize) -> (String, usize) {
    let mut name = String::new();
    while let Some(&c) = chars.get(i) {
        if c.is_alphanumeric() || c == '_' {
            name.push(c);
            i += 1;
        } else {
            break;
        }
    }
    (name, i)
}

/// The first segment of every `crate::` path in `code`, with its line.
fn crate_paths(code: &str) -> Vec<(String, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\n' {
            line += 1;
        }
        let starts = chars[i..].starts_with(&['c', 'r', 'a', 't', 'e', ':', ':'])
            && !chars
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_' || *p == '$');
        if !starts {
            i += 1;
            continue;
        }
        i += "crate::".len();
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        if chars.get(i) == Some(&'{') {
            // `crate::{a, b::{c, d}, e}`: the names at the group's own level.
            let mut depth = 0;
            let mut at_name = true;
            while i < chars.len() {
                match chars[i] {
                    '{' => {
                        depth += 1;
                        at_name = depth == 1;
                        i += 1;
                    }
                    '}' => {
                        depth -= 1;
                        i += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' => {
                        at_name = depth == 1;
                        i += 1;
                    }
                    '\n' => {
                        line += 1;
                        i += 1;
                    }
                    c if at_name && (c.is_alphanumeric() || c == '_') => {
                        let (name, end) = identifier_at(&chars, i);
                        found.push((name, line));
                        at_name = false;
                        i = end;
                    }
                    _ => i += 1,
                }
            }
        } else {
            let (name, end) = identifier_at(&chars, i);
            if !name.is_empty() {
                found.push((name, line));
            }
            i = end;
        }
    }
    found
}

/// The top-level module a file under `src` belongs to; `None` for `lib.rs`.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative.components().next()?.as_os_str().to_string_lossy();
    if relative.components().count() == 1 {
        let stem = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
        (stem != "lib").then_some(stem)
    } else {
        Some(first.into_owned())
    }
}

/// A crate's module graph: each module's imports, and where each arrow was first seen.
fn module_graph(src: &Path) -> (BTreeMap<String, BTreeSet<String>>, Evidence) {
    let lib = fs::read_to_string(src.join("lib.rs"))
        .unwrap_or_else(|e| panic!("reading {}/lib.rs: {e}", src.display()));
    let modules = top_level_modules(&lib);
    // Core declares a dozen, medhall-app two: fewer means lib.rs was misread.
    assert!(
        modules.len() >= 2,
        "{}/lib.rs declares too few modules: {modules:?}",
        src.display()
    );
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    let mut evidence = Evidence::new();
    for file in &files {
        let Some(from) = module_of(src, file) else {
            continue;
        };
        let text =
            fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        for (to, line) in crate_paths(&code_only(&text)) {
            if to == from || !modules.contains(&to) {
                continue;
            }
            graph.entry(from.clone()).or_default().insert(to.clone());
            let relative = file.strip_prefix(src).expect("under src").to_path_buf();
            evidence
                .entry((from.clone(), to))
                .or_insert((relative, line));
        }
    }
    (graph, evidence)
}

/// Strongly connected components with more than one module (Tarjan), each sorted.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, node: &'a str) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            self.on_stack.insert(node);
            let graph = self.graph;
            for next in graph.get(node).into_iter().flatten() {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(top);
                    component.push(top.to_owned());
                    if top == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(node.as_str()) {
            walk.visit(node);
        }
    }
    walk.found.sort();
    walk.found
}

/// One cycle through `start` inside `component` (a breadth-first shortest way back).
fn cycle_through(
    graph: &BTreeMap<String, BTreeSet<String>>,
    component: &[String],
    start: &str,
) -> Vec<String> {
    let inside: BTreeSet<&str> = component.iter().map(String::as_str).collect();
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for next in graph.get(node).into_iter().flatten() {
            let next = next.as_str();
            if !inside.contains(next) {
                continue;
            }
            if next == start {
                let mut path = vec![node.to_owned()];
                let mut at = node;
                while at != start {
                    at = came_from[at];
                    path.push(at.to_owned());
                }
                path.reverse();
                path.push(start.to_owned());
                return path;
            }
            if !came_from.contains_key(next) && next != start {
                came_from.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    vec![start.to_owned()]
}

fn describe(path: &[String], evidence: &Evidence) -> String {
    let arrows: Vec<String> = path
        .windows(2)
        .map(|w| {
            let (file, line) = &evidence[&(w[0].clone(), w[1].clone())];
            format!("{} -> {} ({}:{line})", w[0], w[1], file.display())
        })
        .collect();
    format!("{}: {}", path.join(" -> "), arrows.join(", "))
}

#[test]
fn core_modules_import_each_other_in_no_cycle() {
    assert_no_module_cycle(&source_dir());
}

/// medhall-app (the session and the worker protocol) once lived in core, with a
/// `session <-> protocol` cycle; its modules are held to the same rule. With
/// `MODULE_CYCLES_SRC` set, only that checkout's core is checked.
#[test]
fn app_modules_import_each_other_in_no_cycle() {
    if std::env::var_os("MODULE_CYCLES_SRC").is_some() {
        return;
    }
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../app/src");
    let (graph, _) = module_graph(&app);
    assert!(
        graph.contains_key("session") && graph.contains_key("protocol"),
        "no session and protocol modules found in {}: {graph:?}",
        app.display()
    );
    assert_no_module_cycle(&app);
}

fn assert_no_module_cycle(src: &Path) {
    let (graph, evidence) = module_graph(src);
    let mut problems = Vec::new();
    for component in cycles(&graph) {
        problems.push(format!("modules in one cycle: {}", component.join(", ")));
        // One concrete cycle per arrow leaving each module of the component, shortest first,
        // so every arrow to cut is named.
        let mut seen = BTreeSet::new();
        for start in &component {
            let path = cycle_through(&graph, &component, start);
            let mut key: Vec<String> = path[1..].to_vec();
            key.sort();
            if path.len() > 1 && seen.insert(key) {
                problems.push(format!("  cycle {}", describe(&path, &evidence)));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "module cycles in {}:\n{}",
        src.display(),
        problems.join("\n")
    );
}

#[test]
fn the_signature_imports_only_the_metrics_layer() {
    let src = source_dir();
    let (graph, evidence) = module_graph(&src);
    assert!(
        graph.contains_key("signature"),
        "no signature module found in {}",
        src.display()
    );
    let mut problems = Vec::new();
    for from in METRIC_MODULES {
        for to in graph.get(from).into_iter().flatten() {
            if !METRIC_MODULES.contains(&to.as_str()) {
                let (file, line) = &evidence[&(from.to_owned(), to.clone())];
                problems.push(format!("{from} -> {to} ({}:{line})", file.display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "metric-layer modules {METRIC_MODULES:?} import the domain above them in {}:\n{}",
        src.display(),
        problems.join("\n")
    );
}

#[test]
fn the_scanner_reads_paths_and_skips_comments_and_strings() {
    let code = code_only(concat!(
        "use crate::chart::{self, Bar};\n",
        "use crate::{dataset::Run, judging::{types, plan}, sample};\n",
        "/// [`crate::stats::mean`] is a doc link\n",
        "let s = \"crate::compare\"; let r = r#\"crate::export\"#; let b = br#\"\\\"crate::judge\"#; let c = '\"'; let q = '\\'';\n",
        "/* crate::leaderboard /* nested */ crate::summary */ let x = crate::signature::signature;\n",
        "fn f<'a>(x: &'a str) -> &'a str { crate::text::python_lower(x) }\n",
    ));
    let names: Vec<(String, usize)> = crate_paths(&code);
    let expected: Vec<(String, usize)> = [
        ("chart", 1),
        ("dataset", 2),
        ("judging", 2),
        ("sample", 2),
        ("signature", 5),
        ("text", 6),
    ]
    .into_iter()
    .map(|(n, l)| (n.to_owned(), l))
    .collect();
    assert_eq!(names, expected);
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a", "d"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    let found = cycles(&graph);
    assert_eq!(found, vec![vec!["a", "b", "c"]]);
    assert_eq!(cycle_through(&graph, &found[0], "a"), ["a", "b", "c", "a"]);
}
