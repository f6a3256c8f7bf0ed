//! Judging a certificate chain apart from the handshake that brought it:
//! decoding (x509-parser), the RFC 6125 name match, and trust (webpki).

pub mod describe;
pub mod hostname;
pub mod trust;

pub use describe::{CertificateInfo, KeyKind, SignatureHash};
pub use hostname::NameMatch;
pub use trust::{ChainJudgement, ChainProblem, ChainVerdict, TrustStore};
