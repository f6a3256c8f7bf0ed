//! `demo`: two emulated SQL Servers inside this process — one healthy, one
//! with the classic mistakes — each with a backup folder and a PMP install
//! folder in a temporary directory, and the real reports of every check.

use std::path::Path;
use std::time::Duration;

use mssql_emulator::{Emulator, EmulatorOptions, Scenario};

use super::args::RunArgs;
use super::output::{print, stdout_style};
use super::progress::Bar;
use super::run::prepare;
use super::usage_error;
use crate::emulated::{Surroundings, write_target};
use crate::engine;
use crate::exit;
use crate::report::Format;
use crate::target::AppKind;

/// One server of the demonstration and what to look for in its report.
struct Showcase {
    scenario: &'static str,
    what: &'static str,
    /// PMP's guide says to move masterkey.key away after setup.
    masterkey_left_in_conf: bool,
}

const SHOWCASES: [Showcase; 2] = [
    Showcase {
        scenario: "sql2022-healthy",
        what: "a healthy SQL Server 2022, with PMP's files in order",
        masterkey_left_in_conf: false,
    },
    Showcase {
        scenario: "classic-mistakes",
        what: "the classic mistakes: a certificate for another host name, ForceEncryption off, a backup account without db_backupoperator, and masterkey.key left in PMP's conf folder",
        masterkey_left_in_conf: true,
    },
];

pub fn demo(timeout: Duration) -> i32 {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let code = runtime.block_on(async {
        for (i, showcase) in SHOWCASES.iter().enumerate() {
            if let Err(message) = show(i + 1, showcase, timeout).await {
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

async fn show(number: usize, showcase: &Showcase, timeout: Duration) -> Result<(), String> {
    let name = showcase.scenario;
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
    let surroundings = lay_out_host(dir.path(), showcase)
        .map_err(|e| format!("cannot prepare the demo's folders: {e}"))?;
    let files = write_target(&emulator, dir.path(), name, &surroundings)
        .map_err(|e| format!("cannot write the demo target: {e}"))?;

    print(&format!(
        "━━ Emulated server {number} of {}: {}\n   scenario `{name}`, listening on {}\n\n",
        SHOWCASES.len(),
        showcase.what,
        emulator.tds_addr()
    ));
    // Everything here is disposable, so the intrusive test backup runs too.
    // Every check, not only the [app] kind's profile: the demo shows them all.
    let mut args = RunArgs::for_target(&files.target, timeout);
    args.profile = Some(crate::profiles::ALL.to_owned());
    args.intrusive = true;
    report(&args).await?;

    if showcase.masterkey_left_in_conf {
        print(
            "━━ The same server, logging in anyway (--trust-server-cert): the tool refused to send credentials over a certificate it could not verify; accepting it shows what SQL Server itself says, each finding marked as obtained over an unverified connection\n\n",
        );
        args.trust_server_cert = true;
        args.checks = vec!["sql.*".to_owned(), "share.sql-can-write".to_owned()];
        report(&args).await?;
    }
    emulator.shutdown().await;
    Ok(())
}

async fn report(args: &RunArgs) -> Result<(), String> {
    let prepared = prepare(args)?;
    let run = engine::run(
        prepared.target.clone(),
        &prepared.plan,
        &prepared.options,
        &Bar::for_stderr(),
    )
    .await;
    let table = run.report.render(Format::Table, stdout_style(args));
    print(&format!("{table}\n"));
    Ok(())
}

/// A backup folder and a PMP install folder as an administrator would leave
/// them: database_params.conf readable by its owner only, and masterkey.key
/// moved away unless this showcase forgot to.
fn lay_out_host(dir: &Path, showcase: &Showcase) -> std::io::Result<Surroundings> {
    let backups = dir.join("backups");
    std::fs::create_dir(&backups)?;
    let install_dir = dir.join("ManageEngine").join("PMP");
    let conf = install_dir.join("conf");
    std::fs::create_dir_all(&conf)?;
    write_owner_only(
        &conf.join("database_params.conf"),
        "# written by mssql-preflight demo\nusername=pmp\npassword=demo-encrypted-password-value\n",
    )?;
    if showcase.masterkey_left_in_conf {
        write_owner_only(&conf.join("masterkey.key"), "demo-master-key-password\n")?;
    }
    Ok(Surroundings {
        backup_destination: Some(backups),
        app: Some((AppKind::Pmp, install_dir)),
    })
}

fn write_owner_only(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
