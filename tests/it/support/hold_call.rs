//! Builds `hold_call.c` (an LD_PRELOAD library that holds one file system
//! call on a file inside a folder) once per test process, with the system C
//! compiler the Rust toolchain links with.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The built library's path.
pub fn library() -> &'static Path {
    static LIBRARY: OnceLock<PathBuf> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/hold_call.c");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("hold_call-{}.so", std::process::id()));
        let built = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o"])
            .arg(&out)
            .arg(&source)
            .arg("-ldl")
            .status()
            .expect("cc runs (the C compiler Rust links with)");
        assert!(built.success(), "hold_call.c compiles");
        out
    })
}

/// Which call to hold, and whether the call happens before or after the hold.
#[derive(Debug, Clone, Copy)]
pub enum Held {
    /// The file is not created until the hold ends.
    CreateBefore,
    /// The file was created; the probe never hears of it.
    CreateAfter,
    WriteAfter,
    ReadAfter,
    StatAfter,
}

impl Held {
    /// The library's environment for a hold of `self` in `dir`, marked by
    /// `mark` when it begins.
    pub fn environment(self, dir: &Path, mark: &Path) -> Vec<(&'static str, String)> {
        let (call, when) = match self {
            Held::CreateBefore => ("create", "before"),
            Held::CreateAfter => ("create", "after"),
            Held::WriteAfter => ("write", "after"),
            Held::ReadAfter => ("read", "after"),
            Held::StatAfter => ("stat", "after"),
        };
        vec![
            ("LD_PRELOAD", library().display().to_string()),
            ("HOLD_DIR", dir.display().to_string()),
            ("HOLD_CALL", call.to_owned()),
            ("HOLD_WHEN", when.to_owned()),
            ("HOLD_MARK", mark.display().to_string()),
            ("HOLD_MS", "1500".to_owned()),
        ]
    }
}
