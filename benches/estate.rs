//! An estate of 1,000 targets (many names, a few emulated SQL Servers) run
//! with `run --inventory --profile pmp` as its own process: targets per
//! second and the process's peak resident memory. Figures print; nothing is
//! asserted (goals: at least 100 targets/s on 2 cores with the emulators on
//! the same machine, at most 150 MB).
//!
//! Run with `cargo bench --bench estate`; `PREFLIGHT_BENCH_TARGETS` (default
//! 1000), `PREFLIGHT_BENCH_EMULATORS` (default 3) and `PREFLIGHT_BENCH_JOBS`
//! (default: the tool's own) change the set-up.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mssql_emulator::{Emulator, EmulatorOptions, Scenario};

fn setting(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let targets = setting("PREFLIGHT_BENCH_TARGETS").unwrap_or(1000);
    let emulator_count = setting("PREFLIGHT_BENCH_EMULATORS").unwrap_or(3);
    let jobs = setting("PREFLIGHT_BENCH_JOBS");
    let mut emulators = Vec::new();
    for _ in 0..emulator_count {
        let scenario = Scenario::builtin("sql2022-healthy").expect("built-in scenario");
        emulators.push(
            Emulator::start(scenario, EmulatorOptions::default())
                .await
                .expect("the emulator starts"),
        );
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let inventory = write_inventory(&emulators, targets, dir.path());
    let mut args: Vec<String> = ["run", "--profile", "pmp", "-q", "--format", "json"]
        .map(str::to_owned)
        .to_vec();
    if let Some(jobs) = jobs {
        args.extend(["--jobs".to_owned(), jobs.to_string()]);
    }
    let output = dir.path().join("estate.json");
    args.extend([
        "--report".to_owned(),
        format!("json={}", output.display()),
        "--inventory".to_owned(),
        inventory.display().to_string(),
    ]);
    let (took, peak_kb, code) = tokio::task::block_in_place(|| run_measured(&args));
    let report = std::fs::read_to_string(&output).unwrap_or_default();
    let estate = mssql_preflight::estate::EstateReport::from_json(&report);
    let verdicts = match &estate {
        Ok(e) => format!("{:?}", e.verdicts),
        Err(e) => format!("no report: {e}"),
    };
    println!(
        "estate of {targets} targets on {emulator_count} emulators, profile pmp, jobs {}",
        jobs.map_or("default".to_owned(), |j| j.to_string())
    );
    println!(
        "  {:.1} s, {:.0} targets/s, peak RSS {:.1} MB, exit code {code:?}",
        took.as_secs_f64(),
        targets as f64 / took.as_secs_f64(),
        peak_kb as f64 / 1024.0
    );
    println!("  verdicts: {verdicts}");
    for emulator in emulators {
        emulator.shutdown().await;
    }
}

/// Runs the binary with `args`: wall time, peak RSS (VmHWM, read until it
/// exits) and exit code.
fn run_measured(args: &[String]) -> (Duration, u64, Option<i32>) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mssql-preflight"))
        .args(args)
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0;
    let code = loop {
        if let Ok(Some(exit)) = child.try_wait() {
            break exit.code();
        }
        if let Some(kb) = std::fs::read_to_string(&status).ok().and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        }) {
            peak_kb = peak_kb.max(kb);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (started.elapsed(), peak_kb, code)
}

/// An inventory of `targets` names spread over the emulators: the CA and
/// the application account's password file shared through [defaults].
fn write_inventory(emulators: &[Emulator], targets: usize, dir: &Path) -> std::path::PathBuf {
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, emulators[0].ca_pem()).expect("write the CA file");
    let password = dir.join("pmp.password");
    std::fs::write(&password, "Pmp-Test-Passw0rd!\n").expect("write the password file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600))
            .expect("chmod 600");
    }
    let quoted = |text: &str| toml::Value::String(text.to_owned()).to_string();
    let mut text = format!(
        "[defaults.server]\ndatabase = \"PassTrix\"\n[defaults.tls]\nca_file = {}\nexpected_name = {}\n[defaults.sql]\nuser = \"pmp\"\npassword_file = {}\n",
        quoted(&ca.display().to_string()),
        quoted(emulators[0].scenario().host_name()),
        quoted(&password.display().to_string())
    );
    for index in 0..targets {
        let addr = emulators[index % emulators.len()].tds_addr();
        text.push_str(&format!(
            "\n[[target]]\nname = \"sql{index:04}\"\n[target.server]\nhost = \"{}\"\nport = {}\n",
            addr.ip(),
            addr.port()
        ));
    }
    let path = dir.join("estate.toml");
    std::fs::write(&path, text).expect("write the inventory");
    path
}
