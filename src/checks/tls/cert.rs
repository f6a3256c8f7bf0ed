//! tls.cert.*: the certificate SQL Server presents, judged apart from the
//! handshake: name, chain of trust, validity, key, signature, usage, and
//! the RFC 5280 profile. Validity, key and signature judge the path the
//! chain verifies on (trusted anchor included), not every certificate the
//! server happens to send: clients ignore the others.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{install_certificate_steps, reissue_certificate_steps, rfc3339, with_certificate};
use crate::certificate::KeyKind;
use crate::certificate::hostname::{self, NameMatch};
use crate::certificate::trust::{
    ChainProblem, ChainVerdict, PathEntry, display_name, position_words, problem_words,
    refusers_words,
};
use crate::context::RunContext;
use crate::facts::tls::{JudgedChain, LeafName, PresentedChain, ServerChain};
use crate::finding::{Finding, Outcome, Severity, Stop};
use crate::registry::{Check, CheckMeta, Family, ParamRule};

fn leaf_finding(finding: Finding, chain: &ServerChain) -> Finding {
    with_certificate(finding, chain.leaf()).evidence("chain_source", chain.source)
}

/// The certificates validity, key and signature judge: the path the chain
/// was judged on (anchor included) and where the trust came from; without
/// a judgement (the trusted certificates could not be loaded), the chain
/// as presented.
struct JudgedPath {
    path: Vec<PathEntry>,
    /// "the CA file" or "this machine's trusted roots".
    store: &'static str,
}

impl JudgedPath {
    async fn of(ctx: &RunContext, chain: &ServerChain) -> JudgedPath {
        if let Ok(judged) = ctx.fact::<JudgedChain>().await
            && !judged.judgement.path.is_empty()
        {
            return JudgedPath {
                path: judged.judgement.path.clone(),
                store: judged.store,
            };
        }
        JudgedPath {
            path: chain
                .certificates
                .iter()
                .zip(&chain.chain_der)
                .enumerate()
                .map(|(index, (certificate, der))| PathEntry {
                    certificate: certificate.clone(),
                    presented: Some(index),
                    trusted: false,
                    der: der.clone(),
                })
                .collect(),
            store: "the trusted certificates",
        }
    }

    fn anchor(&self) -> Option<&PathEntry> {
        self.path
            .last()
            .filter(|e| e.trusted && e.presented != Some(0))
    }

    /// The remedy for a trusted root that is itself wrong: a new one from
    /// the CA, imported where the old one was.
    fn replace_anchor_steps(&self, ctx: &RunContext) -> Option<String> {
        let anchor = self.anchor()?;
        let ca_file = if ctx.target.tls.ca_file.is_some() {
            " and put it in the file named by [tls] ca_file in place of the old one"
        } else {
            ""
        };
        Some(format!(
            "The trusted root `{}` comes from {}: get the CA's current root certificate (renewed or re-keyed), copy it to <PMP folder>/bin and run `importCert.bat <root.cer>` there (PMP guide step 1.A.4){ca_file}; if the CA was re-keyed, install server certificates issued under the new root (SQL Server Configuration Manager, step 3).",
            display_name(&anchor.certificate),
            self.store
        ))
    }
}

pub struct Hostname {
    meta: CheckMeta,
}

impl Hostname {
    pub fn new() -> Self {
        Hostname {
            meta: CheckMeta::new("tls.cert.hostname", Family::Tls, Severity::Fail)
                .title("The certificate is issued for the server's name")
                .checks("Matches the name the application uses (the target host, or [tls] expected_name) against the certificate per RFC 6125: DNS subject alternative names first, the Common Name only when there are none, a wildcard only as the whole left-most label, an IP address only against an IP address entry.")
                .why("The application refuses a certificate that does not name the server it connected to; the vendor guide requires the Common Name to be the server's FQDN.")
                .fix("Issue the certificate with CN and a DNS subject alternative name equal to the server's FQDN, and configure the application with that same name.")
                .guide("PMP guide step 1.A.2 (Common Name = FQDN of the SQL Server)"),
        }
    }
}

#[async_trait]
impl Check for Hostname {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let chain = ctx.fact::<PresentedChain>().await?;
        let name = ctx.fact::<LeafName>().await?;
        let leaf = chain.leaf();
        let expected = &name.expected;
        let issued_for = hostname::fqdns(leaf);
        let finding = match &name.result {
            NameMatch::SubjectAltName { entry } => {
                Finding::pass(format!("the certificate is issued for `{expected}` ({entry})"))
            }
            NameMatch::CommonNameOnly { common_name } => Finding::warn(format!(
                "only the Common Name `{common_name}` matches `{expected}`: the certificate has no DNS subject alternative name, and current drivers ignore the Common Name"
            ))
            .expected(format!("a subject alternative name DNS:{expected}"))
            .actual("no DNS subject alternative name")
            .remediation(format!(
                "Reissue the certificate with a subject alternative name DNS:{expected} (keep CN = {expected}). {}",
                reissue_certificate_steps(ctx)
            )),
            NameMatch::Mismatch => {
                let mut message = format!("the certificate is not issued for `{expected}`");
                if leaf.is_sql_server_fallback() {
                    message.push_str(": it is SQL Server's auto-generated certificate (CN=SSL_Self_Signed_Fallback), which names no host");
                } else if hostname::is_short_or_ip(expected) && !issued_for.is_empty() {
                    message.push_str(&format!(
                        "; `{expected}` is a short name or an IP address, and the certificate expects {}",
                        issued_for.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" or ")
                    ));
                }
                let names = leaf.san_list();
                let actual = if names.is_empty() {
                    format!("subject {}", leaf.subject)
                } else {
                    names.join(", ")
                };
                let remediation = match issued_for.first() {
                    Some(fqdn) if hostname::is_short_or_ip(expected) => format!(
                        "Connect with the name the certificate carries: set `host = \"{fqdn}\"` under [server] (and in PMP's ChangeDB Host Name), or set [tls] expected_name if the application uses another name than this target file."
                    ),
                    // Trusting the CA is tls.cert.chain's step, not this one's.
                    _ => reissue_certificate_steps(ctx),
                };
                Finding::problem(self.meta.severity, message)
                    .expected(expected.clone())
                    .actual(actual)
                    .remediation(remediation)
            }
        };
        Ok(
            leaf_finding(finding.evidence("expected_name", expected), &chain)
                .evidence("issued_for", issued_for),
        )
    }
}

pub struct Chain {
    meta: CheckMeta,
}

impl Chain {
    pub fn new() -> Self {
        Chain {
            meta: CheckMeta::new("tls.cert.chain", Family::Tls, Severity::Fail)
                .title("The certificate chain leads to a trusted CA")
                .checks("Builds every path from the server's certificate through the certificates it sends to [tls] ca_file (the CA root imported into the application) or, without one, this machine's trusted roots, and verifies them as RFC 5280 §6 and OpenSSL do (signatures, CA constraints, path length, name constraints, critical extensions); names the root used, SQL Server's auto-generated certificate, self-signed certificates and incomplete chains, and warns about certificates the server sends in vain (expired or unrelated). Where OpenSSL and Java PKIX would judge the chain differently, the evidence says so.")
                .why("The application trusts only certificates issued by a CA whose root was imported into it (PMP: importCert.bat); anything else makes the connection fail.")
                .fix("Use a certificate issued by your CA, have the server send its intermediate certificates, and import the CA's root into the application (PMP: importCert.bat <root.cer>).")
                .guide("PMP guide steps 1.A.4 and 2 (importCert.bat)"),
        }
    }

    fn remediation(&self, ctx: &RunContext, problem: &ChainProblem) -> String {
        let ca_file_hint = if ctx.target.tls.ca_file.is_some() {
            " and add it to the file named by [tls] ca_file"
        } else {
            ""
        };
        match problem {
            ChainProblem::SqlServerFallback => format!(
                "No certificate is configured for the instance, so SQL Server generated one at start-up; no client can verify it and it changes at every restart. Install a real one. {}",
                install_certificate_steps(ctx)
            ),
            ChainProblem::SelfSigned => format!(
                "Replace it with a certificate issued by your CA (below), or, if you keep the self-signed one, copy it to <PMP folder>/bin and run `importCert.bat <server.cer>` there (PMP guide step 2){ca_file_hint}. {}",
                install_certificate_steps(ctx)
            ),
            ChainProblem::Incomplete { missing_issuer } => format!(
                "Import the intermediate CA certificate `{missing_issuer}` on the SQL Server machine into Local Computer → Intermediate Certification Authorities (certlm.msc) so that SQL Server sends it with its own, and restart SQL Server; or import it into the application as well (PMP: `importCert.bat <intermediate.cer>`){ca_file_hint}."
            ),
            ChainProblem::UntrustedRoot { root } => format!(
                "Import the root certificate `{root}` into the application: copy it to <PMP folder>/bin and run `importCert.bat <root.cer>` there (PMP guide step 1.A.4){ca_file_hint}."
            ),
            ChainProblem::WrongIssuerKey { issuer } => format!(
                "The trusted `{issuer}` is another certificate than the one that signed the server's chain (it was probably renewed with a new key): export the CA certificate that issued the server's certificate and import that one (PMP: `importCert.bat <root.cer>`){ca_file_hint}."
            ),
            ChainProblem::Invalid { .. } => install_certificate_steps(ctx),
        }
    }
}

#[async_trait]
impl Check for Chain {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let chain = ctx.fact::<PresentedChain>().await?;
        let judged = ctx.fact::<JudgedChain>().await?;
        let judgement = &judged.judgement;
        let presented: Vec<String> = chain.certificates.iter().map(display_name).collect();
        let path: Vec<String> = judgement
            .path
            .iter()
            .map(|e| display_name(&e.certificate))
            .collect();
        let extras = extra_certificates(&chain, &judgement.path, &judgement.extras);
        let finding = match &judgement.trust {
            ChainVerdict::Undecided { reason } => return Err(Stop::error(reason.clone())),
            ChainVerdict::Trusted { anchor } => {
                let passed = format!(
                    "the chain leads to `{anchor}`, trusted in {}",
                    judged.anchors
                );
                let ignored: Vec<&ExtraCertificate> =
                    extras.iter().filter(|e| e.complaint.is_some()).collect();
                if ignored.is_empty() {
                    Finding::pass(passed)
                } else {
                    let words: Vec<String> = ignored
                        .iter()
                        .map(|e| {
                            format!(
                                "`{}` ({})",
                                e.name,
                                e.complaint.as_deref().unwrap_or_default()
                            )
                        })
                        .collect();
                    Finding::warn(format!(
                        "{passed}; the server also sends {}, which clients ignore; remove it from the chain",
                        words.join(" and ")
                    ))
                    .expected("only the certificates of the path to the trusted root")
                    .actual(format!("presented: {}", presented.join(" ← ")))
                    .remediation("On the SQL Server machine, delete the certificates named above from Local Computer → Intermediate Certification Authorities (certlm.msc) — SQL Server sends what Windows finds there — and restart SQL Server.")
                }
            }
            ChainVerdict::Untrusted(problem) => {
                Finding::problem(self.meta.severity, problem_words(problem))
                    .expected(format!("a chain leading to {}", judged.anchors))
                    .actual(format!("presented: {}", presented.join(" ← ")))
                    .remediation(self.remediation(ctx, problem))
                    .evidence("problem", problem)
            }
        };
        let accepted = judgement.accepted_by();
        let clients = if accepted.openssl == accepted.java {
            None
        } else {
            Some(refusers_words(crate::certificate::path::Refusers {
                openssl: !accepted.openssl,
                java: !accepted.java,
            }))
        };
        Ok(leaf_finding(finding, &chain)
            .evidence("trusted_certificates", &judged.anchors)
            .evidence("presented_chain", presented)
            .evidence("path", path)
            .evidence(
                "anchor",
                judgement.anchor().map(|a| display_name(&a.certificate)),
            )
            .evidence("extra_certificates", &extras)
            .evidence("faults", &judgement.faults)
            .evidence(
                "clients",
                clients_evidence(clients, chain.certificates.len()),
            ))
    }
}

/// Java's TLS client refuses a Certificate message of more certificates
/// than `jdk.tls.maxCertificateChainLength` (10 by default, JDK 15+).
const JAVA_MAX_CHAIN_LENGTH: usize = 10;

/// How the application's drivers judge the chain where they differ from
/// this tool's verdict or from one another.
fn clients_evidence(differs: Option<String>, presented: usize) -> Vec<String> {
    let mut notes: Vec<String> = differs.into_iter().collect();
    if presented > JAVA_MAX_CHAIN_LENGTH {
        notes.push(format!(
            "the server sends {presented} certificates: Java's TLS client (PMP's JDBC driver) refuses more than {JAVA_MAX_CHAIN_LENGTH} by default (jdk.tls.maxCertificateChainLength, JDK 15 and later); OpenSSL accepts them"
        ));
    }
    notes
}

/// A certificate the server sends that is not on the judged path.
#[derive(Debug, Clone, serde::Serialize)]
struct ExtraCertificate {
    /// Its position in the presented chain, from 1.
    position: usize,
    name: String,
    /// Why it deserves a warning: expired, or related to nothing sent.
    complaint: Option<String>,
}

fn extra_certificates(
    chain: &ServerChain,
    path: &[PathEntry],
    extras: &[usize],
) -> Vec<ExtraCertificate> {
    let now = OffsetDateTime::now_utc();
    extras
        .iter()
        .filter_map(|&index| chain.certificates.get(index).map(|c| (index, c)))
        .map(|(index, cert)| {
            // Related: it could issue something sent or on the path (a
            // cross-signed alternative), or be issued by something there.
            let related = chain
                .certificates
                .iter()
                .chain(path.iter().map(|e| &e.certificate))
                .any(|other| {
                    !std::ptr::eq(other, cert)
                        && (other.raw_issuer == cert.raw_subject
                            || cert.raw_issuer == other.raw_subject)
                });
            let complaint = if now > cert.not_after {
                Some(format!("expired on {}", rfc3339(cert.not_after)))
            } else if !related {
                Some("unrelated to the server's certificate".to_owned())
            } else {
                None
            };
            ExtraCertificate {
                position: index + 1,
                name: display_name(cert),
                complaint,
            }
        })
        .collect()
}

pub struct Validity {
    meta: CheckMeta,
}

impl Validity {
    pub fn new() -> Self {
        Validity {
            meta: CheckMeta::new("tls.cert.validity", Family::Tls, Severity::Fail)
                .title("The certificates are within their validity period")
                .checks("Compares notBefore and notAfter of every certificate on the path the chain verifies on — the trusted root included — with the current time; warns when one expires within `warn_days` days. Certificates the server sends that are not on that path are left to tls.cert.chain.")
                .why("An expired certificate (or one not valid yet) makes every TLS connection fail; renewing before expiry avoids an outage.")
                .fix("Renew the certificate with your CA, install the new one on the SQL Server machine and select it in SQL Server Configuration Manager, then restart SQL Server.")
                .guide("PMP guide steps 1 and 3 (certificate, SSL encryption)")
                .param("warn_days", 30, "warn when a certificate expires within this many days")
                .rule(ParamRule::NotNegative),
        }
    }
}

#[async_trait]
impl Check for Validity {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let warn_days: i64 = ctx.param(&self.meta, "warn_days")?;
        let chain = ctx.fact::<PresentedChain>().await?;
        let judged = JudgedPath::of(ctx, &chain).await;
        let now = OffsetDateTime::now_utc();
        let mut problems = Vec::new();
        let mut soon = Vec::new();
        let mut anchor_wrong = false;
        for entry in &judged.path {
            let who = position_words(entry);
            let cert = &entry.certificate;
            let problem = if now < cert.not_before {
                Some(format!(
                    "{who} is not valid until {}",
                    rfc3339(cert.not_before)
                ))
            } else if now > cert.not_after {
                Some(format!(
                    "{who} expired on {} ({})",
                    rfc3339(cert.not_after),
                    crate::human::relative((now - cert.not_after).whole_seconds())
                ))
            } else {
                let left = (cert.not_after - now).whole_days();
                if left < warn_days {
                    soon.push(format!(
                        "{who} expires on {} ({})",
                        rfc3339(cert.not_after),
                        crate::human::relative((now - cert.not_after).whole_seconds())
                    ));
                }
                None
            };
            if let Some(problem) = problem {
                if judged.anchor().is_some_and(|a| std::ptr::eq(a, entry)) {
                    anchor_wrong = true;
                    problems.push(format!(
                        "{problem}: OpenSSL (ODBC Driver 18, FreeTDS) refuses a chain to it; Java (PMP's JDBC driver) does not check a trusted root's dates"
                    ));
                } else {
                    problems.push(problem);
                }
            }
        }
        let leaf = chain.leaf();
        let finding = if !problems.is_empty() {
            let remediation = match judged.replace_anchor_steps(ctx) {
                Some(steps) if anchor_wrong => steps,
                _ => self.meta.fix.to_string(),
            };
            Finding::problem(self.meta.severity, problems.join("; "))
                .expected(format!("valid at {}", rfc3339(now)))
                .actual(format!(
                    "valid {} to {}",
                    rfc3339(leaf.not_before),
                    rfc3339(leaf.not_after)
                ))
                .remediation(remediation)
        } else if !soon.is_empty() {
            Finding::warn(soon.join("; "))
                .expected(format!("more than {warn_days} days of validity left"))
                .remediation(format!("Renew it now: {}", self.meta.fix))
        } else {
            Finding::pass(format!(
                "valid until {} (expires {})",
                rfc3339(leaf.not_after),
                crate::human::relative((now - leaf.not_after).whole_seconds())
            ))
        };
        Ok(leaf_finding(finding, &chain))
    }
}

pub struct Key {
    meta: CheckMeta,
}

impl Key {
    pub fn new() -> Self {
        Key {
            meta: CheckMeta::new("tls.cert.key", Family::Tls, Severity::Fail)
                .title("The certificates' keys are strong enough")
                .checks("Reads the public key of every certificate on the path the chain verifies on, the trusted root included: RSA keys need at least 2048 bits, elliptic-curve keys at least P-256.")
                .why("Short keys can be broken, and current TLS libraries refuse RSA keys below 2048 bits, so the connection fails.")
                .fix("Generate a new key of at least 2048 bits (`openssl genrsa -out server.key 2048`), have the certificate reissued for it, and install it.")
                .guide("PMP guide step 1.A.1 (openssl genrsa … 2048)"),
        }
    }
}

/// Why a key is too weak, if it is.
fn weak_key(key: &KeyKind) -> Option<String> {
    match key {
        KeyKind::Rsa { bits } if *bits < 2048 => {
            Some(format!("RSA with {bits} bits (at least 2048 needed)"))
        }
        KeyKind::Ec { curve, bits } if *bits < 256 => Some(format!(
            "EC on {curve} ({bits} bits; at least P-256 needed)"
        )),
        KeyKind::Dsa { bits } => Some(format!(
            "DSA ({bits} bits), which TLS clients no longer accept"
        )),
        _ => None,
    }
}

#[async_trait]
impl Check for Key {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let chain = ctx.fact::<PresentedChain>().await?;
        let judged = JudgedPath::of(ctx, &chain).await;
        let mut weak = Vec::new();
        let mut anchor_weak = false;
        for entry in &judged.path {
            if let KeyKind::Other { oid } = &entry.certificate.key {
                return Err(Stop::error(format!(
                    "cannot judge the key of {}: unknown algorithm {oid}",
                    position_words(entry)
                )));
            }
            if let Some(why) = weak_key(&entry.certificate.key) {
                anchor_weak |= judged.anchor().is_some_and(|a| std::ptr::eq(a, entry));
                weak.push(format!("{}: {why}", position_words(entry)));
            }
        }
        let leaf = chain.leaf();
        let finding = if weak.is_empty() {
            Finding::pass(format!("the server's key is {}", leaf.key))
        } else {
            let remediation = match judged.replace_anchor_steps(ctx) {
                Some(steps) if anchor_weak => steps,
                _ => format!("{} {}", self.meta.fix, reissue_certificate_steps(ctx)),
            };
            Finding::problem(self.meta.severity, format!("weak key: {}", weak.join("; ")))
                .expected("RSA ≥ 2048 bits or EC ≥ P-256")
                .actual(leaf.key.to_string())
                .remediation(remediation)
        };
        Ok(leaf_finding(
            finding.evidence("key", leaf.key.to_string()),
            &chain,
        ))
    }
}

pub struct Signature {
    meta: CheckMeta,
}

impl Signature {
    pub fn new() -> Self {
        Signature {
            meta: CheckMeta::new("tls.cert.signature", Family::Tls, Severity::Fail)
                .title("The certificates are not signed with MD5 or SHA-1")
                .checks("Reads the signature algorithm of every certificate on the path the chain verifies on, except the one it ends at (no verifier relies on a root's signature on itself).")
                .why("MD5 and SHA-1 signatures can be forged, and current clients reject certificates signed with them.")
                .fix("Have the certificate reissued with a SHA-256 (or stronger) signature, e.g. `openssl req … -sha256` or a CA template that uses SHA-256, and install it.")
                .guide("PMP guide step 1.A (getting the certificate signed)"),
        }
    }
}

#[async_trait]
impl Check for Signature {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let chain = ctx.fact::<PresentedChain>().await?;
        let judged = JudgedPath::of(ctx, &chain).await;
        let mut broken = Vec::new();
        let top = judged.path.len().saturating_sub(1);
        for (position, entry) in judged.path.iter().enumerate() {
            let cert = &entry.certificate;
            // No verifier relies on the signature of the certificate a path
            // ends at (a trusted anchor, or the root of an untrusted chain).
            if position > 0 && position == top && (entry.trusted || cert.self_issued) {
                continue;
            }
            if cert.signature.hash == crate::certificate::SignatureHash::Unknown {
                return Err(Stop::error(format!(
                    "cannot judge the signature of {}: unknown algorithm {}",
                    position_words(entry),
                    cert.signature.oid
                )));
            }
            if cert.signature.hash.is_broken() {
                broken.push(format!(
                    "{} is signed with {}",
                    position_words(entry),
                    cert.signature.name
                ));
            }
        }
        let leaf = chain.leaf();
        let finding = if broken.is_empty() {
            Finding::pass(format!("signed with {}", leaf.signature.name))
        } else {
            Finding::problem(self.meta.severity, broken.join("; "))
                .expected("a SHA-256 or stronger signature")
                .actual(leaf.signature.name.clone())
                .remediation(format!(
                    "{} {}",
                    self.meta.fix,
                    reissue_certificate_steps(ctx)
                ))
        };
        Ok(leaf_finding(
            finding.evidence("signature_algorithm", &leaf.signature.name),
            &chain,
        ))
    }
}

pub struct Usage {
    meta: CheckMeta,
}

impl Usage {
    pub fn new() -> Self {
        Usage {
            meta: CheckMeta::new("tls.cert.usage", Family::Tls, Severity::Fail)
                .title("The certificate may be used for a TLS server")
                .checks("When the server's certificate has an extended key usage, it must include serverAuth (1.3.6.1.5.5.7.3.1); when it has a key usage, it must allow the TLS key exchange (digitalSignature, or keyEncipherment for RSA).")
                .why("Clients refuse a certificate whose usages exclude TLS server authentication, and SQL Server Configuration Manager does not even list it.")
                .fix("Reissue the certificate from a template for servers (Server Authentication in its Enhanced Key Usage, Digital Signature and Key Encipherment in its Key Usage).")
                .guide("PMP guide step 1 (create the SSL certificate)"),
        }
    }
}

#[async_trait]
impl Check for Usage {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let chain = ctx.fact::<PresentedChain>().await?;
        let leaf = chain.leaf();
        let mut problems = Vec::new();
        if let Some(eku) = &leaf.extended_key_usage
            && !eku
                .iter()
                .any(|u| u == "serverAuth" || u == "anyExtendedKeyUsage")
        {
            problems.push(format!(
                "its extended key usage ({}) lacks serverAuth",
                eku.join(", ")
            ));
        }
        if let Some(usage) = &leaf.key_usage {
            let has = |name: &str| usage.iter().any(|u| u == name);
            let allowed = match leaf.key {
                KeyKind::Rsa { .. } => has("digitalSignature") || has("keyEncipherment"),
                KeyKind::Ec { .. } => has("digitalSignature") || has("keyAgreement"),
                _ => has("digitalSignature"),
            };
            if !allowed {
                problems.push(format!(
                    "its key usage ({}) allows no TLS key exchange",
                    usage.join(", ")
                ));
            }
        }
        let finding = if problems.is_empty() {
            let described = match &leaf.extended_key_usage {
                Some(eku) => format!("extended key usage {}", eku.join(", ")),
                None => "no usage restriction".to_owned(),
            };
            Finding::pass(format!(
                "the certificate may authenticate a TLS server ({described})"
            ))
        } else {
            Finding::problem(
                self.meta.severity,
                format!(
                    "the certificate may not authenticate a TLS server: {}",
                    problems.join("; ")
                ),
            )
            .expected(
                "extended key usage serverAuth; key usage digitalSignature or keyEncipherment",
            )
            .actual(problems.join("; "))
            .remediation(format!(
                "{} {}",
                self.meta.fix,
                reissue_certificate_steps(ctx)
            ))
        };
        Ok(leaf_finding(
            finding
                .evidence("extended_key_usage", &leaf.extended_key_usage)
                .evidence("key_usage", &leaf.key_usage),
            &chain,
        ))
    }
}

pub struct Profile {
    meta: CheckMeta,
}

impl Profile {
    pub fn new() -> Self {
        Profile {
            meta: CheckMeta::new("tls.cert.profile", Family::Tls, Severity::Warn)
                .title("The certificates follow the RFC 5280 and CA/Browser Forum profile")
                .checks("Lints every certificate on the path the chain verifies on (the trusted root included) against RFC 5280 and the CA/Browser Forum Baseline Requirements: authority and subject key identifiers present and not critical, basicConstraints critical on CA certificates, keyCertSign only on CAs, no underscore in DNS names, the Common Name among the subject alternative names, no unknown critical extension, a non-empty issuer, no SHA-1 self-signature on the root. Each breach names its section and what the CA should issue instead.")
                .why("Drivers tolerate these today, but they are what the next driver update or a stricter client refuses, and they show a CA template that needs fixing; this check only warns and never fails a chain that clients accept.")
                .fix("Have the CA fix its certificate template as each breach says, reissue the certificate, and install it with its chain.")
                .guide("PMP guide step 1.A (getting the certificate signed)"),
        }
    }
}

#[async_trait]
impl Check for Profile {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let chain = ctx.fact::<PresentedChain>().await?;
        let judged = JudgedPath::of(ctx, &chain).await;
        let breaches = crate::certificate::lint::lint(&judged.path);
        let finding = if breaches.is_empty() {
            Finding::pass(format!(
                "the {} certificate(s) of the path follow RFC 5280 and the Baseline Requirements",
                judged.path.len()
            ))
        } else {
            let words: Vec<String> = breaches
                .iter()
                .map(|b| format!("{}: {} ({})", b.certificate, b.rule, b.section))
                .collect();
            let instead: Vec<String> = breaches
                .iter()
                .map(|b| format!("{} — {}", b.section, b.instead))
                .collect();
            Finding::problem(self.meta.severity, words.join("; "))
                .expected("certificates that follow RFC 5280 and the CA/Browser Forum Baseline Requirements")
                .actual(format!("{} breach(es)", breaches.len()))
                .remediation(format!(
                    "Ask the CA to issue instead: {}. Then install the new certificate: {}",
                    instead.join("; "),
                    reissue_certificate_steps(ctx)
                ))
        };
        Ok(leaf_finding(
            finding.evidence("breaches", &breaches),
            &chain,
        ))
    }
}
