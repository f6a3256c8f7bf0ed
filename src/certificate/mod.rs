//! Judging a certificate chain apart from the handshake that brought it:
//! decoding (x509-parser), the RFC 6125 name match, path building and
//! validation (RFC 4158, RFC 5280 §6), and the RFC 5280 / CA/Browser Forum
//! profile lint.

pub mod describe;
pub(crate) mod hostname;
pub mod lint;
pub(crate) mod path;
pub(crate) mod signature;
pub mod stores;
pub mod trust;

pub use describe::{CertificateInfo, KeyKind, SignatureHash};
pub use hostname::NameMatch;
pub use stores::TrustStores;
pub use trust::{ChainJudgement, ChainProblem, ChainVerdict, TrustStore};
