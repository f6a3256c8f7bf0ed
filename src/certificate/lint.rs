//! The RFC 5280 / CA/Browser Forum profile of the certificates on a path:
//! rules a CA should follow that drivers mostly tolerate. Each breach names
//! its rule's section and what a CA should issue instead. Never a verdict on
//! trust: tls.cert.profile only warns.

use serde::Serialize;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::trust::{PathEntry, position_words};

/// One breach of the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breach {
    /// "the server's certificate", "chain certificate 2 (CN=…)", …
    pub certificate: String,
    /// What is wrong, in words.
    pub rule: String,
    /// "RFC 5280 §4.2.1.1", "CA/B Forum BR §7.1.4.3", …
    pub section: &'static str,
    /// What a CA should issue instead.
    pub instead: &'static str,
}

const AUTHORITY_KEY_IDENTIFIER: &str = "2.5.29.35";
const SUBJECT_KEY_IDENTIFIER: &str = "2.5.29.14";
const BASIC_CONSTRAINTS: &str = "2.5.29.19";

/// Extensions RFC 5280 §4.2 defines (and the TLS feature, Netscape type,
/// CT and authority information access ones CAs commonly add): a critical
/// extension outside this set is unknown to verifiers.
fn known(oid: &str) -> bool {
    oid.starts_with("2.5.29.")
        || matches!(
            oid,
            "1.3.6.1.5.5.7.1.1" // authorityInfoAccess
                | "1.3.6.1.5.5.7.1.11" // subjectInfoAccess
                | "1.3.6.1.5.5.7.1.24" // TLS feature
                | "1.3.6.1.4.1.11129.2.4.2" // CT precertificate SCTs
                | "2.16.840.1.113730.1.1" // Netscape certificate type
        )
}

/// The breaches on `path` (leaf first). A certificate that does not parse
/// has already been reported by the chain's judgement and is skipped here.
pub fn lint(path: &[PathEntry]) -> Vec<Breach> {
    let mut breaches = Vec::new();
    let top = path.len().saturating_sub(1);
    for (position, entry) in path.iter().enumerate() {
        let Ok((_, cert)) = X509Certificate::from_der(&entry.der) else {
            continue;
        };
        let who = position_words(entry);
        let mut breach = |rule: String, section: &'static str, instead: &'static str| {
            breaches.push(Breach {
                certificate: who.clone(),
                rule,
                section,
                instead,
            })
        };
        let self_signed = entry.certificate.self_issued && position == top;
        let is_ca_position = position > 0;
        let extension = |oid: &str| {
            cert.extensions()
                .iter()
                .find(|e| e.oid.to_id_string() == oid)
        };

        if cert.issuer().iter().next().is_none() {
            breach(
                "the issuer name is empty".to_owned(),
                "RFC 5280 §4.1.2.4",
                "a CA certificate with a non-empty distinguished name, named as the issuer",
            );
        }
        match extension(AUTHORITY_KEY_IDENTIFIER) {
            None if !self_signed => breach(
                "no authority key identifier".to_owned(),
                "RFC 5280 §4.2.1.1",
                "an authorityKeyIdentifier extension holding the issuer's subject key identifier",
            ),
            Some(aki) if aki.critical => breach(
                "the authority key identifier is marked critical".to_owned(),
                "RFC 5280 §4.2.1.1",
                "the authorityKeyIdentifier extension, non-critical",
            ),
            _ => {}
        }
        match extension(SUBJECT_KEY_IDENTIFIER) {
            None if is_ca_position => breach(
                "a CA certificate without a subject key identifier".to_owned(),
                "RFC 5280 §4.2.1.2",
                "a subjectKeyIdentifier extension (for instance the SHA-1 of the public key)",
            ),
            Some(ski) if ski.critical => breach(
                "the subject key identifier is marked critical".to_owned(),
                "RFC 5280 §4.2.1.2",
                "the subjectKeyIdentifier extension, non-critical",
            ),
            _ => {}
        }
        let version_1 = cert.extensions().is_empty();
        if is_ca_position && !version_1 {
            match extension(BASIC_CONSTRAINTS) {
                None => breach(
                    "a CA certificate without basicConstraints".to_owned(),
                    "RFC 5280 §4.2.1.9",
                    "basicConstraints with cA=TRUE, marked critical",
                ),
                Some(bc) if !bc.critical => breach(
                    "the basicConstraints of a CA certificate are not marked critical".to_owned(),
                    "RFC 5280 §4.2.1.9",
                    "basicConstraints with cA=TRUE, marked critical",
                ),
                _ => {}
            }
        }
        if position == 0 && !entry.certificate.is_ca {
            if let Some(usage) = &entry.certificate.key_usage
                && usage.iter().any(|u| u == "keyCertSign")
            {
                breach(
                    "keyCertSign in the key usage of a certificate that is not a CA".to_owned(),
                    "RFC 5280 §4.2.1.3",
                    "a server certificate with digitalSignature (and keyEncipherment for RSA) only",
                );
            }
            for name in &entry.certificate.dns_names {
                if name.contains('_') {
                    breach(
                        format!("the DNS name `{name}` contains an underscore"),
                        "RFC 5280 §4.2.1.6 (preferred name syntax); CA/B Forum ballot SC12",
                        "DNS names of letters, digits and hyphens only",
                    );
                }
            }
            let sans = entry.certificate.san_list();
            if !sans.is_empty() {
                for cn in &entry.certificate.common_names {
                    let listed = entry
                        .certificate
                        .dns_names
                        .iter()
                        .any(|d| d.eq_ignore_ascii_case(cn))
                        || entry
                            .certificate
                            .ip_addresses
                            .iter()
                            .any(|ip| ip.to_string() == *cn);
                    if !listed {
                        breach(
                            format!(
                                "the Common Name `{cn}` is not among the subject alternative names"
                            ),
                            "CA/B Forum BR §7.1.4.3",
                            "a Common Name equal to one of the DNS subject alternative names, or none",
                        );
                    }
                }
            }
        }
        for extension in cert.extensions() {
            let oid = extension.oid.to_id_string();
            let unknown = matches!(
                extension.parsed_extension(),
                ParsedExtension::UnsupportedExtension { .. }
            ) && !known(&oid);
            if extension.critical && unknown {
                breach(
                    format!("an unknown extension {oid} is marked critical"),
                    "RFC 5280 §4.2",
                    "the extension non-critical, or left out",
                );
            }
        }
        if self_signed && entry.certificate.signature.hash.is_broken() {
            breach(
                format!(
                    "the root signs itself with {} (no verifier relies on it, but scanners flag it)",
                    entry.certificate.signature.name
                ),
                "CA/B Forum BR §7.1.3.2",
                "a root signed with SHA-256 or stronger",
            );
        }
    }
    breaches
}
