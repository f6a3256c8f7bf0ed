//! TLS-in-TDS unwrapping: the handshake's bytes out of PRELOGIN packets,
//! read in small and large pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mssql_preflight::probe::tds::wrapped::PreloginWrapped;
use tokio::io::AsyncReadExt;

fuzz_target!(|data: &[u8]| {
    let Some((&piece, data)) = data.split_first() else {
        return;
    };
    let mut wrapped = PreloginWrapped::new(data);
    let mut buf = vec![0u8; usize::from(piece) + 1];
    futures::executor::block_on(async {
        while matches!(wrapped.read(&mut buf).await, Ok(n) if n > 0) {}
    });
});
