//! JUnit XML for CI servers (GitLab, Jenkins): one test case per check,
//! classname = family, name = check id.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report as JunitReport, TestCase, TestCaseStatus, TestSuite};

use super::{CheckResult, Report, evidence_lines};
use crate::finding::Status;

pub fn render(report: &Report) -> String {
    let mut junit = JunitReport::new(report.tool.name.as_str());
    junit.set_time(Duration::from_millis(report.duration_ms));
    for (family, results) in report.by_family() {
        let mut suite = TestSuite::new(format!("{}.{}", report.tool.name, family));
        for result in results {
            suite.add_test_case(test_case(family.as_str(), result));
        }
        junit.add_test_suite(suite);
    }
    junit.to_string().expect("JUnit reports serialise")
}

fn test_case(family: &str, result: &CheckResult) -> TestCase {
    let status = match result.status {
        Status::Pass | Status::Warn => TestCaseStatus::success(),
        Status::Fail => non_success(NonSuccessKind::Failure, result),
        Status::Error => non_success(NonSuccessKind::Error, result),
        Status::Skip | Status::Waived => {
            let mut status = TestCaseStatus::skipped();
            let message = match &result.waiver {
                Some(waiver) => waiver.describe(),
                None => format!("{}: {}", result.status, result.message),
            };
            status.set_message(message);
            status
        }
    };
    let mut case = TestCase::new(result.id.as_str(), status);
    case.set_classname(family);
    case.set_time(Duration::from_millis(result.duration_ms));
    let mut out = vec![format!("{}: {}", result.status, result.message)];
    out.extend(explanation(result));
    case.set_system_out(out.join("\n"));
    case
}

fn non_success(kind: NonSuccessKind, result: &CheckResult) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(kind);
    status.set_message(result.message.as_str());
    status.set_type(result.status.as_str());
    status.set_description(explanation(result).join("\n"));
    status
}

fn explanation(result: &CheckResult) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(e) = &result.expected {
        lines.push(format!("expected: {e}"));
    }
    if let Some(a) = &result.actual {
        lines.push(format!("actual: {a}"));
    }
    if let Some(r) = &result.remediation {
        lines.push(format!("fix: {r}"));
    }
    if let Some(waiver) = &result.waiver {
        lines.push(waiver.describe());
    }
    lines.extend(result.notes.iter().map(|n| format!("note: {n}")));
    lines.extend(evidence_lines(&result.evidence));
    lines
}
