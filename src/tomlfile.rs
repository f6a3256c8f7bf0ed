//! Reading TOML files (targets, check packs, profiles) with errors that name
//! the file, line, column and field, and suggest the nearest valid key.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// An error in a TOML document, located as precisely as the parser allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlError {
    pub origin: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Dotted path of the offending field, e.g. `server.host`.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for TomlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for TomlError {}

/// Parses `text` (named `origin` in errors) into `T`.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, TomlError> {
    let deserializer =
        toml::Deserializer::parse(text).map_err(|e| locate(text, origin, None, &e))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        // `toml::Spanned` shows up in paths as a private field; readers want the key.
        let path = e
            .path()
            .to_string()
            .replace(".$__serde_spanned_private_value", "");
        let field = (path != "." && !path.is_empty()).then_some(path);
        locate(text, origin, field, e.inner())
    })
}

/// Reads and parses the file at `path`.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, TomlError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| TomlError {
        origin: origin.clone(),
        line: None,
        column: None,
        field: None,
        message: format!("cannot read the file: {e}"),
    })?;
    parse(&text, &origin)
}

/// Where `path` points when written relative to the file `origin`.
pub fn relative_to(origin: Option<&Path>, path: &Path) -> PathBuf {
    match origin.and_then(Path::parent) {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

fn locate(text: &str, origin: &str, field: Option<String>, error: &toml::de::Error) -> TomlError {
    let (line, column) = match error.span() {
        Some(span) => {
            let (l, c) = line_column(text, span.start);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    TomlError {
        origin: origin.to_owned(),
        line,
        column,
        field,
        message: with_suggestion(error.message().trim()),
    }
}

/// Where `key = …` of the table `[table]` stands in the TOML document
/// `text`, as `origin:line:column`; just `origin` when it is not written that
/// way. For errors found after parsing, such as a check parameter's value
/// (`locate_key(text, origin, "checks.\"sql.clock\"", "warn_seconds")`).
pub fn locate_key(text: &str, origin: &str, table: &str, key: &str) -> String {
    let header = format!("[{table}]");
    let mut in_table = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_table = trimmed.trim_end().replace('\'', "\"") == header;
            continue;
        }
        if in_table
            && let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            let column = line.len() - trimmed.len() + 1;
            return format!("{origin}:{}:{column}", index + 1);
        }
    }
    origin.to_owned()
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

/// serde says "unknown field `hots`, expected one of `host`, `port`"; add the
/// likeliest intended name so the reader need not scan the list.
fn with_suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_owned();
    };
    let Some((wanted, expected)) = rest.split_once('`') else {
        return message.to_owned();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match crate::suggest::nearest(wanted, candidates) {
        Some(best) => format!("{message} — did you mean `{best}`?"),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn a_key_is_located_in_its_table() {
        let text = "[server]\nhost = \"a\"\n\n[checks.\"sql.clock\"]\n  warn_seconds = -5\n[checks.'sql.version']\nminimum = \"abc\"\n";
        assert_eq!(
            locate_key(text, "t.toml", "checks.\"sql.clock\"", "warn_seconds"),
            "t.toml:5:3"
        );
        assert_eq!(
            locate_key(text, "t.toml", "checks.\"sql.version\"", "minimum"),
            "t.toml:7:1"
        );
        assert_eq!(
            locate_key(text, "t.toml", "checks.\"sql.clock\"", "minimum"),
            "t.toml"
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        server: Server,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Server {
        host: String,
        port: Option<u16>,
    }

    #[test]
    fn unknown_field_names_line_column_field_and_suggestion() {
        let text = "[server]\nhost = \"a\"\nprot = 1433\n";
        let err = parse::<Doc>(text, "t.toml").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert_eq!(err.column, Some(1), "{err}");
        assert_eq!(err.field.as_deref(), Some("server.prot"), "{err}");
        assert!(err.message.contains("did you mean `port`?"), "{err}");
    }

    #[test]
    fn wrong_type_is_located() {
        let text = "[server]\nhost = \"a\"\nport = \"x\"\n";
        let err = parse::<Doc>(text, "t.toml").unwrap_err();
        assert_eq!((err.line, err.column), (Some(3), Some(8)), "{err}");
        assert_eq!(err.field.as_deref(), Some("server.port"));
    }

    #[test]
    fn syntax_error_is_located() {
        let err = parse::<Doc>("[server\nhost = 1", "t.toml").unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");
        assert!(err.to_string().starts_with("t.toml:1:"), "{err}");
    }
}
