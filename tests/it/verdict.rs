//! The run's verdict, end to end: for each verdict and exit code, the process
//! exit code, the JSON `verdict` and `exit_code`, the table's last line and
//! the JUnit counts agree — including every case where the gate once said
//! "ready" when it could not tell.

use std::process::{Command, Output, Stdio};

use mssql_emulator::{EmulatorOptions, Scenario};
use mssql_preflight::finding::{SkipKind, Status};
use mssql_preflight::outcome::Verdict;
use mssql_preflight::report::Report;

use crate::support::dns::{TestDns, Zone};
use crate::support::emulator::{TargetToml, TestServer};

/// What one run of the binary produced, in every form a reader meets.
struct Outcome {
    code: i32,
    report: Report,
    /// The table's last line: the headline.
    headline: String,
    junit: Junit,
    stderr: String,
}

#[derive(Debug, PartialEq, Eq)]
struct Junit {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

fn count(xml: &str, attribute: &str) -> usize {
    // quick-junit writes the totals on the root <testsuites> element.
    let root = xml
        .lines()
        .find(|l| l.trim_start().starts_with("<testsuites"))
        .expect("a <testsuites> element");
    let key = format!(" {attribute}=\"");
    let start = root.find(&key).map(|i| i + key.len()).unwrap_or_else(|| {
        panic!("no {attribute} in {root}");
    });
    root[start..]
        .split('"')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

/// Runs `mssql-preflight run` with `args` against the target `toml`, writing
/// the table, JSON and JUnit reports, with `stdin` on standard input.
async fn run(toml: &str, args: &[&str], stdin: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.toml");
    std::fs::write(&target, toml).unwrap();
    let json = dir.path().join("report.json");
    let junit = dir.path().join("junit.xml");
    let table = dir.path().join("report.txt");
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("mssql-preflight"));
    command
        .args(["run", "--timeout", "2s", "--target"])
        .arg(&target)
        .arg("--report")
        .arg(format!("json={}", json.display()))
        .arg("--report")
        .arg(format!("junit={}", junit.display()))
        .arg("--report")
        .arg(format!("table={}", table.display()))
        .args(args)
        .env("NO_COLOR", "1")
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .env_remove("PREFLIGHT_VERDICT_UNSET")
        .env("PREFLIGHT_VERDICT_WRONG", "Not-The-Password-1!")
        .env("PREFLIGHT_VERDICT_PMP", "Pmp-Test-Passw0rd!")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let stdin = stdin.to_owned();
    let output: Output = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("the binary starts");
        use std::io::Write;
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().expect("the binary ends")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let code = output.status.code().expect("an exit code");
    let report = Report::from_json(&std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!("no JSON report (exit {code}): {e}\n{stderr}");
    }))
    .expect("a valid report");
    let headline = std::fs::read_to_string(&table)
        .unwrap()
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_owned();
    let xml = std::fs::read_to_string(&junit).unwrap();
    let junit = Junit {
        tests: count(&xml, "tests"),
        failures: count(&xml, "failures"),
        errors: count(&xml, "errors"),
        skipped: count(&xml, "skipped"),
    };
    Outcome {
        code,
        report,
        headline,
        junit,
        stderr,
    }
}

/// Asserts that every form of the outcome says `verdict`.
#[track_caller]
fn assert_verdict(outcome: &Outcome, verdict: Verdict, words: &str) {
    let context = format!(
        "{}\n{:#?}\n{}",
        outcome.headline,
        outcome
            .report
            .results
            .iter()
            .map(|r| (&r.id, r.status, &r.message))
            .collect::<Vec<_>>(),
        outcome.stderr
    );
    assert_eq!(outcome.report.verdict, verdict, "{context}");
    assert_eq!(outcome.code, verdict.exit_code(), "{context}");
    assert_eq!(outcome.report.exit_code, outcome.code, "{context}");
    assert!(outcome.headline.contains(words), "{context}");
    let headline_starts = match verdict {
        Verdict::Ready => "Ready",
        Verdict::ReadyWithWarnings => "Ready, with warnings",
        Verdict::NotReady => "Not ready",
        Verdict::Incomplete => "Incomplete",
        Verdict::NothingChecked => "Nothing checked",
    };
    assert!(outcome.headline.starts_with(headline_starts), "{context}");
    // JUnit: a CI server colours the job by failures and errors.
    let j = &outcome.junit;
    assert_eq!(j.tests, outcome.report.results.len(), "{context}");
    match verdict {
        Verdict::NotReady => assert!(j.failures > 0, "{j:?} {context}"),
        Verdict::Incomplete => {
            assert_eq!(j.failures, 0, "{j:?} {context}");
            assert!(j.errors > 0, "{j:?} {context}");
        }
        Verdict::Ready | Verdict::ReadyWithWarnings => {
            assert_eq!((j.failures, j.errors), (0, 0), "{j:?} {context}")
        }
        Verdict::NothingChecked => {
            assert_eq!((j.failures, j.errors), (0, 0), "{j:?} {context}");
            assert_eq!(j.skipped, j.tests, "{j:?} {context}");
        }
    }
}

const PMP: &str = "[sql]\nuser = \"pmp\"\npassword_env = \"PREFLIGHT_VERDICT_PMP\"\n";

fn scenario_with_fault(fault: &str) -> Scenario {
    Scenario::from_toml_str(&format!(
        "description = \"healthy but for a login fault\"\nextends = \"sql2022-healthy\"\n\n[fault]\n{fault}\n"
    ))
    .expect("a valid scenario")
}

fn with_pmp_password(toml: &TargetToml) -> String {
    toml.clone()
        .with("[sql]\nuser = \"pmp\"\npassword_env = \"PREFLIGHT_VERDICT_WRONG\"\n")
        .render()
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_when_every_selected_check_passes() {
    let server = TestServer::start_emulated("sql2022-healthy").await;
    let outcome = run(&server.toml(), &["--check", "net.tcp.reachable"], "").await;
    assert_verdict(&outcome, Verdict::Ready, "every check passed");
}

#[tokio::test(flavor = "multi_thread")]
async fn warnings_are_ready_unless_fail_on_warn_and_then_junit_fails_too() {
    let server = TestServer::start_emulated("not-forced").await;
    let only = ["--check", "tls.encryption.forced"];
    let lenient = run(&server.toml(), &only, "").await;
    assert_verdict(
        &lenient,
        Verdict::ReadyWithWarnings,
        "tls.encryption.forced",
    );
    let strict = run(
        &server.toml(),
        &[&only[..], &["--fail-on", "warn"]].concat(),
        "",
    )
    .await;
    assert_verdict(&strict, Verdict::NotReady, "--fail-on warn");
    assert_eq!(strict.junit.failures, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_is_not_ready_and_the_headline_names_it() {
    let server = TestServer::start_emulated("cn-mismatch").await;
    let outcome = run(&server.toml(), &["--check", "tls.cert.hostname"], "").await;
    assert_verdict(&outcome, Verdict::NotReady, "tls.cert.hostname");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unset_password_variable_is_incomplete_not_ready() {
    let server = TestServer::start_emulated("sql2022-healthy").await;
    let toml = server
        .target()
        .in_server("database = \"PassTrix\"")
        .with("[sql]\nuser = \"pmp\"\npassword_env = \"PREFLIGHT_VERDICT_UNSET\"\n")
        .render();
    let outcome = run(&toml, &["--profile", "pmp"], "").await;
    assert_verdict(&outcome, Verdict::Incomplete, "sql.login");
    let login = outcome
        .report
        .results
        .iter()
        .find(|r| r.id == "sql.login")
        .unwrap();
    assert_eq!(login.status, Status::Error);
    assert!(
        login.message.contains("PREFLIGHT_VERDICT_UNSET is not set"),
        "{login:#?}"
    );
    let version = outcome
        .report
        .results
        .iter()
        .find(|r| r.id == "sql.version")
        .unwrap();
    assert_eq!(
        version.skip.as_ref().map(|s| s.kind),
        Some(SkipKind::Blocked)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_browser_without_a_port_is_not_ready() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = TestServer::start_emulated("sql2022-healthy").await;
    let mut target = server.target();
    target.port = 0;
    let toml = target
        .in_server("instance = \"PMP\"")
        .in_server(&format!(
            "browser_port = {}",
            silent.local_addr().unwrap().port()
        ))
        .render()
        .replace("port = 0\n", "");
    let outcome = run(&toml, &["--profile", "pmp"], "").await;
    assert_verdict(&outcome, Verdict::NotReady, "net.browser.instance");
    let blocked = outcome
        .report
        .results
        .iter()
        .filter(|r| r.skip.as_ref().is_some_and(|s| s.kind == SkipKind::Blocked))
        .count();
    assert!(
        blocked > 10,
        "the checks that need the port are blocked: {blocked}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_matched_or_nothing_configured_is_nothing_checked() {
    let server = TestServer::start_emulated("sql2022-healthy").await;
    let none = run(&server.toml(), &["--check", "tls.*", "--skip", "tls.*"], "").await;
    assert_verdict(&none, Verdict::NothingChecked, "no check matched");
    assert_eq!(none.junit.tests, 0);
    let unconfigured = run(
        &server.toml(),
        &["--check", "sql.login", "--check", "share.*"],
        "",
    )
    .await;
    assert_verdict(&unconfigured, Verdict::NothingChecked, "not configured");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_answered_by_done_alone_fails_whatever_its_status_bits() {
    for fault in [
        "kind = \"login-done-only\"",
        "kind = \"login-done-only\"\nerror_bit = true",
    ] {
        let server =
            TestServer::start_scenario(scenario_with_fault(fault), EmulatorOptions::default())
                .await;
        let outcome = run(
            &with_pmp_password(&server.target()),
            &["--check", "sql.login"],
            "",
        )
        .await;
        assert_verdict(&outcome, Verdict::NotReady, "sql.login");
        let login = &outcome.report.results[0];
        assert_eq!(login.status, Status::Fail, "{login:#?}");
        assert!(login.message.contains("LOGINACK"), "{login:#?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_closes_after_the_login_did_receive_it() {
    let server = TestServer::start_scenario(
        scenario_with_fault("kind = \"close-after-login\""),
        EmulatorOptions::default(),
    )
    .await;
    let outcome = run(
        &with_pmp_password(&server.target()),
        &["--check", "sql.login"],
        "",
    )
    .await;
    assert_verdict(&outcome, Verdict::NotReady, "sql.login");
    let login = &outcome.report.results[0];
    assert!(
        login.message.contains("after it received the login"),
        "{login:#?}"
    );
    assert!(!login.message.contains("never sent"), "{login:#?}");
    assert_eq!(
        server.emulator().logins().len(),
        1,
        "the server did get LOGIN7"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_about_the_database_that_cannot_be_read_is_an_error() {
    // A rule over the tool's SQL on purpose: a lying server (SQL Server
    // answers SELECT DB_ID(...) with exactly one row).
    let scenario = Scenario::from_toml_str(
        "description = \"DB_ID answered with no row\"\nextends = \"sql2022-healthy\"\n\n\
         [[rules]]\nname = \"no row\"\npattern = 'DB_ID\\('\n\
         columns = [{ name = \"database_id\", type = \"int\" }, { name = \"has_access\", type = \"int\" }]\n\
         rows = []\n",
    )
    .expect("a valid scenario");
    let server = TestServer::start_scenario(scenario, EmulatorOptions::default()).await;
    let toml = server
        .target()
        .in_server("database = \"PassTrix\"")
        .with(PMP)
        .render();
    let outcome = run(&toml, &["--check", "sql.database"], "").await;
    assert_verdict(&outcome, Verdict::Incomplete, "sql.database");
    let database = &outcome.report.results[0];
    assert_eq!(database.status, Status::Error, "{database:#?}");
    assert!(database.message.contains("0 row(s)"), "{database:#?}");
    assert!(
        !database.message.contains("does not exist"),
        "{database:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn password_stdin_overrides_the_target_files_variable_and_an_empty_one_is_an_error() {
    let server = TestServer::start_emulated("sql2022-healthy").await;
    // The variable holds a wrong password; standard input the right one.
    let toml = with_pmp_password(&server.target());
    let given = run(
        &toml,
        &["--check", "sql.login", "--password-stdin"],
        "Pmp-Test-Passw0rd!\n",
    )
    .await;
    assert_verdict(&given, Verdict::Ready, "every check passed");
    let empty = run(&toml, &["--check", "sql.login", "--password-stdin"], "\n").await;
    assert_verdict(&empty, Verdict::Incomplete, "sql.login");
    assert!(
        empty.report.results[0]
            .message
            .contains("standard input held no password")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_browser_is_asked_at_every_address_the_host_has() {
    // The name has two addresses; only one runs a Browser (the emulator's,
    // bound to 127.0.0.1). Clients ask both; so must the check.
    let server = TestServer::start_with(
        "express-dynamic-port",
        EmulatorOptions {
            browser_port: Some(0),
            ..EmulatorOptions::default()
        },
    )
    .await;
    let browser = server.emulator().browser_addr().expect("a browser");
    let dns = TestDns::start(
        Zone::default()
            .address("sql.preflight.test", "127.0.0.3")
            .address("sql.preflight.test", "127.0.0.1"),
    )
    .await;
    let mut target = server.target();
    target.host = "sql.preflight.test".to_owned();
    let toml = target
        .in_server(&format!("browser_port = {}", browser.port()))
        .in_server("instance = \"SQLEXPRESS\"")
        .with(&format!("[dns]\nnameservers = [\"{}\"]\n", dns.addr))
        .render()
        .replacen(&format!("port = {}\n", server.addr().port()), "", 1);
    let outcome = run(&toml, &["--check", "net.browser.instance"], "").await;
    let browser_check = &outcome.report.results[0];
    assert_eq!(
        browser_check.evidence["asked"].as_array().map(Vec::len),
        Some(2),
        "{browser_check:#?}"
    );
    assert_eq!(
        browser_check.evidence["browser"],
        browser.to_string(),
        "the answer came from the address with a Browser: {browser_check:#?}"
    );
    assert!(
        browser_check.message.contains("listens on"),
        "{browser_check:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_applications_profile_runs_when_none_is_asked_for_and_the_report_says_why() {
    let server = TestServer::start_emulated("sql2022-healthy").await;
    let toml = server
        .target()
        .with("[app]\nkind = \"passwordstate\"\n")
        .render();
    let chosen = run(&toml, &["--check", "net.tcp.reachable"], "").await;
    assert_eq!(chosen.report.profile, "passwordstate");
    assert!(
        chosen.report.profile_reason.contains("[app] kind"),
        "{}",
        chosen.report.profile_reason
    );
    let asked = run(
        &toml,
        &["--check", "net.tcp.reachable", "--profile", "pmp"],
        "",
    )
    .await;
    assert_eq!(asked.report.profile, "pmp");
    assert!(asked.report.profile_reason.contains("--profile"));
    let neither = run(&server.toml(), &["--check", "net.tcp.reachable"], "").await;
    assert_eq!(neither.report.profile, "all");
}
