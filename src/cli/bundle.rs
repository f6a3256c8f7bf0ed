//! `bundle`: run the checks like `run`, then write everything a support
//! engineer needs into one zip.

use std::path::PathBuf;

use super::args::{BundleArgs, RunArgs};
use super::output::check_writable;
use super::run::{execute, prepare, report};
use super::usage_error;
use crate::bundle::environment::Environment;
use crate::bundle::log::LogCapture;
use crate::bundle::target_file::{self, CommandLine};
use crate::bundle::{self as support, Inputs};

pub fn bundle(args: BundleArgs, log: LogCapture) -> i32 {
    if args.run.estate.inventory.is_some() {
        return super::estate_bundle::bundle(args, log);
    }
    let prepared = match prepare(&args.run) {
        Ok(p) => p,
        Err(message) => return usage_error(message),
    };
    let now = time::OffsetDateTime::now_utc();
    let default_name = || support::default_path(&prepared.target.server.host, now);
    let output = match &args.output {
        // A directory holds the zip under its default name.
        Some(dir) if dir.is_dir() => dir.join(default_name()),
        Some(file) => file.clone(),
        None => default_name(),
    };
    if let Err(message) = check_writable(&output) {
        return usage_error(message);
    }
    let packs = match user_packs(&args.run) {
        Ok(p) => p,
        Err(message) => return usage_error(message),
    };
    // Before the runtime starts threads: the local time zone offset is only
    // readable while the process has one thread.
    let environment = Environment::gather(&prepared.target);
    let target_toml = target_file::redacted(args.run.target.as_deref(), &command_line(&args.run));

    let run = execute(&prepared);
    if let Err(message) = report(&run, &args.run) {
        return usage_error(message);
    }
    let members = support::collect(
        &run,
        Inputs {
            environment: serde_json::to_value(&environment).unwrap_or_default(),
            target_toml,
            debug_log: log.contents(),
            packs,
        },
    );
    if let Err(message) = support::write_zip(&members, &output, now) {
        return usage_error(message);
    }
    eprintln!(
        "Support bundle written to {} ({} files). Secrets are replaced by <redacted>; open report.html in it first.",
        output.display(),
        members.paths().count()
    );
    run.report.exit_code
}

/// The user's pack files, named `DIR-NAME/FILE` so two directories cannot clash.
pub(super) fn user_packs(args: &RunArgs) -> Result<Vec<(String, String)>, String> {
    let mut packs = Vec::new();
    for (index, dir) in args.packs.checks_dirs.iter().enumerate() {
        let dir_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("dir{}", index + 1));
        let mut files = crate::pack::read_dir(dir)?;
        let profiles = dir.join(crate::pack::PROFILES_FILE);
        if profiles.is_file() {
            let text = std::fs::read_to_string(&profiles)
                .map_err(|e| format!("cannot read {}: {e}", profiles.display()))?;
            files.push((profiles.display().to_string(), text));
        }
        for (path, text) in files {
            let name = PathBuf::from(&path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(path);
            packs.push((format!("{}-{dir_name}/{name}", index + 1), text));
        }
    }
    Ok(packs)
}

/// The target settings given as flags, for the header of target.toml.
fn command_line(args: &RunArgs) -> CommandLine {
    let mut flags = Vec::new();
    let mut flag = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            flags.push((name.to_owned(), value));
        }
    };
    flag("--host", args.host.clone());
    flag("--port", args.port.map(|p| p.to_string()));
    flag("--instance", args.instance.clone());
    flag("--database", args.database.clone());
    flag("--sql-user", args.sql_user.clone());
    flag("--backup-user", args.backup_user.clone());
    flag("--backup-destination", args.backup_destination.clone());
    flag(
        "--trust-server-cert",
        args.trust_server_cert.then(String::new),
    );
    CommandLine { flags }
}
