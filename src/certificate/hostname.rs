//! Does a certificate name the server the application connects to?
//! RFC 6125 as clients apply it: dNSName SANs take precedence over the
//! subject CN (which counts only when there is no dNSName at all); a
//! wildcard only as the whole left-most label and never over a public
//! suffix-like single label; case-insensitive; a trailing dot ignored; an IP
//! address matches only an iPAddress SAN.

use std::net::IpAddr;

use serde::Serialize;

use super::describe::CertificateInfo;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "match", rename_all = "kebab-case")]
pub enum NameMatch {
    /// A subjectAltName entry matched.
    SubjectAltName {
        entry: String,
    },
    /// The certificate has no dNSName SAN, and its CN matched: accepted by
    /// RFC 6125's fallback, rejected by modern drivers.
    CommonNameOnly {
        common_name: String,
    },
    Mismatch,
}

impl NameMatch {
    pub fn is_match(&self) -> bool {
        !matches!(self, NameMatch::Mismatch)
    }
}

fn normalise(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn as_ip(name: &str) -> Option<IpAddr> {
    crate::probe::dns::ip_literal(name.trim())
}

/// Whether the presented identifier `pattern` (a dNSName or CN) matches the
/// reference identifier `name`.
pub fn dns_name_matches(pattern: &str, name: &str) -> bool {
    let pattern = normalise(pattern);
    let name = normalise(name);
    if pattern.is_empty() || name.is_empty() {
        return false;
    }
    match pattern.strip_prefix("*.") {
        Some(parent) => {
            // "*.com" would cover a whole top-level domain: clients refuse it.
            if !parent.contains('.') || parent.contains('*') {
                return false;
            }
            match name.split_once('.') {
                Some((label, rest)) => !label.is_empty() && rest == parent,
                None => false,
            }
        }
        // A '*' anywhere else (partial or inner wildcards) is taken literally,
        // so it matches nothing real.
        None => pattern == name,
    }
}

/// Matches `expected` (the host the application uses, or the configured
/// expected name) against the certificate.
pub fn match_name(expected: &str, cert: &CertificateInfo) -> NameMatch {
    if let Some(ip) = as_ip(expected) {
        return match cert.ip_addresses.iter().find(|a| **a == ip) {
            Some(a) => NameMatch::SubjectAltName {
                entry: format!("IP:{a}"),
            },
            None => NameMatch::Mismatch,
        };
    }
    if !cert.dns_names.is_empty() {
        return match cert
            .dns_names
            .iter()
            .find(|d| dns_name_matches(d, expected))
        {
            Some(d) => NameMatch::SubjectAltName {
                entry: format!("DNS:{d}"),
            },
            None => NameMatch::Mismatch,
        };
    }
    match cert
        .common_names
        .iter()
        .find(|cn| dns_name_matches(cn, expected))
    {
        Some(cn) => NameMatch::CommonNameOnly {
            common_name: cn.clone(),
        },
        None => NameMatch::Mismatch,
    }
}

/// Whether `name` is a short name (no dot) or an IP address: not what a
/// certificate for a server in a domain is issued to.
pub fn is_short_or_ip(name: &str) -> bool {
    as_ip(name).is_some() || !normalise(name).contains('.')
}

/// The fully qualified names the certificate is issued for: its dNSName
/// SANs, or its CNs when it has none; wildcards and single labels left out.
pub fn fqdns(cert: &CertificateInfo) -> Vec<String> {
    let source = if cert.dns_names.is_empty() {
        &cert.common_names
    } else {
        &cert.dns_names
    };
    source
        .iter()
        .filter(|n| n.contains('.') && !n.contains('*') && as_ip(n).is_none())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::describe::tests_support::info_with;

    #[test]
    fn wildcards_cover_exactly_one_left_most_label() {
        assert!(dns_name_matches(
            "*.corp.example.com",
            "sql01.corp.example.com"
        ));
        assert!(!dns_name_matches("*.corp.example.com", "corp.example.com"));
        assert!(!dns_name_matches(
            "*.corp.example.com",
            "a.sql01.corp.example.com"
        ));
        assert!(!dns_name_matches("*.com", "example.com"));
        assert!(!dns_name_matches(
            "sql*.corp.example.com",
            "sql01.corp.example.com"
        ));
        assert!(!dns_name_matches(
            "sql01.*.example.com",
            "sql01.corp.example.com"
        ));
        assert!(!dns_name_matches("*.*.example.com", "a.b.example.com"));
    }

    #[test]
    fn case_and_trailing_dots_do_not_matter() {
        assert!(dns_name_matches(
            "SQL01.Corp.Example.COM.",
            "sql01.corp.example.com"
        ));
        assert!(dns_name_matches(
            "sql01.corp.example.com",
            "SQL01.CORP.EXAMPLE.COM."
        ));
        assert!(!dns_name_matches("", ""));
    }

    #[test]
    fn sans_take_precedence_over_the_common_name() {
        let cert = info_with(
            &["sql01.corp.example.com"],
            &["other.corp.example.com"],
            &[],
        );
        assert_eq!(
            match_name("sql01.corp.example.com", &cert),
            NameMatch::Mismatch
        );
        assert!(match_name("other.corp.example.com", &cert).is_match());
    }

    #[test]
    fn the_common_name_counts_only_without_dns_sans() {
        let cert = info_with(&["sql01.corp.example.com"], &[], &[]);
        assert_eq!(
            match_name("sql01.corp.example.com", &cert),
            NameMatch::CommonNameOnly {
                common_name: "sql01.corp.example.com".to_owned()
            }
        );
        // An IP SAN alone does not stop the CN fallback for DNS names.
        let with_ip = info_with(&["sql01.corp.example.com"], &[], &["10.0.0.5"]);
        assert!(matches!(
            match_name("sql01.corp.example.com", &with_ip),
            NameMatch::CommonNameOnly { .. }
        ));
    }

    #[test]
    fn an_ip_target_needs_an_ip_san() {
        let cert = info_with(&["127.0.0.1"], &["127.0.0.1"], &[]);
        assert_eq!(match_name("127.0.0.1", &cert), NameMatch::Mismatch);
        let cert = info_with(&[], &[], &["127.0.0.1", "::1"]);
        assert!(match_name("127.0.0.1", &cert).is_match());
        assert!(match_name("[::1]", &cert).is_match());
        assert!(!match_name("127.0.0.2", &cert).is_match());
    }

    #[test]
    fn short_names_and_addresses_are_told_apart_from_fqdns() {
        assert!(is_short_or_ip("sql01"));
        assert!(is_short_or_ip("127.0.0.1"));
        assert!(!is_short_or_ip("sql01.corp.example.com"));
        let cert = info_with(
            &["x"],
            &["localhost", "*.corp.example.com", "sql01.corp.example.com"],
            &[],
        );
        assert_eq!(fqdns(&cert), vec!["sql01.corp.example.com"]);
    }
}
