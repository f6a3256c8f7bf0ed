//! The values a target may hold, checked where they are read: in the target
//! file's deserialisation (so that a refusal names the file, line, column and
//! key) and in the command line's parsers (the same rules for `--host` and
//! `--port`). A value that would only fail later, as a false verdict, is
//! refused here, before anything runs.

use std::net::IpAddr;

use serde::{Deserialize, Deserializer};

/// The longest DNS name (RFC 1035 §2.3.4, in its text form).
const MAX_HOST_NAME: usize = 253;
/// The longest label of a DNS name.
const MAX_LABEL: usize = 63;

/// A server name: a DNS name (letters, digits, `-`, `_` in dot-separated
/// labels) or an IP address (IPv6 with or without brackets).
pub fn host(text: &str) -> Result<String, String> {
    let name = text.trim();
    let valid_forms = "a DNS name such as sql01.corp.example.com, or an IP address";
    if name.is_empty() {
        return Err(format!("the host is empty: give {valid_forms}"));
    }
    let unbracketed = name.trim_start_matches('[').trim_end_matches(']');
    if unbracketed.parse::<IpAddr>().is_ok() {
        return Ok(unbracketed.to_owned());
    }
    if name.len() > MAX_HOST_NAME {
        return Err(format!(
            "the host name is {} characters long; DNS names have at most {MAX_HOST_NAME}: give {valid_forms}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        let what = if bad.is_whitespace() {
            "a space".to_owned()
        } else if bad.is_control() {
            format!("the control character U+{:04X}", u32::from(bad))
        } else {
            format!("`{bad}`")
        };
        return Err(format!(
            "the host `{}` contains {what}, which no host name has: give {valid_forms} (an instance goes in `instance`, a port in `port`)",
            name.escape_debug()
        ));
    }
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() {
            return Err(format!(
                "the host `{name}` has an empty label (two dots, or a leading dot): give {valid_forms}"
            ));
        }
        if label.len() > MAX_LABEL {
            return Err(format!(
                "the label `{label}` of the host is longer than {MAX_LABEL} characters: give {valid_forms}"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "the label `{label}` of the host starts or ends with `-`: give {valid_forms}"
            ));
        }
    }
    Ok(name.to_owned())
}

/// A TCP or UDP port a server listens on: 1 to 65535.
pub fn port(text: &str) -> Result<u16, String> {
    let value: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a port: give a number from 1 to 65535"))?;
    port_number(value)
}

fn port_number(value: u64) -> Result<u16, String> {
    match u16::try_from(value) {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!(
            "{value} is not a port a server can listen on: give a number from 1 to 65535"
        )),
    }
}

/// A size such as `12 GiB`, `500 MB`, `1.5 TiB` or `1048576` (bytes).
pub fn size(text: &str) -> Result<u64, String> {
    let valid_forms = "write it like \"12 GiB\", \"500 MB\" or a number of bytes";
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size: {valid_forms}"))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        other => {
            return Err(format!(
                "`{other}` is not a unit of size (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB): {valid_forms}"
            ));
        }
    };
    let bytes = number * multiplier;
    // f64 holds every u64 up to 2^53 exactly; beyond, sizes are not real
    // databases (8 PiB) and the comparison must not wrap.
    if !bytes.is_finite() || bytes >= 2f64.powi(53) {
        return Err(format!(
            "`{text}` is larger than any database (8 PiB and more): {valid_forms}"
        ));
    }
    Ok(bytes.round() as u64)
}

/// serde: `host = "…"`, validated.
pub fn de_host<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|h| host(&h))
        .transpose()
        .map_err(serde::de::Error::custom)
}

/// serde: a port number, validated.
pub fn de_port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    Option::<i64>::deserialize(d)?
        .map(|p| {
            u64::try_from(p)
                .map_err(|_| format!("{p} is not a port: give a number from 1 to 65535"))
                .and_then(port_number)
        })
        .transpose()
        .map_err(serde::de::Error::custom)
}

/// serde: a size such as `"12 GiB"`, validated.
pub fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| size(&s))
        .transpose()
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_and_addresses_are_accepted_as_written() {
        for good in [
            "sql01.corp.example.com",
            "localhost",
            "SQL-01",
            "_sql._tcp.example",
            "192.0.2.7",
            "::1",
            "[2001:db8::7]",
            "fqdn.example.com.",
        ] {
            assert!(host(good).is_ok(), "{good}");
        }
        assert_eq!(host("[::1]").unwrap(), "::1");
    }

    #[test]
    fn host_names_no_resolver_would_take_are_refused_with_the_valid_forms() {
        for (bad, says) in [
            ("sql 01", "a space"),
            ("sql01\\PMP", "`\\`"),
            ("a..b", "empty label"),
            ("-a.example", "starts or ends with `-`"),
            ("", "empty"),
            ("a\u{1b}[2J", "control character"),
        ] {
            let err = host(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(err.contains("DNS name"), "{bad}: {err}");
        }
        let long = "a".repeat(10 * 1024 * 1024);
        assert!(host(&long).unwrap_err().contains("at most 253"));
        assert!(host(&format!("{}.example", "a".repeat(64))).is_err());
    }

    #[test]
    fn ports_are_1_to_65535() {
        assert_eq!(port("1433"), Ok(1433));
        assert!(port("0").unwrap_err().contains("1 to 65535"));
        assert!(port("65536").is_err());
        assert!(port("x").is_err());
    }

    #[test]
    fn sizes_are_read_exactly_and_absurd_ones_refused() {
        assert_eq!(size("2 GiB"), Ok(2 * 1024 * 1024 * 1024));
        assert_eq!(size("500 MB"), Ok(500_000_000));
        assert_eq!(size("1048576"), Ok(1_048_576));
        assert_eq!(size("1.5 KiB"), Ok(1536));
        assert!(
            size("99999999999999999999999 GiB")
                .unwrap_err()
                .contains("larger than any database")
        );
        assert!(size("big").is_err());
        assert!(size("12 parsecs").unwrap_err().contains("not a unit"));
    }
}
