//! Target files that point at an emulated SQL Server (the `mssql-emulator`
//! fixture crate): what `demo` and `emulate --write-target` write, so a run
//! against an emulator goes through exactly the same loading as a real one.

use std::io;
use std::path::{Path, PathBuf};

use mssql_emulator::{Account, Emulator};

use crate::target::AppKind;

/// The files written for one emulated server; the target file names the others.
pub struct EmulatedTarget {
    pub target: PathBuf,
    pub ca_file: Option<PathBuf>,
    pub password_files: Vec<PathBuf>,
}

/// What surrounds the emulated server on this machine, when there is any:
/// a backup destination directory and an application install folder.
#[derive(Debug, Default, Clone)]
pub struct Surroundings {
    pub backup_destination: Option<PathBuf>,
    pub app: Option<(AppKind, PathBuf)>,
}

/// Writes `<stem>.toml` in `dir`, with the emulator's CA certificate and one
/// password file (mode 600) per account beside it.
pub fn write_target(
    emulator: &Emulator,
    dir: &Path,
    stem: &str,
    surroundings: &Surroundings,
) -> io::Result<EmulatedTarget> {
    let scenario = emulator.scenario();
    let addr = emulator.tds_addr();
    let mut password_files = Vec::new();
    let mut toml = format!(
        "# Points at the emulated SQL Server `{}`: {}\n# Written by mssql-preflight; the passwords are the scenario's test values.\n\n[server]\nhost = \"{}\"\nport = {}\n",
        scenario.name(),
        scenario.description(),
        addr.ip(),
        addr.port()
    );
    if let Some(instance) = scenario.instance_name() {
        toml.push_str(&format!("instance = {}\n", quoted(instance)));
    }
    if let Some(browser) = emulator.browser_addr() {
        toml.push_str(&format!("browser_port = {}\n", browser.port()));
    }
    let application = account_for(emulator, "application");
    if let Some(account) = application {
        toml.push_str(&format!(
            "database = {}\n",
            quoted(&account.default_database)
        ));
    }

    toml.push_str(&format!(
        "\n[tls]\nexpected_name = {}\n",
        quoted(scenario.host_name())
    ));
    let ca_pem = emulator.ca_pem();
    let ca_file = if ca_pem.trim().is_empty() {
        None
    } else {
        let path = dir.join(format!("{stem}-ca.pem"));
        std::fs::write(&path, ca_pem)?;
        toml.push_str(&format!("ca_file = {}\n", quoted(&file_name(&path))));
        Some(path)
    };

    for (section, role) in [("sql", "application"), ("backup", "backup")] {
        let Some(account) = account_for(emulator, role) else {
            continue;
        };
        let path = dir.join(format!("{stem}-{section}.password"));
        write_private(&path, &account.password)?;
        toml.push_str(&format!(
            "\n[{section}]   # {}\nuser = {}\npassword_file = {}\n",
            account.description,
            quoted(&account.user),
            quoted(&file_name(&path))
        ));
        password_files.push(path);
        if section == "backup"
            && let Some(destination) = &surroundings.backup_destination
        {
            toml.push_str(&format!(
                "destination = {}\n",
                quoted(&destination.display().to_string())
            ));
        }
    }

    if let Some((kind, install_dir)) = &surroundings.app {
        let kind = toml::Value::try_from(kind).map_err(io::Error::other)?;
        toml.push_str(&format!(
            "\n[app]\nkind = {kind}\ninstall_dir = {}\n",
            quoted(&install_dir.display().to_string())
        ));
    }

    let target = dir.join(format!("{stem}.toml"));
    std::fs::write(&target, toml)?;
    Ok(EmulatedTarget {
        target,
        ca_file,
        password_files,
    })
}

/// The scenario's account whose description names `role` (scenario files
/// describe their accounts as "application account", "backup account", …).
fn account_for<'a>(emulator: &'a Emulator, role: &str) -> Option<&'a Account> {
    emulator
        .scenario()
        .accounts()
        .iter()
        .find(|a| a.description.to_ascii_lowercase().starts_with(role))
}

fn write_private(path: &Path, secret: &str) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    writeln!(file, "{secret}")
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A TOML basic string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}
