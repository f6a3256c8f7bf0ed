//! sql.login: every configured account logs in, and a refusal is explained.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::diagnosis::{Diagnosis, Who, diagnose};
use crate::context::RunContext;
use crate::facts::sql::reads::database_presence;
use crate::facts::sql::{AccountKind, LoginFailure, SqlLogin, UNVERIFIED_NOTE, login_of};
use crate::finding::{Finding, Outcome, Severity, Status, Stop};
use crate::registry::{Check, CheckMeta, Family};
use crate::target::Credential;

pub struct Login {
    meta: CheckMeta,
}

impl Login {
    pub(super) fn new() -> Self {
        Login {
            meta: CheckMeta::new("sql.login", Family::Sql, Severity::Fail)
                .title("The accounts can log in")
                .checks("Logs in once with each configured account (the application account [sql] and the backup account [backup]) into the application database, over TLS the tls.* checks verified, and explains any refusal: wrong password, unknown or disabled login, expired password, inaccessible database, untrusted domain, TLS failure.")
                .why("The application and its backups run as these accounts; if SQL Server refuses them, nothing else matters.")
                .fix("Follow the advice for the error shown: correct the password, enable the login, set a new password, or map the login into the database.")
                .guide("PMP guide step 4.v-vi (authentication, user name and password); Passwordstate guide §2.7 (backup account login) and §4.6 step 1"),
        }
    }
}

/// One account's line in the verdict.
struct AccountVerdict {
    status: Status,
    line: String,
    remediation: Option<String>,
    evidence: Value,
    inconclusive: bool,
}

impl AccountVerdict {
    /// A login that failed, as `diagnosis` explains it.
    fn failed(who: &str, diagnosis: Diagnosis, evidence: Value) -> Self {
        AccountVerdict {
            status: Status::Fail,
            line: format!("{who}: {} — {}", diagnosis.cause, diagnosis.explanation),
            remediation: Some(diagnosis.remediation),
            evidence,
            inconclusive: diagnosis.inconclusive,
        }
    }
}

#[async_trait]
impl Check for Login {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let configured: Vec<AccountKind> = [AccountKind::App, AccountKind::Backup]
            .into_iter()
            .filter(|kind| kind.account(&ctx.target).is_ok())
            .collect();
        if configured.is_empty() {
            return Err(Stop::not_configured(format!(
                "no account to log in with: {}; for backups, also {}",
                ctx.target.how_to_set("sql", &["user"]),
                ctx.target.how_to_set("backup", &["user"])
            )));
        }
        let mut verdicts = Vec::new();
        let mut first_stop = None;
        let mut unverified = false;
        for kind in configured {
            // A configured account whose password cannot be had is not a
            // skip: the run cannot tell whether it logs in.
            if let Ok(account) = kind.account(&ctx.target)
                && let Credential::Missing { why, fix } = &account.password
            {
                verdicts.push(AccountVerdict {
                    status: Status::Error,
                    line: why.clone(),
                    remediation: Some(fix.clone()),
                    evidence: json!({
                        "account": kind.section(),
                        "user": account.user,
                        "password": "missing",
                    }),
                    inconclusive: true,
                });
                continue;
            }
            match login_of(ctx, kind).await {
                Ok(login) => {
                    unverified |= !login.tls_verified;
                    verdicts.push(judge(ctx, &login).await);
                }
                Err(stop) => {
                    first_stop.get_or_insert(stop);
                }
            }
        }
        if verdicts.is_empty() {
            return Err(first_stop.expect("an account was configured"));
        }
        let worst = verdicts
            .iter()
            .filter(|v| !v.inconclusive)
            .map(|v| v.status)
            .max_by_key(|s| match s {
                Status::Fail => 2,
                Status::Warn => 1,
                _ => 0,
            })
            .unwrap_or(Status::Pass);
        let lines: Vec<&str> = verdicts.iter().map(|v| v.line.as_str()).collect();
        if worst == Status::Pass && verdicts.iter().any(|v| v.inconclusive) {
            let fixes: Vec<&str> = verdicts
                .iter()
                .filter(|v| v.inconclusive)
                .filter_map(|v| v.remediation.as_deref())
                .collect();
            return Err(Stop::error(format!(
                "cannot tell whether every account can log in: {}. To fix: {}",
                lines.join("; "),
                fixes.join(" ")
            )));
        }
        let mut evidence = Map::new();
        for v in &verdicts {
            if let Some(account) = v.evidence.get("account").and_then(Value::as_str) {
                evidence.insert(account.to_owned(), v.evidence.clone());
            }
        }
        let mut finding = match worst {
            Status::Fail => Finding::fail(lines.join("; ")),
            _ => Finding::pass(lines.join("; ")),
        };
        let remediations: Vec<&str> = verdicts
            .iter()
            .filter_map(|v| v.remediation.as_deref())
            .collect();
        if !remediations.is_empty() {
            finding = finding.remediation(remediations.join("\n"));
        }
        if let Some(stop) = first_stop {
            finding = finding.note(format!("not every account was tried: {}", stop.reason()));
        }
        finding.evidence = evidence;
        if unverified {
            finding = finding.note(UNVERIFIED_NOTE);
        }
        Ok(finding)
    }
}

async fn judge(ctx: &RunContext, login: &SqlLogin) -> AccountVerdict {
    let who = format!("{} `{}`", login.account.describe(), login.user);
    let mut evidence = json!({
        "account": login.account.section(),
        "user": login.user,
        "auth": login.auth,
        "database": login.database,
        "millis": login.millis,
        "tls_verified": login.tls_verified,
    });
    let who_args = Who {
        user: &login.user,
        auth: login.auth,
        database: login.database.as_deref(),
        tls_name: ctx.target.expected_tls_name(),
    };
    match (&login.outcome, &login.database_refused) {
        (Ok(_), None) => {
            let place = login
                .database
                .as_deref()
                .map(|db| format!(" to `{db}`"))
                .unwrap_or_default();
            AccountVerdict {
                status: Status::Pass,
                line: format!("{who} logs in{place} ({} ms)", login.millis),
                remediation: None,
                evidence,
                inconclusive: false,
            }
        }
        (Ok(_), Some(refusal)) => {
            evidence["database_error"] = json!(refusal);
            let database = login.database.as_deref().unwrap_or_default();
            match database_presence(ctx, login.account).await {
                Ok(presence) if !presence.value.exists => AccountVerdict {
                    status: Status::Pass,
                    line: format!(
                        "{who} logs in; the database `{database}` does not exist yet (see sql.database)"
                    ),
                    remediation: None,
                    evidence,
                    inconclusive: false,
                },
                presence => {
                    if let Ok(p) = presence {
                        evidence["database_presence"] = json!(p.value);
                    }
                    let failure = LoginFailure::Server(refusal.clone());
                    AccountVerdict::failed(&who, diagnose(&failure, &who_args), evidence)
                }
            }
        }
        (Err(failure), _) => {
            evidence["failure"] = json!(failure);
            AccountVerdict::failed(&who, diagnose(failure, &who_args), evidence)
        }
    }
}
