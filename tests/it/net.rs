//! net.* checks against a DNS server and TCP listeners the tests run on loopback.

use mssql_preflight::finding::Status;

use crate::support::dns::{TestDns, Zone};
use crate::support::net::{FilteredPort, closed_port};
use crate::support::{assert_status, run};

fn target(host: &str, port: u16, dns: &TestDns) -> String {
    format!(
        "[server]\nhost = \"{host}\"\nport = {port}\n[dns]\nnameservers = [\"{}\"]\n",
        dns.addr
    )
}

// Names resolve to documentation addresses (RFC 5737) that no test connects
// to: only DNS checks run against them. Loopback PTRs cannot be used, since
// resolvers answer 127.in-addr.arpa with "localhost" themselves (RFC 6761).

#[tokio::test]
async fn a_name_with_matching_forward_and_reverse_records_passes() {
    let dns = TestDns::start(
        Zone::default()
            .address("sql01.preflight.test", "198.51.100.10")
            .pointer("198.51.100.10", "sql01.preflight.test"),
    )
    .await;
    let report = run(&target("sql01.preflight.test", 1433, &dns), &["net.dns.*"]).await;
    let resolve = assert_status(&report, "net.dns.resolve", Status::Pass);
    assert_eq!(
        resolve.evidence["addresses"],
        serde_json::json!(["198.51.100.10"])
    );
    assert_status(&report, "net.dns.reverse", Status::Pass);
}

#[tokio::test]
async fn a_resolved_name_is_connected_to() {
    let dns = TestDns::start(Zone::default().address("sql01.preflight.test", "127.0.0.1")).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let report = run(
        &target("sql01.preflight.test", port, &dns),
        &["net.tcp.reachable"],
    )
    .await;
    assert_status(&report, "net.tcp.reachable", Status::Pass);
}

#[tokio::test]
async fn a_name_that_does_not_exist_fails_and_skips_what_needs_it() {
    let dns = TestDns::start(Zone::default()).await;
    let report = run(&target("nosuch.preflight.test", 1433, &dns), &["net.*"]).await;
    let r = assert_status(&report, "net.dns.resolve", Status::Fail);
    assert!(r.message.contains("does not exist"), "{}", r.message);
    let tcp = assert_status(&report, "net.tcp.reachable", Status::Skip);
    assert!(tcp.message.contains("does not resolve"), "{}", tcp.message);
    assert_status(&report, "net.dns.reverse", Status::Skip);
}

#[tokio::test]
async fn a_ptr_naming_another_host_warns() {
    let dns = TestDns::start(
        Zone::default()
            .address("sql01.preflight.test", "198.51.100.20")
            .pointer("198.51.100.20", "web07.preflight.test"),
    )
    .await;
    let report = run(&target("sql01.preflight.test", 1433, &dns), &["net.dns.*"]).await;
    let r = assert_status(&report, "net.dns.reverse", Status::Warn);
    assert!(r.message.contains("web07.preflight.test"), "{}", r.message);
}

#[tokio::test]
async fn a_missing_ptr_warns() {
    let dns =
        TestDns::start(Zone::default().address("sql01.preflight.test", "198.51.100.30")).await;
    let report = run(&target("sql01.preflight.test", 1433, &dns), &["net.dns.*"]).await;
    let r = assert_status(&report, "net.dns.reverse", Status::Warn);
    assert!(
        r.message.contains("no PTR record for 198.51.100.30"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn a_dns_server_that_does_not_answer_is_an_error_not_a_failure() {
    // A UDP socket that never answers stands for a dead name server.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let toml = format!(
        "[server]\nhost = \"sql01.preflight.test\"\n[dns]\nnameservers = [\"{}\"]\n",
        silent.local_addr().unwrap()
    );
    let report = run(&toml, &["net.dns.resolve"]).await;
    let r = assert_status(&report, "net.dns.resolve", Status::Error);
    assert!(r.message.contains("cannot tell"), "{}", r.message);
}

#[tokio::test]
async fn an_ip_host_skips_dns_with_the_reason() {
    let report = run(
        &format!("[server]\nhost = \"127.0.0.1\"\nport = {}\n", closed_port()),
        &["net.dns.*"],
    )
    .await;
    let r = assert_status(&report, "net.dns.resolve", Status::Skip);
    assert!(r.message.contains("IP address"), "{}", r.message);
    assert_status(&report, "net.dns.reverse", Status::Skip);
}

#[tokio::test]
async fn a_refused_port_fails_saying_nothing_listens() {
    let report = run(
        &format!("[server]\nhost = \"127.0.0.1\"\nport = {}\n", closed_port()),
        &["net.tcp.reachable"],
    )
    .await;
    let r = assert_status(&report, "net.tcp.reachable", Status::Fail);
    assert!(r.message.contains("nothing listens"), "{}", r.message);
    assert!(r.remediation.as_deref().unwrap().contains("TCP/IP"));
}

#[tokio::test]
async fn a_filtered_port_fails_saying_a_firewall_drops_it() {
    let filtered = FilteredPort::new();
    let report = run(
        &format!(
            "[server]\nhost = \"127.0.0.1\"\nport = {}\n",
            filtered.addr.port()
        ),
        &["net.tcp.reachable"],
    )
    .await;
    let r = assert_status(&report, "net.tcp.reachable", Status::Fail);
    assert!(r.message.contains("firewall"), "{}", r.message);
    assert!(
        r.remediation
            .as_deref()
            .unwrap()
            .contains("New-NetFirewallRule")
    );
}
