//! Settings that name checks, validated against the registry in one place:
//! the `[checks."<id>"]` tables and `[[waiver]]`s of a target file, and a
//! profile's patterns and parameters. It sits above the target and the profiles
//! (which know no checks) and the registry (which knows no settings files).

use crate::profiles::{Patterns, Profiles};
use crate::registry::Registry;
use crate::suggest::did_you_mean;
use crate::target::{Target, TargetError};

/// Why a table of settings for one check was refused. Each names the key it
/// refuses, so that a message can point at its line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingError {
    #[error("no check has the id `{id}`{suggestion}")]
    UnknownCheck { id: String, suggestion: String },
    #[error("check `{id}` has no setting `{name}`{suggestion}; its settings: {known}")]
    UnknownSetting {
        id: String,
        name: String,
        suggestion: String,
        known: String,
    },
    #[error(
        "`{name}` of check `{id}` takes {expected} (like the default `{default}`), not {found}"
    )]
    WrongType {
        id: String,
        name: String,
        expected: &'static str,
        default: toml::Value,
        found: &'static str,
    },
    #[error("`{name}` of check `{id}` {why}")]
    Refused {
        id: String,
        name: String,
        why: String,
    },
}

impl SettingError {
    /// The key of the table the refusal is about, when it is one key's.
    pub fn key(&self) -> Option<&str> {
        match self {
            SettingError::UnknownCheck { .. } => None,
            SettingError::UnknownSetting { name, .. }
            | SettingError::WrongType { name, .. }
            | SettingError::Refused { name, .. } => Some(name),
        }
    }
}

/// Checks that `table` sets only parameters `id` declares, with values of the
/// same type as their defaults that follow the parameter's rule. `extra_keys`
/// are other keys allowed there (`severity` in target files).
pub fn validate_table(
    registry: &Registry,
    id: &str,
    table: &toml::Table,
    extra_keys: &[&str],
) -> Result<(), SettingError> {
    let Some(check) = registry.get(id) else {
        return Err(SettingError::UnknownCheck {
            id: id.to_owned(),
            suggestion: did_you_mean(id, registry.ids()),
        });
    };
    let meta = check.meta();
    for (name, value) in table {
        if extra_keys.contains(&name.as_str()) {
            continue;
        }
        let Some(param) = meta.param_meta(name) else {
            let known = meta
                .params
                .iter()
                .map(|p| p.name.as_ref())
                .chain(extra_keys.iter().copied());
            return Err(SettingError::UnknownSetting {
                id: id.to_owned(),
                name: name.clone(),
                suggestion: did_you_mean(name, known.clone()),
                known: known.collect::<Vec<_>>().join(", "),
            });
        };
        if param.default.type_str() != value.type_str() {
            return Err(SettingError::WrongType {
                id: id.to_owned(),
                name: name.clone(),
                expected: param.default.type_str(),
                default: param.default.clone(),
                found: value.type_str(),
            });
        }
        param
            .rule
            .check(value)
            .map_err(|why| SettingError::Refused {
                id: id.to_owned(),
                name: name.clone(),
                why,
            })?;
    }
    Ok(())
}

/// Every profile's patterns match some check and every parameter it sets
/// exists: a profile that silently selects nothing is a bug.
pub fn validate_profiles(registry: &Registry, profiles: &Profiles) -> Result<(), String> {
    for profile in profiles.iter() {
        for pattern in profile.patterns.iter().chain(&profile.exclude) {
            let one = Patterns::new(std::slice::from_ref(pattern))?;
            if !registry.ids().any(|id| one.is_match(id)) {
                return Err(format!(
                    "profile `{}`: pattern `{pattern}` matches no check",
                    profile.name
                ));
            }
        }
        for (id, table) in &profile.params {
            validate_table(registry, id, table, &[])
                .map_err(|e| format!("profile `{}`: {e}", profile.name))?;
        }
    }
    Ok(())
}

/// Rejects a target file's per-check settings and waivers that name no
/// check or no parameter, pointing at the offending line where it can.
pub fn validate_target(registry: &Registry, target: &Target) -> Result<(), TargetError> {
    let origin = target
        .origin
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    for id in target.waivers.keys() {
        if registry.get(id).is_none() {
            return Err(TargetError::Invalid {
                origin: origin.clone(),
                message: format!(
                    "[[waiver]]: no check has the id `{id}`{}",
                    did_you_mean(id, registry.ids())
                ),
            });
        }
    }
    for (id, table) in &target.params {
        validate_table(registry, id, table, &["severity"]).map_err(|refused| {
            // Name the line of the offending setting where the file has it.
            let located = match (refused.key(), &target.origin) {
                (Some(key), Some(path)) => {
                    let text = std::fs::read_to_string(path).unwrap_or_default();
                    crate::tomlfile::locate_key(&text, &origin, &format!("checks.\"{id}\""), key)
                }
                _ => origin.clone(),
            };
            TargetError::Invalid {
                origin: located,
                message: format!("[checks.\"{id}\"]: {refused}"),
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn each_refusal_names_its_key() {
        let registry = crate::checks::builtin();
        let id = "sql.backup.recent";
        let unknown = validate_table(&registry, "sql.backup.recnt", &table(""), &[]).unwrap_err();
        assert!(
            matches!(unknown, SettingError::UnknownCheck { .. }),
            "{unknown}"
        );
        assert_eq!(unknown.key(), None);
        assert!(
            unknown
                .to_string()
                .contains("did you mean `sql.backup.recent`?"),
            "{unknown}"
        );
        let misspelt = validate_table(&registry, id, &table("max_ag = 3"), &[]).unwrap_err();
        assert_eq!(misspelt.key(), Some("max_ag"), "{misspelt}");
        let param = &registry.get(id).unwrap().meta().params[0];
        let wrong = validate_table(
            &registry,
            id,
            &table(&format!("{} = \"x\"", param.name)),
            &[],
        )
        .unwrap_err();
        assert!(matches!(wrong, SettingError::WrongType { .. }), "{wrong}");
        assert_eq!(wrong.key(), Some(param.name.as_ref()));
        assert_eq!(
            validate_table(&registry, id, &table("severity = \"warn\""), &["severity"]),
            Ok(())
        );
    }
}
