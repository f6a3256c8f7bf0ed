//! Where passwords come from: an environment variable named in the target
//! file, a password file only its owner can read, standard input, or a
//! prompt. Never argv. Every password found is registered with the redactor.

use std::io::IsTerminal;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::TargetError;

/// A password, or why there is none and how to give one (sql.login reports
/// a configured account without a password as an error, with the fix).
#[derive(Clone)]
pub enum Credential {
    Given(SecretString),
    Missing {
        why: String,
        fix: String,
    },
    /// `auth = "integrated"`: the logged-on Windows account, no password.
    NotNeeded,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Given(_) => f.write_str("Given(<redacted>)"),
            Credential::Missing { why, .. } => write!(f, "Missing({why:?})"),
            Credential::NotNeeded => f.write_str("NotNeeded"),
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
    /// The target file's section: `sql` or `backup`.
    pub section: &'a str,
    pub user: &'a str,
    pub env: Option<&'a str>,
    pub file: Option<&'a Path>,
    pub stdin: Option<SecretString>,
    pub allow_prompt: bool,
    /// Whether the run has a target file to name a password source in.
    pub has_target_file: bool,
}

/// Resolves a password in order: standard input (a flag overrides the
/// file), environment variable, password file, prompt. Naming both a variable
/// and a file is refused, as is a password file readable by anyone but its
/// owner: those are configuration errors. A password that cannot be had
/// (variable unset, file unreadable, empty input) is `Missing`, with the fix.
pub fn resolve(sources: PasswordSources<'_>) -> Result<Credential, TargetError> {
    let section = sources.section;
    let stdin_flag = if section == "backup" {
        "--backup-password-stdin"
    } else {
        "--password-stdin"
    };
    let missing = |why: String, fix: String| {
        Ok(Credential::Missing {
            why: format!(
                "no password for the {} account `{}`: {why}",
                sources.account, sources.user
            ),
            fix,
        })
    };
    if let (Some(var), Some(file)) = (sources.env, sources.file) {
        return Err(TargetError::Invalid {
            origin: format!("[{section}]"),
            message: format!(
                "both password_env (`{var}`) and password_file (`{}`) are given: keep one, so it is clear which password is used",
                file.display()
            ),
        });
    }
    // A password the target names is a secret even when a flag overrides
    // it: register it, so that no output can show it.
    if let Some(value) = sources.env.and_then(|var| std::env::var(var).ok()) {
        crate::redact::register(&value);
    }
    if let Some(password) = sources.stdin {
        if password.expose_secret().is_empty() {
            return missing(
                format!("{stdin_flag} was given but standard input held no password"),
                format!(
                    "Write the password as a line on standard input, e.g. `printf '%s\\n' \"$PASSWORD\" | mssql-preflight run {stdin_flag} …`."
                ),
            );
        }
        return Ok(Credential::Given(password));
    }
    if let Some(var) = sources.env {
        return match std::env::var(var) {
            Ok(value) if !value.is_empty() => {
                crate::redact::register(&value);
                Ok(Credential::Given(SecretString::from(value)))
            }
            Ok(_) => missing(
                format!("the environment variable {var} is empty"),
                format!(
                    "Set {var} to the password before the run (`read -rs {var} && export {var}`), or pass it with {stdin_flag}."
                ),
            ),
            Err(_) => missing(
                format!("the environment variable {var} is not set"),
                format!(
                    "Set {var} to the password before the run (`read -rs {var} && export {var}`), or pass it with {stdin_flag}."
                ),
            ),
        };
    }
    if let Some(path) = sources.file {
        return match read_password_file(path, sources.account)? {
            Ok(password) => Ok(Credential::Given(password)),
            Err(why) => missing(
                why,
                format!(
                    "Write the password as the first line of {} (mode 600, owned by the user running mssql-preflight), or pass it with {stdin_flag}.",
                    path.display()
                ),
            ),
        };
    }
    if sources.allow_prompt {
        let prompt = format!("Password for {} ({}): ", sources.user, sources.account);
        if let Ok(value) = rpassword::prompt_password(prompt) {
            crate::redact::register(&value);
            if !value.is_empty() {
                return Ok(Credential::Given(SecretString::from(value)));
            }
        }
    }
    let fix = if sources.has_target_file {
        format!(
            "Add `password_env = \"VARIABLE\"` (and set it) or `password_file = \"PATH\"` under [{section}], or pass the password with {stdin_flag}."
        )
    } else {
        format!(
            "Pass the password with {stdin_flag} (e.g. `printf '%s\\n' \"$PASSWORD\" | mssql-preflight run {stdin_flag} …`), or run on a terminal to be asked for it."
        )
    };
    missing(
        "no password_env, password_file or standard input was given".to_owned(),
        fix,
    )
}

/// Reads a password file: refused outright (a configuration error) when
/// others may read it; `Ok(Err(why))` when it cannot be read or is empty.
fn read_password_file(
    path: &Path,
    account: &str,
) -> Result<Result<SecretString, String>, TargetError> {
    // Elsewhere a file's readers are its ACL's business (host checks judge
    // ACLs); only Unix mode bits can be refused here.
    #[cfg(not(unix))]
    let _ = account;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let refuse = |message: String| TargetError::Invalid {
            origin: path.display().to_string(),
            message,
        };
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) => {
                return Ok(Err(format!(
                    "cannot read the password file {}: {e}",
                    path.display()
                )));
            }
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(refuse(format!(
                "the {account} password file is accessible to other users (mode {mode:03o}); \
                 run `chmod 600 {}` so only its owner can read it",
                path.display()
            )));
        }
    }
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            return Ok(Err(format!(
                "cannot read the password file {}: {e}",
                path.display()
            )));
        }
    };
    let password = text.lines().next().unwrap_or("").to_owned();
    crate::redact::register(&password);
    if password.is_empty() {
        return Ok(Err(format!(
            "the password file {} is empty",
            path.display()
        )));
    }
    Ok(Ok(SecretString::from(password)))
}
