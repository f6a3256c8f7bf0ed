//! `list`, `explain` and `render`: describing checks and saved reports.

use std::fmt::Write;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde::Serialize;

use super::args::{ListArgs, ListFormat, PackArgs};
use super::output::print;
use super::usage_error;
use crate::catalog::Catalog;
use crate::exit;
use crate::registry::CheckMeta;
use crate::report::{Format, Report, Style};
use crate::suggest::did_you_mean;

#[derive(Serialize)]
struct ListedCheck<'a> {
    #[serde(flatten)]
    meta: &'a CheckMeta,
    profiles: Vec<&'a str>,
}

pub fn list(args: ListArgs) -> i32 {
    let catalog = match Catalog::load(&args.packs.checks_dirs) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    super::print_load_warnings(&catalog);
    let profile = match &args.profile {
        Some(name) => match catalog.profiles.get(name) {
            Some(p) => Some(p),
            None => {
                return usage_error(format!(
                    "no profile `{name}`{}",
                    did_you_mean(name, catalog.profiles.names())
                ));
            }
        },
        None => None,
    };
    let mut listed: Vec<ListedCheck> = catalog
        .registry
        .iter()
        .map(|c| c.meta())
        .filter(|m| profile.is_none_or(|p| p.includes(&m.id)))
        .map(|meta| ListedCheck {
            meta,
            profiles: catalog.profiles.containing(&meta.id),
        })
        .collect();
    listed.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
    match args.format {
        ListFormat::Json => {
            let json = serde_json::to_string_pretty(&listed).expect("metadata serialises");
            print(&format!("{json}\n"));
        }
        ListFormat::Table => {
            let mut table = Table::new();
            table
                .load_style(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(120)
                .force_no_tty()
                .set_header(vec!["Check", "Severity", "Profiles", "Title"]);
            for c in &listed {
                let mut title = c.meta.title.to_string();
                if c.meta.intrusive {
                    title.push_str(" (intrusive: only with --intrusive)");
                }
                table.add_row(vec![
                    c.meta.id.to_string(),
                    c.meta.severity.to_string(),
                    c.profiles.join(", "),
                    title,
                ]);
            }
            print(&format!(
                "{table}\n{} checks. `mssql-preflight explain ID` tells more.\n",
                listed.len()
            ));
        }
    }
    exit::OK
}

pub fn explain(id: &str, packs: &PackArgs) -> i32 {
    let catalog = match Catalog::load(&packs.checks_dirs) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    super::print_load_warnings(&catalog);
    let Some(check) = catalog.registry.get(id) else {
        return usage_error(format!(
            "no check has the id `{id}`{}; `mssql-preflight list` shows them all",
            did_you_mean(id, catalog.registry.ids())
        ));
    };
    let m = check.meta();
    let profiles = catalog.profiles.containing(id);
    let mut text = String::new();
    let _ = writeln!(text, "{} — {}\n", m.id, m.title);
    let _ = writeln!(text, "Family:    {}", m.family.title());
    let _ = writeln!(
        text,
        "Severity:  {} (a target file can override it)",
        m.severity
    );
    let _ = writeln!(
        text,
        "Profiles:  {}",
        if profiles.is_empty() {
            "all only".to_owned()
        } else {
            format!("{}, all", profiles.join(", "))
        }
    );
    if m.intrusive {
        text.push_str("Intrusive: yes — it changes the target and runs only with --intrusive\n");
    }
    text.push('\n');
    // Pack checks quote their query, which spans lines: keep it indented.
    let indent = |text: &str| {
        text.trim_end()
            .lines()
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("  {l}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let _ = writeln!(text, "What it checks:\n{}\n", indent(&m.checks));
    let _ = writeln!(text, "Why it matters:\n{}\n", indent(&m.why));
    let _ = writeln!(text, "How to fix:\n{}\n", indent(&m.fix));
    let _ = writeln!(text, "Vendor guide:\n{}", indent(&m.guide));
    if !m.params.is_empty() {
        let _ = writeln!(text, "\nSettings ([checks.\"{}\"] in a target file):", m.id);
        for p in &m.params {
            let _ = writeln!(text, "  {} = {}  — {}", p.name, p.default, p.help);
        }
    }
    print(&text);
    exit::OK
}

pub fn render(path: &std::path::Path, format: Format) -> i32 {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return usage_error(format!("cannot read {}: {e}", path.display())),
    };
    if let Ok(estate) = crate::estate::EstateReport::from_json(&text) {
        print(&estate.render(format, Style::PLAIN));
        return exit::OK;
    }
    match Report::from_json(&text) {
        Ok(report) => {
            print(&report.render(format, Style::PLAIN));
            exit::OK
        }
        Err(e) => usage_error(format!(
            "{} is not a mssql-preflight report: {e}",
            path.display()
        )),
    }
}
