//! net.browser.instance: a named instance is found through the SQL Server
//! Browser, on a port that stays put.

use async_trait::async_trait;

use crate::context::RunContext;
use crate::facts::net::BrowserFailure;
use crate::facts::net::BrowserLookup;
use crate::facts::sql::ServerRegistry;
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
        let configured = ctx.target.server.port;
        let instance = &answer.instance;
        let base = |f: Finding| {
            f.evidence("browser", answer.where_asked())
                .evidence("asked", &answer.asked)
                .evidence("instance", instance)
                .evidence("configured_port", configured)
        };
        let instances = match &answer.result {
            Ok(list) => list,
            Err(BrowserFailure::NoAnswer) => {
                return Ok(base(match configured {
                    Some(port) => Finding::pass(format!(
                        "the SQL Server Browser ({}) does not answer, but the port {port} is configured, so clients that are given it do not need the Browser",
                        answer.where_asked()
                    ))
                    .note("clients that connect by instance name alone (HOST\\INSTANCE) still need the Browser"),
                    // Not a matter of advice: without a port nothing can
                    // connect, whatever the check's severity.
                    None => Finding::fail(
                        format!(
                            "the SQL Server Browser ({}) does not answer for `{instance}` and no port is configured: clients cannot find the instance",
                            answer.where_asked()
                        ),
                    )
                    .expected("an answer on UDP 1434, or a configured port")
                    .actual("no answer")
                    .remediation(format!(
                        "Either start the SQL Server Browser service and allow UDP {} in the firewall, or give the instance a static TCP port (SQL Server Configuration Manager → TCP/IP → IPAll → TCP Port), allow it in the firewall, and set `port` under [server].",
                        ctx.target.server.browser_port
                    )),
                }));
            }
            Err(other) => {
                return Err(Stop::error(format!(
                    "cannot ask the SQL Server Browser ({}): {other}",
                    answer.where_asked()
                )));
            }
        };
        // Without a configured port, an instance the Browser gives no port
        // for cannot be reached at all: a failure, whatever the severity.
        let port_problem = |message: String| match configured {
            Some(_) => Finding::problem(self.meta.severity, message),
            None => Finding::fail(message),
        };
        let Some(entry) = answer.entry() else {
            let known: Vec<&str> = instances.iter().map(|i| i.instance_name.as_str()).collect();
            return Ok(base(
                port_problem(
                    format!(
                        "the SQL Server Browser does not know the instance `{instance}`; it lists {}",
                        known.join(", ")
                    ),
                )
                .remediation("Correct `instance` under [server] (the name after the backslash, e.g. SQLEXPRESS).")
                .evidence("instances", instances),
            ));
        };
        let Some(port) = entry.tcp_port else {
            return Ok(base(
                port_problem(
                    format!("the instance `{instance}` does not listen on TCP: the Browser reports no TCP port"),
                )
                .remediation("Enable TCP/IP in SQL Server Configuration Manager → Protocols for the instance, set a static TCP port under IPAll, and restart the service.")
                .evidence("entry", entry),
            ));
        };
        let registry = match ctx.fact::<ServerRegistry>().await {
            Ok(view) => view.visible().cloned(),
            Err(_) => None,
        };
        let dynamic = match &registry {
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
                self.meta.severity,
                format!("the instance `{instance}` listens on the dynamic port {port} ({how}): it changes when the service restarts"),
            )
            .expected("a static TCP port")
            .actual(format!("dynamic port {port}"))
        } else if configured.is_some_and(|c| c != port) {
            Finding::problem(
                self.meta.severity,
                format!(
                    "the Browser reports port {port} for `{instance}`, but port {} is configured",
                    configured.unwrap_or_default()
                ),
            )
            .remediation(format!("Set `port = {port}` under [server], or find out which port the instance really uses."))
        } else {
            Finding::pass(format!(
                "the instance `{instance}` listens on TCP port {port}"
            ))
        };
        Ok(base(
            finding
                .evidence("reported_port", port)
                .evidence("registry", &registry)
                .evidence("entry", entry),
        ))
    }
}
