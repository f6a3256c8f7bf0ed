//! SQL Server checks: the logins, the server's version and platform, its
//! configuration, the application database, and what the backup account may
//! do. Every verdict comes from the sessions in `facts::sql`; a finding
//! obtained over an unverified connection says so.

mod backup;
mod database;
pub mod diagnosis;
mod login;
mod server;

use std::sync::Arc;

use crate::facts::sql::{ServerInfo, SqlSession, is_missing_object, is_permission_denied};
use crate::finding::Stop;
use crate::probe::sql::QueryFailure;
use crate::registry::Check;

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(login::Login::new()),
        Arc::new(server::Version::new()),
        Arc::new(server::PlatformCheck::new()),
        Arc::new(server::Clock::new()),
        Arc::new(server::ConnectionEncrypted::new()),
        Arc::new(server::ForceEncryption::new()),
        Arc::new(server::ServiceAccount::new()),
        Arc::new(database::Database::new()),
        Arc::new(database::PmpKeys::new()),
        Arc::new(backup::BackupOperatorRole::new()),
        Arc::new(backup::BackupPermission::new()),
        Arc::new(backup::RecentBackup::new()),
        Arc::new(backup::SqlCanWrite::new()),
    ]
}

/// Every statement the SQL checks and the facts they read send, with
/// `database`, `user` and a backup `file` filled in: for tests that hold
/// them against SQL Server's documented catalog (the packs' queries are in
/// `checks/*.toml`).
pub fn statements(database: &str, user: &str, file: &str) -> Vec<String> {
    use crate::facts::sql as facts;
    vec![
        facts::SERVER_FACTS_QUERY.to_owned(),
        facts::SERVICES_QUERY.to_owned(),
        facts::REGISTRY_QUERY.to_owned(),
        facts::DATA_FILES_QUERY.to_owned(),
        facts::database_presence_query(database),
        crate::facts::host::BACKUP_SETTINGS_QUERY.to_owned(),
        server::CLOCK_QUERY.to_owned(),
        server::CONNECTION_QUERY.to_owned(),
        database::CREATE_RIGHTS_QUERY.to_owned(),
        database::keys_query("PMPCert", "PMPKey"),
        backup::ROLE_QUERY.to_owned(),
        backup::members_query(user),
        backup::backup_permission_query(database),
        backup::last_backup_query(database),
        backup::copy_only_backup(database, file),
    ]
}

/// "`platform` has no `object`" when SQL Server's documented catalog says
/// the server's platform lacks the system object a check reads.
fn platform_lacks(info: &ServerInfo, object: &str) -> Option<String> {
    let platform = info.platform.in_catalog()?;
    let major = info
        .version
        .map_or(0, |version| u8::try_from(version.major).unwrap_or(u8::MAX));
    let known = mssql_emulator::catalog::Catalog::get().object(object)?;
    (!known.exists_on(platform, major))
        .then(|| format!("{} has no {}", platform.describe(), known.name))
}

/// Why a check that needed `what` stops after a query failed: a missing
/// permission or object makes it skip (naming them), anything else is an error.
fn query_stop(session: &SqlSession, what: &str, failure: QueryFailure, permission: &str) -> Stop {
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
