//! Application host checks: the files on the application server that hold
//! keys and credentials. Nothing here ever prints what those files contain.

use std::sync::Arc;

use async_trait::async_trait;

use crate::context::RunContext;
use crate::facts::host::{
    DatabaseParams, FileStatus, MasterKeyFile, SplitSecretsBackup, SplitSecretsSetting,
    WebConfigSecrets, WebConfigStatus,
};
use crate::finding::{Finding, Outcome, Severity, Status, Stop};
use crate::registry::{Check, CheckMeta, Family};

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(PmpMasterKey::new()),
        Arc::new(PmpDatabaseParams::new()),
        Arc::new(PasswordstateSecrets::new()),
    ]
}

/// The mode bits as `chmod` writes them, and a fix that leaves only the owner.
fn mode_words(file: &FileStatus) -> (String, String) {
    let mode = file.access.map(|a| a.mode).unwrap_or_default();
    (
        format!("{mode:03o}"),
        format!("chmod 600 '{}'", file.path.display()),
    )
}

pub struct PmpMasterKey {
    meta: CheckMeta,
}

impl PmpMasterKey {
    fn new() -> Self {
        PmpMasterKey {
            meta: CheckMeta::new("host.pmp.masterkey", Family::Host, Severity::Warn)
                .title("masterkey.key has been moved out of PMP's conf folder")
                .checks("Looks for `<install_dir>/conf/masterkey.key` and, if it is there, at who may read it. Its contents are never read.")
                .why("masterkey.key holds the password of the SQL Server database master key that protects PMP's data; anyone who reads it and the database can decrypt the passwords. You also need it for high availability and disaster recovery: if it is lost, the SQL Server setup must be done again.")
                .fix("Move masterkey.key from PMP's conf folder to a secure location (an offline vault or a safe), and keep it: it is needed for disaster recovery.")
                .guide("PMP MS SQL guide, step 4 'Important Notes' (move masterkey.key to a secure location)"),
        }
    }
}

#[async_trait]
impl Check for PmpMasterKey {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let file = ctx.fact::<MasterKeyFile>().await?;
        let path = file.path.display().to_string();
        if !file.present {
            return Ok(Finding::pass(format!(
                "{path} is not there: it has been moved away, as the guide advises (keep it safe: disaster recovery needs it)"
            ))
            .evidence("path", &path));
        }
        let keep = "Move it to a secure location (an offline vault or a safe) and keep it: PMP needs it for high availability and disaster recovery, and without it the SQL Server setup must be done again.";
        let Some(access) = file.access else {
            return Ok(Finding::problem(
                self.meta.severity,
                format!("{path} is still in PMP's conf folder"),
            )
            .remediation(keep)
            .evidence("path", &path)
            .note("who may read it was not checked: permissions here are not mode bits"));
        };
        let (mode, chmod) = mode_words(&file);
        if access.readable_by_others {
            return Ok(Finding::fail(format!(
                "{path} is still in PMP's conf folder and other users can read it (mode {mode})"
            ))
            .expected("masterkey.key moved away, or at least readable by its owner only (mode 600)")
            .actual(format!("present, mode {mode}"))
            .remediation(format!("Now: `{chmod}`. Then: {keep}"))
            .evidence("path", &path)
            .evidence("mode", &mode));
        }
        Ok(Finding::problem(
            self.meta.severity,
            format!(
                "{path} is still in PMP's conf folder (readable by its owner only, mode {mode})"
            ),
        )
        .expected("masterkey.key moved to a secure location")
        .actual(format!("present, mode {mode}"))
        .remediation(keep)
        .evidence("path", &path)
        .evidence("mode", &mode))
    }
}

pub struct PmpDatabaseParams {
    meta: CheckMeta,
}

impl PmpDatabaseParams {
    fn new() -> Self {
        PmpDatabaseParams {
            meta: CheckMeta::new("host.pmp.database-params", Family::Host, Severity::Fail)
                .title("database_params.conf is readable only by PMP's own account")
                .checks("Looks at who may read `<install_dir>/conf/database_params.conf` when it holds SQL credentials (SQL authentication). Its contents are never printed.")
                .why("With SQL authentication, PMP stores the SQL user name and password in database_params.conf; the guide says to harden the host. Anyone who can read the file can log on to PMP's database.")
                .fix("Make database_params.conf readable by the account PMP runs as only (`chmod 600`), or use Windows authentication, which stores no password there.")
                .guide("PMP MS SQL guide, step 4.vi (user name and password stored in database_params.conf: harden the host)"),
        }
    }
}

#[async_trait]
impl Check for PmpDatabaseParams {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let params = ctx.fact::<DatabaseParams>().await?;
        let file = &params.file;
        let path = file.path.display().to_string();
        if !params.holds_credentials {
            return Ok(Finding::pass(format!(
                "{path} holds no SQL password (Windows authentication)"
            ))
            .evidence("path", &path));
        }
        let Some(access) = file.access else {
            return Err(Stop::error(format!(
                "{path} holds SQL credentials, but its permissions are not mode bits here: check its ACL so that only PMP's service account can read it (`icacls`)"
            )));
        };
        let (mode, chmod) = mode_words(file);
        if access.readable_by_others {
            return Ok(Finding::problem(
                self.meta.severity,
                format!("{path} holds SQL credentials and other users can read it (mode {mode})"),
            )
            .expected("readable by its owner only (mode 600)")
            .actual(format!("mode {mode}"))
            .remediation(format!(
                "`{chmod}` (and `chown` it to the account PMP runs as), or switch PMP to Windows authentication so no password is stored"
            ))
            .evidence("path", &path)
            .evidence("mode", &mode));
        }
        Ok(Finding::pass(format!(
            "{path} holds SQL credentials and only its owner can read it (mode {mode})"
        ))
        .evidence("path", &path)
        .evidence("mode", &mode))
    }
}

pub struct PasswordstateSecrets {
    meta: CheckMeta,
}

impl PasswordstateSecrets {
    fn new() -> Self {
        PasswordstateSecrets {
            meta: CheckMeta::new("host.passwordstate.secrets", Family::Host, Severity::Fail)
                .title("web.config holds Passwordstate's half of the split secrets")
                .checks("Reads `<install_dir>/web.config` and looks for the split secrets Secret1 and Secret2 under <appSettings> (their values are never shown), and whether that section is encrypted with protected configuration; when the application account can log in, reads whether Backup Split Secrets is enabled in the database's BackupSettings table.")
                .why("Passwordstate's encryption keys are split in four: Secret1 and Secret2 in web.config, Secret3 and Secret4 in the database. Without both halves the passwords cannot be decrypted after a restore, so web.config must be intact and backed up with the database (enable Backup Split Secrets).")
                .fix("Restore web.config from a backup of the Passwordstate folder (the split secrets cannot be regenerated), and enable Administration → Backups and Upgrades → Settings → Backup Split Secrets.")
                .guide("Passwordstate backup guide §1 (encryption keys in web.config), §4.5 (Backup Split Secrets); Click Studios, \"Encryption Keys Explained\""),
        }
    }
}

#[async_trait]
impl Check for PasswordstateSecrets {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let config = ctx.fact::<WebConfigSecrets>().await?;
        let backup = split_secrets_backup(ctx).await;
        Ok(backup.apply(judge_web_config(&config)))
    }
}

/// The verdict on web.config alone.
fn judge_web_config(config: &WebConfigStatus) -> Finding {
    let path = config.path.display().to_string();
    if !config.present {
        return Finding::fail(format!("{path} does not exist"))
            .expected("web.config with Secret1 and Secret2 under <appSettings>")
            .actual("no web.config")
            .remediation(
                "Check `install_dir` under [app] (by default C:\\inetpub\\Passwordstate). If web.config is really gone, restore it from a backup of the Passwordstate folder: the split secrets cannot be regenerated.",
            )
            .evidence("path", &path);
    }
    if let Some(provider) = &config.encrypted_by {
        return Finding::pass(format!(
            "{path}: <appSettings> is encrypted with protected configuration ({provider}), as Click Studios recommends"
        ))
        .evidence("path", &path)
        .evidence("protection_provider", provider)
        .note("Secret1 and Secret2 are inside the encrypted section, so their presence could not be confirmed here");
    }
    let missing: Vec<&str> = [
        ("Secret1", config.has_secret1),
        ("Secret2", config.has_secret2),
    ]
    .iter()
    .filter(|(_, present)| !present)
    .map(|(name, _)| *name)
    .collect();
    if !missing.is_empty() {
        return Finding::fail(format!(
            "{path} lacks {} under <appSettings>: Passwordstate cannot decrypt its passwords without them",
            missing.join(" and ")
        ))
        .expected("Secret1 and Secret2 under <appSettings>")
        .actual(format!("missing: {}", missing.join(", ")))
        .evidence("path", &path)
        .evidence("missing", &missing);
    }
    Finding::warn(format!(
        "{path} holds Secret1 and Secret2, but <appSettings> is not encrypted: anyone who can read the file has half of the encryption keys"
    ))
    .expected("<appSettings> encrypted with protected configuration")
    .actual("Secret1 and Secret2 in plain text")
    .remediation(
        "Encrypt the <appSettings> section as Click Studios recommends, e.g. in an elevated prompt on the web server: `%windir%\\Microsoft.NET\\Framework64\\v4.0.30319\\aspnet_regiis.exe -pef \"appSettings\" \"C:\\inetpub\\Passwordstate\"` (use your install folder), and keep a copy of web.config with the backups.",
    )
    .evidence("path", &path)
}

/// What the database says about Backup Split Secrets (guide §4.5), or why
/// it was not asked.
enum SplitSecretsBackupView {
    Known(SplitSecretsSetting),
    NotAsked(String),
}

async fn split_secrets_backup(ctx: &RunContext) -> SplitSecretsBackupView {
    match ctx.fact::<SplitSecretsBackup>().await {
        Ok(setting) => SplitSecretsBackupView::Known((*setting).clone()),
        Err(stop) => SplitSecretsBackupView::NotAsked(stop.reason().to_owned()),
    }
}

impl SplitSecretsBackupView {
    /// Adds the backup setting to the web.config verdict: switched off, the
    /// secrets in web.config are the only copy, which is a warning at least.
    fn apply(self, finding: Finding) -> Finding {
        const ENABLE: &str = "Enable Administration → Backups and Upgrades → Settings → Backup Split Secrets, so the secrets in web.config are copied to the web files backup path (guide §4.5).";
        match self {
            SplitSecretsBackupView::Known(SplitSecretsSetting::Enabled { column }) => {
                finding.evidence("backup_split_secrets", true).note(format!(
                    "Backup Split Secrets is enabled (BackupSettings.{column})"
                ))
            }
            SplitSecretsBackupView::Known(SplitSecretsSetting::Disabled { column }) => {
                let finding = finding.evidence("backup_split_secrets", false);
                if finding.status == Status::Pass {
                    let message = format!(
                        "{}; but Backup Split Secrets is off (BackupSettings.{column} = 0), so no backup holds web.config's half of the keys",
                        finding.message
                    );
                    Finding {
                        status: Status::Warn,
                        message,
                        ..finding
                    }
                    .expected("Backup Split Secrets enabled")
                    .actual("disabled")
                    .remediation(ENABLE)
                } else {
                    let remediation = match &finding.remediation {
                        Some(r) => format!("{r} {ENABLE}"),
                        None => ENABLE.to_owned(),
                    };
                    finding
                        .note(format!(
                            "Backup Split Secrets is off (BackupSettings.{column} = 0)"
                        ))
                        .remediation(remediation)
                }
            }
            SplitSecretsBackupView::Known(SplitSecretsSetting::Unknown(why))
            | SplitSecretsBackupView::NotAsked(why) => finding.note(format!(
                "whether Backup Split Secrets is enabled (guide §4.5) was not checked: {why}"
            )),
        }
    }
}
