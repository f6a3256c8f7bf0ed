//! Declarative check packs: checks that need no Rust, written in TOML.
//!
//! A pack is a file of `[[check]]` tables, each with the metadata every check
//! carries (id, title, family, severity, why, fix, guide) and exactly one
//! probe table: `[check.sql]` (a query and an expectation on its value or its
//! rows), `[check.tcp]` (a host and port, open or closed) or `[check.file]`
//! (a path that exists or is absent, with a widest allowed mode). Built-in
//! packs live in `checks/*.toml` and are embedded; users add directories with
//! `--checks-dir`. Which profiles run a pack's checks is said in
//! `profiles.toml`, like for every other check (see `Catalog::load`).

mod file;
mod sql;
mod tcp;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use toml::Spanned;

use crate::context::RunContext;
use crate::finding::{Outcome, Severity};
use crate::registry::{Check, CheckMeta, Family, Registry};
use crate::tomlfile::{self, TomlError};

pub use file::FileProbe;
pub use sql::{Comparison, QueryResult, SqlProbe};
pub use tcp::TcpProbe;

/// The name of the profiles file inside a checks directory; every other
/// `*.toml` there is a pack.
pub const PROFILES_FILE: &str = "profiles.toml";

/// The built-in packs, embedded in the binary. `include_str!` over an explicit
/// list rather than a directory-embedding crate: Cargo tracks each file for
/// rebuilds, no proc macro or build script is needed, and a test keeps the
/// list equal to the `checks/` directory.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "checks/sql-server.toml",
        include_str!("../../checks/sql-server.toml"),
    ),
    (
        "checks/passwordstate.toml",
        include_str!("../../checks/passwordstate.toml"),
    ),
    ("checks/pmp.toml", include_str!("../../checks/pmp.toml")),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    #[serde(default, rename = "check")]
    checks: Vec<Spanned<CheckSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckSection {
    id: Spanned<String>,
    title: String,
    family: Family,
    severity: Severity,
    /// What the check looks at, in words; the probe's own description follows.
    checks: Option<String>,
    why: String,
    fix: String,
    #[serde(default)]
    guide: String,
    sql: Option<SqlProbe>,
    tcp: Option<TcpProbe>,
    file: Option<FileProbe>,
}

/// What a pack check looks at.
#[derive(Debug, Clone)]
pub enum Probe {
    Sql(Box<SqlProbe>),
    Tcp(TcpProbe),
    File(FileProbe),
}

impl Probe {
    fn describe(&self) -> String {
        match self {
            Probe::Sql(p) => p.describe(),
            Probe::Tcp(p) => p.describe(),
            Probe::File(p) => p.describe(),
        }
    }
}

/// A check declared in a pack: it behaves like any built-in check.
pub struct PackCheck {
    meta: CheckMeta,
    probe: Probe,
}

#[async_trait]
impl Check for PackCheck {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        match &self.probe {
            Probe::Sql(p) => p.evaluate(&self.meta, ctx).await,
            Probe::Tcp(p) => p.evaluate(&self.meta, ctx).await,
            Probe::File(p) => p.evaluate(&self.meta, ctx).await,
        }
    }
}

/// A pack check with where it was declared, for error messages.
pub struct Declared {
    pub check: Arc<PackCheck>,
    /// `file:line:column` of its `id`.
    pub at: String,
}

/// Parses one pack; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Declared>, TomlError> {
    let file: PackFile = tomlfile::parse(text, origin)?;
    let locate = |span: std::ops::Range<usize>, field: String, message: String| {
        let (line, column) = tomlfile::line_column(text, span.start);
        TomlError {
            origin: origin.to_owned(),
            line: Some(line),
            column: Some(column),
            field: Some(field),
            message,
        }
    };
    let mut declared = Vec::new();
    for (index, spanned) in file.checks.into_iter().enumerate() {
        let span = spanned.span();
        let section = spanned.into_inner();
        let id_span = section.id.span();
        let id = section.id.into_inner();
        validate_id(&id, section.family)
            .map_err(|m| locate(id_span.clone(), format!("check[{index}].id"), m))?;
        let probe = match (section.sql, section.tcp, section.file) {
            (Some(p), None, None) => Probe::Sql(Box::new(p)),
            (None, Some(p), None) => Probe::Tcp(p),
            (None, None, Some(p)) => Probe::File(p),
            _ => {
                return Err(locate(
                    span,
                    format!("check[{index}]"),
                    format!(
                        "check `{id}` needs exactly one probe table: [check.sql], [check.tcp] or [check.file]"
                    ),
                ));
            }
        };
        let probe_error = match &probe {
            Probe::Sql(p) => p.validate(),
            Probe::Tcp(p) => p.validate(),
            Probe::File(p) => p.validate(),
        };
        if let Err(message) = probe_error {
            return Err(locate(
                span,
                format!("check[{index}]"),
                format!("check `{id}`: {message}"),
            ));
        }
        let what = match section.checks {
            Some(words) => format!("{} {}", words.trim(), probe.describe()),
            None => probe.describe(),
        };
        let meta = CheckMeta::new(id, section.family, section.severity)
            .title(section.title)
            .checks(what)
            .why(section.why)
            .fix(section.fix)
            .guide(section.guide);
        let (line, column) = tomlfile::line_column(text, id_span.start);
        declared.push(Declared {
            check: Arc::new(PackCheck { meta, probe }),
            at: format!("{origin}:{line}:{column}"),
        });
    }
    Ok(declared)
}

/// Ids are public API: lower case, dotted, and starting with their family so
/// `--check 'sql.*'` finds them.
fn validate_id(id: &str, family: Family) -> Result<(), String> {
    let well_formed = id.split('.').count() >= 2
        && id.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
    if !well_formed {
        return Err(format!(
            "`{id}` is not a check id: use lower-case dotted words like `{family}.subject.aspect`"
        ));
    }
    if id.split('.').next() != Some(family.as_str()) {
        return Err(format!(
            "`{id}` is in the `{family}` family, so its id must start with `{family}.`"
        ));
    }
    Ok(())
}

/// Adds the checks of one pack to `registry`; a clash of ids is an error
/// that names both places. Returns what the catalog review of its SQL
/// queries found questionable, as warnings.
pub fn add_to(
    registry: &mut Registry,
    text: &str,
    origin: &str,
    declared_at: &mut Vec<(String, String)>,
) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    for declared in parse(text, origin).map_err(|e| e.to_string())? {
        let id = declared.check.meta().id.to_string();
        if let Probe::Sql(probe) = &declared.check.probe {
            warnings.extend(
                probe
                    .review()
                    .warnings
                    .iter()
                    .map(|warning| format!("{}: check `{id}`: {warning}", declared.at)),
            );
        }
        if registry.add(declared.check).is_err() {
            let first = declared_at
                .iter()
                .find(|(known, _)| *known == id)
                .map(|(_, at)| format!("declared first at {at}"))
                .unwrap_or_else(|| "a built-in check has it".to_owned());
            return Err(format!(
                "{}: the check id `{id}` is already taken ({first}); pick another id",
                declared.at
            ));
        }
        declared_at.push((id, declared.at));
    }
    Ok(warnings)
}

/// The pack files of a user's checks directory, sorted by name, with their
/// text; `profiles.toml` is left out (see [`PROFILES_FILE`]).
pub fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the checks directory {}: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read the checks directory {}: {e}", dir.display()))?
            .path();
        let is_pack = path.extension().is_some_and(|e| e == "toml")
            && path.file_name().is_some_and(|n| n != PROFILES_FILE)
            && path.is_file();
        if is_pack {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            std::fs::read_to_string(&path)
                .map(|text| (path.display().to_string(), text))
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_checks_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("checks");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml") && n != PROFILES_FILE)
            .map(|n| format!("checks/{n}"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "add new packs to pack::BUILTIN");
    }

    #[test]
    fn built_in_packs_parse() {
        for (origin, text) in BUILTIN {
            let checks = parse(text, origin).unwrap_or_else(|e| panic!("{e}"));
            assert!(!checks.is_empty(), "{origin} declares no check");
        }
    }

    const HEAD: &str = "[[check]]\nid = \"host.x.y\"\ntitle = \"t\"\nfamily = \"host\"\nseverity = \"warn\"\nwhy = \"w\"\nfix = \"f\"\n";

    #[test]
    fn a_check_without_a_probe_is_located() {
        let err = parse(HEAD, "p.toml").err().unwrap();
        assert_eq!((err.line, err.column), (Some(1), Some(1)), "{err}");
        assert!(err.message.contains("exactly one probe"), "{err}");
    }

    #[test]
    fn an_id_outside_its_family_is_located() {
        let text = HEAD.replace("host.x.y", "sql.x.y") + "[check.file]\npath = \"/etc/hosts\"\n";
        let err = parse(&text, "p.toml").err().unwrap();
        assert_eq!((err.line, err.column), (Some(2), Some(6)), "{err}");
        assert!(err.message.contains("must start with `host.`"), "{err}");
    }

    #[test]
    fn a_wrong_type_is_located() {
        let text = format!("{HEAD}[check.tcp]\nport = \"x\"\n");
        let err = parse(&text, "p.toml").err().unwrap();
        assert_eq!((err.line, err.column), (Some(9), Some(8)), "{err}");
        assert_eq!(err.field.as_deref(), Some("check[0].tcp.port"), "{err}");
    }
}
