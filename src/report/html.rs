//! One self-contained HTML page: summary, what needs attention with its fix,
//! and a row per check with its evidence. Inline CSS only — no scripts, no
//! fetches (a Content-Security-Policy forbids them too), so the page opens
//! from a support bundle on any machine. Every text from the report is
//! escaped: evidence can hold what a hostile server sent.

use std::fmt::Write;

use crate::outcome::Verdict;

use super::view;
use super::{CheckResult, Report, evidence_lines, status_label};
use crate::finding::Status;

const STYLE: &str = r#"
:root { color-scheme: light; --pass:#1a7f37; --warn:#9a6700; --fail:#cf222e; --skip:#57606a; --error:#8250df; --waived:#0969da; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 8px; }
h2 { font-size: 19px; margin: 32px 0 12px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 20px 0 8px; }
code, pre { font: 13px/1.45 ui-monospace, SFMono-Regular, Consolas, "Liberation Mono", monospace; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 12px; white-space: pre-wrap; word-break: break-word; margin: 6px 0; }
.verdict { font-size: 18px; font-weight: 600; padding: 12px 16px; border-radius: 6px; border-left: 6px solid var(--skip); background: #fff; }
.verdict.fail { border-color: var(--fail); } .verdict.warn { border-color: var(--warn); }
.verdict.error { border-color: var(--error); } .verdict.pass { border-color: var(--pass); }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; vertical-align: top; padding: 6px 10px; border: 1px solid #d0d7de; }
th { background: #eaeef2; }
table.facts { width: auto; margin-top: 12px; } table.facts th { font-weight: 600; }
.counts { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 8px; margin: 12px 0 0; }
.counts li { background: #fff; border: 1px solid #d0d7de; border-radius: 999px; padding: 2px 12px; }
.badge { display: inline-block; min-width: 64px; text-align: center; font-weight: 700; font-size: 12px; color: #fff; border-radius: 4px; padding: 2px 6px; }
.badge.pass { background: var(--pass); } .badge.warn { background: var(--warn); } .badge.fail { background: var(--fail); }
.badge.skip { background: var(--skip); } .badge.error { background: var(--error); } .badge.waived { background: var(--waived); }
article { background: #fff; border: 1px solid #d0d7de; border-left: 6px solid var(--skip); border-radius: 6px; padding: 8px 16px; margin: 12px 0; }
article.fail { border-left-color: var(--fail); } article.warn { border-left-color: var(--warn); }
article.error { border-left-color: var(--error); } article.waived { border-left-color: var(--waived); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 8px 0; }
dt { font-weight: 600; } dd { margin: 0; }
.fix { background: #fff8c5; border-radius: 4px; padding: 2px 6px; }
.fix ol { margin: 0; padding-left: 22px; }
ul.attention { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 16px 8px 16px; list-style: none; }
ul.attention li { margin: 4px 0; }
ul.skipped li { margin: 6px 0; }
.muted, td div.detail { color: #57606a; }
td.time { white-space: nowrap; text-align: right; }
footer { margin-top: 32px; color: #57606a; font-size: 13px; }
@media print { body { background: #fff; } details { display: block; } }
"#;

pub fn render(report: &Report) -> String {
    let t = &report.target;
    let mut out = String::with_capacity(16 * 1024);
    let title = format!("mssql-preflight report: {}", t.host);
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>",
        esc(&title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        out,
        "<p class=\"verdict {}\" id=\"summary\">{}</p>",
        verdict_class(report),
        inline(&report.headline())
    );
    // What to do comes before anything else, one line per check, so it is
    // on the first screen.
    let attention = view::attention(report);
    if !attention.is_empty() {
        out.push_str("<h2 id=\"attention\">Needs attention</h2>\n<ul class=\"attention\">\n");
        for item in &attention {
            let r = item.result;
            let _ = writeln!(
                out,
                "<li><span class=\"badge {}\">{}</span> <a href=\"#check-{}\"><code>{}</code></a> — {}{}</li>",
                r.status.as_str(),
                status_label(r.status),
                esc(&r.id),
                esc(&r.id),
                inline(&item.first_step),
                if item.steps > 1 {
                    format!(" <span class=\"muted\">(step 1 of {})</span>", item.steps)
                } else {
                    String::new()
                }
            );
        }
        out.push_str("</ul>\n");
    }
    summary_table(&mut out, report);
    counts(&mut out, report);

    if !attention.is_empty() {
        out.push_str("<h2 id=\"details\">What was found, and how to fix it</h2>\n");
        for item in &attention {
            attention_item(&mut out, item.result);
        }
    }

    out.push_str("<h2 id=\"all\">All checks that ran</h2>\n");
    for (family, results) in report.by_family() {
        let rows: Vec<&CheckResult> = results
            .into_iter()
            .filter(|r| view::has_row(r, view::Show::All))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<h3>{}</h3>", esc(family.title()));
        out.push_str(
            "<table class=\"checks\">\n<thead><tr><th>Status</th><th>Check</th><th>Result</th><th>Time</th></tr></thead>\n<tbody>\n",
        );
        for r in rows {
            check_row(&mut out, r);
        }
        out.push_str("</tbody>\n</table>\n");
    }
    skipped(&mut out, report);
    let _ = writeln!(
        out,
        "<footer>Written by {} {}. Status meanings: pass, warn and fail are verdicts about the server; \
         skip means the check did not apply or a prerequisite failed; error means it could not run; \
         waived is a warning or failure the target file accepts.</footer>\n</main>\n</body>\n</html>",
        esc(&report.tool.name),
        esc(&report.tool.version)
    );
    out
}

/// The skipped checks, once per cause.
fn skipped(out: &mut String, report: &Report) {
    let groups = view::skip_groups(report);
    if groups.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"skipped\">Skipped</h2>\n<ul class=\"skipped\">\n");
    for group in groups {
        let ids: Vec<String> = group
            .ids()
            .into_iter()
            .map(|id| format!("<code id=\"check-{}\">{}</code>", esc(id), esc(id)))
            .collect();
        let _ = writeln!(
            out,
            "<li><strong>{}</strong>: {}<br>{}</li>",
            esc(&group.headline()),
            inline(&group.reason),
            ids.join(", ")
        );
    }
    out.push_str("</ul>\n");
}

/// The headline's colour: the verdict's, never a count of statuses.
fn verdict_class(report: &Report) -> &'static str {
    match report.verdict {
        Verdict::NotReady => "fail",
        Verdict::Incomplete => "error",
        Verdict::ReadyWithWarnings => "warn",
        Verdict::Ready => "pass",
        Verdict::NothingChecked => "skip",
    }
}

fn summary_table(out: &mut String, report: &Report) {
    let t = &report.target;
    let mut rows = report.target_rows();
    if let Some(user) = &t.sql_user {
        rows.push(("Application account", user.clone()));
    }
    if let Some(user) = &t.backup_user {
        rows.push(("Backup account", user.clone()));
    }
    if let Some(dest) = &t.backup_destination {
        rows.push(("Backup destination", dest.clone()));
    }
    if let Some(file) = &t.file {
        rows.push(("Target file", file.clone()));
    }
    rows.push(("Started", view::timestamp(&report.started_at)));
    rows.push((
        "Duration",
        format!(
            "{} in {} attempt{}",
            view::duration(report.duration_ms),
            report.attempts,
            if report.attempts == 1 { "" } else { "s" }
        ),
    ));
    out.push_str("<table class=\"facts\">\n");
    for (k, v) in rows {
        let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    out.push_str("</table>\n");
}

fn counts(out: &mut String, report: &Report) {
    out.push_str("<ul class=\"counts\">\n");
    let _ = writeln!(out, "<li>{} checks</li>", report.summary.total);
    for status in Status::ALL {
        let n = report.summary.count(status);
        if n > 0 {
            let _ = writeln!(
                out,
                "<li><span class=\"badge {}\">{}</span> {n}</li>",
                status.as_str(),
                status_label(status)
            );
        }
    }
    out.push_str("</ul>\n");
}

fn attention_item(out: &mut String, r: &CheckResult) {
    let _ = writeln!(
        out,
        "<article class=\"{}\" id=\"check-{}\">\n<h3><span class=\"badge {}\">{}</span> <code>{}</code> — {}</h3>\n<p>{}</p>",
        r.status.as_str(),
        esc(&r.id),
        r.status.as_str(),
        status_label(r.status),
        esc(&r.id),
        esc(&r.title),
        inline(&r.message)
    );
    let details = view::detail_lines(r);
    if !details.is_empty() {
        out.push_str("<dl>\n");
        for detail in &details {
            let _ = writeln!(
                out,
                "<dt>{}</dt><dd class=\"{}\">{}</dd>",
                detail.label(),
                detail_class(detail),
                detail_html(detail)
            );
        }
        out.push_str("</dl>\n");
    }
    evidence(out, r, true);
    out.push_str("</article>\n");
}

fn check_row(out: &mut String, r: &CheckResult) {
    let _ = write!(
        out,
        "<tr class=\"{}\"><td><span class=\"badge {}\">{}</span></td><td><code>{}</code></td><td><strong>{}</strong><br>{}",
        r.status.as_str(),
        r.status.as_str(),
        status_label(r.status),
        esc(&r.id),
        esc(&r.title),
        inline(&r.message)
    );
    for detail in &view::detail_lines(r) {
        let _ = write!(
            out,
            "<div class=\"{}\">{}: {}</div>",
            detail_class(detail),
            detail.label(),
            detail_html(detail)
        );
    }
    evidence(out, r, false);
    let _ = writeln!(
        out,
        "</td><td class=\"time\">{}</td></tr>",
        view::duration(r.duration_ms)
    );
}

fn evidence(out: &mut String, r: &CheckResult, open: bool) {
    let lines = evidence_lines(&r.evidence);
    if lines.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<details{}><summary>Evidence</summary><pre>{}</pre></details>",
        if open { " open" } else { "" },
        esc(&lines.join("\n"))
    );
}

/// A detail's text; a fix of one step as text, of several as an ordered list.
fn detail_html(detail: &view::Detail) -> String {
    use view::Detail;
    match detail {
        Detail::Expected(t) | Detail::Actual(t) | Detail::Waiver(t) | Detail::Note(t) => inline(t),
        Detail::Fix(steps) => match steps.as_slice() {
            [one] => inline(one),
            many => {
                let items: String = many
                    .iter()
                    .map(|s| format!("<li>{}</li>", inline(s)))
                    .collect();
                format!("<ol>{items}</ol>")
            }
        },
    }
}

/// The class that styles a detail: fixes stand out, the rest is muted in rows.
fn detail_class(detail: &view::Detail) -> &'static str {
    match detail {
        view::Detail::Fix(_) => "fix",
        _ => "detail",
    }
}

/// Text escaped, with its `code spans` shown as code (the checks write
/// names and commands that way).
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (code, part) in view::code_spans(text) {
        if code {
            let _ = write!(out, "<code>{}</code>", esc(part));
        } else {
            out.push_str(&esc(part));
        }
    }
    out
}

/// Text safe in HTML element content and quoted attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{esc, inline};

    #[test]
    fn code_spans_render_as_code() {
        assert_eq!(
            inline("set `destination` under [backup] <x>"),
            "set <code>destination</code> under [backup] &lt;x&gt;"
        );
        assert_eq!(inline("a `b` c `d"), "a <code>b</code> c `d");
        assert_eq!(inline("`"), "`");
    }

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
