//! A progress bar on standard error while checks run, shown only on a
//! terminal so pipes and CI logs stay clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::Progress;
use crate::finding::Status;

pub struct Bar {
    bar: ProgressBar,
    /// Without a terminal, retries are announced as plain lines instead.
    terminal: bool,
    /// `-q`: nothing at all.
    quiet: bool,
}

impl Bar {
    /// A bar on standard error when it is a terminal; invisible otherwise.
    pub fn for_stderr() -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = if terminal {
            ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar {
            bar,
            terminal,
            quiet: false,
        }
    }
}

impl Bar {
    /// No display at all (`-q`).
    pub fn hidden() -> Self {
        Bar {
            bar: ProgressBar::hidden(),
            terminal: false,
            quiet: true,
        }
    }
}

impl Progress for Bar {
    fn attempt_started(&self, attempt: u32, checks: usize) {
        self.bar.set_length(checks as u64);
        self.bar.set_position(0);
        self.bar.set_prefix(if attempt > 1 {
            format!("checking (attempt {attempt})")
        } else {
            "checking".to_owned()
        });
    }

    fn check_finished(&self, id: &str, status: Status) {
        self.bar.inc(1);
        self.bar.set_message(format!("{id}: {status}"));
    }

    fn waiting_to_retry(&self, failing: &[String], remaining: Duration) {
        let shown: Vec<&str> = failing.iter().take(3).map(String::as_str).collect();
        let more = failing.len().saturating_sub(shown.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let message = format!(
            "waiting: {}{more} not passing yet; retrying for up to {}",
            shown.join(", "),
            humantime::format_duration(Duration::from_secs(remaining.as_secs()))
        );
        if self.terminal {
            self.bar.set_message(message);
        } else if !self.quiet {
            eprintln!("mssql-preflight: {message}");
        }
    }

    fn finished(&self) {
        self.bar.finish_and_clear();
    }
}
