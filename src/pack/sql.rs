//! `[check.sql]`: a query run on an account's session, and an expectation
//! on its value (the first column of the first row) or on its rows.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use mssql_emulator::catalog::{Catalog as SqlCatalog, ObjectName, Platform as CatalogPlatform};

use crate::context::RunContext;
use crate::facts::sql::{AccountKind, ServerFacts, session_of};
use crate::finding::{Finding, Outcome, Stop};
use crate::probe::sql::SqlValue;
use crate::registry::CheckMeta;

/// At most this many rows go into a finding's evidence.
const EVIDENCE_ROWS: usize = 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlProbe {
    /// T-SQL, run in the application database. Packs should only read.
    pub query: String,
    /// Whose session runs it: the application's (`sql`, the default) or the
    /// backup account's (`backup`).
    #[serde(default)]
    pub account: AccountRole,
    pub expect: SqlExpect,
    /// When the query yields no value (no row, or NULL), the check skips
    /// with this reason; without it, no value is an error.
    pub skip_if_null: Option<String>,
    /// What the check found, in words, over the first row's columns: each
    /// `{column}` is replaced by its value, `{rows}` by the number of rows
    /// ("the log of `{database_name}` is {log_handling}"). Without it the
    /// message states the value ("the value is 1").
    pub message: Option<String>,
    /// The query's [`CatalogReview`], made at its first use: the check's
    /// description, the pack's load-time warnings and every run ask for it.
    #[serde(skip)]
    review: OnceLock<CatalogReview>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountRole {
    #[default]
    Sql,
    Backup,
}

/// What the result must look like; every comparison given must hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlExpect {
    /// On the first column of the first row.
    pub value: Option<Comparison>,
    /// On the number of rows.
    pub rows: Option<Comparison>,
}

/// Conditions on one value; every condition given must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub equals: Option<toml::Value>,
    pub not_equals: Option<toml::Value>,
    pub one_of: Option<Vec<toml::Value>>,
    pub at_least: Option<toml::Value>,
    pub at_most: Option<toml::Value>,
}

/// A query's answer, as the session returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl QueryResult {
    /// The first column of the first row; `None` for no row or NULL.
    pub fn value(&self) -> Option<&Value> {
        self.rows.first()?.first().filter(|v| !v.is_null())
    }

    /// The first rows as objects keyed by column name, for evidence.
    fn sample(&self) -> Vec<Map<String, Value>> {
        self.rows
            .iter()
            .take(EVIDENCE_ROWS)
            .map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let name = self
                            .columns
                            .get(i)
                            .filter(|n| !n.is_empty())
                            .cloned()
                            .unwrap_or_else(|| format!("column{}", i + 1));
                        (name, v.clone())
                    })
                    .collect()
            })
            .collect()
    }
}

/// A pack query held against SQL Server's documented catalog
/// (`fixtures/catalog/sql-server.toml`): the system objects it reads and
/// where they exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogReview {
    /// (object, the platforms that have it) for each documented system object.
    pub needs: Vec<(&'static str, &'static [CatalogPlatform])>,
    /// What the catalog cannot vouch for: an unknown system object, a query
    /// the T-SQL parser cannot read. Shown as load-time warnings.
    pub warnings: Vec<String>,
}

impl CatalogReview {
    /// The platforms where every object the query reads exists.
    pub fn platforms(&self) -> Vec<CatalogPlatform> {
        CatalogPlatform::ALL
            .into_iter()
            .filter(|platform| {
                self.needs
                    .iter()
                    .all(|(_, platforms)| platforms.contains(platform))
            })
            .collect()
    }

    /// The first object `platform` lacks.
    pub fn missing_on(&self, platform: CatalogPlatform) -> Option<&str> {
        self.needs
            .iter()
            .find(|(_, platforms)| !platforms.contains(&platform))
            .map(|(object, _)| *object)
    }
}

impl SqlProbe {
    /// What the catalog says about this query's system objects; worked out
    /// once per probe (a T-SQL parse), however often it is asked.
    pub fn review(&self) -> &CatalogReview {
        self.review.get_or_init(|| review(&self.query))
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        if self.query.trim().is_empty() {
            return Err("[check.sql] query is empty".to_owned());
        }
        if self.expect.value.is_none() && self.expect.rows.is_none() {
            return Err(
                "[check.sql] expect needs `value` or `rows`, e.g. expect.value.equals = 0"
                    .to_owned(),
            );
        }
        if let Some(c) = &self.expect.value {
            c.validate("expect.value")?;
        }
        if let Some(c) = &self.expect.rows {
            c.validate("expect.rows")?;
            for v in c.values() {
                if !v.is_integer() {
                    return Err(format!(
                        "[check.sql] expect.rows compares a number of rows, so `{v}` must be a whole number"
                    ));
                }
            }
        }
        Ok(())
    }

    pub(super) fn describe(&self) -> String {
        let who = match self.account {
            AccountRole::Sql => "the application account",
            AccountRole::Backup => "the backup account",
        };
        let mut expectations = Vec::new();
        if let Some(c) = &self.expect.value {
            expectations.push(format!("its value to be {}", c.describe()));
        }
        if let Some(c) = &self.expect.rows {
            expectations.push(format!("a number of rows {}", c.describe()));
        }
        let review = self.review();
        let platforms = review.platforms();
        let runs_on = if platforms.len() == CatalogPlatform::ALL.len() {
            String::new()
        } else {
            let lacking: Vec<String> = CatalogPlatform::ALL
                .into_iter()
                .filter(|platform| !platforms.contains(platform))
                .map(|platform| {
                    format!(
                        "{}, which has no {}",
                        platform.describe(),
                        review.missing_on(platform).unwrap_or_default()
                    )
                })
                .collect();
            format!(
                " It runs on {} only (not on {}).",
                platforms
                    .iter()
                    .map(|platform| platform.describe())
                    .collect::<Vec<_>>()
                    .join(", "),
                lacking.join("; ")
            )
        };
        format!(
            "Runs this query as {who} in the application database and expects {}.{runs_on}\n\n{}",
            expectations.join(" and "),
            self.query.trim()
        )
    }

    /// Runs the query on the account's shared session (logged in once per
    /// run, only over verified TLS unless the user accepted otherwise) and
    /// judges its first result set.
    pub(super) async fn evaluate(&self, meta: &CheckMeta, ctx: &RunContext) -> Outcome {
        let kind = match self.account {
            AccountRole::Sql => AccountKind::App,
            AccountRole::Backup => AccountKind::Backup,
        };
        let login = session_of(ctx, kind).await?;
        let session = login.session()?;
        if ctx.target.server.database.is_some() {
            session.require_database()?;
        }
        // A query reading what the platform does not have would only fail.
        if let Ok(server) = ctx.fact::<ServerFacts>().await
            && let Some(platform) = server.platform.in_catalog()
            && let Some(object) = self.review().missing_on(platform)
        {
            return Err(Stop::not_applicable(format!(
                "{} has no {object}, which this check reads",
                platform.describe()
            )));
        }
        let sets = session
            .results(&self.query)
            .await
            .map_err(|e| Stop::error(format!("the query failed: {e}")))?;
        let result = sets
            .into_iter()
            .find(|set| !set.columns.is_empty())
            .map(|set| QueryResult {
                rows: set
                    .rows
                    .iter()
                    .map(|row| row.iter().map(SqlValue::to_json).collect())
                    .collect(),
                columns: set.columns,
            })
            .unwrap_or_default();
        Ok(session.mark(
            self.judge(meta, &result)?
                .evidence("account", &session.user),
        ))
    }

    /// The verdict on a query's result.
    pub fn judge(&self, meta: &CheckMeta, result: &QueryResult) -> Outcome {
        let mut problems = Vec::new();
        let mut passed = Vec::new();
        if let Some(c) = &self.expect.value {
            let Some(value) = result.value() else {
                return Err(match &self.skip_if_null {
                    Some(reason) => Stop::not_applicable(reason.clone()),
                    None => Stop::error(
                        "the query returned no value (no row, or NULL), so its expectation cannot be judged",
                    ),
                });
            };
            let shown = show(value);
            if c.holds(value) {
                passed.push(format!("the value is {shown}"));
            } else {
                problems.push((
                    format!("the value is {shown}, not {}", c.describe()),
                    format!("a value {}", c.describe()),
                    shown,
                ));
            }
        }
        if let Some(c) = &self.expect.rows {
            let count = result.rows.len();
            let value = Value::from(count);
            if c.holds(&value) {
                passed.push(format!("the query returned {count} row(s)"));
            } else {
                problems.push((
                    format!("the query returned {count} row(s), not {}", c.describe()),
                    format!("a number of rows {}", c.describe()),
                    format!("{count} row(s)"),
                ));
            }
        }
        let described = match &self.message {
            Some(template) if !result.rows.is_empty() => Some(fill(template, result)?),
            _ => None,
        };
        let finding = if problems.is_empty() {
            Finding::pass(described.unwrap_or_else(|| passed.join("; ")))
        } else {
            let mut message: Vec<_> = problems.iter().map(|p| p.0.clone()).collect();
            if let Some(described) = described {
                message = vec![described];
            }
            let expected: Vec<_> = problems.iter().map(|p| p.1.clone()).collect();
            let actual: Vec<_> = problems.iter().map(|p| p.2.clone()).collect();
            Finding::problem(meta.severity, message.join("; "))
                .expected(expected.join("; "))
                .actual(actual.join("; "))
        };
        Ok(finding
            .evidence("row_count", result.rows.len())
            .evidence("rows", result.sample()))
    }
}

/// What SQL Server's documented catalog says about the system objects
/// `query` reads (see [`SqlProbe::review`]).
fn review(query: &str) -> CatalogReview {
    let mut review = CatalogReview::default();
    let references = match mssql_emulator::references(query) {
        Ok(references) => references,
        Err(reason) => {
            review.warnings.push(format!(
                "the query cannot be checked against SQL Server's catalog: the T-SQL parser {reason}"
            ));
            return review;
        }
    };
    for parts in &references.objects {
        let ObjectName::System { key, .. } = SqlCatalog::classify(parts) else {
            continue;
        };
        match SqlCatalog::object_platforms(&key) {
            Some(needed) => {
                if !review.needs.contains(&needed) {
                    review.needs.push(needed);
                }
            }
            None => review.warnings.push(format!(
                "the query reads {}, which is not in SQL Server's documented catalog as this tool knows it: check the spelling (the server would answer error 208); where it is right, the tool cannot tell on which platforms the check runs",
                parts.join(".")
            )),
        }
    }
    review
}

/// `template` with each `{column}` replaced by that column's value in the
/// first row and `{rows}` by the row count; a name the query did not return
/// is an error of the pack, said as such.
fn fill(template: &str, result: &QueryResult) -> Result<String, Stop> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name = after
            .find('}')
            .map(|close| &after[..close])
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_'));
        let Some(name) = name else {
            out.push('{');
            rest = after;
            continue;
        };
        let value = if name == "rows" {
            result.rows.len().to_string()
        } else {
            let index = result.columns.iter().position(|c| c == name).ok_or_else(|| {
                Stop::error(format!(
                    "the check's message names the column `{name}`, which its query does not return (it returns {})",
                    result.columns.join(", ")
                ))
            })?;
            result.rows[0]
                .get(index)
                .map_or_else(|| "NULL".to_owned(), show)
        };
        out.push_str(&value);
        rest = &after[name.len() + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Comparison {
    fn values(&self) -> impl Iterator<Item = &toml::Value> {
        self.equals
            .iter()
            .chain(&self.not_equals)
            .chain(self.one_of.iter().flatten())
            .chain(&self.at_least)
            .chain(&self.at_most)
    }

    fn validate(&self, name: &str) -> Result<(), String> {
        if self.values().next().is_none() && self.one_of.is_none() {
            return Err(format!(
                "[check.sql] {name} needs a condition: equals, not_equals, one_of, at_least or at_most"
            ));
        }
        if self.one_of.as_ref().is_some_and(Vec::is_empty) {
            return Err(format!("[check.sql] {name}.one_of is empty"));
        }
        for v in self.values() {
            if !matches!(
                v,
                toml::Value::String(_)
                    | toml::Value::Integer(_)
                    | toml::Value::Float(_)
                    | toml::Value::Boolean(_)
            ) {
                return Err(format!(
                    "[check.sql] {name}: `{v}` must be a string, number or boolean"
                ));
            }
        }
        for (key, bound) in [("at_least", &self.at_least), ("at_most", &self.at_most)] {
            if bound
                .as_ref()
                .is_some_and(|b| number(&to_json(b)).is_none())
            {
                return Err(format!("[check.sql] {name}.{key} must be a number"));
            }
        }
        Ok(())
    }

    /// Whether `value` meets every condition.
    pub fn holds(&self, value: &Value) -> bool {
        let eq = |expected: &toml::Value| same(value, &to_json(expected));
        let bound = |b: &toml::Value, ok: fn(f64, f64) -> bool| matches!((number(value), number(&to_json(b))), (Some(v), Some(b)) if ok(v, b));
        self.equals.as_ref().is_none_or(eq)
            && self.not_equals.as_ref().is_none_or(|e| !eq(e))
            && self.one_of.as_ref().is_none_or(|list| list.iter().any(eq))
            && self
                .at_least
                .as_ref()
                .is_none_or(|b| bound(b, |v, b| v >= b))
            && self
                .at_most
                .as_ref()
                .is_none_or(|b| bound(b, |v, b| v <= b))
    }

    /// The conditions in words: `equal to 0 and at most 5`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = &self.equals {
            parts.push(format!("equal to {}", show(&to_json(v))));
        }
        if let Some(v) = &self.not_equals {
            parts.push(format!("other than {}", show(&to_json(v))));
        }
        if let Some(list) = &self.one_of {
            let shown: Vec<String> = list.iter().map(|v| show(&to_json(v))).collect();
            parts.push(format!("one of {}", shown.join(", ")));
        }
        if let Some(v) = &self.at_least {
            parts.push(format!("at least {}", show(&to_json(v))));
        }
        if let Some(v) = &self.at_most {
            parts.push(format!("at most {}", show(&to_json(v))));
        }
        parts.join(" and ")
    }
}

fn to_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A value as a number when it reads as one: numbers, booleans (a SQL `bit`)
/// and numeric text (SQL `decimal` arrives as text from some drivers).
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Equality as a reader means it: numerically when the pack wrote a number
/// (or boolean), otherwise as text.
fn same(actual: &Value, expected: &Value) -> bool {
    if matches!(expected, Value::Number(_) | Value::Bool(_)) {
        matches!((number(actual), number(expected)), (Some(a), Some(e)) if a == e)
    } else {
        show(actual) == show(expected)
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Severity, Status};
    use crate::registry::Family;

    fn probe(expect: &str) -> SqlProbe {
        toml::from_str(&format!("query = \"SELECT 1\"\n{expect}")).unwrap()
    }

    fn result(rows: Vec<Vec<Value>>) -> QueryResult {
        QueryResult {
            columns: vec!["n".into(), "name".into()],
            rows,
        }
    }

    fn meta() -> CheckMeta {
        CheckMeta::new("sql.test", Family::Sql, Severity::Warn)
    }

    #[test]
    fn value_comparisons_read_numbers_text_and_bits() {
        let p = probe("expect.value = { one_of = [2, 4, 9] }");
        p.validate().unwrap();
        let ok = p.judge(&meta(), &result(vec![vec![4.into()]])).unwrap();
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        let bad = p.judge(&meta(), &result(vec![vec!["3".into()]])).unwrap();
        assert_eq!(bad.status, Status::Warn);
        assert!(
            bad.message.contains("not one of 2, 4, 9"),
            "{}",
            bad.message
        );
        let bit = probe("expect.value.equals = 1");
        assert_eq!(
            bit.judge(&meta(), &result(vec![vec![true.into()]]))
                .unwrap()
                .status,
            Status::Pass
        );
        let text = probe("expect.value.equals = \"ONLINE\"");
        assert_eq!(
            text.judge(&meta(), &result(vec![vec!["ONLINE".into()]]))
                .unwrap()
                .status,
            Status::Pass
        );
        let bounds = probe("expect.value = { at_least = 1, at_most = 8192 }");
        assert_eq!(
            bounds
                .judge(&meta(), &result(vec![vec![9000.into()]]))
                .unwrap()
                .status,
            Status::Warn
        );
    }

    #[test]
    fn a_message_template_says_what_was_found_in_the_columns() {
        let p = probe(
            "expect.value.equals = 1\nmessage = \"`{name}` has {n} { literal } in {rows} row(s)\"",
        );
        let ok = p
            .judge(&meta(), &result(vec![vec![1.into(), "PassTrix".into()]]))
            .unwrap();
        assert_eq!(ok.status, Status::Pass);
        assert_eq!(ok.message, "`PassTrix` has 1 { literal } in 1 row(s)");
        let bad = p
            .judge(&meta(), &result(vec![vec![0.into(), "PassTrix".into()]]))
            .unwrap();
        assert_eq!(bad.status, Status::Warn);
        assert_eq!(bad.message, "`PassTrix` has 0 { literal } in 1 row(s)");
        assert_eq!(bad.expected.as_deref(), Some("a value equal to 1"));
        let unknown = probe("expect.value.equals = 1\nmessage = \"{missing}\"");
        let err = unknown
            .judge(&meta(), &result(vec![vec![1.into(), "x".into()]]))
            .unwrap_err();
        assert!(format!("{err:?}").contains("`missing`"), "{err:?}");
    }

    #[test]
    fn rows_are_counted_and_shown_as_evidence() {
        let p = probe("expect.rows.equals = 0");
        let f = p
            .judge(&meta(), &result(vec![vec![1.into(), "a".into()]]))
            .unwrap();
        assert_eq!(f.status, Status::Warn);
        assert_eq!(f.evidence["rows"][0]["name"], "a");
        assert_eq!(
            p.judge(&meta(), &result(vec![])).unwrap().status,
            Status::Pass
        );
    }

    #[test]
    fn no_value_skips_with_the_pack_reason_or_is_an_error() {
        let p = probe("expect.value.equals = 0");
        assert!(matches!(
            p.judge(&meta(), &result(vec![])),
            Err(Stop::Error(_))
        ));
        let p = probe("expect.value.equals = 0\nskip_if_null = \"not a Passwordstate database\"");
        assert_eq!(
            p.judge(&meta(), &result(vec![vec![Value::Null]])),
            Err(Stop::not_applicable("not a Passwordstate database"))
        );
    }

    #[test]
    fn the_catalog_review_is_made_once_and_says_where_the_query_runs() {
        let p: SqlProbe = toml::from_str(
            "query = \"SELECT r.last_log_backup_lsn FROM sys.databases AS d JOIN sys.database_recovery_status AS r ON r.database_id = d.database_id\"\nexpect.value.equals = 1",
        )
        .unwrap();
        let review = p.review();
        assert!(std::ptr::eq(review, p.review()), "worked out again");
        assert!(review.warnings.is_empty(), "{review:?}");
        assert_eq!(
            review.platforms(),
            [
                CatalogPlatform::SqlServer,
                CatalogPlatform::AzureSqlManagedInstance,
                CatalogPlatform::AmazonRds
            ]
        );
        assert_eq!(
            review.missing_on(CatalogPlatform::AzureSqlDatabase),
            Some("sys.database_recovery_status")
        );
        assert_eq!(review.missing_on(CatalogPlatform::SqlServer), None);
    }

    #[test]
    fn a_review_warns_of_what_the_catalog_cannot_vouch_for() {
        let unknown: SqlProbe =
            toml::from_str("query = \"SELECT name FROM sys.databasez\"\nexpect.rows.equals = 1")
                .unwrap();
        let warnings = &unknown.review().warnings;
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("reads sys.databasez"), "{warnings:?}");
        assert_eq!(unknown.review().platforms(), CatalogPlatform::ALL);
        let unreadable: SqlProbe =
            toml::from_str("query = \"MERGE INTO x USING y ON 1 = 1\"\nexpect.rows.equals = 1")
                .unwrap();
        assert!(
            unreadable.review().warnings[0].contains("the T-SQL parser cannot parse"),
            "{:?}",
            unreadable.review()
        );
    }

    #[test]
    fn nonsense_expectations_are_refused() {
        assert!(probe("expect = {}").validate().is_err());
        assert!(probe("expect.value = {}").validate().is_err());
        assert!(probe("expect.rows.at_most = 1.5").validate().is_err());
        assert!(probe("expect.value.at_most = \"x\"").validate().is_err());
        assert!(probe("expect.value.one_of = []").validate().is_err());
    }
}
