//! Progress of an estate run on standard error: an overall bar of targets
//! and one line per running target, only on a terminal and never with -q.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::Progress;
use crate::estate::runner::EstateProgress;
use crate::finding::Status;
use crate::outcome::Verdict;

pub struct EstateBars {
    lines: MultiProgress,
    overall: ProgressBar,
}

impl EstateBars {
    /// Bars on standard error when it is a terminal and `quiet` is off;
    /// nothing otherwise.
    pub fn for_stderr(targets: usize, quiet: bool) -> EstateBars {
        let target = if std::io::stderr().is_terminal() && !quiet {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let lines = MultiProgress::with_draw_target(target);
        let overall = lines.add(ProgressBar::new(targets as u64));
        overall.set_style(
            ProgressStyle::with_template("{spinner} targets [{bar:30}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        overall.enable_steady_tick(Duration::from_millis(120));
        EstateBars { lines, overall }
    }

    pub fn finish(&self) {
        self.overall.finish_and_clear();
        let _ = self.lines.clear();
    }
}

impl EstateProgress for EstateBars {
    fn target_started(&self, name: &str) -> Box<dyn Progress> {
        let line = self.lines.insert_before(&self.overall, ProgressBar::new(0));
        line.set_style(
            ProgressStyle::with_template("  {prefix:20} {pos}/{len} checks {msg}")
                .expect("valid template"),
        );
        line.set_prefix(name.to_owned());
        Box::new(TargetLine { line })
    }

    fn target_finished(&self, name: &str, verdict: Verdict) {
        self.overall.inc(1);
        self.overall.set_message(format!("{name}: {verdict}"));
    }
}

/// One running target's line; it goes away when the target finishes.
struct TargetLine {
    line: ProgressBar,
}

impl Progress for TargetLine {
    fn attempt_started(&self, _attempt: u32, checks: usize) {
        self.line.set_length(checks as u64);
        self.line.set_position(0);
    }

    fn check_finished(&self, id: &str, status: Status) {
        self.line.inc(1);
        self.line.set_message(format!("{id}: {status}"));
    }

    fn finished(&self) {
        self.line.finish_and_clear();
    }
}
