//! A check pack: TOML text in, declared checks or an error out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mssql_preflight::pack;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = pack::parse(text, "fuzz.toml");
});
