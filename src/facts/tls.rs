//! TLS facts: what SQL Server answers to PRELOGIN, the TLS handshakes it
//! accepts (TDS 7.x, TDS 8 strict, legacy versions), the certificate chain it
//! presents, and that chain judged against the trusted certificates. All
//! start from `SqlEndpoint`, whose skip propagates.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::FutureExt;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Serialize;
use time::OffsetDateTime;

use crate::certificate::hostname::{self, NameMatch};
use crate::certificate::trust::{self, ChainJudgement, TrustStore};
use crate::certificate::{CertificateInfo, describe};
use crate::context::{Fact, RunContext};
use crate::facts::net::{SqlEndpoint, TcpReachability};
use crate::finding::Stop;
pub use crate::probe::tds::failure::{Cause, ProbeError, Stage};
use crate::probe::tds::legacy;
pub use crate::probe::tds::legacy::LegacyAnswer;
pub use crate::probe::tds::prelogin::Encryption;
pub use crate::probe::tds::prelogin::PreloginResponse;
pub use crate::probe::tds::tls::StrictFailure;
use crate::probe::tds::tls::{self as tds_tls, Tds7Exchange};
pub use crate::probe::tds::tls::{StrictExchange, TlsSession, TlsVersion};

fn server_name(ctx: &RunContext) -> Result<ServerName<'static>, Stop> {
    tds_tls::server_name(&ctx.target.server.host).map_err(Stop::error)
}

/// The one TDS 7.x connection: PRELOGIN with ENCRYPT_OFF, then the TLS
/// handshake when the server offers encryption. It travels on the
/// connection that proved the port reachable, when that is still open.
pub struct Tds7Connection;

impl Fact for Tds7Connection {
    type Output = Result<Tds7Exchange, ProbeError>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        async move {
            let endpoint = *ctx.fact::<SqlEndpoint>().await?;
            let name = server_name(ctx)?;
            let open = ctx
                .fact::<TcpReachability>()
                .await?
                .take_connection(endpoint);
            Ok(tds_tls::probe_tds7(endpoint, open, name, ctx.timeout()).await)
        }
        .boxed()
        .await
    }
}

/// The server's PRELOGIN answer.
pub struct Prelogin;

#[derive(Debug, Clone, Serialize)]
pub struct PreloginAnswer {
    pub endpoint: SocketAddr,
    pub response: PreloginResponse,
}

impl PreloginAnswer {
    pub fn encryption(&self) -> Option<Encryption> {
        self.response.encryption
    }
}

impl Fact for Prelogin {
    /// The failure is kept: checks tell a server that hangs from one that
    /// is not SQL Server, and from one that speaks only TDS 8 strict.
    type Output = Result<PreloginAnswer, ProbeError>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        async move {
            let endpoint = *ctx.fact::<SqlEndpoint>().await?;
            let connection = ctx.fact::<Tds7Connection>().await?;
            Ok(match connection.as_ref() {
                Ok(exchange) => Ok(PreloginAnswer {
                    endpoint,
                    response: exchange.prelogin.clone(),
                }),
                Err(error) => Err(error.clone()),
            })
        }
        .boxed()
        .await
    }
}

/// The TLS handshake inside TDS 7.x. Skips when the server offers no
/// encryption or did not answer PRELOGIN.
pub struct Tds7Handshake;

impl Fact for Tds7Handshake {
    type Output = Result<TlsSession, ProbeError>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        async move {
            let connection = ctx.fact::<Tds7Connection>().await?;
            let exchange = connection
                .as_ref()
                .as_ref()
                .map_err(|e| Stop::blocked(["tls.encryption.available"], format!("no TLS handshake was tried: {e}; see tls.encryption.available")))?;
            match &exchange.tls {
                Some(result) => Ok(result.clone()),
                None => Err(Stop::blocked(["tls.encryption.available"], 
                    "the server offers no encryption, so there is no TLS handshake; see tls.encryption.available",
                )),
            }
        }
        .boxed()
        .await
    }
}

/// TDS 8.0 strict: TLS first with ALPN `tds/8.0`, then PRELOGIN inside.
pub struct Tds8Strict;

impl Fact for Tds8Strict {
    type Output = Result<StrictExchange, StrictFailure>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        async move {
            let endpoint = *ctx.fact::<SqlEndpoint>().await?;
            let name = server_name(ctx)?;
            Ok(tds_tls::probe_tds8(endpoint, name, ctx.timeout()).await)
        }
        .boxed()
        .await
    }
}

/// The answer to a hand-built ClientHello offering TLS 1.0 to 1.2: how a
/// server that speaks only TLS 1.0/1.1 is recognised.
pub struct LegacyTls;

impl Fact for LegacyTls {
    type Output = Result<LegacyAnswer, ProbeError>;

    async fn gather(ctx: &RunContext) -> Result<Self::Output, Stop> {
        async move {
            let endpoint = *ctx.fact::<SqlEndpoint>().await?;
            let sni = match server_name(ctx)? {
                ServerName::DnsName(name) => Some(name.as_ref().to_owned()),
                _ => None,
            };
            Ok(legacy::probe_legacy(endpoint, sni.as_deref(), ctx.timeout()).await)
        }
        .boxed()
        .await
    }
}

/// Which exchange the chain was captured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainSource {
    /// The TLS handshake inside TDS 7.x, as the application will see it.
    Tds7,
    /// The TDS 8 strict handshake (the server speaks nothing else).
    Tds8Strict,
    /// The first flight of a TLS 1.0–1.2 handshake rustls cannot complete.
    LegacyHandshake,
}

/// The certificate chain the server presents, exactly as sent, with a
/// decoded description of each certificate: what the support bundle keeps.
pub struct PresentedChain;

#[derive(Debug, Clone, Serialize)]
pub struct ServerChain {
    pub source: ChainSource,
    #[serde(skip)]
    pub chain_der: Vec<CertificateDer<'static>>,
    /// The whole chain as PEM, leaf first.
    pub chain_pem: String,
    pub certificates: Vec<CertificateInfo>,
    /// A plain-text description per certificate, leaf first.
    pub descriptions: Vec<String>,
}

impl ServerChain {
    pub fn leaf(&self) -> &CertificateInfo {
        &self.certificates[0]
    }

    fn new(source: ChainSource, chain: &[CertificateDer<'static>]) -> Result<ServerChain, Stop> {
        if chain.is_empty() {
            return Err(Stop::error(
                "the server completed the handshake without presenting a certificate",
            ));
        }
        let certificates = chain
            .iter()
            .enumerate()
            .map(|(index, der)| {
                CertificateInfo::parse(der).map_err(|e| {
                    Stop::error(format!(
                        "certificate {} of the server's chain: {e}",
                        index + 1
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ServerChain {
            source,
            chain_der: chain.to_vec(),
            chain_pem: describe::to_pem(chain),
            descriptions: certificates.iter().map(CertificateInfo::text).collect(),
            certificates,
        })
    }
}

impl Fact for PresentedChain {
    type Output = ServerChain;

    async fn gather(ctx: &RunContext) -> Result<ServerChain, Stop> {
        async move {
            let tds7 = ctx.fact::<Tds7Handshake>().await;
            let tds7_failure = match tds7.as_deref() {
                Ok(Ok(session)) if !session.chain.is_empty() => {
                    return ServerChain::new(ChainSource::Tds7, &session.chain);
                }
                Ok(Ok(_)) => "the server presented no certificate".to_owned(),
                Ok(Err(error)) => error.to_string(),
                Err(stop) => stop.reason().to_owned(),
            };
            if let Ok(Ok(strict)) = ctx.fact::<Tds8Strict>().await.as_deref()
                && !strict.session.chain.is_empty()
            {
                return ServerChain::new(ChainSource::Tds8Strict, &strict.session.chain);
            }
            if let Ok(Err(error)) = tds7.as_deref()
                && !error.is_timeout()
                && let Ok(Ok(LegacyAnswer::Hello { chain, .. })) =
                    ctx.fact::<LegacyTls>().await.as_deref()
                && !chain.is_empty()
            {
                return ServerChain::new(ChainSource::LegacyHandshake, chain);
            }
            Err(Stop::blocked(
                ["tls.handshake"],
                format!("no certificate to judge: {tds7_failure}; see tls.handshake"),
            ))
        }
        .boxed()
        .await
    }
}

/// The certificates the chain must lead to: `tls.ca_file`, or the system's roots.
pub struct TrustAnchors;

impl Fact for TrustAnchors {
    type Output = Arc<TrustStore>;

    async fn gather(ctx: &RunContext) -> Result<Arc<TrustStore>, Stop> {
        // Shared by every target of the run with the same CA file (or none).
        ctx.settings
            .trust_stores
            .get(ctx.target.tls.ca_file.as_deref())
            .boxed()
            .await
            .map_err(Stop::error)
    }
}

/// The presented chain judged against the trusted certificates.
pub struct JudgedChain;

#[derive(Debug, Clone, Serialize)]
pub struct ChainTrust {
    /// "the CA file `…` (1 certificate)" or "this machine's trusted root certificates (…)".
    pub anchors: String,
    /// "the CA file" or "this machine's trusted roots", for sentences.
    pub store: &'static str,
    pub judgement: ChainJudgement,
}

impl Fact for JudgedChain {
    type Output = ChainTrust;

    async fn gather(ctx: &RunContext) -> Result<ChainTrust, Stop> {
        async move {
            // The store loads (on a blocking thread) while the handshake
            // runs: it was on the path every login waits on.
            let (chain, store) =
                futures::join!(ctx.fact::<PresentedChain>(), ctx.fact::<TrustAnchors>());
            let (chain, store) = (chain?, store?);
            let judgement = trust::judge(
                &chain.chain_der,
                &chain.certificates,
                &store,
                OffsetDateTime::now_utc(),
            );
            Ok(ChainTrust {
                anchors: store.describe(),
                store: store.short_name(),
                judgement,
            })
        }
        .boxed()
        .await
    }
}

/// The name the application expects on the certificate, matched against the leaf.
pub struct LeafName;

#[derive(Debug, Clone, Serialize)]
pub struct LeafNameMatch {
    pub expected: String,
    pub result: NameMatch,
}

impl Fact for LeafName {
    type Output = LeafNameMatch;

    async fn gather(ctx: &RunContext) -> Result<LeafNameMatch, Stop> {
        async move {
            let chain = ctx.fact::<PresentedChain>().await?;
            let expected = ctx.target.expected_tls_name().to_owned();
            let result = hostname::match_name(&expected, chain.leaf());
            Ok(LeafNameMatch { expected, result })
        }
        .boxed()
        .await
    }
}

/// Whether a login may be sent over TLS to this server: the chain verifies
/// to the configured CA file (or the system's roots) now, for server
/// authentication, and the expected name matches the leaf. Code that sends
/// credentials refuses unless `verified` or `tls.trust_server_certificate`.
pub struct LoginTrust;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginTrustVerdict {
    pub verified: bool,
    /// Why not, in plain words; empty when verified.
    pub reason: String,
    /// The checks that report why not; empty when verified.
    pub judged_by: Vec<&'static str>,
}

impl Fact for LoginTrust {
    type Output = LoginTrustVerdict;

    async fn gather(ctx: &RunContext) -> Result<LoginTrustVerdict, Stop> {
        async move {
            ctx.fact::<SqlEndpoint>().await?;
            let refuse = |judged_by: &[&'static str], reason: String| {
                Ok(LoginTrustVerdict {
                    verified: false,
                    reason,
                    judged_by: judged_by.to_vec(),
                })
            };
            let chain = match ctx.fact::<JudgedChain>().await {
                Ok(chain) => chain,
                Err(stop) => {
                    return refuse(
                        &["tls.handshake"],
                        format!(
                            "the server's certificate could not be checked: {}",
                            stop.reason()
                        ),
                    );
                }
            };
            if let Some(error) = &chain.judgement.strict_error {
                // The path validation also rejects an expired certificate,
                // which tls.cert.validity reports rather than tls.cert.chain.
                return refuse(
                    &["tls.cert.chain", "tls.cert.validity"],
                    format!(
                        "the certificate does not verify against {}: {error}",
                        chain.anchors
                    ),
                );
            }
            let name = ctx.fact::<LeafName>().await?;
            if !name.result.is_match() {
                return refuse(
                    &["tls.cert.hostname"],
                    format!("the certificate is not issued for `{}`", name.expected),
                );
            }
            Ok(LoginTrustVerdict {
                verified: true,
                reason: String::new(),
                judged_by: Vec::new(),
            })
        }
        .boxed()
        .await
    }
}
