//! What backups need from SQL Server: the backup account in
//! db_backupoperator with BACKUP DATABASE permission, a recent full backup on
//! record, and (intrusive) SQL Server's own service account able to write to
//! the backup destination.

use async_trait::async_trait;

use super::query_stop;
use crate::context::RunContext;
use crate::facts::share::{BackupDestination, ShareSession, remove_from_destination};
use crate::facts::sql::{
    AccountKind, ServerFacts, SqlLogin, SqlSession, any_session, login_of, session_of,
};
use crate::finding::{Finding, Outcome, Severity, Stop};
use crate::probe::destination::Destination;
use crate::probe::sql::{QueryFailure, ident, literal};
use crate::probe::write_probe::ProbeName;
use crate::registry::{Check, CheckMeta, Family, ParamRule};

/// The statements that put `user` into db_backupoperator of `database`.
fn grant_role(database: &str, user: &str, create_user: bool) -> String {
    let login = ident(user);
    let create = if create_user {
        format!("CREATE USER {login} FOR LOGIN {login}; ")
    } else {
        String::new()
    };
    format!(
        "USE {}; {create}ALTER ROLE [db_backupoperator] ADD MEMBER {login};",
        ident(database)
    )
}

pub struct BackupOperatorRole {
    meta: CheckMeta,
}

impl BackupOperatorRole {
    pub(super) fn new() -> Self {
        BackupOperatorRole {
            meta: CheckMeta::new("sql.role.backup-operator", Family::Sql, Severity::Fail)
                .title("The backup account is in db_backupoperator")
                .checks("Logged in as the backup account, asks IS_ROLEMEMBER('db_backupoperator') in the application database; when the backup account cannot log in here, asks sys.database_role_members through the application account instead (which needs VIEW DEFINITION).")
                .why("Passwordstate backs up its database as the backup account; without db_backupoperator (or db_owner) BACKUP DATABASE is refused.")
                .fix("USE [<database>]; CREATE USER [<backup account>] FOR LOGIN [<backup account>]; ALTER ROLE [db_backupoperator] ADD MEMBER [<backup account>];")
                .guide("Passwordstate guide §2.7 (db_backupoperator for the backup account) and §5 (permission matrix)"),
        }
    }
}

#[async_trait]
impl Check for BackupOperatorRole {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let database = ctx.target.database()?;
        let account = AccountKind::Backup.account(&ctx.target)?;
        let user = account.user.as_str();
        let own = login_of(ctx, AccountKind::Backup).await;
        if let Ok(login) = &own
            && let Ok(session) = login.session()
        {
            return as_backup_account(&self.meta, login, session, database).await;
        }
        // The backup account has no session here: ask on its behalf.
        let why_not = match &own {
            Ok(login) => login
                .session()
                .err()
                .map(|s| s.reason().to_owned())
                .unwrap_or_default(),
            Err(stop) => stop.reason().to_owned(),
        };
        let admin = session_of(ctx, AccountKind::App).await.map_err(|stop| {
            Stop::blocked(["sql.login"], format!(
                "cannot check: the backup account has no session ({why_not}) and the application account has none either ({})",
                stop.reason()
            ))
        })?;
        let session = admin.session()?;
        on_behalf(&self.meta, session, database, user)
            .await
            .map(|f| {
                f.note(format!(
                    "checked through `{}` because the backup account could not log in: {why_not}",
                    session.user
                ))
            })
    }
}

pub const ROLE_QUERY: &str = "SELECT IS_ROLEMEMBER(N'db_backupoperator') AS backup_operator, IS_ROLEMEMBER(N'db_owner') AS db_owner, IS_SRVROLEMEMBER(N'sysadmin') AS sysadmin";

async fn as_backup_account(
    meta: &CheckMeta,
    login: &SqlLogin,
    session: &SqlSession,
    database: &str,
) -> Outcome {
    let user = &session.user;
    if session.database.is_none() {
        // Logged in, but the database was refused: is there a user for it?
        let presence = session
            .database_presence(database)
            .await
            .map_err(|e| query_stop(session, "whether the database exists", e, "no permission"))?;
        if !presence.exists {
            return Err(Stop::blocked(
                ["sql.database"],
                format!("the database `{database}` does not exist; see sql.database"),
            ));
        }
        return Ok(session.mark(
            Membership::NoUser
                .finding(meta, user, database)
                .evidence("login_refused_database", &login.database_refused),
        ));
    }
    let set = session
        .rows(ROLE_QUERY)
        .await
        .map_err(|e| query_stop(session, "the backup account's roles", e, "no permission"))?;
    let yes = |column: &str| set.get(0, column).as_bool() == Some(true);
    let finding = if yes("backup_operator") {
        Membership::Operator.finding(meta, user, database)
    } else if yes("db_owner") || yes("sysadmin") {
        let via = if yes("sysadmin") {
            "sysadmin"
        } else {
            "db_owner"
        };
        Membership::Broader(via)
            .finding(meta, user, database)
            .note("the guide asks for db_backupoperator only; a narrower role limits what a stolen backup password can do")
    } else {
        Membership::NotMember("not a member".to_owned()).finding(meta, user, database)
    };
    Ok(session.mark(finding.evidence("roles", set.to_json_rows())))
}

pub fn backup_permission_query(database: &str) -> String {
    format!(
        "SELECT HAS_PERMS_BY_NAME({}, N'DATABASE', N'BACKUP DATABASE') AS can_backup",
        literal(database)
    )
}

/// The intrusive check's backup: a copy that never disturbs the chain.
pub fn copy_only_backup(database: &str, file: &str) -> String {
    format!(
        "BACKUP DATABASE {} TO DISK = {} WITH COPY_ONLY",
        ident(database),
        literal(file)
    )
}

pub fn members_query(user: &str) -> String {
    format!(
        "SELECT HAS_PERMS_BY_NAME(DB_NAME(), N'DATABASE', N'VIEW DEFINITION') AS can_view; \
         SELECT u.name AS user_name, r.name AS role_name FROM sys.database_principals AS u \
         LEFT JOIN sys.database_role_members AS m ON m.member_principal_id = u.principal_id \
         LEFT JOIN sys.database_principals AS r ON r.principal_id = m.role_principal_id \
         WHERE u.sid = SUSER_SID({})",
        literal(user)
    )
}

async fn on_behalf(meta: &CheckMeta, session: &SqlSession, database: &str, user: &str) -> Outcome {
    if session.database.as_deref().is_none() {
        return Err(Stop::blocked(
            ["sql.login"],
            format!(
                "cannot check: the backup account could not log in and `{}` cannot open `{database}` either",
                session.user
            ),
        ));
    }
    let sets = session
        .results(&members_query(user))
        .await
        .map_err(|e| query_stop(session, "the database's role members", e, "VIEW DEFINITION"))?;
    let can_view = sets
        .first()
        .and_then(|s| s.scalar())
        .and_then(|v| v.as_bool())
        == Some(true);
    if !can_view {
        return Err(Stop::blocked(
            ["sql.login"],
            format!(
                "cannot check: the backup account could not log in, and `{}` lacks VIEW DEFINITION in `{database}` to see its roles",
                session.user
            ),
        ));
    }
    let members = sets.get(1).cloned().unwrap_or_default();
    let roles: Vec<String> = (0..members.rows.len())
        .filter_map(|row| members.get(row, "role_name").as_text())
        .collect();
    let has = |role: &str| roles.iter().any(|r| r.eq_ignore_ascii_case(role));
    let membership = if members.rows.is_empty() {
        Membership::NoUser
    } else if has("db_backupoperator") {
        Membership::Operator
    } else if has("db_owner") {
        Membership::Broader("db_owner")
    } else if roles.is_empty() {
        Membership::NotMember("no role".to_owned())
    } else {
        Membership::NotMember(roles.join(", "))
    };
    Ok(session.mark(
        membership
            .finding(meta, user, database)
            .evidence("roles", &roles),
    ))
}

/// Where the backup account stands in the database, however that was found
/// out (as the account itself, or through the application account).
enum Membership {
    /// The login has no user in the database.
    NoUser,
    /// A member of db_backupoperator.
    Operator,
    /// Not a member, but in this role that may back up too.
    Broader(&'static str),
    /// Not a member; what it has instead, in words.
    NotMember(String),
}

impl Membership {
    fn finding(self, meta: &CheckMeta, user: &str, database: &str) -> Finding {
        let missing = |message: String, actual: String, create_user: bool| {
            Finding::problem(meta.severity, message)
                .expected("db_backupoperator")
                .actual(actual)
                .remediation(grant_role(database, user, create_user))
        };
        match self {
            Membership::NoUser => missing(
                format!("`{user}` has no user in `{database}`, so it is not in db_backupoperator"),
                "no database user".to_owned(),
                true,
            ),
            Membership::Operator => {
                Finding::pass(format!("`{user}` is in db_backupoperator of `{database}`"))
            }
            Membership::Broader(role) => Finding::pass(format!(
                "`{user}` may back up `{database}` as {role}, more than the db_backupoperator it needs"
            )),
            Membership::NotMember(roles) => missing(
                format!("`{user}` is not in db_backupoperator of `{database}`"),
                roles,
                false,
            ),
        }
    }
}

pub struct BackupPermission {
    meta: CheckMeta,
}

impl BackupPermission {
    pub(super) fn new() -> Self {
        BackupPermission {
            meta: CheckMeta::new("sql.perm.backup", Family::Sql, Severity::Fail)
                .title("The backup account may back up the database")
                .checks("As the backup account, asks HAS_PERMS_BY_NAME(<database>, 'DATABASE', 'BACKUP DATABASE'): the effective permission, whichever role or grant gives it.")
                .why("The backup runs BACKUP DATABASE as this account; without the permission it fails with error 262.")
                .fix("Add the account to db_backupoperator (ALTER ROLE [db_backupoperator] ADD MEMBER …), or GRANT BACKUP DATABASE TO it in the database.")
                .guide("Passwordstate guide §2.7 and §5 (db_backupoperator permissions for the backup account)"),
        }
    }
}

#[async_trait]
impl Check for BackupPermission {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let database = ctx.target.database()?;
        let login = session_of(ctx, AccountKind::Backup).await?;
        let session = login.session()?;
        let user = &session.user;
        let value = session
            .scalar(&backup_permission_query(database))
            .await
            .map_err(|e| query_stop(session, "the backup permission", e, "no permission"))?;
        let finding = match value.as_ref().and_then(|v| v.as_bool()) {
            Some(true) => Finding::pass(format!("`{user}` may run BACKUP DATABASE on `{database}`")),
            Some(false) => Finding::problem(
                self.meta.severity,
                format!("`{user}` may not run BACKUP DATABASE on `{database}`: backups fail with error 262"),
            )
            .expected("BACKUP DATABASE permission")
            .actual("denied")
            .remediation(format!(
                "{} (or: USE {}; GRANT BACKUP DATABASE TO {};)",
                grant_role(database, user, session.database.is_none()),
                ident(database),
                ident(user)
            )),
            None => {
                return Err(Stop::blocked(["sql.database"], format!(
                    "the server does not know the database `{database}` (HAS_PERMS_BY_NAME returned NULL); see sql.database"
                )));
            }
        };
        let finding = match ctx.fact::<ServerFacts>().await {
            Ok(info) if !info.platform.native_backup_to_disk() => finding.note(format!(
                "{} does not allow native backups to disk whatever the permission; see sql.platform",
                info.platform.describe()
            )),
            _ => finding,
        };
        Ok(session.mark(finding.evidence("has_perms_by_name", value)))
    }
}

pub struct RecentBackup {
    meta: CheckMeta,
}

impl RecentBackup {
    pub(super) fn new() -> Self {
        RecentBackup {
            meta: CheckMeta::new("sql.backup.recent", Family::Sql, Severity::Warn)
                .title("The database has a recent full backup")
                .checks("Reads the application database's last full backup (not COPY_ONLY) from msdb.dbo.backupset: when it finished and where it went.")
                .why("A password vault without a recent backup is one disk failure away from losing every password; the age shows whether the scheduled backup really runs.")
                .fix("Enable and schedule the application's database backup (Passwordstate: Administration → Backups and Upgrades), or the SQL Server maintenance plan, and check its last run.")
                .guide("Passwordstate guide §1 (why backups matter), §3 (configure backups) and §4.1 (manual backups)")
                .param("max_age_hours", 26, "warn when the last full backup is older than this many hours")
                .rule(ParamRule::Positive),
        }
    }
}

pub fn last_backup_query(database: &str) -> String {
    format!(
        "SELECT TOP (1) b.backup_finish_date, DATEDIFF(SECOND, b.backup_finish_date, GETDATE()) AS age_seconds, \
         m.physical_device_name FROM msdb.dbo.backupset AS b \
         JOIN msdb.dbo.backupmediafamily AS m ON m.media_set_id = b.media_set_id \
         WHERE b.database_name = {} AND b.type = 'D' AND b.is_copy_only = 0 \
         ORDER BY b.backup_finish_date DESC",
        literal(database)
    )
}

#[async_trait]
impl Check for RecentBackup {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let database = ctx.target.database()?;
        let max_hours: i64 = ctx.param(&self.meta, "max_age_hours")?;
        let info = ctx.fact::<ServerFacts>().await?;
        if !info.platform.native_backup_to_disk() {
            return Err(Stop::not_applicable(format!(
                "{} keeps its own backups outside msdb; check them in the platform's console",
                info.platform.describe()
            )));
        }
        let login = match session_of(ctx, AccountKind::Backup).await {
            Ok(login) => login,
            Err(_) => any_session(ctx).await?,
        };
        let session = login.session()?;
        let set = session
            .rows(&last_backup_query(database))
            .await
            .map_err(|e| {
                query_stop(
                    session,
                    "the backup history in msdb",
                    e,
                    "SELECT on msdb.dbo.backupset and msdb.dbo.backupmediafamily",
                )
            })?;
        let Some(_) = set.rows.first() else {
            return Ok(session.mark(
                Finding::problem(
                    self.meta.severity,
                    format!("msdb has no full backup of `{database}` on record"),
                )
                .expected(format!("a full backup within {max_hours} hours"))
                .actual("none"),
            ));
        };
        let age_seconds = set
            .get(0, "age_seconds")
            .as_i64()
            .ok_or_else(|| Stop::error("msdb gave no age for the last backup"))?;
        let destination = set
            .get(0, "physical_device_name")
            .as_text()
            .unwrap_or_default();
        let finished = set.get(0, "backup_finish_date").to_string();
        let hours = age_seconds as f64 / 3600.0;
        let mut finding = if age_seconds <= max_hours * 3600 {
            Finding::pass(format!(
                "the last full backup of `{database}` finished {hours:.1} hours ago, to {destination}"
            ))
        } else {
            Finding::problem(
                self.meta.severity,
                format!(
                    "the last full backup of `{database}` is {hours:.1} hours old (finished {finished}, to {destination})"
                ),
            )
            .expected(format!("at most {max_hours} hours"))
            .actual(format!("{hours:.1} hours"))
        };
        if let Some(configured) = &ctx.target.backup.destination
            && !destination.is_empty()
            && !under(&destination, configured)
        {
            finding = finding.note(format!(
                "the last backup went to {destination}, not under the configured destination {configured}"
            ));
        }
        Ok(session.mark(
            finding
                .evidence("finished", finished)
                .evidence("age_seconds", age_seconds)
                .evidence("destination", destination),
        ))
    }
}

/// Whether `path` lies under `directory`, comparing Windows paths without case.
fn under(path: &str, directory: &str) -> bool {
    let normalise = |p: &str| {
        p.replace('/', "\\")
            .trim_end_matches('\\')
            .to_ascii_lowercase()
    };
    let (path, directory) = (normalise(path), normalise(directory));
    path.strip_prefix(&directory)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('\\'))
}

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
        let login = match session_of(ctx, AccountKind::Backup).await {
            Ok(login) => login,
            Err(_) => session_of(ctx, AccountKind::App).await?,
        };
        let session = login.session()?;
        // Named as the write probe names its files, so a run killed between
        // the backup and its removal leaves nothing share.write does not sweep.
        let name =
            ProbeName::fresh(time::OffsetDateTime::now_utc(), Some("sql-backup")).to_string();
        let file = path_for_sql_server(&destination, &name);
        let statement = copy_only_backup(database, &file);
        let limit: u64 = ctx.param(&self.meta, "timeout_seconds")?;
        let outcome = session
            .results_within(&statement, std::time::Duration::from_secs(limit))
            .await;
        // Remove whatever the backup left, whether it succeeded or not.
        let cleanup = remove_from_destination(ctx, &name).await;
        let removed = cleanup.as_ref().ok().copied();
        let evidence = |f: Finding| {
            f.evidence("file", &file)
                .evidence("statement", &statement)
                .evidence("as", &session.user)
                .evidence("removed", removed)
        };
        let finding = match outcome {
            Ok(_) => Finding::pass(format!(
                "SQL Server wrote a COPY_ONLY backup of `{database}` to {destination}"
            )),
            Err(QueryFailure::Server(error)) if error.number == 262 => {
                return Err(Stop::blocked(
                    ["sql.perm.backup"],
                    format!(
                        "`{}` may not back up `{database}` (error 262), so SQL Server's own access to the destination could not be tested; see sql.perm.backup",
                        session.user
                    ),
                ));
            }
            Err(QueryFailure::Server(error)) => {
                let (what, fix) =
                    explain_backup_error(&error.message, &destination.to_string(), &info);
                Finding::problem(
                    self.meta.severity,
                    format!("{what} (server: {})", error.message),
                )
                .remediation(fix)
                .evidence("error", &error)
            }
            Err(other) => {
                return Err(Stop::error(format!(
                    "the test backup did not finish: {other}{}",
                    match &cleanup {
                        Ok(_) => String::new(),
                        Err(stop) => format!("; {}: delete {file} by hand", stop.reason()),
                    }
                )));
            }
        };
        let finding = match cleanup {
            Ok(_) => finding,
            Err(stop) => Finding::problem(
                self.meta.severity,
                format!("{}; but {}", finding.message, stop.reason()),
            )
            .remediation(format!("Delete the test file by hand: {file}")),
        };
        Ok(session.mark(evidence(finding)))
    }
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

/// The test file's path as SQL Server is told it.
fn path_for_sql_server(destination: &Destination, name: &str) -> String {
    match destination {
        Destination::Local { path } => path.join(name).display().to_string(),
        Destination::Unc(unc) => unc.unc_of(name),
    }
}

fn explain_backup_error(
    message: &str,
    destination: &str,
    info: &crate::facts::sql::ServerInfo,
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
    if message.contains("error 5(") || message.to_ascii_lowercase().contains("access is denied") {
        (
            format!("SQL Server's service account ({account}) may not write to {destination}"),
            format!(
                "Grant {account} (for a built-in account, the computer account {computer}) Change on the share and Modify on the folder."
            ),
        )
    } else if message.contains("error 3(")
        || message.contains("error 2(")
        || message.contains("error 53(")
        || message.contains("error 67(")
    {
        (
            format!("SQL Server cannot find {destination}"),
            "Check the path as the SQL Server machine sees it: the server and share names, that the folder exists, and that the SQL Server host resolves and reaches the file server.".to_owned(),
        )
    } else if message.contains("error 112(")
        || message.to_ascii_lowercase().contains("not enough space")
    {
        (
            format!("there is not enough space at {destination}"),
            "Free space at the destination or point the backups elsewhere.".to_owned(),
        )
    } else {
        (
            "SQL Server could not write the test backup".to_owned(),
            "Read the server's message; the SQL Server error log has the details.".to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixing_statements_are_exact() {
        assert_eq!(
            grant_role("Passwordstate", r"CORP\pback", true),
            r"USE [Passwordstate]; CREATE USER [CORP\pback] FOR LOGIN [CORP\pback]; ALTER ROLE [db_backupoperator] ADD MEMBER [CORP\pback];"
        );
        assert_eq!(
            grant_role("PassTrix", "pback", false),
            "USE [PassTrix]; ALTER ROLE [db_backupoperator] ADD MEMBER [pback];"
        );
    }

    #[test]
    fn backup_destinations_compare_as_windows_paths() {
        assert!(under(r"\\NAS01\Backups\pws\full.bak", r"\\nas01\backups\"));
        assert!(!under(r"\\nas01\backups2\full.bak", r"\\nas01\backups"));
        assert!(under("/var/backups/x.bak", "/var/backups"));
    }
}
