//! Time to every tls.* verdict against an emulated SQL Server on loopback,
//! next to the time nmap's ssl-cert script takes to read the certificate of
//! the same server, and their ratio.
//!
//! `cargo bench --bench tls_verdicts` (needs nmap; `ROUNDS=n` to change the
//! number of rounds, 20 by default). The emulator listens on port 1433 of a
//! loopback address of its own, since nmap recognises SQL Server by port.

#[allow(dead_code)] // each benchmark uses part of it
mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use mssql_emulator::{Emulator, EmulatorOptions, Scenario};
use mssql_preflight::engine::{self, EngineOptions, Silent};
use mssql_preflight::finding::Status;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn start_emulator() -> Emulator {
    for third in 1..=50u8 {
        let options = EmulatorOptions {
            bind: IpAddr::from([127, 78, third, 1]),
            tds_port: 1433,
            ..EmulatorOptions::default()
        };
        let scenario = Scenario::builtin("sql2022-healthy").expect("built-in scenario");
        if let Ok(emulator) = Emulator::start(scenario, options).await {
            return emulator;
        }
    }
    panic!("no loopback address with port 1433 free");
}

fn nmap_once(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let output = Command::new("nmap")
        .args([
            "-Pn",
            "-sT",
            "-p",
            &addr.port().to_string(),
            "--script",
            "ssl-cert",
            &addr.ip().to_string(),
        ])
        .output()
        .expect("nmap runs (apt-get install nmap)");
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("ssl-cert: Subject"),
        "nmap did not read the certificate:\n{text}"
    );
    took
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let emulator = start_emulator().await;
    let addr = emulator.tds_addr();
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, emulator.ca_pem()).expect("write CA");
    let target_file = dir.path().join("target.toml");
    std::fs::write(
        &target_file,
        format!(
            "[server]\nhost = \"{}\"\nport = {}\n[tls]\nca_file = \"{}\"\nexpected_name = \"{}\"\n",
            addr.ip(),
            addr.port(),
            ca_file.display(),
            emulator.scenario().host_name()
        ),
    )
    .expect("write target");
    let target = common::load_target(&target_file);
    let plan = common::plan(&common::checks_matching("tls.*"));

    let mut ours = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let outcome = engine::run(target.clone(), &plan, &EngineOptions::default(), &Silent).await;
        ours.push(started.elapsed());
        let failed: Vec<_> = outcome
            .report
            .results
            .iter()
            .filter(|r| r.status != Status::Pass)
            .collect();
        assert!(
            failed.is_empty(),
            "the healthy server must pass every tls.* check: {failed:#?}"
        );
    }
    let mut theirs = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        theirs.push(
            tokio::task::spawn_blocking(move || nmap_once(addr))
                .await
                .expect("nmap task"),
        );
    }
    emulator.shutdown().await;

    let (ours, theirs) = (median(ours), median(theirs));
    println!("tls_verdicts: {rounds} rounds against the emulated sql2022-healthy at {addr}");
    println!(
        "  all {} tls.* verdicts (mssql-preflight, in process): median {:8.2} ms",
        plan.checks.len(),
        millis(ours)
    );
    println!(
        "  nmap -Pn -sT -p {} --script ssl-cert:            median {:8.2} ms",
        addr.port(),
        millis(theirs)
    );
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    println!(
        "  ratio mssql-preflight / nmap: {ratio:.4} (nmap takes {:.0}x as long)",
        1.0 / ratio
    );
}
