//! TCP connections with a deadline, and a classification of why one failed
//! that an administrator can act on.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpStream;

/// How a connection attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum ConnectOutcome {
    Connected {
        millis: u64,
    },
    /// The host answered with a reset: nothing listens on the port.
    Refused,
    /// No answer at all: a firewall drops the packets, or the host is down.
    TimedOut {
        after_millis: u64,
    },
    /// The network has no route to the host.
    Unreachable {
        detail: String,
    },
    Failed {
        detail: String,
    },
}

impl ConnectOutcome {
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectOutcome::Connected { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectAttempt {
    pub address: SocketAddr,
    #[serde(flatten)]
    pub outcome: ConnectOutcome,
}

/// Connects to `addr`, giving up after `timeout`.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, ConnectOutcome> {
    let started = Instant::now();
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => Err(classify(&e)),
        Err(_) => Err(ConnectOutcome::TimedOut {
            after_millis: started.elapsed().as_millis() as u64,
        }),
    }
}

/// Tries every address at once, so a host with several addresses costs one
/// timeout, not one per address.
pub async fn try_all(addrs: &[SocketAddr], timeout: Duration) -> Vec<ConnectAttempt> {
    attempt_all(addrs, timeout)
        .await
        .into_iter()
        .map(|(attempt, _)| attempt)
        .collect()
}

/// [`try_all`], keeping each connection that succeeded open.
async fn attempt_all(
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Vec<(ConnectAttempt, Option<TcpStream>)> {
    let attempts = addrs.iter().map(|&address| async move {
        let started = Instant::now();
        let (outcome, stream) = match connect(address, timeout).await {
            Ok(stream) => (
                ConnectOutcome::Connected {
                    millis: started.elapsed().as_millis() as u64,
                },
                Some(stream),
            ),
            Err(outcome) => (outcome, None),
        };
        (ConnectAttempt { address, outcome }, stream)
    });
    futures::future::join_all(attempts).await
}

fn port_on_each(addresses: &[IpAddr], port: u16) -> Vec<SocketAddr> {
    addresses
        .iter()
        .map(|ip| SocketAddr::new(*ip, port))
        .collect()
}

/// Tries `port` on every address of a host at once.
pub async fn try_port(addresses: &[IpAddr], port: u16, timeout: Duration) -> Vec<ConnectAttempt> {
    try_all(&port_on_each(addresses, port), timeout).await
}

/// [`try_port`], also returning the connection to the [`first_connected`]
/// address still open, so that the probe that follows can use it rather
/// than open another (issue 14: one connection fewer per run).
pub async fn try_port_keeping_first(
    addresses: &[IpAddr],
    port: u16,
    timeout: Duration,
) -> (Vec<ConnectAttempt>, Option<TcpStream>) {
    let mut kept = None;
    let attempts = attempt_all(&port_on_each(addresses, port), timeout)
        .await
        .into_iter()
        .map(|(attempt, stream)| {
            if kept.is_none() {
                kept = stream;
            }
            attempt
        })
        .collect();
    (attempts, kept)
}

/// The first address that accepted a connection: where later probes connect.
pub fn first_connected(attempts: &[ConnectAttempt]) -> Option<SocketAddr> {
    attempts
        .iter()
        .find(|a| a.outcome.is_connected())
        .map(|a| a.address)
}

fn classify(error: &io::Error) -> ConnectOutcome {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => ConnectOutcome::Refused,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            ConnectOutcome::Unreachable {
                detail: error.to_string(),
            }
        }
        io::ErrorKind::TimedOut => ConnectOutcome::TimedOut { after_millis: 0 },
        _ => ConnectOutcome::Failed {
            detail: error.to_string(),
        },
    }
}
