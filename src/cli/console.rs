//! What stops a run from the console. Ctrl-C everywhere; on Windows also
//! Ctrl-Break and closing the console window, which Windows follows with
//! termination a few seconds later, time enough to remove probe files.

/// Resolves when the user asks the run to stop (Unix has its signals: see
/// `signals`).
pub async fn interrupted() -> std::io::Result<()> {
    #[cfg(windows)]
    {
        windows_console_stop().await
    }
    #[cfg(not(windows))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// Ctrl-C, Ctrl-Break or the console window closing, whichever comes first.
#[cfg(windows)]
async fn windows_console_stop() -> std::io::Result<()> {
    use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close};
    let (mut c, mut brk, mut close) = (ctrl_c()?, ctrl_break()?, ctrl_close()?);
    tokio::select! {
        _ = c.recv() => {}
        _ = brk.recv() => {}
        _ = close.recv() => {}
    }
    Ok(())
}
