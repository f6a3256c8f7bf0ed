//! The command line: argument definitions and dispatch. Each subcommand
//! lives in its own module and returns an exit code from `crate::exit`.

mod about;
mod args;
mod bundle;
#[cfg(not(unix))]
mod console;
#[cfg(feature = "emulator")]
mod demo;
mod describe;
#[cfg(feature = "emulator")]
mod emulate;
mod estate;
mod estate_bundle;
mod estate_progress;
mod init;
mod output;
mod progress;
mod run;
mod serve;
mod signals;

use std::io::IsTerminal;

use clap::Parser;

pub use args::{Cli, Command, RunArgs};

use crate::bundle::log::LogCapture;
use crate::exit;

/// Parses the command line, runs the command, and returns the exit code.
pub fn main() -> i32 {
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if about::wants_detail(&raw) {
        output::print(&about::detail());
        return exit::OK;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    let capture = matches!(cli.command, Command::Bundle(_)).then(LogCapture::new);
    output::init_logging(cli.verbose, capture.clone());
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match cli.command {
        Command::Init(args) => init::init(&args),
        Command::Run(args) => run::run(*args),
        Command::Bundle(args) => bundle::bundle(*args, capture.unwrap_or_default()),
        Command::List(args) => describe::list(args),
        Command::Explain { id, packs } => describe::explain(&id, &packs),
        Command::Render { report, format } => describe::render(&report, format),
        #[cfg(feature = "emulator")]
        Command::Demo { timeout } => demo::demo(timeout),
        #[cfg(feature = "emulator")]
        Command::Emulate {
            scenario,
            port,
            browser_port,
            write_target,
        } => emulate::emulate(emulate::EmulateRequest {
            scenario,
            port,
            browser_port,
            write_target,
        }),
        #[cfg(not(feature = "emulator"))]
        Command::Demo { .. } => without_emulator("demo"),
        #[cfg(not(feature = "emulator"))]
        Command::Emulate { .. } => without_emulator("emulate"),
        Command::Serve(args) => serve::serve(*args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "mssql-preflight", &mut out);
            output::print(&String::from_utf8_lossy(&out));
            exit::OK
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut out) {
                Ok(()) => {
                    output::print(&String::from_utf8_lossy(&out));
                    exit::OK
                }
                Err(e) => usage_error(format!("cannot write the manual page: {e}")),
            }
        }
        Command::Schema => {
            output::print(crate::report::JSON_SCHEMA);
            exit::OK
        }
    }
}

/// Prints what loading the checks found questionable (e.g. a pack query
/// reading an object SQL Server's catalog does not have).
pub(crate) fn print_load_warnings(catalog: &crate::catalog::Catalog) {
    for warning in &catalog.warnings {
        eprintln!("warning: {}", crate::redact::scrub(warning));
    }
}

/// `demo` and `emulate` in a build without the emulator: where to get them.
#[cfg(not(feature = "emulator"))]
fn without_emulator(command: &str) -> i32 {
    usage_error(format!(
        "`{command}` needs the built-in SQL Server emulator, which this build leaves out. Use a release binary (they include it) or build with the default features: `cargo install --path .` (not `--no-default-features`)"
    ))
}

/// Prints an error the user can act on and returns the usage exit code.
pub(crate) fn usage_error(message: impl std::fmt::Display) -> i32 {
    let text = crate::redact::scrub(&message.to_string()).into_owned();
    if output::terminal_color(std::io::stderr().is_terminal()) {
        eprintln!("\x1b[1;31merror:\x1b[0m {text}");
    } else {
        eprintln!("error: {text}");
    }
    exit::USAGE
}
