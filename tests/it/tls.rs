//! tls.* checks against the emulator: one personality per verdict, with the
//! status of every tls.* check asserted for each; the chain the tool reports
//! compared with the one served (and with nmap's view of it); faults that
//! must end in `error` or `fail` within the timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mssql_preflight::context::{RunContext, RunSettings};
use mssql_preflight::facts::tls::{LoginTrust, PresentedChain};
use mssql_preflight::finding::Status;
use mssql_preflight::params::Params;
use mssql_preflight::report::Report;

use crate::support::emulator::{TargetToml, TestServer};
use crate::support::{TargetFile, assert_status, result, run};

/// Every tls.* check, in the order of the expectation strings below.
pub(crate) const CHECKS: [&str; 11] = [
    "tls.encryption.available",
    "tls.encryption.forced",
    "tls.handshake",
    "tls.protocol",
    "tls.strict",
    "tls.cert.hostname",
    "tls.cert.chain",
    "tls.cert.validity",
    "tls.cert.key",
    "tls.cert.signature",
    "tls.cert.usage",
];

fn status(letter: char) -> Status {
    match letter {
        'P' => Status::Pass,
        'W' => Status::Warn,
        'F' => Status::Fail,
        'S' => Status::Skip,
        'E' => Status::Error,
        other => panic!("no status `{other}`"),
    }
}

/// Asserts the status of every tls.* check; `expected` has one letter per
/// check of `CHECKS` (P pass, W warn, F fail, S skip, E error).
#[track_caller]
fn assert_statuses(report: &Report, expected: &str) {
    let letters: Vec<char> = expected.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(letters.len(), CHECKS.len(), "one letter per check");
    let mismatches: Vec<String> = CHECKS
        .iter()
        .zip(&letters)
        .filter_map(|(id, letter)| {
            let r = result(report, id);
            (r.status != status(*letter)).then(|| {
                format!(
                    "{id}: expected {}, got {} ({})",
                    status(*letter),
                    r.status,
                    r.message
                )
            })
        })
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

async fn verdicts(toml: &str) -> Report {
    run(toml, &["tls.*"]).await
}

/// Starts `scenario`, runs every tls.* check with the default target file,
/// and asserts their statuses.
async fn scenario(name: &str, expected: &str) -> Report {
    expect(&TestServer::start(name).await, expected).await
}

async fn expect(server: &TestServer, expected: &str) -> Report {
    let report = verdicts(&server.toml()).await;
    assert_statuses(&report, expected);
    report
}

//                          avail forced hs proto strict  host chain valid key sig usage
const HEALTHY: &str = "      P     P    P    P     P       P    P     P    P   P    P";

#[tokio::test]
async fn sql2022_healthy_passes_everything() {
    let report = scenario("sql2022-healthy", HEALTHY).await;
    let hs = result(&report, "tls.handshake");
    assert!(
        hs.evidence["cipher_suite"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{hs:#?}"
    );
    let available = result(&report, "tls.encryption.available");
    assert_eq!(available.evidence["product"], "SQL Server 2022");
    for id in CHECKS.iter().filter(|id| id.starts_with("tls.cert.")) {
        let r = result(&report, id);
        for key in [
            "subject",
            "subject_alternative_names",
            "issuer",
            "serial",
            "not_before",
            "not_after",
            "sha256_fingerprint",
        ] {
            assert!(
                r.evidence.contains_key(key),
                "{id} lacks evidence `{key}`: {r:#?}"
            );
        }
    }
}

#[tokio::test]
async fn sql2019_does_not_offer_tds8_strict() {
    let report = scenario("sql2019-healthy", "P P P P S P P P P P P").await;
    let strict = result(&report, "tls.strict");
    assert!(
        strict.message.contains("does not offer TDS 8 strict"),
        "{}",
        strict.message
    );
}

#[tokio::test]
async fn a_strict_only_server_is_encrypted_and_judged_through_tds8() {
    let report = scenario("tds8-strict", HEALTHY).await;
    let available = result(&report, "tls.encryption.available");
    assert!(
        available.message.contains("only TDS 8 strict"),
        "{}",
        available.message
    );
    assert_eq!(
        result(&report, "tls.cert.chain").evidence["chain_source"],
        "tds8-strict"
    );
}

#[tokio::test]
async fn encryption_not_forced_warns() {
    // The compose server for not-forced is SQL Server 2019, without TDS 8.
    let server = TestServer::start_emulated("not-forced").await;
    let report = expect(&server, "P W P P P P P P P P P").await;
    let forced = result(&report, "tls.encryption.forced");
    let fix = forced.remediation.as_deref().unwrap_or_default();
    assert!(fix.contains("Force Encryption = Yes"), "{forced:#?}");
    // Only its own step: choosing a certificate is another check's fix.
    assert!(!fix.contains("Certificate tab"), "{fix}");
}

#[tokio::test]
async fn no_encryption_fails_and_skips_everything_else() {
    let report = scenario("no-encryption", "F S S S S S S S S S S").await;
    let available = result(&report, "tls.encryption.available");
    assert!(
        available.message.contains("ENCRYPT_NOT_SUP"),
        "{}",
        available.message
    );
}

#[tokio::test]
async fn a_certificate_for_another_host_fails_the_hostname() {
    let report = scenario("cn-mismatch", "P P P P P F P P P P P").await;
    let host = result(&report, "tls.cert.hostname");
    assert!(
        host.message
            .contains("not issued for `sql01.corp.example.com`"),
        "{}",
        host.message
    );
    // The fix is a new certificate for the name, and only that: encryption
    // and trusting the CA are other checks' steps.
    let fix = host.remediation.as_deref().unwrap_or_default();
    assert!(fix.contains("Certificate tab"), "{fix}");
    for other in ["Force Encryption", "importCert.bat"] {
        assert!(!fix.contains(other), "the fix names `{other}`: {fix}");
    }
}

#[tokio::test]
async fn an_ip_target_is_told_which_fqdn_the_certificate_expects() {
    let server = TestServer::start_emulated("cn-mismatch").await;
    let report = verdicts(&server.target().without_expected_name().render()).await;
    let host = assert_status(&report, "tls.cert.hostname", Status::Fail);
    assert!(
        host.message.contains("expects `sql-old.corp.example.com`"),
        "{}",
        host.message
    );
}

#[tokio::test]
async fn an_ip_target_matches_an_ip_address_entry() {
    let server = TestServer::start("sql2022-healthy").await;
    let report = verdicts(&server.target().without_expected_name().render()).await;
    let host = assert_status(&report, "tls.cert.hostname", Status::Pass);
    assert!(host.message.contains("IP:127.0.0.1"), "{}", host.message);
}

#[tokio::test]
async fn a_wildcard_certificate_matches_one_label() {
    scenario("wildcard", HEALTHY).await;
}

#[tokio::test]
async fn a_name_only_in_the_common_name_warns() {
    let report = scenario("cn-only", "P P P P P W P P P P P").await;
    let host = result(&report, "tls.cert.hostname");
    assert!(
        host.message.contains("only the Common Name"),
        "{}",
        host.message
    );
}

#[tokio::test]
async fn names_only_in_the_san_pass() {
    scenario("san-only", HEALTHY).await;
}

#[tokio::test]
async fn a_self_signed_certificate_fails_the_chain() {
    let report = scenario("self-signed", "P P P P P P F P P P P").await;
    let chain = result(&report, "tls.cert.chain");
    assert!(chain.message.contains("self-signed"), "{}", chain.message);
    assert!(
        chain
            .remediation
            .as_deref()
            .unwrap_or_default()
            .contains("importCert.bat"),
        "{chain:#?}"
    );
}

#[tokio::test]
async fn sql_servers_fallback_certificate_is_named() {
    let report = scenario("self-signed-fallback", "P P P P P F F P P P P").await;
    let chain = result(&report, "tls.cert.chain");
    assert!(
        chain.message.contains("SSL_Self_Signed_Fallback"),
        "{}",
        chain.message
    );
    assert!(
        chain.message.contains("no certificate is configured"),
        "{}",
        chain.message
    );
    let remediation = chain.remediation.as_deref().unwrap_or_default();
    for step in [
        "SQL Server Configuration Manager",
        "Certificate tab",
        "importCert.bat",
    ] {
        assert!(
            remediation.contains(step),
            "remediation lacks `{step}`: {remediation}"
        );
    }
    assert!(
        !remediation.contains("Force Encryption"),
        "forcing encryption is tls.encryption.forced's step: {remediation}"
    );
}

#[tokio::test]
async fn a_missing_intermediate_is_an_incomplete_chain() {
    let report = scenario("missing-intermediate", "P P P P P P F P P P P").await;
    let chain = result(&report, "tls.cert.chain");
    assert!(chain.message.contains("incomplete"), "{}", chain.message);
    assert!(
        chain.message.contains("mssql-preflight Test Issuing CA"),
        "{}",
        chain.message
    );
    assert!(
        chain
            .remediation
            .as_deref()
            .unwrap_or_default()
            .contains("Intermediate Certification Authorities")
    );
}

#[tokio::test]
async fn without_a_ca_file_the_test_root_is_not_trusted() {
    let server = TestServer::start_emulated("sql2022-healthy").await;
    let report = verdicts(&server.target().without_ca_file().render()).await;
    let chain = assert_status(&report, "tls.cert.chain", Status::Fail);
    assert!(
        chain.message.contains("mssql-preflight Test Root CA"),
        "{}",
        chain.message
    );
    assert!(
        chain.message.contains("not among the trusted"),
        "{}",
        chain.message
    );
}

#[tokio::test]
async fn an_expired_certificate_fails_validity_only() {
    let report = scenario("expired", "P P P P P P P F P P P").await;
    let message = &result(&report, "tls.cert.validity").message;
    assert!(
        message.contains("expired on") && message.contains(" days ago)"),
        "{message}"
    );
}

#[tokio::test]
async fn a_certificate_not_yet_valid_fails_validity() {
    let report = scenario("not-yet-valid", "P P P P P P P F P P P").await;
    assert!(
        result(&report, "tls.cert.validity")
            .message
            .contains("not valid until")
    );
}

#[tokio::test]
async fn a_certificate_expiring_within_warn_days_warns() {
    let server = TestServer::start_emulated("sql2022-healthy").await;
    let toml = server
        .target()
        .with("[checks.\"tls.cert.validity\"]\nwarn_days = 400")
        .render();
    let report = verdicts(&toml).await;
    let validity = assert_status(&report, "tls.cert.validity", Status::Warn);
    assert!(
        validity.message.contains("expires on") && validity.message.contains(" (in "),
        "{}",
        validity.message
    );
}

#[tokio::test]
async fn a_1024_bit_key_fails() {
    let report = scenario("rsa-1024", "P P P P P P P P F P P").await;
    assert!(
        result(&report, "tls.cert.key")
            .message
            .contains("RSA with 1024 bits")
    );
}

#[tokio::test]
async fn a_sha1_signature_fails() {
    let report = scenario("sha1-signature", "P P P P P P P P P F P").await;
    assert!(
        result(&report, "tls.cert.signature")
            .message
            .contains("sha1WithRSAEncryption")
    );
}

#[tokio::test]
async fn a_certificate_without_server_auth_fails_usage() {
    let report = scenario("no-server-auth-eku", "P P P P P P P P P P F").await;
    assert!(
        result(&report, "tls.cert.usage")
            .message
            .contains("lacks serverAuth")
    );
}

#[tokio::test]
async fn a_server_that_speaks_only_tls_1_0_is_named_and_its_certificate_still_judged() {
    let report = scenario("tls10-only", "P P F F S P P P P P P").await;
    let protocol = result(&report, "tls.protocol");
    assert!(
        protocol.message.contains("offers only TLS 1.0"),
        "{}",
        protocol.message
    );
    assert_eq!(
        protocol.evidence["cipher_suite"],
        "TLS_RSA_WITH_AES_128_CBC_SHA"
    );
    let hs = result(&report, "tls.handshake");
    assert!(hs.message.contains("speaks only TLS 1.0"), "{}", hs.message);
    assert!(
        hs.remediation
            .as_deref()
            .unwrap_or_default()
            .contains("SCHANNEL"),
        "{hs:#?}"
    );
    assert_eq!(
        result(&report, "tls.cert.chain").evidence["chain_source"],
        "legacy-handshake"
    );
}

/// A context of its own, to read facts the checks leave behind.
fn context(toml: &str) -> (TargetFile, RunContext) {
    let file = TargetFile::new(toml);
    let target = Arc::new(file.load());
    let settings = RunSettings {
        timeout: Duration::from_secs(2),
        ..RunSettings::default()
    };
    (file, RunContext::new(target, settings, Params::default()))
}

#[tokio::test]
async fn the_reported_chain_is_the_served_chain_byte_for_byte() {
    let server = TestServer::start_emulated("sql2022-healthy").await;
    let (_file, ctx) = context(&server.toml());
    let chain = ctx.fact::<PresentedChain>().await.expect("a chain");
    let reported: Vec<Vec<u8>> = chain.chain_der.iter().map(|c| c.to_vec()).collect();
    assert_eq!(reported, server.emulator().served_chain_der());
    assert_eq!(chain.chain_pem, server.emulator().served_chain_pem());
    assert_eq!(chain.descriptions.len(), 2);
    assert!(
        chain.descriptions[0].contains("Subject:             CN=sql01.corp.example.com"),
        "{}",
        chain.descriptions[0]
    );
    assert!(chain.descriptions[0].contains(&chain.certificates[0].sha256_fingerprint));
}

#[tokio::test]
async fn login_trust_is_given_only_to_a_verified_certificate_for_the_name() {
    let healthy = TestServer::start_emulated("sql2022-healthy").await;
    let (_file, ctx) = context(&healthy.toml());
    let trust = ctx.fact::<LoginTrust>().await.unwrap();
    assert!(trust.verified, "{trust:?}");
    assert_eq!(trust.reason, "");

    let (_file, ctx) = context(&healthy.target().without_ca_file().render());
    let trust = ctx.fact::<LoginTrust>().await.unwrap();
    assert!(!trust.verified);
    assert!(
        trust.reason.contains("not among the trusted"),
        "{}",
        trust.reason
    );

    let mismatch = TestServer::start_emulated("cn-mismatch").await;
    let (_file, ctx) = context(&mismatch.toml());
    let trust = ctx.fact::<LoginTrust>().await.unwrap();
    assert!(!trust.verified);
    assert!(
        trust
            .reason
            .contains("not issued for `sql01.corp.example.com`"),
        "{}",
        trust.reason
    );

    let expired = TestServer::start_emulated("expired").await;
    let (_file, ctx) = context(&expired.toml());
    let trust = ctx.fact::<LoginTrust>().await.unwrap();
    assert!(!trust.verified);
    assert!(trust.reason.contains("expired"), "{}", trust.reason);

    let plain = TestServer::start_emulated("no-encryption").await;
    let (_file, ctx) = context(&plain.toml());
    let trust = ctx.fact::<LoginTrust>().await.unwrap();
    assert!(!trust.verified);
    assert!(trust.reason.contains("no encryption"), "{}", trust.reason);
}

/// A fault must end in `error` or `fail` with a message, well within the
/// run's deadline: the per-operation timeout is 2 s.
async fn fault(name: &str, expected: &str) -> Report {
    let server = TestServer::start_emulated(name).await;
    let started = Instant::now();
    let report = verdicts(&server.toml()).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "{name} took {took:?}");
    assert_statuses(&report, expected);
    assert!(
        report
            .results
            .iter()
            .any(|r| matches!(r.status, Status::Error | Status::Fail) && !r.message.is_empty()),
        "{name}: no error or failure"
    );
    report
}

#[tokio::test]
async fn a_server_that_hangs_after_prelogin_is_an_error() {
    let report = fault("hang-after-prelogin", "P P E E P P P P P P P").await;
    let hs = result(&report, "tls.handshake");
    assert!(hs.message.contains("sent nothing more"), "{}", hs.message);
}

#[tokio::test]
async fn a_server_that_answers_garbage_is_an_error() {
    let report = fault("garbage", "E E S S S S S S S S S").await;
    let available = result(&report, "tls.encryption.available");
    assert!(
        available.message.contains("not TDS"),
        "{}",
        available.message
    );
}

#[tokio::test]
async fn a_reset_during_the_handshake_fails_it() {
    let report = fault("reset-mid-tls", "P P F E S S S S S S S").await;
    let hs = result(&report, "tls.handshake");
    assert!(hs.message.contains("reset"), "{}", hs.message);
}

#[tokio::test]
async fn a_close_during_the_handshake_fails_it() {
    let report = fault("close-mid-handshake", "P P F E W S S S S S S").await;
    let hs = result(&report, "tls.handshake");
    assert!(hs.message.contains("closed"), "{}", hs.message);
}

#[tokio::test]
async fn a_server_dripping_one_byte_per_100_ms_is_an_error_within_the_timeout() {
    let report = fault("slow-drip", "E E S S E S S S S S S").await;
    let available = result(&report, "tls.encryption.available");
    assert!(
        available.message.contains("2000 ms"),
        "{}",
        available.message
    );
}

#[tokio::test]
async fn the_target_helper_writes_a_loadable_target() {
    let server = TestServer::start_emulated("sql2022-healthy").await;
    let toml = server.target().trusting_server_certificate().render();
    assert!(toml.contains("trust_server_certificate = true"));
    let plain = TargetToml {
        extra: String::new(),
        ..server.target()
    }
    .render();
    let target = TargetFile::new(&plain).load();
    assert_eq!(target.server.port, Some(server.addr().port()));
    assert_eq!(
        target.tls.expected_name.as_deref(),
        Some("sql01.corp.example.com")
    );
    assert_eq!(
        std::fs::read_to_string(target.tls.ca_file.unwrap()).unwrap(),
        server.emulator().ca_pem()
    );
}

/// The PEM certificate and SHA-1 line nmap's ssl-cert script prints.
pub fn nmap_ssl_cert(addr: std::net::SocketAddr) -> (Vec<u8>, String) {
    let output = std::process::Command::new("nmap")
        .args([
            "-Pn",
            "-sT",
            "-vv",
            "-p",
            &addr.port().to_string(),
            "--script",
            "ssl-cert",
            &addr.ip().to_string(),
        ])
        .output()
        .expect("nmap runs (install it: it is listed in .ci/apt-packages.txt)");
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("|_").or_else(|| l.strip_prefix('|')))
        .map(str::trim)
        .collect();
    let begin = lines
        .iter()
        .position(|l| *l == "-----BEGIN CERTIFICATE-----");
    let end = lines.iter().position(|l| *l == "-----END CERTIFICATE-----");
    let (Some(begin), Some(end)) = (begin, end) else {
        panic!("no certificate in nmap's output:\n{text}")
    };
    let der = pem::parse(lines[begin..=end].join("\n"))
        .expect("nmap prints PEM")
        .into_contents();
    let sha1 = lines
        .iter()
        .find_map(|l| l.strip_prefix("SHA-1:"))
        .map(|h| h.replace(' ', "").to_ascii_lowercase())
        .unwrap_or_else(|| panic!("no SHA-1 in nmap's output:\n{text}"));
    (der, sha1)
}

#[tokio::test]
async fn nmap_sees_the_certificate_the_tool_reports() {
    // nmap recognises SQL Server (and unwraps TLS from TDS) by port 1433.
    let server = TestServer::start_on_port("sql2022-healthy", 1433).await;
    let (_file, ctx) = context(&server.toml());
    let chain = ctx.fact::<PresentedChain>().await.expect("a chain");
    let addr = server.addr();
    let (nmap_der, nmap_sha1) = tokio::task::spawn_blocking(move || nmap_ssl_cert(addr))
        .await
        .unwrap();
    assert_eq!(
        nmap_der,
        chain.chain_der[0].to_vec(),
        "nmap and the tool saw different leaves"
    );
    assert_eq!(
        mssql_preflight::certificate::describe::sha256_fingerprint(&nmap_der),
        chain.certificates[0].sha256_fingerprint
    );
    let our_sha1 = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        &chain.chain_der[0],
    );
    let our_sha1: String = our_sha1
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(nmap_sha1, our_sha1);
}
