//! The estate as one self-contained HTML page: the summary table first,
//! then each target's own HTML report (its page's content, under the
//! single-target report's stylesheet). No scripts, no fetches.

use std::fmt::Write;

use quick_xml::escape::escape;

use super::report::EstateReport;
use crate::report::{Format, Style};

pub fn render(estate: &EstateReport) -> String {
    let pages: Vec<String> = estate
        .targets
        .iter()
        .map(|t| t.report.render(Format::Html, Style::PLAIN))
        .collect();
    let style = pages
        .first()
        .and_then(|page| between(page, "<style>", "</style>"))
        .unwrap_or_default();
    let title = format!("mssql-preflight estate report: {}", estate.inventory);
    let mut out = String::with_capacity(pages.iter().map(String::len).sum::<usize>() + 8192);
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{style}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n<p class=\"verdict\" id=\"summary\">{}</p>",
        escape(&title),
        escape(&title),
        escape(estate.headline())
    );
    out.push_str(
        "<table class=\"estate\">\n<thead><tr><th>Target</th><th>Server</th><th>Verdict</th><th>Checks</th><th>First to fix</th></tr></thead>\n<tbody>\n",
    );
    for [name, server, verdict, counts, fix] in estate.summary_rows() {
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#target-{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&name),
            escape(&name),
            escape(&server),
            escape(&verdict),
            escape(&counts),
            escape(&fix)
        );
    }
    out.push_str("</tbody>\n</table>\n</main>\n");
    for (target, page) in estate.targets.iter().zip(&pages) {
        let _ = writeln!(
            out,
            "<section id=\"target-{}\">\n<main>{}</main>\n</section>",
            escape(&target.name),
            between(page, "<main>", "</main>").unwrap_or_default()
        );
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The text between the first `start` and the last `end` of `page`.
fn between<'a>(page: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = page.find(start)? + start.len();
    let to = page.rfind(end)?;
    (from <= to).then(|| &page[from..to])
}
