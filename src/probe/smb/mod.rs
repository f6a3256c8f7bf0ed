//! SMB2/3 client for the backup share: NTLM logon as the backup account,
//! one tree connection, and the file operations a backup performs. Built on
//! the pure-Rust `smb` crate; every operation has a deadline.
//!
//! Files are opened asking only for what a backup needs (read, write,
//! delete), never `GENERIC_ALL`, which a share granting Change (Modify on the
//! folder) refuses.

pub(crate) mod status;
mod transport;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use smb::{
    Connection, ConnectionConfig, CreateDisposition, CreateOptions, Directory, File,
    FileAccessMask, FileAttributes, FileCreateArgs, FileDirectoryInformation,
    FileDispositionInformation, FileFsFullSizeInformation, FileRenameInformation, Resource,
    Session, Tree,
};
use tokio::net::TcpStream;

use super::destination::UncPath;
use super::fs_error::{FsError, FsProblem};
use super::write_probe::Listed;

/// Who logs on where: everything needed to open (or reopen) the share.
#[derive(Clone)]
pub struct ShareLogin {
    pub unc: UncPath,
    /// Where the server listens (its address and the SMB port).
    pub address: SocketAddr,
    /// `DOMAIN\user`, `user@domain` or `user`.
    pub user: String,
    pub password: SecretString,
    /// The limit for each single operation.
    pub timeout: Duration,
}

/// How far a connection got before it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectStep {
    /// TCP connection and SMB dialect negotiation.
    Connect,
    /// NTLM session setup as the backup account.
    LogOn,
    /// TREE_CONNECT to the share.
    OpenShare,
}

impl ConnectStep {
    pub fn describe(self) -> &'static str {
        match self {
            ConnectStep::Connect => "connect to the SMB server",
            ConnectStep::LogOn => "log on",
            ConnectStep::OpenShare => "open the share",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConnectError {
    pub step: ConnectStep,
    pub error: FsError,
}

/// Free and total space as the server reports it to this account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Space {
    pub available_bytes: u64,
    pub total_bytes: u64,
}

/// An authenticated connection to one share.
pub struct ShareConnection {
    login: ShareLogin,
    /// Always `Some` until dropped; see `Drop`.
    live: Option<Live>,
    /// The negotiated dialect, e.g. `SMB 3.1.1`.
    pub dialect: String,
}

/// The `smb` crate's objects. Their `Drop` spawns tokio tasks (logoff,
/// tree disconnect), which panics once the runtime is gone.
struct Live {
    connection: Connection,
    session: Session,
    tree: Tree,
}

impl Drop for ShareConnection {
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err() {
            // No runtime left to say goodbye with (the program is ending):
            // let the operating system close the socket instead.
            std::mem::forget(self.live.take());
        }
    }
}

impl ShareConnection {
    /// Connects, logs on as the account and opens the share.
    pub async fn open(login: ShareLogin) -> Result<ShareConnection, ConnectError> {
        let timeout = login.timeout;
        let fail = |step| move |error| ConnectError { step, error };
        let config = ConnectionConfig {
            port: Some(login.address.port()),
            // Every operation has `timeout` around it; the crate's own limit
            // is a backstop that should not win the race.
            timeout: Some(timeout.saturating_mul(2)),
            ..ConnectionConfig::default()
        };
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(login.address)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(fail(ConnectStep::Connect)(FsError::from_io(&e))),
            Err(_) => return Err(fail(ConnectStep::Connect)(FsError::timed_out(timeout))),
        };
        let transport = transport::Tcp::new(stream)
            .map_err(|e| fail(ConnectStep::Connect)(FsError::from_io(&e)))?;
        let connection = within(
            timeout,
            Connection::from_transport(
                Box::new(transport),
                login.unc.server(),
                smb::Guid::generate(),
                config,
            ),
        )
        .await
        .map_err(fail(ConnectStep::Connect))?;
        let dialect = connection
            .conn_info()
            .map(|info| dialect_name(info.negotiation.dialect_rev))
            .unwrap_or_default();
        let identity = identity(&login.user, &login.password).map_err(fail(ConnectStep::LogOn))?;
        let session = within(timeout, connection.authenticate(identity))
            .await
            .map_err(fail(ConnectStep::LogOn))?;
        let share = smb::UncPath::new(login.unc.server())
            .and_then(|p| p.with_share(login.unc.share()))
            .map_err(|e| fail(ConnectStep::OpenShare)(status::classify(&e)))?;
        let tree = within(timeout, session.tree_connect(&share))
            .await
            .map_err(fail(ConnectStep::OpenShare))?;
        Ok(ShareConnection {
            login,
            live: Some(Live {
                connection,
                session,
                tree,
            }),
            dialect,
        })
    }

    pub fn login(&self) -> &ShareLogin {
        &self.login
    }

    fn timeout(&self) -> Duration {
        self.login.timeout
    }

    fn live(&self) -> &Live {
        self.live.as_ref().expect("only Drop takes it")
    }

    fn tree(&self) -> &Tree {
        &self.live().tree
    }

    /// Opens the destination folder (relative to the share; empty for its
    /// root) to read its attributes and list it. A file there is refused with
    /// `NotADirectory`.
    pub async fn open_folder(&self, folder: &str) -> Result<Arc<Directory>, FsError> {
        let args = FileCreateArgs {
            disposition: CreateDisposition::Open,
            attributes: FileAttributes::new(),
            options: CreateOptions::new().with_directory_file(true),
            desired_access: FileAccessMask::new()
                .with_file_read_data(true) // list the folder
                .with_file_read_attributes(true)
                .with_synchronize(true),
        };
        match within(self.timeout(), self.tree().create(folder, &args)).await? {
            Resource::Directory(dir) => Ok(Arc::new(dir)),
            other => {
                close_quietly(other, self.timeout()).await;
                Err(FsError::new(
                    FsProblem::NotADirectory,
                    format!("`{folder}` is not a folder"),
                ))
            }
        }
    }

    /// Free and total space of the volume holding `folder`.
    pub async fn space(&self, folder: &Directory) -> Result<Space, FsError> {
        let info: FileFsFullSizeInformation =
            within(self.timeout(), folder.query_fs_info()).await?;
        let unit = u64::from(info.sectors_per_allocation_unit) * u64::from(info.bytes_per_sector);
        Ok(Space {
            available_bytes: info.caller_available_allocation_units.saturating_mul(unit),
            total_bytes: info.total_allocation_units.saturating_mul(unit),
        })
    }

    /// Files in `folder` whose names match `pattern` (`*` and `?` wildcards).
    pub async fn list(
        &self,
        folder: &Arc<Directory>,
        pattern: &str,
    ) -> Result<Vec<Listed>, FsError> {
        let listing = async {
            let mut stream = Directory::query::<FileDirectoryInformation>(folder, pattern).await?;
            let mut found = Vec::new();
            while let Some(entry) = stream.next().await {
                let entry = entry?;
                if entry.file_attributes.directory() {
                    continue;
                }
                found.push(Listed {
                    name: entry.file_name.to_string(),
                    modified: system_time(entry.last_write_time.since_epoch()),
                });
            }
            Ok::<_, smb::Error>(found)
        };
        match within(self.timeout(), listing).await {
            Ok(found) => Ok(found),
            // An empty folder answers a pattern with "no such file".
            Err(e) if e.problem == FsProblem::PathNotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Creates `path` (relative to the share), refusing to touch an existing
    /// file, with read, write and delete access. With `delete_on_close` the
    /// server removes the file itself when the handle closes, also when the
    /// connection breaks or this process dies.
    pub async fn create_new(
        &self,
        path: &str,
        delete_on_close: bool,
    ) -> Result<ProbeFile, FsError> {
        let args = FileCreateArgs {
            disposition: CreateDisposition::Create,
            attributes: FileAttributes::new().with_temporary(true),
            options: CreateOptions::new()
                .with_non_directory_file(true)
                .with_delete_on_close(delete_on_close),
            desired_access: probe_access(),
        };
        match within(self.timeout(), self.tree().create(path, &args)).await? {
            Resource::File(file) => {
                let created = file.modified().assume_utc().into();
                Ok(ProbeFile {
                    file,
                    created,
                    timeout: self.timeout(),
                })
            }
            other => {
                close_quietly(other, self.timeout()).await;
                Err(FsError::new(
                    FsProblem::Other,
                    format!("`{path}` was created as something other than a file"),
                ))
            }
        }
    }

    /// Reads up to `len` bytes of `path` through a handle of its own, so the
    /// bytes come from what the server stored (and the crate's idea of the
    /// file's length is fresh).
    pub async fn read_back(&self, path: &str, len: usize) -> Result<Vec<u8>, FsError> {
        let access = FileAccessMask::new()
            .with_file_read_data(true)
            .with_file_read_attributes(true)
            .with_synchronize(true);
        let file = match within(self.timeout(), self.tree().open_existing(path, access)).await? {
            Resource::File(file) => file,
            other => {
                close_quietly(other, self.timeout()).await;
                return Err(FsError::new(
                    FsProblem::Other,
                    format!("`{path}` is no longer a file"),
                ));
            }
        };
        let mut buf = vec![0u8; len];
        let mut filled = 0;
        let read = async {
            while filled < len {
                let n = file
                    .read_block(&mut buf[filled..], filled as u64, None, false)
                    .await?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            Ok::<_, std::io::Error>(())
        };
        let result = within_io(self.timeout(), read).await;
        let _ = tokio::time::timeout(self.timeout(), file.close()).await;
        result?;
        buf.truncate(filled);
        Ok(buf)
    }

    /// Removes the file at `path` (relative to the share) if it exists;
    /// `Ok(false)` when there was nothing to remove.
    pub async fn remove_if_present(&self, path: &str) -> Result<bool, FsError> {
        let args = FileCreateArgs {
            disposition: CreateDisposition::Open,
            attributes: FileAttributes::new(),
            options: CreateOptions::new()
                .with_non_directory_file(true)
                .with_delete_on_close(true),
            desired_access: FileAccessMask::new()
                .with_delete(true)
                .with_file_read_attributes(true)
                .with_synchronize(true),
        };
        match within(self.timeout(), self.tree().create(path, &args)).await {
            Ok(resource) => {
                let closed = match &resource {
                    Resource::File(f) => within(self.timeout(), f.close()).await,
                    Resource::Directory(d) => within(self.timeout(), d.close()).await,
                    Resource::Pipe(p) => within(self.timeout(), p.close()).await,
                };
                closed.map(|_| true)
            }
            Err(e) if e.problem == FsProblem::PathNotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Drops the connection without a goodbye: for one that broke or hangs.
    /// The server then closes the files it held open, which is what lets a
    /// delete-on-close file go.
    pub async fn abort(&self) {
        let _ = tokio::time::timeout(self.timeout(), self.live().connection.close()).await;
    }

    /// Logs off and closes the connection, giving up after the timeout.
    pub async fn close(&self) {
        let live = self.live();
        let goodbye = async {
            let _ = live.tree.disconnect().await;
            let _ = live.session.logoff().await;
            let _ = live.connection.close().await;
        };
        let _ = tokio::time::timeout(self.timeout(), goodbye).await;
    }
}

/// A file the probe created and holds open.
pub struct ProbeFile {
    file: File,
    /// Its last write time as the server set it: the server's "now".
    pub created: SystemTime,
    timeout: Duration,
}

impl ProbeFile {
    pub async fn write(&self, data: &[u8]) -> Result<(), FsError> {
        let written = within_io(self.timeout, self.file.write_block(data, 0, None)).await?;
        if written != data.len() {
            return Err(FsError::new(
                FsProblem::Other,
                format!("the server took {written} of {} bytes", data.len()),
            ));
        }
        Ok(())
    }

    pub async fn flush(&self) -> Result<(), FsError> {
        within_io(self.timeout, self.file.flush()).await
    }

    /// Renames the open file to `new_path` (relative to the share), never
    /// replacing an existing file.
    pub async fn rename(&self, new_path: &str) -> Result<(), FsError> {
        let info = FileRenameInformation {
            replace_if_exists: false.into(),
            root_directory: 0,
            file_name: new_path.into(),
        };
        within(self.timeout, self.file.set_info(info)).await
    }

    /// Marks the file for deletion and closes it: the way a backup removes
    /// an old file.
    pub async fn delete(self) -> Result<(), FsError> {
        within(
            self.timeout,
            self.file.set_info(FileDispositionInformation::default()),
        )
        .await?;
        within(self.timeout, self.file.close()).await
    }

    /// Closes the handle, ignoring errors (cleanup).
    pub async fn close(self) {
        let _ = tokio::time::timeout(self.timeout, self.file.close()).await;
    }
}

/// Removes the file at `unc` with the file name `name` in its folder, logging
/// on afresh: for callers without a connection, such as a check that had SQL
/// Server write a test backup there. `Ok(false)` when no such file exists.
pub async fn remove_file(login: ShareLogin, name: &str) -> Result<bool, FsError> {
    let path = login.unc.file(name);
    let share = ShareConnection::open(login).await.map_err(|e| e.error)?;
    let removed = share.remove_if_present(&path).await;
    share.close().await;
    removed
}

/// What the probe asks for: enough to write, read back, rename and delete.
fn probe_access() -> FileAccessMask {
    FileAccessMask::new()
        .with_file_read_data(true)
        .with_file_write_data(true)
        .with_file_append_data(true)
        .with_file_read_attributes(true)
        .with_file_write_attributes(true)
        .with_delete(true)
        .with_synchronize(true)
}

/// The account to log on as; a name sspi cannot read is a logon failure.
fn identity(user: &str, password: &SecretString) -> Result<sspi::AuthIdentity, FsError> {
    let username = sspi::Username::parse(user).map_err(|e| {
        FsError::new(
            FsProblem::LogonFailure,
            format!("`{user}` is not a user name sspi accepts: {e}"),
        )
    })?;
    Ok(sspi::AuthIdentity {
        username,
        password: password.expose_secret().to_owned().into(),
    })
}

async fn within<T>(
    timeout: Duration,
    operation: impl Future<Output = smb::Result<T>>,
) -> Result<T, FsError> {
    match tokio::time::timeout(timeout, operation).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(status::classify(&e)),
        Err(_) => Err(FsError::timed_out(timeout)),
    }
}

async fn within_io<T>(
    timeout: Duration,
    operation: impl Future<Output = std::io::Result<T>>,
) -> Result<T, FsError> {
    match tokio::time::timeout(timeout, operation).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(status::classify_io(&e)),
        Err(_) => Err(FsError::timed_out(timeout)),
    }
}

async fn close_quietly(resource: Resource, timeout: Duration) {
    let close = async {
        let _ = match &resource {
            Resource::File(f) => f.close().await,
            Resource::Directory(d) => d.close().await,
            Resource::Pipe(p) => p.close().await,
        };
    };
    let _ = tokio::time::timeout(timeout, close).await;
}

/// FILETIME counts from 1601; Unix time from 1970.
const FILETIME_TO_UNIX: Duration = Duration::from_secs(11_644_473_600);

fn system_time(since_1601: Duration) -> SystemTime {
    SystemTime::UNIX_EPOCH + since_1601.saturating_sub(FILETIME_TO_UNIX)
}

fn dialect_name(dialect: smb::Dialect) -> String {
    match dialect {
        smb::Dialect::Smb0202 => "SMB 2.0.2",
        smb::Dialect::Smb021 => "SMB 2.1",
        smb::Dialect::Smb030 => "SMB 3.0",
        smb::Dialect::Smb0302 => "SMB 3.0.2",
        smb::Dialect::Smb0311 => "SMB 3.1.1",
    }
    .to_owned()
}
