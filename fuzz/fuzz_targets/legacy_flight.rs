//! The answer to the legacy (TLS 1.0–1.2) ClientHello: records until
//! ServerHelloDone or an alert.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mssql_preflight::probe::tds::legacy::read_first_flight;

fuzz_target!(|data: &[u8]| {
    let mut reader = data;
    let _ = futures::executor::block_on(read_first_flight(&mut reader));
});
