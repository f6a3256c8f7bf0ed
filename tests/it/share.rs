//! share.*, net.smb.reachable and net.winrm.reachable against a real Samba
//! server on loopback, temporary directories and loopback listeners.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use mssql_preflight::finding::Status;
use mssql_preflight::probe::write_probe::ProbeName;
use mssql_preflight::report::CheckResult;

use crate::support::net::closed_port;
use crate::support::proxy::{AtWrite, SmbRelay};
use crate::support::samba::{READER, READER_PASSWORD, Samba, WRITER, WRITER_PASSWORD, probe_files};
use crate::support::{assert_status, run};

/// Named like a probe file but not exactly one: never swept.
const LOOKALIKE: &str = ".mssql-preflight-probe-notauuid.tmp";

/// A probe file name as another run would have written it.
fn probe_name() -> String {
    ProbeName::fresh(time::OffsetDateTime::now_utc(), None).to_string()
}

/// A probe file in `dir` whose last write was `age` ago, as a killed run
/// would leave it.
fn leftover(dir: &Path, name: &str, age: Duration) {
    let path = dir.join(name);
    std::fs::write(&path, b"left by a killed run").unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

/// Waits until `dir` holds no probe file, for up to five seconds (a server
/// closes a dropped connection's files shortly after it notices).
async fn assert_no_probe_file_remains(dir: &Path) {
    for _ in 0..50 {
        if probe_files(dir).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "probe files remain in {}: {:?}",
        dir.display(),
        probe_files(dir)
    );
}

fn failed_step(r: &CheckResult) -> &str {
    r.evidence["failed_step"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn the_backup_account_writes_reads_renames_and_deletes_on_the_share() {
    let samba = Samba::start();
    let toml = samba.target(&samba.unc("backups", ""), WRITER, WRITER_PASSWORD);
    let report = run(&toml, &["share.write", "net.smb.reachable"]).await;
    assert_status(&report, "net.smb.reachable", Status::Pass);
    let r = assert_status(&report, "share.write", Status::Pass);
    assert!(r.message.contains("as `pback` over SMB 3"), "{}", r.message);
    let steps = r.evidence["completed_steps"].to_string();
    for step in [
        "create",
        "write",
        "flush",
        "read-back",
        "compare",
        "rename",
        "delete",
        "confirm-gone",
    ] {
        assert!(steps.contains(step), "{step} missing from {steps}");
    }
    assert!(probe_files(&samba.share_dir("backups")).is_empty());
}

#[tokio::test]
async fn a_read_only_share_fails_with_access_denied_and_the_guides_permissions() {
    let samba = Samba::start();
    let toml = samba.target(&samba.unc("backups", ""), READER, READER_PASSWORD);
    let report = run(&toml, &["share.write"]).await;
    let r = assert_status(&report, "share.write", Status::Fail);
    assert!(r.message.contains("STATUS_ACCESS_DENIED"), "{}", r.message);
    assert_eq!(failed_step(r), "create");
    let fix = r.remediation.as_deref().unwrap();
    assert!(
        fix.contains("Change") && fix.contains("Modify") && fix.contains("§2.5"),
        "{fix}"
    );
    assert!(probe_files(&samba.share_dir("backups")).is_empty());
}

#[tokio::test]
async fn a_folder_the_account_may_not_modify_fails_with_access_denied() {
    let samba = Samba::start();
    let toml = samba.target(&samba.unc("backups", "locked"), WRITER, WRITER_PASSWORD);
    let report = run(&toml, &["share.write"]).await;
    let r = assert_status(&report, "share.write", Status::Fail);
    assert!(r.message.contains("STATUS_ACCESS_DENIED"), "{}", r.message);
    assert_eq!(failed_step(r), "create");
}

#[tokio::test]
async fn a_wrong_password_fails_at_logon_with_the_troubleshooting_steps() {
    let samba = Samba::start();
    let toml = samba.target(&samba.unc("backups", ""), WRITER, "not-the-password");
    let report = run(&toml, &["share.write", "share.space"]).await;
    let r = assert_status(&report, "share.write", Status::Fail);
    assert!(r.message.contains("could not log on"), "{}", r.message);
    assert!(r.message.contains("STATUS_LOGON_FAILURE"), "{}", r.message);
    let fix = r.remediation.as_deref().unwrap();
    assert!(
        fix.contains("heartbeat") && fix.contains("locked out") && fix.contains("secpol.msc"),
        "{fix}"
    );
    // Free space cannot be read without a session: it says why and where to look.
    let space = assert_status(&report, "share.space", Status::Skip);
    assert!(
        space.message.contains("see share.write"),
        "{}",
        space.message
    );
}

#[tokio::test]
async fn a_share_that_does_not_exist_fails_with_bad_network_name() {
    let samba = Samba::start();
    let toml = samba.target(&samba.unc("nosuchshare", ""), WRITER, WRITER_PASSWORD);
    let report = run(&toml, &["share.write"]).await;
    let r = assert_status(&report, "share.write", Status::Fail);
    assert!(
        r.message.contains("STATUS_BAD_NETWORK_NAME"),
        "{}",
        r.message
    );
    assert!(r.message.contains("share does not exist"), "{}", r.message);
}

#[tokio::test]
async fn a_folder_that_does_not_exist_fails_naming_it() {
    let samba = Samba::start();
    let toml = samba.target(&samba.unc("backups", "nosuchdir"), WRITER, WRITER_PASSWORD);
    let report = run(&toml, &["share.write"]).await;
    let r = assert_status(&report, "share.write", Status::Fail);
    assert_eq!(failed_step(r), "open-folder");
    assert!(r.message.contains("does not exist"), "{}", r.message);
}

#[tokio::test]
async fn a_destination_that_is_a_file_fails() {
    let samba = Samba::start();
    let toml = samba.target(&samba.unc("backups", "afile"), WRITER, WRITER_PASSWORD);
    let report = run(&toml, &["share.write"]).await;
    let r = assert_status(&report, "share.write", Status::Fail);
    assert_eq!(failed_step(r), "open-folder");
    assert!(
        r.message.contains("is a file, not a folder"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn a_full_share_fails_with_disk_full_and_leaves_nothing() {
    let samba = Samba::start();
    let toml = samba.target(&samba.unc("full", ""), WRITER, WRITER_PASSWORD);
    let report = run(&toml, &["share.write"]).await;
    let r = assert_status(&report, "share.write", Status::Fail);
    assert!(r.message.contains("STATUS_DISK_FULL"), "{}", r.message);
    assert_eq!(failed_step(r), "write");
    assert!(
        r.message.contains("The probe file was removed"),
        "{}",
        r.message
    );
    assert_no_probe_file_remains(&samba.share_dir("full")).await;
}

#[tokio::test]
async fn stale_probe_files_of_killed_runs_are_removed_and_fresh_ones_kept() {
    let samba = Samba::start();
    let dir = samba.share_dir("backups");
    let (stale, fresh) = (&probe_name(), &probe_name());
    leftover(&dir, stale, Duration::from_secs(3600));
    leftover(&dir, fresh, Duration::from_secs(30));
    leftover(&dir, LOOKALIKE, Duration::from_secs(3600));
    let other = dir.join("backup-2024.zip");
    leftover(&dir, "backup-2024.zip", Duration::from_secs(3600));
    let toml = samba.target(&samba.unc("backups", ""), WRITER, WRITER_PASSWORD);
    let report = run(&toml, &["share.write"]).await;
    let r = assert_status(&report, "share.write", Status::Pass);
    assert_eq!(
        r.evidence["stale_probe_files_removed"],
        serde_json::json!([stale])
    );
    let mut left = vec![LOOKALIKE.to_owned(), fresh.to_owned()];
    left.sort();
    assert_eq!(
        probe_files(&dir),
        left,
        "only another run's fresh probe and a name that is not a probe name remain"
    );
    assert!(
        other.exists(),
        "files that are not probe files are never touched"
    );
}

#[tokio::test]
async fn a_connection_cut_mid_probe_fails_at_that_step_and_leaves_nothing() {
    let samba = Samba::start();
    let relay = SmbRelay::start(([127, 0, 0, 1], samba.port).into(), AtWrite::Cut).await;
    let toml = samba
        .target(&samba.unc("backups", ""), WRITER, WRITER_PASSWORD)
        .replace(
            &format!("smb_port = {}", samba.port),
            &format!("smb_port = {}", relay.port),
        );
    let report = run(&toml, &["share.write"]).await;
    let r = assert_status(&report, "share.write", Status::Fail);
    assert_eq!(failed_step(r), "write");
    assert!(
        r.message.contains("connection to the file server broke"),
        "{}",
        r.message
    );
    assert_no_probe_file_remains(&samba.share_dir("backups")).await;
}

#[tokio::test]
async fn a_server_that_stops_answering_is_an_error_and_the_probe_file_is_removed() {
    let samba = Samba::start();
    let relay = SmbRelay::start(([127, 0, 0, 1], samba.port).into(), AtWrite::Stall).await;
    let toml = samba
        .target(&samba.unc("backups", ""), WRITER, WRITER_PASSWORD)
        .replace(
            &format!("smb_port = {}", samba.port),
            &format!("smb_port = {}", relay.port),
        );
    let mut options = mssql_preflight::engine::EngineOptions::default();
    options.settings.timeout = Duration::from_millis(800);
    let report = crate::support::run_with(&toml, &["share.write"], options).await;
    let r = assert_status(&report, "share.write", Status::Error);
    assert!(r.message.contains("no answer within"), "{}", r.message);
    assert!(
        r.message.contains("The probe file was removed"),
        "{}",
        r.message
    );
    assert_no_probe_file_remains(&samba.share_dir("backups")).await;
}

/// Starts the CLI against `toml` with a relay that stalls at the first
/// WRITE, and returns once the probe file exists on the share.
async fn cli_stalled_mid_probe(
    samba: &Samba,
    relay: &SmbRelay,
    dir: &tempfile::TempDir,
) -> tokio::process::Child {
    let toml = samba.writer_target_through(relay.port);
    let target = dir.path().join("target.toml");
    std::fs::write(&target, toml).unwrap();
    let child = tokio::process::Command::new(assert_cmd::cargo::cargo_bin("mssql-preflight"))
        .args([
            "run",
            "--check",
            "share.write",
            "--timeout",
            "3s",
            "--target",
        ])
        .arg(&target)
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary runs");
    tokio::time::timeout(Duration::from_secs(20), relay.tripped())
        .await
        .expect("the probe reached its first write");
    assert_eq!(
        probe_files(&samba.share_dir("backups")).len(),
        1,
        "the probe file exists while the probe is stalled"
    );
    child
}

#[tokio::test]
async fn a_killed_run_leaves_no_probe_file_on_the_share() {
    let samba = Samba::start();
    let relay = SmbRelay::start(([127, 0, 0, 1], samba.port).into(), AtWrite::Stall).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = cli_stalled_mid_probe(&samba, &relay, &dir).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    // The process could not clean up: the server's delete-on-close did.
    assert_no_probe_file_remains(&samba.share_dir("backups")).await;
}

#[tokio::test]
async fn ctrl_c_cleans_up_reports_and_exits_130() {
    let samba = Samba::start();
    let relay = SmbRelay::start(([127, 0, 0, 1], samba.port).into(), AtWrite::Stall).await;
    let dir = tempfile::tempdir().unwrap();
    let child = cli_stalled_mid_probe(&samba, &relay, &dir).await;
    let pid = child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the run ends after Ctrl-C")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stderr.contains("removing probe files"), "{stderr}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert!(stdout.contains("The probe file was removed"), "{stdout}");
    assert_no_probe_file_remains(&samba.share_dir("backups")).await;
}

#[tokio::test]
async fn a_closed_smb_port_fails_reachability_and_skips_the_write() {
    let toml = format!(
        "[server]\nhost = \"127.0.0.1\"\n[backup]\nuser = \"pback\"\npassword_env = \"PREFLIGHT_UNSET\"\ndestination = '\\\\127.0.0.1\\backups'\nsmb_port = {}\n",
        closed_port()
    );
    let report = run(&toml, &["net.smb.reachable", "share.write"]).await;
    let r = assert_status(&report, "net.smb.reachable", Status::Fail);
    assert!(r.remediation.as_deref().unwrap().contains("LanmanServer"));
    // Without a password the write check says so before anything else.
    let w = assert_status(&report, "share.write", Status::Skip);
    assert!(w.message.contains("PREFLIGHT_UNSET"), "{}", w.message);
}

#[tokio::test]
async fn a_local_destination_skips_smb_reachability() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[server]\nhost = \"127.0.0.1\"\n[backup]\ndestination = '{}'\n",
        dir.path().display()
    );
    let report = run(&toml, &["net.smb.reachable"]).await;
    assert_status(&report, "net.smb.reachable", Status::Skip);
}

fn local_target(path: &Path, size: Option<&str>) -> String {
    let mut toml = format!(
        "[server]\nhost = \"127.0.0.1\"\n[backup]\ndestination = '{}'\n",
        path.display()
    );
    if let Some(size) = size {
        toml.push_str(&format!("database_size = \"{size}\"\n"));
    }
    toml
}

#[tokio::test]
async fn a_local_directory_is_probed_and_old_probe_files_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let stale = &probe_name();
    leftover(dir.path(), stale, Duration::from_secs(3600));
    leftover(dir.path(), LOOKALIKE, Duration::from_secs(3600));
    let report = run(&local_target(dir.path(), None), &["share.write"]).await;
    let r = assert_status(&report, "share.write", Status::Pass);
    assert!(
        r.message.contains("as the user running mssql-preflight"),
        "{}",
        r.message
    );
    assert_eq!(
        r.evidence["stale_probe_files_removed"],
        serde_json::json!([stale])
    );
    assert_eq!(probe_files(dir.path()), vec![LOOKALIKE.to_owned()]);
}

#[tokio::test]
async fn a_local_path_that_is_missing_or_a_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let report = run(
        &local_target(&dir.path().join("nope"), None),
        &["share.write"],
    )
    .await;
    let r = assert_status(&report, "share.write", Status::Fail);
    assert!(r.message.contains("does not exist"), "{}", r.message);
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let report = run(&local_target(&file, None), &["share.write"]).await;
    let r = assert_status(&report, "share.write", Status::Fail);
    assert!(r.message.contains("not a directory"), "{}", r.message);
}

/// Runs the CLI in a mount namespace of its own, where `setup` (shell) has
/// prepared the destination; returns its JSON report.
fn cli_in_namespace(setup: &str, target: &str, checks: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let target_path = dir.path().join("t.toml");
    std::fs::write(&target_path, target).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("mssql-preflight");
    let script = format!(
        "set -e\n{setup}\nexec '{}' run --format json --check '{checks}' --target '{}'",
        bin.display(),
        target_path.display()
    );
    let output = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .output()
        .expect("unshare (util-linux) runs, as root");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}):\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn json_result<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {report:#}"))
}

#[test]
fn a_full_local_volume_fails_with_no_space_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("full");
    std::fs::create_dir(&mount).unwrap();
    let setup = format!(
        "mount -t tmpfs -o size=64k tmpfs '{m}'\ndd if=/dev/zero of='{m}/filler' bs=4096 2>/dev/null || true",
        m = mount.display()
    );
    let report = cli_in_namespace(&setup, &local_target(&mount, Some("1 MiB")), "share.*");
    let write = json_result(&report, "share.write");
    assert_eq!(write["status"], "fail", "{write:#}");
    assert_eq!(write["evidence"]["failed_step"], "write", "{write:#}");
    assert!(
        write["message"].as_str().unwrap().contains("no space left"),
        "{write:#}"
    );
    assert_eq!(
        write["evidence"]["cleanup"]["outcome"], "removed",
        "{write:#}"
    );
    let space = json_result(&report, "share.space");
    assert_eq!(space["status"], "fail", "{space:#}");
}

#[test]
fn a_read_only_local_volume_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("ro");
    std::fs::create_dir(&mount).unwrap();
    let setup = format!("mount -t tmpfs -o ro,size=1m tmpfs '{}'", mount.display());
    let report = cli_in_namespace(&setup, &local_target(&mount, None), "share.write");
    let write = json_result(&report, "share.write");
    assert_eq!(write["status"], "fail", "{write:#}");
    assert_eq!(write["evidence"]["failed_step"], "create", "{write:#}");
    assert_eq!(
        write["evidence"]["error"]["problem"], "read-only",
        "{write:#}"
    );
}

#[tokio::test]
async fn free_space_on_the_share_is_compared_with_the_database_size() {
    let samba = Samba::start();
    let base = samba.target(&samba.unc("space", ""), WRITER, WRITER_PASSWORD);
    // The share is a 4 MiB tmpfs.
    let cases = [
        ("1 MiB", Status::Pass),
        ("3 MiB", Status::Warn),
        ("8 MiB", Status::Fail),
    ];
    for (size, status) in cases {
        let toml = format!("{base}database_size = \"{size}\"\n");
        let report = run(&toml, &["share.space"]).await;
        let r = assert_status(&report, "share.space", status);
        assert_eq!(r.evidence["total_bytes"], 4 * 1024 * 1024, "{r:#?}");
        assert!(
            r.notes.iter().any(|n| n.contains("database_size")),
            "{r:#?}"
        );
    }
    let report = run(&base, &["share.space"]).await;
    let r = assert_status(&report, "share.space", Status::Skip);
    assert!(r.message.contains("database_size"), "{}", r.message);
}

#[tokio::test]
async fn free_space_of_a_local_directory_is_read_too() {
    let dir = tempfile::tempdir().unwrap();
    let report = run(&local_target(dir.path(), Some("1 KiB")), &["share.space"]).await;
    let r = assert_status(&report, "share.space", Status::Pass);
    assert!(r.evidence["available_bytes"].as_u64().unwrap() > 1024);
}

fn winrm_target(http: u16, https: u16, other_server: Option<bool>, kind: &str) -> String {
    let mut toml = format!("[server]\nhost = \"127.0.0.1\"\n[app]\nkind = \"{kind}\"\n");
    if let Some(flag) = other_server {
        toml.push_str(&format!("database_on_other_server = {flag}\n"));
    }
    toml.push_str(&format!(
        "[checks.\"net.winrm.reachable\"]\nhttp_port = {http}\nhttps_port = {https}\n"
    ));
    toml
}

#[tokio::test]
async fn winrm_is_checked_when_the_database_is_on_another_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().port();
    let report = run(
        &winrm_target(closed_port(), open, Some(true), "passwordstate"),
        &["net.winrm.reachable"],
    )
    .await;
    let r = assert_status(&report, "net.winrm.reachable", Status::Pass);
    assert!(r.message.contains("HTTPS"), "{}", r.message);

    let report = run(
        &winrm_target(closed_port(), closed_port(), Some(true), "passwordstate"),
        &["net.winrm.reachable"],
    )
    .await;
    let r = assert_status(&report, "net.winrm.reachable", Status::Fail);
    let fix = r.remediation.as_deref().unwrap();
    assert!(
        fix.contains("Enable-PSRemoting") && fix.contains("Remote Management Users"),
        "{fix}"
    );
}

#[tokio::test]
async fn winrm_is_skipped_when_it_is_not_needed_saying_why() {
    let cases = [
        (Some(false), "passwordstate", "no remoting is needed"),
        (None, "passwordstate", "database_on_other_server"),
        (Some(true), "pmp", "only Passwordstate"),
    ];
    for (flag, kind, why) in cases {
        let report = run(&winrm_target(1, 2, flag, kind), &["net.winrm.reachable"]).await;
        let r = assert_status(&report, "net.winrm.reachable", Status::Skip);
        assert!(r.message.contains(why), "{kind} {flag:?}: {}", r.message);
    }
}

/// The fixture itself, checked with Samba's own client, so the verdicts above
/// rest on a server that really behaves as described.
#[test]
fn the_fixture_grants_what_it_claims_by_sambas_own_client() {
    let samba = Samba::start();
    let upload = tempfile::NamedTempFile::new().unwrap();
    let smbclient = |user: &str, password: &str, command: &str| {
        let output = std::process::Command::new("smbclient")
            .arg("//127.0.0.1/backups")
            .args(["-p", &samba.port.to_string(), "-U", user, "-c", command])
            .env("PASSWD", password)
            .output()
            .expect("smbclient runs (Debian package smbclient)");
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    let put = format!("put {} fixture-check.txt", upload.path().display());
    let writer = smbclient(
        WRITER,
        WRITER_PASSWORD,
        &format!("{put}; rm fixture-check.txt"),
    );
    assert!(!writer.contains("NT_STATUS_"), "{writer}");
    let reader = smbclient(READER, READER_PASSWORD, &put);
    assert!(reader.contains("NT_STATUS_ACCESS_DENIED"), "{reader}");
    let wrong = smbclient(WRITER, "wrong", "ls");
    assert!(wrong.contains("NT_STATUS_LOGON_FAILURE"), "{wrong}");
}

/// What `share.sql-can-write` needs after SQL Server wrote its test backup.
#[tokio::test]
async fn a_file_someone_else_wrote_can_be_removed_from_the_destination() {
    use mssql_preflight::context::{RunContext, RunSettings};
    use mssql_preflight::facts::share::remove_from_destination;
    use mssql_preflight::params::Params;

    let samba = Samba::start();
    let local = tempfile::tempdir().unwrap();
    let destinations = [
        (
            samba.target(&samba.unc("backups", ""), WRITER, WRITER_PASSWORD),
            samba.share_dir("backups"),
        ),
        (local_target(local.path(), None), local.path().to_path_buf()),
    ];
    for (toml, dir) in destinations {
        let file = crate::support::TargetFile::new(&toml);
        let ctx = RunContext::new(
            std::sync::Arc::new(file.load()),
            RunSettings::default(),
            Params::default(),
        );
        let written = dir.join("preflight-copy-only.bak");
        std::fs::write(&written, b"a test backup").unwrap();
        assert_eq!(
            remove_from_destination(&ctx, "preflight-copy-only.bak").await,
            Ok(true)
        );
        assert!(!written.exists(), "{}", written.display());
        assert_eq!(
            remove_from_destination(&ctx, "preflight-copy-only.bak").await,
            Ok(false)
        );
        assert!(remove_from_destination(&ctx, "..").await.is_err());
    }
}

#[tokio::test]
async fn without_a_configured_size_the_database_size_comes_from_sql_server() {
    use crate::support::accounts::Passwords;
    use crate::support::emulator::TestServer;
    let samba = Samba::start();
    let server = TestServer::start_emulated("sql2022-healthy").await;
    let passwords = Passwords::new();
    // The application database's data file is 64 MiB; the share a 4 MiB tmpfs.
    let toml = server
        .app_target(&passwords)
        .with(&format!(
            "{}smb_port = {}\n",
            passwords.backup(WRITER, WRITER_PASSWORD, Some(&samba.unc("space", ""))),
            samba.port
        ))
        .render();
    let report = run(&toml, &["share.space"]).await;
    let r = assert_status(&report, "share.space", Status::Fail);
    assert_eq!(
        r.evidence["database_size_source"],
        "the application database's data files (sys.database_files)",
        "{r:#?}"
    );
}
