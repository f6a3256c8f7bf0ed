//! What each family adds to a support bundle from the facts its checks
//! gathered. A contribution is a plain function over the finished run: it
//! reads facts with `Run::outcome` (or `Members::fact_json`), never starts a
//! probe, and writes members — or a member saying why it has nothing. Adding
//! a family's share is one function here and one line in [`contributions`].

use super::{Members, absence};
use crate::engine::Run;
use crate::facts::host::BackupSettingsTable;
use crate::facts::sql::ServerFacts;
use crate::facts::tls::{ChainSource, PresentedChain};

/// A family's share of the bundle.
pub type Contribution = fn(&Run, &mut Members);

/// Every family's contribution, in the order their members are written.
pub fn contributions() -> Vec<Contribution> {
    vec![tls_certificates, sql_server_facts]
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
