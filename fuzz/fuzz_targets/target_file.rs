//! The target file: TOML text in, a validated target or an error out.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mssql_preflight::target::{SecretInputs, Target, TargetOverrides};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Target::from_toml(
        text,
        Path::new("fuzz/target.toml"),
        &TargetOverrides::default(),
        SecretInputs::default(),
    );
});
