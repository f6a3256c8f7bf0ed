//! tls.encryption.*: what SQL Server answers to a PRELOGIN that asks for no
//! encryption tells both whether it can encrypt and whether it insists.

use async_trait::async_trait;

use super::{force_encryption_step, install_certificate_steps, strict_only};
use crate::context::RunContext;
use crate::facts::tls::Encryption;
use crate::facts::tls::{Prelogin, PreloginAnswer};
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

/// The PRELOGIN answer; a server that speaks only TDS 8 strict yields `None`.
async fn answer(ctx: &RunContext, what: &str) -> Result<Option<PreloginAnswer>, Stop> {
    let prelogin = ctx.fact::<Prelogin>().await?;
    match prelogin.as_ref() {
        Ok(answer) => Ok(Some(answer.clone())),
        Err(_) if strict_only(ctx).await.is_some() => Ok(None),
        Err(error) => Err(Stop::error(format!("cannot tell {what}: {error}"))),
    }
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
        let Some(answer) = answer(ctx, "whether the server can encrypt").await? else {
            return Ok(strict_only_finding());
        };
        match answer.encryption() {
            Some(Encryption::NotSupported) => Ok(with_answer(
                Finding::fail(format!(
                    "SQL Server at {} answered ENCRYPT_NOT_SUP: it cannot encrypt connections, and PMP connects only over SSL",
                    answer.endpoint
                ))
                .expected("ENCRYPT_OFF or ENCRYPT_REQ")
                .actual("ENCRYPT_NOT_SUP")
                .remediation(install_certificate_steps(ctx)),
                &answer,
            )),
            None => Ok(with_answer(
                Finding::fail("the PRELOGIN answer has no ENCRYPTION option, so clients cannot negotiate encryption")
                    .expected("an ENCRYPTION option")
                    .actual("none"),
                &answer,
            )),
            Some(encryption) => Ok(with_answer(
                Finding::pass(format!(
                    "encryption is available (the server answered {} to ENCRYPT_OFF)",
                    encryption.wire_name()
                )),
                &answer,
            )),
        }
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
        let Some(answer) = answer(ctx, "whether the server forces encryption").await? else {
            return Ok(strict_only_finding());
        };
        match answer.encryption() {
            Some(Encryption::Required) => Ok(with_answer(
                Finding::pass("ForceEncryption is on: the server answered ENCRYPT_REQ to a client asking for none"),
                &answer,
            )),
            Some(Encryption::On) => Ok(with_answer(
                Finding::pass("the server encrypts the whole connection (it answered ENCRYPT_ON to a client asking for none)"),
                &answer,
            )),
            Some(Encryption::Off) => Ok(with_answer(
                Finding::problem(
                    self.meta.severity,
                    "ForceEncryption is off: the server answered ENCRYPT_OFF, so a client that does not ask for encryption sends everything after the login in clear",
                )
                .expected("ENCRYPT_REQ (ForceEncryption = Yes)")
                .actual("ENCRYPT_OFF")
                .remediation(force_encryption_step(ctx)),
                &answer,
            )),
            Some(Encryption::NotSupported) | None => Err(Stop::blocked(["tls.encryption.available"], 
                "the server cannot encrypt at all; see tls.encryption.available",
            )),
        }
    }
}
