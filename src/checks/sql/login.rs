//! sql.login: every configured account logs in, and a refusal is explained.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::diagnosis::{Diagnosis, Who, diagnose};
use crate::context::RunContext;
use crate::facts::sql::reads::database_presence;
use crate::facts::sql::{
    AccountKind, DatabasePresence, LoginFailure, ServerError, SqlLogin, UNVERIFIED_NOTE, login_of,
};
use crate::finding::{Finding, Outcome, Severity, Status, Stop};
use crate::registry::{Check, CheckMeta, Family};
use crate::target::{AuthKind, Credential};

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

/// What one configured account's login showed, as the judgement needs it.
enum Attempt {
    /// The account is configured but its password cannot be had.
    NoPassword {
        account: AccountKind,
        user: String,
        why: String,
        fix: String,
    },
    Tried(Box<Tried>),
    /// The login was not tried (a prerequisite stopped it).
    NotTried(Stop),
}

/// A login that was tried.
struct Tried {
    account: AccountKind,
    user: String,
    auth: AuthKind,
    database: Option<String>,
    millis: u64,
    tls_verified: bool,
    /// Why the login failed; `None` when it succeeded.
    failure: Option<LoginFailure>,
    /// The server refused the application database after the login.
    database_refused: Option<ServerError>,
    /// Whether that database exists, read when it was refused.
    presence: Option<Result<DatabasePresence, Stop>>,
}

#[async_trait]
impl Check for Login {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let mut attempts = Vec::new();
        for kind in [AccountKind::App, AccountKind::Backup] {
            let Ok(account) = kind.account(&ctx.target) else {
                continue;
            };
            if let Credential::Missing { why, fix } = &account.password {
                attempts.push(Attempt::NoPassword {
                    account: kind,
                    user: account.user.clone(),
                    why: why.clone(),
                    fix: fix.clone(),
                });
                continue;
            }
            attempts.push(match login_of(ctx, kind).await {
                Ok(login) => Attempt::Tried(Box::new(tried(ctx, &login).await)),
                Err(stop) => Attempt::NotTried(stop),
            });
        }
        let unconfigured = format!(
            "{}; for backups, also {}",
            ctx.target.how_to_set("sql", &["user"]),
            ctx.target.how_to_set("backup", &["user"])
        );
        judge(
            &attempts,
            ctx.target.expected_tls_name(),
            &unconfigured,
            self.meta.severity,
        )
    }
}

/// The facts of one login, with the database's presence when the server
/// refused the database.
async fn tried(ctx: &RunContext, login: &SqlLogin) -> Tried {
    let presence = match (&login.outcome, &login.database_refused) {
        (Ok(_), Some(_)) => Some(
            database_presence(ctx, login.account)
                .await
                .map(|read| read.value),
        ),
        _ => None,
    };
    Tried {
        account: login.account,
        user: login.user.clone(),
        auth: login.auth,
        database: login.database.clone(),
        millis: login.millis,
        tls_verified: login.tls_verified,
        failure: login.outcome.as_ref().err().cloned(),
        database_refused: login.database_refused.clone(),
        presence,
    }
}

/// The verdict on every configured account's login; `tls_name` is the name
/// the certificate must carry (for TLS failures' advice); `unconfigured`
/// says how to give an account when none is.
fn judge(attempts: &[Attempt], tls_name: &str, unconfigured: &str, severity: Severity) -> Outcome {
    if attempts.is_empty() {
        return Err(Stop::not_configured(format!(
            "no account to log in with: {unconfigured}"
        )));
    }
    let mut verdicts = Vec::new();
    let mut first_stop = None;
    let mut unverified = false;
    for attempt in attempts {
        match attempt {
            // A configured account whose password cannot be had is not a
            // skip: the run cannot tell whether it logs in.
            Attempt::NoPassword {
                account,
                user,
                why,
                fix,
            } => verdicts.push(AccountVerdict {
                status: Status::Error,
                line: why.clone(),
                remediation: Some(fix.clone()),
                evidence: json!({
                    "account": account.section(),
                    "user": user,
                    "password": "missing",
                }),
                inconclusive: true,
            }),
            Attempt::Tried(tried) => {
                unverified |= !tried.tls_verified;
                verdicts.push(judge_account(tried, tls_name));
            }
            Attempt::NotTried(stop) => {
                first_stop.get_or_insert(stop);
            }
        }
    }
    if verdicts.is_empty() {
        return Err(first_stop
            .cloned()
            .unwrap_or_else(|| Stop::error("no account's login was tried")));
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
        Status::Fail => Finding::problem(severity, lines.join("; ")),
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

/// One account's line of the verdict.
fn judge_account(login: &Tried, tls_name: &str) -> AccountVerdict {
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
        tls_name,
    };
    match (&login.failure, &login.database_refused) {
        (None, None) => {
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
        (None, Some(refusal)) => {
            evidence["database_error"] = json!(refusal);
            let database = login.database.as_deref().unwrap_or_default();
            match &login.presence {
                Some(Ok(presence)) if !presence.exists => AccountVerdict {
                    status: Status::Pass,
                    line: format!(
                        "{who} logs in; the database `{database}` does not exist yet (see sql.database)"
                    ),
                    remediation: None,
                    evidence,
                    inconclusive: false,
                },
                presence => {
                    if let Some(Ok(p)) = presence {
                        evidence["database_presence"] = json!(p);
                    }
                    let failure = LoginFailure::Server(refusal.clone());
                    AccountVerdict::failed(&who, diagnose(&failure, &who_args), evidence)
                }
            }
        }
        (Some(failure), _) => {
            evidence["failure"] = json!(failure);
            AccountVerdict::failed(&who, diagnose(failure, &who_args), evidence)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::verdicts::{finding, verdict};

    fn tried(account: AccountKind, failure: Option<LoginFailure>) -> Tried {
        Tried {
            account,
            user: "pmp".to_owned(),
            auth: AuthKind::Sql,
            database: Some("PassTrix".to_owned()),
            millis: 12,
            tls_verified: true,
            failure,
            database_refused: None,
            presence: None,
        }
    }

    fn attempt(tried: Tried) -> Attempt {
        Attempt::Tried(Box::new(tried))
    }

    fn refused(number: u32, state: u8) -> ServerError {
        ServerError {
            number,
            state,
            class: 14,
            message: "Login failed.".to_owned(),
            server: String::new(),
            procedure: String::new(),
        }
    }

    fn judged(attempts: Vec<Attempt>) -> Outcome {
        judge(
            &attempts,
            "sql01.corp.example",
            "pass --sql-user",
            Severity::Fail,
        )
    }

    fn no_password() -> Attempt {
        Attempt::NoPassword {
            account: AccountKind::Backup,
            user: "backup".to_owned(),
            why: "the backup account's password variable is not set".to_owned(),
            fix: "Set it.".to_owned(),
        }
    }

    #[test]
    fn login_verdicts() {
        let both = finding(judged(vec![
            attempt(tried(AccountKind::App, None)),
            attempt(tried(AccountKind::Backup, None)),
        ]));
        assert_eq!(both.status, Status::Pass);
        assert!(
            both.message.contains("logs in to `PassTrix` (12 ms)"),
            "{}",
            both.message
        );
        assert_eq!(both.evidence.len(), 2, "evidence per account");

        let wrong = finding(judged(vec![attempt(tried(
            AccountKind::App,
            Some(LoginFailure::Server(refused(18456, 8))),
        ))]));
        assert_eq!(wrong.status, Status::Fail);
        assert!(
            wrong.message.contains("wrong password"),
            "{}",
            wrong.message
        );
        assert!(wrong.remediation.is_some());

        let mut missing_db = tried(AccountKind::App, None);
        missing_db.database_refused = Some(refused(4060, 1));
        missing_db.presence = Some(Ok(DatabasePresence {
            exists: false,
            accessible: None,
        }));
        let not_yet = finding(judged(vec![attempt(missing_db)]));
        assert_eq!(not_yet.status, Status::Pass);
        assert!(
            not_yet.message.contains("does not exist yet"),
            "{}",
            not_yet.message
        );

        let mut no_access = tried(AccountKind::App, None);
        no_access.database_refused = Some(refused(4060, 1));
        no_access.presence = Some(Ok(DatabasePresence {
            exists: true,
            accessible: Some(false),
        }));
        let denied = finding(judged(vec![attempt(no_access)]));
        assert_eq!(denied.status, Status::Fail);
        assert_eq!(
            denied.evidence[AccountKind::App.section()]["database_presence"]["exists"],
            true
        );

        let mut unverified = tried(AccountKind::App, None);
        unverified.tls_verified = false;
        let marked = finding(judged(vec![
            attempt(unverified),
            Attempt::NotTried(Stop::not_configured("no backup destination")),
        ]));
        assert!(
            marked.notes.iter().any(|n| n == UNVERIFIED_NOTE),
            "{:?}",
            marked.notes
        );
        assert!(
            marked
                .notes
                .iter()
                .any(|n| n.starts_with("not every account was tried"))
        );
    }

    #[test]
    fn login_stops() {
        assert_eq!(verdict(&judged(Vec::new())), "skip:not_configured");
        let blocked = judged(vec![Attempt::NotTried(Stop::blocked(
            ["tls.handshake"],
            "no TLS",
        ))]);
        assert_eq!(verdict(&blocked), "skip:blocked");
        let silent = judged(vec![attempt(tried(
            AccountKind::App,
            Some(LoginFailure::Timeout { after_millis: 5000 }),
        ))]);
        assert_eq!(verdict(&silent), "error", "a timeout tells nothing");
        let half = judged(vec![attempt(tried(AccountKind::App, None)), no_password()]);
        assert_eq!(
            verdict(&half),
            "error",
            "a password that cannot be had: cannot tell"
        );
        let failed_anyway = judged(vec![
            attempt(tried(
                AccountKind::App,
                Some(LoginFailure::Server(refused(18456, 8))),
            )),
            no_password(),
        ]);
        assert_eq!(verdict(&failed_anyway), "fail");
    }
}
