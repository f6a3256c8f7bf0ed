//! TDS packet reassembly: messages read one after another from the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mssql_preflight::probe::tds::packet::read_message;

fuzz_target!(|data: &[u8]| {
    let mut reader = data;
    futures::executor::block_on(async {
        while read_message(&mut reader, 64 * 1024).await.is_ok() {}
    });
});
