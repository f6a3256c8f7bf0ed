//! The binary end to end: exit codes, usage errors, an unreachable network.

use predicates::prelude::*;

use crate::support::net::closed_port;
use crate::support::{TargetFile, preflight};

#[test]
fn exit_0_when_nothing_fails() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    // A bare listener is a server only for the network checks: it never
    // answers PRELOGIN, so the TLS checks could not decide (exit 3).
    preflight()
        .args([
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--check",
            "net.*",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("PASS"));
}

#[test]
fn exit_1_when_a_check_fails() {
    let port = closed_port().to_string();
    preflight()
        .args(["run", "--host", "127.0.0.1", "--port", &port])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL").and(predicate::str::contains("Not ready")));
}

#[test]
fn exit_2_without_a_target() {
    preflight()
        .arg("run")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--target"));
}

#[test]
fn exit_2_for_a_malformed_target_file_naming_line_column_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nhost = \"a\"\nprot = 1433\n").unwrap();
    preflight()
        .args(["run", "--target"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("bad.toml:3:1")
                .and(predicate::str::contains("server.prot"))
                .and(predicate::str::contains("did you mean `port`?")),
        );
}

#[test]
fn exit_2_for_an_unknown_check_pattern_with_a_suggestion() {
    preflight()
        .args(["run", "--host", "127.0.0.1", "--check", "net.tcp.reachabel"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "did you mean `net.tcp.reachable`?",
        ));
}

#[test]
fn exit_2_for_a_password_file_others_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("pw.txt");
    std::fs::write(&secret, "hunter2-canary\n").unwrap();
    set_mode(&secret, 0o644);
    let target = dir.path().join("t.toml");
    std::fs::write(
        &target,
        "[server]\nhost = \"127.0.0.1\"\n[sql]\nuser = \"pmp\"\npassword_file = \"pw.txt\"\n",
    )
    .unwrap();
    preflight()
        .args(["run", "--target"])
        .arg(&target)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("chmod 600").and(predicate::str::contains("hunter2").not()),
        );
}

#[test]
fn exit_2_for_integrated_authentication_where_there_is_no_windows() {
    let target = TargetFile::new("[server]\nhost = \"127.0.0.1\"\n[sql]\nauth = \"integrated\"\n");
    preflight()
        .args(["run", "--target"])
        .arg(&target.path)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("[sql]: auth = \"integrated\"")
                .and(predicate::str::contains(
                    "works only when mssql-preflight runs on Windows",
                ))
                .and(predicate::str::contains("auth = \"windows\"")),
        );
}

#[test]
fn an_unreachable_network_is_named_as_such() {
    // A fresh network namespace has only a loopback interface, and it is
    // down: every connection attempt fails with "network unreachable".
    let bin = assert_cmd::cargo::cargo_bin("mssql-preflight");
    let output = std::process::Command::new("unshare")
        .arg("-n")
        .arg(bin)
        .args([
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            "1433",
            "--check",
            "net.tcp.reachable",
        ])
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .output()
        .expect("unshare runs (util-linux, as root)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("no route"), "{stdout}");
}

#[test]
fn list_and_explain_describe_checks() {
    preflight()
        .args(["list", "--format", "json"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\"id\": \"net.tcp.reachable\""));
    preflight()
        .args(["explain", "net.tcp.reachable"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("How to fix"));
    preflight()
        .args(["explain", "net.tcp.reachabl"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean"));
}

#[test]
fn reports_are_written_to_files_as_asked() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let junit = dir.path().join("j.xml");
    let port = closed_port().to_string();
    preflight()
        .args([
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--format",
            "markdown",
        ])
        .arg("--report")
        .arg(format!("json={}", json.display()))
        .arg("--report")
        .arg(format!("junit={}", junit.display()))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("## Needs attention"));
    let report = std::fs::read_to_string(&json).unwrap();
    assert!(report.contains("\"schema\": \"mssql-preflight/report/v1\""));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure"), "{xml}");
    // A saved report renders again without running anything.
    preflight()
        .arg("render")
        .arg(&json)
        .args(["--format", "table"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("net.tcp.reachable"));
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn fail_on_warn_turns_warnings_into_exit_1() {
    let port = closed_port();
    let target = TargetFile::new(&format!(
        "[server]\nhost = \"127.0.0.1\"\nport = {port}\n[checks.\"net.tcp.reachable\"]\nseverity = \"warn\"\n"
    ));
    let only = ["--check", "net.tcp.reachable", "--target"];
    preflight()
        .arg("run")
        .args(only)
        .arg(&target.path)
        .assert()
        .code(0);
    preflight()
        .args(["run", "--fail-on", "warn"])
        .args(only)
        .arg(&target.path)
        .assert()
        .code(1);
}

#[test]
fn exit_3_when_a_check_could_not_run() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = TargetFile::new(&format!(
        "[server]\nhost = \"sql01.preflight.test\"\n[dns]\nnameservers = [\"{}\"]\n",
        silent.local_addr().unwrap()
    ));
    preflight()
        .args([
            "run",
            "--timeout",
            "500ms",
            "--check",
            "net.dns.resolve",
            "--target",
        ])
        .arg(&target.path)
        .assert()
        .code(3)
        .stdout(predicate::str::contains("Incomplete"));
}

#[test]
fn color_always_wins_over_no_color_and_a_dumb_terminal() {
    let port = closed_port().to_string();
    let run_with_no_color = |no_color: Option<&str>| {
        let mut cmd = preflight();
        match no_color {
            Some(value) => cmd.env("NO_COLOR", value),
            None => cmd.env_remove("NO_COLOR"),
        };
        let args = [
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--color",
            "always",
        ];
        cmd.args(args).output().unwrap()
    };
    let coloured = run_with_no_color(None);
    assert!(String::from_utf8_lossy(&coloured.stdout).contains('\u{1b}'));
    let asked_for = run_with_no_color(Some("1"));
    assert!(String::from_utf8_lossy(&asked_for.stdout).contains('\u{1b}'));
}

#[test]
fn a_reader_that_stops_early_ends_the_output_without_an_error() {
    let report = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample-report.json");
    let port = closed_port().to_string();
    let run = [
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--check",
        "net.tcp.reachable",
    ];
    let commands: [(&[&str], i32); 6] = [
        (&["list"], 0),
        (&["list", "--format", "json"], 0),
        (&["explain", "net.tcp.reachable"], 0),
        (&["render", report], 0),
        (&["schema"], 0),
        // The report still decides the exit code.
        (&run, 1),
    ];
    for (args, code) in commands {
        // The reading end is closed before the command writes a byte, as
        // `| head` closes it after the first lines: every write meets EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_mssql-preflight"))
            .args(args)
            .env("MSSQL_PREFLIGHT_LOG", "off")
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

/// Each setting that would only fail later, as a false verdict, is refused
/// before anything runs: exit 2, the file, line and key, and the valid forms.
#[test]
fn bad_settings_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("root.cer");
    std::fs::write(&not_pem, [0x30, 0x82, 0x01, 0x0a]).unwrap();
    let secret = dir.path().join("pw.txt");
    std::fs::write(&secret, "x\n").unwrap();
    set_mode(&secret, 0o600);
    let cases: [(&str, String, &[&str]); 7] = [
        (
            "negative threshold",
            "[server]\nhost = \"a\"\n[checks.\"sql.clock\"]\nwarn_seconds = -5\n".to_owned(),
            &["t.toml:4:1", "warn_seconds", "0 or more"],
        ),
        (
            "absurd size",
            "[server]\nhost = \"a\"\n[backup]\ndatabase_size = \"99999999999999999999999 GiB\"\n"
                .to_owned(),
            &[
                "t.toml:4:",
                "database_size",
                "larger than any database",
                "12 GiB",
            ],
        ),
        (
            "version that is not one",
            "[server]\nhost = \"a\"\n[checks.\"sql.version\"]\nminimum = \"abc\"\n".to_owned(),
            &["t.toml:4:1", "minimum", "\"15.0\""],
        ),
        (
            "port 0",
            "[server]\nhost = \"a\"\nport = 0\n".to_owned(),
            &["t.toml:3:", "port", "1 to 65535"],
        ),
        (
            "host with a space",
            "[server]\nhost = \"sql 01\"\n".to_owned(),
            &["t.toml:2:", "host", "a space", "DNS name"],
        ),
        (
            "CA file that is not PEM",
            format!(
                "[server]\nhost = \"a\"\n[tls]\nca_file = \"{}\"\n",
                not_pem.display()
            ),
            &["ca_file", "no PEM certificate", "openssl x509 -inform der"],
        ),
        (
            "two password sources",
            format!(
                "[server]\nhost = \"a\"\n[sql]\nuser = \"pmp\"\npassword_env = \"X\"\npassword_file = \"{}\"\n",
                secret.display()
            ),
            &["[sql]", "password_env", "password_file", "keep one"],
        ),
    ];
    for (what, toml, says) in cases {
        let target = dir.path().join("t.toml");
        std::fs::write(&target, toml).unwrap();
        let output = preflight()
            .args(["run", "--target"])
            .arg(&target)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
        assert!(output.stdout.is_empty(), "{what}: nothing ran");
        for words in says {
            assert!(stderr.contains(words), "{what}: `{words}` in {stderr}");
        }
    }
    for (flag, value, says) in [
        ("--port", "0", "1 to 65535"),
        ("--host", "sql 01", "a space"),
    ] {
        let output = preflight().args(["run", flag, value]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag}: {stderr}");
        assert!(stderr.contains(says), "{flag}: {stderr}");
    }
}

#[test]
fn init_writes_a_commented_target_file_and_never_overwrites_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ps.toml");
    preflight()
        .args(["init", "--app", "passwordstate", "-o"])
        .arg(&path)
        .assert()
        .success()
        .stderr(predicate::str::contains("mssql-preflight run --target"));
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("kind = \"passwordstate\""), "{written}");
    assert!(written.contains("# "), "commented: {written}");
    std::fs::write(&path, "mine").unwrap();
    preflight()
        .args(["init", "-o"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
    preflight()
        .args(["init", "--force", "-o"])
        .arg(&path)
        .assert()
        .success();
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("kind = \"pmp\"")
    );
}

#[test]
fn version_with_verbose_names_the_libraries_platform_and_profile() {
    let output = preflight().args(["--version", "-v"]).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for word in [
        "rustls",
        "aws-lc-rs",
        "tiberius",
        std::env::consts::ARCH,
        "profile",
    ] {
        assert!(text.contains(word), "no {word} in {text}");
    }
    let plain = preflight().arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&plain.stdout).lines().count(), 1);
}

/// An output path that cannot be written is a usage error before any check
/// runs: no report on stdout, exit 2.
#[test]
fn an_unwritable_output_path_stops_the_run_before_any_check() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port().to_string();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "").unwrap();
    for report in [
        format!("json={}", not_a_dir.join("r.json").display()),
        format!("json={}", dir.path().display()),
    ] {
        preflight()
            .args([
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--report",
                &report,
            ])
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains("cannot write"));
    }
    preflight()
        .args(["bundle", "--host", "127.0.0.1", "--port", &port, "-o"])
        .arg(not_a_dir.join("b.zip"))
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty());
}

#[test]
fn bundle_into_a_directory_writes_the_zip_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port().to_string();
    preflight()
        .args([
            "bundle",
            "--check",
            "net.tcp.reachable",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "-o",
        ])
        .arg(dir.path())
        .assert()
        .code(1);
    let zips: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        zips.len() == 1
            && zips[0].starts_with("mssql-preflight-bundle-")
            && zips[0].ends_with(".zip"),
        "{zips:?}"
    );
}

#[test]
fn list_takes_the_profile_as_run_does() {
    preflight()
        .args(["list", "-p", "pmp", "-f", "json"])
        .assert()
        .success();
    preflight()
        .args(["list", "-p", "pmx"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `pmp`"));
}

#[test]
fn quiet_prints_only_what_needs_attention_and_the_verdict() {
    let port = closed_port().to_string();
    let net_checks = |flags: &[&str]| {
        let output = preflight()
            .args([
                "run",
                "--check",
                "net.*",
                "--host",
                "127.0.0.1",
                "--port",
                &port,
            ])
            .args(flags)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let text = net_checks(&["-q"]);
    assert!(
        text.starts_with("\nNeeds attention\nFAIL   net.tcp.reachable — "),
        "{text}"
    );
    assert!(!text.contains('┆'), "no table: {text}");
    let last = text.trim_end().lines().last().unwrap_or_default();
    assert!(last.starts_with("Not ready"), "{text}");
    let text = net_checks(&["--show", "fails"]);
    assert!(text.contains("┆ net.tcp.reachable"), "{text}");
    assert!(!text.contains("PASS "), "{text}");
    assert!(!text.contains("not applicable"), "{text}");
}

#[test]
fn completions_and_the_manual_page_come_from_the_parser() {
    let bash = preflight().args(["completions", "bash"]).output().unwrap();
    assert!(bash.status.success());
    let script = String::from_utf8_lossy(&bash.stdout);
    assert!(script.contains("complete -F _mssql__preflight"), "{script}");
    assert!(
        script.contains("--show") && script.contains("init"),
        "{script}"
    );
    let man = preflight().arg("man").output().unwrap();
    assert!(man.status.success());
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(page.starts_with(".ie") || page.contains(".TH"), "{page}");
    assert!(page.contains("mssql\\-preflight"), "{page}");
    preflight().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn a_duration_error_reads_the_same_for_every_flag() {
    for args in [
        &["run", "--host", "a", "--timeout", "soon"][..],
        &["run", "--host", "a", "--deadline", "0s"][..],
        &["demo", "--timeout", "5 parsecs"][..],
    ] {
        let output = preflight().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("like 5s, 500ms or 2m"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn accounts_and_the_backup_destination_can_be_given_without_a_file() {
    let port = closed_port().to_string();
    let output = preflight()
        .args([
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--sql-user",
            "pmp",
            "--backup-user",
            "pback",
            "--backup-destination",
            "/srv/backups",
            "--password-stdin",
            "--backup-password-stdin",
            "--check",
            "net.tcp.reachable",
            "--format",
            "json",
        ])
        .write_stdin("app-password\nbackup-password\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["target"]["sql_user"], "pmp");
    assert_eq!(report["target"]["backup_user"], "pback");
    assert_eq!(report["target"]["backup_destination"], "/srv/backups");
    // Skips name the flag and the key, and never tell a run without a
    // target file to edit one.
    let output = preflight()
        .args([
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--check",
            "sql.*",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let text = report["results"].to_string();
    assert!(!text.contains("the target file"), "{text}");
    let login = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "sql.login")
        .unwrap();
    let reason = login["skip"]["reason"].as_str().unwrap();
    for words in [
        "pass --sql-user",
        "`user` under [sql]",
        "pass --backup-user",
    ] {
        assert!(reason.contains(words), "`{words}` in {reason}");
    }
}
