//! Runs every check against a port that drops connections (a firewall) and
//! prints the ratio of the whole run's wall time to the per-operation
//! timeout. Prerequisites are shared facts, so a dead port should cost one
//! timeout, not one per check: the ratio must stay at or below 1.2.
//!
//!     cargo bench --bench filtered_port

#[path = "../tests/it/support/net.rs"]
#[allow(dead_code)]
mod net;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mssql_preflight::catalog::Catalog;
use mssql_preflight::engine::{self, EngineOptions, Silent};
use mssql_preflight::selection::{self, Selection};
use mssql_preflight::target::{SecretInputs, Target, TargetOverrides};

const TIMEOUT: Duration = Duration::from_secs(2);
const LIMIT: f64 = 1.2;

fn main() {
    let filtered = net::FilteredPort::new();
    let overrides = TargetOverrides {
        host: Some("127.0.0.1".to_owned()),
        port: Some(filtered.addr.port()),
        ..TargetOverrides::default()
    };
    let target = Arc::new(Target::load(None, &overrides, SecretInputs::default()).expect("target"));
    let catalog = Catalog::builtin().expect("catalog");
    let plan =
        selection::plan(&catalog.registry, &catalog.profiles, &Selection::default()).expect("plan");
    let mut options = EngineOptions::default();
    options.settings.timeout = TIMEOUT;

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let started = Instant::now();
    let run = runtime.block_on(engine::run(target, &plan, &options, &Silent));
    let wall = started.elapsed();
    let ratio = wall.as_secs_f64() / TIMEOUT.as_secs_f64();

    println!("checks run:        {}", run.report.summary.total);
    println!("verdicts:          {}", run.report.summary.verdict());
    println!("timeout:           {:?}", TIMEOUT);
    println!("wall time:         {:.3} s", wall.as_secs_f64());
    println!("wall / timeout:    {ratio:.3} (limit {LIMIT})");
    drop(filtered);
    if ratio > LIMIT {
        eprintln!("FAILED: a filtered port cost more than {LIMIT} timeouts");
        std::process::exit(1);
    }
}
