//! tls.handshake, tls.protocol, tls.strict: how the TLS handshakes with the
//! server go, in TDS 7.x and in TDS 8 strict.

use async_trait::async_trait;

use super::{reissue_certificate_steps, strict_only};
use crate::context::RunContext;
use crate::facts::tls::{
    LegacyAnswer, ProbeError, StrictExchange, StrictFailure, TlsSession, TlsVersion,
};
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
fn old_protocol(legacy: &Result<LegacyAnswer, ProbeError>) -> Option<(TlsVersion, &str)> {
    match legacy {
        Ok(LegacyAnswer::Hello {
            version,
            cipher_suite,
            ..
        }) if *version < TlsVersion::TLS_1_2 => Some((*version, cipher_suite)),
        _ => None,
    }
}

/// The legacy ClientHello's answer, asked only when the handshake failed
/// for a reason of the server's (it costs a connection).
async fn legacy_after(
    ctx: &RunContext,
    attempt: &Attempt,
) -> Option<Result<std::sync::Arc<Result<LegacyAnswer, ProbeError>>, Stop>> {
    match attempt {
        Attempt::Failed(error) if !error.tool_cannot_tell() => Some(ctx.fact::<LegacyTls>().await),
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
        let attempt = attempt(ctx).await?;
        let legacy = legacy_after(ctx, &attempt).await.and_then(Result::ok);
        judge_handshake(
            &attempt,
            legacy.as_deref(),
            &self.meta,
            &crate::checks::instance_name(ctx),
        )
    }
}

/// The verdict on the handshake the application will do; `legacy` is the
/// answer to a TLS 1.0–1.2 ClientHello, when one was sent.
fn judge_handshake(
    attempt: &Attempt,
    legacy: Option<&Result<LegacyAnswer, ProbeError>>,
    meta: &CheckMeta,
    instance: &str,
) -> Outcome {
    let error = match attempt {
        Attempt::Done(session, how) => {
            return Ok(with_session(
                Finding::pass(format!(
                    "the TLS handshake completes {how}: {}, {}",
                    session.protocol, session.cipher_suite
                )),
                session,
            ));
        }
        Attempt::Failed(error) => error,
    };
    if error.tool_cannot_tell() {
        return Err(Stop::error(format!(
            "the TLS handshake did not complete: {error}"
        )));
    }
    if let Some((version, suite)) = legacy.and_then(old_protocol) {
        return Ok(Finding::problem(
            meta.severity,
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
    Ok(Finding::problem(meta.severity, format!("the TLS handshake fails: {error}"))
        .expected("a completed TLS handshake")
        .actual(error.to_string())
        .evidence("failure", error)
        .remediation(format!(
            "{} If a certificate is configured, check in the SQL Server error log that the service could load it. {}",
            meta.fix,
            reissue_certificate_steps(instance)
        )))
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
        let attempt = attempt(ctx).await?;
        let legacy = legacy_after(ctx, &attempt).await.transpose()?;
        judge_protocol(&attempt, legacy.as_deref(), self.meta.severity)
    }
}

/// The verdict on the TLS version; `legacy` is the answer to a TLS 1.0–1.2
/// ClientHello, sent when the handshake failed for a reason of the server's.
fn judge_protocol(
    attempt: &Attempt,
    legacy: Option<&Result<LegacyAnswer, ProbeError>>,
    severity: Severity,
) -> Outcome {
    let error = match attempt {
        Attempt::Done(session, _) => {
            return Ok(with_session(
                Finding::pass(format!("the server negotiates {}", session.protocol)),
                session,
            ));
        }
        Attempt::Failed(error) => error,
    };
    let legacy = match legacy {
        Some(legacy) if !error.tool_cannot_tell() => legacy,
        _ => {
            return Err(Stop::error(format!(
                "cannot tell which TLS version the server speaks: {error}"
            )));
        }
    };
    if let Some((version, suite)) = old_protocol(legacy) {
        return Ok(Finding::problem(
            severity,
            format!("the server offers only {version}: it answered a ClientHello offering TLS 1.0 to 1.2 with {version}"),
        )
        .expected("TLS 1.2 or later")
        .actual(version.name())
        .evidence("protocol", version)
        .evidence("cipher_suite", suite)
        .remediation(ENABLE_TLS12));
    }
    match legacy {
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
        judge_strict(&strict, self.meta.severity)
    }
}

/// The verdict on the TDS 8 strict exchange.
fn judge_strict(strict: &Result<StrictExchange, StrictFailure>, severity: Severity) -> Outcome {
    let exchange = match strict {
        Ok(exchange) => exchange,
        Err(failure) if failure.error.tool_cannot_tell() => {
            return Err(Stop::error(format!(
                "cannot tell whether the server offers TDS 8 strict: {}",
                failure.error
            )));
        }
        Err(failure) if failure.began_tls() => {
            return Ok(Finding::problem(
                severity,
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
                severity,
                format!(
                    "the server accepts TLS first but then does not speak TDS inside it: {error}"
                ),
            )
            .expected("a PRELOGIN answer inside TLS")
            .actual(error.to_string()),
            session,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::verdicts::{finding, verdict};
    use crate::facts::tls::{Cause, PreloginResponse, Stage};

    fn session(protocol: TlsVersion, alpn: Option<&str>) -> TlsSession {
        TlsSession {
            protocol,
            cipher_suite: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".to_owned(),
            alpn: alpn.map(str::to_owned),
            chain: Vec::new(),
            server_packet_types: Vec::new(),
        }
    }

    fn failed(cause: Cause) -> Attempt {
        Attempt::Failed(ProbeError::new(Stage::TlsHandshake, cause))
    }

    fn timed_out() -> Attempt {
        failed(Cause::TimedOut { after_millis: 5000 })
    }

    fn alert() -> Attempt {
        failed(Cause::Alert {
            description: "handshake failure".to_owned(),
        })
    }

    fn hello(version: TlsVersion) -> Result<LegacyAnswer, ProbeError> {
        Ok(LegacyAnswer::Hello {
            version,
            cipher_suite: "TLS_RSA_WITH_AES_128_CBC_SHA".to_owned(),
            chain: Vec::new(),
        })
    }

    const TLS_1_0: TlsVersion = TlsVersion(0x0301);

    #[test]
    fn handshake_verdicts() {
        let meta = Handshake::new().meta;
        let judge = |attempt: &Attempt, legacy: Option<&Result<LegacyAnswer, ProbeError>>| {
            judge_handshake(attempt, legacy, &meta, "SQLEXPRESS")
        };
        let done = finding(judge(
            &Attempt::Done(session(TlsVersion::TLS_1_2, None), "inside TDS 7.x"),
            None,
        ));
        assert_eq!(done.status, crate::finding::Status::Pass);
        assert!(
            done.message.contains("inside TDS 7.x: TLS 1.2"),
            "{}",
            done.message
        );
        assert_eq!(verdict(&judge(&timed_out(), None)), "error");
        let old = finding(judge(&alert(), Some(&hello(TLS_1_0))));
        assert_eq!(old.status, crate::finding::Status::Fail);
        assert_eq!(old.actual.as_deref(), Some("TLS 1.0"));
        assert_eq!(old.remediation.as_deref(), Some(ENABLE_TLS12));
        let refused = finding(judge(&alert(), Some(&hello(TlsVersion::TLS_1_2))));
        assert_eq!(refused.status, crate::finding::Status::Fail);
        assert!(
            refused.message.contains("handshake failure"),
            "{}",
            refused.message
        );
        assert!(
            refused
                .remediation
                .unwrap()
                .contains("Protocols for SQLEXPRESS"),
            "the instance is named"
        );
        assert_eq!(verdict(&judge(&alert(), None)), "fail");
    }

    #[test]
    fn protocol_verdicts() {
        let judge = |attempt: &Attempt, legacy: Option<&Result<LegacyAnswer, ProbeError>>| {
            judge_protocol(attempt, legacy, Severity::Fail)
        };
        let done = finding(judge(
            &Attempt::Done(session(TlsVersion(0x0304), None), "inside TDS 7.x"),
            None,
        ));
        assert_eq!(done.message, "the server negotiates TLS 1.3");
        assert_eq!(
            verdict(&judge(&timed_out(), Some(&hello(TLS_1_0)))),
            "error"
        );
        let old = finding(judge(&alert(), Some(&hello(TLS_1_0))));
        assert_eq!(old.status, crate::finding::Status::Fail);
        assert!(old.message.contains("only TLS 1.0"), "{}", old.message);
        let seen = finding(judge(&alert(), Some(&hello(TlsVersion::TLS_1_2))));
        assert_eq!(seen.status, crate::finding::Status::Pass);
        assert!(
            seen.message.contains("see tls.handshake"),
            "{}",
            seen.message
        );
        let refused_all = judge(
            &alert(),
            Some(&Ok(LegacyAnswer::Alert {
                description: "protocol version".to_owned(),
            })),
        );
        assert_eq!(verdict(&refused_all), "error");
        let both_failed = judge(
            &alert(),
            Some(&Err(ProbeError::new(Stage::TlsHandshake, Cause::Reset))),
        );
        assert_eq!(verdict(&both_failed), "error");
        assert!(both_failed.unwrap_err().reason().contains("failed too"));
    }

    fn strict_failure(
        cause: Cause,
        first_byte: Option<u8>,
    ) -> Result<StrictExchange, StrictFailure> {
        Err(StrictFailure {
            error: ProbeError::new(Stage::TlsHandshake, cause),
            bytes_received: usize::from(first_byte.is_some()) * 7,
            first_byte,
        })
    }

    #[test]
    fn strict_verdicts() {
        let judge =
            |strict: Result<StrictExchange, StrictFailure>| judge_strict(&strict, Severity::Warn);
        let prelogin = PreloginResponse {
            version: None,
            encryption: Some(crate::facts::tls::Encryption::Required),
            client_cert_requested: false,
            mars: None,
            fed_auth_required: None,
        };
        let works = finding(judge(Ok(StrictExchange {
            session: session(TlsVersion(0x0304), Some("tds/8.0")),
            prelogin: Ok(prelogin),
        })));
        assert_eq!(works.status, crate::finding::Status::Pass);
        assert!(works.message.contains("ALPN tds/8.0"), "{}", works.message);
        let mute = judge(Ok(StrictExchange {
            session: session(TlsVersion(0x0304), None),
            prelogin: Err(ProbeError::new(Stage::PreloginInsideTls, Cause::Closed)),
        }));
        assert_eq!(verdict(&mute), "warn");
        assert_eq!(
            verdict(&judge(strict_failure(
                Cause::TimedOut { after_millis: 5000 },
                None
            ))),
            "error"
        );
        let broke = judge(strict_failure(
            Cause::Tls {
                detail: "bad record".to_owned(),
            },
            Some(0x16),
        ));
        assert_eq!(verdict(&broke), "warn");
        assert_eq!(
            verdict(&judge(strict_failure(Cause::Closed, Some(0x04)))),
            "skip:not_applicable"
        );
        assert_eq!(
            verdict(&judge(strict_failure(Cause::Reset, None))),
            "skip:not_applicable"
        );
    }
}
