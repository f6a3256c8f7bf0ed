//! Stopping a run from outside: Ctrl-C (SIGINT), SIGTERM (`timeout`,
//! `docker stop`, systemd, CI cancellation) and SIGHUP (the terminal went
//! away) all cancel the run the same way — probes undo what they did under
//! a short bound, the report of what finished is printed — and the exit
//! code says which signal it was. A second signal quits at once.

use std::sync::OnceLock;

use tokio_util::sync::CancellationToken;

use crate::exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Elsewhere than Unix only Ctrl-C arrives (for now).
#[cfg_attr(not(unix), allow(dead_code))]
pub enum Signal {
    Interrupt,
    Terminate,
    HangUp,
}

impl Signal {
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => exit::INTERRUPTED,
            Signal::Terminate => exit::TERMINATED,
            Signal::HangUp => exit::HUNG_UP,
        }
    }

    /// How the report names it.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "Ctrl-C",
            Signal::Terminate => "SIGTERM",
            Signal::HangUp => "SIGHUP",
        }
    }
}

/// The first signal this process received, if any.
static RECEIVED: OnceLock<Signal> = OnceLock::new();

pub fn received() -> Option<Signal> {
    RECEIVED.get().copied()
}

/// Cancels `cancel` at the first signal; exits at the second.
pub async fn cancel_on_signal(cancel: CancellationToken) {
    let Some(mut signals) = Signals::listen() else {
        return;
    };
    let Some(first) = signals.next().await else {
        return;
    };
    let _ = RECEIVED.set(first);
    eprintln!(
        "\nInterrupted ({}): removing probe files and finishing the report (send it again to quit at once).",
        first.name()
    );
    cancel.cancel();
    if let Some(again) = signals.next().await {
        eprintln!("Quit without cleaning up: probe files may remain (the next run removes them).");
        std::process::exit(again.exit_code());
    }
}

#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hang_up: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn listen() -> Option<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Some(Signals {
            interrupt: signal(SignalKind::interrupt()).ok()?,
            terminate: signal(SignalKind::terminate()).ok()?,
            hang_up: signal(SignalKind::hangup()).ok()?,
        })
    }

    async fn next(&mut self) -> Option<Signal> {
        tokio::select! {
            s = self.interrupt.recv() => s.map(|_| Signal::Interrupt),
            s = self.terminate.recv() => s.map(|_| Signal::Terminate),
            s = self.hang_up.recv() => s.map(|_| Signal::HangUp),
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn listen() -> Option<Signals> {
        Some(Signals)
    }

    /// Ctrl-C, Ctrl-Break or the console closing (see `console`).
    async fn next(&mut self) -> Option<Signal> {
        super::console::interrupted()
            .await
            .ok()
            .map(|_| Signal::Interrupt)
    }
}
