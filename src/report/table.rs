//! The human report: a table per family of the checks that ran, the skipped
//! checks once per cause, then what needs attention (each check with the
//! first step of its fix) and the verdict — the last lines a reader sees.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Attribute, Cell, Color, ColumnConstraint, ContentArrangement, Table};

use super::view::{self, Attention, SkipGroup};
use super::{CheckResult, Report, Style, status_label};
use crate::finding::Status;

/// The width used when the terminal's is unknown (not a terminal, or one
/// that reports 0 columns).
const DEFAULT_WIDTH: u16 = 120;
/// Narrower than this, a table cannot hold a status, an id and a word.
const NARROWEST: u16 = 40;

pub fn render(report: &Report, style: Style) -> String {
    let width = style
        .width
        .filter(|w| *w > 0)
        .unwrap_or(DEFAULT_WIDTH)
        .max(NARROWEST);
    let mut out = String::new();
    if !style.quiet {
        out.push_str(&view::wrap(&heading(report), usize::from(width), "  "));
        out.push('\n');
        for (family, results) in report.by_family() {
            let rows: Vec<&CheckResult> = results
                .into_iter()
                .filter(|r| view::has_row(r, style.show))
                .collect();
            if rows.is_empty() {
                continue;
            }
            out.push_str(&format!("\n{}\n", family.title()));
            out.push_str(&checks_table(&rows, width, style.color));
            out.push('\n');
        }
        let groups = view::shown_groups(report, style.show);
        if !groups.is_empty() {
            out.push_str("\nSkipped\n");
            for group in &groups {
                out.push_str(&skip_group(group, usize::from(width)));
            }
        }
    }
    let attention = view::attention(report);
    if !attention.is_empty() {
        out.push_str("\nNeeds attention\n");
        for item in &attention {
            out.push_str(&attention_line(item, usize::from(width), style.color));
        }
    }
    // One line, however long: scripts read the last line.
    out.push_str(&format!("\n{}\n", report.headline()));
    out
}

fn checks_table(rows: &[&CheckResult], width: u16, color: bool) -> String {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["Status", "Check", "Result"])
        .set_width(width);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    for result in rows {
        table.add_row(vec![
            status_cell(result.status, color),
            Cell::new(&result.id),
            Cell::new(details(result)),
        ]);
    }
    // Only the result column wraps: an id is never cut mid-word.
    for index in 0..2 {
        if let Some(column) = table.column_mut(index) {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    table.to_string()
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
    line.push_str(&format!(
        ", {} in {}",
        view::timestamp(&report.started_at),
        view::duration(report.duration_ms)
    ));
    line
}

fn status_cell(status: Status, color: bool) -> Cell {
    let cell = Cell::new(status_label(status));
    if !color {
        return cell;
    }
    cell.fg(status_color(status)).add_attribute(Attribute::Bold)
}

fn status_color(status: Status) -> Color {
    match status {
        Status::Pass => Color::Green,
        Status::Warn => Color::Yellow,
        Status::Fail | Status::Error => Color::Red,
        Status::Skip | Status::Waived => Color::DarkGrey,
    }
}

fn details(result: &CheckResult) -> String {
    let mut lines = vec![result.title.clone(), result.message.clone()];
    lines.extend(
        view::detail_lines(result)
            .iter()
            .flat_map(view::Detail::text_lines),
    );
    lines.retain(|l| !l.is_empty());
    lines.join("\n")
}

fn skip_group(group: &SkipGroup, width: usize) -> String {
    let mut text = format!("• {}", group.headline());
    if group.matters() {
        text.push_str(&format!(".\n{}", group.reason));
    } else {
        text.push_str(&format!(": {}", group.reason));
    }
    text.push_str(&format!("\n{}", group.ids().join(", ")));
    format!("{}\n", view::wrap(&text, width, "  "))
}

fn attention_line(item: &Attention, width: usize, color: bool) -> String {
    const INDENT: &str = "       ";
    let status = status_label(item.result.status);
    let mut text = format!("{} — {}", item.result.id, item.first_step);
    if item.steps > 1 {
        text.push_str(&format!(" (step 1 of {})", item.steps));
    }
    let label = if color {
        let code = match status_color(item.result.status) {
            Color::Red => 31,
            Color::Yellow => 33,
            _ => 90,
        };
        format!("\x1b[1;{code}m{status:<6}\x1b[0m")
    } else {
        format!("{status:<6}")
    };
    format!(
        "{label} {}\n",
        view::wrap_from(&text, INDENT.len(), width, INDENT)
    )
}
