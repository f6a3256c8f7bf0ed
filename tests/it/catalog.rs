//! The registry as a whole: ids are unique, well formed and documented, and
//! every check is reachable from a profile.

use std::collections::BTreeSet;

use mssql_preflight::catalog::Catalog;

#[test]
fn every_check_has_a_unique_dotted_id_and_full_documentation() {
    // Building the catalog refuses a second check with the same id.
    let catalog = Catalog::builtin().expect("the built-in catalog loads");
    let ids: Vec<&str> = catalog.registry.ids().collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "duplicate ids in {ids:?}");
    assert!(ids.len() >= 30, "only {} checks registered", ids.len());

    for check in catalog.registry.iter() {
        let m = check.meta();
        let id = m.id.as_ref();
        let parts: Vec<&str> = id.split('.').collect();
        assert!(parts.len() >= 2, "{id}: ids are dotted");
        assert!(
            parts.iter().all(|p| !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')),
            "{id}: ids are lower case, digits and dashes"
        );
        assert_eq!(
            parts[0],
            m.family.as_str(),
            "{id}: an id starts with its family"
        );
        for (field, text) in [
            ("title", &m.title),
            ("checks", &m.checks),
            ("why", &m.why),
            ("fix", &m.fix),
            ("guide", &m.guide),
        ] {
            assert!(
                text.trim().len() > 10,
                "{id}: `{field}` is not documented: {text:?}"
            );
        }
        for param in &m.params {
            assert!(
                !param.help.trim().is_empty(),
                "{id}: parameter {} has no help",
                param.name
            );
        }
    }
}

#[test]
fn every_check_belongs_to_an_application_profile() {
    let catalog = Catalog::builtin().unwrap();
    let orphans: Vec<&str> = catalog
        .registry
        .ids()
        .filter(|id| catalog.profiles.containing(id).is_empty())
        .collect();
    assert!(orphans.is_empty(), "in no profile but `all`: {orphans:?}");
}

/// A skip blocked by a check id that does not exist would be reported as
/// "blocked by a check this run did not judge" forever: every id the code
/// names as a blocker is a real check.
#[test]
fn every_blocker_named_in_the_code_is_a_check() {
    let catalog = Catalog::builtin().expect("the built-in catalog loads");
    let ids: BTreeSet<&str> = catalog.registry.ids().collect();
    let mut named = BTreeSet::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            // Unit tests name made-up checks on purpose.
            if path.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            // Stop::blocked([…]) and the TLS trust fact's `judged_by` lists.
            // rustfmt may break the line between `blocked(` and its list.
            let after_call = text.match_indices("blocked(").filter_map(|(at, m)| {
                let rest = &text[at + m.len()..];
                let list = rest.trim_start().strip_prefix('[')?;
                Some(text.len() - list.len())
            });
            let starts = after_call.chain(text.match_indices("&[\"tls.").map(|(at, _)| at + 2));
            for start in starts {
                let list = &text[start..];
                let list = &list[..list.find(']').unwrap()];
                for literal in list
                    .split(',')
                    .map(str::trim)
                    .filter(|l| l.starts_with('"'))
                {
                    named.insert((
                        literal.trim_matches('"').to_owned(),
                        path.display().to_string(),
                    ));
                }
            }
        }
    }
    assert!(named.len() >= 10, "the scan finds the blockers: {named:?}");
    for (id, file) in &named {
        assert!(
            ids.contains(id.as_str()),
            "{file} names `{id}`, which is no check"
        );
    }
}
