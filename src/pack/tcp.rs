//! `[check.tcp]`: a TCP port that must accept connections, or must not.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use crate::checks::net::outcome_words;
use crate::context::RunContext;
use crate::facts::net::{DnsResolver, HostAddresses};
use crate::finding::{Finding, Outcome, Stop};
use crate::probe::dns::LookupFailure;
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
        let targets: Vec<SocketAddr> = addresses
            .iter()
            .map(|ip| SocketAddr::new(*ip, self.port))
            .collect();
        let attempts = tcp::try_all(&targets, ctx.timeout()).await;
        let (open, closed): (Vec<_>, Vec<_>) =
            attempts.iter().partition(|a| a.outcome.is_connected());
        let words = |list: &[&tcp::ConnectAttempt]| {
            list.iter()
                .map(|a| format!("{}: {}", a.address, outcome_words(&a.outcome)))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let port = self.port;
        let finding = match self.expect {
            PortState::Open if closed.is_empty() => Finding::pass(format!(
                "TCP {port} on {host} accepts connections ({})",
                words(&open)
            )),
            PortState::Open if !open.is_empty() => Finding::warn(format!(
                "TCP {port} on {host} accepts connections on some addresses only: {}",
                words(&closed)
            ))
            .expected(format!("every address of {host} accepts TCP {port}"))
            .actual(words(&closed)),
            PortState::Open => Finding::problem(
                meta.severity,
                format!(
                    "TCP {port} on {host} does not accept connections: {}",
                    words(&closed)
                ),
            )
            .expected(format!("TCP {port} open"))
            .actual(words(&closed)),
            PortState::Closed if open.is_empty() => Finding::pass(format!(
                "TCP {port} on {host} does not accept connections, as expected ({})",
                words(&closed)
            )),
            PortState::Closed => Finding::problem(
                meta.severity,
                format!("TCP {port} on {host} accepts connections: {}", words(&open)),
            )
            .expected(format!("TCP {port} refused or filtered"))
            .actual(words(&open)),
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
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(vec![ip]);
        }
        let resolver = ctx.fact::<DnsResolver>().await?;
        resolver.addresses(host).await.map_err(|failure| match failure {
            LookupFailure::NoSuchName | LookupFailure::NoRecords => Stop::skip(format!(
                "`{host}` does not resolve ({failure}), so its port cannot be tried; check the name in the pack"
            )),
            other => Stop::error(format!("cannot resolve `{host}`: {other}")),
        })
    }
}
