//! TLS with SQL Server, as clients do it: inside TDS 7.x (after PRELOGIN,
//! handshake wrapped in PRELOGIN packets) and TDS 8.0 strict (TLS first,
//! ALPN `tds/8.0`, PRELOGIN inside). The server's certificate chain is
//! recorded, never judged here: judging happens apart, so a bad certificate
//! is described rather than refused.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::failure::{Cause, ProbeError, Stage, within};
use super::packet::{PacketType, read_message, write_message};
use super::prelogin::{self, Encryption, PreloginResponse};
use super::secured::{SecuredSlot, SecuredTds7, Tds7Tls};
use super::wrapped::PreloginWrapped;
use crate::probe::tcp::{self, ConnectOutcome};
use crate::probe::wire_record::Recorded;

/// The ALPN protocol id of TDS 8.0.
pub const ALPN_TDS8: &[u8] = b"tds/8.0";

/// The most a PRELOGIN answer may carry; real ones are under 100 bytes.
const PRELOGIN_LIMIT: usize = 4096;

/// The process's default provider when the CLI installed one, else aws-lc-rs:
/// tests and library users need not install anything.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// A TLS protocol version as on the wire (0x0303 = TLS 1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TlsVersion(pub u16);

impl TlsVersion {
    pub const TLS_1_2: TlsVersion = TlsVersion(0x0303);

    pub fn name(self) -> String {
        match self.0 {
            0x0002 => "SSL 2.0".to_owned(),
            0x0300 => "SSL 3.0".to_owned(),
            0x0301 => "TLS 1.0".to_owned(),
            0x0302 => "TLS 1.1".to_owned(),
            0x0303 => "TLS 1.2".to_owned(),
            0x0304 => "TLS 1.3".to_owned(),
            other => format!("unknown version 0x{other:04X}"),
        }
    }
}

impl Serialize for TlsVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl std::fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// A completed TLS handshake and what the server presented in it.
#[derive(Debug, Clone, Serialize)]
pub struct TlsSession {
    pub protocol: TlsVersion,
    pub cipher_suite: String,
    /// The ALPN protocol the server chose, if any.
    pub alpn: Option<String>,
    /// The chain exactly as the server sent it, leaf first.
    #[serde(skip)]
    pub chain: Vec<CertificateDer<'static>>,
    /// TDS packet types the server wrapped its handshake in (TDS 7.x only).
    pub server_packet_types: Vec<u8>,
}

/// Records the chain the server presents and accepts it, and accepts the
/// handshake signatures whether or not they verify: a certificate too weak
/// for a verifier (an RSA-1024 key, say) must still be captured to be
/// described. Whether the signatures verified is recorded too: a connection
/// may carry a login only if the server proved it holds the key of the
/// certificate judged (see [`secured`](super::secured)).
#[derive(Debug)]
struct RecordingVerifier {
    provider: Arc<CryptoProvider>,
    chain: Mutex<Vec<CertificateDer<'static>>>,
    signatures: Mutex<Signatures>,
}

/// The handshake signatures the server made, checked against its leaf.
#[derive(Debug, Default, Clone, Copy)]
struct Signatures {
    verified: u32,
    failed: u32,
}

impl RecordingVerifier {
    fn new(provider: Arc<CryptoProvider>) -> Self {
        RecordingVerifier {
            provider,
            chain: Mutex::new(Vec::new()),
            signatures: Mutex::new(Signatures::default()),
        }
    }

    fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain.lock().clone()
    }

    /// The server signed the handshake with the key of the leaf it
    /// presented, and nothing it signed failed to verify.
    fn server_proved_its_key(&self) -> bool {
        let signatures = *self.signatures.lock();
        signatures.verified > 0 && signatures.failed == 0
    }

    fn record(&self, checked: Result<HandshakeSignatureValid, rustls::Error>) {
        let mut signatures = self.signatures.lock();
        match checked {
            Ok(_) => signatures.verified += 1,
            Err(_) => signatures.failed += 1,
        }
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        *self.chain.lock() = chain;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record(rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        ));
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record(rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        ));
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn connector(
    verifier: Arc<RecordingVerifier>,
    alpn: Option<&[u8]>,
) -> Result<TlsConnector, ProbeError> {
    let mut config = ClientConfig::builder_with_provider(verifier.provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ProbeError::from_tls(Stage::TlsHandshake, &e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // Every probe must see the full handshake and the certificate in it.
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = alpn.map(|p| vec![p.to_vec()]).unwrap_or_default();
    Ok(TlsConnector::from(Arc::new(config)))
}

fn session(
    connection: &rustls::ClientConnection,
    chain: Vec<CertificateDer<'static>>,
    wrapped: &[u8],
) -> TlsSession {
    TlsSession {
        protocol: TlsVersion(
            connection
                .protocol_version()
                .map(u16::from)
                .unwrap_or_default(),
        ),
        cipher_suite: connection
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default(),
        alpn: connection
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        chain,
        server_packet_types: wrapped.to_vec(),
    }
}

pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, ProbeError> {
    tcp::connect(addr, timeout).await.map_err(|outcome| {
        let cause = match outcome {
            ConnectOutcome::TimedOut { after_millis } => Cause::TimedOut { after_millis },
            ConnectOutcome::Refused => Cause::Io {
                detail: "connection refused".to_owned(),
            },
            ConnectOutcome::Unreachable { detail } | ConnectOutcome::Failed { detail } => {
                Cause::Io { detail }
            }
            ConnectOutcome::Connected { .. } => Cause::Io {
                detail: "connected".to_owned(),
            },
        };
        ProbeError::new(Stage::Connect, cause)
    })
}

/// Sends PRELOGIN asking for `encryption` and reads the server's answer,
/// all within `timeout`.
pub async fn exchange_prelogin<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    encryption: Encryption,
    stage: Stage,
    timeout: Duration,
) -> Result<PreloginResponse, ProbeError> {
    exchange_prelogin_keeping_answer(stream, encryption, stage, timeout)
        .await
        .map(|(response, _)| response)
}

/// [`exchange_prelogin`], also returning the answer's bytes as sent.
async fn exchange_prelogin_keeping_answer<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    encryption: Encryption,
    stage: Stage,
    timeout: Duration,
) -> Result<(PreloginResponse, Vec<u8>), ProbeError> {
    within(stage, timeout, async {
        let io = |e: std::io::Error| ProbeError::from_io(stage, &e);
        write_message(stream, PacketType::PreLogin, &prelogin::request(encryption))
            .await
            .map_err(io)?;
        let (kind, data) = read_message(stream, PRELOGIN_LIMIT).await.map_err(io)?;
        if kind != PacketType::TabularResult {
            return Err(ProbeError::new(
                stage,
                Cause::NotTds {
                    detail: format!(
                        "the PRELOGIN answer came in a packet of type 0x{:02X}, not 0x04",
                        kind.code()
                    ),
                },
            ));
        }
        let response = prelogin::parse_response(&data).map_err(|e| {
            ProbeError::new(
                stage,
                Cause::BadPrelogin {
                    detail: e.to_string(),
                },
            )
        })?;
        Ok((response, data))
    })
    .await
}

/// One TDS 7.x connection: PRELOGIN with ENCRYPT_OFF (whose answer tells
/// both whether encryption is available and whether it is forced), then the
/// TLS handshake every client does next when encryption is available.
#[derive(Debug, Clone)]
pub struct Tds7Exchange {
    pub prelogin: PreloginResponse,
    /// `None` when the server supports no encryption, so no handshake follows.
    pub tls: Option<Result<TlsSession, ProbeError>>,
    /// The connection itself, kept for a login when it can carry one
    /// (see [`secured`](super::secured)); empty otherwise.
    pub secured: SecuredSlot,
}

/// `open`: a connection to `addr` already made (the reachability probe's),
/// used instead of a new one.
pub async fn probe_tds7(
    addr: SocketAddr,
    open: Option<TcpStream>,
    server_name: ServerName<'static>,
    timeout: Duration,
) -> Result<Tds7Exchange, ProbeError> {
    let stream = match open {
        Some(stream) => stream,
        None => connect(addr, timeout).await?,
    };
    // Recorded from the first byte: if a login follows on this connection,
    // what it put on the wire is judged from this record.
    let (mut stream, wire) = Recorded::gated(stream, None);
    let (prelogin, answer) =
        exchange_prelogin_keeping_answer(&mut stream, Encryption::Off, Stage::Prelogin, timeout)
            .await?;
    let secured = SecuredSlot::default();
    if matches!(prelogin.encryption, None | Some(Encryption::NotSupported)) {
        return Ok(Tds7Exchange {
            prelogin,
            tls: None,
            secured,
        });
    }
    let handshake = within(
        Stage::TlsHandshake,
        timeout,
        handshake_in_tds(stream, server_name),
    )
    .await;
    let tls = handshake.map(|(session, connection)| {
        if let Some(kept) =
            connection.and_then(|connection| SecuredTds7::new(connection, wire, &prelogin, &answer))
        {
            secured.keep(kept);
        }
        session
    });
    Ok(Tds7Exchange {
        prelogin,
        tls: Some(tls),
        secured,
    })
}

/// The handshake inside TDS 7.x, and the connection after it when the
/// server proved it holds the key of the certificate it presented.
async fn handshake_in_tds(
    stream: Recorded<TcpStream>,
    server_name: ServerName<'static>,
) -> Result<(TlsSession, Option<Tds7Tls>), ProbeError> {
    let verifier = Arc::new(RecordingVerifier::new(crypto_provider()));
    let mut tls = connector(verifier.clone(), None)?
        .connect(server_name, PreloginWrapped::new(stream))
        .await
        .map_err(|e| ProbeError::from_io(Stage::TlsHandshake, &e))?;
    let (wrapped, connection) = tls.get_ref();
    let session = session(connection, verifier.chain(), &wrapped.server_packet_types);
    if !verifier.server_proved_its_key() {
        return Ok((session, None));
    }
    // From here on TLS records travel bare, as after any TDS 7.x handshake.
    tls.get_mut().0.handshake_done();
    Ok((session, Some(tls)))
}

/// TDS 8.0 strict: TLS on the bare connection, then PRELOGIN inside it.
#[derive(Debug, Clone)]
pub struct StrictExchange {
    pub session: TlsSession,
    pub prelogin: Result<PreloginResponse, ProbeError>,
}

/// A TDS 8 strict attempt that failed, and what the server had sent by then:
/// a server that does not offer TDS 8 sends nothing (or no TLS) back.
#[derive(Debug, Clone)]
pub struct StrictFailure {
    pub error: ProbeError,
    pub bytes_received: usize,
    pub first_byte: Option<u8>,
}

impl StrictFailure {
    /// The server answered the ClientHello with TLS, so it speaks TDS 8
    /// strict, and the handshake broke afterwards.
    pub fn began_tls(&self) -> bool {
        self.first_byte == Some(0x16) && self.error.alert().is_none()
    }
}

/// Counts what the server sends, to tell "not offered" from "broken".
struct Observed<S> {
    inner: S,
    seen: Arc<Mutex<(usize, Option<u8>)>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Observed<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        let fresh = &buf.filled()[before..];
        if !fresh.is_empty() {
            let mut seen = this.seen.lock();
            seen.0 += fresh.len();
            seen.1.get_or_insert(fresh[0]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Observed<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

pub async fn probe_tds8(
    addr: SocketAddr,
    server_name: ServerName<'static>,
    timeout: Duration,
) -> Result<StrictExchange, StrictFailure> {
    let seen = Arc::new(Mutex::new((0, None)));
    let failure = |error: ProbeError| {
        let (bytes_received, first_byte) = *seen.lock();
        StrictFailure {
            error,
            bytes_received,
            first_byte,
        }
    };
    let stream = connect(addr, timeout).await.map_err(failure)?;
    let verifier = Arc::new(RecordingVerifier::new(crypto_provider()));
    let connector = connector(verifier.clone(), Some(ALPN_TDS8)).map_err(failure)?;
    let observed = Observed {
        inner: stream,
        seen: seen.clone(),
    };
    let mut tls = within(Stage::TlsHandshake, timeout, async {
        connector
            .connect(server_name, observed)
            .await
            .map_err(|e| ProbeError::from_io(Stage::TlsHandshake, &e))
    })
    .await
    .map_err(failure)?;
    let session = session(tls.get_ref().1, verifier.chain(), &[]);
    // Drivers differ in the ENCRYPTION value they send inside TLS; servers
    // accept any, and ON is what the Microsoft drivers send.
    let prelogin =
        exchange_prelogin(&mut tls, Encryption::On, Stage::PreloginInsideTls, timeout).await;
    Ok(StrictExchange { session, prelogin })
}

/// The name to present in SNI and to match against: a DNS name, or an IP
/// address (no SNI is sent then).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.');
    ServerName::try_from(bare.to_owned())
        .map_err(|e| format!("`{host}` is not a valid server name for TLS: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_proves_its_key_only_when_every_signature_verified() {
        let verifier = RecordingVerifier::new(crypto_provider());
        assert!(!verifier.server_proved_its_key(), "nothing signed yet");
        verifier.record(Ok(HandshakeSignatureValid::assertion()));
        assert!(verifier.server_proved_its_key());
        verifier.record(Err(rustls::Error::General("bad signature".into())));
        assert!(!verifier.server_proved_its_key());
    }

    #[test]
    fn versions_are_named() {
        assert_eq!(TlsVersion(0x0301).name(), "TLS 1.0");
        assert_eq!(TlsVersion(0x0304).name(), "TLS 1.3");
        assert!(TlsVersion(0x0302) < TlsVersion::TLS_1_2);
    }

    #[test]
    fn server_names_accept_hosts_and_addresses() {
        assert!(matches!(
            server_name("sql01.corp.example.com.").unwrap(),
            ServerName::DnsName(_)
        ));
        assert!(matches!(
            server_name("127.0.0.1").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[::1]").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(server_name("bad name").is_err());
    }
}
