//! A Markdown report to paste into a ticket: summary first, then what needs
//! attention with its fix, then everything else in one table.

use super::{Report, evidence_lines, status_label};

pub fn render(report: &Report) -> String {
    let t = &report.target;
    let mut out = format!("# mssql-preflight report: {}\n\n", t.host);
    out.push_str(&format!("**{}**\n\n", report.headline()));
    out.push_str("| | |\n|---|---|\n");
    let mut facts = report.target_rows();
    facts.push(("Started", report.started_at.clone()));
    facts.push(("Duration", format!("{} ms", report.duration_ms)));
    facts.push((
        "Tool",
        format!("{} {}", report.tool.name, report.tool.version),
    ));
    for (k, v) in facts {
        out.push_str(&format!("| {k} | {} |\n", cell(&v)));
    }

    let attention = report.needing_attention();
    if !attention.is_empty() {
        out.push_str("\n## Needs attention\n");
        for r in attention {
            out.push_str(&format!(
                "\n### {} `{}` — {}\n\n{}\n",
                status_label(r.status),
                r.id,
                r.title,
                r.message
            ));
            if let Some(e) = &r.expected {
                out.push_str(&format!("\n- Expected: {e}"));
            }
            if let Some(a) = &r.actual {
                out.push_str(&format!("\n- Actual: {a}"));
            }
            if let Some(fix) = &r.remediation {
                out.push_str(&format!("\n- **Fix:** {fix}"));
            }
            if let Some(waiver) = &r.waiver {
                out.push_str(&format!("\n- **Waiver:** {}", waiver.describe()));
            }
            for note in &r.notes {
                out.push_str(&format!("\n- Note: {note}"));
            }
            let evidence = evidence_lines(&r.evidence);
            if !evidence.is_empty() {
                out.push_str("\n\n<details><summary>Evidence</summary>\n\n```\n");
                out.push_str(&evidence.join("\n"));
                out.push_str("\n```\n\n</details>");
            }
            out.push('\n');
        }
    }

    out.push_str("\n## All checks\n\n| Status | Check | Family | Result |\n|---|---|---|---|\n");
    for (_, results) in report.by_family() {
        for r in results {
            out.push_str(&format!(
                "| {} | `{}` | {} | {} |\n",
                status_label(r.status),
                r.id,
                r.family,
                cell(&r.message)
            ));
        }
    }
    out
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "<br>")
}
