//! The estate run's progress on a real terminal: `script` (util-linux)
//! gives the run a pseudo-terminal and records what was drawn on it. An
//! overall bar and a line per running target appear when standard error is
//! a terminal, nothing when it is not, and nothing with `-q`.

use std::path::Path;
use std::process::Command;

use crate::estate::healthy_and_hanging;

/// `text` as one word for `sh -c`.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Runs `mssql-preflight run --inventory` on a pseudo-terminal: `flags`
/// are its own, `redirects` the shell's (`>FILE`, `2>FILE`). Returns what
/// the terminal showed.
async fn on_a_terminal(inventory: &Path, flags: &[&str], redirects: &str) -> String {
    let binary = assert_cmd::cargo::cargo_bin("mssql-preflight");
    let mut command = format!(
        "{} run --inventory {}",
        quoted(&binary.display().to_string()),
        quoted(&inventory.display().to_string())
    );
    for flag in flags {
        command.push(' ');
        command.push_str(&quoted(flag));
    }
    command.push(' ');
    command.push_str(redirects);
    let mut script = Command::new("script");
    // -q: no "Script started" lines; -e: the command's exit code; the
    // typescript file is not wanted, its copy on standard output is.
    script
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm-256color")
        .stdin(std::process::Stdio::null());
    let output = tokio::task::spawn_blocking(move || {
        script
            .output()
            .expect("script (util-linux, Debian's bsdutils) runs")
    })
    .await
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "the hanging target is incomplete: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether the screen shows `name`'s line: "hangs   0/5 checks …".
fn shows_target_line(screen: &str, name: &str) -> bool {
    screen.match_indices(name).any(|(at, _)| {
        let rest = screen[at + name.len()..].trim_start_matches(' ');
        let counted = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '/');
        counted.len() < rest.len() && counted.starts_with(" checks")
    })
}

/// What the progress display draws: the overall bar or a target's line.
fn shows_progress(screen: &str) -> bool {
    screen.contains("targets [") || shows_target_line(screen, "hangs")
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_is_drawn_on_a_terminal_only_and_never_with_quiet() {
    // The hanging target runs for its deadline, long enough to be drawn
    // while the healthy one has finished.
    let estate = healthy_and_hanging("2s").await;
    let inventory = &estate.inventory;
    let dir = inventory.dir.path();
    let file = |name: &str| quoted(&dir.join(name).display().to_string());
    let flags = ["--check", "net.tcp.*", "--check", "tls.*", "--jobs", "2"];
    let quiet = [&flags[..], &["-q"]].concat();

    // Standard error on the terminal (the report goes to a file).
    let drawn = format!(">{}", file("drawn.txt"));
    // Standard output on the terminal, standard error to a file.
    let stderr_file = format!(">{} 2>{}", file("report.txt"), file("stderr.txt"));
    // Both on the terminal, with -q.
    let (drawn, off_terminal, quiet) = tokio::join!(
        on_a_terminal(&inventory.path, &flags, &drawn),
        on_a_terminal(&inventory.path, &flags, &stderr_file),
        on_a_terminal(&inventory.path, &quiet, ""),
    );

    assert!(drawn.contains("targets ["), "no overall bar: {drawn:?}");
    assert!(
        shows_target_line(&drawn, "hangs"),
        "no line for the running target: {drawn:?}"
    );
    assert!(
        drawn.contains("healthy: ready"),
        "the bar names the target that finished: {drawn:?}"
    );
    let report = std::fs::read_to_string(dir.join("drawn.txt")).unwrap();
    assert!(report.contains("Estate"), "{report}");
    assert!(!shows_progress(&report), "{report}");

    let stderr = std::fs::read_to_string(dir.join("stderr.txt")).unwrap();
    assert_eq!(
        stderr, "",
        "standard error is not a terminal: nothing drawn"
    );
    assert_eq!(off_terminal, "", "the report went to its file");
    let report = std::fs::read_to_string(dir.join("report.txt")).unwrap();
    assert!(report.contains("Estate"), "{report}");

    assert!(quiet.contains("Estate"), "the report is shown: {quiet:?}");
    assert!(!shows_progress(&quiet), "-q draws nothing: {quiet:?}");
}
