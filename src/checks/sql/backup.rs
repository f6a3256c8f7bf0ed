//! What backups need from SQL Server: the backup account in
//! db_backupoperator with BACKUP DATABASE permission, and a recent full
//! backup on record. (SQL Server's own write to the destination is
//! share.sql-can-write, in `checks::share`.)

use async_trait::async_trait;

use crate::context::RunContext;
use crate::facts::sql::reads::{
    BackupAccountRoles, BackupPermissionGrant, BackupRecord, BackupRoleMembers, DatabasePresence,
    LastFullBackup, PermissionAnswer, Read, RoleFlags, RoleMembers, database_presence, ident,
};
use crate::facts::sql::{AccountKind, Platform, ServerError, ServerFacts, login_of, session_of};
use crate::finding::{Finding, Outcome, Severity, Stop};
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
        AccountKind::Backup.account(&ctx.target)?;
        let own = login_of(ctx, AccountKind::Backup).await;
        if let Ok(login) = &own
            && let Ok(session) = login.session()
        {
            // Logged in, but the database was refused: is there a user for it?
            if session.database.is_none() {
                let presence = database_presence(ctx, AccountKind::Backup).await?;
                return judge_refused_backup_account(
                    &self.meta,
                    database,
                    &presence,
                    &login.database_refused,
                );
            }
            let roles = ctx.fact::<BackupAccountRoles>().await?;
            return Ok(judge_own_roles(&self.meta, database, &roles));
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
        if session.database.is_none() {
            return Err(Stop::blocked(
                ["sql.login"],
                format!(
                    "cannot check: the backup account could not log in and `{}` cannot open `{database}` either",
                    session.user
                ),
            ));
        }
        let members = ctx.fact::<BackupRoleMembers>().await?;
        judge_on_behalf(&self.meta, database, &members, &why_not)
    }
}

/// The backup account logged in, but the server refused it the database.
fn judge_refused_backup_account(
    meta: &CheckMeta,
    database: &str,
    presence: &Read<DatabasePresence>,
    refusal: &Option<ServerError>,
) -> Outcome {
    if !presence.value.exists {
        return Err(Stop::blocked(
            ["sql.database"],
            format!("the database `{database}` does not exist; see sql.database"),
        ));
    }
    Ok(presence.by.mark(
        Membership::NoUser
            .finding(meta, &presence.by.user, database)
            .evidence("login_refused_database", refusal),
    ))
}

/// The backup account's roles, as it sees them itself.
fn judge_own_roles(meta: &CheckMeta, database: &str, roles: &Read<RoleFlags>) -> Finding {
    let user = &roles.by.user;
    let flags = &roles.value;
    let finding = if flags.backup_operator {
        Membership::Operator.finding(meta, user, database)
    } else if flags.db_owner || flags.sysadmin {
        let via = if flags.sysadmin {
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
    roles.by.mark(finding.evidence("roles", &flags.roles))
}

/// The backup account's roles as the application account sees them.
fn judge_on_behalf(
    meta: &CheckMeta,
    database: &str,
    members: &Read<RoleMembers>,
    why_not: &str,
) -> Outcome {
    let by = &members.by;
    let found = &members.value;
    if !found.can_view {
        return Err(Stop::blocked(
            ["sql.login"],
            format!(
                "cannot check: the backup account could not log in, and `{}` lacks VIEW DEFINITION in `{database}` to see its roles",
                by.user
            ),
        ));
    }
    let roles = &found.roles;
    let has = |role: &str| roles.iter().any(|r| r.eq_ignore_ascii_case(role));
    let membership = if !found.has_user {
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
    Ok(by
        .mark(
            membership
                .finding(meta, &found.user, database)
                .evidence("roles", roles),
        )
        .note(format!(
            "checked through `{}` because the backup account could not log in: {why_not}",
            by.user
        )))
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
        let answer = ctx.fact::<BackupPermissionGrant>().await?;
        let platform = ctx
            .fact::<ServerFacts>()
            .await
            .ok()
            .map(|info| info.platform);
        judge_permission(&self.meta, database, &answer, platform)
    }
}

/// The verdict on BACKUP DATABASE; `platform` when the server's is known.
fn judge_permission(
    meta: &CheckMeta,
    database: &str,
    answer: &Read<PermissionAnswer>,
    platform: Option<Platform>,
) -> Outcome {
    let by = &answer.by;
    let user = &by.user;
    let finding = match answer.value.granted {
        Some(true) => Finding::pass(format!("`{user}` may run BACKUP DATABASE on `{database}`")),
        Some(false) => Finding::problem(
            meta.severity,
            format!(
                "`{user}` may not run BACKUP DATABASE on `{database}`: backups fail with error 262"
            ),
        )
        .expected("BACKUP DATABASE permission")
        .actual("denied")
        .remediation(format!(
            "{} (or: USE {}; GRANT BACKUP DATABASE TO {};)",
            grant_role(database, user, by.database.is_none()),
            ident(database),
            ident(user)
        )),
        None => {
            return Err(Stop::blocked(
                ["sql.database"],
                format!(
                    "the server does not know the database `{database}` (HAS_PERMS_BY_NAME returned NULL); see sql.database"
                ),
            ));
        }
    };
    let finding = match platform {
        Some(platform) if !platform.native_backup_to_disk() => finding.note(format!(
            "{} does not allow native backups to disk whatever the permission; see sql.platform",
            platform.describe()
        )),
        _ => finding,
    };
    Ok(by.mark(finding.evidence("has_perms_by_name", &answer.value.has_perms_by_name)))
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

/// The parameters of RecentBackup, named as in its metadata (where their
/// defaults are).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RecentBackupParams {
    max_age_hours: i64,
}

#[async_trait]
impl Check for RecentBackup {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let database = ctx.target.database()?;
        let RecentBackupParams {
            max_age_hours: max_hours,
        } = ctx.params(&self.meta)?;
        let info = ctx.fact::<ServerFacts>().await?;
        if !info.platform.native_backup_to_disk() {
            return Err(Stop::not_applicable(format!(
                "{} keeps its own backups outside msdb; check them in the platform's console",
                info.platform.describe()
            )));
        }
        let last = ctx.fact::<LastFullBackup>().await?;
        Ok(judge_recent(
            &self.meta,
            database,
            max_hours,
            &last,
            ctx.target.backup.destination.as_deref(),
        ))
    }
}

/// The verdict on the last full backup; `configured` is the destination
/// the target file names, if any.
fn judge_recent(
    meta: &CheckMeta,
    database: &str,
    max_hours: i64,
    last: &Read<Option<BackupRecord>>,
    configured: Option<&str>,
) -> Finding {
    let Some(record) = &last.value else {
        return last.by.mark(
            Finding::problem(
                meta.severity,
                format!("msdb has no full backup of `{database}` on record"),
            )
            .expected(format!("a full backup within {max_hours} hours"))
            .actual("none"),
        );
    };
    let BackupRecord {
        finished,
        age_seconds,
        destination,
    } = record;
    let hours = *age_seconds as f64 / 3600.0;
    let mut finding = if *age_seconds <= max_hours * 3600 {
        Finding::pass(format!(
            "the last full backup of `{database}` finished {}, to {destination}",
            crate::human::relative(*age_seconds)
        ))
    } else {
        Finding::problem(
            meta.severity,
            format!(
                "the last full backup of `{database}` finished {} ({finished}, to {destination})",
                crate::human::relative(*age_seconds)
            ),
        )
        .expected(format!("at most {max_hours} hours"))
        .actual(format!("{hours:.1} hours"))
    };
    if let Some(configured) = configured
        && !destination.is_empty()
        && !under(destination, configured)
    {
        finding = finding.note(format!(
            "the last backup went to {destination}, not under the configured destination {configured}"
        ));
    }
    last.by.mark(
        finding
            .evidence("finished", finished)
            .evidence("age_seconds", age_seconds)
            .evidence("destination", destination),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_backup_params_match_the_metadata() {
        use crate::checks::verdicts::default_params;
        let RecentBackupParams { max_age_hours } = default_params(&RecentBackup::new().meta);
        assert_eq!(max_age_hours, 26);
    }

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

    use crate::facts::sql::reads::read_as;
    use crate::finding::{SkipKind, Status};

    fn backup_read<T>(value: T) -> Read<T> {
        read_as(AccountKind::Backup, "pback", Some("Passwordstate"), value)
    }

    fn blocked_by(stop: &Stop) -> Vec<String> {
        let skip = stop.skip().expect("a skip");
        assert_eq!(skip.kind, SkipKind::Blocked);
        skip.by.clone()
    }

    #[test]
    fn role_verdicts_as_the_backup_account() {
        let meta = BackupOperatorRole::new().meta;
        let flags = |operator, owner, sysadmin| {
            backup_read(RoleFlags {
                backup_operator: operator,
                db_owner: owner,
                sysadmin,
                roles: Vec::new(),
            })
        };
        let judge = |r: &Read<RoleFlags>| judge_own_roles(&meta, "Passwordstate", r);
        assert_eq!(judge(&flags(true, false, false)).status, Status::Pass);
        let broader = judge(&flags(false, false, true));
        assert_eq!(broader.status, Status::Pass);
        assert!(
            broader.message.contains("as sysadmin"),
            "{}",
            broader.message
        );
        assert_eq!(broader.notes.len(), 1);
        let owner = judge(&flags(false, true, false));
        assert_eq!(owner.status, Status::Pass);
        assert!(owner.message.contains("as db_owner"), "{}", owner.message);
        let none = judge(&flags(false, false, false));
        assert_eq!(none.status, Status::Fail);
        assert_eq!(none.actual.as_deref(), Some("not a member"));
        assert!(
            none.remediation
                .unwrap()
                .contains("ALTER ROLE [db_backupoperator] ADD MEMBER [pback]")
        );
    }

    #[test]
    fn a_refused_database_is_no_user_or_a_missing_database() {
        let meta = BackupOperatorRole::new().meta;
        let presence = |exists| {
            read_as(
                AccountKind::Backup,
                "pback",
                None,
                DatabasePresence {
                    exists,
                    accessible: Some(false),
                },
            )
        };
        let missing = judge_refused_backup_account(&meta, "Passwordstate", &presence(false), &None)
            .unwrap_err();
        assert_eq!(blocked_by(&missing), ["sql.database"]);
        let no_user =
            judge_refused_backup_account(&meta, "Passwordstate", &presence(true), &None).unwrap();
        assert_eq!(no_user.status, Status::Fail);
        assert_eq!(no_user.actual.as_deref(), Some("no database user"));
        assert!(no_user.remediation.unwrap().contains("CREATE USER [pback]"));
    }

    #[test]
    fn role_verdicts_through_the_application_account() {
        let meta = BackupOperatorRole::new().meta;
        let members = |can_view, has_user, roles: &[&str]| {
            read_as(
                AccountKind::App,
                "pmp",
                Some("Passwordstate"),
                RoleMembers {
                    user: "pback".to_owned(),
                    can_view,
                    has_user,
                    roles: roles.iter().map(|r| r.to_string()).collect(),
                },
            )
        };
        let judge =
            |m: &Read<RoleMembers>| judge_on_behalf(&meta, "Passwordstate", m, "wrong password");
        let hidden = judge(&members(false, true, &[])).unwrap_err();
        assert_eq!(blocked_by(&hidden), ["sql.login"]);
        let operator = judge(&members(true, true, &["db_backupoperator"])).unwrap();
        assert_eq!(operator.status, Status::Pass);
        assert!(
            operator.notes[0].contains("checked through `pmp`"),
            "{:?}",
            operator.notes
        );
        assert_eq!(
            judge(&members(true, true, &["DB_OWNER"])).unwrap().status,
            Status::Pass
        );
        let no_user = judge(&members(true, false, &[])).unwrap();
        assert_eq!(no_user.actual.as_deref(), Some("no database user"));
        let other = judge(&members(true, true, &["db_datareader"])).unwrap();
        assert_eq!(other.status, Status::Fail);
        assert_eq!(other.actual.as_deref(), Some("db_datareader"));
        let none = judge(&members(true, true, &[])).unwrap();
        assert_eq!(none.actual.as_deref(), Some("no role"));
    }

    #[test]
    fn permission_verdicts() {
        let meta = BackupPermission::new().meta;
        let answer = |granted| {
            backup_read(PermissionAnswer {
                granted,
                has_perms_by_name: serde_json::json!(granted),
            })
        };
        let judge = |a: &Read<PermissionAnswer>, p| judge_permission(&meta, "Passwordstate", a, p);
        let granted = judge(&answer(Some(true)), Some(Platform::SqlServer)).unwrap();
        assert_eq!(granted.status, Status::Pass);
        assert!(granted.notes.is_empty());
        let denied = judge(&answer(Some(false)), None).unwrap();
        assert_eq!(denied.status, Status::Fail);
        assert!(
            denied
                .remediation
                .unwrap()
                .contains("GRANT BACKUP DATABASE TO [pback]")
        );
        let unknown = judge(&answer(None), None).unwrap_err();
        assert_eq!(blocked_by(&unknown), ["sql.database"]);
        let azure = judge(&answer(Some(true)), Some(Platform::AzureSqlDatabase)).unwrap();
        assert!(
            azure.notes[0].contains("Azure SQL Database"),
            "{:?}",
            azure.notes
        );
    }

    #[test]
    fn recent_backup_verdicts() {
        let meta = RecentBackup::new().meta;
        let record = |hours: i64, to: &str| {
            backup_read(Some(BackupRecord {
                finished: "2026-12-05 22:00:00".to_owned(),
                age_seconds: hours * 3600,
                destination: to.to_owned(),
            }))
        };
        let configured = Some(r"\\nas01\backups");
        let judge = |r: &Read<Option<BackupRecord>>| {
            judge_recent(&meta, "Passwordstate", 26, r, configured)
        };
        let none = judge(&backup_read(None));
        assert_eq!(none.status, Status::Warn);
        assert_eq!(none.actual.as_deref(), Some("none"));
        let fresh = judge(&record(3, r"\\nas01\backups\pws.bak"));
        assert_eq!(fresh.status, Status::Pass, "{}", fresh.message);
        assert!(fresh.notes.is_empty(), "{:?}", fresh.notes);
        assert!(
            fresh.message.contains("finished 3 hours ago"),
            "{}",
            fresh.message
        );
        let at_the_limit = judge(&record(26, r"\\nas01\backups\pws.bak"));
        assert_eq!(
            at_the_limit.status,
            Status::Pass,
            "{}",
            at_the_limit.message
        );
        let stale = judge(&record(30, r"\\nas01\backups\pws.bak"));
        assert_eq!(stale.status, Status::Warn);
        assert_eq!(stale.actual.as_deref(), Some("30.0 hours"));
        assert!(
            stale.message.contains("finished 1 day ago"),
            "{}",
            stale.message
        );
        let elsewhere = judge(&record(3, r"D:\local\pws.bak"));
        assert!(elsewhere.notes[0].contains("not under the configured destination"));
    }
}
