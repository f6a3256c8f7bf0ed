//! The target: one SQL Server and what surrounds it, described once in a
//! TOML file and on the command line, validated before anything is checked.

mod file;
pub(crate) mod secrets;
pub(crate) mod values;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Serialize;

use file::TargetFile;
pub use file::{AppKind, AuthKind};
pub use secrets::{Credential, SecretInputs};

use crate::meta::{ParamTables, Severity};
use crate::probe::destination::Destination;
use crate::tomlfile::{self, TomlError};
use crate::waiver::Waiver;

pub const DEFAULT_SQL_PORT: u16 = 1433;
pub const DEFAULT_BROWSER_PORT: u16 = 1434;
pub const DEFAULT_SMB_PORT: u16 = 445;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Toml(#[from] TomlError),
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// A setting the target lacks that something asked for; its message says
/// where to add it. (A check that needs it skips as not configured.)
/// `how` is worded for how this run got its settings ([`Target::how_to_set`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unset {
    #[error("no application account: {how}")]
    SqlAccount { how: String },
    #[error("no application database named: {how}")]
    Database { how: String },
    #[error("no backup account: {how}")]
    BackupAccount { how: String },
}

/// What the command line says about the target; it wins over the file.
#[derive(Debug, Default, Clone)]
pub struct TargetOverrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub instance: Option<String>,
    pub database: Option<String>,
    pub trust_server_certificate: bool,
    /// `--sql-user`: the application account (`user` under [sql]).
    pub sql_user: Option<String>,
    /// `--backup-user`: the backup account (`user` under [backup]).
    pub backup_user: Option<String>,
    /// `--backup-destination` (`destination` under [backup]).
    pub backup_destination: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Server {
    pub host: String,
    pub port: Option<u16>,
    pub instance: Option<String>,
    pub database: Option<String>,
    pub browser_port: u16,
}

impl Server {
    /// The host as an IP address, when it was given as one.
    pub fn ip(&self) -> Option<IpAddr> {
        crate::probe::dns::ip_literal(&self.host)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Dns {
    pub nameservers: Vec<SocketAddr>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Tls {
    pub ca_file: Option<PathBuf>,
    pub expected_name: Option<String>,
    pub trust_server_certificate: bool,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub auth: AuthKind,
    pub user: String,
    pub password: Credential,
}

#[derive(Debug, Clone, Default)]
pub struct Backup {
    pub account: Option<Account>,
    pub destination: Option<String>,
    /// `destination`, parsed and validated.
    pub parsed_destination: Option<Destination>,
    /// The SMB port of the destination's server (`DEFAULT_SMB_PORT` unless set).
    pub smb_port: Option<u16>,
    /// The database's size in bytes as the target file gives it.
    pub database_size: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct App {
    pub kind: AppKind,
    pub install_dir: Option<PathBuf>,
    /// The account the application runs as, which may read its files.
    pub service_account: Option<String>,
    /// PMP's custom encryption key: its certificate and symmetric key names
    /// (both absent with PMP's default key).
    pub certificate_name: Option<String>,
    pub symmetric_key_name: Option<String>,
    /// The database is on another server than the application.
    pub database_on_other_server: Option<bool>,
}

/// Per-check settings from the target file.
#[derive(Debug, Clone, Default)]
pub struct CheckSettings {
    pub severity: Option<Severity>,
}

#[derive(Debug, Clone)]
pub struct Target {
    /// The file the target came from, when there was one.
    pub origin: Option<PathBuf>,
    pub server: Server,
    pub dns: Dns,
    pub tls: Tls,
    pub sql: Option<Account>,
    pub backup: Backup,
    pub app: Option<App>,
    pub checks: BTreeMap<String, CheckSettings>,
    /// Check parameters set in the target file.
    pub params: ParamTables,
    /// Accepted problems, by check id.
    pub waivers: BTreeMap<String, Waiver>,
}

impl Target {
    /// Loads a target from an optional file and the command line's overrides.
    pub fn load(
        path: Option<&Path>,
        overrides: &TargetOverrides,
        inputs: SecretInputs,
    ) -> Result<Target, TargetError> {
        let file: TargetFile = match path {
            Some(p) => tomlfile::read(p)?,
            None => TargetFile::default(),
        };
        Self::from_file(file, path, overrides, inputs)
    }

    /// Reads a target from the text of a target file; `origin` is where the
    /// text came from, for messages and relative paths.
    pub fn from_toml(
        text: &str,
        origin: &Path,
        overrides: &TargetOverrides,
        inputs: SecretInputs,
    ) -> Result<Target, TargetError> {
        let file: TargetFile = tomlfile::parse(text, &origin.display().to_string())?;
        Self::from_file(file, Some(origin), overrides, inputs)
    }

    fn from_file(
        file: TargetFile,
        origin: Option<&Path>,
        overrides: &TargetOverrides,
        mut inputs: SecretInputs,
    ) -> Result<Target, TargetError> {
        let origin_name = origin
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "command line".to_owned());
        let invalid = |message: String| TargetError::Invalid {
            origin: origin_name.clone(),
            message,
        };
        let host = overrides
            .host
            .clone()
            .or(file.server.host)
            .filter(|h| !h.trim().is_empty())
            .ok_or_else(|| {
                invalid("no server to check: set `host` under [server] or pass --host".to_owned())
            })?;
        let server = Server {
            host: host.trim().to_owned(),
            port: overrides.port.or(file.server.port),
            instance: overrides.instance.clone().or(file.server.instance),
            database: overrides.database.clone().or(file.server.database),
            browser_port: file.server.browser_port.unwrap_or(DEFAULT_BROWSER_PORT),
        };
        let nameservers = file
            .dns
            .nameservers
            .iter()
            .map(|s| parse_nameserver(s).map_err(|m| invalid(format!("[dns] nameservers: {m}"))))
            .collect::<Result<_, _>>()?;
        let tls = Tls {
            ca_file: file.tls.ca_file.map(|p| tomlfile::relative_to(origin, &p)),
            expected_name: file.tls.expected_name,
            trust_server_certificate: overrides.trust_server_certificate
                || file.tls.trust_server_certificate,
        };
        if let Some(ca) = &tls.ca_file {
            check_ca_file(ca).map_err(|m| invalid(format!("[tls] ca_file: {m}")))?;
        }
        let allow_prompt = inputs.allow_prompt;
        let sql = match with_user(
            file.sql.as_ref().map(|s| s.account()),
            overrides.sql_user.as_deref(),
        ) {
            Some(fields) => account(
                "SQL",
                fields,
                origin,
                inputs.sql_password.take(),
                allow_prompt,
            )?,
            None => None,
        };
        let backup_section = file.backup.unwrap_or_default();
        let backup_account = match with_user(
            Some(backup_section.account()),
            overrides.backup_user.as_deref(),
        ) {
            Some(fields) => account(
                "backup",
                fields,
                origin,
                inputs.backup_password.take(),
                allow_prompt,
            )?,
            None => None,
        };
        let destination = overrides
            .backup_destination
            .clone()
            .or(backup_section.destination);
        let backup = Backup {
            account: backup_account,
            parsed_destination: destination
                .as_deref()
                .map(Destination::parse)
                .transpose()
                .map_err(|m| invalid(format!("[backup] destination: {m}")))?,
            destination,
            smb_port: backup_section.smb_port,
            database_size: backup_section.database_size,
        };
        let app = file.app.map(|a| App {
            kind: a.kind,
            install_dir: a.install_dir.map(|p| tomlfile::relative_to(origin, &p)),
            service_account: a.service_account.filter(|n| !n.trim().is_empty()),
            certificate_name: a.certificate_name.filter(|n| !n.trim().is_empty()),
            symmetric_key_name: a.symmetric_key_name.filter(|n| !n.trim().is_empty()),
            database_on_other_server: a.database_on_other_server,
        });
        let mut checks = BTreeMap::new();
        let mut params = ParamTables::new();
        for (id, mut table) in file.checks {
            let severity = match table.remove("severity") {
                Some(value) => Some(value.try_into::<Severity>().map_err(|_| {
                    invalid(format!(
                        "[checks.\"{id}\"] severity must be \"warn\" or \"fail\""
                    ))
                })?),
                None => None,
            };
            checks.insert(id.clone(), CheckSettings { severity });
            params.insert(id, table);
        }
        let mut waivers = BTreeMap::new();
        for section in file.waivers {
            let waiver = Waiver::new(&section.justification, section.expires.as_ref())
                .map_err(|m| invalid(format!("[[waiver]] for `{}`: {m}", section.id)))?;
            if waivers.insert(section.id.clone(), waiver).is_some() {
                return Err(invalid(format!(
                    "[[waiver]]: `{}` is waived twice; keep one waiver per check",
                    section.id
                )));
            }
        }
        Ok(Target {
            origin: origin.map(Path::to_path_buf),
            server,
            dns: Dns { nameservers },
            tls,
            sql,
            backup,
            app,
            checks,
            params,
            waivers,
        })
    }

    /// The name the application will expect on the server's certificate.
    pub fn expected_tls_name(&self) -> &str {
        self.tls
            .expected_name
            .as_deref()
            .unwrap_or(&self.server.host)
    }

    /// The application account, or which setting is missing.
    pub fn sql_account(&self) -> Result<&Account, Unset> {
        self.sql.as_ref().ok_or_else(|| Unset::SqlAccount {
            how: self.how_to_set("sql", &["user"]),
        })
    }

    /// The application database, or which setting is missing.
    pub fn database(&self) -> Result<&str, Unset> {
        self.server
            .database
            .as_deref()
            .ok_or_else(|| Unset::Database {
                how: self.how_to_set("server", &["database"]),
            })
    }

    /// The backup account, or which setting is missing.
    pub fn backup_account(&self) -> Result<&Account, Unset> {
        self.backup
            .account
            .as_ref()
            .ok_or_else(|| Unset::BackupAccount {
                how: self.how_to_set("backup", &["user"]),
            })
    }

    /// How to give the settings `keys` of `[section]`, for a skip reason:
    /// the flag and the key, worded for a run with a target file ("set
    /// `user` under [sql] in the target file, or pass --sql-user") or
    /// without one ("pass --sql-user (`user` under [sql] in a target
    /// file)"), so a user without a file is never told to edit one.
    pub fn how_to_set(&self, section: &str, keys: &[&str]) -> String {
        let named: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
        let what = format!("{} under [{section}]", named.join(" and "));
        let flag = match keys {
            [key] => setting_flag(section, key),
            _ => None,
        };
        match (&self.origin, flag) {
            (Some(_), Some(flag)) => format!("set {what} in the target file, or pass {flag}"),
            (Some(_), None) => format!("set {what} in the target file"),
            (None, Some(flag)) => format!("pass {flag} ({what} in a target file)"),
            (None, None) => format!(
                "set {what} in a target file (`mssql-preflight init` writes one) and pass it with --target"
            ),
        }
    }

    /// What reports may say about the target: no secrets, no password sources.
    pub fn summary(&self) -> TargetSummary {
        TargetSummary {
            file: self.origin.as_ref().map(|p| p.display().to_string()),
            host: self.server.host.clone(),
            port: self.server.port,
            instance: self.server.instance.clone(),
            database: self.server.database.clone(),
            expected_tls_name: self.expected_tls_name().to_owned(),
            trust_server_certificate: self.tls.trust_server_certificate,
            sql_user: self.sql.as_ref().map(|a| a.user.clone()),
            backup_user: self.backup.account.as_ref().map(|a| a.user.clone()),
            backup_destination: self.backup.destination.clone(),
            app: self.app.as_ref().map(|a| a.kind),
        }
    }
}

/// The target as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TargetSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub instance: Option<String>,
    pub database: Option<String>,
    pub expected_tls_name: String,
    pub trust_server_certificate: bool,
    pub sql_user: Option<String>,
    pub backup_user: Option<String>,
    pub backup_destination: Option<String>,
    pub app: Option<AppKind>,
}

impl TargetSummary {
    /// The server as reports name it: `host\instance:port`, each part when given.
    pub fn server_line(&self) -> String {
        let mut line = self.host.clone();
        if let Some(instance) = &self.instance {
            line.push('\\');
            line.push_str(instance);
        }
        if let Some(port) = self.port {
            line.push_str(&format!(":{port}"));
        }
        line
    }
}

/// The command-line flag that sets `key` of `[section]`, where one does.
pub fn setting_flag(section: &str, key: &str) -> Option<&'static str> {
    Some(match (section, key) {
        ("server", "host") => "--host",
        ("server", "port") => "--port",
        ("server", "instance") => "--instance",
        ("server", "database") => "--database",
        ("sql", "user") => "--sql-user",
        ("backup", "user") => "--backup-user",
        ("backup", "destination") => "--backup-destination",
        _ => return None,
    })
}

/// An account section's fields with the command line's user, if given: a
/// flag names the account even without a section.
fn with_user<'a>(
    section: Option<file::AccountFields<'a>>,
    user: Option<&'a str>,
) -> Option<file::AccountFields<'a>> {
    match (section, user) {
        (Some(fields), Some(user)) => Some(file::AccountFields {
            user: Some(user),
            ..fields
        }),
        (Some(fields), None) => Some(fields),
        (None, Some(user)) => Some(file::AccountFields {
            auth: AuthKind::default(),
            user: Some(user),
            password_env: None,
            password_file: None,
        }),
        (None, None) => None,
    }
}

fn account(
    role: &str,
    fields: file::AccountFields<'_>,
    origin: Option<&Path>,
    stdin: Option<secrecy::SecretString>,
    allow_prompt: bool,
) -> Result<Option<Account>, TargetError> {
    if fields.auth == AuthKind::Integrated {
        return integrated_account(role, &fields, origin).map(Some);
    }
    let Some(user) = fields.user.filter(|u| !u.trim().is_empty()) else {
        return Ok(None);
    };
    let password = secrets::resolve(secrets::PasswordSources {
        account: role,
        section: if role == "backup" { "backup" } else { "sql" },
        user,
        env: fields.password_env,
        file: fields
            .password_file
            .map(|p| tomlfile::relative_to(origin, p))
            .as_deref(),
        stdin,
        allow_prompt,
        has_target_file: origin.is_some(),
    })?;
    Ok(Some(Account {
        auth: fields.auth,
        user: user.to_owned(),
        password,
    }))
}

/// The CA file must hold at least one PEM certificate: anything else would
/// only surface later as an untrusted chain.
fn check_ca_file(path: &Path) -> Result<(), String> {
    if !path.is_file() {
        return Err(format!(
            "`{}` does not exist or is not a file",
            path.display()
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let certificates = pem::parse_many(&bytes)
        .map(|blocks| blocks.iter().filter(|b| b.tag() == "CERTIFICATE").count())
        .unwrap_or(0);
    if certificates == 0 {
        return Err(format!(
            "`{}` holds no PEM certificate (a block starting -----BEGIN CERTIFICATE-----); \
             a DER file (.cer, .crt) converts with `openssl x509 -inform der -in root.cer -out root.pem`",
            path.display()
        ));
    }
    Ok(())
}

/// `auth = "integrated"`: the logged-on Windows account, through the
/// system's SSPI. It names no account and reads no password, and it cannot
/// work where there is no Windows to log on to.
fn integrated_account(
    role: &str,
    fields: &file::AccountFields<'_>,
    origin: Option<&Path>,
) -> Result<Account, TargetError> {
    let section = if role == "SQL" { "[sql]" } else { "[backup]" };
    let invalid = |message: String| TargetError::Invalid {
        origin: origin
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "command line".to_owned()),
        message: format!("{section}: {message}"),
    };
    let Some(user) = logged_on_windows_account() else {
        return Err(invalid(
            "auth = \"integrated\" (the logged-on Windows account, through Windows' SSPI) works only when mssql-preflight runs on Windows, as that account; here, use auth = \"windows\" with user = 'DOMAIN\\user' and its password (NTLM)".to_owned(),
        ));
    };
    if fields.user.is_some() || fields.password_env.is_some() || fields.password_file.is_some() {
        return Err(invalid(
            "auth = \"integrated\" logs in as the Windows account running mssql-preflight, so it takes no `user` or password; to name an account, use auth = \"windows\" with user = 'DOMAIN\\user' and a password".to_owned(),
        ));
    }
    Ok(Account {
        auth: AuthKind::Integrated,
        user,
        password: Credential::NotNeeded,
    })
}

/// `DOMAIN\user` of the account running this process, on Windows.
#[cfg(windows)]
fn logged_on_windows_account() -> Option<String> {
    let user = std::env::var("USERNAME").ok()?;
    Some(match std::env::var("USERDOMAIN") {
        Ok(domain) if !domain.is_empty() => format!("{domain}\\{user}"),
        _ => user,
    })
}

#[cfg(not(windows))]
fn logged_on_windows_account() -> Option<String> {
    None
}

fn parse_nameserver(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("`{text}` is not an IP address or IP:port"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Target, TargetError> {
        let file: TargetFile = tomlfile::parse(text, "t.toml")?;
        Target::from_file(
            file,
            Some(Path::new("/etc/preflight/t.toml")),
            &TargetOverrides::default(),
            SecretInputs::default(),
        )
    }

    #[test]
    fn flags_override_the_file() {
        let file: TargetFile =
            tomlfile::parse("[server]\nhost = \"a\"\nport = 1\n", "t.toml").unwrap();
        let overrides = TargetOverrides {
            host: Some("b".into()),
            port: Some(2),
            ..Default::default()
        };
        let t = Target::from_file(file, None, &overrides, SecretInputs::default()).unwrap();
        assert_eq!((t.server.host.as_str(), t.server.port), ("b", Some(2)));
    }

    #[test]
    fn accounts_and_the_destination_come_from_flags_without_a_file() {
        let overrides = TargetOverrides {
            host: Some("sql01".into()),
            sql_user: Some("pmp".into()),
            backup_user: Some("pback".into()),
            backup_destination: Some(r"\\nas01\backups".into()),
            ..Default::default()
        };
        let inputs = SecretInputs {
            sql_password: Some("s3cret-app".to_owned().into()),
            backup_password: Some("s3cret-backup".to_owned().into()),
            allow_prompt: false,
        };
        let t = Target::from_file(TargetFile::default(), None, &overrides, inputs).unwrap();
        assert_eq!(t.sql.as_ref().unwrap().user, "pmp");
        assert!(matches!(
            t.sql.as_ref().unwrap().password,
            Credential::Given(_)
        ));
        assert_eq!(t.backup.account.as_ref().unwrap().user, "pback");
        assert_eq!(t.backup.destination.as_deref(), Some(r"\\nas01\backups"));
        assert!(t.backup.parsed_destination.is_some());
        // A flag wins over the file's user and keeps its password source.
        let file: TargetFile = tomlfile::parse(
            "[server]\nhost = \"a\"\n[sql]\nuser = \"old\"\npassword_env = \"PREFLIGHT_TEST_UNSET_VAR\"\n",
            "t.toml",
        )
        .unwrap();
        let overrides = TargetOverrides {
            sql_user: Some("new".into()),
            ..Default::default()
        };
        let t = Target::from_file(file, None, &overrides, SecretInputs::default()).unwrap();
        let sql = t.sql.as_ref().unwrap();
        assert_eq!(sql.user, "new");
        assert!(
            matches!(&sql.password, Credential::Missing { why, .. } if why.contains("PREFLIGHT_TEST_UNSET_VAR"))
        );
    }

    #[test]
    fn skip_reasons_name_the_flag_and_the_key_and_the_file_only_when_there_is_one() {
        let overrides = TargetOverrides {
            host: Some("sql01".into()),
            ..Default::default()
        };
        let bare = Target::from_file(
            TargetFile::default(),
            None,
            &overrides,
            SecretInputs::default(),
        )
        .unwrap();
        let reasons = [
            bare.sql_account().unwrap_err(),
            bare.backup_account().unwrap_err(),
            bare.database().unwrap_err(),
        ];
        for (unset, (flag, key)) in reasons.iter().zip([
            ("--sql-user", "`user` under [sql]"),
            ("--backup-user", "`user` under [backup]"),
            ("--database", "`database` under [server]"),
        ]) {
            let reason = unset.to_string();
            assert!(reason.contains(&format!("pass {flag}")), "{reason}");
            assert!(reason.contains(key), "{reason}");
            assert!(!reason.contains("the target file"), "{reason}");
        }
        assert_eq!(
            bare.how_to_set("app", &["install_dir"]),
            "set `install_dir` under [app] in a target file (`mssql-preflight init` writes one) and pass it with --target"
        );
        let filed = load("[server]\nhost = \"a\"\n").unwrap();
        assert_eq!(
            filed.sql_account().unwrap_err().to_string(),
            "no application account: set `user` under [sql] in the target file, or pass --sql-user"
        );
    }

    #[test]
    fn a_host_is_required() {
        let err = load("[server]\nport = 1433\n").unwrap_err();
        assert!(err.to_string().contains("--host"), "{err}");
    }

    #[test]
    fn missing_env_password_is_a_reason_not_an_error() {
        let t = load(
            "[server]\nhost = \"a\"\n[sql]\nuser = \"pmp\"\npassword_env = \"PREFLIGHT_TEST_UNSET_VAR\"\n",
        )
        .unwrap();
        match &t.sql.as_ref().unwrap().password {
            Credential::Missing { why, fix } => {
                assert!(why.contains("PREFLIGHT_TEST_UNSET_VAR"));
                assert!(fix.contains("PREFLIGHT_TEST_UNSET_VAR"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    #[cfg(not(windows))]
    fn integrated_authentication_is_refused_where_there_is_no_windows() {
        for section in ["sql", "backup"] {
            let error = load(&format!(
                "[server]\nhost = \"a\"\n[{section}]\nauth = \"integrated\"\n"
            ))
            .unwrap_err()
            .to_string();
            assert_eq!(
                error,
                format!(
                    "/etc/preflight/t.toml: [{section}]: auth = \"integrated\" (the logged-on Windows account, through Windows' SSPI) works only when mssql-preflight runs on Windows, as that account; here, use auth = \"windows\" with user = 'DOMAIN\\user' and its password (NTLM)"
                )
            );
        }
    }

    #[test]
    #[cfg(windows)]
    fn integrated_authentication_is_the_logged_on_account_and_takes_no_password() {
        let t = load("[server]\nhost = \"a\"\n[sql]\nauth = \"integrated\"\n").unwrap();
        let account = t.sql.unwrap();
        assert_eq!(account.auth, AuthKind::Integrated);
        assert!(account.user.ends_with(&std::env::var("USERNAME").unwrap()));
        let error =
            load("[server]\nhost = \"a\"\n[sql]\nauth = \"integrated\"\nuser = 'CORP\\pmp'\n")
                .unwrap_err()
                .to_string();
        assert!(error.contains("takes no `user` or password"), "{error}");
    }

    #[test]
    fn severity_overrides_are_read_and_checked() {
        let t = load(
            "[server]\nhost = \"a\"\n[checks.\"tls.encryption.forced\"]\nseverity = \"fail\"\n",
        )
        .unwrap();
        assert_eq!(
            t.checks["tls.encryption.forced"].severity,
            Some(Severity::Fail)
        );
        let err =
            load("[server]\nhost = \"a\"\n[checks.\"x\"]\nseverity = \"loud\"\n").unwrap_err();
        assert!(err.to_string().contains("\"warn\" or \"fail\""), "{err}");
    }

    #[test]
    fn paths_are_relative_to_the_target_file() {
        let t =
            load("[server]\nhost = \"a\"\n[app]\nkind = \"pmp\"\ninstall_dir = \"pmp\"\n").unwrap();
        assert_eq!(
            t.app.unwrap().install_dir.unwrap(),
            Path::new("/etc/preflight/pmp")
        );
    }

    #[test]
    fn backup_destinations_and_sizes_are_validated_at_load() {
        let t = load(
            "[server]\nhost = \"a\"\n[backup]\ndestination = '\\\\files\\backups\\ps'\ndatabase_size = \"2 GiB\"\n",
        )
        .unwrap();
        assert!(matches!(
            t.backup.parsed_destination,
            Some(Destination::Unc(_))
        ));
        assert_eq!(t.backup.database_size, Some(2 * 1024 * 1024 * 1024));
        let err =
            load("[server]\nhost = \"a\"\n[backup]\ndestination = '\\\\files'\n").unwrap_err();
        assert!(err.to_string().contains("names no share"), "{err}");
        let err = load("[server]\nhost = \"a\"\n[backup]\ndatabase_size = \"big\"\n").unwrap_err();
        assert!(err.to_string().contains("not a size"), "{err}");
    }

    #[test]
    fn unknown_keys_in_account_sections_are_located_and_corrected() {
        let err = load("[server]\nhost = \"a\"\n[backup]\nuser = \"b\"\npasword_env = \"X\"\n")
            .unwrap_err();
        let TargetError::Toml(err) = err else {
            panic!("{err}")
        };
        assert_eq!((err.line, err.column), (Some(5), Some(1)), "{err}");
        assert_eq!(err.field.as_deref(), Some("backup.pasword_env"), "{err}");
        assert!(
            err.message.contains("did you mean `password_env`?"),
            "{err}"
        );
        // [sql] has the account's keys only, not [backup]'s own.
        let err = load("[server]\nhost = \"a\"\n[sql]\ndestination = \"D:\\\\b\"\n").unwrap_err();
        assert!(err.to_string().contains("t.toml:4:1"), "{err}");
        assert!(err.to_string().contains("sql.destination"), "{err}");
    }

    #[test]
    fn expected_name_defaults_to_host() {
        let t = load("[server]\nhost = \"sql01\"\n").unwrap();
        assert_eq!(t.expected_tls_name(), "sql01");
    }
}
