//! SQL Server checks: the logins, the server's version and platform, its
//! configuration, the application database, and what the backup account may
//! do. Every verdict comes from the sessions in `facts::sql`; a finding
//! obtained over an unverified connection says so.

mod backup;
mod database;
pub(crate) mod diagnosis;
mod login;
mod server;

use std::sync::Arc;

use crate::facts::sql::ServerInfo;
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
    ]
}

/// Every statement the SQL checks and the facts they read send, with
/// `database`, `user` and a backup `file` filled in: for tests that hold
/// them against SQL Server's documented catalog (the packs' queries are in
/// `checks/*.toml`).
pub fn statements(database: &str, user: &str, file: &str) -> Vec<String> {
    use crate::facts::sql::{self as facts, reads};
    vec![
        facts::SERVER_FACTS_QUERY.to_owned(),
        facts::SERVICES_QUERY.to_owned(),
        facts::REGISTRY_QUERY.to_owned(),
        facts::DATA_FILES_QUERY.to_owned(),
        reads::database_presence_query(database),
        crate::facts::host::BACKUP_SETTINGS_QUERY.to_owned(),
        reads::CLOCK_QUERY.to_owned(),
        reads::CONNECTION_QUERY.to_owned(),
        reads::CREATE_RIGHTS_QUERY.to_owned(),
        reads::keys_query("PMPCert", "PMPKey"),
        reads::ROLE_QUERY.to_owned(),
        reads::members_query(user),
        reads::backup_permission_query(database),
        reads::last_backup_query(database),
        crate::actions::test_backup::copy_only_backup(database, file),
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
