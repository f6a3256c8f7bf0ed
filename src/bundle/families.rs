//! What each family adds to a support bundle from the facts its checks
//! gathered. A contribution is a plain function over the finished run: it
//! reads facts with `Run::outcome` (or `Members::fact_json`), never starts a
//! probe, and writes members — or a member saying why it has nothing. Adding
//! a family's share is one function here and one line in [`contributions`].

use super::{Members, absence};
use crate::context::Fact;
use crate::engine::Run;
use crate::facts::host::BackupSettingsTable;
use crate::facts::sql::ServerFacts;
use crate::facts::sql::reads::{
    AppAccount, BackupAccount, BackupAccountRoles, BackupPermissionGrant, BackupRoleMembers,
    ConnectionRow, CreateRights, DatabasePresenceOf, LastFullBackup, PmpKeyState, ServerClock,
};
use crate::facts::tls::{ChainSource, PresentedChain};

/// A family's share of the bundle.
pub type Contribution = fn(&Run, &mut Members);

/// Every family's contribution, in the order their members are written.
pub fn contributions() -> Vec<Contribution> {
    vec![tls_certificates, sql_server_facts, sql_reads]
}

/// sql-reads.json: every answer the SQL checks judged, keyed by what was
/// asked, each with the session that read it — or why it was not read.
fn sql_reads(run: &Run, members: &mut Members) {
    fn entry<F: Fact>(run: &Run) -> serde_json::Value
    where
        F::Output: serde::Serialize,
    {
        match absence::<F>(run) {
            Ok(value) => serde_json::to_value(&*value)
                .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() })),
            Err(reason) => serde_json::json!({ "available": false, "reason": reason }),
        }
    }
    let reads = serde_json::json!({
        "database_presence_app": entry::<DatabasePresenceOf<AppAccount>>(run),
        "database_presence_backup": entry::<DatabasePresenceOf<BackupAccount>>(run),
        "create_rights": entry::<CreateRights>(run),
        "pmp_keys": entry::<PmpKeyState>(run),
        "backup_account_roles": entry::<BackupAccountRoles>(run),
        "backup_role_members": entry::<BackupRoleMembers>(run),
        "backup_permission": entry::<BackupPermissionGrant>(run),
        "last_full_backup": entry::<LastFullBackup>(run),
        "clock": entry::<ServerClock>(run),
        "connection": entry::<ConnectionRow>(run),
    });
    members.json("sql-reads.json", &reads);
}

/// server-facts.json: what SQL Server said about itself through a session,
/// with Passwordstate's BackupSettings rows when a check read them.
fn sql_server_facts(run: &Run, members: &mut Members) {
    let backup_settings = run.gathered::<BackupSettingsTable>();
    members.fact_json::<ServerFacts>(run, "server-facts.json", |info| {
        let mut facts = serde_json::to_value(info)
            .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }));
        if let (Some(object), Some(rows)) = (facts.as_object_mut(), backup_settings) {
            object.insert("passwordstate_backup_settings".to_owned(), rows.to_json());
        }
        facts
    });
}

/// certs/: the chain exactly as the server presented it, and each
/// certificate decoded, so the support engineer needs no openssl.
fn tls_certificates(run: &Run, members: &mut Members) {
    let chain = match absence::<PresentedChain>(run) {
        Ok(chain) => chain,
        Err(reason) => {
            members.absent(
                "certs/README.txt",
                &format!("the server's certificate chain was not captured: {reason}"),
            );
            return;
        }
    };
    let how = match chain.source {
        ChainSource::Tds7 => "in the TLS handshake inside TDS 7.x, as the application sees it",
        ChainSource::Tds8Strict => "in a TDS 8.0 strict handshake",
        ChainSource::LegacyHandshake => "in a TLS 1.0-1.2 handshake that rustls could not finish",
    };
    members.add("certs/chain.pem", chain.chain_pem.clone());
    let count = chain.descriptions.len();
    for (index, text) in chain.descriptions.iter().enumerate() {
        let role = if index == 0 {
            "the server's own certificate (leaf)".to_owned()
        } else {
            format!("the issuer of certificate {index}")
        };
        members.add(
            format!("certs/certificate-{}.txt", index + 1),
            format!(
                "Certificate {} of {count}: {role}, presented {how}.\n\n{text}\n",
                index + 1
            ),
        );
    }
}
