//! Shared test helpers: write a target file, run checks in process, and
//! network fixtures on loopback.

pub mod accounts;
pub mod cert_corpus;
pub mod dns;
pub mod emulator;
pub mod hold_call;
pub mod net;
pub mod proxy;
pub mod samba;

use std::path::PathBuf;
use std::sync::Arc;

use mssql_preflight::catalog::Catalog;
use mssql_preflight::engine::{self, EngineOptions, Run, Silent};
use mssql_preflight::finding::Status;
use mssql_preflight::report::{CheckResult, Report};
use mssql_preflight::selection::{self, Selection};
use mssql_preflight::target::{SecretInputs, Target, TargetOverrides};

/// A target file in its own temporary directory (removed on drop).
pub struct TargetFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TargetFile {
    pub fn new(toml: &str) -> TargetFile {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("target.toml");
        std::fs::write(&path, toml).expect("write target file");
        TargetFile { _dir: dir, path }
    }

    pub fn load(&self) -> Target {
        Target::load(
            Some(&self.path),
            &TargetOverrides::default(),
            SecretInputs::default(),
        )
        .expect("test target loads")
    }
}

/// The binary, with logging off and without colour.
pub fn preflight() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("mssql-preflight").expect("binary built");
    cmd.env("NO_COLOR", "1").env("MSSQL_PREFLIGHT_LOG", "off");
    cmd
}

/// A selection of the checks whose ids match `patterns`.
pub fn matching(patterns: &[&str]) -> Selection {
    Selection {
        include: patterns.iter().map(|p| p.to_string()).collect(),
        ..Selection::default()
    }
}

/// Runs the `selection` of the `catalog`'s checks against the target
/// described by `toml`, in process.
pub async fn run_selected(
    toml: &str,
    catalog: &Catalog,
    selection: &Selection,
    options: &EngineOptions,
) -> Run {
    let file = TargetFile::new(toml);
    let target = Arc::new(file.load());
    let plan = selection::plan(&catalog.registry, &catalog.profiles, selection)
        .expect("the selection selects checks");
    engine::run(target, &plan, options, &Silent).await
}

/// Runs the checks matching `patterns` against the target described by
/// `toml`, in process, with the given engine options.
pub async fn run_with(toml: &str, patterns: &[&str], options: EngineOptions) -> Report {
    let catalog = Catalog::builtin().expect("built-in catalog");
    run_selected(toml, &catalog, &matching(patterns), &options)
        .await
        .report
}

/// Runs with a short per-operation timeout, so failing fixtures stay quick.
pub async fn run(toml: &str, patterns: &[&str]) -> Report {
    let mut options = EngineOptions::default();
    options.settings.timeout = std::time::Duration::from_secs(2);
    run_with(toml, patterns, options).await
}

pub fn result<'a>(report: &'a Report, id: &str) -> &'a CheckResult {
    report
        .results
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("{id} not in the report: {:#?}", report.results))
}

/// Asserts a check's status, showing the whole result when it differs.
#[track_caller]
pub fn assert_status<'a>(report: &'a Report, id: &str, status: Status) -> &'a CheckResult {
    let r = result(report, id);
    assert_eq!(r.status, status, "{id}: {r:#?}");
    r
}
