//! `[check.tcp]`: a TCP port that must accept connections, or must not.

use std::net::IpAddr;

use serde::Deserialize;

use crate::checks::net::{PortAnswers, Reach, attempts_words};
use crate::context::RunContext;
use crate::facts::net::{DnsResolver, HostAddresses};
use crate::finding::{Finding, Outcome, Severity, Stop};
use crate::probe::dns::{LookupFailure, ip_literal};
use crate::probe::tcp;
use crate::registry::CheckMeta;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpProbe {
    /// A host name or IP address; the target's server when absent.
    pub host: Option<String>,
    pub port: u16,
    #[serde(default)]
    pub expect: PortState,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    #[default]
    Open,
    Closed,
}

impl TcpProbe {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.port == 0 {
            return Err("[check.tcp] port 0 is not a port".to_owned());
        }
        if self.host.as_deref().is_some_and(|h| h.trim().is_empty()) {
            return Err(
                "[check.tcp] host is empty: leave it out to mean the target's server".to_owned(),
            );
        }
        Ok(())
    }

    pub(super) fn describe(&self) -> String {
        let host = self.host.as_deref().unwrap_or("the target's server");
        match self.expect {
            PortState::Open => format!(
                "Connects to TCP port {} on {host}; it must accept the connection.",
                self.port
            ),
            PortState::Closed => format!(
                "Connects to TCP port {} on {host}; it must not accept the connection (refused or filtered).",
                self.port
            ),
        }
    }

    pub(super) async fn evaluate(&self, meta: &CheckMeta, ctx: &RunContext) -> Outcome {
        let host = self.host.as_deref().unwrap_or(&ctx.target.server.host);
        let addresses = self.addresses(ctx).await?;
        let attempts = tcp::try_port(&addresses, self.port, ctx.timeout()).await;
        let answers = PortAnswers::of(&attempts);
        let (open, closed) = (
            attempts_words(&answers.connected),
            attempts_words(&answers.failed),
        );
        let port = self.port;
        let finding = match (self.expect, answers.reach()) {
            (PortState::Open, Reach::Everywhere) => {
                Finding::pass(format!("TCP {port} on {host} accepts connections ({open})"))
            }
            (PortState::Open, Reach::Partly) => Finding::problem(
                Severity::Warn,
                format!(
                    "TCP {port} on {host} accepts connections on some addresses only: {closed}"
                ),
            )
            .expected(format!("every address of {host} accepts TCP {port}"))
            .actual(closed),
            (PortState::Open, Reach::Nowhere) => Finding::problem(
                meta.severity,
                format!("TCP {port} on {host} does not accept connections: {closed}"),
            )
            .expected(format!("TCP {port} open"))
            .actual(closed),
            (PortState::Closed, _) if answers.connected.is_empty() => Finding::pass(format!(
                "TCP {port} on {host} does not accept connections, as expected ({closed})"
            )),
            (PortState::Closed, _) => Finding::problem(
                meta.severity,
                format!("TCP {port} on {host} accepts connections: {open}"),
            )
            .expected(format!("TCP {port} refused or filtered"))
            .actual(open),
        };
        Ok(finding
            .evidence("host", host)
            .evidence("port", port)
            .evidence("attempts", &attempts))
    }

    /// The addresses to try: the target's (memoised for the run) or those of
    /// the named host, through the run's resolver.
    async fn addresses(&self, ctx: &RunContext) -> Result<Vec<IpAddr>, Stop> {
        let Some(host) = &self.host else {
            return Ok(ctx.fact::<HostAddresses>().await?.to_vec());
        };
        if let Some(ip) = ip_literal(host) {
            return Ok(vec![ip]);
        }
        let resolver = ctx.fact::<DnsResolver>().await?;
        resolver.addresses(host).await.map_err(|failure| match failure {
            LookupFailure::NoSuchName | LookupFailure::NoRecords => Stop::error(format!(
                "`{host}` does not resolve ({failure}), so its port cannot be tried; check the name in the pack"
            )),
            other => Stop::error(format!("cannot resolve `{host}`: {other}")),
        })
    }
}
