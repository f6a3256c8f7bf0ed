//! The CI recipe of docs/ci.md, end to end: the tool starts before the
//! database (an emulated SQL Server that comes up late on a reserved port),
//! waits with `--retry-timeout`, gates with `--fail-on warn`, accepts the
//! disposable server's certificate through waivers, and writes JUnit.

use std::process::Command;
use std::time::Duration;

use mssql_emulator::{Emulator, EmulatorOptions, Scenario};
use mssql_preflight::finding::Status;
use mssql_preflight::report::Report;

use crate::support::net::closed_port;

#[tokio::test(flavor = "multi_thread")]
async fn the_ci_recipe_waits_for_a_late_server_and_judges_every_check_on_it() {
    let port = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("preflight.toml");
    std::fs::write(
        &target,
        format!(
            "[server]\nhost = \"127.0.0.1\"\nport = {port}\n\n\
             [tls]\ntrust_server_certificate = true\n\n\
             [[waiver]]\nid = \"tls.cert.chain\"\n\
             justification = \"CI: the disposable server's CA is not installed here\"\n"
        ),
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("report.json");
    let args: Vec<String> = vec![
        "run".into(),
        "--target".into(),
        target.display().to_string(),
        "--check".into(),
        "net.*".into(),
        "--check".into(),
        "tls.*".into(),
        "--timeout".into(),
        "1s".into(),
        "--retry-timeout".into(),
        "30s".into(),
        "--fail-on".into(),
        "warn".into(),
        "--report".into(),
        format!("junit={}", junit.display()),
        "--report".into(),
        format!("json={}", json.display()),
    ];
    let run = tokio::task::spawn_blocking(move || {
        Command::new(assert_cmd::cargo::cargo_bin("mssql-preflight"))
            .args(&args)
            .env("MSSQL_PREFLIGHT_LOG", "off")
            .output()
            .unwrap()
    });
    // The database container is still starting when the job's check begins.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let emulator = Emulator::start(
        Scenario::builtin("sql2022-healthy").unwrap(),
        EmulatorOptions {
            tds_port: port,
            ..EmulatorOptions::default()
        },
    )
    .await
    .expect("the emulator takes the reserved port");
    let output = run.await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");

    let report = Report::from_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report.attempts > 1, "attempts: {}", report.attempts);
    let status = |id: &str| {
        report
            .results
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no {id}"))
            .status
    };
    assert_eq!(status("net.tcp.reachable"), Status::Pass);
    // Checks that skipped while the port was closed were judged again.
    assert_eq!(status("tls.handshake"), Status::Pass);
    assert_eq!(status("tls.encryption.forced"), Status::Pass);
    assert_eq!(status("tls.cert.chain"), Status::Waived);
    assert_eq!(
        report.summary.fail + report.summary.warn + report.summary.error,
        0
    );

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("name=\"tls.handshake\""), "{xml}");
    assert!(xml.contains("CI: the disposable server"), "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");
    emulator.shutdown().await;
}
