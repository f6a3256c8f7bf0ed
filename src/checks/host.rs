//! Application host checks: the files on the application server that hold
//! keys and credentials. Nothing here ever prints what those files contain.

use std::sync::Arc;

use async_trait::async_trait;

use crate::context::RunContext;
use crate::facts::host::{
    DatabaseParams, DatabaseParamsStatus, FileAccess, FileStatus, MasterKeyFile,
    SplitSecretsBackup, SplitSecretsSetting, WebConfigSecrets, WebConfigStatus,
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

/// `[app] service_account`, which the fix lets read the file.
fn service_account(ctx: &RunContext) -> Option<&str> {
    ctx.target.app.as_ref()?.service_account.as_deref()
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
        Ok(judge_masterkey(
            &file,
            self.meta.severity,
            service_account(ctx),
        ))
    }
}

/// masterkey.key: gone passes; there and readable by others fails; there
/// and private is the check's severity.
fn judge_masterkey(file: &FileStatus, severity: Severity, service: Option<&str>) -> Finding {
    let path = file.path.display().to_string();
    let keep = "Move it to a secure location (an offline vault or a safe) and keep it: PMP needs it for high availability and disaster recovery, and without it the SQL Server setup must be done again.";
    let Some(access) = file.access.as_ref().filter(|_| file.present) else {
        return Finding::pass(format!(
            "{path} is not there: it has been moved away, as the guide advises (keep it safe: disaster recovery needs it)"
        ))
        .evidence("path", &path);
    };
    let permissions = access.describe();
    if access.readable_by_others() {
        let fix = access.fix(&file.path, service);
        return access.add_evidence(
            Finding::problem(Severity::Fail, format!(
                "{path} is still in PMP's conf folder and other users can read it ({permissions})"
            ))
            .expected(format!(
                "masterkey.key moved away, or at least {}",
                access.expected()
            ))
            .actual(format!("present, {permissions}"))
            .remediation(format!("Now: `{fix}`. Then: {keep}"))
            .evidence("path", &path),
        );
    }
    let private = match access {
        FileAccess::Mode { .. } => format!("readable by its owner only, {permissions}"),
        FileAccess::Acl { .. } => permissions.clone(),
    };
    access.add_evidence(
        Finding::problem(
            severity,
            format!("{path} is still in PMP's conf folder ({private})"),
        )
        .expected("masterkey.key moved to a secure location")
        .actual(format!("present, {permissions}"))
        .remediation(keep)
        .evidence("path", &path),
    )
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
        judge_database_params(&params, self.meta.severity, service_account(ctx))
    }
}

/// database_params.conf: without a password it passes; with one, it must be
/// private.
fn judge_database_params(
    params: &DatabaseParamsStatus,
    severity: Severity,
    service: Option<&str>,
) -> Outcome {
    let file = &params.file;
    let path = file.path.display().to_string();
    if !params.holds_credentials {
        return Ok(Finding::pass(format!(
            "{path} holds no SQL password (Windows authentication)"
        ))
        .evidence("path", &path));
    }
    let Some(access) = &file.access else {
        return Err(Stop::error(format!(
            "{path} holds SQL credentials, but its permissions could not be read"
        )));
    };
    let permissions = access.describe();
    if access.readable_by_others() {
        let owner = match access {
            FileAccess::Mode { .. } => " (and `chown` it to the account PMP runs as)",
            FileAccess::Acl { .. } => "",
        };
        return Ok(access.add_evidence(
            Finding::problem(
                severity,
                format!("{path} holds SQL credentials and other users can read it ({permissions})"),
            )
            .expected(access.expected())
            .actual(permissions)
            .remediation(format!(
                "`{}`{owner}, or switch PMP to Windows authentication so no password is stored",
                access.fix(&file.path, service)
            ))
            .evidence("path", &path),
        ));
    }
    let private = match access {
        FileAccess::Mode { .. } => format!("only its owner can read it ({permissions})"),
        FileAccess::Acl { .. } => format!("it is {permissions}"),
    };
    Ok(access.add_evidence(
        Finding::pass(format!("{path} holds SQL credentials and {private}"))
            .evidence("path", &path),
    ))
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
        Ok(backup.apply(judge_web_config(&config, service_account(ctx))))
    }
}

/// The verdict on web.config alone.
fn judge_web_config(config: &WebConfigStatus, service: Option<&str>) -> Finding {
    let path = config.path.display().to_string();
    if !config.present {
        return Finding::problem(Severity::Fail, format!("{path} does not exist"))
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
        return Finding::problem(Severity::Fail, format!(
            "{path} lacks {} under <appSettings>: Passwordstate cannot decrypt its passwords without them",
            missing.join(" and ")
        ))
        .expected("Secret1 and Secret2 under <appSettings>")
        .actual(format!("missing: {}", missing.join(", ")))
        .evidence("path", &path)
        .evidence("missing", &missing);
    }
    const ENCRYPT: &str = "Encrypt the <appSettings> section as Click Studios recommends, e.g. in an elevated prompt on the web server: `%windir%\\Microsoft.NET\\Framework64\\v4.0.30319\\aspnet_regiis.exe -pef \"appSettings\" \"C:\\inetpub\\Passwordstate\"` (use your install folder), and keep a copy of web.config with the backups.";
    let finding = match config.access.as_ref().filter(|a| a.readable_by_others()) {
        // Half of the keys in plain text, and others can read them.
        Some(access) => {
            let permissions = access.describe();
            access.add_evidence(
                Finding::problem(Severity::Fail, format!(
                    "{path} holds Secret1 and Secret2 in plain text and other users can read it ({permissions}): they have half of the encryption keys"
                ))
                .expected(format!(
                    "<appSettings> encrypted with protected configuration, and web.config {}",
                    access.expected()
                ))
                .actual(format!("Secret1 and Secret2 in plain text, {permissions}"))
                .remediation(format!(
                    "Now: `{}`. Then: {ENCRYPT}",
                    access.fix(&config.path, service)
                )),
            )
        }
        None => Finding::problem(Severity::Warn, format!(
            "{path} holds Secret1 and Secret2, but <appSettings> is not encrypted: anyone who can read the file has half of the encryption keys"
        ))
        .expected("<appSettings> encrypted with protected configuration")
        .actual("Secret1 and Secret2 in plain text")
        .remediation(ENCRYPT),
    };
    finding.evidence("path", &path)
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

#[cfg(test)]
mod tests {
    //! The verdicts on Windows ACLs, from security descriptors written as
    //! SDDL (what GetNamedSecurityInfoW gives on Windows).
    use std::path::PathBuf;

    use super::*;
    use crate::facts::host::sddl;

    const SERVICE: &str = "S-1-5-21-1004336348-1177238915-682003330-1105";
    /// SYSTEM, Administrators and TrustedInstaller: what hardening leaves.
    const PRIVATE: &str = "O:BAG:SYD:PAI(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464)";
    /// What a file under C:\Program Files inherits: Users may read.
    const INHERITED: &str = "O:BAG:SYD:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)";

    fn file(name: &str, sddl: Option<&str>, service: Option<&str>) -> FileStatus {
        FileStatus {
            path: PathBuf::from(format!(r"C:\Program Files\ManageEngine\PMP\conf\{name}")),
            present: sddl.is_some(),
            access: sddl.map(|s| FileAccess::from_sddl(s, service, sddl::account_name).unwrap()),
        }
    }

    #[test]
    fn masterkey_gone_passes() {
        let finding = judge_masterkey(&file("masterkey.key", None, None), Severity::Warn, None);
        assert_eq!(finding.status, Status::Pass);
    }

    #[test]
    fn masterkey_readable_by_users_fails_with_the_icacls_that_fixes_it() {
        let finding = judge_masterkey(
            &file("masterkey.key", Some(INHERITED), None),
            Severity::Warn,
            Some(r"CORP\svc-pmp"),
        );
        assert_eq!(finding.status, Status::Fail);
        assert!(
            finding.message.contains(r"readable by BUILTIN\Users"),
            "{}",
            finding.message
        );
        let fix = finding.remediation.unwrap();
        assert!(
            fix.contains(r#"icacls "C:\Program Files\ManageEngine\PMP\conf\masterkey.key" /inheritance:r /grant:r *S-1-5-18:F *S-1-5-32-544:F "CORP\svc-pmp":R /remove:g *S-1-5-32-545"#),
            "{fix}"
        );
        assert_eq!(
            finding.evidence["other_readers"],
            serde_json::json!([r"BUILTIN\Users"])
        );
        assert_eq!(finding.evidence["sddl"], INHERITED);
    }

    #[test]
    fn masterkey_private_is_still_reported_at_the_checks_severity() {
        let sddl = format!("{PRIVATE}(A;;FR;;;{SERVICE})");
        let finding = judge_masterkey(
            &file("masterkey.key", Some(&sddl), Some(SERVICE)),
            Severity::Warn,
            None,
        );
        assert_eq!(finding.status, Status::Warn);
        assert!(
            finding
                .message
                .contains("readable only by SYSTEM, Administrators and the service account"),
            "{}",
            finding.message
        );
    }

    fn params(sddl: &str, service: Option<&str>, holds_credentials: bool) -> DatabaseParamsStatus {
        DatabaseParamsStatus {
            file: file("database_params.conf", Some(sddl), service),
            holds_credentials,
        }
    }

    #[test]
    fn database_params_private_to_the_service_account_passes() {
        let sddl = format!("{PRIVATE}(A;;FR;;;{SERVICE})");
        let finding =
            judge_database_params(&params(&sddl, Some(SERVICE), true), Severity::Fail, None)
                .unwrap();
        assert_eq!(finding.status, Status::Pass);
    }

    #[test]
    fn database_params_readable_by_an_account_not_named_as_the_service_fails() {
        // The same ACL, but the target names no service account: that
        // account is just another reader.
        let sddl = format!("{PRIVATE}(A;;FR;;;{SERVICE})");
        let finding =
            judge_database_params(&params(&sddl, None, true), Severity::Fail, None).unwrap();
        assert_eq!(finding.status, Status::Fail);
        assert!(finding.message.contains(SERVICE), "{}", finding.message);
        assert!(
            finding
                .remediation
                .unwrap()
                .contains(&format!("/remove:g *{SERVICE}"))
        );
    }

    #[test]
    fn database_params_with_no_access_control_at_all_fails() {
        let finding =
            judge_database_params(&params("O:BAG:SY", None, true), Severity::Fail, None).unwrap();
        assert_eq!(finding.status, Status::Fail);
        assert!(
            finding.message.contains("readable by Everyone"),
            "{}",
            finding.message
        );
    }

    #[test]
    fn database_params_without_a_password_passes_whoever_reads_it() {
        let finding =
            judge_database_params(&params(INHERITED, None, false), Severity::Fail, None).unwrap();
        assert_eq!(finding.status, Status::Pass);
    }

    fn web_config(sddl: &str, encrypted: bool) -> WebConfigStatus {
        WebConfigStatus {
            path: PathBuf::from(r"C:\inetpub\Passwordstate\web.config"),
            present: true,
            access: Some(FileAccess::from_sddl(sddl, None, sddl::account_name).unwrap()),
            encrypted_by: encrypted.then(|| "DataProtectionConfigurationProvider".to_owned()),
            has_secret1: true,
            has_secret2: true,
        }
    }

    #[test]
    fn web_config_verdicts_follow_its_readers() {
        let readable = "D:(A;;FA;;;SY)(A;;FR;;;AU)";
        let finding = judge_web_config(&web_config(readable, false), None);
        assert_eq!(finding.status, Status::Fail);
        assert!(
            finding
                .message
                .contains(r"readable by NT AUTHORITY\Authenticated Users"),
            "{}",
            finding.message
        );
        assert!(finding.remediation.unwrap().contains("/remove:g *S-1-5-11"));
        assert_eq!(
            judge_web_config(&web_config(PRIVATE, false), None).status,
            Status::Warn
        );
        assert_eq!(
            judge_web_config(&web_config(readable, true), None).status,
            Status::Pass
        );
    }

    #[test]
    fn database_params_with_credentials_but_unreadable_permissions_is_an_error() {
        let unreadable = DatabaseParamsStatus {
            file: FileStatus {
                path: PathBuf::from(r"C:\Program Files\ManageEngine\PMP\conf\database_params.conf"),
                present: true,
                access: None,
            },
            holds_credentials: true,
        };
        let stop = judge_database_params(&unreadable, Severity::Fail, None).unwrap_err();
        assert_eq!(stop.status(), Status::Error);
        assert!(
            stop.reason().contains("permissions could not be read"),
            "{}",
            stop.reason()
        );
    }

    #[test]
    fn a_missing_web_config_fails() {
        let gone = WebConfigStatus {
            present: false,
            access: None,
            ..web_config(PRIVATE, false)
        };
        let finding = judge_web_config(&gone, None);
        assert_eq!(finding.status, Status::Fail);
        assert_eq!(finding.actual.as_deref(), Some("no web.config"));
    }

    #[test]
    fn a_web_config_without_its_secrets_fails_naming_them() {
        let half = WebConfigStatus {
            has_secret2: false,
            ..web_config(PRIVATE, false)
        };
        let finding = judge_web_config(&half, None);
        assert_eq!(finding.status, Status::Fail);
        assert_eq!(finding.actual.as_deref(), Some("missing: Secret2"));
        assert_eq!(finding.evidence["missing"], serde_json::json!(["Secret2"]));
    }

    fn setting(enabled: bool) -> SplitSecretsBackupView {
        let column = "BackupSplitSecrets".to_owned();
        SplitSecretsBackupView::Known(if enabled {
            SplitSecretsSetting::Enabled { column }
        } else {
            SplitSecretsSetting::Disabled { column }
        })
    }

    #[test]
    fn backup_split_secrets_adjusts_the_web_config_verdict() {
        let encrypted = || judge_web_config(&web_config(PRIVATE, true), None);
        let enabled = setting(true).apply(encrypted());
        assert_eq!(enabled.status, Status::Pass);
        assert_eq!(enabled.evidence["backup_split_secrets"], true);
        assert!(
            enabled.notes.iter().any(|n| n.contains("is enabled")),
            "{:?}",
            enabled.notes
        );
        // Off turns a pass into a warning: web.config is the only copy.
        let off = setting(false).apply(encrypted());
        assert_eq!(off.status, Status::Warn);
        assert_eq!(off.actual.as_deref(), Some("disabled"));
        assert!(off.remediation.unwrap().contains("Backup Split Secrets"));
        // Off keeps a worse verdict, and adds its fix to the remediation.
        let plain = judge_web_config(&web_config(PRIVATE, false), None);
        let plain_off = setting(false).apply(plain);
        assert_eq!(plain_off.status, Status::Warn);
        let fix = plain_off.remediation.unwrap();
        assert!(
            fix.contains("aspnet_regiis") && fix.contains("Enable Administration"),
            "{fix}"
        );
        let readable = judge_web_config(&web_config("D:(A;;FA;;;SY)(A;;FR;;;AU)", false), None);
        assert_eq!(setting(false).apply(readable).status, Status::Fail);
        // Not known: the verdict stands, with why it was not checked.
        for view in [
            SplitSecretsBackupView::Known(SplitSecretsSetting::Unknown(
                "no such column".to_owned(),
            )),
            SplitSecretsBackupView::NotAsked("the application account cannot log in".to_owned()),
        ] {
            let finding = view.apply(encrypted());
            assert_eq!(finding.status, Status::Pass);
            assert!(
                finding.notes.iter().any(|n| n.contains("was not checked")),
                "{:?}",
                finding.notes
            );
        }
    }

    /// On Unix the verdicts come from the file's mode instead of an ACL.
    #[test]
    fn file_mode_verdicts() {
        let with_mode = |name: &str, mode| FileStatus {
            path: PathBuf::from(format!("/opt/PMP/conf/{name}")),
            present: true,
            access: Some(FileAccess::Mode { mode }),
        };
        let shared = judge_masterkey(&with_mode("masterkey.key", 0o644), Severity::Warn, None);
        assert_eq!(shared.status, Status::Fail);
        assert!(
            shared
                .remediation
                .unwrap()
                .contains("chmod 600 '/opt/PMP/conf/masterkey.key'")
        );
        let private = judge_masterkey(&with_mode("masterkey.key", 0o600), Severity::Warn, None);
        assert_eq!(private.status, Status::Warn);
        assert!(
            private.message.contains("readable by its owner only"),
            "{}",
            private.message
        );
        let params = |mode| DatabaseParamsStatus {
            file: with_mode("database_params.conf", mode),
            holds_credentials: true,
        };
        let open = judge_database_params(&params(0o640), Severity::Fail, None).unwrap();
        assert_eq!(open.status, Status::Fail);
        assert!(open.remediation.unwrap().contains("chown"));
        let closed = judge_database_params(&params(0o600), Severity::Fail, None).unwrap();
        assert_eq!(closed.status, Status::Pass);
        assert!(
            closed.message.contains("only its owner"),
            "{}",
            closed.message
        );
    }
}
