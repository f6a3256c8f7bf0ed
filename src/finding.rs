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

/// How serious a problem found by a check is: the status its non-passing
/// verdicts are reported with. Target files override it per check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warn,
    Fail,
}

impl Severity {
    pub fn status(self) -> Status {
        match self {
            Severity::Warn => Status::Warn,
            Severity::Fail => Status::Fail,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.status().as_str())
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

    pub fn warn(message: impl Into<String>) -> Self {
        Self::new(Status::Warn, message)
    }

    pub fn fail(message: impl Into<String>) -> Self {
        Self::new(Status::Fail, message)
    }

    /// A problem reported at the given severity.
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

/// Why a check reached no verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    /// The check does not apply or a prerequisite failed; the reason says which.
    #[error("{0}")]
    Skip(String),
    /// The check could not run; the cause says why.
    #[error("{0}")]
    Error(String),
}

impl Stop {
    pub fn skip(reason: impl Into<String>) -> Self {
        Stop::Skip(reason.into())
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
            Stop::Skip(r) | Stop::Error(r) => r,
        }
    }
}

/// The outcome of evaluating one check.
pub type Outcome = Result<Finding, Stop>;
