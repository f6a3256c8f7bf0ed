//! Everything a run can choose from: the registered checks and the profiles.

use crate::profiles::Profiles;
use crate::registry::Registry;

pub struct Catalog {
    pub registry: Registry,
    pub profiles: Profiles,
}

impl Catalog {
    /// The built-in checks and profiles.
    pub fn builtin() -> Result<Catalog, String> {
        let registry = crate::checks::builtin();
        let profiles = Profiles::builtin().map_err(|e| e.to_string())?;
        profiles.validate(&registry)?;
        Ok(Catalog { registry, profiles })
    }
}
