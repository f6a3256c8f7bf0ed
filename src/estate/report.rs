//! The estate report: every target's single-target report, and the
//! estate's verdict — the worst target's. Rendered summary first (one row
//! per target: verdict, counts, the first thing to fix), then each target
//! as its own report says it; the single-target formats are reused, never
//! re-derived.

use std::collections::BTreeMap;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, ContentArrangement, Table};
use serde::{Deserialize, Serialize};

use crate::finding::Status;
use crate::outcome::{Effect, Verdict};
use crate::report::{Format, Report, Style, ToolInfo, status_label};

pub const ESTATE_SCHEMA_ID: &str = "mssql-preflight/estate-report/v1";
/// The JSON Schema of [`EstateReport`], as documented in `docs/estate-report.schema.json`.
pub const ESTATE_JSON_SCHEMA: &str = include_str!("../../docs/estate-report.schema.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EstateReport {
    pub schema: String,
    pub tool: ToolInfo,
    /// The inventory file or folder the targets came from.
    pub inventory: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: u64,
    /// The worst target's verdict.
    pub verdict: Verdict,
    /// The worst target's exit code (or the interrupting signal's).
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted_by: Option<String>,
    /// How many targets reached each verdict (every verdict named, zeros too).
    pub verdicts: BTreeMap<String, usize>,
    /// One single-target report per target, in inventory order.
    pub targets: Vec<TargetReport>,
}

/// A target's report (schema `mssql-preflight/report/v1`) with the target's
/// inventory name and tags beside its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub report: Report,
}

impl EstateReport {
    pub fn new(
        inventory: String,
        started_at: time::OffsetDateTime,
        duration_ms: u64,
        targets: Vec<TargetReport>,
    ) -> EstateReport {
        let worst = targets
            .iter()
            .max_by_key(|t| t.report.verdict.rank())
            .map(|t| &t.report);
        let verdict = worst.map_or(Verdict::NothingChecked, |r| r.verdict);
        let exit_code = worst.map_or(verdict.exit_code(), |r| r.exit_code);
        let interrupted_by = targets.iter().find_map(|t| t.report.interrupted_by.clone());
        let exit_code = match interrupted_by {
            Some(_) => targets
                .iter()
                .find(|t| t.report.interrupted_by.is_some())
                .map_or(exit_code, |t| t.report.exit_code),
            None => exit_code,
        };
        let verdicts = Verdict::ALL
            .iter()
            .map(|v| {
                let n = targets.iter().filter(|t| t.report.verdict == *v).count();
                (v.as_str().to_owned(), n)
            })
            .collect();
        EstateReport {
            schema: ESTATE_SCHEMA_ID.to_owned(),
            tool: ToolInfo::current(),
            inventory,
            started_at: started_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| started_at.to_string()),
            duration_ms,
            verdict,
            exit_code,
            interrupted_by,
            verdicts,
            targets,
        }
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("reports serialise");
        text.push('\n');
        text
    }

    pub fn from_json(text: &str) -> Result<EstateReport, String> {
        let report: EstateReport = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if report.schema != ESTATE_SCHEMA_ID {
            return Err(format!(
                "unsupported report schema `{}` (expected `{ESTATE_SCHEMA_ID}`)",
                report.schema
            ));
        }
        Ok(report)
    }

    pub fn target(&self, name: &str) -> Option<&TargetReport> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// The estate's last line: its verdict and how many targets reached each.
    pub fn headline(&self) -> String {
        let words = match self.verdict {
            Verdict::Ready => "Estate ready",
            Verdict::ReadyWithWarnings => "Estate ready, with warnings",
            Verdict::NotReady => "Estate not ready",
            Verdict::Incomplete => "Estate incomplete: the tool could not tell for every target",
            Verdict::NothingChecked => "Nothing checked",
        };
        let mut by_rank = Verdict::ALL;
        by_rank.sort_by_key(|v| std::cmp::Reverse(v.rank()));
        let mut parts = Vec::new();
        for verdict in by_rank {
            let names: Vec<&str> = self
                .targets
                .iter()
                .filter(|t| t.report.verdict == verdict)
                .map(|t| t.name.as_str())
                .collect();
            if names.is_empty() {
                continue;
            }
            let shown = if names.len() <= 4 {
                names.join(", ")
            } else {
                format!("{} and {} more", names[..4].join(", "), names.len() - 4)
            };
            parts.push(format!("{} {} ({shown})", names.len(), verdict.as_str()));
        }
        let mut line = format!(
            "{words} — {} targets: {}",
            self.targets.len(),
            parts.join("; ")
        );
        if let Some(signal) = &self.interrupted_by {
            line = format!("Interrupted ({signal}): only part of the checks finished. {line}");
        }
        line
    }

    /// The report in `format`, scrubbed of every registered secret.
    pub fn render(&self, format: Format, style: Style) -> String {
        let text = match format {
            Format::Json => self.to_json(),
            Format::Table => self.table(style),
            Format::Junit => super::junit::render(self),
            Format::Markdown => self.markdown(),
            Format::Html => super::html::render(self),
        };
        crate::redact::scrub(&text).into_owned()
    }

    /// One row per target: name, server, verdict, counts, first to fix.
    pub fn summary_rows(&self) -> Vec<[String; 5]> {
        self.targets
            .iter()
            .map(|t| {
                [
                    t.name.clone(),
                    t.report.target.server_line(),
                    t.report.verdict.as_str().to_owned(),
                    counts(&t.report),
                    first_to_fix(&t.report).unwrap_or_default(),
                ]
            })
            .collect()
    }

    fn table(&self, style: Style) -> String {
        let mut out = format!(
            "mssql-preflight {} — {} targets from {}\n\n",
            self.tool.version,
            self.targets.len(),
            self.inventory
        );
        let mut table = Table::new();
        table
            .load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(vec![
                "Target",
                "Server",
                "Verdict",
                "Checks",
                "First to fix",
            ])
            .set_width(style.width.unwrap_or(140));
        if style.color {
            table.enforce_styling();
        } else {
            table.force_no_tty();
        }
        for row in self.summary_rows() {
            table.add_row(row.map(|c| Cell::new(printable(&c))));
        }
        out.push_str(&table.to_string());
        out.push('\n');
        for target in &self.targets {
            let attention = target.report.needing_attention();
            if attention.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "\n── {} ({}): {}\n",
                target.name,
                printable(&target.report.target.server_line()),
                printable(&target.report.headline())
            ));
            for result in attention {
                out.push_str(&format!(
                    "  {:<6} {}: {}\n",
                    status_label(result.status),
                    result.id,
                    printable(&result.message)
                ));
                if let Some(fix) = &result.remediation {
                    out.push_str(&format!("         fix: {}\n", printable(fix)));
                }
                if let Some(waiver) = &result.waiver {
                    out.push_str(&format!("         {}\n", printable(&waiver.describe())));
                }
            }
        }
        out.push_str(&format!("\n{}\n", self.headline()));
        out
    }

    fn markdown(&self) -> String {
        let mut out = format!(
            "# mssql-preflight estate report: {}\n\n**{}**\n\n| Target | Server | Verdict | Checks | First to fix |\n|---|---|---|---|---|\n",
            self.inventory,
            self.headline()
        );
        for row in self.summary_rows() {
            let cells: Vec<String> = row
                .iter()
                .map(|c| c.replace('|', "\\|").replace('\n', "<br>"))
                .collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        for target in &self.targets {
            out.push_str(&format!("\n## Target `{}`\n\n", target.name));
            out.push_str(&demote_headings(
                &target.report.render(Format::Markdown, Style::PLAIN),
            ));
        }
        out
    }
}

/// "12 pass, 1 warn, 2 fail": the statuses that occur, in status order.
fn counts(report: &Report) -> String {
    Status::ALL
        .iter()
        .map(|&s| (s, report.summary.count(s)))
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first thing to fix: a failure before a check that could not run
/// before a warning, as the verdict weighs them; `id: message`.
pub fn first_to_fix(report: &Report) -> Option<String> {
    let decision = report.decision();
    let pairs: Vec<_> = report.results.iter().zip(&decision.effects).collect();
    let rank = |effect: &Effect| match effect {
        Effect::Fails => Some(0),
        e if e.is_unexplained() => Some(1),
        Effect::Holds { warned: true } => Some(2),
        _ => None,
    };
    pairs
        .iter()
        .filter_map(|(r, e)| rank(e).map(|k| (k, r)))
        .min_by_key(|(k, _)| *k)
        .map(|(_, r)| format!("{}: {}", r.id, r.message))
}

/// Markdown headings two levels deeper (outside code fences), so a
/// target's report sits under the estate's `## Target` heading for it.
fn demote_headings(markdown: &str) -> String {
    let mut fenced = false;
    let mut out = String::with_capacity(markdown.len() + 64);
    for line in markdown.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && line.starts_with('#') {
            out.push_str("##");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Control characters from the data shown, never acted on by a terminal.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
