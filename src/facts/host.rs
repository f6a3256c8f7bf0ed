//! Application host facts: the files of Password Manager Pro and
//! Passwordstate that hold keys and credentials. Their secrets are read only
//! to be registered with the redactor; no fact carries them.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::context::{Fact, RunContext};
use crate::finding::{Finding, Stop};
pub(crate) use crate::probe::sddl;
use crate::probe::sddl::{Readers, SecurityDescriptor};
use crate::target::AppKind;

/// Who may read a file, as its permissions say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FileAccess {
    /// Unix permission bits, e.g. 0o600: others may read when the group or
    /// everyone has the read bit.
    #[cfg_attr(windows, allow(dead_code))] // only Unix has mode bits to read
    Mode { mode: u32 },
    /// A Windows DACL, as SDDL, and the accounts it lets read the file
    /// besides SYSTEM, Administrators, TrustedInstaller and the
    /// application's service account (SIDs, or domain-relative aliases).
    Acl {
        sddl: String,
        other_readers: Vec<Reader>,
    },
}

/// An account that may read a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reader {
    /// `S-1-…`, or a domain-relative SDDL alias.
    pub sid: String,
    /// Its name, where known (else the SID again).
    pub name: String,
}

impl FileAccess {
    /// Judges a security descriptor given as SDDL; `service_account` is the
    /// SID of the account the application runs as, when known; `name_of`
    /// names the readers' SIDs.
    #[cfg_attr(not(windows), allow(dead_code))] // only Windows has ACLs to read
    pub fn from_sddl(
        sddl: &str,
        service_account: Option<&str>,
        name_of: impl Fn(&str) -> String,
    ) -> Result<FileAccess, String> {
        let descriptor = SecurityDescriptor::parse(sddl)?;
        let trusted = [sddl::SYSTEM, sddl::ADMINISTRATORS, sddl::TRUSTED_INSTALLER];
        let sids = match descriptor.readers() {
            Readers::Everyone => vec![sddl::EVERYONE.to_owned()],
            Readers::Accounts(sids) => sids,
        };
        let other_readers = sids
            .into_iter()
            .filter(|sid| !trusted.contains(&sid.as_str()) && Some(sid.as_str()) != service_account)
            .map(|sid| Reader {
                name: name_of(&sid),
                sid,
            })
            .collect();
        Ok(FileAccess::Acl {
            sddl: sddl.to_owned(),
            other_readers,
        })
    }

    /// Someone besides the owner (mode bits) or the trusted accounts (ACL) may read it.
    pub fn readable_by_others(&self) -> bool {
        match self {
            FileAccess::Mode { mode } => mode & 0o044 != 0,
            FileAccess::Acl { other_readers, .. } => !other_readers.is_empty(),
        }
    }

    /// The permissions in a finding's words: `mode 644`, or who may read.
    pub fn describe(&self) -> String {
        match self {
            FileAccess::Mode { mode } => format!("mode {mode:03o}"),
            FileAccess::Acl { other_readers, .. } if other_readers.is_empty() => {
                "readable only by SYSTEM, Administrators and the service account".to_owned()
            }
            FileAccess::Acl { other_readers, .. } => {
                let names: Vec<&str> = other_readers.iter().map(|r| r.name.as_str()).collect();
                format!("readable by {}", names.join(", "))
            }
        }
    }

    /// What the file's permissions should be, in the same terms.
    pub fn expected(&self) -> &'static str {
        match self {
            FileAccess::Mode { .. } => "readable by its owner only (mode 600)",
            FileAccess::Acl { .. } => {
                "readable only by SYSTEM, Administrators and the application's service account"
            }
        }
    }

    /// The command that leaves only the owner (Unix) or the trusted accounts
    /// (Windows) able to read `path`; `service_account` is the name the
    /// target file gives.
    pub fn fix(&self, path: &Path, service_account: Option<&str>) -> String {
        match self {
            FileAccess::Mode { .. } => format!("chmod 600 '{}'", path.display()),
            FileAccess::Acl { other_readers, .. } => {
                // Inherited entries go; SYSTEM and Administrators keep full
                // control, the service account reads; other explicit grants go.
                let mut command = format!(
                    "icacls \"{}\" /inheritance:r /grant:r *{}:F *{}:F",
                    path.display(),
                    sddl::SYSTEM,
                    sddl::ADMINISTRATORS
                );
                if let Some(account) = service_account {
                    command.push_str(&format!(" \"{account}\":R"));
                }
                let removed: Vec<String> = other_readers
                    .iter()
                    .map(|reader| {
                        if reader.sid.starts_with("S-") {
                            format!("*{}", reader.sid)
                        } else {
                            format!("\"{}\"", reader.name)
                        }
                    })
                    .collect();
                if !removed.is_empty() {
                    command.push_str(&format!(" /remove:g {}", removed.join(" ")));
                }
                command
            }
        }
    }

    /// The permissions as evidence: the mode, or the SDDL and the readers.
    pub fn add_evidence(&self, finding: Finding) -> Finding {
        match self {
            FileAccess::Mode { mode } => finding.evidence("mode", format!("{mode:03o}")),
            FileAccess::Acl {
                sddl,
                other_readers,
            } => finding.evidence("sddl", sddl).evidence(
                "other_readers",
                other_readers.iter().map(|r| &r.name).collect::<Vec<_>>(),
            ),
        }
    }
}

/// A file that may or may not be there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileStatus {
    pub path: PathBuf,
    pub present: bool,
    /// `None` when the file is absent.
    pub access: Option<FileAccess>,
}

impl FileStatus {
    fn of(path: PathBuf, service_account: Option<&str>) -> Result<FileStatus, Stop> {
        match std::fs::metadata(&path) {
            Ok(meta) => Ok(FileStatus {
                access: Some(access_of(&path, &meta, service_account)?),
                path,
                present: true,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileStatus {
                path,
                present: false,
                access: None,
            }),
            Err(e) => Err(Stop::error(format!(
                "cannot look at {}: {e}",
                path.display()
            ))),
        }
    }
}

#[cfg(unix)]
fn access_of(
    _path: &Path,
    meta: &std::fs::Metadata,
    _service_account: Option<&str>,
) -> Result<FileAccess, Stop> {
    use std::os::unix::fs::PermissionsExt;
    Ok(FileAccess::Mode {
        mode: meta.permissions().mode() & 0o7777,
    })
}

#[cfg(windows)]
fn access_of(
    path: &Path,
    _meta: &std::fs::Metadata,
    service_account: Option<&str>,
) -> Result<FileAccess, Stop> {
    let unreadable = |why: String| {
        Stop::error(format!(
            "cannot read the permissions of {}: {why}",
            path.display()
        ))
    };
    let sddl = crate::probe::windows_acl::security_descriptor(path)
        .map_err(|e| unreadable(e.to_string()))?;
    // The names every Windows knows first, then this machine's.
    let name_of = |sid: &str| match sddl::account_name(sid) {
        name if name != sid => name,
        _ => crate::probe::windows_acl::account_name(sid).unwrap_or_else(|| sid.to_owned()),
    };
    FileAccess::from_sddl(&sddl, service_account, name_of).map_err(unreadable)
}

/// The SID of `[app] service_account`, which may read the application's
/// files. Names are looked up only on Windows, where ACLs use them.
fn service_account_sid(ctx: &RunContext) -> Result<Option<String>, Stop> {
    let Some(name) = ctx
        .target
        .app
        .as_ref()
        .and_then(|a| a.service_account.as_deref())
    else {
        return Ok(None);
    };
    if name.starts_with("S-") {
        return Ok(Some(name.to_owned()));
    }
    lookup_account(name)
}

#[cfg(windows)]
fn lookup_account(name: &str) -> Result<Option<String>, Stop> {
    crate::probe::windows_acl::account_sid(name)
        .map(Some)
        .map_err(|e| {
            Stop::error(format!(
                "cannot find the service account `{name}` ([app] service_account): {e}"
            ))
        })
}

#[cfg(not(windows))]
fn lookup_account(_name: &str) -> Result<Option<String>, Stop> {
    Ok(None)
}

/// Where each application installs by default, on this platform.
fn default_install_dir(kind: AppKind) -> Option<&'static str> {
    if !cfg!(windows) {
        return None;
    }
    Some(match kind {
        AppKind::Pmp => r"C:\Program Files\ManageEngine\PMP",
        AppKind::Passwordstate => r"C:\inetpub\Passwordstate",
    })
}

/// The application's install folder, for the given kind: `install_dir`, or
/// the default folder when it exists.
fn install_dir(ctx: &RunContext, kind: AppKind, name: &str) -> Result<PathBuf, Stop> {
    let app = ctx.target.app.as_ref().ok_or_else(|| {
        Stop::not_configured(format!(
            "no application configured: {}",
            ctx.target.how_to_set("app", &["kind", "install_dir"])
        ))
    })?;
    if app.kind != kind {
        return Err(Stop::not_applicable(format!("this check is about {name}")));
    }
    if let Some(dir) = &app.install_dir {
        return Ok(dir.clone());
    }
    match default_install_dir(kind) {
        Some(default) if Path::new(default).is_dir() => Ok(PathBuf::from(default)),
        Some(default) => Err(Stop::not_configured(format!(
            "{name} is not in its default folder {default}: {}",
            ctx.target.how_to_set("app", &["install_dir"])
        ))),
        None => Err(Stop::not_configured(format!(
            "{name}'s install folder is unknown: {}",
            ctx.target.how_to_set("app", &["install_dir"])
        ))),
    }
}

/// Password Manager Pro's `conf` folder.
pub struct PmpConfDir;

impl Fact for PmpConfDir {
    type Output = PathBuf;

    async fn gather(ctx: &RunContext) -> Result<PathBuf, Stop> {
        let install = install_dir(ctx, AppKind::Pmp, "Password Manager Pro")?;
        let conf = install.join("conf");
        if !conf.is_dir() {
            return Err(Stop::error(format!(
                "{} has no conf folder: set `install_dir` under [app] to the Password Manager Pro installation folder",
                install.display()
            )));
        }
        Ok(conf)
    }
}

/// `conf/masterkey.key`: the password of the database master key.
pub struct MasterKeyFile;

impl Fact for MasterKeyFile {
    type Output = FileStatus;

    async fn gather(ctx: &RunContext) -> Result<FileStatus, Stop> {
        let conf = ctx.fact::<PmpConfDir>().await?;
        FileStatus::of(
            conf.join("masterkey.key"),
            service_account_sid(ctx)?.as_deref(),
        )
    }
}

/// `conf/database_params.conf`: how PMP connects to its database.
pub struct DatabaseParams;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseParamsStatus {
    pub file: FileStatus,
    /// It holds a SQL password (SQL authentication); with Windows
    /// authentication it holds none.
    pub holds_credentials: bool,
}

impl Fact for DatabaseParams {
    type Output = DatabaseParamsStatus;

    async fn gather(ctx: &RunContext) -> Result<DatabaseParamsStatus, Stop> {
        let conf = ctx.fact::<PmpConfDir>().await?;
        let file = FileStatus::of(
            conf.join("database_params.conf"),
            service_account_sid(ctx)?.as_deref(),
        )?;
        if !file.present {
            return Err(Stop::error(format!(
                "{} does not exist: is `install_dir` the Password Manager Pro installation folder?",
                file.path.display()
            )));
        }
        let text = std::fs::read(&file.path)
            .map_err(|e| Stop::error(format!("cannot read {}: {e}", file.path.display())))?;
        let holds_credentials = register_credentials(&String::from_utf8_lossy(&text));
        Ok(DatabaseParamsStatus {
            file,
            holds_credentials,
        })
    }
}

/// Registers every credential in database_params.conf with the redactor and
/// says whether there was one. Lines are `key=value`; the password may also
/// sit in the JDBC URL (`;password=…`).
fn register_credentials(text: &str) -> bool {
    let mut holds = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        if key == "password" && !value.is_empty() {
            crate::redact::register(value);
            holds = true;
        }
        if key == "url" {
            for part in value.split(';') {
                if let Some((k, v)) = part.split_once('=')
                    && k.trim().eq_ignore_ascii_case("password")
                    && !v.trim().is_empty()
                {
                    crate::redact::register(v.trim());
                    holds = true;
                }
            }
        }
    }
    holds
}

/// Passwordstate's web.config and its half of the split secrets.
pub struct WebConfigSecrets;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebConfigStatus {
    pub path: PathBuf,
    pub present: bool,
    /// Who may read the file holding the secrets (web.config, or the file
    /// its `configSource` names), when it is there.
    pub access: Option<FileAccess>,
    /// The protected-configuration provider, when `<appSettings>` is encrypted.
    pub encrypted_by: Option<String>,
    pub has_secret1: bool,
    pub has_secret2: bool,
}

impl Fact for WebConfigSecrets {
    type Output = WebConfigStatus;

    async fn gather(ctx: &RunContext) -> Result<WebConfigStatus, Stop> {
        let install = install_dir(ctx, AppKind::Passwordstate, "Passwordstate")?;
        let path = install.join("web.config");
        // Only "not found" means absent: a folder the tool may not read is
        // no evidence either way.
        let present = match std::fs::metadata(&path) {
            Ok(meta) => meta.is_file(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => {
                return Err(Stop::error(format!(
                    "cannot tell whether {} exists: {e}; run the check as an account that may read the Passwordstate folder",
                    path.display()
                )));
            }
        };
        let mut status = WebConfigStatus {
            path: path.clone(),
            present,
            access: None,
            encrypted_by: None,
            has_secret1: false,
            has_secret2: false,
        };
        if !status.present {
            return Ok(status);
        }
        let settings = read_app_settings(&path)?;
        status.access = FileStatus::of(
            settings.source.clone(),
            service_account_sid(ctx)?.as_deref(),
        )?
        .access;
        status.encrypted_by = settings.encrypted_by;
        for (key, value) in settings.values {
            crate::redact::register(&value);
            if value.trim().is_empty() {
                continue;
            }
            if key.eq_ignore_ascii_case("Secret1") {
                status.has_secret1 = true;
            } else if key.eq_ignore_ascii_case("Secret2") {
                status.has_secret2 = true;
            }
        }
        Ok(status)
    }
}

struct AppSettings {
    /// The file they are in: web.config, or the one `configSource` names.
    source: PathBuf,
    encrypted_by: Option<String>,
    /// `<add key=… value=…>` entries whose key names a split secret.
    values: Vec<(String, String)>,
}

/// Reads `<configuration><appSettings>`, following `configSource` to the
/// file it names, as ASP.NET does.
fn read_app_settings(path: &Path) -> Result<AppSettings, Stop> {
    let text = read_xml(path)?;
    let doc = parse_xml(&text, path)?;
    let Some(settings) = doc
        .root_element()
        .children()
        .find(|n| n.has_tag_name("appSettings"))
    else {
        return Ok(AppSettings {
            source: path.to_owned(),
            encrypted_by: None,
            values: Vec::new(),
        });
    };
    if let Some(source) = settings.attribute("configSource") {
        let external = path.parent().unwrap_or(Path::new(".")).join(source);
        let text = read_xml(&external)?;
        let doc = parse_xml(&text, &external)?;
        return Ok(entries(doc.root_element(), external.clone()));
    }
    Ok(entries(settings, path.to_owned()))
}

fn entries(settings: roxmltree::Node<'_, '_>, source: PathBuf) -> AppSettings {
    let encrypted_by = settings
        .attribute("configProtectionProvider")
        .map(str::to_owned);
    let values = settings
        .children()
        .filter(|n| n.has_tag_name("add"))
        .filter_map(|n| {
            Some((
                n.attribute("key")?.to_owned(),
                n.attribute("value")?.to_owned(),
            ))
        })
        .filter(|(key, _)| key.to_ascii_lowercase().starts_with("secret"))
        .collect();
    AppSettings {
        source,
        encrypted_by,
        values,
    }
}

fn read_xml(path: &Path) -> Result<String, Stop> {
    let bytes = std::fs::read(path)
        .map_err(|e| Stop::error(format!("cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.trim_start_matches('\u{feff}').to_owned())
}

fn parse_xml<'a>(text: &'a str, path: &Path) -> Result<roxmltree::Document<'a>, Stop> {
    roxmltree::Document::parse(text).map_err(|e| {
        // The parser's message names a position, never the content.
        Stop::error(format!("{} is not well-formed XML: {e}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_found_in_keys_and_in_the_jdbc_url() {
        assert!(register_credentials(
            "# comment\nusername=pmpuser\npassword=Xy12encrypted\n"
        ));
        assert!(register_credentials(
            "url=jdbc:sqlserver://sql01:1433;databaseName=PassTrix;user=pmp;password=Url-canary\n"
        ));
        assert!(!register_credentials(
            "url=jdbc:sqlserver://sql01:1433;databaseName=PassTrix;integratedSecurity=true\npassword=\n"
        ));
        assert_eq!(
            crate::redact::scrub("a Url-canary b"),
            format!("a {} b", crate::redact::MASK)
        );
    }
}

/// Passwordstate's `BackupSettings` table as the application account reads
/// it: what its backups are set to do, for the split-secrets check and the
/// support bundle. Text in columns named like a password is masked.
pub struct BackupSettingsTable;

#[derive(Debug, Clone, PartialEq)]
pub struct BackupSettingsRows {
    pub database: String,
    pub set: crate::probe::sql::ResultSet,
}

impl BackupSettingsRows {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "database": self.database, "rows": self.set.to_json_rows() })
    }
}

pub const BACKUP_SETTINGS_QUERY: &str = "SELECT * FROM dbo.BackupSettings";

impl Fact for BackupSettingsTable {
    type Output = BackupSettingsRows;

    async fn gather(ctx: &RunContext) -> Result<BackupSettingsRows, Stop> {
        use crate::facts::sql::{AccountKind, session_of};
        use futures::FutureExt;
        async {
            let login = session_of(ctx, AccountKind::App).await?;
            let session = login.session()?;
            let database = session.require_database()?.to_owned();
            let mut set = session.rows(BACKUP_SETTINGS_QUERY).await.map_err(|e| {
                Stop::error(format!(
                    "cannot read BackupSettings in `{database}` (is it Passwordstate's database?): {e}"
                ))
            })?;
            mask_password_columns(&mut set);
            Ok(BackupSettingsRows { database, set })
        }
        .boxed()
        .await
    }
}

/// Registers and masks text held in columns whose names say password, so
/// neither reports nor bundles can carry one.
fn mask_password_columns(set: &mut crate::probe::sql::ResultSet) {
    use crate::probe::sql::SqlValue;
    let secret_columns: Vec<usize> = set
        .columns
        .iter()
        .enumerate()
        .filter(|(_, name)| {
            let name = name.to_ascii_lowercase();
            name.contains("password") || name.contains("pwd")
        })
        .map(|(i, _)| i)
        .collect();
    for row in &mut set.rows {
        for &i in &secret_columns {
            if let Some(value @ SqlValue::Text(_)) = row.get_mut(i) {
                if let SqlValue::Text(text) = &*value {
                    crate::redact::register(text);
                }
                *value = SqlValue::Text(crate::redact::MASK.to_owned());
            }
        }
    }
}

/// Whether Passwordstate backs up its split secrets (Administration →
/// Backups and Upgrades → Settings → Backup Split Secrets). The column's
/// name is not published, so it is found by name (`…Split…`), not assumed.
pub struct SplitSecretsBackup;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SplitSecretsSetting {
    Enabled {
        column: String,
    },
    Disabled {
        column: String,
    },
    /// The table was read but does not say; the reason is given.
    Unknown(String),
}

impl Fact for SplitSecretsBackup {
    type Output = SplitSecretsSetting;

    async fn gather(ctx: &RunContext) -> Result<SplitSecretsSetting, Stop> {
        let table = ctx.fact::<BackupSettingsTable>().await?;
        let set = &table.set;
        let Some(column) = set
            .columns
            .iter()
            .find(|c| c.to_ascii_lowercase().contains("split"))
            .cloned()
        else {
            return Ok(SplitSecretsSetting::Unknown(format!(
                "BackupSettings in `{}` has no column about split secrets",
                table.database
            )));
        };
        Ok(match set.get(0, &column).as_bool() {
            Some(true) => SplitSecretsSetting::Enabled { column },
            Some(false) => SplitSecretsSetting::Disabled { column },
            None => SplitSecretsSetting::Unknown(format!(
                "BackupSettings.{column} holds no yes/no value"
            )),
        })
    }
}
