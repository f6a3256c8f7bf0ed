//! One certificate decoded into what an administrator reads and what the
//! checks judge: names, validity, key, signature algorithm, usages and the
//! SHA-256 fingerprint.

use std::net::IpAddr;

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};
use x509_parser::public_key::PublicKey;

/// The subject SQL Server gives the certificate it generates for itself
/// when none is configured.
pub const FALLBACK_COMMON_NAME: &str = "SSL_Self_Signed_Fallback";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum KeyKind {
    Rsa { bits: usize },
    Ec { curve: String, bits: usize },
    Ed25519,
    Ed448,
    Dsa { bits: usize },
    Other { oid: String },
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyKind::Rsa { bits } => write!(f, "RSA {bits} bits"),
            KeyKind::Ec { curve, bits } => write!(f, "EC {curve} ({bits} bits)"),
            KeyKind::Ed25519 => f.write_str("Ed25519"),
            KeyKind::Ed448 => f.write_str("Ed448"),
            KeyKind::Dsa { bits } => write!(f, "DSA {bits} bits"),
            KeyKind::Other { oid } => write!(f, "key algorithm {oid}"),
        }
    }
}

/// The hash a signature algorithm uses, where it names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SignatureHash {
    Md2,
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    /// The algorithm hashes internally (Ed25519) or states its hash in
    /// parameters (RSASSA-PSS).
    Intrinsic,
    Unknown,
}

impl SignatureHash {
    /// Broken for signatures: collisions can be computed.
    pub fn is_broken(self) -> bool {
        matches!(
            self,
            SignatureHash::Md2 | SignatureHash::Md5 | SignatureHash::Sha1
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureAlgorithm {
    pub name: String,
    pub oid: String,
    pub hash: SignatureHash,
}

fn signature_algorithm(oid: &str) -> SignatureAlgorithm {
    use SignatureHash::*;
    let (name, hash) = match oid {
        "1.2.840.113549.1.1.2" => ("md2WithRSAEncryption", Md2),
        "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption", Md5),
        "1.2.840.113549.1.1.5" => ("sha1WithRSAEncryption", Sha1),
        "1.2.840.113549.1.1.14" => ("sha224WithRSAEncryption", Sha224),
        "1.2.840.113549.1.1.11" => ("sha256WithRSAEncryption", Sha256),
        "1.2.840.113549.1.1.12" => ("sha384WithRSAEncryption", Sha384),
        "1.2.840.113549.1.1.13" => ("sha512WithRSAEncryption", Sha512),
        "1.2.840.113549.1.1.10" => ("RSASSA-PSS", Intrinsic),
        "1.2.840.10045.4.1" => ("ecdsa-with-SHA1", Sha1),
        "1.2.840.10045.4.3.1" => ("ecdsa-with-SHA224", Sha224),
        "1.2.840.10045.4.3.2" => ("ecdsa-with-SHA256", Sha256),
        "1.2.840.10045.4.3.3" => ("ecdsa-with-SHA384", Sha384),
        "1.2.840.10045.4.3.4" => ("ecdsa-with-SHA512", Sha512),
        "1.2.840.10040.4.3" => ("dsa-with-SHA1", Sha1),
        "2.16.840.1.101.3.4.3.2" => ("dsa-with-SHA256", Sha256),
        "1.3.101.112" => ("Ed25519", Intrinsic),
        "1.3.101.113" => ("Ed448", Intrinsic),
        _ => ("unknown", Unknown),
    };
    SignatureAlgorithm {
        name: name.to_owned(),
        oid: oid.to_owned(),
        hash,
    }
}

/// Everything the checks and the support bundle need about one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    pub common_names: Vec<String>,
    /// Colon-separated hex, as certificate viewers show it.
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    /// True when the certificate has a subjectAltName extension at all.
    pub has_san_extension: bool,
    pub key: KeyKind,
    pub signature: SignatureAlgorithm,
    /// Colon-separated upper-case hex of SHA-256 over the DER.
    pub sha256_fingerprint: String,
    /// Subject and issuer are the same name.
    pub self_issued: bool,
    pub is_ca: bool,
    /// `None` when the extension is absent (any use allowed).
    pub extended_key_usage: Option<Vec<String>>,
    /// `None` when the extension is absent (any use allowed).
    pub key_usage: Option<Vec<String>>,
    #[serde(skip)]
    pub(crate) raw_subject: Vec<u8>,
    #[serde(skip)]
    pub(crate) raw_issuer: Vec<u8>,
}

pub fn sha256_fingerprint(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    colon_hex(digest.as_ref())
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Bits in a big-endian unsigned integer, leading zero bytes ignored.
fn integer_bits(bytes: &[u8]) -> usize {
    let trimmed: &[u8] = match bytes.iter().position(|b| *b != 0) {
        Some(start) => &bytes[start..],
        None => return 0,
    };
    (trimmed.len() - 1) * 8 + (8 - trimmed[0].leading_zeros() as usize)
}

fn curve_name(oid: &str) -> String {
    match oid {
        "1.2.840.10045.3.1.7" => "P-256".to_owned(),
        "1.3.132.0.34" => "P-384".to_owned(),
        "1.3.132.0.35" => "P-521".to_owned(),
        "1.3.132.0.10" => "secp256k1".to_owned(),
        "1.2.840.10045.3.1.1" => "P-192".to_owned(),
        "1.3.132.0.33" => "P-224".to_owned(),
        other => other.to_owned(),
    }
}

impl CertificateInfo {
    pub fn parse(der: &[u8]) -> Result<CertificateInfo, String> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| format!("the certificate does not parse: {e}"))?;
        let tbs = &cert.tbs_certificate;
        let mut dns_names = Vec::new();
        let mut ip_addresses = Vec::new();
        let mut has_san_extension = false;
        let mut extended_key_usage = None;
        let mut key_usage = None;
        let mut is_ca = false;
        for extension in cert.extensions() {
            match extension.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    has_san_extension = true;
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(dns) => dns_names.push((*dns).to_owned()),
                            GeneralName::IPAddress(bytes) => {
                                if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                                    ip_addresses.push(IpAddr::from(v4));
                                } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                                    ip_addresses.push(IpAddr::from(v6));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let mut uses = Vec::new();
                    for (present, name) in [
                        (eku.any, "anyExtendedKeyUsage"),
                        (eku.server_auth, "serverAuth"),
                        (eku.client_auth, "clientAuth"),
                        (eku.code_signing, "codeSigning"),
                        (eku.email_protection, "emailProtection"),
                        (eku.time_stamping, "timeStamping"),
                        (eku.ocsp_signing, "OCSPSigning"),
                    ] {
                        if present {
                            uses.push(name.to_owned());
                        }
                    }
                    uses.extend(eku.other.iter().map(|oid| oid.to_id_string()));
                    extended_key_usage = Some(uses);
                }
                ParsedExtension::KeyUsage(usage) => {
                    let mut uses = Vec::new();
                    for (present, name) in [
                        (usage.digital_signature(), "digitalSignature"),
                        (usage.non_repudiation(), "nonRepudiation"),
                        (usage.key_encipherment(), "keyEncipherment"),
                        (usage.data_encipherment(), "dataEncipherment"),
                        (usage.key_agreement(), "keyAgreement"),
                        (usage.key_cert_sign(), "keyCertSign"),
                        (usage.crl_sign(), "cRLSign"),
                        (usage.encipher_only(), "encipherOnly"),
                        (usage.decipher_only(), "decipherOnly"),
                    ] {
                        if present {
                            uses.push(name.to_owned());
                        }
                    }
                    key_usage = Some(uses);
                }
                ParsedExtension::BasicConstraints(constraints) => is_ca = constraints.ca,
                _ => {}
            }
        }
        let spki = cert.public_key();
        let key_oid = spki.algorithm.algorithm.to_id_string();
        let key = match (key_oid.as_str(), spki.parsed()) {
            (_, Ok(PublicKey::RSA(rsa))) => KeyKind::Rsa {
                bits: integer_bits(rsa.modulus),
            },
            (_, Ok(PublicKey::EC(point))) => KeyKind::Ec {
                curve: spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|oid| curve_name(&oid.to_id_string()))
                    .unwrap_or_else(|| "unnamed curve".to_owned()),
                bits: point.key_size(),
            },
            (_, Ok(PublicKey::DSA(y))) => KeyKind::Dsa {
                bits: integer_bits(y),
            },
            ("1.3.101.112", _) => KeyKind::Ed25519,
            ("1.3.101.113", _) => KeyKind::Ed448,
            (oid, _) => KeyKind::Other {
                oid: oid.to_owned(),
            },
        };
        let common_names = tbs
            .subject
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect();
        let raw_subject = tbs.subject.as_raw().to_vec();
        let raw_issuer = tbs.issuer.as_raw().to_vec();
        Ok(CertificateInfo {
            subject: tbs.subject.to_string(),
            issuer: tbs.issuer.to_string(),
            common_names,
            serial: colon_hex(cert.raw_serial()),
            not_before: tbs.validity.not_before.to_datetime(),
            not_after: tbs.validity.not_after.to_datetime(),
            dns_names,
            ip_addresses,
            has_san_extension,
            key,
            signature: signature_algorithm(&cert.signature_algorithm.algorithm.to_id_string()),
            sha256_fingerprint: sha256_fingerprint(der),
            self_issued: raw_subject == raw_issuer,
            is_ca,
            extended_key_usage,
            key_usage,
            raw_subject,
            raw_issuer,
        })
    }

    /// SQL Server's auto-generated certificate: no certificate is configured.
    pub fn is_sql_server_fallback(&self) -> bool {
        self.self_issued
            && self
                .common_names
                .iter()
                .any(|cn| cn == FALLBACK_COMMON_NAME)
    }

    /// The subject alternative names as certificate viewers list them.
    pub fn san_list(&self) -> Vec<String> {
        self.dns_names
            .iter()
            .map(|d| format!("DNS:{d}"))
            .chain(self.ip_addresses.iter().map(|ip| format!("IP:{ip}")))
            .collect()
    }

    /// A plain-text description, one field a line.
    pub fn text(&self) -> String {
        let date = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| t.to_string())
        };
        let sans = self.san_list();
        let mut lines = vec![
            format!("Subject:             {}", self.subject),
            format!("Issuer:              {}", self.issuer),
            format!("Serial:              {}", self.serial),
            format!("Valid from:          {}", date(self.not_before)),
            format!("Valid until:         {}", date(self.not_after)),
            format!(
                "Alternative names:   {}",
                if sans.is_empty() {
                    "(none)".to_owned()
                } else {
                    sans.join(", ")
                }
            ),
            format!("Public key:          {}", self.key),
            format!("Signature algorithm: {}", self.signature.name),
            format!("SHA-256 fingerprint: {}", self.sha256_fingerprint),
        ];
        if let Some(eku) = &self.extended_key_usage {
            lines.push(format!("Extended key usage:  {}", eku.join(", ")));
        }
        if let Some(usage) = &self.key_usage {
            lines.push(format!("Key usage:           {}", usage.join(", ")));
        }
        if self.is_ca {
            lines.push("Certificate authority: yes".to_owned());
        }
        lines.join("\n")
    }
}

/// Certificates as PEM, in the order given.
pub fn to_pem(chain: &[impl AsRef<[u8]>]) -> String {
    chain
        .iter()
        .map(|der| pem::encode(&pem::Pem::new("CERTIFICATE", der.as_ref().to_vec())))
        .collect::<Vec<_>>()
        .join("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};

    #[test]
    fn fields_are_decoded() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(vec![
            "sql01.corp.example.com".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "sql01.corp.example.com");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.serial_number = Some(vec![0x01, 0x02, 0xAB].into());
        let cert = params.self_signed(&key).unwrap();
        let info = CertificateInfo::parse(cert.der()).unwrap();
        assert_eq!(info.common_names, vec!["sql01.corp.example.com"]);
        assert_eq!(info.dns_names, vec!["sql01.corp.example.com"]);
        assert_eq!(
            info.ip_addresses,
            vec!["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(info.serial, "01:02:AB");
        assert_eq!(
            info.key,
            KeyKind::Ec {
                curve: "P-256".to_owned(),
                bits: 256
            }
        );
        assert_eq!(info.signature.hash, SignatureHash::Sha256);
        assert_eq!(info.extended_key_usage, Some(vec!["serverAuth".to_owned()]));
        assert!(info.self_issued);
        assert!(!info.is_sql_server_fallback());
        assert_eq!(info.sha256_fingerprint.len(), 32 * 3 - 1);
        assert!(
            info.text()
                .contains("DNS:sql01.corp.example.com, IP:127.0.0.1")
        );
    }

    #[test]
    fn rsa_key_sizes_are_counted_without_the_sign_byte() {
        assert_eq!(integer_bits(&[0x00, 0x80, 0, 0]), 24);
        assert_eq!(integer_bits(&[0x01, 0, 0]), 17);
        assert_eq!(integer_bits(&[0, 0]), 0);
    }

    #[test]
    fn pem_round_trips() {
        let pem_text = to_pem(&[b"abc".as_slice(), b"def".as_slice()]);
        let parsed = pem::parse_many(&pem_text).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].contents(), b"def");
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A certificate description with the given names, for matcher tests.
    pub fn info_with(common_names: &[&str], dns_names: &[&str], ips: &[&str]) -> CertificateInfo {
        let owned = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        CertificateInfo {
            subject: String::new(),
            issuer: String::new(),
            common_names: owned(common_names),
            serial: String::new(),
            not_before: OffsetDateTime::UNIX_EPOCH,
            not_after: OffsetDateTime::UNIX_EPOCH,
            dns_names: owned(dns_names),
            ip_addresses: ips.iter().map(|ip| ip.parse().unwrap()).collect(),
            has_san_extension: !dns_names.is_empty() || !ips.is_empty(),
            key: KeyKind::Ed25519,
            signature: signature_algorithm("1.3.101.112"),
            sha256_fingerprint: String::new(),
            self_issued: false,
            is_ca: false,
            extended_key_usage: None,
            key_usage: None,
            raw_subject: Vec::new(),
            raw_issuer: Vec::new(),
        }
    }
}
