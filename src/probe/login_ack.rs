//! The server's LOGINACK, witnessed. tiberius accepts a login when the
//! server's answer ends in DONE without an ERROR token, whether or not a
//! LOGINACK came first; it reads the LOGINACK but keeps it to itself, and
//! logs it at DEBUG from its token reader as `{program} version {version}`.
//! A subscriber scoped to one login future records that event (forwarding
//! every event to the run's own subscriber), so a login counts as accepted
//! only when the server acknowledged it ([MS-TDS] 2.2.7.14).
//!
//! Tied to tiberius's log line: `tests/it/sql.rs` logs in to a healthy
//! emulated server and asserts the acknowledgement is seen, so an upgrade
//! that changes the line fails a test instead of failing every login.

use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::instrument::WithSubscriber;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Level, Metadata, Subscriber};

/// Where tiberius decodes tokens (the target of its LOGINACK event).
const TOKEN_READER: &str = "tiberius::tds::stream::token";

/// What the server's LOGINACK said about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoginAck {
    /// The server's program name, e.g. "Microsoft SQL Server".
    pub program: String,
    /// major.minor.build, from the token's packed version.
    pub version: String,
}

impl LoginAck {
    /// Reads tiberius's `{program} version {packed}` line.
    fn from_log_line(line: &str) -> Option<LoginAck> {
        let (program, packed) = line.rsplit_once(" version ")?;
        let packed: u32 = packed.trim().parse().ok()?;
        let [major, minor, build_high, build_low] = packed.to_be_bytes();
        let build = u16::from_be_bytes([build_high, build_low]);
        Some(LoginAck {
            program: program.to_owned(),
            version: format!("{major}.{minor}.{build}"),
        })
    }
}

/// Runs `login` and returns its result with the LOGINACK seen during it.
pub async fn witnessed<F: Future>(login: F) -> (F::Output, Option<LoginAck>) {
    let seen = Arc::new(Mutex::new(None));
    let inner = tracing::dispatcher::get_default(Dispatch::clone);
    let witness = Dispatch::new(Witness {
        inner,
        seen: seen.clone(),
    });
    let output = login.with_subscriber(witness).await;
    let ack = seen.lock().take();
    (output, ack)
}

struct Witness {
    inner: Dispatch,
    seen: Arc<Mutex<Option<LoginAck>>>,
}

fn is_token_reader_debug(meta: &Metadata<'_>) -> bool {
    meta.is_event() && *meta.level() == Level::DEBUG && meta.target() == TOKEN_READER
}

impl Subscriber for Witness {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if is_token_reader_debug(meta) {
            Interest::always()
        } else {
            self.inner.register_callsite(meta)
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        is_token_reader_debug(meta) || self.inner.enabled(meta)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.inner.new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner.record(span, values)
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner.record_follows_from(span, follows)
    }

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        if is_token_reader_debug(meta) {
            let mut message = Message::default();
            event.record(&mut message);
            if let Some(ack) = LoginAck::from_log_line(&message.0) {
                self.seen.lock().get_or_insert(ack);
            }
        }
        if self.inner.enabled(meta) {
            self.inner.event(event);
        }
    }

    fn enter(&self, span: &Id) {
        self.inner.enter(span)
    }

    fn exit(&self, span: &Id) {
        self.inner.exit(span)
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.inner.clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.inner.try_close(id)
    }
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_line_gives_program_and_version() {
        // SQL Server 2022 RTM: 16.0.1000 packs as 0x10_00_03E8.
        let packed = u32::from_be_bytes([16, 0, 0x03, 0xE8]);
        let ack = LoginAck::from_log_line(&format!("Microsoft SQL Server version {packed}"))
            .expect("an acknowledgement");
        assert_eq!(ack.program, "Microsoft SQL Server");
        assert_eq!(ack.version, "16.0.1000");
        assert_eq!(
            LoginAck::from_log_line("Changed database context to 'x'."),
            None
        );
        assert_eq!(LoginAck::from_log_line("version skew version abc"), None);
    }

    #[tokio::test]
    async fn an_event_from_the_token_reader_is_witnessed_and_others_are_not() {
        let (_, seen) = witnessed(async {
            tracing::debug!(target: "somewhere::else", "Impostor version 1");
        })
        .await;
        assert_eq!(seen, None);
        let (_, seen) = witnessed(async {
            tracing::debug!(target: TOKEN_READER, "Microsoft SQL Server version {}", 0x0F00_07D0u32);
        })
        .await;
        assert_eq!(seen.map(|a| a.version), Some("15.0.2000".to_owned()));
    }
}
