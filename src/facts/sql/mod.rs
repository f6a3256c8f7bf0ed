//! SQL facts: one session per account per run (the application account
//! `[sql]` and the backup account `[backup]`), shared by every check behind an
//! async mutex, plus what those sessions learn about the server.
//!
//! Credentials are sent only over TLS the TLS checks verified, or when the
//! user explicitly accepted an unverified certificate; [`LoginClearance`] is
//! the one place that decides.

use std::pin::pin;
use std::time::Instant;

use futures::FutureExt;
use futures::future::{Either, select};
use parking_lot::Mutex;
use serde::Serialize;

use crate::context::{Fact, RunContext};
use crate::facts::net::SqlEndpoint;
use crate::facts::tls::{
    ChainSource, LoginTrust, LoginTrustVerdict, Prelogin, PresentedChain, Tds7Connection,
    Tds8Strict, TrustAnchors,
};
use crate::finding::{Finding, Stop};
use crate::probe::sql::{
    self, CertificateTrust, Connection, Credentials, LoginRequest, QueryFailure, ResultSet,
    SqlValue,
};
pub use crate::probe::sql::{LoginFailure, LoginReason, OsError, ServerError};
use crate::probe::tds::secured::SecuredTds7;
use crate::probe::wire_record::login_gate;
use crate::target::{Account, AuthKind, Credential, Target};
use crate::version::SqlVersion;

pub(crate) mod reads;
pub use reads::{DatabasePresence, ReadBy};

/// The note every finding obtained over an unverified connection carries.
pub const UNVERIFIED_NOTE: &str = "obtained over a connection whose server certificate was not verified (--trust-server-cert / tls.trust_server_certificate): a machine in the middle could have answered instead of the server";

/// Which configured account a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// `[sql]`: the account the application logs in with.
    App,
    /// `[backup]`: the account Passwordstate's backups run as.
    Backup,
}

impl AccountKind {
    pub fn describe(self) -> &'static str {
        match self {
            AccountKind::App => "application account",
            AccountKind::Backup => "backup account",
        }
    }

    /// The target file's section that configures this account.
    pub fn section(self) -> &'static str {
        match self {
            AccountKind::App => "sql",
            AccountKind::Backup => "backup",
        }
    }

    /// The account, or why its checks skip (which setting is missing).
    pub fn account(self, target: &Target) -> Result<&Account, Stop> {
        match self {
            AccountKind::App => Ok(target.sql_account()?),
            AccountKind::Backup => Ok(target.backup_account()?),
        }
    }
}

/// Whether this run may send credentials, and how far the connection can be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clearance {
    /// The certificate's chain and name were verified.
    pub verified: bool,
    /// Why it was not, when it was not.
    pub reason: String,
}

/// The gate in front of every LOGIN7: verified TLS, or the user's explicit
/// acceptance of an unverified certificate. Otherwise every SQL check skips
/// with the reason and no credentials leave this machine.
pub struct LoginClearance;

impl Fact for LoginClearance {
    type Output = Clearance;

    async fn gather(ctx: &RunContext) -> Result<Clearance, Stop> {
        // Boxed: fact futures nest inside each other, and unboxed the chain
        // from a check down to the TLS probes is too deep for the compiler.
        let trust = ctx.fact::<LoginTrust>().boxed().await?;
        clearance(&trust, ctx.target.tls.trust_server_certificate)
    }
}

/// The decision [`LoginClearance`] makes, on its own for testing.
pub fn clearance(trust: &LoginTrustVerdict, trust_anyway: bool) -> Result<Clearance, Stop> {
    let reason = &trust.reason;
    if trust.verified || trust_anyway {
        return Ok(Clearance {
            verified: trust.verified,
            reason: reason.clone(),
        });
    }
    Err(Stop::blocked(
        trust.judged_by.iter().copied(),
        format!(
            "no login was attempted, so no credentials were sent: the server's certificate could not be verified ({reason}). \
         Fix the certificate (see the tls.* checks), or on a network you trust accept it with --trust-server-cert"
        ),
    ))
}

/// One login attempt as the ledger records it (no secrets).
#[derive(Debug, Clone, Serialize)]
pub struct LoginRecord {
    pub account: AccountKind,
    pub user: String,
    pub database: Option<String>,
    pub succeeded: bool,
    pub millis: u64,
}

/// Every LOGIN7 this run sent: the benchmark's "one login per account".
#[derive(Debug, Default)]
pub struct LoginLedger {
    records: Mutex<Vec<LoginRecord>>,
}

impl LoginLedger {
    fn record(&self, record: LoginRecord) {
        self.records.lock().push(record);
    }

    pub fn records(&self) -> Vec<LoginRecord> {
        self.records.lock().clone()
    }

    pub fn count(&self) -> usize {
        self.records.lock().len()
    }
}

/// The run's login ledger.
pub struct SqlLogins;

impl Fact for SqlLogins {
    type Output = LoginLedger;

    async fn gather(_: &RunContext) -> Result<LoginLedger, Stop> {
        Ok(LoginLedger::default())
    }
}

/// A logged-in session, shared by the checks of one account.
pub struct SqlSession {
    pub account: AccountKind,
    pub user: String,
    pub auth: AuthKind,
    /// The database the session opened at login, when it could.
    pub database: Option<String>,
    /// The certificate was verified; otherwise findings carry [`UNVERIFIED_NOTE`].
    pub tls_verified: bool,
    connection: tokio::sync::Mutex<sql::Connection>,
}

impl SqlSession {
    /// Every result set of a batch, each with its column names.
    pub(crate) async fn results(&self, sql: &str) -> Result<Vec<ResultSet>, QueryFailure> {
        self.connection.lock().await.query(sql).await
    }

    /// Every result set of a batch allowed to run for `limit` (a backup).
    pub(crate) async fn results_within(
        &self,
        sql: &str,
        limit: std::time::Duration,
    ) -> Result<Vec<ResultSet>, QueryFailure> {
        self.connection.lock().await.query_within(sql, limit).await
    }

    /// The first result set of a batch (empty when it returned none).
    pub(crate) async fn rows(&self, sql: &str) -> Result<ResultSet, QueryFailure> {
        let mut sets = self.results(sql).await?;
        Ok(if sets.is_empty() {
            ResultSet::default()
        } else {
            sets.swap_remove(0)
        })
    }

    /// The first column of the first row; `None` when no row came back.
    pub(crate) async fn scalar(&self, sql: &str) -> Result<Option<SqlValue>, QueryFailure> {
        Ok(self.rows(sql).await?.scalar().cloned())
    }

    /// Marks a finding obtained through this session when its connection was not verified.
    pub fn mark(&self, finding: Finding) -> Finding {
        if self.tls_verified {
            finding
        } else {
            finding.note(UNVERIFIED_NOTE)
        }
    }

    /// The session's database, or why database-scoped checks cannot run.
    pub fn require_database(&self) -> Result<&str, Stop> {
        self.database.as_deref().ok_or_else(|| {
            Stop::blocked(["sql.login", "sql.database"], format!(
                "the {} `{}` could not open the application database; see sql.login and sql.database",
                self.account.describe(),
                self.user
            ))
        })
    }
}

/// What came of logging in as one account.
pub struct SqlLogin {
    pub account: AccountKind,
    pub user: String,
    pub auth: AuthKind,
    /// The application database the login asked for.
    pub database: Option<String>,
    pub outcome: Result<SqlSession, LoginFailure>,
    /// The server refused the application database (4060 and kin), and the
    /// session above was opened without it to learn more.
    pub database_refused: Option<ServerError>,
    pub millis: u64,
    pub tls_verified: bool,
}

impl SqlLogin {
    /// The session, or why checks that need it skip.
    pub fn session(&self) -> Result<&SqlSession, Stop> {
        self.outcome.as_ref().map_err(|failure| {
            Stop::blocked(
                ["sql.login"],
                format!(
                    "the {} `{}` could not log in ({failure}); see sql.login",
                    self.account.describe(),
                    self.user
                ),
            )
        })
    }
}

/// The application account's session.
pub struct AppLogin;

impl Fact for AppLogin {
    type Output = SqlLogin;

    async fn gather(ctx: &RunContext) -> Result<SqlLogin, Stop> {
        log_in(ctx, AccountKind::App).boxed().await
    }
}

/// The backup account's session.
pub struct BackupLogin;

impl Fact for BackupLogin {
    type Output = SqlLogin;

    async fn gather(ctx: &RunContext) -> Result<SqlLogin, Stop> {
        log_in(ctx, AccountKind::Backup).boxed().await
    }
}

/// The login fact of `account`.
pub async fn login_of(
    ctx: &RunContext,
    account: AccountKind,
) -> Result<std::sync::Arc<SqlLogin>, Stop> {
    match account {
        AccountKind::App => ctx.fact::<AppLogin>().await,
        AccountKind::Backup => ctx.fact::<BackupLogin>().await,
    }
}

/// A session of `account`, or why there is none.
pub async fn session_of(
    ctx: &RunContext,
    account: AccountKind,
) -> Result<std::sync::Arc<SqlLogin>, Stop> {
    let login = login_of(ctx, account).await?;
    login.session()?;
    Ok(login)
}

/// Some working session: the application account's, else the backup
/// account's. For server-wide facts that any login can read.
pub async fn any_session(ctx: &RunContext) -> Result<std::sync::Arc<SqlLogin>, Stop> {
    let app = session_of(ctx, AccountKind::App).await;
    if app.is_ok() {
        return app;
    }
    match session_of(ctx, AccountKind::Backup).await {
        Ok(backup) => Ok(backup),
        Err(_) => app,
    }
}

async fn log_in(ctx: &RunContext, kind: AccountKind) -> Result<SqlLogin, Stop> {
    let target = &ctx.target;
    let account = kind.account(target)?;
    let credentials = credentials_of(account)?;
    let endpoint = *ctx.fact::<SqlEndpoint>().await?;
    let ledger = ctx.fact::<SqlLogins>().await?;
    let database = target.server.database.clone();
    let request = |verified: bool, strict: bool, database: Option<String>| LoginRequest {
        endpoint,
        tls_name: target.expected_tls_name().to_owned(),
        trust: if verified {
            CertificateTrust::Verify {
                ca_file: target.tls.ca_file.clone(),
            }
        } else {
            CertificateTrust::AcceptAny
        },
        strict,
        credentials: credentials.clone(),
        database,
        timeout: ctx.timeout(),
    };
    let record = |database: Option<String>, succeeded: bool, millis: u64| {
        ledger.record(LoginRecord {
            account: kind,
            user: account.user.clone(),
            database,
            succeeded,
            millis,
        })
    };

    let early = early_login(ctx, request(true, false, database.clone())).await;
    let clearance = ctx.fact::<LoginClearance>().await?;
    let strict = speaks_only_tds8(ctx).await;
    let attempt = |database: Option<String>| {
        let request = request(clearance.verified, strict, database.clone());
        async move {
            let started = Instant::now();
            let outcome = sql::login(request).await;
            let millis = started.elapsed().as_millis() as u64;
            record(database, outcome.is_ok(), millis);
            (outcome, millis)
        }
    };

    let (mut outcome, mut millis) = match early {
        Some((outcome, millis)) => {
            record(database.clone(), outcome.is_ok(), millis);
            (outcome, millis)
        }
        None => attempt(database.clone()).await,
    };
    let mut database_refused = None;
    let mut session_database = database.clone();
    if let (Err(LoginFailure::Server(error)), Some(_)) = (&outcome, &database)
        && refuses_database(error)
    {
        // The credentials are good but the database is not: log in without it
        // so the checks can still tell whether it exists and what is missing.
        database_refused = Some(error.clone());
        session_database = None;
        let (retry, retry_millis) = attempt(None).await;
        outcome = retry;
        millis += retry_millis;
    }
    Ok(SqlLogin {
        account: kind,
        user: account.user.clone(),
        auth: account.auth,
        database,
        outcome: outcome.map(|connection| SqlSession {
            account: kind,
            user: account.user.clone(),
            auth: account.auth,
            database: session_database,
            tls_verified: clearance.verified,
            connection: tokio::sync::Mutex::new(connection),
        }),
        database_refused,
        millis,
        tls_verified: clearance.verified,
    })
}

/// What the login presents for `account`, or why it cannot log in.
fn credentials_of(account: &Account) -> Result<Credentials, Stop> {
    let user = account.user.clone();
    let password = match &account.password {
        Credential::Given(password) => password.clone(),
        #[cfg(windows)]
        Credential::NotNeeded if account.auth == AuthKind::Integrated => {
            return Ok(Credentials::Integrated { user });
        }
        Credential::NotNeeded => {
            return Err(Stop::error(
                "integrated authentication (the logged-on account) is available only on Windows",
            ));
        }
        // sql.login reports the missing password as its error, with the fix.
        Credential::Missing { why, .. } => return Err(Stop::blocked(["sql.login"], why.clone())),
    };
    match account.auth {
        AuthKind::Sql => Ok(Credentials::Sql { user, password }),
        AuthKind::Windows => Ok(Credentials::Windows { user, password }),
        AuthKind::Integrated => Err(Stop::error(
            "integrated authentication (the logged-on account) is available only on Windows",
        )),
    }
}

/// The login a server with a verified certificate that speaks TDS 7.x gets
/// (`request`), started before that is known (issue 14). When the server
/// forces encryption, it travels on the TLS probe's own connection, whose
/// handshake presented the very certificate judged (see
/// `probe::tds::secured`), and leaves only once [`LoginClearance`] says so.
/// Otherwise its own connection, PRELOGIN and TLS handshake carry no
/// credentials and run while the TLS probes finish and the certificate is
/// judged; its LOGIN7 waits at a gate for [`LoginClearance`]. Used, with the
/// time it took less the wait, only when the clearance is `verified` and the
/// server is not TDS 8 only: the login the caller would have made itself.
/// Otherwise it is dropped with no LOGIN7 sent, and `None` tells the caller
/// to log in as it decides.
async fn early_login(
    ctx: &RunContext,
    request: LoginRequest,
) -> Option<(Result<Connection, LoginFailure>, u64)> {
    if let Some(secured) = probe_connection(ctx).await {
        // Boxed: two logins' futures side by side overflow a test thread's stack.
        return login_over_probe_connection(ctx, request, secured)
            .boxed()
            .await;
    }
    let (gate, key) = login_gate();
    let decision = async {
        let permitted = match ctx.fact::<LoginClearance>().boxed().await {
            Ok(clearance) => clearance.verified && !speaks_only_tds8(ctx).await,
            Err(_) => false,
        };
        key.decide(permitted);
        permitted
    };
    let started = Instant::now();
    let login = sql::login_gated(request, Some(gate));
    let (outcome, held) = match select(pin!(decision), pin!(login)).await {
        // Dropping the login closes its connection before any LOGIN7.
        Either::Left((false, _)) => return None,
        Either::Left((true, login)) => login.await,
        Either::Right((attempt, decision)) => {
            if !decision.await {
                return None;
            }
            attempt
        }
    };
    let millis = started.elapsed().saturating_sub(held).as_millis() as u64;
    Some((outcome, millis))
}

/// The TLS probe's TDS 7.x connection, when it can carry a login (the
/// first login to ask takes it).
async fn probe_connection(ctx: &RunContext) -> Option<SecuredTds7> {
    // The trust anchors load meanwhile: the clearance needs them next, and
    // nothing else asks for them before the chain has arrived.
    let (connection, _) = futures::join!(
        ctx.fact::<Tds7Connection>().boxed(),
        ctx.fact::<TrustAnchors>().boxed()
    );
    connection.ok()?.as_ref().as_ref().ok()?.secured.take()
}

/// [`early_login`] on the TLS probe's connection: LOGIN7 only once the
/// certificate that connection presented is cleared as verified.
async fn login_over_probe_connection(
    ctx: &RunContext,
    request: LoginRequest,
    secured: SecuredTds7,
) -> Option<(Result<Connection, LoginFailure>, u64)> {
    let verified = matches!(
        ctx.fact::<LoginClearance>().boxed().await,
        Ok(clearance) if clearance.verified
    );
    // The chain judged must be this connection's (it is whenever the TDS 7.x
    // handshake succeeded, as it did to leave a connection).
    let judged_here = matches!(
        ctx.fact::<PresentedChain>().boxed().await,
        Ok(chain) if chain.source == ChainSource::Tds7
    );
    if !(verified && judged_here) {
        // Dropped: the connection closes with no LOGIN7 sent.
        return None;
    }
    let started = Instant::now();
    let outcome = sql::login_secured(request, secured).boxed().await;
    Some((outcome, started.elapsed().as_millis() as u64))
}

/// A server that closes TDS 7.x connections but completes a TDS 8 strict
/// handshake is logged into with TDS 8; every other server with TDS 7.x and
/// encryption required, as the applications connect.
async fn speaks_only_tds8(ctx: &RunContext) -> bool {
    let tds7_failed = matches!(ctx.fact::<Prelogin>().boxed().await.as_deref(), Ok(Err(_)));
    tds7_failed && matches!(ctx.fact::<Tds8Strict>().boxed().await.as_deref(), Ok(Ok(_)))
}

/// Errors that mean "the login is fine but this database is not available to it".
pub fn refuses_database(error: &ServerError) -> bool {
    // 4060: cannot open database requested by the login; 18456 states 38/40/46:
    // the same, reported as a failed login.
    error.number == 4060 || (error.number == 18456 && matches!(error.state, 38 | 40 | 46))
}

/// The application database's data files, in bytes (allocated size, an
/// upper bound of a full backup's size): for the free-space check at the
/// backup destination.
pub struct DatabaseDataSize;

pub const DATA_FILES_QUERY: &str = "SELECT size FROM sys.database_files WHERE type = 0";

impl Fact for DatabaseDataSize {
    type Output = u64;

    async fn gather(ctx: &RunContext) -> Result<u64, Stop> {
        async {
            let login = session_of(ctx, AccountKind::App).await?;
            let session = login.session()?;
            session.require_database()?;
            let set = session.rows(DATA_FILES_QUERY).await.map_err(|e| {
                Stop::error(format!(
                    "cannot read the size of the application database's files: {e}"
                ))
            })?;
            data_bytes(&set)
                .ok_or_else(|| Stop::error("sys.database_files listed no data file with a size"))
        }
        .boxed()
        .await
    }
}

/// Sums `size` (8 KiB pages) over the rows.
fn data_bytes(set: &ResultSet) -> Option<u64> {
    let pages: Option<Vec<i64>> = (0..set.rows.len())
        .map(|row| set.get(row, "size").as_i64())
        .collect();
    let pages = pages.filter(|p| !p.is_empty())?;
    Some(pages.iter().map(|p| (*p).max(0) as u64).sum::<u64>() * 8192)
}

/// Where SQL Server runs, as far as the checks can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    /// SQL Server on a machine someone administers (on premises or a cloud VM).
    SqlServer,
    AzureSqlDatabase,
    AzureManagedInstance,
    AmazonRds,
    /// Azure Synapse, SQL Edge, Arc: not what the applications support.
    OtherCloud,
}

impl Platform {
    pub fn describe(self) -> &'static str {
        match self {
            Platform::SqlServer => "SQL Server",
            Platform::AzureSqlDatabase => "Azure SQL Database",
            Platform::AzureManagedInstance => "Azure SQL Managed Instance",
            Platform::AmazonRds => "Amazon RDS for SQL Server",
            Platform::OtherCloud => "a managed SQL platform",
        }
    }

    /// The platform in SQL Server's documented catalog (what exists where);
    /// `None` for one the catalog does not cover.
    pub fn in_catalog(self) -> Option<mssql_emulator::catalog::Platform> {
        use mssql_emulator::catalog::Platform as Documented;
        match self {
            Platform::SqlServer => Some(Documented::SqlServer),
            Platform::AzureSqlDatabase => Some(Documented::AzureSqlDatabase),
            Platform::AzureManagedInstance => Some(Documented::AzureSqlManagedInstance),
            Platform::AmazonRds => Some(Documented::AmazonRds),
            Platform::OtherCloud => None,
        }
    }

    /// Whether `BACKUP DATABASE … TO DISK` works as the applications use it.
    pub fn native_backup_to_disk(self) -> bool {
        matches!(self, Platform::SqlServer)
    }

    /// From SERVERPROPERTY('EngineEdition') and the Amazon RDS markers.
    pub fn from_engine(engine_edition: Option<i64>, rds: bool) -> Platform {
        match engine_edition {
            Some(5) => Platform::AzureSqlDatabase,
            Some(8) => Platform::AzureManagedInstance,
            Some(6 | 9 | 10 | 11) => Platform::OtherCloud,
            _ if rds => Platform::AmazonRds,
            _ => Platform::SqlServer,
        }
    }

    /// From the host name alone: the managed platforms' DNS suffixes.
    pub fn from_host(host: &str) -> Option<Platform> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.ends_with(".database.windows.net") {
            // Managed Instances are `name.<dns-zone>.database.windows.net`;
            // single databases are `name.database.windows.net`.
            let labels = host
                .trim_end_matches(".database.windows.net")
                .split('.')
                .count();
            Some(if labels >= 2 {
                Platform::AzureManagedInstance
            } else {
                Platform::AzureSqlDatabase
            })
        } else if host.ends_with(".rds.amazonaws.com") {
            Some(Platform::AmazonRds)
        } else {
            None
        }
    }
}

/// A server-wide view that needs a permission the login may not have.
/// JSON: `{"visible": true, "value": …}` or `{"visible": false, "reason": …}`.
#[derive(Debug, Clone)]
pub enum Visibility<T> {
    Visible {
        value: T,
    },
    Hidden {
        reason: String,
        /// The permission that would make it visible, when that is why it is hidden.
        permission: Option<String>,
    },
}

impl<T: Serialize> Serialize for Visibility<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match self {
            Visibility::Visible { value } => {
                let mut s = serializer.serialize_struct("Visibility", 2)?;
                s.serialize_field("visible", &true)?;
                s.serialize_field("value", value)?;
                s.end()
            }
            Visibility::Hidden { reason, permission } => {
                let mut s = serializer.serialize_struct("Visibility", 3)?;
                s.serialize_field("visible", &false)?;
                s.serialize_field("reason", reason)?;
                s.serialize_field("permission", permission)?;
                s.end()
            }
        }
    }
}

impl<T> Visibility<T> {
    pub fn visible(&self) -> Option<&T> {
        match self {
            Visibility::Visible { value } => Some(value),
            Visibility::Hidden { .. } => None,
        }
    }
}

/// One service of the instance, from sys.dm_server_services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceInfo {
    pub name: String,
    pub account: String,
    pub status: Option<String>,
    pub startup: Option<String>,
}

/// What the server says about itself; the support bundle writes it as
/// `server-facts.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    pub product_version: String,
    pub version: Option<SqlVersion>,
    pub release: Option<String>,
    pub product_level: Option<String>,
    pub product_update_level: Option<String>,
    pub edition: Option<String>,
    pub engine_edition: Option<i64>,
    pub machine_name: Option<String>,
    pub server_name: Option<String>,
    pub instance_name: Option<String>,
    pub collation: Option<String>,
    pub version_string: Option<String>,
    /// Which Amazon RDS markers exist (the rdsadmin database, its backup procedure).
    pub rds_markers: Vec<String>,
    pub platform: Platform,
    pub service_accounts: Visibility<Vec<ServiceInfo>>,
    /// The login that read these facts.
    pub read_as: String,
    pub tls_verified: bool,
}

impl ServerInfo {
    /// The permission a server-wide DMV needs on this version.
    pub fn server_state_permission(&self) -> &'static str {
        match self.version {
            Some(v) if v.major >= 16 => "VIEW SERVER PERFORMANCE STATE",
            _ => "VIEW SERVER STATE",
        }
    }
}

pub const SERVER_FACTS_QUERY: &str = "SELECT \
CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS product_version, \
CAST(SERVERPROPERTY('ProductLevel') AS nvarchar(128)) AS product_level, \
CAST(SERVERPROPERTY('ProductUpdateLevel') AS nvarchar(128)) AS product_update_level, \
CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition, \
CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition, \
CAST(SERVERPROPERTY('MachineName') AS nvarchar(128)) AS machine_name, \
@@SERVERNAME AS server_name, \
CAST(SERVERPROPERTY('InstanceName') AS nvarchar(128)) AS instance_name, \
CAST(SERVERPROPERTY('Collation') AS nvarchar(128)) AS collation, \
@@VERSION AS version_string, \
DB_ID(N'rdsadmin') AS rdsadmin_id, \
OBJECT_ID(N'msdb.dbo.rds_backup_database') AS rds_backup_id";

pub const SERVICES_QUERY: &str = "SELECT servicename, service_account, status_desc, startup_type_desc FROM sys.dm_server_services";

/// The server's identity, read once by any session.
pub struct ServerFacts;

impl Fact for ServerFacts {
    type Output = ServerInfo;

    async fn gather(ctx: &RunContext) -> Result<ServerInfo, Stop> {
        read_server_info(ctx).boxed().await
    }
}

async fn read_server_info(ctx: &RunContext) -> Result<ServerInfo, Stop> {
    let login = any_session(ctx).await?;
    let session = login.session()?;
    let set = session
        .rows(SERVER_FACTS_QUERY)
        .await
        .map_err(|e| Stop::error(format!("cannot read the server's properties: {e}")))?;
    if set.rows.is_empty() {
        return Err(Stop::error("the server returned no row for its properties"));
    }
    let text = |name: &str| set.get(0, name).as_text().filter(|t| !t.is_empty());
    let product_version = text("product_version").unwrap_or_default();
    let version = SqlVersion::parse(&product_version);
    let engine_edition = set.get(0, "engine_edition").as_i64();
    let mut rds_markers = Vec::new();
    if !set.get(0, "rdsadmin_id").is_null() {
        rds_markers.push("the rdsadmin database".to_owned());
    }
    if !set.get(0, "rds_backup_id").is_null() {
        rds_markers.push("msdb.dbo.rds_backup_database".to_owned());
    }
    let platform = Platform::from_engine(engine_edition, !rds_markers.is_empty());
    let mut info = ServerInfo {
        release: version
            .and_then(SqlVersion::release_name)
            .map(str::to_owned),
        product_version,
        version,
        product_level: text("product_level"),
        product_update_level: text("product_update_level"),
        edition: text("edition"),
        engine_edition,
        machine_name: text("machine_name"),
        server_name: text("server_name"),
        instance_name: text("instance_name"),
        collation: text("collation"),
        version_string: text("version_string"),
        rds_markers,
        platform,
        service_accounts: Visibility::Hidden {
            reason: String::new(),
            permission: None,
        },
        read_as: session.user.clone(),
        tls_verified: session.tls_verified,
    };
    let permission = info.server_state_permission();
    // The identity above is what matters; services are extra, so a view
    // that fails for any reason leaves them hidden rather than failing all.
    info.service_accounts = match server_view(session, SERVICES_QUERY, permission).await {
        Ok(Visibility::Visible { value }) => Visibility::Visible {
            value: services_from(&value),
        },
        Ok(Visibility::Hidden { reason, permission }) => Visibility::Hidden { reason, permission },
        Err(stop) => Visibility::Hidden {
            reason: stop.reason().to_owned(),
            permission: None,
        },
    };
    Ok(info)
}

fn services_from(set: &ResultSet) -> Vec<ServiceInfo> {
    (0..set.rows.len())
        .map(|row| ServiceInfo {
            name: set.get(row, "servicename").as_text().unwrap_or_default(),
            account: set
                .get(row, "service_account")
                .as_text()
                .unwrap_or_default(),
            status: set.get(row, "status_desc").as_text(),
            startup: set.get(row, "startup_type_desc").as_text(),
        })
        .collect()
}

/// Reads a server-wide view; a permission the login lacks, or a view the
/// platform does not have, makes it hidden with the reason rather than an error.
pub async fn server_view(
    session: &SqlSession,
    sql: &str,
    permission: &str,
) -> Result<Visibility<ResultSet>, Stop> {
    match session.rows(sql).await {
        Ok(set) => Ok(Visibility::Visible { value: set }),
        Err(QueryFailure::Server(error)) if is_permission_denied(&error) => {
            Ok(Visibility::Hidden {
                reason: format!(
                    "the login `{}` lacks the {permission} permission the view needs (server: {})",
                    session.user, error.message
                ),
                permission: Some(permission.to_owned()),
            })
        }
        Err(QueryFailure::Server(error)) if is_missing_object(&error) => Ok(Visibility::Hidden {
            reason: format!(
                "this platform does not offer the view (server: {})",
                error.message
            ),
            permission: None,
        }),
        Err(other) => Err(Stop::error(format!("cannot read a server view: {other}"))),
    }
}

/// 300/297: a server-level permission is missing; 229/230: SELECT or EXECUTE denied.
pub fn is_permission_denied(error: &ServerError) -> bool {
    matches!(error.number, 229 | 230 | 262 | 297 | 300)
}

/// 208: invalid object name; 40515: not supported in this version of Azure SQL.
pub fn is_missing_object(error: &ServerError) -> bool {
    matches!(error.number, 208 | 40515)
}

/// The instance's network settings from sys.dm_server_registry, where visible.
pub struct ServerRegistry;

/// ForceEncryption and the TCP ports as the instance's registry holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NetworkSettings {
    pub force_encryption: Option<bool>,
    pub force_strict_encryption: Option<bool>,
    /// IPAll's TcpPort (a static port), empty when none is set.
    pub tcp_port: Option<String>,
    /// IPAll's TcpDynamicPorts, non-empty when the instance picks its port at start.
    pub tcp_dynamic_ports: Option<String>,
}

pub const REGISTRY_QUERY: &str = "SELECT registry_key, value_name, CAST(value_data AS nvarchar(4000)) AS value_data FROM sys.dm_server_registry WHERE (registry_key LIKE N'%SuperSocketNetLib' AND value_name IN (N'ForceEncryption', N'ForceStrictEncryption')) OR (registry_key LIKE N'%SuperSocketNetLib\\Tcp\\IPAll' AND value_name IN (N'TcpPort', N'TcpDynamicPorts'))";

impl Fact for ServerRegistry {
    type Output = Visibility<NetworkSettings>;

    async fn gather(ctx: &RunContext) -> Result<Visibility<NetworkSettings>, Stop> {
        let server = ctx.fact::<ServerFacts>().boxed().await?;
        let login = any_session(ctx).await?;
        let session = login.session()?;
        let view = server_view(session, REGISTRY_QUERY, server.server_state_permission()).await?;
        Ok(match view {
            Visibility::Visible { value } => Visibility::Visible {
                value: network_settings(&value),
            },
            Visibility::Hidden { reason, permission } => Visibility::Hidden { reason, permission },
        })
    }
}

fn network_settings(set: &ResultSet) -> NetworkSettings {
    let mut settings = NetworkSettings::default();
    for row in 0..set.rows.len() {
        let name = set.get(row, "value_name").as_text().unwrap_or_default();
        let value = set.get(row, "value_data");
        let flag = || value.as_i64().map(|v| v != 0);
        match name.to_ascii_lowercase().as_str() {
            "forceencryption" => settings.force_encryption = flag(),
            "forcestrictencryption" => settings.force_strict_encryption = flag(),
            "tcpport" => settings.tcp_port = value.as_text().map(|t| t.trim().to_owned()),
            "tcpdynamicports" => {
                settings.tcp_dynamic_ports = value.as_text().map(|t| t.trim().to_owned())
            }
            _ => {}
        }
    }
    settings
}

/// What SQL Server 2022 on `platform` says about itself, for judgements'
/// unit tests.
#[cfg(test)]
pub fn server_info_for_tests(platform: Platform) -> ServerInfo {
    ServerInfo {
        product_version: "16.0.4135.4".to_owned(),
        version: SqlVersion::parse("16.0.4135.4"),
        release: Some("SQL Server 2022".to_owned()),
        product_level: Some("RTM".to_owned()),
        product_update_level: Some("CU15".to_owned()),
        edition: Some("Standard Edition (64-bit)".to_owned()),
        engine_edition: Some(2),
        machine_name: Some("SQL01".to_owned()),
        server_name: Some("SQL01".to_owned()),
        instance_name: None,
        collation: Some("SQL_Latin1_General_CP1_CI_AS".to_owned()),
        version_string: None,
        rds_markers: Vec::new(),
        platform,
        service_accounts: Visibility::Visible {
            value: vec![ServiceInfo {
                name: "SQL Server (MSSQLSERVER)".to_owned(),
                account: r"CORP\svc-sql".to_owned(),
                status: Some("Running".to_owned()),
                startup: Some("Automatic".to_owned()),
            }],
        },
        read_as: "pmp".to_owned(),
        tls_verified: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unverified_tls_blocks_the_login_unless_accepted() {
        let refused = LoginTrustVerdict {
            verified: false,
            reason: "the certificate is expired".to_owned(),
            judged_by: vec!["tls.cert.validity"],
        };
        let stop = clearance(&refused, false).unwrap_err();
        let skip = stop.skip().expect("a skip");
        assert_eq!(skip.kind, crate::finding::SkipKind::Blocked);
        assert_eq!(skip.by, ["tls.cert.validity"]);
        assert!(stop.reason().contains("no credentials were sent"));
        assert!(stop.reason().contains("the certificate is expired"));
        let accepted = clearance(&refused, true).unwrap();
        assert!(!accepted.verified);
        let verified = LoginTrustVerdict {
            verified: true,
            reason: String::new(),
            judged_by: Vec::new(),
        };
        assert!(clearance(&verified, false).unwrap().verified);
    }

    #[test]
    fn platforms_are_recognised_from_host_names() {
        assert_eq!(
            Platform::from_host("pmp.database.windows.net"),
            Some(Platform::AzureSqlDatabase)
        );
        assert_eq!(
            Platform::from_host("mi01.abc123def.database.windows.net."),
            Some(Platform::AzureManagedInstance)
        );
        assert_eq!(
            Platform::from_host("db1.cxyz.eu-west-1.rds.amazonaws.com"),
            Some(Platform::AmazonRds)
        );
        assert_eq!(Platform::from_host("sql01.corp.example"), None);
        assert_eq!(
            Platform::from_engine(Some(5), false),
            Platform::AzureSqlDatabase
        );
        assert_eq!(
            Platform::from_engine(Some(8), false),
            Platform::AzureManagedInstance
        );
        assert_eq!(Platform::from_engine(Some(2), true), Platform::AmazonRds);
        assert_eq!(Platform::from_engine(Some(3), false), Platform::SqlServer);
    }

    #[test]
    fn registry_rows_become_settings() {
        let row = |name: &str, value: &str| {
            vec![
                SqlValue::Text("HKLM\\…".into()),
                SqlValue::Text(name.into()),
                SqlValue::Text(value.into()),
            ]
        };
        let set = ResultSet {
            columns: vec![
                "registry_key".into(),
                "value_name".into(),
                "value_data".into(),
            ],
            rows: vec![
                row("ForceEncryption", "1"),
                row("TcpPort", ""),
                row("TcpDynamicPorts", "49733"),
            ],
        };
        let settings = network_settings(&set);
        assert_eq!(settings.force_encryption, Some(true));
        assert_eq!(settings.tcp_port.as_deref(), Some(""));
        assert_eq!(settings.tcp_dynamic_ports.as_deref(), Some("49733"));
        assert_eq!(settings.force_strict_encryption, None);
    }

    #[test]
    fn data_file_pages_add_up_to_bytes() {
        let set = ResultSet {
            columns: vec!["size".into()],
            rows: vec![vec![SqlValue::Int(1024)], vec![SqlValue::Int(8)]],
        };
        assert_eq!(data_bytes(&set), Some(1032 * 8192));
        assert_eq!(data_bytes(&ResultSet::default()), None);
    }

    #[test]
    fn database_refusals_are_told_apart_from_bad_credentials() {
        let error = |number, state| ServerError {
            number,
            state,
            class: 14,
            message: String::new(),
            server: String::new(),
            procedure: String::new(),
        };
        assert!(refuses_database(&error(4060, 1)));
        assert!(refuses_database(&error(18456, 38)));
        assert!(!refuses_database(&error(18456, 8)));
    }
}
