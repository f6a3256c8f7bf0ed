//! `run`: load the target, select checks, run them, report, exit.

use std::sync::Arc;

use super::args::RunArgs;
use super::output::{check_writable, print, stdout_style, write_file};
use super::progress::Bar;
use super::signals;
use super::usage_error;
use crate::catalog::Catalog;
use crate::context::RunSettings;
use crate::engine::{self, EngineOptions};
use crate::report::{Format, Style};
use crate::selection::{self, Plan, Selection};
use crate::target::{SecretInputs, Target, TargetOverrides};

/// Everything a run needs, loaded and validated; any problem is a usage error.
pub struct Prepared {
    pub target: Arc<Target>,
    pub plan: Plan,
    pub options: EngineOptions,
    /// No progress display (`-q`).
    pub quiet: bool,
}

pub fn prepare(args: &RunArgs) -> Result<Prepared, String> {
    if args.target.is_none() && args.host.is_none() {
        return Err(
            "nothing to check: give a target file with --target FILE (see examples/target.toml) or a server with --host NAME"
                .to_owned(),
        );
    }
    for (_, path) in &args.reports {
        check_writable(path)?;
    }
    let catalog = Catalog::load(&args.packs.checks_dirs)?;
    super::print_load_warnings(&catalog);
    let inputs = SecretInputs::from_stdin(args.password_stdin, args.backup_password_stdin)
        .map_err(|e| format!("cannot read passwords from standard input: {e}"))?;
    let overrides = TargetOverrides {
        host: args.host.clone(),
        port: args.port,
        instance: args.instance.clone(),
        database: args.database.clone(),
        trust_server_certificate: args.trust_server_cert,
    };
    let target =
        Target::load(args.target.as_deref(), &overrides, inputs).map_err(|e| e.to_string())?;
    target
        .validate_checks(&catalog.registry)
        .map_err(|e| e.to_string())?;
    let plan = plan_for(args, &catalog, &target)?;
    let options = engine_options(args);
    Ok(Prepared {
        target: Arc::new(target),
        plan,
        options,
        quiet: args.quiet,
    })
}

/// The checks `args` select for `target` (its `[app] kind` chooses the
/// profile when `--profile` does not).
pub fn plan_for(args: &RunArgs, catalog: &Catalog, target: &Target) -> Result<Plan, String> {
    let (profile, profile_reason) =
        Selection::profile_for(args.profile.clone(), target.app.as_ref().map(|a| a.kind));
    selection::plan(
        &catalog.registry,
        &catalog.profiles,
        &Selection {
            profile,
            profile_reason,
            include: args.checks.clone(),
            exclude: args.skips.clone(),
        },
    )
}

/// How the engine runs, as the flags say.
pub fn engine_options(args: &RunArgs) -> EngineOptions {
    EngineOptions {
        settings: RunSettings {
            timeout: args.timeout,
            intrusive: args.intrusive,
            ..RunSettings::default()
        },
        deadline: args.deadline,
        retry_timeout: args.retry_timeout,
        fail_on: args.fail_on,
        ..EngineOptions::default()
    }
}

pub fn run(args: RunArgs) -> i32 {
    if args.estate.inventory.is_some() {
        return super::estate::run(args);
    }
    let prepared = match prepare(&args) {
        Ok(p) => p,
        Err(message) => return usage_error(message),
    };
    let run = execute(&prepared);
    if let Err(message) = report(&run, &args) {
        return usage_error(message);
    }
    run.report.exit_code
}

/// Runs the prepared checks, showing progress on a terminal; Ctrl-C,
/// SIGTERM and SIGHUP cancel them (see `signals`).
pub fn execute(prepared: &Prepared) -> engine::Run {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let cancel = prepared.options.settings.cancel.clone();
    runtime.spawn(signals::cancel_on_signal(cancel.clone()));
    let run = runtime.block_on(engine::run(
        prepared.target.clone(),
        &prepared.plan,
        &prepared.options,
        &if prepared.quiet {
            Bar::hidden()
        } else {
            Bar::for_stderr()
        },
    ));
    // The engine waited for the removals of abandoned probe files; other
    // probes may leave sockets closing in the background: not waited for.
    runtime.shutdown_background();
    let mut run = run;
    if cancel.is_cancelled() {
        let signal = signals::received().unwrap_or(signals::Signal::Interrupt);
        run.report.interrupt(signal.name(), signal.exit_code());
    }
    run
}

/// Prints the report on standard output and writes the `--report` files.
pub fn report(run: &engine::Run, args: &RunArgs) -> Result<(), String> {
    let report = &run.report;
    let style = match args.format {
        Format::Table => stdout_style(args),
        _ => Style {
            show: args.show,
            quiet: args.quiet,
            ..Style::PLAIN
        },
    };
    print(&report.render(args.format, style));
    for (format, path) in &args.reports {
        write_file(path, &report.render(*format, Style::PLAIN))?;
    }
    Ok(())
}
