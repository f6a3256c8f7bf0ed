//! `demo`: two emulated SQL Servers inside this process — one healthy, one
//! with the classic mistakes — and the real reports of every check against each.

use std::time::Duration;

use mssql_emulator::{Emulator, EmulatorOptions, Scenario};

use super::args::RunArgs;
use super::output::{print, stdout_style};
use super::progress::Bar;
use super::run::prepare;
use super::usage_error;
use crate::emulated::write_target;
use crate::engine;
use crate::exit;
use crate::report::Format;

/// The two personalities the demonstration shows, with what to look for.
const SERVERS: [(&str, &str); 2] = [
    ("sql2022-healthy", "a healthy SQL Server 2022"),
    (
        "classic-mistakes",
        "the classic mistakes: a certificate for another host name, ForceEncryption off, and a backup account without db_backupoperator",
    ),
];

pub fn demo(timeout: Duration) -> i32 {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let code = runtime.block_on(async {
        for (i, (name, what)) in SERVERS.iter().enumerate() {
            if let Err(message) = show(i + 1, name, what, timeout).await {
                return usage_error(message);
            }
        }
        print(
            "The demonstration ran. Point the tool at your own server with `mssql-preflight run --target FILE` (see examples/target.toml).\n",
        );
        exit::OK
    });
    runtime.shutdown_background();
    code
}

async fn show(number: usize, name: &str, what: &str, timeout: Duration) -> Result<(), String> {
    let scenario = Scenario::builtin(name)
        .ok_or_else(|| format!("the built-in scenario `{name}` is missing (a packaging bug)"))?;
    let options = EmulatorOptions {
        browser_port: Some(0),
        ..EmulatorOptions::default()
    };
    let emulator = Emulator::start(scenario, options)
        .await
        .map_err(|e| format!("cannot start the emulated server `{name}`: {e}"))?;
    let dir =
        tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let files = write_target(&emulator, dir.path(), name)
        .map_err(|e| format!("cannot write the demo target: {e}"))?;

    print(&format!(
        "━━ Emulated server {number} of {}: {what}\n   scenario `{name}`, listening on {}\n\n",
        SERVERS.len(),
        emulator.tds_addr()
    ));
    let args = RunArgs::for_target(&files.target, timeout);
    let prepared = prepare(&args)?;
    let run = engine::run(
        prepared.target.clone(),
        &prepared.plan,
        &prepared.options,
        &Bar::for_stderr(),
    )
    .await;
    let table = run.report.render(Format::Table, stdout_style(args.color));
    print(&format!("{table}\n"));
    emulator.shutdown().await;
    Ok(())
}
