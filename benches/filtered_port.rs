//! Runs every check against a port that drops connections (a firewall) and
//! prints the ratio of the whole run's wall time to the per-operation
//! timeout. Prerequisites are shared facts, so a dead port should cost one
//! timeout, not one per check: the ratio must stay at or below 1.2.
//!
//!     cargo bench --bench filtered_port

#[path = "../tests/it/support/net.rs"]
#[allow(dead_code)]
mod net;

#[allow(dead_code)] // each benchmark uses part of it
mod common;

use std::time::{Duration, Instant};

use mssql_preflight::engine::{self, EngineOptions, Silent};
use mssql_preflight::selection::Selection;

const TIMEOUT: Duration = Duration::from_secs(2);
const LIMIT: f64 = 1.2;

fn main() {
    let filtered = net::FilteredPort::new();
    let addr = filtered.addr;

    // A target with everything configured, so that checks skip because the
    // port is dead, not because nothing was asked of them.
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(dir.path().join("backups")).expect("backup folder");
    // SAFETY: single-threaded here; the runtime starts below.
    unsafe { std::env::set_var("PREFLIGHT_BENCH_PASSWORD", "bench-password") };
    let toml = format!(
        "[server]\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"Passwordstate\"\n\
         [sql]\nuser = \"pstate\"\npassword_env = \"PREFLIGHT_BENCH_PASSWORD\"\n\
         [backup]\nuser = \"pback\"\npassword_env = \"PREFLIGHT_BENCH_PASSWORD\"\ndestination = '{}'\n\
         [app]\nkind = \"passwordstate\"\ninstall_dir = '{}'\ndatabase_on_other_server = true\n",
        addr.port(),
        dir.path().join("backups").display(),
        dir.path().display()
    );
    let path = dir.path().join("target.toml");
    std::fs::write(&path, toml).expect("target file");
    let target = common::load_target(&path);
    let plan = common::plan(&Selection::default());
    let mut options = EngineOptions::default();
    options.settings.timeout = TIMEOUT;
    options.settings.intrusive = true;

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let started = Instant::now();
    let run = runtime.block_on(engine::run(target, &plan, &options, &Silent));
    let wall = started.elapsed();
    let ratio = wall.as_secs_f64() / TIMEOUT.as_secs_f64();

    println!("checks run:        {}", run.report.summary.total);
    println!("verdicts:          {}", run.report.headline());
    let slowest = run.report.results.iter().max_by_key(|r| r.duration_ms);
    if let Some(r) = slowest {
        println!(
            "slowest check:     {} ({} ms, {})",
            r.id, r.duration_ms, r.status
        );
    }
    println!("timeout:           {:?}", TIMEOUT);
    println!("wall time:         {:.3} s", wall.as_secs_f64());
    println!("wall / timeout:    {ratio:.3} (limit {LIMIT})");
    drop(filtered);
    if ratio > LIMIT {
        eprintln!("FAILED: a filtered port cost more than {LIMIT} timeouts");
        std::process::exit(1);
    }
}
