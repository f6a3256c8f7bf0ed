//! The report of a finished run, and the formats it is written in.
//! Reporters read a `Report`; they never run checks.

mod controls;
pub use controls::escape as escape_controls;
pub use controls::masked;
mod html;
mod junit;
mod markdown;
mod table;
pub mod view;

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::finding::{Skip, Status};
use crate::outcome::{self, Decision, FailOn, Verdict};
use crate::registry::Family;
use crate::target::TargetSummary;

pub const SCHEMA_ID: &str = "mssql-preflight/report/v1";
/// The JSON Schema of [`Report`], as documented in `docs/report.schema.json`.
pub const JSON_SCHEMA: &str = include_str!("../../docs/report.schema.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool: ToolInfo,
    pub target: TargetSummary,
    pub profile: String,
    /// Why this profile ran (`--profile`, the target's `[app] kind`, or the default).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub profile_reason: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: u64,
    /// How many times failing checks were run (more than 1 with `--retry-timeout`).
    pub attempts: u32,
    /// The policy the verdict was decided under.
    pub fail_on: FailOn,
    /// Decided once from the results and `fail_on` (see `outcome`).
    pub verdict: Verdict,
    /// The process's exit code for this report.
    pub exit_code: i32,
    /// The signal that cut the run short, when one did (`SIGINT`, `SIGTERM`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted_by: Option<String>,
    pub summary: Summary,
    pub results: Vec<CheckResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

impl ToolInfo {
    pub fn current() -> Self {
        ToolInfo {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// Counts per status. `total` is the number of checks selected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub skip: usize,
    pub error: usize,
    pub waived: usize,
}

impl Summary {
    pub fn of(results: &[CheckResult]) -> Self {
        let mut s = Summary {
            total: results.len(),
            ..Summary::default()
        };
        for r in results {
            *s.count_mut(r.status) += 1;
        }
        s
    }

    pub fn count(&self, status: Status) -> usize {
        match status {
            Status::Pass => self.pass,
            Status::Warn => self.warn,
            Status::Fail => self.fail,
            Status::Skip => self.skip,
            Status::Error => self.error,
            Status::Waived => self.waived,
        }
    }

    fn count_mut(&mut self, status: Status) -> &mut usize {
        match status {
            Status::Pass => &mut self.pass,
            Status::Warn => &mut self.warn,
            Status::Fail => &mut self.fail,
            Status::Skip => &mut self.skip,
            Status::Error => &mut self.error,
            Status::Waived => &mut self.waived,
        }
    }
}

/// One check's line in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub id: String,
    pub title: String,
    pub family: Family,
    pub status: Status,
    /// The status a problem of this check is reported at (after overrides).
    pub severity: crate::finding::Severity,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// What to do about a non-passing result; absent for passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    #[serde(default)]
    pub evidence: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why a skipped check did not run: its kind and the checks that blocked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<Skip>,
    /// The target file's waiver, when one met a warning or failure of this
    /// check: applied (status `waived`) or expired (status unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<crate::waiver::WaiverNote>,
    pub duration_ms: u64,
}

impl Report {
    /// The verdict and every result's effect on it, as `outcome` decides them.
    pub fn decision(&self) -> Decision {
        outcome::decide(&self.results, self.fail_on)
    }

    /// The report's last line: the verdict in words, what decided it, counts.
    pub fn headline(&self) -> String {
        let line = outcome::headline(&self.results, &self.decision(), self.fail_on);
        match &self.interrupted_by {
            Some(signal) => {
                format!("Interrupted ({signal}): only part of the checks finished. {line}")
            }
            None => line,
        }
    }

    /// Marks the run as cut short by `signal`, exiting with `exit_code`.
    pub fn interrupt(&mut self, signal: &str, exit_code: i32) {
        self.interrupted_by = Some(signal.to_owned());
        self.exit_code = exit_code;
    }

    /// Results grouped by family, in family order, each group in id order.
    pub fn by_family(&self) -> BTreeMap<Family, Vec<&CheckResult>> {
        let mut groups: BTreeMap<Family, Vec<&CheckResult>> = BTreeMap::new();
        for r in &self.results {
            groups.entry(r.family).or_default().push(r);
        }
        for group in groups.values_mut() {
            group.sort_by(|a, b| a.id.cmp(&b.id));
        }
        groups
    }

    /// Results whose status asks the reader to act: failures, warnings,
    /// errors and waived problems, in report order.
    pub fn needing_attention(&self) -> Vec<&CheckResult> {
        self.results
            .iter()
            .filter(|r| {
                matches!(
                    r.status,
                    Status::Fail | Status::Warn | Status::Error | Status::Waived
                )
            })
            .collect()
    }

    /// What was checked, as the first rows of a report's summary table:
    /// the server, the database, the profile and the certificate name.
    pub fn target_rows(&self) -> Vec<(&'static str, String)> {
        let t = &self.target;
        let mut rows = vec![("Server", t.server_line())];
        if let Some(db) = &t.database {
            rows.push(("Database", db.clone()));
        }
        rows.push((
            "Profile",
            if self.profile_reason.is_empty() {
                self.profile.clone()
            } else {
                format!("{} ({})", self.profile, self.profile_reason)
            },
        ));
        rows.push(("Expected certificate name", t.expected_tls_name.clone()));
        rows
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("reports serialise");
        text.push('\n');
        text
    }

    pub fn from_json(text: &str) -> Result<Report, String> {
        let report: Report = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if report.schema != SCHEMA_ID {
            return Err(format!(
                "unsupported report schema `{}` (this tool reads `{SCHEMA_ID}`)",
                report.schema
            ));
        }
        Ok(report)
    }

    /// The report in `format`. Secrets are masked in its values before
    /// layout, so the tool's own text and the layout are never rewritten;
    /// text formats show control characters written out and long values cut
    /// (see `controls`).
    pub fn render(&self, format: Format, style: Style) -> String {
        if format == Format::Json {
            return controls::masked_json(self);
        }
        match controls::for_display(self) {
            Some(shown) => shown.render_text(format, style),
            // Masking broke the report: lay it out with control characters
            // written out and values capped, then mask the text.
            None => {
                let shown = controls::for_display_unmasked(self);
                let text = shown.render_text(format, style);
                crate::redact::scrub(&text).into_owned()
            }
        }
    }

    fn render_text(&self, format: Format, style: Style) -> String {
        match format {
            Format::Json => self.to_json(),
            Format::Table => table::render(self, style),
            Format::Junit => junit::render(self),
            Format::Markdown => markdown::render(self, style),
            Format::Html => html::render(self),
        }
    }
}

/// How terminal output may look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
    /// Terminal width in columns, when known (a terminal that says 0 does not know).
    pub width: Option<u16>,
    /// Which results get a row (`--show`; table and Markdown).
    pub show: view::Show,
    /// Only what needs attention and the verdict (`--quiet`; table).
    pub quiet: bool,
}

impl Style {
    pub const PLAIN: Style = Style {
        color: false,
        width: None,
        show: view::Show::All,
        quiet: false,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Junit,
    Markdown,
    /// One self-contained page (inline CSS, no scripts) to open in a browser.
    Html,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Format as clap::ValueEnum>::from_str(s, true)
            .map_err(|_| format!("unknown format `{s}`: use table, json, junit, markdown or html"))
    }
}

/// A few words for a result's status, as people say it.
pub fn status_label(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
        Status::Skip => "SKIP",
        Status::Error => "ERROR",
        Status::Waived => "WAIVED",
    }
}

/// Evidence as `key: value` lines, values in compact JSON unless plain text.
pub fn evidence_lines(evidence: &Map<String, Value>) -> Vec<String> {
    evidence
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        })
        .collect()
}
