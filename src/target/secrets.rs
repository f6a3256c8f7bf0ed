//! Where passwords come from: an environment variable named in the target
//! file, a password file only its owner can read, standard input, or a
//! prompt. Never argv. Every password found is registered with the redactor.

use std::io::IsTerminal;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::TargetError;

/// A password, or the reason there is none (shown when the account's checks skip).
#[derive(Clone)]
pub enum Credential {
    Given(SecretString),
    Missing(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Given(_) => f.write_str("Given(<redacted>)"),
            Credential::Missing(why) => write!(f, "Missing({why:?})"),
        }
    }
}

/// Passwords read from standard input before the target is loaded.
#[derive(Default)]
pub struct SecretInputs {
    pub sql_password: Option<SecretString>,
    pub backup_password: Option<SecretString>,
    /// Ask on the terminal for passwords found nowhere else.
    pub allow_prompt: bool,
}

impl SecretInputs {
    /// Reads one line per requested password from standard input: the SQL
    /// account's first, then the backup account's.
    pub fn from_stdin(sql: bool, backup: bool) -> std::io::Result<Self> {
        let stdin = std::io::stdin();
        let read = |wanted: bool| -> std::io::Result<Option<SecretString>> {
            if !wanted {
                return Ok(None);
            }
            let mut line = String::new();
            stdin.read_line(&mut line)?;
            let password = line.trim_end_matches(['\r', '\n']).to_owned();
            crate::redact::register(&password);
            Ok(Some(SecretString::from(password)))
        };
        let sql_password = read(sql)?;
        let backup_password = read(backup)?;
        Ok(SecretInputs {
            sql_password,
            backup_password,
            allow_prompt: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
        })
    }
}

/// The sources an account section may name.
pub struct PasswordSources<'a> {
    pub account: &'a str,
    pub user: &'a str,
    pub env: Option<&'a str>,
    pub file: Option<&'a Path>,
    pub stdin: Option<SecretString>,
    pub allow_prompt: bool,
}

/// Resolves a password in order: environment variable, password file,
/// standard input, prompt. A password file readable by anyone but its owner
/// is refused outright: that is a configuration error, not a missing value.
pub fn resolve(sources: PasswordSources<'_>) -> Result<Credential, TargetError> {
    if let Some(value) = sources.env.and_then(|var| std::env::var(var).ok()) {
        crate::redact::register(&value);
        return Ok(Credential::Given(SecretString::from(value)));
    }
    if let Some(path) = sources.file {
        let password = read_password_file(path, sources.account)?;
        return Ok(Credential::Given(password));
    }
    if let Some(password) = sources.stdin {
        return Ok(Credential::Given(password));
    }
    if sources.allow_prompt {
        let prompt = format!("Password for {} ({}): ", sources.user, sources.account);
        if let Ok(value) = rpassword::prompt_password(prompt) {
            crate::redact::register(&value);
            return Ok(Credential::Given(SecretString::from(value)));
        }
    }
    let how = match sources.env {
        Some(var) => format!("the environment variable {var} is not set"),
        None => "no password_env, password_file or --password-stdin was given".to_owned(),
    };
    Ok(Credential::Missing(format!(
        "no password for the {} account `{}`: {how}",
        sources.account, sources.user
    )))
}

fn read_password_file(path: &Path, account: &str) -> Result<SecretString, TargetError> {
    let refuse = |message: String| TargetError::Invalid {
        origin: path.display().to_string(),
        message,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .map_err(|e| refuse(format!("cannot read the {account} password file: {e}")))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(refuse(format!(
                "the {account} password file is accessible to other users (mode {mode:03o}); \
                 run `chmod 600 {}` so only its owner can read it",
                path.display()
            )));
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| refuse(format!("cannot read the {account} password file: {e}")))?;
    let password = text.lines().next().unwrap_or("").to_owned();
    crate::redact::register(&password);
    if password.is_empty() {
        return Err(refuse(format!("the {account} password file is empty")));
    }
    Ok(SecretString::from(password))
}

/// The password's text, for the one place that must send it (a login).
pub fn expose(secret: &SecretString) -> &str {
    secret.expose_secret()
}
