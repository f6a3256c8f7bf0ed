//! SIGINT, SIGTERM and SIGHUP in each phase of the share probe: the run
//! removes its probe file, prints the report and exits 130, 143 or 129.
//!
//! Over SMB a relay passes the phase's request to Samba and then stalls, so
//! the server did the step but the probe never hears of it. On a local
//! folder, strace holds the phase's system call (fsync, renameat2, unlink)
//! for a moment; the signal comes while it is held. The calls the whole
//! process makes all the time (open, write, read, stat) are held instead by
//! a preloaded library that looks at the file's path (`support::hold_call`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mssql_preflight::probe::write_probe::Step;

use crate::support::hold_call::Held;
use crate::support::proxy::{SmbRelay, smb2};
use crate::support::samba::{Samba, WRITER, WRITER_PASSWORD, probe_files};

/// Each signal, how `kill` names it, and the exit code it must give.
const SIGNALS: [(&str, &str, i32); 3] = [
    ("INT", "Ctrl-C", 130),
    ("TERM", "SIGTERM", 143),
    ("HUP", "SIGHUP", 129),
];

fn preflight() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(assert_cmd::cargo::cargo_bin("mssql-preflight"));
    command
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

const RUN_ARGS: [&str; 7] = [
    "run",
    "--check",
    "share.write",
    "--timeout",
    "4s",
    "--format",
    "json",
];

/// Sends `signal` to `pid`, waits for the run to end, and checks what it
/// left: the exit code, the report (the probe failed at `phase`, was
/// interrupted and removed its file), and no probe file in `dir`.
async fn signal_and_check(
    child: tokio::process::Child,
    pid: u32,
    (signal, name, code): (&str, &str, i32),
    phase: Step,
    dir: &Path,
) {
    let sent = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{phase:?}/{signal}: the run ends after the signal"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!("{phase:?}/{signal}:\n{stdout}\n{stderr}");
    assert_eq!(output.status.code(), Some(code), "{context}");
    assert!(
        stderr.contains(&format!("Interrupted ({name})")),
        "{context}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("the report is printed ({e}): {context}"));
    let result = &report["results"][0];
    assert_eq!(result["id"], "share.write", "{context}");
    assert_eq!(result["status"], "error", "{context}");
    let message = result["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("stopped while trying to {}", phase.describe()))
            && message.contains("interrupted"),
        "{context}"
    );
    assert!(
        message.contains("The probe file was removed."),
        "the run removed its file itself: {context}"
    );
    assert_eq!(
        probe_files(dir),
        Vec::<String>::new(),
        "no probe file remains: {context}"
    );
}

/// For each signal: a run whose connection stalls right after the `nth`
/// request with SMB2 `command`, which the probe sends in `phase`.
async fn smb_phase(command: u16, nth: usize, phase: Step) {
    let samba = Samba::start();
    let dir = tempfile::tempdir().unwrap();
    for signal in SIGNALS {
        let relay = SmbRelay::stall_after(([127, 0, 0, 1], samba.port).into(), command, nth).await;
        let toml = samba.writer_target_through(relay.port);
        let target = dir.path().join("target.toml");
        std::fs::write(&target, toml).unwrap();
        let child = preflight()
            .args(RUN_ARGS)
            .arg("--target")
            .arg(&target)
            .spawn()
            .expect("the binary runs");
        tokio::time::timeout(Duration::from_secs(20), relay.tripped())
            .await
            .unwrap_or_else(|_| panic!("{phase:?}: the probe reached the stalled request"));
        // The stalled request's answer is on its way to nobody: give the
        // server a moment to carry it out.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let pid = child.id().unwrap();
        signal_and_check(child, pid, signal, phase, &samba.share_dir("backups")).await;
    }
}

#[tokio::test]
async fn smb_create() {
    smb_phase(smb2::CREATE, 2, Step::Create).await;
}

#[tokio::test]
async fn smb_write() {
    smb_phase(smb2::WRITE, 1, Step::Write).await;
}

#[tokio::test]
async fn smb_flush() {
    smb_phase(smb2::FLUSH, 1, Step::Flush).await;
}

#[tokio::test]
async fn smb_read_back() {
    smb_phase(smb2::READ, 1, Step::ReadBack).await;
}

#[tokio::test]
async fn smb_rename() {
    smb_phase(smb2::SET_INFO, 1, Step::Rename).await;
}

#[tokio::test]
async fn smb_delete() {
    smb_phase(smb2::SET_INFO, 2, Step::Delete).await;
}

#[tokio::test]
async fn smb_confirm_gone() {
    smb_phase(smb2::QUERY_DIRECTORY, 1, Step::ConfirmGone).await;
}

/// A temporary folder holding a `backups` destination and a target file
/// naming it (by its canonical path: the held calls are matched by path).
fn local_destination() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let backups = root.join("backups");
    std::fs::create_dir(&backups).unwrap();
    let target = root.join("target.toml");
    std::fs::write(
        &target,
        format!(
            "[server]\nhost = \"127.0.0.1\"\n[backup]\ndestination = '{}'\n",
            backups.display()
        ),
    )
    .unwrap();
    (dir, backups, target)
}

/// For each signal: a run on a local folder whose first `syscall` is held
/// by strace for 1.5 s; the signal comes while it is held.
async fn local_phase(syscall: &str, phase: Step) {
    for signal in SIGNALS {
        let (dir, backups, target) = local_destination();
        let trace = dir.path().join("strace.out");
        let mut command = tokio::process::Command::new("strace");
        command
            .args(["-f", "-qq", "-e", "signal=none", "-o"])
            .arg(&trace)
            .args([
                "-e".to_owned(),
                format!("trace={syscall}"),
                "-e".to_owned(),
                format!("inject={syscall}:delay_enter=1500000:when=1"),
                "--".to_owned(),
            ])
            .arg(assert_cmd::cargo::cargo_bin("mssql-preflight"))
            .args(RUN_ARGS)
            .arg("--target")
            .arg(&target)
            .env("MSSQL_PREFLIGHT_LOG", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = command.spawn().expect("strace runs (apt package strace)");
        let tracer = child.id().unwrap();
        let held = format!("{syscall}(");
        let started = Instant::now();
        while !std::fs::read_to_string(&trace).is_ok_and(|t| t.contains(&held)) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{phase:?}: the probe reached {syscall}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The signal goes to mssql-preflight, strace's child.
        let children =
            std::fs::read_to_string(format!("/proc/{tracer}/task/{tracer}/children")).unwrap();
        let pid = children.split_whitespace().next().unwrap().parse().unwrap();
        signal_and_check(child, pid, signal, phase, &backups).await;
    }
}

#[tokio::test]
async fn local_flush() {
    local_phase("fsync", Step::Flush).await;
}

#[tokio::test]
async fn local_rename() {
    local_phase("renameat2", Step::Rename).await;
}

#[tokio::test]
async fn local_delete() {
    local_phase("unlink", Step::Delete).await;
}

/// For each signal: a run on a local folder whose first `held` call on a
/// file inside it is held for 1.5 s; the signal comes while it is held.
async fn local_held_phase(held: Held, phase: Step) {
    for signal in SIGNALS {
        let (dir, backups, target) = local_destination();
        let mark = dir.path().join("held");
        let mut command = preflight();
        command.args(RUN_ARGS).arg("--target").arg(&target);
        for (key, value) in held.environment(&backups, &mark) {
            command.env(key, value);
        }
        let child = command.spawn().unwrap();
        let pid = child.id().unwrap();
        let started = Instant::now();
        while !mark.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{held:?}: the probe reached the held call"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        signal_and_check(child, pid, signal, phase, &backups).await;
    }
}

#[tokio::test]
async fn local_create_before_the_file_exists() {
    local_held_phase(Held::CreateBefore, Step::Create).await;
}

#[tokio::test]
async fn local_create_after_the_file_exists() {
    local_held_phase(Held::CreateAfter, Step::Create).await;
}

#[tokio::test]
async fn local_write() {
    local_held_phase(Held::WriteAfter, Step::Write).await;
}

#[tokio::test]
async fn local_read_back() {
    local_held_phase(Held::ReadAfter, Step::ReadBack).await;
}

#[tokio::test]
async fn local_confirm_gone() {
    local_held_phase(Held::StatAfter, Step::ConfirmGone).await;
}

/// Twenty runs at once against one destination: none may see another's
/// files (or its sweep) as its own problem.
async fn concurrent_runs(target_toml: &str, dir: &Path) {
    let home = tempfile::tempdir().unwrap();
    let target = home.path().join("target.toml");
    std::fs::write(&target, target_toml).unwrap();
    let runs: Vec<_> = (0..20)
        .map(|_| {
            preflight()
                .args(["run", "--check", "share.write", "--format", "json"])
                .args(["--timeout", "20s", "--target"])
                .arg(&target)
                .spawn()
                .expect("the binary runs")
                .wait_with_output()
        })
        .collect();
    for (index, output) in futures::future::join_all(runs)
        .await
        .into_iter()
        .enumerate()
    {
        let output = output.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("run {index}: no report ({e}): {stdout}"));
        let result = &report["results"][0];
        assert_eq!(result["status"], "pass", "run {index}: {result:#}");
    }
    assert_eq!(probe_files(dir), Vec::<String>::new());
}

#[tokio::test]
async fn twenty_concurrent_runs_on_one_local_folder_all_pass() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[server]\nhost = \"127.0.0.1\"\n[backup]\ndestination = '{}'\n",
        dir.path().display()
    );
    concurrent_runs(&toml, dir.path()).await;
}

#[tokio::test]
async fn twenty_concurrent_runs_on_one_share_all_pass() {
    let samba = Samba::start();
    let toml = samba.target(&samba.unc("backups", ""), WRITER, WRITER_PASSWORD);
    concurrent_runs(&toml, &samba.share_dir("backups")).await;
}
