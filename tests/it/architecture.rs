//! The architecture holds in the source: checks judge facts and never talk
//! to the world themselves. A module under `src/checks/` that imports a
//! probe, opens a socket or sends a query fails here, naming the line. And
//! the modules that describe checks and targets stay out of each other's
//! way: `meta` is a leaf, the target knows no checks, and probes know no
//! target, run or verdict.

use std::path::{Path, PathBuf};

/// What a check must not write: each pattern with why.
const FORBIDDEN: &[(&str, &str)] = &[
    (
        "probe::",
        "imports a probe: read a fact (src/facts/) instead",
    ),
    ("tiberius", "uses a SQL driver: read a SQL fact instead"),
    ("tokio::net", "opens a socket: read a network fact instead"),
    (
        "std::net::TcpStream",
        "opens a socket: read a network fact instead",
    ),
    (
        "std::net::UdpSocket",
        "opens a socket: read a network fact instead",
    ),
    (
        "std::net::TcpListener",
        "opens a socket: read a network fact instead",
    ),
    ("TcpStream", "opens a socket: read a network fact instead"),
    ("UdpSocket", "opens a socket: read a network fact instead"),
    ("socket2", "opens a socket: read a network fact instead"),
    ("hickory", "asks DNS: read a network fact instead"),
    (
        "std::fs",
        "touches the file system: read a host fact instead",
    ),
    (
        "tokio::fs",
        "touches the file system: read a host fact instead",
    ),
    (".rows(", "runs a query: read a SQL fact instead"),
    (".results(", "runs a query: read a SQL fact instead"),
    (".results_within(", "runs a query: run an Action instead"),
    (".scalar(", "runs a query: read a SQL fact instead"),
    (".query(", "runs a query: read a SQL fact instead"),
    (".query_within(", "runs a query: read a SQL fact instead"),
];

/// What the check metadata (`src/meta.rs`) must not name: it is the leaf
/// the target, the parameters, the registry and the run context build on.
const META_FORBIDDEN: &[(&str, &str)] = &[
    ("context::", "names the run context: metadata is a leaf"),
    ("params::", "names parameter values: metadata is a leaf"),
    ("registry::", "names the registry: metadata is a leaf"),
    ("target::", "names the target: metadata is a leaf"),
    (
        "crate::{",
        "imports crate modules in a group the scan cannot read: import each on its own line",
    ),
    ("super::", "names a sibling module: metadata is a leaf"),
];

/// What the target (`src/target/`) must not name: it is validated against
/// the checks in `catalog::settings`, above both, and says what it lacks
/// with its own error types.
const TARGET_FORBIDDEN: &[(&str, &str)] = &[
    (
        "Stop",
        "names a check's Stop: return a target error (`Unset`, `TargetError`) instead",
    ),
    (
        "registry",
        "names the registry: validate against checks in catalog::settings",
    ),
    (
        "crate::{",
        "imports crate modules in a group the scan cannot read: import each on its own line",
    ),
];

/// What a probe (`src/probe/`) must not name: it returns observations and
/// typed failures, and knows no target file, run, fact or verdict.
const PROBE_FORBIDDEN: &[(&str, &str)] = &[
    (
        "crate::target",
        "names the target: take the values it needs as arguments",
    ),
    (
        "crate::context",
        "names the run context: facts call probes, not the reverse",
    ),
    (
        "crate::facts",
        "names a fact: facts call probes, not the reverse",
    ),
    (
        "crate::checks",
        "names a check: probes observe, checks judge",
    ),
    (
        "crate::finding",
        "names a verdict: return a typed failure instead",
    ),
    (
        "crate::{",
        "imports crate modules in a group the scan cannot read: import each on its own line",
    ),
];

/// Every forbidden use in `source`, as `line: pattern (why)`; comments are
/// not code and do not count.
fn violations(source: &str) -> Vec<String> {
    violations_of(source, FORBIDDEN)
}

fn violations_of(source: &str, forbidden: &[(&str, &str)]) -> Vec<String> {
    let mut found = Vec::new();
    for (number, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        for (pattern, why) in forbidden {
            if code.contains(pattern) {
                found.push(format!("{}: `{pattern}` {why}", number + 1));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// Fails naming every forbidden use in `path` (a file, or a directory of
/// at least `at_least` Rust files), as `file:line: pattern (why)`.
fn assert_free_of(path: &str, at_least: usize, forbidden: &[(&str, &str)]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let mut files = Vec::new();
    if root.is_dir() {
        rust_files(&root, &mut files);
    } else {
        files.push(root);
    }
    assert!(files.len() >= at_least, "{path} has only {files:?}");
    let mut problems = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        for problem in violations_of(&source, forbidden) {
            problems.push(format!("{}:{problem}", file.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn checks_only_judge_facts() {
    assert_free_of("src/checks", 10, FORBIDDEN);
}

#[test]
fn check_metadata_is_a_leaf() {
    assert_free_of("src/meta.rs", 1, META_FORBIDDEN);
}

#[test]
fn the_target_knows_no_checks() {
    assert_free_of("src/target", 3, TARGET_FORBIDDEN);
}

#[test]
fn probes_know_no_target_run_or_verdict() {
    assert_free_of("src/probe", 10, PROBE_FORBIDDEN);
}

#[test]
fn the_layer_scans_see_what_they_forbid() {
    let meta = "use crate::registry::Registry;\nuse crate::version::SqlVersion;\n";
    let found = violations_of(meta, META_FORBIDDEN);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("1: `registry::`"), "{found:?}");
    let target = "use crate::finding::Stop;\n// the registry validates this\nfn f() {}\n";
    let found = violations_of(target, TARGET_FORBIDDEN);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("1: `Stop`"), "{found:?}");
    let probe = "use crate::target::secrets;\nuse crate::probe::tcp;\n";
    let found = violations_of(probe, PROBE_FORBIDDEN);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("1: `crate::target`"), "{found:?}");
}

#[test]
fn the_scan_sees_probes_sockets_and_queries() {
    let sample = "use crate::probe::tcp;\n\
                  // a comment may say probe::tcp\n\
                  let s = tokio::net::TcpStream::connect(a).await;\n\
                  let set = session.rows(QUERY).await?;\n\
                  let f = ctx.fact::<HostLookup>().await?;\n";
    let found = violations(sample);
    assert!(
        found.iter().any(|v| v.starts_with("1: `probe::`")),
        "{found:?}"
    );
    assert!(!found.iter().any(|v| v.starts_with("2:")), "{found:?}");
    assert!(
        found.iter().any(|v| v.starts_with("3: `tokio::net`")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|v| v.starts_with("4: `.rows(`")),
        "{found:?}"
    );
    assert!(!found.iter().any(|v| v.starts_with("5:")), "{found:?}");
}
