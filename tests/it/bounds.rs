//! A server that answers our queries without end — one endless value,
//! endless rows, endless messages — is cut off at the answer limits: the
//! check reports `error` saying what was received, quickly, and the
//! process's memory stays small. The run is a child process, so its peak
//! resident memory (VmHWM) is its own.

use std::process::Stdio;
use std::time::{Duration, Instant};

use mssql_emulator::{EmulatorOptions, Scenario};

use crate::support::accounts::Passwords;
use crate::support::emulator::TestServer;

/// Well above what a run needs (about 30 MB), far below what an unbounded
/// answer grows to before the timeout (2 GB for an endless value).
const PEAK_RSS_LIMIT_KB: u64 = 200 * 1024;

/// Runs `sql.version` against a server with `fault`; returns the check's
/// result and the child's peak RSS in kB.
async fn run_against(fault: &str) -> (serde_json::Value, u64) {
    run_against_scenario(
        fault,
        &format!(
            "description = \"endless answers\"\nextends = \"sql2022-healthy\"\n[fault]\nkind = \"{fault}\"\n"
        ),
    )
    .await
}

async fn run_against_scenario(fault: &str, toml: &str) -> (serde_json::Value, u64) {
    let scenario = Scenario::from_toml_str(toml).expect("the test's scenario is valid");
    let server = TestServer::start_scenario(scenario, EmulatorOptions::default()).await;
    let passwords = Passwords::new();
    let toml = server
        .target()
        .with(&passwords.sql("pmp", "Pmp-Test-Passw0rd!"))
        .render();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.toml");
    std::fs::write(&target, toml).unwrap();
    // A long timeout, so only the answer limits can end the query quickly.
    let mut child = tokio::process::Command::new(assert_cmd::cargo::cargo_bin("mssql-preflight"))
        .args([
            "run",
            "--check",
            "sql.version",
            "--timeout",
            "60s",
            "--format",
            "json",
            "--target",
        ])
        .arg(&target)
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary runs");
    let status = format!("/proc/{}/status", child.id().unwrap());
    let started = Instant::now();
    let mut peak_kb = 0;
    // VmHWM only grows: its last reading before the exit is the peak.
    while child.try_wait().unwrap().is_none() {
        if let Some(kb) = std::fs::read_to_string(&status)
            .ok()
            .and_then(|s| peak_of(&s))
        {
            peak_kb = kb;
        }
        assert!(
            started.elapsed() < Duration::from_secs(50),
            "{fault}: the run did not end within 50 s (peak so far {peak_kb} kB)"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let output = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{fault}: no report ({e}): {stdout}"));
    (report["results"][0].clone(), peak_kb)
}

fn peak_of(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn assert_cut_off(fault: &str, words: &str) {
    assert_result_cut_off(fault, words, run_against(fault).await);
}

fn assert_result_cut_off(fault: &str, words: &str, (result, peak_kb): (serde_json::Value, u64)) {
    eprintln!("{fault}: peak RSS {peak_kb} kB");
    assert_eq!(result["status"], "error", "{fault}: {result:#}");
    let message = result["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("larger than any answer to this query can be") && message.contains(words),
        "{fault}: {message}"
    );
    assert!(peak_kb > 0, "{fault}: the peak was read");
    assert!(
        peak_kb < PEAK_RSS_LIMIT_KB,
        "{fault}: peak RSS {peak_kb} kB"
    );
}

#[tokio::test]
async fn an_endless_value_is_cut_off() {
    assert_cut_off("endless-value", "more than 16777216 bytes").await;
}

#[tokio::test]
async fn endless_rows_are_cut_off() {
    assert_cut_off("endless-rows", "more than").await;
}

#[tokio::test]
async fn endless_messages_are_cut_off() {
    assert_cut_off("endless-messages", "more than 16777216 bytes").await;
}

#[tokio::test]
async fn an_oversized_value_is_refused() {
    // 2 MiB of text where a version number belongs: within the byte limit,
    // past the limit for one value. A rule over the tool's SQL on purpose:
    // a lying server (SQL Server's ProductVersion is a short version).
    let scenario = format!(
        "description = \"oversized value\"\nextends = \"sql2022-healthy\"\n[[rules]]\npattern = 'ProductVersion'\ncolumns = [{{ name = \"ProductVersion\", type = \"varchar(max)\" }}]\nrows = [[\"{}\"]]\n",
        "9".repeat(2 * 1024 * 1024)
    );
    let outcome = run_against_scenario("oversized value", &scenario).await;
    assert_result_cut_off(
        "oversized value",
        "a value of 2097152 bytes in column `ProductVersion` (at most 1048576 expected)",
        outcome,
    );
}
