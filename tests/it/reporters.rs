//! Every reporter snapshot-tested on one shared sample report, and the JSON
//! report validated against its published schema.

use mssql_preflight::report::{Format, JSON_SCHEMA, Report, Style};

use crate::support::preflight;

const SAMPLE: &str = include_str!("../data/sample-report.json");

fn sample() -> Report {
    Report::from_json(SAMPLE).expect("the sample is a valid report")
}

fn schema() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(JSON_SCHEMA).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

#[track_caller]
fn assert_valid(json: &str) {
    let value: serde_json::Value = serde_json::from_str(json).expect("JSON");
    let validator = schema();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
}

#[test]
fn table() {
    insta::assert_snapshot!(sample().render(Format::Table, Style::PLAIN));
}

#[test]
fn table_uses_colour_only_when_asked() {
    let plain = sample().render(Format::Table, Style::PLAIN);
    assert!(!plain.contains('\u{1b}'), "escape codes in a plain table");
    let coloured = sample().render(
        Format::Table,
        Style {
            color: true,
            ..Style::PLAIN
        },
    );
    assert!(
        coloured.contains('\u{1b}'),
        "no escape codes in a coloured table"
    );
}

#[test]
fn markdown() {
    insta::assert_snapshot!(sample().render(Format::Markdown, Style::PLAIN));
}

#[test]
fn junit() {
    insta::assert_snapshot!(sample().render(Format::Junit, Style::PLAIN));
}

#[test]
fn json_round_trips_and_matches_the_schema() {
    let json = sample().render(Format::Json, Style::PLAIN);
    assert_valid(&json);
    assert_eq!(Report::from_json(&json).unwrap(), sample());
    insta::assert_snapshot!(json);
}

#[test]
fn the_schema_rejects_what_it_should() {
    let mut value: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
    value["results"][0]["status"] = "maybe".into();
    assert!(
        !schema().is_valid(&value),
        "an unknown status passed the schema"
    );
}

#[test]
fn the_json_of_a_real_run_matches_the_schema() {
    let port = crate::support::net::closed_port().to_string();
    let output = preflight()
        .args([
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_valid(&String::from_utf8(output.stdout).unwrap());
}

#[test]
fn the_schema_command_prints_the_published_schema() {
    let output = preflight().arg("schema").output().unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), JSON_SCHEMA);
}

#[test]
fn html() {
    insta::assert_snapshot!(sample().render(Format::Html, Style::PLAIN));
}
