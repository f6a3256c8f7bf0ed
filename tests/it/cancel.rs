//! Interrupting a run (a signal cancels `RunSettings::cancel`): checks that
//! watch the token tidy up and report (see share.rs); the engine waits for
//! cleanup work in progress (`RunSettings::cleanups`), under a bound, and
//! abandons the rest at once; it stops retrying.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mssql_preflight::catalog::Catalog;
use mssql_preflight::context::RunContext;
use mssql_preflight::engine::{self, EngineOptions, INTERRUPT_GRACE, REPORT_GRACE, Silent};
use mssql_preflight::finding::{Finding, Outcome, Severity, Status};
use mssql_preflight::registry::{Check, CheckMeta, Family};
use mssql_preflight::selection::{self, Selection};

use crate::support::TargetFile;

/// A check that takes `takes`, ignoring cancellation, then fails; with
/// `cleaning_up`, it counts as cleanup work all along.
struct Stubborn {
    meta: CheckMeta,
    takes: Duration,
    cleaning_up: bool,
}

#[async_trait]
impl Check for Stubborn {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let _token = self.cleaning_up.then(|| ctx.cleanups().token());
        tokio::time::sleep(self.takes).await;
        Ok(Finding::problem(Severity::Fail, "still failing"))
    }
}

async fn run_interrupted(takes: Duration, options: EngineOptions) -> (engine::Run, Duration) {
    run_interrupted_cleaning(takes, false, options).await
}

async fn run_interrupted_cleaning(
    takes: Duration,
    cleaning_up: bool,
    options: EngineOptions,
) -> (engine::Run, Duration) {
    let file = TargetFile::new("[server]\nhost = \"127.0.0.1\"\n");
    let catalog = Catalog::builtin().unwrap();
    let mut plan =
        selection::plan(&catalog.registry, &catalog.profiles, &Selection::default()).unwrap();
    plan.checks = vec![Arc::new(Stubborn {
        meta: CheckMeta::new("test.stubborn", Family::Net, Severity::Fail),
        takes,
        cleaning_up,
    })];
    let cancel = options.settings.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(SIGNALLED_AT).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let run = engine::run(Arc::new(file.load()), &plan, &options, &Silent).await;
    (run, started.elapsed())
}

/// When the signal comes 200 ms into the run.
const SIGNALLED_AT: Duration = Duration::from_millis(200);

#[tokio::test]
async fn checks_with_nothing_to_undo_are_abandoned_at_once() {
    let (run, took) = run_interrupted(Duration::from_secs(120), EngineOptions::default()).await;
    let r = &run.report.results[0];
    assert_eq!(r.status, Status::Error, "{r:#?}");
    assert!(r.message.contains("interrupted"), "{}", r.message);
    assert!(took >= SIGNALLED_AT + REPORT_GRACE, "{took:?}");
    assert!(took < INTERRUPT_GRACE, "waited for nothing: {took:?}");
}

#[tokio::test]
async fn cleanup_in_progress_is_waited_for_and_reports() {
    let takes = Duration::from_secs(2);
    let (run, took) = run_interrupted_cleaning(takes, true, EngineOptions::default()).await;
    let r = &run.report.results[0];
    assert_eq!(
        r.status,
        Status::Fail,
        "the check finished its cleanup: {r:#?}"
    );
    assert!(took >= takes && took < INTERRUPT_GRACE, "{took:?}");
}

#[tokio::test]
async fn cleanup_that_hangs_is_abandoned_after_the_grace() {
    let takes = Duration::from_secs(120);
    let (run, took) = run_interrupted_cleaning(takes, true, EngineOptions::default()).await;
    let r = &run.report.results[0];
    assert_eq!(r.status, Status::Error, "{r:#?}");
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
