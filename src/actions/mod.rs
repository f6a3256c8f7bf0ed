//! Actions: what a run does that changes the world (SQL Server writing a
//! test backup). Checks ask for an action through [`RunContext::act`], which
//! applies the run's rules in one place — an intrusive action runs only with
//! `--intrusive`, none starts after the user interrupted the run — and the
//! action leaves undo work with the run's cleanups, which the engine waits
//! for after an interruption. A check only judges what the action reports.
//!
//! [`RunContext::act`]: crate::context::RunContext::act

pub mod test_backup;

use std::future::Future;

use crate::context::RunContext;
use crate::finding::Stop;

/// Something the run does to the target, with what came of it as data.
pub trait Action: Send + Sync {
    type Output: Send + Sync + 'static;

    /// Changes the target in a way it keeps (`--intrusive` only).
    const INTRUSIVE: bool;

    /// What it does, in words for a skip's reason.
    fn describe(&self) -> String;

    fn run(&self, ctx: &RunContext) -> impl Future<Output = Result<Self::Output, Stop>> + Send;
}
