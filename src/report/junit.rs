//! JUnit XML for CI servers (GitLab, Jenkins): one test case per check,
//! classname = family, name = check id.

use std::collections::HashMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report as JunitReport, TestCase, TestCaseStatus, TestSuite};

use super::view::{Detail, detail_lines};
use super::{CheckResult, Report, evidence_lines};
use crate::outcome::Effect;

/// One test case per check, its status from the check's effect on the
/// verdict (`outcome`), so that the CI server's colour, the headline and the
/// exit code agree: a warning that fails the run (`--fail-on warn`) is a
/// failure, a check the run could not judge is an error.
pub fn render(report: &Report) -> String {
    let mut junit = JunitReport::new(report.tool.name.as_str());
    junit.set_time(Duration::from_millis(report.duration_ms));
    let decision = report.decision();
    let effects: HashMap<&str, &Effect> = report
        .results
        .iter()
        .map(|r| r.id.as_str())
        .zip(&decision.effects)
        .collect();
    for (family, results) in report.by_family() {
        let mut suite = TestSuite::new(format!("{}.{}", report.tool.name, family));
        for result in results {
            let effect = effects[result.id.as_str()];
            suite.add_test_case(test_case(family.as_str(), result, effect));
        }
        junit.add_test_suite(suite);
    }
    junit.to_string().expect("JUnit reports serialise")
}

fn test_case(family: &str, result: &CheckResult, effect: &Effect) -> TestCase {
    let skipped = |message: String| {
        let mut status = TestCaseStatus::skipped();
        status.set_message(message);
        status
    };
    let status = match effect {
        Effect::Holds { .. } => TestCaseStatus::success(),
        Effect::Fails => non_success(NonSuccessKind::Failure, result),
        Effect::CouldNotTell | Effect::BlockedUnexplained(_) => {
            non_success(NonSuccessKind::Error, result)
        }
        Effect::Waived => skipped(match &result.waiver {
            Some(waiver) => waiver.describe(),
            None => format!("{}: {}", result.status, result.message),
        }),
        Effect::NotRun(kind) => skipped(format!("{}: {}", kind.as_str(), result.message)),
        // One line pointing at the cause; the cause's own test case says the rest.
        Effect::BlockedByFailure(by) => skipped(format!(
            "skipped: {} failed, so there was nothing to judge — fix {} first",
            by.join(", "),
            if by.len() == 1 { "that" } else { "those" }
        )),
        Effect::BlockedByError(by) => skipped(format!("skipped: {} could not run", by.join(", "))),
    };
    let blocked = matches!(
        effect,
        Effect::BlockedByFailure(_) | Effect::BlockedByError(_)
    );
    let mut case = TestCase::new(result.id.as_str(), status);
    case.set_classname(family);
    case.set_time(Duration::from_millis(result.duration_ms));
    if !blocked {
        let mut out = vec![format!("{}: {}", result.status, result.message)];
        out.extend(explanation(result));
        case.set_system_out(out.join("\n"));
    }
    case
}

fn non_success(kind: NonSuccessKind, result: &CheckResult) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(kind);
    let message = match &result.skip {
        Some(skip) if !skip.by.is_empty() => format!(
            "blocked by {}, which this run did not judge: {}",
            skip.by.join(", "),
            result.message
        ),
        _ => result.message.clone(),
    };
    status.set_message(message);
    status.set_type(result.status.as_str());
    status.set_description(explanation(result).join("\n"));
    status
}

fn explanation(result: &CheckResult) -> Vec<String> {
    let mut lines: Vec<String> = detail_lines(result)
        .iter()
        .flat_map(Detail::text_lines)
        .collect();
    lines.extend(evidence_lines(&result.evidence));
    lines
}
