//! The human report: one table per family, and under each result that did
//! not pass, what was expected, what was found and what to do.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table};

use super::{CheckResult, Report, Style, status_label};
use crate::finding::Status;

pub fn render(report: &Report, style: Style) -> String {
    let mut out = String::new();
    out.push_str(&heading(report));
    for (family, results) in report.by_family() {
        out.push_str(&format!("\n{}\n", family.title()));
        let mut table = Table::new();
        table
            .load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(vec!["Status", "Check", "Result"]);
        if let Some(width) = style.width {
            table.set_width(width);
        } else {
            table.set_width(120);
        }
        if style.color {
            table.enforce_styling();
        } else {
            table.force_no_tty();
        }
        for result in results {
            table.add_row(vec![
                status_cell(result.status, style.color),
                Cell::new(&result.id),
                Cell::new(details(result)),
            ]);
        }
        out.push_str(&table.to_string());
        out.push('\n');
    }
    out.push_str(&format!("\n{}\n", report.headline()));
    out
}

fn heading(report: &Report) -> String {
    let t = &report.target;
    let mut line = format!(
        "mssql-preflight {} — {} (profile {})",
        report.tool.version,
        t.server_line(),
        report.profile
    );
    if let Some(db) = &t.database {
        line.push_str(&format!(", database {db}"));
    }
    if report.attempts > 1 {
        line.push_str(&format!(", {} attempts", report.attempts));
    }
    line.push('\n');
    line
}

fn status_cell(status: Status, color: bool) -> Cell {
    let cell = Cell::new(status_label(status));
    if !color {
        return cell;
    }
    let color = match status {
        Status::Pass => Color::Green,
        Status::Warn => Color::Yellow,
        Status::Fail | Status::Error => Color::Red,
        Status::Skip | Status::Waived => Color::DarkGrey,
    };
    cell.fg(color).add_attribute(Attribute::Bold)
}

fn details(result: &CheckResult) -> String {
    let mut lines = vec![result.title.clone(), result.message.clone()];
    if result.status != Status::Pass {
        if let Some(expected) = &result.expected {
            lines.push(format!("expected: {expected}"));
        }
        if let Some(actual) = &result.actual {
            lines.push(format!("actual:   {actual}"));
        }
        if let Some(fix) = &result.remediation {
            lines.push(format!("fix: {fix}"));
        }
    }
    if let Some(waiver) = &result.waiver {
        lines.push(waiver.describe());
    }
    for note in &result.notes {
        lines.push(format!("note: {note}"));
    }
    lines.retain(|l| !l.is_empty());
    lines.join("\n")
}
