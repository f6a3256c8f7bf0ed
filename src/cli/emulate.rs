//! `emulate`: one emulated SQL Server in the foreground until Ctrl-C, for
//! trying the tool by hand or rehearsing a CI pipeline.

use std::path::{Path, PathBuf};

use mssql_emulator::{Emulator, EmulatorOptions, Scenario};

use super::output::print;
use super::usage_error;
use crate::emulated::write_target;
use crate::exit;

pub struct EmulateRequest {
    pub scenario: String,
    pub port: u16,
    pub browser_port: Option<u16>,
    pub write_target: Option<PathBuf>,
}

pub fn emulate(request: EmulateRequest) -> i32 {
    let scenario = match load_scenario(&request.scenario) {
        Ok(s) => s,
        Err(message) => return usage_error(message),
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let code = runtime.block_on(async {
        let browser_port = request
            .browser_port
            .or_else(|| scenario.instance_name().map(|_| 0));
        let options = EmulatorOptions {
            tds_port: request.port,
            browser_port,
            ..EmulatorOptions::default()
        };
        let emulator = match Emulator::start(scenario, options).await {
            Ok(e) => e,
            Err(e) => return usage_error(format!("cannot start the emulated server: {e}")),
        };
        let scenario = emulator.scenario();
        let mut banner = format!(
            "Emulated SQL Server `{}`: {}\n  TDS:         {}\n",
            scenario.name(),
            scenario.description(),
            emulator.tds_addr()
        );
        if let Some(browser) = emulator.browser_addr() {
            banner.push_str(&format!("  SQL Browser: udp {browser}\n"));
        }
        for account in scenario.accounts() {
            banner.push_str(&format!(
                "  account:     {} ({})\n",
                account.user, account.description
            ));
        }
        print(&banner);
        if let Some(path) = &request.write_target {
            match write_beside(&emulator, path) {
                Ok(()) => print(&format!(
                    "  target file: {} (try: mssql-preflight run --target {})\n",
                    path.display(),
                    path.display()
                )),
                Err(message) => return usage_error(message),
            }
        }
        print("Press Ctrl-C to stop.\n");
        let _ = tokio::signal::ctrl_c().await;
        emulator.shutdown().await;
        exit::OK
    });
    runtime.shutdown_background();
    code
}

/// A built-in scenario by name, or a scenario file by path.
fn load_scenario(name_or_file: &str) -> Result<Scenario, String> {
    if let Some(s) = Scenario::builtin(name_or_file) {
        return Ok(s);
    }
    let path = Path::new(name_or_file);
    if path.exists() {
        return Scenario::from_file(path).map_err(|e| e.to_string());
    }
    let names = Scenario::builtin_names();
    Err(format!(
        "no scenario `{name_or_file}`{}: give a scenario file or one of {}",
        crate::suggest::did_you_mean(name_or_file, names.iter().copied()),
        names.join(", ")
    ))
}

fn write_beside(emulator: &Emulator, path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "target".to_owned());
    let written = write_target(emulator, &dir, &stem, &Default::default())
        .map_err(|e| format!("cannot write the target file: {e}"))?;
    if written.target != path {
        std::fs::rename(&written.target, path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}
