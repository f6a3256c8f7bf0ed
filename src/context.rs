//! What a check sees while it runs: the target, the run's settings, its
//! parameters, and facts about the target gathered at most once per run.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::certificate::TrustStores;
use crate::finding::Stop;
use crate::meta::CheckMeta;
use crate::params::Params;
use crate::target::{Target, Unset};

/// Settings of one run that checks and probes consult.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The limit for each single network operation.
    pub timeout: Duration,
    /// Intrusive checks may change the target (write a test backup).
    pub intrusive: bool,
    /// Cancelled when the user interrupts the run (Ctrl-C). Checks that
    /// change something watch it to stop early and undo what they did.
    pub cancel: CancellationToken,
    /// Work that undoes what checks changed: a probe holds a token of it
    /// while it may have a file to remove, and abandoned files are removed
    /// as its tasks. After an interruption the engine waits for it (under
    /// a bound) and no longer than that, and again (under the actions'
    /// cleanup limit) before the run ends.
    pub cleanups: TaskTracker,
    /// The trusted certificates, loaded once per CA file (or the system's
    /// roots) and shared by every target the settings are cloned for.
    pub trust_stores: TrustStores,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            timeout: Duration::from_secs(5),
            intrusive: false,
            cancel: CancellationToken::new(),
            cleanups: TaskTracker::new(),
            trust_stores: TrustStores::default(),
        }
    }
}

/// A fact about the target: gathered by a probe once per run, shared by every
/// check that needs it. A fact whose prerequisite failed returns
/// `Stop::Skip` with the reason, so dependent checks skip at once.
pub trait Fact: 'static {
    type Output: Send + Sync + 'static;

    fn gather(ctx: &RunContext) -> impl Future<Output = Result<Self::Output, Stop>> + Send;
}

/// Something the run does to the target, with what came of it as data:
/// see `crate::actions`.
pub trait Action: Send + Sync {
    type Output: Send + Sync + 'static;

    /// Changes the target in a way it keeps (`--intrusive` only).
    const INTRUSIVE: bool;

    /// How long undoing it may take once the run is interrupted: the engine
    /// waits that long (see [`crate::actions::CLEANUP_LIMIT`]) for the run's cleanups.
    const CLEANUP_LIMIT: Duration;

    /// What it does, in words for a skip's reason.
    fn describe(&self) -> String;

    fn run(&self, ctx: &RunContext) -> impl Future<Output = Result<Self::Output, Stop>> + Send;
}

type Memo = Arc<OnceCell<Result<Arc<dyn Any + Send + Sync>, Stop>>>;

/// Facts keyed by their type, each computed at most once even when many
/// checks ask for it concurrently.
#[derive(Default)]
struct FactStore {
    cells: Mutex<HashMap<TypeId, Memo>>,
}

impl FactStore {
    fn cell(&self, key: TypeId) -> Memo {
        let mut cells = self.cells.lock();
        cells.entry(key).or_default().clone()
    }
}

pub struct RunContext {
    pub target: Arc<Target>,
    pub settings: RunSettings,
    params: Params,
    facts: FactStore,
}

impl RunContext {
    pub fn new(target: Arc<Target>, settings: RunSettings, params: Params) -> Self {
        RunContext {
            target,
            settings,
            params,
            facts: FactStore::default(),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.settings.timeout
    }

    /// Cancelled when the user interrupts the run.
    pub fn cancelled(&self) -> &CancellationToken {
        &self.settings.cancel
    }

    /// The run's cleanup work (see [`RunSettings::cleanups`]).
    pub fn cleanups(&self) -> &TaskTracker {
        &self.settings.cleanups
    }

    /// The fact `F`, gathering it if no check has asked for it yet.
    pub async fn fact<F: Fact>(&self) -> Result<Arc<F::Output>, Stop> {
        let cell = self.facts.cell(TypeId::of::<F>());
        let stored = cell
            .get_or_init(|| async {
                let name = std::any::type_name::<F>();
                let started = std::time::Instant::now();
                tracing::debug!(fact = name, "gathering");
                let gathered = F::gather(self).await;
                match &gathered {
                    Ok(_) => tracing::debug!(fact = name, took = ?started.elapsed(), "gathered"),
                    Err(stop) => tracing::debug!(fact = name, took = ?started.elapsed(), reason = stop.reason(), "not gathered"),
                }
                gathered.map(|value| Arc::new(value) as Arc<dyn Any + Send + Sync>)
            })
            .await
            .clone()?;
        Ok(stored
            .downcast::<F::Output>()
            .expect("facts are stored under their own type"))
    }

    /// The fact `F` if some check already gathered it successfully; never
    /// starts a probe. Bundles use it to collect what a run saw.
    pub fn gathered<F: Fact>(&self) -> Option<Arc<F::Output>> {
        let cell = self.facts.cell(TypeId::of::<F>());
        let stored = cell.get()?.as_ref().ok()?.clone();
        stored.downcast::<F::Output>().ok()
    }

    /// What became of fact `F`: its value, why it could not be gathered, or
    /// `None` when no check asked for it. Never starts a probe.
    pub fn outcome<F: Fact>(&self) -> Option<Result<Arc<F::Output>, Stop>> {
        let cell = self.facts.cell(TypeId::of::<F>());
        let stored = cell.get()?.clone();
        Some(stored.map(|value| {
            value
                .downcast::<F::Output>()
                .expect("facts are stored under their own type")
        }))
    }

    /// Runs `action` under the run's rules: an intrusive one only with
    /// `--intrusive`, none once the run was interrupted. What it leaves to
    /// undo it hands to [`RunContext::cleanups`].
    pub async fn act<A: Action>(&self, action: A) -> Result<A::Output, Stop> {
        if A::INTRUSIVE && !self.settings.intrusive {
            return Err(Stop::not_configured(format!(
                "{} would change the target, so it runs only with --intrusive",
                action.describe()
            )));
        }
        if self.settings.cancel.is_cancelled() {
            return Err(Stop::error(format!(
                "{} was not started: the run was interrupted",
                action.describe()
            )));
        }
        tracing::debug!(action = %action.describe(), "acting");
        action.run(self).await
    }

    /// The profile's or target file's value of parameter `name` of the
    /// check `id`, when either sets it: for facts whose probe a check's
    /// parameter steers (the ports WinRM is looked for on).
    pub fn param_by_id<T: DeserializeOwned>(
        &self,
        id: &str,
        name: &str,
    ) -> Result<Option<T>, Stop> {
        self.params.set_value(id, name)
    }

    /// The parameters of `check` as its typed struct: the target file's
    /// values, else the profile's, else the check's defaults.
    pub fn params<P: DeserializeOwned>(&self, check: &CheckMeta) -> Result<P, Stop> {
        self.params.of(check)
    }
}

/// A setting the target lacks: the checks and facts that need it skip as
/// not configured, naming it.
impl From<Unset> for Stop {
    fn from(unset: Unset) -> Stop {
        Stop::not_configured(unset.to_string())
    }
}
