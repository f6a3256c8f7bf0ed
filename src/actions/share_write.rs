//! share.write's probe as an action: a file written, read back, renamed and
//! removed at the backup destination, as the backup account would.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::Action;
use crate::context::RunContext;
use crate::facts::share::{BackupDestination, ShareSession, os_path};
use crate::finding::Stop;
use crate::probe::smb::ConnectError;
use crate::probe::write_probe::{self, LocalStore, ProbeReport, SmbStore};

/// How the probe reached the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "via", rename_all = "kebab-case")]
pub enum Access {
    /// Over SMB, logged on as the backup account.
    Smb { user: String, dialect: String },
    /// Through the operating system, as the user running this tool.
    Local { path: PathBuf },
}

/// The outcome of the write probe.
pub enum WriteAttempt {
    /// The share could not be opened as the backup account.
    NotConnected(ConnectError),
    Probed {
        access: Access,
        report: Box<ProbeReport>,
    },
}

/// The write probe: create, write, flush, read back, rename and delete a
/// file at the backup destination as a backup would. Not intrusive: it
/// leaves nothing behind, and what it leaves on an interruption it removes
/// as a task of the run's cleanups.
pub struct ShareWriteProbe;

impl Action for ShareWriteProbe {
    type Output = WriteAttempt;
    const INTRUSIVE: bool = false;
    const CLEANUP_LIMIT: Duration = write_probe::CLEANUP_TIMEOUT;

    fn describe(&self) -> String {
        "the write probe at the backup destination".to_owned()
    }

    async fn run(&self, ctx: &RunContext) -> Result<WriteAttempt, Stop> {
        let destination = ctx.fact::<BackupDestination>().await?;
        if let Some(path) = os_path(ctx, &destination) {
            let store = LocalStore::new(&path, ctx.timeout());
            let report = write_probe::run(&store, ctx.cancelled(), ctx.cleanups()).await;
            return Ok(WriteAttempt::Probed {
                access: Access::Local { path },
                report: Box::new(report),
            });
        }
        let share = match &*ctx.fact::<ShareSession>().await? {
            Ok(share) => share.clone(),
            Err(e) => return Ok(WriteAttempt::NotConnected(e.clone())),
        };
        let store = SmbStore::new(share.clone());
        let report = write_probe::run(&store, ctx.cancelled(), ctx.cleanups()).await;
        Ok(WriteAttempt::Probed {
            access: Access::Smb {
                user: share.login().user.clone(),
                dialect: share.dialect.clone(),
            },
            report: Box::new(report),
        })
    }
}
