//! Why a file operation at the backup destination failed, over SMB or on a
//! local path, in terms an administrator can act on. SMB probes fill in the
//! server's NTSTATUS; local probes the operating system's error.

use std::fmt;
use std::io;

use serde::Serialize;

/// What went wrong, whatever the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsProblem {
    /// The account may not do this (share or folder permissions).
    AccessDenied,
    /// Wrong user name or password.
    LogonFailure,
    /// The account exists but may not log on now: locked out, disabled,
    /// expired, outside its logon hours or denied by policy.
    AccountUnusable,
    /// The server has no share of that name.
    ShareNotFound,
    /// A folder on the way does not exist.
    PathNotFound,
    /// The destination is a file, not a folder.
    NotADirectory,
    /// No space left, or the account's quota is used up.
    DiskFull,
    /// The volume or share is read-only.
    ReadOnly,
    /// A file of that name exists already (never overwritten).
    AlreadyExists,
    /// The connection to the server broke.
    ConnectionLost,
    /// The server did not answer in time.
    TimedOut,
    /// The user interrupted the run.
    Interrupted,
    /// Anything else; the detail says what.
    Other,
}

/// A failed file operation: the problem, the server's status when there was
/// one, and what the server or the operating system said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsError {
    pub problem: FsProblem,
    /// The NTSTATUS name and code, e.g. `STATUS_ACCESS_DENIED (0xC0000022)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl FsError {
    pub fn new(problem: FsProblem, detail: impl Into<String>) -> Self {
        FsError {
            problem,
            status: None,
            detail: detail.into(),
        }
    }

    pub fn timed_out(after: std::time::Duration) -> Self {
        Self::new(
            FsProblem::TimedOut,
            format!("no answer within {}", humantime::format_duration(after)),
        )
    }

    pub fn interrupted() -> Self {
        Self::new(
            FsProblem::Interrupted,
            "interrupted: the run was cancelled (Ctrl-C or a signal)",
        )
    }

    /// Classifies an operating-system error from a local or mounted path.
    pub fn from_io(error: &io::Error) -> Self {
        use io::ErrorKind as K;
        let problem = match error.kind() {
            K::PermissionDenied => FsProblem::AccessDenied,
            K::NotFound => FsProblem::PathNotFound,
            K::NotADirectory => FsProblem::NotADirectory,
            K::StorageFull | K::QuotaExceeded => FsProblem::DiskFull,
            K::ReadOnlyFilesystem => FsProblem::ReadOnly,
            K::AlreadyExists => FsProblem::AlreadyExists,
            K::TimedOut => FsProblem::TimedOut,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::NotConnected => {
                FsProblem::ConnectionLost
            }
            _ => FsProblem::Other,
        };
        Self::new(problem, error.to_string())
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.status {
            Some(status) if self.detail.is_empty() => f.write_str(status),
            Some(status) => write!(f, "{status}: {}", self.detail),
            None => f.write_str(&self.detail),
        }
    }
}

impl std::error::Error for FsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_errors_are_classified_by_kind() {
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(FsError::from_io(&denied).problem, FsProblem::AccessDenied);
        // The operating system's own codes: ENOSPC and ENOTDIR on Unix,
        // ERROR_DISK_FULL and ERROR_DIRECTORY on Windows.
        let (no_space, not_a_directory) = if cfg!(windows) { (112, 267) } else { (28, 20) };
        let full = io::Error::from_raw_os_error(no_space);
        assert_eq!(FsError::from_io(&full).problem, FsProblem::DiskFull);
        let not_dir = io::Error::from_raw_os_error(not_a_directory);
        assert_eq!(FsError::from_io(&not_dir).problem, FsProblem::NotADirectory);
    }
}
