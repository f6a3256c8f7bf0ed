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
use crate::certificate::lint::Breach;
use crate::certificate::trust::{
    ChainProblem, ChainVerdict, PathEntry, display_name, position_words, problem_words,
    refusers_words,
};
use crate::context::RunContext;
use crate::facts::tls::{
    ChainTrust, JudgedChain, LeafName, LeafNameMatch, PresentedChain, ServerChain,
};
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
    async fn gather(ctx: &RunContext, chain: &ServerChain) -> JudgedPath {
        let judged = ctx.fact::<JudgedChain>().await.ok();
        JudgedPath::of(judged.as_deref(), chain)
    }

    fn of(judged: Option<&ChainTrust>, chain: &ServerChain) -> JudgedPath {
        if let Some(judged) = judged
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
    fn replace_anchor_steps(&self, site: &Site) -> Option<String> {
        let anchor = self.anchor()?;
        let ca_file = if site.ca_file {
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

/// What remedies name from the target file.
struct Site {
    /// The instance as SQL Server Configuration Manager lists it.
    instance: String,
    /// The target file names a CA file ([tls] ca_file).
    ca_file: bool,
}

impl Site {
    fn of(ctx: &RunContext) -> Site {
        Site {
            instance: crate::checks::instance_name(ctx),
            ca_file: ctx.target.tls.ca_file.is_some(),
        }
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
        judge_hostname(&chain, &name, &self.meta, &Site::of(ctx))
    }
}

/// The verdict on the name the certificate is issued for.
fn judge_hostname(
    chain: &ServerChain,
    name: &LeafNameMatch,
    meta: &CheckMeta,
    site: &Site,
) -> Outcome {
    let leaf = chain.leaf();
    let expected = &name.expected;
    let issued_for = hostname::fqdns(leaf);
    let finding = match &name.result {
        NameMatch::SubjectAltName { entry } => {
            Finding::pass(format!("the certificate is issued for `{expected}` ({entry})"))
        }
        NameMatch::CommonNameOnly { common_name } => Finding::problem(Severity::Warn, format!(
            "only the Common Name `{common_name}` matches `{expected}`: the certificate has no DNS subject alternative name, and current drivers ignore the Common Name"
        ))
        .expected(format!("a subject alternative name DNS:{expected}"))
        .actual("no DNS subject alternative name")
        .remediation(format!(
            "Reissue the certificate with a subject alternative name DNS:{expected} (keep CN = {expected}). {}",
            reissue_certificate_steps(&site.instance)
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
                _ => reissue_certificate_steps(&site.instance),
            };
            Finding::problem(meta.severity, message)
                .expected(expected.clone())
                .actual(actual)
                .remediation(remediation)
        }
    };
    Ok(
        leaf_finding(finding.evidence("expected_name", expected), chain)
            .evidence("issued_for", issued_for),
    )
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
}

#[async_trait]
impl Check for Chain {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let chain = ctx.fact::<PresentedChain>().await?;
        let judged = ctx.fact::<JudgedChain>().await?;
        judge_chain(
            &chain,
            &judged,
            &self.meta,
            &Site::of(ctx),
            OffsetDateTime::now_utc(),
        )
    }
}

/// How to fix an untrusted chain, by what is wrong with it.
fn chain_remediation(site: &Site, problem: &ChainProblem) -> String {
    let ca_file_hint = if site.ca_file {
        " and add it to the file named by [tls] ca_file"
    } else {
        ""
    };
    match problem {
        ChainProblem::SqlServerFallback => format!(
            "No certificate is configured for the instance, so SQL Server generated one at start-up; no client can verify it and it changes at every restart. Install a real one. {}",
            install_certificate_steps(&site.instance)
        ),
        ChainProblem::SelfSigned => format!(
            "Replace it with a certificate issued by your CA (below), or, if you keep the self-signed one, copy it to <PMP folder>/bin and run `importCert.bat <server.cer>` there (PMP guide step 2){ca_file_hint}. {}",
            install_certificate_steps(&site.instance)
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
        ChainProblem::Invalid { .. } => install_certificate_steps(&site.instance),
    }
}

/// The verdict on the chain's trust, and on what the server sends in vain.
fn judge_chain(
    chain: &ServerChain,
    judged: &ChainTrust,
    meta: &CheckMeta,
    site: &Site,
    now: OffsetDateTime,
) -> Outcome {
    let judgement = &judged.judgement;
    let presented: Vec<String> = chain.certificates.iter().map(display_name).collect();
    let path: Vec<String> = judgement
        .path
        .iter()
        .map(|e| display_name(&e.certificate))
        .collect();
    let extras = extra_certificates(chain, now, &judgement.path, &judgement.extras);
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
                Finding::problem(Severity::Warn, format!(
                    "{passed}; the server also sends {}, which clients ignore; remove it from the chain",
                    words.join(" and ")
                ))
                .expected("only the certificates of the path to the trusted root")
                .actual(format!("presented: {}", presented.join(" ← ")))
                .remediation("On the SQL Server machine, delete the certificates named above from Local Computer → Intermediate Certification Authorities (certlm.msc) — SQL Server sends what Windows finds there — and restart SQL Server.")
            }
        }
        ChainVerdict::Untrusted(problem) => Finding::problem(meta.severity, problem_words(problem))
            .expected(format!("a chain leading to {}", judged.anchors))
            .actual(format!("presented: {}", presented.join(" ← ")))
            .remediation(chain_remediation(site, problem))
            .evidence("problem", problem),
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
    Ok(leaf_finding(finding, chain)
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
    now: OffsetDateTime,
    path: &[PathEntry],
    extras: &[usize],
) -> Vec<ExtraCertificate> {
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

/// The parameters of Validity, named as in its metadata (where their
/// defaults are).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidityParams {
    warn_days: i64,
}

#[async_trait]
impl Check for Validity {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let ValidityParams { warn_days } = ctx.params(&self.meta)?;
        let chain = ctx.fact::<PresentedChain>().await?;
        let judged = JudgedPath::gather(ctx, &chain).await;
        judge_validity(
            &chain,
            &judged,
            warn_days,
            &self.meta,
            &Site::of(ctx),
            OffsetDateTime::now_utc(),
        )
    }
}

/// The verdict on the validity periods of the judged path at `now`.
fn judge_validity(
    chain: &ServerChain,
    judged: &JudgedPath,
    warn_days: i64,
    meta: &CheckMeta,
    site: &Site,
    now: OffsetDateTime,
) -> Outcome {
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
        let remediation = match judged.replace_anchor_steps(site) {
            Some(steps) if anchor_wrong => steps,
            _ => meta.fix.to_string(),
        };
        Finding::problem(meta.severity, problems.join("; "))
            .expected(format!("valid at {}", rfc3339(now)))
            .actual(format!(
                "valid {} to {}",
                rfc3339(leaf.not_before),
                rfc3339(leaf.not_after)
            ))
            .remediation(remediation)
    } else if !soon.is_empty() {
        Finding::problem(Severity::Warn, soon.join("; "))
            .expected(format!("more than {warn_days} days of validity left"))
            .remediation(format!("Renew it now: {}", meta.fix))
    } else {
        Finding::pass(format!(
            "valid until {} (expires {})",
            rfc3339(leaf.not_after),
            crate::human::relative((now - leaf.not_after).whole_seconds())
        ))
    };
    Ok(leaf_finding(finding, chain))
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
        let judged = JudgedPath::gather(ctx, &chain).await;
        judge_key(&chain, &judged, &self.meta, &Site::of(ctx))
    }
}

/// The verdict on the keys of the judged path.
fn judge_key(chain: &ServerChain, judged: &JudgedPath, meta: &CheckMeta, site: &Site) -> Outcome {
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
        let remediation = match judged.replace_anchor_steps(site) {
            Some(steps) if anchor_weak => steps,
            _ => format!("{} {}", meta.fix, reissue_certificate_steps(&site.instance)),
        };
        Finding::problem(meta.severity, format!("weak key: {}", weak.join("; ")))
            .expected("RSA ≥ 2048 bits or EC ≥ P-256")
            .actual(leaf.key.to_string())
            .remediation(remediation)
    };
    Ok(leaf_finding(
        finding.evidence("key", leaf.key.to_string()),
        chain,
    ))
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
        let judged = JudgedPath::gather(ctx, &chain).await;
        judge_signature(&chain, &judged, &self.meta, &Site::of(ctx))
    }
}

/// The verdict on the signatures of the judged path.
fn judge_signature(
    chain: &ServerChain,
    judged: &JudgedPath,
    meta: &CheckMeta,
    site: &Site,
) -> Outcome {
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
        Finding::problem(meta.severity, broken.join("; "))
            .expected("a SHA-256 or stronger signature")
            .actual(leaf.signature.name.clone())
            .remediation(format!(
                "{} {}",
                meta.fix,
                reissue_certificate_steps(&site.instance)
            ))
    };
    Ok(leaf_finding(
        finding.evidence("signature_algorithm", &leaf.signature.name),
        chain,
    ))
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
        judge_usage(&chain, &self.meta, &Site::of(ctx))
    }
}

/// The verdict on the usages the server's certificate allows.
fn judge_usage(chain: &ServerChain, meta: &CheckMeta, site: &Site) -> Outcome {
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
            meta.severity,
            format!(
                "the certificate may not authenticate a TLS server: {}",
                problems.join("; ")
            ),
        )
        .expected("extended key usage serverAuth; key usage digitalSignature or keyEncipherment")
        .actual(problems.join("; "))
        .remediation(format!(
            "{} {}",
            meta.fix,
            reissue_certificate_steps(&site.instance)
        ))
    };
    Ok(leaf_finding(
        finding
            .evidence("extended_key_usage", &leaf.extended_key_usage)
            .evidence("key_usage", &leaf.key_usage),
        chain,
    ))
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
        let judged = JudgedPath::gather(ctx, &chain).await;
        let breaches = crate::certificate::lint::lint(&judged.path);
        judge_profile(&chain, &judged, &breaches, &self.meta, &Site::of(ctx))
    }
}

/// The verdict on the judged path's conformance to the certificate profile.
fn judge_profile(
    chain: &ServerChain,
    judged: &JudgedPath,
    breaches: &[Breach],
    meta: &CheckMeta,
    site: &Site,
) -> Outcome {
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
        Finding::problem(meta.severity, words.join("; "))
            .expected(
                "certificates that follow RFC 5280 and the CA/Browser Forum Baseline Requirements",
            )
            .actual(format!("{} breach(es)", breaches.len()))
            .remediation(format!(
                "Ask the CA to issue instead: {}. Then install the new certificate: {}",
                instead.join("; "),
                reissue_certificate_steps(&site.instance)
            ))
    };
    Ok(leaf_finding(finding.evidence("breaches", breaches), chain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_params_match_the_metadata() {
        use crate::checks::verdicts::default_params;
        let ValidityParams { warn_days } = default_params(&Validity::new().meta);
        assert_eq!(warn_days, 30);
    }
    use crate::certificate::describe::SignatureAlgorithm;
    use crate::certificate::describe::tests_support::info_with;
    use crate::certificate::trust::ChainJudgement;
    use crate::certificate::{CertificateInfo, SignatureHash};
    use crate::checks::verdicts::{finding, verdict};
    use crate::facts::tls::ChainSource;
    use crate::finding::Status;
    use time::Duration;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn sha256() -> SignatureAlgorithm {
        SignatureAlgorithm {
            name: "sha256WithRSAEncryption".to_owned(),
            oid: "1.2.840.113549.1.1.11".to_owned(),
            hash: SignatureHash::Sha256,
        }
    }

    /// A certificate named `cn`, valid a year around `now()`, RSA 2048, SHA-256.
    fn cert(cn: &str) -> CertificateInfo {
        let mut cert = info_with(&[cn], &[cn], &[]);
        cert.subject = format!("CN={cn}");
        cert.issuer = "CN=Corp Issuing CA".to_owned();
        cert.not_before = now() - Duration::days(30);
        cert.not_after = now() + Duration::days(335);
        cert.key = KeyKind::Rsa { bits: 2048 };
        cert.signature = sha256();
        cert
    }

    fn root() -> CertificateInfo {
        let mut root = cert("Corp Root CA");
        root.issuer = root.subject.clone();
        root.self_issued = true;
        root.is_ca = true;
        root
    }

    fn chain_of(certificates: Vec<CertificateInfo>) -> ServerChain {
        ServerChain {
            source: ChainSource::Tds7,
            chain_der: Vec::new(),
            chain_pem: String::new(),
            descriptions: Vec::new(),
            certificates,
        }
    }

    fn entry(certificate: CertificateInfo, presented: Option<usize>, trusted: bool) -> PathEntry {
        PathEntry {
            certificate,
            presented,
            trusted,
            der: Vec::new().into(),
        }
    }

    /// The server's certificate and the trusted root it leads to (not sent).
    fn path_to_root(leaf: CertificateInfo, root: CertificateInfo) -> JudgedPath {
        JudgedPath {
            path: vec![entry(leaf, Some(0), false), entry(root, None, true)],
            store: "the CA file",
        }
    }

    fn site(ca_file: bool) -> Site {
        Site {
            instance: "SQLEXPRESS".to_owned(),
            ca_file,
        }
    }

    #[test]
    fn hostname_verdicts() {
        let meta = Hostname::new().meta;
        let chain = chain_of(vec![cert("sql01.corp.example")]);
        let judge = |expected: &str, result| {
            judge_hostname(
                &chain,
                &LeafNameMatch {
                    expected: expected.to_owned(),
                    result,
                },
                &meta,
                &site(false),
            )
        };
        let named = judge(
            "sql01.corp.example",
            NameMatch::SubjectAltName {
                entry: "DNS:sql01.corp.example".to_owned(),
            },
        );
        assert_eq!(verdict(&named), "pass");
        let common_name = finding(judge(
            "sql01.corp.example",
            NameMatch::CommonNameOnly {
                common_name: "sql01.corp.example".to_owned(),
            },
        ));
        assert_eq!(common_name.status, Status::Warn);
        assert!(
            common_name
                .remediation
                .unwrap()
                .contains("DNS:sql01.corp.example")
        );
        let short = finding(judge("sql01", NameMatch::Mismatch));
        assert_eq!(short.status, Status::Fail);
        assert!(short.message.contains("short name"), "{}", short.message);
        assert!(
            short
                .remediation
                .unwrap()
                .contains("host = \"sql01.corp.example\""),
            "connect with the certificate's name"
        );
        let other = finding(judge("web01.corp.example", NameMatch::Mismatch));
        assert_eq!(other.status, Status::Fail);
        assert!(
            other
                .remediation
                .unwrap()
                .contains("Protocols for SQLEXPRESS")
        );
    }

    fn trust(verdict: ChainVerdict, path: Vec<PathEntry>, extras: Vec<usize>) -> ChainTrust {
        ChainTrust {
            anchors: "the CA file `ca.pem` (1 certificate)".to_owned(),
            store: "the CA file",
            judgement: ChainJudgement {
                trust: verdict,
                strict_error: None,
                path,
                extras,
                faults: Vec::new(),
            },
        }
    }

    #[test]
    fn chain_verdicts() {
        let meta = Chain::new().meta;
        let leaf = cert("sql01.corp.example");
        let trusted = ChainVerdict::Trusted {
            anchor: "CN=Corp Root CA".to_owned(),
        };
        let path = vec![
            entry(leaf.clone(), Some(0), false),
            entry(root(), None, true),
        ];
        let judge = |chain: &ServerChain, trust: &ChainTrust| {
            judge_chain(chain, trust, &meta, &site(true), now())
        };

        let alone = chain_of(vec![leaf.clone()]);
        let passed = finding(judge(&alone, &trust(trusted.clone(), path.clone(), vec![])));
        assert_eq!(passed.status, Status::Pass);
        assert!(
            passed.message.contains("CN=Corp Root CA"),
            "{}",
            passed.message
        );

        let mut stale = cert("Old Intermediate CA");
        stale.not_after = now() - Duration::days(3);
        let with_stale = chain_of(vec![leaf.clone(), stale]);
        let extra = finding(judge(&with_stale, &trust(trusted, path.clone(), vec![1])));
        assert_eq!(extra.status, Status::Warn);
        assert!(
            extra.message.contains("Old Intermediate CA"),
            "{}",
            extra.message
        );

        let self_signed = finding(judge(
            &alone,
            &trust(
                ChainVerdict::Untrusted(ChainProblem::SelfSigned),
                path.clone(),
                vec![],
            ),
        ));
        assert_eq!(self_signed.status, Status::Fail);
        assert!(
            self_signed.remediation.unwrap().contains("[tls] ca_file"),
            "the CA file is named when the target has one"
        );
        let incomplete = finding(judge(
            &alone,
            &trust(
                ChainVerdict::Untrusted(ChainProblem::Incomplete {
                    missing_issuer: "CN=Corp Issuing CA".to_owned(),
                }),
                path.clone(),
                vec![],
            ),
        ));
        assert!(
            incomplete
                .remediation
                .unwrap()
                .contains("Intermediate Certification Authorities")
        );

        let undecided = judge(
            &alone,
            &trust(
                ChainVerdict::Undecided {
                    reason: "the chain is too long to judge".to_owned(),
                },
                path,
                vec![],
            ),
        );
        assert_eq!(verdict(&undecided), "error");
    }

    #[test]
    fn validity_verdicts() {
        let meta = Validity::new().meta;
        let judge = |leaf: CertificateInfo, root: CertificateInfo| {
            let chain = chain_of(vec![leaf.clone()]);
            judge_validity(
                &chain,
                &path_to_root(leaf, root),
                30,
                &meta,
                &site(false),
                now(),
            )
        };
        let valid = finding(judge(cert("sql01"), root()));
        assert_eq!(valid.status, Status::Pass);
        assert!(
            valid.message.contains("expires in 335 days"),
            "{}",
            valid.message
        );

        let mut soon = cert("sql01");
        soon.not_after = now() + Duration::days(10);
        let expiring = finding(judge(soon, root()));
        assert_eq!(expiring.status, Status::Warn);
        assert!(
            expiring.message.contains("in 10 days"),
            "{}",
            expiring.message
        );

        let mut expired = cert("sql01");
        expired.not_after = now() - Duration::days(2);
        let gone = finding(judge(expired, root()));
        assert_eq!(gone.status, Status::Fail);
        assert!(gone.message.contains("2 days ago"), "{}", gone.message);

        let mut early = cert("sql01");
        early.not_before = now() + Duration::days(1);
        assert_eq!(verdict(&judge(early, root())), "fail");

        let mut old_root = root();
        old_root.not_after = now() - Duration::days(1);
        let anchor = finding(judge(cert("sql01"), old_root));
        assert_eq!(anchor.status, Status::Fail);
        assert!(anchor.message.contains("Java"), "{}", anchor.message);
        assert!(
            anchor
                .remediation
                .unwrap()
                .contains("importCert.bat <root.cer>"),
            "a wrong root is replaced where it was imported"
        );
    }

    #[test]
    fn key_verdicts() {
        let meta = Key::new().meta;
        let judge = |leaf: CertificateInfo, root: CertificateInfo| {
            let chain = chain_of(vec![leaf.clone()]);
            judge_key(&chain, &path_to_root(leaf, root), &meta, &site(false))
        };
        assert_eq!(verdict(&judge(cert("sql01"), root())), "pass");
        let mut short = cert("sql01");
        short.key = KeyKind::Rsa { bits: 1024 };
        let weak = finding(judge(short, root()));
        assert_eq!(weak.status, Status::Fail);
        assert!(weak.message.contains("1024 bits"), "{}", weak.message);
        let mut small_curve = cert("sql01");
        small_curve.key = KeyKind::Ec {
            curve: "P-192".to_owned(),
            bits: 192,
        };
        assert_eq!(verdict(&judge(small_curve, root())), "fail");
        let mut weak_root = root();
        weak_root.key = KeyKind::Dsa { bits: 1024 };
        let anchor = finding(judge(cert("sql01"), weak_root));
        assert!(anchor.remediation.unwrap().contains("trusted root"));
        let mut odd = cert("sql01");
        odd.key = KeyKind::Other {
            oid: "1.2.3.4".to_owned(),
        };
        assert_eq!(verdict(&judge(odd, root())), "error");
    }

    #[test]
    fn signature_verdicts() {
        let meta = Signature::new().meta;
        let sha1 = SignatureAlgorithm {
            name: "sha1WithRSAEncryption".to_owned(),
            oid: "1.2.840.113549.1.1.5".to_owned(),
            hash: SignatureHash::Sha1,
        };
        let judge = |leaf: CertificateInfo, root: CertificateInfo| {
            let chain = chain_of(vec![leaf.clone()]);
            judge_signature(&chain, &path_to_root(leaf, root), &meta, &site(false))
        };
        assert_eq!(verdict(&judge(cert("sql01"), root())), "pass");
        let mut old_leaf = cert("sql01");
        old_leaf.signature = sha1.clone();
        let broken = finding(judge(old_leaf, root()));
        assert_eq!(broken.status, Status::Fail);
        assert_eq!(broken.actual.as_deref(), Some("sha1WithRSAEncryption"));
        let mut old_root = root();
        old_root.signature = sha1;
        assert_eq!(
            verdict(&judge(cert("sql01"), old_root)),
            "pass",
            "no verifier relies on a trusted root's signature on itself"
        );
        let mut odd = cert("sql01");
        odd.signature = SignatureAlgorithm {
            name: "unknown".to_owned(),
            oid: "1.2.3.4".to_owned(),
            hash: SignatureHash::Unknown,
        };
        assert_eq!(verdict(&judge(odd, root())), "error");
    }

    #[test]
    fn usage_verdicts() {
        let meta = Usage::new().meta;
        let judge = |eku: Option<&[&str]>, usage: Option<&[&str]>| {
            let mut leaf = cert("sql01");
            let owned = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
            leaf.extended_key_usage = eku.map(owned);
            leaf.key_usage = usage.map(owned);
            judge_usage(&chain_of(vec![leaf]), &meta, &site(false))
        };
        assert_eq!(verdict(&judge(None, None)), "pass");
        assert_eq!(
            verdict(&judge(Some(&["serverAuth"]), Some(&["keyEncipherment"]))),
            "pass"
        );
        let client_only = finding(judge(Some(&["clientAuth"]), None));
        assert_eq!(client_only.status, Status::Fail);
        assert!(
            client_only.message.contains("lacks serverAuth"),
            "{}",
            client_only.message
        );
        let signing_only = finding(judge(None, Some(&["keyCertSign"])));
        assert!(
            signing_only.message.contains("allows no TLS key exchange"),
            "{}",
            signing_only.message
        );
    }

    #[test]
    fn profile_verdicts() {
        let meta = Profile::new().meta;
        let leaf = cert("sql01");
        let chain = chain_of(vec![leaf.clone()]);
        let path = path_to_root(leaf, root());
        let clean = judge_profile(&chain, &path, &[], &meta, &site(false));
        assert_eq!(verdict(&clean), "pass");
        let breach = Breach {
            certificate: "the server's certificate".to_owned(),
            rule: "a DNS name contains an underscore".to_owned(),
            section: "CA/B Forum BR §7.1.4.2",
            instead: "DNS names of letters, digits and hyphens",
        };
        let breached = finding(judge_profile(&chain, &path, &[breach], &meta, &site(false)));
        assert_eq!(breached.status, Status::Warn);
        assert_eq!(breached.actual.as_deref(), Some("1 breach(es)"));
        assert!(
            breached
                .remediation
                .unwrap()
                .contains("letters, digits and hyphens")
        );
    }
}
