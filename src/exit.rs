//! Exit codes: the one place they are defined. The README documents them.
//! "The target is not ready" (1) is kept apart from "the tool could not
//! tell" (3) and from "the tool was used wrongly" (2). What a run's verdict
//! exits with is decided in `outcome`.

/// Nothing failed (warnings allowed, unless `--fail-on warn`).
pub const OK: i32 = 0;
/// At least one check failed (or warned, with `--fail-on warn`): not ready.
pub const NOT_READY: i32 = 1;
/// Bad usage or a bad target file: nothing was checked.
pub const USAGE: i32 = 2;
/// No failure, but a check that applies could not run (`error`, or blocked
/// by an error): the tool could not tell.
pub const INCOMPLETE: i32 = 3;
/// No check matched the selection, or every selected check was not
/// applicable or not configured (cargo-nextest's "no tests run" code).
pub const NOTHING_CHECKED: i32 = 4;
/// SIGHUP (the terminal went away): 128 + 1, as shells report it.
pub const HUNG_UP: i32 = 129;
/// The user interrupted the run (Ctrl-C, SIGINT); the report shows what finished.
pub const INTERRUPTED: i32 = 130;
/// SIGTERM (`timeout`, CI cancellation, `docker stop`, systemd): 128 + 15.
pub const TERMINATED: i32 = 143;
