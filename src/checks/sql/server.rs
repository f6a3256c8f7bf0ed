//! Server-wide checks: version, platform, clock, the session's encryption,
//! ForceEncryption and the service account.

use async_trait::async_trait;

use crate::context::RunContext;
use crate::facts::sql::reads::{ClockReading, Connection, ConnectionRow, Read, ServerClock, ident};
use crate::facts::sql::{
    NetworkSettings, Platform, ServerFacts, ServerInfo, ServerRegistry, ServiceInfo,
    UNVERIFIED_NOTE, Visibility,
};
use crate::facts::tls::{Encryption, Prelogin};
use crate::finding::{Finding, Outcome, Severity, Stop};
use crate::registry::{Check, CheckMeta, Family, ParamRule};
use crate::version::SqlVersion;

/// How to make a hidden view visible, when a permission is what hides it.
fn grant_hint(permission: Option<&str>, login: &str) -> String {
    permission
        .map(|p| format!("; to check it, run once: GRANT {p} TO {};", ident(login)))
        .unwrap_or_default()
}

/// Marks `finding` when the server facts came over an unverified connection.
fn marked(info: &ServerInfo, finding: Finding) -> Finding {
    if info.tls_verified {
        finding
    } else {
        finding.note(UNVERIFIED_NOTE)
    }
}

pub struct Version {
    meta: CheckMeta,
}

impl Version {
    pub(super) fn new() -> Self {
        Version {
            meta: CheckMeta::new("sql.version", Family::Sql, Severity::Fail)
                .title("SQL Server is recent enough")
                .checks("Reads SERVERPROPERTY('ProductVersion'), the edition and the product and update level, and compares the version with the profile's minimum.")
                .why("Old releases lack TLS 1.2, TDS 8 and security fixes, and are out of support; the applications are tested against current releases.")
                .fix("Upgrade SQL Server to a supported release and apply its latest cumulative update.")
                .guide("PMP guide (SQL Server as backend); Passwordstate guide §2.7")
                .param(
                    "minimum",
                    "13.0",
                    "the oldest acceptable ProductVersion, major.minor (13.0 = SQL Server 2016)",
                )
                .rule(ParamRule::SqlVersion),
        }
    }
}

/// The parameters of Version, named as in its metadata (where their
/// defaults are).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionParams {
    minimum: String,
}

#[async_trait]
impl Check for Version {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let VersionParams {
            minimum: minimum_text,
        } = ctx.params(&self.meta)?;
        let minimum = SqlVersion::parse(&minimum_text).ok_or_else(|| {
            Stop::error(format!(
                "parameter `minimum` of sql.version is not a version: `{minimum_text}`"
            ))
        })?;
        let info = ctx.fact::<ServerFacts>().await?;
        judge_version(&info, minimum, self.meta.severity)
    }
}

/// The verdict on the server's release against the oldest acceptable one.
fn judge_version(info: &ServerInfo, minimum: SqlVersion, severity: Severity) -> Outcome {
    let described = describe_release(info);
    let base = |f: Finding| {
        marked(
            info,
            f.evidence("product_version", &info.product_version)
                .evidence("edition", &info.edition)
                .evidence("product_level", &info.product_level)
                .evidence("product_update_level", &info.product_update_level)
                .evidence("engine_edition", info.engine_edition),
        )
    };
    if matches!(
        info.platform,
        Platform::AzureSqlDatabase | Platform::AzureManagedInstance
    ) {
        return Ok(base(Finding::pass(format!(
            "{described}: Microsoft keeps {} on the current engine (its version number {} is not a release number)",
            info.platform.describe(),
            info.product_version
        ))));
    }
    let Some(version) = info.version else {
        return Err(Stop::error(format!(
            "the server reported a version that is not a version number: `{}`",
            info.product_version
        )));
    };
    let wanted = minimum
        .release_name()
        .map(|name| format!("{minimum} ({name}) or later"))
        .unwrap_or_else(|| format!("{minimum} or later"));
    if version >= minimum {
        Ok(base(Finding::pass(described).expected(wanted)))
    } else {
        Ok(base(
            Finding::problem(
                severity,
                format!("{described} is older than the minimum {minimum}"),
            )
            .expected(wanted)
            .actual(version.to_string()),
        ))
    }
}

fn describe_release(info: &ServerInfo) -> String {
    let mut parts = vec![
        info.release
            .clone()
            .unwrap_or_else(|| info.platform.describe().to_owned()),
        format!("({})", info.product_version),
    ];
    parts.extend(info.edition.iter().cloned());
    parts.extend(info.product_level.iter().cloned());
    parts.extend(info.product_update_level.iter().cloned());
    parts.join(" ")
}

pub struct PlatformCheck {
    meta: CheckMeta,
}

impl PlatformCheck {
    pub(super) fn new() -> Self {
        PlatformCheck {
            meta: CheckMeta::new("sql.platform", Family::Sql, Severity::Warn)
                .title("The platform supports the application's backups")
                .checks("Recognises Azure SQL Database (EngineEdition 5), Azure SQL Managed Instance (8) and Amazon RDS (the rdsadmin database, msdb.dbo.rds_backup_database) from the server, and from the host name suffixes .database.windows.net and .rds.amazonaws.com even without a login.")
                .why("Managed platforms do not allow native BACKUP DATABASE … TO DISK, so an application that backs up its own database there fails every night.")
                .fix("Switch off the application's own database backup and use the platform's backups instead (Azure automated backups and long-term retention; RDS automated backups or rds_backup_database to S3).")
                .guide("Passwordstate guide §1 (cloud databases) and §4.9 (Azure and Amazon SQL databases)")
                .param(
                    "native_backup",
                    true,
                    "whether the application backs up its database itself with BACKUP DATABASE … TO DISK",
                ),
        }
    }
}

/// The parameters of PlatformCheck, named as in its metadata (where their
/// defaults are).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlatformParams {
    native_backup: bool,
}

#[async_trait]
impl Check for PlatformCheck {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let PlatformParams { native_backup } = ctx.params(&self.meta)?;
        let by_name = Platform::from_host(&ctx.target.server.host);
        let server = ctx.fact::<ServerFacts>().await;
        judge_platform(
            server.as_deref().map_err(Clone::clone),
            by_name,
            native_backup,
            self.meta.severity,
        )
    }
}

/// The verdict on whether the platform allows the application's backups:
/// from the server's own properties, else from the host name (`by_name`).
fn judge_platform(
    server: Result<&ServerInfo, Stop>,
    by_name: Option<Platform>,
    native_backup: bool,
    severity: Severity,
) -> Outcome {
    let (platform, info) = match server {
        Ok(info) => (info.platform, Some(info)),
        Err(stop) => match by_name {
            Some(platform) => (platform, None),
            None => return Err(stop),
        },
    };
    let source = if info.is_some() {
        "the server's own properties"
    } else {
        "the host name (no login was possible)"
    };
    let mut finding = if platform.native_backup_to_disk() {
        Finding::pass(format!(
            "{}: native backups to disk are available",
            info.as_ref()
                .and_then(|i| i.edition.clone())
                .map(|edition| format!("SQL Server {edition}"))
                .unwrap_or_else(|| platform.describe().to_owned())
        ))
    } else if !native_backup {
        Finding::pass(format!(
            "{}: the platform backs up the database itself",
            platform.describe()
        ))
    } else {
        Finding::problem(
            severity,
            format!(
                "{} does not allow native BACKUP DATABASE … TO DISK, so the application's own database backup cannot work",
                platform.describe()
            ),
        )
        .expected("SQL Server where BACKUP DATABASE … TO DISK works, or the application's database backup switched off")
        .actual(platform.describe())
        .remediation(platform_remediation(platform))
    };
    finding = finding
        .evidence("platform", platform)
        .evidence("detected_from", source);
    if let Some(info) = info {
        finding = finding
            .evidence("engine_edition", info.engine_edition)
            .evidence("rds_markers", &info.rds_markers);
        if by_name.is_some_and(|named| named != platform) {
            finding = finding.note(format!(
                "the host name suggests {}, but the server reports {}",
                by_name.map(Platform::describe).unwrap_or_default(),
                platform.describe()
            ));
        }
        finding = marked(info, finding);
    }
    Ok(finding)
}

fn platform_remediation(platform: Platform) -> String {
    let platform_backups = match platform {
        Platform::AzureSqlDatabase => {
            "Azure SQL Database backs up automatically (point-in-time restore); add long-term retention in the Azure portal if policy needs it."
        }
        Platform::AzureManagedInstance => {
            "Managed Instance backs up automatically; extra copies go only to URL: BACKUP DATABASE … TO URL = 'https://…' WITH COPY_ONLY."
        }
        Platform::AmazonRds => {
            "Use RDS automated backups, or native backups to S3: EXEC msdb.dbo.rds_backup_database @source_db_name = N'<database>', @s3_arn_to_backup_to = N'arn:aws:s3:::<bucket>/<file>.bak';"
        }
        _ => "Use the platform's own backup feature.",
    };
    format!(
        "In the application, switch off its own database backup (Passwordstate: Administration → Backups and Upgrades → Settings, deselect the database backup; keep the web files backup). {platform_backups}"
    )
}

pub struct Clock {
    meta: CheckMeta,
}

impl Clock {
    pub(super) fn new() -> Self {
        Clock {
            meta: CheckMeta::new("sql.clock", Family::Sql, Severity::Warn)
                .title("The server's clock agrees with this machine's")
                .checks("Compares SYSUTCDATETIME() on the server with this machine's UTC clock, allowing for the round trip.")
                .why("Kerberos refuses tickets when clocks differ by more than 5 minutes, so Windows logins fail; backup ages and certificate validity are judged by the clock too.")
                .fix("Synchronise both machines with the domain's time source: `w32tm /resync` on Windows, chrony or systemd-timesyncd on Linux.")
                .guide("Kerberos clock skew (Windows authentication, PMP guide step 4.v)")
                .param("warn_seconds", 120, "warn above this difference, in seconds")
                .rule(ParamRule::NotNegative)
                .param("fail_seconds", 300, "fail above this difference, in seconds (Kerberos allows 300)")
                .rule(ParamRule::NotNegative),
        }
    }
}

/// The parameters of Clock, named as in its metadata (where their
/// defaults are).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockParams {
    warn_seconds: i64,
    fail_seconds: i64,
}

#[async_trait]
impl Check for Clock {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let ClockParams {
            warn_seconds: warn_at,
            fail_seconds: fail_at,
        } = ctx.params(&self.meta)?;
        let clock = ctx.fact::<ServerClock>().await?;
        Ok(judge_clock(&clock, warn_at, fail_at))
    }
}

/// The verdict on the clocks' difference, in seconds past `warn_at` and `fail_at`.
fn judge_clock(clock: &Read<ClockReading>, warn_at: i64, fail_at: i64) -> Finding {
    let reading = &clock.value;
    // The server read its clock somewhere within the round trip: compare
    // with the middle of it.
    let local_mid = reading.asked + reading.round_trip / 2;
    let skew = reading.server_utc - local_mid;
    let seconds = skew.whole_milliseconds().unsigned_abs() as f64 / 1000.0;
    let direction = if skew.is_positive() {
        "ahead of"
    } else {
        "behind"
    };
    let words = format!("the server's clock is {seconds:.1} s {direction} this machine's");
    let finding = if seconds > fail_at as f64 {
        Finding::problem(
            Severity::Fail,
            format!("{words}: Kerberos (Windows) logins fail beyond 5 minutes"),
        )
    } else if seconds > warn_at as f64 {
        Finding::problem(
            Severity::Warn,
            format!("{words}: close to Kerberos's 5-minute limit"),
        )
    } else {
        Finding::pass(words)
    };
    clock.by.mark(
        finding
            .expected(format!("at most {warn_at} s apart"))
            .actual(format!("{seconds:.1} s"))
            .evidence("server_utc", &reading.server_text)
            .evidence("skew_seconds", (skew.whole_milliseconds() as f64) / 1000.0)
            .evidence("round_trip_ms", reading.round_trip.as_millis() as u64),
    )
}

pub struct ConnectionEncrypted {
    meta: CheckMeta,
}

impl ConnectionEncrypted {
    pub(super) fn new() -> Self {
        ConnectionEncrypted {
            meta: CheckMeta::new("sql.connection.encrypted", Family::Sql, Severity::Fail)
                .title("The session is encrypted, as the server sees it")
                .checks("Asks sys.dm_exec_connections for the session's own encrypt_option, auth_scheme and transport (the view needs VIEW SERVER STATE, VIEW SERVER PERFORMANCE STATE on SQL Server 2022, VIEW DATABASE STATE on Azure SQL Database, even for the session's own row).")
                .why("Only the server can confirm that the whole session, not just the login, travels encrypted; PMP connects to SQL Server over TLS only.")
                .fix("Set ForceEncryption to Yes on the instance (SQL Server Configuration Manager → Protocols → Properties) and restart SQL Server; have clients connect with Encrypt=true.")
                .guide("PMP guide step 3 (enable SSL encryption) and important notes (SSL only)"),
        }
    }
}

#[async_trait]
impl Check for ConnectionEncrypted {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let connection = ctx.fact::<ConnectionRow>().await?;
        judge_connection(&self.meta, &connection)
    }
}

/// The verdict on the session's encryption as the server reports it.
fn judge_connection(meta: &CheckMeta, connection: &Read<Connection>) -> Outcome {
    let by = &connection.by;
    let row = &connection.value;
    let (auth, transport) = (&row.auth_scheme, &row.net_transport);
    let finding = match row.encrypted {
        Some(true) => Finding::pass(format!(
            "the {} `{}` session is encrypted ({transport}, {auth} authentication)",
            by.account.describe(),
            by.user
        )),
        Some(false) => Finding::problem(
            meta.severity,
            format!(
                "SQL Server reports the `{}` session as not encrypted: what follows the login crosses the network readable",
                by.user
            ),
        )
        .expected("encrypt_option TRUE")
        .actual("FALSE"),
        None => {
            return Err(Stop::error(format!(
                "sys.dm_exec_connections gave an unreadable encrypt_option: {}",
                row.encrypt_option
            )));
        }
    };
    let mut finding = finding
        .evidence("encrypt_option", &row.encrypt_option)
        .evidence("auth_scheme", auth)
        .evidence("net_transport", transport)
        .evidence("protocol_type", &row.protocol_type);
    if by.auth.is_windows() && auth.eq_ignore_ascii_case("NTLM") {
        finding = finding.note(
            "Windows authentication used NTLM, not Kerberos: check the SQL Server service's SPN (setspn -L <service account>)",
        );
    }
    Ok(by.mark(finding))
}

pub struct ForceEncryption {
    meta: CheckMeta,
}

impl ForceEncryption {
    pub(super) fn new() -> Self {
        ForceEncryption {
            meta: CheckMeta::new("sql.config.force-encryption", Family::Sql, Severity::Warn)
                .title("ForceEncryption is on in the server's configuration")
                .checks("Reads ForceEncryption (and ForceStrictEncryption) from sys.dm_server_registry where the login may (VIEW SERVER STATE; VIEW SERVER PERFORMANCE STATE on SQL Server 2022), and compares it with what the server answered to PRELOGIN.")
                .why("With ForceEncryption off, a client that does not ask for encryption sends everything after the login in clear; a setting that disagrees with PRELOGIN is waiting for a restart.")
                .fix("SQL Server Configuration Manager → SQL Server Network Configuration → Protocols for the instance → Properties → Flags: Force Encryption = Yes; then restart the SQL Server service.")
                .guide("PMP guide step 3.4 (ForceEncryption = Yes, recommended) and 3.5 (restart)"),
        }
    }
}

#[async_trait]
impl Check for ForceEncryption {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let info = ctx.fact::<ServerFacts>().await?;
        force_encryption_applies(&info)?;
        let registry = ctx.fact::<ServerRegistry>().await?;
        let prelogin_forced = prelogin_forces(ctx).await;
        judge_force_encryption(&info, &registry, prelogin_forced, self.meta.severity)
    }
}

/// Whether the platform has a ForceEncryption setting to read.
fn force_encryption_applies(info: &ServerInfo) -> Result<(), Stop> {
    if info.platform == Platform::AzureSqlDatabase {
        return Err(Stop::not_applicable(
            "Azure SQL Database has no ForceEncryption setting: it always requires encryption",
        ));
    }
    if let Some(lacking) = super::platform_lacks(info, "sys.dm_server_registry") {
        return Err(Stop::not_applicable(format!(
            "{lacking}, where the instance's ForceEncryption lives; the platform manages encryption itself"
        )));
    }
    Ok(())
}

/// The verdict on the configured ForceEncryption, against what PRELOGIN
/// showed (`prelogin_forced`: `None` when it could not tell).
fn judge_force_encryption(
    info: &ServerInfo,
    registry: &Visibility<NetworkSettings>,
    prelogin_forced: Option<bool>,
    severity: Severity,
) -> Outcome {
    force_encryption_applies(info)?;
    let settings = match registry {
        Visibility::Visible { value } => value.clone(),
        Visibility::Hidden { reason, permission } => {
            return Err(Stop::not_configured(format!(
                "cannot read ForceEncryption: {reason}{}",
                grant_hint(permission.as_deref(), &info.read_as)
            )));
        }
    };
    let Some(forced) = settings.force_encryption else {
        return Err(Stop::error(
            "sys.dm_server_registry did not list ForceEncryption for the instance",
        ));
    };
    let configured = if forced { "on" } else { "off" };
    let mut finding = match (forced, prelogin_forced) {
        (true, Some(false)) => Finding::problem(
            severity,
            "ForceEncryption is on in the configuration, but the running server does not force encryption (PRELOGIN offered it as optional): the change waits for a restart",
        )
        .remediation("Restart the SQL Server service so the ForceEncryption setting takes effect."),
        (true, _) => Finding::pass("ForceEncryption is on"),
        (false, Some(true)) => Finding::problem(
            severity,
            "ForceEncryption is off in the configuration, but the running server still forces encryption: after the next restart it will not",
        ),
        (false, _) => Finding::problem(
            severity,
            "ForceEncryption is off: clients that do not ask for encryption send everything after the login in clear",
        ),
    };
    finding = finding
        .expected("ForceEncryption = 1")
        .actual(format!("ForceEncryption = {}", u8::from(forced)))
        .evidence("force_encryption", forced)
        .evidence("force_strict_encryption", settings.force_strict_encryption)
        .evidence("prelogin_forces_encryption", prelogin_forced)
        .evidence("configured", configured);
    if settings.force_strict_encryption == Some(true) {
        finding =
            finding.note("ForceStrictEncryption is on: only TDS 8.0 (strict) clients can connect");
    }
    Ok(marked(info, finding))
}

/// What PRELOGIN showed: the TLS probe sends ENCRYPT_OFF, so `Required`
/// means forced and `Off` means optional. `None` when it could not tell.
async fn prelogin_forces(ctx: &RunContext) -> Option<bool> {
    let prelogin = ctx.fact::<Prelogin>().await.ok()?;
    let answer = prelogin.as_ref().as_ref().ok()?;
    match answer.encryption()? {
        Encryption::Required => Some(true),
        Encryption::Off => Some(false),
        Encryption::On | Encryption::NotSupported => None,
    }
}

pub struct ServiceAccount {
    meta: CheckMeta,
}

impl ServiceAccount {
    pub(super) fn new() -> Self {
        ServiceAccount {
            meta: CheckMeta::new("sql.service.account", Family::Sql, Severity::Warn)
                .title("The SQL Server service account can reach the backup share")
                .checks("Reads the database engine's log-on account from sys.dm_server_services (VIEW SERVER STATE) and tells built-in accounts, which act on the network as the computer account, from custom ones.")
                .why("SQL Server writes backup files as its service account: a custom account needs its own Change permission on the share and Modify on the folder, or backups fail with Access Denied.")
                .fix("Grant the service account Change on the backup share and Modify on its folder, or set the service's Log On As back to its default virtual account (NT Service\\MSSQLSERVER) and grant the computer account (DOMAIN\\HOST$) instead.")
                .guide("Passwordstate guide §2.5 (share permissions for the SQL Server computer object), §4.6 troubleshooting step 5, §5 (permission matrix)"),
        }
    }
}

#[async_trait]
impl Check for ServiceAccount {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let info = ctx.fact::<ServerFacts>().await?;
        let share = ctx
            .target
            .backup
            .destination
            .as_deref()
            .unwrap_or("the backup share");
        judge_service_account(&info, share, self.meta.severity)
    }
}

/// The verdict on the database engine's log-on account, for writing to `share`.
fn judge_service_account(info: &ServerInfo, share: &str, severity: Severity) -> Outcome {
    if !info.platform.native_backup_to_disk() {
        return Err(Stop::not_applicable(format!(
            "{} manages its own service accounts and backups",
            info.platform.describe()
        )));
    }
    let services = match &info.service_accounts {
        Visibility::Visible { value } => value,
        Visibility::Hidden { reason, permission } => {
            return Err(Stop::not_configured(format!(
                "cannot read the service accounts: {reason}{}",
                grant_hint(permission.as_deref(), &info.read_as)
            )));
        }
    };
    let Some(engine) = services.iter().find(|s| is_engine(s)) else {
        return Err(Stop::error(
            "sys.dm_server_services lists no SQL Server database engine service",
        ));
    };
    let machine = info.machine_name.as_deref().unwrap_or("<server>");
    let finding = match classify_account(&engine.account) {
        AccountClass::BuiltIn => Finding::pass(format!(
            "the service runs as the built-in account {}: on the network it acts as the computer account {machine}$, which needs Change on {share}",
            engine.account
        )),
        AccountClass::Local => Finding::problem(
            severity,
            format!(
                "the service runs as the local account {}, which another machine does not know: it cannot write to {share} on another server",
                engine.account
            ),
        )
        .remediation(format!(
            "Set the service's Log On As to its default (NT Service\\{}) in SQL Server Configuration Manager and grant the computer account {machine}$ Change on the share and Modify on the folder; or use a domain account with that access.",
            service_name_of(engine)
        )),
        AccountClass::Custom => Finding::problem(
            severity,
            format!(
                "the service runs as the custom account {}: that account itself needs Change on {share} and Modify on its folder",
                engine.account
            ),
        )
        .remediation(format!(
            "Grant {} Change on the share and Modify on its folder (e.g. `Grant-SmbShareAccess -Name <share> -AccountName '{}' -AccessRight Change`), or set Log On As back to the default NT Service\\{} and grant the computer account {machine}$ instead.",
            engine.account,
            engine.account,
            service_name_of(engine)
        )),
    };
    Ok(marked(
        info,
        finding
            .evidence("service", &engine.name)
            .evidence("service_account", &engine.account)
            .evidence("services", services),
    ))
}

fn is_engine(service: &ServiceInfo) -> bool {
    service.name.starts_with("SQL Server (")
}

/// MSSQLSERVER or MSSQL$INSTANCE, from "SQL Server (INSTANCE)".
fn service_name_of(service: &ServiceInfo) -> String {
    let instance = service
        .name
        .trim_start_matches("SQL Server (")
        .trim_end_matches(')');
    if instance.eq_ignore_ascii_case("MSSQLSERVER") {
        "MSSQLSERVER".to_owned()
    } else {
        format!("MSSQL${instance}")
    }
}

#[derive(Debug, PartialEq, Eq)]
enum AccountClass {
    /// Virtual and built-in accounts: the computer account on the network.
    BuiltIn,
    /// A local user of the SQL Server machine.
    Local,
    /// A domain user or (group) managed service account.
    Custom,
}

fn classify_account(account: &str) -> AccountClass {
    let lower = account.trim().to_ascii_lowercase();
    let builtin_prefixes = ["nt service\\", "nt authority\\"];
    if builtin_prefixes.iter().any(|p| lower.starts_with(p))
        || matches!(
            lower.as_str(),
            "localsystem" | ".\\localsystem" | "networkservice" | "localservice"
        )
    {
        AccountClass::BuiltIn
    } else if lower.starts_with(".\\") || !lower.contains(['\\', '@']) {
        AccountClass::Local
    } else {
        AccountClass::Custom
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_params_match_the_metadata() {
        use crate::checks::verdicts::default_params;
        let ClockParams {
            warn_seconds,
            fail_seconds,
        } = default_params(&Clock::new().meta);
        assert_eq!((warn_seconds, fail_seconds), (120, 300));
    }

    #[test]
    fn platform_params_match_the_metadata() {
        use crate::checks::verdicts::default_params;
        let PlatformParams { native_backup } = default_params(&PlatformCheck::new().meta);
        assert!(native_backup);
    }

    #[test]
    fn version_params_match_the_metadata() {
        use crate::checks::verdicts::default_params;
        let VersionParams { minimum } = default_params(&Version::new().meta);
        assert_eq!(minimum, "13.0");
    }
    use crate::checks::verdicts::{finding, verdict};
    use crate::facts::sql::server_info_for_tests;
    use crate::finding::Status;

    fn sql_server() -> ServerInfo {
        server_info_for_tests(Platform::SqlServer)
    }

    #[test]
    fn version_verdicts() {
        let minimum = |text| SqlVersion::parse(text).unwrap();
        let current = finding(judge_version(
            &sql_server(),
            minimum("13.0"),
            Severity::Fail,
        ));
        assert_eq!(current.status, Status::Pass);
        assert!(
            current.message.starts_with("SQL Server 2022 (16.0.4135.4)"),
            "{}",
            current.message
        );
        assert_eq!(
            current.expected.as_deref(),
            Some("13.0.0.0 (SQL Server 2016) or later")
        );
        let old = finding(judge_version(
            &sql_server(),
            minimum("17.0"),
            Severity::Fail,
        ));
        assert_eq!(old.status, Status::Fail);
        assert_eq!(old.actual.as_deref(), Some("16.0.4135.4"));
        let azure = server_info_for_tests(Platform::AzureSqlDatabase);
        assert_eq!(
            verdict(&judge_version(&azure, minimum("17.0"), Severity::Fail)),
            "pass"
        );
        let mut odd = sql_server();
        odd.version = None;
        odd.product_version = "vNext".to_owned();
        assert_eq!(
            verdict(&judge_version(&odd, minimum("13.0"), Severity::Fail)),
            "error"
        );
        let mut unverified = sql_server();
        unverified.tls_verified = false;
        let marked = finding(judge_version(&unverified, minimum("13.0"), Severity::Fail));
        assert_eq!(marked.notes, [UNVERIFIED_NOTE]);
    }

    #[test]
    fn platform_verdicts() {
        let rds = server_info_for_tests(Platform::AmazonRds);
        let judge = |server: Result<&ServerInfo, Stop>, by_name, native| {
            judge_platform(server, by_name, native, Severity::Warn)
        };
        let native = finding(judge(Ok(&sql_server()), None, true));
        assert_eq!(native.status, Status::Pass);
        assert!(
            native.message.contains("Standard Edition"),
            "{}",
            native.message
        );
        let managed = finding(judge(Ok(&rds), None, true));
        assert_eq!(managed.status, Status::Warn);
        assert!(managed.remediation.unwrap().contains("rds_backup_database"));
        assert_eq!(verdict(&judge(Ok(&rds), None, false)), "pass");
        let named = finding(judge(
            Ok(&sql_server()),
            Some(Platform::AzureSqlDatabase),
            true,
        ));
        assert!(
            named.notes[0].contains("the host name suggests"),
            "{:?}",
            named.notes
        );
        let no_login = || Err(Stop::not_configured("no account"));
        let by_name = finding(judge(no_login(), Some(Platform::AzureSqlDatabase), true));
        assert_eq!(by_name.status, Status::Warn);
        assert_eq!(
            by_name.evidence["detected_from"],
            "the host name (no login was possible)"
        );
        assert_eq!(
            verdict(&judge(no_login(), None, true)),
            "skip:not_configured"
        );
    }

    fn registry(force: Option<bool>, strict: Option<bool>) -> Visibility<NetworkSettings> {
        Visibility::Visible {
            value: NetworkSettings {
                force_encryption: force,
                force_strict_encryption: strict,
                tcp_port: Some("1433".to_owned()),
                tcp_dynamic_ports: None,
            },
        }
    }

    #[test]
    fn force_encryption_verdicts() {
        let judge = |info: &ServerInfo, registry: &Visibility<NetworkSettings>, prelogin| {
            judge_force_encryption(info, registry, prelogin, Severity::Warn)
        };
        let on = sql_server();
        assert_eq!(
            verdict(&judge(&on, &registry(Some(true), None), Some(true))),
            "pass"
        );
        assert_eq!(
            verdict(&judge(&on, &registry(Some(true), None), None)),
            "pass"
        );
        let pending = finding(judge(&on, &registry(Some(true), None), Some(false)));
        assert_eq!(pending.status, Status::Warn);
        assert!(
            pending.message.contains("waits for a restart"),
            "{}",
            pending.message
        );
        let fading = finding(judge(&on, &registry(Some(false), None), Some(true)));
        assert!(
            fading.message.contains("after the next restart"),
            "{}",
            fading.message
        );
        let off = finding(judge(&on, &registry(Some(false), None), Some(false)));
        assert_eq!(off.status, Status::Warn);
        assert_eq!(off.actual.as_deref(), Some("ForceEncryption = 0"));
        let strict = finding(judge(&on, &registry(Some(true), Some(true)), Some(true)));
        assert!(
            strict.notes[0].contains("ForceStrictEncryption"),
            "{:?}",
            strict.notes
        );
        assert_eq!(verdict(&judge(&on, &registry(None, None), None)), "error");
        let hidden = Visibility::Hidden {
            reason: "permission denied".to_owned(),
            permission: Some("VIEW SERVER PERFORMANCE STATE".to_owned()),
        };
        let unseen = judge(&on, &hidden, None);
        assert_eq!(verdict(&unseen), "skip:not_configured");
        assert!(
            unseen
                .unwrap_err()
                .reason()
                .contains("GRANT VIEW SERVER PERFORMANCE STATE TO [pmp]"),
            "the grant that shows it is named"
        );
        let azure = server_info_for_tests(Platform::AzureSqlDatabase);
        assert_eq!(
            verdict(&judge(&azure, &registry(Some(true), None), None)),
            "skip:not_applicable"
        );
    }

    #[test]
    fn service_account_verdicts() {
        let with_account = |account: &str| {
            let mut info = sql_server();
            info.service_accounts = Visibility::Visible {
                value: vec![ServiceInfo {
                    name: "SQL Server (SQLEXPRESS)".to_owned(),
                    account: account.to_owned(),
                    status: Some("Running".to_owned()),
                    startup: Some("Automatic".to_owned()),
                }],
            };
            info
        };
        let judge =
            |info: &ServerInfo| judge_service_account(info, r"\\files01\backups", Severity::Warn);
        let builtin = finding(judge(&with_account(r"NT Service\MSSQL$SQLEXPRESS")));
        assert_eq!(builtin.status, Status::Pass);
        assert!(builtin.message.contains("SQL01$"), "{}", builtin.message);
        let local = finding(judge(&with_account(r".\sqlsvc")));
        assert_eq!(local.status, Status::Warn);
        assert!(
            local
                .remediation
                .unwrap()
                .contains(r"NT Service\MSSQL$SQLEXPRESS")
        );
        let custom = finding(judge(&with_account(r"CORP\svc-sql")));
        assert_eq!(custom.status, Status::Warn);
        assert!(custom.remediation.unwrap().contains("Grant-SmbShareAccess"));
        let mut hidden = sql_server();
        hidden.service_accounts = Visibility::Hidden {
            reason: "permission denied".to_owned(),
            permission: Some("VIEW SERVER STATE".to_owned()),
        };
        assert_eq!(verdict(&judge(&hidden)), "skip:not_configured");
        let mut no_engine = sql_server();
        no_engine.service_accounts = Visibility::Visible { value: Vec::new() };
        assert_eq!(verdict(&judge(&no_engine)), "error");
        let azure = server_info_for_tests(Platform::AzureSqlDatabase);
        assert_eq!(verdict(&judge(&azure)), "skip:not_applicable");
    }

    #[test]
    fn service_accounts_are_classified() {
        assert_eq!(
            classify_account(r"NT Service\MSSQLSERVER"),
            AccountClass::BuiltIn
        );
        assert_eq!(
            classify_account(r"NT AUTHORITY\NETWORK SERVICE"),
            AccountClass::BuiltIn
        );
        assert_eq!(classify_account("LocalSystem"), AccountClass::BuiltIn);
        assert_eq!(classify_account(r".\sqlsvc"), AccountClass::Local);
        assert_eq!(classify_account("sqlsvc"), AccountClass::Local);
        assert_eq!(classify_account(r"CORP\svc-sql"), AccountClass::Custom);
        assert_eq!(classify_account(r"CORP\gmsa-sql$"), AccountClass::Custom);
        assert_eq!(
            classify_account("svc-sql@corp.example.com"),
            AccountClass::Custom
        );
    }

    #[test]
    fn service_names_follow_the_instance() {
        let service = |name: &str| ServiceInfo {
            name: name.into(),
            account: String::new(),
            status: None,
            startup: None,
        };
        assert_eq!(
            service_name_of(&service("SQL Server (MSSQLSERVER)")),
            "MSSQLSERVER"
        );
        assert_eq!(
            service_name_of(&service("SQL Server (SQLEXPRESS)")),
            "MSSQL$SQLEXPRESS"
        );
        assert!(is_engine(&service("SQL Server (SQLEXPRESS)")));
        assert!(!is_engine(&service("SQL Server Agent (SQLEXPRESS)")));
    }

    use crate::facts::sql::AccountKind;
    use crate::facts::sql::reads::read_as;

    #[test]
    fn clock_verdicts_compare_with_the_middle_of_the_round_trip() {
        let asked = time::macros::datetime!(2026-12-06 09:00:00 UTC);
        let reading = |server_offset_ms: i64| {
            read_as(
                AccountKind::App,
                "pmp",
                None,
                ClockReading {
                    asked,
                    round_trip: std::time::Duration::from_millis(200),
                    server_utc: asked + time::Duration::milliseconds(100 + server_offset_ms),
                    server_text: String::new(),
                },
            )
        };
        let close = judge_clock(&reading(1_500), 120, 300);
        assert_eq!(close.status, Status::Pass);
        assert_eq!(close.actual.as_deref(), Some("1.5 s"));
        assert!(close.message.contains("ahead of"), "{}", close.message);
        let near_limit = judge_clock(&reading(-200_000), 120, 300);
        assert_eq!(near_limit.status, Status::Warn);
        assert!(
            near_limit.message.contains("behind"),
            "{}",
            near_limit.message
        );
        let beyond = judge_clock(&reading(301_000), 120, 300);
        assert_eq!(beyond.status, Status::Fail);
    }

    #[test]
    fn connection_verdicts_follow_encrypt_option() {
        let meta = ConnectionEncrypted::new().meta;
        let row = |encrypted: Option<bool>, auth: &str, windows: bool| {
            let mut read = read_as(
                AccountKind::App,
                "pmp",
                None,
                Connection {
                    encrypted,
                    encrypt_option: serde_json::json!(encrypted.map(|e| if e {
                        "TRUE"
                    } else {
                        "FALSE"
                    })),
                    auth_scheme: auth.to_owned(),
                    net_transport: "TCP".to_owned(),
                    protocol_type: serde_json::json!("TSQL"),
                },
            );
            if windows {
                read.by.auth = crate::target::AuthKind::Windows;
            }
            read
        };
        let encrypted = judge_connection(&meta, &row(Some(true), "SQL", false)).unwrap();
        assert_eq!(encrypted.status, Status::Pass);
        assert!(encrypted.notes.is_empty());
        let clear = judge_connection(&meta, &row(Some(false), "SQL", false)).unwrap();
        assert_eq!(clear.status, Status::Fail);
        let unreadable = judge_connection(&meta, &row(None, "SQL", false)).unwrap_err();
        assert_eq!(unreadable.status(), Status::Error);
        let ntlm = judge_connection(&meta, &row(Some(true), "NTLM", true)).unwrap();
        assert!(
            ntlm.notes[0].contains("NTLM, not Kerberos"),
            "{:?}",
            ntlm.notes
        );
    }
}
