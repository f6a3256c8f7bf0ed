//! Does the presented chain lead to a certificate the application trusts?
//! webpki builds and verifies the path to the configured CA file, or to the
//! system's roots; when it fails, the chain is examined to say why in words
//! an administrator can act on (auto-generated, self-signed, incomplete,
//! untrusted root).
//!
//! System roots come from rustls-native-certs, the machine's own trust store
//! (on Windows the one SChannel and .NET consult, on Linux /etc/ssl/certs):
//! a SQL Server certificate is normally issued by an enterprise CA that the
//! administrator installed there, and which a fixed Mozilla bundle such as
//! webpki-roots can never contain.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm, UnixTime,
};
use serde::Serialize;
use time::OffsetDateTime;
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter, KeyUsage};

use super::describe::CertificateInfo;

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

    fn contains(&self, der: &[u8]) -> bool {
        self.certificates.iter().any(|c| c.as_ref() == der)
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
    /// Anything else webpki refused, in its words.
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
}

/// The verdicts on one presented chain.
#[derive(Debug, Clone, Serialize)]
pub struct ChainJudgement {
    /// Trust alone: judged at a moment within the leaf's validity, whatever
    /// the key usages say, so expiry and usage are reported by their own
    /// checks and not twice.
    pub trust: ChainVerdict,
    /// What a client connecting now requires: trust, validity now and
    /// serverAuth usage. `None` when it verifies.
    pub strict_error: Option<String>,
}

/// Accepts every extended key usage: usage is judged on its own.
struct AnyUsage;

impl ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, _: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

/// sha1WithRSAEncryption, which webpki leaves out: SHA-1 is judged by its
/// own check, and trust must still be decidable for such a chain.
#[derive(Debug)]
struct RsaPkcs1Sha1;

impl SignatureVerificationAlgorithm for RsaPkcs1Sha1 {
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        rustls::pki_types::alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        // OID 1.2.840.113549.1.1.5 and NULL parameters, without the SEQUENCE.
        AlgorithmIdentifier::from_slice(&[
            0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x05, 0x05, 0x00,
        ])
    }

    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            public_key,
        )
        .verify(message, signature)
        .map_err(|_| InvalidSignature)
    }
}

static RSA_PKCS1_SHA1: RsaPkcs1Sha1 = RsaPkcs1Sha1;

fn unix_time(at: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(at.unix_timestamp().max(0) as u64))
}

fn verify(
    chain: &[CertificateDer<'static>],
    store: &TrustStore,
    at: OffsetDateTime,
    usage: impl ExtendedKeyUsageValidator,
    legacy: bool,
) -> Result<(), webpki::Error> {
    let leaf = chain.first().ok_or(webpki::Error::BadDer)?;
    let end_entity = EndEntityCert::try_from(leaf)?;
    let anchors: Vec<_> = store
        .certificates
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect();
    let provider = crate::probe::tds::tls::crypto_provider();
    let mut algorithms: Vec<&dyn SignatureVerificationAlgorithm> =
        provider.signature_verification_algorithms.all.to_vec();
    if legacy {
        algorithms.push(&RSA_PKCS1_SHA1);
    }
    end_entity
        .verify_for_usage(
            &algorithms,
            &anchors,
            &chain[1..],
            unix_time(at),
            usage,
            None,
            None,
        )
        .map(|_| ())
}

/// Judges `chain` (leaf first, as presented) against `store`.
pub fn judge(
    chain: &[CertificateDer<'static>],
    infos: &[CertificateInfo],
    store: &TrustStore,
    now: OffsetDateTime,
) -> ChainJudgement {
    let strict_error = verify(chain, store, now, KeyUsage::server_auth(), false)
        .err()
        .map(|e| webpki_words(&e));
    let Some(leaf) = infos.first() else {
        return ChainJudgement {
            trust: ChainVerdict::Untrusted(ChainProblem::Invalid {
                detail: "the server presented no certificate".to_owned(),
            }),
            strict_error,
        };
    };
    if leaf.is_sql_server_fallback() {
        return ChainJudgement {
            trust: ChainVerdict::Untrusted(ChainProblem::SqlServerFallback),
            strict_error,
        };
    }
    // A moment at which every presented certificate is valid: now when
    // possible, else the nearest one.
    let latest_start = infos.iter().map(|i| i.not_before).max().unwrap_or(now);
    let earliest_end = infos.iter().map(|i| i.not_after).min().unwrap_or(now);
    if latest_start > earliest_end {
        let detail = "the validity periods of the presented certificates do not overlap, so the chain is valid at no moment (see tls.cert.validity)";
        return ChainJudgement {
            trust: ChainVerdict::Untrusted(ChainProblem::Invalid {
                detail: detail.to_owned(),
            }),
            strict_error,
        };
    }
    let at = now.clamp(latest_start, earliest_end);
    let trust = match verify(chain, store, at, AnyUsage, true) {
        Ok(()) => ChainVerdict::Trusted {
            anchor: anchor_name(chain, infos, store),
        },
        Err(webpki::Error::UnknownIssuer) => {
            ChainVerdict::Untrusted(explain_unknown_issuer(infos, store))
        }
        // webpki reports a trusted name whose key did not sign as a bad signature.
        Err(error @ webpki::Error::InvalidSignatureForPublicKey) => {
            match explain_unknown_issuer(infos, store) {
                problem @ ChainProblem::WrongIssuerKey { .. } => ChainVerdict::Untrusted(problem),
                _ => ChainVerdict::Untrusted(ChainProblem::Invalid {
                    detail: webpki_words(&error),
                }),
            }
        }
        Err(other) => ChainVerdict::Untrusted(ChainProblem::Invalid {
            detail: webpki_words(&other),
        }),
    };
    ChainJudgement {
        trust,
        strict_error,
    }
}

fn store_infos(store: &TrustStore) -> Vec<CertificateInfo> {
    store
        .certificates
        .iter()
        .filter_map(|c| CertificateInfo::parse(c).ok())
        .collect()
}

/// The trusted certificate the chain ends at: the leaf itself when it was
/// trusted directly, else the anchor that issued the last presented one.
fn anchor_name(
    chain: &[CertificateDer<'static>],
    infos: &[CertificateInfo],
    store: &TrustStore,
) -> String {
    if let Some((_, info)) = chain.iter().zip(infos).find(|(der, _)| store.contains(der)) {
        return info.subject.clone();
    }
    let anchors = store_infos(store);
    infos
        .iter()
        .rev()
        .find_map(|i| anchors.iter().find(|a| a.raw_subject == i.raw_issuer))
        .map(|a| a.subject.clone())
        .unwrap_or_default()
}

fn explain_unknown_issuer(infos: &[CertificateInfo], store: &TrustStore) -> ChainProblem {
    let leaf = &infos[0];
    if leaf.self_issued {
        return ChainProblem::SelfSigned;
    }
    // Follow issuers through what the server sent, as far as it goes.
    let mut top = leaf;
    let mut steps = 0;
    while !top.self_issued && steps < infos.len() {
        match infos.iter().find(|i| i.raw_subject == top.raw_issuer) {
            Some(issuer) => top = issuer,
            None => break,
        }
        steps += 1;
    }
    if top.self_issued {
        return ChainProblem::UntrustedRoot {
            root: top.subject.clone(),
        };
    }
    if store_infos(store)
        .iter()
        .any(|a| a.raw_subject == top.raw_issuer)
    {
        return ChainProblem::WrongIssuerKey {
            issuer: top.issuer.clone(),
        };
    }
    // Servers normally send their intermediates but not the root: a chain
    // that stops above an intermediate points at an untrusted root, while
    // a lone leaf whose issuer is unknown lacks its intermediate.
    if std::ptr::eq(top, leaf) {
        ChainProblem::Incomplete {
            missing_issuer: top.issuer.clone(),
        }
    } else {
        ChainProblem::UntrustedRoot {
            root: top.issuer.clone(),
        }
    }
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

/// webpki's errors in plain words.
pub fn webpki_words(error: &webpki::Error) -> String {
    use webpki::Error::*;
    match error {
        UnknownIssuer => "the chain does not lead to a trusted certificate".to_owned(),
        CertExpired { .. } => "a certificate in the chain has expired".to_owned(),
        CertNotValidYet { .. } => "a certificate in the chain is not valid yet".to_owned(),
        RequiredEkuNotFoundContext(_) => {
            "the certificate's extended key usage does not allow server authentication".to_owned()
        }
        CaUsedAsEndEntity => "the server presents a CA certificate as its own".to_owned(),
        EndEntityUsedAsCa => "a certificate that is not a CA issued another".to_owned(),
        UnsupportedSignatureAlgorithmContext(_) => {
            "a certificate is signed with an algorithm verifiers no longer accept (such as MD5 or SHA-1)".to_owned()
        }
        UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "a certificate's signature algorithm does not fit its issuer's key".to_owned()
        }
        InvalidSignatureForPublicKey => "a signature in the chain does not verify".to_owned(),
        other => format!("the chain is invalid ({other:?})"),
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
        assert_eq!(
            verdict.strict_error.as_deref(),
            Some("a certificate in the chain has expired")
        );
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
