//! host.* checks against application folders the tests lay out in temporary
//! directories, and the CLI end to end to prove secrets never reach output.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use mssql_preflight::finding::Status;

use crate::support::{self, assert_status, run};

const DB_PASSWORD: &str = "Dbp-canary-7f3e91";
const JDBC_PASSWORD: &str = "Jdbc-canary-42aa0c";
const SECRET1: &str = "S1-canary-0a1b2c3d4e5f";
const SECRET2: &str = "S2-canary-6f7e8d9c0b1a";

/// A PMP install folder with a conf folder.
fn pmp_install() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    (dir, conf)
}

fn write_with_mode(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn app_target(kind: &str, install: &Path) -> String {
    format!(
        "[server]\nhost = \"127.0.0.1\"\n[app]\nkind = \"{kind}\"\ninstall_dir = '{}'\n",
        install.display()
    )
}

fn sql_auth_params() -> String {
    format!(
        "# database_params.conf\ndrivername=com.microsoft.sqlserver.jdbc.SQLServerDriver\nusername=pmpuser\npassword={DB_PASSWORD}\nurl=jdbc:sqlserver://sql01:1433;databaseName=PassTrix;password={JDBC_PASSWORD}\n"
    )
}

#[tokio::test]
async fn masterkey_moved_away_passes_present_warns_readable_by_others_fails() {
    let (dir, conf) = pmp_install();
    let toml = app_target("pmp", dir.path());
    let report = run(&toml, &["host.pmp.masterkey"]).await;
    assert_status(&report, "host.pmp.masterkey", Status::Pass);

    let key = conf.join("masterkey.key");
    write_with_mode(&key, "masterkey-canary\n", 0o600);
    let report = run(&toml, &["host.pmp.masterkey"]).await;
    let r = assert_status(&report, "host.pmp.masterkey", Status::Warn);
    let fix = r.remediation.as_deref().unwrap();
    assert!(
        fix.contains("secure location") && fix.contains("disaster recovery"),
        "{fix}"
    );

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let report = run(&toml, &["host.pmp.masterkey"]).await;
    let r = assert_status(&report, "host.pmp.masterkey", Status::Fail);
    assert!(r.message.contains("mode 644"), "{}", r.message);
    assert!(r.remediation.as_deref().unwrap().contains("chmod 600"));
}

#[tokio::test]
async fn database_params_600_passes_and_644_fails() {
    let (dir, conf) = pmp_install();
    let params = conf.join("database_params.conf");
    write_with_mode(&params, &sql_auth_params(), 0o600);
    let toml = app_target("pmp", dir.path());
    let report = run(&toml, &["host.pmp.database-params"]).await;
    let r = assert_status(&report, "host.pmp.database-params", Status::Pass);
    assert!(r.message.contains("mode 600"), "{}", r.message);

    std::fs::set_permissions(&params, std::fs::Permissions::from_mode(0o644)).unwrap();
    let report = run(&toml, &["host.pmp.database-params"]).await;
    let r = assert_status(&report, "host.pmp.database-params", Status::Fail);
    assert!(
        r.message.contains("other users can read it (mode 644)"),
        "{}",
        r.message
    );
    // Readable by the group only is still readable by others.
    std::fs::set_permissions(&params, std::fs::Permissions::from_mode(0o640)).unwrap();
    let report = run(&toml, &["host.pmp.database-params"]).await;
    assert_status(&report, "host.pmp.database-params", Status::Fail);
}

#[tokio::test]
async fn database_params_without_a_password_passes_whatever_its_mode() {
    let (dir, conf) = pmp_install();
    write_with_mode(
        &conf.join("database_params.conf"),
        "url=jdbc:sqlserver://sql01:1433;databaseName=PassTrix;integratedSecurity=true\n",
        0o644,
    );
    let report = run(
        &app_target("pmp", dir.path()),
        &["host.pmp.database-params"],
    )
    .await;
    let r = assert_status(&report, "host.pmp.database-params", Status::Pass);
    assert!(
        r.message.contains("Windows authentication"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn pmp_checks_say_why_they_cannot_run() {
    let (dir, _conf) = pmp_install();
    // No database_params.conf: the install folder is probably wrong.
    let report = run(
        &app_target("pmp", dir.path()),
        &["host.pmp.database-params"],
    )
    .await;
    let r = assert_status(&report, "host.pmp.database-params", Status::Error);
    assert!(r.message.contains("install_dir"), "{}", r.message);
    // A folder without conf/ is not a PMP installation.
    let empty = tempfile::tempdir().unwrap();
    let report = run(&app_target("pmp", empty.path()), &["host.pmp.masterkey"]).await;
    assert_status(&report, "host.pmp.masterkey", Status::Error);
    // Another application: nothing to look at.
    let report = run(&app_target("passwordstate", dir.path()), &["host.pmp.*"]).await;
    assert_status(&report, "host.pmp.masterkey", Status::Skip);
    assert_status(&report, "host.pmp.database-params", Status::Skip);
}

fn web_config(app_settings: &str) -> String {
    format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <connectionStrings>\n    <add name=\"PasswordstateConnectionString\" connectionString=\"Data Source=sql01;Initial Catalog=Passwordstate\" />\n  </connectionStrings>\n{app_settings}\n</configuration>\n"
    )
}

fn plain_secrets() -> String {
    format!(
        "  <appSettings>\n    <add key=\"Secret1\" value=\"{SECRET1}\" />\n    <add key=\"Secret2\" value=\"{SECRET2}\" />\n    <add key=\"PageSize\" value=\"10\" />\n  </appSettings>"
    )
}

#[tokio::test]
async fn web_config_with_both_secrets_in_plain_text_warns_and_fails_when_others_can_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("web.config");
    write_with_mode(&config, &web_config(&plain_secrets()), 0o600);
    let toml = app_target("passwordstate", dir.path());
    let report = run(&toml, &["host.passwordstate.secrets"]).await;
    let r = assert_status(&report, "host.passwordstate.secrets", Status::Warn);
    assert!(r.remediation.as_deref().unwrap().contains("aspnet_regiis"));
    assert!(
        r.notes.iter().any(|n| n.contains("Backup Split Secrets")),
        "{r:#?}"
    );

    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let report = run(&toml, &["host.passwordstate.secrets"]).await;
    let r = assert_status(&report, "host.passwordstate.secrets", Status::Fail);
    assert!(
        r.message
            .contains("in plain text and other users can read it (mode 644)"),
        "{}",
        r.message
    );
    let fix = r.remediation.as_deref().unwrap();
    assert!(
        fix.contains("chmod 600") && fix.contains("aspnet_regiis"),
        "{fix}"
    );
}

#[tokio::test]
async fn web_config_with_encrypted_app_settings_passes() {
    let dir = tempfile::tempdir().unwrap();
    let encrypted = "  <appSettings configProtectionProvider=\"RsaProtectedConfigurationProvider\">\n    <EncryptedData Type=\"http://www.w3.org/2001/04/xmlenc#Element\" xmlns=\"http://www.w3.org/2001/04/xmlenc#\"><CipherData><CipherValue>AAAA</CipherValue></CipherData></EncryptedData>\n  </appSettings>";
    std::fs::write(dir.path().join("web.config"), web_config(encrypted)).unwrap();
    let report = run(
        &app_target("passwordstate", dir.path()),
        &["host.passwordstate.secrets"],
    )
    .await;
    let r = assert_status(&report, "host.passwordstate.secrets", Status::Pass);
    assert!(
        r.message.contains("RsaProtectedConfigurationProvider"),
        "{}",
        r.message
    );
}

/// A web.config the tool cannot look for is no evidence that it is
/// missing: the check says it cannot tell (here the install folder is a
/// file, so the lookup fails with "not a directory"; as root, the usual
/// cause — a folder the account may not read — cannot be made).
#[tokio::test]
async fn a_web_config_that_cannot_be_looked_for_is_an_error_not_missing() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_folder = dir.path().join("Passwordstate");
    std::fs::write(&not_a_folder, "").unwrap();
    let report = run(
        &app_target("passwordstate", &not_a_folder),
        &["host.passwordstate.secrets"],
    )
    .await;
    let r = assert_status(&report, "host.passwordstate.secrets", Status::Error);
    assert!(r.message.contains("cannot tell whether"), "{}", r.message);
}

#[tokio::test]
async fn web_config_missing_a_secret_or_missing_altogether_fails() {
    let dir = tempfile::tempdir().unwrap();
    let toml = app_target("passwordstate", dir.path());
    let report = run(&toml, &["host.passwordstate.secrets"]).await;
    let r = assert_status(&report, "host.passwordstate.secrets", Status::Fail);
    assert!(r.message.contains("does not exist"), "{}", r.message);

    let one = format!(
        "  <appSettings>\n    <add key=\"Secret1\" value=\"{SECRET1}\" />\n    <add key=\"Secret2\" value=\"\" />\n  </appSettings>"
    );
    std::fs::write(dir.path().join("web.config"), web_config(&one)).unwrap();
    let report = run(&toml, &["host.passwordstate.secrets"]).await;
    let r = assert_status(&report, "host.passwordstate.secrets", Status::Fail);
    assert!(r.message.contains("lacks Secret2"), "{}", r.message);
}

#[tokio::test]
async fn app_settings_in_a_config_source_file_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("web.config"),
        web_config("  <appSettings configSource=\"secrets.config\" />"),
    )
    .unwrap();
    let secrets = dir.path().join("secrets.config");
    write_with_mode(&secrets, plain_secrets().trim(), 0o600);
    let toml = app_target("passwordstate", dir.path());
    let report = run(&toml, &["host.passwordstate.secrets"]).await;
    assert_status(&report, "host.passwordstate.secrets", Status::Warn);
    // Who may read the secrets is judged on the file that holds them.
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
    let report = run(&toml, &["host.passwordstate.secrets"]).await;
    assert_status(&report, "host.passwordstate.secrets", Status::Fail);
}

#[tokio::test]
async fn malformed_web_config_is_an_error_that_quotes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("web.config"),
        format!(
            "<configuration><appSettings><add key=\"Secret1\" value=\"{SECRET1}\"></configuration>"
        ),
    )
    .unwrap();
    let report = run(
        &app_target("passwordstate", dir.path()),
        &["host.passwordstate.secrets"],
    )
    .await;
    let r = assert_status(&report, "host.passwordstate.secrets", Status::Error);
    assert!(!r.message.contains(SECRET1), "{}", r.message);
}

/// The binary with every log line on: secrets must not reach those either.
fn preflight() -> Command {
    let mut cmd = support::preflight();
    cmd.env("MSSQL_PREFLIGHT_LOG", "trace");
    cmd
}

#[test]
fn secrets_in_application_files_never_reach_any_output() {
    let (dir, conf) = pmp_install();
    write_with_mode(
        &conf.join("database_params.conf"),
        &sql_auth_params(),
        0o644,
    );
    write_with_mode(&conf.join("masterkey.key"), "Mk-canary-55d1\n", 0o644);
    let ps = tempfile::tempdir().unwrap();
    std::fs::write(ps.path().join("web.config"), web_config(&plain_secrets())).unwrap();
    let canaries = [
        DB_PASSWORD,
        JDBC_PASSWORD,
        SECRET1,
        SECRET2,
        "Mk-canary-55d1",
    ];

    for (kind, install) in [("pmp", dir.path()), ("passwordstate", ps.path())] {
        let target = dir.path().join(format!("{kind}.toml"));
        std::fs::write(&target, app_target(kind, install)).unwrap();
        for format in ["table", "json", "junit", "markdown"] {
            let reports = tempfile::tempdir().unwrap();
            let out = preflight()
                .args([
                    "-vv", "run", "--check", "host.*", "--format", format, "--target",
                ])
                .arg(&target)
                .arg("--report")
                .arg(format!("json={}", reports.path().join("r.json").display()))
                .arg("--report")
                .arg(format!("junit={}", reports.path().join("r.xml").display()))
                .arg("--report")
                .arg(format!(
                    "markdown={}",
                    reports.path().join("r.md").display()
                ))
                .output()
                .unwrap();
            let mut seen = String::from_utf8_lossy(&out.stdout).into_owned();
            seen.push_str(&String::from_utf8_lossy(&out.stderr));
            for file in ["r.json", "r.xml", "r.md"] {
                seen.push_str(&std::fs::read_to_string(reports.path().join(file)).unwrap());
            }
            assert!(
                seen.contains("host."),
                "{kind} {format}: the checks ran\n{seen}"
            );
            for canary in canaries {
                assert!(
                    !seen.contains(canary),
                    "{kind} {format}: `{canary}` leaked:\n{seen}"
                );
            }
        }
    }
}

/// An emulated Passwordstate database whose BackupSettings table has a
/// split-secrets column (its name found by the check, not assumed) set to
/// `value`, or no such column at all; it also holds the backup zip password.
async fn passwordstate_server(
    split_column: Option<(&str, u8)>,
) -> crate::support::emulator::TestServer {
    use mssql_emulator::{EmulatorOptions, Scenario};
    let (split, value) = match split_column {
        Some((name, value)) => (
            format!(", {{ name = \"{name}\", type = \"bit\" }}"),
            format!(", {value}"),
        ),
        None => (String::new(), String::new()),
    };
    // The table is data the strict emulator reads (and applies SELECT
    // permissions to); `pdenied` may not read it.
    let scenario = format!(
        "description = \"Passwordstate database\"\nextends = \"sql2022-healthy\"\n\
         [[tables]]\nname = \"dbo.BackupSettings\"\ndatabase = \"Passwordstate\"\n\
         columns = [{{ name = \"BackupsEnabled\", type = \"bit\" }}, {{ name = \"ZipPassword\", type = \"nvarchar(100)\" }}{split}]\n\
         rows = [[1, \"{ZIP_PASSWORD}\"{value}]]\n\
         [[accounts]]\nuser = \"{DENIED_USER}\"\npassword = \"{DENIED_PASSWORD}\"\ndescription = \"reader with a deny\"\n\
         default_database = \"Passwordstate\"\ndatabases = {{ Passwordstate = [\"db_datareader\", \"db_denydatareader\"] }}\n"
    );
    let scenario = Scenario::from_toml_str(&scenario).expect("the test's scenario is valid");
    crate::support::emulator::TestServer::start_scenario(scenario, EmulatorOptions::default()).await
}

const ZIP_PASSWORD: &str = "Zip-canary-5e4d3c";
const DENIED_USER: &str = "pdenied";
const DENIED_PASSWORD: &str = "Pdenied-Test-Passw0rd!";

/// A Passwordstate folder with an encrypted web.config, the emulated
/// server, and a target for both (the caller holds them while it runs).
async fn passwordstate_host(
    split_column: Option<(&str, u8)>,
) -> (
    tempfile::TempDir,
    crate::support::emulator::TestServer,
    crate::support::accounts::Passwords,
    String,
) {
    passwordstate_host_as(split_column, ("pstate", "Pstate-Test-Passw0rd!")).await
}

/// As `passwordstate_host`, with the application logging in as `account`.
async fn passwordstate_host_as(
    split_column: Option<(&str, u8)>,
    (user, password): (&str, &str),
) -> (
    tempfile::TempDir,
    crate::support::emulator::TestServer,
    crate::support::accounts::Passwords,
    String,
) {
    let dir = tempfile::tempdir().unwrap();
    let encrypted = "  <appSettings configProtectionProvider=\"RsaProtectedConfigurationProvider\">\n    <EncryptedData><CipherData><CipherValue>AAAA</CipherValue></CipherData></EncryptedData>\n  </appSettings>";
    std::fs::write(dir.path().join("web.config"), web_config(encrypted)).unwrap();
    let server = passwordstate_server(split_column).await;
    let passwords = crate::support::accounts::Passwords::new();
    let toml = server
        .target()
        .in_server("database = \"Passwordstate\"")
        .with(&passwords.sql(user, password))
        .with(&format!(
            "[app]\nkind = \"passwordstate\"\ninstall_dir = '{}'\n",
            dir.path().display()
        ))
        .render();
    (dir, server, passwords, toml)
}

async fn secrets_with_database(
    split_column: Option<(&str, u8)>,
) -> mssql_preflight::report::CheckResult {
    let (_dir, _server, _passwords, toml) = passwordstate_host(split_column).await;
    let report = run(&toml, &["host.passwordstate.secrets"]).await;
    crate::support::result(&report, "host.passwordstate.secrets").clone()
}

#[tokio::test]
async fn the_support_bundle_carries_backup_settings_with_the_zip_password_masked() {
    let (dir, _server, _passwords, toml) =
        passwordstate_host(Some(("BackupSplitSecrets", 1))).await;
    let target = dir.path().join("target.toml");
    std::fs::write(&target, toml).unwrap();
    let zip = dir.path().join("bundle.zip");
    let args: Vec<std::ffi::OsString> = vec![
        "bundle".into(),
        "--check".into(),
        "host.passwordstate.secrets".into(),
        "--check".into(),
        "sql.version".into(),
        "--target".into(),
        target.into(),
        "-o".into(),
        zip.clone().into(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("mssql-preflight"))
            .args(args)
            .env("MSSQL_PREFLIGHT_LOG", "off")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let members = crate::bundle::unzip(&zip);
    let facts = members
        .iter()
        .find(|(name, _)| name == "server-facts.json")
        .map(|(_, bytes)| serde_json::from_slice::<serde_json::Value>(bytes).unwrap())
        .expect("server-facts.json");
    let row = &facts["passwordstate_backup_settings"]["rows"][0];
    assert_eq!(row["BackupSplitSecrets"], true, "{facts:#}");
    assert_eq!(row["ZipPassword"], "<redacted>", "{facts:#}");
    for (name, bytes) in &members {
        assert!(
            !String::from_utf8_lossy(bytes).contains(ZIP_PASSWORD),
            "the backup zip password is in {name}"
        );
    }
}

#[tokio::test]
async fn split_secrets_backup_switched_off_in_the_database_warns() {
    let r = secrets_with_database(Some(("BackupSplitSecrets", 0))).await;
    assert_eq!(r.status, Status::Warn, "{r:#?}");
    assert!(
        r.message.contains("Backup Split Secrets is off"),
        "{}",
        r.message
    );
    assert_eq!(r.evidence["backup_split_secrets"], false);
    assert!(r.remediation.as_deref().unwrap().contains("§4.5"), "{r:#?}");
}

#[tokio::test]
async fn split_secrets_backup_switched_on_in_the_database_passes() {
    let r = secrets_with_database(Some(("BackupSplitSecrets", 1))).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    assert_eq!(r.evidence["backup_split_secrets"], true);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("Backup Split Secrets is enabled")),
        "{r:#?}"
    );
}

#[tokio::test]
async fn a_database_without_the_setting_leaves_it_unchecked_and_says_so() {
    let r = secrets_with_database(None).await;
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("was not checked") && n.contains("no column about split secrets")),
        "{r:#?}"
    );
}

#[tokio::test]
async fn backup_settings_the_account_may_not_read_are_reported_with_the_servers_refusal() {
    let (_dir, _server, _passwords, toml) = passwordstate_host_as(
        Some(("BackupSplitSecrets", 1)),
        (DENIED_USER, DENIED_PASSWORD),
    )
    .await;
    let report = run(&toml, &["host.passwordstate.secrets"]).await;
    let r = crate::support::result(&report, "host.passwordstate.secrets");
    // web.config was judged; the database half was not, and the note says
    // why in the server's words (error 229 from the strict emulator).
    assert_eq!(r.status, Status::Pass, "{r:#?}");
    assert!(
        r.notes.iter().any(|n| n.contains("was not checked")
            && n.contains("error 229")
            && n.contains("The SELECT permission was denied on the object 'BackupSettings'")),
        "{r:#?}"
    );
    assert!(r.evidence.get("backup_split_secrets").is_none(), "{r:#?}");
}
