//! What a check concludes: a verdict with its explanation, or the reason it
//! reached none.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The status of one check in a report.
///
/// `Pass`, `Warn` and `Fail` are verdicts about the target. `Skip` and `Error`
/// say that no verdict was reached: `Skip` by design (a prerequisite failed, the
/// check does not apply), `Error` because the check itself could not run.
/// `Waived` is a failure or warning that the target file accepted on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
    Error,
    Waived,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Pass,
        Status::Warn,
        Status::Fail,
        Status::Skip,
        Status::Error,
        Status::Waived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
            Status::Error => "error",
            Status::Waived => "waived",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use crate::meta::Severity;

impl Severity {
    pub fn status(self) -> Status {
        match self {
            Severity::Warn => Status::Warn,
            Severity::Fail => Status::Fail,
        }
    }
}

/// A verdict about the target, with what a reader needs to act on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub status: Status,
    pub message: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// Specific advice for this finding; the check's general fix is used when absent.
    pub remediation: Option<String>,
    pub evidence: Map<String, Value>,
    /// Caveats about how the verdict was reached (for example, over a
    /// connection whose certificate was not verified).
    pub notes: Vec<String>,
}

impl Finding {
    fn new(status: Status, message: impl Into<String>) -> Self {
        Finding {
            status,
            message: message.into(),
            expected: None,
            actual: None,
            remediation: None,
            evidence: Map::new(),
            notes: Vec::new(),
        }
    }

    pub fn pass(message: impl Into<String>) -> Self {
        Self::new(Status::Pass, message)
    }

    /// A problem reported at the given severity: the one way a check
    /// reports one. Its main problem takes the check's own severity
    /// (`meta.severity`, which a target file may override); a lesser
    /// caution takes `Severity::Warn`, and a problem that breaks the
    /// application whatever the check's severity takes `Severity::Fail`.
    pub fn problem(severity: Severity, message: impl Into<String>) -> Self {
        Self::new(severity.status(), message)
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn actual(mut self, actual: impl Into<String>) -> Self {
        self.actual = Some(actual.into());
        self
    }

    pub fn remediation(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = Some(remediation.into());
        self
    }

    /// Adds a piece of evidence. Values that cannot be represented as JSON
    /// are recorded as their error text rather than dropped silently.
    pub fn evidence(mut self, key: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or_else(|e| Value::String(e.to_string()));
        self.evidence.insert(key.to_owned(), value);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

/// Why a skipped check reached no verdict, as data: reports group skips by
/// their cause, and the run's verdict depends on it (a check blocked by a
/// failure or an error is not "not applicable").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipKind {
    /// The check has nothing to look at on this target (no named instance,
    /// another application, a platform without that feature).
    NotApplicable,
    /// The check needs a setting the run was not given (an account, a
    /// destination, `--intrusive`); the reason names what to add.
    NotConfigured,
    /// Another check's failure or error left nothing to judge; `by` names it.
    Blocked,
}

impl SkipKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipKind::NotApplicable => "not_applicable",
            SkipKind::NotConfigured => "not_configured",
            SkipKind::Blocked => "blocked",
        }
    }
}

/// A skip with its kind, the checks that blocked it, and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    pub kind: SkipKind,
    /// Ids of the checks whose failure or error blocked this one (only for
    /// `blocked`; empty otherwise).
    #[serde(default)]
    pub by: Vec<String>,
    pub reason: String,
}

/// Why a check reached no verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    /// The check does not apply, is not configured, or is blocked by another.
    #[error("{}", .0.reason)]
    Skip(Skip),
    /// The check could not run; the cause says why.
    #[error("{0}")]
    Error(String),
}

impl Stop {
    /// Nothing on this target for the check to look at.
    pub fn not_applicable(reason: impl Into<String>) -> Self {
        Stop::Skip(Skip {
            kind: SkipKind::NotApplicable,
            by: Vec::new(),
            reason: reason.into(),
        })
    }

    /// The run lacks a setting the check needs; the reason names it.
    pub fn not_configured(reason: impl Into<String>) -> Self {
        Stop::Skip(Skip {
            kind: SkipKind::NotConfigured,
            by: Vec::new(),
            reason: reason.into(),
        })
    }

    /// The checks `by` failed or could not run, so this one has nothing to judge.
    pub fn blocked<I, S>(by: I, reason: impl Into<String>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Stop::Skip(Skip {
            kind: SkipKind::Blocked,
            by: by.into_iter().map(Into::into).collect(),
            reason: reason.into(),
        })
    }

    pub fn error(cause: impl Into<String>) -> Self {
        Stop::Error(cause.into())
    }

    pub fn status(&self) -> Status {
        match self {
            Stop::Skip(_) => Status::Skip,
            Stop::Error(_) => Status::Error,
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Stop::Skip(skip) => &skip.reason,
            Stop::Error(cause) => cause,
        }
    }

    /// The skip's kind and blockers, when this is a skip.
    pub fn skip(&self) -> Option<&Skip> {
        match self {
            Stop::Skip(skip) => Some(skip),
            Stop::Error(_) => None,
        }
    }

    /// The same stop seen from a check that depends on the one that stopped:
    /// a skip keeps its kind and blockers, and an error of a prerequisite
    /// becomes a skip blocked by `check` (the check that reports that error).
    pub fn through(self, check: &str) -> Self {
        match self {
            Stop::Error(cause) => Stop::blocked([check], cause),
            skip => skip,
        }
    }
}

/// The outcome of evaluating one check.
pub type Outcome = Result<Finding, Stop>;
