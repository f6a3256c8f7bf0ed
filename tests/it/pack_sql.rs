//! `[check.sql]` pack checks against the emulator: every verdict of every
//! built-in pack check, a user's pack with a sql and a file check run by the
//! binary, and the note on findings read over an unverified connection.

use std::path::Path;

use mssql_emulator::{EmulatorOptions, Scenario};
use mssql_preflight::facts::sql::UNVERIFIED_NOTE;
use mssql_preflight::finding::Status;
use mssql_preflight::report::Report;

use crate::packs::acme_dir;
use crate::support::accounts::Passwords;
use crate::support::emulator::TestServer;
use crate::support::{assert_status, preflight, run};

const PMP: (&str, &str) = ("pmp", "Pmp-Test-Passw0rd!");

const BUILT_IN: [&str; 4] = [
    "sql.express.size-limit",
    "sql.database.log-backups",
    "sql.passwordstate.backup-impersonation",
    "sql.pmp.master-key-protection",
];

/// One rule answering a query that matches `pattern` with one int/bit column.
fn rule(pattern: &str, column: &str, ty: &str, rows: &str) -> String {
    rule_with(pattern, column, ty, rows, &[])
}

/// [`rule`] with more text columns after the judged one, each with its
/// value in every row: what the built-in packs' message templates read.
fn rule_with(pattern: &str, column: &str, ty: &str, rows: &str, texts: &[(&str, &str)]) -> String {
    let mut columns = format!("{{ name = \"{column}\", type = \"{ty}\" }}");
    let mut extra = String::new();
    for (name, value) in texts {
        columns.push_str(&format!(
            ", {{ name = \"{name}\", type = \"nvarchar(200)\" }}"
        ));
        extra.push_str(&format!(", \"{value}\""));
    }
    // `[[v]]` becomes `[[v, "text", …]]`; no row stays no row.
    let rows = match rows.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
        Some(value) => format!("[[{value}{extra}]]"),
        None => rows.to_owned(),
    };
    format!("[[rules]]\npattern = '{pattern}'\ncolumns = [{columns}]\nrows = {rows}\n\n")
}

/// Answers for the four built-in pack queries: `values` in BUILT_IN order,
/// each a TOML rows literal (`[[1]]`, `[[{}]]` for NULL, `[]` for no row),
/// with the columns their messages name.
fn answers(values: [&str; 4]) -> String {
    let log_handling = if values[1] == "[[1]]" {
        "its log has been backed up since the last full backup"
    } else {
        "its log has not been backed up since the last full backup, so it only grows"
    };
    let protection = if values[3] == "[[1]]" {
        "is also protected by the service master key"
    } else {
        "is protected only by its password"
    };
    [
        rule_with(
            r"sys\.database_files",
            "data_mb",
            "int",
            values[0],
            &[("database_name", "PassTrix")],
        ),
        rule_with(
            "database_recovery_status",
            "log_is_managed",
            "int",
            values[1],
            &[
                ("database_name", "PassTrix"),
                ("recovery_model", "FULL"),
                ("log_handling", log_handling),
            ],
        ),
        rule("BackupSettings", "invalid_values", "int", values[2]),
        rule_with(
            "MS_DatabaseMasterKey",
            "opened_by_server",
            "bit",
            values[3],
            &[("database_name", "PassTrix"), ("protection", protection)],
        ),
    ]
    .concat()
}

async fn server(rules: &str) -> TestServer {
    let toml = format!(
        "description = \"check-pack queries answered by rules\"\nextends = \"sql2022-healthy\"\n\n{rules}"
    );
    let scenario = Scenario::from_toml_str(&toml).expect("the test's scenario is valid");
    TestServer::start_scenario(scenario, EmulatorOptions::default()).await
}

/// The target for `server`: the application database and account.
fn target(server: &TestServer, passwords: &Passwords) -> String {
    server
        .toml()
        .replacen("\n\n[tls]", "\ndatabase = \"PassTrix\"\n\n[tls]", 1)
        + "\n"
        + &passwords.sql(PMP.0, PMP.1)
}

async fn run_built_in(values: [&str; 4]) -> Report {
    let server = server(&answers(values)).await;
    let passwords = Passwords::new();
    run(&target(&server, &passwords), &BUILT_IN).await
}

#[tokio::test]
async fn built_in_sql_pack_checks_pass_on_a_well_kept_server() {
    let report = run_built_in(["[[512]]", "[[1]]", "[[0]]", "[[1]]"]).await;
    for id in BUILT_IN {
        let r = assert_status(&report, id, Status::Pass);
        assert!(r.notes.is_empty(), "verified TLS: no note on {id}: {r:#?}");
        assert_eq!(r.evidence["account"], "pmp");
    }
}

#[tokio::test]
async fn built_in_sql_pack_checks_warn_with_the_fix() {
    let report = run_built_in(["[[9000]]", "[[0]]", "[[3]]", "[[0]]"]).await;
    // Each says what it found, in the words of its pack's message template.
    let express = assert_status(&report, "sql.express.size-limit", Status::Warn);
    assert_eq!(
        express.message,
        "the data files of `PassTrix` hold 9000 MB; SQL Server Express stops a database at 10,240 MB"
    );
    assert!(
        express
            .remediation
            .as_deref()
            .unwrap()
            .contains("sp_spaceused"),
        "{express:#?}"
    );
    let log = assert_status(&report, "sql.database.log-backups", Status::Warn);
    assert_eq!(
        log.message,
        "`PassTrix` is in FULL recovery: its log has not been backed up since the last full backup, so it only grows"
    );
    assert!(
        log.remediation
            .as_deref()
            .unwrap()
            .contains("RECOVERY SIMPLE")
    );
    let impersonation = assert_status(
        &report,
        "sql.passwordstate.backup-impersonation",
        Status::Warn,
    );
    assert_eq!(
        impersonation.message,
        "3 of the nine impersonation settings in BackupSettings are not 2, 4 or 9"
    );
    let key = assert_status(&report, "sql.pmp.master-key-protection", Status::Warn);
    assert_eq!(
        key.message,
        "the master key of `PassTrix` is protected only by its password"
    );
    assert!(
        key.remediation
            .as_deref()
            .unwrap()
            .contains("ADD ENCRYPTION BY SERVICE MASTER KEY")
    );
}

#[tokio::test]
async fn built_in_sql_pack_checks_skip_where_they_do_not_apply() {
    let report = run_built_in(["[[{}]]", "[]", "[[{}]]", "[[{}]]"]).await;
    let express = assert_status(&report, "sql.express.size-limit", Status::Skip);
    assert!(
        express.message.contains("not SQL Server Express"),
        "{express:#?}"
    );
    let log = assert_status(&report, "sql.database.log-backups", Status::Skip);
    assert!(log.message.contains("VIEW ANY DATABASE"), "{log:#?}");
    let impersonation = assert_status(
        &report,
        "sql.passwordstate.backup-impersonation",
        Status::Skip,
    );
    assert!(
        impersonation
            .message
            .contains("not (yet) a Passwordstate database"),
        "{impersonation:#?}"
    );
    let key = assert_status(&report, "sql.pmp.master-key-protection", Status::Skip);
    assert!(key.message.contains("no master key yet"), "{key:#?}");
}

#[tokio::test]
async fn a_query_the_server_refuses_is_an_error_with_its_message() {
    let denied = |pattern: &str| {
        format!(
            "[[rules]]\npattern = '{pattern}'\nerrors = [{{ number = 229, class = 14, state = 5, text = \"The SELECT permission was denied on the object.\" }}]\n\n"
        )
    };
    let rules = [
        denied(r"sys\.database_files"),
        denied("database_recovery_status"),
        denied("BackupSettings"),
        denied("MS_DatabaseMasterKey"),
    ]
    .concat();
    let server = server(&rules).await;
    let passwords = Passwords::new();
    let report = run(&target(&server, &passwords), &BUILT_IN).await;
    for id in BUILT_IN {
        let r = assert_status(&report, id, Status::Error);
        assert!(r.message.contains("permission was denied"), "{r:#?}");
    }
}

#[tokio::test]
async fn without_a_session_sql_pack_checks_skip_and_say_why() {
    let server = server(&answers(["[[1]]", "[[1]]", "[[0]]", "[[1]]"])).await;
    // No [sql] account configured.
    let report = run(&server.toml(), &["sql.express.size-limit"]).await;
    let r = assert_status(&report, "sql.express.size-limit", Status::Skip);
    assert!(r.message.contains("[sql]"), "{r:#?}");
}

#[tokio::test]
async fn findings_over_an_accepted_unverified_certificate_say_so() {
    let server = server(&answers(["[[512]]", "[[1]]", "[[0]]", "[[1]]"])).await;
    let passwords = Passwords::new();
    let toml = server
        .target()
        .without_ca_file()
        .trusting_server_certificate()
        .with(&passwords.sql(PMP.0, PMP.1))
        .render();
    let report = run(&toml, &["sql.express.size-limit"]).await;
    let r = assert_status(&report, "sql.express.size-limit", Status::Pass);
    assert_eq!(r.notes, vec![UNVERIFIED_NOTE.to_owned()], "{r:#?}");
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The user's pack (a sql and a file check, and a profile `acme`) run by
/// the binary against the emulator.
async fn run_acme(audit_tables: &str, agent_mode: u32) -> (Option<i32>, Report) {
    let server = server(&rule("AuditLog", "audit_tables", "int", audit_tables)).await;
    let passwords = Passwords::new();
    let files = tempfile::tempdir().unwrap();
    let agent_conf = files.path().join("agent.conf");
    std::fs::write(&agent_conf, "token_file = /etc/acme/token\n").unwrap();
    set_mode(&agent_conf, agent_mode);
    let checks = acme_dir(&agent_conf);
    let target_file = files.path().join("target.toml");
    std::fs::write(&target_file, target(&server, &passwords)).unwrap();
    let mut command = preflight();
    command
        .args(["run", "--profile", "acme", "--format", "json", "--target"])
        .arg(&target_file)
        .arg("--checks-dir")
        .arg(checks.path());
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let report = Report::from_json(&String::from_utf8(output.stdout).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code(), report)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_pack_runs_its_sql_and_file_checks_against_the_emulator() {
    let (code, report) = run_acme("[[1]]", 0o600).await;
    assert_eq!(code, Some(0), "{report:#?}");
    assert_eq!(report.profile, "acme");
    let ids: Vec<&str> = report.results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "net.tcp.reachable",
            "sql.acme.audit-table",
            "host.acme.agent-config"
        ]
    );
    let audit = assert_status(&report, "sql.acme.audit-table", Status::Pass);
    assert_eq!(audit.evidence["rows"][0]["audit_tables"], 1);
    assert_status(&report, "host.acme.agent-config", Status::Pass);

    let (code, report) = run_acme("[[0]]", 0o640).await;
    assert_eq!(code, Some(1), "{report:#?}");
    let audit = assert_status(&report, "sql.acme.audit-table", Status::Fail);
    assert_eq!(
        audit.remediation.as_deref(),
        Some("How to fix sql.acme.audit-table.")
    );
    let agent = assert_status(&report, "host.acme.agent-config", Status::Fail);
    assert!(
        agent.remediation.as_deref().unwrap().contains("chmod g-r"),
        "{agent:#?}"
    );
}
