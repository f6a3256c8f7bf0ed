//! Certificate description: DER in, the report's fields out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mssql_preflight::certificate::describe::CertificateInfo;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = CertificateInfo::parse(data) {
        let _ = info.text();
        let _ = info.san_list();
        let _ = info.is_sql_server_fallback();
    }
});
