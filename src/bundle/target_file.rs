//! target.toml for the bundle: the target file re-serialised with the value
//! of every key that holds a secret replaced by `<redacted>`. Re-serialising
//! (rather than copying) drops comments, where people also note passwords;
//! `password_env` and `password_file` stay, since they name where a secret
//! is, not the secret. Every other value (and key) has what the redactor
//! knows masked before it is laid out, so the header's own words are never
//! rewritten.

use std::path::Path;

use crate::redact::MASK;

/// What the command line said about the target, as flags.
#[derive(Debug, Default, Clone)]
pub struct CommandLine {
    pub flags: Vec<(String, String)>,
}

impl CommandLine {
    fn describe(&self) -> String {
        self.flags
            .iter()
            .map(|(flag, value)| {
                if value.is_empty() {
                    flag.clone()
                } else {
                    format!("{flag} {}", crate::redact::scrub(value))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The bundle's target.toml: the file's settings with secrets masked, headed
/// by where it came from and the command line's overrides.
pub fn redacted(path: Option<&Path>, command_line: &CommandLine) -> String {
    let Some(path) = path else {
        return format!(
            "# No target file: the target came from the command line: {}\n",
            overrides(command_line)
        );
    };
    let source = format!("The target file {}", path.display());
    match std::fs::read_to_string(path) {
        Ok(text) => redacted_text(&text, &source, command_line),
        Err(e) => format!(
            "{}# cannot read the target file: {}\n",
            header(&source, command_line),
            crate::redact::scrub(&e.to_string())
        ),
    }
}

/// [`redacted`] for settings given as text: `source` says where they came
/// from ("The target file t.toml", "Target `sql01` of the inventory …").
pub fn redacted_text(text: &str, source: &str, command_line: &CommandLine) -> String {
    let mut out = header(source, command_line);
    match text.parse::<toml::Table>() {
        Ok(mut table) => {
            mask_table(&mut table);
            out.push_str(
                &toml::to_string_pretty(&table)
                    .unwrap_or_else(|e| format!("# cannot re-serialise the target file: {e}\n")),
            );
        }
        Err(e) => out.push_str(&format!(
            "# cannot read the target file: {}\n",
            crate::redact::scrub(&e.to_string())
        )),
    }
    out
}

fn overrides(command_line: &CommandLine) -> String {
    if command_line.flags.is_empty() {
        "none".to_owned()
    } else {
        command_line.describe()
    }
}

/// The comment heading target.toml, its values masked.
fn header(source: &str, command_line: &CommandLine) -> String {
    format!(
        "# {}, re-serialised by mssql-preflight bundle:\n\
         # comments and layout are dropped, secret values read {MASK}.\n\
         # Command-line overrides (they win over this file): {}\n\n",
        crate::redact::scrub(source),
        overrides(command_line)
    )
}

/// Whether a key's value is a secret: one of its words names one, unless the
/// key says where the secret comes from (`password_env`, `password_file`).
pub fn is_secret_key(key: &str) -> bool {
    const SECRET_WORDS: &[&str] = &[
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "passphrase",
        "credential",
        "credentials",
        "apikey",
    ];
    const SOURCE_WORDS: &[&str] = &["env", "file", "path", "stdin", "command"];
    let lower = key.to_ascii_lowercase();
    let words: Vec<&str> = lower.split(['_', '-', '.', ' ']).collect();
    if words.last().is_some_and(|w| SOURCE_WORDS.contains(w)) {
        return false;
    }
    lower.contains("connection_string") || words.iter().any(|w| SECRET_WORDS.contains(w))
}

/// Secret keys' values replaced by the mask, and every other key and
/// string with what the redactor knows masked.
fn mask_table(table: &mut toml::Table) {
    for (key, mut value) in std::mem::take(table) {
        if is_secret_key(&key) {
            value = toml::Value::String(MASK.to_owned());
        } else {
            mask_value(&mut value);
        }
        table.insert(crate::redact::scrub(&key).into_owned(), value);
    }
}

fn mask_value(value: &mut toml::Value) {
    match value {
        toml::Value::Table(t) => mask_table(t),
        toml::Value::Array(items) => items.iter_mut().for_each(mask_value),
        toml::Value::String(text) => {
            if let std::borrow::Cow::Owned(masked) = crate::redact::scrub(text) {
                *text = masked;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_told_from_their_sources() {
        for key in [
            "password",
            "sql_password",
            "api-token",
            "Secret",
            "connection_string",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "password_env",
            "password_file",
            "user",
            "host",
            "ca_file",
            "justification",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn values_of_secret_keys_and_comments_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            "# old password: hunter2-in-a-comment\n[server]\nhost = \"sql01\"\n\
             [sql]\nuser = \"pmp\"\npassword_env = \"PMP_PW\"\n\
             [extra]\nlist = [{ token = \"t0ken-value\" }]\n",
        )
        .unwrap();
        let text = redacted(
            Some(&path),
            &CommandLine {
                flags: vec![("--port".into(), "1433".into())],
            },
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("t0ken-value"), "{text}");
        assert!(text.contains("password_env = \"PMP_PW\""), "{text}");
        assert!(text.contains("host = \"sql01\""), "{text}");
        assert!(text.contains("--port 1433"), "{text}");
        assert!(text.contains(MASK), "{text}");
    }
}
