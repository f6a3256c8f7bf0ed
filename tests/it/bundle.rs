//! The support bundle end to end: against the emulated SQL Server, with
//! canary passwords planted in the environment, a password file and standard
//! input, no byte of any canary may reach any member of the zip or the
//! terminal; the layout is complete; report.html renders in headless
//! Chromium with the summary and a failing check's remediation.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mssql_emulator::{Emulator, EmulatorOptions, Scenario};

use crate::support::net::closed_port;

const ENV_CANARY: &str = "Canary-Env-7f3a9c!";
const FILE_CANARY: &str = "Canary-File-2b8d41#";
/// Quote and backslash: JSON and TOML would escape them, so their escaped
/// forms are searched for too.
const STDIN_CANARY: &str = "Canary-Stdin-\"91e0\\c5$";
const COMMENT_CANARY: &str = "Canary-Comment-55aa";
const ENV_VAR: &str = "PREFLIGHT_BUNDLE_CANARY";

/// Every byte sequence a canary could leak as.
fn forms(canary: &str) -> Vec<(String, Vec<u8>)> {
    let json = serde_json::to_string(canary).unwrap();
    let json_inner = &json[1..json.len() - 1];
    let mut forms = vec![
        ("plain".to_owned(), canary.as_bytes().to_vec()),
        (
            "utf-16le".to_owned(),
            canary.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        ),
        (
            "utf-16be".to_owned(),
            canary.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        ),
        ("json-escaped".to_owned(), json_inner.as_bytes().to_vec()),
        (
            "escape_default".to_owned(),
            canary.escape_default().to_string().into_bytes(),
        ),
    ];
    forms.dedup_by(|a, b| a.1 == b.1);
    forms
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[track_caller]
fn assert_no_canary(what: &str, bytes: &[u8], canaries: &[&str]) {
    for canary in canaries {
        for (form, needle) in forms(canary) {
            assert!(
                !contains(bytes, &needle),
                "the {form} form of canary {canary:?} leaked into {what}"
            );
        }
    }
}

/// Every member of a zip, by name.
pub fn unzip(path: &Path) -> Vec<(String, Vec<u8>)> {
    let file = std::fs::File::open(path).expect("the bundle exists");
    let mut archive = zip::ZipArchive::new(file).expect("the bundle is a zip");
    (0..archive.len())
        .map(|i| {
            let mut member = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            member.read_to_end(&mut bytes).unwrap();
            (
                member.name().expect("UTF-8 member name").into_owned(),
                bytes,
            )
        })
        .collect()
}

fn member<'a>(members: &'a [(String, Vec<u8>)], name: &str) -> &'a str {
    let bytes = members
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b)
        .unwrap_or_else(|| {
            let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
            panic!("no {name} in the bundle: {names:?}")
        });
    std::str::from_utf8(bytes).expect("text member")
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Runs the binary with `args`, `stdin` on standard input and the canary
/// variable set; off the async runtime, since the emulator shares it.
async fn preflight(args: Vec<String>, stdin: String) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("mssql-preflight"))
            .args(&args)
            .env(ENV_VAR, ENV_CANARY)
            .env("NO_COLOR", "1")
            .env_remove("MSSQL_PREFLIGHT_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// Which account reads which canary: every source is both planted and, in
/// one of the runs, the password actually used.
struct Sources {
    sql: &'static str,
    backup: &'static str,
    stdin_flag: &'static str,
    /// The passwords the emulated server expects, so both logins succeed
    /// and the canaries really travel through LOGIN7 and the sessions.
    sql_password: &'static str,
    backup_password: &'static str,
}

const RUNS: [Sources; 3] = [
    Sources {
        // --password-stdin overrides the target's password_env: the login
        // uses standard input, and the variable's value must still be masked.
        sql: "password_env = \"PREFLIGHT_BUNDLE_CANARY\"",
        backup: "password_file = \"backup.password\"",
        stdin_flag: "--password-stdin",
        sql_password: STDIN_CANARY,
        backup_password: FILE_CANARY,
    },
    Sources {
        sql: "password_env = \"PREFLIGHT_BUNDLE_CANARY\"",
        backup: "",
        stdin_flag: "--backup-password-stdin",
        sql_password: ENV_CANARY,
        backup_password: STDIN_CANARY,
    },
    Sources {
        sql: "password_file = \"sql.password\"",
        backup: "",
        stdin_flag: "--backup-password-stdin",
        sql_password: FILE_CANARY,
        backup_password: STDIN_CANARY,
    },
];

/// sql2022-healthy, with the accounts' passwords set to canaries.
fn scenario(sources: &Sources) -> Scenario {
    let quoted = |text: &str| toml::Value::String(text.to_owned()).to_string();
    Scenario::from_toml_str(&format!(
        "description = \"healthy, canary passwords\"\nextends = \"sql2022-healthy\"\n\n\
         [[accounts]]\nuser = \"pmp\"\npassword = {}\ndefault_database = \"PassTrix\"\n\
         databases = {{ PassTrix = [\"db_owner\"] }}\n\n\
         [[accounts]]\nuser = \"pback\"\npassword = {}\n\
         databases = {{ PassTrix = [\"db_backupoperator\"] }}\n",
        quoted(sources.sql_password),
        quoted(sources.backup_password)
    ))
    .expect("the canary scenario is valid")
}

#[tokio::test(flavor = "multi_thread")]
async fn no_canary_reaches_any_member_of_the_bundle_or_the_terminal() {
    let canaries = [ENV_CANARY, FILE_CANARY, STDIN_CANARY, COMMENT_CANARY];
    for (index, sources) in RUNS.iter().enumerate() {
        let emulator = Emulator::start(scenario(sources), EmulatorOptions::default())
            .await
            .expect("the emulator starts");
        let addr = emulator.tds_addr();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), emulator.ca_pem()).unwrap();
        write_private(
            &dir.path().join("backup.password"),
            &format!("{FILE_CANARY}\n"),
        );
        write_private(
            &dir.path().join("sql.password"),
            &format!("{FILE_CANARY}\n"),
        );
        let target = dir.path().join("target.toml");
        std::fs::write(
            &target,
            format!(
                "# the old password was {COMMENT_CANARY}\n\
                 [server]\nhost = \"{}\"\nport = {}\ndatabase = \"PassTrix\"\n\n\
                 [tls]\nca_file = \"ca.pem\"\n\n\
                 [sql]\nuser = \"pmp\"\n{}\n\n\
                 [backup]\nuser = \"pback\"\n{}\ndestination = '\\\\storage01\\backups'\n",
                addr.ip(),
                addr.port(),
                sources.sql,
                sources.backup,
            ),
        )
        .unwrap();
        // A pack where someone pasted a password into a comment: packs are
        // copied into the bundle as given, so only the redactor stands
        // between this line and the zip.
        let packs = dir.path().join("packs");
        std::fs::create_dir(&packs).unwrap();
        std::fs::write(
            packs.join("keys.toml"),
            format!(
                "# OPEN MASTER KEY DECRYPTION BY PASSWORD = '{}'\n{}",
                sources.sql_password,
                crate::packs::check(
                    "host.acme.hosts",
                    "host",
                    "warn",
                    "[check.file]\npath = \"/etc/hosts\"\n"
                )
            ),
        )
        .unwrap();
        let zip_path = dir.path().join("bundle.zip");
        let output = preflight(
            vec![
                "bundle".into(),
                "--target".into(),
                target.display().to_string(),
                "-o".into(),
                zip_path.display().to_string(),
                sources.stdin_flag.into(),
                "--checks-dir".into(),
                packs.display().to_string(),
                "-v".into(),
            ],
            format!("{STDIN_CANARY}\n"),
        )
        .await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            matches!(output.status.code(), Some(0 | 1 | 3)),
            "run {index}: {stderr}"
        );
        assert!(
            stderr.contains("Support bundle written to"),
            "run {index}: {stderr}"
        );
        assert_no_canary("stdout", &output.stdout, &canaries);
        assert_no_canary("stderr", &output.stderr, &canaries);

        let members = unzip(&zip_path);
        for (name, bytes) in &members {
            assert_no_canary(&format!("run {index}: {name}"), bytes, &canaries);
        }
        let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
        for expected in [
            "README.txt",
            "report.json",
            "report.md",
            "report.html",
            "junit.xml",
            "timings.json",
            "environment.json",
            "target.toml",
            "server-facts.json",
            "sql-reads.json",
            "certs/chain.pem",
            "certs/certificate-1.txt",
            "packs/1-packs/keys.toml",
            "debug.log",
        ] {
            assert!(
                names.contains(&expected),
                "run {index}: no {expected} in {names:?}"
            );
        }
        // The SQL checks' answers travel with the report, with who read them.
        let reads: serde_json::Value =
            serde_json::from_str(member(&members, "sql-reads.json")).unwrap();
        assert_eq!(reads["clock"]["by"]["user"], "pmp", "{reads}");
        assert!(reads["clock"]["value"]["server_utc"].is_string(), "{reads}");
        let pack = member(&members, "packs/1-packs/keys.toml");
        assert!(pack.contains("PASSWORD = '<redacted>'"), "{pack}");
        // The chain is exactly what the server presented, decoded beside it.
        assert_eq!(
            member(&members, "certs/chain.pem"),
            emulator.served_chain_pem()
        );
        let leaf = member(&members, "certs/certificate-1.txt");
        assert!(leaf.contains("SHA-256 fingerprint"), "{leaf}");
        // The target keeps where passwords come from, not what they are.
        let target_toml = member(&members, "target.toml");
        assert!(target_toml.contains("user = \"pmp\""), "{target_toml}");
        if index == 0 {
            assert!(target_toml.contains(ENV_VAR), "{target_toml}");
        }
        // The debug log holds the run at debug level, whatever -v showed.
        let log = member(&members, "debug.log");
        assert!(log.contains("DEBUG"), "{log}");
        assert!(log.contains("check finished"), "{log}");
        // The login travelled inside the TLS probe's session (the server
        // forces encryption): tiberius, doing no TLS of its own, would warn
        // that the credentials are not encrypted, which is false here.
        assert!(log.contains("tiberius"), "{log}");
        assert!(!log.contains("not encrypted"), "{log}");
        assert!(!stderr.contains("not encrypted"), "run {index}: {stderr}");
        let environment: serde_json::Value =
            serde_json::from_str(member(&members, "environment.json")).unwrap();
        for key in ["tool", "os", "kernel", "host_name", "time_zone", "resolver"] {
            assert!(environment.get(key).is_some(), "no {key} in {environment}");
        }
        let timings: serde_json::Value =
            serde_json::from_str(member(&members, "timings.json")).unwrap();
        assert!(timings["checks"].as_array().is_some_and(|c| !c.is_empty()));
        let report = mssql_preflight::report::Report::from_json(member(&members, "report.json"))
            .expect("report.json is a report");
        let login = report
            .results
            .iter()
            .find(|r| r.id == "sql.login")
            .expect("sql.login ran");
        assert_eq!(
            login.status,
            mssql_preflight::finding::Status::Pass,
            "run {index}: {login:#?}"
        );
        let facts: serde_json::Value =
            serde_json::from_str(member(&members, "server-facts.json")).unwrap();
        assert_eq!(facts["product_version"], "16.0.4135.4", "{facts}");
        assert_eq!(facts["read_as"], "pmp", "{facts}");
        assert!(
            emulator.logins().len() >= 2,
            "both accounts logged in: {:?}",
            emulator.logins()
        );
        emulator.shutdown().await;
    }
}

#[test]
fn a_bundle_without_a_server_still_has_every_member_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("b.zip");
    let output = assert_cmd::Command::cargo_bin("mssql-preflight")
        .unwrap()
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .args(["bundle", "--host", "127.0.0.1", "--port"])
        .arg(closed_port().to_string())
        .arg("-o")
        .arg(&zip_path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let members = unzip(&zip_path);
    let certs = member(&members, "certs/README.txt");
    assert!(certs.contains("not reachable"), "{certs}");
    let facts: serde_json::Value =
        serde_json::from_str(member(&members, "server-facts.json")).unwrap();
    assert_eq!(facts["available"], false, "{facts}");
    let target = member(&members, "target.toml");
    assert!(target.contains("--host 127.0.0.1"), "{target}");
    let readme = member(&members, "README.txt");
    for name in ["report.html", "debug.log", "certs/"] {
        assert!(readme.contains(name), "{readme}");
    }
    assert!(
        !dir.path().join("b.zip.partial").exists(),
        "the partial file is renamed into place"
    );
}

#[test]
fn a_password_that_is_an_ordinary_word_masks_values_not_the_tools_own_text() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("nested").join("t.toml");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(
        &target,
        format!(
            "[server]\nhost = \"127.0.0.1\"\nport = {}\n[sql]\nuser = \"pmp\"\n",
            closed_port()
        ),
    )
    .unwrap();
    let zip_path = dir.path().join("b.zip");
    let output = assert_cmd::Command::cargo_bin("mssql-preflight")
        .unwrap()
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .args(["bundle", "--password-stdin", "--target"])
        .arg(&target)
        .arg("-o")
        .arg(&zip_path)
        .write_stdin("the\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let members = unzip(&zip_path);
    // The tool's own sentences stay whole…
    for (name, words) in [
        ("README.txt", "the full report"),
        ("report.html", "verdicts about the server"),
        ("target.toml", "re-serialised by mssql-preflight bundle"),
    ] {
        let text = member(&members, name);
        assert!(text.contains(words), "{name}: `{words}` in {text}");
    }
    // …while values that hold the secret are still masked.
    let markdown = member(&members, "report.md");
    assert!(markdown.contains(r"\<redacted\>"), "{markdown}");
    // The HTML report names the target file as the bundle holds it.
    let html = member(&members, "report.html");
    assert!(
        html.contains("<th>Target file</th><td>target.toml</td>"),
        "{html}"
    );
}

#[test]
fn a_bundle_into_a_missing_directory_is_refused_before_anything_runs() {
    assert_cmd::Command::cargo_bin("mssql-preflight")
        .unwrap()
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .args([
            "bundle",
            "--host",
            "127.0.0.1",
            "-o",
            "/nonexistent-dir/b.zip",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("/nonexistent-dir"));
}

/// Text a browser would show for `html`: tags dropped, entities decoded,
/// whitespace collapsed.
fn rendered_text(html: &str) -> String {
    let without_head = match (html.find("<body"), html.rfind("</body>")) {
        (Some(start), Some(end)) => &html[start..end],
        _ => html,
    };
    let mut text = String::new();
    let mut in_tag = false;
    for c in without_head.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn chromium(profile: &Path, args: &[String]) -> Output {
    let output = assert_cmd::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .timeout(Duration::from_secs(90))
        .output()
        .expect("chromium runs (Debian package chromium, see .ci/apt-packages.txt)");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn report_html_renders_in_headless_chromium_with_summary_and_remediation() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("b.zip");
    assert_cmd::Command::cargo_bin("mssql-preflight")
        .unwrap()
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .args([
            "bundle",
            "--check",
            "net.*",
            "--host",
            "127.0.0.1",
            "--port",
        ])
        .arg(closed_port().to_string())
        .arg("-o")
        .arg(&zip_path)
        .assert()
        .code(1);
    let members = unzip(&zip_path);
    let report =
        mssql_preflight::report::Report::from_json(member(&members, "report.json")).unwrap();
    let failing = report
        .results
        .iter()
        .find(|r| r.id == "net.tcp.reachable")
        .expect("the failing check");
    let remediation = failing.remediation.clone().expect("a failure has a fix");
    let html_path: PathBuf = dir.path().join("report.html");
    std::fs::write(&html_path, member(&members, "report.html")).unwrap();
    let url = format!("file://{}", html_path.display());

    let shot = dir.path().join("report.png");
    chromium(
        &dir.path().join("profile-1"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,1600".to_owned(),
            url.clone(),
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 1600));
    assert!(
        png.len() > 10_000,
        "a blank page compresses to almost nothing"
    );

    let dom = chromium(
        &dir.path().join("profile-2"),
        &["--dump-dom".to_owned(), url],
    );
    let text = rendered_text(&String::from_utf8_lossy(&dom.stdout));
    // Compared without spaces: the text helper puts one where a tag was.
    let squeezed = |s: &str| s.replace(['`', ' '], "");
    let verdict = report.headline();
    assert!(
        squeezed(&text).contains(&squeezed(&verdict)),
        "no summary `{verdict}` in {text}"
    );
    // Each step of the fix, its `code spans` rendered as code.
    let steps = mssql_preflight::report::view::fix_steps(&remediation);
    assert!(steps.len() > 1, "{remediation}");
    for step in steps {
        assert!(
            squeezed(&text).contains(&squeezed(&step)),
            "no fix step `{step}` in {text}"
        );
    }
    let dom_html = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom_html.contains("<ol><li>"),
        "the fix is not a numbered list"
    );
    assert!(!text.contains('`'), "a literal backtick in {text}");
    assert!(text.contains("net.tcp.reachable"), "{text}");

    // The attention list on the first screen of a 1280×800 window. The page
    // forbids scripts (its Content-Security-Policy); a copy without that
    // policy measures where the list ends and writes it into the title.
    let measured = dir.path().join("measured.html");
    let page = member(&members, "report.html");
    let csp_start = page
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .unwrap();
    let csp_end = csp_start + page[csp_start..].find('>').unwrap() + 1;
    let probe = "<script>addEventListener('load', () => { \
        const list = document.querySelector('ul.attention'); \
        document.title = list ? 'bottom=' + Math.ceil(list.getBoundingClientRect().bottom) \
          + ' viewport=' + innerHeight : 'no attention list'; });</script>";
    let page = format!("{}{}{probe}", &page[..csp_start], &page[csp_end..]);
    std::fs::write(&measured, page).unwrap();
    let dom = chromium(
        &dir.path().join("profile-3"),
        &[
            "--window-size=1280,800".to_owned(),
            "--virtual-time-budget=2000".to_owned(),
            "--dump-dom".to_owned(),
            format!("file://{}", measured.display()),
        ],
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    let title = dom
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap_or_default();
    let bottom: u32 = title
        .strip_prefix("bottom=")
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no measurement: {title}"));
    assert!(
        bottom <= 800,
        "the attention list ends at {bottom} px, below the first screen: {title}"
    );
}
