//! `init`: writes a commented target file for one application, to edit and
//! then pass to `run --target`. Never overwrites a file without `--force`.

use std::io::Write;
use std::path::Path;

use super::args::InitArgs;
use super::usage_error;
use crate::exit;
use crate::target::AppKind;

pub fn init(args: &InitArgs) -> i32 {
    let text = template(args.app.kind());
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let written = options
        .open(&args.output)
        .and_then(|mut file| file.write_all(text.as_bytes()));
    match written {
        Ok(()) => {
            eprintln!(
                "Wrote {}. Fill in the server, the accounts and (for backups) the destination, then run:\n  mssql-preflight run --target {}",
                args.output.display(),
                shell_word(&args.output)
            );
            exit::OK
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => usage_error(format!(
            "{} already exists: edit it, choose another name with -o, or replace it with --force",
            args.output.display()
        )),
        Err(e) => usage_error(format!("cannot write {}: {e}", args.output.display())),
    }
}

fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The target file for `app`, every setting explained where it stands.
pub fn template(app: AppKind) -> String {
    let (name, database, user, backup, app_lines) = match app {
        AppKind::Pmp => (
            "Password Manager Pro",
            "PassTrix",
            "pmp",
            PMP_BACKUP,
            "[app]\nkind = \"pmp\"\n\
             install_dir = \"/opt/ManageEngine/PMP\"   # on Windows: C:\\Program Files\\ManageEngine\\PMP (the default when left out)\n\
             # service_account = 'CORP\\svc-pmp'      # Windows: the account PMP runs as\n",
        ),
        AppKind::Passwordstate => (
            "Passwordstate",
            "passwordstate",
            "passwordstate",
            PASSWORDSTATE_BACKUP,
            "[app]\nkind = \"passwordstate\"\n\
             # install_dir = 'C:\\inetpub\\Passwordstate'   # where Passwordstate is installed (the default when left out)\n\
             # database_on_other_server = true   # the database is on another server: backups run over PowerShell remoting\n",
        ),
    };
    format!(
        r#"# mssql-preflight target file for {name}: one SQL Server and what surrounds it.
# Written by `mssql-preflight init`. Fill in the values below, then:
#
#   mssql-preflight run --target THIS_FILE
#
# Relative paths are relative to this file. Passwords never go here or on the
# command line: name an environment variable (password_env), a file only its
# owner can read (password_file, mode 600), or use --password-stdin; with none
# of these on a terminal, the tool asks.

[server]
host = "sql01.corp.example.com"   # the name {name} uses (the certificate and Kerberos depend on it)
# port = 1433                     # default 1433; with `instance` and no port, the SQL Server Browser is asked
# instance = "PMP"                # a named instance, as in SQL01\PMP
database = "{database}"

[tls]
# ca_file = "corp-root.pem"        # the root CA {name} trusts; default: this machine's trust store
# expected_name = "sql01.corp.example.com"   # the name the certificate must carry; default: server.host

[sql]                              # the account {name} connects with
user = "{user}"
password_env = "PREFLIGHT_SQL_PASSWORD"   # or password_file = "sql.password" (mode 600)
{backup}
{app_lines}
# Per-check settings: `severity` ("warn" or "fail") and the check's parameters
# (`mssql-preflight explain ID` lists them), e.g.
# [checks."net.dns.reverse"]
# severity = "fail"
"#
    )
}

const PMP_BACKUP: &str = r#"
# [backup]                         # where PMP's scheduled backups go, and the account that writes there
# user = 'CORP\pback'
# password_env = "PREFLIGHT_BACKUP_PASSWORD"
# destination = '\\StorageServer01\Backups\PMP'   # or a local / mounted directory
"#;

const PASSWORDSTATE_BACKUP: &str = r#"
[backup]                           # Passwordstate's backup account, and where backups go
user = 'CORP\pback'
password_env = "PREFLIGHT_BACKUP_PASSWORD"
destination = '\\StorageServer01\Backups\Passwordstate'   # or a local / mounted directory
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{SecretInputs, Target, TargetOverrides};

    /// Each template is a valid target file for its application.
    #[test]
    fn each_template_loads_as_a_target_of_its_application() {
        for app in [AppKind::Pmp, AppKind::Passwordstate] {
            let text = template(app);
            let target = Target::from_toml(
                &text,
                Path::new("target.toml"),
                &TargetOverrides::default(),
                SecretInputs::default(),
            )
            .unwrap_or_else(|e| panic!("{app:?}: {e}\n{text}"));
            assert_eq!(target.app.as_ref().map(|a| a.kind), Some(app));
        }
    }
}
