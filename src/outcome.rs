//! The run's verdict: decided once, here, from the results and the policy
//! (`--fail-on`). The headline, the exit code, JSON, JUnit, Markdown and HTML
//! all read what this module decides; none of them re-derives it.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::exit;
use crate::finding::{Skip, SkipKind, Status};
use crate::report::CheckResult;

/// The lowest status that fails a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    Warn,
    #[default]
    Fail,
}

/// What a run says about the target, as CI scripts read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check that applies passed (or was waived).
    Ready,
    /// Nothing failed, but some checks warned (and warnings do not fail the run).
    ReadyWithWarnings,
    /// A check failed, or warned under `--fail-on warn`, or was blocked by one that did.
    NotReady,
    /// Nothing failed, but a check that applies could not run: the tool cannot tell.
    Incomplete,
    /// No check matched the selection, or every one was not applicable or not configured.
    NothingChecked,
}

impl Verdict {
    pub const ALL: [Verdict; 5] = [
        Verdict::Ready,
        Verdict::ReadyWithWarnings,
        Verdict::NotReady,
        Verdict::Incomplete,
        Verdict::NothingChecked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::ReadyWithWarnings => "ready_with_warnings",
            Verdict::NotReady => "not_ready",
            Verdict::Incomplete => "incomplete",
            Verdict::NothingChecked => "nothing_checked",
        }
    }

    /// The process exit code of a run that was not interrupted.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Ready | Verdict::ReadyWithWarnings => exit::OK,
            Verdict::NotReady => exit::NOT_READY,
            Verdict::Incomplete => exit::INCOMPLETE,
            Verdict::NothingChecked => exit::NOTHING_CHECKED,
        }
    }

    /// How serious it is, for choosing the worst of several.
    pub fn rank(self) -> u8 {
        match self {
            Verdict::Ready => 0,
            Verdict::ReadyWithWarnings => 1,
            Verdict::NothingChecked => 2,
            Verdict::Incomplete => 3,
            Verdict::NotReady => 4,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one result does to the run, under the policy. Reporters map these to
/// their own vocabulary (JUnit's failure, error and skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Passed, or a warning the policy accepts (`warned`).
    Holds { warned: bool },
    /// A warning or failure the target file waived.
    Waived,
    /// Fails the run: a failure, or a warning under `--fail-on warn`.
    Fails,
    /// Could not run: the tool cannot tell.
    CouldNotTell,
    /// Not applicable, or not configured: leaves `ready` possible.
    NotRun(SkipKind),
    /// Blocked by checks that failed (named): those failures decide the run.
    BlockedByFailure(Vec<String>),
    /// Blocked by checks that could not run (named).
    BlockedByError(Vec<String>),
    /// Blocked by checks whose result does not explain it (not selected in
    /// this run, waived, or passed): the tool cannot tell.
    BlockedUnexplained(Vec<String>),
}

impl Effect {
    /// The run could not tell because of this result, and no other result
    /// already says so in a report (JUnit reports it as an error).
    pub fn is_unexplained(&self) -> bool {
        matches!(self, Effect::CouldNotTell | Effect::BlockedUnexplained(_))
    }
}

/// The verdict of a run and each result's effect on it.
#[derive(Debug, Clone)]
pub struct Decision {
    pub verdict: Verdict,
    /// One per result, in the results' order.
    pub effects: Vec<Effect>,
}

/// Decides the verdict of `results` under `fail_on`.
pub fn decide(results: &[CheckResult], fail_on: FailOn) -> Decision {
    let effects = effects(results, fail_on);
    let verdict = verdict_of(&effects);
    Decision { verdict, effects }
}

fn verdict_of(effects: &[Effect]) -> Verdict {
    if effects.is_empty() {
        return Verdict::NothingChecked;
    }
    let any = |f: fn(&Effect) -> bool| effects.iter().any(f);
    if any(|e| matches!(e, Effect::Fails | Effect::BlockedByFailure(_))) {
        Verdict::NotReady
    } else if any(|e| {
        matches!(
            e,
            Effect::CouldNotTell | Effect::BlockedByError(_) | Effect::BlockedUnexplained(_)
        )
    }) {
        Verdict::Incomplete
    } else if effects.iter().all(|e| matches!(e, Effect::NotRun(_))) {
        Verdict::NothingChecked
    } else if any(|e| matches!(e, Effect::Holds { warned: true })) {
        Verdict::ReadyWithWarnings
    } else {
        Verdict::Ready
    }
}

fn effects(results: &[CheckResult], fail_on: FailOn) -> Vec<Effect> {
    let by_id: HashMap<&str, &CheckResult> = results.iter().map(|r| (r.id.as_str(), r)).collect();
    results
        .iter()
        .map(|result| match result.status {
            Status::Pass => Effect::Holds { warned: false },
            Status::Warn if fail_on == FailOn::Warn => Effect::Fails,
            Status::Warn => Effect::Holds { warned: true },
            Status::Fail => Effect::Fails,
            Status::Waived => Effect::Waived,
            Status::Error => Effect::CouldNotTell,
            Status::Skip => match &result.skip {
                Some(Skip {
                    kind: SkipKind::Blocked,
                    by,
                    ..
                }) => blocked(by, &by_id, fail_on),
                Some(skip) => Effect::NotRun(skip.kind),
                // A report written before skips carried their kind: the
                // reason alone cannot prove the check did not apply.
                None => Effect::BlockedUnexplained(Vec::new()),
            },
        })
        .collect()
}

/// Follows the blockers (through checks that were blocked themselves) to the
/// results that explain the block.
fn blocked(by: &[String], results: &HashMap<&str, &CheckResult>, fail_on: FailOn) -> Effect {
    let mut failed = Vec::new();
    let mut errored = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut queue: Vec<&str> = by.iter().map(String::as_str).collect();
    while let Some(id) = queue.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(result) = results.get(id) else {
            continue;
        };
        match (result.status, &result.skip) {
            (Status::Fail, _) => failed.push(id.to_owned()),
            (Status::Warn, _) if fail_on == FailOn::Warn => failed.push(id.to_owned()),
            (Status::Error, _) => errored.push(id.to_owned()),
            // Through checks that were blocked themselves (only blocked
            // skips name checks in `by`).
            (Status::Skip, Some(skip)) => queue.extend(skip.by.iter().map(String::as_str)),
            _ => {}
        }
    }
    if !failed.is_empty() {
        failed.sort();
        Effect::BlockedByFailure(failed)
    } else if !errored.is_empty() {
        errored.sort();
        Effect::BlockedByError(errored)
    } else {
        Effect::BlockedUnexplained(by.to_vec())
    }
}

/// How many ids a headline names before "and N more".
const NAMED_IN_HEADLINE: usize = 4;

/// The one line that ends every report: the verdict in words, what decided
/// it (by check id), and the counts.
pub fn headline(results: &[CheckResult], decision: &Decision, fail_on: FailOn) -> String {
    let ids = |wanted: fn(&Effect) -> bool| -> Vec<&str> {
        results
            .iter()
            .zip(&decision.effects)
            .filter(|(_, e)| wanted(e))
            .map(|(r, _)| r.id.as_str())
            .collect()
    };
    let status_ids = |status: Status| -> Vec<&str> {
        results
            .iter()
            .filter(|r| r.status == status)
            .map(|r| r.id.as_str())
            .collect()
    };
    let not_configured = ids(|e| matches!(e, Effect::NotRun(SkipKind::NotConfigured)));
    // Checks blocked by a reported error; unexplained blocks are counted
    // among the checks that could not run.
    let blocked = ids(|e| matches!(e, Effect::BlockedByError(_)));
    let mut line = match decision.verdict {
        Verdict::NothingChecked if results.is_empty() => {
            "Nothing checked: no check matched the selection".to_owned()
        }
        // What each skipped check needs is said once, in the skipped
        // groups of the report, not again here.
        Verdict::NothingChecked => {
            "Nothing checked: every selected check was skipped as not applicable or not configured"
                .to_owned()
        }
        Verdict::NotReady => {
            let failed = status_ids(Status::Fail);
            let mut parts = Vec::new();
            if !failed.is_empty() {
                parts.push(format!("{} failed ({})", failed.len(), named(&failed)));
            }
            if fail_on == FailOn::Warn {
                let warned = status_ids(Status::Warn);
                if !warned.is_empty() {
                    parts.push(format!(
                        "{} warned ({}), and --fail-on warn fails the run on warnings",
                        warned.len(),
                        named(&warned)
                    ));
                }
            }
            format!("Not ready: {}", parts.join("; "))
        }
        Verdict::Incomplete => {
            let errors = ids(Effect::is_unexplained);
            let mut text = format!(
                "Incomplete: the tool could not tell — {} could not run ({})",
                counted(errors.len(), "check"),
                named(&errors)
            );
            if !blocked.is_empty() {
                text.push_str(&format!(
                    ", and {} blocked by that",
                    counted(blocked.len(), "other check")
                ));
            }
            text
        }
        Verdict::ReadyWithWarnings => {
            let warned = status_ids(Status::Warn);
            format!(
                "Ready, with warnings: {} ({})",
                counted(warned.len(), "warning"),
                named(&warned)
            )
        }
        Verdict::Ready => {
            let waived = status_ids(Status::Waived);
            if !waived.is_empty() {
                format!("Ready, with waived problems ({})", named(&waived))
            } else if results.iter().all(|r| r.status == Status::Pass) {
                "Ready: every check passed".to_owned()
            } else {
                "Ready as far as checked".to_owned()
            }
        }
    };
    if decision.verdict != Verdict::NothingChecked && !not_configured.is_empty() {
        line.push_str(&format!(
            "; {} not configured",
            counted(not_configured.len(), "check")
        ));
    }
    let counts: Vec<String> = Status::ALL
        .iter()
        .map(|&s| (s, results.iter().filter(|r| r.status == s).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    if !counts.is_empty() {
        line.push_str(&format!(
            ". {}: {}",
            counted(results.len(), "check"),
            counts.join(", ")
        ));
    }
    line
}

fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn named(ids: &[&str]) -> String {
    if ids.len() <= NAMED_IN_HEADLINE {
        ids.join(", ")
    } else {
        format!(
            "{} and {} more",
            ids[..NAMED_IN_HEADLINE].join(", "),
            ids.len() - NAMED_IN_HEADLINE
        )
    }
}

#[cfg(test)]
mod tests;
