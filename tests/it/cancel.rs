//! Interrupting a run (Ctrl-C cancels `RunSettings::cancel`): checks that
//! watch the token tidy up and report (see share.rs); the engine abandons
//! the rest after a grace period and stops retrying.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mssql_preflight::catalog::Catalog;
use mssql_preflight::context::RunContext;
use mssql_preflight::engine::{self, EngineOptions, INTERRUPT_GRACE, Silent};
use mssql_preflight::finding::{Finding, Outcome, Severity, Status};
use mssql_preflight::registry::{Check, CheckMeta, Family};
use mssql_preflight::selection::{self, Selection};

use crate::support::TargetFile;

/// A check that takes `takes`, ignoring cancellation, then fails.
struct Stubborn {
    meta: CheckMeta,
    takes: Duration,
}

#[async_trait]
impl Check for Stubborn {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, _ctx: &RunContext) -> Outcome {
        tokio::time::sleep(self.takes).await;
        Ok(Finding::fail("still failing"))
    }
}

async fn run_interrupted(takes: Duration, options: EngineOptions) -> (engine::Run, Duration) {
    let file = TargetFile::new("[server]\nhost = \"127.0.0.1\"\n");
    let catalog = Catalog::builtin().unwrap();
    let mut plan =
        selection::plan(&catalog.registry, &catalog.profiles, &Selection::default()).unwrap();
    plan.checks = vec![Arc::new(Stubborn {
        meta: CheckMeta::new("test.stubborn", Family::Net, Severity::Fail),
        takes,
    })];
    let cancel = options.settings.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let run = engine::run(Arc::new(file.load()), &plan, &options, &Silent).await;
    (run, started.elapsed())
}

#[tokio::test]
async fn checks_that_ignore_an_interruption_are_abandoned_after_the_grace() {
    let (run, took) = run_interrupted(Duration::from_secs(120), EngineOptions::default()).await;
    let r = &run.report.results[0];
    assert_eq!(r.status, Status::Error, "{r:#?}");
    assert!(r.message.contains("interrupted"), "{}", r.message);
    assert!(
        took >= INTERRUPT_GRACE && took < INTERRUPT_GRACE + Duration::from_secs(10),
        "{took:?}"
    );
}

#[tokio::test]
async fn an_interrupted_run_does_not_retry() {
    let options = EngineOptions {
        retry_timeout: Some(Duration::from_secs(60)),
        retry_interval: Duration::from_secs(1),
        ..EngineOptions::default()
    };
    let (run, took) = run_interrupted(Duration::ZERO, options).await;
    assert_eq!(run.report.results[0].status, Status::Fail);
    assert!(run.report.attempts <= 2, "{}", run.report.attempts);
    assert!(took < Duration::from_secs(5), "{took:?}");
}
