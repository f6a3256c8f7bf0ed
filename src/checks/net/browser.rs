//! net.browser.instance: a named instance is found through the SQL Server
//! Browser, on a port that stays put.

use async_trait::async_trait;

use crate::context::RunContext;
use crate::facts::net::{BrowserAnswer, BrowserFailure, BrowserLookup};
use crate::facts::sql::{NetworkSettings, ServerRegistry};
use crate::finding::{Finding, Outcome, Severity, Stop};
use crate::registry::{Check, CheckMeta, Family};

/// The range Windows hands out dynamic ports from (RFC 6335 dynamic/private).
const DYNAMIC_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

pub struct BrowserInstance {
    meta: CheckMeta,
}

impl BrowserInstance {
    pub(super) fn new() -> Self {
        BrowserInstance {
            meta: CheckMeta::new("net.browser.instance", Family::Net, Severity::Warn)
                .title("The named instance is found on a fixed port")
                .checks("Asks the SQL Server Browser (UDP 1434) for the named instance's TCP port, and whether that port is dynamic: from the instance's registry (TcpDynamicPorts, where the login may read sys.dm_server_registry), else from the port being in the dynamic range 49152-65535 with none configured.")
                .why("Clients find a named instance through the Browser; when it does not answer (stopped, or UDP 1434 blocked) they cannot connect unless they know the port, and a dynamic port changes at every restart, breaking firewall rules.")
                .fix("In SQL Server Configuration Manager → Protocols for the instance → TCP/IP → IP Addresses → IPAll, clear TCP Dynamic Ports and set TCP Port (e.g. 1433), restart the service, and allow that port in the firewall: New-NetFirewallRule -DisplayName \"SQL Server\" -Direction Inbound -Protocol TCP -LocalPort 1433 -Action Allow. Then set `port` under [server].")
                .guide("Passwordstate guide §4.8 (SQL Server Express: TCP/IP protocol, static port matching the firewall rule); PMP guide step 4.iii (instance name)"),
        }
    }
}

#[async_trait]
impl Check for BrowserInstance {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let answer = ctx.fact::<BrowserLookup>().await?;
        let server = &ctx.target.server;
        let asked = Asked {
            answer: &answer,
            configured: server.port,
            browser_port: server.browser_port,
        };
        let port = match judge_answer(&asked, self.meta.severity) {
            Listed::Port(port) => port,
            Listed::Judged(outcome) => return outcome,
        };
        // Whether the port is static, where the login may read the registry.
        let registry = match ctx.fact::<ServerRegistry>().await {
            Ok(view) => view.visible().cloned(),
            Err(_) => None,
        };
        Ok(judge_port(
            &asked,
            port,
            registry.as_ref(),
            self.meta.severity,
        ))
    }
}

/// The Browser's answer and the ports the target file configures.
struct Asked<'a> {
    answer: &'a BrowserAnswer,
    /// `port` under [server], if set.
    configured: Option<u16>,
    /// The UDP port the Browser was asked on.
    browser_port: u16,
}

impl Asked<'_> {
    fn base(&self, finding: Finding) -> Finding {
        finding
            .evidence("browser", self.answer.where_asked())
            .evidence("asked", &self.answer.asked)
            .evidence("instance", &self.answer.instance)
            .evidence("configured_port", self.configured)
    }
}

/// What the Browser's answer alone settles: a verdict, or the TCP port it
/// lists for the instance (whose kind the registry then tells).
enum Listed {
    Judged(Outcome),
    Port(u16),
}

/// The verdict on the Browser's answer, unless it lists a TCP port.
fn judge_answer(asked: &Asked<'_>, severity: Severity) -> Listed {
    let Asked {
        answer, configured, ..
    } = asked;
    let configured = *configured;
    let instance = &answer.instance;
    let instances = match &answer.result {
        Ok(list) => list,
        Err(BrowserFailure::NoAnswer) => {
            return Listed::Judged(Ok(asked.base(match configured {
                Some(port) => Finding::pass(format!(
                    "the SQL Server Browser ({}) does not answer, but the port {port} is configured, so clients that are given it do not need the Browser",
                    answer.where_asked()
                ))
                .note("clients that connect by instance name alone (HOST\\INSTANCE) still need the Browser"),
                // Not a matter of advice: without a port nothing can
                // connect, whatever the check's severity.
                None => Finding::problem(
                    Severity::Fail,
                    format!(
                        "the SQL Server Browser ({}) does not answer for `{instance}` and no port is configured: clients cannot find the instance",
                        answer.where_asked()
                    ),
                )
                .expected("an answer on UDP 1434, or a configured port")
                .actual("no answer")
                .remediation(format!(
                    "Either start the SQL Server Browser service and allow UDP {} in the firewall, or give the instance a static TCP port (SQL Server Configuration Manager → TCP/IP → IPAll → TCP Port), allow it in the firewall, and set `port` under [server].",
                    asked.browser_port
                )),
            })));
        }
        Err(other) => {
            return Listed::Judged(Err(Stop::error(format!(
                "cannot ask the SQL Server Browser ({}): {other}",
                answer.where_asked()
            ))));
        }
    };
    // Without a configured port, an instance the Browser gives no port
    // for cannot be reached at all: a failure, whatever the severity.
    let port_problem = |message: String| match configured {
        Some(_) => Finding::problem(severity, message),
        None => Finding::problem(Severity::Fail, message),
    };
    let Some(entry) = answer.entry() else {
        let known: Vec<&str> = instances.iter().map(|i| i.instance_name.as_str()).collect();
        return Listed::Judged(Ok(asked.base(
            port_problem(format!(
                "the SQL Server Browser does not know the instance `{instance}`; it lists {}",
                known.join(", ")
            ))
            .remediation("Correct `instance` under [server] (the name after the backslash, e.g. SQLEXPRESS).")
            .evidence("instances", instances),
        )));
    };
    match entry.tcp_port {
        Some(port) => Listed::Port(port),
        None => Listed::Judged(Ok(asked.base(
            port_problem(format!(
                "the instance `{instance}` does not listen on TCP: the Browser reports no TCP port"
            ))
            .remediation("Enable TCP/IP in SQL Server Configuration Manager → Protocols for the instance, set a static TCP port under IPAll, and restart the service.")
            .evidence("entry", entry),
        ))),
    }
}

/// The verdict on the TCP `port` the Browser lists: static, and the one
/// configured. `registry` is the instance's network settings, when the
/// login may read them.
fn judge_port(
    asked: &Asked<'_>,
    port: u16,
    registry: Option<&NetworkSettings>,
    severity: Severity,
) -> Finding {
    let configured = asked.configured;
    let instance = &asked.answer.instance;
    let dynamic = match registry {
        Some(settings) => {
            let set = |v: &Option<String>| {
                v.as_deref()
                    .is_some_and(|t| !t.trim().is_empty() && t.trim() != "0")
            };
            set(&settings.tcp_dynamic_ports) && !set(&settings.tcp_port)
        }
        None => configured.is_none() && DYNAMIC_PORTS.contains(&port),
    };
    let how = if registry.is_some() {
        "the instance's registry sets TcpDynamicPorts and no TcpPort"
    } else {
        "the port is in the dynamic range 49152-65535 and none is configured"
    };
    let finding = if dynamic {
        Finding::problem(
            severity,
            format!("the instance `{instance}` listens on the dynamic port {port} ({how}): it changes when the service restarts"),
        )
        .expected("a static TCP port")
        .actual(format!("dynamic port {port}"))
    } else if configured.is_some_and(|c| c != port) {
        Finding::problem(
            severity,
            format!(
                "the Browser reports port {port} for `{instance}`, but port {} is configured",
                configured.unwrap_or_default()
            ),
        )
        .remediation(format!(
            "Set `port = {port}` under [server], or find out which port the instance really uses."
        ))
    } else {
        Finding::pass(format!(
            "the instance `{instance}` listens on TCP port {port}"
        ))
    };
    asked.base(
        finding
            .evidence("reported_port", port)
            .evidence("registry", registry)
            .evidence("entry", asked.answer.entry()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::verdicts::verdict;
    use crate::facts::net::InstanceInfo;
    use crate::finding::Status;

    fn listed(name: &str, tcp_port: Option<u16>) -> InstanceInfo {
        InstanceInfo {
            server_name: "SQL01".to_owned(),
            instance_name: name.to_owned(),
            version: Some("16.0.1000.6".to_owned()),
            is_clustered: Some("No".to_owned()),
            tcp_port,
            pipe: None,
            fields: Default::default(),
        }
    }

    fn answer(result: Result<Vec<InstanceInfo>, BrowserFailure>) -> BrowserAnswer {
        BrowserAnswer {
            asked: vec![([192, 0, 2, 1], 1434).into()],
            answered_by: result.is_ok().then(|| ([192, 0, 2, 1], 1434).into()),
            instance: "SQLEXPRESS".to_owned(),
            result,
        }
    }

    /// The whole judgement, as `evaluate` runs it, with `registry` as the
    /// network settings the login could read.
    fn judged(
        answer: &BrowserAnswer,
        configured: Option<u16>,
        registry: Option<&NetworkSettings>,
    ) -> Outcome {
        let asked = Asked {
            answer,
            configured,
            browser_port: 1434,
        };
        match judge_answer(&asked, Severity::Warn) {
            Listed::Judged(outcome) => outcome,
            Listed::Port(port) => Ok(judge_port(&asked, port, registry, Severity::Warn)),
        }
    }

    fn settings(tcp_port: &str, dynamic: &str) -> NetworkSettings {
        NetworkSettings {
            force_encryption: None,
            force_strict_encryption: None,
            tcp_port: Some(tcp_port.to_owned()),
            tcp_dynamic_ports: Some(dynamic.to_owned()),
        }
    }

    #[test]
    fn browser_verdicts() {
        let silent = answer(Err(BrowserFailure::NoAnswer));
        let given = judged(&silent, Some(1433), None).unwrap();
        assert_eq!(given.status, Status::Pass);
        assert!(!given.notes.is_empty(), "the instance-name caveat is noted");
        assert_eq!(
            verdict(&judged(&silent, None, None)),
            "fail",
            "nothing can connect: a failure whatever the severity"
        );
        let garbled = answer(Err(BrowserFailure::Malformed("not SSRP".to_owned())));
        assert_eq!(verdict(&judged(&garbled, None, None)), "error");

        let others = answer(Ok(vec![listed("OTHER", Some(1433))]));
        assert_eq!(verdict(&judged(&others, Some(1433), None)), "warn");
        let unknown = judged(&others, None, None).unwrap();
        assert_eq!(unknown.status, Status::Fail);
        assert!(
            unknown.message.contains("it lists OTHER"),
            "{}",
            unknown.message
        );

        let no_tcp = answer(Ok(vec![listed("SQLEXPRESS", None)]));
        assert_eq!(verdict(&judged(&no_tcp, Some(1433), None)), "warn");
        assert_eq!(verdict(&judged(&no_tcp, None, None)), "fail");

        let fixed = answer(Ok(vec![listed("sqlexpress", Some(1433))]));
        assert_eq!(verdict(&judged(&fixed, None, None)), "pass");
        assert_eq!(
            verdict(&judged(&fixed, Some(1433), Some(&settings("1433", "")))),
            "pass"
        );
        let elsewhere = judged(&fixed, Some(1533), None).unwrap();
        assert_eq!(elsewhere.status, Status::Warn);
        assert!(elsewhere.remediation.unwrap().contains("port = 1433"));

        let high = answer(Ok(vec![listed("SQLEXPRESS", Some(50123))]));
        let guessed = judged(&high, None, None).unwrap();
        assert_eq!(guessed.status, Status::Warn);
        assert!(
            guessed.message.contains("dynamic range"),
            "{}",
            guessed.message
        );
        let read = judged(&high, None, Some(&settings("", "0, 50123"))).unwrap();
        assert_eq!(read.status, Status::Warn);
        assert!(
            read.message.contains("registry sets TcpDynamicPorts"),
            "{}",
            read.message
        );
        assert_eq!(
            verdict(&judged(&high, None, Some(&settings("50123", "")))),
            "pass",
            "a static port in the high range is fine when the registry says so"
        );
    }
}
