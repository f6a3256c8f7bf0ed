//! What a check is, apart from what it does: its id, family, texts,
//! severity and parameters. A leaf: it imports nothing of the target, the
//! parameters' values, the registry or the run context, so each of those can
//! build on it without importing the others.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Parameter values keyed by check id, then parameter name: what a profile
/// or a target file sets under `[checks."<id>"]`.
pub type ParamTables = BTreeMap<String, toml::Table>;

/// How serious a problem found by a check is: the status its non-passing
/// verdicts are reported with. Target files override it per check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warn,
    Fail,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warn => "warn",
            Severity::Fail => "fail",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub type Text = Cow<'static, str>;

/// The family a check belongs to; reports group by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Net,
    Tls,
    Sql,
    Share,
    Host,
}

impl Family {
    pub const ALL: [Family; 5] = [
        Family::Net,
        Family::Tls,
        Family::Sql,
        Family::Share,
        Family::Host,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Net => "net",
            Family::Tls => "tls",
            Family::Sql => "sql",
            Family::Share => "share",
            Family::Host => "host",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Family::Net => "Network",
            Family::Tls => "TLS",
            Family::Sql => "SQL Server",
            Family::Share => "Backup destination",
            Family::Host => "Application host",
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tunable threshold of a check, with its default. Profiles and target
/// files may set it under `[checks."<id>"]`.
#[derive(Debug, Clone, Serialize)]
pub struct ParamMeta {
    pub name: Text,
    pub default: toml::Value,
    pub help: Text,
    /// What values make sense, checked when the target file is loaded.
    #[serde(skip)]
    pub rule: ParamRule,
}

/// The values a parameter accepts beyond its type, so that a nonsensical
/// threshold is refused before anything runs instead of becoming a verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ParamRule {
    #[default]
    Any,
    /// A count or duration: 0 or more.
    NotNegative,
    /// A count, duration or ratio that must be above 0.
    Positive,
    /// A TCP port, 1–65535.
    Port,
    /// A SQL Server version such as "13.0" or "15.0.2000".
    SqlVersion,
}

impl ParamRule {
    /// Why `value` is refused, in words that name the valid forms.
    pub fn check(self, value: &toml::Value) -> Result<(), String> {
        let number = value
            .as_integer()
            .map(|i| i as f64)
            .or_else(|| value.as_float());
        match self {
            ParamRule::Any => Ok(()),
            ParamRule::NotNegative => match number {
                Some(n) if n >= 0.0 => Ok(()),
                _ => Err(format!("must be 0 or more, not {value}")),
            },
            ParamRule::Positive => match number {
                Some(n) if n > 0.0 => Ok(()),
                _ => Err(format!("must be more than 0, not {value}")),
            },
            ParamRule::Port => match value.as_integer() {
                Some(1..=65535) => Ok(()),
                _ => Err(format!("must be a TCP port from 1 to 65535, not {value}")),
            },
            ParamRule::SqlVersion => {
                match value.as_str().and_then(crate::version::SqlVersion::parse) {
                    Some(_) => Ok(()),
                    None => Err(format!(
                        "must be a SQL Server version such as \"13.0\" (2016), \"15.0\" (2019) or \"16.0.1000\", not {value}"
                    )),
                }
            }
        }
    }
}

/// Everything `list` and `explain` print about a check, and what reports
/// quote from it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckMeta {
    /// Stable, dotted, lower case: the public API of the check.
    pub id: Text,
    pub title: Text,
    pub family: Family,
    /// What the check looks at.
    pub checks: Text,
    /// Why it matters to the application.
    pub why: Text,
    /// How to fix a failure, in plain words (an exact command where one exists).
    pub fix: Text,
    /// The vendor-guide step it comes from.
    pub guide: Text,
    /// Changes something on the target (writes a file, runs a backup):
    /// runs only with `--intrusive`.
    pub intrusive: bool,
    /// The status its problems get unless a target file overrides it.
    pub severity: Severity,
    pub params: Vec<ParamMeta>,
}

impl CheckMeta {
    pub fn new(id: impl Into<Text>, family: Family, severity: Severity) -> Self {
        CheckMeta {
            id: id.into(),
            title: Text::Borrowed(""),
            family,
            checks: Text::Borrowed(""),
            why: Text::Borrowed(""),
            fix: Text::Borrowed(""),
            guide: Text::Borrowed(""),
            intrusive: false,
            severity,
            params: Vec::new(),
        }
    }

    pub fn title(mut self, title: impl Into<Text>) -> Self {
        self.title = title.into();
        self
    }

    pub fn checks(mut self, checks: impl Into<Text>) -> Self {
        self.checks = checks.into();
        self
    }

    pub fn why(mut self, why: impl Into<Text>) -> Self {
        self.why = why.into();
        self
    }

    pub fn fix(mut self, fix: impl Into<Text>) -> Self {
        self.fix = fix.into();
        self
    }

    pub fn guide(mut self, guide: impl Into<Text>) -> Self {
        self.guide = guide.into();
        self
    }

    pub fn intrusive(mut self) -> Self {
        self.intrusive = true;
        self
    }

    pub fn param(
        mut self,
        name: impl Into<Text>,
        default: impl Into<toml::Value>,
        help: impl Into<Text>,
    ) -> Self {
        self.params.push(ParamMeta {
            name: name.into(),
            default: default.into(),
            help: help.into(),
            rule: ParamRule::Any,
        });
        self
    }

    /// The rule the last declared parameter's values must follow.
    pub fn rule(mut self, rule: ParamRule) -> Self {
        if let Some(param) = self.params.last_mut() {
            param.rule = rule;
        }
        self
    }

    pub fn param_meta(&self, name: &str) -> Option<&ParamMeta> {
        self.params.iter().find(|p| p.name == name)
    }
}
