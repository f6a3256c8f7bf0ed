//! share.sql-can-write (intrusive): SQL Server's own service account can
//! write backups to the destination, proven by a COPY_ONLY test backup.

use async_trait::async_trait;

use crate::actions::test_backup::{BackupFailure, TestBackup, TestBackupRun};
use crate::context::RunContext;
use crate::facts::share::{BackupDestination, Destination, ShareSession};
use crate::facts::sql::{OsError, ServerError, ServerFacts, ServerInfo};
use crate::finding::{Finding, Outcome, Severity, Stop};
use crate::registry::{Check, CheckMeta, Family, ParamRule};

pub struct SqlCanWrite {
    meta: CheckMeta,
}

impl SqlCanWrite {
    pub(super) fn new() -> Self {
        SqlCanWrite {
            meta: CheckMeta::new("share.sql-can-write", Family::Share, Severity::Fail)
                .title("SQL Server itself can write backups to the destination")
                .checks("Runs BACKUP DATABASE … TO DISK = '<destination>\\.mssql-preflight-probe-<started>-<uuid>-sql-backup.tmp' WITH COPY_ONLY (a copy that never disturbs the backup chain), then removes the file. Only with --intrusive.")
                .why("The backup file is written by the SQL Server service account, not by the backup account: the share must let that account (or the computer account) write, which only a real backup proves.")
                .fix("Grant the SQL Server service account (or, for the default virtual account, the computer account DOMAIN\\HOST$) Change on the share and Modify on the folder.")
                .guide("Passwordstate guide §2.5 (Change for the SQL Server computer object), §4.6 (Access Denied) and §5")
                .param(
                    "timeout_seconds",
                    45,
                    "how long the test backup may take; keep it below the run's --deadline (60 s by default)",
                )
                .rule(ParamRule::Positive)
                .intrusive(),
        }
    }
}

/// The parameters of SqlCanWrite, named as in its metadata (where their
/// defaults are).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlCanWriteParams {
    timeout_seconds: u64,
}

#[async_trait]
impl Check for SqlCanWrite {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let destination = ctx.fact::<BackupDestination>().await?;
        let database = ctx.target.database()?;
        if let Err(why) = removable(ctx, &destination).await {
            return Err(Stop::blocked(
                ["share.write"],
                format!(
                    "the test backup was not written, because this machine could not remove it afterwards: {why}"
                ),
            ));
        }
        let info = ctx.fact::<ServerFacts>().await?;
        if !info.platform.native_backup_to_disk() {
            return Err(Stop::not_applicable(format!(
                "{} does not allow BACKUP … TO DISK; see sql.platform",
                info.platform.describe()
            )));
        }
        let SqlCanWriteParams {
            timeout_seconds: limit,
        } = ctx.params(&self.meta)?;
        let run = ctx
            .act(TestBackup {
                database,
                destination: &destination,
                limit: std::time::Duration::from_secs(limit),
            })
            .await?;
        judge_test_backup(&self.meta, database, &destination.to_string(), &info, &run)
    }
}

/// The verdict on SQL Server's test backup to `destination`.
fn judge_test_backup(
    meta: &CheckMeta,
    database: &str,
    destination: &str,
    info: &ServerInfo,
    run: &TestBackupRun,
) -> Outcome {
    let TestBackupRun {
        file,
        statement,
        by,
        result,
        cleanup,
    } = run;
    let removed = cleanup.as_ref().ok().copied();
    let evidence = |f: Finding| {
        f.evidence("file", file)
            .evidence("statement", statement)
            .evidence("as", &by.user)
            .evidence("removed", removed)
    };
    let finding = match result {
        Ok(()) => Finding::pass(format!(
            "SQL Server wrote a COPY_ONLY backup of `{database}` to {destination}"
        )),
        Err(BackupFailure::Server(error)) if error.number == 262 => {
            return Err(Stop::blocked(
                ["sql.perm.backup"],
                format!(
                    "`{}` may not back up `{database}` (error 262), so SQL Server's own access to the destination could not be tested; see sql.perm.backup",
                    by.user
                ),
            ));
        }
        Err(BackupFailure::Server(error)) => {
            let (what, fix) = explain_backup_error(error, destination, info);
            Finding::problem(meta.severity, format!("{what} (server: {})", error.message))
                .remediation(fix)
                .evidence("error", error)
        }
        Err(BackupFailure::Unfinished(why)) => {
            return Err(Stop::error(format!(
                "the test backup did not finish: {why}{}",
                match cleanup {
                    Ok(_) => String::new(),
                    Err(stop) => format!("; {}: delete {file} by hand", stop.reason()),
                }
            )));
        }
    };
    let finding = match cleanup {
        Ok(_) => finding,
        Err(stop) => Finding::problem(
            meta.severity,
            format!("{}; but {}", finding.message, stop.reason()),
        )
        .remediation(format!("Delete the test file by hand: {file}")),
    };
    Ok(by.mark(evidence(finding)))
}

/// Whether this machine can remove a file SQL Server writes to `destination`:
/// a local or mounted directory it sees, or a share the backup account can
/// open over SMB.
async fn removable(ctx: &RunContext, destination: &Destination) -> Result<(), String> {
    match destination {
        Destination::Local { path } if path.is_dir() => Ok(()),
        Destination::Local { path } => Err(format!(
            "{} is not a directory this machine can see; run the check on the SQL Server machine, or give a UNC path or a mounted directory",
            path.display()
        )),
        Destination::Unc(unc) => match ctx.fact::<ShareSession>().await {
            Ok(session) => match session.as_ref() {
                Ok(_) => Ok(()),
                Err(e) => Err(format!(
                    "the backup account cannot {} {unc} ({}); see share.write",
                    e.step.describe(),
                    e.error
                )),
            },
            Err(stop) => Err(stop.reason().to_owned()),
        },
    }
}

fn explain_backup_error(
    error: &ServerError,
    destination: &str,
    info: &ServerInfo,
) -> (String, String) {
    let account = info
        .service_accounts
        .visible()
        .and_then(|services| services.iter().find(|s| s.name.starts_with("SQL Server (")))
        .map(|s| s.account.clone())
        .unwrap_or_else(|| "the SQL Server service account".to_owned());
    let computer = info
        .machine_name
        .as_deref()
        .map(|m| format!("{m}$"))
        .unwrap_or_else(|| "the SQL Server computer account".to_owned());
    match error.os_error() {
        Some(OsError::AccessDenied) => (
            format!("SQL Server's service account ({account}) may not write to {destination}"),
            format!(
                "Grant {account} (for a built-in account, the computer account {computer}) Change on the share and Modify on the folder."
            ),
        ),
        Some(OsError::NotFound(_)) => (
            format!("SQL Server cannot find {destination}"),
            "Check the path as the SQL Server machine sees it: the server and share names, that the folder exists, and that the SQL Server host resolves and reaches the file server.".to_owned(),
        ),
        Some(OsError::DiskFull) => (
            format!("there is not enough space at {destination}"),
            "Free space at the destination or point the backups elsewhere.".to_owned(),
        ),
        Some(OsError::Other(_)) | None => (
            "SQL Server could not write the test backup".to_owned(),
            "Read the server's message; the SQL Server error log has the details.".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_can_write_params_match_the_metadata() {
        use crate::checks::verdicts::default_params;
        let SqlCanWriteParams { timeout_seconds } = default_params(&SqlCanWrite::new().meta);
        assert!(timeout_seconds > 0);
    }
    use crate::facts::sql::reads::read_as;
    use crate::facts::sql::{AccountKind, Platform, server_info_for_tests};
    use crate::finding::{SkipKind, Status};

    #[test]
    fn test_backup_verdicts() {
        let meta = SqlCanWrite::new().meta;
        let info = server_info_for_tests(Platform::SqlServer);
        let run = |result, cleanup| TestBackupRun {
            file: r"\\nas01\backups\probe.tmp".to_owned(),
            statement: "BACKUP DATABASE …".to_owned(),
            by: read_as(AccountKind::Backup, "pback", Some("Passwordstate"), ()).by,
            result,
            cleanup,
        };
        let error = |number, message: &str| {
            BackupFailure::Server(ServerError {
                number,
                state: 1,
                class: 16,
                message: message.to_owned(),
                server: String::new(),
                procedure: String::new(),
            })
        };
        let judge = |r: &TestBackupRun| {
            judge_test_backup(&meta, "Passwordstate", r"\\nas01\backups", &info, r)
        };
        let written = judge(&run(Ok(()), Ok(true))).unwrap();
        assert_eq!(written.status, Status::Pass);
        assert_eq!(written.evidence["removed"], true);
        let no_permission = judge(&run(
            Err(error(262, "BACKUP DATABASE permission denied")),
            Ok(false),
        ))
        .unwrap_err();
        let skip = no_permission.skip().expect("a skip");
        assert_eq!(skip.kind, SkipKind::Blocked);
        assert_eq!(skip.by, ["sql.perm.backup"]);
        let denied = judge(&run(
            Err(error(
                3201,
                "Cannot open backup device. Operating system error 5(Access is denied.).",
            )),
            Ok(false),
        ))
        .unwrap();
        assert_eq!(denied.status, Status::Fail);
        assert!(
            denied.message.contains(r"CORP\svc-sql"),
            "{}",
            denied.message
        );
        assert!(denied.remediation.unwrap().contains("SQL01$"));
        // The other failures the server reports are failures too, each
        // explained from the operating system error in its message.
        for (message, says) in [
            (
                "Cannot open backup device. Operating system error 53(The network path was not found.).",
                "cannot find",
            ),
            (
                "Write on backup device failed. Operating system error 112(There is not enough space on the disk.).",
                "not enough space",
            ),
            (
                "BACKUP DATABASE is terminating abnormally.",
                "could not write the test backup",
            ),
        ] {
            let failed = judge(&run(Err(error(3201, message)), Ok(false))).unwrap();
            assert_eq!(failed.status, Status::Fail);
            assert!(failed.message.contains(says), "{}", failed.message);
        }
        let unfinished = judge(&run(
            Err(BackupFailure::Unfinished(
                "no answer within 45 s".to_owned(),
            )),
            Err(Stop::error("could not remove probe.tmp")),
        ))
        .unwrap_err();
        assert_eq!(unfinished.status(), Status::Error);
        assert!(
            unfinished.reason().contains("delete"),
            "{}",
            unfinished.reason()
        );
        let left_behind =
            judge(&run(Ok(()), Err(Stop::error("could not remove probe.tmp")))).unwrap();
        assert_eq!(left_behind.status, Status::Fail);
        assert!(
            left_behind
                .remediation
                .unwrap()
                .contains("Delete the test file by hand")
        );
    }
}
