//! The estate as JUnit XML: one `<testsuite>` per target, its test cases
//! exactly as the single-target JUnit report gives them (read back from
//! it), so both agree on every case's status.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report as JunitReport, TestCase, TestCaseStatus, TestSuite};

use super::report::EstateReport;
use crate::report::{Format, Style};

pub fn render(estate: &EstateReport) -> String {
    let mut junit = JunitReport::new(estate.tool.name.as_str());
    junit.set_time(Duration::from_millis(estate.duration_ms));
    for target in &estate.targets {
        let mut suite = TestSuite::new(target.name.as_str());
        let xml = target.report.render(Format::Junit, Style::PLAIN);
        match roxmltree::Document::parse(&xml) {
            Ok(document) => {
                for case in document
                    .descendants()
                    .filter(|n| n.has_tag_name("testcase"))
                {
                    suite.add_test_case(test_case(&target.name, case));
                }
            }
            // The single-target renderer writes well-formed XML; should it
            // not, the suite says so rather than passing empty.
            Err(e) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message(format!("the target's JUnit report did not parse: {e}"));
                suite.add_test_case(TestCase::new("report", status));
            }
        }
        junit.add_test_suite(suite);
    }
    junit.to_string().expect("JUnit reports serialise")
}

/// A test case of the target's own report, its classname prefixed with the
/// target's name so CI servers group cases by target.
fn test_case(target: &str, case: roxmltree::Node) -> TestCase {
    let outcome = case
        .children()
        .find(|n| n.is_element() && matches!(n.tag_name().name(), "failure" | "error" | "skipped"));
    let status = match outcome {
        None => TestCaseStatus::success(),
        Some(node) => {
            let mut status = match node.tag_name().name() {
                "failure" => TestCaseStatus::non_success(NonSuccessKind::Failure),
                "error" => TestCaseStatus::non_success(NonSuccessKind::Error),
                _ => TestCaseStatus::skipped(),
            };
            if let Some(message) = node.attribute("message") {
                status.set_message(message);
            }
            if let Some(kind) = node.attribute("type") {
                status.set_type(kind);
            }
            if let Some(text) = node.text().filter(|t| !t.is_empty()) {
                status.set_description(text);
            }
            status
        }
    };
    let mut test = TestCase::new(case.attribute("name").unwrap_or_default(), status);
    let family = case.attribute("classname").unwrap_or_default();
    test.set_classname(format!("{target}.{family}"));
    if let Some(seconds) = case
        .attribute("time")
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
    {
        test.set_time(Duration::from_secs_f64(seconds));
    }
    if let Some(out) = case
        .children()
        .find(|n| n.has_tag_name("system-out"))
        .and_then(|n| n.text())
    {
        test.set_system_out(out);
    }
    test
}
