//! Network checks: name resolution and TCP reachability of the SQL port.

use std::borrow::Borrow;
use std::net::IpAddr;

use async_trait::async_trait;

use crate::context::RunContext;
use crate::facts::net::{
    ConnectAttempt, ConnectOutcome, HostLookup, HostLookupResult, LookupFailure, PortChoice,
    PortSource, ReverseLookup, ReverseLookups, TcpReachability,
};
use crate::finding::{Finding, Outcome, Severity, Stop};
use crate::registry::{Check, CheckMeta, Family};

mod browser;
mod smb;
mod winrm;

pub fn checks() -> Vec<std::sync::Arc<dyn Check>> {
    vec![
        std::sync::Arc::new(DnsResolve::new()),
        std::sync::Arc::new(DnsReverse::new()),
        std::sync::Arc::new(TcpReachable::new()),
        std::sync::Arc::new(browser::BrowserInstance::new()),
        std::sync::Arc::new(smb::SmbReachable::new()),
        std::sync::Arc::new(winrm::WinRmReachable::new()),
    ]
}

pub struct DnsResolve {
    meta: CheckMeta,
}

impl DnsResolve {
    fn new() -> Self {
        DnsResolve {
            meta: CheckMeta::new("net.dns.resolve", Family::Net, Severity::Fail)
                .title("The server's name resolves")
                .checks("Looks up the A and AAAA records of the target host.")
                .why("The application connects by name; a name that does not resolve means no connection at all, and the name is also what the TLS certificate must carry.")
                .fix("Create an A (and, if used, AAAA) record for the server in DNS, or configure the name the DNS knows (check the DNS suffix for short names).")
                .guide("PMP guide step 4.ii (Host Name); Passwordstate guide §2 (database server name)"),
        }
    }
}

#[async_trait]
impl Check for DnsResolve {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let lookup = ctx.fact::<HostLookup>().await?;
        judge_resolve(&ctx.target.server.host, &lookup)
    }
}

/// The verdict on the forward lookup of `host`.
fn judge_resolve(host: &str, lookup: &HostLookupResult) -> Outcome {
    match &lookup.result {
        Ok(addresses) => Ok(
            Finding::pass(format!("`{host}` resolves to {}", join(addresses)))
                .evidence("addresses", addresses)
                .evidence("resolver", &lookup.resolver),
        ),
        Err(failure @ (LookupFailure::NoSuchName | LookupFailure::NoRecords)) => {
            Ok(Finding::problem(
                Severity::Fail,
                format!("`{host}` does not resolve: {failure}"),
            )
            .expected("at least one A or AAAA record")
            .actual(failure.to_string())
            .evidence("resolver", &lookup.resolver))
        }
        Err(failure) => Err(Stop::error(format!(
            "cannot tell whether `{host}` resolves: {failure} (resolver: {})",
            lookup.resolver
        ))),
    }
}

pub struct DnsReverse {
    meta: CheckMeta,
}

impl DnsReverse {
    fn new() -> Self {
        DnsReverse {
            meta: CheckMeta::new("net.dns.reverse", Family::Net, Severity::Warn)
                .title("Reverse DNS leads back to the name")
                .checks("Looks up the PTR record of every address the host resolves to and compares it with the host name.")
                .why("Kerberos service principal names and certificate names are derived from the server's canonical name; a PTR record that names another host makes Windows authentication and certificate checks fail in confusing ways.")
                .fix("Create or correct the PTR record of each address in the reverse lookup zone so it names the server's FQDN.")
                .guide("PMP guide step 1 (certificate CN = server FQDN); Passwordstate guide §2.4 (remoting to the database server by name)"),
        }
    }
}

#[async_trait]
impl Check for DnsReverse {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let lookup = ctx.fact::<HostLookup>().await?;
        let lookups = ctx.fact::<ReverseLookups>().await?;
        judge_reverse(&ctx.target.server.host, &lookup.resolver, &lookups)
    }
}

/// The verdict on the PTR records of `host`'s addresses.
fn judge_reverse(host: &str, resolver: &str, lookups: &[ReverseLookup]) -> Outcome {
    let mut evidence = serde_json::Map::new();
    let mut mismatched = Vec::new();
    let mut missing = Vec::new();
    for ReverseLookup { address: ip, names } in lookups {
        match names {
            Ok(names) => {
                evidence.insert(ip.to_string(), names.clone().into());
                if !names.iter().any(|n| names_match(host, n)) {
                    mismatched.push(format!("{ip} → {}", names.join(", ")));
                }
            }
            Err(LookupFailure::NoSuchName | LookupFailure::NoRecords) => {
                evidence.insert(ip.to_string(), serde_json::Value::Null);
                missing.push(ip.to_string());
            }
            Err(failure) => {
                return Err(Stop::error(format!(
                    "cannot look up the PTR record of {ip}: {failure}"
                )));
            }
        }
    }
    let finding = if mismatched.is_empty() && missing.is_empty() {
        Finding::pass(format!("every address of `{host}` points back to it"))
    } else {
        let mut problems = Vec::new();
        if !mismatched.is_empty() {
            problems.push(format!("PTR names another host: {}", mismatched.join("; ")));
        }
        if !missing.is_empty() {
            problems.push(format!("no PTR record for {}", missing.join(", ")));
        }
        Finding::problem(
            Severity::Warn,
            format!(
                "reverse DNS does not lead back to `{host}`: {}",
                problems.join("; ")
            ),
        )
        .expected(format!("PTR records naming {host}"))
        .actual(problems.join("; "))
    };
    Ok(finding
        .evidence("ptr", evidence)
        .evidence("resolver", resolver))
}

/// A PTR name matches the host when they are the same name, or when the host
/// is a short name and the PTR is its fully qualified form.
fn names_match(host: &str, ptr: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ptr = ptr.trim_end_matches('.').to_ascii_lowercase();
    ptr == host
        || (!host.contains('.') && ptr.strip_prefix(&host).is_some_and(|r| r.starts_with('.')))
}

pub struct TcpReachable {
    meta: CheckMeta,
}

impl TcpReachable {
    fn new() -> Self {
        TcpReachable {
            meta: CheckMeta::new("net.tcp.reachable", Family::Net, Severity::Fail)
                .title("The SQL Server port accepts connections")
                .checks("Opens a TCP connection to the SQL Server port on every address of the host, and tells a refused connection (nothing listens) from a dropped one (a firewall) and from no route.")
                .why("Nothing else works if the application cannot open a TCP connection to SQL Server.")
                .fix("Start the SQL Server service, enable the TCP/IP protocol for the instance, and open its port in every firewall on the way.")
                .guide("PMP guide step 4.ii-iii (host, instance and port); Passwordstate guide §4.8 (SQL Express: TCP/IP protocol and static port)"),
        }
    }
}

#[async_trait]
impl Check for TcpReachable {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let reach = ctx.fact::<TcpReachability>().await?;
        Ok(judge_tcp(
            reach.port,
            &reach.attempts,
            &super::instance_name(ctx),
            self.meta.severity,
        ))
    }
}

/// The verdict on the connection attempts to the SQL Server port.
fn judge_tcp(
    port: PortChoice,
    attempts: &[ConnectAttempt],
    instance: &str,
    severity: Severity,
) -> Finding {
    let PortChoice { port, source } = port;
    let port_origin = match source {
        PortSource::Configured => "the configured port",
        PortSource::Browser => "the port the SQL Server Browser reported",
        PortSource::Default => "the default port",
    };
    let answers = PortAnswers::of(attempts);
    let failures = attempts_words(&answers.failed);
    let finding = match answers.reach() {
        Reach::Everywhere => Finding::pass(format!(
            "{} accepts TCP connections ({port_origin})",
            answers.connected_addresses()
        )),
        Reach::Partly => {
            let (_, fix) = explain(&answers.failed[0].outcome, port, instance);
            Finding::problem(
                Severity::Warn,
                format!(
                    "reachable on {} but not on {failures}",
                    answers.connected[0].address
                ),
            )
            .expected(format!("every address of the host accepts TCP {port}"))
            .actual(failures)
            .remediation(format!(
                "Clients may try the failing address first and wait for it: {fix}"
            ))
        }
        Reach::Nowhere => {
            let worst = &answers.failed[0].outcome;
            let (what, fix) = explain(worst, port, instance);
            Finding::problem(severity, format!("{failures}: {what}"))
                .expected(format!("TCP port {port} open ({port_origin})"))
                .actual(outcome_words(worst))
                .remediation(fix)
        }
    };
    finding
        .evidence("attempts", attempts)
        .evidence("port", port)
        .evidence("port_source", source)
}

/// Connection attempts to one port on every address of a host, split by
/// whether they connected: the judgement net.tcp.reachable,
/// net.smb.reachable and `[check.tcp]` packs share.
pub(crate) struct PortAnswers<'a> {
    pub connected: Vec<&'a ConnectAttempt>,
    /// In the order tried: the first is the one remediation speaks of.
    pub failed: Vec<&'a ConnectAttempt>,
}

/// Where a port accepted connections.
pub(crate) enum Reach {
    Everywhere,
    Partly,
    Nowhere,
}

impl<'a> PortAnswers<'a> {
    pub fn of(attempts: &'a [ConnectAttempt]) -> Self {
        let (connected, failed) = attempts.iter().partition(|a| a.outcome.is_connected());
        PortAnswers { connected, failed }
    }

    pub fn reach(&self) -> Reach {
        if self.failed.is_empty() {
            Reach::Everywhere
        } else if self.connected.is_empty() {
            Reach::Nowhere
        } else {
            Reach::Partly
        }
    }

    /// The addresses that accepted, as a list.
    pub fn connected_addresses(&self) -> String {
        self.connected
            .iter()
            .map(|a| a.address.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `address: outcome` for each attempt, in a few plain words.
pub(crate) fn attempts_words<A: Borrow<ConnectAttempt>>(attempts: &[A]) -> String {
    attempts
        .iter()
        .map(|a| {
            let a = a.borrow();
            format!("{}: {}", a.address, outcome_words(&a.outcome))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A connection outcome in a few plain words (pack checks use it too).
pub(crate) fn outcome_words(outcome: &ConnectOutcome) -> String {
    match outcome {
        ConnectOutcome::Connected { millis } => format!("connected in {millis} ms"),
        ConnectOutcome::Refused => "connection refused".to_owned(),
        ConnectOutcome::TimedOut { after_millis } => {
            format!("no answer within {after_millis} ms (filtered)")
        }
        ConnectOutcome::Unreachable { detail } => format!("unreachable ({detail})"),
        ConnectOutcome::Failed { detail } => format!("failed ({detail})"),
    }
}

/// What a failure means, and what to do about it.
fn explain(outcome: &ConnectOutcome, port: u16, instance: &str) -> (String, String) {
    match outcome {
        ConnectOutcome::Refused => (
            "nothing listens on that port".to_owned(),
            format!(
                "Check that the SQL Server service for instance {instance} is running; in SQL Server Configuration Manager enable TCP/IP under Protocols for {instance} and confirm the port under IP Addresses → IPAll (TCP Port {port}), then restart the service. If the instance listens on another port, set `port` under [server]."
            ),
        ),
        ConnectOutcome::TimedOut { .. } => (
            "the connection was neither accepted nor refused, so a firewall is dropping it (or the host is down)".to_owned(),
            format!(
                "Allow inbound TCP {port} on the SQL Server host's firewall, e.g. `New-NetFirewallRule -DisplayName \"SQL Server {instance}\" -Direction Inbound -Protocol TCP -LocalPort {port} -Action Allow`, and on any network firewall between this machine and the server."
            ),
        ),
        ConnectOutcome::Unreachable { .. } => (
            "this machine has no route to the host".to_owned(),
            "Check the server's address, this machine's network configuration and routes (VPN, gateway), and that the server is on a network this machine can reach.".to_owned(),
        ),
        ConnectOutcome::Failed { detail } => (
            format!("the connection failed: {detail}"),
            "Check the address and port, and the network between this machine and the server.".to_owned(),
        ),
        ConnectOutcome::Connected { .. } => (String::new(), String::new()),
    }
}

fn join(addresses: &[IpAddr]) -> String {
    addresses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to do about a port that did not answer, by how it failed.
pub(super) fn firewall_fix(
    outcome: &ConnectOutcome,
    port: u16,
    server: &str,
    service: &str,
) -> String {
    match (outcome, service) {
        (ConnectOutcome::Refused, "WinRM") => format!(
            "Nothing listens on TCP {port}: on {server} run `Enable-PSRemoting -Force` in an elevated PowerShell (or `winrm quickconfig`)."
        ),
        (ConnectOutcome::Refused, _) => format!(
            "Nothing listens on TCP {port}: start the Server service on {server} (`Start-Service LanmanServer`) and enable File and Printer Sharing."
        ),
        (ConnectOutcome::TimedOut { .. }, _) => format!(
            "A firewall drops the connection: allow inbound TCP {port} on {server} (e.g. `New-NetFirewallRule -DisplayName \"{service}\" -Direction Inbound -Protocol TCP -LocalPort {port} -Action Allow`) and on any firewall between here and there."
        ),
        _ => format!("Check the address of {server} and the network route to it."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptr_matching_follows_fqdn_rules() {
        assert!(names_match(
            "sql01.corp.example.com",
            "SQL01.corp.example.com."
        ));
        assert!(names_match("sql01", "sql01.corp.example.com"));
        assert!(!names_match("sql01", "sql011.corp.example.com"));
        assert!(!names_match(
            "sql01.corp.example.com",
            "web01.corp.example.com"
        ));
    }

    #[test]
    fn forward_dns_verdicts() {
        let lookup = |result| HostLookupResult {
            resolver: "system".to_owned(),
            result,
        };
        let resolves =
            judge_resolve("sql01", &lookup(Ok(vec![IpAddr::from([192, 0, 2, 1])]))).unwrap();
        assert_eq!(resolves.status, crate::finding::Status::Pass);
        assert!(
            resolves.message.contains("192.0.2.1"),
            "{}",
            resolves.message
        );
        let unknown = judge_resolve("sql01", &lookup(Err(LookupFailure::NoSuchName))).unwrap();
        assert_eq!(unknown.status, crate::finding::Status::Fail);
        let empty = judge_resolve("sql01", &lookup(Err(LookupFailure::NoRecords))).unwrap();
        assert_eq!(empty.status, crate::finding::Status::Fail);
        let silent = judge_resolve(
            "sql01",
            &lookup(Err(LookupFailure::NoAnswer("timeout".into()))),
        )
        .unwrap_err();
        assert_eq!(silent.status(), crate::finding::Status::Error);
    }

    fn attempt(last: u8, outcome: ConnectOutcome) -> ConnectAttempt {
        ConnectAttempt {
            address: std::net::SocketAddr::from(([192, 0, 2, last], 1433)),
            outcome,
        }
    }

    #[test]
    fn tcp_verdicts() {
        let choice = |source| PortChoice { port: 1433, source };
        let judge = |source, attempts: &[ConnectAttempt]| {
            judge_tcp(choice(source), attempts, "SQLEXPRESS", Severity::Fail)
        };
        let open = ConnectOutcome::Connected { millis: 2 };
        let everywhere = judge(
            PortSource::Browser,
            &[attempt(1, open.clone()), attempt(2, open.clone())],
        );
        assert_eq!(everywhere.status, crate::finding::Status::Pass);
        assert!(
            everywhere
                .message
                .contains("the port the SQL Server Browser reported"),
            "{}",
            everywhere.message
        );
        let partly = judge(
            PortSource::Default,
            &[attempt(1, open), attempt(2, ConnectOutcome::Refused)],
        );
        assert_eq!(partly.status, crate::finding::Status::Warn);
        assert!(partly.remediation.unwrap().starts_with("Clients may try"));
        let refused = judge(
            PortSource::Configured,
            &[attempt(1, ConnectOutcome::Refused)],
        );
        assert_eq!(refused.status, crate::finding::Status::Fail);
        assert!(
            refused.message.contains("nothing listens"),
            "{}",
            refused.message
        );
        assert!(
            refused
                .remediation
                .unwrap()
                .contains("Protocols for SQLEXPRESS")
        );
        let dropped = judge(
            PortSource::Configured,
            &[attempt(1, ConnectOutcome::TimedOut { after_millis: 5000 })],
        );
        assert_eq!(dropped.status, crate::finding::Status::Fail);
        assert!(dropped.remediation.unwrap().contains("New-NetFirewallRule"));
        let unrouted = judge(
            PortSource::Configured,
            &[attempt(
                1,
                ConnectOutcome::Unreachable {
                    detail: "no route".to_owned(),
                },
            )],
        );
        assert_eq!(unrouted.actual.as_deref(), Some("unreachable (no route)"));
    }

    #[test]
    fn reverse_dns_verdicts() {
        let ip = |last: u8| IpAddr::from([192, 0, 2, last]);
        let lookup = |last, names: Result<&[&str], LookupFailure>| ReverseLookup {
            address: ip(last),
            names: names.map(|n| n.iter().map(|s| s.to_string()).collect()),
        };
        let judge = |lookups: &[ReverseLookup]| judge_reverse("sql01", "system", lookups);
        let back = judge(&[lookup(1, Ok(&["sql01.corp.example"]))]).unwrap();
        assert_eq!(back.status, crate::finding::Status::Pass);
        let other = judge(&[lookup(1, Ok(&["web02.corp.example"]))]).unwrap();
        assert_eq!(other.status, crate::finding::Status::Warn);
        assert!(
            other.message.contains("PTR names another host"),
            "{}",
            other.message
        );
        let none = judge(&[
            lookup(1, Ok(&["sql01.corp.example"])),
            lookup(2, Err(LookupFailure::NoSuchName)),
        ])
        .unwrap();
        assert_eq!(none.status, crate::finding::Status::Warn);
        assert!(
            none.message.contains("no PTR record for 192.0.2.2"),
            "{}",
            none.message
        );
        let unanswered =
            judge(&[lookup(1, Err(LookupFailure::NoAnswer("timeout".into())))]).unwrap_err();
        assert_eq!(unanswered.status(), crate::finding::Status::Error);
    }
}
