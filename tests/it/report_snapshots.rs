//! The human formats of real runs against emulated personalities, as a
//! reader sees them: the table at 80 and 120 columns and at width 0
//! (unknown), Markdown, HTML and JUnit. What changes from run to run (the
//! port, temporary paths, times, certificate fingerprints) is replaced by a
//! placeholder; evidence is left out (the sample report's snapshots in
//! `reporters.rs` show it).

use mssql_preflight::catalog::Catalog;
use mssql_preflight::engine::EngineOptions;
use mssql_preflight::report::{Format, Report, Style};
use mssql_preflight::selection::Selection;

use crate::support::accounts::Passwords;
use crate::support::emulator::TestServer;
use crate::support::run_selected;

struct Personality {
    scenario: &'static str,
    profile: &'static str,
    database: &'static str,
    sql: (&'static str, &'static str),
    backup: (&'static str, &'static str),
}

const PMP: Personality = Personality {
    scenario: "",
    profile: "pmp",
    database: "PassTrix",
    sql: ("pmp", "Pmp-Test-Passw0rd!"),
    backup: ("pback", "Pback-Test-Passw0rd!"),
};

async fn report_of(p: Personality) -> Report {
    let server = TestServer::start_emulated(p.scenario).await;
    let passwords = Passwords::new();
    let toml = server
        .target()
        .in_server(&format!("database = \"{}\"", p.database))
        .with(&passwords.sql(p.sql.0, p.sql.1))
        .with(&passwords.backup(p.backup.0, p.backup.1, None))
        .render();
    let catalog = Catalog::builtin().expect("built-in catalog");
    let selection = Selection {
        profile: Some(p.profile.to_owned()),
        ..Selection::default()
    };
    let mut options = EngineOptions::default();
    // Generous: a check that times out on a loaded machine would change the
    // snapshot, and nothing in these personalities is meant to stall.
    options.settings.timeout = std::time::Duration::from_secs(10);
    let mut report = run_selected(&toml, &catalog, &selection, &options)
        .await
        .report;
    report.started_at = "2026-11-23T09:30:00Z".to_owned();
    report.target.file = Some("target.toml".to_owned());
    report.duration_ms = 1234;
    for r in &mut report.results {
        r.duration_ms = 0;
        r.evidence.clear();
    }
    report.target.port = Some(1433);
    let replacements = vec![
        (server.addr().port().to_string(), "PORT".to_owned()),
        (server.ca_file.display().to_string(), "CA_FILE".to_owned()),
    ];
    // Replaced in the values, before layout, so widths do not move.
    let mut value = serde_json::to_value(&report).unwrap();
    stabilise(&mut value, &replacements);
    serde_json::from_value(value).unwrap()
}

fn stabilise(value: &mut serde_json::Value, replacements: &[(String, String)]) {
    match value {
        serde_json::Value::String(text) => *text = stable(text, replacements),
        serde_json::Value::Array(items) => {
            for item in items {
                stabilise(item, replacements);
            }
        }
        serde_json::Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                stabilise(item, replacements);
            }
        }
        _ => {}
    }
}

/// `text` with the run's own values replaced, and times and durations
/// that move with the clock written as placeholders.
fn stable(text: &str, replacements: &[(String, String)]) -> String {
    let mut text = text.to_owned();
    for (from, to) in replacements {
        text = text.replace(from, to);
    }
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // RFC 3339 times: 2027-12-06T09:00:14Z
        if chars.len() - i >= 20 && is_timestamp(&chars[i..i + 20]) {
            out.push_str("<time>");
            i += 20;
            continue;
        }
        // A count before a unit that moves with the clock.
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) {
            let end = (i..chars.len())
                .find(|&j| !(chars[j].is_ascii_digit() || chars[j] == '.'))
                .unwrap_or(chars.len());
            let rest: String = chars[end..chars.len().min(end + 6)].iter().collect();
            if [" ms", " day", " hour", " minute", " s ahe", " s beh"]
                .iter()
                .any(|unit| rest.starts_with(unit))
            {
                out.push('N');
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    // The emulator shares this machine's clock, so the measured offset is
    // a few milliseconds either way: its direction moves like its size.
    out.replace("N s behind", "N s ahead of")
}

fn is_timestamp(c: &[char]) -> bool {
    let digit = |i: usize| c[i].is_ascii_digit();
    (0..4).all(digit)
        && c[4] == '-'
        && digit(5)
        && digit(6)
        && c[7] == '-'
        && digit(8)
        && digit(9)
        && c[10] == 'T'
        && digit(11)
        && c[13] == ':'
        && c[16] == ':'
        && c[19] == 'Z'
}

fn width(columns: u16) -> Style {
    Style {
        width: Some(columns),
        ..Style::PLAIN
    }
}

async fn snapshots(name: &str, p: Personality) {
    let report = report_of(p).await;
    let shown = |format: Format, style: Style| report.render(format, style);
    let table_120 = shown(Format::Table, width(120));
    insta::assert_snapshot!(format!("{name}_table_80"), shown(Format::Table, width(80)));
    insta::assert_snapshot!(format!("{name}_table_120"), table_120);
    // A terminal that reports 0 columns does not know its width.
    assert_eq!(shown(Format::Table, width(0)), table_120);
    insta::assert_snapshot!(
        format!("{name}_markdown"),
        shown(Format::Markdown, Style::PLAIN)
    );
    insta::assert_snapshot!(format!("{name}_html"), shown(Format::Html, Style::PLAIN));
    insta::assert_snapshot!(format!("{name}_junit"), shown(Format::Junit, Style::PLAIN));
    for columns in [80, 120] {
        let table = shown(Format::Table, width(columns));
        // Every line fits but the verdict, which stays one line for scripts.
        let lines: Vec<&str> = table.trim_end().lines().collect();
        for line in &lines[..lines.len() - 1] {
            assert!(
                unicode_width::UnicodeWidthStr::width(*line) <= usize::from(columns),
                "wider than {columns}: {line}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy() {
    snapshots(
        "healthy",
        Personality {
            scenario: "sql2022-healthy",
            ..PMP
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cn_mismatch() {
    snapshots(
        "cn_mismatch",
        Personality {
            scenario: "cn-mismatch",
            ..PMP
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn self_signed_fallback() {
    snapshots(
        "self_signed_fallback",
        Personality {
            scenario: "self-signed-fallback",
            ..PMP
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_rds() {
    snapshots(
        "aws_rds",
        Personality {
            scenario: "aws-rds",
            profile: "passwordstate",
            database: "Passwordstate",
            sql: ("pstate", "Pstate-Test-Passw0rd!"),
            backup: ("pback", "Pback-Test-Passw0rd!"),
        },
    )
    .await;
}
