//! `--version -v`: what a support engineer asks first — the TLS library and
//! its crypto provider, the SQL client library, the platform the binary was
//! built for, and the build profile.

/// The versions of the libraries that speak to SQL Server, as locked in
/// Cargo.lock (a unit test keeps them equal).
const TIBERIUS: &str = "0.13.0";
const RUSTLS: &str = "0.23.46";

/// Whether the command line asks for the version with detail: `--version`
/// (or `-V`) together with `-v`/`--verbose`.
pub fn wants_detail(args: &[std::ffi::OsString]) -> bool {
    let given =
        |wanted: &dyn Fn(&str) -> bool| args.iter().skip(1).filter_map(|a| a.to_str()).any(wanted);
    given(&|a| a == "--version" || a == "-V")
        && given(&|a| {
            a == "--verbose"
                || (a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|c| c == 'v'))
        })
}

pub fn detail() -> String {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let env = if cfg!(target_env = "musl") {
        "-musl"
    } else if cfg!(target_env = "gnu") {
        "-gnu"
    } else if cfg!(target_env = "msvc") {
        "-msvc"
    } else {
        ""
    };
    format!(
        "{} {}\nTLS:        rustls {RUSTLS}, crypto provider aws-lc-rs\nSQL client: tiberius {TIBERIUS}\nplatform:   {}-{}{env}\nbuild:      {profile} profile{}\n",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS,
        if cfg!(feature = "emulator") {
            ", with the SQL Server emulator (demo, emulate)"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versions_named_are_the_locked_ones() {
        let lock = include_str!("../../Cargo.lock");
        for (name, version) in [("tiberius", TIBERIUS), ("rustls", RUSTLS)] {
            assert!(
                lock.contains(&format!("name = \"{name}\"\nversion = \"{version}\"\n")),
                "Cargo.lock has another {name} than {version}: update src/cli/about.rs"
            );
        }
    }

    #[test]
    fn detail_needs_both_flags() {
        let args = |a: &[&str]| -> Vec<std::ffi::OsString> {
            std::iter::once("mssql-preflight")
                .chain(a.iter().copied())
                .map(Into::into)
                .collect()
        };
        assert!(wants_detail(&args(&["--version", "-v"])));
        assert!(wants_detail(&args(&["-vv", "-V"])));
        assert!(wants_detail(&args(&["--verbose", "--version"])));
        assert!(!wants_detail(&args(&["--version"])));
        assert!(!wants_detail(&args(&["run", "-v"])));
    }
}
