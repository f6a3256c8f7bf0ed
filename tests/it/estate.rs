//! Estates: an inventory of emulated servers of different personalities,
//! checked in one run — the estate report's rows, verdict and exit code, a
//! hanging target bounded by its own timeout, `--rerun-failed`.

use std::path::{Path, PathBuf};

use mssql_preflight::estate::EstateReport;
use mssql_preflight::estate::report::ESTATE_JSON_SCHEMA;
use mssql_preflight::report::JSON_SCHEMA;

use crate::support::emulator::TestServer;
use crate::support::preflight;

/// The personalities of the estate, by inventory name.
pub const ESTATE: [(&str, &str); 4] = [
    ("healthy", "sql2022-healthy"),
    ("wrong-name", "cn-mismatch"),
    ("hangs", "hang-after-prelogin"),
    ("rds", "aws-rds"),
];

/// An inventory file for `servers` (name, target file, extra keys as TOML
/// lines of the [[target]] table), in a temporary directory.
pub struct InventoryFile {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl InventoryFile {
    pub fn new(servers: &[(&str, String, &str)]) -> InventoryFile {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("estate.toml");
        write_inventory(&path, servers);
        InventoryFile { dir, path }
    }
}

/// Writes an inventory with `servers` at `path`.
pub fn write_inventory(path: &Path, servers: &[(&str, String, &str)]) {
    let mut text = String::from("[defaults]\ntags = [\"prod\"]\n");
    for (name, target_toml, extra) in servers {
        let target: toml::Table = toml::from_str(target_toml).expect("target TOML");
        let mut table = toml::Table::new();
        table.insert("name".into(), toml::Value::String((*name).to_owned()));
        let own: toml::Table = toml::from_str(extra).expect("extra TOML");
        table.extend(own);
        table.extend(target);
        let mut wrapper = toml::Table::new();
        wrapper.insert(
            "target".into(),
            toml::Value::Array(vec![toml::Value::Table(table)]),
        );
        text.push('\n');
        text.push_str(&toml::to_string(&wrapper).expect("serialises"));
    }
    std::fs::write(path, text).expect("write inventory");
}

pub async fn start_estate() -> Vec<(&'static str, TestServer)> {
    let mut servers = Vec::new();
    for (name, scenario) in ESTATE {
        servers.push((name, TestServer::start_emulated(scenario).await));
    }
    servers
}

/// The hanging target gets a short timeout and deadline of its own.
fn extra_for(name: &str) -> &'static str {
    match name {
        "hangs" => "timeout = \"1s\"\ndeadline = \"4s\"\ntags = [\"lab\"]\n",
        "healthy" => "tags = [\"prod\", \"pmp\"]\n",
        _ => "",
    }
}

pub fn inventory_of(servers: &[(&'static str, TestServer)]) -> InventoryFile {
    let rows: Vec<(&str, String, &str)> = servers
        .iter()
        .map(|(name, server)| (*name, server.toml(), extra_for(name)))
        .collect();
    InventoryFile::new(&rows)
}

/// A healthy server and one that answers PRELOGIN and then hangs, the
/// latter bounded by its own 1-second timeout and `deadline`.
pub struct HealthyAndHanging {
    pub inventory: InventoryFile,
    /// Running while the inventory is used.
    _servers: [TestServer; 2],
}

pub async fn healthy_and_hanging(deadline: &str) -> HealthyAndHanging {
    let healthy = TestServer::start_emulated("sql2022-healthy").await;
    let hangs = TestServer::start_emulated("hang-after-prelogin").await;
    let limits = format!("timeout = \"1s\"\ndeadline = \"{deadline}\"\n");
    let inventory = InventoryFile::new(&[
        ("healthy", healthy.toml(), ""),
        ("hangs", hangs.toml(), &limits),
    ]);
    HealthyAndHanging {
        inventory,
        _servers: [healthy, hangs],
    }
}

/// Many names for one server that answers PRELOGIN and then hangs: each
/// target runs until its own deadline (timeout 1s, deadline 2s).
pub fn hanging_targets(hangs: &TestServer, names: &[&str]) -> InventoryFile {
    let rows: Vec<(&str, String, &str)> = names
        .iter()
        .map(|name| (*name, hangs.toml(), "timeout = \"1s\"\ndeadline = \"2s\"\n"))
        .collect();
    InventoryFile::new(&rows)
}

/// Runs `run --inventory` with `args` off the runtime (the emulators run on it).
pub async fn run_estate(inventory: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = preflight();
    cmd.args(["run", "--inventory"]).arg(inventory).args(args);
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
        .await
        .expect("joins");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub fn read_estate(path: &Path) -> EstateReport {
    EstateReport::from_json(&std::fs::read_to_string(path).expect("report written"))
        .expect("an estate report")
}

/// Each target's name and verdict, in inventory order.
fn verdicts(estate: &EstateReport) -> Vec<(&str, &str)> {
    estate
        .targets
        .iter()
        .map(|t| (t.name.as_str(), t.report.verdict.as_str()))
        .collect()
}

const CHECKS: [&str; 4] = ["--check", "net.tcp.*", "--check", "tls.*"];

#[tokio::test(flavor = "multi_thread")]
async fn an_estate_of_personalities_gives_one_row_each_and_the_worst_verdict() {
    let servers = start_estate().await;
    let inventory = inventory_of(&servers);
    let json_path = inventory.dir.path().join("estate.json");
    let junit_path = inventory.dir.path().join("estate.xml");
    let report_json = format!("json={}", json_path.display());
    let report_junit = format!("junit={}", junit_path.display());
    let markdown_path = inventory.dir.path().join("estate.md");
    let html_path = inventory.dir.path().join("estate.html");
    let report_markdown = format!("markdown={}", markdown_path.display());
    let report_html = format!("html={}", html_path.display());
    let mut args = CHECKS.to_vec();
    args.extend(["--timeout", "3s", "--jobs", "4", "--report", &report_json]);
    args.extend(["--report", &report_junit, "--report", &report_markdown]);
    args.extend(["--report", &report_html]);
    let (code, table, stderr) = run_estate(&inventory.path, &args).await;

    let estate = read_estate(&json_path);
    assert_eq!(
        verdicts(&estate),
        [
            ("healthy", "ready"),
            ("wrong-name", "not_ready"),
            ("hangs", "incomplete"),
            ("rds", "ready"),
        ],
        "{table}\n{stderr}"
    );
    assert_eq!(estate.verdict.as_str(), "not_ready");
    assert_eq!(estate.exit_code, 1);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.is_empty(), "no progress off a terminal: {stderr}");
    assert_eq!(estate.verdicts["not_ready"], 1);
    assert_eq!(estate.verdicts["incomplete"], 1);
    assert_eq!(estate.target("healthy").unwrap().tags, ["prod", "pmp"]);
    assert_eq!(
        estate.target("rds").unwrap().tags,
        ["prod"],
        "from [defaults]"
    );

    // The summary table: a row per target, the first thing to fix, then
    // each target's attention items.
    for (name, _) in ESTATE {
        assert!(table.contains(name), "{table}");
    }
    let row = table
        .lines()
        .find(|l| l.contains("wrong-name"))
        .expect("a row for wrong-name");
    assert!(row.contains("not_ready"), "{row}");
    assert!(row.contains("tls.cert.hostname"), "{row}");
    assert!(table.contains("── wrong-name"), "{table}");
    assert!(
        table.trim_end().ends_with(
            "Estate not ready — 4 targets: 1 not_ready (wrong-name); 1 incomplete (hangs); 2 ready (healthy, rds)"
        ),
        "{table}"
    );

    // The hanging target was bounded by its own 1-second timeout, while
    // the others (under the run's 3 seconds) finished with verdicts.
    let hangs = &estate.target("hangs").unwrap().report;
    let handshake = hangs
        .results
        .iter()
        .find(|r| r.id == "tls.handshake")
        .unwrap();
    assert_eq!(handshake.status.as_str(), "error");
    assert!(
        handshake.message.contains("nothing more for 1000 ms"),
        "{handshake:#?}"
    );

    // JUnit: one suite per target, its cases classed by target and family.
    let junit = std::fs::read_to_string(&junit_path).unwrap();
    let document = roxmltree::Document::parse(&junit).unwrap();
    let suites: Vec<&str> = document
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .filter_map(|n| n.attribute("name"))
        .collect();
    assert_eq!(suites, ["healthy", "wrong-name", "hangs", "rds"]);
    let hostname_case = document
        .descendants()
        .find(|n| {
            n.has_tag_name("testcase")
                && n.attribute("classname") == Some("wrong-name.tls")
                && n.attribute("name") == Some("tls.cert.hostname")
        })
        .expect("wrong-name's tls.cert.hostname case");
    assert!(hostname_case.children().any(|c| c.has_tag_name("failure")));

    // JSON: valid against the estate schema, every target against the report schema.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    for (schema, instances) in [
        (ESTATE_JSON_SCHEMA, vec![&json]),
        (
            JSON_SCHEMA,
            json["targets"].as_array().unwrap().iter().collect(),
        ),
    ] {
        let schema: serde_json::Value = serde_json::from_str(schema).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        for instance in instances {
            let errors: Vec<String> = validator
                .iter_errors(instance)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{errors:#?}");
        }
    }

    // Markdown and HTML: the summary first, then each target's own report.
    let markdown = std::fs::read_to_string(&markdown_path).unwrap();
    let summary = markdown.find("| Target | Server | Verdict |").unwrap();
    let first_target = markdown.find("## Target `healthy`").unwrap();
    assert!(summary < first_target, "{markdown}");
    assert!(
        markdown.contains("### mssql-preflight report: "),
        "{markdown}"
    );
    // `render` re-renders a saved estate report as it renders a single one.
    let rendered = preflight()
        .args(["render", "--format", "markdown"])
        .arg(&json_path)
        .output()
        .unwrap();
    assert_eq!(rendered.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&rendered.stdout), markdown);
    let html = std::fs::read_to_string(&html_path).unwrap();
    let summary = html.find("<table class=\"estate\">").unwrap();
    let section = html.find("<section id=\"target-healthy\">").unwrap();
    assert!(summary < section);
    assert!(html.contains("<a href=\"#target-wrong-name\">wrong-name</a>"));
}

/// Seven targets, three trust configurations (two emulators' CA files and
/// the system's roots): each configuration is read once, as the log says.
#[tokio::test(flavor = "multi_thread")]
async fn targets_with_the_same_trust_configuration_share_one_loaded_store() {
    let healthy = TestServer::start_emulated("sql2022-healthy").await;
    let wrong = TestServer::start_emulated("cn-mismatch").await;
    let system_roots = healthy.target().without_ca_file().render();
    let rows = [
        ("a", healthy.toml(), ""),
        ("b", healthy.toml(), ""),
        ("c", healthy.toml(), ""),
        ("d", wrong.toml(), ""),
        ("e", wrong.toml(), ""),
        ("f", system_roots.clone(), ""),
        ("g", system_roots, ""),
    ];
    let inventory = InventoryFile::new(&rows);
    let mut cmd = preflight();
    cmd.args(["run", "--check", "tls.*", "--jobs", "7", "--inventory"])
        .arg(&inventory.path)
        .env("MSSQL_PREFLIGHT_LOG", "mssql_preflight::certificate=debug");
    let output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let mut loads: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("loaded the trusted certificates"))
        .collect();
    loads.sort();
    assert_eq!(loads.len(), 3, "{stderr}");
    for anchors in [
        format!(
            "the CA file `{}` (1 certificate)",
            healthy.ca_file.display()
        ),
        format!("the CA file `{}` (1 certificate)", wrong.ca_file.display()),
        "this machine's trusted root certificates (".to_owned(),
    ] {
        assert_eq!(
            loads.iter().filter(|l| l.contains(&anchors)).count(),
            1,
            "{anchors}: {stderr}"
        );
    }
}

/// The most targets whose runs overlapped, from each target's own record
/// of when it started and how long it took.
fn most_at_once(estate: &EstateReport) -> usize {
    let mut edges: Vec<(i128, i32)> = Vec::new();
    for target in &estate.targets {
        let started = time::OffsetDateTime::parse(
            &target.report.started_at,
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
        .unix_timestamp_nanos();
        let ended = started + i128::from(target.report.duration_ms) * 1_000_000;
        edges.extend([(started, 1), (ended, -1)]);
    }
    // At the same instant an end comes before a start: a slot freed is
    // taken by the next target.
    edges.sort();
    let mut running = 0;
    let mut most = 0;
    for (_, change) in edges {
        running += change;
        most = most.max(running);
    }
    most as usize
}

#[tokio::test(flavor = "multi_thread")]
async fn no_more_targets_run_at_once_than_jobs() {
    let hangs = TestServer::start_emulated("hang-after-prelogin").await;
    let names = ["one", "two", "three", "four", "five"];
    let inventory = hanging_targets(&hangs, &names);
    let json_path = inventory.dir.path().join("estate.json");
    let report = format!("json={}", json_path.display());
    let mut args = CHECKS.to_vec();
    args.extend(["--jobs", "2", "-q", "--report", &report]);
    let (code, _, stderr) = run_estate(&inventory.path, &args).await;
    assert_eq!(code, Some(3), "{stderr}");
    let estate = read_estate(&json_path);
    assert_eq!(estate.targets.len(), 5);
    // Each target held its slot for at least its 1-second timeout: two
    // ran at once, never three.
    assert_eq!(most_at_once(&estate), 2, "{:#?}", estate.targets);
}

#[test]
fn one_password_on_standard_input_cannot_serve_several_targets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("estate.toml");
    std::fs::write(
        &path,
        "[[target]]\nname = \"a\"\ntags = [\"lab\"]\n[target.server]\nhost = \"a.invalid\"\n\n\
         [[target]]\nname = \"b\"\n[target.server]\nhost = \"b.invalid\"\n",
    )
    .unwrap();
    let output = preflight()
        .args(["run", "--password-stdin", "--inventory"])
        .arg(&path)
        .write_stdin("secret\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("2 targets are selected"), "{stderr}");
    // --only picks names and tags; one that matches nothing is refused.
    let output = preflight()
        .args(["run", "--only", "staging", "--inventory"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--only `staging` matches no target"),
        "{stderr}"
    );
    // --inventory and --target exclude each other.
    let output = preflight()
        .args(["run", "--target", "t.toml", "--inventory"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn rerun_failed_runs_only_the_targets_and_checks_that_did_not_hold() {
    let servers = start_estate().await;
    let inventory = inventory_of(&servers);
    let first = inventory.dir.path().join("first.json");
    let merged = inventory.dir.path().join("merged.json");
    let report = |p: &Path| format!("json={}", p.display());
    let mut args = CHECKS.to_vec();
    let first_report = report(&first);
    args.extend(["--timeout", "3s", "-q", "--report", &first_report]);
    let (code, _, stderr) = run_estate(&inventory.path, &args).await;
    assert_eq!(code, Some(1), "{stderr}");

    // Since then: wrong-name's expected name was corrected to the one its
    // certificate has, and the healthy server's port changed to a dead one.
    // Only a re-run of wrong-name can show the first; a re-run of healthy
    // (which was ready) would show the second.
    let rows: Vec<(&str, String, &str)> = servers
        .iter()
        .map(|(name, server)| {
            let target = match *name {
                "wrong-name" => {
                    let mut t = server.target();
                    t.expected_name = Some("sql-old.corp.example.com".to_owned());
                    t.render()
                }
                "healthy" => {
                    let mut t = server.target();
                    t.port = 1;
                    t.render()
                }
                _ => server.toml(),
            };
            (*name, target, extra_for(name))
        })
        .collect();
    write_inventory(&inventory.path, &rows);
    let first_path = first.display().to_string();
    let merged_report = report(&merged);
    let mut args = CHECKS.to_vec();
    args.extend(["--timeout", "3s", "--rerun-failed", &first_path]);
    args.extend(["--report", &merged_report, "--format", "json"]);
    let (code, _, stderr) = run_estate(&inventory.path, &args).await;

    let before = read_estate(&first);
    let after = read_estate(&merged);
    assert_eq!(
        verdicts(&after),
        [
            ("healthy", "ready"),
            ("wrong-name", "ready"),
            ("hangs", "incomplete"),
            ("rds", "ready"),
        ],
        "{stderr}"
    );
    assert_eq!(code, Some(3), "incomplete is now the worst: {stderr}");
    // Targets that were ready are the previous reports, untouched.
    for name in ["healthy", "rds"] {
        assert_eq!(after.target(name), before.target(name), "{name}");
    }
    // Of wrong-name, only what failed ran again; what passed is kept as it was.
    let old = &before.target("wrong-name").unwrap().report;
    let new = &after.target("wrong-name").unwrap().report;
    assert_ne!(old.started_at, new.started_at);
    for result in &new.results {
        let previous = old.results.iter().find(|r| r.id == result.id).unwrap();
        if result.id == "tls.cert.hostname" {
            assert_eq!(previous.status.as_str(), "fail");
            assert_eq!(result.status.as_str(), "pass", "{result:#?}");
        } else {
            assert_eq!(result, previous, "{} ran again", result.id);
        }
    }
    assert_eq!(new.summary.total, old.summary.total);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_estate_bundle_has_the_estate_reports_and_a_folder_per_target() {
    let passwords = crate::support::accounts::Passwords::new();
    let healthy = TestServer::start_emulated("sql2022-healthy").await;
    let wrong = TestServer::start_emulated("cn-mismatch").await;
    let rows = [
        ("healthy", healthy.app_target(&passwords).render(), ""),
        ("wrong-name", wrong.toml(), ""),
    ];
    let inventory = InventoryFile::new(&rows);
    let zip_path = inventory.dir.path().join("estate.zip");
    let mut cmd = preflight();
    cmd.args(["bundle", "--check", "tls.*", "--check", "sql.login", "-q"])
        .arg("--inventory")
        .arg(&inventory.path)
        .arg("-o")
        .arg(&zip_path);
    let output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    for expected in [
        "README.txt",
        "estate.json",
        "estate.html",
        "junit.xml",
        "debug.log",
        "healthy/report.json",
        "healthy/target.toml",
        "healthy/certs/chain.pem",
        "wrong-name/report.json",
        "wrong-name/environment.json",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected}: {names:#?}"
        );
    }
    let mut everything = String::new();
    for index in 0..zip.len() {
        let mut member = zip.by_index(index).unwrap();
        std::io::Read::read_to_string(&mut member, &mut everything).unwrap();
    }
    assert!(
        !everything.contains("Pmp-Test-Passw0rd!"),
        "a password leaked"
    );
    // Each target's target.toml is its own table, not the whole inventory.
    let mut own = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("healthy/target.toml").unwrap(), &mut own)
        .unwrap();
    assert!(own.contains("Target `healthy` of the inventory"), "{own}");
    assert!(!own.contains("wrong-name"), "{own}");
    assert!(!own.contains("[[target]]"), "{own}");
    let mut estate = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("estate.json").unwrap(), &mut estate).unwrap();
    let estate = EstateReport::from_json(&estate).unwrap();
    assert_eq!(
        estate.target("healthy").unwrap().report.verdict.as_str(),
        "ready"
    );
    assert_eq!(estate.verdict.as_str(), "not_ready");
}
