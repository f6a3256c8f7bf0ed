//! The Prometheus text exposition format (version 0.0.4): metric families
//! with HELP and TYPE, label values escaped. What a probe answers is made
//! here from the target's report, and only from its verdicts and a few
//! dates: never messages, evidence or anything a secret could be in.

use std::fmt::Write;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::finding::Status;
use crate::outcome::Verdict;
use crate::report::Report;

/// One metric family being written.
pub struct Family<'a> {
    out: &'a mut String,
    name: &'a str,
}

/// Starts a family: its HELP and TYPE lines.
pub fn family<'a>(out: &'a mut String, name: &'a str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(
        out,
        "# HELP {name} {}",
        help.replace('\\', "\\\\").replace('\n', "\\n")
    );
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out, name }
}

impl Family<'_> {
    /// A sample of the family (or of `suffix`, e.g. `_sum`) with `labels`.
    pub fn sample_as(&mut self, suffix: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.out, "{}{suffix}", self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape_label(val));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }

    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        self.sample_as("", labels, value);
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

/// The answer to `/probe` for `target`: its checks and verdict as state
/// sets, the certificate's expiry, the last full backup, and how the probe
/// went. `finished` is when the probe ended (backup ages count from it).
pub fn probe(
    target: &str,
    report: &Report,
    duration_secs: f64,
    finished: OffsetDateTime,
) -> String {
    let mut out = String::with_capacity(4096 + report.results.len() * 600);
    let mut checks = family(
        &mut out,
        "mssql_preflight_check_status",
        "gauge",
        "Status of each check: a state set, 1 for the check's current status and 0 for the others.",
    );
    for result in &report.results {
        for status in Status::ALL {
            checks.sample(
                &[
                    ("target", target),
                    ("check", &result.id),
                    ("status", status.as_str()),
                ],
                f64::from(u8::from(result.status == status)),
            );
        }
    }
    let mut verdicts = family(
        &mut out,
        "mssql_preflight_verdict",
        "gauge",
        "The target's verdict: a state set, 1 for the current verdict and 0 for the others.",
    );
    for verdict in Verdict::ALL {
        verdicts.sample(
            &[("target", target), ("verdict", verdict.as_str())],
            f64::from(u8::from(report.verdict == verdict)),
        );
    }
    if let Some((subject, not_after)) = certificate(report) {
        family(
            &mut out,
            "mssql_preflight_certificate_not_after_timestamp_seconds",
            "gauge",
            "When the server's certificate expires (notAfter), as a Unix timestamp.",
        )
        .sample(
            &[("target", target), ("subject", &subject)],
            not_after.unix_timestamp() as f64,
        );
        family(
            &mut out,
            "mssql_preflight_certificate_days_left",
            "gauge",
            "Whole days until the server's certificate expires (negative once expired), as tls.cert.validity counts them.",
        )
        .sample(
            &[("target", target)],
            (not_after - finished).whole_days() as f64,
        );
    }
    if let Some((database, age_seconds)) = last_full_backup(report) {
        family(
            &mut out,
            "mssql_preflight_last_full_backup_timestamp_seconds",
            "gauge",
            "When the application database's last full backup finished (msdb), as a Unix timestamp.",
        )
        .sample(
            &[("target", target), ("database", &database)],
            (finished.unix_timestamp() - age_seconds) as f64,
        );
    }
    family(
        &mut out,
        "mssql_preflight_probe_duration_seconds",
        "gauge",
        "How long the probe took to run the target's checks.",
    )
    .sample(&[("target", target)], duration_secs);
    family(
        &mut out,
        "mssql_preflight_probe_success",
        "gauge",
        "1 when the target is ready (ready or ready_with_warnings, exit code 0), 0 otherwise.",
    )
    .sample(
        &[("target", target)],
        f64::from(u8::from(matches!(
            report.verdict,
            Verdict::Ready | Verdict::ReadyWithWarnings
        ))),
    );
    out
}

/// The leaf certificate's subject and notAfter, from the certificate
/// checks' evidence (tls.cert.validity first).
fn certificate(report: &Report) -> Option<(String, OffsetDateTime)> {
    let mut certificate_checks: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.id.starts_with("tls.cert."))
        .collect();
    certificate_checks.sort_by_key(|r| r.id != "tls.cert.validity");
    certificate_checks.into_iter().find_map(|r| {
        let subject = r.evidence.get("subject")?.as_str()?;
        let not_after = r.evidence.get("not_after")?.as_str()?;
        let not_after = OffsetDateTime::parse(not_after, &Rfc3339).ok()?;
        Some((subject.to_owned(), not_after))
    })
}

/// The application database and its last full backup's age in seconds,
/// from sql.backup.recent's evidence.
fn last_full_backup(report: &Report) -> Option<(String, i64)> {
    let result = report
        .results
        .iter()
        .find(|r| r.id == "sql.backup.recent")?;
    let age = result.evidence.get("age_seconds")?.as_i64()?;
    Some((report.target.database.clone()?, age))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        family(&mut out, "m", "gauge", "help").sample(&[("l", "a\"b\\c\nd")], 1.5);
        assert_eq!(
            out,
            "# HELP m help\n# TYPE m gauge\nm{l=\"a\\\"b\\\\c\\nd\"} 1.5\n"
        );
    }
}
