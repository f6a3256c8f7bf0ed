//! The application database: it exists and the application account can use
//! it (or, for PMP, create it), and PMP's custom encryption key is in place.

use async_trait::async_trait;

use super::query_stop;
use crate::context::RunContext;
use crate::facts::sql::{AccountKind, DatabasePresence, SqlSession, session_of};
use crate::finding::{Finding, Outcome, Severity, Stop};
use crate::probe::sql::{ident, literal};
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

#[async_trait]
impl Check for Database {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let database = ctx.target.database()?;
        let may_create: bool = ctx.param(&self.meta, "may_create")?;
        let login = session_of(ctx, AccountKind::App).await?;
        let session = login.session()?;
        let presence = session
            .database_presence(database)
            .await
            .map_err(|e| query_stop(session, "whether the database exists", e, "no permission"))?;
        let user = &session.user;
        let finding = match presence {
            DatabasePresence {
                exists: true,
                accessible,
            } if session.database.is_some() || accessible == Some(true) => Finding::pass(format!(
                "`{database}` exists and `{user}` can use it"
            )),
            DatabasePresence { exists: true, .. } => Finding::problem(
                self.meta.severity,
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
            DatabasePresence { exists: false, .. } if may_create => {
                creation_verdict(&self.meta, session, database).await?
            }
            DatabasePresence { exists: false, .. } => Finding::problem(
                self.meta.severity,
                format!("the database `{database}` does not exist"),
            )
            .remediation(format!(
                "Create it, or correct `database` under [server]: CREATE DATABASE {db}; then USE {db}; CREATE USER {login} FOR LOGIN {login}; ALTER ROLE db_owner ADD MEMBER {login};",
                db = ident(database),
                login = ident(user)
            )),
        };
        Ok(session.mark(
            finding
                .evidence("database", database)
                .evidence("presence", presence)
                .evidence("login_refused_database", &login.database_refused),
        ))
    }
}

pub const CREATE_RIGHTS_QUERY: &str = "SELECT IS_SRVROLEMEMBER(N'sysadmin') AS is_sysadmin, IS_SRVROLEMEMBER(N'dbcreator') AS is_dbcreator, HAS_PERMS_BY_NAME(NULL, NULL, N'CREATE ANY DATABASE') AS can_create_any";

async fn creation_verdict(
    meta: &CheckMeta,
    session: &SqlSession,
    database: &str,
) -> Result<Finding, Stop> {
    let set = session
        .rows(CREATE_RIGHTS_QUERY)
        .await
        .map_err(|e| query_stop(session, "the login's server roles", e, "no permission"))?;
    let yes = |column: &str| set.get(0, column).as_bool() == Some(true);
    let user = &session.user;
    let via = if yes("is_sysadmin") {
        Some("sysadmin")
    } else if yes("is_dbcreator") {
        Some("dbcreator")
    } else if yes("can_create_any") {
        Some("CREATE ANY DATABASE")
    } else {
        None
    };
    Ok(match via {
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
    .evidence("server_roles", set.to_json_rows()))
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
        let login = session_of(ctx, AccountKind::App).await?;
        let session = login.session()?;
        let database = session.require_database()?;
        let batch = keys_query(certificate, key);
        let sets = session
            .results(&batch)
            .await
            .map_err(|e| query_stop(session, "the database's keys", e, "VIEW DEFINITION"))?;
        let count = |index: usize| {
            sets.get(index)
                .and_then(|s| s.scalar())
                .and_then(|v| v.as_i64())
                .unwrap_or(0)
        };
        let (master_key, has_certificate, has_key) = (count(0) > 0, count(1) > 0, count(2) > 0);
        let rights = sets.get(3).cloned().unwrap_or_default();
        let owner = rights.get(0, "db_owner").as_bool() == Some(true);
        let certificate_control = rights.get(0, "certificate_control").as_bool();
        let key_view = rights.get(0, "key_view_definition").as_bool();
        let user = ident(&session.user);
        let mut missing = Vec::new();
        if !master_key {
            missing.push("the database master key".to_owned());
        }
        if !has_certificate {
            missing.push(format!("the certificate `{certificate}`"));
        }
        if !has_key {
            missing.push(format!("the symmetric key `{key}`"));
        }
        let evidence = |f: Finding| {
            f.evidence("database", database)
                .evidence("master_key", master_key)
                .evidence("certificate", has_certificate)
                .evidence("symmetric_key", has_key)
                .evidence("permissions", rights.to_json_rows())
        };
        if !missing.is_empty() {
            return Ok(session.mark(evidence(
                Finding::problem(
                    self.meta.severity,
                    format!(
                        "{} not found in `{database}` (or not visible to `{}`)",
                        missing.join(", "),
                        session.user
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
        let finding = if owner || (certificate_control == Some(true) && key_view == Some(true)) {
            Finding::pass(format!(
                "the master key, certificate `{certificate}` and symmetric key `{key}` exist and `{}` may use them",
                session.user
            ))
        } else if certificate_control == Some(false) || key_view == Some(false) {
            Finding::problem(
                self.meta.severity,
                format!(
                    "the keys exist, but `{}` may not use them (it needs CONTROL on the certificate and VIEW DEFINITION on the symmetric key)",
                    session.user
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
                session.user
            )));
        };
        Ok(session.mark(evidence(finding)))
    }
}

pub fn keys_query(certificate: &str, key: &str) -> String {
    let (cert, sym) = (literal(certificate), literal(key));
    format!(
        "SELECT COUNT(*) AS found FROM sys.symmetric_keys WHERE name = N'##MS_DatabaseMasterKey##'; \
         SELECT COUNT(*) AS found FROM sys.certificates WHERE name = {cert}; \
         SELECT COUNT(*) AS found FROM sys.symmetric_keys WHERE name = {sym}; \
         SELECT IS_ROLEMEMBER(N'db_owner') AS db_owner, HAS_PERMS_BY_NAME({cert}, N'CERTIFICATE', N'CONTROL') AS certificate_control, \
         HAS_PERMS_BY_NAME({sym}, N'SYMMETRIC KEY', N'VIEW DEFINITION') AS key_view_definition"
    )
}
