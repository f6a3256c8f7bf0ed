//! Rendering any report in any format: no control character that came from
//! the data reaches the output (text formats write them out, JSON escapes
//! them), and the output grows linearly with the report's text.

use mssql_preflight::report::{Format, Report, Style};
use proptest::prelude::*;

const FORMATS: [Format; 5] = [
    Format::Table,
    Format::Json,
    Format::Junit,
    Format::Markdown,
    Format::Html,
];

/// A report whose every text field comes from `t` (eight strings).
fn report_with(t: &[String]) -> Report {
    let result = |status: &str, i: usize| {
        serde_json::json!({
            "id": format!("check.{i}"), "title": t[0], "family": "sql", "status": status,
            "severity": "fail", "message": t[1], "expected": t[2], "actual": t[3],
            "remediation": t[4], "evidence": { t[5].clone(): t[6], "list": [t[7], 1] },
            "notes": [t[7]], "waiver": null, "duration_ms": 3
        })
    };
    let skipped = |kind: &str, i: usize| {
        let mut r = result("skip", i);
        r["skip"] = serde_json::json!({ "kind": kind, "by": [t[2]], "reason": t[5] });
        r
    };
    let json = serde_json::json!({
        "schema": "mssql-preflight/report/v1",
        "tool": { "name": "mssql-preflight", "version": t[0] },
        "target": {
            "file": t[1], "host": t[2], "port": 1433, "instance": t[3], "database": t[4],
            "expected_tls_name": t[5], "trust_server_certificate": false,
            "sql_user": t[6], "backup_user": t[7], "backup_destination": t[0], "app": null
        },
        "profile": t[1], "profile_reason": t[3], "started_at": t[2], "duration_ms": 5, "attempts": 1,
        "fail_on": "fail", "verdict": "not_ready", "exit_code": 1,
        "summary": { "total": 5, "pass": 1, "warn": 0, "fail": 1, "skip": 2, "error": 1, "waived": 0 },
        "results": [
            result("pass", 0), result("fail", 1), result("error", 2),
            // Skip reasons reach the grouped skips of every format.
            skipped("not_configured", 3), skipped("blocked", 4),
        ],
    });
    serde_json::from_value(json).expect("the test's report is a report")
}

fn unwanted(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_control_character_from_the_data_reaches_any_format(
        texts in prop::collection::vec(any::<String>(), 8),
        controls in prop::collection::vec(prop::char::range('\u{0}', '\u{9f}'), 8),
    ) {
        // Every field also gets a control character for certain.
        let texts: Vec<String> = texts
            .iter()
            .zip(&controls)
            .map(|(text, c)| format!("{text}{c}\u{1b}[2J\r"))
            .collect();
        let report = report_with(&texts);
        for format in FORMATS {
            let out = report.render(format, Style::PLAIN);
            let found = out.chars().find(|c| unwanted(*c));
            prop_assert!(found.is_none(), "{format:?} carries {found:?}");
        }
    }

    #[test]
    fn output_grows_linearly_with_the_reports_text(
        text in "[a-z<>&|\\n\u{1b}\u{9b}\"' ]{0,64}",
        copies in 1usize..64,
    ) {
        let small = report_with(&vec![text.clone(); 8]);
        let large = report_with(&vec![text.repeat(copies); 8]);
        let input = (text.len() * 8).max(1);
        for format in FORMATS {
            let base = small.render(format, Style::PLAIN).len();
            let grown = large.render(format, Style::PLAIN).len().saturating_sub(base);
            // Each input byte costs a bounded number of output bytes (an
            // escape is at most 8, and a text appears a few times); in a
            // table a line break costs a row, as wide as the table.
            let per_byte = if format == Format::Table { 256 } else { 64 };
            prop_assert!(
                grown <= per_byte * input * copies,
                "{format:?}: {grown} more bytes for {} more input bytes",
                input * (copies - 1)
            );
        }
    }
}

/// A server that puts terminal escape sequences and other control
/// characters in an error message, its version (the edition `sql.version`
/// reports, and `@@VERSION`) and its certificate's names: no format carries one of them raw, the text
/// formats show them written out, and JSON keeps every character (escaped).
#[tokio::test(flavor = "multi_thread")]
async fn control_characters_a_server_sends_reach_no_format_raw() {
    use crate::support::accounts::Passwords;
    use crate::support::emulator::TestServer;
    use mssql_emulator::{EmulatorOptions, Scenario};

    // ESC ] 0 ; … BEL sets a window title, ESC [ 2 J clears the screen,
    // CSI (U+009B) is the one-byte form some terminals obey, CR overwrites.
    // The backupset rule is a lying server on purpose: SQL Server's own
    // 229 text carries no control characters.
    let scenario = Scenario::from_toml_str(
        r#"
description = "a server whose texts carry control characters"
extends = "sql2022-healthy"

[server]
version_string = "Microsoft SQL Server 2022\u001B]0;pwned\u0007\u001B[2J - 16.0.4135.4\r\u009B31m"

[server.properties]
Edition = "Standard Edition\u001B]0;pwned\u0007 (64-bit)\u001B[2J"

[tls]
certificate_names = ["sql01\u001B[2J.corp.example.com", "localhost", "127.0.0.1"]

[[rules]]
pattern = '(?s)msdb\.dbo\.backupset'
errors = [
    { number = 229, class = 14, state = 5, text = "The SELECT permission was denied\u001B[31m\u001B]0;title\u0007\u0000\r\u0085 on backupset." },
]
"#,
    )
    .expect("a valid scenario");
    let server = TestServer::start_scenario(scenario, EmulatorOptions::default()).await;
    let passwords = Passwords::new();
    let toml = server
        .target()
        .trusting_server_certificate()
        .in_server("database = \"PassTrix\"")
        .with(&passwords.sql("pmp", "Pmp-Test-Passw0rd!"))
        .render();
    let report = crate::support::run(
        &toml,
        &["tls.cert.hostname", "sql.version", "sql.backup.recent"],
    )
    .await;
    // The run saw each hostile text (else the test proves nothing).
    let json = report.to_json();
    for hostile in ["\\u001b[2J.corp", "\\u001b]0;pwned", "\\u001b]0;title"] {
        assert!(json.contains(hostile), "no {hostile:?} in {json}");
    }
    for format in FORMATS {
        let out = report.render(format, Style::PLAIN);
        let found = out.chars().find(|c| unwanted(*c));
        assert!(found.is_none(), "{format:?} carries {found:?}:\n{out}");
        if format != Format::Json {
            assert!(
                out.contains("\\u{1b}"),
                "{format:?} shows no escape written out:\n{out}"
            );
        }
    }
    // JSON keeps the server's text whole (escaped by JSON).
    let parsed: serde_json::Value =
        serde_json::from_str(&report.render(Format::Json, Style::PLAIN)).unwrap();
    assert!(parsed.to_string().contains("\\u001b]0;title"), "{parsed}");
}
