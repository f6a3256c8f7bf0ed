//! The support bundle: one zip a support engineer can read without this tool.
//!
//! A finished [`Run`] and a few things gathered around it (the environment,
//! the redacted target file, the debug log) become [`Members`]; each family
//! adds what its facts saw through [`families::contributions`]. README.md
//! ("Support bundle") documents the layout; [`LAYOUT`] is the same list.
//!
//! Secrets: a member the tool lays out (reports, README, JSON, target.toml)
//! is made of values masked before layout, so a password that is an
//! ordinary word ("the") never rewrites the tool's own sentences; a member
//! that is someone else's bytes (the debug log, certificates, packs) is
//! scrubbed whole by the one redactor, byte by byte, on its way into the zip.

pub(crate) mod environment;
pub(crate) mod families;
pub(crate) mod log;
pub(crate) mod target_file;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::context::Fact;
use crate::engine::Run;
use crate::report::{Format, Report, Style};

/// Every member a bundle has, with what it holds. A member a run could not
/// fill still exists and says why (`absent`), so the layout never changes.
pub const LAYOUT: &[(&str, &str)] = &[
    ("README.txt", "this list, and what the run was"),
    (
        "report.json",
        "the full report (schema: `mssql-preflight schema`)",
    ),
    ("report.md", "the report in Markdown, for a ticket"),
    (
        "report.html",
        "the report as one self-contained page: open it in a browser",
    ),
    (
        "junit.xml",
        "the report as JUnit XML, one test case per check",
    ),
    ("timings.json", "how long each check took, slowest first"),
    (
        "environment.json",
        "tool version, OS, kernel, host name, time zone, resolver configuration",
    ),
    (
        "target.toml",
        "the target file, re-serialised with every secret replaced by <redacted>",
    ),
    (
        "server-facts.json",
        "what SQL Server said about itself: version, edition, collation, service accounts, settings",
    ),
    (
        "sql-reads.json",
        "every answer the SQL checks judged (roles, permissions, last backup, clock, connection…) and the session that read it, or why it was not read",
    ),
    (
        "certs/",
        "chain.pem (the certificate chain the server presented, leaf first) and certificate-N.txt (each decoded); README.txt when there is none",
    ),
    (
        "packs/",
        "the check packs loaded with --checks-dir, as given",
    ),
    ("debug.log", "the run's log at debug level"),
];

/// Where a member's secrets are masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Masking {
    /// Someone else's bytes: the redactor scrubs every byte as the zip is written.
    Bytes,
    /// Laid out by the tool from values masked first: the layout, the
    /// tool's own words, is written as it is.
    Values,
}

/// The files of a bundle, in the order they are written.
#[derive(Debug, Default)]
pub struct Members {
    entries: Vec<(String, Vec<u8>, Masking)>,
}

impl Members {
    /// Adds (or replaces) the member at `path`: bytes the tool did not
    /// write (a log, a certificate, a pack), scrubbed whole on the way out.
    pub fn add(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.put(path.into(), bytes.into(), Masking::Bytes);
    }

    /// Adds (or replaces) the member at `path`: text the tool laid out from
    /// values whose secrets it masked first (see `report::Report::render`).
    pub fn add_laid_out(&mut self, path: impl Into<String>, text: impl Into<Vec<u8>>) {
        self.put(path.into(), text.into(), Masking::Values);
    }

    fn put(&mut self, path: String, bytes: Vec<u8>, masking: Masking) {
        match self.entries.iter_mut().find(|(p, ..)| *p == path) {
            Some(entry) => {
                entry.1 = bytes;
                entry.2 = masking;
            }
            None => self.entries.push((path, bytes, masking)),
        }
    }

    /// `value` as a JSON member, each of its strings masked before layout.
    pub fn json(&mut self, path: impl Into<String>, value: &impl Serialize) {
        let text = match serde_json::to_value(value) {
            Ok(mut value) => {
                crate::redact::scrub_json(&mut value);
                serde_json::to_string_pretty(&value)
                    .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialise: {e}\"}}"))
            }
            Err(e) => format!("{{\"error\": \"cannot serialise: {e}\"}}"),
        };
        self.add_laid_out(path, text + "\n");
    }

    /// A member that says why its content is missing, in its own format.
    pub fn absent(&mut self, path: &str, reason: &str) {
        if path.ends_with(".json") {
            self.json(
                path,
                &serde_json::json!({ "available": false, "reason": reason }),
            );
        } else {
            let reason = crate::redact::scrub(reason);
            self.add_laid_out(path, format!("Not available: {reason}\n"));
        }
    }

    /// Fact `F` of the run as a JSON member, or a member saying why it is
    /// absent: the prerequisite that failed, or that no selected check needed it.
    pub fn fact_json<F: Fact>(
        &mut self,
        run: &Run,
        path: &str,
        to_json: impl FnOnce(&F::Output) -> serde_json::Value,
    ) {
        match absence::<F>(run) {
            Ok(value) => self.json(path, &to_json(&value)),
            Err(reason) => self.absent(path, &reason),
        }
    }

    /// Whether a member is at `path`, or (for `dir/`) under it.
    pub fn contains(&self, path: &str) -> bool {
        self.entries.iter().any(|(p, ..)| {
            if path.ends_with('/') {
                p.starts_with(path)
            } else {
                p == path
            }
        })
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(p, ..)| p.as_str())
    }

    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(p, ..)| p == path)
            .map(|(_, b, _)| b.as_slice())
    }

    /// Copies every member of `other` under `folder/`, as it was added.
    pub fn extend_under(&mut self, folder: &str, other: Members) {
        for (path, bytes, masking) in other.entries {
            self.put(format!("{folder}/{path}"), bytes, masking);
        }
    }
}

/// The value of fact `F` in a finished run, or why there is none.
pub fn absence<F: Fact>(run: &Run) -> Result<std::sync::Arc<F::Output>, String> {
    match run.outcome::<F>() {
        Some(Ok(value)) => Ok(value),
        Some(Err(stop)) => Err(stop.reason().to_owned()),
        None => Err(
            "no check selected for this run needed it; run the bundle with the checks of its family selected"
                .to_owned(),
        ),
    }
}

/// What the bundle is made of besides the run itself.
pub struct Inputs {
    pub environment: serde_json::Value,
    pub target_toml: String,
    pub debug_log: Vec<u8>,
    /// User packs as (file name, text).
    pub packs: Vec<(String, String)>,
}

/// Assembles every member of the bundle from a finished run.
pub fn collect(run: &Run, inputs: Inputs) -> Members {
    let report = &run.report;
    let mut members = Members::default();
    members.add_laid_out("README.txt", Vec::new());
    // In the bundle the target file is its target.toml, wherever the run found it.
    let mut report = report.clone();
    if report.target.file.is_some() {
        report.target.file = Some("target.toml".to_owned());
    }
    let report = &report;
    // Reports mask their values before layout.
    for (path, format) in [
        ("report.json", Format::Json),
        ("report.md", Format::Markdown),
        ("report.html", Format::Html),
        ("junit.xml", Format::Junit),
    ] {
        members.add_laid_out(path, report.render(format, Style::PLAIN));
    }
    members.json("timings.json", &timings(report));
    members.json("environment.json", &inputs.environment);
    members.add_laid_out("target.toml", inputs.target_toml);
    for contribute in families::contributions() {
        contribute(run, &mut members);
    }
    if inputs.packs.is_empty() {
        members.absent("packs/README.txt", "no --checks-dir was given");
    }
    for (name, text) in inputs.packs {
        members.add(format!("packs/{name}"), text);
    }
    members.add("debug.log", inputs.debug_log);
    let readme = readme(&crate::report::masked(report), &members);
    members.add_laid_out("README.txt", readme);
    members
}

#[derive(Serialize)]
struct Timings<'a> {
    total_ms: u64,
    attempts: u32,
    /// Slowest first.
    checks: Vec<CheckTiming<'a>>,
}

#[derive(Serialize)]
struct CheckTiming<'a> {
    id: &'a str,
    status: crate::finding::Status,
    duration_ms: u64,
}

fn timings(report: &Report) -> Timings<'_> {
    let mut checks: Vec<CheckTiming> = report
        .results
        .iter()
        .map(|r| CheckTiming {
            id: &r.id,
            status: r.status,
            duration_ms: r.duration_ms,
        })
        .collect();
    checks.sort_by(|a, b| b.duration_ms.cmp(&a.duration_ms).then(a.id.cmp(b.id)));
    Timings {
        total_ms: report.duration_ms,
        attempts: report.attempts,
        checks,
    }
}

fn readme(report: &Report, members: &Members) -> String {
    let mut out = format!(
        "mssql-preflight support bundle\n\n\
         Tool:     {} {}\n\
         Server:   {}{}\n\
         Profile:  {}\n\
         Started:  {}\n\
         Result:   {}\n\n\
         Secrets (passwords) were replaced by <redacted> in every file.\n\
         Start with report.html (open it in a browser) or report.md.\n\n\
         Files:\n",
        report.tool.name,
        report.tool.version,
        report.target.host,
        report
            .target
            .port
            .map(|p| format!(":{p}"))
            .unwrap_or_default(),
        report.profile,
        report.started_at,
        report.headline(),
    );
    for (path, what) in LAYOUT {
        if members.contains(path) {
            out.push_str(&format!("  {path:<18} {what}\n"));
        }
    }
    out
}

/// The default bundle name: host and time, safe in any file system.
pub fn default_path(host: &str, at: OffsetDateTime) -> PathBuf {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from(format!(
        "mssql-preflight-bundle-{host}-{:04}{:02}{:02}T{:02}{:02}{:02}Z.zip",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    ))
}

/// Writes the members to a zip at `path`, each scrubbed of every registered
/// secret. The zip is written beside `path` and renamed into place, so a
/// failed write leaves no half bundle behind.
pub fn write_zip(members: &Members, path: &Path, modified: OffsetDateTime) -> Result<(), String> {
    let partial = path.with_extension("zip.partial");
    let result = write_to(members, &partial, modified)
        .and_then(|()| std::fs::rename(&partial, path).map_err(|e| e.to_string()));
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result.map_err(|e| format!("cannot write the bundle {}: {e}", path.display()))
}

fn write_to(members: &Members, path: &Path, modified: OffsetDateTime) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let stamp = zip::DateTime::from_date_and_time(
        modified.year().clamp(1980, 2107) as u16,
        u8::from(modified.month()),
        modified.day(),
        modified.hour(),
        modified.minute(),
        modified.second(),
    )
    .unwrap_or_default();
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(stamp)
        .unix_permissions(0o644);
    for (name, bytes, masking) in &members.entries {
        zip.start_file(name.as_str(), options)
            .map_err(|e| e.to_string())?;
        let bytes = match masking {
            Masking::Bytes => crate::redact::scrub_bytes(bytes),
            Masking::Values => std::borrow::Cow::Borrowed(bytes.as_slice()),
        };
        zip.write_all(&bytes).map_err(|e| e.to_string())?;
    }
    let mut inner = zip.finish().map_err(|e| e.to_string())?;
    inner.flush().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_members_replace_earlier_ones_in_place() {
        let mut m = Members::default();
        m.add("a", "1");
        m.add("b", "2");
        m.add("a", "3");
        assert_eq!(m.paths().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.get("a"), Some(&b"3"[..]));
        assert!(!m.contains("certs/"));
        m.add("certs/chain.pem", "x");
        assert!(m.contains("certs/"));
    }

    #[test]
    fn default_names_are_file_system_safe() {
        let at = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        assert_eq!(
            default_path("sql01\\inst:1433", at),
            PathBuf::from("mssql-preflight-bundle-sql01_inst_1433-20260102T030405Z.zip")
        );
    }
}
