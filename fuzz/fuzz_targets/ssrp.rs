//! The SQL Browser's (SSRP) answer datagram.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mssql_preflight::probe::ssrp::parse_response;

fuzz_target!(|data: &[u8]| {
    let _ = parse_response(data);
});
