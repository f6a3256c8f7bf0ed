//! The test backup of `share.sql-can-write`: SQL Server writes a COPY_ONLY
//! backup of the application database to the backup destination, and the
//! file is removed again whatever happened.

use std::time::Duration;

use serde::Serialize;

use super::Action;
use crate::context::RunContext;
use crate::facts::share::remove_from_destination;
use crate::facts::sql::reads::{ReadBy, backup_else_any, ident, literal};
use crate::finding::Stop;
use crate::probe::destination::Destination;
use crate::probe::sql::{QueryFailure, ServerError};
use crate::probe::write_probe::ProbeName;

/// The intrusive check's backup: a copy that never disturbs the chain.
pub fn copy_only_backup(database: &str, file: &str) -> String {
    format!(
        "BACKUP DATABASE {} TO DISK = {} WITH COPY_ONLY",
        ident(database),
        literal(file)
    )
}

/// How long removing the test file may take, whatever happened before.
pub const REMOVAL_LIMIT: Duration = Duration::from_secs(5);

/// Back up `database` to `destination`, allowing it `limit`.
pub struct TestBackup<'a> {
    pub database: &'a str,
    pub destination: &'a Destination,
    pub limit: Duration,
}

/// What came of the test backup.
#[derive(Debug, Clone, Serialize)]
pub struct TestBackupRun {
    /// The file as SQL Server was told it.
    pub file: String,
    pub statement: String,
    pub by: ReadBy,
    pub result: Result<(), BackupFailure>,
    /// Whether the file was removed afterwards (`false`: there was none), or
    /// why it could not be.
    #[serde(serialize_with = "cleanup_json")]
    pub cleanup: Result<bool, Stop>,
}

/// Why the backup statement did not succeed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupFailure {
    /// The server refused or failed it, with its error.
    Server(ServerError),
    /// It did not finish: the connection, a time limit, an unreadable answer.
    Unfinished(String),
}

fn cleanup_json<S: serde::Serializer>(
    cleanup: &Result<bool, Stop>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match cleanup {
        Ok(removed) => serializer.serialize_some(removed),
        Err(stop) => serializer.serialize_str(stop.reason()),
    }
}

impl Action for TestBackup<'_> {
    type Output = TestBackupRun;
    const INTRUSIVE: bool = true;
    const CLEANUP_LIMIT: Duration = REMOVAL_LIMIT;

    fn describe(&self) -> String {
        format!(
            "a COPY_ONLY backup of `{}` to {}",
            self.database, self.destination
        )
    }

    async fn run(&self, ctx: &RunContext) -> Result<TestBackupRun, Stop> {
        let login = backup_else_any(ctx).await?;
        let session = login.session()?;
        // Named as the write probe names its files, so a run killed between
        // the backup and its removal leaves nothing share.write does not sweep.
        let name =
            ProbeName::fresh(time::OffsetDateTime::now_utc(), Some("sql-backup")).to_string();
        let file = path_for_sql_server(self.destination, &name);
        let statement = copy_only_backup(self.database, &file);
        // Until the file is removed, an interrupted run waits for this
        // action (under the engine's grace) instead of abandoning it.
        let _cleaning_up = ctx.cleanups().token();
        let outcome = tokio::select! {
            outcome = session.results_within(&statement, self.limit) => outcome,
            _ = ctx.cancelled().cancelled() => Err(QueryFailure::Connection {
                detail: "the run was interrupted while SQL Server wrote the backup".to_owned(),
            }),
        };
        // Remove whatever the backup left, whether it succeeded or not.
        let cleanup =
            match tokio::time::timeout(REMOVAL_LIMIT, remove_from_destination(ctx, &name)).await {
                Ok(removed) => removed,
                Err(_) => Err(Stop::error(format!(
                    "could not remove {name} within {} s",
                    REMOVAL_LIMIT.as_secs()
                ))),
            };
        Ok(TestBackupRun {
            file,
            statement,
            by: session.read_by(),
            result: match outcome {
                Ok(_) => Ok(()),
                Err(QueryFailure::Server(error)) => Err(BackupFailure::Server(error)),
                Err(other) => Err(BackupFailure::Unfinished(other.to_string())),
            },
            cleanup,
        })
    }
}

/// The test file's path as SQL Server is told it.
fn path_for_sql_server(destination: &Destination, name: &str) -> String {
    match destination {
        Destination::Local { path } => path.join(name).display().to_string(),
        Destination::Unc(unc) => unc.unc_of(name),
    }
}
