//! TLS checks: whether SQL Server encrypts, how its TLS handshake goes,
//! and whether the certificate it presents is one the application accepts
//! (PMP guide steps 1–3).

mod cert;
mod encryption;
mod handshake;

use std::sync::Arc;

use time::OffsetDateTime;

use crate::certificate::CertificateInfo;
use crate::context::RunContext;
use crate::facts::tls::StrictExchange;
use crate::facts::tls::{Prelogin, Tds8Strict};
use crate::finding::Finding;
use crate::registry::Check;

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(encryption::Available::new()),
        Arc::new(encryption::Forced::new()),
        Arc::new(handshake::Handshake::new()),
        Arc::new(handshake::Protocol::new()),
        Arc::new(handshake::Strict::new()),
        Arc::new(cert::Hostname::new()),
        Arc::new(cert::Chain::new()),
        Arc::new(cert::Validity::new()),
        Arc::new(cert::Key::new()),
        Arc::new(cert::Signature::new()),
        Arc::new(cert::Usage::new()),
        Arc::new(cert::Profile::new()),
    ]
}

/// Where the instance's certificate is chosen (PMP guide step 3).
fn select_certificate_step(instance: &str) -> String {
    format!(
        "On the SQL Server machine open SQL Server Configuration Manager → SQL Server Network Configuration → right-click \"Protocols for {instance}\" → Properties: on the Certificate tab select the certificate, then restart the SQL Server service (PMP guide step 3).",
    )
}

/// Where ForceEncryption is set (PMP guide step 3.4).
fn force_encryption_step(instance: &str) -> String {
    format!(
        "On the SQL Server machine open SQL Server Configuration Manager → SQL Server Network Configuration → right-click \"Protocols for {instance}\" → Properties: on the Flags tab set Force Encryption = Yes, then restart the SQL Server service (PMP guide step 3.4).",
    )
}

/// How to put a new certificate from the same CA in place of the server's
/// (PMP guide steps 1.A and 3): request, import, select. The CA's root is
/// already trusted, so a fix about the certificate itself (its name, key,
/// signature, usage) does not name that step.
fn reissue_certificate_steps(instance: &str) -> String {
    format!(
        "Request a certificate whose Common Name and subject alternative name are the server's fully qualified name (for example `openssl genrsa -out server.key 2048` and `openssl req -new -key server.key -out server.csr`, CN = the FQDN) and have your CA sign it (PMP guide step 1.A). Import it with its private key into Local Computer → Personal → Certificates on the SQL Server machine (MMC, step 1.A.3) and give the SQL Server service account read access to the private key. {}",
        select_certificate_step(instance)
    )
}

/// How to get a certificate the application trusts in place (PMP guide
/// steps 1–3): [`reissue_certificate_steps`], then the CA's root imported
/// into the application.
fn install_certificate_steps(instance: &str) -> String {
    format!(
        "{} Copy the CA's root certificate to <PMP folder>/bin and run `importCert.bat <root.cer>` there (step 1.A.4).",
        reissue_certificate_steps(instance)
    )
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// The evidence every tls.cert.* finding carries about the leaf.
fn with_certificate(finding: Finding, cert: &CertificateInfo) -> Finding {
    finding
        .evidence("subject", &cert.subject)
        .evidence("subject_alternative_names", cert.san_list())
        .evidence("issuer", &cert.issuer)
        .evidence("serial", &cert.serial)
        .evidence("not_before", rfc3339(cert.not_before))
        .evidence("not_after", rfc3339(cert.not_after))
        .evidence("sha256_fingerprint", &cert.sha256_fingerprint)
}

/// The TDS 8 strict exchange, when the server answers nothing else: it then
/// closes TDS 7.x connections, and everything it does is encrypted.
async fn strict_only(ctx: &RunContext) -> Option<StrictExchange> {
    let prelogin = ctx.fact::<Prelogin>().await.ok()?;
    if prelogin.is_ok() {
        return None;
    }
    let strict = ctx.fact::<Tds8Strict>().await.ok()?;
    match strict.as_ref() {
        Ok(exchange) if exchange.prelogin.is_ok() => Some(exchange.clone()),
        _ => None,
    }
}
