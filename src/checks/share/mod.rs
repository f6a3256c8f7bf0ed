//! Backup destination checks: the backup account can write there the way a
//! backup does, there is room for the backups, and (intrusive, in
//! `sql_can_write`) SQL Server itself can write there. Whether the share's
//! server and the SQL host's WinRM answer are network checks (`checks::net`).

mod sql_can_write;

use std::sync::Arc;

use async_trait::async_trait;
use bytesize::ByteSize;

use crate::actions::share_write::{Access, ShareWriteProbe, WriteAttempt};
use crate::context::RunContext;
use crate::facts::share::{
    Cleanup, ConnectError, DatabaseSize, DestinationSpace, FsError, FsProblem, PROBE_BYTES,
    ProbeReport, SizeFigure, Space, Step, UncDestination,
};
use crate::finding::{Finding, Outcome, Severity, Stop};
use crate::registry::{Check, CheckMeta, Family, ParamRule};

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(ShareWrite::new()),
        Arc::new(ShareSpace::new()),
        Arc::new(sql_can_write::SqlCanWrite::new()),
    ]
}

pub struct ShareWrite {
    meta: CheckMeta,
}

impl ShareWrite {
    fn new() -> Self {
        ShareWrite {
            meta: CheckMeta::new("share.write", Family::Share, Severity::Fail)
                .title("The backup account can write to the backup destination")
                .checks("Logs on to the share as the backup account (SMB2/3 with NTLM, without mounting anything) and does what a backup does with a uniquely named probe file: create it (never overwriting anything), write, flush, read back and compare, rename and delete it. A local or mounted directory is probed the same way as the user running this tool. Probe files that a killed earlier run left behind are removed.")
                .why("Passwordstate writes its database and web-file backups to this destination as the backup account; \"Access Denied\" there is the most common reason backups fail.")
                .fix("Give the backup account Change on the share and Modify on the folder it is shared from; when the database is on another server, give the SQL Server computer account (HOST$) Change on the share too.")
                .guide("Passwordstate backup guide §2.5 (share permissions), §2.6 (folder permissions), §4.6 (Access Denied), §5 (permission matrix)"),
        }
    }
}

#[async_trait]
impl Check for ShareWrite {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let attempt = ctx.act(ShareWriteProbe).await?;
        let destination = ctx
            .target
            .backup
            .parsed_destination
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        match &attempt {
            WriteAttempt::NotConnected(failure) => {
                let unc = ctx.fact::<UncDestination>().await?;
                let user = ctx.target.backup_account()?.user.as_str();
                judge_not_connected(failure, &unc.share_path(), user, self.meta.severity)
            }
            WriteAttempt::Probed { access, report } => {
                judge(access, report, &destination, self.meta.severity)
            }
        }
    }
}

/// The verdict when the share could not be opened as `user`.
fn judge_not_connected(
    failure: &ConnectError,
    share: &str,
    user: &str,
    severity: Severity,
) -> Outcome {
    let ConnectError { step, error } = failure;
    if matches!(error.problem, FsProblem::TimedOut | FsProblem::Interrupted) {
        return Err(Stop::error(format!(
            "could not {} {share}: {error}",
            step.describe()
        )));
    }
    let advice = Advice::for_smb(error.problem, user, share);
    Ok(Finding::problem(
        severity,
        format!(
            "could not {} {share} as `{user}`: {} — {}",
            step.describe(),
            status_words(error),
            advice.meaning
        ),
    )
    .expected(format!("`{user}` logs on and opens {share}"))
    .actual(format!("{}: {error}", step.describe()))
    .remediation(advice.fix)
    .evidence("step", step)
    .evidence("error", error))
}

/// The verdict on the write probe's report.
fn judge(access: &Access, report: &ProbeReport, destination: &str, severity: Severity) -> Outcome {
    let who = match access {
        Access::Smb { user, dialect } => format!("as `{user}` over {dialect}"),
        Access::Local { .. } => "as the user running mssql-preflight".to_owned(),
    };
    let total_ms: u64 = report.completed.iter().map(|(_, ms)| ms).sum();
    let evidence = |f: Finding| {
        let f = f
            .evidence("access", access)
            .evidence("probe_file", &report.file)
            .evidence("completed_steps", &report.completed)
            .evidence("cleanup", &report.cleanup);
        let f = if report.stale_removed.is_empty() {
            f
        } else {
            f.evidence("stale_probe_files_removed", &report.stale_removed)
                .note(format!(
                    "removed {} probe file(s) an earlier, interrupted run left behind",
                    report.stale_removed.len()
                ))
        };
        if report.stale_left.is_empty() {
            f
        } else {
            f.evidence("stale_probe_files_left", &report.stale_left)
        }
    };
    let Some(failure) = &report.failure else {
        let done = format!(
            "created, wrote ({}), flushed, read back, renamed and deleted a probe file in {destination} {who} in {total_ms} ms",
            ByteSize(PROBE_BYTES as u64).display().iec()
        );
        if !report.stale_left.is_empty() {
            let names: Vec<&str> = report.stale_left.iter().map(|(n, _)| n.as_str()).collect();
            return Ok(evidence(
                Finding::problem(
                    Severity::Warn,
                    format!(
                        "{done}, but could not remove probe files an earlier run left behind: {}",
                        names.join(", ")
                    ),
                )
                .remediation(format!(
                    "Delete these files from {destination} by hand: {}",
                    names.join(", ")
                )),
            ));
        }
        return Ok(evidence(Finding::pass(done)));
    };

    let cleanup_words = match &report.cleanup {
        Cleanup::NotNeeded => String::new(),
        Cleanup::Removed { .. } => " The probe file was removed.".to_owned(),
        Cleanup::Failed { names, error } => format!(
            " The probe file could not be removed ({error}): delete {} from {destination} by hand.",
            names.join(" or ")
        ),
    };
    let step = failure.step;
    let error = &failure.error;
    if matches!(error.problem, FsProblem::Interrupted | FsProblem::TimedOut) {
        return Err(Stop::error(format!(
            "stopped while trying to {} in {destination}: {error}.{cleanup_words}",
            step.describe()
        )));
    }
    let advice = match access {
        Access::Smb { user, .. } => Advice::for_smb(error.problem, user, destination),
        Access::Local { path } => Advice::for_local(error.problem, &path.display().to_string()),
    };
    let kept_or_changed =
        step == Step::Compare || (step == Step::ConfirmGone && error.problem == FsProblem::Other);
    let advice = if kept_or_changed {
        Advice {
            meaning: "the destination does not keep data the way it was written".to_owned(),
            fix: format!(
                "Check the storage behind {destination}: a filter driver, antivirus, deduplication or a retention policy may be changing or keeping files."
            ),
        }
    } else {
        advice
    };
    Ok(evidence(
        Finding::problem(
            severity,
            format!(
                "could not {} in {destination} {who}: {} — {}.{cleanup_words}",
                step.describe(),
                status_words(error),
                advice.meaning
            ),
        )
        .expected("create, write, flush, read back, rename and delete a file")
        .actual(format!("failed to {}: {error}", step.describe()))
        .remediation(advice.fix)
        .evidence("failed_step", step)
        .evidence("error", error),
    ))
}

/// The server's status name, or the OS's words, for a message.
fn status_words(error: &FsError) -> String {
    match &error.status {
        Some(status) => status.clone(),
        None => error.detail.clone(),
    }
}

/// What an error means and what to do about it.
struct Advice {
    meaning: String,
    fix: String,
}

impl Advice {
    fn for_smb(problem: FsProblem, user: &str, place: &str) -> Advice {
        let (meaning, fix) = match problem {
            FsProblem::AccessDenied | FsProblem::ReadOnly => (
                format!("`{user}` is not allowed to do this there"),
                format!(
                    "Give `{user}` Change on the share (folder Properties → Sharing → Advanced Sharing → Permissions) and Modify on the folder it is shared from (Properties → Security), as the Passwordstate backup guide §2.5 and §2.6 describe; when the database is on another server, give the SQL Server's computer account (HOST$) Change on the share too (§5). In PowerShell on the file server: `Grant-SmbShareAccess -Name <share> -AccountName '{user}' -AccessRight Change -Force` and `icacls <shared folder> /grant '{user}:(OI)(CI)M'`."
                ),
            ),
            FsProblem::LogonFailure => (
                "the user name or password is wrong".to_owned(),
                format!(
                    "Check the password of `{user}` (guide §4.6 step 1: open its Password Record in Passwordstate and click the heartbeat icon), that the account is not locked out in Active Directory (step 2: `Get-ADUser <name> -Properties LockedOut`, `Unlock-ADAccount <name>`), and that no policy denies it network logon on the file server (step 3: secpol.msc → User Rights Assignment → \"Access this computer from the network\" / \"Deny access to this computer from the network\")."
                ),
            ),
            FsProblem::AccountUnusable => (
                "the account may not log on now (locked out, disabled, expired, or denied by policy)".to_owned(),
                format!(
                    "Unlock or re-enable `{user}` in Active Directory (`Unlock-ADAccount`, `Enable-ADAccount`), set a new password if it expired, and check the logon rights on the file server in secpol.msc (Passwordstate backup guide §4.6 steps 2–3)."
                ),
            ),
            FsProblem::ShareNotFound => (
                "the share does not exist on that server".to_owned(),
                format!(
                    "Check the share name in `destination` ({place}); on the file server `Get-SmbShare` lists the shares. To create it: `New-SmbShare -Name <share> -Path <folder> -ChangeAccess '{user}'` (guide §2.5)."
                ),
            ),
            FsProblem::PathNotFound => (
                "a folder in the path does not exist".to_owned(),
                format!("Create the folder in the share, or correct `destination` ({place})."),
            ),
            FsProblem::NotADirectory => (
                "the destination is a file, not a folder".to_owned(),
                format!("Point `destination` at a folder; {place} is a file."),
            ),
            FsProblem::DiskFull => (
                "there is no space left (or the account's quota is used up)".to_owned(),
                format!("Free space on the volume behind {place}, raise `{user}`'s quota, or choose another destination."),
            ),
            FsProblem::AlreadyExists => (
                "a file of that name already exists (it was not touched)".to_owned(),
                "Run again: probe file names are unique, so this is a coincidence or an unusual server.".to_owned(),
            ),
            FsProblem::ConnectionLost => (
                "the connection to the file server broke".to_owned(),
                "Check the network between here and the file server, and the server's event log (Microsoft-Windows-SMBServer).".to_owned(),
            ),
            FsProblem::TimedOut | FsProblem::Interrupted | FsProblem::Other => (
                "the server refused the operation".to_owned(),
                "Look up the status above in the file server's documentation and its event log (Microsoft-Windows-SMBServer).".to_owned(),
            ),
        };
        Advice { meaning, fix }
    }

    fn for_local(problem: FsProblem, path: &str) -> Advice {
        let (meaning, fix) = match problem {
            FsProblem::AccessDenied | FsProblem::ReadOnly => (
                "the user running mssql-preflight may not write there".to_owned(),
                format!(
                    "Grant write and delete access on {path} to the account that writes the backups (e.g. `chown backup: {path}` or `setfacl -m u:backup:rwx {path}`; on a CIFS mount, the mount's credentials decide), or probe the UNC path instead so the backup account's own rights are tested."
                ),
            ),
            FsProblem::PathNotFound => (
                "the directory does not exist".to_owned(),
                format!(
                    "Create {path} (`mkdir -p {path}`), mount the share there, or correct `destination`."
                ),
            ),
            FsProblem::NotADirectory => (
                "the destination is a file, not a directory".to_owned(),
                format!("Point `destination` at a directory; {path} is a file."),
            ),
            FsProblem::DiskFull => (
                "there is no space left on the volume".to_owned(),
                format!(
                    "Free space on the volume holding {path} (`df -h {path}`), or choose another destination."
                ),
            ),
            _ => (
                "the operating system refused the operation".to_owned(),
                format!("Check {path} and the volume it is on (`df -h {path}`, `dmesg`)."),
            ),
        };
        Advice { meaning, fix }
    }
}

pub struct ShareSpace {
    meta: CheckMeta,
}

impl ShareSpace {
    fn new() -> Self {
        ShareSpace {
            meta: CheckMeta::new("share.space", Family::Share, Severity::Warn)
                .title("The backup destination has room for the backups")
                .checks("Reads the free space at the destination (SMB QUERY_INFO FileFsFullSizeInformation as the backup account, or statvfs for a local directory) and compares it with the database's size: less than the size fails, less than `min_ratio` times the size warns.")
                .why("A full destination makes backups fail, and a destination with room for barely one backup cannot keep the number of backups Passwordstate is set to retain.")
                .fix("Free space on the destination's volume, lower the number of backups kept (Administration → Backups and Upgrades → Settings), or choose a larger destination.")
                .guide("Passwordstate backup guide §3 (backup settings: paths and number of backups)")
                .param("min_ratio", 2.0, "warn when free space is below this many times the database's size")
                .rule(ParamRule::Positive),
        }
    }
}

/// The parameters of ShareSpace, named as in its metadata (where their
/// defaults are).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceParams {
    min_ratio: f64,
}

#[async_trait]
impl Check for ShareSpace {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let space = ctx.fact::<DestinationSpace>().await?;
        let size = ctx.fact::<DatabaseSize>().await?;
        let SpaceParams { min_ratio: ratio } = ctx.params(&self.meta)?;
        Ok(judge_space(&space, &size, ratio, self.meta.severity))
    }
}

/// The verdict on the free space at the destination against the database's
/// size: less than one backup fails, less than `ratio` backups is a problem.
fn judge_space(space: &Space, size: &SizeFigure, ratio: f64, severity: Severity) -> Finding {
    let free = space.available_bytes;
    let shown = |b: u64| ByteSize(b).display().iec().to_string();
    let wanted = (size.bytes as f64 * ratio).ceil() as u64;
    let base = |f: Finding| {
        f.evidence("available_bytes", free)
            .evidence("total_bytes", space.total_bytes)
            .evidence("database_bytes", size.bytes)
            .evidence("database_size_source", size.source)
            .evidence("min_ratio", ratio)
            .note(format!("the database's size comes from {}", size.source))
    };
    let expected = format!(
        "at least {} free ({ratio} × the database's {})",
        shown(wanted),
        shown(size.bytes)
    );
    if free < size.bytes {
        return base(
            Finding::problem(
                Severity::Fail,
                format!(
                    "only {} free at the destination: less than one backup of the {} database",
                    shown(free),
                    shown(size.bytes)
                ),
            )
            .expected(expected)
            .actual(format!("{} free", shown(free))),
        );
    }
    if free < wanted {
        return base(
            Finding::problem(
                severity,
                format!(
                    "{} free at the destination: room for fewer than {ratio} backups of the {} database",
                    shown(free),
                    shown(size.bytes)
                ),
            )
            .expected(expected)
            .actual(format!("{} free", shown(free))),
        );
    }
    base(Finding::pass(format!(
        "{} free at the destination, {:.1} × the database's {}",
        shown(free),
        free as f64 / size.bytes.max(1) as f64,
        shown(size.bytes)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_params_match_the_metadata() {
        use crate::checks::verdicts::default_params;
        let SpaceParams { min_ratio } = default_params(&ShareSpace::new().meta);
        assert_eq!(min_ratio, 2.0);
    }
    use crate::checks::verdicts::{finding, verdict};
    use crate::facts::share::{ConnectStep, StepFailure};
    use crate::finding::Status;

    const GIB: u64 = 1 << 30;

    #[test]
    fn space_verdicts() {
        let size = SizeFigure {
            bytes: 10 * GIB,
            source: "the target file",
        };
        let judge = |free: u64| {
            let space = Space {
                available_bytes: free,
                total_bytes: 100 * GIB,
            };
            judge_space(&space, &size, 2.0, Severity::Warn)
        };
        let roomy = judge(50 * GIB);
        assert_eq!(roomy.status, Status::Pass);
        assert!(roomy.message.contains("5.0 ×"), "{}", roomy.message);
        assert_eq!(
            roomy.notes,
            ["the database's size comes from the target file"]
        );
        let tight = judge(15 * GIB);
        assert_eq!(tight.status, Status::Warn);
        assert_eq!(
            tight.expected.as_deref(),
            Some("at least 20.0 GiB free (2 × the database's 10.0 GiB)")
        );
        let full = judge(5 * GIB);
        assert_eq!(
            full.status,
            Status::Fail,
            "less than one backup fails whatever the severity"
        );
        assert!(
            full.message.contains("less than one backup"),
            "{}",
            full.message
        );
    }

    fn report(failure: Option<StepFailure>, cleanup: Cleanup) -> ProbeReport {
        ProbeReport {
            file: ".mssql-preflight-probe-1".to_owned(),
            renamed: ".mssql-preflight-probe-1.renamed".to_owned(),
            completed: vec![(Step::Create, 3), (Step::Write, 2)],
            failure,
            cleanup,
            stale_removed: Vec::new(),
            stale_left: Vec::new(),
        }
    }

    fn failed(step: Step, problem: FsProblem) -> Option<StepFailure> {
        Some(StepFailure {
            step,
            error: FsError::new(problem, "refused"),
        })
    }

    fn smb() -> Access {
        Access::Smb {
            user: r"CORP\svc-backup".to_owned(),
            dialect: "SMB 3.1.1".to_owned(),
        }
    }

    #[test]
    fn write_verdicts() {
        let destination = r"\\files01\backups";
        let judge = |access: &Access, report: &ProbeReport| {
            judge(access, report, destination, Severity::Fail)
        };
        let done = finding(judge(&smb(), &report(None, Cleanup::NotNeeded)));
        assert_eq!(done.status, Status::Pass);
        assert!(
            done.message.contains("over SMB 3.1.1 in 5 ms"),
            "{}",
            done.message
        );

        let mut stale = report(None, Cleanup::NotNeeded);
        stale.stale_removed = vec!["old-1".to_owned()];
        stale.stale_left = vec![("old-2".to_owned(), "access denied".to_owned())];
        let left = finding(judge(&smb(), &stale));
        assert_eq!(left.status, Status::Warn);
        assert!(left.remediation.unwrap().contains("old-2"));
        assert_eq!(left.notes.len(), 1, "removed stale files are noted");

        let denied = finding(judge(
            &smb(),
            &report(
                failed(Step::Create, FsProblem::AccessDenied),
                Cleanup::NotNeeded,
            ),
        ));
        assert_eq!(denied.status, Status::Fail);
        assert!(denied.remediation.unwrap().contains("Grant-SmbShareAccess"));

        let changed = finding(judge(
            &smb(),
            &report(
                failed(Step::Compare, FsProblem::Other),
                Cleanup::Failed {
                    names: vec![".mssql-preflight-probe-1".to_owned()],
                    error: FsError::new(FsProblem::Other, "sharing violation"),
                },
            ),
        ));
        assert!(
            changed.message.contains("delete .mssql-preflight-probe-1"),
            "{}",
            changed.message
        );
        assert!(changed.remediation.unwrap().contains("antivirus"));

        let local = Access::Local {
            path: "/srv/backups".into(),
        };
        let missing = finding(judge(
            &local,
            &report(
                failed(Step::OpenFolder, FsProblem::PathNotFound),
                Cleanup::NotNeeded,
            ),
        ));
        assert!(
            missing
                .remediation
                .unwrap()
                .contains("mkdir -p /srv/backups")
        );

        let slow = judge(
            &smb(),
            &report(failed(Step::Flush, FsProblem::TimedOut), Cleanup::NotNeeded),
        );
        assert_eq!(verdict(&slow), "error");
    }

    #[test]
    fn connection_verdicts() {
        let judge = |step, problem| {
            judge_not_connected(
                &ConnectError {
                    step,
                    error: FsError::new(problem, "refused"),
                },
                r"\\files01\backups",
                r"CORP\svc-backup",
                Severity::Fail,
            )
        };
        let wrong_password = finding(judge(ConnectStep::LogOn, FsProblem::LogonFailure));
        assert_eq!(wrong_password.status, Status::Fail);
        assert!(
            wrong_password.message.contains("password is wrong"),
            "{}",
            wrong_password.message
        );
        let no_share = finding(judge(ConnectStep::OpenShare, FsProblem::ShareNotFound));
        assert!(no_share.remediation.unwrap().contains("New-SmbShare"));
        assert_eq!(
            verdict(&judge(ConnectStep::Connect, FsProblem::TimedOut)),
            "error"
        );
    }
}
