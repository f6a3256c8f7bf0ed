//! tls.encryption.*: what SQL Server answers to a PRELOGIN that asks for no
//! encryption tells both whether it can encrypt and whether it insists.

use async_trait::async_trait;

use super::{force_encryption_step, install_certificate_steps, strict_only};
use crate::context::RunContext;
use crate::facts::tls::{Encryption, Prelogin, PreloginAnswer, ProbeError};
use crate::finding::{Finding, Outcome, Severity, Stop};
use crate::registry::{Check, CheckMeta, Family};

fn with_answer(finding: Finding, answer: &PreloginAnswer) -> Finding {
    let finding = finding
        .evidence("endpoint", answer.endpoint.to_string())
        .evidence("encryption", answer.encryption().map(Encryption::wire_name));
    match answer.response.version {
        Some(version) => finding
            .evidence("server_version", version.to_string())
            .evidence("product", version.release_name()),
        None => finding,
    }
}

/// The PRELOGIN answer and whether the server speaks only TDS 8 strict:
/// what both tls.encryption checks judge.
struct Answered<'a> {
    prelogin: &'a Result<PreloginAnswer, ProbeError>,
    strict_only: bool,
}

impl Answered<'_> {
    /// The answer to judge; `None` for a server that speaks only TDS 8
    /// strict; a stop when the tool cannot tell `what`.
    fn answer(&self, what: &str) -> Result<Option<&PreloginAnswer>, Stop> {
        match self.prelogin {
            Ok(answer) => Ok(Some(answer)),
            Err(_) if self.strict_only => Ok(None),
            Err(error) => Err(Stop::error(format!("cannot tell {what}: {error}"))),
        }
    }
}

/// Gathers the facts and hands them to `judge`.
async fn judged(ctx: &RunContext, judge: impl FnOnce(Answered<'_>, &str) -> Outcome) -> Outcome {
    let prelogin = ctx.fact::<Prelogin>().await?;
    let strict_only = prelogin.is_err() && strict_only(ctx).await.is_some();
    judge(
        Answered {
            prelogin: prelogin.as_ref(),
            strict_only,
        },
        &crate::checks::instance_name(ctx),
    )
}

fn strict_only_finding() -> Finding {
    Finding::pass("the server speaks only TDS 8 strict (TLS before anything else), so every connection is encrypted")
        .note("it closed a TDS 7.x PRELOGIN; clients must connect with Encrypt=strict")
}

pub struct Available {
    meta: CheckMeta,
}

impl Available {
    pub fn new() -> Self {
        Available {
            meta: CheckMeta::new("tls.encryption.available", Family::Tls, Severity::Fail)
                .title("SQL Server can encrypt connections")
                .checks("Sends PRELOGIN asking for no encryption and reads the ENCRYPTION option of the answer: ENCRYPT_NOT_SUP means the server cannot encrypt at all.")
                .why("Password Manager Pro connects to SQL Server only over SSL: a server that cannot encrypt cannot be its database.")
                .fix("Give the instance a certificate in SQL Server Configuration Manager (Protocols for <instance> → Properties → Certificate tab) and restart SQL Server.")
                .guide("PMP guide step 3 (Enable SSL Encryption in SQL Server)"),
        }
    }
}

#[async_trait]
impl Check for Available {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        judged(ctx, |answered, instance| {
            judge_available(&answered, self.meta.severity, instance)
        })
        .await
    }
}

/// The verdict on whether the server can encrypt at all.
fn judge_available(answered: &Answered<'_>, severity: Severity, instance: &str) -> Outcome {
    let Some(answer) = answered.answer("whether the server can encrypt")? else {
        return Ok(strict_only_finding());
    };
    match answer.encryption() {
        Some(Encryption::NotSupported) => Ok(with_answer(
            Finding::problem(severity, format!(
                "SQL Server at {} answered ENCRYPT_NOT_SUP: it cannot encrypt connections, and PMP connects only over SSL",
                answer.endpoint
            ))
            .expected("ENCRYPT_OFF or ENCRYPT_REQ")
            .actual("ENCRYPT_NOT_SUP")
            .remediation(install_certificate_steps(instance)),
            answer,
        )),
        None => Ok(with_answer(
            Finding::problem(severity, "the PRELOGIN answer has no ENCRYPTION option, so clients cannot negotiate encryption")
                .expected("an ENCRYPTION option")
                .actual("none"),
            answer,
        )),
        Some(encryption) => Ok(with_answer(
            Finding::pass(format!(
                "encryption is available (the server answered {} to ENCRYPT_OFF)",
                encryption.wire_name()
            )),
            answer,
        )),
    }
}

pub struct Forced {
    meta: CheckMeta,
}

impl Forced {
    pub fn new() -> Self {
        Forced {
            meta: CheckMeta::new("tls.encryption.forced", Family::Tls, Severity::Warn)
                .title("SQL Server forces encryption")
                .checks("Reads the ENCRYPTION answer to a PRELOGIN that asks for no encryption: ENCRYPT_REQ means ForceEncryption is on.")
                .why("With ForceEncryption off, a client that does not ask for encryption sends everything after the login in clear; the vendor guide recommends Yes so that clients that cannot encrypt are refused.")
                .fix("In SQL Server Configuration Manager → Protocols for <instance> → Properties → Flags tab set Force Encryption = Yes, then restart SQL Server.")
                .guide("PMP guide step 3.4 (ForceEncryption = Yes, recommended)"),
        }
    }
}

#[async_trait]
impl Check for Forced {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    async fn evaluate(&self, ctx: &RunContext) -> Outcome {
        judged(ctx, |answered, instance| {
            judge_forced(&answered, self.meta.severity, instance)
        })
        .await
    }
}

/// The verdict on whether the server refuses clients that do not encrypt.
fn judge_forced(answered: &Answered<'_>, severity: Severity, instance: &str) -> Outcome {
    let Some(answer) = answered.answer("whether the server forces encryption")? else {
        return Ok(strict_only_finding());
    };
    match answer.encryption() {
        Some(Encryption::Required) => Ok(with_answer(
            Finding::pass("ForceEncryption is on: the server answered ENCRYPT_REQ to a client asking for none"),
            answer,
        )),
        Some(Encryption::On) => Ok(with_answer(
            Finding::pass("the server encrypts the whole connection (it answered ENCRYPT_ON to a client asking for none)"),
            answer,
        )),
        Some(Encryption::Off) => Ok(with_answer(
            Finding::problem(
                severity,
                "ForceEncryption is off: the server answered ENCRYPT_OFF, so a client that does not ask for encryption sends everything after the login in clear",
            )
            .expected("ENCRYPT_REQ (ForceEncryption = Yes)")
            .actual("ENCRYPT_OFF")
            .remediation(force_encryption_step(instance)),
            answer,
        )),
        Some(Encryption::NotSupported) | None => Err(Stop::blocked(
            ["tls.encryption.available"],
            "the server cannot encrypt at all; see tls.encryption.available",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::verdicts::{finding, verdict};
    use crate::facts::tls::{Cause, PreloginResponse, Stage};

    fn answered_with(encryption: Option<Encryption>) -> Result<PreloginAnswer, ProbeError> {
        Ok(PreloginAnswer {
            endpoint: ([192, 0, 2, 1], 1433).into(),
            response: PreloginResponse {
                version: None,
                encryption,
                client_cert_requested: false,
                mars: None,
                fed_auth_required: None,
            },
        })
    }

    fn closed() -> Result<PreloginAnswer, ProbeError> {
        Err(ProbeError::new(Stage::Prelogin, Cause::Closed))
    }

    type Judge = fn(&Answered<'_>, Severity, &str) -> Outcome;

    fn judged(
        judge: Judge,
        prelogin: Result<PreloginAnswer, ProbeError>,
        strict_only: bool,
    ) -> Outcome {
        let answered = Answered {
            prelogin: &prelogin,
            strict_only,
        };
        judge(&answered, Severity::Fail, "SQLEXPRESS")
    }

    #[test]
    fn available_verdicts() {
        for encryption in [Encryption::Off, Encryption::On, Encryption::Required] {
            let outcome = judged(judge_available, answered_with(Some(encryption)), false);
            assert_eq!(verdict(&outcome), "pass");
        }
        let cannot = finding(judged(
            judge_available,
            answered_with(Some(Encryption::NotSupported)),
            false,
        ));
        assert_eq!(cannot.status, crate::finding::Status::Fail);
        assert_eq!(cannot.actual.as_deref(), Some("ENCRYPT_NOT_SUP"));
        assert!(
            cannot
                .remediation
                .unwrap()
                .contains("Protocols for SQLEXPRESS")
        );
        let silent = judged(judge_available, answered_with(None), false);
        assert_eq!(verdict(&silent), "fail");
        let strict = finding(judged(judge_available, closed(), true));
        assert_eq!(strict.status, crate::finding::Status::Pass);
        assert!(
            strict.notes[0].contains("Encrypt=strict"),
            "{:?}",
            strict.notes
        );
        let unknown = judged(judge_available, closed(), false);
        assert_eq!(verdict(&unknown), "error");
        assert!(
            unknown
                .unwrap_err()
                .reason()
                .contains("closed the connection"),
            "the cause is named"
        );
    }

    #[test]
    fn forced_verdicts() {
        for encryption in [Encryption::Required, Encryption::On] {
            let outcome = judged(judge_forced, answered_with(Some(encryption)), false);
            assert_eq!(verdict(&outcome), "pass");
        }
        let answered = answered_with(Some(Encryption::Off));
        let off = judge_forced(
            &Answered {
                prelogin: &answered,
                strict_only: false,
            },
            Severity::Warn,
            "MSSQLSERVER",
        );
        let off = finding(off);
        assert_eq!(off.status, crate::finding::Status::Warn);
        assert_eq!(off.actual.as_deref(), Some("ENCRYPT_OFF"));
        let cannot = judged(
            judge_forced,
            answered_with(Some(Encryption::NotSupported)),
            false,
        );
        assert_eq!(verdict(&cannot), "skip:blocked");
        assert_eq!(
            cannot.unwrap_err().skip().unwrap().by,
            ["tls.encryption.available"]
        );
        assert_eq!(
            verdict(&judged(judge_forced, answered_with(None), false)),
            "skip:blocked"
        );
        assert_eq!(verdict(&judged(judge_forced, closed(), true)), "pass");
        assert_eq!(verdict(&judged(judge_forced, closed(), false)), "error");
    }
}
