//! `--rerun-failed PREVIOUS.json`: only the targets that were not ready or
//! incomplete last time run again, and of those only the checks that did
//! not hold (failed, warned, could not run, or were blocked); the report
//! written merges the fresh results into the previous ones and decides
//! every verdict again.

use std::collections::BTreeSet;
use std::path::Path;

use super::report::{EstateReport, TargetReport};
use crate::finding::{SkipKind, Status};
use crate::outcome::{self, Verdict};
use crate::report::{CheckResult, Report, Summary};

pub struct Rerun {
    previous: EstateReport,
}

impl Rerun {
    pub fn load(path: &Path) -> Result<Rerun, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let previous = EstateReport::from_json(&text)
            .map_err(|e| format!("{} is not an estate report: {e}", path.display()))?;
        Ok(Rerun { previous })
    }

    /// The checks to run again for target `name`; `None` when the target
    /// was ready last time, or was not in the previous report.
    pub fn checks_for(&self, name: &str) -> Option<BTreeSet<String>> {
        let report = &self.previous.target(name)?.report;
        if !matches!(report.verdict, Verdict::NotReady | Verdict::Incomplete) {
            return None;
        }
        Some(
            report
                .results
                .iter()
                .filter(|r| again(r))
                .map(|r| r.id.clone())
                .collect(),
        )
    }

    /// The previous estate with the fresh targets' results merged in.
    pub fn merge(
        self,
        inventory: String,
        started_at: time::OffsetDateTime,
        duration_ms: u64,
        fresh: Vec<TargetReport>,
    ) -> EstateReport {
        let mut fresh = fresh;
        let targets = self
            .previous
            .targets
            .into_iter()
            .map(|old| match fresh.iter().position(|f| f.name == old.name) {
                Some(index) => {
                    let new = fresh.swap_remove(index);
                    TargetReport {
                        name: old.name,
                        tags: new.tags,
                        report: merged(old.report, new.report),
                    }
                }
                None => old,
            })
            .collect();
        EstateReport::new(inventory, started_at, duration_ms, targets)
    }
}

/// Whether a result did not hold, so that running it again could change it.
fn again(result: &CheckResult) -> bool {
    match result.status {
        Status::Fail | Status::Warn | Status::Error => true,
        Status::Skip => result
            .skip
            .as_ref()
            .is_none_or(|s| s.kind == SkipKind::Blocked),
        Status::Pass | Status::Waived => false,
    }
}

/// `old` with `new`'s results in place of its own, its verdict decided again.
fn merged(old: Report, new: Report) -> Report {
    let mut results: Vec<CheckResult> = old.results;
    for fresh in new.results {
        match results.iter_mut().find(|r| r.id == fresh.id) {
            Some(slot) => *slot = fresh,
            None => results.push(fresh),
        }
    }
    let verdict = outcome::decide(&results, old.fail_on).verdict;
    Report {
        summary: Summary::of(&results),
        results,
        verdict,
        exit_code: match new.interrupted_by {
            Some(_) => new.exit_code,
            None => verdict.exit_code(),
        },
        interrupted_by: new.interrupted_by,
        started_at: new.started_at,
        duration_ms: new.duration_ms,
        attempts: new.attempts,
        ..old
    }
}
