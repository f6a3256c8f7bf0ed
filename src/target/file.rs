//! The target file as written: serde structures mirroring the TOML, with
//! unknown keys rejected. `super` turns them into a validated `Target`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::values;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub dns: DnsSection,
    #[serde(default)]
    pub tls: TlsSection,
    pub sql: Option<SqlSection>,
    pub backup: Option<BackupSection>,
    pub app: Option<AppSection>,
    /// Per-check settings: `severity` and the check's parameters.
    #[serde(default)]
    pub checks: BTreeMap<String, toml::Table>,
    /// Problems accepted on purpose: `[[waiver]]` tables.
    #[serde(default, rename = "waiver")]
    pub waivers: Vec<WaiverSection>,
}

/// `[[waiver]]`: a check whose warning or failure is accepted, why, and until when.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaiverSection {
    pub id: String,
    pub justification: String,
    /// The last day (UTC) the waiver applies, as a TOML date: `expires = 2026-12-31`.
    pub expires: Option<toml::value::Datetime>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    #[serde(default, deserialize_with = "values::de_host")]
    pub host: Option<String>,
    #[serde(default, deserialize_with = "values::de_port")]
    pub port: Option<u16>,
    pub instance: Option<String>,
    pub database: Option<String>,
    /// UDP port of the SQL Server Browser service.
    #[serde(default, deserialize_with = "values::de_port")]
    pub browser_port: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSection {
    /// Name servers to ask instead of the system's resolver, as `IP` or `IP:PORT`.
    #[serde(default)]
    pub nameservers: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub ca_file: Option<PathBuf>,
    pub expected_name: Option<String>,
    #[serde(default)]
    pub trust_server_certificate: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    #[default]
    Sql,
    /// A named Windows account and its password: NTLM (sspi-rs on Unix,
    /// winauth on Windows).
    Windows,
    /// The Windows account running mssql-preflight, through the system's
    /// SSPI: no user, no password. Windows only.
    Integrated,
}

impl AuthKind {
    /// Windows authentication of either kind (the server sees a Windows login).
    pub fn is_windows(self) -> bool {
        matches!(self, AuthKind::Windows | AuthKind::Integrated)
    }
}

/// What `[sql]` and `[backup]` say about their account.
pub struct AccountFields<'a> {
    pub auth: AuthKind,
    pub user: Option<&'a str>,
    pub password_env: Option<&'a str>,
    pub password_file: Option<&'a Path>,
}

/// Declares a section that names an account (`auth`, `user` and where its
/// password comes from) before its own fields. A macro, not a shared struct
/// under `#[serde(flatten)]`: flatten turns `deny_unknown_fields` off, and
/// with it the unknown-key errors that name the line, column and the key
/// that was meant.
macro_rules! account_section {
    (
        $(#[$section:meta])*
        $name:ident { $($(#[$field:meta])* $own:ident: $type:ty,)* }
    ) => {
        $(#[$section])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            #[serde(default)]
            pub auth: AuthKind,
            pub user: Option<String>,
            pub password_env: Option<String>,
            pub password_file: Option<PathBuf>,
            $($(#[$field])* pub $own: $type,)*
        }

        impl $name {
            pub fn account(&self) -> AccountFields<'_> {
                AccountFields {
                    auth: self.auth,
                    user: self.user.as_deref(),
                    password_env: self.password_env.as_deref(),
                    password_file: self.password_file.as_deref(),
                }
            }
        }
    };
}

account_section! {
    /// `[sql]`: the application account.
    SqlSection {}
}

account_section! {
    /// `[backup]`: the backup account and where backups go.
    BackupSection {
        /// A UNC path (`\\server\share\dir`) or a local or mounted directory.
        destination: Option<String>,
        /// The SMB port of the destination's server (445 unless set).
        #[serde(default, deserialize_with = "values::de_port")]
        smb_port: Option<u16>,
        /// The database's size (e.g. "12 GiB"), for share.space when SQL cannot say.
        #[serde(default, deserialize_with = "values::de_size")]
        database_size: Option<u64>,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    Pmp,
    Passwordstate,
}

impl AppKind {
    /// The built-in profile made for this application.
    pub fn profile_name(self) -> &'static str {
        match self {
            AppKind::Pmp => "pmp",
            AppKind::Passwordstate => "passwordstate",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    pub kind: AppKind,
    pub install_dir: Option<PathBuf>,
    /// The account the application runs as (`CORP\svc-pmp`, or a SID): on
    /// Windows it may read the key and configuration files.
    pub service_account: Option<String>,
    /// PMP with a custom encryption key: the certificate protecting it.
    pub certificate_name: Option<String>,
    /// PMP with a custom encryption key: the symmetric key's name.
    pub symmetric_key_name: Option<String>,
    /// The database is on another server than the application (Passwordstate's
    /// "Database Location" backup setting): backups run over PowerShell remoting.
    pub database_on_other_server: Option<bool>,
}
