//! `render` of a saved JSON report, in every format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mssql_preflight::report::{Format, Report, Style};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(report) = Report::from_json(text) {
        for format in [
            Format::Table,
            Format::Json,
            Format::Junit,
            Format::Markdown,
            Format::Html,
        ] {
            let _ = report.render(format, Style::PLAIN);
        }
    }
});
