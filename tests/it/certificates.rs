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

/// The tls.cert.* checks whose failure means a client refuses the chain
/// (tls.cert.profile only lints): the last six of tls.rs's list.
const VERDICT_CHECKS: &[&str] = crate::tls::CHECKS.split_at(5).1;

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
    run(&toml, &["tls.*"]).await
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
    for &id in VERDICT_CHECKS {
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
            && seen.tool.0 == Verdict::Refuse
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

/// The corpus case `name`, served and judged.
async fn served(name: &str) -> Report {
    let corpus = cert_corpus::corpus();
    let case = corpus
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no corpus case `{name}`"));
    judge_served(case).await
}

#[track_caller]
fn assert_status(report: &Report, id: &str, status: Status) -> String {
    let r = result(report, id);
    assert_eq!(r.status, status, "{id}: {}", r.message);
    r.message.clone()
}

#[tokio::test]
async fn an_expired_cross_signed_extra_is_ignored_and_named_as_an_extra() {
    let report = served("cross-signed-expired-extra").await;
    assert_status(&report, "tls.cert.validity", Status::Pass);
    let chain = assert_status(&report, "tls.cert.chain", Status::Warn);
    assert!(chain.contains("leads to `CN=Corpus New Root"), "{chain}");
    assert!(
        chain.contains("the server also sends `CN=Corpus New Root, O=mssql-preflight corpus` (expired on 1988-01-01"),
        "{chain}"
    );
    assert!(
        chain.contains("which clients ignore; remove it from the chain"),
        "{chain}"
    );
    let evidence = &result(&report, "tls.cert.chain").evidence;
    assert_eq!(
        evidence["anchor"],
        "CN=Corpus New Root, O=mssql-preflight corpus"
    );
    assert_eq!(evidence["extra_certificates"][0]["position"], 3);
}

#[tokio::test]
async fn a_valid_cross_signed_alternative_is_not_complained_about() {
    let report = served("cross-signed-both-valid").await;
    assert_status(&report, "tls.cert.chain", Status::Pass);
    let report = served("cross-signed-old-root-trusted").await;
    let chain = assert_status(&report, "tls.cert.chain", Status::Pass);
    assert!(chain.contains("leads to `CN=Corpus Old Root"), "{chain}");
}

#[tokio::test]
async fn an_expired_root_in_the_ca_file_fails_validity_with_the_import_step() {
    let report = served("expired-root-in-ca-file").await;
    let validity = assert_status(&report, "tls.cert.validity", Status::Fail);
    assert!(
        validity.contains("the trusted root `CN=Corpus Root CA"),
        "{validity}"
    );
    assert!(
        validity.contains("Java (PMP's JDBC driver) does not check"),
        "{validity}"
    );
    let remediation = result(&report, "tls.cert.validity")
        .remediation
        .clone()
        .unwrap_or_default();
    assert!(
        remediation.contains("importCert.bat <root.cer>"),
        "{remediation}"
    );
    assert!(remediation.contains("[tls] ca_file"), "{remediation}");
    // Trust itself holds: the chain leads to that root; its evidence says
    // which drivers refuse it.
    assert_status(&report, "tls.cert.chain", Status::Pass);
    let clients = result(&report, "tls.cert.chain").evidence["clients"].to_string();
    assert!(
        clients.contains("OpenSSL (ODBC Driver 18 and FreeTDS on Linux) refuses it; Java (PMP's JDBC driver) accepts it"),
        "{clients}"
    );
}

#[tokio::test]
async fn a_trusted_root_with_a_1024_bit_key_fails_the_key_check_with_the_import_step() {
    let report = served("rsa-1024-root").await;
    let key = assert_status(&report, "tls.cert.key", Status::Fail);
    assert!(
        key.contains("the trusted root `CN=Corpus Legacy Root")
            && key.contains("RSA with 1024 bits"),
        "{key}"
    );
    let remediation = result(&report, "tls.cert.key")
        .remediation
        .clone()
        .unwrap_or_default();
    assert!(
        remediation.contains("importCert.bat <root.cer>"),
        "the fix replaces the root, not the server's certificate: {remediation}"
    );
    // The leaf's own key is fine, and the chain does lead to that root.
    assert_status(&report, "tls.cert.chain", Status::Pass);
}

#[tokio::test]
async fn a_root_that_signs_itself_with_sha1_is_a_lint_warning_not_a_failure() {
    let report = served("sha1-self-signed-root").await;
    // No verifier checks a trust anchor's signature on itself.
    assert_status(&report, "tls.cert.signature", Status::Pass);
    assert_status(&report, "tls.cert.chain", Status::Pass);
    let profile = assert_status(&report, "tls.cert.profile", Status::Warn);
    assert!(
        profile.contains("the root signs itself with sha1WithRSAEncryption")
            && profile.contains("CA/B Forum BR §7.1.3.2"),
        "{profile}"
    );
}

#[tokio::test]
async fn a_self_issued_intermediate_of_a_key_rollover_is_trusted() {
    for name in ["self-issued-intermediate", "name-constraints-self-issued"] {
        let report = served(name).await;
        let chain = assert_status(&report, "tls.cert.chain", Status::Pass);
        assert!(
            chain.contains("leads to `CN=Corpus Rollover Root"),
            "{name}: {chain}"
        );
        let path = &result(&report, "tls.cert.chain").evidence["path"];
        assert_eq!(path.as_array().map(Vec::len), Some(4), "{name}: {path}");
    }
}

#[tokio::test]
async fn chains_of_seven_and_eight_intermediates_are_judged_like_any_other() {
    for name in ["long-chain-7", "long-chain-8"] {
        let report = served(name).await;
        for &id in VERDICT_CHECKS {
            assert_status(&report, id, Status::Pass);
        }
    }
    // More than Java's TLS client takes in one Certificate message: said,
    // not failed.
    let report = served("long-chain-11").await;
    assert_status(&report, "tls.cert.chain", Status::Pass);
    let clients = result(&report, "tls.cert.chain").evidence["clients"].to_string();
    assert!(
        clients.contains("jdk.tls.maxCertificateChainLength"),
        "{clients}"
    );
}

#[tokio::test]
async fn a_root_with_an_empty_subject_is_named_by_its_fingerprint() {
    let report = served("root-with-empty-subject").await;
    let chain = result(&report, "tls.cert.chain");
    assert!(!chain.message.contains("``"), "{}", chain.message);
    assert!(
        chain.evidence["anchor"]
            .as_str()
            .is_some_and(|a| a.starts_with("(empty subject, SHA-256 ")),
        "{:?}",
        chain.evidence["anchor"]
    );
    // Java refuses a certificate with an empty issuer name, so the chain
    // fails, and says who refuses it.
    assert_eq!(chain.status, Status::Fail, "{}", chain.message);
    assert!(
        chain.message.contains("empty issuer name"),
        "{}",
        chain.message
    );
    assert!(
        chain
            .message
            .contains("Java (PMP's JDBC driver) refuses it"),
        "{}",
        chain.message
    );
}

#[tokio::test]
async fn the_profile_lint_names_each_breach_with_its_section() {
    let expected = [
        (
            "leaf-without-aki",
            "no authority key identifier",
            "RFC 5280 §4.2.1.1",
        ),
        (
            "intermediate-without-ski",
            "without a subject key identifier",
            "RFC 5280 §4.2.1.2",
        ),
        (
            "critical-aki",
            "authority key identifier is marked critical",
            "RFC 5280 §4.2.1.1",
        ),
        (
            "critical-ski",
            "subject key identifier is marked critical",
            "RFC 5280 §4.2.1.2",
        ),
        (
            "root-without-basic-constraints",
            "without basicConstraints",
            "RFC 5280 §4.2.1.9",
        ),
        (
            "root-basic-constraints-not-critical",
            "are not marked critical",
            "RFC 5280 §4.2.1.9",
        ),
        (
            "underscore-in-dns-san",
            "`sql_01.corp.example.com` contains an underscore",
            "RFC 5280 §4.2.1.6",
        ),
        (
            "keycertsign-on-leaf",
            "keyCertSign in the key usage",
            "RFC 5280 §4.2.1.3",
        ),
        (
            "cn-not-among-sans",
            "Common Name `sql01` is not among",
            "BR §7.1.4.3",
        ),
        (
            "root-unknown-critical-extension",
            "unknown extension 1.3.6.1.4.1.55555.1",
            "RFC 5280 §4.2",
        ),
        (
            "root-with-empty-subject",
            "the issuer name is empty",
            "RFC 5280 §4.1.2.4",
        ),
    ];
    let corpus = cert_corpus::corpus();
    for (name, rule, section) in expected {
        let case = corpus
            .iter()
            .find(|c| c.name == name)
            .expect("a corpus case");
        let report = judge_served(case).await;
        let profile = assert_status(&report, "tls.cert.profile", Status::Warn);
        assert!(profile.contains(rule), "{name}: {profile}");
        assert!(profile.contains(section), "{name}: {profile}");
        let remediation = result(&report, "tls.cert.profile")
            .remediation
            .clone()
            .unwrap_or_default();
        assert!(
            remediation.contains("Ask the CA to issue instead"),
            "{name}: {remediation}"
        );
    }
    let valid = corpus
        .iter()
        .find(|c| c.name == "valid")
        .expect("the valid case");
    assert_status(&judge_served(valid).await, "tls.cert.profile", Status::Pass);
}

#[tokio::test]
async fn a_chain_longer_than_this_tool_judges_is_an_error_not_a_failure() {
    let case = cert_corpus::long_chain("long-chain-40", 40);
    let report = judge_served(&case).await;
    let chain = assert_status(&report, "tls.cert.chain", Status::Error);
    assert!(
        chain.contains("this tool cannot judge chains longer than 32 certificates"),
        "{chain}"
    );
    assert!(chain.contains("OpenSSL accepts up to 100"), "{chain}");
    for &id in VERDICT_CHECKS {
        assert_ne!(result(&report, id).status, Status::Fail, "{id}");
    }
}

#[tokio::test]
async fn a_certificate_over_64_kb_is_beyond_this_tool_not_the_servers_fault() {
    // A leaf carrying a 70 KB non-critical extension: OpenSSL reads it.
    let root = cert_corpus::new_root("Corpus Root CA", |_| {});
    let issuing = cert_corpus::ca(&root, "Corpus Issuing CA", |_| {});
    let (leaf, key) = cert_corpus::leaf(&issuing, &[cert_corpus::HOST], |p| {
        let mut content = vec![0x04, 0x83, 0x01, 0x11, 0x70];
        content.resize(content.len() + 70_000, 0x41);
        p.custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 55555, 2],
                content,
            ));
    });
    assert!(leaf.len() > 65_536);
    let case = Case {
        name: "certificate-over-64-kb",
        chain: vec![leaf, issuing.der.clone()],
        anchors: vec![root.der.clone()],
        host: cert_corpus::HOST.to_owned(),
        key_pkcs8: Some(key),
        scenario: None,
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let case_dir = write_case(dir.path(), &case);
    assert_eq!(openssl_verdict(&case_dir, &case).0, Verdict::Accept);
    let report = judge_served(&case).await;
    let handshake = assert_status(&report, "tls.handshake", Status::Error);
    assert!(handshake.contains("more than 64 KB"), "{handshake}");
    for r in report.results.iter().filter(|r| r.id.starts_with("tls.")) {
        assert_ne!(r.status, Status::Fail, "{}: {}", r.id, r.message);
    }
}
