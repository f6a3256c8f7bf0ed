//! tls.handshake, tls.protocol, tls.strict: how the TLS handshakes with the
//! server go, in TDS 7.x and in TDS 8 strict.

use async_trait::async_trait;

use super::{reissue_certificate_steps, strict_only};
use crate::context::RunContext;
use crate::facts::tls::{LegacyAnswer, ProbeError, TlsSession, TlsVersion};
use crate::facts::tls::{LegacyTls, Tds7Handshake, Tds8Strict};
use crate::finding::{Finding, Outcome, Severity, Stop};
use crate::registry::{Check, CheckMeta, Family};

/// How to turn on TLS 1.2 for SQL Server on Windows.
const ENABLE_TLS12: &str = "Enable TLS 1.2 on the SQL Server machine: install the SQL Server update that adds TLS 1.2 support (Microsoft KB3135244 lists the builds), set `Enabled`=1 and `DisabledByDefault`=0 (DWORD) under HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.2\\Server, then restart the machine.";

fn with_session(finding: Finding, session: &TlsSession) -> Finding {
    let finding = finding
        .evidence("protocol", session.protocol)
        .evidence("cipher_suite", &session.cipher_suite);
    match &session.alpn {
        Some(alpn) => finding.evidence("alpn", alpn),
        None => finding,
    }
}

/// What the legacy ClientHello found, when it names an old protocol.
async fn legacy_only(ctx: &RunContext) -> Option<(TlsVersion, String)> {
    let legacy = ctx.fact::<LegacyTls>().await.ok()?;
    match legacy.as_ref() {
        Ok(LegacyAnswer::Hello {
            version,
            cipher_suite,
            ..
        }) if *version < TlsVersion::TLS_1_2 => Some((*version, cipher_suite.clone())),
        _ => None,
    }
}

/// The handshake the application will do: TDS 7.x, or TDS 8 strict when the
/// server speaks nothing else.
enum Attempt {
    Done(TlsSession, &'static str),
    Failed(ProbeError),
}

async fn attempt(ctx: &RunContext) -> Result<Attempt, Stop> {
    match ctx.fact::<Tds7Handshake>().await {
        Ok(result) => Ok(match result.as_ref() {
            Ok(session) => Attempt::Done(session.clone(), "inside TDS 7.x"),
            Err(error) => Attempt::Failed(error.clone()),
        }),
        Err(stop) => match strict_only(ctx).await {
            Some(exchange) => Ok(Attempt::Done(exchange.session, "in TDS 8 strict")),
            None => Err(stop),
        },
    }
}

pub struct Handshake {
    meta: CheckMeta,
}

impl Handshake {
    pub fn new() -> Self {
        Handshake {
            meta: CheckMeta::new("tls.handshake", Family::Tls, Severity::Fail)
                .title("The TLS handshake with SQL Server completes")
                .checks("Runs the TLS handshake inside TDS (TLS records wrapped in PRELOGIN packets), as the application's driver does, and records the protocol version, cipher suite and the certificate chain.")
                .why("PMP talks to SQL Server only over SSL: if the handshake fails, the application cannot connect at all.")
                .fix("Make sure the certificate selected for the instance has a private key the SQL Server service account can read, and that TLS 1.2 is enabled on the SQL Server machine; the server's error log (ERRORLOG) names the cause of TLS failures.")
                .guide("PMP guide steps 1 and 3 (certificate, SSL encryption)"),
        }
    }
}

#[async_trait]
impl Check for Handshake {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let error = match attempt(ctx).await? {
            Attempt::Done(session, how) => {
                return Ok(with_session(
                    Finding::pass(format!(
                        "the TLS handshake completes {how}: {}, {}",
                        session.protocol, session.cipher_suite
                    )),
                    &session,
                ));
            }
            Attempt::Failed(error) => error,
        };
        if error.tool_cannot_tell() {
            return Err(Stop::error(format!(
                "the TLS handshake did not complete: {error}"
            )));
        }
        if let Some((version, suite)) = legacy_only(ctx).await {
            return Ok(Finding::problem(
                self.meta.severity,
                format!(
                    "the TLS handshake fails: the server speaks only {version}, which current drivers (and this tool) refuse"
                ),
            )
            .expected("TLS 1.2 or later")
            .actual(version.name())
            .evidence("protocol", version)
            .evidence("cipher_suite", suite)
            .remediation(ENABLE_TLS12));
        }
        Ok(Finding::problem(self.meta.severity, format!("the TLS handshake fails: {error}"))
            .expected("a completed TLS handshake")
            .actual(error.to_string())
            .evidence("failure", &error)
            .remediation(format!(
                "{} If a certificate is configured, check in the SQL Server error log that the service could load it. {}",
                self.meta.fix,
                reissue_certificate_steps(ctx)
            )))
    }
}

pub struct Protocol {
    meta: CheckMeta,
}

impl Protocol {
    pub fn new() -> Self {
        Protocol {
            meta: CheckMeta::new("tls.protocol", Family::Tls, Severity::Fail)
                .title("SQL Server speaks TLS 1.2 or later")
                .checks("Reads the protocol version of the TLS handshake; when the handshake fails, sends a ClientHello offering TLS 1.0 to 1.2 to learn which version the server speaks.")
                .why("TLS 1.0 and 1.1 are broken and disabled in current Java, .NET and ODBC drivers: a server limited to them cannot be reached by an up-to-date application.")
                .fix(ENABLE_TLS12)
                .guide("PMP guide step 3 (Enable SSL Encryption in SQL Server)"),
        }
    }
}

#[async_trait]
impl Check for Protocol {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let error = match attempt(ctx).await? {
            Attempt::Done(session, _) => {
                return Ok(with_session(
                    Finding::pass(format!("the server negotiates {}", session.protocol)),
                    &session,
                ));
            }
            Attempt::Failed(error) => error,
        };
        if error.tool_cannot_tell() {
            return Err(Stop::error(format!(
                "cannot tell which TLS version the server speaks: {error}"
            )));
        }
        if let Some((version, suite)) = legacy_only(ctx).await {
            return Ok(Finding::problem(
                self.meta.severity,
                format!("the server offers only {version}: it answered a ClientHello offering TLS 1.0 to 1.2 with {version}"),
            )
            .expected("TLS 1.2 or later")
            .actual(version.name())
            .evidence("protocol", version)
            .evidence("cipher_suite", suite)
            .remediation(ENABLE_TLS12));
        }
        let legacy = ctx.fact::<LegacyTls>().await?;
        match legacy.as_ref() {
            Ok(LegacyAnswer::Hello { version, cipher_suite, .. }) => Ok(Finding::pass(format!(
                "the server speaks {version} (seen in its answer to a ClientHello; the full handshake fails, see tls.handshake)"
            ))
            .evidence("protocol", version)
            .evidence("cipher_suite", cipher_suite)),
            Ok(LegacyAnswer::Alert { description }) => Err(Stop::error(format!(
                "cannot tell which TLS version the server speaks: it refused TLS 1.0 to 1.3 with the alert `{description}`"
            ))),
            Err(legacy_error) => Err(Stop::error(format!(
                "cannot tell which TLS version the server speaks: {error}; a TLS 1.0–1.2 ClientHello failed too: {legacy_error}"
            ))),
        }
    }
}

pub struct Strict {
    meta: CheckMeta,
}

impl Strict {
    pub fn new() -> Self {
        Strict {
            meta: CheckMeta::new("tls.strict", Family::Tls, Severity::Warn)
                .title("TDS 8 strict encryption works")
                .checks("Opens a connection with TLS first (ALPN `tds/8.0`), as drivers do with Encrypt=strict, then sends PRELOGIN inside TLS.")
                .why("With TDS 8 strict (SQL Server 2022 and later) even PRELOGIN is encrypted and the certificate is always verified; it is the safer way to connect where the application supports it.")
                .fix("On SQL Server 2022 or later, set Force Strict Encryption = Yes in SQL Server Configuration Manager → Protocols for <instance> → Properties and restart SQL Server; clients must then connect with Encrypt=strict.")
                .guide("Beyond the vendor guides: TDS 8.0 (SQL Server 2022)"),
        }
    }
}

#[async_trait]
impl Check for Strict {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        let strict = ctx.fact::<Tds8Strict>().await?;
        let exchange = match strict.as_ref() {
            Ok(exchange) => exchange,
            Err(failure) if failure.error.tool_cannot_tell() => {
                return Err(Stop::error(format!(
                    "cannot tell whether the server offers TDS 8 strict: {}",
                    failure.error
                )));
            }
            Err(failure) if failure.began_tls() => {
                return Ok(Finding::problem(
                    self.meta.severity,
                    format!(
                        "the server answered a TDS 8 strict ClientHello with TLS, but the handshake broke: {}",
                        failure.error
                    ),
                )
                .expected("a completed TLS handshake with ALPN tds/8.0")
                .actual(failure.error.to_string())
                .evidence("bytes_received", failure.bytes_received));
            }
            Err(failure) => {
                return Err(Stop::not_applicable(format!(
                    "the server does not offer TDS 8 strict ({}); SQL Server 2022 and later offer it",
                    failure.error
                )));
            }
        };
        let session = &exchange.session;
        match &exchange.prelogin {
            Ok(_) => Ok(with_session(
                Finding::pass(format!(
                    "TDS 8 strict works: TLS first ({}, {}), ALPN {}, then PRELOGIN inside",
                    session.protocol,
                    session.cipher_suite,
                    session.alpn.as_deref().unwrap_or("not negotiated")
                )),
                session,
            )),
            Err(error) => Ok(with_session(
                Finding::problem(
                    self.meta.severity,
                    format!("the server accepts TLS first but then does not speak TDS inside it: {error}"),
                )
                .expected("a PRELOGIN answer inside TLS")
                .actual(error.to_string()),
                session,
            )),
        }
    }
}
