//! The server's PRELOGIN answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mssql_preflight::probe::tds::prelogin::parse_response;

fuzz_target!(|data: &[u8]| {
    let _ = parse_response(data);
});
