//! `serve`: the Prometheus exporter against an inventory of emulated
//! servers — its answers, its cache, its refusals; `promtool` on the
//! exposition and on docs/monitoring.md; and a real Prometheus (Debian's
//! `prometheus`) scraping it on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::estate::{InventoryFile, hanging_targets, healthy_and_hanging};
use crate::support::emulator::TestServer;

/// A process this test started, killed (by its own handle) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve` on a free loopback port; its address from its first line.
fn start_serve(inventory: &Path, extra: &[&str]) -> (Running, SocketAddr) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("mssql-preflight"))
        .args(["serve", "--listen", "127.0.0.1:0", "--inventory"])
        .arg(inventory)
        .args(extra)
        .env("MSSQL_PREFLIGHT_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();
    (Running(child), address)
}

/// GET `path` from `address`: the status code and the body.
fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A metric's value in an exposition, by its exact name and labels.
fn value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().unwrap())
    })
}

/// Whole days until the emulator's certificate expires, as of now.
fn days_left(server: &TestServer) -> i64 {
    let chain = server.emulator().served_chain_der();
    let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
    let not_after =
        time::OffsetDateTime::from_unix_timestamp(leaf.validity().not_after.timestamp()).unwrap();
    (not_after - time::OffsetDateTime::now_utc()).whole_days()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// The one lint `promtool check metrics` raises on the exposition: the
/// issue pins the name `mssql_preflight_certificate_days_left`, and
/// promtool wants base units (seconds). docs/monitoring.md says why days.
const PINNED_NAME_LINT: &str =
    "mssql_preflight_certificate_days_left use base unit \"seconds\" instead of \"days\"";

/// `promtool check metrics` on an exposition: it parses, and it lints
/// exactly what it should — the pinned name's lint when the exposition has
/// that metric, nothing else. promtool exits 3 for lints, 1 for what does
/// not parse.
fn promtool_check_metrics(exposition: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package) is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lints: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty()).collect();
    let has_days_left = exposition
        .lines()
        .any(|l| l.starts_with("mssql_preflight_certificate_days_left{"));
    let (expected_code, expected_lints) = if has_days_left {
        (3, vec![PINNED_NAME_LINT])
    } else {
        (0, vec![])
    };
    if output.status.code() == Some(expected_code) && lints == expected_lints {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics exited {:?} (expected {expected_code}) saying: {said}",
            output.status.code()
        ))
    }
}

fn check_metrics(exposition: &str) {
    if let Err(problem) = promtool_check_metrics(exposition) {
        panic!("{problem}\n{exposition}");
    }
}

/// The lint check itself: the pinned name's lint passes, any other lint,
/// a missing expected lint, or what does not parse fails.
#[test]
fn the_metrics_check_accepts_only_the_pinned_names_lint() {
    let days_left = "# HELP mssql_preflight_certificate_days_left Days.\n\
                     # TYPE mssql_preflight_certificate_days_left gauge\n\
                     mssql_preflight_certificate_days_left{target=\"a\"} 30\n";
    let another_lint = "# HELP mssql_preflight_things Things.\n\
                        # TYPE mssql_preflight_things counter\n\
                        mssql_preflight_things 3\n";
    assert_eq!(promtool_check_metrics(days_left), Ok(()));
    assert_eq!(promtool_check_metrics(""), Ok(()));
    for wrong in [
        format!("{days_left}{another_lint}"),
        another_lint.to_owned(),
        "mssql_preflight_verdict{target=\"a\" 1\n".to_owned(),
    ] {
        assert!(promtool_check_metrics(&wrong).is_err(), "{wrong}");
    }
}

fn promtool(args: &[&str]) -> (bool, String) {
    let output = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool (Debian's prometheus package) is installed");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_answer_metrics_of_inventory_targets_only_and_are_cached() {
    let healthy = TestServer::start_emulated("sql2022-healthy").await;
    let wrong = TestServer::start_emulated("cn-mismatch").await;
    let inventory = InventoryFile::new(&[
        ("healthy", healthy.toml(), ""),
        ("wrong-name", wrong.toml(), ""),
    ]);
    let (_serve, address) = start_serve(
        &inventory.path,
        &["--profile", "pmp", "--min-interval", "1h"],
    );
    let expected_days = days_left(&healthy);

    let (status, body) = blocking(move || get(address, "/probe?target=healthy")).await;
    assert_eq!(status, 200, "{body}");
    let series = |s: &str| value(&body, s);
    assert_eq!(
        series(r#"mssql_preflight_verdict{target="healthy",verdict="ready"}"#),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        series(r#"mssql_preflight_verdict{target="healthy",verdict="not_ready"}"#),
        Some(0.0)
    );
    assert_eq!(
        series(
            r#"mssql_preflight_check_status{target="healthy",check="tls.cert.hostname",status="pass"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        series(
            r#"mssql_preflight_check_status{target="healthy",check="tls.cert.hostname",status="fail"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        series(r#"mssql_preflight_certificate_days_left{target="healthy"}"#),
        Some(expected_days as f64)
    );
    assert!(body.contains("mssql_preflight_certificate_not_after_timestamp_seconds{target=\"healthy\",subject=\"CN=sql01.corp.example.com"), "{body}");
    assert_eq!(
        series(r#"mssql_preflight_probe_success{target="healthy"}"#),
        Some(1.0)
    );
    assert!(series(r#"mssql_preflight_probe_duration_seconds{target="healthy"}"#).is_some());
    // No messages, evidence or paths: only metrics.
    assert!(!body.contains("fix") && !body.contains("/tmp"), "{body}");
    check_metrics(&body);

    let (status, body) = blocking(move || get(address, "/probe?target=wrong-name")).await;
    assert_eq!(status, 200);
    assert_eq!(
        value(
            &body,
            r#"mssql_preflight_verdict{target="wrong-name",verdict="not_ready"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &body,
            r#"mssql_preflight_probe_success{target="wrong-name"}"#
        ),
        Some(0.0)
    );

    // A second scrape within the minimum interval is answered from the cache.
    let (status, _) = blocking(move || get(address, "/probe?target=healthy")).await;
    assert_eq!(status, 200);
    let (status, own) = blocking(move || get(address, "/metrics")).await;
    assert_eq!(status, 200);
    assert_eq!(
        value(
            &own,
            r#"mssql_preflight_exporter_probes_total{target="healthy"}"#
        ),
        Some(1.0),
        "{own}"
    );
    assert_eq!(
        value(
            &own,
            r#"mssql_preflight_exporter_cached_answers_total{target="healthy"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &own,
            r#"mssql_preflight_exporter_probe_duration_seconds_count{target="healthy"}"#
        ),
        Some(1.0)
    );
    assert!(
        value(
            &own,
            r#"mssql_preflight_exporter_probe_duration_seconds_sum{target="healthy"}"#
        )
        .is_some_and(|seconds| seconds > 0.0),
        "{own}"
    );
    check_metrics(&own);

    // Hosts outside the inventory are never probed; bad requests are refused.
    for (path, expected) in [
        ("/probe?target=evil.example.com", 404),
        ("/probe?target=127.0.0.1:1433", 404),
        ("/probe", 400),
        ("/probe?target=healthy&profile=nosuch", 400),
        ("/report", 404),
    ] {
        let (status, body) = blocking(move || get(address, path)).await;
        assert_eq!(status, expected, "{path}: {body}");
    }
    let (_, own) = blocking(move || get(address, "/metrics")).await;
    assert_eq!(
        value(
            &own,
            r#"mssql_preflight_exporter_refused_requests_total{reason="unknown_target"}"#
        ),
        Some(2.0),
        "{own}"
    );

    // The index names the targets and their last verdicts.
    let (status, index) = blocking(move || get(address, "/")).await;
    assert_eq!(status, 200);
    assert!(
        index.contains("<td>ready</td>") && index.contains("<td>not_ready</td>"),
        "{index}"
    );
}

/// The scrape configuration and alert rules of docs/monitoring.md, written
/// out as the files they are marked as.
fn monitoring_files(dir: &Path) -> Vec<String> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/monitoring.md"))
            .unwrap();
    let mut written = Vec::new();
    for part in doc.split("<!-- file: ").skip(1) {
        let (name, rest) = part.split_once(" -->").unwrap();
        let body = rest
            .split_once("```yaml\n")
            .and_then(|(_, b)| b.split_once("\n```"))
            .map(|(b, _)| b)
            .unwrap();
        std::fs::write(dir.join(name), format!("{body}\n")).unwrap();
        written.push(name.to_owned());
    }
    written
}

#[test]
fn the_documented_scrape_config_and_alert_rules_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let files = monitoring_files(dir.path());
    assert_eq!(files, ["prometheus.yml", "mssql-preflight-rules.yml"]);
    let config = dir.path().join("prometheus.yml");
    let (ok, out) = promtool(&["check", "config", config.to_str().unwrap()]);
    assert!(ok, "promtool check config: {out}");
    let rules = dir.path().join("mssql-preflight-rules.yml");
    let (ok, out) = promtool(&["check", "rules", rules.to_str().unwrap()]);
    assert!(ok, "promtool check rules: {out}");
    assert!(out.contains("4 rules found"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_the_certificate_days_left() {
    let healthy = TestServer::start_emulated("sql2022-healthy").await;
    let inventory = InventoryFile::new(&[("healthy", healthy.toml(), "")]);
    let (_serve, address) = start_serve(
        &inventory.path,
        &["--profile", "pmp", "--min-interval", "1s"],
    );
    let before = days_left(&healthy);

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: mssql-preflight\n    metrics_path: /probe\n    static_configs:\n      - targets: [healthy]\n    relabel_configs:\n      - source_labels: [__address__]\n        target_label: __param_target\n      - source_labels: [__param_target]\n        target_label: instance\n      - target_label: __address__\n        replacement: {address}\n"
        ),
    )
    .unwrap();
    let web = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap()
    };
    let prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus (Debian's package) is installed");
    let _prometheus = Running(prometheus);

    let query = "/api/v1/query?query=mssql_preflight_certificate_days_left";
    let started = Instant::now();
    let answer = loop {
        let answer = blocking(move || {
            TcpStream::connect_timeout(&web, Duration::from_secs(1))
                .ok()
                .map(|_| get(web, query))
        })
        .await;
        if let Some((200, body)) = &answer {
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            if json["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                break json;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Prometheus had no mssql_preflight_certificate_days_left after 60 s: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let after = days_left(&healthy);
    let series = &answer["data"]["result"][0];
    assert_eq!(series["metric"]["target"], "healthy", "{answer}");
    assert_eq!(series["metric"]["instance"], "healthy", "{answer}");
    let days: f64 = series["value"][1].as_str().unwrap().parse().unwrap();
    assert!(
        days == before as f64 || days == after as f64,
        "Prometheus has {days} days left; the certificate has {before}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_of_one_target_never_overlap_and_a_hanging_target_is_bounded_by_its_own_deadline() {
    let estate = healthy_and_hanging("3s").await;
    let inventory = &estate.inventory;
    let (_serve, address) = start_serve(
        &inventory.path,
        &["--profile", "pmp", "--min-interval", "1h"],
    );
    // Two scrapes of one target at once, and one of the hanging target.
    let requests: Vec<_> = ["healthy", "healthy", "hangs"]
        .into_iter()
        .map(|name| blocking(move || get(address, &format!("/probe?target={name}"))))
        .collect();
    let answers = futures::future::join_all(requests).await;
    assert_eq!(
        answers[0], answers[1],
        "the second waited for the first probe"
    );
    assert_eq!(answers[0].0, 200);
    let (status, body) = &answers[2];
    assert_eq!(*status, 200, "{body}");
    assert_eq!(
        value(
            body,
            r#"mssql_preflight_verdict{target="hangs",verdict="incomplete"}"#
        ),
        Some(1.0),
        "{body}"
    );
    let (_, own) = blocking(move || get(address, "/metrics")).await;
    let series = |s: &str| value(&own, s);
    assert_eq!(
        series(r#"mssql_preflight_exporter_probes_total{target="healthy"}"#),
        Some(1.0),
        "{own}"
    );
    assert_eq!(
        series(r#"mssql_preflight_exporter_cached_answers_total{target="healthy"}"#),
        Some(1.0)
    );
    assert_eq!(
        series(r#"mssql_preflight_exporter_probes_total{target="hangs"}"#),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_full_backup_is_a_timestamp_of_its_database() {
    // msdb says the last full backup of PassTrix finished 72 hours ago.
    let scenario = mssql_emulator::Scenario::from_toml_str(
        r#"
description = "a backup 72 hours old"
extends = "sql2022-healthy"

[[rules]]
pattern = '\bmsdb\.dbo\.backupset\b'
columns = [
    { name = "backup_finish_date", type = "datetime" },
    { name = "age_seconds", type = "int" },
    { name = "physical_device_name", type = "nvarchar(260)" },
]
rows = [["2024-07-01 01:00:00", 259200, '\\nas01\Backups\PassTrix.bak']]
"#,
    )
    .unwrap();
    let server =
        TestServer::start_scenario(scenario, mssql_emulator::EmulatorOptions::default()).await;
    let passwords = crate::support::accounts::Passwords::new();
    let inventory = InventoryFile::new(&[("vault", server.app_target(&passwords).render(), "")]);
    let (_serve, address) = start_serve(&inventory.path, &[]);
    let (status, body) =
        blocking(move || get(address, "/probe?target=vault&profile=passwordstate")).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    assert_eq!(status, 200, "{body}");
    let finished = value(
        &body,
        r#"mssql_preflight_last_full_backup_timestamp_seconds{target="vault",database="PassTrix"}"#,
    )
    .unwrap_or_else(|| panic!("no backup timestamp: {body}"));
    let expected = now - 259_200.0;
    assert!(
        (finished - expected).abs() < 120.0,
        "{finished} is not 72 hours before now ({expected})"
    );
    assert_eq!(
        value(
            &body,
            r#"mssql_preflight_check_status{target="vault",check="sql.backup.recent",status="warn"}"#
        ),
        Some(1.0)
    );
    // The target logged in with its password: no answer shows it.
    let (_, own) = blocking(move || get(address, "/metrics")).await;
    let (_, index) = blocking(move || get(address, "/")).await;
    for answer in [&body, &own, &index] {
        assert!(!answer.contains("Pmp-Test-Passw0rd!"), "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_probe_past_the_request_timeout_is_answered_503_and_its_result_is_cached() {
    let hangs = TestServer::start_emulated("hang-after-prelogin").await;
    let inventory = hanging_targets(&hangs, &["hangs"]);
    // The probe takes up to its 2-second deadline; the request is answered
    // after 200 ms.
    let (_serve, address) = start_serve(
        &inventory.path,
        &[
            "--profile",
            "pmp",
            "--min-interval",
            "1h",
            "--request-timeout",
            "200ms",
        ],
    );
    let (status, body) = blocking(move || get(address, "/probe?target=hangs")).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("it goes on and its result is cached"),
        "{body}"
    );
    let (_, own) = blocking(move || get(address, "/metrics")).await;
    assert_eq!(
        value(
            &own,
            r#"mssql_preflight_exporter_probe_timeouts_total{target="hangs"}"#
        ),
        Some(1.0),
        "{own}"
    );

    // The probe went on: once it has finished, the next scrape gets its
    // result from the cache instead of starting another.
    let started = Instant::now();
    while value(
        &blocking(move || get(address, "/metrics")).await.1,
        r#"mssql_preflight_exporter_probes_total{target="hangs"}"#,
    ) != Some(1.0)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the probe never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = blocking(move || get(address, "/probe?target=hangs")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        value(
            &body,
            r#"mssql_preflight_verdict{target="hangs",verdict="incomplete"}"#
        ),
        Some(1.0),
        "{body}"
    );
    let (_, own) = blocking(move || get(address, "/metrics")).await;
    for (series, expected) in [
        (
            r#"mssql_preflight_exporter_probes_total{target="hangs"}"#,
            1.0,
        ),
        (
            r#"mssql_preflight_exporter_cached_answers_total{target="hangs"}"#,
            1.0,
        ),
        (
            r#"mssql_preflight_exporter_probe_timeouts_total{target="hangs"}"#,
            1.0,
        ),
    ] {
        assert_eq!(value(&own, series), Some(expected), "{series}: {own}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_more_probes_run_at_once_than_max_probes() {
    let hangs = TestServer::start_emulated("hang-after-prelogin").await;
    let names = ["one", "two", "three", "four", "five"];
    let inventory = hanging_targets(&hangs, &names);
    let (_serve, address) = start_serve(
        &inventory.path,
        &[
            "--profile",
            "pmp",
            "--min-interval",
            "1h",
            "--max-probes",
            "2",
        ],
    );
    // Five requests at once, for five targets: they do not wait for each
    // other's cache, only for a probe slot.
    let requests =
        names.map(|name| blocking(move || get(address, &format!("/probe?target={name}"))));
    for (status, body) in futures::future::join_all(requests).await {
        assert_eq!(status, 200, "{body}");
    }
    let (_, own) = blocking(move || get(address, "/metrics")).await;
    for name in names {
        let series = format!(r#"mssql_preflight_exporter_probes_total{{target="{name}"}}"#);
        assert_eq!(value(&own, &series), Some(1.0), "{series}: {own}");
    }
    // Each probe holds its slot until its target's deadline: two ran at
    // once, never three.
    for (series, expected) in [
        ("mssql_preflight_exporter_max_probes", 2.0),
        ("mssql_preflight_exporter_probes_running_peak", 2.0),
        ("mssql_preflight_exporter_probes_running", 0.0),
        ("mssql_preflight_exporter_probes_waiting", 0.0),
    ] {
        assert_eq!(value(&own, series), Some(expected), "{series}: {own}");
    }
    // The emulator saw the probes' connections: each probe reached it.
    assert!(hangs.emulator().connection_count() >= names.len());
    check_metrics(&own);
}
