//! sql.* checks, net.browser.instance and share.sql-can-write against the
//! emulator: every verdict of every check, the refusal to send a LOGIN7 over
//! an unverified connection, one login per account, and the pmp and
//! passwordstate profiles end to end.

use std::sync::Arc;
use std::time::Duration;

use mssql_emulator::{EmulatorOptions, LoginTransport, Scenario, ServedCertificate};
use mssql_preflight::catalog::Catalog;
use mssql_preflight::engine::EngineOptions;
use mssql_preflight::facts::sql::{SqlLogins, UNVERIFIED_NOTE};
use mssql_preflight::finding::{SkipKind, Status};
use mssql_preflight::outcome::Verdict;
use mssql_preflight::report::{CheckResult, Report};
use mssql_preflight::selection::Selection;

use crate::support::accounts::Passwords;
use crate::support::cert_corpus;
use crate::support::dns::{TestDns, Zone};
use crate::support::emulator::{TargetToml, TestServer};
use crate::support::samba::{Samba, WRITER, WRITER_PASSWORD, probe_files};
use crate::support::{TargetFile, assert_status, run, run_selected, run_with};

const PMP: (&str, &str) = ("pmp", "Pmp-Test-Passw0rd!");
const PBACK: (&str, &str) = ("pback", "Pback-Test-Passw0rd!");
const PSTATE: (&str, &str) = ("pstate", "Pstate-Test-Passw0rd!");

/// An emulated server and the target file that points at it, built up by a test.
struct Case {
    server: TestServer,
    passwords: Passwords,
    /// Lines added under `[server]`.
    server_lines: Vec<String>,
    sections: Vec<String>,
    trust: bool,
    without_ca: bool,
    intrusive: bool,
}

impl Case {
    /// A built-in scenario, the database PassTrix, and both accounts.
    async fn builtin(name: &str) -> Case {
        Case::around(TestServer::start_emulated(name).await)
    }

    /// A scenario written for the test (usually `extends` a built-in one).
    async fn scenario(toml: &str) -> Case {
        let scenario = Scenario::from_toml_str(toml).expect("the test's scenario is valid");
        Case::around(TestServer::start_scenario(scenario, EmulatorOptions::default()).await)
    }

    async fn with_options(name: &str, options: EmulatorOptions) -> Case {
        Case::around(TestServer::start_with(name, options).await)
    }

    fn around(server: TestServer) -> Case {
        let passwords = Passwords::new();
        let sections = vec![
            passwords.sql(PMP.0, PMP.1),
            passwords.backup(PBACK.0, PBACK.1, None),
        ];
        Case {
            server,
            passwords,
            server_lines: vec!["database = \"PassTrix\"".to_owned()],
            sections,
            trust: false,
            without_ca: false,
            intrusive: false,
        }
    }

    fn database(mut self, name: Option<&str>) -> Case {
        self.server_lines.retain(|l| !l.starts_with("database"));
        if let Some(name) = name {
            self.server_lines.push(format!("database = \"{name}\""));
        }
        self
    }

    fn server_line(mut self, line: &str) -> Case {
        self.server_lines.push(line.to_owned());
        self
    }

    fn accounts(mut self, sql: Option<(&str, &str)>, backup: Option<(&str, &str)>) -> Case {
        self.sections.clear();
        if let Some((user, password)) = sql {
            self.sections.push(self.passwords.sql(user, password));
        }
        if let Some((user, password)) = backup {
            self.sections
                .push(self.passwords.backup(user, password, None));
        }
        self
    }

    fn section(mut self, toml: &str) -> Case {
        self.sections.push(toml.to_owned());
        self
    }

    fn trusting(mut self) -> Case {
        self.trust = true;
        self
    }

    fn without_ca(mut self) -> Case {
        self.without_ca = true;
        self
    }

    fn intrusive(mut self) -> Case {
        self.intrusive = true;
        self
    }

    fn toml(&self) -> String {
        let mut target = self.server.target();
        if self.without_ca {
            target = target.without_ca_file();
        }
        if self.trust {
            target = target.trusting_server_certificate();
        }
        for section in &self.sections {
            target = target.with(section);
        }
        for line in &self.server_lines {
            target = target.in_server(line);
        }
        target.render()
    }

    fn options(&self) -> EngineOptions {
        let mut options = EngineOptions::default();
        options.settings.timeout = Duration::from_secs(2);
        options.settings.intrusive = self.intrusive;
        options
    }

    async fn run(&self, patterns: &[&str]) -> Report {
        run_with(&self.toml(), patterns, self.options()).await
    }

    /// Runs the check `id` alone and asserts its status and that its
    /// message says `words`.
    async fn verdict(&self, id: &str, status: Status, words: &str) -> CheckResult {
        let report = self.run(&[id]).await;
        check(&report, id, status, words).clone()
    }

    /// Runs a profile, and says how many logins the run sent.
    async fn run_profile(&self, profile: &str) -> (Report, usize) {
        let catalog = Catalog::builtin().expect("built-in catalog");
        let selection = Selection {
            profile: Some(profile.to_owned()),
            ..Selection::default()
        };
        let run = run_selected(&self.toml(), &catalog, &selection, &self.options()).await;
        let logins = run
            .gathered::<SqlLogins>()
            .map(|ledger| ledger.count())
            .unwrap_or(0);
        (run.report, logins)
    }
}

#[track_caller]
fn check<'a>(report: &'a Report, id: &str, status: Status, words: &str) -> &'a CheckResult {
    let r = assert_status(report, id, status);
    assert!(
        r.message.contains(words),
        "{id}: `{words}` not in the message: {}",
        r.message
    );
    r
}

#[track_caller]
fn remedy(result: &CheckResult, words: &str) {
    let remediation = result.remediation.as_deref().unwrap_or_default();
    assert!(
        remediation.contains(words),
        "{}: `{words}` not in the remediation: {remediation}",
        result.id
    );
}

// ---------------------------------------------------------------- security

#[tokio::test]
async fn no_login7_reaches_a_server_whose_certificate_fails_verification() {
    // The CA file is not given: the emulator's chain does not verify.
    let case = Case::builtin("sql2022-healthy").await.without_ca();
    let report = case.run(&["sql.*"]).await;
    for id in [
        "sql.login",
        "sql.version",
        "sql.database",
        "sql.perm.backup",
    ] {
        let r = assert_status(&report, id, Status::Skip);
        assert!(
            r.message.contains("no credentials were sent"),
            "{id}: {}",
            r.message
        );
    }
    assert!(
        case.server.emulator().logins().is_empty(),
        "a LOGIN7 was sent: {:?}",
        case.server.emulator().logins()
    );
}

#[tokio::test]
async fn a_server_that_presents_the_certificate_without_its_key_gets_no_login7() {
    // The genuine chain, served with another key: what a machine in the
    // middle holding a copy of the server's certificate could present. The
    // chain itself verifies, so only the handshake's signatures tell.
    let root = cert_corpus::new_root("Impostor Test Root CA", |_| {});
    let issuing = cert_corpus::ca(&root, "Impostor Test Issuing CA", |_| {});
    let (leaf, _genuine_key) = cert_corpus::leaf(&issuing, &[cert_corpus::HOST], |_| {});
    let (_, impostor_key) = cert_corpus::leaf(&issuing, &[cert_corpus::HOST], |_| {});
    let options = EmulatorOptions {
        certificate: Some(ServedCertificate {
            chain: vec![leaf, issuing.der.clone()],
            key_pkcs8: impostor_key,
        }),
        ..EmulatorOptions::default()
    };
    let server = TestServer::start_with("sql2022-healthy", options).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(
        &ca_file,
        cert_corpus::pem_of(std::slice::from_ref(&root.der)),
    )
    .expect("write the CA file");
    let passwords = Passwords::new();
    let toml = TargetToml {
        ca_file: Some(ca_file),
        expected_name: Some(cert_corpus::HOST.to_owned()),
        ..server.app_target(&passwords)
    }
    .render();
    let report = run(&toml, &["tls.cert.chain", "sql.login"]).await;
    assert_status(&report, "tls.cert.chain", Status::Pass);
    let login = crate::support::result(&report, "sql.login");
    assert_ne!(login.status, Status::Pass, "{}", login.message);
    assert!(
        server.emulator().logins().is_empty(),
        "a LOGIN7 was sent: {:?}",
        server.emulator().logins()
    );
}

#[tokio::test]
async fn an_expired_certificate_stops_the_login_too() {
    let case = Case::builtin("expired").await;
    case.verdict("sql.login", Status::Skip, "no credentials were sent")
        .await;
    assert!(case.server.emulator().logins().is_empty());
}

#[tokio::test]
async fn an_accepted_unverified_certificate_logs_in_and_every_finding_says_so() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .without_ca()
        .trusting();
    let report = case.run(&["sql.*"]).await;
    check(&report, "sql.login", Status::Pass, "logs in");
    for r in report
        .results
        .iter()
        .filter(|r| matches!(r.status, Status::Pass | Status::Warn | Status::Fail))
    {
        assert!(
            r.notes.iter().any(|n| n == UNVERIFIED_NOTE),
            "{} lacks the unverified note: {:?}",
            r.id,
            r.notes
        );
    }
    assert_eq!(case.server.emulator().logins().len(), 2);
}

#[tokio::test]
async fn a_verified_connection_carries_no_unverified_note() {
    let case = Case::builtin("sql2022-healthy").await;
    let report = case.run(&["sql.login", "sql.version"]).await;
    for id in ["sql.login", "sql.version"] {
        assert!(assert_status(&report, id, Status::Pass).notes.is_empty());
    }
}

#[tokio::test]
async fn each_account_logs_in_once_however_many_checks_use_it() {
    let case = Case::builtin("sql2022-healthy").await;
    let (report, logins) = case.run_profile("passwordstate").await;
    assert_status(&report, "sql.login", Status::Pass);
    assert_eq!(logins, 2, "one login per account");
    assert_eq!(case.server.emulator().logins().len(), 2);
}

// --------------------------------------------------------------- sql.login

#[tokio::test]
async fn both_accounts_logging_in_pass() {
    let case = Case::builtin("sql2022-healthy").await;
    let r = case
        .verdict(
            "sql.login",
            Status::Pass,
            "application account `pmp` logs in to `PassTrix`",
        )
        .await;
    assert!(r.message.contains("backup account `pback` logs in"));
    assert_eq!(r.evidence["sql"]["user"], "pmp");
}

#[tokio::test]
async fn a_wrong_password_fails_and_points_at_the_error_log() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .accounts(Some(("pmp", "not-the-password")), None);
    let r = case
        .verdict("sql.login", Status::Fail, "login failed")
        .await;
    assert_eq!(r.evidence["sql"]["failure"]["number"], 18456);
    remedy(&r, "error log");
    remedy(&r, "state 8: wrong password");
    // The password never appears anywhere in the result.
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("not-the-password"));
}

#[tokio::test]
async fn an_unknown_login_fails() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .accounts(Some(("nobody", "whatever-1")), None);
    let r = case.verdict("sql.login", Status::Fail, "`nobody`").await;
    remedy(&r, "CREATE LOGIN [nobody]");
}

#[tokio::test]
async fn a_disabled_login_fails_with_the_statement_that_enables_it() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .accounts(Some(("pdisabled", "Pdisabled-Test-Passw0rd!")), None);
    let r = case
        .verdict("sql.login", Status::Fail, "login disabled")
        .await;
    remedy(&r, "ALTER LOGIN [pdisabled] ENABLE;");
}

#[tokio::test]
async fn an_expired_password_fails() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .accounts(Some(("pexpired", "Pexpired-Test-Passw0rd!")), None);
    let r = case
        .verdict("sql.login", Status::Fail, "password expired")
        .await;
    remedy(&r, "ALTER LOGIN [pexpired] WITH PASSWORD");
}

#[tokio::test]
async fn a_database_the_login_cannot_open_fails() {
    // pmp has no user in Passwordstate.
    let case = Case::builtin("sql2022-healthy")
        .await
        .database(Some("Passwordstate"))
        .accounts(Some(PMP), None);
    let r = case
        .verdict("sql.login", Status::Fail, "database not accessible")
        .await;
    remedy(
        &r,
        "USE [Passwordstate]; CREATE USER [pmp] FOR LOGIN [pmp];",
    );
    assert_eq!(r.evidence["sql"]["database_error"]["number"], 4060);
}

#[tokio::test]
async fn a_database_that_does_not_exist_yet_is_left_to_sql_database() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .database(Some("NewVault"))
        .accounts(Some(PMP), None);
    case.verdict("sql.login", Status::Pass, "`NewVault` does not exist yet")
        .await;
}

#[tokio::test]
async fn windows_authentication_from_an_untrusted_domain_fails() {
    let case = Case::builtin("sql2022-healthy").await;
    let windows = format!(
        "{}auth = \"windows\"\n",
        case.passwords.sql(r"CORP\pmp-svc", "Win-Test-Passw0rd!")
    );
    let case = case.accounts(None, None).section(&windows);
    let r = case
        .verdict("sql.login", Status::Fail, "untrusted domain")
        .await;
    assert!(r.message.contains("Windows account"), "{}", r.message);
}

#[tokio::test]
async fn no_account_skips_saying_which_setting_is_missing() {
    let case = Case::builtin("sql2022-healthy").await.accounts(None, None);
    let report = case.run(&["sql.login", "sql.version"]).await;
    check(
        &report,
        "sql.login",
        Status::Skip,
        "set `user` under [sql] in the target file, or pass --sql-user",
    );
    check(
        &report,
        "sql.version",
        Status::Skip,
        "set `user` under [sql] in the target file, or pass --sql-user",
    );
}

#[tokio::test]
async fn a_password_that_cannot_be_had_is_an_error_with_the_fix() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .accounts(None, None)
        .section("[sql]\nuser = \"pmp\"\npassword_env = \"PREFLIGHT_TEST_SURELY_UNSET\"\n");
    let report = case.run(&["sql.login", "sql.version"]).await;
    let login = check(
        &report,
        "sql.login",
        Status::Error,
        "PREFLIGHT_TEST_SURELY_UNSET",
    );
    assert!(
        login.message.contains("export PREFLIGHT_TEST_SURELY_UNSET"),
        "the fix is named: {login:#?}"
    );
    // What needs the session is blocked by that error, so the run cannot
    // say "ready".
    let version = check(
        &report,
        "sql.version",
        Status::Skip,
        "PREFLIGHT_TEST_SURELY_UNSET",
    );
    let skip = version.skip.as_ref().expect("skip data");
    assert_eq!(skip.kind, SkipKind::Blocked);
    assert_eq!(skip.by, ["sql.login"]);
    assert_eq!(report.verdict, Verdict::Incomplete);
    assert_eq!(report.exit_code, 3);
}

#[tokio::test]
async fn a_server_that_never_finishes_the_login_is_an_error_within_the_timeout() {
    // The certificate cannot be examined (the server hangs after PRELOGIN),
    // so only an accepted unverified certificate gets as far as a login.
    let case = Case::builtin("hang-after-prelogin").await.trusting();
    let started = std::time::Instant::now();
    case.verdict("sql.login", Status::Error, "did not finish the login")
        .await;
    assert!(started.elapsed() < Duration::from_secs(20));
}

// ------------------------------------------------------------- sql.version

#[tokio::test]
async fn a_current_release_passes_the_version_check() {
    let case = Case::builtin("sql2019-healthy").await;
    let r = case
        .verdict("sql.version", Status::Pass, "SQL Server 2019 (15.0.4375.4)")
        .await;
    assert_eq!(r.evidence["edition"], "Enterprise Edition (64-bit)");
}

#[tokio::test]
async fn a_release_below_the_minimum_fails() {
    let case = Case::builtin("sql2019-healthy")
        .await
        .section("[checks.\"sql.version\"]\nminimum = \"16.0\"\n");
    let r = case
        .verdict("sql.version", Status::Fail, "older than the minimum 16.0")
        .await;
    assert_eq!(r.actual.as_deref(), Some("15.0.4375.4"));
}

#[tokio::test]
async fn azure_sql_is_always_current() {
    let case = Case::builtin("azure-sqldb").await;
    case.verdict("sql.version", Status::Pass, "Azure SQL Database")
        .await;
}

/// A server that lies: it answers the tool's query matching `pattern` with
/// rows SQL Server never gives (a clock that is no time). A rule over the
/// tool's SQL on purpose, and the only kind left in this file: the strict
/// emulator only ever answers as SQL Server would, and what data can say
/// (see `with_data`) is said as data.
fn answering(pattern: &str, columns: &[&str], row: &str) -> String {
    let columns: Vec<String> = columns
        .iter()
        .map(|c| format!("{{ name = \"{c}\", type = \"nvarchar(256)\" }}"))
        .collect();
    format!(
        "description = \"scripted answer\"\nextends = \"sql2022-healthy\"\n\n[[rules]]\npattern = '{pattern}'\ncolumns = [{}]\nrows = {row}\n",
        columns.join(", ")
    )
}

/// sql2022-healthy with `data` (scenario TOML: tables, properties) added;
/// the strict emulator answers the tool's queries from it.
fn with_data(data: &str) -> String {
    format!("description = \"scenario data\"\nextends = \"sql2022-healthy\"\n\n{data}\n")
}

#[tokio::test]
async fn a_version_that_is_not_a_number_is_an_error() {
    let case = Case::scenario(&with_data(
        "[server.properties]\nProductVersion = \"vNext\"",
    ))
    .await;
    case.verdict(
        "sql.version",
        Status::Error,
        "not a version number: `vNext`",
    )
    .await;
}

// ------------------------------------------------------------ sql.platform

#[tokio::test]
async fn sql_server_supports_native_backups() {
    let case = Case::builtin("sql2022-healthy").await;
    case.verdict(
        "sql.platform",
        Status::Pass,
        "native backups to disk are available",
    )
    .await;
}

#[tokio::test]
async fn azure_sql_database_warns_that_native_backups_do_not_work() {
    let case = Case::builtin("azure-sqldb").await;
    let r = case
        .verdict(
            "sql.platform",
            Status::Warn,
            "Azure SQL Database does not allow native BACKUP",
        )
        .await;
    remedy(&r, "switch off its own database backup");
    assert_eq!(r.evidence["engine_edition"], 5);
}

#[tokio::test]
async fn azure_managed_instance_warns_too() {
    let case = Case::builtin("azure-mi").await;
    let r = case
        .verdict("sql.platform", Status::Warn, "Azure SQL Managed Instance")
        .await;
    remedy(&r, "TO URL");
}

#[tokio::test]
async fn amazon_rds_is_recognised_by_rdsadmin() {
    let case = Case::builtin("aws-rds").await;
    let r = case
        .verdict("sql.platform", Status::Warn, "Amazon RDS")
        .await;
    remedy(&r, "rds_backup_database");
    let markers = r.evidence["rds_markers"].to_string();
    assert!(markers.contains("rdsadmin"), "{markers}");
}

#[tokio::test]
async fn a_managed_platform_passes_when_the_application_does_not_back_up_itself() {
    let case = Case::builtin("azure-sqldb")
        .await
        .section("[checks.\"sql.platform\"]\nnative_backup = false\n");
    case.verdict(
        "sql.platform",
        Status::Pass,
        "the platform backs up the database itself",
    )
    .await;
}

#[tokio::test]
async fn a_cloud_host_name_is_recognised_without_a_login() {
    // The name does not resolve, so nothing is logged into.
    let dns = TestDns::start(Zone::default()).await;
    let toml = format!(
        "[server]\nhost = \"passtrix.c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com\"\n[dns]\nnameservers = [\"{}\"]\n",
        dns.addr
    );
    let mut options = EngineOptions::default();
    options.settings.timeout = Duration::from_secs(2);
    let report = run_with(&toml, &["sql.platform"], options).await;
    let r = check(&report, "sql.platform", Status::Warn, "Amazon RDS");
    assert_eq!(
        r.evidence["detected_from"],
        "the host name (no login was possible)"
    );
}

#[tokio::test]
async fn the_platform_of_an_unknown_host_without_a_login_is_not_guessed() {
    let case = Case::builtin("sql2022-healthy").await.accounts(None, None);
    case.verdict(
        "sql.platform",
        Status::Skip,
        "set `user` under [sql] in the target file, or pass --sql-user",
    )
    .await;
}

// --------------------------------------------------------------- sql.clock

#[tokio::test]
async fn clocks_in_agreement_pass() {
    let case = Case::builtin("sql2022-healthy").await;
    case.verdict("sql.clock", Status::Pass, "the server's clock is")
        .await;
}

const CLOCK_IN_2020: &str = r#"
description = "a server whose clock is six years behind"
extends = "sql2022-healthy"

[server]
clock_offset_seconds = -200000000
"#;

#[tokio::test]
async fn a_clock_far_off_fails() {
    let case = Case::scenario(CLOCK_IN_2020).await;
    case.verdict("sql.clock", Status::Fail, "behind this machine's")
        .await;
}

#[tokio::test]
async fn a_clock_between_the_thresholds_warns() {
    let case = Case::scenario(CLOCK_IN_2020)
        .await
        .section("[checks.\"sql.clock\"]\nwarn_seconds = 60\nfail_seconds = 9999999999\n");
    case.verdict(
        "sql.clock",
        Status::Warn,
        "close to Kerberos's 5-minute limit",
    )
    .await;
}

#[tokio::test]
async fn a_clock_that_is_not_a_time_is_an_error() {
    let case = Case::scenario(&answering(
        r"\bSYSUTCDATETIME\b",
        &["utc_now"],
        r#"[["soon"]]"#,
    ))
    .await;
    case.verdict("sql.clock", Status::Error, "not a date and time")
        .await;
}

// ------------------------------------------------- sql.connection.encrypted

#[tokio::test]
async fn an_encrypted_session_passes() {
    let case = Case::builtin("sql2022-healthy").await;
    let r = case
        .verdict(
            "sql.connection.encrypted",
            Status::Pass,
            "session is encrypted",
        )
        .await;
    assert_eq!(r.evidence["auth_scheme"], "SQL");
}

#[tokio::test]
async fn a_session_the_server_reports_unencrypted_fails() {
    let case = Case::scenario(
        r#"
description = "sys.dm_exec_connections says the session is not encrypted"
extends = "sql2022-healthy"

[[tables]]
name = "sys.dm_exec_connections"
columns = [
    { name = "session_id", type = "int" },
    { name = "most_recent_session_id", type = "int" },
    { name = "net_transport", type = "nvarchar(40)" },
    { name = "protocol_type", type = "nvarchar(40)" },
    { name = "encrypt_option", type = "nvarchar(40)" },
    { name = "auth_scheme", type = "nvarchar(40)" },
]
rows = [["${spid}", "${spid}", "TCP", "TSQL", "FALSE", "SQL"]]
"#,
    )
    .await;
    case.verdict("sql.connection.encrypted", Status::Fail, "not encrypted")
        .await;
}

#[tokio::test]
async fn a_session_missing_from_the_connections_view_is_an_error() {
    // The view without this session's row (SQL Server always lists it).
    let case = Case::scenario(&with_data(
        "[[tables]]\nname = \"sys.dm_exec_connections\"\ncolumns = [{ name = \"session_id\", type = \"int\" }, { name = \"encrypt_option\", type = \"nvarchar(40)\" }, { name = \"auth_scheme\", type = \"nvarchar(40)\" }, { name = \"net_transport\", type = \"nvarchar(40)\" }, { name = \"protocol_type\", type = \"nvarchar(40)\" }]\nrows = []",
    ))
    .await;
    case.verdict(
        "sql.connection.encrypted",
        Status::Error,
        "no row for this session",
    )
    .await;
}

// ---------------------------------------------- sql.config.force-encryption

#[tokio::test]
async fn force_encryption_on_passes() {
    let case = Case::builtin("sql2022-healthy").await;
    let r = case
        .verdict(
            "sql.config.force-encryption",
            Status::Pass,
            "ForceEncryption is on",
        )
        .await;
    assert_eq!(r.evidence["prelogin_forces_encryption"], true);
}

#[tokio::test]
async fn force_encryption_off_warns() {
    let case = Case::builtin("not-forced").await;
    case.verdict(
        "sql.config.force-encryption",
        Status::Warn,
        "ForceEncryption is off",
    )
    .await;
}

#[tokio::test]
async fn a_setting_that_disagrees_with_prelogin_warns_of_a_pending_restart() {
    let case = Case::scenario(
        r#"
description = "ForceEncryption set but the service not restarted"
extends = "not-forced"

[[tables]]
name = "sys.dm_server_registry"
columns = [
    { name = "registry_key", type = "nvarchar(256)" },
    { name = "value_name", type = "nvarchar(256)" },
    { name = "value_data", type = "sql_variant" },
]
rows = [['HKLM\Software\Microsoft\Microsoft SQL Server\${registry_instance}\MSSQLServer\SuperSocketNetLib', "ForceEncryption", { int = "1" }]]
"#,
    )
    .await;
    let r = case
        .verdict(
            "sql.config.force-encryption",
            Status::Warn,
            "waits for a restart",
        )
        .await;
    remedy(&r, "Restart the SQL Server service");
}

const REGISTRY_DENIED: &str = r#"
description = "the application account lacks VIEW SERVER STATE"
extends = "sql2022-healthy"

# pmp as the application sets it up: db_owner, no server permission (the
# built-in scenarios grant it VIEW SERVER STATE); SQL Server 2022 answers
# 300 naming VIEW SERVER PERFORMANCE STATE.
[[accounts]]
user = "pmp"
password = "Pmp-Test-Passw0rd!"
default_database = "PassTrix"
databases = { PassTrix = ["db_owner"] }
"#;

#[tokio::test]
async fn force_encryption_skips_naming_the_permission_it_lacks() {
    let case = Case::scenario(REGISTRY_DENIED).await;
    let r = case
        .verdict(
            "sql.config.force-encryption",
            Status::Skip,
            "VIEW SERVER PERFORMANCE STATE",
        )
        .await;
    assert!(
        r.message
            .contains("GRANT VIEW SERVER PERFORMANCE STATE TO [pmp];"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn a_denied_server_permission_skips_naming_it() {
    // VIEW SERVER STATE granted and DENYed: the DENY wins, SQL Server 2019
    // answers 300 + 297, and the GRANT the tool suggests replaces the DENY.
    let case = Case::scenario(
        r#"
description = "VIEW SERVER STATE denied to the application account"
extends = "sql2019-healthy"

[[accounts]]
user = "pmp"
password = "Pmp-Test-Passw0rd!"
default_database = "PassTrix"
databases = { PassTrix = ["db_owner"] }
server_permissions = ["VIEW SERVER STATE"]
server_denied = ["VIEW SERVER STATE"]
"#,
    )
    .await;
    let r = case
        .verdict(
            "sql.connection.encrypted",
            Status::Skip,
            "VIEW SERVER STATE permission was denied on object 'server'",
        )
        .await;
    assert!(
        r.message.contains("GRANT VIEW SERVER STATE TO [pmp];"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn force_encryption_does_not_apply_to_azure_sql_database() {
    let case = Case::builtin("azure-sqldb").await;
    case.verdict(
        "sql.config.force-encryption",
        Status::Skip,
        "always requires encryption",
    )
    .await;
}

#[tokio::test]
async fn a_registry_without_force_encryption_is_an_error() {
    let case = Case::scenario(&with_data(
        r#"[[tables]]
name = "sys.dm_server_registry"
columns = [
    { name = "registry_key", type = "nvarchar(256)" },
    { name = "value_name", type = "nvarchar(256)" },
    { name = "value_data", type = "sql_variant" },
]
rows = [['HKLM\Software\Microsoft\Microsoft SQL Server\MSSQL16.MSSQLSERVER\MSSQLServer\SuperSocketNetLib\Tcp\IPAll', "TcpPort", "1433"]]"#,
    ))
    .await;
    case.verdict(
        "sql.config.force-encryption",
        Status::Error,
        "did not list ForceEncryption",
    )
    .await;
}

// --------------------------------------------------- sql.service.account

#[tokio::test]
async fn a_virtual_service_account_passes_naming_the_computer_account() {
    let case = Case::builtin("sql2022-healthy").await;
    case.verdict(
        "sql.service.account",
        Status::Pass,
        "computer account SQL01$",
    )
    .await;
}

#[tokio::test]
async fn a_custom_service_account_warns_that_it_needs_share_access() {
    let case = Case::scenario(
        r#"
description = "SQL Server runs as a domain account"
extends = "sql2022-healthy"

[[tables]]
name = "sys.dm_server_services"
columns = [
    { name = "servicename", type = "nvarchar(256)" },
    { name = "startup_type_desc", type = "nvarchar(256)" },
    { name = "status_desc", type = "nvarchar(256)" },
    { name = "service_account", type = "nvarchar(256)" },
]
rows = [["SQL Server (MSSQLSERVER)", "Automatic", "Running", 'CORP\svc-sql']]
"#,
    )
    .await;
    let r = case
        .verdict(
            "sql.service.account",
            Status::Warn,
            r"custom account CORP\svc-sql",
        )
        .await;
    remedy(&r, "Grant-SmbShareAccess");
}

#[tokio::test]
async fn the_service_account_skips_naming_the_permission_it_lacks() {
    let case = Case::scenario(REGISTRY_DENIED).await;
    case.verdict(
        "sql.service.account",
        Status::Skip,
        "VIEW SERVER PERFORMANCE STATE",
    )
    .await;
}

#[tokio::test]
async fn the_service_account_does_not_apply_to_managed_platforms() {
    let case = Case::builtin("azure-mi").await;
    case.verdict(
        "sql.service.account",
        Status::Skip,
        "Azure SQL Managed Instance",
    )
    .await;
}

#[tokio::test]
async fn services_without_a_database_engine_are_an_error() {
    let case = Case::scenario(&with_data(
        r#"[[tables]]
name = "sys.dm_server_services"
columns = [
    { name = "servicename", type = "nvarchar(256)" },
    { name = "startup_type_desc", type = "nvarchar(256)" },
    { name = "status_desc", type = "nvarchar(256)" },
    { name = "service_account", type = "nvarchar(256)" },
]
rows = [["SQL Server Agent (MSSQLSERVER)", "Manual", "Stopped", 'NT Service\SQLSERVERAGENT']]"#,
    ))
    .await;
    case.verdict(
        "sql.service.account",
        Status::Error,
        "no SQL Server database engine service",
    )
    .await;
}

// ------------------------------------------------------------ sql.database

#[tokio::test]
async fn a_usable_database_passes() {
    let case = Case::builtin("sql2022-healthy").await;
    case.verdict(
        "sql.database",
        Status::Pass,
        "`PassTrix` exists and `pmp` can use it",
    )
    .await;
}

#[tokio::test]
async fn a_database_without_a_user_for_the_login_fails() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .database(Some("Passwordstate"));
    let r = case
        .verdict("sql.database", Status::Fail, "cannot open it")
        .await;
    remedy(
        &r,
        "USE [Passwordstate]; CREATE USER [pmp] FOR LOGIN [pmp];",
    );
}

#[tokio::test]
async fn a_missing_database_fails_where_the_application_does_not_create_it() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .database(Some("NewVault"));
    let r = case
        .verdict("sql.database", Status::Fail, "does not exist")
        .await;
    remedy(&r, "CREATE DATABASE [NewVault]");
}

#[tokio::test]
async fn a_missing_database_passes_when_the_login_may_create_it() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .database(Some("NewVault"))
        .accounts(Some(("sa", "Sa-Test-Passw0rd!")), None)
        .section("[checks.\"sql.database\"]\nmay_create = true\n");
    case.verdict("sql.database", Status::Pass, "may create it (sysadmin)")
        .await;
}

#[tokio::test]
async fn a_dbcreator_may_create_the_database() {
    let case = Case::scenario(
        r#"
description = "pmp is dbcreator"
extends = "sql2022-healthy"

[[accounts]]
user = "pmp"
password = "Pmp-Test-Passw0rd!"
default_database = "master"
server_roles = ["dbcreator"]
"#,
    )
    .await
    .database(Some("NewVault"))
    .section("[checks.\"sql.database\"]\nmay_create = true\n");
    case.verdict("sql.database", Status::Pass, "may create it (dbcreator)")
        .await;
}

#[tokio::test]
async fn a_missing_database_fails_when_the_login_may_not_create_it() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .database(Some("NewVault"))
        .section("[checks.\"sql.database\"]\nmay_create = true\n");
    let r = case
        .verdict("sql.database", Status::Fail, "may not create it")
        .await;
    remedy(&r, "ALTER SERVER ROLE dbcreator ADD MEMBER [pmp];");
}

#[tokio::test]
async fn no_database_named_skips() {
    let case = Case::builtin("sql2022-healthy").await.database(None);
    let report = case
        .run(&["sql.database", "sql.role.backup-operator"])
        .await;
    check(
        &report,
        "sql.database",
        Status::Skip,
        "set `database` under [server]",
    );
    check(
        &report,
        "sql.role.backup-operator",
        Status::Skip,
        "set `database` under [server]",
    );
}

// ------------------------------------------------------------ sql.pmp.keys

const PMP_KEYS: &str =
    "[app]\nkind = \"pmp\"\ncertificate_name = \"PMPCert\"\nsymmetric_key_name = \"PMPKey\"\n";

fn keys_scenario(certificate: &str, extra: &str) -> String {
    keys_scenario_on("sql2022-healthy", certificate, extra)
}

/// PassTrix with PMP's custom key on personality `base`: the master key,
/// the certificate `certificate` and the symmetric key PMPKey, owned by dbo.
fn keys_scenario_on(base: &str, certificate: &str, extra: &str) -> String {
    format!(
        r###"
description = "PassTrix with PMP's custom key"
extends = "{base}"

[[tables]]
name = "sys.symmetric_keys"
database = "PassTrix"
columns = [{{ name = "name", type = "sysname" }}, {{ name = "principal_id", type = "int" }}]
rows = [["##MS_DatabaseMasterKey##", 1], ["PMPKey", 1]]

[[tables]]
name = "sys.certificates"
columns = [{{ name = "name", type = "sysname" }}, {{ name = "principal_id", type = "int" }}]
rows = [["{certificate}", 1]]
{extra}
"###
    )
}

#[tokio::test]
async fn the_default_key_skips() {
    let case = Case::builtin("sql2022-healthy").await;
    case.verdict("sql.pmp.keys", Status::Skip, "default encryption key")
        .await;
}

#[tokio::test]
async fn a_custom_key_in_place_passes() {
    let case = Case::scenario(&keys_scenario("PMPCert", ""))
        .await
        .section(PMP_KEYS);
    case.verdict(
        "sql.pmp.keys",
        Status::Pass,
        "certificate `PMPCert` and symmetric key `PMPKey` exist",
    )
    .await;
}

#[tokio::test]
async fn a_missing_certificate_fails_with_the_statements_that_create_it() {
    let case = Case::scenario(&keys_scenario("OtherCert", ""))
        .await
        .section(PMP_KEYS);
    let r = case
        .verdict("sql.pmp.keys", Status::Fail, "the certificate `PMPCert`")
        .await;
    remedy(&r, "CREATE CERTIFICATE [PMPCert]");
}

const PMP_READER: &str = r#"
[[accounts]]
user = "pmp"
password = "Pmp-Test-Passw0rd!"
default_database = "PassTrix"
databases = { PassTrix = ["db_datareader"] }
"#;

/// The application account reads the database (db_datareader) and may see
/// every key's definition (VIEW DEFINITION on the database), but holds no
/// CONTROL on the certificate: HAS_PERMS_BY_NAME says 0 for it.
const PMP_VIEWER: &str = r#"
[[accounts]]
user = "pmp"
password = "Pmp-Test-Passw0rd!"
default_database = "PassTrix"
databases = { PassTrix = ["db_datareader"] }
permissions = { PassTrix = ["VIEW DEFINITION"] }
"#;

#[tokio::test]
async fn keys_the_login_may_not_use_fail() {
    let case = Case::scenario(&keys_scenario("PMPCert", PMP_VIEWER))
        .await
        .section(PMP_KEYS);
    let r = case
        .verdict("sql.pmp.keys", Status::Fail, "may not use them")
        .await;
    remedy(&r, "GRANT CONTROL ON CERTIFICATE::[PMPCert] TO [pmp];");
}

#[tokio::test]
async fn keys_a_reader_cannot_see_fail_saying_they_may_be_hidden() {
    // Metadata visibility: no permission on the keys, no rows for them.
    let case = Case::scenario(&keys_scenario("PMPCert", PMP_READER))
        .await
        .section(PMP_KEYS);
    case.verdict("sql.pmp.keys", Status::Fail, "or not visible to `pmp`")
        .await;
}

#[tokio::test]
async fn key_permissions_the_server_will_not_tell_are_an_error() {
    // Azure SQL Database's HAS_PERMS_BY_NAME takes no CERTIFICATE or
    // SYMMETRIC KEY class and answers NULL (the function's page).
    let case = Case::scenario(&keys_scenario_on("azure-sqldb", "PMPCert", PMP_VIEWER))
        .await
        .section(PMP_KEYS);
    case.verdict("sql.pmp.keys", Status::Error, "would not say")
        .await;
}

#[tokio::test]
async fn half_a_custom_key_is_an_error() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .section("[app]\nkind = \"pmp\"\ncertificate_name = \"PMPCert\"\n");
    case.verdict("sql.pmp.keys", Status::Error, "needs both")
        .await;
}

// ------------------------------------------------ sql.role.backup-operator

#[tokio::test]
async fn a_backup_account_in_the_role_passes() {
    let case = Case::builtin("sql2022-healthy").await;
    case.verdict(
        "sql.role.backup-operator",
        Status::Pass,
        "`pback` is in db_backupoperator of `PassTrix`",
    )
    .await;
}

#[tokio::test]
async fn a_backup_account_without_the_role_fails_with_the_exact_fix() {
    let case = Case::builtin("backup-account-without-role")
        .await
        .database(Some("Passwordstate"));
    let r = case
        .verdict(
            "sql.role.backup-operator",
            Status::Fail,
            "not in db_backupoperator",
        )
        .await;
    assert_eq!(
        r.remediation.as_deref(),
        Some("USE [Passwordstate]; ALTER ROLE [db_backupoperator] ADD MEMBER [pback];")
    );
}

#[tokio::test]
async fn a_backup_account_without_a_database_user_fails_with_create_user() {
    let case = Case::scenario(
        r#"
description = "pback is not mapped into any database"
extends = "sql2022-healthy"

[[accounts]]
user = "pback"
password = "Pback-Test-Passw0rd!"
default_database = "master"
"#,
    )
    .await;
    let r = case
        .verdict(
            "sql.role.backup-operator",
            Status::Fail,
            "has no user in `PassTrix`",
        )
        .await;
    assert_eq!(
        r.remediation.as_deref(),
        Some(
            "USE [PassTrix]; CREATE USER [pback] FOR LOGIN [pback]; ALTER ROLE [db_backupoperator] ADD MEMBER [pback];"
        )
    );
}

/// The built-in server, with the backup account `pback` a member of
/// db_backupoperator in PassTrix (as built in) or without a user there: the
/// strict emulator derives sys.database_role_members from the accounts.
fn role_members_scenario(pback_in_role: bool) -> String {
    let pback = if pback_in_role {
        ""
    } else {
        "\n[[accounts]]\nuser = \"pback\"\npassword = \"Pback-Test-Passw0rd!\"\ndefault_database = \"master\"\ndatabases = { Passwordstate = [\"db_backupoperator\"] }\n"
    };
    format!(
        "description = \"role members as an administrator sees them\"\nextends = \"sql2022-healthy\"\n{pback}"
    )
}

/// The backup account's password is not available here, so the
/// application account (db_owner) checks on its behalf.
fn without_backup_password(case: Case) -> Case {
    case.accounts(Some(PMP), None)
        .section("[backup]\nuser = \"pback\"\npassword_env = \"PREFLIGHT_TEST_SURELY_UNSET\"\n")
}

#[tokio::test]
async fn the_role_is_checked_on_the_backup_accounts_behalf() {
    let case = without_backup_password(Case::scenario(&role_members_scenario(true)).await);
    let r = case
        .verdict(
            "sql.role.backup-operator",
            Status::Pass,
            "is in db_backupoperator",
        )
        .await;
    assert!(
        r.notes.iter().any(|n| n.contains("checked through `pmp`")),
        "{:?}",
        r.notes
    );
}

#[tokio::test]
async fn a_missing_user_is_found_on_the_backup_accounts_behalf() {
    let case = without_backup_password(Case::scenario(&role_members_scenario(false)).await);
    let r = case
        .verdict("sql.role.backup-operator", Status::Fail, "has no user")
        .await;
    remedy(&r, "CREATE USER [pback] FOR LOGIN [pback]");
}

/// On Azure SQL Database SUSER_SID(name) answers the asking login's own SID
/// (Microsoft's SUSER_SID page; the strict emulator does the same), so a
/// lookup through `pmp` would report pmp's db_owner as the backup
/// account's: the check says it cannot tell instead of passing.
#[tokio::test]
async fn on_azure_sql_database_the_role_is_not_looked_up_on_behalf() {
    let case = without_backup_password(Case::builtin("azure-sqldb").await);
    case.verdict(
        "sql.role.backup-operator",
        Status::Error,
        "SUSER_SID answers there for the asking login",
    )
    .await;
}

#[tokio::test]
async fn without_view_definition_the_role_cannot_be_checked_on_behalf() {
    let case = without_backup_password(
        Case::scenario(&format!("{}\n{PMP_READER}", role_members_scenario(true))).await,
    );
    case.verdict(
        "sql.role.backup-operator",
        Status::Skip,
        "lacks VIEW DEFINITION",
    )
    .await;
}

#[tokio::test]
async fn no_backup_account_skips_the_backup_checks() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .accounts(Some(PMP), None);
    let report = case
        .run(&["sql.role.backup-operator", "sql.perm.backup"])
        .await;
    check(
        &report,
        "sql.role.backup-operator",
        Status::Skip,
        "set `user` under [backup] in the target file, or pass --backup-user",
    );
    check(
        &report,
        "sql.perm.backup",
        Status::Skip,
        "set `user` under [backup] in the target file, or pass --backup-user",
    );
}

// --------------------------------------------------------- sql.perm.backup

#[tokio::test]
async fn the_backup_permission_passes() {
    let case = Case::builtin("sql2022-healthy").await;
    case.verdict(
        "sql.perm.backup",
        Status::Pass,
        "may run BACKUP DATABASE on `PassTrix`",
    )
    .await;
}

#[tokio::test]
async fn a_missing_backup_permission_fails() {
    let case = Case::builtin("backup-account-without-role").await;
    let r = case
        .verdict(
            "sql.perm.backup",
            Status::Fail,
            "may not run BACKUP DATABASE",
        )
        .await;
    remedy(&r, "ALTER ROLE [db_backupoperator] ADD MEMBER [pback];");
}

#[tokio::test]
async fn the_backup_permission_on_a_database_that_does_not_exist_skips() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .database(Some("NewVault"));
    case.verdict(
        "sql.perm.backup",
        Status::Skip,
        "does not know the database `NewVault`",
    )
    .await;
}

// ------------------------------------------------------- sql.backup.recent

#[tokio::test]
async fn a_recent_full_backup_passes() {
    let case = Case::builtin("sql2022-healthy").await;
    let r = case
        .verdict("sql.backup.recent", Status::Pass, "finished just now")
        .await;
    assert_eq!(
        r.evidence["destination"],
        r"\\nas01\Backups\PassTrix\PassTrix_full.bak"
    );
}

/// The built-in server with PassTrix's backup history: `finished_hours_ago`
/// (a full backup to `D:\Backups\PassTrix.bak` that long before the
/// server's clock says now), or none. The dates are data; the age is what
/// the strict emulator computes from them for the tool's own query.
fn backup_history(finished_hours_ago: Option<u32>) -> String {
    // The server's clock reads 2024-07-04 01:00 UTC.
    let server_now = time::macros::datetime!(2024-07-04 01:00 UTC);
    let offset = (server_now - time::OffsetDateTime::now_utc()).whole_seconds();
    let rows = match finished_hours_ago {
        Some(hours) => {
            let finished = server_now - time::Duration::hours(i64::from(hours));
            let at = format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                finished.year(),
                u8::from(finished.month()),
                finished.day(),
                finished.hour(),
                finished.minute(),
                finished.second()
            );
            format!("[[1, 1, \"PassTrix\", \"D\", false, \"{at}\", \"{at}\"]]")
        }
        None => "[]".to_owned(),
    };
    format!(
        r#"
description = "backup history"
extends = "sql2022-healthy"

[server]
clock_offset_seconds = {offset}

[[tables]]
name = "msdb.dbo.backupset"
columns = [
    {{ name = "backup_set_id", type = "int" }},
    {{ name = "media_set_id", type = "int" }},
    {{ name = "database_name", type = "nvarchar(128)" }},
    {{ name = "type", type = "varchar(1)" }},
    {{ name = "is_copy_only", type = "bit" }},
    {{ name = "backup_start_date", type = "datetime" }},
    {{ name = "backup_finish_date", type = "datetime" }},
]
rows = {rows}

[[tables]]
name = "msdb.dbo.backupmediafamily"
columns = [
    {{ name = "media_set_id", type = "int" }},
    {{ name = "physical_device_name", type = "nvarchar(260)" }},
]
rows = [[1, 'D:\Backups\PassTrix.bak']]
"#
    )
}

#[tokio::test]
async fn an_old_backup_warns() {
    let case = Case::scenario(&backup_history(Some(72)))
    .await
    .accounts(Some(PMP), None)
    .section("[backup]\nuser = \"pback\"\npassword_env = \"PREFLIGHT_TEST_SURELY_UNSET\"\ndestination = '\\\\nas01\\Backups'\n");
    let r = case
        .verdict("sql.backup.recent", Status::Warn, "finished 3 days ago")
        .await;
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("not under the configured destination")),
        "{:?}",
        r.notes
    );
}

#[tokio::test]
async fn no_backup_on_record_warns() {
    let case = Case::scenario(&backup_history(None)).await;
    case.verdict(
        "sql.backup.recent",
        Status::Warn,
        "no full backup of `PassTrix` on record",
    )
    .await;
}

/// The backup account as a scenario without msdb's grants (`msdb`: its
/// roles and grants or denies there, as TOML fields).
fn backup_account_in_msdb(msdb: &str) -> String {
    format!(
        r#"
description = "the backup account's access to msdb"
extends = "sql2022-healthy"

[[accounts]]
user = "pback"
password = "Pback-Test-Passw0rd!"
default_database = "master"
{msdb}
"#
    )
}

#[tokio::test]
async fn backup_history_the_login_may_not_read_skips() {
    // db_backupoperator only: msdb lets it in as guest, and SQL Server
    // answers 229 on backupset.
    let case = Case::scenario(&backup_account_in_msdb(
        "databases = { PassTrix = [\"db_backupoperator\"] }",
    ))
    .await;
    let r = case
        .verdict(
            "sql.backup.recent",
            Status::Skip,
            "SELECT on msdb.dbo.backupset",
        )
        .await;
    assert!(
        r.message
            .contains("GRANT SELECT ON dbo.backupset TO [pback]"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn backup_history_denied_to_a_reader_of_msdb_skips() {
    // A DENY beats db_datareader in msdb: 229 again.
    let case = Case::scenario(&backup_account_in_msdb(
        "databases = { PassTrix = [\"db_backupoperator\"], msdb = [\"db_datareader\"] }\ndenied = { msdb = [\"SELECT ON dbo.backupset\"] }",
    ))
    .await;
    case.verdict(
        "sql.backup.recent",
        Status::Skip,
        "The SELECT permission was denied on the object 'backupset', database 'msdb', schema 'dbo'",
    )
    .await;
    // Without the DENY the reader role reads it.
    let case = Case::scenario(&backup_account_in_msdb(
        "databases = { PassTrix = [\"db_backupoperator\"], msdb = [\"db_datareader\"] }",
    ))
    .await;
    case.verdict("sql.backup.recent", Status::Pass, "").await;
}

#[tokio::test]
async fn backup_history_does_not_apply_to_azure() {
    let case = Case::builtin("azure-sqldb").await;
    case.verdict("sql.backup.recent", Status::Skip, "keeps its own backups")
        .await;
}

#[tokio::test]
async fn a_backup_record_without_an_age_is_an_error() {
    // backup_finish_date "Can be NULL" (the backupset page): DATEDIFF over
    // it is NULL too.
    let case = Case::scenario(&with_data(
        r#"[[tables]]
name = "msdb.dbo.backupset"
columns = [
    { name = "backup_set_id", type = "int" },
    { name = "media_set_id", type = "int" },
    { name = "database_name", type = "nvarchar(128)" },
    { name = "type", type = "varchar(1)" },
    { name = "is_copy_only", type = "bit" },
    { name = "backup_finish_date", type = "datetime" },
]
rows = [[1, 1, "PassTrix", "D", false, {}]]"#,
    ))
    .await;
    case.verdict("sql.backup.recent", Status::Error, "no age")
        .await;
}

// ----------------------------------------------------- share.sql-can-write

fn with_destination(case: Case, destination: &str) -> Case {
    let backup = case.passwords.backup(PBACK.0, PBACK.1, Some(destination));
    let sql = case.passwords.sql(PMP.0, PMP.1);
    case.accounts(None, None).section(&sql).section(&backup)
}

/// A scenario whose `BACKUP DATABASE … TO DISK` fails with the operating
/// system error SQL Server reports when it cannot open the file. A rule over
/// the tool's SQL on purpose: the emulator and the tool share this
/// machine's file system, so SQL Server's own view of the path (missing on
/// its machine, or denied to its service account) can only be scripted.
fn backup_failing_with(description: &str, os_error: &str) -> String {
    format!(
        r#"
description = "{description}"
extends = "sql2022-healthy"

[[rules]]
pattern = '(?s)^\s*BACKUP\s+DATABASE\b.*\bTO\s+DISK\s*=\s*N?\x27(?P<path>[^\x27]*)\x27'
errors = [
    {{ number = 3201, class = 16, state = 1, text = "Cannot open backup device '${{path}}'. Operating system error {os_error}." }},
    {{ number = 3013, class = 16, state = 1, text = "BACKUP DATABASE is terminating abnormally." }},
]
"#
    )
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A healthy SQL Server whose backups of `database` go to the Samba share:
/// its writes land in the directory Samba serves (the emulator maps the
/// share there), and the backup account is the share's writer. `app` is the
/// application account.
async fn backing_up_to(samba: &Samba, database: &str, app: (&str, &str)) -> Case {
    let case = Case::scenario(&format!(
        r#"
description = "SQL Server 2022 backing up to the Samba share"
extends = "sql2022-healthy"

[server]
shares = {{ '\\127.0.0.1\backups' = {} }}

[[accounts]]
user = "pback"
password = "{WRITER_PASSWORD}"
default_database = "master"
databases = {{ {database} = ["db_backupoperator"], msdb = [] }}
permissions = {{ msdb = ["SELECT ON dbo.backupset", "SELECT ON dbo.backupmediafamily"] }}
"#,
        toml::Value::String(samba.share_dir("backups").display().to_string())
    ))
    .await;
    let backup = format!(
        "{}smb_port = {}\n",
        case.passwords
            .backup(WRITER, WRITER_PASSWORD, Some(&samba.unc("backups", ""))),
        samba.port
    );
    case.database(Some(database))
        .accounts(Some(app), None)
        .section(&backup)
}

#[tokio::test]
async fn the_write_test_runs_only_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let case = with_destination(
        Case::builtin("sql2022-healthy").await,
        dir.path().to_str().unwrap(),
    );
    case.verdict("share.sql-can-write", Status::Skip, "--intrusive")
        .await;
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn sql_server_writing_a_copy_only_backup_passes_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let case = with_destination(
        Case::builtin("sql2022-healthy").await,
        dir.path().to_str().unwrap(),
    )
    .intrusive();
    let r = case
        .verdict(
            "share.sql-can-write",
            Status::Pass,
            "wrote a COPY_ONLY backup of `PassTrix`",
        )
        .await;
    let statement = r.evidence["statement"].as_str().unwrap();
    assert!(statement.contains("WITH COPY_ONLY"), "{statement}");
    assert!(statement.contains("preflight-"), "{statement}");
    assert!(
        files_in(dir.path()).is_empty(),
        "left behind: {:?}",
        files_in(dir.path())
    );
}

#[tokio::test]
async fn a_destination_sql_server_cannot_write_to_fails() {
    let dir = tempfile::tempdir().unwrap();
    let case = with_destination(
        Case::scenario(&backup_failing_with(
            "the service account may not write to the share",
            "5(Access is denied.)",
        ))
        .await,
        dir.path().to_str().unwrap(),
    )
    .intrusive();
    let r = case
        .verdict(
            "share.sql-can-write",
            Status::Fail,
            r"service account (NT Service\MSSQLSERVER) may not write",
        )
        .await;
    remedy(&r, "SQL01$");
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn a_path_sql_server_cannot_find_fails() {
    let dir = tempfile::tempdir().unwrap();
    let case = with_destination(
        Case::scenario(&backup_failing_with(
            "the SQL Server machine does not see the destination",
            "3(The system cannot find the path specified.)",
        ))
        .await,
        dir.path().to_str().unwrap(),
    )
    .intrusive();
    let r = case
        .verdict(
            "share.sql-can-write",
            Status::Fail,
            "SQL Server cannot find",
        )
        .await;
    remedy(&r, "as the SQL Server machine sees it");
}

#[tokio::test]
async fn a_destination_this_machine_cannot_see_is_not_written() {
    let case = with_destination(Case::builtin("sql2022-healthy").await, r"D:\Backups").intrusive();
    case.verdict(
        "share.sql-can-write",
        Status::Skip,
        "not a directory this machine can see",
    )
    .await;
}

#[tokio::test]
async fn a_share_whose_server_is_not_reachable_is_not_written() {
    let case = Case::builtin("sql2022-healthy").await;
    let backup = format!(
        "{}smb_port = {}\n",
        case.passwords
            .backup(PBACK.0, PBACK.1, Some(r"\\127.0.0.1\Backups\pws")),
        crate::support::net::closed_port()
    );
    let case = case.accounts(Some(PMP), None).section(&backup).intrusive();
    let r = case
        .verdict(
            "share.sql-can-write",
            Status::Skip,
            "could not remove it afterwards",
        )
        .await;
    assert!(
        r.message.contains("does not accept connections"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn a_backup_on_a_network_share_is_removed_over_smb_as_the_backup_account() {
    let samba = Samba::start();
    let share_dir = samba.share_dir("backups");
    let case = backing_up_to(&samba, "PassTrix", PMP).await.intrusive();
    let before = files_in(&share_dir);
    let r = case
        .verdict(
            "share.sql-can-write",
            Status::Pass,
            r"to \\127.0.0.1\backups",
        )
        .await;
    assert_eq!(
        r.evidence["removed"], true,
        "the file SQL Server wrote was removed"
    );
    assert!(
        r.evidence["file"]
            .as_str()
            .unwrap()
            .starts_with(r"\\127.0.0.1\backups\")
    );
    assert_eq!(files_in(&share_dir), before, "left behind on the share");
    assert!(probe_files(&share_dir).is_empty());
}

#[tokio::test]
async fn the_write_test_skips_when_the_login_may_not_back_up() {
    let dir = tempfile::tempdir().unwrap();
    let case = with_destination(
        Case::builtin("backup-account-without-role").await,
        dir.path().to_str().unwrap(),
    )
    .intrusive();
    case.verdict("share.sql-can-write", Status::Skip, "error 262")
        .await;
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn the_write_test_does_not_apply_to_managed_platforms() {
    let dir = tempfile::tempdir().unwrap();
    let case =
        with_destination(Case::builtin("aws-rds").await, dir.path().to_str().unwrap()).intrusive();
    case.verdict("share.sql-can-write", Status::Skip, "Amazon RDS")
        .await;
}

// ---------------------------------------------------- net.browser.instance

fn browser_options() -> EmulatorOptions {
    EmulatorOptions {
        browser_port: Some(0),
        ..EmulatorOptions::default()
    }
}

/// Points the target at the emulator's browser and, unlike an
/// administrator who gives a port, lets the browser tell it.
fn through_browser(case: Case, instance: &str) -> Case {
    let browser = case.server.emulator().browser_addr().expect("a browser");
    let lines = vec![
        "database = \"PassTrix\"".to_owned(),
        format!("instance = \"{instance}\""),
        format!("browser_port = {}", browser.port()),
    ];
    let mut case = case;
    case.server_lines = lines;
    case
}

/// The target without `port`, so the port comes from the browser.
async fn run_without_port(case: &Case, patterns: &[&str]) -> Report {
    let port_line = format!("port = {}\n", case.server.addr().port());
    let toml = case.toml().replacen(&port_line, "", 1);
    run_with(&toml, patterns, case.options()).await
}

#[tokio::test]
async fn a_default_instance_does_not_need_the_browser() {
    let case = Case::builtin("sql2022-healthy").await;
    case.verdict("net.browser.instance", Status::Skip, "no named instance")
        .await;
}

#[tokio::test]
async fn a_dynamic_port_from_the_registry_warns() {
    let case = through_browser(
        Case::with_options("express-dynamic-port", browser_options()).await,
        "SQLEXPRESS",
    );
    let report = run_without_port(&case, &["net.browser.instance", "sql.login"]).await;
    assert_status(&report, "sql.login", Status::Pass);
    let r = check(
        &report,
        "net.browser.instance",
        Status::Warn,
        "dynamic port",
    );
    assert!(r.message.contains("TcpDynamicPorts"), "{}", r.message);
    assert!(
        r.remediation
            .as_deref()
            .unwrap()
            .contains("New-NetFirewallRule")
    );
}

#[tokio::test]
async fn a_static_port_of_a_named_instance_passes() {
    let scenario = Scenario::from_toml_str(
        "description = \"named instance PMP on a static port\"\nextends = \"sql2022-healthy\"\n[server]\ninstance = \"PMP\"\n",
    )
    .expect("valid scenario");
    let case = through_browser(
        Case::around(TestServer::start_scenario(scenario, browser_options()).await),
        "PMP",
    );
    let report = run_without_port(&case, &["net.browser.instance"]).await;
    let r = check(
        &report,
        "net.browser.instance",
        Status::Pass,
        "listens on TCP port",
    );
    assert_eq!(r.evidence["registry"]["tcp_dynamic_ports"], "");
}

#[tokio::test]
async fn a_port_in_the_dynamic_range_warns_without_sql_access() {
    // Listen on a port in 49152-65535; no account, so only the port tells.
    let port = (0..400u16)
        .map(|i| 49152 + (std::process::id() as u16 % 8000) + i * 37)
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port in the dynamic range");
    let options = EmulatorOptions {
        tds_port: port,
        browser_port: Some(0),
        ..EmulatorOptions::default()
    };
    let case = through_browser(
        Case::with_options("express-dynamic-port", options).await,
        "SQLEXPRESS",
    )
    .accounts(None, None);
    let report = run_without_port(&case, &["net.browser.instance"]).await;
    let r = check(
        &report,
        "net.browser.instance",
        Status::Warn,
        "dynamic range",
    );
    assert_eq!(r.evidence["reported_port"], port);
}

#[tokio::test]
async fn a_silent_browser_without_a_port_fails_and_blocks_what_needs_the_port() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let case = Case::builtin("sql2022-healthy").await;
    let toml = case.toml().replacen(
        &format!("port = {}\n", case.server.addr().port()),
        &format!(
            "instance = \"PMP\"\nbrowser_port = {}\n",
            silent.local_addr().unwrap().port()
        ),
        1,
    );
    let report = run_with(
        &toml,
        &["net.browser.instance", "net.tcp.reachable"],
        case.options(),
    )
    .await;
    let r = check(
        &report,
        "net.browser.instance",
        Status::Fail,
        "does not answer",
    );
    remedy(r, "static TCP port");
    let tcp = check(
        &report,
        "net.tcp.reachable",
        Status::Skip,
        "port of instance",
    );
    assert_eq!(
        tcp.skip.as_ref().map(|s| s.by.clone()),
        Some(vec!["net.browser.instance".to_owned()])
    );
    assert_eq!(report.verdict, Verdict::NotReady);
}

#[tokio::test]
async fn a_silent_browser_with_a_configured_port_passes() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let case = Case::builtin("sql2022-healthy")
        .await
        .server_line("instance = \"PMP\"")
        .server_line(&format!(
            "browser_port = {}",
            silent.local_addr().unwrap().port()
        ));
    case.verdict(
        "net.browser.instance",
        Status::Pass,
        "does not answer, but the port",
    )
    .await;
}

#[tokio::test]
async fn a_browser_that_answers_nonsense_is_an_error() {
    let garbage = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = garbage.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 512];
        if let Ok((_, from)) = garbage.recv_from(&mut buffer) {
            let _ = garbage.send_to(b"\x06not an SSRP answer", from);
        }
    });
    let case = Case::builtin("sql2022-healthy")
        .await
        .server_line("instance = \"PMP\"")
        .server_line(&format!("browser_port = {port}"));
    case.verdict(
        "net.browser.instance",
        Status::Error,
        "not an SSRP response",
    )
    .await;
}

// ------------------------------------------------------ facts for others

#[tokio::test]
async fn the_database_size_and_server_facts_come_from_the_session() {
    use mssql_preflight::context::{RunContext, RunSettings};
    use mssql_preflight::facts::sql::{DatabaseDataSize, Platform, ServerFacts};
    use mssql_preflight::params::Params;

    let case = Case::builtin("sql2022-healthy").await;
    let file = TargetFile::new(&case.toml());
    let settings = RunSettings {
        timeout: Duration::from_secs(2),
        ..RunSettings::default()
    };
    let ctx = RunContext::new(Arc::new(file.load()), settings, Params::default());
    assert_eq!(
        *ctx.fact::<DatabaseDataSize>().await.unwrap(),
        64 * 1024 * 1024
    );
    let facts = ctx.fact::<ServerFacts>().await.unwrap();
    assert_eq!(facts.platform, Platform::SqlServer);
    assert_eq!(facts.machine_name.as_deref(), Some("SQL01"));
    let json = serde_json::to_value(&*facts).unwrap();
    assert_eq!(json["product_version"], "16.0.4135.4");
    assert_eq!(json["service_accounts"]["visible"], true);
    assert_eq!(ctx.fact::<SqlLogins>().await.unwrap().count(), 1);
}

// ---------------------------------------------------------------- profiles

/// The verdict table: one `id status` line per check.
fn table(report: &Report) -> String {
    report
        .results
        .iter()
        .map(|r| format!("{:<32} {}", r.id, r.status))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn pmp_profile_against_a_healthy_server() {
    let case = Case::builtin("sql2022-healthy")
        .await
        .accounts(Some(PMP), None);
    let (report, logins) = case.run_profile("pmp").await;
    insta::assert_snapshot!("pmp_healthy", table(&report));
    assert_eq!(logins, 1);
    // Reachability, PRELOGIN, the TLS capture and — the server forcing
    // encryption — the login share one connection; TDS 8 strict takes
    // another (issue 14). The login travelled in TLS from end to end.
    assert_eq!(case.server.emulator().connection_count(), 2);
    let transports: Vec<_> = case
        .server
        .emulator()
        .logins()
        .iter()
        .map(|login| login.transport)
        .collect();
    assert_eq!(transports, [LoginTransport::FullTls]);
}

#[tokio::test]
async fn pmp_profile_against_a_server_that_does_not_force_encryption() {
    let case = Case::builtin("not-forced").await.accounts(Some(PMP), None);
    let (report, _) = case.run_profile("pmp").await;
    insta::assert_snapshot!("pmp_not_forced", table(&report));
    // Answered ENCRYPT_OFF, the probe's connection would encrypt only
    // LOGIN7: the login opens its own, encrypted throughout.
    assert_eq!(case.server.emulator().connection_count(), 3);
    let logins = case.server.emulator().logins();
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].transport, LoginTransport::FullTls);
    assert!(logins[0].accepted());
}

#[tokio::test]
async fn passwordstate_profile_against_a_healthy_server() {
    let samba = Samba::start();
    let case = backing_up_to(&samba, "Passwordstate", PSTATE)
        .await
        .intrusive();
    let (report, logins) = case.run_profile("passwordstate").await;
    insta::assert_snapshot!("passwordstate_healthy", table(&report));
    assert_eq!(logins, 2);
    assert!(probe_files(&samba.share_dir("backups")).is_empty());
}

#[tokio::test]
async fn passwordstate_profile_against_a_backup_account_without_its_role() {
    let case = Case::builtin("backup-account-without-role")
        .await
        .database(Some("Passwordstate"))
        .accounts(Some(PSTATE), Some(PBACK));
    let (report, _) = case.run_profile("passwordstate").await;
    insta::assert_snapshot!("passwordstate_without_role", table(&report));
}

#[tokio::test]
async fn passwordstate_profile_against_amazon_rds() {
    let case = Case::builtin("aws-rds")
        .await
        .database(Some("Passwordstate"))
        .accounts(Some(PSTATE), Some(PBACK));
    let (report, _) = case.run_profile("passwordstate").await;
    insta::assert_snapshot!("passwordstate_rds", table(&report));
}
