//! Which checks a run includes: a profile, narrowed by `--check` patterns and
//! trimmed by `--skip` patterns.

use std::sync::Arc;

use crate::profiles::{Patterns, Profile, Profiles};
use crate::registry::{Check, Registry};
use crate::suggest::did_you_mean;
use crate::target::AppKind;

#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub profile: Option<String>,
    /// Why `profile` was chosen, for the report; empty when `--profile` chose it.
    pub profile_reason: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl Selection {
    /// `--profile` when given, else the application's own profile from the
    /// target's `[app] kind`, else every check; with the reason for the report.
    pub fn profile_for(flag: Option<String>, app: Option<AppKind>) -> (Option<String>, String) {
        match (flag, app) {
            (Some(name), _) => (Some(name), "chosen with --profile".to_owned()),
            (None, Some(kind)) => {
                let name = kind.profile_name();
                (
                    Some(name.to_owned()),
                    format!("the target's [app] kind is \"{name}\" (--profile chooses another)"),
                )
            }
            (None, None) => (
                None,
                "no --profile and no [app] kind in the target, so every check".to_owned(),
            ),
        }
    }
}

/// The checks to run, in registry order, with the profile they came from.
pub struct Plan {
    pub profile: Profile,
    /// Why this profile (see [`Selection::profile_for`]).
    pub profile_reason: String,
    pub checks: Vec<Arc<dyn Check>>,
}

pub fn plan(
    registry: &Registry,
    profiles: &Profiles,
    selection: &Selection,
) -> Result<Plan, String> {
    let name = selection.profile.as_deref().unwrap_or(crate::profiles::ALL);
    let profile = profiles.get(name).ok_or_else(|| {
        format!(
            "no profile `{name}`{}; profiles: {}",
            did_you_mean(name, profiles.names()),
            profiles.names().collect::<Vec<_>>().join(", ")
        )
    })?;
    for pattern in selection.include.iter().chain(&selection.exclude) {
        let set = Patterns::new(std::slice::from_ref(pattern))?;
        if !registry.ids().any(|id| set.is_match(id)) {
            return Err(format!(
                "`{pattern}` matches no check{}; `mssql-preflight list` shows them all",
                did_you_mean(pattern, registry.ids())
            ));
        }
    }
    let include = Patterns::new(&selection.include)?;
    let exclude = Patterns::new(&selection.exclude)?;
    let checks = registry
        .iter()
        .filter(|c| {
            let id = c.meta().id.as_ref();
            profile.includes(id)
                && (selection.include.is_empty() || include.is_match(id))
                && !exclude.is_match(id)
        })
        .cloned()
        .collect();
    Ok(Plan {
        profile: profile.clone(),
        profile_reason: selection.profile_reason.clone(),
        checks,
    })
}
