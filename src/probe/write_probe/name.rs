//! Probe file names: `.mssql-preflight-probe-<started>-<uuid>[-<tag>].tmp`.
//!
//! `<started>` is when the probe started (UTC on this machine's clock, as
//! `YYYYMMDDTHHMMSSZ`), `<uuid>` a full random UUID (32 hex digits), and
//! `<tag>` says what the file is for (`renamed`, `sql-backup`). Only names
//! that parse are ever swept: a file someone else named like ours but not
//! exactly so is left alone.

use time::OffsetDateTime;
use time::macros::format_description;

/// Every probe file's name starts with this…
pub const PROBE_PREFIX: &str = ".mssql-preflight-probe-";
/// …and ends with this.
pub const PROBE_SUFFIX: &str = ".tmp";

const STAMP: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");
const STAMP_LEN: usize = "20260101T000000Z".len();
const UUID_LEN: usize = 32;

/// A parsed probe file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeName {
    /// When the probe that wrote it started, by the writer's clock.
    pub started: OffsetDateTime,
    pub id: uuid::Uuid,
    pub tag: Option<String>,
}

impl ProbeName {
    /// A new name for a probe starting `started`, with a fresh UUID.
    pub fn fresh(started: OffsetDateTime, tag: Option<&str>) -> ProbeName {
        ProbeName {
            started: started.replace_nanosecond(0).unwrap_or(started),
            id: uuid::Uuid::new_v4(),
            tag: tag.map(str::to_owned),
        }
    }

    /// The same probe's file with another tag (the rename step's second name).
    pub fn tagged(&self, tag: &str) -> ProbeName {
        ProbeName {
            tag: Some(tag.to_owned()),
            ..self.clone()
        }
    }

    /// Reads `name`; `None` unless it is exactly a probe file name.
    pub fn parse(name: &str) -> Option<ProbeName> {
        let body = name
            .strip_prefix(PROBE_PREFIX)?
            .strip_suffix(PROBE_SUFFIX)?;
        let stamp = body.get(..STAMP_LEN)?;
        let rest = body.get(STAMP_LEN..)?.strip_prefix('-')?;
        let id = rest.get(..UUID_LEN)?;
        let tag = match rest.get(UUID_LEN..)? {
            "" => None,
            more => Some(more.strip_prefix('-').filter(|t| valid_tag(t))?.to_owned()),
        };
        // Lower-case hex only, as `fresh` writes it: anything else is not ours.
        if !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        Some(ProbeName {
            started: time::PrimitiveDateTime::parse(stamp, STAMP)
                .ok()?
                .assume_utc(),
            id: uuid::Uuid::try_parse(id).ok()?,
            tag,
        })
    }
}

impl std::fmt::Display for ProbeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stamp = self.started.format(STAMP).map_err(|_| std::fmt::Error)?;
        write!(f, "{PROBE_PREFIX}{stamp}-{}", self.id.simple())?;
        if let Some(tag) = &self.tag {
            write!(f, "-{tag}")?;
        }
        f.write_str(PROBE_SUFFIX)
    }
}

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && !tag.starts_with('-')
        && !tag.ends_with('-')
        && tag.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}

/// Whether `name` is a probe file (of any run).
pub fn is_probe_file(name: &str) -> bool {
    ProbeName::parse(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_names_read_back_as_written() {
        let started = time::macros::datetime!(2026-12-06 05:55:18.734 UTC);
        let name = ProbeName::fresh(started, None);
        let text = name.to_string();
        assert!(text.starts_with(".mssql-preflight-probe-20261206T055518Z-"));
        assert_eq!(
            text.len(),
            PROBE_PREFIX.len() + 16 + 1 + 32 + PROBE_SUFFIX.len()
        );
        assert_eq!(ProbeName::parse(&text), Some(name.clone()));
        let renamed = name.tagged("renamed").to_string();
        assert!(renamed.ends_with("-renamed.tmp"), "{renamed}");
        assert_eq!(ProbeName::parse(&renamed).unwrap().id, name.id);
        assert_ne!(
            ProbeName::fresh(started, None).id,
            name.id,
            "every probe has its own UUID"
        );
    }

    #[test]
    fn names_that_only_look_like_probe_names_are_not_ours() {
        for name in [
            ".mssql-preflight-probe-notauuid.tmp",
            ".mssql-preflight-probe-abc.tmp",
            ".mssql-preflight-probe-20261206T055518Z-0123456789abcdef0123456789abcdef",
            ".mssql-preflight-probe-20261206T055518Z-0123456789ABCDEF0123456789ABCDEF.tmp",
            ".mssql-preflight-probe-20261206T055518Z-0123456789abcdef0123456789abcde.tmp",
            ".mssql-preflight-probe-20261306T055518Z-0123456789abcdef0123456789abcdef.tmp",
            ".mssql-preflight-probe-20261206T055518Z-0123456789abcdef0123456789abcdef-.tmp",
            ".mssql-preflight-probe-20261206T055518Z-0123456789abcdef0123456789abcdef-X.tmp",
            ".mssql-preflight-probe-20261206T055518Z-0123456789abcdef0123456789abcdefrenamed.tmp",
            "backup.bak",
            "",
        ] {
            assert!(!is_probe_file(name), "{name}");
        }
        assert!(is_probe_file(
            ".mssql-preflight-probe-20261206T055518Z-0123456789abcdef0123456789abcdef-sql-backup.tmp"
        ));
    }
}
