//! Every SQL check and built-in pack check against every platform
//! personality, once with a sysadmin login and once with the logins the
//! applications really use (PMP's db_owner account `pmp`, Passwordstate's
//! backup account `pback` with db_backupoperator only), on the strict
//! emulator: each cell's verdict must make sense, and the emulator must have
//! understood every statement the tool sent. The matrix is kept in
//! `docs/platforms.md`: `MSSQL_PREFLIGHT_UPDATE_PLATFORMS=1` rewrites it,
//! otherwise the test fails when it differs.

use std::collections::BTreeMap;

use mssql_emulator::{EmulatorOptions, Scenario};
use mssql_preflight::finding::{SkipKind, Status};
use mssql_preflight::report::Report;

use crate::support::accounts::Passwords;
use crate::support::emulator::TestServer;
use crate::support::run;

/// (scenario, what it plays)
const PLATFORMS: [(&str, &str); 7] = [
    ("sql2016", "SQL Server 2016"),
    ("sql2019-healthy", "SQL Server 2019"),
    ("sql2022-healthy", "SQL Server 2022"),
    ("express-dynamic-port", "SQL Server 2019 Express"),
    ("azure-sqldb", "Azure SQL Database"),
    ("azure-mi", "Azure SQL Managed Instance"),
    ("aws-rds", "Amazon RDS for SQL Server 2019"),
];

/// (name, [sql] account, [backup] account): (user, password)
type Login = (
    &'static str,
    (&'static str, &'static str),
    (&'static str, &'static str),
);
const LOGINS: [Login; 2] = [
    (
        "sysadmin",
        ("sa", "Sa-Test-Passw0rd!"),
        ("sa", "Sa-Test-Passw0rd!"),
    ),
    (
        "least privilege",
        ("pmp", "Pmp-Test-Passw0rd!"),
        ("pback", "Pback-Test-Passw0rd!"),
    ),
];

struct Cell {
    status: Status,
    message: String,
    skip: Option<SkipKind>,
}

/// The scenario, with `pmp` and `pback` as the applications really set them
/// up for the least-privileged cells: `pmp` db_owner of PassTrix, `pback`
/// db_backupoperator, and neither any server permission nor SELECT on
/// msdb's backup history (the built-in scenarios grant them those).
fn personality(scenario: &str, login: &Login) -> Scenario {
    if login.0 == "sysadmin" {
        return Scenario::builtin(scenario).unwrap();
    }
    Scenario::from_toml_str(&format!(
        "description = \"{scenario}, least privilege\"\nextends = \"{scenario}\"\n\n\
         [[accounts]]\nuser = \"pmp\"\npassword = \"Pmp-Test-Passw0rd!\"\ndefault_database = \"PassTrix\"\ndatabases = {{ PassTrix = [\"db_owner\"] }}\n\n\
         [[accounts]]\nuser = \"pback\"\npassword = \"Pback-Test-Passw0rd!\"\ndefault_database = \"master\"\ndatabases = {{ PassTrix = [\"db_backupoperator\"], Passwordstate = [\"db_backupoperator\"] }}\n"
    ))
    .unwrap()
}

async fn run_cell(scenario: &str, login: &Login) -> (Report, Vec<String>) {
    let server =
        TestServer::start_scenario(personality(scenario, login), EmulatorOptions::default()).await;
    let passwords = Passwords::new();
    let (_, (user, password), (backup_user, backup_password)) = *login;
    let toml = server
        .target()
        .in_server("database = \"PassTrix\"")
        .with(&passwords.sql(user, password))
        .with(&passwords.backup(backup_user, backup_password, None))
        .render();
    let report = run(&toml, &["sql.*"]).await;
    let unanswered = server
        .emulator()
        .unanswered_statements()
        .into_iter()
        .map(|statement| {
            format!(
                "{}: {} ({})",
                statement.user, statement.text, statement.reason
            )
        })
        .collect();
    (report, unanswered)
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Warn => "warn",
        Status::Fail => "fail",
        Status::Skip => "skip",
        Status::Error => "error",
        _ => "other",
    }
}

/// Checks whose skip follows from the data (no Express, no Passwordstate
/// table, PMP's default key), said in the check's own words.
const DATA_SKIPS: [&str; 3] = [
    "sql.express.size-limit",
    "sql.passwordstate.backup-impersonation",
    "sql.pmp.keys",
];

/// A cell makes sense when its verdict stands on evidence or says why it
/// has none: a skip is not applicable on the platform, or names the GRANT
/// that would let it run, or follows from the data; an error names the
/// missing permission.
fn assert_sensible(platform: &str, login: &str, id: &str, cell: &Cell) {
    let at = format!("{id} on {platform} as {login}: {}", cell.message);
    assert!(!cell.message.trim().is_empty(), "{at}: no message");
    match cell.status {
        Status::Pass | Status::Warn | Status::Fail => {}
        Status::Skip => assert!(
            cell.skip == Some(SkipKind::NotApplicable)
                || cell.message.contains("GRANT ")
                || DATA_SKIPS.contains(&id),
            "{at}: a skip must be not applicable, name the GRANT, or follow from the data"
        ),
        Status::Error => {
            let lower = cell.message.to_lowercase();
            assert!(
                lower.contains("permission") || lower.contains("grant"),
                "{at}: an error must name the missing permission"
            );
        }
        _ => panic!("{at}: unexpected status"),
    }
    assert!(
        !cell.message.contains("mssql-emulator"),
        "{at}: the emulator could not answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sql_check_on_every_platform_with_either_login() {
    let mut matrix: BTreeMap<String, BTreeMap<(usize, usize), Cell>> = BTreeMap::new();
    let mut unparsed = Vec::new();
    for (p, (scenario, _)) in PLATFORMS.iter().enumerate() {
        for (l, login) in LOGINS.iter().enumerate() {
            let (report, unanswered) = run_cell(scenario, login).await;
            unparsed.extend(
                unanswered
                    .into_iter()
                    .map(|text| format!("{scenario} as {}: {text}", login.0)),
            );
            for result in &report.results {
                matrix.entry(result.id.clone()).or_default().insert(
                    (p, l),
                    Cell {
                        status: result.status,
                        message: result.message.clone(),
                        skip: result.skip.as_ref().map(|s| s.kind),
                    },
                );
            }
        }
    }
    assert!(
        unparsed.is_empty(),
        "the strict emulator could not answer:\n{}",
        unparsed.join("\n")
    );
    for (id, row) in &matrix {
        for ((p, l), cell) in row {
            assert_sensible(PLATFORMS[*p].1, LOGINS[*l].0, id, cell);
        }
    }

    // What the platforms do not have is not applicable there.
    let azure_sqldb = PLATFORMS
        .iter()
        .position(|(s, _)| *s == "azure-sqldb")
        .unwrap();
    for l in 0..LOGINS.len() {
        let cell = &matrix["sql.database.log-backups"][&(azure_sqldb, l)];
        assert_eq!(cell.status, Status::Skip, "{}", cell.message);
        assert!(
            cell.skip == Some(SkipKind::NotApplicable),
            "{}",
            cell.message
        );
        assert!(
            cell.message.contains("sys.database_recovery_status"),
            "{}",
            cell.message
        );
    }

    // No registry, services or msdb history on the managed platforms; the
    // least-privileged login is told which GRANT reads the server views.
    for (p, (scenario, _)) in PLATFORMS.iter().enumerate() {
        let managed = matches!(*scenario, "azure-sqldb" | "azure-mi" | "aws-rds");
        for (l, (login, _, _)) in LOGINS.iter().enumerate() {
            let cell = |id: &str| &matrix[id][&(p, l)];
            // The backup account is told how to read msdb's history.
            if !managed && *login == "least privilege" {
                let history = cell("sql.backup.recent");
                assert_eq!(history.status, Status::Skip, "{scenario}");
                assert!(
                    history
                        .message
                        .contains("GRANT SELECT ON dbo.backupset TO [pback];"),
                    "{scenario}: {}",
                    history.message
                );
            }
            for id in ["sql.service.account", "sql.backup.recent"] {
                if managed {
                    assert!(
                        cell(id).skip == Some(SkipKind::NotApplicable),
                        "{id} on {scenario}: {}",
                        cell(id).message
                    );
                }
            }
            let registry = cell("sql.config.force-encryption");
            if matches!(*scenario, "azure-sqldb" | "azure-mi") {
                assert!(
                    registry.skip == Some(SkipKind::NotApplicable),
                    "{scenario}: {}",
                    registry.message
                );
            } else if *login == "least privilege" {
                let grant = if *scenario == "sql2022-healthy" {
                    "GRANT VIEW SERVER PERFORMANCE STATE TO [pmp]"
                } else {
                    "GRANT VIEW SERVER STATE TO [pmp]"
                };
                for id in ["sql.config.force-encryption", "sql.connection.encrypted"] {
                    assert_eq!(cell(id).status, Status::Skip, "{id} on {scenario}");
                    assert!(
                        cell(id).message.contains(grant),
                        "{id} on {scenario}: {}",
                        cell(id).message
                    );
                }
            } else {
                assert_ne!(
                    registry.status,
                    Status::Skip,
                    "{scenario}: {}",
                    registry.message
                );
            }
        }
    }

    let document = render(&matrix);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/platforms.md");
    if std::env::var_os("MSSQL_PREFLIGHT_UPDATE_PLATFORMS").is_some() {
        std::fs::write(&path, &document).unwrap();
    } else {
        let kept = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            kept == document,
            "docs/platforms.md is out of date; rerun with MSSQL_PREFLIGHT_UPDATE_PLATFORMS=1\n{document}"
        );
    }
}

/// The matrix as Markdown: statuses per cell, then the reasons of the
/// skips and errors (numbers left out, so that ports and times do not churn).
fn render(matrix: &BTreeMap<String, BTreeMap<(usize, usize), Cell>>) -> String {
    let mut out = String::from(
        "# SQL checks on each platform\n\n\
         Generated by `tests/it/platforms.rs` (`MSSQL_PREFLIGHT_UPDATE_PLATFORMS=1 cargo nextest run --test it -E 'test(every_sql_check_on_every_platform)'`): \
         every SQL check and built-in pack check run against the emulator's personality of each platform, \
         which answers from SQL Server's documented catalog (`fixtures/catalog/sql-server.toml`). \
         **admin**: a sysadmin login for both accounts; **app**: the logins the applications use \
         (`pmp`, db_owner of PassTrix, as the application account; `pback`, db_backupoperator only, as the backup account).\n\n",
    );
    out.push_str("| check |");
    for (_, name) in PLATFORMS {
        out.push_str(&format!(" {name} admin | {name} app |"));
    }
    out.push_str("\n|---|");
    for _ in 0..PLATFORMS.len() * LOGINS.len() {
        out.push_str("---|");
    }
    out.push('\n');
    let mut counts: BTreeMap<usize, BTreeMap<&str, usize>> = BTreeMap::new();
    for (id, row) in matrix {
        out.push_str(&format!("| `{id}` |"));
        for p in 0..PLATFORMS.len() {
            for l in 0..LOGINS.len() {
                let word = row
                    .get(&(p, l))
                    .map_or("-", |cell| status_word(cell.status));
                *counts.entry(p).or_default().entry(word).or_default() += 1;
                out.push_str(&format!(" {word} |"));
            }
        }
        out.push('\n');
    }
    out.push_str("\n## Verdicts per platform\n\n");
    for (p, words) in &counts {
        let list: Vec<String> = words
            .iter()
            .map(|(word, n)| format!("{n} {word}"))
            .collect();
        out.push_str(&format!("- {}: {}\n", PLATFORMS[*p].1, list.join(", ")));
    }
    out.push_str("\n## Why a check skipped or erred\n\n");
    for (id, row) in matrix {
        for ((p, l), cell) in row {
            if matches!(cell.status, Status::Skip | Status::Error) {
                let message: String = cell
                    .message
                    .chars()
                    .map(|c| if c.is_ascii_digit() { '#' } else { c })
                    .collect();
                let kind = cell
                    .skip
                    .map(|k| format!(" ({})", k.as_str().replace('_', " ")))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "- `{id}`, {} {}: {}{kind} — {}\n",
                    PLATFORMS[*p].1,
                    ["admin", "app"][*l],
                    status_word(cell.status),
                    message
                ));
            }
        }
    }
    out
}

fn pack_dir(query: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("acme.toml"),
        format!(
            "[[check]]\nid = \"sql.acme.recovery\"\ntitle = \"t\"\nfamily = \"sql\"\nseverity = \"warn\"\nwhy = \"w\"\nfix = \"f\"\n\n[check.sql]\nquery = \"{query}\"\nexpect.value.equals = \"FULL\"\n"
        ),
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn a_misspelt_column_in_a_pack_query_is_an_error_naming_it() {
    let dir = pack_dir("SELECT recovery_modle_desc FROM sys.databases WHERE database_id = DB_ID()");
    let server = TestServer::start_emulated("sql2022-healthy").await;
    let passwords = Passwords::new();
    let toml = server.app_target(&passwords).render();
    let report = crate::packs::run_with_packs(&toml, dir.path(), &["sql.acme.recovery"]).await;
    let result = crate::support::assert_status(&report, "sql.acme.recovery", Status::Error);
    assert!(
        result
            .message
            .contains("Invalid column name 'recovery_modle_desc'"),
        "{result:#?}"
    );
    assert!(
        server.emulator().unanswered_statements().is_empty(),
        "answered by the strict emulator, as SQL Server would: 207"
    );

    // Spelt right, the same pack passes on the same server.
    let dir = pack_dir("SELECT recovery_model_desc FROM sys.databases WHERE database_id = DB_ID()");
    let report = crate::packs::run_with_packs(&toml, dir.path(), &["sql.acme.recovery"]).await;
    crate::support::assert_status(&report, "sql.acme.recovery", Status::Pass);
}

#[test]
fn a_pack_query_reading_an_unknown_object_is_a_load_time_warning() {
    let dir = pack_dir("SELECT name FROM sys.databasez WHERE database_id = DB_ID()");
    let catalog = mssql_preflight::catalog::Catalog::load(&[dir.path().to_owned()]).unwrap();
    assert_eq!(catalog.warnings.len(), 1, "{:?}", catalog.warnings);
    assert!(
        catalog.warnings[0].contains("sys.databasez")
            && catalog.warnings[0].contains("sql.acme.recovery"),
        "{:?}",
        catalog.warnings
    );
    let builtin = mssql_preflight::catalog::Catalog::builtin().unwrap();
    assert!(builtin.warnings.is_empty(), "{:?}", builtin.warnings);
}

#[test]
fn explain_says_where_a_pack_check_can_run() {
    let catalog = mssql_preflight::catalog::Catalog::builtin().unwrap();
    let check = catalog.registry.get("sql.database.log-backups").unwrap();
    let checks = check.meta().checks.to_string();
    assert!(
        checks.contains(
            "runs on SQL Server, Azure SQL Managed Instance, Amazon RDS for SQL Server only"
        ) && checks
            .contains("not on Azure SQL Database, which has no sys.database_recovery_status"),
        "{checks}"
    );
}

/// The built-in packs' queries, read from `checks/*.toml`.
fn pack_queries() -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for (origin, text) in mssql_preflight::pack::BUILTIN {
        let pack: toml::Value = toml::from_str(text).unwrap();
        for check in pack["check"].as_array().into_iter().flatten() {
            if let Some(query) = check.get("sql").and_then(|sql| sql.get("query")) {
                queries.push((
                    format!("{origin}: {}", check["id"].as_str().unwrap()),
                    query.as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    queries
}

/// Every statement in `src/` and `checks/`, sent over the tool's own probe
/// to every platform as a sysadmin in the application database: the strict
/// emulator answers each one, and refuses one only where SQL Server's
/// documented catalog says the platform lacks an object it reads (208, or
/// 40515 for msdb on Azure SQL Database). Where it refuses, the checks do
/// not run it (see the matrix) or take the refusal as "not offered".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_of_the_tool_is_understood_on_every_platform() {
    use mssql_emulator::catalog::{Catalog, ObjectName};
    use mssql_preflight::probe::sql::{
        CertificateTrust, Credentials, LoginRequest, QueryFailure, login,
    };

    // SQL Server's BACKUP writes its file here (the emulator writes a small one).
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("preflight-probe.bak");
    let mut statements: Vec<(String, String)> =
        mssql_preflight::checks::sql::statements("PassTrix", "pback", &file.display().to_string())
            .into_iter()
            .map(|statement| ("src/".to_owned(), statement))
            .collect();
    statements.extend(pack_queries());
    assert!(statements.len() >= 19, "{}", statements.len());

    for (scenario, name) in PLATFORMS {
        let server = TestServer::start_emulated(scenario).await;
        let platform = server.emulator().scenario().platform();
        // PMP's database, and Passwordstate's for statements that read its
        // tables.
        let mut connections = Vec::new();
        for database in ["PassTrix", "Passwordstate"] {
            connections.push(
                login(LoginRequest {
                    endpoint: server.addr(),
                    tls_name: server.host_name(),
                    trust: CertificateTrust::Verify {
                        ca_file: Some(server.ca_file.clone()),
                    },
                    strict: false,
                    credentials: Credentials::Sql {
                        user: "sa".into(),
                        password: "Sa-Test-Passw0rd!".to_owned().into(),
                    },
                    database: Some(database.into()),
                    timeout: std::time::Duration::from_secs(5),
                })
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}")),
            );
        }
        for (origin, statement) in &statements {
            let references =
                mssql_emulator::references(statement).unwrap_or_else(|e| panic!("{origin}: {e}"));
            let lacking: Vec<String> = references
                .objects
                .iter()
                .filter_map(|parts| match Catalog::classify(parts) {
                    ObjectName::System { key, .. } => {
                        let object = Catalog::get()
                            .object(&key)
                            .unwrap_or_else(|| panic!("{origin}: {key} is not in the catalog"));
                        (!object.applies_to.contains(&platform)).then_some(key)
                    }
                    ObjectName::User { .. } => None,
                })
                .collect();
            let reads_user_tables = references
                .objects
                .iter()
                .any(|parts| matches!(Catalog::classify(parts), ObjectName::User { .. }));
            let connection = &mut connections[usize::from(reads_user_tables)];
            match connection.query(statement).await {
                Ok(_) => assert!(
                    lacking.is_empty(),
                    "{name} answered {origin} `{statement}` though it has no {lacking:?}"
                ),
                Err(QueryFailure::Server(error)) => {
                    let documented = matches!(error.number, 208 | 40515) && !lacking.is_empty();
                    // BACKUP is refused on the managed platforms (40510 on
                    // Azure SQL Database, 262 on RDS, TO URL only on MI).
                    let backup = statement.starts_with("BACKUP ")
                        && !matches!(platform, mssql_emulator::catalog::Platform::SqlServer);
                    assert!(
                        documented || backup,
                        "{name} refused {origin} `{statement}`: {error:?}"
                    );
                }
                Err(other) => panic!("{name}: {origin} `{statement}`: {other}"),
            }
        }
        let unanswered = server.emulator().unanswered_statements();
        assert!(unanswered.is_empty(), "{name}: {unanswered:#?}");
    }
}

#[test]
fn the_readme_example_pack_reads_only_documented_objects() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let query = readme
        .lines()
        .find_map(|line| line.strip_prefix("query = \""))
        .and_then(|rest| rest.split('"').next())
        .expect("README.md shows a [check.sql] query");
    let dir = pack_dir(query);
    let catalog = mssql_preflight::catalog::Catalog::load(&[dir.path().to_owned()]).unwrap();
    assert!(
        catalog.warnings.is_empty(),
        "{query}: {:?}",
        catalog.warnings
    );
}
