//! How many TDS logins and how much wall time a profile run costs against a
//! healthy emulated SQL Server 2022. The target is one login per account per
//! run, however many checks share the session.
//!
//! Run with `cargo bench --bench sql_profiles`; set `PREFLIGHT_BENCH_RUNS`
//! to change the number of runs per profile (default 20).

#[allow(dead_code)] // each benchmark uses part of it
mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mssql_emulator::{Emulator, EmulatorOptions, Scenario};
use mssql_preflight::engine::{self, EngineOptions, Silent};
use mssql_preflight::facts::sql::SqlLogins;
use mssql_preflight::selection::Selection;
use mssql_preflight::target::Target;

struct Profile {
    name: &'static str,
    database: &'static str,
    accounts: &'static [(&'static str, &'static str, &'static str)],
}

const PROFILES: [Profile; 2] = [
    Profile {
        name: "pmp",
        database: "PassTrix",
        accounts: &[("sql", "pmp", "Pmp-Test-Passw0rd!")],
    },
    Profile {
        name: "passwordstate",
        database: "Passwordstate",
        accounts: &[
            ("sql", "pstate", "Pstate-Test-Passw0rd!"),
            ("backup", "pback", "Pback-Test-Passw0rd!"),
        ],
    },
];

fn main() {
    let runs: usize = std::env::var("PREFLIGHT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        println!(
            "{:<14} {:>5} {:>9} {:>9} {:>10} {:>10} {:>10} {:>9} {:>13}",
            "profile",
            "runs",
            "accounts",
            "logins",
            "min ms",
            "median ms",
            "max ms",
            "checks",
            "peak RSS MB"
        );
        for profile in &PROFILES {
            bench(profile, runs).await;
        }
    });
}

async fn bench(profile: &Profile, runs: usize) {
    let scenario = Scenario::builtin("sql2022-healthy").expect("built-in scenario");
    let emulator = Emulator::start(scenario, EmulatorOptions::default())
        .await
        .expect("the emulator starts");
    let dir = tempfile::tempdir().expect("temporary directory");
    let target = target(&emulator, profile, dir.path());
    let plan = common::plan(&Selection {
        profile: Some(profile.name.to_owned()),
        ..Selection::default()
    });
    let mut options = EngineOptions::default();
    options.settings.timeout = Duration::from_secs(5);

    let mut times = Vec::with_capacity(runs);
    let mut logins_per_run = Vec::with_capacity(runs);
    for _ in 0..runs {
        let before = emulator.logins().len();
        let started = Instant::now();
        let run = engine::run(target.clone(), &plan, &options, &Silent).await;
        times.push(started.elapsed());
        let seen = emulator.logins().len() - before;
        let counted = run.gathered::<SqlLogins>().map(|l| l.count()).unwrap_or(0);
        assert_eq!(seen, counted, "the ledger counts what the server saw");
        logins_per_run.push(seen);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let logins = if logins_per_run.iter().all(|l| *l == logins_per_run[0]) {
        logins_per_run[0].to_string()
    } else {
        format!("{logins_per_run:?}")
    };
    let target_file = dir.path().join("target.toml");
    let peak = tokio::task::block_in_place(|| peak_rss_of_one_run(profile, &target_file));
    println!(
        "{:<14} {:>5} {:>9} {:>9} {:>10.1} {:>10.1} {:>10.1} {:>9} {:>13}",
        profile.name,
        runs,
        profile.accounts.len(),
        logins,
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        plan.checks.len(),
        peak
    );
    emulator.shutdown().await;
}

/// The peak resident memory of one `mssql-preflight run` of the profile, as
/// its own process (VmHWM, read until it exits).
fn peak_rss_of_one_run(profile: &Profile, target: &Path) -> String {
    let Ok(mut child) = std::process::Command::new(env!("CARGO_BIN_EXE_mssql-preflight"))
        .args([
            "run",
            "--profile",
            profile.name,
            "--format",
            "json",
            "--target",
        ])
        .arg(target)
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        return "?".to_owned();
    };
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kb: Option<u64> = None;
    while matches!(child.try_wait(), Ok(None)) {
        let read = std::fs::read_to_string(&status).ok().and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        });
        peak_kb = read.or(peak_kb);
        std::thread::sleep(Duration::from_millis(5));
    }
    peak_kb.map_or_else(|| "?".to_owned(), |kb| format!("{:.1}", kb as f64 / 1024.0))
}

fn target(emulator: &Emulator, profile: &Profile, dir: &Path) -> Arc<Target> {
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, emulator.ca_pem()).expect("write the CA file");
    let addr = emulator.tds_addr();
    let mut toml = format!(
        "[server]\nhost = \"{}\"\nport = {}\ndatabase = \"{}\"\n\n[tls]\nca_file = {}\nexpected_name = \"{}\"\n",
        addr.ip(),
        addr.port(),
        profile.database,
        toml_string(&ca.display().to_string()),
        emulator.scenario().host_name()
    );
    for (section, user, password) in profile.accounts {
        let file = dir.join(format!("{user}.password"));
        std::fs::write(&file, password).expect("write a password file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .expect("chmod 600");
        }
        toml.push_str(&format!(
            "\n[{section}]\nuser = \"{user}\"\npassword_file = {}\n",
            toml_string(&file.display().to_string())
        ));
    }
    let path = dir.join("target.toml");
    std::fs::write(&path, toml).expect("write the target file");
    common::load_target(&path)
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}
