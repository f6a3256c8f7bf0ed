//! SQL Server's version number — as the server states it in its PRELOGIN
//! answer and in SERVERPROPERTY('ProductVersion') — and the release it
//! stands for.

use serde::Serialize;

/// major.minor.build.revision, compared part by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SqlVersion {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    pub revision: u32,
}

impl SqlVersion {
    /// Parses `16.0.4135.4`, `13.0`, `15`; missing parts are zero.
    pub fn parse(text: &str) -> Option<SqlVersion> {
        let mut parts = text.trim().split('.').map(|p| p.trim().parse::<u32>());
        let major = parts.next()?.ok()?;
        let mut next = || parts.next().map(|p| p.ok()).unwrap_or(Some(0));
        Some(SqlVersion {
            major,
            minor: next()?,
            build: next()?,
            revision: next()?,
        })
    }

    /// The release, as administrators know it.
    pub fn release_name(self) -> Option<&'static str> {
        Some(match self.major {
            8 => "SQL Server 2000",
            9 => "SQL Server 2005",
            10 if self.minor >= 50 => "SQL Server 2008 R2",
            10 => "SQL Server 2008",
            11 => "SQL Server 2012",
            12 => "SQL Server 2014",
            13 => "SQL Server 2016",
            14 => "SQL Server 2017",
            15 => "SQL Server 2019",
            16 => "SQL Server 2022",
            17 => "SQL Server 2025",
            _ => return None,
        })
    }
}

impl std::fmt::Display for SqlVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}.{}.{}",
            self.major, self.minor, self.build, self.revision
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_compare() {
        let v = SqlVersion::parse("16.0.4135.4").unwrap();
        assert_eq!(v.release_name(), Some("SQL Server 2022"));
        assert!(v > SqlVersion::parse("13.0").unwrap());
        assert_eq!(SqlVersion::parse("15").unwrap().to_string(), "15.0.0.0");
        assert!(SqlVersion::parse("x.1").is_none());
        assert!(SqlVersion::parse("").is_none());
    }
}
