//! What every human format shows, decided once: which rows, the skipped
//! checks grouped by their root cause, what needs attention with the first
//! step of its fix, fixes as numbered steps, and figures as people say them.
//! Table, Markdown, HTML and JUnit lay this out; none re-derives it.

use std::collections::BTreeMap;

use super::{CheckResult, Report};
use crate::finding::{SkipKind, Status};
use crate::outcome::Effect;

/// Which results get a row of their own (`--show`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Show {
    /// Only what needs attention (failures, warnings, errors, waived
    /// problems), and the skips they caused.
    Fails,
    /// Every result; skipped checks grouped by their cause.
    #[default]
    All,
}

/// Why a group of checks was skipped: one cause, said once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// The named checks failed: fix them first.
    Failed(Vec<String>),
    /// The named checks could not run.
    CouldNotRun(Vec<String>),
    /// Blocked by checks whose result does not explain it.
    Unexplained(Vec<String>),
    NotConfigured,
    NotApplicable,
}

/// Skipped checks that share one cause and one reason.
#[derive(Debug, Clone)]
pub struct SkipGroup<'a> {
    pub cause: Cause,
    /// The reason most of the members give (blocked members that were
    /// blocked in turn say the same at more length).
    pub reason: String,
    pub members: Vec<&'a CheckResult>,
}

impl SkipGroup<'_> {
    pub fn ids(&self) -> Vec<&str> {
        self.members.iter().map(|r| r.id.as_str()).collect()
    }

    /// One sentence naming the cause: "14 checks skipped: tls.cert.hostname
    /// failed — fix that first".
    pub fn headline(&self) -> String {
        let n = self.members.len();
        let checks = if n == 1 {
            "1 check".to_owned()
        } else {
            format!("{n} checks")
        };
        match &self.cause {
            Cause::Failed(ids) => format!(
                "{checks} skipped: {} failed, so there was nothing to judge — fix {} first",
                ids.join(", "),
                if ids.len() == 1 { "that" } else { "those" }
            ),
            Cause::CouldNotRun(ids) => format!(
                "{checks} skipped: {} could not run, so neither could {}",
                ids.join(", "),
                if n == 1 { "this one" } else { "these" }
            ),
            Cause::Unexplained(ids) if ids.is_empty() => {
                format!("{checks} skipped, the report does not say why")
            }
            Cause::Unexplained(ids) => format!(
                "{checks} skipped: blocked by {}, which this run did not judge",
                ids.join(", ")
            ),
            Cause::NotConfigured => format!("{checks} not configured"),
            Cause::NotApplicable => format!("{checks} not applicable"),
        }
    }

    /// Whether the group explains a verdict (blocked, not merely unused).
    pub fn matters(&self) -> bool {
        !matches!(self.cause, Cause::NotApplicable | Cause::NotConfigured)
    }
}

/// The cause of one skipped result, from its effect on the verdict.
pub fn cause_of(effect: &Effect) -> Option<Cause> {
    match effect {
        Effect::BlockedByFailure(ids) => Some(Cause::Failed(ids.clone())),
        Effect::BlockedByError(ids) => Some(Cause::CouldNotRun(ids.clone())),
        Effect::BlockedUnexplained(ids) => Some(Cause::Unexplained(ids.clone())),
        Effect::NotRun(SkipKind::NotConfigured) => Some(Cause::NotConfigured),
        Effect::NotRun(_) => Some(Cause::NotApplicable),
        _ => None,
    }
}

/// The skipped results grouped by root cause: blocked checks by the checks
/// at the root of the block, the others by kind and reason. Causes that
/// decide the verdict come first.
pub fn skip_groups(report: &Report) -> Vec<SkipGroup<'_>> {
    let decision = report.decision();
    let mut groups: BTreeMap<(Cause, String), Vec<&CheckResult>> = BTreeMap::new();
    for (result, effect) in report.results.iter().zip(&decision.effects) {
        if result.status != Status::Skip {
            continue;
        }
        let Some(cause) = cause_of(effect) else {
            continue;
        };
        // A block is one cause whatever each member says about it.
        let key_reason = match cause {
            Cause::NotApplicable | Cause::NotConfigured => reason_of(result).to_owned(),
            _ => String::new(),
        };
        groups.entry((cause, key_reason)).or_default().push(result);
    }
    groups
        .into_iter()
        .map(|((cause, _), mut members)| {
            members.sort_by(|a, b| a.id.cmp(&b.id));
            let reason = commonest_reason(&members);
            SkipGroup {
                cause,
                reason,
                members,
            }
        })
        .collect()
}

fn reason_of(result: &CheckResult) -> &str {
    result
        .skip
        .as_ref()
        .map_or(result.message.as_str(), |s| s.reason.as_str())
}

/// The reason most members give; on a tie, the shortest.
fn commonest_reason(members: &[&CheckResult]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in members {
        *counts.entry(reason_of(r)).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by(|(a, na), (b, nb)| na.cmp(nb).then(b.len().cmp(&a.len())))
        .map(|(reason, _)| reason.to_owned())
        .unwrap_or_default()
}

/// Whether a result gets a row of its own under `show`: skipped results are
/// said once per cause instead.
pub fn has_row(result: &CheckResult, show: Show) -> bool {
    match result.status {
        Status::Skip => false,
        Status::Pass => show == Show::All,
        Status::Warn | Status::Fail | Status::Error | Status::Waived => true,
    }
}

/// The skip groups shown under `show`: with `fails`, only those that
/// explain the verdict.
pub fn shown_groups<'a>(report: &'a Report, show: Show) -> Vec<SkipGroup<'a>> {
    skip_groups(report)
        .into_iter()
        .filter(|g| show == Show::All || g.matters())
        .collect()
}

/// A check that needs attention, in one line: its status, id and the first
/// step of its fix (or what it found, when it names no fix).
pub struct Attention<'a> {
    pub result: &'a CheckResult,
    pub first_step: String,
    /// How many steps the whole fix has.
    pub steps: usize,
}

/// Failures first, then errors, warnings and waived problems, each in id order.
pub fn attention(report: &Report) -> Vec<Attention<'_>> {
    let rank = |s: Status| match s {
        Status::Fail => 0,
        Status::Error => 1,
        Status::Warn => 2,
        _ => 3,
    };
    let mut items: Vec<Attention> = report
        .needing_attention()
        .into_iter()
        .map(|result| {
            let steps = result
                .remediation
                .as_deref()
                .map(fix_steps)
                .unwrap_or_default();
            Attention {
                first_step: steps
                    .first()
                    .cloned()
                    .unwrap_or_else(|| result.message.clone()),
                steps: steps.len(),
                result,
            }
        })
        .collect();
    items.sort_by(|a, b| {
        rank(a.result.status)
            .cmp(&rank(b.result.status))
            .then(a.result.id.cmp(&b.result.id))
    });
    items
}

/// What a report says about a result besides its title and message, in the
/// order every format shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    Expected(String),
    Actual(String),
    /// The fix as numbered steps (see [`fix_steps`]).
    Fix(Vec<String>),
    /// The target file's waiver, applied or expired.
    Waiver(String),
    Note(String),
}

impl Detail {
    /// The detail's name as a heading or label shows it.
    pub fn label(&self) -> &'static str {
        match self {
            Detail::Expected(_) => "Expected",
            Detail::Actual(_) => "Actual",
            Detail::Fix(_) => "Fix",
            Detail::Waiver(_) => "Waiver",
            Detail::Note(_) => "Note",
        }
    }

    /// The detail as plain-text lines: "expected: …", "fix: …" for one
    /// step, "fix:" and "1. …" lines for several.
    pub fn text_lines(&self) -> Vec<String> {
        match self {
            Detail::Expected(text) => vec![format!("expected: {text}")],
            Detail::Actual(text) => vec![format!("actual:   {text}")],
            Detail::Fix(steps) => match steps.as_slice() {
                [one] => vec![format!("fix: {one}")],
                many => std::iter::once("fix:".to_owned())
                    .chain(
                        many.iter()
                            .enumerate()
                            .map(|(n, step)| format!("{}. {step}", n + 1)),
                    )
                    .collect(),
            },
            // A waiver's description says what it is.
            Detail::Waiver(text) => vec![text.clone()],
            Detail::Note(text) => vec![format!("note: {text}")],
        }
    }
}

/// Everything a report shows about `result` after its message: what was
/// expected and found and the fix (only for results that did not pass),
/// the waiver, and the notes. Every human format lays out these, and only
/// these; none rebuilds them from the result.
pub fn detail_lines(result: &CheckResult) -> Vec<Detail> {
    let mut details = Vec::new();
    if result.status != Status::Pass {
        let filled = |text: &Option<String>| text.as_ref().filter(|t| !t.is_empty()).cloned();
        details.extend(filled(&result.expected).map(Detail::Expected));
        details.extend(filled(&result.actual).map(Detail::Actual));
        let steps = result
            .remediation
            .as_deref()
            .map(fix_steps)
            .unwrap_or_default();
        if !steps.is_empty() {
            details.push(Detail::Fix(steps));
        }
    }
    details.extend(result.waiver.as_ref().map(|w| Detail::Waiver(w.describe())));
    details.extend(
        result
            .notes
            .iter()
            .filter(|n| !n.is_empty())
            .map(|n| Detail::Note(n.clone())),
    );
    details
}

/// A fix as numbered steps. A fix written on several lines has a step per
/// line (leading "1." or "-" dropped); a paragraph is split into its
/// sentences — never inside a `code span` or parentheses, where commands
/// and their dots live.
pub fn fix_steps(fix: &str) -> Vec<String> {
    let fix = fix.trim();
    if fix.is_empty() {
        return Vec::new();
    }
    if fix.contains('\n') {
        return fix
            .lines()
            .map(|l| strip_numbering(l.trim()).to_owned())
            .filter(|l| !l.is_empty())
            .collect();
    }
    let mut steps = Vec::new();
    let mut start = 0;
    let (mut in_code, mut depth) = (false, 0usize);
    let chars: Vec<(usize, char)> = fix.char_indices().collect();
    for (i, &(at, c)) in chars.iter().enumerate() {
        match c {
            '`' => in_code = !in_code,
            '(' if !in_code => depth += 1,
            ')' if !in_code => depth = depth.saturating_sub(1),
            '.' | ';' if !in_code && depth == 0 => {
                let next = chars.get(i + 1).map(|&(_, c)| c);
                let after = chars.get(i + 2).map(|&(_, c)| c);
                // "…it. Import…": a sentence ends; "e.g. the" or "1.A" does not.
                if c == '.'
                    && next == Some(' ')
                    && after.is_some_and(char::is_uppercase)
                    && !ends_with_abbreviation(&fix[start..at])
                {
                    steps.push(fix[start..=at].trim().to_owned());
                    start = at + 1;
                }
            }
            _ => {}
        }
    }
    let rest = fix[start..].trim();
    if !rest.is_empty() {
        steps.push(rest.to_owned());
    }
    steps
}

fn strip_numbering(line: &str) -> &str {
    let digits = line.trim_start_matches(|c: char| c.is_ascii_digit());
    if digits.len() < line.len()
        && let Some(rest) = digits.strip_prefix(". ").or(digits.strip_prefix(") "))
    {
        return rest.trim_start();
    }
    line.strip_prefix("- ")
        .or(line.strip_prefix("* "))
        .unwrap_or(line)
        .trim_start()
}

fn ends_with_abbreviation(text: &str) -> bool {
    let word = text.rsplit(' ').next().unwrap_or("");
    ["e.g", "i.e", "etc", "cf", "vs"].contains(&word.to_ascii_lowercase().as_str())
}

/// `text` cut into plain parts and `code span` parts (how the checks write
/// names and commands), `true` marking code. An unpaired backtick, or two
/// with nothing between, stays in the plain text.
pub fn code_spans(text: &str) -> Vec<(bool, &str)> {
    let mut parts = Vec::new();
    let (mut rest, mut plain_from) = (text, 0);
    let mut offset = 0;
    while let Some(open) = rest.find('`') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('`') else { break };
        if close > 0 {
            let start = offset + open;
            if start > plain_from {
                parts.push((false, &text[plain_from..start]));
            }
            parts.push((true, &after[..close]));
            plain_from = start + close + 2;
        }
        offset += open + close + 2;
        rest = &text[offset..];
    }
    if plain_from < text.len() {
        parts.push((false, &text[plain_from..]));
    }
    parts
}

/// A duration as people say it: "0.4 s", "12 s", "2 min 5 s", "1 h 3 min".
pub fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..10 => {
            let tenths = (ms + 50) / 100;
            format!("{}.{} s", tenths / 10, tenths % 10)
        }
        10..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// An RFC 3339 time to the second, as "2026-11-23 09:30:00 UTC"; anything
/// else unchanged.
pub fn timestamp(rfc3339: &str) -> String {
    let format = time::format_description::well_known::Rfc3339;
    match time::OffsetDateTime::parse(rfc3339, &format) {
        Ok(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
        Err(_) => rfc3339.to_owned(),
    }
}

/// Greedy word wrap to `width` columns: linear, breaks only at spaces (an
/// id or path is never cut), a word longer than the line stands alone.
/// Later lines start with `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    wrap_from(text, 0, width, indent)
}

/// [`wrap`] for text that starts at `column` of its first line (after a
/// label the caller writes).
pub fn wrap_from(text: &str, column: usize, width: usize, indent: &str) -> String {
    use unicode_width::UnicodeWidthStr;
    let first_column = column;
    let mut out = String::with_capacity(text.len() + 16);
    for (n, paragraph) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
            out.push_str(indent);
        }
        let mut column = if n == 0 { first_column } else { indent.width() };
        let mut line_start = true;
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            let w = word.width();
            if !line_start && column + 1 + w > width {
                out.push('\n');
                out.push_str(indent);
                column = indent.width();
                line_start = true;
            }
            if !line_start {
                out.push(' ');
                column += 1;
            }
            out.push_str(word);
            column += w;
            line_start = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paragraph_splits_into_sentences_but_not_inside_code_or_parentheses() {
        let fix = "Request a certificate (for example `openssl req -new`. Then sign it) and have it signed (step 1.A). Import it with its key. Restart SQL Server, e.g. Restart-Service.";
        assert_eq!(
            fix_steps(fix),
            vec![
                "Request a certificate (for example `openssl req -new`. Then sign it) and have it signed (step 1.A).",
                "Import it with its key.",
                "Restart SQL Server, e.g. Restart-Service.",
            ]
        );
        assert_eq!(
            fix_steps("USE [db]; ALTER ROLE [r] ADD MEMBER [u];"),
            vec!["USE [db]; ALTER ROLE [r] ADD MEMBER [u];"]
        );
        assert_eq!(
            fix_steps("1. Open it\n2) Change it\n- Restart"),
            vec!["Open it", "Change it", "Restart"]
        );
        assert!(fix_steps("  ").is_empty());
    }

    #[test]
    fn code_spans_are_found_in_pairs() {
        assert_eq!(
            code_spans("set `a` and `b`, not ``, nor `c"),
            vec![
                (false, "set "),
                (true, "a"),
                (false, " and "),
                (true, "b"),
                (false, ", not ``, nor `c"),
            ]
        );
        assert_eq!(code_spans("`x`"), vec![(true, "x")]);
        assert!(code_spans("").is_empty());
    }

    #[test]
    fn figures_read_as_people_say_them() {
        assert_eq!(duration(0), "0.0 s");
        assert_eq!(duration(420), "0.4 s");
        assert_eq!(duration(9_960), "10.0 s");
        assert_eq!(duration(12_300), "12 s");
        assert_eq!(duration(125_000), "2 min 5 s");
        assert_eq!(duration(3_780_000), "1 h 3 min");
        assert_eq!(
            timestamp("2026-11-23T09:30:00.123456789Z"),
            "2026-11-23 09:30:00 UTC"
        );
        assert_eq!(timestamp("yesterday"), "yesterday");
    }

    #[test]
    fn wrapping_breaks_at_spaces_only() {
        assert_eq!(
            wrap("aa bb sql.passwordstate.backup-impersonation cc", 10, "  "),
            "aa bb\n  sql.passwordstate.backup-impersonation\n  cc"
        );
        assert_eq!(wrap("one\ntwo three", 7, "> "), "one\n> two\n> three");
    }
}
