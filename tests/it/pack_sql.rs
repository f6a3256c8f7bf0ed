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

/// How the application database looks to the four built-in pack checks,
/// said as scenario data: the strict emulator answers the packs' own
/// queries from it, as SQL Server would.
#[derive(Clone, Copy)]
struct PassTrix {
    /// SQL Server Express (EngineEdition 4) with this many MB of data
    /// files; `None`: not Express.
    express_data_mb: Option<u32>,
    log: Log,
    /// A Passwordstate BackupSettings table in the database with this many
    /// impersonation columns out of 2, 4 and 9; `None`: no such table.
    invalid_impersonations: Option<usize>,
    /// A database master key, protected by the service master key or not;
    /// `None`: no master key.
    master_key_by_server: Option<bool>,
}

#[derive(Clone, Copy)]
enum Log {
    /// FULL recovery, log backed up.
    BackedUp,
    /// FULL recovery, log never backed up.
    NeverBackedUp,
    /// The login may not see the database's recovery status (VIEW ANY
    /// DATABASE denied, and it does not own the database).
    Hidden,
}

const IMPERSONATIONS: [&str; 9] = [
    "BackupDatabaseImpersonation",
    "BackupEncryptionKeysImpersonation",
    "BackupFilesImpersonation",
    "BackupTest1Impersonation",
    "BackupTest2Impersonation",
    "BackupTest3Impersonation",
    "BackupTest4Impersonation",
    "UIImpersonation",
    "ServiceImpersonation",
];

/// The application account pmp as the built-in scenarios have it, with
/// `extra` TOML fields.
fn pmp_account(extra: &str) -> String {
    format!(
        "[[accounts]]\nuser = \"pmp\"\npassword = \"Pmp-Test-Passw0rd!\"\ndefault_database = \"PassTrix\"\ndatabases = {{ PassTrix = [\"db_owner\"] }}\n{extra}\n\n"
    )
}

impl PassTrix {
    fn scenario_data(self) -> String {
        let mut data = String::new();
        if let Some(mb) = self.express_data_mb {
            // sys.database_files sizes are 8 KiB pages: 128 a MB.
            data += &format!(
                "[server.properties]\nEngineEdition = 4\nEdition = \"Express Edition (64-bit)\"\n\n\
                 [[tables]]\nname = \"sys.database_files\"\ndatabase = \"PassTrix\"\n\
                 columns = [{{ name = \"file_id\", type = \"int\" }}, {{ name = \"type\", type = \"tinyint\" }}, {{ name = \"size\", type = \"int\" }}]\n\
                 rows = [[1, 0, {}], [2, 1, 2048]]\n\n",
                mb * 128
            );
        }
        let lsn = match self.log {
            Log::BackedUp => "last_log_backup_lsn = 42000000012300001\n",
            Log::NeverBackedUp | Log::Hidden => "",
        };
        data += &format!(
            "[[databases]]\nname = \"PassTrix\"\nid = 5\nrecovery_model = \"FULL\"\n{lsn}master_key_encrypted_by_server = {}\n\n",
            self.master_key_by_server.unwrap_or(false)
        );
        if let Log::Hidden = self.log {
            data += &pmp_account("server_denied = [\"VIEW ANY DATABASE\"]");
        }
        if let Some(invalid) = self.invalid_impersonations {
            let columns: Vec<String> = IMPERSONATIONS
                .iter()
                .map(|name| format!("{{ name = \"{name}\", type = \"int\" }}"))
                .collect();
            let values: Vec<&str> = (0..IMPERSONATIONS.len())
                .map(|at| if at < invalid { "3" } else { "2" })
                .collect();
            data += &format!(
                "[[tables]]\nname = \"dbo.BackupSettings\"\ndatabase = \"PassTrix\"\ncolumns = [{}]\nrows = [[{}]]\n\n",
                columns.join(", "),
                values.join(", ")
            );
        }
        if self.master_key_by_server.is_none() {
            data += "[[tables]]\nname = \"sys.symmetric_keys\"\ndatabase = \"PassTrix\"\ncolumns = [{ name = \"name\", type = \"sysname\" }]\nrows = []\n\n";
        }
        data
    }
}

async fn server(data: &str) -> TestServer {
    let toml = format!(
        "description = \"the application database as data\"\nextends = \"sql2022-healthy\"\n\n{data}"
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

async fn run_built_in(state: PassTrix) -> Report {
    let server = server(&state.scenario_data()).await;
    let passwords = Passwords::new();
    run(&target(&server, &passwords), &BUILT_IN).await
}

const WELL_KEPT: PassTrix = PassTrix {
    express_data_mb: Some(512),
    log: Log::BackedUp,
    invalid_impersonations: Some(0),
    master_key_by_server: Some(true),
};

#[tokio::test]
async fn built_in_sql_pack_checks_pass_on_a_well_kept_server() {
    let report = run_built_in(WELL_KEPT).await;
    for id in BUILT_IN {
        let r = assert_status(&report, id, Status::Pass);
        assert!(r.notes.is_empty(), "verified TLS: no note on {id}: {r:#?}");
        assert_eq!(r.evidence["account"], "pmp");
    }
}

#[tokio::test]
async fn built_in_sql_pack_checks_warn_with_the_fix() {
    let report = run_built_in(PassTrix {
        express_data_mb: Some(9000),
        log: Log::NeverBackedUp,
        invalid_impersonations: Some(3),
        master_key_by_server: Some(false),
    })
    .await;
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
        "the master key of `PassTrix` is protected only by its password, so PMP cannot open it once masterkey.key is moved away"
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
    let report = run_built_in(PassTrix {
        express_data_mb: None,
        log: Log::Hidden,
        invalid_impersonations: None,
        master_key_by_server: None,
    })
    .await;
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
    // Each query meets a DENY of SELECT: on the system views (SQL Server
    // lets an administrator deny them too) and on the Passwordstate table,
    // which the login still sees through its INSERT grant.
    let rules = WELL_KEPT.scenario_data()
        + "[server]\nobjects = [\"passtrix.dbo.backupsettings\"]\n\n"
        + &pmp_account(
            "permissions = { PassTrix = [\"INSERT ON dbo.BackupSettings\"] }\n\
             denied = { PassTrix = [\"SELECT ON sys.database_files\", \"SELECT ON sys.database_recovery_status\", \"SELECT ON dbo.BackupSettings\", \"SELECT ON sys.symmetric_keys\"] }",
        );
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
    let server = server(&WELL_KEPT.scenario_data()).await;
    // No [sql] account configured.
    let report = run(&server.toml(), &["sql.express.size-limit"]).await;
    let r = assert_status(&report, "sql.express.size-limit", Status::Skip);
    assert!(r.message.contains("[sql]"), "{r:#?}");
}

#[tokio::test]
async fn findings_over_an_accepted_unverified_certificate_say_so() {
    let server = server(&WELL_KEPT.scenario_data()).await;
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
/// `audit_log`: whether the application database has the pack's table.
async fn run_acme(audit_log: bool, agent_mode: u32) -> (Option<i32>, Report) {
    let rows = if audit_log { "[[\"AuditLog\"]]" } else { "[]" };
    let server = server(&format!(
        "[[tables]]\nname = \"sys.tables\"\ndatabase = \"PassTrix\"\ncolumns = [{{ name = \"name\", type = \"sysname\" }}]\nrows = {rows}\n"
    ))
    .await;
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
    let (code, report) = run_acme(true, 0o600).await;
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

    let (code, report) = run_acme(false, 0o640).await;
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
