//! What a refused login means, in plain words, and what to do about it.
//!
//! SQL Server tells the client little on purpose: 18456 always arrives with
//! state 1, and the real reason (the state) is written only to the server's
//! error log. Other numbers are explicit (18470 disabled, 18487 expired,
//! 18488 must change, 4060 database, 18452 untrusted domain). States other
//! than 1 and `Reason:` texts are used when a server does send them.

use crate::facts::sql::reads::ident;
use crate::facts::sql::{LoginFailure, LoginReason, ServerError};
use crate::target::AuthKind;

/// A login failure explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// Short label: "wrong password", "login disabled"…
    pub cause: String,
    /// What happened, in a sentence.
    pub explanation: String,
    /// What to do: an exact statement where one exists.
    pub remediation: String,
    /// The failure says nothing about the target (a timeout, a broken
    /// connection): the check reports an error, not a failure.
    pub inconclusive: bool,
}

/// Who tried to log in, for the statements in the advice.
pub struct Who<'a> {
    pub user: &'a str,
    pub auth: AuthKind,
    pub database: Option<&'a str>,
    pub tls_name: &'a str,
}

pub fn diagnose(failure: &LoginFailure, who: &Who<'_>) -> Diagnosis {
    let login = ident(who.user);
    let found = |cause: &str, explanation: String, remediation: String| Diagnosis {
        cause: cause.to_owned(),
        explanation,
        remediation,
        inconclusive: false,
    };
    match failure {
        LoginFailure::Server(error) => server_error(error, who, &login),
        LoginFailure::Tls { detail } => found(
            "TLS failure",
            format!("the encrypted connection could not be set up, so the login was never sent: {detail}"),
            format!(
                "See the tls.* checks: the certificate must chain to a CA this machine trusts (set [tls] ca_file) and name `{}`; \
                 SQL Server must have TLS 1.2 enabled.",
                who.tls_name
            ),
        ),
        LoginFailure::Authentication { detail } => found(
            "Windows authentication failed",
            format!("NTLM could not be negotiated on this machine: {detail}"),
            format!(
                "Give the account as DOMAIN\\user (now `{}`), check its password, and that the domain allows NTLM to this server.",
                who.user
            ),
        ),
        LoginFailure::Routing { host, port } => found(
            "redirected",
            format!("the server asked the client to connect to {host}:{port} instead (Azure SQL redirection)"),
            format!(
                "Allow outbound TCP 11000-11999 to Azure SQL, or set the server's connection policy to Proxy; then check {host}:{port} directly."
            ),
        ),
        LoginFailure::Timeout { after_millis } => Diagnosis {
            cause: "no answer".to_owned(),
            explanation: format!(
                "the server accepted the connection but did not finish the login within {after_millis} ms"
            ),
            remediation: "Check that SQL Server is not overloaded or paused, and that nothing on the way holds the connection; raise --timeout if the network is slow.".to_owned(),
            inconclusive: true,
        },
        // The server had the login and closed the connection instead of
        // answering it: that is its answer, and the application gets the same.
        LoginFailure::Io {
            detail,
            login_sent: true,
        } => found(
            "connection closed",
            format!("the server closed the connection after it received the login, without answering it: {detail}"),
            "Look at the SQL Server error log at the time of this run: the server (or a proxy in front of it) dropped the login. Check the login's and the endpoint's settings, and that nothing between this machine and SQL Server inspects TDS.".to_owned(),
        ),
        LoginFailure::Connect { detail }
        | LoginFailure::Io {
            detail,
            login_sent: false,
        } => Diagnosis {
            cause: "connection broke".to_owned(),
            explanation: format!("the connection broke before the login was sent: {detail}"),
            remediation: "Run the check again; if it persists, look at the SQL Server error log and any firewall or proxy on the way.".to_owned(),
            inconclusive: true,
        },
        LoginFailure::Protocol { detail, login_sent } => Diagnosis {
            cause: "unexpected answer".to_owned(),
            explanation: format!(
                "the server's answer {} was not understood: {detail}",
                if *login_sent { "to the login" } else { "before the login was sent" }
            ),
            remediation: "Check that the port belongs to SQL Server (not another service), and the SQL Server version.".to_owned(),
            inconclusive: true,
        },
        LoginFailure::NotAcknowledged => found(
            "login not acknowledged",
            "the server ended its answer to the login with DONE but sent no LOGINACK: it neither accepted nor refused the login, so there is no session".to_owned(),
            "Check that the port belongs to SQL Server itself and not to a proxy or another service speaking TDS; SQL Server always answers a login with LOGINACK or an error.".to_owned(),
        ),
    }
}

fn server_error(error: &ServerError, who: &Who<'_>, login: &str) -> Diagnosis {
    let found = |cause: &str, explanation: String, remediation: String| Diagnosis {
        cause: cause.to_owned(),
        explanation,
        remediation,
        inconclusive: false,
    };
    let user = who.user;
    let database = who.database.unwrap_or("the application database");
    let reason = error.login_reason();
    match (error.number, error.state) {
        (18470, _) | (18456, 7) => found(
            "login disabled",
            format!("the login `{user}` exists but is disabled"),
            format!("ALTER LOGIN {login} ENABLE;"),
        ),
        _ if reason == Some(LoginReason::AccountDisabled) => found(
            "login disabled",
            format!("the login `{user}` exists but is disabled"),
            format!("ALTER LOGIN {login} ENABLE;"),
        ),
        (18487, _) => found(
            "password expired",
            format!("the password of `{user}` has expired"),
            format!(
                "Set a new password and store it where the application reads it: ALTER LOGIN {login} WITH PASSWORD = N'<new password>'; \
                 for a service account, consider ALTER LOGIN {login} WITH CHECK_EXPIRATION = OFF;"
            ),
        ),
        (18488, _) | (18456, 18) => found(
            "password must be changed",
            format!("`{user}` must change its password before it may log in"),
            format!(
                "ALTER LOGIN {login} WITH PASSWORD = N'<new password>'; (an application cannot change it at login)"
            ),
        ),
        (18486, _) => found(
            "login locked out",
            format!("`{user}` is locked out after too many failed attempts (password policy)"),
            format!("ALTER LOGIN {login} WITH PASSWORD = N'<password>' UNLOCK;"),
        ),
        (4060, _) | (18456, 38 | 40 | 46) => found(
            "database not accessible",
            format!(
                "the credentials are valid, but the login cannot open `{database}`: it does not exist, is offline, or `{user}` has no user in it"
            ),
            match who.database {
                Some(db) => format!(
                    "USE {}; CREATE USER {login} FOR LOGIN {login}; (or create the database first; see sql.database)",
                    ident(db)
                ),
                None => format!(
                    "Give the login a default database it can open: ALTER LOGIN {login} WITH DEFAULT_DATABASE = [master];"
                ),
            },
        ),
        (18452, _) => found(
            "untrusted domain",
            match who.auth {
                AuthKind::Windows | AuthKind::Integrated => format!(
                    "SQL Server does not trust the Windows account `{user}`: its domain is not trusted by the server's domain, or the server could not reach a domain controller"
                ),
                AuthKind::Sql => format!(
                    "SQL Server refused SQL authentication for `{user}`: the server accepts Windows authentication only"
                ),
            },
            match who.auth {
                AuthKind::Windows | AuthKind::Integrated => "Use an account from the server's domain (or a trusted one) and check the server can reach its domain controllers; or use a SQL login.".to_owned(),
                AuthKind::Sql => "Switch the server to SQL Server and Windows Authentication mode (SSMS → server properties → Security, or EXEC xp_instance_regwrite … LoginMode = 2) and restart the service.".to_owned(),
            },
        ),
        (18456, 58) => found(
            "SQL authentication disabled",
            "the server accepts Windows authentication only".to_owned(),
            "Switch the server to SQL Server and Windows Authentication mode (SSMS → server properties → Security) and restart the service, or use a Windows account.".to_owned(),
        ),
        (18456, 2 | 5) => found(
            "unknown login",
            format!("no login named `{user}` exists on the server"),
            create_login(who, login),
        ),
        (18456, 8) => found(
            "wrong password",
            format!("the password given for `{user}` is not its password"),
            password_advice(who, login),
        ),
        (18456, 6) => found(
            "Windows login used with SQL authentication",
            format!("`{user}` is a Windows login, but a SQL authentication login was attempted"),
            "Set `auth = \"windows\"` for the account in the target file, with the user written DOMAIN\\user.".to_owned(),
        ),
        (18456, 11 | 12) => found(
            "no access to the server",
            format!("the credentials are valid, but `{user}` may not connect: CONNECT SQL is denied or the login has no server access"),
            format!("GRANT CONNECT SQL TO {login}; and check that no DENY applies to the login or its Windows groups"),
        ),
        (18456, 13) => found(
            "server paused",
            "the SQL Server service is paused and accepts no new logins".to_owned(),
            "Resume the SQL Server service (SQL Server Configuration Manager → Resume).".to_owned(),
        ),
        (18456, _) => found(
            "login failed",
            format!(
                "the server refused `{user}` without saying why (it tells clients state 1 only): the password is wrong, the login does not exist, or it may not use this kind of authentication"
            ),
            format!(
                "Check the password the application uses for `{user}`. On the server, the SQL Server error log has the line \"Login failed for user '{user}'. Reason: …\" with the exact cause (state 8: wrong password; 5: no such login; 58: SQL logins not allowed). {}",
                create_login(who, login)
            ),
        ),
        _ => found(
            "login refused",
            format!("the server refused the login: {}", error.message),
            "Look up the error number in the SQL Server documentation and the SQL Server error log.".to_owned(),
        ),
    }
}

fn create_login(who: &Who<'_>, login: &str) -> String {
    match who.auth {
        AuthKind::Sql => {
            format!("If the login is missing: CREATE LOGIN {login} WITH PASSWORD = N'<password>';")
        }
        AuthKind::Windows | AuthKind::Integrated => {
            format!("If the login is missing: CREATE LOGIN {login} FROM WINDOWS;")
        }
    }
}

fn password_advice(who: &Who<'_>, login: &str) -> String {
    match who.auth {
        AuthKind::Sql => format!(
            "Give the password the application uses, or set it on the server: ALTER LOGIN {login} WITH PASSWORD = N'<password>';"
        ),
        AuthKind::Windows | AuthKind::Integrated => {
            "Check the account's password in Active Directory (and that it is not locked out)."
                .to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(number: u32, state: u8, message: &str) -> LoginFailure {
        LoginFailure::Server(ServerError {
            number,
            state,
            class: 14,
            message: message.to_owned(),
            server: String::new(),
            procedure: String::new(),
        })
    }

    fn who() -> Who<'static> {
        Who {
            user: "pmp",
            auth: AuthKind::Sql,
            database: Some("PassTrix"),
            tls_name: "sql01",
        }
    }

    #[test]
    fn each_login_error_gets_its_own_diagnosis() {
        let cases = [
            (18470, 1, "login disabled", "ALTER LOGIN [pmp] ENABLE;"),
            (18456, 7, "login disabled", "ENABLE"),
            (18487, 1, "password expired", "CHECK_EXPIRATION = OFF"),
            (18488, 1, "password must be changed", "WITH PASSWORD"),
            (18456, 18, "password must be changed", "WITH PASSWORD"),
            (
                4060,
                1,
                "database not accessible",
                "USE [PassTrix]; CREATE USER [pmp] FOR LOGIN [pmp];",
            ),
            (18456, 38, "database not accessible", "CREATE USER"),
            (18452, 1, "untrusted domain", "Windows Authentication mode"),
            (
                18456,
                8,
                "wrong password",
                "ALTER LOGIN [pmp] WITH PASSWORD",
            ),
            (18456, 5, "unknown login", "CREATE LOGIN [pmp]"),
            (
                18456,
                58,
                "SQL authentication disabled",
                "Windows Authentication mode",
            ),
            (18456, 11, "no access to the server", "GRANT CONNECT SQL"),
            (18456, 1, "login failed", "error log"),
        ];
        for (number, state, cause, remedy) in cases {
            let d = diagnose(
                &server(number, state, "Login failed for user 'pmp'."),
                &who(),
            );
            assert_eq!(d.cause, cause, "{number}/{state}");
            assert!(
                d.remediation.contains(remedy),
                "{number}/{state}: {}",
                d.remediation
            );
            assert!(!d.inconclusive);
        }
    }

    #[test]
    fn a_reason_in_the_message_is_used() {
        let d = diagnose(
            &server(
                18456,
                1,
                "Login failed for user 'pmp'. Reason: The account is disabled.",
            ),
            &who(),
        );
        assert_eq!(d.cause, "login disabled");
    }

    #[test]
    fn windows_accounts_get_windows_advice() {
        let who = Who {
            user: r"CORP\pback",
            auth: AuthKind::Windows,
            database: None,
            tls_name: "sql01",
        };
        let d = diagnose(&server(18452, 1, ""), &who);
        assert!(d.explanation.contains("domain"), "{}", d.explanation);
        let d = diagnose(&server(18456, 5, ""), &who);
        assert!(
            d.remediation
                .contains(r"CREATE LOGIN [CORP\pback] FROM WINDOWS")
        );
    }

    #[test]
    fn timeouts_and_broken_connections_are_inconclusive() {
        assert!(diagnose(&LoginFailure::Timeout { after_millis: 5 }, &who()).inconclusive);
        let io = LoginFailure::Io {
            detail: "reset".into(),
            login_sent: false,
        };
        assert!(diagnose(&io, &who()).inconclusive);
        // After LOGIN7 went out, a closed connection is the server's answer.
        let closed = LoginFailure::Io {
            detail: "peer closed connection".into(),
            login_sent: true,
        };
        let d = diagnose(&closed, &who());
        assert!(!d.inconclusive);
        assert!(
            d.explanation.contains("after it received the login"),
            "{}",
            d.explanation
        );
        assert!(!d.explanation.contains("never sent"));
        let unacknowledged = diagnose(&LoginFailure::NotAcknowledged, &who());
        assert!(!unacknowledged.inconclusive);
        assert!(unacknowledged.explanation.contains("LOGINACK"));
        let tls = LoginFailure::Tls {
            detail: "UnknownIssuer".into(),
        };
        let d = diagnose(&tls, &who());
        assert!(!d.inconclusive);
        assert!(d.remediation.contains("ca_file"));
    }
}
