//! The verdict of every kind of run, pinned result by result: the exit code,
//! each result's effect and the headline's words.

use super::*;
use crate::finding::Severity;
use crate::registry::Family;

fn result(id: &str, status: Status) -> CheckResult {
    CheckResult {
        id: id.to_owned(),
        title: id.to_owned(),
        family: Family::Net,
        status,
        severity: Severity::Fail,
        message: format!("{id} says {status}"),
        expected: None,
        actual: None,
        remediation: None,
        evidence: Default::default(),
        notes: Vec::new(),
        skip: None,
        waiver: None,
        duration_ms: 0,
    }
}

fn skipped(id: &str, kind: SkipKind, by: &[&str], reason: &str) -> CheckResult {
    CheckResult {
        skip: Some(Skip {
            kind,
            by: by.iter().map(|b| (*b).to_owned()).collect(),
            reason: reason.to_owned(),
        }),
        message: reason.to_owned(),
        ..result(id, Status::Skip)
    }
}

fn blocked(id: &str, by: &[&str]) -> CheckResult {
    skipped(id, SkipKind::Blocked, by, "blocked")
}

fn verdict(results: &[CheckResult], fail_on: FailOn) -> Verdict {
    decide(results, fail_on).verdict
}

fn headline_of(results: &[CheckResult], fail_on: FailOn) -> String {
    headline(results, &decide(results, fail_on), fail_on)
}

#[test]
fn each_verdict_has_its_exit_code_and_rank() {
    assert_eq!(Verdict::Ready.exit_code(), 0);
    assert_eq!(Verdict::ReadyWithWarnings.exit_code(), 0);
    assert_eq!(Verdict::NotReady.exit_code(), 1);
    assert_eq!(Verdict::Incomplete.exit_code(), 3);
    assert_eq!(Verdict::NothingChecked.exit_code(), 4);
    let ranks: Vec<u8> = Verdict::ALL.iter().map(|v| v.rank()).collect();
    assert_eq!(ranks, [0, 1, 4, 3, 2]);
    let names: Vec<&str> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
    assert_eq!(
        names,
        [
            "ready",
            "ready_with_warnings",
            "not_ready",
            "incomplete",
            "nothing_checked"
        ]
    );
    for v in Verdict::ALL {
        assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        assert_eq!(v.to_string(), v.as_str());
    }
}

#[test]
fn no_result_is_nothing_checked() {
    assert_eq!(verdict(&[], FailOn::Fail), Verdict::NothingChecked);
    assert_eq!(
        headline_of(&[], FailOn::Fail),
        "Nothing checked: no check matched the selection"
    );
}

#[test]
fn every_pass_is_ready() {
    let results = [result("a.b", Status::Pass), result("a.c", Status::Pass)];
    assert_eq!(verdict(&results, FailOn::Fail), Verdict::Ready);
    assert_eq!(verdict(&results, FailOn::Warn), Verdict::Ready);
    assert_eq!(
        headline_of(&results, FailOn::Fail),
        "Ready: every check passed. 2 checks: 2 pass"
    );
}

#[test]
fn not_applicable_checks_leave_ready_as_far_as_checked() {
    let results = [
        result("a.b", Status::Pass),
        skipped("a.c", SkipKind::NotApplicable, &[], "no named instance"),
    ];
    let decision = decide(&results, FailOn::Fail);
    assert_eq!(decision.verdict, Verdict::Ready);
    assert_eq!(decision.effects[1], Effect::NotRun(SkipKind::NotApplicable));
    assert_eq!(
        headline_of(&results, FailOn::Fail),
        "Ready as far as checked. 2 checks: 1 pass, 1 skip"
    );
}

#[test]
fn not_configured_checks_are_counted_with_what_to_add() {
    let results = [
        result("a.b", Status::Pass),
        skipped(
            "s.x",
            SkipKind::NotConfigured,
            &[],
            "no backup account: add `user` under [backup]",
        ),
        skipped(
            "s.y",
            SkipKind::NotConfigured,
            &[],
            "no backup account: add `user` under [backup]",
        ),
    ];
    assert_eq!(verdict(&results, FailOn::Fail), Verdict::Ready);
    assert_eq!(
        headline_of(&results, FailOn::Fail),
        "Ready as far as checked; 2 checks not configured. 3 checks: 1 pass, 2 skip"
    );
}

#[test]
fn nothing_but_not_applicable_or_not_configured_is_nothing_checked() {
    let results = [
        skipped(
            "s.x",
            SkipKind::NotConfigured,
            &[],
            "no account: add a [sql] section",
        ),
        skipped("s.y", SkipKind::NotApplicable, &[], "not PMP"),
    ];
    assert_eq!(verdict(&results, FailOn::Fail), Verdict::NothingChecked);
    assert_eq!(
        headline_of(&results, FailOn::Fail),
        "Nothing checked: every selected check was skipped as not applicable or not configured. 2 checks: 2 skip"
    );
}

#[test]
fn a_warning_is_ready_with_warnings_unless_warnings_fail() {
    let results = [result("a.b", Status::Pass), result("a.w", Status::Warn)];
    let lenient = decide(&results, FailOn::Fail);
    assert_eq!(lenient.verdict, Verdict::ReadyWithWarnings);
    assert_eq!(lenient.effects[1], Effect::Holds { warned: true });
    assert_eq!(lenient.effects[0], Effect::Holds { warned: false });
    assert_eq!(
        headline_of(&results, FailOn::Fail),
        "Ready, with warnings: 1 warning (a.w). 2 checks: 1 pass, 1 warn"
    );
    let strict = decide(&results, FailOn::Warn);
    assert_eq!(strict.verdict, Verdict::NotReady);
    assert_eq!(strict.effects[1], Effect::Fails);
    assert_eq!(
        headline_of(&results, FailOn::Warn),
        "Not ready: 1 warned (a.w), and --fail-on warn fails the run on warnings. 2 checks: 1 pass, 1 warn"
    );
}

#[test]
fn a_failure_is_not_ready_and_outranks_errors_and_warnings() {
    let results = [
        result("a.f", Status::Fail),
        result("a.e", Status::Error),
        result("a.w", Status::Warn),
    ];
    assert_eq!(verdict(&results, FailOn::Fail), Verdict::NotReady);
    assert_eq!(
        headline_of(&results, FailOn::Fail),
        "Not ready: 1 failed (a.f). 3 checks: 1 warn, 1 fail, 1 error"
    );
    assert_eq!(
        headline_of(&results, FailOn::Warn),
        "Not ready: 1 failed (a.f); 1 warned (a.w), and --fail-on warn fails the run on warnings. 3 checks: 1 warn, 1 fail, 1 error"
    );
}

#[test]
fn an_error_is_incomplete_and_outranks_warnings() {
    let results = [result("a.e", Status::Error), result("a.w", Status::Warn)];
    let decision = decide(&results, FailOn::Fail);
    assert_eq!(decision.verdict, Verdict::Incomplete);
    assert_eq!(decision.effects[0], Effect::CouldNotTell);
    assert!(decision.effects[0].is_unexplained());
    assert_eq!(
        headline_of(&results, FailOn::Fail),
        "Incomplete: the tool could not tell — 1 check could not run (a.e). 2 checks: 1 warn, 1 error"
    );
}

#[test]
fn a_check_blocked_by_a_failure_is_not_ready() {
    let results = [result("tls.f", Status::Fail), blocked("sql.x", &["tls.f"])];
    let decision = decide(&results, FailOn::Fail);
    assert_eq!(decision.verdict, Verdict::NotReady);
    assert_eq!(
        decision.effects[1],
        Effect::BlockedByFailure(vec!["tls.f".into()])
    );
    assert!(!decision.effects[1].is_unexplained());
}

#[test]
fn a_check_blocked_by_an_error_is_incomplete() {
    let results = [
        result("a.p", Status::Pass),
        result("sql.login", Status::Error),
        blocked("sql.x", &["sql.login"]),
    ];
    let decision = decide(&results, FailOn::Fail);
    assert_eq!(decision.verdict, Verdict::Incomplete);
    assert_eq!(
        decision.effects[2],
        Effect::BlockedByError(vec!["sql.login".into()])
    );
    assert!(!decision.effects[2].is_unexplained());
    assert_eq!(
        headline_of(&results, FailOn::Fail),
        "Incomplete: the tool could not tell — 1 check could not run (sql.login), and 1 other check blocked by that. 3 checks: 1 pass, 1 skip, 1 error"
    );
}

#[test]
fn a_block_by_a_check_the_run_did_not_judge_is_incomplete() {
    // --check 'sql.*': the TLS check that blocked the login is not in the run.
    let results = [
        result("a.p", Status::Pass),
        blocked("sql.x", &["tls.cert.hostname"]),
    ];
    let decision = decide(&results, FailOn::Fail);
    assert_eq!(decision.verdict, Verdict::Incomplete);
    assert_eq!(
        decision.effects[1],
        Effect::BlockedUnexplained(vec!["tls.cert.hostname".into()])
    );
    assert!(decision.effects[1].is_unexplained());
    assert_eq!(
        headline_of(&results, FailOn::Fail),
        "Incomplete: the tool could not tell — 1 check could not run (sql.x). 2 checks: 1 pass, 1 skip"
    );
}

#[test]
fn blocks_are_followed_through_blocked_checks_to_their_cause() {
    let results = [
        result("net.tcp", Status::Fail),
        blocked("tls.h", &["net.tcp"]),
        blocked("sql.x", &["tls.h"]),
    ];
    let decision = decide(&results, FailOn::Fail);
    assert_eq!(
        decision.effects[2],
        Effect::BlockedByFailure(vec!["net.tcp".into()])
    );
    let errored = [
        result("net.tcp", Status::Error),
        blocked("tls.h", &["net.tcp"]),
        blocked("sql.x", &["tls.h"]),
    ];
    assert_eq!(
        decide(&errored, FailOn::Fail).effects[2],
        Effect::BlockedByError(vec!["net.tcp".into()])
    );
}

#[test]
fn a_failure_among_blockers_outranks_an_error_and_passes_explain_nothing() {
    let results = [
        result("t.chain", Status::Pass),
        result("t.validity", Status::Fail),
        result("t.other", Status::Error),
        blocked("sql.x", &["t.chain", "t.validity", "t.other"]),
    ];
    assert_eq!(
        decide(&results, FailOn::Fail).effects[3],
        Effect::BlockedByFailure(vec!["t.validity".into()])
    );
    let only_passes = [
        result("t.chain", Status::Pass),
        blocked("sql.x", &["t.chain"]),
    ];
    let decision = decide(&only_passes, FailOn::Fail);
    assert_eq!(decision.verdict, Verdict::Incomplete);
    assert_eq!(
        decision.effects[1],
        Effect::BlockedUnexplained(vec!["t.chain".into()])
    );
}

#[test]
fn a_block_by_a_warning_fails_only_when_warnings_do() {
    let results = [result("n.b", Status::Warn), blocked("n.x", &["n.b"])];
    assert_eq!(verdict(&results, FailOn::Fail), Verdict::Incomplete);
    let strict = decide(&results, FailOn::Warn);
    assert_eq!(strict.verdict, Verdict::NotReady);
    assert_eq!(
        strict.effects[1],
        Effect::BlockedByFailure(vec!["n.b".into()])
    );
}

#[test]
fn a_circle_of_blocks_ends_and_explains_nothing() {
    let results = [blocked("a.x", &["a.y"]), blocked("a.y", &["a.x"])];
    let decision = decide(&results, FailOn::Fail);
    assert_eq!(decision.verdict, Verdict::Incomplete);
    assert!(decision.effects.iter().all(Effect::is_unexplained));
}

#[test]
fn waived_problems_are_ready_but_what_they_block_is_not_judged() {
    let results = [result("a.p", Status::Pass), result("a.w", Status::Waived)];
    let decision = decide(&results, FailOn::Warn);
    assert_eq!(decision.verdict, Verdict::Ready);
    assert_eq!(decision.effects[1], Effect::Waived);
    assert_eq!(
        headline_of(&results, FailOn::Fail),
        "Ready, with waived problems (a.w). 2 checks: 1 pass, 1 waived"
    );
    let blocking = [result("a.w", Status::Waived), blocked("a.x", &["a.w"])];
    assert_eq!(verdict(&blocking, FailOn::Fail), Verdict::Incomplete);
}

#[test]
fn a_skip_without_its_kind_cannot_prove_the_check_did_not_apply() {
    let results = [result("a.p", Status::Pass), result("a.s", Status::Skip)];
    let decision = decide(&results, FailOn::Fail);
    assert_eq!(decision.verdict, Verdict::Incomplete);
    assert_eq!(decision.effects[1], Effect::BlockedUnexplained(Vec::new()));
}

#[test]
fn long_lists_of_ids_are_cut_after_four() {
    let results: Vec<CheckResult> = (1..=6)
        .map(|i| result(&format!("a.f{i}"), Status::Fail))
        .collect();
    assert_eq!(
        headline_of(&results, FailOn::Fail),
        "Not ready: 6 failed (a.f1, a.f2, a.f3, a.f4 and 2 more). 6 checks: 6 fail"
    );
    let four: Vec<CheckResult> = (1..=4)
        .map(|i| result(&format!("a.f{i}"), Status::Fail))
        .collect();
    assert!(headline_of(&four, FailOn::Fail).contains("(a.f1, a.f2, a.f3, a.f4)"));
}

#[test]
fn fail_on_reads_and_writes_as_the_flag_spells_it() {
    assert_eq!(serde_json::to_value(FailOn::Warn).unwrap(), "warn");
    assert_eq!(serde_json::to_value(FailOn::Fail).unwrap(), "fail");
    assert_eq!(FailOn::default(), FailOn::Fail);
}
