//! Check parameters (thresholds): defaults from each check's metadata,
//! overridden by the profile, overridden again by the target file.

use serde::de::DeserializeOwned;

use crate::finding::Stop;
use crate::meta::{CheckMeta, ParamTables};

#[derive(Debug, Clone, Default)]
pub struct Params {
    values: ParamTables,
}

impl Params {
    /// Later layers win: pass the profile's tables first, then the target's.
    pub fn layered<'a>(layers: impl IntoIterator<Item = &'a ParamTables>) -> Self {
        let mut values = ParamTables::new();
        for layer in layers {
            for (id, table) in layer {
                let merged = values.entry(id.clone()).or_default();
                for (name, value) in table {
                    merged.insert(name.clone(), value.clone());
                }
            }
        }
        Params { values }
    }

    /// The value a layer sets for `name` of check `id`, if any (no default).
    pub fn set_value<T: DeserializeOwned>(&self, id: &str, name: &str) -> Result<Option<T>, Stop> {
        let Some(value) = self.values.get(id).and_then(|t| t.get(name)) else {
            return Ok(None);
        };
        T::deserialize(value.clone()).map(Some).map_err(|e| {
            Stop::error(format!(
                "parameter `{name}` of `{id}` has an unusable value: {e}"
            ))
        })
    }

    /// The parameters of `check` as its typed struct: each parameter's
    /// default from the check's metadata (the one place defaults live, which
    /// `explain` prints), overridden by the profile's and target file's
    /// values. A struct that names a parameter the metadata lacks, or lacks
    /// one it declares (with `deny_unknown_fields`), fails here: the unit
    /// test of every check with parameters asserts it does not.
    pub fn of<P: DeserializeOwned>(&self, check: &CheckMeta) -> Result<P, Stop> {
        let mut table: toml::Table = check
            .params
            .iter()
            .map(|p| (p.name.to_string(), p.default.clone()))
            .collect();
        if let Some(set) = self.values.get(check.id.as_ref()) {
            for (name, value) in set {
                table.insert(name.clone(), value.clone());
            }
        }
        P::deserialize(toml::Value::Table(table)).map_err(|e| {
            Stop::error(format!(
                "the parameters of `{}` are unusable: {e}",
                check.id
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;
    use crate::registry::Family;

    fn meta() -> CheckMeta {
        CheckMeta::new("tls.example", Family::Tls, Severity::Fail).param(
            "warn_days",
            30,
            "warn this many days ahead",
        )
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Right {
        warn_days: i64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only its refusal is tested
    struct Typo {
        warn_dayz: i64,
    }

    #[test]
    fn typed_parameters_take_defaults_then_layers_and_refuse_a_mismatch() {
        let defaults: Right = Params::default().of(&meta()).unwrap();
        assert_eq!(defaults.warn_days, 30);
        let mut layer = ParamTables::new();
        layer.insert("tls.example".to_owned(), toml::toml! { warn_days = 7 });
        let set: Right = Params::layered([&layer]).of(&meta()).unwrap();
        assert_eq!(set.warn_days, 7);
        let typo = Params::default().of::<Typo>(&meta()).unwrap_err();
        assert!(typo.reason().contains("warn_days"), "{}", typo.reason());
    }
}
