//! Actions: what a run does that changes the world (SQL Server writing a
//! test backup). Checks ask for an action through [`RunContext::act`], which
//! applies the run's rules in one place — an intrusive action runs only with
//! `--intrusive`, none starts after the user interrupted the run — and the
//! action leaves undo work with the run's cleanups, which the engine waits
//! for after an interruption. A check only judges what the action reports.
//!
//! [`RunContext::act`]: crate::context::RunContext::act

pub mod share_write;
pub mod test_backup;

use std::time::Duration;

// The trait lives beside `Fact` in the run context, which runs actions.
pub use crate::context::Action;

/// The longest any action's undoing may take: how long the engine waits for
/// the run's cleanups after an interruption and at the end of a run.
pub const CLEANUP_LIMIT: Duration = longest(&[
    share_write::ShareWriteProbe::CLEANUP_LIMIT,
    test_backup::TestBackup::CLEANUP_LIMIT,
]);

const fn longest(limits: &[Duration]) -> Duration {
    let mut longest = Duration::ZERO;
    let mut i = 0;
    while i < limits.len() {
        if limits[i].as_nanos() > longest.as_nanos() {
            longest = limits[i];
        }
        i += 1;
    }
    longest
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::context::{RunContext, RunSettings};
    use crate::finding::{SkipKind, Status, Stop};
    use crate::target::{SecretInputs, Target, TargetOverrides};

    /// Counts how often it ran.
    struct Counted<'a, const INTRUSIVE: bool>(&'a AtomicUsize);

    impl<const I: bool> Action for Counted<'_, I> {
        type Output = ();
        const INTRUSIVE: bool = I;
        const CLEANUP_LIMIT: Duration = Duration::ZERO;

        fn describe(&self) -> String {
            "a counted action".to_owned()
        }

        async fn run(&self, _: &RunContext) -> Result<(), Stop> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn context(intrusive: bool) -> RunContext {
        let target = Target::from_toml(
            "[server]\nhost = \"sql01\"\n",
            Path::new("t.toml"),
            &TargetOverrides::default(),
            SecretInputs::default(),
        )
        .unwrap();
        let settings = RunSettings {
            intrusive,
            ..RunSettings::default()
        };
        RunContext::new(Arc::new(target), settings, Default::default())
    }

    #[tokio::test]
    async fn intrusive_actions_run_only_with_intrusive() {
        let runs = AtomicUsize::new(0);
        let refused = context(false)
            .act(Counted::<true>(&runs))
            .await
            .unwrap_err();
        assert_eq!(refused.skip().unwrap().kind, SkipKind::NotConfigured);
        assert!(
            refused.reason().contains("--intrusive"),
            "{}",
            refused.reason()
        );
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        context(false).act(Counted::<false>(&runs)).await.unwrap();
        context(true).act(Counted::<true>(&runs)).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn no_action_starts_after_an_interruption() {
        let runs = AtomicUsize::new(0);
        let ctx = context(true);
        ctx.cancelled().cancel();
        let stop = ctx.act(Counted::<false>(&runs)).await.unwrap_err();
        assert_eq!(stop.status(), Status::Error);
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_engine_waits_as_long_as_the_slowest_undoing() {
        assert_eq!(
            longest(&[
                Duration::from_secs(2),
                Duration::from_secs(5),
                Duration::ZERO
            ]),
            Duration::from_secs(5)
        );
        assert!(CLEANUP_LIMIT >= test_backup::REMOVAL_LIMIT);
    }
}
