//! Certificate verdicts proven against independent verifiers (issue 13).
//! Every chain of the corpus (support/cert_corpus.rs) is served by the
//! emulator and judged over TDS end to end, and judged by `openssl verify`
//! (Debian's OpenSSL, as ODBC and FreeTDS use it) and by Java PKIX (the
//! trust manager of PMP's JDBC driver, tests/java/PkixVerdict.java). Where
//! the tool's verdict differs from either, docs/certificates.md must list
//! the difference and its reason; a new difference fails. The observed
//! problems of the issue each get their own test below.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use mssql_emulator::{EmulatorOptions, ServedCertificate};
use mssql_preflight::finding::Status;
use mssql_preflight::report::Report;

use crate::support::cert_corpus::{self, Case};
use crate::support::emulator::{TargetToml, TestServer};
use crate::support::{result, run};

/// The tls.cert.* checks whose failure means a client refuses the chain;
/// tls.cert.profile only lints.
const VERDICT_CHECKS: [&str; 6] = [
    "tls.cert.hostname",
    "tls.cert.chain",
    "tls.cert.validity",
    "tls.cert.key",
    "tls.cert.signature",
    "tls.cert.usage",
];

/// The emulator serving `case`, and the tool's report on it.
async fn judge_served(case: &Case) -> Report {
    let server = match (&case.scenario, &case.key_pkcs8) {
        (Some(scenario), _) => TestServer::start_emulated(scenario).await,
        (None, Some(key)) => {
            let options = EmulatorOptions {
                certificate: Some(ServedCertificate {
                    chain: case.chain.clone(),
                    key_pkcs8: key.clone(),
                }),
                ..EmulatorOptions::default()
            };
            TestServer::start_with("sql2022-healthy", options).await
        }
        (None, None) => panic!("{}: neither a scenario nor a key", case.name),
    };
    let served: Vec<Vec<u8>> = server.emulator().served_chain_der();
    assert_eq!(
        served, case.chain,
        "{}: the emulator serves the case's chain",
        case.name
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, cert_corpus::pem_of(&case.anchors)).expect("write the CA file");
    let toml = TargetToml {
        ca_file: Some(ca_file),
        expected_name: Some(case.host.clone()),
        ..server.target()
    }
    .render();
    run(&toml, &["tls.cert.*"]).await
}

/// A verifier's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accept,
    Refuse,
    /// The tool only: it could not judge (`error`).
    Undecided,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Refuse => "refuse",
            Verdict::Undecided => "error",
        }
    }
}

fn tool_verdict(report: &Report) -> (Verdict, String) {
    let mut verdict = Verdict::Accept;
    let mut why = Vec::new();
    for id in VERDICT_CHECKS {
        let r = result(report, id);
        match r.status {
            Status::Fail => verdict = Verdict::Refuse,
            Status::Error if verdict == Verdict::Accept => verdict = Verdict::Undecided,
            _ => {}
        }
        if r.status != Status::Pass {
            why.push(format!("{id}: {} {}", r.status, r.message));
        }
    }
    (verdict, why.join("; "))
}

/// Writes the files both verifiers read: chain.pem, anchors.pem, leaf.pem,
/// untrusted.pem, host.txt.
fn write_case(dir: &Path, case: &Case) -> PathBuf {
    let path = dir.join(case.name);
    std::fs::create_dir_all(&path).expect("case directory");
    let write = |file: &str, text: String| std::fs::write(path.join(file), text).expect("write");
    write("chain.pem", cert_corpus::pem_of(&case.chain));
    write("anchors.pem", cert_corpus::pem_of(&case.anchors));
    write("leaf.pem", cert_corpus::pem_of(&case.chain[..1]));
    write("untrusted.pem", cert_corpus::pem_of(&case.chain[1..]));
    write("host.txt", case.host.clone());
    path
}

/// `openssl verify` as a TLS client on Debian judges a server: purpose
/// sslserver, the host name, and security level 2 (Debian's default, so
/// what libssl clients such as ODBC Driver 18 and FreeTDS enforce).
fn openssl_verdict(dir: &Path, case: &Case) -> (Verdict, String) {
    let mut command = Command::new("openssl");
    command
        .arg("verify")
        .args([
            "-no-CApath",
            "-no-CAstore",
            "-purpose",
            "sslserver",
            "-auth_level",
            "2",
        ])
        .arg("-CAfile")
        .arg(dir.join("anchors.pem"));
    if case.chain.len() > 1 {
        command.arg("-untrusted").arg(dir.join("untrusted.pem"));
    }
    if case.host.parse::<std::net::IpAddr>().is_ok() {
        command.args(["-verify_ip", &case.host]);
    } else {
        command.args(["-verify_hostname", &case.host]);
    }
    let output = command
        .arg(dir.join("leaf.pem"))
        .output()
        .expect("openssl runs (apt-get install openssl; listed in .ci/apt-packages.txt)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
    .replace('\n', " ");
    let verdict = if output.status.success() {
        Verdict::Accept
    } else {
        Verdict::Refuse
    };
    (verdict, text)
}

/// Java PKIX's verdicts, one JVM for every case.
fn java_verdicts(dirs: &[PathBuf]) -> BTreeMap<PathBuf, (Verdict, String)> {
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/PkixVerdict.java");
    let output = Command::new("java")
        .args(["--add-exports", "java.base/sun.security.util=ALL-UNNAMED"])
        .arg(program)
        .args(dirs)
        .output()
        .expect(
            "java runs (apt-get install openjdk-17-jre-headless; listed in .ci/apt-packages.txt)",
        );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "PkixVerdict failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .filter_map(|line| {
            let (dir, rest) = line.split_once(' ')?;
            let (word, why) = rest.split_once(' ').unwrap_or((rest, ""));
            let verdict = if word == "ACCEPT" {
                Verdict::Accept
            } else {
                Verdict::Refuse
            };
            Some((PathBuf::from(dir), (verdict, why.to_owned())))
        })
        .collect()
}

/// The documented differences: case → (tool, OpenSSL, Java) verdict words.
fn documented_differences() -> BTreeMap<String, [String; 3]> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/certificates.md"))
            .expect("docs/certificates.md");
    let table = doc
        .split("## Where this tool differs from OpenSSL or Java")
        .nth(1)
        .expect("docs/certificates.md has the section of differences");
    table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .filter_map(|line| {
            let cells: Vec<String> = line
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect();
            (cells.len() >= 6).then(|| {
                (
                    cells[1].clone(),
                    [cells[2].clone(), cells[3].clone(), cells[4].clone()],
                )
            })
        })
        .collect()
}

struct Observed {
    tool: (Verdict, String),
    openssl: (Verdict, String),
    java: (Verdict, String),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_case_agrees_with_openssl_and_java_or_is_a_documented_difference() {
    let corpus = cert_corpus::corpus();
    let dir = tempfile::tempdir().expect("temporary directory");
    let dirs: Vec<PathBuf> = corpus.iter().map(|c| write_case(dir.path(), c)).collect();
    let java = tokio::task::spawn_blocking({
        let dirs = dirs.clone();
        move || java_verdicts(&dirs)
    });
    let mut observed = BTreeMap::new();
    for (case, case_dir) in corpus.iter().zip(&dirs) {
        let report = judge_served(case).await;
        observed.insert(
            case.name,
            Observed {
                tool: tool_verdict(&report),
                openssl: openssl_verdict(case_dir, case),
                java: (Verdict::Refuse, String::new()),
            },
        );
    }
    let java = java.await.expect("java task");
    for (case, case_dir) in corpus.iter().zip(&dirs) {
        let verdict = java
            .get(case_dir)
            .unwrap_or_else(|| panic!("no Java verdict for {}", case.name));
        observed.get_mut(case.name).expect("observed").java = verdict.clone();
    }

    let documented = documented_differences();
    let mut problems = Vec::new();
    let mut table = String::new();
    let (mut agree_openssl, mut agree_java) = (0, 0);
    for (name, seen) in &observed {
        let words = [
            seen.tool.0.word(),
            seen.openssl.0.word(),
            seen.java.0.word(),
        ];
        table.push_str(&format!(
            "| {name} | {} | {} | {} |\n    tool: {}\n    openssl: {}\n    java: {}\n",
            words[0], words[1], words[2], seen.tool.1, seen.openssl.1, seen.java.1
        ));
        agree_openssl += usize::from(seen.tool.0 == seen.openssl.0);
        agree_java += usize::from(seen.tool.0 == seen.java.0);
        let differs = seen.tool.0 != seen.openssl.0 || seen.tool.0 != seen.java.0;
        match (differs, documented.get(*name)) {
            (true, None) => problems.push(format!(
                "{name}: tool {}, OpenSSL {}, Java {}, and docs/certificates.md does not list it",
                words[0], words[1], words[2]
            )),
            (true, Some(row)) if row.iter().map(String::as_str).ne(words) => problems.push(
                format!("{name}: observed {words:?}, docs/certificates.md says {row:?}"),
            ),
            (false, Some(_)) => problems.push(format!(
                "{name}: all three agree, but docs/certificates.md lists it as a difference"
            )),
            _ => {}
        }
        if seen.openssl.0 == Verdict::Accept
            && seen.java.0 == Verdict::Accept
            && seen.tool.0 != Verdict::Accept
        {
            problems.push(format!(
                "{name}: a false alarm — OpenSSL and Java accept, the tool says {}",
                seen.tool.1
            ));
        }
    }
    for name in documented.keys() {
        if !observed.contains_key(name.as_str()) {
            problems.push(format!(
                "docs/certificates.md lists `{name}`, which is no corpus case"
            ));
        }
    }
    println!(
        "{} cases; the tool agrees with OpenSSL on {agree_openssl} and with Java on {agree_java}\n{table}",
        observed.len()
    );
    assert!(problems.is_empty(), "{}\n\n{table}", problems.join("\n"));
}
