//! Network facts: the host's addresses, the SQL port, and whether it
//! accepts connections. Later facts (TLS, SQL) start from `SqlEndpoint`.

use std::net::{IpAddr, SocketAddr};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::net::TcpStream;

use crate::context::{Fact, RunContext};
use crate::finding::Stop;
pub use crate::probe::dns::LookupFailure;
use crate::probe::dns::Resolver;
use crate::probe::ssrp;
pub use crate::probe::ssrp::BrowserFailure;
pub use crate::probe::ssrp::InstanceInfo;
use crate::probe::tcp;
pub use crate::probe::tcp::{ConnectAttempt, ConnectOutcome};
use crate::target::DEFAULT_SQL_PORT;

/// The resolver this run uses (system, or the target's name servers).
pub struct DnsResolver;

impl Fact for DnsResolver {
    type Output = Resolver;

    async fn gather(ctx: &RunContext) -> Result<Resolver, Stop> {
        Resolver::new(&ctx.target.dns.nameservers, ctx.timeout()).map_err(Stop::error)
    }
}

/// The forward lookup of the target's host name.
pub struct HostLookup;

pub struct HostLookupResult {
    pub resolver: String,
    pub result: Result<Vec<IpAddr>, LookupFailure>,
}

impl Fact for HostLookup {
    type Output = HostLookupResult;

    async fn gather(ctx: &RunContext) -> Result<HostLookupResult, Stop> {
        if let Some(ip) = ctx.target.server.ip() {
            return Err(Stop::not_applicable(format!(
                "the host is given as the IP address {ip}, so no DNS lookup is involved"
            )));
        }
        let resolver = ctx.fact::<DnsResolver>().await?;
        let result = resolver.addresses(&ctx.target.server.host).await;
        Ok(HostLookupResult {
            resolver: resolver.description.clone(),
            result,
        })
    }
}

/// The addresses to connect to: the literal IP, or what DNS returned.
pub struct HostAddresses;

impl Fact for HostAddresses {
    type Output = Vec<IpAddr>;

    async fn gather(ctx: &RunContext) -> Result<Vec<IpAddr>, Stop> {
        if let Some(ip) = ctx.target.server.ip() {
            return Ok(vec![ip]);
        }
        let lookup = ctx.fact::<HostLookup>().await?;
        lookup.result.clone().map_err(|failure| {
            Stop::blocked(
                ["net.dns.resolve"],
                format!(
                    "`{}` does not resolve ({failure}); see net.dns.resolve",
                    ctx.target.server.host
                ),
            )
        })
    }
}

/// The SQL Server Browser's answer about the target's named instance.
pub struct BrowserLookup;

pub struct BrowserAnswer {
    /// Every address asked (UDP, the browser port of each host address).
    pub asked: Vec<SocketAddr>,
    /// The address whose answer is `result`, when one answered.
    pub answered_by: Option<SocketAddr>,
    pub instance: String,
    pub result: Result<Vec<InstanceInfo>, BrowserFailure>,
}

impl BrowserAnswer {
    /// The entry for the instance asked about, if the browser listed it.
    pub fn entry(&self) -> Option<&InstanceInfo> {
        self.result.as_ref().ok().and_then(|list| {
            list.iter()
                .find(|i| i.instance_name.eq_ignore_ascii_case(&self.instance))
        })
    }

    /// Where the answer came from, or every address asked when none answered.
    pub fn where_asked(&self) -> String {
        match self.answered_by {
            Some(browser) => browser.to_string(),
            None => self
                .asked
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

impl Fact for BrowserLookup {
    type Output = BrowserAnswer;

    async fn gather(ctx: &RunContext) -> Result<BrowserAnswer, Stop> {
        let Some(instance) = ctx.target.server.instance.clone() else {
            return Err(Stop::not_applicable(
                "no named instance is configured, so the SQL Server Browser is not needed",
            ));
        };
        let addresses = ctx.fact::<HostAddresses>().await?;
        let asked: Vec<SocketAddr> = addresses
            .iter()
            .map(|ip| SocketAddr::new(*ip, ctx.target.server.browser_port))
            .collect();
        let (answered_by, result) = ssrp::query_any(&asked, &instance, ctx.timeout()).await;
        Ok(BrowserAnswer {
            asked,
            answered_by,
            instance,
            result,
        })
    }
}

/// Where the SQL port number came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortSource {
    /// `[server] port` or `--port`.
    Configured,
    /// The SQL Server Browser's answer for the named instance.
    Browser,
    /// 1433, the default instance's port.
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortChoice {
    pub port: u16,
    pub source: PortSource,
}

/// The TCP port SQL Server is expected on.
pub struct SqlPort;

impl Fact for SqlPort {
    type Output = PortChoice;

    async fn gather(ctx: &RunContext) -> Result<PortChoice, Stop> {
        let server = &ctx.target.server;
        if let Some(port) = server.port {
            return Ok(PortChoice {
                port,
                source: PortSource::Configured,
            });
        }
        let Some(instance) = &server.instance else {
            return Ok(PortChoice {
                port: DEFAULT_SQL_PORT,
                source: PortSource::Default,
            });
        };
        let answer = ctx.fact::<BrowserLookup>().await?;
        match answer.entry().and_then(|e| e.tcp_port) {
            Some(port) => Ok(PortChoice {
                port,
                source: PortSource::Browser,
            }),
            None => Err(Stop::blocked(
                ["net.browser.instance"],
                format!(
                    "the port of instance `{instance}` is unknown: the SQL Server Browser ({}) gave none \
                     and no port is configured (set `port` under [server]); see net.browser.instance",
                    answer.where_asked()
                ),
            )),
        }
    }
}

/// One connection attempt to the SQL port on every address of the host.
pub struct TcpReachability;

pub struct Reachability {
    pub port: PortChoice,
    pub attempts: Vec<ConnectAttempt>,
    /// The connection to the [`SqlEndpoint`], left open for the TDS 7.x
    /// probe: it proved reachability, and PRELOGIN can travel on it.
    open: Mutex<Option<TcpStream>>,
}

impl Reachability {
    /// The open connection to `endpoint`, once; `None` after that (or when
    /// none is open), and the caller connects anew.
    pub fn take_connection(&self, endpoint: SocketAddr) -> Option<TcpStream> {
        let mut open = self.open.lock();
        match open.as_ref().map(TcpStream::peer_addr) {
            Some(Ok(peer)) if peer == endpoint => open.take(),
            _ => None,
        }
    }
}

impl Fact for TcpReachability {
    type Output = Reachability;

    async fn gather(ctx: &RunContext) -> Result<Reachability, Stop> {
        let addresses = ctx.fact::<HostAddresses>().await?;
        let port = *ctx.fact::<SqlPort>().await?;
        let (attempts, open) =
            tcp::try_port_keeping_first(&addresses, port.port, ctx.timeout()).await;
        Ok(Reachability {
            port,
            attempts,
            open: Mutex::new(open),
        })
    }
}

/// An address where SQL Server accepted a TCP connection: where TLS and SQL
/// probes connect. Skips, with the reason, when there is none.
pub struct SqlEndpoint;

impl Fact for SqlEndpoint {
    type Output = SocketAddr;

    async fn gather(ctx: &RunContext) -> Result<SocketAddr, Stop> {
        let reach = ctx.fact::<TcpReachability>().await?;
        tcp::first_connected(&reach.attempts).ok_or_else(|| {
            Stop::blocked(
                ["net.tcp.reachable"],
                format!(
                    "SQL Server is not reachable on TCP port {} of `{}`; see net.tcp.reachable",
                    reach.port.port, ctx.target.server.host
                ),
            )
        })
    }
}

/// The PTR records of every address the host name resolved to.
pub struct ReverseLookups;

/// One address's reverse lookup: its names, or why there are none.
pub struct ReverseLookup {
    pub address: IpAddr,
    pub names: Result<Vec<String>, LookupFailure>,
}

impl Fact for ReverseLookups {
    type Output = Vec<ReverseLookup>;

    async fn gather(ctx: &RunContext) -> Result<Vec<ReverseLookup>, Stop> {
        let lookup = ctx.fact::<HostLookup>().await?;
        let addresses = lookup.result.as_ref().map_err(|f| {
            Stop::blocked(
                ["net.dns.resolve"],
                format!(
                    "`{}` does not resolve ({f}); see net.dns.resolve",
                    ctx.target.server.host
                ),
            )
        })?;
        let resolver = ctx.fact::<DnsResolver>().await?;
        Ok(futures::future::join_all(addresses.iter().map(|ip| async {
            ReverseLookup {
                address: *ip,
                names: resolver.names_of(*ip).await,
            }
        }))
        .await)
    }
}

/// WinRM's standard ports (PowerShell remoting): HTTP and HTTPS.
pub const WINRM_HTTP_PORT: u16 = 5985;
pub const WINRM_HTTPS_PORT: u16 = 5986;

/// The check whose parameters `http_port` and `https_port` move WinRM's ports.
pub const WINRM_CHECK: &str = "net.winrm.reachable";

/// One connection attempt to WinRM's HTTP and HTTPS ports on every address
/// of the SQL Server host.
pub struct WinRmReachability;

pub struct WinRmAttempts {
    pub http_port: u16,
    pub https_port: u16,
    pub attempts: Vec<ConnectAttempt>,
}

impl Fact for WinRmReachability {
    type Output = WinRmAttempts;

    async fn gather(ctx: &RunContext) -> Result<WinRmAttempts, Stop> {
        let http_port = ctx
            .param_by_id(WINRM_CHECK, "http_port")?
            .unwrap_or(WINRM_HTTP_PORT);
        let https_port = ctx
            .param_by_id(WINRM_CHECK, "https_port")?
            .unwrap_or(WINRM_HTTPS_PORT);
        let addresses = ctx.fact::<HostAddresses>().await?;
        let targets: Vec<SocketAddr> = addresses
            .iter()
            .flat_map(|ip| {
                [
                    SocketAddr::new(*ip, http_port),
                    SocketAddr::new(*ip, https_port),
                ]
            })
            .collect();
        Ok(WinRmAttempts {
            http_port,
            https_port,
            attempts: tcp::try_all(&targets, ctx.timeout()).await,
        })
    }
}
