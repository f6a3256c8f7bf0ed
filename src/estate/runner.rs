//! Runs many targets at once on one runtime: at most `jobs` targets at a
//! time, each with its own checks running concurrently (the engine), each
//! bounded by its own timeout and deadline, so a dead or hanging target
//! holds one slot for its own deadline and never delays the others.

use std::sync::Arc;

use futures::StreamExt;

use crate::engine::{self, EngineOptions, Progress, Run};
use crate::outcome::Verdict;
use crate::selection::Plan;
use crate::target::Target;

/// One target of the estate, loaded and planned.
pub struct Member {
    pub name: String,
    pub tags: Vec<String>,
    pub target: Arc<Target>,
    /// The target's own settings as TOML (its inventory table, defaults
    /// merged in), which a bundle shows as its target.toml.
    pub target_toml: String,
    pub plan: Plan,
    pub options: EngineOptions,
}

/// Told about an estate run as it goes, to show progress.
pub trait EstateProgress: Send + Sync {
    /// A target starts; its checks report to what this returns.
    fn target_started(&self, name: &str) -> Box<dyn Progress>;
    fn target_finished(&self, _name: &str, _verdict: Verdict) {}
}

/// How many targets run at once unless `--jobs` says: checking a target is
/// mostly waiting on the network, so several per core.
pub fn default_jobs() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * 8).clamp(4, 64)
}

/// Runs every member, at most `jobs` at a time, and turns each finished run
/// into what the caller keeps (`keep`), in the members' order. What a run
/// holds beyond that (its facts, open sessions) is released as soon as the
/// target finishes, so a thousand targets do not hold a thousand sessions.
pub async fn run_all<T>(
    members: Vec<Member>,
    jobs: usize,
    progress: &dyn EstateProgress,
    keep: impl Fn(&Member, Run) -> T,
) -> Vec<T> {
    let keep = &keep;
    let mut finished: Vec<(usize, T)> = futures::stream::iter(members.into_iter().enumerate())
        .map(|(index, member)| async move {
            let watcher = progress.target_started(&member.name);
            let run = engine::run(
                member.target.clone(),
                &member.plan,
                &member.options,
                watcher.as_ref(),
            )
            .await;
            progress.target_finished(&member.name, run.report.verdict);
            (index, keep(&member, run))
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    finished.sort_by_key(|(index, _)| *index);
    finished.into_iter().map(|(_, kept)| kept).collect()
}
