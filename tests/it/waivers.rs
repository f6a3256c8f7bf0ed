//! Waivers in the target file: an active waiver turns a failure into
//! `waived` in every format and the exit code ignores it; an expired one
//! stops applying and the report says so; a waiver without a justification
//! is a usage error.

use mssql_preflight::finding::Status;
use mssql_preflight::report::Report;
use predicates::prelude::*;

use crate::support::net::closed_port;
use crate::support::preflight;

/// A target whose SQL port is closed (net.tcp.reachable fails), with `waiver`.
fn target_with(waiver: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("target.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nhost = \"127.0.0.1\"\nport = {}\n\n{waiver}",
            closed_port()
        ),
    )
    .unwrap();
    (dir, path)
}

const JUSTIFICATION: &str = "CHG-4711: the firewall change is scheduled for the next window";

fn run(target: &std::path::Path, format: &str) -> (Option<i32>, String) {
    let output = preflight()
        .args([
            "run",
            "--check",
            "net.tcp.reachable",
            "--format",
            format,
            "--target",
        ])
        .arg(target)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

#[test]
fn an_active_waiver_is_reported_as_waived_everywhere_and_does_not_fail_the_run() {
    let (_dir, target) = target_with(&format!(
        "[[waiver]]\nid = \"net.tcp.reachable\"\njustification = \"{JUSTIFICATION}\"\nexpires = 2999-12-31\n"
    ));
    let (code, json) = run(&target, "json");
    assert_eq!(code, Some(0), "{json}");
    let report = Report::from_json(&json).unwrap();
    let result = &report.results[0];
    assert_eq!(result.status, Status::Waived);
    let waiver = result.waiver.as_ref().expect("the waiver is reported");
    assert_eq!(waiver.justification, JUSTIFICATION);
    assert_eq!(waiver.expires.as_deref(), Some("2999-12-31"));
    assert!(!waiver.expired);
    assert_eq!(waiver.verdict, Status::Fail);
    assert_eq!(report.summary.waived, 1);
    assert!(
        result.remediation.is_some(),
        "the fix is still shown for a waived problem"
    );
    // Even when warnings fail the run.
    preflight()
        .args([
            "run",
            "--check",
            "net.tcp.reachable",
            "--fail-on",
            "warn",
            "--target",
        ])
        .arg(&target)
        .assert()
        .code(0);

    for format in ["table", "markdown", "junit", "html"] {
        let (code, text) = run(&target, format);
        assert_eq!(code, Some(0), "{format}: {text}");
        // The table wraps long cells; its ticket number stays on one line.
        let wanted = if format == "table" {
            "CHG-4711"
        } else {
            JUSTIFICATION
        };
        assert!(text.contains(wanted), "{format}: {text}");
        assert!(
            text.to_lowercase().contains("waived"),
            "{format} does not say waived: {text}"
        );
    }
}

#[test]
fn an_expired_waiver_stops_applying_and_the_report_says_it_expired() {
    let (_dir, target) = target_with(&format!(
        "[[waiver]]\nid = \"net.tcp.reachable\"\njustification = \"{JUSTIFICATION}\"\nexpires = 2020-01-31\n"
    ));
    let (code, json) = run(&target, "json");
    assert_eq!(code, Some(1), "{json}");
    let report = Report::from_json(&json).unwrap();
    let result = &report.results[0];
    assert_eq!(result.status, Status::Fail);
    let waiver = result
        .waiver
        .as_ref()
        .expect("the expired waiver is reported");
    assert!(waiver.expired);
    for format in ["table", "markdown", "junit", "html"] {
        let (code, text) = run(&target, format);
        assert_eq!(code, Some(1), "{format}: {text}");
        assert!(
            text.contains("expired") && text.contains("2020-01-31"),
            "{format} does not say the waiver expired: {text}"
        );
    }
}

#[test]
fn a_waiver_without_justification_is_a_usage_error() {
    let (_dir, target) = target_with("[[waiver]]\nid = \"net.tcp.reachable\"\n");
    preflight()
        .args(["run", "--target"])
        .arg(&target)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("target.toml:5:1")
                .and(predicate::str::contains("justification")),
        );
    let (_dir, target) =
        target_with("[[waiver]]\nid = \"net.tcp.reachable\"\njustification = \"  \"\n");
    preflight()
        .args(["run", "--target"])
        .arg(&target)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`justification` is empty"));
}

#[test]
fn a_waiver_must_name_a_check_and_a_date() {
    let (_dir, target) =
        target_with("[[waiver]]\nid = \"net.tcp.reachabel\"\njustification = \"x\"\n");
    preflight()
        .args(["run", "--target"])
        .arg(&target)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "did you mean `net.tcp.reachable`?",
        ));
    let (_dir, target) = target_with(
        "[[waiver]]\nid = \"net.tcp.reachable\"\njustification = \"x\"\nexpires = \"soon\"\n",
    );
    preflight()
        .args(["run", "--target"])
        .arg(&target)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("target.toml:8:11"));
}

#[test]
fn the_json_of_a_waived_run_matches_the_schema() {
    let (_dir, target) = target_with(&format!(
        "[[waiver]]\nid = \"net.tcp.reachable\"\njustification = \"{JUSTIFICATION}\"\n"
    ));
    let (_, json) = run(&target, "json");
    let schema: serde_json::Value =
        serde_json::from_str(mssql_preflight::report::JSON_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(json.contains("\"waiver\""), "{json}");
}
