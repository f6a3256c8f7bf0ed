//! `demo` and `emulate` end to end, through the binary.

use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

fn preflight() -> Command {
    let mut cmd = Command::cargo_bin("mssql-preflight").expect("binary built");
    cmd.env("NO_COLOR", "1").env("MSSQL_PREFLIGHT_LOG", "off");
    cmd
}

/// The rows of a section of the demo output: `(status, check id)`.
fn rows(section: &str) -> Vec<(String, String)> {
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .split('┆')
                .map(|c| c.trim_matches(['│', ' ']))
                .collect();
            match cells.as_slice() {
                [status, id, _] if !status.is_empty() && *status != "Status" => {
                    Some((status.to_string(), id.to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

/// The SQL library logs the server's errors and its own choices ("Trusting
/// the server certificate without validation", "BACKUP DATABASE permission
/// denied"): the report says what matters, so at the default verbosity
/// none of it reaches standard error; with -v each event is one line.
#[test]
fn the_sql_librarys_log_stays_off_stderr_by_default() {
    let output = preflight()
        .env_remove("MSSQL_PREFLIGHT_LOG")
        .arg("demo")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("tiberius"), "{stderr}");
    assert!(!stderr.contains("Trusting the server"), "{stderr}");
    let verbose = preflight()
        .env_remove("MSSQL_PREFLIGHT_LOG")
        .args(["demo", "-v"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    assert!(stderr.contains("tiberius"), "{stderr}");
    for line in stderr.lines() {
        assert!(
            line.starts_with("20") || line.trim().is_empty() || !line.contains(' '),
            "a log event spread over lines: {line:?}"
        );
    }
}

#[test]
fn demo_reports_pass_and_fail_rows_for_each_server() {
    let output = preflight().arg("demo").output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let sections: Vec<&str> = stdout.split("━━ ").skip(1).collect();
    assert_eq!(sections.len(), 3, "{stdout}");
    let healthy = rows(sections[0]);
    let broken = rows(sections[1]);
    let logged_in_anyway = rows(sections[2]);
    let has = |rows: &[(String, String)], status: &str, id: &str| {
        rows.iter().any(|(s, i)| s == status && i == id)
    };

    assert!(
        healthy.iter().filter(|(s, _)| s == "PASS").count() > 20,
        "{healthy:?}"
    );
    assert!(
        !healthy.iter().any(|(s, _)| s == "FAIL" || s == "ERROR"),
        "{healthy:?}"
    );
    assert!(has(&healthy, "PASS", "share.sql-can-write"), "{healthy:?}");

    assert!(broken.iter().any(|(s, _)| s == "PASS"), "{broken:?}");
    assert!(has(&broken, "FAIL", "tls.cert.hostname"), "{broken:?}");
    assert!(has(&broken, "WARN", "tls.encryption.forced"), "{broken:?}");
    assert!(has(&broken, "WARN", "host.pmp.masterkey"), "{broken:?}");
    // No login without a verified certificate: the SQL checks are skipped,
    // said once, naming the failure that caused it.
    let skipped = sections[1]
        .split("\nSkipped\n")
        .nth(1)
        .expect("a Skipped section");
    let group = skipped
        .split("• ")
        .find(|g| g.contains("tls.cert.hostname failed"))
        .unwrap_or_else(|| panic!("no group blocked by tls.cert.hostname: {skipped}"));
    assert!(group.contains("sql.login"), "{group}");
    assert_eq!(
        sections[1].matches("no login was attempted").count(),
        1,
        "{}",
        sections[1]
    );

    assert!(
        has(&logged_in_anyway, "FAIL", "sql.role.backup-operator"),
        "{logged_in_anyway:?}"
    );
    assert!(
        sections[2].contains("not\n") || sections[2].contains("verified"),
        "{}",
        sections[2]
    );

    // The scenario's test passwords travel through real logins, never to output.
    for password in ["Pmp-Test-Passw0rd!", "Pback-Test-Passw0rd!"] {
        assert!(!stdout.contains(password), "{password} printed");
    }
}

#[test]
fn emulate_writes_a_target_that_run_uses_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("emulated.toml");
    let mut emulate = Process::new(assert_cmd::cargo::cargo_bin("mssql-preflight"))
        .args(["emulate", "--scenario", "sql2022-healthy", "--write-target"])
        .arg(&target)
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !target.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(target.exists(), "emulate wrote no target file");
    // The password files beside it are for the owner only.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "password") {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }

    let run = preflight()
        .args([
            "run",
            "--check",
            "tls.*",
            "--check",
            "sql.login",
            "--target",
        ])
        .arg(&target)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("sql.login"), "{stdout}");

    let _ = Process::new("kill")
        .args(["-INT", &emulate.id().to_string()])
        .status();
    let stopped = Instant::now();
    loop {
        if let Some(status) = emulate.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(20),
            "emulate ignored Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn emulate_names_the_scenarios_when_one_is_unknown() {
    preflight()
        .args(["emulate", "--scenario", "sql2022-healthx"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("did you mean `sql2022-healthy`?"));
}
