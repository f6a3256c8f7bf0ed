//! NTSTATUS codes an SMB server answers with, their names, and what they
//! mean for a backup destination. The `smb` crate erases the code from some
//! errors (reads, writes and flushes come back as `std::io::Error` holding
//! the crate's message), so the code is also recovered from that text.

use crate::probe::fs_error::{FsError, FsProblem};

/// The codes a write probe can meet, with the problem each one is.
#[rustfmt::skip] // one row per code reads best
const KNOWN: &[(u32, &str, FsProblem)] = &[
    (0xC000_0022, "STATUS_ACCESS_DENIED", FsProblem::AccessDenied),
    (0xC000_00CA, "STATUS_NETWORK_ACCESS_DENIED", FsProblem::AccessDenied),
    (0xC000_0121, "STATUS_CANNOT_DELETE", FsProblem::AccessDenied),
    (0xC000_006D, "STATUS_LOGON_FAILURE", FsProblem::LogonFailure),
    (0xC000_0064, "STATUS_NO_SUCH_USER", FsProblem::LogonFailure),
    (0xC000_006A, "STATUS_WRONG_PASSWORD", FsProblem::LogonFailure),
    (0xC000_0234, "STATUS_ACCOUNT_LOCKED_OUT", FsProblem::AccountUnusable),
    (0xC000_0072, "STATUS_ACCOUNT_DISABLED", FsProblem::AccountUnusable),
    (0xC000_0193, "STATUS_ACCOUNT_EXPIRED", FsProblem::AccountUnusable),
    (0xC000_0071, "STATUS_PASSWORD_EXPIRED", FsProblem::AccountUnusable),
    (0xC000_0224, "STATUS_PASSWORD_MUST_CHANGE", FsProblem::AccountUnusable),
    (0xC000_006E, "STATUS_ACCOUNT_RESTRICTION", FsProblem::AccountUnusable),
    (0xC000_006F, "STATUS_INVALID_LOGON_HOURS", FsProblem::AccountUnusable),
    (0xC000_0070, "STATUS_INVALID_WORKSTATION", FsProblem::AccountUnusable),
    (0xC000_015B, "STATUS_LOGON_TYPE_NOT_GRANTED", FsProblem::AccountUnusable),
    (0xC000_00CC, "STATUS_BAD_NETWORK_NAME", FsProblem::ShareNotFound),
    (0xC000_003A, "STATUS_OBJECT_PATH_NOT_FOUND", FsProblem::PathNotFound),
    (0xC000_0034, "STATUS_OBJECT_NAME_NOT_FOUND", FsProblem::PathNotFound),
    (0xC000_0039, "STATUS_OBJECT_PATH_INVALID", FsProblem::PathNotFound),
    // What a directory query answers when its pattern matches nothing.
    (0xC000_000F, "STATUS_NO_SUCH_FILE", FsProblem::PathNotFound),
    (0xC000_0103, "STATUS_NOT_A_DIRECTORY", FsProblem::NotADirectory),
    (0xC000_007F, "STATUS_DISK_FULL", FsProblem::DiskFull),
    (0xC000_0044, "STATUS_QUOTA_EXCEEDED", FsProblem::DiskFull),
    (0xC000_00A2, "STATUS_MEDIA_WRITE_PROTECTED", FsProblem::ReadOnly),
    (0xC000_0035, "STATUS_OBJECT_NAME_COLLISION", FsProblem::AlreadyExists),
    (0xC000_00C9, "STATUS_NETWORK_NAME_DELETED", FsProblem::ConnectionLost),
    (0xC000_0203, "STATUS_USER_SESSION_DELETED", FsProblem::ConnectionLost),
    (0xC000_035C, "STATUS_NETWORK_SESSION_EXPIRED", FsProblem::ConnectionLost),
    (0xC000_00B5, "STATUS_IO_TIMEOUT", FsProblem::TimedOut),
    (0xC000_0043, "STATUS_SHARING_VIOLATION", FsProblem::Other),
    (0xC000_0056, "STATUS_DELETE_PENDING", FsProblem::Other),
    (0xC000_0033, "STATUS_OBJECT_NAME_INVALID", FsProblem::Other),
    (0xC000_00BA, "STATUS_FILE_IS_A_DIRECTORY", FsProblem::Other),
];

/// The error a server status stands for. `detail` (what the client library
/// said) is kept only for codes this table does not know: for the others
/// the status name says it all.
pub fn error_for(code: u32, detail: impl Into<String>) -> FsError {
    let (label, problem, detail) = match KNOWN.iter().find(|(c, ..)| *c == code) {
        Some((_, name, problem)) => (format!("{name} (0x{code:08X})"), *problem, String::new()),
        None => (
            format!("NTSTATUS 0x{code:08X}"),
            FsProblem::Other,
            detail.into(),
        ),
    };
    FsError {
        problem,
        status: Some(label),
        detail,
    }
}

/// Classifies an error of the `smb` crate.
pub fn classify(error: &smb::Error) -> FsError {
    let detail = error.to_string();
    match error {
        smb::Error::ReceivedErrorMessage(code, _) | smb::Error::UnexpectedMessageStatus(code) => {
            error_for(*code, detail)
        }
        smb::Error::ConnectionStopped | smb::Error::TransportError(_) => {
            FsError::new(FsProblem::ConnectionLost, detail)
        }
        smb::Error::OperationTimeout(..) => FsError::new(FsProblem::TimedOut, detail),
        smb::Error::MessageProcessingError(_) if detail.contains("worker") => {
            FsError::new(FsProblem::ConnectionLost, detail)
        }
        smb::Error::SspiError(_) => FsError::new(FsProblem::LogonFailure, detail),
        smb::Error::IoError(io) => classify_io(io),
        _ => match code_in_text(&detail) {
            Some(code) => error_for(code, detail),
            None => FsError::new(FsProblem::Other, detail),
        },
    }
}

/// Classifies the `std::io::Error` the crate returns from reads, writes and
/// flushes. Where it wrapped its own error, that is classified by its type;
/// most paths (smb 0.11 `resource/file.rs`) wrap only the error's text, so
/// the server's status and the crate's dead-connection and timeout errors
/// are read from it here, at the probe's edge, and nowhere else.
pub fn classify_io(error: &std::io::Error) -> FsError {
    if let Some(typed) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<smb::Error>())
    {
        return classify(typed);
    }
    let detail = error.to_string();
    if let Some(code) = code_in_text(&detail) {
        return error_for(code, detail);
    }
    // The crate's own messages for a dead connection and for its timeout.
    let stopped = ["connection is stopped", "Transport error", "to worker"]
        .iter()
        .any(|m| detail.contains(m));
    if stopped {
        return FsError::new(FsProblem::ConnectionLost, detail);
    }
    if detail.contains("Operation timed out") {
        return FsError::new(FsProblem::TimedOut, detail);
    }
    FsError::from_io(error)
}

/// The first `0x` followed by eight hex digits in `text`, read as an
/// NTSTATUS when its severity bits say error (0xC…) or warning (0x8…).
fn code_in_text(text: &str) -> Option<u32> {
    text.match_indices("0x").find_map(|(at, _)| {
        let hex = text.get(at + 2..at + 10)?;
        let code = u32::from_str_radix(hex, 16).ok()?;
        (code >> 30 != 0).then_some(code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_have_names_and_problems() {
        let e = error_for(0xC000_0022, "create");
        assert_eq!(e.problem, FsProblem::AccessDenied);
        assert_eq!(
            e.status.as_deref(),
            Some("STATUS_ACCESS_DENIED (0xC0000022)")
        );
        assert_eq!(error_for(0xC000_007F, "").problem, FsProblem::DiskFull);
        assert_eq!(error_for(0xC0DE_0001, "").problem, FsProblem::Other);
        assert_eq!(
            error_for(0xC000_00CC, "").status.as_deref(),
            Some("STATUS_BAD_NETWORK_NAME (0xC00000CC)")
        );
    }

    #[test]
    fn codes_are_recovered_from_the_crates_messages() {
        let io = std::io::Error::other("Server returned an error message with status: 0xc000007f.");
        assert_eq!(classify_io(&io).problem, FsProblem::DiskFull);
        let io = std::io::Error::other(
            "Server returned an error message with status: Access Denied (0xc0000022).",
        );
        assert_eq!(classify_io(&io).problem, FsProblem::AccessDenied);
        assert_eq!(code_in_text("offset 0x10 written"), None);
        let io = std::io::Error::other("Operation timed out: ReceiveNextMessage, took >2s");
        assert_eq!(classify_io(&io).problem, FsProblem::TimedOut);
    }

    #[test]
    fn a_wrapped_crate_error_is_classified_by_its_type() {
        let io = std::io::Error::other(smb::Error::ConnectionStopped);
        assert_eq!(classify_io(&io).problem, FsProblem::ConnectionLost);
        let io = std::io::Error::other(smb::Error::UnexpectedMessageStatus(0xC000_0022));
        assert_eq!(classify_io(&io).problem, FsProblem::AccessDenied);
    }
}
