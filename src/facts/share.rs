//! Backup destination facts: where backups go, whether its server's SMB port
//! answers, a session on the share as the backup account, the write probe,
//! and the free space there.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::context::{Fact, RunContext};
use crate::facts::net::DnsResolver;
use crate::finding::{SkipKind, Stop};
pub use crate::probe::destination::{Destination, UncPath};
use crate::probe::dns::{LookupFailure, ip_literal};
pub use crate::probe::fs_error::{FsError, FsProblem};
pub use crate::probe::smb::{ConnectError, ConnectStep, Space};
use crate::probe::smb::{ShareConnection, ShareLogin};
use crate::probe::tcp::{self, ConnectAttempt};
pub use crate::probe::write_probe::{Cleanup, PROBE_BYTES, ProbeReport, Step, StepFailure};
use crate::target::{Credential, DEFAULT_SMB_PORT};

/// `[backup] destination`, parsed.
pub struct BackupDestination;

impl Fact for BackupDestination {
    type Output = Destination;

    async fn gather(ctx: &RunContext) -> Result<Destination, Stop> {
        ctx.target.backup.parsed_destination.clone().ok_or_else(|| {
            Stop::not_configured(format!(
                "no backup destination (a UNC path such as \\\\server\\share\\folder, or a local directory): {}",
                ctx.target.how_to_set("backup", &["destination"])
            ))
        })
    }
}

/// The UNC path of the destination; skips for a local one.
pub struct UncDestination;

impl Fact for UncDestination {
    type Output = UncPath;

    async fn gather(ctx: &RunContext) -> Result<UncPath, Stop> {
        match &*ctx.fact::<BackupDestination>().await? {
            Destination::Unc(unc) => Ok(unc.clone()),
            Destination::Local { path } => Err(Stop::not_applicable(format!(
                "the destination {} is a local or mounted directory: no SMB server to reach",
                path.display()
            ))),
        }
    }
}

/// The share's server: its addresses and SMB port.
pub struct SmbServer;

pub struct SmbServerAddresses {
    pub name: String,
    pub port: u16,
    pub addresses: Result<Vec<IpAddr>, LookupFailure>,
}

impl Fact for SmbServer {
    type Output = SmbServerAddresses;

    async fn gather(ctx: &RunContext) -> Result<SmbServerAddresses, Stop> {
        let unc = ctx.fact::<UncDestination>().await?;
        let name = unc.server().to_owned();
        let port = ctx.target.backup.smb_port.unwrap_or(DEFAULT_SMB_PORT);
        let addresses = match ip_literal(&name) {
            Some(ip) => Ok(vec![ip]),
            None => ctx.fact::<DnsResolver>().await?.addresses(&name).await,
        };
        Ok(SmbServerAddresses {
            name,
            port,
            addresses,
        })
    }
}

/// One TCP connection attempt to the SMB port on every address of the server.
pub struct SmbReachability;

impl Fact for SmbReachability {
    type Output = Vec<ConnectAttempt>;

    async fn gather(ctx: &RunContext) -> Result<Vec<ConnectAttempt>, Stop> {
        let server = ctx.fact::<SmbServer>().await?;
        let addresses = server.addresses.as_ref().map_err(|failure| {
            Stop::blocked(
                ["net.smb.reachable"],
                format!(
                    "`{}` does not resolve ({failure}); see net.smb.reachable",
                    server.name
                ),
            )
        })?;
        Ok(tcp::try_port(addresses, server.port, ctx.timeout()).await)
    }
}

/// An authenticated session on the share as the backup account, or how far
/// the attempt got.
pub struct ShareSession;

impl Fact for ShareSession {
    type Output = Result<Arc<ShareConnection>, ConnectError>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        let unc = ctx.fact::<UncDestination>().await?;
        let account = ctx.target.backup_account()?;
        let password = match &account.password {
            Credential::Given(p) => p.clone(),
            Credential::Missing { why, .. } => {
                return Err(Stop::blocked(["sql.login"], why.clone()));
            }
            // The logged-on account reaches a share through Windows itself
            // (see `destination`), never through this SMB client.
            Credential::NotNeeded => {
                return Err(Stop::not_applicable(
                    "the backup account is the logged-on Windows account (auth = \"integrated\"): Windows itself reaches the share",
                ));
            }
        };
        let reach = ctx.fact::<SmbReachability>().await?;
        let address = tcp::first_connected(&reach).ok_or_else(|| {
            Stop::blocked(
                ["net.smb.reachable"],
                format!(
                    "the SMB port of `{}` does not accept connections; see net.smb.reachable",
                    unc.server()
                ),
            )
        })?;
        let login = ShareLogin {
            unc: (*unc).clone(),
            address,
            user: account.user.clone(),
            password,
            timeout: ctx.timeout(),
        };
        Ok(ShareConnection::open(login).await.map(Arc::new))
    }
}

/// Free space at the destination.
pub struct DestinationSpace;

impl Fact for DestinationSpace {
    type Output = Space;

    async fn gather(ctx: &RunContext) -> Result<Space, Stop> {
        let destination = ctx.fact::<BackupDestination>().await?;
        let unreadable = |e: FsError| {
            Stop::blocked(
                ["share.write"],
                format!("cannot read the free space at {destination}: {e}; see share.write"),
            )
        };
        if let Some(path) = os_path(ctx, &destination) {
            let timeout = ctx.timeout();
            let stats = tokio::time::timeout(
                timeout,
                tokio::task::spawn_blocking(move || fs4::statvfs(&path)),
            )
            .await
            .map_err(|_| unreadable(FsError::timed_out(timeout)))?
            .map_err(|e| Stop::error(format!("the free-space query crashed: {e}")))?
            .map_err(|e| unreadable(FsError::from_io(&e)))?;
            return Ok(Space {
                available_bytes: stats.available_space(),
                total_bytes: stats.total_space(),
            });
        }
        let share = match &*ctx.fact::<ShareSession>().await? {
            Ok(share) => share.clone(),
            Err(e) => {
                return Err(Stop::blocked(
                    ["share.write"],
                    format!(
                        "could not {} as the backup account ({}); see share.write",
                        e.step.describe(),
                        e.error
                    ),
                ));
            }
        };
        let folder = share
            .open_folder(&share.login().unc.folder())
            .await
            .map_err(unreadable)?;
        let space = share.space(&folder).await;
        let _ = folder.close().await;
        space.map_err(unreadable)
    }
}

/// The database's size and where the figure came from.
pub struct DatabaseSize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeFigure {
    pub bytes: u64,
    pub source: &'static str,
}

impl Fact for DatabaseSize {
    type Output = SizeFigure;

    /// The target file's figure when given (the administrator knows best,
    /// e.g. for a database that will grow); otherwise the application
    /// database's data files as SQL Server reports them.
    async fn gather(ctx: &RunContext) -> Result<SizeFigure, Stop> {
        if let Some(bytes) = ctx.target.backup.database_size {
            return Ok(SizeFigure {
                bytes,
                source: "`database_size` under [backup] in the target file",
            });
        }
        match ctx.fact::<crate::facts::sql::DatabaseDataSize>().await {
            Ok(bytes) => Ok(SizeFigure {
                bytes: *bytes,
                source: "the application database's data files (sys.database_files)",
            }),
            Err(why) => {
                let reason = format!(
                    "the database's size is unknown: SQL Server did not tell ({}) and `database_size` is not set under [backup] (e.g. \"12 GiB\"; in SQL Server: EXEC sp_spaceused)",
                    why.reason()
                );
                // Blocked stays blocked (a failed login says more than the
                // missing setting); otherwise the setting is what is missing.
                Err(match why.skip() {
                    Some(skip) if skip.kind == SkipKind::Blocked => {
                        Stop::blocked(skip.by.clone(), reason)
                    }
                    _ => Stop::not_configured(reason),
                })
            }
        }
    }
}

/// Removes the file `name` from the destination folder, if it is there: for
/// checks that had something else write to the destination (SQL Server's
/// test backup in `share.sql-can-write`). Over SMB it logs on as the backup
/// account (reusing the run's session when there is one); a local or mounted
/// directory goes through the operating system. `Ok(false)`: nothing to remove.
pub async fn remove_from_destination(ctx: &RunContext, name: &str) -> Result<bool, Stop> {
    if name.contains(['\\', '/']) || name == ".." || name == "." || name.is_empty() {
        return Err(Stop::error(format!(
            "`{name}` is not a plain file name (a bug in the calling check)"
        )));
    }
    let destination = ctx.fact::<BackupDestination>().await?;
    let failed =
        |e: FsError| Stop::error(format!("could not remove {name} from {destination}: {e}"));
    if let Some(path) = os_path(ctx, &destination) {
        return match tokio::time::timeout(ctx.timeout(), tokio::fs::remove_file(path.join(name)))
            .await
        {
            Ok(Ok(())) => Ok(true),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Ok(Err(e)) => Err(failed(FsError::from_io(&e))),
            Err(_) => Err(failed(FsError::timed_out(ctx.timeout()))),
        };
    }
    match &*ctx.fact::<ShareSession>().await? {
        Ok(share) => match share.remove_if_present(&share.login().unc.file(name)).await {
            Err(e) if matches!(e.problem, FsProblem::ConnectionLost | FsProblem::TimedOut) => {
                crate::probe::smb::remove_file(share.login().clone(), name)
                    .await
                    .map_err(failed)
            }
            other => other.map_err(failed),
        },
        Err(e) => Err(Stop::error(format!(
            "could not remove {name} from {destination}: could not {} as the backup account ({})",
            e.step.describe(),
            e.error
        ))),
    }
}

/// The path to probe through the operating system, when the destination is
/// one: a local or mounted directory; on Windows also a UNC path when no
/// backup account is configured, or it is the logged-on one (integrated
/// authentication): the OS then logs on as the current user.
pub(crate) fn os_path(ctx: &RunContext, destination: &Destination) -> Option<PathBuf> {
    match destination {
        Destination::Local { path } => Some(path.clone()),
        Destination::Unc(unc) => windows_unc_path(ctx, unc),
    }
}

#[cfg(windows)]
fn windows_unc_path(ctx: &RunContext, unc: &UncPath) -> Option<PathBuf> {
    let as_logged_on = match &ctx.target.backup.account {
        None => true,
        Some(account) => account.auth == crate::target::AuthKind::Integrated,
    };
    as_logged_on.then(|| PathBuf::from(unc.to_string()))
}

#[cfg(not(windows))]
fn windows_unc_path(_ctx: &RunContext, _unc: &UncPath) -> Option<PathBuf> {
    None
}
