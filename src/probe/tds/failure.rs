//! Why an exchange with the server ended early, in words an administrator
//! can act on, and whether the tool could not tell (a timeout) or the
//! server misbehaved.

use std::io;
use std::time::Duration;

use serde::Serialize;

use super::packet::FramingError;

/// Where in the exchange it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Connect,
    Prelogin,
    TlsHandshake,
    /// PRELOGIN sent inside TLS (TDS 8 strict).
    PreloginInsideTls,
}

impl Stage {
    fn words(self) -> &'static str {
        match self {
            Stage::Connect => "while connecting",
            Stage::Prelogin => "during the PRELOGIN exchange",
            Stage::TlsHandshake => "during the TLS handshake",
            Stage::PreloginInsideTls => "during the PRELOGIN exchange inside TLS",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Cause {
    /// Nothing (or not enough) arrived in time.
    TimedOut {
        after_millis: u64,
    },
    /// The server closed the connection (FIN).
    Closed,
    /// The server aborted the connection (RST).
    Reset,
    /// Bytes that are not TDS framing.
    NotTds {
        detail: String,
    },
    /// A PRELOGIN answer that does not parse.
    BadPrelogin {
        detail: String,
    },
    /// The server sent a TLS alert.
    Alert {
        description: String,
    },
    /// The TLS exchange failed on our side for the stated reason.
    Tls {
        detail: String,
    },
    /// The server sent more than this tool's TLS library reads: a limit of
    /// the tool, not a fault of the server.
    ToolLimit {
        detail: String,
    },
    Io {
        detail: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ProbeError {
    pub stage: Stage,
    #[serde(flatten)]
    pub cause: Cause,
}

impl ProbeError {
    pub fn new(stage: Stage, cause: Cause) -> Self {
        ProbeError { stage, cause }
    }

    pub fn timed_out(stage: Stage, after: Duration) -> Self {
        ProbeError::new(
            stage,
            Cause::TimedOut {
                after_millis: after.as_millis() as u64,
            },
        )
    }

    /// Classifies an I/O error from a TDS or TLS exchange.
    pub fn from_io(stage: Stage, error: &io::Error) -> Self {
        let inner = error.get_ref();
        if let Some(framing) = inner.and_then(|e| e.downcast_ref::<FramingError>()) {
            return ProbeError::new(
                stage,
                Cause::NotTds {
                    detail: framing.to_string(),
                },
            );
        }
        if let Some(tls) = inner.and_then(|e| e.downcast_ref::<rustls::Error>()) {
            return ProbeError::from_tls(stage, tls);
        }
        let cause = match error.kind() {
            io::ErrorKind::UnexpectedEof => Cause::Closed,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Cause::Reset,
            io::ErrorKind::InvalidData => Cause::NotTds {
                detail: error.to_string(),
            },
            _ => Cause::Io {
                detail: error.to_string(),
            },
        };
        ProbeError::new(stage, cause)
    }

    pub fn from_tls(stage: Stage, error: &rustls::Error) -> Self {
        let cause = match error {
            rustls::Error::AlertReceived(alert) => Cause::Alert {
                description: alert_words(*alert),
            },
            // rustls reads handshake messages and certificates of at most
            // 64 KB; OpenSSL reads certificate lists of 100 KB by default.
            rustls::Error::InvalidMessage(
                rustls::InvalidMessage::HandshakePayloadTooLarge
                | rustls::InvalidMessage::CertificatePayloadTooLarge,
            ) => Cause::ToolLimit {
                detail: "the server's certificates take more than 64 KB, the most this tool's TLS library (rustls) reads; OpenSSL reads up to 100 KB by default".to_owned(),
            },
            other => Cause::Tls {
                detail: other.to_string(),
            },
        };
        ProbeError::new(stage, cause)
    }

    /// Whether the tool could not tell: a timeout, or a limit of its own.
    pub fn tool_cannot_tell(&self) -> bool {
        matches!(self.cause, Cause::TimedOut { .. } | Cause::ToolLimit { .. })
    }

    /// A timeout says nothing about the server's configuration: the tool
    /// could not tell. Everything else is something the server did.
    pub fn is_timeout(&self) -> bool {
        matches!(self.cause, Cause::TimedOut { .. })
    }

    /// The server's alert, when it sent one.
    pub fn alert(&self) -> Option<&str> {
        match &self.cause {
            Cause::Alert { description } => Some(description),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        let stage = self.stage.words();
        match &self.cause {
            Cause::TimedOut { after_millis } => {
                format!(
                    "the server sent nothing more for {after_millis} ms {stage} (it hangs, or answers too slowly)"
                )
            }
            Cause::Closed => format!("the server closed the connection {stage}"),
            Cause::Reset => format!("the server reset the connection {stage}"),
            Cause::NotTds { detail } => {
                format!("the server answered with bytes that are not TDS {stage}: {detail}")
            }
            Cause::BadPrelogin { detail } => {
                format!("the server's PRELOGIN answer is malformed: {detail}")
            }
            Cause::Alert { description } => {
                format!("the server refused {stage} with the TLS alert `{description}`")
            }
            Cause::Tls { detail } => format!("the TLS exchange failed {stage}: {detail}"),
            Cause::ToolLimit { detail } => {
                format!("this tool cannot complete the exchange {stage}: {detail}")
            }
            Cause::Io { detail } => format!("the connection failed {stage}: {detail}"),
        }
    }
}

/// The alert's name as RFC 8446 spells it (`protocol_version`).
pub fn alert_words(alert: rustls::AlertDescription) -> String {
    let name = format!("{alert:?}");
    let mut words = String::new();
    for (index, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() && index > 0 {
            words.push('_');
        }
        words.push(ch.to_ascii_lowercase());
    }
    words
}

/// Runs `work` with a deadline for the whole stage.
pub async fn within<T>(
    stage: Stage,
    timeout: Duration,
    work: impl Future<Output = Result<T, ProbeError>>,
) -> Result<T, ProbeError> {
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(ProbeError::timed_out(stage, timeout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_named_as_the_rfc_spells_them() {
        assert_eq!(
            alert_words(rustls::AlertDescription::ProtocolVersion),
            "protocol_version"
        );
        assert_eq!(
            alert_words(rustls::AlertDescription::HandshakeFailure),
            "handshake_failure"
        );
    }

    #[test]
    fn io_errors_are_classified() {
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(
            ProbeError::from_io(Stage::TlsHandshake, &eof).cause,
            Cause::Closed
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(matches!(
            ProbeError::from_io(Stage::TlsHandshake, &reset).cause,
            Cause::Closed | Cause::Reset
        ));
        let framing: io::Error = FramingError::UnexpectedType {
            expected: 0x12,
            actual: 0xA7,
        }
        .into();
        assert!(matches!(
            ProbeError::from_io(Stage::Prelogin, &framing).cause,
            Cause::NotTds { .. }
        ));
        let tls = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion),
        );
        assert_eq!(
            ProbeError::from_io(Stage::TlsHandshake, &tls).alert(),
            Some("protocol_version")
        );
    }
}
