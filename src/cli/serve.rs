//! `serve --inventory FILE`: the Prometheus exporter (see `crate::serve`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::args::{PackArgs, parse_duration};
use super::signals;
use super::usage_error;
use crate::catalog::Catalog;
use crate::certificate::TrustStores;
use crate::context::RunSettings;
use crate::engine::EngineOptions;
use crate::estate::Inventory;
use crate::exit;
use crate::outcome::FailOn;
use crate::serve::{Exporter, ExporterOptions, Slot};
use crate::target::{SecretInputs, TargetOverrides};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The targets it may probe: an inventory file or folder (as for `run --inventory`); no other host is ever probed.
    #[arg(long, value_name = "FILE|DIR")]
    pub inventory: PathBuf,
    /// Address to listen on. Loopback unless told otherwise: the metrics are not authenticated.
    #[arg(long, default_value = "127.0.0.1:9839")]
    pub listen: SocketAddr,
    /// A target's result is reused for this long, however often it is scraped.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub min_interval: Duration,
    /// At most this many probes run at once; more wait their turn.
    #[arg(long, default_value = "8", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_probes: u16,
    /// A probe request is answered (503) after this long; the probe goes on and is cached.
    #[arg(long, default_value = "45s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Profile of probes whose URL names none (default: the target's [app] kind, else every check).
    #[arg(long, short)]
    pub profile: Option<String>,
    /// Limit for each network operation (an inventory target's `timeout` wins).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Limit for a whole probe (an inventory target's `deadline` wins).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub deadline: Duration,
    /// Lowest status that makes a target not ready.
    #[arg(long, value_enum, default_value = "fail")]
    pub fail_on: FailOn,
    #[command(flatten)]
    pub packs: PackArgs,
}

pub fn serve(args: ServeArgs) -> i32 {
    let exporter = match prepare(&args) {
        Ok(e) => Arc::new(e),
        Err(message) => return usage_error(message),
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let code = runtime.block_on(async {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => return usage_error(format!("cannot listen on {}: {e}", args.listen)),
        };
        let address = listener.local_addr().map_or(args.listen, |a| a);
        if !address.ip().is_loopback() {
            eprintln!(
                "warning: listening on {address}, beyond this machine: anyone who can reach it can trigger probes (of inventory targets only) and read verdicts"
            );
        }
        eprintln!(
            "mssql-preflight exporter: {} targets, listening on http://{address}/ (probe with /probe?target=NAME)",
            exporter.targets.len()
        );
        let shutdown = tokio_util::sync::CancellationToken::new();
        tokio::spawn(signals::cancel_on_signal(shutdown.clone()));
        crate::serve::serve(exporter, listener, args.request_timeout, shutdown).await;
        exit::OK
    });
    runtime.shutdown_background();
    code
}

/// Loads and checks every target now, so a bad inventory stops the start
/// rather than a scrape; passwords are read once (no prompt: a service).
fn prepare(args: &ServeArgs) -> Result<Exporter, String> {
    let inventory = Inventory::load(&args.inventory)?;
    let catalog = Catalog::load(&args.packs.checks_dirs)?;
    super::print_load_warnings(&catalog);
    let engine = EngineOptions {
        settings: RunSettings {
            timeout: args.timeout,
            // Shared by every target; reloaded once a minimum interval old,
            // so a renewed CA file is seen without a restart.
            trust_stores: TrustStores::refreshed_after(args.min_interval),
            ..RunSettings::default()
        },
        deadline: args.deadline,
        fail_on: args.fail_on,
        ..EngineOptions::default()
    };
    let mut targets = BTreeMap::new();
    for entry in &inventory.entries {
        let target = entry.load(&TargetOverrides::default(), SecretInputs::default())?;
        catalog
            .validate_target(&target)
            .map_err(|e| e.to_string())?;
        let mut options = engine.clone();
        if let Some(timeout) = entry.timeout {
            options.settings.timeout = timeout;
        }
        if let Some(deadline) = entry.deadline {
            options.deadline = deadline;
        }
        targets.insert(entry.name.clone(), Slot::new(Arc::new(target), options));
    }
    let options = ExporterOptions {
        min_interval: args.min_interval,
        max_probes: usize::from(args.max_probes),
        profile: args.profile.clone(),
    };
    if let Some(profile) = &options.profile
        && catalog.profiles.get(profile).is_none()
    {
        return Err(format!("no profile `{profile}`"));
    }
    Ok(Exporter::new(targets, catalog, options))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::args::{Cli, Command};

    /// The metrics are not authenticated: unless told otherwise the
    /// exporter listens on loopback only, on the documented port.
    #[test]
    fn it_listens_on_loopback_unless_told_otherwise() {
        let cli = Cli::try_parse_from(["mssql-preflight", "serve", "--inventory", "estate.toml"])
            .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve: {:?}", cli.command);
        };
        assert!(args.listen.ip().is_loopback(), "{}", args.listen);
        assert_eq!(args.listen.port(), 9839);
    }
}
