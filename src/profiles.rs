//! Profiles: named selections of checks with their thresholds, defined in
//! `checks/profiles.toml` and embedded in the binary.

use std::collections::BTreeMap;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::meta::ParamTables;
use crate::tomlfile::{self, TomlError};

pub const ALL: &str = "all";
const BUILTIN: &str = include_str!("../checks/profiles.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilesFile {
    profile: BTreeMap<String, ProfileSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileSection {
    /// Required for a new profile; optional when a checks directory's
    /// profiles.toml extends an existing one.
    description: Option<String>,
    checks: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    params: ParamTables,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub patterns: Vec<String>,
    pub exclude: Vec<String>,
    include_set: Option<GlobSet>,
    exclude_set: GlobSet,
    pub params: ParamTables,
}

impl Profile {
    fn all() -> Self {
        Profile {
            name: ALL.to_owned(),
            description: "Every check".to_owned(),
            patterns: vec!["*".to_owned()],
            exclude: Vec::new(),
            include_set: None,
            exclude_set: GlobSet::empty(),
            params: ParamTables::new(),
        }
    }

    pub fn includes(&self, id: &str) -> bool {
        let included = self.include_set.as_ref().is_none_or(|set| set.is_match(id));
        included && !self.exclude_set.is_match(id)
    }
}

#[derive(Debug, Clone)]
pub struct Profiles {
    profiles: Vec<Profile>,
}

impl Profiles {
    pub fn builtin() -> Result<Self, TomlError> {
        Self::parse(BUILTIN, "checks/profiles.toml (built in)")
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, TomlError> {
        let mut profiles = Profiles {
            profiles: vec![Profile::all()],
        };
        profiles.extend(text, origin)?;
        Ok(profiles)
    }

    /// Adds a profiles file (a checks directory's profiles.toml) in the same
    /// format: a profile that exists gains its patterns and params, a new
    /// name becomes a new profile.
    pub fn extend(&mut self, text: &str, origin: &str) -> Result<(), TomlError> {
        let file: ProfilesFile = tomlfile::parse(text, origin)?;
        for (name, section) in file.profile {
            let problem = |message: String| TomlError {
                origin: origin.to_owned(),
                line: None,
                column: None,
                field: Some(format!("profile.{name}")),
                message,
            };
            if name == ALL {
                return Err(problem(
                    "`all` is every check already; name the profile differently".to_owned(),
                ));
            }
            let profile = match self.profiles.iter_mut().position(|p| p.name == name) {
                Some(i) => {
                    let profile = &mut self.profiles[i];
                    if let Some(description) = section.description {
                        profile.description = description;
                    }
                    profile
                }
                None => {
                    let description = section.description.ok_or_else(|| {
                        problem(format!("the new profile `{name}` needs a description"))
                    })?;
                    self.profiles.push(Profile {
                        name: name.clone(),
                        description,
                        patterns: Vec::new(),
                        exclude: Vec::new(),
                        include_set: None,
                        exclude_set: GlobSet::empty(),
                        params: ParamTables::new(),
                    });
                    self.profiles.last_mut().expect("just pushed")
                }
            };
            profile.patterns.extend(section.checks);
            profile.exclude.extend(section.exclude);
            for (id, table) in section.params {
                profile.params.entry(id).or_default().extend(table);
            }
            profile.include_set = Some(glob_set(&profile.patterns).map_err(&problem)?);
            profile.exclude_set = glob_set(&profile.exclude).map_err(&problem)?;
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.profiles.iter().map(|p| p.name.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.iter()
    }

    /// The profiles (other than `all`) that include `id`.
    pub fn containing(&self, id: &str) -> Vec<&str> {
        self.profiles
            .iter()
            .filter(|p| p.name != ALL && p.includes(id))
            .map(|p| p.name.as_str())
            .collect()
    }
}

/// A set of check-id globs; `*` does not stop at dots, so `tls.*` covers
/// `tls.cert.hostname`.
pub fn glob_set(patterns: &[String]) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        builder.add(Glob::new(p).map_err(|e| format!("bad pattern `{p}`: {e}"))?);
    }
    builder.build().map_err(|e| e.to_string())
}
