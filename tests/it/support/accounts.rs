//! Account sections for target files, with passwords in owner-only files as
//! an administrator would keep them (never in argv or the environment of
//! other tests).

use std::path::{Path, PathBuf};

/// Password files for a test's accounts, removed on drop.
pub struct Passwords {
    dir: tempfile::TempDir,
}

impl Default for Passwords {
    fn default() -> Self {
        Passwords::new()
    }
}

impl Passwords {
    pub fn new() -> Passwords {
        Passwords {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn file(&self, user: &str, password: &str) -> PathBuf {
        let path = self
            .dir
            .path()
            .join(format!("{}.password", user.replace('\\', "_")));
        std::fs::write(&path, format!("{password}\n")).expect("write password file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .expect("chmod 600");
        }
        path
    }

    /// `[sql]` for the application account.
    pub fn sql(&self, user: &str, password: &str) -> String {
        format!(
            "[sql]\nuser = {}\npassword_file = {}\n",
            quoted(user),
            quoted_path(&self.file(user, password))
        )
    }

    /// `[backup]` for the backup account, with an optional destination.
    pub fn backup(&self, user: &str, password: &str, destination: Option<&str>) -> String {
        let mut section = format!(
            "[backup]\nuser = {}\npassword_file = {}\n",
            quoted(user),
            quoted_path(&self.file(user, password))
        );
        if let Some(destination) = destination {
            section.push_str(&format!("destination = {}\n", quoted(destination)));
        }
        section
    }
}

fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn quoted_path(path: &Path) -> String {
    quoted(&path.display().to_string())
}
