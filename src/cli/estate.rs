//! `run --inventory`: many targets in one run, one estate report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;

use super::args::RunArgs;
use super::estate_progress::EstateBars;
use super::output::{check_writable, print, stdout_style, write_file};
use super::run::{engine_options, plan_for};
use super::signals;
use super::usage_error;
use crate::catalog::Catalog;
use crate::engine::Run;
use crate::estate::rerun::Rerun;
use crate::estate::runner::{self, Member};
use crate::estate::{EstateReport, Inventory, TargetReport};
use crate::report::{Format, Style};
use crate::target::{SecretInputs, TargetOverrides};

/// Flags of `run` and `bundle` for many targets.
#[derive(Debug, Args, Clone, Default)]
pub struct EstateArgs {
    /// Check every target of an inventory: a TOML file with one [[target]] table per server (`name`, `tags`, and the keys of a target file; [defaults] inherited) or a folder of target files (each named by its file stem).
    #[arg(long, value_name = "FILE|DIR", conflicts_with_all = ["target", "host", "port", "instance", "database", "sql_user", "backup_user", "backup_destination"])]
    pub inventory: Option<PathBuf>,
    /// Only the inventory's targets with this tag, or whose name matches this glob (repeatable).
    #[arg(long, value_name = "TAG|NAME-GLOB", requires = "inventory")]
    pub only: Vec<String>,
    /// How many targets are checked at once (default: 8 per CPU core, from 4 to 64).
    #[arg(long, value_name = "N", requires = "inventory", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Re-run only the targets, and their checks, that were not ready or incomplete in this estate report (JSON); the report written merges the two.
    #[arg(long, value_name = "PREVIOUS.json", requires = "inventory")]
    pub rerun_failed: Option<PathBuf>,
}

/// The estate, loaded and validated; any problem is a usage error.
pub struct PreparedEstate {
    pub inventory: String,
    pub members: Vec<Member>,
    pub jobs: usize,
    /// The settings every target shares: Ctrl-C cancels them all.
    pub settings: crate::context::RunSettings,
    /// With `--rerun-failed`: the previous report the fresh results merge into.
    pub rerun: Option<Rerun>,
}

pub fn prepare(args: &RunArgs) -> Result<PreparedEstate, String> {
    let path = args
        .estate
        .inventory
        .as_ref()
        .ok_or("--inventory names no inventory")?;
    for (_, report) in &args.reports {
        check_writable(report)?;
    }
    let inventory = Inventory::load(path)?;
    let catalog = Catalog::load(&args.packs.checks_dirs)?;
    super::print_load_warnings(&catalog);
    let mut selected = inventory.select(&args.estate.only)?;
    let rerun = args
        .estate
        .rerun_failed
        .as_deref()
        .map(Rerun::load)
        .transpose()?;
    if let Some(rerun) = &rerun {
        selected.retain(|e| rerun.checks_for(&e.name).is_some());
    }
    let from_stdin = args.password_stdin || args.backup_password_stdin;
    if from_stdin && selected.len() > 1 {
        return Err(format!(
            "--password-stdin and --backup-password-stdin read one password, and {} targets are selected: give each target its password with password_env or password_file (or select one with --only)",
            selected.len()
        ));
    }
    let overrides = TargetOverrides {
        trust_server_certificate: args.trust_server_cert,
        ..TargetOverrides::default()
    };
    let shared = engine_options(args);
    let mut stdin = Some(
        SecretInputs::from_stdin(args.password_stdin, args.backup_password_stdin)
            .map_err(|e| format!("cannot read passwords from standard input: {e}"))?,
    );
    let allow_prompt = stdin.as_ref().is_some_and(|s| s.allow_prompt);
    let mut members = Vec::with_capacity(selected.len());
    for entry in selected {
        let inputs = stdin.take().unwrap_or(SecretInputs {
            allow_prompt,
            ..SecretInputs::default()
        });
        let target = entry.load(&overrides, inputs)?;
        catalog
            .validate_target(&target)
            .map_err(|e| e.to_string())?;
        let mut plan = plan_for(args, &catalog, &target)
            .map_err(|e| format!("target `{}`: {e}", entry.name))?;
        if let Some(again) = rerun.as_ref().and_then(|r| r.checks_for(&entry.name)) {
            plan.checks.retain(|c| again.contains(c.meta().id.as_ref()));
            if plan.checks.is_empty() {
                continue;
            }
        }
        let mut options = shared.clone();
        // Cancellation and the trust stores are shared (Ctrl-C stops every
        // target; a CA file named by many targets is read once); cleanups are
        // each target's own, so the engine, which waits for a run's
        // cleanups as it ends, never waits for another target's.
        options.settings.cleanups = tokio_util::task::TaskTracker::new();
        if let Some(timeout) = entry.timeout {
            options.settings.timeout = timeout;
        }
        if let Some(deadline) = entry.deadline {
            options.deadline = deadline;
        }
        members.push(Member {
            name: entry.name.clone(),
            tags: entry.tags.clone(),
            target: Arc::new(target),
            target_toml: entry.target_toml().to_owned(),
            plan,
            options,
        });
    }
    Ok(PreparedEstate {
        inventory: path.display().to_string(),
        members,
        jobs: args
            .estate
            .jobs
            .map_or_else(runner::default_jobs, usize::from),
        settings: shared.settings,
        rerun,
    })
}

pub fn run(args: RunArgs) -> i32 {
    let prepared = match prepare(&args) {
        Ok(p) => p,
        Err(message) => return usage_error(message),
    };
    let estate = execute(prepared, args.quiet);
    match report(&estate, &args) {
        Ok(()) => estate.exit_code,
        Err(message) => usage_error(message),
    }
}

/// Runs every target on one runtime, showing progress on a terminal;
/// Ctrl-C, SIGTERM and SIGHUP cancel them all.
pub fn execute(prepared: PreparedEstate, quiet: bool) -> EstateReport {
    execute_keeping(prepared, quiet, |_, _| ()).0
}

/// `execute`, also keeping what `keep` makes of each target's finished run
/// (in the order targets finish) before the run is released.
pub fn execute_keeping<T>(
    prepared: PreparedEstate,
    quiet: bool,
    keep: impl Fn(&Member, Run) -> T,
) -> (EstateReport, Vec<T>) {
    let started_at = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let cancel = prepared.settings.cancel.clone();
    runtime.spawn(signals::cancel_on_signal(cancel.clone()));
    let bars = EstateBars::for_stderr(prepared.members.len(), quiet);
    let (targets, kept): (Vec<TargetReport>, Vec<T>) = runtime
        .block_on(runner::run_all(
            prepared.members,
            prepared.jobs,
            &bars,
            |member, run| {
                let report = TargetReport {
                    name: member.name.clone(),
                    tags: member.tags.clone(),
                    report: run.report.clone(),
                };
                (report, keep(member, run))
            },
        ))
        .into_iter()
        .unzip();
    bars.finish();
    runtime.shutdown_background();
    let mut targets = targets;
    if cancel.is_cancelled() {
        let signal = signals::received().unwrap_or(signals::Signal::Interrupt);
        for target in &mut targets {
            target.report.interrupt(signal.name(), signal.exit_code());
        }
    }
    let duration_ms = started.elapsed().as_millis() as u64;
    let estate = match prepared.rerun {
        Some(rerun) => rerun.merge(prepared.inventory, started_at, duration_ms, targets),
        None => EstateReport::new(prepared.inventory, started_at, duration_ms, targets),
    };
    (estate, kept)
}

/// Prints the estate report on standard output and writes the `--report` files.
pub fn report(estate: &EstateReport, args: &RunArgs) -> Result<(), String> {
    let style = match args.format {
        Format::Table => stdout_style(args),
        _ => Style::PLAIN,
    };
    print(&estate.render(args.format, style));
    for (format, path) in &args.reports {
        write_file(path, &estate.render(*format, Style::PLAIN))?;
    }
    Ok(())
}
