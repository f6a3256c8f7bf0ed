//! The probe on a local or mounted directory, through the operating system
//! (as the user running mssql-preflight).
//!
//! Each operation runs on a blocking thread, which goes on even when the
//! probe stops waiting for it (a timeout, an interruption). Cleanup first
//! waits for those to land — a create still in flight would otherwise make
//! its file after the cleanup looked — so every operation holds a read
//! guard of `in_flight` and cleanup takes the write guard.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::RwLock;
use tokio_util::task::TaskTracker;

use super::{Listed, Store, is_probe_file};
use crate::probe::fs_error::{FsError, FsProblem};

pub struct LocalStore {
    dir: PathBuf,
    /// The limit for each operation: a hung network mount must not hang the run.
    timeout: Duration,
    in_flight: Arc<RwLock<()>>,
}

impl LocalStore {
    pub fn new(dir: impl Into<PathBuf>, timeout: Duration) -> Self {
        LocalStore {
            dir: dir.into(),
            timeout,
            in_flight: Arc::default(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs `operation` on a blocking thread, waiting for it up to the limit.
    async fn blocking<T: Send + 'static>(
        &self,
        operation: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, FsError> {
        let guard = self.in_flight.clone().read_owned().await;
        let task = tokio::task::spawn_blocking(move || {
            let result = operation();
            drop(guard);
            result
        });
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(e))) => Err(FsError::from_io(&e)),
            Ok(Err(join)) => Err(FsError::new(
                FsProblem::Other,
                format!("the file operation crashed: {join}"),
            )),
            Err(_) => Err(FsError::timed_out(self.timeout)),
        }
    }
}

/// The open probe file, shared with the blocking threads that use it.
pub struct LocalFile(Arc<std::fs::File>);

#[async_trait]
impl Store for LocalStore {
    type File = LocalFile;

    async fn open_folder(&self) -> Result<(), FsError> {
        let dir = self.dir.clone();
        let meta = self.blocking(move || std::fs::metadata(dir)).await?;
        if !meta.is_dir() {
            return Err(FsError::new(
                FsProblem::NotADirectory,
                format!("{} is a file, not a folder", self.dir.display()),
            ));
        }
        Ok(())
    }

    async fn create_new(&self, name: &str) -> Result<(LocalFile, SystemTime), FsError> {
        let path = self.path(name);
        let (file, modified) = self
            .blocking(move || {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)?;
                let modified = file.metadata()?.modified()?;
                Ok((file, modified))
            })
            .await?;
        Ok((LocalFile(Arc::new(file)), modified))
    }

    async fn write(&self, file: &mut LocalFile, data: &[u8]) -> Result<(), FsError> {
        let (file, data) = (file.0.clone(), data.to_vec());
        self.blocking(move || (&*file).write_all(&data)).await
    }

    async fn flush(&self, file: &mut LocalFile) -> Result<(), FsError> {
        let file = file.0.clone();
        self.blocking(move || file.sync_all()).await
    }

    async fn read(&self, file: &mut LocalFile, _: &str, len: usize) -> Result<Vec<u8>, FsError> {
        let file = file.0.clone();
        self.blocking(move || {
            let mut file = &*file;
            file.seek(SeekFrom::Start(0))?;
            let mut data = Vec::with_capacity(len);
            file.take(len as u64).read_to_end(&mut data)?;
            Ok(data)
        })
        .await
    }

    async fn rename(&self, _file: &mut LocalFile, from: &str, to: &str) -> Result<(), FsError> {
        let (from, to) = (self.path(from), self.path(to));
        self.blocking(move || rename_no_replace(&from, &to)).await
    }

    async fn delete(&self, file: LocalFile, name: &str) -> Result<(), FsError> {
        drop(file);
        let path = self.path(name);
        self.blocking(move || std::fs::remove_file(path)).await
    }

    async fn probe_files(&self) -> Result<Vec<Listed>, FsError> {
        let dir = self.dir.clone();
        self.blocking(move || {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !is_probe_file(&name) {
                    continue;
                }
                let meta = match entry.metadata() {
                    Ok(meta) => meta,
                    // Removed by its own run since the directory was read.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                if meta.is_file() {
                    found.push(Listed {
                        name,
                        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    });
                }
            }
            Ok(found)
        })
        .await
    }

    async fn is_present(&self, name: &str) -> Result<bool, FsError> {
        let path = self.path(name);
        self.blocking(move || match std::fs::symlink_metadata(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        })
        .await
    }

    async fn remove(&self, name: &str, _afresh: bool) -> Result<bool, FsError> {
        // Let operations still running on blocking threads land first.
        drop(self.in_flight.write().await);
        match self
            .blocking({
                let path = self.path(name);
                move || std::fs::remove_file(path)
            })
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.problem == FsProblem::PathNotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn remove_in_background(&self, names: Vec<String>, cleanups: &TaskTracker) {
        let paths: Vec<PathBuf> = names.iter().map(|n| self.path(n)).collect();
        let in_flight = self.in_flight.clone();
        let remove_all = move || paths.iter().for_each(|p| remove_now(p));
        match tokio::runtime::Handle::try_current() {
            // After the operations in flight, on a blocking thread, so a slow
            // mount delays nobody; the tracker lets the program wait for it.
            Ok(runtime) => {
                cleanups.spawn_on(
                    async move {
                        let _landed = in_flight.write_owned().await;
                        let _ = tokio::task::spawn_blocking(remove_all).await;
                    },
                    &runtime,
                );
            }
            Err(_) => remove_all(),
        }
    }
}

fn remove_now(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Renames `from` to `to`, failing if `to` exists, atomically where the
/// system offers it: `renameat2(RENAME_NOREPLACE)` on Linux, `MoveFileExW`
/// without `MOVEFILE_REPLACE_EXISTING` on Windows. A file system that lacks
/// it (some network mounts) gets a check then a rename: our names are unique.
pub fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    match atomic_rename_no_replace(from, to) {
        Err(e) if unsupported(&e) => {
            if std::fs::symlink_metadata(to).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("{} exists already", to.display()),
                ));
            }
            std::fs::rename(from, to)
        }
        other => other,
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn atomic_rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(std::io::Error::from)
}

#[cfg(windows)]
fn atomic_rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::windows::ffi::OsStrExt;
    use windows_sys::Win32::Storage::FileSystem::{MOVEFILE_WRITE_THROUGH, MoveFileExW};
    let wide = |p: &Path| -> Vec<u16> { p.as_os_str().encode_wide().chain([0]).collect() };
    let (from, to) = (wide(from), wide(to));
    // Without MOVEFILE_REPLACE_EXISTING, an existing `to` fails the move.
    // SAFETY: both are NUL-terminated UTF-16 strings that outlive the call.
    if unsafe { MoveFileExW(from.as_ptr(), to.as_ptr(), MOVEFILE_WRITE_THROUGH) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Elsewhere, a hard link fails if its name exists: link, then unlink.
#[cfg(not(any(target_os = "linux", target_os = "android", windows)))]
fn atomic_rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::hard_link(from, to)?;
    std::fs::remove_file(from)
}

/// The file system or kernel cannot rename without replacing.
#[cfg(unix)]
fn unsupported(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    let Some(code) = e.raw_os_error() else {
        return false;
    };
    [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP].contains(&Errno::from_raw_os_error(code))
}

#[cfg(not(unix))]
fn unsupported(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Unsupported
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rename_never_replaces_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&from, b"mine").unwrap();
        std::fs::write(&to, b"someone else's").unwrap();
        let refused = rename_no_replace(&from, &to).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&to).unwrap(), b"someone else's");
        std::fs::remove_file(&to).unwrap();
        rename_no_replace(&from, &to).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"mine");
        assert!(!from.exists());
    }
}
