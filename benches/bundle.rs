//! What a support bundle costs: the redactor's throughput over a large debug
//! log (every member passes through it), and the time and size of collecting
//! and zipping a bundle for a large report. Prints figures; asserts nothing.
//!
//!   cargo bench --bench bundle

use std::time::{Duration, Instant};

use mssql_preflight::bundle::{self, Inputs};
use mssql_preflight::engine::Run;
use mssql_preflight::report::{Report, Summary};

const SAMPLE: &str = include_str!("../tests/data/sample-report.json");

/// A debug log of about `megabytes` MB in the tool's own format.
fn debug_log(megabytes: usize) -> Vec<u8> {
    let line = "2026-11-23T15:53:32.136001Z DEBUG mssql_preflight::context: gathered fact=\"mssql_preflight::facts::tls::Tds7Handshake\" took=1.2ms\n";
    line.repeat(megabytes * 1024 * 1024 / line.len())
        .into_bytes()
}

/// The sample report with its results repeated until there are `checks`.
fn report(checks: usize) -> Report {
    let mut report = Report::from_json(SAMPLE).expect("the sample is a report");
    let base = report.results.clone();
    report.results = (0..checks)
        .map(|i| {
            let mut r = base[i % base.len()].clone();
            r.id = format!("{}.n{i}", r.id);
            r
        })
        .collect();
    report.summary = Summary::of(&report.results);
    report
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        let value = f();
        best = best.min(started.elapsed());
        last = Some(value);
    }
    (best, last.expect("at least one run"))
}

fn main() {
    for secret in ["Bench-Secret-1!", "another \"secret\"", "third-s3cret"] {
        mssql_preflight::redact::register(secret);
    }
    let log = debug_log(16);
    let megabytes = log.len() as f64 / 1e6;
    let (took, scrubbed) = best_of(5, || mssql_preflight::redact::scrub_bytes(&log).len());
    println!(
        "redactor: {megabytes:.1} MB debug log, 3 secrets (12 forms): {:.1} ms, {:.0} MB/s ({scrubbed} bytes out)",
        took.as_secs_f64() * 1e3,
        megabytes / took.as_secs_f64()
    );

    let dir = std::env::temp_dir().join(format!("mssql-preflight-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let path = dir.join("bench.zip");
    for checks in [50, 500] {
        let run = Run {
            report: report(checks),
            contexts: Vec::new(),
        };
        let (collect_took, members) = best_of(5, || {
            bundle::collect(
                &run,
                Inputs {
                    environment: serde_json::json!({ "bench": true }),
                    target_toml: "[server]\nhost = \"sql01\"\n".to_owned(),
                    debug_log: log.clone(),
                    packs: Vec::new(),
                },
            )
        });
        let (zip_took, ()) = best_of(3, || {
            bundle::write_zip(&members, &path, time::OffsetDateTime::now_utc())
                .expect("the bundle is written")
        });
        let raw: usize = members
            .paths()
            .filter_map(|p| members.get(p))
            .map(<[u8]>::len)
            .sum();
        let zipped = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "bundle: {checks} checks + {megabytes:.1} MB log: collect {:.1} ms, scrub+deflate+write {:.1} ms, {:.1} MB -> {:.2} MB zip",
            collect_took.as_secs_f64() * 1e3,
            zip_took.as_secs_f64() * 1e3,
            raw as f64 / 1e6,
            zipped as f64 / 1e6
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
