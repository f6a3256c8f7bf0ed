//! `[check.file]`: a file on this machine that must exist (no more open than
//! a given mode) or must be absent. Paths may start with `{app.install_dir}`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::context::RunContext;
use crate::finding::{Finding, Outcome, Stop};
use crate::registry::CheckMeta;

/// The one placeholder a path may use: the target's `[app] install_dir`.
const INSTALL_DIR: &str = "{app.install_dir}";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProbe {
    pub path: String,
    #[serde(default)]
    pub expect: FileState,
    /// The widest permissions allowed, in octal (`"0600"`): any other bit set is a problem.
    pub max_mode: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    #[default]
    Exists,
    Absent,
}

impl FileProbe {
    pub(super) fn validate(&self) -> Result<(), String> {
        let rest = self.path.strip_prefix(INSTALL_DIR).unwrap_or(&self.path);
        if rest.contains(['{', '}']) {
            return Err(format!(
                "[check.file] path `{}`: the only placeholder is {INSTALL_DIR}, at the start",
                self.path
            ));
        }
        if !self.path.starts_with(INSTALL_DIR) && !PathBuf::from(&self.path).is_absolute() {
            return Err(format!(
                "[check.file] path `{}` must be absolute or start with {INSTALL_DIR}",
                self.path
            ));
        }
        if let Some(text) = &self.max_mode {
            parse_mode(text)?;
            if self.expect == FileState::Absent {
                return Err(
                    "[check.file] max_mode applies only when the file must exist".to_owned(),
                );
            }
        }
        Ok(())
    }

    pub(super) fn describe(&self) -> String {
        match (self.expect, &self.max_mode) {
            (FileState::Absent, _) => format!(
                "Looks for {} on this machine; it must not exist.",
                self.path
            ),
            (FileState::Exists, None) => {
                format!("Looks for {} on this machine; it must exist.", self.path)
            }
            (FileState::Exists, Some(mode)) => format!(
                "Looks for {} on this machine; it must exist with permissions no wider than {mode}.",
                self.path
            ),
        }
    }

    fn resolve(&self, ctx: &RunContext) -> Result<PathBuf, Stop> {
        let Some(rest) = self.path.strip_prefix(INSTALL_DIR) else {
            return Ok(PathBuf::from(&self.path));
        };
        let dir = ctx
            .target
            .app
            .as_ref()
            .and_then(|a| a.install_dir.as_ref())
            .ok_or_else(|| {
                Stop::not_configured(format!(
                    "this check looks in the application's folder: {}",
                    ctx.target.how_to_set("app", &["install_dir"])
                ))
            })?;
        Ok(dir.join(rest.trim_start_matches(['/', '\\'])))
    }

    pub(super) async fn evaluate(&self, meta: &CheckMeta, ctx: &RunContext) -> Outcome {
        let path = self.resolve(ctx)?;
        let shown = path.display().to_string();
        let metadata = match std::fs::metadata(&path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(Stop::error(format!(
                    "cannot look at {shown}: {e} (run as a user that can read its folder)"
                )));
            }
        };
        let Some(metadata) = metadata else {
            return Ok(match self.expect {
                FileState::Absent => Finding::pass(format!("{shown} does not exist")),
                FileState::Exists => {
                    Finding::problem(meta.severity, format!("{shown} does not exist"))
                        .expected("the file exists")
                        .actual("no such file")
                }
            }
            .evidence("path", &shown)
            .evidence("exists", false));
        };
        let finding = match self.expect {
            FileState::Absent => Finding::problem(meta.severity, format!("{shown} exists"))
                .expected("no such file")
                .actual("the file exists"),
            FileState::Exists => match &self.max_mode {
                None => Finding::pass(format!("{shown} exists")),
                Some(max) => judge_mode(meta, &shown, &metadata, max)?,
            },
        };
        Ok(with_metadata(
            finding.evidence("path", &shown).evidence("exists", true),
            &metadata,
        ))
    }
}

#[cfg(unix)]
fn judge_mode(
    meta: &CheckMeta,
    shown: &str,
    metadata: &std::fs::Metadata,
    max: &str,
) -> Result<Finding, Stop> {
    use std::os::unix::fs::PermissionsExt;
    let allowed = parse_mode(max).map_err(Stop::error)?;
    let mode = metadata.permissions().mode() & 0o7777;
    let extra = mode & !allowed;
    if extra == 0 {
        return Ok(Finding::pass(format!(
            "{shown} has mode {mode:04o}, within {allowed:04o}"
        )));
    }
    let command = format!("chmod {} '{shown}'", symbolic_removal(extra));
    Ok(Finding::problem(
        meta.severity,
        format!("{shown} has mode {mode:04o}: wider than {allowed:04o}"),
    )
    .expected(format!("permissions within {allowed:04o}"))
    .actual(format!("{mode:04o}"))
    .remediation(format!("Run `{command}`. {}", meta.fix)))
}

#[cfg(not(unix))]
fn judge_mode(
    _meta: &CheckMeta,
    _shown: &str,
    _metadata: &std::fs::Metadata,
    _max: &str,
) -> Result<Finding, Stop> {
    Err(Stop::error(
        "file modes are a Unix notion; on this system check the file's access list instead",
    ))
}

fn with_metadata(finding: Finding, metadata: &std::fs::Metadata) -> Finding {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        finding
            .evidence("mode", format!("{:04o}", metadata.mode() & 0o7777))
            .evidence("uid", metadata.uid())
            .evidence("gid", metadata.gid())
    }
    #[cfg(not(unix))]
    {
        finding.evidence("read_only", metadata.permissions().readonly())
    }
}

/// An octal mode such as `"0600"`, `"600"` or `"0o600"`.
fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.trim().trim_start_matches("0o");
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o7777 && !digits.is_empty() => Ok(mode),
        _ => Err(format!(
            "max_mode `{text}` is not an octal file mode such as \"0600\""
        )),
    }
}

/// The `chmod` argument that removes exactly `bits`, e.g. `g-r,o-rw`.
// Only Unix judges modes; the unit tests run everywhere.
#[cfg_attr(not(unix), allow(dead_code))]
fn symbolic_removal(bits: u32) -> String {
    let mut parts = Vec::new();
    for (class, shift, special, special_letter) in [
        ("u", 6, 0o4000, 's'),
        ("g", 3, 0o2000, 's'),
        ("o", 0, 0o1000, 't'),
    ] {
        let mut letters = String::new();
        for (bit, letter) in [(4, 'r'), (2, 'w'), (1, 'x')] {
            if bits & (bit << shift) != 0 {
                letters.push(letter);
            }
        }
        if bits & special != 0 {
            letters.push(special_letter);
        }
        if !letters.is_empty() {
            parts.push(format!("{class}-{letters}"));
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_in_octal_only() {
        assert_eq!(parse_mode("0600"), Ok(0o600));
        assert_eq!(parse_mode("0o640"), Ok(0o640));
        assert!(parse_mode("0800").is_err());
        assert!(parse_mode("").is_err());
        assert!(parse_mode("17777").is_err());
    }

    #[test]
    fn removal_names_each_class() {
        assert_eq!(symbolic_removal(0o044), "g-r,o-r");
        assert_eq!(symbolic_removal(0o4007), "u-s,o-rwx");
    }
}
