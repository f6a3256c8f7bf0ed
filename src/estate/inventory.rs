//! The inventory: many targets described at once. Either one TOML file with
//! a `[[target]]` table per server (its `name`, optional `tags`, and every
//! key of a target file; `[defaults]` holds keys every target inherits) or
//! a folder of target files, each named by its file stem.
//!
//! Every target is turned back into the text of a target file and loaded
//! through `Target::from_toml`, so a target in an inventory is validated,
//! and finds its passwords, exactly as a target file of its own would.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::profiles::Patterns;
use crate::target::{SecretInputs, Target, TargetError, TargetOverrides};
use crate::tomlfile::{self, TomlError};

/// Keys of an inventory entry that are about the estate, not the target file.
const ESTATE_KEYS: [&str; 4] = ["name", "tags", "timeout", "deadline"];

/// One target of the inventory, not loaded yet.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub tags: Vec<String>,
    /// Per-target limits (`timeout = "2s"`, `deadline = "30s"`), overriding
    /// the command line's for this target only.
    pub timeout: Option<Duration>,
    pub deadline: Option<Duration>,
    /// The file the entry came from: relative paths in it are relative to it.
    pub origin: PathBuf,
    /// The entry as a target file (defaults merged in).
    target_toml: String,
}

impl Entry {
    /// Loads the target, reading its passwords as a target file would.
    pub fn load(
        &self,
        overrides: &TargetOverrides,
        inputs: SecretInputs,
    ) -> Result<Target, String> {
        Target::from_toml(&self.target_toml, &self.origin, overrides, inputs).map_err(|e| {
            let detail = match e {
                // Line numbers would point into the merged text, not the file.
                TargetError::Toml(TomlError { field, message, .. }) => match field {
                    Some(field) => format!("field `{field}`: {message}"),
                    None => message,
                },
                TargetError::Invalid { message, .. } => message,
            };
            format!(
                "{}: target `{}`: {detail}",
                self.origin.display(),
                self.name
            )
        })
    }

    /// The target file this entry amounts to (defaults merged in).
    pub fn target_toml(&self) -> &str {
        &self.target_toml
    }
}

#[derive(Debug, Clone)]
pub struct Inventory {
    pub source: PathBuf,
    pub entries: Vec<Entry>,
}

impl Inventory {
    /// Reads an inventory file, or every `*.toml` target file of a folder.
    pub fn load(path: &Path) -> Result<Inventory, String> {
        let entries = if path.is_dir() {
            from_dir(path)?
        } else {
            from_file(path)?
        };
        if entries.is_empty() {
            return Err(format!(
                "{}: the inventory holds no target (add [[target]] tables with a `name`)",
                path.display()
            ));
        }
        Ok(Inventory {
            source: path.to_path_buf(),
            entries,
        })
    }

    /// The entries `--only` selects: those with one of the tags named, or
    /// whose name matches one of the globs; all of them without `--only`.
    /// A pattern that selects nothing is refused, as `--check` does.
    pub fn select(&self, only: &[String]) -> Result<Vec<&Entry>, String> {
        if only.is_empty() {
            return Ok(self.entries.iter().collect());
        }
        for pattern in only {
            let names = Patterns::new(std::slice::from_ref(pattern))?;
            if !self
                .entries
                .iter()
                .any(|e| e.tags.contains(pattern) || names.is_match(&e.name))
            {
                let mut known: Vec<&str> = self.entries.iter().map(|e| e.name.as_str()).collect();
                known.extend(
                    self.entries
                        .iter()
                        .flat_map(|e| e.tags.iter().map(String::as_str)),
                );
                return Err(format!(
                    "--only `{pattern}` matches no target name or tag of {}{}",
                    self.source.display(),
                    crate::suggest::did_you_mean(pattern, known.into_iter())
                ));
            }
        }
        let names = Patterns::new(only)?;
        Ok(self
            .entries
            .iter()
            .filter(|e| e.tags.iter().any(|t| only.contains(t)) || names.is_match(&e.name))
            .collect())
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

fn from_file(path: &Path) -> Result<Vec<Entry>, String> {
    let mut table: toml::Table = tomlfile::read(path).map_err(|e| e.to_string())?;
    let origin = path.display().to_string();
    let defaults = match table.remove("defaults") {
        Some(toml::Value::Table(t)) => t,
        Some(_) => return Err(format!("{origin}: [defaults] must be a table")),
        None => toml::Table::new(),
    };
    if defaults.contains_key("name") {
        return Err(format!(
            "{origin}: [defaults] cannot set `name`: every target has its own"
        ));
    }
    let targets = match table.remove("target") {
        Some(toml::Value::Array(items)) => items,
        Some(_) => {
            return Err(format!(
                "{origin}: `target` must be an array of tables: write each server as [[target]]"
            ));
        }
        None => Vec::new(),
    };
    if let Some(key) = table.keys().next() {
        return Err(format!(
            "{origin}: unknown key `{key}`: an inventory holds [defaults] and [[target]] tables only"
        ));
    }
    let mut entries: Vec<Entry> = Vec::new();
    for (index, item) in targets.into_iter().enumerate() {
        let toml::Value::Table(mut own) = item else {
            return Err(format!(
                "{origin}: [[target]] number {} is not a table",
                index + 1
            ));
        };
        merge_defaults(&mut own, &defaults);
        let name = match own.get("name") {
            Some(toml::Value::String(n)) => n.clone(),
            _ => {
                return Err(format!(
                    "{origin}: [[target]] number {} has no `name` (a string such as \"sql01-prod\")",
                    index + 1
                ));
            }
        };
        let entry = entry(name, own, path).map_err(|m| format!("{origin}: {m}"))?;
        if entries.iter().any(|e| e.name == entry.name) {
            return Err(format!(
                "{origin}: two targets are named `{}`; names must be unique",
                entry.name
            ));
        }
        entries.push(entry);
    }
    Ok(entries)
}

fn from_dir(dir: &Path) -> Result<Vec<Entry>, String> {
    let read = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let table: toml::Table = tomlfile::read(&path).map_err(|e| e.to_string())?;
            entry(name, table, &path).map_err(|m| format!("{}: {m}", path.display()))
        })
        .collect()
}

/// An entry from its table: the estate keys taken out, the rest kept as a
/// target file.
fn entry(name: String, mut table: toml::Table, origin: &Path) -> Result<Entry, String> {
    check_name(&name)?;
    let tags = match table.remove("tags") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .into_iter()
            .map(|t| match t {
                toml::Value::String(s) if !s.trim().is_empty() => Ok(s),
                other => Err(format!(
                    "target `{name}`: tags must be non-empty strings, not {other}"
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "target `{name}`: tags must be a list such as [\"prod\", \"pmp\"], not {other}"
            ));
        }
    };
    let duration = |table: &mut toml::Table, key: &str| -> Result<Option<Duration>, String> {
        match table.remove(key) {
            None => Ok(None),
            Some(toml::Value::String(text)) => crate::human::parse_duration(&text)
                .map(Some)
                .map_err(|e| format!("target `{name}`: {key}: {e}")),
            Some(other) => Err(format!(
                "target `{name}`: {key} must be a duration in quotes, like {}, not {other}",
                crate::human::DURATION_EXAMPLES
            )),
        }
    };
    let timeout = duration(&mut table, "timeout")?;
    let deadline = duration(&mut table, "deadline")?;
    for key in ESTATE_KEYS {
        table.remove(key);
    }
    let target_toml = toml::to_string(&table).map_err(|e| format!("target `{name}`: {e}"))?;
    Ok(Entry {
        name,
        tags,
        timeout,
        deadline,
        origin: origin.to_path_buf(),
        target_toml,
    })
}

/// Names become folder names in bundles, label values and URL parameters:
/// letters, digits, `.`, `_` and `-` only.
fn check_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.starts_with('.') || !name.chars().all(allowed) {
        return Err(format!(
            "`{name}` is not a usable target name: use letters, digits, `.`, `_` and `-` (not first)"
        ));
    }
    Ok(())
}

/// Fills in what `own` does not set from `defaults`; tables merge key by
/// key, anything else (a list such as [[waiver]], a value) is the target's
/// when it has one.
fn merge_defaults(own: &mut toml::Table, defaults: &toml::Table) {
    for (key, value) in defaults {
        match (own.get_mut(key), value) {
            (None, _) => {
                own.insert(key.clone(), value.clone());
            }
            (Some(toml::Value::Table(mine)), toml::Value::Table(theirs)) => {
                merge_defaults(mine, theirs);
            }
            (Some(_), _) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(text: &str) -> Result<Inventory, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("estate.toml");
        std::fs::write(&path, text).unwrap();
        Inventory::load(&path)
    }

    const TWO: &str = r#"
[defaults]
tags = ["prod"]
timeout = "3s"
[defaults.server]
port = 1433
database = "PassTrix"
[defaults.tls]
expected_name = "default.example.com"

[[target]]
name = "sql01"
tags = ["prod", "pmp"]
[target.server]
host = "sql01.example.com"

[[target]]
name = "sql02-dr"
deadline = "20s"
[target.server]
host = "sql02.example.com"
port = 14330
"#;

    #[test]
    fn defaults_are_inherited_key_by_key() {
        let inv = inventory(TWO).unwrap();
        let sql02 = inv.get("sql02-dr").unwrap();
        let target = sql02
            .load(&TargetOverrides::default(), SecretInputs::default())
            .unwrap();
        assert_eq!(target.server.host, "sql02.example.com");
        assert_eq!(target.server.port, Some(14330));
        assert_eq!(target.server.database.as_deref(), Some("PassTrix"));
        assert_eq!(
            target.tls.expected_name.as_deref(),
            Some("default.example.com")
        );
        assert_eq!(sql02.tags, ["prod"]);
        assert_eq!(sql02.timeout, Some(Duration::from_secs(3)));
        assert_eq!(sql02.deadline, Some(Duration::from_secs(20)));
        let sql01 = inv.get("sql01").unwrap();
        assert_eq!(sql01.tags, ["prod", "pmp"]);
        assert_eq!(sql01.deadline, None);
    }

    #[test]
    fn only_selects_by_tag_or_name_glob_and_refuses_what_matches_nothing() {
        let inv = inventory(TWO).unwrap();
        let names = |only: &[&str]| -> Vec<String> {
            let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
            inv.select(&only)
                .unwrap()
                .iter()
                .map(|e| e.name.clone())
                .collect()
        };
        assert_eq!(names(&[]), ["sql01", "sql02-dr"]);
        assert_eq!(names(&["pmp"]), ["sql01"]);
        assert_eq!(names(&["prod"]), ["sql01", "sql02-dr"]);
        assert_eq!(names(&["*-dr"]), ["sql02-dr"]);
        let err = inv.select(&["staging".to_owned()]).unwrap_err();
        assert!(err.contains("matches no target name or tag"), "{err}");
    }

    #[test]
    fn a_bad_entry_is_named() {
        let err = inventory("[[target]]\nname = \"a\"\n[target.server]\nhots = \"x\"\n")
            .unwrap()
            .entries[0]
            .load(&TargetOverrides::default(), SecretInputs::default())
            .unwrap_err();
        assert!(err.contains("target `a`: field `server.hots`"), "{err}");
        assert!(err.contains("did you mean `host`"), "{err}");
        let err = inventory("[[target]]\n[target.server]\nhost = \"x\"\n").unwrap_err();
        assert!(err.contains("has no `name`"), "{err}");
        let err = inventory("[[target]]\nname = \"a b\"\n").unwrap_err();
        assert!(err.contains("not a usable target name"), "{err}");
        let err = inventory("[[target]]\nname = \"a\"\n[[target]]\nname = \"a\"\n").unwrap_err();
        assert!(err.contains("two targets are named `a`"), "{err}");
        let err = inventory("[[target]]\nname = \"a\"\ntimeout = \"soon\"\n").unwrap_err();
        assert!(err.contains("not a duration like 5s, 500ms or 2m"), "{err}");
        let err = inventory("[server]\nhost = \"a\"\n").unwrap_err();
        assert!(err.contains("unknown key `server`"), "{err}");
        let err = inventory("").unwrap_err();
        assert!(err.contains("holds no target"), "{err}");
    }

    #[test]
    fn a_folder_of_target_files_is_named_by_stems() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.toml"), "[server]\nhost = \"b\"\n").unwrap();
        std::fs::write(dir.path().join("a.toml"), "[server]\nhost = \"a\"\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a target").unwrap();
        let inv = Inventory::load(dir.path()).unwrap();
        let names: Vec<&str> = inv.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let a = inv.entries[0]
            .load(&TargetOverrides::default(), SecretInputs::default())
            .unwrap();
        assert_eq!(a.server.host, "a");
        assert_eq!(
            a.origin.as_deref(),
            Some(dir.path().join("a.toml").as_path())
        );
    }
}
