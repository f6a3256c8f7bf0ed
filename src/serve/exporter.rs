//! The exporter's state: the inventory's targets, each with its cached last
//! probe and a lock that keeps its probes from overlapping; a bound on
//! probes running at once; and the counters `/metrics` shows.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Semaphore;

use crate::catalog::Catalog;
use crate::engine::{self, EngineOptions, Silent};
use crate::outcome::Verdict;
use crate::selection::{self, Plan, Selection};
use crate::target::Target;

use super::exposition;

/// How the exporter probes.
#[derive(Debug, Clone)]
pub struct ExporterOptions {
    /// A target's result is reused for this long: a scrape storm does not
    /// become a login storm.
    pub min_interval: Duration,
    /// At most this many probes run at once; more wait their turn.
    pub max_probes: usize,
    /// `--profile` for probes that name none (else the target's `[app] kind`).
    pub profile: Option<String>,
}

/// One target of the inventory.
pub struct Slot {
    pub target: Arc<Target>,
    /// The inventory's per-target limits.
    pub engine: EngineOptions,
    /// Held while the target is probed: probes of one target never overlap.
    cache: tokio::sync::Mutex<HashMap<String, Arc<Probed>>>,
    /// The last verdict and when, for the index page.
    last: Mutex<Option<(Verdict, time::OffsetDateTime)>>,
}

impl Slot {
    pub fn new(target: Arc<Target>, engine: EngineOptions) -> Slot {
        Slot {
            target,
            engine,
            cache: Default::default(),
            last: Mutex::new(None),
        }
    }
}

/// A finished probe: its exposition, ready to send.
pub struct Probed {
    pub exposition: String,
    at: Instant,
}

/// Why a probe request was not answered with metrics.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not in the inventory: the exporter never probes arbitrary hosts.
    UnknownTarget(String),
    UnknownProfile(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::UnknownTarget(name) => write!(f, "no target `{name}` in the inventory"),
            Refusal::UnknownProfile(message) => f.write_str(message),
        }
    }
}

/// What `/metrics` counts, per target.
#[derive(Default, Clone)]
pub struct Counters {
    pub probes: u64,
    pub cached: u64,
    pub timed_out: u64,
    pub probe_seconds: f64,
}

/// One counter of [`Counters`], as a metric's value.
type CounterOf = fn(&Counters) -> f64;

pub struct Exporter {
    pub targets: BTreeMap<String, Slot>,
    catalog: Catalog,
    options: ExporterOptions,
    probes: Semaphore,
    /// Probes waiting for a slot, and running, now.
    waiting: AtomicUsize,
    running: AtomicUsize,
    /// The most probes that ran at once since the start: the bound at work.
    running_peak: AtomicUsize,
    counters: Mutex<BTreeMap<String, Counters>>,
    refused: Mutex<BTreeMap<&'static str, u64>>,
}

impl Exporter {
    pub fn new(
        targets: BTreeMap<String, Slot>,
        catalog: Catalog,
        options: ExporterOptions,
    ) -> Self {
        Exporter {
            targets,
            catalog,
            probes: Semaphore::new(options.max_probes.max(1)),
            waiting: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            running_peak: AtomicUsize::new(0),
            options,
            counters: Mutex::new(BTreeMap::new()),
            refused: Mutex::new(BTreeMap::new()),
        }
    }

    /// The checks a probe of `slot` with `profile` runs.
    fn plan(&self, slot: &Slot, profile: Option<&str>) -> Result<Plan, Refusal> {
        let wanted = profile
            .map(str::to_owned)
            .or_else(|| self.options.profile.clone());
        let (profile, profile_reason) =
            Selection::profile_for(wanted, slot.target.app.as_ref().map(|a| a.kind));
        selection::plan(
            &self.catalog.registry,
            &self.catalog.profiles,
            &Selection {
                profile,
                profile_reason,
                ..Selection::default()
            },
        )
        .map_err(Refusal::UnknownProfile)
    }

    /// The target's metrics: the cached probe when it is younger than the
    /// minimum interval, else a new probe (waiting for one in progress, and
    /// for a free probe slot).
    pub async fn probe(&self, name: &str, profile: Option<&str>) -> Result<Arc<Probed>, Refusal> {
        let slot = self
            .targets
            .get(name)
            .ok_or_else(|| Refusal::UnknownTarget(name.to_owned()))?;
        let plan = self.plan(slot, profile)?;
        let key = plan.profile.name.clone();
        let mut cache = slot.cache.lock().await;
        if let Some(probed) = cache.get(&key)
            && probed.at.elapsed() < self.options.min_interval
        {
            self.count(name, |c| c.cached += 1);
            return Ok(probed.clone());
        }
        let waiting = Gauge::up(&self.waiting);
        let _permit = self.probes.acquire().await.expect("never closed");
        drop(waiting);
        let running = Gauge::up(&self.running);
        self.running_peak.fetch_max(running.now, Ordering::Relaxed);
        let started = Instant::now();
        let run = engine::run(slot.target.clone(), &plan, &slot.engine, &Silent).await;
        let took = started.elapsed();
        drop(running);
        let finished = time::OffsetDateTime::now_utc();
        let exposition = crate::redact::scrub(&exposition::probe(
            name,
            &run.report,
            took.as_secs_f64(),
            finished,
        ))
        .into_owned();
        *slot.last.lock() = Some((run.report.verdict, finished));
        self.count(name, |c| {
            c.probes += 1;
            c.probe_seconds += took.as_secs_f64();
        });
        let probed = Arc::new(Probed {
            exposition,
            at: Instant::now(),
        });
        cache.insert(key, probed.clone());
        Ok(probed)
    }

    pub fn count(&self, name: &str, change: impl FnOnce(&mut Counters)) {
        change(self.counters.lock().entry(name.to_owned()).or_default());
    }

    pub fn refuse(&self, reason: &'static str) {
        *self.refused.lock().entry(reason).or_default() += 1;
    }

    /// The last verdict of every target and when it was reached.
    pub fn last_verdicts(&self) -> Vec<(&str, Option<(Verdict, time::OffsetDateTime)>)> {
        self.targets
            .iter()
            .map(|(name, slot)| (name.as_str(), *slot.last.lock()))
            .collect()
    }

    /// The exporter's own metrics (`/metrics`).
    pub fn own_metrics(&self) -> String {
        let mut out = String::new();
        let counters = self.counters.lock().clone();
        exposition::family(
            &mut out,
            "mssql_preflight_exporter_targets",
            "gauge",
            "Targets in the exporter's inventory.",
        )
        .sample(&[], self.targets.len() as f64);
        let gauges = [
            (
                "mssql_preflight_exporter_max_probes",
                "The bound on probes running at once (--max-probes).",
                self.options.max_probes.max(1),
            ),
            (
                "mssql_preflight_exporter_probes_running",
                "Probes running now.",
                self.running.load(Ordering::Relaxed),
            ),
            (
                "mssql_preflight_exporter_probes_running_peak",
                "The most probes that ran at once since the exporter started.",
                self.running_peak.load(Ordering::Relaxed),
            ),
            (
                "mssql_preflight_exporter_probes_waiting",
                "Probes waiting for a free slot under --max-probes.",
                self.waiting.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in gauges {
            exposition::family(&mut out, name, "gauge", help).sample(&[], value as f64);
        }
        let per_target: [(&str, &str, CounterOf); 3] = [
            (
                "mssql_preflight_exporter_probes_total",
                "Probes run (checks run against the target).",
                |c| c.probes as f64,
            ),
            (
                "mssql_preflight_exporter_cached_answers_total",
                "Probe requests answered from the target's last probe (within the minimum interval).",
                |c| c.cached as f64,
            ),
            (
                "mssql_preflight_exporter_probe_timeouts_total",
                "Probe requests that ran out of the request timeout (the probe goes on and is cached).",
                |c| c.timed_out as f64,
            ),
        ];
        for (name, help, value) in per_target {
            let mut family = exposition::family(&mut out, name, "counter", help);
            for target in self.targets.keys() {
                let c = counters.get(target).cloned().unwrap_or_default();
                family.sample(&[("target", target)], value(&c));
            }
        }
        let mut durations = exposition::family(
            &mut out,
            "mssql_preflight_exporter_probe_duration_seconds",
            "summary",
            "How long probes took.",
        );
        for target in self.targets.keys() {
            let c = counters.get(target).cloned().unwrap_or_default();
            durations.sample_as("_sum", &[("target", target)], c.probe_seconds);
            durations.sample_as("_count", &[("target", target)], c.probes as f64);
        }
        let mut refused = exposition::family(
            &mut out,
            "mssql_preflight_exporter_refused_requests_total",
            "counter",
            "Requests refused: unknown target or profile, bad request, wrong method or path.",
        );
        for (reason, n) in self.refused.lock().iter() {
            refused.sample(&[("reason", reason)], *n as f64);
        }
        out
    }
}

/// One more on a gauge while it lives (a probe waiting, or running), also
/// when the request that holds it is dropped.
struct Gauge<'a> {
    gauge: &'a AtomicUsize,
    /// The gauge's value with this one counted.
    now: usize,
}

impl<'a> Gauge<'a> {
    fn up(gauge: &'a AtomicUsize) -> Gauge<'a> {
        let now = gauge.fetch_add(1, Ordering::Relaxed) + 1;
        Gauge { gauge, now }
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.gauge.fetch_sub(1, Ordering::Relaxed);
    }
}
