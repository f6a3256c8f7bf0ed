//! What the SQL checks judge, read once per run through the account
//! sessions of `facts::sql`: database presence, roles and permissions, PMP's
//! keys, the last backup, the server's clock and the session's connection
//! row. Each read is a fact, so two checks asking the same question share
//! one query, and the support bundle carries every answer.
//!
//! A read that fails says why as a [`Stop`] — a missing permission or object
//! is a skip naming it, anything else an error — so no check can pass on an
//! answer that never came.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde::Serialize;

use super::{
    AccountKind, Platform, ServerFacts, SqlLogin, SqlSession, any_session, is_missing_object,
    is_permission_denied, session_of,
};
use crate::context::{Fact, RunContext};
use crate::finding::{Finding, Stop};
use crate::probe::sql::{QueryFailure, ResultSet, SqlValue};
use crate::target::AuthKind;

pub use crate::probe::sql::{ident, literal};

/// The note every finding obtained over an unverified connection carries.
pub use super::UNVERIFIED_NOTE;

/// Rows as the server answered them, for evidence.
pub type JsonRows = Vec<serde_json::Map<String, serde_json::Value>>;

/// Who read a fact: the session's account, login and database, and whether
/// its connection's certificate was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadBy {
    pub account: AccountKind,
    pub user: String,
    #[serde(skip)]
    pub auth: AuthKind,
    /// The database the session opened at login, when it could.
    pub database: Option<String>,
    pub tls_verified: bool,
}

impl ReadBy {
    /// Marks a finding resting on this read when its connection was not verified.
    pub fn mark(&self, finding: Finding) -> Finding {
        if self.tls_verified {
            finding
        } else {
            finding.note(UNVERIFIED_NOTE)
        }
    }
}

impl SqlSession {
    /// Who this session is, for the facts it reads.
    pub fn read_by(&self) -> ReadBy {
        ReadBy {
            account: self.account,
            user: self.user.clone(),
            auth: self.auth,
            database: self.database.clone(),
            tls_verified: self.tls_verified,
        }
    }
}

/// A fact read through one session: the value and who read it.
#[derive(Debug, Clone, Serialize)]
pub struct Read<T> {
    pub by: ReadBy,
    pub value: T,
}

impl<T> Read<T> {
    fn from(session: &SqlSession, value: T) -> Self {
        Read {
            by: session.read_by(),
            value,
        }
    }
}

/// Why a fact that needed `what` could not be read: a missing permission or
/// object makes the checks that need it skip (naming them), anything else is
/// an error.
pub fn query_stop(
    session: &SqlSession,
    what: &str,
    failure: QueryFailure,
    permission: &str,
) -> Stop {
    match failure {
        QueryFailure::Server(error) if is_permission_denied(&error) => {
            Stop::not_configured(format!(
                "cannot read {what}: the login `{}` lacks {permission} (server: {})",
                session.user, error.message
            ))
        }
        QueryFailure::Server(error) if is_missing_object(&error) => Stop::not_applicable(format!(
            "cannot read {what}: the server does not offer it (server: {})",
            error.message
        )),
        other => Stop::error(format!("cannot read {what}: {other}")),
    }
}

/// An account whose session a fact is read through.
pub trait SessionAccount: Send + Sync + 'static {
    const KIND: AccountKind;
}

/// `[sql]`, the application account.
pub enum AppAccount {}
/// `[backup]`, the backup account.
pub enum BackupAccount {}

impl SessionAccount for AppAccount {
    const KIND: AccountKind = AccountKind::App;
}

impl SessionAccount for BackupAccount {
    const KIND: AccountKind = AccountKind::Backup;
}

/// Whether the application database exists and account `A` may open it:
/// one query per account per run, however many checks ask.
pub struct DatabasePresenceOf<A>(PhantomData<A>);

/// A database as one login sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DatabasePresence {
    pub exists: bool,
    /// HAS_DBACCESS: `None` when the server would not say.
    pub accessible: Option<bool>,
}

pub fn database_presence_query(database: &str) -> String {
    let name = literal(database);
    format!("SELECT DB_ID({name}) AS database_id, HAS_DBACCESS({name}) AS has_access")
}

impl<A: SessionAccount> Fact for DatabasePresenceOf<A> {
    type Output = Read<DatabasePresence>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        async {
            let database = ctx.target.database()?;
            let login = session_of(ctx, A::KIND).await?;
            let session = login.session()?;
            let set = session
                .rows(&database_presence_query(database))
                .await
                .map_err(|e| {
                    query_stop(session, "whether the database exists", e, "no permission")
                })?;
            // "Does not exist" only when the server said so: a NULL database_id
            // in the row asked for. Anything else is an answer we cannot read.
            if set.rows.is_empty() || set.column("database_id").is_none() {
                return Err(Stop::error(format!(
                    "cannot read whether the database exists: expected one row with database_id and has_access, got {} row(s) with columns [{}]",
                    set.rows.len(),
                    set.columns.join(", ")
                )));
            }
            let presence = DatabasePresence {
                exists: !set.get(0, "database_id").is_null(),
                accessible: set.get(0, "has_access").as_bool(),
            };
            Ok(Read::from(session, presence))
        }
        .boxed()
        .await
    }
}

/// The presence fact of `account`.
pub async fn database_presence(
    ctx: &RunContext,
    account: AccountKind,
) -> Result<std::sync::Arc<Read<DatabasePresence>>, Stop> {
    match account {
        AccountKind::App => ctx.fact::<DatabasePresenceOf<AppAccount>>().await,
        AccountKind::Backup => ctx.fact::<DatabasePresenceOf<BackupAccount>>().await,
    }
}

/// What lets the application account create a database (PMP creates its own).
pub struct CreateRights;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateRightsValue {
    pub sysadmin: bool,
    pub dbcreator: bool,
    pub create_any_database: bool,
    /// The row as the server answered it.
    pub server_roles: JsonRows,
}

pub const CREATE_RIGHTS_QUERY: &str = "SELECT IS_SRVROLEMEMBER(N'sysadmin') AS is_sysadmin, IS_SRVROLEMEMBER(N'dbcreator') AS is_dbcreator, HAS_PERMS_BY_NAME(NULL, NULL, N'CREATE ANY DATABASE') AS can_create_any";

impl Fact for CreateRights {
    type Output = Read<CreateRightsValue>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        async {
            let login = session_of(ctx, AccountKind::App).await?;
            let session = login.session()?;
            let set = session
                .rows(CREATE_RIGHTS_QUERY)
                .await
                .map_err(|e| query_stop(session, "the login's server roles", e, "no permission"))?;
            let yes = |column: &str| set.get(0, column).as_bool() == Some(true);
            Ok(Read::from(
                session,
                CreateRightsValue {
                    sysadmin: yes("is_sysadmin"),
                    dbcreator: yes("is_dbcreator"),
                    create_any_database: yes("can_create_any"),
                    server_roles: set.to_json_rows(),
                },
            ))
        }
        .boxed()
        .await
    }
}

/// PMP's custom encryption key (`[app]` certificate_name and
/// symmetric_key_name) as the application account sees it.
pub struct PmpKeyState;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PmpKeysFound {
    pub database: String,
    pub certificate_name: String,
    pub symmetric_key_name: String,
    pub master_key: bool,
    pub certificate: bool,
    pub symmetric_key: bool,
    pub db_owner: bool,
    /// HAS_PERMS_BY_NAME: `None` when the server would not say.
    pub certificate_control: Option<bool>,
    pub key_view_definition: Option<bool>,
    /// The permission row as the server answered it.
    pub permissions: JsonRows,
}

pub fn keys_query(certificate: &str, key: &str) -> String {
    let (cert, sym) = (literal(certificate), literal(key));
    format!(
        "SELECT COUNT(*) AS found FROM sys.symmetric_keys WHERE name = N'##MS_DatabaseMasterKey##'; \
         SELECT COUNT(*) AS found FROM sys.certificates WHERE name = {cert}; \
         SELECT COUNT(*) AS found FROM sys.symmetric_keys WHERE name = {sym}; \
         SELECT IS_ROLEMEMBER(N'db_owner') AS db_owner, HAS_PERMS_BY_NAME({cert}, N'CERTIFICATE', N'CONTROL') AS certificate_control, \
         HAS_PERMS_BY_NAME({sym}, N'SYMMETRIC KEY', N'VIEW DEFINITION') AS key_view_definition"
    )
}

impl Fact for PmpKeyState {
    type Output = Read<PmpKeysFound>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        async {
            let app = ctx.target.app.as_ref();
            let (Some(certificate), Some(key)) = (
                app.and_then(|a| a.certificate_name.as_deref()),
                app.and_then(|a| a.symmetric_key_name.as_deref()),
            ) else {
                return Err(Stop::not_configured(format!(
                    "no custom PMP key: {}",
                    ctx.target
                        .how_to_set("app", &["certificate_name", "symmetric_key_name"])
                )));
            };
            let login = session_of(ctx, AccountKind::App).await?;
            let session = login.session()?;
            let database = session.require_database()?;
            let sets = session
                .results(&keys_query(certificate, key))
                .await
                .map_err(|e| query_stop(session, "the database's keys", e, "VIEW DEFINITION"))?;
            let count = |index: usize| {
                sets.get(index)
                    .and_then(|s| s.scalar())
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0)
            };
            let rights = sets.get(3).cloned().unwrap_or_default();
            Ok(Read::from(
                session,
                PmpKeysFound {
                    database: database.to_owned(),
                    certificate_name: certificate.to_owned(),
                    symmetric_key_name: key.to_owned(),
                    master_key: count(0) > 0,
                    certificate: count(1) > 0,
                    symmetric_key: count(2) > 0,
                    db_owner: rights.get(0, "db_owner").as_bool() == Some(true),
                    certificate_control: rights.get(0, "certificate_control").as_bool(),
                    key_view_definition: rights.get(0, "key_view_definition").as_bool(),
                    permissions: rights.to_json_rows(),
                },
            ))
        }
        .boxed()
        .await
    }
}

/// The backup account's roles in the application database, asked as itself.
pub struct BackupAccountRoles;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleFlags {
    pub backup_operator: bool,
    pub db_owner: bool,
    pub sysadmin: bool,
    /// The row as the server answered it.
    pub roles: JsonRows,
}

pub const ROLE_QUERY: &str = "SELECT IS_ROLEMEMBER(N'db_backupoperator') AS backup_operator, IS_ROLEMEMBER(N'db_owner') AS db_owner, IS_SRVROLEMEMBER(N'sysadmin') AS sysadmin";

impl Fact for BackupAccountRoles {
    type Output = Read<RoleFlags>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        async {
            let login = session_of(ctx, AccountKind::Backup).await?;
            let session = login.session()?;
            session.require_database()?;
            let set = session.rows(ROLE_QUERY).await.map_err(|e| {
                query_stop(session, "the backup account's roles", e, "no permission")
            })?;
            let yes = |column: &str| set.get(0, column).as_bool() == Some(true);
            Ok(Read::from(
                session,
                RoleFlags {
                    backup_operator: yes("backup_operator"),
                    db_owner: yes("db_owner"),
                    sysadmin: yes("sysadmin"),
                    roles: set.to_json_rows(),
                },
            ))
        }
        .boxed()
        .await
    }
}

/// The backup account's roles in the application database, asked through
/// the application account (for when the backup account cannot log in).
pub struct BackupRoleMembers;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleMembers {
    /// The backup account's login whose user was looked up.
    pub user: String,
    /// The asking login has VIEW DEFINITION, so what follows is complete.
    pub can_view: bool,
    /// The login has a user in the database.
    pub has_user: bool,
    /// The roles that user is in.
    pub roles: Vec<String>,
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

impl Fact for BackupRoleMembers {
    type Output = Read<RoleMembers>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        async {
            let user = AccountKind::Backup.account(&ctx.target)?.user.clone();
            let login = session_of(ctx, AccountKind::App).await?;
            let session = login.session()?;
            session.require_database()?;
            // The lookup finds the backup login's user by SUSER_SID(name),
            // which on Azure SQL Database answers the asking login's own SID
            // whatever name it is given: it would report the application
            // account's roles as the backup account's.
            if let Ok(server) = ctx.fact::<ServerFacts>().await
                && server.platform == Platform::AzureSqlDatabase
            {
                return Err(Stop::error(format!(
                    "the roles of `{user}` cannot be looked up through `{}` on Azure SQL Database: SUSER_SID answers there for the asking login whatever name it is given; give the backup account's password so it can answer for itself",
                    session.user
                )));
            }
            let sets = session.results(&members_query(&user)).await.map_err(|e| {
                query_stop(session, "the database's role members", e, "VIEW DEFINITION")
            })?;
            let can_view = sets
                .first()
                .and_then(|s| s.scalar())
                .and_then(|v| v.as_bool())
                == Some(true);
            let members = sets.get(1).cloned().unwrap_or_default();
            let roles = (0..members.rows.len())
                .filter_map(|row| members.get(row, "role_name").as_text())
                .collect();
            Ok(Read::from(
                session,
                RoleMembers {
                    user,
                    can_view,
                    has_user: !members.rows.is_empty(),
                    roles,
                },
            ))
        }
        .boxed()
        .await
    }
}

/// HAS_PERMS_BY_NAME(<database>, 'DATABASE', 'BACKUP DATABASE') as the backup account.
pub struct BackupPermissionGrant;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PermissionAnswer {
    /// `None` when the server answered NULL (it does not know the database).
    pub granted: Option<bool>,
    /// The value as the server answered it.
    pub has_perms_by_name: serde_json::Value,
}

pub fn backup_permission_query(database: &str) -> String {
    format!(
        "SELECT HAS_PERMS_BY_NAME({}, N'DATABASE', N'BACKUP DATABASE') AS can_backup",
        literal(database)
    )
}

impl Fact for BackupPermissionGrant {
    type Output = Read<PermissionAnswer>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        async {
            let database = ctx.target.database()?;
            let login = session_of(ctx, AccountKind::Backup).await?;
            let session = login.session()?;
            let value = session
                .scalar(&backup_permission_query(database))
                .await
                .map_err(|e| query_stop(session, "the backup permission", e, "no permission"))?;
            Ok(Read::from(
                session,
                PermissionAnswer {
                    granted: value.as_ref().and_then(SqlValue::as_bool),
                    has_perms_by_name: value
                        .as_ref()
                        .map_or(serde_json::Value::Null, SqlValue::to_json),
                },
            ))
        }
        .boxed()
        .await
    }
}

/// The application database's last full backup (not COPY_ONLY) in msdb,
/// read as the backup account, else any account.
pub struct LastFullBackup;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupRecord {
    /// backup_finish_date as the server wrote it.
    pub finished: String,
    pub age_seconds: i64,
    /// physical_device_name: where it went.
    pub destination: String,
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

impl Fact for LastFullBackup {
    /// `None`: msdb has no full backup of the database on record.
    type Output = Read<Option<BackupRecord>>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        async {
            let database = ctx.target.database()?;
            let login = backup_else_any(ctx).await?;
            let session = login.session()?;
            let set = session
                .rows(&last_backup_query(database))
                .await
                .map_err(|e| {
                    let needed = format!(
                        "SELECT on msdb.dbo.backupset and msdb.dbo.backupmediafamily; to check it, run once \
                         (CREATE USER only if the login has no user in msdb): USE msdb; CREATE USER [{user}] FOR LOGIN [{user}]; \
                         GRANT SELECT ON dbo.backupset TO [{user}]; GRANT SELECT ON dbo.backupmediafamily TO [{user}];",
                        user = session.user
                    );
                    query_stop(session, "the backup history in msdb", e, &needed)
                })?;
            if set.rows.is_empty() {
                return Ok(Read::from(session, None));
            }
            let age_seconds = set
                .get(0, "age_seconds")
                .as_i64()
                .ok_or_else(|| Stop::error("msdb gave no age for the last backup"))?;
            Ok(Read::from(
                session,
                Some(BackupRecord {
                    finished: set.get(0, "backup_finish_date").to_string(),
                    age_seconds,
                    destination: set
                        .get(0, "physical_device_name")
                        .as_text()
                        .unwrap_or_default(),
                }),
            ))
        }
        .boxed()
        .await
    }
}

/// The backup account's session, else any working one.
pub async fn backup_else_any(ctx: &RunContext) -> Result<std::sync::Arc<SqlLogin>, Stop> {
    match session_of(ctx, AccountKind::Backup).await {
        Ok(login) => Ok(login),
        Err(_) => any_session(ctx).await,
    }
}

/// The server's clock, read with this machine's clock around it.
pub struct ServerClock;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockReading {
    /// This machine's UTC time when the query was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub asked: time::OffsetDateTime,
    /// How long the query took to come back.
    pub round_trip: Duration,
    /// SYSUTCDATETIME() on the server.
    #[serde(with = "time::serde::rfc3339")]
    pub server_utc: time::OffsetDateTime,
    /// The value as the server answered it.
    pub server_text: String,
}

pub const CLOCK_QUERY: &str = "SELECT SYSUTCDATETIME() AS utc_now";

impl Fact for ServerClock {
    type Output = Read<ClockReading>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        async {
            let login = any_session(ctx).await?;
            let session = login.session()?;
            let asked = time::OffsetDateTime::now_utc();
            let started = Instant::now();
            let value = session
                .scalar(CLOCK_QUERY)
                .await
                .map_err(|e| query_stop(session, "the server's clock", e, "no permission"))?
                .ok_or_else(|| Stop::error("the server returned no time"))?;
            let round_trip = started.elapsed();
            let server_utc = value.as_utc().ok_or_else(|| {
                Stop::error(format!("the server's time is not a date and time: {value}"))
            })?;
            Ok(Read::from(
                session,
                ClockReading {
                    asked,
                    round_trip,
                    server_utc,
                    server_text: value.to_string(),
                },
            ))
        }
        .boxed()
        .await
    }
}

/// The session's own row of sys.dm_exec_connections: how the server sees
/// the connection.
pub struct ConnectionRow;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Connection {
    /// `None` when encrypt_option was not a readable true/false.
    pub encrypted: Option<bool>,
    pub encrypt_option: serde_json::Value,
    pub auth_scheme: String,
    pub net_transport: String,
    pub protocol_type: serde_json::Value,
}

pub const CONNECTION_QUERY: &str = "SELECT encrypt_option, auth_scheme, net_transport, protocol_type FROM sys.dm_exec_connections WHERE session_id = @@SPID";

impl Fact for ConnectionRow {
    type Output = Read<Connection>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        async {
            let login = any_session(ctx).await?;
            let session = login.session()?;
            let set = match session.rows(CONNECTION_QUERY).await {
                Ok(set) => set,
                Err(failure) => {
                    // The DMV needs a server permission (a database one on Azure
                    // SQL Database), even for the session's own row.
                    let permission = match ctx.fact::<ServerFacts>().await {
                        Ok(server) if server.platform == Platform::AzureSqlDatabase => {
                            "VIEW DATABASE STATE"
                        }
                        Ok(server) => server.server_state_permission(),
                        Err(_) => "VIEW SERVER STATE",
                    };
                    let needed = format!(
                        "the {permission} permission sys.dm_exec_connections needs; to check it, run once: GRANT {permission} TO [{}];",
                        session.user
                    );
                    return Err(query_stop(
                        session,
                        "the session's connection",
                        failure,
                        &needed,
                    ));
                }
            };
            connection_of(&set).map(|row| Read::from(session, row))
        }
        .boxed()
        .await
    }
}

fn connection_of(set: &ResultSet) -> Result<Connection, Stop> {
    if set.rows.is_empty() {
        return Err(Stop::error(
            "sys.dm_exec_connections has no row for this session",
        ));
    }
    let encrypt_option = set.get(0, "encrypt_option");
    Ok(Connection {
        encrypted: encrypt_option.as_bool(),
        encrypt_option: encrypt_option.to_json(),
        auth_scheme: set.get(0, "auth_scheme").as_text().unwrap_or_default(),
        net_transport: set.get(0, "net_transport").as_text().unwrap_or_default(),
        protocol_type: set.get(0, "protocol_type").to_json(),
    })
}

/// A read as `user` made it over a verified connection, for judgements'
/// unit tests.
#[cfg(test)]
pub fn read_as<T>(account: AccountKind, user: &str, database: Option<&str>, value: T) -> Read<T> {
    Read {
        by: ReadBy {
            account,
            user: user.to_owned(),
            auth: AuthKind::Sql,
            database: database.map(str::to_owned),
            tls_verified: true,
        },
        value,
    }
}
