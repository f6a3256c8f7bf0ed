//! What rendering costs when a server sends a huge text: the sample report
//! with a 1 MB unbroken string (a "version", an error message) in a
//! result's message, actual value and evidence, rendered in every format.
//! Goal: under 50 ms per format. Prints figures; asserts nothing.
//!
//!   cargo bench --bench render

use std::time::{Duration, Instant};

use mssql_preflight::report::{Format, Report, Style};

const SAMPLE: &str = include_str!("../tests/data/sample-report.json");

fn hostile_report(bytes: usize) -> Report {
    let mut report = Report::from_json(SAMPLE).expect("the sample is a report");
    let huge = "16.0.4135.4-".repeat(bytes / 12);
    let failed = report
        .results
        .iter_mut()
        .find(|r| r.id == "tls.cert.hostname")
        .expect("the sample has tls.cert.hostname");
    failed.message = format!("the server says it is {huge}");
    failed.actual = Some(huge.clone());
    failed.evidence.insert(
        "version".to_owned(),
        serde_json::Value::String(huge.clone()),
    );
    report.target.host = huge;
    report
}

fn best_of(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut size = 0;
    for _ in 0..runs {
        let start = Instant::now();
        size = std::hint::black_box(f());
        best = best.min(start.elapsed());
    }
    (best, size)
}

fn main() {
    let report = hostile_report(1024 * 1024);
    println!("render: the sample report with a 1 MB server string in 4 fields, best of 5");
    for (name, format) in [
        ("table", Format::Table),
        ("json", Format::Json),
        ("junit", Format::Junit),
        ("markdown", Format::Markdown),
        ("html", Format::Html),
    ] {
        let style = Style {
            width: Some(80),
            ..Style::PLAIN
        };
        let (time, size) = best_of(5, || report.render(format, style).len());
        println!(
            "  {name:<9} {:>8.2} ms  {:>9} bytes{}",
            time.as_secs_f64() * 1000.0,
            size,
            if time > Duration::from_millis(50) {
                "  (over the 50 ms goal)"
            } else {
                ""
            }
        );
    }
}
