//! Everything a run can choose from: the registered checks and the profiles.
//! Built-in Rust checks, the embedded packs and a user's checks directories
//! join here, so `run`, `list`, `explain` and `bundle` see the same checks.

pub(crate) mod settings;

use std::path::{Path, PathBuf};

use crate::pack;
use crate::profiles::Profiles;
use crate::registry::Registry;
use crate::target::{Target, TargetError};

pub struct Catalog {
    pub registry: Registry,
    pub profiles: Profiles,
    /// What the packs' loading found questionable, e.g. a query reading an
    /// object SQL Server's documented catalog does not have.
    pub warnings: Vec<String>,
}

impl Catalog {
    /// The built-in checks (Rust and packs) and profiles.
    pub fn builtin() -> Result<Catalog, String> {
        Self::load(&[])
    }

    /// The built-in catalog plus the packs (`*.toml`) and profile additions
    /// (`profiles.toml`) of each directory in `checks_dirs`, in order.
    pub fn load(checks_dirs: &[PathBuf]) -> Result<Catalog, String> {
        let mut registry = crate::checks::builtin();
        let mut profiles = Profiles::builtin().map_err(|e| e.to_string())?;
        let mut declared_at = Vec::new();
        let mut warnings = Vec::new();
        for (origin, text) in pack::BUILTIN {
            let origin = format!("{origin} (built in)");
            warnings.extend(pack::add_to(
                &mut registry,
                text,
                &origin,
                &mut declared_at,
            )?);
        }
        for dir in checks_dirs {
            if !dir.is_dir() {
                return Err(format!("--checks-dir {}: no such directory", dir.display()));
            }
            for (origin, text) in pack::read_dir(dir)? {
                warnings.extend(pack::add_to(
                    &mut registry,
                    &text,
                    &origin,
                    &mut declared_at,
                )?);
            }
            let extra = dir.join(pack::PROFILES_FILE);
            if extra.is_file() {
                let text = read(&extra)?;
                profiles
                    .extend(&text, &extra.display().to_string())
                    .map_err(|e| e.to_string())?;
            }
        }
        settings::validate_profiles(&registry, &profiles)?;
        Ok(Catalog {
            registry,
            profiles,
            warnings,
        })
    }

    /// Refuses the target file's per-check settings and waivers that name
    /// no check or no parameter of one (see [`settings::validate_target`]).
    pub fn validate_target(&self, target: &Target) -> Result<(), TargetError> {
        settings::validate_target(&self.registry, target)
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
