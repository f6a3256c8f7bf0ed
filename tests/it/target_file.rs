//! The example target file loads, and the tool's policy settings apply.

use std::time::Duration;

use mssql_preflight::engine::EngineOptions;
use mssql_preflight::finding::Status;
use mssql_preflight::target::{Credential, SecretInputs, Target, TargetOverrides};

use crate::support::net::{FilteredPort, closed_port};
use crate::support::{assert_status, run, run_with};

#[test]
fn the_example_target_loads() {
    let dir = tempfile::tempdir().unwrap();
    let example = dir.path().join("target.toml");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/target.toml"),
        &example,
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("certs")).unwrap();
    let root = rcgen::generate_simple_self_signed(vec!["corp-root".to_owned()]).unwrap();
    std::fs::write(dir.path().join("certs/corp-root.pem"), root.cert.pem()).unwrap();
    std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
    let secret = dir.path().join("secrets/pback.txt");
    std::fs::write(&secret, "example-backup-password\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();

    let target = Target::load(
        Some(&example),
        &TargetOverrides::default(),
        SecretInputs::default(),
    )
    .expect("the example target loads");
    assert_eq!(target.server.host, "sql01.corp.example.com");
    assert_eq!(target.server.instance.as_deref(), Some("PMP"));
    assert_eq!(
        target.tls.ca_file.unwrap(),
        dir.path().join("certs/corp-root.pem")
    );
    let backup = target.backup.account.unwrap();
    assert_eq!(backup.user, "CORP\\pback");
    assert!(matches!(backup.password, Credential::Given(_)));
    let catalog = mssql_preflight::catalog::Catalog::builtin().unwrap();
    let target = Target::load(
        Some(&example),
        &TargetOverrides::default(),
        SecretInputs::default(),
    )
    .unwrap();
    catalog
        .validate_target(&target)
        .expect("its check settings are valid");
}

#[tokio::test]
async fn a_severity_override_turns_a_failure_into_a_warning() {
    let toml = format!(
        "[server]\nhost = \"127.0.0.1\"\nport = {}\n[checks.\"net.tcp.reachable\"]\nseverity = \"warn\"\n",
        closed_port()
    );
    let report = run(&toml, &["net.tcp.reachable"]).await;
    let r = assert_status(&report, "net.tcp.reachable", Status::Warn);
    assert_eq!(r.severity, mssql_preflight::finding::Severity::Warn);
}

#[tokio::test]
async fn the_run_deadline_ends_a_slow_check_in_error() {
    let filtered = FilteredPort::new();
    let mut options = EngineOptions::default();
    options.settings.timeout = Duration::from_secs(30);
    options.deadline = Duration::from_millis(300);
    let toml = format!(
        "[server]\nhost = \"127.0.0.1\"\nport = {}\n",
        filtered.addr.port()
    );
    let report = run_with(&toml, &["net.tcp.reachable"], options).await;
    let r = assert_status(&report, "net.tcp.reachable", Status::Error);
    assert!(r.message.contains("deadline"), "{}", r.message);
}

#[tokio::test]
async fn retrying_waits_for_a_server_that_comes_up() {
    // Reserve a port, then start listening on it only after the first attempt.
    let port = closed_port();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(listener);
    });
    let mut options = EngineOptions::default();
    options.settings.timeout = Duration::from_secs(1);
    options.retry_timeout = Some(Duration::from_secs(10));
    options.retry_interval = Duration::from_millis(300);
    let toml = format!("[server]\nhost = \"127.0.0.1\"\nport = {port}\n");
    let report = run_with(&toml, &["net.tcp.reachable"], options).await;
    assert_status(&report, "net.tcp.reachable", Status::Pass);
    assert!(report.attempts > 1, "attempts: {}", report.attempts);
    late.abort();
}

#[tokio::test]
async fn retrying_gives_up_when_the_window_closes() {
    let options = EngineOptions {
        retry_timeout: Some(Duration::from_millis(900)),
        retry_interval: Duration::from_millis(200),
        ..EngineOptions::default()
    };
    let toml = format!("[server]\nhost = \"127.0.0.1\"\nport = {}\n", closed_port());
    let report = run_with(&toml, &["net.tcp.reachable"], options).await;
    assert_status(&report, "net.tcp.reachable", Status::Fail);
    assert!(report.attempts >= 2, "attempts: {}", report.attempts);
}
