//! Certification path building (RFC 4158) and validation (RFC 5280 §6.1),
//! as the big verifiers do it: from the server's certificate through every
//! certificate the server sent and every trusted certificate, trying each
//! issuer whose name matches and whose key verifies the signature, until a
//! path ends at a trusted certificate. Several paths may exist (cross-signed
//! roots, a CA key rollover); the one judged is the first that is valid now,
//! else the first that is valid at some moment, else the first found.
//!
//! Where verifiers differ, each fault says who refuses it: OpenSSL (ODBC,
//! FreeTDS, python-tds on Linux) and Java PKIX (PMP's JDBC driver) were
//! compared on the corpus of tests/it/certificates (docs/certificates.md).

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::signature::{self, SignatureCheck};

/// The longest path this tool judges, in certificates (leaf and anchor
/// included). OpenSSL accepts up to 100 by default; deeper chains are
/// reported as beyond this tool, never as the server's fault.
pub const MAX_PATH_CERTIFICATES: usize = 32;
/// OpenSSL's default verification depth (intermediates below the anchor).
pub const OPENSSL_MAX_DEPTH: usize = 100;
/// Signature verifications one search may spend: a bound against a server
/// that sends hundreds of certificates with the same name.
const MAX_SIGNATURE_CHECKS: usize = 512;
/// Complete paths evaluated before the best so far is taken.
const MAX_COMPLETE_PATHS: usize = 64;

/// One certificate that may lie on a path.
pub struct Node<'a> {
    pub der: &'a [u8],
    pub x509: X509Certificate<'a>,
    /// Its position in the presented chain, when the server sent it.
    pub presented: Option<usize>,
    /// Whether it is among the trusted certificates (a path ends here).
    pub trusted: bool,
}

impl Node<'_> {
    fn self_issued(&self) -> bool {
        self.x509.subject().as_raw() == self.x509.issuer().as_raw()
    }

    fn subject_key_id(&self) -> Option<&[u8]> {
        self.x509
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0),
                _ => None,
            })
    }

    fn authority_key_id(&self) -> Option<&[u8]> {
        self.x509
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    aki.key_identifier.as_ref().map(|k| k.0)
                }
                _ => None,
            })
    }

    fn valid_at(&self, at: OffsetDateTime) -> bool {
        let validity = self.x509.validity();
        validity.not_before.to_datetime() <= at && at <= validity.not_after.to_datetime()
    }
}

/// Names compared as RFC 5280 §7.1 asks, in the simple form verifiers use:
/// the same bytes, or the same attributes ignoring case.
fn same_name(a: &x509_parser::x509::X509Name<'_>, b: &x509_parser::x509::X509Name<'_>) -> bool {
    a.as_raw() == b.as_raw() || a.to_string().eq_ignore_ascii_case(&b.to_string())
}

/// A rule of RFC 5280 §6.1 that a path breaks, and who refuses it for that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum PathFault {
    /// Position 0 is the server's certificate; the last is the anchor.
    Expired {
        position: usize,
    },
    NotYetValid {
        position: usize,
    },
    /// An issuer that is not a CA (basicConstraints cA absent or false);
    /// `key_cert_sign` when its key usage allows certificate signing, which
    /// OpenSSL takes instead for a trust anchor.
    NotCa {
        position: usize,
        key_cert_sign: bool,
    },
    /// A certificate whose issuer name is empty (RFC 5280 §4.1.2.4 forbids
    /// it): Java refuses to parse it, OpenSSL accepts it.
    EmptyIssuer {
        position: usize,
    },
    /// An issuer whose key usage lacks keyCertSign.
    NoKeyCertSign {
        position: usize,
    },
    /// An issuer's pathLenConstraint allows fewer CAs below it than the path has.
    PathLength {
        position: usize,
        limit: u32,
    },
    /// A name of the certificate at `position` is outside the name
    /// constraints of the CA at `by`.
    NameConstraint {
        position: usize,
        by: usize,
        name: String,
    },
    /// A critical extension this verifier (and OpenSSL) does not process.
    CriticalExtension {
        position: usize,
        oid: String,
    },
    /// A CA's extended key usage excludes serverAuth (OpenSSL checks the
    /// usage of every CA on the path for `-purpose sslserver`).
    CaExtendedKeyUsage {
        position: usize,
    },
}

/// Whether each independent verifier refuses a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Refusers {
    /// OpenSSL: ODBC Driver 18 and FreeTDS on Linux, python-tds.
    pub openssl: bool,
    /// Java PKIX: PMP's JDBC driver, every Java application.
    pub java: bool,
}

impl PathFault {
    /// The certificate the broken rule belongs to: for a name constraint,
    /// the CA that set it (whose being the anchor decides who refuses).
    pub fn position(&self) -> usize {
        match self {
            PathFault::Expired { position }
            | PathFault::NotYetValid { position }
            | PathFault::NotCa { position, .. }
            | PathFault::EmptyIssuer { position }
            | PathFault::NoKeyCertSign { position }
            | PathFault::PathLength { position, .. }
            | PathFault::NameConstraint { by: position, .. }
            | PathFault::CriticalExtension { position, .. }
            | PathFault::CaExtendedKeyUsage { position } => *position,
        }
    }

    pub fn is_time(&self) -> bool {
        matches!(
            self,
            PathFault::Expired { .. } | PathFault::NotYetValid { .. }
        )
    }

    /// Java takes a trust anchor as a name and a key: its dates, its
    /// extensions and its name constraints are not checked (a PKIX
    /// TrustAnchor without nameConstraints), but it must be a CA. OpenSSL
    /// checks the anchor like any other certificate, takes keyCertSign for
    /// cA in an anchor, and checks the usage of every CA for
    /// `-purpose sslserver`. Each rule was seen on the corpus of
    /// tests/it/certificates.rs.
    pub fn refusers(&self, anchor: usize) -> Refusers {
        let on_anchor = self.position() == anchor;
        match self {
            PathFault::CaExtendedKeyUsage { .. } => Refusers {
                openssl: true,
                java: false,
            },
            PathFault::EmptyIssuer { .. } => Refusers {
                openssl: false,
                java: true,
            },
            PathFault::NotCa { key_cert_sign, .. } => Refusers {
                openssl: !(on_anchor && *key_cert_sign),
                java: true,
            },
            _ => Refusers {
                openssl: true,
                java: !on_anchor,
            },
        }
    }
}

/// How the search for a path ended.
#[derive(Debug)]
pub enum Search {
    /// A path to a trusted certificate: node indices, leaf first, anchor
    /// last, with the faults found on it now.
    Complete {
        path: Vec<usize>,
        faults: Vec<PathFault>,
    },
    /// No path reaches a trusted certificate. `path` is the longest chain
    /// of verified signatures from the leaf.
    Incomplete { path: Vec<usize>, stop: Stop },
}

/// Why no path reaches a trusted certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Nothing the server sent or the store holds is named as the issuer
    /// of the top certificate, or the top is self-signed and untrusted.
    NoIssuer,
    /// Certificates named as the issuer exist (`trusted` says whether one
    /// is trusted), but none of their keys verifies the signature.
    WrongKey { trusted: bool },
    /// This tool cannot verify a signature algorithm on the way.
    Unsupported { algorithm: String },
    /// The path would be longer than this tool judges.
    TooDeep,
    /// The search spent its budget of signature checks.
    TooManyCandidates,
}

struct Searcher<'n, 'a> {
    nodes: &'n [Node<'a>],
    at: OffsetDateTime,
    checks: usize,
    verified: std::collections::HashMap<(usize, usize), SignatureCheck>,
    complete: Vec<(Vec<usize>, Vec<PathFault>)>,
    longest: Vec<usize>,
    stop: Option<Stop>,
    wrong_key: Option<bool>,
}

impl Searcher<'_, '_> {
    /// Candidate issuers of `child`, best first (RFC 4158 §3): trusted
    /// certificates, then those whose key identifier matches, then those
    /// valid now, then in the order sent.
    fn issuers_of(&self, child: usize) -> Vec<usize> {
        let node = &self.nodes[child];
        let wanted_key = node.authority_key_id();
        let mut candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| i != child && same_name(self.nodes[i].x509.subject(), node.x509.issuer()))
            .collect();
        candidates.sort_by_key(|&i| {
            let issuer = &self.nodes[i];
            let key_mismatch = match (wanted_key, issuer.subject_key_id()) {
                (Some(a), Some(b)) => a != b,
                _ => false,
            };
            (
                !issuer.trusted,
                key_mismatch,
                !issuer.valid_at(self.at),
                issuer.presented.unwrap_or(usize::MAX),
            )
        });
        candidates
    }

    fn signature(&mut self, child: usize, issuer: usize) -> Option<SignatureCheck> {
        if let Some(known) = self.verified.get(&(child, issuer)) {
            return Some(known.clone());
        }
        if self.checks >= MAX_SIGNATURE_CHECKS {
            self.stop = Some(Stop::TooManyCandidates);
            return None;
        }
        self.checks += 1;
        let result = signature::check(&self.nodes[child].x509, &self.nodes[issuer].x509);
        self.verified.insert((child, issuer), result.clone());
        Some(result)
    }

    fn done(&self) -> bool {
        self.complete.len() >= MAX_COMPLETE_PATHS
            || self.complete.iter().any(|(_, faults)| faults.is_empty())
            || self.stop == Some(Stop::TooManyCandidates)
    }

    fn extend(&mut self, path: &mut Vec<usize>) {
        let top = *path.last().expect("a path starts at the leaf");
        if path.len() > self.longest.len() {
            self.longest = path.clone();
        }
        if self.nodes[top].trusted {
            let faults = validate(self.nodes, path, self.at);
            self.complete.push((path.clone(), faults));
            return;
        }
        for issuer in self.issuers_of(top) {
            if self.done() {
                return;
            }
            if path.contains(&issuer) {
                continue;
            }
            if path.len() >= MAX_PATH_CERTIFICATES {
                self.stop.get_or_insert(Stop::TooDeep);
                return;
            }
            match self.signature(top, issuer) {
                None => return,
                Some(SignatureCheck::Verified) => {
                    path.push(issuer);
                    self.extend(path);
                    path.pop();
                }
                Some(SignatureCheck::Invalid) => {
                    let trusted = self.nodes[issuer].trusted;
                    self.wrong_key = Some(self.wrong_key.unwrap_or(false) || trusted);
                }
                Some(SignatureCheck::Unsupported { algorithm }) => {
                    self.stop.get_or_insert(Stop::Unsupported { algorithm });
                }
            }
        }
    }
}

/// Rank of a complete path: valid now, valid but for dates, faulty.
fn rank(faults: &[PathFault]) -> u8 {
    if faults.is_empty() {
        0
    } else if faults.iter().all(PathFault::is_time) {
        1
    } else {
        2
    }
}

/// Builds paths from `nodes[0]` (the server's certificate) and returns the
/// best one, judged at `at`.
pub fn search(nodes: &[Node<'_>], at: OffsetDateTime) -> Search {
    let mut searcher = Searcher {
        nodes,
        at,
        checks: 0,
        verified: Default::default(),
        complete: Vec::new(),
        longest: Vec::new(),
        stop: None,
        wrong_key: None,
    };
    if !nodes.is_empty() {
        searcher.extend(&mut vec![0]);
    }
    if let Some((path, faults)) = searcher
        .complete
        .iter()
        .min_by_key(|(path, faults)| (rank(faults), path.len()))
        .cloned()
    {
        return Search::Complete { path, faults };
    }
    let stop = match (searcher.stop, searcher.wrong_key) {
        (Some(stop @ (Stop::TooDeep | Stop::TooManyCandidates)), _) => stop,
        (_, Some(trusted)) => Stop::WrongKey { trusted },
        (Some(stop), None) => stop,
        (None, None) => Stop::NoIssuer,
    };
    Search::Incomplete {
        path: searcher.longest,
        stop,
    }
}

/// Parses the presented chain and the trusted certificates into one pool;
/// a presented certificate that is also trusted is one node.
pub fn nodes<'a>(
    presented: &'a [impl AsRef<[u8]>],
    trusted: &'a [impl AsRef<[u8]>],
) -> Result<Vec<Node<'a>>, String> {
    let mut nodes: Vec<Node<'a>> = Vec::with_capacity(presented.len() + trusted.len());
    for (index, der) in presented.iter().enumerate() {
        let der = der.as_ref();
        let (_, x509) = X509Certificate::from_der(der)
            .map_err(|e| format!("certificate {} of the chain does not parse: {e}", index + 1))?;
        nodes.push(Node {
            der,
            x509,
            presented: Some(index),
            trusted: false,
        });
    }
    for der in trusted {
        let der = der.as_ref();
        if let Some(node) = nodes.iter_mut().find(|n| n.der == der) {
            node.trusted = true;
            continue;
        }
        // A trusted certificate that does not parse can anchor nothing;
        // the store's loader already reported it.
        if let Ok((_, x509)) = X509Certificate::from_der(der) {
            nodes.push(Node {
                der,
                x509,
                presented: None,
                trusted: true,
            });
        }
    }
    Ok(nodes)
}

/// The faults of a complete path at `at` (RFC 5280 §6.1.3–6.1.5, with the
/// anchor's own certificate checked as OpenSSL does; who refuses which is
/// told by [`PathFault::refusers`]).
pub fn validate(nodes: &[Node<'_>], path: &[usize], at: OffsetDateTime) -> Vec<PathFault> {
    let mut faults = Vec::new();
    let last = path.len() - 1;
    for (position, &index) in path.iter().enumerate() {
        let node = &nodes[index];
        let validity = node.x509.validity();
        if at < validity.not_before.to_datetime() {
            faults.push(PathFault::NotYetValid { position });
        } else if at > validity.not_after.to_datetime() {
            faults.push(PathFault::Expired { position });
        }
        if node.x509.issuer().iter().next().is_none() {
            faults.push(PathFault::EmptyIssuer { position });
        }
        for extension in node.x509.extensions() {
            if extension.critical && !handled(&extension.oid.to_id_string()) {
                faults.push(PathFault::CriticalExtension {
                    position,
                    oid: extension.oid.to_id_string(),
                });
            }
        }
        if position == 0 {
            continue;
        }
        let v1_root = position == last && node.x509.extensions().is_empty() && node.self_issued();
        let constraints = node.x509.basic_constraints().ok().flatten();
        let is_ca = constraints.as_ref().is_some_and(|c| c.value.ca);
        let key_cert_sign = node
            .x509
            .key_usage()
            .ok()
            .flatten()
            .map(|u| u.value.key_cert_sign());
        if !is_ca && !v1_root {
            faults.push(PathFault::NotCa {
                position,
                key_cert_sign: key_cert_sign == Some(true),
            });
        }
        if key_cert_sign == Some(false) {
            faults.push(PathFault::NoKeyCertSign { position });
        }
        if let Some(limit) = constraints.and_then(|c| c.value.path_len_constraint) {
            // CAs between this one and the leaf, self-issued ones not counted (§6.1.4 l).
            let below = path[1..position]
                .iter()
                .filter(|&&i| !nodes[i].self_issued())
                .count();
            if below > limit as usize {
                faults.push(PathFault::PathLength { position, limit });
            }
        }
        if let Ok(Some(eku)) = node.x509.extended_key_usage()
            && !eku.value.any
            && !eku.value.server_auth
        {
            faults.push(PathFault::CaExtendedKeyUsage { position });
        }
        if let Ok(Some(constraints)) = node.x509.name_constraints() {
            for (below, &i) in path[..position].iter().enumerate() {
                // §6.1.3 b: a self-issued intermediate's names are exempt.
                if below > 0 && nodes[i].self_issued() {
                    continue;
                }
                for name in names_to_constrain(&nodes[i].x509, below == 0) {
                    if !name.allowed_by(constraints.value) {
                        faults.push(PathFault::NameConstraint {
                            position: below,
                            by: position,
                            name: name.to_string(),
                        });
                    }
                }
            }
        }
    }
    faults
}

/// Extensions a verifier processes, so that they may be critical: the set
/// OpenSSL handles (X509_supported_extension). Java refuses the same
/// critical key identifiers (seen on the corpus), though RFC 5280 §4.2.1.1
/// and §4.2.1.2 only say they must not be critical.
fn handled(oid: &str) -> bool {
    matches!(
        oid,
        "2.5.29.15" // keyUsage
            | "2.5.29.17" // subjectAltName
            | "2.5.29.19" // basicConstraints
            | "2.5.29.30" // nameConstraints
            | "2.5.29.32" // certificatePolicies
            | "2.5.29.33" // policyMappings
            | "2.5.29.36" // policyConstraints
            | "2.5.29.37" // extKeyUsage
            | "2.5.29.54" // inhibitAnyPolicy
            | "1.3.6.1.5.5.7.1.24" // TLS feature
            | "2.16.840.1.113730.1.1" // Netscape certificate type
    )
}

/// A name that name constraints apply to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ConstrainedName {
    Dns(String),
    Ip(Vec<u8>),
}

impl std::fmt::Display for ConstrainedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConstrainedName::Dns(name) => write!(f, "DNS:{name}"),
            ConstrainedName::Ip(bytes) => match bytes.len() {
                4 => write!(
                    f,
                    "IP:{}",
                    std::net::Ipv4Addr::from(<[u8; 4]>::try_from(&bytes[..]).unwrap_or_default())
                ),
                16 => write!(
                    f,
                    "IP:{}",
                    std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[..]).unwrap_or_default())
                ),
                _ => write!(f, "IP:{bytes:02X?}"),
            },
        }
    }
}

/// dNSName and iPAddress SANs; for the server's certificate without a
/// dNSName, its CN as OpenSSL constrains it (a CN that looks like a host).
fn names_to_constrain(cert: &X509Certificate<'_>, leaf: bool) -> Vec<ConstrainedName> {
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(ConstrainedName::Dns(dns.to_string())),
                GeneralName::IPAddress(ip) => names.push(ConstrainedName::Ip(ip.to_vec())),
                _ => {}
            }
        }
    }
    if leaf && !names.iter().any(|n| matches!(n, ConstrainedName::Dns(_))) {
        for cn in cert.subject().iter_common_name() {
            if let Ok(cn) = cn.as_str()
                && cn.contains('.')
                && cn
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.*_".contains(c))
            {
                names.push(ConstrainedName::Dns(cn.to_owned()));
            }
        }
    }
    names
}

/// RFC 5280 §4.2.1.10: "host.example.com" is within "example.com" and
/// ".example.com" subtrees (not within "ample.com").
fn dns_within(name: &str, base: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let base = base.trim_end_matches('.').to_ascii_lowercase();
    if base.is_empty() {
        return true;
    }
    if let Some(stripped) = base.strip_prefix('.') {
        return name.ends_with(&format!(".{stripped}"));
    }
    name == base || name.ends_with(&format!(".{base}"))
}

/// An iPAddress subtree is address and mask, 8 or 32 bytes.
fn ip_within(address: &[u8], subtree: &[u8]) -> bool {
    let half = subtree.len() / 2;
    if !subtree.len().is_multiple_of(2) || half != address.len() {
        return false;
    }
    let (network, mask) = subtree.split_at(half);
    address
        .iter()
        .zip(network.iter().zip(mask))
        .all(|(a, (n, m))| a & m == n & m)
}

impl ConstrainedName {
    fn matches(&self, base: &GeneralName<'_>) -> Option<bool> {
        match (self, base) {
            (ConstrainedName::Dns(name), GeneralName::DNSName(base)) => {
                Some(dns_within(name, base))
            }
            (ConstrainedName::Ip(address), GeneralName::IPAddress(subtree)) => {
                Some(ip_within(address, subtree))
            }
            _ => None,
        }
    }

    fn allowed_by(&self, constraints: &x509_parser::extensions::NameConstraints<'_>) -> bool {
        if let Some(excluded) = &constraints.excluded_subtrees
            && excluded.iter().any(|s| self.matches(&s.base) == Some(true))
        {
            return false;
        }
        match &constraints.permitted_subtrees {
            Some(permitted) => {
                let same_type: Vec<bool> = permitted
                    .iter()
                    .filter_map(|s| self.matches(&s.base))
                    .collect();
                // Without a subtree of this name's type, the type is not constrained.
                same_type.is_empty() || same_type.contains(&true)
            }
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_subtrees_match_whole_labels() {
        assert!(dns_within("sql01.corp.example.com", "corp.example.com"));
        assert!(dns_within("corp.example.com", "corp.example.com"));
        assert!(dns_within("sql01.corp.example.com", ".corp.example.com"));
        assert!(!dns_within("corp.example.com", ".corp.example.com"));
        assert!(!dns_within("sql01.xcorp.example.com", "corp.example.com"));
        assert!(dns_within("anything.example", ""));
    }

    #[test]
    fn ip_subtrees_are_address_and_mask() {
        assert!(ip_within(&[10, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(!ip_within(&[11, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(!ip_within(&[10, 1, 2, 3], &[10, 0, 0, 0]));
    }
}
