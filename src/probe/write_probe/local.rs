//! The probe on a local or mounted directory, through the operating system
//! (as the user running mssql-preflight).

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::fs::{self, File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{Listed, Store, is_probe_file, pending_cleanups};
use crate::probe::fs_error::{FsError, FsProblem};

pub struct LocalStore {
    dir: PathBuf,
    /// The limit for each operation: a hung network mount must not hang the run.
    timeout: Duration,
}

impl LocalStore {
    pub fn new(dir: impl Into<PathBuf>, timeout: Duration) -> Self {
        LocalStore {
            dir: dir.into(),
            timeout,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    async fn within<T>(
        &self,
        operation: impl std::future::Future<Output = std::io::Result<T>>,
    ) -> Result<T, FsError> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(FsError::from_io(&e)),
            Err(_) => Err(FsError::timed_out(self.timeout)),
        }
    }
}

#[async_trait]
impl Store for LocalStore {
    type File = File;

    async fn open_folder(&self) -> Result<(), FsError> {
        let meta = self.within(fs::metadata(&self.dir)).await?;
        if !meta.is_dir() {
            return Err(FsError::new(
                FsProblem::NotADirectory,
                format!("{} is a file, not a folder", self.dir.display()),
            ));
        }
        Ok(())
    }

    async fn create_new(&self, name: &str) -> Result<(File, SystemTime), FsError> {
        let path = self.path(name);
        let file = self
            .within(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path),
            )
            .await?;
        let modified = self
            .within(file.metadata())
            .await?
            .modified()
            .unwrap_or_else(|_| SystemTime::now());
        Ok((file, modified))
    }

    async fn write(&self, file: &mut File, data: &[u8]) -> Result<(), FsError> {
        self.within(async {
            file.write_all(data).await?;
            // tokio's File hands writes to a blocking thread: wait for them.
            file.flush().await
        })
        .await
    }

    async fn flush(&self, file: &mut File) -> Result<(), FsError> {
        self.within(file.sync_all()).await
    }

    async fn read(&self, file: &mut File, _name: &str, len: usize) -> Result<Vec<u8>, FsError> {
        self.within(async {
            file.seek(SeekFrom::Start(0)).await?;
            let mut data = Vec::with_capacity(len);
            file.take(len as u64).read_to_end(&mut data).await?;
            Ok(data)
        })
        .await
    }

    async fn rename(&self, _file: &mut File, from: &str, to: &str) -> Result<(), FsError> {
        let (from, to) = (self.path(from), self.path(to));
        // rename(2) replaces silently; the new name is unique, but never
        // replace a file all the same.
        if self.within(fs::try_exists(&to)).await? {
            return Err(FsError::new(
                FsProblem::AlreadyExists,
                format!("{} exists already", to.display()),
            ));
        }
        self.within(fs::rename(&from, &to)).await
    }

    async fn delete(&self, file: File, name: &str) -> Result<(), FsError> {
        drop(file);
        self.within(fs::remove_file(self.path(name))).await
    }

    async fn probe_files(&self) -> Result<Vec<Listed>, FsError> {
        self.within(async {
            let mut entries = fs::read_dir(&self.dir).await?;
            let mut found = Vec::new();
            while let Some(entry) = entries.next_entry().await? {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !is_probe_file(&name) {
                    continue;
                }
                let meta = entry.metadata().await?;
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

    async fn remove(&self, name: &str, _afresh: bool) -> Result<bool, FsError> {
        match self.within(fs::remove_file(self.path(name))).await {
            Ok(()) => Ok(true),
            Err(e) if e.problem == FsProblem::PathNotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn remove_in_background(&self, names: Vec<String>) {
        let paths: Vec<PathBuf> = names.iter().map(|n| self.path(n)).collect();
        // A blocking thread, so a slow mount delays nobody; the tracker lets
        // the program wait for it before exiting.
        let tracker = pending_cleanups();
        if tokio::runtime::Handle::try_current().is_ok() {
            tracker.spawn_blocking(move || {
                paths.iter().for_each(|p| remove_now(p));
            });
        } else {
            paths.iter().for_each(|p| remove_now(p));
        }
    }
}

fn remove_now(path: &Path) {
    let _ = std::fs::remove_file(path);
}
