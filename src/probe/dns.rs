//! DNS lookups with hickory-resolver, through the system's resolver or the
//! name servers a target file names. No verdicts here.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

/// `host` as an IP address, when it is one rather than a name to look up
/// (an IPv6 address may be written in brackets, as in URLs).
pub fn ip_literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// A resolver and a description of it for evidence.
pub struct Resolver {
    inner: TokioResolver,
    pub description: String,
    timeout: Duration,
}

/// Why a lookup gave no addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupFailure {
    /// The name does not exist (NXDOMAIN).
    NoSuchName,
    /// The name exists but has no record of the asked type.
    NoRecords,
    /// No name server answered in time: nothing can be concluded.
    NoAnswer(String),
    /// Any other failure of the resolver.
    Failed(String),
}

impl std::fmt::Display for LookupFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupFailure::NoSuchName => f.write_str("the name does not exist (NXDOMAIN)"),
            LookupFailure::NoRecords => f.write_str("the name has no such records"),
            LookupFailure::NoAnswer(why) => write!(f, "no answer from the name servers: {why}"),
            LookupFailure::Failed(why) => write!(f, "lookup failed: {why}"),
        }
    }
}

impl Resolver {
    /// The system's resolver (resolv.conf and the hosts file), or exactly
    /// the given name servers when there are any.
    pub fn new(nameservers: &[SocketAddr], timeout: Duration) -> Result<Self, String> {
        let (builder, description) = if nameservers.is_empty() {
            let builder = TokioResolver::builder_tokio()
                .map_err(|e| format!("cannot read the system's resolver configuration: {e}"))?;
            let servers = resolv_conf_servers();
            let description = format!("system resolver ({})", servers.join(", "));
            (builder, description)
        } else {
            let servers = nameservers.iter().map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
            });
            let config = ResolverConfig::from_name_servers(servers.collect());
            let mut builder =
                TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
            builder.options_mut().use_hosts_file = ResolveHosts::Never;
            let list: Vec<String> = nameservers.iter().map(ToString::to_string).collect();
            (
                builder,
                format!("name servers from the target file ({})", list.join(", ")),
            )
        };
        let mut builder = builder;
        let options: &mut ResolverOpts = builder.options_mut();
        options.timeout = timeout;
        options.attempts = 1;
        options.cache_size = 0;
        let inner = builder
            .build()
            .map_err(|e| format!("cannot set up the resolver: {e}"))?;
        Ok(Resolver {
            inner,
            description,
            timeout,
        })
    }

    /// A and AAAA records of `host`.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, LookupFailure> {
        let lookup = tokio::time::timeout(self.timeout, self.inner.lookup_ip(host))
            .await
            .map_err(|_| self.no_answer())?
            .map_err(classify)?;
        let mut addresses: Vec<IpAddr> = lookup.iter().collect();
        addresses.dedup();
        if addresses.is_empty() {
            return Err(LookupFailure::NoRecords);
        }
        Ok(addresses)
    }

    /// PTR names of `ip`, without their trailing dots.
    pub async fn names_of(&self, ip: IpAddr) -> Result<Vec<String>, LookupFailure> {
        let lookup = tokio::time::timeout(self.timeout, self.inner.reverse_lookup(ip))
            .await
            .map_err(|_| self.no_answer())?
            .map_err(classify)?;
        let names: Vec<String> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::PTR(ptr) => Some(ptr.0.to_string().trim_end_matches('.').to_owned()),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Err(LookupFailure::NoRecords);
        }
        Ok(names)
    }

    fn no_answer(&self) -> LookupFailure {
        LookupFailure::NoAnswer(format!(
            "nothing within {}",
            humantime::format_duration(self.timeout)
        ))
    }
}

/// The name servers resolv.conf lists, for evidence only.
fn resolv_conf_servers() -> Vec<String> {
    std::fs::read_to_string("/etc/resolv.conf")
        .map(|text| {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("nameserver"))
                .map(|s| s.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn classify(error: NetError) -> LookupFailure {
    if error.is_nx_domain() {
        LookupFailure::NoSuchName
    } else if error.is_no_records_found() {
        LookupFailure::NoRecords
    } else if matches!(error, NetError::Timeout | NetError::NoConnections) {
        LookupFailure::NoAnswer(error.to_string())
    } else {
        LookupFailure::Failed(error.to_string())
    }
}
