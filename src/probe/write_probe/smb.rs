//! The probe on an SMB share, as the backup account.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use async_trait::async_trait;
use tokio_util::task::TaskTracker;

use super::{Listed, PROBE_PREFIX, PROBE_SUFFIX, Store, is_probe_file};
use crate::probe::fs_error::{FsError, FsProblem};
use crate::probe::smb::{ProbeFile, ShareConnection};

pub struct SmbStore {
    share: Arc<ShareConnection>,
    /// A second session for cleanup, opened when the first one failed.
    fresh: tokio::sync::OnceCell<ShareConnection>,
    /// The first session failed: do not wait on it again.
    broken: AtomicBool,
}

impl SmbStore {
    pub fn new(share: Arc<ShareConnection>) -> Self {
        SmbStore {
            share,
            fresh: tokio::sync::OnceCell::new(),
            broken: AtomicBool::new(false),
        }
    }

    fn path(&self, name: &str) -> String {
        self.share.login().unc.file(name)
    }
}

#[async_trait]
impl Store for SmbStore {
    type File = ProbeFile;

    async fn open_folder(&self) -> Result<(), FsError> {
        let folder = self
            .share
            .open_folder(&self.share.login().unc.folder())
            .await?;
        let _ = folder.close().await;
        Ok(())
    }

    async fn create_new(&self, name: &str) -> Result<(ProbeFile, SystemTime), FsError> {
        // Delete-on-close: should this process die or the connection break,
        // the server removes the file when it closes the handle.
        let file = self.share.create_new(&self.path(name), true).await?;
        let created = file.created;
        Ok((file, created))
    }

    async fn write(&self, file: &mut ProbeFile, data: &[u8]) -> Result<(), FsError> {
        file.write(data).await
    }

    async fn flush(&self, file: &mut ProbeFile) -> Result<(), FsError> {
        file.flush().await
    }

    async fn read(
        &self,
        _file: &mut ProbeFile,
        name: &str,
        len: usize,
    ) -> Result<Vec<u8>, FsError> {
        self.share.read_back(&self.path(name), len).await
    }

    async fn rename(&self, file: &mut ProbeFile, _from: &str, to: &str) -> Result<(), FsError> {
        file.rename(&self.path(to)).await
    }

    async fn delete(&self, file: ProbeFile, _name: &str) -> Result<(), FsError> {
        file.delete().await
    }

    async fn probe_files(&self) -> Result<Vec<Listed>, FsError> {
        let unc = &self.share.login().unc;
        let folder = self.share.open_folder(&unc.folder()).await?;
        let listed = self
            .share
            .list(&folder, &format!("{PROBE_PREFIX}*{PROBE_SUFFIX}"))
            .await;
        let _ = folder.close().await;
        let mut listed = listed?;
        listed.retain(|f| is_probe_file(&f.name));
        Ok(listed)
    }

    async fn is_present(&self, name: &str) -> Result<bool, FsError> {
        let unc = &self.share.login().unc;
        let folder = self.share.open_folder(&unc.folder()).await?;
        // The exact name as the pattern: nothing else in the folder matters.
        let listed = self.share.list(&folder, name).await;
        let _ = folder.close().await;
        Ok(listed?.iter().any(|f| f.name.eq_ignore_ascii_case(name)))
    }

    async fn remove(&self, name: &str, afresh: bool) -> Result<bool, FsError> {
        let path = self.path(name);
        if !afresh && !self.broken.load(Ordering::SeqCst) {
            match self.share.remove_if_present(&path).await {
                Err(e) if matches!(e.problem, FsProblem::ConnectionLost | FsProblem::TimedOut) => {
                    self.broken.store(true, Ordering::SeqCst);
                }
                other => return other,
            }
        }
        // Log on afresh, once, for all the names still to remove, and let go
        // of the old connection so the server closes what it held open.
        let fresh = self
            .fresh
            .get_or_try_init(|| async {
                self.broken.store(true, Ordering::SeqCst);
                self.share.abort().await;
                ShareConnection::open(self.share.login().clone())
                    .await
                    .map_err(|e| e.error)
            })
            .await?;
        fresh.remove_if_present(&path).await
    }

    fn remove_in_background(&self, names: Vec<String>, cleanups: &TaskTracker) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // No runtime left: the server's delete-on-close remains.
        };
        let login = self.share.login().clone();
        cleanups.spawn_on(
            async move {
                let paths: Vec<String> = names.iter().map(|n| login.unc.file(n)).collect();
                if let Ok(share) = ShareConnection::open(login).await {
                    for path in &paths {
                        let _ = share.remove_if_present(path).await;
                    }
                    share.close().await;
                }
            },
            &runtime,
        );
    }
}
