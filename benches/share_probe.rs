//! Wall time of the backup write probe: over SMB against a Samba server on
//! loopback (a whole check, logon included, and the probe alone on an open
//! session) and on a local directory. Needs root and Debian's samba, like
//! the tests. Run with `cargo bench --bench share_probe`.

#[path = "../tests/it/support/samba.rs"]
#[allow(dead_code)]
mod samba;

#[allow(dead_code)] // each benchmark uses part of it
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mssql_preflight::engine::{self, EngineOptions, Silent};
use mssql_preflight::finding::Status;
use mssql_preflight::probe::destination::UncPath;
use mssql_preflight::probe::smb::{ShareConnection, ShareLogin};
use mssql_preflight::probe::write_probe::{self, LocalStore, SmbStore};
use tokio_util::sync::CancellationToken;

const ROUNDS: usize = 40;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let samba = samba::Samba::start();
    let timeout = Duration::from_secs(5);

    // A whole share.write check: connect, negotiate, NTLM logon, tree
    // connect, the probe's nine steps, the stale-file sweep.
    let dir = tempfile::tempdir().unwrap();
    let target_file = dir.path().join("t.toml");
    let unc = samba.unc("backups", "");
    std::fs::write(
        &target_file,
        samba.target(&unc, samba::WRITER, samba::WRITER_PASSWORD),
    )
    .unwrap();
    let target = common::load_target(&target_file);
    let plan = common::plan(&common::checks_matching("share.write"));
    let whole = measure(|| {
        runtime.block_on(async {
            let run = engine::run(target.clone(), &plan, &EngineOptions::default(), &Silent).await;
            assert_eq!(
                run.report.results[0].status,
                Status::Pass,
                "{:?}",
                run.report.results
            );
        })
    });
    print("share.write check over SMB (logon included)", &whole);

    // The probe alone, on one open session.
    let login = ShareLogin {
        unc: UncPath::parse(&unc).unwrap(),
        address: SocketAddr::from(([127, 0, 0, 1], samba.port)),
        user: samba::WRITER.to_owned(),
        password: samba::WRITER_PASSWORD.into(),
        timeout,
    };
    let share = Arc::new(
        runtime
            .block_on(ShareConnection::open(login.clone()))
            .unwrap_or_else(|e| panic!("logon: {:?}", e.error)),
    );
    let logon = measure(|| {
        runtime.block_on(async {
            let s = ShareConnection::open(login.clone())
                .await
                .unwrap_or_else(|e| panic!("logon: {:?}", e.error));
            s.close().await;
        })
    });
    print("SMB connect + NTLM logon + tree connect", &logon);
    let store = SmbStore::new(share.clone());
    let cancel = CancellationToken::new();
    let cleanups = tokio_util::task::TaskTracker::new();
    let probe = measure(|| {
        let report = runtime.block_on(write_probe::run(&store, &cancel, &cleanups));
        assert!(report.succeeded(), "{report:?}");
    });
    print("write probe over SMB on an open session", &probe);

    let local_dir = tempfile::tempdir().unwrap();
    let local = LocalStore::new(local_dir.path(), timeout);
    let local_probe = measure(|| {
        let report = runtime.block_on(write_probe::run(&local, &cancel, &cleanups));
        assert!(report.succeeded(), "{report:?}");
    });
    print(
        "write probe on a local directory (with fsync)",
        &local_probe,
    );
    runtime.block_on(share.close());
}

fn measure(mut once: impl FnMut()) -> Vec<Duration> {
    once(); // warm up
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            once();
            started.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn print(what: &str, sorted: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what:<48} n={:<3} min {:>7.2} ms  median {:>7.2} ms  p95 {:>7.2} ms  max {:>7.2} ms",
        sorted.len(),
        ms(sorted[0]),
        ms(at(0.5)),
        ms(at(0.95)),
        ms(sorted[sorted.len() - 1]),
    );
}
