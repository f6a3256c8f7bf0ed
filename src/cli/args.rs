//! Argument definitions (clap derive). Passwords are deliberately absent:
//! they come from the environment, a file, standard input or a prompt.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::outcome::FailOn;
use crate::report::Format;
use crate::report::view::Show;

#[derive(Debug, Parser)]
#[command(
    name = "mssql-preflight",
    version,
    about = "Tells whether a Microsoft SQL Server backend is ready for the application that will use it",
    long_about = "Tells whether a Microsoft SQL Server backend is ready for the application that will use it \
(Password Manager Pro, Passwordstate): DNS, ports, SQL Browser, TLS and the certificate, logins, roles and \
permissions, the backup share, and the application's own files.\n\n\
Exit codes: 0 nothing failed; 1 at least one check failed (or warned, with --fail-on warn); \
2 bad usage or target file, nothing checked; 3 no failure but some check could not run; \
130 interrupted (Ctrl-C), 143 stopped (SIGTERM), 129 hung up (SIGHUP): the report shows what finished."
)]
pub struct Cli {
    /// More log output on standard error (-v debug, -vv trace). Secrets are never logged.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented target file for an application, to fill in and pass to `run --target`.
    Init(InitArgs),
    /// Run the checks against a target and report.
    Run(Box<RunArgs>),
    /// List the checks (and the profiles that include them).
    List(ListArgs),
    /// Explain one check: what it looks at, why it matters, how to fix it.
    Explain {
        /// Check id, e.g. tls.cert.hostname
        id: String,
        #[command(flatten)]
        packs: PackArgs,
    },
    /// Run the checks and write a support bundle: one zip with the reports,
    /// the certificates, the redacted target file, the environment, timings
    /// and the debug log, readable without this tool.
    Bundle(Box<BundleArgs>),
    /// Render a saved JSON report in another format.
    Render {
        /// A report written with --format json or --report json=PATH
        report: PathBuf,
        #[arg(long, short, value_enum, default_value = "table")]
        format: Format,
    },
    /// Print the JSON Schema of the JSON report.
    Schema,
    /// Serve the inventory's targets to Prometheus: /probe?target=NAME runs one target's checks and answers metrics.
    Serve(Box<super::serve::ServeArgs>),
    /// Print a shell completion script, e.g. `mssql-preflight completions bash > /etc/bash_completion.d/mssql-preflight`.
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `mssql-preflight man > mssql-preflight.1`.
    Man,
    /// Run every check against two built-in emulated SQL Servers (one healthy, one with classic mistakes).
    Demo {
        /// Limit for each network operation.
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Run one emulated SQL Server in the foreground until Ctrl-C.
    Emulate {
        /// A built-in scenario name (e.g. sql2022-healthy, cn-mismatch) or a scenario file.
        #[arg(long)]
        scenario: String,
        /// TCP port to listen on (0 picks a free one).
        #[arg(long, default_value = "0")]
        port: u16,
        /// UDP port for the SQL Server Browser (default: a free one when the scenario has a named instance).
        #[arg(long)]
        browser_port: Option<u16>,
        /// Write a target file pointing at the emulated server (CA file and 0600 password files beside it).
        #[arg(long, value_name = "FILE")]
        write_target: Option<PathBuf>,
    },
}

/// Where check packs beyond the built-in ones come from.
#[derive(Debug, Args, Clone, Default)]
pub struct PackArgs {
    /// Also load the check packs (*.toml) and profile additions (profiles.toml) in this directory (repeatable).
    #[arg(long = "checks-dir", value_name = "DIR")]
    pub checks_dirs: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Where to write the zip: a file, or a directory to put mssql-preflight-bundle-HOST-TIME.zip in (default: the current directory).
    #[arg(long, short = 'o', value_name = "FILE.zip|DIR")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The application the server is for.
    #[arg(long, value_enum, default_value = "pmp")]
    pub app: App,
    /// Where to write the target file.
    #[arg(long, short = 'o', value_name = "FILE", default_value = "target.toml")]
    pub output: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// An application `init` writes a target file for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum App {
    /// ManageEngine Password Manager Pro.
    Pmp,
    /// Click Studios Passwordstate.
    Passwordstate,
}

impl App {
    pub fn kind(self) -> crate::target::AppKind {
        match self {
            App::Pmp => crate::target::AppKind::Pmp,
            App::Passwordstate => crate::target::AppKind::Passwordstate,
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only the checks of this profile.
    #[arg(long, short)]
    pub profile: Option<String>,
    #[arg(long, short, value_enum, default_value = "table")]
    pub format: ListFormat,
    #[command(flatten)]
    pub packs: PackArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

/// What to check and how: shared by every command that runs checks.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Target file (TOML) describing the server, accounts, backup destination and application.
    #[arg(long, short = 't', value_name = "FILE")]
    pub target: Option<PathBuf>,
    /// Server host name or IP address (overrides the target file).
    #[arg(long, value_parser = crate::target::values::host)]
    pub host: Option<String>,
    /// SQL Server TCP port (overrides the target file; otherwise 1433 or the SQL Browser's answer).
    #[arg(long, value_parser = crate::target::values::port)]
    pub port: Option<u16>,
    /// Named instance (overrides the target file).
    #[arg(long)]
    pub instance: Option<String>,
    /// Application database (overrides the target file).
    #[arg(long)]
    pub database: Option<String>,
    /// The application's SQL account (overrides `user` under [sql]); its password comes from
    /// password_env/password_file in the target file, --password-stdin or a prompt, never the command line.
    #[arg(long, value_name = "USER")]
    pub sql_user: Option<String>,
    /// The account that runs backups (overrides `user` under [backup]); password as for --sql-user,
    /// with --backup-password-stdin.
    #[arg(long, value_name = "USER")]
    pub backup_user: Option<String>,
    /// Where backups go, a UNC path or a directory (overrides `destination` under [backup]).
    #[arg(long, value_name = "PATH")]
    pub backup_destination: Option<String>,
    /// Log in even when the server's certificate cannot be verified; SQL findings are then marked as unverified.
    #[arg(long)]
    pub trust_server_cert: bool,

    /// Profile: pmp, passwordstate or all.
    #[arg(long, short)]
    pub profile: Option<String>,
    /// Only checks matching this id or glob (repeatable), e.g. 'tls.*'.
    #[arg(long = "check", short = 'c', value_name = "PATTERN")]
    pub checks: Vec<String>,
    /// Leave out checks matching this id or glob (repeatable).
    #[arg(long = "skip", value_name = "PATTERN")]
    pub skips: Vec<String>,
    /// Also run intrusive checks (a COPY_ONLY test backup written by SQL Server to the backup destination, then removed).
    #[arg(long)]
    pub intrusive: bool,
    #[command(flatten)]
    pub packs: PackArgs,

    /// Limit for each network operation, e.g. 2s or 500ms.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Limit for a whole attempt: checks still running then end in `error`.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub deadline: Duration,
    /// Re-run failing checks until they pass or this much time has passed (e.g. waiting for a database container).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub retry_timeout: Option<Duration>,

    /// Format of the report on standard output.
    #[arg(long, short, value_enum, default_value = "table")]
    pub format: Format,
    /// Also write the report to a file: FORMAT=PATH (repeatable), e.g. json=report.json junit=junit.xml.
    #[arg(long = "report", value_name = "FORMAT=PATH", value_parser = parse_report_spec)]
    pub reports: Vec<(Format, PathBuf)>,
    /// Lowest status that makes the exit code 1.
    #[arg(long, value_enum, default_value = "fail")]
    pub fail_on: FailOn,
    /// Colour in the table: auto (on a terminal, unless NO_COLOR is set or TERM=dumb), always (even then) or never.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// Which checks get a row in the table and Markdown: all, or only those that need attention (skipped checks are always listed once per cause).
    #[arg(long, value_enum, default_value = "all")]
    pub show: Show,
    /// Print only what needs attention (each check with the first step of its fix) and the verdict; no progress display.
    #[arg(long, short)]
    pub quiet: bool,

    /// Read the [sql] account's password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Read the [backup] account's password from standard input (the line after the SQL one, if both).
    #[arg(long)]
    pub backup_password_stdin: bool,

    /// Many targets at once (`--inventory`, `--only`, `--jobs`, `--rerun-failed`).
    #[command(flatten)]
    pub estate: super::estate::EstateArgs,
}

impl RunArgs {
    /// The defaults of `run --target PATH`, as the command line would give them.
    pub fn for_target(path: &std::path::Path, timeout: Duration) -> RunArgs {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: RunArgs,
        }
        let mut args = Only::parse_from([
            std::ffi::OsStr::new("run"),
            "--target".as_ref(),
            path.as_os_str(),
        ])
        .args;
        args.timeout = timeout;
        args
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

pub(super) use crate::human::parse_duration;

fn parse_report_spec(text: &str) -> Result<(Format, PathBuf), String> {
    let (format, path) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not FORMAT=PATH (e.g. json=report.json)"))?;
    if path.is_empty() {
        return Err(format!("`{text}` names no file"));
    }
    Ok((format.parse()?, PathBuf::from(path)))
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks over every subcommand: two flags with
    /// one name (as `-q` once was, from two features) fail here, not in a
    /// user's shell.
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
