//! SQL Server Browser (SSRP, [MC-SQLR]) over UDP: which TCP port a named
//! instance listens on.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::net::UdpSocket;

const CLNT_UCAST_INST: u8 = 0x04;
const SVR_RESP: u8 = 0x05;

/// One instance as the browser describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceInfo {
    pub server_name: String,
    pub instance_name: String,
    pub version: Option<String>,
    pub is_clustered: Option<String>,
    pub tcp_port: Option<u16>,
    pub pipe: Option<String>,
    /// Every key/value pair, as sent.
    pub fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserFailure {
    /// Nothing came back: the browser is stopped, UDP 1434 is filtered, or the
    /// instance is unknown (the browser stays silent about unknown instances).
    NoAnswer,
    /// Something answered that is not an SSRP response.
    Malformed(String),
    Io(String),
}

impl std::fmt::Display for BrowserFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BrowserFailure::NoAnswer => f.write_str("no answer from the SQL Server Browser"),
            BrowserFailure::Malformed(why) => {
                write!(f, "the answer is not an SSRP response: {why}")
            }
            BrowserFailure::Io(why) => write!(f, "cannot ask the SQL Server Browser: {why}"),
        }
    }
}

/// Asks the browser about `instance` at every address the host has, at once,
/// as clients do: the first SSRP answer wins, and the address it came from is
/// returned with it. With no answer from any address, the most telling
/// failure (an unreadable answer, then a local error, then silence).
pub async fn query_any(
    browsers: &[SocketAddr],
    instance: &str,
    timeout: Duration,
) -> (
    Option<SocketAddr>,
    Result<Vec<InstanceInfo>, BrowserFailure>,
) {
    let mut pending: futures::stream::FuturesUnordered<_> = browsers
        .iter()
        .map(|&browser| async move { (browser, query_instance(browser, instance, timeout).await) })
        .collect();
    let mut worst = BrowserFailure::NoAnswer;
    while let Some((browser, result)) = futures::StreamExt::next(&mut pending).await {
        match result {
            Ok(list) => return (Some(browser), Ok(list)),
            Err(failure) => {
                if failure.rank() > worst.rank() {
                    worst = failure;
                }
            }
        }
    }
    (None, Err(worst))
}

impl BrowserFailure {
    /// How much a failure says about the browser: an answer that could not
    /// be read says most, silence least.
    fn rank(&self) -> u8 {
        match self {
            BrowserFailure::NoAnswer => 0,
            BrowserFailure::Io(_) => 1,
            BrowserFailure::Malformed(_) => 2,
        }
    }
}

/// Asks the browser at `browser` about `instance`.
pub async fn query_instance(
    browser: SocketAddr,
    instance: &str,
    timeout: Duration,
) -> Result<Vec<InstanceInfo>, BrowserFailure> {
    let bind: SocketAddr = if browser.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let socket = UdpSocket::bind(bind)
        .await
        .map_err(|e| BrowserFailure::Io(e.to_string()))?;
    let mut request = vec![CLNT_UCAST_INST];
    request.extend_from_slice(instance.as_bytes());
    request.push(0);
    socket
        .send_to(&request, browser)
        .await
        .map_err(|e| BrowserFailure::Io(e.to_string()))?;
    let mut buffer = vec![0u8; 65535];
    let received = tokio::time::timeout(timeout, async {
        loop {
            let (n, from) = socket.recv_from(&mut buffer).await?;
            // Ignore stray datagrams from anywhere but the browser we asked.
            if from.ip() == browser.ip() {
                return Ok::<usize, std::io::Error>(n);
            }
        }
    })
    .await
    .map_err(|_| BrowserFailure::NoAnswer)?
    .map_err(|e| match e.kind() {
        // An ICMP port-unreachable surfaces as a refused receive.
        std::io::ErrorKind::ConnectionRefused => BrowserFailure::NoAnswer,
        _ => BrowserFailure::Io(e.to_string()),
    })?;
    parse_response(&buffer[..received])
}

/// Parses an SVR_RESP datagram.
pub fn parse_response(datagram: &[u8]) -> Result<Vec<InstanceInfo>, BrowserFailure> {
    let malformed = |why: &str| BrowserFailure::Malformed(why.to_owned());
    let (&kind, rest) = datagram
        .split_first()
        .ok_or_else(|| malformed("empty datagram"))?;
    if kind != SVR_RESP || rest.len() < 2 {
        return Err(malformed("it does not start with SVR_RESP (0x05)"));
    }
    let size = u16::from_le_bytes([rest[0], rest[1]]) as usize;
    let body = &rest[2..];
    if body.len() < size {
        return Err(malformed("it is shorter than its declared size"));
    }
    let text = String::from_utf8_lossy(&body[..size]);
    let instances: Vec<InstanceInfo> = text
        .split(";;")
        .filter(|chunk| !chunk.trim().is_empty())
        .map(parse_instance)
        .collect();
    if instances.is_empty() {
        return Err(malformed("it describes no instance"));
    }
    Ok(instances)
}

fn parse_instance(chunk: &str) -> InstanceInfo {
    let parts: Vec<&str> = chunk.split(';').collect();
    let fields: BTreeMap<String, String> = parts
        .chunks(2)
        .filter(|pair| pair.len() == 2)
        .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
        .collect();
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    InstanceInfo {
        server_name: get("ServerName").unwrap_or_default(),
        instance_name: get("InstanceName").unwrap_or_default(),
        version: get("Version"),
        is_clustered: get("IsClustered"),
        tcp_port: get("tcp").and_then(|p| p.parse().ok()),
        pipe: get("np"),
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(text: &str) -> Vec<u8> {
        let mut d = vec![SVR_RESP];
        d.extend_from_slice(&(text.len() as u16).to_le_bytes());
        d.extend_from_slice(text.as_bytes());
        d
    }

    #[test]
    fn parses_the_documented_example() {
        let d = datagram(
            "ServerName;H;InstanceName;I;IsClustered;No;Version;15.0.2000.5;tcp;1433;np;\\\\H\\pipe\\sql\\query;;",
        );
        let got = parse_response(&d).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].instance_name, "I");
        assert_eq!(got[0].tcp_port, Some(1433));
        assert_eq!(got[0].version.as_deref(), Some("15.0.2000.5"));
    }

    #[test]
    fn rejects_other_datagrams() {
        assert!(parse_response(b"\x06\x00\x00").is_err());
        assert!(parse_response(&datagram("")).is_err());
        let mut short = datagram("ServerName;H;;");
        short.truncate(5);
        assert!(parse_response(&short).is_err());
    }
}
