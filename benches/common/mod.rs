//! What every benchmark does before it measures: load its target file and
//! plan the checks it runs.

use std::path::Path;
use std::sync::Arc;

use mssql_preflight::catalog::Catalog;
use mssql_preflight::selection::{self, Plan, Selection};
use mssql_preflight::target::{SecretInputs, Target, TargetOverrides};

pub fn load_target(path: &Path) -> Arc<Target> {
    let target = Target::load(
        Some(path),
        &TargetOverrides::default(),
        SecretInputs::default(),
    )
    .expect("the target file loads");
    Arc::new(target)
}

pub fn plan(selection: &Selection) -> Plan {
    let catalog = Catalog::builtin().expect("the built-in catalog");
    selection::plan(&catalog.registry, &catalog.profiles, selection)
        .expect("the selection names checks")
}

/// The checks whose ids match one pattern, such as `tls.*`.
pub fn checks_matching(pattern: &str) -> Selection {
    Selection {
        include: vec![pattern.to_owned()],
        ..Selection::default()
    }
}
