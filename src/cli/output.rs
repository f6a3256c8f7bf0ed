//! Where output goes and how it looks: colour rules, terminal width, log
//! set-up, and report files. Everything written is scrubbed of secrets.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::Path;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::prelude::*;

use super::args::{ColorChoice, RunArgs};
use crate::bundle::log::LogCapture;
use crate::redact::ScrubbingWriter;
use crate::report::Style;

/// Colour unless asked for none: NO_COLOR (any non-empty value) or a
/// terminal that says it renders none (`TERM=dumb`). `--color always`
/// overrides both.
pub fn color_allowed() -> bool {
    color_allowed_by(std::env::var_os("NO_COLOR"), std::env::var_os("TERM"))
}

fn color_allowed_by(no_color: Option<OsString>, term: Option<OsString>) -> bool {
    no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

/// Colour on a terminal: allowed, and the terminal renders escape
/// sequences. A Windows console does once virtual-terminal processing is
/// switched on (Windows 10 and later); where it cannot be, no colour.
pub fn terminal_color(stream_is_terminal: bool) -> bool {
    stream_is_terminal && color_allowed() && escape_sequences_render()
}

/// Off Windows, a terminal renders escape sequences; a Windows console does
/// once this has switched virtual-terminal processing on.
fn escape_sequences_render() -> bool {
    anstyle_query::windows::enable_ansi_colors().unwrap_or(true)
}

/// The style of the report on standard output.
pub fn stdout_style(args: &RunArgs) -> Style {
    let tty = std::io::stdout().is_terminal();
    let color = match args.color {
        ColorChoice::Always => {
            // Switched on where it can be; asked for, so on regardless of
            // NO_COLOR and TERM.
            escape_sequences_render();
            true
        }
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal_color(tty),
    };
    // comfy-table reports the terminal's width when stdout is one; a
    // terminal that reports 0 columns (`script`, `ssh -T`, some CI runners)
    // does not know its width.
    let width = if tty {
        comfy_table::Table::new().width().filter(|w| *w > 0)
    } else {
        None
    };
    Style {
        color,
        width,
        show: args.show,
        quiet: args.quiet,
    }
}

/// Logs go to standard error through the redactor. `MSSQL_PREFLIGHT_LOG`
/// (an env-filter directive) overrides the verbosity flags. With `capture`
/// (the bundle's debug log), everything at debug level is also kept there,
/// whatever standard error shows.
pub fn init_logging(verbose: u8, capture: Option<LogCapture>) {
    let default = match verbose {
        // The SMB client logs refusals the checks expect (a wrong password,
        // no such file) as errors, and the SQL library logs the server's
        // errors ("Login failed for user …") and its own choices; the
        // findings report what matters of them.
        0 => "warn,smb=off,tiberius=off",
        1 => "mssql_preflight=debug,info",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_env("MSSQL_PREFLIGHT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(|| OneLine(ScrubbingWriter(std::io::stderr())))
        // No colour codes: `OneLine` writes every escape out.
        .with_ansi(false)
        .with_filter(filter.and(filter_fn(true_of_this_tool)));
    let captured = capture.map(|capture| {
        tracing_subscriber::fmt::layer()
            .with_writer(capture)
            .with_ansi(false)
            .with_filter(EnvFilter::new("debug").and(filter_fn(true_of_this_tool)))
    });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(captured)
        .try_init();
}

/// Leaves out the warnings tiberius's connection module gives, which are
/// never true of this tool: "TLS encryption is not enabled … credentials are
/// not encrypted" when a login travels inside a TLS session this tool made
/// itself (`probe::tds::secured`), and "Turning TLS off after a login",
/// which needs an ENCRYPT_OFF login this tool never makes. Its debug events
/// stay.
fn true_of_this_tool(metadata: &tracing::Metadata<'_>) -> bool {
    !(metadata.target() == "tiberius::client::connection"
        && *metadata.level() == tracing::Level::WARN)
}

/// A log writer that puts each event on one line: a line break inside an
/// event (a multi-line message or `Debug` dump) is written `\n`, and any
/// other control character a server put in its text is written out too.
struct OneLine<W>(W);

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, end) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (&*text, ""),
        };
        let body = body.replace('\n', "\\n");
        let line = crate::report::escape_controls(&body);
        self.0.write_all(line.as_bytes())?;
        self.0.write_all(end.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Writes `text` to standard output. A reader that stops early
/// (`mssql-preflight list | head`) leaves the rest nowhere to go: that ends
/// the output, quietly, where `print!` would panic on the broken pipe. Any
/// other failure to write still panics, as `print!` does.
pub fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            panic!("failed printing to stdout: {e}")
        }
        _ => {}
    }
}

/// Writes a rendered report to `path`, creating nothing but the file. The
/// report's values were masked before layout (`Report::render`); scrubbing
/// the whole text again could only rewrite the tool's own words.
pub fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Refuses an output path that cannot be written, before anything runs: its
/// directory is missing or does not let this user create a file there
/// (tried with a temporary file, removed at once), or it names a directory.
pub fn check_writable(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "cannot write {}: the directory {} does not exist",
            path.display(),
            dir.display()
        ));
    }
    if path.is_dir() {
        return Err(format!(
            "cannot write {}: it is a directory",
            path.display()
        ));
    }
    if path.exists() {
        // Opened for appending: nothing written, nothing truncated.
        return std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| format!("cannot write {}: {e}", path.display()));
    }
    tempfile::NamedTempFile::new_in(dir)
        .map(drop)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_event_is_one_line_without_control_characters() {
        let mut out = OneLine(Vec::new());
        out.write_all(b"ERROR server said: line one\nline two \x1b]0;title\x07\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            "ERROR server said: line one\\nline two \\u{1b}]0;title\\u{7}\n"
        );
    }

    #[test]
    fn no_color_or_a_dumb_terminal_turns_colour_off() {
        let some = |s: &str| Some(OsString::from(s));
        assert!(color_allowed_by(None, some("xterm-256color")));
        assert!(color_allowed_by(some(""), None));
        assert!(!color_allowed_by(some("1"), some("xterm")));
        assert!(!color_allowed_by(None, some("dumb")));
    }
}
