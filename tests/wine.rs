//! The Windows build end to end: `mssql-preflight.exe` run under Wine
//! against the emulator on loopback, and compared with the Linux binary.
//! `tools/wine/run-tests` builds the .exe, prepares a Wine prefix, and runs
//! these with `--run-ignored only`; the ordinary test run lists them as
//! ignored, since it has no Windows build.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use mssql_emulator::{Emulator, EmulatorOptions, Scenario};
use mssql_preflight::emulated::{Surroundings, write_target};
use mssql_preflight::target::AppKind;
use serde_json::Value;

fn windows_exe() -> PathBuf {
    let exe = std::env::var_os("MSSQL_PREFLIGHT_WINDOWS_EXE").expect(
        "MSSQL_PREFLIGHT_WINDOWS_EXE names no Windows binary: run these tests with tools/wine/run-tests",
    );
    PathBuf::from(exe)
}

/// The Wine prefix's C: drive (tools/wine/run-tests sets WINEPREFIX).
fn drive_c() -> PathBuf {
    let prefix = std::env::var_os("WINEPREFIX")
        .expect("WINEPREFIX is not set: run these tests with tools/wine/run-tests");
    Path::new(&prefix).join("drive_c")
}

/// A Linux path as the Windows program sees it (Wine maps / to Z:).
fn z_path(path: &Path) -> String {
    format!("Z:{}", path.display().to_string().replace('/', "\\"))
}

async fn output(mut command: tokio::process::Command) -> Output {
    command
        .env("NO_COLOR", "1")
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .output()
        .await
        .expect("the program starts")
}

async fn on_windows(args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new("wine");
    command.arg(windows_exe()).args(args);
    output(command).await
}

async fn on_linux(args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mssql-preflight"));
    command.args(args);
    output(command).await
}

/// `{check id: status}` of a JSON report on standard output.
fn verdicts(output: &Output) -> BTreeMap<String, String> {
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}):\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn result<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report:#}"))
}

fn report_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}):\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

async fn emulator(name: &str) -> Emulator {
    let scenario = Scenario::builtin(name).expect("built-in scenario");
    Emulator::start(scenario, EmulatorOptions::default())
        .await
        .expect("the emulator starts")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the Windows build under Wine: tools/wine/run-tests"]
async fn profiles_on_windows_match_linux_check_for_check() {
    let server = emulator("sql2022-healthy").await;
    let dir = tempfile::tempdir().unwrap();
    // A backup folder and a PMP install folder both platforms can reach.
    let backups = dir.path().join("backups");
    let install = dir.path().join("PMP");
    std::fs::create_dir_all(&backups).unwrap();
    std::fs::create_dir_all(install.join("conf")).unwrap();
    std::fs::write(
        install.join("conf/database_params.conf"),
        "url=jdbc:sqlserver://sql01:1433;databaseName=PassTrix;integratedSecurity=true\n",
    )
    .unwrap();
    let surroundings = Surroundings {
        backup_destination: Some(backups.clone()),
        app: Some((AppKind::Pmp, install)),
    };
    let files = write_target(&server, dir.path(), "healthy", &surroundings).unwrap();
    let linux_target = files.target.display().to_string();
    let windows_target = z_path(&files.target);

    for (profile, must_pass) in [
        (
            "pmp",
            &[
                "tls.encryption.available",
                "tls.cert.chain",
                "tls.cert.hostname",
                "sql.login",
                "host.pmp.masterkey",
                "host.pmp.database-params",
            ][..],
        ),
        (
            "passwordstate",
            &[
                "sql.login",
                "sql.role.backup-operator",
                "share.write",
                "share.space",
            ],
        ),
    ] {
        let run = |target: &str| -> Vec<String> {
            [
                "run",
                "--target",
                target,
                "--profile",
                profile,
                "--format",
                "json",
            ]
            .map(str::to_owned)
            .to_vec()
        };
        let (linux_args, windows_args) = (run(&linux_target), run(&windows_target));
        let linux = on_linux(&linux_args.iter().map(String::as_str).collect::<Vec<_>>()).await;
        let windows =
            on_windows(&windows_args.iter().map(String::as_str).collect::<Vec<_>>()).await;

        let (linux_verdicts, windows_verdicts) = (verdicts(&linux), verdicts(&windows));
        assert_eq!(
            windows_verdicts, linux_verdicts,
            "{profile}: Windows and Linux disagree"
        );
        assert_eq!(
            windows.status.code(),
            linux.status.code(),
            "{profile}: Windows run ended {:?}, Linux run {:?}\nWindows stderr:\n{}\nLinux stderr:\n{}",
            windows.status,
            linux.status,
            String::from_utf8_lossy(&windows.stderr),
            String::from_utf8_lossy(&linux.stderr)
        );
        for id in must_pass {
            assert_eq!(
                windows_verdicts.get(*id).map(String::as_str),
                Some("pass"),
                "{profile} {id}: {windows_verdicts:#?}"
            );
        }
        // The write probe left nothing behind in the backup folder.
        assert_eq!(std::fs::read_dir(&backups).unwrap().count(), 0, "{profile}");
    }
    server.shutdown().await;
}

/// Lays out `relative` under Wine's C: drive with `files` in it.
fn on_drive_c(relative: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = drive_c().join(relative);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

async fn host_checks(target: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("target.toml");
    std::fs::write(&path, target).unwrap();
    let output = on_windows(&[
        "run",
        "--target",
        &z_path(&path),
        "--check",
        "host.*",
        "--format",
        "json",
    ])
    .await;
    report_of(&output)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the Windows build under Wine: tools/wine/run-tests"]
async fn pmp_files_in_the_default_folder_are_judged_by_their_acl() {
    let conf = on_drive_c(
        "Program Files/ManageEngine/PMP/conf",
        &[
            ("masterkey.key", "masterkey-canary\n"),
            (
                "database_params.conf",
                "username=pmp\npassword=Wine-canary-1\n",
            ),
        ],
    );
    // Wine derives a file's DACL from its Unix mode: 0644 lets Everyone read.
    set_mode(&conf.join("masterkey.key"), 0o644);
    set_mode(&conf.join("database_params.conf"), 0o644);
    let report = host_checks("[server]\nhost = \"127.0.0.1\"\n[app]\nkind = \"pmp\"\n").await;
    let key = result(&report, "host.pmp.masterkey");
    assert_eq!(key["status"], "fail", "{key:#}");
    // The owner (Wine's user, not named as the service account, by the name
    // LookupAccountSidW gives) and Everyone.
    let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
    let readers = key["evidence"]["other_readers"].as_array().unwrap();
    assert_eq!(readers.len(), 2, "{key:#}");
    assert!(
        readers[0].as_str().unwrap().ends_with(&format!("\\{user}")) && readers[1] == "Everyone",
        "{key:#}"
    );
    assert!(
        key["message"].as_str().unwrap().starts_with(r"C:\Program Files\ManageEngine\PMP\conf\masterkey.key is still in PMP's conf folder and other users can read it (readable by "),
        "{key:#}"
    );
    let fix = key["remediation"].as_str().unwrap();
    assert!(
        fix.contains(
            r#"icacls "C:\Program Files\ManageEngine\PMP\conf\masterkey.key" /inheritance:r"#
        ) && fix.contains(" *S-1-1-0"),
        "{key:#}"
    );
    assert!(
        key["evidence"]["sddl"]
            .as_str()
            .unwrap()
            .starts_with("O:S-1-5-21-"),
        "{key:#}"
    );
    let params = result(&report, "host.pmp.database-params");
    assert_eq!(params["status"], "fail", "{params:#}");
    assert!(!report.to_string().contains("Wine-canary-1"));

    // 0600: only the file's owner, the account Wine runs as, may read. Named
    // as the service account, that is private.
    set_mode(&conf.join("masterkey.key"), 0o600);
    set_mode(&conf.join("database_params.conf"), 0o600);
    let report = host_checks(&format!(
        "[server]\nhost = \"127.0.0.1\"\n[app]\nkind = \"pmp\"\nservice_account = '{user}'\n"
    ))
    .await;
    let key = result(&report, "host.pmp.masterkey");
    assert_eq!(key["status"], "warn", "{key:#}");
    let params = result(&report, "host.pmp.database-params");
    assert_eq!(params["status"], "pass", "{params:#}");
    std::fs::remove_dir_all(drive_c().join("Program Files/ManageEngine")).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the Windows build under Wine: tools/wine/run-tests"]
async fn web_config_in_the_default_passwordstate_folder_is_found() {
    let dir = on_drive_c(
        "inetpub/Passwordstate",
        &[(
            "web.config",
            "<configuration><appSettings><add key=\"Secret1\" value=\"S1-wine\"/><add key=\"Secret2\" value=\"S2-wine\"/></appSettings></configuration>",
        )],
    );
    set_mode(&dir.join("web.config"), 0o644);
    let report =
        host_checks("[server]\nhost = \"127.0.0.1\"\n[app]\nkind = \"passwordstate\"\n").await;
    let secrets = result(&report, "host.passwordstate.secrets");
    assert_eq!(secrets["status"], "fail", "{secrets:#}");
    assert!(
        secrets["message"]
            .as_str()
            .unwrap()
            .starts_with(r"C:\inetpub\Passwordstate\web.config holds Secret1 and Secret2 in plain text and other users can read it"),
        "{secrets:#}"
    );
    assert!(!report.to_string().contains("S1-wine"));
    std::fs::remove_dir_all(drive_c().join("inetpub")).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the Windows build under Wine: tools/wine/run-tests"]
async fn integrated_authentication_is_accepted_on_windows() {
    let server = emulator("sql2022-healthy").await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_target(&server, dir.path(), "t", &Surroundings::default()).unwrap();
    // The application account becomes the logged-on Windows account.
    let toml = std::fs::read_to_string(&files.target).unwrap();
    let sql_section = toml.find("\n[sql]").unwrap();
    let rest = &toml[sql_section + 1..];
    let end = rest
        .find("\n[")
        .map(|i| sql_section + 1 + i)
        .unwrap_or(toml.len());
    let toml = format!(
        "{}\n[sql]\nauth = \"integrated\"\n{}",
        &toml[..sql_section],
        &toml[end..]
    );
    std::fs::write(&files.target, &toml).unwrap();
    let output = on_windows(&[
        "run",
        "--target",
        &z_path(&files.target),
        "--check",
        "sql.login",
        "--format",
        "json",
    ])
    .await;
    let report = report_of(&output);
    let user = report["target"]["sql_user"].as_str().unwrap_or_default();
    assert!(!user.is_empty(), "{report:#}");
    // The login itself goes through Wine's SSPI, which has no NTLM here
    // without Samba's winbind: it must be reported, not crash the run.
    let login = result(&report, "sql.login");
    assert!(
        ["pass", "fail", "error"].contains(&login["status"].as_str().unwrap()),
        "{login:#}"
    );
    assert!(
        login["message"].as_str().unwrap().contains(user),
        "{login:#}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the Windows build under Wine: tools/wine/run-tests"]
async fn the_cli_describes_itself_the_same_on_windows() {
    for args in [
        &["list", "--profile", "pmp"][..],
        &["explain", "host.pmp.masterkey"],
        &["schema"],
    ] {
        let (linux, windows) = (on_linux(args).await, on_windows(args).await);
        assert_eq!(windows.status.code(), Some(0), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&windows.stdout).replace("\r\n", "\n"),
            String::from_utf8_lossy(&linux.stdout),
            "{args:?}"
        );
    }
    let usage = on_windows(&["run", "--target", r"C:\no\such\target.toml"]).await;
    assert_eq!(usage.status.code(), Some(2));
}
