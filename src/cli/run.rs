//! `run`: load the target, select checks, run them, report, exit.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::args::RunArgs;
use super::output::{check_writable, print, stdout_style, write_file};
use super::progress::Bar;
use super::usage_error;
use crate::catalog::Catalog;
use crate::context::RunSettings;
use crate::engine::{self, EngineOptions};
use crate::exit;
use crate::probe::write_probe;
use crate::report::{Format, Style};
use crate::selection::{self, Plan, Selection};
use crate::target::{SecretInputs, Target, TargetOverrides};

/// Everything a run needs, loaded and validated; any problem is a usage error.
pub struct Prepared {
    pub target: Arc<Target>,
    pub plan: Plan,
    pub options: EngineOptions,
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
    let plan = selection::plan(
        &catalog.registry,
        &catalog.profiles,
        &Selection {
            profile: args.profile.clone(),
            include: args.checks.clone(),
            exclude: args.skips.clone(),
        },
    )?;
    let options = EngineOptions {
        settings: RunSettings {
            timeout: args.timeout,
            intrusive: args.intrusive,
            ..RunSettings::default()
        },
        deadline: args.deadline,
        retry_timeout: args.retry_timeout,
        ..EngineOptions::default()
    };
    Ok(Prepared {
        target: Arc::new(target),
        plan,
        options,
    })
}

pub fn run(args: RunArgs) -> i32 {
    let prepared = match prepare(&args) {
        Ok(p) => p,
        Err(message) => return usage_error(message),
    };
    let run = execute(&prepared);
    if let Err(message) = report(&run, &args) {
        return usage_error(message);
    }
    exit_code(&prepared, &run, &args)
}

/// Runs the prepared checks, showing progress on a terminal; Ctrl-C cancels
/// them (see `interrupt_on_ctrl_c`).
pub fn execute(prepared: &Prepared) -> engine::Run {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let cancel = prepared.options.settings.cancel.clone();
    runtime.spawn(interrupt_on_ctrl_c(cancel));
    let run = runtime.block_on(engine::run(
        prepared.target.clone(),
        &prepared.plan,
        &prepared.options,
        &Bar::for_stderr(),
    ));
    // Removals of abandoned probe files must finish; other probes may leave
    // sockets closing in the background: do not wait for those.
    runtime.block_on(write_probe::settle_cleanups(write_probe::CLEANUP_TIMEOUT));
    runtime.shutdown_background();
    run
}

/// Prints the report on standard output and writes the `--report` files.
pub fn report(run: &engine::Run, args: &RunArgs) -> Result<(), String> {
    let report = &run.report;
    let style = match args.format {
        Format::Table => stdout_style(args.color),
        _ => Style::PLAIN,
    };
    print(&report.render(args.format, style));
    for (format, path) in &args.reports {
        write_file(path, &report.render(*format, Style::PLAIN))?;
    }
    Ok(())
}

/// Interrupted, or what the report's summary says.
pub fn exit_code(prepared: &Prepared, run: &engine::Run, args: &RunArgs) -> i32 {
    if prepared.options.settings.cancel.is_cancelled() {
        return exit::INTERRUPTED;
    }
    exit::for_summary(&run.report.summary, args.fail_on)
}

/// The first Ctrl-C cancels the run so that probes can undo what they did;
/// a second one quits at once.
async fn interrupt_on_ctrl_c(cancel: CancellationToken) {
    if super::console::interrupted().await.is_err() {
        return;
    }
    eprintln!(
        "\nInterrupted: removing probe files and finishing the report (press Ctrl-C again to quit at once)."
    );
    cancel.cancel();
    if super::console::interrupted().await.is_ok() {
        eprintln!("Quit without cleaning up: probe files may remain (the next run removes them).");
        std::process::exit(exit::INTERRUPTED);
    }
}
