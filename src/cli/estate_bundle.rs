//! `bundle --inventory`: one zip for the estate — the estate reports at its
//! top, and a folder per target holding that target's own bundle.

use std::collections::HashMap;

use super::args::BundleArgs;
use super::bundle::user_packs;
use super::estate::{PreparedEstate, prepare, report};
use super::output::check_writable;
use super::usage_error;
use crate::bundle::environment::Environment;
use crate::bundle::log::LogCapture;
use crate::bundle::target_file::{self, CommandLine};
use crate::bundle::{self as support, Inputs, Members};
use crate::estate::{EstateReport, TargetReport};
use crate::report::{Format, Style};

/// The estate bundle's own members, besides one folder per target.
const LAYOUT: &[(&str, &str)] = &[
    ("README.txt", "this list, and the estate's verdict"),
    (
        "estate.json",
        "the estate report (schema mssql-preflight/estate-report/v1)",
    ),
    ("estate.md", "the estate report in Markdown: summary first"),
    (
        "estate.html",
        "the estate report as one self-contained page",
    ),
    ("junit.xml", "JUnit XML, one test suite per target"),
    (
        "debug.log",
        "the whole run's log at debug level, every target",
    ),
    (
        "NAME/",
        "each target's own bundle, as `mssql-preflight bundle` writes it (its debug.log points to the one above)",
    ),
];

pub fn bundle(args: BundleArgs, log: LogCapture) -> i32 {
    let prepared = match prepare(&args.run) {
        Ok(p) => p,
        Err(message) => return usage_error(message),
    };
    let now = time::OffsetDateTime::now_utc();
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| support::default_path("estate", now));
    if let Err(message) = check_writable(&output) {
        return usage_error(message);
    }
    let packs = match user_packs(&args.run) {
        Ok(p) => p,
        Err(message) => return usage_error(message),
    };
    let gathered = gather_per_target(&prepared);
    let (estate, folders) =
        super::estate::execute_keeping(prepared, args.run.quiet, |member, run| {
            let (environment, target_toml) =
                gathered.get(&member.name).cloned().unwrap_or_default();
            let mut members = support::collect(
                &run,
                Inputs {
                    environment,
                    target_toml,
                    debug_log: Vec::new(),
                    packs: packs.clone(),
                },
            );
            members.add(
                "debug.log",
                "The run's log covers every target of the estate: ../debug.log\n",
            );
            (member.name.clone(), members)
        });
    if let Err(message) = report(&estate, &args.run) {
        return usage_error(message);
    }
    let zip = estate_members(&estate, folders, log.contents());
    if let Err(message) = support::write_zip(&zip, &output, now) {
        return usage_error(message);
    }
    eprintln!(
        "Estate bundle written to {} ({} targets, {} files). Secrets are replaced by <redacted>; open estate.html in it first.",
        output.display(),
        estate.targets.len(),
        zip.paths().count()
    );
    estate.exit_code
}

/// Each target's environment and redacted target file, gathered before the
/// runtime starts threads (the local time zone is only readable before).
/// A target's target.toml is its own settings (for an inventory file, its
/// [[target]] table with the defaults merged in), not the whole inventory.
fn gather_per_target(prepared: &PreparedEstate) -> HashMap<String, (serde_json::Value, String)> {
    prepared
        .members
        .iter()
        .map(|member| {
            let environment =
                serde_json::to_value(Environment::gather(&member.target)).unwrap_or_default();
            let source = format!(
                "Target `{}` of the inventory {}",
                member.name,
                member
                    .target
                    .origin
                    .as_deref()
                    .map_or_else(String::new, |p| p.display().to_string())
            );
            let toml =
                target_file::redacted_text(&member.target_toml, &source, &CommandLine::default());
            (member.name.clone(), (environment, toml))
        })
        .collect()
}

fn estate_members(
    estate: &EstateReport,
    folders: Vec<(String, Members)>,
    debug_log: Vec<u8>,
) -> Members {
    let mut zip = Members::default();
    let mut readme = format!(
        "mssql-preflight estate bundle\n\n{}\n\nContents:\n",
        estate.headline()
    );
    for (path, what) in LAYOUT {
        readme.push_str(&format!("  {path:<12} {what}\n"));
    }
    readme.push_str("\nTargets:\n");
    for TargetReport { name, report, .. } in &estate.targets {
        readme.push_str(&format!(
            "  {name}/  {} — {}\n",
            report.target.server_line(),
            report.verdict
        ));
    }
    zip.add("README.txt", readme);
    zip.add("estate.json", estate.render(Format::Json, Style::PLAIN));
    zip.add("estate.md", estate.render(Format::Markdown, Style::PLAIN));
    zip.add("estate.html", estate.render(Format::Html, Style::PLAIN));
    zip.add("junit.xml", estate.render(Format::Junit, Style::PLAIN));
    zip.add("debug.log", debug_log);
    for (name, members) in folders {
        zip.extend_under(&name, members);
    }
    zip
}
