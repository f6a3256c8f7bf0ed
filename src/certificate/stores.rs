//! The trusted certificates, loaded once per distinct configuration (a CA
//! file's path, or the system's roots) and shared: every target of a run
//! that names the same CA file, or none, judges against one loaded copy, so
//! an estate of a thousand targets reads its CA file and the system store
//! once each. The exporter, which runs for months, reloads a configuration
//! once its copy is older than its refresh interval, so a renewed CA file
//! or an updated system store is seen.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::OnceCell;

use super::TrustStore;

/// What a load gave: the store, or why it could not be read.
type Loaded = Result<Arc<TrustStore>, String>;

/// The trust stores loaded so far; clones share them.
#[derive(Clone, Default)]
pub struct TrustStores {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Keyed by the CA file (`None`: the system's roots).
    loaded: Mutex<HashMap<Option<PathBuf>, Entry>>,
    /// `None`: a copy is kept as long as the stores are (one run).
    refresh_after: Option<Duration>,
    /// How many times a store was read from disk, for tests and the log.
    loads: AtomicUsize,
}

struct Entry {
    since: Instant,
    /// Filled once: targets asking while it loads wait for that one load.
    store: Arc<OnceCell<Loaded>>,
}

impl std::fmt::Debug for TrustStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustStores")
            .field("loads", &self.loads())
            .field("refresh_after", &self.shared.refresh_after)
            .finish()
    }
}

impl TrustStores {
    /// Stores that are reloaded once older than `interval` (the exporter).
    pub fn refreshed_after(interval: Duration) -> TrustStores {
        TrustStores {
            shared: Arc::new(Shared {
                refresh_after: Some(interval),
                ..Shared::default()
            }),
        }
    }

    /// The CA file's certificates, or the system's roots: loaded by the
    /// first caller, shared with every later one.
    pub async fn get(&self, ca_file: Option<&Path>) -> Loaded {
        let store = {
            let mut loaded = self.shared.loaded.lock();
            let key = ca_file.map(Path::to_path_buf);
            let stale = loaded.get(&key).is_some_and(|entry| {
                self.shared
                    .refresh_after
                    .is_some_and(|limit| entry.since.elapsed() >= limit)
            });
            if stale {
                loaded.remove(&key);
            }
            loaded
                .entry(key)
                .or_insert_with(|| Entry {
                    since: Instant::now(),
                    store: Arc::default(),
                })
                .store
                .clone()
        };
        store.get_or_init(|| self.load(ca_file)).await.clone()
    }

    /// How many times a store was read (each distinct configuration once,
    /// plus each refresh).
    pub fn loads(&self) -> usize {
        self.shared.loads.load(Ordering::Relaxed)
    }

    async fn load(&self, ca_file: Option<&Path>) -> Loaded {
        self.shared.loads.fetch_add(1, Ordering::Relaxed);
        let path = ca_file.map(Path::to_path_buf);
        let store = tokio::task::spawn_blocking(move || TrustStore::load(path.as_deref()))
            .await
            .map_err(|e| format!("loading the trusted certificates failed: {e}"))??;
        tracing::debug!(anchors = %store.describe(), "loaded the trusted certificates");
        Ok(Arc::new(store))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_file(dir: &Path, name: &str) -> PathBuf {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let pem = params.self_signed(&key).unwrap().pem();
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn each_configuration_is_loaded_once_however_many_targets_ask_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = ca_file(dir.path(), "first.pem");
        let second = ca_file(dir.path(), "second.pem");
        let stores = TrustStores::default();
        let asks = (0..50).map(|i| {
            let stores = stores.clone();
            let path = match i % 3 {
                0 => Some(first.clone()),
                1 => Some(second.clone()),
                _ => None,
            };
            tokio::spawn(async move { stores.get(path.as_deref()).await })
        });
        let answers: Vec<Loaded> = futures::future::try_join_all(asks).await.unwrap();
        assert_eq!(stores.loads(), 3, "{stores:?}");
        let firsts: Vec<&Arc<TrustStore>> = answers
            .iter()
            .step_by(3)
            .map(|a| a.as_ref().unwrap())
            .collect();
        assert!(firsts.iter().all(|s| Arc::ptr_eq(s, firsts[0])));
        assert_eq!(
            firsts[0].source,
            super::super::trust::AnchorSource::CaFile { path: first }
        );
    }

    #[tokio::test]
    async fn an_unreadable_ca_file_is_an_answer_too_and_is_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let stores = TrustStores::default();
        for _ in 0..3 {
            let error = stores.get(Some(&missing)).await.unwrap_err();
            assert!(error.contains("cannot read the CA file"), "{error}");
        }
        assert_eq!(stores.loads(), 1);
    }

    #[tokio::test]
    async fn the_exporter_reloads_a_copy_older_than_its_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = ca_file(dir.path(), "root.pem");
        let kept = TrustStores::refreshed_after(Duration::from_secs(3600));
        let renewed = TrustStores::refreshed_after(Duration::ZERO);
        for stores in [&kept, &renewed] {
            stores.get(Some(&path)).await.unwrap();
            stores.get(Some(&path)).await.unwrap();
        }
        assert_eq!(kept.loads(), 1);
        assert_eq!(renewed.loads(), 2);
    }
}
