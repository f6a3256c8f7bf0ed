//! The target file as written: serde structures mirroring the TOML, with
//! unknown keys rejected. `super` turns them into a validated `Target`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub dns: DnsSection,
    #[serde(default)]
    pub tls: TlsSection,
    pub sql: Option<AccountSection>,
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
    pub host: Option<String>,
    pub port: Option<u16>,
    pub instance: Option<String>,
    pub database: Option<String>,
    /// UDP port of the SQL Server Browser service.
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
    Windows,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSection {
    #[serde(default)]
    pub auth: AuthKind,
    pub user: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSection {
    #[serde(default)]
    pub auth: AuthKind,
    pub user: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// A UNC path (`\\server\share\dir`) or a local or mounted directory.
    pub destination: Option<String>,
    /// The SMB port of the destination's server (445 unless set).
    pub smb_port: Option<u16>,
    /// The database's size (e.g. "12 GiB"), for share.space when SQL cannot say.
    pub database_size: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    Pmp,
    Passwordstate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    pub kind: AppKind,
    pub install_dir: Option<PathBuf>,
    /// PMP with a custom encryption key: the certificate protecting it.
    pub certificate_name: Option<String>,
    /// PMP with a custom encryption key: the symmetric key's name.
    pub symmetric_key_name: Option<String>,
    /// The database is on another server than the application (Passwordstate's
    /// "Database Location" backup setting): backups run over PowerShell remoting.
    pub database_on_other_server: Option<bool>,
}
