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
            "{:<14} {:>5} {:>9} {:>9} {:>10} {:>10} {:>10} {:>9}",
            "profile", "runs", "accounts", "logins", "min ms", "median ms", "max ms", "checks"
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
    println!(
        "{:<14} {:>5} {:>9} {:>9} {:>10.1} {:>10.1} {:>10.1} {:>9}",
        profile.name,
        runs,
        profile.accounts.len(),
        logins,
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        plan.checks.len()
    );
    emulator.shutdown().await;
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
