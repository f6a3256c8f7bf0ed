//! A hand-built ClientHello offering TLS 1.0 to 1.2 and old cipher suites,
//! sent through TDS 7.x, and the server's first flight read up to
//! ServerHelloDone: rustls speaks nothing below TLS 1.2, so this is how a
//! server that offers only TLS 1.0 or 1.1 is named, and its certificate
//! (sent in clear before TLS 1.3) still captured.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::CertificateDer;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::failure::{Cause, ProbeError, Stage, alert_words, within};
use super::prelogin::Encryption;
use super::tls::{TlsVersion, connect, exchange_prelogin};
use super::wrapped::PreloginWrapped;

const RECORD_HANDSHAKE: u8 = 22;
const RECORD_ALERT: u8 = 21;
const SERVER_HELLO: u8 = 2;
const CERTIFICATE: u8 = 11;
const SERVER_HELLO_DONE: u8 = 14;

/// The largest TLS record plaintext plus the expansion RFC 5246 allows.
const MAX_RECORD: usize = (1 << 14) + 2048;
/// The most handshake data read before giving up on a ServerHelloDone.
const MAX_FLIGHT: usize = 256 * 1024;

/// Suites from TLS 1.2 back to the SSL 3.0 era, so that a server with only
/// old suites still answers with a ServerHello rather than an alert.
const CIPHER_SUITES: [u16; 19] = [
    0xC02F, 0xC030, 0xC02B, 0xC02C, // ECDHE GCM
    0xC013, 0xC014, 0xC009, 0xC00A, // ECDHE CBC-SHA
    0x009C, 0x009D, 0x002F, 0x0035, // RSA key exchange
    0x0033, 0x0039, // DHE
    0x000A, 0x0016, // 3DES
    0x0005, 0x0004, // RC4
    0x00FF, // renegotiation SCSV
];

/// What the server answered to the legacy ClientHello.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "answer", rename_all = "kebab-case")]
pub enum LegacyAnswer {
    Hello {
        version: TlsVersion,
        cipher_suite: String,
        #[serde(skip)]
        chain: Vec<CertificateDer<'static>>,
    },
    Alert {
        description: String,
    },
}

/// Connects, sends PRELOGIN, then the legacy ClientHello wrapped in
/// PRELOGIN packets, and reads the answer; each stage within `timeout`.
pub async fn probe_legacy(
    addr: SocketAddr,
    sni: Option<&str>,
    timeout: Duration,
) -> Result<LegacyAnswer, ProbeError> {
    let mut stream = connect(addr, timeout).await?;
    let prelogin =
        exchange_prelogin(&mut stream, Encryption::Off, Stage::Prelogin, timeout).await?;
    if matches!(prelogin.encryption, None | Some(Encryption::NotSupported)) {
        return Err(ProbeError::new(
            Stage::Prelogin,
            Cause::Io {
                detail: "the server supports no encryption".to_owned(),
            },
        ));
    }
    let mut wrapped = PreloginWrapped::new(stream);
    within(Stage::TlsHandshake, timeout, async {
        let io = |e: std::io::Error| ProbeError::from_io(Stage::TlsHandshake, &e);
        wrapped
            .write_all(&client_hello(sni, &random()))
            .await
            .map_err(io)?;
        wrapped.flush().await.map_err(io)?;
        read_first_flight(&mut wrapped).await
    })
    .await
}

fn random() -> [u8; 32] {
    // Not a secret: this connection never gets as far as key exchange.
    let mut state = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
        | 1;
    let mut bytes = [0u8; 32];
    for byte in &mut bytes {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    bytes
}

fn u16_prefixed(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

fn extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    u16_prefixed(out, body);
}

/// A TLS record holding a ClientHello that offers TLS 1.0 up to 1.2.
pub fn client_hello(sni: Option<&str>, random: &[u8; 32]) -> Vec<u8> {
    let mut extensions = Vec::new();
    if let Some(name) = sni {
        let mut list = vec![0u8]; // host_name
        u16_prefixed(&mut list, name.as_bytes());
        let mut body = Vec::new();
        u16_prefixed(&mut body, &list);
        extension(&mut extensions, 0x0000, &body);
    }
    let mut groups = Vec::new();
    u16_prefixed(&mut groups, &[0x00, 0x1D, 0x00, 0x17, 0x00, 0x18]); // x25519, P-256, P-384
    extension(&mut extensions, 0x000A, &groups);
    extension(&mut extensions, 0x000B, &[0x01, 0x00]); // uncompressed points
    let schemes: [u16; 10] = [
        0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0403, 0x0503, 0x0201, 0x0203,
    ];
    let mut algorithms = Vec::new();
    u16_prefixed(
        &mut algorithms,
        &schemes
            .iter()
            .flat_map(|s| s.to_be_bytes())
            .collect::<Vec<_>>(),
    );
    extension(&mut extensions, 0x000D, &algorithms);

    let mut hello = vec![0x03, 0x03]; // highest version offered: TLS 1.2
    hello.extend_from_slice(random);
    hello.push(0); // no session id
    u16_prefixed(
        &mut hello,
        &CIPHER_SUITES
            .iter()
            .flat_map(|s| s.to_be_bytes())
            .collect::<Vec<_>>(),
    );
    hello.extend_from_slice(&[1, 0]); // null compression only
    u16_prefixed(&mut hello, &extensions);

    let mut handshake = vec![1]; // client_hello
    handshake.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);

    // Record version 1.0: the most widely accepted in a first record.
    let mut record = vec![RECORD_HANDSHAKE, 0x03, 0x01];
    u16_prefixed(&mut record, &handshake);
    record
}

fn malformed(detail: impl Into<String>) -> ProbeError {
    ProbeError::new(
        Stage::TlsHandshake,
        Cause::Tls {
            detail: detail.into(),
        },
    )
}

/// Reads records until ServerHelloDone, or an alert (public for fuzzing).
pub async fn read_first_flight<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<LegacyAnswer, ProbeError> {
    let io = |e: std::io::Error| ProbeError::from_io(Stage::TlsHandshake, &e);
    let mut handshake = Vec::new();
    let mut flight = Flight::default();
    loop {
        let mut header = [0u8; 5];
        reader.read_exact(&mut header).await.map_err(io)?;
        let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if header[1] != 0x03 || length > MAX_RECORD {
            return Err(malformed(format!(
                "the server's answer is not a TLS record (header {})",
                super::packet::hex(&header)
            )));
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).await.map_err(io)?;
        match header[0] {
            RECORD_ALERT if body.len() >= 2 => {
                return Ok(LegacyAnswer::Alert {
                    description: alert_words(rustls::AlertDescription::from(body[1])),
                });
            }
            RECORD_HANDSHAKE => {
                if handshake.len() + body.len() > MAX_FLIGHT {
                    return Err(malformed("the server's first flight exceeds 256 KiB"));
                }
                handshake.extend_from_slice(&body);
                if let Some(answer) = flight.consume(&mut handshake)? {
                    return Ok(answer);
                }
            }
            other => {
                return Err(malformed(format!(
                    "unexpected TLS record type {other} before ServerHelloDone"
                )));
            }
        }
    }
}

/// The server's first flight as parsed so far.
#[derive(Default)]
struct Flight {
    hello: Option<(TlsVersion, u16)>,
    chain: Vec<CertificateDer<'static>>,
}

impl Flight {
    /// Takes every complete handshake message from `buffer`; the answer once
    /// ServerHelloDone has come.
    fn consume(&mut self, buffer: &mut Vec<u8>) -> Result<Option<LegacyAnswer>, ProbeError> {
        loop {
            if buffer.len() < 4 {
                return Ok(None);
            }
            let length = u32::from_be_bytes([0, buffer[1], buffer[2], buffer[3]]) as usize;
            if length > MAX_FLIGHT {
                return Err(malformed(format!(
                    "a handshake message announces {length} bytes"
                )));
            }
            if buffer.len() < 4 + length {
                return Ok(None);
            }
            let kind = buffer[0];
            let body: Vec<u8> = buffer.drain(..4 + length).skip(4).collect();
            match kind {
                SERVER_HELLO => self.hello = Some(parse_server_hello(&body)?),
                CERTIFICATE => self.chain = parse_certificates(&body)?,
                SERVER_HELLO_DONE => {
                    let (version, suite) = self
                        .hello
                        .ok_or_else(|| malformed("ServerHelloDone without ServerHello"))?;
                    return Ok(Some(LegacyAnswer::Hello {
                        version,
                        cipher_suite: suite_name(suite),
                        chain: std::mem::take(&mut self.chain),
                    }));
                }
                _ => {}
            }
        }
    }
}

/// IANA names of the suites offered; rustls names only those it implements.
fn suite_name(suite: u16) -> String {
    let name = match suite {
        0xC02F => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xC030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xC02B => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xC02C => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xC013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xC014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0xC009 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        0xC00A => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        0x009C => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009D => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x002F => "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
        0x0033 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
        0x0039 => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
        0x000A => "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        0x0016 => "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
        0x0005 => "TLS_RSA_WITH_RC4_128_SHA",
        0x0004 => "TLS_RSA_WITH_RC4_128_MD5",
        other => return format!("{:?}", rustls::CipherSuite::from(other)),
    };
    name.to_owned()
}

fn parse_server_hello(body: &[u8]) -> Result<(TlsVersion, u16), ProbeError> {
    let short = || malformed("the ServerHello is truncated");
    let version = u16::from_be_bytes([
        *body.first().ok_or_else(short)?,
        *body.get(1).ok_or_else(short)?,
    ]);
    let session_id_len = usize::from(*body.get(34).ok_or_else(short)?);
    let at = 35 + session_id_len;
    let suite = body.get(at..at + 2).ok_or_else(short)?;
    Ok((
        TlsVersion(version),
        u16::from_be_bytes([suite[0], suite[1]]),
    ))
}

fn parse_certificates(body: &[u8]) -> Result<Vec<CertificateDer<'static>>, ProbeError> {
    let u24 = |b: &[u8]| u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize;
    let list = body
        .get(..3)
        .ok_or_else(|| malformed("the Certificate message is truncated"))?;
    let end = 3 + u24(list);
    let list = body
        .get(3..end)
        .ok_or_else(|| malformed("the certificate list overruns its message"))?;
    let mut chain = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        let len = u24(rest
            .get(..3)
            .ok_or_else(|| malformed("a certificate entry is truncated"))?);
        let der = rest
            .get(3..3 + len)
            .ok_or_else(|| malformed("a certificate overruns the list"))?;
        chain.push(CertificateDer::from(der.to_vec()));
        rest = &rest[3 + len..];
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake_message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(body);
        out
    }

    fn record(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind, 0x03, 0x01];
        u16_prefixed(&mut out, body);
        out
    }

    fn server_hello(version: u16, suite: u16) -> Vec<u8> {
        let mut body = version.to_be_bytes().to_vec();
        body.extend_from_slice(&[0u8; 32]);
        body.push(4);
        body.extend_from_slice(&[9, 9, 9, 9]);
        body.extend_from_slice(&suite.to_be_bytes());
        body.push(0);
        handshake_message(SERVER_HELLO, &body)
    }

    fn certificate(ders: &[&[u8]]) -> Vec<u8> {
        let mut list = Vec::new();
        for der in ders {
            list.extend_from_slice(&(der.len() as u32).to_be_bytes()[1..]);
            list.extend_from_slice(der);
        }
        let mut body = (list.len() as u32).to_be_bytes()[1..].to_vec();
        body.extend_from_slice(&list);
        handshake_message(CERTIFICATE, &body)
    }

    #[test]
    fn the_client_hello_is_a_well_formed_record() {
        let hello = client_hello(Some("sql01.corp.example.com"), &[7; 32]);
        assert_eq!(&hello[..3], &[0x16, 0x03, 0x01]);
        assert_eq!(
            usize::from(u16::from_be_bytes([hello[3], hello[4]])),
            hello.len() - 5
        );
        assert_eq!(hello[5], 1);
        assert_eq!(
            u32::from_be_bytes([0, hello[6], hello[7], hello[8]]) as usize,
            hello.len() - 9
        );
        assert_eq!(&hello[9..11], &[0x03, 0x03]);
        assert!(hello.windows(22).any(|w| w == b"sql01.corp.example.com"));
    }

    #[tokio::test]
    async fn a_tls_1_0_flight_split_across_records_is_read_to_the_end() {
        let mut handshake = server_hello(0x0301, 0x002F);
        handshake.extend(certificate(&[b"leaf-der", b"ca-der"]));
        handshake.extend(handshake_message(SERVER_HELLO_DONE, &[]));
        let (first, second) = handshake.split_at(20);
        let mut wire = record(RECORD_HANDSHAKE, first);
        wire.extend(record(RECORD_HANDSHAKE, second));
        let answer = read_first_flight(&mut &wire[..]).await.unwrap();
        let LegacyAnswer::Hello {
            version,
            cipher_suite,
            chain,
        } = answer
        else {
            panic!("{answer:?}")
        };
        assert_eq!(version.name(), "TLS 1.0");
        assert_eq!(cipher_suite, "TLS_RSA_WITH_AES_128_CBC_SHA");
        assert_eq!(
            chain,
            vec![
                CertificateDer::from(b"leaf-der".to_vec()),
                CertificateDer::from(b"ca-der".to_vec())
            ]
        );
    }

    #[tokio::test]
    async fn an_alert_is_named() {
        let wire = record(RECORD_ALERT, &[2, 70]);
        let answer = read_first_flight(&mut &wire[..]).await.unwrap();
        assert!(
            matches!(answer, LegacyAnswer::Alert { description } if description == "protocol_version")
        );
    }

    #[tokio::test]
    async fn lengths_from_the_wire_are_bounded() {
        let wire = [RECORD_HANDSHAKE, 0x03, 0x01, 0xFF, 0xFF];
        assert!(read_first_flight(&mut &wire[..]).await.is_err());
        let huge = record(RECORD_HANDSHAKE, &[SERVER_HELLO, 0xFF, 0xFF, 0xFF]);
        assert!(read_first_flight(&mut &huge[..]).await.is_err());
        let truncated = record(RECORD_HANDSHAKE, &handshake_message(SERVER_HELLO, &[3, 1]));
        assert!(read_first_flight(&mut &truncated[..]).await.is_err());
        let bad_list = record(
            RECORD_HANDSHAKE,
            &handshake_message(CERTIFICATE, &[0, 0, 9, 0, 0, 20, 1]),
        );
        assert!(read_first_flight(&mut &bad_list[..]).await.is_err());
    }
}
