//! Time to judge one certificate chain in process — parse it, build and
//! validate every path to the trusted certificates, and lint the path —
//! over the corpus of tests/it/support/cert_corpus.rs (the chains the
//! differential test compares with OpenSSL and Java). Goal: a median under
//! 1 ms per chain.
//!
//! `cargo bench --bench cert_judging` (`ROUNDS=n` to change the number of
//! rounds over the corpus, 200 by default).

#[path = "../tests/it/support/cert_corpus.rs"]
#[allow(dead_code)] // the tests use more of it
mod cert_corpus;

use std::time::{Duration, Instant};

use mssql_preflight::certificate::CertificateInfo;
use mssql_preflight::certificate::lint;
use mssql_preflight::certificate::trust::{self, AnchorSource, TrustStore};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

struct Prepared {
    name: &'static str,
    chain: Vec<CertificateDer<'static>>,
    store: TrustStore,
}

/// What the tool does with one captured chain: describe it, judge it, lint
/// the judged path.
fn judge_once(case: &Prepared) -> usize {
    let infos: Vec<CertificateInfo> = case
        .chain
        .iter()
        .map(|c| CertificateInfo::parse(c).expect("corpus certificates parse"))
        .collect();
    let judgement = trust::judge(&case.chain, &infos, &case.store, OffsetDateTime::now_utc());
    judgement.path.len() + lint::lint(&judgement.path).len()
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    let corpus: Vec<Prepared> = cert_corpus::corpus()
        .into_iter()
        .map(|case| Prepared {
            name: case.name,
            chain: case.chain.into_iter().map(CertificateDer::from).collect(),
            store: TrustStore {
                source: AnchorSource::System,
                certificates: case.anchors.into_iter().map(CertificateDer::from).collect(),
                load_errors: Vec::new(),
            },
        })
        .collect();
    let mut per_chain: Vec<Duration> = Vec::with_capacity(rounds * corpus.len());
    let mut slowest: Vec<(Duration, &'static str)> = Vec::new();
    for _ in 0..rounds {
        for case in &corpus {
            let started = Instant::now();
            std::hint::black_box(judge_once(case));
            let took = started.elapsed();
            per_chain.push(took);
            slowest.push((took, case.name));
        }
    }
    per_chain.sort();
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    let at = |q: f64| per_chain[((per_chain.len() - 1) as f64 * q) as usize];
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "cert_judging: {} chains x {rounds} rounds (parse + path building + validation + lint, in process)",
        corpus.len()
    );
    println!(
        "  median per chain: {:8.1} µs (goal < 1000 µs)",
        micros(at(0.5))
    );
    println!("  90th percentile:  {:8.1} µs", micros(at(0.9)));
    println!(
        "  slowest:          {:8.1} µs ({})",
        micros(slowest[0].0),
        slowest[0].1
    );
}
