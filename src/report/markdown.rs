//! A Markdown report to paste into a ticket: summary first, then what needs
//! attention with its fix as numbered steps, the checks that ran in one
//! table, and the skipped checks once per cause. Every text from the report
//! is escaped so CommonMark shows it as written (`\\server\share`, `<…>`,
//! `*`, `_`, backticks).

use super::view::{self, Detail, Show};
use super::{Report, Style, evidence_lines, status_label};

pub fn render(report: &Report, style: Style) -> String {
    let t = &report.target;
    let mut out = format!("# mssql-preflight report: {}\n\n", text(&t.host));
    out.push_str(&format!("**{}**\n\n", text(&report.headline())));
    out.push_str("| | |\n|---|---|\n");
    let mut facts = report.target_rows();
    facts.push(("Started", view::timestamp(&report.started_at)));
    facts.push(("Duration", view::duration(report.duration_ms)));
    facts.push((
        "Tool",
        format!("{} {}", report.tool.name, report.tool.version),
    ));
    for (k, v) in facts {
        out.push_str(&format!("| {k} | {} |\n", text(&v)));
    }

    let attention = view::attention(report);
    if !attention.is_empty() {
        out.push_str("\n## Needs attention\n");
        for item in attention {
            let r = item.result;
            out.push_str(&format!(
                "\n### {} {} — {}\n\n{}\n",
                status_label(r.status),
                code(&r.id),
                text(&r.title),
                text(&r.message)
            ));
            for detail in &view::detail_lines(r) {
                out.push_str(&detail_item(detail));
            }
            let evidence = evidence_lines(&r.evidence);
            if !evidence.is_empty() {
                out.push_str("\n\n<details><summary>Evidence</summary>\n\n");
                out.push_str(&fenced(&evidence.join("\n")));
                out.push_str("\n</details>");
            }
            out.push('\n');
        }
    }

    let heading = match style.show {
        Show::All => "All checks that ran",
        Show::Fails => "Checks that need attention",
    };
    let mut table = String::new();
    for (_, results) in report.by_family() {
        for r in results.into_iter().filter(|r| view::has_row(r, style.show)) {
            table.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                status_label(r.status),
                code(&r.id),
                r.family,
                text(&r.message)
            ));
        }
    }
    if !table.is_empty() {
        out.push_str(&format!(
            "\n## {heading}\n\n| Status | Check | Family | Result |\n|---|---|---|---|\n{table}"
        ));
    }

    let groups = view::shown_groups(report, style.show);
    if !groups.is_empty() {
        out.push_str("\n## Skipped\n\n");
        for group in groups {
            let ids: Vec<String> = group.ids().into_iter().map(code).collect();
            out.push_str(&format!(
                "- **{}:** {}<br>{}\n",
                text(&group.headline()),
                text(&group.reason),
                ids.join(", ")
            ));
        }
    }
    out
}

/// A detail as a list item; a fix of several steps as an ordered list
/// nested in it.
fn detail_item(detail: &Detail) -> String {
    let label = detail.label();
    match detail {
        Detail::Expected(t) | Detail::Actual(t) | Detail::Note(t) => {
            format!("\n- {label}: {}", text(t))
        }
        Detail::Waiver(t) => format!("\n- **{label}:** {}", text(t)),
        Detail::Fix(steps) => match steps.as_slice() {
            [one] => format!("\n- **{label}:** {}", text(one)),
            many => {
                let mut item = format!("\n- **{label}:**");
                for (n, step) in many.iter().enumerate() {
                    item.push_str(&format!("\n  {}. {}", n + 1, text(step)));
                }
                item
            }
        },
    }
}

/// Text as CommonMark shows it, with its `code spans` (how the checks
/// write names and commands) as code spans and everything else literal.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (is_code, part) in view::code_spans(s) {
        if is_code {
            out.push_str(&code(part));
        } else {
            out.push_str(&literal(part, out.is_empty()));
        }
    }
    out
}

/// Text CommonMark shows exactly as written, on one line (a line break is
/// `<br>`, which table cells and list items both accept). `at_start`: the
/// text opens a line, where list and heading markers count.
fn literal(s: &str, at_start: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut line_start = at_start;
    // Digits opening a line: a `.` or `)` and a space after them make an
    // ordered list.
    let mut leading_digits = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                out.push_str("<br>");
                line_start = true;
                continue;
            }
            '0'..='9' if line_start || leading_digits => {
                out.push(c);
                leading_digits = true;
                line_start = false;
                continue;
            }
            '.' | ')' if leading_digits && chars.peek().is_none_or(|n| *n == ' ') => {
                out.push('\\');
                out.push(c);
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '&' | '!' => {
                out.push('\\');
                out.push(c);
            }
            // A list, heading rule or ordered-list marker only counts at
            // the start of a line.
            '-' | '+' | '=' if line_start => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
        line_start = false;
        leading_digits = false;
    }
    out
}

/// An inline code span whose fence is longer than any run of backticks in
/// `s` (CommonMark's rule), so the span cannot end early.
fn code(s: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(s) + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", s.replace('\n', " "))
}

/// A fenced code block that the text cannot close.
fn fenced(s: &str) -> String {
    let fence = "`".repeat((longest_backtick_run(s) + 1).max(3));
    format!("{fence}\n{s}\n{fence}\n")
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_shown_literally() {
        assert_eq!(
            text(r"\\nas\share <b>*x*</b> _y_ `z` a|b ` c"),
            r"\\\\nas\\share \<b\>\*x\*\</b\> \_y\_ `z` a\|b \` c"
        );
        assert_eq!(text("set `a`b``"), "set `a`b\\`\\`");
        assert_eq!(text("- a\n# b"), r"\- a<br>\# b");
        assert_eq!(text("12. x 3. y\n4) z 1.2"), r"12\. x 3. y<br>4\) z 1.2");
        assert_eq!(text("1.2 s"), "1.2 s");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(fenced("x\n````\ny"), "`````\nx\n````\ny\n`````\n");
    }
}
