//! Where backups are written: a UNC path (`\\server\share\dir`), which the
//! probes reach by speaking SMB themselves, or a local or mounted directory.
//! Parsed and validated once, when the target is loaded.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// A backup destination as the target file gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Destination {
    Unc(UncPath),
    Local { path: PathBuf },
}

impl Destination {
    /// Parses `[backup] destination`. A path that starts with two slashes or
    /// backslashes is UNC; anything else is a local or mounted directory.
    pub fn parse(text: &str) -> Result<Destination, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the backup destination is empty".to_owned());
        }
        if is_unc(text) {
            return UncPath::parse(text).map(Destination::Unc);
        }
        Ok(Destination::Local {
            path: PathBuf::from(text),
        })
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Unc(unc) => unc.fmt(f),
            Destination::Local { path } => path.display().fmt(f),
        }
    }
}

fn is_unc(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(
        (chars.next(), chars.next()),
        (Some('\\' | '/'), Some('\\' | '/'))
    )
}

/// `\\server\share\dir\…`: a server, a share on it, and folders inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UncPath {
    server: String,
    share: String,
    folders: Vec<String>,
}

/// Characters Windows refuses in share names (MS-FSCC 2.1.6 and `net share`).
const SHARE_NAME_FORBIDDEN: &[char] = &[
    '"', '/', '\\', '[', ']', ':', '|', '<', '>', '+', '=', ';', ',', '*', '?',
];
/// Characters Windows refuses in file and folder names (MS-FSCC 2.1.5.2).
const NAME_FORBIDDEN: &[char] = &['"', '/', '\\', ':', '|', '<', '>', '*', '?'];
/// The longest share name Windows accepts.
const MAX_SHARE_NAME: usize = 80;

impl UncPath {
    pub fn parse(text: &str) -> Result<UncPath, String> {
        let unc = text.trim();
        let rest = unc
            .strip_prefix("\\\\")
            .or_else(|| unc.strip_prefix("//"))
            .or_else(|| unc.strip_prefix("\\/"))
            .or_else(|| unc.strip_prefix("/\\"))
            .ok_or_else(|| {
                format!("`{unc}` is not a UNC path: it must start with \\\\server\\share")
            })?;
        if rest.starts_with("?\\") || rest.starts_with(".\\") {
            return Err(format!(
                "`{unc}` is a Windows device path; write it as \\\\server\\share\\folder"
            ));
        }
        let mut parts = rest.split(['\\', '/']);
        let server = parts.next().unwrap_or_default();
        let share = parts.next().unwrap_or_default();
        validate_server(server).map_err(|why| format!("`{unc}`: {why}"))?;
        if share.is_empty() {
            return Err(format!(
                "`{unc}` names no share: write it as \\\\{server}\\share\\folder"
            ));
        }
        validate_share(share).map_err(|why| format!("`{unc}`: {why}"))?;
        let mut folders: Vec<String> = parts.map(str::to_owned).collect();
        // One trailing separator is how people often write folders.
        if folders.last().is_some_and(String::is_empty) {
            folders.pop();
        }
        for folder in &folders {
            validate_folder(folder).map_err(|why| format!("`{unc}`: {why}"))?;
        }
        Ok(UncPath {
            server: server.to_owned(),
            share: share.to_owned(),
            folders,
        })
    }

    /// The server's name or address as written (brackets removed from IPv6).
    pub fn server(&self) -> &str {
        self.server.trim_start_matches('[').trim_end_matches(']')
    }

    pub fn share(&self) -> &str {
        &self.share
    }

    /// `\\server\share`, as SMB TREE_CONNECT wants it.
    pub fn share_path(&self) -> String {
        format!("\\\\{}\\{}", self.server, self.share)
    }

    /// The destination folder relative to the share (`dir\sub`), empty for the share's root.
    pub fn folder(&self) -> String {
        self.folders.join("\\")
    }

    /// The full UNC path of a file in the destination folder, as SQL Server's
    /// `BACKUP … TO DISK` wants it.
    pub fn unc_of(&self, name: &str) -> String {
        format!("{self}\\{name}")
    }

    /// A file's path relative to the share, inside the destination folder.
    pub fn file(&self, name: &str) -> String {
        if self.folders.is_empty() {
            name.to_owned()
        } else {
            format!("{}\\{name}", self.folder())
        }
    }
}

impl fmt::Display for UncPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.share_path())?;
        for folder in &self.folders {
            write!(f, "\\{folder}")?;
        }
        Ok(())
    }
}

fn validate_server(server: &str) -> Result<(), String> {
    if server.is_empty() {
        return Err("the server name is missing after \\\\".to_owned());
    }
    let bare = server.trim_start_matches('[').trim_end_matches(']');
    if server.starts_with('[') {
        return bare
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| format!("`{server}` is not an IPv6 address"));
    }
    let valid = bare
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !valid || bare.starts_with(['.', '-']) {
        return Err(format!(
            "`{server}` is not a server name (letters, digits, '-', '.' and '_' only)"
        ));
    }
    Ok(())
}

fn validate_share(share: &str) -> Result<(), String> {
    if share.chars().count() > MAX_SHARE_NAME {
        return Err(format!(
            "the share name `{share}` is longer than {MAX_SHARE_NAME} characters"
        ));
    }
    if let Some(c) = share
        .chars()
        .find(|c| SHARE_NAME_FORBIDDEN.contains(c) || c.is_control())
    {
        return Err(format!(
            "the share name `{share}` contains `{}`, which share names cannot contain",
            c.escape_default()
        ));
    }
    Ok(())
}

fn validate_folder(folder: &str) -> Result<(), String> {
    if folder.is_empty() {
        return Err("the path has an empty folder name (two separators in a row)".to_owned());
    }
    if folder == "." || folder == ".." {
        return Err(format!(
            "the path contains `{folder}`; write the folder out in full"
        ));
    }
    if let Some(c) = folder
        .chars()
        .find(|c| NAME_FORBIDDEN.contains(c) || c.is_control())
    {
        return Err(format!(
            "the folder name `{folder}` contains `{}`, which Windows does not allow",
            c.escape_default()
        ));
    }
    if folder.ends_with(['.', ' ']) {
        return Err(format!(
            "the folder name `{folder}` ends with a dot or a space, which Windows drops"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unc(text: &str) -> UncPath {
        match Destination::parse(text).unwrap() {
            Destination::Unc(u) => u,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unc_paths_split_into_server_share_and_folder() {
        let u = unc(r"\\StorageServer01\Backups\Passwordstate\db");
        assert_eq!(u.server(), "StorageServer01");
        assert_eq!(u.share(), "Backups");
        assert_eq!(u.folder(), r"Passwordstate\db");
        assert_eq!(u.file("x.tmp"), r"Passwordstate\db\x.tmp");
        assert_eq!(
            u.unc_of("t.bak"),
            r"\\StorageServer01\Backups\Passwordstate\db\t.bak"
        );
        assert_eq!(u.share_path(), r"\\StorageServer01\Backups");
        assert_eq!(u.to_string(), r"\\StorageServer01\Backups\Passwordstate\db");
    }

    #[test]
    fn forward_slashes_trailing_separators_and_share_roots_are_accepted() {
        let u = unc("//127.0.0.1/backups/");
        assert_eq!(
            (u.server(), u.share(), u.folder()),
            ("127.0.0.1", "backups", String::new())
        );
        assert_eq!(u.file("x"), "x");
        assert_eq!(unc(r"\\[::1]\D$").server(), "::1");
    }

    #[test]
    fn local_paths_stay_local() {
        assert_eq!(
            Destination::parse("/mnt/backups").unwrap(),
            Destination::Local {
                path: "/mnt/backups".into()
            }
        );
    }

    #[test]
    fn malformed_unc_paths_are_refused_with_the_reason() {
        let cases = [
            (r"\\server", "names no share"),
            (r"\\\share", "server name is missing"),
            (r"\\ser ver\share", "not a server name"),
            (r"\\server\sha*re", "share names cannot contain"),
            (r"\\server\share\a\\b", "empty folder name"),
            (r"\\server\share\..\x", "write the folder out"),
            (r"\\server\share\a<b", "does not allow"),
            (r"\\server\share\dir.", "ends with a dot"),
            (r"\\?\UNC\server\share", "device path"),
            (r"\\[fe80::zz]\share", "not an IPv6 address"),
        ];
        for (text, why) in cases {
            let err = Destination::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
        assert!(Destination::parse("  ").is_err());
    }
}
