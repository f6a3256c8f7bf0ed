//! Check parameters (thresholds): defaults from each check's metadata,
//! overridden by the profile, overridden again by the target file.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use crate::finding::Stop;
use crate::registry::{CheckMeta, Registry};
use crate::suggest::did_you_mean;

/// Parameter values keyed by check id, then parameter name.
pub type ParamTables = BTreeMap<String, toml::Table>;

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

    pub fn get<T: DeserializeOwned>(&self, check: &CheckMeta, name: &str) -> Result<T, Stop> {
        let value = self
            .values
            .get(check.id.as_ref())
            .and_then(|t| t.get(name))
            .or_else(|| check.param_meta(name).map(|p| &p.default))
            .ok_or_else(|| {
                Stop::error(format!(
                    "check `{}` has no parameter `{name}` (a bug in the check)",
                    check.id
                ))
            })?;
        T::deserialize(value.clone()).map_err(|e| {
            Stop::error(format!(
                "parameter `{name}` of `{}` has an unusable value: {e}",
                check.id
            ))
        })
    }
}

/// Checks that `table` sets only parameters `id` declares, with values of the
/// same type as their defaults. `extra_keys` are other keys allowed there
/// (`severity` in target files).
pub fn validate_table(
    registry: &Registry,
    id: &str,
    table: &toml::Table,
    extra_keys: &[&str],
) -> Result<(), String> {
    let Some(check) = registry.get(id) else {
        return Err(format!(
            "no check has the id `{id}`{}",
            did_you_mean(id, registry.ids())
        ));
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
            let names: Vec<&str> = known.clone().collect();
            return Err(format!(
                "check `{id}` has no setting `{name}`{}; its settings: {}",
                did_you_mean(name, known),
                names.join(", ")
            ));
        };
        if param.default.type_str() != value.type_str() {
            return Err(format!(
                "`{name}` of check `{id}` takes {} (like the default `{}`), not {}",
                param.default.type_str(),
                param.default,
                value.type_str()
            ));
        }
        param
            .rule
            .check(value)
            .map_err(|why| format!("`{name}` of check `{id}` {why}"))?;
    }
    Ok(())
}
