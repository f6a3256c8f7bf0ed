//! The application database: it exists and the application account can use
//! it (or, for PMP, create it), and PMP's custom encryption key is in place.

use async_trait::async_trait;

use crate::context::RunContext;
use crate::facts::sql::reads::{
    CreateRights, CreateRightsValue, DatabasePresence, PmpKeyState, PmpKeysFound, Read,
    database_presence, ident,
};
use crate::facts::sql::{AccountKind, session_of};
use crate::finding::{Finding, Outcome, Severity, Stop};
use crate::registry::{Check, CheckMeta, Family};

pub struct Database {
    meta: CheckMeta,
}

impl Database {
    pub(super) fn new() -> Self {
        Database {
            meta: CheckMeta::new("sql.database", Family::Sql, Severity::Fail)
                .title("The application database is usable")
                .checks("Checks that the application database exists and that the application account can open it; where the application creates its database itself (PMP), that the account may create it: sysadmin, dbcreator or CREATE ANY DATABASE.")
                .why("The application stores everything there; PMP creates the database (default PassTrix) on first start, which needs the right to create databases.")
                .fix("Create the database and map the login into it (CREATE USER … FOR LOGIN …), or give the login the right to create it (ALTER SERVER ROLE dbcreator ADD MEMBER …).")
                .guide("PMP guide step 4.iv (database name, PMP creates it); Passwordstate guide §2.7")
                .param(
                    "may_create",
                    false,
                    "the application creates its database when it does not exist (PMP), so a missing database is fine if the account may create one",
                ),
        }
    }
}

/// The parameters of Database, named as in its metadata (where their
/// defaults are).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseParams {
    may_create: bool,
}

#[async_trait]
impl Check for Database {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let database = ctx.target.database()?;
        let DatabaseParams { may_create } = ctx.params(&self.meta)?;
        let login = session_of(ctx, AccountKind::App).await?;
        let presence = database_presence(ctx, AccountKind::App).await?;
        // What the login may create matters only for a database to be created.
        let rights = if !presence.value.exists && may_create {
            Some(ctx.fact::<CreateRights>().await?)
        } else {
            None
        };
        Ok(
            judge_database(&self.meta, database, &presence, rights.as_deref())
                .evidence("login_refused_database", &login.database_refused),
        )
    }
}

/// The verdict on the application database from what the application
/// account saw: `rights` is given when a missing database may be created.
fn judge_database(
    meta: &CheckMeta,
    database: &str,
    presence: &Read<DatabasePresence>,
    rights: Option<&Read<CreateRightsValue>>,
) -> Finding {
    let by = &presence.by;
    let user = &by.user;
    let finding = match (presence.value, rights) {
        (
            DatabasePresence {
                exists: true,
                accessible,
            },
            _,
        ) if by.database.is_some() || accessible == Some(true) => Finding::pass(format!(
            "`{database}` exists and `{user}` can use it"
        )),
        (DatabasePresence { exists: true, .. }, _) => Finding::problem(
            meta.severity,
            format!(
                "`{database}` exists, but `{user}` cannot open it: the login has no user in it"
            ),
        )
        .expected(format!("a database user for `{user}` in `{database}`"))
        .remediation(format!(
            "USE {db}; CREATE USER {login} FOR LOGIN {login}; ALTER ROLE db_owner ADD MEMBER {login};",
            db = ident(database),
            login = ident(user)
        )),
        (DatabasePresence { exists: false, .. }, Some(rights)) => {
            creation_verdict(meta, &rights.value, user, database)
        }
        (DatabasePresence { exists: false, .. }, None) => Finding::problem(
            meta.severity,
            format!("the database `{database}` does not exist"),
        )
        .remediation(format!(
            "Create it, or correct `database` under [server]: CREATE DATABASE {db}; then USE {db}; CREATE USER {login} FOR LOGIN {login}; ALTER ROLE db_owner ADD MEMBER {login};",
            db = ident(database),
            login = ident(user)
        )),
    };
    by.mark(
        finding
            .evidence("database", database)
            .evidence("presence", presence.value),
    )
}

fn creation_verdict(
    meta: &CheckMeta,
    rights: &CreateRightsValue,
    user: &str,
    database: &str,
) -> Finding {
    let via = if rights.sysadmin {
        Some("sysadmin")
    } else if rights.dbcreator {
        Some("dbcreator")
    } else if rights.create_any_database {
        Some("CREATE ANY DATABASE")
    } else {
        None
    };
    match via {
        Some(via) => Finding::pass(format!(
            "`{database}` does not exist yet; `{user}` may create it ({via}), as the application will on first start"
        )),
        None => Finding::problem(
            meta.severity,
            format!("`{database}` does not exist and `{user}` may not create it"),
        )
        .expected("sysadmin, dbcreator or CREATE ANY DATABASE")
        .actual("none of them")
        .remediation(format!(
            "ALTER SERVER ROLE dbcreator ADD MEMBER {login}; (or create the database yourself: CREATE DATABASE {db}; USE {db}; CREATE USER {login} FOR LOGIN {login}; ALTER ROLE db_owner ADD MEMBER {login};)",
            login = ident(user),
            db = ident(database)
        )),
    }
    .evidence("server_roles", &rights.server_roles)
}

pub struct PmpKeys {
    meta: CheckMeta,
}

impl PmpKeys {
    pub(super) fn new() -> Self {
        PmpKeys {
            meta: CheckMeta::new("sql.pmp.keys", Family::Sql, Severity::Fail)
                .title("PMP's custom encryption key is in the database")
                .checks("When PMP is set up with a custom encryption key ([app] certificate_name and symmetric_key_name), checks that the database master key, the certificate and the symmetric key exist in the application database and that the application account may use them.")
                .why("PMP encrypts its data with that symmetric key, opened by the certificate; if either is missing or out of the login's reach, PMP cannot read or store passwords.")
                .fix("Create the master key, certificate and symmetric key as the PMP guide shows, and give the login CONTROL on the certificate and VIEW DEFINITION on the symmetric key.")
                .guide("PMP guide step 4.vii (encryption key: custom) and 4.viii (certificate and symmetric key names)"),
        }
    }
}

#[async_trait]
impl Check for PmpKeys {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let app = ctx.target.app.as_ref();
        let certificate = app.and_then(|a| a.certificate_name.as_deref());
        let key = app.and_then(|a| a.symmetric_key_name.as_deref());
        let (certificate, key) = match (certificate, key) {
            (None, None) => {
                return Err(Stop::not_applicable(
                    "PMP's default encryption key is used (no certificate_name or symmetric_key_name under [app]): PMP creates its own",
                ));
            }
            (Some(c), Some(k)) => (c, k),
            _ => {
                return Err(Stop::error(
                    "a custom PMP key needs both `certificate_name` and `symmetric_key_name` under [app]",
                ));
            }
        };
        let keys = ctx.fact::<PmpKeyState>().await?;
        judge_keys(&self.meta, &keys, certificate, key)
    }
}

/// The verdict on PMP's custom key from what the application account saw.
fn judge_keys(
    meta: &CheckMeta,
    keys: &Read<PmpKeysFound>,
    certificate: &str,
    key: &str,
) -> Outcome {
    let by = &keys.by;
    let found = &keys.value;
    let database = found.database.as_str();
    let user = ident(&by.user);
    let mut missing = Vec::new();
    if !found.master_key {
        missing.push("the database master key".to_owned());
    }
    if !found.certificate {
        missing.push(format!("the certificate `{certificate}`"));
    }
    if !found.symmetric_key {
        missing.push(format!("the symmetric key `{key}`"));
    }
    let evidence = |f: Finding| {
        f.evidence("database", database)
            .evidence("master_key", found.master_key)
            .evidence("certificate", found.certificate)
            .evidence("symmetric_key", found.symmetric_key)
            .evidence("permissions", &found.permissions)
    };
    if !missing.is_empty() {
        return Ok(by.mark(evidence(
            Finding::problem(
                meta.severity,
                format!(
                    "{} not found in `{database}` (or not visible to `{}`)",
                    missing.join(", "),
                    by.user
                ),
            )
            .remediation(format!(
                "USE {db}; CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'<strong password>'; \
                 CREATE CERTIFICATE {cert} WITH SUBJECT = N'PMP'; \
                 CREATE SYMMETRIC KEY {key} WITH ALGORITHM = AES_256 ENCRYPTION BY CERTIFICATE {cert}; \
                 GRANT CONTROL ON CERTIFICATE::{cert} TO {user}; GRANT VIEW DEFINITION ON SYMMETRIC KEY::{key} TO {user};",
                db = ident(database),
                cert = ident(certificate),
                key = ident(key),
            )),
        )));
    }
    let (control, view) = (found.certificate_control, found.key_view_definition);
    let finding = if found.db_owner || (control == Some(true) && view == Some(true)) {
        Finding::pass(format!(
            "the master key, certificate `{certificate}` and symmetric key `{key}` exist and `{}` may use them",
            by.user
        ))
    } else if control == Some(false) || view == Some(false) {
        Finding::problem(
            meta.severity,
            format!(
                "the keys exist, but `{}` may not use them (it needs CONTROL on the certificate and VIEW DEFINITION on the symmetric key)",
                by.user
            ),
        )
        .remediation(format!(
            "USE {db}; GRANT CONTROL ON CERTIFICATE::{cert} TO {user}; GRANT VIEW DEFINITION ON SYMMETRIC KEY::{key} TO {user};",
            db = ident(database),
            cert = ident(certificate),
            key = ident(key),
        ))
    } else {
        return Err(Stop::error(format!(
            "the keys exist, but the server would not say whether `{}` may use them (HAS_PERMS_BY_NAME returned NULL)",
            by.user
        )));
    };
    Ok(by.mark(evidence(finding)))
}

/// The verdicts over hand-built reads: no server needed.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_params_match_the_metadata() {
        use crate::checks::verdicts::default_params;
        let DatabaseParams { may_create } = default_params(&Database::new().meta);
        assert!(!may_create);
    }
    use crate::facts::sql::UNVERIFIED_NOTE;
    use crate::facts::sql::reads::read_as;
    use crate::finding::Status;

    fn presence(exists: bool, accessible: Option<bool>, opened: bool) -> Read<DatabasePresence> {
        read_as(
            AccountKind::App,
            "pmp",
            opened.then_some("PassTrix"),
            DatabasePresence { exists, accessible },
        )
    }

    fn rights(sysadmin: bool, dbcreator: bool, any: bool) -> Read<CreateRightsValue> {
        read_as(
            AccountKind::App,
            "pmp",
            None,
            CreateRightsValue {
                sysadmin,
                dbcreator,
                create_any_database: any,
                server_roles: Vec::new(),
            },
        )
    }

    #[test]
    fn database_verdicts_follow_presence_and_rights() {
        let meta = Database::new().meta;
        let judge = |p: &Read<DatabasePresence>, r: Option<&Read<CreateRightsValue>>| {
            judge_database(&meta, "PassTrix", p, r)
        };
        let opened = judge(&presence(true, Some(true), true), None);
        assert_eq!(opened.status, Status::Pass, "{}", opened.message);
        assert!(opened.notes.is_empty());
        // Not opened at login, but HAS_DBACCESS says the login may use it.
        let accessible = judge(&presence(true, Some(true), false), None);
        assert_eq!(accessible.status, Status::Pass, "{}", accessible.message);
        let no_user = judge(&presence(true, Some(false), false), None);
        assert_eq!(no_user.status, Status::Fail);
        assert!(
            no_user.message.contains("has no user"),
            "{}",
            no_user.message
        );
        assert!(no_user.remediation.unwrap().contains("CREATE USER [pmp]"));
        let missing = judge(&presence(false, None, false), None);
        assert_eq!(missing.status, Status::Fail);
        assert!(missing.message.contains("does not exist"));
        let creatable = judge(
            &presence(false, None, false),
            Some(&rights(false, true, false)),
        );
        assert_eq!(creatable.status, Status::Pass);
        assert!(
            creatable.message.contains("dbcreator"),
            "{}",
            creatable.message
        );
        let as_sysadmin = judge(
            &presence(false, None, false),
            Some(&rights(true, false, false)),
        );
        assert_eq!(as_sysadmin.status, Status::Pass);
        assert!(as_sysadmin.message.contains("(sysadmin)"));
        let via_permission = judge(
            &presence(false, None, false),
            Some(&rights(false, false, true)),
        );
        assert!(via_permission.message.contains("CREATE ANY DATABASE"));
        let not_creatable = judge(
            &presence(false, None, false),
            Some(&rights(false, false, false)),
        );
        assert_eq!(not_creatable.status, Status::Fail);
        assert_eq!(not_creatable.actual.as_deref(), Some("none of them"));
    }

    #[test]
    fn a_read_over_an_unverified_connection_is_marked() {
        let meta = Database::new().meta;
        let mut read = presence(true, Some(true), true);
        read.by.tls_verified = false;
        let finding = judge_database(&meta, "PassTrix", &read, None);
        assert_eq!(finding.notes, [UNVERIFIED_NOTE]);
    }

    fn keys(
        found: [bool; 3],
        owner: bool,
        control: Option<bool>,
        view: Option<bool>,
    ) -> Read<PmpKeysFound> {
        read_as(
            AccountKind::App,
            "pmp",
            Some("PassTrix"),
            PmpKeysFound {
                database: "PassTrix".to_owned(),
                certificate_name: "PMPCert".to_owned(),
                symmetric_key_name: "PMPKey".to_owned(),
                master_key: found[0],
                certificate: found[1],
                symmetric_key: found[2],
                db_owner: owner,
                certificate_control: control,
                key_view_definition: view,
                permissions: Vec::new(),
            },
        )
    }

    #[test]
    fn pmp_key_verdicts_follow_what_exists_and_who_may_use_it() {
        let meta = PmpKeys::new().meta;
        let judge = |k: &Read<PmpKeysFound>| judge_keys(&meta, k, "PMPCert", "PMPKey");
        let missing = judge(&keys([true, false, true], true, None, None)).unwrap();
        assert_eq!(missing.status, Status::Fail);
        assert!(
            missing.message.contains("the certificate `PMPCert`"),
            "{}",
            missing.message
        );
        assert!(
            missing
                .remediation
                .unwrap()
                .contains("CREATE CERTIFICATE [PMPCert]")
        );
        let owner = judge(&keys([true; 3], true, None, None)).unwrap();
        assert_eq!(owner.status, Status::Pass);
        let granted = judge(&keys([true; 3], false, Some(true), Some(true))).unwrap();
        assert_eq!(granted.status, Status::Pass);
        let denied = judge(&keys([true; 3], false, Some(true), Some(false))).unwrap();
        assert_eq!(denied.status, Status::Fail);
        assert!(
            denied
                .remediation
                .unwrap()
                .contains("GRANT VIEW DEFINITION")
        );
        let unknown = judge(&keys([true; 3], false, None, Some(true))).unwrap_err();
        assert_eq!(unknown.status(), Status::Error);
        assert!(unknown.reason().contains("HAS_PERMS_BY_NAME returned NULL"));
    }

    /// Whether a custom key is configured is decided from the target file
    /// alone, before anything is asked of the server.
    #[tokio::test]
    async fn pmp_keys_without_a_custom_key_do_not_apply_and_half_a_key_is_an_error() {
        use std::path::Path;
        use std::sync::Arc;

        use crate::context::RunSettings;
        use crate::finding::SkipKind;
        use crate::target::{SecretInputs, Target, TargetOverrides};

        let evaluate = |app: &str| {
            let target = Target::from_toml(
                &format!("[server]\nhost = \"sql01\"\n[app]\nkind = \"pmp\"\n{app}"),
                Path::new("t.toml"),
                &TargetOverrides::default(),
                SecretInputs::default(),
            )
            .unwrap();
            let ctx = RunContext::new(Arc::new(target), RunSettings::default(), Default::default());
            async move { PmpKeys::new().evaluate(&ctx).await }
        };
        let default_key = evaluate("").await.unwrap_err();
        assert_eq!(
            default_key.skip().expect("a skip").kind,
            SkipKind::NotApplicable
        );
        let half = evaluate("certificate_name = \"PMPCert\"\n")
            .await
            .unwrap_err();
        assert_eq!(half.status(), Status::Error);
        assert!(half.reason().contains("needs both"), "{}", half.reason());
    }
}
