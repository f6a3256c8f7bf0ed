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
