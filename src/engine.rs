//! The one place with concurrency: every selected check runs at once as its
//! own task, sharing memoised facts; a run-wide deadline bounds them all; with
//! a retry window, failing checks run again on fresh facts until they pass or
//! the window closes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use time::format_description::well_known::Rfc3339;
use tokio::time::Instant as TokioInstant;

use crate::context::{Fact, RunContext, RunSettings};
use crate::finding::{Outcome, Status, Stop};
use crate::meta::CheckMeta;
use crate::outcome::{self, FailOn};
use crate::params::Params;
use crate::registry::Check;
use crate::report::{CheckResult, Report, SCHEMA_ID, Summary, ToolInfo};
use crate::selection::Plan;
use crate::target::Target;

/// How long checks may take to tidy up after the user interrupts a run:
/// longer than any action's own cleanup limit, so cleanups finish and
/// report. Only checks with cleanup work in progress
/// (`RunSettings::cleanups`) are waited for; with none, the run ends after
/// [`REPORT_GRACE`].
pub const INTERRUPT_GRACE: Duration =
    crate::actions::CLEANUP_LIMIT.saturating_add(Duration::from_secs(1));
/// After an interruption and its cleanups, how long checks still have to
/// turn what they finished into a result.
pub const REPORT_GRACE: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub settings: RunSettings,
    /// Every attempt ends by then, whatever its checks are waiting for.
    pub deadline: Duration,
    /// Run failing checks again until they pass or this much time has passed.
    pub retry_timeout: Option<Duration>,
    /// Pause between attempts.
    pub retry_interval: Duration,
    /// Whether warnings fail the run (the verdict's policy).
    pub fail_on: FailOn,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            settings: RunSettings::default(),
            deadline: Duration::from_secs(60),
            retry_timeout: None,
            retry_interval: Duration::from_secs(2),
            fail_on: FailOn::default(),
        }
    }
}

/// Told about a run as it goes, to show progress.
pub trait Progress: Send + Sync {
    fn attempt_started(&self, _attempt: u32, _checks: usize) {}
    fn check_finished(&self, _id: &str, _status: Status) {}
    fn waiting_to_retry(&self, _failing: &[String], _remaining: Duration) {}
    fn finished(&self) {}
}

/// Progress nobody watches.
pub struct Silent;
impl Progress for Silent {}

/// A finished run: its report, and the contexts of its attempts (newest last)
/// so a bundle can collect the facts they gathered.
pub struct Run {
    pub report: Report,
    pub contexts: Vec<Arc<RunContext>>,
}

impl Run {
    /// The newest successfully gathered value of fact `F`, if any attempt gathered it.
    pub fn gathered<F: Fact>(&self) -> Option<Arc<F::Output>> {
        self.contexts.iter().rev().find_map(|c| c.gathered::<F>())
    }

    /// What became of fact `F` in the newest attempt that asked for it: its
    /// value, or why it could not be gathered; `None` when nothing asked.
    pub fn outcome<F: Fact>(&self) -> Option<Result<Arc<F::Output>, Stop>> {
        self.contexts.iter().rev().find_map(|c| c.outcome::<F>())
    }
}

pub async fn run(
    target: Arc<Target>,
    plan: &Plan,
    options: &EngineOptions,
    progress: &dyn Progress,
) -> Run {
    let started_at = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    let retry_until = options.retry_timeout.map(|t| started + t);
    let params = Params::layered([&plan.profile.params, &target.params]);
    // Waivers expire by the calendar; one date for the whole run keeps them consistent.
    let today = started_at.date();

    let mut results: Vec<Option<CheckResult>> = vec![None; plan.checks.len()];
    let mut contexts = Vec::new();
    let mut pending: Vec<usize> = (0..plan.checks.len()).collect();
    let mut attempts = 0;
    loop {
        attempts += 1;
        progress.attempt_started(attempts, pending.len());
        tracing::debug!(
            attempt = attempts,
            checks = pending.len(),
            "attempt started"
        );
        let ctx = Arc::new(RunContext::new(
            target.clone(),
            options.settings.clone(),
            params.clone(),
        ));
        contexts.push(ctx.clone());
        let deadline = TokioInstant::now() + options.deadline;
        let tasks: Vec<_> = pending
            .iter()
            .map(|&i| {
                let check = plan.checks[i].clone();
                let ctx = ctx.clone();
                let task = tokio::spawn(evaluate(
                    check.clone(),
                    ctx.clone(),
                    deadline,
                    options.deadline,
                    today,
                ));
                (i, check, task)
            })
            .collect();
        for (i, check, task) in tasks {
            let result = match task.await {
                Ok(result) => result,
                Err(join) => result_of(
                    check.meta(),
                    &target,
                    Err(Stop::error(format!("the check crashed: {join}"))),
                    Duration::ZERO,
                    today,
                ),
            };
            tracing::debug!(
                check = %result.id,
                status = %result.status,
                took_ms = result.duration_ms,
                message = %result.message,
                "check finished"
            );
            progress.check_finished(&result.id, result.status);
            results[i] = Some(result);
        }

        let status = |i: usize| results[i].as_ref().map(|r| r.status);
        let failing: Vec<String> = (0..plan.checks.len())
            .filter(|&i| matches!(status(i), Some(Status::Fail | Status::Error)))
            .filter_map(|i| results[i].as_ref().map(|r| r.id.clone()))
            .collect();
        let Some(until) = retry_until else { break };
        if options.settings.cancel.is_cancelled() {
            break;
        }
        let now = Instant::now();
        if failing.is_empty() || now + options.retry_interval >= until {
            break;
        }
        // Checks that skipped run again too: most skip because a prerequisite
        // (the port, the handshake) failed, and must be judged once it works.
        pending = (0..plan.checks.len())
            .filter(|&i| matches!(status(i), Some(Status::Fail | Status::Error | Status::Skip)))
            .collect();
        progress.waiting_to_retry(&failing, until - now);
        tokio::select! {
            _ = tokio::time::sleep(options.retry_interval) => {}
            _ = options.settings.cancel.cancelled() => break,
        }
    }
    progress.finished();
    // What actions left to undo (a probe file abandoned at the deadline)
    // finishes before the run does, under the actions' own limit; probes
    // may leave sockets closing in the background, which nobody waits for.
    let cleanups = &options.settings.cleanups;
    cleanups.close();
    let _ = tokio::time::timeout(crate::actions::CLEANUP_LIMIT, cleanups.wait()).await;
    cleanups.reopen();

    let results: Vec<CheckResult> = results.into_iter().flatten().collect();
    let verdict = outcome::decide(&results, options.fail_on).verdict;
    let report = Report {
        schema: SCHEMA_ID.to_owned(),
        tool: ToolInfo::current(),
        target: target.summary(),
        profile: plan.profile.name.clone(),
        profile_reason: plan.profile_reason.clone(),
        started_at: started_at
            .format(&Rfc3339)
            .unwrap_or_else(|_| started_at.to_string()),
        duration_ms: started.elapsed().as_millis() as u64,
        attempts,
        fail_on: options.fail_on,
        verdict,
        exit_code: verdict.exit_code(),
        interrupted_by: None,
        summary: Summary::of(&results),
        results,
    };
    Run { report, contexts }
}

async fn evaluate(
    check: Arc<dyn Check>,
    ctx: Arc<RunContext>,
    deadline: TokioInstant,
    budget: Duration,
    today: time::Date,
) -> CheckResult {
    let meta = check.meta();
    let started = Instant::now();
    let outcome = if meta.intrusive && !ctx.settings.intrusive {
        Err(Stop::not_configured(
            "intrusive: it changes the target, so it runs only with --intrusive",
        ))
    } else {
        // After an interruption, checks that have something to undo (remove
        // a probe file) get a bounded grace to do it and report; the rest
        // are abandoned at once.
        let interrupted = async {
            ctx.settings.cancel.cancelled().await;
            let cleanups = ctx.cleanups();
            cleanups.close();
            let _ = tokio::time::timeout(INTERRUPT_GRACE, cleanups.wait()).await;
            tokio::time::sleep(REPORT_GRACE).await;
        };
        tokio::select! {
            // The check first: one that finished its cleanup reports it.
            biased;
            timed = tokio::time::timeout_at(deadline, check.evaluate(&ctx)) => match timed {
                Ok(outcome) => outcome,
                Err(_) => Err(Stop::error(format!(
                    "did not finish within the run's deadline of {} (raise it with --deadline)",
                    humantime::format_duration(budget)
                ))),
            },
            _ = interrupted => Err(Stop::error("interrupted before it finished")),
        }
    };
    result_of(meta, &ctx.target, outcome, started.elapsed(), today)
}

/// Turns an outcome into a report line, applying the target's severity
/// override and then its waiver: the one place policy meets verdicts.
fn result_of(
    meta: &CheckMeta,
    target: &Target,
    outcome: Outcome,
    took: Duration,
    today: time::Date,
) -> CheckResult {
    let overridden = target.checks.get(meta.id.as_ref()).and_then(|c| c.severity);
    let severity = overridden.unwrap_or(meta.severity);
    let mut result = CheckResult {
        id: meta.id.to_string(),
        title: meta.title.to_string(),
        family: meta.family,
        status: Status::Skip,
        severity,
        message: String::new(),
        expected: None,
        actual: None,
        remediation: None,
        evidence: Default::default(),
        notes: Vec::new(),
        skip: None,
        waiver: None,
        duration_ms: took.as_millis() as u64,
    };
    match outcome {
        Ok(finding) => {
            result.status = match (finding.status, overridden) {
                (Status::Warn | Status::Fail, Some(level)) => level.status(),
                (status, _) => status,
            };
            result.message = finding.message;
            result.expected = finding.expected;
            result.actual = finding.actual;
            result.evidence = finding.evidence;
            result.notes = finding.notes;
            if result.status != Status::Pass {
                result.remediation = finding
                    .remediation
                    .or_else(|| (!meta.fix.is_empty()).then(|| meta.fix.to_string()));
            }
            if let Some(waiver) = target.waivers.get(meta.id.as_ref()) {
                (result.status, result.waiver) = waiver.apply(result.status, today);
            }
        }
        Err(stop) => {
            result.status = stop.status();
            result.message = stop.reason().to_owned();
            result.skip = stop.skip().cloned();
        }
    }
    result
}
