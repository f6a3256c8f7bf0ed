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
    include_set: Option<Patterns>,
    exclude_set: Patterns,
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
            exclude_set: Patterns::default(),
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
                        exclude_set: Patterns::default(),
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
            profile.include_set = Some(Patterns::new(&profile.patterns).map_err(&problem)?);
            profile.exclude_set = Patterns::new(&profile.exclude).map_err(&problem)?;
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

/// A set of globs over names (check ids, an inventory's target names),
/// matched as `globset` matches them: `*` does not stop at dots, so `tls.*`
/// covers `tls.cert.hostname`.
///
/// A literal name and a `prefix*` (all that the built-in profiles use) are
/// compared as text: building a `GlobSet` costs an Aho-Corasick automaton
/// per set of prefixes and a regex for the rest, which every process paid
/// for each profile pattern when it checked the profiles (a sixth of
/// `list`'s CPU: issue 14). Only other globs build one.
#[derive(Debug, Clone, Default)]
pub struct Patterns {
    literals: Vec<String>,
    prefixes: Vec<String>,
    globs: Option<GlobSet>,
}

impl Patterns {
    pub fn new(patterns: &[String]) -> Result<Self, String> {
        let mut set = Patterns::default();
        let mut globs = GlobSetBuilder::new();
        let mut any_glob = false;
        for pattern in patterns {
            match Simple::of(pattern) {
                Some(Simple::Literal) => set.literals.push(pattern.clone()),
                Some(Simple::Prefix(prefix)) => set.prefixes.push(prefix.to_owned()),
                None => {
                    globs.add(
                        Glob::new(pattern).map_err(|e| format!("bad pattern `{pattern}`: {e}"))?,
                    );
                    any_glob = true;
                }
            }
        }
        if any_glob {
            set.globs = Some(globs.build().map_err(|e| e.to_string())?);
        }
        Ok(set)
    }

    pub fn is_match(&self, name: &str) -> bool {
        self.literals.iter().any(|literal| literal == name)
            || self
                .prefixes
                .iter()
                .any(|prefix| name.starts_with(prefix.as_str()))
            || self
                .globs
                .as_ref()
                .is_some_and(|globs| globs.is_match(name))
    }
}

/// A pattern whose meaning as a glob is plain text.
enum Simple<'a> {
    /// No glob syntax at all: it matches itself only.
    Literal,
    /// `prefix*` with no glob syntax in the prefix: every name that starts
    /// with it (`*` crosses dots and slashes alike, as `globset`'s default).
    Prefix(&'a str),
}

impl<'a> Simple<'a> {
    /// Everything `globset` reads as syntax, and the path separators its
    /// matching normalises (`\` is one on Windows): a pattern holding any of
    /// them is left to `globset`.
    const SYNTAX: &'static [char] = &['*', '?', '[', ']', '{', '}', '\\', '/'];

    fn of(pattern: &'a str) -> Option<Self> {
        let plain = |text: &str| !text.contains(Self::SYNTAX);
        if plain(pattern) {
            return Some(Simple::Literal);
        }
        pattern
            .strip_suffix('*')
            .filter(|prefix| plain(prefix))
            .map(Simple::Prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(list: &[&str]) -> Patterns {
        Patterns::new(&list.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
    }

    /// Every pattern and name here, matched both ways: as text where the
    /// pattern is simple, and by a `GlobSet` as before.
    #[test]
    fn simple_patterns_match_as_globset_does() {
        let names = [
            "tls.cert.hostname",
            "tls",
            "tls.",
            "sql.login",
            "sql.login.x",
            "SQL.LOGIN",
            "",
            "a/b",
            "a\\b",
            "net.dns.forward",
        ];
        let list = [
            "tls.*",
            "tls*",
            "sql.login",
            "*",
            "",
            "net.dns.*",
            "a/*",
            "a\\*",
            "tls.**",
            "sql.?ogin",
            "{tls,sql}.*",
            "[st]*",
        ];
        for pattern in list {
            let ours = patterns(&[pattern]);
            let theirs = GlobSetBuilder::new()
                .add(Glob::new(pattern).unwrap())
                .build()
                .unwrap();
            for name in names {
                assert_eq!(
                    ours.is_match(name),
                    theirs.is_match(name),
                    "`{pattern}` on `{name}`"
                );
            }
        }
        let mixed = patterns(&["sql.login", "tls.*", "[n]et.*"]);
        assert!(mixed.is_match("sql.login") && mixed.is_match("tls.x") && mixed.is_match("net.y"));
        assert!(!mixed.is_match("share.write"));
        assert!(!Patterns::default().is_match(""));
    }

    #[test]
    fn only_real_globs_build_a_glob_set() {
        let simple = patterns(&["sql.login", "tls.*", "*"]);
        assert!(simple.globs.is_none(), "{simple:?}");
        assert!(patterns(&["sql.?ogin"]).globs.is_some());
        assert!(Patterns::new(&["sql.[".to_owned()]).is_err());
    }
}
