//! Does the presented chain lead to a certificate the application trusts?
//! `path` builds and validates every path from the server's certificate to
//! the configured CA file or the system's roots; the judgement names the
//! path used, its anchor, the certificates the server sends in vain, and,
//! when no path verifies, why in words an administrator can act on
//! (auto-generated, self-signed, incomplete, untrusted root, another key).
//!
//! System roots come from rustls-native-certs, the machine's own trust store
//! (on Windows the one SChannel and .NET consult, on Linux /etc/ssl/certs):
//! a SQL Server certificate is normally issued by an enterprise CA that the
//! administrator installed there, and which a fixed Mozilla bundle such as
//! webpki-roots can never contain.

use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;
use serde::Serialize;
use time::OffsetDateTime;

use super::describe::CertificateInfo;
use super::path::{
    self, MAX_PATH_CERTIFICATES, Node, OPENSSL_MAX_DEPTH, PathFault, Refusers, Search, Stop,
};

/// Where the trusted certificates came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum AnchorSource {
    CaFile { path: PathBuf },
    System,
}

/// The certificates a chain must lead to.
#[derive(Debug, Clone)]
pub struct TrustStore {
    pub source: AnchorSource,
    pub certificates: Vec<CertificateDer<'static>>,
    /// Certificates that could not be loaded (system stores only).
    pub load_errors: Vec<String>,
}

impl TrustStore {
    /// The CA file's certificates (PEM, one or more), or the system's roots.
    pub fn load(ca_file: Option<&Path>) -> Result<TrustStore, String> {
        match ca_file {
            Some(path) => {
                let text = std::fs::read(path)
                    .map_err(|e| format!("cannot read the CA file `{}`: {e}", path.display()))?;
                let blocks = pem::parse_many(&text)
                    .map_err(|e| format!("the CA file `{}` is not PEM: {e}", path.display()))?;
                let certificates: Vec<CertificateDer<'static>> = blocks
                    .into_iter()
                    .filter(|b| b.tag() == "CERTIFICATE")
                    .map(|b| CertificateDer::from(b.into_contents()))
                    .collect();
                if certificates.is_empty() {
                    return Err(format!(
                        "the CA file `{}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                        path.display()
                    ));
                }
                Ok(TrustStore {
                    source: AnchorSource::CaFile {
                        path: path.to_path_buf(),
                    },
                    certificates,
                    load_errors: Vec::new(),
                })
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                Ok(TrustStore {
                    source: AnchorSource::System,
                    certificates: found.certs,
                    load_errors: found.errors.iter().map(ToString::to_string).collect(),
                })
            }
        }
    }

    /// "the CA file /etc/pmp/root.pem (1 certificate)".
    pub fn describe(&self) -> String {
        let count = self.certificates.len();
        let plural = if count == 1 { "" } else { "s" };
        match &self.source {
            AnchorSource::CaFile { path } => format!(
                "the CA file `{}` ({count} certificate{plural})",
                path.display()
            ),
            AnchorSource::System => {
                format!("this machine's trusted root certificates ({count} certificate{plural})")
            }
        }
    }

    /// "the CA file" or "this machine's trusted roots", for sentences.
    pub fn short_name(&self) -> &'static str {
        match self.source {
            AnchorSource::CaFile { .. } => "the CA file",
            AnchorSource::System => "this machine's trusted roots",
        }
    }
}

/// Why the chain does not lead to a trusted certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum ChainProblem {
    /// SQL Server's own auto-generated certificate (CN=SSL_Self_Signed_Fallback).
    SqlServerFallback,
    /// A self-signed leaf that is not among the trusted certificates.
    SelfSigned,
    /// The server sends only its own certificate, and its issuer
    /// (`missing_issuer`) is neither sent nor trusted: the intermediate is
    /// missing.
    Incomplete { missing_issuer: String },
    /// The chain leads to a root (sent or not) that is not trusted.
    UntrustedRoot { root: String },
    /// A certificate names a trusted issuer, but its signature does not verify
    /// with that issuer's key (another CA with the same name).
    WrongIssuerKey { issuer: String },
    /// A path to a trusted certificate exists but breaks a rule of RFC 5280
    /// that a client enforces; `detail` says which, and who refuses it.
    Invalid { detail: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum ChainVerdict {
    /// The chain verifies; `anchor` is the trusted certificate it leads to.
    Trusted {
        anchor: String,
    },
    Untrusted(ChainProblem),
    /// This tool cannot tell (a limit of its own, not the server's fault).
    Undecided {
        reason: String,
    },
}

/// One certificate of the judged path.
#[derive(Debug, Clone, Serialize)]
pub struct PathEntry {
    pub certificate: CertificateInfo,
    /// Its position in the presented chain (0 = the server's own), when sent.
    pub presented: Option<usize>,
    /// The path ends here: it is among the trusted certificates.
    pub trusted: bool,
    #[serde(skip)]
    pub der: CertificateDer<'static>,
}

/// A fault of the judged path, in words, and who refuses the chain for it.
#[derive(Debug, Clone, Serialize)]
pub struct JudgedFault {
    pub fault: PathFault,
    pub words: String,
    pub refused_by: Refusers,
}

/// The verdicts on one presented chain.
#[derive(Debug, Clone, Serialize)]
pub struct ChainJudgement {
    /// Trust alone: a path of verified signatures to a trusted certificate
    /// that breaks no rule but, possibly, dates; expiry and usage are
    /// reported by their own checks and not twice.
    pub trust: ChainVerdict,
    /// What a client connecting now requires: trust, validity now and
    /// serverAuth usage. `None` when it verifies.
    pub strict_error: Option<String>,
    /// The path judged, leaf first: to the anchor when one was reached,
    /// else as far as verified signatures lead.
    pub path: Vec<PathEntry>,
    /// Positions in the presented chain of certificates not on the path.
    pub extras: Vec<usize>,
    /// Every fault found on the path now, dates included.
    pub faults: Vec<JudgedFault>,
}

impl ChainJudgement {
    /// The anchor the path ends at, when it reached one.
    pub fn anchor(&self) -> Option<&PathEntry> {
        self.path.last().filter(|entry| entry.trusted)
    }

    /// Whether OpenSSL and Java accept the path (serverAuth, name and key
    /// strength aside): no fault that either refuses.
    pub fn accepted_by(&self) -> Refusers {
        let reached = self.anchor().is_some();
        Refusers {
            openssl: reached && !self.faults.iter().any(|f| f.refused_by.openssl),
            java: reached && !self.faults.iter().any(|f| f.refused_by.java),
        }
    }
}

/// "CN=Root CA", or for a certificate without a subject, its fingerprint.
pub fn display_name(info: &CertificateInfo) -> String {
    if info.subject.trim().is_empty() {
        let short: String = info.sha256_fingerprint.chars().take(23).collect();
        format!("(empty subject, SHA-256 {short}…)")
    } else {
        info.subject.clone()
    }
}

/// "the server's certificate", "chain certificate 2 (CN=…)" or "the trusted
/// certificate CN=… (not sent)", for sentences about one path member.
pub fn position_words(entry: &PathEntry) -> String {
    match entry.presented {
        Some(0) => "the server's certificate".to_owned(),
        Some(index) if entry.trusted => format!(
            "chain certificate {} ({}, trusted)",
            index + 1,
            display_name(&entry.certificate)
        ),
        Some(index) => format!(
            "chain certificate {} ({})",
            index + 1,
            display_name(&entry.certificate)
        ),
        None => format!(
            "the trusted root `{}` (not sent by the server)",
            display_name(&entry.certificate)
        ),
    }
}

fn date(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

fn fault_words(fault: &PathFault, path: &[PathEntry]) -> String {
    let who = |position: usize| position_words(&path[position]);
    match fault {
        PathFault::Expired { position } => format!(
            "{} expired on {}",
            who(*position),
            date(path[*position].certificate.not_after)
        ),
        PathFault::NotYetValid { position } => format!(
            "{} is not valid until {}",
            who(*position),
            date(path[*position].certificate.not_before)
        ),
        PathFault::EmptyIssuer { position } => format!(
            "{} has an empty issuer name (RFC 5280 §4.1.2.4 requires one)",
            who(*position)
        ),
        PathFault::NotCa { position, .. } => format!(
            "{} issued a certificate but is not a CA (its basicConstraints lack cA=TRUE)",
            who(*position)
        ),
        PathFault::NoKeyCertSign { position } => format!(
            "{} issued a certificate but its key usage lacks keyCertSign",
            who(*position)
        ),
        PathFault::PathLength { position, limit } => format!(
            "{} allows {limit} CA certificate(s) below it (pathLenConstraint), and the path has more",
            who(*position)
        ),
        PathFault::NameConstraint { position, by, name } => format!(
            "{} carries the name {name}, outside the name constraints of {}",
            who(*position),
            who(*by)
        ),
        PathFault::CriticalExtension { position, oid } => format!(
            "{} has a critical extension {oid} that verifiers do not know, so they must refuse it",
            who(*position)
        ),
        PathFault::CaExtendedKeyUsage { position } => format!(
            "{} restricts its extended key usage without serverAuth",
            who(*position)
        ),
    }
}

/// "OpenSSL (ODBC, FreeTDS) refuses it; Java (PMP's JDBC driver) accepts it".
pub fn refusers_words(refused: Refusers) -> String {
    const OPENSSL: &str = "OpenSSL (ODBC Driver 18 and FreeTDS on Linux)";
    const JAVA: &str = "Java (PMP's JDBC driver)";
    match (refused.openssl, refused.java) {
        (true, true) => format!("{OPENSSL} and {JAVA} refuse it"),
        (true, false) => format!("{OPENSSL} refuses it; {JAVA} accepts it"),
        (false, true) => format!("{JAVA} refuses it; {OPENSSL} accepts it"),
        (false, false) => format!("{OPENSSL} and {JAVA} accept it"),
    }
}

fn entry(node: &Node<'_>, known: &[CertificateInfo]) -> Option<PathEntry> {
    let certificate = match node.presented.and_then(|i| known.get(i)) {
        Some(info) => info.clone(),
        None => CertificateInfo::parse(node.der).ok()?,
    };
    Some(PathEntry {
        certificate,
        presented: node.presented,
        trusted: node.trusted,
        der: CertificateDer::from(node.der.to_vec()),
    })
}

/// Judges `chain` (leaf first, as presented) against `store` at `now`.
pub fn judge(
    chain: &[CertificateDer<'static>],
    infos: &[CertificateInfo],
    store: &TrustStore,
    now: OffsetDateTime,
) -> ChainJudgement {
    let mut judgement = ChainJudgement {
        trust: ChainVerdict::Untrusted(ChainProblem::Invalid {
            detail: "the server presented no certificate".to_owned(),
        }),
        strict_error: None,
        path: Vec::new(),
        extras: Vec::new(),
        faults: Vec::new(),
    };
    let nodes = match path::nodes(chain, &store.certificates) {
        Ok(nodes) if !nodes.is_empty() && !chain.is_empty() => nodes,
        Ok(_) => {
            judgement.strict_error = Some("the server presented no certificate".to_owned());
            return judgement;
        }
        Err(reason) => {
            judgement.strict_error = Some(reason.clone());
            judgement.trust = ChainVerdict::Undecided { reason };
            return judgement;
        }
    };
    let (indices, outcome) = match path::search(&nodes, now) {
        Search::Complete { path, faults } => (path, Ok(faults)),
        Search::Incomplete { path, stop } => (path, Err(stop)),
    };
    judgement.path = indices
        .iter()
        .filter_map(|&i| entry(&nodes[i], infos))
        .collect();
    judgement.extras = (0..chain.len())
        .filter(|i| !indices.iter().any(|&n| nodes[n].presented == Some(*i)))
        .collect();
    let anchor = judgement.path.len().saturating_sub(1);
    if let Ok(faults) = &outcome {
        judgement.faults = faults
            .iter()
            .map(|fault| JudgedFault {
                fault: fault.clone(),
                words: fault_words(fault, &judgement.path),
                refused_by: fault.refusers(anchor),
            })
            .collect();
    }
    let leaf = &infos[0];
    judgement.trust = if leaf.is_sql_server_fallback() {
        ChainVerdict::Untrusted(ChainProblem::SqlServerFallback)
    } else {
        match &outcome {
            Ok(_) => {
                let lasting: Vec<&JudgedFault> = judgement
                    .faults
                    .iter()
                    .filter(|f| !f.fault.is_time())
                    .collect();
                match lasting.first() {
                    None => ChainVerdict::Trusted {
                        anchor: display_name(&judgement.path[anchor].certificate),
                    },
                    Some(_) => ChainVerdict::Untrusted(ChainProblem::Invalid {
                        detail: lasting
                            .iter()
                            .map(|f| format!("{} ({})", f.words, refusers_words(f.refused_by)))
                            .collect::<Vec<_>>()
                            .join("; "),
                    }),
                }
            }
            Err(stop) => explain(stop, &judgement.path, leaf),
        }
    };
    judgement.strict_error = strict_error(&judgement, leaf);
    judgement
}

/// Why no path reaches a trusted certificate, from the longest one found.
fn explain(stop: &Stop, path: &[PathEntry], leaf: &CertificateInfo) -> ChainVerdict {
    let top = path.last().map(|e| &e.certificate).unwrap_or(leaf);
    let problem = match stop {
        Stop::TooDeep => {
            return ChainVerdict::Undecided {
                reason: format!(
                    "this tool cannot judge chains longer than {MAX_PATH_CERTIFICATES} certificates; OpenSSL accepts up to {OPENSSL_MAX_DEPTH} intermediates by default"
                ),
            };
        }
        Stop::TooManyCandidates => {
            return ChainVerdict::Undecided {
                reason: "the server sends so many certificates with the same names that this tool stopped building paths through them".to_owned(),
            };
        }
        Stop::Unsupported { algorithm } => {
            return ChainVerdict::Undecided {
                reason: format!(
                    "this tool cannot verify the signature algorithm {algorithm} of {}",
                    display_name(top)
                ),
            };
        }
        Stop::WrongKey { trusted: true } => ChainProblem::WrongIssuerKey {
            issuer: top.issuer.clone(),
        },
        Stop::WrongKey { trusted: false } if path.len() == 1 && !leaf.self_issued => {
            ChainProblem::Invalid {
                detail: format!(
                    "the server sends a certificate named `{}` as the issuer of its own, but that certificate's key did not sign it (another CA with the same name, or a CA renewed with a new key): send the issuer that signed it",
                    leaf.issuer
                ),
            }
        }
        Stop::NoIssuer | Stop::WrongKey { .. } => {
            if path.len() <= 1 && leaf.self_issued {
                ChainProblem::SelfSigned
            } else if top.self_issued {
                ChainProblem::UntrustedRoot {
                    root: display_name(top),
                }
            } else if path.len() <= 1 {
                // Servers normally send their intermediates but not the
                // root: a lone leaf whose issuer is unknown lacks its
                // intermediate, a chain that stops above one points at an
                // untrusted root.
                ChainProblem::Incomplete {
                    missing_issuer: top.issuer.clone(),
                }
            } else {
                ChainProblem::UntrustedRoot {
                    root: top.issuer.clone(),
                }
            }
        }
    };
    ChainVerdict::Untrusted(problem)
}

/// What a client connecting now refuses: no trusted path, a fault, dates,
/// a leaf without serverAuth, a broken signature hash below the anchor.
fn strict_error(judgement: &ChainJudgement, leaf: &CertificateInfo) -> Option<String> {
    match &judgement.trust {
        ChainVerdict::Untrusted(problem) => return Some(problem_words(problem)),
        ChainVerdict::Undecided { reason } => return Some(reason.clone()),
        ChainVerdict::Trusted { .. } => {}
    }
    if let Some(fault) = judgement.faults.first() {
        return Some(fault.words.clone());
    }
    if let Some(eku) = &leaf.extended_key_usage
        && !eku
            .iter()
            .any(|u| u == "serverAuth" || u == "anyExtendedKeyUsage")
    {
        return Some(
            "the certificate's extended key usage does not allow server authentication".to_owned(),
        );
    }
    let below_anchor = &judgement.path[..judgement.path.len().saturating_sub(1)];
    if below_anchor
        .iter()
        .any(|e| e.certificate.signature.hash.is_broken())
    {
        return Some(
            "a certificate is signed with an algorithm verifiers no longer accept (such as MD5 or SHA-1)".to_owned(),
        );
    }
    None
}

/// A problem in plain words, without the remedy.
pub fn problem_words(problem: &ChainProblem) -> String {
    match problem {
        ChainProblem::SqlServerFallback => format!(
            "the server presents SQL Server's auto-generated certificate (CN={}): no certificate is configured for the instance",
            super::describe::FALLBACK_COMMON_NAME
        ),
        ChainProblem::SelfSigned => {
            "the certificate is self-signed and not among the trusted certificates".to_owned()
        }
        ChainProblem::Incomplete { missing_issuer } => format!(
            "the chain is incomplete: the server sends only its own certificate, and its issuer `{missing_issuer}` is neither sent nor trusted (the server does not send its intermediate certificate)"
        ),
        ChainProblem::UntrustedRoot { root } => {
            format!("the chain leads to `{root}`, which is not among the trusted certificates")
        }
        ChainProblem::WrongIssuerKey { issuer } => format!(
            "a trusted certificate is named `{issuer}`, but it did not sign this chain (same name, another key)"
        ),
        ChainProblem::Invalid { detail } => detail.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    struct Pki {
        root_der: CertificateDer<'static>,
        intermediate_der: CertificateDer<'static>,
        intermediate: Issuer<'static, KeyPair>,
    }

    fn ca(name: &str) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
    }

    fn pki(root_name: &str) -> Pki {
        let root_key = KeyPair::generate().unwrap();
        let root_params = ca(root_name);
        let root = root_params.self_signed(&root_key).unwrap();
        let root_issuer = Issuer::new(root_params, root_key);
        let intermediate_key = KeyPair::generate().unwrap();
        let intermediate_params = ca("Issuing CA");
        let intermediate = intermediate_params
            .signed_by(&intermediate_key, &root_issuer)
            .unwrap();
        Pki {
            root_der: root.der().clone(),
            intermediate_der: intermediate.der().clone(),
            intermediate: Issuer::new(intermediate_params, intermediate_key),
        }
    }

    fn leaf(pki: &Pki) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(vec!["sql01.corp.example.com".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "sql01.corp.example.com");
        params
            .signed_by(&KeyPair::generate().unwrap(), &pki.intermediate)
            .unwrap()
            .der()
            .clone()
    }

    fn store(certs: &[&CertificateDer<'static>]) -> TrustStore {
        TrustStore {
            source: AnchorSource::System,
            certificates: certs.iter().map(|c| (*c).clone()).collect(),
            load_errors: Vec::new(),
        }
    }

    fn judge_chain(chain: &[CertificateDer<'static>], store: &TrustStore) -> ChainJudgement {
        let infos: Vec<_> = chain
            .iter()
            .map(|c| CertificateInfo::parse(c).unwrap())
            .collect();
        judge(chain, &infos, store, OffsetDateTime::now_utc())
    }

    #[test]
    fn a_complete_chain_to_a_trusted_root_is_trusted() {
        let pki = pki("Root CA");
        let chain = vec![leaf(&pki), pki.intermediate_der.clone()];
        let verdict = judge_chain(&chain, &store(&[&pki.root_der]));
        assert_eq!(
            verdict.trust,
            ChainVerdict::Trusted {
                anchor: "CN=Root CA".to_owned()
            }
        );
        assert_eq!(verdict.strict_error, None);
    }

    #[test]
    fn a_missing_intermediate_is_named() {
        let pki = pki("Root CA");
        let chain = vec![leaf(&pki)];
        let verdict = judge_chain(&chain, &store(&[&pki.root_der]));
        assert_eq!(
            verdict.trust,
            ChainVerdict::Untrusted(ChainProblem::Incomplete {
                missing_issuer: "CN=Issuing CA".to_owned()
            })
        );
        assert!(verdict.strict_error.is_some());
    }

    #[test]
    fn a_chain_to_another_root_names_that_root() {
        let pki = pki("Root CA");
        let other = pki_other();
        let chain = vec![
            leaf(&pki),
            pki.intermediate_der.clone(),
            pki.root_der.clone(),
        ];
        let verdict = judge_chain(&chain, &store(&[&other]));
        assert_eq!(
            verdict.trust,
            ChainVerdict::Untrusted(ChainProblem::UntrustedRoot {
                root: "CN=Root CA".to_owned()
            })
        );
    }

    #[test]
    fn a_chain_without_its_root_leads_to_the_untrusted_root() {
        let pki = pki("Root CA");
        let chain = vec![leaf(&pki), pki.intermediate_der.clone()];
        let verdict = judge_chain(&chain, &store(&[]));
        assert_eq!(
            verdict.trust,
            ChainVerdict::Untrusted(ChainProblem::UntrustedRoot {
                root: "CN=Root CA".to_owned()
            })
        );
    }

    fn pki_other() -> CertificateDer<'static> {
        pki("Other Root").root_der
    }

    #[test]
    fn a_root_with_the_same_name_but_another_key_is_told_apart() {
        let pki_a = pki("Root CA");
        let pki_b = pki("Root CA");
        let chain = vec![leaf(&pki_a), pki_a.intermediate_der.clone()];
        let verdict = judge_chain(&chain, &store(&[&pki_b.root_der]));
        assert_eq!(
            verdict.trust,
            ChainVerdict::Untrusted(ChainProblem::WrongIssuerKey {
                issuer: "CN=Root CA".to_owned()
            })
        );
    }

    #[test]
    fn a_self_signed_leaf_is_untrusted_unless_it_is_itself_trusted() {
        let mut params = CertificateParams::new(vec!["sql01.corp.example.com".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "sql01.corp.example.com");
        let cert = params
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .der()
            .clone();
        let untrusted = judge_chain(std::slice::from_ref(&cert), &store(&[]));
        assert_eq!(
            untrusted.trust,
            ChainVerdict::Untrusted(ChainProblem::SelfSigned)
        );
        let pinned = judge_chain(std::slice::from_ref(&cert), &store(&[&cert]));
        assert!(
            matches!(pinned.trust, ChainVerdict::Trusted { .. }),
            "{pinned:?}"
        );
    }

    #[test]
    fn sql_servers_fallback_certificate_is_named_even_when_pinned() {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "SSL_Self_Signed_Fallback");
        let cert = params
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .der()
            .clone();
        let verdict = judge_chain(std::slice::from_ref(&cert), &store(&[&cert]));
        assert_eq!(
            verdict.trust,
            ChainVerdict::Untrusted(ChainProblem::SqlServerFallback)
        );
    }

    #[test]
    fn an_expired_leaf_is_still_judged_for_trust_but_fails_strictly() {
        let pki = pki("Root CA");
        let mut params = CertificateParams::new(vec!["sql01.corp.example.com".to_owned()]).unwrap();
        let now = OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(400);
        params.not_after = now - time::Duration::days(30);
        let expired = params
            .signed_by(&KeyPair::generate().unwrap(), &pki.intermediate)
            .unwrap()
            .der()
            .clone();
        let verdict = judge_chain(
            &[expired, pki.intermediate_der.clone()],
            &store(&[&pki.root_der]),
        );
        assert!(
            matches!(verdict.trust, ChainVerdict::Trusted { .. }),
            "{verdict:?}"
        );
        let strict = verdict.strict_error.unwrap_or_default();
        assert!(
            strict.starts_with("the server's certificate expired on"),
            "{strict}"
        );
    }

    /// A root and `depth` CAs below it, each issuing the next; the leaf
    /// chain as sent (leaf, then the CAs from the bottom) and the root.
    fn deep_chain(depth: usize) -> (Vec<CertificateDer<'static>>, CertificateDer<'static>) {
        let root_key = KeyPair::generate().unwrap();
        let root_params = ca("Root CA");
        let root = root_params.self_signed(&root_key).unwrap().der().clone();
        let mut issuer = Issuer::new(root_params, root_key);
        let mut sent = Vec::new();
        for level in 0..depth {
            let key = KeyPair::generate().unwrap();
            let params = ca(&format!("CA {level}"));
            sent.push(params.signed_by(&key, &issuer).unwrap().der().clone());
            issuer = Issuer::new(params, key);
        }
        let leaf_params =
            CertificateParams::new(vec!["sql01.corp.example.com".to_owned()]).unwrap();
        let leaf = leaf_params
            .signed_by(&KeyPair::generate().unwrap(), &issuer)
            .unwrap()
            .der()
            .clone();
        sent.reverse();
        sent.insert(0, leaf);
        (sent, root)
    }

    #[test]
    fn a_path_longer_than_this_tool_judges_is_undecided_not_untrusted() {
        let (chain, root) = deep_chain(MAX_PATH_CERTIFICATES);
        let verdict = judge_chain(&chain, &store(&[&root]));
        match &verdict.trust {
            ChainVerdict::Undecided { reason } => assert!(
                reason.contains("cannot judge chains longer than 32 certificates"),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
        let (chain, root) = deep_chain(MAX_PATH_CERTIFICATES - 2);
        let verdict = judge_chain(&chain, &store(&[&root]));
        assert!(
            matches!(verdict.trust, ChainVerdict::Trusted { .. }),
            "{verdict:?}"
        );
        assert_eq!(verdict.path.len(), MAX_PATH_CERTIFICATES);
    }

    #[test]
    fn the_path_runs_through_a_rollover_certificate_and_extras_are_named() {
        // Old root (trusted) certifies the new key under the same name; the
        // new key issued the issuing CA.
        let old_key = KeyPair::generate().unwrap();
        let old_params = ca("Root CA");
        let old_root = old_params.self_signed(&old_key).unwrap().der().clone();
        let old = Issuer::new(old_params, old_key);
        let new_key = KeyPair::generate().unwrap();
        let new_params = ca("Root CA");
        let rollover = new_params.signed_by(&new_key, &old).unwrap().der().clone();
        let new = Issuer::new(new_params, new_key);
        let issuing_key = KeyPair::generate().unwrap();
        let issuing_params = ca("Issuing CA");
        let issuing = issuing_params
            .signed_by(&issuing_key, &new)
            .unwrap()
            .der()
            .clone();
        let issuing = (issuing, Issuer::new(issuing_params, issuing_key));
        let leaf = CertificateParams::new(vec!["sql01.corp.example.com".to_owned()])
            .unwrap()
            .signed_by(&KeyPair::generate().unwrap(), &issuing.1)
            .unwrap()
            .der()
            .clone();
        let stray = pki("Stray Root").intermediate_der;
        let chain = vec![leaf, issuing.0, rollover, stray];
        let verdict = judge_chain(&chain, &store(&[&old_root]));
        assert_eq!(
            verdict.trust,
            ChainVerdict::Trusted {
                anchor: "CN=Root CA".to_owned()
            }
        );
        let presented: Vec<Option<usize>> = verdict.path.iter().map(|e| e.presented).collect();
        assert_eq!(presented, vec![Some(0), Some(1), Some(2), None]);
        assert_eq!(verdict.extras, vec![3]);
        assert_eq!(verdict.strict_error, None);
    }

    #[test]
    fn a_sent_issuer_with_the_right_name_and_another_key_is_told_apart_from_a_missing_one() {
        let pki_a = pki("Root CA");
        let pki_b = pki("Root CA");
        // The leaf of A, sent with B's intermediate of the same name.
        let chain = vec![leaf(&pki_a), pki_b.intermediate_der.clone()];
        let verdict = judge_chain(&chain, &store(&[&pki_a.root_der]));
        match verdict.trust {
            ChainVerdict::Untrusted(ChainProblem::Invalid { detail }) => {
                assert!(detail.contains("did not sign it"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ca_files_are_read_as_pem_and_must_hold_certificates() {
        let pki = pki("Root CA");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roots.pem");
        std::fs::write(
            &path,
            crate::certificate::describe::to_pem(&[&pki.root_der, &pki.intermediate_der]),
        )
        .unwrap();
        let loaded = TrustStore::load(Some(&path)).unwrap();
        assert_eq!(loaded.certificates.len(), 2);
        assert!(loaded.describe().contains("(2 certificates)"));
        std::fs::write(&path, "not pem").unwrap();
        assert!(
            TrustStore::load(Some(&path))
                .unwrap_err()
                .contains("no PEM certificate")
        );
    }
}
