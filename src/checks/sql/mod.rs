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
        QueryFailure::Server(error) if is_permission_denied(&error) => Stop::skip(format!(
            "cannot read {what}: the login `{}` lacks {permission} (server: {})",
            session.user, error.message
        )),
        QueryFailure::Server(error) if is_missing_object(&error) => Stop::skip(format!(
            "cannot read {what}: the server does not offer it (server: {})",
            error.message
        )),
        other => Stop::error(format!("cannot read {what}: {other}")),
    }
}
