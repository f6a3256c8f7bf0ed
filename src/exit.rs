//! Exit codes: the one place they are defined. The README documents them.
//! "The target is not ready" (1) is kept apart from "the tool could not
//! tell" (3) and from "the tool was used wrongly" (2).

use crate::finding::Status;
use crate::report::Summary;

/// Nothing failed (warnings allowed, unless `--fail-on warn`).
pub const OK: i32 = 0;
/// At least one check failed (or warned, with `--fail-on warn`): not ready.
pub const NOT_READY: i32 = 1;
/// Bad usage or a bad target file: nothing was checked.
pub const USAGE: i32 = 2;
/// No failure, but at least one check could not be evaluated (`error`).
pub const INCOMPLETE: i32 = 3;
/// The user interrupted the run (Ctrl-C, SIGINT); the report shows what finished.
pub const INTERRUPTED: i32 = 130;
/// The run was asked to stop (SIGTERM: `timeout`, `docker stop`, systemd, CI
/// cancellation); the report shows what finished. 128 + the signal's number.
pub const TERMINATED: i32 = 143;
/// The terminal went away (SIGHUP); the report shows what finished.
pub const HUNG_UP: i32 = 129;

/// The lowest status that fails a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FailOn {
    Warn,
    #[default]
    Fail,
}

pub fn for_summary(summary: &Summary, fail_on: FailOn) -> i32 {
    let failing = summary.count(Status::Fail)
        + match fail_on {
            FailOn::Warn => summary.count(Status::Warn),
            FailOn::Fail => 0,
        };
    if failing > 0 {
        NOT_READY
    } else if summary.count(Status::Error) > 0 {
        INCOMPLETE
    } else {
        OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(warn: usize, fail: usize, error: usize) -> Summary {
        Summary {
            total: 5,
            pass: 1,
            warn,
            fail,
            error,
            ..Summary::default()
        }
    }

    #[test]
    fn failure_outranks_error_and_warn_counts_only_when_asked() {
        assert_eq!(for_summary(&summary(0, 1, 1), FailOn::Fail), NOT_READY);
        assert_eq!(for_summary(&summary(0, 0, 1), FailOn::Fail), INCOMPLETE);
        assert_eq!(for_summary(&summary(1, 0, 0), FailOn::Fail), OK);
        assert_eq!(for_summary(&summary(1, 0, 0), FailOn::Warn), NOT_READY);
    }
}
