//! A corpus of certificate chains, generated with rcgen at run time: the
//! usual right and wrong certificates, and every case issue 13 observed
//! (cross-signed roots, an expired trusted root, CA key rollover, name
//! constraints, long chains, an empty subject, RFC 5280 profile breaches).
//! Each case is a chain as a server sends it, the trusted certificates (the
//! CA file) and the name the application connects with. SHA-1 and RSA-1024
//! certificates, which rcgen cannot make, come from the emulator's
//! personalities (leaves) and from the `openssl` command (roots). Shared by tests/it/certificates.rs and
//! benches/cert_judging.rs.

use std::time::Duration;

use mssql_emulator::CertificatePersonality;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints,
};
use time::OffsetDateTime;

pub const HOST: &str = "sql01.corp.example.com";

/// One chain to judge.
pub struct Case {
    pub name: &'static str,
    /// Certificates as the server sends them, leaf first (DER).
    pub chain: Vec<Vec<u8>>,
    /// The trusted certificates: the CA file (DER).
    pub anchors: Vec<Vec<u8>>,
    /// The name the application connects with.
    pub host: String,
    /// The leaf's key (PKCS#8), for serving the chain; `None` when the
    /// chain is an emulator personality, served by its scenario.
    pub key_pkcs8: Option<Vec<u8>>,
    /// The built-in scenario serving this chain, when `key_pkcs8` is `None`.
    pub scenario: Option<&'static str>,
}

const DAY: Duration = Duration::from_secs(86_400);

/// A CA: its parameters (to issue), key and certificate.
pub struct Ca {
    pub params: CertificateParams,
    pub key: KeyPair,
    pub der: Vec<u8>,
}

impl Ca {
    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    if !common_name.is_empty() {
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "mssql-preflight corpus");
    }
    dn
}

fn ca_params(common_name: &str) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - 365 * DAY;
    params.not_after = now + 5 * 365 * DAY;
    params.use_authority_key_identifier_extension = true;
    params
}

fn new_key() -> KeyPair {
    KeyPair::generate().expect("an ECDSA P-256 key")
}

/// A self-signed root, `tweak`ed.
pub fn new_root(common_name: &str, tweak: impl FnOnce(&mut CertificateParams)) -> Ca {
    root_with_key(common_name, new_key(), tweak)
}

fn root_with_key(
    common_name: &str,
    key: KeyPair,
    tweak: impl FnOnce(&mut CertificateParams),
) -> Ca {
    let mut params = ca_params(common_name);
    params.use_authority_key_identifier_extension = false;
    tweak(&mut params);
    let der = params.self_signed(&key).expect("root").der().to_vec();
    Ca { params, key, der }
}

/// A CA certificate issued by `parent`, `tweak`ed.
pub fn ca(parent: &Ca, common_name: &str, tweak: impl FnOnce(&mut CertificateParams)) -> Ca {
    ca_with_key(parent, common_name, new_key(), tweak)
}

fn ca_with_key(
    parent: &Ca,
    common_name: &str,
    key: KeyPair,
    tweak: impl FnOnce(&mut CertificateParams),
) -> Ca {
    let mut params = ca_params(common_name);
    tweak(&mut params);
    let der = params
        .signed_by(&key, &parent.issuer())
        .expect("CA certificate")
        .der()
        .to_vec();
    Ca { params, key, der }
}

/// A server certificate for `names` issued by `parent`, `tweak`ed: DER and
/// PKCS#8 key.
pub fn leaf(
    parent: &Ca,
    names: &[&str],
    tweak: impl FnOnce(&mut CertificateParams),
) -> (Vec<u8>, Vec<u8>) {
    let mut params = leaf_params(names);
    tweak(&mut params);
    let key = new_key();
    let der = params
        .signed_by(&key, &parent.issuer())
        .expect("leaf")
        .der()
        .to_vec();
    (der, key.serialize_der())
}

/// The usual server certificate for `names`: valid for a year, serverAuth.
fn leaf_params(names: &[&str]) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("leaf names");
    params.distinguished_name = name(names.first().copied().unwrap_or(HOST));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = now - DAY;
    params.not_after = now + 365 * DAY;
    params.use_authority_key_identifier_extension = true;
    params
}

/// A root rcgen cannot make (an RSA key of `bits`, its self-signature with
/// `digest`, e.g. `sha1`), made by the `openssl` command (Debian's, also the
/// reference verifier of the differential test), and the usual leaf for
/// HOST it issues with SHA-256 from rcgen's certificate request.
fn legacy_root_case(name: &'static str, bits: u32, digest: &str) -> Case {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = |name: &str| dir.path().join(name).display().to_string();
    let openssl = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs (apt package openssl)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        &format!("rsa:{bits}"),
        "-nodes",
        "-keyout",
        &file("root.key"),
        "-out",
        &file("root.pem"),
        "-subj",
        "/CN=Corpus Legacy Root/O=mssql-preflight corpus",
        "-days",
        "3650",
        &format!("-{digest}"),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&[
        "x509",
        "-in",
        &file("root.pem"),
        "-outform",
        "DER",
        "-out",
        &file("root.der"),
    ]);
    let key = new_key();
    // A request carries names and usages; openssl sets the dates and the
    // authority key identifier.
    let mut request = leaf_params(&[HOST]);
    let defaults = CertificateParams::default();
    (request.not_before, request.not_after) = (defaults.not_before, defaults.not_after);
    request.use_authority_key_identifier_extension = false;
    let request = request
        .serialize_request(&key)
        .expect("a certificate request")
        .pem()
        .expect("PEM");
    std::fs::write(file("leaf.csr"), request).expect("write the request");
    std::fs::write(file("leaf.ext"), "authorityKeyIdentifier=keyid\n").expect("write");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &file("leaf.csr"),
        "-CA",
        &file("root.pem"),
        "-CAkey",
        &file("root.key"),
        "-sha256",
        "-days",
        "365",
        "-copy_extensions",
        "copyall",
        "-extfile",
        &file("leaf.ext"),
        "-outform",
        "DER",
        "-out",
        &file("leaf.der"),
    ]);
    let read = |name: &str| std::fs::read(file(name)).expect("openssl wrote it");
    let root = read("root.der");
    case(
        name,
        vec![read("leaf.der")],
        &[&root],
        key.serialize_der(),
        HOST,
    )
}

/// An extension given as DER content, critical or not.
fn extension(oid: &[u64], content: Vec<u8>, critical: bool) -> CustomExtension {
    let mut extension = CustomExtension::from_oid_content(oid, content);
    extension.set_criticality(critical);
    extension
}

fn der_length(content: &[u8]) -> Vec<u8> {
    match content.len() {
        n if n < 0x80 => vec![n as u8],
        n if n < 0x100 => vec![0x81, n as u8],
        n => vec![0x82, (n >> 8) as u8, n as u8],
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_length(content));
    out.extend_from_slice(content);
    out
}

const BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const SUBJECT_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 14];
const AUTHORITY_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 35];

/// basicConstraints cA=TRUE written by hand, to choose its criticality.
fn ca_constraint(critical: bool) -> CustomExtension {
    extension(BASIC_CONSTRAINTS, tlv(0x30, &[0x01, 0x01, 0xFF]), critical)
}

/// A key identifier for `key`: SHA-256 of its public key, truncated.
fn key_id(key: &KeyPair) -> Vec<u8> {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.public_key_raw());
    digest.as_ref()[..20].to_vec()
}

/// The subject key identifier a certificate carries.
fn subject_key_id(der: &[u8]) -> Vec<u8> {
    use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).expect("a certificate");
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
        .expect("a subject key identifier")
}

fn chain(certificates: &[&[u8]]) -> Vec<Vec<u8>> {
    certificates.iter().map(|c| c.to_vec()).collect()
}

fn case(
    name: &'static str,
    chain: Vec<Vec<u8>>,
    anchors: &[&[u8]],
    key: Vec<u8>,
    host: &str,
) -> Case {
    Case {
        name,
        chain,
        anchors: anchors.iter().map(|a| a.to_vec()).collect(),
        host: host.to_owned(),
        key_pkcs8: Some(key),
        scenario: None,
    }
}

fn personality(
    name: &'static str,
    scenario: &'static str,
    personality: CertificatePersonality,
) -> Case {
    // The names of the built-in scenarios' certificates (fixtures/scenarios).
    let names: Vec<String> = vec![HOST.into(), "localhost".into(), "127.0.0.1".into()];
    let (chain, root_pem) =
        mssql_emulator::personality_chain(personality, &names).expect("personality chain");
    Case {
        name,
        chain,
        anchors: vec![pem::parse(root_pem).expect("root PEM").into_contents()],
        host: HOST.to_owned(),
        key_pkcs8: None,
        scenario: Some(scenario),
    }
}

/// A root, an issuing CA and a leaf for `HOST`: the usual shape.
fn simple(name: &'static str, tweak_leaf: impl FnOnce(&mut CertificateParams), host: &str) -> Case {
    let root = new_root("Corpus Root CA", |_| {});
    let issuing = ca(&root, "Corpus Issuing CA", |_| {});
    let (leaf, key) = leaf(&issuing, &[HOST], tweak_leaf);
    case(name, chain(&[&leaf, &issuing.der]), &[&root.der], key, host)
}

/// A root and `depth` intermediates, each issuing the next, and a leaf.
pub fn long_chain(name: &'static str, depth: usize) -> Case {
    let root = new_root("Corpus Root CA", |_| {});
    let mut cas = vec![ca(&root, "Corpus CA 1", |_| {})];
    for level in 2..=depth {
        let next = ca(
            cas.last().expect("a CA"),
            &format!("Corpus CA {level}"),
            |_| {},
        );
        cas.push(next);
    }
    let (leaf_der, key) = leaf(cas.last().expect("a CA"), &[HOST], |_| {});
    let mut sent = vec![leaf_der];
    sent.extend(cas.iter().rev().map(|c| c.der.clone()));
    case(name, sent, &[&root.der], key, HOST)
}

/// Every case, generated afresh (keys and dates relative to now).
pub fn corpus() -> Vec<Case> {
    let now = OffsetDateTime::now_utc();
    let mut cases = vec![
        simple("valid", |_| {}, HOST),
        simple(
            "expired",
            |p| (p.not_before, p.not_after) = (now - 400 * DAY, now - 30 * DAY),
            HOST,
        ),
        simple(
            "not-yet-valid",
            |p| (p.not_before, p.not_after) = (now + 30 * DAY, now + 400 * DAY),
            HOST,
        ),
        simple("wrong-name", |_| {}, "sql02.corp.example.com"),
        simple(
            "wrong-eku",
            |p| p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth],
            HOST,
        ),
        simple(
            "leaf-without-aki",
            |p| p.use_authority_key_identifier_extension = false,
            HOST,
        ),
        simple(
            "keycertsign-on-leaf",
            |p| {
                p.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyCertSign,
                ]
            },
            HOST,
        ),
        simple(
            "underscore-in-dns-san",
            |p| {
                p.subject_alt_names.push(rcgen::SanType::DnsName(
                    "sql_01.corp.example.com".try_into().expect("a DNS name"),
                ))
            },
            HOST,
        ),
        simple(
            "cn-not-among-sans",
            |p| p.distinguished_name = name("sql01"),
            HOST,
        ),
        simple("cn-only", |p| p.subject_alt_names.clear(), HOST),
        personality(
            "sha1-leaf",
            "sha1-signature",
            CertificatePersonality::Sha1Signature,
        ),
        personality("rsa-1024-leaf", "rsa-1024", CertificatePersonality::Rsa1024),
        legacy_root_case("rsa-1024-root", 1024, "sha256"),
        legacy_root_case("sha1-self-signed-root", 2048, "sha1"),
    ];

    // Wildcards and IP addresses.
    {
        let root = new_root("Corpus Root CA", |_| {});
        let issuing = ca(&root, "Corpus Issuing CA", |_| {});
        let (wild, key) = leaf(&issuing, &["*.corp.example.com"], |_| {});
        cases.push(case(
            "wildcard",
            chain(&[&wild, &issuing.der]),
            &[&root.der],
            key.clone(),
            HOST,
        ));
        cases.push(case(
            "wildcard-two-labels",
            chain(&[&wild, &issuing.der]),
            &[&root.der],
            key,
            "a.sql01.corp.example.com",
        ));
        let (ip, key) = leaf(&issuing, &[HOST, "127.0.0.1"], |_| {});
        cases.push(case(
            "ip-san",
            chain(&[&ip, &issuing.der]),
            &[&root.der],
            key.clone(),
            "127.0.0.1",
        ));
        cases.push(case(
            "ip-not-in-san",
            chain(&[&ip, &issuing.der]),
            &[&root.der],
            key,
            "127.0.0.2",
        ));
    }

    // Trust: missing intermediate, untrusted root, self-signed, same name
    // and another key, the root sent too, an unrelated extra.
    {
        let root = new_root("Corpus Root CA", |_| {});
        let issuing = ca(&root, "Corpus Issuing CA", |_| {});
        let (leaf_der, key) = leaf(&issuing, &[HOST], |_| {});
        let other = new_root("Other Root CA", |_| {});
        let twin = new_root("Corpus Root CA", |_| {});
        let stray = ca(&other, "Stray CA", |_| {});
        cases.push(case(
            "missing-intermediate",
            chain(&[&leaf_der]),
            &[&root.der],
            key.clone(),
            HOST,
        ));
        cases.push(case(
            "untrusted-root",
            chain(&[&leaf_der, &issuing.der]),
            &[&other.der],
            key.clone(),
            HOST,
        ));
        cases.push(case(
            "same-name-other-key",
            chain(&[&leaf_der, &issuing.der]),
            &[&twin.der],
            key.clone(),
            HOST,
        ));
        cases.push(case(
            "root-sent-too",
            chain(&[&leaf_der, &issuing.der, &root.der]),
            &[&root.der],
            key.clone(),
            HOST,
        ));
        cases.push(case(
            "unrelated-extra",
            chain(&[&leaf_der, &issuing.der, &stray.der]),
            &[&root.der],
            key,
            HOST,
        ));
        let mut params = CertificateParams::new(vec![HOST.to_owned()]).expect("names");
        params.distinguished_name = name(HOST);
        let self_key = new_key();
        let self_signed = params
            .self_signed(&self_key)
            .expect("self-signed")
            .der()
            .to_vec();
        cases.push(case(
            "self-signed",
            chain(&[&self_signed]),
            &[&root.der],
            self_key.serialize_der(),
            HOST,
        ));
        cases.push(case(
            "self-signed-pinned",
            chain(&[&self_signed]),
            &[&self_signed],
            self_key.serialize_der(),
            HOST,
        ));
    }

    // Expired intermediate; expired, not yet valid root in the CA file.
    {
        let root = new_root("Corpus Root CA", |_| {});
        let old = ca(&root, "Corpus Issuing CA", |p| {
            (p.not_before, p.not_after) = (now - 900 * DAY, now - 2 * DAY)
        });
        let (leaf_der, key) = leaf(&old, &[HOST], |_| {});
        cases.push(case(
            "expired-intermediate",
            chain(&[&leaf_der, &old.der]),
            &[&root.der],
            key,
            HOST,
        ));
        let expired_root = new_root("Corpus Root CA", |p| {
            (p.not_before, p.not_after) = (now - 3650 * DAY, now - 10 * DAY)
        });
        let issuing = ca(&expired_root, "Corpus Issuing CA", |_| {});
        let (leaf_der, key) = leaf(&issuing, &[HOST], |_| {});
        cases.push(case(
            "expired-root-in-ca-file",
            chain(&[&leaf_der, &issuing.der]),
            &[&expired_root.der],
            key,
            HOST,
        ));
        let future_root = new_root("Corpus Root CA", |p| {
            (p.not_before, p.not_after) = (now + 10 * DAY, now + 3650 * DAY)
        });
        let issuing = ca(&future_root, "Corpus Issuing CA", |_| {});
        let (leaf_der, key) = leaf(&issuing, &[HOST], |_| {});
        cases.push(case(
            "future-root-in-ca-file",
            chain(&[&leaf_der, &issuing.der]),
            &[&future_root.der],
            key,
            HOST,
        ));
    }

    // Cross-signed roots: the new root is also certified by an old one.
    {
        let old_root = new_root("Corpus Old Root", |_| {});
        let cross_key = new_key();
        let new_root_params = {
            let mut p = ca_params("Corpus New Root");
            p.use_authority_key_identifier_extension = false;
            p
        };
        let new_root_der = new_root_params
            .self_signed(&cross_key)
            .expect("new root")
            .der()
            .to_vec();
        let cross = |tweak: &dyn Fn(&mut CertificateParams)| {
            let mut p = ca_params("Corpus New Root");
            tweak(&mut p);
            p.signed_by(&cross_key, &old_root.issuer())
                .expect("cross")
                .der()
                .to_vec()
        };
        let cross_expired = cross(&|p| {
            (p.not_before, p.not_after) = (
                OffsetDateTime::from_unix_timestamp(473_385_600).expect("1985"),
                OffsetDateTime::from_unix_timestamp(567_993_600).expect("1988"),
            )
        });
        let cross_valid = cross(&|_| {});
        let new_ca = Ca {
            params: new_root_params,
            key: cross_key,
            der: new_root_der.clone(),
        };
        let issuing = ca(&new_ca, "Corpus Issuing CA", |_| {});
        let (leaf_der, key) = leaf(&issuing, &[HOST], |_| {});
        cases.push(case(
            "cross-signed-expired-extra",
            chain(&[&leaf_der, &issuing.der, &cross_expired]),
            &[&new_root_der],
            key.clone(),
            HOST,
        ));
        cases.push(case(
            "cross-signed-both-valid",
            chain(&[&leaf_der, &issuing.der, &cross_valid]),
            &[&new_root_der, &old_root.der],
            key.clone(),
            HOST,
        ));
        cases.push(case(
            "cross-signed-old-root-trusted",
            chain(&[&leaf_der, &issuing.der, &cross_valid]),
            &[&old_root.der],
            key.clone(),
            HOST,
        ));
        cases.push(case(
            "cross-signed-only-expired-path",
            chain(&[&leaf_der, &issuing.der, &cross_expired]),
            &[&old_root.der],
            key,
            HOST,
        ));
    }

    // A CA key rollover: the old root certifies the new key under the same
    // name (a self-issued intermediate), which issued the issuing CA.
    for (case_name, constraints) in [
        ("self-issued-intermediate", None),
        (
            "name-constraints-self-issued",
            Some(NameConstraints {
                permitted_subtrees: vec![GeneralSubtree::DnsName("corp.example.com".into())],
                excluded_subtrees: Vec::new(),
            }),
        ),
    ] {
        let old_root = new_root("Corpus Rollover Root", |p| {
            p.name_constraints = constraints.clone()
        });
        let rollover_key = new_key();
        let new_with_old = ca_with_key(&old_root, "Corpus Rollover Root", rollover_key, |p| {
            p.name_constraints = constraints.clone()
        });
        let issuing = ca(&new_with_old, "Corpus Issuing CA", |_| {});
        let (leaf_der, key) = leaf(&issuing, &[HOST], |_| {});
        cases.push(case(
            case_name,
            chain(&[&leaf_der, &issuing.der, &new_with_old.der]),
            &[&old_root.der],
            key,
            HOST,
        ));
    }

    // Name constraints on an intermediate and on the root.
    {
        let constrained = |permitted: &[&str], excluded: &[&str]| NameConstraints {
            permitted_subtrees: permitted
                .iter()
                .map(|d| GeneralSubtree::DnsName((*d).into()))
                .collect(),
            excluded_subtrees: excluded
                .iter()
                .map(|d| GeneralSubtree::DnsName((*d).into()))
                .collect(),
        };
        let root = new_root("Corpus Root CA", |_| {});
        for (case_name, nc) in [
            (
                "name-constraints-permitted",
                constrained(&["corp.example.com"], &[]),
            ),
            (
                "name-constraints-not-permitted",
                constrained(&["other.example.com"], &[]),
            ),
            (
                "name-constraints-excluded",
                constrained(&[], &["corp.example.com"]),
            ),
        ] {
            let issuing = ca(&root, "Corpus Issuing CA", |p| {
                p.name_constraints = Some(nc)
            });
            let (leaf_der, key) = leaf(&issuing, &[HOST], |_| {});
            cases.push(case(
                case_name,
                chain(&[&leaf_der, &issuing.der]),
                &[&root.der],
                key,
                HOST,
            ));
        }
        let constrained_root = new_root("Corpus Constrained Root", |p| {
            p.name_constraints = Some(constrained(&[], &["corp.example.com"]))
        });
        let issuing = ca(&constrained_root, "Corpus Issuing CA", |_| {});
        let (leaf_der, key) = leaf(&issuing, &[HOST], |_| {});
        cases.push(case(
            "root-name-constraints-excluded",
            chain(&[&leaf_der, &issuing.der]),
            &[&constrained_root.der],
            key,
            HOST,
        ));
    }

    // Long chains: 7, 8 and 11 intermediates under the root.
    for (case_name, depth) in [
        ("long-chain-7", 7),
        ("long-chain-8", 8),
        ("long-chain-11", 11),
    ] {
        cases.push(long_chain(case_name, depth));
    }

    // CA constraints: path length, an issuer that is no CA, a CA's usage.
    {
        let root = new_root("Corpus Root CA", |_| {});
        let capped = ca(&root, "Corpus Capped CA", |p| {
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0))
        });
        let below = ca(&capped, "Corpus Issuing CA", |_| {});
        let (leaf_der, key) = leaf(&below, &[HOST], |_| {});
        cases.push(case(
            "path-length-exceeded",
            chain(&[&leaf_der, &below.der, &capped.der]),
            &[&root.der],
            key,
            HOST,
        ));
        let not_ca = ca(&root, "Corpus Not A CA", |p| {
            p.is_ca = IsCa::ExplicitNoCa;
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        });
        let (leaf_der, key) = leaf(&not_ca, &[HOST], |_| {});
        cases.push(case(
            "issuer-not-ca",
            chain(&[&leaf_der, &not_ca.der]),
            &[&root.der],
            key,
            HOST,
        ));
        let client_ca = ca(&root, "Corpus Client CA", |p| {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth]
        });
        let (leaf_der, key) = leaf(&client_ca, &[HOST], |_| {});
        cases.push(case(
            "intermediate-eku-client-only",
            chain(&[&leaf_der, &client_ca.der]),
            &[&root.der],
            key,
            HOST,
        ));
    }

    // Profile breaches on CA certificates (RFC 5280 §4.2.1.x).
    {
        let root = new_root("Corpus Root CA", |_| {});
        let no_ski = ca(&root, "Corpus Issuing CA", |p| {
            p.is_ca = IsCa::NoCa;
            p.custom_extensions.push(ca_constraint(true));
        });
        let (leaf_der, key) = leaf(&no_ski, &[HOST], |_| {});
        cases.push(case(
            "intermediate-without-ski",
            chain(&[&leaf_der, &no_ski.der]),
            &[&root.der],
            key,
            HOST,
        ));

        let ski_key = new_key();
        let id = key_id(&ski_key);
        let critical_ski = ca_with_key(&root, "Corpus Issuing CA", ski_key, |p| {
            p.is_ca = IsCa::NoCa;
            p.custom_extensions.push(ca_constraint(true));
            p.custom_extensions
                .push(extension(SUBJECT_KEY_IDENTIFIER, tlv(0x04, &id), true));
            p.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(id.clone());
        });
        let (leaf_der, key) = leaf(&critical_ski, &[HOST], |_| {});
        cases.push(case(
            "critical-ski",
            chain(&[&leaf_der, &critical_ski.der]),
            &[&root.der],
            key,
            HOST,
        ));

        let issuing = ca(&root, "Corpus Issuing CA", |_| {});
        let issuing_id = subject_key_id(&issuing.der);
        let (leaf_der, key) = leaf(&issuing, &[HOST], |p| {
            p.use_authority_key_identifier_extension = false;
            p.custom_extensions.push(extension(
                AUTHORITY_KEY_IDENTIFIER,
                tlv(0x30, &tlv(0x80, &issuing_id)),
                true,
            ));
        });
        cases.push(case(
            "critical-aki",
            chain(&[&leaf_der, &issuing.der]),
            &[&root.der],
            key,
            HOST,
        ));

        for (case_name, constraint) in [
            ("root-without-basic-constraints", None),
            (
                "root-basic-constraints-not-critical",
                Some(ca_constraint(false)),
            ),
            (
                "root-unknown-critical-extension",
                Some(extension(
                    &[1, 3, 6, 1, 4, 1, 55555, 1],
                    vec![0x05, 0x00],
                    true,
                )),
            ),
        ] {
            let odd_root = new_root("Corpus Odd Root", |p| {
                p.is_ca = IsCa::NoCa;
                match constraint {
                    Some(ext) if ext.criticality() && case_name.contains("unknown") => {
                        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                        p.custom_extensions.push(ext);
                    }
                    Some(ext) => p.custom_extensions.push(ext),
                    None => {}
                }
            });
            let issuing = ca(&odd_root, "Corpus Issuing CA", |_| {});
            let (leaf_der, key) = leaf(&issuing, &[HOST], |_| {});
            cases.push(case(
                case_name,
                chain(&[&leaf_der, &issuing.der]),
                &[&odd_root.der],
                key,
                HOST,
            ));
        }

        let anonymous = new_root("", |_| {});
        let issuing = ca(&anonymous, "Corpus Issuing CA", |_| {});
        let (leaf_der, key) = leaf(&issuing, &[HOST], |_| {});
        cases.push(case(
            "root-with-empty-subject",
            chain(&[&leaf_der, &issuing.der]),
            &[&anonymous.der],
            key,
            HOST,
        ));
    }
    cases
}

/// PEM of DER certificates, in order.
pub fn pem_of(certificates: &[Vec<u8>]) -> String {
    certificates
        .iter()
        .map(|der| pem::encode(&pem::Pem::new("CERTIFICATE", der.clone())))
        .collect()
}
