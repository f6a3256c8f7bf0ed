//! Declarative check packs: a user's `--checks-dir` with tcp and file
//! checks run against loopback listeners and temporary files, invalid packs
//! located by file, line and column, and `list`/`explain` showing pack
//! checks like built-in ones.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mssql_preflight::catalog::Catalog;
use mssql_preflight::engine::EngineOptions;
use mssql_preflight::finding::Status;
use mssql_preflight::report::Report;
use predicates::prelude::*;

use crate::support::dns::{TestDns, Zone};
use crate::support::net::closed_port;
use crate::support::{assert_status, matching, preflight, run_selected};

/// One `[[check]]` table with the metadata every check needs.
pub fn check(id: &str, family: &str, severity: &str, probe: &str) -> String {
    format!(
        "[[check]]\nid = \"{id}\"\ntitle = \"Title of {id}\"\nfamily = \"{family}\"\nseverity = \"{severity}\"\n\
         why = \"Why {id} matters.\"\nfix = \"How to fix {id}.\"\nguide = \"ACME runbook\"\n{probe}\n"
    )
}

/// A checks directory holding `files` (name, text).
pub fn checks_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// Runs the checks matching `patterns`, with the packs in `dir` loaded.
pub async fn run_with_packs(toml: &str, dir: &Path, patterns: &[&str]) -> Report {
    let catalog = Catalog::load(&[dir.to_path_buf()]).expect("the packs load");
    let mut options = EngineOptions::default();
    options.settings.timeout = Duration::from_secs(2);
    run_selected(toml, &catalog, &matching(patterns), &options)
        .await
        .report
}

#[tokio::test]
async fn tcp_checks_give_every_verdict() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = closed_port();
    let dns = TestDns::start(
        Zone::default()
            .address("both.preflight.test", "127.0.0.1")
            .address("both.preflight.test", "127.0.0.2"),
    )
    .await;
    let tcp = |host: Option<&str>, port: u16, expect: &str| {
        let host = host
            .map(|h| format!("host = \"{h}\"\n"))
            .unwrap_or_default();
        format!("[check.tcp]\n{host}port = {port}\nexpect = \"{expect}\"\n")
    };
    let pack = [
        check(
            "net.acme.open",
            "net",
            "fail",
            &tcp(Some("127.0.0.1"), open, "open"),
        ),
        check(
            "net.acme.default-host",
            "net",
            "fail",
            &tcp(None, open, "open"),
        ),
        check(
            "net.acme.shut",
            "net",
            "fail",
            &tcp(Some("127.0.0.1"), closed, "open"),
        ),
        check(
            "net.acme.partly",
            "net",
            "fail",
            &tcp(Some("both.preflight.test"), open, "open"),
        ),
        check(
            "net.acme.kept-closed",
            "net",
            "warn",
            &tcp(Some("127.0.0.1"), closed, "closed"),
        ),
        check(
            "net.acme.exposed",
            "net",
            "warn",
            &tcp(Some("127.0.0.1"), open, "closed"),
        ),
        check(
            "net.acme.unknown-name",
            "net",
            "fail",
            &tcp(Some("missing.preflight.test"), open, "open"),
        ),
    ]
    .concat();
    let dir = checks_dir(&[("acme.toml", &pack)]);
    let toml = format!(
        "[server]\nhost = \"127.0.0.1\"\nport = {open}\n[dns]\nnameservers = [\"{}\"]\n",
        dns.addr
    );
    let report = run_with_packs(&toml, dir.path(), &["net.acme.*"]).await;
    assert_status(&report, "net.acme.open", Status::Pass);
    assert_status(&report, "net.acme.default-host", Status::Pass);
    let shut = assert_status(&report, "net.acme.shut", Status::Fail);
    assert!(shut.message.contains("connection refused"), "{shut:#?}");
    assert_eq!(
        shut.remediation.as_deref(),
        Some("How to fix net.acme.shut.")
    );
    let partly = assert_status(&report, "net.acme.partly", Status::Warn);
    assert!(partly.message.contains("127.0.0.2"), "{partly:#?}");
    assert_status(&report, "net.acme.kept-closed", Status::Pass);
    assert_status(&report, "net.acme.exposed", Status::Warn);
    // The pack names a host that does not resolve: the tool cannot tell.
    let unknown = assert_status(&report, "net.acme.unknown-name", Status::Error);
    assert!(unknown.message.contains("does not resolve"), "{unknown:#?}");
    drop(listener);
}

#[tokio::test]
async fn a_tcp_check_whose_resolver_does_not_answer_is_an_error() {
    // A UDP port nobody reads: the query is refused or times out.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let pack = check(
        "net.acme.far",
        "net",
        "fail",
        "[check.tcp]\nhost = \"far.preflight.test\"\nport = 1433\n",
    );
    let dir = checks_dir(&[("acme.toml", &pack)]);
    let toml = format!(
        "[server]\nhost = \"127.0.0.1\"\n[dns]\nnameservers = [\"{}\"]\n",
        silent.local_addr().unwrap()
    );
    let report = run_with_packs(&toml, dir.path(), &["net.acme.far"]).await;
    let far = assert_status(&report, "net.acme.far", Status::Error);
    assert!(far.message.contains("cannot resolve"), "{far:#?}");
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn file_checks_give_every_verdict() {
    let files = tempfile::tempdir().unwrap();
    let root = files.path();
    let private = root.join("private.conf");
    std::fs::write(&private, "x").unwrap();
    set_mode(&private, 0o600);
    let public = root.join("public.conf");
    std::fs::write(&public, "x").unwrap();
    set_mode(&public, 0o644);
    let install = root.join("install");
    std::fs::create_dir(&install).unwrap();
    std::fs::write(install.join("agent.conf"), "x").unwrap();
    set_mode(&install.join("agent.conf"), 0o600);

    let file =
        |path: &PathBuf, extra: &str| format!("[check.file]\npath = '{}'\n{extra}", path.display());
    let pack = [
        check("host.acme.present", "host", "fail", &file(&private, "")),
        check(
            "host.acme.missing",
            "host",
            "fail",
            &file(&root.join("nope"), ""),
        ),
        check(
            "host.acme.gone",
            "host",
            "warn",
            &file(&root.join("nope"), "expect = \"absent\"\n"),
        ),
        check(
            "host.acme.leftover",
            "host",
            "warn",
            &file(&public, "expect = \"absent\"\n"),
        ),
        check(
            "host.acme.private",
            "host",
            "fail",
            &file(&private, "max_mode = \"0600\"\n"),
        ),
        check(
            "host.acme.public",
            "host",
            "fail",
            &file(&public, "max_mode = \"0600\"\n"),
        ),
        check(
            "host.acme.not-a-dir",
            "host",
            "fail",
            &file(&private.join("inner"), ""),
        ),
        check(
            "host.acme.agent",
            "host",
            "fail",
            "[check.file]\npath = \"{app.install_dir}/agent.conf\"\nmax_mode = \"0640\"\n",
        ),
    ]
    .concat();
    let dir = checks_dir(&[("acme.toml", &pack)]);
    let with_app = format!(
        "[server]\nhost = \"127.0.0.1\"\n[app]\nkind = \"pmp\"\ninstall_dir = '{}'\n",
        install.display()
    );
    let report = run_with_packs(&with_app, dir.path(), &["host.acme.*"]).await;
    assert_status(&report, "host.acme.present", Status::Pass);
    let missing = assert_status(&report, "host.acme.missing", Status::Fail);
    assert!(missing.message.contains("does not exist"), "{missing:#?}");
    assert_status(&report, "host.acme.gone", Status::Pass);
    assert_status(&report, "host.acme.leftover", Status::Warn);
    let private_result = assert_status(&report, "host.acme.private", Status::Pass);
    assert_eq!(private_result.evidence["mode"], "0600");
    let public_result = assert_status(&report, "host.acme.public", Status::Fail);
    let fix = public_result.remediation.as_deref().unwrap();
    assert!(fix.contains("chmod g-r,o-r"), "{fix}");
    assert!(fix.contains("How to fix host.acme.public."), "{fix}");
    let not_a_dir = assert_status(&report, "host.acme.not-a-dir", Status::Error);
    assert!(
        not_a_dir.message.contains("cannot look at"),
        "{not_a_dir:#?}"
    );
    assert_status(&report, "host.acme.agent", Status::Pass);

    let without_app = "[server]\nhost = \"127.0.0.1\"\n";
    let report = run_with_packs(without_app, dir.path(), &["host.acme.agent"]).await;
    let agent = assert_status(&report, "host.acme.agent", Status::Skip);
    assert!(agent.message.contains("install_dir"), "{agent:#?}");
}

/// The user pack of the examples below: a sql check, a file check, and a
/// profiles.toml adding a profile and extending a built-in one.
pub fn acme_dir(agent_conf: &Path) -> tempfile::TempDir {
    let pack = [
        check(
            "sql.acme.audit-table",
            "sql",
            "fail",
            "[check.sql]\nquery = \"SELECT COUNT(*) AS audit_tables FROM sys.tables WHERE name = N'AuditLog'\"\nexpect.value.equals = 1\n",
        ),
        check(
            "host.acme.agent-config",
            "host",
            "fail",
            &format!(
                "[check.file]\npath = '{}'\nmax_mode = \"0600\"\n",
                agent_conf.display()
            ),
        ),
    ]
    .concat();
    let profiles = "[profile.acme]\ndescription = \"ACME's own checks\"\nchecks = [\"sql.acme.*\", \"host.acme.*\", \"net.tcp.reachable\"]\n\n\
                    [profile.pmp]\nchecks = [\"host.acme.*\"]\n";
    checks_dir(&[("acme.toml", &pack), ("profiles.toml", profiles)])
}

#[test]
fn list_shows_pack_checks_like_built_in_ones() {
    let dir = acme_dir(Path::new("/etc/acme/agent.conf"));
    let output = preflight()
        .args(["list", "--profile", "acme", "--checks-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    insta::assert_snapshot!(String::from_utf8(output.stdout).unwrap());

    // In the full list too, beside the built-in checks.
    preflight()
        .args(["list", "--format", "json", "--checks-dir"])
        .arg(dir.path())
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("\"id\": \"sql.acme.audit-table\"")
                .and(predicate::str::contains(
                    "\"id\": \"host.acme.agent-config\"",
                ))
                .and(predicate::str::contains("\"id\": \"net.tcp.reachable\"")),
        );
    preflight()
        .args(["explain", "sql.acme.audit-table", "--checks-dir"])
        .arg(dir.path())
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("Profiles:  acme, all")
                .and(predicate::str::contains(
                    "Why sql.acme.audit-table matters.",
                ))
                .and(predicate::str::contains("How to fix sql.acme.audit-table."))
                .and(predicate::str::contains("FROM sys.tables")),
        );
    preflight()
        .args(["explain", "host.acme.agent-config", "--checks-dir"])
        .arg(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Profiles:  pmp, acme, all"));
}

#[test]
fn invalid_packs_are_located_by_file_line_and_column() {
    let cases: [(&str, String, &str); 5] = [
        (
            "syntax.toml",
            "[[check]]\nid = \"host.x\n".to_owned(),
            "syntax.toml:2:",
        ),
        (
            "typo.toml",
            check(
                "host.acme.x",
                "host",
                "fail",
                "[check.file]\npaht = \"/etc/hosts\"\n",
            ),
            "typo.toml:10:1",
        ),
        (
            "no-probe.toml",
            check("host.acme.x", "host", "fail", ""),
            "no-probe.toml:1:1",
        ),
        (
            "bad-mode.toml",
            check(
                "host.acme.x",
                "host",
                "fail",
                "[check.file]\npath = \"/etc/hosts\"\nmax_mode = \"rw-r--r--\"\n",
            ),
            "bad-mode.toml:1:1",
        ),
        (
            "taken.toml",
            check(
                "net.tcp.reachable",
                "net",
                "fail",
                "[check.tcp]\nport = 1\n",
            ),
            "taken.toml:2:6",
        ),
    ];
    for (name, text, location) in cases {
        let dir = checks_dir(&[(name, &text)]);
        let output = preflight()
            .args(["list", "--checks-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(location),
            "{name}: expected {location} in {stderr}"
        );
    }
}

#[test]
fn a_user_profile_that_selects_nothing_is_refused() {
    let dir = checks_dir(&[(
        "profiles.toml",
        "[profile.acme]\ndescription = \"x\"\nchecks = [\"acme.*\"]\n",
    )]);
    preflight()
        .args(["list", "--checks-dir"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`acme.*` matches no check"));
}
