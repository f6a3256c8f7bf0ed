//! Does an issuer's key verify a certificate's signature? aws-lc-rs does the
//! arithmetic; this module only maps the certificate's algorithm (and the
//! issuer's key) to the aws-lc-rs verifier. Legacy algorithms and RSA keys
//! of 1024 bits are verified too: whether they are acceptable is judged by
//! tls.cert.signature and tls.cert.key, and trust must stay decidable.

use aws_lc_rs::signature::{self, VerificationAlgorithm};
use x509_parser::prelude::X509Certificate;
use x509_parser::signature_algorithm::RsaSsaPssParams;

/// The outcome of checking one certificate's signature with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    Verified,
    /// The signature does not verify with this key.
    Invalid,
    /// This tool cannot verify the algorithm (named by its OID).
    Unsupported {
        algorithm: String,
    },
}

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";
const P521: &str = "1.3.132.0.35";

fn ecdsa(curve: &str, hash_bits: u16) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match (curve, hash_bits) {
        (P256, 256) => &signature::ECDSA_P256_SHA256_ASN1,
        (P256, 384) => &signature::ECDSA_P256_SHA384_ASN1,
        (P384, 256) => &signature::ECDSA_P384_SHA256_ASN1,
        (P384, 384) => &signature::ECDSA_P384_SHA384_ASN1,
        (P521, 512) => &signature::ECDSA_P521_SHA512_ASN1,
        _ => return None,
    })
}

fn rsa_pss(cert: &X509Certificate<'_>) -> Option<&'static dyn VerificationAlgorithm> {
    let params = cert.signature_algorithm.parameters.as_ref()?;
    let params = RsaSsaPssParams::try_from(params).ok()?;
    Some(match params.hash_algorithm_oid().to_id_string().as_str() {
        "2.16.840.1.101.3.4.2.1" => &signature::RSA_PSS_2048_8192_SHA256,
        "2.16.840.1.101.3.4.2.2" => &signature::RSA_PSS_2048_8192_SHA384,
        "2.16.840.1.101.3.4.2.3" => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn verifier(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
) -> Option<&'static dyn VerificationAlgorithm> {
    let key = &issuer.public_key().algorithm;
    let key_algorithm = key.algorithm.to_id_string();
    let curve = key
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|oid| oid.to_id_string())
        .unwrap_or_default();
    let rsa = key_algorithm == RSA_ENCRYPTION;
    let ec = key_algorithm == EC_PUBLIC_KEY;
    Some(
        match cert.signature_algorithm.algorithm.to_id_string().as_str() {
            "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" if rsa => {
                &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
            }
            "1.2.840.113549.1.1.11" if rsa => {
                &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
            }
            "1.2.840.113549.1.1.12" if rsa => &signature::RSA_PKCS1_2048_8192_SHA384,
            "1.2.840.113549.1.1.13" if rsa => {
                &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
            }
            "1.2.840.113549.1.1.10" if rsa => rsa_pss(cert)?,
            "1.2.840.10045.4.3.2" if ec => ecdsa(&curve, 256)?,
            "1.2.840.10045.4.3.3" if ec => ecdsa(&curve, 384)?,
            "1.2.840.10045.4.3.4" if ec => ecdsa(&curve, 512)?,
            "1.3.101.112" if key_algorithm == "1.3.101.112" => &signature::ED25519,
            _ => return None,
        },
    )
}

/// Whether `issuer`'s public key verifies `cert`'s signature.
pub fn check(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> SignatureCheck {
    let Some(algorithm) = verifier(cert, issuer) else {
        return SignatureCheck::Unsupported {
            algorithm: cert.signature_algorithm.algorithm.to_id_string(),
        };
    };
    let key = signature::UnparsedPublicKey::new(
        algorithm,
        issuer.public_key().subject_public_key.data.as_ref(),
    );
    match key.verify(
        cert.tbs_certificate.as_ref(),
        cert.signature_value.data.as_ref(),
    ) {
        Ok(()) => SignatureCheck::Verified,
        Err(_) => SignatureCheck::Invalid,
    }
}
