//! The backup write probe: proves that a destination can be used the way a
//! backup uses it — create a uniquely named file (never overwriting
//! anything), write, flush, read back and compare, rename, delete — and says
//! which step failed and why.
//!
//! Nothing is left behind. On failure, timeout or interruption the probe
//! file is removed under a limit of its own ([`CLEANUP_TIMEOUT`]); if the
//! probe is abandoned midway (its check dropped at the run's deadline), a
//! background removal is started on the run's cleanup tracker, which the
//! engine waits for. While a probe runs it holds a token of
//! that tracker, so an interrupted run waits for its cleanup, and only for
//! that. SMB probe files are also opened delete-on-close, so the server
//! removes them when the connection drops or this process is killed. A
//! killed process cannot clean a local directory, so probe files carry a
//! name that parses as one ([`ProbeName`]) and each run removes those older
//! than [`STALE_AFTER`] by the destination's clock.
//!
//! Concurrent runs against one destination do not see each other: each
//! works only on its own names (a full UUID each), confirms its own file
//! gone by name, and tolerates other runs' files vanishing under a listing.

mod local;
mod name;
mod smb;

use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use parking_lot::Mutex;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::local::LocalStore;
pub use self::name::{PROBE_PREFIX, PROBE_SUFFIX, ProbeName, is_probe_file};
pub use self::smb::SmbStore;
use super::fs_error::{FsError, FsProblem};
/// A probe file older than this was left by a run that was killed: no run
/// takes that long, so removing it cannot disturb a probe in progress.
pub const STALE_AFTER: Duration = Duration::from_secs(10 * 60);
/// Cleanup's own limit, whatever happened to the step before it.
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);
/// How much the probe writes: enough to cross several network packets.
pub const PROBE_BYTES: usize = 64 * 1024;

/// The steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    OpenFolder,
    Create,
    Write,
    Flush,
    ReadBack,
    Compare,
    Rename,
    Delete,
    ConfirmGone,
}

impl Step {
    pub fn describe(self) -> &'static str {
        match self {
            Step::OpenFolder => "open the destination folder",
            Step::Create => "create a new file",
            Step::Write => "write to it",
            Step::Flush => "flush it to disk",
            Step::ReadBack => "read it back",
            Step::Compare => "compare what was read with what was written",
            Step::Rename => "rename it",
            Step::Delete => "delete it",
            Step::ConfirmGone => "confirm it is gone",
        }
    }
}

/// A file's name and last write time in a listing of the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub modified: SystemTime,
}

/// A destination the probe can work on: a local directory or an SMB share.
#[async_trait]
pub trait Store: Send + Sync {
    type File: Send;

    /// Checks that the destination exists and is a folder.
    async fn open_folder(&self) -> Result<(), FsError>;
    /// Creates `name`, failing if it exists. Returns the file and its last
    /// write time on the destination's clock.
    async fn create_new(&self, name: &str) -> Result<(Self::File, SystemTime), FsError>;
    async fn write(&self, file: &mut Self::File, data: &[u8]) -> Result<(), FsError>;
    async fn flush(&self, file: &mut Self::File) -> Result<(), FsError>;
    /// Reads the file (called `name`) back from the start.
    async fn read(&self, file: &mut Self::File, name: &str, len: usize)
    -> Result<Vec<u8>, FsError>;
    /// Renames the open file from `from` to `to`, never replacing a file.
    async fn rename(&self, file: &mut Self::File, from: &str, to: &str) -> Result<(), FsError>;
    /// Deletes the file (now called `name`) the way a backup removes an old one.
    async fn delete(&self, file: Self::File, name: &str) -> Result<(), FsError>;
    /// Probe files in the destination (any run's). Files that vanish while
    /// the folder is listed (another run removed its own) are left out.
    async fn probe_files(&self) -> Result<Vec<Listed>, FsError>;
    /// Whether a file called `name` exists (looked up by its name alone, so
    /// other runs' files cannot disturb the answer).
    async fn is_present(&self, name: &str) -> Result<bool, FsError>;
    /// Removes `name` if it exists: cleanup. With `afresh`, the probe's own
    /// connection is not trusted any more (its step broke, hung or was
    /// interrupted midway), so a new one is used.
    async fn remove(&self, name: &str, afresh: bool) -> Result<bool, FsError>;
    /// Starts removing `names` without waiting, when the probe is abandoned,
    /// as a task of `cleanups`.
    fn remove_in_background(&self, names: Vec<String>, cleanups: &TaskTracker);
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepFailure {
    pub step: Step,
    pub error: FsError,
}

/// What happened to the probe file after a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Cleanup {
    /// The steps themselves deleted the file (or never created one).
    NotNeeded,
    Removed {
        names: Vec<String>,
    },
    /// Cleanup could not remove the file: the report says where it is.
    Failed {
        names: Vec<String>,
        error: FsError,
    },
}

/// Everything one probe run observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeReport {
    /// The probe file's name (and, after the rename step, its second name).
    pub file: String,
    pub renamed: String,
    /// The steps that succeeded, with how long each took.
    pub completed: Vec<(Step, u64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<StepFailure>,
    pub cleanup: Cleanup,
    /// Probe files of earlier, killed runs that this run removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_removed: Vec<String>,
    /// Stale probe files that could not be removed, with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_left: Vec<(String, String)>,
}

impl ProbeReport {
    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }
}

/// Runs the probe on `store`. `cancel` interrupts it (the cleanup still
/// runs); the probe counts as a task of `cleanups` until it has cleaned up,
/// and hands an abandoned file's removal to it.
pub async fn run<S: Store>(
    store: &S,
    cancel: &CancellationToken,
    cleanups: &TaskTracker,
) -> ProbeReport {
    let _cleaning_up = cleanups.token();
    let name = ProbeName::fresh(time::OffsetDateTime::now_utc(), None);
    let file = name.to_string();
    let renamed = name.tagged("renamed").to_string();
    let progress = Progress::default();
    let mut guard = AbandonGuard {
        store,
        names: vec![file.clone(), renamed.clone()],
        disarmed: false,
        progress: &progress,
        cleanups,
    };

    let outcome = tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(StepFailure {
            step: progress.current(),
            error: FsError::interrupted(),
        }),
        outcome = steps(store, &file, &renamed, &progress) => outcome,
    };

    let created = progress.created_at();
    // A step that broke, hung or was cut short may leave its connection
    // unusable: clean up over a new one.
    let unusable = outcome.as_ref().is_err_and(|f| {
        matches!(
            f.error.problem,
            FsProblem::ConnectionLost | FsProblem::TimedOut | FsProblem::Interrupted
        )
    });
    let cleanup = match &outcome {
        // A create the server refused made nothing; one that was cut short
        // may have gone through all the same.
        Err(failure)
            if failure.step > Step::Create || (failure.step == Step::Create && unusable) =>
        {
            // The second name exists only once the rename was attempted.
            let mut names = vec![file.clone()];
            if failure.step >= Step::Rename {
                names.push(renamed.clone());
            }
            clean_up(store, &names, unusable).await
        }
        _ => Cleanup::NotNeeded,
    };
    guard.disarmed = true;

    let (stale_removed, stale_left) = match created {
        Some(now) if !unusable && !cancel.is_cancelled() => {
            sweep_stale(store, now, &file, &renamed).await
        }
        _ => (Vec::new(), Vec::new()),
    };
    ProbeReport {
        file,
        renamed,
        completed: progress.completed(),
        failure: outcome.err(),
        cleanup,
        stale_removed,
        stale_left,
    }
}

/// The steps, recording progress as they go so that an interruption can
/// tell where it struck and whether there is a file to remove.
async fn steps<S: Store>(
    store: &S,
    file_name: &str,
    renamed: &str,
    progress: &Progress,
) -> Result<(), StepFailure> {
    let data = probe_data(file_name);
    progress.run(Step::OpenFolder, store.open_folder()).await?;
    let (mut file, created) = progress
        .run(Step::Create, store.create_new(file_name))
        .await?;
    progress.set_created(created);
    progress
        .run(Step::Write, store.write(&mut file, &data))
        .await?;
    progress.run(Step::Flush, store.flush(&mut file)).await?;
    let read = progress
        .run(Step::ReadBack, store.read(&mut file, file_name, data.len()))
        .await?;
    progress
        .run(Step::Compare, async { compare(&data, &read) })
        .await?;
    progress
        .run(Step::Rename, store.rename(&mut file, file_name, renamed))
        .await?;
    progress
        .run(Step::Delete, store.delete(file, renamed))
        .await?;
    progress
        .run(Step::ConfirmGone, async {
            for name in [renamed, file_name] {
                if store.is_present(name).await? {
                    return Err(FsError::new(
                        FsProblem::Other,
                        format!(
                            "`{name}` is still there after it was deleted (a recycle bin or a retention policy on the destination?)"
                        ),
                    ));
                }
            }
            Ok(())
        })
        .await?;
    progress.set_gone();
    Ok(())
}

async fn clean_up<S: Store>(store: &S, names: &[String], afresh: bool) -> Cleanup {
    let removal = async {
        let mut removed = Vec::new();
        for name in names {
            if store.remove(name, afresh).await? {
                removed.push(name.clone());
            }
        }
        Ok::<_, FsError>(removed)
    };
    match tokio::time::timeout(CLEANUP_TIMEOUT, removal).await {
        Ok(Ok(names)) => Cleanup::Removed { names },
        Ok(Err(error)) => Cleanup::Failed {
            names: names.to_vec(),
            error,
        },
        Err(_) => Cleanup::Failed {
            names: names.to_vec(),
            error: FsError::timed_out(CLEANUP_TIMEOUT),
        },
    }
}

/// Removes probe files an earlier run left behind: only names that parse as
/// probe names, judging age on the destination's own clock (`now` is our
/// file's write time there). Another run's removal racing ours is no error.
async fn sweep_stale<S: Store>(
    store: &S,
    now: SystemTime,
    ours: &str,
    ours_renamed: &str,
) -> (Vec<String>, Vec<(String, String)>) {
    let sweep = async {
        let mut removed = Vec::new();
        let mut left = Vec::new();
        let files = match store.probe_files().await {
            Ok(files) => files,
            Err(e) => {
                let what = "(the folder could not be listed)".to_owned();
                return (removed, vec![(what, e.to_string())]);
            }
        };
        for file in files {
            let age = now.duration_since(file.modified).unwrap_or_default();
            if file.name == ours
                || file.name == ours_renamed
                || age < STALE_AFTER
                || !is_probe_file(&file.name)
            {
                continue;
            }
            match store.remove(&file.name, false).await {
                Ok(true) => removed.push(file.name),
                Ok(false) => {}
                Err(e) => left.push((file.name, e.to_string())),
            }
        }
        (removed, left)
    };
    tokio::time::timeout(CLEANUP_TIMEOUT, sweep)
        .await
        .unwrap_or_else(|_| {
            (
                Vec::new(),
                vec![(
                    "(sweep)".to_owned(),
                    FsError::timed_out(CLEANUP_TIMEOUT).to_string(),
                )],
            )
        })
}

/// Bytes that differ from file to file and from position to position, so a
/// short or misplaced read cannot compare equal.
fn probe_data(seed: &str) -> Vec<u8> {
    let mut state = seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (0..PROBE_BYTES)
        .map(|_| {
            // xorshift64: cheap and never stuck at zero for a non-zero seed.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn compare(written: &[u8], read: &[u8]) -> Result<(), FsError> {
    if read.len() != written.len() {
        return Err(FsError::new(
            FsProblem::Other,
            format!("read back {} bytes, wrote {}", read.len(), written.len()),
        ));
    }
    match written.iter().zip(read).position(|(a, b)| a != b) {
        Some(at) => Err(FsError::new(
            FsProblem::Other,
            format!("what was read back differs from what was written, from byte {at} on"),
        )),
        None => Ok(()),
    }
}

/// Where the steps are: shared between the steps and the code that runs
/// after them, since an interrupted step leaves no result of its own.
#[derive(Default)]
struct Progress {
    inner: Mutex<ProgressState>,
}

#[derive(Default)]
struct ProgressState {
    current: Option<Step>,
    completed: Vec<(Step, u64)>,
    created_at: Option<SystemTime>,
    gone: bool,
}

impl Progress {
    async fn run<T>(
        &self,
        step: Step,
        operation: impl std::future::Future<Output = Result<T, FsError>>,
    ) -> Result<T, StepFailure> {
        self.inner.lock().current = Some(step);
        let started = Instant::now();
        let result = operation.await;
        match result {
            Ok(value) => {
                let millis = started.elapsed().as_millis() as u64;
                self.inner.lock().completed.push((step, millis));
                Ok(value)
            }
            Err(error) => Err(StepFailure { step, error }),
        }
    }

    fn current(&self) -> Step {
        self.inner.lock().current.unwrap_or(Step::OpenFolder)
    }

    fn completed(&self) -> Vec<(Step, u64)> {
        self.inner.lock().completed.clone()
    }

    fn set_created(&self, at: SystemTime) {
        self.inner.lock().created_at = Some(at);
    }

    fn created_at(&self) -> Option<SystemTime> {
        self.inner.lock().created_at
    }

    fn set_gone(&self) {
        self.inner.lock().gone = true;
    }

    /// A file may exist: its creation started and it is not confirmed gone.
    fn file_may_exist(&self) -> bool {
        let state = self.inner.lock();
        state.current >= Some(Step::Create) && !state.gone
    }
}

/// Removes the probe file in the background if `run` is dropped before it
/// cleaned up after itself (its check abandoned at the run's deadline).
struct AbandonGuard<'a, S: Store> {
    store: &'a S,
    names: Vec<String>,
    disarmed: bool,
    progress: &'a Progress,
    cleanups: &'a TaskTracker,
}

impl<S: Store> Drop for AbandonGuard<'_, S> {
    fn drop(&mut self) {
        if !self.disarmed && self.progress.file_may_exist() {
            self.store
                .remove_in_background(std::mem::take(&mut self.names), self.cleanups);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// An in-memory destination whose steps can fail or hang on demand.
    #[derive(Default)]
    struct FakeStore {
        fail: Option<(Step, FsProblem)>,
        hang: Option<Step>,
        files: Mutex<BTreeMap<String, SystemTime>>,
        removals: Mutex<Vec<(String, bool)>>,
        background: Mutex<Vec<String>>,
    }

    impl FakeStore {
        async fn at(&self, step: Step) -> Result<(), FsError> {
            if self.hang == Some(step) {
                std::future::pending::<()>().await;
            }
            match self.fail {
                Some((s, problem)) if s == step => Err(FsError::new(problem, "injected")),
                _ => Ok(()),
            }
        }

        fn names(&self) -> Vec<String> {
            self.files.lock().keys().cloned().collect()
        }
    }

    #[async_trait]
    impl Store for FakeStore {
        type File = ();

        async fn open_folder(&self) -> Result<(), FsError> {
            self.at(Step::OpenFolder).await
        }
        async fn create_new(&self, name: &str) -> Result<((), SystemTime), FsError> {
            if !matches!(self.fail, Some((Step::Create, _))) {
                // The file exists before the answer comes back.
                self.files.lock().insert(name.to_owned(), SystemTime::now());
            }
            self.at(Step::Create).await.map(|_| ((), SystemTime::now()))
        }
        async fn write(&self, _: &mut (), _: &[u8]) -> Result<(), FsError> {
            self.at(Step::Write).await
        }
        async fn flush(&self, _: &mut ()) -> Result<(), FsError> {
            self.at(Step::Flush).await
        }
        async fn read(&self, _: &mut (), name: &str, _: usize) -> Result<Vec<u8>, FsError> {
            self.at(Step::ReadBack).await?;
            Ok(probe_data(name))
        }
        async fn rename(&self, _: &mut (), from: &str, to: &str) -> Result<(), FsError> {
            self.at(Step::Rename).await?;
            let mut files = self.files.lock();
            let time = files.remove(from).unwrap_or_else(SystemTime::now);
            files.insert(to.to_owned(), time);
            Ok(())
        }
        async fn delete(&self, _: (), name: &str) -> Result<(), FsError> {
            self.at(Step::Delete).await?;
            self.files.lock().remove(name);
            Ok(())
        }
        async fn probe_files(&self) -> Result<Vec<Listed>, FsError> {
            let files = self.files.lock();
            Ok(files
                .iter()
                .map(|(name, modified)| Listed {
                    name: name.clone(),
                    modified: *modified,
                })
                .collect())
        }
        async fn is_present(&self, name: &str) -> Result<bool, FsError> {
            Ok(self.files.lock().contains_key(name))
        }
        async fn remove(&self, name: &str, afresh: bool) -> Result<bool, FsError> {
            self.removals.lock().push((name.to_owned(), afresh));
            Ok(self.files.lock().remove(name).is_some())
        }
        fn remove_in_background(&self, names: Vec<String>, _: &TaskTracker) {
            for name in &names {
                self.files.lock().remove(name);
            }
            self.background.lock().extend(names);
        }
    }

    fn failing(step: Step, problem: FsProblem) -> FakeStore {
        FakeStore {
            fail: Some((step, problem)),
            ..FakeStore::default()
        }
    }

    #[tokio::test]
    async fn a_successful_probe_leaves_nothing_and_needs_no_cleanup() {
        let store = FakeStore::default();
        let report = run(&store, &CancellationToken::new(), &TaskTracker::new()).await;
        assert!(report.succeeded(), "{report:?}");
        assert_eq!(report.cleanup, Cleanup::NotNeeded);
        assert_eq!(report.completed.len(), 9);
        assert!(store.names().is_empty());
    }

    #[tokio::test]
    async fn a_refused_create_made_nothing_to_remove() {
        let store = failing(Step::Create, FsProblem::AccessDenied);
        let report = run(&store, &CancellationToken::new(), &TaskTracker::new()).await;
        assert_eq!(report.failure.unwrap().step, Step::Create);
        assert_eq!(report.cleanup, Cleanup::NotNeeded);
        assert!(store.removals.lock().is_empty());
    }

    #[tokio::test]
    async fn a_failed_write_removes_the_file_over_the_same_connection() {
        let store = failing(Step::Write, FsProblem::DiskFull);
        let report = run(&store, &CancellationToken::new(), &TaskTracker::new()).await;
        assert_eq!(
            report.cleanup,
            Cleanup::Removed {
                names: vec![report.file.clone()]
            }
        );
        assert_eq!(*store.removals.lock(), vec![(report.file.clone(), false)]);
        assert!(store.names().is_empty());
    }

    #[tokio::test]
    async fn a_failed_rename_removes_both_names() {
        let store = failing(Step::Rename, FsProblem::AccessDenied);
        let report = run(&store, &CancellationToken::new(), &TaskTracker::new()).await;
        let removed: Vec<String> = store
            .removals
            .lock()
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        assert_eq!(removed, vec![report.file.clone(), report.renamed.clone()]);
        assert!(store.names().is_empty());
    }

    #[tokio::test]
    async fn an_interruption_mid_step_cleans_up_afresh() {
        for hang in [Step::Create, Step::Write, Step::Delete] {
            let store = FakeStore {
                hang: Some(hang),
                ..FakeStore::default()
            };
            let cancel = CancellationToken::new();
            let stop = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                stop.cancel();
            });
            let report = run(&store, &cancel, &TaskTracker::new()).await;
            let failure = report.failure.clone().unwrap();
            assert_eq!(
                (failure.step, failure.error.problem),
                (hang, FsProblem::Interrupted)
            );
            assert!(
                matches!(report.cleanup, Cleanup::Removed { .. }),
                "{report:?}"
            );
            assert!(store.removals.lock().iter().all(|(_, afresh)| *afresh));
            assert!(store.names().is_empty(), "{hang:?}: {:?}", store.names());
        }
    }

    #[tokio::test]
    async fn an_abandoned_probe_hands_its_file_to_a_background_removal() {
        let store = FakeStore {
            hang: Some(Step::Flush),
            ..FakeStore::default()
        };
        let cancel = CancellationToken::new();
        let abandoned = tokio::time::timeout(
            Duration::from_millis(50),
            run(&store, &cancel, &TaskTracker::new()),
        )
        .await;
        assert!(abandoned.is_err(), "the probe was still hanging");
        assert_eq!(store.background.lock().len(), 2);
        assert!(store.names().is_empty());
    }

    #[tokio::test]
    async fn only_probe_files_older_than_the_limit_are_swept() {
        let store = FakeStore::default();
        let now = SystemTime::now();
        let name = |tag| ProbeName::fresh(time::OffsetDateTime::now_utc(), Some(tag)).to_string();
        let (old, young) = (name("old"), name("young"));
        let lookalike = ".mssql-preflight-probe-notauuid.tmp".to_owned();
        {
            let mut files = store.files.lock();
            files.insert(old.clone(), now - STALE_AFTER * 2);
            files.insert(young.clone(), now - STALE_AFTER / 2);
            files.insert(lookalike.clone(), now - STALE_AFTER * 2);
        }
        let report = run(&store, &CancellationToken::new(), &TaskTracker::new()).await;
        assert_eq!(report.stale_removed, vec![old]);
        let mut left = vec![lookalike, young];
        left.sort();
        assert_eq!(store.names(), left);
    }

    #[tokio::test]
    async fn a_probe_holds_a_cleanup_token_until_it_has_cleaned_up() {
        let store = FakeStore {
            hang: Some(Step::Flush),
            ..FakeStore::default()
        };
        let cleanups = TaskTracker::new();
        cleanups.close();
        let cancel = CancellationToken::new();
        let probe = run(&store, &cancel, &cleanups);
        tokio::pin!(probe);
        let started = tokio::time::timeout(Duration::from_millis(50), &mut probe).await;
        assert!(started.is_err(), "the probe hangs at its flush");
        let waited = tokio::time::timeout(Duration::from_millis(50), cleanups.wait()).await;
        assert!(
            waited.is_err(),
            "the tracker did not wait for the hanging probe"
        );
        cancel.cancel();
        let report = probe.await;
        assert!(
            matches!(report.cleanup, Cleanup::Removed { .. }),
            "{report:?}"
        );
        assert!(cleanups.is_empty());
    }

    #[test]
    fn probe_data_differs_by_name_and_position() {
        let a = probe_data("a");
        let b = probe_data("b");
        assert_eq!(a.len(), PROBE_BYTES);
        assert_ne!(a, b);
        assert_ne!(a[..16], a[16..32]);
    }

    #[test]
    fn comparison_names_the_first_difference() {
        let mut read = probe_data("x");
        let written = read.clone();
        assert!(compare(&written, &read).is_ok());
        read[100] ^= 1;
        assert!(
            compare(&written, &read)
                .unwrap_err()
                .detail
                .contains("from byte 100")
        );
        assert!(compare(&written, &read[..10]).is_err());
    }
}
